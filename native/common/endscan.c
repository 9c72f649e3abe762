/* endscan.c — the end-of-command scan shared by shit-run and shit-apply (docs/SPOOL.md, op POST):
 * after the command, one POST record per distinct PATH / PATH2 of the spool's successful effect
 * records (ops UNLINK..MKNOD), with the path's lstat now (no POST field: it does not exist).
 * Also run by the shim inside a hooked shell's own process when a typed command ends
 * (capture.c, shell_end): so file I/O goes through sys.h (nothing interposed is re-entered, errno
 * is not touched); the only libc calls are calloc/realloc/free and clock_gettime, safe there
 * because the shell is in its own code, not in a signal handler or in malloc. */
#define _GNU_SOURCE
#include "endscan.h"
#include "capture.h"
#include "spool.h"
#include "sys.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

const struct sp_stat *(*end_scan_known)(const char *path);

/* The distinct paths, copied into one arena as the spool is read, so that the spool's pages can
 * be let go behind the read (an rm -rf's spool is ~480 bytes a file, its paths ~10% of that). */
struct ent {
  uint64_t off; /* into set.a */
  uint32_t n;
  uint32_t h;
};
struct set { /* insertion-ordered: POST records come out in first-touch order */
  struct ent *e;
  size_t n, ecap;
  uint32_t *t;
  size_t cap; /* open addressing: index+1 into e, 0 empty */
  uint8_t *a;
  size_t an, acap;
};

static uint32_t hash(const uint8_t *p, size_t n) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a, 64-bit, folded */
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return (uint32_t)(h ^ (h >> 32));
}

static int set_grow(struct set *s) {
  size_t ncap = s->cap ? s->cap * 2 : 1024;
  uint32_t *nt = calloc(ncap, sizeof *nt);
  if (!nt) return -1;
  for (size_t i = 0; i < s->n; i++) {
    size_t j = s->e[i].h & (ncap - 1);
    while (nt[j]) j = (j + 1) & (ncap - 1);
    nt[j] = (uint32_t)i + 1;
  }
  free(s->t);
  s->t = nt;
  s->cap = ncap;
  return 0;
}

static const uint8_t *ent_path(const struct set *s, size_t i) { return s->a + s->e[i].off; }

/* the index+1 of p in s, 0 when absent */
static size_t set_find(const struct set *s, const uint8_t *p, uint32_t n) {
  if (!s->cap) return 0;
  uint32_t h = hash(p, n);
  for (size_t j = h & (s->cap - 1); s->t[j]; j = (j + 1) & (s->cap - 1)) {
    const struct ent *x = &s->e[s->t[j] - 1];
    if (x->h == h && x->n == n && !memcmp(s->a + x->off, p, n)) return s->t[j];
  }
  return 0;
}

/* 1 added (p copied into the arena), 0 already there, -1 out of memory */
static int set_add(struct set *s, const uint8_t *p, uint32_t n) {
  if ((s->n + 1) * 2 > s->cap && set_grow(s)) return -1;
  uint32_t h = hash(p, n);
  size_t j = h & (s->cap - 1);
  while (s->t[j]) {
    const struct ent *x = &s->e[s->t[j] - 1];
    if (x->h == h && x->n == n && !memcmp(s->a + x->off, p, n)) return 0;
    j = (j + 1) & (s->cap - 1);
  }
  if (s->n == s->ecap) {
    size_t nc = s->ecap ? s->ecap * 2 : 512;
    struct ent *ne = realloc(s->e, nc * sizeof *ne);
    if (!ne) return -1;
    s->e = ne;
    s->ecap = nc;
  }
  if (s->an + n > s->acap) {
    size_t nc = s->acap ? s->acap * 2 : 65536;
    while (nc < s->an + n) nc *= 2;
    uint8_t *na = realloc(s->a, nc);
    if (!na) return -1;
    s->a = na;
    s->acap = nc;
  }
  memcpy(s->a + s->an, p, n);
  s->e[s->n] = (struct ent){s->an, n, h};
  s->an += n;
  s->t[j] = (uint32_t)++s->n;
  return 1;
}

/* POST records are gathered in a 64 KiB buffer and appended whole records at a time (a
 * reader only needs each record to be whole). A small reused buffer, not one sized for all
 * records: page faults cost more than write() calls here. */
struct out {
  uint8_t p[65536];
  size_t n;
  long fd;
};

static void out_flush(struct out *o, const char *spool_path) {
  size_t done = 0;
  int gave = 0;
  if (o->fd < 0) o->fd = sys4(SYS_openat, AT_FDCWD, spool_path, O_WRONLY | O_APPEND | O_CLOEXEC, 0600);
  while (o->fd >= 0 && done < o->n) {
    long w = sys3(SYS_write, o->fd, o->p + done, o->n - done);
    if (w == -EINTR) continue;
    /* a full disk: the rest with room from the state dir's reserve (capture.c), <state>/spool/x */
    if ((w == -ENOSPC || w == -EDQUOT) && gave++ < 4) {
      const char *e = strrchr(spool_path, '/');
      size_t sl = e ? (size_t)(e - spool_path) : 0;
      while (sl > 0 && spool_path[sl - 1] != '/') sl--;
      if (sl > 1 && cap_reserve_give(spool_path, sl - 1, (long long)(o->n - done), 0)) continue;
    }
    if (w <= 0) break;
    done += (size_t)w;
  }
  o->n = 0;
}

static void out_put(struct out *o, const uint8_t *p, size_t n, const char *spool_path) {
  if (o->n + n > sizeof o->p) out_flush(o, spool_path);
  if (n > sizeof o->p) return; /* cannot happen: PATH < PATH_MAX */
  memcpy(o->p + o->n, p, n);
  o->n += n;
}

/* Fill a record's header the way sp_commit does (docs/SPOOL.md "Record"), without writing. */
static void seal(struct sp_buf *b, int32_t pid, int64_t now) {
  uint32_t len = (uint32_t)b->n, nf = b->nfields;
  uint16_t magic = SP_MAGIC;
  int32_t err = 0;
  memcpy(b->p, &len, 4);
  memcpy(b->p + 4, &magic, 2);
  b->p[6] = SP_VERSION;
  memcpy(b->p + 8, &pid, 4);
  memcpy(b->p + 12, &err, 4);
  memcpy(b->p + 16, &now, 8);
  memcpy(b->p + 28, &nf, 4);
}

/* The spool's pages already read are let go every DROP_STEP bytes: a private read-only file
 * mapping, so a page touched again (sp_resync looks ahead) is read again from the file. */
#define DROP_STEP (8u << 20)
/* The stats of at most this many paths found there are kept from the first pass to the second
 * (80 bytes each: 32 MiB); any further path found there is stat'ed again when its POST is made. */
#define KEEP_STATS (400u * 1024)

static int stat_now(struct sp_dir *dir, const char *path, struct sp_stat *st) {
  const struct sp_stat *k = end_scan_known ? end_scan_known(path) : NULL;
  if (k) *st = *k;
  return k || sp_lstat_in_dir(dir, path, st) == 0;
}

void end_scan(const char *spool_path) {
  size_t len = 0, off = 0;
  long fd = sys4(SYS_openat, AT_FDCWD, spool_path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return;
  struct stat fst;
  if (sys2(SYS_fstat, fd, &fst) < 0 || fst.st_size <= 0) {
    sys1(SYS_close, fd);
    return;
  }
  len = (size_t)fst.st_size;
  long m = sys6(SYS_mmap, 0, (long)len, PROT_READ, MAP_PRIVATE, fd, 0);
  sys1(SYS_close, fd);
  if (m < 0 && m > -4096) return;
  uint8_t *buf = (uint8_t *)m;
  sys3(SYS_madvise, buf, len, MADV_SEQUENTIAL);
  size_t dropped = 0; /* page-aligned: the spool's bytes before it are let go */
  struct set s = {0};
  struct sp_view v;
  int oom = 0;
  int r;
  while (!oom) {
    if (off - dropped >= DROP_STEP) {
      size_t to = off & ~(size_t)4095;
      sys3(SYS_madvise, buf + dropped, to - dropped, MADV_DONTNEED);
      dropped = to;
    }
    if ((r = sp_next(buf, len, &off, &v)) == 0) break;
    if (r < 0) { /* a record torn by a killed writer: go on after it */
      size_t n = sp_resync(buf, len, off);
      if (n == (size_t)-1) break;
      off = n;
      continue;
    }
    if (v.op < SP_UNLINK || v.op > SP_MKNOD || v.err != 0) continue;
    for (int t = T_PATH; t <= T_PATH2; t++)
      if (v.f[t] && v.fn[t] && v.fn[t] < PATH_MAX && set_add(&s, v.f[t], v.fn[t]) < 0) oom = 1;
  }
  sys2(SYS_munmap, buf, len); /* the paths are in the set's arena */
  static struct out o;
  o.fd = -1;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
  int32_t pid = (int32_t)sys0(SYS_getpid);
  static struct sp_buf b;
  char path[PATH_MAX];
  /* Each path's state now; then a POST for each, except a path found absent whose parent
   * directory is also in the scan and absent: nothing can be below a directory that is not
   * there, and readers take it as absent (an rm -rf of 10k files: 101 POSTs, not 10101). The
   * parent comes after its children in an rm -rf's first-touch order, hence two passes. Kept
   * between them: one byte a path, and the stats of the first KEEP_STATS paths found there, in
   * order (the second pass takes them in the same order). */
  uint8_t *there = s.n ? calloc(s.n, 1) : NULL;
  struct sp_stat *sts = NULL;
  size_t nst = 0, stcap = 0;
  int full = 0;
  int keep_all = s.n && !there; /* out of memory: every path gets its POST, as before */
  static struct sp_dir dir;     /* each through its directory, opened once for a run of paths in it */
  for (size_t i = 0; i < s.n && !keep_all; i++) {
    memcpy(path, ent_path(&s, i), s.e[i].n);
    path[s.e[i].n] = 0;
    struct sp_stat st;
    there[i] = (uint8_t)stat_now(&dir, path, &st);
    if (!there[i] || full) continue;
    if (nst == stcap) {
      size_t nc = stcap ? stcap * 2 : 1024;
      if (nc > KEEP_STATS) nc = KEEP_STATS;
      struct sp_stat *ns = nst < KEEP_STATS ? realloc(sts, nc * sizeof *ns) : NULL;
      if (!ns) { /* this path and all after it are stat'ed again in the second pass */
        full = 1;
        continue;
      }
      sts = ns;
      stcap = nc;
    }
    sts[nst++] = st;
  }
  sp_dir_drop(&dir);
  size_t si = 0;
  for (size_t i = 0; i < s.n; i++) {
    const uint8_t *p = ent_path(&s, i);
    uint32_t n = s.e[i].n;
    if (!keep_all && !there[i]) {
      uint32_t d = n;
      while (d > 0 && p[d - 1] != '/') d--;
      size_t up = d > 1 ? set_find(&s, p, d - 1) : 0; /* the parent, without its trailing '/' */
      if (up && !there[up - 1]) continue;
    }
    memcpy(path, p, n);
    path[n] = 0;
    struct sp_stat st;
    int has = 0;
    if (keep_all) has = sp_statat(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, &st) == 0;
    else if (there[i] && si < nst) st = sts[si++], has = 1;
    else if (there[i]) has = stat_now(&dir, path, &st);
    sp_start(&b, SP_POST, 0);
    sp_add(&b, T_PATH, path, n);
    if (has) sp_add_stat(&b, T_POST, &st);
    seal(&b, pid, now);
    if (!b.failed) out_put(&o, b.p, b.n, spool_path);
    sp_release(&b);
  }
  sp_dir_drop(&dir);
  free(sts);
  free(there);
  if (oom) {
    sp_start(&b, SP_NOTCAPTURED, SP_POST);
    sp_add_str(&b, T_NOTE, "not captured: out of memory in the end-scan; some POST records are missing");
    seal(&b, pid, now);
    out_put(&o, b.p, b.n, spool_path);
  }
  if (o.n) out_flush(&o, spool_path);
  if (o.fd >= 0) sys1(SYS_close, o.fd);
  free(s.t);
  free(s.e);
  free(s.a);
}
