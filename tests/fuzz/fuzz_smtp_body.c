/* Fuzz target: the SMTP body encoder (lib/smtp), fed in chunks whose
 * sizes come from the input.  Checks the wire rules of SECURITY.md B-01
 * and B-04: CRLF only, no line over 1000 octets, every line starting with
 * "." stuffed, exactly one end-of-data at the very end, and no byte lost
 * (decoding the wire gives the input back). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf out = BUF_INIT, back = BUF_INIT;
	size_t state = 0, step = size ? (size_t)data[0] % 64 + 1 : 1;
	const char *in = (const char *)data;

	for (size_t off = 0; off < size; off += step)
		smtp_body_encode(in + off, size - off < step ? size - off : step, &state, &out);
	smtp_body_end(&state, &out);

	const char *w = out.data;
	size_t n = out.len, line_start = 0;
	if (n < 3 || memcmp(w + n - 3, ".\r\n", 3) != 0)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (w[i] == '\r' && (i + 1 >= n || w[i + 1] != '\n'))
			abort();
		if (w[i] == '\n') {
			if (i == 0 || w[i - 1] != '\r' || i + 1 - line_start > 1000)
				abort();
			line_start = i + 1;
		}
	}
	/* Decode: unstuff, CRLF -> LF, join CRLF SPACE folds. */
	for (size_t i = 0; i + 3 < n;) {
		size_t e = i, s = i;
		while (w[e] != '\r')
			e++;
		if (w[s] == '.') {
			if (e == s + 1 || w[s + 1] != '.')
				abort();	/* an unstuffed dot line before the end */
			s++;
		}
		buf_append(&back, w + s, e - s);
		buf_putc(&back, '\n');
		i = e + 2;
	}
	/* Expected: the input with CR -> space and a final LF added; folds
	 * add "\n " pairs which are removed before comparing. */
	struct buf want = BUF_INIT;
	for (size_t i = 0; i < size; i++)
		buf_putc(&want, in[i] == '\r' ? ' ' : in[i]);
	if (size > 0 && in[size - 1] != '\n')
		buf_putc(&want, '\n');
	size_t j = 0;
	for (size_t i = 0; i < back.len; i++) {
		/* a fold is "\n " where the input had no newline */
		if (back.data[i] == '\n' && i + 1 < back.len && back.data[i + 1] == ' ' &&
		    (j >= want.len || want.data[j] != '\n')) {
			i++;
			continue;
		}
		if (j >= want.len || back.data[i] != want.data[j])
			abort();
		j++;
	}
	if (j != want.len)
		abort();
	buf_clear(&out);
	buf_clear(&back);
	buf_clear(&want);
	return 0;
}
