/* router - recipient classification and the transport registry (see
 * router.h). */
#include "router.h"

#include <ctype.h>
#include <string.h>

#define ROUTER_MAX_TRANSPORTS 8

static const struct transport *transports[ROUTER_MAX_TRANSPORTS];

void
route_init(struct route *r)
{
	r->kind = ROUTE_ERROR;
	r->transport = NULL;
	buf_init(&r->nexthop);
	buf_init(&r->extension);
	status_init(&r->error);
}

void
route_clear(struct route *r)
{
	buf_clear(&r->nexthop);
	buf_clear(&r->extension);
	status_clear(&r->error);
	route_init(r);
}

void
router_route(const struct conf *c, const char *addr, struct route *r)
{
	/* The domain follows the last '@' (a quoted local part may hold one). */
	const char *at = strrchr(addr, '@');
	const char *domain = at ? at + 1 : NULL;
	size_t local_len = at ? (size_t)(at - addr) : strlen(addr);

	buf_reset(&r->nexthop);
	buf_reset(&r->extension);
	if (local_len == 0) {
		r->kind = ROUTE_ERROR;
		status_set(&r->error, STATUS_PERM, "5.1.3", 0, "<%s>: empty local part", addr);
		return;
	}
	if (domain == NULL || conf_is_local_domain(c, domain)) {
		r->kind = ROUTE_LOCAL;
		r->transport = "local";
		/* Mailbox names are lower case; "user+ext" delivers to user. */
		const char *delim = c->recipient_delimiter;
		size_t user_len = local_len;
		if (delim && *delim) {
			for (size_t i = 0; i < local_len; i++) {
				if (strchr(delim, addr[i]) && i > 0) {
					user_len = i;
					buf_append(&r->extension, addr + i + 1, local_len - i - 1);
					break;
				}
			}
		}
		for (size_t i = 0; i < user_len; i++)
			buf_putc(&r->nexthop, tolower((unsigned char)addr[i]));
		return;
	}
	r->transport = "smtp";
	if (c->relayhost && *c->relayhost) {
		r->kind = ROUTE_RELAY;
		buf_puts(&r->nexthop, c->relayhost);
	} else {
		r->kind = ROUTE_MX;
		for (const char *p = domain; *p; p++)
			buf_putc(&r->nexthop, tolower((unsigned char)*p));
	}
}

bool
router_register(const struct transport *t)
{
	for (size_t i = 0; i < ROUTER_MAX_TRANSPORTS; i++) {
		if (transports[i] && strcmp(transports[i]->name, t->name) == 0)
			return false;
		if (transports[i] == NULL) {
			transports[i] = t;
			return true;
		}
	}
	return false;
}

const struct transport *
router_transport(const char *name)
{
	for (size_t i = 0; i < ROUTER_MAX_TRANSPORTS && transports[i]; i++)
		if (strcmp(transports[i]->name, name) == 0)
			return transports[i];
	return NULL;
}

void
router_finish(void)
{
	for (size_t i = 0; i < ROUTER_MAX_TRANSPORTS && transports[i]; i++)
		if (transports[i]->finish)
			transports[i]->finish();
}
