/* uring.c — io_uring in the shim: what a program submits through a ring the kernel performs
 * itself (in the submitting thread or its io-wq workers), past libc and past every wrapper here,
 * so nothing of it is captured. The shim cannot capture it, but it says so: a NOTCAPTURED
 * ("not captured: io_uring: …") for each file-changing request, never silence.
 *
 * How it sees the requests: a ring set up through syscall(2) (libuv, so Node; Rust's io-uring;
 * liburing built with libc) is remembered with its parameters (ur_setup). At each
 * io_uring_enter through syscall(2) that submits, the requests waiting in the ring (from the
 * kernel's head to the program's tail) are read in place, where the program mapped the ring
 * (found once in /proc/self/maps by the ring's inode, and looked for again after the program
 * unmaps it: munmap is wrapped for that), or, when that is not one place, through a read-only
 * mapping made for the look and unmade at once (a mapping kept would hold the ring open after the
 * program closes it). Only the requests that change a name or a file's bytes outside an open the
 * shim captured are noted (openat/openat2 for writing, renameat, unlinkat, mkdirat, symlinkat,
 * linkat, setxattr, fsetxattr, ftruncate), with their path where one can be read; a note is
 * written before the kernel runs the request, so a request that then fails is named too. Reads, writes through a descriptor (its open was the
 * capture point), sockets and epoll_ctl (Node's libuv submits those through a ring in every
 * process) are not noted.
 *
 * A ring the requests of which cannot be read is noted when it is set up: a kernel-side poller
 * (IORING_SETUP_SQPOLL: requests are taken without any system call), a ring in the program's own
 * memory (NO_MMAP), a ring with no descriptor (REGISTERED_FD_ONLY), and a ring set up through
 * liburing's exported functions (liburing's own build makes its system calls inline, unseen
 * here). Unseen entirely: a program that makes the system calls itself (inline assembly, a
 * statically linked liburing); docs/DESIGN.md "io_uring" says so.
 *
 * Nothing here changes what a call does or returns, or errno. */
#define _GNU_SOURCE
#include "uring.h"
#include "../common/capture.h"
#include "../common/spool.h"
#include "../common/sys.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>

#ifndef IORING_SETUP_NO_MMAP
#define IORING_SETUP_NO_MMAP (1U << 14)
#endif
#ifndef IORING_SETUP_REGISTERED_FD_ONLY
#define IORING_SETUP_REGISTERED_FD_ONLY (1U << 15)
#endif
#ifndef IORING_SETUP_NO_SQARRAY
#define IORING_SETUP_NO_SQARRAY (1U << 16)
#endif
#ifndef IORING_ENTER_REGISTERED_RING
#define IORING_ENTER_REGISTERED_RING (1U << 4)
#endif
#define OP_FTRUNCATE 55                          /* IORING_OP_FTRUNCATE, 6.9 */
#define FAILED(x) ((unsigned long)(x) > -4096UL) /* a raw mmap's -errno */

/* the rings this process set up through syscall(2), by descriptor */
struct ring {
  int fd; /* -1: free */
  unsigned flags, entries;
  uint32_t head, tail, mask, array; /* offsets in the SQ ring */
  unsigned long ino;                /* the ring's inode (each ring has its own since 6.x) */
  uintptr_t sq, sqes; /* where the program mapped it (0: not looked yet; NOWHERE: not in one place) */
};
#define NOWHERE ((uintptr_t)1)
#define NRINGS 32
static struct ring rings[NRINGS] = {[0 ... NRINGS - 1] = {.fd = -1}};
static int lock_; /* a spin lock: taken only around io_uring calls */

static void lock(void) {
  while (__atomic_exchange_n(&lock_, 1, __ATOMIC_ACQUIRE)) {}
}
static void unlock(void) { __atomic_store_n(&lock_, 0, __ATOMIC_RELEASE); }

/* dirfd and path: the file the request names (path NULL: the file dirfd is open on; dirfd -1 and
 * path NULL: none, or its path could not be read); op: the call it is (0: the ring as a whole) */
static void note(const char *what, int dirfd, const char *path, int op) {
  char why[192];
  snprintf(why, sizeof why, "not captured: io_uring: %s", what);
  if (path || dirfd >= 0) cap_note_at(why, dirfd, path, op);
  else cap_note(why, NULL, op);
}

static __thread unsigned seen; /* rings this thread set up through syscall(2) */

void ur_setup(long fd, const struct io_uring_params *p) {
  if (fd < 0 || !p) return;
  int e = errno;
  seen++;
  unsigned unread = p->flags & (IORING_SETUP_SQPOLL | IORING_SETUP_NO_MMAP | IORING_SETUP_REGISTERED_FD_ONLY);
  if (unread && cap_active()) {
    note((p->flags & IORING_SETUP_SQPOLL)
             ? "a ring with a kernel poller (SQPOLL): what is submitted through it is not seen"
             : "a ring whose requests the shim cannot read: what is submitted through it is not seen",
         -1, NULL, 0);
  }
  if (!unread) {
    lock();
    struct ring *r = NULL;
    for (int i = 0; i < NRINGS && !r; i++)
      if (rings[i].fd == (int)fd) r = &rings[i]; /* the number is reused: that ring was closed */
    for (int i = 0; i < NRINGS && !r; i++)
      if (rings[i].fd < 0) r = &rings[i];
    if (!r) r = &rings[(unsigned)fd % NRINGS]; /* full: the oldest rings are likely closed */
    struct stat st;
    unsigned long ino = sys2(SYS_fstat, fd, &st) == 0 ? (unsigned long)st.st_ino : 0;
    *r = (struct ring){(int)fd,
                       p->flags,
                       p->sq_entries,
                       p->sq_off.head,
                       p->sq_off.tail,
                       p->sq_off.ring_mask,
                       p->sq_off.array,
                       ino,
                       0,
                       0};
    unlock();
  }
  errno = e;
}

unsigned ur_seen(void) { return seen; }

void ur_liburing(unsigned before) {
  if (seen != before || !cap_active()) return; /* a liburing built on libc: seen through syscall(2) */
  int e = errno;
  note("a ring set up through liburing: what is submitted through it is not seen", -1, NULL, 0);
  errno = e;
}

/* A NUL-terminated string of this process at addr, read without faulting (a bad pointer makes
 * the request fail with EFAULT in the kernel; here it only leaves the note without a path). */
static const char *str_at(uint64_t addr, char *buf, size_t cap) {
  if (!addr) return NULL;
  size_t got = 0;
  while (got < cap - 1) {
    size_t chunk = 4096 - (size_t)((addr + got) & 4095);
    if (chunk > cap - 1 - got) chunk = cap - 1 - got;
    struct iovec l = {buf + got, chunk}, r = {(void *)(uintptr_t)(addr + got), chunk};
    long k = sys6(SYS_process_vm_readv, sys0(SYS_getpid), (long)&l, 1, (long)&r, 1, 0);
    if (k <= 0) return NULL;
    if (memchr(buf + got, 0, (size_t)k)) return buf;
    got += (size_t)k;
  }
  return NULL;
}

/* note naming the path argument at addr (relative to dirfd); unnamed when it cannot be read */
static void note_path(const char *what, int dirfd, uint64_t addr, int op) {
  char buf[PATH_MAX];
  const char *p = str_at(addr, buf, sizeof buf);
  note(what, p ? dirfd : -1, p, op);
}

static int open_writes(uint64_t flags) {
  if (flags & O_PATH) return 0;
  return (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC));
}

/* One request: noted when it changes something capture did not see. */
static void look(const struct io_uring_sqe *q) {
  int fixed = (q->flags & IOSQE_FIXED_FILE) != 0; /* fd is an index of registered files: no path */
  switch (q->opcode) {
  case IORING_OP_OPENAT:
    if (open_writes(q->open_flags)) note_path("openat for writing", (int)q->fd, q->addr, SP_OPEN);
    break;
  case IORING_OP_OPENAT2: {
    struct open_how h;
    struct iovec l = {&h, sizeof h}, r = {(void *)(uintptr_t)q->addr2, sizeof h};
    int known = q->len >= sizeof h &&
                sys6(SYS_process_vm_readv, sys0(SYS_getpid), (long)&l, 1, (long)&r, 1, 0) == (long)sizeof h;
    if (!known || open_writes(h.flags)) note_path("openat2 for writing", (int)q->fd, q->addr, SP_OPEN);
    break;
  }
  case IORING_OP_UNLINKAT:
    if (q->unlink_flags & AT_REMOVEDIR) note_path("unlinkat of a directory", (int)q->fd, q->addr, SP_RMDIR);
    else note_path("unlinkat", (int)q->fd, q->addr, SP_UNLINK);
    break;
  case IORING_OP_RENAMEAT: /* both names: what was moved away and what it may replace */
    note_path("renameat from here", (int)q->fd, q->addr, SP_RENAME);
    note_path("renameat to here", (int)q->len, q->addr2, SP_RENAME);
    break;
  case IORING_OP_MKDIRAT: note_path("mkdirat", (int)q->fd, q->addr, SP_MKDIR); break;
  case IORING_OP_SYMLINKAT: note_path("symlinkat", (int)q->fd, q->addr2, SP_SYMLINK); break;
  case IORING_OP_LINKAT: note_path("linkat", (int)q->len, q->addr2, SP_LINK); break;
  case IORING_OP_SETXATTR: note_path("setxattr", (int)AT_FDCWD, q->addr3, SP_SETXATTR); break;
  case IORING_OP_FSETXATTR: note("fsetxattr", fixed ? -1 : q->fd, NULL, SP_SETXATTR); break;
  case OP_FTRUNCATE: note("ftruncate", fixed ? -1 : q->fd, NULL, SP_TRUNCATE); break;
  default: break;
  }
}

/* Where the program mapped the ring with inode ino: its SQ ring (offset 0) and its requests
 * (IORING_OFF_SQES), each mapped once, from /proc/self/maps. 0, or -1 (not found, or found more
 * than once: a kernel that gives every ring one inode, or a ring mapped twice). */
static int find_maps(unsigned long ino, uintptr_t *sq, uintptr_t *sqes) {
  long fd = sys4(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return -1;
  char buf[8192];
  size_t have = 0;
  int nsq = 0, nsqes = 0;
  for (;;) {
    long k = sys3(SYS_read, fd, buf + have, sizeof buf - 1 - have);
    if (k <= 0) break;
    have += (size_t)k;
    buf[have] = 0;
    char *line = buf, *nl;
    while ((nl = memchr(line, '\n', (size_t)(buf + have - line)))) {
      *nl = 0;
      unsigned long start, in;
      unsigned long long off;
      if (strstr(line, "io_uring") && sscanf(line, "%lx-%*x %*s %llx %*s %lu", &start, &off, &in) == 3 &&
          in == ino) {
        if (off == IORING_OFF_SQ_RING) *sq = start, nsq++;
        else if (off == IORING_OFF_SQES) *sqes = start, nsqes++;
      }
      line = nl + 1;
    }
    have = (size_t)(buf + have - line);
    memmove(buf, line, have);
    if (have >= sizeof buf - 1) have = 0; /* a line longer than the buffer: not a ring's */
  }
  sys1(SYS_close, fd);
  return nsq == 1 && nsqes == 1 ? 0 : -1;
}

static int any_found; /* a ring's mapping was found: munmap looks at the table */

static size_t sq_len(const struct ring *r) {
  return (r->flags & IORING_SETUP_NO_SQARRAY) ? (size_t)r->tail + 4
                                              : (size_t)r->array + 4 * (size_t)r->entries;
}
static size_t sqes_len(const struct ring *r) {
  return ((r->flags & IORING_SETUP_SQE128) ? 128 : 64) * (size_t)r->entries;
}

void ur_unmapped(const void *addr, size_t len) {
  if (!__atomic_load_n(&any_found, __ATOMIC_RELAXED)) return;
  uintptr_t a = (uintptr_t)addr, b = a + len;
  lock();
  for (int i = 0; i < NRINGS; i++) {
    struct ring *r = &rings[i];
    if (r->fd < 0 || r->sq == 0 || r->sq == NOWHERE) continue;
    if ((r->sq < b && a < r->sq + sq_len(r)) || (r->sqes < b && a < r->sqes + sqes_len(r)))
      r->sq = r->sqes = 0; /* looked for again at its next enter */
  }
  unlock();
}

void ur_enter(int fd, unsigned to_submit, unsigned flags) {
  if (!to_submit || !cap_active()) return;
  int e = errno;
  struct ring r = {.fd = -1};
  int slot = -1;
  lock();
  if (!(flags & IORING_ENTER_REGISTERED_RING))
    for (int i = 0; i < NRINGS; i++)
      if (rings[i].fd == fd) r = rings[i], slot = i;
  unlock();
  if (r.fd < 0) { /* set up unseen (inline system calls, liburing) or entered by its registered index */
    static int said;
    if (!__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
      note("requests submitted to a ring the shim did not see set up are not seen", -1, NULL, 0);
    errno = e;
    return;
  }
  size_t sqe_size = (r.flags & IORING_SETUP_SQE128) ? 128 : 64;
  /* read in place where the program mapped it: found in /proc/self/maps, and looked for again
   * once the program unmaps it (munmap: ur_unmapped); else through a mapping made for the look
   * and unmade at once (slower: a mapping kept would hold the ring open after the program closes
   * it) */
  if (!r.sq) {
    uintptr_t a = 0, b = 0;
    if (find_maps(r.ino, &a, &b)) a = b = NOWHERE;
    lock();
    if (rings[slot].fd == fd && rings[slot].ino == r.ino) rings[slot].sq = a, rings[slot].sqes = b;
    unlock();
    r.sq = a, r.sqes = b;
    if (a != NOWHERE) __atomic_store_n(&any_found, 1, __ATOMIC_RELAXED);
  }
  long sq = -1, sqes = -1;
  int ok = r.sq != NOWHERE;
  if (!ok) {
    sq = sys6(SYS_mmap, 0, (long)sq_len(&r), PROT_READ, MAP_SHARED, fd, (long)IORING_OFF_SQ_RING);
    sqes = FAILED(sq)
               ? -1
               : sys6(SYS_mmap, 0, (long)sqes_len(&r), PROT_READ, MAP_SHARED, fd, (long)IORING_OFF_SQES);
    r.sq = (uintptr_t)sq, r.sqes = (uintptr_t)sqes;
    ok = !FAILED(sqes);
  }
  if (!ok) {
    static int said;
    if (!__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
      note("a ring whose requests the shim cannot read: what is submitted through it is not seen", -1, NULL,
           0);
  } else {
    uint32_t ht[2] = {__atomic_load_n((const uint32_t *)(r.sq + r.head), __ATOMIC_ACQUIRE),
                      __atomic_load_n((const uint32_t *)(r.sq + r.tail), __ATOMIC_ACQUIRE)};
    uint32_t mask = r.entries - 1, n = ht[1] - ht[0];
    if (n > to_submit) n = to_submit;
    if (n > r.entries) n = r.entries;
    for (uint32_t i = 0; i < n; i++) {
      uint32_t at = (ht[0] + i) & mask, idx = at;
      if (!(r.flags & IORING_SETUP_NO_SQARRAY))
        idx = __atomic_load_n((const uint32_t *)(r.sq + r.array) + at, __ATOMIC_RELAXED);
      struct io_uring_sqe q;
      if (idx >= r.entries) continue;
      memcpy(&q, (const void *)(r.sqes + idx * sqe_size), sizeof q);
      look(&q);
    }
  }
  if (!FAILED(sqes)) sys2(SYS_munmap, sqes, (long)sqes_len(&r));
  if (!FAILED(sq)) sys2(SYS_munmap, sq, (long)sq_len(&r));
  errno = e;
}
