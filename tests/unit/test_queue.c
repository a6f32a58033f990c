/* Unit tests for lib/queue.c, each in a fresh temporary queue directory:
 * layout creation, the drop protocol (tmp -> queue/ID), ids, abort,
 * corruption checks on open, locks (same process and another process),
 * update, remove, quarantine, scan order and the tmp/ cleaner. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "envelope.h"
#include "log.h"
#include "queue.h"
#include "status.h"

static char base[64];		/* the test's temporary directory */
static char spool[128];		/* base/spool: the queue directory */
static char maillog[128];	/* base/maillog */
static struct queue *Q;

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void
setup(void)
{
	struct status st;
	snprintf(base, sizeof base, "/tmp/test_queue.XXXXXX");
	cr_assert_not_null(mkdtemp(base));
	snprintf(spool, sizeof spool, "%s/spool", base);
	snprintf(maillog, sizeof maillog, "%s/maillog", base);
	log_init("test_queue");
	log_set_stderr(false);
	log_set_file(maillog);
	status_init(&st);
	Q = queue_open(spool, true, &st);
	cr_assert_not_null(Q, "queue_open: %s", buf_cstr(&st.text));
	status_clear(&st);
}

static void
teardown(void)
{
	Q = queue_close(Q);
	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(queue, .init = setup, .fini = teardown);

/* Names in spool/SUB (dot files excluded). */
static size_t
count_dir(const char *sub)
{
	char path[256];
	snprintf(path, sizeof path, "%s/%s", spool, sub);
	DIR *d = opendir(path);
	if (d == NULL)
		return 0;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static bool
exists(const char *sub, const char *name)
{
	char path[256];
	struct stat sb;
	snprintf(path, sizeof path, "%s/%s/%s", spool, sub, name);
	return lstat(path, &sb) == 0;
}

static void
entry_path(const char *id, char *out, size_t n)
{
	snprintf(out, n, "%s/queue/%s", spool, id);
}

static void
sample_envelope(struct envelope *e)
{
	envelope_init(e);
	e->sender = strdup("alice@example.org");
	e->fullname = strdup("Alice Example");
	e->body = strdup("8bitmime");
	cr_assert(envelope_add_rcpt(e, "bob@example.net", "Bob@Example.NET", NOTIFY_FAILURE));
	cr_assert(envelope_add_rcpt(e, "carol@example.com", NULL, 0));
	cr_assert(envelope_add_rcpt(e, "dave@example.com", NULL, NOTIFY_NEVER));
}

static void
sample_message(struct buf *m, size_t n)
{
	buf_puts(m, "From: alice@example.org\nSubject: test\n\n");
	for (size_t i = 0; m->len < n; i++)
		buf_putc(m, i % 73 == 72 ? '\n' : (char)('A' + i % 26));
	m->len = n;
	m->data[n] = 0;
}

/* Drops one entry; returns its id in id[32]. */
static void
drop(const char *msg, size_t len, struct envelope *e, char *id)
{
	struct status st;
	status_init(&st);
	struct queue_drop *d = queue_drop_begin(Q, &st);
	cr_assert_not_null(d, "%s", buf_cstr(&st.text));
	snprintf(id, 32, "%s", queue_drop_id(d));
	cr_assert(queue_drop_envelope(d, e, &st), "%s", buf_cstr(&st.text));
	if (len)
		cr_assert(queue_drop_write(d, msg, len, &st), "%s", buf_cstr(&st.text));
	cr_assert(queue_drop_commit(d, &st), "%s", buf_cstr(&st.text));
	status_clear(&st);
}

static void
drop_sample(char *id, size_t msglen)
{
	struct envelope e;
	struct buf m = BUF_INIT;
	sample_envelope(&e);
	sample_message(&m, msglen);
	drop(m.data, m.len, &e, id);
	envelope_clear(&e);
	buf_clear(&m);
}

static void
read_file(const char *path, struct buf *out)
{
	int fd = open(path, O_RDONLY);
	cr_assert(fd >= 0, "%s: %s", path, strerror(errno));
	char chunk[65536];
	ssize_t n;
	while ((n = read(fd, chunk, sizeof chunk)) > 0)
		buf_append(out, chunk, (size_t)n);
	close(fd);
}

/* The message part of an open entry, read through its fd. */
static void
entry_message(const struct queue_entry *qe, struct buf *out)
{
	char chunk[65536];
	off_t off = (off_t)qe->msg_offset;
	ssize_t n;
	while ((n = pread(qe->fd, chunk, sizeof chunk, off)) > 0) {
		buf_append(out, chunk, (size_t)n);
		off += n;
	}
}

/* ---- layout ---- */

Test(queue, open_creates_layout)
{
	struct stat sb;
	char path[256];
	cr_expect_str_eq(queue_path(Q), spool);
	snprintf(path, sizeof path, "%s/queue", spool);
	cr_expect(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode), "queue/ missing");
	snprintf(path, sizeof path, "%s/tmp", spool);
	cr_expect(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode), "tmp/ missing");
	cr_expect_eq(count_dir("queue"), 0);
	cr_expect_eq(count_dir("tmp"), 0);

	/* without create, an absent directory is a TEMP failure */
	struct status st;
	status_init(&st);
	snprintf(path, sizeof path, "%s/absent", base);
	cr_expect_null(queue_open(path, false, &st));
	cr_expect_eq(st.cls, STATUS_TEMP);
	cr_expect(strstr(buf_cstr(&st.text), path) != NULL, "%s", buf_cstr(&st.text));
	cr_expect(lstat(path, &sb) < 0, "created without create");
	status_clear(&st);

	/* an existing queue reopens without create; create is idempotent */
	status_init(&st);
	struct queue *q2 = queue_open(spool, false, &st);
	cr_expect_not_null(q2, "%s", buf_cstr(&st.text));
	cr_expect_null(queue_close(q2));
	q2 = queue_open(spool, true, &st);
	cr_expect_not_null(q2, "%s", buf_cstr(&st.text));
	queue_close(q2);
	cr_expect_null(queue_close(NULL));
	status_clear(&st);
}

/* ---- drop ---- */

Test(queue, drop_round_trip)
{
	struct envelope e;
	struct buf m = BUF_INIT, file = BUF_INIT, got = BUF_INIT;
	struct status st;
	struct timeval before, after;
	char id[32];

	sample_envelope(&e);
	sample_message(&m, 300000);
	status_init(&st);
	gettimeofday(&before, NULL);
	struct queue_drop *d = queue_drop_begin(Q, &st);
	cr_assert_not_null(d, "%s", buf_cstr(&st.text));
	snprintf(id, sizeof id, "%s", queue_drop_id(d));
	cr_expect(queue_valid_id(id), "[%s]", id);
	/* the temporary file exists under tmp/, nothing in queue/ */
	struct stat sb;
	cr_expect_eq(lstat(queue_drop_tmp_path(d), &sb), 0, "%s", queue_drop_tmp_path(d));
	cr_expect_eq(strncmp(queue_drop_tmp_path(d), spool, strlen(spool)), 0);
	cr_expect_eq(count_dir("tmp"), 1);
	cr_expect_eq(count_dir("queue"), 0);

	cr_assert(queue_drop_envelope(d, &e, &st), "%s", buf_cstr(&st.text));
	cr_expect_str_eq(e.id, id);
	cr_expect_eq(e.uid, (long long)getuid());
	cr_expect(e.arrival_sec >= before.tv_sec && e.arrival_sec <= before.tv_sec + 5);
	/* small writes, one that crosses the write buffer, one larger than it */
	static const size_t parts[] = { 100, 65500, 70000, 1, 65536, 0 };
	size_t off = 0;
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		size_t n = parts[i] ? parts[i] : m.len - off;
		cr_assert(queue_drop_write(d, m.data + off, n, &st), "%s", buf_cstr(&st.text));
		off += n;
		cr_expect_eq(queue_drop_size(d), (long long)off);
	}
	cr_assert_eq(off, m.len);
	cr_expect_eq(count_dir("queue"), 0, "visible before the commit");
	cr_assert(queue_drop_commit(d, &st), "%s", buf_cstr(&st.text));
	gettimeofday(&after, NULL);
	cr_expect_eq(count_dir("tmp"), 0);
	cr_expect_eq(count_dir("queue"), 1);
	cr_expect(exists("queue", id));

	/* the file: envelope with the id and the patched size, then the message */
	char path[256];
	entry_path(id, path, sizeof path);
	read_file(path, &file);
	char head[96];
	snprintf(head, sizeof head, "satmail-envelope 1\nid: %s\n", id);
	cr_expect_eq(strncmp(file.data, head, strlen(head)), 0, "%.80s", file.data);
	char sizerec[64];
	snprintf(sizerec, sizeof sizerec, "\nsize: %0*zu\n", ENVELOPE_SIZE_WIDTH, m.len);
	cr_expect_not_null(memmem(file.data, file.len, sizerec, strlen(sizerec)));
	cr_assert(file.len > m.len);
	cr_expect_eq(memcmp(file.data + file.len - m.len, m.data, m.len), 0);
	cr_expect_eq(memcmp(file.data + file.len - m.len - 2, "\n\n", 2), 0);
	/* mode 0640 (less the umask) */
	mode_t mask = umask(0);
	umask(mask);
	cr_assert_eq(stat(path, &sb), 0);
	cr_expect_eq(sb.st_mode & 07777, 0640 & ~mask, "mode %o", sb.st_mode & 07777);
	/* the id: 5 hex digits of microseconds, then the inode in hex */
	char ino[32];
	snprintf(ino, sizeof ino, "%lX", (unsigned long)sb.st_ino);
	cr_expect_str_eq(id + 5, ino, "id %s, inode %s", id, ino);
	cr_expect_lt(strtoul((char[6]){ id[0], id[1], id[2], id[3], id[4], 0 }, NULL, 16), 1000000UL);

	/* reading it back */
	struct queue_entry qe;
	struct buf why = BUF_INIT;
	cr_assert_eq(queue_entry_open(Q, id, false, &qe, &why), 1, "%s", buf_cstr(&why));
	cr_expect_not(qe.locked);
	cr_expect_str_eq(qe.id, id);
	cr_expect_str_eq(qe.env.id, id);
	cr_expect_str_eq(envelope_sender(&qe.env), "alice@example.org");
	cr_expect_str_eq(qe.env.fullname, "Alice Example");
	cr_expect_str_eq(qe.env.body, "8bitmime");
	cr_expect_eq(qe.env.size, (long long)m.len);
	cr_expect_eq(qe.env.uid, (long long)getuid());
	cr_expect_eq(qe.env.arrival_sec, e.arrival_sec);
	cr_expect_eq(qe.env.arrival_usec, e.arrival_usec);
	cr_assert_eq(qe.env.nrcpt, 3);
	cr_expect_str_eq(qe.env.rcpt[0].addr, "bob@example.net");
	cr_expect_str_eq(qe.env.rcpt[0].orig, "Bob@Example.NET");
	cr_expect_eq(qe.env.rcpt[0].notify, NOTIFY_FAILURE);
	cr_expect_str_eq(qe.env.rcpt[1].addr, "carol@example.com");
	cr_expect_eq(qe.env.rcpt[2].notify, NOTIFY_NEVER);
	cr_expect_eq(envelope_pending(&qe.env), 3);
	cr_expect_eq(qe.msg_offset + qe.env.size, (long long)qe.st.st_size);
	cr_expect_eq(qe.msg_offset, (long long)(file.len - m.len));
	entry_message(&qe, &got);
	cr_expect_eq(got.len, m.len);
	cr_expect_eq(memcmp(got.data, m.data, m.len), 0, "message bytes differ");
	queue_entry_close(&qe);
	cr_expect_eq(qe.fd, -1);

	envelope_clear(&e);
	buf_clear(&m);
	buf_clear(&file);
	buf_clear(&got);
	buf_clear(&why);
	status_clear(&st);
}

Test(queue, drop_empty_message)
{
	struct envelope e;
	struct queue_entry qe;
	struct buf why = BUF_INIT;
	char id[32];
	sample_envelope(&e);
	drop("", 0, &e, id);
	cr_assert_eq(queue_entry_open(Q, id, false, &qe, &why), 1, "%s", buf_cstr(&why));
	cr_expect_eq(qe.env.size, 0);
	cr_expect_eq(qe.msg_offset, (long long)qe.st.st_size);
	queue_entry_close(&qe);
	envelope_clear(&e);
	buf_clear(&why);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct collect {
	char **ids;
	size_t n;
	size_t stop_after;	/* 0 = never stop */
};

static bool
collect_id(void *ctx, const char *id)
{
	struct collect *c = ctx;
	c->ids[c->n++] = strdup(id);
	return c->stop_after == 0 || c->n < c->stop_after;
}

Test(queue, ids_unique_and_scan_sorted)
{
	enum { N = 500 };
	char **ids = calloc(N, sizeof *ids);
	for (int i = 0; i < N; i++) {
		char id[32];
		drop_sample(id, 100 + (size_t)i);
		cr_expect(queue_valid_id(id), "[%s]", id);
		ids[i] = strdup(id);
	}
	cr_expect_eq(count_dir("queue"), N);
	cr_expect_eq(count_dir("tmp"), 0);
	qsort(ids, N, sizeof *ids, cmp_str);
	for (int i = 1; i < N; i++)
		cr_expect_str_neq(ids[i - 1], ids[i], "duplicate id %s", ids[i]);

	/* junk in queue/ is not an entry */
	static const char *const junk[] = { "lowercase1", ".hidden", "ABC", "ABCDEFG-1", "ABCDEFGH" };
	for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
		char path[256];
		snprintf(path, sizeof path, "%s/queue/%s", spool, junk[i]);
		int fd = open(path, O_CREAT | O_WRONLY, 0600);
		cr_assert(fd >= 0);
		close(fd);
	}
	struct collect c = { calloc(N + 10, sizeof(char *)), 0, 0 };
	struct status st;
	status_init(&st);
	cr_expect(queue_scan(Q, collect_id, &c, &st), "%s", buf_cstr(&st.text));
	cr_assert_eq(c.n, N, "scan visited %zu", c.n);
	for (int i = 0; i < N; i++) {
		cr_expect_str_eq(c.ids[i], ids[i], "position %d", i);
		free(c.ids[i]);
	}
	/* stopping early */
	c.n = 0;
	c.stop_after = 3;
	cr_expect(queue_scan(Q, collect_id, &c, &st));
	cr_expect_eq(c.n, 3);
	for (size_t i = 0; i < c.n; i++) {
		cr_expect_str_eq(c.ids[i], ids[i]);
		free(c.ids[i]);
	}
	free(c.ids);
	for (int i = 0; i < N; i++)
		free(ids[i]);
	free(ids);
	status_clear(&st);
}

Test(queue, scan_empty_queue)
{
	struct collect c = { calloc(4, sizeof(char *)), 0, 0 };
	struct status st;
	status_init(&st);
	cr_expect(queue_scan(Q, collect_id, &c, &st));
	cr_expect_eq(c.n, 0);
	free(c.ids);
	status_clear(&st);
}

Test(queue, abort_leaves_nothing)
{
	struct status st;
	struct envelope e;
	status_init(&st);
	sample_envelope(&e);

	struct queue_drop *d = queue_drop_begin(Q, &st);
	cr_assert_not_null(d);
	cr_expect_eq(count_dir("tmp"), 1);
	queue_drop_abort(d);
	cr_expect_eq(count_dir("tmp"), 0);

	d = queue_drop_begin(Q, &st);
	cr_assert_not_null(d);
	cr_assert(queue_drop_envelope(d, &e, &st));
	cr_assert(queue_drop_write(d, "Subject: x\n\nbody\n", 17, &st));
	queue_drop_abort(d);
	cr_expect_eq(count_dir("tmp"), 0);
	cr_expect_eq(count_dir("queue"), 0);

	queue_drop_abort(NULL);

	/* a commit without an envelope fails and cleans up */
	d = queue_drop_begin(Q, &st);
	cr_assert_not_null(d);
	cr_expect_not(queue_drop_commit(d, &st));
	cr_expect_eq(st.cls, STATUS_TEMP);
	cr_expect_eq(count_dir("tmp"), 0);
	cr_expect_eq(count_dir("queue"), 0);

	envelope_clear(&e);
	status_clear(&st);
}

/* ---- corruption ---- */

enum damage {
	TRUNCATE_1, APPEND_1, TRUNCATE_ENVELOPE, EMPTY, SIZE_DIGIT, ID_RECORD, RENAMED, HARD_LINK,
	GARBAGE, SYMLINK, WORLD_WRITABLE, OTHER_READABLE, GROUP_WRITABLE, FOREIGN_GROUP,
};

struct ccase {
	enum damage how;
	const char *why;	/* substring of the reason */
};

static const struct ccase ccases[] = {
	{ TRUNCATE_1, "does not match envelope" },
	{ APPEND_1, "does not match envelope" },
	{ TRUNCATE_ENVELOPE, "incomplete" },
	{ EMPTY, "empty envelope" },
	{ SIZE_DIGIT, "does not match envelope" },
	{ ID_RECORD, "does not match file name" },
	{ RENAMED, "does not match file name" },
	{ HARD_LINK, "one link" },
	{ GARBAGE, "bad version line" },
	{ SYMLINK, "open" },
	/* SECURITY.md P-09: entries the queue program did not write */
	{ WORLD_WRITABLE, "not written by the queue program" },
	{ OTHER_READABLE, "not written by the queue program" },
	{ GROUP_WRITABLE, "not written by the queue program" },
	{ FOREIGN_GROUP, "not written by the queue program" },
};

static size_t ccases_idx[sizeof ccases / sizeof ccases[0]];

static struct criterion_test_params
index_params(size_t *idx, size_t n)
{
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	return cr_make_param_array(size_t, idx, n);
}

ParameterizedTestParameters(queue, corrupt_is_refused)
{
	return index_params(ccases_idx, sizeof ccases / sizeof ccases[0]);
}

/* Overwrites the first occurrence of from with to (same length). */
static void
patch_file(const char *path, const char *from, const char *to)
{
	struct buf b = BUF_INIT;
	read_file(path, &b);
	char *p = memmem(b.data, b.len, from, strlen(from));
	cr_assert_not_null(p, "%s not in %s", from, path);
	int fd = open(path, O_WRONLY);
	cr_assert(fd >= 0);
	cr_assert_eq(pwrite(fd, to, strlen(to), p - b.data), (ssize_t)strlen(to));
	close(fd);
	buf_clear(&b);
}

ParameterizedTest(size_t *ip, queue, corrupt_is_refused)
{
	const struct ccase *c = &ccases[*ip];
	char id[32], path[256], other[256];
	struct stat sb;
	const char *open_id;

	drop_sample(id, 5000);
	entry_path(id, path, sizeof path);
	cr_assert_eq(stat(path, &sb), 0);
	open_id = id;
	switch (c->how) {
	case TRUNCATE_1:
		cr_assert_eq(truncate(path, sb.st_size - 1), 0);
		break;
	case APPEND_1: {
		int fd = open(path, O_WRONLY | O_APPEND);
		cr_assert_eq(write(fd, "x", 1), 1);
		close(fd);
		break;
	}
	case TRUNCATE_ENVELOPE:
		cr_assert_eq(truncate(path, 40), 0);
		break;
	case EMPTY:
		cr_assert_eq(truncate(path, 0), 0);
		break;
	case SIZE_DIGIT:
		patch_file(path, "size: 0000000", "size: 0000001");
		break;
	case ID_RECORD: {
		char from[48], to[48];
		snprintf(from, sizeof from, "id: %s\n", id);
		snprintf(to, sizeof to, "id: %s\n", id);
		to[4] = to[4] == 'A' ? 'B' : 'A';
		patch_file(path, from, to);
		break;
	}
	case RENAMED:
		snprintf(other, sizeof other, "%s/queue/ABCDEF0", spool);
		cr_assert_eq(rename(path, other), 0);
		open_id = "ABCDEF0";
		break;
	case HARD_LINK:
		snprintf(other, sizeof other, "%s/tmp/extra-link", spool);
		cr_assert_eq(link(path, other), 0);
		break;
	case GARBAGE: {
		int fd = open(path, O_WRONLY | O_TRUNC);
		cr_assert_eq(write(fd, "hello\n\nworld\n", 13), 13);
		close(fd);
		break;
	}
	case SYMLINK:
		snprintf(other, sizeof other, "%s/queue/ABCDEF0", spool);
		cr_assert_eq(symlink(path, other), 0);
		open_id = "ABCDEF0";
		break;
	case WORLD_WRITABLE:
		cr_assert_eq(chmod(path, 0666), 0);
		break;
	case OTHER_READABLE:
		cr_assert_eq(chmod(path, 0644), 0);
		break;
	case GROUP_WRITABLE:
		cr_assert_eq(chmod(path, 0660), 0);
		break;
	case FOREIGN_GROUP: {
		/* A group other than the queue directory's: needs root to
		 * give away, else a group the user has besides its own. */
		gid_t groups[64];
		int ng = getgroups(64, groups);
		gid_t other_gid = getuid() == 0 ? 65534 : (gid_t)-1;
		for (int g = 0; g < ng && other_gid == (gid_t)-1; g++)
			if (groups[g] != sb.st_gid)
				other_gid = groups[g];
		if (other_gid == (gid_t)-1)
			cr_skip_test("no second group to give the entry");
		cr_assert_eq(chown(path, (uid_t)-1, other_gid), 0);
		break;
	}
	}
	for (int lock = 0; lock <= 1; lock++) {
		struct queue_entry qe;
		struct buf why = BUF_INIT;
		int rc = queue_entry_open(Q, open_id, lock, &qe, &why);
		cr_expect_eq(rc, -1, "damage %d lock=%d: rc %d", c->how, lock, rc);
		cr_expect(strstr(buf_cstr(&why), c->why) != NULL, "damage %d: [%s] lacks [%s]",
		    c->how, buf_cstr(&why), c->why);
		cr_expect(why.len > 0, "no reason given");
		queue_entry_close(&qe);
		buf_clear(&why);
	}
}

Test(queue, open_missing_and_invalid_ids)
{
	struct queue_entry qe;
	struct buf why = BUF_INIT;
	cr_expect_eq(queue_entry_open(Q, "ABCDEF012", false, &qe, &why), 0);
	queue_entry_close(&qe);
	cr_expect_eq(queue_entry_open(Q, "ABCDEF012", true, &qe, &why), 0);
	queue_entry_close(&qe);
	static const char *const bad[] = { "../tmp/x", "abcdef01", "ABC", "", "ABCDEF/01" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		buf_reset(&why);
		cr_expect_eq(queue_entry_open(Q, bad[i], false, &qe, &why), -1, "[%s]", bad[i]);
		cr_expect(strstr(buf_cstr(&why), "invalid queue id") != NULL, "[%s]", bad[i]);
		queue_entry_close(&qe);
	}
	buf_clear(&why);
}

Test(queue, valid_id_table)
{
	static const struct {
		const char *s;
		bool ok;
	} v[] = {
		{ "ABCDEF", true }, { "B56EBA768D2", true }, { "0123456789ABCDEF0123456789ABCDE", true },
		{ "0123456789ABCDEF0123456789ABCDEF", false }, { "ABCDE", false }, { "", false },
		{ "abcdef", false }, { "ABCDEG", false }, { "../x", false }, { "ABC DEF", false },
		{ "ABCDEF\n", false },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		cr_expect_eq(queue_valid_id(v[i].s), v[i].ok, "[%s]", v[i].s);
}

/* ---- locks ---- */

Test(queue, lock_is_exclusive)
{
	char id[32];
	struct queue_entry a, b;
	struct buf why = BUF_INIT;

	drop_sample(id, 1000);
	cr_expect_not(queue_entry_busy(Q, id));
	cr_assert_eq(queue_entry_open(Q, id, true, &a, &why), 1, "%s", buf_cstr(&why));
	cr_expect(a.locked);
	cr_expect(a.fd >= 0);
	cr_expect(queue_entry_busy(Q, id));
	/* a second open file description in this process */
	cr_expect_eq(queue_entry_open(Q, id, true, &b, &why), 2);
	cr_expect_eq(b.fd, -1);
	cr_expect_not(b.locked);
	queue_entry_close(&b);
	/* another process */
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		struct status st;
		struct queue_entry c;
		struct buf w = BUF_INIT;
		status_init(&st);
		struct queue *q = queue_open(spool, false, &st);
		if (q == NULL)
			_exit(10);
		int rc = queue_entry_open(q, id, true, &c, &w);
		int busy = queue_entry_busy(q, id);
		_exit(rc * 10 + busy);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFEXITED(status));
	cr_expect_eq(WEXITSTATUS(status), 21, "child: rc*10+busy = %d", WEXITSTATUS(status));
	/* reading without the lock is allowed */
	cr_expect_eq(queue_entry_open(Q, id, false, &b, &why), 1);
	cr_expect_not(b.locked);
	queue_entry_close(&b);
	cr_expect(queue_entry_busy(Q, id), "closing an unlocked reader dropped the lock");
	/* released by close */
	queue_entry_close(&a);
	cr_expect_not(a.locked);
	cr_expect_not(queue_entry_busy(Q, id));
	cr_expect_eq(queue_entry_open(Q, id, true, &b, &why), 1);
	cr_expect(b.locked);
	queue_entry_close(&b);
	cr_expect_not(queue_entry_busy(Q, "ABCDEF012"));
	buf_clear(&why);
}

/* ---- update / remove / quarantine ---- */

Test(queue, update_rewrites_envelope_keeps_message_and_lock)
{
	char id[32], path[256];
	struct queue_entry qe, r;
	struct buf why = BUF_INIT, msg0 = BUF_INIT, msg1 = BUF_INIT;
	struct status st;
	struct stat sb;

	drop_sample(id, 200000);
	entry_path(id, path, sizeof path);
	status_init(&st);
	cr_assert_eq(queue_entry_open(Q, id, true, &qe, &why), 1, "%s", buf_cstr(&why));
	entry_message(&qe, &msg0);
	cr_assert_eq(msg0.len, 200000);
	long long arrival = qe.env.arrival_sec;
	ino_t old_ino = qe.st.st_ino;

	qe.env.rcpt[0].state = RCPT_SENT;
	snprintf(qe.env.rcpt[0].dsn, sizeof qe.env.rcpt[0].dsn, "2.0.0");
	qe.env.rcpt[1].reason = strdup("connect to mx.example.com[192.0.2.1]:25: Connection refused");
	snprintf(qe.env.rcpt[1].dsn, sizeof qe.env.rcpt[1].dsn, "4.4.1");
	qe.env.attempts = 3;
	qe.env.next_retry = 1738574000;
	cr_assert(queue_entry_update(Q, &qe, &st), "%s", buf_cstr(&st.text));
	cr_expect(qe.locked);
	cr_expect(qe.fd >= 0);
	cr_expect_eq(count_dir("tmp"), 0);
	cr_expect_eq(count_dir("queue"), 1);
	cr_assert_eq(stat(path, &sb), 0);
	cr_expect_neq(sb.st_ino, old_ino, "update must replace the file");
	cr_expect_eq(qe.st.st_ino, sb.st_ino, "qe->st describes the new file");
	cr_expect_eq(qe.st.st_size, sb.st_size);
	/* still locked: by the new file */
	cr_expect(queue_entry_busy(Q, id));
	cr_expect_eq(queue_entry_open(Q, id, true, &r, &why), 2);
	queue_entry_close(&r);
	/* the message through the handle is unchanged */
	entry_message(&qe, &msg1);
	cr_expect_eq(msg1.len, msg0.len);
	cr_expect_eq(memcmp(msg1.data, msg0.data, msg0.len), 0);
	/* and a fresh reader sees the new envelope and the same message */
	buf_reset(&why);
	cr_assert_eq(queue_entry_open(Q, id, false, &r, &why), 1, "%s", buf_cstr(&why));
	cr_expect_eq(r.env.rcpt[0].state, RCPT_SENT);
	cr_expect_str_eq(r.env.rcpt[0].dsn, "2.0.0");
	cr_expect_eq(r.env.rcpt[1].state, RCPT_PENDING);
	cr_expect_str_eq(r.env.rcpt[1].reason, "connect to mx.example.com[192.0.2.1]:25: Connection refused");
	cr_expect_str_eq(r.env.rcpt[1].dsn, "4.4.1");
	cr_expect_eq(r.env.attempts, 3);
	cr_expect_eq(r.env.next_retry, 1738574000);
	cr_expect_eq(r.env.arrival_sec, arrival);
	cr_expect_str_eq(r.env.id, id);
	cr_expect_eq(r.env.size, 200000);
	cr_expect_eq(envelope_pending(&r.env), 2);
	cr_expect_eq(r.msg_offset, qe.msg_offset);
	buf_reset(&msg1);
	entry_message(&r, &msg1);
	cr_expect_eq(msg1.len, msg0.len);
	cr_expect_eq(memcmp(msg1.data, msg0.data, msg0.len), 0);
	queue_entry_close(&r);

	/* a second update from the same handle */
	qe.env.rcpt[1].state = RCPT_BOUNCED;
	qe.env.attempts = 4;
	cr_assert(queue_entry_update(Q, &qe, &st), "%s", buf_cstr(&st.text));
	buf_reset(&why);
	cr_assert_eq(queue_entry_open(Q, id, false, &r, &why), 1, "%s", buf_cstr(&why));
	cr_expect_eq(r.env.attempts, 4);
	cr_expect_eq(envelope_pending(&r.env), 1);
	buf_reset(&msg1);
	entry_message(&r, &msg1);
	cr_expect_eq(msg1.len, msg0.len);
	cr_expect_eq(memcmp(msg1.data, msg0.data, msg0.len), 0);
	queue_entry_close(&r);

	queue_entry_close(&qe);
	cr_expect_not(queue_entry_busy(Q, id));
	buf_clear(&why);
	buf_clear(&msg0);
	buf_clear(&msg1);
	status_clear(&st);
}

/* Updating an entry this process has not locked is a broken invariant:
 * panic() aborts (in a child, so that the fixture still cleans up). */
Test(queue, update_unlocked_panics)
{
	char id[32];
	struct queue_entry qe;
	struct buf why = BUF_INIT;
	drop_sample(id, 100);
	cr_assert_eq(queue_entry_open(Q, id, false, &qe, &why), 1);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		struct status st;
		status_init(&st);
		queue_entry_update(Q, &qe, &st);
		_exit(0);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "status %#x", status);
	/* and nothing changed */
	cr_expect_eq(count_dir("tmp"), 0);
	cr_expect_eq(count_dir("queue"), 1);
	queue_entry_close(&qe);
	buf_clear(&why);
}

Test(queue, remove_deletes)
{
	char id[32], keep[32];
	struct queue_entry qe;
	struct buf why = BUF_INIT;
	struct status st;
	status_init(&st);
	drop_sample(id, 100);
	drop_sample(keep, 100);
	cr_assert_eq(queue_entry_open(Q, id, true, &qe, &why), 1);
	cr_expect(queue_entry_remove(Q, &qe, &st), "%s", buf_cstr(&st.text));
	queue_entry_close(&qe);
	cr_expect_not(exists("queue", id));
	cr_expect(exists("queue", keep));
	cr_expect_eq(count_dir("queue"), 1);
	cr_expect_eq(queue_entry_open(Q, id, false, &qe, &why), 0);
	queue_entry_close(&qe);
	buf_clear(&why);
	status_clear(&st);
}

Test(queue, quarantine_moves_aside)
{
	char id[32], keep[32], path[256];
	struct buf log = BUF_INIT, before = BUF_INIT, after = BUF_INIT;
	drop_sample(id, 100);
	drop_sample(keep, 100);
	entry_path(id, path, sizeof path);
	read_file(path, &before);
	queue_quarantine(Q, id, "file size does not match");
	cr_expect_not(exists("queue", id));
	cr_expect(exists("corrupt", id));
	cr_expect(exists("queue", keep));
	char cpath[256];
	snprintf(cpath, sizeof cpath, "%s/corrupt/%s", spool, id);
	read_file(cpath, &after);
	cr_expect(before.len == after.len && memcmp(before.data, after.data, before.len) == 0,
	    "content changed when moved aside");
	read_file(maillog, &log);
	cr_expect_not_null(strstr(buf_cstr(&log), id), "log: %s", buf_cstr(&log));
	cr_expect_not_null(strstr(buf_cstr(&log), "file size does not match"), "log: %s", buf_cstr(&log));
	/* a second quarantine of a missing id changes nothing */
	queue_quarantine(Q, id, "again");
	cr_expect(exists("corrupt", id));
	cr_expect_eq(count_dir("corrupt"), 1);
	buf_clear(&log);
	buf_clear(&before);
	buf_clear(&after);
}

/* ---- tmp/ cleaner ---- */

static int
make_tmp(const char *name, time_t age)
{
	char path[256];
	snprintf(path, sizeof path, "%s/tmp/%s", spool, name);
	int fd = open(path, O_CREAT | O_RDWR | O_EXCL, 0600);
	cr_assert(fd >= 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, "partial", 7), 7);
	struct timespec ts[2];
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= age;
	ts[1] = ts[0];
	cr_assert_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
	return fd;
}

Test(queue, clean_tmp)
{
	struct status st;
	struct envelope e;
	status_init(&st);
	sample_envelope(&e);

	close(make_tmp("old-unlocked", 2 * 3600));
	close(make_tmp("fresh", 0));
	close(make_tmp("almost-old", QUEUE_TMP_MAX_AGE - 100));
	int locked = make_tmp("old-locked", 2 * 3600);
	cr_assert_eq(flock(locked, LOCK_EX), 0);
	/* a drop in progress whose file is old (a slow client) */
	struct queue_drop *d = queue_drop_begin(Q, &st);
	cr_assert_not_null(d);
	cr_assert(queue_drop_envelope(d, &e, &st));
	struct timespec ts[2];
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= 2 * 3600;
	ts[1] = ts[0];
	cr_assert_eq(utimensat(AT_FDCWD, queue_drop_tmp_path(d), ts, 0), 0);

	queue_clean_tmp(Q, QUEUE_TMP_MAX_AGE);
	cr_expect_not(exists("tmp", "old-unlocked"), "old unlocked file kept");
	cr_expect(exists("tmp", "fresh"), "fresh file removed");
	cr_expect(exists("tmp", "almost-old"), "file younger than max_age removed");
	cr_expect(exists("tmp", "old-locked"), "locked file removed");
	cr_expect_eq(count_dir("tmp"), 4);

	/* the drop can still commit */
	cr_expect(queue_drop_write(d, "Subject: x\n\nbody\n", 17, &st));
	cr_expect(queue_drop_commit(d, &st), "%s", buf_cstr(&st.text));
	cr_expect_eq(count_dir("queue"), 1);

	/* once unlocked, the old file goes; a smaller max_age takes more */
	close(locked);
	queue_clean_tmp(Q, QUEUE_TMP_MAX_AGE);
	cr_expect_not(exists("tmp", "old-locked"));
	cr_expect(exists("tmp", "almost-old"));
	queue_clean_tmp(Q, 60);
	cr_expect_not(exists("tmp", "almost-old"));
	cr_expect(exists("tmp", "fresh"));
	cr_expect_eq(count_dir("queue"), 1, "the cleaner touched queue/");

	envelope_clear(&e);
	status_clear(&st);
}
