/* spool.h — write and read spool records (format: docs/SPOOL.md). Allocation-free on the
 * write side apart from an mmap for records larger than the inline buffer; all I/O through
 * sys.h, so it is safe inside interposed calls. */
#ifndef SHIT_SPOOL_H
#define SHIT_SPOOL_H
#include <stdint.h>
#include <stddef.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>

/* The record vocabulary; src/spool/records.ts is the source (Op.X is SP_X, StepOp.X is STEP_X,
 * StepFlag.X is STEP_F_X, Tag.X is T_X) and test/vocabulary.test.ts checks this file against it. */
enum sp_op { /* record ops */
             SP_BEGIN = 1,
             SP_END,
             SP_UNLINK,
             SP_RMDIR,
             SP_RENAME,
             SP_OPEN,
             SP_TRUNCATE,
             SP_MKDIR,
             SP_LINK,
             SP_SYMLINK,
             SP_CHMOD,
             SP_CHOWN,
             SP_UTIMES,
             SP_SETXATTR,
             SP_REMOVEXATTR,
             SP_MKNOD,
             SP_NOTCAPTURED,
             SP_POST,
             SP_EXEC,
             SP_VOID,
             SP_STAGED,
             SP_KILL,
};
enum sp_step { /* plan steps: the op byte of a plan file's records */
               STEP_EXPECT = 64,
               STEP_REMOVE,
               STEP_RENAME,
               STEP_PLACE,
               STEP_REWRITE,
               STEP_TRUNCATE,
               STEP_LINK,
               STEP_META,
               STEP_XATTR,
};
enum sp_step_flag {                        /* a plan step's flags (a record's flags are the call's own) */
                    STEP_F_FORCE = 1,      /* EXPECT: a mismatch is not a conflict */
                    STEP_F_FINAL_META = 2, /* META: the closing pass over directory times, not recorded */
                    STEP_F_KEPT_WHOLE =
                        4, /* PLACE: KEEP is PATH's own inode, moved into staging: checked against PRE first */
};
enum sp_tag {
  T_PATH = 1,
  T_PATH2,
  T_PRE,
  T_PRE2,
  T_KEEP,
  T_KEEP2,
  T_TARGET,
  T_NOTE,
  T_ARGV,
  T_CWD,
  T_POST,
  T_PARENT,
  T_PARENT2,
  T_XNAME,
  T_XVALUE,
  T_ARG,
  T_TARGET2,
  T_STEP,
  T_KIND,
  T_OF,
  /* plan steps only, i64 each */
  T_LENGTH,
  T_TAIL_OF,
  T_RDEV,
  T_TYPE,
  T_DEV,
  T_INO,
  T_SIZE,
  T_MTIME,
  T_KEPT,       /* records: stat_rec of the inode kept whole (R, L) in staging, right after the keep */
  T_SHELL,      /* EXEC: i64 pid of the hooked shell the command was typed in (SHIT_SHELL_PID) */
  T_ENV,        /* KILL: the target's environment, each entry followed by one NUL (/proc/PID/environ) */
  T_START,      /* KILL: i64 the target's start time, clock ticks after boot (/proc/PID/stat field 22) */
  T_KEPT_CTIME, /* plan STEP_F_KEPT_WHOLE: i64 the kept inode's ctime (ns) right after the keep */
  T_MAX
};
#define SP_MAGIC 0x5053
#define SP_VERSION 1
#define SP_HDR 32

struct sp_stat { /* the fields up to atime_ns are the 64 bytes of a stat_rec */
  uint64_t dev, ino;
  uint32_t mode, uid, gid, nlink;
  int64_t size, mtime_ns, ctime_ns, atime_ns;
  uint64_t rdev;    /* a device node's number (makedev encoding, as st_rdev); written to the
                       spool, as 8 more bytes of the stat_rec, only for a char or block device */
  int64_t btime_ns; /* birth time (statx); -1 when the filesystem reports none. Not
                               written to the spool: sp_view_stat sets it to -1 */
};

struct sp_buf {
  uint8_t *p; /* points at inline or at an mmap'd area */
  size_t n, cap;
  uint32_t nfields;
  int failed; /* out of memory: the record is dropped, with a NOTE in its place */
  uint8_t inline_[12288];
};

void sp_start(struct sp_buf *b, int op, uint32_t flags);
void sp_add(struct sp_buf *b, int tag, const void *data, size_t n);
void sp_add_str(struct sp_buf *b, int tag, const char *s);
void sp_add_stat(struct sp_buf *b, int tag, const struct sp_stat *st);
void sp_add_i64(struct sp_buf *b, int tag, int64_t v);
void sp_add_keep(struct sp_buf *b, int tag, char how, const char *name);
/* Fill the header (pid, err, time) and append the record to `spool_path` with one write() on a
 * descriptor opened O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC for that write. Frees any mmap.
 * Returns 0 or -errno. */
int sp_commit(struct sp_buf *b, const char *spool_path, int err);
/* Append n bytes of whole records to the spool (the held descriptor when it is that spool's,
 * reached through the real root after a chroot) with one write(); a short one (the disk filled
 * mid-record) is followed by writes of the rest until one fails. 0, or -errno. */
int sp_append(const char *spool_path, const void *p, size_t n);
/* sp_append, saying in *done how many bytes were written (all of them when it returns 0). */
int sp_append_part(const char *spool_path, const void *p, size_t n, size_t *done);
/* Fill the header as sp_commit does and return the record's length, without writing it: the
 * caller writes b->p[0..len) itself (several records in one write). Does not release b. */
size_t sp_seal(struct sp_buf *b, int err);
/* A writer that appends many records to one spool (shit-apply: one per step) keeps it open:
 * sp_commit to that path then writes on this descriptor, not an open and close per record.
 * Still one write() per record (with records held back, sp_defer: one writev), O_APPEND. The shim never holds one (processes share spools and
 * close fds). Returns 0 or -errno. */
int sp_hold(const char *spool_path);

/* Records that wait in memory, two ways, never both in one process (sp_flush writes whichever):
 * - shit-apply batches (sp_batch(1)): records to the held spool are written together by sp_flush
 *   (also when the buffer fills, in the order they came). Whoever batches must flush before a
 *   call whose record has to be on disk first (capture's prewrite does), before anything else
 *   reads the spool, and before exiting. sp_busy: 1 while the batched records change or are
 *   being written (a signal handler then must not flush).
 * - the seccomp supervisor holds a record back (sp_defer), to go out in the same write as the
 *   next record appended to the held spool (one writev), or with sp_flush. It points sp_pending
 *   at a page its watchdog shares, so one killed between the two still gets them written; NULL
 *   (the default, and always in the shim): nothing is held back that way (the shim's own way:
 *   sp_thread_defer below).
 * sp_flush returns 0 or -errno of the write. Batched records a failed write took with it are
 * gone: sp_lost then says why (an errno, kept), so the batcher never takes its work as recorded. */
void sp_batch(int on);
extern volatile sig_atomic_t sp_busy;
extern volatile sig_atomic_t sp_lost;
struct sp_pending {
  volatile size_t n;
  uint8_t p[2048];
};
extern struct sp_pending *sp_pending;
/* Seals b (err 0) and holds it back when sp_pending is set, spool_path is the held spool and it
 * fits, or, in the shim (sp_thread_defer), in this thread's own slot: 0 (b released). Else -1,
 * b untouched: the caller commits it as usual. */
int sp_defer(struct sp_buf *b, const char *spool_path);
int sp_flush(void);
/* The shim holds no descriptor, so it holds a record back per thread: a STAGED (capture.c
 * write_staged) waits in the thread's slot and goes out in the same write as the next record
 * that thread appends to that spool (one writev on the descriptor opened for it), which on
 * rm -rf is the next file's UNLINK: one append a kept file instead of two (on btrfs each costs
 * ~9 µs of CPU: ~20% of rm -rf's capture). sp_thread_flush writes it alone: at exit (the shim's
 * destructor), before an exec, before a record to another spool. Only the process that held it
 * writes it (a forked child's copy stays unwritten). A signal handler's record while the slot
 * is in use goes out alone. Lost, as a kill between the keep and its STAGED loses it anyway
 * (the undo then checks size and mtime only): the slot of a thread that exits before the
 * process, or of a process a signal kills (the shim wraps _exit). */
extern int sp_thread_defer;
void sp_thread_flush(void);
void sp_thread_drop(void); /* forgets it (capture.c cap_thread_flush: shit's files out of reach) */

/* The pid a record's header names: 0 (the default) is the writer's own. The seccomp supervisor
 * (native/supervise) writes records for the process whose call it captures. */
extern int32_t sp_record_pid;

/* After chroot(2) in a captured process (the shim's chroot wrapper, capture.c cap_chroot_*),
 * shit's own files (spool, staging, <state>/cap, /proc/self/fd) are reached through the real
 * root, held open from before the chroot: sp_root_fd is that descriptor, -1 when the process is
 * not chroot'd. sp_ofd() and sp_opath(p) are the (dirfd, path) of the real absolute path p. */
extern int sp_root_fd;
static inline int sp_ofd(void) { return sp_root_fd >= 0 ? sp_root_fd : -100 /* AT_FDCWD */; }
static inline const char *sp_opath(const char *p) {
  return sp_root_fd >= 0 && p[0] == '/' ? (p[1] ? p + 1 : ".") : p;
}
void sp_release(struct sp_buf *b);

/* statx into sp_stat; returns 0 or -errno. flags: AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH ... */
int sp_statat(int dirfd, const char *path, int flags, struct sp_stat *out);
/* The lstat of an absolute path through its directory, kept open for the next path in the same
 * directory (10k files in 100 dirs: 100 path walks, not 10k); resolved as the path itself would
 * be. -ENOENT at once for each path of a directory that is not there. Zero-initialised; one
 * directory at a time; sp_dir_drop closes it (before anything may move that directory). */
struct sp_dir {
  char path[PATH_MAX];
  int open; /* fd holds the last directory's open (fd < 0: its -errno) */
  long fd;
};
int sp_lstat_in_dir(struct sp_dir *d, const char *path, struct sp_stat *out);
void sp_dir_drop(struct sp_dir *d);

/* Reading */
struct sp_view {
  uint8_t op;
  uint32_t flags, len;
  int32_t pid, err;
  int64_t time_ns;
  const uint8_t *f[T_MAX]; /* field data, NULL when absent (last one wins if repeated) */
  uint32_t fn[T_MAX];
};
/* Parse the record at *off in buf[0..len). Returns 1 and advances *off; 0 at the end or at a
 * cut-off record (leave *off, read again later); -1 when the bytes are not a record. */
int sp_next(const uint8_t *buf, size_t len, size_t *off, struct sp_view *v);
int sp_view_stat(const struct sp_view *v, int tag, struct sp_stat *out); /* 1 present, 0 absent */
/* After sp_next said -1 at off (a record torn by a writer killed mid-write, or other bytes):
 * the offset of the next clean record — whole, its fields filling it exactly, and followed by
 * the end, a partial header or another header — or (size_t)-1 when there is none. */
size_t sp_resync(const uint8_t *buf, size_t len, size_t off);
int64_t sp_view_i64(const struct sp_view *v, int tag, int64_t dflt);
#endif
