/* table_regexp - regexp: and pcre: tables: Postfix's rule syntax.
 *
 * One parser for both types (regexp_table(5), pcre_table(5)); the
 * regular-expression library sits behind struct table_pat_engine
 * (POSIX regcomp here, PCRE2 in table_pcre.c).  Rules, one per logical
 * line, tried in order; the first match wins:
 *
 *   /pattern/flags result        match (any delimiter; \ escapes it)
 *   !/pattern/flags result       match when the pattern does not
 *   /pat1/!/pat2/ result         regexp only: pat1 matches, pat2 not
 *   if /pattern/flags            rules up to the matching endif apply
 *   endif                        only when the pattern matches (nested)
 *
 * Flags toggle the defaults: regexp i (case, on), m (newline), x
 * (extended syntax, on); pcre i, m, s (dotall, on), x, A, E, U, X (X is
 * obsolete: ignored with a warning).  In the result, $1..$N or ${N} or
 * $(N) is the text group N matched (empty when it did not take part),
 * $$ is a dollar sign.
 *
 * Postfix only warns about a broken rule and skips it; satmail refuses
 * the whole table instead (TEMP, naming file and line), because skipping
 * one rule silently changes what the rules after it mean.  What Postfix
 * keeps with a warning (no result text, text after if/endif) is kept
 * with a warning here too.  Keys are never folded (the i flag does it). */
#include "table_int.h"

#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "xalloc.h"

#define PAT_ISSPACE(c)	((c) == ' ' || (c) == '\t' || (c) == '\n' || \
			 (c) == '\r' || (c) == '\f' || (c) == '\v')
#define PAT_ISALNUM(c)	(((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') || \
			 ((c) >= '0' && (c) <= '9'))
#define PAT_ISDIGIT(c)	((c) >= '0' && (c) <= '9')

/* A $number beyond this cannot name a group in either library. */
#define PAT_MAX_GROUP	65535

enum pat_op { PAT_MATCH, PAT_IF, PAT_ENDIF };

/* One piece of a result: literal text or a group reference. */
struct pat_seg {
	size_t group;		/* 0 = literal */
	size_t off, len;	/* literal: text[off..off+len) */
};

struct pat_rule {
	enum pat_op op;
	int lineno;
	void *re1, *re2;	/* re2: regexp's "!/pat2/", may be NULL */
	bool match1, match2;	/* false: the rule wants "does not match" */
	char *text;		/* result literals, $$ already turned into $ */
	struct pat_seg *segs;
	size_t nsegs;
	size_t max_sub;		/* highest $number used */
	size_t endif;		/* PAT_IF: index of the matching endif */
};

struct pat_table {
	struct table t;
	const struct table_pat_engine *e;
	struct pat_rule *rules;
	size_t nrules, cap;
	size_t *ov;		/* 2 * (max_sub + 1) offsets */
	size_t max_sub;
	struct buf err;
};

/* A parsed but not yet compiled pattern. */
struct pat_src {
	char *re;		/* points into the line, NUL-terminated */
	unsigned opts;
	bool match;
};

static void
rule_clear(const struct table_pat_engine *e, struct pat_rule *r)
{
	if (r->re1)
		e->free(r->re1);
	if (r->re2)
		e->free(r->re2);
	free(r->text);
	free(r->segs);
	memset(r, 0, sizeof *r);
}

static void
pat_free(struct table *t)
{
	struct pat_table *pt = (struct pat_table *)t;
	for (size_t i = 0; i < pt->nrules; i++)
		rule_clear(pt->e, &pt->rules[i]);
	free(pt->rules);
	free(pt->ov);
	buf_clear(&pt->err);
	table_clear_base(t);
	free(pt);
}

/* Runs one pattern; 1 when the rule's condition holds, 0 when not, -1
 * on a matching error (st set). */
static int
pat_test(struct pat_table *pt, const struct pat_rule *r, void *re, bool want,
    const char *key, size_t klen, size_t nov, struct status *st)
{
	buf_reset(&pt->err);
	int m = pt->e->match(re, key, klen, pt->ov, nov, &pt->err);
	if (m < 0) {
		status_set(st, STATUS_TEMP, "4.3.0", 0, "%s map %s, line %d: %s",
		    pt->e->type, pt->t.name, r->lineno, buf_cstr(&pt->err));
		return -1;
	}
	return (m == 1) == want;
}

static void
pat_expand(const struct pat_table *pt, const struct pat_rule *r, const char *key,
    struct buf *value)
{
	for (size_t i = 0; i < r->nsegs; i++) {
		const struct pat_seg *s = &r->segs[i];
		if (s->group == 0) {
			buf_append(value, r->text + s->off, s->len);
			continue;
		}
		size_t so = pt->ov[2 * s->group], eo = pt->ov[2 * s->group + 1];
		if (so != TABLE_PAT_UNSET && eo != TABLE_PAT_UNSET && eo > so)
			buf_append(value, key + so, eo - so);
	}
}

static int
pat_lookup(struct table *t, const char *key, struct buf *value, struct status *st)
{
	struct pat_table *pt = (struct pat_table *)t;
	size_t klen = strlen(key);

	for (size_t i = 0; i < pt->nrules; i++) {
		const struct pat_rule *r = &pt->rules[i];
		int ok;
		switch (r->op) {
		case PAT_MATCH:
			ok = pat_test(pt, r, r->re1, r->match1, key, klen,
			    r->max_sub ? r->max_sub + 1 : 0, st);
			if (ok < 0)
				return TABLE_ERROR;
			if (ok == 0)
				continue;
			if (r->re2) {
				ok = pat_test(pt, r, r->re2, r->match2, key, klen, 0, st);
				if (ok < 0)
					return TABLE_ERROR;
				if (ok == 0)
					continue;
			}
			pat_expand(pt, r, key, value);
			return TABLE_FOUND;
		case PAT_IF:
			ok = pat_test(pt, r, r->re1, r->match1, key, klen, 0, st);
			if (ok < 0)
				return TABLE_ERROR;
			if (ok == 0)
				i = r->endif;	/* skip the block */
			continue;
		case PAT_ENDIF:
			continue;
		}
	}
	return TABLE_NOTFOUND;
}

static const struct table_ops regexp_ops = {
	.type = "regexp", .fixed = false, .lookup = pat_lookup, .next = NULL,
	.free = pat_free,
};

static const struct table_ops pcre_ops = {
	.type = "pcre", .fixed = false, .lookup = pat_lookup, .next = NULL,
	.free = pat_free,
};

/* ------------------------------------------------------------- parsing */

struct pat_parse {
	struct pat_table *pt;
	const char *file;
	int lineno;
	struct status *st;
};

static bool parse_error(struct pat_parse *pp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static bool
parse_error(struct pat_parse *pp, const char *fmt, ...)
{
	struct buf msg = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	status_set(pp->st, STATUS_TEMP, "4.3.0", 0, "%s map %s, line %d: %s",
	    pp->pt->e->type, pp->file, pp->lineno, msg.data);
	buf_clear(&msg);
	return false;
}

/* Postfix's get_pat: negations, delimiter, pattern, flags. */
static bool
get_pattern(struct pat_parse *pp, char **bufp, struct pat_src *pat)
{
	const struct table_pat_engine *e = pp->pt->e;
	char *p = *bufp, delim;

	pat->match = true;
	for (;; p++) {
		if (*p == '!')
			pat->match = !pat->match;
		else if (!PAT_ISSPACE(*p))
			break;
	}
	if (*p == '\0')
		return parse_error(pp, "no regexp");
	delim = *p++;
	pat->re = p;
	while (*p) {
		if (*p == '\\') {
			if (p[1] == '\0')
				break;
			p++;
		} else if (*p == delim) {
			break;
		}
		p++;
	}
	if (*p == '\0') {
		return parse_error(pp, "no closing regexp delimiter \"%c\"", delim);
	}
	*p++ = '\0';
	pat->opts = e->default_opts;
	while (*p && !PAT_ISSPACE(*p) && !(e->second_pattern && *p == '!')) {
		int r = e->flag(&pat->opts, *p);
		if (r == 0)
			return parse_error(pp, "unknown regexp option \"%c\"", *p);
		if (r < 0)
			log_warning("%s map %s, line %d: ignoring obsolete regexp option "
			    "\"%c\"", e->type, pp->file, pp->lineno, *p);
		p++;
	}
	*bufp = p;
	return true;
}

static void
add_seg(struct pat_rule *r, size_t group, size_t off, size_t len)
{
	if (group == 0 && len == 0)
		return;
	r->segs = xreallocarray(r->segs, r->nsegs + 1, sizeof *r->segs);
	r->segs[r->nsegs++] = (struct pat_seg){ group, off, len };
}

/* Postfix's mac_parse() on the result: $$, $name, ${name}, $(name);
 * every name must be a group number from 1. */
static bool
parse_result(struct pat_parse *pp, const char *v, struct pat_rule *r)
{
	struct buf text = BUF_INIT, name = BUF_INIT;
	size_t lit = 0;		/* start of the pending literal in text */
	bool ok = false;

	while (*v) {
		if (*v != '$') {
			buf_putc(&text, *v++);
			continue;
		}
		if (v[1] == '$') {
			buf_putc(&text, '$');
			v += 2;
			continue;
		}
		add_seg(r, 0, lit, text.len - lit);
		lit = text.len;
		v++;
		buf_reset(&name);
		if (*v == '{' || *v == '(') {
			char open = *v, close = open == '{' ? '}' : ')';
			const char *ep = ++v;
			int level = 1;
			for (; level > 0; ep++) {
				if (*ep == '\0') {
					parse_error(pp, "bad replacement syntax: truncated macro "
					    "reference");
					goto out;
				}
				if (*ep == open)
					level++;
				else if (*ep == close)
					level--;
			}
			buf_append(&name, v, (size_t)(ep - v - 1));
			v = ep;
		} else {
			const char *ep = v;
			while (PAT_ISALNUM(*ep) || *ep == '_')
				ep++;
			buf_append(&name, v, (size_t)(ep - v));
			v = ep;
		}
		if (name.len == 0) {
			parse_error(pp, "bad replacement syntax: empty macro name");
			goto out;
		}
		for (size_t i = 0; i < name.len; i++)
			if (!PAT_ISDIGIT(name.data[i])) {
				parse_error(pp, "non-numeric replacement index \"%s\"", name.data);
				goto out;
			}
		size_t n = 0;
		for (size_t i = 0; i < name.len && n <= PAT_MAX_GROUP; i++)
			n = n * 10 + (size_t)(name.data[i] - '0');
		if (n < 1 || n > PAT_MAX_GROUP) {
			parse_error(pp, "out of range replacement index \"%s\"", name.data);
			goto out;
		}
		add_seg(r, n, 0, 0);
		if (n > r->max_sub)
			r->max_sub = n;
	}
	add_seg(r, 0, lit, text.len - lit);
	r->text = buf_steal(&text);
	ok = true;
out:
	buf_clear(&text);
	buf_clear(&name);
	return ok;
}

static void *
compile(struct pat_parse *pp, const struct pat_src *pat, bool nosub, size_t *nsub)
{
	struct buf err = BUF_INIT;
	void *re = pp->pt->e->compile(pat->re, pat->opts, nosub, nsub, &err);
	if (re == NULL)
		parse_error(pp, "%s", buf_cstr(&err));
	buf_clear(&err);
	return re;
}

/* Text after if/endif is kept with a warning, as Postfix does: it is
 * usually an indented rule that was meant to be on its own line. */
static void
extra_text(struct pat_parse *pp, const char *p, const char *what)
{
	while (PAT_ISSPACE(*p))
		p++;
	if (*p)
		log_warning("%s map %s, line %d: ignoring extra text after %s "
		    "statement: \"%s\"", pp->pt->e->type, pp->file, pp->lineno, what, p);
}

static bool
parse_rule(struct pat_parse *pp, char *p, struct pat_rule *r, size_t depth)
{
	const struct table_pat_engine *e = pp->pt->e;
	struct pat_src first, second = { NULL, 0, true };
	size_t nsub = 0;

	r->lineno = pp->lineno;
	if (!PAT_ISALNUM(*p)) {
		r->op = PAT_MATCH;
		if (!get_pattern(pp, &p, &first))
			return false;
		if (e->second_pattern && *p == '!' && !get_pattern(pp, &p, &second))
			return false;
		while (PAT_ISSPACE(*p))
			p++;
		if (*p == '\0')
			log_warning("%s map %s, line %d: no replacement text: using empty "
			    "string", e->type, pp->file, pp->lineno);
		if (!parse_result(pp, p, r))
			return false;
		if (r->max_sub > 0 && !first.match)
			return parse_error(pp, "$number found in negative match "
			    "replacement text");
		r->match1 = first.match;
		if ((r->re1 = compile(pp, &first, r->max_sub == 0, &nsub)) == NULL)
			return false;
		if (r->max_sub > nsub)
			return parse_error(pp, "out of range replacement index \"%zu\"",
			    r->max_sub);
		if (second.re != NULL) {
			r->match2 = second.match;
			if ((r->re2 = compile(pp, &second, true, &nsub)) == NULL)
				return false;
		}
		return true;
	}
	if (strncasecmp(p, "if", 2) == 0 && !PAT_ISALNUM(p[2])) {
		r->op = PAT_IF;
		p += 2;
		if (!get_pattern(pp, &p, &first))
			return false;
		extra_text(pp, p, "IF");
		r->match1 = first.match;
		return (r->re1 = compile(pp, &first, true, &nsub)) != NULL;
	}
	if (strncasecmp(p, "endif", 5) == 0 && !PAT_ISALNUM(p[5])) {
		r->op = PAT_ENDIF;
		if (depth == 0)
			return parse_error(pp, "ENDIF without matching IF");
		extra_text(pp, p + 5, "ENDIF");
		return true;
	}
	return parse_error(pp, "unrecognized request");
}

struct table *
table_pat_open(const struct table_pat_engine *e, const char *name,
    struct table_source *src, unsigned flags, struct status *st)
{
	struct pat_table *pt = xcalloc(1, sizeof *pt);
	struct pat_parse pp = { pt, name, 0, st };
	struct buf line = BUF_INIT;
	size_t *stack = NULL, depth = 0;
	int r;

	table_init_base(&pt->t, strcmp(e->type, "pcre") == 0 ? &pcre_ops : &regexp_ops,
	    e->type, name, flags);
	pt->e = e;
	buf_init(&pt->err);
	while ((r = table_source_line(src, &line, &pp.lineno, st)) > 0) {
		buf_rtrim(&line);
		if (line.len == 0)
			continue;
		if (pt->nrules == pt->cap) {
			pt->cap = pt->cap ? pt->cap * 2 : 16;
			pt->rules = xreallocarray(pt->rules, pt->cap, sizeof *pt->rules);
		}
		struct pat_rule *rule = &pt->rules[pt->nrules];
		memset(rule, 0, sizeof *rule);
		if (!parse_rule(&pp, line.data, rule, depth)) {
			rule_clear(e, rule);
			r = -1;
			break;
		}
		if (rule->op == PAT_IF) {
			stack = xreallocarray(stack, depth + 1, sizeof *stack);
			stack[depth++] = pt->nrules;
		} else if (rule->op == PAT_ENDIF) {
			pt->rules[stack[--depth]].endif = pt->nrules;
		} else if (rule->max_sub > pt->max_sub) {
			pt->max_sub = rule->max_sub;
		}
		pt->nrules++;
	}
	if (r == 0 && depth > 0) {
		pp.lineno = pt->rules[stack[depth - 1]].lineno;
		parse_error(&pp, "IF has no matching ENDIF");
		r = -1;
	}
	free(stack);
	buf_clear(&line);
	if (r < 0) {
		pat_free(&pt->t);
		return NULL;
	}
	pt->ov = xcalloc(2 * (pt->max_sub + 1), sizeof *pt->ov);
	return &pt->t;
}

/* ------------------------------------------------- the POSIX engine */

struct posix_re {
	regex_t re;
	regmatch_t *pm;		/* nsub + 1, or NULL with REG_NOSUB */
};

static int
posix_flag(unsigned *opts, char c)
{
	switch (c) {
	case 'i':
		*opts ^= REG_ICASE;
		return 1;
	case 'm':
		*opts ^= REG_NEWLINE;
		return 1;
	case 'x':
		*opts ^= REG_EXTENDED;
		return 1;
	default:
		return 0;
	}
}

/* glibc's regcomp() has two blow-ups that fuzz_table found, both from
 * patterns an admin could write by mistake:
 *  - it copies the subexpression under "+" and "{m,n}" once per
 *    repetition, so stacked or nested repetitions grow exponentially
 *    ("a++++++++++++++++++++++++++++++" takes gigabytes);
 *  - its epsilon-closure computation doubles in time with every loop
 *    around something that can match the empty string ("(a?)*" twenty
 *    times, "(.)**...*", "((a)*)*" nested: seconds to hours).
 * Before compiling, estimate the size of the expanded expression and
 * count such empty-matching loops, and refuse patterns beyond either
 * limit.  The scan follows the grammar only as far as these two numbers
 * need; syntax errors are left to regcomp(). */
#define POSIX_MAX_NODES		20000
#define POSIX_MAX_EMPTY_LOOPS	3
#define POSIX_MAX_DEPTH		256

static uint64_t
cost_add(uint64_t a, uint64_t b)
{
	return a + b > POSIX_MAX_NODES + 1 ? POSIX_MAX_NODES + 1 : a + b;
}

static uint64_t
cost_mul(uint64_t a, uint64_t b)
{
	if (a != 0 && b > (POSIX_MAX_NODES + 1) / a)
		return POSIX_MAX_NODES + 1;
	return a * b;
}

/* Parses "m}", "m,}", "m,n}" after '{' (ERE) or "\\{" (BRE): *min and
 * *max (0 = unbounded) and advances *pp past the brace; false when this
 * is not an interval. */
static bool
interval(const char **pp, bool ere, uint64_t *min, uint64_t *max)
{
	const char *p = *pp;
	uint64_t m = 0, n = 0;
	bool any = false, comma = false;
	while (PAT_ISDIGIT(*p)) {
		m = cost_add(cost_mul(m, 10), (uint64_t)(*p++ - '0'));
		any = true;
	}
	if (*p == ',') {
		comma = true;
		p++;
		while (PAT_ISDIGIT(*p)) {
			n = cost_add(cost_mul(n, 10), (uint64_t)(*p++ - '0'));
			any = true;
		}
	}
	if (!any)
		return false;
	if (ere ? *p != '}' : (p[0] != '\\' || p[1] != '}'))
		return false;
	*pp = p + (ere ? 1 : 2);
	*min = m;
	*max = comma ? n : m;
	return true;
}

/* One nesting level: the cost so far, the last atom (for a following
 * repetition), and whether the alternatives can match "". */
struct cost_frame {
	uint64_t sum, last;
	bool last_empty;	/* the last atom can match "" */
	bool alt_empty;		/* this alternative, so far, can match "" */
	bool alt_before;	/* alt_empty before the last atom */
	bool any_empty;		/* some finished alternative can */
};

static bool
posix_too_complex(const char *re, bool ere)
{
	struct cost_frame f[POSIX_MAX_DEPTH];
	size_t depth = 0, loops = 0;
	const char *p = re;

	memset(&f[0], 0, sizeof f[0]);
	f[0].alt_empty = true;
	while (*p) {
		uint64_t min = 0, max = 0;
		bool rep = false, open = false, close = false, alt = false, empty = false;
		if (*p == '[') {
			/* Bracket expression: one node, whatever its size. */
			p++;
			if (*p == '^')
				p++;
			if (*p == ']')
				p++;
			while (*p && *p != ']') {
				if (*p == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
					char kind = p[1];
					const char *e = strchr(p + 2, kind);
					while (e && e[1] != ']')
						e = strchr(e + 1, kind);
					p = e ? e + 2 : p + 1;
				} else {
					p++;
				}
			}
			if (*p)
				p++;
		} else if (*p == '\\' && p[1] != '\0') {
			char c = p[1];
			p += 2;
			if (!ere && c == '(')
				open = true;
			else if (!ere && c == ')')
				close = true;
			else if (!ere && c == '|')
				alt = true;
			else if (!ere && c == '{')
				rep = interval(&p, false, &min, &max);
			else if (!ere && c == '+')
				rep = true, min = 1, max = 0;
			else if (!ere && c == '?')
				rep = true, min = 0, max = 1;
			else
				/* Back-references and word boundaries can match "". */
				empty = PAT_ISDIGIT(c) || strchr("bB<>`'", c) != NULL;
		} else if (ere && *p == '(') {
			open = true;
			p++;
		} else if (ere && *p == ')') {
			close = true;
			p++;
		} else if (ere && *p == '|') {
			alt = true;
			p++;
		} else if (ere && *p == '{') {
			p++;
			rep = interval(&p, true, &min, &max);
		} else if (*p == '*' || (ere && (*p == '+' || *p == '?'))) {
			rep = true;
			min = *p == '+';
			max = *p == '?';
			p++;
		} else {
			empty = *p == '^' || *p == '$';
			p++;
		}
		struct cost_frame *c = &f[depth];
		if (open) {
			if (++depth >= POSIX_MAX_DEPTH)
				return true;
			memset(&f[depth], 0, sizeof f[depth]);
			f[depth].alt_empty = true;
			continue;
		}
		if (alt) {
			c->any_empty |= c->alt_empty;
			c->alt_empty = true;
			c->sum = cost_add(c->sum, 1);
			c->last = 0;
			continue;
		}
		uint64_t atom = 1;
		if (close) {
			if (depth == 0)
				continue;	/* unbalanced: regcomp says so */
			empty = c->any_empty || c->alt_empty;
			atom = cost_add(c->sum, 1);
			c = &f[--depth];
		}
		if (rep) {
			/* A repetition copies the last atom up to max times (the
			 * minimum, plus a loop, when unbounded), again when
			 * stacked; a loop around an atom that matches "" is the
			 * expensive kind. */
			uint64_t times = (max ? max : min) + 1;
			if (max == 0 && c->last_empty)
				loops++;
			uint64_t grown = cost_add(cost_mul(c->last, times), 1);
			c->sum = cost_add(c->sum - c->last, grown);
			c->last = grown;
			if (min == 0) {
				c->last_empty = true;
				c->alt_empty = c->alt_before;
			}
		} else {
			c->sum = cost_add(c->sum, atom);
			c->last = atom;
			c->last_empty = empty;
			c->alt_before = c->alt_empty;
			c->alt_empty = c->alt_empty && empty;
		}
		if (c->sum > POSIX_MAX_NODES || loops > POSIX_MAX_EMPTY_LOOPS)
			return true;
	}
	uint64_t total = 0;
	for (size_t i = 0; i <= depth; i++)
		total = cost_add(total, f[i].sum);
	return total > POSIX_MAX_NODES;
}

static void *
posix_compile(const char *re, unsigned opts, bool nosub, size_t *nsub, struct buf *err)
{
	if (posix_too_complex(re, (opts & REG_EXTENDED) != 0)) {
		buf_printf(err, "regular expression is too complex for the POSIX "
		    "library (expands to over %d nodes, or has over %d loops that "
		    "can match the empty string)", POSIX_MAX_NODES, POSIX_MAX_EMPTY_LOOPS);
		return NULL;
	}
	struct posix_re *p = xcalloc(1, sizeof *p);
	int r = regcomp(&p->re, re, (int)opts | (nosub ? REG_NOSUB : 0));
	if (r != 0) {
		char msg[256];
		regerror(r, &p->re, msg, sizeof msg);
		buf_puts(err, msg);
		free(p);
		return NULL;
	}
	*nsub = p->re.re_nsub;
	if (!nosub)
		p->pm = xcalloc(p->re.re_nsub + 1, sizeof *p->pm);
	return p;
}

static int
posix_match(void *re, const char *s, size_t len, size_t *ov, size_t nov, struct buf *err)
{
	struct posix_re *p = re;
	(void)len;
	if (p->pm == NULL || nov > p->re.re_nsub + 1)
		nov = p->pm == NULL ? 0 : p->re.re_nsub + 1;
	int r = regexec(&p->re, s, nov, p->pm, 0);
	if (r == REG_NOMATCH)
		return 0;
	if (r != 0) {
		char msg[256];
		regerror(r, &p->re, msg, sizeof msg);
		buf_puts(err, msg);
		return -1;
	}
	for (size_t i = 0; i < nov; i++) {
		ov[2 * i] = p->pm[i].rm_so < 0 ? TABLE_PAT_UNSET : (size_t)p->pm[i].rm_so;
		ov[2 * i + 1] = p->pm[i].rm_eo < 0 ? TABLE_PAT_UNSET : (size_t)p->pm[i].rm_eo;
	}
	return 1;
}

static void
posix_free(void *re)
{
	struct posix_re *p = re;
	regfree(&p->re);
	free(p->pm);
	free(p);
}

static const struct table_pat_engine posix_engine = {
	.type = "regexp",
	.default_opts = REG_EXTENDED | REG_ICASE,
	.second_pattern = true,
	.flag = posix_flag,
	.compile = posix_compile,
	.match = posix_match,
	.free = posix_free,
};

struct table *
table_regexp_open(const char *name, struct table_source *src, unsigned flags,
    struct status *st)
{
	return table_pat_open(&posix_engine, name, src, flags, st);
}
