/* Unit tests for lib/msg.c: the normalising reader (CRLF, lone CR, NUL,
 * dot rule, read boundaries, EINTR), the header section (mbox "From ",
 * folding, end of headers, header_size_limit), the body pump (large
 * inputs through a pipe, bounded memory), the header list helpers,
 * unfolding and the Date format.
 *
 * Inputs come from a temporary file or from a pipe fed by a forked
 * writer with controlled writes and pauses, so that read(2) boundaries
 * fall where a case needs them. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "msg.h"
#include "status.h"

static struct criterion_test_params
index_params(size_t *idx, size_t n)
{
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	return cr_make_param_array(size_t, idx, n);
}

/* Renders bytes readably for failure messages (caller frees). */
static char *
show(const char *p, size_t n)
{
	struct buf b = BUF_INIT;
	if (n > 400) {
		char *head = show(p, 200);
		buf_printf(&b, "%s...(%zu bytes)", head, n);
		free(head);
		return buf_steal(&b);
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '\n')
			buf_puts(&b, "\\n");
		else if (c == '\r')
			buf_puts(&b, "\\r");
		else if (c < 0x20 || c >= 0x7f || c == '\\')
			buf_printf(&b, "\\x%02x", c);
		else
			buf_putc(&b, c);
	}
	buf_putc(&b, 0);
	return buf_steal(&b);
}

static void
expect_bytes(const char *got, size_t glen, const char *want, size_t wlen, const char *what)
{
	if (glen == wlen && memcmp(got, want, wlen) == 0)
		return;
	size_t i = 0;
	while (i < glen && i < wlen && got[i] == want[i])
		i++;
	char *g = show(got, glen), *w = show(want, wlen);
	cr_expect_fail("%s differs at byte %zu:\n got: [%s]\nwant: [%s]", what, i, g, w);
	free(g);
	free(w);
}

static void
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			_exit(3);
		}
		p += w;
		n -= (size_t)w;
	}
}

/* An unlinked temporary file holding p[0..n), positioned at 0. */
static int
file_fd(const char *p, size_t n)
{
	char path[] = "/tmp/test_msg.XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	unlink(path);
	write_all(fd, p, n);
	cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

struct chunk {
	const char *p;
	size_t len;		/* 0 = strlen */
	int pause_ms;		/* before this write */
	bool signal_parent;	/* send SIGUSR1 to the reader before writing */
};

/* A pipe whose write end belongs to a forked child that writes the chunks
 * (pausing as told) and closes.  Returns the read end; *pid the child. */
static int
pipe_fd(const struct chunk *c, size_t n, pid_t *pid)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	pid_t parent = getpid();
	*pid = fork();
	cr_assert(*pid >= 0);
	if (*pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		close(p[0]);
		for (size_t i = 0; i < n; i++) {
			if (c[i].pause_ms)
				usleep((useconds_t)c[i].pause_ms * 1000);
			if (c[i].signal_parent) {
				kill(parent, SIGUSR1);
				usleep(300 * 1000);
			}
			write_all(p[1], c[i].p, c[i].len ? c[i].len : strlen(c[i].p));
		}
		close(p[1]);
		_exit(0);
	}
	close(p[1]);
	return p[0];
}

/* A pipe fed with p[0..n) in writes of varying sizes by a forked child. */
static int
pipe_bytes(const char *p, size_t n, pid_t *pid)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	*pid = fork();
	cr_assert(*pid >= 0);
	if (*pid == 0) {
		static const size_t sizes[] = { 1, 4095, 65536, 3, 65537, 100000, 7, 131072, 65535, 2 };
		close(fds[0]);
		size_t off = 0;
		for (size_t k = 0; off < n; k++) {
			size_t s = sizes[k % (sizeof sizes / sizeof sizes[0])];
			if (s > n - off)
				s = n - off;
			write_all(fds[1], p + off, s);
			off += s;
		}
		close(fds[1]);
		_exit(0);
	}
	close(fds[1]);
	return fds[0];
}

static void
reap(pid_t pid)
{
	int status;
	if (pid > 0)
		waitpid(pid, &status, 0);
}

static bool
sink_buf(void *ctx, const char *p, size_t n)
{
	buf_append(ctx, p, n);
	return true;
}

struct result {
	bool hdr_ok;
	bool body_ok;
	struct status st;
	struct buf hdrs;	/* "[field][field]" */
	struct buf body;
	bool eight_bit;
	long long bytes_in;
};

static void
result_init(struct result *r)
{
	memset(r, 0, sizeof *r);
	status_init(&r->st);
}

static void
result_clear(struct result *r)
{
	status_clear(&r->st);
	buf_clear(&r->hdrs);
	buf_clear(&r->body);
}

/* Reads headers then pumps the body from fd. */
static void
run_fd(int fd, bool dot, size_t limit, struct result *r)
{
	struct msg_input in;
	struct msg_headers h;

	msg_input_init(&in, fd, dot);
	msg_headers_init(&h);
	r->hdr_ok = msg_read_headers(&in, &h, limit, &r->st);
	if (r->hdr_ok)
		r->body_ok = msg_pump_body(&in, sink_buf, &r->body, &r->st);
	for (size_t i = 0; i < h.n; i++) {
		buf_putc(&r->hdrs, '[');
		buf_append(&r->hdrs, h.v[i].text, h.v[i].len);
		buf_putc(&r->hdrs, ']');
	}
	r->eight_bit = in.eight_bit;
	r->bytes_in = in.bytes_in;
	msg_headers_clear(&h);
	msg_input_clear(&in);
}

/* The input rules, as a plain reference: CRLF -> LF, lone CR -> space. */
static void
reference_normalise(const char *p, size_t n, struct buf *out)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r') {
			if (i + 1 < n && p[i + 1] == '\n')
				continue;
			buf_putc(out, ' ');
		} else {
			buf_putc(out, p[i]);
		}
	}
}

/* ---- table: input -> headers + body ---- */

struct mcase {
	const char *name;
	const char *in;
	size_t len;		/* 0 = strlen */
	bool dot;
	size_t limit;		/* 0 = 1000 */
	int exit_code;		/* 0 = success expected; else PERM with this code */
	const char *hdrs;
	const char *body;
};

static const struct mcase mcases[] = {
	/* line ends */
	{ "crlf", "Subject: a\r\nTo: b\r\n\r\nbody\r\nline2\r\n", 0, true, 0, 0,
	    "[Subject: a\n][To: b\n]", "body\nline2\n" },
	{ "lf", "Subject: a\nTo: b\n\nbody\n", 0, true, 0, 0, "[Subject: a\n][To: b\n]", "body\n" },
	{ "lone cr header", "S: a\rb\r\n\r\n", 0, true, 0, 0, "[S: a b\n]", "" },
	{ "lone cr body", "S: a\n\nx\ry\rz\n", 0, true, 0, 0, "[S: a\n]", "x y z\n" },
	{ "cr cr lf", "S: a\n\nx\r\r\n", 0, true, 0, 0, "[S: a\n]", "x \n" },
	{ "cr at eof", "S: a\n\nbody\r", 0, true, 0, 0, "[S: a\n]", "body \n" },
	{ "cr at eof, no dot", "S: a\n\nbody\r", 0, false, 0, 0, "[S: a\n]", "body \n" },
	{ "lf cr", "S: a\n\n\n\rx\n", 0, true, 0, 0, "[S: a\n]", "\n x\n" },
	{ "8-bit kept", "S: \xc3\xa9\n\n\xff\xfe\n", 0, true, 0, 0, "[S: \xc3\xa9\n]", "\xff\xfe\n" },
	/* NUL */
	{ "nul in header", "S: a\0b\n\nbody\n", 13, true, 0, 65, "", "" },
	{ "nul in body", "S: a\n\nbo\0dy\n", 12, true, 0, 65, "", "" },
	{ "nul in body, no dot", "S: a\n\nbo\0dy\n", 12, false, 0, 65, "", "" },
	{ "nul alone", "\0", 1, true, 0, 65, "", "" },
	/* dot rule */
	{ "dot lf", "S: a\n\nbody\n.\nafter\n", 0, true, 0, 0, "[S: a\n]", "body\n" },
	{ "dot crlf", "S: a\r\n\r\nbody\r\n.\r\nafter\r\n", 0, true, 0, 0, "[S: a\n]", "body\n" },
	{ "dot at eof", "S: a\n\nbody\n.", 0, true, 0, 0, "[S: a\n]", "body\n" },
	{ "dot cr at eof", "S: a\n\nbody\n.\r", 0, true, 0, 0, "[S: a\n]", "body\n. \n" },
	{ "dot dot kept", "S: a\n\n..x\n..\n.\n", 0, true, 0, 0, "[S: a\n]", "..x\n..\n" },
	{ "dot space", "S: a\n\n. \n.x\nx.\n", 0, true, 0, 0, "[S: a\n]", ". \n.x\nx.\n" },
	{ "dot in headers", "S: a\n.\nbody\n", 0, true, 0, 0, "[S: a\n]", "" },
	{ "dot inside fold", "S: a\n.\n b\n", 0, true, 0, 0, "[S: a\n]", "" },
	{ "dot first", ".\nS: a\n\nbody\n", 0, true, 0, 0, "", "" },
	{ "dot only at eof", ".", 0, true, 0, 0, "", "" },
	{ "dot dot first line", "..\nS: a\n", 0, true, 0, 0, "", "..\nS: a\n" },
	{ "no dot mode keeps dots", "S: a\n\nbody\n.\nafter\n..\n.", 0, false, 0, 0,
	    "[S: a\n]", "body\n.\nafter\n..\n.\n" },
	{ "no dot mode dot in headers", "S: a\n.\nb\n", 0, false, 0, 0, "[S: a\n]", ".\nb\n" },
	/* mbox From_ */
	{ "from_ dropped", "From bob@x Mon Jan  1 00:00:00 2025\nS: a\n\nb\n", 0, true, 0, 0,
	    "[S: a\n]", "b\n" },
	{ "from_ crlf dropped", "From bob@x\r\nS: a\r\n\r\nb\r\n", 0, true, 0, 0, "[S: a\n]", "b\n" },
	{ "from_ only first", "From a@b Mon\nFrom b@c Tue\nS: x\n\n", 0, true, 0, 0,
	    "", "From b@c Tue\nS: x\n\n" },
	{ "from_ after header", "S: a\nFrom x\n\nb\n", 0, true, 0, 0, "[S: a\n]", "From x\n\nb\n" },
	{ "from_ in body", "S: a\n\nFrom here\n", 0, true, 0, 0, "[S: a\n]", "From here\n" },
	{ "From: header kept", "From: a@x\nTo: b@y\n\n", 0, true, 0, 0, "[From: a@x\n][To: b@y\n]", "" },
	{ "from_ alone", "From \n", 0, true, 0, 0, "", "" },
	/* header section */
	{ "folded", "Subject: a\n b\n\tc\nTo: x\n\nbody", 0, true, 0, 0,
	    "[Subject: a\n b\n\tc\n][To: x\n]", "body\n" },
	{ "folded crlf", "Subject: a\r\n b\r\n\r\n", 0, true, 0, 0, "[Subject: a\n b\n]", "" },
	{ "non-header ends headers", "S: a\nnot a header\nmore\n", 0, true, 0, 0,
	    "[S: a\n]", "not a header\nmore\n" },
	{ "empty line consumed", "S: a\n\n\nbody\n", 0, true, 0, 0, "[S: a\n]", "\nbody\n" },
	{ "first line white space", " x: y\nS: a\n\nb\n", 0, true, 0, 0, "", " x: y\nS: a\n\nb\n" },
	{ "first line tab", "\tS: a\n\n", 0, true, 0, 0, "", "\tS: a\n\n" },
	{ "first line empty", "\nbody\n", 0, true, 0, 0, "", "body\n" },
	{ "empty input", "", 0, true, 0, 0, "", "" },
	{ "empty input no dot", "", 0, false, 0, 0, "", "" },
	{ "headers only", "S: a\nT: b\n", 0, true, 0, 0, "[S: a\n][T: b\n]", "" },
	{ "header without lf", "S: a", 0, true, 0, 0, "[S: a\n]", "" },
	{ "folded without lf", "S: a\n b", 0, true, 0, 0, "[S: a\n b\n]", "" },
	{ "empty field", "X-Empty:\nX-Sp: \n\n", 0, true, 0, 0, "[X-Empty:\n][X-Sp: \n]", "" },
	{ "colon first", ": x\n\n", 0, true, 0, 0, "", ": x\n\n" },
	{ "body without lf", "S: a\n\nbody", 0, true, 0, 0, "[S: a\n]", "body\n" },
	{ "body without lf, no dot", "S: a\n\nbody", 0, false, 0, 0, "[S: a\n]", "body\n" },
	{ "body empty lines", "S: a\n\n\n\n", 0, true, 0, 0, "[S: a\n]", "\n\n" },
	/* header_size_limit (the field's bytes, final LF included) */
	{ "limit exceeded", "Subject: 12345678901234567890\n\n", 0, true, 20, 65, "", "" },
	{ "limit exactly", "Subject: 1234567890\n\nb\n", 0, true, 20, 0, "[Subject: 1234567890\n]", "b\n" },
	{ "limit plus one", "Subject: 12345678901\n\nb\n", 0, true, 20, 65, "", "" },
	{ "limit folded exactly", "Subject: 12345\n 678\n\nb\n", 0, true, 20, 0,
	    "[Subject: 12345\n 678\n]", "b\n" },
	{ "limit folded plus one", "Subject: 12345\n 6789\n\nb\n", 0, true, 20, 65, "", "" },
	{ "limit folded far", "S: 12345\n 123456789\n 12\n\n", 0, true, 20, 65, "", "" },
	{ "limit without lf", "Subject: 1234567890123456", 0, true, 20, 65, "", "" },
	/* body lines are not header fields: header_size_limit does not bound them */
	{ "long body line after headers", "S: a\n"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
	    0, true, 20, 0, "[S: a\n]",
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n" },
	{ "long first body line",
	    "this first line is body text and not a header field, and it is long\n\n", 0, true, 20, 0,
	    "", "this first line is body text and not a header field, and it is long\n\n" },
	{ "long first line with white space",
	    "   indented first line that is longer than the limit\n", 0, true, 20, 0,
	    "", "   indented first line that is longer than the limit\n" },
	{ "long body after empty line", "S: a\n\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
	    0, true, 20, 0, "[S: a\n]", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n" },
};

static size_t mcases_idx[sizeof mcases / sizeof mcases[0]];

static void
check_case(const struct mcase *c, int fd)
{
	struct result r;
	result_init(&r);
	run_fd(fd, c->dot, c->limit ? c->limit : 1000, &r);
	if (c->exit_code == 0) {
		cr_expect(r.hdr_ok && r.body_ok, "%s: failed: %s", c->name, buf_cstr(&r.st.text));
		expect_bytes(r.hdrs.data ? r.hdrs.data : "", r.hdrs.len, c->hdrs, strlen(c->hdrs), c->name);
		expect_bytes(r.body.data ? r.body.data : "", r.body.len, c->body, strlen(c->body), c->name);
	} else {
		cr_expect_not(r.hdr_ok && r.body_ok, "%s: accepted", c->name);
		cr_expect_eq(r.st.cls, STATUS_PERM, "%s: class %d", c->name, r.st.cls);
		cr_expect_eq(status_sysexit(&r.st), c->exit_code, "%s: exit %d", c->name,
		    status_sysexit(&r.st));
		cr_expect_str_eq(r.st.dsn, "5.6.0", "%s", c->name);
	}
	result_clear(&r);
}

ParameterizedTestParameters(msg, table_file)
{
	return index_params(mcases_idx, sizeof mcases / sizeof mcases[0]);
}

/* Each case from a file (one read gets everything) ... */
ParameterizedTest(size_t *ip, msg, table_file)
{
	const struct mcase *c = &mcases[*ip];
	size_t len = c->len ? c->len : strlen(c->in);
	int fd = file_fd(c->in, len);
	check_case(c, fd);
	close(fd);
}

ParameterizedTestParameters(msg, table_pipe_bytewise)
{
	return index_params(mcases_idx, sizeof mcases / sizeof mcases[0]);
}

/* ... and through a pipe one byte per write with pauses, so every byte
 * (every CR in particular) ends a read. */
ParameterizedTest(size_t *ip, msg, table_pipe_bytewise)
{
	const struct mcase *c = &mcases[*ip];
	size_t len = c->len ? c->len : strlen(c->in);
	struct chunk ch[256];
	cr_assert(len <= 256);
	for (size_t i = 0; i < len; i++)
		ch[i] = (struct chunk){ c->in + i, 1, 1, false };
	pid_t pid;
	int fd = pipe_fd(ch, len, &pid);
	check_case(c, fd);
	close(fd);
	reap(pid);
}

/* ---- read boundaries ---- */

/* A CR exactly at the last byte of a read from a file: the body is
 * filled so that byte OFF is the CR, for offsets around 64 KiB (the
 * reader's first read takes up to MSG_INPUT_CHUNK + 7 bytes). */
Test(msg, cr_at_read_boundary_file)
{
	static const size_t offs[] = { 65534, 65535, 65536, 65537, 65541, 65542, 65543, 65544,
		131084, 131085, 131086 };
	static const char follow[] = { '\n', 'x', '.', ' ' };
	for (size_t k = 0; k < sizeof offs / sizeof offs[0]; k++) {
		for (size_t f = 0; f < sizeof follow; f++) {
			for (int dot = 0; dot <= 1; dot++) {
				struct buf in = BUF_INIT, want = BUF_INIT;
				buf_puts(&in, "Subject: x\n\n");
				size_t hdr = in.len;
				while (in.len < offs[k])
					buf_putc(&in, (in.len - hdr) % 80 == 79 ? '\n' : 'b');
				buf_putc(&in, '\r');
				buf_putc(&in, follow[f]);
				buf_puts(&in, "tail\n");
				reference_normalise(in.data + hdr, in.len - hdr, &want);
				int fd = file_fd(in.data, in.len);
				struct result r;
				result_init(&r);
				run_fd(fd, dot, 1000, &r);
				cr_expect(r.hdr_ok && r.body_ok, "%s", buf_cstr(&r.st.text));
				cr_expect_str_eq(buf_cstr(&r.hdrs), "[Subject: x\n]");
				char what[96];
				snprintf(what, sizeof what, "CR at %zu followed by 0x%02x, dot=%d", offs[k],
				    follow[f], dot);
				expect_bytes(r.body.data, r.body.len, want.data, want.len, what);
				result_clear(&r);
				close(fd);
				buf_clear(&in);
				buf_clear(&want);
			}
		}
	}
}

/* The same in a long header field (read line by line, not pumped). */
Test(msg, cr_at_read_boundary_header)
{
	static const size_t offs[] = { 65535, 65536, 65542, 65543 };
	for (size_t k = 0; k < sizeof offs / sizeof offs[0]; k++) {
		for (int lf = 0; lf <= 1; lf++) {
			struct buf in = BUF_INIT, want = BUF_INIT;
			buf_puts(&in, "X-Long: ");
			while (in.len < offs[k])
				buf_putc(&in, 'h');
			buf_puts(&in, lf ? "\r\n" : "\rh\r\n");
			buf_puts(&in, "\r\nbody\r\n");
			buf_putc(&want, '[');
			reference_normalise(in.data, in.len - strlen("\r\nbody\r\n"), &want);
			buf_putc(&want, ']');
			int fd = file_fd(in.data, in.len);
			struct result r;
			result_init(&r);
			run_fd(fd, true, 1 << 20, &r);
			cr_expect(r.hdr_ok && r.body_ok, "%s", buf_cstr(&r.st.text));
			char what[64];
			snprintf(what, sizeof what, "header CR at %zu lf=%d", offs[k], lf);
			expect_bytes(r.hdrs.data, r.hdrs.len, want.data, want.len, what);
			cr_expect_str_eq(buf_cstr(&r.body), "body\n");
			result_clear(&r);
			close(fd);
			buf_clear(&in);
			buf_clear(&want);
		}
	}
}

/* Controlled writes: CRs and CRLFs split across reads. */
Test(msg, crlf_split_across_reads)
{
	static const struct chunk ch[] = {
		{ "Subject: a\r", 0, 0, false },
		{ "\nX: b\r", 0, 50, false },
		{ "\r\n\r", 0, 50, false },
		{ "\nbody\r", 0, 50, false },
		{ "\nab\r", 0, 50, false },
		{ "cd\r", 0, 50, false },
		{ "\r", 0, 50, false },
		{ "\n.\r", 0, 50, false },
		{ "\nafter\n", 0, 50, false },
	};
	pid_t pid;
	int fd = pipe_fd(ch, sizeof ch / sizeof ch[0], &pid);
	struct result r;
	result_init(&r);
	run_fd(fd, true, 1000, &r);
	cr_expect(r.hdr_ok && r.body_ok, "%s", buf_cstr(&r.st.text));
	cr_expect_str_eq(buf_cstr(&r.hdrs), "[Subject: a\n][X: b \n]");
	cr_expect_str_eq(buf_cstr(&r.body), "body\nab cd \n");
	result_clear(&r);
	close(fd);
	reap(pid);
}

static void
on_usr1(int sig)
{
	(void)sig;
}

/* A read interrupted by a signal (no SA_RESTART) while a CR is held back
 * from the previous read: the CR must still be normalised. */
static void
eintr_case(const struct chunk *ch, size_t n, const char *hdrs, const char *body)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART: read(2) fails with EINTR */
	cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	pid_t pid;
	int fd = pipe_fd(ch, n, &pid);
	struct result r;
	result_init(&r);
	run_fd(fd, true, 1000, &r);
	cr_expect(r.hdr_ok && r.body_ok, "%s", buf_cstr(&r.st.text));
	expect_bytes(r.hdrs.data ? r.hdrs.data : "", r.hdrs.len, hdrs, strlen(hdrs), "headers");
	expect_bytes(r.body.data ? r.body.data : "", r.body.len, body, strlen(body), "body");
	result_clear(&r);
	close(fd);
	reap(pid);
}

Test(msg, held_cr_survives_eintr_body)
{
	static const struct chunk ch[] = {
		{ "S: a\n\nabc\r", 0, 0, false },
		{ "def\n", 0, 300, true },
	};
	eintr_case(ch, 2, "[S: a\n]", "abc def\n");
}

Test(msg, held_crlf_survives_eintr_body)
{
	static const struct chunk ch[] = {
		{ "S: a\n\nabc\r", 0, 0, false },
		{ "\ndef\n", 0, 300, true },
	};
	eintr_case(ch, 2, "[S: a\n]", "abc\ndef\n");
}

Test(msg, held_cr_survives_eintr_header)
{
	static const struct chunk ch[] = {
		{ "S: ab\r", 0, 0, false },
		{ "cd\n\nbody\n", 0, 300, true },
	};
	eintr_case(ch, 2, "[S: ab cd\n]", "body\n");
}

/* A body line that does not fit the first reads goes back to the body
 * intact (the header reader puts it back in front of the input). */
Test(msg, long_first_body_line_put_back)
{
	struct buf in = BUF_INIT, want = BUF_INIT;
	buf_puts(&in, "S: a\n");
	for (size_t i = 0; i < 200000; i++)
		buf_putc(&in, (char)('a' + i % 26));
	buf_puts(&in, "\nend\n");
	buf_append(&want, in.data + 5, in.len - 5);
	pid_t pid;
	int fd = pipe_bytes(in.data, in.len, &pid);
	struct result r;
	result_init(&r);
	run_fd(fd, true, 1 << 20, &r);
	cr_expect(r.hdr_ok && r.body_ok, "%s", buf_cstr(&r.st.text));
	cr_expect_str_eq(buf_cstr(&r.hdrs), "[S: a\n]");
	expect_bytes(r.body.data, r.body.len, want.data, want.len, "put-back body");
	result_clear(&r);
	close(fd);
	reap(pid);
	buf_clear(&in);
	buf_clear(&want);
}

Test(msg, nul_deep_in_body)
{
	struct buf in = BUF_INIT;
	buf_puts(&in, "S: a\n\n");
	while (in.len < 200000)
		buf_putc(&in, in.len % 64 == 63 ? '\n' : 'x');
	buf_putc(&in, '\0');
	buf_puts(&in, "more\n");
	for (int dot = 0; dot <= 1; dot++) {
		pid_t pid;
		int fd = pipe_bytes(in.data, in.len, &pid);
		struct result r;
		result_init(&r);
		run_fd(fd, dot, 1000, &r);
		cr_expect(r.hdr_ok);
		cr_expect_not(r.body_ok, "NUL accepted (dot=%d)", dot);
		cr_expect_eq(r.st.cls, STATUS_PERM);
		cr_expect_eq(status_sysexit(&r.st), EXIT_DATAERR);
		result_clear(&r);
		close(fd);
		reap(pid);
	}
	buf_clear(&in);
}

Test(msg, input_flags)
{
	const char *plain = "S: a\r\n\r\nbody\r\n";
	const char *eight = "S: a\n\nb\xc3\xa9\n";
	struct result r;
	int fd = file_fd(plain, strlen(plain));
	result_init(&r);
	run_fd(fd, true, 1000, &r);
	cr_expect_not(r.eight_bit);
	cr_expect_eq(r.bytes_in, (long long)strlen(plain));
	result_clear(&r);
	close(fd);
	fd = file_fd(eight, strlen(eight));
	result_init(&r);
	run_fd(fd, true, 1000, &r);
	cr_expect(r.eight_bit);
	cr_expect_eq(r.bytes_in, (long long)strlen(eight));
	result_clear(&r);
	close(fd);
}

/* ---- the body pump with large inputs ---- */

struct cmp_sink {
	const char *want;
	size_t wlen;
	size_t off;
	size_t first_bad;	/* SIZE_MAX = none */
	size_t calls;
};

static bool
sink_cmp(void *ctx, const char *p, size_t n)
{
	struct cmp_sink *s = ctx;
	s->calls++;
	if (s->first_bad == SIZE_MAX) {
		size_t m = s->off < s->wlen ? s->wlen - s->off : 0;
		if (m > n)
			m = n;
		if (memcmp(p, s->want + s->off, m) != 0 || m < n) {
			size_t i = 0;
			while (i < m && p[i] == s->want[s->off + i])
				i++;
			s->first_bad = s->off + i;
		}
	}
	s->off += n;
	return true;
}

/* Lines of varying length; CRLF or LF ends; no final line end. */
static void
gen_body(size_t total, bool crlf, struct buf *in, struct buf *want)
{
	size_t k = 0;
	buf_reserve(in, total + 16);
	buf_reserve(want, total + 16);
	while (in->len < total) {
		size_t l = (k * 37) % 211;
		for (size_t i = 0; i < l && in->len < total; i++) {
			char c = (char)('a' + (k + i) % 26);
			buf_putc(in, c);
			buf_putc(want, c);
		}
		if (in->len >= total)
			break;
		if (crlf)
			buf_puts(in, "\r\n");
		else
			buf_putc(in, '\n');
		buf_putc(want, '\n');
		k++;
	}
	if (want->data[want->len - 1] == '\n') {
		/* end the input without a line end */
		buf_puts(in, "tail");
		buf_puts(want, "tail");
	}
	buf_putc(want, '\n');	/* the pump adds the final LF */
}

static void
pump_large(size_t total, bool crlf, bool dot)
{
	struct buf in = BUF_INIT, want = BUF_INIT;
	buf_puts(&in, crlf ? "Subject: big\r\n\r\n" : "Subject: big\n\n");
	struct buf body = BUF_INIT;
	gen_body(total, crlf, &body, &want);
	buf_append(&in, body.data, body.len);
	buf_clear(&body);
	cr_assert(in.data[in.len - 1] != '\n');

	pid_t pid;
	int fd = pipe_bytes(in.data, in.len, &pid);
	struct msg_input mi;
	struct msg_headers h;
	struct status st;
	struct cmp_sink s = { want.data, want.len, 0, SIZE_MAX, 0 };
	msg_input_init(&mi, fd, dot);
	msg_headers_init(&h);
	status_init(&st);
	cr_assert(msg_read_headers(&mi, &h, 1000, &st), "%s", buf_cstr(&st.text));
	cr_expect_eq(h.n, 1);
	cr_expect(msg_pump_body(&mi, sink_cmp, &s, &st), "%s", buf_cstr(&st.text));
	cr_expect_eq(s.first_bad, SIZE_MAX, "body differs at byte %zu", s.first_bad);
	cr_expect_eq(s.off, want.len, "body is %zu bytes, want %zu", s.off, want.len);
	cr_expect_eq(mi.bytes_in, (long long)in.len);
	/* memory does not grow with the input */
	cr_expect_leq(mi.cap, (size_t)4 * MSG_INPUT_CHUNK, "input buffer grew to %zu", mi.cap);
	msg_headers_clear(&h);
	msg_input_clear(&mi);
	status_clear(&st);
	close(fd);
	reap(pid);
	buf_clear(&in);
	buf_clear(&want);
}

Test(msg, pump_large_crlf_dot)
{
	pump_large(6u << 20, true, true);
}

Test(msg, pump_large_lf_nodot)
{
	pump_large(6u << 20, false, false);
}

Test(msg, pump_32mib_bounded_memory)
{
	pump_large(32u << 20, false, true);
}

/* One 8 MiB line without any LF: still streamed, memory bounded. */
Test(msg, pump_one_huge_line)
{
	size_t total = 8u << 20;
	char *in = malloc(total + 16);
	cr_assert_not_null(in);
	memcpy(in, "S: a\n\n", 6);
	for (size_t i = 6; i < total; i++)
		in[i] = (char)('a' + i % 26);
	char *want = malloc(total);
	memcpy(want, in + 6, total - 6);
	want[total - 6] = '\n';
	for (int dot = 0; dot <= 1; dot++) {
		pid_t pid;
		int fd = pipe_bytes(in, total, &pid);
		struct msg_input mi;
		struct msg_headers h;
		struct status st;
		struct cmp_sink s = { want, total - 5, 0, SIZE_MAX, 0 };
		msg_input_init(&mi, fd, dot);
		msg_headers_init(&h);
		status_init(&st);
		cr_assert(msg_read_headers(&mi, &h, 1000, &st));
		cr_expect(msg_pump_body(&mi, sink_cmp, &s, &st));
		cr_expect_eq(s.first_bad, SIZE_MAX, "dot=%d: differs at %zu", dot, s.first_bad);
		cr_expect_eq(s.off, total - 5);
		cr_expect_leq(mi.cap, (size_t)4 * MSG_INPUT_CHUNK, "input buffer grew to %zu", mi.cap);
		msg_headers_clear(&h);
		msg_input_clear(&mi);
		status_clear(&st);
		close(fd);
		reap(pid);
	}
	free(in);
	free(want);
}

static bool
sink_stop(void *ctx, const char *p, size_t n)
{
	(void)p;
	size_t *calls = ctx;
	(*calls) += n;
	return false;
}

Test(msg, sink_false_stops_pump)
{
	const char *t = "S: a\n\nline1\nline2\n";
	int fd = file_fd(t, strlen(t));
	struct msg_input mi;
	struct msg_headers h;
	struct status st;
	size_t got = 0;
	msg_input_init(&mi, fd, true);
	msg_headers_init(&h);
	status_init(&st);
	cr_assert(msg_read_headers(&mi, &h, 1000, &st));
	cr_expect_not(msg_pump_body(&mi, sink_stop, &got, &st));
	cr_expect_eq(got, 6, "one line handed over, then stop");
	cr_expect_eq(st.cls, STATUS_OK, "st untouched");
	msg_headers_clear(&h);
	msg_input_clear(&mi);
	status_clear(&st);
	close(fd);
}

Test(msg, read_error_is_temp)
{
	struct msg_input mi;
	struct msg_headers h;
	struct status st;
	int fd = file_fd("x", 1);
	close(fd);	/* reads now fail with EBADF */
	msg_input_init(&mi, fd, true);
	msg_headers_init(&h);
	status_init(&st);
	cr_expect_not(msg_read_headers(&mi, &h, 1000, &st));
	cr_expect_eq(st.cls, STATUS_TEMP);
	cr_expect_eq(status_sysexit(&st), EXIT_IOERR);
	msg_headers_clear(&h);
	msg_input_clear(&mi);
	status_clear(&st);
}

/* ---- unfolding ---- */

struct ucase {
	const char *in;
	const char *out;
};

static const struct ucase ucases[] = {
	{ "Subject: a\r\n b\r\n", "Subject: a b" },
	{ "Subject: a\n b\n", "Subject: a b" },
	{ "S: a\n\tb\n", "S: a\tb" },
	{ "S:  a   b  \n", "S:  a   b  " },
	{ "S: a\n  \n b\n", "S: a   b" },
	{ "S: a\r\n\t\tb\r\n  c\r\n", "S: a\t\tb  c" },
	{ "S: a", "S: a" },
	{ "S: a\n", "S: a" },
	{ "S: a\r\n", "S: a" },
	{ "", "" },
	{ "\n", "" },
	{ " hello\n world\n", " hello world" },
};

Test(msg, unfold_table)
{
	for (size_t i = 0; i < sizeof ucases / sizeof ucases[0]; i++) {
		struct buf b = BUF_INIT;
		msg_unfold(ucases[i].in, strlen(ucases[i].in), &b);
		char *g = show(buf_cstr(&b), b.len), *in = show(ucases[i].in, strlen(ucases[i].in));
		cr_expect_str_eq(buf_cstr(&b), ucases[i].out, "unfold [%s] gave [%s]", in, g);
		free(g);
		free(in);
		buf_clear(&b);
	}
	/* appends; honours len */
	struct buf b = BUF_INIT;
	buf_puts(&b, "X");
	msg_unfold("ab\n c\nzzz", 6, &b);
	cr_expect_str_eq(buf_cstr(&b), "Xab c");
	buf_clear(&b);
}

/* ---- header list ---- */

#define ADD(h, s)	msg_headers_add((h), (s), strlen(s))

Test(msg, headers_find_and_is)
{
	struct msg_headers h;
	msg_headers_init(&h);
	ADD(&h, "Subject: a\n");
	ADD(&h, "X-Foo: b\n");
	ADD(&h, "to: c\n");
	ADD(&h, "Subject: second\n");
	cr_assert_eq(h.n, 4);
	cr_expect_eq(h.v[0].name_len, 7);
	cr_expect_eq(h.v[0].len, 11);
	cr_expect_not(h.v[0].deleted);
	cr_expect_eq(msg_headers_find(&h, "SUBJECT"), &h.v[0]);
	cr_expect_eq(msg_headers_find(&h, "subject"), &h.v[0]);
	cr_expect_eq(msg_headers_find(&h, "To"), &h.v[2]);
	cr_expect_eq(msg_headers_find(&h, "x-foo"), &h.v[1]);
	cr_expect_null(msg_headers_find(&h, "Sub"));
	cr_expect_null(msg_headers_find(&h, "Subjects"));
	cr_expect_null(msg_headers_find(&h, "Subject:"));
	cr_expect_null(msg_headers_find(&h, ""));
	cr_expect(msg_header_is(&h.v[1], "X-FOO"));
	cr_expect_not(msg_header_is(&h.v[1], "X-Fo"));
	cr_expect_not(msg_header_is(&h.v[1], "X-Foo2"));
	/* a deleted field is invisible: the next live one is found */
	h.v[0].deleted = true;
	cr_expect_not(msg_header_is(&h.v[0], "Subject"));
	cr_expect_eq(msg_headers_find(&h, "subject"), &h.v[3]);
	h.v[3].deleted = true;
	cr_expect_null(msg_headers_find(&h, "subject"));
	msg_headers_clear(&h);
	cr_expect_eq(h.n, 0);
	cr_expect_null(h.v);
}

Test(msg, headers_have_prefix)
{
	struct msg_headers h;
	msg_headers_init(&h);
	cr_expect_not(msg_headers_have_prefix(&h, "Resent-"));
	ADD(&h, "Subject: a\n");
	ADD(&h, "X-Foo: b\n");
	ADD(&h, "resent-from: c\n");
	cr_expect(msg_headers_have_prefix(&h, "x-"));
	cr_expect(msg_headers_have_prefix(&h, "X-FOO"));
	cr_expect(msg_headers_have_prefix(&h, "Resent-"));
	cr_expect(msg_headers_have_prefix(&h, "RESENT-FROM"));
	cr_expect_not(msg_headers_have_prefix(&h, "X-Foo-Bar"));
	cr_expect_not(msg_headers_have_prefix(&h, "X-Foo:"));
	cr_expect_not(msg_headers_have_prefix(&h, "Resent-To"));
	cr_expect_not(msg_headers_have_prefix(&h, "b"));
	h.v[2].deleted = true;
	cr_expect_not(msg_headers_have_prefix(&h, "Resent-"));
	msg_headers_clear(&h);
}

Test(msg, headers_insert_replace)
{
	struct msg_headers h;
	msg_headers_init(&h);
	ADD(&h, "Subject: a\n");
	ADD(&h, "To: b\n");
	msg_headers_insert(&h, 0, "Received: by x\n", 15);
	msg_headers_insert(&h, 2, "Date: now\n", 10);
	msg_headers_insert(&h, 99, "X-Last: z\n", 10);
	cr_assert_eq(h.n, 5);
	static const char *const want[] = { "Received: by x\n", "Subject: a\n", "Date: now\n", "To: b\n",
		"X-Last: z\n" };
	for (size_t i = 0; i < 5; i++)
		cr_expect_str_eq(h.v[i].text, want[i], "field %zu", i);
	cr_expect_eq(h.v[0].name_len, 8);
	cr_expect_eq(h.v[0].len, 15);
	/* many inserts: storage grows, order kept */
	for (int i = 0; i < 100; i++) {
		char f[32];
		int n = snprintf(f, sizeof f, "X-N%d: v\n", i);
		msg_headers_insert(&h, h.n, f, (size_t)n);
	}
	cr_expect_eq(h.n, 105);
	cr_expect_str_eq(h.v[104].text, "X-N99: v\n");
	/* replace: new text, new name, undeleted */
	h.v[1].deleted = true;
	msg_header_replace(&h.v[1], "Subject: new\n folded\n", 21);
	cr_expect_str_eq(h.v[1].text, "Subject: new\n folded\n");
	cr_expect_eq(h.v[1].len, 21);
	cr_expect_eq(h.v[1].name_len, 7);
	cr_expect_not(h.v[1].deleted);
	cr_expect_eq(msg_headers_find(&h, "subject"), &h.v[1]);
	msg_header_replace(&h.v[2], "Message-ID: <x@y>\n", 18);
	cr_expect(msg_header_is(&h.v[2], "message-id"));
	cr_expect_null(msg_headers_find(&h, "Date"));
	/* text is a copy, NUL-terminated */
	char src[] = "Cc: d\n";
	msg_headers_add(&h, src, 6);
	src[0] = 'X';
	cr_expect_str_eq(h.v[h.n - 1].text, "Cc: d\n");
	msg_headers_clear(&h);
}

Test(msg, header_body)
{
	struct msg_headers h;
	size_t len = 0;
	msg_headers_init(&h);
	ADD(&h, "Subject: hello\n world\n");
	ADD(&h, "X-Empty:\n");
	const char *b = msg_header_body(&h.v[0], &len);
	cr_expect_eq(len, 14);
	cr_expect_eq(memcmp(b, " hello\n world\n", 14), 0);
	struct buf u = BUF_INIT;
	msg_unfold(b, len, &u);
	cr_expect_str_eq(buf_cstr(&u), " hello world");
	buf_clear(&u);
	b = msg_header_body(&h.v[1], &len);
	cr_expect_eq(len, 1);
	cr_expect_eq(b[0], '\n');
	msg_headers_clear(&h);
}

/* Headers read from input keep their folding and are found by name. */
Test(msg, headers_from_input)
{
	const char *t = "Subject: one\r\n two\r\nTO: a@x,\r\n\tb@y\r\n\r\n";
	int fd = file_fd(t, strlen(t));
	struct msg_input mi;
	struct msg_headers h;
	struct status st;
	size_t len;
	msg_input_init(&mi, fd, true);
	msg_headers_init(&h);
	status_init(&st);
	cr_assert(msg_read_headers(&mi, &h, 1000, &st));
	struct msg_header *f = msg_headers_find(&h, "to");
	cr_assert_not_null(f);
	const char *b = msg_header_body(f, &len);
	struct buf u = BUF_INIT;
	msg_unfold(b, len, &u);
	cr_expect_str_eq(buf_cstr(&u), " a@x,\tb@y");
	buf_clear(&u);
	msg_headers_clear(&h);
	msg_input_clear(&mi);
	status_clear(&st);
	close(fd);
}

/* ---- Date ---- */

struct dcase {
	const char *tz;
	time_t t;
	const char *want;
};

static const struct dcase dcases[] = {
	{ "UTC", 1738573445, "Mon,  3 Feb 2025 09:04:05 +0000 (UTC)" },
	{ "UTC", 1739538245, "Fri, 14 Feb 2025 13:04:05 +0000 (UTC)" },
	{ "UTC", 946684799, "Fri, 31 Dec 1999 23:59:59 +0000 (UTC)" },
	{ "UTC", 0, "Thu,  1 Jan 1970 00:00:00 +0000 (UTC)" },
	{ "America/New_York", 1738573445, "Mon,  3 Feb 2025 04:04:05 -0500 (EST)" },
	{ "America/New_York", 1752483845, "Mon, 14 Jul 2025 05:04:05 -0400 (EDT)" },
	{ "America/New_York", 946684799, "Fri, 31 Dec 1999 18:59:59 -0500 (EST)" },
	{ "America/St_Johns", 1738573445, "Mon,  3 Feb 2025 05:34:05 -0330 (NST)" },
	{ "America/St_Johns", 1752483845, "Mon, 14 Jul 2025 06:34:05 -0230 (NDT)" },
	{ "Asia/Kolkata", 946684799, "Sat,  1 Jan 2000 05:29:59 +0530 (IST)" },
};

static size_t dcases_idx[sizeof dcases / sizeof dcases[0]];

ParameterizedTestParameters(msg, date)
{
	return index_params(dcases_idx, sizeof dcases / sizeof dcases[0]);
}

ParameterizedTest(size_t *ip, msg, date)
{
	const struct dcase *c = &dcases[*ip];
	struct buf b = BUF_INIT;
	cr_assert_eq(setenv("TZ", c->tz, 1), 0);
	tzset();
	buf_puts(&b, "Date: ");
	msg_date(c->t, &b);
	cr_expect_eq(b.len, 6 + strlen(c->want), "%s", buf_cstr(&b));
	cr_expect_str_eq(buf_cstr(&b) + 6, c->want, "TZ=%s", c->tz);
	buf_clear(&b);
}
