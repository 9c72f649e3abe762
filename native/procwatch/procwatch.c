// procwatch.node — learn when processes exit, without polling (pidfd + epoll), for Node.
//
// One background thread waits in epoll_wait on the pidfds of watched processes and on an eventfd
// that stop() writes. A pidfd becomes readable when its process has exited (at once for a process
// that is already a zombie); the thread then takes the watch out of the table, closes the pidfd
// and posts the watch id to JS through a threadsafe function. Callbacks, their registration and
// unregistration all live on the JS side (src/daemon/procwatch.ts), on the JS thread.
//
// Exports (all errors come back as values or as a thrown Error whose .code is the errno name):
//   create(dispatch(id))        -> handle; dispatch is called on the JS thread with each exited id
//   add(handle, pid, startTime?: bigint, env?: string)
//                               -> { status: "watching", id, startTime } | { status: "gone" }
//                                  | { status: "reused", startTime } | { status: "error", code, message }
//   unwatch(handle, id)         -> true if the watch was still open (its pidfd is now closed)
//   ref(handle) / unref(handle) -> whether pending watches keep the event loop alive
//   stop(handle)                -> wakes and joins the thread, closes every fd; true if it joined now
//   startTime(pid)              -> bigint clock ticks since boot (field 22 of /proc/PID/stat) | null
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include "../common/errname.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

struct watch {
  uint64_t id;
  int pid;
  int fd;
};

struct watcher {
  int epfd, evfd;
  pthread_t thread;
  int running; // thread started and not yet joined (JS thread only)
  napi_threadsafe_function tsfn;
  int released;         // tsfn released or finalized (JS thread only)
  int refs;             // the JS handle + the tsfn; freed at 0 (JS thread only)
  pthread_mutex_t lock; // guards the table below
  struct watch *w;
  size_t n, cap;
  uint64_t next_id;
};

// ---- helpers -------------------------------------------------------------------------------

static int pidfd_open(int pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }
static int pidfd_signal0(int fd) { return (int)syscall(SYS_pidfd_send_signal, fd, 0, NULL, 0); }

// the error code a JS caller sees: errno's name (common/errname.c), EIO for any other
static const char *err_code(int e) {
  const char *n = errname(e);
  return n ? n : "EIO";
}

// Reads a whole /proc file into a malloc'd buffer (NUL-terminated). Returns length or -errno.
static long read_proc(int pid, const char *what, char **out) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/%s", pid, what);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  if (!buf) {
    close(fd);
    return -ENOMEM;
  }
  for (;;) {
    if (len + 1 >= cap) {
      char *nb = realloc(buf, cap * 2);
      if (!nb) {
        free(buf);
        close(fd);
        return -ENOMEM;
      }
      buf = nb;
      cap *= 2;
    }
    ssize_t r = read(fd, buf + len, cap - len - 1);
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      free(buf);
      close(fd);
      return -e;
    }
    if (r == 0) break;
    len += (size_t)r;
  }
  close(fd);
  buf[len] = 0;
  *out = buf;
  return (long)len;
}

// State letter and start time (field 3 and 22 of /proc/PID/stat). 0 or -errno.
static int proc_stat(int pid, char *state, unsigned long long *start) {
  char *buf;
  long len = read_proc(pid, "stat", &buf);
  if (len < 0) return (int)len;
  char *p = strrchr(buf, ')'); // the command name may hold spaces and parentheses
  int rc = -EIO;
  if (p && p[1] == ' ') {
    p += 2;
    *state = *p;
    for (int field = 3; field < 22 && p; field++) {
      p = strchr(p, ' ');
      if (p) p++;
    }
    if (p) {
      char *end;
      errno = 0;
      *start = strtoull(p, &end, 10);
      if (end != p && errno == 0) rc = 0;
    }
  }
  free(buf);
  return rc;
}

// 1: the NUL-separated /proc/PID/environ holds exactly `entry`; 0: it does not; -errno.
static int proc_env_has(int pid, const char *entry) {
  char *buf;
  long len = read_proc(pid, "environ", &buf);
  if (len < 0) return (int)len;
  size_t elen = strlen(entry);
  int found = 0;
  for (long i = 0; i < len && !found;) {
    size_t l = strnlen(buf + i, (size_t)(len - i));
    if (l == elen && memcmp(buf + i, entry, elen) == 0) found = 1;
    i += (long)l + 1;
  }
  free(buf);
  return found;
}

static napi_value throw_errno(napi_env env, int e, const char *what) {
  char msg[160];
  snprintf(msg, sizeof msg, "procwatch: %s: %s", what, strerror(e));
  napi_throw_error(env, err_code(e), msg);
  return NULL;
}

static napi_value result(napi_env env, const char *status) {
  napi_value obj, s;
  napi_create_object(env, &obj);
  napi_create_string_utf8(env, status, NAPI_AUTO_LENGTH, &s);
  napi_set_named_property(env, obj, "status", s);
  return obj;
}

static napi_value error_result(napi_env env, int e, const char *what) {
  napi_value obj = result(env, "error"), v;
  napi_create_string_utf8(env, err_code(e), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, "code", v);
  char msg[200];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(e));
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, "message", v);
  return obj;
}

static void set_bigint(napi_env env, napi_value obj, const char *name, unsigned long long v) {
  napi_value b;
  napi_create_bigint_uint64(env, v, &b);
  napi_set_named_property(env, obj, name, b);
}

static struct watcher *get_watcher(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) {
    napi_throw_type_error(env, "EINVAL", "procwatch: not a watcher handle");
    return NULL;
  }
  return p;
}

// ---- the table (under lock) ------------------------------------------------------------------

static int table_take(struct watcher *w, uint64_t id, struct watch *out) {
  int found = 0;
  pthread_mutex_lock(&w->lock);
  for (size_t i = 0; i < w->n; i++) {
    if (w->w[i].id == id) {
      *out = w->w[i];
      w->w[i] = w->w[--w->n];
      found = 1;
      break;
    }
  }
  pthread_mutex_unlock(&w->lock);
  return found;
}

// ---- the background thread -------------------------------------------------------------------

static void *loop(void *arg) {
  struct watcher *w = arg;
  struct epoll_event ev[64];
  for (;;) {
    int n = epoll_wait(w->epfd, ev, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      break; // cannot happen with a valid epfd; leaving is the only safe move
    }
    for (int i = 0; i < n; i++) {
      uint64_t id = ev[i].data.u64;
      if (id == 0) return NULL; // the eventfd: stop() asked us to leave
      struct watch got;
      if (!table_take(w, id, &got)) continue; // unwatched meanwhile: its owner closed the fd
      epoll_ctl(w->epfd, EPOLL_CTL_DEL, got.fd, NULL);
      close(got.fd);
      napi_call_threadsafe_function(w->tsfn, (void *)(uintptr_t)id, napi_tsfn_nonblocking);
    }
  }
  return NULL;
}

// Wakes and joins the thread, closes every fd. JS thread only; idempotent.
static int halt(struct watcher *w) {
  if (!w->running) return 0;
  uint64_t one = 1;
  while (write(w->evfd, &one, sizeof one) < 0 && errno == EINTR) {}
  pthread_join(w->thread, NULL);
  w->running = 0;
  pthread_mutex_lock(&w->lock);
  for (size_t i = 0; i < w->n; i++) close(w->w[i].fd);
  w->n = 0;
  pthread_mutex_unlock(&w->lock);
  close(w->epfd);
  close(w->evfd);
  return 1;
}

static void unref_watcher(struct watcher *w) {
  if (--w->refs > 0) return;
  halt(w);
  pthread_mutex_destroy(&w->lock);
  free(w->w);
  free(w);
}

// ---- threadsafe function ---------------------------------------------------------------------

static void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)context;
  if (!env || !js_cb) return; // being torn down: nothing to tell
  napi_value undef, arg;
  napi_get_undefined(env, &undef);
  napi_create_double(env, (double)(uintptr_t)data, &arg);
  if (napi_call_function(env, undef, js_cb, 1, &arg, NULL) == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc); // as any callback error in Node: 'uncaughtException'
  }
}

static void tsfn_finalized(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  struct watcher *w = data;
  w->released = 1;
  halt(w); // environment teardown without stop(): the thread must not outlive its tsfn
  unref_watcher(w);
}

static void handle_finalized(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  struct watcher *w = data;
  halt(w); // nothing can reach this watcher any more
  if (!w->released) {
    w->released = 1;
    napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
  }
  unref_watcher(w);
}

// ---- exports ---------------------------------------------------------------------------------

static napi_value js_create(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_valuetype t = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &t);
  if (t != napi_function) {
    napi_throw_type_error(env, "EINVAL", "procwatch.create: expected a dispatch function");
    return NULL;
  }
  // Probe: a kernel without pidfd_open (Linux < 5.3) says ENOSYS here, not later.
  int probe = pidfd_open(getpid());
  if (probe < 0) return throw_errno(env, errno, "pidfd_open (Linux >= 5.3 needed)");
  close(probe);

  struct watcher *w = calloc(1, sizeof *w);
  if (!w) return throw_errno(env, ENOMEM, "create");
  w->next_id = 1;
  pthread_mutex_init(&w->lock, NULL);
  w->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (w->epfd < 0) {
    int e = errno;
    free(w);
    return throw_errno(env, e, "epoll_create1");
  }
  w->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
  if (w->evfd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->evfd, &ev) < 0) {
    int e = errno;
    if (w->evfd >= 0) close(w->evfd);
    close(w->epfd);
    free(w);
    return throw_errno(env, e, "eventfd");
  }
  napi_value name;
  napi_create_string_utf8(env, "procwatch", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[0], NULL, name, 0, 1, w, tsfn_finalized, NULL, call_js,
                                      &w->tsfn) != napi_ok) {
    close(w->evfd);
    close(w->epfd);
    free(w);
    napi_throw_error(env, "EIO", "procwatch: cannot create the threadsafe function");
    return NULL;
  }
  w->refs = 2;
  // Idle, the watcher does not keep the event loop alive; the JS side refs it while it watches.
  napi_unref_threadsafe_function(env, w->tsfn);
  int e = pthread_create(&w->thread, NULL, loop, w);
  if (e) {
    close(w->evfd);
    close(w->epfd);
    w->refs--; // no handle will hold it: the tsfn finalizer frees it
    w->released = 1;
    napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
    return throw_errno(env, e, "pthread_create");
  }
  pthread_setname_np(w->thread, "shit-procwatch");
  w->running = 1;
  napi_value handle;
  napi_create_external(env, w, handle_finalized, NULL, &handle);
  return handle;
}

static napi_value js_add(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) {
    napi_throw_type_error(env, "EINVAL", "procwatch.add(handle, pid, startTime?, env?)");
    return NULL;
  }
  struct watcher *w = get_watcher(env, argv[0]);
  if (!w) return NULL;
  int32_t pid = 0;
  if (napi_get_value_int32(env, argv[1], &pid) != napi_ok || pid <= 0) {
    napi_throw_type_error(env, "EINVAL", "procwatch.add: pid must be a positive integer");
    return NULL;
  }
  if (!w->running) {
    napi_throw_error(env, "ESHUTDOWN", "procwatch.add: the watcher was stopped");
    return NULL;
  }
  int want_start = 0;
  uint64_t expect_start = 0;
  char *want_env = NULL;
  napi_valuetype t;
  if (argc >= 3 && napi_typeof(env, argv[2], &t) == napi_ok && t == napi_bigint) {
    bool lossless;
    napi_get_value_bigint_uint64(env, argv[2], &expect_start, &lossless);
    want_start = 1;
  }
  if (argc >= 4 && napi_typeof(env, argv[3], &t) == napi_ok && t == napi_string) {
    size_t len;
    napi_get_value_string_utf8(env, argv[3], NULL, 0, &len);
    want_env = malloc(len + 1);
    if (!want_env) return error_result(env, ENOMEM, "add");
    napi_get_value_string_utf8(env, argv[3], want_env, len + 1, &len);
  }

  napi_value res;
  // The pidfd first: from here on it names one process, whatever happens to the pid number.
  int fd = pidfd_open(pid);
  if (fd < 0) {
    int e = errno;
    free(want_env);
    if (e == ESRCH) return result(env, "gone");
    if (e == EINVAL) return error_result(env, e, "pidfd_open (is it a thread id, not a process id?)");
    return error_result(env, e, e == ENOSYS ? "pidfd_open (Linux >= 5.3 needed)" : "pidfd_open");
  }
  // Then the identity, read through /proc by number...
  char state = '?';
  unsigned long long start = 0;
  int rc = proc_stat(pid, &state, &start);
  // A zombie's environment went with its memory (and its /proc files belong to root then).
  int env_match = 1, zombie_env = rc == 0 && want_env && state == 'Z';
  if (rc == 0 && want_env && !zombie_env) {
    env_match = proc_env_has(pid, want_env);
    if (env_match < 0) rc = env_match;
  }
  free(want_env);
  // ...which described the pidfd's process only if that process still held the number after
  // the reads: a process that is not yet reaped (even a zombie) keeps its pid.
  if (pidfd_signal0(fd) < 0 && errno == ESRCH) {
    close(fd);
    return result(env, "gone");
  }
  if (rc < 0) {
    close(fd);
    if (rc == -ENOENT || rc == -ESRCH) return result(env, "gone");
    return error_result(env, -rc, "reading /proc to check the process identity");
  }
  if (zombie_env) {
    close(fd); // it has exited, whichever process it was
    return result(env, "gone");
  }
  if ((want_start && start != expect_start) || !env_match) {
    close(fd);
    res = result(env, "reused");
    set_bigint(env, res, "startTime", start);
    return res;
  }

  pthread_mutex_lock(&w->lock);
  if (w->n == w->cap) {
    size_t cap = w->cap ? w->cap * 2 : 64;
    struct watch *nw = realloc(w->w, cap * sizeof *nw);
    if (!nw) {
      pthread_mutex_unlock(&w->lock);
      close(fd);
      return error_result(env, ENOMEM, "add");
    }
    w->w = nw;
    w->cap = cap;
  }
  uint64_t id = w->next_id++;
  w->w[w->n++] = (struct watch){.id = id, .pid = pid, .fd = fd};
  pthread_mutex_unlock(&w->lock);
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = id};
  if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
    int e = errno;
    struct watch got;
    if (table_take(w, id, &got)) close(got.fd);
    return error_result(env, e, "epoll_ctl");
  }
  res = result(env, "watching");
  napi_value v;
  napi_create_double(env, (double)id, &v);
  napi_set_named_property(env, res, "id", v);
  set_bigint(env, res, "startTime", start);
  return res;
}

static napi_value js_unwatch(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct watcher *w = argc >= 1 ? get_watcher(env, argv[0]) : NULL;
  if (!w) return NULL;
  double idd = 0;
  if (argc < 2 || napi_get_value_double(env, argv[1], &idd) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "procwatch.unwatch(handle, id)");
    return NULL;
  }
  struct watch got;
  int had = w->running && table_take(w, (uint64_t)idd, &got);
  if (had) {
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, got.fd, NULL);
    close(got.fd);
  }
  napi_get_boolean(env, had, &out);
  return out;
}

static napi_value js_ref(napi_env env, napi_callback_info info, int ref) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct watcher *w = argc >= 1 ? get_watcher(env, argv[0]) : NULL;
  if (!w) return NULL;
  if (!w->released) {
    if (ref) napi_ref_threadsafe_function(env, w->tsfn);
    else napi_unref_threadsafe_function(env, w->tsfn);
  }
  return NULL;
}
static napi_value js_ref1(napi_env env, napi_callback_info info) { return js_ref(env, info, 1); }
static napi_value js_unref(napi_env env, napi_callback_info info) { return js_ref(env, info, 0); }

static napi_value js_stop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct watcher *w = argc >= 1 ? get_watcher(env, argv[0]) : NULL;
  if (!w) return NULL;
  int joined = halt(w);
  if (!w->released) {
    w->released = 1;
    napi_unref_threadsafe_function(env, w->tsfn);
    napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort); // queued exits are dropped
  }
  napi_get_boolean(env, joined, &out);
  return out;
}

static napi_value js_start_time(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t pid = 0;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &pid) != napi_ok || pid <= 0) {
    napi_throw_type_error(env, "EINVAL", "procwatch.startTime: pid must be a positive integer");
    return NULL;
  }
  char state;
  unsigned long long start;
  int rc = proc_stat(pid, &state, &start);
  if (rc == -ENOENT || rc == -ESRCH) {
    napi_get_null(env, &out);
    return out;
  }
  if (rc < 0) return throw_errno(env, -rc, "reading /proc/PID/stat");
  napi_create_bigint_uint64(env, start, &out);
  return out;
}

NAPI_MODULE_INIT() {
  static const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {
      {"create", js_create}, {"add", js_add},   {"unwatch", js_unwatch},      {"ref", js_ref1},
      {"unref", js_unref},   {"stop", js_stop}, {"startTime", js_start_time},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f);
    napi_set_named_property(env, exports, fns[i].name, f);
  }
  return exports;
}
