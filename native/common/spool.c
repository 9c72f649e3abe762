/* spool.c — record writer and reader; see spool.h and docs/SPOOL.md. */
#define _GNU_SOURCE
#include "spool.h"
#include "sys.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <linux/stat.h>

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}
static uint16_t get16(const uint8_t *p) {
  uint16_t v;
  memcpy(&v, p, 2);
  return v;
}

void sp_start(struct sp_buf *b, int op, uint32_t flags) {
  b->p = b->inline_;
  b->cap = sizeof b->inline_;
  b->n = SP_HDR;
  b->nfields = 0;
  b->failed = 0;
  memset(b->p, 0, SP_HDR);
  b->p[7] = (uint8_t)op;
  put32(b->p + 24, flags);
}

static int grow(struct sp_buf *b, size_t need) {
  if (b->n + need <= b->cap) return 0;
  size_t cap = b->cap * 2;
  while (cap < b->n + need) cap *= 2;
  long m = sys6(SYS_mmap, 0, (long)cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m < 0 && m > -4096) {
    b->failed = 1;
    return -1;
  }
  memcpy((void *)m, b->p, b->n);
  if (b->p != b->inline_) sys2(SYS_munmap, b->p, b->cap);
  b->p = (uint8_t *)m;
  b->cap = cap;
  return 0;
}

void sp_add(struct sp_buf *b, int tag, const void *data, size_t n) {
  size_t padded = (n + 7) & ~(size_t)7;
  if (b->failed || n > 0x7fffffff || grow(b, 8 + padded)) return;
  uint8_t *q = b->p + b->n;
  put16(q, (uint16_t)tag);
  put16(q + 2, 0);
  put32(q + 4, (uint32_t)n);
  if (n) memcpy(q + 8, data, n);
  memset(q + 8 + n, 0, padded - n);
  b->n += 8 + padded;
  b->nfields++;
}

void sp_add_str(struct sp_buf *b, int tag, const char *s) { sp_add(b, tag, s, strlen(s)); }

void sp_add_stat(struct sp_buf *b, int tag, const struct sp_stat *st) {
  uint8_t raw[72];
  put64(raw, st->dev);
  put64(raw + 8, st->ino);
  put32(raw + 16, st->mode);
  put32(raw + 20, st->uid);
  put32(raw + 24, st->gid);
  put32(raw + 28, st->nlink);
  put64(raw + 32, (uint64_t)st->size);
  put64(raw + 40, (uint64_t)st->mtime_ns);
  put64(raw + 48, (uint64_t)st->ctime_ns);
  put64(raw + 56, (uint64_t)st->atime_ns);
  put64(raw + 64, st->rdev);
  sp_add(b, tag, raw, S_ISCHR(st->mode) || S_ISBLK(st->mode) ? 72 : 64);
}

void sp_add_i64(struct sp_buf *b, int tag, int64_t v) {
  uint8_t raw[8];
  put64(raw, (uint64_t)v);
  sp_add(b, tag, raw, 8);
}

void sp_add_keep(struct sp_buf *b, int tag, char how, const char *name) {
  size_t n = strlen(name);
  char tmp[4200];
  if (n + 1 > sizeof tmp) {
    b->failed = 1;
    return;
  }
  tmp[0] = how;
  memcpy(tmp + 1, name, n);
  sp_add(b, tag, tmp, n + 1);
}

void sp_release(struct sp_buf *b) {
  if (b->p && b->p != b->inline_) sys2(SYS_munmap, b->p, b->cap);
  b->p = b->inline_;
  b->cap = sizeof b->inline_;
}

int32_t sp_record_pid = 0;
int sp_root_fd = -1;

static long held_fd = -1;
static char held_path[4096 + 64];

int sp_hold(const char *spool_path) {
  size_t n = strlen(spool_path);
  if (n >= sizeof held_path) return -36; /* ENAMETOOLONG */
  long fd = sys4(SYS_openat, AT_FDCWD, spool_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return (int)fd;
  if (held_fd >= 0) sys1(SYS_close, held_fd);
  memcpy(held_path, spool_path, n + 1);
  held_fd = fd;
  return 0;
}

/* pid: the header's, 0 for the writer's own (one getpid) */
static size_t seal_as(struct sp_buf *b, int err, int32_t pid) {
  if (b->failed) { /* keep what matters: the op and that its record was lost */
    uint8_t op = b->p[7];
    uint32_t flags = get32(b->p + 24);
    sp_release(b);
    sp_start(b, SP_NOTCAPTURED, op);
    (void)flags;
    sp_add_str(b, T_NOTE, "not captured: record too large");
  }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts); /* the vDSO's: no system call (not interposed; errno untouched) */
  put32(b->p, (uint32_t)b->n);
  put16(b->p + 4, SP_MAGIC);
  b->p[6] = SP_VERSION;
  put32(b->p + 8, sp_record_pid ? (uint32_t)sp_record_pid : pid ? (uint32_t)pid : (uint32_t)sys0(SYS_getpid));
  put32(b->p + 12, (uint32_t)err);
  put64(b->p + 16, (uint64_t)((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec));
  put32(b->p + 28, b->nfields);
  return b->n;
}

size_t sp_seal(struct sp_buf *b, int err) { return seal_as(b, err, 0); }

/* Two ways records wait in memory, never both in one process:
 *  - batched (sp_batch, shit-apply): whole records gathered here, written in one write() by
 *    sp_flush. sp_busy is set while they change or are being written, so a signal handler that
 *    flushes (shit-apply's) neither writes a record twice nor half of one.
 *  - held back (sp_defer, the seccomp supervisor): a record in sp_pending, a page the watchdog
 *    shares, written in one writev with the next record appended, or by sp_flush. */
static uint8_t dbuf[1 << 16];
static size_t dn;
static int batch_on;
volatile sig_atomic_t sp_busy, sp_lost;
struct sp_pending *sp_pending;

void sp_batch(int on) {
  if (!on) sp_flush(); /* what waits goes before any record written at once */
  batch_on = on;
}

/* A short write (the disk filled part-way) goes on, so the write after it says why it stopped
 * (ENOSPC, EDQUOT), not EIO; what was cut off, the reader treats as a torn record. */
static int write_all(long fd, const uint8_t *p, size_t n) {
  size_t done = 0;
  while (done < n) {
    long w = sys3(SYS_write, fd, p + done, n - done);
    if (w == -EINTR) continue;
    if (w < 0) return (int)w;
    if (w == 0) return -5; /* EIO: nothing written and no reason given */
    done += (size_t)w;
  }
  return 0;
}

/* The shim's record held back, one per thread (spool.h, sp_thread_defer). */
int sp_thread_defer;
static __thread struct {
  volatile size_t n;    /* 0: nothing held */
  volatile int busy;    /* in use: a signal handler's record then goes out alone */
  int32_t pid;          /* the process that held it (a forked child's copy is not its own) */
  char path[4096 + 64]; /* its spool */
  uint8_t p[1024];
} slot;

static int slot_mine(void) { return slot.n && !slot.busy && slot.pid == (int32_t)sys0(SYS_getpid); }

static int append_at(const char *spool_path, const uint8_t *p, size_t n) {
  long fd = sys4(SYS_openat, sp_ofd(), sp_opath(spool_path), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return (int)fd;
  int rc = write_all(fd, p, n);
  sys1(SYS_close, fd);
  return rc;
}

void sp_thread_flush(void) {
  if (!slot_mine()) return;
  slot.busy = 1;
  append_at(slot.path, slot.p, slot.n); /* as any record: a failed append is not retried */
  slot.n = 0;
  slot.busy = 0;
}

void sp_thread_drop(void) {
  if (slot_mine()) slot.n = 0;
}

int sp_append_part(const char *spool_path, const void *p, size_t n, size_t *done) {
  int held = held_fd >= 0 && !strcmp(spool_path, held_path);
  *done = 0;
  /* what waits goes first, in the same write: the supervisor's (held spool) or this thread's */
  uint8_t *wp = NULL;
  volatile size_t *wn = NULL;
  if (held && sp_pending) {
    wp = sp_pending->p;
    wn = &sp_pending->n;
  } else if (!held && slot_mine()) {
    if (strcmp(spool_path, slot.path)) sp_thread_flush(); /* another spool's: alone, first */
    else {
      slot.busy = 1;
      wp = slot.p;
      wn = &slot.n;
    }
  }
  if (held && batch_on) {
    int rc = 0;
    if (dn + n > sizeof dbuf) rc = sp_flush();
    sp_busy = 1;
    if (n > sizeof dbuf) rc = write_all(held_fd, p, n);
    else {
      memcpy(dbuf + dn, p, n);
      dn += n;
    }
    sp_busy = 0;
    *done = rc ? 0 : n;
    return rc;
  }
  long fd = held ? held_fd
                 : sys4(SYS_openat, sp_ofd(), sp_opath(spool_path), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
                        0600);
  int rc = 0;
  if (fd < 0) rc = (int)fd;
  else {
    size_t before = wn ? *wn : 0; /* held back: they go first, same write */
    if (before) {
      struct iovec iov[2] = {{wp, before}, {(void *)p, n}};
      long w = sys3(SYS_writev, fd, iov, 2);
      size_t off = w > 0 ? (size_t)w : 0;
      /* cut short inside what was held back (the disk filled): the rest of it goes on as a short
       * append does; what still cannot be written stays held, at the front, for the next write */
      while (w >= 0 && off < before) {
        w = sys3(SYS_write, fd, wp + off, before - off);
        if (w <= 0) break;
        off += (size_t)w;
      }
      if (off < before) {
        memmove(wp, wp + off, before - off);
        *wn = before - off;
        rc = w < 0 ? (int)w : -5; /* EIO */
      } else {
        *wn = 0;
        *done = off - before;
      }
    }
    /* a short append (the disk filled mid-record) goes on: the next write says why it stopped */
    while (!rc && *done < n) {
      long w = sys3(SYS_write, fd, (const char *)p + *done, n - *done);
      if (w <= 0) {
        rc = w < 0 ? (int)w : -5; /* EIO */
        break;
      }
      *done += (size_t)w;
    }
    if (!held) sys1(SYS_close, fd);
  }
  if (wn == &slot.n) slot.busy = 0;
  return rc;
}

int sp_append(const char *spool_path, const void *p, size_t n) {
  size_t done;
  return sp_append_part(spool_path, p, n, &done);
}

int sp_defer(struct sp_buf *b, const char *spool_path) {
  if (!sp_pending && sp_thread_defer) {
    size_t pl = strlen(spool_path);
    if (b->failed || slot.busy || pl >= sizeof slot.path || b->n > sizeof slot.p) return -1;
    int32_t me = (int32_t)sys0(SYS_getpid);
    if (slot.n && slot.pid != me) return -1; /* not this process's: left alone */
    sp_thread_flush();                       /* one waits at most */
    slot.busy = 1;
    size_t len = seal_as(b, 0, me);
    memcpy(slot.p, b->p, len);
    memcpy(slot.path, spool_path, pl + 1);
    slot.pid = me;
    slot.n = len;
    slot.busy = 0;
    sp_release(b);
    return 0;
  }
  if (!sp_pending || held_fd < 0 || strcmp(spool_path, held_path) || b->failed) return -1;
  size_t have = sp_pending->n, len = sp_seal(b, 0);
  if (len > sizeof sp_pending->p - have) return -1;
  memcpy(sp_pending->p + have, b->p, len);
  sp_pending->n = have + len; /* after the bytes: a writer killed part-way leaves none half-held */
  sp_release(b);
  return 0;
}

int sp_flush(void) {
  if (dn) { /* batched */
    sp_busy = 1;
    int rc = held_fd >= 0 ? write_all(held_fd, dbuf, dn) : -9; /* EBADF: nothing held */
    dn = 0;
    if (rc < 0 && !sp_lost) sp_lost = -rc;
    sp_busy = 0;
    return rc;
  }
  if (!sp_pending || !sp_pending->n || held_fd < 0) return 0; /* held back */
  long w = sys3(SYS_write, held_fd, sp_pending->p, sp_pending->n);
  size_t want = sp_pending->n;
  sp_pending->n = 0;
  return w < 0 ? (int)w : (size_t)w != want ? -5 : 0;
}

int sp_commit(struct sp_buf *b, const char *spool_path, int err) {
  sp_seal(b, err);
  int rc = sp_append(spool_path, b->p, b->n);
  sp_release(b);
  return rc;
}

int sp_lstat_in_dir(struct sp_dir *d, const char *path, struct sp_stat *out) {
  const char *slash = strrchr(path, '/');
  size_t dl = slash ? (size_t)(slash - path) : 0;
  if (!slash || dl == 0 || !slash[1] || dl >= sizeof d->path)
    return sp_statat(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, out);
  if (!d->open || strlen(d->path) != dl || memcmp(d->path, path, dl)) {
    sp_dir_drop(d);
    memcpy(d->path, path, dl);
    d->path[dl] = 0;
    d->fd = sys4(SYS_openat, AT_FDCWD, d->path, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
    d->open = 1;
  }
  if (d->fd >= 0) return sp_statat((int)d->fd, slash + 1, AT_SYMLINK_NOFOLLOW, out);
  if (d->fd == -ENOENT) return -ENOENT; /* its directory is not there */
  return sp_statat(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, out);
}

void sp_dir_drop(struct sp_dir *d) {
  if (d->open && d->fd >= 0) sys1(SYS_close, d->fd);
  d->open = 0;
  d->path[0] = 0;
}

int sp_statat(int dirfd, const char *path, int flags, struct sp_stat *out) {
  struct statx sx;
  long r = sys5(SYS_statx, dirfd, path, flags, STATX_BASIC_STATS | STATX_BTIME, &sx);
  if (r < 0) return (int)r;
  /* st_dev as stat(2), Node and Python report it (glibc's makedev encoding), so readers can
   * compare PRE.dev with a present-day stat and staging names match what other tools see. */
  uint64_t ma = sx.stx_dev_major, mi = sx.stx_dev_minor;
  out->dev =
      ((ma & 0xfffff000ULL) << 32) | ((ma & 0xfffULL) << 8) | ((mi & 0xffffff00ULL) << 12) | (mi & 0xffULL);
  out->ino = sx.stx_ino;
  out->mode = sx.stx_mode;
  out->uid = sx.stx_uid;
  out->gid = sx.stx_gid;
  out->nlink = sx.stx_nlink;
  out->size = (int64_t)sx.stx_size;
  out->mtime_ns = sx.stx_mtime.tv_sec * 1000000000LL + sx.stx_mtime.tv_nsec;
  out->ctime_ns = sx.stx_ctime.tv_sec * 1000000000LL + sx.stx_ctime.tv_nsec;
  out->atime_ns = sx.stx_atime.tv_sec * 1000000000LL + sx.stx_atime.tv_nsec;
  ma = sx.stx_rdev_major;
  mi = sx.stx_rdev_minor;
  out->rdev =
      ((ma & 0xfffff000ULL) << 32) | ((ma & 0xfffULL) << 8) | ((mi & 0xffffff00ULL) << 12) | (mi & 0xffULL);
  out->btime_ns =
      (sx.stx_mask & STATX_BTIME) ? sx.stx_btime.tv_sec * 1000000000LL + sx.stx_btime.tv_nsec : -1;
  return 0;
}

int sp_next(const uint8_t *buf, size_t len, size_t *off, struct sp_view *v) {
  size_t o = *off;
  if (o + SP_HDR > len) return 0;
  uint32_t rl = get32(buf + o);
  if (get16(buf + o + 4) != SP_MAGIC || buf[o + 6] != SP_VERSION || rl < SP_HDR || (rl & 7)) return -1;
  if (o + rl > len) return 0;
  memset(v, 0, sizeof *v);
  v->len = rl;
  v->op = buf[o + 7];
  memcpy(&v->pid, buf + o + 8, 4);
  memcpy(&v->err, buf + o + 12, 4);
  memcpy(&v->time_ns, buf + o + 16, 8);
  v->flags = get32(buf + o + 24);
  size_t p = o + SP_HDR, end = o + rl;
  while (p + 8 <= end) {
    uint16_t tag = get16(buf + p);
    uint32_t n = get32(buf + p + 4);
    if (p + 8 + n > end) return -1;
    if (tag < T_MAX) {
      v->f[tag] = buf + p + 8;
      v->fn[tag] = n;
    }
    p += 8 + ((n + 7) & ~(size_t)7);
  }
  *off = o + rl;
  return 1;
}

int sp_view_stat(const struct sp_view *v, int tag, struct sp_stat *out) {
  const uint8_t *r = v->f[tag];
  if (!r || v->fn[tag] < 64) return 0;
  memcpy(&out->dev, r, 8);
  memcpy(&out->ino, r + 8, 8);
  memcpy(&out->mode, r + 16, 4);
  memcpy(&out->uid, r + 20, 4);
  memcpy(&out->gid, r + 24, 4);
  memcpy(&out->nlink, r + 28, 4);
  memcpy(&out->size, r + 32, 8);
  memcpy(&out->mtime_ns, r + 40, 8);
  memcpy(&out->ctime_ns, r + 48, 8);
  memcpy(&out->atime_ns, r + 56, 8);
  out->rdev = 0;
  if (v->fn[tag] >= 72) memcpy(&out->rdev, r + 64, 8);
  out->btime_ns = -1;
  return 1;
}

int64_t sp_view_i64(const struct sp_view *v, int tag, int64_t dflt) {
  int64_t x;
  if (!v->f[tag] || v->fn[tag] < 8) return dflt;
  memcpy(&x, v->f[tag], 8);
  return x;
}

static int header_ok(const uint8_t *buf, size_t len, size_t o) {
  if (o + SP_HDR > len) return 0;
  uint32_t rl = get32(buf + o);
  return get16(buf + o + 4) == SP_MAGIC && buf[o + 6] == SP_VERSION && rl >= SP_HDR && !(rl & 7);
}

static size_t clean_at(const uint8_t *buf, size_t len, size_t o) {
  if (!header_ok(buf, len, o)) return 0;
  size_t end = o + get32(buf + o);
  if (end > len) return 0;
  size_t p = o + SP_HDR;
  while (p + 8 <= end) {
    uint32_t n = get32(buf + p + 4);
    if (p + 8 + n > end) return 0;
    p += 8 + ((n + 7) & ~(size_t)7);
  }
  if (p != end) return 0;
  return end == len || end + SP_HDR > len || header_ok(buf, len, end) ? end - o : 0;
}

size_t sp_resync(const uint8_t *buf, size_t len, size_t off) {
  for (size_t o = off + 1; o + SP_HDR <= len; o++)
    if (buf[o + 4] == 0x53 && buf[o + 5] == 0x50 && clean_at(buf, len, o)) return o;
  return (size_t)-1;
}
