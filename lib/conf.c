/* conf - main.cf read once into an immutable, validated struct (see conf.h).
 *
 * This runs at every sendmail start, so it is built to be cheap: the file
 * is read with one read(2) into a buffer that is parsed in place (logical
 * lines are compacted towards its front and split into name/value pairs
 * that point into it).  Every parameter - the known ones of param_table[]
 * and each unknown name that was set - gets a slot found through a small
 * hash table.  A slot is expanded on first use, so a value may name a
 * parameter set further down or a default; a BUSY mark detects loops.
 * Expansions are built in one scratch buffer and kept in an arena that
 * lives as long as the conf, so conf_get() is a lookup.  Known parameters
 * are then converted, in table order, into the typed struct fields.
 *
 * Nothing here is global except the const tables; the library never
 * exits; errors are one line in the caller's buffer. */
#include "conf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "xalloc.h"

#ifndef SATMAIL_QUEUEDIR
#define SATMAIL_QUEUEDIR	"/var/spool/satmail"
#endif

/* Input limits (named policy).  A main.cf is a few kilobytes; anything
 * near these is not a configuration file. */
#define CONF_MAX_FILE		(4u << 20)	/* bytes of main.cf */
#define CONF_MAX_NESTING	100		/* $ expansion depth, as Postfix */
#define CONF_MAX_FIRST_LINE	1024		/* bytes read of a myorigin file */
#define CONF_MAX_ECHO		120		/* value bytes quoted in a message */

#define ARENA_BLOCK		4096

/* White space as Postfix's ISSPACE() in the C locale. */
#define WS			" \t\r\n\v\f"
/* List elements are separated by commas and/or white space. */
#define LIST_SEP		", \t\r\n\v\f"

/* How a parameter's text becomes its struct field.  The identity kinds
 * also name how the default is computed (param.def is NULL for them). */
enum kind {
	K_STR,		/* char * */
	K_MYHOSTNAME,	/* char *, host name; default from gethostname() */
	K_MYDOMAIN,	/* char *, host name; default from myhostname */
	K_MYORIGIN,	/* char *, host name; "/file" = its first line */
	K_LIST,		/* conf_list */
	K_DOMAINS,	/* conf_list, lower-cased except table references */
	K_BOOL,		/* bool */
	K_TRIBOOL,	/* int: 1 yes, 0 no, -1 empty (unset) */
	K_TIME,		/* unsigned seconds; param.unit for a bare number */
	K_SIZE,		/* long long >= 0 */
	K_COUNT,	/* unsigned <= INT_MAX */
	K_PORT,		/* unsigned 1..65535 */
	K_ENUM,		/* an enum field; param.names lists the words */
	K_PROTOCOLS,	/* enum conf_inet_protocols, from a list */
};

struct enum_name {
	const char *name;
	int value;
};

struct param {
	const char *name;
	const char *def;		/* NULL: computed (identity kinds) */
	enum kind kind;
	char unit;			/* K_TIME: unit of a bare number */
	size_t off;			/* offsetof(struct conf, field) */
	const struct enum_name *names;	/* K_ENUM: accepted words, NULL-ended */
	const char *what;		/* K_ENUM: value type in messages */
};

static const struct enum_name delivery_modes[] = {
	{ "background", DELIVERY_BACKGROUND },
	{ "foreground", DELIVERY_FOREGROUND },
	{ "queue", DELIVERY_QUEUE },
	{ NULL, 0 },
};

/* "fingerprint" is refused with its own message (not implemented);
 * "dane-only" is treated as "dane". */
static const struct enum_name tls_levels[] = {
	{ "none", TLS_LEVEL_NONE },
	{ "may", TLS_LEVEL_MAY },
	{ "encrypt", TLS_LEVEL_ENCRYPT },
	{ "dane", TLS_LEVEL_DANE },
	{ "dane-only", TLS_LEVEL_DANE },
	{ "verify", TLS_LEVEL_VERIFY },
	{ "secure", TLS_LEVEL_SECURE },
	{ NULL, 0 },
};

static const struct enum_name address_preferences[] = {
	{ "any", ADDRPREF_ANY },
	{ "ipv4", ADDRPREF_IPV4 },
	{ "ipv6", ADDRPREF_IPV6 },
	{ NULL, 0 },
};

/* Enum fields are stored through an int; these hold on every ABI we
 * build for, and the build stops where they do not. */
_Static_assert(sizeof(enum conf_delivery_mode) == sizeof(int), "enum size");
_Static_assert(sizeof(enum conf_tls_level) == sizeof(int), "enum size");
_Static_assert(sizeof(enum conf_inet_protocols) == sizeof(int), "enum size");
_Static_assert(sizeof(enum conf_address_preference) == sizeof(int), "enum size");

/* offsetof() plus a compile-time check that the field has the type the
 * kind stores (a _Generic without a matching association does not build). */
#define FIELD(n, type) \
	(offsetof(struct conf, n) + 0 * sizeof(_Generic(((struct conf *)0)->n, type: 1)))
#define PSTR(n, d)	{ #n, d, K_STR, 0, FIELD(n, char *), NULL, NULL }
#define PID(n, k)	{ #n, NULL, k, 0, FIELD(n, char *), NULL, NULL }
#define PLIST(n, d)	{ #n, d, K_LIST, 0, FIELD(n, conf_list), NULL, NULL }
#define PDOMAINS(n, d)	{ #n, d, K_DOMAINS, 0, FIELD(n, conf_list), NULL, NULL }
#define PBOOL(n, d)	{ #n, d, K_BOOL, 0, FIELD(n, bool), NULL, NULL }
#define PTRIBOOL(n, d)	{ #n, d, K_TRIBOOL, 0, FIELD(n, int), NULL, NULL }
#define PTIME(n, d, u)	{ #n, d, K_TIME, u, FIELD(n, unsigned), NULL, NULL }
#define PSIZE(n, d)	{ #n, d, K_SIZE, 0, FIELD(n, long long), NULL, NULL }
#define PCOUNT(n, d)	{ #n, d, K_COUNT, 0, FIELD(n, unsigned), NULL, NULL }
#define PPORT(n, d)	{ #n, d, K_PORT, 0, FIELD(n, unsigned), NULL, NULL }
#define PENUM(n, d, t, tab, what) \
	{ #n, d, K_ENUM, 0, FIELD(n, enum t), tab, what }
#define PPROTOCOLS(n, d) \
	{ #n, d, K_PROTOCOLS, 0, FIELD(n, enum conf_inet_protocols), NULL, NULL }

/* Every parameter satmail knows, with its default: one line each.  Known
 * parameters are validated in this order, so a parameter whose check
 * needs another one comes after it (relayhost after myhostname). */
static const struct param param_table[] = {
	PID(myhostname, K_MYHOSTNAME),
	PID(mydomain, K_MYDOMAIN),
	PID(myorigin, K_MYORIGIN),
	PDOMAINS(mydestination, "$myhostname, localhost.$mydomain, localhost"),
	PSTR(relayhost, ""),

	PLIST(alias_maps, "cdb:/etc/aliases"),
	PLIST(alias_database, "cdb:/etc/aliases"),
	PLIST(canonical_maps, ""),
	PLIST(sender_canonical_maps, ""),
	PLIST(recipient_canonical_maps, ""),
	PSTR(recipient_delimiter, "+"),
	PSTR(default_database_type, "cdb"),

	PSTR(mail_spool_directory, "/var/mail"),
	PSTR(queue_directory, SATMAIL_QUEUEDIR),
	PSIZE(message_size_limit, "10240000"),
	PENUM(delivery_mode, "background", conf_delivery_mode, delivery_modes,
	    "delivery mode"),

	PENUM(smtp_tls_security_level, "may", conf_tls_level, tls_levels,
	    "TLS security level"),
	PTRIBOOL(smtp_tls_wrappermode, ""),
	PSTR(smtp_tls_CAfile, ""),
	PSTR(smtp_tls_CApath, ""),
	PSTR(smtp_tls_cert_file, ""),
	PSTR(smtp_tls_key_file, ""),
	PSTR(smtp_tls_protocols, ">=TLSv1.2"),

	PBOOL(smtp_sasl_auth_enable, "no"),
	PLIST(smtp_sasl_password_maps, ""),
	PSTR(smtp_sasl_password_command, ""),
	PLIST(smtp_sasl_mechanism_filter, ""),
	PLIST(smtp_sasl_security_options, "noplaintext, noanonymous"),
	/* SPEC section 2: "noplaintext" means "plaintext mechanisms only
	 * after TLS", so on a TLS session only anonymous ones are refused
	 * (Postfix's default is $smtp_sasl_security_options). */
	PLIST(smtp_sasl_tls_security_options, "noanonymous"),
	PSTR(smtp_helo_name, "$myhostname"),

	PTIME(smtp_connect_timeout, "30s", 's'),
	PTIME(smtp_helo_timeout, "300s", 's'),
	PTIME(smtp_mail_timeout, "300s", 's'),
	PTIME(smtp_rcpt_timeout, "300s", 's'),
	PTIME(smtp_data_init_timeout, "120s", 's'),
	PTIME(smtp_data_xfer_timeout, "180s", 's'),
	PTIME(smtp_data_done_timeout, "600s", 's'),
	PTIME(smtp_quit_timeout, "300s", 's'),
	PBOOL(smtp_connection_cache_on_demand, "yes"),
	PCOUNT(smtp_connection_reuse_count_limit, "0"),
	PTIME(smtp_connection_reuse_time_limit, "300s", 's'),
	PPORT(smtp_tcp_port, "25"),
	PLIST(dns_servers, ""),
	PPROTOCOLS(inet_protocols, "all"),
	PENUM(smtp_address_preference, "any", conf_address_preference,
	    address_preferences, "address preference"),

	PTIME(minimal_backoff_time, "300s", 's'),
	PTIME(maximal_backoff_time, "4000s", 's'),
	PTIME(maximal_queue_lifetime, "5d", 'd'),
	PTIME(bounce_queue_lifetime, "5d", 'd'),
	PTIME(delay_warning_time, "0h", 'h'),

	PSTR(default_privs, "nobody"),
	PLIST(allow_mail_to_commands, "alias"),
	PLIST(allow_mail_to_files, "alias"),
	PSTR(maillog_file, ""),
	PSTR(mail_owner, "mail"),
	PTIME(command_time_limit, "1000s", 's'),
	PCOUNT(deliver_lock_attempts, "20"),
	PTIME(deliver_lock_delay, "1s", 's'),
	PTIME(stale_lock_time, "500s", 's'),

	PSIZE(header_size_limit, "102400"),
	PCOUNT(hopcount_limit, "50"),
	PSIZE(bounce_size_limit, "50000"),
	PLIST(notify_classes, "resource, software"),
	PSTR(mail_name, "satmail"),
};

#define NPARAMS	(sizeof param_table / sizeof param_table[0])

/* Expanded values and lists live in a chain of blocks freed together. */
struct arena_block {
	struct arena_block *next;
	size_t used, cap;
	max_align_t data[];
};

enum slot_state { SLOT_NEW, SLOT_BUSY, SLOT_DONE };

/* One parameter: a known one (p != NULL) or an unknown name that was set. */
struct slot {
	const char *name;
	size_t namelen;
	const char *raw;	/* last setting, else the default; NULL = computed */
	char *value;		/* expanded; valid once state == SLOT_DONE */
	int line;		/* line of the last setting; 0 = not set */
	int cause;		/* line blamed for a bad value (0 = none) */
	enum slot_state state;
	const struct param *p;
};

struct conf_entry {
	const char *name;
	const char *value;
	int line;
};

struct conf_raw {
	char *text;			/* the file, parsed in place */
	struct conf_entry *entries;	/* every name = value read, in order */
	size_t nentries;
	struct slot *slots;		/* NPARAMS known ones, then unknown ones */
	size_t nslots;
	uint32_t *hash;			/* slot index + 1; 0 = empty */
	size_t hashmask;
	struct arena_block *arena;
};

/* State of one conf_load(); nothing outlives it but c. */
struct loader {
	struct conf *c;
	struct conf_raw *raw;
	const char *file;		/* for messages */
	struct buf *why;
	struct buf scratch;		/* expansions are built here */
	int depth;			/* expansion nesting */
	int cause;			/* blame line of the slot being expanded */
	bool warn_undefined;		/* the value is used by satmail */
};

static bool eval_slot(struct loader *, struct slot *);
static bool expand(struct loader *, struct slot *, const char *, size_t);

static bool
is_space(int ch)
{
	return ch != '\0' && strchr(WS, ch) != NULL;
}

static bool
is_alpha(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool
is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

/* Parameter names in $name are alphanumerics and underscore (Postfix). */
static bool
is_name_char(int ch)
{
	return is_alpha(ch) || is_digit(ch) || ch == '_';
}

static int
to_lower(int ch)
{
	return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch;
}

static void *
arena_alloc(struct arena_block **head, size_t n)
{
	const size_t align = _Alignof(max_align_t);
	if (n > SIZE_MAX / 2)
		panic("conf: arena request of %zu bytes", n);
	size_t need = (n + align - 1) / align * align;
	struct arena_block *b = *head;
	if (b == NULL || b->cap - b->used < need) {
		size_t cap = need > ARENA_BLOCK ? need : ARENA_BLOCK;
		b = xmalloc(offsetof(struct arena_block, data) + cap);
		b->next = *head;
		b->used = 0;
		b->cap = cap;
		*head = b;
	}
	void *p = (char *)b->data + b->used;
	b->used += need;
	return p;
}

static char *
arena_strndup(struct arena_block **head, const char *s, size_t n)
{
	char *p = arena_alloc(head, n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static void
arena_free(struct arena_block *b)
{
	while (b) {
		struct arena_block *next = b->next;
		free(b);
		b = next;
	}
}

/* Name lookup.  FNV-1a is plenty for a few hundred short names. */
static uint32_t
name_hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

static struct slot *
slot_find(const struct conf_raw *raw, const char *name, size_t n)
{
	for (size_t i = name_hash(name, n) & raw->hashmask;; i = (i + 1) & raw->hashmask) {
		uint32_t v = raw->hash[i];
		if (v == 0)
			return NULL;
		struct slot *s = &raw->slots[v - 1];
		if (s->namelen == n && memcmp(s->name, name, n) == 0)
			return s;
	}
}

static struct slot *
slot_add(struct conf_raw *raw, const char *name, const struct param *p)
{
	size_t n = strlen(name);
	struct slot *s = &raw->slots[raw->nslots];
	memset(s, 0, sizeof *s);
	s->name = name;
	s->namelen = n;
	s->p = p;
	s->state = SLOT_NEW;
	size_t i = name_hash(name, n) & raw->hashmask;
	while (raw->hash[i] != 0)
		i = (i + 1) & raw->hashmask;
	raw->hash[i] = (uint32_t)++raw->nslots;
	return s;
}

/* "FILE, line N" (or "FILE" for a value that no setting caused). */
static void
put_where(struct buf *b, const char *file, int line)
{
	if (line > 0)
		buf_printf(b, "%s, line %d", file, line);
	else
		buf_puts(b, file);
}

/* Text quoted in a message: one line, bounded. */
static void
put_text(struct buf *b, const char *v, size_t n)
{
	size_t i;
	for (i = 0; i < n && i < CONF_MAX_ECHO; i++) {
		unsigned char ch = (unsigned char)v[i];
		buf_putc(b, ch < 0x20 || ch == 0x7f ? '?' : ch);
	}
	if (i < n)
		buf_puts(b, "...");
}

static void
put_value(struct buf *b, const char *v)
{
	put_text(b, v, strlen(v));
}

/* Sets why to "FILE[, line N]: parameter NAME: " + the formatted text.
 * Returns false for "return fail(...)". */
static bool fail(struct loader *L, const struct slot *s, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool
fail(struct loader *L, const struct slot *s, int line, const char *fmt, ...)
{
	va_list ap;
	buf_reset(L->why);
	put_where(L->why, L->file, line);
	buf_puts(L->why, ": parameter ");
	put_value(L->why, s->name);	/* an unknown name may hold any byte */
	buf_puts(L->why, ": ");
	va_start(ap, fmt);
	buf_vprintf(L->why, fmt, ap);
	va_end(ap);
	return false;
}

static bool
bad_value(struct loader *L, const struct slot *s, const char *what)
{
	fail(L, s, s->cause, "bad %s value: ", what);
	put_value(L->why, s->value);
	return false;
}

/* ---- reading and splitting the file ---- */

/* Reads the whole file into *text (NUL-terminated).  Returns 1, 0 when
 * the file does not exist and that is allowed, -1 with why set. */
static int
read_file(const char *path, bool must_exist, char **text, size_t *len, struct buf *why)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT && !must_exist)
			return 0;
		buf_printf(why, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	size_t cap = 4096, n = 0;
	bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	if (regular) {
		if (st.st_size > (off_t)CONF_MAX_FILE)
			goto too_big;
		cap = (size_t)st.st_size + 1;
	}
	char *p = xmalloc(cap);
	for (;;) {
		if (n + 1 >= cap) {
			if (cap > CONF_MAX_FILE) {
				free(p);
				goto too_big;
			}
			cap *= 2;
			p = xreallocarray(p, cap, 1);
		}
		ssize_t r = read(fd, p + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			buf_printf(why, "cannot read %s: %s", path, strerror(errno));
			free(p);
			close(fd);
			return -1;
		}
		n += (size_t)r;
		/* A regular file read to its stat size needs no second read. */
		if (r == 0 || (regular && n == (size_t)st.st_size))
			break;
	}
	close(fd);
	p[n] = '\0';
	*text = p;
	*len = n;
	return 1;

too_big:
	buf_printf(why, "%s: file too large (more than %u bytes)", path, CONF_MAX_FILE);
	close(fd);
	return -1;
}

static void
add_entry(struct conf_raw *raw, size_t *cap, const char *name, const char *value, int line)
{
	if (raw->nentries == *cap) {
		*cap = *cap ? *cap * 2 : 32;
		raw->entries = xreallocarray(raw->entries, *cap, sizeof *raw->entries);
	}
	raw->entries[raw->nentries++] = (struct conf_entry){ name, value, line };
}

/* Splits one logical line "name = value" in place. */
static bool
split_line(struct loader *L, char *s, int line, size_t *cap)
{
	size_t n = strcspn(s, WS "=");
	char *eq = s + n + strspn(s + n, WS);
	if (*eq != '=') {
		/* The line is not quoted: it may be a mangled secret. */
		buf_reset(L->why);
		buf_printf(L->why, "%s, line %d: missing '=' after parameter name", L->file, line);
		return false;
	}
	if (n == 0) {
		buf_reset(L->why);
		buf_printf(L->why, "%s, line %d: missing parameter name before '='", L->file, line);
		return false;
	}
	s[n] = '\0';
	char *v = eq + 1;
	v += strspn(v, WS);
	char *e = v + strlen(v);
	while (e > v && is_space(e[-1]))
		e--;
	*e = '\0';
	add_entry(L->raw, cap, s, v, line);
	return true;
}

/* Turns text into entries, in place.  Logical lines are compacted towards
 * the front: the write position never passes the read position, since a
 * joined line loses at least its newline and one leading blank. */
static bool
parse(struct loader *L, char *text, size_t len)
{
	char *r = text, *end = text + len, *w = text;
	char *logical = NULL;
	int lineno = 0, logical_line = 0;
	size_t cap = 0;

	const char *nul = memchr(text, '\0', len);
	if (nul) {
		int line = 1;
		for (const char *p = text; p < nul; p++)
			line += *p == '\n';
		buf_reset(L->why);
		buf_printf(L->why, "%s, line %d: NUL character in file", L->file, line);
		return false;
	}
	while (r < end) {
		char *eol = memchr(r, '\n', (size_t)(end - r));
		char *next = eol ? eol + 1 : end;
		if (eol == NULL)
			eol = end;
		lineno++;
		if (eol > r && eol[-1] == '\r')
			eol--;
		char *p = r;
		while (p < eol && is_space(*p))
			p++;
		/* Blank and comment lines neither start nor end a logical line. */
		if (p == eol || *p == '#') {
			r = next;
			continue;
		}
		if (p == r) {
			if (logical) {
				*w++ = '\0';
				if (!split_line(L, logical, logical_line, &cap))
					return false;
			}
			logical = w;
			logical_line = lineno;
		} else if (logical == NULL) {
			log_warning("%s, line %d: logical line must not start with white space (ignored)",
			    L->file, lineno);
			r = next;
			continue;
		} else {
			/* Continuation: the newline and the white space around
			 * it become one space, so folded text reads as one line.
			 * (Postfix keeps the continuation's indentation as is;
			 * that differs only inside free text, never in a list,
			 * number or name.) */
			while (w > logical && is_space(w[-1]))
				w--;
			*w++ = ' ';
		}
		memmove(w, p, (size_t)(eol - p));
		w += eol - p;
		r = next;
	}
	if (logical) {
		*w = '\0';
		if (!split_line(L, logical, logical_line, &cap))
			return false;
	}
	return true;
}

/* Builds the slots: every known parameter, then one per unknown name set;
 * the last setting of a name wins. */
static void
make_slots(struct loader *L)
{
	struct conf_raw *raw = L->raw;
	size_t max = NPARAMS + raw->nentries;
	size_t hsize = 64;
	while (hsize < 2 * max)
		hsize *= 2;
	raw->slots = xcalloc(max, sizeof *raw->slots);
	raw->hash = xcalloc(hsize, sizeof *raw->hash);
	raw->hashmask = hsize - 1;
	for (size_t i = 0; i < NPARAMS; i++) {
		struct slot *s = slot_add(raw, param_table[i].name, &param_table[i]);
		s->raw = param_table[i].def;
	}
	for (size_t i = 0; i < raw->nentries; i++) {
		const struct conf_entry *e = &raw->entries[i];
		struct slot *s = slot_find(raw, e->name, strlen(e->name));
		if (s == NULL || s->p == NULL)
			log_warning("%s, line %d: unknown parameter %s (ignored)",
			    L->file, e->line, e->name);
		if (s == NULL)
			s = slot_add(raw, e->name, NULL);
		s->raw = e->value;
		s->line = e->line;
	}
}

/* ---- expansion ---- */

static void
scratch_truncate(struct loader *L, size_t len)
{
	L->scratch.len = len;
	if (L->scratch.data)
		L->scratch.data[len] = '\0';
}

/* A value used while expanding the slot being built blames its setting's
 * line when the slot itself was not set. */
static void
note_cause(struct loader *L, const struct slot *t)
{
	if (L->cause == 0)
		L->cause = t->cause;
}

/* Looks up and evaluates name; *value is NULL when it is undefined. */
static bool
lookup(struct loader *L, const char *name, size_t n, const char **value)
{
	struct slot *t = slot_find(L->raw, name, n);
	*value = NULL;
	if (t == NULL)
		return true;
	if (!eval_slot(L, t))
		return false;
	note_cause(L, t);
	*value = t->value;
	return true;
}

static void
warn_undefined(struct loader *L, const struct slot *owner, const char *name, size_t n)
{
	if (!L->warn_undefined)
		return;
	struct buf b = BUF_INIT;
	put_where(&b, L->file, owner->line);
	log_warning("%s: parameter %s: undefined parameter $%.*s expands to empty",
	    buf_cstr(&b), owner->name, (int)n, name);
	buf_clear(&b);
}

/* At *p == '{': the balanced payload [*pl, *pl + *pn); *p moves past the
 * '}' and any white space after it. */
static bool
curly(struct loader *L, struct slot *owner, const char **p, const char *end,
    const char **pl, size_t *pn)
{
	int level = 0;
	for (const char *q = *p; q < end; q++) {
		if (*q == '{')
			level++;
		else if (*q == '}' && --level == 0) {
			*pl = *p + 1;
			*pn = (size_t)(q - *pl);
			q++;
			while (q < end && is_space(*q))
				q++;
			*p = q;
			return true;
		}
	}
	return fail(L, owner, owner->line, "unbalanced {} in macro expression");
}

/* True when, past white space, *p is at '{' (and *p is moved there). */
static bool
at_curly(const char **p, const char *end)
{
	const char *q = *p;
	while (q < end && is_space(*q))
		q++;
	if (q < end && *q == '{') {
		*p = q;
		return true;
	}
	return false;
}

/* "{text1} == {text2}" or "!=", at *p == '{'; *truth gets the result. */
static bool
logical(struct loader *L, struct slot *owner, const char **p, const char *end, bool *truth)
{
	const char *a = NULL, *b = NULL;
	size_t an = 0, bn = 0;
	if (!curly(L, owner, p, end, &a, &an))
		return false;
	size_t opn = strspn(*p, "<>!=?+-*/~&|%");
	if (opn > (size_t)(end - *p))
		opn = (size_t)(end - *p);
	bool eq;
	if (opn == 2 && memcmp(*p, "==", 2) == 0)
		eq = true;
	else if (opn == 2 && memcmp(*p, "!=", 2) == 0)
		eq = false;
	else
		return fail(L, owner, owner->line, "\"==\" or \"!=\" expected in macro expression");
	*p += 2;
	if (!at_curly(p, end))
		return fail(L, owner, owner->line, "\"{expression}\" expected after operator");
	if (!curly(L, owner, p, end, &b, &bn))
		return false;

	size_t o1 = L->scratch.len;
	if (!expand(L, owner, a, an))
		return false;
	size_t o2 = L->scratch.len;
	if (!expand(L, owner, b, bn))
		return false;
	size_t o3 = L->scratch.len;
	bool same = o2 - o1 == o3 - o2 &&
	    memcmp(L->scratch.data + o1, L->scratch.data + o2, o2 - o1) == 0;
	scratch_truncate(L, o1);
	*truth = eq ? same : !same;
	return true;
}

/* The inside of ${...} or $(...): name, name?text, name:text, the {text}
 * forms and name?{text1}:{text2}, or a logical expression - as Postfix's
 * mac_expand(). */
static bool
expand_braced(struct loader *L, struct slot *owner, const char *c, size_t n)
{
	const char *end = c + n, *p = c;
	const char *value;		/* NULL = undefined */

	if (at_curly(&p, end)) {
		bool truth = false;
		if (!logical(L, owner, &p, end, &truth))
			return false;
		value = truth ? "true" : "";
		if (p == end) {
			buf_puts(&L->scratch, value);
			return true;
		}
		if (*p != '?' && *p != ':')
			return fail(L, owner, owner->line, "\"?\" or \":\" expected in macro expression");
	} else {
		const char *q = c;
		while (q < end && is_name_char(*q))
			q++;
		if (q == c)
			return fail(L, owner, owner->line, "empty macro name");
		if (q < end && *q != '?' && *q != ':') {
			fail(L, owner, owner->line, "bad macro name in ${}: ");
			put_text(L->why, c, n);
			return false;
		}
		if (!lookup(L, c, (size_t)(q - c), &value))
			return false;
		if (q == end) {
			if (value == NULL)
				warn_undefined(L, owner, c, (size_t)(q - c));
			else
				buf_puts(&L->scratch, value);
			return true;
		}
		p = q;
	}

	const char *iftrue = NULL, *iffalse = NULL;
	size_t tn = 0, fn = 0;
	char op = *p++;
	if (op == '?') {
		if (at_curly(&p, end)) {
			if (!curly(L, owner, &p, end, &iftrue, &tn))
				return false;
			if (p < end && *p != ':')
				return fail(L, owner, owner->line, "\":\" expected in macro expression");
			if (p < end) {
				p++;
				op = ':';
			}
		} else {
			/* Plain text runs to the end, ':' and all (Postfix 2.2). */
			iftrue = p;
			tn = (size_t)(end - p);
			p = end;
		}
	}
	if (op == ':') {
		if (at_curly(&p, end)) {
			if (!curly(L, owner, &p, end, &iffalse, &fn))
				return false;
			if (p < end)
				return fail(L, owner, owner->line, "unexpected text after {} in macro expression");
		} else {
			iffalse = p;
			fn = (size_t)(end - p);
		}
	}
	bool nonempty = value != NULL && *value != '\0';
	if (iftrue && nonempty)
		return expand(L, owner, iftrue, tn);
	if (iffalse && !nonempty)
		return expand(L, owner, iffalse, fn);
	return true;
}

/* Appends the expansion of s[0..n) to L->scratch.  s never points into
 * the scratch buffer (it is a setting, a default or an arena string), so
 * growing the buffer cannot move it. */
static bool
expand(struct loader *L, struct slot *owner, const char *s, size_t n)
{
	const char *end = s + n;
	bool ok = true;

	if (++L->depth > CONF_MAX_NESTING) {
		L->depth--;
		return fail(L, owner, owner->line, "unreasonable macro nesting");
	}
	while (ok && s < end) {
		const char *dollar = memchr(s, '$', (size_t)(end - s));
		if (dollar == NULL) {
			buf_append(&L->scratch, s, (size_t)(end - s));
			break;
		}
		buf_append(&L->scratch, s, (size_t)(dollar - s));
		s = dollar + 1;
		if (s < end && *s == '$') {
			buf_putc(&L->scratch, '$');
			s++;
		} else if (s < end && (*s == '{' || *s == '(')) {
			char open = *s, close = open == '{' ? '}' : ')';
			int level = 1;
			const char *q;
			for (q = s + 1; q < end; q++) {
				if (*q == open)
					level++;
				else if (*q == close && --level == 0)
					break;
			}
			if (q >= end) {
				ok = fail(L, owner, owner->line, "truncated macro reference \"$%c...\"", open);
				break;
			}
			ok = expand_braced(L, owner, s + 1, (size_t)(q - s - 1));
			s = q + 1;
		} else {
			const char *q = s;
			while (q < end && is_name_char(*q))
				q++;
			if (q == s) {
				ok = fail(L, owner, owner->line,
				    "empty macro name after \"$\" (write \"$$\" for a literal \"$\")");
				break;
			}
			const char *value;
			ok = lookup(L, s, (size_t)(q - s), &value);
			if (ok && value == NULL)
				warn_undefined(L, owner, s, (size_t)(q - s));
			else if (ok)
				buf_puts(&L->scratch, value);
			s = q;
		}
	}
	L->depth--;
	return ok;
}

/* First line of path, white space trimmed, into out.  Returns 1, 0 for an
 * empty first line, -1 with errno set when it cannot be read, -2 when it
 * is no regular file. */
static int
read_first_line(const char *path, struct buf *out)
{
	/* O_NONBLOCK: a FIFO or device named here must not hang us. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -2;
	}
	char b[CONF_MAX_FIRST_LINE + 1];
	ssize_t n;
	do
		n = read(fd, b, sizeof b - 1);
	while (n < 0 && errno == EINTR);
	int saved = errno;
	close(fd);
	if (n < 0) {
		errno = saved;
		return -1;
	}
	b[n] = '\0';
	char *s = b + strspn(b, WS);
	size_t len = strcspn(s, "\r\n");
	while (len > 0 && is_space(s[len - 1]))
		len--;
	if (len == 0)
		return 0;
	buf_append(out, s, len);
	return 1;
}

static const char *
mailname_path(void)
{
	/* Only for an unprivileged program: a set-id caller must not be
	 * steered to another file by its invoker. */
	if (getuid() == geteuid() && getgid() == getegid()) {
		const char *e = getenv("SATMAIL_MAILNAME_FILE");
		if (e && *e)
			return e;
	}
	return CONF_MAILNAME_PATH;
}

/* Appends the named known parameter's value. */
static bool
append_param(struct loader *L, const char *name)
{
	const char *value;
	if (!lookup(L, name, strlen(name), &value))
		return false;
	buf_puts(&L->scratch, value);
	return true;
}

/* The computed defaults of the identity parameters (POSTFIX-NOTES 5.2). */
static bool
derive(struct loader *L, struct slot *t)
{
	switch (t->p->kind) {
	case K_MYHOSTNAME: {
		/* gethostname() only: no DNS at every sendmail start. */
		char host[256];
		if (gethostname(host, sizeof host - 1) != 0)
			snprintf(host, sizeof host, "localhost");
		host[sizeof host - 1] = '\0';
		buf_puts(&L->scratch, host);
		if (strchr(host, '.') == NULL) {
			/* host.$mydomain, where an unset mydomain is
			 * "localdomain" (not derived from us: that loops). */
			struct slot *d = slot_find(L->raw, "mydomain", 8);
			buf_putc(&L->scratch, '.');
			if (d->line > 0)
				return append_param(L, "mydomain");
			buf_puts(&L->scratch, "localdomain");
		}
		return true;
	}
	case K_MYDOMAIN: {
		size_t start = L->scratch.len;
		if (!append_param(L, "myhostname"))
			return false;
		const char *h = L->scratch.data + start;
		const char *dot = strchr(h, '.');
		size_t skip = dot && dot[1] ? (size_t)(dot + 1 - h) : L->scratch.len - start;
		memmove(L->scratch.data + start, h + skip, L->scratch.len - start - skip);
		scratch_truncate(L, L->scratch.len - skip);
		if (L->scratch.len == start)
			buf_puts(&L->scratch, "localdomain");
		return true;
	}
	case K_MYORIGIN: {
		size_t start = L->scratch.len;
		int r = read_first_line(mailname_path(), &L->scratch);
		if (r > 0)
			return true;
		scratch_truncate(L, start);
		return append_param(L, "myhostname");
	}
	default:
		return fail(L, t, 0, "no default");	/* table error */
	}
}

/* myorigin = /file: the value is the file's first line, not expanded. */
static bool
origin_from_file(struct loader *L, struct slot *t, size_t start)
{
	char *path = xstrdup(L->scratch.data + start);
	scratch_truncate(L, start);
	int r = read_first_line(path, &L->scratch);
	if (r == -2)
		fail(L, t, t->line, "%s is not a regular file", path);
	else if (r < 0)
		fail(L, t, t->line, "cannot read %s: %s", path, strerror(errno));
	else if (r == 0)
		fail(L, t, t->line, "file %s is empty", path);
	free(path);
	return r > 0;
}

/* Expands a slot once; the value is cached in the arena. */
static bool
eval_slot(struct loader *L, struct slot *t)
{
	if (t->state == SLOT_DONE)
		return true;
	if (t->state == SLOT_BUSY)
		return fail(L, t, t->line, "recursive expansion");
	t->state = SLOT_BUSY;

	int saved_cause = L->cause;
	size_t start = L->scratch.len;
	bool ok;
	L->cause = t->line;
	if (t->raw == NULL)
		ok = derive(L, t);
	else
		ok = expand(L, t, t->raw, strlen(t->raw));
	if (ok && t->raw != NULL && t->p && t->p->kind == K_MYORIGIN &&
	    L->scratch.len > start && L->scratch.data[start] == '/')
		ok = origin_from_file(L, t, start);
	if (ok) {
		t->value = arena_strndup(&L->raw->arena, L->scratch.data ? L->scratch.data + start : "",
		    L->scratch.len - start);
		t->cause = L->cause;
		t->state = SLOT_DONE;
	}
	scratch_truncate(L, start);
	L->cause = saved_cause;
	return ok;
}

/* ---- conversion to the typed fields ---- */

/* "type:name" (a lookup table) or "/file": left alone by lower-casing and
 * by conf_is_local_domain(). */
static bool
is_table_ref(const char *s)
{
	if (*s == '!')
		s++;
	if (*s == '/')
		return true;
	size_t n = 0;
	while (is_alpha(s[n]) || is_digit(s[n]) || s[n] == '_' || s[n] == '-')
		n++;
	return n > 0 && s[n] == ':';
}

/* Next list element of *sp: 1 with [*tok, *tok + *len), 0 at the end, -1
 * for an unbalanced '{'.  Separators inside {} do not split; an element
 * that is wholly "{ ... }" loses the braces and the white space inside
 * them, so "{ a b }" is "a b" while "inline:{ a=b }" stays whole. */
static int
list_next(const char **sp, const char **tok, size_t *len)
{
	const char *s = *sp;
	for (;;) {
		s += strspn(s, LIST_SEP);
		if (*s == '\0') {
			*sp = s;
			return 0;
		}
		const char *start = s, *first_close = NULL;
		int level = 0;
		for (; *s; s++) {
			if (*s == '{')
				level++;
			else if (*s == '}' && level > 0) {
				if (--level == 0 && first_close == NULL)
					first_close = s;
			} else if (level == 0 && strchr(LIST_SEP, *s))
				break;
		}
		if (level > 0)
			return -1;
		*sp = s;
		const char *e = s;
		if (*start == '{' && first_close == e - 1) {
			start++;
			e--;
			while (start < e && is_space(*start))
				start++;
			while (e > start && is_space(e[-1]))
				e--;
		}
		if (e == start)
			continue;	/* "{}" is no element */
		*tok = start;
		*len = (size_t)(e - start);
		return 1;
	}
}

/* A NULL-terminated array and its strings, in one arena allocation. */
static bool
make_list(struct loader *L, const char *v, bool lower, conf_list *out)
{
	const char *sp = v, *tok = NULL;
	size_t len = 0, count = 0, bytes = 0;
	int r;
	while ((r = list_next(&sp, &tok, &len)) > 0) {
		count++;
		bytes += len + 1;
	}
	if (r < 0)
		return false;
	char **list = arena_alloc(&L->raw->arena, (count + 1) * sizeof *list + bytes);
	char *str = (char *)(list + count + 1);
	sp = v;
	for (size_t i = 0; i < count; i++) {
		(void)list_next(&sp, &tok, &len);
		memcpy(str, tok, len);
		str[len] = '\0';
		if (lower && !is_table_ref(str))
			for (size_t j = 0; j < len; j++)
				str[j] = (char)to_lower(str[j]);
		list[i] = str;
		str += len + 1;
	}
	list[count] = NULL;
	*out = list;
	return true;
}

/* Letters, digits, hyphens and dots; labels of 1..63 not starting or
 * ending with a hyphen; at most 255 in all; not all-numeric (an address). */
static bool
valid_hostname(const char *s)
{
	size_t label = 0, len = 0;
	bool alpha = false;
	for (const char *p = s;; p++, len++) {
		if (*p == '.' || *p == '\0') {
			if (label == 0 || p[-1] == '-')
				return false;
			if (*p == '\0')
				break;
			label = 0;
			continue;
		}
		if (is_alpha(*p))
			alpha = true;
		else if (*p == '-') {
			if (label == 0)
				return false;
		} else if (!is_digit(*p))
			return false;
		if (++label > 63)
			return false;
	}
	return len <= 255 && alpha;
}

static bool
parse_ull(const char *v, unsigned long long max, unsigned long long *out, const char **rest)
{
	unsigned long long n = 0;
	if (!is_digit(*v))
		return false;
	for (; is_digit(*v); v++) {
		unsigned d = (unsigned)(*v - '0');
		if (n > (max - d) / 10)
			return false;
		n = n * 10 + d;
	}
	*out = n;
	*rest = v;
	return true;
}

/* A number with an optional unit s, m, h, d or w (either case); a bare
 * number is in the parameter's default unit. */
static bool
parse_time(const char *v, char unit, unsigned *out)
{
	unsigned long long n, mult;
	const char *rest;
	if (!parse_ull(v, UINT_MAX, &n, &rest))
		return false;
	if (*rest != '\0') {
		unit = *rest++;
		if (*rest != '\0')
			return false;
	}
	switch (to_lower(unit)) {
	case 's': mult = 1; break;
	case 'm': mult = 60; break;
	case 'h': mult = 3600; break;
	case 'd': mult = 86400; break;
	case 'w': mult = 604800; break;
	default: return false;
	}
	if (n > UINT_MAX / mult)
		return false;
	*out = (unsigned)(n * mult);
	return true;
}

static bool
parse_number(const char *v, unsigned long long max, unsigned long long *out)
{
	const char *rest;
	return parse_ull(v, max, out, &rest) && *rest == '\0';
}

static int
parse_bool(const char *v)
{
	if (strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0)
		return 1;
	if (strcasecmp(v, "no") == 0 || strcasecmp(v, "false") == 0)
		return 0;
	return -1;
}

/* "all", "ipv4", "ipv6" or a list of them ("ipv4, ipv6" is all). */
static bool
parse_protocols(const char *v, int *out)
{
	const char *sp = v, *tok = NULL;
	size_t len = 0;
	bool v4 = false, v6 = false;
	int r;
	while ((r = list_next(&sp, &tok, &len)) > 0) {
		if (len == 3 && strncasecmp(tok, "all", 3) == 0)
			v4 = v6 = true;
		else if (len == 4 && strncasecmp(tok, "ipv4", 4) == 0)
			v4 = true;
		else if (len == 4 && strncasecmp(tok, "ipv6", 4) == 0)
			v6 = true;
		else
			return false;
	}
	if (r < 0 || (!v4 && !v6))
		return false;
	*out = v4 && v6 ? INET_ALL : v4 ? INET_IPV4 : INET_IPV6;
	return true;
}

static void
store_int(void *field, int v)
{
	memcpy(field, &v, sizeof v);
}

static bool
convert(struct loader *L, struct slot *t)
{
	const struct param *p = t->p;
	void *field = (char *)L->c + p->off;
	const char *v = t->value;
	unsigned long long n;
	int b;

	switch (p->kind) {
	case K_STR:
		*(char **)field = t->value;
		return true;
	case K_MYHOSTNAME:
	case K_MYDOMAIN:
	case K_MYORIGIN:
		if (!valid_hostname(v))
			return bad_value(L, t, "host name");
		*(char **)field = t->value;
		return true;
	case K_LIST:
	case K_DOMAINS:
		if (!make_list(L, v, p->kind == K_DOMAINS, (conf_list *)field))
			return bad_value(L, t, "list");
		return true;
	case K_BOOL:
		if ((b = parse_bool(v)) < 0)
			return bad_value(L, t, "boolean");
		*(bool *)field = b;
		return true;
	case K_TRIBOOL:
		if (*v == '\0')
			b = -1;
		else if ((b = parse_bool(v)) < 0)
			return bad_value(L, t, "boolean");
		*(int *)field = b;
		return true;
	case K_TIME:
		if (!parse_time(v, p->unit, (unsigned *)field))
			return bad_value(L, t, "time");
		return true;
	case K_SIZE:
		if (!parse_number(v, LLONG_MAX, &n))
			return bad_value(L, t, "size");
		*(long long *)field = (long long)n;
		return true;
	case K_COUNT:
		if (!parse_number(v, INT_MAX, &n))
			return bad_value(L, t, "integer");
		*(unsigned *)field = (unsigned)n;
		return true;
	case K_PORT:
		if (!parse_number(v, 65535, &n) || n == 0)
			return bad_value(L, t, "port");
		*(unsigned *)field = (unsigned)n;
		return true;
	case K_ENUM:
		for (const struct enum_name *e = p->names; e->name; e++)
			if (strcasecmp(v, e->name) == 0) {
				store_int(field, e->value);
				return true;
			}
		if (p->names == tls_levels && strcasecmp(v, "fingerprint") == 0) {
			bad_value(L, t, p->what);
			buf_puts(L->why, " (not supported)");
			return false;
		}
		return bad_value(L, t, p->what);
	case K_PROTOCOLS:
		if (!parse_protocols(v, &b))
			return bad_value(L, t, "inet protocols");
		store_int(field, b);
		return true;
	}
	return fail(L, t, 0, "unknown kind");	/* table error */
}

static void
raw_free(struct conf_raw *raw)
{
	if (raw == NULL)
		return;
	free(raw->text);
	free(raw->entries);
	free(raw->slots);
	free(raw->hash);
	arena_free(raw->arena);
	free(raw);
}

struct conf *
conf_load(const char *path, bool must_exist, struct buf *why)
{
	struct loader L = { 0 };
	size_t len = 0;
	bool ok = false;

	if (path == NULL)
		path = CONF_DEFAULT_PATH;
	buf_reset(why);
	L.file = path;
	L.why = why;
	buf_init(&L.scratch);
	L.c = xcalloc(1, sizeof *L.c);
	L.raw = L.c->raw = xcalloc(1, sizeof *L.raw);

	int r = read_file(path, must_exist, &L.raw->text, &len, why);
	if (r < 0)
		goto out;
	if (r > 0) {
		L.c->path = xstrdup(path);
		if (!parse(&L, L.raw->text, len))
			goto out;
	}
	make_slots(&L);

	/* Known parameters first, in table order: their values are used, so
	 * an undefined $name in them deserves a warning. */
	L.warn_undefined = true;
	for (size_t i = 0; i < NPARAMS; i++) {
		struct slot *t = &L.raw->slots[i];
		if (!eval_slot(&L, t) || !convert(&L, t))
			goto out;
	}
	/* Postfix refuses this: mail for the relay would come back here. */
	struct slot *relay = slot_find(L.raw, "relayhost", 9);
	if (*L.c->relayhost && strcasecmp(L.c->relayhost, L.c->myhostname) == 0) {
		fail(&L, relay, relay->cause, "value equals myhostname (mail would loop): ");
		put_value(why, L.c->relayhost);
		goto out;
	}
	/* Unknown ones only so that loops and $ syntax errors are caught now
	 * and conf_get() never fails; their values are not used. */
	L.warn_undefined = false;
	for (size_t i = NPARAMS; i < L.raw->nslots; i++)
		if (!eval_slot(&L, &L.raw->slots[i]))
			goto out;
	ok = true;

out:
	buf_clear(&L.scratch);
	if (!ok)
		L.c = conf_free(L.c);
	return L.c;
}

struct conf *
conf_free(struct conf *c)
{
	if (c == NULL)
		return NULL;
	raw_free(c->raw);
	free(c->path);
	free(c);
	return NULL;
}

const char *
conf_get(const struct conf *c, const char *name)
{
	const struct slot *s = slot_find(c->raw, name, strlen(name));
	return s ? s->value : NULL;
}

int
conf_line(const struct conf *c, const char *name)
{
	const struct slot *s = slot_find(c->raw, name, strlen(name));
	return s ? s->line : 0;
}

bool
conf_known(const char *name)
{
	for (size_t i = 0; i < NPARAMS; i++)
		if (strcmp(param_table[i].name, name) == 0)
			return true;
	return false;
}

/* "example.com" matches that domain only, ".example.com" its subdomains,
 * "!pattern" excludes; the first match decides (Postfix match lists). */
bool
conf_is_local_domain(const struct conf *c, const char *domain)
{
	size_t n = strlen(domain);
	if (n > 0 && domain[n - 1] == '.')
		n--;	/* "example.com." is "example.com" */
	if (n == 0)
		return false;
	for (char **e = c->mydestination; *e; e++) {
		const char *pat = *e;
		bool negate = *pat == '!';
		if (is_table_ref(pat))
			continue;	/* tables: not supported yet */
		pat += negate;
		size_t pn = strlen(pat);
		if (pn > 0 && pat[pn - 1] == '.')
			pn--;
		bool match;
		if (pat[0] == '.')
			match = pn > 1 && n > pn && strncasecmp(domain + n - pn, pat, pn) == 0;
		else
			match = pn == n && strncasecmp(domain, pat, n) == 0;
		if (match)
			return !negate;
	}
	return false;
}
