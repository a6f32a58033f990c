/* Fuzz target: the SMTP client's side of a whole session (lib/smtp:
 * reply reader, multi-line replies, EHLO capability parsing, STARTTLS,
 * AUTH exchange, pipelined MAIL/RCPT/DATA, 452 batching) against a
 * "server" whose bytes are the fuzz input, over a socketpair.  The peer
 * half-closes after the input, so every session ends.  Checks that each
 * recipient gets an outcome and that outcome texts (which reach logs,
 * mailq and DSNs) hold no control characters. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf.h"
#include "envelope.h"
#include "sasl.h"
#include "smtp.h"
#include "tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct conf *conf;
static struct tls_client *tc;
static struct sasl_creds creds;
static int msg_fd = -1;

static const struct sasl_creds *
fuzz_creds(void *ctx, const char *host, unsigned port)
{
	(void)ctx, (void)host, (void)port;
	return &creds;
}

static void
setup(void)
{
	char path[] = "/tmp/fuzz_smtp_session.XXXXXX";
	int fd = mkstemp(path);
	const char *text =
	    "myhostname = client.example\n"
	    "smtp_tls_security_level = may\n"
	    "smtp_sasl_auth_enable = yes\n"
	    "smtp_sasl_security_options = noanonymous\n"
	    "smtp_connect_timeout = 1s\nsmtp_helo_timeout = 1s\nsmtp_mail_timeout = 1s\n"
	    "smtp_rcpt_timeout = 1s\nsmtp_data_init_timeout = 1s\nsmtp_data_xfer_timeout = 1s\n"
	    "smtp_data_done_timeout = 1s\nsmtp_quit_timeout = 1s\n";
	struct buf why = BUF_INIT;
	struct status st;
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	close(fd);
	conf = conf_load(path, true, &why);
	unlink(path);
	if (conf == NULL)
		abort();
	status_init(&st);
	tc = tls_client_new(conf, &st);
	if (tc == NULL)
		abort();
	sasl_creds_init(&creds);
	buf_puts(&creds.user, "user@example.org");
	buf_puts(&creds.secret, "s3cret");
	const char *msg = "Subject: fuzz\n\nbody\n.\nline \xc3\xa4\n";
	msg_fd = memfd_create("msg", 0);
	if (msg_fd < 0 || write(msg_fd, msg, strlen(msg)) != (ssize_t)strlen(msg))
		abort();
	status_clear(&st);
	buf_clear(&why);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	struct envelope e;
	struct status results[3];
	struct rcpt *rcpts[3];
	struct buf relay = BUF_INIT;

	if (conf == NULL)
		setup();
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		abort();
	if (size > 0 && write(sv[1], data, size) != (ssize_t)size)
		abort();
	shutdown(sv[1], SHUT_WR);

	envelope_init(&e);
	snprintf(e.id, sizeof e.id, "FUZZ");
	e.sender = strdup("sender@example.org");
	e.size = 40;
	envelope_add_rcpt(&e, "a@example.net", "a@example.net", NOTIFY_SUCCESS | NOTIFY_FAILURE);
	envelope_add_rcpt(&e, "b@example.net", NULL, 0);
	envelope_add_rcpt(&e, "c@example.net", NULL, NOTIFY_NEVER);
	for (size_t i = 0; i < 3; i++) {
		rcpts[i] = &e.rcpt[i];
		status_init(&results[i]);
	}
	struct smtp_request rq = { .c = conf, .nexthop = "[test.invalid]", .e = &e,
		.msg_fd = msg_fd, .msg_offset = 0, .rcpts = rcpts, .n = 3, .tc = tc,
		.creds = fuzz_creds };
	smtp_test_session(&rq, sv[0], results, &relay);	/* takes sv[0] */
	close(sv[1]);
	for (size_t i = 0; i < 3; i++) {
		const char *t = buf_cstr(&results[i].text);
		if (results[i].cls != STATUS_OK && *t == '\0')
			abort();	/* a failure always says why */
		for (; *t; t++)
			if ((unsigned char)*t < 0x20 || *t == 0x7f)
				abort();
		status_clear(&results[i]);
	}
	buf_clear(&relay);
	envelope_clear(&e);
	return 0;
}
