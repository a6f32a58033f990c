/* Unit tests for lib/sasl: every GNU SASL mechanism against the real GNU
 * SASL server side, the token mechanisms byte for byte, hostile
 * challenges, mechanism choice, password maps and the password command. */
#include <criterion/criterion.h>
#include <gsasl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "sasl.h"

/* For tests only; defined in lib/sasl.c. */

static struct conf *
load(const char *text)
{
	char path[] = "/tmp/test_sasl.XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	cr_assert(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	struct buf why = BUF_INIT;
	struct conf *c = conf_load(path, true, &why);
	cr_assert_not_null(c, "conf_load: %s", buf_cstr(&why));
	unlink(path);
	buf_clear(&why);
	return c;
}

static void
creds(struct sasl_creds *cr, const char *user, const char *secret)
{
	sasl_creds_init(cr);
	buf_set(&cr->user, user);
	buf_set(&cr->secret, secret);
}

static void
b64(struct buf *out, const void *p, size_t n)
{
	buf_reset(out);
	buf_reserve(out, (n + 2) / 3 * 4 + 1);
	out->len = (size_t)EVP_EncodeBlock((unsigned char *)out->data, p, (int)n);
	out->data[out->len] = '\0';
}

static size_t
unb64(const char *s, unsigned char *out)
{
	size_t len = strlen(s);
	int n = EVP_DecodeBlock(out, (const unsigned char *)s, (int)len);
	cr_assert(n >= 0, "bad base64 %s", s);
	size_t pads = (len > 0 && s[len - 1] == '=') + (len > 1 && s[len - 2] == '=');
	return (size_t)n - pads;
}

/* ---- the GNU SASL server side ---- */

struct server_data {
	const char *user;
	const char *password;
	const char *cb64;	/* channel binding the server sees, base64 */
};

static int
server_cb(Gsasl *ctx, Gsasl_session *s, Gsasl_property prop)
{
	const struct server_data *d = gsasl_callback_hook_get(ctx);
	const char *authid = gsasl_property_fast(s, GSASL_AUTHID);
	switch (prop) {
	case GSASL_PASSWORD:
		if (authid == NULL || strcmp(authid, d->user) != 0)
			return GSASL_AUTHENTICATION_ERROR;
		gsasl_property_set(s, prop, d->password);
		return GSASL_OK;
	case GSASL_CB_TLS_EXPORTER:
	case GSASL_CB_TLS_UNIQUE:
		if (d->cb64 == NULL)
			return GSASL_NO_CALLBACK;
		gsasl_property_set(s, prop, d->cb64);
		return GSASL_OK;
	default:
		return GSASL_NO_CALLBACK;
	}
}

enum outcome { AUTH_OK, AUTH_REJECTED, CLIENT_ABORT };

struct exchange {
	const char *mech;
	const char *client_password;
	const char *server_password;
	const char *client_cb;	/* raw bytes; NULL = none */
	const char *server_cb;
	const char *cb_type;
	bool tamper_final;	/* corrupt SCRAM's server signature */
	enum outcome want;
};

/* Flips one character of the "v=" value in a server-final message. */
static void
tamper(char **challenge)
{
	unsigned char raw[512];
	size_t n = unb64(*challenge, raw);
	cr_assert(n > 3 && raw[0] == 'v' && raw[1] == '=', "not a server-final: %s", *challenge);
	raw[2] = raw[2] == 'A' ? 'B' : 'A';
	struct buf b = BUF_INIT;
	b64(&b, raw, n);
	gsasl_free(*challenge);
	*challenge = buf_steal(&b);
}

/* Drives one AUTH exchange as smtp.c would: the client's responses go
 * to the server, the server's challenges ("334") to the client, until the
 * server says yes (235), no (535), or the client cancels ("*"). */
static enum outcome
run_exchange(const struct exchange *x, struct status *st, char **server_authid)
{
	struct server_data sd = { "alice", x->server_password, NULL };
	struct buf cbbuf = BUF_INIT, scb = BUF_INIT, resp = BUF_INIT;
	struct sasl_creds cr;
	Gsasl *srv;
	Gsasl_session *ss;
	enum outcome res = AUTH_REJECTED;

	creds(&cr, "alice", x->client_password);
	if (x->client_cb)
		buf_set(&cbbuf, x->client_cb);
	if (x->server_cb) {
		b64(&scb, x->server_cb, strlen(x->server_cb));
		sd.cb64 = buf_cstr(&scb);
	}
	cr_assert_eq(gsasl_init(&srv), GSASL_OK);
	gsasl_callback_hook_set(srv, &sd);
	gsasl_callback_set(srv, server_cb);
	cr_assert_eq(gsasl_server_start(srv, x->mech, &ss), GSASL_OK, "%s", x->mech);

	struct sasl_client *sc = sasl_client_new(x->mech, &cr, "smtp.example.com",
	    x->client_cb ? &cbbuf : NULL, x->cb_type ? x->cb_type : "tls-exporter", st);
	cr_assert_not_null(sc, "%s: %s", x->mech, buf_cstr(&st->text));
	char *to_server;
	if (sasl_client_initial(sc, &resp))
		to_server = strdup(strcmp(buf_cstr(&resp), "=") == 0 ? "" : buf_cstr(&resp));
	else
		to_server = strdup("");
	for (int round = 0; round < 20; round++) {
		char *challenge = NULL;
		int rc = gsasl_step64(ss, to_server, &challenge);
		free(to_server);
		to_server = NULL;
		if (rc != GSASL_OK && rc != GSASL_NEEDS_MORE) {
			gsasl_free(challenge);
			res = AUTH_REJECTED;
			break;
		}
		if (rc == GSASL_OK && (challenge == NULL || *challenge == '\0')) {
			gsasl_free(challenge);
			res = AUTH_OK;
			break;
		}
		/* RFC 4954: success data (SCRAM's server-final) comes as a 334. */
		if (rc == GSASL_OK && x->tamper_final)
			tamper(&challenge);
		int r = sasl_client_step(sc, challenge, &resp, st);
		gsasl_free(challenge);
		if (r < 0) {
			res = CLIENT_ABORT;
			break;
		}
		cr_assert_eq(r, 1);
		if (rc == GSASL_OK) {
			cr_expect_str_eq(buf_cstr(&resp), "", "%s: reply to success data", x->mech);
			res = AUTH_OK;
			break;
		}
		to_server = strdup(buf_cstr(&resp));
	}
	free(to_server);
	const char *id = gsasl_property_fast(ss, GSASL_AUTHID);
	*server_authid = strdup(id ? id : "");
	sasl_client_free(sc);
	gsasl_finish(ss);
	gsasl_done(srv);
	sasl_creds_clear(&cr);
	buf_clear(&cbbuf);
	buf_clear(&scb);
	buf_clear(&resp);
	return res;
}

#define PW	"s3cret-Pa55"
#define UPW	"p\xc3\xa4ssw\xc3\xb6rd"	/* UTF-8: SASLprep on both sides */

static const struct exchange exchanges[] = {
	{ "PLAIN", PW, PW, NULL, NULL, NULL, false, AUTH_OK },
	{ "PLAIN", UPW, UPW, NULL, NULL, NULL, false, AUTH_OK },
	{ "LOGIN", PW, PW, NULL, NULL, NULL, false, AUTH_OK },
	{ "CRAM-MD5", PW, PW, NULL, NULL, NULL, false, AUTH_OK },
	{ "SCRAM-SHA-1", PW, PW, NULL, NULL, NULL, false, AUTH_OK },
	{ "SCRAM-SHA-256", PW, PW, NULL, NULL, NULL, false, AUTH_OK },
	{ "SCRAM-SHA-256", UPW, UPW, NULL, NULL, NULL, false, AUTH_OK },
	/* Binding data at hand but no -PLUS chosen: none is used ("n", not "y"). */
	{ "SCRAM-SHA-256", PW, PW, "fake-cb-1", NULL, "tls-exporter", false, AUTH_OK },
	{ "SCRAM-SHA-1-PLUS", PW, PW, "fake-cb-1", "fake-cb-1", "tls-exporter", false, AUTH_OK },
	{ "SCRAM-SHA-256-PLUS", PW, PW, "fake-cb-1", "fake-cb-1", "tls-exporter", false, AUTH_OK },
	{ "SCRAM-SHA-256-PLUS", PW, PW, "fake-cb-1", "fake-cb-1", "tls-unique", false, AUTH_OK },
	/* A man in the middle terminates TLS: the bindings differ. */
	{ "SCRAM-SHA-256-PLUS", PW, PW, "fake-cb-1", "fake-cb-2", "tls-exporter", false, AUTH_REJECTED },
	{ "PLAIN", "wrong", PW, NULL, NULL, NULL, false, AUTH_REJECTED },
	{ "LOGIN", "wrong", PW, NULL, NULL, NULL, false, AUTH_REJECTED },
	{ "CRAM-MD5", "wrong", PW, NULL, NULL, NULL, false, AUTH_REJECTED },
	{ "SCRAM-SHA-1", "wrong", PW, NULL, NULL, NULL, false, AUTH_REJECTED },
	{ "SCRAM-SHA-256", "wrong", PW, NULL, NULL, NULL, false, AUTH_REJECTED },
	{ "SCRAM-SHA-256-PLUS", "wrong", PW, "fake-cb-1", "fake-cb-1", "tls-exporter", false,
	    AUTH_REJECTED },
	/* A server that does not know the password cannot sign. */
	{ "SCRAM-SHA-1", PW, PW, NULL, NULL, NULL, true, CLIENT_ABORT },
	{ "SCRAM-SHA-256", PW, PW, NULL, NULL, NULL, true, CLIENT_ABORT },
	{ "SCRAM-SHA-256-PLUS", PW, PW, "fake-cb-1", "fake-cb-1", "tls-exporter", true, CLIENT_ABORT },
};

static const char *const outcome_names[] = { "ok", "rejected", "client abort" };

Test(sasl, exchanges_with_gsasl_server)
{
	for (size_t i = 0; i < sizeof exchanges / sizeof exchanges[0]; i++) {
		const struct exchange *x = &exchanges[i];
		struct status st;
		char *authid = NULL;
		status_init(&st);
		enum outcome got = run_exchange(x, &st, &authid);
		cr_expect_eq(got, x->want, "case %zu %s: got %s, want %s (%s)", i, x->mech,
		    outcome_names[got], outcome_names[x->want], buf_cstr(&st.text));
		if (got == AUTH_OK)
			cr_expect_str_eq(authid, "alice", "case %zu %s", i, x->mech);
		if (got == CLIENT_ABORT) {
			cr_expect_eq(st.cls, STATUS_TEMP);
			cr_expect_str_eq(st.dsn, "4.7.0");
			cr_expect_not_null(strstr(buf_cstr(&st.text), x->mech), "%s", buf_cstr(&st.text));
		}
		cr_expect_null(strstr(buf_cstr(&st.text), x->client_password), "secret in status");
		free(authid);
		status_clear(&st);
	}
}

/* ---- initial responses and the token mechanisms ---- */

Test(sasl, initial_responses)
{
	static const struct { const char *mech; bool initial; } cases[] = {
		{ "PLAIN", true }, { "LOGIN", false }, { "CRAM-MD5", false },
		{ "SCRAM-SHA-1", true }, { "SCRAM-SHA-256", true }, { "XOAUTH2", true },
		{ "OAUTHBEARER", true }, { "plain", true }, { "cram-md5", false },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sasl_creds cr;
		struct status st;
		struct buf resp = BUF_INIT;
		creds(&cr, "alice", PW);
		status_init(&st);
		struct sasl_client *sc = sasl_client_new(cases[i].mech, &cr, "h", NULL, NULL, &st);
		cr_assert_not_null(sc, "%s: %s", cases[i].mech, buf_cstr(&st.text));
		cr_expect_eq(sasl_client_initial(sc, &resp), cases[i].initial, "%s", cases[i].mech);
		cr_expect_eq(resp.len > 0, cases[i].initial, "%s", cases[i].mech);
		/* Only once. */
		cr_expect_not(sasl_client_initial(sc, &resp), "%s", cases[i].mech);
		sasl_client_free(sc);
		sasl_creds_clear(&cr);
		cr_expect_eq(cr.secret.len, 0);
		cr_expect_null(cr.secret.data);
		buf_clear(&resp);
		status_clear(&st);
	}
}

Test(sasl, plain_bytes)
{
	struct sasl_creds cr;
	struct status st;
	struct buf resp = BUF_INIT;
	unsigned char raw[128];
	creds(&cr, "alice", PW);
	status_init(&st);
	struct sasl_client *sc = sasl_client_new("PLAIN", &cr, "h", NULL, NULL, &st);
	cr_assert_not_null(sc);
	cr_assert(sasl_client_initial(sc, &resp));
	size_t n = unb64(buf_cstr(&resp), raw);
	cr_expect_eq(n, sizeof("\0alice\0" PW) - 1);
	cr_expect(memcmp(raw, "\0alice\0" PW, n) == 0);
	/* The exchange is over: a further challenge is refused. */
	cr_expect_eq(sasl_client_step(sc, "", &resp, &st), -1);
	cr_expect_eq(st.cls, STATUS_TEMP);
	sasl_client_free(sc);
	sasl_creds_clear(&cr);
	buf_clear(&resp);
	status_clear(&st);
}

struct token_case {
	const char *mech;
	const char *user;
	const char *host;
	const char *expect;
	size_t expect_len;
	const char *abort_reply;
};

#define TC(mech, user, host, s, abort) { mech, user, host, s, sizeof(s) - 1, abort }

static const struct token_case token_cases[] = {
	TC("XOAUTH2", "user@example.com", "smtp.example.com",
	    "user=user@example.com\001auth=Bearer ya29.Tok-en_/+=\001\001", ""),
	TC("OAUTHBEARER", "user@example.com", "smtp.example.com",
	    "n,a=user@example.com,\001host=smtp.example.com\001auth=Bearer ya29.Tok-en_/+=\001\001",
	    "AQ=="),
	TC("OAUTHBEARER", "a,b=c@example.com", "smtp.example.com",
	    "n,a=a=2Cb=3Dc@example.com,\001host=smtp.example.com\001auth=Bearer ya29.Tok-en_/+=\001\001",
	    "AQ=="),
	TC("OAUTHBEARER", "u", "",
	    "n,a=u,\001auth=Bearer ya29.Tok-en_/+=\001\001", "AQ=="),
};

Test(sasl, token_mechanisms)
{
	static const char error_json[] =
	    "{\"status\":\"401\",\"schemes\":\"bearer\",\"scope\":\"https://mail.google.com/\"}";
	struct buf challenge = BUF_INIT;
	b64(&challenge, error_json, sizeof error_json - 1);
	for (size_t i = 0; i < sizeof token_cases / sizeof token_cases[0]; i++) {
		const struct token_case *k = &token_cases[i];
		for (int late = 0; late < 2; late++) {
			struct sasl_creds cr;
			struct status st;
			struct buf resp = BUF_INIT;
			unsigned char raw[512];
			creds(&cr, k->user, "ya29.Tok-en_/+=");
			status_init(&st);
			struct sasl_client *sc = sasl_client_new(k->mech, &cr, k->host, NULL, NULL, &st);
			cr_assert_not_null(sc, "%s", buf_cstr(&st.text));
			if (late)	/* "AUTH XOAUTH2" alone, then "334 " */
				cr_assert_eq(sasl_client_step(sc, "", &resp, &st), 1);
			else
				cr_assert(sasl_client_initial(sc, &resp));
			size_t n = unb64(buf_cstr(&resp), raw);
			cr_expect_eq(n, k->expect_len, "case %zu: %zu bytes", i, n);
			cr_expect(n == k->expect_len && memcmp(raw, k->expect, n) == 0,
			    "case %zu: %.*s", i, (int)n, raw);
			cr_expect_eq(sasl_client_step(sc, buf_cstr(&challenge), &resp, &st), 1);
			cr_expect_str_eq(buf_cstr(&resp), k->abort_reply, "case %zu", i);
			sasl_client_free(sc);
			sasl_creds_clear(&cr);
			buf_clear(&resp);
			status_clear(&st);
		}
	}
	buf_clear(&challenge);
}

Test(sasl, client_new_refusals)
{
	static const struct {
		const char *mech, *user, *secret, *cb, *cb_type;
	} cases[] = {
		{ "DIGEST-MD5", "alice", PW, NULL, NULL },
		{ "ANONYMOUS", "alice", PW, NULL, NULL },
		{ "", "alice", PW, NULL, NULL },
		{ "SCRAM-SHA-256-PLUS", "alice", PW, NULL, "tls-exporter" },
		{ "SCRAM-SHA-1-PLUS", "alice", PW, "", "tls-exporter" },
		{ "SCRAM-SHA-256-PLUS", "alice", PW, "cb", "tls-server-end-point" },
		{ "SCRAM-SHA-256-PLUS", "alice", PW, "cb", NULL },
		{ "XOAUTH2", "alice", "tok\001en", NULL, NULL },
		{ "OAUTHBEARER", "al\nice", "token", NULL, NULL },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sasl_creds cr;
		struct status st;
		struct buf cb = BUF_INIT;
		creds(&cr, cases[i].user, cases[i].secret);
		status_init(&st);
		if (cases[i].cb)
			buf_set(&cb, cases[i].cb);
		cr_expect_null(sasl_client_new(cases[i].mech, &cr, "h", cases[i].cb ? &cb : NULL,
		    cases[i].cb_type, &st), "case %zu", i);
		cr_expect_eq(st.cls, STATUS_TEMP, "case %zu", i);
		cr_expect_str_eq(st.dsn, "4.7.0", "case %zu", i);
		cr_expect_null(strstr(buf_cstr(&st.text), cases[i].secret), "case %zu", i);
		sasl_creds_clear(&cr);
		buf_clear(&cb);
		status_clear(&st);
	}
	/* A secret over the limit. */
	struct sasl_creds cr;
	struct status st;
	creds(&cr, "alice", "");
	status_init(&st);
	for (int i = 0; i <= SASL_MAX_SECRET; i++)
		buf_putc(&cr.secret, 'x');
	cr_expect_null(sasl_client_new("PLAIN", &cr, "h", NULL, NULL, &st));
	cr_expect_eq(st.cls, STATUS_TEMP);
	sasl_creds_clear(&cr);
	status_clear(&st);
}

/* ---- hostile challenges ---- */

static struct sasl_client *
cram_client(struct sasl_creds *cr, struct status *st)
{
	creds(cr, "alice", PW);
	status_init(st);
	struct sasl_client *sc = sasl_client_new("CRAM-MD5", cr, "h", NULL, NULL, st);
	cr_assert_not_null(sc);
	return sc;
}

Test(sasl, invalid_base64_challenges)
{
	static const char *const bad[] = {
		"abc", "ab=c", "a===", "====", "Zm9v!A==", "Zm9vYg", "Zm 9v", "Zm9v\001AAA",
		" Zm9v", "Zm9v\r\nZm9v", "Zm9v=", "Zg=\n=", "Zm9v-_==", "*",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct sasl_creds cr;
		struct status st;
		struct buf resp = BUF_INIT;
		struct sasl_client *sc = cram_client(&cr, &st);
		cr_expect_eq(sasl_client_step(sc, bad[i], &resp, &st), -1, "case %zu", i);
		cr_expect_eq(st.cls, STATUS_TEMP, "case %zu", i);
		cr_expect_str_eq(st.dsn, "4.7.0", "case %zu", i);
		cr_expect_str_eq(buf_cstr(&st.text), "invalid base64 challenge from server", "case %zu", i);
		sasl_client_free(sc);
		sasl_creds_clear(&cr);
		buf_clear(&resp);
		status_clear(&st);
	}
	/* A valid one, with the line's end left on. */
	struct sasl_creds cr;
	struct status st;
	struct buf resp = BUF_INIT;
	unsigned char raw[128];
	struct sasl_client *sc = cram_client(&cr, &st);
	cr_expect_eq(sasl_client_step(sc, "PDEyMzQ1QGV4YW1wbGU+ \r\n", &resp, &st), 1, "%s",
	    buf_cstr(&st.text));
	size_t n = unb64(buf_cstr(&resp), raw);
	cr_expect(n == 6 + 32 && memcmp(raw, "alice ", 6) == 0);
	sasl_client_free(sc);
	sasl_creds_clear(&cr);
	buf_clear(&resp);
	status_clear(&st);
}

Test(sasl, challenge_size_limit)
{
	for (size_t size = SASL_MAX_CHALLENGE; size <= SASL_MAX_CHALLENGE + 1; size++) {
		struct sasl_creds cr;
		struct status st;
		struct buf resp = BUF_INIT, ch = BUF_INIT;
		char *raw = malloc(size);
		memset(raw, '<', size);
		b64(&ch, raw, size);
		struct sasl_client *sc = cram_client(&cr, &st);
		int r = sasl_client_step(sc, buf_cstr(&ch), &resp, &st);
		if (size <= SASL_MAX_CHALLENGE) {
			cr_expect_eq(r, 1, "%zu bytes: %s", size, buf_cstr(&st.text));
		} else {
			cr_expect_eq(r, -1, "%zu bytes", size);
			cr_expect_eq(st.cls, STATUS_TEMP);
			cr_expect_not_null(strstr(buf_cstr(&st.text), "too long"), "%s", buf_cstr(&st.text));
		}
		sasl_client_free(sc);
		sasl_creds_clear(&cr);
		buf_clear(&resp);
		buf_clear(&ch);
		free(raw);
		status_clear(&st);
	}
}

Test(sasl, endless_challenges_stop)
{
	struct sasl_creds cr;
	struct status st;
	struct buf resp = BUF_INIT;
	creds(&cr, "alice", "token");
	status_init(&st);
	struct sasl_client *sc = sasl_client_new("XOAUTH2", &cr, "h", NULL, NULL, &st);
	cr_assert_not_null(sc);
	cr_assert(sasl_client_initial(sc, &resp));
	for (int i = 1; i <= SASL_MAX_STEPS; i++)
		cr_expect_eq(sasl_client_step(sc, "e30=", &resp, &st), 1, "step %d", i);
	cr_expect_eq(sasl_client_step(sc, "e30=", &resp, &st), -1);
	cr_expect_eq(st.cls, STATUS_TEMP);
	cr_expect_str_eq(st.dsn, "4.7.0");
	cr_expect_not_null(strstr(buf_cstr(&st.text), "more than 16"), "%s", buf_cstr(&st.text));
	sasl_client_free(sc);
	sasl_creds_clear(&cr);
	buf_clear(&resp);
	status_clear(&st);
}

Test(sasl, gsasl_mechanisms_end)
{
	/* LOGIN answers two prompts, then the exchange is over. */
	struct sasl_creds cr;
	struct status st;
	struct buf resp = BUF_INIT;
	unsigned char raw[64];
	creds(&cr, "alice", PW);
	status_init(&st);
	struct sasl_client *sc = sasl_client_new("LOGIN", &cr, "h", NULL, NULL, &st);
	cr_assert_not_null(sc);
	cr_expect_eq(sasl_client_step(sc, "VXNlcm5hbWU6", &resp, &st), 1);
	cr_expect_eq(unb64(buf_cstr(&resp), raw), 5);
	cr_expect(memcmp(raw, "alice", 5) == 0);
	cr_expect_eq(sasl_client_step(sc, "UGFzc3dvcmQ6", &resp, &st), 1);
	cr_expect_eq(unb64(buf_cstr(&resp), raw), strlen(PW));
	cr_expect(memcmp(raw, PW, strlen(PW)) == 0);
	cr_expect_eq(sasl_client_step(sc, "UGFzc3dvcmQ6", &resp, &st), -1);
	cr_expect_null(strstr(buf_cstr(&st.text), PW));
	sasl_client_free(sc);
	sasl_creds_clear(&cr);
	buf_clear(&resp);
	status_clear(&st);
}

/* ---- mechanism choice ---- */

#define TLS_OK		"smtp_sasl_tls_security_options = noanonymous\n"

struct choose_case {
	const char *conf;
	const char *server;
	bool tls, cb;
	const char *want;	/* NULL: refused */
	const char *why_has;	/* with NULL: in the reason */
};

static const struct choose_case choose_cases[] = {
	/* Defaults: no plaintext mechanisms without TLS. */
	{ "", "PLAIN LOGIN", false, false, NULL, "server offers PLAIN LOGIN, filter allows all" },
	{ "", "PLAIN LOGIN", false, false, NULL, "smtp_sasl_security_options noplaintext, noanonymous (no TLS)" },
	{ "", "PLAIN LOGIN CRAM-MD5", false, false, "CRAM-MD5", NULL },
	{ "", "  plain   scram-sha-1\tcram-md5 ", false, false, "SCRAM-SHA-1", NULL },
	{ "", "SCRAM-SHA-256-PLUS", false, false, NULL, "no channel binding" },
	{ "", "ANONYMOUS", false, false, NULL, "server offers ANONYMOUS" },
	{ "", "", false, false, NULL, "server offers nothing" },
	{ "", "   ", true, false, NULL, "server offers nothing" },
	{ "", "CRAM-MD5X CRAM-MD SCRAM", false, false, NULL, "server offers CRAM-MD5X CRAM-MD SCRAM" },
	{ "", "X\001y\377 PLAIN", false, false, NULL, "server offers X?Y? PLAIN" },
	/* With TLS (plaintext allowed by the TLS options), strongest first. */
	{ TLS_OK, "PLAIN LOGIN", true, false, "PLAIN", NULL },
	{ TLS_OK, "LOGIN", true, false, "LOGIN", NULL },
	{ TLS_OK, "LOGIN PLAIN CRAM-MD5", true, false, "CRAM-MD5", NULL },
	{ TLS_OK, "PLAIN SCRAM-SHA-1 SCRAM-SHA-256 SCRAM-SHA-256-PLUS", true, false, "SCRAM-SHA-256", NULL },
	{ TLS_OK, "PLAIN SCRAM-SHA-1 SCRAM-SHA-256 SCRAM-SHA-256-PLUS", true, true, "SCRAM-SHA-256-PLUS", NULL },
	{ TLS_OK, "SCRAM-SHA-1-PLUS SCRAM-SHA-256 CRAM-MD5", true, true, "SCRAM-SHA-1-PLUS", NULL },
	{ TLS_OK, "SCRAM-SHA-1-PLUS SCRAM-SHA-256", true, false, "SCRAM-SHA-256", NULL },
	{ TLS_OK, "PLAIN", false, false, NULL, "(no TLS)" },
	{ TLS_OK, "GSSAPI DIGEST-MD5 NTLM", true, true, NULL, "smtp_sasl_tls_security_options noanonymous (TLS)" },
	/* Token mechanisms only when the filter names them, then first. */
	{ TLS_OK, "XOAUTH2 OAUTHBEARER PLAIN", true, false, "PLAIN", NULL },
	{ TLS_OK, "XOAUTH2 OAUTHBEARER", true, false, NULL, "filter allows all but XOAUTH2 and OAUTHBEARER" },
	{ TLS_OK "smtp_sasl_mechanism_filter = xoauth2, plain\n", "PLAIN SCRAM-SHA-256 xoauth2", true, false,
	    "XOAUTH2", NULL },
	{ TLS_OK "smtp_sasl_mechanism_filter = xoauth2, plain\n", "PLAIN SCRAM-SHA-256", true, false,
	    "PLAIN", NULL },
	{ TLS_OK "smtp_sasl_mechanism_filter = xoauth2, plain\n", "SCRAM-SHA-256 CRAM-MD5", true, false,
	    NULL, "filter allows xoauth2 plain" },
	{ "smtp_sasl_mechanism_filter = xoauth2\n", "XOAUTH2 PLAIN", false, false, NULL, "noplaintext" },
	{ TLS_OK "smtp_sasl_mechanism_filter = xoauth2 oauthbearer\n", "XOAUTH2 OAUTHBEARER", true, false,
	    "OAUTHBEARER", NULL },
	{ TLS_OK "smtp_sasl_mechanism_filter = plain\n", "XOAUTH2 SCRAM-SHA-256 PLAIN", true, true, "PLAIN", NULL },
	/* Postfix match list: first match decides, !name excludes, static: is a wildcard. */
	{ TLS_OK "smtp_sasl_mechanism_filter = !cram-md5, static:all\n", "CRAM-MD5 PLAIN", true, false,
	    "PLAIN", NULL },
	{ TLS_OK "smtp_sasl_mechanism_filter = !cram-md5, static:all\n", "CRAM-MD5 XOAUTH2", true, false,
	    NULL, "filter allows !cram-md5 static:all" },
	{ TLS_OK "smtp_sasl_mechanism_filter = plain, !plain\n", "PLAIN", true, false, "PLAIN", NULL },
	/* Other security options. */
	{ "smtp_sasl_security_options =\n", "PLAIN", false, false, "PLAIN", NULL },
	{ "smtp_sasl_security_options =\n", "LOGIN", true, false, "LOGIN", NULL },
	{ "smtp_sasl_security_options = mutual_auth\n", "PLAIN CRAM-MD5", false, false, NULL, "mutual_auth" },
	{ "smtp_sasl_security_options = mutual_auth\n", "PLAIN SCRAM-SHA-1 CRAM-MD5", false, false,
	    "SCRAM-SHA-1", NULL },
	{ "smtp_sasl_security_options = noactive\n", "CRAM-MD5 SCRAM-SHA-256", false, false, "SCRAM-SHA-256", NULL },
	{ "smtp_sasl_security_options = nodictionary\nsmtp_sasl_mechanism_filter = xoauth2 plain scram-sha-256\n",
	    "PLAIN SCRAM-SHA-256 XOAUTH2", true, false, "XOAUTH2", NULL },
	{ "smtp_sasl_security_options = nodictionary\n", "PLAIN SCRAM-SHA-256 CRAM-MD5", false, false, NULL,
	    "nodictionary" },
	/* Under TLS only smtp_sasl_tls_security_options (default noanonymous) apply. */
	{ "smtp_sasl_security_options = nodictionary\n", "PLAIN SCRAM-SHA-256 CRAM-MD5", true, false,
	    "SCRAM-SHA-256", NULL },
	{ "", "PLAIN LOGIN", true, false, "PLAIN", NULL },
	{ "smtp_sasl_security_options = forward_secrecy\n", "PLAIN SCRAM-SHA-256", false, false, NULL,
	    "forward_secrecy" },
	{ "smtp_sasl_security_options = noplaintext, bogus\n", "CRAM-MD5", false, false, NULL,
	    "unknown smtp_sasl_security_options value \"bogus\"" },
	{ "smtp_sasl_tls_security_options = Noanonymous, bogus\n", "PLAIN", true, false, NULL,
	    "unknown smtp_sasl_tls_security_options value \"bogus\"" },
};

Test(sasl, choose)
{
	for (size_t i = 0; i < sizeof choose_cases / sizeof choose_cases[0]; i++) {
		const struct choose_case *k = &choose_cases[i];
		struct conf *c = load(k->conf);
		struct buf why = BUF_INIT;
		buf_set(&why, "stale");
		const char *m = sasl_choose(c, k->server, k->tls, k->cb, &why);
		if (k->want) {
			cr_expect(m != NULL && strcmp(m, k->want) == 0, "case %zu: got %s, want %s (%s)",
			    i, m ? m : "NULL", k->want, buf_cstr(&why));
		} else {
			cr_expect_null(m, "case %zu: got %s", i, m);
			cr_expect_not_null(strstr(buf_cstr(&why), k->why_has), "case %zu: why %s",
			    i, buf_cstr(&why));
			cr_expect_null(strchr(buf_cstr(&why), '\n'), "case %zu", i);
			cr_expect_null(strstr(buf_cstr(&why), "stale"), "case %zu", i);
		}
		buf_clear(&why);
		conf_free(c);
	}
}

Test(sasl, choose_bounds_a_long_server_list)
{
	struct conf *c = load("");
	struct buf list = BUF_INIT, why = BUF_INIT;
	for (int i = 0; i < 5000; i++)
		buf_puts(&list, "FOO-BAR ");
	cr_expect_null(sasl_choose(c, buf_cstr(&list), false, false, &why));
	cr_expect_lt(why.len, 1000, "%zu", why.len);
	buf_reset(&list);
	for (int i = 0; i < 40000; i++)
		buf_putc(&list, 'X');	/* one word */
	cr_expect_null(sasl_choose(c, buf_cstr(&list), false, false, &why));
	cr_expect_lt(why.len, 1000, "%zu", why.len);
	buf_clear(&list);
	buf_clear(&why);
	conf_free(c);
}

/* ---- smtp_sasl_password_maps ---- */

static char tmpdir[64];

static void
write_file(const char *name, const char *text)
{
	char path[128];
	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

static void
maps_setup(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/test_sasl.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	write_file("m1",
	    "[smtp.example.com]:587\tportuser:portpass\n"
	    "[smtp.example.com]\tbracketuser:bracketpass\n"
	    "smtp.example.com\thostuser:hostpass\n"
	    "hostonly.example.com\thostonly:pw\n"
	    "useronly.example.com\tjustauser\n"
	    "colon.example.com\tu:pa:ss\n"
	    "split.example.com\tm1user:m1pass\n");
	write_file("m2",
	    "second.example.com\tseconduser:secondpass\n"
	    "[split.example.com]\tm2user:m2pass\n"
	    "[smtp.example.com]\tnever:reached\n");
}

static void
maps_teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
	(void)!system(cmd);
}

static struct conf *
maps_conf(const char *maps)
{
	char text[512];
	snprintf(text, sizeof text, "smtp_sasl_password_maps = %s\n", maps);
	for (char *p; (p = strstr(text, "DIR")) != NULL;) {
		char rest[512];
		snprintf(rest, sizeof rest, "%s%s", tmpdir, p + 3);
		snprintf(p, sizeof text - (size_t)(p - text), "%s", rest);
	}
	return load(text);
}

struct lookup_case {
	const char *host;
	unsigned port;
	int want;
	const char *user, *secret;
};

static const struct lookup_case lookup_cases[] = {
	{ "smtp.example.com", 587, 1, "portuser", "portpass" },
	{ "SMTP.Example.COM", 587, 1, "portuser", "portpass" },
	{ "smtp.example.com", 25, 1, "bracketuser", "bracketpass" },
	{ "smtp.example.com", 0, 1, "bracketuser", "bracketpass" },
	{ "hostonly.example.com", 587, 1, "hostonly", "pw" },
	{ "second.example.com", 25, 1, "seconduser", "secondpass" },
	/* Key form before map order: "[host]" in m2 beats "host" in m1. */
	{ "split.example.com", 25, 1, "m2user", "m2pass" },
	{ "useronly.example.com", 25, 1, "justauser", "" },
	{ "colon.example.com", 25, 1, "u", "pa:ss" },
	{ "missing.example.com", 25, 0, "old", "oldsecret" },
	{ "example.com", 25, 0, "old", "oldsecret" },
};

Test(sasl, lookup_password, .init = maps_setup, .fini = maps_teardown)
{
	struct conf *c = maps_conf("texthash:DIR/m1, texthash:DIR/m2");
	for (size_t i = 0; i < sizeof lookup_cases / sizeof lookup_cases[0]; i++) {
		const struct lookup_case *k = &lookup_cases[i];
		struct sasl_creds cr;
		struct status st;
		creds(&cr, "old", "oldsecret");
		status_init(&st);
		cr_expect_eq(sasl_lookup_password(c, k->host, k->port, &cr, &st), k->want,
		    "case %zu: %s", i, buf_cstr(&st.text));
		cr_expect_str_eq(buf_cstr(&cr.user), k->user, "case %zu", i);
		cr_expect_str_eq(buf_cstr(&cr.secret), k->secret, "case %zu", i);
		sasl_creds_clear(&cr);
		status_clear(&st);
	}
	conf_free(c);
}

Test(sasl, lookup_password_map_errors, .init = maps_setup, .fini = maps_teardown)
{
	static const char *const specs[] = {
		"texthash:DIR/m1, cdb:DIR/missing",
		"cdb:DIR/missing",
		"fail:broken, texthash:DIR/m1",
		"texthash:DIR/nonexistent",
	};
	for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
		struct conf *c = maps_conf(specs[i]);
		struct sasl_creds cr;
		struct status st;
		creds(&cr, "old", "oldsecret");
		status_init(&st);
		/* Even when m1 has the answer: an unreadable map defers. */
		cr_expect_eq(sasl_lookup_password(c, "smtp.example.com", 587, &cr, &st), -1,
		    "case %zu", i);
		cr_expect_eq(st.cls, STATUS_TEMP, "case %zu", i);
		cr_expect_str_eq(st.dsn, "4.3.0", "case %zu", i);
		cr_expect_str_eq(buf_cstr(&cr.secret), "oldsecret", "case %zu", i);
		sasl_creds_clear(&cr);
		status_clear(&st);
		conf_free(c);
	}
	/* No maps at all: nothing found. */
	struct conf *c = load("");
	struct sasl_creds cr;
	struct status st;
	creds(&cr, "", "");
	status_init(&st);
	cr_expect_eq(sasl_lookup_password(c, "smtp.example.com", 587, &cr, &st), 0);
	sasl_creds_clear(&cr);
	status_clear(&st);
	conf_free(c);
}

/* ---- smtp_sasl_password_command ---- */

struct command_case {
	const char *command;
	bool ok;
	const char *secret;	/* ok: expected; else: must not be in the text */
	const char *text_has;
};

static const struct command_case command_cases[] = {
	{ "printf 'tok3n\\nsecond line\\n'", true, "tok3n", NULL },
	{ "printf tok3n", true, "tok3n", NULL },
	{ "printf 'crlf\\r\\n'", true, "crlf", NULL },
	{ "printf ' spaced token \\n'", true, " spaced token ", NULL },
	{ "echo $SATMAIL_SASL_USER@$SATMAIL_SASL_HOST", true, "alice@smtp.example.com", NULL },
	{ "printf %s \"$PATH\"", true, "/usr/bin:/bin", NULL },
	{ "cat; echo stdin-was-empty", true, "stdin-was-empty", NULL },
	{ "echo tok; head -c 1000000 /dev/zero", true, "tok", NULL },
	{ "echo leaked-output; exit 1", false, "leaked", "smtp_sasl_password_command failed: exit status 1" },
	{ "exit 3", false, NULL, "exit status 3" },
	{ "echo partial; kill -9 $$", false, "partial", "killed by signal 9" },
	{ "true", false, NULL, "smtp_sasl_password_command printed no password" },
	{ "echo; echo second", false, "second", "printed no password" },
	{ "head -c 16385 /dev/zero | tr '\\0' a", false, "aaaa", "longer than 16384 bytes" },
	{ "printf 'a\\0b\\n'", false, NULL, "NUL" },
	{ "", false, NULL, "empty" },
};

Test(sasl, password_command)
{
	for (size_t i = 0; i < sizeof command_cases / sizeof command_cases[0]; i++) {
		const struct command_case *k = &command_cases[i];
		struct sasl_creds cr;
		struct status st;
		creds(&cr, "alice", "old");
		status_init(&st);
		bool ok = sasl_password_command(k->command, "smtp.example.com", &cr, &st);
		cr_expect_eq(ok, k->ok, "case %zu (%s): %s", i, k->command, buf_cstr(&st.text));
		cr_expect_str_eq(buf_cstr(&cr.user), "alice", "case %zu", i);
		if (k->ok) {
			cr_expect_str_eq(buf_cstr(&cr.secret), k->secret, "case %zu", i);
		} else {
			cr_expect_str_eq(buf_cstr(&cr.secret), "old", "case %zu", i);
			cr_expect_eq(st.cls, STATUS_TEMP, "case %zu", i);
			cr_expect_str_eq(st.dsn, "4.7.0", "case %zu", i);
			cr_expect_not_null(strstr(buf_cstr(&st.text), k->text_has), "case %zu: %s", i,
			    buf_cstr(&st.text));
			if (k->secret)
				cr_expect_null(strstr(buf_cstr(&st.text), k->secret), "case %zu", i);
		}
		sasl_creds_clear(&cr);
		status_clear(&st);
	}
}

Test(sasl, password_command_longest_line)
{
	struct sasl_creds cr;
	struct status st;
	creds(&cr, "alice", "old");
	status_init(&st);
	cr_expect(sasl_password_command("head -c 16384 /dev/zero | tr '\\0' a; printf '\\r\\n'",
	    "h", &cr, &st), "%s", buf_cstr(&st.text));
	cr_expect_eq(cr.secret.len, SASL_MAX_SECRET);
	sasl_creds_clear(&cr);
	status_clear(&st);
}

Test(sasl, password_command_environment)
{
	static const char *const allowed[] = {
		"PATH", "SATMAIL_SASL_USER", "SATMAIL_SASL_HOST",
		"PWD",	/* the shell sets it */
	};
	setenv("SATMAIL_TEST_LEAK", "1", 1);
	setenv("HOME", "/root", 1);
	struct sasl_creds cr;
	struct status st;
	creds(&cr, "alice", "");
	status_init(&st);
	cr_assert(sasl_password_command("env | cut -d= -f1 | sort | tr '\\n' ' '", "h", &cr, &st),
	    "%s", buf_cstr(&st.text));
	char *names = strdup(buf_cstr(&cr.secret)), *save = NULL;
	int seen = 0;
	for (char *n = strtok_r(names, " ", &save); n; n = strtok_r(NULL, " ", &save)) {
		size_t i = 0;
		while (i < sizeof allowed / sizeof allowed[0] && strcmp(n, allowed[i]) != 0)
			i++;
		cr_expect_lt(i, sizeof allowed / sizeof allowed[0], "leaked variable %s", n);
		seen += i < 3;
	}
	cr_expect_eq(seen, 3, "environment: %s", buf_cstr(&cr.secret));
	free(names);
	sasl_creds_clear(&cr);
	status_clear(&st);
}

static double
seconds_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

Test(sasl, password_command_timeout)
{
	static const char *const commands[] = {
		"sleep 60",
		"echo early; sleep 60",
		/* A background child keeps the pipe open after the shell ends. */
		"(sleep 60; echo late) & echo early",
	};
	sasl_set_command_timeout(1);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		struct sasl_creds cr;
		struct status st;
		struct timespec t0;
		creds(&cr, "alice", "old");
		status_init(&st);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		cr_expect_not(sasl_password_command(commands[i], "h", &cr, &st), "case %zu", i);
		double took = seconds_since(&t0);
		cr_expect(took >= 0.9 && took < 4, "case %zu took %.2f s", i, took);
		cr_expect_str_eq(buf_cstr(&st.text), "smtp_sasl_password_command timed out after 1 seconds",
		    "case %zu", i);
		cr_expect_str_eq(buf_cstr(&cr.secret), "old");
		sasl_creds_clear(&cr);
		status_clear(&st);
	}
	sasl_set_command_timeout(0);
}

Test(sasl, password_command_timeout_kills_the_group, .init = maps_setup, .fini = maps_teardown)
{
	char cmd[256], marker[128];
	snprintf(marker, sizeof marker, "%s/survivor", tmpdir);
	snprintf(cmd, sizeof cmd, "(sleep 2; touch %s) & sleep 60", marker);
	sasl_set_command_timeout(1);
	struct sasl_creds cr;
	struct status st;
	creds(&cr, "alice", "old");
	status_init(&st);
	cr_expect_not(sasl_password_command(cmd, "h", &cr, &st));
	sleep(2);
	struct stat sb;
	cr_expect_neq(stat(marker, &sb), 0, "a process of the command survived the timeout");
	sasl_creds_clear(&cr);
	status_clear(&st);
	sasl_set_command_timeout(0);
}
