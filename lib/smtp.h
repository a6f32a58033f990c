/* smtp - the ESMTP client: one message to one next hop.
 *
 * smtp_deliver() takes a next hop in Postfix's syntax ("[host]:port" = that
 * host, no MX lookup; "host:port" or "host" = the MX hosts of host; a
 * comma or space separated list = each destination in turn), finds the
 * hosts and their addresses (dns.h), and tries every address of every
 * host in order until one session has settled the recipients.  A session
 * is an explicit state machine (enum smtp_state, smtp_state_name() for
 * traces): greeting, EHLO (HELO when EHLO is refused), STARTTLS and a
 * fresh EHLO (smtp_tls_security_level), AUTH (sasl.h), then MAIL, every
 * RCPT and DATA in one write when the server offers PIPELINING, the body
 * streamed from the queue entry, the final dot, QUIT.
 *
 * Which failure moves on to the next address or host (Postfix's rules):
 * anything that happens before the server accepted MAIL FROM -- a refused
 * or timed-out connection, a 4xx/5xx greeting, an EHLO/HELO failure,
 * missing or failed required TLS, failed AUTH, a lost connection.  Once
 * MAIL was accepted the recipients' fates are settled by that session:
 * 2xx sent, 4xx deferred, 5xx bounced per recipient; a 5xx to MAIL or
 * DATA bounces them all; a 452 to RCPT (too many recipients) sends those
 * recipients in a further transaction on the same connection.  When no
 * session got that far, every recipient gets the last error as TEMP
 * (PERM only for DNS answers that say the domain cannot receive mail,
 * SIZE or SMTPUTF8 refusals).
 *
 * The body is sent without loading it: LF becomes CRLF, a lone CR becomes
 * a space (no bare CR or LF ever reaches the wire), a line starting with
 * "." gets another ".", a line longer than SMTP_LINE_LIMIT octets is
 * broken by inserting CRLF SPACE (Postfix's smtp_line_length_limit rule;
 * no byte is lost), a missing final newline is added, and the final dot
 * always starts a line.  Output is buffered (stream.h): the commands of a
 * pipelined group and each large slice of body leave in one write.
 *
 * All reply text is untrusted peer data: it is stored only as printable
 * text (other bytes become '?'), bounded by SMTP_REPLY_MAX_LINE octets a
 * line and SMTP_REPLY_MAX_LINES lines a reply.  With -v (log_verbose())
 * every command and reply line is traced through log_debug as
 * "> LABEL: COMMAND" / "< LABEL: REPLY"; AUTH arguments and responses are
 * shown as ********. */
#ifndef SATMAIL_SMTP_H
#define SATMAIL_SMTP_H
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "conf.h"
#include "envelope.h"
#include "sasl.h"
#include "status.h"
#include "tls.h"

#define SMTP_LINE_LIMIT		998	/* octets of one line on the wire, without CRLF */
#define SMTP_REPLY_MAX_LINE	4096	/* octets of one reply line */
#define SMTP_REPLY_MAX_LINES	100	/* lines of one multi-line reply */
#define SMTP_RCPT_PER_WRITE	100	/* RCPT commands pipelined before reading replies */
#define SMTP_MAX_TXN		1000	/* transactions per message (452 handling) */

enum smtp_state {
	SMTP_CONNECT, SMTP_GREETING, SMTP_EHLO, SMTP_HELO, SMTP_STARTTLS, SMTP_AUTH,
	SMTP_MAIL, SMTP_RCPT, SMTP_DATA, SMTP_BODY, SMTP_DOT, SMTP_RSET, SMTP_QUIT,
};
const char *smtp_state_name(enum smtp_state s);

/* Credentials for a destination of the next hop (its host as written
 * and its port: the SASL password map keys), supplied by the caller (the
 * queue process looks them up before it starts the unprivileged worker).
 * Returns NULL when there are none (then no AUTH is attempted). */
typedef const struct sasl_creds *(*smtp_creds_fn)(void *ctx, const char *host, unsigned port);

struct smtp_request {
	const struct conf *c;
	const char *nexthop;		/* see the top */
	const struct envelope *e;	/* sender, DSN parameters, body type, id */
	int msg_fd;			/* the queue entry, read with pread */
	long long msg_offset;		/* where the message starts in msg_fd */
	struct rcpt **rcpts;		/* the recipients to deliver */
	size_t n;
	struct tls_client *tc;		/* from the caller (it had files to read), or NULL:
					 * made when first needed */
	struct smtp_cache *cache;	/* connection reuse across messages; may be NULL */
	smtp_creds_fn creds;		/* may be NULL */
	void *creds_ctx;
};

/* Connection reuse (queue runs): after a message, a healthy session is
 * kept in the cache instead of ending with QUIT; the next message for the
 * same next hop starts with RSET on it (a failed RSET means a fresh
 * connection).  A session carries at most max_uses messages and is
 * not reused after max_age seconds (0 = no limit, for either);
 * smtp_cache_free() ends a kept session with QUIT. */
struct smtp_cache;
struct smtp_cache *smtp_cache_new(unsigned max_uses, unsigned max_age);
struct smtp_cache *smtp_cache_free(struct smtp_cache *cache);

/* Delivers the message to rq->rcpts[0..n).  results[i] (initialised by
 * the caller) gets the outcome of rcpts[i]; relay gets the "host[addr]:port"
 * of the last server talked to, or "none". */
void smtp_deliver(const struct smtp_request *rq, struct status *results, struct buf *relay);

/* One destination of a next hop. */
struct smtp_dest {
	char host[256];		/* as written, without brackets */
	unsigned port;
	bool mx;		/* look up the MX records of host */
};
/* Parses one word of a next hop ("[host]:port", "[host]", "host:port",
 * "host"; default_port when none is given).  False when malformed. */
bool smtp_parse_dest(const char *w, size_t n, unsigned default_port, struct smtp_dest *d);

/* The body encoder, exposed for tests and fuzzing.  Feeds n bytes of the
 * queued message (LF line ends) and appends wire bytes to out; *state
 * (start at 0) carries the position in the current line between calls.
 * smtp_body_end() finishes the body (CRLF if needed) and appends ".\r\n". */
void smtp_body_encode(const char *p, size_t n, size_t *state, struct buf *out);
void smtp_body_end(size_t *state, struct buf *out);

/* For tests and fuzzing: one session over the connected socket fd (the
 * stream takes it over), as if to "test.invalid[192.0.2.1]:25", without
 * DNS; sets results like smtp_deliver. */
void smtp_test_session(const struct smtp_request *rq, int fd, struct status *results,
    struct buf *relay);

/* Encodes s as RFC 3461 xtext (for ENVID and ORCPT). */
void smtp_xtext(const char *s, struct buf *out);

#endif
