/* io - see io.h. */
#include "io.h"

#include <errno.h>
#include <unistd.h>

bool
io_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		if (w == 0) {
			errno = EIO;
			return false;
		}
		c += w;
		n -= (size_t)w;
	}
	return true;
}
