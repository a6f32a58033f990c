/* dns - the resolver questions remote delivery asks, through ldns.
 *
 * Servers: dns_servers from the configuration ("host", "host:port",
 * "[v6addr]:port", a comma list; addresses only, no names) override
 * /etc/resolv.conf.  Names in /etc/hosts answer address lookups first
 * (as the C library would), so "relayhost = [localhost]:25" works.
 * Queries go over UDP with a retry over TCP for a truncated answer, each
 * server in turn, with a total time limit (DNS_TIMEOUT seconds per
 * question).  Domain names are converted to A-labels (IDNA) by the caller.
 *
 * Outcomes follow Postfix and SECURITY.md F-12:
 *   MX present            hosts in preference order, equal preferences
 *                         shuffled; an MX naming a CNAME is followed;
 *   no MX (NOERROR/NODATA) the domain itself as an implicit MX (pref 0);
 *   null MX ("0 .")       PERM 5.1.10 "Domain X does not accept mail
 *                         (nullMX)";
 *   NXDOMAIN              PERM 5.1.2 "Host or domain name not found. Name
 *                         service error for name=X type=MX: Host not found";
 *   SERVFAIL, REFUSED, timeout, no server reachable
 *                         TEMP 4.4.3 "... Host not found, try again";
 * never a bounce for a resolver problem.  All answer data is untrusted. */
#ifndef SATMAIL_DNS_H
#define SATMAIL_DNS_H
#include <stdbool.h>
#include <stddef.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "conf.h"
#include "status.h"

#define DNS_TIMEOUT	10	/* seconds for one question, all servers and retries */
#define DNS_MAX_MX	64	/* MX hosts kept (the lowest preferences) */
#define DNS_MAX_ADDRS	32	/* addresses kept per host */

struct dns_addr {
	struct sockaddr_storage sa;	/* port 0; the caller sets it */
	socklen_t salen;
	char text[48];			/* "192.0.2.1", "2001:db8::1" */
};

struct dns_host {
	char *name;		/* lower case, no trailing dot */
	unsigned pref;		/* MX preference (0 for implicit/relay) */
};

struct dns_resolver;

/* Resolver for the configuration's dns_servers (or /etc/resolv.conf).
 * NULL with st (TEMP 4.3.5) when there is no usable server. */
struct dns_resolver *dns_resolver_new(const struct conf *c, struct status *st);
struct dns_resolver *dns_resolver_free(struct dns_resolver *r);

/* MX hosts of domain (see the outcome table above).  On true, *hosts
 * (caller frees with dns_hosts_free) holds *n >= 1 hosts; *secure tells
 * whether the answer had the AD bit (kept for DANE).  False with st. */
bool dns_lookup_mx(struct dns_resolver *r, const char *domain, struct dns_host **hosts,
    size_t *n, bool *secure, struct status *st);
void dns_hosts_free(struct dns_host *hosts, size_t n);

/* Addresses of host: an IP literal as is; else /etc/hosts, then AAAA and
 * A records (only the families inet_protocols allows), ordered by
 * smtp_address_preference ("any": as answered, IPv6 first as Postfix
 * does; "ipv4"/"ipv6": that family first).  *addrs (caller frees) gets
 * *n >= 1 addresses.  False with st: NXDOMAIN or no address records =
 * PERM 5.4.4 "Host or domain name not found. Name service error for
 * name=H type=A: Host not found"; resolver trouble = TEMP 4.4.3. */
bool dns_lookup_addrs(struct dns_resolver *r, const struct conf *c, const char *host,
    struct dns_addr **addrs, size_t *n, struct status *st);

/* Test hooks (tests/unit/test_dns.c, tests/fuzz/fuzz_dns.c): the outcome
 * dns_lookup_mx()/dns_lookup_addrs() would give for one raw answer to
 * the question for domain (family AF_INET: A, AF_INET6: AAAA), without
 * any network; a CNAME chain that leaves the answer is TEMP here. */
bool dns_test_mx_answer(const unsigned char *wire, size_t len, const char *domain,
    struct dns_host **hosts, size_t *n, bool *secure, struct status *st);
bool dns_test_addr_answer(const unsigned char *wire, size_t len, const char *host,
    int family, struct dns_addr **addrs, size_t *n, struct status *st);

#endif
