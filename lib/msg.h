/* msg - read a submitted message from a stream.
 *
 * Input rules (SPEC.md section 3): CRLF and LF line ends are both taken
 * and stored as LF; a CR not followed by LF becomes a space (against SMTP
 * smuggling); a NUL byte refuses the message; unless -i, a line holding
 * only "." ends the input.  A "From " line at the very start (an mbox
 * separator) is dropped, as Postfix does.
 *
 * The header section is read whole (each field bounded by
 * header_size_limit); the body is never held in memory: msg_pump_body
 * hands it to a sink in chunks. */
#ifndef SATMAIL_MSG_H
#define SATMAIL_MSG_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "buf.h"
#include "status.h"

#define MSG_INPUT_CHUNK		65536
#define MSG_MAX_HEADER_FIELDS	10000

/* A byte source instead of read(2) on fd (sendmail -bs hands over the
 * dot-unstuffed DATA this way): returns bytes stored (at most n), 0 at
 * the end of the message, -1 with errno set on an error (the message is
 * then refused). */
typedef ssize_t (*msg_read_fn)(void *ctx, char *p, size_t n);

struct msg_input {
	int fd;
	msg_read_fn read_fn;	/* NULL = read(2) on fd */
	void *read_ctx;
	char *buf;		/* normalised bytes (LF line ends) */
	size_t pos, len, cap;
	bool eof;		/* read(2) returned 0 */
	bool ended;		/* the terminating "." line was seen */
	bool dot_mode;		/* "." ends input (no -i) */
	bool pending_cr;	/* a CR ended the last read */
	bool nul_seen;
	bool eight_bit;		/* some byte >= 0x80 was read */
	bool at_line_start;
	long long bytes_in;	/* raw bytes read, for -v */
};

struct msg_header {
	char *text;		/* the whole field: "Name: value\n\tmore\n" */
	size_t len;
	size_t name_len;	/* length of "Name" */
	bool deleted;
};

struct msg_headers {
	struct msg_header *v;
	size_t n, cap;
};

void msg_input_init(struct msg_input *in, int fd, bool dot_mode);
void msg_input_clear(struct msg_input *in);
/* Reads through fn(ctx, ...) instead of fd from now on. */
void msg_input_set_reader(struct msg_input *in, msg_read_fn fn, void *ctx);

/* Reads the header section into h, up to and including the empty line
 * that ends it (which is consumed, not stored).  A line that is neither a
 * header field nor a continuation ends the headers and is left for the
 * body.  field_limit bounds one field (bytes).  Errors: NUL (PERM, 65),
 * field too long (PERM, 65), read error (TEMP, 74). */
bool msg_read_headers(struct msg_input *in, struct msg_headers *h,
    size_t field_limit, struct status *st);

/* Streams the rest of the input to sink(ctx, bytes, n) in chunks, until
 * end of file or the "." line.  A sink returning false stops the pump
 * (st is then left to the sink's caller: the pump returns false with st
 * untouched).  The last line gets a LF if the input lacked one. */
bool msg_pump_body(struct msg_input *in,
    bool (*sink)(void *ctx, const char *p, size_t n), void *ctx,
    struct status *st);

void msg_headers_init(struct msg_headers *h);
void msg_headers_clear(struct msg_headers *h);
/* Appends a field; text must end with "\n" and start with "Name:". */
void msg_headers_add(struct msg_headers *h, const char *text, size_t len);
/* Inserts a field before index i (0 = first). */
void msg_headers_insert(struct msg_headers *h, size_t i, const char *text, size_t len);
/* Replaces field i's text. */
void msg_header_replace(struct msg_header *f, const char *text, size_t len);
/* True when field f's name is name (case-insensitive). */
bool msg_header_is(const struct msg_header *f, const char *name);
/* The first live field with that name, or NULL. */
struct msg_header *msg_headers_find(const struct msg_headers *h, const char *name);
/* True when any live field's name starts with prefix (case-insensitive). */
bool msg_headers_have_prefix(const struct msg_headers *h, const char *prefix);
/* The field body: everything after the colon, still folded. */
const char *msg_header_body(const struct msg_header *f, size_t *len);
/* RFC 5322 unfolding: removes each line break that precedes white space,
 * and the final line break.  Appends to out. */
void msg_unfold(const char *text, size_t len, struct buf *out);

/* The RFC 5322 date Postfix writes: "Mon,  3 Feb 2025 09:04:05 +0100 (CET)". */
void msg_date(time_t t, struct buf *out);

#endif
