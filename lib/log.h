/* log - Postfix-shaped log lines to syslog or maillog_file, plus stderr.
 *
 * Every program calls log_init() first.  Lines go to syslog (facility
 * mail, ident "satmail/PROGRAM") unless log_set_file() named a file
 * (maillog_file; "/dev/stderr" suits containers).  Warnings and errors are
 * also printed on stderr as "PROGRAM: warning: ..." / "PROGRAM: fatal: ..."
 * when stderr echo is on (the default for commands a person runs).
 * Logging never fails its caller: an unwritable log is silently skipped. */
#ifndef SATMAIL_LOG_H
#define SATMAIL_LOG_H
#include <stdbool.h>

void log_init(const char *program);
const char *log_program(void);
/* path empty or NULL = syslog. */
void log_set_file(const char *path);
void log_set_stderr(bool on);
/* The maillog_file descriptor, -1 when logging goes to syslog: a worker
 * that closes its inherited descriptors keeps this one. */
int log_file_fd(void);
/* 0 = normal; 1 = -v; 2 = -vv (log_debug lines appear on stderr). */
void log_set_verbose(int level);
int log_verbose(void);

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* An error that makes the program give up (the caller then exits). */
void log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Printed on stderr only with -v; logged only with -vv. */
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Broken invariant: log, then abort. */
_Noreturn void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
