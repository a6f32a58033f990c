/* queue - the durable mail queue: entry ids, atomic create / update /
 * delete, per-entry locks, listing.
 *
 * Layout under queue_directory (created on first use when writable):
 *   tmp/       entries being written; never read by runners or mailq
 *   queue/     committed entries, one file per message, named by queue id
 *   corrupt/   entries that failed validation, moved aside, never deleted
 *
 * A queue entry file is an envelope (envelope.h records, ending with an
 * empty line) followed by the message exactly as it will be sent (LF line
 * ends).  The envelope's "size" record holds the message byte count, so
 * file size = envelope bytes + size; a file whose size disagrees is
 * corrupt (truncated or overwritten), never delivered.
 *
 * Legal on-disk states of one message, and who moves it:
 *   1. absent
 *   2. tmp/NAME, incomplete         drop is writing (holds flock on it)
 *   3. tmp/NAME, orphaned           drop died; removed by queue_clean_tmp
 *                                   once unlocked and older than an hour
 *   4. queue/ID, committed          drop: fsync(file), renameat2(NOREPLACE)
 *                                   tmp/NAME -> queue/ID, fsync(queue/).
 *                                   This rename is the commit: exit 0 of
 *                                   sendmail happens only after it.
 *   5. queue/ID, updated            a runner holding the entry lock writes
 *                                   tmp/NAME (new envelope + the same
 *                                   message), fsyncs, renames it over
 *                                   queue/ID, fsyncs queue/: a crash leaves
 *                                   either the old or the new entry
 *   6. absent again                 the runner holding the lock unlinks
 *                                   queue/ID when no recipient is pending
 *   7. corrupt/ID                   a reader found state 4/5 invalid
 *
 * Ids are Postfix's short form: 5 hex digits of the microseconds of
 * creation, then the temporary file's inode number in hex.  The inode is
 * unique among live files; the NOREPLACE rename guarantees no entry is
 * ever overwritten even if an id repeats after inode reuse.
 *
 * Locks: flock(LOCK_EX|LOCK_NB) on the entry file.  Because an update
 * replaces the file, a locker re-checks after locking that queue/ID is
 * still the inode it locked, and retries otherwise.  Locks die with their
 * process, so a crash never leaves a stale lock. */
#ifndef SATMAIL_QUEUE_H
#define SATMAIL_QUEUE_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "envelope.h"
#include "status.h"

#define QUEUE_TMP_MAX_AGE	3600	/* seconds before an orphaned tmp file goes */

struct queue;
struct queue_drop;

/* Opens queue_directory; with create, makes the subdirectories that are
 * missing.  On failure returns NULL with st set (TEMP, exit 73/75). */
struct queue *queue_open(const char *dir, bool create, struct status *st);
struct queue *queue_close(struct queue *q);
const char *queue_path(const struct queue *q);

/* ---- writing a new entry (drop) ---- */

/* Creates the temporary file and chooses the id.  Returns NULL with st. */
struct queue_drop *queue_drop_begin(struct queue *q, struct status *st);
const char *queue_drop_id(const struct queue_drop *d);
/* Path of the temporary file (for a signal handler to unlink). */
const char *queue_drop_tmp_path(const struct queue_drop *d);
/* Writes the envelope (sets e->id, arrival, uid) then expects the message
 * through queue_drop_write.  false with st on I/O error. */
bool queue_drop_envelope(struct queue_drop *d, struct envelope *e, struct status *st);
bool queue_drop_write(struct queue_drop *d, const void *p, size_t n, struct status *st);
/* Message bytes written so far. */
long long queue_drop_size(const struct queue_drop *d);
/* Fills in the size, fsyncs, renames into queue/, fsyncs the directory.
 * Only after true is the message accepted.  The drop is freed either way. */
bool queue_drop_commit(struct queue_drop *d, struct status *st);
/* Removes the temporary file and frees the drop.  Accepts NULL. */
void queue_drop_abort(struct queue_drop *d);

/* ---- reading ---- */

struct queue_entry {
	char id[32];
	struct envelope env;
	long long msg_offset;	/* where the message starts in the file */
	struct stat st;
	int fd;			/* open read-only; locked when locked is true */
	bool locked;
};

/* Reads queue/ID's envelope.  Returns 1 on success, 0 when the entry does
 * not exist (any more), -1 when it is corrupt (why says how) or cannot be
 * read (st).  With lock, takes the entry lock first; returns 2 when
 * another process holds it. */
int queue_entry_open(struct queue *q, const char *id, bool lock,
    struct queue_entry *qe, struct buf *why);
void queue_entry_close(struct queue_entry *qe);
/* True when some process holds the entry's lock (being delivered). */
bool queue_entry_busy(struct queue *q, const char *id);

/* Rewrites a locked entry with qe->env as its new envelope (same
 * message), atomically.  The entry stays locked (qe->fd is the new file). */
bool queue_entry_update(struct queue *q, struct queue_entry *qe, struct status *st);
/* Removes a locked entry (durably). */
bool queue_entry_remove(struct queue *q, struct queue_entry *qe, struct status *st);
/* Moves queue/ID aside into corrupt/ and logs why. */
void queue_quarantine(struct queue *q, const char *id, const char *why);

/* Calls fn for each committed id in queue/, sorted by name.  Stops early
 * when fn returns false. */
bool queue_scan(struct queue *q, bool (*fn)(void *ctx, const char *id),
    void *ctx, struct status *st);

/* fsyncs queue/ (after a crash of the writer, to make its rename durable). */
bool queue_sync(struct queue *q, struct status *st);

/* Removes orphaned temporary files (unlocked, older than max_age s). */
void queue_clean_tmp(struct queue *q, time_t max_age);

/* True when s has the shape of a queue id (for -qI and postsuper). */
bool queue_valid_id(const char *s);

#endif
