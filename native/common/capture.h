/* capture.h — the one capture routine, shared by the LD_PRELOAD shim (native/shim) and by
 * shit-apply (native/apply), so an undo is captured exactly like any other command.
 *
 * Use:   struct cap_op o;
 *        if (cap_unlink(&o, dirfd, path, flags)) { ...capture is on... }
 *        if (o.done) { errno = o.err; return o.ret; }     // capture made the call itself
 *        long r = real_unlinkat(dirfd, path, flags);
 *        cap_end(&o, r, r < 0 ? errno : 0, -1);
 *        return r;                                          // errno untouched by cap_end
 *
 * Every cap_* "before" function returns 0 and does nothing when capture is off (SHIT_CMD or
 * SHIT_STATE unset or empty). They never change what the real call will do: on internal
 * trouble they put a NOTE ("not captured: why") into the record and let the call proceed.
 * They touch neither errno nor any libc function that the shim interposes (all I/O via sys.h).
 */
#ifndef SHIT_CAPTURE_H
#define SHIT_CAPTURE_H
#include "spool.h"
#include <limits.h>
#include <sys/types.h>

struct cap_ctx {
  char cmd[40];
  char spool[PATH_MAX];   /* <state>/spool/<cmd>.spool */
  char staging[PATH_MAX]; /* <state>/staging/<cmd> */
};
/* Reads SHIT_CMD / SHIT_STATE now (a preloaded shell changes SHIT_CMD between commands).
 * Returns 1 when capture is on. */
int cap_ctx_load(struct cap_ctx *c);
/* shit-apply only (0 elsewhere): its SHIT_CMD and SHIT_STATE never change and it never chroots, so
 * cap_ctx_load reads them once and copies that context after (getenv per call was ~7% of it). */
extern int cap_ctx_fixed;
/* writes the record this thread holds back (spool.h sp_thread_flush) if shit's files can still
 * be reached after a chroot, else forgets it: at exit and before an exec */
void cap_thread_flush(void);

struct cap_op {
  int on;   /* capture is on for this call */
  int op;   /* SP_* */
  int done; /* 1: the capture performed the call itself (an unlink done as a
                                rename into staging); ret/err hold its result */
  long ret;
  int err;
  int step;                 /* -1, or the plan step index (shit-apply), written as T_STEP */
  char undo_keep[PATH_MAX]; /* a staging name to remove if the real call fails ("" none);
                                capture.c stores the absolute path of the staged file */
  char path[PATH_MAX];      /* the record's PATH, for a VOID after a record written before the call */
  struct cap_ctx ctx;
  struct sp_buf rec;
  unsigned internal;    /* capture.c's own bookkeeping (CAPF_* in capture.c) */
  int keep_err;         /* see cap_failed */
  const char *replaced; /* RENAME: the path of the file it replaces, while cap_rename runs (a
                           NOTCAPTURED written for want of room names it as PATH2) */
  int np_dirfd;         /* the (dirfd, path) locate found no absolute path for (too long, or */
  const char *np_path;  /* no /proc path): a NOTCAPTURED names it by walking up from dirfd */
  int staged_later;     /* cap_stage_later: the unlink was recorded, not moved; the caller makes
                           neither the call nor the move */
  unsigned seq;         /* this op's number in its thread (capture.c: a parent stat taken for it) */
};

/* shit-apply only (0 everywhere else): an unlink kept by its directory is recorded (batched, not
 * yet written out) but not moved: the caller moves the whole directory into staging. */
extern int cap_stage_later;

/* shit-apply only (NULL everywhere else), for the next cap_unlink: the lstat of its path (and of
 * its parent directory) the caller has just taken, with nothing changed there since: used for
 * PRE (and PARENT) instead of a statx again. The caller clears them after the call. */
extern const struct sp_stat *cap_pre_known, *cap_parent_known;

/* Before the call. path may be relative to dirfd (AT_FDCWD or a directory fd); for the f*
 * variants pass path NULL and the fd. at_flags as the *at call takes them. */
int cap_unlink(struct cap_op *o, int dirfd, const char *path,
               int at_flags); /* unlink, unlinkat, remove, rmdir (AT_REMOVEDIR) */
int cap_rename(struct cap_op *o, int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
               unsigned flags);
int cap_open(struct cap_op *o, int dirfd, const char *path,
             int oflags); /* call only when oflags can mutate */
/* cap_open for a call that creates `name` in directory dirfd exclusively (it fails with EEXIST
 * when the name exists; shit-apply's renameat2 RENAME_NOREPLACE of a staged file into place):
 * the same record, without first looking whether the name exists — if it does, the call fails
 * and cap_end drops the record, as it drops any record of a failed create. */
int cap_open_new(struct cap_op *o, int dirfd, const char *name, int oflags);
/* ... with its PARENT given (parent: the stat of dirfd, which the caller knows unchanged since:
 * shit-apply's members of a directory moved whole, one statx for all of them, not one each);
 * NULL: stat'ed here, as cap_open_new. */
int cap_open_new_in(struct cap_op *o, int dirfd, const char *name, int oflags, const struct sp_stat *parent);
/* After the caller moved into staging the directory whose files' unlinks were recorded with
 * stage_later: the STAGED record of one of them (base: its keep name below the command's staging
 * dir, "d<dev>-<ino>/<name>"; kept: its stat, which its directory's move did not change). */
void cap_staged_later(struct cap_op *o, const char *base, const struct sp_stat *kept);
/* Makes the directory the staging file `file` goes in (0700), and up to `up` directories above it
 * when they are missing too (a file kept by its directory: 2, that dir's, the command's staging
 * dir and staging/; by inode: 1). 0, or -errno. */
int cap_make_dir_of(const char *file, int up);
/* Whether the op's record was written in full before the call (an UNLINK kept, an RMDIR). */
int cap_recorded(const struct cap_op *o);
int cap_truncate(struct cap_op *o, int dirfd, const char *path, int fd, long long length);
int cap_mkdir(struct cap_op *o, int dirfd, const char *path, mode_t mode);
int cap_mknod(struct cap_op *o, int dirfd, const char *path, mode_t mode, dev_t dev);
int cap_symlink(struct cap_op *o, const char *target, int dirfd, const char *path);
int cap_link(struct cap_op *o, int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
             int at_flags);
int cap_chmod(struct cap_op *o, int dirfd, const char *path, int fd, mode_t mode, int at_flags);
int cap_chown(struct cap_op *o, int dirfd, const char *path, int fd, uid_t uid, gid_t gid, int at_flags);
int cap_utimes(struct cap_op *o, int dirfd, const char *path, int fd, int at_flags);
int cap_xattr(struct cap_op *o, int op /* SP_SETXATTR or SP_REMOVEXATTR */, const char *path, int fd,
              const char *name, int follow);

/* After the call: ret and err (errno, 0 on success) of the real call; newfd is the descriptor
 * an OPEN returned (or -1) so a created file's identity can be recorded. Writes the record;
 * removes a pre-image kept for a call that failed. Preserves errno. */
void cap_end(struct cap_op *o, long ret, int err, int newfd);
/* cap_end with the created file's stat taken by the caller (an OPEN that created it: its POST;
 * NULL: none) instead of an fstat of a descriptor: shit-apply stats the name it moved into place. */
void cap_end_post(struct cap_op *o, long ret, int err, const struct sp_stat *post);

/* After a before function: the errno (positive) of a failure that keeps nothing of what the call
 * destroys — the pre-image or the record could not be written (ENOSPC: a full disk), so the
 * record says "not captured" — else 0. The shim lets the call go ahead (the program runs as
 * without shit); shit-apply does not make it (cap_end(o, -1, that errno, -1) writes nothing): an
 * undo never destroys what no redo could bring back, and is finished once there is room. */
int cap_failed(const struct cap_op *o);
/* Tops up <state>/run/reserve (len bytes of state), the room capture gives back from when the disk
 * is full (capture.c, "the reserve"), if the disk has room to spare. shit-run and shit-apply at
 * their start, the shim of a hooked shell as each typed command ends. */
void cap_reserve_fill(const char *state, size_t len);
/* Gives back `bytes` (in whole blocks) of that reserve; if_short: only when the disk has less than
 * that free. 1: it gave some; 0: it is spent or absent (or the disk has the room). */
int cap_reserve_give(const char *state, size_t len, long long bytes, int if_short);
/* A process about to exec with envp, whose own environ has no SHIT_CMD (a child a hooked fish
 * forked): capture takes envp's SHIT_CMD and SHIT_STATE until cap_exec_env(NULL). */
void cap_exec_env(char *const *envp);
/* A record with no call around it (BEGIN/END/POST/EXEC/NOTCAPTURED from the runner). */
int cap_note(const char *why, const char *path, int op);
/* cap_note naming (dirfd, path) by its absolute path (path NULL: the file dirfd is open on). */
int cap_note_at(const char *why, int dirfd, const char *path, int op);

/* ---- additions (capture.c / shim) ---- */

/* Cheap test for the shim's wrappers, made before they set up a cap_op (~25 KiB of stack):
 * 1 when capture is on and it is safe to capture here (not running on a signal alternate
 * stack, where a big frame could overflow). */
int cap_active(void);

/* The value every cap_* gives o->step (default -1). shit-apply sets it to the step index
 * before each step: an unlink that capture performs itself (o->done) writes its record inside
 * cap_unlink, before the caller could set o->step. The shim never writes it. */
extern int cap_step;

/* Told, when set, before capture writes a record and when it has performed the call itself (an
 * unlink done as a rename into staging): the seccomp tier's watchdog, taking over a call from a
 * killed supervisor, must know whether it was begun or done (native/supervise). NULL elsewhere. */
extern void (*cap_on_record)(void);
extern void (*cap_on_performed)(long ret);
/* Told, when set, right before capture writes the record of an unlink and moves the file `from`
 * (absolute) into staging as `to`: the move is the call. */
extern void (*cap_on_staging)(const char *from, const char *to);

/* shit-apply opens each parent directory itself, component by component from "/" without
 * following a symlink, so it knows the directory's absolute path: it names it here (len bytes
 * of path) while fd is open, and capture takes it instead of reading /proc/self/fd/N for it (a
 * readlink per step). cap_dir_forget(fd) before the fd is closed. Two at a time (a rename's). */
void cap_dir_known(int fd, const char *path, size_t len);
void cap_dir_forget(int fd);

/* The seccomp tier names the caller's directories through descriptors of its own (one per call,
 * or the caller's cwd, held): it holds /proc/self/fd open (cap_fd_dir_open, again in a forked
 * child: the descriptor names the fd table of the process that opened it), so each name is one
 * readlink of "N" there, not a walk of /proc/self/fd/N through /proc and the "self" symlink
 * (a tenth of the supervisor's time on an rm -rf). The shim never opens it. */
void cap_fd_dir_open(void);

/* Calls that create a name chosen by libc (mkstemp family: op SP_OPEN, flags the open flags;
 * mkdtemp: op SP_MKDIR, flags the mode). Before the call: records the template's parent.
 * After a successful call: cap_tmpl_path with the filled-in template, then cap_end as usual
 * (newfd = the descriptor for SP_OPEN, so POST is recorded). */
int cap_tmpl_begin(struct cap_op *o, int op, const char *tmpl, unsigned flags);
void cap_tmpl_path(struct cap_op *o, const char *path);

/* chroot(2) (the shim wraps it; capture.c "after chroot(2)"): before the call, the real path of
 * the new root; after it (ok: it succeeded), capture names this process's files from there. */
struct cap_chroot {
  int known; /* the real path of the new root is known */
  char real[PATH_MAX];
};
void cap_chroot_before(struct cap_chroot *c, const char *path);
void cap_chroot_after(const struct cap_chroot *c, int ok);
/* 1: this process has chroot'd away from the real root (a program it starts runs without the shim) */
int cap_chrooted(void);
/* Chroot'd into a root whose real path is known: the real root, held open (O_PATH, close-on-exec;
 * the shim execs shit-run through it, which is not in the new root). -1 otherwise. */
int cap_real_root(void);
/* The real absolute path of a path as this process names it (relative: from its cwd). 0 or -1. */
int cap_real_path(const char *path, char *out);
#endif
