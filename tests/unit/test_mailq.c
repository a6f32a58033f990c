/* Unit tests for lib/mailq.c: the Postfix text listing (golden files in
 * tests/data/, written from POSTFIX-NOTES.md 8.1, one of them Postfix's
 * observed output verbatim) and the JSON lines of postqueue -j (8.2).
 * Every test runs with TZ=UTC. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "envelope.h"
#include "mailq.h"

static void
utc(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
}

TestSuite(mailq, .init = utc);

static void
read_data(const char *name, struct buf *out)
{
	char path[512];
	const char *file = __FILE__;
	const char *unit = strstr(file, "unit/test_mailq.c");
	cr_assert_not_null(unit);
	snprintf(path, sizeof path, "%.*sdata/%s", (int)(unit - file), file, name);
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "cannot open %s (run from the top of the tree)", path);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(out, chunk, n);
	fclose(f);
}

static void
expect_text(const struct buf *got, const char *want, size_t wlen, const char *what)
{
	if (got->len == wlen && memcmp(got->data, want, wlen) == 0)
		return;
	size_t i = 0;
	while (i < got->len && i < wlen && got->data[i] == want[i])
		i++;
	cr_expect_fail("%s differs at byte %zu:\n--- got ---\n%s--- want ---\n%.*s", what, i,
	    buf_cstr(got), (int)wlen, want);
}

static void
rcpt(struct envelope *e, const char *addr, const char *reason, enum rcpt_state state)
{
	cr_assert(envelope_add_rcpt(e, addr, NULL, 0));
	struct rcpt *r = &e->rcpt[e->nrcpt - 1];
	r->reason = reason ? strdup(reason) : NULL;
	r->state = state;
}

static void
entry(struct envelope *e, const char *id, long long size, int64_t arrival, const char *sender)
{
	envelope_init(e);
	snprintf(e->id, sizeof e->id, "%s", id);
	e->size = size;
	e->arrival_sec = arrival;
	e->arrival_usec = 123456;
	e->sender = sender ? strdup(sender) : NULL;
}

#define R1	"connect to 127.0.0.1[127.0.0.1]:2599: Connection refused"
#define R2	"host one.example said: 450 4.2.0 try later"
#define R3	"host two.example[192.0.2.2] said: 452 4.2.2 mailbox full, and this text is longer than 76 columns"

/* ---- text ---- */

Test(mailq, text_postfix_observed)
{
	struct envelope e;
	struct mailq_totals t = { 0, 0 };
	struct buf out = BUF_INIT, want = BUF_INIT;

	entry(&e, "BD6E2A768D1", 296, 1606497562, "root@Sat.Example.COM");
	rcpt(&e, "bob@remote.example", R1, RCPT_PENDING);
	rcpt(&e, "carol@remote.example", R1, RCPT_PENDING);
	mailq_text_entry(&out, &e, false, &t);
	mailq_text_end(&out, &t);
	read_data("mailq_postfix_observed.golden", &want);
	expect_text(&out, want.data, want.len, "Postfix 3.7 listing");
	cr_expect_eq(t.requests, 1);
	cr_expect_eq(t.bytes, 296);
	envelope_clear(&e);
	buf_clear(&out);
	buf_clear(&want);
}

Test(mailq, text_golden_four_entries)
{
	struct envelope e;
	struct mailq_totals t = { 0, 0 };
	struct buf out = BUF_INIT, want = BUF_INIT;

	/* a reason shared by two recipients, a delivered one not listed, and
	 * one without a reason after one with a reason */
	entry(&e, "BD6E2A768D1", 296, 1606497562, "root@sat.example.com");
	rcpt(&e, "bob@remote.example", R1, RCPT_PENDING);
	rcpt(&e, "carol@remote.example", R1, RCPT_PENDING);
	rcpt(&e, "dave@remote.example", "250 2.0.0 Ok", RCPT_SENT);
	rcpt(&e, "erin@remote.example", NULL, RCPT_PENDING);
	mailq_text_entry(&out, &e, false, &t);
	envelope_clear(&e);

	/* being delivered, null sender, different reasons, a bounced one,
	 * a reason longer than 76 columns (no indent, no wrap) */
	entry(&e, "C1234A768D2", 1500, 1738573445, NULL);
	rcpt(&e, "x@one.example", R2, RCPT_PENDING);
	rcpt(&e, "z@three.example", "550 5.1.1 no such user", RCPT_BOUNCED);
	rcpt(&e, "y@two.example", R3, RCPT_PENDING);
	rcpt(&e, "w@four.example", R2, RCPT_PENDING);
	e.attempts = 2;
	mailq_text_entry(&out, &e, true, &t);
	envelope_clear(&e);

	/* held, UTF-8 sender, no reason at all */
	entry(&e, "D0000A768D3", 300000, 1739538245, "j\xc3\xb6rg@b\xc3\xbc" "cher.example");
	e.hold = true;
	rcpt(&e, "u@x.example", NULL, RCPT_PENDING);
	mailq_text_entry(&out, &e, false, &t);
	envelope_clear(&e);

	/* held and being delivered: '*' wins */
	entry(&e, "F00001", 0, 946684799, "a@b.example");
	e.hold = true;
	rcpt(&e, "v@x.example", NULL, RCPT_PENDING);
	mailq_text_entry(&out, &e, true, &t);
	envelope_clear(&e);

	mailq_text_end(&out, &t);
	read_data("mailq_text.golden", &want);
	expect_text(&out, want.data, want.len, "four-entry listing");
	cr_expect_eq(t.requests, 4);
	cr_expect_eq(t.bytes, 301796);
	buf_clear(&out);
	buf_clear(&want);
}

struct lcase {
	const char *id;
	bool busy;
	bool hold;
	long long size;
	int64_t arrival;
	const char *sender;
	const char *line;	/* the message line */
};

static const struct lcase lcases[] = {
	{ "BD6E2A768D1", false, false, 296, 1606497562, "a@x",
	    "BD6E2A768D1     296 Fri Nov 27 17:19:22  a@x\n" },
	{ "BD6E2A768D1", true, false, 296, 1606497562, "a@x",
	    "BD6E2A768D1*     296 Fri Nov 27 17:19:22  a@x\n" },
	{ "BD6E2A768D1", false, true, 296, 1606497562, "a@x",
	    "BD6E2A768D1!     296 Fri Nov 27 17:19:22  a@x\n" },
	{ "ABCDEF", false, false, 7, 1738573445, "a@x",
	    "ABCDEF            7 Mon Feb  3 09:04:05  a@x\n" },
	{ "ABCDEF", true, false, 1234567, 1738573445, "",
	    "ABCDEF*     1234567 Mon Feb  3 09:04:05  MAILER-DAEMON\n" },
	{ "ABCDEF", false, true, 12345678, 1739538245, NULL,
	    "ABCDEF!     12345678 Fri Feb 14 13:04:05  MAILER-DAEMON\n" },
	{ "0123456789ABCDEF", false, false, 0, 0, "a@x",
	    "0123456789ABCDEF       0 Thu Jan  1 00:00:00  a@x\n" },
};

static size_t lcases_idx[sizeof lcases / sizeof lcases[0]];

static struct criterion_test_params
index_params(size_t *idx, size_t n)
{
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	return cr_make_param_array(size_t, idx, n);
}

ParameterizedTestParameters(mailq, text_message_line)
{
	return index_params(lcases_idx, sizeof lcases / sizeof lcases[0]);
}

ParameterizedTest(size_t *ip, mailq, text_message_line)
{
	const struct lcase *c = &lcases[*ip];
	struct envelope e;
	struct mailq_totals t = { 0, 1 };	/* not the first: no header line */
	struct buf out = BUF_INIT;
	struct buf want = BUF_INIT;

	entry(&e, c->id, c->size, c->arrival, c->sender);
	e.hold = c->hold;
	mailq_text_entry(&out, &e, c->busy, &t);
	buf_putc(&want, '\n');		/* the blank line between messages */
	buf_puts(&want, c->line);
	expect_text(&out, want.data, want.len, c->id);
	cr_expect_eq(t.requests, 2);
	cr_expect_eq(t.bytes, (unsigned long long)c->size);
	envelope_clear(&e);
	buf_clear(&out);
	buf_clear(&want);
}

Test(mailq, text_only_pending_listed)
{
	struct envelope e;
	struct mailq_totals t = { 0, 1 };
	struct buf out = BUF_INIT;

	entry(&e, "ABCDEF1", 10, 1738573445, "a@x");
	rcpt(&e, "sent@x", "250 ok", RCPT_SENT);
	rcpt(&e, "bounced@x", "550 no", RCPT_BOUNCED);
	rcpt(&e, "pending@x", NULL, RCPT_PENDING);
	mailq_text_entry(&out, &e, false, &t);
	const char *want = "\nABCDEF1          10 Mon Feb  3 09:04:05  a@x\n"
	    "                                         pending@x\n";
	expect_text(&out, want, strlen(want), "pending only");
	cr_expect_null(strstr(buf_cstr(&out), "sent@x"));
	cr_expect_null(strstr(buf_cstr(&out), "bounced@x"));
	cr_expect_null(strstr(buf_cstr(&out), "250 ok"));
	envelope_clear(&e);
	buf_clear(&out);
}

Test(mailq, text_footer)
{
	static const struct {
		unsigned long long bytes;
		unsigned long requests;
		const char *want;
	} f[] = {
		{ 0, 0, "Mail queue is empty\n" },
		{ 0, 1, "\n-- 0 Kbytes in 1 Request.\n" },
		{ 1023, 1, "\n-- 0 Kbytes in 1 Request.\n" },
		{ 1024, 2, "\n-- 1 Kbytes in 2 Requests.\n" },
		{ 2047, 3, "\n-- 1 Kbytes in 3 Requests.\n" },
		{ 10ULL << 30, 12345, "\n-- 10485760 Kbytes in 12345 Requests.\n" },
	};
	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
		struct mailq_totals t = { f[i].bytes, f[i].requests };
		struct buf out = BUF_INIT;
		mailq_text_end(&out, &t);
		cr_expect_str_eq(buf_cstr(&out), f[i].want, "case %zu", i);
		buf_clear(&out);
	}
}

/* A reason is printer-unsafe peer text: it must not break the listing into
 * extra lines or send control sequences to the terminal (Postfix's showq
 * passes every field through printable()). */
Test(mailq, text_reason_control_bytes_stay_on_one_line)
{
	struct envelope e;
	struct mailq_totals t = { 0, 1 };
	struct buf out = BUF_INIT;

	entry(&e, "ABCDEF1", 10, 1738573445, "a@x");
	rcpt(&e, "r@x", "450 busy\nFAKE0000001      1 Mon Feb  3 09:04:05  evil@x\r\x1b[2J", RCPT_PENDING);
	mailq_text_entry(&out, &e, false, &t);
	size_t lines = 0;
	for (size_t i = 0; i < out.len; i++) {
		unsigned char c = (unsigned char)out.data[i];
		lines += c == '\n';
		cr_expect(c == '\n' || c >= 0x20, "control byte 0x%02x at %zu in:\n%s", c, i, buf_cstr(&out));
	}
	cr_expect_eq(lines, 4, "blank, message, reason and recipient lines; got:\n%s", buf_cstr(&out));
	envelope_clear(&e);
	buf_clear(&out);
}

/* ---- JSON ---- */

Test(mailq, json_postfix_example)
{
	struct envelope e;
	struct buf out = BUF_INIT;
	entry(&e, "E60C8A76797", 253, 1795799962, "");
	e.attempts = 1;
	rcpt(&e, "bob@remote.example", "connect to \xe2\x80\xa6: Connection refused", RCPT_PENDING);
	mailq_json_entry(&out, &e, false);
	const char *want = "{\"queue_name\": \"deferred\", \"queue_id\": \"E60C8A76797\", "
	    "\"arrival_time\": 1795799962, \"message_size\": 253, \"forced_expire\": false, "
	    "\"sender\": \"MAILER-DAEMON\", \"recipients\": [{\"address\": \"bob@remote.example\", "
	    "\"delay_reason\": \"connect to \xe2\x80\xa6: Connection refused\"}]}\n";
	expect_text(&out, want, strlen(want), "JSON line");
	envelope_clear(&e);
	buf_clear(&out);
}

Test(mailq, json_recipients)
{
	struct envelope e;
	struct buf out = BUF_INIT;
	entry(&e, "ABCDEF1", 10, 1738573445, "a@x");
	rcpt(&e, "p1@x", NULL, RCPT_PENDING);
	rcpt(&e, "s@x", "250 ok", RCPT_SENT);
	rcpt(&e, "p2@x", "450 later", RCPT_PENDING);
	rcpt(&e, "b@x", "550 no", RCPT_BOUNCED);
	mailq_json_entry(&out, &e, false);
	const char *want = "{\"queue_name\": \"incoming\", \"queue_id\": \"ABCDEF1\", "
	    "\"arrival_time\": 1738573445, \"message_size\": 10, \"forced_expire\": false, "
	    "\"sender\": \"a@x\", \"recipients\": [{\"address\": \"p1@x\"}, "
	    "{\"address\": \"p2@x\", \"delay_reason\": \"450 later\"}]}\n";
	expect_text(&out, want, strlen(want), "JSON recipients");
	envelope_clear(&e);

	/* no pending recipient: an empty array */
	buf_reset(&out);
	entry(&e, "ABCDEF2", 0, 0, NULL);
	rcpt(&e, "s@x", NULL, RCPT_SENT);
	mailq_json_entry(&out, &e, false);
	want = "{\"queue_name\": \"incoming\", \"queue_id\": \"ABCDEF2\", \"arrival_time\": 0, "
	    "\"message_size\": 0, \"forced_expire\": false, \"sender\": \"MAILER-DAEMON\", "
	    "\"recipients\": []}\n";
	expect_text(&out, want, strlen(want), "JSON no recipients");
	envelope_clear(&e);
	buf_clear(&out);
}

Test(mailq, json_queue_names)
{
	static const struct {
		bool busy, hold;
		unsigned attempts;
		const char *name;
	} q[] = {
		{ false, false, 0, "incoming" },
		{ false, false, 3, "deferred" },
		{ false, true, 0, "hold" },
		{ false, true, 3, "hold" },
		{ true, false, 0, "active" },
		{ true, false, 3, "active" },
	};
	for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
		struct envelope e;
		struct buf out = BUF_INIT;
		char want[64];
		entry(&e, "ABCDEF1", 1, 1, "a@x");
		e.hold = q[i].hold;
		e.attempts = q[i].attempts;
		mailq_json_entry(&out, &e, q[i].busy);
		snprintf(want, sizeof want, "{\"queue_name\": \"%s\", ", q[i].name);
		cr_expect_eq(strncmp(buf_cstr(&out), want, strlen(want)), 0, "case %zu: %s", i,
		    buf_cstr(&out));
		envelope_clear(&e);
		buf_clear(&out);
	}
}

struct jcase {
	const char *in;
	const char *out;
};

/* Forms on which RFC 8259 and Postfix's json_quote() agree. */
static const struct jcase jcases[] = {
	{ "", "\"\"" },
	{ "plain text", "\"plain text\"" },
	{ "say \"hi\"", "\"say \\\"hi\\\"\"" },
	{ "C:\\dir\\", "\"C:\\\\dir\\\\\"" },
	{ "\\\"", "\"\\\\\\\"\"" },
	{ "a\x01z", "\"a\\u0001z\"" },
	{ "\x02\x03\x10\x19", "\"\\u0002\\u0003\\u0010\\u0019\"" },
	{ "slash / kept", "\"slash / kept\"" },
	{ "\xc3\xa9t\xc3\xa9 \xe2\x82\xac", "\"\xc3\xa9t\xc3\xa9 \xe2\x82\xac\"" },
	{ "<a@x>", "\"<a@x>\"" },
};

Test(mailq, json_string_escaping)
{
	for (size_t i = 0; i < sizeof jcases / sizeof jcases[0]; i++) {
		struct buf out = BUF_INIT;
		mailq_json_string(&out, jcases[i].in);
		cr_expect_str_eq(buf_cstr(&out), jcases[i].out, "case %zu", i);
		buf_clear(&out);
	}
}

static int
hexv(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A minimal decoder for one JSON string (ASCII \u escapes only);
 * false on anything RFC 8259 does not allow. */
static bool
json_decode(const char *s, size_t n, struct buf *out)
{
	if (n < 2 || s[0] != '"' || s[n - 1] != '"')
		return false;
	for (size_t i = 1; i < n - 1; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == '"')
			return false;
		if (c != '\\') {
			buf_putc(out, c);
			continue;
		}
		if (++i >= n - 1)
			return false;
		switch (s[i]) {
		case '"': buf_putc(out, '"'); break;
		case '\\': buf_putc(out, '\\'); break;
		case '/': buf_putc(out, '/'); break;
		case 'b': buf_putc(out, '\b'); break;
		case 'f': buf_putc(out, '\f'); break;
		case 'n': buf_putc(out, '\n'); break;
		case 'r': buf_putc(out, '\r'); break;
		case 't': buf_putc(out, '\t'); break;
		case 'u': {
			if (i + 4 >= n - 1)
				return false;
			int v = 0;
			for (int k = 1; k <= 4; k++) {
				int h = hexv(s[i + k]);
				if (h < 0)
					return false;
				v = v * 16 + h;
			}
			if (v == 0 || v > 0x7f)
				return false;
			buf_putc(out, v);
			i += 4;
			break;
		}
		default:
			return false;
		}
	}
	return true;
}

/* Every byte 0x01..0x7f: the output is a valid JSON string that decodes
 * back to the input. */
Test(mailq, json_string_every_ascii_byte_round_trips)
{
	char in[128];
	for (int c = 1; c < 128; c++)
		in[c - 1] = (char)c;
	in[127] = 0;
	struct buf out = BUF_INIT, back = BUF_INIT;
	mailq_json_string(&out, in);
	cr_expect(json_decode(out.data, out.len, &back), "not a valid JSON string: %s", buf_cstr(&out));
	cr_expect_str_eq(buf_cstr(&back), in);
	buf_clear(&out);
	buf_clear(&back);
}

/* postqueue -j byte compatibility: Postfix's json_quote() writes the short
 * escapes \b \f \n \r \t and upper-case \u00XX for other controls and DEL. */
Test(mailq, json_string_postfix_short_escapes)
{
	struct buf out = BUF_INIT;
	mailq_json_string(&out, "a\nb\tc\rd\be\ff\x1bg\x7fh");
	cr_expect_str_eq(buf_cstr(&out), "\"a\\nb\\tc\\rd\\be\\ff\\u001Bg\\u007Fh\"");
	buf_clear(&out);
}

/* RFC 8259 8.1: JSON text is UTF-8.  A reason is peer text and may hold
 * any byte; the line must still be valid UTF-8 (Postfix prints '?' for
 * a byte that is not). */
static bool
valid_utf8(const unsigned char *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned char c = p[i];
		size_t k;
		unsigned min;
		unsigned v;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			k = 1, min = 0x80, v = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			k = 2, min = 0x800, v = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			k = 3, min = 0x10000, v = c & 0x07;
		} else {
			return false;
		}
		if (i + k >= n)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if (i + j >= n || (p[i + j] & 0xc0) != 0x80)
				return false;
			v = (v << 6) | (p[i + j] & 0x3f);
		}
		if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

Test(mailq, json_line_is_utf8)
{
	struct envelope e;
	struct buf out = BUF_INIT;
	entry(&e, "ABCDEF1", 10, 1738573445, "a@x");
	rcpt(&e, "r@x", "450 caf\xe9 \xff\xfe latin-1 reply", RCPT_PENDING);
	mailq_json_entry(&out, &e, false);
	cr_expect(valid_utf8((const unsigned char *)out.data, out.len), "not UTF-8: %s", buf_cstr(&out));
	envelope_clear(&e);
	buf_clear(&out);
}
