/* Unit tests for lib/smtp: the body encoder (CRLF only, dot-stuffing,
 * line folding, final dot), xtext and next-hop parsing. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "smtp.h"

/* Encodes in in pieces of `step` bytes (0 = all at once) and ends it. */
static char *
encode(const char *in, size_t n, size_t step)
{
	struct buf out = BUF_INIT;
	size_t state = 0;
	if (step == 0)
		step = n ? n : 1;
	for (size_t off = 0; off < n; off += step)
		smtp_body_encode(in + off, n - off < step ? n - off : step, &state, &out);
	smtp_body_end(&state, &out);
	return buf_steal(&out);
}

struct body_case {
	const char *in;
	const char *wire;
};

static const struct body_case body_cases[] = {
	{ "", ".\r\n" },
	{ "a\n", "a\r\n.\r\n" },
	{ "no final newline", "no final newline\r\n.\r\n" },
	{ ".\n", "..\r\n.\r\n" },
	{ "..\n.x\n", "...\r\n..x\r\n.\r\n" },
	{ "a\n.\nb\n", "a\r\n..\r\nb\r\n.\r\n" },
	{ "lone\rcr\n", "lone cr\r\n.\r\n" },
	{ "x\n\n", "x\r\n\r\n.\r\n" },
	{ " .\n", " .\r\n.\r\n" },
};

Test(smtp, body_table)
{
	for (size_t i = 0; i < sizeof body_cases / sizeof body_cases[0]; i++) {
		for (size_t step = 0; step < 4; step++) {
			char *w = encode(body_cases[i].in, strlen(body_cases[i].in), step);
			cr_assert_str_eq(w, body_cases[i].wire, "case %zu step %zu", i, step);
			free(w);
		}
	}
}

/* Checks the wire invariants and returns the body decoded the way a
 * receiver would (CRLF -> LF, leading dot removed, folds joined). */
static char *
check_wire(const char *w, size_t *outlen)
{
	size_t n = strlen(w);
	char *dec = malloc(n + 1);
	size_t d = 0, line_start = 0;
	cr_assert(n >= 3 && strcmp(w + n - 3, ".\r\n") == 0);
	for (size_t i = 0; i < n; i++) {
		if (w[i] == '\r')
			cr_assert(i + 1 < n && w[i + 1] == '\n', "bare CR at %zu", i);
		if (w[i] == '\n') {
			cr_assert(i > 0 && w[i - 1] == '\r', "bare LF at %zu", i);
			cr_assert(i + 1 - line_start <= 1000, "line of %zu octets", i + 1 - line_start);
			line_start = i + 1;
		}
	}
	/* decode all but the final ".\r\n" */
	for (size_t i = 0; i + 3 < n;) {
		size_t e = i, s = i;
		while (w[e] != '\r')
			e++;
		if (w[s] == '.') {
			cr_assert(e > s + 1 && w[s + 1] == '.', "unstuffed dot");
			s++;
		}
		memcpy(dec + d, w + s, e - s);
		d += e - s;
		dec[d++] = '\n';
		i = e + 2;
	}
	dec[d] = '\0';
	*outlen = d;
	return dec;
}

Test(smtp, long_lines_fold_without_loss)
{
	size_t sizes[] = { 997, 998, 999, 1000, 2000, 10000, 1000000 };
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		size_t n = sizes[k];
		char *in = malloc(n + 2);
		for (size_t i = 0; i < n; i++)
			in[i] = (char)('a' + i % 26);
		in[0] = '.';
		in[n] = '\n';
		in[n + 1] = '\0';
		char *w = encode(in, n + 1, 4096);
		size_t dl;
		char *dec = check_wire(w, &dl);
		/* Folds are CRLF SPACE: removing "\n " from the decoded text
		 * gives the input back. */
		size_t j = 0;
		for (size_t i = 0; i < dl; i++) {
			if (dec[i] == '\n' && i + 1 < dl && dec[i + 1] == ' ') {
				i++;
				continue;
			}
			dec[j++] = dec[i];
		}
		dec[j] = '\0';
		cr_assert_eq(j, n + 1, "size %zu: %zu bytes back", n, j);
		cr_assert(memcmp(dec, in, n + 1) == 0, "size %zu: bytes differ", n);
		free(in);
		free(w);
		free(dec);
	}
}

Test(smtp, smuggling_payloads_stay_body)
{
	/* SECURITY.md B-01: after intake a bare CR has become a space;
	 * whatever reaches the encoder, no bare CR/LF and no lone dot line
	 * other than the final one may come out. */
	const char *in = "x\n.\nMAIL FROM:<a@b>\n\r.\r\nRCPT TO:<c@d>\r\n.\r\r\nDATA\n";
	char *w = encode(in, strlen(in), 3);
	size_t dl;
	char *dec = check_wire(w, &dl);
	size_t n = strlen(w);
	const char *p = w;
	int dots = 0;
	while ((p = strstr(p, "\r\n.\r\n")) != NULL) {
		dots++;
		p += 2;
	}
	cr_assert_eq(dots, 1, "exactly one end-of-data");
	cr_assert(strcmp(w + n - 5, "\r\n.\r\n") == 0);
	free(dec);
	free(w);
}

Test(smtp, xtext)
{
	struct buf b = BUF_INIT;
	smtp_xtext("a+b=c d\x01@e", &b);
	cr_assert_str_eq(buf_cstr(&b), "a+2Bb+3Dc+20d+01@e");
	buf_clear(&b);
}

struct dest_case {
	const char *in;
	bool ok;
	const char *host;
	unsigned port;
	bool mx;
};

static const struct dest_case dest_cases[] = {
	{ "[smtp.example.com]:587", true, "smtp.example.com", 587, false },
	{ "[smtp.example.com]", true, "smtp.example.com", 25, false },
	{ "smtp.example.com:2525", true, "smtp.example.com", 2525, true },
	{ "example.com", true, "example.com", 25, true },
	{ "[127.0.0.1]:10025", true, "127.0.0.1", 10025, false },
	{ "[IPv6:::1]:10025", true, "::1", 10025, false },
	{ "[::1]:10025", true, "::1", 10025, false },
	{ "[host]x", false, NULL, 0, false },
	{ "[]:25", false, NULL, 0, false },
	{ "host:0", false, NULL, 0, false },
	{ "host:65536", false, NULL, 0, false },
	{ "host:", false, NULL, 0, false },
	{ ":25", false, NULL, 0, false },
	{ "[host", false, NULL, 0, false },
};

Test(smtp, parse_dest)
{
	for (size_t i = 0; i < sizeof dest_cases / sizeof dest_cases[0]; i++) {
		const struct dest_case *dc = &dest_cases[i];
		struct smtp_dest d;
		bool ok = smtp_parse_dest(dc->in, strlen(dc->in), 25, &d);
		cr_assert_eq(ok, dc->ok, "%s", dc->in);
		if (!ok)
			continue;
		cr_assert_str_eq(d.host, dc->host, "%s", dc->in);
		cr_assert_eq(d.port, dc->port, "%s", dc->in);
		cr_assert_eq(d.mx, dc->mx, "%s", dc->in);
	}
}
