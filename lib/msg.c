/* msg - message intake: normalising reader, header section, body pump
 * (see msg.h for the input rules). */
#include "msg.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "xalloc.h"

void
msg_input_init(struct msg_input *in, int fd, bool dot_mode)
{
	memset(in, 0, sizeof *in);
	in->fd = fd;
	in->dot_mode = dot_mode;
	in->cap = MSG_INPUT_CHUNK + 8;
	in->buf = xmalloc(in->cap);
	in->at_line_start = true;
}

void
msg_input_set_reader(struct msg_input *in, msg_read_fn fn, void *ctx)
{
	in->read_fn = fn;
	in->read_ctx = ctx;
}

void
msg_input_clear(struct msg_input *in)
{
	free(in->buf);
	in->buf = NULL;
}

/* Notes NUL and 8-bit bytes in p[0..n): memchr and a word at a time,
 * and nothing once both have been seen. */
static void
note_bytes(struct msg_input *in, const char *p, size_t n)
{
	static const uint64_t high = 0x8080808080808080ULL;
	if (!in->nul_seen && memchr(p, 0, n))
		in->nul_seen = true;
	if (in->eight_bit)
		return;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t v;
		memcpy(&v, p + i, 8);
		if (v & high) {
			in->eight_bit = true;
			return;
		}
	}
	for (; i < n; i++)
		if ((unsigned char)p[i] >= 0x80) {
			in->eight_bit = true;
			return;
		}
}

/* Normalises bytes [from, in->len) in place: CRLF -> LF, lone CR ->
 * space, notes NUL and 8-bit bytes.  A CR at the very end of a read that
 * is not the end of input is held back until the next byte is known.
 * Runs between CRs are handled whole, so that large messages cost little
 * more than a copy. */
static void
normalise(struct msg_input *in, size_t from)
{
	char *p = in->buf;
	size_t w = from, r = from;
	while (r < in->len) {
		const char *cr = memchr(p + r, '\r', in->len - r);
		size_t end = cr ? (size_t)(cr - p) : in->len;
		note_bytes(in, p + r, end - r);
		if (w != r)
			memmove(p + w, p + r, end - r);
		w += end - r;
		r = end;
		if (r == in->len)
			break;
		/* p[r] is a CR */
		if (r + 1 < in->len) {
			if (p[r + 1] != '\n')
				p[w++] = ' ';
			/* else: dropped, the LF follows */
		} else if (in->eof) {
			p[w++] = ' ';
		} else {
			in->pending_cr = true;
		}
		r++;
	}
	in->len = w;
}

/* Makes at least want bytes available after pos (fewer at end of input).
 * Returns false on a read error (errno set). */
static bool
fill(struct msg_input *in, size_t want)
{
	while (in->len - in->pos < want && !in->eof) {
		if (in->pos > 0) {
			memmove(in->buf, in->buf + in->pos, in->len - in->pos);
			in->len -= in->pos;
			in->pos = 0;
		}
		if (in->cap - in->len < MSG_INPUT_CHUNK / 2 + 2) {
			in->cap = in->cap * 2;
			in->buf = xreallocarray(in->buf, in->cap, 1);
		}
		size_t from = in->len;
		bool held = in->pending_cr;
		if (held) {
			in->buf[in->len++] = '\r';
			in->pending_cr = false;
		}
		ssize_t n = in->read_fn ?
		    in->read_fn(in->read_ctx, in->buf + in->len, in->cap - in->len - 1) :
		    read(in->fd, in->buf + in->len, in->cap - in->len - 1);
		if (n < 0) {
			if (held) {	/* still not known what follows it */
				in->len--;
				in->pending_cr = true;
			}
			if (errno == EINTR)
				continue;
			return false;
		}
		if (n == 0)
			in->eof = true;
		in->bytes_in += n;
		in->len += (size_t)n;
		normalise(in, from);
	}
	return true;
}

static bool
read_failed(struct status *st)
{
	status_set(st, STATUS_TEMP, "4.3.0", EXIT_IOERR, "error reading message input: %s",
	    strerror(errno));
	return false;
}

static bool
nul_refused(struct status *st)
{
	status_set(st, STATUS_PERM, "5.6.0", EXIT_DATAERR,
	    "message contains a NUL byte; refused");
	return false;
}

/* At a line start in dot mode: consumes a "." line and returns true. */
static bool
at_dot_line(struct msg_input *in)
{
	if (!in->dot_mode || !in->at_line_start)
		return false;
	size_t avail = in->len - in->pos;
	const char *p = in->buf + in->pos;
	if (avail >= 2 && p[0] == '.' && p[1] == '\n') {
		in->pos += 2;
		in->ended = true;
		return true;
	}
	if (avail == 1 && p[0] == '.' && in->eof) {
		in->pos += 1;
		in->ended = true;
		return true;
	}
	return false;
}

/* Reads one line (with its LF, if any) into line.  Returns false at end
 * of input (or the "." line).  Bounded by limit: a longer line sets
 * *too_long and stops there. */
static bool
read_line(struct msg_input *in, struct buf *line, size_t limit, bool *too_long,
    struct status *st, bool *err)
{
	buf_reset(line);
	*err = false;
	if (!fill(in, 2)) {
		*err = !read_failed(st);
		return false;
	}
	if (in->nul_seen) {
		*err = !nul_refused(st);
		return false;
	}
	if (in->ended || at_dot_line(in) || in->pos == in->len)
		return false;
	for (;;) {
		char *start = in->buf + in->pos;
		char *nl = memchr(start, '\n', in->len - in->pos);
		size_t n = nl ? (size_t)(nl - start) + 1 : in->len - in->pos;
		if (line->len + n > limit) {
			/* Keep what fits, so the caller can see what the line
			 * is (and put it back). */
			size_t fits = limit > line->len ? limit - line->len : 0;
			buf_append(line, start, fits);
			in->pos += fits;
			*too_long = true;
			return false;
		}
		buf_append(line, start, n);
		in->pos += n;
		if (nl) {
			in->at_line_start = true;
			return true;
		}
		if (!fill(in, 1)) {
			*err = !read_failed(st);
			return false;
		}
		if (in->nul_seen) {
			*err = !nul_refused(st);
			return false;
		}
		if (in->pos == in->len) {	/* end of input without LF */
			buf_putc(line, '\n');
			in->at_line_start = true;
			return true;
		}
	}
}

/* "Name:" with printable ASCII name characters (RFC 5322 ftext). */
static size_t
field_name_len(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && s[i] > 0x20 && s[i] < 0x7f && s[i] != ':')
		i++;
	return i > 0 && i < n && s[i] == ':' ? i : 0;
}

/* Puts a line back at the front of the input (the first body line). */
static void
unread(struct msg_input *in, const struct buf *line)
{
	if (in->pos >= line->len) {
		in->pos -= line->len;
		memcpy(in->buf + in->pos, line->data, line->len);
		return;
	}
	size_t rest = in->len - in->pos;
	if (line->len + rest + 1 > in->cap) {
		in->cap = line->len + rest + MSG_INPUT_CHUNK;
		in->buf = xreallocarray(in->buf, in->cap, 1);
	}
	memmove(in->buf + line->len, in->buf + in->pos, rest);
	memcpy(in->buf, line->data, line->len);
	in->pos = 0;
	in->len = line->len + rest;
}

bool
msg_read_headers(struct msg_input *in, struct msg_headers *h, size_t field_limit,
    struct status *st)
{
	struct buf line = BUF_INIT, field = BUF_INIT;
	bool ok = false, first = true, too_long = false, err;

	while (read_line(in, &line, field_limit, &too_long, st, &err)) {
		if (first) {
			first = false;
			size_t gt = strspn(line.data, ">");
			if (strncmp(line.data + gt, "From ", 5) == 0)
				continue;	/* mbox separator, maybe quoted */
		}
		bool cont = line.data[0] == ' ' || line.data[0] == '\t';
		if (cont && field.len > 0) {
			if (field.len + line.len > field_limit) {
				too_long = true;
				break;
			}
			buf_append(&field, line.data, line.len);
			continue;
		}
		if (field.len > 0) {
			if (h->n >= MSG_MAX_HEADER_FIELDS)
				goto too_many;
			msg_headers_add(h, field.data, field.len);
			buf_reset(&field);
		}
		if (line.len == 1 && line.data[0] == '\n')
			goto done;	/* the empty line: end of headers */
		if (field_name_len(line.data, line.len) == 0) {
			unread(in, &line);	/* first body line */
			goto done;
		}
		buf_append(&field, line.data, line.len);
	}
	if (err)
		goto out;
	/* A long line that is neither a field nor a continuation is the
	 * first body line: the header limit is not the body's. */
	bool cont = line.len > 0 && (line.data[0] == ' ' || line.data[0] == '\t');
	if (too_long && !(cont && field.len > 0) && field_name_len(buf_cstr(&line), line.len) == 0) {
		if (field.len > 0) {
			if (h->n >= MSG_MAX_HEADER_FIELDS)
				goto too_many;
			msg_headers_add(h, field.data, field.len);
		}
		unread(in, &line);
		in->at_line_start = true;
		goto done;
	}
	if (too_long) {
		status_set(st, STATUS_PERM, "5.6.0", EXIT_DATAERR,
		    "message header field is longer than header_size_limit (%zu bytes)",
		    field_limit);
		goto out;
	}
	if (field.len > 0) {
		if (h->n >= MSG_MAX_HEADER_FIELDS)
			goto too_many;
		msg_headers_add(h, field.data, field.len);
	}
done:
	ok = true;
	goto out;
too_many:
	status_set(st, STATUS_PERM, "5.6.0", EXIT_DATAERR,
	    "message has more than %d header fields", MSG_MAX_HEADER_FIELDS);
out:
	buf_clear(&line);
	buf_clear(&field);
	return ok;
}

bool
msg_pump_body(struct msg_input *in, bool (*sink)(void *ctx, const char *p, size_t n),
    void *ctx, struct status *st)
{
	for (;;) {
		if (!fill(in, 2))
			return read_failed(st);
		if (in->nul_seen)
			return nul_refused(st);
		if (in->ended || at_dot_line(in))
			return true;
		if (in->pos == in->len) {	/* end of input */
			if (!in->at_line_start && !sink(ctx, "\n", 1))
				return false;
			return true;
		}
		const char *start = in->buf + in->pos;
		size_t avail = in->len - in->pos;
		size_t n;
		if (in->dot_mode) {
			/* Up to and including the next LF: the dot rule is
			 * checked at each line start. */
			const char *nl = memchr(start, '\n', avail);
			n = nl ? (size_t)(nl - start) + 1 : avail;
			in->at_line_start = nl != NULL;
		} else {
			n = avail;
			in->at_line_start = start[n - 1] == '\n';
		}
		in->pos += n;
		if (!sink(ctx, start, n))
			return false;
	}
}

void
msg_headers_init(struct msg_headers *h)
{
	memset(h, 0, sizeof *h);
}

void
msg_headers_clear(struct msg_headers *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->v[i].text);
	free(h->v);
	msg_headers_init(h);
}

static void
header_fill(struct msg_header *f, const char *text, size_t len)
{
	f->text = xmemdup0(text, len);
	f->len = len;
	f->name_len = field_name_len(text, len);
	f->deleted = false;
}

void
msg_headers_insert(struct msg_headers *h, size_t i, const char *text, size_t len)
{
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 32;
		h->v = xreallocarray(h->v, h->cap, sizeof *h->v);
	}
	if (i > h->n)
		i = h->n;
	memmove(&h->v[i + 1], &h->v[i], (h->n - i) * sizeof *h->v);
	h->n++;
	header_fill(&h->v[i], text, len);
}

void
msg_headers_add(struct msg_headers *h, const char *text, size_t len)
{
	msg_headers_insert(h, h->n, text, len);
}

void
msg_header_replace(struct msg_header *f, const char *text, size_t len)
{
	free(f->text);
	header_fill(f, text, len);
}

bool
msg_header_is(const struct msg_header *f, const char *name)
{
	return !f->deleted && strlen(name) == f->name_len &&
	    strncasecmp(f->text, name, f->name_len) == 0;
}

struct msg_header *
msg_headers_find(const struct msg_headers *h, const char *name)
{
	for (size_t i = 0; i < h->n; i++)
		if (msg_header_is(&h->v[i], name))
			return &h->v[i];
	return NULL;
}

bool
msg_headers_have_prefix(const struct msg_headers *h, const char *prefix)
{
	size_t n = strlen(prefix);
	for (size_t i = 0; i < h->n; i++)
		if (!h->v[i].deleted && h->v[i].name_len >= n &&
		    strncasecmp(h->v[i].text, prefix, n) == 0)
			return true;
	return false;
}

const char *
msg_header_body(const struct msg_header *f, size_t *len)
{
	*len = f->len - f->name_len - 1;
	return f->text + f->name_len + 1;
}

void
msg_unfold(const char *text, size_t len, struct buf *out)
{
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\r' && i + 1 < len && text[i + 1] == '\n')
			continue;
		if (text[i] == '\n' && (i + 1 == len || text[i + 1] == ' ' || text[i + 1] == '\t'))
			continue;
		buf_putc(out, text[i]);
	}
}

void
msg_date(time_t t, struct buf *out)
{
	static const char days[][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm lt;
	char zone[16];

	localtime_r(&t, &lt);
	long off = lt.tm_gmtoff / 60;
	char sign = off < 0 ? '-' : '+';
	if (off < 0)
		off = -off;
	strftime(zone, sizeof zone, "%Z", &lt);
	/* Locale-free on purpose: a mail date is always English. */
	buf_printf(out, "%s, %2d %s %d %02d:%02d:%02d %c%02ld%02ld (%s)",
	    days[lt.tm_wday], lt.tm_mday, months[lt.tm_mon], lt.tm_year + 1900,
	    lt.tm_hour, lt.tm_min, lt.tm_sec, sign, off / 60, off % 60, zone);
}
