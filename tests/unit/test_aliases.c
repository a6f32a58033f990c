/* test_aliases - the aliases(5) source parser and target splitting
 * (lib/aliases.c), and aliases_build (newaliases) on temporary files.
 *
 * Table-driven: each Test walks an array of cases and names the failing
 * case in its messages.  Source cases are written to a temporary file and
 * read with aliases_read(), so line numbers and the "FILE, line N:" text
 * of errors are those a user sees from newaliases.  Expected values follow
 * Postfix's postalias where satmail means to agree with it (see
 * POSTFIX-NOTES.md section 1.1), and satmail's own rule where it means to
 * differ (a malformed line is an error, not a warning). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aliases.h"
#include "buf.h"
#include "conf.h"
#include "log.h"
#include "status.h"
#include "table.h"

static char tmpdir[64];

static void
setup_tmp(void)
{
	log_init("test_aliases");
	log_set_stderr(false);	/* duplicate-entry warnings are expected */
	strcpy(tmpdir, "/tmp/test_aliases.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void
teardown_tmp(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char p[512];
	for (int guard = 0; d && guard < 10000 && (e = readdir(d)) != NULL; guard++) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(tmpdir);
}

static const char *
tmp_path(const char *name)
{
	static char p[4][512];
	static int i;
	i = (i + 1) % 4;
	snprintf(p[i], sizeof p[i], "%s/%s", tmpdir, name);
	return p[i];
}

/* Writes len bytes (len 0: strlen) so that NUL bytes can be tested. */
static void
write_bytes(const char *path, const char *text, size_t len)
{
	if (len == 0)
		len = strlen(text);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert(fd >= 0, "create %s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
}

/* ---- aliases_read ---- */

/* Collects entries as "name=value@line" joined by '|'. */
static bool
collect(void *ctx, const char *name, const char *value, int line, struct status *st)
{
	(void)st;
	struct buf *out = ctx;
	if (out->len)
		buf_putc(out, '|');
	buf_printf(out, "%s=%s@%d", name, value, line);
	return true;
}

struct read_case {
	const char *what;
	const char *src;
	size_t len;		/* 0: strlen(src) */
	const char *entries;	/* expected collect() output; NULL: an error */
	int err_line;		/* for an error: the line it names */
	const char *err;	/* for an error: the reason after "FILE, line N: " */
};

static const struct read_case read_cases[] = {
	/* Valid sources. */
	{ "one entry", "root: admin\n", 0, "root=admin@1", 0, NULL },
	{ "no final newline", "root: admin", 0, "root=admin@1", 0, NULL },
	{ "empty file", "", 0, "", 0, NULL },
	{ "only comments and blanks", "# c\n\n   \n\t# indented comment\n", 0, "", 0, NULL },
	{ "name folded, value keeps case", "Root: Admin@Example.ORG\n", 0,
	    "root=Admin@Example.ORG@1", 0, NULL },
	{ "white space around the colon", "root :admin\nx\t:\t y \n", 0,
	    "root=admin@1|x=y@2", 0, NULL },
	{ "several targets normalised", "list: a,b , c\n", 0, "list=a, b, c@1", 0, NULL },
	{ "trailing comma tolerated", "list: a, b,\n", 0, "list=a, b@1", 0, NULL },
	{ "continuation line", "list: a,\n  b,\n\tc\nnext: x\n", 0,
	    "list=a, b, c@1|next=x@4", 0, NULL },
	{ "comment inside a continued entry", "list: a,\n# not the end\n  b\n", 0,
	    "list=a, b@1", 0, NULL },
	{ "blank line inside a continued entry", "list: a,\n\n  b\n", 0,
	    "list=a, b@1", 0, NULL },
	{ "line numbers after comments", "# one\n\n# three\nroot: admin\n", 0,
	    "root=admin@4", 0, NULL },
	{ "'#' inside a line is data", "x: a#b\n", 0, "x=a#b@1", 0, NULL },
	{ "leading continuation dropped (warning)", "  stray: text\nroot: admin\n", 0,
	    "root=admin@2", 0, NULL },
	{ "quoted name", "\"weird name\": x\n", 0, "weird name=x@1", 0, NULL },
	{ "quoted name with colon and @", "\"a:b@c\": x\n", 0, NULL, 1,
	    "name must be local and have no domain" },
	{ "quoted name with colon", "\"a:b\": x\n", 0, "a:b=x@1", 0, NULL },
	{ "escaped quote in a quoted name", "\"Q\\\"x\": y\n", 0, "q\"x=y@1", 0, NULL },
	{ "quoted command target", "prog: \"|/usr/bin/prog arg\"\n", 0,
	    "prog=\"|/usr/bin/prog arg\"@1", 0, NULL },
	{ "unquoted command target", "prog: |/bin/true\n", 0, "prog=|/bin/true@1", 0, NULL },
	{ "file target", "arch: /var/log/mail.archive\n", 0,
	    "arch=/var/log/mail.archive@1", 0, NULL },
	{ ":include: target", "staff: :include:/etc/mail/staff\n", 0,
	    "staff=:include:/etc/mail/staff@1", 0, NULL },
	{ "remote target", "bob: bob@remote.example\n", 0, "bob=bob@remote.example@1", 0, NULL },
	{ "every target form", "all: a, \"|/bin/cmd x\", /tmp/f, :include:/etc/l, u@r.example\n",
	    0, "all=a, \"|/bin/cmd x\", /tmp/f, :include:/etc/l, u@r.example@1", 0, NULL },
	{ "duplicates are passed on (the builder warns)", "dup: a\ndup: b\n", 0,
	    "dup=a@1|dup=b@2", 0, NULL },
	{ "CRLF line endings (Postfix accepts them)", "root: admin\r\nlist: a, b\r\n", 0,
	    "root=admin@1|list=a, b@2", 0, NULL },

	/* Malformed lines: errors naming the line. */
	{ "no colon", "root: admin\nnovalue\n", 0, NULL, 2, "need name: value pair" },
	{ "comma before the colon", "a, b: c\n", 0, NULL, 1,
	    "need name: value pair (comma before the colon)" },
	{ "empty value", "x:\n", 0, NULL, 1, "need name: value pair (empty value)" },
	{ "blank value", "x:   \t\n", 0, NULL, 1, "need name: value pair (empty value)" },
	{ "empty name", ": x\n", 0, NULL, 1, "empty alias name" },
	{ "empty quoted name", "\"\": x\n", 0, NULL, 1, "empty alias name" },
	{ "name with @", "ok: y\nx@y: z\n", 0, NULL, 2, "name must be local and have no domain" },
	{ "name with %", "x%y: z\n", 0, NULL, 1, "name must be local and have no domain" },
	{ "unbalanced quote in name", "\"unbal: x\n", 0, NULL, 1, "unbalanced '\"' in alias name" },
	{ "unbalanced quote in value", "x: \"unbal\n", 0, NULL, 1, "unbalanced '\"' in alias value" },
	{ "empty element", "x: a,,b\n", 0, NULL, 1, "empty element in alias value" },
	{ "relative :include:", "x: :include:list\n", 0, NULL, 1,
	    ":include: needs an absolute path: :include:list" },
	{ "empty command", "x: |\n", 0, NULL, 1, "empty alias target" },
	{ "control character in a target", "x: a\001b\n", 0, NULL, 1,
	    "control character in alias target" },
	{ "error line of a continued entry is its first line",
	    "ok: a\n\nbad: a,\n  ,b\n", 0, NULL, 3, "empty element in alias value" },
	{ "NUL byte", "ok: a\nx: a\0b\n", 12, NULL, 2, "NUL byte in input" },
};

Test(aliases, read_table, .init = setup_tmp, .fini = teardown_tmp)
{
	for (size_t i = 0; i < sizeof read_cases / sizeof read_cases[0]; i++) {
		const struct read_case *k = &read_cases[i];
		const char *path = tmp_path("src");
		struct buf got = BUF_INIT, want = BUF_INIT;
		struct status st;
		status_init(&st);
		write_bytes(path, k->src, k->len);
		bool ok = aliases_read(path, collect, &got, &st);
		if (k->entries) {
			cr_expect(ok, "%s: aliases_read failed: %s", k->what, buf_cstr(&st.text));
			if (ok)
				cr_expect_str_eq(buf_cstr(&got), k->entries, "%s: got \"%s\", want \"%s\"",
				    k->what, buf_cstr(&got), k->entries);
		} else {
			cr_expect(!ok, "%s: accepted, entries \"%s\"", k->what, buf_cstr(&got));
			buf_printf(&want, "%s, line %d: %s", path, k->err_line, k->err);
			if (!ok)
				cr_expect_str_eq(buf_cstr(&st.text), want.data, "%s: error \"%s\", want \"%s\"",
				    k->what, buf_cstr(&st.text), want.data);
			if (!ok && strstr(k->err, "NUL") == NULL)
				cr_expect_eq(st.cls, STATUS_PERM, "%s: class %d", k->what, st.cls);
		}
		buf_clear(&got);
		buf_clear(&want);
		status_clear(&st);
	}
}

Test(aliases, read_missing_file, .init = setup_tmp, .fini = teardown_tmp)
{
	struct buf got = BUF_INIT;
	struct status st;
	status_init(&st);
	cr_expect(!aliases_read(tmp_path("nonexistent"), collect, &got, &st));
	cr_expect_eq(st.cls, STATUS_TEMP);
	cr_expect(strstr(buf_cstr(&st.text), "nonexistent") != NULL, "%s", buf_cstr(&st.text));
	buf_clear(&got);
	status_clear(&st);
}

static bool
stop_at_second(void *ctx, const char *name, const char *value, int line, struct status *st)
{
	(void)value;
	int *n = ctx;
	if (++*n == 2) {
		status_set(st, STATUS_PERM, "5.3.0", 65, "stop at %s line %d", name, line);
		return false;
	}
	return true;
}

Test(aliases, read_callback_stops, .init = setup_tmp, .fini = teardown_tmp)
{
	struct status st;
	int n = 0;
	status_init(&st);
	write_bytes(tmp_path("src"), "a: x\nb: y\nc: z\n", 0);
	cr_expect(!aliases_read(tmp_path("src"), stop_at_second, &n, &st));
	cr_expect_eq(n, 2);
	cr_expect_str_eq(buf_cstr(&st.text), "stop at b line 2");
	status_clear(&st);
}

/* B-16: a 1 MiB line is read; the target count is bounded. */
Test(aliases, read_big_lines, .init = setup_tmp, .fini = teardown_tmp)
{
	struct buf src = BUF_INIT, got = BUF_INIT, want = BUF_INIT;
	struct status st;
	status_init(&st);
	buf_puts(&src, "big: ");
	for (size_t i = 0; i < 1024 * 1024; i++)
		buf_putc(&src, 'a');
	buf_puts(&src, "\n");
	write_bytes(tmp_path("src"), src.data, src.len);
	cr_expect(aliases_read(tmp_path("src"), collect, &got, &st), "1 MiB line: %s",
	    buf_cstr(&st.text));
	cr_expect_eq(got.len, strlen("big=") + 1024 * 1024 + strlen("@1"));

	buf_reset(&src);
	buf_reset(&got);
	buf_puts(&src, "many: ");
	for (size_t i = 0; i <= ALIASES_MAX_TARGETS; i++)
		buf_puts(&src, i ? ",a" : "a");
	buf_puts(&src, "\n");
	write_bytes(tmp_path("src"), src.data, src.len);
	cr_expect(!aliases_read(tmp_path("src"), collect, &got, &st));
	buf_printf(&want, "%s, line 1: more than %d targets in one alias", tmp_path("src"),
	    ALIASES_MAX_TARGETS);
	cr_expect_str_eq(buf_cstr(&st.text), want.data);
	buf_clear(&src);
	buf_clear(&got);
	buf_clear(&want);
	status_clear(&st);
}

/* ---- aliases_split ---- */

struct split_case {
	const char *value;
	const char *targets;	/* "K:text" joined by '|' (A address, F file,
				 * C command, I include); NULL: an error */
	const char *err;
};

static const struct split_case split_cases[] = {
	{ "admin", "A:admin", NULL },
	{ "a, b,c", "A:a|A:b|A:c", NULL },
	{ "  a  ,\tb\t", "A:a|A:b", NULL },
	{ "a, b,", "A:a|A:b", NULL },
	{ "bob@remote.example", "A:bob@remote.example", NULL },
	{ "Bob Smith <bob@remote.example>", "A:Bob Smith <bob@remote.example>", NULL },
	{ "\"john doe\"@remote.example", "A:\"john doe\"@remote.example", NULL },
	{ "\"|/usr/bin/prog arg\"", "C:/usr/bin/prog arg", NULL },
	{ "|/bin/true", "C:/bin/true", NULL },
	{ "\"|/bin/echo \\\"hi\\\"\"", "C:/bin/echo \"hi\"", NULL },
	{ "\"|cmd a, b\", x", "C:cmd a, b|A:x", NULL },
	{ "/var/log/mail.archive", "F:/var/log/mail.archive", NULL },
	{ "\"/path with space\"", "F:/path with space", NULL },
	{ "/var/spool/maildir/", "F:/var/spool/maildir/", NULL },
	{ ":include:/etc/mail/list", "I:/etc/mail/list", NULL },
	{ ":INCLUDE:/etc/x", "I:/etc/x", NULL },
	{ ":include: /etc/x", "I:/etc/x", NULL },
	{ "a, \"|/bin/cmd x\", /tmp/f, :include:/etc/l, u@r.example",
	    "A:a|C:/bin/cmd x|F:/tmp/f|I:/etc/l|A:u@r.example", NULL },
	{ "", NULL, "empty alias value" },
	{ "   ", NULL, "empty alias value" },
	{ "a,,b", NULL, "empty element in alias value" },
	{ ",a", NULL, "empty element in alias value" },
	{ "\"a", NULL, "unbalanced '\"' in alias value" },
	{ ":include:rel", NULL, ":include: needs an absolute path: :include:rel" },
	{ ":include:", NULL, ":include: needs an absolute path: :include:" },
	{ "|", NULL, "empty alias target" },
	{ "\"|\"", NULL, "empty alias target" },
	{ "a\001b", NULL, "control character in alias target" },
	{ "\"|cmd\nrm -rf /\"", NULL, "control character in alias target" },
	{ "a\177", NULL, "control character in alias target" },
};

static void
format_targets(const struct alias_targets *t, struct buf *out)
{
	static const char kinds[] = { [ALIAS_ADDRESS] = 'A', [ALIAS_FILE] = 'F',
		[ALIAS_COMMAND] = 'C', [ALIAS_INCLUDE] = 'I' };
	for (size_t i = 0; i < t->n; i++)
		buf_printf(out, "%s%c:%s", i ? "|" : "", kinds[t->v[i].kind], t->v[i].text);
}

Test(aliases, split_table)
{
	for (size_t i = 0; i < sizeof split_cases / sizeof split_cases[0]; i++) {
		const struct split_case *k = &split_cases[i];
		struct alias_targets t;
		struct buf why = BUF_INIT, got = BUF_INIT;
		alias_targets_init(&t);
		bool ok = aliases_split(k->value, &t, &why);
		if (k->targets) {
			cr_expect(ok, "split \"%s\": %s", k->value, buf_cstr(&why));
			format_targets(&t, &got);
			cr_expect_str_eq(buf_cstr(&got), k->targets, "split \"%s\": got \"%s\", want \"%s\"",
			    k->value, buf_cstr(&got), k->targets);
		} else {
			format_targets(&t, &got);
			cr_expect(!ok, "split \"%s\" accepted: \"%s\"", k->value, buf_cstr(&got));
			cr_expect_str_eq(buf_cstr(&why), k->err, "split \"%s\": error \"%s\", want \"%s\"",
			    k->value, buf_cstr(&why), k->err);
		}
		alias_targets_clear(&t);
		cr_expect_eq(t.n, 0);
		buf_clear(&why);
		buf_clear(&got);
	}
}

/* aliases_split appends: two calls give both lists. */
Test(aliases, split_appends)
{
	struct alias_targets t;
	struct buf why = BUF_INIT, got = BUF_INIT;
	alias_targets_init(&t);
	cr_assert(aliases_split("a, b", &t, &why));
	cr_assert(aliases_split("/f", &t, &why));
	format_targets(&t, &got);
	cr_expect_str_eq(buf_cstr(&got), "A:a|A:b|F:/f");
	alias_targets_clear(&t);
	buf_clear(&why);
	buf_clear(&got);
}

/* ---- aliases_normalise ---- */

struct norm_case {
	const char *value;
	const char *out;	/* NULL: an error */
	const char *err;
};

static const struct norm_case norm_cases[] = {
	{ "admin", "admin", NULL },
	{ "a,b , c", "a, b, c", NULL },
	{ "  x  ", "x", NULL },
	{ "a,\tb", "a, b", NULL },
	{ "a, b,", "a, b", NULL },
	{ "\"|cmd arg\" ,  /f", "\"|cmd arg\", /f", NULL },
	{ "\"|cmd a, b\",x", "\"|cmd a, b\", x", NULL },
	{ "Bob <bob@x.example>", "Bob <bob@x.example>", NULL },
	{ ":include:/etc/l", ":include:/etc/l", NULL },
	{ "a b c", "a b c", NULL },
	{ "", NULL, "empty alias value" },
	{ "a,,b", NULL, "empty element in alias value" },
	{ "\"a", NULL, "unbalanced '\"' in alias value" },
	{ ":include:x", NULL, ":include: needs an absolute path: :include:x" },
	{ "a\001", NULL, "control character in alias target" },
};

Test(aliases, normalise_table)
{
	for (size_t i = 0; i < sizeof norm_cases / sizeof norm_cases[0]; i++) {
		const struct norm_case *k = &norm_cases[i];
		struct buf out = BUF_INIT, why = BUF_INIT;
		bool ok = aliases_normalise(k->value, &out, &why);
		if (k->out) {
			cr_expect(ok, "normalise \"%s\": %s", k->value, buf_cstr(&why));
			cr_expect_str_eq(buf_cstr(&out), k->out, "normalise \"%s\": got \"%s\"", k->value,
			    buf_cstr(&out));
		} else {
			cr_expect(!ok, "normalise \"%s\" accepted: \"%s\"", k->value, buf_cstr(&out));
			cr_expect_str_eq(buf_cstr(&why), k->err, "normalise \"%s\": error \"%s\"", k->value,
			    buf_cstr(&why));
		}
		buf_clear(&out);
		buf_clear(&why);
	}
}

/* Normalising is idempotent: what newaliases stores reads back the same. */
Test(aliases, normalise_idempotent)
{
	for (size_t i = 0; i < sizeof norm_cases / sizeof norm_cases[0]; i++) {
		const struct norm_case *k = &norm_cases[i];
		if (k->out == NULL)
			continue;
		struct buf out = BUF_INIT, again = BUF_INIT, why = BUF_INIT;
		cr_assert(aliases_normalise(k->value, &out, &why));
		cr_expect(aliases_normalise(out.data, &again, &why), "%s", buf_cstr(&why));
		cr_expect_str_eq(buf_cstr(&again), buf_cstr(&out), "normalise twice \"%s\"", k->value);
		buf_clear(&out);
		buf_clear(&again);
		buf_clear(&why);
	}
}

/* ---- aliases_build (newaliases for one table) ---- */

static struct conf *
load_conf(void)
{
	const char *path = tmp_path("main.cf");
	struct buf why = BUF_INIT;
	write_bytes(path, "default_database_type = cdb\nalias_maps =\nalias_database =\n", 0);
	struct conf *c = conf_load(path, true, &why);
	cr_assert_not_null(c, "conf_load: %s", buf_cstr(&why));
	buf_clear(&why);
	return c;
}

static char *
lookup(const char *spec, const struct conf *c, const char *key)
{
	struct status st;
	struct buf v = BUF_INIT;
	status_init(&st);
	struct table *t = table_open(spec, c, &st);
	cr_assert_not_null(t, "open %s: %s", spec, buf_cstr(&st.text));
	int rc = table_lookup(t, key, &v, &st);
	cr_assert_neq(rc, TABLE_ERROR, "%s", buf_cstr(&st.text));
	table_free(t);
	status_clear(&st);
	if (rc == TABLE_NOTFOUND) {
		buf_clear(&v);
		return NULL;
	}
	return buf_steal(&v);
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "open %s", path);
	struct buf b = BUF_INIT;
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	*len = b.len;
	return buf_steal(&b);
}

Test(aliases, build, .init = setup_tmp, .fini = teardown_tmp)
{
	struct conf *c = load_conf();
	struct status st;
	struct buf spec = BUF_INIT;
	size_t n = 0;
	status_init(&st);
	write_bytes(tmp_path("aliases"),
	    "# sample\nRoot: Admin\nlist: a,b , c\n\"weird name\": x\nprog: \"|/bin/cat -n\"\n"
	    "dup: first\ndup: second\nlong: a,\n  b\n", 0);
	chmod(tmp_path("aliases"), 0640);
	buf_printf(&spec, "cdb:%s", tmp_path("aliases"));
	cr_assert(aliases_build(spec.data, c, &n, &st), "%s", buf_cstr(&st.text));
	cr_expect_eq(n, 6, "entries %zu (the duplicate is not counted)", n);

	static const struct { const char *key, *value; } want[] = {
		{ "root", "Admin" }, { "ROOT", "Admin" }, { "list", "a, b, c" },
		{ "weird name", "x" }, { "prog", "\"|/bin/cat -n\"" }, { "dup", "first" },
		{ "long", "a, b" }, { "@", "@" }, { "nosuch", NULL },
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		char *v = lookup(spec.data, c, want[i].key);
		if (want[i].value)
			cr_expect(v && strcmp(v, want[i].value) == 0, "%s: \"%s\"", want[i].key,
			    v ? v : "(not found)");
		else
			cr_expect_null(v, "%s: \"%s\"", want[i].key, v);
		free(v);
	}
	/* Readable as the source is (postalias copies group/other read). */
	struct stat sb;
	cr_assert_eq(stat(tmp_path("aliases.cdb"), &sb), 0);
	cr_expect_eq(sb.st_mode & 0777, 0640, "mode %o", (unsigned)(sb.st_mode & 0777));
	cr_expect_neq(access(tmp_path("aliases.cdb.tmp"), F_OK), 0, "temporary file left");
	buf_clear(&spec);
	status_clear(&st);
	conf_free(c);
}

/* A syntax error leaves the old table byte for byte and no temporary. */
Test(aliases, build_error_keeps_old_table, .init = setup_tmp, .fini = teardown_tmp)
{
	struct conf *c = load_conf();
	struct status st;
	struct buf spec = BUF_INIT, want = BUF_INIT;
	size_t n = 0, len1, len2;
	status_init(&st);
	buf_printf(&spec, "cdb:%s", tmp_path("aliases"));
	write_bytes(tmp_path("aliases"), "root: admin\n", 0);
	cr_assert(aliases_build(spec.data, c, &n, &st), "%s", buf_cstr(&st.text));
	char *before = slurp(tmp_path("aliases.cdb"), &len1);

	write_bytes(tmp_path("aliases"), "root: other\n# x\nbad@domain: y\n", 0);
	cr_expect(!aliases_build(spec.data, c, &n, &st));
	buf_printf(&want, "%s, line 3: name must be local and have no domain", tmp_path("aliases"));
	cr_expect_str_eq(buf_cstr(&st.text), want.data);
	cr_expect_eq(status_sysexit(&st), 65);
	char *after = slurp(tmp_path("aliases.cdb"), &len2);
	cr_expect(len1 == len2 && memcmp(before, after, len1) == 0, "old table changed");
	cr_expect_neq(access(tmp_path("aliases.cdb.tmp"), F_OK), 0, "temporary file left");
	char *v = lookup(spec.data, c, "root");
	cr_expect(v && strcmp(v, "admin") == 0, "root: %s", v ? v : "(not found)");
	free(v);
	free(before);
	free(after);
	buf_clear(&spec);
	buf_clear(&want);
	status_clear(&st);
	conf_free(c);
}

Test(aliases, build_refusals, .init = setup_tmp, .fini = teardown_tmp)
{
	struct conf *c = load_conf();
	struct status st;
	struct buf spec = BUF_INIT;
	size_t n = 0;
	status_init(&st);
	/* A missing source: nothing built. */
	buf_printf(&spec, "cdb:%s", tmp_path("missing"));
	cr_expect(!aliases_build(spec.data, c, &n, &st));
	cr_expect(strstr(buf_cstr(&st.text), tmp_path("missing")) != NULL, "%s", buf_cstr(&st.text));
	cr_expect_neq(access(tmp_path("missing.cdb"), F_OK), 0);
	/* A type newaliases does not build. */
	write_bytes(tmp_path("aliases"), "root: admin\n", 0);
	buf_reset(&spec);
	buf_printf(&spec, "texthash:%s", tmp_path("aliases"));
	cr_expect(!aliases_build(spec.data, c, &n, &st));
	cr_expect(strstr(buf_cstr(&st.text), "not built by newaliases") != NULL, "%s",
	    buf_cstr(&st.text));
	/* hash: is read (and built) as default_database_type. */
	buf_reset(&spec);
	buf_printf(&spec, "hash:%s", tmp_path("aliases"));
	cr_expect(aliases_build(spec.data, c, &n, &st), "%s", buf_cstr(&st.text));
	cr_expect_eq(access(tmp_path("aliases.cdb"), F_OK), 0);
	buf_clear(&spec);
	status_clear(&st);
	conf_free(c);
}
