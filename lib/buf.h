/* buf - growable, length-carrying byte buffer; the only string builder.
 *
 * A struct buf may hold any bytes, NUL included.  data is always kept
 * NUL-terminated (data[len] == 0) so that text can be used as a C string
 * without a copy.  Growth is overflow-checked and aborts on exhaustion
 * (xalloc).  An initialised, never-written buf owns no memory. */
#ifndef SATMAIL_BUF_H
#define SATMAIL_BUF_H
#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;	/* NULL until first write; then NUL-terminated */
	size_t len;
	size_t cap;
};

#define BUF_INIT { NULL, 0, 0 }

void buf_init(struct buf *b);
/* Frees the storage; the buf is left initialised (empty). */
void buf_clear(struct buf *b);
/* Forgets the contents, keeps the storage. */
void buf_reset(struct buf *b);
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, int c);
void buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Replaces the contents with s (a NULL s empties the buffer). */
void buf_set(struct buf *b, const char *s);
/* The contents as a C string: "" for an empty buf, never NULL. */
const char *buf_cstr(const struct buf *b);
/* Hands the storage to the caller (free() it); the buf is left empty. */
char *buf_steal(struct buf *b);
/* Drops n bytes from the front. */
void buf_consume(struct buf *b, size_t n);
/* Drops trailing white space (space, tab, CR, LF). */
void buf_rtrim(struct buf *b);

#endif
