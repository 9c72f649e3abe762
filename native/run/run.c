/* run.c — shit-run: the fast path of `shit run -- CMD ARGS...`.
 *
 *   shit-run CMD ARGS...
 *
 * Makes a command id, writes BEGIN to <state>/spool/<id>.spool, runs CMD with SHIT_CMD,
 * SHIT_STATE and LD_PRELOAD=<dir of this binary>/libshit.so exported, waits for it, writes END
 * and one POST record (the state after the command) per path the command changed, then exits
 * the way CMD did (same exit code, or the same signal). When CMD runs outside capture (a set-ID
 * or statically linked program: common/execcheck.c) it says so on stderr and records a
 * NOTCAPTURED (flags EXEC), and runs it all the same.
 *
 * Filesystem calls on the state directory go through sys.h (raw syscalls): when shit-run itself
 * runs under the shim (a recorded shell running `shit run`), its own bookkeeping must not be
 * recorded as effects of the outer command. Format: docs/SPOOL.md. */
#define _GNU_SOURCE
#include "../common/spool.h"
#include "../common/capture.h"
#include "../common/command.h"
#include "../common/sys.h"
#include "../common/endscan.h"
#include "../common/execcheck.h"
#include "../supervise/supervise.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char state[PATH_MAX];
static char spool_path[PATH_MAX + 64];
static char shim_lib[PATH_MAX]; /* <dir of this binary>/libshit.so */
static volatile sig_atomic_t child_pid = 0;
static volatile int exec_errno = 0;

static int xmkdir(const char *p) { /* 0, or -errno (EEXIST of a directory is 0) */
  long r = sys3(SYS_mkdirat, AT_FDCWD, p, 0700);
  if (r == -EEXIST) {
    struct sp_stat st;
    if (sp_statat(AT_FDCWD, p, 0, &st) == 0 && S_ISDIR(st.mode)) return 0;
    return -ENOTDIR;
  }
  return (int)r;
}

static int mkdir_p(char *p) { /* p is modified temporarily */
  int r = xmkdir(p);
  if (r != -ENOENT) return r;
  for (char *s = p + 1; *s; s++) {
    if (*s != '/') continue;
    *s = 0;
    r = xmkdir(p);
    *s = '/';
    if (r && r != -EEXIST) return r;
  }
  return xmkdir(p);
}

static int make_dirs(const char *id) {
  char p[PATH_MAX + 64];
  int r = mkdir_p(state);
  if (r) return r;
  static const char *sub[] = {"spool", "staging", "run"};
  for (int i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s/%s", state, sub[i]);
    if ((r = xmkdir(p))) return r;
  }
  snprintf(p, sizeof p, "%s/staging/%s", state, id);
  r = (int)sys3(SYS_mkdirat, AT_FDCWD, p, 0700);
  if (r) return r;
  /* mkdir succeeding is not proof of writability for every case (e.g. a read-only bind of
   * spool/): the BEGIN write below is the second check. */
  return 0;
}

/* Finds a command the way a shell does: a name with a slash as it is; otherwise the first
 * executable regular file of that name in $PATH (/usr/local/bin:/usr/bin:/bin when unset or
 * empty), skipping directories this user cannot search (execvp would report such a directory's
 * EACCES instead of "not found"). Returns 0 or ENOENT. */
static int find_cmd(const char *name, char *out, size_t n) {
  return xc_find(name, "/usr/local/bin:/usr/bin:/bin", 1, out, n) ? ENOENT : 0;
}

static char unsafe_why[PATH_MAX + 128];

/* The state dir, its layout and this command's BEGIN record. 0, 1 (the state dir is unsafe:
 * unsafe_why says why) or -errno (state[0] is 0 when
 * there is no state dir). Not inlined: main() vforks, and gcc would warn its locals clobbered. */
__attribute__((noinline)) static int start_record(const char *id, char **cmd, int n) {
  int r = state_dir(state, sizeof state - 64);
  if (r) state[0] = 0;
  if (r == 0 && state_unsafe(state, unsafe_why, sizeof unsafe_why)) return 1; /* nothing made in it */
  if (r == 0) r = make_dirs(id);
  if (r == 0) {
    snprintf(spool_path, sizeof spool_path, "%s/spool/%s.spool", state, id);
    r = begin_command(spool_path, cmd, n, "run", NULL);
    if (r == 0) cap_reserve_fill(state, strlen(state));
    if (r) {
      char p[PATH_MAX + 64];
      snprintf(p, sizeof p, "%s/staging/%s", state, id);
      sys3(SYS_unlinkat, AT_FDCWD, p, AT_REMOVEDIR);
    }
  }
  return r;
}

static void exec_or_die(char **argv) {
  static char exe[PATH_MAX];
  if (find_cmd(argv[0], exe, sizeof exe)) {
    fprintf(stderr, "shit: %s: command not found\n", argv[0]);
    _exit(127);
  }
  execvp(exe, argv);
  int e = errno;
  fprintf(stderr, "shit: %s: %s\n", argv[0], strerror(e));
  _exit(e == ENOENT ? 127 : 126);
}

/* CMD (found at exe) runs outside capture (verdict v, r from xc_check_at): one line on stderr
 * and a NOTCAPTURED record. why: what stands in the way, when it is not the program itself. */
static void say_outside(const char *name, int v, const struct xc_result *r, const char *why) {
  if (why)
    fprintf(stderr, "shit: %s is %s and %s: what it changes is not recorded (and cannot be undone)\n", name,
            xc_what(v), why);
  else if (r->via_script)
    fprintf(stderr, "shit: %s runs %s, which is %s: what it changes is not recorded (and cannot be undone)\n",
            name, r->path, xc_what(v));
  else
    fprintf(stderr, "shit: %s is %s: what it changes is not recorded (and cannot be undone)\n", name,
            xc_what(v));
  static struct sp_buf b;
  sp_start(&b, SP_NOTCAPTURED, SP_EXEC);
  sp_add_str(&b, T_NOTE, xc_note(v));
  if (r->path[0]) sp_add_str(&b, T_PATH, r->path);
  sp_commit(&b, spool_path, 0);
}

/* Started by a chroot'd process (SHIT_RUN_ROOT: the real root, shim.c chroot_exec): shit-run
 * leaves the new root (chroot back to the real one, the working directory kept), so that /proc,
 * the spool and staging are where capture looks for them; the program is started back inside it
 * (enter_jail, in the child). jail: the new root, -1 when not started so. */
static int jail = -1, jail_cwd = -1, jail_root = -1;

static int leave_jail(const char *v) {
  char *end;
  long root = strtol(v, &end, 10);
  if (*end || root < 3 || fcntl((int)root, F_SETFD, FD_CLOEXEC)) return -EBADF;
  jail_root = (int)root;
  jail = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  jail_cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  int e = jail < 0 || jail_cwd < 0 || fchdir((int)root) || chroot(".") ? errno : 0;
  if (jail_cwd >= 0 && fchdir(jail_cwd) && !e) e = errno;
  if (e) {
    if (jail >= 0) close(jail);
    jail = -1;
    return -e; /* the real root stays open: the caller says it through it */
  }
  close((int)root);
  jail_root = -1;
  return 0;
}

/* The NOTCAPTURED for a program run inside the new root after all: what stood in the way, err. */
static void say_jailed(const char *spool, const char *what, int err) {
  char why[192];
  snprintf(why, sizeof why, "not captured: after chroot: a program started inside the new root (%s: %s)",
           what, strerror(err));
  static struct sp_buf b;
  sp_start(&b, SP_NOTCAPTURED, SP_EXEC);
  sp_add_str(&b, T_NOTE, why);
  sp_commit(&b, spool, 0);
}

/* In the child: back into the new root, in the directory it was started in. */
static void enter_jail(void) {
  if (jail >= 0 && (fchdir(jail) || chroot(".") || fchdir(jail_cwd))) {
    static const char msg[] = "shit: cannot return into the chroot\n"; /* a vfork child: no stdio */
    (void)!write(2, msg, sizeof msg - 1);
    _exit(126);
  }
}

/* The seccomp tier (native/supervise) for a statically linked program, unless SHIT_SECCOMP is
 * "off" or "0". */
static int tier_on(void) {
  const char *v = getenv("SHIT_SECCOMP");
  return !(v && (!strcmp(v, "off") || !strcmp(v, "0")));
}

/* In a chroot the shim's library cannot be loaded (its path is the real root's; the loader would
 * say so on stderr for each program) and the filter captures every program: it leaves
 * LD_PRELOAD, which is unset if nothing else was in it. */
static void drop_preload(void) {
  const char *v = getenv("LD_PRELOAD");
  size_t ll = strlen(shim_lib);
  if (!v || !ll) return;
  char *out = malloc(strlen(v) + 1), *o = out;
  if (!out) return;
  for (const char *p = v; *p;) {
    size_t n = strcspn(p, ": ");
    if (n && !(n == ll && !memcmp(p, shim_lib, ll))) {
      if (o > out) *o++ = ':';
      memcpy(o, p, n);
      o += n;
    }
    p += n;
    if (*p) p++;
  }
  *o = 0;
  if (*out) setenv("LD_PRELOAD", out, 1);
  else unsetenv("LD_PRELOAD");
  free(out);
}

/* Starts exe under the seccomp filter: fork (not vfork: the child installs the filter and sends
 * its listener back before the exec). Returns the child's pid with *listener set (-errno when
 * the filter could not be installed: the child runs uncaptured all the same), or -1 when no
 * child could be started. */
static pid_t start_supervised(const char *exe, char **cmd, const sigset_t *mask, int *listener) {
  int sv[2];
  *listener = -ENOSYS;
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    close(sv[0]);
    sigprocmask(SIG_SETMASK, mask, NULL);
    setenv("SHIT_SUPERVISED", "1", 1); /* the shim in a dynamic child: a static grandchild is captured */
    if (jail >= 0) drop_preload();
    enter_jail();
    int l = sv_install();
    sv_send(sv[1], l);
    if (l >= 0) close(l);
    close(sv[1]);
    execvp(exe, cmd);
    int e = errno;
    fprintf(stderr, "shit: %s: %s\n", cmd[0], strerror(e));
    _exit(e == ENOENT ? 127 : 126);
  }
  close(sv[1]);
  if (pid > 0) *listener = sv_recv(sv[0]);
  close(sv[0]);
  return pid;
}

/* ---- signals ---- */
static const int fwd_sigs[] = {SIGTERM, SIGHUP, SIGUSR1,   SIGUSR2, SIGCONT,
                               SIGALRM, SIGPWR, SIGVTALRM, SIGPROF};
#define NFWD (sizeof fwd_sigs / sizeof fwd_sigs[0])

static void forward(int sig) {
  int e = errno;
  if (child_pid > 0) kill(child_pid, sig);
  errno = e;
}

static void lib_path(void) {
  ssize_t n = readlink("/proc/self/exe", shim_lib, sizeof shim_lib - 16);
  if (n <= 0) return;
  shim_lib[n] = 0;
  char *slash = strrchr(shim_lib, '/');
  if (!slash) shim_lib[0] = 0;
  else strcpy(slash + 1, "libshit.so");
}

static void set_preload(void) {
  lib_path();
  const char *exe = shim_lib;
  if (!*exe) return;
  const char *old = getenv("LD_PRELOAD");
  if (!old || !*old) {
    setenv("LD_PRELOAD", exe, 1);
    return;
  }
  /* already there (a recorded shell running shit run): do not load it twice */
  size_t el = strlen(exe);
  for (const char *p = old; (p = strstr(p, exe)); p += el)
    if ((p == old || p[-1] == ':' || p[-1] == ' ') && (p[el] == 0 || p[el] == ':' || p[el] == ' ')) return;
  size_t ol = strlen(old);
  char *v = malloc(el + 1 + ol + 1);
  if (!v) return;
  memcpy(v, exe, el);
  v[el] = ':';
  memcpy(v + el + 1, old, ol + 1);
  setenv("LD_PRELOAD", v, 1);
  free(v);
}

static int run_command(const char *prog, char **cmd, int joined);

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: shit-run CMD [ARGS...]\n");
    return 2;
  }
  char **cmd = argv + 1;

  /* Joined (SHIT_RUN_JOIN set): the shim, in a captured command, hands over the exec of a
   * statically linked program (shim.c, exec_check): argv[1] is the program's path and argv[2..]
   * the argv it was started with. It runs under the seccomp tier within that command: no command
   * of its own (no BEGIN, END or end scan), the same exit status and signals. */
  const char *join = getenv("SHIT_RUN_JOIN");
  if (join && *join) {
    unsetenv("SHIT_RUN_JOIN");
    /* a program started from a descriptor (fexecve) comes as /proc/self/fd/N, N a duplicate the
     * shim made for this exec: the program does not inherit it */
    int pfd;
    char rest;
    if (argc >= 3 && sscanf(argv[1], "/proc/self/fd/%d%c", &pfd, &rest) == 1 && pfd > 2)
      fcntl(pfd, F_SETFD, FD_CLOEXEC);
    const char *root = getenv("SHIT_RUN_ROOT");
    int left = 0;
    if (root) {
      left = leave_jail(root);
      unsetenv("SHIT_RUN_ROOT");
      if (left) { /* still inside: the program runs there, outside capture; said through the real root */
        static struct cap_ctx c;
        sp_root_fd = jail_root;
        if (jail_root >= 0 && cap_ctx_load(&c)) say_jailed(c.spool, "shit-run cannot leave it", -left);
        if (jail_root >= 0) close(jail_root);
        if (argc >= 3) execv(argv[1], argv + 2);
        fprintf(stderr, "shit: %s: %s\n", argc >= 3 ? argv[1] : "shit-run", strerror(errno));
        return 126;
      }
    }
    static struct cap_ctx ctx;
    if (argc < 3 || !cap_ctx_load(&ctx)) {
      enter_jail();
      if (argc >= 3) execv(argv[1], argv + 2);
      fprintf(stderr, "shit: %s: %s\n", argc >= 3 ? argv[1] : "shit-run",
              argc >= 3 ? strerror(errno) : "nothing to run");
      return 126;
    }
    snprintf(spool_path, sizeof spool_path, "%s", ctx.spool);
    lib_path();
    return run_command(argv[1], argv + 2, 1);
  }

  /* command id */
  uint8_t rnd[8];
  char id[17];
  size_t got = 0;
  while (got < sizeof rnd) {
    ssize_t r = getrandom(rnd + got, sizeof rnd - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      /* no getrandom (very old kernel): time and pid are unique enough for one machine */
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      uint64_t x = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40);
      memcpy(rnd, &x, 8);
      break;
    }
    got += (size_t)r;
  }
  for (int i = 0; i < 8; i++) sprintf(id + 2 * i, "%02x", rnd[i]);

  int r = start_record(id, argv + 1, argc - 1);
  if (r == 1) {
    fprintf(stderr,
            "shit: not recording: refusing the state directory: %s; running the command without capture\n",
            unsafe_why);
    exec_or_die(cmd);
  }
  if (r) {
    fprintf(stderr, "shit: cannot record (%s: %s); running the command without capture\n",
            state[0] ? state : "no state directory: HOME unset", strerror(-r));
    exec_or_die(cmd);
  }

  setenv("SHIT_CMD", id, 1);
  setenv("SHIT_STATE", state, 1);
  set_preload();
  return run_command(NULL, cmd, 0);
}

/* Runs cmd (prog: its path, or NULL to look it up) and exits the way it did; joined: within
 * the command the shim runs in (see main), writing no END. */
static int run_command(const char *prog, char **cmd, int joined) {
  /* Block what the parent will ignore or forward until the handlers are in place; the child
   * restores the mask before exec and keeps the dispositions shit-run was started with. */
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGQUIT);
  for (size_t i = 0; i < NFWD; i++) sigaddset(&block, fwd_sigs[i]);
  sigprocmask(SIG_BLOCK, &block, &old);

  static char exe[PATH_MAX];
  static struct xc_result xr;
  int found =
      prog ? snprintf(exe, sizeof exe, "%s", prog) < (int)sizeof exe : find_cmd(cmd[0], exe, sizeof exe) == 0;
  /* an absolute name of a program in a chroot is from its root */
  int verdict = !found                       ? 0
                : jail >= 0 && exe[0] == '/' ? xc_check_at(jail, exe + 1, 0, &xr)
                                             : xc_check_at(AT_FDCWD, exe, 0, &xr);
  int listener = -1;
  pid_t pid = -1;
  /* in a chroot (leave_jail) a dynamic program is supervised too: the shim is not in the new root */
  if ((verdict == XC_STATIC || (jail >= 0 && verdict == XC_CAPTURED)) && tier_on()) {
    pid = start_supervised(exe, cmd, &old, &listener);
    if (pid > 0 && listener < 0) {
      char why[96];
      snprintf(why, sizeof why, "cannot be supervised (seccomp: %s)", strerror(-listener));
      if (verdict) say_outside(cmd[0], verdict, &xr, why);
      else { /* a dynamic program in a chroot */
        fprintf(stderr, "shit: %s, started inside a chroot, %s: what it changes is not recorded\n", cmd[0],
                why);
        say_jailed(spool_path, "seccomp", -listener);
      }
    }
  } else {
    if (verdict > 0) say_outside(cmd[0], verdict, &xr, NULL);
    /* vfork: no page-table copy (fork costs ~0.3-1 ms more in a VM); the child only restores the
     * mask and execs, and reports an exec failure through exec_errno (shared memory). */
    pid = vfork();
    if (pid == 0) {
      sigprocmask(SIG_SETMASK, &old, NULL);
      enter_jail();
      if (found) {
        execvp(exe, cmd);
        exec_errno = errno;
      } else {
        exec_errno = ENOENT;
      }
      _exit(exec_errno == ENOENT ? 127 : 126);
    }
  }
  if (pid < 0) {
    int e = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    fprintf(stderr, "shit: fork: %s\n", strerror(e));
    static struct sp_buf b;
    sp_start(&b, SP_END, 0);
    sp_commit(&b, spool_path, 126);
    return 126;
  }
  child_pid = pid;
  if (exec_errno == ENOENT && !strchr(cmd[0], '/')) fprintf(stderr, "shit: %s: command not found\n", cmd[0]);
  else if (exec_errno) fprintf(stderr, "shit: %s: %s\n", cmd[0], strerror(exec_errno));
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGQUIT, &sa, NULL);
  sa.sa_handler = forward;
  sa.sa_flags = SA_RESTART;
  sigfillset(&sa.sa_mask);
  for (size_t i = 0; i < NFWD; i++) sigaction(fwd_sigs[i], &sa, NULL);
  sigprocmask(SIG_SETMASK, &old, NULL);
  if (listener >= 0) sv_serve(listener, pid, shim_lib); /* until the child exits */

  /* Wait without reaping, so a signal forwarded after the exit hits a zombie, never a reused
   * pid; then block forwarding and reap. */
  siginfo_t si;
  for (;;) {
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) == 0) break;
    if (errno != EINTR) break;
  }
  sigprocmask(SIG_BLOCK, &block, NULL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  child_pid = 0;

  int code, sig = 0;
  if (WIFEXITED(status)) code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) {
    sig = WTERMSIG(status);
    code = 128 + sig;
  } else code = 255;

  if (!joined) {
    static struct sp_buf b;
    sp_start(&b, SP_END, (uint32_t)sig);
    sp_commit(&b, spool_path, code);
    end_scan(spool_path);
  }

  if (sig) {
    struct rlimit nocore = {0, 0};
    setrlimit(RLIMIT_CORE, &nocore); /* the child dumped core already, if it did */
    signal(sig, SIG_DFL);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    sigprocmask(SIG_UNBLOCK, &one, NULL);
    raise(sig);
  }
  return code;
}
