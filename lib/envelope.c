/* envelope - envelope values and their escaped key: value records.
 *
 * The record format is documented in envelope.h; queue.h documents how a
 * queue entry wraps it.  The parser trusts nothing: it is what the
 * privileged queue program runs on bytes from sendmail and from disk. */
#include "envelope.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "xalloc.h"

void
envelope_init(struct envelope *e)
{
	memset(e, 0, sizeof *e);
	e->uid = -1;
	e->size = -1;
}

static void
rcpt_clear(struct rcpt *r)
{
	free(r->addr);
	free(r->orig);
	free(r->owner);
	free(r->reason);
	free(r->target);
	memset(r, 0, sizeof *r);
}

void
envelope_clear(struct envelope *e)
{
	for (size_t i = 0; i < e->nrcpt; i++)
		rcpt_clear(&e->rcpt[i]);
	free(e->rcpt);
	free(e->sender);
	free(e->fullname);
	free(e->envid);
	free(e->ret);
	free(e->body);
	envelope_init(e);
}

const char *
envelope_sender(const struct envelope *e)
{
	return e->sender ? e->sender : "";
}

static struct rcpt *
envelope_new_rcpt(struct envelope *e)
{
	if (e->nrcpt >= ENVELOPE_MAX_RCPT)
		return NULL;
	if (e->nrcpt == e->rcpt_cap) {
		e->rcpt_cap = e->rcpt_cap ? e->rcpt_cap * 2 : 8;
		e->rcpt = xreallocarray(e->rcpt, e->rcpt_cap, sizeof *e->rcpt);
	}
	struct rcpt *r = &e->rcpt[e->nrcpt++];
	memset(r, 0, sizeof *r);
	return r;
}

bool
envelope_add_rcpt(struct envelope *e, const char *addr, const char *orig,
    unsigned notify)
{
	struct rcpt *r = envelope_new_rcpt(e);
	if (r == NULL)
		return false;
	r->addr = xstrdup(addr);
	r->orig = orig ? xstrdup(orig) : NULL;
	r->notify = notify;
	r->state = RCPT_PENDING;
	return true;
}

bool
envelope_has_rcpt(const struct envelope *e, const char *addr)
{
	for (size_t i = 0; i < e->nrcpt; i++)
		if (strcasecmp(e->rcpt[i].addr, addr) == 0)
			return true;
	return false;
}

size_t
envelope_pending(const struct envelope *e)
{
	size_t n = 0;
	for (size_t i = 0; i < e->nrcpt; i++)
		n += e->rcpt[i].state == RCPT_PENDING;
	return n;
}

const char *
envelope_state_name(enum rcpt_state s)
{
	switch (s) {
	case RCPT_PENDING:
		return "pending";
	case RCPT_SENT:
		return "sent";
	default:
		return "bounced";
	}
}

static const struct {
	const char *name;
	unsigned bit;
} notify_words[] = {
	{ "never", NOTIFY_NEVER }, { "success", NOTIFY_SUCCESS },
	{ "delay", NOTIFY_DELAY }, { "failure", NOTIFY_FAILURE },
};

void
envelope_notify_format(unsigned notify, struct buf *out)
{
	bool first = true;
	for (size_t i = 0; i < sizeof notify_words / sizeof notify_words[0]; i++) {
		if (!(notify & notify_words[i].bit))
			continue;
		if (!first)
			buf_putc(out, ',');
		buf_puts(out, notify_words[i].name);
		first = false;
	}
}

bool
envelope_notify_parse(const char *s, unsigned *notify)
{
	unsigned bits = 0;
	const char *p = s;
	while (*p) {
		size_t n = strcspn(p, ", \t");
		if (n > 0) {
			bool found = false;
			for (size_t i = 0; i < sizeof notify_words / sizeof notify_words[0]; i++) {
				if (strlen(notify_words[i].name) == n &&
				    strncasecmp(p, notify_words[i].name, n) == 0) {
					bits |= notify_words[i].bit;
					found = true;
				}
			}
			if (!found)
				return false;
		}
		p += n;
		p += strspn(p, ", \t");
	}
	/* RFC 3461: NEVER stands alone. */
	if (bits == 0 || ((bits & NOTIFY_NEVER) && bits != NOTIFY_NEVER))
		return false;
	*notify = bits;
	return true;
}

void
envelope_escape(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p > 0x20 && *p < 0x7f && *p != '%') {
			buf_putc(out, *p);
		} else {
			char esc[3] = { '%', hex[*p >> 4], hex[*p & 15] };
			buf_append(out, esc, 3);
		}
	}
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

bool
envelope_unescape(struct buf *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f)
			return false;
		if (c != '%') {
			buf_putc(out, c);
			continue;
		}
		if (i + 2 >= n)
			return false;
		int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return false;
		buf_putc(out, hi * 16 + lo);
		i += 2;
	}
	return true;
}

static void
put_record(struct buf *out, const char *key, const char *value)
{
	buf_puts(out, key);
	buf_puts(out, ": ");
	envelope_escape(out, value);
	buf_putc(out, '\n');
}

static void
put_field(struct buf *out, const char *name, const char *value)
{
	buf_putc(out, ' ');
	buf_puts(out, name);
	buf_putc(out, '=');
	envelope_escape(out, value);
}

void
envelope_format(const struct envelope *e, bool client_only, struct buf *out,
    size_t *size_off)
{
	struct buf tmp = BUF_INIT;
	buf_puts(out, ENVELOPE_VERSION_LINE "\n");
	if (!client_only) {
		if (e->id[0])
			put_record(out, "id", e->id);
		buf_printf(out, "arrival: %" PRId64 ".%06ld\n", e->arrival_sec, e->arrival_usec);
		buf_printf(out, "uid: %lld\n", e->uid);
		buf_puts(out, "size: ");
		if (size_off)
			*size_off = out->len;
		buf_printf(out, "%0*lld\n", ENVELOPE_SIZE_WIDTH, e->size < 0 ? 0 : e->size);
		buf_printf(out, "attempts: %u\n", e->attempts);
		buf_printf(out, "next-retry: %" PRId64 "\n", e->next_retry);
		if (e->hold)
			buf_puts(out, "hold: yes\n");
		if (e->delay_warned)
			buf_puts(out, "delay-warned: yes\n");
	}
	/* The null sender is an empty value: "sender: " then the newline. */
	put_record(out, "sender", e->sender ? e->sender : "");
	if (e->fullname)
		put_record(out, "fullname", e->fullname);
	if (e->envid)
		put_record(out, "envid", e->envid);
	if (e->ret)
		put_record(out, "ret", e->ret);
	if (e->body)
		put_record(out, "body", e->body);
	if (e->smtputf8)
		buf_puts(out, "smtputf8: yes\n");
	for (size_t i = 0; i < e->nrcpt; i++) {
		const struct rcpt *r = &e->rcpt[i];
		buf_puts(out, "rcpt:");
		put_field(out, "addr", r->addr);
		if (r->orig)
			put_field(out, "orig", r->orig);
		if (r->owner)
			put_field(out, "owner", r->owner);
		buf_reset(&tmp);
		envelope_notify_format(r->notify, &tmp);
		if (tmp.len)
			put_field(out, "notify", buf_cstr(&tmp));
		put_field(out, "state", envelope_state_name(r->state));
		if (r->dsn[0])
			put_field(out, "dsn", r->dsn);
		if (r->reason)
			put_field(out, "reason", r->reason);
		if (r->type != RCPT_ADDRESS) {
			put_field(out, "type", r->type == RCPT_FILE ? "file" : "command");
			put_field(out, "target", r->target ? r->target : "");
		}
		buf_putc(out, '\n');
	}
	buf_putc(out, '\n');
	buf_clear(&tmp);
}

/* ---- parsing ---- */

static bool
parse_int(const char *s, long long min, long long max, long long *out)
{
	if (*s == '\0' || (!isdigit((unsigned char)*s) && *s != '-'))
		return false;
	errno = 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* Re-validates an address read back; "" is the null address. */
static bool
valid_address(const char *s, bool null_ok)
{
	if (*s == '\0')
		return null_ok;
	struct addr a;
	struct buf why = BUF_INIT, canon = BUF_INIT;
	bool ok = addr_parse_canonical(s, &a, &why);
	if (ok) {
		addr_format(&a, &canon);
		ok = strcmp(buf_cstr(&canon), s) == 0 && a.local[0] != '\0';
		addr_clear(&a);
	}
	buf_clear(&why);
	buf_clear(&canon);
	return ok;
}

static bool
parse_rcpt(struct envelope *e, const char *p, size_t n, struct buf *why)
{
	struct rcpt *r = envelope_new_rcpt(e);
	struct buf val = BUF_INIT;
	bool ok = false;
	if (r == NULL) {
		buf_printf(why, "more than %d recipients", ENVELOPE_MAX_RCPT);
		return false;
	}
	r->state = RCPT_PENDING;
	const char *end = p + n;
	while (p < end) {
		while (p < end && *p == ' ')
			p++;
		if (p == end)
			break;
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		const char *fend = sp ? sp : end;
		const char *eq = memchr(p, '=', (size_t)(fend - p));
		if (eq == NULL) {
			buf_puts(why, "rcpt field without '='");
			goto out;
		}
		size_t nlen = (size_t)(eq - p);
		buf_reset(&val);
		if (!envelope_unescape(&val, eq + 1, (size_t)(fend - eq - 1))) {
			buf_printf(why, "bad escape in rcpt field %.*s", (int)nlen, p);
			goto out;
		}
		const char *v = buf_cstr(&val);
#define FIELD(name) (nlen == sizeof(name) - 1 && memcmp(p, name, nlen) == 0)
		if (FIELD("addr") || FIELD("orig") || FIELD("owner")) {
			if (!valid_address(v, FIELD("owner"))) {
				buf_printf(why, "invalid recipient address in rcpt %.*s", (int)nlen, p);
				goto out;
			}
			char **slot = FIELD("addr") ? &r->addr : FIELD("orig") ? &r->orig : &r->owner;
			free(*slot);
			*slot = xstrdup(v);
		} else if (FIELD("notify")) {
			if (!envelope_notify_parse(v, &r->notify)) {
				buf_puts(why, "bad notify value");
				goto out;
			}
		} else if (FIELD("state")) {
			if (strcmp(v, "pending") == 0)
				r->state = RCPT_PENDING;
			else if (strcmp(v, "sent") == 0)
				r->state = RCPT_SENT;
			else if (strcmp(v, "bounced") == 0)
				r->state = RCPT_BOUNCED;
			else {
				buf_puts(why, "bad rcpt state");
				goto out;
			}
		} else if (FIELD("dsn")) {
			if (val.len >= sizeof r->dsn) {
				buf_puts(why, "bad dsn code");
				goto out;
			}
			memcpy(r->dsn, v, val.len + 1);
		} else if (FIELD("reason")) {
			free(r->reason);
			r->reason = xstrdup(v);
		} else if (FIELD("type")) {
			if (strcmp(v, "file") == 0)
				r->type = RCPT_FILE;
			else if (strcmp(v, "command") == 0)
				r->type = RCPT_COMMAND;
			else {
				buf_puts(why, "bad rcpt type");
				goto out;
			}
		} else if (FIELD("target")) {
			free(r->target);
			r->target = xstrdup(v);
		}
#undef FIELD
		/* unknown fields: tolerated (a newer writer) */
		p = fend;
	}
	if (r->addr == NULL) {
		buf_puts(why, "rcpt record without addr");
		goto out;
	}
	if ((r->type != RCPT_ADDRESS) != (r->target != NULL && r->target[0] != '\0') ||
	    (r->type == RCPT_FILE && r->target[0] != '/')) {
		buf_puts(why, "rcpt type and target do not match");
		goto out;
	}
	ok = true;
out:
	if (!ok) {
		rcpt_clear(r);
		e->nrcpt--;
	}
	buf_clear(&val);
	return ok;
}

static bool
set_string(char **slot, const char *v)
{
	free(*slot);
	*slot = xstrdup(v);
	return true;
}

bool
envelope_parse(struct envelope *e, const char *text, size_t len, size_t *used,
    struct buf *why)
{
	struct buf val = BUF_INIT;
	size_t pos = 0, lineno = 0;
	bool ok = false, done = false;
	long long num;

	if (len > ENVELOPE_MAX_BYTES)
		len = ENVELOPE_MAX_BYTES;
	while (pos < len && !done) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		if (nl == NULL) {
			buf_puts(why, "envelope is incomplete (no end of envelope)");
			goto out;
		}
		size_t n = (size_t)(nl - line);
		pos += n + 1;
		lineno++;
		if (n > ENVELOPE_MAX_LINE) {
			buf_printf(why, "envelope record %zu too long", lineno);
			goto out;
		}
		if (lineno == 1) {
			if (n != strlen(ENVELOPE_VERSION_LINE) ||
			    memcmp(line, ENVELOPE_VERSION_LINE, n) != 0) {
				buf_puts(why, "not a satmail envelope (bad version line)");
				goto out;
			}
			continue;
		}
		if (n == 0) {
			done = true;
			break;
		}
		const char *colon = memchr(line, ':', n);
		if (colon == NULL || colon + 1 >= line + n + 1 ||
		    (colon + 1 < line + n && colon[1] != ' ')) {
			buf_printf(why, "malformed envelope record %zu", lineno);
			goto out;
		}
		size_t klen = (size_t)(colon - line);
		const char *v = colon + 1 < line + n ? colon + 2 : colon + 1;
		size_t vlen = (size_t)(line + n - v);
#define KEY(name) (klen == sizeof(name) - 1 && memcmp(line, name, klen) == 0)
		if (KEY("rcpt")) {
			if (!parse_rcpt(e, v, vlen, why))
				goto out;
			continue;
		}
		buf_reset(&val);
		if (!envelope_unescape(&val, v, vlen)) {
			buf_printf(why, "bad escape in envelope record %zu", lineno);
			goto out;
		}
		const char *s = buf_cstr(&val);
		if (KEY("id")) {
			if (val.len == 0 || val.len >= sizeof e->id ||
			    strspn(s, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") != val.len) {
				buf_puts(why, "bad queue id record");
				goto out;
			}
			memcpy(e->id, s, val.len + 1);
		} else if (KEY("arrival")) {
			if (val.len == 0)
				goto bad;
			char *dot = strchr(val.data, '.');
			long long usec = 0;
			if (dot) {
				*dot = '\0';
				if (!parse_int(dot + 1, 0, 999999, &usec))
					goto bad;
			}
			if (!parse_int(val.data, 0, INT64_MAX, &num))
				goto bad;
			e->arrival_sec = num;
			e->arrival_usec = (long)usec;
		} else if (KEY("uid")) {
			if (!parse_int(s, -1, INT32_MAX, &e->uid))
				goto bad;
		} else if (KEY("size")) {
			if (!parse_int(s, 0, INT64_MAX, &e->size))
				goto bad;
		} else if (KEY("attempts")) {
			if (!parse_int(s, 0, 1000000, &num))
				goto bad;
			e->attempts = (unsigned)num;
		} else if (KEY("next-retry")) {
			if (!parse_int(s, 0, INT64_MAX, &num))
				goto bad;
			e->next_retry = num;
		} else if (KEY("hold")) {
			e->hold = strcmp(s, "yes") == 0;
		} else if (KEY("delay-warned")) {
			e->delay_warned = strcmp(s, "yes") == 0;
		} else if (KEY("sender")) {
			if (!valid_address(s, true))
				goto bad;
			set_string(&e->sender, s);
		} else if (KEY("fullname")) {
			set_string(&e->fullname, s);
		} else if (KEY("envid")) {
			set_string(&e->envid, s);
		} else if (KEY("ret")) {
			if (strcmp(s, "full") != 0 && strcmp(s, "hdrs") != 0)
				goto bad;
			set_string(&e->ret, s);
		} else if (KEY("body")) {
			if (strcmp(s, "7bit") != 0 && strcmp(s, "8bitmime") != 0)
				goto bad;
			set_string(&e->body, s);
		} else if (KEY("smtputf8")) {
			e->smtputf8 = strcmp(s, "yes") == 0;
		}
		/* unknown keys: tolerated */
#undef KEY
		continue;
bad:
		buf_printf(why, "bad value in envelope record %zu (%.*s)", lineno,
		    (int)(klen < 32 ? klen : 32), line);
		goto out;
	}
	if (!done) {
		buf_puts(why, lineno == 0 ? "empty envelope" : "envelope is incomplete (no end of envelope)");
		goto out;
	}
	if (used)
		*used = pos;
	ok = true;
out:
	buf_clear(&val);
	return ok;
}
