/* supervise.h — the seccomp tier: capture for statically linked programs, which the
 * LD_PRELOAD shim cannot enter (supervise.c says how; docs/DESIGN.md "seccomp tier"). */
#ifndef SHIT_SUPERVISE_H
#define SHIT_SUPERVISE_H
#include <sys/types.h>

/* In the child, between fork and exec: no_new_privs and the filter. Returns the listener
 * descriptor (for the parent; the child closes its copy), or -errno (nothing installed). */
int sv_install(void);

/* In shit-run: serve the listener until the child `child` exits (it is not reaped). When
 * processes of the command still use the filter then (a background job), a detached process
 * carries on serving them until the last one exits. lib: the path of libshit.so: a process
 * that has it mapped is captured by the shim, and passes unseen (never captured twice). Closes
 * listener. */
void sv_serve(int listener, pid_t child, const char *lib);

/* Sends / receives the listener over a unix socket (SCM_RIGHTS); a failure is sent as its
 * errno. sv_recv returns the descriptor or -errno. */
void sv_send(int sock, int listener_or_err);
int sv_recv(int sock);
#endif
