/* bounce - delivery status notifications (RFC 3464 reports).
 *
 * Builds the notice that tells a sender what became of a message: a
 * multipart/report with a human part, a message/delivery-status part and
 * the original (or its header section), in Postfix's layout (bounce.h has
 * the exact format).  Everything that reaches the output from outside the
 * conf passes through clean() or dsn_address() first, and every line
 * written here goes through put_field() or put_wrapped(), which hold the
 * line-length bound; the original is copied through copy_region() only.
 * The original is read with pread() in fixed chunks, so memory use does
 * not depend on its size. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bounce.h"
#include "buf.h"
#include "msg.h"

#define BOUNCE_MAX_BOUNDARY	70	/* RFC 2046 5.1.1 */
#define BOUNCE_BOUNDARY_TRIES	8
#define MSGID_CAPTURE_MAX	(4 * BOUNCE_MAX_MSGID)	/* raw field bytes kept */

/* ---- output ---------------------------------------------------------- */

/* Output is collected here and handed to the sink in BOUNCE_CHUNK pieces.
 * After the first sink failure nothing more is written. */
struct out {
	bool (*sink)(void *ctx, const char *p, size_t n);
	void *ctx;
	struct buf b;
	bool failed;
};

static void
out_flush(struct out *o)
{
	if (!o->failed && o->b.len > 0 && !o->sink(o->ctx, o->b.data, o->b.len))
		o->failed = true;
	buf_reset(&o->b);
}

static void
out_put(struct out *o, const void *p, size_t n)
{
	if (o->failed)
		return;
	buf_append(&o->b, p, n);
	if (o->b.len >= BOUNCE_CHUNK)
		out_flush(o);
}

static void
out_puts(struct out *o, const char *s)
{
	out_put(o, s, strlen(s));
}

static void
out_spaces(struct out *o, size_t n)
{
	while (n-- > 0)
		out_put(o, " ", 1);
}

/* ---- text from outside ----------------------------------------------- */

static unsigned char
lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* Length of the valid UTF-8 sequence at p[0..n) (2 to 4 bytes; no
 * overlong forms, surrogates or values past U+10FFFF) with its code point
 * in *cp, or 0. */
static size_t
utf8_seq(const unsigned char *p, size_t n, unsigned long *cp)
{
	unsigned char c = p[0];
	size_t len;
	unsigned long v;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		v = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		v = c & 0x0f;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		v = c & 0x07;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	v = (v << 6) | (p[1] & 0x3f);
	for (size_t i = 2; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (p[i] & 0x3f);
	}
	*cp = v;
	return len;
}

static bool
is_c1(unsigned long cp)
{
	return cp >= 0x80 && cp <= 0x9f;
}

/* True when s holds a non-ASCII character that clean(.., true) keeps. */
static bool
has_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = s ? strlen(s) : 0;
	for (size_t i = 0; i < n; i++) {
		unsigned long cp;
		size_t k;
		if (p[i] >= 0x80 && (k = utf8_seq(p + i, n - i, &cp)) > 0) {
			if (!is_c1(cp))
				return true;
			i += k - 1;
		}
	}
	return false;
}

/* Appends s made safe for one header field or one paragraph: control
 * characters (C0, DEL, C1) and white space become single spaces, leading
 * and trailing white space is dropped, so no line can start or end in the
 * text.  Other non-ASCII characters are kept when utf8 (if valid UTF-8)
 * and become one '?' each otherwise. */
static void
clean(struct buf *out, const char *s, bool utf8)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = s ? strlen(s) : 0;
	bool started = false, space = false;

	for (size_t i = 0; i < n;) {
		unsigned long cp = p[i];
		size_t k = 1;
		if (p[i] >= 0x80)
			k = utf8_seq(p + i, n - i, &cp);
		if (p[i] <= 0x20 || p[i] == 0x7f || (k > 0 && is_c1(cp))) {
			space = true;
			i += k > 0 ? k : 1;
			continue;
		}
		if (space && started)
			buf_putc(out, ' ');
		space = false;
		started = true;
		if (p[i] < 0x80)
			buf_putc(out, p[i]);
		else if (k > 0 && utf8)
			buf_append(out, p + i, k);
		else
			buf_putc(out, '?');
		i += k > 0 ? k : 1;
	}
}

/* An address-type field value for the delivery-status part (US-ASCII):
 * "rfc822" SEP ADDR for a printable-ASCII address, "utf-8" SEP
 * utf-8-addr-xtext (RFC 6533 3) for a valid UTF-8 one, and "rfc822" SEP
 * the ASCII-cleaned text for anything else. */
static void
dsn_address(struct buf *out, const char *sep, const char *addr)
{
	const unsigned char *p = (const unsigned char *)addr;
	size_t n = strlen(addr);
	bool ascii = true, valid = true;

	for (size_t i = 0; i < n; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f)
			valid = false;
		if (p[i] >= 0x80) {
			unsigned long cp;
			size_t k = utf8_seq(p + i, n - i, &cp);
			ascii = false;
			if (k == 0 || is_c1(cp))
				valid = false;
			else
				i += k - 1;
		}
	}
	if (ascii || !valid) {
		buf_puts(out, "rfc822");
		buf_puts(out, sep);
		clean(out, addr, false);
		return;
	}
	buf_puts(out, "utf-8");
	buf_puts(out, sep);
	for (size_t i = 0; i < n;) {
		unsigned long cp = p[i];
		size_t k = p[i] >= 0x80 ? utf8_seq(p + i, n - i, &cp) : 1;
		if (cp > 0x20 && cp < 0x7f && cp != '+' && cp != '=' && cp != '\\')
			buf_putc(out, (int)cp);
		else
			buf_printf(out, "\\x{%lX}", cp);
		i += k;
	}
}

/* ---- lines ----------------------------------------------------------- */

/* Writes "Name: value" and its LF.  value must come from clean() (single
 * spaces, no controls).  The field is folded before a space once a line
 * would pass BOUNCE_FOLD_COLUMN; a run without spaces that would pass
 * BOUNCE_MAX_LINE is split, and the next line starts with a space. */
static void
put_field(struct out *o, const char *name, const char *value)
{
	size_t col = strlen(name) + 1;
	size_t len = strlen(value);
	bool has_word = false;

	out_puts(o, name);
	out_put(o, ":", 1);
	if (len == 0) {
		out_put(o, "\n", 1);
		return;
	}
	/* Words are " WORD": a fold goes before the space, so unfolding
	 * (removing the LF) gives the value back. */
	for (size_t i = 0; i < len;) {
		size_t j = i;
		while (j < len && value[j] != ' ')
			j++;
		const char *w = value + i;
		size_t wl = j - i;
		if (has_word && col + 1 + wl > BOUNCE_FOLD_COLUMN) {
			out_put(o, "\n", 1);
			col = 0;
		}
		out_put(o, " ", 1);
		col++;
		while (col + wl > BOUNCE_MAX_LINE) {
			size_t room = BOUNCE_MAX_LINE - col;
			out_put(o, w, room);
			out_put(o, "\n ", 2);
			col = 1;
			w += room;
			wl -= room;
		}
		out_put(o, w, wl);
		col += wl;
		has_word = true;
		i = j < len ? j + 1 : j;
	}
	out_put(o, "\n", 1);
}

/* The same with a value that still needs clean() (ASCII). */
static void
put_field_clean(struct out *o, const char *name, const char *prefix, const char *raw)
{
	struct buf v = BUF_INIT;
	buf_puts(&v, prefix);
	clean(&v, raw, false);
	put_field(o, name, buf_cstr(&v));
	buf_clear(&v);
}

/* Writes text (from clean()) as one paragraph: lines broken at spaces so
 * that they stay within BOUNCE_TEXT_COLUMNS where the words allow, every
 * line after the first indented by indent spaces, a word too long for
 * BOUNCE_MAX_LINE split.  Ends with a LF. */
static void
put_wrapped(struct out *o, const char *text, size_t indent)
{
	size_t len = strlen(text), col = 0;
	bool line_has_word = false;

	for (size_t i = 0; i < len;) {
		size_t j = i;
		while (j < len && text[j] != ' ')
			j++;
		const char *w = text + i;
		size_t wl = j - i;
		if (line_has_word && col + 1 + wl > BOUNCE_TEXT_COLUMNS) {
			out_put(o, "\n", 1);
			out_spaces(o, indent);
			col = indent;
			line_has_word = false;
		}
		if (line_has_word) {
			out_put(o, " ", 1);
			col++;
		}
		while (col + wl > BOUNCE_MAX_LINE) {
			size_t room = BOUNCE_MAX_LINE - col;
			out_put(o, w, room);
			out_put(o, "\n", 1);
			out_spaces(o, indent);
			col = indent;
			w += room;
			wl -= room;
		}
		out_put(o, w, wl);
		col += wl;
		line_has_word = true;
		i = j < len ? j + 1 : j;
	}
	out_put(o, "\n", 1);
}

/* A paragraph from a printf format whose arguments are trusted (conf
 * values, numbers, dates); still cleaned, so the bound holds. */
static void
put_para(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
put_para(struct out *o, const char *fmt, ...)
{
	struct buf raw = BUF_INIT, text = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&raw, fmt, ap);
	va_end(ap);
	clean(&text, buf_cstr(&raw), false);
	put_wrapped(o, buf_cstr(&text), 0);
	out_put(o, "\n", 1);
	buf_clear(&raw);
	buf_clear(&text);
}

/* ---- the original ---------------------------------------------------- */

/* Reads exactly n bytes at pos. */
static bool
read_at(int fd, long long pos, char *p, size_t n, struct status *st)
{
	while (n > 0) {
		ssize_t r = pread(fd, p, n, (off_t)pos);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			status_set(st, STATUS_TEMP, "4.3.0", EXIT_IOERR,
			    "cannot read the original message: %s", strerror(errno));
			return false;
		}
		if (r == 0) {
			status_set(st, STATUS_TEMP, "4.3.0", EXIT_IOERR,
			    "queue file ends before the original message does");
			return false;
		}
		p += r;
		n -= (size_t)r;
		pos += r;
	}
	return true;
}

/* What the header section of the original holds for us. */
struct head_scan {
	long long len;		/* header lines, without the empty line after them */
	struct buf msgid;	/* raw body of the first Message-ID field */
	bool msgid_overflow;
};

/* Finds the end of the original's header section (the first empty line,
 * or the end of the message) and captures the first Message-ID field. */
static bool
scan_head(int fd, long long off, long long size, struct head_scan *h, struct status *st)
{
	static const char want[] = "message-id:";
	char chunk[BOUNCE_CHUNK];
	bool line_start = true, capturing = false, seen = false;
	size_t name_pos = SIZE_MAX;	/* matched bytes of want; SIZE_MAX = no match */

	h->len = size;
	for (long long pos = 0; pos < size;) {
		size_t n = size - pos < (long long)sizeof chunk ? (size_t)(size - pos) : sizeof chunk;
		if (!read_at(fd, off + pos, chunk, n, st))
			return false;
		for (size_t i = 0; i < n; i++) {
			char c = chunk[i];
			if (line_start) {
				line_start = false;
				if (c == '\n') {
					h->len = pos + (long long)i;
					return true;
				}
				if (c != ' ' && c != '\t') {
					/* A new field ends the one being captured. */
					if (capturing)
						seen = true;
					capturing = false;
					name_pos = seen ? SIZE_MAX : 0;
				}
			}
			if (capturing) {
				if (h->msgid.len < MSGID_CAPTURE_MAX)
					buf_putc(&h->msgid, c);
				else
					h->msgid_overflow = true;
			} else if (name_pos != SIZE_MAX) {
				if (lower((unsigned char)c) != (unsigned char)want[name_pos])
					name_pos = SIZE_MAX;
				else if (++name_pos == sizeof want - 1) {
					capturing = true;
					name_pos = SIZE_MAX;
				}
			}
			if (c == '\n')
				line_start = true;
		}
		pos += (long long)n;
	}
	return true;
}

/* The msg-id of a captured Message-ID field body, "<left@right>", into
 * out; false when there is none or it is not plain printable ASCII within
 * BOUNCE_MAX_MSGID. */
static bool
extract_msgid(const struct head_scan *h, struct buf *out)
{
	const char *s = buf_cstr(&h->msgid);
	const char *lt, *gt;

	if (h->msgid_overflow)
		return false;
	s += strspn(s, " \t\n");
	if (*s != '<' || (gt = strchr(s, '>')) == NULL)
		return false;
	lt = s;
	if (gt - lt < 2 || gt - lt + 1 > BOUNCE_MAX_MSGID)
		return false;
	for (const char *p = lt + 1; p < gt; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '<')
			return false;
	buf_append(out, lt, (size_t)(gt - lt + 1));
	return true;
}

/* Scans len bytes at off for bytes >= 0x80 and for lines that start with
 * delim (case-insensitively: some readers compare so).  *last receives
 * the last byte ('\n' for an empty region). */
static bool
scan_region(int fd, long long off, long long len, const char *delim, bool *eight,
    bool *collide, char *last, struct status *st)
{
	char chunk[BOUNCE_CHUNK];
	size_t dl = strlen(delim), m = 0;	/* m = matched; SIZE_MAX = no match */

	*eight = *collide = false;
	*last = '\n';
	for (long long pos = 0; pos < len;) {
		size_t n = len - pos < (long long)sizeof chunk ? (size_t)(len - pos) : sizeof chunk;
		if (!read_at(fd, off + pos, chunk, n, st))
			return false;
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)chunk[i];
			if (c >= 0x80)
				*eight = true;
			if (c == '\n') {
				m = 0;
			} else if (m != SIZE_MAX) {
				if (lower(c) == lower((unsigned char)delim[m])) {
					if (++m == dl) {
						*collide = true;
						m = SIZE_MAX;
					}
				} else {
					m = SIZE_MAX;
				}
			}
		}
		*last = chunk[n - 1];
		pos += (long long)n;
	}
	return true;
}

/* Copies len bytes at off to the output; CR and NUL (which the queue
 * never holds, as msg.h normalises them away) become spaces. */
static bool
copy_region(struct out *o, int fd, long long off, long long len, struct status *st)
{
	char chunk[BOUNCE_CHUNK];

	for (long long pos = 0; pos < len && !o->failed;) {
		size_t n = len - pos < (long long)sizeof chunk ? (size_t)(len - pos) : sizeof chunk;
		if (!read_at(fd, off + pos, chunk, n, st))
			return false;
		for (size_t i = 0; i < n; i++)
			if (chunk[i] == '\r' || chunk[i] == '\0')
				chunk[i] = ' ';
		out_put(o, chunk, n);
		pos += (long long)n;
	}
	return true;
}

/* ---- boundary -------------------------------------------------------- */

/* Appends the characters of s that RFC 2046 allows in a boundary (bchars
 * without the space), up to the length limit. */
static void
boundary_chars(struct buf *b, const char *s)
{
	for (; s && *s && b->len < BOUNCE_MAX_BOUNDARY; s++) {
		char c = *s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("'()+_,-./:=?", c) != NULL)
			buf_putc(b, c);
	}
}

/* Attempt 0: "ID.NOW/HOST".  Later attempts replace the tail with eight
 * unpredictable hex digits, so that an original written to collide with
 * the first choice cannot guess the next. */
static void
make_boundary(struct buf *b, const char *id, time_t now, const char *host, int attempt)
{
	char tmp[32];

	buf_reset(b);
	boundary_chars(b, id && *id ? id : "satmail");
	snprintf(tmp, sizeof tmp, ".%lld/", (long long)now);
	boundary_chars(b, tmp);
	boundary_chars(b, host);
	if (attempt > 0) {
		uint32_t r;
		if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
			r = (uint32_t)now ^ ((uint32_t)getpid() << 16) ^ (uint32_t)attempt * 2654435761u ^
			    (uint32_t)(uintptr_t)&r;
		if (b->len > BOUNCE_MAX_BOUNDARY - 9) {
			b->len = BOUNCE_MAX_BOUNDARY - 9;
			b->data[b->len] = '\0';
		}
		buf_printf(b, ".%08x", (unsigned)r);
	}
}

/* ---- the report ------------------------------------------------------ */

const char *
bounce_action(enum bounce_kind kind)
{
	switch (kind) {
	case BOUNCE_FAILED:
		return "failed";
	case BOUNCE_DELAYED:
		return "delayed";
	case BOUNCE_SUCCESS:
		return "delivered";
	}
	return "failed";
}

bool
bounce_wanted(const struct envelope *e, const struct rcpt *r, enum bounce_kind kind)
{
	if (*envelope_sender(e) == '\0' || (r->notify & NOTIFY_NEVER))
		return false;
	switch (kind) {
	case BOUNCE_FAILED:
		return r->notify == 0 || (r->notify & NOTIFY_FAILURE);
	case BOUNCE_DELAYED:
		return r->notify == 0 || (r->notify & NOTIFY_DELAY);
	case BOUNCE_SUCCESS:
		return (r->notify & NOTIFY_SUCCESS) != 0;
	}
	return false;
}

/* The Status value: dsn when it is X.Y.Z of a class that fits the kind. */
static const char *
status_code(enum bounce_kind kind, const char *dsn)
{
	static const char *const dflt[] = { "5.0.0", "4.0.0", "2.0.0" };
	const char *p = dsn;
	char cls;

	if (p == NULL || (cls = *p) == '\0')
		return dflt[kind];
	if (!(kind == BOUNCE_FAILED ? (cls == '5' || cls == '4') :
	    kind == BOUNCE_DELAYED ? cls == '4' : cls == '2'))
		return dflt[kind];
	p++;
	for (int part = 0; part < 2; part++) {
		size_t d = 0;
		if (*p++ != '.')
			return dflt[kind];
		while (*p >= '0' && *p <= '9' && d < 4) {
			p++;
			d++;
		}
		if (d == 0 || d > 3)
			return dflt[kind];
	}
	return *p == '\0' ? dsn : dflt[kind];
}

/* The date a delayed message gives up. */
static time_t
retry_until(const struct conf *c, const struct envelope *e)
{
	unsigned life = *envelope_sender(e) ? c->maximal_queue_lifetime : c->bounce_queue_lifetime;
	return (time_t)(e->arrival_sec + (int64_t)life);
}

/* The header section of the report. */
static void
write_headers(struct out *o, const struct conf *c, enum bounce_kind kind,
    const struct envelope *e, const char *msgid, const char *boundary, bool eight)
{
	static const char *const subject[] = {
		"Undelivered Mail Returned to Sender",
		"Delayed Mail (still being retried)",
		"Successful Mail Delivery Report",
	};
	static const char *const pm_subject[] = {
		"Postmaster Copy: Undelivered Mail",
		"Postmaster Warning: Delayed Mail",
		"Successful Mail Delivery Report",
	};
	const char *sender = envelope_sender(e);
	bool pm = *sender == '\0';
	struct buf v = BUF_INIT;

	buf_puts(&v, "Mail Delivery System <MAILER-DAEMON@");
	clean(&v, c->myorigin, false);
	buf_putc(&v, '>');
	put_field(o, "From", buf_cstr(&v));
	put_field(o, "Subject", pm ? pm_subject[kind] : subject[kind]);
	buf_reset(&v);
	buf_putc(&v, '<');
	if (pm) {
		buf_puts(&v, "postmaster@");
		clean(&v, c->myorigin, false);
	} else {
		clean(&v, sender, true);
	}
	buf_putc(&v, '>');
	put_field(o, "To", buf_cstr(&v));
	if (msgid != NULL) {
		put_field(o, "References", msgid);
		put_field(o, "In-Reply-To", msgid);
	}
	put_field(o, "Auto-Submitted", pm ? "auto-generated" : "auto-replied");
	put_field(o, "MIME-Version", "1.0");
	out_puts(o, "Content-Type: multipart/report; report-type=delivery-status;\n\tboundary=\"");
	out_puts(o, boundary);
	out_puts(o, "\"\n");
	if (eight)
		put_field(o, "Content-Transfer-Encoding", "8bit");
	out_put(o, "\n", 1);
	buf_clear(&v);
}

/* Part 1: the human text. */
static void
write_notification(struct out *o, const struct conf *c, enum bounce_kind kind,
    const struct envelope *e, const struct bounce_rcpt *r, size_t n, bool utf8,
    bool have_orig, bool headers_only, bool oversize)
{
	const char *name = c->mail_name && *c->mail_name && strlen(c->mail_name) <= 40 ?
	    c->mail_name : "satmail";
	bool pm = *envelope_sender(e) == '\0';
	struct buf line = BUF_INIT, date = BUF_INIT;

	out_puts(o, "Content-Description: Notification\n");
	out_puts(o, utf8 ? "Content-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: 8bit\n\n" : "Content-Type: text/plain; charset=us-ascii\n\n");
	put_para(o, "This is the %s program at host %s.", name, c->myhostname);

	const char *what = !have_orig ? "" : headers_only ?
	    " The headers of the message are attached." : " The message is attached.";
	switch (kind) {
	case BOUNCE_FAILED:
		if (pm)
			put_para(o, "A delivery notice (a message from the null sender) could not be "
			    "delivered to one or more of its recipients. The reasons are listed "
			    "below.%s", what);
		else
			put_para(o, "I am sorry: your message could not be delivered to one or more "
			    "of its recipients. The reasons are listed below.%s", what);
		break;
	case BOUNCE_DELAYED:
		msg_date(retry_until(c, e), &date);
		put_para(o, "THIS IS A WARNING ONLY. YOU DO NOT NEED TO SEND YOUR MESSAGE AGAIN.");
		put_para(o, "Your message could not be delivered yet to one or more of its "
		    "recipients. Delivery will be tried again until %s; if it still fails by "
		    "then, you will get another notice. The reasons are listed below.%s",
		    buf_cstr(&date), what);
		break;
	case BOUNCE_SUCCESS:
		put_para(o, "Your message was delivered to the destinations listed below, as you "
		    "asked. If it was delivered into a mailbox you will get no further notice; "
		    "otherwise other systems may still report on its delivery.%s", what);
		break;
	}
	if (oversize)
		put_para(o, "The message is larger than this host returns (bounce_size_limit = "
		    "%lld bytes), so only its headers are attached.", c->bounce_size_limit);
	if (kind != BOUNCE_SUCCESS)
		put_para(o, "If you need help, write to the postmaster of this host and include "
		    "this report. You may delete your own text from the attached message.");
	buf_reset(&line);
	clean(&line, name, false);
	out_spaces(o, 19);
	out_puts(o, "The ");
	out_puts(o, buf_cstr(&line));
	out_puts(o, " program\n\n");

	for (size_t i = 0; i < n; i++) {
		const char *why = r[i].reason && *r[i].reason ? r[i].reason :
		    r[i].diagnostic && *r[i].diagnostic ? r[i].diagnostic :
		    kind == BOUNCE_FAILED ? "delivery failed" :
		    kind == BOUNCE_DELAYED ? "delivery temporarily deferred" : "delivered";
		buf_reset(&line);
		buf_putc(&line, '<');
		clean(&line, r[i].addr, true);
		buf_putc(&line, '>');
		if (r[i].orig && *r[i].orig && (r[i].addr == NULL ||
		    strcasecmp(r[i].orig, r[i].addr) != 0)) {
			buf_puts(&line, " (expanded from <");
			clean(&line, r[i].orig, true);
			buf_puts(&line, ">)");
		}
		buf_puts(&line, ": ");
		clean(&line, why, true);
		put_wrapped(o, buf_cstr(&line), 4);
		out_put(o, "\n", 1);
	}
	buf_clear(&line);
	buf_clear(&date);
}

/* Part 2: the machine-readable report. */
static void
write_status(struct out *o, const struct conf *c, enum bounce_kind kind,
    const struct envelope *e, const struct bounce_rcpt *r, size_t n)
{
	struct buf v = BUF_INIT;

	out_puts(o, "Content-Description: Delivery report\n"
	    "Content-Type: message/delivery-status\n\n");
	put_field_clean(o, "Reporting-MTA", "dns; ", c->myhostname);
	if (e->envid && *e->envid)
		put_field_clean(o, "Original-Envelope-Id", "", e->envid);
	if (e->id[0])
		put_field_clean(o, "X-Satmail-Queue-ID", "", e->id);
	dsn_address(&v, "; ", envelope_sender(e));
	buf_rtrim(&v);
	put_field(o, "X-Satmail-Sender", buf_cstr(&v));
	buf_reset(&v);
	msg_date((time_t)e->arrival_sec, &v);
	put_field_clean(o, "Arrival-Date", "", buf_cstr(&v));

	for (size_t i = 0; i < n; i++) {
		out_put(o, "\n", 1);
		buf_reset(&v);
		dsn_address(&v, "; ", r[i].addr ? r[i].addr : "");
		put_field(o, "Final-Recipient", buf_cstr(&v));
		if (r[i].orig && *r[i].orig) {
			buf_reset(&v);
			dsn_address(&v, ";", r[i].orig);
			put_field(o, "Original-Recipient", buf_cstr(&v));
		}
		put_field(o, "Action", bounce_action(kind));
		put_field(o, "Status", status_code(kind, r[i].dsn));
		if (r[i].remote_mta && *r[i].remote_mta)
			put_field_clean(o, "Remote-MTA", "dns; ", r[i].remote_mta);
		if (r[i].diagnostic && *r[i].diagnostic)
			put_field_clean(o, "Diagnostic-Code", r[i].remote ? "smtp; " : "X-Satmail; ",
			    r[i].diagnostic);
		if (kind == BOUNCE_DELAYED) {
			buf_reset(&v);
			msg_date(retry_until(c, e), &v);
			put_field_clean(o, "Will-Retry-Until", "", buf_cstr(&v));
		}
	}
	out_put(o, "\n", 1);
	buf_clear(&v);
}

bool
bounce_write(const struct conf *c, enum bounce_kind kind,
    const struct envelope *e, const struct bounce_rcpt *r, size_t n,
    int msg_fd, long long msg_offset, long long msg_size,
    const char *boundary_id, time_t now,
    bool (*sink)(void *ctx, const char *p, size_t n), void *ctx,
    struct status *st)
{
	struct out o = { sink, ctx, BUF_INIT, false };
	struct head_scan head = { 0, BUF_INIT, false };
	struct buf boundary = BUF_INIT, delim = BUF_INIT, msgid = BUF_INIT, v = BUF_INIT;
	bool have_orig = msg_fd >= 0, headers_only = false, oversize = false;
	bool eight = false, collide = true, ok = false;
	long long part_len = 0;
	char last = '\n';

	if (boundary_id == NULL || *boundary_id == '\0')
		boundary_id = e->id;
	if (have_orig) {
		if (msg_size < 0) {
			struct stat sb;
			if (fstat(msg_fd, &sb) < 0) {
				status_set(st, STATUS_TEMP, "4.3.0", EXIT_IOERR,
				    "cannot read the original message: %s", strerror(errno));
				goto out;
			}
			msg_size = sb.st_size > msg_offset ? (long long)sb.st_size - msg_offset : 0;
		}
		if (!scan_head(msg_fd, msg_offset, msg_size, &head, st))
			goto out;
		oversize = msg_size > c->bounce_size_limit;
		/* RET: hdrs as asked; when not given, whole for failures only. */
		headers_only = oversize || (e->ret && strcasecmp(e->ret, "hdrs") == 0) ||
		    (e->ret == NULL && kind != BOUNCE_FAILED);
		part_len = headers_only ? head.len : msg_size;
	}
	for (int attempt = 0; collide && attempt < BOUNCE_BOUNDARY_TRIES; attempt++) {
		make_boundary(&boundary, boundary_id, now, c->myhostname, attempt);
		buf_reset(&delim);
		buf_printf(&delim, "--%s", buf_cstr(&boundary));
		collide = false;
		if (have_orig && !scan_region(msg_fd, msg_offset, part_len, buf_cstr(&delim),
		    &eight, &collide, &last, st))
			goto out;
	}
	if (collide) {
		status_set(st, STATUS_TEMP, "4.3.0", EXIT_SOFTWARE,
		    "no MIME boundary found that the original message does not contain");
		goto out;
	}

	bool text_utf8 = false;
	for (size_t i = 0; i < n && !text_utf8; i++)
		text_utf8 = has_utf8(r[i].addr) || has_utf8(r[i].orig) ||
		    has_utf8(r[i].reason && *r[i].reason ? r[i].reason : r[i].diagnostic);
	write_headers(&o, c, kind, e, have_orig && extract_msgid(&head, &msgid) ?
	    buf_cstr(&msgid) : NULL, buf_cstr(&boundary), eight || text_utf8);
	out_puts(&o, "This is a MIME-encapsulated message.\n\n");

	out_puts(&o, buf_cstr(&delim));
	out_put(&o, "\n", 1);
	write_notification(&o, c, kind, e, r, n, text_utf8, have_orig, headers_only, oversize);
	out_puts(&o, buf_cstr(&delim));
	out_put(&o, "\n", 1);
	write_status(&o, c, kind, e, r, n);

	if (have_orig) {
		bool success = kind == BOUNCE_SUCCESS;
		out_puts(&o, buf_cstr(&delim));
		out_put(&o, "\n", 1);
		put_field(&o, "Content-Description", headers_only ?
		    (success ? "Delivered Message Headers" : "Undelivered Message Headers") :
		    (success ? "Delivered Message" : "Undelivered Message"));
		put_field(&o, "Content-Type", headers_only ? "text/rfc822-headers" : "message/rfc822");
		if (eight)
			put_field(&o, "Content-Transfer-Encoding", "8bit");
		out_put(&o, "\n", 1);
		buf_putc(&v, '<');
		clean(&v, envelope_sender(e), true);
		buf_putc(&v, '>');
		put_field(&o, "Return-Path", buf_cstr(&v));
		if (!copy_region(&o, msg_fd, msg_offset, part_len, st))
			goto out;
		if (last != '\n')
			out_put(&o, "\n", 1);
		/* The empty line: the LF before a delimiter belongs to it. */
		out_put(&o, "\n", 1);
	}
	out_puts(&o, buf_cstr(&delim));
	out_puts(&o, "--\n");
	out_flush(&o);
	ok = !o.failed;
	if (o.failed && st->cls == STATUS_OK)
		status_set(st, STATUS_TEMP, "4.3.0", EXIT_IOERR,
		    "cannot write the delivery status notification");
out:
	buf_clear(&o.b);
	buf_clear(&head.msgid);
	buf_clear(&boundary);
	buf_clear(&delim);
	buf_clear(&msgid);
	buf_clear(&v);
	return ok;
}
