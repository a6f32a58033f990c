/* table_source - Postfix's table source format: logical lines, entries.
 *
 * The reader every Postfix table source uses (postmap, texthash, regexp,
 * pcre, aliases), as readllines() does it:
 *   - empty lines, white-space-only lines and lines whose first
 *     non-blank character is '#' are skipped; '#' later in a line is data;
 *   - a line that starts with white space continues the logical line: the
 *     newline goes, the leading white space stays ("a\n  b" -> "a  b");
 *     skipped lines inside a continued entry do not end it;
 *   - continuation text with nothing before it is dropped with a warning.
 * A NUL byte in the input is an error (a binary file is not a table
 * source).  Lines are limited only by memory.
 *
 * Entries (postmap(1) format): "key whitespace value".  The key ends at
 * the first white space outside double quotes ("with space" keeps its
 * quotes; \" and \\ escape); the value is the rest, trimmed at both ends.
 * A line without key or value, or with an unbalanced quote, is skipped
 * with a warning naming file and line, as Postfix does. */
#ifndef SATMAIL_TABLE_SOURCE_H
#define SATMAIL_TABLE_SOURCE_H
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "status.h"

struct table_source;

/* Opens path for reading.  NULL with st set (TEMP): "open PATH: reason". */
struct table_source *table_source_open(const char *path, struct status *st);
/* Reads fd (not closed by table_source_free); name is used in messages. */
struct table_source *table_source_fd(int fd, const char *name);
/* Reads len bytes at text (borrowed: must outlive the source). */
struct table_source *table_source_mem(const char *name, const char *text, size_t len);
/* Accepts NULL; returns NULL. */
struct table_source *table_source_free(struct table_source *s);

const char *table_source_name(const struct table_source *s);
/* The descriptor being read, -1 for memory. */
int table_source_fileno(const struct table_source *s);

/* Reads the next logical line into line (replacing its contents);
 * *lineno is the number of its first physical line.  Returns 1, 0 at the
 * end of the input, -1 with st set (TEMP) on a read error or a NUL byte
 * ("NAME, line N: ..."). */
int table_source_line(struct table_source *s, struct buf *line, int *lineno,
    struct status *st);

/* Splits a logical line in place into key and value (pointers into
 * line).  Returns NULL on success, else the reason the line is not an
 * entry (static text, for a warning; for an unbalanced quote the line
 * is left as it was, so that the warning can quote it). */
const char *table_source_split(char *line, char **key, char **value);

/* Reads the next entry, skipping (with a warning) lines that are not
 * entries, and warning about "key: value" lines as Postfix does.  key
 * and value point into line.  Returns 1, 0 at the end, -1 as
 * table_source_line(). */
int table_source_entry(struct table_source *s, struct buf *line, char **key,
    char **value, int *lineno, struct status *st);

#endif
