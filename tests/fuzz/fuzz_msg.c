/* Fuzz target: message intake (line-end normalisation, dot rule, header
 * section, body pump) on arbitrary input fed through a pipe. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
count_sink(void *ctx, const char *p, size_t n)
{
	size_t *total = ctx;
	for (size_t i = 0; i < n; i++)
		if (p[i] == '\r' || p[i] == '\0')
			abort();	/* normalisation let one through */
	*total += n;
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fds[2];
	if (size > 60000 || pipe(fds) < 0)
		return 0;
	if (write(fds[1], data, size) != (ssize_t)size)
		abort();
	close(fds[1]);

	struct msg_input in;
	struct msg_headers h;
	struct status st;
	size_t total = 0;
	msg_input_init(&in, fds[0], data[0] & 1);
	msg_headers_init(&h);
	status_init(&st);
	if (msg_read_headers(&in, &h, 1000, &st)) {
		for (size_t i = 0; i < h.n; i++) {
			if (h.v[i].name_len == 0 || h.v[i].text[h.v[i].len - 1] != '\n')
				abort();
			struct buf u = BUF_INIT;
			size_t blen;
			const char *b = msg_header_body(&h.v[i], &blen);
			msg_unfold(b, blen, &u);
			buf_clear(&u);
		}
		(void)msg_pump_body(&in, count_sink, &total, &st);
	}
	status_clear(&st);
	msg_headers_clear(&h);
	msg_input_clear(&in);
	close(fds[0]);
	return 0;
}
