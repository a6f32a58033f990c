/* mailq - Postfix-format queue listings (see mailq.h; the layout is that of
 * Postfix's showq_compat.c and showq_json.c as POSTFIX-NOTES.md 8.1-8.2
 * describe them). */
#include "mailq.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Peer text made printable, as Postfix's printable(): control bytes
 * become '?', so a reason cannot forge lines or drive a terminal. */
static void
printable(struct buf *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		buf_putc(out, *p < 0x20 || *p == 0x7f ? '?' : *p);
}

/* Length of the valid UTF-8 sequence at p (0 when invalid). */
static size_t
utf8_len(const unsigned char *p)
{
	size_t n = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 && p[0] < 0xe0 ? 2 : 0;
	if (n == 0)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	uint32_t cp = n == 2 ? (p[0] & 0x1fu) : n == 3 ? (p[0] & 0x0fu) : (p[0] & 0x07u);
	for (size_t i = 1; i < n; i++)
		cp = cp << 6 | (p[i] & 0x3fu);
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

static const char *
sender_shown(const struct envelope *e)
{
	const char *s = envelope_sender(e);
	return *s ? s : "MAILER-DAEMON";
}

void
mailq_text_entry(struct buf *out, const struct envelope *e, bool busy,
    struct mailq_totals *totals)
{
	char idm[40], when[32];
	time_t t = (time_t)e->arrival_sec;
	struct tm tm;

	if (totals->requests == 0)
		buf_printf(out, "%-11s %7s %-20s %s\n", "-Queue ID-", "--Size--",
		    "----Arrival Time----", "-Sender/Recipient-------");
	else
		buf_putc(out, '\n');
	snprintf(idm, sizeof idm, "%s%s", e->id, busy ? "*" : e->hold ? "!" : "");
	localtime_r(&t, &tm);
	asctime_r(&tm, when);
	buf_printf(out, "%-11s %7lld %20.20s %s\n", idm, e->size, when, sender_shown(e));

	const char *prev = NULL;
	for (size_t i = 0; i < e->nrcpt; i++) {
		const struct rcpt *r = &e->rcpt[i];
		if (r->state != RCPT_PENDING)
			continue;
		const char *reason = r->reason ? r->reason : prev ? "reason unavailable" : NULL;
		if (reason && (prev == NULL || strcmp(prev, reason) != 0)) {
			int pad = 76 - (int)strlen(reason);
			buf_printf(out, "%*s(", pad > 0 ? pad : 0, "");
			printable(out, reason);
			buf_puts(out, ")\n");
		}
		prev = reason;
		buf_printf(out, "%41s%s\n", "", r->addr);
	}
	totals->bytes += (unsigned long long)(e->size > 0 ? e->size : 0);
	totals->requests++;
}

void
mailq_text_end(struct buf *out, const struct mailq_totals *totals)
{
	if (totals->requests == 0) {
		buf_puts(out, "Mail queue is empty\n");
		return;
	}
	buf_printf(out, "\n-- %llu Kbytes in %lu Request%s.\n", totals->bytes / 1024,
	    totals->requests, totals->requests == 1 ? "" : "s");
}

void
mailq_json_string(struct buf *out, const char *s)
{
	static const char shortesc[] = "\bb\ff\nn\rr\tt";
	buf_putc(out, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		const char *e = *p ? strchr(shortesc, *p) : NULL;
		if (*p == '"' || *p == '\\') {
			buf_printf(out, "\\%c", *p);
		} else if (e && (e - shortesc) % 2 == 0) {
			buf_printf(out, "\\%c", e[1]);
		} else if (*p < 0x20 || *p == 0x7f) {
			buf_printf(out, "\\u%04X", *p);
		} else if (*p < 0x80) {
			buf_putc(out, *p);
		} else {
			/* JSON is UTF-8: an invalid byte becomes '?' as in Postfix. */
			size_t n = utf8_len(p);
			if (n == 0) {
				buf_putc(out, '?');
			} else {
				buf_append(out, p, n);
				p += n - 1;
			}
		}
	}
	buf_putc(out, '"');
}

void
mailq_json_entry(struct buf *out, const struct envelope *e, bool busy)
{
	const char *queue = busy ? "active" : e->hold ? "hold" :
	    e->attempts > 0 ? "deferred" : "incoming";
	buf_puts(out, "{\"queue_name\": ");
	mailq_json_string(out, queue);
	buf_puts(out, ", \"queue_id\": ");
	mailq_json_string(out, e->id);
	buf_printf(out, ", \"arrival_time\": %lld, \"message_size\": %lld, "
	    "\"forced_expire\": false, \"sender\": ", (long long)e->arrival_sec, e->size);
	mailq_json_string(out, sender_shown(e));
	buf_puts(out, ", \"recipients\": [");
	bool first = true;
	for (size_t i = 0; i < e->nrcpt; i++) {
		const struct rcpt *r = &e->rcpt[i];
		if (r->state != RCPT_PENDING)
			continue;
		if (!first)
			buf_puts(out, ", ");
		first = false;
		buf_puts(out, "{\"address\": ");
		mailq_json_string(out, r->addr);
		if (r->reason) {
			buf_puts(out, ", \"delay_reason\": ");
			mailq_json_string(out, r->reason);
		}
		buf_putc(out, '}');
	}
	buf_puts(out, "]}\n");
}
