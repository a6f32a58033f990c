/* sasl - SMTP AUTH client side (see sasl.h).
 *
 * Mechanism choice is a walk down one table, strongest first (of the
 * token mechanisms, the standard OAUTHBEARER before XOAUTH2).  The
 * password mechanisms run in GNU SASL; XOAUTH2 and OAUTHBEARER, which it
 * lacks (2.2), are formatted here.  Each sasl_client has its own Gsasl
 * context: nothing is shared between clients or threads, and the cost
 * (a few allocations) is small beside a TCP connection.
 *
 * Base64 is done here (strict check, then OpenSSL's codec) rather than
 * by gsasl_step64(): that way every intermediate copy of a secret (the
 * PLAIN/LOGIN response bytes) is in memory we own and wipe, and a bad
 * challenge is told apart from a failed mechanism.  GNU SASL's own copy
 * of the password (a session property) is wiped before the session is
 * freed; what its mechanisms keep on their stacks is out of reach.
 *
 * Security options (smtp_sasl_security_options without TLS,
 * smtp_sasl_tls_security_options with TLS), as Cyrus SASL classifies
 * the mechanisms, which is what Postfix implements:
 *   noplaintext     no PLAIN, LOGIN, XOAUTH2, OAUTHBEARER
 *   noanonymous     no ANONYMOUS (never chosen anyway)
 *   nodictionary    no mechanism whose observed exchange allows offline
 *                   password guessing: every password mechanism here
 *                   (SCRAM included), so only the token ones remain
 *   noactive, mutual_auth   only SCRAM (the server proves the password)
 *   forward_secrecy no mechanism here qualifies
 * An unknown option refuses every mechanism (fail closed), naming it.
 *
 * smtp_sasl_mechanism_filter is a Postfix match list of names: the first
 * entry that matches decides, "!name" excludes, "static:..." matches every
 * name, and a name that matches nothing is excluded.  An empty filter
 * allows every mechanism except the token ones, which must be named.
 *
 * smtp_sasl_password_command runs with stderr inherited (the admin sees
 * its complaints in the log or terminal; it must not print secrets there)
 * in a process group of its own, so that a timeout kills what it started. */
#include "sasl.h"

#include <errno.h>
#include <fcntl.h>
#include <gsasl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "table.h"
#include "xalloc.h"

#define SASL_DSN		"4.7.0"
#define SASL_WHY_MAX		300	/* bytes of the server's list quoted in a reason */

static unsigned command_timeout = SASL_COMMAND_TIMEOUT;

/* ---- mechanisms ---- */

enum {
	MECH_PLAINTEXT = 0x01,	/* the secret crosses the wire as it is */
	MECH_DICTIONARY = 0x02,	/* an observed exchange allows offline guessing */
	MECH_MUTUAL = 0x04,	/* the server proves that it knows the password */
	MECH_CB = 0x08,		/* needs channel binding data */
	MECH_TOKEN = 0x10,	/* OAuth token; only when the filter names it */
	MECH_INITIAL = 0x20,	/* the client speaks first (initial response) */
};

enum mech_impl { IMPL_GSASL, IMPL_XOAUTH2, IMPL_OAUTHBEARER };

struct mech {
	const char *name;
	unsigned flags;
	enum mech_impl impl;
};

/* Strongest first: sasl_choose() takes the first one that fits. */
static const struct mech mechs[] = {
	{ "OAUTHBEARER", MECH_PLAINTEXT | MECH_TOKEN | MECH_INITIAL, IMPL_OAUTHBEARER },
	{ "XOAUTH2", MECH_PLAINTEXT | MECH_TOKEN | MECH_INITIAL, IMPL_XOAUTH2 },
	{ "SCRAM-SHA-256-PLUS", MECH_DICTIONARY | MECH_MUTUAL | MECH_CB | MECH_INITIAL, IMPL_GSASL },
	{ "SCRAM-SHA-1-PLUS", MECH_DICTIONARY | MECH_MUTUAL | MECH_CB | MECH_INITIAL, IMPL_GSASL },
	{ "SCRAM-SHA-256", MECH_DICTIONARY | MECH_MUTUAL | MECH_INITIAL, IMPL_GSASL },
	{ "SCRAM-SHA-1", MECH_DICTIONARY | MECH_MUTUAL | MECH_INITIAL, IMPL_GSASL },
	{ "CRAM-MD5", MECH_DICTIONARY, IMPL_GSASL },
	{ "PLAIN", MECH_PLAINTEXT | MECH_DICTIONARY | MECH_INITIAL, IMPL_GSASL },
	{ "LOGIN", MECH_PLAINTEXT | MECH_DICTIONARY, IMPL_GSASL },
};
#define NMECHS	(sizeof mechs / sizeof mechs[0])

static const struct mech *
mech_find(const char *name)
{
	for (size_t i = 0; i < NMECHS; i++)
		if (strcasecmp(mechs[i].name, name) == 0)
			return &mechs[i];
	return NULL;
}

/* ---- secrets in buffers ---- */

/* Empties b after overwriting all of its storage: the old bytes may be a
 * secret, and a later realloc would otherwise leave them behind. */
static void
wipe_reset(struct buf *b)
{
	if (b->data)
		explicit_bzero(b->data, b->cap);
	buf_reset(b);
}

static void
wipe_clear(struct buf *b)
{
	if (b->data)
		explicit_bzero(b->data, b->cap);
	buf_clear(b);
}

void
sasl_creds_init(struct sasl_creds *cr)
{
	buf_init(&cr->user);
	buf_init(&cr->secret);
}

void
sasl_creds_clear(struct sasl_creds *cr)
{
	wipe_clear(&cr->user);
	wipe_clear(&cr->secret);
}

/* ---- base64 ---- */

/* Replaces out with the base64 form of p[0..n) (n is bounded by
 * SASL_MAX_SECRET-sized inputs, far below INT_MAX). */
static void
b64_encode(struct buf *out, const void *p, size_t n)
{
	wipe_reset(out);
	if (n == 0)
		return;
	buf_reserve(out, (n + 2) / 3 * 4);
	int m = EVP_EncodeBlock((unsigned char *)out->data, p, (int)n);
	out->len = m > 0 ? (size_t)m : 0;
	out->data[out->len] = '\0';
}

static bool
b64_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '+' || c == '/';
}

/* RFC 4648 base64 with padding and nothing else.  *pads: '=' count. */
static bool
b64_valid(const char *s, size_t len, size_t *pads)
{
	*pads = 0;
	if (len % 4 != 0)
		return false;
	if (len > 0 && s[len - 1] == '=')
		(*pads)++;
	if (len > 1 && s[len - 2] == '=')
		(*pads)++;
	for (size_t i = 0; i < len - *pads; i++)
		if (!b64_char((unsigned char)s[i]))
			return false;
	return true;
}

/* Decodes a 334 challenge (untrusted) into out, which the caller wipes.
 * Trailing white space (the rest of a line) is ignored. */
static bool
decode_challenge(const char *challenge, struct buf *out, struct status *st)
{
	size_t len = strlen(challenge), pads;
	while (len > 0 && strchr(" \t\r\n", challenge[len - 1]))
		len--;
	if (!b64_valid(challenge, len, &pads)) {
		status_set(st, STATUS_TEMP, SASL_DSN, 0, "invalid base64 challenge from server");
		return false;
	}
	size_t n = len / 4 * 3 - pads;
	if (n > SASL_MAX_CHALLENGE) {
		status_set(st, STATUS_TEMP, SASL_DSN, 0,
		    "SASL challenge from server too long (%zu bytes, limit %d)", n,
		    SASL_MAX_CHALLENGE);
		return false;
	}
	wipe_reset(out);
	if (len == 0)
		return true;
	buf_reserve(out, len / 4 * 3);
	if (EVP_DecodeBlock((unsigned char *)out->data, (const unsigned char *)challenge,
	    (int)len) < 0) {
		status_set(st, STATUS_TEMP, SASL_DSN, 0, "invalid base64 challenge from server");
		return false;
	}
	out->len = n;
	out->data[n] = '\0';
	return true;
}

/* ---- mechanism choice ---- */

enum {
	SEC_NOPLAINTEXT = 0x01,
	SEC_NODICTIONARY = 0x02,
	SEC_MUTUAL = 0x04,
	SEC_FORWARD = 0x08,	/* nothing here has forward secrecy */
};

/* Parses a security option list; false with why naming an unknown one. */
static bool
sec_parse(conf_list opts, const char *param, unsigned *sec, struct buf *why)
{
	static const struct { const char *name; unsigned bit; } words[] = {
		{ "noplaintext", SEC_NOPLAINTEXT }, { "noanonymous", 0 },
		{ "nodictionary", SEC_NODICTIONARY }, { "noactive", SEC_MUTUAL },
		{ "mutual_auth", SEC_MUTUAL }, { "forward_secrecy", SEC_FORWARD },
	};
	*sec = 0;
	for (char **o = opts; *o; o++) {
		size_t i = 0;
		while (i < sizeof words / sizeof words[0] && strcasecmp(*o, words[i].name) != 0)
			i++;
		if (i == sizeof words / sizeof words[0]) {
			buf_printf(why, "unknown %s value \"%s\": no SASL mechanism allowed", param, *o);
			return false;
		}
		*sec |= words[i].bit;
	}
	return true;
}

static bool
sec_allows(unsigned sec, const struct mech *m)
{
	if ((sec & SEC_NOPLAINTEXT) && (m->flags & MECH_PLAINTEXT))
		return false;
	if ((sec & SEC_NODICTIONARY) && (m->flags & MECH_DICTIONARY))
		return false;
	if ((sec & SEC_MUTUAL) && !(m->flags & MECH_MUTUAL))
		return false;
	return !(sec & SEC_FORWARD);
}

/* The filter's verdict on name: 2 named (positively), 1 matched by a
 * wildcard or the filter is empty, 0 excluded. */
static int
filter_match(conf_list filter, const char *name)
{
	if (filter[0] == NULL)
		return 1;
	for (char **f = filter; *f; f++) {
		const char *e = *f;
		bool neg = *e == '!';
		if (neg)
			e++;
		if (strncasecmp(e, "static:", 7) == 0)
			return neg ? 0 : 1;
		if (strcasecmp(e, name) == 0)
			return neg ? 0 : 2;
	}
	return 0;
}

/* True when the space-separated list (untrusted) holds name, any case. */
static bool
list_has(const char *list, const char *name)
{
	size_t nl = strlen(name);
	for (const char *p = list; *p;) {
		p += strspn(p, " \t");
		size_t wl = strcspn(p, " \t");
		if (wl == nl && strncasecmp(p, name, nl) == 0)
			return true;
		p += wl;
	}
	return false;
}

/* The server's list for a log line: words upper-cased, one space apart,
 * bytes that are not printable ASCII as '?', bounded. */
static void
quote_server_list(struct buf *why, const char *list)
{
	size_t start = why->len;
	for (const char *p = list; *p;) {
		p += strspn(p, " \t");
		size_t wl = strcspn(p, " \t");
		if (wl == 0)
			break;
		if (why->len > start)
			buf_putc(why, ' ');
		for (size_t i = 0; i < wl; i++) {
			unsigned char c = (unsigned char)p[i];
			if (why->len - start >= SASL_WHY_MAX) {
				buf_puts(why, "...");
				return;
			}
			buf_putc(why, c > 0x20 && c < 0x7f ? (c >= 'a' && c <= 'z' ? c - 32 : c) : '?');
		}
		p += wl;
	}
	if (why->len == start)
		buf_puts(why, "nothing");
}

/* Which security options apply. */
static const char *
sec_param(bool have_tls)
{
	return have_tls ? "smtp_sasl_tls_security_options" : "smtp_sasl_security_options";
}

static conf_list
sec_options(const struct conf *c, bool have_tls)
{
	return have_tls ? c->smtp_sasl_tls_security_options : c->smtp_sasl_security_options;
}

static void
explain_refusal(const struct conf *c, const char *server, bool have_tls, bool have_cb,
    struct buf *why)
{
	conf_list sec = sec_options(c, have_tls);
	buf_puts(why, "no mechanism offered by the server is allowed: server offers ");
	quote_server_list(why, server);
	buf_puts(why, ", filter allows ");
	if (c->smtp_sasl_mechanism_filter[0] == NULL)
		buf_puts(why, "all but XOAUTH2 and OAUTHBEARER");
	for (char **f = c->smtp_sasl_mechanism_filter; *f; f++)
		buf_printf(why, "%s%s", f == c->smtp_sasl_mechanism_filter ? "" : " ", *f);
	buf_printf(why, ", %s", sec_param(have_tls));
	if (sec[0] == NULL)
		buf_puts(why, " empty");
	for (char **o = sec; *o; o++)
		buf_printf(why, "%s%s", o == sec ? " " : ", ", *o);
	buf_puts(why, have_tls ? " (TLS)" : " (no TLS)");
	if (!have_cb && (list_has(server, "SCRAM-SHA-256-PLUS") ||
	    list_has(server, "SCRAM-SHA-1-PLUS")))
		buf_puts(why, ", no channel binding");
}

const char *
sasl_choose(const struct conf *c, const char *server_mechs, bool have_tls, bool have_cb,
    struct buf *why)
{
	unsigned sec;
	buf_reset(why);
	if (!sec_parse(sec_options(c, have_tls), sec_param(have_tls), &sec, why))
		return NULL;
	for (size_t i = 0; i < NMECHS; i++) {
		const struct mech *m = &mechs[i];
		int f = filter_match(c->smtp_sasl_mechanism_filter, m->name);
		if (f == 0 || ((m->flags & MECH_TOKEN) && f != 2))
			continue;
		if ((m->flags & MECH_CB) && !have_cb)
			continue;
		if (sec_allows(sec, m) && list_has(server_mechs, m->name))
			return m->name;
	}
	explain_refusal(c, server_mechs, have_tls, have_cb, why);
	return NULL;
}

/* ---- the exchange ---- */

struct sasl_client {
	const struct mech *mech;
	const struct sasl_creds *cr;	/* borrowed */
	char *host;			/* OAUTHBEARER's host= */
	Gsasl *ctx;
	Gsasl_session *session;
	unsigned steps;			/* 334 challenges seen */
	bool started;			/* the first client message has been made */
	bool done;			/* the mechanism has nothing more to say */
	int error;			/* GNU SASL failure of the initial response */
};

/* Secrets must be C strings for GNU SASL; the token mechanisms put them
 * between \x01 separators, so control characters would break the format. */
static bool
creds_usable(const struct mech *m, const struct sasl_creds *cr, struct status *st)
{
	const struct buf *b[2] = { &cr->user, &cr->secret };
	if (cr->user.len > SASL_MAX_SECRET || cr->secret.len > SASL_MAX_SECRET) {
		status_set(st, STATUS_TEMP, SASL_DSN, 0,
		    "SASL user name or secret longer than %d bytes", SASL_MAX_SECRET);
		return false;
	}
	for (int i = 0; i < 2; i++) {
		for (size_t j = 0; j < b[i]->len; j++) {
			unsigned char ch = (unsigned char)b[i]->data[j];
			if (ch == 0 || ((m->flags & MECH_TOKEN) && (ch < 0x20 || ch == 0x7f))) {
				status_set(st, STATUS_TEMP, SASL_DSN, 0,
				    "SASL %s contains a control character, unusable with %s",
				    i == 0 ? "user name" : "secret", m->name);
				return false;
			}
		}
	}
	return true;
}

/* Overwrites the copies of secrets that GNU SASL keeps as session
 * properties; it frees them without wiping. */
static void
wipe_gsasl_secrets(Gsasl_session *s)
{
	static const Gsasl_property props[] = {
		GSASL_PASSWORD, GSASL_SCRAM_SALTED_PASSWORD, GSASL_SCRAM_SERVERKEY,
		GSASL_SCRAM_STOREDKEY,
	};
	for (size_t i = 0; i < sizeof props / sizeof props[0]; i++) {
		const char *p = gsasl_property_fast(s, props[i]);
		if (p)
			explicit_bzero((char *)(uintptr_t)p, strlen(p));
	}
}

static bool
gsasl_setup(struct sasl_client *sc, const char *host, const struct buf *cb,
    const char *cb_type, struct status *st)
{
	struct buf cb64 = BUF_INIT;
	int rc = gsasl_init(&sc->ctx);
	if (rc == GSASL_OK)
		rc = gsasl_client_start(sc->ctx, sc->mech->name, &sc->session);
	if (rc == GSASL_OK)
		rc = gsasl_property_set(sc->session, GSASL_AUTHID, buf_cstr(&sc->cr->user));
	if (rc == GSASL_OK)
		rc = gsasl_property_set(sc->session, GSASL_PASSWORD, buf_cstr(&sc->cr->secret));
	if (rc == GSASL_OK)
		rc = gsasl_property_set(sc->session, GSASL_SERVICE, "smtp");
	if (rc == GSASL_OK && host && *host)
		rc = gsasl_property_set(sc->session, GSASL_HOSTNAME, host);
	/* Only -PLUS gets the binding: a plain SCRAM client holding one says
	 * "y" (binding possible, server offers none), which GNU SASL 2.2
	 * refuses to do, and a server offering -PLUS would rightly reject. */
	if (rc == GSASL_OK && (sc->mech->flags & MECH_CB)) {
		b64_encode(&cb64, cb->data, cb->len);
		rc = gsasl_property_set(sc->session, strcmp(cb_type, "tls-unique") == 0 ?
		    GSASL_CB_TLS_UNIQUE : GSASL_CB_TLS_EXPORTER, buf_cstr(&cb64));
	}
	buf_clear(&cb64);
	if (rc != GSASL_OK) {
		status_set(st, STATUS_TEMP, SASL_DSN, 0, "cannot start SASL %s: %s",
		    sc->mech->name, gsasl_strerror(rc));
		return false;
	}
	return true;
}

struct sasl_client *
sasl_client_new(const char *mech, const struct sasl_creds *cr, const char *host,
    const struct buf *cb, const char *cb_type, struct status *st)
{
	const struct mech *m = mech_find(mech);
	struct sasl_client *sc = NULL;
	if (m == NULL) {
		status_set(st, STATUS_TEMP, SASL_DSN, 0, "unsupported SASL mechanism %.64s", mech);
		return NULL;
	}
	if (!creds_usable(m, cr, st))
		return NULL;
	if ((m->flags & MECH_CB) && (cb == NULL || cb->len == 0 || cb_type == NULL ||
	    (strcmp(cb_type, "tls-exporter") != 0 && strcmp(cb_type, "tls-unique") != 0))) {
		status_set(st, STATUS_TEMP, SASL_DSN, 0,
		    "SASL %s needs tls-exporter or tls-unique channel binding data", m->name);
		return NULL;
	}
	sc = xcalloc(1, sizeof *sc);
	sc->mech = m;
	sc->cr = cr;
	sc->host = xstrdup(host ? host : "");
	if (m->impl == IMPL_GSASL && !gsasl_setup(sc, host, cb, cb_type, st))
		sc = sasl_client_free(sc);
	return sc;
}

struct sasl_client *
sasl_client_free(struct sasl_client *sc)
{
	if (sc == NULL)
		return NULL;
	if (sc->session) {
		wipe_gsasl_secrets(sc->session);
		gsasl_finish(sc->session);
	}
	if (sc->ctx)
		gsasl_done(sc->ctx);
	free(sc->host);
	free(sc);
	return NULL;
}

/* OAUTHBEARER's gs2 header carries the user as a saslname (RFC 5801):
 * ',' and '=' escaped. */
static void
put_saslname(struct buf *b, const struct buf *user)
{
	for (size_t i = 0; i < user->len; i++) {
		if (user->data[i] == ',')
			buf_puts(b, "=2C");
		else if (user->data[i] == '=')
			buf_puts(b, "=3D");
		else
			buf_putc(b, user->data[i]);
	}
}

/* The token mechanisms' one message (there is no port in this API, so
 * OAUTHBEARER sends no port=; RFC 7628 makes both host and port optional):
 *   XOAUTH2      user=USER ^A auth=Bearer TOKEN ^A ^A
 *   OAUTHBEARER  n,a=USER, ^A host=HOST ^A auth=Bearer TOKEN ^A ^A */
static void
token_message(const struct sasl_client *sc, struct buf *raw)
{
	const struct sasl_creds *cr = sc->cr;
	/* Sized once, so no realloc leaves a copy of the token behind. */
	buf_reserve(raw, 3 * cr->user.len + cr->secret.len + strlen(sc->host) + 64);
	if (sc->mech->impl == IMPL_XOAUTH2) {
		buf_puts(raw, "user=");
		buf_append(raw, cr->user.data, cr->user.len);
	} else {
		buf_puts(raw, "n,a=");
		put_saslname(raw, &cr->user);
		buf_puts(raw, ",");
		if (*sc->host)
			buf_printf(raw, "\001host=%s", sc->host);
	}
	buf_puts(raw, "\001auth=Bearer ");
	buf_append(raw, cr->secret.data, cr->secret.len);
	buf_puts(raw, "\001\001");
}

/* Runs one GNU SASL step on raw input; the output goes to response as
 * base64.  Returns the GNU SASL code. */
static int
gsasl_round(struct sasl_client *sc, const char *in, size_t inlen, struct buf *response)
{
	char *out = NULL;
	size_t outlen = 0;
	int rc = gsasl_step(sc->session, in, inlen, &out, &outlen);
	if (rc == GSASL_OK || rc == GSASL_NEEDS_MORE)
		b64_encode(response, out, outlen);
	if (out) {
		explicit_bzero(out, outlen);
		gsasl_free(out);
	}
	if (rc == GSASL_OK)
		sc->done = true;
	return rc;
}

bool
sasl_client_initial(struct sasl_client *sc, struct buf *response)
{
	struct buf raw = BUF_INIT;
	bool ok = false;
	if (!(sc->mech->flags & MECH_INITIAL) || sc->started)
		goto out;
	sc->started = true;
	if (sc->mech->impl == IMPL_GSASL) {
		int rc = gsasl_round(sc, NULL, 0, response);
		if (rc != GSASL_OK && rc != GSASL_NEEDS_MORE) {
			sc->error = rc;	/* reported by the first step */
			goto out;
		}
	} else {
		token_message(sc, &raw);
		b64_encode(response, raw.data, raw.len);
	}
	if (response->len == 0)
		buf_puts(response, "=");	/* RFC 4954: an empty initial response */
	ok = true;
out:
	wipe_clear(&raw);
	return ok;
}

/* A token mechanism's answer to a challenge: the first message when the
 * server asked for it ("334" after a bare "AUTH XOAUTH2"), else the
 * challenge is an error report (base64 JSON) that gets the abort reply
 * (XOAUTH2: an empty line; OAUTHBEARER: ^A), after which the server says
 * 535.  A server that keeps asking is stopped by SASL_MAX_STEPS. */
static void
token_step(struct sasl_client *sc, struct buf *response)
{
	struct buf raw = BUF_INIT;
	if (!sc->started) {
		sc->started = true;
		token_message(sc, &raw);
		b64_encode(response, raw.data, raw.len);
	} else if (sc->mech->impl == IMPL_OAUTHBEARER) {
		b64_encode(response, "\001", 1);
	} else {
		wipe_reset(response);
	}
	wipe_clear(&raw);
}

int
sasl_client_step(struct sasl_client *sc, const char *challenge, struct buf *response,
    struct status *st)
{
	struct buf in = BUF_INIT;
	int ret = -1;
	if (++sc->steps > SASL_MAX_STEPS) {
		status_set(st, STATUS_TEMP, SASL_DSN, 0,
		    "SASL %s: more than %d challenges from server", sc->mech->name, SASL_MAX_STEPS);
		goto out;
	}
	if (!decode_challenge(challenge, &in, st))
		goto out;
	if (sc->error != 0) {
		status_set(st, STATUS_TEMP, SASL_DSN, 0, "SASL %s failed: %s", sc->mech->name,
		    gsasl_strerror(sc->error));
		goto out;
	}
	if (sc->done) {
		status_set(st, STATUS_TEMP, SASL_DSN, 0,
		    "SASL %s: unexpected challenge from server after the exchange ended",
		    sc->mech->name);
		goto out;
	}
	if (sc->mech->impl != IMPL_GSASL) {
		token_step(sc, response);
		ret = 1;
		goto out;
	}
	sc->started = true;
	int rc = gsasl_round(sc, in.len ? in.data : NULL, in.len, response);
	if (rc != GSASL_OK && rc != GSASL_NEEDS_MORE) {
		/* For SCRAM's last step this is a server signature that does
		 * not match: the server does not know the password. */
		status_set(st, STATUS_TEMP, SASL_DSN, 0, "SASL %s failed: %s", sc->mech->name,
		    gsasl_strerror(rc));
		goto out;
	}
	ret = 1;
out:
	wipe_clear(&in);
	return ret;
}

bool
sasl_client_accepts_success(const struct sasl_client *sc)
{
	return !(sc->mech->flags & MECH_MUTUAL) || sc->done;
}

/* ---- smtp_sasl_password_maps ---- */

/* Sets cr from a "user:password" value (no ':' = user, empty password,
 * as Postfix). */
static void
creds_from_value(struct sasl_creds *cr, const struct buf *v)
{
	const char *colon = memchr(v->data, ':', v->len);
	size_t ul = colon ? (size_t)(colon - v->data) : v->len;
	wipe_reset(&cr->user);
	wipe_reset(&cr->secret);
	buf_append(&cr->user, v->data, ul);
	if (colon)
		buf_append(&cr->secret, colon + 1, v->len - ul - 1);
}

int
sasl_lookup_password(const struct conf *c, const char *host, unsigned port,
    struct sasl_creds *cr, struct status *st)
{
	conf_list maps = c->smtp_sasl_password_maps;
	size_t nmaps = 0;
	while (maps[nmaps])
		nmaps++;
	struct table **t = xcalloc(nmaps + 1, sizeof *t);
	struct buf h = BUF_INIT, key = BUF_INIT, value = BUF_INIT;
	int ret = -1;

	/* All maps are opened first: one that cannot be read defers the
	 * delivery even when an earlier map would have had the answer. */
	for (size_t i = 0; i < nmaps; i++)
		if ((t[i] = table_open(maps[i], c, st)) == NULL)
			goto out;
	for (const char *p = host; *p; p++)
		buf_putc(&h, *p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	/* Postfix's order: each key form in every map before the next form. */
	for (int form = port ? 0 : 1; form < 3; form++) {
		buf_reset(&key);
		if (form == 0)
			buf_printf(&key, "[%s]:%u", buf_cstr(&h), port);
		else if (form == 1)
			buf_printf(&key, "[%s]", buf_cstr(&h));
		else
			buf_puts(&key, buf_cstr(&h));
		for (size_t i = 0; i < nmaps; i++) {
			int r = table_lookup(t[i], buf_cstr(&key), &value, st);
			if (r == TABLE_ERROR)
				goto out;
			if (r == TABLE_FOUND) {
				creds_from_value(cr, &value);
				log_debug("SASL credentials for %s: key %s in %s", host,
				    buf_cstr(&key), maps[i]);
				ret = 1;
				goto out;
			}
		}
	}
	ret = 0;
out:
	for (size_t i = 0; i < nmaps; i++)
		table_free(t[i]);
	free(t);
	buf_clear(&h);
	buf_clear(&key);
	wipe_clear(&value);
	return ret;
}

/* ---- smtp_sasl_password_command ---- */

void
sasl_set_command_timeout(unsigned seconds)
{
	command_timeout = seconds ? seconds : SASL_COMMAND_TIMEOUT;
}

static long long
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* In the child: only async-signal-safe calls until exec. */
static _Noreturn void
command_child(const char *command, int out, int devnull, char *const envp[])
{
	static const int sigs[] = { SIGPIPE, SIGCHLD, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGALRM };
	struct sigaction sa;
	sigset_t none;
	(void)setpgid(0, 0);
	/* Above 2 first, so that neither dup2 overwrites the other's source. */
	if ((out = fcntl(out, F_DUPFD, 3)) < 0 || (devnull = fcntl(devnull, F_DUPFD, 3)) < 0 ||
	    dup2(devnull, 0) < 0 || dup2(out, 1) < 0)
		_exit(127);
	closefrom(3);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		(void)sigaction(sigs[i], &sa, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	char *argv[] = { (char *)"sh", (char *)"-c", (char *)(uintptr_t)command, NULL };
	execve("/bin/sh", argv, envp);
	_exit(127);
}

/* Reads the command's output until EOF or the deadline: the first
 * cap bytes into out, the rest thrown away (so the command never blocks
 * on a full pipe).  False on timeout. */
static bool
collect(int fd, char *out, size_t cap, size_t *got, long long deadline)
{
	char scratch[4096];
	bool ok = false;
	for (;;) {
		long long left = deadline - now_ms();
		if (left <= 0)
			goto out;
		struct pollfd p = { fd, POLLIN, 0 };
		int pr = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (pr < 0 && errno != EINTR)
			break;
		if (pr <= 0)
			continue;	/* EINTR or the time is up: checked above */
		ssize_t n = *got < cap ? read(fd, out + *got, cap - *got) :
		    read(fd, scratch, sizeof scratch);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (*got < cap)
			*got += (size_t)n;
	}
	ok = true;
out:
	explicit_bzero(scratch, sizeof scratch);
	return ok;
}

/* Waits for pid until the deadline; false on timeout. */
static bool
reap(pid_t pid, int *ws, long long deadline)
{
	for (;;) {
		pid_t r = waitpid(pid, ws, WNOHANG);
		if (r == pid)
			return true;
		if (r < 0 && errno != EINTR) {
			*ws = 127 << 8;	/* ECHILD: someone else reaped it */
			return true;
		}
		if (now_ms() >= deadline)
			return false;
		struct timespec pause = { 0, 10 * 1000 * 1000 };
		nanosleep(&pause, NULL);
	}
}

static bool
command_verdict(const char *out, size_t got, bool timed_out, int ws, size_t *linelen,
    struct status *st)
{
	const char *nl = memchr(out, '\n', got);
	size_t len = nl ? (size_t)(nl - out) : got;
	if (timed_out) {
		status_set(st, STATUS_TEMP, SASL_DSN, 0,
		    "smtp_sasl_password_command timed out after %u seconds", command_timeout);
		return false;
	}
	if (WIFSIGNALED(ws)) {
		status_set(st, STATUS_TEMP, SASL_DSN, 0,
		    "smtp_sasl_password_command failed: killed by signal %d", WTERMSIG(ws));
		return false;
	}
	if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
		status_set(st, STATUS_TEMP, SASL_DSN, 0,
		    "smtp_sasl_password_command failed: exit status %d", WEXITSTATUS(ws));
		return false;
	}
	if (len > 0 && out[len - 1] == '\r')
		len--;
	if (len > SASL_MAX_SECRET) {
		status_set(st, STATUS_TEMP, SASL_DSN, 0,
		    "smtp_sasl_password_command printed a line longer than %d bytes",
		    SASL_MAX_SECRET);
		return false;
	}
	if (memchr(out, '\0', len) != NULL) {
		status_set(st, STATUS_TEMP, SASL_DSN, 0,
		    "smtp_sasl_password_command printed a NUL byte");
		return false;
	}
	if (len == 0) {
		status_set(st, STATUS_TEMP, SASL_DSN, 0,
		    "smtp_sasl_password_command printed no password");
		return false;
	}
	*linelen = len;
	return true;
}

bool
sasl_password_command(const char *command, const char *host, struct sasl_creds *cr,
    struct status *st)
{
	struct buf env_user = BUF_INIT, env_host = BUF_INIT;
	size_t cap = SASL_MAX_SECRET + 3, got = 0, len = 0;	/* line, CR, LF */
	char *out = xmalloc(cap);
	int fds[2] = { -1, -1 }, devnull = -1, ws = 0;
	pid_t pid = -1;
	bool ok = false, timed_out = false;

	buf_printf(&env_user, "SATMAIL_SASL_USER=%s", buf_cstr(&cr->user));
	buf_printf(&env_host, "SATMAIL_SASL_HOST=%s", host ? host : "");
	char *envp[] = { (char *)"PATH=/usr/bin:/bin", env_user.data, env_host.data, NULL };
	if (command == NULL || *command == '\0') {
		status_set(st, STATUS_TEMP, SASL_DSN, 0, "smtp_sasl_password_command is empty");
		goto out;
	}
	if ((devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0 || pipe2(fds, O_CLOEXEC) < 0) {
		status_set(st, STATUS_TEMP, SASL_DSN, 0,
		    "cannot run smtp_sasl_password_command: %s", strerror(errno));
		goto out;
	}
	if ((pid = fork()) == 0)
		command_child(command, fds[1], devnull, envp);
	if (pid < 0) {
		status_set(st, STATUS_TEMP, SASL_DSN, 0,
		    "cannot run smtp_sasl_password_command: fork: %s", strerror(errno));
		goto out;
	}
	(void)setpgid(pid, pid);	/* also here: no window where kill(-pid) misses */
	close(fds[1]);
	fds[1] = -1;
	long long deadline = now_ms() + (long long)command_timeout * 1000;
	timed_out = !collect(fds[0], out, cap, &got, deadline) || !reap(pid, &ws, deadline);
	if (timed_out) {
		kill(-pid, SIGKILL);
		while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
			;
	}
	if (!command_verdict(out, got, timed_out, ws, &len, st))
		goto out;
	wipe_reset(&cr->secret);
	buf_append(&cr->secret, out, len);
	ok = true;
out:
	explicit_bzero(out, cap);
	free(out);
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (devnull >= 0)
		close(devnull);
	buf_clear(&env_user);
	buf_clear(&env_host);
	return ok;
}
