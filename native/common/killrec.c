/* killrec.c — records of the processes a captured call is about to end; see killrec.h. */
#define _GNU_SOURCE
#include "killrec.h"
#include "sys.h"
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>

#define KR_MAX_TARGETS 64      /* a group kill records at most this many processes */
#define KR_MAX_FILE (1u << 20) /* of a target's cmdline or environ, at most this much is kept */

int kr_wants(int sig) { return kr_may_end(sig) && cap_active(); }

int kr_may_end(int sig) {
  return kr_fatal(sig) || sig == SIGUSR1 || sig == SIGUSR2 || (sig >= 32 && sig <= 64);
}

int kr_fatal(int sig) {
  switch (sig) { /* the signals whose default action ends the process (signal(7)), but USR1/2 */
  case SIGHUP:
  case SIGINT:
  case SIGQUIT:
  case SIGILL:
  case SIGTRAP:
  case SIGABRT:
  case SIGBUS:
  case SIGFPE:
  case SIGKILL:
  case SIGSEGV:
  case SIGPIPE:
  case SIGALRM:
  case SIGTERM:
  case SIGSTKFLT:
  case SIGXCPU:
  case SIGXFSZ:
  case SIGVTALRM:
  case SIGPROF:
  case SIGPWR:
  case SIGSYS: return 1;
  default: return 0;
  }
}

/* ---- small helpers: no libc calls the shim interposes, no allocation but mmap ---- */

static size_t put_str(char *out, size_t n, const char *s) {
  while (*s) out[n++] = *s++;
  out[n] = 0;
  return n;
}

static size_t put_num(char *out, size_t n, long v) {
  char d[24];
  int k = 0;
  if (v < 0) {
    out[n++] = '-';
    v = -v;
  }
  do d[k++] = (char)('0' + v % 10);
  while ((v /= 10) && k < 23);
  while (k) out[n++] = d[--k];
  out[n] = 0;
  return n;
}

/* "/proc/<pid>/<what>" */
static void proc_path(char out[64], long pid, const char *what) {
  size_t n = put_str(out, 0, "/proc/");
  n = put_num(out, n, pid);
  n = put_str(out, n, "/");
  put_str(out, n, what);
}

struct grow {
  uint8_t *p;
  size_t n, cap;
  int cut; /* longer than KR_MAX_FILE: the rest was left out */
};

static void grow_free(struct grow *g) {
  if (g->p) sys2(SYS_munmap, g->p, g->cap);
  g->p = NULL;
  g->n = g->cap = 0;
}

/* The whole of a (/proc) file into g. Returns 0 or -errno. */
static long slurp(const char *path, struct grow *g) {
  g->n = 0;
  g->cut = 0;
  long fd = sys4(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return fd;
  long rc = 0;
  for (;;) {
    if (g->n == g->cap) {
      if (g->cap >= KR_MAX_FILE) {
        g->cut = 1;
        break;
      }
      size_t cap = g->cap ? g->cap * 2 : 16384;
      long m = g->p
                   ? sys4(SYS_mremap, g->p, g->cap, cap, MREMAP_MAYMOVE)
                   : sys6(SYS_mmap, 0, (long)cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (m < 0 && m > -4096) {
        g->cut = 1;
        break;
      }
      g->p = (uint8_t *)m;
      g->cap = cap;
    }
    long k = sys3(SYS_read, fd, g->p + g->n, g->cap - g->n);
    if (k == -4 /* EINTR */) continue;
    if (k < 0) rc = k;
    if (k <= 0) break;
    g->n += (size_t)k;
  }
  sys1(SYS_close, fd);
  return rc;
}

/* A number after "Name:\t" in a /proc status-like text, or -1. */
static long field_num(const struct grow *g, const char *name) {
  size_t nl = strlen(name);
  for (size_t i = 0; i + nl < g->n; i++) {
    if ((i == 0 || g->p[i - 1] == '\n') && !memcmp(g->p + i, name, nl)) {
      size_t j = i + nl;
      while (j < g->n && (g->p[j] == ' ' || g->p[j] == '\t')) j++;
      long v = -1;
      for (; j < g->n && g->p[j] >= '0' && g->p[j] <= '9'; j++) v = (v < 0 ? 0 : v * 10) + (g->p[j] - '0');
      return v;
    }
  }
  return -1;
}

/* A mask after "Name:\t" in a /proc status text (hex, as SigCgt is written), or 0. */
static uint64_t field_hex(const struct grow *g, const char *name) {
  size_t nl = strlen(name);
  for (size_t i = 0; i + nl < g->n; i++) {
    if ((i == 0 || g->p[i - 1] == '\n') && !memcmp(g->p + i, name, nl)) {
      uint64_t v = 0;
      for (size_t j = i + nl; j < g->n && g->p[j] != '\n'; j++) {
        char c = (char)g->p[j];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d >= 0) v = v << 4 | (uint64_t)d;
      }
      return v;
    }
  }
  return 0;
}

/* Field `nth` (1-based, as proc(5) numbers them) of /proc/PID/stat, counted after the comm's
 * closing parenthesis (a comm may hold spaces and parentheses), or -1. */
static long stat_field(const struct grow *g, int nth) {
  size_t i = g->n;
  while (i > 0 && g->p[i - 1] != ')') i--;
  if (!i) return -1;
  int f = 2;
  while (i < g->n) {
    while (i < g->n && g->p[i] == ' ') i++;
    if (++f == nth) {
      long v = 0;
      int neg = i < g->n && g->p[i] == '-';
      for (i += neg; i < g->n && g->p[i] >= '0' && g->p[i] <= '9'; i++) v = v * 10 + (g->p[i] - '0');
      return neg ? -v : v;
    }
    while (i < g->n && g->p[i] != ' ') i++;
  }
  return -1;
}

/* Does the environment hold exactly "SHIT_CMD=<cmd>"? */
static int same_command(const struct grow *env, const char *cmd) {
  char want[64];
  size_t n = put_str(want, 0, "SHIT_CMD=");
  n = put_str(want, n, cmd);
  for (size_t i = 0; i < env->n;) {
    size_t j = i;
    while (j < env->n && env->p[j]) j++;
    if (j - i == n && !memcmp(env->p + i, want, n)) return 1;
    i = j + 1;
  }
  return 0;
}

static void arena_put(struct kr_call *k, const uint8_t *p, size_t n) {
  if (k->len + n > k->cap) {
    size_t cap = k->cap ? k->cap : 65536;
    while (cap < k->len + n) cap *= 2;
    long m = k->arena
                 ? sys4(SYS_mremap, k->arena, k->cap, cap, MREMAP_MAYMOVE)
                 : sys6(SYS_mmap, 0, (long)cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m < 0 && m > -4096) return; /* this one is lost; the others still go */
    k->arena = (uint8_t *)m;
    k->cap = cap;
  }
  memcpy(k->arena + k->len, p, n);
  k->len += n;
}

static void note_rec(struct kr_call *k, int sig, long pid, const char *why) {
  struct sp_buf b;
  sp_start(&b, SP_NOTCAPTURED, SP_KILL);
  sp_add_str(&b, T_NOTE, why);
  sp_add_i64(&b, T_ARG, pid);
  (void)sig;
  arena_put(k, b.p, sp_seal(&b, 0));
  sp_release(&b);
}

/* One process about to get sig: its record into the arena, unless it is not to be recorded.
 * Returns 1 when recorded. */
static int add_target(struct kr_call *k, long caller, long pid, int sig, struct grow *g) {
  if (pid <= 0 || pid == caller) return 0; /* the caller ending itself is the command's own end */
  char path[64];
  if (!kr_fatal(sig)) {
    /* USR1, USR2, a real-time signal: its default action ends the process too, but a program sent
     * one mostly handles it (a reload, a log rotation) or waits for it blocked (sigwaitinfo): it
     * ends the process only where it is neither caught, ignored nor blocked */
    proc_path(path, pid, "status");
    if (slurp(path, g) == 0) {
      uint64_t bit = 1ull << (sig - 1);
      if ((field_hex(g, "SigCgt:") | field_hex(g, "SigIgn:") | field_hex(g, "SigBlk:")) & bit) return 0;
    }
  }
  struct grow env = {0};
  proc_path(path, pid, "environ");
  long env_rc = slurp(path, &env);
  if (env_rc == 0 && same_command(&env, k->ctx.cmd)) {
    grow_free(&env);
    return 0;
  }
  proc_path(path, pid, "cmdline");
  long argv_rc = slurp(path, g);
  if (argv_rc == -2 /* ENOENT */ || argv_rc == -3 /* ESRCH */ || (argv_rc == 0 && !g->n && !env.n)) {
    grow_free(&env); /* gone, a zombie or a kernel thread: nothing ends that a restart brings back */
    return 0;
  }
  struct sp_buf b;
  sp_start(&b, SP_KILL, (uint32_t)sig);
  sp_add_i64(&b, T_ARG, pid);
  if (argv_rc == 0) sp_add(&b, T_ARGV, g->p, g->n);
  const char *why = argv_rc  ? "not captured: its command line could not be read"
                    : env_rc ? "not captured: its environment could not be read (another user's process?)"
                    : (g->cut || env.cut)
                        ? "not captured: its command line or environment was too long, and was cut"
                        : NULL;
  if (env_rc == 0) sp_add(&b, T_ENV, env.p, env.n);
  grow_free(&env);
  char link[PATH_MAX];
  proc_path(path, pid, "cwd");
  long n = sys4(SYS_readlinkat, AT_FDCWD, path, link, sizeof link - 1);
  if (n > 0 && link[0] == '/') sp_add(&b, T_CWD, link, (size_t)n);
  else if (!why) why = "not captured: its working directory could not be read";
  proc_path(path, pid, "exe");
  n = sys4(SYS_readlinkat, AT_FDCWD, path, link, sizeof link - 1);
  if (n > 0 && link[0] == '/') sp_add(&b, T_PATH, link, (size_t)n);
  proc_path(path, pid, "stat");
  if (slurp(path, g) == 0) {
    long start = stat_field(g, 22);
    if (start >= 0) sp_add_i64(&b, T_START, start);
  }
  if (why) sp_add_str(&b, T_NOTE, why);
  arena_put(k, b.p, sp_seal(&b, 0));
  sp_release(&b);
  return 1;
}

/* Every process of group pgrp (a /proc walk: group kills are rare, and this is before them). */
static void add_group(struct kr_call *k, long caller, long pgrp, int sig, struct grow *g) {
  long dfd = sys4(SYS_openat, AT_FDCWD, "/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (dfd < 0) {
    note_rec(k, sig, -pgrp, "not captured: /proc could not be read to find the group's processes");
    return;
  }
  char dents[4096], path[64];
  int count = 0, more = 0;
  for (;;) {
    long r = sys3(SYS_getdents64, dfd, dents, sizeof dents);
    if (r <= 0) break;
    for (long off = 0; off < r;) {
      struct sys_dirent64 *d = (void *)(dents + off);
      off += d->reclen;
      long pid = 0;
      const char *c = d->name;
      for (; *c >= '0' && *c <= '9'; c++) pid = pid * 10 + (*c - '0');
      if (*c || !pid) continue;
      proc_path(path, pid, "stat");
      if (slurp(path, g) != 0 || stat_field(g, 5) != pgrp) continue;
      if (count >= KR_MAX_TARGETS) more = 1;
      else count += add_target(k, caller, pid, sig, g);
    }
  }
  sys1(SYS_close, dfd);
  if (more) note_rec(k, sig, -pgrp, "not captured: the group had more processes than are recorded (64)");
}

void kr_before(struct kr_call *k, int how, long who, int sig) {
  kr_before_for(k, sys0(SYS_getpid), how, who, sig);
}

void kr_before_for(struct kr_call *k, long caller, int how, long who, int sig) {
  k->on = 0;
  k->arena = NULL;
  k->len = k->cap = 0;
  if (!cap_ctx_load(&k->ctx)) return;
  k->on = 1;
  struct grow g = {0};
  if (how == KR_PIDFD) {
    char path[64];
    proc_path(path, caller, "fdinfo/");
    put_num(path, strlen(path), who);
    long pid = slurp(path, &g) == 0 ? field_num(&g, "Pid:") : -1;
    if (pid <= 0) { /* a /proc/PID directory fd is a pidfd too (killall opens those) */
      char link[64];
      proc_path(path, caller, "fd/");
      put_num(path, strlen(path), who);
      long n = sys4(SYS_readlinkat, AT_FDCWD, path, link, sizeof link - 1);
      if (n > 6 && !memcmp(link, "/proc/", 6)) {
        pid = 0;
        for (long i = 6; i < n && pid >= 0; i++)
          pid = link[i] >= '0' && link[i] <= '9' ? pid * 10 + (link[i] - '0') : -1;
      }
    }
    if (pid > 0) add_target(k, caller, pid, sig, &g);
  } else if (how == KR_TID) {
    char path[64];
    proc_path(path, who, "status");
    long tgid = slurp(path, &g) == 0 ? field_num(&g, "Tgid:") : -1;
    if (tgid > 0) add_target(k, caller, tgid, sig, &g);
  } else if (who > 0) add_target(k, caller, who, sig, &g);
  else if (who == -1)
    note_rec(k, sig, -1, "not captured: a signal to every process the caller may signal (kill -1)");
  else add_group(k, caller, who ? -who : sys1(SYS_getpgid, caller), sig, &g);
  grow_free(&g);
}

void kr_after(struct kr_call *k, int err) {
  if (!k->on || !k->arena) return;
  for (size_t off = 0; off + SP_HDR <= k->len;) { /* the call's errno into each record */
    uint32_t len;
    memcpy(&len, k->arena + off, 4);
    memcpy(k->arena + off + 12, &err, 4);
    if (len < SP_HDR) break;
    off += len;
  }
  sp_append(k->ctx.spool, k->arena, k->len); /* as any record: the held spool, the real root */
  sys2(SYS_munmap, k->arena, k->cap);
  k->arena = NULL;
}

int kr_syscall(long nr, long a, long b, long c, int *how, long *who) {
  switch (nr) {
  case SYS_kill:
  case SYS_rt_sigqueueinfo: *how = KR_PID, *who = a; return (int)b;
  case SYS_tkill: *how = KR_TID, *who = a; return (int)b;
  case SYS_tgkill:
  case SYS_rt_tgsigqueueinfo: *how = KR_TID, *who = b; return (int)c;
  case SYS_pidfd_send_signal: *how = KR_PIDFD, *who = a; return (int)b;
  default: return -1;
  }
}
