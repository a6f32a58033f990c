/* dns - MX and address lookups through ldns (see dns.h).
 *
 * Each configured server gets its own ldns_resolver, because ldns keeps
 * one port for all the nameservers of a resolver and dns_servers may give
 * each its own.  A question goes to the servers in turn, two rounds, each
 * try with a slice of the DNS_TIMEOUT budget; ldns retries a truncated
 * UDP answer over TCP.  Answers are checked against the question (id,
 * name, type, class) and only records on the queried name or its CNAME
 * chain are used; every name read from an answer is validated before it
 * is used.  The classification of an answer is a pure function of the
 * packet, which dns_test_mx_answer()/dns_test_addr_answer() expose to the
 * unit tests and the fuzzer. */
#include "dns.h"

#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "xalloc.h"


#define DNS_NAME_MAX	253	/* text form, no trailing dot */
#define DNS_LABEL_MAX	63
#define DNS_CNAME_HOPS	8	/* CNAMEs followed in one answer */
#define DNS_QUERIES	4	/* questions per lookup when a chain leaves an answer */
#define DNS_ROUNDS	2	/* times each server is tried */
#define DNS_MAX_SERVERS	16
#define DNS_EDNS_SIZE	1232	/* the 2020 DNS flag day value */
#define DNS_HOSTS_PATH	"/etc/hosts"

struct dns_server {
	ldns_resolver *lr;	/* exactly one nameserver */
	char text[64];		/* "[::1]:5353", for traces */
};

struct dns_resolver {
	struct dns_server *v;
	size_t n;
};

/* What one answer says about the question. */
enum verdict {
	V_DATA,		/* records of the asked type */
	V_NODATA,	/* the name exists, no such records */
	V_NXDOMAIN,
	V_NULLMX,	/* the single MX "." */
	V_CHAIN,	/* a CNAME chain leads to a name this answer does not cover */
	V_TEMP,		/* unusable answer: bad rcode, malformed data */
};

/* What asking the servers gave. */
enum asked { ASKED_ANSWER, ASKED_ERROR, ASKED_TIMEOUT };

/* MX hosts as read; key orders equal preferences randomly. */
struct mx_entry {
	struct dns_host h;
	unsigned key;
};

struct mx_list {
	struct mx_entry *v;
	size_t n, cap;
};

struct addr_list {
	struct dns_addr v[DNS_MAX_ADDRS];
	size_t n;
};

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool
name_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Normalises a name given as text: lower case, one trailing dot dropped;
 * false unless every label is 1..63 LDH-or-underscore characters and the
 * whole is at most 253. */
static bool
name_normalize(const char *in, char out[DNS_NAME_MAX + 1])
{
	size_t len = strlen(in), label = 0;

	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0 || len > DNS_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (!name_char((unsigned char)c) || ++label > DNS_LABEL_MAX) {
			return false;
		}
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	if (label == 0)
		return false;
	out[len] = '\0';
	return true;
}

/* A domain name from an answer (uncompressed wire form) as normalised
 * text; the root is "".  False for anything name_normalize would refuse. */
static bool
dname_text(const ldns_rdf *rd, char out[DNS_NAME_MAX + 1])
{
	const uint8_t *p;
	size_t size, i = 0, o = 0;

	if (!rd || ldns_rdf_get_type(rd) != LDNS_RDF_TYPE_DNAME)
		return false;
	p = ldns_rdf_data(rd);
	size = ldns_rdf_size(rd);
	while (i < size && p[i] != 0) {
		size_t l = p[i++];
		if (l > DNS_LABEL_MAX || i + l > size || o + l + (o > 0) > DNS_NAME_MAX)
			return false;
		if (o > 0)
			out[o++] = '.';
		for (size_t k = 0; k < l; k++) {
			int c = p[i + k];
			if (!name_char(c))
				return false;
			out[o++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : (char)c;
		}
		i += l;
	}
	if (i >= size)
		return false;	/* no root label */
	out[o] = '\0';
	return true;
}

/* The name as given, made safe for a one-line message. */
static void
bad_name(struct status *st, const char *name)
{
	struct buf b = BUF_INIT;
	size_t i;

	for (i = 0; name[i] && i < 100; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			buf_printf(&b, "\\x%02x", c);
		else
			buf_putc(&b, c);
	}
	if (name[i])
		buf_puts(&b, "...");
	status_set(st, STATUS_PERM, "5.1.2", 0, "bad domain name syntax: \"%s\"", buf_cstr(&b));
	buf_clear(&b);
}

static void
temp_fail(struct status *st, const char *name, const char *type)
{
	status_set(st, STATUS_TEMP, "4.4.3", 0, "Host or domain name not found. "
	    "Name service error for name=%s type=%s: Host not found, try again", name, type);
}

/* ---- servers ---- */

static bool
parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;

	if (*s == '\0' || strlen(s) > 5 || strspn(s, "0123456789") != strlen(s))
		return false;
	v = strtoul(s, NULL, 10);
	if (v == 0 || v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

/* "a.b.c.d", "a.b.c.d:port", "v6addr", "[v6addr]", "[v6addr]:port". */
static ldns_rdf *
parse_server(const char *spec, uint16_t *port)
{
	char host[INET6_ADDRSTRLEN + 1];
	unsigned char raw[16];
	const char *colon = strchr(spec, ':'), *end;
	bool v6 = false;
	size_t hl;

	*port = 53;
	if (spec[0] == '[') {
		end = strchr(spec, ']');
		if (!end || (end[1] != '\0' && (end[1] != ':' || !parse_port(end + 2, port))))
			return NULL;
		hl = (size_t)(end - spec - 1);
		spec++;
		v6 = true;
	} else if (colon && strchr(colon + 1, ':') == NULL) {
		if (!parse_port(colon + 1, port))
			return NULL;
		hl = (size_t)(colon - spec);
	} else {
		hl = strlen(spec);
		v6 = colon != NULL;
	}
	if (hl == 0 || hl >= sizeof host)
		return NULL;
	memcpy(host, spec, hl);
	host[hl] = '\0';
	if (!v6 && inet_pton(AF_INET, host, raw) == 1)
		return ldns_rdf_new_frm_data(LDNS_RDF_TYPE_A, 4, raw);
	if (v6 && inet_pton(AF_INET6, host, raw) == 1)
		return ldns_rdf_new_frm_data(LDNS_RDF_TYPE_AAAA, 16, raw);
	return NULL;
}

static void
server_text(const ldns_rdf *addr, uint16_t port, char *out, size_t size)
{
	char a[INET6_ADDRSTRLEN];
	bool v6 = ldns_rdf_get_type(addr) == LDNS_RDF_TYPE_AAAA;

	inet_ntop(v6 ? AF_INET6 : AF_INET, ldns_rdf_data(addr), a, sizeof a);
	snprintf(out, size, v6 ? "[%s]:%u" : "%s:%u", a, (unsigned)port);
}

/* A resolver for one server: recursion desired, no search list, DO set
 * so a validating server reports AD, TCP after a truncated answer; the
 * timeout is set for each try. */
static void
server_add(struct dns_resolver *r, const ldns_rdf *addr, uint16_t port)
{
	struct dns_server *s = &r->v[r->n];
	ldns_resolver *lr = ldns_resolver_new();

	if (!lr || ldns_resolver_push_nameserver(lr, addr) != LDNS_STATUS_OK)
		panic("dns: cannot set up an ldns resolver");
	ldns_resolver_set_port(lr, port);
	ldns_resolver_set_recursive(lr, true);
	ldns_resolver_set_defnames(lr, false);
	ldns_resolver_set_dnsrch(lr, false);
	ldns_resolver_set_random(lr, false);
	ldns_resolver_set_fail(lr, false);
	ldns_resolver_set_retry(lr, 1);
	ldns_resolver_set_retrans(lr, 0);
	ldns_resolver_set_fallback(lr, true);
	ldns_resolver_set_usevc(lr, false);
	ldns_resolver_set_igntc(lr, false);
	ldns_resolver_set_dnssec(lr, true);
	ldns_resolver_set_dnssec_cd(lr, false);
	ldns_resolver_set_edns_udp_size(lr, DNS_EDNS_SIZE);
	s->lr = lr;
	server_text(addr, port, s->text, sizeof s->text);
	r->n++;
}

static bool
servers_from_conf(struct dns_resolver *r, conf_list list, struct status *st)
{
	for (size_t i = 0; list[i]; i++) {
		uint16_t port;
		ldns_rdf *addr;

		if (r->n == DNS_MAX_SERVERS) {
			log_debug("dns: dns_servers: only the first %d servers are used",
			    DNS_MAX_SERVERS);
			break;
		}
		if (!(addr = parse_server(list[i], &port))) {
			status_set(st, STATUS_TEMP, "4.3.5", 0, "dns_servers: bad server \"%s\" "
			    "(an IP address, with an optional :port; [v6]:port)", list[i]);
			return false;
		}
		server_add(r, addr, port);
		ldns_rdf_deep_free(addr);
	}
	return true;
}

static bool
servers_from_resolv_conf(struct dns_resolver *r, struct status *st)
{
	ldns_resolver *sys = NULL;
	ldns_status s = ldns_resolver_new_frm_file(&sys, NULL);

	if (s != LDNS_STATUS_OK) {
		status_set(st, STATUS_TEMP, "4.3.5", 0, "cannot read /etc/resolv.conf: %s",
		    ldns_get_errorstr_by_id(s));
		return false;
	}
	ldns_rdf **ns = ldns_resolver_nameservers(sys);
	for (size_t i = 0; i < ldns_resolver_nameserver_count(sys) && r->n < DNS_MAX_SERVERS; i++) {
		ldns_rdf_type t = ldns_rdf_get_type(ns[i]);
		if (t == LDNS_RDF_TYPE_A || t == LDNS_RDF_TYPE_AAAA)
			server_add(r, ns[i], ldns_resolver_port(sys));
	}
	ldns_resolver_deep_free(sys);
	return true;
}

struct dns_resolver *
dns_resolver_new(const struct conf *c, struct status *st)
{
	struct dns_resolver *r = xcalloc(1, sizeof *r);
	bool ok;

	r->v = xcalloc(DNS_MAX_SERVERS, sizeof *r->v);
	if (c->dns_servers[0])
		ok = servers_from_conf(r, c->dns_servers, st);
	else
		ok = servers_from_resolv_conf(r, st);
	if (ok && r->n == 0) {
		status_set(st, STATUS_TEMP, "4.3.5", 0, "no DNS server configured (%s)",
		    c->dns_servers[0] ? "dns_servers" : "/etc/resolv.conf");
		ok = false;
	}
	if (!ok)
		return dns_resolver_free(r);
	if (log_verbose() > 0) {
		struct buf b = BUF_INIT;
		for (size_t i = 0; i < r->n; i++)
			buf_printf(&b, "%s%s", i ? ", " : "", r->v[i].text);
		log_debug("dns: servers %s", buf_cstr(&b));
		buf_clear(&b);
	}
	return r;
}

struct dns_resolver *
dns_resolver_free(struct dns_resolver *r)
{
	if (!r)
		return NULL;
	for (size_t i = 0; i < r->n; i++)
		ldns_resolver_deep_free(r->v[i].lr);
	free(r->v);
	free(r);
	return NULL;
}

/* ---- asking ---- */

/* True when a is an answer to exactly the question (name, type, IN). */
static bool
answer_matches(const ldns_pkt *a, const char *name, ldns_rr_type type)
{
	const ldns_rr_list *q = ldns_pkt_question(a);
	char owner[DNS_NAME_MAX + 1];
	const ldns_rr *rr;

	if (!ldns_pkt_qr(a) || !q || ldns_rr_list_rr_count(q) != 1)
		return false;
	rr = ldns_rr_list_rr(q, 0);
	return ldns_rr_get_type(rr) == type && ldns_rr_get_class(rr) == LDNS_RR_CLASS_IN &&
	    dname_text(ldns_rr_owner(rr), owner) && strcmp(owner, name) == 0;
}

static const char *
type_name(ldns_rr_type type)
{
	return type == LDNS_RR_TYPE_MX ? "MX" : type == LDNS_RR_TYPE_AAAA ? "AAAA" : "A";
}

/* One try at one server.  ASKED_ANSWER with *answer for NOERROR or
 * NXDOMAIN; ASKED_ERROR for any other rcode (not worth asking that
 * server again); ASKED_TIMEOUT for no usable reply. */
static enum asked
ask_server(struct dns_server *s, const ldns_rdf *qname, const char *name,
    ldns_rr_type type, long long ms, ldns_pkt **answer)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000 * 1000) };
	ldns_pkt *q = NULL, *a = NULL;
	enum asked res = ASKED_TIMEOUT;
	ldns_status ls;

	ldns_resolver_set_timeout(s->lr, tv);
	/* ldns marks a server that failed once unreachable for good */
	ldns_resolver_set_nameserver_rtt(s->lr, 0, LDNS_RESOLV_RTT_MIN);
	ls = ldns_resolver_prepare_query_pkt(&q, s->lr, qname, type, LDNS_RR_CLASS_IN,
	    LDNS_RD | LDNS_AD);
	if (ls != LDNS_STATUS_OK)
		panic("dns: cannot build a query: %s", ldns_get_errorstr_by_id(ls));
	ldns_pkt_set_id(q, (uint16_t)arc4random_uniform(65536));
	ls = ldns_resolver_send_pkt(&a, s->lr, q);
	if (ls != LDNS_STATUS_OK || !a) {
		log_debug("dns: %s %s: %s: %s", type_name(type), name, s->text,
		    ls != LDNS_STATUS_OK ? ldns_get_errorstr_by_id(ls) : "no answer");
	} else if (ldns_pkt_id(a) != ldns_pkt_id(q) || !answer_matches(a, name, type)) {
		log_debug("dns: %s %s: %s: the answer does not match the question",
		    type_name(type), name, s->text);
	} else if (ldns_pkt_get_rcode(a) == LDNS_RCODE_NOERROR ||
	    ldns_pkt_get_rcode(a) == LDNS_RCODE_NXDOMAIN) {
		*answer = a;
		a = NULL;
		res = ASKED_ANSWER;
	} else {
		const ldns_lookup_table *rc = ldns_lookup_by_id(ldns_rcodes,
		    (int)ldns_pkt_get_rcode(a));
		log_debug("dns: %s %s: %s: %s", type_name(type), name, s->text,
		    rc ? rc->name : "bad rcode");
		res = ASKED_ERROR;
	}
	ldns_pkt_free(q);
	ldns_pkt_free(a);
	return res;
}

/* Asks the servers in turn, DNS_ROUNDS times, until one answers or the
 * deadline passes.  Each try gets an equal slice of the whole budget,
 * so that every server is asked even when the first ones are silent. */
static enum asked
ask(struct dns_resolver *r, const char *name, ldns_rr_type type, long long deadline,
    ldns_pkt **answer)
{
	long long slice = (long long)DNS_TIMEOUT * 1000 / (long long)(DNS_ROUNDS * r->n);
	bool refused[DNS_MAX_SERVERS] = { false };
	enum asked res = ASKED_TIMEOUT;
	char fqdn[DNS_NAME_MAX + 2];
	ldns_rdf *qname;

	snprintf(fqdn, sizeof fqdn, "%s.", name);
	if (!(qname = ldns_dname_new_frm_str(fqdn)))
		panic("dns: cannot convert %s", name);
	if (slice < 500)
		slice = 500;
	for (int round = 0; round < DNS_ROUNDS && res != ASKED_ANSWER; round++) {
		for (size_t i = 0; i < r->n && res != ASKED_ANSWER; i++) {
			long long left = deadline - now_ms();
			if (left < 10)
				goto out;
			if (refused[i])
				continue;
			enum asked got = ask_server(&r->v[i], qname, name, type,
			    left < slice ? left : slice, answer);
			if (got == ASKED_ERROR)
				refused[i] = true;
			if (got != ASKED_TIMEOUT)
				res = got;
		}
	}
out:
	ldns_rdf_deep_free(qname);
	return res;
}

/* ---- reading answers ---- */

static bool
rr_on(const ldns_rr *rr, ldns_rr_type type, const char *owner)
{
	char text[DNS_NAME_MAX + 1];

	return ldns_rr_get_type(rr) == type && ldns_rr_get_class(rr) == LDNS_RR_CLASS_IN &&
	    ldns_rr_rd_count(rr) >= 1 && dname_text(ldns_rr_owner(rr), text) &&
	    strcmp(text, owner) == 0;
}

/* Follows the CNAME chain from name through the answer section into
 * owner.  False for a loop, an overlong chain or a bad target. */
static bool
follow_chain(const ldns_pkt *p, const char *name, char owner[DNS_NAME_MAX + 1])
{
	const ldns_rr_list *an = ldns_pkt_answer(p);
	size_t count = an ? ldns_rr_list_rr_count(an) : 0;

	strcpy(owner, name);
	for (int hop = 0; hop <= DNS_CNAME_HOPS; hop++) {
		const ldns_rr *cname = NULL;
		for (size_t i = 0; i < count && !cname; i++)
			if (rr_on(ldns_rr_list_rr(an, i), LDNS_RR_TYPE_CNAME, owner))
				cname = ldns_rr_list_rr(an, i);
		if (!cname)
			return true;
		if (hop == DNS_CNAME_HOPS || !dname_text(ldns_rr_rdf(cname, 0), owner) ||
		    owner[0] == '\0') {
			log_debug("dns: %s: bad or overlong CNAME chain", name);
			return false;
		}
	}
	return true;
}

/* The rcode part shared by both kinds of answer. */
static bool
rcode_verdict(const ldns_pkt *p, enum verdict *v)
{
	switch (ldns_pkt_get_rcode(p)) {
	case LDNS_RCODE_NOERROR:
		return false;
	case LDNS_RCODE_NXDOMAIN:
		*v = V_NXDOMAIN;
		return true;
	default:
		*v = V_TEMP;
		return true;
	}
}

static bool
looks_numeric(const char *name)
{
	unsigned char raw[4];

	return inet_pton(AF_INET, name, raw) == 1;
}

static void
mx_add(struct mx_list *l, unsigned pref, const char *name)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xreallocarray(l->v, l->cap, sizeof *l->v);
	}
	l->v[l->n].h.pref = pref;
	l->v[l->n].h.name = xstrdup(name);
	l->v[l->n].key = 0;
	l->n++;
}

static void
mx_clear(struct mx_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].h.name);
	free(l->v);
	memset(l, 0, sizeof *l);
}

/* The MX records on qname (or the end of its CNAME chain) into l;
 * *chain gets the name to ask next for V_CHAIN. */
static enum verdict
classify_mx(const ldns_pkt *p, const char *qname, struct mx_list *l,
    char chain[DNS_NAME_MAX + 1])
{
	const ldns_rr_list *an = ldns_pkt_answer(p);
	size_t count = an ? ldns_rr_list_rr_count(an) : 0, records = 0, roots = 0;
	enum verdict v;

	if (rcode_verdict(p, &v))
		return v;
	if (!follow_chain(p, qname, chain))
		return V_TEMP;
	for (size_t i = 0; i < count; i++) {
		const ldns_rr *rr = ldns_rr_list_rr(an, i);
		char host[DNS_NAME_MAX + 1];
		const ldns_rdf *pref;

		if (!rr_on(rr, LDNS_RR_TYPE_MX, chain) || ldns_rr_rd_count(rr) != 2)
			continue;
		pref = ldns_rr_rdf(rr, 0);
		if (ldns_rdf_get_type(pref) != LDNS_RDF_TYPE_INT16 || ldns_rdf_size(pref) != 2)
			continue;
		records++;
		if (!dname_text(ldns_rr_rdf(rr, 1), host) || looks_numeric(host)) {
			log_debug("dns: MX %s: unusable host name in an MX record", qname);
			continue;
		}
		if (host[0] == '\0')
			roots++;
		else
			mx_add(l, ldns_rdf2native_int16(pref), host);
	}
	if (records == 0)
		return strcmp(chain, qname) != 0 ? V_CHAIN : V_NODATA;
	if (records == 1 && roots == 1)
		return V_NULLMX;
	return l->n > 0 ? V_DATA : V_TEMP;
}

static int
by_name(const void *a, const void *b)
{
	const struct mx_entry *x = a, *y = b;
	int c = strcmp(x->h.name, y->h.name);

	return c ? c : (x->h.pref > y->h.pref) - (x->h.pref < y->h.pref);
}

static int
by_pref(const void *a, const void *b)
{
	const struct mx_entry *x = a, *y = b;

	if (x->h.pref != y->h.pref)
		return x->h.pref < y->h.pref ? -1 : 1;
	return (x->key > y->key) - (x->key < y->key);
}

/* Drops duplicate names (keeping the lowest preference), orders by
 * preference with equal ones shuffled, keeps the first DNS_MAX_MX. */
static void
mx_order(struct mx_list *l)
{
	size_t keep = 0;

	qsort(l->v, l->n, sizeof *l->v, by_name);
	for (size_t i = 0; i < l->n; i++) {
		if (keep > 0 && strcmp(l->v[keep - 1].h.name, l->v[i].h.name) == 0) {
			free(l->v[i].h.name);
			continue;
		}
		l->v[keep] = l->v[i];
		l->v[keep++].key = arc4random();
	}
	l->n = keep;
	qsort(l->v, l->n, sizeof *l->v, by_pref);
	for (; l->n > DNS_MAX_MX; l->n--)
		free(l->v[l->n - 1].h.name);
}

static void
mx_trace(const char *domain, const struct mx_list *l, bool implicit)
{
	struct buf b = BUF_INIT;

	if (log_verbose() <= 0)
		return;
	for (size_t i = 0; i < l->n; i++)
		buf_printf(&b, "%s%u %s", i ? ", " : "", l->v[i].h.pref, l->v[i].h.name);
	log_debug("dns: MX %s: %s%s", domain, implicit ? "none, implicit MX " : "", buf_cstr(&b));
	buf_clear(&b);
}

/* Turns the final verdict into the outcome; l is handed over on true. */
static bool
mx_outcome(enum verdict v, const char *domain, struct mx_list *l, struct dns_host **hosts,
    size_t *n, struct status *st)
{
	switch (v) {
	case V_DATA:
		mx_order(l);
		mx_trace(domain, l, false);
		break;
	case V_NODATA:
		mx_clear(l);
		mx_add(l, 0, domain);
		mx_trace(domain, l, true);
		break;
	case V_NXDOMAIN:
		status_set(st, STATUS_PERM, "5.1.2", 0, "Host or domain name not found. "
		    "Name service error for name=%s type=MX: Host not found", domain);
		goto fail;
	case V_NULLMX:
		status_set(st, STATUS_PERM, "5.1.10", 0,
		    "Domain %s does not accept mail (nullMX)", domain);
		goto fail;
	case V_CHAIN:
	case V_TEMP:
		temp_fail(st, domain, "MX");
		goto fail;
	}
	*hosts = xcalloc(l->n, sizeof **hosts);
	for (size_t i = 0; i < l->n; i++)
		(*hosts)[i] = l->v[i].h;
	*n = l->n;
	free(l->v);
	memset(l, 0, sizeof *l);
	return true;
fail:
	log_debug("dns: MX %s: %s", domain, buf_cstr(&st->text));
	mx_clear(l);
	return false;
}

bool
dns_lookup_mx(struct dns_resolver *r, const char *domain, struct dns_host **hosts,
    size_t *n, bool *secure, struct status *st)
{
	char name[DNS_NAME_MAX + 1], qname[DNS_NAME_MAX + 1], chain[DNS_NAME_MAX + 1];
	long long deadline = now_ms() + (long long)DNS_TIMEOUT * 1000;
	struct mx_list l = { NULL, 0, 0 };
	enum verdict v = V_CHAIN;
	bool ad = true;

	*hosts = NULL;
	*n = 0;
	*secure = false;
	if (!name_normalize(domain, name)) {
		bad_name(st, domain);
		return false;
	}
	strcpy(qname, name);
	for (int q = 0; q < DNS_QUERIES && v == V_CHAIN; q++) {
		ldns_pkt *p = NULL;
		if (ask(r, qname, LDNS_RR_TYPE_MX, deadline, &p) != ASKED_ANSWER) {
			v = V_TEMP;
			break;
		}
		ad = ad && ldns_pkt_ad(p);
		v = classify_mx(p, qname, &l, chain);
		ldns_pkt_free(p);
		strcpy(qname, chain);
	}
	if (!mx_outcome(v, name, &l, hosts, n, st))
		return false;
	*secure = ad;
	return true;
}

void
dns_hosts_free(struct dns_host *hosts, size_t n)
{
	for (size_t i = 0; hosts && i < n; i++)
		free(hosts[i].name);
	free(hosts);
}

/* ---- addresses ---- */

static void
addr_add(struct addr_list *l, int family, const void *raw)
{
	struct dns_addr a;

	if (l->n == DNS_MAX_ADDRS)
		return;
	memset(&a, 0, sizeof a);
	if (family == AF_INET) {
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = 0 };
		memcpy(&sin.sin_addr, raw, 4);
		memcpy(&a.sa, &sin, sizeof sin);
		a.salen = sizeof sin;
	} else {
		struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = 0 };
		memcpy(&sin6.sin6_addr, raw, 16);
		memcpy(&a.sa, &sin6, sizeof sin6);
		a.salen = sizeof sin6;
	}
	inet_ntop(family, raw, a.text, sizeof a.text);
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].text, a.text) == 0)
			return;
	l->v[l->n++] = a;
}

static enum verdict
classify_addr(const ldns_pkt *p, const char *qname, int family, struct addr_list *l,
    char chain[DNS_NAME_MAX + 1])
{
	ldns_rr_type type = family == AF_INET ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA;
	ldns_rdf_type rtype = family == AF_INET ? LDNS_RDF_TYPE_A : LDNS_RDF_TYPE_AAAA;
	size_t size = family == AF_INET ? 4 : 16;
	const ldns_rr_list *an = ldns_pkt_answer(p);
	size_t count = an ? ldns_rr_list_rr_count(an) : 0;
	enum verdict v;

	if (rcode_verdict(p, &v))
		return v;
	if (!follow_chain(p, qname, chain))
		return V_TEMP;
	for (size_t i = 0; i < count; i++) {
		const ldns_rr *rr = ldns_rr_list_rr(an, i);
		const ldns_rdf *rd;

		if (!rr_on(rr, type, chain))
			continue;
		rd = ldns_rr_rdf(rr, 0);
		if (ldns_rdf_get_type(rd) == rtype && ldns_rdf_size(rd) == size)
			addr_add(l, family, ldns_rdf_data(rd));
	}
	if (l->n > 0)
		return V_DATA;
	return strcmp(chain, qname) != 0 ? V_CHAIN : V_NODATA;
}

/* One family's question, following a chain that leaves the answer. */
static enum verdict
lookup_family(struct dns_resolver *r, const char *name, int family, struct addr_list *l,
    bool *timed_out)
{
	ldns_rr_type type = family == AF_INET ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA;
	long long deadline = now_ms() + (long long)DNS_TIMEOUT * 1000;
	char qname[DNS_NAME_MAX + 1], chain[DNS_NAME_MAX + 1];
	enum verdict v = V_CHAIN;

	strcpy(qname, name);
	for (int q = 0; q < DNS_QUERIES && v == V_CHAIN; q++) {
		ldns_pkt *p = NULL;
		enum asked a = ask(r, qname, type, deadline, &p);
		if (a != ASKED_ANSWER) {
			*timed_out = a == ASKED_TIMEOUT;
			return V_TEMP;
		}
		v = classify_addr(p, qname, family, l, chain);
		ldns_pkt_free(p);
		strcpy(qname, chain);
	}
	return v == V_CHAIN ? V_TEMP : v;
}

/* The addresses /etc/hosts gives name, per family. */
static void
read_hosts(const char *name, struct addr_list *v4, struct addr_list *v6)
{
	FILE *f = fopen(DNS_HOSTS_PATH, "re");
	char *line = NULL, *save, *tok;
	size_t cap = 0;

	if (!f)
		return;
	while (getline(&line, &cap, f) >= 0) {
		unsigned char raw[16];
		int family;

		line[strcspn(line, "#\n")] = '\0';
		if (!(tok = strtok_r(line, " \t\r", &save)))
			continue;
		if (inet_pton(AF_INET, tok, raw) == 1)
			family = AF_INET;
		else if (inet_pton(AF_INET6, tok, raw) == 1)
			family = AF_INET6;
		else
			continue;
		while ((tok = strtok_r(NULL, " \t\r", &save))) {
			char alias[DNS_NAME_MAX + 1];
			if (name_normalize(tok, alias) && strcmp(alias, name) == 0) {
				addr_add(family == AF_INET ? v4 : v6, family, raw);
				break;
			}
		}
	}
	free(line);
	fclose(f);
}

/* first then second, giving the second family at least half the room
 * when both have more than fit. */
static void
addr_merge(const struct addr_list *first, const struct addr_list *second,
    struct dns_addr **addrs, size_t *n)
{
	size_t room2 = second->n < DNS_MAX_ADDRS / 2 ? second->n : DNS_MAX_ADDRS / 2;
	size_t n1 = first->n < DNS_MAX_ADDRS - room2 ? first->n : DNS_MAX_ADDRS - room2;
	size_t n2 = second->n < DNS_MAX_ADDRS - n1 ? second->n : DNS_MAX_ADDRS - n1;

	*n = n1 + n2;
	*addrs = xcalloc(*n, sizeof **addrs);
	memcpy(*addrs, first->v, n1 * sizeof **addrs);
	memcpy(*addrs + n1, second->v, n2 * sizeof **addrs);
}

static void
addr_trace(const char *host, const char *how, const struct dns_addr *a, size_t n)
{
	struct buf b = BUF_INIT;

	if (log_verbose() <= 0)
		return;
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, "%s%s", i ? ", " : "", a[i].text);
	log_debug("dns: address %s (%s): %s", host, how, buf_cstr(&b));
	buf_clear(&b);
}

static void
not_found(struct status *st, const char *host)
{
	status_set(st, STATUS_PERM, "5.4.4", 0, "Host or domain name not found. "
	    "Name service error for name=%s type=A: Host not found", host);
}

static bool
family_allowed(const struct conf *c, int family)
{
	return c->inet_protocols == INET_ALL ||
	    (c->inet_protocols == INET_IPV4) == (family == AF_INET);
}

/* An IP address written as text is its own answer. */
static bool
addr_literal(const struct conf *c, const char *host, struct dns_addr **addrs, size_t *n,
    struct status *st)
{
	struct addr_list l = { .n = 0 };
	unsigned char raw[16];
	int family = AF_INET;

	if (inet_pton(AF_INET, host, raw) != 1) {
		family = AF_INET6;
		inet_pton(AF_INET6, host, raw);
	}
	if (!family_allowed(c, family)) {
		not_found(st, host);
		return false;
	}
	addr_add(&l, family, raw);
	*addrs = xcalloc(1, sizeof **addrs);
	**addrs = l.v[0];
	*n = 1;
	return true;
}

bool
dns_lookup_addrs(struct dns_resolver *r, const struct conf *c, const char *host,
    struct dns_addr **addrs, size_t *n, struct status *st)
{
	/* v[0] is the preferred family */
	int fam[2] = { AF_INET6, AF_INET };
	struct addr_list *l = xcalloc(2, sizeof *l);
	enum verdict v[2] = { V_NODATA, V_NODATA };
	char name[DNS_NAME_MAX + 1];
	unsigned char raw[16];
	bool ok = false, timed_out = false;

	*addrs = NULL;
	*n = 0;
	if (inet_pton(AF_INET, host, raw) == 1 || inet_pton(AF_INET6, host, raw) == 1) {
		ok = addr_literal(c, host, addrs, n, st);
		goto out;
	}
	if (!name_normalize(host, name)) {
		bad_name(st, host);
		goto out;
	}
	if (c->smtp_address_preference == ADDRPREF_IPV4) {
		fam[0] = AF_INET;
		fam[1] = AF_INET6;
	}
	read_hosts(name, fam[0] == AF_INET ? &l[0] : &l[1], fam[0] == AF_INET ? &l[1] : &l[0]);
	for (int i = 0; i < 2; i++)
		if (!family_allowed(c, fam[i]))
			l[i].n = 0;
	if (l[0].n + l[1].n > 0) {
		addr_merge(&l[0], &l[1], addrs, n);
		addr_trace(name, "hosts", *addrs, *n);
		ok = true;
		goto out;
	}
	for (int i = 0; i < 2; i++) {
		if (!family_allowed(c, fam[i]))
			continue;
		v[i] = lookup_family(r, name, fam[i], &l[i], &timed_out);
		/* a missing name has no records of any type; a silent server
		 * would only spend a second budget */
		if (v[i] == V_NXDOMAIN || timed_out)
			break;
	}
	if (l[0].n + l[1].n > 0) {
		addr_merge(&l[0], &l[1], addrs, n);
		addr_trace(name, "dns", *addrs, *n);
		ok = true;
	} else if (v[0] == V_TEMP || v[1] == V_TEMP) {
		temp_fail(st, name, "A");
	} else {
		not_found(st, name);
	}
	if (!ok)
		log_debug("dns: address %s: %s", name, buf_cstr(&st->text));
out:
	free(l);
	return ok;
}

/* ---- test hooks ---- */

static ldns_pkt *
hook_packet(const unsigned char *wire, size_t len, const char *name, ldns_rr_type type)
{
	ldns_pkt *p = NULL;

	if (ldns_wire2pkt(&p, wire, len) != LDNS_STATUS_OK)
		return NULL;
	if (!answer_matches(p, name, type) || (ldns_pkt_get_rcode(p) != LDNS_RCODE_NOERROR &&
	    ldns_pkt_get_rcode(p) != LDNS_RCODE_NXDOMAIN)) {
		ldns_pkt_free(p);
		return NULL;
	}
	return p;
}

bool
dns_test_mx_answer(const unsigned char *wire, size_t len, const char *domain,
    struct dns_host **hosts, size_t *n, bool *secure, struct status *st)
{
	char name[DNS_NAME_MAX + 1], chain[DNS_NAME_MAX + 1];
	struct mx_list l = { NULL, 0, 0 };
	enum verdict v = V_TEMP;
	ldns_pkt *p;
	bool ok;

	*hosts = NULL;
	*n = 0;
	*secure = false;
	if (!name_normalize(domain, name)) {
		bad_name(st, domain);
		return false;
	}
	if ((p = hook_packet(wire, len, name, LDNS_RR_TYPE_MX))) {
		v = classify_mx(p, name, &l, chain);
		*secure = ldns_pkt_ad(p);
	}
	ldns_pkt_free(p);
	ok = mx_outcome(v, name, &l, hosts, n, st);
	*secure = ok && *secure;
	return ok;
}

bool
dns_test_addr_answer(const unsigned char *wire, size_t len, const char *host, int family,
    struct dns_addr **addrs, size_t *n, struct status *st)
{
	ldns_rr_type type = family == AF_INET ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA;
	char name[DNS_NAME_MAX + 1], chain[DNS_NAME_MAX + 1];
	struct addr_list *l = xcalloc(1, sizeof *l);
	enum verdict v = V_TEMP;
	ldns_pkt *p;
	bool ok = false;

	*addrs = NULL;
	*n = 0;
	if (!name_normalize(host, name)) {
		bad_name(st, host);
		goto out;
	}
	if ((p = hook_packet(wire, len, name, type))) {
		v = classify_addr(p, name, family, l, chain);
		ldns_pkt_free(p);
	}
	if (v == V_DATA) {
		*n = l->n;
		*addrs = xcalloc(*n, sizeof **addrs);
		memcpy(*addrs, l->v, *n * sizeof **addrs);
		ok = true;
	} else if (v == V_NXDOMAIN || v == V_NODATA) {
		not_found(st, name);
	} else {
		temp_fail(st, name, "A");
	}
out:
	free(l);
	return ok;
}
