/* mailq - Postfix-format queue listings (see mailq.h; the layout is that of
 * Postfix's showq_compat.c and showq_json.c as POSTFIX-NOTES.md 8.1-8.2
 * describe them). */
#include "mailq.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

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
			buf_printf(out, "%*s(%s)\n", pad > 0 ? pad : 0, "", reason);
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
	buf_putc(out, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			buf_printf(out, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			buf_printf(out, "\\u%04x", *p);
		else
			buf_putc(out, *p);
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
