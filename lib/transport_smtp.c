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
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "envelope.h"
#include "io.h"
#include "log.h"
#include "priv.h"
#include "sasl.h"
#include "smtp.h"
#include "tls.h"
#include "transport_local.h"
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

/* Reads from sock into in until it holds a whole job; *fd gets a
 * descriptor that came with it.  Returns 1 for a job (its payload is
 * in[*start .. *start + *len)), 0 at the end of the stream, -1 when the
 * stream is malformed. */
static int
read_job(int sock, struct buf *in, int *fd, size_t *start, size_t *len)
{
	buf_reset(in);
	for (;;) {
		const char *nl = in->len ? memchr(in->data, '\n', in->len) : NULL;
		if (nl) {
			char *end;
			if (in->len < 5 || memcmp(in->data, "job ", 4) != 0)
				return -1;
			unsigned long long n = strtoull(in->data + 4, &end, 10);
			if (end != nl || n > ENVELOPE_MAX_BYTES + 65536)
				return -1;
			*start = (size_t)(nl - in->data) + 1;
			*len = (size_t)n;
			if (in->len >= *start + *len)
				return in->len == *start + *len ? 1 : -1;
		}
		char chunk[65536];
		union {
			struct cmsghdr h;
			char space[CMSG_SPACE(sizeof(int))];
		} ctl;
		struct iovec iov = { chunk, sizeof chunk };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctl,
			.msg_controllen = sizeof ctl };
		ssize_t r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r == 0 && in->len == 0 ? 0 : -1;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
				int got;
				memcpy(&got, CMSG_DATA(cm), sizeof got);
				if (*fd >= 0)
					close(*fd);
				*fd = got;
			}
		}
		buf_append(in, chunk, (size_t)r);
	}
}

/* Parses the "nexthop" and "cred" lines of a job; *used = bytes taken. */
static bool
parse_job_head(const char *p, size_t n, struct buf *nexthop, struct creds_table *t, size_t *used)
{
	size_t pos = 0;
	while (pos < n) {
		const char *line = p + pos;
		const char *nl = memchr(line, '\n', n - pos);
		if (nl == NULL)
			return false;
		size_t len = (size_t)(nl - line);
		if (len > 8 && memcmp(line, "nexthop ", 8) == 0) {
			buf_reset(nexthop);
			if (!envelope_unescape(nexthop, line + 8, len - 8))
				return false;
		} else if (len > 5 && memcmp(line, "cred ", 5) == 0) {
			/* cred HOST PORT USER SECRET */
			const char *f[4];
			size_t fl[4], k = 0;
			const char *q = line + 5, *end = nl;
			while (k < 4 && q <= end) {
				const char *sp = k < 3 ? memchr(q, ' ', (size_t)(end - q)) : end;
				if (sp == NULL)
					return false;
				f[k] = q;
				fl[k] = (size_t)(sp - q);
				k++;
				q = sp + 1;
			}
			if (k != 4)
				return false;
			struct cred_entry ce;
			struct buf host = BUF_INIT;
			memset(&ce, 0, sizeof ce);
			sasl_creds_init(&ce.cr);
			bool ok = envelope_unescape(&host, f[0], fl[0]) && host.len < sizeof ce.dest.host &&
			    envelope_unescape(&ce.cr.user, f[2], fl[2]) &&
			    envelope_unescape(&ce.cr.secret, f[3], fl[3]);
			ce.dest.port = (unsigned)strtoul(f[1], NULL, 10);
			if (ok) {
				snprintf(ce.dest.host, sizeof ce.dest.host, "%s", buf_cstr(&host));
				ce.found = ce.cr.user.len > 0 || ce.cr.secret.len > 0;
				t->v = xreallocarray(t->v, t->n + 1, sizeof *t->v);
				t->v[t->n++] = ce;
			} else {
				sasl_creds_clear(&ce.cr);
			}
			buf_clear(&host);
			if (!ok)
				return false;
		} else {
			break;	/* the envelope starts */
		}
		pos += len + 1;
	}
	*used = pos;
	return true;
}

static void
report_line(struct buf *out, const char *key, const char *value)
{
	buf_printf(out, "%s ", key);
	envelope_escape(out, value);
	buf_putc(out, '\n');
}

/* Runs one job: smtp_deliver() on the cached connection. */
static bool
run_job(const struct conf *c, struct tls_client *tc, struct smtp_cache *cache,
    const char *p, size_t n, int msg_fd, struct buf *out)
{
	struct creds_table creds = { .c = c };
	struct buf nexthop = BUF_INIT, why = BUF_INIT, relay = BUF_INIT;
	struct envelope e;
	size_t used = 0, envlen = 0;
	bool ok = false;

	envelope_init(&e);
	if (!parse_job_head(p, n, &nexthop, &creds, &used) ||
	    !envelope_parse(&e, p + used, n - used, &envlen, &why) || nexthop.len == 0 ||
	    msg_fd < 0) {
		log_warning("SMTP worker: malformed job: %s", buf_cstr(&why));
		goto out;
	}
	creds.e = &e;
	struct rcpt **rcpts = xcalloc(e.nrcpt ? e.nrcpt : 1, sizeof *rcpts);
	struct status *results = xcalloc(e.nrcpt ? e.nrcpt : 1, sizeof *results);
	for (size_t i = 0; i < e.nrcpt; i++) {
		rcpts[i] = &e.rcpt[i];
		status_init(&results[i]);
	}
	struct smtp_request rq = { .c = c, .nexthop = buf_cstr(&nexthop), .e = &e,
		.msg_fd = msg_fd, .msg_offset = lseek(msg_fd, 0, SEEK_CUR), .rcpts = rcpts, .n = e.nrcpt, .tc = tc,
		.cache = cache, .creds = c->smtp_sasl_auth_enable ? creds_lookup : NULL,
		.creds_ctx = &creds };
	smtp_deliver(&rq, results, &relay);
	report_line(out, "relay", buf_cstr(&relay));
	for (size_t i = 0; i < e.nrcpt; i++) {
		static const char *const words[] = { "ok", "temp", "perm" };
		/* The parent refuses a code whose class disagrees. */
		results[i].dsn[0] = "245"[results[i].cls];
		buf_printf(out, "rcpt %zu %s %s ", i, words[results[i].cls], results[i].dsn);
		envelope_escape(out, buf_cstr(&results[i].text));
		buf_putc(out, '\n');
		status_clear(&results[i]);
	}
	buf_puts(out, "end\n");
	free(rcpts);
	free(results);
	ok = true;
out:
	creds_free(&creds);
	envelope_clear(&e);
	buf_clear(&nexthop);
	buf_clear(&why);
	buf_clear(&relay);
	return ok;
}

_Noreturn static void
worker_main(const struct conf *c, struct tls_client *tc, int sock, pid_t parent)
{
	struct buf why = BUF_INIT, in = BUF_INIT, out = BUF_INIT;
	/* Postfix's knobs: smtp_connection_cache_on_demand = no turns reuse
	 * off; the count and time limits bound one connection. */
	struct smtp_cache *cache = c->smtp_connection_cache_on_demand ?
	    smtp_cache_new(c->smtp_connection_reuse_count_limit, c->smtp_connection_reuse_time_limit) :
	    NULL;
	int rc = 0;

	if (!priv_drop_worker(c->mail_owner, &why)) {
		log_warning("SMTP worker: %s", buf_cstr(&why));
		_exit(EXIT_SOFTWARE);
	}
	/* The queue process holds the entry's lock and records results: a
	 * worker that outlived it would finish a delivery nobody records,
	 * which the next run would repeat.  (Set after the id change, which
	 * clears it; the getppid() check covers a parent already gone.) */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(EXIT_SOFTWARE);
	/* Credentials pass through this process: no core file, no ptrace
	 * by the user it now runs as (SECURITY.md P-12). */
	(void)prctl(PR_SET_DUMPABLE, 0);
	for (;;) {
		int fd = -1;
		size_t start, len;
		int r = read_job(sock, &in, &fd, &start, &len);
		if (r <= 0) {
			rc = r < 0 ? EXIT_SOFTWARE : 0;
			if (fd >= 0)
				close(fd);
			break;
		}
		buf_reset(&out);
		/* The message starts where the entry's envelope ends: the
		 * offset travels as the descriptor's file position. */
		bool ok = run_job(c, tc, cache, in.data + start, len, fd, &out);
		if (fd >= 0)
			close(fd);
		if (!ok || !io_write_all(sock, out.data, out.len)) {
			rc = EXIT_SOFTWARE;
			break;
		}
	}
	smtp_cache_free(cache);	/* QUIT */
	_exit(rc);
}

/* ---- parent: the worker's life ---- */

static struct {
	pid_t pid;
	int sock;
	struct tls_client *tc;
	bool tc_built;
} worker = { -1, -1, NULL, false };

static void
worker_stop(bool kill_it)
{
	if (worker.sock >= 0)
		close(worker.sock);
	worker.sock = -1;
	if (worker.pid > 0) {
		if (kill_it)
			kill(worker.pid, SIGKILL);
		while (waitpid(worker.pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	worker.pid = -1;
}

static bool
worker_start(const struct conf *c, struct status *st)
{
	int sv[2];

	/* Configured trust anchors and the client key are read here, before
	 * the worker gives up the rights to read them.  Without them the
	 * worker makes its context itself, when a server first offers TLS
	 * (the system store is readable by anyone). */
	if (!worker.tc_built) {
		bool files = *c->smtp_tls_CAfile || *c->smtp_tls_CApath || *c->smtp_tls_cert_file ||
		    *c->smtp_tls_key_file;
		if (files) {
			worker.tc = tls_client_new(c, st);
			if (worker.tc == NULL)
				return false;
		}
		worker.tc_built = true;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		status_set(st, STATUS_TEMP, "4.3.0", 0, "cannot start the SMTP worker: %s", strerror(errno));
		return false;
	}
	fflush(NULL);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		status_set(st, STATUS_TEMP, "4.3.0", 0, "cannot start the SMTP worker: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return false;
	}
	if (pid == 0) {
		/* The queue entries, their locks and the queue directories
		 * stay with the parent. */
		int keep[2] = { sv[1], log_file_fd() };
		close_all_but(keep, 2);
		worker_main(c, worker.tc, sv[1], parent);
	}
	close(sv[1]);
	worker.sock = sv[0];
	worker.pid = pid;
	return true;
}

/* Sends one job with the message descriptor attached. */
static bool
send_job(const struct buf *job, int fd)
{
	char head[64];
	int hl = snprintf(head, sizeof head, "job %zu\n", job->len);
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = { head, (size_t)hl };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctl,
		.msg_controllen = sizeof ctl };
	memset(&ctl, 0, sizeof ctl);
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof fd);
	ssize_t r;
	while ((r = sendmsg(worker.sock, &mh, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	if (r != hl)
		return false;
	return io_write_all(worker.sock, job->data, job->len);
}

/* ---- parent: reading the report ---- */

/* Applies one "rcpt INDEX ok|temp|perm X.Y.Z ESCAPED-TEXT" record (after
 * "rcpt "); false when it is malformed. */
static bool
parse_rcpt(const char *s, size_t n, bool *seen, struct status *results, size_t nr)
{
	char *end;
	unsigned long idx = strtoul(s, &end, 10);
	if (end == s || *end != ' ' || idx >= nr || seen[idx])
		return false;
	char *rest = xstrndup(end + 1, n - (size_t)(end + 1 - s));
	struct status st;
	struct buf text = BUF_INIT;
	status_init(&st);
	bool ok = transport_parse_outcome(rest, &st) &&
	    envelope_unescape(&text, buf_cstr(&st.text), st.text.len);
	if (ok) {
		status_set(&results[idx], st.cls, st.dsn, 0, "%s", buf_cstr(&text));
		seen[idx] = true;
	}
	free(rest);
	buf_clear(&text);
	status_clear(&st);
	return ok;
}

/* Reads one report (up to its "end" line, bounded) and applies what
 * checks out.  True when it was complete. */
static bool
read_report(int fd, const char *id, struct status *results, bool *seen, size_t n,
    struct buf *relay)
{
	struct buf in = BUF_INIT;
	char chunk[8192];
	bool complete = false;
	size_t pos = 0;

	while (!complete) {
		ssize_t r = read(fd, chunk, sizeof chunk);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (in.len + (size_t)r > TRANSPORT_SMTP_MAX_REPORT) {
			log_warning("%s: SMTP worker report over %d bytes; ignored", id,
			    TRANSPORT_SMTP_MAX_REPORT);
			break;
		}
		buf_append(&in, chunk, (size_t)r);
		for (;;) {
			const char *line = in.data + pos;
			const char *nl = memchr(line, '\n', in.len - pos);
			if (nl == NULL)
				break;	/* an unterminated line is not believed yet */
			size_t len = (size_t)(nl - line);
			pos += len + 1;
			if (len == 3 && memcmp(line, "end", 3) == 0) {
				complete = pos == in.len;	/* nothing may follow */
				break;
			} else if (len > 6 && memcmp(line, "relay ", 6) == 0) {
				struct buf v = BUF_INIT;
				if (envelope_unescape(&v, line + 6, len - 6))
					buf_set(relay, buf_cstr(&v));
				buf_clear(&v);
			} else if (!(len > 5 && memcmp(line, "rcpt ", 5) == 0 &&
			    parse_rcpt(line + 5, len - 5, seen, results, n))) {
				log_warning("%s: SMTP worker sent a malformed report line; ignored", id);
			}
		}
	}
	buf_clear(&in);
	return complete;
}

/* The job text for the recipients rcpts[0..n) of e. */
static void
format_job(const struct envelope *e, const char *nexthop, struct rcpt **rcpts, size_t n,
    const struct creds_table *creds, struct buf *job)
{
	struct envelope sub = *e;
	struct rcpt *list = xcalloc(n ? n : 1, sizeof *list);
	for (size_t i = 0; i < n; i++)
		list[i] = *rcpts[i];	/* shallow: borrowed for the formatting */
	sub.rcpt = list;
	sub.nrcpt = n;
	sub.rcpt_cap = n;
	report_line(job, "nexthop", nexthop);
	/* With a password command, destinations without a map entry go too
	 * (empty user and secret): the worker runs the command for them. */
	bool command = *creds->c->smtp_sasl_password_command != '\0';
	for (size_t i = 0; i < creds->n; i++) {
		const struct cred_entry *ce = &creds->v[i];
		if (!ce->found && !command)
			continue;
		buf_puts(job, "cred ");
		envelope_escape(job, ce->dest.host);
		buf_printf(job, " %u ", ce->dest.port);
		envelope_escape(job, buf_cstr(&ce->cr.user));
		buf_putc(job, ' ');
		envelope_escape(job, buf_cstr(&ce->cr.secret));
		buf_putc(job, '\n');
	}
	envelope_format(&sub, false, job, NULL);
	free(list);
}

static void
smtp_transport_deliver(const struct conf *c, const struct envelope *e, int msg_fd,
    long long msg_offset, const char *nexthop, struct rcpt **rcpts, size_t n,
    struct status *results, struct buf *relay)
{
	struct creds_table creds = { .c = c, .e = e };
	struct status st;
	struct buf job = BUF_INIT;
	int ro = -1;
	bool *seen = xcalloc(n ? n : 1, sizeof *seen);

	status_init(&st);
	buf_set(relay, "none");
	if (c->smtp_sasl_auth_enable && !creds_load(&creds, nexthop, &st))
		goto fail;
	if (worker.pid < 0 && !worker_start(c, &st))
		goto fail;
	/* The worker reads the message through a descriptor of its own that
	 * cannot write the entry, positioned at the message. */
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", msg_fd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	if (ro < 0 || lseek(ro, msg_offset, SEEK_SET) != msg_offset) {
		status_set(&st, STATUS_TEMP, "4.3.0", 0, "cannot reopen queue entry %s for the SMTP worker: %s",
		    e->id, strerror(errno));
		goto fail;
	}
	format_job(e, nexthop, rcpts, n, &creds, &job);
	creds_free(&creds);	/* no secret stays here longer than needed */
	if (!send_job(&job, ro) || !read_report(worker.sock, e->id, results, seen, n, relay)) {
		status_set(&st, STATUS_TEMP, "4.3.0", 0, "SMTP worker ended without a complete report");
		log_warning("%s: %s (a message the server accepted may be sent again)", e->id,
		    buf_cstr(&st.text));
		worker_stop(true);
		goto fail;
	}
	status_set(&st, STATUS_TEMP, "4.3.0", 0, "SMTP worker reported nothing for this recipient");
fail:
	for (size_t i = 0; i < n; i++)
		if (!seen[i])
			status_copy(&results[i], &st);
	if (ro >= 0)
		close(ro);
	if (job.data)
		explicit_bzero(job.data, job.len);
	buf_clear(&job);
	creds_free(&creds);
	free(seen);
	status_clear(&st);
}

static void
smtp_transport_finish(void)
{
	worker_stop(false);
	worker.tc = tls_client_free(worker.tc);
	worker.tc_built = false;
}

const struct transport transport_smtp = { "smtp", smtp_transport_deliver, smtp_transport_finish };
