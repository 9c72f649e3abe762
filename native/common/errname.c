/* errname.c — see errname.h. */
#include "errname.h"
#include <errno.h>
#include <stddef.h>

const char *errname(long e) {
  switch (e < 0 ? -e : e) {
  case EPERM: return "EPERM";
  case ENOENT: return "ENOENT";
  case EIO: return "EIO";
  case EBADF: return "EBADF";
  case ENOMEM: return "ENOMEM";
  case EACCES: return "EACCES";
  case EBUSY: return "EBUSY";
  case EEXIST: return "EEXIST";
  case EXDEV: return "EXDEV";
  case ENOTDIR: return "ENOTDIR";
  case EISDIR: return "EISDIR";
  case EINVAL: return "EINVAL";
  case EFBIG: return "EFBIG";
  case ENOSPC: return "ENOSPC";
  case EROFS: return "EROFS";
  case EMLINK: return "EMLINK";
  case ENAMETOOLONG: return "ENAMETOOLONG";
  case ELOOP: return "ELOOP";
  case ENOSYS: return "ENOSYS";
  case EOPNOTSUPP: return "EOPNOTSUPP";
  case EDQUOT: return "EDQUOT";
  case ESTALE: return "ESTALE";
  case ETXTBSY: return "ETXTBSY";
  case EMFILE: return "EMFILE";
  case ENFILE: return "ENFILE";
  case ERANGE: return "ERANGE";
  case ENODATA: return "ENODATA";
  case ESRCH: return "ESRCH";
  default: return NULL;
  }
}
