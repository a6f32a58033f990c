/* tls - the OpenSSL 3 client context (see tls.h).
 *
 * One SSL_CTX per delivery attempt: protocol range, trust anchors, client
 * certificate.  Per-connection work (SNI, the level rules, the handshake)
 * is in stream.c.
 *
 * Nothing here reads the environment.  OpenSSL's configuration file is
 * not loaded (OPENSSL_INIT_NO_LOAD_CONFIG, so OPENSSL_CONF is ignored as
 * long as this is the program's first use of OpenSSL), and without
 * smtp_tls_CAfile/CApath the system store is loaded from OpenSSL's
 * compiled-in paths (X509_get_default_cert_file/_dir) rather than through
 * SSL_CTX_set_default_verify_paths(), which would honour SSL_CERT_FILE and
 * SSL_CERT_DIR. */
#include "tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "xalloc.h"

struct tls_client {
	SSL_CTX *ctx;
};

/* Postfix's protocol names, oldest first.  SSLv2 and SSLv3 may be named
 * (Postfix lists "!SSLv2, !SSLv3") but are never enabled. */
static const struct {
	const char *name;
	int version;
	unsigned long no_option;	/* the SSL_OP_NO_* that excludes it */
} protocols[] = {
	{ "SSLv2", 0, 0 },
	{ "SSLv3", SSL3_VERSION, SSL_OP_NO_SSLv3 },
	{ "TLSv1", TLS1_VERSION, SSL_OP_NO_TLSv1 },
	{ "TLSv1.1", TLS1_1_VERSION, SSL_OP_NO_TLSv1_1 },
	{ "TLSv1.2", TLS1_2_VERSION, SSL_OP_NO_TLSv1_2 },
	{ "TLSv1.3", TLS1_3_VERSION, SSL_OP_NO_TLSv1_3 },
};
enum { NPROTO = sizeof protocols / sizeof protocols[0], FIRST_TLS = 2 };

static int
protocol_index(const char *name)
{
	for (int i = 0; i < NPROTO; i++)
		if (strcasecmp(name, protocols[i].name) == 0)
			return i;
	return -1;
}

/* Turns a Postfix protocol list into a bit mask over protocols[]: plain
 * names select (none named = all), "!NAME" excludes, ">=NAME"/"<=NAME"
 * bound the range.  False with the offending word in bad. */
static bool
parse_protocols(const char *text, unsigned *mask, struct buf *bad)
{
	char *copy = xstrdup(text ? text : "");
	unsigned selected = 0, excluded = 0;
	int lo = 0, hi = NPROTO - 1;
	bool ok = true;

	for (char *save = NULL, *w = strtok_r(copy, " \t\r\n,:", &save); w;
	    w = strtok_r(NULL, " \t\r\n,:", &save)) {
		const char *name = w;
		char op = '=';
		if (w[0] == '!')
			op = '!', name = w + 1;
		else if ((w[0] == '>' || w[0] == '<') && w[1] == '=')
			op = w[0], name = w + 2;
		int i = protocol_index(name);
		if (i < 0) {
			buf_set(bad, w);
			ok = false;
			goto out;
		}
		if (op == '!')
			excluded |= 1u << i;
		else if (op == '>')
			lo = i > lo ? i : lo;
		else if (op == '<')
			hi = i < hi ? i : hi;
		else
			selected |= 1u << i;
	}
	if (!selected)
		selected = (1u << NPROTO) - 1;
	*mask = 0;
	for (int i = FIRST_TLS; i < NPROTO; i++)
		if ((selected & ~excluded & (1u << i)) && i >= lo && i <= hi)
			*mask |= 1u << i;
out:
	free(copy);
	return ok;
}

/* The reason of the most recent OpenSSL error, for status texts. */
static const char *
ssl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	return r ? r : "unknown error";
}

static bool
set_protocols(SSL_CTX *ctx, const char *text, struct status *st)
{
	struct buf bad = BUF_INIT;
	unsigned mask = 0;
	int lo = -1, hi = -1;
	bool ok = false;

	if (!parse_protocols(text, &mask, &bad)) {
		status_set(st, STATUS_TEMP, "4.7.5", 0,
		    "invalid TLS protocol \"%s\" in smtp_tls_protocols", buf_cstr(&bad));
		goto out;
	}
	for (int i = FIRST_TLS; i < NPROTO; i++) {
		if (!(mask & (1u << i)))
			continue;
		if (lo < 0)
			lo = i;
		hi = i;
	}
	if (lo < 0) {
		status_set(st, STATUS_TEMP, "4.7.5", 0,
		    "smtp_tls_protocols \"%s\" leaves no TLS protocol enabled", text);
		goto out;
	}
	/* OpenSSL takes a range; a hole inside it ("!TLSv1.1" with TLSv1
	 * and TLSv1.2 allowed) is expressed with SSL_OP_NO_*. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_SSLv3);
	for (int i = lo; i <= hi; i++)
		if (!(mask & (1u << i)))
			SSL_CTX_set_options(ctx, protocols[i].no_option);
	if (!SSL_CTX_set_min_proto_version(ctx, protocols[lo].version)
	    || !SSL_CTX_set_max_proto_version(ctx, protocols[hi].version)) {
		status_set(st, STATUS_TEMP, "4.7.5", 0,
		    "cannot use smtp_tls_protocols \"%s\": %s", text, ssl_reason());
		goto out;
	}
	ok = true;
out:
	buf_clear(&bad);
	return ok;
}

static bool
load_trust(SSL_CTX *ctx, const struct conf *c, struct status *st)
{
	const char *file = c->smtp_tls_CAfile, *dir = c->smtp_tls_CApath;

	if (file && *file && !SSL_CTX_load_verify_file(ctx, file)) {
		status_set(st, STATUS_TEMP, "4.7.5", 0,
		    "cannot load smtp_tls_CAfile %s: %s", file, ssl_reason());
		return false;
	}
	if (dir && *dir && !SSL_CTX_load_verify_dir(ctx, dir)) {
		status_set(st, STATUS_TEMP, "4.7.5", 0,
		    "cannot use smtp_tls_CApath %s: %s", dir, ssl_reason());
		return false;
	}
	if ((!file || !*file) && (!dir || !*dir)) {
		/* The system store.  The hashed directory is searched on
		 * demand, while loading the whole bundle file costs tens of
		 * milliseconds per delivery: the file is read only where the
		 * directory does not exist.  A missing store only means that
		 * nothing verifies, which the verify/secure levels report. */
		struct stat sb;
		const char *sysdir = X509_get_default_cert_dir();
		if (stat(sysdir, &sb) == 0 && S_ISDIR(sb.st_mode))
			(void)SSL_CTX_load_verify_dir(ctx, sysdir);
		else
			(void)SSL_CTX_load_verify_file(ctx, X509_get_default_cert_file());
		ERR_clear_error();
	}
	return true;
}

static bool
load_client_cert(SSL_CTX *ctx, const struct conf *c, struct status *st)
{
	const char *cert = c->smtp_tls_cert_file, *key = c->smtp_tls_key_file;

	if (!cert || !*cert)
		return true;
	if (!key || !*key)
		key = cert;
	if (!SSL_CTX_use_certificate_chain_file(ctx, cert)) {
		status_set(st, STATUS_TEMP, "4.7.5", 0,
		    "cannot load smtp_tls_cert_file %s: %s", cert, ssl_reason());
		return false;
	}
	if (!SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM)) {
		status_set(st, STATUS_TEMP, "4.7.5", 0,
		    "cannot load smtp_tls_key_file %s: %s", key, ssl_reason());
		return false;
	}
	if (!SSL_CTX_check_private_key(ctx)) {
		status_set(st, STATUS_TEMP, "4.7.5", 0,
		    "smtp_tls_key_file %s does not match smtp_tls_cert_file %s", key, cert);
		return false;
	}
	return true;
}

struct tls_client *
tls_client_new(const struct conf *c, struct status *st)
{
	struct tls_client *tc = NULL;
	SSL_CTX *ctx = NULL;

	OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		status_set(st, STATUS_TEMP, "4.7.5", 0, "cannot create TLS context: %s", ssl_reason());
		goto out;
	}
	/* Renegotiation is never needed by SMTP and has a history of bugs;
	 * a peer that closes without close_notify is just a lost connection
	 * (SMTP frames its own data, so truncation cannot go unnoticed). */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF
	    | SSL_OP_NO_COMPRESSION);
	/* stream.c retries a write with the rest of its buffer, which may
	 * have moved after a partial write. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (!set_protocols(ctx, c->smtp_tls_protocols, st) || !load_trust(ctx, c, st)
	    || !load_client_cert(ctx, c, st))
		goto out;
	tc = xcalloc(1, sizeof *tc);
	tc->ctx = ctx;
	ctx = NULL;
out:
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return tc;
}

struct tls_client *
tls_client_free(struct tls_client *tc)
{
	if (tc) {
		SSL_CTX_free(tc->ctx);
		free(tc);
	}
	return NULL;
}

void *
tls_client_ctx(struct tls_client *tc)
{
	return tc->ctx;
}

const char *
tls_info_trust(const struct tls_info *info)
{
	if (info->trusted)
		return info->matched ? "Verified" : "Trusted";
	/* tls_info has no "certificate seen" flag: a session without a
	 * subject CN counts as anonymous. */
	return info->peer_cn[0] ? "Untrusted" : "Anonymous";
}

void
tls_info_format(const struct tls_info *info, const char *label, struct buf *out)
{
	buf_reset(out);
	buf_printf(out, "%s TLS connection established to %s: %s with cipher %s (%d/%d bits)",
	    tls_info_trust(info), label, info->protocol, info->cipher, info->bits, info->alg_bits);
}
