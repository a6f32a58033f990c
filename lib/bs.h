/* bs - sendmail -bs: an RFC 5321 server dialogue on two descriptors.
 *
 * The client on the other end is a local program (Alpine, Symfony
 * Mailer's sendmail transport) that speaks SMTP to `sendmail -bs` over a
 * pipe.  Each accepted DATA is one submission through submit_message(),
 * the intake path of `sendmail -bm`: the envelope comes from MAIL FROM and
 * RCPT TO instead of the command line, and the dot-unstuffed message is
 * streamed into it through a read callback (never held in memory).  The
 * reply after the final dot is "250 2.0.0 Ok: queued as ID" only after
 * satmail-queue confirmed the durable commit.  No AUTH, no STARTTLS: the
 * client is already local and runs as the submitting user.
 *
 * Wire rules: replies end in CRLF; commands may end in CRLF or LF; a
 * command line longer than BS_MAX_LINE gets "500 5.5.2"; replies are
 * buffered and flushed whenever the server is about to wait for input
 * (PIPELINING, RFC 2920).  Every byte read is untrusted peer data. */
#ifndef SATMAIL_BS_H
#define SATMAIL_BS_H
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "conf.h"
#include "status.h"
#include "submit.h"

#define BS_MAX_LINE		2048	/* one command line, without CRLF (Postfix line_length_limit) */
#define BS_MAX_RCPT		1000	/* recipients of one transaction (smtpd_recipient_limit) */
#define BS_MAX_ERRORS		20	/* error replies before 421 (smtpd_hard_error_limit) */
#define BS_MAX_ENVID		100	/* ENVID, decoded (RFC 3461) */
#define BS_MAX_HELO		255	/* HELO/EHLO argument */

/* The dialogue's states (bs_state_name gives their names for traces). */
enum bs_state {
	BS_START,	/* greeting sent, no HELO/EHLO yet */
	BS_READY,	/* HELO/EHLO done, no transaction */
	BS_MAIL,	/* MAIL accepted, no recipient yet */
	BS_RCPT,	/* at least one recipient accepted */
	BS_DATA,	/* 354 sent, reading the message */
	BS_DONE,	/* QUIT, end of input, or too many errors */
};

const char *bs_state_name(enum bs_state s);

enum bs_verb {
	BS_CMD_UNKNOWN, BS_CMD_HELO, BS_CMD_EHLO, BS_CMD_MAIL, BS_CMD_RCPT,
	BS_CMD_DATA, BS_CMD_RSET, BS_CMD_NOOP, BS_CMD_VRFY, BS_CMD_QUIT,
	BS_CMD_HELP, BS_CMD_NOTIMPL,	/* known but not offered: AUTH, STARTTLS, ... */
};

/* Splits one command line (no line end) into its verb and argument:
 * *arg points into line, past the verb and one or more spaces ("" when
 * none).  A verb is matched case-insensitively. */
enum bs_verb bs_parse_verb(const char *line, const char **arg);

/* The parsed MAIL FROM: path and parameters.  Strings are owned (bs_path_clear). */
struct bs_path {
	char *addr;		/* canonical form (addr.h); "" = null sender */
	bool utf8;		/* the address needs SMTPUTF8 */
	/* MAIL */
	long long size;		/* SIZE=, -1 = not given */
	const char *body;	/* "7bit", "8bitmime" or NULL */
	bool smtputf8;
	const char *ret;	/* "full", "hdrs" or NULL */
	char *envid;		/* decoded xtext, printable ASCII, or NULL */
	/* RCPT */
	unsigned notify;	/* NOTIFY_* bits, 0 = not given */
	char *orcpt;		/* canonical address from ORCPT=rfc822;..., or NULL */
};

void bs_path_init(struct bs_path *p);
void bs_path_clear(struct bs_path *p);

/* Parses the argument of MAIL ("FROM:<path> params") or RCPT ("TO:<path>
 * params") for the verb given.  size_limit (0 = none) bounds SIZE=.
 * Returns 0 with p filled, or an SMTP reply code (501, 552, 555) with the
 * whole reply line, without CRLF, in reply (replaced): "501 5.1.7 Bad
 * sender address syntax".  The reply never echoes peer bytes. */
int bs_parse_path(enum bs_verb verb, const char *arg, long long size_limit,
    struct bs_path *p, struct buf *reply);

/* Decodes RFC 3461 xtext; false when malformed or not printable ASCII. */
bool bs_xtext_decode(const char *s, size_t n, struct buf *out);

/* Called after each message was queued (and its 250 reply flushed), to
 * start delivery as the configured delivery_mode says. */
typedef void (*bs_queued_fn)(void *ctx, const char *id);

/* Runs the dialogue on in_fd/out_fd until QUIT or end of input.  base
 * supplies config_opt and fullname; everything else comes from the
 * session.  Returns true when the session ended normally (QUIT, or the
 * client went away); false with st set on a local error (a failed write
 * counts as the client going away). */
bool bs_run(const struct conf *conf, const struct submit_opts *base, int in_fd,
    int out_fd, bs_queued_fn queued, void *queued_ctx, struct status *st);

#endif
