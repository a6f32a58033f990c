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
 * Retry policy (after an attempt that tried something): recipients still
 * pending when the message is older than maximal_queue_lifetime
 * (bounce_queue_lifetime for a null-sender message) fail with 4.4.7
 * "delivery time expired" plus their last reason, logged as
 * "status=expired, returned to sender (REASON)", and go back in the same
 * non-delivery notice as this attempt's permanent failures; an expired
 * null-sender message is discarded with a log line instead.  With
 * delay_warning_time > 0, the first attempt after the message is older
 * than it, with recipients still pending, queues one "delayed mail"
 * notice (Action: delayed) and records delay-warned in the envelope so
 * that it is never sent twice.  The other pending recipients wait until
 * deliver_next_retry().
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
	size_t sent, deferred, bounced;	/* bounced includes expired */
	size_t expired;		/* pending recipients failed by the lifetime */
	bool busy;		/* another process holds the entry */
	bool unknown_user;	/* some local recipient bounced 5.1.1 */
	char bounce_id[32];	/* the non-delivery DSN queued, "" if none */
	char success_id[32];	/* the success DSN queued (-N success), "" if none */
	char delay_id[32];	/* the delay DSN queued (delay_warning_time), "" if none */
};

/* The next-retry time after a failed attempt at `now`: Postfix's rule,
 * now + the message's age clamped to [minimal_backoff_time,
 * maximal_backoff_time], so the waits run 5, 10, 20, 40, 66.7 min and
 * then 4000 s with the defaults.  Never sooner than now +
 * minimal_backoff_time, even when maximal < minimal or the age is
 * negative (clock set back). */
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
