/* fuzz_sasl - libFuzzer target for the SASL client (lib/sasl.c), which
 * reads the server's 334 challenges and its EHLO AUTH list.
 *
 * Input: one selector byte, then challenges separated by '\n'.  Selector
 * bits 0-3 pick the mechanism, bit 4 makes the harness base64-encode each
 * challenge (so that GNU SASL's parsers see arbitrary bytes) instead of
 * passing it as the text after "334 ", bit 5 sends the initial response
 * first.  The whole input after the selector is also fed to sasl_choose()
 * as the server's mechanism list.
 *
 * Checks: a step returns 1 with a base64 (or empty) response, or -1 with
 * TEMP 4.7.0; never more than SASL_MAX_STEPS successes; the secret never
 * appears in a status text; a chosen mechanism is in the server's list;
 * a refusal reason is one printable line.
 *
 * make fuzz builds it with every lib/ module (tests/fuzz/run.sh). */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "conf.h"
#include "sasl.h"
#include "status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SECRET	"fuzz-s3cret-token"

static const char *const mechs[] = {
	"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS",
	"SCRAM-SHA-256-PLUS", "XOAUTH2", "OAUTHBEARER",
};
#define NMECHS	(sizeof mechs / sizeof mechs[0])

static void
check_response(const struct buf *resp)
{
	for (size_t i = 0; i < resp->len; i++) {
		unsigned char c = (unsigned char)resp->data[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '+' || c == '/' || c == '='))
			abort();
	}
}

static void
check_failure(const struct status *st)
{
	if (st->cls != STATUS_TEMP || strcmp(st->dsn, "4.7.0") != 0)
		abort();
	if (strstr(st->text.data ? st->text.data : "", SECRET) != NULL)
		abort();
}

static void
exchange(const char *mech, bool encode, bool initial, const uint8_t *data, size_t size)
{
	struct sasl_creds cr;
	struct status st;
	struct buf resp = BUF_INIT, ch = BUF_INIT, cb = BUF_INIT;
	sasl_creds_init(&cr);
	status_init(&st);
	buf_puts(&cr.user, "user,name=x@example.com");
	buf_puts(&cr.secret, SECRET);
	buf_puts(&cb, "fake channel binding");
	struct sasl_client *sc = sasl_client_new(mech, &cr, "smtp.example.com", &cb, "tls-exporter",
	    &st);
	if (sc == NULL)
		abort();	/* every mechanism here is supported */
	if (initial && sasl_client_initial(sc, &resp))
		check_response(&resp);
	int ok_steps = 0;
	for (size_t off = 0; off <= size;) {
		const uint8_t *nl = memchr(data + off, '\n', size - off);
		size_t n = nl ? (size_t)(nl - (data + off)) : size - off;
		buf_reset(&ch);
		if (encode) {
			buf_reserve(&ch, (n + 2) / 3 * 4 + 1);
			ch.len = (size_t)EVP_EncodeBlock((unsigned char *)ch.data, data + off, (int)n);
			ch.data[ch.len] = '\0';
		} else {
			buf_append(&ch, data + off, n);
		}
		int r = sasl_client_step(sc, buf_cstr(&ch), &resp, &st);
		if (r == 1) {
			check_response(&resp);
			if (++ok_steps > SASL_MAX_STEPS)
				abort();
		} else if (r == -1) {
			check_failure(&st);
			break;
		} else {
			abort();
		}
		off += n + 1;
	}
	sasl_client_free(sc);
	sasl_creds_clear(&cr);
	buf_clear(&resp);
	buf_clear(&ch);
	buf_clear(&cb);
	status_clear(&st);
}

static bool
listed(const char *list, const char *name)
{
	size_t nl = strlen(name);
	for (const char *p = list; (p = strcasestr(p, name)) != NULL; p++)
		if ((p == list || p[-1] == ' ' || p[-1] == '\t') &&
		    (p[nl] == '\0' || p[nl] == ' ' || p[nl] == '\t'))
			return true;
	return false;
}

static void
choose(const uint8_t *data, size_t size)
{
	static char *none[] = { NULL };
	static char *defaults[] = { "noplaintext", "noanonymous", NULL };
	static char *tls[] = { "noanonymous", NULL };
	static char *filter[] = { "xoauth2", "!login", "static:rest", NULL };
	struct conf c = {
		.smtp_sasl_mechanism_filter = none,
		.smtp_sasl_security_options = defaults,
		.smtp_sasl_tls_security_options = tls,
	};
	struct buf list = BUF_INIT, why = BUF_INIT;
	buf_append(&list, data, size);
	for (int i = 0; i < 8; i++) {
		c.smtp_sasl_mechanism_filter = i & 4 ? filter : none;
		const char *m = sasl_choose(&c, buf_cstr(&list), i & 1, i & 2, &why);
		if (m != NULL) {
			if (!listed(buf_cstr(&list), m))
				abort();
			continue;
		}
		if (why.len == 0 || why.len > 2000)
			abort();
		for (size_t k = 0; k < why.len; k++)
			if ((unsigned char)why.data[k] < 0x20 || (unsigned char)why.data[k] > 0x7e)
				abort();
	}
	buf_clear(&list);
	buf_clear(&why);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned sel = data[0];
	exchange(mechs[(sel & 0x0f) % NMECHS], sel & 0x10, sel & 0x20, data + 1, size - 1);
	choose(data + 1, size - 1);
	return 0;
}
