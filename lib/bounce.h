/* bounce - delivery status notifications (RFC 3464 reports).
 *
 * bounce_write() builds the complete content of one notification (header
 * section + body, LF line ends) about one queued message and hands it to
 * a caller-supplied sink.  The caller makes it a message: it queues the
 * bytes from the null sender to the original envelope sender, and puts
 * Received:, Date: and Message-Id: in front of them (deliver.c does this;
 * bounce_write writes none of the three).  bounce_wanted() says whether a
 * recipient's NOTIFY asks for a notice at all.
 *
 * The format is Postfix's (POSTFIX-NOTES.md 8.5) with satmail names:
 *
 *   From: Mail Delivery System <MAILER-DAEMON@$myorigin>
 *   Subject: Undelivered Mail Returned to Sender
 *            | Delayed Mail (still being retried)
 *            | Successful Mail Delivery Report
 *   To: <SENDER>
 *   References: <MSGID>          } only when the original has a
 *   In-Reply-To: <MSGID>         } usable Message-ID
 *   Auto-Submitted: auto-replied
 *   MIME-Version: 1.0
 *   Content-Type: multipart/report; report-type=delivery-status;
 *   <TAB>boundary="BOUNDARY_ID.NOW/$myhostname"
 *   [Content-Transfer-Encoding: 8bit]   when any part below is 8-bit
 *   <empty line>
 *   This is a MIME-encapsulated message.
 *   <empty line>
 *   --BOUNDARY
 *   Content-Description: Notification
 *   Content-Type: text/plain; charset=us-ascii   (utf-8, + CTE 8bit, when an
 *                                                 address or reason is UTF-8)
 *   <empty line>
 *   human text naming $myhostname, then one paragraph per recipient,
 *   "<ADDR> (expanded from <ORIG>): REASON", wrapped at 79 columns with a
 *   4-space indent, each followed by an empty line
 *   --BOUNDARY
 *   Content-Description: Delivery report
 *   Content-Type: message/delivery-status
 *   <empty line>
 *   Reporting-MTA: dns; $myhostname
 *   [Original-Envelope-Id: ENVID]
 *   X-Satmail-Queue-ID: QUEUEID
 *   X-Satmail-Sender: rfc822; SENDER
 *   Arrival-Date: RFC 5322 date of e->arrival_sec (msg_date)
 *   per recipient, after an empty line:
 *     Final-Recipient: rfc822; ADDR
 *     [Original-Recipient: rfc822;ORIG]
 *     Action: failed | delayed | delivered
 *     Status: X.Y.Z
 *     [Remote-MTA: dns; HOST]
 *     [Diagnostic-Code: smtp; REPLY  |  Diagnostic-Code: X-Satmail; REASON]
 *     [Will-Retry-Until: DATE]            delay notices only
 *   <empty line>
 *   --BOUNDARY
 *   Content-Description: Undelivered Message    ("Delivered Message" for a
 *   Content-Type: message/rfc822                 success notice)
 *   [Content-Transfer-Encoding: 8bit]           when the part has 8-bit bytes
 *   <empty line>
 *   Return-Path: <SENDER>
 *   the original message, byte for byte
 *   <empty line>
 *   --BOUNDARY--
 *
 * Part 3 is "Undelivered Message Headers" / "Delivered Message Headers",
 * text/rfc822-headers, holding Return-Path and the original's header
 * section only (no body, no empty line after it), when: RET=HDRS; or the
 * original is larger than bounce_size_limit; or RET was not given and the
 * notice is a delay or success notice (RFC 3461 4.3 leaves that choice to
 * the MTA; Postfix makes the same one).  The report then says why in the
 * human text.  With msg_fd < 0 there is no part 3 at all.
 *
 * A report about a null-sender message (a double bounce, sent to the
 * postmaster by the caller's policy; bounce_wanted() itself never asks
 * for one) is a postmaster copy: To: <postmaster@$myorigin>, Subject
 * "Postmaster Copy: Undelivered Mail" (or "Postmaster Warning: Delayed
 * Mail"), Auto-Submitted: auto-generated.
 *
 * Guarantees on the output, whatever the inputs:
 *   - LF line ends only; no CR, no NUL anywhere (a stray CR or NUL in the
 *     queued original is written as a space, as msg.h does on intake;
 *     normally there is none and part 3 is byte-exact);
 *   - every line this module writes is at most BOUNCE_MAX_LINE octets:
 *     header fields are folded at white space near 78 columns and, for a
 *     run without white space, split hard (folding then adds one space);
 *     lines of the original are copied as they are;
 *   - text from outside (diagnostics are peer data, reasons, addresses,
 *     ENVID, the original's Message-ID) cannot start a field or a line:
 *     control characters (C0, DEL, C1) become spaces and runs of white
 *     space collapse to one.  In the delivery-status part, which is
 *     US-ASCII, other non-ASCII bytes become '?', and a UTF-8 address is
 *     written as "utf-8; " + utf-8-addr-xtext (RFC 6533: "\x{HEX}" per
 *     non-ASCII character, and for '+', '=', '\\');
 *   - the boundary delimiter never starts a line of part 3: the included
 *     original is scanned first, and on a collision the boundary gets a
 *     random suffix.
 *
 * 8-bit: when the included original (or the human text) holds bytes >=
 * 0x80, that part says "Content-Transfer-Encoding: 8bit" and so does the
 * top level; the notice must then be queued and relayed as 8BITMIME (and
 * as SMTPUTF8 when an address is UTF-8): the caller's concern.
 *
 * Memory does not grow with the original: it is read with pread(2) in
 * fixed chunks (the fd's file offset is not used or moved) and the output
 * goes to the sink in chunks of about BOUNCE_CHUNK bytes.  The original is
 * read at most three times: its header section (for the Message-ID and
 * the headers-only form), the included part (scan), the included part
 * (copy). */
#ifndef SATMAIL_BOUNCE_H
#define SATMAIL_BOUNCE_H
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "conf.h"
#include "envelope.h"
#include "status.h"

#define BOUNCE_MAX_LINE		998	/* RFC 5322 2.1.1, octets without the LF */
#define BOUNCE_FOLD_COLUMN	78	/* header fields are folded from here */
#define BOUNCE_TEXT_COLUMNS	79	/* the human text is wrapped at this */
#define BOUNCE_CHUNK		16384	/* sink writes and reads of the original */
#define BOUNCE_MAX_MSGID	250	/* a longer Message-ID is not referenced */

enum bounce_kind { BOUNCE_FAILED, BOUNCE_DELAYED, BOUNCE_SUCCESS };

/* One recipient of a report.  Every string is borrowed for the call;
 * NULL and "" mean "not known". */
struct bounce_rcpt {
	const char *addr;	/* the address delivered to (Final-Recipient) */
	const char *orig;	/* ORCPT / pre-alias address; NULL = none.  The
				 * human text names it only when it differs from
				 * addr (case-insensitively) */
	const char *dsn;	/* "5.1.1"; missing, malformed, or of the wrong class
				 * for the kind (failed: 4/5, delayed: 4,
				 * success: 2) = "5.0.0" / "4.0.0" / "2.0.0" */
	const char *diagnostic;	/* Diagnostic-Code text: the server's reply when
				 * remote (untrusted peer data), else the local
				 * reason; NULL/"" = no Diagnostic-Code field */
	const char *reason;	/* the human text for this recipient, e.g. "host
				 * H[A] said: REPLY (in reply to RCPT TO command)";
				 * NULL = diagnostic */
	bool remote;		/* diagnostic type smtp (true) or X-Satmail */
	const char *remote_mta;	/* Remote-MTA host name, or NULL */
};

/* Writes the report of the given kind about the message e (the original
 * envelope: sender, id, envid, ret, arrival_sec are used; its recipient
 * list is not) for the n recipients r[0..n).  The original message is
 * msg_size bytes at msg_offset in msg_fd (a queue entry; LF line ends);
 * msg_size < 0 = up to the end of the file; msg_fd < 0 = no original
 * (two-part report).  boundary_id (NULL/"" = e->id) and now make the MIME
 * boundary "BOUNDARY_ID.NOW/$myhostname" (characters not allowed in a
 * boundary are dropped; at most 70 characters); now enters nothing else,
 * so equal inputs give equal bytes (unless the original collides with the
 * boundary, see above).  The size limit is c->bounce_size_limit.  The
 * Will-Retry-Until date is e->arrival_sec + maximal_queue_lifetime
 * (bounce_queue_lifetime for a null-sender message).  Dates use the local
 * time zone (TZ).
 *
 * The output goes to sink(ctx, p, n) in order, in pieces; it is complete
 * only when this returns true.  Returns false when the sink returned false
 * (st is then left as the sink set it; if the sink left it OK it becomes
 * TEMP 4.3.0), or with st TEMP 4.3.0 when the original cannot be read or
 * ends before msg_size bytes, or when no collision-free boundary was
 * found.  Nothing is allocated that outlives the call. */
bool bounce_write(const struct conf *c, enum bounce_kind kind,
    const struct envelope *e, const struct bounce_rcpt *r, size_t n,
    int msg_fd, long long msg_offset, long long msg_size,
    const char *boundary_id, time_t now,
    bool (*sink)(void *ctx, const char *p, size_t n), void *ctx,
    struct status *st);

/* Whether recipient r of message e is to be named in a report of this
 * kind (RFC 3461 NOTIFY, as Postfix reads it):
 *   - never for a message from the null sender (no bounce of a bounce;
 *     a double bounce to the postmaster is the caller's separate policy);
 *   - never with NOTIFY=NEVER;
 *   - without NOTIFY: failures and delays, not successes;
 *   - with NOTIFY: only the kinds listed (SUCCESS, DELAY, FAILURE). */
bool bounce_wanted(const struct envelope *e, const struct rcpt *r,
    enum bounce_kind kind);

/* "failed", "delayed", "delivered": the Action value of a kind. */
const char *bounce_action(enum bounce_kind kind);

#endif
