/* errname.h — the one errno-name table (errname.c): capture's NOTEs, procwatch's error codes. */
#ifndef SHIT_ERRNAME_H
#define SHIT_ERRNAME_H
/* "ENOENT" for ENOENT (or -ENOENT); NULL for a number not in the table. No libc: safe inside
 * interposed calls. */
const char *errname(long e);
#endif
