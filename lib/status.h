/* status - the outcome of an operation as a value.
 *
 * A class (OK, TEMP, PERM), an RFC 3463 enhanced status code ("4.3.0") and
 * a human text.  cmd/ programs turn a status into an exit code with
 * status_sysexit(), the one mapping to sysexits(3).  Anything ambiguous
 * is TEMP. */
#ifndef SATMAIL_STATUS_H
#define SATMAIL_STATUS_H
#include "buf.h"

enum status_class { STATUS_OK = 0, STATUS_TEMP, STATUS_PERM };

/* sysexits(3) values, named here so no module needs <sysexits.h>. */
enum {
	EXIT_USAGE = 64, EXIT_DATAERR = 65, EXIT_NOINPUT = 66, EXIT_NOUSER = 67,
	EXIT_NOHOST = 68, EXIT_UNAVAILABLE = 69, EXIT_SOFTWARE = 70,
	EXIT_OSERR = 71, EXIT_OSFILE = 72, EXIT_CANTCREAT = 73, EXIT_IOERR = 74,
	EXIT_TEMPFAIL = 75, EXIT_PROTOCOL = 76, EXIT_NOPERM = 77, EXIT_CONFIG = 78,
};

struct status {
	enum status_class cls;
	char dsn[16];		/* "2.0.0", "4.3.0", "5.1.1" */
	int exit_code;		/* sysexits hint; 0 = derive from cls */
	struct buf text;
};

void status_init(struct status *st);
void status_clear(struct status *st);
/* Sets all fields; dsn may be NULL (then "2.0.0"/"4.0.0"/"5.0.0"). */
void status_set(struct status *st, enum status_class cls, const char *dsn,
    int exit_code, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void status_copy(struct status *dst, const struct status *src);
/* The exit code a program should end with for this outcome. */
int status_sysexit(const struct status *st);
const char *status_class_name(enum status_class cls);

#endif
