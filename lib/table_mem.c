/* table_mem - the in-memory types: texthash, inline and static.
 *
 * texthash reads a postmap(1) source into a hash table at open time
 * (Postfix's dict_thash: same entry syntax and duplicate handling).
 * inline:{...} is Postfix's dict_inline: elements separated by commas
 * and/or white space, "{ key = value }" for values with spaces or commas;
 * a later duplicate replaces an earlier one (Postfix does no duplicate
 * check there).  static:VALUE answers VALUE for every key;
 * static:{ text } strips the braces and the white space inside them. */
#include "table_int.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xalloc.h"

#define MEM_ISSPACE(c)	((c) == ' ' || (c) == '\t' || (c) == '\n' || \
			 (c) == '\r' || (c) == '\f' || (c) == '\v')

/* ---------------------------------------------------------------- memmap */

static uint32_t
memmap_hash(const char *s)
{
	uint32_t h = 2166136261u;	/* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

void
table_memmap_init(struct table_memmap *m)
{
	memset(m, 0, sizeof *m);
}

void
table_memmap_clear(struct table_memmap *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->keys[i]);
		free(m->values[i]);
	}
	free(m->keys);
	free(m->values);
	free(m->slots);
	table_memmap_init(m);
}

long
table_memmap_find(const struct table_memmap *m, const char *key)
{
	if (m->nslots == 0)
		return -1;
	size_t j = memmap_hash(key) & (m->nslots - 1);
	for (; m->slots[j] != 0; j = (j + 1) & (m->nslots - 1))
		if (strcmp(m->keys[m->slots[j] - 1], key) == 0)
			return (long)m->slots[j] - 1;
	return -1;
}

static void
memmap_rehash(struct table_memmap *m)
{
	size_t nslots = m->nslots ? m->nslots * 2 : 64;
	free(m->slots);
	m->slots = xcalloc(nslots, sizeof *m->slots);
	m->nslots = nslots;
	for (size_t i = 0; i < m->n; i++) {
		size_t j = memmap_hash(m->keys[i]) & (nslots - 1);
		while (m->slots[j] != 0)
			j = (j + 1) & (nslots - 1);
		m->slots[j] = (uint32_t)(i + 1);
	}
}

bool
table_memmap_put(struct table_memmap *m, const char *key, const char *value,
    bool replace)
{
	long i = table_memmap_find(m, key);
	if (i >= 0) {
		if (replace) {
			free(m->values[i]);
			m->values[i] = xstrdup(value);
		}
		return false;
	}
	if (m->n >= UINT32_MAX - 1)
		panic("table_memmap_put: too many entries");
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 16;
		m->keys = xreallocarray(m->keys, m->cap, sizeof *m->keys);
		m->values = xreallocarray(m->values, m->cap, sizeof *m->values);
	}
	m->keys[m->n] = xstrdup(key);
	m->values[m->n] = xstrdup(value);
	m->n++;
	if ((m->n + 1) * 2 > m->nslots) {
		memmap_rehash(m);
	} else {
		size_t j = memmap_hash(key) & (m->nslots - 1);
		while (m->slots[j] != 0)
			j = (j + 1) & (m->nslots - 1);
		m->slots[j] = (uint32_t)m->n;
	}
	return true;
}

/* ---------------------------------------------- texthash and inline */

struct mem_table {
	struct table t;
	struct table_memmap map;
	size_t cursor;
};

static int
mem_lookup(struct table *t, const char *key, struct buf *value, struct status *st)
{
	struct mem_table *mt = (struct mem_table *)t;
	(void)st;
	long i = table_memmap_find(&mt->map, key);
	if (i < 0)
		return TABLE_NOTFOUND;
	buf_puts(value, mt->map.values[i]);
	return TABLE_FOUND;
}

static int
mem_next(struct table *t, bool first, struct buf *key, struct buf *value,
    struct status *st)
{
	struct mem_table *mt = (struct mem_table *)t;
	(void)st;
	if (first)
		mt->cursor = 0;
	if (mt->cursor >= mt->map.n)
		return TABLE_NOTFOUND;
	buf_puts(key, mt->map.keys[mt->cursor]);
	buf_puts(value, mt->map.values[mt->cursor]);
	mt->cursor++;
	return TABLE_FOUND;
}

static void
mem_free(struct table *t)
{
	struct mem_table *mt = (struct mem_table *)t;
	table_memmap_clear(&mt->map);
	table_clear_base(t);
	free(mt);
}

static const struct table_ops texthash_ops = {
	.type = "texthash", .fixed = true, .lookup = mem_lookup, .next = mem_next,
	.free = mem_free,
};

static const struct table_ops inline_ops = {
	.type = "inline", .fixed = true, .lookup = mem_lookup, .next = mem_next,
	.free = mem_free,
};

struct table *
table_texthash_open(const char *name, struct table_source *src, unsigned flags,
    struct status *st)
{
	struct mem_table *mt = xcalloc(1, sizeof *mt);
	struct buf line = BUF_INIT, folded = BUF_INIT;
	char *key, *value;
	int lineno, r;

	table_init_base(&mt->t, &texthash_ops, "texthash", name, flags);
	table_memmap_init(&mt->map);
	while ((r = table_source_entry(src, &line, &key, &value, &lineno, st)) > 0) {
		if (!(flags & TABLE_NOFOLD)) {
			table_fold(&folded, key);
			key = folded.data;
		}
		if (!table_memmap_put(&mt->map, key, value, (flags & TABLE_DUP_REPLACE) != 0) &&
		    !(flags & (TABLE_DUP_REPLACE | TABLE_DUP_IGNORE)))
			log_warning("%s, line %d: duplicate entry: \"%s\"",
			    table_source_name(src), lineno, key);
	}
	buf_clear(&line);
	buf_clear(&folded);
	if (r < 0) {
		mem_free(&mt->t);
		return NULL;
	}
	return &mt->t;
}

/* Postfix's balpar(): the length of the balanced "{...}" group at s, or
 * 0 when s does not start one or it is not closed. */
static size_t
balanced(const char *s)
{
	int level = 0;
	const char *p = s;

	if (*s != '{')
		return 0;
	do {
		if (*p == '\0')
			return 0;
		if (*p == '{')
			level++;
		else if (*p == '}')
			level--;
		p++;
	} while (level > 0);
	return (size_t)(p - s);
}

/* Postfix's extpar(..., EXTPAR_FLAG_STRIP): "{ text }" -> "text" in
 * place.  On error, err gets the reason and false is returned. */
static bool
strip_braces(char **sp, struct buf *err)
{
	char *s = *sp;
	size_t len = balanced(s);
	if (len == 0) {
		buf_printf(err, "missing '}' in \"%s\"", s);
		return false;
	}
	if (s[len] != '\0') {
		buf_printf(err, "syntax error after '}' in \"%s\"", s);
		return false;
	}
	s[len - 1] = '\0';
	s++;
	while (MEM_ISSPACE(*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && MEM_ISSPACE(e[-1]))
		e--;
	*e = '\0';
	*sp = s;
	return true;
}

/* Postfix's split_nameval(): "name = value" in place. */
static const char *
split_nameval(char *s, char **name, char **value)
{
	char *np, *ep, *cp, *vp;

	for (np = s; MEM_ISSPACE(*np); np++)
		;
	if (*np == '\0' || *np == '=')
		return "missing attribute name";
	for (ep = np; *ep && !MEM_ISSPACE(*ep) && *ep != '='; ep++)
		;
	for (cp = ep; MEM_ISSPACE(*cp); cp++)
		;
	if (*cp != '=')
		return "missing '=' after attribute name";
	*ep = '\0';
	for (vp = cp + 1; MEM_ISSPACE(*vp); vp++)
		;
	char *e = vp + strlen(vp);
	while (e > vp && MEM_ISSPACE(e[-1]))
		e--;
	*e = '\0';
	*name = np;
	*value = vp;
	return NULL;
}

/* Postfix's mystrtokq(&s, ", \t\r\n", "{}"): the next element, with
 * separators inside braces kept. */
#define INLINE_SEP	", \t\r\n"

static char *
next_element(char **sp)
{
	char *s = *sp, *start;
	int level = 0;

	while (*s && strchr(INLINE_SEP, *s) != NULL)
		s++;
	if (*s == '\0') {
		*sp = s;
		return NULL;
	}
	start = s;
	for (; *s; s++) {
		if (*s == '{')
			level++;
		else if (*s == '}' && level > 0)
			level--;
		else if (level == 0 && strchr(INLINE_SEP, *s) != NULL)
			break;
	}
	if (*s)
		*s++ = '\0';
	*sp = s;
	return start;
}

struct table *
table_inline_open(const char *name, unsigned flags, struct status *st)
{
	struct mem_table *mt = NULL;
	size_t len = balanced(name);
	char *copy = NULL, *cp, *elem;
	struct buf err = BUF_INIT, folded = BUF_INIT;

	if (len == 0 || name[len] != '\0' || len == 2) {
		status_set(st, STATUS_TEMP, "4.3.0", 0,
		    "bad syntax: \"inline:%s\"; need \"inline:{name=value...}\"", name);
		return NULL;
	}
	copy = xstrndup(name + 1, len - 2);
	mt = xcalloc(1, sizeof *mt);
	table_init_base(&mt->t, &inline_ops, "inline", name, flags);
	table_memmap_init(&mt->map);
	cp = copy;
	while ((elem = next_element(&cp)) != NULL) {
		char *k, *v;
		const char *why;
		if (elem[0] == '{' && !strip_braces(&elem, &err))
			break;
		if ((why = split_nameval(elem, &k, &v)) != NULL) {
			buf_puts(&err, why);
			break;
		}
		if (!(flags & TABLE_NOFOLD)) {
			table_fold(&folded, k);
			k = folded.data;
		}
		(void)table_memmap_put(&mt->map, k, v, true);
	}
	buf_clear(&folded);
	if (err.len == 0 && mt->map.n == 0)
		buf_puts(&err, "empty table");
	free(copy);
	if (err.len > 0) {
		status_set(st, STATUS_TEMP, "4.3.0", 0,
		    "%s: \"inline:%s\"; need \"inline:{name=value...}\"", err.data, name);
		buf_clear(&err);
		mem_free(&mt->t);
		return NULL;
	}
	return &mt->t;
}

/* ---------------------------------------------------------------- static */

struct static_table {
	struct table t;
	char *value;
};

static int
static_lookup(struct table *t, const char *key, struct buf *value, struct status *st)
{
	(void)key;
	(void)st;
	buf_puts(value, ((struct static_table *)t)->value);
	return TABLE_FOUND;
}

static void
static_free(struct table *t)
{
	free(((struct static_table *)t)->value);
	table_clear_base(t);
	free(t);
}

static const struct table_ops static_ops = {
	.type = "static", .fixed = false, .lookup = static_lookup, .next = NULL,
	.free = static_free,
};

struct table *
table_static_open(const char *name, unsigned flags, struct status *st)
{
	char *copy = xstrdup(name), *v = copy;
	struct buf err = BUF_INIT;

	if (*v == '{' && !strip_braces(&v, &err)) {
		status_set(st, STATUS_TEMP, "4.3.0", 0, "bad static:name syntax: %s",
		    err.data);
		buf_clear(&err);
		free(copy);
		return NULL;
	}
	struct static_table *s = xcalloc(1, sizeof *s);
	table_init_base(&s->t, &static_ops, "static", name, flags);
	s->value = xstrdup(v);
	free(copy);
	return &s->t;
}
