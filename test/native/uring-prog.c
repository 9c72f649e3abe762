/* uring-prog.c — file operations submitted through io_uring with raw system calls (no liburing),
 * for test/uring.test.ts: built dynamically (syscall(2) from libc: the shim's path) and
 * statically (the seccomp tier's path).
 *
 * usage: uring-prog [-n] OP ARGS... [OP ARGS...]
 *   unlink PATH | rmdir PATH | rename FROM TO | mkdir PATH | symlink TARGET PATH | link FROM TO |
 *   write PATH TEXT (openat O_WRONLY|O_CREAT|O_TRUNC, a write, a close, all through the ring)
 *   -n: the ring without an SQ index array (IORING_SETUP_NO_SQARRAY, 6.6)
 *   -2: the ring's pages mapped twice (the shim cannot tell which is the ring: it maps its own)
 *   -r: the ring unmapped and mapped again (elsewhere) after each request
 * Each request is submitted alone and its result printed ("unlink a: 0", "... : -2"). Exit 0
 * when all succeed, 1 when one failed, 77 when io_uring cannot be set up here (ENOSYS, EPERM). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef IORING_SETUP_NO_SQARRAY
#define IORING_SETUP_NO_SQARRAY (1U << 16)
#endif

static int ring;
static struct io_uring_params p;
static uint8_t *sq, *cq;
static struct io_uring_sqe *sqes;

static int32_t submit(const struct io_uring_sqe *q) {
  uint32_t *tail = (uint32_t *)(sq + p.sq_off.tail), mask = *(uint32_t *)(sq + p.sq_off.ring_mask);
  uint32_t t = *tail, at = t & mask;
  sqes[at] = *q;
  if (!(p.flags & IORING_SETUP_NO_SQARRAY)) ((uint32_t *)(sq + p.sq_off.array))[at] = at;
  __atomic_store_n(tail, t + 1, __ATOMIC_RELEASE);
  if (syscall(SYS_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0) {
    perror("io_uring_enter");
    exit(2);
  }
  uint32_t *head = (uint32_t *)(cq + p.cq_off.head), cmask = *(uint32_t *)(cq + p.cq_off.ring_mask);
  uint32_t h = __atomic_load_n(head, __ATOMIC_ACQUIRE);
  int32_t res = ((struct io_uring_cqe *)(cq + p.cq_off.cqes))[h & cmask].res;
  __atomic_store_n(head, h + 1, __ATOMIC_RELEASE);
  return res;
}

/* The rings mapped (again); the old mappings are left mapped while the new ones are made, so the
 * new addresses differ, then unmapped. */
static void map(size_t sqlen, size_t cqlen) {
  uint8_t *osq = sq, *ocq = cq;
  struct io_uring_sqe *osqes = sqes;
  sq = mmap(NULL, sqlen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQ_RING);
  cq = (p.features & IORING_FEAT_SINGLE_MMAP)
           ? sq
           : mmap(NULL, cqlen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_CQ_RING);
  sqes = mmap(NULL, p.sq_entries * sizeof *sqes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring,
              IORING_OFF_SQES);
  if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) {
    perror("mmap");
    exit(2);
  }
  if (osq) {
    munmap(osq, sqlen);
    if (ocq != osq) munmap(ocq, cqlen);
    munmap(osqes, p.sq_entries * sizeof *sqes);
  }
}

static int failed;
static int32_t report(const char *what, const char *path, int32_t r) {
  printf("%s %s: %d\n", what, path, r);
  if (r < 0) failed = 1;
  return r;
}

int main(int argc, char **argv) {
  int i = 1, twice = 0, remap = 0, nops = 0;
  for (; i < argc && argv[i][0] == '-'; i++) {
    if (!strcmp(argv[i], "-n")) p.flags |= IORING_SETUP_NO_SQARRAY;
    else if (!strcmp(argv[i], "-2")) twice = 1;
    else if (!strcmp(argv[i], "-r")) remap = 1;
  }
  ring = (int)syscall(SYS_io_uring_setup, 8, &p);
  if (ring < 0) {
    int e = errno;
    fprintf(stderr, "io_uring_setup: %s\n", strerror(e));
    return e == ENOSYS || e == EPERM ? 77 : 2;
  }
  size_t sqlen = p.sq_off.array + p.sq_entries * sizeof(uint32_t);
  size_t cqlen = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  if (p.flags & IORING_SETUP_NO_SQARRAY) sqlen = p.sq_off.tail + 64;
  if (p.features & IORING_FEAT_SINGLE_MMAP) sqlen = cqlen = sqlen > cqlen ? sqlen : cqlen;
  map(sqlen, cqlen);
  if (twice && mmap(NULL, sqlen, PROT_READ, MAP_SHARED, ring, IORING_OFF_SQ_RING) == MAP_FAILED)
    sq = MAP_FAILED;
  if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) {
    perror("mmap");
    return 2;
  }
  while (i < argc) {
    if (remap && nops++) map(sqlen, cqlen);
    const char *op = argv[i++];
    int two = !strcmp(op, "rename") || !strcmp(op, "symlink") || !strcmp(op, "link") || !strcmp(op, "write");
    if (i + 1 + two > argc) {
      fprintf(stderr, "uring-prog: %s: missing arguments\n", op);
      return 2;
    }
    const char *a = argv[i++], *b = two ? argv[i++] : NULL;
    struct io_uring_sqe q;
    memset(&q, 0, sizeof q);
    q.fd = AT_FDCWD;
    q.addr = (uintptr_t)a;
    if (!strcmp(op, "unlink") || !strcmp(op, "rmdir")) {
      q.opcode = IORING_OP_UNLINKAT;
      q.unlink_flags = op[0] == 'r' ? AT_REMOVEDIR : 0;
      report(op, a, submit(&q));
    } else if (!strcmp(op, "mkdir")) {
      q.opcode = IORING_OP_MKDIRAT;
      q.len = 0755;
      report(op, a, submit(&q));
    } else if (!strcmp(op, "rename") || !strcmp(op, "link")) {
      q.opcode = op[0] == 'r' ? IORING_OP_RENAMEAT : IORING_OP_LINKAT;
      q.addr2 = (uintptr_t)b;
      q.len = (uint32_t)AT_FDCWD;
      report(op, a, submit(&q));
    } else if (!strcmp(op, "symlink")) {
      q.opcode = IORING_OP_SYMLINKAT;
      q.addr2 = (uintptr_t)b;
      report(op, b, submit(&q));
    } else if (!strcmp(op, "write")) {
      q.opcode = IORING_OP_OPENAT;
      q.open_flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
      q.len = 0644;
      int32_t fd = report("openat", a, submit(&q));
      if (fd < 0) continue;
      memset(&q, 0, sizeof q);
      q.opcode = IORING_OP_WRITE;
      q.fd = fd;
      q.addr = (uintptr_t)b;
      q.len = (uint32_t)strlen(b);
      report("write", a, submit(&q));
      memset(&q, 0, sizeof q);
      q.opcode = IORING_OP_CLOSE;
      q.fd = fd;
      report("close", a, submit(&q));
    } else {
      fprintf(stderr, "uring-prog: unknown op %s\n", op);
      return 2;
    }
  }
  return failed;
}
