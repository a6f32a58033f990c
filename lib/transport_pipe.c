/* transport_pipe - run alias commands (see transport_pipe.h). */
#include "transport_pipe.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "local.h"
#include "log.h"

#define PIPE_OUTPUT_MAX 1024	/* bytes of the command's output kept for a reason */

/* The delivery headers Postfix's local(8) puts before a message it hands
 * to a command or file: From_, Return-Path, X-Original-To, Delivered-To. */
static void
delivery_headers(const struct envelope *e, const struct rcpt *r, struct buf *out)
{
	struct local_mbox h = {
		.sender = envelope_sender(e),
		.orig_rcpt = r->orig,
		.delivered_to = r->orig ? r->orig : r->addr,
		.now = time(NULL),
	};
	local_headers(out, &h);
}

/* The writer process: delivery headers, then the message. */
static _Noreturn void
feed(int out, const struct envelope *e, const struct rcpt *r, int msg_fd, long long off)
{
	struct buf head = BUF_INIT;
	char chunk[65536];
	delivery_headers(e, r, &head);
	if (!io_write_all(out, head.data, head.len))
		_exit(1);
	for (;;) {
		ssize_t n = pread(msg_fd, chunk, sizeof chunk, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || !io_write_all(out, chunk, (size_t)n))
			_exit(n < 0);
		off += n;
	}
}

static _Noreturn void
run_child(const struct passwd *pw, const struct envelope *e, const struct rcpt *r,
    int in, int out)
{
	char env_sender[400], env_rcpt[400], env_user[100], env_home[300], env_logname[100];
	setsid();
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(75);
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
	if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0 ||
	    getuid() != pw->pw_uid || geteuid() != pw->pw_uid || setuid(0) == 0)
		_exit(75);
	signal(SIGPIPE, SIG_DFL);
	snprintf(env_sender, sizeof env_sender, "SENDER=%s", envelope_sender(e));
	snprintf(env_rcpt, sizeof env_rcpt, "RECIPIENT=%s", r->orig ? r->orig : r->addr);
	snprintf(env_user, sizeof env_user, "USER=%s", pw->pw_name);
	snprintf(env_logname, sizeof env_logname, "LOGNAME=%s", pw->pw_name);
	snprintf(env_home, sizeof env_home, "HOME=%s", pw->pw_dir);
	char *envp[] = { env_sender, env_rcpt, env_user, env_logname, env_home,
		(char *)"SHELL=/bin/sh", (char *)"PATH=/usr/bin:/bin", NULL };
	if (chdir(pw->pw_dir) < 0)
		(void)!chdir("/");
	execle("/bin/sh", "sh", "-c", r->target, (char *)NULL, envp);
	_exit(75);
}

void
transport_pipe_run(const struct conf *c, const struct envelope *e, const struct rcpt *r,
    int msg_fd, long long msg_offset, struct status *result)
{
	struct passwd *pw = getpwnam(c->default_privs);
	int in[2] = { -1, -1 }, out[2] = { -1, -1 };
	pid_t cmd = -1, writer = -1;
	char output[PIPE_OUTPUT_MAX + 1];
	size_t got = 0;
	long limit = c->command_time_limit > 0 ? (long)c->command_time_limit : 1000;
	bool timed_out = false;
	int ws = 0;

	if (pw == NULL || pw->pw_uid == 0) {
		status_set(result, STATUS_TEMP, "4.3.0", 0, "default_privs user %s %s",
		    c->default_privs, pw ? "is root: refused" : "does not exist");
		return;
	}
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		status_set(result, STATUS_TEMP, "4.3.0", 0, "cannot create pipe: %s", strerror(errno));
		goto out;
	}
	if ((cmd = fork()) == 0)
		run_child(pw, e, r, in[0], out[1]);
	if (cmd > 0 && (writer = fork()) == 0) {
		signal(SIGPIPE, SIG_IGN);
		close(in[0]);
		close(out[0]);
		close(out[1]);	/* else the parent would wait for us to see EOF */
		feed(in[1], e, r, msg_fd, msg_offset);
	}
	close(in[0]);
	close(in[1]);
	close(out[1]);
	in[0] = in[1] = out[1] = -1;
	if (cmd < 0 || writer < 0) {
		status_set(result, STATUS_TEMP, "4.3.0", 0, "cannot fork: %s", strerror(errno));
		goto out;
	}
	/* Collect output until the command closes it, bounded in time. */
	time_t deadline = time(NULL) + limit;
	for (;;) {
		struct pollfd p = { out[0], POLLIN, 0 };
		time_t left = deadline - time(NULL);
		if (left <= 0) {
			timed_out = true;
			break;
		}
		int pr = poll(&p, 1, (int)(left > 60 ? 60000 : left * 1000));
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0)
			continue;
		char tmp[4096];
		ssize_t n = read(out[0], tmp, sizeof tmp);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		size_t take = got + (size_t)n > PIPE_OUTPUT_MAX ? PIPE_OUTPUT_MAX - got : (size_t)n;
		memcpy(output + got, tmp, take);
		got += take;
	}
	if (timed_out)
		kill(-cmd, SIGKILL);
	while (waitpid(cmd, &ws, 0) < 0 && errno == EINTR)
		;
	kill(writer, SIGKILL);
	while (waitpid(writer, NULL, 0) < 0 && errno == EINTR)
		;
	output[got] = '\0';
	output[strcspn(output, "\n")] = '\0';
	for (char *p = output; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	if (timed_out)
		status_set(result, STATUS_TEMP, "4.3.0", 0, "command time limit exceeded: %s", r->target);
	else if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0)
		status_set(result, STATUS_OK, "2.0.0", 0, "delivered to command: %s", r->target);
	else if (WIFSIGNALED(ws) || WEXITSTATUS(ws) == 75)
		status_set(result, STATUS_TEMP, "4.3.0", 0, "command %s: %s%s%s", r->target,
		    WIFSIGNALED(ws) ? "killed by a signal" : "temporary failure", got ? ": " : "", output);
	else
		status_set(result, STATUS_PERM, "5.3.0", 0, "command %s failed with exit status %d%s%s",
		    r->target, WEXITSTATUS(ws), got ? ": " : "", output);
out:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
}

static int
append_file(const struct envelope *e, const struct rcpt *r, int msg_fd, long long off)
{
	int fd = open(r->target, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
	    0600);
	struct stat sb;
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	struct buf out = BUF_INIT;
	struct local_quote q;
	char chunk[65536];
	if (fd < 0)
		return errno == ENOENT || errno == EACCES ? 69 : 75;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_nlink != 1)
		return 69;
	if (fcntl(fd, F_SETLKW, &fl) < 0 || fstat(fd, &sb) < 0)
		return 75;
	/* The mbox bytes are the mailbox writer's (local.h). */
	delivery_headers(e, r, &out);
	local_quote_init(&q);
	bool ok = true;
	for (;;) {
		ssize_t n = pread(msg_fd, chunk, sizeof chunk, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			ok = false;
		if (n <= 0)
			break;
		off += n;
		local_quote_chunk(&q, chunk, (size_t)n, &out);
		if (!(ok = io_write_all(fd, out.data, out.len)))
			break;
		buf_reset(&out);
	}
	if (ok) {
		local_quote_finish(&q, &out);
		ok = io_write_all(fd, out.data, out.len) && fsync(fd) == 0;
	}
	if (!ok)
		(void)!ftruncate(fd, sb.st_size);
	buf_clear(&out);
	close(fd);
	return ok ? 0 : 75;
}

void
transport_file_run(const struct conf *c, const struct envelope *e, const struct rcpt *r,
    int msg_fd, long long msg_offset, struct status *result)
{
	struct passwd *pw = getpwnam(c->default_privs);
	int ws = 0;
	if (pw == NULL || pw->pw_uid == 0) {
		status_set(result, STATUS_TEMP, "4.3.0", 0, "default_privs user %s %s",
		    c->default_privs, pw ? "is root: refused" : "does not exist");
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		umask(077);
		if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0 ||
		    setuid(0) == 0)
			_exit(75);
		_exit(append_file(e, r, msg_fd, msg_offset));
	}
	if (pid < 0) {
		status_set(result, STATUS_TEMP, "4.3.0", 0, "cannot fork: %s", strerror(errno));
		return;
	}
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0)
		status_set(result, STATUS_OK, "2.0.0", 0, "delivered to file: %s", r->target);
	else if (WIFEXITED(ws) && WEXITSTATUS(ws) == 69)
		status_set(result, STATUS_PERM, "5.2.0", 0,
		    "cannot append to file %s as %s: not a regular file with one link, or no permission",
		    r->target, c->default_privs);
	else
		status_set(result, STATUS_TEMP, "4.2.0", 0, "cannot append to file %s: I/O error",
		    r->target);
}
