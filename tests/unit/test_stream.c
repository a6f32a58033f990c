/* Unit tests for lib/stream (plain connections): the line reader and its
 * limits, output buffering, large and stalled writes, deadlines, EINTR
 * and SIGPIPE.  Peers are the other end of a socketpair or of a loopback
 * TCP connection, driven inline or from a forked child. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "stream.h"

#define LABEL "peer.test[127.0.0.1]:25"

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
unix_pair(int *mine, int *peer)
{
	int sv[2];
	cr_assert(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	*mine = sv[0];
	*peer = sv[1];
}

/* A connected loopback TCP pair (port chosen by the kernel). */
static void
tcp_pair(int *mine, int *peer)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(l >= 0);
	cr_assert(bind(l, (struct sockaddr *)&a, sizeof a) == 0);
	cr_assert(listen(l, 1) == 0);
	cr_assert(getsockname(l, (struct sockaddr *)&a, &len) == 0);
	*mine = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(connect(*mine, (struct sockaddr *)&a, sizeof a) == 0);
	*peer = accept(l, NULL, NULL);
	cr_assert(*peer >= 0);
	close(l);
}

static void
write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t r = write(fd, c, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			_exit(99);
		c += r;
		n -= (size_t)r;
	}
}

static pid_t
start_child(void)
{
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0)
		alarm(30);	/* never outlive a broken test */
	return pid;
}

static int
child_status(pid_t pid)
{
	int ws = 0;
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

static uint64_t
fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 1099511628211ULL;
	return h;
}

/* ---- the line reader ---- */

struct line_want {
	int ret;
	const char *text;	/* the line for 1; a piece of st's text otherwise */
	size_t len;		/* of text for 1, when it holds a NUL */
};

struct line_case {
	const char *name;
	const char *input;
	size_t input_len;	/* 0 = strlen */
	bool close_after;
	size_t max;
	struct line_want want[4];
	size_t pending_after_first;	/* stream_pending() after the first read */
};

static const struct line_case line_cases[] = {
	{ "crlf and lf, then a close mid-line", "a\r\nb\nc", 0, true, 100,
	    { { 1, "a", 0 }, { 1, "b", 0 }, { 0, "lost connection with " LABEL, 0 } }, 3 },
	{ "exactly max", "12345\r\n", 0, true, 5, { { 1, "12345", 0 }, { 0, "lost", 0 } }, 0 },
	{ "exactly max, lf", "12345\n", 0, true, 5, { { 1, "12345", 0 } }, 0 },
	{ "one over max", "123456\r\n", 0, true, 5,
	    { { -1, "reply line from " LABEL " too long", 0 } }, 0 },
	{ "one over max, lf", "123456\nok\n", 0, true, 5, { { -1, "too long", 0 } }, 3 },
	{ "over max without end, peer still open", "1234567", 0, false, 5,
	    { { -1, "too long", 0 } }, 0 },
	{ "max with a lone cr pending", "12345\r", 0, false, 5, { { -1, "timed out", 0 } }, 0 },
	{ "cr inside kept", "a\rb\r\n", 0, true, 10, { { 1, "a\rb", 0 } }, 0 },
	{ "only one cr stripped", "abc\r\r\n", 0, true, 10, { { 1, "abc\r", 0 } }, 0 },
	{ "nul kept", "x\0y\r\n", 5, true, 10, { { 1, "x\0y", 3 } }, 0 },
	{ "empty line", "\r\n\n", 0, true, 0, { { 1, "", 0 }, { 1, "", 0 }, { 0, "lost", 0 } }, 1 },
	{ "close at once", "", 0, true, 10, { { 0, "lost connection", 0 } }, 0 },
	{ "pending is the rest", "220 a\r\n250 b\r\n", 0, false, 100,
	    { { 1, "220 a", 0 }, { 1, "250 b", 0 } }, 7 },
};

Test(stream, read_line_table)
{
	for (size_t i = 0; i < sizeof line_cases / sizeof line_cases[0]; i++) {
		const struct line_case *k = &line_cases[i];
		int fd, peer;
		unix_pair(&fd, &peer);
		size_t n = k->input_len ? k->input_len : strlen(k->input);
		write_all(peer, k->input, n);
		if (k->close_after)
			close(peer);
		struct stream *s = stream_new(fd, LABEL);
		stream_set_timeout(s, 1);
		struct buf line = BUF_INIT;
		struct status st;
		status_init(&st);
		for (size_t j = 0; j < 4 && k->want[j].text; j++) {
			const struct line_want *w = &k->want[j];
			int r = stream_read_line(s, &line, k->max, &st);
			cr_expect_eq(r, w->ret, "%s, read %zu: got %d (%s)", k->name, j, r,
			    buf_cstr(&st.text));
			if (r != w->ret)
				break;
			if (r == 1) {
				size_t wl = w->len ? w->len : strlen(w->text);
				cr_expect(line.len == wl && memcmp(line.data, w->text, wl) == 0,
				    "%s, read %zu: line \"%s\"", k->name, j, buf_cstr(&line));
			} else {
				cr_expect_eq(st.cls, STATUS_TEMP, "%s", k->name);
				cr_expect_str_eq(st.dsn, "4.4.2", "%s", k->name);
				cr_expect(strstr(buf_cstr(&st.text), w->text), "%s: \"%s\"", k->name,
				    buf_cstr(&st.text));
			}
			if (j == 0)
				cr_expect_eq(stream_pending(s), k->pending_after_first, "%s: pending %zu",
				    k->name, stream_pending(s));
		}
		if (!k->close_after)
			close(peer);
		stream_free(s);
		buf_clear(&line);
		status_clear(&st);
	}
}

/* Lines longer than the input buffer are assembled across refills. */
Test(stream, read_line_longer_than_buffer)
{
	size_t n = 3 * STREAM_IN_SIZE + 123;
	char *text = malloc(n + 2);
	for (size_t i = 0; i < n; i++)
		text[i] = (char)('a' + i % 26);
	memcpy(text + n, "\r\n", 2);
	for (int over = 0; over < 2; over++) {
		int fd, peer;
		tcp_pair(&fd, &peer);
		pid_t pid = start_child();
		if (pid == 0) {
			close(fd);
			/* In pieces, so the reader sees several segments. */
			for (size_t off = 0; off < n + 2; off += 1000) {
				write_all(peer, text + off, n + 2 - off < 1000 ? n + 2 - off : 1000);
				usleep(100);
			}
			write_all(peer, "next\r\n", 6);
			_exit(0);
		}
		close(peer);
		struct stream *s = stream_new(fd, LABEL);
		stream_set_timeout(s, 5);
		struct buf line = BUF_INIT;
		struct status st;
		status_init(&st);
		int r = stream_read_line(s, &line, over ? n - 1 : n, &st);
		if (over) {
			cr_expect_eq(r, -1);
			cr_expect(strstr(buf_cstr(&st.text), "too long"));
		} else {
			cr_expect_eq(r, 1, "%s", buf_cstr(&st.text));
			cr_expect(line.len == n && memcmp(line.data, text, n) == 0);
			cr_expect_eq(stream_read_line(s, &line, 100, &st), 1);
			cr_expect_str_eq(buf_cstr(&line), "next");
		}
		stream_free(s);
		cr_expect_eq(child_status(pid), 0);
		buf_clear(&line);
		status_clear(&st);
	}
	free(text);
}

Test(stream, read_timeout)
{
	int fd, peer;
	unix_pair(&fd, &peer);
	struct stream *s = stream_new(fd, LABEL);
	struct buf line = BUF_INIT;
	struct status st;
	status_init(&st);
	stream_set_timeout(s, 1);
	double t0 = now();
	cr_expect_eq(stream_read_line(s, &line, 100, &st), -1);
	double took = now() - t0;
	cr_expect(took >= 0.95 && took < 1.5, "took %.3f s", took);
	cr_expect_str_eq(buf_cstr(&st.text), "conversation with " LABEL " timed out");
	cr_expect_str_eq(st.dsn, "4.4.2");
	cr_expect_eq(st.cls, STATUS_TEMP);
	stream_free(s);
	close(peer);
	buf_clear(&line);
	status_clear(&st);
}

/* A peer sending a byte every 200 ms must not extend the deadline. */
Test(stream, read_deadline_is_total)
{
	int fd, peer;
	unix_pair(&fd, &peer);
	pid_t pid = start_child();
	if (pid == 0) {
		close(fd);
		for (int i = 0; i < 25; i++) {
			if (write(peer, "x", 1) != 1)
				_exit(0);
			usleep(200000);
		}
		_exit(0);
	}
	close(peer);
	struct stream *s = stream_new(fd, LABEL);
	struct buf line = BUF_INIT;
	struct status st;
	status_init(&st);
	stream_set_timeout(s, 1);
	double t0 = now();
	cr_expect_eq(stream_read_line(s, &line, 1000, &st), -1);
	double took = now() - t0;
	cr_expect(took >= 0.95 && took < 1.5, "took %.3f s", took);
	cr_expect(strstr(buf_cstr(&st.text), "timed out"), "%s", buf_cstr(&st.text));
	stream_free(s);
	kill(pid, SIGKILL);
	child_status(pid);
	buf_clear(&line);
	status_clear(&st);
}

static volatile sig_atomic_t alarms;

static void
on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

/* Signals without SA_RESTART interrupt poll() and recv(); the read goes
 * on, within the same deadline. */
Test(stream, read_survives_eintr)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	sigemptyset(&sa.sa_mask);
	cr_assert(sigaction(SIGALRM, &sa, NULL) == 0);
	int fd, peer;
	unix_pair(&fd, &peer);
	pid_t pid = start_child();
	if (pid == 0) {
		alarm(0);
		close(fd);
		usleep(400000);
		write_all(peer, "hello\r\n", 7);
		_exit(0);
	}
	close(peer);
	struct itimerval it = { { 0, 20000 }, { 0, 20000 } };
	cr_assert(setitimer(ITIMER_REAL, &it, NULL) == 0);
	struct stream *s = stream_new(fd, LABEL);
	struct buf line = BUF_INIT;
	struct status st;
	status_init(&st);
	stream_set_timeout(s, 3);
	int r = stream_read_line(s, &line, 100, &st);
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);
	cr_expect_eq(r, 1, "%s", buf_cstr(&st.text));
	cr_expect_str_eq(buf_cstr(&line), "hello");
	cr_expect_gt(alarms, 5, "only %d signals arrived", (int)alarms);
	stream_free(s);
	cr_expect_eq(child_status(pid), 0);
	buf_clear(&line);
	status_clear(&st);
}

/* ---- output ---- */

static bool
peer_has_data(int peer, int wait_ms)
{
	struct pollfd p = { .fd = peer, .events = POLLIN };
	return poll(&p, 1, wait_ms) > 0;
}

/* Reads exactly n bytes (or fails the test). */
static void
read_exact(int fd, char *p, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		cr_assert(r > 0, "read: %zd", r);
		p += r;
		n -= (size_t)r;
	}
}

Test(stream, output_waits_for_flush)
{
	int fd, peer;
	tcp_pair(&fd, &peer);
	struct stream *s = stream_new(fd, LABEL);
	struct status st;
	struct buf want = BUF_INIT;
	status_init(&st);
	cr_expect(fcntl(fd, F_GETFL) & O_NONBLOCK);
	stream_set_timeout(s, 5);
	for (int i = 0; i < 1000; i++) {
		char cmd[64];
		int n = snprintf(cmd, sizeof cmd, "RCPT TO:<user%d@example.com>\r\n", i);
		buf_append(&want, cmd, (size_t)n);
		cr_assert(i % 2 ? stream_write(s, cmd, (size_t)n, &st) : stream_puts(s, cmd, &st));
	}
	cr_expect(!peer_has_data(peer, 200), "bytes were sent before stream_flush");
	cr_assert(stream_flush(s, &st), "%s", buf_cstr(&st.text));
	char *got = malloc(want.len);
	read_exact(peer, got, want.len);
	cr_expect(memcmp(got, want.data, want.len) == 0);
	/* Nothing more, and an empty flush sends nothing. */
	cr_assert(stream_flush(s, &st));
	cr_expect(!peer_has_data(peer, 100));
	free(got);
	stream_free(s);
	close(peer);
	buf_clear(&want);
	status_clear(&st);
}

/* A peer that reads until it has at least want bytes, waits for more,
 * then reports the count on a line. */
static void
count_bursts(int peer, const size_t *wants, size_t nwants)
{
	static char chunk[65536];
	for (size_t i = 0; i < nwants; i++) {
		size_t got = 0;
		while (got < wants[i]) {
			ssize_t r = read(peer, chunk, sizeof chunk);
			if (r <= 0)
				_exit(1);
			got += (size_t)r;
		}
		while (peer_has_data(peer, 300)) {
			ssize_t r = read(peer, chunk, sizeof chunk);
			if (r <= 0)
				break;
			got += (size_t)r;
		}
		char line[64];
		int n = snprintf(line, sizeof line, "%zu\r\n", got);
		write_all(peer, line, (size_t)n);
	}
	_exit(0);
}

/* The buffer is flushed before it would exceed STREAM_OUT_MAX; what
 * fits stays buffered. */
Test(stream, output_flushes_when_full)
{
	int fd, peer;
	unix_pair(&fd, &peer);
	const size_t first = STREAM_OUT_MAX - 10;
	const size_t wants[] = { first, 20 };
	pid_t pid = start_child();
	if (pid == 0) {
		close(fd);
		count_bursts(peer, wants, 2);
	}
	close(peer);
	struct stream *s = stream_new(fd, LABEL);
	struct status st;
	struct buf line = BUF_INIT;
	status_init(&st);
	stream_set_timeout(s, 5);
	char *data = calloc(1, STREAM_OUT_MAX);
	cr_assert(stream_write(s, data, first, &st));
	cr_assert(stream_write(s, data, 20, &st));	/* sends the first part */
	cr_assert_eq(stream_read_line(s, &line, 100, &st), 1, "%s", buf_cstr(&st.text));
	cr_expect_eq(strtoul(line.data, NULL, 10), first, "peer got %s", line.data);
	cr_assert(stream_flush(s, &st));
	cr_assert_eq(stream_read_line(s, &line, 100, &st), 1, "%s", buf_cstr(&st.text));
	cr_expect_str_eq(buf_cstr(&line), "20");
	stream_free(s);
	cr_expect_eq(child_status(pid), 0);
	free(data);
	buf_clear(&line);
	status_clear(&st);
}

/* A peer that reads slowly and answers "BYTES HASH". */
static void
slow_reader(int peer, size_t total)
{
	static char chunk[65536];
	uint64_t h = 1469598103934665603ULL;
	size_t got = 0;
	while (got < total) {
		ssize_t r = read(peer, chunk, sizeof chunk);
		if (r <= 0)
			break;
		h = fnv(h, chunk, (size_t)r);
		got += (size_t)r;
		usleep(1000);
	}
	char line[64];
	int n = snprintf(line, sizeof line, "%zu %016llx\r\n", got, (unsigned long long)h);
	write_all(peer, line, (size_t)n);
	_exit(0);
}

Test(stream, large_write_slow_reader)
{
	const size_t total = 10 * 1024 * 1024;
	char *data = malloc(total);
	for (size_t i = 0; i < total; i++)
		data[i] = (char)(i * 7 + i / 4096);
	char want[64];
	snprintf(want, sizeof want, "%zu %016llx", total,
	    (unsigned long long)fnv(1469598103934665603ULL, data, total));
	/* Once in one call, once in many odd-sized writes. */
	for (int mode = 0; mode < 2; mode++) {
		int fd, peer;
		tcp_pair(&fd, &peer);
		pid_t pid = start_child();
		if (pid == 0) {
			close(fd);
			slow_reader(peer, total);
		}
		close(peer);
		struct stream *s = stream_new(fd, LABEL);
		struct status st;
		struct buf line = BUF_INIT;
		status_init(&st);
		stream_set_timeout(s, 20);
		if (mode == 0)
			cr_assert(stream_write(s, data, total, &st), "%s", buf_cstr(&st.text));
		else
			for (size_t off = 0, k = 1; off < total; off += k, k = k * 31 % 9973 + 1) {
				if (k > total - off)
					k = total - off;
				cr_assert(stream_write(s, data + off, k, &st), "%s", buf_cstr(&st.text));
			}
		cr_assert(stream_flush(s, &st), "%s", buf_cstr(&st.text));
		cr_assert_eq(stream_read_line(s, &line, 100, &st), 1, "%s", buf_cstr(&st.text));
		cr_expect_str_eq(buf_cstr(&line), want, "mode %d", mode);
		stream_free(s);
		cr_expect_eq(child_status(pid), 0);
		buf_clear(&line);
		status_clear(&st);
	}
	free(data);
}

/* A peer that never reads: the write gives up at the deadline. */
Test(stream, write_timeout)
{
	int fd, peer;
	tcp_pair(&fd, &peer);
	struct stream *s = stream_new(fd, LABEL);
	struct status st;
	status_init(&st);
	stream_set_timeout(s, 1);
	size_t total = 64 * 1024 * 1024;
	char *data = calloc(1, total);
	double t0 = now();
	bool ok = stream_write(s, data, total, &st) && stream_flush(s, &st);
	double took = now() - t0;
	cr_expect(!ok);
	cr_expect(took >= 0.95 && took < 1.6, "took %.3f s", took);
	cr_expect_str_eq(buf_cstr(&st.text), "conversation with " LABEL " timed out");
	/* Never more output after a gap. */
	cr_expect(!stream_puts(s, "QUIT\r\n", &st) || !stream_flush(s, &st));
	cr_expect(strstr(buf_cstr(&st.text), "lost connection"), "%s", buf_cstr(&st.text));
	stream_free(s);
	close(peer);
	free(data);
	status_clear(&st);
}

/* With SIGPIPE at its default action, writing to a closed peer must
 * fail with a status, not kill the process. */
Test(stream, no_sigpipe)
{
	signal(SIGPIPE, SIG_DFL);
	for (int kind = 0; kind < 3; kind++) {
		int fd, peer;
		if (kind)
			tcp_pair(&fd, &peer);
		else
			unix_pair(&fd, &peer);
		if (kind == 2) {
			/* A reset, read first: the next write meets EPIPE. */
			struct linger lg = { 1, 0 };
			cr_assert(setsockopt(peer, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
		}
		close(peer);
		struct stream *s = stream_new(fd, LABEL);
		struct status st;
		status_init(&st);
		stream_set_timeout(s, 2);
		if (kind == 2) {
			struct buf line = BUF_INIT;
			usleep(50000);
			cr_expect_eq(stream_read_line(s, &line, 100, &st), -1);
			cr_expect_str_eq(buf_cstr(&st.text), "lost connection with " LABEL);
			buf_clear(&line);
		}
		static char chunk[65536];
		bool ok = true;
		for (int i = 0; i < 100 && ok; i++) {
			ok = stream_write(s, chunk, sizeof chunk, &st) && stream_flush(s, &st);
			usleep(1000);
		}
		cr_expect(!ok, "kind %d: writes never failed", kind);
		cr_expect_str_eq(buf_cstr(&st.text), "lost connection with " LABEL);
		cr_expect_eq(st.cls, STATUS_TEMP);
		stream_free(s);
		status_clear(&st);
	}
}

Test(stream, plain_basics)
{
	int fd, peer;
	unix_pair(&fd, &peer);
	struct stream *s = stream_new(fd, LABEL);
	struct buf cb = BUF_INIT;
	cr_expect(!stream_is_tls(s));
	cr_expect(!stream_channel_binding(s, "tls-exporter", &cb));
	cr_expect(!stream_channel_binding(s, "tls-unique", &cb));
	cr_expect_eq(stream_pending(s), 0);
	cr_expect_null(stream_free(s));
	cr_expect_null(stream_free(NULL));
	/* stream_free closed the descriptor: the peer sees end of file. */
	char c;
	cr_expect_eq(read(peer, &c, 1), 0);
	close(peer);
	buf_clear(&cb);
}
