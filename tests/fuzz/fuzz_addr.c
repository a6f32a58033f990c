/* fuzz_addr - libFuzzer target for lib/addr.c.
 *
 * Feeds the input to addr_parse_list (as a header field body, NULs and
 * all), and as a C string to addr_parse_arg and addr_parse_canonical, and
 * checks what the rest of satmail relies on: every returned string is
 * NUL-free, control-free, strict UTF-8 and within the length limits; the
 * domain passes addr_valid_domain; the canonical form parses back
 * strictly to itself; the recorded addr-spec span parses on its own to
 * the same address; a failure leaves the list alone and says why on one
 * line.  Any broken invariant aborts, which libFuzzer reports.
 *
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
 *       -Ilib -o fuzz_addr tests/fuzz/fuzz_addr.c lib/addr.c lib/buf.c lib/xalloc.c
 *   ./fuzz_addr -max_total_time=60 corpus/ */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "buf.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_addr: %s:%d: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

/* An independent strict UTF-8 check (no overlongs, surrogates, values
 * above U+10FFFF) that also refuses C0, DEL and C1 controls; a tab is
 * refused too, since nothing returned may contain one. */
static bool
clean_text(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	while (*s) {
		uint32_t cp;
		int n;

		if (*s < 0x80) {
			if (*s < 0x20 || *s == 0x7f)
				return false;
			s++;
			continue;
		}
		if ((*s & 0xe0) == 0xc0) {
			cp = *s & 0x1f;
			n = 1;
		} else if ((*s & 0xf0) == 0xe0) {
			cp = *s & 0x0f;
			n = 2;
		} else if ((*s & 0xf8) == 0xf0) {
			cp = *s & 0x07;
			n = 3;
		} else {
			return false;
		}
		for (int k = 1; k <= n; k++) {
			if ((s[k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[k] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
		    (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp < 0xa0)
			return false;
		s += n + 1;
	}
	return true;
}

static void
check_domain(const char *d)
{
	size_t n = strlen(d);

	CHECK(n > 0 && n <= ADDR_MAX_DOMAIN);
	CHECK(clean_text(d));
	CHECK(addr_valid_domain(d));
	if (d[0] == '[')
		return;
	for (const char *l = d;;) {
		const char *dot = strchr(l, '.');
		size_t ln = dot ? (size_t)(dot - l) : strlen(l);
		CHECK(ln > 0 && ln <= 63);
		if (!dot)
			break;
		l = dot + 1;
	}
}

/* The canonical form parses strictly back to the same address. */
static void
check_canonical(const struct addr *a)
{
	struct buf f1 = BUF_INIT, f2 = BUF_INIT, why = BUF_INIT;
	struct addr b;

	addr_format(a, &f1);
	CHECK(f1.len <= ADDR_MAX_ADDRESS);
	if (!addr_parse_canonical(buf_cstr(&f1), &b, &why)) {
		fprintf(stderr, "fuzz_addr: [%s] does not re-parse: %s\n",
		    buf_cstr(&f1), buf_cstr(&why));
		abort();
	}
	addr_format(&b, &f2);
	CHECK(strcmp(buf_cstr(&f1), buf_cstr(&f2)) == 0);
	CHECK(strcmp(a->local, b.local) == 0);
	CHECK((a->domain == NULL) == (b.domain == NULL));
	CHECK(!a->domain || strcmp(a->domain, b.domain) == 0);
	CHECK(b.display == NULL);
	addr_clear(&b);
	buf_clear(&f1);
	buf_clear(&f2);
	buf_clear(&why);
}

/* text[start..end) on its own (in angle brackets when it was written in
 * them, which keeps an obs-route legal) is the same address. */
static void
check_span(const struct addr *a, const char *text, size_t len)
{
	struct buf span = BUF_INIT, f1 = BUF_INIT, f2 = BUF_INIT, why = BUF_INIT;
	struct addr_list l;

	CHECK(a->start <= a->end && a->end <= len);
	if (a->start == a->end) {
		CHECK(a->local[0] == '\0' && a->domain == NULL);
		return;
	}
	addr_list_init(&l);
	if (a->angle)
		buf_putc(&span, '<');
	buf_append(&span, text + a->start, a->end - a->start);
	if (a->angle)
		buf_putc(&span, '>');
	if (!addr_parse_list(span.data, span.len, &l, &why)) {
		fprintf(stderr, "fuzz_addr: span [%s] does not parse: %s\n",
		    buf_cstr(&span), buf_cstr(&why));
		abort();
	}
	CHECK(l.n == 1);
	addr_format(a, &f1);
	addr_format(&l.v[0], &f2);
	CHECK(strcmp(buf_cstr(&f1), buf_cstr(&f2)) == 0);
	addr_list_clear(&l);
	buf_clear(&span);
	buf_clear(&f1);
	buf_clear(&f2);
	buf_clear(&why);
}

static void
check_addr(const struct addr *a, bool null_ok)
{
	CHECK(a->local != NULL);
	CHECK(strlen(a->local) <= ADDR_MAX_LOCAL);
	CHECK(clean_text(a->local));
	if (a->local[0] == '\0') {
		CHECK(null_ok && a->domain == NULL);
	}
	if (a->domain)
		check_domain(a->domain);
	if (a->display) {
		size_t n = strlen(a->display);
		CHECK(n > 0 && clean_text(a->display));
		CHECK(a->display[0] != ' ' && a->display[n - 1] != ' ');
		CHECK(strstr(a->display, "  ") == NULL);
	}
	check_canonical(a);
}

static void
check_failure(bool ok, const struct addr_list *l, size_t n0,
    const struct buf *why)
{
	if (ok)
		return;
	CHECK(l->n == n0);
	CHECK(why->len > 0 && strchr(buf_cstr(why), '\n') == NULL);
	CHECK(strstr(buf_cstr(why), " at offset ") != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	char *str = xmemdup0(data, size);
	size_t slen = strlen(str);
	struct buf why = BUF_INIT;
	struct addr_list l;
	struct addr a;
	bool ok;

	/* a header field body, with whatever bytes it holds; something
	 * already in the list must survive a failure */
	addr_list_init(&l);
	CHECK(addr_parse_list("keep@x", 6, &l, &why));
	ok = addr_parse_list(text, size, &l, &why);
	check_failure(ok, &l, 1, &why);
	CHECK(l.n <= 1 + ADDR_MAX_LIST);
	for (size_t i = 1; ok && i < l.n; i++) {
		check_addr(&l.v[i], false);
		check_span(&l.v[i], text, size);
	}
	CHECK(strcmp(l.v[0].local, "keep") == 0);
	addr_list_clear(&l);

	/* a command-line argument */
	ok = addr_parse_arg(str, &l, &why);
	check_failure(ok, &l, 0, &why);
	if (ok) {
		CHECK(l.n >= 1);
		for (size_t i = 0; i < l.n; i++) {
			check_addr(&l.v[i], l.n == 1);
			check_span(&l.v[i], str, slen);
		}
	}
	addr_list_clear(&l);

	/* a queue record */
	buf_reset(&why);
	if (addr_parse_canonical(str, &a, &why)) {
		check_addr(&a, true);
		CHECK(a.display == NULL);
		CHECK(a.end <= slen);
	} else {
		CHECK(a.local == NULL && a.domain == NULL && a.display == NULL);
		CHECK(why.len > 0 && strchr(buf_cstr(&why), '\n') == NULL);
	}
	addr_clear(&a);

	/* addr_valid_domain on arbitrary text must not misbehave */
	(void)addr_valid_domain(str);

	buf_clear(&why);
	free(str);
	return 0;
}
