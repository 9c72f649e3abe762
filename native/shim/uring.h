/* uring.h — io_uring in the shim: the requests it submits are named "not captured" (uring.c). */
#ifndef SHIT_URING_H
#define SHIT_URING_H
#include <stddef.h>
struct io_uring_params;

/* After a successful io_uring_setup through syscall(2) (fd its result): the ring is remembered,
 * or noted at once when its requests cannot be read (SQPOLL, NO_MMAP, REGISTERED_FD_ONLY). */
void ur_setup(long fd, const struct io_uring_params *p);
/* liburing's exported setup functions: ur_seen() before the real one, ur_liburing(that) after it
 * succeeded notes the ring unless it was set up through syscall(2) (a liburing built on libc,
 * whose requests ur_enter reads). Debian's liburing makes its system calls itself. */
unsigned ur_seen(void);
void ur_liburing(unsigned before);
/* Before an io_uring_enter: the requests it submits that change files are noted. */
void ur_enter(int fd, unsigned to_submit, unsigned flags);
/* Before the program unmaps [addr, addr + len): a ring's mapping there is forgotten (it is read
 * in place). Returns at once while no ring's mapping is known. */
void ur_unmapped(const void *addr, size_t len);
#endif
