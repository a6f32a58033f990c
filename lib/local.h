/* local - mbox format and locking: append one message to one mailbox
 * (used by satmail-local; SPEC.md section 5, POSTFIX-NOTES.md 6.1).
 *
 * The bytes appended to SPOOL/USER are exactly Postfix local(8)'s:
 *
 *   From SENDER  Www Mmm dd hh:mm:ss yyyy     (MAILER-DAEMON for "")
 *   Return-Path: <SENDER>
 *   X-Original-To: ORIG_RCPT                  (only when given, not "")
 *   Delivered-To: DELIVERED_TO
 *   the message, every line starting "From " written as ">From "
 *   a final LF when the message lacks one
 *   one empty line
 *
 * A mailbox that does not end with an empty line (the fragment a killed
 * writer leaves behind, or another program's damage) first gets the LFs
 * it needs, so that the new From_ line always follows an empty line.
 *
 * Locking protocol (Debian policy order, SECURITY.md b.3): first a
 * whole-file fcntl write lock on the mailbox, then the dotlock
 * SPOOL/USER.lock.  Both are held until the appended bytes are fsync'd.
 * The dotlock file holds the writer's pid ("PID\n") and appears with its
 * content atomically (O_TMPFILE + linkat; O_CREAT|O_EXCL then write where
 * the file system lacks O_TMPFILE).  A dotlock is broken when it is older
 * than stale_lock_s, or when it names (as a plain decimal pid) a process
 * that no longer exists on this host, which is what liblockfile does; an
 * empty or foreign-format dotlock is only ever broken by age.  Holders of
 * a long append refresh the dotlock's mtime.  On NFS this is best effort.
 *
 * Safe open (SECURITY.md P-04..P-07): the mailbox is looked up with
 * fstatat(AT_SYMLINK_NOFOLLOW) relative to an open spool directory and
 * refused unless it is a regular file; only then is it opened with
 * O_APPEND | O_NOFOLLOW | O_NONBLOCK (no FIFO or device ever blocks or is
 * opened; O_RDWR so the separator check above can read the last two
 * bytes, O_WRONLY without that check when the mode allows no reading),
 * and the open file must be the same inode, a regular file with exactly
 * one link, owned by the recipient's uid.  After locking, the name must
 * still refer to the locked inode (an MUA may have replaced the file);
 * otherwise the open is retried a few times.  All of these refusals
 * defer (TEMP 4.2.0) with a reason naming the mailbox.
 *
 * Failure never leaves a partial message: the size is recorded under the
 * locks, and any read, write or fsync error truncates the mailbox back to
 * it (SIGXFSZ is ignored for the duration, so a file size limit is an
 * EFBIG error, not a death). */
#ifndef SATMAIL_LOCAL_H
#define SATMAIL_LOCAL_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "buf.h"
#include "status.h"

#define LOCAL_USER_MAX		32	/* longest user (mailbox) name */
#define LOCAL_ADDR_MAX		1000	/* longest sender / recipient text */
#define LOCAL_LOCK_ATTEMPTS	20	/* Postfix deliver_lock_attempts */
#define LOCAL_LOCK_DELAY_MS	1000	/* Postfix deliver_lock_delay */
#define LOCAL_STALE_LOCK_S	500	/* Postfix stale_lock_time */
#define LOCAL_CHUNK		65536	/* bytes read from the message at once */

/* One delivery.  Strings are borrowed for the duration of the call. */
struct local_mbox {
	const char *spool_dir;		/* mail_spool_directory */
	const char *user;		/* mailbox name; must pass local_user_name_ok() */
	uid_t uid;			/* the mailbox must be owned by this uid */
	gid_t gid;			/* the user's group (informational) */
	const char *sender;		/* envelope sender, "" = null sender */
	const char *orig_rcpt;		/* X-Original-To; NULL or "" = none */
	const char *delivered_to;	/* Delivered-To */
	int msg_fd;			/* the message */
	off_t msg_offset;		/* >= 0: pread from here to EOF; < 0: read() to EOF */
	time_t now;			/* From_ line time; 0 = the time of the append */
	unsigned lock_attempts;		/* 0 = LOCAL_LOCK_ATTEMPTS */
	unsigned lock_delay_ms;		/* 0 = LOCAL_LOCK_DELAY_MS */
	unsigned stale_lock_s;		/* 0 = LOCAL_STALE_LOCK_S */
};

enum local_result {
	LOCAL_DELIVERED,	/* appended and fsync'd; st is OK 2.0.0 */
	LOCAL_FAILED,		/* nothing appended; st is TEMP or PERM with the reason */
	LOCAL_NO_MAILBOX,	/* SPOOL/USER does not exist; nothing done; st is
				 * TEMP 4.2.0 (the caller may create it and retry) */
};

/* Appends the message to SPOOL/USER as described above.  Returns the
 * result and sets st.  Message bytes are read in LOCAL_CHUNK pieces:
 * memory use does not grow with the message.  A message read from a
 * pipe (msg_offset < 0) is consumed only when the mailbox could be
 * opened and locked, so LOCAL_NO_MAILBOX leaves it unread.  Refusals
 * and lock time-outs are TEMP 4.2.0; read, write and fsync errors TEMP
 * 4.3.0 (4.2.2 for EFBIG / EDQUOT, 4.3.1 for ENOSPC), as is a spool
 * directory that cannot be opened; a bad mailbox name PERM 5.1.3; a
 * sender or recipient with control characters PERM 5.3.5. */
enum local_result local_mbox_append(const struct local_mbox *m, struct status *st);

/* True when name is a safe mailbox name: [a-z0-9_][a-z0-9_.-]*, at most
 * LOCAL_USER_MAX bytes, no "..".  Such a name has no "/" and cannot start
 * with "-", so it is safe both as a path component and as an argument. */
bool local_user_name_ok(const char *name);

/* True when s may appear in a header or the From_ line: at most
 * LOCAL_ADDR_MAX bytes, no control characters (so no CR or LF). */
bool local_addr_ok(const char *s);

/* Appends "From SENDER  Www Mmm dd hh:mm:ss yyyy\n" for now in local
 * time (TZ): asctime's first 24 bytes, with C-locale names whatever the
 * locale.  An empty sender gives MAILER-DAEMON. */
void local_from_line(struct buf *out, const char *sender, time_t now);

/* Appends the From_ line and the Return-Path / X-Original-To /
 * Delivered-To headers for m (m->now must be set). */
void local_headers(struct buf *out, const struct local_mbox *m);

/* Streaming ">From " quoting with state across chunk boundaries: feed
 * the message in any pieces, then finish.  The output equals quoting the
 * whole message at once, plus a final LF when missing, plus the
 * separating empty line. */
struct local_quote {
	bool bol;		/* at the start of a line */
	unsigned pend;		/* bytes of "From " matched and held back */
};
void local_quote_init(struct local_quote *q);
void local_quote_chunk(struct local_quote *q, const char *p, size_t n, struct buf *out);
void local_quote_finish(struct local_quote *q, struct buf *out);

/* The LFs to write before a new From_ line so that it follows an empty
 * line, given the mailbox size and its last (up to) two bytes (tail
 * holds min(size, 2) bytes): "", "\n" or "\n\n". */
const char *local_mbox_padding(off_t size, const char *tail);

/* The dotlock (see the protocol above).  dirfd is the spool directory;
 * name is "USER.lock".  Tries attempts times, delay_ms apart, breaking
 * a stale lock as described; on success fills dl and returns true.  On
 * failure returns false with st TEMP 4.2.0 and a reason (spool_dir is
 * used only in that text). */
struct local_dotlock {
	int dirfd;		/* borrowed */
	int fd;			/* our lock file, -1 = none */
	dev_t dev;
	ino_t ino;
	char name[LOCAL_USER_MAX + 8];
};
bool local_dotlock_acquire(int dirfd, const char *spool_dir, const char *name,
    unsigned attempts, unsigned delay_ms, unsigned stale_s,
    struct local_dotlock *dl, struct status *st);
/* Refreshes the lock's mtime (long appends). */
void local_dotlock_touch(struct local_dotlock *dl);
/* Removes the dotlock, but only while the name still refers to the file
 * this process created (a lock broken as stale and re-taken by someone
 * else is left alone).  Accepts a never-acquired dl with fd -1. */
void local_dotlock_release(struct local_dotlock *dl);

#endif
