/* transport_smtp - the "smtp" transport: remote recipients go to a worker
 * process that speaks SMTP without privilege.
 *
 * The queue process (which may hold the satmail group, or be root) looks
 * up the SASL credentials of the next hop's destinations
 * (smtp_sasl_password_maps are readable by root and the satmail group
 * only), builds the TLS client context (trust anchors, client key), opens
 * a read-only descriptor of the queue entry, and forks.  The worker closes
 * every other descriptor, drops its privileges for good
 * (priv_drop_worker) and only then resolves names, connects, and runs
 * smtp_password_command when configured.  It reports back on a pipe, one
 * record per line, every value escaped as in envelope records:
 *
 *   relay LABEL                   host[addr]:port of the last server, or none
 *   rcpt INDEX ok|temp|perm X.Y.Z TEXT   one per recipient, INDEX < n
 *   end                           the report is complete
 *
 * The parent believes nothing it cannot check: an index out of range or
 * given twice, a class that disagrees with the code's first digit, a
 * missing "end" or a worker that died make the unreported recipients TEMP
 * ("4.3.0 SMTP worker ...").  A worker dying after the server accepted
 * the message is the documented duplicate window. */
#ifndef SATMAIL_TRANSPORT_SMTP_H
#define SATMAIL_TRANSPORT_SMTP_H

#include "router.h"

extern const struct transport transport_smtp;

#define TRANSPORT_SMTP_MAX_REPORT	(1024 * 1024)	/* bytes read from a worker */

#endif
