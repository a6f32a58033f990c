/* rewrite - canonical address rewriting and alias expansion, as Postfix's
 * cleanup(8) and local(8) do them (POSTFIX-NOTES.md sections 1.2 and 2).
 *
 * Canonical: sender addresses go through sender_canonical_maps then
 * canonical_maps, recipient addresses through recipient_canonical_maps
 * then canonical_maps.  For "user+ext@domain" each of the keys
 *   user+ext@domain, user@domain, user+ext, user, @domain
 * is tried against every table of the list before the next key (the
 * bare-user keys only when domain is $myorigin or in $mydestination; the
 * extension keys only with recipient_delimiter; regexp and pcre tables see
 * only the whole address).  A result "@other" keeps the local part; a
 * result without '@' gets "@$myorigin"; an extension that the matching
 * key lacked is put back; the first of several comma-separated results is
 * used.  A list is applied again until the result stops changing, at most
 * 10 rounds.
 *
 * Aliases: a recipient whose domain is in mydestination is looked up in
 * alias_maps by its lower-cased local part ("user+ext", then "user").
 * Targets expand recursively (an alias naming itself means the user's
 * mailbox; a cycle is a permanent "alias loop" error); :include: files add
 * targets; file and command targets are kept only where
 * allow_mail_to_files / allow_mail_to_commands allow the class ("alias"
 * or "include"); duplicates are removed; when "owner-NAME" exists, the
 * recipients expanded from NAME carry owner-NAME@$myorigin as the sender
 * for errors.
 *
 * A table that cannot be opened or read makes the call TEMP; an invalid
 * result (empty, not an address, CR/LF) is PERM. */
#ifndef SATMAIL_REWRITE_H
#define SATMAIL_REWRITE_H
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "conf.h"
#include "envelope.h"
#include "status.h"

#define REWRITE_MAX_ROUNDS	10	/* canonical map nesting */
#define REWRITE_MAX_DEPTH	100	/* alias expansion depth */
#define REWRITE_MAX_EXPANSION	10000	/* recipients from one address */

enum rewrite_class { REWRITE_SENDER, REWRITE_RECIPIENT };

struct rewrite;

/* Tables are opened on first use. */
struct rewrite *rewrite_new(const struct conf *c);
struct rewrite *rewrite_free(struct rewrite *rw);

/* Rewrites one canonical address (not the null sender) into out.
 * Returns false with st set (TEMP or PERM). */
bool rewrite_canonical(struct rewrite *rw, enum rewrite_class cls, const char *addr,
    struct buf *out, struct status *st);

/* Rewrites the addresses of one header field body in place of each
 * addr-spec, keeping display names, comments and folding; domainless
 * addresses get @$myorigin.  A field that does not parse is returned
 * unchanged.  new_text receives the whole new field ("Name:" included),
 * or stays empty when nothing changed. */
bool rewrite_header(struct rewrite *rw, enum rewrite_class cls, const char *field,
    size_t name_len, size_t len, struct buf *new_text, struct status *st);

/* One step of an explanation for -bv. */
struct rewrite_trace {
	void (*note)(void *ctx, int depth, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
	void *ctx;
};

/* Expands one recipient (after canonical rewriting) into final
 * recipients appended to env (with orig set to orig_addr and notify as
 * given).  Non-local recipients are added as they are.  trace may be
 * NULL.  Returns false with st set. */
bool rewrite_expand(struct rewrite *rw, const char *addr, const char *orig_addr,
    unsigned notify, struct envelope *env, const struct rewrite_trace *trace,
    struct status *st);

/* True when the (lower-cased) local part names an alias: for
 * satmail-queue's check of file and command recipients.  value receives
 * the alias value. */
int rewrite_alias_lookup(struct rewrite *rw, const char *name, struct buf *value,
    struct status *st);

#endif
