/* test_table - the table module: every type, the source reader, building.
 *
 * Table-driven: each Test walks an array of cases and names the failing
 * case in its message.  Golden files: tests/data/table/sample.cdb and
 * sample-nul.cdb were built by Postfix 3.7's postmap (plain and -N) from
 * sample.src; our builder must reproduce sample.cdb byte for byte and
 * read both.  Run from the top of the tree (make unit), or point
 * SATMAIL_TESTDATA at tests/data/table. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "log.h"
#include "status.h"
#include "table.h"
#include "table_source.h"

#define NOTFOUND	NULL	/* expected value for "not found" */

static const char *
data_dir(void)
{
	const char *d = getenv("SATMAIL_TESTDATA");
	return d && *d ? d : "tests/data/table";
}

static char tmpdir[64];

static void
setup_tmp(void)
{
	log_init("test_table");
	log_set_stderr(false);	/* warnings are expected; keep the output clean */
	strcpy(tmpdir, "/tmp/test_table.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void
teardown_tmp(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char p[512];
	while (d && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(tmpdir);
}

static char *
tmp_path(const char *name)
{
	static char p[4][512];
	static int i;
	i = (i + 1) % 4;
	snprintf(p[i], sizeof p[i], "%s/%s", tmpdir, name);
	return p[i];
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "create %s", path);
	fputs(text, f);
	fclose(f);
}

static char *
read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "open %s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *p = malloc((size_t)n + 1);
	cr_assert_eq(fread(p, 1, (size_t)n, f), (size_t)n);
	p[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return p;
}

/* Looks key up and checks the outcome: want NULL = not found. */
static void
expect_lookup(struct table *t, const char *what, const char *key, const char *want)
{
	struct buf v = BUF_INIT;
	struct status st;
	status_init(&st);
	int r = table_lookup(t, key, &v, &st);
	if (want == NOTFOUND) {
		cr_expect_eq(r, TABLE_NOTFOUND, "%s: key \"%s\": expected not found, got %d "
		    "\"%s\" (%s)", what, key, r, buf_cstr(&v), buf_cstr(&st.text));
	} else {
		cr_expect_eq(r, TABLE_FOUND, "%s: key \"%s\": expected \"%s\", got %d (%s)",
		    what, key, want, r, buf_cstr(&st.text));
		cr_expect_str_eq(buf_cstr(&v), want, "%s: key \"%s\"", what, key);
	}
	buf_clear(&v);
	status_clear(&st);
}

/* ------------------------------------------------------ source reader */

TestSuite(source, .init = setup_tmp, .fini = teardown_tmp);

Test(source, logical_lines)
{
	static const struct {
		const char *text;
		const char *lines[6];	/* expected logical lines */
		int linenos[6];
	} cases[] = {
		{ "a 1\nb 2\n", { "a 1", "b 2" }, { 1, 2 } },
		{ "a 1\n  more\n\tand more\nb 2", { "a 1  more\tand more", "b 2" }, { 1, 4 } },
		{ "# c\n\n   \n  # indented comment\na 1\n", { "a 1" }, { 5 } },
		{ "a 1\n# inside\n  cont\n", { "a 1  cont" }, { 1 } },
		{ "a 1\n\n  cont\n", { "a 1  cont" }, { 1 } },
		{ "  orphan\n  more\nz 1\n", { "z 1" }, { 3 } },
		{ "k v # not a comment\n", { "k v # not a comment" }, { 1 } },
		{ "crlf x\r\nnext y\r\n", { "crlf x\r", "next y\r" }, { 1, 2 } },
		{ "", { NULL }, { 0 } },
		{ "\n\n\n", { NULL }, { 0 } },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct table_source *s = table_source_mem("t", cases[i].text,
		    strlen(cases[i].text));
		struct buf line = BUF_INIT;
		struct status st;
		int lineno, r, n = 0;
		status_init(&st);
		while ((r = table_source_line(s, &line, &lineno, &st)) > 0) {
			cr_assert_not_null(cases[i].lines[n], "case %zu: extra line \"%s\"", i,
			    line.data);
			cr_expect_str_eq(line.data, cases[i].lines[n], "case %zu line %d", i, n);
			cr_expect_eq(lineno, cases[i].linenos[n], "case %zu line %d: lineno %d",
			    i, n, lineno);
			n++;
		}
		cr_expect_eq(r, 0, "case %zu: %s", i, buf_cstr(&st.text));
		cr_expect_null(cases[i].lines[n], "case %zu: missing line %d", i, n);
		buf_clear(&line);
		status_clear(&st);
		table_source_free(s);
	}
}

Test(source, nul_byte_is_an_error)
{
	static const char text[] = "a 1\nb \0 2\n";
	struct table_source *s = table_source_mem("bin", text, sizeof text - 1);
	struct buf line = BUF_INIT;
	struct status st;
	int lineno;
	status_init(&st);
	cr_expect_eq(table_source_line(s, &line, &lineno, &st), 1);
	cr_expect_eq(table_source_line(s, &line, &lineno, &st), -1);
	cr_expect_str_eq(buf_cstr(&st.text), "bin, line 2: NUL byte in input");
	cr_expect_eq(st.cls, STATUS_TEMP);
	buf_clear(&line);
	status_clear(&st);
	table_source_free(s);
}

Test(source, split)
{
	static const struct {
		const char *line, *key, *value, *why;
	} cases[] = {
		{ "key value", "key", "value", NULL },
		{ "key\t  value with  spaces  ", "key", "value with  spaces", NULL },
		{ "\"with space\" x", "\"with space\"", "x", NULL },
		{ "\"q\\\"uote\" y", "\"q\\\"uote\"", "y", NULL },
		{ "back\\ slash z", "back\\ slash", "z", NULL },
		{ "novalue", NULL, NULL, "expected format: key whitespace value" },
		{ "novalue   ", NULL, NULL, "expected format: key whitespace value" },
		{ "\"unbalanced x", NULL, NULL, "unbalanced '\"'" },
		{ "alias: target", "alias:", "target", NULL },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *copy = strdup(cases[i].line), *k = NULL, *v = NULL;
		const char *why = table_source_split(copy, &k, &v);
		if (cases[i].why) {
			cr_expect_str_eq(why ? why : "(null)", cases[i].why, "case %zu", i);
		} else {
			cr_expect_null(why, "case %zu: %s", i, why);
			cr_expect_str_eq(k, cases[i].key, "case %zu", i);
			cr_expect_str_eq(v, cases[i].value, "case %zu", i);
		}
		free(copy);
	}
}

Test(source, entries_skip_bad_lines)
{
	static const char text[] = "good 1\nbad\n\"open x\nalso 2\n";
	struct table_source *s = table_source_mem("t", text, sizeof text - 1);
	struct buf line = BUF_INIT;
	struct status st;
	char *k, *v;
	int lineno;
	status_init(&st);
	cr_expect_eq(table_source_entry(s, &line, &k, &v, &lineno, &st), 1);
	cr_expect_str_eq(k, "good");
	cr_expect_eq(table_source_entry(s, &line, &k, &v, &lineno, &st), 1);
	cr_expect_str_eq(k, "also");
	cr_expect_eq(lineno, 4);
	cr_expect_eq(table_source_entry(s, &line, &k, &v, &lineno, &st), 0);
	buf_clear(&line);
	status_clear(&st);
	table_source_free(s);
}

/* ---------------------------------------------------------------- fold */

TestSuite(fold);

/* Expected results: Postfix 3.7 with smtputf8_enable = yes (ICU). */
Test(fold, postfix_folding)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "", "" },
		{ "User@Example.COM", "user@example.com" },
		{ "\"Quoted Key\"", "\"quoted key\"" },
		{ "Straße@Example.DE", "strasse@example.de" },
		{ "STRAẞE", "strasse" },
		{ "ÄÖÜ", "äöü" },
		{ "ΣΟΦΟΣ ς", "σοφοσ σ" },
		{ "İ", "i\xcc\x87" },
		{ "ſ µ", "s μ" },
		{ "Ǆ", "ǆ" },
		{ "ﬁ", "fi" },
		{ "ᾈ", "ἀι" },
		{ "ᏸ Ꭰ ꭰ", "Ᏸ Ꭰ Ꭰ" },
		{ "Ⱥ", "ⱥ" },			/* grows from 2 to 3 bytes */
		{ "\xc3" "ABC", "\xc3" "abc" },	/* not UTF-8: ASCII only, bytes kept */
		{ "\xed\xa0\x80X", "\xed\xa0\x80x" },	/* a surrogate is not UTF-8 */
		{ "\xc0\xafX", "\xc0\xafx" },	/* nor an overlong form */
	};
	struct buf out = BUF_INIT;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		table_fold(&out, cases[i].in);
		cr_expect_str_eq(buf_cstr(&out), cases[i].out, "case %zu", i);
	}
	buf_clear(&out);
}

/* -------------------------------------------------------------- specs */

TestSuite(spec, .init = setup_tmp, .fini = teardown_tmp);

Test(spec, resolution)
{
	struct conf c;
	memset(&c, 0, sizeof c);
	static const struct {
		const char *spec, *dbtype, *type, *name, *err;
	} cases[] = {
		{ "cdb:/etc/aliases", NULL, "cdb", "/etc/aliases", NULL },
		{ "hash:/etc/aliases", NULL, "cdb", "/etc/aliases", NULL },
		{ "btree:/x", NULL, "cdb", "/x", NULL },
		{ "/etc/aliases", NULL, "cdb", "/etc/aliases", NULL },
		{ "/etc/aliases", "hash", "cdb", "/etc/aliases", NULL },
		{ "/etc/aliases", "texthash", "texthash", "/etc/aliases", NULL },
		{ "hash:/x", "texthash", "texthash", "/x", NULL },
		{ "inline:{a=b:c}", NULL, "inline", "{a=b:c}", NULL },
		{ "static:", NULL, NULL, NULL,
		  "open dictionary: expecting \"type:name\" form instead of \"static:\"" },
		{ "lmdb:/x", NULL, NULL, NULL, "unsupported dictionary type: lmdb" },
		{ "/x", "lmdb", NULL, NULL, "unsupported dictionary type: lmdb" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf type = BUF_INIT, name = BUF_INIT;
		struct status st;
		status_init(&st);
		c.default_database_type = (char *)(uintptr_t)cases[i].dbtype;
		bool ok = table_spec(cases[i].spec, &c, &type, &name, &st);
		if (cases[i].err) {
			cr_expect(!ok, "case %zu", i);
			cr_expect_str_eq(buf_cstr(&st.text), cases[i].err, "case %zu", i);
			cr_expect_eq(st.cls, STATUS_TEMP, "case %zu", i);
		} else {
			cr_expect(ok, "case %zu: %s", i, buf_cstr(&st.text));
			cr_expect_str_eq(buf_cstr(&type), cases[i].type, "case %zu", i);
			cr_expect_str_eq(buf_cstr(&name), cases[i].name, "case %zu", i);
		}
		buf_clear(&type);
		buf_clear(&name);
		status_clear(&st);
	}
	/* A NULL conf means the built-in default. */
	struct buf type = BUF_INIT, name = BUF_INIT, path = BUF_INIT;
	struct status st;
	status_init(&st);
	cr_expect(table_spec("x", NULL, &type, &name, &st));
	cr_expect_str_eq(type.data, "cdb");
	cr_expect(table_file("hash:/etc/x", NULL, &path, &st));
	cr_expect_str_eq(path.data, "/etc/x.cdb");
	cr_expect(!table_file("regexp:/etc/x", NULL, &path, &st));
	cr_expect_str_eq(buf_cstr(&st.text), "unsupported dictionary type: regexp does "
	    "not support bulk-mode creation");
	buf_clear(&type);
	buf_clear(&name);
	buf_clear(&path);
	status_clear(&st);
}

Test(spec, open_failures_are_temporary)
{
	static const struct {
		const char *spec, *err;
	} cases[] = {
		{ "cdb:/nonexistent/x", "open database /nonexistent/x.cdb: No such file or directory" },
		{ "texthash:/nonexistent/x", "open /nonexistent/x: No such file or directory" },
		{ "regexp:/nonexistent/x", "open /nonexistent/x: No such file or directory" },
		{ "pcre:/nonexistent/x", "open /nonexistent/x: No such file or directory" },
		{ "nosuchtype:x", "unsupported dictionary type: nosuchtype" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct status st;
		status_init(&st);
		cr_expect_null(table_open(cases[i].spec, NULL, &st), "case %zu", i);
		cr_expect_eq(st.cls, STATUS_TEMP, "case %zu", i);
		cr_expect_str_eq(st.dsn, "4.3.0", "case %zu", i);
		cr_expect_str_eq(buf_cstr(&st.text), cases[i].err, "case %zu", i);
		status_clear(&st);
	}
}

Test(spec, fail_type)
{
	struct status st;
	struct buf v = BUF_INIT, k = BUF_INIT;
	status_init(&st);
	struct table *t = table_open("fail:test", NULL, &st);
	cr_assert_not_null(t);
	cr_expect_eq(table_lookup(t, "x", &v, &st), TABLE_ERROR);
	cr_expect_eq(st.cls, STATUS_TEMP);
	cr_expect_str_eq(buf_cstr(&st.text), "table fail:test: Application error");
	cr_expect_eq(table_next(t, true, &k, &v, &st), TABLE_ERROR);
	table_free(t);
	buf_clear(&v);
	buf_clear(&k);
	status_clear(&st);
}

/* ---------------------------------------------------------------- cdb */

TestSuite(cdb, .init = setup_tmp, .fini = teardown_tmp);

/* What sample.src says, as every reader must answer. */
static const struct {
	const char *key, *value;
} sample_cases[] = {
	{ "alice@example.com", "alice.smith@example.com" },
	{ "Alice@Example.COM", "alice.smith@example.com" },
	{ "ALICE@EXAMPLE.COM", "alice.smith@example.com" },
	{ "bob", "Robert  continued" },
	{ "BOB", "Robert  continued" },
	{ "@example.org", "catchall@example.net" },
	{ "\"with space\"", "value with  spaces" },
	{ "mixed", "Value Keeps Its Case" },
	{ "root", "postmaster@example.com, \"|/usr/bin/cmd arg\"" },
	{ "with space", NOTFOUND },
	{ "carol", NOTFOUND },
	{ "", NOTFOUND },
	{ "alice", NOTFOUND },
};

static char *
sample_copy(const char *golden)
{
	/* Read the golden file through a name in tmpdir (NAME.cdb). */
	size_t n;
	char *bytes = read_all(golden, &n);
	char *base = tmp_path("golden");
	FILE *f = fopen(tmp_path("golden.cdb"), "wb");
	cr_assert_not_null(f);
	fwrite(bytes, 1, n, f);
	fclose(f);
	free(bytes);
	return base;
}

Test(cdb, reads_postfix_files)
{
	static const char *const goldens[] = { "sample.cdb", "sample-nul.cdb" };
	for (size_t g = 0; g < 2; g++) {
		char golden[512], spec[600];
		snprintf(golden, sizeof golden, "%s/%s", data_dir(), goldens[g]);
		snprintf(spec, sizeof spec, "cdb:%s", sample_copy(golden));
		struct status st;
		status_init(&st);
		struct table *t = table_open(spec, NULL, &st);
		cr_assert_not_null(t, "%s: %s", goldens[g], buf_cstr(&st.text));
		for (size_t i = 0; i < sizeof sample_cases / sizeof sample_cases[0]; i++)
			expect_lookup(t, goldens[g], sample_cases[i].key, sample_cases[i].value);
		table_free(t);
		status_clear(&st);
	}
}

/* Builds tmpdir/NAME.cdb from source text the way postmap does. */
static void
build_from(const char *name, const char *text, unsigned flags)
{
	struct status st;
	struct buf line = BUF_INIT;
	char *k, *v, spec[600];
	int lineno, r;
	status_init(&st);
	snprintf(spec, sizeof spec, "cdb:%s", tmp_path(name));
	struct table_builder *b = table_build_start(spec, NULL, flags, 0644, &st);
	cr_assert_not_null(b, "%s", buf_cstr(&st.text));
	struct table_source *s = table_source_mem(name, text, strlen(text));
	while ((r = table_source_entry(s, &line, &k, &v, &lineno, &st)) > 0)
		cr_assert_geq(table_build_add(b, k, v, &st), 0, "%s", buf_cstr(&st.text));
	cr_assert_eq(r, 0);
	cr_assert(table_build_commit(b, &st), "%s", buf_cstr(&st.text));
	table_build_free(b);
	table_source_free(s);
	buf_clear(&line);
	status_clear(&st);
}

Test(cdb, builds_postfix_bytes)
{
	char path[512];
	size_t n, m;
	snprintf(path, sizeof path, "%s/sample.src", data_dir());
	char *src = read_all(path, &n);
	static const struct {
		unsigned flags;
		const char *golden;
	} cases[] = {
		{ 0, "sample.cdb" },
		{ TABLE_NUL, "sample-nul.cdb" },
	};
	for (size_t i = 0; i < 2; i++) {
		build_from("built", src, cases[i].flags);
		snprintf(path, sizeof path, "%s/%s", data_dir(), cases[i].golden);
		char *want = read_all(path, &n);
		char *got = read_all(tmp_path("built.cdb"), &m);
		cr_expect_eq(m, n, "%s: size %zu, want %zu", cases[i].golden, m, n);
		cr_expect(m == n && memcmp(got, want, n) == 0, "%s: bytes differ",
		    cases[i].golden);
		free(want);
		free(got);
		struct stat sb;
		cr_expect_neq(stat(tmp_path("built.cdb.tmp"), &sb), 0, "temp file left behind");
	}
	free(src);
}

Test(cdb, folding_and_nofold)
{
	static const struct {
		unsigned build, open;
		const char *key, *want;
	} cases[] = {
		{ 0, 0, "KEY", "v" },
		{ 0, 0, "key", "v" },
		{ 0, TABLE_NOFOLD, "KEY", NOTFOUND },	/* stored folded */
		{ 0, TABLE_NOFOLD, "key", "v" },
		{ TABLE_NOFOLD, TABLE_NOFOLD, "KEY", "v" },
		{ TABLE_NOFOLD, TABLE_NOFOLD, "key", NOTFOUND },
		{ TABLE_NOFOLD, 0, "KEY", NOTFOUND },	/* lookup folds */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct status st;
		char spec[600];
		status_init(&st);
		build_from("fold", "KEY v\n", cases[i].build);
		snprintf(spec, sizeof spec, "cdb:%s", tmp_path("fold"));
		struct table *t = table_open_flags(spec, NULL, cases[i].open, &st);
		cr_assert_not_null(t);
		char what[32];
		snprintf(what, sizeof what, "case %zu", i);
		expect_lookup(t, what, cases[i].key, cases[i].want);
		table_free(t);
		status_clear(&st);
	}
}

Test(cdb, duplicates)
{
	static const struct {
		unsigned flags;
		int second;		/* table_build_add result for the 2nd "a" */
		const char *want;
		int records;		/* entries listed by table_next */
	} cases[] = {
		{ 0, TABLE_DUPLICATE, "1", 2 },
		{ TABLE_DUP_IGNORE, TABLE_ADDED, "1", 3 },	/* Postfix -w stores both */
		{ TABLE_DUP_REPLACE, TABLE_ADDED, "2", 2 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct status st;
		struct buf k = BUF_INIT, v = BUF_INIT;
		char spec[600];
		status_init(&st);
		snprintf(spec, sizeof spec, "cdb:%s", tmp_path("dup"));
		struct table_builder *b = table_build_start(spec, NULL, cases[i].flags,
		    0600, &st);
		cr_assert_not_null(b);
		cr_expect_eq(table_build_add(b, "A", "1", &st), TABLE_ADDED);
		cr_expect_eq(table_build_add(b, "b", "x", &st), TABLE_ADDED);
		cr_expect_eq(table_build_add(b, "a", "2", &st), cases[i].second, "case %zu", i);
		cr_assert(table_build_commit(b, &st));
		table_build_free(b);
		struct table *t = table_open(spec, NULL, &st);
		cr_assert_not_null(t);
		expect_lookup(t, "dup", "a", cases[i].want);
		int n = 0;
		for (bool first = true; table_next(t, first, &k, &v, &st) == TABLE_FOUND;
		    first = false)
			n++;
		cr_expect_eq(n, cases[i].records, "case %zu: %d records", i, n);
		table_free(t);
		struct stat sb;
		cr_expect_eq(stat(tmp_path("dup.cdb"), &sb), 0);
		cr_expect_eq(sb.st_mode & 07777, 0600, "case %zu: mode %o", i,
		    (unsigned)(sb.st_mode & 07777));
		buf_clear(&k);
		buf_clear(&v);
		status_clear(&st);
	}
}

/* Many keys: the hash-set shortcut must still find every duplicate,
 * including keys whose 32-bit cdb hashes collide. */
Test(cdb, many_keys_and_hash_collisions)
{
	struct status st;
	char spec[600], k[32], v[32];
	status_init(&st);
	snprintf(spec, sizeof spec, "cdb:%s", tmp_path("many"));
	struct table_builder *b = table_build_start(spec, NULL, 0, 0644, &st);
	cr_assert_not_null(b);
	for (int i = 0; i < 20000; i++) {
		snprintf(k, sizeof k, "k%d", i);
		snprintf(v, sizeof v, "v%d", i);
		cr_assert_eq(table_build_add(b, k, v, &st), TABLE_ADDED);
	}
	/* Folded duplicates of earlier keys. */
	for (int i = 0; i < 20000; i += 7) {
		snprintf(k, sizeof k, "K%d", i);
		cr_assert_eq(table_build_add(b, k, "dup", &st), TABLE_DUPLICATE, "%s", k);
	}
	/* "aaa2" and "aacp" have the same cdb hash: different keys. */
	cr_assert_eq(table_build_add(b, "aaa2", "first", &st), TABLE_ADDED);
	cr_assert_eq(table_build_add(b, "aacp", "second", &st), TABLE_ADDED);
	cr_assert_eq(table_build_add(b, "aacp", "again", &st), TABLE_DUPLICATE);
	cr_assert_eq(table_build_add(b, "aaa2", "again", &st), TABLE_DUPLICATE);
	cr_assert(table_build_commit(b, &st));
	table_build_free(b);
	struct table *t = table_open(spec, NULL, &st);
	cr_assert_not_null(t);
	expect_lookup(t, "many", "k19999", "v19999");
	expect_lookup(t, "many", "k7", "v7");
	expect_lookup(t, "many", "k20000", NOTFOUND);
	expect_lookup(t, "many", "aaa2", "first");
	expect_lookup(t, "many", "aacp", "second");
	table_free(t);
	status_clear(&st);
}

Test(cdb, copy_delete_and_nul_convention)
{
	struct status st;
	struct buf v = BUF_INIT;
	char spec[600];
	size_t ndel;
	status_init(&st);
	build_from("cp", "a 1\nb 2\nc 3\n", TABLE_NUL);
	chmod(tmp_path("cp.cdb"), 0640);
	snprintf(spec, sizeof spec, "cdb:%s", tmp_path("cp"));
	struct table_builder *b = table_build_start(spec, NULL, 0, 0644, &st);
	cr_assert_not_null(b);
	const char *del[] = { "B", "zz" };
	cr_assert_eq(table_build_copy(b, del, 2, &ndel, &st), TABLE_ADDED);
	cr_expect_eq(ndel, 1);
	cr_expect_eq(table_build_add(b, "d", "4", &st), TABLE_ADDED);
	cr_expect_eq(table_build_add(b, "a", "again", &st), TABLE_DUPLICATE);
	cr_assert(table_build_commit(b, &st));
	table_build_free(b);
	struct stat sb;
	cr_expect_eq(stat(tmp_path("cp.cdb"), &sb), 0);
	cr_expect_eq(sb.st_mode & 07777, 0640, "the rebuild keeps the mode");
	/* The new entry follows the file's NUL convention: a -n reader
	 * (no NUL) must not see it, a -N reader must. */
	struct table *t = table_open_flags(spec, NULL, TABLE_NONUL, &st);
	cr_assert_not_null(t);
	expect_lookup(t, "nonul", "d", NOTFOUND);
	table_free(t);
	t = table_open_flags(spec, NULL, TABLE_NUL, &st);
	cr_assert_not_null(t);
	expect_lookup(t, "nul", "d", "4");
	expect_lookup(t, "nul", "a", "1");
	expect_lookup(t, "nul", "b", NOTFOUND);
	expect_lookup(t, "nul", "c", "3");
	table_free(t);
	buf_clear(&v);
	status_clear(&st);
}

Test(cdb, abort_keeps_old_table)
{
	struct status st;
	char spec[600];
	status_init(&st);
	build_from("keep", "a old\n", 0);
	snprintf(spec, sizeof spec, "cdb:%s", tmp_path("keep"));
	struct table_builder *b = table_build_start(spec, NULL, 0, 0644, &st);
	cr_assert_not_null(b);
	cr_expect_eq(table_build_add(b, "a", "new", &st), TABLE_ADDED);
	struct stat sb;
	cr_expect_eq(stat(tmp_path("keep.cdb.tmp"), &sb), 0, "temp file while building");
	table_build_free(b);	/* no commit */
	cr_expect_neq(stat(tmp_path("keep.cdb.tmp"), &sb), 0, "temp file removed");
	struct table *t = table_open(spec, NULL, &st);
	cr_assert_not_null(t);
	expect_lookup(t, "keep", "a", "old");
	table_free(t);
	status_clear(&st);
}

Test(cdb, not_a_cdb_file)
{
	struct status st;
	status_init(&st);
	write_file(tmp_path("junk.cdb"), "short");
	char spec[600];
	snprintf(spec, sizeof spec, "cdb:%s", tmp_path("junk"));
	cr_expect_null(table_open(spec, NULL, &st));
	cr_expect_eq(st.cls, STATUS_TEMP);
	status_clear(&st);
}

/* ----------------------------------------------------------- texthash */

TestSuite(texthash, .init = setup_tmp, .fini = teardown_tmp);

Test(texthash, lookups)
{
	static const char src[] =
	    "# comment\n"
	    "User@Example.COM  first\n"
	    "other value\n  continued\n"
	    "user@example.com second\n"
	    "bad\n";
	static const struct {
		unsigned flags;
		const char *key, *want;
	} cases[] = {
		{ 0, "user@example.com", "first" },
		{ 0, "USER@EXAMPLE.COM", "first" },
		{ 0, "other", "value  continued" },
		{ 0, "bad", NOTFOUND },
		{ 0, "nothere", NOTFOUND },
		{ TABLE_DUP_REPLACE, "user@example.com", "second" },
		{ TABLE_DUP_IGNORE, "user@example.com", "first" },
		{ TABLE_NOFOLD, "User@Example.COM", "first" },
		{ TABLE_NOFOLD, "user@example.com", "second" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct status st;
		status_init(&st);
		struct table *t = table_open_text("texthash", "th", src, sizeof src - 1,
		    cases[i].flags, &st);
		cr_assert_not_null(t, "%s", buf_cstr(&st.text));
		char what[32];
		snprintf(what, sizeof what, "case %zu", i);
		expect_lookup(t, what, cases[i].key, cases[i].want);
		table_free(t);
		status_clear(&st);
	}
	/* From a file, and listed in source order. */
	write_file(tmp_path("th"), src);
	char spec[600];
	snprintf(spec, sizeof spec, "texthash:%s", tmp_path("th"));
	struct status st;
	struct buf k = BUF_INIT, v = BUF_INIT;
	status_init(&st);
	struct table *t = table_open(spec, NULL, &st);
	cr_assert_not_null(t);
	cr_expect_eq(table_next(t, true, &k, &v, &st), TABLE_FOUND);
	cr_expect_str_eq(k.data, "user@example.com");
	cr_expect_eq(table_next(t, false, &k, &v, &st), TABLE_FOUND);
	cr_expect_str_eq(k.data, "other");
	cr_expect_eq(table_next(t, false, &k, &v, &st), TABLE_NOTFOUND);
	table_free(t);
	buf_clear(&k);
	buf_clear(&v);
	status_clear(&st);
}

/* ----------------------------------------------------- regexp and pcre */

TestSuite(pattern, .init = setup_tmp, .fini = teardown_tmp);

struct pat_case {
	const char *rules;
	const char *key;
	const char *want;	/* NOTFOUND = no match */
};

/* Cases both engines must agree on. */
static const struct pat_case common_cases[] = {
	{ "/^(.*)@example\\.com$/ $1@example.org\n", "joe@example.com", "joe@example.org" },
	{ "/^(.*)@example\\.com$/ ${1}@example.org\n", "Joe@EXAMPLE.com", "Joe@example.org" },
	{ "/^(.*)@example\\.com$/ $(1)x\n", "a@example.com", "ax" },
	{ "/^(.*)@example\\.com$/ $1\n", "joe@example.net", NOTFOUND },
	/* i toggles case-insensitivity off */
	{ "/^USER$/i yes\n", "user", NOTFOUND },
	{ "/^USER$/i yes\n", "USER", "yes" },
	{ "/^USER$/ yes\n", "user", "yes" },
	/* key case is kept in substitutions */
	{ "/^(.*)$/ <$1>\n", "MiXeD", "<MiXeD>" },
	/* first match wins */
	{ "/a/ first\n/a/ second\n", "a", "first" },
	/* negation */
	{ "!/^x/ not-x\n", "abc", "not-x" },
	{ "!/^x/ not-x\n", "xyz", NOTFOUND },
	/* $$ and two groups swapped */
	{ "/^([a-z]+)-([a-z]+)$/ $2.$1 costs $$5\n", "foo-bar", "bar.foo costs $5" },
	{ "/^literal$/ has $$ dollar\n", "literal", "has $ dollar" },
	/* a group that did not take part is empty */
	{ "/^e(x)?(y)$/ [$1][$2]\n", "ey", "[][y]" },
	/* other delimiters, escaped delimiter */
	{ "|^a/b$| slash\n", "a/b", "slash" },
	{ "/^a\\/b$/ escaped\n", "a/b", "escaped" },
	/* if / endif, nested */
	{ "if /@corp\\./\n/^admin@/ root\n!/^x/ not-x\nendif\n/./ fallback\n",
	  "admin@corp.example", "root" },
	{ "if /@corp\\./\n/^admin@/ root\n!/^x/ not-x\nendif\n/./ fallback\n",
	  "bob@corp.example", "not-x" },
	{ "if /@corp\\./\n/^admin@/ root\n!/^x/ not-x\nendif\n/./ fallback\n",
	  "xavier@corp.example", "fallback" },
	{ "if /@corp\\./\n/^admin@/ root\nendif\n/./ fallback\n",
	  "admin@other.example", "fallback" },
	{ "IF /^a/\nif /b$/\n/./ ab\nENDIF\n/./ a-only\nendif\n", "ab", "ab" },
	{ "IF /^a/\nif /b$/\n/./ ab\nENDIF\n/./ a-only\nendif\n", "ax", "a-only" },
	{ "IF /^a/\nif /b$/\n/./ ab\nENDIF\n/./ a-only\nendif\n", "zb", NOTFOUND },
	{ "if !/^a/\n/./ not-a\nendif\n", "b", "not-a" },
	{ "if !/^a/\n/./ not-a\nendif\n", "a", NOTFOUND },
	/* comments, blank lines and continuation lines */
	{ "# comment\n\n/^k$/ multi\n  line\n", "k", "multi  line" },
	/* no result text: an empty result (Postfix warns) */
	{ "/^k$/\n", "k", "" },
};

/* POSIX only: x turns extended syntax off, /a/!/b/, m. */
static const struct pat_case regexp_cases[] = {
	{ "/^a+$/x basic\n", "a+", "basic" },
	{ "/^a+$/x basic\n", "aaa", NOTFOUND },
	{ "/^a+$/ extended\n", "aaa", "extended" },
	{ "/@example\\.com$/!/^postmaster@/ user\n", "joe@example.com", "user" },
	{ "/@example\\.com$/!/^postmaster@/ user\n", "postmaster@example.com", NOTFOUND },
};

/* PCRE only: its syntax and flags. */
static const struct pat_case pcre_cases[] = {
	{ "/^(\\w+)\\+(\\w+)@/ $1 ext $2\n", "user+tag@x", "user ext tag" },
	{ "/^(?<name>\\w+)$/ named $1\n", "abc", "named abc" },
	{ "/^ a b $/x spaced\n", "ab", "spaced" },
	{ "/^a.b$/ dotall\n", "a\nb", "dotall" },
	{ "/^a.b$/s no-dotall\n", "a\nb", NOTFOUND },
	{ "/^(a+?)/U greedy-toggled [$1]\n", "aaa", "greedy-toggled [aaa]" },
	{ "/^(a+?)/ lazy [$1]\n", "aaa", "lazy [a]" },
	{ "/b/A anchored\n", "ab", NOTFOUND },
	{ "/a$/E endonly\n", "a\n", NOTFOUND },
	{ "/a$/ dollar\n", "a\n", "dollar" },
	{ "/^x$/X obsolete-flag-ignored\n", "x", "obsolete-flag-ignored" },
};

static void
run_pat_cases(const char *type, const struct pat_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct status st;
		status_init(&st);
		struct table *t = table_open_text(type, "rules", cases[i].rules,
		    strlen(cases[i].rules), 0, &st);
		cr_assert_not_null(t, "%s case %zu: %s", type, i, buf_cstr(&st.text));
		char what[64];
		snprintf(what, sizeof what, "%s case %zu", type, i);
		expect_lookup(t, what, cases[i].key, cases[i].want);
		table_free(t);
		status_clear(&st);
	}
}

Test(pattern, regexp)
{
	run_pat_cases("regexp", common_cases, sizeof common_cases / sizeof common_cases[0]);
	run_pat_cases("regexp", regexp_cases, sizeof regexp_cases / sizeof regexp_cases[0]);
}

Test(pattern, pcre)
{
	run_pat_cases("pcre", common_cases, sizeof common_cases / sizeof common_cases[0]);
	run_pat_cases("pcre", pcre_cases, sizeof pcre_cases / sizeof pcre_cases[0]);
}

Test(pattern, never_folds_and_cannot_list)
{
	struct status st;
	struct buf k = BUF_INIT, v = BUF_INIT;
	status_init(&st);
	/* TABLE_NOFOLD or not, the key reaches the pattern unchanged. */
	struct table *t = table_open_text("regexp", "r", "/^(.*)$/i $1\n", 13, 0, &st);
	cr_assert_not_null(t);
	expect_lookup(t, "case", "AbC", "AbC");
	cr_expect_eq(table_next(t, true, &k, &v, &st), TABLE_ERROR);
	cr_expect_str_eq(buf_cstr(&st.text),
	    "table regexp:r: sequence operation is not supported");
	table_free(t);
	buf_clear(&k);
	buf_clear(&v);
	status_clear(&st);
}

Test(pattern, from_file)
{
	struct status st;
	status_init(&st);
	write_file(tmp_path("canon.regexp"), "/^(.*)@old\\.example$/ $1@new.example\n");
	write_file(tmp_path("canon.pcre"), "/^(.*)@old\\.example$/ $1@new.example\n");
	char spec[600];
	snprintf(spec, sizeof spec, "regexp:%s", tmp_path("canon.regexp"));
	struct table *t = table_open(spec, NULL, &st);
	cr_assert_not_null(t, "%s", buf_cstr(&st.text));
	expect_lookup(t, "regexp file", "Ann@OLD.example", "Ann@new.example");
	table_free(t);
	snprintf(spec, sizeof spec, "pcre:%s", tmp_path("canon.pcre"));
	t = table_open(spec, NULL, &st);
	cr_assert_not_null(t, "%s", buf_cstr(&st.text));
	expect_lookup(t, "pcre file", "ann@old.example", "ann@new.example");
	table_free(t);
	status_clear(&st);
}

Test(pattern, bad_sources_name_the_line)
{
	static const struct {
		const char *type, *rules, *err;
	} cases[] = {
		{ "regexp", "/a/ b\n/unterminated b\n",
		  "regexp map bad, line 2: no closing regexp delimiter \"/\"" },
		{ "regexp", "# c\n\n/a/q b\n", "regexp map bad, line 3: unknown regexp option \"q\"" },
		{ "regexp", "/(a)/ $2\n", "regexp map bad, line 1: out of range replacement index \"2\"" },
		{ "regexp", "!/(a)/ $1\n",
		  "regexp map bad, line 1: $number found in negative match replacement text" },
		{ "regexp", "/a/ b\nif /a/\n/b/ c\n", "regexp map bad, line 2: IF has no matching ENDIF" },
		{ "regexp", "endif\n", "regexp map bad, line 1: ENDIF without matching IF" },
		{ "regexp", "/a/ ok\nfoo bar\n", "regexp map bad, line 2: unrecognized request" },
		{ "regexp", "/a/ $x\n", "regexp map bad, line 1: non-numeric replacement index \"x\"" },
		{ "regexp", "/a/ $0\n", "regexp map bad, line 1: out of range replacement index \"0\"" },
		{ "regexp", "/a/ ${1\n",
		  "regexp map bad, line 1: bad replacement syntax: truncated macro reference" },
		{ "regexp", "/a/ x$\n", "regexp map bad, line 1: bad replacement syntax: empty macro name" },
		{ "regexp", "/(/ x\n", "regexp map bad, line 1: Unmatched ( or \\(" },
		{ "regexp", "!\n", "regexp map bad, line 1: no regexp" },
		{ "regexp", "/a/ x\n  y\n/b\n", "regexp map bad, line 3: no closing regexp delimiter \"/\"" },
		{ "pcre", "/a/ b\n/(/ x\n",
		  "pcre map bad, line 2: error in regex at offset 1: missing closing parenthesis" },
		{ "pcre", "/a/!/b/ x\n", "pcre map bad, line 1: unknown regexp option \"!\"" },
		{ "pcre", "/a/ $99999999999\n",
		  "pcre map bad, line 1: out of range replacement index \"99999999999\"" },
		{ "texthash", "ok 1\nbin\0ary 2\n", "bad, line 2: NUL byte in input" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct status st;
		status_init(&st);
		size_t len = strlen(cases[i].rules);
		if (strcmp(cases[i].type, "texthash") == 0)
			len = sizeof "ok 1\nbin\0ary 2\n" - 1;
		struct table *t = table_open_text(cases[i].type, "bad", cases[i].rules, len,
		    0, &st);
		cr_expect_null(t, "case %zu: opened", i);
		table_free(t);
		cr_expect_eq(st.cls, STATUS_TEMP, "case %zu", i);
		cr_expect_str_eq(buf_cstr(&st.text), cases[i].err, "case %zu", i);
		status_clear(&st);
	}
}

/* Patterns that make glibc's regcomp() take gigabytes or hours (found
 * by fuzz_table) are refused up front; ordinary ones are not. */
Test(pattern, posix_blowups_refused)
{
	static const struct {
		const char *re;
		bool ok;
	} cases[] = {
		{ "a++++++++++++++++++++++++++++++", false },
		{ "^(.)**************************************************", false },
		{ "(a?)*(a?)*(a?)*(a?)*(a?)*(a?)*(a?)*(a?)*(a?)*(a?)*(a?)*", false },
		{ "(a?)*(a?)*(a?)*(a?)*", false },
		{ "(a?)*(a?)*(a?)*", true },
		{ ".???+++++++++'+", false },	/* fuzz_table: a 10 s regcomp */
		{ "((((((((((((a)*)*)*)*)*)*)*)*)*)*)*)*", false },
		{ "(a|)*(a|)*(a|)*(a|)*(a|)*(a|)*(a|)*(a|)*(a|)*(a|)*(a|)*", false },
		{ "(a|b)*(a|b)*(a|b)*(a|b)*(a|b)*(a|b)*(a|b)*(a|b)*(a|b)*(a|b)*(a|b)*(a|b)*", true },
		{ "a{1000}{1000}", false },
		{ "(a{200}){200}", false },
		{ "a{9999}", true },
		{ "[a-z]{1,255}", true },
		{ "^(.*)@(([a-z0-9-]+\\.)*)example\\.(com|org)$", true },
		{ "^([^@]+)@([^@]+)$", true },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct status st;
		struct buf rules = BUF_INIT;
		status_init(&st);
		buf_printf(&rules, "/%s/ x\n", cases[i].re);
		struct table *t = table_open_text("regexp", "re", rules.data, rules.len, 0, &st);
		if (cases[i].ok) {
			cr_expect_not_null(t, "case %zu: %s", i, buf_cstr(&st.text));
		} else {
			cr_expect_null(t, "case %zu: accepted", i);
			cr_expect(strstr(buf_cstr(&st.text), "re, line 1: regular expression is "
			    "too complex") != NULL, "case %zu: %s", i, buf_cstr(&st.text));
		}
		table_free(t);
		buf_clear(&rules);
		status_clear(&st);
	}
}

/* ---------------------------------------------------- inline, static */

TestSuite(inline_static, .init = setup_tmp, .fini = teardown_tmp);

Test(inline_static, lookups)
{
	static const struct {
		const char *spec, *key, *want;
	} cases[] = {
		{ "inline:{a=1, B=2}", "a", "1" },
		{ "inline:{a=1, B=2}", "A", "1" },
		{ "inline:{a=1, B=2}", "b", "2" },
		{ "inline:{a=1, B=2}", "c", NOTFOUND },
		{ "inline:{a=1 b=2,,c=3}", "c", "3" },
		{ "inline:{ { key = value with spaces } , x=y}", "key", "value with spaces" },
		{ "inline:{ { key = a, b } }", "key", "a, b" },
		{ "inline:{ { key = {nested} } }", "key", "{nested}" },
		{ "inline:{a=1,a=2}", "a", "2" },
		{ "inline:{a=}", "a", "" },
		{ "inline:{ a = 1 }", "a", NOTFOUND },	/* "a", "=", "1": see bad cases */
		{ "static:foo bar", "anything", "foo bar" },
		{ "static:{ foo bar }", "x", "foo bar" },
		{ "static:{}", "x", "" },
		{ "static:OK", "", "OK" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct status st;
		status_init(&st);
		struct table *t = table_open(cases[i].spec, NULL, &st);
		if (i == 10) {
			cr_expect_null(t, "case %zu", i);
			table_free(t);
			status_clear(&st);
			continue;
		}
		cr_assert_not_null(t, "case %zu: %s", i, buf_cstr(&st.text));
		char what[32];
		snprintf(what, sizeof what, "case %zu", i);
		expect_lookup(t, what, cases[i].key, cases[i].want);
		table_free(t);
		status_clear(&st);
	}
}

Test(inline_static, bad_specs)
{
	static const struct {
		const char *spec, *err;
	} cases[] = {
		{ "inline:{}", "bad syntax: \"inline:{}\"; need \"inline:{name=value...}\"" },
		{ "inline:{ }", "empty table: \"inline:{ }\"; need \"inline:{name=value...}\"" },
		{ "inline:{a}",
		  "missing '=' after attribute name: \"inline:{a}\"; need \"inline:{name=value...}\"" },
		{ "inline:{a=1", "bad syntax: \"inline:{a=1\"; need \"inline:{name=value...}\"" },
		{ "inline:a=1", "bad syntax: \"inline:a=1\"; need \"inline:{name=value...}\"" },
		{ "inline:{a=b}x", "bad syntax: \"inline:{a=b}x\"; need \"inline:{name=value...}\"" },
		{ "inline:{ {key=v}x }", "syntax error after '}' in \"{key=v}x\": "
		  "\"inline:{ {key=v}x }\"; need \"inline:{name=value...}\"" },
		{ "inline:{ =v }",
		  "missing attribute name: \"inline:{ =v }\"; need \"inline:{name=value...}\"" },
		{ "inline:{ a = 1 }",
		  "missing '=' after attribute name: \"inline:{ a = 1 }\"; need \"inline:{name=value...}\"" },
		{ "static:{ foo", "bad static:name syntax: missing '}' in \"{ foo\"" },
		{ "static:{a}b", "bad static:name syntax: syntax error after '}' in \"{a}b\"" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct status st;
		status_init(&st);
		struct table *t = table_open(cases[i].spec, NULL, &st);
		cr_expect_null(t, "case %zu", i);
		table_free(t);
		cr_expect_str_eq(buf_cstr(&st.text), cases[i].err, "case %zu", i);
		status_clear(&st);
	}
}

Test(inline_static, listing)
{
	struct status st;
	struct buf k = BUF_INIT, v = BUF_INIT;
	status_init(&st);
	struct table *t = table_open("inline:{b=2, A=1}", NULL, &st);
	cr_assert_not_null(t);
	cr_expect_eq(table_next(t, true, &k, &v, &st), TABLE_FOUND);
	cr_expect_str_eq(k.data, "b");
	cr_expect_eq(table_next(t, false, &k, &v, &st), TABLE_FOUND);
	cr_expect_str_eq(k.data, "a");
	cr_expect_str_eq(v.data, "1");
	cr_expect_eq(table_next(t, false, &k, &v, &st), TABLE_NOTFOUND);
	table_free(t);
	t = table_open("static:x", NULL, &st);
	cr_expect_eq(table_next(t, true, &k, &v, &st), TABLE_ERROR);
	table_free(t);
	buf_clear(&k);
	buf_clear(&v);
	status_clear(&st);
}
