/* test_rewrite - canonical rewriting and alias expansion (lib/rewrite.c).
 *
 * Every case writes its tables (texthash:, regexp:, cdb: built here) and
 * a private main.cf into a temporary directory, loads it with conf_load()
 * and runs the rewrite module as sendmail does.  Expected values are
 * Postfix's (POSTFIX-NOTES.md sections 1.2 and 2; cleanup(8)'s
 * cleanup_map11 and mail_addr_find/mail_addr_map for canonical maps,
 * local(8) for aliases) unless satmail documents its own rule.
 *
 * Identity used throughout: myhostname host.example.org, myorigin
 * example.org, mydestination "example.org, $myhostname, localhost",
 * recipient_delimiter "+". */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aliases.h"
#include "buf.h"
#include "conf.h"
#include "envelope.h"
#include "log.h"
#include "rewrite.h"
#include "status.h"
#include "table.h"

static char tmpdir[64];

static void
setup_tmp(void)
{
	log_init("test_rewrite");
	log_set_stderr(false);	/* "several addresses" warnings are expected */
	strcpy(tmpdir, "/tmp/test_rewrite.XXXXXX");
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
	static char p[8][512];
	static int i;
	i = (i + 1) % 8;
	snprintf(p[i], sizeof p[i], "%s/%s", tmpdir, name);
	return p[i];
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "create %s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
}

/* Replaces every "@DIR@" in text with the temporary directory. */
static void
subst_dir(const char *text, struct buf *out)
{
	buf_reset(out);
	for (const char *p = text; *p;) {
		if (strncmp(p, "@DIR@", 5) == 0) {
			buf_puts(out, tmpdir);
			p += 5;
		} else {
			buf_putc(out, *p++);
		}
	}
	if (out->data == NULL)
		buf_puts(out, "");
}

/* Loads a main.cf made of the common identity and the extra lines
 * (which may use @DIR@); later lines win. */
static struct conf *
load_conf(const char *extra)
{
	struct buf text = BUF_INIT, why = BUF_INIT, x = BUF_INIT;
	subst_dir(extra ? extra : "", &x);
	buf_printf(&text,
	    "myhostname = host.example.org\n"
	    "mydomain = example.org\n"
	    "myorigin = example.org\n"
	    "mydestination = example.org, $myhostname, localhost\n"
	    "recipient_delimiter = +\n"
	    "default_database_type = cdb\n"
	    "alias_maps =\n"
	    "alias_database =\n"
	    "%s\n", x.data);
	const char *path = tmp_path("main.cf");
	write_file(path, text.data);
	struct conf *c = conf_load(path, true, &why);
	cr_assert_not_null(c, "conf_load: %s\n%s", buf_cstr(&why), text.data);
	buf_clear(&text);
	buf_clear(&why);
	buf_clear(&x);
	return c;
}

/* ================================================================ canonical */

struct canon_case {
	const char *what;
	const char *canonical;	/* texthash source for canonical_maps, or NULL */
	const char *canonical2;	/* a second texthash table after it, or NULL */
	const char *regexp;	/* a regexp table before them, or NULL */
	const char *sender;	/* texthash for sender_canonical_maps, or NULL */
	const char *recipient;	/* texthash for recipient_canonical_maps, or NULL */
	const char *extra;	/* more main.cf lines */
	enum rewrite_class cls;
	const char *addr;
	enum status_class want_cls;
	const char *want;	/* OK: the result; else a substring of the error */
};

#define S REWRITE_SENDER
#define R REWRITE_RECIPIENT
#define OK STATUS_OK
#define TEMP STATUS_TEMP
#define PERM STATUS_PERM

/* Every key of the lookup sequence for joe+ext@example.org. */
#define KEY1 "joe+ext@example.org k1@r.test\n"
#define KEY2 "joe@example.org k2@r.test\n"
#define KEY3 "joe+ext k3@r.test\n"
#define KEY4 "joe k4@r.test\n"
#define KEY5 "@example.org @r.test\n"

/* c0 -> c1 -> ... -> cN@r.test */
#define CHAIN9 "c0@example.org c1@example.org\nc1@example.org c2@example.org\n" \
	"c2@example.org c3@example.org\nc3@example.org c4@example.org\n" \
	"c4@example.org c5@example.org\nc5@example.org c6@example.org\n" \
	"c6@example.org c7@example.org\nc7@example.org c8@example.org\n" \
	"c8@example.org c9@r.test\n"
#define CHAIN10 "c0@example.org c1@example.org\nc1@example.org c2@example.org\n" \
	"c2@example.org c3@example.org\nc3@example.org c4@example.org\n" \
	"c4@example.org c5@example.org\nc5@example.org c6@example.org\n" \
	"c6@example.org c7@example.org\nc7@example.org c8@example.org\n" \
	"c8@example.org c9@example.org\nc9@example.org c10@r.test\n"

static const struct canon_case canon_cases[] = {
	/* The lookup sequence: user+ext@domain, user@domain, user+ext, user, @domain. */
	{ "key 1: the full address wins", KEY1 KEY2 KEY3 KEY4 KEY5, NULL, NULL, NULL, NULL, NULL,
	    R, "joe+ext@example.org", OK, "k1@r.test" },
	{ "key 1 found in either order", KEY5 KEY4 KEY3 KEY2 KEY1, NULL, NULL, NULL, NULL, NULL,
	    R, "joe+ext@example.org", OK, "k1@r.test" },
	{ "key 2: user@domain, extension propagated", KEY2 KEY3 KEY4 KEY5, NULL, NULL, NULL,
	    NULL, NULL, R, "joe+ext@example.org", OK, "k2+ext@r.test" },
	{ "key 3: user+ext (matched, not propagated)", KEY3 KEY4 KEY5, NULL, NULL, NULL, NULL,
	    NULL, R, "joe+ext@example.org", OK, "k3@r.test" },
	{ "key 4: user, extension propagated", KEY4 KEY5, NULL, NULL, NULL, NULL, NULL,
	    R, "joe+ext@example.org", OK, "k4+ext@r.test" },
	{ "key 5: @domain keeps the local part and extension", KEY5, NULL, NULL, NULL, NULL, NULL,
	    R, "joe+ext@example.org", OK, "joe+ext@r.test" },
	{ "no extension: user@domain", KEY1 KEY2 KEY3 KEY4 KEY5, NULL, NULL, NULL, NULL, NULL,
	    R, "joe@example.org", OK, "k2@r.test" },
	{ "no extension: user", KEY3 KEY4 KEY5, NULL, NULL, NULL, NULL, NULL,
	    R, "joe@example.org", OK, "k4@r.test" },
	{ "no extension: @domain", KEY5, NULL, NULL, NULL, NULL, NULL,
	    R, "joe@example.org", OK, "joe@r.test" },
	{ "keys fold to lower case", KEY1 KEY2, NULL, NULL, NULL, NULL, NULL,
	    R, "JOE+Ext@Example.ORG", OK, "k1@r.test" },
	{ "each key against every table before the next key", KEY4, KEY2, NULL, NULL, NULL, NULL,
	    R, "joe+ext@example.org", OK, "k2+ext@r.test" },
	{ "first table wins for the same key", "joe@example.org first@r.test\n",
	    "joe@example.org second@r.test\n", NULL, NULL, NULL, NULL,
	    R, "joe@example.org", OK, "first@r.test" },

	/* Bare-user keys only for local domains. */
	{ "bare user key not for a remote domain", KEY3 KEY4, NULL, NULL, NULL, NULL, NULL,
	    R, "joe+ext@remote.test", OK, "joe+ext@remote.test" },
	{ "user@domain key for a remote domain", "joe@remote.test k2@r.test\n", NULL, NULL, NULL,
	    NULL, NULL, R, "joe+ext@remote.test", OK, "k2+ext@r.test" },
	{ "@domain key for a remote domain", "@remote.test @r.test\n", NULL, NULL, NULL, NULL, NULL,
	    R, "a@remote.test", OK, "a@r.test" },
	{ "bare user key for $myhostname", KEY4, NULL, NULL, NULL, NULL, NULL,
	    R, "joe@host.example.org", OK, "k4@r.test" },
	{ "bare user key for localhost, any case", KEY4, NULL, NULL, NULL, NULL, NULL,
	    R, "joe@LocalHost", OK, "k4@r.test" },
	{ "bare user key for $myorigin outside mydestination", KEY4, NULL, NULL, NULL, NULL,
	    "mydestination = localhost", R, "joe@example.org", OK, "k4@r.test" },
	{ "no extension keys without recipient_delimiter", KEY2 KEY4, NULL, NULL, NULL, NULL,
	    "recipient_delimiter =", R, "joe+ext@example.org", OK, "joe+ext@example.org" },
	{ "another recipient_delimiter", "joe@example.org k2@r.test\n", NULL, NULL, NULL, NULL,
	    "recipient_delimiter = -", R, "joe-ext@example.org", OK, "k2-ext@r.test" },

	/* Results. */
	{ "result without @ gets @$myorigin", "joe@example.org newname\n", NULL, NULL, NULL,
	    NULL, NULL, R, "joe@example.org", OK, "newname@example.org" },
	{ "result @domain from a full key", "joe@example.org @r.test\n", NULL, NULL, NULL, NULL,
	    NULL, R, "joe@example.org", OK, "joe@r.test" },
	{ "several results: the first", "joe@example.org first@r.test, second@r.test\n", NULL,
	    NULL, NULL, NULL, NULL, R, "joe@example.org", OK, "first@r.test" },
	{ "a quoted comma is no separator", "joe@example.org \"a,b\"@r.test\n", NULL, NULL, NULL,
	    NULL, NULL, R, "joe@example.org", OK, "\"a,b\"@r.test" },
	{ "result in angle brackets", "joe@example.org <k@r.test>\n", NULL, NULL, NULL, NULL,
	    NULL, R, "joe@example.org", OK, "k@r.test" },
	{ "not found: unchanged", KEY1, NULL, NULL, NULL, NULL, NULL,
	    R, "other@example.org", OK, "other@example.org" },

	/* Recursion until stable, bounded. */
	{ "recursion until stable", "a@example.org b@example.org\nb@example.org c@r.test\n",
	    NULL, NULL, NULL, NULL, NULL, R, "a@example.org", OK, "c@r.test" },
	{ "maps to itself: stable", "joe@example.org joe@example.org\n", NULL, NULL, NULL, NULL,
	    NULL, R, "joe@example.org", OK, "joe@example.org" },
	{ "maps to itself in other case: stable", "joe@example.org JOE@example.org\n", NULL,
	    NULL, NULL, NULL, NULL, R, "joe@example.org", OK, "JOE@example.org" },
	{ "9 rewrites are fine", CHAIN9, NULL, NULL, NULL, NULL, NULL,
	    R, "c0@example.org", OK, "c9@r.test" },
	{ "10 rewrites: unreasonable nesting", CHAIN10, NULL, NULL, NULL, NULL, NULL,
	    R, "c0@example.org", TEMP, "unreasonable canonical_maps nesting" },
	{ "a cycle: unreasonable nesting", "a@example.org b@example.org\nb@example.org a@example.org\n",
	    NULL, NULL, NULL, NULL, NULL, R, "a@example.org", TEMP, "nesting" },

	/* Invalid results (B-17). */
	{ "empty result <>", "bad@example.org <>\n", NULL, NULL, NULL, NULL, NULL,
	    R, "bad@example.org", PERM, "invalid address from a canonical map" },
	{ "two addresses", "bad@example.org a@r.test b@r.test\n", NULL, NULL, NULL, NULL, NULL,
	    R, "bad@example.org", PERM, "invalid address from a canonical map" },
	{ "CR inside the result", "bad@example.org a\rb@r.test\n", NULL, NULL, NULL, NULL, NULL,
	    R, "bad@example.org", PERM, "invalid address from a canonical map" },
	{ "control byte inside the result", "bad@example.org a\001b@r.test\n", NULL, NULL, NULL,
	    NULL, NULL, R, "bad@example.org", PERM, "invalid address from a canonical map" },
	{ "a syntax error in the result", "bad@example.org a@@r.test\n", NULL, NULL, NULL, NULL,
	    NULL, R, "bad@example.org", PERM, "invalid address from a canonical map" },

	/* regexp: the whole address only, $1 substitution. */
	{ "regexp with $1", NULL, NULL, "/^(.*)@old\\.test$/ ${1}@new.test\n", NULL, NULL, NULL,
	    R, "joe+ext@old.test", OK, "joe+ext@new.test" },
	{ "regexp sees no partial keys", NULL, NULL,
	    "/^joe$/ wrong@r.test\n/^joe\\+ext$/ wrong@r.test\n/^@example\\.org$/ wrong@r.test\n"
	    "/^joe@example\\.org$/ wrong@r.test\n", NULL, NULL, NULL,
	    R, "joe+ext@example.org", OK, "joe+ext@example.org" },
	{ "regexp is case-insensitive by default", NULL, NULL,
	    "/^JOE@EXAMPLE\\.ORG$/ k@r.test\n", NULL, NULL, NULL,
	    R, "joe@example.org", OK, "k@r.test" },
	{ "regexp result without @ gets @$myorigin", NULL, NULL, "/^(.*)@old\\.test$/ $1\n",
	    NULL, NULL, NULL, R, "joe@old.test", OK, "joe@example.org" },
	{ "regexp then texthash for later keys", KEY4, NULL, "/^nomatch$/ x@r.test\n", NULL,
	    NULL, NULL, R, "joe@example.org", OK, "k4@r.test" },

	/* Classes and order. */
	{ "sender map not for recipients", NULL, NULL, NULL, "joe@example.org s@r.test\n", NULL,
	    NULL, R, "joe@example.org", OK, "joe@example.org" },
	{ "sender map for senders", NULL, NULL, NULL, "joe@example.org s@r.test\n", NULL,
	    NULL, S, "joe@example.org", OK, "s@r.test" },
	{ "recipient map not for senders", NULL, NULL, NULL, NULL, "joe@example.org r@r.test\n",
	    NULL, S, "joe@example.org", OK, "joe@example.org" },
	{ "recipient map for recipients", NULL, NULL, NULL, NULL, "joe@example.org r@r.test\n",
	    NULL, R, "joe@example.org", OK, "r@r.test" },
	{ "canonical map for both (sender)", "joe@example.org c@r.test\n", NULL, NULL, NULL, NULL,
	    NULL, S, "joe@example.org", OK, "c@r.test" },
	{ "sender map, then canonical", "b@example.org c@r.test\n", NULL, NULL,
	    "a@example.org b@example.org\n", NULL, NULL, S, "a@example.org", OK, "c@r.test" },
	{ "canonical, then no second sender pass", "a@example.org b@example.org\n", NULL, NULL,
	    "b@example.org c@r.test\n", NULL, NULL, S, "a@example.org", OK, "b@example.org" },
	{ "recipient map, then canonical", "b@example.org c@r.test\n", NULL, NULL, NULL,
	    "a@example.org b@example.org\n", NULL, R, "a@example.org", OK, "c@r.test" },
	{ "the null sender stays null", KEY5, NULL, NULL, "@example.org @r.test\n", NULL, NULL,
	    S, "", OK, "" },

	/* Tables that cannot be used: TEMP. */
	{ "missing texthash table", NULL, NULL, NULL, NULL, NULL,
	    "canonical_maps = texthash:@DIR@/nonexistent", R, "joe@example.org", TEMP, "nonexistent" },
	{ "failing table", NULL, NULL, NULL, NULL, NULL, "canonical_maps = fail:x",
	    R, "joe@example.org", TEMP, "fail:x" },
	{ "missing cdb table", NULL, NULL, NULL, NULL, NULL,
	    "sender_canonical_maps = cdb:@DIR@/nonexistent", S, "joe@example.org", TEMP, "nonexistent" },
};

static void
run_canon_case(const struct canon_case *k)
{
	struct buf extra = BUF_INIT, out = BUF_INIT, list = BUF_INIT;
	struct status st;
	status_init(&st);
	if (k->regexp) {
		write_file(tmp_path("canon.re"), k->regexp);
		buf_printf(&list, "regexp:%s", tmp_path("canon.re"));
	}
	if (k->canonical) {
		write_file(tmp_path("canon"), k->canonical);
		buf_printf(&list, "%stexthash:%s", list.len ? ", " : "", tmp_path("canon"));
	}
	if (k->canonical2) {
		write_file(tmp_path("canon2"), k->canonical2);
		buf_printf(&list, "%stexthash:%s", list.len ? ", " : "", tmp_path("canon2"));
	}
	if (list.len)
		buf_printf(&extra, "canonical_maps = %s\n", list.data);
	if (k->sender) {
		write_file(tmp_path("sender"), k->sender);
		buf_printf(&extra, "sender_canonical_maps = texthash:%s\n", tmp_path("sender"));
	}
	if (k->recipient) {
		write_file(tmp_path("recipient"), k->recipient);
		buf_printf(&extra, "recipient_canonical_maps = texthash:%s\n", tmp_path("recipient"));
	}
	if (k->extra)
		buf_printf(&extra, "%s\n", k->extra);
	struct conf *c = load_conf(buf_cstr(&extra));
	struct rewrite *rw = rewrite_new(c);
	bool ok = rewrite_canonical(rw, k->cls, k->addr, &out, &st);
	if (k->want_cls == STATUS_OK) {
		cr_expect(ok, "%s: <%s> failed: %s", k->what, k->addr, buf_cstr(&st.text));
		if (ok)
			cr_expect_str_eq(buf_cstr(&out), k->want, "%s: <%s> -> <%s>, want <%s>", k->what,
			    k->addr, buf_cstr(&out), k->want);
	} else {
		cr_expect(!ok, "%s: <%s> -> <%s>, want an error", k->what, k->addr, buf_cstr(&out));
		if (!ok) {
			cr_expect_eq(st.cls, k->want_cls, "%s: class %s, want %s (%s)", k->what,
			    status_class_name(st.cls), status_class_name(k->want_cls),
			    buf_cstr(&st.text));
			cr_expect(strstr(buf_cstr(&st.text), k->want) != NULL,
			    "%s: error \"%s\" lacks \"%s\"", k->what, buf_cstr(&st.text), k->want);
		}
	}
	rewrite_free(rw);
	conf_free(c);
	buf_clear(&extra);
	buf_clear(&out);
	buf_clear(&list);
	status_clear(&st);
	unlink(tmp_path("canon"));
	unlink(tmp_path("canon2"));
	unlink(tmp_path("canon.re"));
	unlink(tmp_path("sender"));
	unlink(tmp_path("recipient"));
}

Test(canonical, table, .init = setup_tmp, .fini = teardown_tmp)
{
	for (size_t i = 0; i < sizeof canon_cases / sizeof canon_cases[0]; i++)
		run_canon_case(&canon_cases[i]);
}

/* Results with CR or LF can only come from a built table: cdb values are
 * bytes.  Such a result must never become an address (B-17). */
Test(canonical, cdb_results_with_line_ends, .init = setup_tmp, .fini = teardown_tmp)
{
	static const struct { const char *key, *value; } bad[] = {
		{ "lf@example.org", "a\nb@r.test" },
		{ "crlf@example.org", "a@r.test\r\nRCPT TO:<x@evil.test>" },
		{ "space@example.org", " " },
	};
	struct conf *c = load_conf("");
	struct status st;
	struct buf spec = BUF_INIT, out = BUF_INIT, extra = BUF_INIT;
	status_init(&st);
	buf_printf(&spec, "cdb:%s", tmp_path("bytes"));
	struct table_builder *b = table_build_start(spec.data, c, 0, 0644, &st);
	cr_assert_not_null(b, "%s", buf_cstr(&st.text));
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_neq(table_build_add(b, bad[i].key, bad[i].value, &st), TABLE_ERROR);
	cr_assert(table_build_commit(b, &st), "%s", buf_cstr(&st.text));
	table_build_free(b);
	conf_free(c);

	buf_printf(&extra, "canonical_maps = %s", spec.data);
	c = load_conf(extra.data);
	struct rewrite *rw = rewrite_new(c);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		bool ok = rewrite_canonical(rw, REWRITE_RECIPIENT, bad[i].key, &out, &st);
		cr_expect(!ok, "<%s> rewritten to <%s>", bad[i].key, buf_cstr(&out));
		if (!ok)
			cr_expect_eq(st.cls, STATUS_PERM, "<%s>: %s", bad[i].key, buf_cstr(&st.text));
	}
	rewrite_free(rw);
	conf_free(c);
	buf_clear(&spec);
	buf_clear(&out);
	buf_clear(&extra);
	status_clear(&st);
}

/* A trailing CR or white space is no part of the result (Postfix's
 * address tokenizer takes it as white space). */
Test(canonical, trailing_white_space, .init = setup_tmp, .fini = teardown_tmp)
{
	struct conf *c = load_conf("");
	struct status st;
	struct buf spec = BUF_INIT, out = BUF_INIT, extra = BUF_INIT;
	status_init(&st);
	buf_printf(&spec, "cdb:%s", tmp_path("bytes"));
	struct table_builder *b = table_build_start(spec.data, c, 0, 0644, &st);
	cr_assert_not_null(b, "%s", buf_cstr(&st.text));
	cr_assert_neq(table_build_add(b, "cr@example.org", "a@r.test\r", &st), TABLE_ERROR);
	cr_assert_neq(table_build_add(b, "sp@example.org", "  b@r.test \t", &st), TABLE_ERROR);
	cr_assert(table_build_commit(b, &st), "%s", buf_cstr(&st.text));
	table_build_free(b);
	conf_free(c);
	buf_printf(&extra, "canonical_maps = %s", spec.data);
	c = load_conf(extra.data);
	struct rewrite *rw = rewrite_new(c);
	cr_expect(rewrite_canonical(rw, REWRITE_RECIPIENT, "cr@example.org", &out, &st), "%s",
	    buf_cstr(&st.text));
	cr_expect_str_eq(buf_cstr(&out), "a@r.test");
	cr_expect(rewrite_canonical(rw, REWRITE_RECIPIENT, "sp@example.org", &out, &st), "%s",
	    buf_cstr(&st.text));
	cr_expect_str_eq(buf_cstr(&out), "b@r.test");
	rewrite_free(rw);
	conf_free(c);
	buf_clear(&spec);
	buf_clear(&out);
	buf_clear(&extra);
	status_clear(&st);
}

/* inline: tables work as canonical maps too. */
Test(canonical, inline_table, .init = setup_tmp, .fini = teardown_tmp)
{
	struct conf *c = load_conf("canonical_maps = inline:{ joe@example.org=k2@r.test, "
	    "@old.test=@new.test }");
	struct rewrite *rw = rewrite_new(c);
	struct buf out = BUF_INIT;
	struct status st;
	status_init(&st);
	cr_expect(rewrite_canonical(rw, REWRITE_RECIPIENT, "joe+x@example.org", &out, &st), "%s",
	    buf_cstr(&st.text));
	cr_expect_str_eq(buf_cstr(&out), "k2+x@r.test");
	cr_expect(rewrite_canonical(rw, REWRITE_SENDER, "ann@old.test", &out, &st), "%s",
	    buf_cstr(&st.text));
	cr_expect_str_eq(buf_cstr(&out), "ann@new.test");
	rewrite_free(rw);
	conf_free(c);
	buf_clear(&out);
	status_clear(&st);
}

/* ================================================================ headers */

struct header_case {
	enum rewrite_class cls;
	const char *field;
	const char *want;	/* "" = unchanged (new_text stays empty) */
};

static const struct header_case header_cases[] = {
	{ S, "From: Joe Bloggs <joe@example.org>\n", "From: Joe Bloggs <Joe.Bloggs@corp.test>\n" },
	{ S, "From: \"Bloggs, Joe\" <joe@example.org> (at home)\n",
	    "From: \"Bloggs, Joe\" <Joe.Bloggs@corp.test> (at home)\n" },
	{ S, "From: joe@example.org (Joe Bloggs)\n", "From: Joe.Bloggs@corp.test (Joe Bloggs)\n" },
	{ S, "From: =?UTF-8?Q?J=C3=B6e?= <joe@example.org>\n",
	    "From: =?UTF-8?Q?J=C3=B6e?= <Joe.Bloggs@corp.test>\n" },
	{ S, "From:   Joe   <joe@example.org>  \n", "From:   Joe   <Joe.Bloggs@corp.test>  \n" },
	{ R, "To: a@old.test,\n\tJoe <joe@example.org>,\n  other@else.test\n",
	    "To: a@new.test,\n\tJoe <Joe.Bloggs@corp.test>,\n  other@else.test\n" },
	{ R, "To: Joe\n <joe@example.org>\n", "To: Joe\n <Joe.Bloggs@corp.test>\n" },
	{ R, "To: root\n", "To: root@example.org\n" },
	{ R, "To: Root <root>\n", "To: Root <root@example.org>\n" },
	{ R, "Cc: friends: joe@example.org, x@else.test;\n",
	    "Cc: friends: Joe.Bloggs@corp.test, x@else.test;\n" },
	{ R, "To: Joe <JOE@Example.ORG>\n", "To: Joe <Joe.Bloggs@corp.test>\n" },
	{ R, "To: x@else.test\n", "" },
	{ R, "To: x@ELSE.test, \"a b\"@else.test\n", "" },
	{ R, "To: undisclosed-recipients:;\n", "" },
	{ R, "To: <<broken\n", "" },
	{ S, "From: Sam <sam@example.org>\n", "From: Sam <sender-sam@corp.test>\n" },
	{ R, "To: Sam <sam@example.org>\n", "To: Sam <rcpt-sam@corp.test>\n" },
	{ S, "Reply-To: joe+lists@example.org\n", "Reply-To: Joe.Bloggs+lists@corp.test\n" },
};

Test(headers, table, .init = setup_tmp, .fini = teardown_tmp)
{
	write_file(tmp_path("canon"), "joe@example.org Joe.Bloggs@corp.test\n@old.test @new.test\n");
	write_file(tmp_path("sender"), "sam@example.org sender-sam@corp.test\n");
	write_file(tmp_path("recipient"), "sam@example.org rcpt-sam@corp.test\n");
	struct conf *c = load_conf("canonical_maps = texthash:@DIR@/canon\n"
	    "sender_canonical_maps = texthash:@DIR@/sender\n"
	    "recipient_canonical_maps = texthash:@DIR@/recipient\n");
	struct rewrite *rw = rewrite_new(c);
	struct buf out = BUF_INIT;
	struct status st;
	status_init(&st);
	for (size_t i = 0; i < sizeof header_cases / sizeof header_cases[0]; i++) {
		const struct header_case *k = &header_cases[i];
		size_t name_len = (size_t)(strchr(k->field, ':') - k->field);
		bool ok = rewrite_header(rw, k->cls, k->field, name_len, strlen(k->field), &out, &st);
		cr_expect(ok, "%s: %s", k->field, buf_cstr(&st.text));
		cr_expect_str_eq(buf_cstr(&out), k->want, "header [%s] -> [%s], want [%s]", k->field,
		    buf_cstr(&out), k->want);
	}
	rewrite_free(rw);
	conf_free(c);
	buf_clear(&out);
	status_clear(&st);
}

/* A header address whose canonical result is invalid fails the call. */
Test(headers, invalid_result, .init = setup_tmp, .fini = teardown_tmp)
{
	write_file(tmp_path("canon"), "bad@example.org <>\n");
	struct conf *c = load_conf("canonical_maps = texthash:@DIR@/canon\n");
	struct rewrite *rw = rewrite_new(c);
	struct buf out = BUF_INIT;
	struct status st;
	status_init(&st);
	const char *f = "To: ok@else.test, Bad <bad@example.org>\n";
	cr_expect(!rewrite_header(rw, REWRITE_RECIPIENT, f, 2, strlen(f), &out, &st));
	cr_expect_eq(st.cls, STATUS_PERM, "%s", buf_cstr(&st.text));
	rewrite_free(rw);
	conf_free(c);
	buf_clear(&out);
	status_clear(&st);
}

/* ================================================================ aliases */

static const char alias_source[] =
	"# test aliases\n"
	"root: admin\n"
	"postmaster: root\n"
	"a: b\n"
	"b: c, d\n"
	"loop1: loop2\n"
	"loop2: loop3\n"
	"loop3: loop1\n"
	"selfloop: selfloop\n"
	"alice: alice, bob\n"
	"dups: x, y, X, y@example.org, z\n"
	"z: x\n"
	"list: a1, a2, sub\n"
	"owner-list: listadmin\n"
	"sub: s1, s2\n"
	"owner-sub: subadmin\n"
	"plain: p1\n"
	"tagged+special: special-target\n"
	"tagged: tagged-target\n"
	"Mixed: m1\n"
	"prog: \"|/bin/cat -n\"\n"
	"file: /var/tmp/satmail-test-file\n"
	"both: someone, \"|/usr/bin/logger -t x\", /var/tmp/f2\n"
	"inc: :include:@DIR@/inc.list\n"
	"incprog: :include:@DIR@/incprog.list\n"
	"incmissing: :include:@DIR@/no-such.list\n"
	"remote: bob@remote.test\n"
	"quotedtarget: \"john doe\"@remote.test\n"
	"\"weird name\": w1\n"
	"badtarget: a@@b\n";

static const char inc_list[] = "# members\ni1\ni2, i3\n\n  i4  \n";
static const char incprog_list[] = "\"|/bin/echo hi\"\n/var/tmp/incfile\n";

struct expand_case {
	const char *what;
	const char *extra;	/* main.cf lines */
	const char *addr;
	enum status_class want_cls;
	const char *want;	/* OK: the recipients (see format_rcpts); else error text part */
	const char *dsn;	/* for errors */
};

static const struct expand_case expand_cases[] = {
	{ "simple alias", NULL, "root@example.org", OK, "admin@example.org orig=root@example.org", NULL },
	{ "recursion", NULL, "postmaster@example.org", OK,
	    "admin@example.org orig=postmaster@example.org", NULL },
	{ "recursion to several", NULL, "a@example.org", OK,
	    "c@example.org orig=a@example.org|d@example.org orig=a@example.org", NULL },
	{ "loop a->b->c->a", NULL, "loop1@example.org", PERM, "alias database loop", "5.4.6" },
	{ "loop entered in the middle", NULL, "loop2@example.org", PERM, "alias database loop", "5.4.6" },
	{ "self-alias only: the mailbox", NULL, "selfloop@example.org", OK, "selfloop@example.org", NULL },
	{ "self-alias and more", NULL, "alice@example.org", OK,
	    "alice@example.org|bob@example.org orig=alice@example.org", NULL },
	{ "duplicates removed", NULL, "dups@example.org", OK,
	    "x@example.org orig=dups@example.org|y@example.org orig=dups@example.org", NULL },
	{ "owner-NAME recorded, nested owners", NULL, "list@example.org", OK,
	    "a1@example.org orig=list@example.org owner=owner-list@example.org|"
	    "a2@example.org orig=list@example.org owner=owner-list@example.org|"
	    "s1@example.org orig=list@example.org owner=owner-sub@example.org|"
	    "s2@example.org orig=list@example.org owner=owner-sub@example.org", NULL },
	{ "owner-NAME itself", NULL, "owner-list@example.org", OK,
	    "listadmin@example.org orig=owner-list@example.org", NULL },
	{ "user+ext falls back to user", NULL, "plain+foo@example.org", OK,
	    "p1@example.org orig=plain+foo@example.org", NULL },
	{ "user+ext found as such", NULL, "tagged+special@example.org", OK,
	    "special-target@example.org orig=tagged+special@example.org", NULL },
	{ "user+other ext falls back to user", NULL, "tagged+other@example.org", OK,
	    "tagged-target@example.org orig=tagged+other@example.org", NULL },
	{ "no alias keeps the extension", NULL, "nobody+ext@example.org", OK,
	    "nobody+ext@example.org", NULL },
	{ "case-insensitive names", NULL, "MIXED@Example.ORG", OK,
	    "m1@example.org orig=MIXED@Example.ORG", NULL },
	{ "case-insensitive names (upper key)", NULL, "ROOT@example.org", OK,
	    "admin@example.org orig=ROOT@example.org", NULL },
	{ "other local domain (targets get @$myorigin)", NULL, "root@host.example.org", OK,
	    "admin@example.org orig=root@host.example.org", NULL },
	{ "command target (allowed from alias)", NULL, "prog@example.org", OK,
	    "prog@example.org orig=prog@example.org type=command target=/bin/cat -n", NULL },
	{ "file target (allowed from alias)", NULL, "file@example.org", OK,
	    "file@example.org orig=file@example.org type=file target=/var/tmp/satmail-test-file", NULL },
	{ "address, command and file", NULL, "both@example.org", OK,
	    "someone@example.org orig=both@example.org|"
	    "both@example.org orig=both@example.org type=command target=/usr/bin/logger -t x|"
	    "both@example.org orig=both@example.org type=file target=/var/tmp/f2", NULL },
	{ "command refused: allow_mail_to_commands empty", "allow_mail_to_commands =",
	    "prog@example.org", PERM, "allow_mail_to_commands", "5.7.1" },
	{ "file refused: allow_mail_to_files empty", "allow_mail_to_files =",
	    "file@example.org", PERM, "allow_mail_to_files", "5.7.1" },
	{ ":include: file", NULL, "inc@example.org", OK,
	    "i1@example.org orig=inc@example.org|i2@example.org orig=inc@example.org|"
	    "i3@example.org orig=inc@example.org|i4@example.org orig=inc@example.org", NULL },
	{ ":include: command refused by default", NULL, "incprog@example.org", PERM,
	    "allow_mail_to_commands", "5.7.1" },
	{ ":include: file refused without include class", "allow_mail_to_commands = alias, include",
	    "incprog@example.org", PERM, "allow_mail_to_files", "5.7.1" },
	{ ":include: command and file allowed", "allow_mail_to_commands = alias, include\n"
	    "allow_mail_to_files = alias, include", "incprog@example.org", OK,
	    "incprog@example.org orig=incprog@example.org type=command target=/bin/echo hi|"
	    "incprog@example.org orig=incprog@example.org type=file target=/var/tmp/incfile", NULL },
	{ "missing :include: file", NULL, "incmissing@example.org", TEMP, "no-such.list", NULL },
	{ "remote target", NULL, "remote@example.org", OK, "bob@remote.test orig=remote@example.org", NULL },
	{ "quoted local part in a target", NULL, "quotedtarget@example.org", OK,
	    "\"john doe\"@remote.test orig=quotedtarget@example.org", NULL },
	{ "quoted alias name", NULL, "\"weird name\"@example.org", OK,
	    "w1@example.org orig=\"weird name\"@example.org", NULL },
	{ "bad target address", NULL, "badtarget@example.org", PERM, "badtarget", NULL },
	{ "non-local recipient untouched", NULL, "root@remote.test", OK, "root@remote.test", NULL },
	{ "not an alias: the mailbox", NULL, "nosuch@example.org", OK, "nosuch@example.org", NULL },
	{ "bare target is qualified with $myorigin (Postfix)", NULL, "root@localhost", OK,
	    "admin@example.org orig=root@localhost", NULL },
};

/* "addr[ orig=O][ owner=W][ type=T target=X]" joined by '|'. */
static void
format_rcpts(const struct envelope *e, struct buf *out)
{
	buf_reset(out);
	buf_puts(out, "");
	for (size_t i = 0; i < e->nrcpt; i++) {
		const struct rcpt *r = &e->rcpt[i];
		buf_printf(out, "%s%s", i ? "|" : "", r->addr);
		if (r->orig)
			buf_printf(out, " orig=%s", r->orig);
		if (r->owner)
			buf_printf(out, " owner=%s", r->owner);
		if (r->type != RCPT_ADDRESS)
			buf_printf(out, " type=%s target=%s", r->type == RCPT_FILE ? "file" : "command",
			    r->target ? r->target : "(null)");
	}
}

/* Writes the alias source and include files, builds cdb:@DIR@/aliases
 * with aliases_build, and returns a conf that uses it plus extra. */
static struct conf *
alias_conf(const char *extra)
{
	struct buf src = BUF_INIT, spec = BUF_INIT, more = BUF_INIT;
	struct status st;
	size_t n;
	status_init(&st);
	subst_dir(alias_source, &src);
	write_file(tmp_path("aliases"), src.data);
	write_file(tmp_path("inc.list"), inc_list);
	write_file(tmp_path("incprog.list"), incprog_list);
	buf_printf(&more, "alias_maps = cdb:@DIR@/aliases\nalias_database = cdb:@DIR@/aliases\n%s",
	    extra ? extra : "");
	struct conf *c = load_conf(more.data);
	buf_printf(&spec, "cdb:%s", tmp_path("aliases"));
	cr_assert(aliases_build(spec.data, c, &n, &st), "newaliases: %s", buf_cstr(&st.text));
	buf_clear(&src);
	buf_clear(&spec);
	buf_clear(&more);
	status_clear(&st);
	return c;
}

static void
run_expand_case(const struct expand_case *k)
{
	struct conf *c = alias_conf(k->extra);
	struct rewrite *rw = rewrite_new(c);
	struct envelope env;
	struct buf got = BUF_INIT;
	struct status st;
	status_init(&st);
	envelope_init(&env);
	bool ok = rewrite_expand(rw, k->addr, k->addr, 0, &env, NULL, &st);
	format_rcpts(&env, &got);
	if (k->want_cls == STATUS_OK) {
		cr_expect(ok, "%s: <%s> failed: %s", k->what, k->addr, buf_cstr(&st.text));
		cr_expect_str_eq(got.data, k->want, "%s: <%s>\n  got  [%s]\n  want [%s]", k->what,
		    k->addr, got.data, k->want);
	} else {
		cr_expect(!ok, "%s: <%s> expanded to [%s], want an error", k->what, k->addr, got.data);
		if (!ok) {
			cr_expect_eq(st.cls, k->want_cls, "%s: class %s (%s)", k->what,
			    status_class_name(st.cls), buf_cstr(&st.text));
			cr_expect(strstr(buf_cstr(&st.text), k->want) != NULL,
			    "%s: error \"%s\" lacks \"%s\"", k->what, buf_cstr(&st.text), k->want);
			if (k->dsn)
				cr_expect_str_eq(st.dsn, k->dsn, "%s: dsn %s", k->what, st.dsn);
		}
	}
	envelope_clear(&env);
	rewrite_free(rw);
	conf_free(c);
	buf_clear(&got);
	status_clear(&st);
}

Test(aliases, expand_table, .init = setup_tmp, .fini = teardown_tmp)
{
	for (size_t i = 0; i < sizeof expand_cases / sizeof expand_cases[0]; i++)
		run_expand_case(&expand_cases[i]);
}

/* Two recipients of one message that expand to the same address give one
 * recipient; the envelope keeps what was there before. */
Test(aliases, duplicates_across_recipients, .init = setup_tmp, .fini = teardown_tmp)
{
	struct conf *c = alias_conf(NULL);
	struct rewrite *rw = rewrite_new(c);
	struct envelope env;
	struct buf got = BUF_INIT;
	struct status st;
	status_init(&st);
	envelope_init(&env);
	cr_assert(rewrite_expand(rw, "root@example.org", "root@example.org", 0, &env, NULL, &st));
	cr_assert(rewrite_expand(rw, "postmaster@example.org", "postmaster@example.org", 0, &env,
	    NULL, &st));
	cr_assert(rewrite_expand(rw, "admin@example.org", "admin@example.org", 0, &env, NULL, &st));
	format_rcpts(&env, &got);
	cr_expect_str_eq(got.data, "admin@example.org orig=root@example.org", "[%s]", got.data);
	envelope_clear(&env);
	rewrite_free(rw);
	conf_free(c);
	buf_clear(&got);
	status_clear(&st);
}

/* The NOTIFY value given is carried to each expanded recipient. */
Test(aliases, notify_carried, .init = setup_tmp, .fini = teardown_tmp)
{
	struct conf *c = alias_conf(NULL);
	struct rewrite *rw = rewrite_new(c);
	struct envelope env;
	struct status st;
	status_init(&st);
	envelope_init(&env);
	cr_assert(rewrite_expand(rw, "a@example.org", "a@example.org", NOTIFY_FAILURE | NOTIFY_DELAY,
	    &env, NULL, &st), "%s", buf_cstr(&st.text));
	cr_assert_eq(env.nrcpt, 2);
	for (size_t i = 0; i < env.nrcpt; i++)
		cr_expect_eq(env.rcpt[i].notify, NOTIFY_FAILURE | NOTIFY_DELAY);
	envelope_clear(&env);
	rewrite_free(rw);
	conf_free(c);
	status_clear(&st);
}

/* B-15: a deep chain is fine up to the depth limit, a deeper one is a
 * loop; a fan-out beyond the expansion limit fails. */
Test(aliases, depth_and_fanout_limits, .init = setup_tmp, .fini = teardown_tmp)
{
	struct buf src = BUF_INIT, spec = BUF_INIT, got = BUF_INIT;
	struct status st;
	size_t n;
	status_init(&st);
	for (int i = 0; i < 50; i++)
		buf_printf(&src, "short%d: short%d\n", i, i + 1);
	for (int i = 0; i < 150; i++)
		buf_printf(&src, "deep%d: deep%d\n", i, i + 1);
	buf_puts(&src, "fan: ");
	for (int i = 0; i <= REWRITE_MAX_EXPANSION; i++)
		buf_printf(&src, "%su%d", i ? ", " : "", i);
	buf_puts(&src, "\n");
	write_file(tmp_path("aliases"), src.data);
	struct conf *c = load_conf("alias_maps = cdb:@DIR@/aliases\n");
	buf_printf(&spec, "cdb:%s", tmp_path("aliases"));
	cr_assert(aliases_build(spec.data, c, &n, &st), "%s", buf_cstr(&st.text));
	struct rewrite *rw = rewrite_new(c);
	struct envelope env;

	envelope_init(&env);
	cr_expect(rewrite_expand(rw, "short0@example.org", "short0@example.org", 0, &env, NULL, &st),
	    "50 deep: %s", buf_cstr(&st.text));
	format_rcpts(&env, &got);
	cr_expect_str_eq(got.data, "short50@example.org orig=short0@example.org");
	envelope_clear(&env);

	envelope_init(&env);
	cr_expect(!rewrite_expand(rw, "deep0@example.org", "deep0@example.org", 0, &env, NULL, &st),
	    "150 deep accepted");
	cr_expect_eq(st.cls, STATUS_PERM);
	cr_expect_str_eq(st.dsn, "5.4.6");
	envelope_clear(&env);

	envelope_init(&env);
	cr_expect(!rewrite_expand(rw, "fan@example.org", "fan@example.org", 0, &env, NULL, &st),
	    "fan-out of %d accepted", REWRITE_MAX_EXPANSION + 1);
	cr_expect_eq(st.cls, STATUS_PERM, "%s", buf_cstr(&st.text));
	envelope_clear(&env);

	rewrite_free(rw);
	conf_free(c);
	buf_clear(&src);
	buf_clear(&spec);
	buf_clear(&got);
	status_clear(&st);
}

/* An :include: file that includes itself is a loop, not a hang (B-15). */
Test(aliases, include_loop, .init = setup_tmp, .fini = teardown_tmp)
{
	struct buf src = BUF_INIT, spec = BUF_INIT;
	struct status st;
	size_t n;
	status_init(&st);
	subst_dir("selfinc: :include:@DIR@/self.list\n", &src);
	write_file(tmp_path("aliases"), src.data);
	subst_dir("x1\n:include:@DIR@/self.list\n", &src);
	write_file(tmp_path("self.list"), src.data);
	struct conf *c = load_conf("alias_maps = cdb:@DIR@/aliases\n");
	buf_printf(&spec, "cdb:%s", tmp_path("aliases"));
	cr_assert(aliases_build(spec.data, c, &n, &st), "%s", buf_cstr(&st.text));
	struct rewrite *rw = rewrite_new(c);
	struct envelope env;
	envelope_init(&env);
	cr_expect(!rewrite_expand(rw, "selfinc@example.org", "selfinc@example.org", 0, &env, NULL, &st),
	    "self-including file accepted");
	cr_expect_eq(st.cls, STATUS_PERM, "%s", buf_cstr(&st.text));
	envelope_clear(&env);
	rewrite_free(rw);
	conf_free(c);
	buf_clear(&src);
	buf_clear(&spec);
	status_clear(&st);
}

/* Alias database states: missing db and source = no aliases; missing db
 * with a source = TEMP "run newaliases". */
Test(aliases, missing_database, .init = setup_tmp, .fini = teardown_tmp)
{
	struct envelope env;
	struct buf got = BUF_INIT;
	struct status st;
	status_init(&st);

	struct conf *c = load_conf("alias_maps = cdb:@DIR@/none\n");
	struct rewrite *rw = rewrite_new(c);
	envelope_init(&env);
	cr_expect(rewrite_expand(rw, "root@example.org", "root@example.org", 0, &env, NULL, &st),
	    "no db, no source: %s", buf_cstr(&st.text));
	format_rcpts(&env, &got);
	cr_expect_str_eq(got.data, "root@example.org");
	envelope_clear(&env);
	rewrite_free(rw);
	conf_free(c);

	write_file(tmp_path("unbuilt"), "root: admin\n");
	c = load_conf("alias_maps = cdb:@DIR@/unbuilt\n");
	rw = rewrite_new(c);
	envelope_init(&env);
	cr_expect(!rewrite_expand(rw, "root@example.org", "root@example.org", 0, &env, NULL, &st),
	    "source without db accepted");
	cr_expect_eq(st.cls, STATUS_TEMP);
	cr_expect(strstr(buf_cstr(&st.text), "run newaliases") != NULL, "%s", buf_cstr(&st.text));
	envelope_clear(&env);
	/* Non-local recipients never need the table. */
	envelope_init(&env);
	cr_expect(rewrite_expand(rw, "root@remote.test", "root@remote.test", 0, &env, NULL, &st),
	    "remote with unbuilt db: %s", buf_cstr(&st.text));
	envelope_clear(&env);
	rewrite_free(rw);
	conf_free(c);

	/* A missing db whose source exists is TEMP for the default type too. */
	c = load_conf("alias_maps = hash:@DIR@/unbuilt\n");
	rw = rewrite_new(c);
	envelope_init(&env);
	cr_expect(!rewrite_expand(rw, "root@example.org", "root@example.org", 0, &env, NULL, &st));
	cr_expect_eq(st.cls, STATUS_TEMP);
	envelope_clear(&env);
	rewrite_free(rw);
	conf_free(c);

	buf_clear(&got);
	status_clear(&st);
}

/* rewrite_alias_lookup, as satmail-queue uses it. */
Test(aliases, alias_lookup, .init = setup_tmp, .fini = teardown_tmp)
{
	struct conf *c = alias_conf(NULL);
	struct rewrite *rw = rewrite_new(c);
	struct buf v = BUF_INIT;
	struct status st;
	status_init(&st);
	cr_expect_eq(rewrite_alias_lookup(rw, "prog", &v, &st), TABLE_FOUND);
	cr_expect_str_eq(buf_cstr(&v), "\"|/bin/cat -n\"");
	cr_expect_eq(rewrite_alias_lookup(rw, "mixed", &v, &st), TABLE_FOUND);
	cr_expect_eq(rewrite_alias_lookup(rw, "nosuch", &v, &st), TABLE_NOTFOUND);
	rewrite_free(rw);
	conf_free(c);
	buf_clear(&v);
	status_clear(&st);
}

/* The -bv trace names each step. */
struct trace_log {
	struct buf text;
};

static void
trace_note(void *ctx, int depth, const char *fmt, ...)
{
	struct trace_log *t = ctx;
	va_list ap;
	buf_printf(&t->text, "%d:", depth);
	va_start(ap, fmt);
	buf_vprintf(&t->text, fmt, ap);
	va_end(ap);
	buf_putc(&t->text, '\n');
}

Test(aliases, trace, .init = setup_tmp, .fini = teardown_tmp)
{
	struct conf *c = alias_conf(NULL);
	struct rewrite *rw = rewrite_new(c);
	struct envelope env;
	struct trace_log log = { BUF_INIT };
	struct rewrite_trace trace = { trace_note, &log };
	struct status st;
	status_init(&st);
	envelope_init(&env);
	cr_assert(rewrite_expand(rw, "postmaster@example.org", "postmaster@example.org", 0, &env,
	    &trace, &st), "%s", buf_cstr(&st.text));
	cr_expect(strstr(buf_cstr(&log.text), "0:postmaster@example.org: alias postmaster -> root") != NULL,
	    "%s", buf_cstr(&log.text));
	cr_expect(strstr(buf_cstr(&log.text), "1:root@example.org: alias root -> admin") != NULL,
	    "%s", buf_cstr(&log.text));
	cr_expect(strstr(buf_cstr(&log.text), "2:admin@example.org: local mailbox") != NULL,
	    "%s", buf_cstr(&log.text));
	envelope_clear(&env);
	rewrite_free(rw);
	conf_free(c);
	buf_clear(&log.text);
	status_clear(&st);
}
