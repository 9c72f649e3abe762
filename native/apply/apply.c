/* apply.c — shit-apply: performs an undo/redo plan (docs/SPOOL.md, "Plan steps") under capture.
 *
 *   SHIT_CMD=<undo id> SHIT_STATE=<state dir> shit-apply PLANFILE KIND OF [ARGV...]
 *
 * Every mutation is bracketed by the capture API (capture.h) with o.step = the step's index, so
 * the undo's own spool records what it changed exactly like a shim-captured command: redo is the
 * undo of the undo. Paths are resolved component by component from "/" with O_NOFOLLOW; every
 * call acts relative to the parent's fd. Finished steps are appended to
 * <state>/run/<cmd>.journal; a second run skips them and completes an interrupted step. The
 * records and journal entries of consecutive PLACEs in one directory (after its first) wait in
 * memory and are appended in batches, records first (see the main loop, docs/SPOOL.md "Plan
 * steps"); every other record is written as capture writes it.
 *
 * Exit: 0 done; 2 usage or unreadable plan; 3 conflict (nothing changed); 5 a pre-image kept
 * whole (STEP_F_KEPT_WHOLE) is gone or changed since it was kept (nothing changed); 4 a step failed: it
 * stops there, names the step, its path and the cause, and records END 4; the steps before it
 * are journaled, so a second run (once the cause is gone) retries that step and goes on. */
#define _GNU_SOURCE
#include "../common/capture.h"
#include "../common/spool.h"
#include "../common/command.h"
#include "../common/endscan.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>

#define E_PARENT_SYMLINK 10000 /* our own "errno": a parent component is a symlink */

static const char *state, *cmd_id;
static char spool_path[PATH_MAX + 64], journal_path[PATH_MAX + 64];
static int journal_fd = -1;
static uint8_t *touched; /* steps with a successful effect record in our own spool */

static const char *kind_name(int op) {
  /* OPSWITCH(step_name) */
  switch (op) {
  case STEP_EXPECT: return "expect";
  case STEP_REMOVE: return "remove";
  case STEP_RENAME: return "rename";
  case STEP_PLACE: return "place";
  case STEP_REWRITE: return "rewrite";
  case STEP_TRUNCATE: return "truncate";
  case STEP_LINK: return "link";
  case STEP_META: return "meta";
  case STEP_XATTR: return "xattr";
  default: return "unknown";
  }
}

static const char *errstr(int e) {
  return e == E_PARENT_SYMLINK ? "a parent is a symlink, not following it" : strerror(e);
}

/* What usually causes a step's errno, for the person who has to remove the cause. */
static const char *hint(int e) {
  switch (e) {
  case EPERM: return " (append-only or immutable? lsattr shows it)";
  case EACCES: return " (no permission)";
  case EROFS: return " (read-only filesystem)";
  case ENOSPC:
  case EDQUOT: return " (no space left)";
  case ETXTBSY: return " (a program running from it)";
  default: return "";
  }
}

/* ---- reading files ---- */
static uint8_t *read_file(const char *path, size_t *len, int *err) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *err = errno;
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) < 0) {
    *err = errno;
    close(fd);
    return NULL;
  }
  size_t cap = (size_t)st.st_size + 4096, n = 0;
  uint8_t *buf = malloc(cap);
  if (!buf) {
    *err = ENOMEM;
    close(fd);
    return NULL;
  }
  for (;;) {
    if (n == cap) {
      uint8_t *q = realloc(buf, cap *= 2);
      if (!q) {
        free(buf);
        close(fd);
        *err = ENOMEM;
        return NULL;
      }
      buf = q;
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      *err = errno;
      free(buf);
      close(fd);
      return NULL;
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  close(fd);
  *len = n;
  return buf;
}

/* A file mapped read-only (private), read front to back or in short stretches: its pages are let
 * go every MAP_WINDOW bytes touched (MADV_DONTNEED: they come back from the page cache when read
 * again, the mapping's addresses stay valid), so a 1M-step plan or spool is never all resident
 * (issue 15, Scale). Falls back to read_file when it cannot be mapped. Pointers into it stay
 * valid across a release: a string of one record is read again from the page cache. */
static size_t map_window = (size_t)32 << 20; /* SHIT_APPLY_WINDOW (bytes): tests let go at every record */
struct mapped {
  uint8_t *p;
  size_t len, touched;
  size_t block; /* the FAULT_AROUND block charged last, + 1 (0: none) */
  size_t reads; /* records read */
  int mapped;   /* 1: p is a mapping, 0: a malloc'd copy */
};
static int map_file(const char *path, struct mapped *m, int *err) {
  memset(m, 0, sizeof *m);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *err = errno;
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p != MAP_FAILED) {
      close(fd);
      m->p = p;
      m->len = (size_t)st.st_size;
      m->mapped = 1;
      return 0;
    }
  }
  close(fd);
  m->p = read_file(path, &m->len, err);
  return m->p ? 0 : -1;
}
/* The process's file pages mapped, in bytes (/proc/self/statm's third field), 0 when unknown. */
static size_t file_resident(void) {
  static int fd = -2;
  if (fd == -2) fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  char b[160];
  ssize_t n = fd >= 0 ? pread(fd, b, sizeof b - 1, 0) : -1;
  unsigned long size, res, shared;
  if (n <= 0) return 0;
  b[n] = 0;
  return sscanf(b, "%lu %lu %lu", &size, &res, &shared) == 3 ? shared * (size_t)sysconf(_SC_PAGESIZE) : 0;
}

/* n bytes at q in m were read (a record): past the window, its pages are let go. A fault maps
 * more than its page: the 64 KiB around it that the page cache holds (the kernel's fault-around),
 * or a whole large folio; so a record read away from the last one is charged its 64 KiB block,
 * and every 64 reads what is really mapped is asked (known_prepare's reads of ~300 directory
 * steps over a 300k-step plan left 52 MiB of it mapped where a page a record was counted). */
#define FAULT_AROUND ((size_t)64 << 10)
static void spill_let_go(void);
static void spill_tick(void);
static size_t spill_charged; /* bytes of spilled pages read at random since statm was last asked */
static void map_touch(struct mapped *m, const uint8_t *q, size_t n) {
  size_t b = (size_t)(q - m->p) / FAULT_AROUND, e = ((size_t)(q - m->p) + n) / FAULT_AROUND;
  m->touched += n;
  for (; b <= e; b++)
    if (b + 1 != m->block) m->touched += FAULT_AROUND, m->block = b + 1;
  if (!m->mapped) {
    spill_tick();
    return;
  }
  if (m->touched < map_window && (++m->reads % 64 || file_resident() < map_window) &&
      spill_charged < map_window / 8)
    return;
  spill_charged = 0;
  m->touched = 0;
  madvise(m->p, m->len, MADV_DONTNEED);
  spill_let_go();
}
static void map_free(struct mapped *m) {
  if (m->mapped) munmap(m->p, m->len);
  else free(m->p);
  m->p = NULL;
}

/* ---- what is kept per step, written out ----
 * Per step shit-apply keeps a slot (what the passes before the steps learn of it), the journal's
 * and its own spool's marks, and tables of steps by the hash of a path: ~100 bytes a step, 154 MB
 * of slots alone for the 2.4M steps of the redo of an rm -rf of 1.2M files (issue 15, Scale).
 * They live in an unlinked file in <state>/run, mapped shared, whose pages are let go with the
 * plan's (map_touch, spill_tick: MADV_DONTNEED once the file pages resident pass the window): the
 * kernel writes them back and reads them again when they are touched, so the resident memory does
 * not grow with the step count. Only for a plan of SPILL_MIN bytes or more (~80-130k steps; a smaller
 * one's ~100 bytes a step are held as before), and only while the file system keeps its free space:
 * each block is fallocate'd before it is handed out (a full disk is a failed allocation, never a
 * SIGBUS later), and only when twice its size and SPILL_FREE would still be free after (the undo's
 * own files come first); else, and where the file cannot be made, malloc as before.
 * SHIT_APPLY_SPILL=1 spills any plan, =0 none (tests). Blocks are handed out zeroed, in order,
 * after a header with their size; the last one can grow in place (the slots while the plan is
 * read); one freed has its range punched out (its pages and disk space go). */
#define SPILL_VIRT ((size_t)1 << 40) /* address space reserved: the file grows within it */
#define SPILL_HDR ((size_t)64)
#define SPILL_MIN ((size_t)16 << 20)
#define SPILL_FREE ((unsigned long long)256 << 20)
static struct {
  uint8_t *p;         /* the mapping, NULL: not (yet) made */
  size_t used, alloc; /* bytes handed out (headers included); bytes fallocate'd */
  size_t last;        /* the offset of the last block's header */
  int fd, off;        /* off: malloc only (a small plan, SHIT_APPLY_SPILL=0, or the file failed) */
} spill = {NULL, 0, 0, 0, -1, 0};

/* whether a plan of len bytes spills */
static void spill_plan(size_t len) {
  const char *e = getenv("SHIT_APPLY_SPILL");
  spill.off = e && *e ? strcmp(e, "1") != 0 : len < SPILL_MIN;
}

static void spill_open(void) {
  if (spill.p || spill.off) return;
  char dir[PATH_MAX + 16];
  snprintf(dir, sizeof dir, "%s/run", state);
  mkdir(state, 0700); /* (mkdirs makes them too, after the plan is read) */
  mkdir(dir, 0700);
  spill.fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  void *p = spill.fd < 0
                ? MAP_FAILED
                : mmap(NULL, SPILL_VIRT, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, spill.fd, 0);
  if (p == MAP_FAILED) {
    if (spill.fd >= 0) close(spill.fd);
    spill.fd = -1;
    spill.off = 1;
    return;
  }
  spill.p = p;
}

/* The file's first `to` bytes backed by blocks: 0, or -1 (then nothing more is handed out of it) */
static int spill_room(size_t to) {
  if (to <= spill.alloc) return 0;
  if (to > SPILL_VIRT) return -1;
  size_t want = to + (to >> 3) + ((size_t)1 << 20); /* ahead: fewer fallocate calls */
  want = (want + 4095) & ~(size_t)4095;
  if (want > SPILL_VIRT) want = SPILL_VIRT;
  struct statfs fs;
  if (fstatfs(spill.fd, &fs) < 0 || (unsigned long long)fs.f_bavail * (unsigned long long)fs.f_bsize <
                                        2ULL * (want - spill.alloc) + SPILL_FREE)
    return -1;
  if (fallocate(spill.fd, 0, (off_t)spill.alloc, (off_t)(want - spill.alloc)) < 0) return -1;
  spill.alloc = want;
  return 0;
}

static int in_spill(const void *q) {
  return spill.p && (const uint8_t *)q >= spill.p && (const uint8_t *)q < spill.p + SPILL_VIRT;
}

/* n zeroed bytes, 64-aligned; NULL: out of memory */
static void *spill_alloc(size_t n) {
  spill_open();
  size_t at = spill.used, end = at + SPILL_HDR + ((n + 63) & ~(size_t)63);
  if (!spill.p || spill_room(end) < 0) return calloc(n ? n : 1, 1);
  memcpy(spill.p + at, &n, sizeof n);
  spill.last = at;
  spill.used = end;
  return spill.p + at + SPILL_HDR;
}

static void spill_free(void *q) {
  if (!q) return;
  if (!in_spill(q)) {
    free(q);
    return;
  }
  size_t at = (size_t)((uint8_t *)q - spill.p) - SPILL_HDR, n;
  memcpy(&n, spill.p + at, sizeof n);
  size_t end = at + SPILL_HDR + ((n + 63) & ~(size_t)63);
  /* its pages and blocks go (a hole reads as zeros); the page holding a neighbour's bytes stays */
  size_t a = (at + SPILL_HDR + 4095) & ~(size_t)4095, b = end & ~(size_t)4095;
  if (b > a) fallocate(spill.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)a, (off_t)(b - a));
  if (at == spill.last && end == spill.used) { /* handed out again: zeroed */
    if (b > a) {
      memset(spill.p + at, 0, a - at);
      memset(spill.p + b, 0, end - b);
    } else memset(spill.p + at, 0, end - at);
    spill.used = at;
  }
}

/* memcpy a MiB at a time, statm asked between (a table of 1M paths is ~20 MB, read and written
 * whole when it moves) */
static void spill_charge(size_t n);
static void spill_copy(void *d, const void *q, size_t n) {
  for (size_t at = 0, k; at < n; at += k) {
    k = n - at < ((size_t)1 << 20) ? n - at : (size_t)1 << 20;
    memcpy((uint8_t *)d + at, (const uint8_t *)q + at, k);
    spill_charge(2 * k);
  }
}

/* q (n bytes, from spill_alloc) grown to nn bytes, as realloc (past n: zeros in the file, anything
 * when malloc'd); NULL: out of memory (q stays) */
static void *spill_grow(void *q, size_t n, size_t nn) {
  if (!q) return spill_alloc(nn);
  if (!in_spill(q)) return realloc(q, nn);
  size_t at = (size_t)((uint8_t *)q - spill.p) - SPILL_HDR;
  if (at == spill.last) { /* the last block: in place */
    size_t end = at + SPILL_HDR + ((nn + 63) & ~(size_t)63);
    if (spill_room(end) == 0) {
      memcpy(spill.p + at, &nn, sizeof nn);
      if (end > spill.used) spill.used = end;
      return q;
    }
  }
  uint8_t *r = spill_alloc(nn); /* (calloc'd when the file has no more room) */
  if (!r) return NULL;
  spill_copy(r, q, n < nn ? n : nn);
  spill_free(q);
  return r;
}

/* as realloc, for the end scan's tables (end_scan_mem) */
static void *spill_realloc(void *q, size_t nn) {
  size_t n = 0;
  if (in_spill(q)) memcpy(&n, (uint8_t *)q - SPILL_HDR, sizeof n);
  else if (q) return realloc(q, nn);
  return spill_grow(q, n, nn);
}

/* the end scan's call at each record or path: a lookup in its table of paths (a slot of the hash
 * table, read away from the last; its entries and bytes are mostly read in order) */
static void spill_charge(size_t n);
static void end_scan_charge(void) { spill_charge(FAULT_AROUND); }

/* the spilled pages let go (they stay in the file: touched again, they are read back) */
static void spill_let_go(void) {
  if (spill.p && spill.used) madvise(spill.p, spill.used, MADV_DONTNEED);
}

/* An array of n elements of sz bytes sorted by cmp: a merge sort whose scratch is spilled too
 * (glibc's qsort mallocs a copy of the array: 24 MB for 1M members). Stable. */
static void spill_tick(void);
static void sort_big(void *base, size_t n, size_t sz, int (*cmp)(const void *, const void *)) {
  if (n < 2) return;
  uint8_t *tmp = n > 4096 && sz <= 64 ? spill_alloc(n * sz) : NULL;
  if (!tmp) {
    qsort(base, n, sz, cmp);
    return;
  }
  uint8_t *a = base, *b = tmp, x[64];
  /* runs of 16 by insertion */
  for (size_t s = 0; s < n; s += 16) {
    size_t e = s + 16 < n ? s + 16 : n;
    for (size_t i = s + 1; i < e; i++) {
      memcpy(x, a + i * sz, sz);
      size_t j = i;
      for (; j > s && cmp(a + (j - 1) * sz, x) > 0; j--) memcpy(a + j * sz, a + (j - 1) * sz, sz);
      memcpy(a + j * sz, x, sz);
    }
    spill_tick();
  }
  for (size_t w = 16; w < n; w *= 2) {
    for (size_t s = 0; s < n; s += 2 * w) {
      size_t m = s + w < n ? s + w : n, e = s + 2 * w < n ? s + 2 * w : n, i = s, j = m, k = s;
      while (i < m && j < e) {
        if (cmp(a + j * sz, a + i * sz) < 0) memcpy(b + k++ * sz, a + j++ * sz, sz);
        else memcpy(b + k++ * sz, a + i++ * sz, sz);
        spill_tick();
      }
      spill_copy(b + k * sz, a + i * sz, (m - i) * sz), k += m - i; /* a run's rest: up to half */
      spill_copy(b + k * sz, a + j * sz, (e - j) * sz);
      spill_tick();
    }
    uint8_t *t = a;
    a = b, b = t;
  }
  if (a != base) spill_copy(base, a, n * sz);
  spill_free(tmp);
}

static uint64_t hash64(const char *p, size_t n) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (size_t i = 0; i < n; i++) {
    h ^= (uint8_t)p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "shit-apply: out of memory\n");
    exit(4);
  }
  return p;
}

/* ---- safe path resolution ---- */
struct loc {
  int dfd;
  const char *name; /* points into the caller's path */
  int own;          /* dfd is this loc's to close; 0: it is the cached parent's, lent */
};

/* The last parent directory opened, kept open: consecutive steps in one directory (10k files
 * restored under a few dirs) walk the path once. Dropped after any step that renames or
 * removes a directory (a directory may have moved). The fd stays the directory it was opened
 * as, so a parent swapped for a symlink meanwhile is still not followed. It is lent to one loc
 * at a time (no descriptor copy per step); a second loc open at once (a rename's) gets a copy,
 * and a loc holding it when the cache is dropped takes it over and closes it itself. */
static char cached_dir[PATH_MAX];
static int cached_fd = -1;
static struct loc *lent_to; /* the loc the cached fd is lent to, NULL: none */
static int removed_dir;     /* the last REMOVE step removed a directory */
static int cached_placed;   /* a PLACE step finished in the cached directory */
static void drop_parent_cache(void) {
  cached_placed = 0;
  if (lent_to) lent_to->own = 1;
  else if (cached_fd >= 0) close(cached_fd);
  lent_to = NULL;
  cached_fd = -1;
  cached_dir[0] = 0;
}

/* Opens PATH's parent directory from "/" component by component, never following a symlink.
 * Returns 0 and fills l, or an errno (ENOENT when a parent is missing, E_PARENT_SYMLINK). */
static int open_parent(const char *path, struct loc *l) {
  l->dfd = -1;
  l->name = NULL;
  l->own = 1;
  if (path[0] != '/') return EINVAL;
  const char *last = strrchr(path, '/');
  while (last > path && last[1] == 0) return EINVAL; /* a trailing slash: not a plan path */
  l->name = last + 1;
  if (!*l->name || !strcmp(l->name, ".") || !strcmp(l->name, "..")) return EINVAL;
  size_t dlen = (size_t)(last - path);
  if (cached_fd >= 0 && dlen < sizeof cached_dir && strlen(cached_dir) == dlen &&
      !memcmp(cached_dir, path, dlen)) {
    int d = lent_to ? fcntl(cached_fd, F_DUPFD_CLOEXEC, 0) : cached_fd;
    if (d >= 0) {
      l->dfd = d;
      if (!lent_to) {
        lent_to = l;
        l->own = 0;
      }
      cap_dir_known(d, path, dlen);
      return 0;
    }
  }
  int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  const char *p = path;
  char comp[NAME_MAX + 1];
  while (p < last) {
    while (*p == '/') p++;
    if (p >= last) break;
    const char *e = p;
    while (*e != '/') e++;
    size_t n = (size_t)(e - p);
    if (n > NAME_MAX) {
      close(fd);
      return ENAMETOOLONG;
    }
    memcpy(comp, p, n);
    comp[n] = 0;
    p = e;
    if (!strcmp(comp, ".")) continue;
    if (!strcmp(comp, "..")) {
      close(fd);
      return EINVAL;
    }
    int nfd = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (nfd < 0) {
      int e2 = errno;
      struct stat st;
      if ((e2 == ENOTDIR || e2 == ELOOP) && fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
          S_ISLNK(st.st_mode))
        e2 = E_PARENT_SYMLINK;
      close(fd);
      return e2;
    }
    close(fd);
    fd = nfd;
  }
  l->dfd = fd;
  cap_dir_known(fd, path, dlen); /* walked from "/" with no symlink followed: its path is this */
  /* it becomes the cached one, lent to l */
  if (dlen < sizeof cached_dir && !lent_to) {
    drop_parent_cache();
    cached_fd = fd;
    memcpy(cached_dir, path, dlen);
    cached_dir[dlen] = 0;
    lent_to = l;
    l->own = 0;
  }
  return 0;
}

/* 1 when PATH's parent is the cached directory, free to lend (open_parent walks nothing). */
static int parent_cached(const char *path) {
  const char *last = strrchr(path, '/');
  size_t dlen = last ? (size_t)(last - path) : 0;
  return last && cached_fd >= 0 && !lent_to && strlen(cached_dir) == dlen && !memcmp(cached_dir, path, dlen);
}

static void close_loc(struct loc *l) {
  if (l->dfd >= 0) cap_dir_forget(l->dfd);
  if (l->dfd >= 0 && l->own) close(l->dfd);
  if (lent_to == l) lent_to = NULL; /* back to the cache */
  l->dfd = -1;
}

/* lstat PATH safely: 0 (found), ENOENT (absent, also when a parent is missing or not a
 * directory), or another errno. */
static char gone_dir[PATH_MAX]; /* the last directory safe_lstat found missing ("": none) */
static int safe_lstat(const char *path, struct sp_stat *st) {
  /* Only the EXPECT checks use it, before any step: a directory missing then holds nothing,
   * so the paths under it (10k under one removed tree) need no walk from "/" each. */
  size_t gl = strlen(gone_dir);
  if (gl && !strncmp(path, gone_dir, gl) && path[gl] == '/') return ENOENT;
  struct loc l;
  int e = open_parent(path, &l);
  if (e == ENOENT || e == ENOTDIR) {
    const char *last = strrchr(path, '/');
    size_t dl = last ? (size_t)(last - path) : 0;
    if (dl > 1 && dl < sizeof gone_dir) memcpy(gone_dir, path, dl), gone_dir[dl] = 0;
    return ENOENT;
  }
  if (e) return e;
  int r = sp_statat(l.dfd, l.name, AT_SYMLINK_NOFOLLOW, st);
  close_loc(&l);
  return r == -ENOTDIR ? ENOENT : -r;
}

/* ---- copying bytes ---- */
/* Copies len bytes of src from offset in to dst at offset out (fewer when src ends first):
 * copy_file_range, else pread/pwrite. Returns 0 or an errno. */
static int copy_seg(int src, int dst, loff_t in, loff_t out, int64_t len) {
  int use_cfr = 1;
  while (len > 0) {
    size_t want = len > (1 << 30) ? (size_t)1 << 30 : (size_t)len;
    ssize_t n = -1;
    if (use_cfr) {
      n = copy_file_range(src, &in, dst, &out, want, 0);
      if (n < 0 &&
          (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP || errno == EBADF)) {
        use_cfr = 0;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno;
    } else {
      static char buf[1 << 16];
      size_t w = want < sizeof buf ? want : sizeof buf;
      n = pread(src, buf, w, in);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno;
      for (ssize_t done = 0; done < n;) {
        ssize_t k = pwrite(dst, buf + done, (size_t)(n - done), out + done);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return errno;
        done += k;
      }
      in += n;
      out += n;
    }
    if (n == 0) break; /* end of the source */
    len -= n;
  }
  return 0;
}

/* Copies `limit` bytes (-1: all) of src to dst at offset dst_off, where dst ends (nothing of dst
 * lies past it). A reflink when it can; else only src's data segments (SEEK_DATA / SEEK_HOLE),
 * and dst is then extended to the length, so holes stay holes: a sparse file comes back sparse.
 * Returns 0 or an errno. */
static int copy_bytes(int src, int dst, int64_t limit, int64_t dst_off) {
  if (limit < 0 && dst_off == 0 && ioctl(dst, FICLONE, src) == 0) return 0;
  struct stat st;
  if (fstat(src, &st) < 0) return errno;
  int64_t end = limit < 0 || limit > st.st_size ? st.st_size : limit, pos = 0;
  while (pos < end) {
    off_t data = lseek(src, pos, SEEK_DATA), hole;
    if (data < 0 && errno == ENXIO) break; /* only a hole is left */
    if (data < 0) {
      data = pos;
      hole = end;
    } else {
      hole = lseek(src, data, SEEK_HOLE);
      if (hole < 0 || hole > end) hole = end;
    }
    if (data >= end) break;
    int e = copy_seg(src, dst, data, dst_off + data, hole - data);
    if (e) return e;
    pos = hole;
  }
  return ftruncate(dst, dst_off + end) < 0 ? errno : 0;
}

/* Opens a KEEP source (absolute path of a blob or staged file): a regular file, not a symlink. */
static int open_source(const char *src, int *err) {
  int fd = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    *err = errno;
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) < 0) {
    *err = errno;
    close(fd);
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    *err = EINVAL;
    close(fd);
    return -1;
  }
  return fd;
}

/* Whether a KEEP source is a kept pre-image of command `of`: <state>/staging/<of>/<dev>-<ino> or
 * <dev>-<ino>.tail<n> (by inode), or <state>/staging/<of>/d<dev>-<ino>/<name> (an unlinked file
 * by its directory and its plain name: printable ASCII but '/', not "." or ".."), in that
 * command's own staging dir. The CLI checks the same (src/store/store.ts isKeepName); a plan
 * naming anything else is refused before any step. */
static const char *digits(const char *q) {
  while (*q >= '0' && *q <= '9') q++;
  return q;
}
static int keep_ok(const char *keep, const char *of) {
  size_t sl = strlen(state), ol = strlen(of);
  if (!ol || strchr(of, '/') || !strcmp(of, ".") || !strcmp(of, "..")) return 0;
  if (strncmp(keep, state, sl) || strncmp(keep + sl, "/staging/", 9) || strncmp(keep + sl + 9, of, ol) ||
      keep[sl + 9 + ol] != '/')
    return 0;
  const char *p = keep + sl + 9 + ol + 1, *q;
  int by_dir = *p == 'd';
  p += by_dir;
  if ((q = digits(p)) == p || *q++ != '-') return 0;
  if ((p = digits(q)) == q) return 0;
  if (by_dir) {
    if (*p++ != '/' || !*p || !strcmp(p, ".") || !strcmp(p, "..") || strlen(p) > 255) return 0;
    for (; *p; p++)
      if (*p < 0x20 || *p > 0x7e || *p == '/') return 0;
    return 1;
  }
  if (!*p) return 1;
  if (strncmp(p, ".tail", 5)) return 0;
  q = p + 5;
  return (p = digits(q)) != q && !*p;
}

/* ---- capture brackets ---- */
static struct cap_op o;

static void end_op(long ret, int err, int newfd, int step) {
  o.step = step;
  cap_end(&o, ret, err, newfd);
}

/* Capture could not keep what this step's call would destroy (a full disk: the pre-image or its
 * record could not be written): the call is not made and no record written, so nothing is lost;
 * its errno stops the apply, and running it again once there is room finishes it. */
static int kept_nothing(void) {
  int e = cap_failed(&o);
  if (e) cap_end(&o, -1, e, -1);
  return e;
}

/* Metadata of an object this step just created: not recorded separately. */
static void set_created_meta(int dfd, const char *name, const struct sp_stat *pre, const char *path,
                             int is_link) {
  /* an inode moved back whole mostly has all of it already: set only what differs */
  struct sp_stat cur;
  int known = sp_statat(dfd, name, AT_SYMLINK_NOFOLLOW, &cur) == 0;
  if ((!known || cur.uid != pre->uid || cur.gid != pre->gid) &&
      fchownat(dfd, name, pre->uid, pre->gid, AT_SYMLINK_NOFOLLOW) < 0 && errno != EPERM)
    fprintf(stderr, "shit-apply: %s: cannot restore owner: %s\n", path, strerror(errno));
  if (!is_link &&
      (!known || (cur.mode & 07777) != (pre->mode & 07777) || cur.uid != pre->uid || cur.gid != pre->gid) &&
      fchmodat(dfd, name, pre->mode & 07777, 0) < 0)
    fprintf(stderr, "shit-apply: %s: cannot restore mode: %s\n", path, strerror(errno));
  struct timespec ts[2] = {{pre->atime_ns / 1000000000, pre->atime_ns % 1000000000},
                           {pre->mtime_ns / 1000000000, pre->mtime_ns % 1000000000}};
  if ((!known || cur.mtime_ns != pre->mtime_ns || cur.atime_ns != pre->atime_ns) &&
      utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
    fprintf(stderr, "shit-apply: %s: cannot restore times: %s\n", path, strerror(errno));
}

static struct timespec ns_ts(int64_t ns) {
  int64_t s = ns / 1000000000, r = ns % 1000000000;
  if (r < 0) {
    r += 1000000000;
    s--;
  }
  return (struct timespec){s, r};
}

/* ---- steps ----
 * The plan stays in its mapping: what a step says is decoded from its record when the step is
 * looked at (step_load: a struct step, its strings NUL-terminated in its own buffer), and per step
 * only a slot is kept, with what the passes before and after the steps learn of it. */
struct slot {
  const uint8_t *rec; /* its record in the plan */
  int whole_of;       /* a member of the directory moved back whole by step whole_of - 1 (0: none) */
  int dm;             /* a directory's PLACE that may move a staging dir into place: dmoves[dm - 1] */
  uint8_t op;
  int8_t kept;                        /* STEP_F_KEPT_WHOLE checked: 1 KEEP found as kst, -1 at PATH already */
  uint8_t moved_whole;                /* this directory was moved back whole */
  uint8_t whole_bad, acted_on;        /* a later step moved it (or above); a later step names this member */
  uint32_t kuid, kgid, kmode, knlink; /* kept == 1: the kept inode's stat (its dev, ino, size and */
  int64_t kctime, katime, kbtime;     /* mtime are PRE's: kept_ok found them so) */
};
struct dmove {
  char *from; /* the staging dir */
  int *members, n;
};
static struct slot *slots;
static struct dmove *dmoves;
static size_t ndmoves;
static struct mapped plan;

/* Called in each pass over the steps that reads no record (map_touch asks in the others): every
 * 4096 calls, the file pages resident asked, and past the window the plan's and the spilled ones
 * let go. */
static void spill_look(void) {
  spill_charged = 0;
  if (file_resident() < map_window) return;
  if (plan.mapped) madvise(plan.p, plan.len, MADV_DONTNEED);
  plan.touched = 0;
  spill_let_go();
}
static void spill_tick(void) {
  static unsigned n;
  if (++n % 4096 == 0) spill_look();
}
/* n bytes of spilled memory read or written with no record read (a lookup by path hash, a copy):
 * a fault maps the 64 KiB around it from the page cache, so a lookup is charged that per page it
 * may touch, and statm is asked every eighth of the window (~1 µs). The undo of an rm -rf of 1.2M
 * files peaked at 63 MiB with its 32 MiB window while only the passes over the steps asked: the
 * end scan's tables, copied whole when they grew, took it there (find_moves still rises to
 * ~55 MiB: DESIGN.md "Scale"). */
static void spill_charge(size_t n) {
  if (!spill.p) return;
  spill_charged += n;
  if (spill_charged >= map_window / 8) spill_look();
}

struct step {
  int idx, op;
  uint32_t flags;
  char *path, *path2, *keep, *target, *xname; /* in mem */
  char how;
  const uint8_t *xvalue; /* in the plan's mapping */
  uint32_t xvalue_n;
  int has_pre;
  struct sp_stat pre;
  int kept; /* slot's */
  struct sp_stat kst;
  char *move_from; /* dmoves[dm - 1], or NULL */
  int *members, nmembers;
  char *mem;
  size_t memcap;
  int64_t length; /* LENGTH: REWRITE bytes of the source (-1 all), TRUNCATE length */
  int has_length;
  int64_t tail_of;    /* TAIL_OF: REWRITE from a kept tail, -1 when not */
  int64_t kept_ctime; /* KEPT_CTIME: the kept inode's ctime right after the keep, INT64_MIN unknown */
  int64_t rdev;       /* RDEV: PLACE a device node */
  struct expect {     /* EXPECT: what PATH must be; type 0: absent */
    uint32_t type;
    int has_dev, has_ino, has_size, has_mtime;
    uint64_t dev, ino;
    int64_t size, mtime_ns;
  } want;
};

/* A string field as C reads it (up to a NUL), in the record: its length in *n; NULL when absent.
 * KEEP without its `how` byte (NULL when that is all). */
static const char *view_str(const struct sp_view *v, int tag, size_t *n) {
  const char *q = (const char *)v->f[tag];
  size_t fn = v->fn[tag];
  *n = 0;
  if (!q || (tag == T_KEEP && fn <= 1)) return NULL;
  if (tag == T_KEEP) q++, fn--;
  *n = strnlen(q, fn);
  return q;
}

/* Step i's record (checked whole when the plan was read). */
static void rec_view(size_t i, struct sp_view *v) {
  const uint8_t *r = slots[i].rec;
  size_t off = 0;
  sp_next(r, plan.len - (size_t)(r - plan.p), &off, v);
  map_touch(&plan, r, off);
}

static const char *rec_str(size_t i, int tag, size_t *n) {
  struct sp_view v;
  rec_view(i, &v);
  return view_str(&v, tag, n);
}

/* Whether step i's PATH is p (pl bytes). */
static int path_is(int i, const char *p, size_t pl) {
  size_t qn;
  const char *q = rec_str((size_t)i, T_PATH, &qn);
  return q && qn == pl && !memcmp(q, p, pl);
}

/* The kept inode's stat as kept_ok found it (slot kept == 1), with PRE's dev, ino, size, mtime. */
static void slot_kst(const struct slot *sl, const struct sp_stat *pre, struct sp_stat *k) {
  *k = (struct sp_stat){.dev = pre->dev,
                        .ino = pre->ino,
                        .mode = sl->kmode,
                        .uid = sl->kuid,
                        .gid = sl->kgid,
                        .nlink = sl->knlink,
                        .size = pre->size,
                        .mtime_ns = pre->mtime_ns,
                        .ctime_ns = sl->kctime,
                        .atime_ns = sl->katime,
                        .rdev = 0, /* a regular file */
                        .btime_ns = sl->kbtime};
}

static char *put_str(char *mem, size_t *at, const struct sp_view *v, int tag) {
  size_t n;
  const char *q = view_str(v, tag, &n);
  if (!q) return NULL;
  char *d = mem + *at;
  memcpy(d, q, n);
  d[n] = 0;
  *at += n + 1;
  return d;
}

/* Step i as the plan says it, with what its slot learned. */
static void step_load(size_t i, struct step *s) {
  struct sp_view v;
  rec_view(i, &v);
  char *mem = s->mem;
  size_t cap = s->memcap, at = 0;
  if (cap < (size_t)v.len + 8) {
    free(mem);
    cap = (size_t)v.len + 64;
    mem = xmalloc(cap);
  }
  memset(s, 0, sizeof *s);
  s->mem = mem;
  s->memcap = cap;
  s->idx = (int)i;
  s->op = v.op;
  s->flags = v.flags;
  s->path = put_str(mem, &at, &v, T_PATH);
  s->path2 = put_str(mem, &at, &v, T_PATH2);
  s->target = put_str(mem, &at, &v, T_TARGET);
  s->xname = put_str(mem, &at, &v, T_XNAME);
  if (v.f[T_XVALUE]) {
    s->xvalue = v.f[T_XVALUE];
    s->xvalue_n = v.fn[T_XVALUE];
  }
  if ((s->keep = put_str(mem, &at, &v, T_KEEP))) s->how = (char)v.f[T_KEEP][0];
  s->has_pre = sp_view_stat(&v, T_PRE, &s->pre);
  s->has_length = v.f[T_LENGTH] != NULL;
  s->length = sp_view_i64(&v, T_LENGTH, -1);
  s->tail_of = sp_view_i64(&v, T_TAIL_OF, -1);
  s->kept_ctime = sp_view_i64(&v, T_KEPT_CTIME, INT64_MIN);
  s->rdev = sp_view_i64(&v, T_RDEV, 0);
  struct expect *w = &s->want;
  w->type = (uint32_t)sp_view_i64(&v, T_TYPE, 0) & S_IFMT;
  if ((w->has_dev = v.f[T_DEV] != NULL)) w->dev = (uint64_t)sp_view_i64(&v, T_DEV, 0);
  if ((w->has_ino = v.f[T_INO] != NULL)) w->ino = (uint64_t)sp_view_i64(&v, T_INO, 0);
  if ((w->has_size = v.f[T_SIZE] != NULL)) w->size = sp_view_i64(&v, T_SIZE, 0);
  if ((w->has_mtime = v.f[T_MTIME] != NULL)) w->mtime_ns = sp_view_i64(&v, T_MTIME, 0);
  const struct slot *sl = &slots[i];
  s->kept = sl->kept;
  if (sl->kept == 1) slot_kst(sl, &s->pre, &s->kst);
  if (sl->dm) {
    const struct dmove *d = &dmoves[sl->dm - 1];
    s->move_from = d->from;
    s->members = d->members;
    s->nmembers = d->n;
  }
}

/* Steps by the hash of a path, then by index: found by their path without a copy of it. */
struct hidx {
  uint64_t h;
  int idx;
};
static int by_hidx(const void *a, const void *b) {
  const struct hidx *x = a, *y = b;
  if (x->h != y->h) return x->h < y->h ? -1 : 1;
  return x->idx - y->idx;
}
/* The lowest step in t whose PATH is p (pl bytes), at or after *from in t's order (-1: none). */
static int hidx_find(const struct hidx *t, size_t n, const char *p, size_t pl, size_t *from) {
  uint64_t h = hash64(p, pl);
  size_t lo = 0, hi = n;
  spill_charge(2 * FAULT_AROUND); /* its probes' last levels (the first ones stay mapped) */
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (t[mid].h < h) lo = mid + 1;
    else hi = mid;
  }
  if (*from > lo) lo = *from;
  for (; lo < n && t[lo].h == h; lo++)
    if (path_is(t[lo].idx, p, pl)) {
      *from = lo + 1;
      return t[lo].idx;
    }
  *from = n;
  return -1;
}

/* Short-lived copies of strings of the plan, NUL-terminated. */
struct arena {
  char *p;
  size_t n, cap;
};
static size_t arena_put(struct arena *a, const char *q, size_t n) {
  if (a->n + n + 1 > a->cap) {
    size_t nc = (a->cap ? a->cap * 2 : 4096) + n + 1;
    char *np = realloc(a->p, nc);
    if (!np) {
      fprintf(stderr, "shit-apply: out of memory\n");
      exit(4);
    }
    a->p = np;
    a->cap = nc;
  }
  size_t at = a->n;
  memcpy(a->p + at, q, n);
  a->p[at + n] = 0;
  a->n += n + 1;
  return at;
}

/* later: the file's unlink may be recorded only (o.staged_later, *st its stat): its directory
 * goes into staging whole (remove_dir_whole). */
static int remove_at(struct step *s, int later, struct sp_stat *st_out) {
  struct loc l;
  int e = open_parent(s->path, &l);
  if (e == ENOENT) return 0; /* absent: nothing to remove (or removed before a kill) */
  if (e) return e;
  struct sp_stat st;
  int r = sp_statat(l.dfd, l.name, AT_SYMLINK_NOFOLLOW, &st);
  if (st_out) *st_out = st;
  if (r == -ENOENT) {
    close_loc(&l);
    return 0;
  }
  if (r) {
    close_loc(&l);
    return -r;
  }
  int fl = S_ISDIR(st.mode) ? AT_REMOVEDIR : 0;
  removed_dir = fl != 0;
  o.step = s->idx;
  cap_stage_later = later;
  cap_pre_known = &st; /* just taken: not again in cap_unlink */
  cap_unlink(&o, l.dfd, l.name, fl);
  cap_pre_known = NULL;
  cap_stage_later = 0;
  o.step = s->idx;
  int lost = kept_nothing();
  if (lost) {
    close_loc(&l);
    return lost;
  }
  if (o.done || o.staged_later) {
    close_loc(&l);
    return o.ret < 0 ? (o.err ? o.err : EIO) : 0;
  }
  long rr = unlinkat(l.dfd, l.name, fl);
  int err = rr < 0 ? errno : 0;
  end_op(rr, err, -1, s->idx);
  close_loc(&l);
  return err;
}

static int do_remove(struct step *s) { return remove_at(s, 0, NULL); }

static int do_rename(struct step *s) {
  if (!s->path2) return EINVAL;
  struct loc a, b;
  int e = open_parent(s->path, &a);
  if (e) return e;
  if ((e = open_parent(s->path2, &b))) {
    close_loc(&a);
    return e;
  }
  struct sp_stat st;
  if (sp_statat(a.dfd, a.name, AT_SYMLINK_NOFOLLOW, &st) == -ENOENT &&
      sp_statat(b.dfd, b.name, AT_SYMLINK_NOFOLLOW, &st) == 0) { /* renamed before a kill */
    close_loc(&a);
    close_loc(&b);
    return 0;
  }
  o.step = s->idx;
  cap_rename(&o, a.dfd, a.name, b.dfd, b.name, RENAME_NOREPLACE);
  o.step = s->idx;
  int err = 0;
  if (o.done) err = o.ret < 0 ? (o.err ? o.err : EIO) : 0;
  else {
    long r = renameat2(a.dfd, a.name, b.dfd, b.name, RENAME_NOREPLACE);
    err = r < 0 ? errno : 0;
    end_op(r, err, -1, s->idx);
  }
  close_loc(&a);
  close_loc(&b);
  return err;
}

/* Copies the source into a new file dfd/name atomically: the bytes and the metadata go into a
 * temporary name in the same directory, renamed (RENAME_NOREPLACE) into place when complete, so
 * a kill never leaves a half-copied file under the real name. The temporary name is derived
 * from the command and step, so a re-run removes a leftover. */
static int place_copy(int dfd, const char *name, int src, const struct step *s) {
  char tmp[96];
  snprintf(tmp, sizeof tmp, ".shit-apply.%s.%d.tmp", cmd_id, s->idx);
  unlinkat(dfd, tmp, 0);
  int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return errno;
  int e = copy_bytes(src, fd, -1, 0);
  if (!e && s->has_pre) {
    if (fchown(fd, s->pre.uid, s->pre.gid) < 0 && errno != EPERM)
      fprintf(stderr, "shit-apply: %s: cannot restore owner: %s\n", s->path, strerror(errno));
    if (fchmod(fd, s->pre.mode & 07777) < 0)
      fprintf(stderr, "shit-apply: %s: cannot restore mode: %s\n", s->path, strerror(errno));
    struct timespec ts[2] = {ns_ts(s->pre.atime_ns), ns_ts(s->pre.mtime_ns)};
    futimens(fd, ts);
  }
  if (close(fd) < 0 && !e) e = errno;
  if (!e && renameat2(dfd, tmp, dfd, name, RENAME_NOREPLACE) < 0) e = errno;
  if (e) unlinkat(dfd, tmp, 0);
  return e;
}

/* 1 when dfd/name is a regular file with exactly the bytes of src. */
static int same_content(int src, int dfd, const char *name) {
  int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return 0;
  struct stat a, b;
  int same = fstat(fd, &a) == 0 && fstat(src, &b) == 0 && S_ISREG(a.st_mode) && a.st_size == b.st_size;
  static char x[1 << 16], y[1 << 16];
  for (off_t off = 0; same && off < a.st_size;) {
    ssize_t n = pread(src, x, sizeof x, off), m = n > 0 ? pread(fd, y, (size_t)n, off) : -1;
    if (n <= 0 || m != n || memcmp(x, y, (size_t)n)) same = 0;
    else off += n;
  }
  close(fd);
  return same;
}

/* A re-run found what this step creates already there, with no record of it in our own spool:
 * the first run was killed between making it and writing its record. Write that record now (as
 * the capture would have: the creation of PATH, its parent, the object as it is), so the redo
 * (the undo of this undo) removes it too. */
static void record_found(const struct step *s, int dfd, const char *name, mode_t type) {
  static struct sp_buf b;
  struct sp_stat st, par;
  if (sp_statat(dfd, name, AT_SYMLINK_NOFOLLOW, &st) < 0) return;
  int op = type == S_IFREG ? SP_OPEN : type == S_IFDIR ? SP_MKDIR : type == S_IFLNK ? SP_SYMLINK : SP_MKNOD;
  uint32_t flags = type == S_IFREG ? (uint32_t)(O_WRONLY | O_CREAT | O_EXCL) : op == SP_SYMLINK ? 0 : st.mode;
  sp_start(&b, op, flags);
  sp_add_str(&b, T_PATH, s->path);
  if (sp_statat(dfd, "", AT_EMPTY_PATH, &par) == 0) sp_add_stat(&b, T_PARENT, &par);
  if (type == S_IFREG) sp_add_stat(&b, T_POST, &st);
  if (type == S_IFLNK && s->target) sp_add_str(&b, T_TARGET, s->target);
  if (op == SP_MKNOD) sp_add_i64(&b, T_ARG, s->rdev);
  uint32_t idx = (uint32_t)s->idx;
  sp_add(&b, T_STEP, &idx, 4);
  sp_commit(&b, spool_path, 0);
}

/* What this step creates is there already (cur): a re-run of it after a kill. Accepts what the
 * step evidently made (0) or refuses (EEXIST). Closes src. */
static int place_found(const struct step *s, const struct loc *l, mode_t type, int staged, int src,
                       const struct sp_stat *cur) {
  int reuse = 0, err = 0;
  if ((cur->mode & S_IFMT) == type) {
    if (touched[s->idx]) reuse = 1; /* our own spool says this step created it */
    else if (type == S_IFREG) {
      if (staged && src < 0 && (src = open_source(s->keep, &err)) < 0)
        err = 0; /* unreadable (mode 000): by size */
      if (src >= 0) reuse = same_content(src, l->dfd, l->name);
      else reuse = !s->has_pre || cur->size == s->pre.size; /* 'R': the source moved here */
    } else if (type == S_IFLNK) {
      char t[PATH_MAX + 1];
      ssize_t n = readlinkat(l->dfd, l->name, t, sizeof t - 1);
      if (n >= 0) {
        t[n] = 0;
        reuse = !strcmp(t, s->target);
      }
    } else {
      reuse = 1; /* a directory / fifo / socket / device of that type */
    }
  }
  if (src >= 0) close(src);
  if (reuse && !touched[s->idx]) record_found(s, l->dfd, l->name, type);
  if (reuse && s->has_pre) set_created_meta(l->dfd, l->name, &s->pre, s->path, type == S_IFLNK);
  return reuse ? 0 : EEXIST;
}

/* Puts a regular file in place (absent when the step began, as far as it knows): the staged
 * inode itself for 'R' (renamed back: recorded as the creation of PATH, not a rename), else a
 * copy. The move goes first, without looking whether PATH exists: RENAME_NOREPLACE refuses an
 * existing one, which then is a re-run's (place_found). *moved: the staged inode itself was moved. */
static int place_file(const struct step *s, struct loc *l, int staged, int *src, int *moved) {
  int err = 0;
  *moved = 0;
  o.step = s->idx;
  cap_open_new(&o, l->dfd, l->name, O_WRONLY | O_CREAT | O_EXCL);
  o.step = s->idx;
  if (s->how == 'R' && staged) {
    if (renameat2(AT_FDCWD, s->keep, l->dfd, l->name, RENAME_NOREPLACE) == 0) *moved = 1;
    else if (errno != EXDEV) err = errno;
  }
  /* across filesystems: copied, so it must be readable (a mode-000 one fails EACCES) */
  if (!*moved && !err && *src < 0) *src = open_source(s->keep, &err);
  if (!*moved && !err) {
    err = place_copy(l->dfd, l->name, *src, s);
    if (!err && s->how == 'R') unlink(s->keep); /* a move across filesystems */
  }
  /* the record's POST: the file now in place (a statx of the name, not an open and fstat) */
  struct sp_stat post;
  int have = !err && sp_statat(l->dfd, l->name, AT_SYMLINK_NOFOLLOW, &post) == 0;
  o.step = s->idx;
  cap_end_post(&o, err ? -1 : 0, err, have ? &post : NULL);
  return err;
}

/* STEP_F_KEPT_WHOLE: KEEP is PATH's own inode (moved into staging by capture), so it must have
 * PRE's device, inode, size and mtime (a rename changes none of them; its ctime it does). Found
 * there: kept = 1 with its stat for do_place. Absent, and PATH holds it: kept = -1 (moved back by
 * a run killed before its journal entry; do_place takes that as done). Else it says so: 0. */
/* The staged files' dirs, opened once for a run of files kept in one (kept_ok, before any step:
 * dropped after, since a staging dir may move into place then) */
static struct sp_dir staged_dir;

static int kept_ok(struct step *s) {
  if (!s->keep || s->how != 'R' || !s->has_pre) return 1;
  struct sp_stat st;
  int r = sp_lstat_in_dir(&staged_dir, s->keep, &st);
  int same = r == 0 && S_ISREG(st.mode) && st.dev == s->pre.dev && st.ino == s->pre.ino &&
             st.size == s->pre.size && st.mtime_ns == s->pre.mtime_ns;
  /* bytes written over it with its size and mtime put back: only its ctime tells (a plan made
   * ahead is taken without the CLI's own check of it) */
  int touched = same && s->kept_ctime != INT64_MIN && st.ctime_ns != s->kept_ctime;
  same = same && !touched;
  if (same) {
    struct slot *sl = &slots[s->idx];
    s->kept = sl->kept = 1;
    s->kst = st;
    sl->kuid = st.uid, sl->kgid = st.gid, sl->kmode = st.mode, sl->knlink = st.nlink;
    sl->kctime = st.ctime_ns, sl->katime = st.atime_ns, sl->kbtime = st.btime_ns;
    return 1;
  }
  if (r == -ENOENT && safe_lstat(s->path, &st) == 0 && st.dev == s->pre.dev && st.ino == s->pre.ino) {
    s->kept = slots[s->idx].kept = -1;
    return 1;
  }
  fprintf(stderr, "shit-apply: %s: its kept pre-image %s %s\n", s->path, s->keep,
          r == -ENOENT ? "is missing"
          : r          ? strerror(-r)
          : touched    ? "changed since it was kept (its ctime moved)"
                       : "changed since it was kept");
  return 0;
}

static void journal_add(uint32_t idx);
static void progress_step(void);

/* ---- a directory moved back whole ----
 * An rm -rf keeps each file it unlinks by its directory and name (staging/<of>/d<dev>-<ino>/<name>,
 * capture.c keep_base_in_dir), so the staging dir of a removed directory holds its files under
 * their own names. When the plan puts that directory back (a PLACE of a directory that is not
 * there) with every file of that staging dir moved back whole into it, unchanged (each checked by
 * kept_ok before any step), the staging dir is renamed into place instead of a mkdir and a rename
 * per file: 100 renames for the undo of an rm -rf of 10k files in 100 directories, not 10,100.
 * The records are the same as the mkdir's and the PLACEs' would be (the directory and each file
 * created, each file's POST its stat as checked: a rename of its directory changes nothing of
 * it), so a redo is the same; each member's step is journaled as done with them. */
static size_t all_n;
static uint8_t *all_done;

static size_t dir_len(const char *p) { return (size_t)(strrchr(p, '/') - p); }
/* ... of a string of n bytes ((size_t)-1: no '/') */
static size_t dir_len_n(const char *p, size_t n) {
  const char *sl = memrchr(p, '/', n);
  return sl ? (size_t)(sl - p) : (size_t)-1;
}

struct member {
  uint64_t h; /* of the keep's staging dir: KEEP up to its last '/' */
  size_t mlen;
  int idx;
};
static const char *mdir_of(int idx, size_t *n) {
  size_t kn;
  const char *k = rec_str((size_t)idx, T_KEEP, &kn);
  *n = dir_len_n(k, kn);
  return k;
}
static int by_hash(const void *a, const void *b) {
  const struct member *x = a, *y = b;
  if (x->h != y->h) return x->h < y->h ? -1 : 1;
  if (x->mlen != y->mlen) return x->mlen < y->mlen ? -1 : 1;
  return x->idx - y->idx;
}
static int by_mdir(const void *a, const void *b) {
  const struct member *x = a, *y = b;
  size_t xn, yn;
  const char *xd = mdir_of(x->idx, &xn), *yd = mdir_of(y->idx, &yn);
  int c = memcmp(xd, yd, xn < yn ? xn : yn);
  if (c) return c;
  if (xn != yn) return xn < yn ? -1 : 1;
  return x->idx - y->idx;
}
static int same_mdir(const struct member *x, const struct member *y) {
  size_t xn, yn;
  const char *xd = mdir_of(x->idx, &xn), *yd = mdir_of(y->idx, &yn);
  return xn == yn && !memcmp(xd, yd, xn);
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Whether moving the n members' files in at d's step changes nothing of the plan's order: no
 * other step between d and the last member acts on one of their names in that directory (an
 * undo of `rm d/f; mv d/g d/f; rm d/f` puts one f back, moves it to g, then puts the other f
 * back). Only a short stretch is looked at: the files of a removed directory follow its PLACE. */
static int in_order(int d, const struct member *mm, size_t n, const char *dir, size_t dl) {
  int last = d;
  for (size_t k = 0; k < n; k++)
    if (mm[k].idx > last) last = mm[k].idx;
  if ((size_t)(last - d) > 4 * n + 64) return 0;
  const char **names = malloc(n * sizeof *names);
  size_t *at = malloc(n * sizeof *at);
  uint8_t *mine = calloc((size_t)(last - d) + 1, 1);
  struct arena a = {0}, key = {0};
  int ok = names && mine && at;
  for (size_t k = 0; ok && k < n; k++) {
    size_t pn;
    const char *p = rec_str((size_t)mm[k].idx, T_PATH, &pn);
    size_t dn = dir_len_n(p, pn);
    at[k] = arena_put(&a, p + dn + 1, pn - dn - 1);
    mine[mm[k].idx - d] = 1;
  }
  for (size_t k = 0; ok && k < n; k++) names[k] = a.p + at[k];
  if (ok) qsort(names, n, sizeof *names, by_name);
  for (int j = d + 1; ok && j < last; j++) {
    if (mine[j - d]) continue;
    struct sp_view v;
    rec_view((size_t)j, &v);
    static const int tags[2] = {T_PATH, T_PATH2};
    for (int k = 0; k < 2 && ok; k++) {
      size_t qn;
      const char *q = view_str(&v, tags[k], &qn);
      if (!q || dir_len_n(q, qn) != dl || memcmp(q, dir, dl)) continue;
      key.n = 0;
      size_t lo = arena_put(&key, q + dl + 1, qn - dl - 1); /* it may move key.p */
      const char *leaf = key.p + lo;
      if (bsearch(&leaf, names, n, sizeof *names, by_name)) ok = 0;
    }
  }
  free(names);
  free(at);
  free(mine);
  free(a.p);
  free(key.p);
  return ok;
}

/* Before the first step, after kept_ok: which directory PLACE may move which staging dir. The
 * members are grouped by their staging dir's hash (no copy of it), the groups then taken in the
 * order of their staging dirs' names. */
static void find_moves(void) {
  struct member *m = spill_alloc(all_n * sizeof *m);
  struct hidx *dirs = spill_alloc(all_n * sizeof *dirs);
  size_t nm = 0, nd = 0, ng = 0;
  struct group {
    size_t a, b;
  } *g = NULL;
  static struct step s0;
  if (!m || !dirs) goto out;
  for (size_t i = 0; i < all_n; i++) {
    spill_tick();
    if (all_done[i] || slots[i].op != STEP_PLACE) continue;
    struct step *s = &s0;
    step_load(i, s);
    if (s->has_pre && S_ISDIR(s->pre.mode) && !s->keep && !s->target)
      dirs[nd++] = (struct hidx){hash64(s->path, strlen(s->path)), (int)i};
    /* moved back whole, as kept (a rename sets nothing), under the name it had */
    if (s->kept != 1 || s->how != 'R' || !s->has_pre) continue;
    const struct sp_stat *k = &s->kst;
    if (k->uid != s->pre.uid || k->gid != s->pre.gid || (k->mode & 07777) != (s->pre.mode & 07777) ||
        k->mtime_ns != s->pre.mtime_ns || k->atime_ns != s->pre.atime_ns)
      continue;
    const char *leaf = strrchr(s->keep, '/') + 1, *name = strrchr(s->path, '/') + 1;
    const char *ml = leaf - 1;
    while (ml > s->keep && ml[-1] != '/') ml--;
    if (*ml != 'd' || strcmp(leaf, name)) continue; /* kept by inode, or under another name */
    size_t mlen = (size_t)(leaf - 1 - s->keep);
    m[nm++] = (struct member){hash64(s->keep, mlen), mlen, (int)i};
  }
  sort_big(m, nm, sizeof *m, by_hash);
  sort_big(dirs, nd, sizeof *dirs, by_hidx);
  /* the groups: members of one staging dir (a run of one hash holds two only by a collision) */
  g = spill_alloc((nm + 1) * sizeof *g);
  if (!g) goto out;
  for (size_t a = 0, b; a < nm; a = b) {
    int one = 1;
    for (b = a + 1; b < nm && (spill_tick(), m[b].h == m[a].h && m[b].mlen == m[a].mlen); b++)
      if (one && !same_mdir(&m[a], &m[b])) one = 0;
    if (!one) qsort(m + a, b - a, sizeof *m, by_mdir);
    for (size_t x = a, y; x < b; x = y) {
      for (y = x + 1; y < b && (one || same_mdir(&m[x], &m[y])); y++) {}
      g[ng++] = (struct group){x, y};
    }
  }
  /* in the order of their staging dirs (the first of two groups for one directory wins) */
  {
    struct member *firsts = spill_alloc((ng + 1) * sizeof *firsts);
    struct group *gs = spill_alloc((ng + 1) * sizeof *gs);
    if (!firsts || !gs) {
      spill_free(firsts);
      spill_free(gs);
      goto out;
    }
    for (size_t x = 0; x < ng; x++) firsts[x] = (struct member){x, 0, m[g[x].a].idx};
    /* by_mdir compares idx last: the first members are distinct steps, their names distinct */
    qsort(firsts, ng, sizeof *firsts, by_mdir);
    for (size_t x = 0; x < ng; x++) gs[x] = g[firsts[x].h];
    spill_free(firsts);
    spill_free(g);
    g = gs;
  }
  for (size_t x = 0; x < ng; x++) {
    size_t a = g[x].a, b = g[x].b;
    size_t pn0;
    const char *parent = rec_str((size_t)m[a].idx, T_PATH, &pn0);
    size_t pl = dir_len_n(parent, pn0);
    int same = 1;
    for (size_t k = a + 1; k < b && same; k++) {
      size_t qn;
      const char *q = rec_str((size_t)m[k].idx, T_PATH, &qn);
      if (dir_len_n(q, qn) != pl || memcmp(q, parent, pl))
        same = 0; /* from two directories (an inode reused) */
    }
    if (!same) continue;
    /* the PLACE of that directory, before its files */
    size_t from = 0;
    int d = hidx_find(dirs, nd, parent, pl, &from);
    if (d < 0 || d > m[a].idx || slots[d].dm) continue;
    if (!in_order(d, m + a, b - a, parent, pl)) continue;
    size_t mn;
    const char *md = mdir_of(m[a].idx, &mn);
    struct dmove dm = {strndup(md, mn), spill_alloc((b - a) * sizeof(int)), (int)(b - a)};
    static size_t dcap;
    size_t ncap = ndmoves < dcap ? dcap : dcap * 2 + 16;
    struct dmove *nds = ncap == dcap ? dmoves : realloc(dmoves, ncap * sizeof *dmoves);
    if (nds) dmoves = nds, dcap = ncap;
    if (!dm.from || !dm.members || !nds) {
      free(dm.from);
      spill_free(dm.members);
      continue;
    }
    for (size_t k = a; k < b; k++) dm.members[k - a] = m[k].idx;
    dmoves[ndmoves++] = dm;
    slots[d].dm = (int)ndmoves;
  }
out:
  spill_free(g);
  spill_free(dirs);
  spill_free(m);
}

/* How many entries the directory at path holds (-1: cannot be read). */
static long entries_fd(int fd, const char **names, size_t nn);
static long entries(const char *path) {
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -1;
  long n = entries_fd(fd, NULL, 0);
  close(fd);
  return n;
}
/* ... of fd; with names (sorted, nn of them): -1 as well when one entry is not among them. */
static long entries_fd(int fd, const char **names, size_t nn) {
  char buf[32768];
  long n = 0, got;
  while ((got = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0)
    for (long off = 0; off < got;) {
      struct {
        uint64_t ino;
        int64_t off;
        unsigned short reclen;
        unsigned char type;
        char name[];
      } *e = (void *)(buf + off);
      if (strcmp(e->name, ".") && strcmp(e->name, "..")) {
        const char *k = e->name;
        if (names && !bsearch(&k, names, nn, sizeof *names, by_name)) return -1;
        n++;
      }
      off += e->reclen;
    }
  return got < 0 ? -1 : n;
}

/* The directory step s, its staging dir holding exactly its members' files: renamed into place
 * (l: its parent and name), recorded as made, then each member recorded as placed and journaled.
 * Nonzero: not moved (the caller makes the directory as usual; nothing was changed). */
static int move_dir(struct step *s, struct loc *l) {
  if (entries(s->move_from) != s->nmembers) return 1; /* another file there, or one gone */
  /* a directory made there inherits its parent's default ACL; one moved in does not */
  char proc[40]; /* l->dfd is an O_PATH descriptor: its xattrs through /proc */
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", l->dfd);
  if (getxattr(proc, "system.posix_acl_default", NULL, 0) >= 0 || (errno != ENODATA && errno != ENOTSUP))
    return 1;
  cap_mkdir(&o, l->dfd, l->name, 0700);
  long r = renameat2(AT_FDCWD, s->move_from, l->dfd, l->name, RENAME_NOREPLACE);
  int err = r < 0 ? errno : 0;
  end_op(r, err, -1, s->idx);
  if (err) return 1;
  /* its files, each recorded as placed in it (walked to once: the directory just moved here) */
  int dfd = openat(l->dfd, l->name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd >= 0) cap_dir_known(dfd, s->path, strlen(s->path));
  /* each member's PARENT: the directory as moved in, which recording them does not change */
  struct sp_stat dst;
  int have_dst = dfd >= 0 && sp_statat(dfd, "", AT_EMPTY_PATH, &dst) == 0;
  static struct step fv;
  for (int k = 0; k < s->nmembers; k++) {
    struct step *f = &fv;
    step_load((size_t)s->members[k], f);
    if (dfd >= 0) {
      sp_batch(k > 0); /* as consecutive PLACEs in one directory: the first at once */
      memset(&o, 0, sizeof o);
      cap_step = f->idx;
      o.step = f->idx;
      cap_open_new_in(&o, dfd, strrchr(f->path, '/') + 1, O_WRONLY | O_CREAT | O_EXCL,
                      have_dst ? &dst : NULL);
      o.step = f->idx;
      cap_end_post(&o, 0, 0, &f->kst);
    }
    journal_add((uint32_t)f->idx);
    all_done[f->idx] = 1;
    progress_step();
    if (dfd >= 0) slots[f->idx].whole_of = s->idx + 1;
  }
  slots[s->idx].moved_whole = dfd >= 0;
  if (dfd >= 0) {
    cap_dir_forget(dfd);
    close(dfd);
  }
  memset(&o, 0, sizeof o);
  cap_step = s->idx;
  return 0;
}

/* ---- a directory taken into staging whole ----
 * The redo of an undo that put a tree back (and the undo of a tar x, a cp -r, a git clone)
 * removes every file of a directory, then the directory. When the plan's REMOVEs of a
 * directory's entries are all there is in it, and no other step between them acts on it, each
 * file's unlink is recorded as kept by its directory and name (staging/<cmd>/d<dev>-<ino>/<name>,
 * as capture keeps an unlinked file), then the directory's RMDIR, and the directory itself is
 * renamed to that staging dir: one rename instead of one per file. The records are what removing
 * them one by one would write (and each STAGED its stat: its directory's move changes nothing of
 * it), so the undo of it is the same, and moves the directory back whole again. A directory that
 * cannot be moved (staging elsewhere, the staging dir there) is removed file by file. */
static struct hidx *removes; /* REMOVE steps, by path */
static size_t nremoves;
static char failed_dir[PATH_MAX]; /* the last directory found not to be taken whole */

/* The REMOVE step of path (not done, after step after), or -1. */
static int remove_of(const char *path, size_t len, int after) {
  if (!removes) {
    removes = spill_alloc((all_n + 1) * sizeof *removes);
    if (!removes) return -1;
    for (size_t i = 0; i < all_n; i++)
      if (spill_tick(), slots[i].op == STEP_REMOVE) {
        size_t pn;
        const char *p = rec_str(i, T_PATH, &pn);
        removes[nremoves++] = (struct hidx){hash64(p, pn), (int)i};
      }
    sort_big(removes, nremoves, sizeof *removes, by_hidx);
  }
  size_t from = 0;
  for (int r; (r = hidx_find(removes, nremoves, path, len, &from)) >= 0;)
    if (r > after && !all_done[r]) return r;
  return -1;
}

/* Whether p (pn bytes) is dir (dl bytes) or under it. */
static int under(const char *p, size_t pn, const char *dir, size_t dl) {
  return p && pn >= dl && !memcmp(p, dir, dl) && (pn == dl || p[dl] == '/');
}

/* The first REMOVE s of a file in a directory: -1 when its directory is not taken whole (the
 * caller removes s as usual); else s and the rest are done (0), or an errno for s. */
/* Whether step j (its PATH p, pn bytes) removes an entry of directory dir (dl bytes). */
static int removes_in(int j, const char *p, size_t pn, const char *dir, size_t dl) {
  return slots[j].op == STEP_REMOVE && dir_len_n(p, pn) == dl && !memcmp(p, dir, dl);
}

static int remove_dir_whole(struct step *s) {
  size_t dl = dir_len(s->path);
  if (dl == 0 || dl >= PATH_MAX) return -1;
  if (strlen(failed_dir) == dl && !memcmp(failed_dir, s->path, dl)) return -1;
  memcpy(failed_dir, s->path, dl); /* until it is found to be taken whole */
  failed_dir[dl] = 0;
  int rd = remove_of(s->path, dl, s->idx);
  if (rd < 0) return -1;
  /* the directory's entries removed by steps s..rd, and nothing else there between them */
  const char **names = malloc(((size_t)(rd - s->idx) + 1) * sizeof *names);
  size_t *at = malloc(((size_t)(rd - s->idx) + 1) * sizeof *at);
  struct arena na = {0};
  if (!names || !at) {
    free(names);
    free(at);
    return -1;
  }
  size_t n = 0;
  for (int j = s->idx; j < rd; j++) {
    if (all_done[j]) continue;
    struct sp_view v;
    rec_view((size_t)j, &v);
    size_t pn = 0, p2n = 0;
    const char *p = view_str(&v, T_PATH, &pn), *p2 = view_str(&v, T_PATH2, &p2n);
    if (removes_in(j, p, pn, s->path, dl)) at[n++] = arena_put(&na, p + dl + 1, pn - dl - 1);
    else if (under(p, pn, s->path, dl) || under(p2, p2n, s->path, dl)) {
      free(names);
      free(at);
      free(na.p);
      return -1;
    }
  }
  for (size_t k = 0; k < n; k++) names[k] = na.p + at[k];
  free(at);
  if ((size_t)(rd - s->idx) > 4 * n + 64) {
    free(names);
    free(na.p);
    return -1;
  }
  qsort(names, n, sizeof *names, by_name);
  /* everything in it is one of them (one gone already is not: a run killed after removing it) */
  struct loc ld;
  struct sp_stat dirst; /* its lstat, as cap_unlink's PARENT of each file in it takes it */
  long have = -1;
  if (open_parent(s->path, &ld) == 0) {
    int fd = openat(ld.dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
      have = entries_fd(fd, names, n);
      if (sp_statat(fd, "", AT_EMPTY_PATH, &dirst)) have = -1;
      close(fd);
    }
    close_loc(&ld);
  }
  free(names);
  free(na.p);
  if (have < 0) return -1;
  char staged[PATH_MAX + 96], base_dir[64];
  snprintf(base_dir, sizeof base_dir, "d%llu-%llu", (unsigned long long)dirst.dev,
           (unsigned long long)dirst.ino);
  snprintf(staged, sizeof staged, "%s/staging/%s", state, cmd_id);
  struct stat sst;
  if (mkdir(staged, 0700) && errno != EEXIST) return -1;
  if (stat(staged, &sst) || sst.st_dev != dirst.dev) return -1; /* a move into staging would cross */
  snprintf(staged, sizeof staged, "%s/staging/%s/%s", state, cmd_id, base_dir);
  if (lstat(staged, &sst) == 0 || errno != ENOENT) return -1;

  /* each entry's record (its unlink kept by name: recorded, not moved), in step order */
  struct later {
    int idx;
    struct sp_stat st;
  } *later = malloc(n * sizeof *later);
  if (!later) return -1;
  size_t nl = 0;
  int e = 0, first = 1;
  /* the directory is as stat'ed while its files are only recorded; one removed as usual changes it */
  cap_parent_known = &dirst;
  static struct step tv, rv;
  for (int j = s->idx; j < rd && !e; j++) {
    struct step *t = &tv;
    if (all_done[j]) continue;
    size_t pn;
    const char *p = rec_str((size_t)j, T_PATH, &pn);
    if (!removes_in(j, p, pn, s->path, dl)) continue;
    step_load((size_t)j, t);
    memset(&o, 0, sizeof o);
    cap_step = j;
    o.step = j;
    sp_batch(!first); /* written out together, before the move (the RMDIR's record flushes them) */
    first = 0;
    struct sp_stat st;
    e = remove_at(t, 1, &st);
    if (!e && o.staged_later) later[nl++] = (struct later){j, st};
    else cap_parent_known = NULL;
    if (!e && !o.staged_later && j != s->idx) {
      journal_add((uint32_t)j); /* removed as usual (a symlink, a name not plain, an empty dir) */
      all_done[j] = 1;
      progress_step();
    }
  }
  cap_parent_known = NULL;
  /* the directory's RMDIR, on record before it goes, then the move */
  struct loc lp;
  long r = -1;
  if (!e) step_load((size_t)rd, &rv);
  int err = e ? e : open_parent(rv.path, &lp);
  if (!err) {
    memset(&o, 0, sizeof o);
    cap_step = rd;
    o.step = rd;
    /* its files' records written out first: none may be missing once they move. sp_batch(0)
     * writes them (a failure there empties the batch, so a second sp_flush has nothing to fail
     * on): sp_lost says whether any batched record was lost, now or before */
    sp_batch(0);
    err = sp_flush() < 0 || sp_lost ? ENOSPC : 0;
    if (!err) cap_unlink(&o, lp.dfd, lp.name, AT_REMOVEDIR);
    o.step = rd;
    if (!err && !cap_recorded(&o)) { /* its own record could not be written (a full disk) */
      err = ENOSPC;
      end_op(-1, err, -1, rd);
    }
    if (!err) {
      r = renameat2(lp.dfd, lp.name, AT_FDCWD, staged, RENAME_NOREPLACE);
      err = r < 0 ? errno : 0;
      end_op(r, err, -1, rd); /* a failed move: a VOID for the RMDIR */
    }
    close_loc(&lp);
  }
  drop_parent_cache();
  if (err) {
    /* not moved: its files' records are of calls that never happened (each file is still there,
     * as it was: src/undo/unhappened.ts drops them); removed one by one now, as usual */
    for (size_t k = 0; k < nl && !e; k++) {
      memset(&o, 0, sizeof o);
      cap_step = later[k].idx;
      o.step = later[k].idx;
      sp_batch(0);
      step_load((size_t)later[k].idx, &tv);
      e = remove_at(&tv, 0, NULL);
      if (!e && later[k].idx != s->idx) {
        journal_add((uint32_t)later[k].idx);
        all_done[later[k].idx] = 1;
        progress_step();
      }
    }
    free(later);
    drop_parent_cache();
    return e; /* the directory's own step comes as usual */
  }
  /* moved: each file's STAGED (its stat there is the one it had), then the steps are done */
  for (size_t k = 0; k < nl; k++) {
    char base[PATH_MAX];
    size_t pn;
    const char *p = rec_str((size_t)later[k].idx, T_PATH, &pn);
    size_t ln = pn - dir_len_n(p, pn) - 1;
    snprintf(base, sizeof base, "%s/%.*s", base_dir, (int)ln, p + pn - ln);
    memset(&o, 0, sizeof o);
    cap_step = later[k].idx;
    o.step = later[k].idx;
    sp_batch(1);
    cap_staged_later(&o, base, &later[k].st);
    if (later[k].idx != s->idx) {
      journal_add((uint32_t)later[k].idx);
      all_done[later[k].idx] = 1;
      progress_step();
    }
  }
  journal_add((uint32_t)rd);
  all_done[rd] = 1;
  progress_step();
  free(later);
  failed_dir[0] = 0;
  memset(&o, 0, sizeof o);
  cap_step = s->idx;
  return 0;
}

/* ---- the end scan's POSTs of the files moved back whole ----
 * A member of a directory moved back whole was checked in staging before any step (kept_ok: kst)
 * and moved with its directory, which changes nothing of it: its stat at the end is kst, unless a
 * later step names it, or moves, removes or replaces its directory or one above. For the others
 * the end scan takes kst for POST instead of a statx each (10k in the undo of an rm -rf of 10k
 * files). A change another process makes meanwhile is then found by the redo's check, as one made
 * after the end scan is. */
static struct hidx *known_m; /* the members, by path */
static size_t known_n;

static int known_member(const char *path, size_t pn) {
  size_t from = 0;
  return known_n ? hidx_find(known_m, known_n, path, pn, &from) : -1;
}

/* a is p (pn bytes) or a directory above it */
static int is_above(const char *a, const char *p, size_t pn) {
  size_t n = strlen(a);
  return pn >= n && !memcmp(a, p, n) && (pn == n || p[n] == '/' || (n == 1 && a[0] == '/'));
}

static void known_prepare(void) {
  size_t n = 0, nd = 0;
  for (size_t i = 0; i < all_n; i++) {
    spill_tick();
    n += slots[i].whole_of != 0;
    nd += slots[i].moved_whole != 0;
  }
  if (!n || (all_n - n) * nd > 4000000 || !(known_m = spill_alloc(n * sizeof *known_m)))
    return; /* statx each */
  int *dirs = malloc((nd + 1) * sizeof *dirs);
  char **dpath = malloc((nd + 1) * sizeof *dpath);
  if (!dirs || !dpath) {
    free(dirs);
    free(dpath);
    return;
  }
  nd = 0;
  for (size_t i = 0; i < all_n; i++) {
    spill_tick();
    if (!slots[i].whole_of && !slots[i].moved_whole) continue;
    size_t pn;
    const char *p = rec_str(i, T_PATH, &pn);
    if (slots[i].whole_of) known_m[known_n++] = (struct hidx){hash64(p, pn), (int)i};
    if (slots[i].moved_whole && (dpath[nd] = strndup(p, pn))) dirs[nd++] = (int)i;
  }
  sort_big(known_m, known_n, sizeof *known_m, by_hidx);
  for (size_t j = 0; j < all_n; j++) {
    spill_tick();
    const struct slot *t = &slots[j];
    if (t->whole_of || t->op == STEP_EXPECT) continue;
    struct sp_view v;
    rec_view(j, &v);
    static const int tags[2] = {T_PATH, T_PATH2};
    for (int k = 0; k < 2; k++) {
      size_t pn;
      const char *p = view_str(&v, tags[k], &pn);
      if (!p) continue;
      int m = known_member(p, pn);
      if (m >= 0 && (int)j > slots[m].whole_of - 1) slots[m].acted_on = 1;
      if (t->op == STEP_META || t->op == STEP_XATTR)
        continue; /* a directory's times or mode: not its files' */
      for (size_t d = 0; d < nd; d++)
        if (dirs[d] < (int)j && is_above(dpath[d], p, pn)) slots[dirs[d]].whole_bad = 1;
    }
  }
  for (size_t d = 0; d < nd; d++) free(dpath[d]);
  free(dpath);
  free(dirs);
}

static const struct sp_stat *known_post(const char *path) {
  static struct sp_stat k;
  int m = known_member(path, strlen(path));
  spill_charge(2 * FAULT_AROUND); /* its slot and its directory's */
  if (m < 0 || slots[m].acted_on || slots[slots[m].whole_of - 1].whole_bad) return NULL;
  struct sp_view v;
  struct sp_stat pre;
  rec_view((size_t)m, &v);
  sp_view_stat(&v, T_PRE, &pre);
  slot_kst(&slots[m], &pre, &k);
  return &k;
}

static int do_place(struct step *s) {
  struct loc l;
  int e = open_parent(s->path, &l);
  if (e) return e;
  int err = 0;
  mode_t type = s->has_pre ? (s->pre.mode & S_IFMT) : 0;
  if (s->target) type = S_IFLNK;
  else if (!type && s->keep) type = S_IFREG;
  if (!type || (type == S_IFREG && !s->keep)) {
    close_loc(&l);
    return EINVAL;
  }

  int src = -1, staged = 0; /* staged: an 'R' source is there (gone: moved by an earlier run?) */
  int as_kept = 0; /* the staged inode already has PRE's owner, mode and times: a rename keeps them */
  if (type == S_IFREG && s->how == 'R') {
    /* moved back whole: an lstat says it is there and a regular file; it is opened only if its
     * bytes must be read (a re-run comparing contents, a copy across filesystems) */
    struct sp_stat sst = s->kst; /* the check before any step took it (nothing moved it since) */
    int r = s->kept == 1 ? 0 : sp_statat(AT_FDCWD, s->keep, AT_SYMLINK_NOFOLLOW, &sst);
    if (r == 0) {
      if (!S_ISREG(sst.mode)) {
        close_loc(&l);
        return EINVAL;
      }
      staged = 1;
      as_kept = s->has_pre && sst.uid == s->pre.uid && sst.gid == s->pre.gid &&
                (sst.mode & 07777) == (s->pre.mode & 07777) && sst.mtime_ns == s->pre.mtime_ns &&
                sst.atime_ns == s->pre.atime_ns;
    } else if (r != -ENOENT) {
      close_loc(&l);
      return -r;
    }
  } else if (type == S_IFREG && (src = open_source(s->keep, &err)) < 0) {
    close_loc(&l);
    return err;
  }

  /* Is it there already (a re-run of this step after a kill)? A staged inode is moved first
   * instead: the move itself says (EEXIST), one statx less per file of an rm -rf's undo. */
  struct sp_stat cur;
  int move_first = type == S_IFREG && staged;
  if (!move_first && sp_statat(l.dfd, l.name, AT_SYMLINK_NOFOLLOW, &cur) == 0) {
    err = place_found(s, &l, type, staged, src, &cur);
    close_loc(&l);
    return err;
  }
  if (type == S_IFREG && src < 0 && !staged) {
    close_loc(&l);
    return ENOENT;
  }

  long r = 0;
  if (type == S_IFREG) {
    int moved = 0;
    err = place_file(s, &l, staged, &src, &moved);
    /* refused (EEXIST; or EACCES &c. where the old check would have found it there first) */
    if (err && move_first && sp_statat(l.dfd, l.name, AT_SYMLINK_NOFOLLOW, &cur) == 0) {
      err = place_found(s, &l, type, staged, src, &cur); /* closes src */
      close_loc(&l);
      return err;
    }
    if (src >= 0) close(src);
    /* moved whole as it was kept: nothing to set (one statx less per file of an rm -rf's undo) */
    if (!err && moved && as_kept) {
      close_loc(&l);
      return 0;
    }
  } else if (type == S_IFDIR && s->move_from && move_dir(s, &l) == 0) {
    /* moved into place whole, its files with it */
  } else if (type == S_IFDIR) {
    cap_mkdir(&o, l.dfd, l.name, 0700);
    r = mkdirat(l.dfd, l.name, 0700);
    err = r < 0 ? errno : 0;
    end_op(r, err, -1, s->idx);
  } else if (type == S_IFLNK) {
    cap_symlink(&o, s->target, l.dfd, l.name);
    r = symlinkat(s->target, l.dfd, l.name);
    err = r < 0 ? errno : 0;
    end_op(r, err, -1, s->idx);
  } else {
    mode_t m = type | (s->has_pre ? (s->pre.mode & 07777) : 0600);
    dev_t dev = (dev_t)s->rdev;
    cap_mknod(&o, l.dfd, l.name, m, dev);
    r = mknodat(l.dfd, l.name, m, dev);
    err = r < 0 ? errno : 0;
    end_op(r, err, -1, s->idx);
  }
  if (!err && s->has_pre) set_created_meta(l.dfd, l.name, &s->pre, s->path, type == S_IFLNK);
  close_loc(&l);
  return err;
}

/* Opens an existing regular file for writing without following a symlink and without blocking
 * on a FIFO. */
static int open_reg_w(int dfd, const char *name, int *err) {
  int fd = openat(dfd, name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    *err = errno;
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    *err = EINVAL;
    close(fd);
    return -1;
  }
  fcntl(fd, F_SETFL, 0);
  return fd;
}

static void set_times_fd(int fd, const struct step *s) {
  if (!s->has_pre) return;
  struct timespec ts[2] = {ns_ts(s->pre.atime_ns), ns_ts(s->pre.mtime_ns)};
  if (futimens(fd, ts) < 0)
    fprintf(stderr, "shit-apply: %s: cannot restore times: %s\n", s->path, strerror(errno));
}

static int do_rewrite(struct step *s) {
  if (!s->keep) return EINVAL;
  int err = 0;
  int src = open_source(s->keep, &err);
  if (src < 0) return err;
  struct loc l;
  if ((err = open_parent(s->path, &l))) {
    close(src);
    return err;
  }
  struct sp_stat cur;
  int r = sp_statat(l.dfd, l.name, AT_SYMLINK_NOFOLLOW, &cur);
  if (r || !S_ISREG(cur.mode)) {
    close(src);
    close_loc(&l);
    return r ? -r : EINVAL;
  }
  o.step = s->idx;
  cap_open(&o, l.dfd, l.name, O_WRONLY | O_TRUNC | O_NOFOLLOW);
  o.step = s->idx;
  if ((err = kept_nothing())) {
    close(src);
    close_loc(&l);
    return err;
  }
  int fd = open_reg_w(l.dfd, l.name, &err);
  end_op(fd, fd < 0 ? err : 0, fd, s->idx);
  if (fd >= 0) {
    /* TAIL_OF: the source holds the bytes from that offset on (a kept tail): keep the first
     * TAIL_OF bytes as they are and write the source after them */
    int tail = s->tail_of >= 0;
    if (ftruncate(fd, tail ? s->tail_of : 0) < 0) err = errno;
    else err = copy_bytes(src, fd, tail ? -1 : s->has_length ? s->length : -1, tail ? s->tail_of : 0);
    if (!err) set_times_fd(fd, s);
    if (close(fd) < 0 && !err) err = errno;
  }
  close(src);
  close_loc(&l);
  return err;
}

static int do_truncate(struct step *s) {
  if (!s->has_length || s->length < 0) return EINVAL;
  struct loc l;
  int err = open_parent(s->path, &l);
  if (err) return err;
  int fd = open_reg_w(l.dfd, l.name, &err);
  if (fd < 0) {
    close_loc(&l);
    return err;
  }
  o.step = s->idx;
  cap_truncate(&o, l.dfd, l.name, -1, s->length);
  o.step = s->idx;
  if ((err = kept_nothing())) {
    close(fd);
    close_loc(&l);
    return err;
  }
  long r = ftruncate(fd, s->length);
  err = r < 0 ? errno : 0;
  end_op(r, err, -1, s->idx);
  if (!err) set_times_fd(fd, s);
  close(fd);
  close_loc(&l);
  return err;
}

static int do_link(struct step *s) {
  if (!s->path2) return EINVAL;
  struct loc a, b;
  int e = open_parent(s->path, &a);
  if (e) return e;
  if ((e = open_parent(s->path2, &b))) {
    close_loc(&a);
    return e;
  }
  struct sp_stat s1, s2;
  if (sp_statat(a.dfd, a.name, AT_SYMLINK_NOFOLLOW, &s1) == 0 &&
      sp_statat(b.dfd, b.name, AT_SYMLINK_NOFOLLOW, &s2) == 0 && s1.dev == s2.dev &&
      s1.ino == s2.ino) { /* linked already (a re-run) */
    close_loc(&a);
    close_loc(&b);
    return 0;
  }
  o.step = s->idx;
  cap_link(&o, a.dfd, a.name, b.dfd, b.name, 0);
  o.step = s->idx;
  long r = linkat(a.dfd, a.name, b.dfd, b.name, 0);
  int err = r < 0 ? errno : 0;
  end_op(r, err, -1, s->idx);
  close_loc(&a);
  close_loc(&b);
  return err;
}

static int do_meta(struct step *s) {
  if (!s->has_pre) return EINVAL;
  struct loc l;
  int err = open_parent(s->path, &l);
  if (err) return err;
  struct sp_stat cur;
  int r = sp_statat(l.dfd, l.name, AT_SYMLINK_NOFOLLOW, &cur);
  if (r) {
    close_loc(&l);
    return -r;
  }
  int is_link = S_ISLNK(cur.mode);
  /* the plan's closing pass over directory times: the PARENT stats recorded by the other steps
   * already say what these were, so they are set without records of their own */
  int quiet = (s->flags & STEP_F_FINAL_META) != 0;
  /* owner first: chown clears set-id bits, which the mode then restores */
  if (cur.uid != s->pre.uid || cur.gid != s->pre.gid) {
    o.step = s->idx;
    if (!quiet) cap_chown(&o, l.dfd, l.name, -1, s->pre.uid, s->pre.gid, AT_SYMLINK_NOFOLLOW);
    o.step = s->idx;
    long rr = fchownat(l.dfd, l.name, s->pre.uid, s->pre.gid, AT_SYMLINK_NOFOLLOW);
    int e = rr < 0 ? errno : 0;
    if (!quiet) end_op(rr, e, -1, s->idx);
    if (e == EPERM)
      fprintf(stderr, "shit-apply: %s: cannot restore owner %u:%u (not permitted)\n", s->path, s->pre.uid,
              s->pre.gid);
    else if (e) {
      close_loc(&l);
      return e;
    }
    sp_statat(l.dfd, l.name, AT_SYMLINK_NOFOLLOW, &cur);
  }
  if (!is_link && (cur.mode & 07777) != (s->pre.mode & 07777)) {
    o.step = s->idx;
    if (!quiet) cap_chmod(&o, l.dfd, l.name, -1, s->pre.mode & 07777, AT_SYMLINK_NOFOLLOW);
    o.step = s->idx;
    long rr = fchmodat(l.dfd, l.name, s->pre.mode & 07777, AT_SYMLINK_NOFOLLOW);
    int e = rr < 0 ? errno : 0;
    if (!quiet) end_op(rr, e, -1, s->idx);
    if (e) {
      close_loc(&l);
      return e;
    }
  }
  if (cur.mtime_ns != s->pre.mtime_ns || cur.atime_ns != s->pre.atime_ns) {
    struct timespec ts[2] = {ns_ts(s->pre.atime_ns), ns_ts(s->pre.mtime_ns)};
    o.step = s->idx;
    if (!quiet) cap_utimes(&o, l.dfd, l.name, -1, AT_SYMLINK_NOFOLLOW);
    o.step = s->idx;
    long rr = utimensat(l.dfd, l.name, ts, AT_SYMLINK_NOFOLLOW);
    int e = rr < 0 ? errno : 0;
    if (!quiet) end_op(rr, e, -1, s->idx);
    if (e) {
      close_loc(&l);
      return e;
    }
  }
  close_loc(&l);
  return 0;
}

static int do_xattr(struct step *s) {
  if (!s->xname) return EINVAL;
  struct loc l;
  int err = open_parent(s->path, &l);
  if (err) return err;
  /* No *at xattr calls before Linux 6.13: name the object through the parent's fd, so no
   * parent symlink is followed; the l* calls do not follow a final one. */
  char via[64 + NAME_MAX];
  snprintf(via, sizeof via, "/proc/self/fd/%d/%s", l.dfd, l.name);
  int op = s->xvalue ? SP_SETXATTR : SP_REMOVEXATTR;
  o.step = s->idx;
  cap_xattr(&o, op, s->path, -1, s->xname, 0);
  o.step = s->idx;
  if ((err = kept_nothing())) {
    close_loc(&l);
    return err;
  }
  long r = s->xvalue ? lsetxattr(via, s->xname, s->xvalue, s->xvalue_n, 0) : lremovexattr(via, s->xname);
  err = r < 0 ? errno : 0;
  end_op(r, err, -1, s->idx);
  if (err == ENODATA && !s->xvalue) err = 0; /* absent already */
  close_loc(&l);
  return err;
}

/* ---- EXPECT ---- */
static const char *type_name(uint32_t m) {
  switch (m & S_IFMT) {
  case S_IFREG: return "file";
  case S_IFDIR: return "directory";
  case S_IFLNK: return "symlink";
  case S_IFIFO: return "fifo";
  case S_IFSOCK: return "socket";
  case S_IFCHR: return "character device";
  case S_IFBLK: return "block device";
  default: return "unknown";
  }
}

/* Returns 1 when PATH matches; prints the conflict otherwise. */
static int check_expect(const struct step *s) {
  struct sp_stat cur;
  int e = safe_lstat(s->path, &cur);
  if (e && e != ENOENT) {
    fprintf(stderr, "conflict: %s: %s\n", s->path, errstr(e));
    return 0;
  }
  int present = e == 0;
  const struct expect *w = &s->want;
  if (!w->type) {
    if (present) {
      fprintf(stderr, "conflict: %s: exists now (a %s), expected absent\n", s->path, type_name(cur.mode));
      return 0;
    }
    return 1;
  }
  if (!present) {
    fprintf(stderr, "conflict: %s: missing, expected a %s\n", s->path, type_name(w->type));
    return 0;
  }
  if ((cur.mode & S_IFMT) != (w->type & S_IFMT)) {
    fprintf(stderr, "conflict: %s: is a %s, expected a %s\n", s->path, type_name(cur.mode),
            type_name(w->type));
    return 0;
  }
  int ok = 1;
  char what[256] = "";
  /* DEV is not compared (as before it had a field of its own): the inode number says it */
  if (w->has_ino && cur.ino != w->ino) {
    strcat(what, "a different file (inode changed)");
    ok = 0;
  }
  if (!S_ISDIR(cur.mode)) {
    if (w->has_size && cur.size != w->size) {
      char t[96];
      snprintf(t, sizeof t, "%ssize %lld, expected %lld", ok ? "" : ", ", (long long)cur.size,
               (long long)w->size);
      strcat(what, t);
      ok = 0;
    }
    if (w->has_mtime && cur.mtime_ns != w->mtime_ns) {
      strcat(what, ok ? "modified since (mtime differs)" : ", mtime differs");
      ok = 0;
    }
  }
  if (!ok) fprintf(stderr, "conflict: %s: %s\n", s->path, what);
  return ok;
}

/* ---- the progress line ----
 * SHIT_PROGRESS=FD:LABEL: the CLI hands over its terminal (stderr) as FD, only when it is one.
 * "LABEL 4,210/10,000 steps" is rewritten in place with \r, first after SHIT_PROGRESS_AFTER_MS
 * (250 ms: a quick undo shows nothing), then at most every 100 ms, and cleared at the end. The
 * cost per step is one vDSO clock read. */
static int prog_fd = -1;
static const char *prog_label;
static int64_t prog_next;
static size_t prog_total, prog_done;
static int prog_shown;

static int64_t mono_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void progress_start(size_t total) {
  const char *e = getenv("SHIT_PROGRESS");
  char *end;
  if (!e) return;
  long fd = strtol(e, &end, 10);
  if (end == e || *end != ':' || fd < 0 || fd > 1000 || !isatty((int)fd)) return;
  const char *after = getenv("SHIT_PROGRESS_AFTER_MS");
  prog_fd = (int)fd;
  prog_label = end + 1;
  prog_total = total;
  prog_next = mono_ns() + (after ? atoll(after) : 250) * 1000000;
}

/* n with a comma every three digits */
static void grouped(char *out, size_t cap, size_t n) {
  char d[32];
  int len = snprintf(d, sizeof d, "%zu", n), o = 0;
  for (int i = 0; i < len && (size_t)o + 2 < cap; i++) {
    if (i && (len - i) % 3 == 0) out[o++] = ',';
    out[o++] = d[i];
  }
  out[o] = 0;
}

static void progress_step(void) {
  if (prog_fd < 0) return;
  prog_done++;
  int64_t t = mono_ns();
  if (t < prog_next) return;
  prog_next = t + 100000000;
  char a[32], b[32], line[512];
  grouped(a, sizeof a, prog_done);
  grouped(b, sizeof b, prog_total);
  int n = snprintf(line, sizeof line, "\r%s %s/%s steps", prog_label, a, b);
  if (n > 0 && write(prog_fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1) > 0)
    prog_shown = 1;
}

static void progress_end(void) {
  if (prog_shown && write(prog_fd, "\r\033[K", 4) < 0) prog_shown = 0;
}

/* ---- journal, own spool ---- */
/* Finished steps wait here and are appended together, always after the records of those steps
 * (sp_flush first): the journal never names a step whose records are not in the spool. */
static uint32_t jbuf[1024];
static size_t jn;
static volatile sig_atomic_t j_busy, pending_sig;

/* Writes the deferred records, then the waiting journal entries. Async-signal-safe (quiet: no
 * message, from the signal handler). */
static int journal_flush(int quiet) {
  /* records lost (a full disk), now or before: from then on no step is journaled, as after a kill
   * there, and the run ends without END (write_end); a re-run redoes those steps and records them */
  if (sp_flush() < 0 || sp_lost) jn = 0;
  if (!jn) return 0;
  j_busy = 1;
  if (journal_fd < 0) journal_fd = open(journal_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  ssize_t want = (ssize_t)(jn * 4), w = journal_fd < 0 ? -1 : write(journal_fd, jbuf, (size_t)want);
  struct stat st; /* a short write (a full disk) must not leave part of an entry: the next would be misread */
  if (w > 0 && w % 4 && fstat(journal_fd, &st) == 0 && ftruncate(journal_fd, st.st_size - w % 4) < 0) w = -1;
  jn = 0;
  j_busy = 0;
  int e = w < 0 ? errno : EIO;
  if (w != want && !quiet)
    fprintf(stderr, "shit-apply: %s: cannot write the journal: %s\n", journal_path, strerror(e));
  return w == want ? 0 : -e;
}

static void journal_add(uint32_t idx) {
  j_busy = 1;
  jbuf[jn++] = idx;
  j_busy = 0;
  if (jn == sizeof jbuf / sizeof jbuf[0]) journal_flush(0);
}

/* SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE end shit-apply as before, but write what waits
 * first (records, then journal entries), unless it is being changed right then: then the main
 * loop does it at the end of the step. Only a SIGKILL (or a crash) loses deferred records,
 * which a re-run finds in place and records then (place_found). */
static void flush_and_die(int sig) {
  journal_flush(1);
  signal(sig, SIG_DFL);
  raise(sig);
}

static void on_signal(int sig) {
  if (sp_busy || j_busy) pending_sig = sig;
  else flush_and_die(sig);
}

static void catch_signals(void) {
  static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
    struct sigaction sa, old;
    if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue; /* left ignored */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(sigs[i], &sa, NULL);
  }
}

/* 0, or -errno when END could not be written even with the reserve's room (a full disk), or
 * when batched records were lost (sp_lost: then no END, which would say every step is on record):
 * the caller then says so and exits 4, so the CLI runs it again rather than take it as done. */
static int write_end(int code) {
  static struct sp_buf b;
  sp_batch(0); /* what waits is written first, END after it */
  journal_flush(0);
  if (sp_lost) {
    if (pending_sig) flush_and_die(pending_sig);
    return -sp_lost;
  }
  int rc = 0;
  for (int again = 0; again < 2; again++) {
    sp_start(&b, SP_END, 0);
    rc = sp_commit(&b, spool_path, code); /* a short one is torn: readers skip it, the next is whole */
    if (!rc || !cap_reserve_give(state, strlen(state), 1 << 16, 0)) break;
  }
  if (pending_sig) flush_and_die(pending_sig); /* it came while the last records were written */
  return rc;
}

static void mkdirs(void) {
  char p[PATH_MAX + 64];
  static const char *sub[] = {"spool", "staging", "run"};
  mkdir(state, 0700);
  for (int i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s/%s", state, sub[i]);
    mkdir(p, 0700);
  }
  snprintf(p, sizeof p, "%s/staging/%s", state, cmd_id);
  mkdir(p, 0700);
}

/* Never run twice-captured: a shim preloaded into this process would record every call a
 * second time (without STEP). Re-exec without it. */
static void drop_preload(char **argv) {
  const char *lp = getenv("LD_PRELOAD");
  if (!lp || !strstr(lp, "libshit.so")) return;
  char *copy = strdup(lp), *out = calloc(1, strlen(lp) + 1);
  if (!copy || !out) return;
  for (char *save = NULL, *t = strtok_r(copy, ": ", &save); t; t = strtok_r(NULL, ": ", &save)) {
    const char *base = strrchr(t, '/');
    if (!strcmp(base ? base + 1 : t, "libshit.so")) continue;
    if (*out) strcat(out, ":");
    strcat(out, t);
  }
  if (*out) setenv("LD_PRELOAD", out, 1);
  else unsetenv("LD_PRELOAD");
  execv("/proc/self/exe", argv);
  /* could not re-exec: go on; records may be doubled */
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: SHIT_CMD=id SHIT_STATE=dir shit-apply PLANFILE KIND OF [ARGV...]\n");
    return 2;
  }
  drop_preload(argv);
  state = getenv("SHIT_STATE");
  cmd_id = getenv("SHIT_CMD");
  if (!state || state[0] != '/' || !cmd_id || !*cmd_id || strchr(cmd_id, '/') || strlen(cmd_id) > 32) {
    fprintf(stderr, "shit-apply: SHIT_CMD and SHIT_STATE (absolute) must be set\n");
    return 2;
  }
  cap_ctx_fixed = 1; /* neither changes from here on (drop_preload's setenv came before) */
  umask(077);
  int err = 0;
  const char *win = getenv("SHIT_APPLY_WINDOW");
  if (win && atoll(win) > 0) map_window = (size_t)atoll(win);
  if (map_file(argv[1], &plan, &err) < 0) {
    fprintf(stderr, "shit-apply: %s: %s\n", argv[1], strerror(err));
    return 2;
  }
  spill_plan(plan.len);

  /* read the plan through: each step checked, its record's place kept */
  size_t nsteps = 0, cap = 64, off = 0, at = 0;
  slots = spill_alloc(cap * sizeof *slots);
  struct sp_view v;
  struct arena kb = {0};
  int r;
  while ((r = sp_next(plan.p, plan.len, &off, &v)) == 1) {
    if (nsteps == cap) slots = spill_grow(slots, cap * sizeof *slots, cap * 2 * sizeof *slots), cap *= 2;
    if (!slots) {
      fprintf(stderr, "shit-apply: out of memory\n");
      return 2;
    }
    struct slot *sl = &slots[nsteps];
    memset(sl, 0, sizeof *sl);
    sl->rec = plan.p + at;
    sl->op = v.op;
    int idx = (int)nsteps++;
    map_touch(&plan, plan.p + at, off - at);
    at = off;
    if (v.op < STEP_EXPECT || v.op > STEP_XATTR) {
      fprintf(stderr, "shit-apply: %s: step %d: unknown step kind %d\n", argv[1], idx, v.op);
      return 2;
    }
    size_t kn;
    const char *k = view_str(&v, T_KEEP, &kn);
    if (k) {
      kb.n = 0;
      size_t ko = arena_put(&kb, k, kn); /* it may move kb.p */
      const char *keep = kb.p + ko;
      if (!keep_ok(keep, argv[3])) {
        fprintf(stderr, "shit-apply: %s: step %d: refusing KEEP %s: not a file of %s's own staging dir\n",
                argv[1], idx, keep, argv[3]);
        return 2;
      }
    }
    size_t pn;
    const char *path = view_str(&v, T_PATH, &pn);
    if (!path || !pn || path[0] != '/') {
      fprintf(stderr, "shit-apply: %s: step %d: no absolute PATH\n", argv[1], idx);
      return 2;
    }
  }
  free(kb.p);
  if (r < 0 || off != plan.len) {
    fprintf(stderr, "shit-apply: %s: not a plan (bad record at byte %zu)\n", argv[1], off);
    return 2;
  }

  mkdirs();
  cap_reserve_fill(state, strlen(state));
  snprintf(spool_path, sizeof spool_path, "%s/spool/%s.spool", state, cmd_id);
  snprintf(journal_path, sizeof journal_path, "%s/run/%s.journal", state, cmd_id);

  /* the journal and our own spool (a re-run of an interrupted apply) */
  uint8_t *done = spill_alloc(nsteps + 1);
  touched = spill_alloc(nsteps + 1);
  /* the journal read a piece at a time (4 bytes a step done: 40 MB for 10M) */
  size_t ndone = 0;
  int jfd = open(journal_path, O_RDONLY | O_CLOEXEC);
  if (jfd >= 0) {
    static uint8_t jb[65536];
    size_t have = 0; /* bytes in jb, a part of an entry left from the last read first */
    for (;;) {
      ssize_t got = read(jfd, jb + have, sizeof jb - have);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) break; /* a part of an entry at the end (a torn write) is not one */
      have += (size_t)got;
      size_t i = 0;
      for (; i + 4 <= have; i += 4) {
        spill_tick();
        uint32_t x;
        memcpy(&x, jb + i, 4);
        if (x < nsteps && !done[x]) {
          done[x] = 1;
          ndone++;
        }
      }
      memmove(jb, jb + i, have - i);
      have -= i;
    }
    close(jfd);
  }
  struct mapped sp;
  /* a run killed between creating its spool and writing BEGIN into it left a spool with no
   * BEGIN: the command's row then never got its start (argv, cwd, time), and the undo chain,
   * which orders reversals by it, took an older undo for the latest. BEGIN is written then too. */
  int begun = 0;
  if (map_file(spool_path, &sp, &err) == 0) {
    for (size_t so = 0, sat = 0; sp_next(sp.p, sp.len, &so, &v) == 1; sat = so) {
      map_touch(&sp, sp.p + sat, so - sat);
      if (v.op == SP_BEGIN) begun = 1;
      if (v.err || v.op < SP_UNLINK || v.op > SP_MKNOD || !v.f[T_STEP] || v.fn[T_STEP] < 4) continue;
      uint32_t st;
      memcpy(&st, v.f[T_STEP], 4);
      if (st < nsteps) touched[st] = 1;
    }
    map_free(&sp);
  }
  if (!begun) {
    int rc = begin_command(spool_path, argv + 4, argc - 4, argv[2], argv[3]);
    if (rc) {
      fprintf(stderr, "shit-apply: %s: %s\n", spool_path, strerror(-rc));
      return 2;
    }
  }
  /* the records are written on one descriptor, not an open and close each */
  if ((err = sp_hold(spool_path)))
    fprintf(stderr, "shit-apply: %s: %s (each record opens it instead)\n", spool_path, strerror(-err));
  sp_record_pid = (int32_t)getpid(); /* no getpid per record: this process forks nothing */
  catch_signals();

  /* EXPECT: all of them before anything changes (skipped on a re-run that passed them) */
  int conflicts = 0, forced = 0;
  static struct step cur;
  for (size_t i = 0; i < nsteps; i++) {
    struct step *s = &cur;
    spill_tick();
    if (slots[i].op != STEP_EXPECT || done[i]) continue;
    step_load(i, s);
    if (!check_expect(s)) {
      if (s->flags & STEP_F_FORCE) forced++;
      else conflicts++;
    }
  }
  if (conflicts) {
    fprintf(stderr, "shit-apply: %d conflict%s: nothing changed (force to override)\n", conflicts,
            conflicts > 1 ? "s" : "");
    write_end(3);
    return 3;
  }
  /* every inode kept whole that a PLACE moves back: still in staging as it was kept (or at its
   * path, moved by a run killed before its journal entry), checked before anything changes */
  int lost = 0;
  for (size_t i = 0; i < nsteps; i++) {
    spill_tick();
    if (slots[i].op != STEP_PLACE || done[i]) continue;
    step_load(i, &cur);
    if ((cur.flags & STEP_F_KEPT_WHOLE) && !kept_ok(&cur)) lost++;
  }
  sp_dir_drop(&staged_dir);
  if (lost) {
    fprintf(stderr, "shit-apply: %d kept pre-image%s gone or changed: nothing changed\n", lost,
            lost > 1 ? "s" : "");
    write_end(5);
    return 5;
  }
  all_n = nsteps;
  all_done = done;
  find_moves();
  /* the EXPECTs passed, on the journal before any change: a re-run must not take this run's
   * changes for conflicts (a full disk: once more with the reserve's room; else nothing is changed,
   * exit 4, and the re-run checks them again) */
  for (int again = 0;; again++) {
    for (size_t i = 0; i < nsteps; i++)
      if (spill_tick(), slots[i].op == STEP_EXPECT && !done[i]) journal_add((uint32_t)i);
    int je = journal_flush(again == 0);
    if (!je) break;
    if (again || !cap_reserve_give(state, strlen(state), 1 << 16, 0)) {
      if (again == 0)
        fprintf(stderr, "shit-apply: %s: cannot write the journal: %s\n", journal_path, strerror(-je));
      fprintf(stderr, "shit-apply: nothing changed; run it again once there is room\n");
      return 4;
    }
  }
  for (size_t i = 0; i < nsteps; i++)
    if (spill_tick(), slots[i].op == STEP_EXPECT) done[i] = 1;

  size_t todo = 0;
  for (size_t i = 0; i < nsteps; i++) todo += (spill_tick(), !done[i] && slots[i].op != STEP_EXPECT);
  progress_start(todo);
  for (size_t i = 0; i < nsteps; i++) {
    struct step *s = &cur;
    spill_tick();
    if (done[i] || slots[i].op == STEP_EXPECT) continue;
    step_load(i, s);
    int e;
    memset(&o, 0, sizeof o);
    cap_step = (int)i; /* every record of this step carries STEP = i */
    o.step = (int)i;
    /* A PLACE in the directory of the step before it: its records (a creation, after the call)
     * may wait in memory with its journal entry, written together every 64 KiB (sp_batch),
     * before the next step that is not such a PLACE, and at the end. A kill in between leaves
     * files in place without their records: a re-run finds them and records them (place_found),
     * as it did for a kill between a call and its record. The first PLACE in a directory is
     * written at once: its record's PARENT is the directory's state before the undo, which the
     * redo restores (src/plan firstStat). Every other step's records are written as before. */
    int deferred = s->op == STEP_PLACE && parent_cached(s->path) && cached_placed;
    sp_batch(deferred);
    /* OPSWITCH(apply; ignores: EXPECT) -- every EXPECT was checked before the first step */
    switch (s->op) {
    case STEP_REMOVE:
      removed_dir = 0;
      if ((e = remove_dir_whole(s)) < 0) e = do_remove(s);
      if (removed_dir) drop_parent_cache();
      break;
    case STEP_RENAME:
      e = do_rename(s);
      drop_parent_cache();
      break;
    case STEP_PLACE: e = do_place(s); break;
    case STEP_REWRITE: e = do_rewrite(s); break;
    case STEP_TRUNCATE: e = do_truncate(s); break;
    case STEP_LINK: e = do_link(s); break;
    case STEP_META: e = do_meta(s); break;
    case STEP_XATTR: e = do_xattr(s); break;
    default: e = EINVAL;
    }
    if (e) {
      progress_end();
      fprintf(stderr, "shit-apply: step %zu %s %s: %s%s\n", i, kind_name(s->op), s->path, errstr(e), hint(e));
      write_end(4);
      return 4;
    }
    journal_add((uint32_t)i);
    if (s->op == STEP_PLACE && parent_cached(s->path)) cached_placed = 1;
    if (!deferred) journal_flush(0);
    if (pending_sig) flush_and_die(pending_sig);
    progress_step();
  }
  progress_end();
  int rc = write_end(0);
  if (rc) {
    if (sp_lost)
      fprintf(stderr, "shit-apply: %s: cannot record every step: %s; run it again to record them\n",
              spool_path, strerror(sp_lost));
    else
      fprintf(stderr,
              "shit-apply: %s: cannot record the end: %s; every step is done, run it again to record it\n",
              spool_path, strerror(rc == -5 ? EIO : -rc));
    return 4;
  }
  known_prepare();
  end_scan_known = known_post;
  static const struct end_scan_mem mem = {spill_alloc, spill_realloc, spill_free, end_scan_charge};
  end_scan_mem = &mem;
  end_scan(spool_path); /* POST records, as shit-run writes them */
  return 0;
}
