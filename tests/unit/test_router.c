/* Unit tests for lib/router: recipient classification and the transport
 * registry, and the transports' outcome-line parser. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "conf.h"
#include "router.h"
#include "transport_local.h"

static struct conf *
load(const char *text)
{
	char path[] = "/tmp/test_router.XXXXXX";
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

struct route_case {
	const char *relayhost;	/* NULL = none */
	const char *addr;
	enum route_kind kind;
	const char *transport;
	const char *nexthop;
	const char *extension;
};

static const struct route_case cases[] = {
	{ NULL, "bob@host.example.org", ROUTE_LOCAL, "local", "bob", "" },
	{ NULL, "Bob@HOST.example.ORG", ROUTE_LOCAL, "local", "bob", "" },
	{ NULL, "bob+lists@localhost", ROUTE_LOCAL, "local", "bob", "lists" },
	{ NULL, "bob", ROUTE_LOCAL, "local", "bob", "" },
	{ NULL, "+x@localhost", ROUTE_LOCAL, "local", "+x", "" },
	{ NULL, "carol@Example.COM", ROUTE_MX, "smtp", "example.com", "" },
	{ NULL, "\"a@b\"@example.net", ROUTE_MX, "smtp", "example.net", "" },
	{ "[smtp.example.net]:587", "carol@example.com", ROUTE_RELAY, "smtp",
	    "[smtp.example.net]:587", "" },
	{ "[smtp.example.net]:587", "bob@localhost", ROUTE_LOCAL, "local", "bob", "" },
	{ NULL, "@example.com", ROUTE_ERROR, NULL, "", "" },
};

Test(router, table)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct route_case *k = &cases[i];
		char text[512];
		snprintf(text, sizeof text, "myhostname = host.example.org\n%s%s\n",
		    k->relayhost ? "relayhost = " : "", k->relayhost ? k->relayhost : "");
		struct conf *c = load(text);
		struct route r;
		route_init(&r);
		router_route(c, k->addr, &r);
		cr_expect_eq(r.kind, k->kind, "%s: kind %d", k->addr, r.kind);
		if (k->transport)
			cr_expect_str_eq(r.transport, k->transport, "%s", k->addr);
		else
			cr_expect_null(r.transport, "%s", k->addr);
		cr_expect_str_eq(buf_cstr(&r.nexthop), k->nexthop, "%s", k->addr);
		cr_expect_str_eq(buf_cstr(&r.extension), k->extension, "%s", k->addr);
		if (k->kind == ROUTE_ERROR)
			cr_expect_eq(r.error.cls, STATUS_PERM);
		route_clear(&r);
		conf_free(c);
	}
}

static void
fake_deliver(const struct conf *c, const struct envelope *e, int fd, long long off,
    const char *nexthop, struct rcpt **rcpts, size_t n, struct status *results, struct buf *relay)
{
	(void)c, (void)e, (void)fd, (void)off, (void)nexthop, (void)rcpts;
	buf_set(relay, "fake");
	for (size_t i = 0; i < n; i++)
		status_set(&results[i], STATUS_OK, "2.0.0", 0, "delivered");
}

Test(router, registry)
{
	static const struct transport fake = { "fake", fake_deliver, NULL };
	static const struct transport dup = { "fake", fake_deliver, NULL };
	cr_expect_null(router_transport("fake"));
	cr_expect(router_register(&fake));
	cr_expect_not(router_register(&dup), "a name is registered once");
	cr_expect_eq(router_transport("fake"), &fake);
	cr_expect_null(router_transport("smtp"), "no SMTP transport in this build");
}

/* The outcome line helpers and the SMTP worker report (transport_local.h). */
struct outcome_case {
	const char *line;
	bool ok;
	enum status_class cls;
	const char *dsn;
	const char *text;
};

static const struct outcome_case outcome_cases[] = {
	{ "ok 2.0.0 delivered to mailbox", true, STATUS_OK, "2.0.0", "delivered to mailbox" },
	{ "temp 4.2.1 mailbox busy", true, STATUS_TEMP, "4.2.1", "mailbox busy" },
	{ "perm 5.1.1 unknown", true, STATUS_PERM, "5.1.1", "unknown" },
	{ "perm 5.100.999 x", true, STATUS_PERM, "5.100.999", "x" },
	{ "ok 5.0.0 class disagrees", false, STATUS_OK, NULL, NULL },
	{ "perm 2.0.0 class disagrees", false, STATUS_OK, NULL, NULL },
	{ "ok 2..00 two dots together", false, STATUS_OK, NULL, NULL },
	{ "ok 2.0.0. trailing dot", false, STATUS_OK, NULL, NULL },
	{ "ok 20.0.0 no dot after class", false, STATUS_OK, NULL, NULL },
	{ "ok 2.0 too short", false, STATUS_OK, NULL, NULL },
	{ "ok 2.0.0.0 three dots", false, STATUS_OK, NULL, NULL },
	{ "ok 2.0.0", false, STATUS_OK, NULL, NULL },
	{ "fine 2.0.0 x", false, STATUS_OK, NULL, NULL },
	{ "", false, STATUS_OK, NULL, NULL },
};

Test(transport, parse_outcome)
{
	for (size_t i = 0; i < sizeof outcome_cases / sizeof outcome_cases[0]; i++) {
		const struct outcome_case *oc = &outcome_cases[i];
		struct status st;
		status_init(&st);
		bool ok = transport_parse_outcome(oc->line, &st);
		cr_expect_eq(ok, oc->ok, "[%s]", oc->line);
		if (ok && oc->ok) {
			cr_expect_eq(st.cls, oc->cls, "[%s]", oc->line);
			cr_expect_str_eq(st.dsn, oc->dsn, "[%s]", oc->line);
			cr_expect_str_eq(buf_cstr(&st.text), oc->text, "[%s]", oc->line);
		}
		status_clear(&st);
	}
}
