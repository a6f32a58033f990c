/* submit - the intake path: message in, envelope and edited message out
 * to `satmail-queue drop` (see submit.h; the drop protocol is described at
 * the top of cmd/satmail-queue.c). */
#include "submit.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "envelope.h"
#include "io.h"
#include "log.h"
#include "msg.h"
#include "priv.h"
#include "queue.h"
#include "rewrite.h"
#include "xalloc.h"

#define SUBMIT_FRAME	65536

extern char **environ;

/* Header fields whose addresses are qualified (Postfix cleanup's sender
 * and recipient header lists). */
static const char *const address_fields[] = {
	"From", "Sender", "Reply-To", "To", "Cc", "Errors-To", "Return-Receipt-To",
	"Resent-From", "Resent-Sender", "Resent-Reply-To", "Resent-To", "Resent-Cc",
	NULL,
};
/* Removed from every message (Postfix message_drop_headers). */
static const char *const dropped_fields[] = {
	"Bcc", "Resent-Bcc", "Return-Path", "Content-Length", NULL,
};

/* ---- addresses ---- */

/* Canonical form of a, with @myorigin added to a domainless address. */
static void
qualified(const struct conf *conf, const struct addr *a, struct buf *out)
{
	addr_format(a, out);
	if (a->domain == NULL && a->local[0] != '\0') {
		buf_putc(out, '@');
		buf_puts(out, conf->myorigin);
	}
}

bool
submit_sender(const struct conf *conf, const char *arg, struct buf *out,
    struct status *st)
{
	struct addr_list l;
	struct buf why = BUF_INIT;
	bool ok = false;

	addr_list_init(&l);
	if (arg == NULL) {
		struct passwd *pw = getpwuid(getuid());
		char name[64];
		if (pw && pw->pw_name[0])
			snprintf(name, sizeof name, "%s", pw->pw_name);
		else
			snprintf(name, sizeof name, "uid%ld", (long)getuid());
		arg = name;
		if (!addr_parse_arg(name, &l, &why) || l.n == 0) {
			/* A login name that is no valid local part: quote it. */
			buf_printf(out, "\"%s\"@%s", name, conf->myorigin);
			ok = true;
			goto out;
		}
	} else if (!addr_parse_arg(arg, &l, &why) || l.n == 0) {
		status_set(st, STATUS_PERM, "5.1.7", EXIT_USAGE, "bad sender address syntax: %s: %s",
		    arg, buf_cstr(&why));
		goto out;
	}
	qualified(conf, &l.v[0], out);
	ok = true;
out:
	addr_list_clear(&l);
	buf_clear(&why);
	return ok;
}

/* Adds each address of one command-line argument or header to env,
 * after canonical rewriting and alias expansion (rw NULL: parse only). */
static bool
add_recipients(const struct conf *conf, struct rewrite *rw, struct envelope *env,
    const struct addr_list *l, unsigned notify, const char *where, struct status *st)
{
	struct buf a = BUF_INIT, canon = BUF_INIT;
	bool ok = true;
	for (size_t i = 0; i < l->n && ok; i++) {
		if (l->v[i].local[0] == '\0') {
			status_set(st, STATUS_PERM, "5.1.3", where ? EXIT_DATAERR : EXIT_USAGE,
			    "null recipient address <>%s%s", where ? " in " : "", where ? where : "");
			ok = false;
			break;
		}
		if (rw == NULL)
			continue;
		buf_reset(&a);
		qualified(conf, &l->v[i], &a);
		ok = rewrite_canonical(rw, REWRITE_RECIPIENT, a.data, &canon, st) &&
		    rewrite_expand(rw, canon.data, a.data, notify, env, NULL, st);
	}
	buf_clear(&a);
	buf_clear(&canon);
	return ok;
}

static bool
args_to_recipients(const struct conf *conf, struct rewrite *rw, const struct submit_opts *o,
    struct envelope *env, struct status *st)
{
	struct addr_list l;
	struct buf why = BUF_INIT;
	bool ok = true;
	for (size_t i = 0; i < o->nrcpt_args && ok; i++) {
		addr_list_init(&l);
		buf_reset(&why);
		if (!addr_parse_arg(o->rcpt_args[i], &l, &why)) {
			status_set(st, STATUS_PERM, "5.1.3", EXIT_USAGE,
			    "bad recipient address syntax: %s: %s", o->rcpt_args[i], buf_cstr(&why));
			ok = false;
		} else if (l.n == 0) {
			status_set(st, STATUS_PERM, "5.1.3", EXIT_USAGE,
			    "empty recipient address argument");
			ok = false;
		} else {
			ok = add_recipients(conf, rw, env, &l, o->notify, NULL, st);
		}
		addr_list_clear(&l);
	}
	buf_clear(&why);
	return ok;
}

/* -bs: the RCPT TO addresses, validated by the SMTP parser already. */
static bool
smtp_recipients(const struct conf *conf, struct rewrite *rw, const struct submit_opts *o,
    struct envelope *env, struct status *st)
{
	struct buf a = BUF_INIT, canon = BUF_INIT, why = BUF_INIT;
	bool ok = true;
	for (size_t i = 0; i < o->nrcpts && ok; i++) {
		struct addr ad;
		buf_reset(&why);
		if (!addr_parse_canonical(o->rcpts[i].addr, &ad, &why) || ad.local[0] == '\0') {
			status_set(st, STATUS_PERM, "5.1.3", EXIT_DATAERR,
			    "bad recipient address syntax: %s", buf_cstr(&why));
			ok = false;
		} else {
			buf_reset(&a);
			qualified(conf, &ad, &a);
			ok = rewrite_canonical(rw, REWRITE_RECIPIENT, a.data, &canon, st) &&
			    rewrite_expand(rw, canon.data, o->rcpts[i].orcpt ? o->rcpts[i].orcpt : a.data,
			    o->rcpts[i].notify, env, NULL, st);
		}
		addr_clear(&ad);
	}
	buf_clear(&a);
	buf_clear(&canon);
	buf_clear(&why);
	return ok;
}

bool
submit_check_args(const struct conf *conf, const struct submit_opts *o, struct status *st)
{
	struct envelope env;
	struct buf sender = BUF_INIT;
	envelope_init(&env);
	bool ok = submit_sender(conf, o->sender, &sender, st) &&
	    args_to_recipients(conf, NULL, o, &env, st);
	envelope_clear(&env);
	buf_clear(&sender);
	return ok;
}

/* ---- header edits ---- */

static bool
field_in(const struct msg_header *f, const char *const *names)
{
	for (size_t i = 0; names[i]; i++)
		if (msg_header_is(f, names[i]))
			return true;
	return false;
}

/* Header fields whose addresses are sender addresses for canonical
 * rewriting; the other address fields are recipient addresses. */
static const char *const sender_fields[] = {
	"From", "Sender", "Reply-To", "Errors-To", "Return-Receipt-To",
	"Resent-From", "Resent-Sender", "Resent-Reply-To", NULL,
};

/* Rewrites one address field (canonical maps; bare names get
 * @$myorigin).  A field that does not parse is left as it is. */
static bool
rewrite_field(struct rewrite *rw, struct msg_header *f, struct status *st)
{
	struct buf text = BUF_INIT;
	enum rewrite_class cls = field_in(f, sender_fields) ? REWRITE_SENDER : REWRITE_RECIPIENT;
	bool ok = rewrite_header(rw, cls, f->text, f->name_len, f->len, &text, st);
	if (ok && text.len)
		msg_header_replace(f, text.data, text.len);
	buf_clear(&text);
	return ok;
}

/* -t: recipients from To, Cc, Bcc, or only from Resent-To/Cc/Bcc when any
 * of those is present. */
static bool
extract_recipients(const struct conf *conf, struct rewrite *rw, const struct submit_opts *o,
    const struct msg_headers *h, struct envelope *env, struct status *st)
{
	static const char *const primary[] = { "To", "Cc", "Bcc", NULL };
	static const char *const resent[] = { "Resent-To", "Resent-Cc", "Resent-Bcc", NULL };
	const char *const *names = primary;
	for (size_t i = 0; i < h->n; i++)
		if (field_in(&h->v[i], resent))
			names = resent;

	struct addr_list l;
	struct buf why = BUF_INIT, where = BUF_INIT;
	bool ok = true;
	for (size_t i = 0; i < h->n && ok; i++) {
		const struct msg_header *f = &h->v[i];
		if (!field_in(f, names))
			continue;
		size_t blen;
		const char *body = msg_header_body(f, &blen);
		addr_list_init(&l);
		buf_reset(&why);
		buf_reset(&where);
		buf_printf(&where, "%.*s: header", (int)f->name_len, f->text);
		if (!addr_parse_list(body, blen, &l, &why)) {
			status_set(st, STATUS_PERM, "5.1.3", EXIT_DATAERR,
			    "malformed address in %s: %s", where.data, buf_cstr(&why));
			ok = false;
		} else {
			ok = add_recipients(conf, rw, env, &l, o->notify, where.data, st);
		}
		addr_list_clear(&l);
	}
	buf_clear(&why);
	buf_clear(&where);
	return ok;
}

static void
base64(struct buf *out, const unsigned char *p, size_t n)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		buf_putc(out, tab[(v >> 18) & 63]);
		buf_putc(out, tab[(v >> 12) & 63]);
		buf_putc(out, i + 1 < n ? tab[(v >> 6) & 63] : '=');
		buf_putc(out, i + 2 < n ? tab[v & 63] : '=');
	}
}

/* A display name as an RFC 5322 phrase: as is when it is atoms and
 * spaces, quoted when it has specials, RFC 2047-encoded when not ASCII. */
static void
phrase(struct buf *out, const char *name)
{
	bool plain = true, ascii = true;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (*p >= 0x80)
			ascii = false;
		else if (*p < 0x20 || *p == 0x7f)
			ascii = false;	/* control bytes: encode them away */
		else if (!(*p == ' ' || (*p > 0x20 && !strchr("()<>[]:;@\\,.\"", *p))))
			plain = false;
	}
	if (!ascii) {
		buf_puts(out, "=?UTF-8?B?");
		base64(out, (const unsigned char *)name, strlen(name));
		buf_puts(out, "?=");
	} else if (plain && name[0] != ' ' && name[strlen(name) - 1] != ' ') {
		buf_puts(out, name);
	} else {
		buf_putc(out, '"');
		for (const char *p = name; *p; p++) {
			if (*p == '"' || *p == '\\')
				buf_putc(out, '\\');
			buf_putc(out, *p);
		}
		buf_putc(out, '"');
	}
}

/* The full name for a generated From: -F, then $NAME, then the gecos
 * field of the submitting uid (first comma field, '&' = the login name
 * capitalised), as Postfix does. */
static void
full_name(const char *opt, struct buf *out)
{
	const char *env = getenv("NAME");
	if (opt) {
		buf_puts(out, opt);
		return;
	}
	if (env && *env) {
		buf_puts(out, env);
		return;
	}
	struct passwd *pw = getpwuid(getuid());
	if (pw == NULL || pw->pw_gecos == NULL)
		return;
	for (const char *p = pw->pw_gecos; *p && *p != ','; p++) {
		if (*p == '&') {
			for (const char *l = pw->pw_name; *l; l++)
				buf_putc(out, l == pw->pw_name && *l >= 'a' && *l <= 'z' ? *l - 32 : *l);
		} else {
			buf_putc(out, *p);
		}
	}
}

static void
add_missing_headers(const struct conf *conf, const struct submit_opts *o,
    struct msg_headers *h, const char *id, const char *sender, time_t now)
{
	bool resent = msg_headers_have_prefix(h, "Resent-");
	const char *pfx = resent ? "Resent-" : "";
	struct buf f = BUF_INIT, name = BUF_INIT;
	char stamp[32];
	struct tm gm;

	buf_printf(&name, "%sMessage-Id", pfx);
	if (!msg_headers_find(h, name.data)) {
		gmtime_r(&now, &gm);
		strftime(stamp, sizeof stamp, "%Y%m%d%H%M%S", &gm);
		buf_printf(&f, "%s: <%s.%s@%s>\n", name.data, stamp, id, conf->myhostname);
		msg_headers_add(h, f.data, f.len);
	}
	buf_reset(&name);
	buf_printf(&name, "%sDate", pfx);
	if (!msg_headers_find(h, name.data)) {
		buf_reset(&f);
		buf_printf(&f, "%s: ", name.data);
		msg_date(now, &f);
		buf_putc(&f, '\n');
		msg_headers_add(h, f.data, f.len);
	}
	buf_reset(&name);
	buf_printf(&name, "%sFrom", pfx);
	if (!msg_headers_find(h, name.data)) {
		struct buf fn = BUF_INIT;
		buf_reset(&f);
		buf_printf(&f, "%s: ", name.data);
		if (*sender == '\0') {
			buf_puts(&f, "MAILER-DAEMON");
		} else {
			full_name(o->fullname, &fn);
			if (fn.len) {
				phrase(&f, fn.data);
				buf_printf(&f, " <%s>", sender);
			} else {
				buf_puts(&f, sender);
			}
		}
		buf_putc(&f, '\n');
		msg_headers_add(h, f.data, f.len);
		buf_clear(&fn);
	}
	/* The trace header goes on top, as Postfix's pickup puts it. */
	buf_reset(&f);
	buf_puts(&f, "Received: ");
	if (o->helo)	/* validated by the SMTP parser: printable, no space */
		buf_printf(&f, "from %s\n\t", o->helo);
	buf_printf(&f, "by %s (%s, from userid %ld)\n\t%sid %s; ", conf->myhostname,
	    conf_get(conf, "mail_name") ? conf_get(conf, "mail_name") : "satmail",
	    (long)getuid(), o->helo ? (o->smtputf8 ? "with UTF8SMTP " : "with ESMTP ") : "", id);
	msg_date(now, &f);
	buf_putc(&f, '\n');
	msg_headers_insert(h, 0, f.data, f.len);
	buf_clear(&f);
	buf_clear(&name);
}

/* ---- the pipe to satmail-queue drop ---- */

struct drop_pipe {
	pid_t pid;
	int to;			/* its stdin */
	int from;		/* its stdout */
	long long msg_bytes;
	long long limit;
	bool over_limit;
	bool broken;
	char frame[SUBMIT_FRAME];
	size_t flen;
};

/* Starts `satmail-queue VERB [ARG]` with pipes to its stdin and stdout. */
static bool
spawn_helper(const struct submit_opts *o, const char *verb, const char *arg,
    struct drop_pipe *dp, struct status *st)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	char *helper = priv_helper_path("satmail-queue");
	char *argv[9];
	char *copt = o->config_opt ? xstrdup(o->config_opt) : NULL;
	char *v = xstrdup(verb), *a = arg ? xstrdup(arg) : NULL;
	int argc = 0, err;

	argv[argc++] = helper;
	if (o->config_opt) {
		argv[argc++] = (char *)"-C";
		argv[argc++] = copt;
	}
	argv[argc++] = v;
	if (a)
		argv[argc++] = a;
	char mode[2] = { o->then_deliver, '\0' };
	bool then = strcmp(verb, "drop") == 0 && o->then_deliver;
	if (then) {
		argv[argc++] = (char *)"-d";
		argv[argc++] = mode;
		if (o->verbose)
			argv[argc++] = (char *)"-v";
	}
	argv[argc] = NULL;
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		status_set(st, STATUS_TEMP, "4.3.0", EXIT_OSERR, "cannot create pipe: %s", strerror(errno));
		goto fail;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	/* `drop` never writes on stderr (its answers come on the pipe and
	 * sendmail words the errors); this also keeps the dynamic loader's
	 * complaints under a tight ulimit -v from reaching the caller, who
	 * gets one line from sendmail.  A foreground delivery that follows
	 * the drop reports on our stderr, as `deliver` does. */
	if (!(then && o->then_deliver == 'i'))
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	err = posix_spawn(&dp->pid, helper, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err) {
		status_set(st, STATUS_TEMP, "4.3.0", EXIT_UNAVAILABLE, "cannot run %s: %s", helper,
		    strerror(err));
		goto fail;
	}
	close(in[0]);
	close(out[1]);
	dp->to = in[1];
	dp->from = out[0];
	free(helper);
	free(copt);
	free(v);
	free(a);
	return true;
fail:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	free(helper);
	free(copt);
	free(v);
	free(a);
	return false;
}

/* Reads one reply line from the helper (without the LF). */
static bool
read_reply(struct drop_pipe *dp, char *line, size_t size)
{
	size_t n = 0;
	while (n + 1 < size) {
		ssize_t r = read(dp->from, line + n, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (line[n] == '\n') {
			line[n] = '\0';
			return true;
		}
		n++;
	}
	line[n] = '\0';
	return false;
}

static bool
frame_flush(struct drop_pipe *dp)
{
	char hdr[32];
	if (dp->flen == 0 || dp->broken)
		return !dp->broken;
	int hn = snprintf(hdr, sizeof hdr, "D %zu\n", dp->flen);
	struct iovec iov[2] = { { hdr, (size_t)hn }, { dp->frame, dp->flen } };
	size_t total = (size_t)hn + dp->flen;
	ssize_t w;
	do
		w = writev(dp->to, iov, 2);
	while (w < 0 && errno == EINTR);
	if (w >= 0 && (size_t)w < total) {
		/* finish a short write the plain way */
		size_t done = (size_t)w;
		if (done < (size_t)hn) {
			if (!io_write_all(dp->to, hdr + done, (size_t)hn - done))
				w = -1;
			done = (size_t)hn;
		}
		if (w >= 0 && !io_write_all(dp->to, dp->frame + (done - (size_t)hn),
		    dp->flen - (done - (size_t)hn)))
			w = -1;
	}
	dp->flen = 0;
	if (w < 0)
		dp->broken = true;
	return !dp->broken;
}

/* A msg_pump_body sink, also used for the header section. */
static bool
frame_put(void *ctx, const char *p, size_t n)
{
	struct drop_pipe *dp = ctx;
	dp->msg_bytes += (long long)n;
	if (dp->limit > 0 && dp->msg_bytes > dp->limit) {
		dp->over_limit = true;
		return false;
	}
	while (n > 0) {
		size_t take = sizeof dp->frame - dp->flen;
		if (take > n)
			take = n;
		memcpy(dp->frame + dp->flen, p, take);
		dp->flen += take;
		p += take;
		n -= take;
		if (dp->flen == sizeof dp->frame && !frame_flush(dp))
			return false;
	}
	return true;
}

/* Turns the helper's "error EXIT TEXT" (or its silence) into st. */
static void
drop_error(const char *line, struct status *st)
{
	int code = 0, off = 0;
	if (sscanf(line, "error %d %n", &code, &off) >= 1 && off > 0 && code >= 64 && code <= 78)
		status_set(st, code == EXIT_DATAERR ? STATUS_PERM : STATUS_TEMP, NULL, code,
		    "%s", line + off);
	else
		status_set(st, STATUS_TEMP, "4.3.0", EXIT_TEMPFAIL,
		    "the queue program satmail-queue failed; message not queued");
}

static int
reap(pid_t pid)
{
	int ws;
	while (waitpid(pid, &ws, 0) < 0)
		if (errno != EINTR)
			return -1;
	return ws;
}

/* After a silent helper death: reaps it and asks `satmail-queue confirm`. */
static bool
confirm_queued(const struct submit_opts *o, const char *id, struct drop_pipe *dp)
{
	struct drop_pipe cp;
	struct status st;
	char line[128];
	bool ok = false;

	close(dp->from);
	dp->from = -1;
	(void)reap(dp->pid);
	dp->pid = -1;
	status_init(&st);
	memset(&cp, 0, sizeof cp);
	if (spawn_helper(o, "confirm", id, &cp, &st)) {
		close(cp.to);
		ok = read_reply(&cp, line, sizeof line) && strncmp(line, "ok ", 3) == 0 &&
		    strcmp(line + 3, id) == 0;
		close(cp.from);
		(void)reap(cp.pid);
	}
	status_clear(&st);
	if (ok)
		log_warning("%s: the queue program died after committing; the message is queued", id);
	return ok;
}

bool
submit_message(const struct conf *conf, const struct submit_opts *o, int in_fd, char *id,
    struct status *st)
{
	struct msg_input in;
	struct msg_headers h;
	struct envelope env;
	struct buf sender = BUF_INIT, out = BUF_INIT, canon = BUF_INIT;
	struct rewrite *rw = rewrite_new(conf);
	static struct drop_pipe dp;
	char line[512];
	bool ok = false, answered = false;
	time_t now;

	msg_input_init(&in, in_fd, o->dot_mode);
	msg_headers_init(&h);
	envelope_init(&env);
	memset(&dp, 0, sizeof dp);
	dp.pid = -1;
	dp.to = dp.from = -1;
	dp.limit = conf->message_size_limit;

	if (!submit_sender(conf, o->sender, &sender, st) ||
	    !rewrite_canonical(rw, REWRITE_SENDER, sender.data, &canon, st))
		goto out;
	if (!args_to_recipients(conf, rw, o, &env, st) || !smtp_recipients(conf, rw, o, &env, st))
		goto out;
	if (o->reader)
		msg_input_set_reader(&in, o->reader, o->reader_ctx);
	/* 0 means the default, as the manual says. */
	long long hlimit = conf->header_size_limit > 0 ? conf->header_size_limit : 102400;
	if (!msg_read_headers(&in, &h, (size_t)hlimit, st))
		goto out;
	if (o->extract && !extract_recipients(conf, rw, o, &h, &env, st))
		goto out;
	for (size_t i = 0; i < h.n; i++)
		if (field_in(&h.v[i], address_fields) && !rewrite_field(rw, &h.v[i], st))
			goto out;
	for (size_t i = 0; i < h.n; i++)
		if (field_in(&h.v[i], dropped_fields))
			h.v[i].deleted = true;
	if (env.nrcpt == 0) {
		if (o->extract)
			status_set(st, STATUS_PERM, "5.1.3", EXIT_DATAERR,
			    "No recipient addresses found in message header");
		else
			status_set(st, STATUS_PERM, "5.1.3", EXIT_USAGE,
			    "Recipient addresses must be specified on the command line or via the -t option");
		goto out;
	}

	/* Envelope. */
	free(env.sender);
	env.sender = buf_steal(&canon);
	if (o->fullname)
		env.fullname = xstrdup(o->fullname);
	if (o->envid)
		env.envid = xstrdup(o->envid);
	if (o->ret)
		env.ret = xstrdup(o->ret);
	if (o->smtputf8)
		env.smtputf8 = true;
	for (const unsigned char *p = (const unsigned char *)env.sender; *p; p++)
		if (*p >= 0x80)
			env.smtputf8 = true;

	/* The queue program tells the id first: it goes into the headers. */
	if (!spawn_helper(o, "drop", NULL, &dp, st))
		goto out;
	if (!read_reply(&dp, line, sizeof line) || strncmp(line, "id ", 3) != 0 ||
	    !queue_valid_id(line + 3)) {
		drop_error(line, st);
		goto out;
	}
	snprintf(id, 32, "%.31s", line + 3);
	now = time(NULL);
	add_missing_headers(conf, o, &h, id, env.sender, now);

	/* The message: headers now, then the body streamed.  Whether the body
	 * is 8-bit is for the SMTP client to see; the envelope says it only
	 * when -B did. */
	if (o->body)
		env.body = xstrdup(o->body);
	envelope_format(&env, true, &out, NULL);
	bool sent = io_write_all(dp.to, out.data, out.len);
	for (size_t i = 0; i < h.n && sent; i++)
		if (!h.v[i].deleted)
			sent = frame_put(&dp, h.v[i].text, h.v[i].len);
	if (sent)
		sent = frame_put(&dp, "\n", 1);
	if (sent && !msg_pump_body(&in, frame_put, &dp, st)) {
		if (!dp.over_limit && !dp.broken)
			goto out;	/* an input error: st says which */
		sent = false;
	}
	if (dp.over_limit) {
		status_set(st, STATUS_PERM, "5.3.4", EXIT_DATAERR,
		    "message size exceeds message_size_limit (%lld bytes)", conf->message_size_limit);
		goto out;
	}
	sent = sent && frame_flush(&dp) && io_write_all(dp.to, "E\n", 2);
	close(dp.to);
	dp.to = -1;
	if (read_reply(&dp, line, sizeof line) && strncmp(line, "ok ", 3) == 0 &&
	    strcmp(line + 3, id) == 0) {
		ok = true;
		answered = true;
	} else if (sent && line[0] == '\0') {
		/* The helper died after the whole message went out, maybe
		 * after its commit: ask whether the entry is there. */
		ok = confirm_queued(o, id, &dp);
		if (!ok)
			drop_error(line, st);
	} else {
		drop_error(line, st);
	}
out:
	if (dp.to >= 0)
		close(dp.to);	/* without "E": the helper discards the entry */
	if (dp.from >= 0)
		close(dp.from);
	/* Once "ok" has arrived the message is durably queued, whatever
	 * becomes of the helper afterwards (with then_deliver it delivers
	 * before it exits: its status is the delivery's). */
	if (dp.pid > 0) {
		int ws = reap(dp.pid);
		if (o->delivered)
			*o->delivered = !answered || !o->then_deliver ? -1 :
			    ws >= 0 && WIFEXITED(ws) ? WEXITSTATUS(ws) : EXIT_TEMPFAIL;
	} else if (o->delivered) {
		*o->delivered = -1;
	}
	msg_input_clear(&in);
	msg_headers_clear(&h);
	envelope_clear(&env);
	buf_clear(&sender);
	buf_clear(&canon);
	buf_clear(&out);
	rewrite_free(rw);
	return ok;
}
