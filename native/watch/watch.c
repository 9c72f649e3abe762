/* shit-watch — the rename-proof directory watcher (docs/WATCH.md is the protocol).
 *
 * One inotify watch per directory, never per file. Each watch maps to a node that knows its
 * directory's identity (dev, ino) and its place in a tree of names (node -> the entry naming it
 * in its parent). Every path is derived from that tree when an event is written, so renaming a
 * directory re-paths its whole subtree at once, and a recreated name is a new node.
 *
 * Every directory is opened first, watched through /proc/self/fd/N (so the watch is on exactly
 * the inode that was opened, whatever the path means by then), then listed: what was already
 * there is reported, nothing written right after a mkdir is missed. Each directory keeps a
 * baseline (name -> ino, type, size, mtime); an IN_Q_OVERFLOW or a `rescan` re-lists and diffs
 * against it, and a listing that fails keeps the baseline (an unreadable directory is not empty).
 *
 * Single-threaded, no locks: no file I/O ever waits on a lock another watch needs.
 * libc only. Env: SHIT_WATCH_MAX=N caps the number of watches (takes the ENOSPC path). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#define MASK                                                                                      \
  (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB | \
   IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK)

typedef struct Node Node;
typedef struct Entry Entry;
typedef struct Root Root;

struct Entry {
  Node *parent; /* the directory holding this name; NULL while detached during a rescan */
  Node *node;   /* the watch, when this entry is a watched directory */
  char *name;
  size_t nlen;
  uint64_t dev, ino; /* ino 0: not known (it was gone when stat'ed) */
  uint32_t mode;     /* st_mode (type + bits); 0 if unknown */
  int64_t size, mtime_ns;
  int64_t ctime_ns, ctime_at; /* st_ctim, and the evtime it was stat'ed under (see event_time) */
  unsigned long seen;         /* the listing generation that last saw it */
  unsigned long modbatch;     /* the read batch that last reported it modified (coalescing) */
};

typedef struct {
  Entry **slot;
  size_t cap, n;
} Table;

struct Node {
  int wd;
  uint64_t dev, ino;
  Entry *self; /* the entry naming this directory; NULL for a root's top */
  Root *root;  /* set only on a root's top */
  Table kids;
  int clock; /* its filesystem's ctimes come from this machine's clock: 0 not known, 1 yes, 2 no */
};

struct Root {
  char *path;
  size_t plen;
  Node *top;
  Root *next;
  long unwatched; /* directories left unwatched (watch limit) in the current operation */
};

typedef struct {
  char *b;
  size_t n, cap;
} Buf;

enum { QUIET, NEW, DIFF, RESCAN }; /* listing modes: baseline only; report all as created; diff; diff deep */

static int ifd = -1;
static Root *roots;
static long nwatches, maxwatches = -1;
static int cap_from_env;
static unsigned long gen, batch;
static int64_t evtime; /* CLOCK_REALTIME when the events being written were read (or listed) */
static Buf out;

static void die(const char *msg) {
  fprintf(stderr, "shit-watch: %s\n", msg);
  exit(1);
}

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) die("out of memory");
  return q;
}

static void put(Buf *b, const void *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    b->cap = (b->n + n + 1) * 2;
    b->b = xrealloc(b->b, b->cap);
  }
  memcpy(b->b + b->n, s, n);
  b->n += n;
  b->b[b->n] = 0;
}
static void puts_(Buf *b, const char *s) { put(b, s, strlen(s)); }

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- name -> entry tables (open addressing, linear probing, backward-shift delete) ---- */

static uint64_t hash(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
  return h;
}

static Entry *tfind(Table *t, const char *name, size_t n) {
  if (!t->cap) return NULL;
  for (size_t i = hash(name, n) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
    Entry *e = t->slot[i];
    if (!e) return NULL;
    if (e->nlen == n && memcmp(e->name, name, n) == 0) return e;
  }
}

static void tput(Table *t, Entry *e) {
  if ((t->n + 1) * 2 > t->cap) {
    Table g = {0};
    g.cap = t->cap ? t->cap * 2 : 8;
    g.slot = calloc(g.cap, sizeof *g.slot);
    if (!g.slot) die("out of memory");
    for (size_t i = 0; i < t->cap; i++)
      if (t->slot[i]) tput(&g, t->slot[i]);
    free(t->slot);
    *t = g;
  }
  size_t i = hash(e->name, e->nlen) & (t->cap - 1);
  while (t->slot[i]) i = (i + 1) & (t->cap - 1);
  t->slot[i] = e;
  t->n++;
}

static void tdel(Table *t, Entry *e) {
  size_t m = t->cap - 1, i = hash(e->name, e->nlen) & m;
  while (t->slot[i] != e) i = (i + 1) & m;
  t->slot[i] = NULL;
  t->n--;
  for (size_t j = (i + 1) & m; t->slot[j]; j = (j + 1) & m) {
    size_t h = hash(t->slot[j]->name, t->slot[j]->nlen) & m;
    /* move j back into the hole at i when its home h is not in (i, j] */
    if ((j > i && (h <= i || h > j)) || (j < i && (h <= i && h > j))) {
      t->slot[i] = t->slot[j];
      t->slot[j] = NULL;
      i = j;
    }
  }
}

/* ---- wd -> node map ---- */

static struct {
  Node **slot;
  size_t cap, n;
} wds;

static size_t wdhome(int wd) { return ((uint32_t)wd * 2654435761u) & (wds.cap - 1); }

static Node *wdfind(int wd) {
  if (!wds.cap) return NULL;
  for (size_t i = wdhome(wd);; i = (i + 1) & (wds.cap - 1)) {
    if (!wds.slot[i]) return NULL;
    if (wds.slot[i]->wd == wd) return wds.slot[i];
  }
}

static void wdput(Node *n) {
  if ((wds.n + 1) * 2 > wds.cap) {
    Node **old = wds.slot;
    size_t oc = wds.cap;
    wds.cap = oc ? oc * 2 : 64;
    wds.slot = calloc(wds.cap, sizeof *wds.slot);
    if (!wds.slot) die("out of memory");
    wds.n = 0;
    for (size_t i = 0; i < oc; i++)
      if (old[i]) wdput(old[i]);
    free(old);
  }
  size_t i = wdhome(n->wd);
  while (wds.slot[i]) i = (i + 1) & (wds.cap - 1);
  wds.slot[i] = n;
  wds.n++;
}

/* A directory now watched as wd, with the identity st gives it: registered and counted. */
static Node *node_new(int wd, const struct stat *st) {
  Node *n = calloc(1, sizeof *n);
  if (!n) die("out of memory");
  n->wd = wd;
  n->dev = st->st_dev;
  n->ino = st->st_ino;
  wdput(n);
  nwatches++;
  return n;
}

static void wddel(Node *n) {
  size_t m = wds.cap - 1, i = wdhome(n->wd);
  while (wds.slot[i] != n) {
    if (!wds.slot[i]) return;
    i = (i + 1) & m;
  }
  wds.slot[i] = NULL;
  wds.n--;
  for (size_t j = (i + 1) & m; wds.slot[j]; j = (j + 1) & m) {
    size_t h = wdhome(wds.slot[j]->wd);
    if ((j > i && (h <= i || h > j)) || (j < i && (h <= i && h > j))) {
      wds.slot[i] = wds.slot[j];
      wds.slot[j] = NULL;
      i = j;
    }
  }
}

/* ---- directories detached by a rescan, until found elsewhere (a move) or reported deleted ---- */

typedef struct {
  Node *n;
  char *path;
  size_t plen;
  Root *root;
} Missing;
static Missing *missing;
static size_t nmissing, capmissing;

static Missing *find_missing(Node *n) {
  for (size_t i = 0; i < nmissing; i++)
    if (missing[i].n == n) return &missing[i];
  return NULL;
}

/* ---- paths, derived from the tree at the moment they are needed ---- */

static Entry **chain;
static size_t capchain;

/* The path of directory n into b; returns its root, or NULL when n is in no root. */
static Root *node_path(Node *n, Buf *b) {
  size_t k = 0;
  Node *cur = n;
  while (cur->self && cur->self->parent) {
    if (k == capchain) chain = xrealloc(chain, (capchain = capchain * 2 + 16) * sizeof *chain);
    chain[k++] = cur->self;
    cur = cur->self->parent;
  }
  Root *root;
  b->n = 0;
  if (cur->root) {
    root = cur->root;
    put(b, root->path, root->plen);
  } else {
    Missing *m = cur->self ? find_missing(cur) : NULL;
    if (!m) return NULL;
    root = m->root;
    put(b, m->path, m->plen);
  }
  while (k--) {
    if (!(b->n == 1 && b->b[0] == '/')) put(b, "/", 1);
    put(b, chain[k]->name, chain[k]->nlen);
  }
  if (!b->b) put(b, "", 0);
  return root;
}

static Root *entry_path(Entry *e, Buf *b) {
  Root *r = node_path(e->parent, b);
  if (r) {
    if (!(b->n == 1 && b->b[0] == '/')) put(b, "/", 1);
    put(b, e->name, e->nlen);
  }
  return r;
}

/* ---- output: one line per event or reply (docs/WATCH.md) ---- */

static void flush_out(void) {
  size_t off = 0;
  while (off < out.n) {
    ssize_t w = write(1, out.b + off, out.n - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      exit(0); /* the reader is gone */
    }
    off += (size_t)w;
  }
  out.n = 0;
}

static void put_hex(Buf *b, const char *key, const char *s, size_t n) {
  static const char hx[] = "0123456789abcdef";
  char tmp[256];
  size_t t = 0;
  puts_(b, " ");
  puts_(b, key);
  puts_(b, "=");
  for (size_t i = 0; i < n; i++) {
    if (t + 2 > sizeof tmp) put(b, tmp, t), t = 0;
    tmp[t++] = hx[(unsigned char)s[i] >> 4];
    tmp[t++] = hx[(unsigned char)s[i] & 15];
  }
  put(b, tmp, t);
}

static void put_num(Buf *b, const char *key, long long v) {
  char tmp[64];
  snprintf(tmp, sizeof tmp, " %s=%lld", key, v);
  puts_(b, tmp);
}

typedef struct {
  const char *kind;
  const Buf *path, *from;
  int isdir;
  uint64_t dev, ino;
  Root *root;
  const char *msg;
  long long count, max;
  int64_t t; /* when the change happened at the latest; 0: evtime */
} Ev;

static void emit(const Ev *ev) {
  puts_(&out, ev->kind);
  put_num(&out, "t", ev->t ? ev->t : evtime);
  if (ev->path) put_hex(&out, "path", ev->path->b, ev->path->n);
  if (ev->from) put_hex(&out, "from", ev->from->b, ev->from->n);
  if (ev->isdir) puts_(&out, " dir=1");
  if (ev->ino) put_num(&out, "dev", (long long)ev->dev), put_num(&out, "ino", (long long)ev->ino);
  if (ev->root) put_hex(&out, "root", ev->root->path, ev->root->plen);
  if (ev->count) put_num(&out, "count", ev->count), put_num(&out, "max", ev->max);
  if (ev->msg) put_hex(&out, "msg", ev->msg, strlen(ev->msg));
  puts_(&out, "\n");
  if (out.n > 1 << 16) flush_out();
}

static Buf pa, pb; /* scratch paths */

static int node_fd(Node *n);

/* Filesystems whose ctimes this kernel stamps from its own clock (NFS, CIFS, FUSE take the
 * server's or the daemon's, which may be skewed). */
static int local_clock(Node *n) {
  if (!n->clock) {
    int fd = node_fd(n);
    struct statfs sf;
    if (fd < 0 || fstatfs(fd, &sf) < 0) return 0; /* not known now: asked again next time */
    switch ((unsigned long)sf.f_type) {
    case 0xEF53:     /* ext2/3/4 */
    case 0x58465342: /* XFS */
    case 0x9123683E: /* btrfs */
    case 0x01021994: /* tmpfs */
    case 0xF2F52010: /* f2fs */
    case 0xCA451A4E: /* bcachefs */
    case 0x2FC12FC1: /* ZFS */
    case 0x794C7630: /* overlayfs */ n->clock = 1; break;
    default: n->clock = 2;
    }
  }
  return n->clock == 1;
}

/* When the change an event reports happened, at the latest. inotify carries no time, and the
 * time of the read (evtime) can be long after the change when this process or shitd is slow:
 * a change made just before a command started would then fall inside the command. Every change
 * sets the ctime of what it changed (a create, delete or rename that of the directory it was
 * made in), so a stat taken after the read, i.e. under this evtime, bounds it. ctime is the
 * kernel's coarse clock (up to a tick behind: 20 ms covers HZ=100), and a ctime with no fraction
 * may be a filesystem keeping whole seconds. */
static int64_t event_time(const char *kind, Entry *e) {
  int64_t c = 0;
  if (!e->parent || !local_clock(e->parent)) return evtime;
  if (!strcmp(kind, "delete")) {
    struct stat st;
    int fd = node_fd(e->parent);
    if (fd < 0 || fstat(fd, &st) < 0) return evtime;
    c = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
  } else if (e->ctime_at == evtime) {
    c = e->ctime_ns;
  }
  if (c <= 0) return evtime;
  c += c % 1000000000 ? 20000000 : 1020000000;
  return c < evtime ? c : evtime;
}

static void emit_entry(const char *kind, Entry *e, const Buf *from) {
  int64_t t = event_time(kind, e);
  Root *r = entry_path(e, &pa);
  if (!r) return;
  Ev ev = {.kind = kind,
           .path = &pa,
           .from = from,
           .isdir = S_ISDIR(e->mode),
           .dev = e->dev,
           .ino = e->ino,
           .root = r,
           .t = t};
  emit(&ev);
}

static void emit_error(const char *what, const Buf *path, Root *root, int err) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s %.*s: %s", what, path ? (int)path->n : 0, path ? path->b : "", strerror(err));
  Ev ev = {.kind = "error", .path = path, .root = root, .msg = msg};
  emit(&ev);
}

static long kernel_max_watches(void) {
  FILE *f = fopen("/proc/sys/fs/inotify/max_user_watches", "r");
  long v = -1;
  if (f) {
    if (fscanf(f, "%ld", &v) != 1) v = -1;
    fclose(f);
  }
  return v;
}

/* One `limit` event per root that lost directories in the operation just finished. */
static void report_limits(void) {
  for (Root *r = roots; r; r = r->next) {
    if (!r->unwatched) continue;
    long max = cap_from_env ? maxwatches : kernel_max_watches();
    char msg[PATH_MAX + 200];
    snprintf(msg, sizeof msg, "watch limit reached (%s=%ld): %ld directories under %.*s not watched",
             cap_from_env ? "SHIT_WATCH_MAX" : "fs.inotify.max_user_watches", max, r->unwatched, (int)r->plen,
             r->path);
    Ev ev = {.kind = "limit", .root = r, .msg = msg, .count = r->unwatched, .max = max};
    emit(&ev);
    r->unwatched = 0;
  }
}

/* ---- nodes ---- */

static Entry *new_entry(const char *name, size_t n) {
  Entry *e = calloc(1, sizeof *e);
  if (!e) die("out of memory");
  e->name = xrealloc(NULL, n + 1);
  memcpy(e->name, name, n);
  e->name[n] = 0;
  e->nlen = n;
  return e;
}

static void set_stat(Entry *e, const struct stat *st) {
  e->dev = st->st_dev;
  e->ino = st->st_ino;
  e->mode = st->st_mode;
  e->size = S_ISDIR(st->st_mode) ? 0 : st->st_size;
  e->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
  e->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
  e->ctime_at = evtime;
}

/* A small cache of open directory descriptors for the current read batch: an fd is the
 * directory's identity, valid whatever renames happened since it was opened. */
#define NFDS 8
static struct {
  Node *n;
  int fd;
} fds[NFDS];
static unsigned fdnext;

static void fd_forget(Node *n) {
  for (int i = 0; i < NFDS; i++)
    if (fds[i].n == n) close(fds[i].fd), fds[i].n = NULL;
}
static void fd_clear(void) {
  for (int i = 0; i < NFDS; i++)
    if (fds[i].n) close(fds[i].fd), fds[i].n = NULL;
}

static void drop_node(Node *n);

static void free_entry(Entry *e) {
  if (e->node) drop_node(e->node);
  free(e->name);
  free(e);
}

/* Forget a directory and everything under it; its watches are removed. */
static void drop_node(Node *n) {
  for (size_t i = 0; i < n->kids.cap; i++)
    if (n->kids.slot[i]) free_entry(n->kids.slot[i]);
  free(n->kids.slot);
  if (n->wd >= 0) {
    inotify_rm_watch(ifd, n->wd);
    wddel(n);
    nwatches--;
  }
  fd_forget(n);
  if (n->root) n->root->top = NULL;
  if (n->self) n->self->node = NULL;
  free(n);
}

/* Remove e from its directory (and free it with its subtree). */
static void remove_entry(Entry *e) {
  tdel(&e->parent->kids, e);
  free_entry(e);
}

/* Add a watch on the directory open as fd. Returns wd or -1 (errno; ENOSPC at the cap). */
static int watch_fd(int fd, const char *path) {
  if (maxwatches >= 0 && nwatches >= maxwatches) {
    errno = ENOSPC;
    return -1;
  }
  char p[64];
  snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
  int wd = inotify_add_watch(ifd, p, MASK);
  if (wd < 0 && errno == ENOENT && path) wd = inotify_add_watch(ifd, path, MASK); /* no /proc */
  return wd;
}

/* Directories in the subtree of the directory open as fd (itself included); closes fd. */
static long count_dirs(int fd) {
  DIR *d = fdopendir(fd);
  if (!d) {
    close(fd);
    return 1;
  }
  long k = 1;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    int isdir = de->d_type == DT_DIR;
    if (de->d_type == DT_UNKNOWN) {
      struct stat st;
      isdir = fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
    }
    if (!isdir) continue;
    int c = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    k += c >= 0 ? count_dirs(c) : 1;
  }
  closedir(d);
  return k;
}

static int is_ancestor(Node *a, Node *n) {
  for (Node *cur = n; cur; cur = cur->self ? cur->self->parent : NULL)
    if (cur == a) return 1;
  return 0;
}

static void sync_dir(Node *n, int dfd, int mode);
static void unlink_root(Root *r);
static Root *graveyard; /* roots merged into another one, freed once the operation is over */
static void bury(void) {
  while (graveyard) {
    Root *r = graveyard;
    graveyard = r->next;
    free(r->path);
    free(r);
  }
}

/* A watched directory no longer at its name during a rescan: kept aside until it turns up
 * elsewhere (a move) or the rescan ends (a delete). */
static void detach_missing(Entry *e) {
  Buf from = {0};
  Root *r = entry_path(e, &from);
  tdel(&e->parent->kids, e);
  e->parent = NULL;
  if (nmissing == capmissing)
    missing = xrealloc(missing, (capmissing = capmissing * 2 + 8) * sizeof *missing);
  missing[nmissing++] = (Missing){e->node, from.b, from.n, r};
}

/* The directory named by e (in the directory open as dfd) gets a watch and is listed. When the
 * kernel returns a watch we already have, the directory was moved here unseen: its node moves. */
static void watch_entry(Entry *e, int dfd, int mode, int report) {
  Node *p = e->parent;
  int fd = openat(dfd, e->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  if (fd >= 0 && fstat(fd, &st) < 0) close(fd), fd = -1;
  if (fd < 0) {
    int err = errno;
    if (report) emit_entry("create", e, NULL);
    if (err != ENOENT && err != ENOTDIR) {
      Root *r = entry_path(e, &pb);
      emit_error("cannot open", &pb, r, err);
    }
    return;
  }
  set_stat(e, &st);
  Root *r = entry_path(e, &pb);
  int wd = watch_fd(fd, r ? pb.b : NULL);
  if (wd < 0) {
    int err = errno;
    if (report) emit_entry("create", e, NULL);
    if (err == ENOSPC) {
      if (r) r->unwatched += count_dirs(fd);
      else close(fd);
    } else {
      emit_error("cannot watch", &pb, r, err);
      close(fd);
    }
    return;
  }
  Node *x = wdfind(wd);
  if (x && x->root) {
    /* a root inside the tree being listed: it becomes part of this one, baseline and all */
    x->root->top = NULL;
    unlink_root(x->root); /* freed after the operation: a rescan may be iterating over it */
    x->root->next = graveyard;
    graveyard = x->root;
    x->root = NULL;
    x->self = e;
    e->node = x;
    close(fd);
    return;
  }
  if (x && x->self && !is_ancestor(x, p)) {
    /* a directory we know, found here: it moved */
    Entry *old = x->self;
    Missing *m = old->parent ? NULL : find_missing(x);
    Buf from = {0};
    if (m) {
      put(&from, m->path, m->plen);
      *m = missing[--nmissing];
    } else if (entry_path(old, &from)) {
      tdel(&old->parent->kids, old);
    }
    old->node = NULL;
    old->parent = NULL;
    free_entry(old);
    x->self = e;
    e->node = x;
    if (report || mode == RESCAN) emit_entry("move", e, from.n ? &from : NULL);
    free(from.b);
    if (mode == RESCAN) sync_dir(x, fd, RESCAN);
    else close(fd);
    return;
  }
  if (x) { /* cannot happen in a tree; keep what we have */
    close(fd);
    return;
  }
  Node *n = node_new(wd, &st);
  n->self = e;
  e->node = n;
  if (report) emit_entry("create", e, NULL);
  sync_dir(n, fd, mode == QUIET ? QUIET : NEW);
}

/* A name seen in directory n (open as dfd) with status st: reconcile it with the baseline. */
static void reconcile(Node *n, int dfd, const char *name, size_t nlen, const struct stat *st, int mode,
                      unsigned long g) {
  Entry *e = tfind(&n->kids, name, nlen);
  int report = mode != QUIET;
  if (e && (e->mode & S_IFMT) == (st->st_mode & S_IFMT) && e->ino == st->st_ino && e->dev == st->st_dev) {
    e->seen = g;
    if (S_ISDIR(st->st_mode)) {
      uint32_t old = e->mode;
      e->mode = st->st_mode;
      e->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
      e->ctime_at = evtime;
      if ((mode == DIFF || mode == RESCAN) && old != st->st_mode) emit_entry("attrib", e, NULL);
      if (!e->node) watch_entry(e, dfd, QUIET, 0); /* unwatched before (limit, no access): try again */
      else if (mode == RESCAN) {
        int fd = openat(dfd, e->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) sync_dir(e->node, fd, RESCAN);
        else {
          int err = errno;
          Root *r = entry_path(e, &pb);
          emit_error("cannot list (keeping the previous state)", &pb, r, err);
        }
      }
      return;
    }
    Entry was = *e;
    set_stat(e, st);
    if (mode == DIFF || mode == RESCAN) {
      if (was.size != e->size || was.mtime_ns != e->mtime_ns) emit_entry("modify", e, NULL);
      else if (was.mode != e->mode) emit_entry("attrib", e, NULL);
    }
    return;
  }
  if (e && !S_ISDIR(st->st_mode) && (e->mode & S_IFMT) == (st->st_mode & S_IFMT)) {
    /* same name, same type, another inode (replaced by a rename, e.g. sed -i): modified */
    e->seen = g;
    set_stat(e, st);
    if (report) emit_entry("modify", e, NULL);
    return;
  }
  if (e) { /* another type now, or another directory: the old one is gone (or moved: see watch_entry) */
    if (e->node && mode == RESCAN) detach_missing(e);
    else {
      if (report) emit_entry("delete", e, NULL);
      remove_entry(e);
    }
  }
  e = new_entry(name, nlen);
  set_stat(e, st);
  e->seen = g;
  e->parent = n;
  tput(&n->kids, e);
  if (S_ISDIR(st->st_mode)) watch_entry(e, dfd, mode, report);
  else if (report) emit_entry("create", e, NULL);
}

/* List directory n (open as dfd, which this closes) and reconcile the listing with its baseline.
 * A listing that fails changes nothing. */
static void sync_dir(Node *n, int dfd, int mode) {
  DIR *d = fdopendir(dfd);
  if (!d) {
    close(dfd);
    return;
  }
  Buf names = {0};
  struct dirent *de;
  errno = 0;
  while ((de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    put(&names, de->d_name, strlen(de->d_name) + 1);
    errno = 0;
  }
  if (errno) {
    int err = errno;
    Root *r = node_path(n, &pb);
    emit_error("cannot list (keeping the previous state)", &pb, r, err);
    closedir(d);
    free(names.b);
    return;
  }
  unsigned long g = ++gen;
  evtime = now_ns();
  for (size_t off = 0; off < names.n;) {
    const char *name = names.b + off;
    size_t len = strlen(name);
    off += len + 1;
    struct stat st;
    if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0) continue; /* gone since: not listed */
    reconcile(n, dirfd(d), name, len, &st, mode, g);
  }
  free(names.b);
  /* baseline entries not listed are gone (a directory may turn up elsewhere: a move) */
  size_t k = 0;
  Entry **gone = NULL;
  for (size_t i = 0; i < n->kids.cap; i++) {
    Entry *e = n->kids.slot[i];
    if (e && e->seen != g) gone = xrealloc(gone, (k + 1) * sizeof *gone), gone[k++] = e;
  }
  for (size_t i = 0; i < k; i++) {
    Entry *e = gone[i];
    if (e->node && mode == RESCAN) detach_missing(e);
    else {
      if (mode != QUIET) emit_entry("delete", e, NULL);
      remove_entry(e);
    }
  }
  free(gone);
  closedir(d);
}

/* Directories detached by a rescan and not found elsewhere are deleted. */
static void finish_missing(void) {
  while (nmissing) {
    Missing m = missing[--nmissing];
    Ev ev = {.kind = "delete",
             .path = &(Buf){m.path, m.plen, m.plen},
             .isdir = 1,
             .dev = m.n->self->dev,
             .ino = m.n->self->ino,
             .root = m.root};
    emit(&ev);
    free_entry(m.n->self);
    free(m.path);
  }
}

/* ---- roots ---- */

static Root *find_root(const char *path, size_t n) {
  for (Root *r = roots; r; r = r->next)
    if (r->plen == n && memcmp(r->path, path, n) == 0) return r;
  return NULL;
}

static void unlink_root(Root *r) {
  for (Root **pp = &roots; *pp; pp = &(*pp)->next)
    if (*pp == r) {
      *pp = r->next;
      return;
    }
}

/* Never called during a rescan (which may hold Root pointers); an absorbed root is only unlinked. */
static void drop_root(Root *r) {
  if (r->top) drop_node(r->top);
  unlink_root(r);
  free(r->path);
  free(r);
}

/* Watch the directory at r->path as r's top and list it (mode QUIET: no events for what is there). */
static int attach_top(Root *r, int mode, const char **why) {
  int fd = open(r->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0) {
    *why = strerror(errno);
    if (fd >= 0) close(fd);
    return -1;
  }
  int wd = watch_fd(fd, r->path);
  if (wd < 0) {
    if (errno == ENOSPC) {
      r->unwatched += count_dirs(fd);
      *why = "watch limit reached";
      return -1;
    }
    *why = strerror(errno);
    close(fd);
    return -1;
  }
  Node *x = wdfind(wd);
  if (x) {
    close(fd);
    static char msg[PATH_MAX + 64];
    Root *o = node_path(x, &pb);
    snprintf(msg, sizeof msg, "already watched as part of %.*s", o ? (int)o->plen : 0, o ? o->path : "");
    *why = msg;
    return -1;
  }
  Node *n = node_new(wd, &st);
  n->root = r;
  r->top = n;
  sync_dir(n, fd, mode);
  return 0;
}

static void rescan_root(Root *r) {
  int fd = open(r->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct stat st;
  if (fd >= 0 && fstat(fd, &st) < 0) close(fd), fd = -1;
  if (fd < 0) {
    Buf p = {r->path, r->plen, r->plen};
    emit_error("cannot list root (keeping the previous state)", &p, r, errno);
  } else if (!r->top || r->top->dev != (uint64_t)st.st_dev || r->top->ino != (uint64_t)st.st_ino) {
    close(fd);
    if (r->top) {
      Buf p = {r->path, r->plen, r->plen};
      Ev ev = {.kind = "error",
               .path = &p,
               .root = r,
               .msg = "root was replaced by another directory: listed anew"};
      emit(&ev);
      drop_node(r->top);
    }
    const char *why;
    if (attach_top(r, QUIET, &why) < 0) {
      Buf p = {r->path, r->plen, r->plen};
      Ev ev = {.kind = "error", .path = &p, .root = r, .msg = why};
      emit(&ev);
    }
  } else {
    sync_dir(r->top, fd, RESCAN);
  }
  finish_missing();
  Ev ev = {.kind = "rescan", .root = r};
  emit(&ev);
}

static void rescan_all(void) {
  for (Root *r = roots; r; r = r->next) rescan_root(r);
}

/* ---- inotify events ---- */

/* The open directory of node n, checked to be n's inode; -1 if the tree is stale there. */
static int node_fd(Node *n) {
  for (int i = 0; i < NFDS; i++)
    if (fds[i].n == n) return fds[i].fd;
  if (!node_path(n, &pb)) return -1;
  int fd = open(pb.b, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct stat st;
  if (fd < 0) return -1;
  if (fstat(fd, &st) < 0 || (uint64_t)st.st_dev != n->dev || (uint64_t)st.st_ino != n->ino) {
    close(fd);
    return -1;
  }
  unsigned i = fdnext++ % NFDS;
  if (fds[i].n) close(fds[i].fd);
  fds[i].n = n;
  fds[i].fd = fd;
  return fd;
}

/* Directories whose events could not be resolved (their path was stale): re-listed after the batch. */
static int *dirty;
static size_t ndirty, capdirty;
static void mark_dirty(Node *n) {
  for (size_t i = 0; i < ndirty; i++)
    if (dirty[i] == n->wd) return;
  if (ndirty == capdirty) dirty = xrealloc(dirty, (capdirty = capdirty * 2 + 8) * sizeof *dirty);
  dirty[ndirty++] = n->wd;
}

/* A name that appeared in n (created or moved in): reported, and listed when a directory. */
static void appeared(Node *n, const char *name, size_t nlen, uint32_t mask) {
  int dfd = node_fd(n);
  if (dfd < 0) return mark_dirty(n);
  struct stat st;
  if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
    /* already gone again: report it, a delete or move follows in the queue */
    if (tfind(&n->kids, name, nlen)) return;
    Entry *e = new_entry(name, nlen);
    e->mode = (mask & IN_ISDIR) ? S_IFDIR : 0;
    e->parent = n;
    tput(&n->kids, e);
    emit_entry("create", e, NULL);
    return;
  }
  reconcile(n, dfd, name, nlen, &st, NEW, 0);
}

static void vanished(Node *n, const char *name, size_t nlen) {
  Entry *e = tfind(&n->kids, name, nlen);
  if (!e) return;
  emit_entry("delete", e, NULL);
  remove_entry(e);
}

static void changed(Node *n, const char *name, size_t nlen, uint32_t mask) {
  Entry *e = tfind(&n->kids, name, nlen);
  if (e && (mask & IN_MODIFY) && e->modbatch == batch) return; /* coalesced: one modify per path per read */
  int dfd = node_fd(n);
  if (dfd < 0) return mark_dirty(n);
  struct stat st;
  int ok = fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
  if (!e) {
    if (!ok) return;
    e = new_entry(name, nlen); /* there before we listed, or its create was stale */
    set_stat(e, &st);
    e->parent = n;
    tput(&n->kids, e);
  }
  if (mask & IN_ATTRIB) {
    if (ok) set_stat(e, &st);
    emit_entry("attrib", e, NULL);
    if (ok && S_ISDIR(st.st_mode) && !e->node) watch_entry(e, dfd, QUIET, 0); /* readable now? */
    return;
  }
  if (mask & IN_MODIFY) {
    if (e->modbatch != batch) {
      e->modbatch = batch;
      if (ok) set_stat(e, &st);
      emit_entry("modify", e, NULL);
    }
    return;
  }
  /* IN_CLOSE_WRITE: a modification only if something changed and none was reported this batch */
  if (!ok) return;
  int differs = e->ino != (uint64_t)st.st_ino || e->size != st.st_size ||
                e->mtime_ns != (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
  set_stat(e, &st);
  if (differs && e->modbatch != batch) {
    e->modbatch = batch;
    emit_entry("modify", e, NULL);
  }
}

/* A rename with both ends in the tree: the entry (and its subtree, by derivation) moves. */
static void moved(Node *p1, const char *n1, size_t l1, Node *p2, const char *n2, size_t l2, uint32_t mask) {
  Entry *e = tfind(&p1->kids, n1, l1);
  if (!e) return appeared(p2, n2, l2, mask);
  Buf from = {0};
  entry_path(e, &from);
  tdel(&p1->kids, e);
  Entry *over = tfind(&p2->kids, n2, l2);
  if (over) remove_entry(over); /* replaced by the rename */
  free(e->name);
  e->name = xrealloc(NULL, l2 + 1);
  memcpy(e->name, n2, l2);
  e->name[l2] = 0;
  e->nlen = l2;
  e->parent = p2;
  tput(&p2->kids, e);
  int dfd = node_fd(p2);
  struct stat st;
  if (dfd >= 0 && fstatat(dfd, n2, &st, AT_SYMLINK_NOFOLLOW) == 0) set_stat(e, &st);
  emit_entry("move", e, &from);
  free(from.b);
  if (S_ISDIR(e->mode) && !e->node && dfd >= 0) watch_entry(e, dfd, NEW, 0); /* never listed yet */
}

static void self_gone(Node *n, uint32_t mask) {
  if (!n->root) return; /* a subdirectory: its parent's events say what happened */
  Root *r = n->root;
  Buf p = {r->path, r->plen, r->plen};
  Ev ev = {.kind = "error",
           .path = &p,
           .root = r,
           .msg = (mask & IN_DELETE_SELF) ? "root was deleted: no longer watched"
                                          : "root was moved away: no longer watched"};
  emit(&ev);
  drop_root(r);
}

typedef struct {
  int active;
  int wd;
  uint32_t cookie, mask;
  char name[NAME_MAX + 1];
  size_t nlen;
} Pending;
static Pending pend;

/* A MOVED_FROM not followed by its MOVED_TO: moved out of the tree. */
static void settle_pending(void) {
  if (!pend.active) return;
  pend.active = 0;
  Node *n = wdfind(pend.wd);
  if (n) vanished(n, pend.name, pend.nlen);
}

static void handle(const struct inotify_event *ev) {
  size_t nlen = ev->len ? strnlen(ev->name, ev->len) : 0;
  if (ev->mask & IN_Q_OVERFLOW) {
    settle_pending();
    Ev o = {.kind = "overflow"};
    emit(&o);
    rescan_all();
    return;
  }
  if ((ev->mask & IN_MOVED_TO) && pend.active && pend.cookie == ev->cookie) {
    pend.active = 0;
    Node *p1 = wdfind(pend.wd), *p2 = wdfind(ev->wd);
    if (p1 && p2) moved(p1, pend.name, pend.nlen, p2, ev->name, nlen, ev->mask);
    else if (p2) appeared(p2, ev->name, nlen, ev->mask);
    else if (p1) vanished(p1, pend.name, pend.nlen);
    return;
  }
  settle_pending();
  Node *n = wdfind(ev->wd);
  if (!n) return;
  if (ev->mask & IN_IGNORED) { /* the kernel dropped the watch (unmounted, or deleted unseen) */
    if (n->root) {
      self_gone(n, IN_DELETE_SELF);
    } else {
      wddel(n);
      n->wd = -1;
      nwatches--;
    }
    return;
  }
  if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) return self_gone(n, ev->mask);
  if (!nlen) {
    if ((ev->mask & IN_ATTRIB) && n->root) { /* a root's own attributes; others come with a name */
      Buf p = {n->root->path, n->root->plen, n->root->plen};
      Ev a = {.kind = "attrib", .path = &p, .isdir = 1, .dev = n->dev, .ino = n->ino, .root = n->root};
      emit(&a);
    }
    return;
  }
  if (ev->mask & IN_MOVED_FROM) {
    pend.active = 1;
    pend.wd = ev->wd;
    pend.cookie = ev->cookie;
    pend.mask = ev->mask;
    memcpy(pend.name, ev->name, nlen);
    pend.nlen = nlen;
  } else if (ev->mask & (IN_CREATE | IN_MOVED_TO)) {
    appeared(n, ev->name, nlen, ev->mask);
  } else if (ev->mask & IN_DELETE) {
    vanished(n, ev->name, nlen);
  } else if (ev->mask & (IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB)) {
    changed(n, ev->name, nlen, ev->mask);
  }
}

static void read_events(void) {
  static char buf[1 << 16] __attribute__((aligned(__alignof__(struct inotify_event))));
  batch++;
  for (;;) {
    ssize_t n = read(ifd, buf, sizeof buf);
    evtime = now_ns();
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      die("read inotify");
    }
    for (char *p = buf; p < buf + n;) {
      const struct inotify_event *ev = (const struct inotify_event *)p;
      handle(ev);
      p += sizeof *ev + ev->len;
    }
    if (!pend.active) break;
    /* a MOVED_FROM ends the read: its MOVED_TO is queued right behind it, if it is ours */
    struct pollfd pf = {ifd, POLLIN, 0};
    if (poll(&pf, 1, 2) <= 0) break;
  }
  settle_pending();
  /* directories whose path was stale while their events were read: re-list them now */
  for (size_t i = 0; i < ndirty; i++) {
    Node *d = wdfind(dirty[i]);
    if (!d) continue;
    int fd = node_fd(d);
    if (fd >= 0) fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* own offset for readdir */
    if (fd >= 0) sync_dir(d, fd, DIFF);
  }
  ndirty = 0;
  fd_clear();
  report_limits();
  bury();
}

/* ---- commands (stdin) ---- */

static int unhex(const char *s, Buf *b) {
  b->n = 0;
  size_t n = strlen(s);
  if (n % 2) return -1;
  for (size_t i = 0; i < n; i += 2) {
    int v = 0;
    for (int j = 0; j < 2; j++) {
      char c = s[i + j];
      int d = c >= '0' && c <= '9'   ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                     : -1;
      if (d < 0) return -1;
      v = v * 16 + d;
    }
    char ch = (char)v;
    put(b, &ch, 1);
  }
  if (!b->b) put(b, "", 0);
  return memchr(b->b, 0, b->n) ? -1 : 0;
}

static void reply(long seq, const char *fail) {
  char tmp[64];
  if (fail) {
    snprintf(tmp, sizeof tmp, "fail seq=%ld", seq);
    puts_(&out, tmp);
    put_hex(&out, "msg", fail, strlen(fail));
  } else {
    snprintf(tmp, sizeof tmp, "ok seq=%ld watches=%ld", seq, nwatches);
    puts_(&out, tmp);
  }
  puts_(&out, "\n");
}

static void command(char *line) {
  evtime = now_ns();
  char *verb = strtok(line, " "), *seqs = strtok(NULL, " "), *arg = strtok(NULL, " ");
  if (!verb) return;
  long seq = seqs ? strtol(seqs, NULL, 10) : 0;
  Buf path = {0};
  if (arg && (unhex(arg, &path) < 0 || path.n == 0 || path.b[0] != '/')) {
    reply(seq, "bad path: an absolute path in hex is expected");
    free(path.b);
    return;
  }
  if (!strcmp(verb, "quit")) {
    flush_out();
    exit(0);
  } else if (!strcmp(verb, "add") && arg) {
    if (find_root(path.b, path.n)) {
      reply(seq, NULL);
    } else {
      Root *r = calloc(1, sizeof *r);
      if (!r) die("out of memory");
      r->path = xrealloc(NULL, path.n + 1);
      memcpy(r->path, path.b, path.n + 1);
      r->plen = path.n;
      r->next = roots;
      roots = r;
      const char *why = NULL;
      if (attach_top(r, QUIET, &why) < 0) {
        report_limits();
        unlink_root(r);
        char msg[PATH_MAX + 600];
        snprintf(msg, sizeof msg, "cannot watch %s: %s", r->path, why);
        free(r->path);
        free(r);
        reply(seq, msg);
      } else {
        report_limits();
        reply(seq, NULL);
      }
    }
  } else if (!strcmp(verb, "remove") && arg) {
    Root *r = find_root(path.b, path.n);
    if (r) drop_root(r);
    reply(seq, r ? NULL : "not a watched root");
  } else if (!strcmp(verb, "rescan")) {
    if (arg) {
      Root *r = find_root(path.b, path.n);
      if (r) rescan_root(r);
      report_limits();
      reply(seq, r ? NULL : "not a watched root");
    } else {
      rescan_all();
      report_limits();
      reply(seq, NULL);
    }
  } else if (!strcmp(verb, "stats")) {
    reply(seq, NULL);
  } else {
    reply(seq, "unknown command (add, remove, rescan, stats, quit)");
  }
  free(path.b);
  bury();
}

int main(int argc, char **argv) {
  (void)argv;
  if (argc > 1) {
    fprintf(stderr,
            "usage: shit-watch  (no arguments: commands on stdin, events on stdout; see docs/WATCH.md)\n");
    return 2;
  }
  const char *cap = getenv("SHIT_WATCH_MAX");
  if (cap && *cap) {
    char *end;
    maxwatches = strtol(cap, &end, 10);
    if (*end || maxwatches < 0) {
      fprintf(stderr, "shit-watch: SHIT_WATCH_MAX must be a number of watches, not '%s'\n", cap);
      return 2;
    }
    cap_from_env = 1;
  }
  signal(SIGPIPE, SIG_DFL);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max; /* one descriptor per level of a deep listing */
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (ifd < 0) {
    fprintf(stderr, "shit-watch: inotify_init1: %s (fs.inotify.max_user_instances?)\n", strerror(errno));
    return 1;
  }
  static char in[1 << 16];
  size_t inn = 0;
  puts_(&out, "ready\n");
  flush_out();
  for (;;) {
    struct pollfd pf[2] = {{0, POLLIN, 0}, {ifd, POLLIN, 0}};
    if (poll(pf, 2, -1) < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (pf[1].revents & POLLIN) read_events();
    if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t r = read(0, in + inn, sizeof in - inn);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break; /* stdin closed: the daemon is gone */
      inn += (size_t)r;
      char *nl, *start = in;
      while ((nl = memchr(start, '\n', in + inn - start))) {
        *nl = 0;
        command(start);
        start = nl + 1;
      }
      inn -= (size_t)(start - in);
      memmove(in, start, inn);
      if (inn == sizeof in) inn = 0; /* a line longer than the buffer: dropped */
    }
    flush_out();
  }
  flush_out();
  return 0;
}
