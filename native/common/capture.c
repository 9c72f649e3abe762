/* capture.c — the capture routine (see capture.h, docs/SPOOL.md, docs/DESIGN.md "capture").
 *
 * Runs inside interposed libc calls: every I/O goes through sys.h (raw syscalls, errno never
 * touched, nothing interposed re-entered). The only libc calls are getenv, memcpy/memcmp/strlen.
 * Per-process mutable state: cap_step, and the small lock-free table of inodes this process
 * created in the current command ("created here" below); the rest lives in the caller's cap_op.
 *
 * Every stat and every keep acts on the caller's own (dirfd, path), so it sees exactly the
 * object the real call will act on; the absolute path is only what the record says. */
#define _GNU_SOURCE
#include "capture.h"
#include "endscan.h"
#include "errname.h"
#include "sys.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h> /* RENAME_NOREPLACE & co. (glibc >= 2.28) */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#define RENAME_EXCHANGE (1 << 1)
#define RENAME_WHITEOUT (1 << 2)
#endif
#ifndef FICLONE
#define FICLONE 0x40049409 /* _IOW(0x94, 9, int) */
#endif

enum {
  CAPF_CREATED = 1,  /* OPEN: the object did not exist; POST = fstat of the new fd */
  CAPF_NOTCAP = 2,   /* the record became a NOTCAPTURED */
  CAPF_SKIPNEW = 4,  /* metadata op: skip it when locate finds an inode created here */
  CAPF_PRE = 8,      /* the record was written before the call (prewrite); a failed call gets a VOID */
  CAPF_LINKED = 16,  /* RENAME: the replaced inode was linked into staging (undo_keep): STAGED after */
  CAPF_NOFLUSH = 32, /* prewrite leaves the record batched: nothing is moved until its caller's flush */
};

int cap_step = -1;
int cap_stage_later;
const struct sp_stat *cap_pre_known, *cap_parent_known;

/* ---------- after chroot(2) ----------
 *
 * A captured process that calls chroot (python os.chroot, useradd -R, build tools) names its
 * files from the new root. The shim's chroot wrapper (cap_chroot_before / _after) keeps the real
 * path of that root (cap_root) and the real root itself open (sp_root_fd, spool.h), since /proc,
 * the spool and staging may not exist inside the new root: capture then reads /proc/self/fd and
 * reaches shit's own files through that descriptor, and every path it records is the real one
 * (cap_root + the path as the process names it). A root whose real path cannot be known stops
 * capture in the process, with one NOTCAPTURED written before the chroot. */
static char cap_root[PATH_MAX]; /* "" when not chroot'd */
static size_t cap_root_len;
static int held_root = -1; /* the real root, opened at the first chroot */
static int chroot_off;     /* capture is off in this process: chroot'd into an unknown root */
static uint64_t held_dev, held_ino;

/* Is the held root still the descriptor opened as it? A program may close every descriptor
 * (daemons do) and reuse the number: then shit's files cannot be reached any more, and capture
 * stops rather than write relative to whatever the number now names. */
static int root_still_held(void) {
  struct sp_stat st;
  return sp_statat(held_root, "", AT_EMPTY_PATH, &st) == 0 && st.dev == held_dev && st.ino == held_ino;
}

/* The shim's held-back record (spool.h sp_thread_flush) goes out as any record does: only while
 * the held root still names the real one. Its path is resolved against that root; were the
 * number reused, the record would land wherever it now points (inside the jail). */
void cap_thread_flush(void) {
  if (cap_root_len && !root_still_held()) {
    chroot_off = 1;
    sp_root_fd = -1;
    sp_thread_drop();
    return;
  }
  sp_thread_flush();
}

/* ---------- small helpers ---------- */

static size_t u64dec(char *out, unsigned long long v) {
  char t[24];
  size_t n = 0, i;
  do {
    t[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (i = 0; i < n; i++) out[i] = t[n - 1 - i];
  out[n] = 0;
  return n;
}

/* Append s (k bytes) to out (length *n, capacity cap). 0 or -1 when it does not fit. */
static int app(char *out, size_t cap, size_t *n, const char *s, size_t k) {
  if (*n + k + 1 > cap) return -1;
  memcpy(out + *n, s, k);
  *n += k;
  out[*n] = 0;
  return 0;
}
static int apps(char *out, size_t cap, size_t *n, const char *s) { return app(out, cap, n, s, strlen(s)); }

static void sclose(long fd) {
  if (fd >= 0) sys1(SYS_close, fd);
}

static void add_note(struct cap_op *o, const char *why, long e) {
  char t[256];
  size_t n = 0;
  apps(t, sizeof t, &n, "not captured: ");
  apps(t, sizeof t, &n, why);
  if (e) {
    const char *en = errname(e);
    apps(t, sizeof t, &n, " (");
    if (en) apps(t, sizeof t, &n, en);
    else {
      char d[24];
      apps(t, sizeof t, &n, "errno ");
      u64dec(d, (unsigned long long)(e < 0 ? -e : e));
      apps(t, sizeof t, &n, d);
    }
    apps(t, sizeof t, &n, ")");
    o->keep_err = (int)(e < 0 ? -e : e);
  }
  sp_add(&o->rec, T_NOTE, t, n);
}

int cap_failed(const struct cap_op *o) { return o->on ? o->keep_err : 0; }

/* ---------- context ---------- */

static int statelen(const struct cap_ctx *c) {
  /* staging = <state>/staging/<cmd> */
  return (int)(strlen(c->staging) - strlen(c->cmd) - 9);
}

/* Append the lexically cleaned components of s ("." and empty components dropped; ".." kept:
 * a symlink may sit before it) to the absolute path in out. */
static int push_path(char *out, size_t cap, size_t *n, const char *s) {
  const char *p = s;
  while (*p) {
    while (*p == '/') p++;
    if (!*p) break;
    const char *q = p;
    while (*q && *q != '/') q++;
    size_t k = (size_t)(q - p);
    if (!(k == 1 && p[0] == '.')) {
      if (!(*n == 1 && out[0] == '/') && app(out, cap, n, "/", 1)) return -1;
      if (app(out, cap, n, p, k)) return -1;
    }
    p = q;
  }
  return 0;
}

/* The current command id: SHIT_CMD. A preloaded fish keeps exported variables to itself (its
 * environ never changes after it starts), so its hook appends each command's id to the file
 * SHIT_CMD_FILE names: 16 hex digits and a newline when a command starts, 16 dashes and a newline
 * when it ends. That file is read, in the shell's own process only (SHIT_SHELL_PID; its children
 * get SHIT_CMD), when SHIT_CMD is absent: its last 17 bytes are the id, or none. */
/* Is this process the hooked shell itself (SHIT_SHELL_PID), not one of its children? */
static int is_hooked_shell(void) {
  const char *sp = getenv("SHIT_SHELL_PID");
  if (!sp || !*sp) return 0;
  long pid = 0;
  for (; *sp >= '0' && *sp <= '9'; sp++) pid = pid * 10 + (*sp - '0');
  return !*sp && pid == sys0(SYS_getpid);
}

/* The child a hooked fish forks to run a typed line's program: fish keeps exported variables
 * apart from environ and passes them in the exec's envp, so this process has no SHIT_CMD of its
 * own. The exec wrappers name that envp's SHIT_CMD and SHIT_STATE here (cap_exec_env) while they
 * look at what it starts (a static program is handed to the seccomp tier; a set-ID one named). */
static const char *env_cmd, *env_state;

void cap_exec_env(char *const *envp) {
  env_cmd = env_state = NULL;
  for (; envp && *envp; envp++) {
    if (!strncmp(*envp, "SHIT_CMD=", 9)) env_cmd = *envp + 9;
    else if (!strncmp(*envp, "SHIT_STATE=", 11)) env_state = *envp + 11;
  }
}

static const char *state_dir(void) {
  const char *st = getenv("SHIT_STATE");
  return st ? st : env_state;
}

static const char *current_cmd(char buf[32]) {
  const char *cmd = getenv("SHIT_CMD");
  if (cmd) return cmd;
  if (env_cmd) return env_cmd;
  const char *f = getenv("SHIT_CMD_FILE");
  if (!f || f[0] != '/' || !is_hooked_shell()) return NULL;
  long fd = sys4(SYS_openat, AT_FDCWD, f, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return NULL;
  struct stat st;
  long n = -1;
  if (sys2(SYS_fstat, fd, &st) == 0 && st.st_size >= 17) n = sys4(SYS_pread64, fd, buf, 17, st.st_size - 17);
  sys1(SYS_close, fd);
  if (n != 17 || buf[16] != '\n' || buf[0] == '-') return NULL;
  buf[16] = 0;
  return buf;
}

int cap_ctx_fixed;
static struct cap_ctx fixed_ctx;
static int fixed_got = -1; /* cap_ctx_load's result when cap_ctx_fixed, -1 before its first */

static int ctx_load(struct cap_ctx *c);
int cap_ctx_load(struct cap_ctx *c) {
  if (!cap_ctx_fixed) return ctx_load(c);
  if (fixed_got < 0) fixed_got = ctx_load(&fixed_ctx);
  if (fixed_got) {
    memcpy(c->cmd, fixed_ctx.cmd, strlen(fixed_ctx.cmd) + 1);
    memcpy(c->spool, fixed_ctx.spool, strlen(fixed_ctx.spool) + 1);
    memcpy(c->staging, fixed_ctx.staging, strlen(fixed_ctx.staging) + 1);
  }
  return fixed_got;
}

static int ctx_load(struct cap_ctx *c) {
  char idbuf[32];
  const char *cmd = current_cmd(idbuf), *st = state_dir();
  if (chroot_off || !cmd || !*cmd || !st || st[0] != '/') return 0;
  if (cap_root_len && !root_still_held()) {
    chroot_off = 1;
    sp_root_fd = -1;
    return 0;
  }
  size_t cl = strlen(cmd), i;
  if (cl >= sizeof c->cmd) return 0;
  for (i = 0; i < cl; i++) {
    char ch = cmd[i];
    if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
          ch == '-'))
      return 0;
  }
  memcpy(c->cmd, cmd, cl + 1);
  size_t n = 1;
  c->staging[0] = '/';
  c->staging[1] = 0;
  if (push_path(c->staging, sizeof c->staging - 64, &n, st)) return 0;
  memcpy(c->spool, c->staging, n + 1);
  size_t m = n;
  if (apps(c->spool, sizeof c->spool, &m, n == 1 ? "spool/" : "/spool/") ||
      apps(c->spool, sizeof c->spool, &m, c->cmd) || apps(c->spool, sizeof c->spool, &m, ".spool"))
    return 0;
  if (n == 1) n = 0; /* state "/" (silly but consistent) */
  if (apps(c->staging, sizeof c->staging, &n, "/staging/") || apps(c->staging, sizeof c->staging, &n, c->cmd))
    return 0;
  return 1;
}

int cap_active(void) {
  char idbuf[32];
  const char *cmd = current_cmd(idbuf), *st = state_dir();
  if (chroot_off || !cmd || !*cmd || !st || st[0] != '/') return 0;
  stack_t ss;
  if (sys2(SYS_sigaltstack, 0, &ss) == 0 && (ss.ss_flags & SS_ONSTACK)) return 0;
  return 1;
}

static int under(const char *abs, const char *dir, size_t n) {
  return memcmp(abs, dir, n) == 0 && (abs[n] == 0 || abs[n] == '/');
}

/* A hooked shell's own housekeeping while a command runs (fish saves its history then; bash and
 * zsh may too): the paths in SHIT_SHELL_IGNORE (colon-separated, absolute), in the shell's own
 * process only (SHIT_SHELL_PID). Whatever the command itself does to them is still captured. */
static int shell_ignores(const char *abs) {
  const char *list = getenv("SHIT_SHELL_IGNORE");
  if (!list || !*list || !is_hooked_shell()) return 0;
  for (const char *p = list; *p;) {
    const char *q = p;
    while (*q && *q != ':') q++;
    size_t n = (size_t)(q - p);
    while (n > 1 && p[n - 1] == '/') n--;
    if (n && p[0] == '/' && under(abs, p, n)) return 1;
    p = *q ? q + 1 : q;
  }
  return 0;
}

/* Paths capture leaves alone: the state directory itself, the kernel's pseudo filesystems
 * (/proc, /sys, /dev: reading a "file" there to keep it can have side effects, and nothing there
 * is undoable), and a hooked shell's own housekeeping. */
static int in_state(const struct cap_op *o, const char *abs) {
  if (abs[0] == '/' && (under(abs, "/proc", 5) || under(abs, "/sys", 4) || under(abs, "/dev", 4))) return 1;
  if (cap_root_len && under(abs, cap_root, cap_root_len)) { /* the same inside a chroot */
    const char *r = abs + cap_root_len;
    if (under(r, "/proc", 5) || under(r, "/sys", 4) || under(r, "/dev", 4)) return 1;
  }
  int sl = statelen(&o->ctx);
  if (sl <= 0) return 1; /* state is "/": everything is "under" it; capture nothing */
  if (memcmp(abs, o->ctx.staging, (size_t)sl) == 0 && (abs[sl] == 0 || abs[sl] == '/')) return 1;
  return shell_ignores(abs);
}

/* mkdir (0700) of p's first n bytes, and when that fails with ENOENT, of up to `up` directories
 * above it first. 0 (made, or there), or -errno. */
static long mkdir_up(char *p, size_t n, int up) {
  char c = p[n];
  p[n] = 0;
  long r = sys3(SYS_mkdirat, sp_ofd(), sp_opath(p), 0700);
  p[n] = c;
  if (r == -ENOENT && up > 0) {
    size_t k = n;
    while (k > 0 && p[k - 1] != '/') k--;
    if (k > 1 && mkdir_up(p, k - 1, up - 1) == 0) {
      c = p[n];
      p[n] = 0;
      r = sys3(SYS_mkdirat, sp_ofd(), sp_opath(p), 0700);
      p[n] = c;
    }
  }
  return r == -EEXIST ? 0 : r;
}

/* The command's staging dir (and staging/ above it), made when missing. 0, or -errno. */
static int ensure_staging(struct cap_op *o) {
  char p[PATH_MAX];
  size_t n = strlen(o->ctx.staging);
  memcpy(p, o->ctx.staging, n + 1);
  return (int)mkdir_up(p, n, 1);
}

int cap_make_dir_of(const char *file, int up) {
  char d[PATH_MAX];
  size_t n = strlen(file);
  if (n >= sizeof d) return -ENAMETOOLONG;
  memcpy(d, file, n + 1);
  while (n > 0 && d[n - 1] != '/') n--;
  if (n < 2) return -EINVAL;
  return (int)mkdir_up(d, n - 1, up);
}

/* ---------- inodes created here ----------
 *
 * A metadata change (chmod, chown, utimes, xattr, truncate) to an inode that this command
 * created needs no record: undoing the command removes every name the command gave that inode,
 * and with the last one the inode. Creating tools change the metadata of what they create all
 * the time (tar: open O_CREAT, then futimens + fchown + fchmod on the fd, utimensat on the path
 * after close; sed -i / install / cp -p: mkstemp or open, then fchmod/fchown), and each record
 * costs a spool open + write + close.
 *
 * The table is filled when an OPEN that created a regular file (PRE absent, O_CREAT or the
 * mkstemp family) has been written to the spool, with the new inode's identity from the fstat
 * of the returned descriptor: dev, ino and statx btime, plus a hash of the spool path (state
 * directory and SHIT_CMD, so a preloaded shell that moves on to its next command does not carry
 * the facts over). A metadata call whose object (as locate stats it: through the descriptor, or
 * at the path) has the same dev + ino + btime under the same spool hash is not recorded.
 *
 * Why the identity is safe to trust:
 *  - fd numbers play no part: a closed and reused descriptor, or a path-based call after close
 *    (tar's utimensat on the name), is looked up by the inode it reaches now;
 *  - an inode number can be reused once the created file is gone (unlinked with a copy kept,
 *    or removed by another process); the reused inode has a new btime. Residual risk: the
 *    number is reused within one btime tick (coarse clock on ext4, a few ms) by a creation this
 *    process did not record — then one metadata change to that foreign file goes unrecorded;
 *  - filesystems without btime (stx_mask lacks STATX_BTIME) are never entered: no skipping there;
 *  - the spool hash is 64-bit FNV-1a: two commands colliding within one process is negligible.
 *
 * Concurrency: direct-mapped, 256 slots by hash of (dev, ino), each a seqlock with lock-free
 * writers (a CAS takes the slot to odd; a writer that finds it odd or loses the CAS just does
 * not insert) and readers that treat an odd or changed sequence as a miss. No call ever waits,
 * so signal handlers, threads and vfork children (which write into the parent's table while the
 * parent's other threads run) are all safe; every entry is a true fact for its command
 * ("this command created this inode"), so inherited (fork) and shared (vfork) entries stay valid.
 * A miss always means "record as usual". A writer killed mid-update (only possible in a child
 * forked by another thread at that instant) leaves its slot odd: that slot is unused from then on. */

#define NEW_SLOTS 256
struct newent {
  uint32_t seq; /* even: stable; odd: a writer is in it */
  uint64_t dev, ino, cmdh;
  int64_t btime;
};
static struct newent newtab[NEW_SLOTS];

static uint64_t ctx_hash(const struct cap_ctx *c) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const unsigned char *p = (const unsigned char *)c->spool; *p; p++) h = (h ^ *p) * 0x100000001b3ULL;
  return h | 1; /* never 0: a zeroed slot can never match */
}

static struct newent *new_slot(const struct sp_stat *st) {
  uint64_t h = (st->ino ^ (st->dev * 0xff51afd7ed558ccdULL)) * 0x9e3779b97f4a7c15ULL;
  return &newtab[h >> 56];
}

static void new_add(const struct cap_op *o, const struct sp_stat *st) {
  if (!S_ISREG(st->mode) || st->btime_ns < 0) return;
  struct newent *e = new_slot(st);
  uint32_t s = __atomic_load_n(&e->seq, __ATOMIC_RELAXED);
  if ((s & 1) || !__atomic_compare_exchange_n(&e->seq, &s, s + 1, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
    return;
  __atomic_thread_fence(__ATOMIC_RELEASE); /* the odd seq is visible before any field changes */
  __atomic_store_n(&e->dev, st->dev, __ATOMIC_RELAXED);
  __atomic_store_n(&e->ino, st->ino, __ATOMIC_RELAXED);
  __atomic_store_n(&e->btime, st->btime_ns, __ATOMIC_RELAXED);
  __atomic_store_n(&e->cmdh, ctx_hash(&o->ctx), __ATOMIC_RELAXED);
  __atomic_store_n(&e->seq, s + 2, __ATOMIC_RELEASE);
}

/* 1: *st is an inode this process created in this command (see above). */
static int created_here(const struct cap_op *o, const struct sp_stat *st) {
  if (!(o->internal & CAPF_SKIPNEW) || !S_ISREG(st->mode) || st->btime_ns < 0) return 0;
  struct newent *e = new_slot(st);
  uint32_t s1 = __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE);
  if ((s1 & 1) || s1 == 0) return 0;
  uint64_t dev = __atomic_load_n(&e->dev, __ATOMIC_RELAXED), ino = __atomic_load_n(&e->ino, __ATOMIC_RELAXED);
  uint64_t cmdh = __atomic_load_n(&e->cmdh, __ATOMIC_RELAXED);
  int64_t bt = __atomic_load_n(&e->btime, __ATOMIC_RELAXED);
  __atomic_thread_fence(__ATOMIC_ACQUIRE); /* the field loads happen before the re-check */
  if (__atomic_load_n(&e->seq, __ATOMIC_RELAXED) != s1) return 0;
  return dev == st->dev && ino == st->ino && bt == st->btime_ns && cmdh == ctx_hash(&o->ctx);
}

/* ---------- paths ---------- */

/* readlink /proc/self/fd/N: 0; -1 not a filesystem path (pipe:, socket:, anon_inode:);
 * -2 " (deleted)"; -3 cannot read the link. */
static struct {
  int fd;
  char path[PATH_MAX];
} known[2] = {{-1, ""}, {-1, ""}};

void cap_dir_known(int fd, const char *path, size_t len) {
  int i = known[0].fd < 0 || known[0].fd == fd ? 0 : known[1].fd < 0 || known[1].fd == fd ? 1 : -1;
  if (i < 0 || fd < 0 || len == 0 || len >= PATH_MAX || path[0] != '/') return;
  memcpy(known[i].path, path, len);
  known[i].path[len] = 0;
  known[i].fd = fd;
}

void cap_dir_forget(int fd) {
  for (int i = 0; i < 2; i++)
    if (known[i].fd == fd) known[i].fd = -1;
}

/* fd_path after a chroot: the kernel names a file inside the new root from it, and one outside
 * (reached through a descriptor opened before the chroot) from the real root; which one it is
 * is told by comparing the descriptor's inode with what each name reaches. */
static int fd_path_rooted(int fd, char *out) {
  char p[40] = "proc/self/fd/", l[PATH_MAX];
  u64dec(p + 13, (unsigned long long)(unsigned)fd);
  long n = sys4(SYS_readlinkat, sp_root_fd, p, l, PATH_MAX - 1);
  if (n < 0) return -3;
  l[n] = 0;
  if (l[0] != '/') return -1;
  if (n >= 10 && memcmp(l + n - 10, " (deleted)", 10) == 0) return -2;
  struct sp_stat a, b;
  if (sp_statat(fd, "", AT_EMPTY_PATH, &a) < 0) return -3;
  size_t k = 0;
  out[0] = 0;
  if (!apps(out, PATH_MAX, &k, cap_root) && !push_path(out, PATH_MAX, &k, l) &&
      sp_statat(sp_root_fd, sp_opath(out), AT_SYMLINK_NOFOLLOW, &b) == 0 && a.dev == b.dev && a.ino == b.ino)
    return 0;
  if (sp_statat(sp_root_fd, sp_opath(l), AT_SYMLINK_NOFOLLOW, &b) == 0 && a.dev == b.dev && a.ino == b.ino) {
    memcpy(out, l, (size_t)n + 1);
    return 0;
  }
  return -3;
}

static int fd_dir = -1; /* /proc/self/fd of this process, or -1 (cap_fd_dir_open) */

void cap_fd_dir_open(void) {
  sclose(fd_dir);
  fd_dir = (int)sys4(SYS_openat, AT_FDCWD, "/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd_dir < 0) fd_dir = -1;
}

static int fd_path(int fd, char *out) {
  for (int i = 0; i < 2; i++)
    if (fd >= 0 && known[i].fd == fd) {
      size_t n = strlen(known[i].path);
      memcpy(out, known[i].path, n + 1);
      return 0;
    }
  if (cap_root_len) return fd_path_rooted(fd, out);
  char p[40] = "/proc/self/fd/";
  u64dec(p + 14, (unsigned long long)(unsigned)fd);
  long n = fd_dir >= 0 ? sys4(SYS_readlinkat, fd_dir, p + 14, out, PATH_MAX - 1) : -1;
  if (n < 0) n = sys4(SYS_readlinkat, AT_FDCWD, p, out, PATH_MAX - 1);
  if (n < 0) return -3;
  out[n] = 0;
  if (out[0] != '/') return -1;
  if (n >= 10 && memcmp(out + n - 10, " (deleted)", 10) == 0) return -2;
  return 0;
}

static int stat_parent(int dirfd, const char *path, struct sp_stat *st);

/* A directory descriptor's path without reading /proc (fd_path: a readlink of /proc/self/fd/N,
 * ~4 µs, once or twice for each call on (dirfd, name): tar xf -C DIR, rm -rf's walk): the path
 * read last for that descriptor number, used only while it still names the directory a call on
 * (dirfd, path) acts in — the directory part of path stat'ed from dirfd and from that path are
 * one inode (dev, ino): a directory has one name, so at this instant that path is its name, as
 * a readlink would say then (either may be stale a moment later, before the call is made). Two
 * statx, ~2.5 µs. A descriptor closed and reused for another directory, or a directory renamed,
 * fails the check and is read from /proc again. The table is shared by threads, signal handlers
 * and vfork children without a lock: whatever bytes a reader gets, it uses them only if they
 * pass the check, and reads at most PATH_MAX of them. Not after a chroot (fd_path_rooted). */
/* The stat of the directory a call on (dirfd, path) acts in, as hint_path took it for op `seq` of
 * this thread, for that op's own PARENT (stat_parent_of): not stat'ed twice. Any other op begun
 * since on this thread (a signal handler's) has another number. */
static __thread unsigned op_seq;
static __thread struct {
  unsigned seq;
  int dirfd;
  const char *path;
  struct sp_stat st;
} parent_taken;

#define HINTS 4
static struct {
  int fd;
  char path[PATH_MAX];
} hint[HINTS] = {{-1, ""}, {-1, ""}, {-1, ""}, {-1, ""}};
static unsigned hint_next;

static int hint_path(int dirfd, const char *path, char *out) {
  int i;
  for (i = 0; i < HINTS && __atomic_load_n(&hint[i].fd, __ATOMIC_RELAXED) != dirfd; i++) {}
  if (i == HINTS) return -1;
  size_t n = 0;
  while (n < PATH_MAX - 1 && (out[n] = __atomic_load_n(&hint[i].path[n], __ATOMIC_RELAXED)) != 0) n++;
  out[n] = 0;
  if (out[0] != '/' || __atomic_load_n(&hint[i].fd, __ATOMIC_RELAXED) != dirfd) return -1;
  /* path's directory part (all but its last name), from dirfd and from the hinted path */
  size_t k = strlen(path);
  while (k > 1 && path[k - 1] == '/') k--;
  while (k > 0 && path[k - 1] != '/') k--;
  char cand[PATH_MAX], part[PATH_MAX];
  size_t m = n;
  if (k >= sizeof part) return -1;
  memcpy(cand, out, n + 1);
  memcpy(part, path, k);
  part[k] = 0;
  if (push_path(cand, sizeof cand, &m, part)) return -1;
  struct sp_stat a, b;
  if (stat_parent(dirfd, path, &a)) return -1;
  parent_taken.seq = 0;
  parent_taken.dirfd = dirfd;
  parent_taken.path = path;
  parent_taken.st = a;
  parent_taken.seq = op_seq;
  if (sp_statat(AT_FDCWD, cand, 0, &b)) return -1;
  return S_ISDIR(a.mode) && a.dev == b.dev && a.ino == b.ino ? 0 : -1;
}

static void hint_keep(int dirfd, const char *p) {
  size_t n = strlen(p);
  if (n >= PATH_MAX || p[0] != '/') return;
  unsigned i = __atomic_fetch_add(&hint_next, 1, __ATOMIC_RELAXED) % HINTS;
  for (unsigned j = 0; j < HINTS; j++)
    if (__atomic_load_n(&hint[j].fd, __ATOMIC_RELAXED) == dirfd) i = j;
  __atomic_store_n(&hint[i].fd, -1, __ATOMIC_RELAXED);
  for (size_t k = 0; k <= n; k++) __atomic_store_n(&hint[i].path[k], p[k], __ATOMIC_RELAXED);
  __atomic_store_n(&hint[i].fd, dirfd, __ATOMIC_RELEASE);
}

/* The path of directory descriptor dirfd, for a call on (dirfd, path): as fd_path says (-1..-3),
 * or the path hint_path checked. */
static int dir_path(int dirfd, const char *path, char *out) {
  for (int i = 0; i < 2; i++)
    if (known[i].fd == dirfd) return fd_path(dirfd, out);
  if (cap_root_len) return fd_path(dirfd, out);
  if (hint_path(dirfd, path, out) == 0) return 0;
  int r = fd_path(dirfd, out);
  if (r == 0) hint_keep(dirfd, out);
  return r;
}

/* The absolute, lexically cleaned form of (dirfd, path). 0, or -1 with *why set. */
/* Whether a path has a ".." component: then its directory part is resolved by the kernel
 * (symlinks before a ".." are followed, as the call follows them), not by taking names off. */
static int has_dotdot(const char *p) {
  for (const char *q = p; (q = strstr(q, "..")) != NULL; q += 2)
    if ((q == p || q[-1] == '/') && (q[2] == 0 || q[2] == '/')) return 1;
  return 0;
}

/* real: path is already a real absolute path (not one the process names from its root). */
static int abs_path_in(int dirfd, const char *path, char *out, const char **why, int real) {
  size_t n;
  if (path && has_dotdot(path)) {
    /* the directory part as the kernel resolves it, then the last name (none when the path ends
     * in "..", ".", or a slash: then the whole path is the directory) */
    char dir[PATH_MAX];
    size_t len = strlen(path);
    if (len >= sizeof dir) {
      *why = "path too long";
      return -1;
    }
    memcpy(dir, path, len + 1);
    while (len > 1 && dir[len - 1] == '/') dir[--len] = 0;
    size_t cut = len;
    while (cut > 0 && dir[cut - 1] != '/') cut--;
    const char *last = dir + cut;
    if (!strcmp(last, "..") || !strcmp(last, ".") || len < strlen(path)) last = NULL;
    if (last) { /* a ".." is before the last name, so there is a slash before it */
      dir[cut > 1 ? cut - 1 : 1] = 0;
      last = path + cut;
    }
    long fd = real ? sys4(SYS_openat, sp_ofd(), sp_opath(dir), O_PATH | O_DIRECTORY | O_CLOEXEC, 0)
                   : sys4(SYS_openat, dirfd, dir, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0) {
      *why = "cannot resolve the directory of a path through ..";
      return -1;
    }
    int r = fd_path((int)fd, out);
    sclose(fd);
    if (r < 0) {
      *why = "no path for the directory of a path through ..";
      return -1;
    }
    n = strlen(out);
    if (last && push_path(out, PATH_MAX, &n, last)) {
      *why = "path too long";
      return -1;
    }
    return 0;
  }
  /* the process's root: "/", or after a chroot the real path of its new root */
  out[0] = '/';
  out[1] = 0;
  n = 1;
  if (cap_root_len && !real) {
    memcpy(out, cap_root, cap_root_len + 1);
    n = cap_root_len;
  }
  if (!(path && path[0] == '/')) {
    char base[PATH_MAX];
    const char *b = base;
    if (dirfd == AT_FDCWD) {
      long r = sys2(SYS_getcwd, base, sizeof base);
      if (r > 13 && cap_root_len && memcmp(base, "(unreachable)/", 14) == 0) {
        b = base + 13; /* chroot'd with its cwd outside the new root: named from the real root */
        n = 1;
        out[1] = 0;
      } else if (r < 0 || base[0] != '/') {
        *why = "cannot get the working directory";
        return -1;
      }
    } else {
      int r = path ? dir_path(dirfd, path, base) : fd_path(dirfd, base);
      if (r < 0) {
        *why = r == -2 ? "directory descriptor refers to a deleted directory"
                       : "no path for the directory descriptor";
        return -1;
      }
      out[0] = '/'; /* fd_path gave the real path */
      out[1] = 0;
      n = 1;
    }
    if (push_path(out, PATH_MAX, &n, b)) {
      *why = "path too long";
      return -1;
    }
  }
  if (path && push_path(out, PATH_MAX, &n, path)) {
    *why = "path too long";
    return -1;
  }
  return 0;
}

static int abs_path(int dirfd, const char *path, char *out, const char **why) {
  return abs_path_in(dirfd, path, out, why, 0);
}

/* Parent directory of (dirfd, path), as the call resolves it (following a symlinked parent). */
static int stat_parent(int dirfd, const char *path, struct sp_stat *st) {
  size_t n = strlen(path);
  while (n > 1 && path[n - 1] == '/') n--;
  while (n > 0 && path[n - 1] != '/') n--;
  if (n == 0) return sp_statat(dirfd, "", AT_EMPTY_PATH, st);
  char p[PATH_MAX];
  while (n > 1 && path[n - 1] == '/') n--;
  if (n >= sizeof p) return -ENAMETOOLONG;
  memcpy(p, path, n);
  p[n] = 0;
  return sp_statat(dirfd, p, 0, st);
}

/* stat_parent for op o, taken once: hint_path may have stat'ed the same (dirfd, path) for it. */
static int stat_parent_of(const struct cap_op *o, int dirfd, const char *path, struct sp_stat *st) {
  if (o->seq && parent_taken.seq == o->seq && parent_taken.dirfd == dirfd && parent_taken.path == path) {
    *st = parent_taken.st;
    return 0;
  }
  return stat_parent(dirfd, path, st);
}

static void add_parent(struct cap_op *o, int tag, int dirfd, const char *path) {
  struct sp_stat st;
  if (stat_parent_of(o, dirfd, path, &st) == 0) sp_add_stat(&o->rec, tag, &st);
}

static void add_target(struct cap_op *o, int tag, int dirfd, const char *path) {
  char t[PATH_MAX];
  long n = sys4(SYS_readlinkat, dirfd, path, t, sizeof t);
  if (n >= 0) sp_add(&o->rec, tag, t, (size_t)n);
}

enum { LOC_OK, LOC_ABSENT, LOC_SKIP, LOC_NOPATH };

/* Find the object a call on (dirfd, path) acts on — or, path NULL, the object open on fd
 * dirfd. follow: the call follows a final symlink. Fills abs and *st. LOC_ABSENT: it does not
 * exist (abs is the name the call would create; *via_link set when that name is a dangling
 * symlink's target). LOC_SKIP: record nothing (the call will fail, not a file, or under the
 * state directory). LOC_NOPATH: exists but no absolute path (*why). */
static int locate(struct cap_op *o, int dirfd, const char *path, int follow, char *abs, struct sp_stat *st,
                  const char **why, int *via_link) {
  if (via_link) *via_link = 0;
  if (!path) {
    if (sp_statat(dirfd, "", AT_EMPTY_PATH, st) < 0) return LOC_SKIP;
    if (created_here(o, st)) return LOC_SKIP;
    int r = fd_path(dirfd, abs);
    if (r == -1) return LOC_SKIP;
    if (r == -2) {
      if (st->nlink == 0) return LOC_SKIP; /* no name anywhere: nothing to restore */
      *why = "file descriptor refers to a deleted name";
      return LOC_NOPATH;
    }
    if (r < 0) {
      *why = "cannot read /proc/self/fd";
      return LOC_NOPATH;
    }
    return in_state(o, abs) ? LOC_SKIP : LOC_OK;
  }
  long r =
      !follow && cap_pre_known ? (*st = *cap_pre_known, 0) : sp_statat(dirfd, path, AT_SYMLINK_NOFOLLOW, st);
  if (r == 0 && follow && S_ISLNK(st->mode)) {
    long pfd = sys4(SYS_openat, dirfd, path, O_PATH | O_CLOEXEC, 0);
    if (pfd >= 0) {
      long s = sp_statat((int)pfd, "", AT_EMPTY_PATH, st);
      if (s < 0 || created_here(o, st)) {
        sclose(pfd);
        return LOC_SKIP;
      }
      int pr = fd_path((int)pfd, abs);
      sclose(pfd);
      if (pr < 0) {
        *why = "cannot resolve the symlink's target";
        return LOC_NOPATH;
      }
      return in_state(o, abs) ? LOC_SKIP : LOC_OK;
    }
    if (pfd != -ENOENT) return LOC_SKIP;
    /* dangling symlink: a create through it makes its target (one level resolved) */
    char link[PATH_MAX], t[PATH_MAX];
    long tn = sys4(SYS_readlinkat, dirfd, path, t, sizeof t - 1);
    if (tn <= 0) return LOC_SKIP;
    t[tn] = 0;
    if (t[0] == '/') {
      if (abs_path(AT_FDCWD, t, abs, why)) return LOC_NOPATH;
    } else {
      if (abs_path(dirfd, path, link, why)) return LOC_NOPATH;
      size_t n = strlen(link);
      while (n > 1 && link[n - 1] != '/') n--;
      link[n > 1 ? n - 1 : 1] = 0;
      if (abs_path_in(AT_FDCWD, link, abs, why, 1)) return LOC_NOPATH;
      n = strlen(abs);
      if (push_path(abs, PATH_MAX, &n, t)) {
        *why = "path too long";
        return LOC_NOPATH;
      }
    }
    if (via_link) *via_link = 1;
    return in_state(o, abs) ? LOC_SKIP : LOC_ABSENT;
  }
  if (r < 0 && r != -ENOENT) return LOC_SKIP;
  if (r == 0 && created_here(o, st)) return LOC_SKIP;
  if (abs_path(dirfd, path, abs, why)) {
    o->np_dirfd = dirfd;
    o->np_path = path;
    return r == 0 ? LOC_NOPATH : LOC_SKIP;
  }
  if (in_state(o, abs)) return LOC_SKIP;
  return r == 0 ? LOC_OK : LOC_ABSENT;
}

/* ---------- op lifecycle ---------- */

static int begin(struct cap_op *o, int op, uint32_t flags) {
  o->on = 0;
  o->op = op;
  o->done = 0;
  o->ret = 0;
  o->err = 0;
  o->step = cap_step;
  o->undo_keep[0] = 0;
  o->path[0] = 0;
  o->internal = 0;
  o->keep_err = 0;
  o->replaced = NULL;
  o->np_path = NULL;
  o->staged_later = 0;
  o->seq = ++op_seq ? op_seq : ++op_seq; /* never 0: 0 matches nothing */
  if (!cap_ctx_load(&o->ctx)) return 0;
  sp_start(&o->rec, op, flags);
  o->on = 1;
  return 1;
}

static int skip(struct cap_op *o) {
  if (o->on) sp_release(&o->rec);
  o->on = 0;
  return 0;
}

/* The absolute path of (dirfd, path) where abs_path found none (longer than PATH_MAX, or the
 * directory's /proc link unreadable): from dirfd up through "..", each directory's name found in
 * its parent by inode, until one whose /proc path can be read (or "/"). Written into out (cap
 * bytes, cap > PATH_MAX). Returns its length, or 0. Slow (a readdir per level), and only for a
 * NOTCAPTURED, so the record names what it could not capture. */
#define LONG_PATH_CAP (1 << 18)
static size_t long_path(int dirfd, const char *path, char *out, size_t cap) {
  size_t n = 1;
  out[0] = '/';
  out[1] = 0;
  if (path[0] == '/') return push_path(out, cap, &n, path) ? 0 : n;
  size_t pos = cap / 2; /* the directory's path is built backwards in out[0 .. cap/2) */
  long cur = sys4(SYS_openat, dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  char *dents = out + cap / 2, head[PATH_MAX];
  int found = 0;
  for (int depth = 0; cur >= 0 && depth < 65536; depth++) {
    if (fd_path((int)cur, head) == 0) {
      size_t k = strlen(head);
      if (k == 1) k = 0; /* "/" */
      if (k > pos) break;
      pos -= k;
      memcpy(out + pos, head, k);
      found = 1;
      break;
    }
    struct sp_stat me, up;
    long par = sys4(SYS_openat, cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (par < 0 || sp_statat((int)cur, "", AT_EMPTY_PATH, &me) ||
        sp_statat((int)par, "", AT_EMPTY_PATH, &up)) {
      sclose(par);
      break;
    }
    if (me.dev == up.dev && me.ino == up.ino) { /* the root */
      sclose(par);
      found = 1;
      break;
    }
    int named = 0;
    for (;;) {
      long got = sys3(SYS_getdents64, par, dents, (long)(cap / 2));
      if (got <= 0) break;
      for (long off = 0; off < got && !named;) {
        struct sys_dirent64 *d = (void *)(dents + off);
        off += d->reclen;
        struct sp_stat c;
        if (d->ino != me.ino || !strcmp(d->name, ".") || !strcmp(d->name, "..")) continue;
        if (sp_statat((int)par, d->name, AT_SYMLINK_NOFOLLOW, &c) || c.dev != me.dev || c.ino != me.ino)
          continue;
        size_t k = strlen(d->name);
        if (k + 1 > pos) break;
        pos -= k;
        memcpy(out + pos, d->name, k);
        out[--pos] = '/';
        named = 1;
      }
      if (named) break;
    }
    sclose(cur);
    cur = par;
    if (!named) break;
  }
  sclose(cur);
  if (!found) return 0;
  n = cap / 2 - pos;
  memmove(out, out + pos, n);
  if (n == 0) out[n++] = '/';
  out[n] = 0;
  return push_path(out, cap, &n, path) ? 0 : n;
}

/* The record becomes a NOTCAPTURED for the op (written when the call succeeds). */
static int notcap(struct cap_op *o, const char *why, long e, const char *abs) {
  sp_release(&o->rec);
  sp_start(&o->rec, SP_NOTCAPTURED, (uint32_t)o->op);
  add_note(o, why, e);
  if (abs && abs[0] == '/') sp_add_str(&o->rec, T_PATH, abs);
  else if (o->np_path) {
    long m = sys6(SYS_mmap, 0, LONG_PATH_CAP, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m >= 0 || m < -4095) {
      size_t n = long_path(o->np_dirfd, o->np_path, (char *)m, LONG_PATH_CAP);
      if (n) sp_add(&o->rec, T_PATH, (char *)m, n);
      sys2(SYS_munmap, m, LONG_PATH_CAP);
    }
  }
  o->internal |= CAPF_NOTCAP;
  return 1;
}

/* ---------- the reserve: room for records and pre-images on a full disk ---------- */

/* <state>/run/reserve holds RESERVE bytes of the state dir's disk, allocated while it has room
 * (cap_reserve_fill). When a record or a pre-image cannot be written for want of space, capture
 * gives back from it just what that write needs (whole blocks) and writes again: the disk stays as
 * full as the command would leave it without shit, so the room a command frees for itself (a
 * truncate) is still its own, and what it destroys is still kept. Spent, it is filled again once
 * the disk has room (never from its last few MiB). */
#define RESERVE (256L << 10)
#define RESERVE_BLOCK 4096L
#define JOURNAL_ROOM (16L << 10) /* a hooked shell's journal record: its exported variables and aliases */

static int no_room(long e) { return e == -ENOSPC || e == -EDQUOT; }

static int reserve_path(const char *state, size_t len, char *out) {
  size_t n = 0;
  return app(out, PATH_MAX, &n, state, len) || apps(out, PATH_MAX, &n, "/run/reserve") ? -1 : 0;
}

int cap_reserve_give(const char *state, size_t len, long long bytes, int if_short) {
  char p[PATH_MAX];
  if (reserve_path(state, len, p)) return 0;
  long fd = sys4(SYS_openat, sp_ofd(), sp_opath(p), O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
  if (fd < 0) return 0;
  struct sp_stat st;
  struct statfs sf;
  int gave = 0;
  if (if_short &&
      (sys2(SYS_fstatfs, fd, &sf) < 0 || (long long)sf.f_bavail * (long long)sf.f_bsize >= bytes)) {
    sclose(fd);
    return 0;
  }
  if (sp_statat((int)fd, "", AT_EMPTY_PATH, &st) == 0 && S_ISREG(st.mode) && st.size > 0) {
    long long left = st.size - (bytes + RESERVE_BLOCK - 1) / RESERVE_BLOCK * RESERVE_BLOCK;
    gave = sys2(SYS_ftruncate, fd, left > 0 ? left : 0) == 0;
  }
  sclose(fd);
  return gave;
}

void cap_reserve_fill(const char *state, size_t len) {
  char p[PATH_MAX];
  struct sp_stat st;
  if (reserve_path(state, len, p)) return;
  if (sp_statat(sp_ofd(), sp_opath(p), AT_SYMLINK_NOFOLLOW, &st) == 0 && st.size >= RESERVE) return;
  long fd =
      sys4(SYS_openat, sp_ofd(), sp_opath(p), O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
  if (fd < 0) return;
  struct statfs sf;
  if (sp_statat((int)fd, "", AT_EMPTY_PATH, &st) == 0 && S_ISREG(st.mode) &&
      sys2(SYS_fstatfs, fd, &sf) == 0 &&
      (long long)sf.f_bavail * (long long)sf.f_bsize >= 4 * RESERVE + (RESERVE - st.size))
    sys4(SYS_fallocate, fd, 0, 0, RESERVE);
  sclose(fd);
}

static int reserve_give(const struct cap_ctx *c, long long bytes, int if_short) {
  return cap_reserve_give(c->staging, (size_t)statelen(c), bytes, if_short);
}

/* Appends a sealed record to the command's spool; for want of space, the rest again with what
 * the reserve gives back. */
static int append_record(const struct cap_ctx *c, const uint8_t *p, size_t n) {
  size_t done = 0, more;
  int rc = sp_append_part(c->spool, p, n, &done);
  for (int i = 0; i < 4 && no_room(rc) && reserve_give(c, (long long)(n - done), 0); i++) {
    rc = sp_append_part(c->spool, p + done, n - done, &more);
    done += more;
  }
  return rc;
}

void (*cap_on_record)(void);
void (*cap_on_performed)(long ret);
void (*cap_on_staging)(const char *from, const char *to);

/* defer: the record may be held back (sp_defer) to go out with the next one */
static int commit_as(struct cap_op *o, int err, int defer) {
  if (cap_on_record) cap_on_record();
  if (o->step >= 0) {
    uint32_t s = (uint32_t)o->step;
    sp_add(&o->rec, T_STEP, &s, 4);
  }
  if (defer && sp_defer(&o->rec, o->ctx.spool) == 0) return 0;
  sp_seal(&o->rec, err);
  int rc = append_record(&o->ctx, o->rec.p, o->rec.n); /* a failed spool write never affects the call */
  sp_release(&o->rec);
  return rc;
}

static int commit(struct cap_op *o, int err) { return commit_as(o, err, 0); }

/* Write the record now, before the call: an UNLINK moved into staging, a RENAME whose replaced
 * file was linked there, an RMDIR. A process killed after the call and before a record written
 * after it would leave a staged file (or a removed directory) that no record explains. 0: on
 * record (cap_end writes a VOID if the call fails). -1: it could not be written in full (a full
 * disk): the op becomes a NOTCAPTURED for cap_end to attempt, and the caller must not move
 * anything into staging. A short write leaves a torn record, which readers skip. */
static int prewrite(struct cap_op *o) {
  size_t n = strlen(o->path);
  int rc = commit(o, 0);
  if (rc == 0 && !(o->internal & CAPF_NOFLUSH))
    rc = sp_flush(); /* records batched before it (sp_batch: shit-apply) go first */
  if (rc == 0) {
    o->internal |= CAPF_PRE;
    return 0;
  }
  sp_start(&o->rec, SP_NOTCAPTURED, (uint32_t)o->op);
  add_note(o, "cannot write the record", rc);
  if (n) sp_add(&o->rec, T_PATH, o->path, n);
  if (o->replaced) sp_add_str(&o->rec, T_PATH2, o->replaced); /* whose bytes go: named too */
  o->internal |= CAPF_NOTCAP;
  return -1;
}

/* The record prewrite wrote did not happen: the call failed with e (> 0). */
static void write_void(struct cap_op *o, long e) {
  sp_start(&o->rec, SP_VOID, (uint32_t)o->op);
  sp_add(&o->rec, T_PATH, o->path, strlen(o->path));
  commit(o, (int)(e < 0 ? -e : e));
  o->internal &= ~(unsigned)CAPF_PRE;
}

/* ---------- keeping pre-images ---------- */

/* "<dev>-<ino>[<suffix>]" */
static void keep_base(char *out, const struct sp_stat *st, const char *suffix, long long arg) {
  size_t n = u64dec(out, st->dev);
  out[n++] = '-';
  n += u64dec(out + n, st->ino);
  if (suffix) {
    memcpy(out + n, suffix, strlen(suffix) + 1);
    n += strlen(suffix);
    u64dec(out + n, (unsigned long long)arg);
  }
}

/* An unlinked file's staging name by its directory: "d<dev>-<ino>/<name>", the directory's identity
 * and the file's own name, when that name is plain (printable ASCII, not "." or ".."): an undo
 * that puts the whole directory back moves that staging dir into place in one rename instead of
 * a rename per file (native/apply, "a directory moved back whole"); small directories also make
 * each move cheaper than one into a single directory of every kept file. 0: no such name (the
 * caller keeps the file by its inode instead). Same shape as src/store/store.ts isKeepName. */
static int keep_base_in_dir(char *out, size_t cap, const struct sp_stat *parent, const char *path) {
  size_t n = strlen(path), e;
  while (n > 0 && path[n - 1] == '/') n--;
  e = n;
  while (n > 0 && path[n - 1] != '/') n--;
  size_t len = e - n;
  if (len == 0 || len > 255 || (path[n] == '.' && (len == 1 || (len == 2 && path[n + 1] == '.')))) return 0;
  for (size_t i = n; i < e; i++)
    if ((unsigned char)path[i] < 0x20 || (unsigned char)path[i] > 0x7e) return 0;
  if (cap < 64 + len) return 0;
  size_t k = 0;
  out[k++] = 'd';
  k += u64dec(out + k, parent->dev);
  out[k++] = '-';
  k += u64dec(out + k, parent->ino);
  out[k++] = '/';
  memcpy(out + k, path + n, len);
  out[k + len] = 0;
  return 1;
}

static int staging_file(const struct cap_op *o, const char *base, char *out) {
  size_t n = 0;
  return (apps(out, PATH_MAX, &n, o->ctx.staging) || apps(out, PATH_MAX, &n, "/") ||
          apps(out, PATH_MAX, &n, base))
             ? -1
             : 0;
}

static void add_keep(struct cap_op *o, int tag, char how, const char *base) {
  char rel[PATH_MAX];
  size_t n = 0;
  apps(rel, sizeof rel, &n, o->ctx.cmd);
  apps(rel, sizeof rel, &n, "/");
  apps(rel, sizeof rel, &n, base);
  sp_add_keep(&o->rec, tag, how, rel);
}

/* KEPT: the stat of an inode kept whole, in staging, once nothing of this call changes it any more.
 * Its ctime is the inode's last change: any later write, truncate, chmod, chown, link or xattr
 * change sets a new one (no process can set it back), so an undo can tell the kept inode is
 * still as it was (docs/DESIGN.md, "store"). */
static void add_kept(struct cap_op *o, const char *dst) {
  struct sp_stat ks;
  if (sp_statat(sp_ofd(), sp_opath(dst), AT_SYMLINK_NOFOLLOW, &ks) == 0) sp_add_stat(&o->rec, T_KEPT, &ks);
}

/* STAGED: right after an inode whose record was written first (prewrite) was renamed or linked
 * into staging as `base`, its stat there (KEPT): the ctime it has once kept, which an undo checks
 * (docs/DESIGN.md, "store"). A kill before this record only leaves the weaker size/mtime check.
 * The stat is taken now, before the call returns; the record may go out with the next one
 * (sp_defer: the seccomp tier, whose watchdog writes it should the supervisor die). */
static void write_staged(struct cap_op *o, char how, const char *base, const char *dst) {
  struct sp_stat ks;
  if (sp_statat(sp_ofd(), sp_opath(dst), AT_SYMLINK_NOFOLLOW, &ks) != 0) return;
  sp_start(&o->rec, SP_STAGED, 0);
  add_keep(o, T_KEEP, how, base);
  sp_add_stat(&o->rec, T_KEPT, &ks);
  /* not held back in a hooked shell: its next record may be the next command's, long after */
  commit_as(o, 0, !is_hooked_shell());
}

int cap_recorded(const struct cap_op *o) { return (o->internal & CAPF_PRE) && !(o->internal & CAPF_NOTCAP); }

void cap_staged_later(struct cap_op *o, const char *base, const struct sp_stat *kept) {
  if (!begin(o, SP_STAGED, 0)) return;
  add_keep(o, T_KEEP, 'R', base);
  sp_add_stat(&o->rec, T_KEPT, kept);
  commit(o, 0);
  o->on = 0;
}

/* Copies len bytes of s from offset in to d at offset out (fewer when s ends first):
 * copy_file_range, else pread/pwrite through a 1 MiB buffer. 0 or -errno. */
static long copy_seg(long s, long d, long long in, long long out, long long len) {
  const long bs = 1 << 20;
  int cfr = 1;
  long m = 0, rc = 0;
  while (len > 0) {
    long want = len > (1L << 30) ? (1L << 30) : (long)len;
    long n;
    if (cfr) {
      n = sys6(SYS_copy_file_range, s, (long)&in, d, (long)&out, want, 0);
      if (n == -EINTR) continue;
      if (n == -EXDEV || n == -EINVAL || n == -ENOSYS || n == -EOPNOTSUPP || n == -EBADF) {
        cfr = 0; /* in and out are where the kernel left them */
        continue;
      }
      if (n < 0) {
        rc = n;
        break;
      }
      if (n == 0) break;
      len -= n;
      continue;
    }
    if (!m) {
      m = sys6(SYS_mmap, 0, bs, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (m < 0 && m > -4096) {
        rc = m;
        m = 0;
        break;
      }
    }
    n = sys4(SYS_pread64, s, m, want < bs ? want : bs, in);
    if (n == -EINTR) continue;
    if (n < 0) {
      rc = n;
      break;
    }
    if (n == 0) break;
    for (long w = 0; w < n;) {
      long k = sys4(SYS_pwrite64, d, m + w, n - w, out + w);
      if (k == -EINTR) continue;
      if (k <= 0) {
        rc = k < 0 ? k : -EIO;
        goto done;
      }
      w += k;
    }
    in += n;
    out += n;
    len -= n;
  }
done:
  if (m) sys2(SYS_munmap, m, bs);
  return rc;
}

/* Copies s from offset `from` to the end into the empty file d: a reflink when it can, else only
 * the data segments (SEEK_DATA / SEEK_HOLE), d then extended to the length, so a sparse file's
 * holes stay holes and cost nothing to keep (a 10 GiB sparse file truncated to 0 keeps its few
 * blocks of data, not 10 GiB of zeros). A filesystem without SEEK_DATA: all of it. */
static long copy_fd(long s, long d, long long from) {
  if (from == 0 && sys3(SYS_ioctl, d, FICLONE, s) == 0) return 0;
  struct stat st;
  long rc = sys2(SYS_fstat, s, &st);
  if (rc < 0) return rc;
  long long end = st.st_size, pos = from;
  while (pos < end) {
    long long data = sys3(SYS_lseek, s, pos, SEEK_DATA), hole;
    if (data == -ENXIO) break; /* only a hole is left */
    if (data < 0) {
      data = pos;
      hole = end;
    } else {
      hole = sys3(SYS_lseek, s, data, SEEK_HOLE);
      if (hole < 0 || hole > end) hole = end;
    }
    if (data >= end) break;
    rc = copy_seg(s, d, data, data - from, hole - data);
    if (rc < 0) return rc;
    pos = hole;
  }
  return end > from ? sys2(SYS_ftruncate, d, end - from) : 0;
}

/* Copy the bytes of the object at (dirfd, path) (path NULL: open on fd dirfd), from offset
 * `from`, into staging/<base>. It must still be the regular file *pre describes.
 * Returns 1 kept (absolute staged path in dst), 0 already kept this command (EEXIST), -1 not
 * kept (a NOTE was added). */
/* The per-file capture cap: no copy is kept of a file with more bytes than this to copy (the
 * record says "not captured: larger than the cap"). SHIT_CAP (bytes) when set, else the file
 * <state>/cap that the CLI writes from the config's store.fileCap (src/store/cap.ts), else 1 GiB.
 * Read once per process, at its first copy. */
static long long copy_cap(void) {
  static long long cap = -1;
  if (cap >= 0) return cap;
  long long v = 1LL << 30;
  char buf[32];
  const char *e = getenv("SHIT_CAP"), *st = getenv("SHIT_STATE");
  if (!e && st && st[0] == '/') {
    char f[PATH_MAX];
    size_t n = 0;
    f[0] = 0;
    if (!apps(f, sizeof f, &n, st) && !apps(f, sizeof f, &n, "/cap")) {
      long fd = sys4(SYS_openat, sp_ofd(), sp_opath(f), O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
      if (fd >= 0) {
        long k = sys3(SYS_read, fd, buf, sizeof buf - 1);
        sys1(SYS_close, fd);
        if (k > 0) {
          buf[k] = 0;
          e = buf;
        }
      }
    }
  }
  if (e && *e >= '0' && *e <= '9') {
    long long x = 0;
    for (; *e >= '0' && *e <= '9' && x < (1LL << 60); e++) x = x * 10 + (*e - '0');
    v = x;
  }
  cap = v;
  return cap;
}

static int stage_copy(struct cap_op *o, int dirfd, const char *path, int nofollow, const struct sp_stat *pre,
                      long long from, const char *base, char *dst) {
  if (pre->size - from > copy_cap()) {
    add_note(o, "larger than the cap", 0);
    return -1;
  }
  if (staging_file(o, base, dst)) {
    add_note(o, "staging path too long", 0);
    return -1;
  }
  const char *why;
  long rc, s = -1, d;
  int again = 0;
retry:
  d = sys4(SYS_openat, sp_ofd(), sp_opath(dst), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (d == -ENOENT && ensure_staging(o) == 0)
    d = sys4(SYS_openat, sp_ofd(), sp_opath(dst), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (d == -EEXIST) return 0;
  if (d < 0) {
    why = "cannot create the pre-image in staging";
    rc = d;
    goto fail;
  }
  char proc[40];
  const char *sp = path;
  int sdir = dirfd;
  if (!path) {
    memcpy(proc, "/proc/self/fd/", 14);
    u64dec(proc + 14, (unsigned long long)(unsigned)dirfd);
    sp = sp_opath(proc); /* /proc is the real root's after a chroot */
    sdir = sp_ofd();
    nofollow = 0;
  }
  int fl = O_RDONLY | O_NONBLOCK | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0);
  s = sys4(SYS_openat, sdir, sp, fl | O_NOATIME, 0);
  if (s == -EPERM) s = sys4(SYS_openat, sdir, sp, fl, 0);
  struct sp_stat cur;
  if (s < 0) {
    why = "cannot read the file to keep its bytes";
    rc = s;
    goto fail;
  }
  if (sp_statat((int)s, "", AT_EMPTY_PATH, &cur) < 0 || !S_ISREG(cur.mode) || cur.dev != pre->dev ||
      cur.ino != pre->ino) {
    why = "the file changed while its pre-image was being kept";
    rc = 0;
    goto fail;
  }
  rc = copy_fd(s, d, from);
  if (rc < 0) {
    why = "copying the pre-image failed";
    goto fail;
  }
  sclose(s);
  s = -1;
  rc = sys1(SYS_close, d);
  d = -1;
  if (rc < 0 && rc != -EINTR) {
    why = "writing the pre-image failed";
    goto fail;
  }
  return 1;
fail:
  sclose(s);
  s = -1;
  sclose(d);
  sys3(SYS_unlinkat, sp_ofd(), sp_opath(dst), 0);
  /* the disk is full: once more with room the reserve gives back, as much as the copy takes */
  if (no_room(rc) && !again++ && reserve_give(&o->ctx, pre->size - from + RESERVE_BLOCK, 0)) goto retry;
  add_note(o, why, rc);
  return -1;
}

/* Copy keep with the usual bookkeeping: KEEP 'how' / 'E', undo_keep. A fresh copy's record is
 * written now, before the call (prewrite; o->path is its PATH): the caller adds nothing after.
 * Returns 1 when something is (or was already) kept. */
static int keep_copy(struct cap_op *o, int tag, char how, int dirfd, const char *path, int nofollow,
                     const struct sp_stat *pre, long long from, const char *base) {
  char dst[PATH_MAX];
  int r = stage_copy(o, dirfd, path, nofollow, pre, from, base, dst);
  if (r == 1) {
    add_keep(o, tag, how, base);
    memcpy(o->undo_keep, dst, strlen(dst) + 1);
    if (prewrite(o)) { /* no copy without its record: the call goes ahead uncaptured */
      sys3(SYS_unlinkat, sp_ofd(), sp_opath(dst), 0);
      o->undo_keep[0] = 0;
      return 0;
    }
  } else if (r == 0) {
    add_keep(o, tag, 'E', base);
  }
  return r >= 0;
}

/* The staging directory's device, for the unlink's same-filesystem test, looked up once per
 * command rather than a stat per unlink. Keyed by the command's spool hash (ctx_hash); the key
 * is cleared while the device is written, so a thread reading it sees the pair or a miss. */
static uint64_t staging_key, staging_dev;

static int staging_dev_cached(const struct cap_op *o, uint64_t *dev) {
  uint64_t h = ctx_hash(&o->ctx);
  if (__atomic_load_n(&staging_key, __ATOMIC_ACQUIRE) != h) return 0;
  *dev = __atomic_load_n(&staging_dev, __ATOMIC_RELAXED);
  __atomic_thread_fence(__ATOMIC_ACQUIRE);
  return __atomic_load_n(&staging_key, __ATOMIC_RELAXED) == h;
}

static void staging_dev_keep(const struct cap_op *o, uint64_t dev) {
  __atomic_store_n(&staging_key, 0, __ATOMIC_RELAXED);
  __atomic_thread_fence(__ATOMIC_RELEASE);
  __atomic_store_n(&staging_dev, dev, __ATOMIC_RELAXED);
  __atomic_store_n(&staging_key, ctx_hash(&o->ctx), __ATOMIC_RELEASE);
}

/* The rename in place of the unlink failed with e: will the unlink fail the same way? */
static int unlink_fails_too(long e) {
  return e == -EACCES || e == -EPERM || e == -EROFS || e == -ENOENT || e == -ENOTDIR || e == -ELOOP ||
         e == -ENAMETOOLONG || e == -EBUSY || e == -EISDIR || e == -EFAULT;
}

/* ---------- the cap_* "before" functions ---------- */

/* PATH, PRE, PARENT (its stat in *parent; 0 when it has one) and a symlink's TARGET. */
static int unlink_fields(struct cap_op *o, int dirfd, const char *path, const struct sp_stat *pre,
                         struct sp_stat *parent) {
  sp_add_str(&o->rec, T_PATH, o->path);
  sp_add_stat(&o->rec, T_PRE, pre);
  int have =
      cap_parent_known ? (*parent = *cap_parent_known, 1) : stat_parent_of(o, dirfd, path, parent) == 0;
  if (have) sp_add_stat(&o->rec, T_PARENT, parent);
  if (S_ISLNK(pre->mode)) add_target(o, T_TARGET, dirfd, path);
  return have;
}

int cap_unlink(struct cap_op *o, int dirfd, const char *path, int at_flags) {
  int rmdir = (at_flags & AT_REMOVEDIR) != 0;
  if (!begin(o, rmdir ? SP_RMDIR : SP_UNLINK, (uint32_t)at_flags)) return 0;
  if ((at_flags & ~AT_REMOVEDIR) || !path) return skip(o);
  char abs[PATH_MAX];
  const char *why = "";
  struct sp_stat pre;
  int l = locate(o, dirfd, path, 0, abs, &pre, &why, NULL);
  if (l == LOC_SKIP || l == LOC_ABSENT) return skip(o);
  if (l == LOC_NOPATH) {
    /* named (long_path) but not undoable here; a file losing its last name is still kept, so
     * its bytes are not lost: the NOTCAPTURED carries PRE and KEEP */
    notcap(o, why, 0, NULL);
    if (rmdir || S_ISDIR(pre.mode) || pre.nlink != 1) return 1;
    char base[64], dst[PATH_MAX];
    keep_base(base, &pre, NULL, 0);
    if (staging_file(o, base, dst)) return 1;
    long r = sys5(SYS_renameat2, dirfd, path, sp_ofd(), sp_opath(dst), RENAME_NOREPLACE);
    if (r == -ENOENT && ensure_staging(o) == 0)
      r = sys5(SYS_renameat2, dirfd, path, sp_ofd(), sp_opath(dst), RENAME_NOREPLACE);
    if (r != 0) return 1;
    if (cap_on_performed) cap_on_performed(0);
    sp_add_stat(&o->rec, T_PRE, &pre);
    add_keep(o, T_KEEP, 'R', base);
    add_kept(o, dst);
    o->done = 1;
    o->ret = 0;
    o->err = 0;
    commit(o, 0);
    return 1;
  }
  if (rmdir) {
    if (!S_ISDIR(pre.mode)) return skip(o); /* fails with ENOTDIR */
  } else if (S_ISDIR(pre.mode)) {
    return skip(o); /* unlink of a directory fails (EISDIR) */
  }
  memcpy(o->path, abs, strlen(abs) + 1);
  struct sp_stat parent;
  int have_parent = unlink_fields(o, dirfd, path, &pre, &parent);
  if (rmdir) {
    prewrite(o); /* on record before the directory goes (or a NOTCAPTURED when it cannot be) */
    return 1;
  }
  char base[PATH_MAX];
  /* a file by its directory and name; by its inode when the name is not plain or already taken
   * there, and anything else (a symlink is put back from its target, not moved: see apply.c) */
  int by_dir = pre.nlink == 1 && S_ISREG(pre.mode) && have_parent &&
               keep_base_in_dir(base, sizeof base, &parent, path);
  if (!by_dir) keep_base(base, &pre, NULL, 0);
  if (pre.nlink == 1) {
    char dst[PATH_MAX];
    struct sp_stat sst;
  again:
    if (staging_file(o, base, dst)) return notcap(o, "staging path too long", 0, abs);
    int cached = staging_dev_cached(o, &sst.dev);
    long r = 0;
    if (!cached) {
      r = sp_statat(sp_ofd(), sp_opath(o->ctx.staging), 0, &sst);
      if (r == -ENOENT && ensure_staging(o) == 0) r = sp_statat(sp_ofd(), sp_opath(o->ctx.staging), 0, &sst);
      if (r == 0) staging_dev_keep(o, sst.dev);
    }
    if (r == 0 && sst.dev != pre.dev) r = -EXDEV;
    if (r == 0) {
      /* the record first, then the rename: no staged file without its record */
      add_keep(o, T_KEEP, 'R', base);
      if (cap_on_staging) cap_on_staging(abs, dst);
      if (cap_stage_later && by_dir) o->internal |= CAPF_NOFLUSH;
      if (prewrite(o)) return 1;        /* cannot record it: the unlink goes ahead uncaptured */
      if (o->internal & CAPF_NOFLUSH) { /* its directory goes into staging whole (shit-apply) */
        o->staged_later = 1;
        return 1;
      }
      r = sys5(SYS_renameat2, dirfd, path, sp_ofd(), sp_opath(dst), RENAME_NOREPLACE);
      /* its staging dir is made at its first file (or staging went since it was looked at) */
      if (r == -ENOENT && (by_dir || cached) && cap_make_dir_of(dst, by_dir ? 2 : 1) == 0)
        r = sys5(SYS_renameat2, dirfd, path, sp_ofd(), sp_opath(dst), RENAME_NOREPLACE);
      if (r == 0) {
        if (cap_on_performed) cap_on_performed(0);
        write_staged(o, 'R', base, dst);
        o->done = 1;
        o->ret = 0;
        o->err = 0;
        return 1;
      }
      write_void(o, r);
      begin(o, SP_UNLINK, (uint32_t)at_flags); /* the fallback's own record, written after the call */
      memcpy(o->path, abs, strlen(abs) + 1);
      unlink_fields(o, dirfd, path, &pre, &parent);
      if (r == -EEXIST && by_dir) { /* a file of that name was kept from this directory before */
        by_dir = 0;
        keep_base(base, &pre, NULL, 0);
        goto again;
      }
    }
    if (r == -EEXIST) {
      add_keep(o, T_KEEP, 'E', base);
      return 1;
    }
    if (unlink_fails_too(r)) {
      add_note(o, "cannot move the file into staging", r);
      return 1;
    }
    /* EXDEV (staging on another filesystem), EINVAL (no RENAME_NOREPLACE here), ...: copy */
    if (!S_ISREG(pre.mode)) {
      add_note(o, "cannot move the object into staging", r);
      return 1;
    }
  } else if (!S_ISREG(pre.mode)) {
    return 1; /* a symlink/fifo/device with other names: TARGET/PRE say all there is */
  }
  if (by_dir) keep_base(base, &pre, NULL, 0); /* a copy is kept by its inode */
  keep_copy(o, T_KEEP, 'C', dirfd, path, 1, &pre, 0, base);
  return 1;
}

int cap_rename(struct cap_op *o, int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
               unsigned flags) {
  if (!begin(o, SP_RENAME, flags)) return 0;
  if ((flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT)) || !oldpath || !newpath)
    return skip(o);
  char abs[PATH_MAX], abs2[PATH_MAX];
  const char *why = "";
  struct sp_stat pre, pre2;
  int l = locate(o, olddirfd, oldpath, 0, abs, &pre, &why, NULL);
  if (l == LOC_ABSENT) return skip(o);
  int l2;
  if (l == LOC_SKIP) {
    /* under the state directory (or the call fails): record only if the target is a user path */
    if (sp_statat(olddirfd, oldpath, AT_SYMLINK_NOFOLLOW, &pre) < 0) return skip(o);
    l2 = locate(o, newdirfd, newpath, 0, abs2, &pre2, &why, NULL);
    if (l2 == LOC_SKIP || l2 == LOC_NOPATH) return skip(o);
    if (abs_path(olddirfd, oldpath, abs, &why)) return skip(o);
  } else {
    if (l == LOC_NOPATH) return notcap(o, why, 0, NULL);
    l2 = locate(o, newdirfd, newpath, 0, abs2, &pre2, &why, NULL);
    if (l2 == LOC_NOPATH) return notcap(o, why, 0, abs);
    if (l2 == LOC_SKIP) {
      /* the target is under the state directory, or cannot be stat'ed (the call will fail) */
      long r = sp_statat(newdirfd, newpath, AT_SYMLINK_NOFOLLOW, &pre2);
      if (r < 0 && r != -ENOENT) return skip(o);
      if (abs_path(newdirfd, newpath, abs2, &why)) return notcap(o, why, 0, abs);
      l2 = r == 0 ? LOC_OK : LOC_ABSENT;
    }
  }
  int have2 = l2 == LOC_OK;
  sp_add_str(&o->rec, T_PATH, abs);
  sp_add_str(&o->rec, T_PATH2, abs2);
  sp_add_stat(&o->rec, T_PRE, &pre);
  if (have2) sp_add_stat(&o->rec, T_PRE2, &pre2);
  add_parent(o, T_PARENT, olddirfd, oldpath);
  add_parent(o, T_PARENT2, newdirfd, newpath);
  if (!have2) return 1;
  if (S_ISLNK(pre2.mode)) add_target(o, T_TARGET2, newdirfd, newpath);
  if (flags & (RENAME_NOREPLACE | RENAME_EXCHANGE)) return 1; /* nothing is destroyed */
  if (S_ISDIR(pre2.mode) || S_ISDIR(pre.mode)) return 1;      /* dir over empty dir, or fails */
  if (pre.dev == pre2.dev && pre.ino == pre2.ino) return 1;   /* same inode: rename does nothing */
  char base[64];
  keep_base(base, &pre2, NULL, 0);
  o->replaced = abs2;
  if (pre2.nlink == 1) {
    char dst[PATH_MAX];
    if (staging_file(o, base, dst)) {
      add_note(o, "staging path too long", 0);
      return 1;
    }
    long r = sys5(SYS_linkat, newdirfd, newpath, sp_ofd(), sp_opath(dst), 0);
    if (r == -ENOENT && ensure_staging(o) == 0)
      r = sys5(SYS_linkat, newdirfd, newpath, sp_ofd(), sp_opath(dst), 0);
    if (r == 0) {
      add_keep(o, T_KEEP2, 'L', base);
      memcpy(o->undo_keep, dst, strlen(dst) + 1);
      memcpy(o->path, abs, strlen(abs) + 1);
      o->internal |= CAPF_LINKED;
      if (prewrite(o)) { /* cannot record it: no staged link either; the rename goes ahead uncaptured */
        sys3(SYS_unlinkat, sp_ofd(), sp_opath(dst), 0);
        o->undo_keep[0] = 0;
      }
      return 1;
    }
    if (r == -EEXIST) {
      add_keep(o, T_KEEP2, 'E', base);
      return 1;
    }
    if (!S_ISREG(pre2.mode)) {
      add_note(o, "cannot link the replaced object into staging", r);
      return 1;
    }
  } else if (!S_ISREG(pre2.mode)) {
    return 1;
  }
  memcpy(o->path, abs, strlen(abs) + 1);
  keep_copy(o, T_KEEP2, 'C', newdirfd, newpath, 1, &pre2, 0, base);
  return 1;
}

/* The end of a command typed in a hooked shell: the hook appends the command's journal record
 * (`>> <state>/spool/<session>-<n>.shell`, docs/SHELL.md) while the command's id is still
 * current, in the shell's own process. That append is the moment shit-run's end scan runs for
 * a `shit run`, so the shell runs the same scan here, in-process (the hook stays builtins-only):
 * POST records say what the command left at each path, and the planner takes a later change
 * for a conflict. A command that wrote nothing has no spool: one failed open. 1: it was that
 * append (a file in the state dir: not captured). */
static int shell_end(struct cap_op *o, const char *path, int oflags) {
  if (!(oflags & O_APPEND) || path[0] != '/') return 0;
  size_t pl = strlen(path);
  if (pl < 7 || memcmp(path + pl - 6, ".shell", 6) || !is_hooked_shell()) return 0;
  char abs[PATH_MAX];
  size_t n = 1;
  abs[0] = '/';
  abs[1] = 0;
  if (push_path(abs, sizeof abs, &n, path)) return 0;
  size_t dl = strlen(o->ctx.spool) - strlen(o->ctx.cmd) - 6; /* "<state>/spool/" */
  if (n <= dl || memcmp(abs, o->ctx.spool, dl) || memchr(abs + dl, '/', n - dl)) return 0;
  end_scan(o->ctx.spool);
  /* the shell writes the journal record itself, after this open: on a full disk, room for it (a
   * command without one has no line, and `shit undo` in this shell would pass over it) */
  if (!reserve_give(&o->ctx, JOURNAL_ROOM, 1)) cap_reserve_fill(o->ctx.staging, (size_t)statelen(&o->ctx));
  return 1;
}

int cap_open(struct cap_op *o, int dirfd, const char *path, int oflags) {
  int acc = oflags & O_ACCMODE;
  int mutates = acc != O_RDONLY || (oflags & (O_CREAT | O_TRUNC));
  if (!mutates || (oflags & O_PATH) || (oflags & O_TMPFILE) == O_TMPFILE || !path) {
    begin(o, SP_OPEN, (uint32_t)oflags);
    return skip(o);
  }
  if (!begin(o, SP_OPEN, (uint32_t)oflags)) return 0;
  if (shell_end(o, path, oflags)) return skip(o);
  char abs[PATH_MAX];
  const char *why = "";
  struct sp_stat pre;
  if ((oflags & O_CREAT) && (oflags & O_EXCL) && abs_path(dirfd, path, abs, &why) == 0) {
    /* anything at the path (a dangling symlink too) fails it with EEXIST, destroying nothing:
     * what it names and its parent as it is before, and the call says whether it created
     * (cap_end_post drops the record of a failed one) — no stat of the name first (tar xf
     * over a tree: one per file, on the open that fails and on the one that creates) */
    if (in_state(o, abs)) return skip(o);
    o->internal |= CAPF_CREATED;
    sp_add_str(&o->rec, T_PATH, abs);
    add_parent(o, T_PARENT, dirfd, path);
    return 1;
  }
  int via = 0;
  int follow = !(oflags & O_NOFOLLOW) && !((oflags & O_CREAT) && (oflags & O_EXCL));
  int l = locate(o, dirfd, path, follow, abs, &pre, &why, &via);
  if (l == LOC_SKIP) return skip(o);
  if (l == LOC_NOPATH) return notcap(o, why, 0, NULL);
  if (l == LOC_ABSENT) {
    if (!(oflags & O_CREAT)) return skip(o); /* fails with ENOENT */
    o->internal |= CAPF_CREATED;
    sp_add_str(&o->rec, T_PATH, abs);
    if (via) {
      char par[PATH_MAX];
      size_t n = strlen(abs);
      memcpy(par, abs, n + 1);
      while (n > 1 && par[n - 1] != '/') n--;
      par[n > 1 ? n - 1 : 1] = 0;
      struct sp_stat ps;
      if (sp_statat(sp_ofd(), sp_opath(par), 0, &ps) == 0) sp_add_stat(&o->rec, T_PARENT, &ps);
    } else {
      add_parent(o, T_PARENT, dirfd, path);
    }
    return 1;
  }
  /* it exists */
  if ((oflags & O_CREAT) && (oflags & O_EXCL)) return skip(o); /* fails with EEXIST */
  if (!S_ISREG(pre.mode)) return skip(o); /* /dev/null, ttys, fifos, directories: nothing to keep */
  if (acc == O_RDONLY && !(oflags & O_TRUNC)) return skip(o); /* O_RDONLY|O_CREAT of an existing file */
  sp_add_str(&o->rec, T_PATH, abs);
  sp_add_stat(&o->rec, T_PRE, &pre);
  if ((oflags & O_TRUNC) || (acc != O_RDONLY && !(oflags & O_APPEND))) {
    char base[64];
    keep_base(base, &pre, NULL, 0);
    memcpy(o->path, abs, strlen(abs) + 1);
    keep_copy(o, T_KEEP, 'C', dirfd, path, !follow, &pre, 0, base);
  }
  return 1;
}

int cap_open_new_in(struct cap_op *o, int dirfd, const char *name, int oflags, const struct sp_stat *parent) {
  if (!begin(o, SP_OPEN, (uint32_t)oflags)) return 0;
  char abs[PATH_MAX];
  const char *why = "";
  if (abs_path(dirfd, name, abs, &why)) return skip(o); /* as locate for an absent name with no path */
  if (in_state(o, abs)) return skip(o);
  o->internal |= CAPF_CREATED;
  sp_add_str(&o->rec, T_PATH, abs);
  if (parent) sp_add_stat(&o->rec, T_PARENT, parent);
  else add_parent(o, T_PARENT, dirfd, name);
  return 1;
}

int cap_open_new(struct cap_op *o, int dirfd, const char *name, int oflags) {
  return cap_open_new_in(o, dirfd, name, oflags, NULL);
}

/* Objects for the f*-or-path calls: path NULL (or "" with AT_EMPTY_PATH) means the fd. */
static int locate_obj(struct cap_op *o, int dirfd, const char *path, int fd, int at_flags, char *abs,
                      struct sp_stat *pre, const char **why) {
  if (!path) return locate(o, fd, NULL, 0, abs, pre, why, NULL);
  if (!path[0] && (at_flags & AT_EMPTY_PATH)) return locate(o, dirfd, NULL, 0, abs, pre, why, NULL);
  return locate(o, dirfd, path, !(at_flags & AT_SYMLINK_NOFOLLOW), abs, pre, why, NULL);
}

/* Common start for ops that only need PATH + PRE: metadata and bytes of one inode, never a
 * name, so an inode created here (see above) needs no record. 1: go on; 0: skip / notcap
 * already set. */
static int meta_begin(struct cap_op *o, int dirfd, const char *path, int fd, int at_flags,
                      struct sp_stat *pre) {
  char abs[PATH_MAX];
  const char *why = "";
  o->internal |= CAPF_SKIPNEW;
  int l = locate_obj(o, dirfd, path, fd, at_flags, abs, pre, &why);
  o->internal &= ~(unsigned)CAPF_SKIPNEW;
  if (l == LOC_SKIP || l == LOC_ABSENT) {
    skip(o);
    return 0;
  }
  if (l == LOC_NOPATH) {
    notcap(o, why, 0, NULL);
    return 0;
  }
  sp_add_str(&o->rec, T_PATH, abs);
  sp_add_stat(&o->rec, T_PRE, pre);
  memcpy(o->path, abs, strlen(abs) + 1); /* for a VOID, should a kept tail's record go first */
  return 1;
}

int cap_truncate(struct cap_op *o, int dirfd, const char *path, int fd, long long length) {
  if (!begin(o, SP_TRUNCATE, 0)) return 0;
  if (length < 0) return skip(o);
  struct sp_stat pre;
  if (!meta_begin(o, dirfd, path, fd, 0, &pre)) return o->on;
  if (!S_ISREG(pre.mode)) return skip(o);
  sp_add_i64(&o->rec, T_ARG, length);
  if (length >= pre.size) return 1;
  char full[64], base[96], dst[PATH_MAX];
  struct sp_stat ks;
  keep_base(full, &pre, NULL, 0);
  if (staging_file(o, full, dst) == 0 && sp_statat(sp_ofd(), sp_opath(dst), AT_SYMLINK_NOFOLLOW, &ks) == 0) {
    add_keep(o, T_KEEP, 'E', full);
    return 1;
  }
  keep_base(base, &pre, ".tail", length);
  if (path) keep_copy(o, T_KEEP, 'T', dirfd, path, 0, &pre, length, base);
  else keep_copy(o, T_KEEP, 'T', fd, NULL, 0, &pre, length, base);
  return 1;
}

static int create_begin(struct cap_op *o, int dirfd, const char *path) {
  char abs[PATH_MAX];
  const char *why = "";
  struct sp_stat st;
  if (!path) return skip(o);
  int l = locate(o, dirfd, path, 0, abs, &st, &why, NULL);
  if (l == LOC_SKIP || l == LOC_OK) return skip(o); /* exists: the call fails with EEXIST */
  if (l == LOC_NOPATH) return notcap(o, why, 0, NULL);
  sp_add_str(&o->rec, T_PATH, abs);
  add_parent(o, T_PARENT, dirfd, path);
  return 1;
}

int cap_mkdir(struct cap_op *o, int dirfd, const char *path, mode_t mode) {
  if (!begin(o, SP_MKDIR, (uint32_t)mode)) return 0;
  return create_begin(o, dirfd, path);
}

int cap_mknod(struct cap_op *o, int dirfd, const char *path, mode_t mode, dev_t dev) {
  if (!begin(o, SP_MKNOD, (uint32_t)mode)) return 0;
  if (!create_begin(o, dirfd, path)) return 0;
  if (!(o->internal & CAPF_NOTCAP)) sp_add_i64(&o->rec, T_ARG, (int64_t)dev);
  return 1;
}

int cap_symlink(struct cap_op *o, const char *target, int dirfd, const char *path) {
  if (!begin(o, SP_SYMLINK, 0)) return 0;
  if (!target) return skip(o);
  if (!create_begin(o, dirfd, path)) return 0;
  if (!(o->internal & CAPF_NOTCAP)) sp_add_str(&o->rec, T_TARGET, target);
  return 1;
}

int cap_link(struct cap_op *o, int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
             int at_flags) {
  if (!begin(o, SP_LINK, (uint32_t)at_flags)) return 0;
  if (!oldpath || !newpath) return skip(o);
  char abs[PATH_MAX], abs2[PATH_MAX];
  const char *why = "";
  struct sp_stat pre, st2;
  int l2 = locate(o, newdirfd, newpath, 0, abs2, &st2, &why, NULL);
  if (l2 == LOC_SKIP || l2 == LOC_OK) return skip(o);
  if (l2 == LOC_NOPATH) return notcap(o, why, 0, NULL);
  int l;
  if (!oldpath[0] && (at_flags & AT_EMPTY_PATH)) {
    /* linkat(fd, "", ..., AT_EMPTY_PATH): e.g. an O_TMPFILE file getting its name */
    if (sp_statat(olddirfd, "", AT_EMPTY_PATH, &pre) < 0) return skip(o);
    int r = fd_path(olddirfd, abs);
    if (r == -1) return skip(o);
    if (r == -3) abs[0] = 0;
    l = LOC_OK;
  } else {
    l = locate(o, olddirfd, oldpath, (at_flags & AT_SYMLINK_FOLLOW) != 0, abs, &pre, &why, NULL);
    if (l == LOC_ABSENT) return skip(o);
    if (l == LOC_NOPATH) abs[0] = 0;
    if (l == LOC_SKIP) { /* in the state dir (or fails): the new name still matters */
      if (sp_statat(olddirfd, oldpath, (at_flags & AT_SYMLINK_FOLLOW) ? 0 : AT_SYMLINK_NOFOLLOW, &pre) < 0)
        return skip(o);
      if (abs_path(olddirfd, oldpath, abs, &why)) abs[0] = 0;
    }
  }
  if (abs[0]) sp_add_str(&o->rec, T_PATH, abs);
  sp_add_str(&o->rec, T_PATH2, abs2);
  sp_add_stat(&o->rec, T_PRE, &pre);
  add_parent(o, T_PARENT2, newdirfd, newpath);
  return 1;
}

int cap_chmod(struct cap_op *o, int dirfd, const char *path, int fd, mode_t mode, int at_flags) {
  if (!begin(o, SP_CHMOD, (uint32_t)mode)) return 0;
  struct sp_stat pre;
  meta_begin(o, dirfd, path, fd, at_flags, &pre);
  return o->on;
}

int cap_chown(struct cap_op *o, int dirfd, const char *path, int fd, uid_t uid, gid_t gid, int at_flags) {
  if (!begin(o, SP_CHOWN, 0)) return 0;
  struct sp_stat pre;
  meta_begin(o, dirfd, path, fd, at_flags, &pre);
  return o->on;
}

int cap_utimes(struct cap_op *o, int dirfd, const char *path, int fd, int at_flags) {
  if (!begin(o, SP_UTIMES, 0)) return 0;
  struct sp_stat pre;
  meta_begin(o, dirfd, path, fd, at_flags, &pre);
  return o->on;
}

int cap_xattr(struct cap_op *o, int op, const char *path, int fd, const char *name, int follow) {
  if (!begin(o, op, 0)) return 0;
  if (!name) return skip(o);
  struct sp_stat pre;
  if (!meta_begin(o, AT_FDCWD, path, fd, follow ? 0 : AT_SYMLINK_NOFOLLOW, &pre)) return o->on;
  sp_add_str(&o->rec, T_XNAME, name);
  char buf[4096];
  long nr = path ? SYS_getxattr : SYS_fgetxattr;
  if (path && !follow) nr = SYS_lgetxattr;
  long a0 = path ? (long)path : (long)fd;
  long n = sys4(nr, a0, name, buf, sizeof buf);
  if (n == -ERANGE) {
    long sz = sys4(nr, a0, name, 0, 0);
    if (sz > 0) {
      long m = sys6(SYS_mmap, 0, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (m < 0 && m > -4096) {
        add_note(o, "cannot read the old xattr value", m);
        return 1;
      }
      n = sys4(nr, a0, name, m, sz);
      if (n >= 0) sp_add(&o->rec, T_XVALUE, (void *)m, (size_t)n);
      else add_note(o, "cannot read the old xattr value", n);
      sys2(SYS_munmap, m, sz);
      return 1;
    }
    n = sz;
  }
  if (n >= 0) sp_add(&o->rec, T_XVALUE, buf, (size_t)n);
  else if (n != -ENODATA) add_note(o, "cannot read the old xattr value", n);
  return 1;
}

int cap_tmpl_begin(struct cap_op *o, int op, const char *tmpl, unsigned flags) {
  if (!begin(o, op, flags)) return 0;
  if (!tmpl) return skip(o);
  o->internal |= CAPF_CREATED;
  add_parent(o, T_PARENT, AT_FDCWD, tmpl);
  return 1;
}

void cap_tmpl_path(struct cap_op *o, const char *path) {
  if (!o->on || o->done) return;
  char abs[PATH_MAX];
  const char *why = "";
  if (abs_path(AT_FDCWD, path, abs, &why)) {
    notcap(o, why, 0, NULL);
    return;
  }
  if (in_state(o, abs)) {
    skip(o);
    return;
  }
  sp_add_str(&o->rec, T_PATH, abs);
}

/* ---------- after the call ---------- */

void cap_end_post(struct cap_op *o, long ret, int err, const struct sp_stat *post) {
  (void)ret;
  if (!o->on || o->done) return;
  o->on = 0;
  if (o->internal & CAPF_PRE) { /* on record already: only a failure needs saying */
    if (err) {
      if (o->undo_keep[0]) sys3(SYS_unlinkat, sp_ofd(), sp_opath(o->undo_keep), 0);
      o->undo_keep[0] = 0;
      write_void(o, err);
    } else if ((o->internal & CAPF_LINKED) && o->undo_keep[0]) {
      /* the replaced inode, linked into staging before the rename dropped its name: as kept now */
      const char *slash = strrchr(o->undo_keep, '/');
      write_staged(o, 'L', slash ? slash + 1 : o->undo_keep, o->undo_keep);
    }
    return;
  }
  if (err) {
    if (!o->undo_keep[0]) {
      sp_release(&o->rec);
      return;
    }
    /* the pre-image was kept for nothing: take it back; the record says so (gc) */
    sys3(SYS_unlinkat, sp_ofd(), sp_opath(o->undo_keep), 0);
    o->undo_keep[0] = 0;
  } else if (o->op == SP_OPEN && (o->internal & CAPF_CREATED) && !(o->internal & CAPF_NOTCAP) && post) {
    sp_add_stat(&o->rec, T_POST, post);
    /* only once the creation is on record may its inode's metadata changes go unrecorded */
    if (commit(o, 0) == 0) new_add(o, post);
    return;
  }
  commit(o, err);
}

void cap_end(struct cap_op *o, long ret, int err, int newfd) {
  struct sp_stat post;
  int created = o->on && !o->done && !err && o->op == SP_OPEN && (o->internal & CAPF_CREATED) &&
                !(o->internal & CAPF_NOTCAP) && newfd >= 0;
  cap_end_post(o, ret, err, created && sp_statat(newfd, "", AT_EMPTY_PATH, &post) == 0 ? &post : NULL);
}

int cap_note(const char *why, const char *path, int op) {
  struct cap_op *o, ob;
  o = &ob;
  if (!begin(o, SP_NOTCAPTURED, (uint32_t)op)) return 0;
  sp_add_str(&o->rec, T_NOTE, why ? why : "not captured");
  if (path) sp_add_str(&o->rec, T_PATH, path);
  if (cap_on_record) cap_on_record();
  sp_seal(&o->rec, 0);
  int rc = append_record(&o->ctx, o->rec.p, o->rec.n);
  sp_release(&o->rec);
  return rc;
}

/* cap_note naming (dirfd, path) by its absolute path, as the call would resolve it (path NULL:
 * the file dirfd is open on); unnamed when that cannot be made (the note still says why). */
int cap_note_at(const char *why, int dirfd, const char *path, int op) {
  char abs[PATH_MAX];
  const char *w = NULL;
  int named = (path || dirfd >= 0) && abs_path(dirfd, path, abs, &w) == 0;
  return cap_note(why, named ? abs : NULL, op);
}

/* ---------- chroot ---------- */

void cap_chroot_before(struct cap_chroot *c, const char *path) {
  c->known = 0;
  c->real[0] = 0;
  if (held_root < 0) {
    long fd = sys4(SYS_openat, AT_FDCWD, "/", O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
    /* out of the way of programs that expect their low descriptor numbers free */
    long h = fd >= 0 ? sys3(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 512) : -1;
    if (h >= 0) {
      sclose(fd);
      fd = h;
    }
    struct sp_stat st;
    held_root = fd >= 0 && sp_statat((int)fd, "", AT_EMPTY_PATH, &st) == 0 ? (int)fd : -1;
    if (held_root >= 0) {
      held_dev = st.dev;
      held_ino = st.ino;
    } else {
      sclose(fd);
    }
  }
  if (!path) return;
  long d = sys4(SYS_openat, AT_FDCWD, path, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
  if (d < 0) return; /* the chroot fails too */
  c->known = held_root >= 0 && fd_path((int)d, c->real) == 0;
  sclose(d);
  if (!c->known) { /* said now, while the spool can still be reached */
    char abs[PATH_MAX];
    const char *why = "";
    cap_note(
        "not captured: after chroot: changes inside the new root are not recorded (its real path is unknown)",
        abs_path(AT_FDCWD, path, abs, &why) == 0 ? abs : NULL, 0);
  }
}

void cap_chroot_after(const struct cap_chroot *c, int ok) {
  if (!ok) return;
  if (!c->known) {
    chroot_off = 1;
    return;
  }
  size_t n = strlen(c->real);
  if (n == 1) { /* back to the real root */
    cap_root[0] = 0;
    cap_root_len = 0;
    sp_root_fd = -1;
    return;
  }
  memcpy(cap_root, c->real, n + 1);
  cap_root_len = n;
  sp_root_fd = held_root;
}

int cap_chrooted(void) { return chroot_off || cap_root_len != 0; }

int cap_real_root(void) { return !chroot_off && cap_root_len && root_still_held() ? held_root : -1; }

int cap_real_path(const char *path, char *out) {
  const char *why = "";
  return abs_path(AT_FDCWD, path, out, &why);
}
