/* mailq - the queue listing in Postfix's formats.
 *
 * Text (postqueue -p / mailq): a header line, one block per message (id
 * with '*' when being delivered or '!' when held, size, arrival time,
 * sender; then each pending recipient, preceded by its deferral reason in
 * parentheses when that differs from the previous one), a blank line
 * between blocks, and the "-- N Kbytes in N Requests." footer; or "Mail
 * queue is empty".  JSON (postqueue -j): one object per message per line. */
#ifndef SATMAIL_MAILQ_H
#define SATMAIL_MAILQ_H
#include <stdbool.h>

#include "buf.h"
#include "envelope.h"

struct mailq_totals {
	unsigned long long bytes;
	unsigned long requests;
};

/* Appends one message's text block (with the header line first when
 * totals->requests is 0) and counts it in totals. */
void mailq_text_entry(struct buf *out, const struct envelope *e, bool busy,
    struct mailq_totals *totals);
/* Appends the footer, or "Mail queue is empty". */
void mailq_text_end(struct buf *out, const struct mailq_totals *totals);
/* Appends one JSON line. */
void mailq_json_entry(struct buf *out, const struct envelope *e, bool busy);
/* JSON string escaping (RFC 8259), quotes included. */
void mailq_json_string(struct buf *out, const char *s);

#endif
