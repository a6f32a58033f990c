/* submit - one message submission: the intake path of sendmail -bm.
 *
 * Reads the message from a descriptor, works out the envelope (sender,
 * command-line and -t recipients), edits the header section as Postfix's
 * pickup and cleanup do (Bcc, Resent-Bcc, Return-Path and Content-Length
 * removed; bare addresses qualified with @$myorigin; Message-ID, Date and
 * From added when missing; Received prepended), and streams envelope and
 * message to `satmail-queue drop`.  Success means the message is durably
 * queued. */
#ifndef SATMAIL_SUBMIT_H
#define SATMAIL_SUBMIT_H
#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
#include "msg.h"
#include "status.h"

/* One recipient of an SMTP transaction (sendmail -bs), already validated:
 * addr in canonical form (addr.h), orcpt a canonical address or NULL. */
struct submit_rcpt {
	const char *addr;
	unsigned notify;		/* NOTIFY_* bits, 0 = not given */
	const char *orcpt;
};

struct submit_opts {
	const char *config_opt;		/* -C FILE, handed on to the helper */
	const char *sender;		/* -f / -r argument, or NULL */
	const char *fullname;		/* -F, or NULL */
	bool extract;			/* -t */
	bool dot_mode;			/* no -i */
	char *const *rcpt_args;		/* command-line recipient arguments */
	size_t nrcpt_args;
	unsigned notify;		/* -N bits, 0 = not given */
	const char *ret;		/* -R: "full", "hdrs" or NULL */
	const char *envid;		/* -V, or NULL */
	const char *body;		/* -B: "7bit", "8bitmime" or NULL */
	/* sendmail -bs: recipients from the SMTP envelope (added after any
	 * rcpt_args), the client's HELO name for the Received header (NULL:
	 * not SMTP), SMTPUTF8 given, and the message from reader instead of
	 * in_fd (dot_mode should then be false: the reader ends the data). */
	const struct submit_rcpt *rcpts;
	size_t nrcpts;
	const char *helo;
	bool smtputf8;
	msg_read_fn reader;
	void *reader_ctx;
	/* Delivery right after the commit, by the same queue program (one
	 * program start instead of two): 0 = none, 'i' = foreground (the
	 * helper delivers before it exits; stderr is ours, for -v), 'b' =
	 * background (it detaches a delivery and exits).  *delivered gets the
	 * helper's exit status, or -1 when it was not asked or died before
	 * answering "ok" (the caller then starts delivery itself). */
	char then_deliver;
	bool verbose;
	int *delivered;
};

/* Validates the command-line recipients before any input is read, so a
 * bad argument queues nothing (exit 64).  Returns false with st set. */
bool submit_check_args(const struct conf *conf, const struct submit_opts *o,
    struct status *st);

/* Submits the message read from in_fd (or o->reader).  On success copies the queue id
 * to id (at least 32 bytes) and returns true; otherwise returns false with
 * st set (exit code via status_sysexit) and nothing queued. */
bool submit_message(const struct conf *conf, const struct submit_opts *o,
    int in_fd, char *id, struct status *st);

/* The envelope sender for this call: -f/-r (first address; "<>" = null),
 * else the login name of the real uid, qualified with @$myorigin.
 * Appends the canonical form to out; false with st on a bad -f. */
bool submit_sender(const struct conf *conf, const char *arg, struct buf *out,
    struct status *st);

#endif
