/* execcheck.h — will a program about to be started run outside capture? (execcheck.c: what is
 * checked and why). Safe inside interposed calls: raw system calls only, errno untouched. */
#ifndef SHIT_EXECCHECK_H
#define SHIT_EXECCHECK_H
#include <limits.h>
#include <stddef.h>

enum xc_verdict { XC_CAPTURED = 0, XC_SETUID, XC_SETGID, XC_STATIC };

struct xc_result {
  int verdict;         /* XC_* */
  int via_script;      /* 1: a #! script whose interpreter is the program outside capture */
  char path[PATH_MAX]; /* absolute path of the program outside capture (valid when verdict != 0) */
};

/* The NOTE of the NOTCAPTURED record (docs/SPOOL.md), and the same said to a person (shit-run's
 * stderr line: "a setuid program" etc.). */
const char *xc_note(int verdict);
const char *xc_what(int verdict);

/* The verdict for the file at dirfd/path (at_flags: AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW as
 * execveat takes them). -1 when it is not an existing regular file this process may execute,
 * else XC_*. */
int xc_check_at(int dirfd, const char *path, int at_flags, struct xc_result *r);
/* fexecve: the verdict for an open descriptor */
int xc_check_fd(int fd, struct xc_result *r);
/* execvp & co.: the verdict for the program the PATH search (xc_search) finds; XC_CAPTURED
 * when none. */
int xc_check_search(const char *file, struct xc_result *r);

/* The one PATH search, as glibc's execvp does it: a name with a slash is used as it is;
 * otherwise each entry of `path` in turn (an empty entry is the working directory) and the
 * first candidate that `accept` takes (returns >= 0) wins: its return value, with the candidate
 * in cand[0..n). -1 when none is taken. */
int xc_search(const char *file, const char *path, char *cand, size_t n,
              int (*accept)(const char *cand, void *arg), void *arg);
/* The program execvp would start: the first executable regular file found by xc_search in
 * $PATH, or in dflt when PATH is unset (or empty, when empty_is_unset). 0 and the path in out,
 * or -1. */
int xc_find(const char *file, const char *dflt, int empty_is_unset, char *out, size_t n);
#endif
