/* transport_local - the "local" transport: each recipient's message goes
 * to satmail-local (setgid mail), which appends it to the user's mailbox.
 *
 * satmail-local gets the open queue entry as its stdin with the offset of
 * the message (-s), and answers one line: "ok|temp|perm X.Y.Z TEXT".
 * Anything else from it, or its death, is TEMP. */
#ifndef SATMAIL_TRANSPORT_LOCAL_H
#define SATMAIL_TRANSPORT_LOCAL_H

#include "router.h"

extern const struct transport transport_local;

/* Runs a helper with stdin = in_fd (may be -1 for /dev/null) and reads
 * its one-line "ok|temp|perm CODE TEXT" answer into result.  argv[0] is
 * the program path.  Shared by the local and the command transports. */
void transport_run_helper(char *const argv[], int in_fd, struct status *result);

/* Parses a helper's or worker's outcome "ok|temp|perm X.Y.Z TEXT" into r
 * (TEXT as it is); false when malformed or when the code's class digit
 * disagrees with the word.  Shared by every transport that hears from
 * another process. */
bool transport_parse_outcome(const char *line, struct status *r);

#endif
