/* xalloc - allocation that never returns NULL.
 *
 * Out of memory is not an outcome satmail can act on in the middle of a
 * parse, so these abort with a log line instead (DESIGN.md: the one
 * exception to "the library never exits", with panic()). */
#ifndef SATMAIL_XALLOC_H
#define SATMAIL_XALLOC_H
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
/* Grows p to count*size bytes; the multiplication is overflow-checked. */
void *xreallocarray(void *p, size_t count, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Duplicates n bytes and appends a NUL. */
char *xmemdup0(const void *p, size_t n);

#endif
