/* router - where each recipient goes: the seam between the queue and the
 * transports.
 *
 * router_route() classifies one recipient by the configuration alone (no
 * DNS): a domain in mydestination (or no domain) is local; anything else
 * goes by SMTP to relayhost when set, else to the domain's MX hosts.  The
 * queue's delivery step groups recipients by (transport, nexthop) and
 * hands each group to the transport registered under that name
 * (router_transport); a transport reports one status per recipient.  Local
 * delivery (satmail-local) and SMTP register themselves here when they
 * exist; a route whose transport is not registered leaves its recipients
 * queued. */
#ifndef SATMAIL_ROUTER_H
#define SATMAIL_ROUTER_H
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "conf.h"
#include "envelope.h"
#include "status.h"

enum route_kind { ROUTE_LOCAL, ROUTE_RELAY, ROUTE_MX, ROUTE_ERROR };

struct route {
	enum route_kind kind;
	const char *transport;	/* "local" or "smtp"; NULL for ROUTE_ERROR */
	struct buf nexthop;	/* local: the user name (lower case, extension
				 * removed); relay: relayhost; mx: the domain */
	struct buf extension;	/* local: the address extension, if any */
	struct status error;	/* ROUTE_ERROR: why (PERM) */
};

void route_init(struct route *r);
void route_clear(struct route *r);

/* Routes one canonical recipient address. */
void router_route(const struct conf *c, const char *addr, struct route *r);

/* A transport delivers one message to a group of recipients that share a
 * nexthop.  It sets results[i] for rcpts[i]: OK (delivered), TEMP (stays
 * queued, text = reason shown by mailq) or PERM (bounces), and relay to
 * what the log lines show after "relay=" ("local", "host[addr]:port",
 * "none"). */
struct transport {
	const char *name;
	void (*deliver)(const struct conf *c, const struct envelope *e, int msg_fd,
	    long long msg_offset, const char *nexthop, struct rcpt **rcpts,
	    size_t n, struct status *results, struct buf *relay);
	/* Optional: ends what the transport kept open across deliveries
	 * (a worker, a cached connection); called by router_finish(). */
	void (*finish)(void);
};

/* Registers a transport (static lifetime); false when the table is full
 * or the name is taken. */
bool router_register(const struct transport *t);
/* The transport of that name, or NULL when none is registered. */
const struct transport *router_transport(const char *name);
/* Calls every registered transport's finish(): the end of a queue run. */
void router_finish(void);

#endif
