/* sasl - SMTP AUTH (RFC 4954) client side: mechanism choice, the
 * exchange through GNU SASL, XOAUTH2 / OAUTHBEARER by hand, and where
 * credentials come from.
 *
 * Mechanisms, strongest first: SCRAM-SHA-256-PLUS, SCRAM-SHA-1-PLUS (only
 * when channel binding data is available), SCRAM-SHA-256, SCRAM-SHA-1,
 * CRAM-MD5, PLAIN, LOGIN.  The token mechanisms XOAUTH2 and OAUTHBEARER
 * (the secret is an OAuth access token, not a password) are used only
 * when smtp_sasl_mechanism_filter names them, and then before all others.
 * The choice is the strongest mechanism that the server offers, the
 * filter allows (empty filter = all) and the security options allow:
 * "noplaintext" forbids PLAIN, LOGIN, XOAUTH2 and OAUTHBEARER unless the
 * session is TLS-protected (smtp_sasl_tls_security_options apply then,
 * default "noanonymous"), "noanonymous" forbids ANONYMOUS (never chosen
 * anyway).
 *
 * Secrets: the password or token is held in memory that is wiped when
 * freed; no function here logs it.  Responses are base64 text ready to
 * follow "AUTH MECH " or to be sent as a line; traces must print them as
 * "********" (smtp.c does). */
#ifndef SATMAIL_SASL_H
#define SATMAIL_SASL_H
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "conf.h"
#include "status.h"

#define SASL_MAX_CHALLENGE	(64 * 1024)	/* decoded bytes of one 334 challenge */
#define SASL_MAX_STEPS		16		/* 334 round trips before giving up */
#define SASL_COMMAND_TIMEOUT	30		/* seconds for smtp_sasl_password_command */
#define SASL_MAX_SECRET		16384		/* bytes of a password or token */

struct sasl_creds {
	struct buf user;
	struct buf secret;	/* password or OAuth token; wiped by sasl_creds_clear */
};
void sasl_creds_init(struct sasl_creds *cr);
/* Overwrites the secret with zeros, then frees both. */
void sasl_creds_clear(struct sasl_creds *cr);

/* Looks up credentials for a next hop in smtp_sasl_password_maps, Postfix
 * order: "[host]:port", then "[host]", then "host" (host lower case); the
 * value is "user:password" (the first ':' splits).  Returns 1 found, 0 not
 * found in any map, -1 with st (TEMP 4.3.0) when a map cannot be read.
 * Runs in the privileged queue process: nothing here parses peer data. */
int sasl_lookup_password(const struct conf *c, const char *host, unsigned port,
    struct sasl_creds *cr, struct status *st);

/* Runs smtp_sasl_password_command with /bin/sh -c, stdin /dev/null, a
 * clean environment (PATH=/usr/bin:/bin, plus SATMAIL_SASL_USER = user,
 * SATMAIL_SASL_HOST = host), at most SASL_COMMAND_TIMEOUT seconds; the
 * first output line (without its newline, at most SASL_MAX_SECRET bytes)
 * replaces cr->secret.  The caller has dropped every privilege.  False
 * with st (TEMP 4.7.0 naming the exit status, never the output). */
bool sasl_password_command(const char *command, const char *host, struct sasl_creds *cr,
    struct status *st);

/* Picks the mechanism (see the top) from the server's AUTH list (words
 * separated by spaces, any case).  have_tls: the session is TLS-protected;
 * have_cb: channel binding data exists.  Returns a static upper-case name,
 * or NULL with why set to a one-line reason ("no mechanism offered by the
 * server is allowed: server offers X Y, filter allows Z"). */
const char *sasl_choose(const struct conf *c, const char *server_mechs, bool have_tls,
    bool have_cb, struct buf *why);

struct sasl_client;

/* Starts an exchange for mech with credentials cr (borrowed; must outlive
 * the client).  host is the server name (for digest-style mechanisms);
 * cb is channel binding data for -PLUS mechanisms (may be NULL otherwise),
 * cb_type "tls-exporter" or "tls-unique".  NULL with st (TEMP 4.7.0). */
struct sasl_client *sasl_client_new(const char *mech, const struct sasl_creds *cr,
    const char *host, const struct buf *cb, const char *cb_type, struct status *st);
struct sasl_client *sasl_client_free(struct sasl_client *sc);

/* The initial response for "AUTH MECH RESPONSE" (RFC 4954 section 4:
 * "=" stands for an empty one), base64; false when the mechanism sends
 * none first (then "AUTH MECH" alone is sent and the first 334 starts the
 * exchange). */
bool sasl_client_initial(struct sasl_client *sc, struct buf *response);

/* One step: challenge is the base64 text after "334 " (untrusted; may be
 * empty).  Writes the base64 response line into response.  Returns 1 when
 * a response is to be sent, -1 with st (TEMP 4.7.0) on a malformed or
 * oversized challenge, a failed server signature (SCRAM) or more than
 * SASL_MAX_STEPS steps: the caller then sends "*" to cancel. */
int sasl_client_step(struct sasl_client *sc, const char *challenge, struct buf *response,
    struct status *st);

/* Whether a 235 (success) may be believed now: a mutual mechanism
 * (SCRAM) must first have checked the server's signature, so that a
 * server that skips it is not taken for one that knows the password. */
bool sasl_client_accepts_success(const struct sasl_client *sc);

/* For tests only: the smtp_sasl_password_command time limit in seconds;
 * 0 restores SASL_COMMAND_TIMEOUT. */
void sasl_set_command_timeout(unsigned seconds);

#endif
