/* test_conf - main.cf parsing, expansion, defaults and validation.
 *
 * Each case writes a main.cf to a temporary file and loads it.  Log lines
 * go to a temporary file so that warnings can be checked.  myorigin's
 * default source is pointed at a missing file (SATMAIL_MAILNAME_FILE) so
 * the machine's /etc/mailname cannot change the results; cases that need
 * a known host name set it in a private UTS namespace (Criterion runs
 * every test in its own process) and are skipped where that is refused. */
#include <criterion/criterion.h>

#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "log.h"

#ifndef SATMAIL_QUEUEDIR
#define SATMAIL_QUEUEDIR "/var/spool/satmail"
#endif

static char cf_path[64];	/* the main.cf of the current test */
static char log_path[64];	/* where log_warning() lines go */
static char aux_path[64];	/* a mailname / myorigin file */

static void
make_temp(char *path, size_t size, const char *tmpl)
{
	snprintf(path, size, "%s", tmpl);
	int fd = mkstemp(path);
	cr_assert(fd >= 0, "mkstemp %s", tmpl);
	close(fd);
}

static void
write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");
	cr_assert(f, "fopen %s", path);
	cr_assert_eq(fwrite(text, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

static void
setup(void)
{
	make_temp(cf_path, sizeof cf_path, "/tmp/test_conf_cf.XXXXXX");
	make_temp(log_path, sizeof log_path, "/tmp/test_conf_log.XXXXXX");
	make_temp(aux_path, sizeof aux_path, "/tmp/test_conf_aux.XXXXXX");
	setenv("SATMAIL_MAILNAME_FILE", "/nonexistent/satmail-test/mailname", 1);
	log_init("test_conf");
	log_set_stderr(false);
	log_set_file(log_path);
}

static void
teardown(void)
{
	log_set_file(NULL);
	unlink(cf_path);
	unlink(log_path);
	unlink(aux_path);
}

TestSuite(conf, .init = setup, .fini = teardown);

/* Loads text as main.cf; why gets the reason on failure. */
static struct conf *
load(const char *text, struct buf *why)
{
	write_file(cf_path, text, strlen(text));
	buf_reset(why);
	return conf_load(cf_path, true, why);
}

static struct conf *
load_ok(const char *text)
{
	struct buf why = BUF_INIT;
	struct conf *c = load(text, &why);
	cr_assert(c, "config:\n%s\nfailed: %s", text, buf_cstr(&why));
	buf_clear(&why);
	return c;
}

/* Loading text fails with exactly cf_path + suffix. */
static void
expect_error(const char *text, const char *suffix)
{
	struct buf why = BUF_INIT, want = BUF_INIT;
	struct conf *c = load(text, &why);
	buf_printf(&want, "%s%s", cf_path, suffix);
	cr_expect_null(c, "config:\n%s\nloaded, expected: %s", text, buf_cstr(&want));
	cr_expect_str_eq(buf_cstr(&why), buf_cstr(&want), "config:\n%s", text);
	conf_free(c);
	buf_clear(&why);
	buf_clear(&want);
}

static char *
read_log(void)
{
	static char text[65536];
	FILE *f = fopen(log_path, "r");
	cr_assert(f);
	size_t n = fread(text, 1, sizeof text - 1, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

static void
expect_list(conf_list got, const char *const *want, const char *what)
{
	size_t i;
	for (i = 0; want[i]; i++) {
		cr_assert_not_null(got[i], "%s: element %zu missing (want %s)", what, i, want[i]);
		cr_expect_str_eq(got[i], want[i], "%s: element %zu", what, i);
	}
	cr_expect_null(got[i], "%s: extra element %s", what, got[i] ? got[i] : "");
}

/* The default myhostname: the host name, qualified with .localdomain when
 * it has no dot. */
static void
default_identity(char *host, size_t hostsize, const char **domain)
{
	char h[256];
	cr_assert_eq(gethostname(h, sizeof h - 1), 0);
	h[sizeof h - 1] = '\0';
	if (strchr(h, '.'))
		snprintf(host, hostsize, "%s", h);
	else
		snprintf(host, hostsize, "%s.localdomain", h);
	*domain = strchr(host, '.') + 1;
}

/* A private host name for this test process, or skip. */
static void
set_hostname(const char *name)
{
	if (unshare(CLONE_NEWUTS) != 0 || sethostname(name, strlen(name)) != 0)
		cr_skip_test("cannot set a private host name here");
}

/* ---- defaults ---- */

static const struct {
	const char *name, *value;
} spec_defaults[] = {
	{ "relayhost", "" },
	{ "alias_maps", "cdb:/etc/aliases" },
	{ "alias_database", "cdb:/etc/aliases" },
	{ "canonical_maps", "" },
	{ "sender_canonical_maps", "" },
	{ "recipient_canonical_maps", "" },
	{ "recipient_delimiter", "+" },
	{ "default_database_type", "cdb" },
	{ "mail_spool_directory", "/var/mail" },
	{ "queue_directory", SATMAIL_QUEUEDIR },
	{ "message_size_limit", "10240000" },
	{ "delivery_mode", "background" },
	{ "smtp_tls_security_level", "may" },
	{ "smtp_tls_wrappermode", "" },
	{ "smtp_tls_CAfile", "" },
	{ "smtp_tls_CApath", "" },
	{ "smtp_tls_cert_file", "" },
	{ "smtp_tls_key_file", "" },
	{ "smtp_tls_protocols", ">=TLSv1.2" },
	{ "smtp_sasl_auth_enable", "no" },
	{ "smtp_sasl_password_maps", "" },
	{ "smtp_sasl_password_command", "" },
	{ "smtp_sasl_mechanism_filter", "" },
	{ "smtp_sasl_security_options", "noplaintext, noanonymous" },
	{ "smtp_sasl_tls_security_options", "noanonymous" },
	{ "smtp_connect_timeout", "30s" },
	{ "smtp_helo_timeout", "300s" },
	{ "smtp_mail_timeout", "300s" },
	{ "smtp_rcpt_timeout", "300s" },
	{ "smtp_data_init_timeout", "120s" },
	{ "smtp_data_xfer_timeout", "180s" },
	{ "smtp_data_done_timeout", "600s" },
	{ "smtp_quit_timeout", "300s" },
	{ "smtp_tcp_port", "25" },
	{ "dns_servers", "" },
	{ "inet_protocols", "all" },
	{ "smtp_address_preference", "any" },
	{ "minimal_backoff_time", "300s" },
	{ "maximal_backoff_time", "4000s" },
	{ "maximal_queue_lifetime", "5d" },
	{ "bounce_queue_lifetime", "5d" },
	{ "delay_warning_time", "0h" },
	{ "default_privs", "nobody" },
	{ "allow_mail_to_commands", "alias" },
	{ "allow_mail_to_files", "alias" },
	{ "maillog_file", "" },
	{ "mail_owner", "mail" },
	{ "header_size_limit", "102400" },
	{ "hopcount_limit", "50" },
	{ "bounce_size_limit", "50000" },
	{ "notify_classes", "resource, software" },
	{ "mail_name", "satmail" },
};

static void
check_defaults(const struct conf *c)
{
	char host[300], dest2[320];
	const char *domain;
	default_identity(host, sizeof host, &domain);

	for (size_t i = 0; i < sizeof spec_defaults / sizeof spec_defaults[0]; i++) {
		const char *got = conf_get(c, spec_defaults[i].name);
		cr_assert_not_null(got, "%s has no default", spec_defaults[i].name);
		cr_expect_str_eq(got, spec_defaults[i].value, "default of %s", spec_defaults[i].name);
		cr_expect(conf_known(spec_defaults[i].name), "%s not known", spec_defaults[i].name);
		cr_expect_eq(conf_line(c, spec_defaults[i].name), 0);
	}

	cr_expect_str_eq(c->myhostname, host);
	cr_expect_str_eq(conf_get(c, "myhostname"), host);
	cr_expect_str_eq(c->mydomain, domain);
	cr_expect_str_eq(c->myorigin, host);
	cr_expect_str_eq(conf_get(c, "smtp_helo_name"), host);
	cr_expect_str_eq(c->smtp_helo_name, host);
	for (char *p = host; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	snprintf(dest2, sizeof dest2, "localhost.%s", strchr(host, '.') + 1);
	expect_list(c->mydestination, (const char *const[]){ host, dest2, "localhost", NULL },
	    "mydestination");
	cr_expect_str_eq(c->relayhost, "");

	expect_list(c->alias_maps, (const char *const[]){ "cdb:/etc/aliases", NULL }, "alias_maps");
	expect_list(c->alias_database, (const char *const[]){ "cdb:/etc/aliases", NULL }, "alias_database");
	expect_list(c->canonical_maps, (const char *const[]){ NULL }, "canonical_maps");
	expect_list(c->sender_canonical_maps, (const char *const[]){ NULL }, "sender_canonical_maps");
	expect_list(c->recipient_canonical_maps, (const char *const[]){ NULL }, "recipient_canonical_maps");
	cr_expect_str_eq(c->recipient_delimiter, "+");
	cr_expect_str_eq(c->default_database_type, "cdb");
	cr_expect_str_eq(c->mail_spool_directory, "/var/mail");
	cr_expect_str_eq(c->queue_directory, SATMAIL_QUEUEDIR);
	cr_expect_eq(c->message_size_limit, 10240000);
	cr_expect_eq(c->delivery_mode, DELIVERY_BACKGROUND);

	cr_expect_eq(c->smtp_tls_security_level, TLS_LEVEL_MAY);
	cr_expect_eq(c->smtp_tls_wrappermode, -1);
	cr_expect_str_eq(c->smtp_tls_CAfile, "");
	cr_expect_str_eq(c->smtp_tls_CApath, "");
	cr_expect_str_eq(c->smtp_tls_cert_file, "");
	cr_expect_str_eq(c->smtp_tls_key_file, "");
	cr_expect_str_eq(c->smtp_tls_protocols, ">=TLSv1.2");

	cr_expect_eq(c->smtp_sasl_auth_enable, false);
	expect_list(c->smtp_sasl_password_maps, (const char *const[]){ NULL }, "password_maps");
	cr_expect_str_eq(c->smtp_sasl_password_command, "");
	expect_list(c->smtp_sasl_mechanism_filter, (const char *const[]){ NULL }, "mechanism_filter");
	expect_list(c->smtp_sasl_security_options,
	    (const char *const[]){ "noplaintext", "noanonymous", NULL }, "security_options");
	expect_list(c->smtp_sasl_tls_security_options,
	    (const char *const[]){ "noanonymous", NULL }, "tls_security_options");

	cr_expect_eq(c->smtp_connect_timeout, 30);
	cr_expect_eq(c->smtp_helo_timeout, 300);
	cr_expect_eq(c->smtp_mail_timeout, 300);
	cr_expect_eq(c->smtp_rcpt_timeout, 300);
	cr_expect_eq(c->smtp_data_init_timeout, 120);
	cr_expect_eq(c->smtp_data_xfer_timeout, 180);
	cr_expect_eq(c->smtp_data_done_timeout, 600);
	cr_expect_eq(c->smtp_quit_timeout, 300);
	cr_expect_eq(c->smtp_tcp_port, 25);
	expect_list(c->dns_servers, (const char *const[]){ NULL }, "dns_servers");
	cr_expect_eq(c->inet_protocols, INET_ALL);
	cr_expect_eq(c->smtp_address_preference, ADDRPREF_ANY);

	cr_expect_eq(c->minimal_backoff_time, 300);
	cr_expect_eq(c->maximal_backoff_time, 4000);
	cr_expect_eq(c->maximal_queue_lifetime, 5 * 86400);
	cr_expect_eq(c->bounce_queue_lifetime, 5 * 86400);
	cr_expect_eq(c->delay_warning_time, 0);

	cr_expect_str_eq(c->default_privs, "nobody");
	expect_list(c->allow_mail_to_commands, (const char *const[]){ "alias", NULL }, "commands");
	expect_list(c->allow_mail_to_files, (const char *const[]){ "alias", NULL }, "files");
	cr_expect_str_eq(c->maillog_file, "");
	cr_expect_str_eq(c->mail_owner, "mail");

	cr_expect_eq(c->header_size_limit, 102400);
	cr_expect_eq(c->hopcount_limit, 50);
	cr_expect_eq(c->bounce_size_limit, 50000);
	expect_list(c->notify_classes, (const char *const[]){ "resource", "software", NULL },
	    "notify_classes");
	cr_expect_str_eq(c->mail_name, "satmail");
}

Test(conf, defaults_without_file)
{
	struct buf why = BUF_INIT;
	struct conf *c = conf_load("/nonexistent/satmail-test/main.cf", false, &why);
	cr_assert_not_null(c, "%s", buf_cstr(&why));
	cr_expect_null(c->path);
	check_defaults(c);
	cr_expect_null(conf_get(c, "biff"));
	cr_expect_str_eq(read_log(), "", "no warnings for defaults");
	conf_free(c);
	buf_clear(&why);
}

Test(conf, defaults_with_empty_file)
{
	struct conf *c = load_ok("# nothing but a comment\n\n");
	cr_expect_str_eq(c->path, cf_path);
	check_defaults(c);
	conf_free(c);
}

Test(conf, missing_explicit_file_fails)
{
	struct buf why = BUF_INIT;
	struct conf *c = conf_load("/nonexistent/satmail-test/main.cf", true, &why);
	cr_expect_null(c);
	cr_expect_str_eq(buf_cstr(&why),
	    "cannot open /nonexistent/satmail-test/main.cf: No such file or directory");
	c = conf_load("/tmp", false, &why);	/* exists, but is no file */
	cr_expect_null(c);
	cr_expect(strstr(buf_cstr(&why), "/tmp") != NULL, "%s", buf_cstr(&why));
	buf_clear(&why);
}

Test(conf, huge_file_is_refused)
{
	FILE *f = fopen(cf_path, "w");
	cr_assert(f);
	for (int i = 0; i < (5 << 20) / 64; i++)
		fprintf(f, "# %60s\n", "padding");
	fclose(f);
	struct buf why = BUF_INIT, want = BUF_INIT;
	cr_expect_null(conf_load(cf_path, true, &why));
	buf_printf(&want, "%s: file too large (more than 4194304 bytes)", cf_path);
	cr_expect_str_eq(buf_cstr(&why), buf_cstr(&want));
	buf_clear(&why);
	buf_clear(&want);
}

Test(conf, unknown_name_is_quoted_safely)
{
	expect_error("we\x01ird = $\n", ", line 1: parameter we?ird: empty macro name after \"$\" "
	    "(write \"$$\" for a literal \"$\")");
}

Test(conf, free_null)
{
	cr_expect_null(conf_free(NULL));
}

Test(conf, known_names)
{
	cr_expect(conf_known("relayhost"));
	cr_expect(conf_known("myhostname"));
	cr_expect(conf_known("header_size_limit"));
	cr_expect(conf_known("smtp_sasl_tls_security_options"));
	cr_expect_not(conf_known("biff"));
	cr_expect_not(conf_known("smtpd_banner"));
	cr_expect_not(conf_known("smtp_tls_mandatory_protocols"));
	cr_expect_not(conf_known(""));
}

/* ---- syntax ---- */

Test(conf, continuation_lines)
{
	struct conf *c = load_ok(
	    "mydestination = a,\n"
	    "    b,\n"
	    "\tc\n"
	    "smtp_sasl_password_command = cmd   \n"
	    "    --flag\n"
	    "  arg\n"
	    "alias_maps = x\n"
	    "# a comment does not end the logical line\n"
	    "\n"
	    "  y\n"
	    "relayhost = [smtp.example.com]:587\n");
	expect_list(c->mydestination, (const char *const[]){ "a", "b", "c", NULL }, "mydestination");
	cr_expect_str_eq(c->smtp_sasl_password_command, "cmd --flag arg");
	expect_list(c->alias_maps, (const char *const[]){ "x", "y", NULL }, "alias_maps");
	cr_expect_str_eq(c->relayhost, "[smtp.example.com]:587");
	cr_expect_eq(conf_line(c, "relayhost"), 11);
	cr_expect_eq(conf_line(c, "alias_maps"), 7);
	conf_free(c);
}

Test(conf, leading_continuation_is_ignored)
{
	struct conf *c = load_ok("  orphan = 1\nrelayhost = x\n");
	cr_expect_str_eq(c->relayhost, "x");
	cr_expect_null(conf_get(c, "orphan"));
	cr_expect(strstr(read_log(), ", line 1: logical line must not start with white space") != NULL);
	conf_free(c);
}

Test(conf, comments_and_white_space)
{
	struct conf *c = load_ok(
	    "# comment\n"
	    "   # indented comment\n"
	    "relayhost=host#1 # not a comment   \n"
	    "smtp_helo_name\t =\t  helo.example.com\t\n"
	    "recipient_delimiter =\n"
	    "mail_owner = postfix\r\n"
	    "default_privs = somebody");
	cr_expect_str_eq(c->relayhost, "host#1 # not a comment");
	cr_expect_str_eq(c->smtp_helo_name, "helo.example.com");
	cr_expect_str_eq(c->recipient_delimiter, "");
	cr_expect_str_eq(c->mail_owner, "postfix");
	cr_expect_str_eq(c->default_privs, "somebody");
	conf_free(c);
}

Test(conf, last_setting_wins)
{
	struct conf *c = load_ok(
	    "relayhost = first\n"
	    "foo = 1\n"
	    "relayhost = second\n"
	    "foo = 2\n");
	cr_expect_str_eq(c->relayhost, "second");
	cr_expect_str_eq(conf_get(c, "relayhost"), "second");
	cr_expect_eq(conf_line(c, "relayhost"), 3);
	cr_expect_str_eq(conf_get(c, "foo"), "2");
	cr_expect_eq(conf_line(c, "foo"), 4);
	cr_expect_eq(conf_line(c, "nosuch"), 0);
	conf_free(c);
}

Test(conf, unknown_parameters_warn_and_are_kept)
{
	struct conf *c = load_ok(
	    "biff = no\n"
	    "inet_interfaces = loopback-only\n"
	    "compatibility_level = 3.6\n"
	    "smtpd_banner = $myhostname ESMTP $mail_name\n"
	    "readme_directory = no\n"
	    "relayhost = x\n");
	char *log = read_log();
	char want[200];
	static const char *const names[] = { "biff", "inet_interfaces", "compatibility_level",
		"smtpd_banner", "readme_directory" };
	for (int i = 0; i < 5; i++) {
		snprintf(want, sizeof want, "warning: %s, line %d: unknown parameter %s (ignored)",
		    cf_path, i + 1, names[i]);
		cr_expect(strstr(log, want) != NULL, "want %s in log:\n%s", want, log);
	}
	cr_expect(strstr(log, "relayhost") == NULL, "known name warned:\n%s", log);
	cr_expect_str_eq(conf_get(c, "biff"), "no");
	cr_expect_str_eq(conf_get(c, "compatibility_level"), "3.6");
	char banner[400];
	snprintf(banner, sizeof banner, "%s ESMTP satmail", c->myhostname);
	cr_expect_str_eq(conf_get(c, "smtpd_banner"), banner);
	cr_expect_str_eq(c->relayhost, "x");
	conf_free(c);
}

Test(conf, missing_equals_and_name)
{
	expect_error("relayhost = x\nfoo bar\n", ", line 2: missing '=' after parameter name");
	expect_error("relayhost\n", ", line 1: missing '=' after parameter name");
	expect_error("# c\n= value\n", ", line 2: missing parameter name before '='");
}

Test(conf, nul_byte)
{
	static const char text[] = "relayhost = x\nmydomain = a\0b\n";
	write_file(cf_path, text, sizeof text - 1);
	struct buf why = BUF_INIT, want = BUF_INIT;
	struct conf *c = conf_load(cf_path, true, &why);
	cr_expect_null(c);
	buf_printf(&want, "%s, line 2: NUL character in file", cf_path);
	cr_expect_str_eq(buf_cstr(&why), buf_cstr(&want));
	buf_clear(&why);
	buf_clear(&want);
}

/* ---- expansion ---- */

static const struct {
	const char *expr, *want;
} expansions[] = {
	{ "$x", "hello" },
	{ "${x}", "hello" },
	{ "$(x)", "hello" },
	{ "a$x.b", "ahello.b" },
	{ "$x$x", "hellohello" },
	{ "$x-y", "hello-y" },
	{ "${x}y", "helloy" },
	{ "${x?yes}", "yes" },
	{ "${empty?yes}", "" },
	{ "${nosuch?yes}", "" },
	{ "${x:no}", "" },
	{ "${empty:no}", "no" },
	{ "${nosuch:no}", "no" },
	{ "${x?a:b}", "a:b" },
	{ "${x?{yes}:{no}}", "yes" },
	{ "${empty?{yes}:{no}}", "no" },
	{ "${x?{ spaced }}", " spaced " },
	{ "${x?$x-$x}", "hello-hello" },
	{ "${empty:${x?in}}", "in" },
	{ "$(x?(p))", "(p)" },
	{ "${{$x} == {hello}?{eq}:{ne}}", "eq" },
	{ "${{$x} != {hello}?{eq}:{ne}}", "ne" },
	{ "${{$x} == {other}}", "" },
	{ "$$", "$" },
	{ "$$x", "$x" },
	{ "$$$x", "$hello" },
	{ "a$$b", "a$b" },
	{ "$nosuch", "" },
	{ "$y", "hello world" },
	{ "${mail_name}", "satmail" },
};

Test(conf, expansion_forms)
{
	for (size_t i = 0; i < sizeof expansions / sizeof expansions[0]; i++) {
		char text[300];
		snprintf(text, sizeof text, "x = hello\nempty =\nt = %s\ny = $x world\n",
		    expansions[i].expr);
		struct conf *c = load_ok(text);
		cr_expect_str_eq(conf_get(c, "t"), expansions[i].want, "t = %s", expansions[i].expr);
		conf_free(c);
	}
}

Test(conf, expansion_in_known_parameters)
{
	struct conf *c = load_ok(
	    "relayhost = [${relay_name}]:${relay_port}\n"
	    "relay_name = smtp.example.net\n"
	    "relay_port = 587\n"
	    "smtp_connect_timeout = ${quick?{5}:{60}}s\n"
	    "quick = yes\n"
	    "mail_owner = $$user\n");
	cr_expect_str_eq(c->relayhost, "[smtp.example.net]:587");
	cr_expect_eq(c->smtp_connect_timeout, 5);
	cr_expect_str_eq(c->mail_owner, "$user");
	conf_free(c);
}

Test(conf, forward_references)
{
	struct conf *c = load_ok(
	    "smtp_helo_name = $later.example\n"
	    "relayhost = [smtp.example.net]\n"
	    "later = fwd\n"
	    "myhostname = Mx.Example.COM\n");
	cr_expect_str_eq(c->smtp_helo_name, "fwd.example");
	/* Defaults refer to parameters set anywhere in the file. */
	cr_expect_str_eq(c->myhostname, "Mx.Example.COM");
	cr_expect_str_eq(c->mydomain, "Example.COM");
	cr_expect_str_eq(c->myorigin, "Mx.Example.COM");
	expect_list(c->mydestination,
	    (const char *const[]){ "mx.example.com", "localhost.example.com", "localhost", NULL },
	    "mydestination");
	conf_free(c);
}

Test(conf, undefined_names_warn_when_used)
{
	struct conf *c = load_ok(
	    "relayhost = x$nosuch\n"
	    "unused = $alsonosuch\n");
	cr_expect_str_eq(c->relayhost, "x");
	char *log = read_log();
	char want[200];
	snprintf(want, sizeof want, "%s, line 1: parameter relayhost: undefined parameter $nosuch",
	    cf_path);
	cr_expect(strstr(log, want) != NULL, "log:\n%s", log);
	/* A parameter satmail does not use: its own warning is enough. */
	cr_expect(strstr(log, "alsonosuch") == NULL, "log:\n%s", log);
	cr_expect_str_eq(conf_get(c, "unused"), "");
	conf_free(c);
}

Test(conf, recursion_is_an_error)
{
	expect_error("a = $b\nb = $a\n", ", line 1: parameter a: recursive expansion");
	expect_error("relayhost = $relayhost\n", ", line 1: parameter relayhost: recursive expansion");
	expect_error("relayhost = ${relayhost?x}\n", ", line 1: parameter relayhost: recursive expansion");
	expect_error(
	    "smtp_helo_name = ${x}\n"
	    "x = ${y?$smtp_helo_name}\n"
	    "y = 1\n", ", line 1: parameter smtp_helo_name: recursive expansion");
	/* mydomain's default comes from myhostname. */
	expect_error("myhostname = $mydomain\n", ", line 1: parameter myhostname: recursive expansion");
}

Test(conf, expansion_syntax_errors)
{
	expect_error("t = foo$\n", ", line 1: parameter t: empty macro name after \"$\" "
	    "(write \"$$\" for a literal \"$\")");
	expect_error("t = a $ b\n", ", line 1: parameter t: empty macro name after \"$\" "
	    "(write \"$$\" for a literal \"$\")");
	expect_error("relayhost = ${x\n", ", line 1: parameter relayhost: truncated macro reference \"${...\"");
	expect_error("relayhost = $(x\n", ", line 1: parameter relayhost: truncated macro reference \"$(...\"");
	expect_error("relayhost = ${}\n", ", line 1: parameter relayhost: empty macro name");
	expect_error("relayhost = ${x y}\n", ", line 1: parameter relayhost: bad macro name in ${}: x y");
	expect_error("relayhost = ${x?{a}b}\n", ", line 1: parameter relayhost: \":\" expected in macro expression");
	expect_error("relayhost = ${x:{a}b}\n",
	    ", line 1: parameter relayhost: unexpected text after {} in macro expression");
	expect_error("relayhost = ${{a} = {b}}\n",
	    ", line 1: parameter relayhost: \"==\" or \"!=\" expected in macro expression");
	expect_error("relayhost = ${{a} == b}\n",
	    ", line 1: parameter relayhost: \"{expression}\" expected after operator");
	expect_error("relayhost = ${{a} == {b} x}\n",
	    ", line 1: parameter relayhost: \"?\" or \":\" expected in macro expression");
}

Test(conf, nesting_is_bounded)
{
	struct buf text = BUF_INIT;
	buf_puts(&text, "x = 1\nrelayhost = ");
	for (int i = 0; i < 150; i++)
		buf_puts(&text, "${x?");
	for (int i = 0; i < 150; i++)
		buf_puts(&text, "}");
	buf_puts(&text, "\n");
	expect_error(buf_cstr(&text), ", line 2: parameter relayhost: unreasonable macro nesting");

	/* A long chain of parameters stops at the same depth. */
	buf_set(&text, "relayhost = $p0\n");
	for (int i = 0; i < 150; i++)
		buf_printf(&text, "p%d = $p%d\n", i, i + 1);
	expect_error(buf_cstr(&text), ", line 101: parameter p99: unreasonable macro nesting");
	buf_clear(&text);
}

/* ---- values ---- */

static const struct {
	const char *setting;
	size_t off;
	unsigned want;
} times[] = {
	{ "smtp_connect_timeout = 10", offsetof(struct conf, smtp_connect_timeout), 10 },
	{ "smtp_connect_timeout = 10s", offsetof(struct conf, smtp_connect_timeout), 10 },
	{ "smtp_helo_timeout = 2m", offsetof(struct conf, smtp_helo_timeout), 120 },
	{ "smtp_mail_timeout = 1h", offsetof(struct conf, smtp_mail_timeout), 3600 },
	{ "smtp_rcpt_timeout = 1d", offsetof(struct conf, smtp_rcpt_timeout), 86400 },
	{ "smtp_data_init_timeout = 1w", offsetof(struct conf, smtp_data_init_timeout), 604800 },
	{ "smtp_data_xfer_timeout = 0", offsetof(struct conf, smtp_data_xfer_timeout), 0 },
	{ "smtp_data_done_timeout = 5M", offsetof(struct conf, smtp_data_done_timeout), 300 },
	{ "smtp_quit_timeout = 007s", offsetof(struct conf, smtp_quit_timeout), 7 },
	{ "minimal_backoff_time = 60", offsetof(struct conf, minimal_backoff_time), 60 },
	{ "maximal_backoff_time = 2h", offsetof(struct conf, maximal_backoff_time), 7200 },
	{ "maximal_queue_lifetime = 3", offsetof(struct conf, maximal_queue_lifetime), 3 * 86400 },
	{ "maximal_queue_lifetime = 4h", offsetof(struct conf, maximal_queue_lifetime), 4 * 3600 },
	{ "bounce_queue_lifetime = 2", offsetof(struct conf, bounce_queue_lifetime), 2 * 86400 },
	{ "bounce_queue_lifetime = 1w", offsetof(struct conf, bounce_queue_lifetime), 604800 },
	{ "delay_warning_time = 4", offsetof(struct conf, delay_warning_time), 4 * 3600 },
	{ "delay_warning_time = 30m", offsetof(struct conf, delay_warning_time), 1800 },
	{ "delay_warning_time = 4294967295s", offsetof(struct conf, delay_warning_time), 4294967295u },
};

Test(conf, time_units)
{
	for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
		char text[100];
		snprintf(text, sizeof text, "%s\n", times[i].setting);
		struct conf *c = load_ok(text);
		unsigned got;
		memcpy(&got, (char *)c + times[i].off, sizeof got);
		cr_expect_eq(got, times[i].want, "%s: got %u", times[i].setting, got);
		conf_free(c);
	}
}

Test(conf, booleans)
{
	static const struct {
		const char *v;
		bool want;
	} cases[] = {
		{ "yes", true }, { "no", false }, { "true", true }, { "false", false },
		{ "YES", true }, { "No", false }, { "TRUE", true }, { "False", false },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char text[100];
		snprintf(text, sizeof text, "smtp_sasl_auth_enable = %s\nsmtp_tls_wrappermode = %s\n",
		    cases[i].v, cases[i].v);
		struct conf *c = load_ok(text);
		cr_expect_eq(c->smtp_sasl_auth_enable, cases[i].want, "%s", cases[i].v);
		cr_expect_eq(c->smtp_tls_wrappermode, cases[i].want ? 1 : 0, "%s", cases[i].v);
		conf_free(c);
	}
	struct conf *c = load_ok("smtp_tls_wrappermode =\n");
	cr_expect_eq(c->smtp_tls_wrappermode, -1, "empty is unset");
	conf_free(c);
}

Test(conf, enumerations_and_numbers)
{
	struct conf *c = load_ok(
	    "delivery_mode = Foreground\n"
	    "smtp_tls_security_level = dane-only\n"
	    "inet_protocols = ipv4\n"
	    "smtp_address_preference = ipv6\n"
	    "message_size_limit = 0\n"
	    "header_size_limit = 2048\n"
	    "hopcount_limit = 10\n"
	    "bounce_size_limit = 9223372036854775807\n"
	    "smtp_tcp_port = 2525\n");
	cr_expect_eq(c->delivery_mode, DELIVERY_FOREGROUND);
	cr_expect_eq(c->smtp_tls_security_level, TLS_LEVEL_DANE);
	cr_expect_eq(c->inet_protocols, INET_IPV4);
	cr_expect_eq(c->smtp_address_preference, ADDRPREF_IPV6);
	cr_expect_eq(c->message_size_limit, 0);
	cr_expect_eq(c->header_size_limit, 2048);
	cr_expect_eq(c->hopcount_limit, 10);
	cr_expect_eq(c->bounce_size_limit, 9223372036854775807LL);
	cr_expect_eq(c->smtp_tcp_port, 2525);
	conf_free(c);

	static const struct {
		const char *v;
		enum conf_tls_level want;
	} levels[] = {
		{ "none", TLS_LEVEL_NONE }, { "may", TLS_LEVEL_MAY }, { "encrypt", TLS_LEVEL_ENCRYPT },
		{ "dane", TLS_LEVEL_DANE }, { "verify", TLS_LEVEL_VERIFY }, { "SECURE", TLS_LEVEL_SECURE },
	};
	for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
		char text[100];
		snprintf(text, sizeof text, "smtp_tls_security_level = %s\n", levels[i].v);
		c = load_ok(text);
		cr_expect_eq(c->smtp_tls_security_level, levels[i].want, "%s", levels[i].v);
		conf_free(c);
	}

	static const struct {
		const char *v;
		enum conf_inet_protocols want;
	} protos[] = {
		{ "all", INET_ALL }, { "ipv4", INET_IPV4 }, { "ipv6", INET_IPV6 },
		{ "ipv4, ipv6", INET_ALL }, { "ipv6 ipv4", INET_ALL }, { "IPv6", INET_IPV6 },
	};
	for (size_t i = 0; i < sizeof protos / sizeof protos[0]; i++) {
		char text[100];
		snprintf(text, sizeof text, "inet_protocols = %s\n", protos[i].v);
		c = load_ok(text);
		cr_expect_eq(c->inet_protocols, protos[i].want, "%s", protos[i].v);
		conf_free(c);
	}

	c = load_ok("delivery_mode = queue\n");
	cr_expect_eq(c->delivery_mode, DELIVERY_QUEUE);
	conf_free(c);
}

static const struct {
	const char *text, *suffix;
} bad_values[] = {
	{ "smtp_connect_timeout = 5x\n",
	  ", line 1: parameter smtp_connect_timeout: bad time value: 5x" },
	{ "# c\n\nsmtp_helo_timeout = -1\n",
	  ", line 3: parameter smtp_helo_timeout: bad time value: -1" },
	{ "smtp_quit_timeout = 5 s\n", ", line 1: parameter smtp_quit_timeout: bad time value: 5 s" },
	{ "smtp_quit_timeout = s\n", ", line 1: parameter smtp_quit_timeout: bad time value: s" },
	{ "smtp_quit_timeout =\n", ", line 1: parameter smtp_quit_timeout: bad time value: " },
	{ "smtp_quit_timeout = 4294967296\n",
	  ", line 1: parameter smtp_quit_timeout: bad time value: 4294967296" },
	{ "maximal_queue_lifetime = 100000w\n",
	  ", line 1: parameter maximal_queue_lifetime: bad time value: 100000w" },
	{ "maximal_queue_lifetime = 49711\n",	/* days: just over 2^32 seconds */
	  ", line 1: parameter maximal_queue_lifetime: bad time value: 49711" },
	{ "message_size_limit = 10k\n", ", line 1: parameter message_size_limit: bad size value: 10k" },
	{ "message_size_limit = -1\n", ", line 1: parameter message_size_limit: bad size value: -1" },
	{ "message_size_limit = 9223372036854775808\n",
	  ", line 1: parameter message_size_limit: bad size value: 9223372036854775808" },
	{ "hopcount_limit = x\n", ", line 1: parameter hopcount_limit: bad integer value: x" },
	{ "smtp_sasl_auth_enable = maybe\n",
	  ", line 1: parameter smtp_sasl_auth_enable: bad boolean value: maybe" },
	{ "smtp_sasl_auth_enable =\n", ", line 1: parameter smtp_sasl_auth_enable: bad boolean value: " },
	{ "smtp_tls_wrappermode = 1\n", ", line 1: parameter smtp_tls_wrappermode: bad boolean value: 1" },
	{ "delivery_mode = later\n", ", line 1: parameter delivery_mode: bad delivery mode value: later" },
	{ "smtp_tls_security_level = fingerprint\n",
	  ", line 1: parameter smtp_tls_security_level: bad TLS security level value: fingerprint "
	  "(not supported)" },
	{ "smtp_tls_security_level = requierd\n",
	  ", line 1: parameter smtp_tls_security_level: bad TLS security level value: requierd" },
	{ "smtp_tcp_port = 0\n", ", line 1: parameter smtp_tcp_port: bad port value: 0" },
	{ "smtp_tcp_port = 70000\n", ", line 1: parameter smtp_tcp_port: bad port value: 70000" },
	{ "smtp_tcp_port = smtp\n", ", line 1: parameter smtp_tcp_port: bad port value: smtp" },
	{ "inet_protocols = ipv5\n", ", line 1: parameter inet_protocols: bad inet protocols value: ipv5" },
	{ "inet_protocols =\n", ", line 1: parameter inet_protocols: bad inet protocols value: " },
	{ "smtp_address_preference = both\n",
	  ", line 1: parameter smtp_address_preference: bad address preference value: both" },
	{ "myhostname = bad_host.example\n",
	  ", line 1: parameter myhostname: bad host name value: bad_host.example" },
	{ "myhostname = -a.example\n", ", line 1: parameter myhostname: bad host name value: -a.example" },
	{ "myhostname = a..example\n", ", line 1: parameter myhostname: bad host name value: a..example" },
	{ "myhostname = a.example.\n", ", line 1: parameter myhostname: bad host name value: a.example." },
	{ "myhostname = 192.0.2.1\n", ", line 1: parameter myhostname: bad host name value: 192.0.2.1" },
	{ "myhostname =\n", ", line 1: parameter myhostname: bad host name value: " },
	{ "myhostname = mx.example.com\nmydomain = x y\n",
	  ", line 2: parameter mydomain: bad host name value: x y" },
	{ "myorigin = a, b\n", ", line 1: parameter myorigin: bad host name value: a, b" },
	{ "alias_maps = {cdb:/etc/aliases\n",
	  ", line 1: parameter alias_maps: bad list value: {cdb:/etc/aliases" },
	/* The line of the setting, also when the value was continued. */
	{ "relayhost = a\nsmtp_data_done_timeout = 1\n  0x\n",
	  ", line 2: parameter smtp_data_done_timeout: bad time value: 1 0x" },
	/* The expanded value is what is checked and shown. */
	{ "smtp_mail_timeout = $t\nt = 5x\n",
	  ", line 1: parameter smtp_mail_timeout: bad time value: 5x" },
	{ "myhostname = mx.example.com\nrelayhost = MX.example.com\n",
	  ", line 2: parameter relayhost: value equals myhostname (mail would loop): MX.example.com" },
	{ "myorigin = /nonexistent/satmail-test/origin\n",
	  ", line 1: parameter myorigin: cannot read /nonexistent/satmail-test/origin: "
	  "No such file or directory" },
	{ "myorigin = /tmp\n", ", line 1: parameter myorigin: /tmp is not a regular file" },
	{ "smtp_tls_security_level = verify\nsmtp_tls_security_level = may be\n",
	  ", line 2: parameter smtp_tls_security_level: bad TLS security level value: may be" },
};

Test(conf, bad_values_name_file_line_and_parameter)
{
	for (size_t i = 0; i < sizeof bad_values / sizeof bad_values[0]; i++)
		expect_error(bad_values[i].text, bad_values[i].suffix);
}

Test(conf, bad_value_is_one_bounded_line)
{
	struct buf text = BUF_INIT, why = BUF_INIT;
	buf_puts(&text, "message_size_limit = 1\x01");
	for (int i = 0; i < 500; i++)
		buf_putc(&text, 'x');
	buf_puts(&text, "\n");
	struct conf *c = load(buf_cstr(&text), &why);
	cr_expect_null(c);
	cr_expect(strchr(buf_cstr(&why), '\x01') == NULL);
	cr_expect(strchr(buf_cstr(&why), '\n') == NULL);
	cr_expect(why.len < strlen(cf_path) + 250, "%s", buf_cstr(&why));
	cr_expect(strstr(buf_cstr(&why), "bad size value: 1?xxx") != NULL, "%s", buf_cstr(&why));
	buf_clear(&text);
	buf_clear(&why);
}

/* ---- lists ---- */

Test(conf, lists)
{
	struct conf *c = load_ok(
	    "alias_maps = a,b c\t,d\n  e\n"
	    "alias_database = , ,a,,\n"
	    "canonical_maps = { a b }, inline:{ x=y, z=w },c {} {d}\n"
	    "sender_canonical_maps = {{nested} braces}\n"
	    "dns_servers = 192.0.2.1, [2001:db8::1]:53 192.0.2.2:5353\n"
	    "mydestination = Example.COM, hash:/etc/Postfix/Dom, /etc/Local, $myhostname,"
	    " !Bad.Example.COM\n"
	    "myhostname = Mx.Example.NET\n");
	expect_list(c->alias_maps, (const char *const[]){ "a", "b", "c", "d", "e", NULL }, "alias_maps");
	expect_list(c->alias_database, (const char *const[]){ "a", NULL }, "alias_database");
	expect_list(c->canonical_maps,
	    (const char *const[]){ "a b", "inline:{ x=y, z=w }", "c", "d", NULL }, "canonical_maps");
	expect_list(c->sender_canonical_maps, (const char *const[]){ "{nested} braces", NULL },
	    "sender_canonical_maps");
	expect_list(c->dns_servers,
	    (const char *const[]){ "192.0.2.1", "[2001:db8::1]:53", "192.0.2.2:5353", NULL }, "dns");
	expect_list(c->mydestination,
	    (const char *const[]){ "example.com", "hash:/etc/Postfix/Dom", "/etc/Local",
		"mx.example.net", "!bad.example.com", NULL }, "mydestination");
	/* conf_get() gives the text as expanded. */
	cr_expect_str_eq(conf_get(c, "mydestination"),
	    "Example.COM, hash:/etc/Postfix/Dom, /etc/Local, Mx.Example.NET, !Bad.Example.COM");
	conf_free(c);
}

/* ---- identity ---- */

Test(conf, myorigin_from_file)
{
	write_file(aux_path, "  Sat.Example.COM  \nsecond line\n", 32);
	char text[200];
	snprintf(text, sizeof text, "myorigin = %s\nsender = user@$myorigin\n", aux_path);
	struct conf *c = load_ok(text);
	cr_expect_str_eq(c->myorigin, "Sat.Example.COM");
	cr_expect_str_eq(conf_get(c, "myorigin"), "Sat.Example.COM");
	cr_expect_str_eq(conf_get(c, "sender"), "user@Sat.Example.COM");
	conf_free(c);

	/* The value is expanded before it is taken as a file name. */
	snprintf(text, sizeof text, "origin_file = %s\nmyorigin = $origin_file\n", aux_path);
	c = load_ok(text);
	cr_expect_str_eq(c->myorigin, "Sat.Example.COM");
	conf_free(c);

	write_file(aux_path, " \n", 2);
	snprintf(text, sizeof text, "# c\nmyorigin = %s\n", aux_path);
	struct buf want = BUF_INIT;
	buf_printf(&want, ", line 2: parameter myorigin: file %s is empty", aux_path);
	expect_error(text, buf_cstr(&want));
	buf_clear(&want);
}

Test(conf, myorigin_explicit_domain)
{
	struct conf *c = load_ok("myorigin = $mydomain\nmyhostname = mx.Example.org\n");
	cr_expect_str_eq(c->myorigin, "Example.org");
	conf_free(c);
}

Test(conf, myorigin_default_from_mailname)
{
	write_file(aux_path, "Mail.Example.ORG\n", 17);
	setenv("SATMAIL_MAILNAME_FILE", aux_path, 1);
	struct conf *c = load_ok("myhostname = mx.example.com\n");
	cr_expect_str_eq(c->myorigin, "Mail.Example.ORG");
	cr_expect_str_eq(c->myhostname, "mx.example.com");
	conf_free(c);

	/* An empty mailname file means $myhostname. */
	write_file(aux_path, "\n", 1);
	c = load_ok("myhostname = mx.example.com\n");
	cr_expect_str_eq(c->myorigin, "mx.example.com");
	conf_free(c);

	/* A bad one is blamed on myorigin, with no line: no setting caused it. */
	write_file(aux_path, "bad name!\n", 10);
	expect_error("myhostname = mx.example.com\n", ": parameter myorigin: bad host name value: bad name!");
}

Test(conf, myhostname_without_dot)
{
	set_hostname("box");
	struct conf *c = load_ok("");
	cr_expect_str_eq(c->myhostname, "box.localdomain");
	cr_expect_str_eq(c->mydomain, "localdomain");
	cr_expect_str_eq(c->myorigin, "box.localdomain");
	expect_list(c->mydestination,
	    (const char *const[]){ "box.localdomain", "localhost.localdomain", "localhost", NULL },
	    "mydestination");
	conf_free(c);

	c = load_ok("mydomain = Example.COM\n");
	cr_expect_str_eq(c->myhostname, "box.Example.COM");
	cr_expect_str_eq(c->mydomain, "Example.COM");
	expect_list(c->mydestination,
	    (const char *const[]){ "box.example.com", "localhost.example.com", "localhost", NULL },
	    "mydestination");
	conf_free(c);

	/* The bad default is blamed on the setting that made it. */
	expect_error("\nmydomain = bad_domain\n",
	    ", line 2: parameter myhostname: bad host name value: box.bad_domain");
	expect_error("mydomain = $myhostname\n", ": parameter myhostname: recursive expansion");
}

Test(conf, myhostname_with_dot)
{
	set_hostname("mx.example.com");
	struct conf *c = load_ok("");
	cr_expect_str_eq(c->myhostname, "mx.example.com");
	cr_expect_str_eq(c->mydomain, "example.com");
	conf_free(c);

	c = load_ok("mydomain = other.example\n");
	cr_expect_str_eq(c->myhostname, "mx.example.com");
	cr_expect_str_eq(c->mydomain, "other.example");
	conf_free(c);

	c = load_ok("myhostname = top\n");
	cr_expect_str_eq(c->myhostname, "top");
	cr_expect_str_eq(c->mydomain, "localdomain");
	conf_free(c);
}

/* ---- local domains ---- */

Test(conf, is_local_domain)
{
	struct conf *c = load_ok(
	    "mydestination = Example.COM, .Sub.Example.net, !bad.example.org, .example.org,\n"
	    "    hash:/etc/postfix/domains, localhost, trailing.example.\n");
	static const struct {
		const char *domain;
		bool want;
	} cases[] = {
		{ "example.com", true },
		{ "EXAMPLE.com", true },
		{ "example.com.", true },
		{ "www.example.com", false },
		{ "a.sub.example.net", true },
		{ "A.B.SUB.EXAMPLE.NET", true },
		{ "sub.example.net", false },
		{ "bad.example.org", false },
		{ "good.example.org", true },
		{ "example.org", false },
		{ "localhost", true },
		{ "trailing.example", true },
		{ "hash:/etc/postfix/domains", false },
		{ "", false },
		{ ".", false },
		{ "example.co", false },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		cr_expect_eq(conf_is_local_domain(c, cases[i].domain), cases[i].want,
		    "domain \"%s\"", cases[i].domain);
	conf_free(c);

	c = load_ok("myhostname = Mx.Example.COM\n");
	cr_expect(conf_is_local_domain(c, "mx.example.com"));
	cr_expect(conf_is_local_domain(c, "localhost.EXAMPLE.com"));
	cr_expect(conf_is_local_domain(c, "localhost"));
	cr_expect_not(conf_is_local_domain(c, "example.com"));
	conf_free(c);
}
