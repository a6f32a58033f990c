/* table_int - the vtable behind table.h, shared by the table_TYPE modules.
 *
 * Not for users of tables: include table.h.  Each type embeds struct
 * table as its first member and fills in ops; table.c does the spec
 * parsing, key folding and dispatch, so a type's lookup receives the key
 * already folded when ops->fixed says it should be. */
#ifndef SATMAIL_TABLE_INT_H
#define SATMAIL_TABLE_INT_H
#include <stdint.h>

#include "table.h"
#include "table_source.h"

struct table_ops {
	const char *type;
	bool fixed;		/* fixed-string keys: fold unless TABLE_NOFOLD */
	/* value is empty on entry. */
	int (*lookup)(struct table *t, const char *key, struct buf *value,
	    struct status *st);
	/* NULL: no prefetching.  key is already folded. */
	void (*prefetch)(struct table *t, const char *key, int pass);
	/* NULL: the type cannot be listed. */
	int (*next)(struct table *t, bool first, struct buf *key,
	    struct buf *value, struct status *st);
	void (*free)(struct table *t);
};

struct table {
	const struct table_ops *ops;
	char *type;		/* resolved type, for messages */
	char *name;
	unsigned flags;		/* TABLE_* */
	struct buf fold;	/* scratch for the folded key */
};

/* Fills the generic part (copies type and name). */
void table_init_base(struct table *t, const struct table_ops *ops,
    const char *type, const char *name, unsigned flags);
/* Frees the generic part only. */
void table_clear_base(struct table *t);

/* Per-type constructors: NULL with st set on failure. */
struct table *table_cdb_open(const char *name, unsigned flags, struct status *st);
struct table *table_texthash_open(const char *name, struct table_source *src,
    unsigned flags, struct status *st);
struct table *table_inline_open(const char *name, unsigned flags, struct status *st);
struct table *table_static_open(const char *name, unsigned flags, struct status *st);
struct table *table_regexp_open(const char *name, struct table_source *src,
    unsigned flags, struct status *st);
struct table *table_pcre_open(const char *name, struct table_source *src,
    unsigned flags, struct status *st);

/* Pattern tables (regexp, pcre): one parser in table_regexp.c, one
 * engine per library.  Offsets are byte positions in the key; an unset
 * group is TABLE_PAT_UNSET. */
#define TABLE_PAT_UNSET	((size_t)-1)

struct table_pat_engine {
	const char *type;	/* "regexp", "pcre": in messages */
	unsigned default_opts;
	bool second_pattern;	/* "/a/!/b/ result" (regexp only) */
	/* Applies flag letter c to *opts: 1 = done, 0 = unknown letter,
	 * -1 = obsolete letter to ignore with a warning. */
	int (*flag)(unsigned *opts, char c);
	/* NULL with err set.  nosub: no group offsets will be asked for.
	 * *nsub: number of capture groups. */
	void *(*compile)(const char *re, unsigned opts, bool nosub, size_t *nsub,
	    struct buf *err);
	/* 1 = match, 0 = no match, -1 = error (err).  Fills ov[0..2*nov)
	 * with group start/end offsets. */
	int (*match)(void *re, const char *s, size_t len, size_t *ov, size_t nov,
	    struct buf *err);
	void (*free)(void *re);
};

struct table *table_pat_open(const struct table_pat_engine *e, const char *name,
    struct table_source *src, unsigned flags, struct status *st);

/* cdb building (table_cdb.c), behind table_build_*. */
struct table_builder *table_cdb_build_start(const char *path, unsigned flags,
    mode_t mode, struct status *st);

/* A string map that keeps insertion order (texthash, inline). */
struct table_memmap {
	char **keys;
	char **values;
	size_t n, cap;
	uint32_t *slots;	/* index + 1; 0 = empty */
	size_t nslots;		/* power of two */
};

void table_memmap_init(struct table_memmap *m);
void table_memmap_clear(struct table_memmap *m);
/* The index of key, or -1. */
long table_memmap_find(const struct table_memmap *m, const char *key);
/* Adds or, with replace, overwrites; returns false when key was already
 * there (and, without replace, nothing changed). */
bool table_memmap_put(struct table_memmap *m, const char *key, const char *value,
    bool replace);

#endif
