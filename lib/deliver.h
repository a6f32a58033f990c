/* deliver - one delivery attempt for one queue entry.
 *
 * Locks the entry (a busy entry is someone else's: nothing to do), routes
 * every pending recipient (router.h), hands each group of recipients that
 * share a transport and next hop to that transport, records the outcomes
 * in the entry (atomically, queue.h state 5), logs one Postfix-shaped line
 * per recipient, queues a delivery status notification for recipients
 * that failed permanently (bounce.h), and removes the entry when nothing
 * is left pending.
 *
 * File and command recipients (from aliases) are run only when
 * root_run is set: by a queue run that root started.  Any other run
 * leaves them pending for it. */
#ifndef SATMAIL_DELIVER_H
#define SATMAIL_DELIVER_H
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "conf.h"
#include "queue.h"
#include "status.h"

struct deliver_opts {
	bool root_run;		/* run file and command recipients */
	bool ignore_retry_time;	/* deliver even before next-retry */
	time_t now;
};

struct deliver_result {
	size_t sent, deferred, bounced;
	bool busy;		/* another process holds the entry */
	bool unknown_user;	/* some local recipient bounced 5.1.1 */
	char bounce_id[32];	/* the non-delivery DSN queued, "" if none */
	char success_id[32];	/* the success DSN queued (-N success), "" if none */
};

/* Backoff after attempt number `attempts` (1 = the first): Postfix's
 * rule, the entry's age clamped to [minimal_backoff_time,
 * maximal_backoff_time]. */
time_t deliver_next_retry(const struct conf *c, time_t arrival, time_t now);

/* One attempt for queue/ID.  Returns false with st when the entry could
 * not be read or recorded (it is then left as it was, or quarantined when
 * corrupt). */
bool deliver_entry(const struct conf *c, struct queue *q, const char *id,
    const struct deliver_opts *o, struct deliver_result *res, struct status *st);

/* Postfix's delay formatting: at most 2 significant digits ("0.06",
 * "1.4", "32", "0"). */
void deliver_format_delay(double seconds, struct buf *out);

#endif
