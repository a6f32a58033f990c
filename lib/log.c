/* log - syslog / maillog_file / stderr lines (see log.h).
 *
 * The file format is what Postfix's maillog_file writes:
 *   "Mmm dd hh:mm:ss HOST satmail/PROGRAM[PID]: TEXT\n"
 * written with one write(2) on an O_APPEND descriptor, so concurrent
 * programs never interleave within a line. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static char log_prog[64] = "satmail";
static char log_ident[80] = "satmail";
static int log_fd = -1;
static bool log_to_stderr = true;
static bool log_syslog_open;
static int log_level;

void
log_init(const char *program)
{
	const char *slash = strrchr(program, '/');
	if (slash)
		program = slash + 1;
	snprintf(log_prog, sizeof log_prog, "%s", program);
	snprintf(log_ident, sizeof log_ident, "satmail/%s", log_prog);
}

const char *
log_program(void)
{
	return log_prog;
}

int
log_file_fd(void)
{
	return log_fd;
}

void
log_set_file(const char *path)
{
	if (log_fd >= 0 && log_fd > 2)
		close(log_fd);
	log_fd = -1;
	if (path == NULL || *path == '\0')
		return;
	if (strcmp(path, "/dev/stderr") == 0) {
		log_fd = 2;
		return;
	}
	log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
}

void
log_set_stderr(bool on)
{
	log_to_stderr = on;
}

void
log_set_verbose(int level)
{
	log_level = level;
}

int
log_verbose(void)
{
	return log_level;
}

static void
log_emit(int prio, const char *label, bool echo, const char *fmt, va_list ap)
{
	char text[2048];
	vsnprintf(text, sizeof text, fmt, ap);
	/* A log line is one line: control characters from peer data must
	 * not forge further lines. */
	for (char *p = text; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';

	if (echo && log_to_stderr && log_fd != 2) {
		char line[2300];
		int n = snprintf(line, sizeof line, "%s: %s%s\n", log_prog, label, text);
		if (n > 0)
			(void)!write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
	}
	if (prio == LOG_DEBUG && log_level < 2)
		return;
	if (log_fd >= 0) {
		char host[256] = "localhost", stamp[32], line[2600];
		time_t now = time(NULL);
		struct tm tm;
		gethostname(host, sizeof host - 1);
		host[sizeof host - 1] = '\0';
		char *dot = strchr(host, '.');
		if (dot)
			*dot = '\0';
		localtime_r(&now, &tm);
		strftime(stamp, sizeof stamp, "%b %e %H:%M:%S", &tm);
		int n = snprintf(line, sizeof line, "%s %s %s[%ld]: %s%s\n", stamp, host,
		    log_ident, (long)getpid(), label, text);
		if (n > 0)
			(void)!write(log_fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
		return;
	}
	if (!log_syslog_open) {
		openlog(log_ident, LOG_PID, LOG_MAIL);
		log_syslog_open = true;
	}
	syslog(prio, "%s%s", label, text);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit(LOG_INFO, "", false, fmt, ap);
	va_end(ap);
}

void
log_warning(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit(LOG_WARNING, "warning: ", true, fmt, ap);
	va_end(ap);
}

void
log_fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit(LOG_ERR, "fatal: ", true, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	if (log_level < 1)
		return;
	va_list ap;
	va_start(ap, fmt);
	log_emit(LOG_DEBUG, "", true, fmt, ap);
	va_end(ap);
}

void
panic(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit(LOG_CRIT, "panic: ", true, fmt, ap);
	va_end(ap);
	abort();
}
