/* rewrite - canonical maps and alias expansion (see rewrite.h for the
 * rules, which are Postfix's). */
#include "rewrite.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "aliases.h"
#include "log.h"
#include "table.h"
#include "xalloc.h"

#define INCLUDE_MAX_BYTES (1024 * 1024)

struct maplist {
	const char *name;	/* parameter name, for messages */
	conf_list specs;
	struct table **t;
	size_t n;
	bool opened;
	bool lenient;		/* alias_maps: a table with neither file nor source is empty */
};

struct rewrite {
	const struct conf *c;
	struct maplist canonical, sender, recipient, aliases;
};

static void
maplist_init(struct maplist *ml, const char *name, conf_list specs, bool lenient)
{
	memset(ml, 0, sizeof *ml);
	ml->name = name;
	ml->specs = specs;
	ml->lenient = lenient;
}

static void
maplist_clear(struct maplist *ml)
{
	for (size_t i = 0; i < ml->n; i++)
		table_free(ml->t[i]);
	free(ml->t);
	ml->t = NULL;
	ml->n = 0;
}

struct rewrite *
rewrite_new(const struct conf *c)
{
	struct rewrite *rw = xcalloc(1, sizeof *rw);
	rw->c = c;
	maplist_init(&rw->canonical, "canonical_maps", c->canonical_maps, false);
	maplist_init(&rw->sender, "sender_canonical_maps", c->sender_canonical_maps, false);
	maplist_init(&rw->recipient, "recipient_canonical_maps", c->recipient_canonical_maps, false);
	maplist_init(&rw->aliases, "alias_maps", c->alias_maps, true);
	return rw;
}

struct rewrite *
rewrite_free(struct rewrite *rw)
{
	if (rw == NULL)
		return NULL;
	maplist_clear(&rw->canonical);
	maplist_clear(&rw->sender);
	maplist_clear(&rw->recipient);
	maplist_clear(&rw->aliases);
	free(rw);
	return NULL;
}

/* A missing alias database whose source is missing too is a system with
 * no aliases, not a failure.  One whose source exists was never built:
 * that is TEMP, with the fix in the message (-1). */
static int
nothing_there(const struct conf *c, const char *spec, struct status *st_out)
{
	struct buf type = BUF_INIT, name = BUF_INIT, file = BUF_INIT;
	struct status st;
	int none = 0;
	status_init(&st);
	if (table_spec(spec, c, &type, &name, &st) && table_type_buildable(type.data) &&
	    table_file(spec, c, &file, &st) && access(file.data, F_OK) < 0 && errno == ENOENT) {
		if (access(name.data, F_OK) < 0 && errno == ENOENT) {
			none = 1;
		} else {
			none = -1;
			status_set(st_out, STATUS_TEMP, "4.3.0", EXIT_TEMPFAIL,
			    "alias database %s does not exist: run newaliases", file.data);
		}
	}
	buf_clear(&type);
	buf_clear(&name);
	buf_clear(&file);
	status_clear(&st);
	return none;
}

static bool
maplist_open(struct rewrite *rw, struct maplist *ml, struct status *st)
{
	if (ml->opened)
		return true;
	size_t count = 0;
	for (char **s = ml->specs; s && *s; s++)
		count++;
	ml->t = xcalloc(count + 1, sizeof *ml->t);
	for (char **s = ml->specs; s && *s; s++) {
		int none = ml->lenient ? nothing_there(rw->c, *s, st) : 0;
		if (none < 0) {
			maplist_clear(ml);
			return false;
		}
		if (none > 0)
			continue;
		struct table *t = table_open(*s, rw->c, st);
		if (t == NULL) {
			maplist_clear(ml);
			return false;
		}
		ml->t[ml->n++] = t;
	}
	ml->opened = true;
	return true;
}

static bool
is_pattern(const struct table *t)
{
	const char *type = table_type(t);
	return strcmp(type, "regexp") == 0 || strcmp(type, "pcre") == 0;
}

/* Looks keys up in order, each against every table; pattern tables see
 * only the first key (the whole address).  Returns the index of the key
 * that matched, -1 when none did, -2 on a table error. */
static int
maplist_find(struct rewrite *rw, struct maplist *ml, const char *const *keys, size_t nkeys,
    struct buf *value, struct status *st)
{
	if (!maplist_open(rw, ml, st))
		return -2;
	for (size_t k = 0; k < nkeys; k++) {
		if (keys[k] == NULL)
			continue;
		for (size_t i = 0; i < ml->n; i++) {
			if (k > 0 && is_pattern(ml->t[i]))
				continue;
			int rc = table_lookup(ml->t[i], keys[k], value, st);
			if (rc == TABLE_ERROR)
				return -2;
			if (rc == TABLE_FOUND)
				return (int)k;
		}
	}
	return -1;
}

/* Splits a canonical address into local part, domain (NULL when none) and
 * the extension boundary. */
struct parts {
	struct buf local;	/* whole local part */
	struct buf user;	/* local part without the extension */
	struct buf ext;		/* extension without its delimiter; empty = none */
	char delim;
	const char *domain;	/* points into the address, or NULL */
};

static void
parts_split(const struct conf *c, const char *addr, struct parts *p)
{
	buf_init(&p->local);
	buf_init(&p->user);
	buf_init(&p->ext);
	p->delim = 0;
	const char *at = strrchr(addr, '@');
	p->domain = at ? at + 1 : NULL;
	buf_append(&p->local, addr, at ? (size_t)(at - addr) : strlen(addr));
	size_t ulen = p->local.len;
	const char *d = c->recipient_delimiter;
	/* owner-x and x-request are not split (owner_request_special). */
	bool special = strncasecmp(p->local.data ? p->local.data : "", "owner-", 6) == 0 ||
	    (p->local.len > 8 && strcasecmp(p->local.data + p->local.len - 8, "-request") == 0);
	if (d && *d && !special && p->local.len > 0 && p->local.data[0] != '"') {
		for (size_t i = 1; i < p->local.len; i++) {
			if (strchr(d, p->local.data[i])) {
				ulen = i;
				p->delim = p->local.data[i];
				buf_append(&p->ext, p->local.data + i + 1, p->local.len - i - 1);
				break;
			}
		}
	}
	buf_append(&p->user, p->local.data ? p->local.data : "", ulen);
}

static void
parts_clear(struct parts *p)
{
	buf_clear(&p->local);
	buf_clear(&p->user);
	buf_clear(&p->ext);
}

static bool
domain_is_local(const struct conf *c, const char *domain)
{
	return domain == NULL || strcasecmp(domain, c->myorigin) == 0 ||
	    conf_is_local_domain(c, domain);
}

/* Validates a table result as exactly one address; out = canonical. */
static bool
valid_result(const struct conf *c, const char *value, const char *addr, struct buf *out,
    struct status *st)
{
	struct addr_list l;
	struct buf why = BUF_INIT;
	bool ok = false;
	addr_list_init(&l);
	if (!addr_parse_arg(value, &l, &why) || l.n != 1 || l.v[0].local[0] == '\0') {
		status_set(st, STATUS_PERM, "5.1.0", EXIT_DATAERR,
		    "<%s>: invalid address from a canonical map: %s", addr,
		    why.len ? buf_cstr(&why) : "not exactly one address");
		goto out;
	}
	buf_reset(out);
	addr_format(&l.v[0], out);
	if (l.v[0].domain == NULL) {
		buf_putc(out, '@');
		buf_puts(out, c->myorigin);
	}
	ok = true;
out:
	addr_list_clear(&l);
	buf_clear(&why);
	return ok;
}

/* One lookup of addr in a map list; *found tells whether it matched. */
static bool
canonical_once(struct rewrite *rw, struct maplist *ml, const char *addr, struct buf *out,
    bool *found, struct status *st)
{
	const struct conf *c = rw->c;
	struct parts p;
	struct buf k_user_dom = BUF_INIT, k_at_dom = BUF_INIT, value = BUF_INIT, res = BUF_INIT;
	bool ok = false, ext = false;

	*found = false;
	parts_split(c, addr, &p);
	ext = p.ext.len > 0;
	if (p.domain) {
		buf_printf(&k_user_dom, "%s@%s", buf_cstr(&p.user), p.domain);
		buf_printf(&k_at_dom, "@%s", p.domain);
	}
	bool local = domain_is_local(c, p.domain);
	const char *keys[5] = {
		addr,
		p.domain && ext ? k_user_dom.data : NULL,
		local && ext && p.domain ? p.local.data : NULL,
		local && p.domain ? buf_cstr(&p.user) : NULL,
		p.domain ? k_at_dom.data : NULL,
	};
	int k = maplist_find(rw, ml, keys, 5, &value, st);
	if (k == -2)
		goto out;
	if (k == -1) {
		ok = true;
		goto out;
	}
	/* Several results: the first one, as Postfix does. */
	char *comma = value.data;
	for (bool quoted = false; *comma; comma++) {
		if (*comma == '\\' && quoted && comma[1])
			comma++;
		else if (*comma == '"')
			quoted = !quoted;
		else if (*comma == ',' && !quoted)
			break;
	}
	if (*comma == ',') {
		log_warning("%s: %s maps to several addresses; using the first", ml->name, addr);
		*comma = '\0';
	}
	const char *v = value.data;
	while (*v == ' ' || *v == '\t')
		v++;
	if (*v == '@')
		buf_printf(&res, "%s%s", buf_cstr(&p.user), v);
	else
		buf_puts(&res, v);
	buf_rtrim(&res);
	/* Put back an extension the matching key did not have. */
	if (ext && (k == 1 || k == 3 || k == 4)) {
		const char *at = strrchr(res.data ? res.data : "", '@');
		struct buf tmp = BUF_INIT;
		size_t ll = at ? (size_t)(at - res.data) : res.len;
		buf_append(&tmp, res.data, ll);
		buf_printf(&tmp, "%c%s%s", p.delim, buf_cstr(&p.ext), at ? at : "");
		buf_set(&res, tmp.data);
		buf_clear(&tmp);
	}
	if (!valid_result(c, buf_cstr(&res), addr, out, st))
		goto out;
	*found = true;
	ok = true;
out:
	parts_clear(&p);
	buf_clear(&k_user_dom);
	buf_clear(&k_at_dom);
	buf_clear(&value);
	buf_clear(&res);
	return ok;
}

static bool
canonical_list(struct rewrite *rw, struct maplist *ml, struct buf *cur, struct status *st)
{
	struct buf next = BUF_INIT;
	bool ok = true;
	if (ml->specs == NULL || ml->specs[0] == NULL)
		return true;
	for (int round = 0;; round++) {
		bool found;
		if (round >= REWRITE_MAX_ROUNDS) {
			status_set(st, STATUS_TEMP, "4.3.0", EXIT_CONFIG,
			    "unreasonable %s nesting for <%s>", ml->name, buf_cstr(cur));
			ok = false;
			break;
		}
		if (!canonical_once(rw, ml, buf_cstr(cur), &next, &found, st)) {
			ok = false;
			break;
		}
		if (!found || strcasecmp(next.data, buf_cstr(cur)) == 0) {
			if (found)
				buf_set(cur, next.data);
			break;
		}
		buf_set(cur, next.data);
	}
	buf_clear(&next);
	return ok;
}

bool
rewrite_canonical(struct rewrite *rw, enum rewrite_class cls, const char *addr,
    struct buf *out, struct status *st)
{
	buf_set(out, addr);
	if (*addr == '\0')
		return true;	/* the null sender stays null */
	struct maplist *first = cls == REWRITE_SENDER ? &rw->sender : &rw->recipient;
	return canonical_list(rw, first, out, st) && canonical_list(rw, &rw->canonical, out, st);
}

bool
rewrite_header(struct rewrite *rw, enum rewrite_class cls, const char *field,
    size_t name_len, size_t len, struct buf *new_text, struct status *st)
{
	const char *body = field + name_len + 1;
	size_t blen = len - name_len - 1;
	struct addr_list l;
	struct buf why = BUF_INIT, canon = BUF_INIT, result = BUF_INIT;
	size_t last = 0;
	bool ok = true, changed = false;

	buf_reset(new_text);
	addr_list_init(&l);
	if (!addr_parse_list(body, blen, &l, &why))
		goto out;	/* not ours to fix */
	buf_append(new_text, field, name_len + 1);
	for (size_t i = 0; i < l.n; i++) {
		const struct addr *a = &l.v[i];
		if (a->local[0] == '\0' || a->end > blen || a->start > a->end)
			continue;
		buf_reset(&canon);
		addr_format(a, &canon);
		if (a->domain == NULL) {
			buf_putc(&canon, '@');
			buf_puts(&canon, rw->c->myorigin);
		}
		if (!rewrite_canonical(rw, cls, canon.data, &result, st)) {
			ok = false;
			goto out;
		}
		/* Only a changed address is replaced: a written form that
		 * means the same stays as the author wrote it. */
		if (a->domain != NULL && strcmp(result.data, canon.data) == 0)
			continue;
		buf_append(new_text, body + last, a->start - last);
		buf_puts(new_text, result.data);
		last = a->end;
		changed = true;
	}
	if (changed)
		buf_append(new_text, body + last, blen - last);
out:
	if (!changed)
		buf_reset(new_text);
	addr_list_clear(&l);
	buf_clear(&why);
	buf_clear(&canon);
	buf_clear(&result);
	return ok;
}

int
rewrite_alias_lookup(struct rewrite *rw, const char *name, struct buf *value,
    struct status *st)
{
	const char *keys[1] = { name };
	int k = maplist_find(rw, &rw->aliases, keys, 1, value, st);
	return k == -2 ? TABLE_ERROR : k >= 0 ? TABLE_FOUND : TABLE_NOTFOUND;
}

/* ---- alias expansion ---- */

struct expand {
	struct rewrite *rw;
	struct envelope *env;
	const char *orig;
	unsigned notify;
	const struct rewrite_trace *trace;
	const char *chain[REWRITE_MAX_DEPTH + 1];	/* alias names being expanded */
	size_t added;
};

static void
note(const struct expand *x, int depth, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
note(const struct expand *x, int depth, const char *fmt, ...)
{
	if (x->trace == NULL)
		return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	x->trace->note(x->trace->ctx, depth, "%s", line);
}

static bool
allowed(conf_list classes, const char *cls)
{
	for (char **s = classes; s && *s; s++)
		if (strcasecmp(*s, cls) == 0)
			return true;
	return false;
}

static bool
add_final(struct expand *x, const char *addr, enum rcpt_type type, const char *target,
    const char *owner, struct status *st)
{
	struct envelope *e = x->env;
	for (size_t i = 0; i < e->nrcpt; i++) {
		const struct rcpt *r = &e->rcpt[i];
		if (r->type == type && (type == RCPT_ADDRESS ? strcasecmp(r->addr, addr) == 0 :
		    strcmp(r->target, target) == 0))
			return true;	/* duplicate */
	}
	if (++x->added > REWRITE_MAX_EXPANSION || !envelope_add_rcpt(e, addr, x->orig, x->notify)) {
		status_set(st, STATUS_PERM, "5.3.0", EXIT_DATAERR,
		    "<%s>: alias expansion gives more than %d recipients", x->orig,
		    REWRITE_MAX_EXPANSION);
		return false;
	}
	struct rcpt *r = &e->rcpt[e->nrcpt - 1];
	if (r->orig && strcasecmp(r->orig, addr) == 0 && type == RCPT_ADDRESS) {
		free(r->orig);
		r->orig = NULL;
	}
	r->type = type;
	r->target = target ? xstrdup(target) : NULL;
	r->owner = owner ? xstrdup(owner) : NULL;
	for (const unsigned char *p = (const unsigned char *)addr; *p; p++)
		if (*p >= 0x80)
			e->smtputf8 = true;
	return true;
}

static bool expand_addr(struct expand *x, const char *addr, int depth, const char *owner,
    struct status *st);

/* Reads an :include: file's targets (commas or newlines, '#' comments). */
static bool
read_include(const char *path, struct alias_targets *out, struct status *st)
{
	struct buf text = BUF_INIT, why = BUF_INIT;
	struct stat sb;
	char chunk[8192];
	bool ok = false;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		status_set(st, STATUS_TEMP, "4.3.0", EXIT_NOINPUT, ":include: %s: %s", path,
		    fd < 0 ? strerror(errno) : "not a regular file");
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0) {
			status_set(st, STATUS_TEMP, "4.3.0", EXIT_IOERR, ":include: %s: %s", path,
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (text.len + (size_t)n > INCLUDE_MAX_BYTES) {
			status_set(st, STATUS_PERM, "5.3.0", EXIT_DATAERR, ":include: %s: larger than %d bytes",
			    path, INCLUDE_MAX_BYTES);
			goto out;
		}
		buf_append(&text, chunk, (size_t)n);
	}
	/* Lines become comma-separated elements; comment lines go. */
	struct buf value = BUF_INIT;
	for (char *line = text.data, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *p = line + strspn(line, " \t\r");
		if (*p == '#' || *p == '\0')
			continue;
		if (value.len)
			buf_puts(&value, ", ");
		buf_puts(&value, p);
		buf_rtrim(&value);
	}
	if (value.len && !aliases_split(value.data, out, &why)) {
		status_set(st, STATUS_PERM, "5.3.0", EXIT_DATAERR, ":include: %s: %s", path,
		    buf_cstr(&why));
		buf_clear(&value);
		goto out;
	}
	buf_clear(&value);
	ok = true;
out:
	if (fd >= 0)
		close(fd);
	buf_clear(&text);
	buf_clear(&why);
	return ok;
}

static bool
expand_targets(struct expand *x, const struct alias_targets *t, const char *name,
    const char *domain, int depth, const char *owner, const char *cls, struct status *st)
{
	struct buf a = BUF_INIT, self = BUF_INIT;
	bool ok = true;
	buf_printf(&self, "%s@%s", name, domain);
	for (size_t i = 0; i < t->n && ok; i++) {
		const struct alias_target *tg = &t->v[i];
		switch (tg->kind) {
		case ALIAS_ADDRESS: {
			struct addr_list l;
			struct buf why = BUF_INIT;
			addr_list_init(&l);
			if (!addr_parse_arg(tg->text, &l, &why) || l.n != 1 || l.v[0].local[0] == '\0') {
				status_set(st, STATUS_PERM, "5.3.0", EXIT_DATAERR,
				    "alias %s: bad target address %s", name, tg->text);
				ok = false;
			} else {
				buf_reset(&a);
				addr_format(&l.v[0], &a);
				if (l.v[0].domain == NULL)
					buf_printf(&a, "@%s", x->rw->c->myorigin);	/* as Postfix */
				/* "alice: alice, bob": alice's own mailbox. */
				const char *at = strrchr(a.data, '@');
				if (strncasecmp(a.data, name, (size_t)(at - a.data)) == 0 &&
				    strlen(name) == (size_t)(at - a.data) &&
				    domain_is_local(x->rw->c, at + 1)) {
					note(x, depth + 1, "%s: the mailbox of %s", a.data, name);
					ok = add_final(x, a.data, RCPT_ADDRESS, NULL, owner, st);
				} else {
					ok = expand_addr(x, a.data, depth + 1, owner, st);
				}
			}
			addr_list_clear(&l);
			buf_clear(&why);
			break;
		}
		case ALIAS_FILE:
		case ALIAS_COMMAND: {
			bool file = tg->kind == ALIAS_FILE;
			struct buf untrusted = BUF_INIT;
			if (!aliases_tables_trusted(x->rw->c, &untrusted)) {
				status_set(st, STATUS_PERM, "5.7.1", EXIT_NOPERM,
				    "alias %s: %s target refused: %s", name, file ? "file" : "command",
				    buf_cstr(&untrusted));
				log_warning("%s", buf_cstr(&st->text));
				buf_clear(&untrusted);
				ok = false;
				break;
			}
			buf_clear(&untrusted);
			if (!allowed(file ? x->rw->c->allow_mail_to_files :
			    x->rw->c->allow_mail_to_commands, cls)) {
				status_set(st, STATUS_PERM, "5.7.1", EXIT_NOPERM,
				    "alias %s: mail to %s is not allowed from %s (allow_mail_to_%s)",
				    name, file ? "files" : "commands", cls, file ? "files" : "commands");
				ok = false;
				break;
			}
			note(x, depth + 1, "%s %s", file ? "file" : "command |", tg->text);
			ok = add_final(x, self.data, file ? RCPT_FILE : RCPT_COMMAND, tg->text, owner, st);
			break;
		}
		case ALIAS_INCLUDE: {
			struct alias_targets inc;
			alias_targets_init(&inc);
			if (depth + 1 >= REWRITE_MAX_DEPTH) {
				status_set(st, STATUS_PERM, "5.4.6", EXIT_NOUSER,
				    "alias %s: :include: nesting too deep (loop?) at %s", name, tg->text);
				ok = false;
				break;
			}
			note(x, depth + 1, ":include: %s", tg->text);
			ok = read_include(tg->text, &inc, st) &&
			    expand_targets(x, &inc, name, domain, depth + 1, owner, "include", st);
			alias_targets_clear(&inc);
			break;
		}
		}
	}
	buf_clear(&a);
	buf_clear(&self);
	return ok;
}

static bool
expand_addr(struct expand *x, const char *addr, int depth, const char *owner,
    struct status *st)
{
	const struct conf *c = x->rw->c;
	struct parts p;
	struct buf value = BUF_INIT, name = BUF_INIT, user = BUF_INIT, okey = BUF_INIT,
	    ovalue = BUF_INIT, owner_addr = BUF_INIT, why = BUF_INIT;
	struct alias_targets t;
	bool ok = false;

	alias_targets_init(&t);
	parts_split(c, addr, &p);
	if (p.domain == NULL || !conf_is_local_domain(c, p.domain)) {
		note(x, depth, "%s: remote", addr);
		ok = add_final(x, addr, RCPT_ADDRESS, NULL, owner, st);
		goto out;
	}
	/* Alias names are stored unquoted ("weird name": ...). */
	for (const char *s = buf_cstr(&p.local); *s; s++) {
		if (*s == '"')
			continue;
		if (*s == '\\' && s[1])
			s++;
		buf_putc(&name, tolower((unsigned char)*s));
	}
	for (const char *s = buf_cstr(&p.user); *s; s++) {
		if (*s == '"')
			continue;
		if (*s == '\\' && s[1])
			s++;
		buf_putc(&user, tolower((unsigned char)*s));
	}
	const char *keys[2] = { name.data, p.ext.len ? user.data : NULL };
	int k = maplist_find(x->rw, &x->rw->aliases, keys, 2, &value, st);
	if (k == -2)
		goto out;
	if (k == -1) {
		note(x, depth, "%s: local mailbox of user %s", addr, user.data);
		ok = add_final(x, addr, RCPT_ADDRESS, NULL, owner, st);
		goto out;
	}
	const char *matched = keys[k];
	for (int i = 0; i < depth && i <= REWRITE_MAX_DEPTH; i++) {
		if (x->chain[i] && strcmp(x->chain[i], matched) == 0) {
			status_set(st, STATUS_PERM, "5.4.6", EXIT_NOUSER,
			    "alias database loop for %s", matched);
			goto out;
		}
	}
	if (depth >= REWRITE_MAX_DEPTH) {
		status_set(st, STATUS_PERM, "5.4.6", EXIT_NOUSER, "alias database loop for %s", matched);
		goto out;
	}
	x->chain[depth] = matched;
	/* owner-NAME receives the errors of NAME's expansion. */
	buf_printf(&okey, "owner-%s", matched);
	const char *okeys[1] = { okey.data };
	int ok_rc = strncmp(matched, "owner-", 6) == 0 ? -1 :
	    maplist_find(x->rw, &x->rw->aliases, okeys, 1, &ovalue, st);
	if (ok_rc == -2)
		goto out;
	if (ok_rc >= 0) {
		buf_printf(&owner_addr, "%s@%s", okey.data, c->myorigin);
		owner = owner_addr.data;
	}
	note(x, depth, "%s: alias %s -> %s%s%s", addr, matched, value.data,
	    owner_addr.len ? ", errors to " : "", owner_addr.len ? owner_addr.data : "");
	if (!aliases_split(value.data, &t, &why)) {
		status_set(st, STATUS_PERM, "5.3.0", EXIT_DATAERR, "alias %s: %s", matched,
		    buf_cstr(&why));
		goto out;
	}
	ok = expand_targets(x, &t, matched, p.domain, depth, owner, "alias", st);
	x->chain[depth] = NULL;
out:
	alias_targets_clear(&t);
	parts_clear(&p);
	buf_clear(&value);
	buf_clear(&name);
	buf_clear(&user);
	buf_clear(&okey);
	buf_clear(&ovalue);
	buf_clear(&owner_addr);
	buf_clear(&why);
	return ok;
}

bool
rewrite_expand(struct rewrite *rw, const char *addr, const char *orig_addr,
    unsigned notify, struct envelope *env, const struct rewrite_trace *trace,
    struct status *st)
{
	struct expand x;
	memset(&x, 0, sizeof x);
	x.rw = rw;
	x.env = env;
	x.orig = orig_addr;
	x.notify = notify;
	x.trace = trace;
	return expand_addr(&x, addr, 0, NULL, st);
}
