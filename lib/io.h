/* io - whole-buffer writes that survive EINTR and short writes (the
 * dma 2021 bug: a short write must be resumed, never dropped). */
#ifndef SATMAIL_IO_H
#define SATMAIL_IO_H
#include <stdbool.h>
#include <stddef.h>

/* Writes all n bytes; false with errno set on an error (EPIPE, ENOSPC...). */
bool io_write_all(int fd, const void *p, size_t n);

#endif
