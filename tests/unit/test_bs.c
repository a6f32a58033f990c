/* Unit tests for lib/bs.c: the command-verb split, MAIL/RCPT path and
 * parameter parsing (table-driven), xtext, and dialogue sessions that
 * need no queue (sequencing, line limits, CRLF replies) run through
 * bs_run over files. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bs.h"
#include "envelope.h"

static struct criterion_test_params
index_params(size_t *idx, size_t n)
{
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	return cr_make_param_array(size_t, idx, n);
}

/* ---- verbs ---- */

Test(bs, verbs)
{
	const char *arg;
	cr_expect_eq(bs_parse_verb("EHLO x.example", &arg), BS_CMD_EHLO);
	cr_expect_str_eq(arg, "x.example");
	cr_expect_eq(bs_parse_verb("mail FROM:<a@b>", &arg), BS_CMD_MAIL);
	cr_expect_str_eq(arg, "FROM:<a@b>");
	cr_expect_eq(bs_parse_verb("DATA", &arg), BS_CMD_DATA);
	cr_expect_str_eq(arg, "");
	cr_expect_eq(bs_parse_verb("QuIt", &arg), BS_CMD_QUIT);
	cr_expect_eq(bs_parse_verb("STARTTLS", &arg), BS_CMD_NOTIMPL);
	cr_expect_eq(bs_parse_verb("AUTH PLAIN x", &arg), BS_CMD_NOTIMPL);
	cr_expect_eq(bs_parse_verb("DATAX", &arg), BS_CMD_UNKNOWN);
	cr_expect_eq(bs_parse_verb("", &arg), BS_CMD_UNKNOWN);
	cr_expect_eq(bs_parse_verb("MAI", &arg), BS_CMD_UNKNOWN);
}

/* ---- MAIL / RCPT ---- */

struct path_case {
	enum bs_verb verb;
	const char *arg;
	int code;		/* 0 = accepted */
	const char *addr;	/* canonical address when accepted */
	const char *reply;	/* reply prefix when refused */
};

static const struct path_case path_cases[] = {
	{ BS_CMD_MAIL, "FROM:<a@example.org>", 0, "a@example.org", NULL },
	{ BS_CMD_MAIL, "from:<a@example.org>", 0, "a@example.org", NULL },
	{ BS_CMD_MAIL, "FROM: <a@example.org>", 0, "a@example.org", NULL },
	{ BS_CMD_MAIL, "FROM:<>", 0, "", NULL },
	{ BS_CMD_MAIL, "FROM:a@example.org", 0, "a@example.org", NULL },
	{ BS_CMD_MAIL, "FROM:<@relay.example:a@example.org>", 0, "a@example.org", NULL },
	{ BS_CMD_MAIL, "FROM:<\"john doe\"@example.org>", 0, "\"john doe\"@example.org", NULL },
	{ BS_CMD_MAIL, "FROM:<\"a>b\"@example.org> SIZE=10", 0, "\"a>b\"@example.org", NULL },
	{ BS_CMD_MAIL, "FROM:<a@example.org> SIZE=1000 BODY=8BITMIME", 0, "a@example.org", NULL },
	{ BS_CMD_MAIL, "FROM:<a@example.org> RET=HDRS ENVID=abc+2Bdef", 0, "a@example.org", NULL },
	{ BS_CMD_MAIL, "FROM:<a@example.org> SMTPUTF8", 0, "a@example.org", NULL },
	{ BS_CMD_MAIL, "FROM:<a@example.org>   BODY=7bit  ", 0, "a@example.org", NULL },
	{ BS_CMD_MAIL, "TO:<a@example.org>", 501, NULL, "501 5.5.4 Syntax: MAIL" },
	{ BS_CMD_MAIL, "FROM<a@example.org>", 501, NULL, "501 5.5.4" },
	{ BS_CMD_MAIL, "FROM:<a@example.org", 501, NULL, "501 5.1.7" },
	{ BS_CMD_MAIL, "FROM:<a@@example.org>", 501, NULL, "501 5.1.7" },
	{ BS_CMD_MAIL, "FROM:<a@example.org>x", 501, NULL, "501 5.1.7" },
	{ BS_CMD_MAIL, "FROM:<a b@example.org>", 501, NULL, "501 5.1.7" },
	{ BS_CMD_MAIL, "FROM:<a@example.org> SIZE=x", 501, NULL, "501 5.5.4" },
	{ BS_CMD_MAIL, "FROM:<a@example.org> SIZE=", 501, NULL, "501 5.5.4" },
	{ BS_CMD_MAIL, "FROM:<a@example.org> SIZE=1 SIZE=2", 501, NULL, "501 5.5.4" },
	{ BS_CMD_MAIL, "FROM:<a@example.org> SIZE=5000", 552, NULL, "552 5.3.4" },
	{ BS_CMD_MAIL, "FROM:<a@example.org> SIZE=99999999999999999999999", 552, NULL, "552 5.3.4" },
	{ BS_CMD_MAIL, "FROM:<a@example.org> BODY=BINARYMIME", 501, NULL, "501 5.5.4" },
	{ BS_CMD_MAIL, "FROM:<a@example.org> SMTPUTF8=yes", 501, NULL, "501 5.5.4" },
	{ BS_CMD_MAIL, "FROM:<a@example.org> RET=ALL", 501, NULL, "501 5.5.4" },
	{ BS_CMD_MAIL, "FROM:<a@example.org> ENVID=a+0Ab", 501, NULL, "501 5.5.4" },
	{ BS_CMD_MAIL, "FROM:<a@example.org> ENVID=", 501, NULL, "501 5.5.4" },
	{ BS_CMD_MAIL, "FROM:<a@example.org> AUTH=<>", 555, NULL, "555 5.5.4" },
	{ BS_CMD_MAIL, "FROM:<a@example.org> =x", 501, NULL, "501 5.5.4" },
	{ BS_CMD_MAIL, "FROM:<a@example.org> NOTIFY=NEVER", 555, NULL, "555 5.5.4" },
	{ BS_CMD_RCPT, "TO:<b@example.net>", 0, "b@example.net", NULL },
	{ BS_CMD_RCPT, "TO:<root>", 0, "root", NULL },
	{ BS_CMD_RCPT, "TO:<b@example.net> NOTIFY=SUCCESS,FAILURE", 0, "b@example.net", NULL },
	{ BS_CMD_RCPT, "TO:<b@example.net> NOTIFY=NEVER ORCPT=rfc822;b+40example.net", 0,
	    "b@example.net", NULL },
	{ BS_CMD_RCPT, "TO:<>", 501, NULL, "501 5.1.3" },
	{ BS_CMD_RCPT, "TO:<b@@example.net>", 501, NULL, "501 5.1.3" },
	{ BS_CMD_RCPT, "FROM:<b@example.net>", 501, NULL, "501 5.5.4 Syntax: RCPT" },
	{ BS_CMD_RCPT, "TO:<b@example.net> NOTIFY=NEVER,SUCCESS", 501, NULL, "501 5.5.4" },
	{ BS_CMD_RCPT, "TO:<b@example.net> NOTIFY=sometimes", 501, NULL, "501 5.5.4" },
	{ BS_CMD_RCPT, "TO:<b@example.net> ORCPT=x400;foo", 501, NULL, "501 5.5.4" },
	{ BS_CMD_RCPT, "TO:<b@example.net> ORCPT=rfc822;not+20valid", 501, NULL, "501 5.5.4" },
	{ BS_CMD_RCPT, "TO:<b@example.net> SIZE=10", 555, NULL, "555 5.5.4" },
};

ParameterizedTestParameters(bs, path)
{
	static size_t idx[sizeof path_cases / sizeof path_cases[0]];
	return index_params(idx, sizeof idx / sizeof idx[0]);
}

ParameterizedTest(size_t *i, bs, path)
{
	const struct path_case *c = &path_cases[*i];
	struct bs_path p;
	struct buf reply = BUF_INIT;
	int rc = bs_parse_path(c->verb, c->arg, 4000, &p, &reply);
	cr_expect_eq(rc, c->code, "%s: got %d (%s), want %d", c->arg, rc, buf_cstr(&reply), c->code);
	if (rc == 0 && c->code == 0) {
		cr_expect_str_eq(p.addr, c->addr, "%s", c->arg);
	} else if (rc && c->reply) {
		cr_expect(strncmp(buf_cstr(&reply), c->reply, strlen(c->reply)) == 0,
		    "%s: reply %s, want %s...", c->arg, buf_cstr(&reply), c->reply);
		cr_expect_null(p.addr);
	}
	bs_path_clear(&p);
	buf_clear(&reply);
}

Test(bs, parameters_stored)
{
	struct bs_path p;
	struct buf reply = BUF_INIT;
	cr_assert_eq(bs_parse_path(BS_CMD_MAIL,
	    "FROM:<a@example.org> SIZE=1234 BODY=8BITMIME SMTPUTF8 RET=FULL ENVID=q+2Bx", 0,
	    &p, &reply), 0);
	cr_expect_eq(p.size, 1234);
	cr_expect_str_eq(p.body, "8bitmime");
	cr_expect(p.smtputf8);
	cr_expect_str_eq(p.ret, "full");
	cr_expect_str_eq(p.envid, "q+x");
	bs_path_clear(&p);
	cr_assert_eq(bs_parse_path(BS_CMD_RCPT,
	    "TO:<b@example.net> NOTIFY=delay,failure ORCPT=rfc822;B+40Example.NET", 0, &p, &reply), 0);
	cr_expect_eq(p.notify, NOTIFY_DELAY | NOTIFY_FAILURE);
	cr_expect_str_eq(p.orcpt, "B@Example.NET");
	bs_path_clear(&p);
	cr_assert_eq(bs_parse_path(BS_CMD_MAIL, "FROM:<j\xc3\xb6rg@example.org>", 0, &p, &reply), 0);
	cr_expect(p.utf8);
	bs_path_clear(&p);
	buf_clear(&reply);
}

Test(bs, xtext)
{
	struct buf out = BUF_INIT;
	cr_expect(bs_xtext_decode("abc+2B+3Dx", 10, &out));
	cr_expect_str_eq(buf_cstr(&out), "abc+=x");
	buf_reset(&out);
	cr_expect_not(bs_xtext_decode("a+2", 3, &out));
	cr_expect_not(bs_xtext_decode("a+zz", 4, &out));
	cr_expect_not(bs_xtext_decode("a=b", 3, &out));
	cr_expect_not(bs_xtext_decode("a b", 3, &out));
	cr_expect_not(bs_xtext_decode("a+0D", 4, &out));
	buf_clear(&out);
}

Test(bs, state_names)
{
	cr_expect_str_eq(bs_state_name(BS_START), "START");
	cr_expect_str_eq(bs_state_name(BS_RCPT), "RCPT");
	cr_expect_str_eq(bs_state_name(BS_DONE), "DONE");
}

/* ---- sessions without DATA ---- */

static struct conf *
load_conf(void)
{
	char path[] = "/tmp/test_bs.conf.XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	const char *text = "myhostname = mx.example.org\nmyorigin = example.org\n"
	    "message_size_limit = 5000\n";
	cr_assert(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	struct buf why = BUF_INIT;
	struct conf *c = conf_load(path, true, &why);
	cr_assert_not_null(c, "conf_load: %s", buf_cstr(&why));
	unlink(path);
	buf_clear(&why);
	return c;
}

/* Runs a session on input; returns the replies (caller frees). */
static char *
session(const char *input, size_t len)
{
	struct conf *c = load_conf();
	FILE *in = tmpfile(), *out = tmpfile();
	struct submit_opts o;
	struct status st;
	cr_assert(in && out);
	cr_assert_eq(fwrite(input, 1, len, in), len);
	fflush(in);
	rewind(in);
	memset(&o, 0, sizeof o);
	status_init(&st);
	cr_expect(bs_run(c, &o, fileno(in), fileno(out), NULL, NULL, &st));
	long n = ftell(out);
	char *r = calloc(1, (size_t)n + 1);
	rewind(out);
	cr_assert_eq(fread(r, 1, (size_t)n, out), (size_t)n);
	fclose(in);
	fclose(out);
	status_clear(&st);
	conf_free(c);
	return r;
}

Test(bs, sequencing)
{
	const char in[] = "MAIL FROM:<a@example.org>\r\nEHLO client\r\nDATA\r\nRCPT TO:<b@x.org>\r\n"
	    "MAIL FROM:<a@example.org>\r\nMAIL FROM:<a@example.org>\r\nDATA\r\n"
	    "RCPT TO:<b@@x>\r\nRSET\r\nHELO again\r\nVRFY\r\nNOOP\r\nQUIT\r\nNOOP\r\n";
	char *r = session(in, sizeof in - 1);
	cr_expect_str_eq(r,
	    "220 mx.example.org ESMTP satmail\r\n"
	    "503 5.5.1 Error: send HELO/EHLO first\r\n"
	    "250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 5000\r\n250-ENHANCEDSTATUSCODES\r\n"
	    "250-8BITMIME\r\n250-DSN\r\n250 SMTPUTF8\r\n"
	    "503 5.5.1 Error: need RCPT command\r\n"
	    "503 5.5.1 Error: need MAIL command\r\n"
	    "250 2.1.0 Ok\r\n"
	    "503 5.5.1 Error: nested MAIL command\r\n"
	    "554 5.5.1 Error: no valid recipients\r\n"
	    "501 5.1.3 Bad recipient address syntax\r\n"
	    "250 2.0.0 Ok\r\n"
	    "250 mx.example.org\r\n"
	    "501 5.5.4 Syntax: VRFY address\r\n"
	    "250 2.0.0 Ok\r\n"
	    "221 2.0.0 Bye\r\n");
	free(r);
}

Test(bs, line_limits)
{
	struct buf in = BUF_INIT;
	buf_puts(&in, "NOOP ");
	for (int i = 0; i < BS_MAX_LINE - 5; i++)
		buf_putc(&in, 'x');
	buf_puts(&in, "\r\nNOOP ");	/* exactly BS_MAX_LINE, with CRLF: fine */
	for (int i = 0; i < BS_MAX_LINE; i++)
		buf_putc(&in, 'x');
	buf_puts(&in, "\nnoop\nQUIT");	/* over the limit, then LF only, then no line end */
	char *r = session(in.data, in.len);
	cr_expect_str_eq(r, "220 mx.example.org ESMTP satmail\r\n250 2.0.0 Ok\r\n"
	    "500 5.5.2 Error: line too long\r\n250 2.0.0 Ok\r\n");
	free(r);
	buf_clear(&in);
	const char nul[] = "NOOP\0x\r\nHELO a b\r\nFROB\r\n";
	r = session(nul, sizeof nul - 1);
	cr_expect_str_eq(r, "220 mx.example.org ESMTP satmail\r\n500 5.5.2 Error: bad syntax\r\n"
	    "501 5.5.4 Syntax: HELO hostname\r\n502 5.5.2 Error: command not recognized\r\n");
	free(r);
}

Test(bs, error_limit)
{
	struct buf in = BUF_INIT;
	for (int i = 0; i < BS_MAX_ERRORS + 5; i++)
		buf_puts(&in, "FROB\r\n");
	char *r = session(in.data, in.len);
	size_t n = 0;
	for (const char *p = r; (p = strstr(p, "502 ")); p++)
		n++;
	cr_expect_eq(n, BS_MAX_ERRORS);
	cr_expect(strstr(r, "421 4.7.0 mx.example.org Error: too many errors\r\n") != NULL);
	free(r);
	buf_clear(&in);
}
