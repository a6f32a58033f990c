/* fuzz_dns - libFuzzer target for the answer handling of lib/dns.c.
 *
 * The first byte chooses the question (bits 0-1: MX, A, AAAA; bit 7:
 * ask for the name in the packet's own question section, which gets
 * mutations past the question check; else "example.com"); the rest is
 * a raw DNS answer given to dns_test_mx_answer()/dns_test_addr_answer(),
 * the classification dns_lookup_mx()/dns_lookup_addrs() use.  Checked:
 * a success holds 1..DNS_MAX_MX hosts with valid lower-case names, no
 * trailing dot, no duplicates, in preference order (or 1..DNS_MAX_ADDRS
 * distinct addresses of the asked family, port 0, the text matching the
 * sockaddr); a failure is TEMP 4.4.3 or PERM 5.1.2/5.1.10/5.4.4 with a
 * one-line printable text.  Any broken invariant aborts.
 *
 * Built and run by tests/fuzz/run.sh (with every lib source and ldns);
 * seeds in tests/fuzz/corpus/dns. */
#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The test hooks of lib/dns.c (declared there). */

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_dns: %s:%d: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

static void
check_name(const char *s)
{
	size_t len = strlen(s), label = 0;

	CHECK(len > 0 && len <= 253);
	CHECK(s[0] != '.' && s[len - 1] != '.');
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '.') {
			CHECK(label > 0);
			label = 0;
			continue;
		}
		CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_');
		CHECK(++label <= 63);
	}
}

static void
check_failure(const struct status *st, const char *const *dsns)
{
	bool known = false;
	const char *t = buf_cstr(&st->text);

	CHECK(st->cls == STATUS_TEMP || st->cls == STATUS_PERM);
	for (size_t i = 0; dsns[i]; i++)
		known = known || strcmp(st->dsn, dsns[i]) == 0;
	CHECK(known);
	CHECK(st->dsn[0] == (st->cls == STATUS_TEMP ? '4' : '5'));
	CHECK(st->text.len > 0 && strlen(t) == st->text.len);
	for (const char *p = t; *p; p++)
		CHECK((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
}

static void
check_mx(const unsigned char *wire, size_t len, const char *domain)
{
	static const char *const dsns[] = { "4.4.3", "5.1.2", "5.1.10", NULL };
	struct dns_host *h = (struct dns_host *)1;
	size_t n = 99;
	bool secure = true;
	struct status st;

	status_init(&st);
	if (dns_test_mx_answer(wire, len, domain, &h, &n, &secure, &st)) {
		CHECK(n >= 1 && n <= DNS_MAX_MX && h != NULL);
		for (size_t i = 0; i < n; i++) {
			check_name(h[i].name);
			CHECK(i == 0 || h[i - 1].pref <= h[i].pref);
			for (size_t k = 0; k < i; k++)
				CHECK(strcmp(h[k].name, h[i].name) != 0);
		}
		dns_hosts_free(h, n);
	} else {
		CHECK(h == NULL && n == 0 && !secure);
		check_failure(&st, dsns);
	}
	status_clear(&st);
}

static void
check_addrs(const unsigned char *wire, size_t len, const char *host, int family)
{
	static const char *const dsns[] = { "4.4.3", "5.1.2", "5.4.4", NULL };
	struct dns_addr *a = (struct dns_addr *)1;
	size_t n = 99;
	struct status st;

	status_init(&st);
	if (dns_test_addr_answer(wire, len, host, family, &a, &n, &st)) {
		CHECK(n >= 1 && n <= DNS_MAX_ADDRS && a != NULL);
		for (size_t i = 0; i < n; i++) {
			unsigned char raw[16];
			const struct sockaddr_in *sin = (const struct sockaddr_in *)&a[i].sa;
			const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a[i].sa;

			CHECK(a[i].sa.ss_family == family);
			CHECK(memchr(a[i].text, '\0', sizeof a[i].text) != NULL);
			CHECK(inet_pton(family, a[i].text, raw) == 1);
			if (family == AF_INET) {
				CHECK(a[i].salen == sizeof *sin && sin->sin_port == 0);
				CHECK(memcmp(raw, &sin->sin_addr, 4) == 0);
			} else {
				CHECK(a[i].salen == sizeof *sin6 && sin6->sin6_port == 0);
				CHECK(memcmp(raw, &sin6->sin6_addr, 16) == 0);
			}
			for (size_t k = 0; k < i; k++)
				CHECK(strcmp(a[k].text, a[i].text) != 0);
		}
		free(a);
	} else {
		CHECK(a == NULL && n == 0);
		check_failure(&st, dsns);
	}
	status_clear(&st);
}

/* The name of the packet's question, as text; NULL when there is none. */
static char *
own_question(const unsigned char *wire, size_t len)
{
	ldns_pkt *p = NULL;
	char *name = NULL;

	if (ldns_wire2pkt(&p, wire, len) != LDNS_STATUS_OK)
		return NULL;
	if (ldns_pkt_question(p) && ldns_rr_list_rr_count(ldns_pkt_question(p)) > 0)
		name = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(p), 0)));
	ldns_pkt_free(p);
	return name;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const unsigned char *wire = data + 1;
	char *own = NULL;
	const char *name = "example.com";

	if (size < 1)
		return 0;
	size--;
	if ((data[0] & 0x80) && (own = own_question(wire, size)))
		name = own;
	switch (data[0] & 3) {
	case 1:
		check_addrs(wire, size, name, AF_INET);
		break;
	case 2:
		check_addrs(wire, size, name, AF_INET6);
		break;
	default:
		check_mx(wire, size, name);
		break;
	}
	free(own);
	return 0;
}
