/* addr - parse, validate and quote mail addresses (see addr.h).
 *
 * Every address satmail acts on comes through here: header lists (-t,
 * canonical rewriting of headers), command-line arguments and records read
 * back from the queue.  The parse is two passes over the input.  The lexer
 * looks at every byte once (NUL, controls, strict UTF-8, folding) and cuts
 * the text into RFC 5322 tokens that remember their byte offsets; the
 * grammar pass walks the tokens and builds canonical addresses.  Nothing
 * recurses on input: comment nesting is a counter with a bound, and groups
 * cannot nest.  The parser keeps no global state. */
#include "addr.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xalloc.h"

#define ADDR_MAX_LABEL		63
#define ADDR_MAX_NESTING	100	/* comment depth: "((((...))))" */

enum addr_mode {
	MODE_LIST,	/* header field body: folding allowed */
	MODE_ARG,	/* command line: no folding, "<>" and "" are the null sender */
	MODE_CANON,	/* queue/helper records: no white space, no comments */
};

enum tok_type {
	T_EOF,
	T_WS,		/* white space, including folding */
	T_COMMENT,	/* value: the text inside the outer parentheses */
	T_ATOM,		/* 1*atext (UTF-8 included); the value is the text itself */
	T_QS,		/* value: the content, quoted-pairs and folding removed */
	T_DLIT,		/* value: the content without brackets, outer WSP trimmed */
	T_SPECIAL,	/* one of < > @ , ; : . */
};

struct tok {
	enum tok_type type;
	char c;			/* T_SPECIAL: which */
	size_t start, end;	/* text[start..end) */
	size_t voff, vlen;	/* T_COMMENT, T_QS, T_DLIT: value in the arena */
};

struct parser {
	const char *s;
	size_t len;
	enum addr_mode mode;
	struct tok *t;		/* ends with one T_EOF */
	size_t nt, cap;
	size_t pos;		/* current token */
	struct buf arena;	/* decoded token values */
	struct buf *why;
	bool failed;
	struct addr_list *out;
	size_t n0;		/* out->n on entry, for the roll back */
};

static bool parse_address(struct parser *p, bool in_group);

/* Records the first error as "WHAT at offset N"; always returns false so
 * that callers can write "return fail(...)". */
static bool fail(struct parser *p, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool
fail(struct parser *p, size_t off, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return false;
	p->failed = true;
	if (p->why == NULL)
		return false;
	buf_reset(p->why);
	va_start(ap, fmt);
	buf_vprintf(p->why, fmt, ap);
	va_end(ap);
	buf_printf(p->why, " at offset %zu", off);
	return false;
}

/* ---- characters ---- */

static bool
is_atext(unsigned c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != 0 && c < 0x80 && strchr("!#$%&'*+-/=?^_`{|}~", (int)c);
}

static bool
is_ctl(unsigned c)
{
	return c < 0x20 || c == 0x7f;
}

/* Length of the UTF-8 sequence at s[i] (lead byte >= 0x80), or 0 when it
 * is not well-formed: overlong forms, surrogates, code points above
 * U+10FFFF and truncated sequences are refused (RFC 3629).  The C1
 * controls U+0080..U+009F are refused too: they are control characters,
 * and nothing we return may hold one. */
static size_t
utf8_seq(const unsigned char *s, size_t len, size_t i)
{
	unsigned c = s[i];
	unsigned lo = 0x80, hi = 0xbf;
	size_t n;

	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		if (c == 0xc2)
			lo = 0xa0;	/* U+0080..U+009F: C1 controls */
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (c == 0xed)
			hi = 0x9f;	/* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;	/* overlong */
		else if (c == 0xf4)
			hi = 0x8f;	/* above U+10FFFF */
	} else {
		return 0;
	}
	if (n > len - i)
		return 0;
	if (s[i + 1] < lo || s[i + 1] > hi)
		return 0;
	for (size_t k = 2; k < n; k++)
		if (s[i + k] < 0x80 || s[i + k] > 0xbf)
			return 0;
	return n;
}

/* ---- domains ---- */

/* Why the label s[0..n) is not an LDH label or a UTF-8 label (RFC 5321
 * sub-domain, RFC 6531 U-label octets), or NULL; *bad is the offending
 * index.  The underscore is refused: it is not in RFC 5321's grammar. */
static const char *
label_error(const unsigned char *s, size_t n, size_t *bad)
{
	*bad = 0;
	if (n == 0)
		return "empty label in domain";
	if (n > ADDR_MAX_LABEL)
		return "domain label longer than 63 octets";
	if (s[0] == '-')
		return "domain label starts with '-'";
	if (s[n - 1] == '-') {
		*bad = n - 1;
		return "domain label ends with '-'";
	}
	for (size_t i = 0; i < n;) {
		unsigned c = s[i];
		if (c >= 0x80) {
			size_t k = utf8_seq(s, n, i);
			if (k == 0) {
				*bad = i;
				return "invalid UTF-8 in domain label";
			}
			i += k;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-')) {
			*bad = i;
			return "invalid character in domain label";
		}
		i++;
	}
	return NULL;
}

/* The inside of an address literal: an IPv4 dotted quad or "IPv6:" and an
 * IPv6 address (RFC 5321 4.1.3).  General-address-literals name no
 * protocol we could use, so they are refused. */
static bool
literal_valid(const char *v, size_t n)
{
	char tmp[64];
	unsigned char bin[16];
	int af = AF_INET;

	if (n >= 5 && strncasecmp(v, "IPv6:", 5) == 0) {
		af = AF_INET6;
		v += 5;
		n -= 5;
	}
	if (n == 0 || n >= sizeof tmp || memchr(v, '\0', n))
		return false;
	memcpy(tmp, v, n);
	tmp[n] = '\0';
	return inet_pton(af, tmp, bin) == 1;
}

bool
addr_valid_domain(const char *domain)
{
	size_t n, bad;

	if (domain == NULL)
		return false;
	n = strlen(domain);
	if (n == 0 || n > ADDR_MAX_DOMAIN)
		return false;
	if (domain[0] == '[')
		return n >= 3 && domain[n - 1] == ']' &&
		    literal_valid(domain + 1, n - 2);
	for (const char *l = domain;;) {
		const char *dot = strchr(l, '.');
		size_t ln = dot ? (size_t)(dot - l) : strlen(l);
		if (label_error((const unsigned char *)l, ln, &bad))
			return false;
		if (dot == NULL)
			return true;
		l = dot + 1;
	}
}

/* ---- lexer ---- */

static void
push_tok(struct parser *p, const struct tok *tk)
{
	if (p->nt == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 32;
		p->t = xreallocarray(p->t, p->cap, sizeof *p->t);
	}
	p->t[p->nt++] = *tk;
}

/* At a CR or LF: the length of the line break when it is folding (CRLF or
 * LF followed by a space or tab) or the field's own line end at the very
 * end of the text; 0 after fail() otherwise.  Only header field bodies
 * fold; a command-line argument or a queue record holding a line break is
 * broken or hostile. */
static size_t
line_break(struct parser *p, size_t i)
{
	const char *s = p->s;
	size_t n = 1;

	if (p->mode != MODE_LIST) {
		fail(p, i, "line break");
		return 0;
	}
	if (s[i] == '\r') {
		if (i + 1 >= p->len || s[i + 1] != '\n') {
			fail(p, i, "CR not followed by LF");
			return 0;
		}
		n = 2;
	}
	if (i + n == p->len || s[i + n] == ' ' || s[i + n] == '\t')
		return n;
	fail(p, i, "line break not followed by white space");
	return 0;
}

/* Checks one byte that is about to become part of a token: NUL, controls
 * (a tab only where allow_tab) and UTF-8.  Returns the length of the
 * character (1 for ASCII) or 0 after fail(). */
static size_t
check_char(struct parser *p, size_t i, bool allow_tab)
{
	const unsigned char *s = (const unsigned char *)p->s;
	unsigned c = s[i];
	size_t n;

	if (c == 0) {
		fail(p, i, "NUL byte");
		return 0;
	}
	if (c == '\t' && allow_tab)
		return 1;
	if (is_ctl(c)) {
		fail(p, i, "control character 0x%02x", c);
		return 0;
	}
	if (c < 0x80)
		return 1;
	if ((n = utf8_seq(s, p->len, i)) == 0)
		fail(p, i, "invalid UTF-8");
	return n;
}

/* A quoted string, comment or domain literal starting at *ip (on the
 * opening character).  The decoded value goes to the arena: quoted-pairs
 * unescaped, line breaks of folding removed (the white space after them
 * stays, RFC 5322 3.2.2), nested comments kept as written. */
static bool
lex_enclosed(struct parser *p, size_t *ip, struct tok *tk)
{
	const unsigned char *s = (const unsigned char *)p->s;
	size_t open = *ip, i = open + 1;
	unsigned oc = s[open];
	const char *what = oc == '"' ? "quoted string" :
	    oc == '(' ? "comment" : "domain literal";
	int depth = 1;

	tk->voff = p->arena.len;
	for (;;) {
		unsigned c;
		size_t n;

		if (i >= p->len)
			return fail(p, open, "unterminated %s", what);
		c = s[i];
		if (c == '\r' || c == '\n') {
			if ((n = line_break(p, i)) == 0)
				return false;
			i += n;
			continue;
		}
		if (c == '\\') {
			if (oc == '[')
				return fail(p, i, "backslash in domain literal");
			if (++i >= p->len)
				return fail(p, open, "unterminated %s", what);
			/* quoted-pair = "\" (VCHAR / WSP): no controls,
			 * no line breaks, nothing but the one character. */
			if (s[i] == '\r' || s[i] == '\n')
				return fail(p, i, "line break in quoted pair");
		} else if (oc == '"' && c == '"') {
			i++;
			break;
		} else if (oc == '(' && c == '(') {
			if (++depth > ADDR_MAX_NESTING)
				return fail(p, i, "comments nested deeper than %d",
				    ADDR_MAX_NESTING);
		} else if (oc == '(' && c == ')') {
			if (--depth == 0) {
				i++;
				break;
			}
		} else if (oc == '[' && c == '[') {
			return fail(p, i, "'[' inside domain literal");
		} else if (oc == '[' && c == ']') {
			i++;
			break;
		} else if (p->mode == MODE_CANON && oc == '[' &&
		    (c == ' ' || c == '\t')) {
			return fail(p, i, "white space in domain literal");
		}
		if ((n = check_char(p, i, true)) == 0)
			return false;
		buf_append(&p->arena, s + i, n);
		i += n;
	}
	tk->vlen = p->arena.len - tk->voff;
	if (oc == '[') {
		/* "[" *([FWS] dtext) [FWS] "]": the outer FWS means nothing */
		const char *v = p->arena.data ? p->arena.data : "";
		while (tk->vlen && (v[tk->voff] == ' ' || v[tk->voff] == '\t')) {
			tk->voff++;
			tk->vlen--;
		}
		while (tk->vlen && (v[tk->voff + tk->vlen - 1] == ' ' ||
		    v[tk->voff + tk->vlen - 1] == '\t'))
			tk->vlen--;
	}
	tk->type = oc == '"' ? T_QS : oc == '(' ? T_COMMENT : T_DLIT;
	tk->end = i;
	*ip = i;
	return true;
}

static bool
lex(struct parser *p)
{
	const unsigned char *s = (const unsigned char *)p->s;
	size_t i = 0, n;

	while (i < p->len) {
		struct tok tk = { .type = T_EOF, .start = i };
		unsigned c = s[i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			if (p->mode == MODE_CANON && (c == ' ' || c == '\t'))
				return fail(p, i, "white space");
			while (i < p->len) {
				c = s[i];
				if (c == ' ' || c == '\t') {
					i++;
				} else if (c == '\r' || c == '\n') {
					if ((n = line_break(p, i)) == 0)
						return false;
					i += n;
				} else {
					break;
				}
			}
			tk.type = T_WS;
			tk.end = i;
		} else if (c == '"' || c == '(' || c == '[') {
			if (c == '(' && p->mode == MODE_CANON)
				return fail(p, i, "comment");
			if (!lex_enclosed(p, &i, &tk))
				return false;
		} else if (c != 0 && strchr("<>@,;:.", (int)c)) {
			tk.type = T_SPECIAL;
			tk.c = (char)c;
			tk.end = ++i;
		} else if (c == ')') {
			return fail(p, i, "unbalanced ')'");
		} else if (c == ']') {
			return fail(p, i, "unbalanced ']'");
		} else if (c == '\\') {
			return fail(p, i, "backslash outside quoted string");
		} else if (is_atext(c) || c >= 0x80) {
			while (i < p->len && (is_atext(s[i]) || s[i] >= 0x80)) {
				if ((n = check_char(p, i, false)) == 0)
					return false;
				i += n;
			}
			tk.type = T_ATOM;
			tk.end = i;
		} else {
			(void)check_char(p, i, false);	/* says why */
			return false;
		}
		push_tok(p, &tk);
	}
	struct tok eof = { .type = T_EOF, .start = p->len, .end = p->len };
	push_tok(p, &eof);
	return true;
}

/* ---- grammar ---- */

static struct tok *
cur(struct parser *p)
{
	return &p->t[p->pos];
}

static bool
is_sp(const struct tok *t, char c)
{
	return t->type == T_SPECIAL && t->c == c;
}

static const char *
tok_value(const struct parser *p, const struct tok *t)
{
	if (t->type == T_ATOM)
		return p->s + t->start;
	return p->arena.data ? p->arena.data + t->voff : "";
}

static size_t
tok_vlen(const struct tok *t)
{
	return t->type == T_ATOM ? t->end - t->start : t->vlen;
}

/* Names a token for an error message without echoing untrusted bytes. */
static const char *
tok_name(const struct tok *t)
{
	switch (t->type) {
	case T_EOF:
		return "end of input";
	case T_WS:
		return "white space";
	case T_COMMENT:
		return "comment";
	case T_ATOM:
		return "word";
	case T_QS:
		return "quoted string";
	case T_DLIT:
		return "domain literal";
	case T_SPECIAL:
		break;
	}
	switch (t->c) {
	case '<':
		return "'<'";
	case '>':
		return "'>'";
	case '@':
		return "'@'";
	case ',':
		return "','";
	case ';':
		return "';'";
	case ':':
		return "':'";
	default:
		return "'.'";
	}
}

static bool
unexpected(struct parser *p, const struct tok *t, const char *where)
{
	if (is_sp(t, '>'))
		return fail(p, t->start, "unbalanced '>'");
	return fail(p, t->start, "unexpected %s %s", tok_name(t), where);
}

static void
skip_cfws(struct parser *p)
{
	while (cur(p)->type == T_WS || cur(p)->type == T_COMMENT)
		p->pos++;
}

/* Appends s[0..n) to b with every run of white space turned into one
 * space and none at either end; *space carries a pending separator from
 * one piece to the next. */
static void
put_collapsed(struct buf *b, const char *s, size_t n, bool *space)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == ' ' || s[i] == '\t') {
			*space = true;
			continue;
		}
		if (*space && b->len > 0)
			buf_putc(b, ' ');
		*space = false;
		buf_putc(b, s[i]);
	}
}

/* The display name from phrase tokens [from, to): words, and the
 * obsolete unquoted "." and (in a mailbox) "@" as written, comments
 * dropped, white space collapsed.  *out is NULL when nothing is left. */
static bool
make_display(struct parser *p, size_t from, size_t to, bool allow_at,
    char **out)
{
	struct buf b = BUF_INIT;
	bool space = false;

	*out = NULL;
	for (size_t k = from; k < to; k++) {
		const struct tok *t = &p->t[k];
		switch (t->type) {
		case T_WS:
		case T_COMMENT:
			space = true;
			break;
		case T_ATOM:
		case T_QS:
			put_collapsed(&b, tok_value(p, t), tok_vlen(t), &space);
			break;
		case T_SPECIAL:
			if (t->c == '.' || (t->c == '@' && allow_at)) {
				put_collapsed(&b, &t->c, 1, &space);
				break;
			}
			/* FALLTHROUGH */
		default:
			buf_clear(&b);
			return fail(p, t->start, "%s in %s", tok_name(t),
			    allow_at ? "display name" : "group name");
		}
	}
	if (b.len > 0)
		*out = buf_steal(&b);
	return true;
}

/* For a bare addr-spec, Postfix takes a trailing comment as the full name
 * ("a@x (Alice)").  Consumes the CFWS after the addr-spec and returns the
 * comments' text, or NULL. */
static char *
comment_display(struct parser *p)
{
	struct buf b = BUF_INIT;
	bool space = false;

	for (; cur(p)->type == T_WS || cur(p)->type == T_COMMENT; p->pos++) {
		const struct tok *t = cur(p);
		if (t->type == T_COMMENT) {
			put_collapsed(&b, tok_value(p, t), t->vlen, &space);
			space = true;
		}
	}
	if (b.len == 0)
		return NULL;
	return buf_steal(&b);
}

/* local-part = word *("." word), with CFWS allowed around the dots
 * (obs-local-part).  The words are decoded into raw.  Leaves p->pos just
 * after the last word, so trailing CFWS stays for the caller. */
static bool
parse_local(struct parser *p, struct buf *raw, size_t *start, size_t *end,
    size_t *nwords, bool *quoted)
{
	struct tok *t = cur(p);

	if (t->type != T_ATOM && t->type != T_QS)
		return fail(p, t->start, "expected local part, found %s",
		    tok_name(t));
	*start = t->start;
	for (;;) {
		size_t save;

		buf_append(raw, tok_value(p, t), tok_vlen(t));
		if (t->type == T_QS)
			*quoted = true;
		(*nwords)++;
		*end = t->end;
		p->pos++;
		save = p->pos;
		skip_cfws(p);
		if (!is_sp(cur(p), '.')) {
			p->pos = save;
			return true;
		}
		p->pos++;
		skip_cfws(p);
		t = cur(p);
		if (t->type != T_ATOM && t->type != T_QS)
			return fail(p, t->start,
			    "expected word after '.' in local part, found %s",
			    tok_name(t));
		buf_putc(raw, '.');
	}
}

/* True when s[0..n) is a dot-atom: 1*atext *("." 1*atext), UTF-8 being
 * atext (RFC 6532).  Such a local part is written without quotes. */
static bool
is_dot_atom(const char *s, size_t n)
{
	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned c = (unsigned char)s[i];
		if (c == '.' ? s[i + 1] == '.' : !(is_atext(c) || c >= 0x80))
			return false;
	}
	return true;
}

/* The canonical local part from its decoded text: unquoted when it is a
 * dot-atom, else a quoted-string with only '"' and '\' escaped (RFC 5321
 * 4.1.2: quote only what needs it).  The 64-octet limit applies to what
 * goes on the wire, quotes included. */
static bool
make_local(struct parser *p, const struct buf *raw, size_t start,
    bool has_domain, char **out)
{
	const char *r = buf_cstr(raw);
	struct buf b = BUF_INIT;

	for (size_t i = 0; i < raw->len; i++)
		if (is_ctl((unsigned char)r[i]))
			return fail(p, start,
			    "control character 0x%02x in local part",
			    (unsigned char)r[i]);
	if (raw->len == 0 && !has_domain)
		return fail(p, start, "empty address");
	if (is_dot_atom(r, raw->len)) {
		buf_append(&b, r, raw->len);
	} else {
		buf_putc(&b, '"');
		for (size_t i = 0; i < raw->len; i++) {
			if (r[i] == '"' || r[i] == '\\')
				buf_putc(&b, '\\');
			buf_putc(&b, r[i]);
		}
		buf_putc(&b, '"');
	}
	if (b.len > ADDR_MAX_LOCAL) {
		buf_clear(&b);
		return fail(p, start, "local part longer than %d octets",
		    ADDR_MAX_LOCAL);
	}
	*out = buf_steal(&b);
	return true;
}

/* domain = dot-atom / domain-literal / obs-domain (CFWS around the dots,
 * removed here).  Each label is checked where it stands, so that errors
 * name the right offset.  Leaves p->pos after the last token. */
static bool
parse_domain(struct parser *p, struct buf *dom, size_t *end)
{
	struct tok *t = cur(p);
	size_t dstart = t->start, bad;
	const char *why;

	if (t->type == T_DLIT) {
		if (!literal_valid(tok_value(p, t), t->vlen))
			return fail(p, t->start, "invalid address literal");
		buf_putc(dom, '[');
		buf_append(dom, tok_value(p, t), t->vlen);
		buf_putc(dom, ']');
		*end = t->end;
		p->pos++;
	} else if (t->type == T_ATOM) {
		for (;;) {
			size_t save, dot;

			why = label_error((const unsigned char *)p->s + t->start,
			    t->end - t->start, &bad);
			if (why)
				return fail(p, t->start + bad, "%s", why);
			buf_append(dom, p->s + t->start, t->end - t->start);
			*end = t->end;
			p->pos++;
			save = p->pos;
			skip_cfws(p);
			if (!is_sp(cur(p), '.')) {
				p->pos = save;
				break;
			}
			dot = cur(p)->start;
			p->pos++;
			skip_cfws(p);
			t = cur(p);
			if (is_sp(t, '.'))
				return fail(p, t->start, "empty label in domain");
			if (t->type != T_ATOM) {
				if (t->type == T_QS || t->type == T_DLIT)
					return fail(p, t->start,
					    "%s in domain", tok_name(t));
				return fail(p, dot, "domain ends with '.'");
			}
			buf_putc(dom, '.');
		}
	} else if (is_sp(t, '.')) {
		return fail(p, t->start, "empty label in domain");
	} else {
		return fail(p, t->start, "expected domain after '@', found %s",
		    tok_name(t));
	}
	if (dom->len > ADDR_MAX_DOMAIN)
		return fail(p, dstart, "domain longer than %d octets",
		    ADDR_MAX_DOMAIN);
	return true;
}

/* addr-spec = local-part ["@" domain]; a missing domain gives a
 * domainless address ("root").  p->pos is on the first word.  Fills a's
 * local, domain, start and end; on failure a is cleared. */
static bool
parse_addr_spec(struct parser *p, struct addr *a)
{
	struct buf raw = BUF_INIT, dom = BUF_INIT;
	size_t lstart = 0, lend = 0, nwords = 0, save;
	bool quoted = false, has_domain = false, ok = false;

	if (!parse_local(p, &raw, &lstart, &lend, &nwords, &quoted))
		goto out;
	/* RFC 5321 Local-part = Dot-string / Quoted-string: one or the
	 * other, not the RFC 5322 obsolete mix. */
	if (p->mode == MODE_CANON && quoted && nwords > 1) {
		fail(p, lstart, "quoted string mixed with dots in local part");
		goto out;
	}
	a->start = lstart;
	a->end = lend;
	save = p->pos;
	skip_cfws(p);
	if (is_sp(cur(p), '@')) {
		p->pos++;
		skip_cfws(p);
		if (!parse_domain(p, &dom, &a->end))
			goto out;
		has_domain = true;
	} else {
		p->pos = save;
	}
	if (!make_local(p, &raw, lstart, has_domain, &a->local))
		goto out;
	if (has_domain)
		a->domain = buf_steal(&dom);
	if (strlen(a->local) + (a->domain ? 1 + strlen(a->domain) : 0) >
	    ADDR_MAX_ADDRESS) {
		fail(p, lstart, "address longer than %d octets",
		    ADDR_MAX_ADDRESS);
		goto out;
	}
	ok = true;
out:
	buf_clear(&raw);
	buf_clear(&dom);
	if (!ok)
		addr_clear(a);
	return ok;
}

/* Moves *a (zeroed afterwards) to the end of the output list. */
static bool
push_addr(struct parser *p, struct addr *a)
{
	struct addr_list *l = p->out;

	if (l->n - p->n0 >= ADDR_MAX_LIST) {
		fail(p, a->start, "more than %d addresses", ADDR_MAX_LIST);
		addr_clear(a);
		return false;
	}
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 4;
		l->v = xreallocarray(l->v, l->cap, sizeof *l->v);
	}
	l->v[l->n++] = *a;
	memset(a, 0, sizeof *a);
	return true;
}

/* obs-route = obs-domain-list ":" (RFC 5322 4.4).  Checked and dropped:
 * RFC 5321 C says source routes are to be ignored. */
static bool
parse_route(struct parser *p)
{
	struct buf dom = BUF_INIT;
	bool ok = false, first = true;
	struct tok *t;
	size_t end;

	for (;;) {
		while (cur(p)->type == T_WS || cur(p)->type == T_COMMENT ||
		    is_sp(cur(p), ','))
			p->pos++;
		t = cur(p);
		if (!first && is_sp(t, ':'))
			break;
		if (!is_sp(t, '@')) {
			unexpected(p, t, "in source route");
			goto out;
		}
		p->pos++;
		skip_cfws(p);
		buf_reset(&dom);
		if (!parse_domain(p, &dom, &end))
			goto out;
		skip_cfws(p);
		t = cur(p);
		if (is_sp(t, ':'))
			break;
		if (!is_sp(t, ',')) {
			unexpected(p, t, "in source route");
			goto out;
		}
		first = false;
	}
	p->pos++;	/* the ':' */
	ok = true;
out:
	buf_clear(&dom);
	return ok;
}

/* angle-addr = "<" [obs-route] addr-spec ">"; p->pos is on the '<'.
 * Takes ownership of display.  "<>" is the null sender, which only the
 * command line and the canonical form may carry. */
static bool
parse_angle(struct parser *p, char *display)
{
	struct addr a = { .display = display, .angle = true };
	size_t lt = cur(p)->start, rstart;
	bool ok = false, route = false;
	struct tok *t;

	p->pos++;
	skip_cfws(p);
	t = cur(p);
	if (t->type == T_EOF) {
		fail(p, lt, "unbalanced '<'");
		goto out;
	}
	if (is_sp(t, '>')) {
		if (p->mode == MODE_LIST) {
			fail(p, lt, "empty address '<>'");
			goto out;
		}
		a.local = xstrdup("");
		a.start = a.end = t->start;
		p->pos++;
		ok = push_addr(p, &a);
		goto out;
	}
	rstart = t->start;
	if (is_sp(t, '@') || is_sp(t, ',')) {
		if (!parse_route(p))
			goto out;
		route = true;
		skip_cfws(p);
	}
	if (!parse_addr_spec(p, &a))
		goto out;
	/* A rewriter replaces the route too, which drops it. */
	if (route)
		a.start = rstart;
	skip_cfws(p);
	t = cur(p);
	if (!is_sp(t, '>')) {
		if (t->type == T_EOF)
			fail(p, lt, "unbalanced '<'");
		else
			fail(p, t->start, "expected '>', found %s",
			    tok_name(t));
		goto out;
	}
	p->pos++;
	ok = push_addr(p, &a);
out:
	addr_clear(&a);
	return ok;
}

/* group = display-name ":" [mailbox-list / CFWS] ";" (RFC 5322 3.4),
 * flattened into its members.  colon is the index of the ':' token. */
static bool
parse_group(struct parser *p, size_t colon)
{
	size_t open = p->t[colon].start;
	char *name = NULL;
	struct tok *t;

	if (!make_display(p, p->pos, colon, false, &name))
		return false;
	if (name == NULL)
		return fail(p, open, "group without a name");
	free(name);
	p->pos = colon + 1;
	for (;;) {
		skip_cfws(p);
		t = cur(p);
		if (is_sp(t, ',')) {
			p->pos++;
			continue;
		}
		if (!is_sp(t, ';') && t->type != T_EOF) {
			if (!parse_address(p, true))
				return false;
			skip_cfws(p);
			t = cur(p);
		}
		if (is_sp(t, ';')) {
			p->pos++;
			return true;
		}
		if (t->type == T_EOF)
			return fail(p, open, "unterminated group (no ';')");
		if (!is_sp(t, ','))
			return unexpected(p, t, "after address in group");
		p->pos++;
	}
}

/* Tokens that can make up a display name or an addr-spec. */
static bool
is_phrase_tok(const struct tok *t)
{
	switch (t->type) {
	case T_ATOM:
	case T_QS:
	case T_DLIT:
	case T_WS:
	case T_COMMENT:
		return true;
	case T_SPECIAL:
		return t->c == '.' || t->c == '@';
	default:
		return false;
	}
}

/* address = name-addr / addr-spec / group.  What follows the leading
 * words decides: '<' makes them a display name, ':' a group name, and
 * anything else means they were an addr-spec. */
static bool
parse_address(struct parser *p, bool in_group)
{
	size_t k = p->pos;
	struct addr a = { 0 };
	const struct tok *d;

	while (is_phrase_tok(&p->t[k]))
		k++;
	d = &p->t[k];
	if (is_sp(d, '<')) {
		char *display = NULL;
		if (!make_display(p, p->pos, k, true, &display))
			return false;
		p->pos = k;
		return parse_angle(p, display);
	}
	if (is_sp(d, ':')) {
		if (in_group)
			return fail(p, d->start, "nested group");
		if (p->mode != MODE_LIST)
			return fail(p, d->start,
			    "group syntax (':') in a command-line address");
		return parse_group(p, k);
	}
	if (k == p->pos && is_sp(d, '>'))
		return fail(p, d->start, "unbalanced '>'");
	if (!parse_addr_spec(p, &a))
		return false;
	a.display = comment_display(p);
	return push_addr(p, &a);
}

/* address-list = [address] *("," [address]): empty elements allowed. */
static bool
parse_list_tokens(struct parser *p)
{
	struct tok *t;

	for (;;) {
		skip_cfws(p);
		t = cur(p);
		if (t->type == T_EOF)
			return true;
		if (is_sp(t, ',')) {
			p->pos++;
			continue;
		}
		if (!parse_address(p, false))
			return false;
		skip_cfws(p);
		t = cur(p);
		if (t->type == T_EOF)
			return true;
		if (!is_sp(t, ','))
			return unexpected(p, t, "after address");
		p->pos++;
	}
}

/* ---- public ---- */

static void
parser_init(struct parser *p, const char *s, size_t len, enum addr_mode mode,
    struct addr_list *out, struct buf *why)
{
	memset(p, 0, sizeof *p);
	p->s = s ? s : "";
	p->len = s ? len : 0;
	p->mode = mode;
	buf_init(&p->arena);
	p->why = why;
	p->out = out;
	p->n0 = out->n;
}

/* Frees the parser; on failure also takes back what it appended. */
static bool
parser_finish(struct parser *p, bool ok)
{
	if (!ok) {
		while (p->out->n > p->n0)
			addr_clear(&p->out->v[--p->out->n]);
		if (!p->failed)
			fail(p, 0, "invalid address");
	}
	free(p->t);
	buf_clear(&p->arena);
	return ok;
}

void
addr_list_init(struct addr_list *l)
{
	l->v = NULL;
	l->n = l->cap = 0;
}

void
addr_list_clear(struct addr_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		addr_clear(&l->v[i]);
	free(l->v);
	addr_list_init(l);
}

void
addr_clear(struct addr *a)
{
	free(a->local);
	free(a->domain);
	free(a->display);
	memset(a, 0, sizeof *a);
}

bool
addr_parse_list(const char *text, size_t len, struct addr_list *out,
    struct buf *why)
{
	struct parser p;

	parser_init(&p, text, len, MODE_LIST, out, why);
	return parser_finish(&p, lex(&p) && parse_list_tokens(&p));
}

bool
addr_parse_arg(const char *arg, struct addr_list *out, struct buf *why)
{
	struct parser p;
	bool ok;

	parser_init(&p, arg, arg ? strlen(arg) : 0, MODE_ARG, out, why);
	if (p.len == 0) {
		/* sendmail -f '' is the null sender, as "<>" is */
		struct addr a = { .local = xstrdup("") };
		return parser_finish(&p, push_addr(&p, &a));
	}
	ok = lex(&p) && parse_list_tokens(&p);
	if (ok && out->n == p.n0)
		ok = fail(&p, 0, "no address");
	/* "<>" among other addresses is a typo, not a null sender */
	for (size_t i = p.n0; ok && out->n - p.n0 > 1 && i < out->n; i++)
		if (out->v[i].local[0] == '\0' && out->v[i].domain == NULL)
			ok = fail(&p, out->v[i].start,
			    "null address '<>' among other addresses");
	return parser_finish(&p, ok);
}

bool
addr_parse_canonical(const char *s, struct addr *a, struct buf *why)
{
	struct addr_list l;
	struct parser p;
	bool ok;

	memset(a, 0, sizeof *a);
	addr_list_init(&l);
	parser_init(&p, s, s ? strlen(s) : 0, MODE_CANON, &l, why);
	if (p.len == 0) {
		a->local = xstrdup("");
		return parser_finish(&p, true);
	}
	ok = lex(&p);
	if (ok && is_sp(cur(&p), '<')) {
		ok = parse_angle(&p, NULL);
	} else if (ok) {
		struct addr tmp = { 0 };
		ok = parse_addr_spec(&p, &tmp) && push_addr(&p, &tmp);
	}
	if (ok && cur(&p)->type != T_EOF)
		ok = unexpected(&p, cur(&p), "after address");
	ok = parser_finish(&p, ok);
	if (ok) {
		*a = l.v[0];
		l.n = 0;
	}
	addr_list_clear(&l);
	return ok;
}

void
addr_format(const struct addr *a, struct buf *out)
{
	if (a->local)
		buf_puts(out, a->local);
	if (a->domain) {
		buf_putc(out, '@');
		buf_puts(out, a->domain);
	}
}

bool
addr_is_utf8(const struct addr *a)
{
	const char *parts[2] = { a->local, a->domain };

	for (size_t k = 0; k < 2; k++)
		for (const char *c = parts[k]; c && *c; c++)
			if ((unsigned char)*c >= 0x80)
				return true;
	return false;
}
