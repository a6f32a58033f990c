/* queue - durable queue entries (the layout, states and protocol are
 * documented in queue.h). */
#include "queue.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "log.h"
#include "xalloc.h"

#define QUEUE_WBUF	65536
#define QUEUE_FILE_MODE	0640
#define QUEUE_DIR_MODE	0770

struct queue {
	char *path;
	int dirfd;	/* queue_directory */
	int qfd;	/* queue/ */
	int tmpfd;	/* tmp/ */
};

struct queue_drop {
	struct queue *q;
	int fd;
	char id[32];
	char tmpname[64];
	char tmppath[4200];
	size_t size_off;	/* file offset of the size digits; 0 = no envelope yet */
	long long env_len;
	long long msg_bytes;
	char wbuf[QUEUE_WBUF];
	size_t wlen;
};

static int
open_subdir(int dirfd, const char *name, bool create)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT && create) {
		if (mkdirat(dirfd, name, QUEUE_DIR_MODE) < 0 && errno != EEXIST)
			return -1;
		fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	}
	return fd;
}

struct queue *
queue_open(const char *dir, bool create, struct status *st)
{
	struct queue *q = xcalloc(1, sizeof *q);
	q->path = xstrdup(dir);
	q->dirfd = q->qfd = q->tmpfd = -1;
	q->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (q->dirfd < 0 && errno == ENOENT && create) {
		if (mkdir(dir, QUEUE_DIR_MODE) == 0 || errno == EEXIST)
			q->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (q->dirfd < 0)
		goto fail;
	if ((q->qfd = open_subdir(q->dirfd, "queue", create)) < 0)
		goto fail;
	/* Readers (mailq) need no tmp/; writers do. */
	if ((q->tmpfd = open_subdir(q->dirfd, "tmp", create)) < 0 && create)
		goto fail;
	return q;
fail:
	status_set(st, STATUS_TEMP, "4.3.0", errno == EACCES ? EXIT_NOPERM : EXIT_CANTCREAT,
	    "cannot open queue directory %s: %s", dir, strerror(errno));
	queue_close(q);
	return NULL;
}

struct queue *
queue_close(struct queue *q)
{
	if (q == NULL)
		return NULL;
	if (q->dirfd >= 0)
		close(q->dirfd);
	if (q->qfd >= 0)
		close(q->qfd);
	if (q->tmpfd >= 0)
		close(q->tmpfd);
	free(q->path);
	free(q);
	return NULL;
}

const char *
queue_path(const struct queue *q)
{
	return q->path;
}

bool
queue_valid_id(const char *s)
{
	size_t n = strlen(s);
	return n >= 6 && n < 32 && strspn(s, "0123456789ABCDEF") == n;
}

/* ---- drop ---- */

static void
io_error(struct status *st, const char *what, const char *path)
{
	int e = errno;
	int code = (e == ENOSPC || e == EDQUOT || e == EFBIG) ? EXIT_TEMPFAIL :
	    e == EACCES ? EXIT_NOPERM : EXIT_IOERR;
	status_set(st, STATUS_TEMP, "4.3.0", code, "queue file %s: %s: %s", path, what,
	    e == EFBIG ? "file too large" : strerror(e));
}

struct queue_drop *
queue_drop_begin(struct queue *q, struct status *st)
{
	static unsigned counter;
	struct queue_drop *d = xcalloc(1, sizeof *d);
	struct timeval tv;
	struct stat sb;

	d->q = q;
	d->fd = -1;
	if (q->tmpfd < 0) {
		errno = ENOENT;
		io_error(st, "open", "tmp/");
		free(d);
		return NULL;
	}
	gettimeofday(&tv, NULL);
	snprintf(d->tmpname, sizeof d->tmpname, "%ld.%ld.%06ld.%u", (long)getpid(),
	    (long)tv.tv_sec, (long)tv.tv_usec, counter++);
	snprintf(d->tmppath, sizeof d->tmppath, "%s/tmp/%s", q->path, d->tmpname);
	d->fd = openat(q->tmpfd, d->tmpname, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    QUEUE_FILE_MODE);
	if (d->fd < 0) {
		io_error(st, "create", d->tmppath);
		free(d);
		return NULL;
	}
	/* The lock tells queue_clean_tmp that a writer is alive. */
	(void)flock(d->fd, LOCK_EX | LOCK_NB);
	if (fstat(d->fd, &sb) < 0) {
		io_error(st, "fstat", d->tmppath);
		queue_drop_abort(d);
		return NULL;
	}
	/* An id that names an existing entry (possible only after inode
	 * reuse) is skipped by waiting for the next microsecond. */
	for (int tries = 0;; tries++) {
		snprintf(d->id, sizeof d->id, "%05lX%lX", (unsigned long)tv.tv_usec,
		    (unsigned long)sb.st_ino);
		if (faccessat(q->qfd, d->id, F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
			break;
		if (tries > 1000) {
			status_set(st, STATUS_TEMP, "4.3.0", EXIT_CANTCREAT,
			    "cannot find a free queue id in %s", q->path);
			queue_drop_abort(d);
			return NULL;
		}
		usleep(1);
		gettimeofday(&tv, NULL);
	}
	return d;
}

const char *
queue_drop_id(const struct queue_drop *d)
{
	return d->id;
}

const char *
queue_drop_tmp_path(const struct queue_drop *d)
{
	return d->tmppath;
}

long long
queue_drop_size(const struct queue_drop *d)
{
	return d->msg_bytes;
}

static bool
drop_flush(struct queue_drop *d, struct status *st)
{
	if (d->wlen && !io_write_all(d->fd, d->wbuf, d->wlen)) {
		io_error(st, "write", d->tmppath);
		return false;
	}
	d->wlen = 0;
	return true;
}

bool
queue_drop_envelope(struct queue_drop *d, struct envelope *e, struct status *st)
{
	struct buf out = BUF_INIT;
	struct timeval tv;
	bool ok;

	gettimeofday(&tv, NULL);
	snprintf(e->id, sizeof e->id, "%s", d->id);
	e->arrival_sec = tv.tv_sec;
	e->arrival_usec = (long)tv.tv_usec;
	e->uid = (long long)getuid();
	e->size = 0;
	envelope_format(e, false, &out, &d->size_off);
	d->env_len = (long long)out.len;
	ok = io_write_all(d->fd, out.data, out.len);
	if (!ok)
		io_error(st, "write", d->tmppath);
	buf_clear(&out);
	return ok;
}

bool
queue_drop_write(struct queue_drop *d, const void *p, size_t n, struct status *st)
{
	d->msg_bytes += (long long)n;
	if (d->wlen + n > sizeof d->wbuf) {
		if (!drop_flush(d, st))
			return false;
		if (n >= sizeof d->wbuf) {
			if (!io_write_all(d->fd, p, n)) {
				io_error(st, "write", d->tmppath);
				return false;
			}
			return true;
		}
	}
	memcpy(d->wbuf + d->wlen, p, n);
	d->wlen += n;
	return true;
}

bool
queue_drop_commit(struct queue_drop *d, struct status *st)
{
	char digits[ENVELOPE_SIZE_WIDTH + 1];
	bool ok = false;

	if (d->size_off == 0) {
		status_set(st, STATUS_TEMP, "4.3.0", EXIT_SOFTWARE, "queue file %s: no envelope", d->tmppath);
		goto out;
	}
	if (!drop_flush(d, st))
		goto out;
	snprintf(digits, sizeof digits, "%0*lld", ENVELOPE_SIZE_WIDTH, d->msg_bytes);
	if (pwrite(d->fd, digits, ENVELOPE_SIZE_WIDTH, (off_t)d->size_off) != ENVELOPE_SIZE_WIDTH) {
		io_error(st, "write", d->tmppath);
		goto out;
	}
	if (fsync(d->fd) < 0) {
		io_error(st, "fsync", d->tmppath);
		goto out;
	}
	if (renameat2(d->q->tmpfd, d->tmpname, d->q->qfd, d->id, RENAME_NOREPLACE) < 0) {
		io_error(st, "rename into queue", d->tmppath);
		goto out;
	}
	d->tmpname[0] = '\0';	/* nothing left to remove on abort */
	if (fsync(d->q->qfd) < 0) {
		/* The entry is in place but maybe not durable: remove it so that
		 * the caller's non-zero exit is the truth. */
		io_error(st, "fsync of queue directory", d->q->path);
		unlinkat(d->q->qfd, d->id, 0);
		goto out;
	}
	ok = true;
out:
	queue_drop_abort(d);
	return ok;
}

void
queue_drop_abort(struct queue_drop *d)
{
	if (d == NULL)
		return;
	if (d->tmpname[0])
		unlinkat(d->q->tmpfd, d->tmpname, 0);
	if (d->fd >= 0)
		close(d->fd);
	free(d);
}

/* ---- reading and updating ---- */

/* Reads the envelope from qe->fd into qe->env; checks the size record
 * against the file size. */
static int
entry_read(const struct queue *q, struct queue_entry *qe, struct buf *why)
{
	struct buf head = BUF_INIT;
	size_t used = 0;
	int rc = -1;
	char chunk[8192];

	if (fstat(qe->fd, &qe->st) < 0) {
		buf_printf(why, "fstat: %s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(qe->st.st_mode) || qe->st.st_nlink != 1) {
		buf_puts(why, "not a regular file with one link");
		goto out;
	}
	/* Every entry is written through the queue program, so it has the
	 * queue's group and nobody else may write it; its owner is whoever
	 * last wrote it (submitter, or a later queue run), so it proves
	 * nothing.  A file that fails this was put there some other way
	 * (SECURITY.md P-09). */
	struct stat qd;
	if (fstat(q->qfd, &qd) < 0 || qe->st.st_gid != qd.st_gid ||
	    (qe->st.st_mode & (S_IWGRP | S_IRWXO | S_IXUSR | S_IXGRP)) != 0) {
		buf_printf(why, "not written by the queue program (group %ld, mode %04o)",
		    (long)qe->st.st_gid, (unsigned)(qe->st.st_mode & 07777));
		goto out;
	}
	/* Read until the envelope's empty line (or the limit). */
	for (;;) {
		ssize_t n = pread(qe->fd, chunk, sizeof chunk, (off_t)head.len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			buf_printf(why, "read: %s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		size_t before = head.len;
		buf_append(&head, chunk, (size_t)n);
		size_t from = before > 0 ? before - 1 : 0;
		if (memmem(head.data + from, head.len - from, "\n\n", 2) ||
		    head.len > ENVELOPE_MAX_BYTES)
			break;
	}
	if (!envelope_parse(&qe->env, head.data ? head.data : "", head.len, &used, why))
		goto out;
	if (strcmp(qe->env.id, qe->id) != 0) {
		buf_printf(why, "envelope id %s does not match file name", qe->env.id);
		goto out;
	}
	if (qe->env.size < 0 || (long long)used + qe->env.size != (long long)qe->st.st_size) {
		buf_printf(why, "file size %lld does not match envelope (%zu + %lld)",
		    (long long)qe->st.st_size, used, qe->env.size);
		goto out;
	}
	qe->msg_offset = (long long)used;
	rc = 1;
out:
	buf_clear(&head);
	return rc;
}

int
queue_entry_open(struct queue *q, const char *id, bool lock, struct queue_entry *qe,
    struct buf *why)
{
	memset(qe, 0, sizeof *qe);
	envelope_init(&qe->env);
	qe->fd = -1;
	if (!queue_valid_id(id)) {
		buf_printf(why, "invalid queue id");
		return -1;
	}
	snprintf(qe->id, sizeof qe->id, "%s", id);
	for (int tries = 0; tries < 100; tries++) {
		qe->fd = openat(q->qfd, id, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (qe->fd < 0)
			return errno == ENOENT ? 0 : (buf_printf(why, "open: %s", strerror(errno)), -1);
		if (!lock)
			return entry_read(q, qe, why);
		if (flock(qe->fd, LOCK_EX | LOCK_NB) < 0) {
			close(qe->fd);
			qe->fd = -1;
			return 2;
		}
		/* Still the current file?  An update may have replaced it
		 * between our open and our lock. */
		struct stat now, mine;
		if (fstatat(q->qfd, id, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
		    fstat(qe->fd, &mine) == 0 && now.st_ino == mine.st_ino &&
		    now.st_dev == mine.st_dev) {
			qe->locked = true;
			return entry_read(q, qe, why);
		}
		close(qe->fd);
		qe->fd = -1;
	}
	buf_puts(why, "entry keeps changing under its lock");
	return -1;
}

void
queue_entry_close(struct queue_entry *qe)
{
	if (qe->fd >= 0)
		close(qe->fd);	/* releases the lock */
	qe->fd = -1;
	qe->locked = false;
	envelope_clear(&qe->env);
}

bool
queue_entry_busy(struct queue *q, const char *id)
{
	int fd = openat(q->qfd, id, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool busy = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return busy;
}

bool
queue_entry_update(struct queue *q, struct queue_entry *qe, struct status *st)
{
	struct queue_drop *d = NULL;
	struct buf env = BUF_INIT;
	size_t size_off = 0;
	bool ok = false;
	int newfd = -1;

	if (!qe->locked)
		panic("queue_entry_update: entry %s not locked", qe->id);
	if ((d = queue_drop_begin(q, st)) == NULL)
		goto out;
	qe->env.size = (long long)qe->st.st_size - qe->msg_offset;
	envelope_format(&qe->env, false, &env, &size_off);
	if (!io_write_all(d->fd, env.data, env.len)) {
		io_error(st, "write", d->tmppath);
		goto out;
	}
	/* The message part is copied in the kernel. */
	off_t in = (off_t)qe->msg_offset;
	long long left = qe->env.size;
	while (left > 0) {
		ssize_t n = copy_file_range(qe->fd, &in, d->fd, NULL, (size_t)left, 0);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n == 0)
				errno = EIO;
			io_error(st, "copy", d->tmppath);
			goto out;
		}
		left -= n;
	}
	if (fsync(d->fd) < 0) {
		io_error(st, "fsync", d->tmppath);
		goto out;
	}
	/* Lock the new file before it becomes visible, so no one can lock
	 * it in between. */
	if ((newfd = dup(d->fd)) < 0 || flock(newfd, LOCK_EX | LOCK_NB) < 0) {
		io_error(st, "lock", d->tmppath);
		goto out;
	}
	if (renameat(q->tmpfd, d->tmpname, q->qfd, qe->id) < 0) {
		io_error(st, "rename", d->tmppath);
		goto out;
	}
	d->tmpname[0] = '\0';
	if (fsync(q->qfd) < 0) {
		io_error(st, "fsync of queue directory", q->path);
		goto out;
	}
	close(qe->fd);
	qe->fd = newfd;
	newfd = -1;
	fstat(qe->fd, &qe->st);
	qe->msg_offset = (long long)env.len;
	ok = true;
out:
	if (newfd >= 0)
		close(newfd);
	queue_drop_abort(d);
	buf_clear(&env);
	return ok;
}

bool
queue_entry_remove(struct queue *q, struct queue_entry *qe, struct status *st)
{
	if (!qe->locked)
		panic("queue_entry_remove: entry %s not locked", qe->id);
	if (unlinkat(q->qfd, qe->id, 0) < 0 && errno != ENOENT) {
		io_error(st, "remove", qe->id);
		return false;
	}
	if (fsync(q->qfd) < 0) {
		io_error(st, "fsync of queue directory", q->path);
		return false;
	}
	return true;
}

void
queue_quarantine(struct queue *q, const char *id, const char *why)
{
	int cfd = open_subdir(q->dirfd, "corrupt", true);
	if (cfd < 0 || renameat(q->qfd, id, cfd, id) < 0) {
		log_warning("%s: corrupt queue entry could not be moved aside: %s (%s)",
		    id, strerror(errno), why);
	} else {
		fsync(q->qfd);
		log_warning("%s: corrupt queue entry moved to %s/corrupt/: %s", id, q->path, why);
	}
	if (cfd >= 0)
		close(cfd);
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

bool
queue_scan(struct queue *q, bool (*fn)(void *ctx, const char *id), void *ctx,
    struct status *st)
{
	int fd = dup(q->qfd);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;

	if (dir == NULL) {
		if (fd >= 0)
			close(fd);
		io_error(st, "list", q->path);
		return false;
	}
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL) {
		if (!queue_valid_id(de->d_name))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			names = xreallocarray(names, cap, sizeof *names);
		}
		names[n++] = xstrdup(de->d_name);
	}
	closedir(dir);
	if (n > 1)
		qsort(names, n, sizeof *names, cmp_names);
	bool go = true;
	for (size_t i = 0; i < n; i++) {
		if (go)
			go = fn(ctx, names[i]);
		free(names[i]);
	}
	free(names);
	return true;
}

void
queue_clean_tmp(struct queue *q, time_t max_age)
{
	int fd = q->tmpfd >= 0 ? dup(q->tmpfd) : -1;
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	time_t now = time(NULL);

	if (dir == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL) {
		struct stat sb;
		if (de->d_name[0] == '.')
			continue;
		if (fstatat(q->tmpfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
		    now - sb.st_mtime < max_age)
			continue;
		int tfd = openat(q->tmpfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (tfd >= 0 && flock(tfd, LOCK_EX | LOCK_NB) == 0) {
			unlinkat(q->tmpfd, de->d_name, 0);
			log_info("removed stale temporary file %s/tmp/%s", q->path, de->d_name);
		} else if (tfd < 0 && !S_ISREG(sb.st_mode)) {
			unlinkat(q->tmpfd, de->d_name, 0);
		}
		if (tfd >= 0)
			close(tfd);
	}
	closedir(dir);
}

bool
queue_sync(struct queue *q, struct status *st)
{
	if (fsync(q->qfd) < 0) {
		io_error(st, "fsync of queue directory", q->path);
		return false;
	}
	return true;
}
