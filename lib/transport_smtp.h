/* transport_smtp - the "smtp" transport: remote recipients go to a worker
 * process that speaks SMTP without privilege.
 *
 * One worker serves a whole queue run (or one foreground delivery), so
 * that messages to the same next hop share a connection (smtp.h's
 * cache).  The queue process (which may hold the satmail group, or be
 * root) builds the TLS client context (trust anchors, client key) and
 * forks the worker the first time it needs one; the worker closes every
 * descriptor but its job socket and the log, drops its privileges for
 * good (priv_drop_worker), and only then resolves names, connects, and
 * runs smtp_sasl_password_command when configured.  Per message, the
 * queue process looks up the SASL credentials of the next hop
 * (smtp_sasl_password_maps are readable by root and the satmail group
 * only) and sends the worker one job on a UNIX stream socket, with a
 * read-only descriptor of the queue entry attached (SCM_RIGHTS):
 *
 *   job LEN                       header line; LEN bytes follow
 *   nexthop VALUE
 *   cred HOST PORT USER SECRET    zero or more
 *   ENVELOPE                      envelope records (envelope.h) holding
 *                                 only the recipients of this job
 *
 * and reads back one record per line, every value escaped as in envelope
 * records:
 *
 *   relay LABEL                   host[addr]:port of the last server, or none
 *   rcpt INDEX ok|temp|perm X.Y.Z TEXT   one per recipient, INDEX < n
 *   end                           the report is complete
 *
 * The parent believes nothing it cannot check: an index out of range or
 * given twice, a class that disagrees with the code's first digit, a
 * missing "end" or a worker that died make the unreported recipients TEMP
 * ("4.3.0 SMTP worker ...") and the worker is replaced for the next job.
 * A worker dying after the server accepted the message is the documented
 * duplicate window.  transport_smtp.finish (router_finish) closes the job
 * socket: the worker ends its cached connection with QUIT and exits. */
#ifndef SATMAIL_TRANSPORT_SMTP_H
#define SATMAIL_TRANSPORT_SMTP_H

#include "router.h"

extern const struct transport transport_smtp;

#define TRANSPORT_SMTP_MAX_REPORT	(4 * 1024 * 1024)	/* bytes of one report */

#endif
