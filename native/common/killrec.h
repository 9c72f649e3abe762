/* killrec.h — a record of each process a captured call is about to end (docs/SPOOL.md, op KILL).
 *
 * Use (the shim's kill, killpg, sigqueue, tgkill, pidfd_send_signal and syscall wrappers):
 *        struct kr_call k;
 *        kr_before(&k, KR_PID, pid, sig);      // reads the targets' /proc entries now
 *        long r = real_kill(pid, sig);
 *        kr_after(&k, r < 0 ? errno : 0);      // writes their records with the call's errno
 *
 * Only signals whose default action ends a process are looked at (not 0, STOP, CONT, WINCH,
 * CHLD, URG …); of USR1, USR2 and the real-time signals only the targets that leave them at
 * that default (not caught, ignored or blocked) are recorded. A target that is the caller itself, or a process of the same command (its
 * environment's SHIT_CMD is the caller's: `timeout` ending its child), is not recorded. Like the
 * capture routines, these never change the call, never touch errno and use raw system calls
 * only; what cannot be read becomes the record's NOTE. */
#ifndef SHIT_KILLREC_H
#define SHIT_KILLREC_H
#include "capture.h"

enum kr_how {
  KR_PID,   /* kill(2) semantics: > 0 a process, 0 the caller's group, -1 all, < -1 group -pid */
  KR_TID,   /* tkill / tgkill: a thread; a fatal signal ends its whole process */
  KR_PIDFD, /* pidfd_send_signal: a pidfd of the caller's */
};

struct kr_call {
  int on;
  struct cap_ctx ctx;
  uint8_t *arena; /* sealed records, one after the other (mmap'd; NULL: none) */
  size_t len, cap;
};

/* 1 for a signal whose default action ends a process (but USR1/USR2 and the real-time ones): its
 * targets are recorded. */
int kr_fatal(int sig);
/* kr_fatal, or USR1, USR2, a real-time signal (32-64): their default action ends a process too;
 * a target is recorded only where the signal is neither caught, ignored nor blocked. */
int kr_may_end(int sig);
/* 1 when capture would look at a call sending sig (capture on, and kr_may_end). */
int kr_wants(int sig);
void kr_before(struct kr_call *k, int how, long who, int sig);
/* The same for a call made by process `caller` (the seccomp tier: shit-run records what the
 * supervised program's kill is about to end; its own pid, group and descriptors are the caller's). */
void kr_before_for(struct kr_call *k, long caller, int how, long who, int sig);
void kr_after(struct kr_call *k, int err);
/* A system call that sends a signal (kill, tkill, tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo,
 * pidfd_send_signal): its signal, with how/who set as kr_before takes them; -1 for any other. */
int kr_syscall(long nr, long a, long b, long c, int *how, long *who);
#endif
