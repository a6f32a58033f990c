/* Unit tests for lib/local: mbox bytes (From_ line, headers, ">From "
 * quoting across chunk boundaries, final newline and empty line), the
 * dotlock protocol, refusals of unsafe mailboxes, and truncation back on
 * a write failure.  Each test runs in its own process (Criterion), in its
 * own temporary spool directory. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "local.h"
#include "status.h"

#define T_2025	1735787045	/* Thu Jan  2 03:04:05 2025 UTC */
#define T_2026	1795799962	/* Fri Nov 27 17:19:22 2026 UTC */
#define T_1999	946684799	/* Fri Dec 31 23:59:59 1999 UTC */

static void
utc(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
}

/* ---- helpers for file-level tests ---- */

static char spool[64];

static void
make_spool(void)
{
	snprintf(spool, sizeof spool, "/tmp/test_local.XXXXXX");
	cr_assert_not_null(mkdtemp(spool));
}

static void
rm_spool(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", spool);
	cr_assert_eq(system(cmd), 0);
}

static char *
spool_path(const char *name)
{
	static char p[3][160];
	static int i;
	i = (i + 1) % 3;
	snprintf(p[i], sizeof p[i], "%s/%s", spool, name);
	return p[i];
}

static void
write_file(const char *path, const char *data, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, data, n), (ssize_t)n);
	close(fd);
}

/* The file's contents (NUL-terminated; *len = size), or NULL if absent. */
static char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	struct buf b = BUF_INIT;
	char tmp[4096];
	size_t n;
	while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
		buf_append(&b, tmp, n);
	fclose(f);
	if (len)
		*len = b.len;
	if (b.data == NULL)
		buf_puts(&b, "");
	return buf_steal(&b);
}

/* A message file "JUNK" + msg: the message starts at offset 4. */
static int
msg_file(const char *msg)
{
	char *p = spool_path("msg.in");
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, "JUNK", 4), 4);
	cr_assert_eq(write(fd, msg, strlen(msg)), (ssize_t)strlen(msg));
	return fd;
}

static void
mbox_init(struct local_mbox *m, int msg_fd)
{
	memset(m, 0, sizeof *m);
	m->spool_dir = spool;
	m->user = "bob";
	m->uid = geteuid();
	m->gid = getegid();
	m->sender = "alice@example.org";
	m->orig_rcpt = "root";
	m->delivered_to = "root@host.example.org";
	m->msg_fd = msg_fd;
	m->msg_offset = 4;
	m->now = T_2025;
	m->lock_attempts = 3;
	m->lock_delay_ms = 10;
	m->stale_lock_s = 500;
}

static const char HDR[] =
	"From alice@example.org  Thu Jan  2 03:04:05 2025\n"
	"Return-Path: <alice@example.org>\n"
	"X-Original-To: root\n"
	"Delivered-To: root@host.example.org\n";

/* ---- pure helpers ---- */

Test(local, user_names)
{
	static const struct { const char *name; bool ok; } cases[] = {
		{ "bob", true }, { "a", true }, { "_x", true }, { "0day", true },
		{ "first.last", true }, { "a-b_c.d", true },
		{ "abcdefghijklmnopqrstuvwxyz012345", true },		/* 32 */
		{ "abcdefghijklmnopqrstuvwxyz0123456", false },		/* 33 */
		{ "", false }, { "-rf", false }, { ".x", false }, { "a..b", false },
		{ "../etc/x", false }, { "a/b", false }, { "Bob", false }, { "a b", false },
		{ "a\nb", false }, { "bob\n", false }, { "x$", false }, { "é", false },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		cr_expect_eq(local_user_name_ok(cases[i].name), cases[i].ok, "name %zu", i);
}

Test(local, addr_text)
{
	char big[LOCAL_ADDR_MAX + 2];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	cr_expect(local_addr_ok("alice@example.org"));
	cr_expect(local_addr_ok(""));
	cr_expect(local_addr_ok("\"john doe\"@example.org"));
	cr_expect(local_addr_ok("j\xc3\xb6rg@example.org"));
	cr_expect_not(local_addr_ok("a\n@b"));
	cr_expect_not(local_addr_ok("a\r@b"));
	cr_expect_not(local_addr_ok("a\t@b"));
	cr_expect_not(local_addr_ok("a\x7f@b"));
	cr_expect_not(local_addr_ok(big));
	big[LOCAL_ADDR_MAX] = '\0';
	cr_expect(local_addr_ok(big));
}

Test(local, from_line)
{
	static const struct { const char *sender; time_t t; const char *tz; const char *want; } cases[] = {
		{ "alice@example.com", T_2025, "UTC", "From alice@example.com  Thu Jan  2 03:04:05 2025\n" },
		{ "alice@example.com", T_2026, "UTC", "From alice@example.com  Fri Nov 27 17:19:22 2026\n" },
		{ "", T_2025, "UTC", "From MAILER-DAEMON  Thu Jan  2 03:04:05 2025\n" },
		{ "x@y", T_1999, "UTC", "From x@y  Fri Dec 31 23:59:59 1999\n" },
		/* local time, not UTC */
		{ "x@y", T_1999, "CET-1", "From x@y  Sat Jan  1 00:59:59 2000\n" },
		{ "\"john doe\"@x", 0, "UTC", "From \"john doe\"@x  Thu Jan  1 00:00:00 1970\n" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b = BUF_INIT;
		setenv("TZ", cases[i].tz, 1);
		tzset();
		local_from_line(&b, cases[i].sender, cases[i].t);
		cr_expect_str_eq(buf_cstr(&b), cases[i].want, "case %zu", i);
		buf_clear(&b);
	}
	/* The date is asctime's first 24 bytes, whatever the C library's
	 * locale, and two spaces follow the sender. */
	utc();
	struct buf b = BUF_INIT;
	time_t t = T_2026;
	char want[64];
	snprintf(want, sizeof want, "From a@b  %.24s\n", asctime(gmtime(&t)));
	local_from_line(&b, "a@b", t);
	cr_expect_str_eq(buf_cstr(&b), want);
	buf_clear(&b);
}

Test(local, headers)
{
	struct local_mbox m;
	struct buf b = BUF_INIT;
	utc();
	mbox_init(&m, -1);
	local_headers(&b, &m);
	cr_expect_str_eq(buf_cstr(&b), HDR);

	buf_reset(&b);
	m.sender = "";
	m.orig_rcpt = NULL;
	m.delivered_to = "bob@host.example.org";
	local_headers(&b, &m);
	cr_expect_str_eq(buf_cstr(&b),
	    "From MAILER-DAEMON  Thu Jan  2 03:04:05 2025\n"
	    "Return-Path: <>\n"
	    "Delivered-To: bob@host.example.org\n");

	buf_reset(&b);
	m.orig_rcpt = "";	/* empty = left out, as Postfix */
	local_headers(&b, &m);
	cr_expect_null(strstr(buf_cstr(&b), "X-Original-To"));
	buf_clear(&b);
}

static const struct { const char *in, *want; } quote_cases[] = {
	{ "", "\n" },
	{ "x", "x\n\n" },
	{ "x\n", "x\n\n" },
	{ "\n", "\n\n" },
	{ "From x\n", ">From x\n\n" },
	{ "From x", ">From x\n\n" },
	{ "From ", ">From \n\n" },
	{ "From", "From\n\n" },
	{ "Fro", "Fro\n\n" },
	{ "F", "F\n\n" },
	{ ">From x\n", ">From x\n\n" },
	{ ">>From x\n", ">>From x\n\n" },
	{ "From\n", "From\n\n" },
	{ "From:x\n", "From:x\n\n" },
	{ "Fromage\n", "Fromage\n\n" },
	{ "from x\n", "from x\n\n" },
	{ " From x\n", " From x\n\n" },
	{ "a From x\n", "a From x\n\n" },
	{ "a\nFrom b\nFrom c", "a\n>From b\n>From c\n\n" },
	{ "Subject: x\n\nFrom me\n>From you\nFrom\nFro\n", "Subject: x\n\n>From me\n>From you\nFrom\nFro\n\n" },
	{ "FFrom x\n", "FFrom x\n\n" },
	{ "From From x\n", ">From From x\n\n" },
	{ "\nFrom \n\nFrom\n", "\n>From \n\nFrom\n\n" },
	{ "x\n\n", "x\n\n\n" },
	{ "Fro\nFrom x", "Fro\n>From x\n\n" },
};

static void
quote_pieces(const char *in, const size_t *cuts, size_t ncuts, struct buf *out)
{
	struct local_quote q;
	size_t len = strlen(in), at = 0;
	local_quote_init(&q);
	for (size_t i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		local_quote_chunk(&q, in + at, end - at, out);
		at = end;
	}
	local_quote_finish(&q, out);
}

Test(local, quote_whole_and_split)
{
	for (size_t i = 0; i < sizeof quote_cases / sizeof quote_cases[0]; i++) {
		const char *in = quote_cases[i].in, *want = quote_cases[i].want;
		size_t len = strlen(in);
		struct buf out = BUF_INIT;

		quote_pieces(in, NULL, 0, &out);
		cr_expect_str_eq(buf_cstr(&out), want, "case %zu whole", i);
		/* every split in two and in three */
		for (size_t a = 0; a <= len; a++) {
			for (size_t b = a; b <= len; b++) {
				size_t cuts[2] = { a, b };
				buf_reset(&out);
				quote_pieces(in, cuts, 2, &out);
				cr_expect_str_eq(buf_cstr(&out), want, "case %zu cut %zu,%zu", i, a, b);
			}
		}
		/* one byte at a time (with empty chunks between) */
		struct local_quote q;
		buf_reset(&out);
		local_quote_init(&q);
		for (size_t k = 0; k < len; k++) {
			local_quote_chunk(&q, in + k, 1, &out);
			local_quote_chunk(&q, in + k, 0, &out);
		}
		local_quote_finish(&q, &out);
		cr_expect_str_eq(buf_cstr(&out), want, "case %zu bytewise", i);
		buf_clear(&out);
	}
}

Test(local, padding)
{
	cr_expect_str_eq(local_mbox_padding(0, ""), "");
	cr_expect_str_eq(local_mbox_padding(1, "\n"), "");
	cr_expect_str_eq(local_mbox_padding(1, "x"), "\n\n");
	cr_expect_str_eq(local_mbox_padding(2, "\n\n"), "");
	cr_expect_str_eq(local_mbox_padding(2, "x\n"), "\n");
	cr_expect_str_eq(local_mbox_padding(2, "\nx"), "\n\n");
	cr_expect_str_eq(local_mbox_padding(9, "xx"), "\n\n");
}

/* ---- appends ---- */

Test(local, append_exact_bytes)
{
	struct local_mbox m;
	struct status st;
	size_t n;
	utc();
	make_spool();
	status_init(&st);
	write_file(spool_path("bob"), "", 0);
	int fd = msg_file("Subject: a\n\nFrom me\n>From x\nno newline");
	mbox_init(&m, fd);
	cr_assert_eq(local_mbox_append(&m, &st), LOCAL_DELIVERED, "%s", buf_cstr(&st.text));
	cr_expect_eq(st.cls, STATUS_OK);
	cr_expect_str_eq(st.dsn, "2.0.0");
	cr_expect_str_eq(buf_cstr(&st.text), "delivered to mailbox");
	/* a second one, null sender, no X-Original-To */
	close(fd);
	fd = msg_file("second\n");
	mbox_init(&m, fd);
	m.sender = "";
	m.orig_rcpt = NULL;
	cr_assert_eq(local_mbox_append(&m, &st), LOCAL_DELIVERED, "%s", buf_cstr(&st.text));
	char *got = read_file(spool_path("bob"), &n);
	struct buf want = BUF_INIT;
	buf_puts(&want, HDR);
	buf_puts(&want, "Subject: a\n\n>From me\n>From x\nno newline\n\n");
	buf_puts(&want, "From MAILER-DAEMON  Thu Jan  2 03:04:05 2025\nReturn-Path: <>\n"
	    "Delivered-To: root@host.example.org\nsecond\n\n");
	cr_expect_str_eq(got, buf_cstr(&want));
	/* the dotlock is gone, and the message fd's offset never moved */
	cr_expect_neq(access(spool_path("bob.lock"), F_OK), 0);
	cr_expect_eq(lseek(fd, 0, SEEK_CUR), 4 + 7);	/* where msg_file left it */
	free(got);
	buf_clear(&want);
	status_clear(&st);
	close(fd);
	rm_spool();
}

/* A message larger than several chunks, with "From " lines straddling
 * chunk boundaries, read from a pipe (msg_offset < 0). */
Test(local, append_large_from_pipe, .timeout = 30)
{
	struct local_mbox m;
	struct status st;
	struct buf msg = BUF_INIT, want = BUF_INIT;
	int p[2];
	utc();
	make_spool();
	status_init(&st);
	write_file(spool_path("bob"), "", 0);
	for (int i = 0; msg.len < 5 * LOCAL_CHUNK; i++) {
		/* line lengths that drift across the 64 KiB boundaries */
		buf_printf(&msg, "From line %d %.*s\n", i, i % 97, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
		buf_printf(&msg, "%.*s\n", i % 13, "From Fro From");
	}
	cr_assert_eq(pipe(p), 0);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		size_t off = 0;
		while (off < msg.len) {	/* odd write sizes */
			size_t k = msg.len - off < 7777 ? msg.len - off : 7777;
			if (write(p[1], msg.data + off, k) != (ssize_t)k)
				_exit(1);
			off += k;
		}
		_exit(0);
	}
	close(p[1]);
	mbox_init(&m, p[0]);
	m.msg_offset = -1;
	cr_assert_eq(local_mbox_append(&m, &st), LOCAL_DELIVERED, "%s", buf_cstr(&st.text));
	waitpid(pid, NULL, 0);
	buf_puts(&want, HDR);
	struct local_quote q;
	local_quote_init(&q);
	local_quote_chunk(&q, msg.data, msg.len, &want);
	local_quote_finish(&q, &want);
	size_t n;
	char *got = read_file(spool_path("bob"), &n);
	cr_expect_eq(n, want.len);
	cr_expect(n == want.len && memcmp(got, want.data, n) == 0, "mailbox differs");
	free(got);
	buf_clear(&msg);
	buf_clear(&want);
	status_clear(&st);
	rm_spool();
}

/* A fragment left by a killed writer: the next From_ line still follows
 * an empty line. */
Test(local, append_after_fragment)
{
	static const struct { const char *before, *pad; } cases[] = {
		{ "From x  Thu Jan  2 03:04:05 2025\nSubject: cut", "\n\n" },
		{ "From x  Thu Jan  2 03:04:05 2025\nSubject: cut\n", "\n" },
		{ "From x  Thu Jan  2 03:04:05 2025\nok\n\n", "" },
		{ "F", "\n\n" },
	};
	utc();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct local_mbox m;
		struct status st;
		struct buf want = BUF_INIT;
		make_spool();
		status_init(&st);
		write_file(spool_path("bob"), cases[i].before, strlen(cases[i].before));
		int fd = msg_file("body\n");
		mbox_init(&m, fd);
		cr_assert_eq(local_mbox_append(&m, &st), LOCAL_DELIVERED, "%s", buf_cstr(&st.text));
		buf_printf(&want, "%s%s%sbody\n\n", cases[i].before, cases[i].pad, HDR);
		char *got = read_file(spool_path("bob"), NULL);
		cr_expect_str_eq(got, buf_cstr(&want), "case %zu", i);
		free(got);
		buf_clear(&want);
		status_clear(&st);
		close(fd);
		rm_spool();
	}
}

Test(local, missing_mailbox)
{
	struct local_mbox m;
	struct status st;
	int p[2];
	make_spool();
	status_init(&st);
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(write(p[1], "msg\n", 4), 4);
	close(p[1]);
	mbox_init(&m, p[0]);
	m.msg_offset = -1;
	cr_expect_eq(local_mbox_append(&m, &st), LOCAL_NO_MAILBOX);
	cr_expect_eq(st.cls, STATUS_TEMP);
	cr_expect_str_eq(st.dsn, "4.2.0");
	cr_expect_not_null(strstr(buf_cstr(&st.text), "does not exist"));
	/* nothing was read from the message, nothing was created */
	char c[8];
	cr_expect_eq(read(p[0], c, sizeof c), 4);
	cr_expect_neq(access(spool_path("bob"), F_OK), 0);
	cr_expect_neq(access(spool_path("bob.lock"), F_OK), 0);
	status_clear(&st);
	rm_spool();
}

Test(local, bad_arguments)
{
	static const struct { const char *user, *sender, *dto, *dsn; } cases[] = {
		{ "../etc/x", "a@b", "c@d", "5.1.3" },
		{ "a/b", "a@b", "c@d", "5.1.3" },
		{ "", "a@b", "c@d", "5.1.3" },
		{ "bob", "a@b\nFrom evil", "c@d", "5.3.5" },
		{ "bob", "a@b", "c@d\nX-Evil: 1", "5.3.5" },
	};
	make_spool();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct local_mbox m;
		struct status st;
		status_init(&st);
		mbox_init(&m, -1);
		m.user = cases[i].user;
		m.sender = cases[i].sender;
		m.delivered_to = cases[i].dto;
		cr_expect_eq(local_mbox_append(&m, &st), LOCAL_FAILED, "case %zu", i);
		cr_expect_eq(st.cls, STATUS_PERM, "case %zu", i);
		cr_expect_str_eq(st.dsn, cases[i].dsn, "case %zu", i);
		status_clear(&st);
	}
	rm_spool();
}

/* ---- refusals: the target is never touched ---- */

struct snap { struct stat sb; char *data; size_t len; };

static void
snap_take(const char *path, struct snap *s)
{
	cr_assert_eq(lstat(path, &s->sb), 0);
	s->data = S_ISREG(s->sb.st_mode) ? read_file(path, &s->len) : NULL;
}

static void
snap_same(const char *path, const struct snap *s)
{
	struct stat sb;
	cr_assert_eq(lstat(path, &sb), 0);
	cr_expect_eq(sb.st_ino, s->sb.st_ino, "%s replaced", path);
	cr_expect_eq(sb.st_mode, s->sb.st_mode, "%s mode changed", path);
	cr_expect_eq(sb.st_uid, s->sb.st_uid, "%s owner changed", path);
	cr_expect_eq(sb.st_gid, s->sb.st_gid, "%s group changed", path);
	if (s->data) {
		size_t n;
		char *now = read_file(path, &n);
		cr_expect(n == s->len && memcmp(now, s->data, n) == 0, "%s content changed", path);
		free(now);
	}
	free(s->data);
}

static void
expect_refused(const char *what, const char *reason_part)
{
	struct local_mbox m;
	struct status st;
	status_init(&st);
	int fd = msg_file("Subject: x\n\nhello\n");
	mbox_init(&m, fd);
	cr_expect_eq(local_mbox_append(&m, &st), LOCAL_FAILED, "%s", what);
	cr_expect_eq(st.cls, STATUS_TEMP, "%s", what);
	cr_expect_str_eq(st.dsn, "4.2.0", "%s", what);
	cr_expect_not_null(strstr(buf_cstr(&st.text), reason_part), "%s: reason \"%s\"", what,
	    buf_cstr(&st.text));
	cr_expect_neq(access(spool_path("bob.lock"), F_OK), 0, "%s: dotlock left", what);
	close(fd);
	status_clear(&st);
}

Test(local, refuse_symlinks)
{
	struct snap s;
	char want[200];
	make_spool();
	snprintf(want, sizeof want, "mailbox %s is a symbolic link", spool_path("bob"));
	/* to a file */
	write_file(spool_path("target"), "precious\n", 9);
	snap_take(spool_path("target"), &s);
	cr_assert_eq(symlink(spool_path("target"), spool_path("bob")), 0);
	expect_refused("symlink to a file", want);
	snap_same(spool_path("target"), &s);
	/* dangling: no file appears */
	unlink(spool_path("bob"));
	cr_assert_eq(symlink(spool_path("nowhere"), spool_path("bob")), 0);
	expect_refused("dangling symlink", want);
	cr_expect_neq(access(spool_path("nowhere"), F_OK), 0);
	/* to a directory */
	unlink(spool_path("bob"));
	cr_assert_eq(mkdir(spool_path("dir"), 0755), 0);
	cr_assert_eq(symlink(spool_path("dir"), spool_path("bob")), 0);
	expect_refused("symlink to a directory", want);
	rm_spool();
}

Test(local, refuse_hard_link)
{
	struct snap s;
	char want[200];
	make_spool();
	write_file(spool_path("other"), "other user's mail\n", 18);
	snap_take(spool_path("other"), &s);
	cr_assert_eq(link(spool_path("other"), spool_path("bob")), 0);
	snprintf(want, sizeof want, "mailbox %s has 2 links", spool_path("bob"));
	expect_refused("hard link", want);
	snap_same(spool_path("other"), &s);
	rm_spool();
}

Test(local, refuse_wrong_owner)
{
	struct snap s;
	struct local_mbox m;
	struct status st;
	char want[200];
	make_spool();
	status_init(&st);
	write_file(spool_path("bob"), "planted\n", 8);
	snap_take(spool_path("bob"), &s);
	int fd = msg_file("hello\n");
	mbox_init(&m, fd);
	m.uid = geteuid() + 1;	/* the file is ours, the recipient is not us */
	cr_expect_eq(local_mbox_append(&m, &st), LOCAL_FAILED);
	cr_expect_eq(st.cls, STATUS_TEMP);
	snprintf(want, sizeof want, "mailbox %s is not owned by bob", spool_path("bob"));
	cr_expect_str_eq(buf_cstr(&st.text), want);
	snap_same(spool_path("bob"), &s);
	close(fd);
	status_clear(&st);
	rm_spool();
}

Test(local, refuse_special_files, .timeout = 20)
{
	struct snap s;
	char want[200];
	make_spool();
	/* FIFO: refused without blocking (nobody reads it) */
	cr_assert_eq(mkfifo(spool_path("bob"), 0660), 0);
	snap_take(spool_path("bob"), &s);
	snprintf(want, sizeof want, "mailbox %s is a FIFO", spool_path("bob"));
	expect_refused("FIFO", want);
	snap_same(spool_path("bob"), &s);
	unlink(spool_path("bob"));
	/* directory */
	cr_assert_eq(mkdir(spool_path("bob"), 0770), 0);
	snprintf(want, sizeof want, "mailbox %s is a directory", spool_path("bob"));
	expect_refused("directory", want);
	rmdir(spool_path("bob"));
	/* socket */
	int sfd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", spool_path("bob"));
	cr_assert_eq(bind(sfd, (struct sockaddr *)&sa, sizeof sa), 0);
	snprintf(want, sizeof want, "mailbox %s is a socket", spool_path("bob"));
	expect_refused("socket", want);
	close(sfd);
	unlink(spool_path("bob"));
	/* device (root only) */
	if (geteuid() == 0 && mknod(spool_path("bob"), S_IFCHR | 0660, makedev(1, 3)) == 0) {
		snprintf(want, sizeof want, "mailbox %s is a device", spool_path("bob"));
		expect_refused("device", want);
	}
	rm_spool();
}

/* ---- locks ---- */

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static enum local_result
deliver_simple(struct status *st, unsigned attempts, unsigned delay_ms, unsigned stale_s)
{
	struct local_mbox m;
	int fd = msg_file("hello\n");
	mbox_init(&m, fd);
	m.lock_attempts = attempts;
	m.lock_delay_ms = delay_ms;
	m.stale_lock_s = stale_s;
	enum local_result r = local_mbox_append(&m, st);
	close(fd);
	return r;
}

Test(local, dotlock_stale_by_age)
{
	struct status st;
	make_spool();
	status_init(&st);
	write_file(spool_path("bob"), "", 0);
	write_file(spool_path("bob.lock"), "", 0);
	struct timespec old[2] = { { time(NULL) - 1000, 0 }, { time(NULL) - 1000, 0 } };
	cr_assert_eq(utimensat(AT_FDCWD, spool_path("bob.lock"), old, 0), 0);
	cr_expect_eq(deliver_simple(&st, 3, 10, 500), LOCAL_DELIVERED, "%s", buf_cstr(&st.text));
	cr_expect_neq(access(spool_path("bob.lock"), F_OK), 0);
	status_clear(&st);
	rm_spool();
}

Test(local, dotlock_stale_dead_pid)
{
	struct status st;
	char text[32];
	make_spool();
	status_init(&st);
	write_file(spool_path("bob"), "", 0);
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);	/* now certainly gone */
	snprintf(text, sizeof text, "%ld\n", (long)pid);
	write_file(spool_path("bob.lock"), text, strlen(text));
	cr_expect_eq(deliver_simple(&st, 3, 10, 500), LOCAL_DELIVERED, "%s", buf_cstr(&st.text));
	cr_expect_neq(access(spool_path("bob.lock"), F_OK), 0);
	status_clear(&st);
	rm_spool();
}

/* A fresh lock (live pid, empty, or foreign text) is waited for, then the
 * delivery defers: it never delivers unlocked, and never removes it. */
Test(local, dotlock_fresh_defers, .timeout = 30)
{
	static const char *const contents[] = { "LIVE", "", "garbage\n", "1\n" };
	make_spool();
	write_file(spool_path("bob"), "before\n\n", 8);
	for (size_t i = 0; i < sizeof contents / sizeof contents[0]; i++) {
		struct status st;
		struct snap s, lock;
		char text[32];
		status_init(&st);
		if (strcmp(contents[i], "LIVE") == 0)
			snprintf(text, sizeof text, "%ld\n", (long)getppid());
		else
			snprintf(text, sizeof text, "%s", contents[i]);
		write_file(spool_path("bob.lock"), text, strlen(text));
		snap_take(spool_path("bob"), &s);
		snap_take(spool_path("bob.lock"), &lock);
		double t0 = now_s();
		cr_expect_eq(deliver_simple(&st, 4, 50, 500), LOCAL_FAILED, "lock %zu", i);
		double took = now_s() - t0;
		cr_expect(took >= 0.14 && took < 3.0, "lock %zu: waited %.3f s", i, took);
		cr_expect_eq(st.cls, STATUS_TEMP);
		cr_expect_str_eq(st.dsn, "4.2.0");
		cr_expect_not_null(strstr(buf_cstr(&st.text), "bob.lock is held by another process"),
		    "%s", buf_cstr(&st.text));
		snap_same(spool_path("bob"), &s);
		snap_same(spool_path("bob.lock"), &lock);
		status_clear(&st);
	}
	rm_spool();
}

Test(local, dotlock_release_leaves_foreign_lock)
{
	struct local_dotlock dl;
	struct status st;
	make_spool();
	status_init(&st);
	int dirfd = open(spool, O_RDONLY | O_DIRECTORY);
	cr_assert(local_dotlock_acquire(dirfd, spool, "bob.lock", 2, 10, 500, &dl, &st));
	char *text = read_file(spool_path("bob.lock"), NULL);
	char want[32];
	snprintf(want, sizeof want, "%ld\n", (long)getpid());
	cr_expect_str_eq(text, want);	/* the pid, as liblockfile writes it */
	free(text);
	/* a second acquirer in this process waits and fails */
	struct local_dotlock dl2;
	cr_expect_not(local_dotlock_acquire(dirfd, spool, "bob.lock", 2, 10, 500, &dl2, &st));
	/* someone broke our lock and took it: we must not remove theirs */
	unlink(spool_path("bob.lock"));
	write_file(spool_path("bob.lock"), "1\n", 2);
	local_dotlock_release(&dl);
	cr_expect_eq(access(spool_path("bob.lock"), F_OK), 0);
	/* our own lock is removed */
	unlink(spool_path("bob.lock"));
	cr_assert(local_dotlock_acquire(dirfd, spool, "bob.lock", 2, 10, 500, &dl, &st));
	local_dotlock_release(&dl);
	cr_expect_neq(access(spool_path("bob.lock"), F_OK), 0);
	local_dotlock_release(&dl);	/* twice is harmless */
	close(dirfd);
	status_clear(&st);
	rm_spool();
}

/* Another process holds the fcntl lock (as an MUA does): defer after
 * the budget; deliver once it lets go. */
Test(local, fcntl_lock_waits_then_defers, .timeout = 30)
{
	struct status st;
	int ready[2], go[2];
	make_spool();
	status_init(&st);
	write_file(spool_path("bob"), "", 0);
	cr_assert_eq(pipe(ready), 0);
	cr_assert_eq(pipe(go), 0);
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(spool_path("bob"), O_RDWR);
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		char c;
		if (fd < 0 || fcntl(fd, F_SETLK, &fl) < 0)
			_exit(1);
		(void)!write(ready[1], "r", 1);
		(void)!read(go[0], &c, 1);
		_exit(0);
	}
	char c;
	cr_assert_eq(read(ready[0], &c, 1), 1);
	double t0 = now_s();
	cr_expect_eq(deliver_simple(&st, 3, 50, 500), LOCAL_FAILED);
	double took = now_s() - t0;
	cr_expect(took >= 0.14 && took < 3.0, "waited %.3f s", took);
	cr_expect_eq(st.cls, STATUS_TEMP);
	cr_expect_not_null(strstr(buf_cstr(&st.text), "locked by another process"), "%s",
	    buf_cstr(&st.text));
	char *got = read_file(spool_path("bob"), NULL);
	cr_expect_str_eq(got, "");
	free(got);
	cr_expect_neq(access(spool_path("bob.lock"), F_OK), 0);
	/* released part-way through the wait: delivered */
	cr_assert_eq(write(go[1], "g", 1), 1);
	waitpid(pid, NULL, 0);
	cr_expect_eq(deliver_simple(&st, 3, 50, 500), LOCAL_DELIVERED, "%s", buf_cstr(&st.text));
	status_clear(&st);
	rm_spool();
}

/* ---- failure mid-append: the mailbox is byte-identical afterwards ---- */

Test(local, truncate_back_on_file_size_limit, .timeout = 30)
{
	static const char before[] = "From x  Thu Jan  2 03:04:05 2025\nSubject: old\n\nold\n\n";
	make_spool();
	write_file(spool_path("bob"), before, sizeof before - 1);
	struct buf big = BUF_INIT;
	buf_puts(&big, "Subject: big\n\n");
	while (big.len < 300 * 1024)
		buf_puts(&big, "From a line that gets quoted, and some more text to fill it\n");
	int fd = msg_file(big.data);
	/* Limits that cut the header, the first chunk, and a later chunk. */
	static const rlim_t extra[] = { 10, 1000, 70000, 200000 };
	for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			struct local_mbox m;
			struct status st;
			struct rlimit rl = { sizeof before - 1 + extra[i], sizeof before - 1 + extra[i] };
			status_init(&st);
			if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
				_exit(10);
			mbox_init(&m, fd);
			/* SIGXFSZ is left at its default (death): the module
			 * must ignore it itself. */
			signal(SIGXFSZ, SIG_DFL);
			enum local_result r = local_mbox_append(&m, &st);
			if (r != LOCAL_FAILED || st.cls != STATUS_TEMP)
				_exit(11);
			if (strcmp(st.dsn, "4.2.2") != 0 || strstr(buf_cstr(&st.text), "File too large") == NULL)
				_exit(12);
			/* SIGXFSZ is restored afterwards */
			struct sigaction sa;
			sigaction(SIGXFSZ, NULL, &sa);
			_exit(sa.sa_handler == SIG_DFL ? 0 : 13);
		}
		int ws;
		cr_assert_eq(waitpid(pid, &ws, 0), pid);
		cr_expect(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "limit +%lu: child status %d",
		    (unsigned long)extra[i], ws);
		size_t n;
		char *got = read_file(spool_path("bob"), &n);
		cr_expect(n == sizeof before - 1 && memcmp(got, before, n) == 0,
		    "limit +%lu: mailbox changed (%zu bytes)", (unsigned long)extra[i], n);
		free(got);
		cr_expect_neq(access(spool_path("bob.lock"), F_OK), 0, "dotlock left");
	}
	/* and without a limit it goes in whole */
	struct local_mbox m;
	struct status st;
	status_init(&st);
	utc();
	mbox_init(&m, fd);
	cr_expect_eq(local_mbox_append(&m, &st), LOCAL_DELIVERED, "%s", buf_cstr(&st.text));
	size_t n;
	char *got = read_file(spool_path("bob"), &n);
	cr_expect_gt(n, sizeof before - 1 + big.len);
	cr_expect(memcmp(got, before, sizeof before - 1) == 0);
	cr_expect(memcmp(got + sizeof before - 1, HDR, strlen(HDR)) == 0);
	free(got);
	buf_clear(&big);
	status_clear(&st);
	close(fd);
	rm_spool();
}

/* A read error on the message also truncates back. */
Test(local, truncate_back_on_read_error)
{
	static const char before[] = "From x  Thu Jan  2 03:04:05 2025\n\nold\n\n";
	struct local_mbox m;
	struct status st;
	make_spool();
	status_init(&st);
	write_file(spool_path("bob"), before, sizeof before - 1);
	/* a directory fd: pread fails with EISDIR after the headers are
	 * already buffered */
	int fd = open(spool, O_RDONLY | O_DIRECTORY);
	mbox_init(&m, fd);
	m.msg_offset = 0;
	cr_expect_eq(local_mbox_append(&m, &st), LOCAL_FAILED);
	cr_expect_eq(st.cls, STATUS_TEMP);
	cr_expect_not_null(strstr(buf_cstr(&st.text), "error reading message"));
	char *got = read_file(spool_path("bob"), NULL);
	cr_expect_str_eq(got, before);
	free(got);
	close(fd);
	status_clear(&st);
	rm_spool();
}
