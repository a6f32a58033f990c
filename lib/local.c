/* local - append one message to one mailbox: the mbox bytes Postfix's
 * local(8) writes, fcntl + dotlock locking, a safe open, and truncation
 * back to the old size on any failure (see local.h for the contract). */
#include "local.h"

#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "xalloc.h"

#define OPEN_TRIES	3	/* mailbox replaced while we locked it */
#define FCNTL_STEP_MAX	64	/* ms: longest pause between fcntl tries */
#define TOUCH_EVERY	60	/* s: dotlock refresh during a long append */

bool
local_user_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > LOCAL_USER_MAX || strstr(name, "..") != NULL)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
		    (i > 0 && (c == '.' || c == '-'));
		if (!ok)
			return false;
	}
	return true;
}

bool
local_addr_ok(const char *s)
{
	for (size_t n = 0; s[n]; n++) {
		unsigned char c = (unsigned char)s[n];
		if (c < 0x20 || c == 0x7f || n >= LOCAL_ADDR_MAX)
			return false;
	}
	return true;
}

void
local_from_line(struct buf *out, const char *sender, time_t now)
{
	/* asctime's format, spelled out: asctime names days and months in
	 * English whatever the locale, and so must we. */
	static const char days[] = "SunMonTueWedThuFriSat";
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	struct tm tm;
	char date[96];

	tzset();
	if (localtime_r(&now, &tm) == NULL)
		memset(&tm, 0, sizeof tm);
	snprintf(date, sizeof date, "%.3s %.3s%3d %.2d:%.2d:%.2d %lld",
	    days + 3 * ((unsigned)tm.tm_wday % 7), months + 3 * ((unsigned)tm.tm_mon % 12),
	    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, 1900LL + tm.tm_year);
	buf_printf(out, "From %s  %.24s\n", *sender ? sender : "MAILER-DAEMON", date);
}

void
local_headers(struct buf *out, const struct local_mbox *m)
{
	local_from_line(out, m->sender, m->now);
	buf_printf(out, "Return-Path: <%s>\n", m->sender);
	if (m->orig_rcpt && *m->orig_rcpt)
		buf_printf(out, "X-Original-To: %s\n", m->orig_rcpt);
	buf_printf(out, "Delivered-To: %s\n", m->delivered_to);
}

void
local_quote_init(struct local_quote *q)
{
	q->bol = true;
	q->pend = 0;
}

void
local_quote_chunk(struct local_quote *q, const char *p, size_t n, struct buf *out)
{
	static const char from[] = "From ";
	const char *end = p + n;

	while (p < end) {
		if (q->bol) {
			/* Hold back a possible "From " until it is decided,
			 * which may take the next chunk. */
			if (*p == from[q->pend]) {
				p++;
				if (++q->pend == 5) {
					buf_append(out, ">From ", 6);
					q->pend = 0;
					q->bol = false;
				}
				continue;
			}
			buf_append(out, from, q->pend);
			q->pend = 0;
			q->bol = false;
		}
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *stop = nl ? nl + 1 : end;
		buf_append(out, p, (size_t)(stop - p));
		p = stop;
		q->bol = nl != NULL;
	}
}

void
local_quote_finish(struct local_quote *q, struct buf *out)
{
	if (q->pend) {
		buf_append(out, "From ", q->pend);
		q->pend = 0;
		q->bol = false;
	}
	if (!q->bol)
		buf_putc(out, '\n');
	buf_putc(out, '\n');
	q->bol = true;
}

const char *
local_mbox_padding(off_t size, const char *tail)
{
	if (size <= 0)
		return "";
	if (tail[size >= 2 ? 1 : 0] != '\n')
		return "\n\n";
	if (size >= 2 && tail[0] != '\n')
		return "\n";
	return "";
}

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- dotlock ---- */

/* Creates name in dirfd holding "PID\n".  Returns the open lock file, or
 * -1 with errno (EEXIST: someone holds it). */
static int
dotlock_create(int dirfd, const char *name)
{
	char pid[32];
	int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	int fd;

#ifdef O_TMPFILE
	/* An unnamed file, written, then linked in: the lock never exists
	 * without its pid, whenever this process is killed. */
	fd = openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
	if (fd >= 0) {
		char proc[64];
		snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
		if (io_write_all(fd, pid, (size_t)n) &&
		    linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW) == 0)
			return fd;
		int e = errno;
		close(fd);
		errno = e;
		if (e == EEXIST || (e != ENOENT && e != EPERM && e != ENOTDIR))
			return -1;
		/* no /proc: fall back below */
	} else if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
		return -1;
	}
#endif
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd >= 0)
		(void)io_write_all(fd, pid, (size_t)n);	/* a pid-less lock still locks */
	return fd;
}

/* True when the existing dotlock may be broken; reason says why. */
static bool
dotlock_stale(int dirfd, const char *name, unsigned stale_s, char *reason, size_t rsz)
{
	struct stat sb, fsb;
	char text[32];
	ssize_t n = -1;

	if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return false;		/* gone: the next try creates it */
	time_t age = time(NULL) - sb.st_mtime;
	if (age > (time_t)stale_s) {
		snprintf(reason, rsz, "older than %u s", stale_s);
		return true;
	}
	if (!S_ISREG(sb.st_mode))
		return false;
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (fstat(fd, &fsb) == 0 && fsb.st_ino == sb.st_ino && fsb.st_dev == sb.st_dev)
		n = read(fd, text, sizeof text - 1);
	close(fd);
	if (n <= 0)
		return false;
	text[n] = '\0';
	/* Only a plain decimal pid, as liblockfile and we write it. */
	size_t digits = strspn(text, "0123456789");
	if (digits == 0 || digits > 9 || (text[digits] != '\0' &&
	    strcmp(text + digits, "\n") != 0))
		return false;
	long pid = strtol(text, NULL, 10);
	if (pid <= 1 || pid == (long)getpid())
		return false;
	if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
		return false;
	snprintf(reason, rsz, "its process %ld is gone", pid);
	return true;
}

bool
local_dotlock_acquire(int dirfd, const char *spool_dir, const char *name,
    unsigned attempts, unsigned delay_ms, unsigned stale_s,
    struct local_dotlock *dl, struct status *st)
{
	unsigned tries = 0, broken = 0;
	char reason[64];
	struct stat sb;

	dl->dirfd = dirfd;
	dl->fd = -1;
	if (strlen(name) >= sizeof dl->name) {
		status_set(st, STATUS_TEMP, "4.2.0", 0, "dotlock name too long: %s", name);
		return false;
	}
	snprintf(dl->name, sizeof dl->name, "%s", name);
	while (tries < attempts) {
		int fd = dotlock_create(dirfd, name);
		if (fd >= 0) {
			if (fstat(fd, &sb) < 0) {
				status_set(st, STATUS_TEMP, "4.2.0", 0, "cannot stat dotlock %s/%s: %s",
				    spool_dir, name, strerror(errno));
				unlinkat(dirfd, name, 0);
				close(fd);
				return false;
			}
			dl->fd = fd;
			dl->dev = sb.st_dev;
			dl->ino = sb.st_ino;
			return true;
		}
		if (errno != EEXIST) {
			status_set(st, STATUS_TEMP, "4.2.0", 0, "cannot create dotlock %s/%s: %s",
			    spool_dir, name, strerror(errno));
			return false;
		}
		/* Breaking a stale lock does not use up an attempt, but it
		 * is bounded too. */
		if (broken < attempts && dotlock_stale(dirfd, name, stale_s, reason, sizeof reason) &&
		    (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)) {
			log_warning("removed stale dotlock %s/%s: %s", spool_dir, name, reason);
			broken++;
			continue;
		}
		if (++tries < attempts)
			sleep_ms(delay_ms);
	}
	status_set(st, STATUS_TEMP, "4.2.0", 0,
	    "cannot lock mailbox: dotlock %s/%s is held by another process (%u attempts)",
	    spool_dir, name, attempts);
	return false;
}

void
local_dotlock_touch(struct local_dotlock *dl)
{
	if (dl->fd >= 0)
		(void)futimens(dl->fd, NULL);
}

void
local_dotlock_release(struct local_dotlock *dl)
{
	struct stat sb;

	if (dl->fd < 0)
		return;
	if (fstatat(dl->dirfd, dl->name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    sb.st_dev == dl->dev && sb.st_ino == dl->ino)
		(void)unlinkat(dl->dirfd, dl->name, 0);
	else
		log_warning("dotlock %s was removed or replaced while held", dl->name);
	close(dl->fd);
	dl->fd = -1;
}

/* ---- the mailbox ---- */

/* A whole-file fcntl write lock, polled with growing, jittered pauses
 * for at most budget_ms (a blocking wait could not be bounded without a
 * signal). */
static bool
fcntl_lock(int fd, unsigned budget_ms, unsigned step_max)
{
	struct flock fl;
	unsigned waited = 0, step = 1;

	memset(&fl, 0, sizeof fl);
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	for (;;) {
		if (fcntl(fd, F_SETLK, &fl) == 0)
			return true;
		if (errno != EACCES && errno != EAGAIN && errno != EINTR)
			return false;
		if (waited >= budget_ms) {
			errno = EAGAIN;
			return false;
		}
		unsigned d = step + ((unsigned)getpid() * 7919u + waited) % step;
		sleep_ms(d);
		waited += d;
		if (step < step_max)
			step = step * 2 > step_max ? step_max : step * 2;
	}
}

static const char *
file_kind(mode_t mode)
{
	if (S_ISLNK(mode))
		return "a symbolic link";
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return "a device";
	return "not a regular file";
}

/* Regular, one link, owned by the recipient. */
static bool
mbox_file_ok(const struct stat *sb, const struct local_mbox *m, const char *path,
    struct status *st)
{
	if (!S_ISREG(sb->st_mode))
		status_set(st, STATUS_TEMP, "4.2.0", 0, "mailbox %s is %s", path, file_kind(sb->st_mode));
	else if (sb->st_nlink != 1)
		status_set(st, STATUS_TEMP, "4.2.0", 0, "mailbox %s has %lu links", path,
		    (unsigned long)sb->st_nlink);
	else if (sb->st_uid != m->uid)
		status_set(st, STATUS_TEMP, "4.2.0", 0, "mailbox %s is not owned by %s", path, m->user);
	else
		return true;
	return false;
}

/* Opens SPOOL/USER for appending without following a link or opening
 * anything but the regular file that fstatat saw. */
static enum local_result
mbox_open(int dirfd, const struct local_mbox *m, const char *path, int *fdp,
    struct stat *fsb, struct status *st)
{
	struct stat lsb;
	int fd;

	*fdp = -1;
	if (fstatat(dirfd, m->user, &lsb, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT) {
			status_set(st, STATUS_TEMP, "4.2.0", 0, "mailbox %s does not exist", path);
			return LOCAL_NO_MAILBOX;
		}
		status_set(st, STATUS_TEMP, "4.2.0", 0, "cannot look up mailbox %s: %s", path,
		    strerror(errno));
		return LOCAL_FAILED;
	}
	if (!mbox_file_ok(&lsb, m, path, st))
		return LOCAL_FAILED;
	/* Read access only serves the tail check (local_mbox_padding). */
	fd = openat(dirfd, m->user, O_RDWR | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 && errno == EACCES)
		fd = openat(dirfd, m->user, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ELOOP)
			status_set(st, STATUS_TEMP, "4.2.0", 0, "mailbox %s is a symbolic link", path);
		else
			status_set(st, STATUS_TEMP, "4.2.0", 0, "cannot open mailbox %s: %s", path,
			    strerror(errno));
		return LOCAL_FAILED;
	}
	if (fstat(fd, fsb) < 0 || fsb->st_dev != lsb.st_dev || fsb->st_ino != lsb.st_ino) {
		status_set(st, STATUS_TEMP, "4.2.0", 0, "mailbox %s changed while being opened", path);
		close(fd);
		return LOCAL_FAILED;
	}
	if (!mbox_file_ok(fsb, m, path, st)) {
		close(fd);
		return LOCAL_FAILED;
	}
	*fdp = fd;
	return LOCAL_DELIVERED;
}

/* Does SPOOL/USER still name the inode we opened? */
static bool
mbox_same(int dirfd, const char *user, const struct stat *fsb)
{
	struct stat sb;
	return fstatat(dirfd, user, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    sb.st_dev == fsb->st_dev && sb.st_ino == fsb->st_ino;
}

static void
write_error(struct status *st, const char *path, int err)
{
	const char *dsn = err == EFBIG || err == EDQUOT ? "4.2.2" : err == ENOSPC ? "4.3.1" : "4.3.0";
	status_set(st, STATUS_TEMP, dsn, 0, "cannot update mailbox %s: error writing message: %s",
	    path, strerror(err));
}

static bool
args_ok(const struct local_mbox *m, struct status *st)
{
	if (m->user == NULL || !local_user_name_ok(m->user))
		status_set(st, STATUS_PERM, "5.1.3", 0, "bad mailbox name");
	else if (m->sender == NULL || !local_addr_ok(m->sender) || m->delivered_to == NULL ||
	    !local_addr_ok(m->delivered_to) || (m->orig_rcpt && !local_addr_ok(m->orig_rcpt)))
		status_set(st, STATUS_PERM, "5.3.5", 0, "bad sender or recipient text");
	else if (m->spool_dir == NULL || *m->spool_dir != '/')
		status_set(st, STATUS_TEMP, "4.3.5", 0, "mail_spool_directory is not an absolute path");
	else
		return true;
	return false;
}

enum local_result
local_mbox_append(const struct local_mbox *m, struct status *st)
{
	const unsigned attempts = m->lock_attempts ? m->lock_attempts : LOCAL_LOCK_ATTEMPTS;
	const unsigned delay = m->lock_delay_ms ? m->lock_delay_ms : LOCAL_LOCK_DELAY_MS;
	const unsigned stale = m->stale_lock_s ? m->stale_lock_s : LOCAL_STALE_LOCK_S;
	struct buf path = BUF_INIT, out = BUF_INIT, lockname = BUF_INIT;
	struct local_dotlock dl = { -1, -1, 0, 0, "" };
	struct sigaction ign, old_xfsz;
	struct local_quote q;
	struct stat sb;
	bool sig_saved = false, dirty = false;
	enum local_result res = LOCAL_FAILED;
	char *chunk = NULL;
	int dirfd = -1, fd = -1, err;
	off_t orig = 0;

	if (!args_ok(m, st))
		return LOCAL_FAILED;
	buf_printf(&path, "%s%s%s", m->spool_dir,
	    m->spool_dir[strlen(m->spool_dir) - 1] == '/' ? "" : "/", m->user);
	buf_printf(&lockname, "%s.lock", m->user);
	dirfd = open(m->spool_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		status_set(st, STATUS_TEMP, "4.3.0", 0, "cannot open mail spool directory %s: %s",
		    m->spool_dir, strerror(errno));
		goto out;
	}
	/* Open, then lock in Debian's order (fcntl, then dotlock), then make
	 * sure the name still refers to what we locked. */
	for (int i = 0;; i++) {
		res = mbox_open(dirfd, m, path.data, &fd, &sb, st);
		if (res != LOCAL_DELIVERED)
			goto out;
		res = LOCAL_FAILED;
		unsigned long long budget = (unsigned long long)attempts * delay;
		if (!fcntl_lock(fd, budget > UINT_MAX / 2 ? UINT_MAX / 2 : (unsigned)budget,
		    delay < FCNTL_STEP_MAX ? delay : FCNTL_STEP_MAX)) {
			status_set(st, STATUS_TEMP, "4.2.0", 0, "cannot lock mailbox %s: %s", path.data,
			    errno == EAGAIN ? "locked by another process" : strerror(errno));
			goto out;
		}
		if (!local_dotlock_acquire(dirfd, m->spool_dir, lockname.data, attempts, delay, stale,
		    &dl, st))
			goto out;
		if (mbox_same(dirfd, m->user, &sb) && fstat(fd, &sb) == 0)
			break;
		local_dotlock_release(&dl);
		close(fd);
		fd = -1;
		if (i + 1 == OPEN_TRIES) {
			status_set(st, STATUS_TEMP, "4.2.0", 0, "mailbox %s keeps changing while being locked",
			    path.data);
			goto out;
		}
	}
	if (!mbox_file_ok(&sb, m, path.data, st))
		goto out;
	orig = sb.st_size;

	/* From here on every failure truncates back to orig. */
	memset(&ign, 0, sizeof ign);
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	sig_saved = sigaction(SIGXFSZ, &ign, &old_xfsz) == 0;
	if (orig > 0) {
		char tail[2];
		size_t want = orig >= 2 ? 2 : 1;
		if (pread(fd, tail, want, orig - (off_t)want) == (ssize_t)want &&
		    *local_mbox_padding(orig, tail)) {
			buf_puts(&out, local_mbox_padding(orig, tail));
			log_warning("mailbox %s did not end with an empty line: separator added", path.data);
		}
	}
	struct local_mbox h = *m;
	h.now = m->now ? m->now : time(NULL);
	local_headers(&out, &h);
	local_quote_init(&q);
	chunk = xmalloc(LOCAL_CHUNK);
	off_t off = m->msg_offset;
	time_t touched = time(NULL);
	for (;;) {
		ssize_t n = off >= 0 ? pread(m->msg_fd, chunk, LOCAL_CHUNK, off) :
		    read(m->msg_fd, chunk, LOCAL_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			status_set(st, STATUS_TEMP, "4.3.0", 0, "error reading message: %s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (off >= 0)
			off += n;
		local_quote_chunk(&q, chunk, (size_t)n, &out);
		if (out.len >= LOCAL_CHUNK) {
			dirty = true;
			if (!io_write_all(fd, out.data, out.len)) {
				write_error(st, path.data, errno);
				goto out;
			}
			buf_reset(&out);
			if (time(NULL) - touched >= TOUCH_EVERY) {
				local_dotlock_touch(&dl);
				touched = time(NULL);
			}
		}
	}
	local_quote_finish(&q, &out);
	dirty = true;
	if (!io_write_all(fd, out.data, out.len) || fsync(fd) < 0) {
		write_error(st, path.data, errno);
		goto out;
	}
	status_set(st, STATUS_OK, "2.0.0", 0, "delivered to mailbox");
	res = LOCAL_DELIVERED;
out:
	if (res != LOCAL_DELIVERED && dirty) {
		/* No partial message, ever (POSTFIX-NOTES 6.1). */
		if (ftruncate(fd, orig) < 0 || fsync(fd) < 0) {
			err = errno;
			log_warning("cannot truncate mailbox %s back to %lld bytes: %s", path.data,
			    (long long)orig, strerror(err));
			buf_printf(&st->text, " (and truncating it back failed: %s)", strerror(err));
		}
	}
	if (sig_saved)
		sigaction(SIGXFSZ, &old_xfsz, NULL);
	local_dotlock_release(&dl);
	if (fd >= 0)
		close(fd);
	if (dirfd >= 0)
		close(dirfd);
	free(chunk);
	buf_clear(&path);
	buf_clear(&out);
	buf_clear(&lockname);
	return res;
}
