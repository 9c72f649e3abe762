/* supervise.c — the seccomp tier: capture for a statically linked program (no loader, so no
 * LD_PRELOAD shim) that `shit run` starts. docs/DESIGN.md "seccomp tier" is the user's view.
 *
 * The child sets no_new_privs and a seccomp filter (sv_install) that sends the mutating system
 * calls (the shim's set: unlink*, rmdir, rename*, open* with a write flag, O_CREAT or O_TRUNC,
 * creat, truncate, mkdir*, mknod*, link*, symlink*, chmod*, chown*, utime*, *xattr), execve* and
 * io_uring_setup to a listener (SECCOMP_RET_USER_NOTIF) held by shit-run; everything else runs at
 * full speed.
 * For each call shit-run (sv_serve):
 *  - reads the path arguments from /proc/TID/mem, then checks SECCOMP_IOCTL_NOTIF_ID_VALID, so
 *    what was read belongs to a call that is still waiting (the pid was not reused);
 *  - opens the caller's directory (/proc/TID/cwd, /proc/TID/fd/N; /proc/TID/root for an
 *    absolute path of a chroot'd caller) and, for f* calls, takes a duplicate of the caller's
 *    descriptor (pidfd_getfd), so the capture routine (common/capture.c, the shim's own) acts on
 *    exactly the objects the caller names, with its usual pre-images, staging and records (the
 *    records carry the caller's pid: sp_record_pid);
 *  - performs the call itself on those objects and returns its result (an open's descriptor is
 *    installed in the caller with SECCOMP_IOCTL_NOTIF_ADDFD + SEND), so what is recorded is
 *    what happened: the caller's memory is not read again by the kernel after capture looked.
 *    utime*, *xattr and linkat(AT_EMPTY_PATH) are recorded and then let through (CONTINUE).
 *  - io_uring_setup is named "not captured: io_uring" and let through: the requests submitted
 *    through a ring are performed by the kernel without the system calls this filter sees (an
 *    io_uring_enter carries no paths to read). A ring is made O_CLOEXEC and its mapping ends at
 *    exec, so a supervised program uses only rings it set up itself, under the filter; a ring
 *    descriptor handed over across exec with close-on-exec cleared is the one way past it.
 * Calls capture leaves alone (a path under the state dir, a fifo, a call that will fail) go on
 * unchanged (CONTINUE). A process that has libshit.so mapped (a dynamic program started by the
 * static one, carrying LD_PRELOAD) is the shim's: its calls go on unseen, never captured twice.
 *
 * Fail open: the listener lives in shit-run, the caller's parent, which ignores or forwards
 * every catchable signal; a call it cannot read, resolve or capture goes on uncaptured (a
 * NOTCAPTURED says so). If shit-run is killed (SIGKILL), the kernel fails the supervised calls
 * with ENOSYS from then on: docs/DESIGN.md says so. When the child exits while processes it
 * started still use the filter (a background job), a detached process keeps serving them.
 *
 * No allocations; one request at a time (the calls of a multi-threaded program queue). */
#define _GNU_SOURCE
#include "supervise.h"
#include "../common/capture.h"
#include "../common/execcheck.h"
#include "../common/killrec.h"
#include "../common/spool.h"
#include "../common/sys.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#define SV_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SV_ARCH AUDIT_ARCH_AARCH64
#else
#error "supervise.c: add this architecture's AUDIT_ARCH"
#endif
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
#ifndef SYS_creat
#define SYS_creat (-1) /* architectures with openat only */
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL /* 6.9 */
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS /* 6.6 */
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif
#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif

/* ---------- the filter ---------- */

/* always sent to the supervisor (opens are sent only with a mutating flag, in the filter) */
static const int sv_calls[] = {
#ifdef SYS_unlink
    SYS_unlink,       SYS_rmdir,        SYS_rename,   SYS_mkdir,     SYS_mknod,     SYS_symlink,
    SYS_link,         SYS_chmod,        SYS_chown,    SYS_lchown,    SYS_creat,     SYS_utime,
    SYS_utimes,       SYS_futimesat,
#endif
    SYS_unlinkat,     SYS_renameat2,    SYS_mkdirat,  SYS_mknodat,   SYS_symlinkat, SYS_linkat,
    SYS_fchmodat,     SYS_fchmodat2,    SYS_fchmod,   SYS_fchownat,  SYS_fchown,    SYS_truncate,
    SYS_ftruncate,    SYS_utimensat,    SYS_setxattr, SYS_lsetxattr, SYS_fsetxattr, SYS_removexattr,
    SYS_lremovexattr, SYS_fremovexattr, SYS_openat2,  SYS_execve,    SYS_execveat,  SYS_chroot,
    SYS_chdir,        SYS_fchdir,
#ifdef SYS_renameat
    SYS_renameat,
#endif
};
/* sent too, with a signal that may end a process (kr_may_end: TERM, KILL, USR1, a real-time one
 * …; tested in the filter, so Go's SIGURG preemption, kill -0 and SIGCHLD run at full speed):
 * what it is about to end is recorded (common/killrec.c), then the call goes on. The signal is
 * argument 1, or 2 for these two. */
static const int sv_signal_calls[] = {SYS_kill, SYS_tkill, SYS_rt_sigqueueinfo, SYS_pidfd_send_signal};
static const int sv_signal_calls2[] = {SYS_tgkill, SYS_rt_tgsigqueueinfo};
#define NCALLS (sizeof sv_calls / sizeof sv_calls[0])
#define NSIGCALLS \
  (sizeof sv_signal_calls / sizeof sv_signal_calls[0] + sizeof sv_signal_calls2 / sizeof sv_signal_calls2[0])
#define OPEN_MUTATING (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i)) /* the low word (little-endian) */

int sv_install(void) {
  struct sock_filter f[NCALLS + NSIGCALLS + 32];
  enum { L_NONE, L_ALLOW, L_NOTIFY, L_CHK1, L_CHK2, L_SIG1, L_SIG2, L_SIGBIT, L_SIGRT, L_N };
  unsigned char jt[NCALLS + NSIGCALLS + 32], jf[NCALLS + NSIGCALLS + 32];
  int n = 0, at[L_N] = {0};
  uint32_t fatal = 0; /* the signals below 32 that may end a process, as a mask */
  for (int s = 1; s < 32; s++)
    if (kr_may_end(s)) fatal |= 1u << s;
#define EMIT(code, k, t, e) (jt[n] = (t), jf[n] = (e), f[n++] = (struct sock_filter)BPF_STMT((code), (k)))
  EMIT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch), L_NONE, L_NONE);
  EMIT(BPF_JMP | BPF_JEQ | BPF_K, SV_ARCH, L_NONE, L_ALLOW);
  EMIT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr), L_NONE, L_NONE);
#ifdef __x86_64__
  EMIT(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, L_ALLOW, L_NONE); /* x32 calls: not ours */
#endif
  for (size_t i = 0; i < NCALLS; i++)
    EMIT(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)sv_calls[i], L_NOTIFY, L_NONE);
  /* named "not captured" (handle), then let through: what goes through a ring is not seen */
  EMIT(BPF_JMP | BPF_JEQ | BPF_K, SYS_io_uring_setup, L_NOTIFY, L_NONE);
  for (size_t i = 0; i < sizeof sv_signal_calls / sizeof sv_signal_calls[0]; i++)
    EMIT(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)sv_signal_calls[i], L_SIG1, L_NONE);
  for (size_t i = 0; i < sizeof sv_signal_calls2 / sizeof sv_signal_calls2[0]; i++)
    EMIT(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)sv_signal_calls2[i], L_SIG2, L_NONE);
#ifdef SYS_open
  EMIT(BPF_JMP | BPF_JEQ | BPF_K, SYS_open, L_CHK1, L_NONE);
#endif
  EMIT(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat, L_CHK2, L_NONE);
  EMIT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW, L_NONE, L_NONE);
  at[L_CHK1] = n;
  EMIT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(1), L_NONE, L_NONE);
  EMIT(BPF_JMP | BPF_JSET | BPF_K, OPEN_MUTATING, L_NOTIFY, L_ALLOW);
  at[L_CHK2] = n;
  EMIT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(2), L_NONE, L_NONE);
  EMIT(BPF_JMP | BPF_JSET | BPF_K, OPEN_MUTATING, L_NOTIFY, L_ALLOW);
  /* the signal's low word, as the kernel reads an int: below 32 its bit in `fatal` decides; 32-64
   * (real-time) may end a process; above (or negative) is no signal */
  at[L_SIG2] = n;
  EMIT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(2), L_NONE, L_NONE);
  EMIT(BPF_JMP | BPF_JGE | BPF_K, 32, L_SIGRT, L_SIGBIT);
  at[L_SIG1] = n;
  EMIT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(1), L_NONE, L_NONE);
  EMIT(BPF_JMP | BPF_JGE | BPF_K, 32, L_SIGRT, L_NONE);
  at[L_SIGBIT] = n;
  EMIT(BPF_MISC | BPF_TAX, 0, L_NONE, L_NONE);
  EMIT(BPF_LD | BPF_IMM, 1, L_NONE, L_NONE);
  EMIT(BPF_ALU | BPF_LSH | BPF_X, 0, L_NONE, L_NONE);
  EMIT(BPF_JMP | BPF_JSET | BPF_K, fatal, L_NOTIFY, L_ALLOW);
  at[L_SIGRT] = n;
  EMIT(BPF_JMP | BPF_JGE | BPF_K, 65, L_ALLOW, L_NOTIFY);
  at[L_ALLOW] = n;
  EMIT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW, L_NONE, L_NONE);
  at[L_NOTIFY] = n;
  EMIT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF, L_NONE, L_NONE);
#undef EMIT
  for (int i = 0; i < n; i++) { /* labels to forward offsets (every label is after its jumps) */
    if (jt[i] != L_NONE) f[i].jt = (unsigned char)(at[jt[i]] - i - 1);
    if (jf[i] != L_NONE) f[i].jf = (unsigned char)(at[jf[i]] - i - 1);
  }
  struct sock_fprog prog = {(unsigned short)n, f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) return -errno;
  /* WAIT_KILLABLE_RECV (5.19): once the supervisor has a call, only a fatal signal interrupts
   * it, so a call performed on the caller's behalf is never also restarted by the caller.
   * SPEC_ALLOW: without it the kernel turns on the speculative store bypass mitigation for a
   * filtered process, which slows a CPU-bound program down markedly */
  long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                    SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV |
                        SECCOMP_FILTER_FLAG_SPEC_ALLOW,
                    &prog);
  if (fd < 0 && errno == EINVAL)
    fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                 SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_SPEC_ALLOW, &prog);
  return fd < 0 ? -errno : (int)fd;
}

void sv_send(int sock, int v) {
  int err = v < 0 ? -v : 0;
  char cbuf[CMSG_SPACE(sizeof(int))];
  struct iovec io = {&err, sizeof err};
  struct msghdr m = {0};
  m.msg_iov = &io;
  m.msg_iovlen = 1;
  if (v >= 0) {
    memset(cbuf, 0, sizeof cbuf);
    m.msg_control = cbuf;
    m.msg_controllen = sizeof cbuf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &v, sizeof v);
  }
  while (sendmsg(sock, &m, MSG_NOSIGNAL) < 0 && errno == EINTR) {}
}

int sv_recv(int sock) {
  int err = 0, fd = -1;
  char cbuf[CMSG_SPACE(sizeof(int))];
  struct iovec io = {&err, sizeof err};
  struct msghdr m = {0};
  m.msg_iov = &io;
  m.msg_iovlen = 1;
  m.msg_control = cbuf;
  m.msg_controllen = sizeof cbuf;
  ssize_t r;
  while ((r = recvmsg(sock, &m, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {}
  if (r < (ssize_t)sizeof err) return -EPIPE; /* the child died before it could say */
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) memcpy(&fd, CMSG_DATA(c), sizeof fd);
  if (fd >= 0) return fd;
  return err ? -err : -EPROTO;
}

/* ---------- the processes being served ---------- */

/* What is known of a calling thread (cached by tid). A process's death (and a thread's, for a
 * thread other than the leader, on 6.9 and later) is seen through its pidfd, which serve watches
 * (epoll) with the listener: its entry goes before any later call is received, so a reused tid
 * never meets the dead one's entry. Without epoll, each call polls the pidfd. */
struct proc {
  pid_t tid, tgid;
  int mem;          /* /proc/TID/mem, O_RDONLY */
  int pidfd;        /* of the thread (PIDFD_THREAD) or of tgid: liveness, and pidfd_getfd */
  int covered;      /* 1: libshit.so is mapped (the shim captures it); 0 no; -1 not looked yet */
  int rooted;       /* 1: its root is "/" (absolute paths resolve here as there); 0 chroot'd; -1 not looked */
  int cwd;          /* /proc/TID/cwd opened O_PATH, until it calls chdir or fchdir (both sent here), or -1 */
  unsigned cwd_gen; /* which opening of cwd that is (here_gen) */
  int noted;        /* its memory could not be read, and a NOTCAPTURED said so (once per program run) */
  int memerr;       /* why /proc/TID/mem could not be opened (errno), when mem is -1 */
  int status;       /* /proc/TID/status, held: read again (pread) each time a field is wanted, or -1 */
  int exec_seen;    /* it called execve/execveat since mem was opened: open mem again before reading */
};
#define NPROC 64
static struct proc procs[NPROC];
static pid_t recorded[NPROC]; /* by tgid: its EXEC record is written for the program it runs now */
static const char *shim_lib;
static int ep = -1;      /* serve's epoll: the listener, the child's pidfd, each entry's pidfd */
static int serving_fast; /* serve waits in the listener's receive, not in epoll (serve_fast) */
#define EV_LISTENER (~0ULL)
#define EV_CHILD (~1ULL)
static int can_addfd = 1; /* SECCOMP_ADDFD_FLAG_SEND (5.14): opens are performed here */
/* The supervisor works in the directory of the caller it serves: a path relative to the caller's
 * cwd is then one relative to its own, and capture names it with getcwd, as the shim does, not
 * with a readlink of /proc/self/fd/N (the readlink's ptrace check and /proc walk were a tenth of
 * the supervisor's time on an rm -rf). here_gen: the cwd_gen of the entry whose cwd it is in (0:
 * its own); it changes directory only when a caller with another cwd calls. */
static unsigned here_gen, cwd_gens;

static void pclose_(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

/* Reads a small /proc file into buf (NUL-terminated). Length, or -1. */
static long read_small(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  long n = 0;
  while ((size_t)n < cap - 1) {
    ssize_t k = read(fd, buf + n, cap - 1 - (size_t)n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    n += k;
  }
  close(fd);
  buf[n] = 0;
  return n;
}

/* Does the process have the shim mapped? Looked up in /proc/TGID/maps. */
static int has_shim(pid_t tgid) {
  if (!shim_lib || !*shim_lib) return 0;
  char p[64], buf[16384 + 1];
  snprintf(p, sizeof p, "/proc/%d/maps", (int)tgid);
  int fd = open(p, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  size_t ll = strlen(shim_lib), keep = 0;
  int found = 0;
  for (;;) { /* windows overlapping by the name's length, so a name across two reads is seen */
    ssize_t k = read(fd, buf + keep, sizeof buf - 1 - keep);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    size_t n = keep + (size_t)k;
    buf[n] = 0;
    if (memmem(buf, n, shim_lib, ll)) {
      found = 1;
      break;
    }
    keep = n < ll ? n : ll;
    memmove(buf, buf + n - keep, keep);
  }
  close(fd);
  return found;
}

static void exec_record(struct proc *p);

static void proc_watch(struct proc *p) {
  if (ep < 0 || p->pidfd < 0) return;
  struct epoll_event e = {.events = EPOLLIN, .data.u64 = ((uint64_t)(p - procs) << 32) | (uint32_t)p->tid};
  epoll_ctl(ep, EPOLL_CTL_ADD, p->pidfd, &e);
}

/* A field of the thread's /proc/TID/status ("Tgid", "Umask"), parsed in `base`; dflt when
 * absent. The file is held open and read again from offset 0 each time (the kernel writes it
 * anew): one system call, not four. A thread that exec'd from a non-leader thread has taken the
 * leader's tid and its old file reads nothing: opened again then. */
static long status_field(struct proc *p, const char *name, int base, long dflt) {
  char path[64], buf[4096], key[32];
  long n = -1;
  for (int attempt = 0; attempt < 2 && n <= 0; attempt++) {
    if (p->status < 0 || attempt) {
      pclose_(&p->status);
      snprintf(path, sizeof path, "/proc/%d/status", (int)p->tid);
      p->status = open(path, O_RDONLY | O_CLOEXEC);
      if (p->status < 0) return dflt;
    }
    while ((n = pread(p->status, buf, sizeof buf - 1, 0)) < 0 && errno == EINTR) {}
  }
  if (n <= 0) return dflt;
  buf[n] = 0;
  snprintf(key, sizeof key, "\n%s:", name);
  char *s = strstr(buf, key);
  return s ? strtol(s + strlen(key), NULL, base) : dflt;
}

static void proc_drop(struct proc *p) {
  /* removed from the epoll set by name: a copy of the pidfd in another supervisor (fork) would
   * keep it registered past the close */
  if (ep >= 0 && p->pidfd >= 0) epoll_ctl(ep, EPOLL_CTL_DEL, p->pidfd, NULL);
  pclose_(&p->mem);
  pclose_(&p->pidfd);
  pclose_(&p->cwd);
  pclose_(&p->status);
  p->tid = 0;
}

/* Opens the thread's /proc/TID/mem: the memory it has now. The descriptor holds that memory (an mm)
 * for good, and reads it for as long as any process uses it: after an exec the thread has another,
 * while a descriptor opened before reads the old one on if a process still has it (a vfork child's
 * is its parent's, Go's os/exec included), so every exec makes it open again (exec_seen). */
static void mem_open(struct proc *p) {
  char path[64];
  pclose_(&p->mem);
  snprintf(path, sizeof path, "/proc/%d/mem", (int)p->tid);
  p->mem = open(path, O_RDONLY | O_CLOEXEC);
  p->memerr = p->mem < 0 ? errno : 0;
  p->exec_seen = 0;
}

static struct proc *proc_get(pid_t tid) {
  struct proc *p = &procs[(unsigned)tid % NPROC];
  if (p->tid == tid && tid > 0) {
    if ((ep >= 0 && !serving_fast) || p->pidfd < 0) return p; /* its death would have dropped it (serve) */
    struct pollfd pf = {p->pidfd, POLLIN, 0};
    if (poll(&pf, 1, 0) == 0) return p; /* still the same live process */
  }
  if (p->tid) proc_drop(p);
  p->tid = tid;
  p->tgid = (pid_t)status_field(p, "Tgid", 10, tid);
  mem_open(p);
  /* a thread's tid is free for reuse once that thread exits, its process living on: a thread
   * other than the leader is watched through its own pidfd (PIDFD_THREAD, 6.9), so its exit drops
   * the entry too; the leader's tid stays taken until the whole process is gone */
  p->pidfd = p->tgid != tid ? (int)syscall(SYS_pidfd_open, tid, PIDFD_THREAD) : -1;
  if (p->pidfd < 0) p->pidfd = (int)syscall(SYS_pidfd_open, p->tgid, 0);
  if (p->pidfd < 0) p->pidfd = -1;
  proc_watch(p);
  p->covered = -1;
  p->rooted = -1;
  p->noted = 0;
  return p;
}

/* A NUL-terminated string of the caller at addr, into buf. 0, or -errno (EFAULT: unreadable,
 * ENAMETOOLONG). Reads page by page, so a string ending just before an unmapped page reads. A
 * memory the supervisor may no longer open (the caller exec'd a program it may not trace: one it
 * cannot read, so not dumpable; Yama) leaves p->mem -1: the caller says "not captured". */
static int rd_mem(struct proc *p, uint64_t addr, void *buf, size_t cap, int str) {
  if (!addr) return -EFAULT;
  for (int attempt = 0; attempt < 2; attempt++) {
    size_t got = 0;
    int bad = 0;
    while (got < cap) {
      size_t chunk = 4096 - (size_t)((addr + got) & 4095);
      if (chunk > cap - got) chunk = cap - got;
      ssize_t k = pread(p->mem, (char *)buf + got, chunk, (off_t)(addr + got));
      if (k <= 0) {
        bad = 1;
        break;
      }
      if (str && memchr((char *)buf + got, 0, (size_t)k)) return 0;
      got += (size_t)k;
    }
    if (!bad) return str ? -ENAMETOOLONG : 0;
    if (got > 0 || attempt) return -EFAULT;
    /* nothing read: the descriptor may belong to the program before an exec; open it again */
    mem_open(p);
    if (p->mem < 0) return -EFAULT;
  }
  return -EFAULT;
}

/* The EXEC record the shim's constructor writes for a process it starts, for a process the
 * supervisor serves first (the daemon learns the command's processes from them). */
static void exec_record(struct proc *p) {
  struct cap_ctx c;
  static struct sp_buf b;
  char path[64], args[8192], cwd[PATH_MAX];
  if (!cap_ctx_load(&c)) return;
  snprintf(path, sizeof path, "/proc/%d/cmdline", (int)p->tgid);
  long n = read_small(path, args, sizeof args);
  sp_start(&b, SP_EXEC, 0);
  sp_add(&b, T_ARGV, args, n > 0 ? (size_t)n : 0);
  snprintf(path, sizeof path, "/proc/%d/cwd", (int)p->tgid);
  ssize_t w = readlink(path, cwd, sizeof cwd - 1);
  if (w > 0 && cwd[0] == '/') {
    cwd[w] = 0;
    sp_add_str(&b, T_CWD, cwd);
  }
  sp_commit(&b, c.spool, 0);
}

/* ---------- one call ---------- */

struct loc {
  int fd; /* the caller's directory here (AT_FDCWD for an absolute path), -1 none */
  const char *path;
  int own; /* fd is ours to close */
};

static int get_fd(struct proc *p, int fd);

/* The directory a path argument is resolved from, as a descriptor here: the caller's cwd, its
 * dirfd, or its root. 0 or -errno. */
static int resolve_at(struct proc *p, int dirfd, const char *path, struct loc *l) {
  char pp[64];
  l->fd = AT_FDCWD;
  l->path = path;
  l->own = 0;
  if (path && path[0] == '/') {
    if (p->rooted < 0) {
      char r[8];
      snprintf(pp, sizeof pp, "/proc/%d/root", (int)p->tid);
      ssize_t k = readlink(pp, r, sizeof r);
      p->rooted = k == 1 && r[0] == '/';
    }
    if (p->rooted) return 0;
    snprintf(pp, sizeof pp, "/proc/%d/root", (int)p->tid);
    while (l->path[0] == '/') l->path++;
    if (!l->path[0]) l->path = ".";
  } else if (dirfd == AT_FDCWD) {
    if (p->cwd < 0) {
      snprintf(pp, sizeof pp, "/proc/%d/cwd", (int)p->tid);
      p->cwd = open(pp, O_PATH | O_CLOEXEC);
      if (p->cwd < 0) return -errno;
      p->cwd_gen = ++cwd_gens ? cwd_gens : ++cwd_gens;
    }
    if (here_gen != p->cwd_gen) {
      /* a directory the caller may be in but not enter (its mode changed since): named by the
       * descriptor instead */
      if (fchdir(p->cwd)) {
        l->fd = p->cwd;
        return 0;
      }
      here_gen = p->cwd_gen;
    }
    return 0;
  } else {
    /* the caller's own open directory (pidfd_getfd): no walk of /proc/TID/fd/N and its link */
    int own = get_fd(p, dirfd);
    if (own >= 0) {
      l->fd = own;
      l->own = 1;
      return 0;
    }
    snprintf(pp, sizeof pp, "/proc/%d/fd/%d", (int)p->tid, dirfd);
  }
  l->fd = open(pp, O_PATH | O_CLOEXEC);
  if (l->fd < 0) return -errno;
  l->own = 1;
  return 0;
}

static void loc_close(struct loc *l) {
  if (l->own && l->fd >= 0) close(l->fd);
  l->own = 0;
}

/* A duplicate of the caller's descriptor fd (its open file description), or -errno. */
static int get_fd(struct proc *p, int fd) {
  if (p->pidfd < 0) return -EBADF;
  long r = syscall(SYS_pidfd_getfd, p->pidfd, fd, 0);
  return r < 0 ? -errno : (int)r;
}

/* The call being handled, in a page shared with the watchdog (NULL: no watchdog): the notification
 * is received straight into it, so a supervisor killed at any point leaves the watchdog its id and
 * how far it got. RECEIVED: nothing done yet (the watchdog serves it as if just received).
 * TOUCHED: a record was written, or an open made here (the watchdog lets the call through).
 * RECORDING: a record is being written, nothing else done (the watchdog serves it again from the
 * start). STAGING: an unlink's record is being written and its file moved into staging (the
 * watchdog finishes the move if the record is in the spool, or finds it made, and answers 0; else
 * serves it again from the start: nothing was moved). PERFORMING: the call is being made here
 * (SIGKILL takes effect as a call returns: the likeliest moment; the watchdog answers 0 for an
 * rmdir whose directory is gone, else lets the call through). PERFORMED: the call was done here
 * with result ret (the watchdog answers with ret, so a call is never performed twice: an unlink
 * run again would fail with ENOENT). */
enum { PH_RECEIVED, PH_RECORDING, PH_TOUCHED, PH_STAGING, PH_PERFORMING, PH_PERFORMED };
struct inflight {
  volatile int phase;
  volatile long ret;
  char from[PATH_MAX], to[PATH_MAX]; /* STAGING: the move into staging; PERFORMING: the path */
  struct sp_pending pending;         /* STAGED records held back (sp_defer): written by whoever serves on */
  union {
    struct seccomp_notif n;
    char space[3072]; /* the kernel's notification may be larger than this header's */
  } req;
};
static struct inflight *inflight;

static void touched(void) {
  if (inflight && inflight->phase <= PH_RECORDING) inflight->phase = PH_TOUCHED; /* not after PERFORMED */
}

/* A record is being written, and nothing else was done yet (capture writes a destroying call's
 * record before it moves or copies anything): the watchdog captures the call again from the
 * start. Letting it through instead lost the file of an unlink whose record was cut short. */
static void recording(void) {
  if (inflight && inflight->phase == PH_RECEIVED) inflight->phase = PH_RECORDING;
}

static void staging(const char *from, const char *to) {
  if (!inflight || strlen(from) >= PATH_MAX || strlen(to) >= PATH_MAX) return;
  strcpy(inflight->from, from);
  strcpy(inflight->to, to);
  inflight->phase = PH_STAGING;
}

static void performing(const char *path) {
  if (!inflight || strlen(path) >= PATH_MAX) return;
  strcpy(inflight->from, path);
  inflight->phase = PH_PERFORMING;
}

static void performed(long r) {
  if (!inflight) return;
  inflight->ret = r;
  inflight->phase = PH_PERFORMED;
}

static int listener;

/* The listener's ioctls take a lock that a signal interrupts (mutex_lock_interruptible: EINTR,
 * which SA_RESTART does not restart) before they do anything: asked again, so a signal forwarded
 * to the program never leaves a call unanswered or taken for one no longer waiting. */
static int id_valid(uint64_t id) {
  int r;
  while ((r = ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id)) < 0 && errno == EINTR) {}
  return r == 0;
}

static void send_resp(uint64_t id, long r, int cont) {
  struct seccomp_notif_resp resp = {0};
  resp.id = id;
  if (cont) resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  else if (r < 0) resp.error = (int32_t)r;
  else resp.val = r;
  while (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0 && errno == EINTR) {}
}

/* The caller's umask (mkdir, mknod and a creating open are performed here, with umask 0). */
static mode_t caller_umask(struct proc *p) { return (mode_t)status_field(p, "Umask", 8, 022); }

/* Says on shit-run's stderr and in the spool that a set-ID program started under the filter
 * runs without its privileges (no_new_privs). */
static void exec_check(struct proc *p, int dirfd, const char *path, int at_flags) {
  struct loc l;
  if (resolve_at(p, dirfd, path, &l)) return;
  static struct xc_result r;
  int v = xc_check_at(l.fd, l.path, at_flags & (AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW), &r);
  loc_close(&l);
  if (v != XC_SETUID && v != XC_SETGID) return;
  touched();
  fprintf(
      stderr,
      "shit: %s is %s: started by a statically linked program under capture (no_new_privs), it runs without "
      "its privileges; run it outside `shit run` (or SHIT_SECCOMP=off shit run ...)\n",
      r.path[0] ? r.path : path, xc_what(v));
  sp_record_pid = p->tgid;
  cap_note(v == XC_SETUID ? "setuid program: ran without its privileges (seccomp tier: no_new_privs)"
                          : "setgid program: ran without its privileges (seccomp tier: no_new_privs)",
           r.path[0] ? r.path : NULL, SP_EXEC);
  sp_record_pid = 0;
}

/* Results of a capture + call, shared by every handler. */
#define DONE(o, r, newfd)                                 \
  do {                                                    \
    if ((o).done) {                                       \
      performed((o).ret < 0 ? -(o).err : (o).ret);        \
      send_resp(id, (o).ret < 0 ? -(o).err : (o).ret, 0); \
      goto out;                                           \
    }                                                     \
    performing((o).path);                                 \
    long r_ = (r);                                        \
    performed(r_);                                        \
    cap_end(&(o), r_, r_ < 0 ? (int)-r_ : 0, (newfd));    \
    send_resp(id, r_, 0);                                 \
    goto out;                                             \
  } while (0)

static char pa[PATH_MAX], pb[PATH_MAX], xname[256];

static void handle(struct seccomp_notif *req) {
  uint64_t id = req->id;
  int nr = req->data.nr;
  const __u64 *a = req->data.args;
  struct proc *p = proc_get((pid_t)req->pid);
  if (p->exec_seen) mem_open(p); /* the memory it has since (exec_seen) */
  struct loc l1 = {-1, NULL, 0}, l2 = {-1, NULL, 0};
  struct cap_op o;
  int lfd = -1;
  int cont = 1;
  pa[0] = pb[0] = 0;
  if (nr == SYS_chroot) { /* resolve absolute paths again after it */
    p->rooted = -1;
    goto out;
  }
  if (nr == SYS_chdir || nr == SYS_fchdir) { /* and relative ones, in every thread sharing its cwd */
    for (int i = 0; i < NPROC; i++)
      if (procs[i].tgid == p->tgid) pclose_(&procs[i].cwd);
    goto out;
  }
  if (nr == SYS_execve || nr == SYS_execveat) {
    int dfd = nr == SYS_execve ? AT_FDCWD : (int)a[0];
    int fl = nr == SYS_execve ? 0 : (int)a[4];
    uint64_t pathp = nr == SYS_execve ? a[0] : a[1];
    if (rd_mem(p, pathp, pa, sizeof pa, 1) == 0 && id_valid(id)) exec_check(p, dfd, pa, fl);
    /* after the exec it is another program (the shim's, or no longer), in whichever thread, with
     * another memory: read from the old one, a vfork child's next path was its parent's bytes at
     * that address (another file removed in its place) */
    for (int i = 0; i < NPROC; i++)
      if (procs[i].tgid == p->tgid) procs[i].covered = -1, procs[i].noted = 0, procs[i].exec_seen = 1;
    if (recorded[(unsigned)p->tgid % NPROC] == p->tgid) recorded[(unsigned)p->tgid % NPROC] = 0;
    goto out;
  }
  if (p->covered < 0) {
    p->covered = has_shim(p->tgid);
    pid_t *r = &recorded[(unsigned)p->tgid % NPROC];
    if (!p->covered && *r != p->tgid) { /* once per program, not per thread */
      /* the program's record, not this call's: a watchdog taking over from here serves the call
       * from the start (TOUCHED let it through uncaptured: an rm's first unlink lost its file) */
      recording();
      exec_record(p);
      *r = p->tgid;
    }
  }
  if (p->covered) goto out;
  if (nr == SYS_io_uring_setup) {
    /* what the program submits through the ring the kernel performs (in the caller or in its
     * io-wq workers) past this filter: said, and the setup goes on unchanged */
    if (id_valid(id)) {
      touched();
      sp_record_pid = p->tgid;
      cap_note("not captured: io_uring: a ring set up by a program under the seccomp tier: the file "
               "operations it submits through the ring (unlinkat, renameat, openat …) are not seen",
               NULL, 0);
      sp_record_pid = 0;
    }
    goto out;
  }
  int khow;
  long kwho;
  int ksig = kr_syscall(nr, (long)a[0], (long)a[1], (long)a[2], &khow, &kwho);
  if (ksig >= 0) {
    /* recorded before the call (it runs once this answers CONTINUE), with err 0: a kill the kernel
     * then refuses (EPERM) is recorded as made; one to no process (ESRCH) finds no target here */
    if (ksig > 0 && kr_may_end(ksig) && id_valid(id)) {
      struct kr_call k;
      sp_record_pid = p->tgid;
      kr_before_for(&k, p->tgid, khow, kwho, ksig);
      kr_after(&k, 0);
      sp_record_pid = 0;
      /* recorded: let through, should the watchdog take over now. Not before: killed while its
       * targets were read, the kill went through with nothing recorded (served again, at worst a
       * target is recorded twice) */
      touched();
    }
    goto out;
  }
  if (p->mem < 0) goto unreadable;

  /* the arguments: the paths, read once; then the call must still be waiting */
  int dfd1 = AT_FDCWD, dfd2 = AT_FDCWD, fdarg = -1, flags = 0, e = 0;
  uint64_t p1 = 0, p2 = 0;
  mode_t mode = 0;
  switch (nr) {
#ifdef SYS_unlink
  case SYS_unlink:
  case SYS_rmdir:
  case SYS_mkdir:
  case SYS_chmod:
  case SYS_chown:
  case SYS_lchown:
  case SYS_creat:
  case SYS_open:
  case SYS_truncate:
  case SYS_mknod:
  case SYS_utime:
  case SYS_utimes: p1 = a[0]; break;
  case SYS_rename:
  case SYS_link: p1 = a[0], p2 = a[1]; break;
  case SYS_symlink: p1 = a[0], p2 = a[1]; break;
  case SYS_futimesat: dfd1 = (int)a[0], p1 = a[1]; break;
#endif
  case SYS_unlinkat:
  case SYS_mkdirat:
  case SYS_mknodat:
  case SYS_fchmodat:
  case SYS_fchmodat2:
  case SYS_fchownat:
  case SYS_openat:
  case SYS_openat2: dfd1 = (int)a[0], p1 = a[1]; break;
  case SYS_utimensat: dfd1 = (int)a[0], p1 = a[1]; break; /* p1 may be NULL: the fd itself */
  case SYS_renameat2:
#ifdef SYS_renameat
  case SYS_renameat:
#endif
    dfd1 = (int)a[0], p1 = a[1], dfd2 = (int)a[2], p2 = a[3];
    break;
  case SYS_linkat: dfd1 = (int)a[0], p1 = a[1], dfd2 = (int)a[2], p2 = a[3]; break;
  case SYS_symlinkat: p1 = a[0], dfd2 = (int)a[1], p2 = a[2]; break;
  case SYS_setxattr:
  case SYS_lsetxattr:
  case SYS_removexattr:
  case SYS_lremovexattr: p1 = a[0]; break;
  case SYS_fchmod:
  case SYS_fchown:
  case SYS_ftruncate:
  case SYS_fsetxattr:
  case SYS_fremovexattr: fdarg = (int)a[0]; break;
  default: goto out;
  }
  /* an unreadable argument: the call fails (EFAULT, ENAMETOOLONG) by itself */
  if ((p1 && (e = rd_mem(p, p1, pa, sizeof pa, 1))) || (p2 && (e = rd_mem(p, p2, pb, sizeof pb, 1)))) {
    if (p->mem < 0) goto unreadable; /* no: the memory may not be opened any more */
    goto out;
  }
  int isx = nr == SYS_setxattr || nr == SYS_lsetxattr || nr == SYS_removexattr || nr == SYS_lremovexattr ||
            nr == SYS_fsetxattr || nr == SYS_fremovexattr;
  if (isx && rd_mem(p, a[1], xname, sizeof xname, 1)) goto out;
  struct open_how how = {0};
  if (nr == SYS_openat2) {
    size_t hs = a[3] < sizeof how ? (size_t)a[3] : sizeof how;
    if (hs < 16 || rd_mem(p, a[2], &how, hs, 0)) goto out;
  }
  if (!id_valid(id)) return; /* the caller is gone or the call was interrupted: nothing to answer */

  /* the caller's directories and descriptors, here */
  if (p1 && (e = resolve_at(p, dfd1, pa, &l1))) goto notcap;
  if (p2 && (e = resolve_at(p, dfd2, pb, &l2))) goto notcap;
  if (nr == SYS_utimensat && !p1) fdarg = dfd1;
  if (fdarg >= 0 && (lfd = get_fd(p, fdarg)) < 0) {
    if (lfd == -EBADF) goto out; /* not a descriptor: the call fails by itself */
    e = lfd;
    goto notcap;
  }

  sp_record_pid = p->tgid;
  cont = 0;
  switch (nr) {
#ifdef SYS_unlink
  case SYS_unlink:
  case SYS_rmdir:
#endif
  case SYS_unlinkat: flags = nr == SYS_unlinkat ? (int)a[2] : 0;
#ifdef SYS_rmdir
    if (nr == SYS_rmdir) flags = AT_REMOVEDIR;
#endif
    if (!cap_unlink(&o, l1.fd, l1.path, flags)) break;
    DONE(o, sys3(SYS_unlinkat, l1.fd, l1.path, flags), -1);
#ifdef SYS_rename
  case SYS_rename:
#endif
#ifdef SYS_renameat
  case SYS_renameat:
#endif
  case SYS_renameat2:
    flags = nr == SYS_renameat2 ? (int)a[4] : 0;
    if (!cap_rename(&o, l1.fd, l1.path, l2.fd, l2.path, (unsigned)flags)) break;
    DONE(o, sys5(SYS_renameat2, l1.fd, l1.path, l2.fd, l2.path, flags), -1);
#ifdef SYS_mkdir
  case SYS_mkdir:
#endif
  case SYS_mkdirat:
    mode = (mode_t)(nr == SYS_mkdirat ? a[2] : a[1]);
    if (!cap_mkdir(&o, l1.fd, l1.path, mode)) break;
    DONE(o, sys3(SYS_mkdirat, l1.fd, l1.path, mode & ~caller_umask(p)), -1);
#ifdef SYS_mknod
  case SYS_mknod:
#endif
  case SYS_mknodat: {
    int at = nr == SYS_mknodat;
    mode = (mode_t)a[at + 1];
    dev_t dev = (dev_t)a[at + 2];
    if (!cap_mknod(&o, l1.fd, l1.path, mode, dev)) break;
    DONE(o, sys4(SYS_mknodat, l1.fd, l1.path, (mode & S_IFMT) | (mode & 07777 & ~caller_umask(p)), dev), -1);
  }
#ifdef SYS_symlink
  case SYS_symlink:
#endif
  case SYS_symlinkat:
    if (!cap_symlink(&o, pa, l2.fd, l2.path)) break;
    DONE(o, sys3(SYS_symlinkat, pa, l2.fd, l2.path), -1);
#ifdef SYS_link
  case SYS_link:
#endif
  case SYS_linkat:
    flags = nr == SYS_linkat ? (int)a[4] : 0;
    if (flags & AT_EMPTY_PATH) { /* an O_TMPFILE file getting its name: recorded, then let through */
      if (cap_link(&o, l1.fd, l1.path, l2.fd, l2.path, flags)) cap_end(&o, 0, 0, -1);
      cont = 1;
      break;
    }
    if (!cap_link(&o, l1.fd, l1.path, l2.fd, l2.path, flags)) break;
    DONE(o, sys5(SYS_linkat, l1.fd, l1.path, l2.fd, l2.path, flags), -1);
#ifdef SYS_chmod
  case SYS_chmod:
#endif
  case SYS_fchmodat:
  case SYS_fchmodat2:
    mode = (mode_t)(nr == SYS_fchmodat || nr == SYS_fchmodat2 ? a[2] : a[1]);
    flags = nr == SYS_fchmodat2 ? (int)a[3] : 0;
    if (!cap_chmod(&o, l1.fd, l1.path, -1, mode, flags)) break;
    DONE(o,
         flags ? sys4(SYS_fchmodat2, l1.fd, l1.path, mode, flags) : sys3(SYS_fchmodat, l1.fd, l1.path, mode),
         -1);
  case SYS_fchmod:
    if (!cap_chmod(&o, AT_FDCWD, NULL, lfd, (mode_t)a[1], 0)) break;
    DONE(o, sys2(SYS_fchmod, lfd, a[1]), -1);
#ifdef SYS_chown
  case SYS_chown:
  case SYS_lchown:
#endif
  case SYS_fchownat: {
    int at = nr == SYS_fchownat;
    uid_t u = (uid_t)a[at + 1];
    gid_t g = (gid_t)a[at + 2];
    flags = at ? (int)a[4] : 0;
#ifdef SYS_lchown
    if (nr == SYS_lchown) flags = AT_SYMLINK_NOFOLLOW;
#endif
    if (!cap_chown(&o, l1.fd, l1.path, -1, u, g, flags)) break;
    DONE(o, sys5(SYS_fchownat, l1.fd, l1.path, (long)(int)u, (long)(int)g, flags), -1);
  }
  case SYS_fchown:
    if (!cap_chown(&o, AT_FDCWD, NULL, lfd, (uid_t)a[1], (gid_t)a[2], 0)) break;
    DONE(o, sys3(SYS_fchown, lfd, (long)(int)a[1], (long)(int)a[2]), -1);
  case SYS_truncate: {
    char tp[PATH_MAX + 32];
    if (l1.fd == AT_FDCWD) snprintf(tp, sizeof tp, "%s", l1.path);
    else snprintf(tp, sizeof tp, "/proc/self/fd/%d/%s", l1.fd, l1.path);
    if (!cap_truncate(&o, l1.fd, l1.path, -1, (long long)a[1])) break;
    DONE(o, sys2(SYS_truncate, tp, a[1]), -1);
  }
  case SYS_ftruncate:
    if (!cap_truncate(&o, AT_FDCWD, NULL, lfd, (long long)a[1])) break;
    DONE(o, sys2(SYS_ftruncate, lfd, a[1]), -1);
#ifdef SYS_utime
  case SYS_utime:
  case SYS_utimes:
  case SYS_futimesat:
#endif
  case SYS_utimensat: /* recorded, then let through */
    cont = 1;
    if (lfd >= 0 ? cap_utimes(&o, AT_FDCWD, NULL, lfd, 0)
                 : cap_utimes(&o, l1.fd, l1.path, -1, nr == SYS_utimensat ? (int)a[3] : 0))
      cap_end(&o, 0, 0, -1);
    break;
  case SYS_setxattr:
  case SYS_lsetxattr:
  case SYS_removexattr:
  case SYS_lremovexattr:
  case SYS_fsetxattr:
  case SYS_fremovexattr: { /* recorded, then let through */
    int op = nr == SYS_setxattr || nr == SYS_lsetxattr || nr == SYS_fsetxattr ? SP_SETXATTR : SP_REMOVEXATTR;
    int follow = !(nr == SYS_lsetxattr || nr == SYS_lremovexattr);
    char tp[PATH_MAX + 32];
    const char *xp = NULL;
    if (lfd < 0) {
      if (l1.fd == AT_FDCWD) snprintf(tp, sizeof tp, "%s", l1.path);
      else snprintf(tp, sizeof tp, "/proc/self/fd/%d/%s", l1.fd, l1.path);
      xp = tp;
    }
    cont = 1;
    if (cap_xattr(&o, op, xp, lfd, xname, follow)) cap_end(&o, 0, 0, -1);
    break;
  }
#ifdef SYS_open
  case SYS_open:
  case SYS_creat:
#endif
  case SYS_openat:
  case SYS_openat2: {
    long fl = O_WRONLY | O_CREAT | O_TRUNC; /* creat */
    if (nr == SYS_openat2) {
      fl = (long)how.flags;
      mode = (mode_t)how.mode;
    } else if (nr == SYS_openat) {
      fl = (long)a[2];
      mode = (mode_t)a[3];
    } else {
      fl = nr == SYS_creat ? fl : (long)a[1];
      mode = (mode_t)(nr == SYS_creat ? a[1] : a[2]);
    }
    if (!cap_open(&o, l1.fd, l1.path, (int)fl)) break;
    if (!can_addfd) { /* no way to hand a descriptor over: recorded, then let through */
      cap_end(&o, 0, 0, -1);
      cont = 1;
      break;
    }
    if (fl & O_CREAT) mode &= ~caller_umask(p);
    touched(); /* made here, handed over below: not to be opened again (O_EXCL) */
    long nfd;
    if (nr == SYS_openat2) {
      struct open_how h2 = how;
      h2.flags |= O_CLOEXEC;
      h2.mode = mode;
      nfd = sys4(SYS_openat2, l1.fd, l1.path, &h2, sizeof h2);
    } else {
      nfd = sys4(SYS_openat, l1.fd, l1.path, fl | O_CLOEXEC, mode);
    }
    if (nfd < 0) {
      cap_end(&o, nfd, (int)-nfd, -1);
      send_resp(id, nfd, 0);
      goto out;
    }
    struct seccomp_notif_addfd af = {0};
    af.id = id;
    af.flags = SECCOMP_ADDFD_FLAG_SEND;
    af.srcfd = (uint32_t)nfd;
    af.newfd_flags = (uint32_t)(fl & O_CLOEXEC);
    long got = ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &af);
    int ae = got < 0 ? errno : 0;
    /* the file was opened (made) here: on record as it is, whether or not the caller got it */
    cap_end(&o, got >= 0 ? got : 0, 0, (int)nfd);
    close((int)nfd);
    /* not handed over (EMFILE: the caller's descriptor limit), the call still waits: it fails so */
    if (got < 0 && ae != ENOENT) send_resp(id, -ae, 0);
    goto out_answered;
  }
  default: break;
  }
  cont = 1; /* capture left the call alone (or recorded it and lets it through): it goes on */
  goto out;
unreadable:
  /* Not allowed to read the caller's memory (Yama's ptrace_scope 2 or 3 without CAP_SYS_PTRACE;
   * a program that is not dumpable, as one started from a file its user may not read): its calls
   * go on exactly as without shit, and a NOTCAPTURED per program and thread says why. */
  if (!p->noted) {
    touched();
    sp_record_pid = p->tgid;
    char why[256];
    int me = p->memerr ? p->memerr : EIO;
    snprintf(why, sizeof why, "not captured: the seccomp tier cannot read the caller's memory (%s%s)",
             strerror(me),
             me == EACCES || me == EPERM
                 ? ": a program that may not be traced: not dumpable, or kernel.yama.ptrace_scope 2 or 3"
                 : "");
    cap_note(why, NULL, 0);
    sp_record_pid = 0;
    p->noted = 1;
  }
  goto out;
notcap:
  touched();
  sp_record_pid = p->tgid;
  {
    char why[96];
    snprintf(why, sizeof why, "not captured: the seccomp tier cannot reach the caller's file (%s)",
             strerror(-e));
    cap_note(why, pa[0] == '/' ? pa : NULL, 0);
  }
out:
  if (cont) send_resp(id, 0, 1);
out_answered:
  sp_record_pid = 0;
  loc_close(&l1);
  loc_close(&l2);
  if (lfd >= 0) close(lfd);
}

/* ---------- the loop ---------- */

static int kernel_at_least(int maj, int min) {
  struct utsname u;
  int a = 0, b = 0;
  if (uname(&u) || sscanf(u.release, "%d.%d", &a, &b) != 2) return 0;
  return a > maj || (a == maj && b >= min);
}

static void to_null(void) {
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
  }
}

static int serve(pid_t child);

static char spool_path[PATH_MAX];

/* Whether `name` (one path component) is a kept file's directory in staging: "d<dev>-<ino>". */
static int is_keep_dir(const char *name, size_t n) {
  size_t i = 1;
  if (n < 4 || name[0] != 'd') return 0;
  while (i < n && name[i] >= '0' && name[i] <= '9') i++;
  if (i == 1 || i >= n || name[i++] != '-') return 0;
  size_t j = i;
  while (j < n && name[j] >= '0' && name[j] <= '9') j++;
  return j > i && j == n;
}

/* Whether the record keeping `to` (its KEEP field: 'R' and the keep name, "<cmd>/<dev>-<ino>" or
 * "<cmd>/d<dev>-<ino>/<name>", the last two or three components of the staging path) is in the
 * spool's last 64 KiB. SIGKILL takes effect as a call returns, so a supervisor killed while
 * writing it most likely wrote it whole. */
static int keep_recorded(const char *to) {
  const char *b = strrchr(to, '/');
  if (!b || b == to) return 0;
  const char *last = b;
  while (b > to && b[-1] != '/') b--; /* b: the component before the file's name */
  if (is_keep_dir(b, (size_t)(last - b)) && b - 1 > to) {
    b--;
    while (b > to && b[-1] != '/') b--;
  }
  if (b == to) return 0;
  char want[4200];
  int wn = snprintf(want, sizeof want, "R%s", b);
  if (wn <= 1 || wn >= (int)sizeof want) return 0;
  int fd = open(spool_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  static char tail[65536];
  struct stat st;
  ssize_t n = 0;
  if (fstat(fd, &st) == 0) {
    off_t at = st.st_size > (off_t)sizeof tail ? st.st_size - (off_t)sizeof tail : 0;
    n = pread(fd, tail, sizeof tail, at);
  }
  close(fd);
  /* the field's value whole: its length (the 4 bytes before it) is the keep's */
  for (ssize_t i = 4; n > 0 && i + wn <= n; i++) {
    uint32_t len;
    memcpy(&len, tail + i - 4, 4);
    if (len == (uint32_t)wn && memcmp(tail + i, want, (size_t)wn) == 0) return 1;
  }
  return 0;
}

/* The unlink a killed supervisor was making as a move into staging: made (the staged file is
 * there), or made now when its record is on file. 0 or -errno; 1: not recorded, let it through. */
static long finish_staging(void) {
  struct stat st;
  if (lstat(inflight->to, &st) == 0) return 0;
  if (!keep_recorded(inflight->to)) return 1;
  long r = syscall(SYS_renameat2, AT_FDCWD, inflight->from, AT_FDCWD, inflight->to, RENAME_NOREPLACE);
  if (r < 0 && errno == ENOENT && cap_make_dir_of(inflight->to, 1) == 0) { /* its staging dir not made yet */
    r = syscall(SYS_renameat2, AT_FDCWD, inflight->from, AT_FDCWD, inflight->to, RENAME_NOREPLACE);
  }
  return r < 0 ? -errno : 0;
}

static int is_rmdir(const struct seccomp_notif *n) {
#ifdef SYS_rmdir
  if (n->data.nr == SYS_rmdir) return 1;
#endif
  return n->data.nr == SYS_unlinkat && (n->data.args[2] & AT_REMOVEDIR);
}

/* The watchdog: a copy of the supervisor, idle on a pipe whose write ends only the supervisors
 * hold. A byte: they finished, it exits. End of file: every supervisor died (shit-run killed
 * with SIGKILL, or crashed) with the program still running; the watchdog finishes the call that
 * was being handled (struct inflight says how) and serves the rest, capturing as before, so the
 * program never sees ENOSYS. */
static void watchdog(int rfd) {
  cap_fd_dir_open(); /* its own fd table, not the supervisor's */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_IGN;
  int ign[] = {SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGPIPE, SIGUSR1, SIGUSR2, SIGALRM};
  for (size_t i = 0; i < sizeof ign / sizeof ign[0]; i++) sigaction(ign[i], &sa, NULL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  to_null();
  char c;
  ssize_t n;
  while ((n = read(rfd, &c, 1)) < 0 && errno == EINTR) {}
  if (n == 1) _exit(0);
  close(rfd);
  sp_flush(); /* the records the supervisor held back */
  uint64_t id = inflight->req.n.id;
  if (id && id_valid(id)) {
    if (inflight->phase == PH_RECEIVED || inflight->phase == PH_RECORDING) handle(&inflight->req.n);
    else if (inflight->phase == PH_PERFORMED) send_resp(id, inflight->ret, 0);
    else if (inflight->phase == PH_STAGING) {
      long r = finish_staging();
      /* its record not in the spool (cut short by the kill): nothing was moved, so it is captured
       * again from the start; let through, the unlink lost the file with no record at all */
      if (r == 1) handle(&inflight->req.n);
      else send_resp(id, r, 0);
    } else if (inflight->phase == PH_PERFORMING && is_rmdir(&inflight->req.n) &&
               access(inflight->from, F_OK) && errno == ENOENT)
      send_resp(id, 0, 0);
    else send_resp(id, 0, 1); /* part-way through capture: let through (docs/DESIGN.md, "seccomp tier") */
  }
  serve(0);
  _exit(0);
}

/* Serving fast. A call sent here wakes the supervisor on the caller's CPU when it waits in the
 * listener's receive (SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, 6.6): the caller, which then waits for
 * the answer, hands its CPU straight over, and back with the answer. Waiting in epoll_wait, the
 * wake-up goes through epoll's queue as an ordinary one, to whichever CPU: on a loaded 2-core
 * machine a round trip took 6.9 us against 3.1 (busybox rm -rf of 10k files under two busy
 * loops: 1.71x plain against 1.49x). So while calls keep coming serve waits in the receive, and
 * a tick (a timer every 5 ms, its signal unblocked only around the receive, no SA_RESTART) brings
 * it back to epoll_wait, which sees the rest: records held back, the child's exit, the exits of
 * the processes served (proc_get polls each caller's pidfd meanwhile, so a reused tid never meets
 * a dead one's entry). A receive with no process left on the filter returns at once on 6.6 and
 * later (ENOENT); the tick bounds it anywhere. With no timer, or before 6.6, serve waits in epoll. */
static int tick_sig;   /* 0: no tick in this process (serve_fast off) */
static pid_t tick_pid; /* the process whose timer tick_timer is: a fork has none */
static timer_t tick_timer;
static volatile sig_atomic_t ticked;
static int sync_wake; /* the listener hands the CPU over (SET_FLAGS took) */

static void on_tick(int sig) {
  (void)sig;
  ticked = 1;
}

static void tick_setup(void) {
  if (tick_pid == getpid()) return;
  tick_pid = getpid();
  tick_sig = 0;
  if (!sync_wake) return;
  int sig = SIGRTMIN + 2;
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, sig);
  sigprocmask(SIG_BLOCK, &one, NULL); /* delivered only inside the receive */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_tick; /* no SA_RESTART: the receive returns EINTR */
  sigfillset(&sa.sa_mask);
  if (sigaction(sig, &sa, NULL)) return;
  struct sigevent ev;
  memset(&ev, 0, sizeof ev);
  ev.sigev_notify = SIGEV_SIGNAL;
  ev.sigev_signo = sig;
  if (timer_create(CLOCK_MONOTONIC, &ev, &tick_timer)) return;
  tick_sig = sig;
}

static void tick_arm(int on) {
  struct itimerspec it;
  memset(&it, 0, sizeof it);
  if (on) it.it_value.tv_nsec = it.it_interval.tv_nsec = 5 * 1000 * 1000;
  timer_settime(tick_timer, 0, &it, NULL);
}

/* Receives and handles calls until a tick or an error: serve_fast above. */
static void serve_fast(struct seccomp_notif *n, size_t size) {
  sigset_t open_;
  sigprocmask(SIG_SETMASK, NULL, &open_);
  sigdelset(&open_, tick_sig);
  sigset_t shut = open_;
  sigaddset(&shut, tick_sig);
  serving_fast = 1;
  ticked = 0;
  tick_arm(1);
  for (;;) {
    memset(n, 0, size);
    if (inflight) inflight->phase = PH_RECEIVED;
    sigprocmask(SIG_SETMASK, &open_, NULL);
    int r = ticked ? -1 : ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, n);
    sigprocmask(SIG_SETMASK, &shut, NULL);
    if (r != 0) break;
    handle(n);
    n->id = 0;
  }
  n->id = 0;
  tick_arm(0);
  serving_fast = 0;
}

/* Serves until no process uses the filter (POLLHUP), or, child > 0, until it exits. 1: the
 * child exited with processes still using the filter. */
static int serve(pid_t child) {
  struct seccomp_notif_sizes sz;
  if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sz)) return 0;
  union {
    struct seccomp_notif n;
    char space[4096];
  } req;
  if (sz.seccomp_notif > sizeof inflight->req) return 0; /* room in the shared page too */
  tick_setup();
  int pidfd = child > 0 ? (int)syscall(SYS_pidfd_open, child, 0) : -1;
  ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep >= 0) {
    struct epoll_event e = {.events = EPOLLIN, .data.u64 = EV_LISTENER};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, listener, &e)) pclose_(&ep);
    e.data.u64 = EV_CHILD;
    if (ep >= 0 && pidfd >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, pidfd, &e)) pclose_(&ep);
    for (int i = 0; ep >= 0 && i < NPROC; i++) /* entries a supervisor forked from this one made */
      if (procs[i].tid) proc_watch(&procs[i]);
  }
  for (;;) {
    struct pollfd f[2] = {{listener, POLLIN, 0}, {pidfd, POLLIN, 0}};
    int timeout = child > 0 && pidfd < 0 ? 100 : -1; /* no pidfd: look at the child now and then */
    /* records held back go out with the next call's, or after 5 ms without one */
    int held = sp_pending && sp_pending->n;
    if (held && (timeout < 0 || timeout > 5)) timeout = 5;
    if (ep >= 0) {
      struct epoll_event ev[NPROC + 2];
      int n = epoll_wait(ep, ev, NPROC + 2, timeout);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) break;
      if (n == 0 && held) sp_flush();
      f[0].revents = f[1].revents = 0;
      for (int i = 0; i < n; i++) {
        uint64_t d = ev[i].data.u64;
        if (d == EV_LISTENER) f[0].revents = (short)ev[i].events; /* EPOLLIN etc. are the POLL* bits */
        else if (d == EV_CHILD) f[1].revents = (short)ev[i].events;
        else if (procs[d >> 32].tid == (pid_t)(uint32_t)d) proc_drop(&procs[d >> 32]); /* it exited */
      }
    } else {
      int r = poll(f, pidfd >= 0 ? 2 : 1, timeout);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) break;
      if (r == 0 && held) sp_flush();
    }
    if (f[0].revents & POLLIN) {
      /* received into the shared page when there is one: the watchdog's, should this process die */
      struct seccomp_notif *n = inflight ? &inflight->req.n : &req.n;
      memset(n, 0, sz.seccomp_notif);
      if (inflight) inflight->phase = PH_RECEIVED;
      if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, n) == 0) {
        handle(n);
        n->id = 0;
        /* calls are coming: wait for the next in the receive until a tick */
        if (tick_sig && ep >= 0) serve_fast(n, sz.seccomp_notif);
      }
      n->id = 0;
      continue; /* drain what is waiting before looking at the child */
    }
    if (f[0].revents & (POLLHUP | POLLERR | POLLNVAL)) break; /* no process uses the filter any more */
    int exited = 0;
    if (pidfd >= 0) exited = (f[1].revents & POLLIN) != 0;
    else if (child > 0) {
      siginfo_t si;
      si.si_pid = 0;
      exited = waitid(P_PID, (id_t)child, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == child;
    }
    if (exited) {
      sp_flush();
      if (pidfd >= 0) close(pidfd);
      pclose_(&ep);
      struct pollfd h = {listener, POLLIN, 0};
      return !(poll(&h, 1, 0) == 1 && (h.revents & POLLHUP));
    }
  }
  sp_flush();
  if (pidfd >= 0) close(pidfd);
  pclose_(&ep);
  return 0;
}

void sv_serve(int lfd, pid_t child, const char *lib) {
  listener = lfd;
  shim_lib = lib;
  can_addfd = kernel_at_least(5, 14);
  cap_on_record = recording;
  cap_on_performed = performed;
  cap_on_staging = staging;
  /* SHIT_CMD and SHIT_STATE are shit-run's own, set before it started the program: read once,
   * not at every record (getenv, its compares and the paths made from it were ~1% of the
   * supervisor's samples on an rm -rf); the watchdog and a background job's keeper are forks */
  cap_ctx_fixed = 1;
  /* 6.6: the caller and the supervisor hand the CPU to each other (no cross-CPU wake-up per call) */
  sync_wake = ioctl(lfd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) == 0;
  for (int i = 0; i < NPROC; i++) procs[i].mem = procs[i].pidfd = procs[i].cwd = procs[i].status = -1;
  /* every record goes to the command's one spool: held open, not opened and closed per record */
  struct cap_ctx ctx;
  if (cap_ctx_load(&ctx)) {
    sp_hold(ctx.spool);
    snprintf(spool_path, sizeof spool_path, "%s", ctx.spool);
  }
  cap_fd_dir_open();
  int home = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC); /* served from callers' directories (here_gen) */
  mode_t old = umask(0); /* mkdir/mknod/open on the caller's behalf apply the caller's umask */
  void *page = mmap(NULL, sizeof(struct inflight), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  int wd[2] = {-1, -1};
  if (page != MAP_FAILED && pipe2(wd, O_CLOEXEC) == 0) {
    inflight = (struct inflight *)page;
    sp_pending = &inflight->pending;
    pid_t w = fork();
    if (w == 0) {
      close(wd[1]);
      watchdog(wd[0]);
    }
    close(wd[0]);
    if (w < 0) pclose_(&wd[1]);
  }
  if (serve(child)) {
    /* processes of the command outlive it (a background job): a detached process serves them
     * until the last one exits (and then tells the watchdog); shit-run goes on to END */
    pid_t k = fork();
    if (k == 0) {
      setsid();
      to_null();
      cap_fd_dir_open();
      serve(0);
      if (wd[1] >= 0) (void)!write(wd[1], "q", 1);
      _exit(0);
    }
    /* no keeper (fork failed): closing the pipe without a byte makes the watchdog take over */
  } else if (wd[1] >= 0) {
    (void)!write(wd[1], "q", 1);
  }
  if (wd[1] >= 0) close(wd[1]);
  if (home >= 0 && fchdir(home) == 0) here_gen = 0;
  if (home >= 0) close(home);
  umask(old);
  close(lfd);
}
