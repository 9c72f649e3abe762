/* command.c — see command.h. */
#define _GNU_SOURCE
#include "command.h"
#include "spool.h"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

/* Appends "/" + the components of p to out[0..*len), resolving "." and ".." lexically. */
static int push_norm(char *out, size_t n, size_t *len, const char *p) {
  while (*p) {
    while (*p == '/') p++;
    if (!*p) break;
    const char *e = p;
    while (*e && *e != '/') e++;
    size_t k = (size_t)(e - p);
    if (k == 1 && p[0] == '.') {
      /* nothing */
    } else if (k == 2 && p[0] == '.' && p[1] == '.') {
      while (*len > 0 && out[*len - 1] != '/') (*len)--;
      if (*len > 0) (*len)--; /* the slash before it */
    } else {
      if (*len + 1 + k >= n) return -ENAMETOOLONG;
      out[(*len)++] = '/';
      memcpy(out + *len, p, k);
      *len += k;
    }
    p = e;
  }
  out[*len] = 0;
  return 0;
}

int state_dir(char *out, size_t n) {
  const char *h = getenv("SHIT_HOME"), *suffix = "";
  if (!h || h[0] != '/') {
    h = getenv("XDG_STATE_HOME");
    suffix = "shit";
    if (!h || h[0] != '/') {
      h = getenv("HOME");
      suffix = ".local/state/shit";
      if (!h || !*h) return -ENOENT;
    }
  }
  size_t len = 0;
  int r;
  if (h[0] != '/') {
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) return -errno;
    if ((r = push_norm(out, n, &len, cwd))) return r;
  }
  if ((r = push_norm(out, n, &len, h)) || (r = push_norm(out, n, &len, suffix))) return r;
  if (len == 0) {
    if (n < 2) return -ENAMETOOLONG;
    out[0] = '/';
    out[1] = 0;
  }
  return 0;
}

static int unsafe_one(const char *path, const struct stat *st, int dir, char *why, size_t n) {
  if (dir ? !S_ISDIR(st->st_mode) : !S_ISREG(st->st_mode))
    snprintf(why, n, "%s is not a %s", path, dir ? "directory" : "regular file");
  else if (st->st_uid != geteuid())
    snprintf(why, n, "%s is owned by uid %u, not by you (uid %u)", path, (unsigned)st->st_uid,
             (unsigned)geteuid());
  else if (st->st_mode & 022)
    snprintf(why, n, "%s is writable by %s (mode %04o)", path, st->st_mode & 002 ? "others" : "its group",
             (unsigned)(st->st_mode & 07777));
  else return 0;
  return 1;
}

int state_unsafe(const char *dir, char *why, size_t n) {
  struct stat st;
  if (stat(dir, &st) < 0) {
    if (errno == ENOENT) return 0;
    snprintf(why, n, "%s: %s", dir, strerror(errno));
    return 1;
  }
  if (unsafe_one(dir, &st, 1, why, n)) return 1;
  static const char *const sub[] = {"spool",        "staging",          "run",
                                    "index.sqlite", "index.sqlite-wal", "index.sqlite-shm"};
  for (int i = 0; i < 6; i++) {
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/%s", dir, sub[i]);
    if (lstat(p, &st) < 0) {
      if (errno == ENOENT) continue;
      snprintf(why, n, "%s: %s", p, strerror(errno));
      return 1;
    }
    if (unsafe_one(p, &st, i < 3, why, n)) return 1;
  }
  return 0;
}

int begin_command(const char *spool_path, char *const argv[], int argc, const char *kind, const char *of) {
  static struct sp_buf b;
  sp_start(&b, SP_BEGIN, 0);
  size_t alen = 0;
  for (int i = 0; i < argc; i++) alen += strlen(argv[i]) + 1;
  char *a = malloc(alen ? alen : 1), *q = a;
  if (a) {
    for (int i = 0; i < argc; i++) {
      size_t l = strlen(argv[i]) + 1;
      memcpy(q, argv[i], l);
      q += l;
    }
    sp_add(&b, T_ARGV, a, alen);
    free(a);
  }
  char cwd[PATH_MAX];
  const char *pwd = getenv("PWD");
  sp_add_str(&b, T_CWD, getcwd(cwd, sizeof cwd) ? cwd : pwd ? pwd : "");
  sp_add_str(&b, T_KIND, kind);
  if (of) sp_add_str(&b, T_OF, of);
  return sp_commit(&b, spool_path, 0);
}
