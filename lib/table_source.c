/* table_source - logical lines and "key value" entries of table sources.
 *
 * One buffered reader serves files (read(2) in 64 KiB blocks: postmap
 * streams a million-line source without holding it) and text in memory
 * (tests, the fuzz target, inline texthash).  The line rules are
 * Postfix's readllines(); see table_source.h. */
#include "table_source.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "xalloc.h"

#define SOURCE_BLOCK	65536

/* Postfix's ISSPACE: ASCII white space only, whatever the locale. */
#define SRC_ISSPACE(c)	((c) == ' ' || (c) == '\t' || (c) == '\n' || \
			 (c) == '\r' || (c) == '\f' || (c) == '\v')

struct table_source {
	char *name;
	int fd;			/* -1: memory */
	bool own_fd;
	char *block;		/* read buffer (files only) */
	const char *p, *end;	/* unread input */
	bool eof;		/* nothing more behind p..end */
	int lineno;		/* physical lines consumed */
};

static struct table_source *
source_new(const char *name, int fd, bool own_fd)
{
	struct table_source *s = xcalloc(1, sizeof *s);
	s->name = xstrdup(name);
	s->fd = fd;
	s->own_fd = own_fd;
	if (fd >= 0)
		s->block = xmalloc(SOURCE_BLOCK);
	return s;
}

struct table_source *
table_source_open(const char *path, struct status *st)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		status_set(st, STATUS_TEMP, "4.3.0", 0, "open %s: %s", path, strerror(errno));
		return NULL;
	}
	return source_new(path, fd, true);
}

struct table_source *
table_source_fd(int fd, const char *name)
{
	return source_new(name, fd, false);
}

struct table_source *
table_source_mem(const char *name, const char *text, size_t len)
{
	struct table_source *s = source_new(name, -1, false);
	s->p = text;
	s->end = text + len;
	s->eof = true;
	return s;
}

struct table_source *
table_source_free(struct table_source *s)
{
	if (s == NULL)
		return NULL;
	if (s->own_fd && s->fd >= 0)
		close(s->fd);
	free(s->block);
	free(s->name);
	free(s);
	return NULL;
}

const char *
table_source_name(const struct table_source *s)
{
	return s->name;
}

int
table_source_fileno(const struct table_source *s)
{
	return s->fd;
}

/* Refills the block; 1 = more input, 0 = end, -1 = error (errno). */
static int
source_fill(struct table_source *s)
{
	if (s->eof)
		return 0;
	for (;;) {
		ssize_t n = read(s->fd, s->block, SOURCE_BLOCK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			s->eof = true;
			return 0;
		}
		s->p = s->block;
		s->end = s->block + n;
		return 1;
	}
}

/* The next unread byte without consuming it, or -1 at the end; -2 on a
 * read error. */
static int
source_peek(struct table_source *s)
{
	if (s->p == s->end) {
		int r = source_fill(s);
		if (r <= 0)
			return r < 0 ? -2 : -1;
	}
	return (unsigned char)*s->p;
}

/* Appends one physical line (without its newline) to line.  1 = a line
 * was read, 0 = end of input, -1 = read error, -2 = NUL byte. */
static int
source_physical(struct table_source *s, struct buf *line)
{
	bool any = false;
	for (;;) {
		if (s->p == s->end) {
			int r = source_fill(s);
			if (r < 0)
				return -1;
			if (r == 0) {
				if (any)
					s->lineno++;
				return any ? 1 : 0;
			}
		}
		any = true;
		const char *nl = memchr(s->p, '\n', (size_t)(s->end - s->p));
		const char *stop = nl ? nl : s->end;
		if (memchr(s->p, '\0', (size_t)(stop - s->p)) != NULL) {
			s->lineno++;
			return -2;
		}
		buf_append(line, s->p, (size_t)(stop - s->p));
		if (nl) {
			s->p = nl + 1;
			s->lineno++;
			return 1;
		}
		s->p = s->end;
	}
}

int
table_source_line(struct table_source *s, struct buf *line, int *lineno,
    struct status *st)
{
	int first = 0;

	for (;;) {
		buf_reset(line);
		first = 0;
		for (;;) {
			size_t start = line->len;
			int r = source_physical(s, line);
			if (r == -1) {
				status_set(st, STATUS_TEMP, "4.3.0", 0, "read %s: %s",
				    s->name, strerror(errno));
				return -1;
			}
			if (r == -2) {
				status_set(st, STATUS_TEMP, "4.3.0", 0,
				    "%s, line %d: NUL byte in input", s->name, s->lineno);
				return -1;
			}
			if (r == 0)
				break;
			/* Blank and comment lines vanish, even inside an entry. */
			size_t i = start;
			while (i < line->len && SRC_ISSPACE(line->data[i]))
				i++;
			if (i == line->len || line->data[i] == '#') {
				line->len = start;
				line->data[start] = '\0';
			} else if (first == 0) {
				first = s->lineno;
			}
			if (line->len > 0) {
				int next = source_peek(s);
				if (next == -2) {
					status_set(st, STATUS_TEMP, "4.3.0", 0, "read %s: %s",
					    s->name, strerror(errno));
					return -1;
				}
				if (next != '#' && !(next >= 0 && SRC_ISSPACE(next)))
					break;
			}
		}
		if (line->len > 0 && SRC_ISSPACE(line->data[0])) {
			/* Continuation with nothing to continue: Postfix warns and
			 * drops it rather than fail a whole table. */
			log_warning("%s, line %d: logical line must not start with "
			    "whitespace: \"%.30s%s\"", s->name, first, line->data,
			    line->len > 30 ? "..." : "");
			continue;
		}
		break;
	}
	*lineno = first;
	return line->len > 0;
}

static const char source_unbalanced[] = "unbalanced '\"'";

const char *
table_source_split(char *line, char **key, char **value)
{
	bool in_quotes = false;
	char *v;

	/* The key ends at the first white space outside quotes; a
	 * backslash protects the next character (postmap.c's rule). */
	for (v = line; *v; v++) {
		if (*v == '\\') {
			if (*++v == '\0')
				break;
		} else if (SRC_ISSPACE(*v)) {
			if (!in_quotes)
				break;
		} else if (*v == '"') {
			in_quotes = !in_quotes;
		}
	}
	if (in_quotes)
		return source_unbalanced;
	if (*v)
		*v++ = '\0';
	while (SRC_ISSPACE(*v))
		v++;
	char *e = v + strlen(v);
	while (e > v && SRC_ISSPACE(e[-1]))
		e--;
	*e = '\0';
	if (*line == '\0' || *v == '\0')
		return "expected format: key whitespace value";
	*key = line;
	*value = v;
	return NULL;
}

int
table_source_entry(struct table_source *s, struct buf *line, char **key,
    char **value, int *lineno, struct status *st)
{
	for (;;) {
		int r = table_source_line(s, line, lineno, st);
		if (r <= 0)
			return r;
		const char *why = table_source_split(line->data, key, value);
		/* An unbalanced line is rejected before split changes it. */
		if (why == source_unbalanced)
			log_warning("%s, line %d: %s in '%s' -- ignoring this line",
			    s->name, *lineno, why, line->data);
		else if (why != NULL)
			log_warning("%s, line %d: %s -- ignoring this line", s->name,
			    *lineno, why);
		if (why != NULL)
			continue;
		size_t klen = strlen(*key);
		if ((*key)[klen - 1] == ':')
			log_warning("%s, line %d: record is in \"key: value\" format; "
			    "is this an alias file?", s->name, *lineno);
		return 1;
	}
}
