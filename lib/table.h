/* table - "type:name" lookup tables behind a small vtable.
 *
 * Every user of a lookup table (postmap, newaliases, canonical maps,
 * aliases, SASL password maps) goes through this interface.  Types:
 *
 *   cdb:NAME        NAME.cdb, read with tinycdb; byte-compatible with
 *                   Postfix's cdb: files in both directions
 *   hash:, btree:   read as default_database_type (cdb unless main.cf
 *                   names another supported type); NAME.cdb as above
 *   texthash:FILE   a postmap(1) source file read into memory
 *   regexp:FILE     POSIX extended regular expressions, Postfix syntax
 *   pcre:FILE       PCRE2, Postfix syntax
 *   inline:{ key=value, { key = value with spaces }, ... }
 *   static:VALUE    every key maps to VALUE (static:{ a b } keeps spaces)
 *   fail:NAME       every lookup fails (for tests of the TEMP paths)
 *
 * A spec without "type:" means default_database_type.
 *
 * Key folding is Postfix's: the fixed-string types (cdb, texthash,
 * inline) fold the key to lower case (table_fold(): ASCII, and Unicode
 * case folding for UTF-8 keys) when building and when looking up, unless
 * TABLE_NOFOLD.  regexp and pcre never fold: their patterns
 * match case-insensitively unless a rule carries the "i" flag.
 *
 * Outcomes: lookups return TABLE_FOUND, TABLE_NOTFOUND or TABLE_ERROR.
 * On TABLE_ERROR (and when an open returns NULL) st is set to TEMP 4.3.0
 * with a one-line reason that names the table, and the file and line for
 * a source syntax error.  A table that cannot be opened or read is a
 * temporary failure: the caller defers what it was doing.  Warnings that
 * do not stop the table (duplicate keys, Postfix's "expected format"
 * lines that it skips) are logged with log_warning().
 *
 * Lookup results are trusted only as far as the table file is: values
 * are returned as bytes up to the first NUL, never interpreted here. */
#ifndef SATMAIL_TABLE_H
#define SATMAIL_TABLE_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "status.h"

struct conf;

/* Lookup and iteration results. */
enum {
	TABLE_ERROR = -1,
	TABLE_NOTFOUND = 0,
	TABLE_FOUND = 1,
};

/* table_build_add() results (or TABLE_ERROR). */
enum {
	TABLE_ADDED = 0,
	TABLE_DUPLICATE = 2,	/* key already present; entry dropped */
};

/* Open and build flags; the postmap option each one implements. */
#define TABLE_NOFOLD		0x01	/* -f: keep the case of keys */
#define TABLE_NUL		0x02	/* -N: keys and values end in a NUL byte */
#define TABLE_NONUL		0x04	/* -n: never a trailing NUL (cdb default) */
#define TABLE_DUP_IGNORE	0x08	/* -w: duplicate keys: no warning */
#define TABLE_DUP_REPLACE	0x10	/* -r: duplicate keys: the last one wins */

/* The default when main.cf does not set default_database_type. */
#define TABLE_DEFAULT_TYPE	"cdb"

struct table;
struct table_builder;

/* Opens spec ("type:name"); c supplies default_database_type and may be
 * NULL.  Returns NULL with st set (TEMP) when the table cannot be used:
 * unknown type, missing or unreadable file, source syntax error. */
struct table *table_open(const char *spec, const struct conf *c, struct status *st);
/* The same with TABLE_* flags (postmap's -f -n -N -r -w). */
struct table *table_open_flags(const char *spec, const struct conf *c,
    unsigned flags, struct status *st);
/* Opens a source-backed type (texthash, regexp, pcre) from text in
 * memory instead of a file; name is used in messages only.  text need
 * not be NUL-terminated and is not kept.  For tests and fuzzing. */
struct table *table_open_text(const char *type, const char *name,
    const char *text, size_t len, unsigned flags, struct status *st);
/* Accepts NULL; returns NULL. */
struct table *table_free(struct table *t);

/* Looks key up.  TABLE_FOUND: value holds the result (replaced, not
 * appended).  TABLE_NOTFOUND: value is empty.  TABLE_ERROR: st is set
 * (TEMP).  The table is not changed in a way other users could see, but
 * one table must not be used by two threads at once. */
int table_lookup(struct table *t, const char *key, struct buf *value,
    struct status *st);

/* A hint for batch lookups (postmap -q -): key will be looked up soon.
 * Call it with pass 0 for a handful of keys, then with pass 1 for the
 * same keys, then look them up: a type whose data sits in memory-mapped
 * files (cdb) starts fetching the index slot (pass 0) and then the
 * record (pass 1), so that the cache misses of many keys overlap.  Has
 * no effect on results and may do nothing at all. */
void table_prefetch(struct table *t, const char *key, int pass);

/* Iterates over every entry in table order (postmap -s): first = true
 * restarts.  TABLE_FOUND with key and value set, TABLE_NOTFOUND at the
 * end, TABLE_ERROR when the type cannot be listed (regexp, pcre, static,
 * fail) or on a read error. */
int table_next(struct table *t, bool first, struct buf *key,
    struct buf *value, struct status *st);

/* The resolved type ("cdb" for hash:) and the name as given. */
const char *table_type(const struct table *t);
const char *table_name(const struct table *t);

/* Splits spec into its resolved type and name (no I/O).  Returns false
 * with st set for an unknown or unsupported type. */
bool table_spec(const char *spec, const struct conf *c, struct buf *type,
    struct buf *name, struct status *st);

/* True when the (resolved) type is a file that postmap builds (cdb). */
bool table_type_buildable(const char *type);

/* The file a buildable spec is stored in ("NAME.cdb").  Returns false
 * with st set when the type cannot be built. */
bool table_file(const char *spec, const struct conf *c, struct buf *path,
    struct status *st);

/* Building.  table_build_start() creates "FILE.tmp" beside the table
 * file (locked, so two builders wait for each other) with permission
 * bits mode.  Nothing is visible to readers until table_build_commit(),
 * which fsyncs the new file, renames it over the table file and fsyncs
 * the directory.  Freeing an uncommitted builder removes the temporary
 * file: the old table stays as it was.  flags: TABLE_NOFOLD, TABLE_NUL,
 * TABLE_NONUL (default for cdb: no NUL, as Postfix), TABLE_DUP_*. */
struct table_builder *table_build_start(const char *spec, const struct conf *c,
    unsigned flags, mode_t mode, struct status *st);
/* Adds one entry; the key is folded unless TABLE_NOFOLD.  Duplicates
 * follow Postfix: by default the first entry stays and TABLE_DUPLICATE
 * is returned (the caller warns "duplicate entry", naming file and
 * line); TABLE_DUP_REPLACE: the new entry replaces the old one;
 * TABLE_DUP_IGNORE: both are stored and lookups see the first (as
 * Postfix's cdb writer does with -w).  TABLE_ADDED otherwise.
 * TABLE_ERROR with st set on a write error. */
int table_build_add(struct table_builder *b, const char *key, const char *value,
    struct status *st);
/* Copies the entries of the table file as it is now into b, leaving out
 * every entry whose key (folded unless TABLE_NOFOLD) is in del[0..ndel).
 * A missing table file is an empty table.  When neither TABLE_NUL nor
 * TABLE_NONUL was given, the NUL convention of the existing file is kept
 * for entries added later, and the new file gets the permission bits
 * (and, for root, the owner) of the old one.  *ndeleted counts the
 * entries left out.  This
 * is how postmap -i and -d change a cdb, which cannot be changed in
 * place. */
int table_build_copy(struct table_builder *b, const char *const *del, size_t ndel,
    size_t *ndeleted, struct status *st);
/* The file being replaced ("NAME.cdb") and the temporary one. */
const char *table_build_path(const struct table_builder *b);
const char *table_build_tmp_path(const struct table_builder *b);
/* Makes the new table visible.  Returns false with st set; the builder
 * must still be freed either way. */
bool table_build_commit(struct table_builder *b, struct status *st);
/* Accepts NULL; returns NULL.  Removes the temporary file unless
 * committed. */
struct table_builder *table_build_free(struct table_builder *b);

/* Sets out to key folded as Postfix folds the keys of fixed-string
 * tables with smtputf8_enable = yes: ASCII lower case, and for a key that
 * is valid UTF-8 and not all ASCII, Unicode full case folding ("Straße"
 * -> "strasse"; see table_fold.c for the few characters it leaves out). */
void table_fold(struct buf *out, const char *key);

#endif
