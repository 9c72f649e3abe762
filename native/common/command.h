/* command.h — what shit-run and shit-apply both do for a command they start: find the state
 * directory and write the command's BEGIN record (docs/SPOOL.md). */
#ifndef SHIT_COMMAND_H
#define SHIT_COMMAND_H
#include <stddef.h>

/* The state directory, the rule src/state.ts stateRoot() follows too: $SHIT_HOME, else
 * $XDG_STATE_HOME/shit, else $HOME/.local/state/shit. A relative SHIT_HOME or XDG_STATE_HOME is
 * ignored (the XDG base-directory spec: a relative path is invalid; the shell hooks skip them
 * too); a relative HOME is taken against the working directory. The result is absolute and
 * normalized lexically like Node's path.resolve (no "." or ".." components, no doubled or
 * trailing slash). Returns 0, -ENOENT (HOME unset), -ENAMETOOLONG, or getcwd's -errno. */
int state_dir(char *out, size_t n);

/* Whether the state directory must not be used, the check src/paths/state.ts unsafeState() makes:
 * the dir (symlink followed), spool/, staging/, run/, index.sqlite and its -wal/-shm, where they
 * exist, must be directories / regular files owned by the effective uid and not writable by
 * group or others. 0 when safe (or absent); else 1 with the reason in why (one line). */
int state_unsafe(const char *dir, char *why, size_t n);

/* Appends the BEGIN record of a command to spool_path: ARGV (argv[0..argc), each followed by a
 * NUL), CWD (getcwd, else $PWD), KIND ("run", "undo", "redo") and OF when not NULL. Returns
 * sp_commit's 0 or -errno. */
int begin_command(const char *spool_path, char *const argv[], int argc, const char *kind, const char *of);
#endif
