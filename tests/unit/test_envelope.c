/* Unit tests for lib/envelope.c: the record format (client and full
 * forms), escaping, the parser's refusals, limits, the fixed-width size
 * record, NOTIFY words, and the small envelope helpers.
 *
 * The exact on-disk text of a full and a client envelope is in
 * tests/data/envelope_full.golden and tests/data/envelope_client.golden. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "envelope.h"

/* Criterion may run each test in a fresh process image: parameters are
 * indices into the static tables. */
static struct criterion_test_params
index_params(size_t *idx, size_t n)
{
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	return cr_make_param_array(size_t, idx, n);
}

/* Reads tests/data/NAME (relative to the source tree, found from
 * __FILE__ = "tests/unit/test_envelope.c" when run from the top). */
static void
read_data(const char *name, struct buf *out)
{
	char path[512];
	const char *file = __FILE__;
	const char *unit = strstr(file, "unit/test_envelope.c");
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

/* Renders bytes readably for failure messages (caller frees). */
static char *
show(const char *p, size_t n)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '\n')
			buf_puts(&b, "\\n\n");
		else if (c < 0x20 || c >= 0x7f || c == '\\')
			buf_printf(&b, "\\x%02x", c);
		else
			buf_putc(&b, c);
	}
	buf_putc(&b, 0);
	return buf_steal(&b);
}

static void
assert_bytes(const struct buf *got, const char *want, size_t wlen, const char *what)
{
	if (got->len == wlen && memcmp(got->data, want, wlen) == 0)
		return;
	char *g = show(got->data ? got->data : "", got->len), *w = show(want, wlen);
	cr_expect_fail("%s differs:\n--- got ---\n%s\n--- want ---\n%s", what, g, w);
	free(g);
	free(w);
}

/* Every record line (version line through the empty line) holds only
 * 0x21..0x7e in its values; returns false with a note otherwise. */
static bool
records_clean(const char *text, size_t len, char *note, size_t notelen)
{
	size_t pos = 0, lineno = 0;
	while (pos < len) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		if (nl == NULL) {
			snprintf(note, notelen, "unterminated line at %zu", pos);
			return false;
		}
		size_t n = (size_t)(nl - line);
		pos += n + 1;
		lineno++;
		if (lineno == 1)
			continue;
		if (n == 0)
			return true;
		const char *colon = memchr(line, ':', n);
		if (colon == NULL) {
			snprintf(note, notelen, "line %zu has no colon", lineno);
			return false;
		}
		/* after "key:" comes either nothing or " " then the value(s) */
		const char *v = colon + 1;
		if (v < line + n && *v == ' ')
			v++;
		bool rcpt = (size_t)(colon - line) == 4 && memcmp(line, "rcpt", 4) == 0;
		for (const char *p = v; p < line + n; p++) {
			unsigned char c = (unsigned char)*p;
			if (rcpt && c == ' ')
				continue;	/* the field separator */
			if (c < 0x21 || c > 0x7e) {
				snprintf(note, notelen, "line %zu has byte 0x%02x", lineno, c);
				return false;
			}
		}
	}
	snprintf(note, notelen, "no empty line ends the envelope");
	return false;
}

/* The envelope the golden files describe. */
static void
golden_envelope(struct envelope *e)
{
	envelope_init(e);
	snprintf(e->id, sizeof e->id, "B56EBA768D2");
	e->arrival_sec = 1738573445;
	e->arrival_usec = 42;
	e->uid = 1000;
	e->size = 296;
	e->attempts = 2;
	e->next_retry = 1738574000;
	e->hold = true;
	e->sender = strdup("root@sat.example.com");
	e->fullname = strdup("J\xc3\xb6rg 100% M\xc3\xbcller\n");
	e->envid = strdup("env id");
	e->ret = strdup("hdrs");
	e->body = strdup("8bitmime");
	e->smtputf8 = true;
	cr_assert(envelope_add_rcpt(e, "bob@remote.example", "Bob@Remote.Example",
	    NOTIFY_SUCCESS | NOTIFY_FAILURE));
	cr_assert(envelope_add_rcpt(e, "carol@remote.example", NULL, 0));
	e->rcpt[1].owner = strdup("owner-list@sat.example.com");
	e->rcpt[1].state = RCPT_SENT;
	snprintf(e->rcpt[1].dsn, sizeof e->rcpt[1].dsn, "2.0.0");
	e->rcpt[1].reason = strdup("250 2.0.0 Ok: queued as X");
	cr_assert(envelope_add_rcpt(e, "j\xc3\xb6rg@b\xc3\xbc" "cher.example", NULL, NOTIFY_NEVER));
	e->rcpt[2].state = RCPT_BOUNCED;
	snprintf(e->rcpt[2].dsn, sizeof e->rcpt[2].dsn, "5.1.1");
	e->rcpt[2].reason = strdup("550 5.1.1 <j\xc3\xb6rg>: no such user\r\n");
	cr_assert(envelope_add_rcpt(e, "archive@sat.example.com", NULL, 0));
	e->rcpt[3].type = RCPT_COMMAND;
	e->rcpt[3].target = strdup("/usr/bin/procmail -a \"100%\"");
	cr_assert(envelope_add_rcpt(e, "files@sat.example.com", NULL, 0));
	e->rcpt[4].type = RCPT_FILE;
	e->rcpt[4].target = strdup("/var/mail/archive box");
}

static bool
str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Field-by-field equality; with client_only, the queue-set fields of b
 * must be at their initial values instead. */
static void
assert_env_eq(const struct envelope *a, const struct envelope *b, bool client_only)
{
	if (client_only) {
		cr_expect_str_eq(b->id, "");
		cr_expect_eq(b->arrival_sec, 0);
		cr_expect_eq(b->arrival_usec, 0);
		cr_expect_eq(b->uid, -1);
		cr_expect_eq(b->size, -1);
		cr_expect_eq(b->attempts, 0);
		cr_expect_eq(b->next_retry, 0);
		cr_expect_not(b->hold);
		cr_expect_not(b->delay_warned);
	} else {
		cr_expect_str_eq(b->id, a->id);
		cr_expect_eq(b->arrival_sec, a->arrival_sec);
		cr_expect_eq(b->arrival_usec, a->arrival_usec);
		cr_expect_eq(b->uid, a->uid);
		cr_expect_eq(b->size, a->size < 0 ? 0 : a->size);
		cr_expect_eq(b->attempts, a->attempts);
		cr_expect_eq(b->next_retry, a->next_retry);
		cr_expect_eq(b->hold, a->hold);
		cr_expect_eq(b->delay_warned, a->delay_warned);
	}
	cr_expect_str_eq(envelope_sender(b), envelope_sender(a));
	cr_expect(str_eq(a->fullname, b->fullname), "fullname");
	cr_expect(str_eq(a->envid, b->envid), "envid");
	cr_expect(str_eq(a->ret, b->ret), "ret");
	cr_expect(str_eq(a->body, b->body), "body");
	cr_expect_eq(a->smtputf8, b->smtputf8);
	cr_assert_eq(b->nrcpt, a->nrcpt);
	for (size_t i = 0; i < a->nrcpt; i++) {
		const struct rcpt *x = &a->rcpt[i], *y = &b->rcpt[i];
		cr_expect_str_eq(y->addr, x->addr, "rcpt %zu addr", i);
		cr_expect(str_eq(x->orig, y->orig), "rcpt %zu orig", i);
		cr_expect(str_eq(x->owner, y->owner), "rcpt %zu owner", i);
		cr_expect(str_eq(x->reason, y->reason), "rcpt %zu reason", i);
		cr_expect_str_eq(y->dsn, x->dsn, "rcpt %zu dsn", i);
		cr_expect_eq(y->notify, x->notify, "rcpt %zu notify", i);
		cr_expect_eq(y->state, x->state, "rcpt %zu state", i);
		cr_expect_eq(y->type, x->type, "rcpt %zu type", i);
		cr_expect(str_eq(x->target, y->target), "rcpt %zu target", i);
	}
}

/* ---- exact record text ---- */

Test(envelope, golden_full_form)
{
	struct envelope e;
	struct buf out = BUF_INIT, want = BUF_INIT;
	size_t off = 0;

	golden_envelope(&e);
	read_data("envelope_full.golden", &want);
	envelope_format(&e, false, &out, &off);
	assert_bytes(&out, want.data, want.len, "full form");
	cr_expect_eq(memcmp(out.data + off, "000000000296\n", 13), 0);
	envelope_clear(&e);
	buf_clear(&out);
	buf_clear(&want);
}

Test(envelope, golden_client_form)
{
	struct envelope e;
	struct buf out = BUF_INIT, want = BUF_INIT;
	size_t off = 777;

	golden_envelope(&e);
	read_data("envelope_client.golden", &want);
	envelope_format(&e, true, &out, &off);
	assert_bytes(&out, want.data, want.len, "client form");
	cr_expect_eq(off, 777, "size_off must not be touched without a size record");
	envelope_clear(&e);
	buf_clear(&out);
	buf_clear(&want);
}

Test(envelope, round_trip_both_forms)
{
	for (int client = 0; client <= 1; client++) {
		struct envelope e, back;
		struct buf out = BUF_INIT, again = BUF_INIT, why = BUF_INIT;
		size_t used = 0;
		char note[128];

		golden_envelope(&e);
		envelope_format(&e, client, &out, NULL);
		cr_expect(records_clean(out.data, out.len, note, sizeof note), "%s", note);
		buf_puts(&out, "Subject: message follows\n");
		envelope_init(&back);
		cr_assert(envelope_parse(&back, out.data, out.len, &used, &why),
		    "client=%d: %s", client, buf_cstr(&why));
		cr_expect_eq(used, out.len - strlen("Subject: message follows\n"));
		assert_env_eq(&e, &back, client);
		/* formatting what was parsed gives the same bytes */
		envelope_format(&back, client, &again, NULL);
		assert_bytes(&again, out.data, used, "re-formatted envelope");
		envelope_clear(&e);
		envelope_clear(&back);
		buf_clear(&out);
		buf_clear(&again);
		buf_clear(&why);
	}
}

/* ---- values that must survive escaping ---- */

struct vcase {
	const char *value;
	size_t len;		/* 0 = strlen */
};

static char all_bytes[256];	/* 0x01..0xff, filled by the test */

static const struct vcase vcases[] = {
	{ "plain", 0 },
	{ "with spaces  and\ttabs", 0 },
	{ "100% sure %41 %%", 0 },
	{ "line one\nline two\n", 0 },
	{ "cr\rlone and crlf\r\n", 0 },
	{ "\x01\x02\x1b[31m\x7f", 0 },
	{ "\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7", 0 },
	{ "\xff\xfe\x80 bare high bytes", 0 },
	{ " leading and trailing ", 0 },
	{ "=:,<>\"\\'`", 0 },
	{ "", 0 },
	{ NULL, 255 },		/* all_bytes */
};

static size_t vcases_idx[sizeof vcases / sizeof vcases[0]];

ParameterizedTestParameters(envelope, values_round_trip)
{
	return index_params(vcases_idx, sizeof vcases / sizeof vcases[0]);
}

ParameterizedTest(size_t *ip, envelope, values_round_trip)
{
	const struct vcase *c = &vcases[*ip];
	for (int i = 0; i < 255; i++)
		all_bytes[i] = (char)(i + 1);
	all_bytes[255] = 0;
	const char *v = c->value ? c->value : all_bytes;

	for (int client = 0; client <= 1; client++) {
		struct envelope e, back;
		struct buf out = BUF_INIT, why = BUF_INIT;
		size_t used;
		char note[128];

		envelope_init(&e);
		e.sender = strdup("a@example.org");
		e.fullname = strdup(v);
		e.envid = strdup(v);
		cr_assert(envelope_add_rcpt(&e, "b@example.org", NULL, 0));
		e.rcpt[0].reason = strdup(v);
		envelope_format(&e, client, &out, NULL);
		cr_expect(records_clean(out.data, out.len, note, sizeof note),
		    "case %zu: %s", *ip, note);
		/* exactly one rcpt record and one end line */
		size_t nrcpt_lines = 0;
		for (size_t i = 0; i + 5 <= out.len; i++)
			if ((i == 0 || out.data[i - 1] == '\n') && memcmp(out.data + i, "rcpt:", 5) == 0)
				nrcpt_lines++;
		cr_expect_eq(nrcpt_lines, 1);
		char *dbl = memmem(out.data, out.len, "\n\n", 2);
		cr_expect(dbl != NULL && (size_t)(dbl - out.data) == out.len - 2,
		    "case %zu: an empty line before the end", *ip);
		envelope_init(&back);
		cr_assert(envelope_parse(&back, out.data, out.len, &used, &why),
		    "case %zu: %s", *ip, buf_cstr(&why));
		cr_expect_eq(used, out.len);
		cr_expect_str_eq(back.fullname, v, "case %zu fullname", *ip);
		cr_expect_str_eq(back.envid, v, "case %zu envid", *ip);
		cr_assert_eq(back.nrcpt, 1);
		cr_expect_str_eq(back.rcpt[0].reason, v, "case %zu reason", *ip);
		envelope_clear(&e);
		envelope_clear(&back);
		buf_clear(&out);
		buf_clear(&why);
	}
}

/* Addresses: null sender, UTF-8 local parts and domains, quoted locals. */
static const char *const acases[] = {
	"",
	"user@example.org",
	"j\xc3\xb6rg@b\xc3\xbc" "cher.example",
	"\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a",
	"\"john doe\"@example.org",
	"user+tag%x@example.org",
	"postmaster",
};

static size_t acases_idx[sizeof acases / sizeof acases[0]];

ParameterizedTestParameters(envelope, addresses_round_trip)
{
	return index_params(acases_idx, sizeof acases / sizeof acases[0]);
}

ParameterizedTest(size_t *ip, envelope, addresses_round_trip)
{
	const char *a = acases[*ip];
	struct envelope e, back;
	struct buf out = BUF_INIT, why = BUF_INIT;
	size_t used;
	char note[128];

	envelope_init(&e);
	e.sender = strdup(a);
	if (*a)
		cr_assert(envelope_add_rcpt(&e, a, a, NOTIFY_FAILURE));
	cr_assert(envelope_add_rcpt(&e, "other@example.org", NULL, 0));
	envelope_format(&e, false, &out, NULL);
	cr_expect(records_clean(out.data, out.len, note, sizeof note), "%s", note);
	envelope_init(&back);
	cr_assert(envelope_parse(&back, out.data, out.len, &used, &why), "[%s]: %s", a,
	    buf_cstr(&why));
	assert_env_eq(&e, &back, false);
	envelope_clear(&e);
	envelope_clear(&back);
	buf_clear(&out);
	buf_clear(&why);
}

Test(envelope, null_sender_record)
{
	struct envelope e, back;
	struct buf out = BUF_INIT, why = BUF_INIT;
	size_t used;

	envelope_init(&e);		/* sender NULL */
	cr_expect_str_eq(envelope_sender(&e), "");
	cr_assert(envelope_add_rcpt(&e, "b@example.org", NULL, 0));
	envelope_format(&e, true, &out, NULL);
	assert_bytes(&out, "satmail-envelope 1\nsender: \nrcpt: addr=b@example.org state=pending\n\n",
	    strlen("satmail-envelope 1\nsender: \nrcpt: addr=b@example.org state=pending\n\n"),
	    "null sender");
	envelope_init(&back);
	cr_assert(envelope_parse(&back, out.data, out.len, &used, &why), "%s", buf_cstr(&why));
	cr_expect_str_eq(envelope_sender(&back), "");
	/* "sender:" without the space is the same null sender */
	envelope_clear(&back);
	const char *t = "satmail-envelope 1\nsender:\nrcpt: addr=b@example.org\n\n";
	cr_assert(envelope_parse(&back, t, strlen(t), &used, &why), "%s", buf_cstr(&why));
	cr_expect_str_eq(envelope_sender(&back), "");
	envelope_clear(&e);
	envelope_clear(&back);
	buf_clear(&out);
	buf_clear(&why);
}

/* ---- injection ---- */

static const char *const evil[] = {
	"a@b\nrcpt: addr=evil@x",
	"x\nrcpt: addr=evil@x state=pending\n",
	"x\r\nrcpt: addr=evil@x\r\n",
	"x addr=evil@x state=sent",
	"x\n\nrcpt: addr=evil@x\n",
	"x%0Arcpt:%20addr=evil@x",
	"\nhold: yes\nid: 123456\n",
};

static size_t evil_idx[sizeof evil / sizeof evil[0]];

ParameterizedTestParameters(envelope, injection)
{
	return index_params(evil_idx, sizeof evil / sizeof evil[0]);
}

ParameterizedTest(size_t *ip, envelope, injection)
{
	const char *m = evil[*ip];

	/* as free text: parses back to the one real recipient, value intact */
	struct envelope e, back;
	struct buf out = BUF_INIT, why = BUF_INIT;
	size_t used;
	envelope_init(&e);
	e.sender = strdup("real@example.org");
	e.fullname = strdup(m);
	e.envid = strdup(m);
	cr_assert(envelope_add_rcpt(&e, "real@example.org", NULL, 0));
	e.rcpt[0].reason = strdup(m);
	envelope_format(&e, true, &out, NULL);
	envelope_init(&back);
	cr_assert(envelope_parse(&back, out.data, out.len, &used, &why), "%s", buf_cstr(&why));
	cr_expect_eq(used, out.len);
	cr_expect_eq(back.nrcpt, 1, "case %zu: %zu recipients", *ip, back.nrcpt);
	cr_expect_str_eq(back.rcpt[0].addr, "real@example.org");
	cr_expect_eq(back.rcpt[0].state, RCPT_PENDING);
	cr_expect_str_eq(back.rcpt[0].reason, m);
	cr_expect_str_eq(back.fullname, m);
	cr_expect_not(back.hold);
	cr_expect_str_eq(back.id, "");
	envelope_clear(&back);

	/* as the sender (an invalid address): whatever the parser says, it
	 * never yields the injected recipient */
	free(e.sender);
	e.sender = strdup(m);
	buf_reset(&out);
	envelope_format(&e, true, &out, NULL);
	envelope_init(&back);
	buf_reset(&why);
	if (envelope_parse(&back, out.data, out.len, &used, &why)) {
		cr_expect_eq(back.nrcpt, 1);
		cr_expect_not(envelope_has_rcpt(&back, "evil@x"));
	}
	envelope_clear(&back);
	envelope_clear(&e);
	buf_clear(&out);
	buf_clear(&why);
}

/* ---- escape / unescape ---- */

struct ecase {
	const char *in;
	const char *out;
};

static const struct ecase ecases[] = {
	{ "", "" },
	{ "abc", "abc" },
	{ "a b", "a%20b" },
	{ "100%", "100%25" },
	{ "%41", "%2541" },
	{ "\n", "%0A" },
	{ "\r\n", "%0D%0A" },
	{ "\t", "%09" },
	{ "\x01\x1f", "%01%1F" },
	{ "!~", "!~" },
	{ "\x7f", "%7F" },
	{ "\x80\xff", "%80%FF" },
	{ "\xc3\xa9", "%C3%A9" },
	{ "a=b:c,d<e>", "a=b:c,d<e>" },
};

Test(envelope, escape_table)
{
	for (size_t i = 0; i < sizeof ecases / sizeof ecases[0]; i++) {
		struct buf b = BUF_INIT, back = BUF_INIT;
		envelope_escape(&b, ecases[i].in);
		cr_expect_str_eq(buf_cstr(&b), ecases[i].out, "escape case %zu", i);
		cr_expect(envelope_unescape(&back, b.data ? b.data : "", b.len), "unescape case %zu", i);
		cr_expect_str_eq(buf_cstr(&back), ecases[i].in, "unescape case %zu", i);
		buf_clear(&b);
		buf_clear(&back);
	}
}

Test(envelope, escape_every_byte)
{
	static const char hex[] = "0123456789ABCDEF";
	for (int c = 1; c < 256; c++) {
		char in[2] = { (char)c, 0 };
		struct buf b = BUF_INIT, back = BUF_INIT;
		envelope_escape(&b, in);
		if (c > 0x20 && c < 0x7f && c != '%') {
			cr_expect_eq(b.len, 1, "byte 0x%02x", c);
			cr_expect_eq((unsigned char)b.data[0], c);
		} else {
			char want[4] = { '%', hex[c >> 4], hex[c & 15], 0 };
			cr_expect_str_eq(buf_cstr(&b), want, "byte 0x%02x", c);
		}
		for (size_t i = 0; i < b.len; i++)
			cr_expect((unsigned char)b.data[i] >= 0x21 && (unsigned char)b.data[i] <= 0x7e,
			    "byte 0x%02x escapes to a byte 0x%02x", c, (unsigned char)b.data[i]);
		cr_expect(envelope_unescape(&back, b.data, b.len));
		cr_expect_eq(back.len, 1);
		cr_expect_eq((unsigned char)back.data[0], c);
		buf_clear(&b);
		buf_clear(&back);
	}
}

struct ucase {
	const char *in;
	bool ok;
	const char *out;
};

static const struct ucase ucases[] = {
	{ "%41", true, "A" },
	{ "%c3%A9", true, "\xc3\xa9" },
	{ "a%25b", true, "a%b" },
	{ "%2525", true, "%25" },
	{ "%0A%0d", true, "\n\r" },
	{ "%zz", false, NULL },
	{ "%00", false, NULL },
	{ "a%00b", false, NULL },
	{ "%4", false, NULL },
	{ "ab%4", false, NULL },
	{ "%", false, NULL },
	{ "%4g", false, NULL },
	{ "%g4", false, NULL },
	{ "% 41", false, NULL },
	{ "a b", false, NULL },
	{ "a\nb", false, NULL },
	{ "a\rb", false, NULL },
	{ "\x01", false, NULL },
	{ "\x7f", false, NULL },
	{ "\xc3\xa9", false, NULL },
};

Test(envelope, unescape_table)
{
	for (size_t i = 0; i < sizeof ucases / sizeof ucases[0]; i++) {
		struct buf b = BUF_INIT;
		bool ok = envelope_unescape(&b, ucases[i].in, strlen(ucases[i].in));
		cr_expect_eq(ok, ucases[i].ok, "unescape [%s]", ucases[i].in);
		if (ok && ucases[i].ok)
			cr_expect_str_eq(buf_cstr(&b), ucases[i].out, "unescape [%s]", ucases[i].in);
		buf_clear(&b);
	}
	/* the length bounds the input: "%41" cut to 2 bytes is truncated */
	struct buf b = BUF_INIT;
	cr_expect_not(envelope_unescape(&b, "%41", 2));
	buf_reset(&b);
	cr_expect(envelope_unescape(&b, "ab%41", 2));
	cr_expect_str_eq(buf_cstr(&b), "ab");
	buf_clear(&b);
}

/* ---- parser refusals ---- */

#define V	"satmail-envelope 1\n"

struct rcase {
	const char *text;
	const char *why;	/* substring of the reason */
};

static const struct rcase rcases[] = {
	{ "", "empty envelope" },
	{ "sender: a@x\n\n", "bad version line" },
	{ "satmail-envelope 2\nsender: a@x\n\n", "bad version line" },
	{ "satmail-envelope 1 \nsender: a@x\n\n", "bad version line" },
	{ "satmail-envelope 1\r\nsender: a@x\n\n", "bad version line" },
	{ "Satmail-Envelope 1\n\n", "bad version line" },
	{ "\nsatmail-envelope 1\n\n", "bad version line" },
	{ "satmail-envelope 1", "incomplete" },
	{ V, "incomplete" },
	{ V "sender: a@x\n", "incomplete" },
	{ V "sender: a@x\nrcpt: addr=b@y", "incomplete" },
	/* escapes */
	{ V "fullname: a%zz\n\n", "bad escape in envelope record 2" },
	{ V "fullname: %00\n\n", "bad escape" },
	{ V "fullname: a%4\n\n", "bad escape" },
	{ V "fullname: a%\n\n", "bad escape" },
	{ V "fullname: a b\n\n", "bad escape" },
	{ V "fullname: a\r\n\n", "bad escape" },
	{ V "fullname: a\x01\n\n", "bad escape" },
	{ V "fullname: \xc3\xa9\n\n", "bad escape" },
	{ V "sender: a@x\nenvid: %4\n\n", "bad escape in envelope record 3" },
	{ V "rcpt: addr=a@x reason=%zz\n\n", "bad escape in rcpt field reason" },
	{ V "rcpt: addr=a@x reason=%00\n\n", "bad escape in rcpt field reason" },
	{ V "rcpt: addr=a@x reason=%4\n\n", "bad escape in rcpt field reason" },
	{ V "rcpt: addr=a%zz@x\n\n", "bad escape in rcpt field addr" },
	{ V "rcpt: addr=a@x\r\n\n", "bad escape in rcpt field addr" },
	/* recipients */
	{ V "rcpt: state=pending\n\n", "rcpt record without addr" },
	{ V "rcpt: \n\n", "rcpt record without addr" },
	{ V "rcpt:\n\n", "rcpt record without addr" },
	{ V "rcpt: addr=\n\n", "invalid recipient address" },
	{ V "rcpt: addr=a@@x\n\n", "invalid recipient address" },
	{ V "rcpt: addr=%3Ca@x%3E\n\n", "invalid recipient address" },
	{ V "rcpt: addr=a%20b@x\n\n", "invalid recipient address" },
	{ V "rcpt: addr=a@x orig=b@@y\n\n", "invalid recipient address" },
	{ V "rcpt: addr=a@x owner=%3C%3E\n\n", "invalid recipient address" },
	{ V "rcpt: addr=a@x junk\n\n", "rcpt field without '='" },
	{ V "rcpt: addr=a@x state=queued\n\n", "bad rcpt state" },
	{ V "rcpt: addr=a@x state=Pending\n\n", "bad rcpt state" },
	{ V "rcpt: addr=a@x state=\n\n", "bad rcpt state" },
	{ V "rcpt: addr=a@x notify=sometimes\n\n", "bad notify value" },
	{ V "rcpt: addr=a@x notify=never,success\n\n", "bad notify value" },
	{ V "rcpt: addr=a@x notify=failure,never\n\n", "bad notify value" },
	{ V "rcpt: addr=a@x notify=\n\n", "bad notify value" },
	{ V "rcpt: addr=a@x dsn=1234567890123456\n\n", "bad dsn code" },
	{ V "rcpt: addr=a@x type=mbox\n\n", "bad rcpt type" },
	{ V "rcpt: addr=a@x type=File target=/x\n\n", "bad rcpt type" },
	{ V "rcpt: addr=a@x type=file\n\n", "rcpt type and target do not match" },
	{ V "rcpt: addr=a@x type=file target=\n\n", "rcpt type and target do not match" },
	{ V "rcpt: addr=a@x type=file target=relative/path\n\n", "rcpt type and target do not match" },
	{ V "rcpt: addr=a@x type=command\n\n", "rcpt type and target do not match" },
	{ V "rcpt: addr=a@x target=/x\n\n", "rcpt type and target do not match" },
	/* invalid addresses in the sender */
	{ V "sender: a@@x\n\n", "bad value in envelope record 2 (sender)" },
	{ V "sender: a%20b@x\n\n", "bad value in envelope record 2 (sender)" },
	{ V "sender: %3Ca@x%3E\n\n", "bad value in envelope record 2 (sender)" },
	/* numbers and enumerations */
	{ V "id: AB-12\n\n", "bad queue id record" },
	{ V "id: \n\n", "bad queue id record" },
	{ V "id: 0123456789ABCDEF0123456789ABCDEF\n\n", "bad queue id record" },
	{ V "arrival: 1.1000000\n\n", "bad value in envelope record 2 (arrival)" },
	{ V "arrival: 1.2.3\n\n", "bad value" },
	{ V "arrival: -5\n\n", "bad value" },
	{ V "arrival: x\n\n", "bad value" },
	{ V "arrival: \n\n", "bad value" },
	{ V "uid: 2147483648\n\n", "bad value in envelope record 2 (uid)" },
	{ V "uid: -2\n\n", "bad value" },
	{ V "uid: 12a\n\n", "bad value" },
	{ V "size: -1\n\n", "bad value in envelope record 2 (size)" },
	{ V "size: 99999999999999999999\n\n", "bad value" },
	{ V "size: +5\n\n", "bad value" },
	{ V "size: \n\n", "bad value" },
	{ V "attempts: 1000001\n\n", "bad value in envelope record 2 (attempts)" },
	{ V "next-retry: -1\n\n", "bad value" },
	{ V "ret: partial\n\n", "bad value in envelope record 2 (ret)" },
	{ V "ret: FULL\n\n", "bad value" },
	{ V "body: binarymime\n\n", "bad value in envelope record 2 (body)" },
	/* record shape */
	{ V "sender:a@x\n\n", "malformed envelope record 2" },
	{ V "nocolon\n\n", "malformed envelope record 2" },
	{ V "sender: a@x\nrcpt:addr=a@x\n\n", "malformed envelope record 3" },
};

static size_t rcases_idx[sizeof rcases / sizeof rcases[0]];

ParameterizedTestParameters(envelope, parse_rejects)
{
	return index_params(rcases_idx, sizeof rcases / sizeof rcases[0]);
}

ParameterizedTest(size_t *ip, envelope, parse_rejects)
{
	const struct rcase *c = &rcases[*ip];
	struct envelope e;
	struct buf why = BUF_INIT;
	size_t used = 12345;

	envelope_init(&e);
	bool ok = envelope_parse(&e, c->text, strlen(c->text), &used, &why);
	char *t = show(c->text, strlen(c->text));
	cr_expect_not(ok, "accepted: %s", t);
	if (!ok) {
		cr_expect(strstr(buf_cstr(&why), c->why) != NULL,
		    "input %s\nreason [%s] lacks [%s]", t, buf_cstr(&why), c->why);
		cr_expect_eq(used, 12345, "used must not be set on failure");
		cr_expect_null(strchr(buf_cstr(&why), '\n'), "reason must be one line");
	}
	free(t);
	envelope_clear(&e);
	buf_clear(&why);
}

Test(envelope, record_too_long)
{
	struct buf t = BUF_INIT, why = BUF_INIT;
	struct envelope e;
	size_t used;

	/* a record of exactly ENVELOPE_MAX_LINE bytes is fine ... */
	buf_puts(&t, V "x-filler: ");
	while (t.len - strlen(V) < ENVELOPE_MAX_LINE)
		buf_putc(&t, 'a');
	buf_puts(&t, "\n\n");
	envelope_init(&e);
	cr_expect(envelope_parse(&e, t.data, t.len, &used, &why), "%s", buf_cstr(&why));
	envelope_clear(&e);
	/* ... one more byte is not */
	buf_reset(&t);
	buf_puts(&t, V "x-filler: ");
	while (t.len - strlen(V) < ENVELOPE_MAX_LINE + 1)
		buf_putc(&t, 'a');
	buf_puts(&t, "\n\n");
	envelope_init(&e);
	buf_reset(&why);
	cr_expect_not(envelope_parse(&e, t.data, t.len, &used, &why));
	cr_expect(strstr(buf_cstr(&why), "envelope record 2 too long") != NULL, "%s", buf_cstr(&why));
	envelope_clear(&e);
	buf_clear(&t);
	buf_clear(&why);
}

Test(envelope, too_many_recipients)
{
	struct buf t = BUF_INIT, why = BUF_INIT;
	struct envelope e;
	size_t used;

	buf_puts(&t, V "sender: a@x\n");
	for (int i = 0; i < ENVELOPE_MAX_RCPT; i++)
		buf_printf(&t, "rcpt: addr=r%d@example.org\n", i);
	size_t at_limit = t.len;
	buf_puts(&t, "\n");
	envelope_init(&e);
	cr_assert(envelope_parse(&e, t.data, t.len, &used, &why), "%s", buf_cstr(&why));
	cr_expect_eq(e.nrcpt, ENVELOPE_MAX_RCPT);
	envelope_clear(&e);

	t.len = at_limit;
	buf_puts(&t, "rcpt: addr=one-too-many@example.org\n\n");
	envelope_init(&e);
	buf_reset(&why);
	cr_expect_not(envelope_parse(&e, t.data, t.len, &used, &why));
	cr_expect(strstr(buf_cstr(&why), "more than 10000 recipients") != NULL, "%s", buf_cstr(&why));
	envelope_clear(&e);
	buf_clear(&t);
	buf_clear(&why);
}

Test(envelope, envelope_over_max_bytes)
{
	struct buf t = BUF_INIT, why = BUF_INIT;
	struct envelope e;
	size_t used;

	buf_puts(&t, V "sender: a@x\n");
	while (t.len <= ENVELOPE_MAX_BYTES)
		buf_puts(&t, "x-filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n");
	buf_puts(&t, "\n");
	envelope_init(&e);
	cr_expect_not(envelope_parse(&e, t.data, t.len, &used, &why));
	cr_expect(strstr(buf_cstr(&why), "incomplete") != NULL, "%s", buf_cstr(&why));
	envelope_clear(&e);
	buf_clear(&t);
	buf_clear(&why);
}

/* ---- tolerance ---- */

struct tcase {
	const char *text;
	const char *sender;
	size_t nrcpt;
	const char *rcpt0;	/* NULL when nrcpt == 0 */
	enum rcpt_state state0;
	bool hold;
	bool smtputf8;
};

static const struct tcase tcases[] = {
	{ V "future-key: whatever\nsender: a@x\n\n", "a@x", 0, NULL, RCPT_PENDING, false, false },
	{ V "x-new:\nsender: a@x\nx-new: \n\n", "a@x", 0, NULL, RCPT_PENDING, false, false },
	{ V ": empty-key\nsender: a@x\n\n", "a@x", 0, NULL, RCPT_PENDING, false, false },
	{ V "sender: a@x\nrcpt: addr=b@y color=blue state=sent x-kind=mbox\n\n", "a@x", 1, "b@y", RCPT_SENT, false, false },
	{ V "rcpt: x-first=1 addr=b@y x-later=%41%42 state=bounced\n\n", "", 1, "b@y", RCPT_BOUNCED, false, false },
	{ V "rcpt: type=file target=/tmp/x%20y addr=b@y\n\n", "", 1, "b@y", RCPT_PENDING, false, false },
	{ V "rcpt: addr=b@y  state=sent \n\n", "", 1, "b@y", RCPT_SENT, false, false },
	{ V "hold: no\nsmtputf8: no\n\n", "", 0, NULL, RCPT_PENDING, false, false },
	{ V "hold: yes\nsmtputf8: yes\n\n", "", 0, NULL, RCPT_PENDING, true, true },
	{ V "sender: a@x\nsender: c@z\n\n", "c@z", 0, NULL, RCPT_PENDING, false, false },
};

static size_t tcases_idx[sizeof tcases / sizeof tcases[0]];

ParameterizedTestParameters(envelope, parse_tolerates)
{
	return index_params(tcases_idx, sizeof tcases / sizeof tcases[0]);
}

ParameterizedTest(size_t *ip, envelope, parse_tolerates)
{
	const struct tcase *c = &tcases[*ip];
	struct envelope e;
	struct buf why = BUF_INIT;
	size_t used = 0;

	envelope_init(&e);
	cr_assert(envelope_parse(&e, c->text, strlen(c->text), &used, &why),
	    "case %zu: %s", *ip, buf_cstr(&why));
	cr_expect_eq(used, strlen(c->text));
	cr_expect_str_eq(envelope_sender(&e), c->sender);
	cr_assert_eq(e.nrcpt, c->nrcpt);
	if (c->nrcpt) {
		cr_expect_str_eq(e.rcpt[0].addr, c->rcpt0);
		cr_expect_eq(e.rcpt[0].state, c->state0);
	}
	cr_expect_eq(e.hold, c->hold);
	cr_expect_eq(e.smtputf8, c->smtputf8);
	envelope_clear(&e);
	buf_clear(&why);
}

Test(envelope, used_points_at_message)
{
	const char *t = V "sender: a@x\nrcpt: addr=b@y\n\nFrom: a@x\n\nbody\n\n";
	struct envelope e;
	struct buf why = BUF_INIT;
	size_t used = 0;

	envelope_init(&e);
	cr_assert(envelope_parse(&e, t, strlen(t), &used, &why), "%s", buf_cstr(&why));
	cr_expect_str_eq(t + used, "From: a@x\n\nbody\n\n");
	envelope_clear(&e);
	/* the parser never reads past len */
	envelope_init(&e);
	cr_expect_not(envelope_parse(&e, t, strlen(V "sender: a@x\n"), &used, &why));
	envelope_clear(&e);
	buf_clear(&why);
}

/* ---- the size record ---- */

struct scase {
	long long size;
	const char *digits;
};

static const struct scase scases[] = {
	{ -1, "000000000000" },
	{ 0, "000000000000" },
	{ 1, "000000000001" },
	{ 296, "000000000296" },
	{ 999999999999LL, "999999999999" },
};

Test(envelope, size_record_fixed_width)
{
	cr_assert_eq(ENVELOPE_SIZE_WIDTH, 12);
	for (size_t i = 0; i < sizeof scases / sizeof scases[0]; i++) {
		struct envelope e, back;
		struct buf out = BUF_INIT, why = BUF_INIT;
		size_t off = 0, used;

		envelope_init(&e);
		snprintf(e.id, sizeof e.id, "ABCDEF1");
		e.size = scases[i].size;
		cr_assert(envelope_add_rcpt(&e, "b@example.org", NULL, 0));
		envelope_format(&e, false, &out, &off);
		cr_assert(off >= 6 && off + ENVELOPE_SIZE_WIDTH < out.len);
		cr_expect_eq(memcmp(out.data + off - 6, "size: ", 6), 0, "case %zu", i);
		cr_expect_eq(memcmp(out.data + off, scases[i].digits, ENVELOPE_SIZE_WIDTH), 0,
		    "case %zu: [%.*s]", i, ENVELOPE_SIZE_WIDTH, out.data + off);
		cr_expect_eq(out.data[off + ENVELOPE_SIZE_WIDTH], '\n');
		/* the same length whatever the size: it is patched in place */
		struct envelope z;
		struct buf zout = BUF_INIT;
		envelope_init(&z);
		snprintf(z.id, sizeof z.id, "ABCDEF1");
		cr_assert(envelope_add_rcpt(&z, "b@example.org", NULL, 0));
		envelope_format(&z, false, &zout, NULL);
		cr_expect_eq(zout.len, out.len);
		/* patching the digits is read back */
		memcpy(out.data + off, "000000004242", ENVELOPE_SIZE_WIDTH);
		envelope_init(&back);
		cr_assert(envelope_parse(&back, out.data, out.len, &used, &why), "%s", buf_cstr(&why));
		cr_expect_eq(back.size, 4242);
		envelope_clear(&e);
		envelope_clear(&z);
		envelope_clear(&back);
		buf_clear(&out);
		buf_clear(&zout);
		buf_clear(&why);
	}
}

/* ---- NOTIFY ---- */

struct ncase {
	const char *in;
	bool ok;
	unsigned bits;
};

static const struct ncase ncases[] = {
	{ "never", true, NOTIFY_NEVER },
	{ "NEVER", true, NOTIFY_NEVER },
	{ "success", true, NOTIFY_SUCCESS },
	{ "delay", true, NOTIFY_DELAY },
	{ "failure", true, NOTIFY_FAILURE },
	{ "Failure", true, NOTIFY_FAILURE },
	{ "success,failure", true, NOTIFY_SUCCESS | NOTIFY_FAILURE },
	{ "failure,success", true, NOTIFY_SUCCESS | NOTIFY_FAILURE },
	{ "success,delay,failure", true, NOTIFY_SUCCESS | NOTIFY_DELAY | NOTIFY_FAILURE },
	{ "SUCCESS, Delay", true, NOTIFY_SUCCESS | NOTIFY_DELAY },
	{ "success,,failure", true, NOTIFY_SUCCESS | NOTIFY_FAILURE },
	{ " delay ", true, NOTIFY_DELAY },
	{ "success\tdelay", true, NOTIFY_SUCCESS | NOTIFY_DELAY },
	{ "delay,delay", true, NOTIFY_DELAY },
	{ "", false, 0 },
	{ ",", false, 0 },
	{ " , ", false, 0 },
	{ "never,success", false, 0 },
	{ "success,never", false, 0 },
	{ "never,delay,failure", false, 0 },
	{ "bogus", false, 0 },
	{ "succes", false, 0 },
	{ "successes", false, 0 },
	{ "nevers", false, 0 },
	{ "success;delay", false, 0 },
	{ "success,bogus", false, 0 },
	{ "success=1", false, 0 },
};

static size_t ncases_idx[sizeof ncases / sizeof ncases[0]];

ParameterizedTestParameters(envelope, notify_parse)
{
	return index_params(ncases_idx, sizeof ncases / sizeof ncases[0]);
}

ParameterizedTest(size_t *ip, envelope, notify_parse)
{
	const struct ncase *c = &ncases[*ip];
	unsigned bits = 0x5500;
	bool ok = envelope_notify_parse(c->in, &bits);
	cr_expect_eq(ok, c->ok, "[%s]", c->in);
	if (c->ok)
		cr_expect_eq(bits, c->bits, "[%s]: %#x", c->in, bits);
	else
		cr_expect_eq(bits, 0x5500, "[%s]: output changed on failure", c->in);
}

Test(envelope, notify_format)
{
	static const struct {
		unsigned bits;
		const char *text;
	} f[] = {
		{ 0, "" },
		{ NOTIFY_NEVER, "never" },
		{ NOTIFY_FAILURE, "failure" },
		{ NOTIFY_FAILURE | NOTIFY_SUCCESS, "success,failure" },
		{ NOTIFY_DELAY | NOTIFY_FAILURE | NOTIFY_SUCCESS, "success,delay,failure" },
	};
	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
		struct buf b = BUF_INIT;
		unsigned back = 0;
		envelope_notify_format(f[i].bits, &b);
		cr_expect_str_eq(buf_cstr(&b), f[i].text);
		if (f[i].bits) {
			cr_expect(envelope_notify_parse(buf_cstr(&b), &back));
			cr_expect_eq(back, f[i].bits);
		}
		buf_clear(&b);
	}
}

/* ---- helpers ---- */

Test(envelope, has_rcpt_case_insensitive)
{
	struct envelope e;
	envelope_init(&e);
	cr_expect_not(envelope_has_rcpt(&e, "bob@example.org"));
	cr_assert(envelope_add_rcpt(&e, "Bob@Example.ORG", NULL, 0));
	cr_assert(envelope_add_rcpt(&e, "carol@example.org", "Carol@X", NOTIFY_DELAY));
	cr_expect(envelope_has_rcpt(&e, "Bob@Example.ORG"));
	cr_expect(envelope_has_rcpt(&e, "bob@example.org"));
	cr_expect(envelope_has_rcpt(&e, "BOB@EXAMPLE.ORG"));
	cr_expect(envelope_has_rcpt(&e, "CAROL@example.org"));
	cr_expect_not(envelope_has_rcpt(&e, "bob@example.org."));
	cr_expect_not(envelope_has_rcpt(&e, "bo@example.org"));
	cr_expect_not(envelope_has_rcpt(&e, "Carol@X"), "orig is not a recipient");
	cr_expect_not(envelope_has_rcpt(&e, ""));
	/* strings were copied */
	cr_expect_str_eq(e.rcpt[1].orig, "Carol@X");
	cr_expect_eq(e.rcpt[1].notify, NOTIFY_DELAY);
	cr_expect_eq(e.rcpt[1].state, RCPT_PENDING);
	cr_expect_null(e.rcpt[0].orig);
	envelope_clear(&e);
	cr_expect_eq(e.nrcpt, 0);
	cr_expect_null(e.rcpt);
	cr_expect_eq(e.uid, -1);
	cr_expect_eq(e.size, -1);
}

Test(envelope, pending_count)
{
	struct envelope e;
	envelope_init(&e);
	cr_expect_eq(envelope_pending(&e), 0);
	for (int i = 0; i < 5; i++) {
		char a[32];
		snprintf(a, sizeof a, "r%d@example.org", i);
		cr_assert(envelope_add_rcpt(&e, a, NULL, 0));
	}
	cr_expect_eq(envelope_pending(&e), 5);
	e.rcpt[0].state = RCPT_SENT;
	e.rcpt[3].state = RCPT_BOUNCED;
	cr_expect_eq(envelope_pending(&e), 3);
	e.rcpt[1].state = e.rcpt[2].state = e.rcpt[4].state = RCPT_SENT;
	cr_expect_eq(envelope_pending(&e), 0);
	envelope_clear(&e);
}

Test(envelope, add_rcpt_limit)
{
	struct envelope e;
	envelope_init(&e);
	for (int i = 0; i < ENVELOPE_MAX_RCPT; i++)
		cr_assert(envelope_add_rcpt(&e, "r@example.org", NULL, 0), "rcpt %d", i);
	cr_expect_not(envelope_add_rcpt(&e, "r@example.org", NULL, 0));
	cr_expect_eq(e.nrcpt, ENVELOPE_MAX_RCPT);
	envelope_clear(&e);
}

Test(envelope, state_names)
{
	cr_expect_str_eq(envelope_state_name(RCPT_PENDING), "pending");
	cr_expect_str_eq(envelope_state_name(RCPT_SENT), "sent");
	cr_expect_str_eq(envelope_state_name(RCPT_BOUNCED), "bounced");
}

/* delay-warned (deliver.c's one delay notice) survives the full form and
 * is never taken from a client. */
Test(envelope, delay_warned_record)
{
	struct envelope a, b, c;
	struct buf full = BUF_INIT, client = BUF_INIT, why = BUF_INIT;
	envelope_init(&a);
	envelope_init(&b);
	envelope_init(&c);
	cr_assert(envelope_add_rcpt(&a, "bob@example.org", NULL, 0));
	a.delay_warned = true;
	envelope_format(&a, false, &full, NULL);
	cr_expect(strstr(buf_cstr(&full), "\ndelay-warned: yes\n") != NULL, "%s", buf_cstr(&full));
	cr_assert(envelope_parse(&b, full.data, full.len, NULL, &why), "%s", buf_cstr(&why));
	cr_expect(b.delay_warned);
	envelope_format(&a, true, &client, NULL);
	cr_expect(strstr(buf_cstr(&client), "delay-warned") == NULL);
	cr_assert(envelope_parse(&c, client.data, client.len, NULL, &why), "%s", buf_cstr(&why));
	cr_expect_not(c.delay_warned);
	envelope_clear(&a);
	envelope_clear(&b);
	envelope_clear(&c);
	buf_clear(&full);
	buf_clear(&client);
	buf_clear(&why);
}
