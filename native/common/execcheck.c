/* execcheck.c — will a program about to be started run outside capture?
 *
 * Shared by the shim's exec wrappers (native/shim/shim.c: execve & co., posix_spawn[p]) and by
 * shit-run (native/run/run.c, on the command it starts). All I/O through sys.h (raw system calls): safe inside interposed
 * calls, never touches errno, never re-enters the shim.
 *
 * The preloaded shim cannot see into two kinds of program:
 *  - set-user-ID / set-group-ID programs that change this process's identity (sudo, su, passwd,
 *    mount…): the kernel marks such an exec AT_SECURE and the loader then ignores LD_PRELOAD.
 *    That happens exactly when the file's owner (setuid) / group (setgid, group-executable) is
 *    not the process's effective or real user (group): a setuid copy of a binary you own, or a
 *    setuid-root binary run by root, changes no identity, keeps the shim, and is NOT flagged.
 *    The bits are ignored on a nosuid mount, so there nothing is flagged either.
 *  - statically linked ELF programs (no PT_INTERP program header: Go programs, busybox-static,
 *    static-pie too): no loader at all.
 * A `#!` script is judged by its interpreter (one level; the kernel ignores the set-ID bits of a
 * script itself). Anything else (dynamic ELF, not executable, unreadable header, not ELF) is
 * "captured": a check that cannot decide never flags.
 *
 * Not detected: file capabilities (security.capability: also AT_SECURE for a non-root user),
 * programs of another ELF class or libc (a 32-bit or musl program does not load the shim),
 * programs that drop the environment themselves (sudo's env_reset also drops SHIT_CMD).
 *
 * Cost: one open, one statx, one read of <= 4 KiB, one close (plus one access() per PATH entry
 * tried by the search); more only for a script's interpreter or a flagged file. */
#define _GNU_SOURCE
#include "execcheck.h"
#include "spool.h"
#include "sys.h"
#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* The NOTE of the NOTCAPTURED record (docs/SPOOL.md) */
const char *xc_note(int verdict) {
  switch (verdict) {
  case XC_SETUID: return "setuid program: changes it makes are not captured";
  case XC_SETGID: return "setgid program: changes it makes are not captured";
  case XC_STATIC: return "statically linked: changes it makes are not captured";
  default: return "";
  }
}

/* The same, said to a person (shit-run's stderr line): "a setuid program" etc. */
const char *xc_what(int verdict) {
  switch (verdict) {
  case XC_SETUID: return "a setuid program";
  case XC_SETGID: return "a setgid program";
  case XC_STATIC: return "statically linked";
  default: return "";
  }
}

static void xc_close(long fd) {
  if (fd >= 0) sys1(SYS_close, fd);
}

/* Does exec'ing a file with this stat change the process's identity (AT_SECURE)? */
static int xc_setid(int fd, const struct sp_stat *st) {
  int v = 0;
  if ((st->mode & S_ISUID) &&
      (st->uid != (uint32_t)sys0(SYS_geteuid) || st->uid != (uint32_t)sys0(SYS_getuid)))
    v = XC_SETUID;
  else if ((st->mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP) &&
           (st->gid != (uint32_t)sys0(SYS_getegid) || st->gid != (uint32_t)sys0(SYS_getgid)))
    v = XC_SETGID;
  if (v) { /* on a nosuid mount the bits do nothing */
    struct statfs sf;
    if (sys2(SYS_fstatfs, fd, &sf) == 0 && (sf.f_flags & ST_NOSUID)) v = 0;
  }
  return v;
}

/* Statically linked ELF (no PT_INTERP)? buf holds the first n bytes of the file. */
static int xc_static_elf(int fd, const unsigned char *buf, long n) {
  if (n < EI_NIDENT || memcmp(buf, ELFMAG, SELFMAG) != 0) return 0;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (buf[EI_DATA] != ELFDATA2LSB) return 0;
#else
  if (buf[EI_DATA] != ELFDATA2MSB) return 0;
#endif
  uint64_t phoff;
  unsigned phnum, phentsize, type;
  int is64 = buf[EI_CLASS] == ELFCLASS64;
  if (is64) {
    if (n < (long)sizeof(Elf64_Ehdr)) return 0;
    const Elf64_Ehdr *h = (const Elf64_Ehdr *)buf;
    phoff = h->e_phoff;
    phnum = h->e_phnum;
    phentsize = h->e_phentsize;
    type = h->e_type;
    if (phentsize < sizeof(Elf64_Phdr)) return 0;
  } else if (buf[EI_CLASS] == ELFCLASS32) {
    if (n < (long)sizeof(Elf32_Ehdr)) return 0;
    const Elf32_Ehdr *h = (const Elf32_Ehdr *)buf;
    phoff = h->e_phoff;
    phnum = h->e_phnum;
    phentsize = h->e_phentsize;
    type = h->e_type;
    if (phentsize < sizeof(Elf32_Phdr)) return 0;
  } else {
    return 0;
  }
  if ((type != ET_EXEC && type != ET_DYN) || phnum == 0 || phnum >= PN_XNUM) return 0;
  uint64_t end = phoff + (uint64_t)phnum * phentsize;
  unsigned char more[4096];
  const unsigned char *ph;
  if (end <= (uint64_t)n) {
    ph = buf + phoff;
  } else { /* program headers past the first read (unusual): one more read */
    if ((uint64_t)phnum * phentsize > sizeof more) return 0;
    long k = sys4(SYS_pread64, fd, more, (long)phnum * phentsize, (long)phoff);
    if (k != (long)phnum * phentsize) return 0;
    ph = more;
  }
  for (unsigned i = 0; i < phnum; i++, ph += phentsize) {
    uint32_t pt;
    memcpy(&pt, ph, 4); /* p_type is the first word in both classes */
    if (pt == PT_INTERP) return 0;
  }
  return XC_STATIC;
}

/* Fills r->path with the absolute name of the open file fd (or `given`, made absolute). */
static void xc_name(int fd, const char *given, struct xc_result *r) {
  char proc[32] = "/proc/self/fd/";
  char *q = proc + 14, d[12];
  int k = 0;
  unsigned v = (unsigned)fd;
  do {
    d[k++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (k) *q++ = d[--k];
  *q = 0;
  long n = sys4(SYS_readlinkat, AT_FDCWD, proc, r->path, sizeof r->path - 1);
  if (n > 0 && r->path[0] == '/') {
    r->path[n] = 0;
    return;
  }
  size_t gl = given ? strlen(given) : 0;
  if (given && given[0] == '/' && gl < sizeof r->path) {
    memcpy(r->path, given, gl + 1);
    return;
  }
  long c = sys2(SYS_getcwd, r->path, sizeof r->path);
  size_t cl = c > 0 ? strlen(r->path) : 0;
  if (c <= 0 || cl + 1 + gl >= sizeof r->path) {
    r->path[0] = 0;
    return;
  }
  if (cl > 1) r->path[cl++] = '/';
  memcpy(r->path + cl, given, gl + 1);
}

/* The verdict for the file fd (open O_RDONLY, or O_PATH when unreadable: set-ID check only).
 * depth 0: the file being started (-1 when it is not a regular file); 1: a script's
 * interpreter. */
static int xc_examine(int fd, int readable, const char *given, struct xc_result *r, int depth) {
  struct sp_stat st;
  if (sp_statat(fd, "", AT_EMPTY_PATH, &st) != 0 || !S_ISREG(st.mode)) return depth ? XC_CAPTURED : -1;
  unsigned char buf[4096];
  long n = readable ? sys4(SYS_pread64, fd, buf, sizeof buf, 0) : -1;
  if (n >= 2 && buf[0] == '#' && buf[1] == '!') {
    if (depth > 0) return XC_CAPTURED; /* one level: an interpreter that is a script is not followed */
    /* the interpreter: after "#!" and blanks, up to a blank or the end of the line (the
     * kernel reads at most the first 256 bytes) */
    long i = 2, lim = n < 256 ? n : 256;
    while (i < lim && (buf[i] == ' ' || buf[i] == '\t')) i++;
    long s = i;
    while (i < lim && buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\n' && buf[i] != 0) i++;
    if (i == s || i >= lim || (size_t)(i - s) >= PATH_MAX) return XC_CAPTURED;
    char interp[PATH_MAX];
    memcpy(interp, buf + s, (size_t)(i - s));
    interp[i - s] = 0;
    long ifd = sys4(SYS_openat, AT_FDCWD, interp, O_RDONLY | O_CLOEXEC, 0);
    int ird = ifd >= 0;
    if (ifd < 0) ifd = sys4(SYS_openat, AT_FDCWD, interp, O_PATH | O_CLOEXEC, 0);
    if (ifd < 0) return XC_CAPTURED;
    int v = xc_examine((int)ifd, ird, interp, r, depth + 1);
    xc_close(ifd);
    if (v) r->via_script = 1;
    return v;
  }
  int v = xc_setid(fd, &st);
  if (!v && n > 0) v = xc_static_elf(fd, buf, n);
  if (v) {
    r->verdict = v;
    xc_name(fd, given, r);
  }
  return v;
}

/* The verdict for the file at dirfd/path (at_flags: AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW as
 * execveat takes them). -1 when it is not an existing regular file this process may execute
 * (the search then tries the next directory), else XC_*. */
int xc_check_at(int dirfd, const char *path, int at_flags, struct xc_result *r) {
  r->verdict = XC_CAPTURED;
  r->via_script = 0;
  r->path[0] = 0;
  if (!path) return -1;
  long fd;
  int readable = 1;
  if (path[0] == 0 && (at_flags & AT_EMPTY_PATH)) {
    fd = sys3(SYS_fcntl, dirfd, F_DUPFD_CLOEXEC, 0);
  } else {
    if (sys3(SYS_faccessat, dirfd, path, X_OK) != 0) return -1;
    int of = O_CLOEXEC | ((at_flags & AT_SYMLINK_NOFOLLOW) ? O_NOFOLLOW : 0);
    fd = sys4(SYS_openat, dirfd, path, O_RDONLY | of, 0);
    if (fd < 0) {
      readable = 0;
      fd = sys4(SYS_openat, dirfd, path, O_PATH | of, 0);
    }
  }
  if (fd < 0) return -1;
  int v = xc_examine((int)fd, readable, path[0] ? path : NULL, r, 0);
  xc_close(fd);
  return v;
}

/* fexecve: the verdict for an open descriptor */
int xc_check_fd(int fd, struct xc_result *r) {
  int v = xc_check_at(fd, "", AT_EMPTY_PATH, r);
  return v < 0 ? XC_CAPTURED : v;
}

int xc_search(const char *file, const char *path, char *cand, size_t n,
              int (*accept)(const char *cand, void *arg), void *arg) {
  if (!file || !*file) return -1;
  size_t fl = strlen(file);
  if (strchr(file, '/')) {
    if (fl >= n) return -1;
    memcpy(cand, file, fl + 1);
    return accept(cand, arg);
  }
  if (fl > NAME_MAX) return -1;
  for (const char *p = path;;) {
    const char *e = strchr(p, ':');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len + 1 + fl < n) {
      memcpy(cand, p, len);
      size_t k = len;
      if (len) cand[k++] = '/';
      memcpy(cand + k, file, fl + 1);
      int v = accept(cand, arg);
      if (v >= 0) return v;
    }
    if (!e) break;
    p = e + 1;
  }
  return -1;
}

static int accept_check(const char *cand, void *r) { return xc_check_at(AT_FDCWD, cand, 0, r); }

/* execvp / execvpe / execlp / posix_spawnp: the calling environment's PATH ("/bin:/usr/bin"
 * when PATH is unset, as glibc). Nothing found: XC_CAPTURED (the call will fail). */
int xc_check_search(const char *file, struct xc_result *r) {
  r->verdict = XC_CAPTURED;
  r->via_script = 0;
  const char *path = getenv("PATH");
  char cand[PATH_MAX];
  int v = xc_search(file, path ? path : "/bin:/usr/bin", cand, sizeof cand, accept_check, r);
  return v < 0 ? XC_CAPTURED : v;
}

/* an executable regular file (following symlinks) */
static int accept_exec(const char *cand, void *arg) {
  struct sp_stat st;
  return sp_statat(AT_FDCWD, cand, 0, &st) == 0 && S_ISREG(st.mode) &&
                 sys3(SYS_faccessat, AT_FDCWD, cand, X_OK) == 0
             ? 0
             : -1;
}

int xc_find(const char *file, const char *dflt, int empty_is_unset, char *out, size_t n) {
  if (file && strchr(file, '/')) { /* as it is: the exec says what is wrong with it */
    if (strlen(file) >= n) return -1;
    strcpy(out, file);
    return 0;
  }
  const char *path = getenv("PATH");
  if (!path || (empty_is_unset && !*path)) path = dflt;
  return xc_search(file, path, out, n, accept_exec, NULL) < 0 ? -1 : 0;
}
