/* addr - parse, validate and quote mail addresses.
 *
 * RFC 5322 address lists as they appear in header fields (display names,
 * comments, quoted local parts, groups, folded lines, the common obsolete
 * forms), RFC 5321 paths, and RFC 6531 UTF-8 addresses.  Every string a
 * caller gets back is validated: no control characters, no NUL, bounded
 * length (ADDR_MAX_LOCAL / ADDR_MAX_DOMAIN / ADDR_MAX_ADDRESS).
 *
 * The canonical text form of an address, used in the envelope, the queue
 * and the logs, is "local@domain" (or "local" when there is no domain, or
 * "" for the null sender), with the local part quoted only when RFC 5321
 * requires it (e.g. "\"john doe\"@example.org"). */
#ifndef SATMAIL_ADDR_H
#define SATMAIL_ADDR_H
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define ADDR_MAX_LOCAL		64
#define ADDR_MAX_DOMAIN		255
#define ADDR_MAX_ADDRESS	320	/* local + "@" + domain, canonical form */
#define ADDR_MAX_LIST		1000	/* addresses in one list */

struct addr {
	char *local;	/* canonical local part (quoted when needed); "" = null sender */
	char *domain;	/* domain as written (case kept) or address literal; NULL = none */
	char *display;	/* display name, unquoted, comments dropped, white space
			 * collapsed; for a bare addr-spec the text of the
			 * comments after it ("a@x (Alice)" gives "Alice"), as
			 * Postfix takes it for the full name; NULL = none */
	size_t start;	/* offsets into the parsed text of this mailbox's addr-spec: */
	size_t end;	/*   text[start..end) is what a rewriter replaces (without
			 * the angle brackets; an obs-route is included, so a
			 * rewrite drops it); start == end for the null address */
	bool angle;	/* the addr-spec was written inside <...> */
};

struct addr_list {
	struct addr *v;
	size_t n;
	size_t cap;
};

void addr_list_init(struct addr_list *l);
void addr_list_clear(struct addr_list *l);

/* Parses a header field body (the part after "Name:"), which may still
 * contain folding (CRLF or LF followed by white space; one line end at the
 * very end is allowed too).  Groups are flattened into their members; an
 * empty group ("undisclosed-recipients:;") yields nothing, as do empty
 * list elements; a nested group is an error.  Obsolete forms accepted:
 * obs-route (dropped), CFWS around the dots of local parts and domains,
 * unquoted "." and "@" in display names.  A bare word ("root") is a
 * domainless address.  Appends to out, at most ADDR_MAX_LIST addresses
 * per call.  Returns true on success; on a syntax error returns false,
 * leaves out as it was and replaces the contents of why (which may be
 * NULL) with a one-line reason, "WHAT at offset N" (e.g. "unbalanced '<'
 * at offset 12"); the reason never echoes input bytes.  Refused anywhere:
 * NUL, control characters (C0 but folding white space, DEL, and the C1
 * controls U+0080..U+009F), malformed UTF-8 (overlong, surrogate, beyond
 * U+10FFFF, truncated), "<>". */
bool addr_parse_list(const char *text, size_t len, struct addr_list *out,
    struct buf *why);

/* Parses a command-line recipient or -f/-r argument the way Postfix's
 * tokenizer does: "Name <a@x>" gives a@x, "a@x, b@y" gives two addresses,
 * "<>" and "" give one null address (local "", domain NULL), "user" gives
 * a domainless address.  Unlike a header: no line breaks, no groups, "<>"
 * must stand alone, and an argument that holds no address (" ", ",") is
 * an error, so success always gives at least one address.  A NULL arg is
 * taken as "".  Same return convention as addr_parse_list. */
bool addr_parse_arg(const char *arg, struct addr_list *out, struct buf *why);

/* Parses exactly one address in canonical or RFC 5321 path form
 * ("a@x", "<a@x>", "\"a b\"@x", "<>", "" (null), "root" (domainless),
 * "<@r:a@x>" (route dropped)).  No white space, comments, display names,
 * groups or RFC 5322 obsolete forms.  Used to re-validate addresses read
 * back from the queue or a helper.  Returns true and fills a (caller
 * clears it with addr_clear) or false with why, a left empty (all NULL). */
bool addr_parse_canonical(const char *s, struct addr *a, struct buf *why);

void addr_clear(struct addr *a);

/* Appends the canonical form of a to out. */
void addr_format(const struct addr *a, struct buf *out);

/* True when the domain is a valid RFC 5321 domain (LDH labels, or UTF-8
 * labels per RFC 6531) or address literal ("[192.0.2.1]", "[IPv6:...]").
 * Labels are 1..63 octets of letters, digits, '-' (not first or last) and
 * strict UTF-8 (no C1 controls); no underscore; at most ADDR_MAX_DOMAIN
 * octets in all; no trailing dot.  NULL is not valid. */
bool addr_valid_domain(const char *domain);

/* True when the address needs SMTPUTF8 (non-ASCII in local or domain). */
bool addr_is_utf8(const struct addr *a);

#endif
