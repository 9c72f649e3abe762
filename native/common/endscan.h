/* endscan.h — the end-of-command scan shared by shit-run and shit-apply (endscan.c). */
#ifndef SHIT_ENDSCAN_H
#define SHIT_ENDSCAN_H
/* After the command: one POST record per distinct PATH / PATH2 of the successful effect records
 * in spool_path, with the path's lstat now (docs/SPOOL.md, op POST). */
void end_scan(const char *spool_path);

struct sp_stat;
/* shit-apply's (NULL elsewhere): a path's stat as the scan would find it, known without a statx
 * (a file shit-apply moved back with its directory and did not act on since), or NULL. */
extern const struct sp_stat *(*end_scan_known)(const char *path);

#include <stddef.h>
/* shit-apply's (NULL elsewhere: libc's calloc, realloc and free): where the scan's tables of paths
 * live (~50 bytes a path; shit-apply keeps them in a file it maps, issue 15), and a call made at
 * each record and path read, by which it lets their pages go. */
struct end_scan_mem {
  void *(*alloc)(size_t n);           /* n zeroed bytes, or NULL */
  void *(*resize)(void *p, size_t n); /* as realloc (the bytes past the old size: any) */
  void (*release)(void *p);           /* as free */
  void (*tick)(void);
};
extern const struct end_scan_mem *end_scan_mem;
#endif
