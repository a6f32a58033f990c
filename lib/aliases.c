/* aliases - aliases(5) source parsing and target splitting (see
 * aliases.h). */
#include "aliases.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"
#include "table_source.h"
#include "log.h"
#include "conf.h"
#include <errno.h>
#include <sys/stat.h>
#include "xalloc.h"

void
alias_targets_init(struct alias_targets *t)
{
	memset(t, 0, sizeof *t);
}

void
alias_targets_clear(struct alias_targets *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].text);
	free(t->v);
	alias_targets_init(t);
}

/* Calls fn for each comma-separated element of value, trimmed, quotes
 * kept.  false with why on an unbalanced quote or an empty element. */
static bool
each_element(const char *value, bool (*fn)(void *ctx, const char *p, size_t n,
    struct buf *why), void *ctx, struct buf *why)
{
	const char *p = value;
	for (bool first = true;; first = false) {
		while (*p == ' ' || *p == '\t')
			p++;
		const char *start = p;
		bool quoted = false;
		while (*p && (quoted || *p != ',')) {
			if (*p == '\\' && quoted && p[1])
				p++;
			else if (*p == '"')
				quoted = !quoted;
			p++;
		}
		if (quoted) {
			buf_puts(why, "unbalanced '\"' in alias value");
			return false;
		}
		const char *end = p;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (end == start) {
			if (*p == '\0' && first) {
				buf_puts(why, "empty alias value");
				return false;
			}
			if (*p == '\0')
				return true;	/* "a, b," : a trailing comma is tolerated */
			buf_puts(why, "empty element in alias value");
			return false;
		}
		if (!fn(ctx, start, (size_t)(end - start), why))
			return false;
		if (*p == '\0')
			return true;
		p++;
	}
}

/* Removes the quotes of an element that is one quoted string ("|cmd arg"
 * -> |cmd arg); anything else (a quoted local part: "a b"@x) stays. */
static char *
unquote(const char *p, size_t n)
{
	struct buf out = BUF_INIT;
	bool whole = n >= 2 && p[0] == '"' && p[n - 1] == '"';
	for (size_t i = 0; i < n; i++) {
		if (whole && (i == 0 || i == n - 1))
			continue;
		if (whole && p[i] == '\\' && i + 1 < n - 1)
			i++;
		buf_putc(&out, p[i]);
	}
	return buf_steal(&out);
}

static bool
add_target(void *ctx, const char *p, size_t n, struct buf *why)
{
	struct alias_targets *t = ctx;
	if (t->n >= ALIASES_MAX_TARGETS) {
		buf_printf(why, "more than %d targets in one alias", ALIASES_MAX_TARGETS);
		return false;
	}
	char *text = unquote(p, n);
	struct alias_target tg = { ALIAS_ADDRESS, NULL };
	for (char *c = text; *c; c++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			buf_puts(why, "control character in alias target");
			free(text);
			return false;
		}
	}
	if (text[0] == '|') {
		tg.kind = ALIAS_COMMAND;
		tg.text = xstrdup(text + 1);
	} else if (text[0] == '/') {
		tg.kind = ALIAS_FILE;
		tg.text = xstrdup(text);
	} else if (strncasecmp(text, ":include:", 9) == 0) {
		tg.kind = ALIAS_INCLUDE;
		const char *path = text + 9;
		while (*path == ' ')
			path++;
		if (*path != '/') {
			buf_printf(why, ":include: needs an absolute path: %s", text);
			free(text);
			return false;
		}
		tg.text = xstrdup(path);
	} else {
		tg.text = xstrdup(text);
	}
	free(text);
	if (tg.text[0] == '\0') {
		buf_puts(why, "empty alias target");
		free(tg.text);
		return false;
	}
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 8;
		t->v = xreallocarray(t->v, t->cap, sizeof *t->v);
	}
	t->v[t->n++] = tg;
	return true;
}

bool
aliases_split(const char *value, struct alias_targets *out, struct buf *why)
{
	return each_element(value, add_target, out, why);
}

static bool
join_element(void *ctx, const char *p, size_t n, struct buf *why)
{
	(void)why;
	struct buf *out = ctx;
	if (out->len)
		buf_puts(out, ", ");
	buf_append(out, p, n);
	return true;
}

bool
aliases_normalise(const char *value, struct buf *out, struct buf *why)
{
	struct alias_targets t;
	alias_targets_init(&t);
	bool ok = each_element(value, add_target, &t, why);	/* validates */
	alias_targets_clear(&t);
	return ok && each_element(value, join_element, out, why);
}

/* Splits "name: value" at the first ':' outside quotes.  Returns the
 * reason on failure. */
static const char *
split_entry(char *line, struct buf *name, char **value)
{
	bool quoted = false;
	char *p = line;
	for (; *p; p++) {
		if (*p == '\\' && quoted && p[1])
			p++;
		else if (*p == '"')
			quoted = !quoted;
		else if (*p == ':' && !quoted)
			break;
		else if (*p == ',' && !quoted)
			return "need name: value pair (comma before the colon)";
	}
	if (quoted)
		return "unbalanced '\"' in alias name";
	if (*p != ':')
		return "need name: value pair";
	char *end = p;
	while (end > line && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	char *start = line;
	while (start < end && (*start == ' ' || *start == '\t'))
		start++;
	for (char *c = start; c < end; c++) {
		if (*c == '"')
			continue;
		if (*c == '\\' && c + 1 < end)
			c++;
		buf_putc(name, tolower((unsigned char)*c));
	}
	if (name->len == 0)
		return "empty alias name";
	if (strpbrk(name->data, "@%"))
		return "name must be local and have no domain";
	*value = p + 1;
	while (**value == ' ' || **value == '\t')
		(*value)++;
	if (**value == '\0')
		return "need name: value pair (empty value)";
	return NULL;
}

bool
aliases_read(const char *path,
    bool (*fn)(void *ctx, const char *name, const char *value, int line, struct status *st),
    void *ctx, struct status *st)
{
	struct table_source *src = table_source_open(path, st);
	struct buf line = BUF_INIT, name = BUF_INIT, value = BUF_INIT, why = BUF_INIT;
	int lineno = 0, rc;
	bool ok = false;

	if (src == NULL)
		return false;
	while ((rc = table_source_line(src, &line, &lineno, st)) == 1) {
		char *v;
		/* CRLF sources: the CRs of the physical line ends go. */
		size_t w = 0;
		for (size_t r = 0; r < line.len; r++)
			if (line.data[r] != '\r')
				line.data[w++] = line.data[r];
		line.len = w;
		line.data[w] = '\0';
		buf_reset(&name);
		buf_reset(&value);
		buf_reset(&why);
		const char *bad = split_entry(line.data, &name, &v);
		if (bad == NULL && !aliases_normalise(v, &value, &why))
			bad = buf_cstr(&why);
		if (bad) {
			status_set(st, STATUS_PERM, "5.3.0", 65, "%s, line %d: %s", path, lineno, bad);
			goto out;
		}
		if (!fn(ctx, name.data, value.data, lineno, st))
			goto out;
	}
	ok = rc == 0;
out:
	table_source_free(src);
	buf_clear(&line);
	buf_clear(&name);
	buf_clear(&value);
	buf_clear(&why);
	return ok;
}

struct build_ctx {
	struct table_builder *b;
	const char *path;
	size_t entries;
};

static bool
build_one(void *vctx, const char *name, const char *value, int line, struct status *st)
{
	struct build_ctx *ctx = vctx;
	int rc = table_build_add(ctx->b, name, value, st);
	if (rc == TABLE_ERROR)
		return false;
	if (rc == TABLE_DUPLICATE)
		log_warning("%s, line %d: duplicate entry: \"%s\"", ctx->path, line, name);
	else
		ctx->entries++;
	return true;
}

bool
aliases_build(const char *spec, const struct conf *c, size_t *entries, struct status *st)
{
	struct buf type = BUF_INIT, name = BUF_INIT;
	struct build_ctx ctx = { NULL, NULL, 0 };
	struct stat sb;
	bool ok = false;

	if (!table_spec(spec, c, &type, &name, st))
		goto out;
	if (!table_type_buildable(type.data)) {
		status_set(st, STATUS_PERM, "5.3.0", 78, "%s: type %s is not built by newaliases",
		    spec, type.data);
		goto out;
	}
	ctx.path = name.data;
	if (stat(name.data, &sb) < 0) {
		status_set(st, STATUS_TEMP, "4.3.0", 66, "open %s: %s", name.data, strerror(errno));
		goto out;
	}
	/* The table is as readable as its source (postalias). */
	ctx.b = table_build_start(spec, c, 0, (sb.st_mode & 0644) | 0600, st);
	if (ctx.b == NULL)
		goto out;
	if (!aliases_read(name.data, build_one, &ctx, st))
		goto out;
	if (table_build_add(ctx.b, "@", "@", st) == TABLE_ERROR)
		goto out;
	if (!table_build_commit(ctx.b, st))
		goto out;
	*entries = ctx.entries;
	ok = true;
out:
	table_build_free(ctx.b);
	buf_clear(&type);
	buf_clear(&name);
	return ok;
}

static bool
file_trusted(const char *path, struct buf *why)
{
	struct stat sb;
	if (stat(path, &sb) < 0)
		return errno == ENOENT;	/* nothing there vouches for nothing */
	if (sb.st_uid != 0 || (sb.st_mode & 022)) {
		buf_printf(why, "%s is %s", path, sb.st_uid != 0 ? "not owned by root" :
		    "writable by group or others");
		return false;
	}
	return true;
}

bool
aliases_tables_trusted(const struct conf *c, struct buf *why)
{
	struct buf type = BUF_INIT, name = BUF_INIT, file = BUF_INIT;
	struct status st;
	bool ok = true;
	status_init(&st);
	for (char **s = c->alias_maps; s && *s && ok; s++) {
		buf_reset(&type);
		buf_reset(&name);
		buf_reset(&file);
		if (!table_spec(*s, c, &type, &name, &st))
			continue;	/* inline: and static: live in main.cf itself */
		if (strcmp(type.data, "inline") == 0 || strcmp(type.data, "static") == 0 ||
		    strcmp(type.data, "fail") == 0)
			continue;
		ok = file_trusted(name.data, why);
		if (ok && table_type_buildable(type.data) && table_file(*s, c, &file, &st))
			ok = file_trusted(file.data, why);
	}
	status_clear(&st);
	buf_clear(&type);
	buf_clear(&name);
	buf_clear(&file);
	return ok;
}
