/* shim.c — the LD_PRELOAD library: a table of interposed libc entry points, each calling the
 * capture routine (common/capture.c) around the real call.
 *
 * Rules every wrapper follows:
 *  - the real function is resolved lazily with dlsym(RTLD_NEXT) (works before constructors,
 *    in threads, after fork, in vfork children); the resolved pointers are the only
 *    per-process state;
 *  - capture off (SHIT_CMD / SHIT_STATE unset or empty, read on every call) -> a plain tail
 *    call of the real function; the ~25 KiB cap_op lives in a separate noinline function so
 *    the off path never pays for it;
 *  - errno is exactly what the real call left (capture itself never touches errno), and the
 *    result is never changed;
 *  - glibc calls its own internals directly (fopen -> __open_nocancel, remove -> __unlink), so
 *    the outer entry points are wrapped too and nothing is recorded twice.
 *
 * Not covered: statically linked programs, raw `syscall` instructions, requests submitted through
 * io_uring (named "not captured" where the shim sees the ring: uring.c). Starting a program that
 * runs outside capture (set-ID, static: common/execcheck.c) writes a NOTCAPTURED record (exec
 * family below). Opens done by
 * posix_spawn file actions (glibc performs them in the child with internal calls) are captured
 * when the action is added (posix_spawn_file_actions_addopen below).
 *
 * Deliberately not interposed (test/native/symbols-check.sh keeps the list with reasons):
 * tmpfile/tmpfile64 (an unnamed O_TMPFILE file: nothing to record), and the calls that write
 * through a descriptor already open for writing, whose open was the capture point:
 * copy_file_range, sendfile/sendfile64, fallocate/fallocate64, posix_fallocate/posix_fallocate64. */
#define _GNU_SOURCE
#undef _FORTIFY_SOURCE
#include "../common/capture.h"
#include "../common/execcheck.h"
#include "../common/killrec.h"
#include "../common/sys.h"
#include "uring.h"
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <utime.h>

#define EXPORT __attribute__((visibility("default")))
#define NOINL __attribute__((noinline))

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif

/* glibc's fortified and compat entry points have no public prototypes */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);
int __xmknod(int ver, const char *path, mode_t mode, dev_t *dev);
int __xmknodat(int ver, int dirfd, const char *path, mode_t mode, dev_t *dev);

static void *resolve(void **slot, const char *name) {
  void *p = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
  if (!p) {
    int e = errno;
    p = dlsym(RTLD_NEXT, name);
    errno = e;
    __atomic_store_n(slot, p, __ATOMIC_RELEASE);
  }
  return p;
}

/* The real function into a local `fn` of type FT, resolved once (resolve); when there is none the
 * wrapper does what `fail` says: REAL fails as a missing call does (ENOSYS in errno, `ret`
 * returned); REAL_OR for the posix_spawn* calls, which return their error. */
#define REAL_OR(slot, name, FT, fail)                         \
  __typeof__(FT) fn = (__typeof__(FT))resolve(&(slot), name); \
  if (!fn) { fail; }
#define REAL(slot, name, FT, ret) REAL_OR(slot, name, FT, errno = ENOSYS; return ret)

static int open_mutates(long flags) {
  if (flags & O_PATH) return 0;
  if ((flags & O_TMPFILE) == O_TMPFILE) return 0; /* recorded when linkat gives it a name */
  return (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC));
}

static int is_dir(const char *path) {
  struct sp_stat st;
  return path && sp_statat(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, &st) == 0 && S_ISDIR(st.mode);
}

/* ---- the common shape: capture before, real call, capture after ---- */

#define SLOW_BODY(T, capexpr, realexpr, isopen)                    \
  struct cap_op o;                                                 \
  capexpr;                                                         \
  if (o.done) {                                                    \
    if (o.ret < 0) errno = o.err;                                  \
    return (T)o.ret;                                               \
  }                                                                \
  T r_ = (realexpr);                                               \
  int e_ = errno;                                                  \
  cap_end(&o, (long)r_, r_ < 0 ? e_ : 0, (isopen) ? (int)r_ : -1); \
  errno = e_;                                                      \
  return r_;

/* int name PARAMS, non-variadic: wrapper + noinline slow path */
#define WRAP(name, PARAMS, ARGS, capexpr)                       \
  static void *r_##name;                                        \
  static NOINL int s_##name PARAMS {                            \
    int(*fn) PARAMS = (int(*) PARAMS)resolve(&r_##name, #name); \
    SLOW_BODY(int, capexpr, fn ARGS, 0)                         \
  }                                                             \
  EXPORT int name PARAMS {                                      \
    REAL(r_##name, #name, int(*) PARAMS, -1)                    \
    if (!cap_active()) return fn ARGS;                          \
    return s_##name ARGS;                                       \
  }

/* ---------- unlink / rmdir / rename ---------- */

WRAP(unlink, (const char *path), (path), cap_unlink(&o, AT_FDCWD, path, 0))
WRAP(unlinkat, (int dirfd, const char *path, int flags), (dirfd, path, flags),
     cap_unlink(&o, dirfd, path, flags))
WRAP(rmdir, (const char *path), (path), cap_unlink(&o, AT_FDCWD, path, AT_REMOVEDIR))
WRAP(remove, (const char *path), (path), cap_unlink(&o, AT_FDCWD, path, is_dir(path) ? AT_REMOVEDIR : 0))
WRAP(rename, (const char *oldpath, const char *newpath), (oldpath, newpath),
     cap_rename(&o, AT_FDCWD, oldpath, AT_FDCWD, newpath, 0))
WRAP(renameat, (int olddirfd, const char *oldpath, int newdirfd, const char *newpath),
     (olddirfd, oldpath, newdirfd, newpath), cap_rename(&o, olddirfd, oldpath, newdirfd, newpath, 0))
WRAP(renameat2, (int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags),
     (olddirfd, oldpath, newdirfd, newpath, flags),
     cap_rename(&o, olddirfd, oldpath, newdirfd, newpath, flags))

/* ---------- open family ---------- */

enum { K_OPEN, K_OPENAT, K_OPEN2, K_OPENAT2, K_CREAT };

static NOINL int s_open(void *fn, int kind, int dirfd, const char *path, int flags, mode_t mode) {
  int d = kind == K_OPENAT || kind == K_OPENAT2 ? dirfd : AT_FDCWD;
  SLOW_BODY(int, cap_open(&o, d, path, flags),
            kind == K_OPEN      ? ((int (*)(const char *, int, ...))fn)(path, flags, mode)
            : kind == K_OPENAT  ? ((int (*)(int, const char *, int, ...))fn)(dirfd, path, flags, mode)
            : kind == K_OPEN2   ? ((int (*)(const char *, int))fn)(path, flags)
            : kind == K_OPENAT2 ? ((int (*)(int, const char *, int))fn)(dirfd, path, flags)
                                : ((int (*)(const char *, mode_t))fn)(path, mode),
            1)
}

#define OPENV(name)                                                          \
  static void *r_##name;                                                     \
  EXPORT int name(const char *path, int flags, ...) {                        \
    mode_t mode = 0;                                                         \
    if (__OPEN_NEEDS_MODE(flags)) {                                          \
      va_list ap;                                                            \
      va_start(ap, flags);                                                   \
      mode = va_arg(ap, mode_t);                                             \
      va_end(ap);                                                            \
    }                                                                        \
    REAL(r_##name, #name, int (*)(const char *, int, ...), -1)               \
    if (!open_mutates(flags) || !cap_active()) return fn(path, flags, mode); \
    return s_open((void *)fn, K_OPEN, AT_FDCWD, path, flags, mode);          \
  }
#define OPENATV(name)                                                               \
  static void *r_##name;                                                            \
  EXPORT int name(int dirfd, const char *path, int flags, ...) {                    \
    mode_t mode = 0;                                                                \
    if (__OPEN_NEEDS_MODE(flags)) {                                                 \
      va_list ap;                                                                   \
      va_start(ap, flags);                                                          \
      mode = va_arg(ap, mode_t);                                                    \
      va_end(ap);                                                                   \
    }                                                                               \
    REAL(r_##name, #name, int (*)(int, const char *, int, ...), -1)                 \
    if (!open_mutates(flags) || !cap_active()) return fn(dirfd, path, flags, mode); \
    return s_open((void *)fn, K_OPENAT, dirfd, path, flags, mode);                  \
  }
#define OPEN2(name)                                                    \
  static void *r_##name;                                               \
  EXPORT int name(const char *path, int flags) {                       \
    REAL(r_##name, #name, int (*)(const char *, int), -1)              \
    if (!open_mutates(flags) || !cap_active()) return fn(path, flags); \
    return s_open((void *)fn, K_OPEN2, AT_FDCWD, path, flags, 0);      \
  }
#define OPENAT2(name)                                                         \
  static void *r_##name;                                                      \
  EXPORT int name(int dirfd, const char *path, int flags) {                   \
    REAL(r_##name, #name, int (*)(int, const char *, int), -1)                \
    if (!open_mutates(flags) || !cap_active()) return fn(dirfd, path, flags); \
    return s_open((void *)fn, K_OPENAT2, dirfd, path, flags, 0);              \
  }
#define CREAT(name)                                                                         \
  static void *r_##name;                                                                    \
  EXPORT int name(const char *path, mode_t mode) {                                          \
    REAL(r_##name, #name, int (*)(const char *, mode_t), -1)                                \
    if (!cap_active()) return fn(path, mode);                                               \
    return s_open((void *)fn, K_CREAT, AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, mode); \
  }

OPENV(open)
OPENV(open64)
OPENATV(openat)
OPENATV(openat64)
OPEN2(__open_2)
OPEN2(__open64_2)
OPENAT2(__openat_2)
OPENAT2(__openat64_2)
CREAT(creat)
CREAT(creat64)

/* fopen's mode string as open flags; -1 when fopen will reject it */
static int fopen_flags(const char *m) {
  int f;
  if (!m) return -1;
  switch (m[0]) {
  case 'r': f = O_RDONLY; break;
  case 'w': f = O_WRONLY | O_CREAT | O_TRUNC; break;
  case 'a': f = O_WRONLY | O_CREAT | O_APPEND; break;
  default: return -1;
  }
  for (const char *p = m + 1; *p && *p != ',' && p < m + 7; p++) {
    if (*p == '+') f = (f & ~O_ACCMODE) | O_RDWR;
    else if (*p == 'x') f |= O_EXCL;
    else if (*p == 'e') f |= O_CLOEXEC;
  }
  return f;
}

static NOINL FILE *s_fopen(void *fn, int re, const char *path, const char *mode, FILE *stream, int flags) {
  struct cap_op o;
  cap_open(&o, AT_FDCWD, path, flags);
  FILE *f = re ? ((FILE * (*)(const char *, const char *, FILE *)) fn)(path, mode, stream)
               : ((FILE * (*)(const char *, const char *)) fn)(path, mode);
  int e = errno;
  cap_end(&o, f ? 0 : -1, f ? 0 : e, f ? fileno(f) : -1);
  errno = e;
  return f;
}

#define FOPEN(name)                                                          \
  static void *r_##name;                                                     \
  EXPORT FILE *name(const char *path, const char *mode) {                    \
    REAL(r_##name, #name, FILE *(*)(const char *, const char *), NULL)       \
    int fl = fopen_flags(mode);                                              \
    if (fl < 0 || !open_mutates(fl) || !cap_active()) return fn(path, mode); \
    return s_fopen((void *)fn, 0, path, mode, NULL, fl);                     \
  }
#define FREOPEN(name)                                                                         \
  static void *r_##name;                                                                      \
  EXPORT FILE *name(const char *path, const char *mode, FILE *stream) {                       \
    REAL(r_##name, #name, FILE *(*)(const char *, const char *, FILE *), NULL)                \
    int fl = fopen_flags(mode);                                                               \
    if (!path || fl < 0 || !open_mutates(fl) || !cap_active()) return fn(path, mode, stream); \
    return s_fopen((void *)fn, 1, path, mode, stream, fl);                                    \
  }

FOPEN(fopen)
FOPEN(fopen64)
FREOPEN(freopen)
FREOPEN(freopen64)

/* ---------- mkstemp family, mkdtemp ---------- */

enum { T_MKSTEMP, T_MKOSTEMP, T_MKSTEMPS, T_MKOSTEMPS };

static NOINL int s_mkstemp(void *fn, int kind, char *tmpl, int suffixlen, int flags) {
  struct cap_op o;
  cap_tmpl_begin(&o, SP_OPEN, tmpl, (unsigned)(O_RDWR | O_CREAT | O_EXCL | flags));
  int r = kind == T_MKSTEMP    ? ((int (*)(char *))fn)(tmpl)
          : kind == T_MKOSTEMP ? ((int (*)(char *, int))fn)(tmpl, flags)
          : kind == T_MKSTEMPS ? ((int (*)(char *, int))fn)(tmpl, suffixlen)
                               : ((int (*)(char *, int, int))fn)(tmpl, suffixlen, flags);
  int e = errno;
  if (r >= 0) cap_tmpl_path(&o, tmpl);
  cap_end(&o, r, r < 0 ? e : 0, r);
  errno = e;
  return r;
}

#define MKSTEMP(name, kind, PARAMS, ARGS, sfx, fl)     \
  static void *r_##name;                               \
  EXPORT int name PARAMS {                             \
    REAL(r_##name, #name, int(*) PARAMS, -1)           \
    if (!cap_active()) return fn ARGS;                 \
    return s_mkstemp((void *)fn, kind, tmpl, sfx, fl); \
  }

MKSTEMP(mkstemp, T_MKSTEMP, (char *tmpl), (tmpl), 0, 0)
MKSTEMP(mkstemp64, T_MKSTEMP, (char *tmpl), (tmpl), 0, 0)
MKSTEMP(mkostemp, T_MKOSTEMP, (char *tmpl, int flags), (tmpl, flags), 0, flags)
MKSTEMP(mkostemp64, T_MKOSTEMP, (char *tmpl, int flags), (tmpl, flags), 0, flags)
MKSTEMP(mkstemps, T_MKSTEMPS, (char *tmpl, int suffixlen), (tmpl, suffixlen), suffixlen, 0)
MKSTEMP(mkstemps64, T_MKSTEMPS, (char *tmpl, int suffixlen), (tmpl, suffixlen), suffixlen, 0)
MKSTEMP(mkostemps, T_MKOSTEMPS, (char *tmpl, int suffixlen, int flags), (tmpl, suffixlen, flags), suffixlen,
        flags)
MKSTEMP(mkostemps64, T_MKOSTEMPS, (char *tmpl, int suffixlen, int flags), (tmpl, suffixlen, flags), suffixlen,
        flags)

static void *r_mkdtemp;
static NOINL char *s_mkdtemp(void *fn, char *tmpl) {
  struct cap_op o;
  cap_tmpl_begin(&o, SP_MKDIR, tmpl, 0700);
  char *r = ((char *(*)(char *))fn)(tmpl);
  int e = errno;
  if (r) cap_tmpl_path(&o, tmpl);
  cap_end(&o, r ? 0 : -1, r ? 0 : e, -1);
  errno = e;
  return r;
}
EXPORT char *mkdtemp(char *tmpl) {
  REAL(r_mkdtemp, "mkdtemp", char *(*)(char *), NULL)
  if (!cap_active()) return fn(tmpl);
  return s_mkdtemp((void *)fn, tmpl);
}

/* ---------- truncate ---------- */

WRAP(truncate, (const char *path, off_t length), (path, length), cap_truncate(&o, AT_FDCWD, path, -1, length))
WRAP(truncate64, (const char *path, off64_t length), (path, length),
     cap_truncate(&o, AT_FDCWD, path, -1, length))
WRAP(ftruncate, (int fd, off_t length), (fd, length), cap_truncate(&o, AT_FDCWD, NULL, fd, length))
WRAP(ftruncate64, (int fd, off64_t length), (fd, length), cap_truncate(&o, AT_FDCWD, NULL, fd, length))

/* ---------- creating names ---------- */

WRAP(mkdir, (const char *path, mode_t mode), (path, mode), cap_mkdir(&o, AT_FDCWD, path, mode))
WRAP(mkdirat, (int dirfd, const char *path, mode_t mode), (dirfd, path, mode),
     cap_mkdir(&o, dirfd, path, mode))
WRAP(mknod, (const char *path, mode_t mode, dev_t dev), (path, mode, dev),
     cap_mknod(&o, AT_FDCWD, path, mode, dev))
WRAP(mknodat, (int dirfd, const char *path, mode_t mode, dev_t dev), (dirfd, path, mode, dev),
     cap_mknod(&o, dirfd, path, mode, dev))
WRAP(__xmknod, (int ver, const char *path, mode_t mode, dev_t *dev), (ver, path, mode, dev),
     cap_mknod(&o, AT_FDCWD, path, mode, dev ? *dev : 0))
WRAP(__xmknodat, (int ver, int dirfd, const char *path, mode_t mode, dev_t *dev),
     (ver, dirfd, path, mode, dev), cap_mknod(&o, dirfd, path, mode, dev ? *dev : 0))
WRAP(mkfifo, (const char *path, mode_t mode), (path, mode),
     cap_mknod(&o, AT_FDCWD, path, (mode & 07777) | S_IFIFO, 0))
WRAP(mkfifoat, (int dirfd, const char *path, mode_t mode), (dirfd, path, mode),
     cap_mknod(&o, dirfd, path, (mode & 07777) | S_IFIFO, 0))
WRAP(symlink, (const char *target, const char *path), (target, path), cap_symlink(&o, target, AT_FDCWD, path))
WRAP(symlinkat, (const char *target, int dirfd, const char *path), (target, dirfd, path),
     cap_symlink(&o, target, dirfd, path))
WRAP(link, (const char *oldpath, const char *newpath), (oldpath, newpath),
     cap_link(&o, AT_FDCWD, oldpath, AT_FDCWD, newpath, 0))
WRAP(linkat, (int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags),
     (olddirfd, oldpath, newdirfd, newpath, flags), cap_link(&o, olddirfd, oldpath, newdirfd, newpath, flags))

/* ---------- metadata ---------- */

WRAP(chmod, (const char *path, mode_t mode), (path, mode), cap_chmod(&o, AT_FDCWD, path, -1, mode, 0))
WRAP(lchmod, (const char *path, mode_t mode), (path, mode),
     cap_chmod(&o, AT_FDCWD, path, -1, mode, AT_SYMLINK_NOFOLLOW))
WRAP(fchmod, (int fd, mode_t mode), (fd, mode), cap_chmod(&o, AT_FDCWD, NULL, fd, mode, 0))
WRAP(fchmodat, (int dirfd, const char *path, mode_t mode, int flags), (dirfd, path, mode, flags),
     cap_chmod(&o, dirfd, path, dirfd, mode, flags))
WRAP(chown, (const char *path, uid_t uid, gid_t gid), (path, uid, gid),
     cap_chown(&o, AT_FDCWD, path, -1, uid, gid, 0))
WRAP(lchown, (const char *path, uid_t uid, gid_t gid), (path, uid, gid),
     cap_chown(&o, AT_FDCWD, path, -1, uid, gid, AT_SYMLINK_NOFOLLOW))
WRAP(fchown, (int fd, uid_t uid, gid_t gid), (fd, uid, gid), cap_chown(&o, AT_FDCWD, NULL, fd, uid, gid, 0))
WRAP(fchownat, (int dirfd, const char *path, uid_t uid, gid_t gid, int flags), (dirfd, path, uid, gid, flags),
     cap_chown(&o, dirfd, path, dirfd, uid, gid, flags))
WRAP(utime, (const char *path, const struct utimbuf *times), (path, times),
     cap_utimes(&o, AT_FDCWD, path, -1, 0))
WRAP(utimes, (const char *path, const struct timeval tv[2]), (path, tv),
     cap_utimes(&o, AT_FDCWD, path, -1, 0))
WRAP(lutimes, (const char *path, const struct timeval tv[2]), (path, tv),
     cap_utimes(&o, AT_FDCWD, path, -1, AT_SYMLINK_NOFOLLOW))
WRAP(futimes, (int fd, const struct timeval tv[2]), (fd, tv), cap_utimes(&o, AT_FDCWD, NULL, fd, 0))
WRAP(futimesat, (int dirfd, const char *path, const struct timeval tv[2]), (dirfd, path, tv),
     cap_utimes(&o, dirfd, path, dirfd, 0))
WRAP(utimensat, (int dirfd, const char *path, const struct timespec ts[2], int flags),
     (dirfd, path, ts, flags), cap_utimes(&o, dirfd, path, dirfd, flags))
WRAP(futimens, (int fd, const struct timespec ts[2]), (fd, ts), cap_utimes(&o, AT_FDCWD, NULL, fd, 0))

WRAP(setxattr, (const char *path, const char *name, const void *value, size_t size, int flags),
     (path, name, value, size, flags), cap_xattr(&o, SP_SETXATTR, path, -1, name, 1))
WRAP(lsetxattr, (const char *path, const char *name, const void *value, size_t size, int flags),
     (path, name, value, size, flags), cap_xattr(&o, SP_SETXATTR, path, -1, name, 0))
WRAP(fsetxattr, (int fd, const char *name, const void *value, size_t size, int flags),
     (fd, name, value, size, flags), cap_xattr(&o, SP_SETXATTR, NULL, fd, name, 1))
WRAP(removexattr, (const char *path, const char *name), (path, name),
     cap_xattr(&o, SP_REMOVEXATTR, path, -1, name, 1))
WRAP(lremovexattr, (const char *path, const char *name), (path, name),
     cap_xattr(&o, SP_REMOVEXATTR, path, -1, name, 0))
WRAP(fremovexattr, (int fd, const char *name), (fd, name), cap_xattr(&o, SP_REMOVEXATTR, NULL, fd, name, 1))

/* ---------- posix_spawn file actions ----------
 *
 * posix_spawn performs an addopen action in the child, between fork and exec, with glibc's
 * internal open: no interposed entry point sees it. So the open is captured when the action is
 * added, exactly as cap_open captures an open (a copy of an existing file that O_TRUNC or a
 * write-mode open may change; a creation recorded as such), and its OPEN record is written right
 * away with err 0 although the open happens later, at spawn time (if the spawn never happens,
 * the record describes an open that did not: undoing it rewrites a file with its own bytes or
 * removes a name that is not there). The path is resolved against the parent's working
 * directory now; the child resolves it against its own at spawn time, which is the same unless
 * the parent changes directory in between (not seen) or an earlier chdir action of the same
 * action list moves it: those actions are tracked below, and a relative addopen after one is
 * recorded as NOTCAPTURED. No POST: there is no descriptor yet (shit-run's end scan has it). */

#define SPAWN_CHDIR_SLOTS 32
static posix_spawn_file_actions_t *spawn_chdir[SPAWN_CHDIR_SLOTS]; /* lists with a chdir action */
static int spawn_chdir_lost; /* sticky: a chdir list did not fit; every relative addopen is suspect */

static void spawn_mark(posix_spawn_file_actions_t *fa) {
  for (int i = 0; i < SPAWN_CHDIR_SLOTS; i++)
    if (__atomic_load_n(&spawn_chdir[i], __ATOMIC_RELAXED) == fa) return;
  for (int i = 0; i < SPAWN_CHDIR_SLOTS; i++) {
    posix_spawn_file_actions_t *z = NULL;
    if (__atomic_compare_exchange_n(&spawn_chdir[i], &z, fa, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) return;
  }
  __atomic_store_n(&spawn_chdir_lost, 1, __ATOMIC_RELAXED);
}

static void spawn_unmark(posix_spawn_file_actions_t *fa) {
  for (int i = 0; i < SPAWN_CHDIR_SLOTS; i++) {
    posix_spawn_file_actions_t *p = fa;
    __atomic_compare_exchange_n(&spawn_chdir[i], &p, NULL, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
  }
}

static int spawn_marked(posix_spawn_file_actions_t *fa) {
  if (__atomic_load_n(&spawn_chdir_lost, __ATOMIC_RELAXED)) return 1;
  for (int i = 0; i < SPAWN_CHDIR_SLOTS; i++)
    if (__atomic_load_n(&spawn_chdir[i], __ATOMIC_RELAXED) == fa) return 1;
  return 0;
}

/* init and destroy forget the list (its memory may be reused for another one) */
#define SPAWN_FA(name, PARAMS, ARGS, before, after)        \
  static void *r_##name;                                   \
  EXPORT int name PARAMS {                                 \
    REAL_OR(r_##name, #name, int(*) PARAMS, return ENOSYS) \
    before;                                                \
    int r = fn ARGS;                                       \
    if (r == 0) {                                          \
      int e = errno;                                       \
      after;                                               \
      errno = e;                                           \
    }                                                      \
    return r;                                              \
  }
SPAWN_FA(posix_spawn_file_actions_init, (posix_spawn_file_actions_t * fa), (fa), (void)0, spawn_unmark(fa))
SPAWN_FA(posix_spawn_file_actions_destroy, (posix_spawn_file_actions_t * fa), (fa), spawn_unmark(fa), (void)0)
SPAWN_FA(posix_spawn_file_actions_addchdir_np, (posix_spawn_file_actions_t * fa, const char *path),
         (fa, path), (void)0, spawn_mark(fa))
SPAWN_FA(posix_spawn_file_actions_addfchdir_np, (posix_spawn_file_actions_t * fa, int fd), (fa, fd), (void)0,
         spawn_mark(fa))

static void *r_posix_spawn_file_actions_addopen;
static NOINL int s_addopen(void *fn, posix_spawn_file_actions_t *fa, int fd, const char *path, int oflag,
                           mode_t mode) {
  int (*f)(posix_spawn_file_actions_t *, int, const char *, int, mode_t) = fn;
  if (path && path[0] != '/' && spawn_marked(fa)) {
    int r = f(fa, fd, path, oflag, mode);
    int e = errno;
    if (r == 0)
      cap_note("not captured: posix_spawn file action opens a relative path after a chdir action", NULL,
               SP_OPEN);
    errno = e;
    return r;
  }
  struct cap_op o;
  cap_open(&o, AT_FDCWD, path, oflag);
  int r = f(fa, fd, path, oflag, mode);
  int e = errno;
  cap_end(&o, r ? -1 : 0, r, -1); /* the open itself runs at spawn time, in the child */
  errno = e;
  return r;
}
EXPORT int posix_spawn_file_actions_addopen(posix_spawn_file_actions_t *fa, int fd, const char *path,
                                            int oflag, mode_t mode) {
  REAL_OR(r_posix_spawn_file_actions_addopen, "posix_spawn_file_actions_addopen",
          int (*)(posix_spawn_file_actions_t *, int, const char *, int, mode_t), return ENOSYS)
  if (!open_mutates(oflag) || !cap_active()) return fn(fa, fd, path, oflag, mode);
  return s_addopen((void *)fn, fa, fd, path, oflag, mode);
}

/* ---------- signals that end a process: a KILL record of each target (common/killrec.c) ----------
 *
 * kill(1), pkill, killall, bash's builtin kill (in a hooked shell, whose process has this shim)
 * and os.kill all come through kill, killpg, sigqueue, tgkill, pidfd_send_signal or syscall(2).
 * The targets' command line, cwd and environment are read before the call (after it they may
 * be gone) and written after it with its errno; the call itself is made exactly as asked. */

int pidfd_send_signal(int pidfd, int sig, siginfo_t *info, unsigned int flags);

#define KILLW(name, PARAMS, ARGS, how, who, sig, when)          \
  static void *r_##name;                                        \
  static NOINL int s_##name PARAMS {                            \
    int(*fn) PARAMS = (int(*) PARAMS)resolve(&r_##name, #name); \
    struct kr_call k;                                           \
    kr_before(&k, how, who, sig);                               \
    int r = fn ARGS;                                            \
    int e = errno;                                              \
    kr_after(&k, r < 0 ? e : 0);                                \
    errno = e;                                                  \
    return r;                                                   \
  }                                                             \
  EXPORT int name PARAMS {                                      \
    REAL(r_##name, #name, int(*) PARAMS, -1)                    \
    if (!(when) || !kr_wants(sig)) return fn ARGS;              \
    return s_##name ARGS;                                       \
  }

KILLW(kill, (pid_t pid, int sig), (pid, sig), KR_PID, pid, sig, 1)
KILLW(killpg, (pid_t pgrp, int sig), (pgrp, sig), KR_PID, -(long)pgrp, sig, pgrp >= 0)
KILLW(sigqueue, (pid_t pid, int sig, const union sigval value), (pid, sig, value), KR_PID, pid, sig, 1)
KILLW(tgkill, (pid_t tgid, pid_t tid, int sig), (tgid, tid, sig), KR_TID, tid, sig, 1)
KILLW(pidfd_send_signal, (int pidfd, int sig, siginfo_t *info, unsigned int flags), (pidfd, sig, info, flags),
      KR_PIDFD, pidfd, sig, 1)

static NOINL long s_syscall_kill(long (*fn)(long, ...), int how, long who, int sig, long n, long a, long b,
                                 long c, long d, long e, long f) {
  struct kr_call k;
  kr_before(&k, how, who, sig);
  long r = fn(n, a, b, c, d, e, f);
  int er = errno;
  kr_after(&k, r < 0 ? er : 0);
  errno = er;
  return r;
}

/* ---------- syscall(2) ---------- */

struct shit_open_how {
  unsigned long long flags, mode, resolve;
};

static int sys_captured(long n) {
  switch (n) {
  case SYS_unlinkat:
  case SYS_renameat2:
  case SYS_openat:
  case SYS_openat2:
  case SYS_mkdirat:
  case SYS_mknodat:
  case SYS_linkat:
  case SYS_symlinkat:
  case SYS_fchmodat:
  case SYS_fchmodat2:
  case SYS_utimensat:
  case SYS_ftruncate:
  case SYS_truncate:
  case SYS_fchownat:
  case SYS_fchmod:
  case SYS_fchown:
#ifdef SYS_renameat
  case SYS_renameat:
#endif
#ifdef SYS_unlink
  case SYS_unlink:
  case SYS_rmdir:
  case SYS_rename:
  case SYS_open:
  case SYS_creat:
  case SYS_mkdir:
  case SYS_link:
  case SYS_symlink:
  case SYS_chmod:
  case SYS_chown:
  case SYS_lchown:
  case SYS_mknod:
#endif
    return 1;
  default: return 0;
  }
}

static NOINL long s_syscall(long (*fn)(long, ...), long n, long a, long b, long c, long d, long e, long f) {
  struct cap_op o;
  int isopen = 0;
  o.on = 0;
  o.done = 0;
#define S(x) ((const char *)(x))
  switch (n) {
  case SYS_unlinkat: cap_unlink(&o, (int)a, S(b), (int)c); break;
  case SYS_renameat2: cap_rename(&o, (int)a, S(b), (int)c, S(d), (unsigned)e); break;
  case SYS_openat:
    if (open_mutates((int)c)) {
      cap_open(&o, (int)a, S(b), (int)c);
      isopen = 1;
    }
    break;
  case SYS_openat2: {
    const struct shit_open_how *h = (const struct shit_open_how *)c;
    if (h && (unsigned long)d >= sizeof *h && open_mutates((long)h->flags)) {
      cap_open(&o, (int)a, S(b), (int)h->flags);
      isopen = 1;
    }
    break;
  }
  case SYS_mkdirat: cap_mkdir(&o, (int)a, S(b), (mode_t)c); break;
  case SYS_mknodat: cap_mknod(&o, (int)a, S(b), (mode_t)c, (dev_t)(unsigned)d); break;
  case SYS_linkat: cap_link(&o, (int)a, S(b), (int)c, S(d), (int)e); break;
  case SYS_symlinkat: cap_symlink(&o, S(a), (int)b, S(c)); break;
  case SYS_fchmodat: cap_chmod(&o, (int)a, S(b), (int)a, (mode_t)c, 0); break;
  case SYS_fchmodat2: cap_chmod(&o, (int)a, S(b), (int)a, (mode_t)c, (int)d); break;
  case SYS_fchownat: cap_chown(&o, (int)a, S(b), (int)a, (uid_t)c, (gid_t)d, (int)e); break;
  case SYS_utimensat: cap_utimes(&o, (int)a, S(b), (int)a, (int)d); break;
  case SYS_ftruncate: cap_truncate(&o, AT_FDCWD, NULL, (int)a, (long long)b); break;
  case SYS_truncate: cap_truncate(&o, AT_FDCWD, S(a), -1, (long long)b); break;
  case SYS_fchmod: cap_chmod(&o, AT_FDCWD, NULL, (int)a, (mode_t)b, 0); break;
  case SYS_fchown: cap_chown(&o, AT_FDCWD, NULL, (int)a, (uid_t)b, (gid_t)c, 0); break;
#ifdef SYS_renameat
  case SYS_renameat: cap_rename(&o, (int)a, S(b), (int)c, S(d), 0); break;
#endif
#ifdef SYS_unlink
  case SYS_unlink: cap_unlink(&o, AT_FDCWD, S(a), 0); break;
  case SYS_rmdir: cap_unlink(&o, AT_FDCWD, S(a), AT_REMOVEDIR); break;
  case SYS_rename: cap_rename(&o, AT_FDCWD, S(a), AT_FDCWD, S(b), 0); break;
  case SYS_open:
    if (open_mutates((int)b)) {
      cap_open(&o, AT_FDCWD, S(a), (int)b);
      isopen = 1;
    }
    break;
  case SYS_creat:
    cap_open(&o, AT_FDCWD, S(a), O_WRONLY | O_CREAT | O_TRUNC);
    isopen = 1;
    break;
  case SYS_mkdir: cap_mkdir(&o, AT_FDCWD, S(a), (mode_t)b); break;
  case SYS_link: cap_link(&o, AT_FDCWD, S(a), AT_FDCWD, S(b), 0); break;
  case SYS_symlink: cap_symlink(&o, S(a), AT_FDCWD, S(b)); break;
  case SYS_chmod: cap_chmod(&o, AT_FDCWD, S(a), -1, (mode_t)b, 0); break;
  case SYS_chown: cap_chown(&o, AT_FDCWD, S(a), -1, (uid_t)b, (gid_t)c, 0); break;
  case SYS_lchown: cap_chown(&o, AT_FDCWD, S(a), -1, (uid_t)b, (gid_t)c, AT_SYMLINK_NOFOLLOW); break;
  case SYS_mknod: cap_mknod(&o, AT_FDCWD, S(a), (mode_t)b, (dev_t)(unsigned)c); break;
#endif
  }
#undef S
  if (o.done) {
    if (o.ret < 0) errno = o.err;
    return o.ret;
  }
  long r = fn(n, a, b, c, d, e, f);
  int er = errno;
  cap_end(&o, r, r < 0 ? er : 0, isopen ? (int)r : -1);
  errno = er;
  return r;
}

static void exec_check(int how, int fd, const char *path, int at_flags, char *const *argv, char *const *envp);
enum { X_AT, X_SEARCH };

static void *r_syscall;
EXPORT long syscall(long n, ...) {
  va_list ap;
  va_start(ap, n);
  long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
  long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
  va_end(ap);
  REAL(r_syscall, "syscall", long (*)(long, ...), -1)
  if ((n == SYS_execve || n == SYS_execveat) && cap_active()) {
    if (n == SYS_execve) exec_check(X_AT, AT_FDCWD, (const char *)a, 0, (char *const *)b, (char *const *)c);
    else exec_check(X_AT, (int)a, (const char *)b, (int)e, (char *const *)c, (char *const *)d);
    return fn(n, a, b, c, d, e, f);
  }
  if (n == SYS_io_uring_setup) { /* the ring is remembered, to read its requests (uring.c) */
    long r = fn(n, a, b, c, d, e, f);
    if (r >= 0) ur_setup(r, (const struct io_uring_params *)b);
    return r;
  }
  if (n == SYS_io_uring_enter) ur_enter((int)a, (unsigned)b, (unsigned)d);
  if (n == SYS_munmap || n == SYS_mremap) ur_unmapped((const void *)a, (size_t)b);
  int how;
  long who;
  int sig = kr_syscall(n, a, b, c, &how, &who);
  if (sig > 0 && kr_wants(sig)) return s_syscall_kill(fn, how, who, sig, n, a, b, c, d, e, f);
  if (!sys_captured(n) || !cap_active()) return fn(n, a, b, c, d, e, f);
  return s_syscall(fn, n, a, b, c, d, e, f);
}

/* ---------- io_uring through liburing (uring.c) ----------
 * liburing's own build makes its system calls inline, unseen by syscall(2) above: a ring it sets
 * up is named "not captured" once set up, and nothing else changes. Its internal calls between
 * these entry points (queue_init -> queue_init_params) are not noted twice: depth. */
struct io_uring;
struct io_uring_params;
static __thread int uring_depth;
#define URINGW(name, PARAMS, ARGS)                           \
  static void *r_##name;                                     \
  EXPORT int name PARAMS {                                   \
    REAL_OR(r_##name, #name, int(*) PARAMS, return -ENOSYS;) \
    unsigned before = ur_seen();                             \
    uring_depth++;                                           \
    int r = fn ARGS;                                         \
    if (--uring_depth == 0 && r >= 0) ur_liburing(before);   \
    return r;                                                \
  }
URINGW(io_uring_setup, (unsigned entries, struct io_uring_params *p), (entries, p))
URINGW(io_uring_queue_init, (unsigned entries, struct io_uring *ring, unsigned flags), (entries, ring, flags))
URINGW(io_uring_queue_init_params, (unsigned entries, struct io_uring *ring, struct io_uring_params *p),
       (entries, ring, p))
URINGW(io_uring_queue_init_mem,
       (unsigned entries, struct io_uring *ring, struct io_uring_params *p, void *buf, size_t size),
       (entries, ring, p, buf, size))

/* munmap, mremap: a ring's pages uring.c reads in place are forgotten before they go or move */
static void *r_munmap, *r_mremap;
EXPORT int munmap(void *addr, size_t len) {
  REAL(r_munmap, "munmap", int (*)(void *, size_t), -1)
  ur_unmapped(addr, len);
  return fn(addr, len);
}
EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...) {
  void *to = NULL;
  if (flags & MREMAP_FIXED) { /* the new address is an argument only then, as glibc reads it */
    va_list ap;
    va_start(ap, flags);
    to = va_arg(ap, void *);
    va_end(ap);
  }
  REAL_OR(r_mremap, "mremap", void *(*)(void *, size_t, size_t, int, ...), errno = ENOSYS; return MAP_FAILED;)
  ur_unmapped(old, old_len);
  return fn(old, old_len, new_len, flags, to);
}

/* ---------- chroot: capture follows the process into its new root (capture.c "after chroot") ----------
 * Wrapped whether or not capture is on now (a hooked shell's next command may be captured). */
static void *r_chroot;
static NOINL int s_chroot(int (*fn)(const char *), const char *path) {
  int e = errno;
  struct cap_chroot c;
  cap_chroot_before(&c, path);
  errno = e;
  int r = fn(path);
  e = errno;
  cap_chroot_after(&c, r == 0);
  errno = e;
  return r;
}
EXPORT int chroot(const char *path) {
  REAL(r_chroot, "chroot", int (*)(const char *), -1)
  return s_chroot(fn, path);
}

/* ---------- process start: an EXEC record (the daemon learns the command's processes) ---------- */

static NOINL void exec_record(void) {
  struct cap_ctx c;
  struct sp_buf b;
  char args[8192], cwd[PATH_MAX];
  if (!cap_ctx_load(&c)) return;
  long fd = sys4(SYS_openat, AT_FDCWD, "/proc/self/cmdline", O_RDONLY | O_CLOEXEC, 0);
  long n = 0;
  if (fd >= 0) {
    while (n < (long)sizeof args) {
      long k = sys3(SYS_read, fd, args + n, sizeof args - (size_t)n);
      if (k == -EINTR) continue;
      if (k <= 0) break;
      n += k;
    }
    sys1(SYS_close, fd);
  }
  sp_start(&b, SP_EXEC, 0);
  sp_add(&b, T_ARGV, args, (size_t)n);
  long w = sys2(SYS_getcwd, cwd, sizeof cwd);
  if (w > 0 && cwd[0] == '/') sp_add_str(&b, T_CWD, cwd);
  /* typed in a hooked shell: the shell's pid, so a command whose shell was killed before its
   * journal record is seen ended once the shell and its processes are gone */
  const char *sh = getenv("SHIT_SHELL_PID");
  int64_t shell = 0;
  for (; sh && *sh >= '0' && *sh <= '9' && shell < (1 << 30); sh++) shell = shell * 10 + (*sh - '0');
  if (sh && !*sh && shell > 0) sp_add_i64(&b, T_SHELL, shell);
  sp_commit(&b, c.spool, 0);
}

static void find_shim_dir(void);

__attribute__((constructor)) static void shim_init(void) {
  int e = errno;
  find_shim_dir();
  if (cap_active()) exec_record();
  sp_thread_defer = 1; /* a STAGED waits for the thread's next record (common/spool.h) */
  errno = e;
}

/* what a thread held back goes out before the process ends (raw calls: errno untouched) */
__attribute__((destructor)) static void shim_fini(void) { cap_thread_flush(); }

/* _exit skips the destructor: what this thread held goes out first (glibc's exit calls its own
 * _exit internally, after the destructor: not through here) */
static void *r__exit, *r__Exit;
EXPORT void _exit(int status) {
  cap_thread_flush();
  void (*fn)(int) = (void (*)(int))resolve(&r__exit, "_exit");
  if (fn) fn(status);
  sys1(SYS_exit_group, status);
  __builtin_unreachable();
}
EXPORT void _Exit(int status) {
  cap_thread_flush();
  void (*fn)(int) = (void (*)(int))resolve(&r__Exit, "_Exit");
  if (fn) fn(status);
  sys1(SYS_exit_group, status);
  __builtin_unreachable();
}

/* ---------- exec family: say when the program started runs outside capture ----------
 *
 * The wrappers only look at the executable before the real call (common/execcheck.c: a set-ID
 * program that changes identity, or a statically linked one, never loads this shim) and write a
 * NOTCAPTURED record (flags SP_EXEC, PATH the program, NOTE why) when it is outside capture. The
 * call itself is unchanged. exec* writes the record before the call (after a successful exec
 * there is no after; a failed exec leaves a record that overstates); posix_spawn[p] learns the
 * outcome before returning and writes only when the spawn succeeded. glibc's own calls (execvp
 * -> __execve, system/popen -> internal posix_spawn) do not come back through here, so each
 * start is looked at once. shit's own programs (beside this library: the static shit-run that
 * a recorded shell's `shit run` starts) record themselves and are not flagged. */

/* The directory this library was loaded from, set once by the constructor (dladdr takes the
 * loader's lock: not something to do later in a forked child of a threaded program). */
static char shim_dir[PATH_MAX];

static void find_shim_dir(void) {
  Dl_info di;
  if (!dladdr((void *)find_shim_dir, &di) || !di.dli_fname) return;
  const char *b = strrchr(di.dli_fname, '/');
  if (!b || (size_t)(b - di.dli_fname) >= sizeof shim_dir) return;
  memcpy(shim_dir, di.dli_fname, (size_t)(b - di.dli_fname));
  shim_dir[b - di.dli_fname] = 0;
}

/* Is the flagged program one of ours (in the directory this library was loaded from)? */
static int own_program(const char *prog) {
  const char *a = strrchr(prog, '/');
  if (!a || (size_t)(a - prog) >= PATH_MAX || !shim_dir[0]) return 0;
  char da[PATH_MAX];
  memcpy(da, prog, (size_t)(a - prog));
  da[a - prog] = 0;
  struct sp_stat sa, sb;
  return sp_statat(AT_FDCWD, da[0] ? da : "/", 0, &sa) == 0 && sp_statat(AT_FDCWD, shim_dir, 0, &sb) == 0 &&
         sa.dev == sb.dev && sa.ino == sb.ino;
}

/* The verdict for what an exec / spawn is about to start (X_AT: fd/path/at_flags as execveat
 * takes them; X_SEARCH: path is a name looked up like execvp). 0 when it is captured. */
static NOINL int exec_look(int how, int fd, const char *path, int at_flags, struct xc_result *r) {
  int v = how == X_SEARCH ? xc_check_search(path, r) : xc_check_at(fd, path, at_flags, r);
  if (v <= 0 || own_program(r->path)) return 0;
  /* under `shit run`'s seccomp tier (native/supervise) a static program is captured: the filter
   * is inherited by every process the supervised one starts */
  if (v == XC_STATIC && getenv("SHIT_SUPERVISED")) return 0;
  return v;
}

/* prefix and the decimal v, into out (at least 40 bytes) */
static void put_num(char *out, const char *prefix, unsigned long v) {
  size_t k = strlen(prefix), n = 0;
  char d[24];
  memcpy(out, prefix, k);
  do d[n++] = (char)('0' + v % 10);
  while (v /= 10);
  while (n) out[k++] = d[--n];
  out[k] = 0;
}

/* A statically linked program started in a captured command runs under the seccomp tier: the
 * exec (or spawn: spawn non-NULL, the real posix_spawn[p]) becomes one of shit-run (beside this
 * library) joined to the command (SHIT_RUN_JOIN, run.c), which starts the program under the
 * filter, captures its calls, and exits as it does. root >= 0 (an exec by a chroot'd process): the
 * real root, through which shit-run is found, and which it gets (SHIT_RUN_ROOT) to leave the new
 * root by. Returns -1 when it cannot (SHIT_SECCOMP off, no argv, the exec failed: the program then
 * runs outside capture), else the spawn's result. */
static int exec_supervised(const char *prog, char *const *argv, char *const *envp, int root, void *spawn,
                           pid_t *pid, const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr) {
  const char *off = getenv("SHIT_SECCOMP");
  if (!argv || !argv[0] || !prog[0] || !shim_dir[0] || (off && (!strcmp(off, "off") || !strcmp(off, "0"))))
    return -1;
  size_t ac = 0, ec = 0, dl = strlen(shim_dir);
  while (argv[ac]) ac++;
  while (envp && envp[ec]) ec++;
  if (dl + 10 > PATH_MAX) return -1;
  char runner[PATH_MAX];
  memcpy(runner, shim_dir, dl);
  memcpy(runner + dl, "/shit-run", 10);
  const char *nargv[ac + 3], *nenv[ec + 3];
  nargv[0] = "shit-run";
  nargv[1] = prog;
  for (size_t i = 0; i <= ac; i++) nargv[i + 2] = argv[i];
  for (size_t i = 0; i < ec; i++) nenv[i] = envp[i];
  nenv[ec] = "SHIT_RUN_JOIN=1";
  nenv[ec + 1] = NULL;
  if (spawn)
    return ((int (*)(pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *,
                     const char *const[], const char *const[]))spawn)(pid, runner, fa, attr, nargv, nenv);
  if (root < 0) {
    sys3(SYS_execve, runner, nargv, nenv);
    return -1;
  }
  long r2 = sys3(SYS_fcntl, root, F_DUPFD, 3); /* the held root is close-on-exec: a copy that is not */
  if (r2 < 0) return -1;
  char rootenv[48];
  put_num(rootenv, "SHIT_RUN_ROOT=", (unsigned long)r2);
  nenv[ec + 1] = rootenv;
  nenv[ec + 2] = NULL;
  sys5(SYS_execveat, r2, runner + 1, nargv, nenv, 0);
  sys1(SYS_close, r2);
  return -1;
}

/* May this process chroot, and will shit-run, exec'd by it, still be able to? (CAP_SYS_CHROOT in
 * its effective set, and uid 0, which keeps its capabilities across the exec.) */
static int may_chroot(void) {
  struct {
    uint32_t version;
    int pid;
  } h = {0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0};
  struct {
    uint32_t effective, permitted, inheritable;
  } d[2];
  return sys0(SYS_geteuid) == 0 && sys2(SYS_capget, &h, d) == 0 &&
         (d[0].effective & (1u << 18 /* CAP_SYS_CHROOT */));
}

/* A program started by a chroot'd process and not handed to shit-run (chroot_exec): the library
 * path LD_PRELOAD names is not in the new root (and a shim there would not know the real one), so
 * it runs outside capture. */
static void chroot_exec_note(const char *path) {
  char real[PATH_MAX];
  int named = path && strchr(path, '/') && cap_real_path(path, real) == 0;
  cap_note("not captured: after chroot: a program started inside the new root", named ? real : path, SP_EXEC);
}

/* An exec by a chroot'd process (the program is looked for inside the new root). The shim cannot
 * follow it there (the library LD_PRELOAD names is not in the new root), so a program, static or
 * dynamic, is handed to shit-run through the held real root (run.c leaves the new root to
 * supervise it under the seccomp tier, and starts it back inside), when this process may chroot:
 * shit-run leaving the new root needs that too. A set-ID one (it would run without its
 * privileges: no_new_privs), one that cannot be handed over, or a failed hand-over: named. */
static void chroot_exec(int how, int fd, const char *path, int at_flags, char *const *argv,
                        char *const *envp) {
  struct xc_result r;
  char found[PATH_MAX];
  int root = cap_real_root();
  if (root >= 0 && path && path[0] && fd == AT_FDCWD && !at_flags && may_chroot()) {
    /* the name the program is started by: as given (from the same cwd), or where the search finds it */
    const char *prog = path;
    size_t pl = strlen(path);
    if (how == X_SEARCH && !strchr(path, '/'))
      prog = xc_find(path, "/bin:/usr/bin", 0, found, sizeof found) == 0 && found[0] == '/' ? found : NULL;
    else if (!strchr(path, '/')) /* execve("prog"): from the cwd, where shit-run's execvp would search */
      prog = pl + 3 <= sizeof found ? (memcpy(found, "./", 2), memcpy(found + 2, path, pl + 1), found) : NULL;
    int v = prog ? xc_check_at(AT_FDCWD, prog, 0, &r) : -1;
    if (v == XC_STATIC || v == XC_CAPTURED) exec_supervised(prog, argv, envp, root, NULL, NULL, NULL, NULL);
  }
  chroot_exec_note(path);
}

static NOINL void exec_check(int how, int fd, const char *path, int at_flags, char *const *argv,
                             char *const *envp) {
  int e = errno;
  cap_thread_flush(); /* the new program has no destructor of ours to write it */
  if (cap_chrooted()) {
    chroot_exec(how, fd, path, at_flags, argv, envp);
    errno = e;
    return;
  }
  struct xc_result r;
  int v = exec_look(how, fd, path, at_flags, &r);
  if (v == XC_STATIC && (at_flags & AT_EMPTY_PATH) && path && !path[0]) {
    /* fexecve, execveat(fd, "", AT_EMPTY_PATH): the program is the descriptor (a memfd may have no
     * name at all); shit-run gets a duplicate that survives the exec, as /proc/self/fd/N, and
     * marks it close-on-exec so the program does not inherit it */
    long m = sys3(SYS_fcntl, fd, F_DUPFD, 3);
    if (m >= 0) {
      char prog[40];
      put_num(prog, "/proc/self/fd/", (unsigned long)m);
      exec_supervised(prog, argv, envp, -1, NULL, NULL, NULL, NULL);
      sys1(SYS_close, m);
    }
  } else if (v == XC_STATIC) {
    exec_supervised(r.path, argv, envp, -1, NULL, NULL, NULL, NULL);
  }
  if (v) cap_note(xc_note(v), r.path[0] ? r.path : NULL, SP_EXEC);
  errno = e;
}

/* exec_check when capture is on here, or when the envp the program gets says it is (a child a
 * hooked fish forked: fish passes its exported SHIT_CMD in envp, not in environ). */
static NOINL void exec_check_env(int how, int fd, const char *path, int at_flags, char *const *argv,
                                 char *const *envp) {
  cap_thread_flush();
  if (cap_active()) {
    exec_check(how, fd, path, at_flags, argv, envp);
    return;
  }
  if (!envp || envp == environ) return;
  int e = errno;
  cap_exec_env(envp);
  if (cap_active()) exec_check(how, fd, path, at_flags, argv, envp);
  cap_exec_env(NULL);
  errno = e;
}

#define EXECW(name, PARAMS, ARGS, how, fd, path, at_flags, env) \
  static void *r_##name;                                        \
  EXPORT int name PARAMS {                                      \
    REAL(r_##name, #name, int(*) PARAMS, -1)                    \
    exec_check_env(how, fd, path, at_flags, argv, env);         \
    return fn ARGS;                                             \
  }

EXECW(execve, (const char *path, char *const argv[], char *const envp[]), (path, argv, envp), X_AT, AT_FDCWD,
      path, 0, envp)
EXECW(execv, (const char *path, char *const argv[]), (path, argv), X_AT, AT_FDCWD, path, 0, environ)
EXECW(execvp, (const char *file, char *const argv[]), (file, argv), X_SEARCH, AT_FDCWD, file, 0, environ)
EXECW(execvpe, (const char *file, char *const argv[], char *const envp[]), (file, argv, envp), X_SEARCH,
      AT_FDCWD, file, 0, envp)
EXECW(fexecve, (int fd, char *const argv[], char *const envp[]), (fd, argv, envp), X_AT, fd, "",
      AT_EMPTY_PATH, envp)
EXECW(execveat, (int dirfd, const char *path, char *const argv[], char *const envp[], int flags),
      (dirfd, path, argv, envp, flags), X_AT, dirfd, path, flags, envp)

/* execl, execle, execlp: the argument list as an array (as glibc builds it), then the real
 * execve / execvp, which is what glibc's own execl* call. */
static void *r_execl_execve, *r_execl_execvp;
static int execl_common(int how, const char *path, const char *arg0, va_list ap, int with_env) {
  va_list aq;
  va_copy(aq, ap);
  size_t argc = 1;
  while (va_arg(aq, const char *)) argc++;
  va_end(aq);
  const char *argv[argc + 1];
  argv[0] = arg0;
  for (size_t i = 1; i <= argc; i++) argv[i] = va_arg(ap, const char *); /* argv[argc] = NULL */
  char *const *envp = with_env ? va_arg(ap, char *const *) : environ;
  exec_check_env(how, AT_FDCWD, path, 0, (char *const *)argv, envp);
  if (how == X_SEARCH) {
    REAL(r_execl_execvp, "execvp", int (*)(const char *, char *const[]), -1)
    return fn(path, (char *const *)argv);
  }
  REAL(r_execl_execve, "execve", int (*)(const char *, char *const[], char *const[]), -1)
  return fn(path, (char *const *)argv, envp);
}

EXPORT int execl(const char *path, const char *arg, ...) {
  va_list ap;
  va_start(ap, arg);
  int r = execl_common(X_AT, path, arg, ap, 0);
  va_end(ap);
  return r;
}
EXPORT int execle(const char *path, const char *arg, ...) {
  va_list ap;
  va_start(ap, arg);
  int r = execl_common(X_AT, path, arg, ap, 1);
  va_end(ap);
  return r;
}
EXPORT int execlp(const char *file, const char *arg, ...) {
  va_list ap;
  va_start(ap, arg);
  int r = execl_common(X_SEARCH, file, arg, ap, 0);
  va_end(ap);
  return r;
}

/* posix_spawn[p]: look first, call, write the record only when the spawn succeeded. A relative
 * path after a chdir file action is resolved in another directory: not looked at. */
static NOINL int s_spawn(void *fn, int how, pid_t *pid, const char *path,
                         const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr,
                         char *const argv[], char *const envp[]) {
  int e = errno;
  if (cap_chrooted()) {
    int ret = ((int (*)(pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *,
                        char *const[], char *const[]))fn)(pid, path, fa, attr, argv, envp);
    if (ret == 0) chroot_exec_note(path);
    errno = e;
    return ret;
  }
  struct xc_result r;
  int v = 0;
  if (!(path && path[0] != '/' && (how == X_AT || strchr(path, '/')) && fa &&
        spawn_marked((posix_spawn_file_actions_t *)fa)))
    v = exec_look(how, AT_FDCWD, path, 0, &r);
  errno = e;
  /* a static program: spawned as shit-run joined to the command (the seccomp tier); if that
   * spawn fails, the program is spawned as asked, outside capture */
  if (v == XC_STATIC && exec_supervised(r.path, argv, envp ? envp : environ, -1, fn, pid, fa, attr) == 0)
    return 0;
  errno = e;
  int ret = ((int (*)(pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *,
                      char *const[], char *const[]))fn)(pid, path, fa, attr, argv, envp);
  if (ret == 0 && v) {
    e = errno;
    cap_note(xc_note(v), r.path[0] ? r.path : NULL, SP_EXEC);
    errno = e;
  }
  return ret;
}

#define SPAWNW(name, how)                                                                                 \
  static void *r_##name;                                                                                  \
  EXPORT int name(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,                     \
                  const posix_spawnattr_t *attr, char *const argv[], char *const envp[]) {                \
    REAL_OR(r_##name, #name,                                                                              \
            int (*)(pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *, \
                    char *const[], char *const[]),                                                        \
            return ENOSYS)                                                                                \
    if (!cap_active()) return fn(pid, path, fa, attr, argv, envp);                                        \
    return s_spawn((void *)fn, how, pid, path, fa, attr, argv, envp);                                     \
  }
SPAWNW(posix_spawn, X_AT)
SPAWNW(posix_spawnp, X_SEARCH)

/* system(3) and popen(3) start /bin/sh with glibc's internal spawn, which no wrapper above sees:
 * in a chroot'd process that shell runs outside capture, and a note says so. Otherwise the shell
 * loads the shim (LD_PRELOAD) and captures itself. */
static void *r_system, *r_popen;
EXPORT int system(const char *line) {
  REAL(r_system, "system", int (*)(const char *), -1)
  if (line && cap_active() && cap_chrooted()) chroot_exec_note("/bin/sh");
  return fn(line);
}
EXPORT FILE *popen(const char *line, const char *mode) {
  REAL(r_popen, "popen", FILE * (*)(const char *, const char *), NULL)
  FILE *f = fn(line, mode);
  if (f && cap_active() && cap_chrooted()) {
    int e = errno;
    chroot_exec_note("/bin/sh");
    errno = e;
  }
  return f;
}
