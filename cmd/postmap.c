/* postmap - build and query lookup tables, as Postfix's postmap(1).
 *
 * Modes (one per run): build each [type:]file from its source (default),
 * -i add "key value" lines from stdin to an existing table, -q KEY / -q -
 * look keys up, -s list every entry, -d KEY / -d - delete entries.  All
 * table knowledge lives in lib/table*; this file parses options, streams
 * sources into builders and chooses exit codes (postmap_exit()).
 *
 * Exit status as Postfix: 0 success (for -q and -d: found), 1 not found
 * or any fatal error.  satmail additions: 64 for usage errors, 78 for an
 * unusable configuration file (SPEC.md section 2). */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "log.h"
#include "priv.h"
#include "status.h"
#include "table.h"
#include "table_source.h"
#include "xalloc.h"

#define USAGE_LINE "usage: postmap [-NfinoprsuUvw] [-c config_dir] [-C config_file] " \
	"[-d key|-] [-q key|-] [type:]file..."

enum outcome { OUT_OK, OUT_NOTFOUND, OUT_FATAL, OUT_USAGE, OUT_CONFIG };

struct opts {
	unsigned flags;		/* TABLE_* for opening and building */
	const char *query;	/* -q */
	const char *delkey;	/* -d */
	bool sequence;		/* -s */
	bool incremental;	/* -i */
	bool keep_owner;	/* -o: stay root */
	bool plain_perm;	/* -p: 0644, not the source's read bits */
	bool message_keys;	/* -b, -h with -q -, -m: not supported */
	const char *config;	/* -C, or -c DIR/main.cf */
};

static struct conf *conf;

/* The one map from outcome to exit status. */
static int
postmap_exit(enum outcome o)
{
	switch (o) {
	case OUT_OK:
		return 0;
	case OUT_USAGE:
		return EXIT_USAGE;
	case OUT_CONFIG:
		return EXIT_CONFIG;
	case OUT_NOTFOUND:
	case OUT_FATAL:
	default:
		return 1;
	}
}

static _Noreturn void fatal(enum outcome o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static _Noreturn void
fatal(enum outcome o, const char *fmt, ...)
{
	struct buf msg = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	log_fatal("%s", msg.data);
	exit(postmap_exit(o));
}

static void
usage_text(FILE *f)
{
	fprintf(f, "%s\n"
	    "Build a table:   postmap [-fNnoprw] [type:]file...   (file -> file.cdb)\n"
	    "Add from stdin:  postmap -i [-fNnrw] [type:]file\n"
	    "Query:           postmap [-f] -q key [type:]file...   (value, exit 0 if found)\n"
	    "                 postmap [-f] -q - [type:]file...     (keys on stdin; key<TAB>value)\n"
	    "List:            postmap -s [type:]file...\n"
	    "Delete:          postmap [-f] -d key|- [type:]file...\n"
	    "  -f  keep the case of keys     -N/-n  with/without a NUL after keys and values\n"
	    "  -r  duplicates: last wins     -w     duplicates: keep the first, no warning\n"
	    "  -o  root keeps root           -p     new files get mode 0644\n"
	    "  -C FILE / -c DIR  configuration (also SATMAIL_CONFIG)   -v  verbose\n"
	    "Types: cdb (hash, btree and no type mean default_database_type), texthash,\n"
	    "regexp, pcre, inline:{k=v,...}, static:value.  See postmap(1).\n"
	    "Exit status: 0 ok or found, 1 not found or error, 64 usage, 78 bad config.\n",
	    USAGE_LINE);
}

static _Noreturn void
usage(void)
{
	fatal(OUT_USAGE, "%s", USAGE_LINE);
}

/* The temporary file of the build in progress, removed when a signal
 * ends postmap, so that an interrupted build leaves the old table and no
 * debris.  Set only while the signals below are caught. */
static const char *volatile abort_unlink;

static void
on_signal(int sig)
{
	/* unlink(), signal() and raise() are async-signal-safe. */
	if (abort_unlink != NULL)
		(void)unlink(abort_unlink);
	signal(sig, SIG_DFL);
	raise(sig);
}

static const int term_signals[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM };

/* From table_build_start() to the commit, a termination signal removes
 * the temporary file (the handler); during the commit it waits, so that
 * the rename is not cut short. */
static void
guard_build(const struct table_builder *b)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	abort_unlink = table_build_tmp_path(b);
	for (size_t i = 0; i < sizeof term_signals / sizeof term_signals[0]; i++)
		sigaction(term_signals[i], &sa, NULL);
}

static void
hold_signals(bool hold)
{
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof term_signals / sizeof term_signals[0]; i++)
		sigaddset(&set, term_signals[i]);
	sigprocmask(hold ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

/* Commits b with signals held; false with st set. */
static bool
commit_build(struct table_builder *b, struct status *st)
{
	hold_signals(true);
	abort_unlink = NULL;
	bool ok = table_build_commit(b, st);
	hold_signals(false);	/* a held signal ends postmap now */
	return ok;
}

/* Ends a build that failed: the builder removes its file. */
static struct table_builder *
drop_build(struct table_builder *b)
{
	hold_signals(true);
	abort_unlink = NULL;
	b = table_build_free(b);
	hold_signals(false);
	return b;
}

/* As Postfix: root builds a table as the owner of its source file, so
 * the result has the right owner and a bug here cannot escalate. */
static void
become(uid_t uid, gid_t gid)
{
	if (seteuid(0) < 0 || setgroups(1, &gid) < 0 || setegid(gid) < 0 ||
	    seteuid(uid) < 0)
		fatal(OUT_FATAL, "set_eugid(%ld, %ld): %s", (long)uid, (long)gid,
		    strerror(errno));
}

static void
become_root(void)
{
	gid_t g = 0;
	if (geteuid() != 0 && (seteuid(0) < 0 || setegid(0) < 0 ||
	    setgroups(1, &g) < 0))
		fatal(OUT_FATAL, "cannot return to root privileges: %s", strerror(errno));
}

/* Builds (or with -i extends) one table from its source. */
static void
build(const struct opts *o, const char *spec)
{
	struct status st;
	struct buf type = BUF_INIT, name = BUF_INIT, path = BUF_INIT, line = BUF_INIT;
	struct buf folded = BUF_INIT;
	struct table_source *src = NULL;
	struct table_builder *b = NULL;
	struct stat sb;
	char *key, *value;
	int lineno, r = 0;
	size_t dummy;
	bool ok = false;

	status_init(&st);
	if (!table_spec(spec, conf, &type, &name, &st))
		fatal(OUT_FATAL, "%s", buf_cstr(&st.text));
	if (!table_file(spec, conf, &path, &st))
		fatal(OUT_FATAL, "%s", buf_cstr(&st.text));
	if (o->incremental)
		src = table_source_fd(0, "stdin");
	else if ((src = table_source_open(name.data, &st)) == NULL)
		fatal(OUT_FATAL, "%s", buf_cstr(&st.text));
	if (fstat(table_source_fileno(src), &sb) < 0)
		fatal(OUT_FATAL, "fstat %s: %s", table_source_name(src), strerror(errno));

	/* Postfix: the table gets its source's group and other read bits. */
	mode_t mode = 0644;
	if (!o->plain_perm && S_ISREG(sb.st_mode))
		mode = 0600 | (sb.st_mode & 0044);
	if (!o->keep_owner && getuid() == 0 && S_ISREG(sb.st_mode) &&
	    (sb.st_uid != geteuid() || sb.st_gid != getegid()))
		become(sb.st_uid, sb.st_gid);

	if ((b = table_build_start(spec, conf, o->flags, mode, &st)) == NULL)
		fatal(OUT_FATAL, "%s", buf_cstr(&st.text));
	guard_build(b);
	/* cdb cannot change in place: -i rebuilds from the old entries. */
	if (o->incremental && table_build_copy(b, NULL, 0, &dummy, &st) < 0)
		goto out;
	while ((r = table_source_entry(src, &line, &key, &value, &lineno, &st)) > 0) {
		r = table_build_add(b, key, value, &st);
		if (r < 0)
			break;
		if (r == TABLE_DUPLICATE) {
			if (o->flags & TABLE_NOFOLD)
				buf_set(&folded, key);
			else
				table_fold(&folded, key);
			log_warning("%s, line %d: duplicate entry: \"%s\"",
			    table_source_name(src), lineno, folded.data);
		}
	}
	if (r < 0 || !commit_build(b, &st))
		goto out;
	log_debug("built %s", table_build_path(b));
	ok = true;
out:
	b = drop_build(b);
	if (!ok)
		fatal(OUT_FATAL, "%s", buf_cstr(&st.text));
	table_source_free(src);
	buf_clear(&type);
	buf_clear(&name);
	buf_clear(&path);
	buf_clear(&line);
	buf_clear(&folded);
	status_clear(&st);
	if (getuid() == 0)
		become_root();
}

static struct table *
open_map(const struct opts *o, const char *spec)
{
	struct status st;
	status_init(&st);
	struct table *t = table_open_flags(spec, conf, o->flags, &st);
	if (t == NULL)
		fatal(OUT_FATAL, "%s", buf_cstr(&st.text));
	status_clear(&st);
	return t;
}

/* Postfix's warning: an empty result is a table bug. */
static void
check_empty(const struct table *t, const char *key, const struct buf *value)
{
	if (value->len > 0)
		return;
	log_warning("table %s:%s: key %s: empty string result is not allowed",
	    table_type(t), table_name(t), key);
	log_warning("table %s:%s should return NO RESULT in case of NOT FOUND",
	    table_type(t), table_name(t));
}

static int
lookup_or_die(struct table *t, const char *key, struct buf *value)
{
	struct status st;
	status_init(&st);
	int r = table_lookup(t, key, value, &st);
	if (r == TABLE_ERROR)
		fatal(OUT_FATAL, "%s", buf_cstr(&st.text));
	status_clear(&st);
	return r;
}

static void
flush_or_die(void)
{
	if (fflush(stdout) != 0 || ferror(stdout))
		fatal(OUT_FATAL, "write error on standard output: %s", strerror(errno));
}

/* -q KEY: the first map that has the key answers. */
static enum outcome
query_one(const struct opts *o, char **maps, int nmaps)
{
	struct buf value = BUF_INIT;
	for (int i = 0; i < nmaps; i++) {
		struct table *t = open_map(o, maps[i]);
		if (lookup_or_die(t, o->query, &value) == TABLE_FOUND) {
			check_empty(t, o->query, &value);
			fwrite(value.data, 1, value.len, stdout);
			putchar('\n');
			flush_or_die();
			table_free(t);
			buf_clear(&value);
			return OUT_OK;
		}
		table_free(t);
	}
	buf_clear(&value);
	return OUT_NOTFOUND;
}

/* -q -: one "key<TAB>value" line per key found.  Maps are opened only
 * when a key gets that far, as Postfix does.  Keys are read QUERY_BATCH
 * at a time so that the first map can prefetch their records: the
 * lookups of a batch then wait for memory together, not one by one. */
#define QUERY_BATCH	16

static enum outcome
query_batch(const struct opts *o, char **maps, int nmaps)
{
	struct table **t = xcalloc((size_t)nmaps, sizeof *t);
	struct buf value = BUF_INIT;
	static char obuf[1 << 16];
	char *keys[QUERY_BATCH] = { NULL };
	size_t caps[QUERY_BATCH] = { 0 };
	bool found = false, eof = false;

	setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
	while (!eof) {
		int n = 0;
		while (n < QUERY_BATCH) {
			ssize_t len = getline(&keys[n], &caps[n], stdin);
			if (len <= 0) {
				eof = true;
				break;
			}
			if (keys[n][len - 1] == '\n')
				keys[n][len - 1] = '\0';
			n++;
		}
		if (n == 0)
			break;
		if (t[0] == NULL)
			t[0] = open_map(o, maps[0]);
		for (int pass = 0; pass < 2; pass++)
			for (int k = 0; k < n; k++)
				table_prefetch(t[0], keys[k], pass);
		for (int k = 0; k < n; k++) {
			for (int i = 0; i < nmaps; i++) {
				if (t[i] == NULL)
					t[i] = open_map(o, maps[i]);
				if (lookup_or_die(t[i], keys[k], &value) == TABLE_FOUND) {
					check_empty(t[i], keys[k], &value);
					fputs(keys[k], stdout);
					putchar('\t');
					fwrite(value.data, 1, value.len, stdout);
					putchar('\n');
					found = true;
					break;
				}
			}
		}
	}
	if (ferror(stdin))
		fatal(OUT_FATAL, "read standard input: %s", strerror(errno));
	flush_or_die();
	for (int i = 0; i < nmaps; i++)
		table_free(t[i]);
	for (int k = 0; k < QUERY_BATCH; k++)
		free(keys[k]);
	free(t);
	buf_clear(&value);
	return found ? OUT_OK : OUT_NOTFOUND;
}

/* -s: every entry of every map (Postfix stops after the first map). */
static enum outcome
sequence(const struct opts *o, char **maps, int nmaps)
{
	struct buf key = BUF_INIT, value = BUF_INIT;
	struct status st;
	status_init(&st);
	for (int i = 0; i < nmaps; i++) {
		struct table *t = open_map(o, maps[i]);
		int r;
		for (bool first = true; (r = table_next(t, first, &key, &value, &st)) ==
		    TABLE_FOUND; first = false) {
			if (key.len == 0)
				log_warning("table %s:%s: empty lookup key value is not allowed",
				    table_type(t), table_name(t));
			else
				check_empty(t, key.data, &value);
			fwrite(key.data, 1, key.len, stdout);
			putchar('\t');
			fwrite(value.data, 1, value.len, stdout);
			putchar('\n');
		}
		if (r == TABLE_ERROR)
			fatal(OUT_FATAL, "%s", buf_cstr(&st.text));
		table_free(t);
	}
	flush_or_die();
	buf_clear(&key);
	buf_clear(&value);
	status_clear(&st);
	return OUT_OK;
}

/* -d: rebuild each table without the keys; untouched when none is there. */
static enum outcome
delete(const struct opts *o, char **maps, int nmaps)
{
	char **keys = NULL;
	size_t nkeys = 0;
	bool found = false;
	struct status st;
	struct buf path = BUF_INIT;

	status_init(&st);
	if (strcmp(o->delkey, "-") == 0) {
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;
		while ((n = getline(&line, &cap, stdin)) > 0) {
			if (line[n - 1] == '\n')
				line[--n] = '\0';
			keys = xreallocarray(keys, nkeys + 1, sizeof *keys);
			keys[nkeys++] = xstrdup(line);
		}
		free(line);
	} else {
		keys = xcalloc(1, sizeof *keys);
		keys[nkeys++] = xstrdup(o->delkey);
	}
	for (int i = 0; i < nmaps; i++) {
		struct stat sb;
		size_t ndel = 0;
		if (!table_file(maps[i], conf, &path, &st)) {
			struct buf type = BUF_INIT, name = BUF_INIT;
			if (table_spec(maps[i], conf, &type, &name, &st))
				fatal(OUT_FATAL, "table %s:%s: delete operation is not supported",
				    type.data, name.data);
			fatal(OUT_FATAL, "%s", buf_cstr(&st.text));
		}
		if (stat(path.data, &sb) < 0)
			fatal(OUT_FATAL, "open database %s: %s", path.data, strerror(errno));
		struct table_builder *b = table_build_start(maps[i], conf, o->flags,
		    sb.st_mode & 07777, &st);
		if (b == NULL)
			fatal(OUT_FATAL, "%s", buf_cstr(&st.text));
		guard_build(b);
		bool ok = table_build_copy(b, (const char *const *)keys, nkeys, &ndel,
		    &st) >= 0 && (ndel == 0 || commit_build(b, &st));
		b = drop_build(b);
		if (!ok)
			fatal(OUT_FATAL, "table %s: delete error: %s", maps[i],
			    buf_cstr(&st.text));
		found |= ndel > 0;
	}
	for (size_t i = 0; i < nkeys; i++)
		free(keys[i]);
	free(keys);
	buf_clear(&path);
	status_clear(&st);
	return found ? OUT_OK : OUT_NOTFOUND;
}

static void
parse_options(int argc, char **argv, struct opts *o)
{
	static struct buf cdir = BUF_INIT;
	bool header_mode = false;
	int ch;

	for (int i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--help") == 0) {
			usage_text(stdout);
			exit(0);
		}
	}
	/* "+": no argument permutation, as Postfix's GETOPT on Linux. */
	while ((ch = getopt(argc, argv, "+bc:C:d:fFhimnNopq:rsuUvw")) != -1) {
		switch (ch) {
		case 'b':
		case 'm':
			o->message_keys = true;
			break;
		case 'h':
			header_mode = true;
			break;
		case 'c':
			buf_set(&cdir, optarg);
			buf_puts(&cdir, "/main.cf");
			o->config = cdir.data;
			break;
		case 'C':
			o->config = optarg;
			break;
		case 'd':
			if (o->sequence || o->query || o->delkey)
				fatal(OUT_USAGE, "specify only one of -s -q or -d");
			o->delkey = optarg;
			break;
		case 'f':
			o->flags |= TABLE_NOFOLD;
			break;
		case 'F':
			fatal(OUT_USAGE, "option -F (base64 file values) is not supported");
		case 'i':
			o->incremental = true;
			break;
		case 'n':
			o->flags = (o->flags & ~TABLE_NUL) | TABLE_NONUL;
			break;
		case 'N':
			o->flags = (o->flags & ~TABLE_NONUL) | TABLE_NUL;
			break;
		case 'o':
			o->keep_owner = true;
			break;
		case 'p':
			o->plain_perm = true;
			break;
		case 'q':
			if (o->sequence || o->query || o->delkey)
				fatal(OUT_USAGE, "specify only one of -s -q or -d");
			o->query = optarg;
			break;
		case 'r':
			o->flags = (o->flags & ~TABLE_DUP_IGNORE) | TABLE_DUP_REPLACE;
			break;
		case 's':
			if (o->query || o->delkey)
				fatal(OUT_USAGE, "specify only one of -s or -q or -d");
			o->sequence = true;
			break;
		case 'u':
		case 'U':
			break;	/* UTF-8 checks: keys are bytes here */
		case 'v':
			log_set_verbose(log_verbose() + 1);
			break;
		case 'w':
			o->flags = (o->flags & ~TABLE_DUP_REPLACE) | TABLE_DUP_IGNORE;
			break;
		default:
			usage();
		}
	}
	/* Postfix's -h is header query mode, which needs "-q -"; alone it
	 * asks for help here. */
	if (header_mode && !(o->query && strcmp(o->query, "-") == 0)) {
		usage_text(stdout);
		exit(0);
	}
	if (header_mode || o->message_keys)
		fatal(OUT_USAGE, "message query modes (-b, -h, -m) are not supported");
	if (optind >= argc)
		usage();
}

int
main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct buf why = BUF_INIT;
	bool refused, explicit_path;
	enum outcome out;

	umask(022);
	if (argc > 0) {
		/* getopt's own messages say "postmap:", as Postfix's do. */
		char *slash = strrchr(argv[0], '/');
		if (slash && slash[1])
			argv[0] = slash + 1;
	}
	log_init(argc > 0 ? argv[0] : "postmap");
	if (!priv_sanitize_fds())
		return EXIT_OSERR;
	if (getenv("MAIL_VERBOSE"))
		log_set_verbose(1);
	parse_options(argc, argv, &o);

	const char *cf = priv_config_path(o.config, getenv("SATMAIL_CONFIG"), &refused,
	    &explicit_path);
	if ((conf = conf_load(cf, explicit_path, &why)) == NULL)
		fatal(OUT_CONFIG, "%s", buf_cstr(&why));
	buf_clear(&why);
	if (conf->maillog_file && *conf->maillog_file)
		log_set_file(conf->maillog_file);

	char **maps = argv + optind;
	int nmaps = argc - optind;
	if (o.delkey) {
		out = delete(&o, maps, nmaps);
	} else if (o.query) {
		out = strcmp(o.query, "-") == 0 ? query_batch(&o, maps, nmaps) :
		    query_one(&o, maps, nmaps);
	} else if (o.sequence) {
		out = sequence(&o, maps, nmaps);
	} else {
		if (o.incremental && nmaps != 1)
			fatal(OUT_USAGE, "-i takes exactly one table");
		for (int i = 0; i < nmaps; i++)
			build(&o, maps[i]);
		out = OUT_OK;
	}
	conf = conf_free(conf);
	return postmap_exit(out);
}
