/* status - outcome values and the one map to sysexits (see status.h). */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void
status_init(struct status *st)
{
	st->cls = STATUS_OK;
	strcpy(st->dsn, "2.0.0");
	st->exit_code = 0;
	buf_init(&st->text);
}

void
status_clear(struct status *st)
{
	buf_clear(&st->text);
	status_init(st);
}

void
status_set(struct status *st, enum status_class cls, const char *dsn,
    int exit_code, const char *fmt, ...)
{
	static const char *const dflt[] = { "2.0.0", "4.0.0", "5.0.0" };
	st->cls = cls;
	snprintf(st->dsn, sizeof st->dsn, "%s", dsn ? dsn : dflt[cls]);
	st->exit_code = exit_code;
	buf_reset(&st->text);
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&st->text, fmt, ap);
	va_end(ap);
}

void
status_copy(struct status *dst, const struct status *src)
{
	dst->cls = src->cls;
	memcpy(dst->dsn, src->dsn, sizeof dst->dsn);
	dst->exit_code = src->exit_code;
	buf_set(&dst->text, buf_cstr(&src->text));
}

int
status_sysexit(const struct status *st)
{
	if (st->exit_code)
		return st->exit_code;
	switch (st->cls) {
	case STATUS_OK:
		return 0;
	case STATUS_TEMP:
		return EXIT_TEMPFAIL;
	default:
		return EXIT_UNAVAILABLE;
	}
}

const char *
status_class_name(enum status_class cls)
{
	switch (cls) {
	case STATUS_OK:
		return "ok";
	case STATUS_TEMP:
		return "temp";
	default:
		return "perm";
	}
}
