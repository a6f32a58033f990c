/* satmail-queue - the only writer of the queue (setgid satmail when
 * installed).
 *
 *   satmail-queue [-C FILE] drop      read an envelope + message from sendmail
 *   satmail-queue [-C FILE] list [-j] print the queue (mailq)
 *   satmail-queue [-C FILE] confirm ID  is ID durably queued? ("ok ID")
 *   satmail-queue [-C FILE] drop -d i|b [-v]   drop, then deliver that entry in the
 *                                     foreground (i) or detached (b): sendmail -odi/-odb
 *   satmail-queue [-C FILE] deliver [-v] ID  one delivery attempt now
 *   satmail-queue [-C FILE] run [-v] [-I ID] [-R DOMAIN]
 *                                     deliver every due entry (sendmail -q)
 *
 * It parses no message content: it re-validates the envelope records and
 * frames it reads, and writes bytes.  The drop protocol on stdin/stdout:
 *
 *   queue -> client   "id QUEUEID\n"             the entry's id, at once
 *   client -> queue   envelope records (envelope.h, client form),
 *                     ending with an empty line
 *   client -> queue   "D LEN\n" then LEN message bytes, repeated
 *   client -> queue   "E\n"                      end of message: commit
 *   queue -> client   "ok QUEUEID\n"             durably queued
 *               or    "error EXIT TEXT\n"        nothing queued
 *
 * End of input before "E", or anything malformed, aborts: the temporary
 * file is removed and nothing is queued.
 *
 * When drop dies after "E" without answering (the window between its
 * commit and its reply), sendmail asks `confirm ID`: it fsyncs queue/ and
 * answers "ok ID" when the complete entry is there, so that the sender's
 * answer is the truth either way. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "envelope.h"
#include "log.h"
#include "mailq.h"
#include "priv.h"
#include "queue.h"
#include "rewrite.h"
#include "aliases.h"
#include "status.h"

#define DROP_MAX_FRAME	(1024 * 1024)

static volatile sig_atomic_t drop_tmp_ready;
static char drop_tmp_path[4200];

static void
drop_signal(int sig)
{
	(void)sig;
	if (drop_tmp_ready)
		unlink(drop_tmp_path);
	_exit(EXIT_TEMPFAIL);
}

static void
usage(void)
{
	fprintf(stderr, "usage: satmail-queue [-C config] drop [-d i|b [-v]] | list [-j] | confirm ID | deliver [-v] ID |\n"
	    "       run [-v] [-I ID] [-R domain]\n");
	exit(EXIT_USAGE);
}

/* Buffered reads from fd 0 for the drop protocol. */
struct reader {
	char buf[65536];
	size_t pos, len;
	bool eof;
};

static bool
reader_fill(struct reader *r)
{
	if (r->pos < r->len)
		return true;
	if (r->eof)
		return false;
	for (;;) {
		ssize_t n = read(0, r->buf, sizeof r->buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r->eof = true;
			return false;
		}
		r->pos = 0;
		r->len = (size_t)n;
		return true;
	}
}

/* Reads a line (without its LF) of at most max bytes. */
static bool
reader_line(struct reader *r, struct buf *line, size_t max)
{
	buf_reset(line);
	while (reader_fill(r)) {
		char *start = r->buf + r->pos;
		char *nl = memchr(start, '\n', r->len - r->pos);
		size_t n = nl ? (size_t)(nl - start) : r->len - r->pos;
		if (line->len + n > max)
			return false;
		buf_append(line, start, n);
		r->pos += n + (nl != NULL);
		if (nl)
			return true;
	}
	return false;
}

static void
reply(const char *fmt, const char *a, const char *b)
{
	struct buf out = BUF_INIT;
	buf_printf(&out, fmt, a, b);
	(void)!write(1, out.data, out.len);
	buf_clear(&out);
}

static int
drop_fail(struct status *st)
{
	char code[8];
	snprintf(code, sizeof code, "%d", status_sysexit(st));
	reply("error %s %s\n", code, buf_cstr(&st->text));
	return status_sysexit(st);
}

/* A file or command recipient comes from sendmail's alias expansion,
 * which runs without privilege: before such a recipient enters the queue
 * (where a root-started run would execute it), the alias tables must say
 * so themselves.  Only targets listed directly in the alias's value are
 * confirmed; :include: files cannot vouch for commands. */
static bool
confirm_alias_targets(const struct conf *conf, const struct envelope *env,
    struct status *st)
{
	struct rewrite *rw = NULL;
	struct buf name = BUF_INIT, value = BUF_INIT, why = BUF_INIT;
	bool ok = true;
	for (size_t i = 0; i < env->nrcpt && ok; i++) {
		const struct rcpt *r = &env->rcpt[i];
		if (r->type == RCPT_ADDRESS)
			continue;
		if (rw == NULL) {
			if (!aliases_tables_trusted(conf, &why)) {
				status_set(st, STATUS_PERM, "5.7.1", EXIT_NOPERM,
				    "file and command recipients refused: %s", buf_cstr(&why));
				ok = false;
				break;
			}
			rw = rewrite_new(conf);
		}
		buf_reset(&name);
		buf_reset(&value);
		const char *at = strrchr(r->addr, '@');
		for (const char *p = r->addr; *p && p != at; p++)
			buf_putc(&name, *p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
		ok = false;
		if (rewrite_alias_lookup(rw, buf_cstr(&name), &value, st) == 1) {
			struct alias_targets t;
			alias_targets_init(&t);
			if (aliases_split(value.data, &t, &why))
				for (size_t k = 0; k < t.n && !ok; k++)
					ok = (t.v[k].kind == ALIAS_FILE) == (r->type == RCPT_FILE) &&
					    t.v[k].kind != ALIAS_ADDRESS && t.v[k].kind != ALIAS_INCLUDE &&
					    strcmp(t.v[k].text, r->target) == 0;
			alias_targets_clear(&t);
		}
		if (!ok)
			status_set(st, STATUS_PERM, "5.7.1", EXIT_NOPERM,
			    "%s recipient for <%s> is not in the alias tables; refused",
			    r->type == RCPT_FILE ? "file" : "command", r->addr);
	}
	rewrite_free(rw);
	buf_clear(&name);
	buf_clear(&value);
	buf_clear(&why);
	return ok;
}

static int
cmd_drop(const struct conf *conf, char *committed_id)
{
	struct status st;
	struct queue *q = NULL;
	struct queue_drop *d = NULL;
	struct envelope env;
	struct buf head = BUF_INIT, line = BUF_INIT, why = BUF_INIT;
	static struct reader r;
	int rc;

	status_init(&st);
	envelope_init(&env);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);	/* EFBIG instead, which we report */
	signal(SIGINT, drop_signal);
	signal(SIGTERM, drop_signal);
	signal(SIGHUP, drop_signal);

	if ((q = queue_open(conf->queue_directory, true, &st)) == NULL)
		goto fail;
	if ((d = queue_drop_begin(q, &st)) == NULL)
		goto fail;
	snprintf(drop_tmp_path, sizeof drop_tmp_path, "%s", queue_drop_tmp_path(d));
	drop_tmp_ready = 1;
	reply("id %s%s\n", queue_drop_id(d), "");

	/* The envelope, up to its empty line. */
	for (;;) {
		if (!reader_line(&r, &line, ENVELOPE_MAX_LINE) ||
		    head.len + line.len > ENVELOPE_MAX_BYTES) {
			status_set(&st, STATUS_TEMP, "4.3.0", EXIT_SOFTWARE,
			    "submission ended before the envelope was complete");
			goto fail;
		}
		buf_append(&head, line.data, line.len);
		buf_putc(&head, '\n');
		if (line.len == 0)
			break;
	}
	if (!envelope_parse(&env, head.data, head.len, NULL, &why)) {
		status_set(&st, STATUS_PERM, "5.3.0", EXIT_SOFTWARE, "bad envelope from sendmail: %s",
		    buf_cstr(&why));
		goto fail;
	}
	if (env.nrcpt == 0) {
		status_set(&st, STATUS_PERM, "5.1.3", EXIT_DATAERR, "no recipients");
		goto fail;
	}
	if (!confirm_alias_targets(conf, &env, &st))
		goto fail;
	/* A client decides none of the queue's own bookkeeping. */
	env.attempts = 0;
	env.next_retry = 0;
	env.hold = false;
	env.delay_warned = false;
	for (size_t i = 0; i < env.nrcpt; i++) {
		env.rcpt[i].state = RCPT_PENDING;
		env.rcpt[i].dsn[0] = '\0';
		free(env.rcpt[i].reason);
		env.rcpt[i].reason = NULL;
	}
	if (!queue_drop_envelope(d, &env, &st))
		goto fail;

	/* The message frames. */
	for (;;) {
		if (!reader_line(&r, &line, 32)) {
			status_set(&st, STATUS_TEMP, "4.3.0", EXIT_TEMPFAIL,
			    "submission ended before the end of the message");
			goto fail;
		}
		if (strcmp(buf_cstr(&line), "E") == 0)
			break;
		char *end;
		errno = 0;
		unsigned long n = line.len > 2 && line.data[0] == 'D' && line.data[1] == ' ' ?
		    strtoul(line.data + 2, &end, 10) : 0;
		if (n == 0 || errno || *end || n > DROP_MAX_FRAME) {
			status_set(&st, STATUS_TEMP, "4.3.0", EXIT_SOFTWARE, "bad message frame");
			goto fail;
		}
		while (n > 0) {
			if (!reader_fill(&r)) {
				status_set(&st, STATUS_TEMP, "4.3.0", EXIT_TEMPFAIL,
				    "submission ended in the middle of the message");
				goto fail;
			}
			size_t take = r.len - r.pos < n ? r.len - r.pos : n;
			if (!queue_drop_write(d, r.buf + r.pos, take, &st))
				goto fail;
			r.pos += take;
			n -= take;
		}
		if (conf->message_size_limit > 0 && queue_drop_size(d) > conf->message_size_limit) {
			status_set(&st, STATUS_PERM, "5.3.4", EXIT_DATAERR,
			    "message size exceeds message_size_limit (%lld bytes)",
			    conf->message_size_limit);
			goto fail;
		}
	}
	long long size = queue_drop_size(d);
	char id[32];
	snprintf(id, sizeof id, "%s", queue_drop_id(d));
	bool committed = queue_drop_commit(d, &st);
	d = NULL;
	drop_tmp_ready = 0;
	if (!committed)
		goto fail;
	/* Answer first: between the commit and this reply lies the only
	 * window in which a message is queued but its sender is told
	 * otherwise (then sendmail exits 75 and a retry may duplicate it). */
	reply("ok %s%s\n", id, "");
	snprintf(committed_id, 32, "%s", id);
	log_info("%s: uid=%lld from=<%s>", id, (long long)getuid(), envelope_sender(&env));
	log_info("%s: from=<%s>, size=%lld, nrcpt=%zu (queue active)", id,
	    envelope_sender(&env), size, env.nrcpt);
	rc = 0;
	goto out;
fail:
	drop_tmp_ready = 0;
	queue_drop_abort(d);
	log_warning("submission not queued: %s", buf_cstr(&st.text));
	rc = drop_fail(&st);
out:
	queue_close(q);
	envelope_clear(&env);
	buf_clear(&head);
	buf_clear(&line);
	buf_clear(&why);
	status_clear(&st);
	return rc;
}

/* "drop -d i|b [-v]": deliver the entry just committed (sendmail's
 * foreground or background mode) without sendmail starting another
 * program. */
static bool
then_deliver(char **args, int n)
{
	return (n == 2 || (n == 3 && strcmp(args[2], "-v") == 0)) && strcmp(args[0], "-d") == 0 &&
	    (strcmp(args[1], "i") == 0 || strcmp(args[1], "b") == 0);
}

/* Becomes satmail-deliver (next to this program, else in the libexec
 * directory) with the configuration this program chose and the given
 * arguments.  Delivery lives in its own program so that the SMTP, TLS,
 * DNS and SASL libraries are not loaded by every drop and listing.
 * Returns only when the exec failed (75: the entry waits for a run). */
static int
exec_deliverer(const char *config, char *const *args, int nargs)
{
	char *argv[12];
	int argc = 0;
	if (nargs > 8) {	/* "run -v -I ID -R DOMAIN" is the longest */
		log_fatal("too many arguments for %s", args[0]);
		return EXIT_USAGE;
	}
	char *helper = priv_helper_path("satmail-deliver");
	argv[argc++] = helper;
	if (config) {
		argv[argc++] = (char *)"-C";
		argv[argc++] = (char *)(uintptr_t)config;
	}
	for (int k = 0; k < nargs; k++)
		argv[argc++] = args[k];
	argv[argc] = NULL;
	execv(helper, argv);
	log_warning("cannot run %s: %s", helper, strerror(errno));
	free(helper);
	return EXIT_TEMPFAIL;
}

/* After `drop` answered "ok": the caller's pipes are done with (they
 * become /dev/null); background mode detaches first, as `sendmail -odb`
 * would (new session, no terminal, nothing of the caller's), so the
 * caller, which waits for this process, returns at once. */
static int
deliver_after_drop(const char *config, char *id, char mode, bool verbose)
{
	int nul = open("/dev/null", O_RDWR);
	if (nul < 0)
		return 0;	/* queued; the next queue run delivers it */
	(void)dup2(nul, 0);
	(void)dup2(nul, 1);
	if (mode == 'b') {
		pid_t pid = fork();
		if (pid != 0) {
			close(nul);
			return 0;	/* queued; fork failure leaves it to a queue run */
		}
		(void)dup2(nul, 2);
		setsid();
		if (fork() > 0)
			_exit(0);	/* the session leader's child cannot get a terminal */
	}
	if (nul > 2)
		close(nul);
	char *args[3] = { (char *)"deliver", (char *)"-v", id };
	if (mode == 'i' && verbose)
		return exec_deliverer(config, args, 3);
	args[1] = id;
	return exec_deliverer(config, args, 2);
}

static int
cmd_confirm(const struct conf *conf, const char *id)
{
	struct status st;
	struct queue_entry qe = { .fd = -1 };
	struct buf why = BUF_INIT;
	int rc = EXIT_TEMPFAIL;

	status_init(&st);
	struct queue *q = queue_open(conf->queue_directory, false, &st);
	if (q != NULL && queue_valid_id(id) && queue_entry_open(q, id, false, &qe, &why) == 1 &&
	    queue_sync(q, &st)) {
		reply("ok %s%s\n", id, "");
		rc = 0;
	} else {
		reply("absent %s%s\n", id, "");
	}
	queue_entry_close(&qe);
	queue_close(q);
	buf_clear(&why);
	status_clear(&st);
	return rc;
}

struct list_ctx {
	struct queue *q;
	struct buf out;
	struct mailq_totals totals;
	bool json;
};

static bool
list_one(void *vctx, const char *id)
{
	struct list_ctx *ctx = vctx;
	struct queue_entry qe;
	struct buf why = BUF_INIT;
	int rc = queue_entry_open(ctx->q, id, false, &qe, &why);
	if (rc == 1) {
		bool busy = queue_entry_busy(ctx->q, id);
		if (envelope_pending(&qe.env) > 0) {
			if (ctx->json)
				mailq_json_entry(&ctx->out, &qe.env, busy);
			else
				mailq_text_entry(&ctx->out, &qe.env, busy, &ctx->totals);
		}
	} else if (rc < 0) {
		/* Listing never moves entries: a reader without the lock
		 * could race a writer.  The queue run quarantines. */
		log_warning("%s: unreadable queue entry: %s", id, buf_cstr(&why));
	}
	queue_entry_close(&qe);
	buf_clear(&why);
	/* Stream big listings instead of holding them. */
	if (ctx->out.len > 65536) {
		(void)!write(1, ctx->out.data, ctx->out.len);
		buf_reset(&ctx->out);
	}
	return true;
}

static int
cmd_list(const struct conf *conf, bool json)
{
	struct status st;
	struct list_ctx ctx = { .json = json };
	int rc = 0;

	status_init(&st);
	buf_init(&ctx.out);
	ctx.q = queue_open(conf->queue_directory, false, &st);
	if (ctx.q == NULL) {
		/* A queue never written to is an empty queue. */
		struct buf qdir = BUF_INIT;
		buf_printf(&qdir, "%s/queue", conf->queue_directory);
		bool never_written = access(qdir.data, F_OK) < 0 && errno == ENOENT;
		buf_clear(&qdir);
		if (!never_written) {
			log_fatal("%s", buf_cstr(&st.text));
			rc = status_sysexit(&st);
			goto out;
		}
	} else if (!queue_scan(ctx.q, list_one, &ctx, &st)) {
		log_fatal("%s", buf_cstr(&st.text));
		rc = status_sysexit(&st);
		goto out;
	}
	if (!json)
		mailq_text_end(&ctx.out, &ctx.totals);
	if (ctx.out.len && write(1, ctx.out.data, ctx.out.len) != (ssize_t)ctx.out.len)
		rc = EXIT_IOERR;
out:
	queue_close(ctx.q);
	buf_clear(&ctx.out);
	status_clear(&st);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *copt = NULL, *env_config = getenv("SATMAIL_CONFIG");
	struct buf why = BUF_INIT;
	bool refused, explicit_path;
	int i = 1;

	priv_setid_startup(007);
	log_init("satmail-queue");
	if (i + 1 < argc && strcmp(argv[i], "-C") == 0) {
		copt = argv[i + 1];
		i += 2;
	}
	if (i >= argc)
		usage();
	/* sendmail (or mailq) started us and has already said what is wrong
	 * with the configuration; for drop, stderr is its caller's. */
	log_set_stderr(false);
	const char *path = priv_config_path(copt, env_config, &refused, &explicit_path);
	struct conf *conf = conf_load(path, explicit_path, &why);
	if (conf == NULL) {
		log_fatal("%s", buf_cstr(&why));
		return EXIT_CONFIG;
	}
	log_set_file(conf->maillog_file);
	log_set_stderr(strcmp(argv[i], "drop") != 0);
	/* Work from the queue (SPEC section 10): nothing is ever read from
	 * the caller's directory.  A queue not yet created is fine here. */
	if (chdir(conf->queue_directory) < 0)
		(void)!chdir("/");
	if (refused)
		log_debug("alternate configuration ignored: not permitted for a set-id program run by uid %ld",
		    (long)getuid());
	int rc;
	if (strcmp(argv[i], "drop") == 0 && (i + 1 == argc || then_deliver(argv + i + 1, argc - i - 1))) {
		char id[32] = "";
		rc = cmd_drop(conf, id);
		char mode = i + 1 < argc ? argv[i + 2][0] : 0;
		if (rc == 0 && mode)
			rc = deliver_after_drop(explicit_path ? path : NULL, id, mode, argc - i - 1 == 3);
	} else if (strcmp(argv[i], "deliver") == 0 || strcmp(argv[i], "run") == 0) {
		rc = exec_deliverer(explicit_path ? path : NULL, argv + i, argc - i);
	} else if (strcmp(argv[i], "confirm") == 0 && i + 2 == argc) {
		rc = cmd_confirm(conf, argv[i + 1]);
	} else if (strcmp(argv[i], "list") == 0 && (i + 1 == argc ||
	    (i + 2 == argc && strcmp(argv[i + 1], "-j") == 0))) {
		rc = cmd_list(conf, i + 2 == argc);
	} else {
		usage();
	}
	conf_free(conf);
	buf_clear(&why);
	return rc;
}
