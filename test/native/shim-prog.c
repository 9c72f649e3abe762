/* shim-prog.c — exercises the shim from C (built by shim-smoke.sh with -O2 -D_FORTIFY_SOURCE=2).
 *   shim-prog threads DIR     8 threads create / rewrite / rename-over / unlink files in DIR
 *   shim-prog errno DIR       errno after successful and failed wrapped calls, printed
 *   shim-prog misc DIR        fortified open (__open_2), fopen "w"/"a"/"r+", freopen, mkstemp,
 *                             mkostemps, mkdtemp, creat, truncate/ftruncate, syscall(SYS_unlinkat)
 *   shim-prog created DIR     metadata changes to files it created (fd- and path-based, after
 *                             close, in a forked child) and to an existing file "a"; then the
 *                             same under another SHIT_CMD (fedcba9876543210)
 *   shim-prog spawn DIR       posix_spawn with addopen actions: O_TRUNC of "a", O_CREAT of
 *                             "spawned"; with a chdir action first: O_TRUNC of "dd/x"
 * Prints results that must be the same with and without the shim. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

extern char **environ;

static const char *dir;

static void *worker(void *arg) {
  long t = (long)arg;
  char a[4096], b[4096];
  for (int i = 0; i < 200; i++) {
    snprintf(a, sizeof a, "%s/t%ld-%d", dir, t, i);
    snprintf(b, sizeof b, "%s/t%ld-%d.new", dir, t, i);
    int fd = open(a, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, a, strlen(a)) < 0) { perror("open/write"); exit(1); }
    close(fd);
    fd = open(a, O_WRONLY | O_TRUNC);           /* rewrite: a pre-image copy */
    if (fd < 0 || write(fd, "x", 1) != 1) { perror("reopen"); exit(1); }
    close(fd);
    fd = open(b, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, b, strlen(b)) < 0) { perror("open b"); exit(1); }
    close(fd);
    if (rename(b, a)) { perror("rename"); exit(1); }  /* over a: a link keep */
    if (i % 2 && unlink(a)) { perror("unlink"); exit(1); }
  }
  return NULL;
}

static void show(const char *what, long r) { printf("%-28s r=%ld errno=%d\n", what, r, errno); }

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  dir = argv[2];
  if (chdir(dir)) { perror("chdir"); return 1; }
  if (!strcmp(argv[1], "threads")) {
    pthread_t th[8];
    for (long t = 0; t < 8; t++) pthread_create(&th[t], NULL, worker, (void *)t);
    for (int t = 0; t < 8; t++) pthread_join(th[t], NULL);
    puts("threads ok");
    return 0;
  }
  if (!strcmp(argv[1], "errno")) {
    int fd;
    errno = 4242; show("unlink ok", unlink("e1"));
    errno = 4242; show("unlink missing", unlink("nope"));
    errno = 4242; show("unlink dir", unlink("edir"));
    errno = 4242; show("rmdir notempty", rmdir("edir2"));
    errno = 4242; show("rename ok", rename("e2", "e3"));
    errno = 4242; show("rename missing dst dir", rename("e3", "nodir/x"));
    errno = 4242; fd = open("e3", O_WRONLY | O_TRUNC); show("open trunc ok", fd >= 0); close(fd);
    errno = 4242; show("open excl exists", open("e3", O_WRONLY | O_CREAT | O_EXCL, 0600));
    errno = 4242; show("open in missing dir", open("nodir/x", O_WRONLY | O_CREAT, 0600));
    errno = 4242; show("truncate ok", truncate("e3", 1));
    errno = 4242; show("truncate missing", truncate("nope", 1));
    errno = 4242; show("mkdir exists", mkdir("edir", 0755));
    errno = 4242; show("chmod ok", chmod("e3", 0600));
    errno = 4242; show("chmod missing", chmod("nope", 0600));
    errno = 4242; show("link exists", link("e3", "edir"));
    errno = 4242; show("symlink ok", symlink("e3", "esym"));
    errno = 4242; show("remove file", remove("esym"));
    errno = 4242; show("remove dir", remove("edir"));
    errno = 4242; show("syscall unlinkat", syscall(SYS_unlinkat, AT_FDCWD, "e3", 0));
    errno = 4242; show("syscall unlinkat missing", syscall(SYS_unlinkat, AT_FDCWD, "e3", 0));
    return 0;
  }
  if (!strcmp(argv[1], "misc")) {
    volatile int fl = O_WRONLY | O_TRUNC;
    int fd = open("m1", fl);                    /* non-constant flags: __open_2 under fortify */
    show("open(fortified)", fd >= 0); if (write(fd, "1", 1) < 0) return 1; close(fd);
    FILE *f = fopen("m2", "w"); fputs("w", f); fclose(f);
    f = fopen("m3", "a"); fputs("a", f); fclose(f);
    f = fopen("m4", "r+"); fputs("R", f); fclose(f);
    f = fopen("m5", "r"); fclose(f);
    f = fopen("m5", "r"); f = freopen("m5", "w", f); fputs("re", f); fclose(f);
    char t1[] = "tmpXXXXXX"; fd = mkstemp(t1); show("mkstemp", fd >= 0); close(fd); unlink(t1);
    char t2[] = "tmpXXXXXX.sfx"; fd = mkostemps(t2, 4, O_CLOEXEC); show("mkostemps", fd >= 0); close(fd); unlink(t2);
    char t3[] = "dirXXXXXX"; show("mkdtemp", mkdtemp(t3) != NULL); rmdir(t3);
    fd = creat("m6", 0644); show("creat", fd >= 0); close(fd);
    show("truncate shrink", truncate("m7", 2));
    fd = open("m8", O_WRONLY); show("ftruncate shrink", ftruncate(fd, 1)); close(fd);
    show("syscall unlinkat", syscall(SYS_unlinkat, AT_FDCWD, "m9", 0));
    return 0;
  }
  if (!strcmp(argv[1], "created")) {
    int fd = open("n1", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    show("write", write(fd, "hello", 5));
    show("futimens", futimens(fd, NULL));
    show("fchown", fchown(fd, getuid(), getgid()));
    show("fchmod", fchmod(fd, 0640));
    show("ftruncate", ftruncate(fd, 2));
    fsetxattr(fd, "user.k", "v", 1, 0);         /* may be unsupported: result not shown */
    close(fd);
    fd = open("n2", O_RDWR | O_CREAT | O_TRUNC, 0644);  /* keeps fd number reuse in play */
    show("utimensat path", utimensat(AT_FDCWD, "n1", NULL, 0));
    show("chmod path", chmod("n1", 0644));
    show("truncate path", truncate("n1", 1));
    show("fchmod n2", fchmod(fd, 0600));
    close(fd);
    char t[] = "tmpXXXXXX";
    fd = mkstemp(t);
    show("fchmod mkstemp", fchmod(fd, 0644));
    close(fd);
    show("rename mkstemp", rename(t, "n3"));
    show("chmod renamed", chmod("n3", 0600));
    show("chmod existing", chmod("a", 0600));
    fd = open("b", O_WRONLY | O_APPEND);
    show("fchmod existing", fchmod(fd, 0600));
    close(fd);
    pid_t p = fork();
    if (p == 0) _exit(chmod("n2", 0640) ? 1 : 0);
    int st;
    waitpid(p, &st, 0);
    show("chmod in child", WEXITSTATUS(st));
    setenv("SHIT_CMD", "fedcba9876543210", 1);  /* the next command: its own records */
    show("chmod other cmd", chmod("n1", 0600));
    return 0;
  }
  if (!strcmp(argv[1], "spawn")) {
    char *av[] = {"echo", "spawned", NULL};
    posix_spawn_file_actions_t fa;
    pid_t p;
    int st;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "a", O_WRONLY | O_TRUNC, 0);
    show("spawn trunc", posix_spawn(&p, "/bin/echo", &fa, NULL, av, environ));
    waitpid(p, &st, 0);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "spawned", O_WRONLY | O_CREAT | O_EXCL, 0644);
    show("spawn creat", posix_spawn(&p, "/bin/echo", &fa, NULL, av, environ));
    waitpid(p, &st, 0);
    posix_spawn_file_actions_destroy(&fa);
    if (argc > 3) {                             /* "chdir": a relative open after a chdir action */
      posix_spawn_file_actions_init(&fa);
      posix_spawn_file_actions_addchdir_np(&fa, "dd");
      posix_spawn_file_actions_addopen(&fa, 1, "x", O_WRONLY | O_TRUNC, 0);
      show("spawn chdir trunc", posix_spawn(&p, "/bin/echo", &fa, NULL, av, environ));
      waitpid(p, &st, 0);
      posix_spawn_file_actions_destroy(&fa);
    }
    return 0;
  }
  return 2;
}
