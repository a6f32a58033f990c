/* satmail-local - append one message to one local mailbox (setgid mail
 * when installed; SPEC.md sections 5 and 10, DESIGN.md).
 *
 *   satmail-local [-C FILE] -u USER -f SENDER [-o ORIG_RCPT]
 *                 -d DELIVERED_TO [-s OFFSET]
 *
 * The message is fd 0, read to its end; with -s it starts at byte OFFSET
 * of fd 0, which is then an open queue entry shared with the queue
 * runner: it is read with pread, so the shared file offset never moves.
 * USER is a password-database name, already lower-cased and without an
 * address extension (the caller's job); SENDER "" is the null sender.
 * The append itself (format, locks, safe open, truncation on failure) is
 * lib/local.  A missing mailbox is made by satmail-mbox-create (found
 * with priv_helper_path) and the delivery is tried once more.
 *
 * The answer is exactly one line on stdout:
 *   ok 2.0.0 delivered to mailbox     exit 0
 *   temp 4.X.X TEXT                   exit 75 (64 for a usage error)
 *   perm 5.X.X TEXT                   exit 69 (67 for an unknown user)
 * TEXT holds no control characters.  Failures are also logged; the
 * "status=sent" line is the queue runner's.
 *
 * Lock tuning comes from main.cf under Postfix's names:
 * deliver_lock_attempts (20), deliver_lock_delay (1s), stale_lock_time
 * (500s). */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "local.h"
#include "log.h"
#include "priv.h"
#include "status.h"

#define ANSWER_TEXT_MAX	900	/* the queue reads at most 1023 bytes */

extern char **environ;

/* Prints the one answer line and returns the exit code. */
static int
answer(const struct status *st)
{
	struct buf line = BUF_INIT;
	const char *t = buf_cstr(&st->text);

	buf_printf(&line, "%s %s ", status_class_name(st->cls), st->dsn);
	for (size_t i = 0; t[i] && i < ANSWER_TEXT_MAX; i++)
		buf_putc(&line, (unsigned char)t[i] < 0x20 || t[i] == 0x7f ? ' ' : t[i]);
	buf_putc(&line, '\n');
	(void)!write(1, line.data, line.len);
	buf_clear(&line);
	return status_sysexit(st);
}

static _Noreturn void
usage(void)
{
	struct status st;

	status_init(&st);
	fprintf(stderr, "usage: satmail-local [-C config] -u user -f sender [-o orig_rcpt] "
	    "-d delivered_to [-s offset] < message\n");
	status_set(&st, STATUS_TEMP, "4.3.5", EXIT_USAGE, "satmail-local: usage error");
	int rc = answer(&st);
	status_clear(&st);
	exit(rc);
}

/* Runs satmail-mbox-create USER; returns its exit status (-1: no status). */
static int
mbox_create(const char *conf_path, const char *user)
{
	char *helper = priv_helper_path("satmail-mbox-create");
	const char *argv[6];
	int n = 0, ws, rc = -1;
	pid_t pid;
	posix_spawn_file_actions_t fa;

	argv[n++] = helper;
	if (conf_path) {
		argv[n++] = "-C";
		argv[n++] = conf_path;
	}
	argv[n++] = user;
	argv[n] = NULL;
	/* Its stdout must not mix with our one answer line. */
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	int err = posix_spawn(&pid, helper, &fa, NULL, (char *const *)(void *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err) {
		log_warning("cannot run %s: %s", helper, strerror(err));
	} else {
		while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
			;
		if (WIFEXITED(ws))
			rc = WEXITSTATUS(ws);
	}
	free(helper);
	return rc;
}

/* Strict decimal byte offset. */
static bool
parse_offset(const char *s, off_t *off)
{
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v < 0)
		return false;
	*off = (off_t)v;
	return true;
}

int
main(int argc, char **argv)
{
	const char *env_config = getenv("SATMAIL_CONFIG");
	const char *copt = NULL, *user = NULL, *sender = NULL, *orig = NULL, *dto = NULL;
	struct buf why = BUF_INIT;
	struct status st;
	bool refused, explicit_path;
	off_t offset = -1;
	int c, rc;

	priv_setid_startup(022);
	log_init("satmail-local");
	/* stdout is the answer; stderr is the queue runner's: only a person
	 * at a terminal sees warnings there. */
	log_set_stderr(isatty(2));
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
	status_init(&st);
	while ((c = getopt(argc, argv, "+C:u:f:o:d:s:")) != -1) {
		switch (c) {
		case 'C': copt = optarg; break;
		case 'u': user = optarg; break;
		case 'f': sender = optarg; break;
		case 'o': orig = optarg; break;
		case 'd': dto = optarg; break;
		case 's':
			if (!parse_offset(optarg, &offset))
				usage();
			break;
		default: usage();
		}
	}
	if (user == NULL || sender == NULL || dto == NULL || optind != argc)
		usage();

	const char *path = priv_config_path(copt, env_config, &refused, &explicit_path);
	struct conf *conf = conf_load(path, explicit_path, &why);
	if (conf == NULL) {
		log_fatal("%s", buf_cstr(&why));
		status_set(&st, STATUS_TEMP, "4.3.5", 0, "configuration error: %s", buf_cstr(&why));
		rc = answer(&st);
		status_clear(&st);
		buf_clear(&why);
		return rc;
	}
	log_set_file(conf->maillog_file);
	if (refused)
		log_debug("alternate configuration ignored: not permitted for a set-id program run by uid %ld",
		    (long)getuid());

	errno = 0;
	const struct passwd *pw = local_user_name_ok(user) ? getpwnam(user) : NULL;
	if (pw == NULL && errno != 0 && errno != ENOENT && errno != ESRCH && errno != EBADF &&
	    errno != EPERM) {
		status_set(&st, STATUS_TEMP, "4.3.0", 0, "cannot look up user \"%s\": %s", user,
		    strerror(errno));
	} else if (pw == NULL || strcmp(pw->pw_name, user) != 0) {
		status_set(&st, STATUS_PERM, "5.1.1", EXIT_NOUSER, "unknown user: \"%s\"", user);
	} else {
		struct local_mbox m = {
			.spool_dir = conf->mail_spool_directory, .user = user,
			.uid = pw->pw_uid, .gid = pw->pw_gid,
			.sender = sender, .orig_rcpt = orig, .delivered_to = dto,
			.msg_fd = 0, .msg_offset = offset,
			.lock_attempts = conf->deliver_lock_attempts,
			.lock_delay_ms = 1000 * conf->deliver_lock_delay,
			.stale_lock_s = conf->stale_lock_time,
		};
		enum local_result r = local_mbox_append(&m, &st);
		if (r == LOCAL_NO_MAILBOX) {
			int crc = mbox_create(explicit_path ? path : NULL, user);
			if (crc == 0)
				r = local_mbox_append(&m, &st);
			else
				status_set(&st, STATUS_TEMP, "4.2.0", 0,
				    "mailbox %s/%s does not exist and satmail-mbox-create failed (%s %d)",
				    conf->mail_spool_directory, user, crc < 0 ? "status" : "exit", crc);
		}
	}
	if (st.cls != STATUS_OK)
		log_warning("to=<%s>, user %s: %s", dto, user, buf_cstr(&st.text));
	rc = answer(&st);
	status_clear(&st);
	buf_clear(&why);
	conf_free(conf);
	return rc;
}
