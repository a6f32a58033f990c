/* tls - OpenSSL 3 client context and session checks.
 *
 * A tls_client is built once per delivery attempt from the configuration:
 * protocol range (smtp_tls_protocols, Postfix syntax: ">=TLSv1.2",
 * "!SSLv2, !SSLv3, !TLSv1, !TLSv1.1", "TLSv1.2 TLSv1.3"), trust anchors
 * (smtp_tls_CAfile / smtp_tls_CApath, else the system default store;
 * never OPENSSL_CONF, SSL_CERT_FILE or SSL_CERT_DIR from the environment:
 * satmail-queue clears its environment), an optional client certificate
 * (smtp_tls_cert_file / smtp_tls_key_file).  The stream module runs the
 * handshake (stream_start_tls) with these rules per level:
 *
 *   may, encrypt   no certificate check (Postfix: "Anonymous"/"Untrusted"
 *                  is logged); SNI is sent when the peer name is a name.
 *   verify, secure the chain must verify against the trust anchors and
 *                  the certificate must match peer_name
 *                  (X509_VERIFY_PARAM_set1_host, no partial wildcards,
 *                  wildcards only for a whole leftmost label, IP SANs do
 *                  not match names); failure = TEMP 4.7.5 "server
 *                  certificate not verified: REASON".
 *
 * The peer certificate subject and verification result are reported in
 * tls_info for the "TLS connection established" log line. */
#ifndef SATMAIL_TLS_H
#define SATMAIL_TLS_H
#include <stdbool.h>

#include "buf.h"
#include "conf.h"
#include "status.h"

struct tls_client;

struct tls_info {
	char protocol[16];	/* "TLSv1.3" */
	char cipher[64];	/* "TLS_AES_256_GCM_SHA384" */
	int bits, alg_bits;	/* cipher strength */
	bool trusted;		/* the chain verified against the trust anchors */
	bool matched;		/* ... and the name matched peer_name */
	char peer_cn[128];	/* printable subject CN of the peer certificate, "" if none */
};

/* Builds the client context.  NULL with st (TEMP 4.7.5, naming the file
 * or the bad protocol list) when a configured file cannot be loaded. */
struct tls_client *tls_client_new(const struct conf *c, struct status *st);
/* Accepts NULL; returns NULL. */
struct tls_client *tls_client_free(struct tls_client *tc);

/* Postfix's wording: "Verified" (trusted and matched), "Trusted" (chain
 * only), "Untrusted" (neither), "Anonymous" (no certificate). */
const char *tls_info_trust(const struct tls_info *info);

/* "TLS connection established to LABEL: TLSv1.3 with cipher C (B/A bits)"
 * preceded by the trust word, in Postfix's shape:
 * "Verified TLS connection established to mx[1.2.3.4]:25: TLSv1.3 with
 * cipher TLS_AES_256_GCM_SHA384 (256/256 bits)". */
void tls_info_format(const struct tls_info *info, const char *label, struct buf *out);

/* Internal to stream.c: the SSL_CTX behind tc (an SSL_CTX *). */
void *tls_client_ctx(struct tls_client *tc);

#endif
