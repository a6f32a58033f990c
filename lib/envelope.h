/* envelope - the envelope of one message and its record format.
 *
 * The envelope is what the queue keeps about a message besides the
 * message itself: sender, recipients with their per-recipient state, DSN
 * parameters, attempt count and retry time.  It travels as versioned,
 * line-oriented records, both on disk (the head of a queue entry, see
 * queue.h) and on the pipe from sendmail to `satmail-queue drop`:
 *
 *   satmail-envelope 1            version line, always first
 *   KEY: VALUE                    one record per line
 *   rcpt: FIELD=VALUE FIELD=VALUE ...
 *   <empty line>                  end of the envelope
 *
 * Every VALUE (and every rcpt FIELD value) is escaped with envelope_escape:
 * bytes outside 0x21..0x7e, and '%', become %XX, so no byte a user or a
 * peer supplied can end a record, start another, or split a field.
 * Unknown keys and unknown rcpt fields are skipped, so a later version may
 * add records that an older reader ignores.  Records:
 *
 *   id: QUEUEID            set by the queue, never taken from a client
 *   arrival: SEC.USEC      set by the queue
 *   uid: N                 real uid of the submitter, set by the queue
 *   size: N                message bytes after the envelope (fixed width on
 *                          disk: 12 digits, filled in when the entry commits)
 *   sender: ADDR           canonical address; empty = null sender <>
 *   fullname: TEXT         -F / gecos name used for From: (informational)
 *   envid: TEXT            DSN ENVID (-V)
 *   ret: full|hdrs         DSN RET (-R); absent = not given
 *   body: 7bit|8bitmime    -B, or 8bitmime when the message has 8-bit bytes
 *   smtputf8: yes          some address needs SMTPUTF8
 *   attempts: N            delivery attempts so far
 *   next-retry: SEC        not before this time (0 = now)
 *   hold: yes              postsuper -h
 *   delay-warned: yes      the one "delayed mail" notice (delay_warning_time)
 *                          has been queued; never sent again (deliver.c)
 *   rcpt: addr=ADDR orig=ADDR notify=LIST state=STATE [dsn=X.Y.Z]
 *         [reason=TEXT] [owner=ADDR] [type=file|command target=TEXT]
 *       notify: "" (not given), "never", or a comma list of
 *               success,delay,failure
 *       state:  pending   still to deliver (mailq shows it)
 *               sent      delivered; kept only until the entry is removed
 *               bounced   failed permanently; a DSN has been queued
 *       type:   absent = an address; "file" or "command" = an alias
 *               target, then target=TEXT holds the path or the command
 *               and addr the alias address it came from.  satmail-queue
 *               accepts these from a client only when the alias tables
 *               confirm them (cmd/satmail-queue.c).
 */
#ifndef SATMAIL_ENVELOPE_H
#define SATMAIL_ENVELOPE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

#define ENVELOPE_VERSION_LINE	"satmail-envelope 1"
#define ENVELOPE_MAX_RCPT	10000	/* recipients of one message */
#define ENVELOPE_MAX_LINE	8192	/* one record, escaped */
#define ENVELOPE_MAX_BYTES	(4 * 1024 * 1024)	/* the whole envelope */
#define ENVELOPE_SIZE_WIDTH	12	/* digits of the on-disk size record */

enum rcpt_state { RCPT_PENDING, RCPT_SENT, RCPT_BOUNCED };
enum rcpt_type { RCPT_ADDRESS, RCPT_FILE, RCPT_COMMAND };

enum {	/* DSN NOTIFY bits; none set = not given */
	NOTIFY_NEVER = 1, NOTIFY_SUCCESS = 2, NOTIFY_DELAY = 4, NOTIFY_FAILURE = 8,
};

struct rcpt {
	char *addr;		/* canonical address to deliver to */
	char *orig;		/* as the submitter gave it (ORCPT), or NULL */
	char *owner;		/* owner-NAME sender for an alias expansion, or NULL */
	char *reason;		/* last failure text, or NULL */
	char *target;		/* RCPT_FILE: the path; RCPT_COMMAND: the command */
	enum rcpt_type type;
	char dsn[16];		/* last status code, "" if none */
	unsigned notify;	/* NOTIFY_* bits */
	enum rcpt_state state;
};

struct envelope {
	char id[32];
	int64_t arrival_sec;
	long arrival_usec;
	long long uid;		/* -1 = unknown */
	long long size;		/* message bytes; -1 = unknown */
	char *sender;		/* NULL or "" = null sender; see envelope_sender() */
	char *fullname;
	char *envid;
	char *ret;		/* "full", "hdrs" or NULL */
	char *body;		/* "7bit", "8bitmime" or NULL */
	bool smtputf8;
	bool hold;
	bool delay_warned;	/* the delay DSN has been queued */
	unsigned attempts;
	int64_t next_retry;
	struct rcpt *rcpt;
	size_t nrcpt;
	size_t rcpt_cap;
};

void envelope_init(struct envelope *e);
void envelope_clear(struct envelope *e);
/* Adds a pending recipient (strings copied); orig may be NULL.  Returns
 * false when ENVELOPE_MAX_RCPT is reached. */
bool envelope_add_rcpt(struct envelope *e, const char *addr, const char *orig,
    unsigned notify);
/* True when addr (case-insensitive) is already a recipient. */
bool envelope_has_rcpt(const struct envelope *e, const char *addr);
size_t envelope_pending(const struct envelope *e);
/* The sender, "" for the null sender; never NULL. */
const char *envelope_sender(const struct envelope *e);

/* Appends the records (version line through the empty line) to out.
 * With client_only, the records the queue sets itself (id, arrival, uid,
 * size, attempts, next-retry, hold, delay-warned) are left out: that is
 * the form sendmail sends to `satmail-queue drop`.  The size record, when
 * written, has
 * ENVELOPE_SIZE_WIDTH digits; *size_off (if not NULL) receives the offset
 * of its first digit within out. */
void envelope_format(const struct envelope *e, bool client_only,
    struct buf *out, size_t *size_off);

/* Parses records from text[0..len), which must start with the version
 * line.  Stops after the empty line; *used receives the bytes consumed
 * (the message starts there).  Every address is re-validated.  Returns
 * false with a one-line reason when the envelope is malformed, incomplete,
 * or over the limits above. */
bool envelope_parse(struct envelope *e, const char *text, size_t len,
    size_t *used, struct buf *why);

/* Escaping of record values (see the top of this file). */
void envelope_escape(struct buf *out, const char *s);
/* Decodes %XX; returns false on a malformed escape or a decoded NUL. */
bool envelope_unescape(struct buf *out, const char *s, size_t n);

const char *envelope_state_name(enum rcpt_state s);
/* "success,delay" etc.; "" when no bit is set. */
void envelope_notify_format(unsigned notify, struct buf *out);
/* Parses the -N argument; false on a bad word. */
bool envelope_notify_parse(const char *s, unsigned *notify);

#endif
