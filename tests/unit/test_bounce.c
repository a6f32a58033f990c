/* Unit tests for lib/bounce.c: the RFC 3464 report.
 *
 * Each report is generated into memory and read back with the small MIME
 * reader below (header fields with unfolding, the multipart split, the
 * delivery-status blocks), so every field is checked by name, value and
 * order.  The three-recipient failure report and a delay notice are also
 * compared byte for byte with tests/data/bounce/{failed,delayed}.golden
 * (TZ=UTC, fixed `now`; SATMAIL_UPDATE_GOLDEN=1 rewrites them), and the
 * failure report is parsed once more by Python's email package.
 *
 * The original message sits after some other bytes in a temporary file,
 * as it does in a queue entry, so the offset is exercised everywhere. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bounce.h"
#include "buf.h"
#include "conf.h"
#include "envelope.h"
#include "msg.h"
#include "status.h"

#define NOW		((time_t)1700000000)	/* Tue, 14 Nov 2023 22:13:20 UTC */
#define ARRIVAL		1699990000LL		/* Tue, 14 Nov 2023 19:26:40 UTC */
#define QID		"4B1C2D3E4F"
#define BOUNDARY	QID ".1700000000/mx.example.org"

static void
utc(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
}

TestSuite(bounce, .init = utc);

/* ---- fixtures -------------------------------------------------------- */

static struct conf *
load_conf(const char *extra)
{
	char path[] = "/tmp/test_bounce.conf.XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	struct buf text = BUF_INIT;
	buf_printf(&text, "myhostname = mx.example.org\nmydomain = example.org\n"
	    "myorigin = example.org\n%s", extra ? extra : "");
	cr_assert(write(fd, text.data, text.len) == (ssize_t)text.len);
	close(fd);
	struct buf why = BUF_INIT;
	struct conf *c = conf_load(path, true, &why);
	cr_assert_not_null(c, "conf_load: %s", buf_cstr(&why));
	unlink(path);
	buf_clear(&why);
	buf_clear(&text);
	return c;
}

#define PREFIX	"satmail-envelope 1\nid: " QID "\nsize: 000000000123\n\n"

/* A file holding PREFIX then msg; returns the fd (file already unlinked)
 * and the message's offset. */
static int
original_fd(const char *msg, size_t len, long long *off)
{
	char path[] = "/tmp/test_bounce.msg.XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	unlink(path);
	cr_assert(write(fd, PREFIX, strlen(PREFIX)) == (ssize_t)strlen(PREFIX));
	cr_assert(write(fd, msg, len) == (ssize_t)len);
	*off = (long long)strlen(PREFIX);
	return fd;
}

static const char ORIGINAL[] =
    "From: Alice <alice@example.com>\n"
    "To: staff@example.org, bob@remote.example,\n"
    "\tcarol@example.org\n"
    "Subject: Lunch on Friday\n"
    "Message-ID: <20231114192640.4B1C2D3E4F@example.com>\n"
    "Date: Tue, 14 Nov 2023 19:26:40 +0000 (UTC)\n"
    "\n"
    "Hello all,\n"
    "--not-the-boundary\n"
    "\n"
    "see you there.\n";

/* The header section of ORIGINAL, without the empty line. */
static size_t
original_head_len(const char *msg)
{
	const char *p = strstr(msg, "\n\n");
	return p ? (size_t)(p - msg) + 1 : strlen(msg);
}

static void
make_envelope(struct envelope *e, const char *sender)
{
	envelope_init(e);
	snprintf(e->id, sizeof e->id, "%s", QID);
	e->arrival_sec = ARRIVAL;
	e->sender = sender ? strdup(sender) : NULL;
	e->envid = strdup("ENV-42");
}

#define BOB_REPLY	"550 5.1.1 <bob@remote.example>: Recipient address rejected: " \
			"User unknown in virtual mailbox table"
#define BOB_REASON	"host mx.remote.example[192.0.2.25] said: " BOB_REPLY \
			" (in reply to RCPT TO command)"

static const struct bounce_rcpt THREE[] = {
	{ .addr = "bob@remote.example", .dsn = "5.1.1", .diagnostic = BOB_REPLY,
	  .reason = BOB_REASON, .remote = true, .remote_mta = "mx.remote.example" },
	{ .addr = "carol@example.org", .dsn = "5.1.1",
	  .diagnostic = "unknown user: \"carol\"" },
	{ .addr = "dave@example.org", .orig = "staff@example.org", .dsn = "5.2.2",
	  .diagnostic = "mailbox full" },
};

struct capture {
	struct buf out;
	size_t calls, max_piece;
	size_t fail_after;	/* fail once this many bytes were taken; 0 = never */
	struct status *set_on_fail;	/* set PERM here when failing */
};

static bool
sink(void *ctx, const char *p, size_t n)
{
	struct capture *cap = ctx;
	cap->calls++;
	if (n > cap->max_piece)
		cap->max_piece = n;
	if (cap->fail_after && cap->out.len + n > cap->fail_after) {
		if (cap->set_on_fail)
			status_set(cap->set_on_fail, STATUS_PERM, "5.3.4", 0, "sink full");
		return false;
	}
	buf_append(&cap->out, p, n);
	return true;
}

/* Generates a report into out; asserts success. */
static void
generate(const struct conf *c, enum bounce_kind kind, const struct envelope *e,
    const struct bounce_rcpt *r, size_t n, const char *msg, size_t msglen, struct buf *out)
{
	struct capture cap = { BUF_INIT, 0, 0, 0, NULL };
	struct status st;
	long long off = 0;
	int fd = msg ? original_fd(msg, msglen, &off) : -1;

	status_init(&st);
	bool ok = bounce_write(c, kind, e, r, n, fd, off, msg ? (long long)msglen : 0, e->id,
	    NOW, sink, &cap, &st);
	cr_assert(ok, "bounce_write: %s %s", st.dsn, buf_cstr(&st.text));
	cr_assert_eq(st.cls, STATUS_OK);
	cr_assert_leq(cap.max_piece, 2 * BOUNCE_CHUNK, "a sink piece of %zu bytes", cap.max_piece);
	if (fd >= 0)
		close(fd);
	buf_append(out, cap.out.data, cap.out.len);
	buf_clear(&cap.out);
	status_clear(&st);
}

/* ---- a small MIME reader --------------------------------------------- */

#define MAX_FIELDS	64
#define MAX_PARTS	8
#define MAX_BLOCKS	16

struct field {
	char *name;
	char *value;	/* unfolded (line breaks removed), leading blanks skipped */
};

struct fields {
	struct field v[MAX_FIELDS];
	size_t n;
};

struct part {
	struct fields h;
	const char *body;
	size_t body_len;
};

struct report {
	struct fields h;
	char *boundary;
	const char *preamble;
	size_t preamble_len;
	struct part part[MAX_PARTS];
	size_t nparts;
	size_t opening, closing;	/* delimiter lines seen */
	bool closing_last;		/* "--B--\n" ends the text */
};

/* Reads header fields from p[0..len) up to an empty line (or the end);
 * returns the offset after that line. */
static size_t
parse_fields(const char *p, size_t len, struct fields *f)
{
	size_t pos = 0;
	f->n = 0;
	while (pos < len) {
		const char *nl = memchr(p + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - p) : len;
		if (end == pos)
			return pos + 1;
		if (p[pos] == ' ' || p[pos] == '\t') {
			cr_assert(f->n > 0, "continuation line without a field");
			struct field *last = &f->v[f->n - 1];
			size_t ol = strlen(last->value);
			last->value = realloc(last->value, ol + (end - pos) + 1);
			memcpy(last->value + ol, p + pos, end - pos);
			last->value[ol + (end - pos)] = 0;
		} else {
			const char *colon = memchr(p + pos, ':', end - pos);
			cr_assert_not_null(colon, "not a header field: %.*s", (int)(end - pos), p + pos);
			cr_assert_lt(f->n, MAX_FIELDS);
			struct field *nf = &f->v[f->n++];
			nf->name = strndup(p + pos, (size_t)(colon - (p + pos)));
			const char *v = colon + 1;
			while (v < p + end && (*v == ' ' || *v == '\t'))
				v++;
			nf->value = strndup(v, (size_t)(p + end - v));
		}
		pos = end + 1;
	}
	return len;
}

static void
fields_free(struct fields *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->v[i].name);
		free(f->v[i].value);
	}
	f->n = 0;
}

static const char *
get(const struct fields *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcasecmp(f->v[i].name, name) == 0)
			return f->v[i].value;
	return NULL;
}

static void
expect_names(const struct fields *f, const char *const *names, const char *what)
{
	size_t n = 0;
	while (names[n])
		n++;
	cr_expect_eq(f->n, n, "%s: %zu fields, want %zu", what, f->n, n);
	for (size_t i = 0; i < n && i < f->n; i++)
		cr_expect_str_eq(f->v[i].name, names[i], "%s: field %zu", what, i);
}

static void
expect_field(const struct fields *f, const char *name, const char *want)
{
	const char *got = get(f, name);
	cr_expect_not_null(got, "no %s field", name);
	if (got)
		cr_expect_str_eq(got, want, "%s", name);
}

/* Splits a report: top-level fields, boundary from Content-Type, then the
 * body at delimiter lines.  A part's body excludes the LF that precedes
 * the next delimiter (RFC 2046: it belongs to the delimiter). */
static void
parse_report(const struct buf *text, struct report *rp)
{
	memset(rp, 0, sizeof *rp);
	size_t pos = parse_fields(text->data, text->len, &rp->h);
	const char *ct = get(&rp->h, "Content-Type");
	cr_assert_not_null(ct);
	const char *b = strstr(ct, "boundary=\"");
	cr_assert_not_null(b, "no boundary in %s", ct);
	b += strlen("boundary=\"");
	const char *q = strchr(b, '"');
	cr_assert_not_null(q);
	rp->boundary = strndup(b, (size_t)(q - b));

	size_t bl = strlen(rp->boundary);
	const char *body = text->data + pos;
	size_t len = text->len - pos, start = 0;
	bool in_part = false;
	for (size_t p = 0; p < len;) {
		const char *nl = memchr(body + p, '\n', len - p);
		size_t end = nl ? (size_t)(nl - body) : len;
		size_t ll = end - p;
		bool open = ll == bl + 2 && memcmp(body + p, "--", 2) == 0 &&
		    memcmp(body + p + 2, rp->boundary, bl) == 0;
		bool close = ll == bl + 4 && memcmp(body + p, "--", 2) == 0 &&
		    memcmp(body + p + 2, rp->boundary, bl) == 0 && memcmp(body + p + 2 + bl, "--", 2) == 0;
		if (open || close) {
			size_t seg_end = p > start ? p - 1 : start;	/* drop the LF before */
			if (!in_part) {
				rp->preamble = body + start;
				rp->preamble_len = seg_end - start;
			} else {
				cr_assert_lt(rp->nparts, MAX_PARTS);
				struct part *pt = &rp->part[rp->nparts++];
				size_t hl = parse_fields(body + start, seg_end - start, &pt->h);
				pt->body = body + start + hl;
				pt->body_len = seg_end - start - hl;
			}
			in_part = open;
			rp->opening += open;
			rp->closing += close;
			start = end + 1;
			if (close)
				rp->closing_last = end + 1 == len;
		}
		p = end + 1;
	}
}

static void
report_free(struct report *rp)
{
	fields_free(&rp->h);
	for (size_t i = 0; i < rp->nparts; i++)
		fields_free(&rp->part[i].h);
	free(rp->boundary);
}

/* The blocks of a message/delivery-status body. */
static size_t
parse_blocks(const struct part *pt, struct fields *blocks)
{
	size_t n = 0, pos = 0;
	while (pos < pt->body_len) {
		cr_assert_lt(n, MAX_BLOCKS);
		pos += parse_fields(pt->body + pos, pt->body_len - pos, &blocks[n]);
		if (blocks[n].n > 0)
			n++;
	}
	return n;
}

/* No CR, no NUL, no control byte but LF and TAB, no line over 998. */
static void
expect_clean_lines(const struct buf *text)
{
	size_t col = 0, longest = 0;
	for (size_t i = 0; i < text->len; i++) {
		unsigned char c = (unsigned char)text->data[i];
		cr_expect(c != '\r', "CR at %zu", i);
		cr_expect(c == '\n' || c == '\t' || (c >= 0x20 && c != 0x7f),
		    "control byte 0x%02x at %zu", c, i);
		if (c == '\n') {
			if (col > longest)
				longest = col;
			col = 0;
		} else {
			col++;
		}
	}
	cr_expect_eq(col, 0, "the text does not end with a LF");
	cr_expect_leq(longest, 998, "a line of %zu octets", longest);
}

static char *
part_body(const struct part *pt)
{
	return strndup(pt->body, pt->body_len);
}

/* The human text with its line breaks (and the indents after them) turned
 * back into single spaces, for phrase searches. */
static char *
flat(const struct part *pt)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < pt->body_len; i++) {
		if (pt->body[i] == '\n') {
			while (i + 1 < pt->body_len && pt->body[i + 1] == ' ')
				i++;
			buf_putc(&b, ' ');
		} else {
			buf_putc(&b, pt->body[i]);
		}
	}
	buf_putc(&b, 0);
	return buf_steal(&b);
}

/* ---- golden files ---------------------------------------------------- */

static void
data_path(const char *name, char *path, size_t size)
{
	const char *file = __FILE__;
	const char *unit = strstr(file, "unit/test_bounce.c");
	cr_assert_not_null(unit);
	snprintf(path, size, "%.*sdata/bounce/%s", (int)(unit - file), file, name);
}

static void
expect_golden(const struct buf *got, const char *name)
{
	char path[512];
	data_path(name, path, sizeof path);
	if (getenv("SATMAIL_UPDATE_GOLDEN")) {
		FILE *f = fopen(path, "wb");
		cr_assert_not_null(f, "cannot write %s", path);
		fwrite(got->data, 1, got->len, f);
		fclose(f);
		return;
	}
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "cannot open %s (run from the top of the tree)", path);
	struct buf want = BUF_INIT;
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(&want, chunk, n);
	fclose(f);
	cr_expect(got->len == want.len && memcmp(got->data, want.data, want.len) == 0,
	    "report differs from %s:\n--- got ---\n%s\n--- want ---\n%s", path,
	    buf_cstr(got), buf_cstr(&want));
	buf_clear(&want);
}

/* ---- the three-recipient failure report ------------------------------ */

static void
three_recipient_report(struct buf *out)
{
	struct conf *c = load_conf(NULL);
	struct envelope e;
	make_envelope(&e, "alice@example.com");
	generate(c, BOUNCE_FAILED, &e, THREE, 3, ORIGINAL, strlen(ORIGINAL), out);
	envelope_clear(&e);
	conf_free(c);
}

Test(bounce, failed_top_level)
{
	struct buf out = BUF_INIT;
	struct report rp;
	three_recipient_report(&out);
	expect_clean_lines(&out);
	parse_report(&out, &rp);

	static const char *const names[] = { "From", "Subject", "To", "References",
		"In-Reply-To", "Auto-Submitted", "MIME-Version", "Content-Type", NULL };
	expect_names(&rp.h, names, "top level");
	expect_field(&rp.h, "From", "Mail Delivery System <MAILER-DAEMON@example.org>");
	expect_field(&rp.h, "Subject", "Undelivered Mail Returned to Sender");
	expect_field(&rp.h, "To", "<alice@example.com>");
	expect_field(&rp.h, "References", "<20231114192640.4B1C2D3E4F@example.com>");
	expect_field(&rp.h, "In-Reply-To", "<20231114192640.4B1C2D3E4F@example.com>");
	expect_field(&rp.h, "Auto-Submitted", "auto-replied");
	expect_field(&rp.h, "MIME-Version", "1.0");
	expect_field(&rp.h, "Content-Type",
	    "multipart/report; report-type=delivery-status;\tboundary=\"" BOUNDARY "\"");
	cr_expect_null(get(&rp.h, "Date"), "Date is the submission path's");
	cr_expect_null(get(&rp.h, "Message-Id"), "Message-Id is the submission path's");
	cr_expect_null(get(&rp.h, "Content-Transfer-Encoding"));
	/* The folded boundary parameter, exactly. */
	cr_expect_not_null(strstr(out.data, "Content-Type: multipart/report; "
	    "report-type=delivery-status;\n\tboundary=\"" BOUNDARY "\"\n\n"));

	cr_expect_str_eq(rp.boundary, BOUNDARY);
	cr_expect_eq(rp.opening, 3, "%zu opening delimiters", rp.opening);
	cr_expect_eq(rp.closing, 1);
	cr_expect(rp.closing_last, "the closing delimiter is not the last line");
	cr_expect_eq(rp.nparts, 3);
	/* Plain substring count too: the boundary text appears 3+1 times. */
	size_t seen = 0;
	for (const char *p = out.data; (p = strstr(p, "\n--" BOUNDARY)) != NULL; p++)
		seen++;
	cr_expect_eq(seen, 4, "boundary appears %zu times", seen);
	cr_expect(rp.preamble_len == strlen("This is a MIME-encapsulated message.\n") &&
	    memcmp(rp.preamble, "This is a MIME-encapsulated message.\n", rp.preamble_len) == 0);
	report_free(&rp);
	buf_clear(&out);
}

Test(bounce, failed_notification_part)
{
	struct buf out = BUF_INIT;
	struct report rp;
	three_recipient_report(&out);
	parse_report(&out, &rp);
	cr_assert_geq(rp.nparts, 1);
	const struct part *p1 = &rp.part[0];
	static const char *const names[] = { "Content-Description", "Content-Type", NULL };
	expect_names(&p1->h, names, "part 1");
	expect_field(&p1->h, "Content-Description", "Notification");
	expect_field(&p1->h, "Content-Type", "text/plain; charset=us-ascii");

	char *text = part_body(p1);
	cr_expect_not_null(strstr(text, "at host mx.example.org."), "%s", text);
	/* One paragraph per recipient, wrapped at 79 with a 4-space indent. */
	cr_expect_not_null(strstr(text, "\n<carol@example.org>: unknown user: \"carol\"\n\n"));
	/* The last paragraph ends the part (its empty line is the LF before
	 * the delimiter). */
	const char *dave = "\n<dave@example.org> (expanded from <staff@example.org>): mailbox full\n";
	cr_expect(strlen(text) > strlen(dave) &&
	    strcmp(text + strlen(text) - strlen(dave), dave) == 0, "%s", text);
	const char *bob = strstr(text, "\n<bob@remote.example>: ");
	cr_assert_not_null(bob, "%s", text);
	bob++;
	struct buf joined = BUF_INIT;
	const char *p = bob;
	for (bool first = true; *p && *p != '\n'; first = false) {
		const char *nl = strchr(p, '\n');
		size_t ll = (size_t)(nl - p);
		cr_expect_leq(ll, 79, "line of %zu columns: %.*s", ll, (int)ll, p);
		if (!first) {
			cr_expect(ll > 4 && memcmp(p, "    ", 4) == 0 && p[4] != ' ', "indent: %.*s",
			    (int)ll, p);
			buf_putc(&joined, ' ');
			buf_append(&joined, p + 4, ll - 4);
		} else {
			buf_append(&joined, p, ll);
		}
		p = nl + 1;
	}
	cr_expect_str_eq(buf_cstr(&joined), "<bob@remote.example>: " BOB_REASON);
	cr_expect_not_null(strstr(bob, "\n    "), "the long paragraph was not wrapped");
	for (const char *l = text; *l;) {
		const char *nl = strchr(l, '\n');
		cr_expect_leq((size_t)(nl - l), 79, "%.*s", (int)(nl - l), l);
		l = nl + 1;
	}
	free(text);
	buf_clear(&joined);
	report_free(&rp);
	buf_clear(&out);
}

Test(bounce, failed_delivery_status_part)
{
	struct buf out = BUF_INIT, date = BUF_INIT;
	struct report rp;
	struct fields blocks[MAX_BLOCKS];
	three_recipient_report(&out);
	parse_report(&out, &rp);
	cr_assert_geq(rp.nparts, 2);
	const struct part *p2 = &rp.part[1];
	static const char *const names[] = { "Content-Description", "Content-Type", NULL };
	expect_names(&p2->h, names, "part 2");
	expect_field(&p2->h, "Content-Description", "Delivery report");
	expect_field(&p2->h, "Content-Type", "message/delivery-status");
	for (size_t i = 0; i < p2->body_len; i++)
		cr_expect((unsigned char)p2->body[i] < 0x80, "8-bit byte in part 2");

	size_t nb = parse_blocks(p2, blocks);
	cr_assert_eq(nb, 4, "%zu blocks", nb);

	static const char *const msg_names[] = { "Reporting-MTA", "Original-Envelope-Id",
		"X-Satmail-Queue-ID", "X-Satmail-Sender", "Arrival-Date", NULL };
	expect_names(&blocks[0], msg_names, "per-message block");
	expect_field(&blocks[0], "Reporting-MTA", "dns; mx.example.org");
	expect_field(&blocks[0], "Original-Envelope-Id", "ENV-42");
	expect_field(&blocks[0], "X-Satmail-Queue-ID", QID);
	expect_field(&blocks[0], "X-Satmail-Sender", "rfc822; alice@example.com");
	expect_field(&blocks[0], "Arrival-Date", "Tue, 14 Nov 2023 19:26:40 +0000 (UTC)");
	msg_date((time_t)ARRIVAL, &date);
	expect_field(&blocks[0], "Arrival-Date", buf_cstr(&date));

	static const char *const bob_names[] = { "Final-Recipient", "Action", "Status",
		"Remote-MTA", "Diagnostic-Code", NULL };
	expect_names(&blocks[1], bob_names, "bob");
	expect_field(&blocks[1], "Final-Recipient", "rfc822; bob@remote.example");
	expect_field(&blocks[1], "Action", "failed");
	expect_field(&blocks[1], "Status", "5.1.1");
	expect_field(&blocks[1], "Remote-MTA", "dns; mx.remote.example");
	expect_field(&blocks[1], "Diagnostic-Code", "smtp; " BOB_REPLY);

	static const char *const carol_names[] = { "Final-Recipient", "Action", "Status",
		"Diagnostic-Code", NULL };
	expect_names(&blocks[2], carol_names, "carol");
	expect_field(&blocks[2], "Final-Recipient", "rfc822; carol@example.org");
	expect_field(&blocks[2], "Action", "failed");
	expect_field(&blocks[2], "Status", "5.1.1");
	expect_field(&blocks[2], "Diagnostic-Code", "X-Satmail; unknown user: \"carol\"");

	static const char *const dave_names[] = { "Final-Recipient", "Original-Recipient",
		"Action", "Status", "Diagnostic-Code", NULL };
	expect_names(&blocks[3], dave_names, "dave");
	expect_field(&blocks[3], "Final-Recipient", "rfc822; dave@example.org");
	expect_field(&blocks[3], "Original-Recipient", "rfc822;staff@example.org");
	expect_field(&blocks[3], "Action", "failed");
	expect_field(&blocks[3], "Status", "5.2.2");
	expect_field(&blocks[3], "Diagnostic-Code", "X-Satmail; mailbox full");

	/* Bob's diagnostic is longer than 78 columns: folded, not cut. */
	cr_expect_not_null(strstr(p2->body, "\nDiagnostic-Code: smtp; 550 5.1.1"));
	cr_expect_null(strstr(p2->body, "Diagnostic-Code: smtp; " BOB_REPLY "\n"),
	    "the long field is not folded");
	for (size_t i = 0; i < nb; i++)
		fields_free(&blocks[i]);
	report_free(&rp);
	buf_clear(&out);
	buf_clear(&date);
}

Test(bounce, failed_original_part)
{
	struct buf out = BUF_INIT;
	struct report rp;
	three_recipient_report(&out);
	parse_report(&out, &rp);
	cr_assert_eq(rp.nparts, 3);
	const struct part *p3 = &rp.part[2];
	static const char *const names[] = { "Content-Description", "Content-Type", NULL };
	expect_names(&p3->h, names, "part 3");
	expect_field(&p3->h, "Content-Description", "Undelivered Message");
	expect_field(&p3->h, "Content-Type", "message/rfc822");
	const char *want_rp = "Return-Path: <alice@example.com>\n";
	size_t rl = strlen(want_rp);
	cr_assert_eq(p3->body_len, rl + strlen(ORIGINAL), "part 3 is %zu bytes", p3->body_len);
	cr_expect(memcmp(p3->body, want_rp, rl) == 0);
	cr_expect(memcmp(p3->body + rl, ORIGINAL, strlen(ORIGINAL)) == 0,
	    "the original is not byte-exact");
	report_free(&rp);
	buf_clear(&out);
}

Test(bounce, failed_golden)
{
	struct buf out = BUF_INIT;
	three_recipient_report(&out);
	expect_golden(&out, "failed.golden");
	buf_clear(&out);
}

/* Runs python3 on a script and a report; true when it exits 0. */
static bool
python_accepts(const char *script, const struct buf *report)
{
	char dsn_path[] = "/tmp/test_bounce.dsn.XXXXXX", py_path[] = "/tmp/test_bounce.py.XXXXXX";
	int fd = mkstemp(dsn_path);
	cr_assert(fd >= 0);
	cr_assert(write(fd, report->data, report->len) == (ssize_t)report->len);
	close(fd);
	fd = mkstemp(py_path);
	cr_assert(fd >= 0);
	cr_assert(write(fd, script, strlen(script)) == (ssize_t)strlen(script));
	close(fd);
	char cmd[256];
	snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s >/dev/null", py_path, dsn_path);
	int rc = system(cmd);
	unlink(dsn_path);
	unlink(py_path);
	return WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
}

/* Python's email package reads the same report the same way. */
Test(bounce, python_email_package_agrees)
{
	static const char script[] =
	    "import email, sys\n"
	    "from email import policy\n"
	    "m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=policy.compat32)\n"
	    "assert m.get_content_type() == 'multipart/report', m.get_content_type()\n"
	    "assert m.get_param('report-type') == 'delivery-status'\n"
	    "assert m.get_boundary() == '" BOUNDARY "', m.get_boundary()\n"
	    "assert m['From'] == 'Mail Delivery System <MAILER-DAEMON@example.org>'\n"
	    "assert m['To'] == '<alice@example.com>'\n"
	    "assert m.preamble == 'This is a MIME-encapsulated message.\\n', repr(m.preamble)\n"
	    "parts = m.get_payload()\n"
	    "assert [p.get_content_type() for p in parts] == "
	    "['text/plain', 'message/delivery-status', 'message/rfc822'], parts\n"
	    "assert parts[0].get_content_charset() == 'us-ascii'\n"
	    "assert 'mx.example.org' in parts[0].get_payload()\n"
	    "ds = parts[1].get_payload()\n"
	    "assert len(ds) == 4, len(ds)\n"
	    "assert ds[0]['Reporting-MTA'] == 'dns; mx.example.org'\n"
	    "assert ds[0]['X-Satmail-Queue-ID'] == '" QID "'\n"
	    "assert [b['Final-Recipient'] for b in ds[1:]] == ['rfc822; bob@remote.example', "
	    "'rfc822; carol@example.org', 'rfc822; dave@example.org']\n"
	    "assert [b['Action'] for b in ds[1:]] == ['failed'] * 3\n"
	    "assert [b['Status'] for b in ds[1:]] == ['5.1.1', '5.1.1', '5.2.2']\n"
	    "assert ds[3]['Original-Recipient'] == 'rfc822;staff@example.org'\n"
	    "assert ds[1]['Diagnostic-Code'].replace('\\n', '').startswith('smtp; 550 5.1.1')\n"
	    "orig = parts[2].get_payload()[0]\n"
	    "assert orig['Return-Path'] == '<alice@example.com>'\n"
	    "assert orig['Subject'] == 'Lunch on Friday'\n"
	    "assert orig.get_payload().startswith('Hello all,')\n"
	    "for p in m.walk():\n"
	    "    assert not p.defects, p.defects\n"
	    "print('ok')\n";
	struct buf out = BUF_INIT;
	if (access("/usr/bin/python3", X_OK) != 0)
		cr_skip_test("no /usr/bin/python3");
	three_recipient_report(&out);
	cr_expect(python_accepts(script, &out), "python3 rejected the report");
	buf_clear(&out);
}

/* The same for reports built from awkward inputs: structure only. */
Test(bounce, python_reads_awkward_reports)
{
	static const char script[] =
	    "import email, sys\n"
	    "from email import policy\n"
	    "m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=policy.compat32)\n"
	    "assert m.get_content_type() == 'multipart/report'\n"
	    "assert [k for k in m.keys()] == ['From', 'Subject', 'To', 'Auto-Submitted', "
	    "'MIME-Version', 'Content-Type', 'Content-Transfer-Encoding'], m.keys()\n"
	    "parts = m.get_payload()\n"
	    "assert [p.get_content_type() for p in parts] == "
	    "['text/plain', 'message/delivery-status', 'message/rfc822'], parts\n"
	    "ds = parts[1].get_payload()\n"
	    "assert len(ds) == 2, len(ds)\n"
	    "assert list(ds[1].keys()) == ['Final-Recipient', 'Action', 'Status', 'Remote-MTA', "
	    "'Diagnostic-Code'], ds[1].keys()\n"
	    "orig = parts[2].get_payload()[0]\n"
	    "assert orig['Subject'] == 'trap', orig['Subject']\n"
	    "for p in m.walk():\n"
	    "    assert not p.defects, p.defects\n";
	/* 8-bit, colliding with the first-choice boundary, hostile diagnostic. */
	static const char msg[] = "Subject: trap\n\ncaf\xc3\xa9\n--" BOUNDARY "\n"
	    "Content-Type: text/plain\n\nfake\n--" BOUNDARY "--\n";
	struct buf out = BUF_INIT, diag = BUF_INIT;
	if (access("/usr/bin/python3", X_OK) != 0)
		cr_skip_test("no /usr/bin/python3");
	buf_puts(&diag, "550 no\r\nBcc: x@y\n\n--" BOUNDARY "--\n\x01");
	for (int i = 0; i < 1200; i++)
		buf_putc(&diag, 'z');
	const struct bounce_rcpt r[] = {
		{ .addr = "bob@remote.example", .dsn = "5.1.1", .diagnostic = buf_cstr(&diag),
		  .remote = true, .remote_mta = "mx.remote.example" },
	};
	struct conf *c = load_conf(NULL);
	struct envelope e;
	make_envelope(&e, "alice@example.com");
	generate(c, BOUNCE_FAILED, &e, r, 1, msg, strlen(msg), &out);
	expect_clean_lines(&out);
	cr_expect(python_accepts(script, &out), "python3 rejected:\n%s", buf_cstr(&out));
	buf_clear(&out);
	buf_clear(&diag);
	envelope_clear(&e);
	conf_free(c);
}

/* ---- which form of the original -------------------------------------- */

struct form_case {
	const char *name;
	enum bounce_kind kind;
	const char *ret;	/* NULL = not given */
	const char *conf;	/* extra main.cf text */
	bool headers;		/* text/rfc822-headers expected */
	const char *description;
	bool oversize_note;	/* the human text mentions bounce_size_limit */
};

static const struct form_case forms[] = {
	{ "failed, no RET", BOUNCE_FAILED, NULL, NULL, false, "Undelivered Message", false },
	{ "failed, RET=FULL", BOUNCE_FAILED, "full", NULL, false, "Undelivered Message", false },
	{ "failed, RET=HDRS", BOUNCE_FAILED, "hdrs", NULL, true, "Undelivered Message Headers",
	  false },
	{ "failed, over the limit", BOUNCE_FAILED, "full", "bounce_size_limit = 100\n", true,
	  "Undelivered Message Headers", true },
	{ "failed, at the limit", BOUNCE_FAILED, NULL, "bounce_size_limit = 262\n", false,
	  "Undelivered Message", false },
	{ "failed, one byte over", BOUNCE_FAILED, NULL, "bounce_size_limit = 261\n", true,
	  "Undelivered Message Headers", true },
	{ "delayed, no RET", BOUNCE_DELAYED, NULL, NULL, true, "Undelivered Message Headers",
	  false },
	{ "delayed, RET=FULL", BOUNCE_DELAYED, "full", NULL, false, "Undelivered Message",
	  false },
	{ "success, no RET", BOUNCE_SUCCESS, NULL, NULL, true, "Delivered Message Headers",
	  false },
	{ "success, RET=FULL", BOUNCE_SUCCESS, "full", NULL, false, "Delivered Message", false },
	{ "success, RET=HDRS", BOUNCE_SUCCESS, "hdrs", NULL, true, "Delivered Message Headers",
	  false },
};

ParameterizedTestParameters(bounce, original_form)
{
	static size_t idx[sizeof forms / sizeof forms[0]];
	for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++)
		idx[i] = i;
	return cr_make_param_array(size_t, idx, sizeof idx / sizeof idx[0]);
}

ParameterizedTest(size_t *i, bounce, original_form)
{
	const struct form_case *fc = &forms[*i];
	struct conf *c = load_conf(fc->conf);
	struct envelope e;
	struct buf out = BUF_INIT;
	struct report rp;
	make_envelope(&e, "alice@example.com");
	if (fc->ret)
		e.ret = strdup(fc->ret);
	cr_assert_eq(strlen(ORIGINAL), 262, "the limits above assume 262 bytes");
	generate(c, fc->kind, &e, THREE, 1, ORIGINAL, strlen(ORIGINAL), &out);
	expect_clean_lines(&out);
	parse_report(&out, &rp);
	cr_assert_eq(rp.nparts, 3, "%s", fc->name);
	const struct part *p3 = &rp.part[2];
	expect_field(&p3->h, "Content-Description", fc->description);
	expect_field(&p3->h, "Content-Type", fc->headers ? "text/rfc822-headers" : "message/rfc822");

	struct buf want = BUF_INIT;
	buf_puts(&want, "Return-Path: <alice@example.com>\n");
	buf_append(&want, ORIGINAL, fc->headers ? original_head_len(ORIGINAL) : strlen(ORIGINAL));
	cr_expect(p3->body_len == want.len && memcmp(p3->body, want.data, want.len) == 0,
	    "%s: part 3 is\n%.*s", fc->name, (int)p3->body_len, p3->body);
	if (fc->headers)
		cr_expect_null(strstr(out.data, "Hello all,"), "%s: the body is returned", fc->name);
	char *text = flat(&rp.part[0]);
	cr_expect_eq(strstr(text, "bounce_size_limit") != NULL, fc->oversize_note, "%s: %s",
	    fc->name, text);
	cr_expect_not_null(strstr(text, fc->headers ? "The headers of the message are attached." :
	    "The message is attached."), "%s: %s", fc->name, text);
	free(text);
	report_free(&rp);
	buf_clear(&want);
	buf_clear(&out);
	envelope_clear(&e);
	conf_free(c);
}

/* ---- the other kinds ------------------------------------------------- */

Test(bounce, delayed)
{
	struct conf *c = load_conf(NULL);
	struct envelope e;
	struct buf out = BUF_INIT, until = BUF_INIT;
	struct report rp;
	struct fields blocks[MAX_BLOCKS];
	const struct bounce_rcpt r[] = {
		{ .addr = "bob@remote.example", .dsn = "4.4.1",
		  .diagnostic = "connect to mx.remote.example[192.0.2.25]:25: Connection refused",
		  .remote = true },
		{ .addr = "erin@remote.example", .dsn = "5.1.1" /* wrong class: 4.0.0 */ },
	};
	make_envelope(&e, "alice@example.com");
	generate(c, BOUNCE_DELAYED, &e, r, 2, ORIGINAL, strlen(ORIGINAL), &out);
	expect_clean_lines(&out);
	expect_golden(&out, "delayed.golden");
	parse_report(&out, &rp);
	expect_field(&rp.h, "Subject", "Delayed Mail (still being retried)");
	cr_assert_eq(rp.nparts, 3);
	size_t nb = parse_blocks(&rp.part[1], blocks);
	cr_assert_eq(nb, 3);
	msg_date((time_t)(ARRIVAL + 5 * 86400), &until);
	static const char *const names[] = { "Final-Recipient", "Action", "Status",
		"Diagnostic-Code", "Will-Retry-Until", NULL };
	expect_names(&blocks[1], names, "bob");
	expect_field(&blocks[1], "Action", "delayed");
	expect_field(&blocks[1], "Status", "4.4.1");
	expect_field(&blocks[1], "Diagnostic-Code",
	    "smtp; connect to mx.remote.example[192.0.2.25]:25: Connection refused");
	expect_field(&blocks[1], "Will-Retry-Until", buf_cstr(&until));
	static const char *const erin_names[] = { "Final-Recipient", "Action", "Status",
		"Will-Retry-Until", NULL };
	expect_names(&blocks[2], erin_names, "erin");
	expect_field(&blocks[2], "Status", "4.0.0");
	char *text = flat(&rp.part[0]);
	cr_expect_not_null(strstr(text, "WARNING ONLY"), "%s", text);
	cr_expect_not_null(strstr(text, "<erin@remote.example>: delivery temporarily deferred"));
	free(text);
	for (size_t i = 0; i < nb; i++)
		fields_free(&blocks[i]);
	report_free(&rp);
	buf_clear(&out);
	buf_clear(&until);
	envelope_clear(&e);
	conf_free(c);
}

Test(bounce, success)
{
	struct conf *c = load_conf(NULL);
	struct envelope e;
	struct buf out = BUF_INIT;
	struct report rp;
	struct fields blocks[MAX_BLOCKS];
	const struct bounce_rcpt r[] = {
		{ .addr = "carol@example.org", .orig = "Carol@Example.ORG", .dsn = "2.0.0",
		  .diagnostic = "delivered to mailbox" },
	};
	make_envelope(&e, "alice@example.com");
	e.ret = strdup("full");
	generate(c, BOUNCE_SUCCESS, &e, r, 1, ORIGINAL, strlen(ORIGINAL), &out);
	expect_clean_lines(&out);
	parse_report(&out, &rp);
	expect_field(&rp.h, "Subject", "Successful Mail Delivery Report");
	expect_field(&rp.h, "Auto-Submitted", "auto-replied");
	cr_assert_eq(rp.nparts, 3);
	cr_assert_eq(parse_blocks(&rp.part[1], blocks), 2);
	expect_field(&blocks[1], "Action", "delivered");
	expect_field(&blocks[1], "Status", "2.0.0");
	expect_field(&blocks[1], "Original-Recipient", "rfc822;Carol@Example.ORG");
	expect_field(&blocks[1], "Diagnostic-Code", "X-Satmail; delivered to mailbox");
	cr_expect_null(get(&blocks[1], "Will-Retry-Until"));
	expect_field(&rp.part[2].h, "Content-Description", "Delivered Message");
	char *text = part_body(&rp.part[0]);
	/* orig equals addr but for case: not "expanded from". */
	cr_expect_not_null(strstr(text, "\n<carol@example.org>: delivered to mailbox\n"), "%s", text);
	free(text);
	fields_free(&blocks[0]);
	fields_free(&blocks[1]);
	report_free(&rp);
	buf_clear(&out);
	envelope_clear(&e);
	conf_free(c);
}

/* A double bounce, written for the postmaster. */
Test(bounce, null_sender_is_a_postmaster_copy)
{
	struct conf *c = load_conf(NULL);
	struct envelope e;
	struct buf out = BUF_INIT;
	struct report rp;
	struct fields blocks[MAX_BLOCKS];
	make_envelope(&e, "");
	generate(c, BOUNCE_FAILED, &e, THREE + 1, 1, ORIGINAL, strlen(ORIGINAL), &out);
	expect_clean_lines(&out);
	parse_report(&out, &rp);
	expect_field(&rp.h, "To", "<postmaster@example.org>");
	expect_field(&rp.h, "Subject", "Postmaster Copy: Undelivered Mail");
	expect_field(&rp.h, "Auto-Submitted", "auto-generated");
	cr_assert_eq(rp.nparts, 3);
	cr_assert_eq(parse_blocks(&rp.part[1], blocks), 2);
	expect_field(&blocks[0], "X-Satmail-Sender", "rfc822;");
	cr_expect_eq(strncmp(rp.part[2].body, "Return-Path: <>\n", 16), 0);
	fields_free(&blocks[0]);
	fields_free(&blocks[1]);
	report_free(&rp);
	buf_clear(&out);
	envelope_clear(&e);
	conf_free(c);
}

/* ---- Status values --------------------------------------------------- */

struct status_case {
	enum bounce_kind kind;
	const char *dsn;
	const char *want;
};

static const struct status_case statuses[] = {
	{ BOUNCE_FAILED, "5.1.1", "5.1.1" },
	{ BOUNCE_FAILED, "4.4.7", "4.4.7" },	/* expired: still a failure */
	{ BOUNCE_FAILED, "5.123.999", "5.123.999" },
	{ BOUNCE_FAILED, NULL, "5.0.0" },
	{ BOUNCE_FAILED, "", "5.0.0" },
	{ BOUNCE_FAILED, "2.0.0", "5.0.0" },
	{ BOUNCE_FAILED, "5.1", "5.0.0" },
	{ BOUNCE_FAILED, "5.1.1x", "5.0.0" },
	{ BOUNCE_FAILED, "5.1234.1", "5.0.0" },
	{ BOUNCE_FAILED, "5..1", "5.0.0" },
	{ BOUNCE_FAILED, "5.1.1\nBcc: x", "5.0.0" },
	{ BOUNCE_DELAYED, "4.4.1", "4.4.1" },
	{ BOUNCE_DELAYED, "5.1.1", "4.0.0" },
	{ BOUNCE_DELAYED, NULL, "4.0.0" },
	{ BOUNCE_SUCCESS, "2.1.5", "2.1.5" },
	{ BOUNCE_SUCCESS, "", "2.0.0" },
	{ BOUNCE_SUCCESS, "5.0.0", "2.0.0" },
};

ParameterizedTestParameters(bounce, status_values)
{
	static size_t idx[sizeof statuses / sizeof statuses[0]];
	for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++)
		idx[i] = i;
	return cr_make_param_array(size_t, idx, sizeof idx / sizeof idx[0]);
}

ParameterizedTest(size_t *i, bounce, status_values)
{
	const struct status_case *sc = &statuses[*i];
	struct conf *c = load_conf(NULL);
	struct envelope e;
	struct buf out = BUF_INIT;
	struct report rp;
	struct fields blocks[MAX_BLOCKS];
	struct bounce_rcpt r = { .addr = "bob@remote.example", .dsn = sc->dsn };
	make_envelope(&e, "alice@example.com");
	generate(c, sc->kind, &e, &r, 1, NULL, 0, &out);
	parse_report(&out, &rp);
	cr_assert_eq(rp.nparts, 2);
	cr_assert_eq(parse_blocks(&rp.part[1], blocks), 2);
	expect_field(&blocks[1], "Status", sc->want);
	expect_field(&blocks[1], "Action", bounce_action(sc->kind));
	fields_free(&blocks[0]);
	fields_free(&blocks[1]);
	report_free(&rp);
	buf_clear(&out);
	envelope_clear(&e);
	conf_free(c);
}

/* ---- hostile and unusual inputs -------------------------------------- */

Test(bounce, hostile_diagnostic_is_folded_and_defused)
{
	struct conf *c = load_conf(NULL);
	struct envelope e;
	struct buf out = BUF_INIT, diag = BUF_INIT;
	struct report rp;
	struct fields blocks[MAX_BLOCKS];

	buf_puts(&diag, "550 5.7.1 rejected\r\nBcc: victim@example.net\r\n\r\n--" BOUNDARY "\n"
	    "X-Injected: \x01\x7f yes \xc2\x85 \xff\xfe caf\xc3\xa9 ");
	for (int i = 0; i < 300; i++)
		buf_puts(&diag, "word ");
	for (int i = 0; i < 2500; i++)
		buf_putc(&diag, 'x');
	buf_puts(&diag, " end");
	const struct bounce_rcpt r[] = {
		{ .addr = "bob@remote.example", .dsn = "5.7.1", .diagnostic = buf_cstr(&diag),
		  .remote = true, .remote_mta = "mx.remote.example\nBcc: x" },
	};
	make_envelope(&e, "alice@example.com");
	free(e.envid);
	e.envid = strdup("env\nBcc: y");
	generate(c, BOUNCE_FAILED, &e, r, 1, ORIGINAL, strlen(ORIGINAL), &out);
	expect_clean_lines(&out);
	cr_expect_null(strstr(out.data, "\nBcc:"), "an injected field");
	cr_expect_null(strstr(out.data, "\nX-Injected:"), "an injected field");
	parse_report(&out, &rp);
	cr_expect_eq(rp.opening, 3, "the diagnostic added a delimiter");
	cr_expect_eq(rp.closing, 1);
	cr_assert_eq(rp.nparts, 3);
	expect_field(&rp.h, "To", "<alice@example.com>");

	/* Part 2: ASCII, folded near 78 where there are spaces. */
	const struct part *p2 = &rp.part[1];
	for (const char *l = p2->body; l < p2->body + p2->body_len;) {
		const char *nl = memchr(l, '\n', (size_t)(p2->body + p2->body_len - l));
		if (nl == NULL)
			break;
		size_t ll = (size_t)(nl - l);
		bool inner_space = ll > 1 && memchr(l + 1, ' ', ll - 1) != NULL;
		cr_expect(ll <= 78 || !inner_space, "unfolded line of %zu: %.60s...", ll, l);
		for (size_t k = 0; k < ll; k++)
			cr_expect((unsigned char)l[k] < 0x80, "8-bit byte in part 2");
		l = nl + 1;
	}
	cr_assert_eq(parse_blocks(p2, blocks), 2);
	expect_field(&blocks[0], "Original-Envelope-Id", "env Bcc: y");
	expect_field(&blocks[1], "Remote-MTA", "dns; mx.remote.example Bcc: x");
	const char *dc = get(&blocks[1], "Diagnostic-Code");
	cr_assert_not_null(dc);
	/* Unfolding gives the words back; only the hard split adds a space. */
	struct buf unf = BUF_INIT;
	for (const char *p = dc; *p; p++)
		if (*p != '\n')
			buf_putc(&unf, *p);
	static const char want_dc[] = "smtp; 550 5.7.1 rejected Bcc: victim@example.net --"
	    BOUNDARY " X-Injected: yes ?? caf? word word";
	cr_expect_eq(strncmp(buf_cstr(&unf), want_dc, strlen(want_dc)), 0, "%.160s", buf_cstr(&unf));
	cr_expect_not_null(strstr(buf_cstr(&unf), "word xxxx"));
	cr_expect_not_null(strstr(buf_cstr(&unf), "xxx end"));
	cr_expect_not_null(strstr(buf_cstr(&unf), "word word word"));

	/* Part 1 keeps the UTF-8 (and says so); controls are gone. */
	expect_field(&rp.part[0].h, "Content-Type", "text/plain; charset=utf-8");
	expect_field(&rp.part[0].h, "Content-Transfer-Encoding", "8bit");
	expect_field(&rp.h, "Content-Transfer-Encoding", "8bit");
	char *text = part_body(&rp.part[0]);
	cr_expect_not_null(strstr(text, "caf\xc3\xa9"));
	cr_expect_null(strstr(text, "\n--"), "a text line starts with --");
	free(text);
	fields_free(&blocks[0]);
	fields_free(&blocks[1]);
	buf_clear(&unf);
	report_free(&rp);
	buf_clear(&out);
	buf_clear(&diag);
	envelope_clear(&e);
	conf_free(c);
}

Test(bounce, utf8_addresses)
{
	struct conf *c = load_conf(NULL);
	struct envelope e;
	struct buf out = BUF_INIT;
	struct report rp;
	struct fields blocks[MAX_BLOCKS];
	const struct bounce_rcpt r[] = {
		{ .addr = "j\xc3\xb6rg+x=y@b\xc3\xbc" "cher.example", .orig = "\xe7\x94\xb0\xe4\xb8\xad@example.org",
		  .dsn = "5.1.1", .diagnostic = "unknown user" },
	};
	make_envelope(&e, "s\xc3\xa9nder@example.com");
	generate(c, BOUNCE_FAILED, &e, r, 1, NULL, 0, &out);
	expect_clean_lines(&out);
	parse_report(&out, &rp);
	expect_field(&rp.h, "To", "<s\xc3\xa9nder@example.com>");
	cr_assert_eq(rp.nparts, 2);
	cr_assert_eq(parse_blocks(&rp.part[1], blocks), 2);
	expect_field(&blocks[0], "X-Satmail-Sender", "utf-8; s\\x{E9}nder@example.com");
	expect_field(&blocks[1], "Final-Recipient",
	    "utf-8; j\\x{F6}rg\\x{2B}x\\x{3D}y@b\\x{FC}cher.example");
	expect_field(&blocks[1], "Original-Recipient", "utf-8;\\x{7530}\\x{4E2D}@example.org");
	expect_field(&rp.part[0].h, "Content-Type", "text/plain; charset=utf-8");
	char *text = part_body(&rp.part[0]);
	cr_expect_not_null(strstr(text, "<j\xc3\xb6rg+x=y@b\xc3\xbc" "cher.example> (expanded from "
	    "<\xe7\x94\xb0\xe4\xb8\xad@example.org>): unknown user"), "%s", text);
	free(text);
	fields_free(&blocks[0]);
	fields_free(&blocks[1]);
	report_free(&rp);
	buf_clear(&out);
	envelope_clear(&e);
	conf_free(c);
}

struct msgid_case {
	const char *headers;	/* header section of the original */
	const char *want;	/* NULL = no References/In-Reply-To */
};

static const struct msgid_case msgids[] = {
	{ "Subject: x\n", NULL },
	{ "Message-ID: <a@b>\n", "<a@b>" },
	{ "message-id:   <a.b.c@d.e> (comment)\n", "<a.b.c@d.e>" },
	{ "Message-Id:\n\t<folded@example.com>\n", "<folded@example.com>" },
	{ "Subject: x\nMessage-ID: <first@x>\nMessage-ID: <second@x>\n", "<first@x>" },
	{ "X-Message-ID: <not@this>\n", NULL },
	{ "Message-IDs: <not@this>\n", NULL },
	{ "Message-ID: <a b@c>\n", NULL },
	{ "Message-ID: <>\n", NULL },
	{ "Message-ID: no-brackets@x\n", NULL },
	{ "Message-ID: <caf\xc3\xa9@x>\n", NULL },
	{ "Message-ID: <a@b\n", NULL },
	{ "Message-ID: <a@b>\nBcc: evil\n", "<a@b>" },
	/* Only the header section counts. */
	{ "Subject: x\n\nMessage-ID: <in-body@x>\n", NULL },
};

ParameterizedTestParameters(bounce, original_message_id)
{
	static size_t idx[sizeof msgids / sizeof msgids[0]];
	for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++)
		idx[i] = i;
	return cr_make_param_array(size_t, idx, sizeof idx / sizeof idx[0]);
}

ParameterizedTest(size_t *i, bounce, original_message_id)
{
	const struct msgid_case *mc = &msgids[*i];
	struct conf *c = load_conf(NULL);
	struct envelope e;
	struct buf out = BUF_INIT, msg = BUF_INIT;
	struct report rp;
	make_envelope(&e, "alice@example.com");
	buf_puts(&msg, mc->headers);
	if (strstr(mc->headers, "\n\n") == NULL)
		buf_puts(&msg, "\nbody\n");
	generate(c, BOUNCE_FAILED, &e, THREE, 1, msg.data, msg.len, &out);
	parse_report(&out, &rp);
	if (mc->want) {
		expect_field(&rp.h, "References", mc->want);
		expect_field(&rp.h, "In-Reply-To", mc->want);
	} else {
		cr_expect_null(get(&rp.h, "References"), "case %zu", *i);
		cr_expect_null(get(&rp.h, "In-Reply-To"), "case %zu", *i);
	}
	cr_expect_null(get(&rp.h, "Bcc"));
	report_free(&rp);
	buf_clear(&out);
	buf_clear(&msg);
	envelope_clear(&e);
	conf_free(c);
}

Test(bounce, long_message_id_is_not_referenced)
{
	struct conf *c = load_conf(NULL);
	struct envelope e;
	struct buf out = BUF_INIT, msg = BUF_INIT;
	struct report rp;
	make_envelope(&e, "alice@example.com");
	buf_puts(&msg, "Message-ID: <");
	for (int i = 0; i < 3000; i++)
		buf_putc(&msg, 'a');
	buf_puts(&msg, "@x>\n\nbody\n");
	generate(c, BOUNCE_FAILED, &e, THREE, 1, msg.data, msg.len, &out);
	parse_report(&out, &rp);
	cr_expect_null(get(&rp.h, "References"));
	cr_assert_eq(rp.nparts, 3);
	report_free(&rp);
	buf_clear(&out);
	buf_clear(&msg);
	envelope_clear(&e);
	conf_free(c);
}

Test(bounce, eight_bit_original)
{
	static const char msg[] = "Subject: =?utf-8?q?caf=C3=A9?=\nContent-Type: text/plain; "
	    "charset=utf-8\nContent-Transfer-Encoding: 8bit\n\ncaf\xc3\xa9 cr\xc3\xa8me\n";
	struct conf *c = load_conf(NULL);
	struct envelope e;
	struct buf out = BUF_INIT;
	struct report rp;
	make_envelope(&e, "alice@example.com");
	generate(c, BOUNCE_FAILED, &e, THREE, 3, msg, strlen(msg), &out);
	parse_report(&out, &rp);
	expect_field(&rp.h, "Content-Transfer-Encoding", "8bit");
	cr_assert_eq(rp.nparts, 3);
	expect_field(&rp.part[0].h, "Content-Type", "text/plain; charset=us-ascii");
	static const char *const names[] = { "Content-Description", "Content-Type",
		"Content-Transfer-Encoding", NULL };
	expect_names(&rp.part[2].h, names, "part 3");
	expect_field(&rp.part[2].h, "Content-Transfer-Encoding", "8bit");
	size_t rl = strlen("Return-Path: <alice@example.com>\n");
	cr_expect(rp.part[2].body_len == rl + strlen(msg) &&
	    memcmp(rp.part[2].body + rl, msg, strlen(msg)) == 0);
	report_free(&rp);
	buf_clear(&out);
	envelope_clear(&e);
	conf_free(c);
}

/* An original that carries the boundary the report would use. */
Test(bounce, boundary_collision)
{
	static const char msg[] = "Subject: trap\n\nbefore\n--" BOUNDARY "\n"
	    "Content-Type: text/plain\n\nfake part\n--" BOUNDARY "--\nafter\n";
	struct conf *c = load_conf(NULL);
	struct envelope e;
	struct buf out = BUF_INIT;
	struct report rp;
	make_envelope(&e, "alice@example.com");
	generate(c, BOUNCE_FAILED, &e, THREE, 3, msg, strlen(msg), &out);
	parse_report(&out, &rp);
	cr_expect_str_neq(rp.boundary, BOUNDARY);
	cr_expect_leq(strlen(rp.boundary), 70);
	cr_expect_eq(rp.opening, 3);
	cr_expect_eq(rp.closing, 1);
	cr_assert_eq(rp.nparts, 3);
	size_t rl = strlen("Return-Path: <alice@example.com>\n");
	cr_expect(rp.part[2].body_len == rl + strlen(msg) &&
	    memcmp(rp.part[2].body + rl, msg, strlen(msg)) == 0);
	report_free(&rp);
	buf_clear(&out);
	envelope_clear(&e);
	conf_free(c);
}

/* A big original goes through in bounded pieces and comes out whole. */
Test(bounce, large_original_streams)
{
	struct conf *c = load_conf("bounce_size_limit = 10000000\n");
	struct envelope e;
	struct buf out = BUF_INIT, msg = BUF_INIT;
	struct report rp;
	make_envelope(&e, "alice@example.com");
	buf_puts(&msg, "Subject: big\n\n");
	for (int i = 0; msg.len < 3 * 1024 * 1024; i++)
		buf_printf(&msg, "line %d of a rather long body, with some text to fill it up\n", i);
	generate(c, BOUNCE_FAILED, &e, THREE, 3, msg.data, msg.len, &out);
	parse_report(&out, &rp);
	cr_assert_eq(rp.nparts, 3);
	size_t rl = strlen("Return-Path: <alice@example.com>\n");
	cr_expect(rp.part[2].body_len == rl + msg.len &&
	    memcmp(rp.part[2].body + rl, msg.data, msg.len) == 0);
	report_free(&rp);
	buf_clear(&out);
	buf_clear(&msg);
	envelope_clear(&e);
	conf_free(c);
}

/* Edge cases of the original's shape. */
struct shape_case {
	const char *msg;
	const char *ret;
	const char *want_part3;	/* after Return-Path */
};

static const struct shape_case shapes[] = {
	{ "Subject: no body\n", NULL, "Subject: no body\n" },
	{ "Subject: no body\n", "hdrs", "Subject: no body\n" },
	{ "Subject: no final LF\n\nbody", NULL, "Subject: no final LF\n\nbody\n" },
	{ "\nbody only\n", "hdrs", "" },
	{ "", NULL, "" },
	{ "Subject: stray\rCR\n\nand\0NUL\n", NULL, "Subject: stray CR\n\nand NUL\n" },
};

ParameterizedTestParameters(bounce, original_shapes)
{
	static size_t idx[sizeof shapes / sizeof shapes[0]];
	for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++)
		idx[i] = i;
	return cr_make_param_array(size_t, idx, sizeof idx / sizeof idx[0]);
}

ParameterizedTest(size_t *i, bounce, original_shapes)
{
	const struct shape_case *sc = &shapes[*i];
	struct conf *c = load_conf(NULL);
	struct envelope e;
	struct buf out = BUF_INIT, want = BUF_INIT;
	struct report rp;
	/* The NUL case: the length counts through the last LF. */
	size_t len = strlen(sc->msg);
	if (*i == 5)
		len = sizeof "Subject: stray\rCR\n\nand\0NUL\n" - 1;
	make_envelope(&e, "alice@example.com");
	if (sc->ret)
		e.ret = strdup(sc->ret);
	generate(c, BOUNCE_FAILED, &e, THREE, 1, sc->msg, len, &out);
	expect_clean_lines(&out);
	parse_report(&out, &rp);
	cr_assert_eq(rp.nparts, 3, "case %zu", *i);
	buf_puts(&want, "Return-Path: <alice@example.com>\n");
	buf_puts(&want, sc->want_part3);
	cr_expect(rp.part[2].body_len == want.len && memcmp(rp.part[2].body, want.data, want.len) == 0,
	    "case %zu: part 3 is [%.*s]", *i, (int)rp.part[2].body_len, rp.part[2].body);
	report_free(&rp);
	buf_clear(&out);
	buf_clear(&want);
	envelope_clear(&e);
	conf_free(c);
}

Test(bounce, unknown_size_reads_to_the_end)
{
	struct conf *c = load_conf(NULL);
	struct envelope e;
	struct capture cap = { BUF_INIT, 0, 0, 0, NULL };
	struct status st;
	struct report rp;
	long long off;
	int fd = original_fd(ORIGINAL, strlen(ORIGINAL), &off);
	make_envelope(&e, "alice@example.com");
	status_init(&st);
	cr_assert(bounce_write(c, BOUNCE_FAILED, &e, THREE, 3, fd, off, -1, NULL, NOW, sink, &cap,
	    &st), "%s", buf_cstr(&st.text));
	parse_report(&cap.out, &rp);
	cr_expect_str_eq(rp.boundary, BOUNDARY, "boundary_id NULL = e->id");
	cr_assert_eq(rp.nparts, 3);
	size_t rl = strlen("Return-Path: <alice@example.com>\n");
	cr_expect(rp.part[2].body_len == rl + strlen(ORIGINAL) &&
	    memcmp(rp.part[2].body + rl, ORIGINAL, strlen(ORIGINAL)) == 0);
	close(fd);
	report_free(&rp);
	buf_clear(&cap.out);
	status_clear(&st);
	envelope_clear(&e);
	conf_free(c);
}

Test(bounce, no_original)
{
	struct conf *c = load_conf(NULL);
	struct envelope e;
	struct buf out = BUF_INIT;
	struct report rp;
	make_envelope(&e, "alice@example.com");
	generate(c, BOUNCE_FAILED, &e, THREE, 3, NULL, 0, &out);
	expect_clean_lines(&out);
	parse_report(&out, &rp);
	cr_expect_eq(rp.opening, 2);
	cr_expect_eq(rp.closing, 1);
	cr_expect_eq(rp.nparts, 2);
	cr_expect_null(get(&rp.h, "References"));
	char *text = part_body(&rp.part[0]);
	cr_expect_null(strstr(text, "attached."), "%s", text);
	free(text);
	report_free(&rp);
	buf_clear(&out);
	envelope_clear(&e);
	conf_free(c);
}

/* ---- failures -------------------------------------------------------- */

Test(bounce, truncated_queue_file)
{
	struct conf *c = load_conf(NULL);
	struct envelope e;
	struct capture cap = { BUF_INIT, 0, 0, 0, NULL };
	struct status st;
	long long off;
	int fd = original_fd(ORIGINAL, strlen(ORIGINAL), &off);
	make_envelope(&e, "alice@example.com");
	status_init(&st);
	cr_expect_not(bounce_write(c, BOUNCE_FAILED, &e, THREE, 3, fd, off,
	    (long long)strlen(ORIGINAL) + 10, QID, NOW, sink, &cap, &st));
	cr_expect_eq(st.cls, STATUS_TEMP);
	cr_expect_str_eq(st.dsn, "4.3.0");
	close(fd);
	/* A bad fd is a read error, also TEMP. */
	status_clear(&st);
	status_init(&st);
	cr_expect_not(bounce_write(c, BOUNCE_FAILED, &e, THREE, 3, 999, 0, 100, QID, NOW, sink,
	    &cap, &st));
	cr_expect_eq(st.cls, STATUS_TEMP);
	buf_clear(&cap.out);
	status_clear(&st);
	envelope_clear(&e);
	conf_free(c);
}

Test(bounce, sink_failure)
{
	struct conf *c = load_conf(NULL);
	struct envelope e;
	struct status st;
	long long off;
	int fd = original_fd(ORIGINAL, strlen(ORIGINAL), &off);
	make_envelope(&e, "alice@example.com");

	/* A sink that leaves st alone: TEMP. */
	struct capture cap = { BUF_INIT, 0, 0, 1, NULL };
	status_init(&st);
	cr_expect_not(bounce_write(c, BOUNCE_FAILED, &e, THREE, 3, fd, off,
	    (long long)strlen(ORIGINAL), QID, NOW, sink, &cap, &st));
	cr_expect_eq(st.cls, STATUS_TEMP);
	cr_expect_eq(cap.calls, 1, "writing went on after a failure");
	status_clear(&st);

	/* A sink that says why: its status stays. */
	struct capture cap2 = { BUF_INIT, 0, 0, 1, NULL };
	status_init(&st);
	cap2.set_on_fail = &st;
	cr_expect_not(bounce_write(c, BOUNCE_FAILED, &e, THREE, 3, fd, off,
	    (long long)strlen(ORIGINAL), QID, NOW, sink, &cap2, &st));
	cr_expect_eq(st.cls, STATUS_PERM);
	cr_expect_str_eq(st.dsn, "5.3.4");
	status_clear(&st);
	close(fd);
	envelope_clear(&e);
	conf_free(c);
}

/* ---- bounce_wanted --------------------------------------------------- */

struct wanted_case {
	const char *sender;	/* NULL or "" = null sender */
	unsigned notify;
	bool failed, delayed, success;
};

static const struct wanted_case wanted[] = {
	{ "alice@example.com", 0, true, true, false },
	{ "alice@example.com", NOTIFY_NEVER, false, false, false },
	{ "alice@example.com", NOTIFY_SUCCESS, false, false, true },
	{ "alice@example.com", NOTIFY_FAILURE, true, false, false },
	{ "alice@example.com", NOTIFY_DELAY, false, true, false },
	{ "alice@example.com", NOTIFY_SUCCESS | NOTIFY_FAILURE, true, false, true },
	{ "alice@example.com", NOTIFY_SUCCESS | NOTIFY_DELAY | NOTIFY_FAILURE, true, true, true },
	{ "alice@example.com", NOTIFY_NEVER | NOTIFY_FAILURE, false, false, false },
	{ "", 0, false, false, false },
	{ NULL, 0, false, false, false },
	{ "", NOTIFY_SUCCESS | NOTIFY_DELAY | NOTIFY_FAILURE, false, false, false },
};

Test(bounce, wanted_table)
{
	for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
		const struct wanted_case *w = &wanted[i];
		struct envelope e;
		envelope_init(&e);
		e.sender = w->sender ? strdup(w->sender) : NULL;
		cr_assert(envelope_add_rcpt(&e, "bob@remote.example", NULL, w->notify));
		cr_expect_eq(bounce_wanted(&e, &e.rcpt[0], BOUNCE_FAILED), w->failed, "case %zu", i);
		cr_expect_eq(bounce_wanted(&e, &e.rcpt[0], BOUNCE_DELAYED), w->delayed, "case %zu", i);
		cr_expect_eq(bounce_wanted(&e, &e.rcpt[0], BOUNCE_SUCCESS), w->success, "case %zu", i);
		envelope_clear(&e);
	}
}

Test(bounce, action_names)
{
	cr_expect_str_eq(bounce_action(BOUNCE_FAILED), "failed");
	cr_expect_str_eq(bounce_action(BOUNCE_DELAYED), "delayed");
	cr_expect_str_eq(bounce_action(BOUNCE_SUCCESS), "delivered");
}
