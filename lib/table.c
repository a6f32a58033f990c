/* table - spec parsing, key folding and dispatch to the table types.
 *
 * "type:name" is split at the first colon (inline:{a=b:c} keeps its
 * colons).  hash: and btree: are Berkeley DB types in Postfix; satmail
 * has no Berkeley DB, so they mean default_database_type, and when that
 * itself says hash or btree (a Postfix main.cf), cdb.  The fail: type
 * lives here because it is three lines. */
#include "table.h"

#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "table_int.h"
#include "xalloc.h"

void
table_init_base(struct table *t, const struct table_ops *ops, const char *type,
    const char *name, unsigned flags)
{
	t->ops = ops;
	t->type = xstrdup(type);
	t->name = xstrdup(name);
	t->flags = flags;
	buf_init(&t->fold);
}

void
table_clear_base(struct table *t)
{
	free(t->type);
	free(t->name);
	buf_clear(&t->fold);
}

static const char *
default_type(const struct conf *c)
{
	const char *d = c && c->default_database_type && *c->default_database_type ?
	    c->default_database_type : TABLE_DEFAULT_TYPE;
	/* A Postfix main.cf says hash: satmail's stand-in is cdb. */
	if (strcmp(d, "hash") == 0 || strcmp(d, "btree") == 0)
		return TABLE_DEFAULT_TYPE;
	return d;
}

static const char *const known_types[] = {
	"cdb", "texthash", "regexp", "pcre", "inline", "static", "fail", NULL,
};

bool
table_spec(const char *spec, const struct conf *c, struct buf *type,
    struct buf *name, struct status *st)
{
	const char *colon = strchr(spec, ':');
	buf_reset(type);
	buf_reset(name);
	if (colon == NULL) {
		buf_puts(type, default_type(c));
		buf_puts(name, spec);
	} else {
		buf_append(type, spec, (size_t)(colon - spec));
		buf_puts(name, colon + 1);
		if (strcmp(type->data, "hash") == 0 || strcmp(type->data, "btree") == 0)
			buf_set(type, default_type(c));
	}
	if (type->len == 0 || name->len == 0) {
		status_set(st, STATUS_TEMP, "4.3.0", 0, "open dictionary: expecting "
		    "\"type:name\" form instead of \"%s\"", spec);
		return false;
	}
	for (const char *const *k = known_types; *k; k++)
		if (strcmp(buf_cstr(type), *k) == 0)
			return true;
	status_set(st, STATUS_TEMP, "4.3.0", 0, "unsupported dictionary type: %s",
	    buf_cstr(type));
	return false;
}

bool
table_type_buildable(const char *type)
{
	return strcmp(type, "cdb") == 0;
}

bool
table_file(const char *spec, const struct conf *c, struct buf *path,
    struct status *st)
{
	struct buf type = BUF_INIT, name = BUF_INIT;
	bool ok = false;

	if (!table_spec(spec, c, &type, &name, st))
		goto out;
	if (!table_type_buildable(type.data)) {
		status_set(st, STATUS_TEMP, "4.3.0", 0, "unsupported dictionary type: "
		    "%s does not support bulk-mode creation", type.data);
		goto out;
	}
	buf_set(path, name.data);
	buf_puts(path, ".cdb");
	ok = true;
out:
	buf_clear(&type);
	buf_clear(&name);
	return ok;
}

/* fail: every lookup is a temporary failure. */
static int
fail_lookup(struct table *t, const char *key, struct buf *value, struct status *st)
{
	(void)key;
	(void)value;
	status_set(st, STATUS_TEMP, "4.3.0", 0, "table fail:%s: Application error",
	    t->name);
	return TABLE_ERROR;
}

static void
fail_free(struct table *t)
{
	table_clear_base(t);
	free(t);
}

static const struct table_ops fail_ops = {
	.type = "fail", .fixed = false, .lookup = fail_lookup, .next = NULL,
	.free = fail_free,
};

static struct table *
open_by_type(const char *type, const char *name, unsigned flags, struct status *st)
{
	struct table_source *src = NULL;
	struct table *t = NULL;

	if (strcmp(type, "cdb") == 0) {
		t = table_cdb_open(name, flags, st);
	} else if (strcmp(type, "inline") == 0) {
		t = table_inline_open(name, flags, st);
	} else if (strcmp(type, "static") == 0) {
		t = table_static_open(name, flags, st);
	} else if (strcmp(type, "fail") == 0) {
		t = xcalloc(1, sizeof *t);
		table_init_base(t, &fail_ops, "fail", name, flags);
	} else {
		if ((src = table_source_open(name, st)) == NULL)
			goto out;
		if (strcmp(type, "texthash") == 0)
			t = table_texthash_open(name, src, flags, st);
		else if (strcmp(type, "regexp") == 0)
			t = table_regexp_open(name, src, flags, st);
		else
			t = table_pcre_open(name, src, flags, st);
	}
out:
	table_source_free(src);
	return t;
}

struct table *
table_open_flags(const char *spec, const struct conf *c, unsigned flags,
    struct status *st)
{
	struct buf type = BUF_INIT, name = BUF_INIT;
	struct table *t = NULL;

	if (table_spec(spec, c, &type, &name, st))
		t = open_by_type(type.data, name.data, flags, st);
	buf_clear(&type);
	buf_clear(&name);
	return t;
}

struct table *
table_open(const char *spec, const struct conf *c, struct status *st)
{
	return table_open_flags(spec, c, 0, st);
}

struct table *
table_open_text(const char *type, const char *name, const char *text, size_t len,
    unsigned flags, struct status *st)
{
	struct table_source *src = table_source_mem(name, text, len);
	struct table *t = NULL;

	if (strcmp(type, "texthash") == 0)
		t = table_texthash_open(name, src, flags, st);
	else if (strcmp(type, "regexp") == 0)
		t = table_regexp_open(name, src, flags, st);
	else if (strcmp(type, "pcre") == 0)
		t = table_pcre_open(name, src, flags, st);
	else
		status_set(st, STATUS_TEMP, "4.3.0", 0,
		    "table type %s has no source text", type);
	table_source_free(src);
	return t;
}

struct table *
table_free(struct table *t)
{
	if (t != NULL)
		t->ops->free(t);
	return NULL;
}

int
table_lookup(struct table *t, const char *key, struct buf *value, struct status *st)
{
	buf_reset(value);
	if (t->ops->fixed && !(t->flags & TABLE_NOFOLD)) {
		table_fold(&t->fold, key);
		key = t->fold.data;
	}
	int r = t->ops->lookup(t, key, value, st);
	if (r != TABLE_FOUND)
		buf_reset(value);
	return r;
}

void
table_prefetch(struct table *t, const char *key, int pass)
{
	if (t->ops->prefetch == NULL)
		return;
	if (t->ops->fixed && !(t->flags & TABLE_NOFOLD)) {
		table_fold(&t->fold, key);
		key = t->fold.data;
	}
	t->ops->prefetch(t, key, pass);
}

int
table_next(struct table *t, bool first, struct buf *key, struct buf *value,
    struct status *st)
{
	buf_reset(key);
	buf_reset(value);
	if (t->ops->next == NULL) {
		status_set(st, STATUS_TEMP, "4.3.0", 0,
		    "table %s:%s: sequence operation is not supported", t->type, t->name);
		return TABLE_ERROR;
	}
	return t->ops->next(t, first, key, value, st);
}

const char *
table_type(const struct table *t)
{
	return t->type;
}

const char *
table_name(const struct table *t)
{
	return t->name;
}

/* Building: only cdb today; the indirection keeps postmap and newaliases
 * free of type names. */
struct table_builder *
table_build_start(const char *spec, const struct conf *c, unsigned flags,
    mode_t mode, struct status *st)
{
	struct buf path = BUF_INIT;
	struct table_builder *b = NULL;

	if (table_file(spec, c, &path, st))
		b = table_cdb_build_start(path.data, flags, mode, st);
	buf_clear(&path);
	return b;
}
