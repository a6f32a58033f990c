/* deliver - one delivery attempt of one queue entry (see deliver.h). */
#include "deliver.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "bounce.h"
#include "log.h"
#include "msg.h"
#include "router.h"
#include "transport_local.h"
#include "transport_pipe.h"
#include "transport_smtp.h"
#include "xalloc.h"

time_t
deliver_next_retry(const struct conf *c, time_t arrival, time_t now)
{
	/* The wait is the message's age, so it roughly doubles from one
	 * attempt to the next; the minimum is applied last so that a
	 * configuration with maximal < minimal still never retries sooner
	 * than minimal_backoff_time (and a clock that went backwards, a
	 * negative age, waits the minimum). */
	time_t age = now - arrival;
	if (age > (time_t)c->maximal_backoff_time)
		age = (time_t)c->maximal_backoff_time;
	if (age < (time_t)c->minimal_backoff_time)
		age = (time_t)c->minimal_backoff_time;
	return now + age;
}

void
deliver_format_delay(double s, struct buf *out)
{
	if (s < 0.005) {
		buf_puts(out, "0");
		return;
	}
	char tmp[32];
	if (s >= 10)
		snprintf(tmp, sizeof tmp, "%.0f", s);
	else if (s >= 1)
		snprintf(tmp, sizeof tmp, "%.1f", s);
	else if (s >= 0.1)
		snprintf(tmp, sizeof tmp, "%.2f", s);
	else
		snprintf(tmp, sizeof tmp, "%.2f", s);
	/* Trailing zeros go: "1.0" -> "1", "0.50" -> "0.5". */
	char *dot = strchr(tmp, '.');
	if (dot) {
		char *end = tmp + strlen(tmp) - 1;
		while (end > dot && *end == '0')
			*end-- = '\0';
		if (end == dot)
			*end = '\0';
	}
	buf_puts(out, tmp);
}

static double
now_seconds(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

/* QID: to=<ADDR>[, orig_to=<ORIG>], relay=R, delay=T, delays=a/b/c/d,
 * dsn=X.Y.Z, status=STATUS (TEXT) */
static void
log_delivery(const struct envelope *e, const struct rcpt *r, const char *relay,
    double started, const struct status *st, const char *word)
{
	struct buf line = BUF_INIT, d = BUF_INIT;
	double now = now_seconds();
	double arrival = (double)e->arrival_sec + e->arrival_usec / 1e6;
	buf_printf(&line, "%s: to=<%s>", e->id, r->type == RCPT_ADDRESS ? r->addr : r->target);
	if (r->orig && strcasecmp(r->orig, r->addr) != 0)
		buf_printf(&line, ", orig_to=<%s>", r->orig);
	buf_printf(&line, ", relay=%s, delay=", relay);
	deliver_format_delay(now - arrival, &line);
	buf_puts(&line, ", delays=");
	deliver_format_delay(started - arrival, &line);
	buf_puts(&line, "/0/0/");
	deliver_format_delay(now - started, &line);
	if (word == NULL)
		word = st->cls == STATUS_OK ? "sent" : st->cls == STATUS_TEMP ? "deferred" : "bounced";
	buf_printf(&line, ", dsn=%s, status=%s (%s)", st->dsn, word, buf_cstr(&st->text));
	log_info("%s", line.data);
	buf_clear(&line);
	buf_clear(&d);
}

static void
record(struct rcpt *r, const struct status *st, struct deliver_result *res)
{
	free(r->reason);
	r->reason = NULL;
	snprintf(r->dsn, sizeof r->dsn, "%s", st->dsn);
	switch (st->cls) {
	case STATUS_OK:
		r->state = RCPT_SENT;
		res->sent++;
		break;
	case STATUS_TEMP:
		r->reason = xstrdup(buf_cstr(&st->text));
		res->deferred++;
		break;
	case STATUS_PERM:
		r->state = RCPT_BOUNCED;
		r->reason = xstrdup(buf_cstr(&st->text));
		res->bounced++;
		break;
	}
}

struct bounce_sink {
	struct queue_drop *d;
	struct status *st;
};

static bool
bounce_put(void *ctx, const char *p, size_t n)
{
	struct bounce_sink *bs = ctx;
	return queue_drop_write(bs->d, p, n, bs->st);
}

/* Writes a DSN about e as a new queue entry from the null sender to `to`
 * (the queue program writes it directly: it is the queue's writer). */
static bool
bounce_queue(const struct conf *c, struct queue *q, enum bounce_kind kind,
    const struct envelope *e, const char *to, const struct bounce_rcpt *br, size_t n,
    int msg_fd, long long msg_offset, long long msg_size, char *id_out, struct status *st)
{
	struct envelope b;
	struct buf head = BUF_INIT;
	struct queue_drop *d = queue_drop_begin(q, st);
	bool ok = false;
	time_t now = time(NULL);
	char stamp[32];
	struct tm gm;

	envelope_init(&b);
	if (d == NULL)
		goto out;
	if (!envelope_add_rcpt(&b, to, NULL, 0) || !queue_drop_envelope(d, &b, st))
		goto out;
	gmtime_r(&now, &gm);
	strftime(stamp, sizeof stamp, "%Y%m%d%H%M%S", &gm);
	buf_printf(&head, "Received: by %s (%s)\n\tid %s; ", c->myhostname,
	    c->mail_name ? c->mail_name : "satmail", queue_drop_id(d));
	msg_date(now, &head);
	buf_puts(&head, "\nDate: ");
	msg_date(now, &head);
	buf_printf(&head, "\nMessage-Id: <%s.%s@%s>\n", stamp, queue_drop_id(d), c->myhostname);
	struct bounce_sink bs = { d, st };
	if (!queue_drop_write(d, head.data, head.len, st) ||
	    !bounce_write(c, kind, e, br, n, msg_fd, msg_offset, msg_size, e->id, now,
	    bounce_put, &bs, st))
		goto out;
	snprintf(id_out, 32, "%s", queue_drop_id(d));
	ok = queue_drop_commit(d, st);
	d = NULL;
out:
	queue_drop_abort(d);
	envelope_clear(&b);
	buf_clear(&head);
	return ok;
}

/* Queues a DSN of the given kind about the recipients flagged in now[]:
 * FAILED for those that just bounced, SUCCESS for those just delivered
 * that asked for it (-N success).  Notifications go to the envelope
 * sender under the NOTIFY rules; a failed bounce (null sender) is
 * reported to postmaster instead, and one that was itself for postmaster
 * is dropped with a log line, so no bounce ever loops. */
/* A reason in the SMTP client's "host H[A] said: REPLY (in reply to X
 * command)" form yields the Remote-MTA host H and the server's REPLY. */
static bool
remote_reply(const char *reason, char **mta, char **diag)
{
	if (strncmp(reason, "host ", 5) != 0)
		return false;
	const char *lb = strchr(reason + 5, '[');
	const char *said = strstr(reason, "] said: ");
	const char *in_reply = said ? strstr(said, " (in reply to ") : NULL;
	if (lb == NULL || said == NULL || lb > said || in_reply == NULL)
		return false;
	*mta = xstrndup(reason + 5, (size_t)(lb - reason - 5));
	*diag = xstrndup(said + 8, (size_t)(in_reply - said - 8));
	return true;
}

static bool
queue_notice(const struct conf *c, struct queue *q, const struct queue_entry *qe,
    const bool *now, enum bounce_kind kind, char *id_out)
{
	bool ok = true;
	const struct envelope *e = &qe->env;
	struct bounce_rcpt *br = xcalloc(e->nrcpt, sizeof *br);
	char **mta = xcalloc(e->nrcpt, sizeof *mta), **diag = xcalloc(e->nrcpt, sizeof *diag);
	bool null_sender = *envelope_sender(e) == '\0';
	size_t n = 0;
	if (null_sender && kind != BOUNCE_FAILED)
		goto out;
	for (size_t i = 0; i < e->nrcpt; i++) {
		const struct rcpt *r = &e->rcpt[i];
		if (!now[i] || (!null_sender && !bounce_wanted(e, r, kind)))
			continue;
		br[n].addr = r->type == RCPT_ADDRESS ? r->addr : r->target;
		br[n].orig = r->orig;
		br[n].dsn = r->dsn;
		br[n].diagnostic = r->reason ? r->reason :
		    kind == BOUNCE_SUCCESS ? "delivered to mailbox" : "";
		if (r->reason && remote_reply(r->reason, &mta[n], &diag[n])) {
			/* The server's own words: Diagnostic-Code smtp; ... */
			br[n].reason = r->reason;
			br[n].diagnostic = diag[n];
			br[n].remote = true;
			br[n].remote_mta = mta[n];
		}
		n++;
	}
	const char *to = envelope_sender(e);
	char postmaster[300];
	if (null_sender) {
		snprintf(postmaster, sizeof postmaster, "postmaster@%s", c->myorigin);
		for (size_t i = 0; i < e->nrcpt && n > 0; i++) {
			if (strncasecmp(e->rcpt[i].addr, "postmaster@", 11) == 0) {
				log_warning("%s: undeliverable postmaster notification discarded", e->id);
				n = 0;
			}
		}
		to = postmaster;
	}
	if (n > 0) {
		struct status st;
		status_init(&st);
		if (bounce_queue(c, q, kind, e, to, br, n, qe->fd, qe->msg_offset,
		    qe->env.size, id_out, &st))
			log_info("%s: %s notification: %s", e->id, null_sender ? "postmaster non-delivery" :
			    kind == BOUNCE_SUCCESS ? "sender delivery status" :
			    kind == BOUNCE_DELAYED ? "sender delay" : "sender non-delivery",
			    id_out);
		else {
			log_warning("%s: cannot queue a delivery status notification: %s", e->id,
			    buf_cstr(&st.text));
			ok = false;
		}
		status_clear(&st);
	}
out:
	for (size_t i = 0; i < e->nrcpt; i++) {
		free(mta[i]);
		free(diag[i]);
	}
	free(mta);
	free(diag);
	free(br);
	return ok;
}

/* Retry policy, after an attempt (POSTFIX-NOTES.md 8.4): when the
 * message is older than maximal_queue_lifetime (bounce_queue_lifetime for
 * a null-sender message), every recipient still pending fails with
 * 4.4.7 "delivery time expired" and its last reason.  The caller returns
 * those flagged in bounced_now[] in the one non-delivery notice of this
 * attempt; a null-sender message is never returned (that would be a
 * bounce to <>): its expired recipients are discarded with a log line.
 * File and command recipients that this run could not try (not root)
 * wait for a run that can. */
static void
expire_pending(const struct conf *c, struct envelope *e, const struct deliver_opts *o,
    double started, bool *bounced_now, struct deliver_result *res)
{
	bool null_sender = *envelope_sender(e) == '\0';
	int64_t lifetime = null_sender ? c->bounce_queue_lifetime : c->maximal_queue_lifetime;
	size_t expired = 0;

	/* 0 = a single attempt, even within the second of arrival. */
	if (lifetime > 0 && (int64_t)o->now - e->arrival_sec <= lifetime)
		return;
	for (size_t i = 0; i < e->nrcpt; i++) {
		struct rcpt *r = &e->rcpt[i];
		if (r->state != RCPT_PENDING || (r->type != RCPT_ADDRESS && !o->root_run))
			continue;
		struct status st;
		status_init(&st);
		status_set(&st, STATUS_TEMP, "4.4.7", 0, "%s",
		    r->reason && *r->reason ? r->reason : "delivery time expired");
		log_delivery(e, r, "none", started, &st,
		    null_sender ? "expired, discarded" : "expired, returned to sender");
		buf_reset(&st.text);
		buf_puts(&st.text, "delivery time expired");
		if (r->reason && *r->reason)
			buf_printf(&st.text, "; last failure: %s", r->reason);
		free(r->reason);
		r->reason = xstrdup(buf_cstr(&st.text));
		snprintf(r->dsn, sizeof r->dsn, "%s", st.dsn);
		r->state = RCPT_BOUNCED;
		bounced_now[i] = !null_sender;
		res->bounced++;
		res->expired++;
		expired++;
		status_clear(&st);
	}
	if (expired > 0)
		log_info("%s: from=<%s>, status=expired, %s", e->id, envelope_sender(e),
		    null_sender ? "discarded" : "returned to sender");
}

bool
deliver_entry(const struct conf *c, struct queue *q, const char *id,
    const struct deliver_opts *o, struct deliver_result *res, struct status *st)
{
	struct queue_entry qe;
	struct buf why = BUF_INIT;
	struct status *results = NULL;
	struct rcpt **group = NULL;
	struct route *routes = NULL;
	bool *bounced_now = NULL, *sent_now = NULL, *done = NULL;
	bool ok = false, attempted = false;
	double started = now_seconds();

	memset(res, 0, sizeof *res);
	(void)router_register(&transport_local);
	(void)router_register(&transport_smtp);
	int rc = queue_entry_open(q, id, true, &qe, &why);
	if (rc == 2) {
		res->busy = true;
		ok = true;
		goto out;
	}
	if (rc == 0) {
		ok = true;	/* delivered and removed by someone else */
		goto out;
	}
	if (rc < 0) {
		queue_quarantine(q, id, buf_cstr(&why));
		status_set(st, STATUS_TEMP, "4.3.0", EXIT_SOFTWARE, "%s: corrupt queue entry: %s",
		    id, buf_cstr(&why));
		goto out;
	}
	if (qe.env.hold || (!o->ignore_retry_time && qe.env.next_retry > o->now)) {
		ok = true;
		goto out;
	}

	struct envelope *e = &qe.env;
	size_t n = e->nrcpt;
	results = xcalloc(n, sizeof *results);
	group = xcalloc(n, sizeof *group);
	routes = xcalloc(n, sizeof *routes);
	bounced_now = xcalloc(n, sizeof *bounced_now);
	sent_now = xcalloc(n, sizeof *sent_now);
	done = xcalloc(n, sizeof *done);
	for (size_t i = 0; i < n; i++) {
		status_init(&results[i]);
		route_init(&routes[i]);
		if (e->rcpt[i].state != RCPT_PENDING) {
			done[i] = true;
			continue;
		}
		if (e->rcpt[i].type != RCPT_ADDRESS) {
			/* Alias files and commands: root-started runs only. */
			done[i] = true;
			if (!o->root_run) {
				continue;
			}
			attempted = true;
			if (e->rcpt[i].type == RCPT_COMMAND)
				transport_pipe_run(c, e, &e->rcpt[i], qe.fd, qe.msg_offset, &results[i]);
			else
				transport_file_run(c, e, &e->rcpt[i], qe.fd, qe.msg_offset, &results[i]);
			log_delivery(e, &e->rcpt[i], e->rcpt[i].type == RCPT_COMMAND ? "local (command)" :
			    "local (file)", started, &results[i], NULL);
			bounced_now[i] = results[i].cls == STATUS_PERM;
			sent_now[i] = results[i].cls == STATUS_OK;
			record(&e->rcpt[i], &results[i], res);
			continue;
		}
		router_route(c, e->rcpt[i].addr, &routes[i]);
	}
	/* Each group of recipients with the same transport and next hop goes
	 * to the transport in one call. */
	for (size_t i = 0; i < n; i++) {
		if (done[i])
			continue;
		size_t g = 0;
		for (size_t k = i; k < n; k++) {
			if (done[k] || routes[k].kind != routes[i].kind ||
			    strcmp(buf_cstr(&routes[k].nexthop), buf_cstr(&routes[i].nexthop)) != 0)
				continue;
			group[g++] = &e->rcpt[k];
			done[k] = true;
		}
		attempted = true;
		const struct transport *t = routes[i].transport ? router_transport(routes[i].transport) : NULL;
		struct buf relay = BUF_INIT;
		buf_set(&relay, routes[i].kind == ROUTE_LOCAL ? "local" : "none");
		struct status *gres = xcalloc(g, sizeof *gres);
		for (size_t k = 0; k < g; k++)
			status_init(&gres[k]);
		if (routes[i].kind == ROUTE_ERROR) {
			for (size_t k = 0; k < g; k++)
				status_copy(&gres[k], &routes[i].error);
		} else if (t == NULL) {
			for (size_t k = 0; k < g; k++)
				status_set(&gres[k], STATUS_TEMP, "4.3.0", 0,
				    "delivery by %s is not available in this version of satmail",
				    routes[i].transport);
		} else {
			t->deliver(c, e, qe.fd, qe.msg_offset, buf_cstr(&routes[i].nexthop), group, g, gres,
			    &relay);
		}
		for (size_t k = 0; k < g; k++) {
			size_t idx = (size_t)(group[k] - e->rcpt);
			log_delivery(e, group[k], buf_cstr(&relay), started, &gres[k], NULL);
			/* sendmail -odi exits 67 for an unknown local user
			 * only; a remote 5.1.1 is the bounce's business. */
			if (routes[i].kind == ROUTE_LOCAL && gres[k].cls == STATUS_PERM &&
			    strcmp(gres[k].dsn, "5.1.1") == 0)
				res->unknown_user = true;
			bounced_now[idx] = gres[k].cls == STATUS_PERM;
			sent_now[idx] = gres[k].cls == STATUS_OK;
			record(group[k], &gres[k], res);
			status_clear(&gres[k]);
		}
		free(gres);
		buf_clear(&relay);
	}
	if (attempted && envelope_pending(e) > 0)
		expire_pending(c, e, o, started, bounced_now, res);
	/* A bounce that cannot be queued must not be lost: its recipients
	 * stay pending, and the next run fails them (and bounces) again. */
	if (res->bounced > 0 &&
	    !queue_notice(c, q, &qe, bounced_now, BOUNCE_FAILED, res->bounce_id)) {
		for (size_t i = 0; i < n; i++)
			if (bounced_now[i])
				e->rcpt[i].state = RCPT_PENDING;
	}
	if (res->sent > 0)
		queue_notice(c, q, &qe, sent_now, BOUNCE_SUCCESS, res->success_id);
	/* delay_warning_time: one "delayed mail" notice per message, ever.
	 * The envelope records that it was queued (delay-warned), written
	 * below with the rest of this attempt's results; a notice that could
	 * not be queued is tried again after the next attempt.  As for
	 * bounces, a crash between queueing the notice and that write is the
	 * one window in which it could be sent twice.  An expired message
	 * (even one whose bounce could not be queued yet) is past warning. */
	if (attempted && res->expired == 0 && c->delay_warning_time > 0 && !e->delay_warned &&
	    envelope_pending(e) > 0 &&
	    (int64_t)o->now - e->arrival_sec > (int64_t)c->delay_warning_time) {
		bool *pending = xcalloc(n, sizeof *pending);
		for (size_t i = 0; i < n; i++)
			pending[i] = e->rcpt[i].state == RCPT_PENDING;
		if (queue_notice(c, q, &qe, pending, BOUNCE_DELAYED, res->delay_id))
			e->delay_warned = true;
		free(pending);
	}
	if (envelope_pending(e) == 0) {
		if (!queue_entry_remove(q, &qe, st))
			goto out;
		log_info("%s: removed", id);
	} else if (attempted) {
		e->attempts++;
		e->next_retry = deliver_next_retry(c, (time_t)e->arrival_sec, o->now);
		if (!queue_entry_update(q, &qe, st)) {
			/* The entry stays as it was: recipients delivered just
			 * now may be delivered again, none is lost. */
			log_warning("%s: cannot record the delivery status: %s", id, buf_cstr(&st->text));
			goto out;
		}
	}
	ok = true;
out:
	if (results)
		for (size_t i = 0; i < qe.env.nrcpt; i++) {
			status_clear(&results[i]);
			route_clear(&routes[i]);
		}
	free(results);
	free(group);
	free(routes);
	free(bounced_now);
	free(sent_now);
	free(done);
	if (rc != 2)
		queue_entry_close(&qe);
	buf_clear(&why);
	return ok;
}
