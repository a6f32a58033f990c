/* bs - the sendmail -bs SMTP server dialogue (see bs.h): a line reader
 * with a length limit, a command parser, the state machine, and the DATA
 * reader that dot-unstuffs the message into submit_message(). */
#include "bs.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "addr.h"
#include "envelope.h"
#include "io.h"
#include "log.h"
#include "xalloc.h"

#define BS_INBUF	8192

/* The DATA reader's position within the current line. */
enum bs_data_state {
	DATA_BOL,	/* at the start of a line */
	DATA_DOT,	/* a '.' at the start of a line */
	DATA_DOT_CR,	/* ".\r" at the start of a line */
	DATA_MID,	/* inside a line */
	DATA_END,	/* the final "." line was read */
	DATA_EOF,	/* end of input before the final "." */
};

struct bs {
	const struct conf *conf;
	int in_fd, out_fd;
	char in[BS_INBUF];
	size_t pos, len;
	bool eof;		/* end of input or a read error */
	bool write_failed;
	struct buf out;		/* replies not yet written */
	enum bs_state state;
	enum bs_data_state dstate;
	int errors;
	char *helo;
	bool esmtp;
	struct bs_path mail;
	struct bs_path *rcpt;
	size_t nrcpt;
};

const char *
bs_state_name(enum bs_state s)
{
	switch (s) {
	case BS_START: return "START";
	case BS_READY: return "READY";
	case BS_MAIL: return "MAIL";
	case BS_RCPT: return "RCPT";
	case BS_DATA: return "DATA";
	case BS_DONE: return "DONE";
	}
	return "?";
}

/* ---- parsing ---- */

static const struct {
	const char *name;
	enum bs_verb verb;
} verbs[] = {
	{ "HELO", BS_CMD_HELO }, { "EHLO", BS_CMD_EHLO }, { "MAIL", BS_CMD_MAIL },
	{ "RCPT", BS_CMD_RCPT }, { "DATA", BS_CMD_DATA }, { "RSET", BS_CMD_RSET },
	{ "NOOP", BS_CMD_NOOP }, { "VRFY", BS_CMD_VRFY }, { "QUIT", BS_CMD_QUIT },
	{ "HELP", BS_CMD_HELP }, { "EXPN", BS_CMD_NOTIMPL }, { "AUTH", BS_CMD_NOTIMPL },
	{ "STARTTLS", BS_CMD_NOTIMPL }, { "ETRN", BS_CMD_NOTIMPL }, { "BDAT", BS_CMD_NOTIMPL },
	{ "TURN", BS_CMD_NOTIMPL }, { "XCLIENT", BS_CMD_NOTIMPL },
};

enum bs_verb
bs_parse_verb(const char *line, const char **arg)
{
	size_t n = strcspn(line, " ");
	const char *rest = line + n;
	while (*rest == ' ')
		rest++;
	*arg = rest;
	for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		if (strlen(verbs[i].name) == n && strncasecmp(line, verbs[i].name, n) == 0)
			return verbs[i].verb;
	return BS_CMD_UNKNOWN;
}

void
bs_path_init(struct bs_path *p)
{
	memset(p, 0, sizeof *p);
	p->size = -1;
}

void
bs_path_clear(struct bs_path *p)
{
	free(p->addr);
	free(p->envid);
	free(p->orcpt);
	bs_path_init(p);
}

bool
bs_xtext_decode(const char *s, size_t n, struct buf *out)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '+') {
			if (i + 2 >= n || !isxdigit((unsigned char)s[i + 1]) ||
			    !isxdigit((unsigned char)s[i + 2]))
				return false;
			char hex[3] = { s[i + 1], s[i + 2], 0 };
			c = (unsigned char)strtoul(hex, NULL, 16);
			i += 2;
			if (c < 0x20 || c > 0x7e)
				return false;
		} else if (c < 0x21 || c > 0x7e || c == '=') {
			return false;
		}
		buf_putc(out, (char)c);
	}
	return true;
}

static int
reply_err(struct buf *reply, int code, const char *text)
{
	buf_reset(reply);
	buf_puts(reply, text);
	return code;
}

/* Length of the path at s: "<...>" (quoted strings and backslash pairs
 * skipped, so "<\"a>b\"@x>" is one path) or a bare word; 0 when a '<'
 * is never closed. */
static size_t
path_len(const char *s)
{
	if (*s != '<')
		return strcspn(s, " ");
	bool quoted = false;
	for (size_t i = 1; s[i]; i++) {
		if (s[i] == '\\' && s[i + 1])
			i++;
		else if (s[i] == '"')
			quoted = !quoted;
		else if (s[i] == '>' && !quoted)
			return i + 1;
	}
	return 0;
}

/* One MAIL parameter KEY[=VALUE]. */
static int
mail_param(const char *key, size_t klen, const char *val, long long size_limit,
    struct bs_path *p, struct buf *reply)
{
#define KEY(k) (klen == strlen(k) && strncasecmp(key, k, klen) == 0)
	if (KEY("SIZE")) {
		char *end;
		if (val == NULL || !isdigit((unsigned char)*val) || p->size >= 0)
			return reply_err(reply, 501, "501 5.5.4 Bad SIZE parameter syntax");
		errno = 0;
		long long v = strtoll(val, &end, 10);
		if (*end || errno == ERANGE || strlen(val) > 18)
			return reply_err(reply, 552, "552 5.3.4 Message size exceeds fixed limit");
		if (size_limit > 0 && v > size_limit)
			return reply_err(reply, 552, "552 5.3.4 Message size exceeds fixed limit");
		p->size = v;
	} else if (KEY("BODY")) {
		if (p->body || val == NULL)
			return reply_err(reply, 501, "501 5.5.4 Bad BODY parameter syntax");
		if (strcasecmp(val, "7BIT") == 0)
			p->body = "7bit";
		else if (strcasecmp(val, "8BITMIME") == 0)
			p->body = "8bitmime";
		else
			return reply_err(reply, 501, "501 5.5.4 Unsupported BODY parameter value");
	} else if (KEY("SMTPUTF8")) {
		if (val != NULL || p->smtputf8)
			return reply_err(reply, 501, "501 5.5.4 Bad SMTPUTF8 parameter syntax");
		p->smtputf8 = true;
	} else if (KEY("RET")) {
		if (p->ret || val == NULL)
			return reply_err(reply, 501, "501 5.5.4 Bad RET parameter syntax");
		if (strcasecmp(val, "FULL") == 0)
			p->ret = "full";
		else if (strcasecmp(val, "HDRS") == 0)
			p->ret = "hdrs";
		else
			return reply_err(reply, 501, "501 5.5.4 Bad RET parameter value");
	} else if (KEY("ENVID")) {
		struct buf d = BUF_INIT;
		if (p->envid || val == NULL || !bs_xtext_decode(val, strlen(val), &d) ||
		    d.len == 0 || d.len > BS_MAX_ENVID) {
			buf_clear(&d);
			return reply_err(reply, 501, "501 5.5.4 Bad ENVID parameter syntax");
		}
		p->envid = buf_steal(&d);
	} else {
		return reply_err(reply, 555, "555 5.5.4 Unsupported option");
	}
	return 0;
}

/* One RCPT parameter KEY[=VALUE]. */
static int
rcpt_param(const char *key, size_t klen, const char *val, struct bs_path *p,
    struct buf *reply)
{
	if (KEY("NOTIFY")) {
		if (p->notify || val == NULL || !envelope_notify_parse(val, &p->notify) ||
		    strpbrk(val, " \t"))
			return reply_err(reply, 501, "501 5.5.4 Bad NOTIFY parameter syntax");
	} else if (KEY("ORCPT")) {
		struct buf d = BUF_INIT, why = BUF_INIT;
		struct addr a;
		int rc = 0;
		memset(&a, 0, sizeof a);
		const char *semi = val ? strchr(val, ';') : NULL;
		if (p->orcpt || semi == NULL || (size_t)(semi - val) != 6 ||
		    strncasecmp(val, "rfc822", 6) != 0 ||
		    !bs_xtext_decode(semi + 1, strlen(semi + 1), &d) ||
		    !addr_parse_canonical(d.len ? d.data : "", &a, &why) || a.local[0] == '\0') {
			rc = reply_err(reply, 501, "501 5.5.4 Bad ORCPT parameter syntax");
		} else {
			buf_reset(&d);
			addr_format(&a, &d);
			p->orcpt = buf_steal(&d);
		}
		addr_clear(&a);
		buf_clear(&d);
		buf_clear(&why);
		return rc;
	} else {
		return reply_err(reply, 555, "555 5.5.4 Unsupported option");
	}
	return 0;
#undef KEY
}

int
bs_parse_path(enum bs_verb verb, const char *arg, long long size_limit,
    struct bs_path *p, struct buf *reply)
{
	bool mail = verb == BS_CMD_MAIL;
	const char *kw = mail ? "FROM:" : "TO:";
	size_t kwlen = strlen(kw);
	struct buf why = BUF_INIT, tmp = BUF_INIT;
	struct addr a;
	int rc = 0;

	bs_path_init(p);
	memset(&a, 0, sizeof a);
	if (strncasecmp(arg, kw, kwlen) != 0) {
		rc = reply_err(reply, 501, mail ? "501 5.5.4 Syntax: MAIL FROM:<address>" :
		    "501 5.5.4 Syntax: RCPT TO:<address>");
		goto out;
	}
	const char *s = arg + kwlen;
	while (*s == ' ')	/* "MAIL FROM: <a@x>", as many clients write it */
		s++;
	size_t n = path_len(s);
	if (n == 0 || (s[n] != '\0' && s[n] != ' ')) {
		rc = reply_err(reply, 501, mail ? "501 5.1.7 Bad sender address syntax" :
		    "501 5.1.3 Bad recipient address syntax");
		goto out;
	}
	buf_append(&tmp, s, n);
	if (!addr_parse_canonical(tmp.data, &a, &why) || (!mail && a.local[0] == '\0')) {
		rc = reply_err(reply, 501, mail ? "501 5.1.7 Bad sender address syntax" :
		    "501 5.1.3 Bad recipient address syntax");
		goto out;
	}
	buf_reset(&tmp);
	addr_format(&a, &tmp);
	p->utf8 = addr_is_utf8(&a);
	p->addr = buf_steal(&tmp);

	/* Parameters: KEY[=VALUE] separated by spaces. */
	s += n;
	while (*s) {
		while (*s == ' ')
			s++;
		if (*s == '\0')
			break;
		size_t plen = strcspn(s, " ");
		buf_reset(&tmp);
		buf_append(&tmp, s, plen);
		s += plen;
		char *eq = strchr(tmp.data, '=');
		size_t klen = eq ? (size_t)(eq - tmp.data) : tmp.len;
		const char *val = eq ? eq + 1 : NULL;
		if (klen == 0) {
			rc = reply_err(reply, 501, "501 5.5.4 Bad parameter syntax");
			goto out;
		}
		rc = mail ? mail_param(tmp.data, klen, val, size_limit, p, reply) :
		    rcpt_param(tmp.data, klen, val, p, reply);
		if (rc)
			goto out;
	}
out:
	if (rc)
		bs_path_clear(p);
	addr_clear(&a);
	buf_clear(&why);
	buf_clear(&tmp);
	return rc;
}

/* ---- I/O ---- */

static bool
flush_out(struct bs *s)
{
	if (s->out.len && !s->write_failed) {
		if (!io_write_all(s->out_fd, s->out.data, s->out.len))
			s->write_failed = true;
	}
	buf_reset(&s->out);
	return !s->write_failed;
}

/* The next input byte, or -1 at end of input.  Pending replies are
 * written first whenever the server is about to wait (RFC 2920). */
static int
in_getc(struct bs *s)
{
	if (s->pos == s->len) {
		if (s->eof)
			return -1;
		flush_out(s);
		ssize_t r;
		do
			r = read(s->in_fd, s->in, sizeof s->in);
		while (r < 0 && errno == EINTR);
		if (r <= 0) {
			s->eof = true;
			return -1;
		}
		s->pos = 0;
		s->len = (size_t)r;
	}
	return (unsigned char)s->in[s->pos++];
}

static void
reply(struct bs *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
reply(struct bs *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&s->out, fmt, ap);
	va_end(ap);
	buf_puts(&s->out, "\r\n");
}

/* An error reply; too many of them end the session (a runaway client). */
static void
reply_error(struct bs *s, const char *text)
{
	reply(s, "%s", text);
	if (++s->errors >= BS_MAX_ERRORS) {
		reply(s, "421 4.7.0 %s Error: too many errors", s->conf->myhostname);
		s->state = BS_DONE;
	}
}

/* Reads one command line into line (CR LF or LF removed).  Returns 1 for
 * a line, 0 at end of input, -1 for a line over BS_MAX_LINE (consumed
 * and dropped). */
static int
read_line(struct bs *s, struct buf *line)
{
	bool too_long = false;
	int c;
	buf_reset(line);
	while ((c = in_getc(s)) >= 0) {
		if (c == '\n') {
			if (!too_long && line->len && line->data[line->len - 1] == '\r')
				line->len--, line->data[line->len] = '\0';
			return too_long ? -1 : 1;
		}
		if (too_long)
			continue;
		buf_putc(line, (char)c);
		if (line->len > BS_MAX_LINE + 1)	/* + 1: a CR before the LF */
			too_long = true;
	}
	return 0;
}

/* msg_read_fn for submit: the DATA section, dot-unstuffed, up to the
 * final "." line (RFC 5321 4.5.2).  CR and LF are passed on as they come
 * (msg normalises them); a line "." ends the data whether it ends in CR
 * LF or LF alone.  End of input before it is an error: nothing is queued. */
static ssize_t
data_read(void *ctx, char *p, size_t n)
{
	struct bs *s = ctx;
	size_t w = 0;
	if (n < 2) {	/* msg always offers more; never end the data early */
		errno = EINVAL;
		return -1;
	}
	while (w + 2 <= n) {	/* room for a held-back CR and the next byte */
		if (s->dstate == DATA_END)
			break;
		if (s->dstate == DATA_EOF) {
			if (w)
				break;
			errno = ECONNRESET;
			return -1;
		}
		/* Do not block for more input while holding bytes: the
		 * consumer may want to see them (and pending replies must go). */
		if (w > 0 && s->pos == s->len)
			break;
		int c = in_getc(s);
		if (c < 0) {
			s->dstate = DATA_EOF;
			continue;
		}
		switch (s->dstate) {
		case DATA_BOL:
			if (c == '.') {
				s->dstate = DATA_DOT;
				break;
			}
			p[w++] = (char)c;
			s->dstate = c == '\n' ? DATA_BOL : DATA_MID;
			break;
		case DATA_DOT:
			if (c == '\n') {
				s->dstate = DATA_END;
			} else if (c == '\r') {
				s->dstate = DATA_DOT_CR;
			} else {	/* the leading dot is dropped */
				p[w++] = (char)c;
				s->dstate = DATA_MID;
			}
			break;
		case DATA_DOT_CR:
			if (c == '\n') {
				s->dstate = DATA_END;
			} else {
				p[w++] = '\r';
				p[w++] = (char)c;
				s->dstate = DATA_MID;
			}
			break;
		case DATA_MID:
			p[w++] = (char)c;
			if (c == '\n')
				s->dstate = DATA_BOL;
			break;
		case DATA_END:
		case DATA_EOF:
			break;
		}
	}
	return (ssize_t)w;
}

/* ---- the state machine ---- */

static void
reset_transaction(struct bs *s)
{
	bs_path_clear(&s->mail);
	for (size_t i = 0; i < s->nrcpt; i++)
		bs_path_clear(&s->rcpt[i]);
	s->nrcpt = 0;
	if (s->state == BS_MAIL || s->state == BS_RCPT || s->state == BS_DATA)
		s->state = BS_READY;
}

/* A reply text from a submission status: one line, printable ASCII. */
static void
clean_text(const struct buf *in, struct buf *out)
{
	const char *t = buf_cstr(in);
	for (size_t i = 0; t[i] && i < 400; i++) {
		unsigned char c = (unsigned char)t[i];
		buf_putc(out, c >= 0x20 && c < 0x7f ? (char)c : '?');
	}
}

static void
do_data(struct bs *s, const struct submit_opts *base, bs_queued_fn queued, void *qctx)
{
	struct submit_opts o;
	struct submit_rcpt *r = xreallocarray(NULL, s->nrcpt, sizeof *r);
	struct status st;
	struct buf text = BUF_INIT;
	char id[32] = "";

	for (size_t i = 0; i < s->nrcpt; i++) {
		r[i].addr = s->rcpt[i].addr;
		r[i].notify = s->rcpt[i].notify;
		r[i].orcpt = s->rcpt[i].orcpt;
	}
	memset(&o, 0, sizeof o);
	o.config_opt = base->config_opt;
	o.fullname = base->fullname;
	o.sender = s->mail.addr[0] ? s->mail.addr : "<>";
	o.dot_mode = false;
	o.envid = s->mail.envid;
	o.ret = s->mail.ret;
	o.body = s->mail.body;
	o.rcpts = r;
	o.nrcpts = s->nrcpt;
	o.helo = s->helo;
	o.smtputf8 = s->mail.smtputf8;
	o.reader = data_read;
	o.reader_ctx = s;

	status_init(&st);
	s->state = BS_DATA;
	s->dstate = DATA_BOL;
	reply(s, "354 End data with <CR><LF>.<CR><LF>");
	bool ok = submit_message(s->conf, &o, -1, id, &st);
	/* A submission that stopped early (size, NUL, a table failure)
	 * leaves the rest of the data to be read and dropped. */
	char sink[4096];
	while (s->dstate != DATA_END && s->dstate != DATA_EOF)
		if (data_read(s, sink, sizeof sink) < 0)
			break;
	if (s->dstate == DATA_EOF) {
		/* The client went away mid-DATA: whatever submit made of a
		 * truncated stream, nothing may be queued. */
		if (ok)
			log_warning("%s: input ended inside DATA after the queue commit", id);
		else
			log_info("lost connection during DATA; nothing queued");
		s->state = BS_DONE;
		goto out;
	}
	clean_text(&st.text, &text);
	if (ok) {
		reply(s, "250 2.0.0 Ok: queued as %s", id);
		log_info("%s: from=<%s>, nrcpt=%zu (queued by sendmail -bs)", id, s->mail.addr,
		    s->nrcpt);
	} else if (st.cls == STATUS_PERM) {
		const char *dsn = st.dsn[0] == '5' ? st.dsn : "5.0.0";
		reply(s, "%d %s Error: %s", strcmp(dsn, "5.3.4") == 0 ? 552 : 554, dsn, text.data);
	} else {
		reply(s, "451 4.3.0 Error: %s", text.data);
	}
	reset_transaction(s);
	if (ok && queued) {
		flush_out(s);
		queued(qctx, id);
	}
out:
	free(r);
	buf_clear(&text);
	status_clear(&st);
}

static bool
helo_valid(const char *a)
{
	size_t n = strlen(a);
	if (n == 0 || n > BS_MAX_HELO)
		return false;
	for (const char *p = a; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f || *p == '(' || *p == ')')
			return false;
	return true;
}

static void
command(struct bs *s, const char *line, const struct submit_opts *base,
    bs_queued_fn queued, void *qctx)
{
	const char *arg;
	struct buf rtext = BUF_INIT;
	struct bs_path p;
	enum bs_verb v = bs_parse_verb(line, &arg);
	int rc;

	bs_path_init(&p);
	switch (v) {
	case BS_CMD_HELO:
	case BS_CMD_EHLO:
		if (!helo_valid(arg)) {
			reply_error(s, v == BS_CMD_EHLO ? "501 5.5.4 Syntax: EHLO hostname" :
			    "501 5.5.4 Syntax: HELO hostname");
			break;
		}
		free(s->helo);
		s->helo = xstrdup(arg);
		s->esmtp = v == BS_CMD_EHLO;
		s->state = BS_READY;
		reset_transaction(s);
		if (v == BS_CMD_HELO) {
			reply(s, "250 %s", s->conf->myhostname);
			break;
		}
		reply(s, "250-%s", s->conf->myhostname);
		reply(s, "250-PIPELINING");
		if (s->conf->message_size_limit > 0)
			reply(s, "250-SIZE %lld", s->conf->message_size_limit);
		else
			reply(s, "250-SIZE");
		reply(s, "250-ENHANCEDSTATUSCODES");
		reply(s, "250-8BITMIME");
		reply(s, "250-DSN");
		reply(s, "250 SMTPUTF8");
		break;
	case BS_CMD_MAIL:
		if (s->state == BS_START) {
			reply_error(s, "503 5.5.1 Error: send HELO/EHLO first");
			break;
		}
		if (s->state != BS_READY) {
			reply_error(s, "503 5.5.1 Error: nested MAIL command");
			break;
		}
		rc = bs_parse_path(v, arg, s->conf->message_size_limit, &p, &rtext);
		if (rc == 0 && !s->esmtp && (p.size >= 0 || p.body || p.smtputf8 || p.ret || p.envid))
			rc = reply_err(&rtext, 555, "555 5.5.4 Unsupported option");
		if (rc == 0 && p.utf8 && !p.smtputf8)
			rc = reply_err(&rtext, 553, "553 5.6.7 Must declare SMTPUTF8 to send UTF-8 address");
		if (rc) {
			reply_error(s, rtext.data);
			bs_path_clear(&p);
			break;
		}
		s->mail = p;
		bs_path_init(&p);
		s->state = BS_MAIL;
		reply(s, "250 2.1.0 Ok");
		break;
	case BS_CMD_RCPT:
		if (s->state != BS_MAIL && s->state != BS_RCPT) {
			reply_error(s, "503 5.5.1 Error: need MAIL command");
			break;
		}
		rc = bs_parse_path(v, arg, 0, &p, &rtext);
		if (rc == 0 && !s->esmtp && (p.notify || p.orcpt))
			rc = reply_err(&rtext, 555, "555 5.5.4 Unsupported option");
		if (rc == 0 && p.utf8 && !s->mail.smtputf8)
			rc = reply_err(&rtext, 553, "553 5.6.7 Must declare SMTPUTF8 to send UTF-8 address");
		if (rc == 0 && s->nrcpt >= BS_MAX_RCPT)
			rc = reply_err(&rtext, 452, "452 4.5.3 Error: too many recipients");
		if (rc) {
			reply_error(s, rtext.data);
			bs_path_clear(&p);
			break;
		}
		if (s->nrcpt == 0)
			s->rcpt = xreallocarray(s->rcpt, BS_MAX_RCPT, sizeof *s->rcpt);
		s->rcpt[s->nrcpt++] = p;
		bs_path_init(&p);
		s->state = BS_RCPT;
		reply(s, "250 2.1.5 Ok");
		break;
	case BS_CMD_DATA:
		if (*arg) {
			reply_error(s, "501 5.5.4 Syntax: DATA");
		} else if (s->state == BS_START || s->state == BS_READY) {
			reply_error(s, "503 5.5.1 Error: need RCPT command");
		} else if (s->state == BS_MAIL) {
			reply_error(s, "554 5.5.1 Error: no valid recipients");
		} else {
			do_data(s, base, queued, qctx);
		}
		break;
	case BS_CMD_RSET:
		if (*arg) {
			reply_error(s, "501 5.5.4 Syntax: RSET");
			break;
		}
		reset_transaction(s);
		reply(s, "250 2.0.0 Ok");
		break;
	case BS_CMD_NOOP:
		reply(s, "250 2.0.0 Ok");
		break;
	case BS_CMD_VRFY:
		if (*arg == '\0')
			reply_error(s, "501 5.5.4 Syntax: VRFY address");
		else
			reply(s, "252 2.0.0 Cannot VRFY user; try RCPT to attempt delivery");
		break;
	case BS_CMD_HELP:
		reply(s, "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP VRFY QUIT HELP");
		break;
	case BS_CMD_QUIT:
		reply(s, "221 2.0.0 Bye");
		s->state = BS_DONE;
		break;
	case BS_CMD_NOTIMPL:
		reply_error(s, "502 5.5.1 Error: command not implemented");
		break;
	case BS_CMD_UNKNOWN:
		reply_error(s, "502 5.5.2 Error: command not recognized");
		break;
	}
	bs_path_clear(&p);
	buf_clear(&rtext);
}

bool
bs_run(const struct conf *conf, const struct submit_opts *base, int in_fd, int out_fd,
    bs_queued_fn queued, void *queued_ctx, struct status *st)
{
	static struct bs s;	/* large input buffer: not on the stack */
	struct buf line = BUF_INIT;

	(void)st;
	memset(&s, 0, sizeof s);
	s.conf = conf;
	s.in_fd = in_fd;
	s.out_fd = out_fd;
	buf_init(&s.out);
	bs_path_init(&s.mail);
	s.state = BS_START;
	reply(&s, "220 %s ESMTP satmail", conf->myhostname);
	while (s.state != BS_DONE && !s.write_failed) {
		int r = read_line(&s, &line);
		if (r == 0)
			break;	/* the client went away */
		if (r < 0) {
			reply_error(&s, "500 5.5.2 Error: line too long");
			continue;
		}
		if (memchr(line.data, '\0', line.len)) {
			reply_error(&s, "500 5.5.2 Error: bad syntax");
			continue;
		}
		enum bs_state before = s.state;
		command(&s, line.data, base, queued, queued_ctx);
		if (log_verbose() > 1 && s.state != before)
			log_debug("-bs: %s -> %s", bs_state_name(before), bs_state_name(s.state));
	}
	flush_out(&s);
	reset_transaction(&s);
	free(s.rcpt);
	free(s.helo);
	buf_clear(&s.out);
	buf_clear(&line);
	return true;
}
