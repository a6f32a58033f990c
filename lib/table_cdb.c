/* table_cdb - cdb: tables with tinycdb, as Postfix reads and writes them.
 *
 * File format (D. J. Bernstein's cdb, written by tinycdb exactly as
 * Postfix's postmap does): a 2048-byte header of 256 (position, slots)
 * pairs, the records in insertion order as "klen u32le, vlen u32le, key,
 * value", then 256 open-addressing hash tables.  Postfix stores keys and
 * values WITHOUT a trailing NUL in cdb files (postmap -N adds one); the
 * reader tries "key\0" first and then "key", and sticks with whichever
 * hits first, as Postfix's dict_cdb does, so files from either convention
 * (and Postfix's hash-to-cdb conversions) read the same.
 *
 * Writing goes through tinycdb's cdb_make_* calls in the same order
 * Postfix makes them, so the same source gives the same bytes.  The one
 * difference is speed: tinycdb checks for duplicates by scanning every
 * earlier record of the same hash bucket (quadratic: most of Postfix's
 * 3 s for a million entries).  We keep a set of the 32-bit hashes seen so
 * far and only ask tinycdb to look (cdb_make_put) when the hash was seen
 * before; otherwise the key cannot be a duplicate and cdb_make_add
 * appends it, which is what cdb_make_put would have done.
 *
 * The new file is NAME.cdb.tmp (Postfix's name), opened without O_TRUNC
 * and locked with fcntl before truncating, so two builders (ours or
 * Postfix's) take turns; commit = finish, fsync, rename, fsync dir. */
#include "table_int.h"

#include <cdb.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "xalloc.h"

/* ---------------------------------------------------------------- reading */

struct cdb_table {
	struct table t;
	struct cdb cdb;
	int fd;
	char *path;		/* NAME.cdb */
	bool try_nul, try_plain;
	unsigned seq;		/* cdb_seqnext cursor */
};

static int
cdb_error(struct cdb_table *ct, struct status *st)
{
	status_set(st, STATUS_TEMP, "4.3.0", 0, "error reading %s: %s", ct->path,
	    errno ? strerror(errno) : "corrupt file");
	return TABLE_ERROR;
}

/* Copies a record value up to its first NUL (Postfix hands values on as
 * C strings: a trailing NUL or anything after an embedded one goes). */
static void
put_value(struct buf *value, const char *p, size_t n)
{
	const char *nul = memchr(p, '\0', n);
	buf_append(value, p, nul ? (size_t)(nul - p) : n);
}

static int
cdb_lookup(struct table *t, const char *key, struct buf *value, struct status *st)
{
	struct cdb_table *ct = (struct cdb_table *)t;
	size_t klen = strlen(key);
	int r = 0;

	if (klen >= 0xffffffffu)
		return TABLE_NOTFOUND;
	errno = 0;
	if (ct->try_nul) {
		/* The C string's own terminator is the NUL a -N file holds. */
		r = cdb_find(&ct->cdb, key, (unsigned)klen + 1);
		if (r > 0)
			ct->try_plain = false;
	}
	if (r == 0 && ct->try_plain) {
		r = cdb_find(&ct->cdb, key, (unsigned)klen);
		if (r > 0)
			ct->try_nul = false;
	}
	if (r < 0)
		return cdb_error(ct, st);
	if (r == 0)
		return TABLE_NOTFOUND;
	const char *v = cdb_getdata(&ct->cdb);
	if (v == NULL)
		return cdb_error(ct, st);
	put_value(value, v, cdb_datalen(&ct->cdb));
	return TABLE_FOUND;
}

static unsigned
unpack32(const unsigned char *p)
{
	return (unsigned)p[0] | (unsigned)p[1] << 8 | (unsigned)p[2] << 16 |
	    (unsigned)p[3] << 24;
}

/* Reads tinycdb's mapping of the file (struct cdb's cdb_mem and
 * cdb_fsize) to find where cdb_find() will look: the slot first, then
 * the record the slot points to.  Out-of-range numbers (a corrupt file)
 * just mean no prefetch; cdb_find() does the checked reading. */
static void
cdb_prefetch(struct table *t, const char *key, int pass)
{
	struct cdb_table *ct = (struct cdb_table *)t;
	const unsigned char *mem = ct->cdb.cdb_mem;
	unsigned fsize = ct->cdb.cdb_fsize;
	size_t klen = strlen(key) + (ct->try_plain ? 0 : 1);

	if (mem == NULL || fsize < 2048 || klen >= 0xffffffffu)
		return;
	unsigned h = cdb_hash(key, (unsigned)klen);
	const unsigned char *e = mem + (h & 255) * 8;
	unsigned pos = unpack32(e), n = unpack32(e + 4);
	if (n == 0 || pos > fsize || n > (fsize - pos) / 8)
		return;
	const unsigned char *slot = mem + pos + (size_t)((h >> 8) % n) * 8;
	if (pass == 0) {
		__builtin_prefetch(slot);
		return;
	}
	unsigned rpos = unpack32(slot + 4);
	if (rpos != 0 && rpos < fsize)
		__builtin_prefetch(mem + rpos);
}

static int
cdb_next(struct table *t, bool first, struct buf *key, struct buf *value,
    struct status *st)
{
	struct cdb_table *ct = (struct cdb_table *)t;

	if (first)
		cdb_seqinit(&ct->seq, &ct->cdb);
	errno = 0;
	int r = cdb_seqnext(&ct->seq, &ct->cdb);
	if (r < 0)
		return cdb_error(ct, st);
	if (r == 0)
		return TABLE_NOTFOUND;
	const char *k = cdb_getkey(&ct->cdb), *v = cdb_getdata(&ct->cdb);
	if (k == NULL || v == NULL)
		return cdb_error(ct, st);
	put_value(key, k, cdb_keylen(&ct->cdb));
	put_value(value, v, cdb_datalen(&ct->cdb));
	return TABLE_FOUND;
}

static void
cdb_table_free(struct table *t)
{
	struct cdb_table *ct = (struct cdb_table *)t;
	cdb_free(&ct->cdb);
	close(ct->fd);
	free(ct->path);
	table_clear_base(t);
	free(ct);
}

static const struct table_ops cdb_ops = {
	.type = "cdb", .fixed = true, .lookup = cdb_lookup, .prefetch = cdb_prefetch,
	.next = cdb_next, .free = cdb_table_free,
};

struct table *
table_cdb_open(const char *name, unsigned flags, struct status *st)
{
	struct cdb_table *ct = NULL;
	struct stat sb, src;
	char *path = xmalloc(strlen(name) + sizeof ".cdb");
	int fd = -1;

	strcpy(path, name);
	strcat(path, ".cdb");
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		status_set(st, STATUS_TEMP, "4.3.0", 0, "open database %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	ct = xcalloc(1, sizeof *ct);
	if (fstat(fd, &sb) < 0 || cdb_init(&ct->cdb, fd) != 0) {
		status_set(st, STATUS_TEMP, "4.3.0", 0, "open database %s: %s", path,
		    errno ? strerror(errno) : "not a cdb file");
		goto fail;
	}
	/* Postfix's hint that someone forgot to run postmap; a source
	 * changed in the last 100 s may be a build in progress. */
	if (stat(name, &src) == 0 && src.st_mtime > sb.st_mtime &&
	    src.st_mtime < time(NULL) - 100)
		log_warning("database %s is older than source file %s", path, name);
	table_init_base(&ct->t, &cdb_ops, "cdb", name, flags);
	ct->fd = fd;
	ct->path = path;
	ct->try_nul = !(flags & TABLE_NONUL) || (flags & TABLE_NUL);
	ct->try_plain = !(flags & TABLE_NUL) || (flags & TABLE_NONUL);
	return &ct->t;
fail:
	free(ct);
	if (fd >= 0)
		close(fd);
	free(path);
	return NULL;
}

/* ---------------------------------------------------------------- writing */

/* A set of 32-bit cdb hashes (open addressing; 0 is stored aside). */
struct hashset {
	uint32_t *slot;
	size_t mask;		/* nslots - 1 */
	size_t n;
	bool has_zero;
};

static void
hashset_grow(struct hashset *h)
{
	size_t nslots = h->slot ? (h->mask + 1) * 2 : 1u << 16;
	uint32_t *slot = xcalloc(nslots, sizeof *slot);
	for (size_t i = 0; h->slot && i <= h->mask; i++) {
		uint32_t v = h->slot[i];
		if (v == 0)
			continue;
		/* The cdb hash's low bits pick the table, its next bits the
		 * slot: mix so that neither clusters here. */
		size_t j = (size_t)(v * 2654435761u) & (nslots - 1);
		while (slot[j] != 0)
			j = (j + 1) & (nslots - 1);
		slot[j] = v;
	}
	free(h->slot);
	h->slot = slot;
	h->mask = nslots - 1;
}

/* Adds v; returns true when it was there already. */
static bool
hashset_test_add(struct hashset *h, uint32_t v)
{
	if (v == 0) {
		bool had = h->has_zero;
		h->has_zero = true;
		return had;
	}
	if (h->slot == NULL || (h->n + 1) * 2 > h->mask + 1)
		hashset_grow(h);
	size_t j = (size_t)(v * 2654435761u) & h->mask;
	while (h->slot[j] != 0) {
		if (h->slot[j] == v)
			return true;
		j = (j + 1) & h->mask;
	}
	h->slot[j] = v;
	h->n++;
	return false;
}

struct table_builder {
	char *path;		/* NAME.cdb */
	char *tmp;		/* NAME.cdb.tmp */
	int fd;
	unsigned flags;
	bool nul;		/* append a NUL to keys and values */
	bool started;		/* cdb_make_start done */
	bool committed;
	struct cdb_make cm;
	struct hashset seen;
	struct buf key;		/* scratch: folded key (+ NUL) */
	struct buf value;	/* scratch: value + NUL */
};

static bool
write_error(struct table_builder *b, struct status *st)
{
	status_set(st, STATUS_TEMP, "4.3.0", 0, "error writing %s: %s", b->tmp,
	    errno ? strerror(errno) : "file too large for cdb");
	return false;
}

/* Opens and locks the temporary file, waiting for another builder of
 * the same table; loops when that builder renamed the file away while we
 * waited (the file we locked is then the table, not the temp file). */
static bool
open_locked_tmp(struct table_builder *b, mode_t mode, struct status *st)
{
	for (;;) {
		struct stat a, z;
		struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		int fd = open(b->tmp, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd < 0) {
			status_set(st, STATUS_TEMP, "4.3.0", 0, "open database %s: %s",
			    b->tmp, strerror(errno));
			return false;
		}
		int r;
		while ((r = fcntl(fd, F_SETLKW, &lk)) < 0 && errno == EINTR)
			;
		if (r < 0 || fstat(fd, &a) < 0) {
			status_set(st, STATUS_TEMP, "4.3.0", 0, "lock %s: %s", b->tmp,
			    strerror(errno));
			close(fd);
			return false;
		}
		if (stat(b->tmp, &z) == 0 && a.st_ino == z.st_ino &&
		    a.st_dev == z.st_dev && a.st_nlink > 0) {
			b->fd = fd;
			break;
		}
		close(fd);
	}
	/* The file may be a leftover from a crashed build, with other bits. */
	if (ftruncate(b->fd, 0) < 0 || fchmod(b->fd, mode) < 0) {
		status_set(st, STATUS_TEMP, "4.3.0", 0, "initialize database %s: %s",
		    b->tmp, strerror(errno));
		return false;
	}
	return true;
}

struct table_builder *
table_cdb_build_start(const char *path, unsigned flags, mode_t mode, struct status *st)
{
	struct table_builder *b = xcalloc(1, sizeof *b);

	b->fd = -1;
	b->path = xstrdup(path);
	b->tmp = xmalloc(strlen(path) + sizeof ".tmp");
	strcpy(b->tmp, path);
	strcat(b->tmp, ".tmp");
	b->flags = flags;
	/* Postfix's create default for cdb: no NUL; -N wins over -n. */
	b->nul = (flags & TABLE_NUL) != 0;
	buf_init(&b->key);
	buf_init(&b->value);
	if (!open_locked_tmp(b, mode, st))
		return table_build_free(b);
	if (cdb_make_start(&b->cm, b->fd) < 0) {
		write_error(b, st);
		return table_build_free(b);
	}
	b->started = true;
	return b;
}

/* Adds a record as stored (key already folded, NULs already there). */
static int
add_raw(struct table_builder *b, const char *k, size_t klen, const char *v,
    size_t vlen, enum cdb_put_mode mode, struct status *st)
{
	if (klen > 0xfffffff0u || vlen > 0xfffffff0u) {
		errno = EFBIG;
		write_error(b, st);
		return TABLE_ERROR;
	}
	unsigned h = cdb_hash(k, (unsigned)klen);
	int r;
	errno = 0;
	if (!hashset_test_add(&b->seen, h)) {
		/* A hash never seen: no record can have this key. */
		r = cdb_make_add(&b->cm, k, (unsigned)klen, v, (unsigned)vlen);
		if (r < 0) {
			write_error(b, st);
			return TABLE_ERROR;
		}
		return TABLE_ADDED;
	}
	r = cdb_make_put(&b->cm, k, (unsigned)klen, v, (unsigned)vlen, mode);
	if (r < 0) {
		write_error(b, st);
		return TABLE_ERROR;
	}
	return r > 0 && mode == CDB_PUT_INSERT ? TABLE_DUPLICATE : TABLE_ADDED;
}

static enum cdb_put_mode
put_mode(unsigned flags)
{
	/* Postfix's dict_cdb: -w stores both (lookups see the first), -r
	 * removes the old record, the default keeps the old one. */
	if (flags & TABLE_DUP_REPLACE)
		return CDB_PUT_REPLACE;
	if (flags & TABLE_DUP_IGNORE)
		return CDB_PUT_ADD;
	return CDB_PUT_INSERT;
}

int
table_build_add(struct table_builder *b, const char *key, const char *value,
    struct status *st)
{
	if (b->flags & TABLE_NOFOLD)
		buf_set(&b->key, key);
	else
		table_fold(&b->key, key);
	size_t klen = b->key.len, vlen = strlen(value);
	if (b->nul) {
		buf_set(&b->value, value);
		klen++;		/* the buffers keep a NUL after the data */
		vlen++;
		value = b->value.data;
	}
	return add_raw(b, b->key.data, klen, value, vlen, put_mode(b->flags), st);
}

/* Is the record key k[0..klen) one of the keys to delete (as written,
 * or with the NUL a -N file adds)? */
static bool
is_deleted(const char *k, size_t klen, char *const *del, size_t ndel)
{
	if (klen > 0 && k[klen - 1] == '\0')
		klen--;
	for (size_t i = 0; i < ndel; i++)
		if (strlen(del[i]) == klen && memcmp(del[i], k, klen) == 0)
			return true;
	return false;
}

int
table_build_copy(struct table_builder *b, const char *const *del, size_t ndel,
    size_t *ndeleted, struct status *st)
{
	struct cdb cdb;
	struct stat sb;
	bool have_cdb = false, first = true;
	char **fdel = xcalloc(ndel + 1, sizeof *fdel);
	unsigned pos;
	int fd = -1, ret = TABLE_ERROR;

	*ndeleted = 0;
	for (size_t i = 0; i < ndel; i++) {
		if (b->flags & TABLE_NOFOLD) {
			fdel[i] = xstrdup(del[i]);
		} else {
			table_fold(&b->key, del[i]);
			fdel[i] = xstrdup(b->key.data);
		}
	}
	if ((fd = open(b->path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT) {
			ret = TABLE_ADDED;
			goto out;
		}
		status_set(st, STATUS_TEMP, "4.3.0", 0, "open database %s: %s", b->path,
		    strerror(errno));
		goto out;
	}
	if (cdb_init(&cdb, fd) != 0) {
		status_set(st, STATUS_TEMP, "4.3.0", 0, "open database %s: %s", b->path,
		    errno ? strerror(errno) : "not a cdb file");
		goto out;
	}
	have_cdb = true;
	/* A rebuild is still the same table: same permissions, and (when
	 * we may) the same owner. */
	if (fstat(fd, &sb) == 0) {
		(void)fchmod(b->fd, sb.st_mode & 07777);
		if (geteuid() == 0)
			(void)fchown(b->fd, sb.st_uid, sb.st_gid);
	}
	cdb_seqinit(&pos, &cdb);
	for (;;) {
		errno = 0;
		int r = cdb_seqnext(&pos, &cdb);
		if (r < 0) {
			status_set(st, STATUS_TEMP, "4.3.0", 0, "error reading %s: %s",
			    b->path, errno ? strerror(errno) : "corrupt file");
			goto out;
		}
		if (r == 0)
			break;
		const char *k = cdb_getkey(&cdb), *v = cdb_getdata(&cdb);
		unsigned klen = cdb_keylen(&cdb), vlen = cdb_datalen(&cdb);
		if (k == NULL || v == NULL) {
			status_set(st, STATUS_TEMP, "4.3.0", 0, "error reading %s: "
			    "corrupt file", b->path);
			goto out;
		}
		/* Entries added later follow the file's convention. */
		if (first && !(b->flags & (TABLE_NUL | TABLE_NONUL)))
			b->nul = klen > 0 && k[klen - 1] == '\0';
		first = false;
		if (is_deleted(k, klen, fdel, ndel)) {
			(*ndeleted)++;
			continue;
		}
		/* As stored: a -w file keeps its duplicate records. */
		if (add_raw(b, k, klen, v, vlen, CDB_PUT_ADD, st) < 0)
			goto out;
	}
	ret = TABLE_ADDED;
out:
	if (have_cdb)
		cdb_free(&cdb);
	if (fd >= 0)
		close(fd);
	for (size_t i = 0; i < ndel; i++)
		free(fdel[i]);
	free(fdel);
	return ret;
}

const char *
table_build_path(const struct table_builder *b)
{
	return b->path;
}

const char *
table_build_tmp_path(const struct table_builder *b)
{
	return b->tmp;
}

/* Makes the rename durable: a crash after commit must not bring back
 * the old table. */
static void
sync_dir(const char *path)
{
	char *copy = xstrdup(path);
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	free(copy);
}

bool
table_build_commit(struct table_builder *b, struct status *st)
{
	errno = 0;
	b->started = false;	/* cdb_make_finish frees its state either way */
	if (cdb_make_finish(&b->cm) < 0)
		return write_error(b, st);
	if (fsync(b->fd) < 0)
		return write_error(b, st);
	if (rename(b->tmp, b->path) < 0) {
		status_set(st, STATUS_TEMP, "4.3.0", 0,
		    "rename database from %s to %s: %s", b->tmp, b->path, strerror(errno));
		return false;
	}
	b->committed = true;
	sync_dir(b->path);
	/* Closing releases the lock, after the rename as in Postfix. */
	if (close(b->fd) < 0) {
		b->fd = -1;
		status_set(st, STATUS_TEMP, "4.3.0", 0, "close database %s: %s",
		    b->path, strerror(errno));
		return false;
	}
	b->fd = -1;
	return true;
}

struct table_builder *
table_build_free(struct table_builder *b)
{
	if (b == NULL)
		return NULL;
	if (b->started) {
		/* tinycdb frees its record lists only in cdb_make_finish; let
		 * it write the tables it would write into the void. */
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (null >= 0) {
			b->cm.cdb_fd = null;
			(void)cdb_make_finish(&b->cm);
			close(null);
		}
	}
	if (b->fd >= 0) {
		/* Still locked, so still ours: a failed build leaves no file. */
		if (!b->committed)
			(void)unlink(b->tmp);
		close(b->fd);
	}
	free(b->seen.slot);
	buf_clear(&b->key);
	buf_clear(&b->value);
	free(b->path);
	free(b->tmp);
	free(b);
	return NULL;
}
