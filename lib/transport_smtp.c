/* transport_smtp - remote delivery in an unprivileged worker (see
 * transport_smtp.h). */
#include "transport_smtp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "envelope.h"
#include "io.h"
#include "log.h"
#include "priv.h"
#include "sasl.h"
#include "smtp.h"
#include "tls.h"
#include "xalloc.h"

/* Credentials of one destination of the next hop. */
struct cred_entry {
	struct smtp_dest dest;
	bool found;		/* a password map entry exists */
	bool commanded;		/* smtp_sasl_password_command has run (worker) */
	struct sasl_creds cr;
};

struct creds_table {
	const struct conf *c;
	const struct envelope *e;
	struct cred_entry *v;
	size_t n;
};

/* Parent side: looks up every destination's credentials.  False with st
 * when a map cannot be read (the recipients then wait). */
static bool
creds_load(struct creds_table *t, const char *nexthop, struct status *st)
{
	const struct conf *c = t->c;
	const char *p = nexthop;
	while (*p) {
		p += strspn(p, ", \t");
		size_t n = strcspn(p, ", \t");
		if (n == 0)
			break;
		struct cred_entry ce;
		memset(&ce, 0, sizeof ce);
		if (smtp_parse_dest(p, n, c->smtp_tcp_port, &ce.dest)) {
			sasl_creds_init(&ce.cr);
			int rc = c->smtp_sasl_password_maps[0] ?
			    sasl_lookup_password(c, ce.dest.host, ce.dest.port, &ce.cr, st) : 0;
			if (rc < 0) {
				sasl_creds_clear(&ce.cr);
				return false;
			}
			ce.found = rc == 1;
			t->v = xreallocarray(t->v, t->n + 1, sizeof *t->v);
			t->v[t->n++] = ce;
		}
		p += n;
	}
	return true;
}

static void
creds_free(struct creds_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		sasl_creds_clear(&t->v[i].cr);
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

/* Worker side (smtp_creds_fn): the map entry, with the secret replaced by
 * smtp_sasl_password_command's output when one is configured.  The
 * command then also serves destinations without a map entry, with the
 * envelope sender as the user name. */
static const struct sasl_creds *
creds_lookup(void *ctx, const char *host, unsigned port)
{
	struct creds_table *t = ctx;
	const char *cmd = t->c->smtp_sasl_password_command;
	for (size_t i = 0; i < t->n; i++) {
		struct cred_entry *ce = &t->v[i];
		if (ce->dest.port != port || strcasecmp(ce->dest.host, host) != 0)
			continue;
		if (cmd && *cmd && !ce->commanded) {
			struct status st;
			status_init(&st);
			ce->commanded = true;
			if (!ce->found)
				buf_set(&ce->cr.user, envelope_sender(t->e));
			if (sasl_password_command(cmd, host, &ce->cr, &st))
				ce->found = true;
			else
				log_warning("%s", buf_cstr(&st.text));
			status_clear(&st);
		}
		return ce->found ? &ce->cr : NULL;
	}
	return NULL;
}

/* ---- the worker ---- */

/* Closes every descriptor above 2 except those in keep[0..n) (-1 = none). */
static void
close_all_but(int *keep, size_t n)
{
	/* sort the few kept descriptors, then close the gaps */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
			int t = keep[j];
			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	unsigned from = 3;
	for (size_t i = 0; i < n; i++) {
		if (keep[i] < (int)from)
			continue;
		if ((unsigned)keep[i] > from)
			(void)close_range(from, (unsigned)keep[i] - 1, 0);
		from = (unsigned)keep[i] + 1;
	}
	(void)close_range(from, ~0U, 0);
}

static void
report_line(struct buf *out, const char *key, const char *value)
{
	buf_printf(out, "%s ", key);
	envelope_escape(out, value);
	buf_putc(out, '\n');
}

_Noreturn static void
worker(const struct smtp_request *rq, int report_fd)
{
	struct status *results = xcalloc(rq->n, sizeof *results);
	struct buf relay = BUF_INIT, out = BUF_INIT, why = BUF_INIT;

	for (size_t i = 0; i < rq->n; i++)
		status_init(&results[i]);
	if (!priv_drop_worker(rq->c->mail_owner, &why)) {
		log_warning("SMTP worker: %s", buf_cstr(&why));
		_exit(EXIT_SOFTWARE);
	}
	smtp_deliver(rq, results, &relay);
	report_line(&out, "relay", buf_cstr(&relay));
	for (size_t i = 0; i < rq->n; i++) {
		static const char *const words[] = { "ok", "temp", "perm" };
		buf_printf(&out, "rcpt %zu %s %s ", i, words[results[i].cls], results[i].dsn);
		envelope_escape(&out, buf_cstr(&results[i].text));
		buf_putc(&out, '\n');
	}
	buf_puts(&out, "end\n");
	_exit(io_write_all(report_fd, out.data, out.len) ? 0 : EXIT_IOERR);
}

/* ---- parent: reading the report ---- */

static bool
parse_class(const char *w, size_t n, enum status_class *cls)
{
	static const char *const words[] = { "ok", "temp", "perm" };
	for (int k = 0; k < 3; k++)
		if (strlen(words[k]) == n && memcmp(w, words[k], n) == 0) {
			*cls = (enum status_class)k;
			return true;
		}
	return false;
}

/* "X.Y.Z" with a class digit matching cls. */
static bool
valid_dsn(const char *d, size_t n, enum status_class cls)
{
	if (n < 5 || n > 11 || d[0] != "245"[cls] || d[1] != '.')
		return false;
	int dots = 0;
	for (size_t i = 1; i < n; i++) {
		if (d[i] == '.')
			dots++;
		else if (d[i] < '0' || d[i] > '9')
			return false;
	}
	return dots == 2 && d[n - 1] != '.';
}

/* Applies one "rcpt" record; false when it is malformed. */
static bool
parse_rcpt(const char *s, size_t n, bool *seen, struct status *results, size_t nr)
{
	char *end;
	const char *lim = s + n;
	unsigned long idx = strtoul(s, &end, 10);
	if (end == s || *end != ' ' || idx >= nr || seen[idx])
		return false;
	const char *w = end + 1;
	const char *sp = memchr(w, ' ', (size_t)(lim - w));
	enum status_class cls;
	if (sp == NULL || !parse_class(w, (size_t)(sp - w), &cls))
		return false;
	const char *d = sp + 1;
	const char *sp2 = memchr(d, ' ', (size_t)(lim - d));
	if (sp2 == NULL || !valid_dsn(d, (size_t)(sp2 - d), cls))
		return false;
	struct buf text = BUF_INIT;
	bool ok = envelope_unescape(&text, sp2 + 1, (size_t)(lim - sp2 - 1));
	if (ok) {
		char dsn[16];
		memcpy(dsn, d, (size_t)(sp2 - d));
		dsn[sp2 - d] = '\0';
		status_set(&results[idx], cls, dsn, 0, "%s", buf_cstr(&text));
		seen[idx] = true;
	}
	buf_clear(&text);
	return ok;
}

/* Reads the whole report (bounded) and applies what checks out.  Returns
 * true when it ended with "end". */
static bool
read_report(int fd, struct status *results, bool *seen, size_t n, struct buf *relay)
{
	struct buf in = BUF_INIT;
	char chunk[8192];
	bool complete = false;

	for (;;) {
		ssize_t r = read(fd, chunk, sizeof chunk);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (in.len + (size_t)r > TRANSPORT_SMTP_MAX_REPORT) {
			log_warning("SMTP worker report too long; ignored");
			goto out;
		}
		buf_append(&in, chunk, (size_t)r);
	}
	for (size_t pos = 0; pos < in.len && !complete;) {
		const char *line = in.data + pos;
		const char *nl = memchr(line, '\n', in.len - pos);
		if (nl == NULL)
			break;	/* an unterminated last line is not believed */
		size_t len = (size_t)(nl - line);
		pos += len + 1;
		if (len == 3 && memcmp(line, "end", 3) == 0) {
			complete = true;
		} else if (len > 6 && memcmp(line, "relay ", 6) == 0) {
			struct buf v = BUF_INIT;
			if (envelope_unescape(&v, line + 6, len - 6))
				buf_set(relay, buf_cstr(&v));
			buf_clear(&v);
		} else if (len > 5 && memcmp(line, "rcpt ", 5) == 0 &&
		    parse_rcpt(line + 5, len - 5, seen, results, n)) {
			;
		} else {
			log_warning("SMTP worker sent a malformed report line; ignored");
		}
	}
out:
	buf_clear(&in);
	return complete;
}

static void
smtp_transport_deliver(const struct conf *c, const struct envelope *e, int msg_fd,
    long long msg_offset, const char *nexthop, struct rcpt **rcpts, size_t n,
    struct status *results, struct buf *relay)
{
	struct creds_table creds = { .c = c, .e = e };
	struct status st;
	struct tls_client *tc = NULL;
	int pipefd[2] = { -1, -1 }, ro = -1;
	bool *seen = xcalloc(n ? n : 1, sizeof *seen);
	pid_t pid = -1;

	status_init(&st);
	buf_set(relay, "none");
	if (c->smtp_sasl_auth_enable && !creds_load(&creds, nexthop, &st))
		goto fail;
	/* Trust anchors and the client key are read here: the key file may
	 * be readable by the queue's group only. */
	if (c->smtp_tls_security_level != TLS_LEVEL_NONE || c->smtp_tls_wrappermode == 1 ||
	    (c->smtp_tls_wrappermode < 0 && strstr(nexthop, ":465"))) {
		tc = tls_client_new(c, &st);
		if (tc == NULL)
			goto fail;
	}
	/* The worker gets the message through a descriptor of its own that
	 * cannot write the entry. */
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", msg_fd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	if (ro < 0 || pipe2(pipefd, O_CLOEXEC) < 0) {
		status_set(&st, STATUS_TEMP, "4.3.0", 0, "cannot start the SMTP worker: %s",
		    strerror(errno));
		goto fail;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		status_set(&st, STATUS_TEMP, "4.3.0", 0, "cannot start the SMTP worker: %s",
		    strerror(errno));
		goto fail;
	}
	if (pid == 0) {
		close(pipefd[0]);
		struct smtp_request rq = { .c = c, .nexthop = nexthop, .e = e, .msg_fd = ro,
			.msg_offset = msg_offset, .rcpts = rcpts, .n = n, .tc = tc,
			.creds = c->smtp_sasl_auth_enable ? creds_lookup : NULL, .creds_ctx = &creds };
		/* The queue entry's read-write descriptor, its lock and the
		 * queue directories stay with the parent. */
		int keep[3] = { ro, pipefd[1], log_file_fd() };
		close_all_but(keep, 3);
		worker(&rq, pipefd[1]);
	}
	close(pipefd[1]);
	pipefd[1] = -1;
	creds_free(&creds);	/* the parent keeps no secret longer than needed */
	bool complete = read_report(pipefd[0], results, seen, n, relay);
	int ws = 0;
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	if (!complete || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
		if (WIFSIGNALED(ws))
			status_set(&st, STATUS_TEMP, "4.3.0", 0, "SMTP worker killed by signal %d",
			    WTERMSIG(ws));
		else
			status_set(&st, STATUS_TEMP, "4.3.0", 0, "SMTP worker ended without a complete report");
		log_warning("%s: %s (a message the server accepted may be sent again)", e->id,
		    buf_cstr(&st.text));
	} else {
		status_set(&st, STATUS_TEMP, "4.3.0", 0, "SMTP worker reported nothing for this recipient");
	}
fail:
	for (size_t i = 0; i < n; i++)
		if (!seen[i])
			status_copy(&results[i], &st);
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (ro >= 0)
		close(ro);
	creds_free(&creds);
	tls_client_free(tc);
	free(seen);
	status_clear(&st);
}

const struct transport transport_smtp = { "smtp", smtp_transport_deliver };
