/* smtp - the ESMTP client (see smtp.h): destinations -> hosts ->
 * addresses -> sessions, each session an explicit state machine. */
#include "smtp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <idn2.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dns.h"
#include "log.h"
#include "stream.h"
#include "tls.h"
#include "xalloc.h"

/* ---- body encoding ---- */

/* state = octets already in the current wire line (0 = at a line start).
 * Runs of ordinary bytes are copied whole: per-byte work happens only at
 * line starts, line ends, CRs and folds, so a large body costs little
 * more than a memcpy. */
void
smtp_body_encode(const char *p, size_t n, size_t *state, struct buf *out)
{
	size_t col = *state;
	const char *end = p + n;
	buf_reserve(out, n + n / 64 + 8);
	while (p < end) {
		char ch = *p;
		if (ch == '\n') {
			buf_append(out, "\r\n", 2);
			col = 0;
			p++;
			continue;
		}
		if (col >= SMTP_LINE_LIMIT) {
			/* Postfix's smtp_line_length_limit: CRLF SPACE keeps
			 * every byte and never starts a line with '.'. */
			buf_append(out, "\r\n ", 3);
			col = 1;
		}
		if (col == 0 && ch == '.') {
			buf_putc(out, '.');
			col++;
		}
		if (ch == '\r') {
			buf_putc(out, ' ');	/* a bare CR never reaches the wire */
			col++;
			p++;
			continue;
		}
		/* The run up to the next LF or CR, within the line limit. */
		size_t room = SMTP_LINE_LIMIT - col;
		size_t len = (size_t)(end - p) < room ? (size_t)(end - p) : room;
		const char *lf = memchr(p, '\n', len);
		if (lf)
			len = (size_t)(lf - p);
		const char *cr = memchr(p, '\r', len);
		if (cr)
			len = (size_t)(cr - p);
		buf_append(out, p, len);
		col += len;
		p += len;
	}
	*state = col;
}

void
smtp_body_end(size_t *state, struct buf *out)
{
	if (*state != 0)
		buf_append(out, "\r\n", 2);
	buf_append(out, ".\r\n", 3);
	*state = 0;
}

void
smtp_xtext(const char *s, struct buf *out)
{
	for (const unsigned char *u = (const unsigned char *)s; *u; u++) {
		if (*u < 33 || *u > 126 || *u == '+' || *u == '=')
			buf_printf(out, "+%02X", *u);
		else
			buf_putc(out, (char)*u);
	}
}

const char *
smtp_state_name(enum smtp_state s)
{
	static const char *const names[] = {
		"connect", "greeting", "EHLO", "HELO", "STARTTLS", "AUTH", "MAIL FROM",
		"RCPT TO", "DATA", "message body", "end of DATA", "RSET", "QUIT",
	};
	return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

/* ---- replies ---- */

struct reply {
	int code;		/* 0 = none read */
	char dsn[16];		/* enhanced code, or derived from code */
	struct buf text;	/* "550 5.1.1 line one line two" (printable) */
	struct buf lines;	/* each line's text after "NNN-", '\n'-separated */
};

static void
reply_init(struct reply *r)
{
	memset(r, 0, sizeof *r);
}

static void
reply_clear(struct reply *r)
{
	buf_clear(&r->text);
	buf_clear(&r->lines);
}

/* Appends s[0..n) with every byte outside printable ASCII as '?':
 * peer text goes into logs, mailq and DSNs. */
static void
put_printable(struct buf *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf_putc(out, (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f ? s[i] : '?');
}

/* "X.Y.Z " at the start of text whose class digit agrees with code. */
static void
reply_dsn(struct reply *r, const char *t)
{
	size_t i = 0, dots = 0, digits = 0;
	if (t[0] == "0123456789"[r->code / 100] && t[1] == '.') {
		for (i = 0; t[i] && t[i] != ' ' && i < 11; i++) {
			if (t[i] == '.') {
				if (digits == 0 || digits > 3)
					break;
				dots++;
				digits = 0;
			} else if (t[i] >= '0' && t[i] <= '9') {
				digits++;
			} else {
				break;
			}
		}
		if (dots == 2 && digits >= 1 && digits <= 3 && (t[i] == ' ' || t[i] == '\0')) {
			memcpy(r->dsn, t, i);
			r->dsn[i] = '\0';
			return;
		}
	}
	snprintf(r->dsn, sizeof r->dsn, "%d.0.0", r->code / 100);
}

struct session;
static void trace(const struct session *ss, char dir, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- sessions ---- */

enum { CAP_PIPELINING = 1, CAP_SIZE = 2, CAP_8BITMIME = 4, CAP_SMTPUTF8 = 8, CAP_DSN = 16,
	CAP_STARTTLS = 32, CAP_AUTH = 64 };

/* What a session attempt ended with. */
enum outcome {
	OUT_NEXT,	/* nothing settled: try the next address or host (ss->err) */
	OUT_PLAIN,	/* TLS handshake failed at level may: retry without TLS */
	OUT_DONE,	/* the recipients' results are set */
};

struct session {
	const struct conf *c;
	const struct smtp_request *rq;	/* the message being sent (reset per message) */
	struct status *results;
	bool *settled;			/* per recipient: results[i] is final */
	struct stream *s;
	char host[256];
	char addr[48];
	unsigned port;
	char label[320];		/* host[addr]:port */
	char hostaddr[310];		/* host[addr] for reply texts */
	unsigned caps;
	long long size_limit;		/* 0 = none advertised */
	struct buf auth_mechs;
	bool tls;
	bool broken;			/* the connection failed or timed out */
	bool auth_rejected;		/* the server refused the credentials (5xx) */
	const char *body_type;		/* the message's, once looked at; NULL before */
	size_t rcpt_limit;		/* RCPTs the server took before its first 452; 0 = none seen */
	enum smtp_state state;
	struct status err;		/* why the session gave up (OUT_NEXT) */
};

/* One message's delivery: what its sessions share. */
struct attempt {
	const struct smtp_request *rq;
	struct status *results;
	bool *settled;
	struct tls_client *tc;		/* NULL until a session needs TLS (tls_context) */
	bool tc_owned;			/* made for this message only: freed at its end */
	struct buf *relay;
	const struct smtp_dest *dest;	/* the next-hop destination being tried */
};

/* The TLS client context, made when a session first needs one (kept in
 * the connection cache for later messages): a delivery that never meets
 * STARTTLS never initialises OpenSSL.  NULL with st when it cannot be
 * made. */
static struct tls_client *tls_context(struct attempt *at, struct status *st);

static void
trace(const struct session *ss, char dir, const char *fmt, ...)
{
	if (log_verbose() < 1)
		return;
	struct buf line = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&line, fmt, ap);
	va_end(ap);
	struct buf clean = BUF_INIT;
	put_printable(&clean, line.data ? line.data : "", line.len);
	log_debug("%c %s: %s", dir, ss->label, buf_cstr(&clean));
	buf_clear(&line);
	buf_clear(&clean);
}

static unsigned
stage_timeout(const struct conf *c, enum smtp_state st)
{
	switch (st) {
	case SMTP_CONNECT: return c->smtp_connect_timeout;
	case SMTP_GREETING: case SMTP_EHLO: case SMTP_HELO: case SMTP_STARTTLS:
	case SMTP_AUTH: return c->smtp_helo_timeout;
	case SMTP_MAIL: case SMTP_RSET: return c->smtp_mail_timeout;
	case SMTP_RCPT: return c->smtp_rcpt_timeout;
	case SMTP_DATA: return c->smtp_data_init_timeout;
	case SMTP_BODY: return c->smtp_data_xfer_timeout;
	case SMTP_DOT: return c->smtp_data_done_timeout;
	case SMTP_QUIT: return c->smtp_quit_timeout;
	}
	return 300;
}

static void
enter(struct session *ss, enum smtp_state st)
{
	ss->state = st;
	stream_set_timeout(ss->s, stage_timeout(ss->c, st));
}

/* The "while ..." phrase of a lost connection or a timeout. */
static const char *
while_doing(enum smtp_state st)
{
	switch (st) {
	case SMTP_GREETING: return "receiving the initial server greeting";
	case SMTP_EHLO: case SMTP_HELO: return "performing the EHLO handshake";
	case SMTP_STARTTLS: return "performing the STARTTLS handshake";
	case SMTP_AUTH: return "performing SASL authentication";
	case SMTP_MAIL: return "sending MAIL FROM";
	case SMTP_RCPT: return "sending RCPT TO";
	case SMTP_DATA: return "sending DATA command";
	case SMTP_BODY: return "sending message body";
	case SMTP_DOT: return "sending end of data -- message may be sent more than once";
	case SMTP_RSET: return "sending RSET";
	case SMTP_QUIT: return "sending QUIT";
	case SMTP_CONNECT: break;
	}
	return "connecting";
}

/* Turns a stream error into the session's TEMP error in Postfix's words. */
static void
io_error(struct session *ss, const struct status *st)
{
	ss->broken = true;
	const char *t = buf_cstr(&st->text);
	if (strstr(t, "timed out"))
		status_set(&ss->err, STATUS_TEMP, "4.4.2", 0, "conversation with %s timed out while %s",
		    ss->hostaddr, while_doing(ss->state));
	else if (strstr(t, "too long"))
		status_set(&ss->err, STATUS_TEMP, "4.5.0", 0, "%s while %s", t, while_doing(ss->state));
	else
		status_set(&ss->err, STATUS_TEMP, "4.4.2", 0, "lost connection with %s while %s",
		    ss->hostaddr, while_doing(ss->state));
}

static bool
flush(struct session *ss)
{
	struct status st;
	status_init(&st);
	bool ok = stream_flush(ss->s, &st);
	if (!ok)
		io_error(ss, &st);
	status_clear(&st);
	return ok;
}

/* Queues one command line (CRLF added).  Commands are built from
 * validated envelope data; a CR or LF in one would be a bug upstream,
 * so it is refused here rather than sent (SECURITY.md B-13, B-01). */
static bool
command(struct session *ss, bool secret, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool
command(struct session *ss, bool secret, const char *fmt, ...)
{
	struct buf line = BUF_INIT;
	struct status st;
	va_list ap;
	bool ok;

	va_start(ap, fmt);
	buf_vprintf(&line, fmt, ap);
	va_end(ap);
	if (memchr(line.data, '\r', line.len) || memchr(line.data, '\n', line.len)) {
		status_set(&ss->err, STATUS_TEMP, "4.3.0", 0, "refusing to send a command with a line break");
		buf_clear(&line);
		return false;
	}
	if (secret) {
		/* "AUTH MECH ********" or "********" */
		const char *sp = strncasecmp(line.data, "AUTH ", 5) == 0 ? strchr(line.data + 5, ' ') : NULL;
		if (sp)
			trace(ss, '>', "%.*s ********", (int)(sp - line.data), line.data);
		else if (strncasecmp(line.data, "AUTH ", 5) == 0)
			trace(ss, '>', "%s", line.data);
		else
			trace(ss, '>', "********");
	} else {
		trace(ss, '>', "%s", line.data);
	}
	buf_append(&line, "\r\n", 2);
	status_init(&st);
	ok = stream_write(ss->s, line.data, line.len, &st);
	if (!ok)
		io_error(ss, &st);
	/* The line may hold a secret: wipe before freeing. */
	explicit_bzero(line.data, line.len);
	buf_clear(&line);
	status_clear(&st);
	return ok;
}

/* Reads one whole reply (all lines of a multi-line one).  False with
 * ss->err on a lost connection, timeout or malformed reply. */
static bool
read_reply(struct session *ss, struct reply *r)
{
	struct buf line = BUF_INIT;
	struct status st;
	bool ok = false;

	status_init(&st);
	buf_reset(&r->text);
	buf_reset(&r->lines);
	r->code = 0;
	for (int n = 0;; n++) {
		if (n >= SMTP_REPLY_MAX_LINES) {
			status_set(&ss->err, STATUS_TEMP, "4.5.0", 0,
			    "reply from %s has more than %d lines", ss->hostaddr, SMTP_REPLY_MAX_LINES);
			goto out;
		}
		int rc = stream_read_line(ss->s, &line, SMTP_REPLY_MAX_LINE, &st);
		if (rc <= 0) {
			io_error(ss, &st);
			goto out;
		}
		trace(ss, '<', "%s", line.data);
		const char *t = line.data;
		if (line.len < 3 || t[0] < '2' || t[0] > '5' || t[1] < '0' || t[1] > '9' ||
		    t[2] < '0' || t[2] > '9' || (line.len > 3 && t[3] != ' ' && t[3] != '-')) {
			status_set(&ss->err, STATUS_TEMP, "4.5.0", 0,
			    "malformed reply from %s while %s: ", ss->hostaddr, while_doing(ss->state));
			put_printable(&ss->err.text, t, line.len < 80 ? line.len : 80);
			goto out;
		}
		int code = (t[0] - '0') * 100 + (t[1] - '0') * 10 + (t[2] - '0');
		if (n == 0)
			r->code = code;
		else if (code != r->code) {
			status_set(&ss->err, STATUS_TEMP, "4.5.0", 0,
			    "malformed reply from %s: reply codes differ between lines", ss->hostaddr);
			goto out;
		}
		const char *rest = line.len > 4 ? t + 4 : "";
		if (n == 0) {
			put_printable(&r->text, t, line.len);
			reply_dsn(r, rest);
		} else {
			buf_putc(&r->text, ' ');
			put_printable(&r->text, rest, strlen(rest));
		}
		put_printable(&r->lines, rest, line.len > 4 ? line.len - 4 : 0);
		buf_putc(&r->lines, '\n');
		if (line.len == 3 || t[3] == ' ')
			break;
	}
	ok = true;
out:
	buf_clear(&line);
	status_clear(&st);
	return ok;
}

/* "host H[A] said: TEXT (in reply to X command)" as the session error. */
static void
said(struct session *ss, struct status *to, const struct reply *r, const char *in_reply_to)
{
	status_set(to, r->code >= 500 ? STATUS_PERM : r->code >= 400 ? STATUS_TEMP : STATUS_OK,
	    r->dsn, 0, "host %s said: %s (in reply to %s command)", ss->hostaddr,
	    buf_cstr(&r->text), in_reply_to);
}

/* ---- connecting ---- */

static int
connect_addr(struct session *ss, const struct dns_addr *a)
{
	struct sockaddr_storage sa = a->sa;
	int fd, err = 0;

	if (sa.ss_family == AF_INET)
		((struct sockaddr_in *)&sa)->sin_port = htons((uint16_t)ss->port);
	else
		((struct sockaddr_in6 *)&sa)->sin6_port = htons((uint16_t)ss->port);
	fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = errno;
		goto fail;
	}
	if (connect(fd, (struct sockaddr *)&sa, a->salen) < 0) {
		if (errno != EINPROGRESS) {
			err = errno;
			goto fail;
		}
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		int ms = ss->c->smtp_connect_timeout ? (int)ss->c->smtp_connect_timeout * 1000 : -1;
		int rc;
		while ((rc = poll(&pfd, 1, ms)) < 0 && errno == EINTR)
			;
		if (rc == 0) {
			err = ETIMEDOUT;
			goto fail;
		}
		socklen_t len = sizeof err;
		if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err)
			goto fail;
	}
	return fd;	/* stream_new() sets TCP_NODELAY: output leaves in whole writes */
fail:
	if (fd >= 0)
		close(fd);
	status_set(&ss->err, STATUS_TEMP, "4.4.1", 0, "connect to %s: %s", ss->label,
	    err == ETIMEDOUT ? "Connection timed out" : strerror(err));
	return -1;
}

/* ---- the session state machine ---- */

static void
parse_ehlo(struct session *ss, const struct reply *r)
{
	ss->caps = 0;
	ss->size_limit = 0;
	buf_reset(&ss->auth_mechs);
	const char *p = buf_cstr(&r->lines);
	bool first = true;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char kw[32];
		size_t k = 0;
		while (k < n && k < sizeof kw - 1 && p[k] != ' ' && p[k] != '=') {
			kw[k] = p[k];
			k++;
		}
		kw[k] = '\0';
		const char *arg = k < n ? p + k + 1 : "";
		size_t argn = k < n ? n - k - 1 : 0;
		if (first) {
			first = false;	/* the greeting line: the server's name */
		} else if (strcasecmp(kw, "PIPELINING") == 0) {
			ss->caps |= CAP_PIPELINING;
		} else if (strcasecmp(kw, "SIZE") == 0) {
			ss->caps |= CAP_SIZE;
			ss->size_limit = argn ? strtoll(arg, NULL, 10) : 0;
			if (ss->size_limit < 0)
				ss->size_limit = 0;
		} else if (strcasecmp(kw, "8BITMIME") == 0) {
			ss->caps |= CAP_8BITMIME;
		} else if (strcasecmp(kw, "SMTPUTF8") == 0) {
			ss->caps |= CAP_SMTPUTF8;
		} else if (strcasecmp(kw, "DSN") == 0) {
			ss->caps |= CAP_DSN;
		} else if (strcasecmp(kw, "STARTTLS") == 0) {
			ss->caps |= CAP_STARTTLS;
		} else if (strcasecmp(kw, "AUTH") == 0) {
			ss->caps |= CAP_AUTH;
			if (ss->auth_mechs.len)
				buf_putc(&ss->auth_mechs, ' ');
			buf_append(&ss->auth_mechs, arg, argn);
		}
		p += n + (nl != NULL);
	}
}

/* EHLO, or HELO when EHLO is refused (*helo set). */
static bool
hello(struct session *ss, bool *helo)
{
	struct reply r;
	const struct conf *c = ss->c;
	const char *name = c->smtp_helo_name && *c->smtp_helo_name ? c->smtp_helo_name : c->myhostname;
	bool ok = false;

	reply_init(&r);
	*helo = false;
	enter(ss, SMTP_EHLO);
	if (!command(ss, false, "EHLO %s", name) || !flush(ss) || !read_reply(ss, &r))
		goto out;
	if (r.code / 100 == 2) {
		parse_ehlo(ss, &r);
		ok = true;
		goto out;
	}
	if (ss->tls) {
		/* After STARTTLS there is no falling back (dma's 2020 fix:
		 * say so clearly). */
		said(ss, &ss->err, &r, "EHLO");
		ss->err.cls = STATUS_TEMP;
		snprintf(ss->err.dsn, sizeof ss->err.dsn, "4.7.0");
		goto out;
	}
	enter(ss, SMTP_HELO);
	if (!command(ss, false, "HELO %s", name) || !flush(ss) || !read_reply(ss, &r))
		goto out;
	if (r.code / 100 != 2) {
		said(ss, &ss->err, &r, "HELO");
		ss->err.cls = STATUS_TEMP;
		ss->err.dsn[0] = '4';
		goto out;
	}
	ss->caps = 0;
	*helo = true;
	ok = true;
out:
	reply_clear(&r);
	return ok;
}

static enum outcome
starttls(struct session *ss, struct attempt *at, enum conf_tls_level level)
{
	struct reply r;
	struct tls_info info;
	struct status st;
	enum outcome out = OUT_NEXT;
	bool required = level >= TLS_LEVEL_ENCRYPT && level != TLS_LEVEL_DANE;

	reply_init(&r);
	status_init(&st);
	enter(ss, SMTP_STARTTLS);
	if (!command(ss, false, "STARTTLS") || !flush(ss) || !read_reply(ss, &r))
		goto out;
	if (r.code != 220) {
		if (!required) {
			out = OUT_DONE;	/* go on in plaintext */
			goto out;
		}
		status_set(&ss->err, STATUS_TEMP, "4.7.4", 0,
		    "TLS is required, but host %s refused to start TLS: %s", ss->hostaddr,
		    buf_cstr(&r.text));
		goto out;
	}
	/* Bytes after the 220 came before the handshake: a server (or a
	 * man in the middle) trying to inject replies (SECURITY.md H-05). */
	if (stream_pending(ss->s) > 0) {
		status_set(&ss->err, STATUS_TEMP, "4.7.0", 0,
		    "host %s sent data after its reply to STARTTLS; refusing the session", ss->hostaddr);
		goto out;
	}
	struct tls_client *tc = tls_context(at, &st);
	if (tc == NULL || !stream_start_tls(ss->s, tc, ss->host, level, &info, &st)) {
		status_set(&ss->err, STATUS_TEMP, st.dsn[0] ? st.dsn : "4.7.5", 0,
		    "TLS handshake with %s failed: %s", ss->label, buf_cstr(&st.text));
		out = required ? OUT_NEXT : OUT_PLAIN;
		goto out;
	}
	ss->tls = true;
	struct buf line = BUF_INIT;
	tls_info_format(&info, ss->label, &line);
	log_info("%s", buf_cstr(&line));
	buf_clear(&line);
	out = OUT_DONE;
out:
	reply_clear(&r);
	status_clear(&st);
	return out;
}

static bool
authenticate(struct session *ss, const struct sasl_creds *cr)
{
	const struct conf *c = ss->c;
	struct buf why = BUF_INIT, resp = BUF_INIT, cb = BUF_INIT;
	struct sasl_client *sc = NULL;
	struct reply r;
	struct status st;
	const char *cb_type = NULL;
	bool ok = false;

	reply_init(&r);
	status_init(&st);
	enter(ss, SMTP_AUTH);
	if (ss->tls) {
		if (stream_channel_binding(ss->s, "tls-exporter", &cb))
			cb_type = "tls-exporter";
		else if (stream_channel_binding(ss->s, "tls-unique", &cb))
			cb_type = "tls-unique";
	}
	const char *mech = sasl_choose(c, buf_cstr(&ss->auth_mechs), ss->tls, cb_type != NULL, &why);
	if (mech == NULL) {
		status_set(&ss->err, STATUS_TEMP, "4.7.0", 0,
		    "SASL authentication failed; cannot authenticate to server %s: %s",
		    ss->hostaddr, buf_cstr(&why));
		goto out;
	}
	sc = sasl_client_new(mech, cr, ss->host, cb_type ? &cb : NULL, cb_type, &st);
	if (sc == NULL) {
		status_set(&ss->err, STATUS_TEMP, "4.7.0", 0, "SASL authentication failed with %s: %s",
		    ss->hostaddr, buf_cstr(&st.text));
		goto out;
	}
	bool sent;
	if (sasl_client_initial(sc, &resp))
		sent = command(ss, true, "AUTH %s %s", mech, buf_cstr(&resp));
	else
		sent = command(ss, false, "AUTH %s", mech);
	if (!sent || !flush(ss))
		goto out;
	for (int steps = 0;; steps++) {
		if (!read_reply(ss, &r))
			goto out;
		if (r.code == 334 && steps <= SASL_MAX_STEPS) {
			const char *challenge = buf_cstr(&r.lines);
			size_t cl = strcspn(challenge, "\n");
			char *ch = xstrndup(challenge, cl);
			int rc = sasl_client_step(sc, ch, &resp, &st);
			free(ch);
			if (rc < 0) {
				/* Cancel; the server answers 501. */
				if (command(ss, false, "*") && flush(ss))
					(void)read_reply(ss, &r);
				status_set(&ss->err, STATUS_TEMP, "4.7.0", 0,
				    "SASL authentication failed with %s: %s", ss->hostaddr,
				    buf_cstr(&st.text));
				goto out;
			}
			if (!command(ss, true, "%s", buf_cstr(&resp)) || !flush(ss))
				goto out;
			continue;
		}
		if (r.code == 235 && !sasl_client_accepts_success(sc)) {
			status_set(&ss->err, STATUS_TEMP, "4.7.0", 0,
			    "SASL authentication failed with %s: success announced before the "
			    "server proved it knows the password", ss->hostaddr);
			goto out;
		}
		if (r.code == 235) {
			ok = true;
			goto out;
		}
		if (r.code == 334) {
			status_set(&ss->err, STATUS_TEMP, "4.7.0", 0,
			    "SASL authentication failed with %s: too many challenges", ss->hostaddr);
			goto out;
		}
		status_set(&ss->err, STATUS_TEMP, r.code >= 500 ? "4.7.8" : r.dsn, 0,
		    "SASL authentication failed; server %s said: %s", ss->hostaddr, buf_cstr(&r.text));
		ss->auth_rejected = r.code >= 500;
		goto out;
	}
out:
	if (resp.data)
		explicit_bzero(resp.data, resp.len);
	buf_clear(&resp);
	buf_clear(&why);
	buf_clear(&cb);
	sasl_client_free(sc);
	reply_clear(&r);
	status_clear(&st);
	return ok;
}

/* Whether the queued message has a byte with the high bit set, when the
 * envelope does not say (-B): BODY=8BITMIME depends on it.  A word at a
 * time, so that even a large message costs a fraction of sending it. */
static bool
message_is_8bit(const struct smtp_request *rq)
{
	static const uint64_t high = 0x8080808080808080ULL;
	char *in = xmalloc(64 * 1024);
	long long off = rq->msg_offset;
	bool eight = false;
	for (;;) {
		ssize_t n = pread(rq->msg_fd, in, 64 * 1024, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += n;
		size_t i = 0;
		for (; i + 8 <= (size_t)n && !eight; i += 8) {
			uint64_t w;
			memcpy(&w, in + i, 8);
			eight = (w & high) != 0;
		}
		for (; i < (size_t)n && !eight; i++)
			eight = (unsigned char)in[i] >= 0x80;
		if (eight)
			break;
	}
	free(in);
	return eight;
}

/* The message's body type: the envelope's word, else what the bytes
 * show ("8bitmime" or "7bit"); computed once per message. */
static const char *
body_type(struct session *ss)
{
	const struct smtp_request *rq = ss->rq;
	if (rq->e->body)
		return rq->e->body;
	if (ss->body_type == NULL)
		ss->body_type = message_is_8bit(rq) ? "8bitmime" : "7bit";
	return ss->body_type;
}

/* MAIL FROM with the extensions this message and server call for. */
static bool
mail_from(struct session *ss, long long size)
{
	const struct envelope *e = ss->rq->e;
	struct buf cmd = BUF_INIT;
	bool ok;

	buf_printf(&cmd, "MAIL FROM:<%s>", envelope_sender(e));
	if ((ss->caps & CAP_SIZE) && size >= 0)
		buf_printf(&cmd, " SIZE=%lld", size);
	if ((ss->caps & CAP_8BITMIME) && strcmp(body_type(ss), "8bitmime") == 0)
		buf_puts(&cmd, " BODY=8BITMIME");
	if ((ss->caps & CAP_SMTPUTF8) && e->smtputf8)
		buf_puts(&cmd, " SMTPUTF8");
	if (ss->caps & CAP_DSN) {
		if (e->ret)
			buf_printf(&cmd, " RET=%s", strcmp(e->ret, "hdrs") == 0 ? "HDRS" : "FULL");
		if (e->envid && *e->envid) {
			buf_puts(&cmd, " ENVID=");
			smtp_xtext(e->envid, &cmd);
		}
	}
	ok = command(ss, false, "%s", cmd.data);
	buf_clear(&cmd);
	return ok;
}

static bool
rcpt_to(struct session *ss, const struct rcpt *rc)
{
	struct buf cmd = BUF_INIT;
	bool ok;

	buf_printf(&cmd, "RCPT TO:<%s>", rc->addr);
	if (ss->caps & CAP_DSN) {
		if (rc->notify) {
			struct buf n = BUF_INIT;
			envelope_notify_format(rc->notify, &n);
			for (size_t i = 0; i < n.len; i++)
				n.data[i] = (char)(n.data[i] >= 'a' && n.data[i] <= 'z' ? n.data[i] - 32 : n.data[i]);
			buf_printf(&cmd, " NOTIFY=%s", buf_cstr(&n));
			buf_clear(&n);
		}
		if (rc->orig && *rc->orig) {
			buf_puts(&cmd, " ORCPT=rfc822;");
			smtp_xtext(rc->orig, &cmd);
		}
	}
	ok = command(ss, false, "%s", cmd.data);
	buf_clear(&cmd);
	return ok;
}

/* Streams the message body and the final dot. */
static bool
send_body(struct session *ss)
{
	const struct smtp_request *rq = ss->rq;
	char *in = xmalloc(64 * 1024);
	struct buf out = BUF_INIT;
	struct status st;
	size_t col = 0;
	long long off = rq->msg_offset, total = 0;
	bool ok = false;

	status_init(&st);
	enter(ss, SMTP_BODY);
	for (;;) {
		ssize_t n = pread(rq->msg_fd, in, 64 * 1024, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			status_set(&ss->err, STATUS_TEMP, "4.3.0", 0, "cannot read the queue entry: %s",
			    strerror(errno));
			ss->broken = true;	/* mid-DATA: closing is the only way out */
			goto out;
		}
		if (n == 0)
			break;
		off += n;
		total += n;
		buf_reset(&out);
		smtp_body_encode(in, (size_t)n, &col, &out);
		if (!stream_write(ss->s, out.data, out.len, &st)) {
			io_error(ss, &st);
			goto out;
		}
	}
	buf_reset(&out);
	smtp_body_end(&col, &out);
	if (!stream_write(ss->s, out.data, out.len, &st)) {
		io_error(ss, &st);
		goto out;
	}
	trace(ss, '>', "(%lld octets of message) .", total);
	enter(ss, SMTP_DOT);
	ok = flush(ss);
out:
	free(in);
	buf_clear(&out);
	status_clear(&st);
	return ok;
}

/* Sets every unsettled recipient in idx[0..n) to st. */
static void
settle(struct session *ss, const size_t *idx, size_t n, const struct status *st)
{
	for (size_t k = 0; k < n; k++) {
		status_copy(&ss->results[idx[k]], st);
		ss->settled[idx[k]] = true;
	}
}

/* One transaction for the recipients idx[0..n).  Recipients answered 452
 * go to *again for a further transaction.  Returns OUT_DONE when the
 * recipients are settled (or moved to *again), OUT_NEXT when MAIL failed
 * temporarily or the connection broke before MAIL was accepted. */
static enum outcome
transaction(struct session *ss, const size_t *idx, size_t n, size_t *again, size_t *nagain,
    bool *conn_ok)
{
	const struct smtp_request *rq = ss->rq;
	struct reply r;
	struct status *rst = xcalloc(n, sizeof *rst);
	size_t accepted = 0, *acc = xcalloc(n, sizeof *acc);
	bool *retry = xcalloc(n, sizeof *retry);	/* answered 452 */
	enum outcome out = OUT_NEXT;
	bool pipelining = (ss->caps & CAP_PIPELINING) != 0;
	bool mail_ok = false;
	size_t sent = 0, answered = 0;

	reply_init(&r);
	*nagain = 0;
	*conn_ok = false;
	for (size_t k = 0; k < n; k++)
		status_init(&rst[k]);
	enter(ss, SMTP_MAIL);
	if (!mail_from(ss, rq->e->size))
		goto broken;
	if (!pipelining && (!flush(ss) || !read_reply(ss, &r)))
		goto broken;
	if (!pipelining) {
		if (r.code / 100 != 2)
			goto mail_refused;
		mail_ok = true;
	}
	/* RCPTs in groups: with PIPELINING each group (and DATA after the
	 * last) goes out in one write, then its replies are read. */
	while (answered < n) {
		size_t group = pipelining ? SMTP_RCPT_PER_WRITE : 1;
		enter(ss, SMTP_RCPT);
		while (sent < n && sent - answered < group) {
			if (!rcpt_to(ss, rq->rcpts[idx[sent]]))
				goto broken;
			sent++;
		}
		if (pipelining && sent == n) {
			if (!command(ss, false, "DATA"))
				goto broken;
		}
		if (!flush(ss))
			goto broken;
		if (pipelining && !mail_ok) {
			enter(ss, SMTP_MAIL);
			if (!read_reply(ss, &r))
				goto broken;
			if (r.code / 100 != 2)
				goto mail_refused;
			mail_ok = true;
			enter(ss, SMTP_RCPT);
		}
		for (; answered < sent; answered++) {
			if (!read_reply(ss, &r))
				goto broken;
			size_t k = answered;
			if (r.code / 100 == 2) {
				acc[accepted++] = k;
			} else if (r.code == 452) {
				/* "too many recipients": the rest go in a further
				 * transaction, and later ones are sized to fit. */
				if (k > 0 && (ss->rcpt_limit == 0 || k < ss->rcpt_limit))
					ss->rcpt_limit = k;
				retry[k] = true;
				said(ss, &rst[k], &r, "RCPT TO");
			} else {
				said(ss, &rst[k], &r, "RCPT TO");
			}
		}
	}
	enter(ss, SMTP_DATA);
	if (!pipelining) {
		if (accepted == 0)
			goto rcpts_done;
		if (!command(ss, false, "DATA") || !flush(ss))
			goto broken;
	}
	if (!read_reply(ss, &r))
		goto broken;
	if (r.code != 354) {
		if (accepted > 0) {
			struct status st;
			status_init(&st);
			said(ss, &st, &r, "DATA");
			if (st.cls == STATUS_OK) {
				/* 2xx instead of 354: a confused server */
				st.cls = STATUS_TEMP;
				snprintf(st.dsn, sizeof st.dsn, "4.5.0");
			}
			for (size_t k = 0; k < accepted; k++)
				status_copy(&rst[acc[k]], &st);
			status_clear(&st);
		}
		goto rcpts_done;
	}
	if (accepted == 0) {
		/* DATA was pipelined and accepted although no recipient was:
		 * end the empty transaction at once (RFC 2920 section 3.1). */
		if (!command(ss, false, ".") || !flush(ss) || !read_reply(ss, &r))
			goto broken_after_rcpt;
		goto rcpts_done;
	}
	if (!send_body(ss) || !read_reply(ss, &r))
		goto broken_after_rcpt;
	{
		struct status st;
		status_init(&st);
		if (r.code / 100 == 2)
			status_set(&st, STATUS_OK, r.dsn, 0, "%s", buf_cstr(&r.text));
		else
			said(ss, &st, &r, "end of DATA");
		for (size_t k = 0; k < accepted; k++)
			status_copy(&rst[acc[k]], &st);
		status_clear(&st);
	}
rcpts_done:
	for (size_t k = 0; k < n; k++) {
		if (retry[k]) {
			again[(*nagain)++] = idx[k];
		} else {
			status_copy(&ss->results[idx[k]], &rst[k]);
			ss->settled[idx[k]] = true;
		}
	}
	*conn_ok = true;
	out = OUT_DONE;
	goto out;
mail_refused:
	said(ss, &ss->err, &r, "MAIL FROM");
	if (r.code >= 500) {
		settle(ss, idx, n, &ss->err);
		out = OUT_DONE;
	}
	/* With PIPELINING the RCPT (and DATA) replies are still due. */
	*conn_ok = false;
	goto out;
broken_after_rcpt:
	/* The recipients were accepted but the message may or may not have
	 * been: TEMP for them (a possible duplicate, SPEC section 7). */
	*nagain = 0;
	for (size_t k = 0; k < n; k++) {
		status_copy(&ss->results[idx[k]], rst[k].cls == STATUS_PERM ? &rst[k] : &ss->err);
		ss->settled[idx[k]] = true;
	}
	out = OUT_DONE;
	goto out;
broken:
	if (mail_ok) {
		/* Some RCPTs were answered: their answers stand only if the
		 * message went; it did not, so every recipient gets the error. */
		settle(ss, idx, n, &ss->err);
		out = OUT_DONE;
	}
out:
	for (size_t k = 0; k < n; k++)
		status_clear(&rst[k]);
	free(rst);
	free(acc);
	free(retry);
	reply_clear(&r);
	return out;
}

/* PERM refusals decided from the EHLO reply before MAIL. */
static bool
precheck(struct session *ss, const size_t *idx, size_t n)
{
	const struct envelope *e = ss->rq->e;
	struct status st;
	status_init(&st);
	if (e->smtputf8 && !(ss->caps & CAP_SMTPUTF8))
		status_set(&st, STATUS_PERM, "5.6.7", 0,
		    "SMTPUTF8 is required, but was not offered by host %s", ss->hostaddr);
	else if ((ss->caps & CAP_SIZE) && ss->size_limit > 0 && e->size > ss->size_limit)
		status_set(&st, STATUS_PERM, "5.3.4", 0,
		    "message size %lld exceeds size limit %lld of server %s", e->size, ss->size_limit,
		    ss->hostaddr);
	else if (!(ss->caps & CAP_8BITMIME) && strcmp(body_type(ss), "8bitmime") == 0)
		log_warning("%s: host %s does not announce 8BITMIME; sending the 8-bit message as is",
		    e->id, ss->hostaddr);
	bool refused = st.cls == STATUS_PERM;
	if (refused)
		settle(ss, idx, n, &st);
	status_clear(&st);
	return !refused;
}

/* Ends a session politely: QUIT unless the connection is broken or in
 * the middle of a message.  Accepts NULL. */
static void
session_quit(struct session *ss)
{
	struct reply r;
	if (ss == NULL || ss->s == NULL || ss->broken)
		return;
	reply_init(&r);
	struct status keep;
	status_init(&keep);
	status_copy(&keep, &ss->err);
	enter(ss, SMTP_QUIT);
	if (keep.cls != STATUS_OK)
		stream_set_timeout(ss->s, 5);	/* after a refusal the answer does not matter */
	if (command(ss, false, "QUIT") && flush(ss))
		(void)read_reply(ss, &r);
	status_copy(&ss->err, &keep);
	status_clear(&keep);
	reply_clear(&r);
}

/* Accepts NULL. */
static void
session_free(struct session *ss)
{
	if (ss == NULL)
		return;
	stream_free(ss->s);
	buf_clear(&ss->auth_mechs);
	status_clear(&ss->err);
	free(ss);
}

/* Sends the message on an open session: the PERM prechecks, then
 * transactions until every recipient is settled.  *reusable tells
 * whether the session may carry another message. */
static enum outcome
send_message(struct session *ss, struct attempt *at, bool *reusable)
{
	const struct smtp_request *rq = at->rq;
	size_t *idx = xcalloc(rq->n ? rq->n : 1, sizeof *idx);
	size_t *again = xcalloc(rq->n ? rq->n : 1, sizeof *again);
	size_t n = 0, nagain = 0;
	enum outcome out = OUT_DONE;

	*reusable = false;
	ss->rq = rq;
	ss->results = at->results;
	ss->settled = at->settled;
	ss->body_type = NULL;
	for (size_t i = 0; i < rq->n; i++)
		if (!at->settled[i])
			idx[n++] = i;
	if (!precheck(ss, idx, n)) {
		*reusable = true;
		goto out;
	}
	for (int txn = 0; n > 0; txn++) {
		bool conn_ok;
		if (txn >= SMTP_MAX_TXN) {
			status_set(&ss->err, STATUS_TEMP, "4.5.3", 0, "too many transactions for one message");
			settle(ss, idx, n, &ss->err);
			break;
		}
		size_t batch = ss->rcpt_limit && n > ss->rcpt_limit ? ss->rcpt_limit : n;
		out = transaction(ss, idx, batch, again, &nagain, &conn_ok);
		*reusable = out == OUT_DONE && conn_ok;
		if (out != OUT_DONE || !conn_ok) {
			if (out == OUT_DONE && batch < n)
				settle(ss, idx + batch, n - batch, &ss->err);
			break;
		}
		/* The recipients for the next transaction: those answered 452,
		 * then those this one did not carry. */
		memcpy(again + nagain, idx + batch, (n - batch) * sizeof *idx);
		if (nagain == batch) {
			/* 452 for everyone: nothing to gain from retrying now. */
			struct status st;
			status_init(&st);
			status_set(&st, STATUS_TEMP, "4.5.3", 0,
			    "host %s said: 452 too many recipients (in reply to RCPT TO command)",
			    ss->hostaddr);
			settle(ss, again, n, &st);
			status_clear(&st);
			break;
		}
		nagain += n - batch;
		memcpy(idx, again, nagain * sizeof *idx);
		n = nagain;
	}
out:
	free(idx);
	free(again);
	return out;
}

struct smtp_cache;
static void cache_put(struct smtp_cache *cache, struct session *ss, const char *nexthop);
static void cache_auth_failed(struct smtp_cache *cache, const struct smtp_dest *d,
    const struct status *why);

/* One session with one address.  plain = TLS is not to be tried (the
 * retry after a failed opportunistic handshake).  given_fd >= 0 is an
 * already connected socket (smtp_test_session). */
static enum outcome
session_run(struct attempt *at, const char *host, const struct dns_addr *a, unsigned port,
    bool plain, int given_fd, struct status *err)
{
	const struct smtp_request *rq = at->rq;
	const struct conf *c = rq->c;
	struct session *ss = xcalloc(1, sizeof *ss);
	struct reply r;
	enum outcome out = OUT_NEXT;
	enum conf_tls_level level = c->smtp_tls_security_level;
	bool wrapper = c->smtp_tls_wrappermode == 1 || (c->smtp_tls_wrappermode < 0 && port == 465);
	bool helo = false, required, reusable = false;

	reply_init(&r);
	status_init(&ss->err);
	ss->c = c;
	ss->rq = rq;
	ss->results = at->results;
	ss->settled = at->settled;
	ss->port = port;
	snprintf(ss->host, sizeof ss->host, "%s", host);
	snprintf(ss->addr, sizeof ss->addr, "%s", a->text);
	snprintf(ss->hostaddr, sizeof ss->hostaddr, "%s[%s]", host, a->text);
	snprintf(ss->label, sizeof ss->label, "%s[%s]:%u", host, a->text, port);
	if (level == TLS_LEVEL_DANE)
		level = TLS_LEVEL_MAY;	/* TLSA checks: not yet; opportunistic meanwhile */
	required = level >= TLS_LEVEL_ENCRYPT;
	if (plain)
		level = TLS_LEVEL_NONE;

	ss->state = SMTP_CONNECT;
	int fd = given_fd >= 0 ? given_fd : connect_addr(ss, a);
	if (fd < 0)
		goto out;
	buf_set(at->relay, ss->label);
	ss->s = stream_new(fd, ss->label);
	if (wrapper) {
		struct tls_info info;
		struct status st;
		status_init(&st);
		enter(ss, SMTP_GREETING);
		struct tls_client *tc = tls_context(at, &st);
		bool ok = tc && stream_start_tls(ss->s, tc, host, level == TLS_LEVEL_NONE ?
		    TLS_LEVEL_ENCRYPT : level, &info, &st);
		if (!ok)
			status_set(&ss->err, STATUS_TEMP, st.dsn[0] ? st.dsn : "4.7.5", 0,
			    "TLS handshake with %s failed: %s", ss->label, buf_cstr(&st.text));
		status_clear(&st);
		if (!ok)
			goto out;
		ss->tls = true;
		struct buf line = BUF_INIT;
		tls_info_format(&info, ss->label, &line);
		log_info("%s", buf_cstr(&line));
		buf_clear(&line);
	}
	enter(ss, SMTP_GREETING);
	if (!read_reply(ss, &r))
		goto out;
	if (r.code / 100 != 2) {
		status_set(&ss->err, STATUS_TEMP, r.dsn, 0, "host %s refused to talk to me: %s",
		    ss->hostaddr, buf_cstr(&r.text));
		ss->err.dsn[0] = '4';
		goto quit;
	}
	if (!hello(ss, &helo))
		goto quit;
	if (!ss->tls && level != TLS_LEVEL_NONE) {
		if (ss->caps & CAP_STARTTLS) {
			enum outcome t = starttls(ss, at, level);
			if (t == OUT_PLAIN) {
				out = OUT_PLAIN;
				goto out;
			}
			if (t == OUT_NEXT)
				goto out;
			if (ss->tls && !hello(ss, &helo))
				goto quit;
		}
		if (!ss->tls && required) {
			status_set(&ss->err, STATUS_TEMP, "4.7.4", 0,
			    "TLS is required, but was not offered by host %s", ss->hostaddr);
			goto quit;
		}
	}
	if (c->smtp_sasl_auth_enable && rq->creds && (ss->caps & CAP_AUTH)) {
		const struct sasl_creds *cr = rq->creds(rq->creds_ctx, at->dest->host, at->dest->port);
		if (cr && !authenticate(ss, cr)) {
			if (ss->auth_rejected && rq->cache)
				cache_auth_failed(rq->cache, at->dest, &ss->err);
			goto quit;
		}
	}
	out = send_message(ss, at, &reusable);
	if (out == OUT_DONE && reusable && rq->cache) {
		cache_put(rq->cache, ss, rq->nexthop);
		ss = NULL;
		goto out;
	}
quit:
	session_quit(ss);
out:
	if (ss && out != OUT_DONE && ss->err.cls != STATUS_OK)
		status_copy(err, &ss->err);
	reply_clear(&r);
	session_free(ss);
	return out;
}

/* ---- connection reuse ---- */

struct smtp_cache {
	struct session *ss;	/* an idle session, or NULL */
	char *nexthop;		/* the next hop it serves */
	unsigned uses;		/* messages it has carried */
	time_t since;		/* when it was opened (monotonic seconds) */
	unsigned max_uses;	/* 0 = no limit */
	unsigned max_age;	/* seconds; 0 = no limit */
	struct tls_client *tc;	/* made on first use (tls_context) */
	struct dns_resolver *res;	/* made on first use (resolver), one per run */
	/* Destinations whose server refused the credentials during this
	 * run: later messages wait with the same reason instead of trying
	 * again (no lockout by repeated 535s, SECURITY.md H-10). */
	struct auth_failure {
		struct smtp_dest dest;
		struct status why;
	} *failed;
	size_t nfailed;
};

static struct tls_client *
tls_context(struct attempt *at, struct status *st)
{
	struct smtp_cache *cache = at->rq->cache;
	if (at->tc == NULL && cache && cache->tc)
		at->tc = cache->tc;
	if (at->tc)
		return at->tc;
	at->tc = tls_client_new(at->rq->c, st);
	if (at->tc && cache)
		cache->tc = at->tc;	/* freed with the cache */
	else if (at->tc)
		at->tc_owned = true;
	return at->tc;
}

static time_t
mono_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

struct smtp_cache *
smtp_cache_new(unsigned max_uses, unsigned max_age)
{
	struct smtp_cache *cache = xcalloc(1, sizeof *cache);
	cache->max_uses = max_uses;
	cache->max_age = max_age;
	return cache;
}

static void
cache_drop(struct smtp_cache *cache)
{
	session_quit(cache->ss);
	session_free(cache->ss);
	cache->ss = NULL;
	free(cache->nexthop);
	cache->nexthop = NULL;
	cache->uses = 0;
}

struct smtp_cache *
smtp_cache_free(struct smtp_cache *cache)
{
	if (cache) {
		cache_drop(cache);
		for (size_t i = 0; i < cache->nfailed; i++)
			status_clear(&cache->failed[i].why);
		tls_client_free(cache->tc);
		dns_resolver_free(cache->res);
		free(cache->failed);
		free(cache);
	}
	return NULL;
}

static void
cache_auth_failed(struct smtp_cache *cache, const struct smtp_dest *d, const struct status *why)
{
	cache->failed = xreallocarray(cache->failed, cache->nfailed + 1, sizeof *cache->failed);
	struct auth_failure *f = &cache->failed[cache->nfailed++];
	f->dest = *d;
	status_init(&f->why);
	status_copy(&f->why, why);
}

/* The reason recorded when d's server refused the credentials in this
 * run, or NULL. */
static const struct status *
cache_auth_failure(const struct smtp_cache *cache, const struct smtp_dest *d)
{
	for (size_t i = 0; cache && i < cache->nfailed; i++)
		if (cache->failed[i].dest.port == d->port &&
		    strcasecmp(cache->failed[i].dest.host, d->host) == 0)
			return &cache->failed[i].why;
	return NULL;
}

/* Keeps ss (after a message it carried) for the next message to nexthop;
 * a session past its use limit, or one for another next hop, ends. */
static void
cache_put(struct smtp_cache *cache, struct session *ss, const char *nexthop)
{
	if (cache->ss != ss) {
		cache_drop(cache);
		cache->ss = ss;
		cache->nexthop = xstrdup(nexthop);
		cache->since = mono_seconds();
	}
	ss->rq = NULL;
	ss->results = NULL;
	ss->settled = NULL;
	cache->uses++;
	if ((cache->max_uses && cache->uses >= cache->max_uses) ||
	    (cache->max_age && mono_seconds() - cache->since >= (time_t)cache->max_age))
		cache_drop(cache);
}

/* Sends the message on the cached session when it serves this next hop:
 * RSET first (the server may have closed an idle connection).  OUT_NEXT
 * when there was no usable session and nothing was settled. */
static enum outcome
cache_send(struct attempt *at)
{
	struct smtp_cache *cache = at->rq->cache;
	struct session *ss = cache ? cache->ss : NULL;
	struct reply r;
	enum outcome out = OUT_NEXT;
	bool reusable = false;

	if (ss == NULL)
		return OUT_NEXT;
	if (strcmp(cache->nexthop, at->rq->nexthop) != 0) {
		cache_drop(cache);
		return OUT_NEXT;
	}
	reply_init(&r);
	status_clear(&ss->err);
	ss->rq = at->rq;
	enter(ss, SMTP_RSET);
	if (!command(ss, false, "RSET") || !flush(ss) || !read_reply(ss, &r) || r.code / 100 != 2) {
		cache_drop(cache);
		goto out;
	}
	buf_set(at->relay, ss->label);
	out = send_message(ss, at, &reusable);
	if (out == OUT_DONE && reusable)
		cache_put(cache, ss, at->rq->nexthop);
	else
		cache_drop(cache);
out:
	reply_clear(&r);
	return out;
}

/* ---- destinations ---- */

bool
smtp_parse_dest(const char *w, size_t n, unsigned default_port, struct smtp_dest *d)
{
	const char *end = w + n;
	const char *colon = NULL;
	d->port = default_port;
	d->mx = true;
	if (n > 0 && w[0] == '[') {
		const char *rb = memchr(w, ']', n);
		if (rb == NULL || rb == w + 1 || (size_t)(rb - w - 1) >= sizeof d->host)
			return false;
		memcpy(d->host, w + 1, (size_t)(rb - w - 1));
		d->host[rb - w - 1] = '\0';
		d->mx = false;
		if (rb + 1 < end) {
			if (rb[1] != ':')
				return false;
			colon = rb + 1;
		}
	} else {
		colon = memrchr(w, ':', n);
		size_t hl = colon ? (size_t)(colon - w) : n;
		if (hl == 0 || hl >= sizeof d->host)
			return false;
		memcpy(d->host, w, hl);
		d->host[hl] = '\0';
	}
	if (colon) {
		char *e;
		unsigned long p = strtoul(colon + 1, &e, 10);
		if (e != end || colon + 1 == end || p == 0 || p > 65535)
			return false;
		d->port = (unsigned)p;
	}
	/* "IPv6:" literal prefix of RFC 5321 address literals */
	if (!d->mx && strncasecmp(d->host, "ipv6:", 5) == 0)
		memmove(d->host, d->host + 5, strlen(d->host + 5) + 1);
	return true;
}

/* An internationalised domain name becomes its A-label form for DNS and
 * TLS name checks (SECURITY.md B-14); ASCII names pass unchanged.  False
 * with st (PERM 5.1.2) when the name is not valid IDNA2008. */
static bool
a_label(char *host, size_t size, struct status *st)
{
	bool ascii = true;
	for (const char *p = host; *p; p++)
		ascii &= (unsigned char)*p < 0x80;
	if (ascii)
		return true;
	char *out = NULL;
	int rc = idn2_to_ascii_8z(host, &out, IDN2_NONTRANSITIONAL);
	if (rc != IDN2_OK || strlen(out) >= size) {
		status_set(st, STATUS_PERM, "5.1.2", 0, "bad international domain name: %s",
		    idn2_strerror(rc));
		free(out);
		return false;
	}
	snprintf(host, size, "%s", out);
	free(out);
	return true;
}

/* Makes *res when a lookup of host needs one: an IP literal does not, so
 * a "[192.0.2.1]:587" relay reads no resolver configuration at all. */
static bool
resolver(struct dns_resolver **res, const struct conf *c, const char *host, struct status *st)
{
	unsigned char raw[16];
	if (*res || (host && (inet_pton(AF_INET, host, raw) == 1 || inet_pton(AF_INET6, host, raw) == 1)))
		return true;
	*res = dns_resolver_new(c, st);
	return *res != NULL;
}

/* Tries every address of host; true when a session settled recipients. */
static bool
try_host(struct attempt *at, struct dns_resolver **res, const char *host, unsigned port,
    struct status *err, bool *perm_only)
{
	struct dns_addr *addrs = NULL;
	size_t na = 0;
	struct status st;
	bool done = false;

	status_init(&st);
	if (!resolver(res, at->rq->c, host, &st) ||
	    !dns_lookup_addrs(*res, at->rq->c, host, &addrs, &na, &st)) {
		if (st.cls != STATUS_PERM)
			*perm_only = false;
		status_copy(err, &st);
		goto out;
	}
	*perm_only = false;
	for (size_t i = 0; i < na && !done; i++) {
		enum outcome o = session_run(at, host, &addrs[i], port, false, -1, err);
		if (o == OUT_PLAIN)
			o = session_run(at, host, &addrs[i], port, true, -1, err);
		done = o == OUT_DONE;
	}
out:
	free(addrs);
	status_clear(&st);
	return done;
}

void
smtp_deliver(const struct smtp_request *rq, struct status *results, struct buf *relay)
{
	const struct conf *c = rq->c;
	struct attempt at = { .rq = rq, .results = results, .relay = relay };
	struct status err, st;
	/* A queue run keeps one resolver: /etc/resolv.conf is read once. */
	struct dns_resolver *res = rq->cache ? rq->cache->res : NULL;
	bool done = false, perm_only = true;

	status_init(&err);
	status_init(&st);
	buf_set(relay, "none");
	status_set(&err, STATUS_TEMP, "4.4.1", 0, "no usable next hop in \"%s\"", rq->nexthop);
	at.settled = xcalloc(rq->n ? rq->n : 1, sizeof *at.settled);
	at.tc = rq->tc;
	done = cache_send(&at) == OUT_DONE;
	const char *p = rq->nexthop;
	while (*p && !done) {
		size_t skip = strspn(p, ", \t"), n;
		p += skip;
		n = strcspn(p, ", \t");
		if (n == 0)
			break;
		struct smtp_dest d;
		if (!smtp_parse_dest(p, n, c->smtp_tcp_port, &d)) {
			status_set(&err, STATUS_TEMP, "4.3.5", 0, "bad next hop \"%.*s\"", (int)n, p);
			perm_only = false;
			p += n;
			continue;
		}
		p += n;
		at.dest = &d;
		if (!a_label(d.host, sizeof d.host, &st)) {
			status_copy(&err, &st);
			continue;
		}
		const struct status *refused = cache_auth_failure(rq->cache, &d);
		if (refused && c->smtp_sasl_auth_enable) {
			status_copy(&err, refused);
			perm_only = false;
			continue;
		}
		if (!d.mx) {
			done = try_host(&at, &res, d.host, d.port, &err, &perm_only);
			continue;
		}
		struct dns_host *hosts = NULL;
		size_t nh = 0;
		bool secure = false;
		if (!resolver(&res, c, NULL, &st) ||
		    !dns_lookup_mx(res, d.host, &hosts, &nh, &secure, &st)) {
			if (st.cls != STATUS_PERM)
				perm_only = false;
			status_copy(&err, &st);
			continue;
		}
		for (size_t h = 0; h < nh && !done; h++)
			done = try_host(&at, &res, hosts[h].name, d.port, &err, &perm_only);
		dns_hosts_free(hosts, nh);
	}
	/* A relayhost that does not resolve is a configuration error: the
	 * mail waits for the fix instead of bouncing. */
	if (!done && err.cls == STATUS_PERM && (!perm_only || (c->relayhost && *c->relayhost))) {
		err.cls = STATUS_TEMP;
		err.dsn[0] = '4';
	}
	for (size_t i = 0; i < rq->n; i++)
		if (!at.settled[i])
			status_copy(&results[i], &err);
	free(at.settled);
	if (at.tc_owned)
		tls_client_free(at.tc);
	if (rq->cache)
		rq->cache->res = res;
	else
		dns_resolver_free(res);
	status_clear(&err);
	status_clear(&st);
}

void
smtp_test_session(const struct smtp_request *rq, int fd, struct status *results, struct buf *relay)
{
	struct attempt at = { .rq = rq, .results = results, .relay = relay, .tc = rq->tc };
	struct smtp_dest d;
	struct dns_addr a;
	struct status err;

	memset(&a, 0, sizeof a);
	snprintf(a.text, sizeof a.text, "192.0.2.1");
	snprintf(d.host, sizeof d.host, "test.invalid");
	d.port = 25;
	d.mx = false;
	at.dest = &d;
	at.settled = xcalloc(rq->n ? rq->n : 1, sizeof *at.settled);
	status_init(&err);
	buf_set(relay, "none");
	if (session_run(&at, d.host, &a, d.port, false, fd, &err) != OUT_DONE)
		for (size_t i = 0; i < rq->n; i++)
			if (!at.settled[i])
				status_copy(&results[i], &err);
	free(at.settled);
	if (at.tc_owned)
		tls_client_free(at.tc);
	status_clear(&err);
}
