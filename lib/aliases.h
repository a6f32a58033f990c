/* aliases - the aliases(5) source format and alias targets.
 *
 * Source: logical lines as every Postfix table source (table_source.h);
 * an entry is "name: target, target, ...".  The name is everything before
 * the first ':' outside double quotes ("weird name": x), white space
 * trimmed, folded to lower case; a name holding '@' or '%' is an error
 * (names are local).  The value is split into targets at commas outside
 * double quotes; each target is one of
 *   user, user@domain          an address (re-resolved)
 *   /path                      append to a file (mbox)
 *   |command                   pipe to a command ("|cmd arg" quoted)
 *   :include:/path             more targets from that file
 * Unlike Postfix, which skips a malformed line with a warning, a
 * malformed line is an error naming file and line: newaliases then exits
 * non-zero and keeps the old table (issue 3). */
#ifndef SATMAIL_ALIASES_H
#define SATMAIL_ALIASES_H
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "status.h"

#define ALIASES_MAX_TARGETS	100000	/* targets in one value */

enum alias_target_kind { ALIAS_ADDRESS, ALIAS_FILE, ALIAS_COMMAND, ALIAS_INCLUDE };

struct alias_target {
	enum alias_target_kind kind;
	char *text;		/* unquoted: "bob@x", "/var/log/m", "/bin/prog arg", "/etc/list" */
};

struct alias_targets {
	struct alias_target *v;
	size_t n, cap;
};

void alias_targets_init(struct alias_targets *t);
void alias_targets_clear(struct alias_targets *t);

/* Splits an alias value into targets (appended to out).  false with why
 * on an unbalanced quote, an empty element, or a bad target. */
bool aliases_split(const char *value, struct alias_targets *out, struct buf *why);

/* Normalises a value the way postalias stores it: targets joined by
 * ", ", each as written (quotes kept). */
bool aliases_normalise(const char *value, struct buf *out, struct buf *why);

/* Reads every entry of an aliases source file; calls fn(ctx, name,
 * normalised value, line) for each (fn returns false to stop with st set).
 * Returns false with st (naming file and line) on a malformed entry or a
 * read error. */
bool aliases_read(const char *path,
    bool (*fn)(void *ctx, const char *name, const char *value, int line, struct status *st),
    void *ctx, struct status *st);



struct conf;
/* newaliases for one alias_database entry ("cdb:/etc/aliases"): reads the
 * source (the name without its type), builds the table into a temporary
 * file with postalias's extra "@" -> "@" record, and renames it into
 * place.  *entries counts the aliases.  On any error returns false with
 * st (naming file and line) and the old table stays as it was. */
bool aliases_build(const char *spec, const struct conf *c, size_t *entries,
    struct status *st);

/* True when every alias_maps table (its file and, for built types, its
 * source) is owned by root and writable by no one else: only then may the
 * tables vouch for file and command targets (SECURITY.md B-16).  why
 * names the first table that fails. */
bool aliases_tables_trusted(const struct conf *c, struct buf *why);
#endif
