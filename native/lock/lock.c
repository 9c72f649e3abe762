// lock.c — lock.node: the one thing Node cannot do for the undo lock (src/undo/lock.ts), flock(2).
//
//   tryLock(fd) -> true (this open file description now holds LOCK_EX), false (another holds it)
//
// The lock belongs to the open file description, so it lives while any process holds a
// descriptor of it (the CLI and the shit-apply it hands it to) and the kernel drops it when the
// last one closes, however the holders end: no pid file, nothing stale after a kill -9.
// Other errors are thrown as an Error whose .code is the errno name (common/errname.c).
#define NAPI_VERSION 8
#include <node_api.h>
#include "../common/errname.h"

#include <errno.h>
#include <string.h>
#include <sys/file.h>

static napi_value try_lock(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  int32_t fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "lock.tryLock(fd): fd must be a number");
    return NULL;
  }
  int r;
  do r = flock(fd, LOCK_EX | LOCK_NB);
  while (r < 0 && errno == EINTR);
  if (r < 0 && errno != EWOULDBLOCK) {
    const char *n = errname(errno);
    napi_throw_error(env, n ? n : "EIO", strerror(errno));
    return NULL;
  }
  napi_get_boolean(env, r == 0, &out);
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "tryLock", NAPI_AUTO_LENGTH, try_lock, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "tryLock", fn) != napi_ok)
    return NULL;
  return exports;
}
