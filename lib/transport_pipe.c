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
#include "log.h"

#define PIPE_OUTPUT_MAX 1024	/* bytes of the command's output kept for a reason */

void
transport_from_line(const char *sender, time_t t, struct buf *out)
{
	struct tm tm;
	char when[32];
	localtime_r(&t, &tm);
	asctime_r(&tm, when);
	when[24] = '\0';
	buf_printf(out, "From %s  %s\n", *sender ? sender : "MAILER-DAEMON", when);
}

/* The writer process: delivery headers, then the message. */
static _Noreturn void
feed(int out, const struct envelope *e, const struct rcpt *r, int msg_fd, long long off)
{
	struct buf head = BUF_INIT;
	char chunk[65536];
	transport_from_line(envelope_sender(e), time(NULL), &head);
	buf_printf(&head, "Return-Path: <%s>\n", envelope_sender(e));
	if (r->orig)
		buf_printf(&head, "X-Original-To: %s\n", r->orig);
	buf_printf(&head, "Delivered-To: %s\n", r->orig ? r->orig : r->addr);
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

/* Writes the message with ">From " quoting; at_bol carries the line
 * state across chunks.  false on a write error. */
static bool
write_quoted(int fd, const char *p, size_t n, bool *at_bol)
{
	size_t start = 0;
	for (size_t i = 0; i < n; i++) {
		if (*at_bol && n - i >= 5 && memcmp(p + i, "From ", 5) == 0) {
			if (!io_write_all(fd, p + start, i - start) || !io_write_all(fd, ">", 1))
				return false;
			start = i;
		}
		*at_bol = p[i] == '\n';
	}
	return io_write_all(fd, p + start, n - start);
}

static int
append_file(const struct envelope *e, const struct rcpt *r, int msg_fd, long long off)
{
	int fd = open(r->target, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
	    0600);
	struct stat sb;
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	struct buf head = BUF_INIT;
	char chunk[65536];
	bool at_bol = true, last_nl = true;
	if (fd < 0)
		return errno == ENOENT || errno == EACCES ? 69 : 75;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_nlink != 1)
		return 69;
	if (fcntl(fd, F_SETLKW, &fl) < 0 || fstat(fd, &sb) < 0)
		return 75;
	transport_from_line(envelope_sender(e), time(NULL), &head);
	buf_printf(&head, "Return-Path: <%s>\n", envelope_sender(e));
	if (r->orig)
		buf_printf(&head, "X-Original-To: %s\n", r->orig);
	buf_printf(&head, "Delivered-To: %s\n", r->orig ? r->orig : r->addr);
	bool ok = io_write_all(fd, head.data, head.len);
	buf_clear(&head);
	/* A chunk boundary may split "From ": carry up to 4 bytes over. */
	char carry[8];
	size_t nc = 0;
	while (ok) {
		memcpy(chunk, carry, nc);
		ssize_t n = pread(msg_fd, chunk + nc, sizeof chunk - nc, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			ok = false;
		if (n <= 0)
			break;
		off += n;
		size_t have = nc + (size_t)n, keep = 0;
		/* Hold back a tail that could be the start of "From ". */
		const char *nl = memrchr(chunk, '\n', have);
		if (nl && (size_t)(chunk + have - nl - 1) < 5)
			keep = (size_t)(chunk + have - nl - 1);
		ok = write_quoted(fd, chunk, have - keep, &at_bol);
		memcpy(carry, chunk + have - keep, keep);
		nc = keep;
		last_nl = chunk[have - 1] == '\n';
	}
	if (ok && nc)
		ok = write_quoted(fd, carry, nc, &at_bol);
	if (ok)
		ok = io_write_all(fd, last_nl ? "\n" : "\n\n", last_nl ? 1 : 2) && fsync(fd) == 0;
	if (!ok)
		(void)!ftruncate(fd, sb.st_size);
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
