/* endscan.c — the end-of-command scan shared by shit-run and shit-apply (docs/SPOOL.md, op POST):
 * after the command, one POST record per distinct PATH / PATH2 of the spool's successful effect
 * records (ops UNLINK..MKNOD), with the path's lstat now (no POST field: it does not exist).
 * Also run by the shim inside a hooked shell's own process when a typed command ends
 * (capture.c, shell_end): so file I/O goes through sys.h (nothing interposed is re-entered, errno
 * is not touched); the only libc calls are calloc/realloc/free (or end_scan_mem's: shit-apply's
 * own) and clock_gettime, safe there because the shell is in its own code, not in a signal
 * handler or in malloc. */
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
const struct end_scan_mem *end_scan_mem;

static void *es_alloc(size_t n) { return end_scan_mem ? end_scan_mem->alloc(n) : calloc(n ? n : 1, 1); }
static void *es_resize(void *p, size_t n) {
  return end_scan_mem ? end_scan_mem->resize(p, n) : realloc(p, n);
}
static void es_release(void *p) {
  if (end_scan_mem) end_scan_mem->release(p);
  else free(p);
}
static void es_tick(void) {
  if (end_scan_mem) end_scan_mem->tick();
}

/* LEB128 of an unsigned value, and of a signed one zigzagged (small either side of 0: short) */
static size_t put_uv(uint8_t *p, uint64_t v) {
  size_t n = 0;
  for (; v >= 0x80; v >>= 7) p[n++] = (uint8_t)(v | 0x80);
  p[n++] = (uint8_t)v;
  return n;
}

static uint64_t get_uv(const uint8_t **p) {
  uint64_t v = 0;
  for (int s = 0;; s += 7) {
    uint8_t c = *(*p)++;
    v |= (uint64_t)(c & 0x7f) << s;
    if (!(c & 0x80)) return v;
  }
}

static size_t put_sv(uint8_t *p, uint64_t d) { /* d: a difference, wrapped */
  return put_uv(p, (d << 1) ^ (uint64_t)((int64_t)d >> 63));
}

static uint64_t get_sv(const uint8_t **p) {
  uint64_t z = get_uv(p);
  return (z >> 1) ^ (uint64_t) - (int64_t)(z & 1);
}

/* The distinct paths, copied into one arena as the spool is read, so that the spool's pages can
 * be let go behind the read (an rm -rf's spool is ~480 bytes a file, its paths ~10% of that).
 * Front-coded: a path is kept as the length of the prefix it shares with the path before it and
 * the rest of its bytes (paths in first-touch order mostly differ in their last name: ~8 bytes
 * a path instead of ~50); every RESTART-th path is kept whole, so any one is rebuilt from at
 * most RESTART entries, which is done only where a hash matches. */
#define RESTART 16
struct ent {
  uint64_t off; /* into set.a: the shared length (LEB128), then the other bytes */
  uint32_t n;   /* the whole path's length */
  uint32_t h;
};
struct set { /* insertion-ordered: POST records come out in first-touch order */
  struct ent *e;
  size_t n, ecap;
  uint32_t *t;
  size_t cap; /* open addressing: index+1 into e, 0 empty */
  uint8_t *a;
  size_t an, acap;
  uint8_t last[PATH_MAX]; /* the path added last, whole */
  uint32_t lastn;
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
  uint32_t *nt = es_alloc(ncap * sizeof *nt);
  if (!nt) return -1;
  for (size_t i = 0; i < s->n; i++) {
    es_tick();
    size_t j = s->e[i].h & (ncap - 1);
    while (nt[j]) j = (j + 1) & (ncap - 1);
    nt[j] = (uint32_t)i + 1;
  }
  es_release(s->t);
  s->t = nt;
  s->cap = ncap;
  return 0;
}

/* Entry i applied to buf, which holds path i-1 (or anything when i starts a run): path i. */
static void ent_next(const struct set *s, size_t i, uint8_t *buf) {
  const uint8_t *q = s->a + s->e[i].off;
  uint32_t shared = (uint32_t)get_uv(&q);
  memcpy(buf + shared, q, s->e[i].n - shared);
}

/* path i, rebuilt from the start of its run into buf */
static void ent_path(const struct set *s, size_t i, uint8_t *buf) {
  for (size_t k = i - i % RESTART; k <= i; k++) ent_next(s, k, buf);
}

/* x's path is p (n bytes, as x's)? */
static int ent_is(const struct set *s, const struct ent *x, const uint8_t *p, uint32_t n) {
  uint8_t buf[PATH_MAX];
  if (x->n != n) return 0;
  ent_path(s, (size_t)(x - s->e), buf);
  return !memcmp(buf, p, n);
}

/* the index+1 of p in s, 0 when absent */
static size_t set_find(const struct set *s, const uint8_t *p, uint32_t n) {
  if (!s->cap) return 0;
  uint32_t h = hash(p, n);
  for (size_t j = h & (s->cap - 1); s->t[j]; j = (j + 1) & (s->cap - 1)) {
    const struct ent *x = &s->e[s->t[j] - 1];
    if (x->h == h && ent_is(s, x, p, n)) return s->t[j];
  }
  return 0;
}

/* 1 added (p front-coded into the arena), 0 already there, -1 out of memory */
static int set_add(struct set *s, const uint8_t *p, uint32_t n) {
  if ((s->n + 1) * 2 > s->cap && set_grow(s)) return -1;
  uint32_t h = hash(p, n);
  size_t j = h & (s->cap - 1);
  while (s->t[j]) {
    const struct ent *x = &s->e[s->t[j] - 1];
    if (x->h == h && ent_is(s, x, p, n)) return 0;
    j = (j + 1) & (s->cap - 1);
  }
  if (s->n == s->ecap) {
    size_t nc = s->ecap ? s->ecap * 2 : 512;
    struct ent *ne = es_resize(s->e, nc * sizeof *ne);
    if (!ne) return -1;
    s->e = ne;
    s->ecap = nc;
  }
  uint32_t shared = 0;
  if (s->n % RESTART)
    while (shared < n && shared < s->lastn && p[shared] == s->last[shared]) shared++;
  if (s->an + 10 + n - shared > s->acap) {
    size_t nc = s->acap ? s->acap * 2 : 65536;
    while (nc < s->an + 10 + n - shared) nc *= 2;
    uint8_t *na = es_resize(s->a, nc);
    if (!na) return -1;
    s->a = na;
    s->acap = nc;
  }
  s->e[s->n] = (struct ent){s->an, n, h};
  s->an += put_uv(s->a + s->an, shared);
  memcpy(s->a + s->an, p + shared, n - shared);
  s->an += n - shared;
  memcpy(s->last + shared, p + shared, n - shared);
  s->lastn = n;
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
/* The stats of the paths found there are kept from the first pass to the second, in order (the
 * second takes them in the same order), each as its fields' differences from the one before,
 * LEB128-coded (~20 bytes a stat instead of 80: files touched together have near inodes and
 * times), up to KEEP_BYTES; any further path found there is stat'ed again when its POST is made. */
#define KEEP_BYTES (32u << 20)
#define NF 12
static void stat_fields(const struct sp_stat *st, uint64_t *f) {
  f[0] = st->dev, f[1] = st->ino, f[2] = st->mode, f[3] = st->uid, f[4] = st->gid, f[5] = st->nlink;
  f[6] = (uint64_t)st->size, f[7] = (uint64_t)st->mtime_ns, f[8] = (uint64_t)st->ctime_ns;
  f[9] = (uint64_t)st->atime_ns, f[10] = st->rdev, f[11] = (uint64_t)st->btime_ns;
}

struct kept {
  uint8_t *p;
  size_t n, cap, at; /* at: the second pass's read offset */
  uint64_t prev[NF]; /* the fields of the stat put (or got) last */
};

/* 0 kept, -1 no room (KEEP_BYTES or out of memory) */
static int kept_put(struct kept *k, const struct sp_stat *st) {
  if (k->n + NF * 10 > k->cap) {
    size_t nc = k->cap ? k->cap * 2 : 65536;
    uint8_t *np = nc <= KEEP_BYTES ? es_resize(k->p, nc) : NULL;
    if (!np) return -1;
    k->p = np;
    k->cap = nc;
  }
  uint64_t f[NF];
  stat_fields(st, f);
  for (int i = 0; i < NF; i++) k->n += put_sv(k->p + k->n, f[i] - k->prev[i]), k->prev[i] = f[i];
  return 0;
}

static void kept_get(struct kept *k, struct sp_stat *st) {
  const uint8_t *q = k->p + k->at;
  for (int i = 0; i < NF; i++) k->prev[i] += get_sv(&q);
  k->at = (size_t)(q - k->p);
  const uint64_t *f = k->prev;
  *st = (struct sp_stat){.dev = f[0],
                         .ino = f[1],
                         .mode = (uint32_t)f[2],
                         .uid = (uint32_t)f[3],
                         .gid = (uint32_t)f[4],
                         .nlink = (uint32_t)f[5],
                         .size = (int64_t)f[6],
                         .mtime_ns = (int64_t)f[7],
                         .ctime_ns = (int64_t)f[8],
                         .atime_ns = (int64_t)f[9],
                         .rdev = f[10],
                         .btime_ns = (int64_t)f[11]};
}

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
    es_tick();
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
  uint8_t *there = s.n ? es_alloc(s.n) : NULL;
  struct kept k = {0};
  size_t nst = 0; /* stats kept */
  int full = 0;
  int keep_all = s.n && !there; /* out of memory: every path gets its POST, as before */
  static struct sp_dir dir;     /* each through its directory, opened once for a run of paths in it */
  static uint8_t cur[PATH_MAX]; /* path i, rebuilt entry by entry */
  for (size_t i = 0; i < s.n && !keep_all; i++) {
    es_tick();
    ent_next(&s, i, cur);
    memcpy(path, cur, s.e[i].n);
    path[s.e[i].n] = 0;
    struct sp_stat st;
    there[i] = (uint8_t)stat_now(&dir, path, &st);
    if (!there[i] || full) continue;
    if (kept_put(&k, &st)) { /* this path and all after it are stat'ed again in the second pass */
      full = 1;
      continue;
    }
    nst++;
  }
  sp_dir_drop(&dir);
  memset(k.prev, 0, sizeof k.prev);
  size_t si = 0;
  for (size_t i = 0; i < s.n; i++) {
    es_tick();
    ent_next(&s, i, cur);
    const uint8_t *p = cur;
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
    else if (there[i] && si < nst) kept_get(&k, &st), si++, has = 1;
    else if (there[i]) has = stat_now(&dir, path, &st);
    sp_start(&b, SP_POST, 0);
    sp_add(&b, T_PATH, path, n);
    if (has) sp_add_stat(&b, T_POST, &st);
    seal(&b, pid, now);
    if (!b.failed) out_put(&o, b.p, b.n, spool_path);
    sp_release(&b);
  }
  sp_dir_drop(&dir);
  es_release(k.p);
  es_release(there);
  if (oom) {
    sp_start(&b, SP_NOTCAPTURED, SP_POST);
    sp_add_str(&b, T_NOTE, "not captured: out of memory in the end-scan; some POST records are missing");
    seal(&b, pid, now);
    out_put(&o, b.p, b.n, spool_path);
  }
  if (o.n) out_flush(&o, spool_path);
  if (o.fd >= 0) sys1(SYS_close, o.fd);
  es_release(s.t);
  es_release(s.e);
  es_release(s.a);
}
