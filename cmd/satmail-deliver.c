/* satmail-deliver - delivery attempts for queue entries (setgid satmail
 * when installed, as satmail-queue is).
 *
 *   satmail-deliver [-C FILE] deliver [-v] ID   one attempt for one entry now
 *                                     (sendmail -odi/-odb, via satmail-queue)
 *   satmail-deliver [-C FILE] run [-v] [-I ID] [-R DOMAIN]
 *                                     every due entry (sendmail -q)
 *
 * satmail-queue starts it (`satmail-queue deliver|run ...` and `drop -d`
 * become this program): delivery is a program of its own so that the
 * TLS, DNS and SASL libraries it needs are not loaded by every drop and
 * every mailq.  It parses no message content itself: local delivery goes
 * to satmail-local, remote delivery to an unprivileged SMTP worker
 * (transport_smtp.h), and what they report is re-validated (deliver.h).
 * -v shows the SMTP transcript on stderr.  Exit: 0, 67 when a local
 * recipient was unknown, 75 when an entry could not be handled. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "deliver.h"
#include "envelope.h"
#include "log.h"
#include "priv.h"
#include "queue.h"
#include "router.h"
#include "status.h"

static void
usage(void)
{
	fprintf(stderr, "usage: satmail-deliver [-C config] deliver [-v] ID | run [-v] [-I ID] [-R domain]\n");
	exit(EXIT_USAGE);
}

struct run_ctx {
	const struct conf *conf;
	struct queue *q;
	struct deliver_opts opts;
	const char *only_id;		/* -I */
	const char *only_domain;	/* -R */
	bool verbose;
	size_t entries, failures;
	bool unknown_user;
};

static bool
wants_domain(struct queue *q, const char *id, const char *domain)
{
	struct queue_entry qe;
	struct buf why = BUF_INIT;
	bool yes = false;
	if (queue_entry_open(q, id, false, &qe, &why) == 1) {
		for (size_t i = 0; i < qe.env.nrcpt && !yes; i++) {
			const char *at = strrchr(qe.env.rcpt[i].addr, '@');
			yes = qe.env.rcpt[i].state == RCPT_PENDING && at && strcasecmp(at + 1, domain) == 0;
		}
	}
	queue_entry_close(&qe);
	buf_clear(&why);
	return yes;
}

static bool
run_one(void *vctx, const char *id)
{
	struct run_ctx *ctx = vctx;
	struct deliver_result res;
	struct status st;

	if (ctx->only_id && strcmp(id, ctx->only_id) != 0)
		return true;
	if (ctx->only_domain && !wants_domain(ctx->q, id, ctx->only_domain))
		return true;
	status_init(&st);
	ctx->entries++;
	if (!deliver_entry(ctx->conf, ctx->q, id, &ctx->opts, &res, &st)) {
		log_warning("%s", buf_cstr(&st.text));
		ctx->failures++;
	} else if (ctx->verbose && !res.busy) {
		printf("%s: %zu sent, %zu deferred, %zu bounced\n", id, res.sent, res.deferred,
		    res.bounced);
	}
	ctx->unknown_user |= res.unknown_user;
	/* A notification queued just now goes out in the same run (one
	 * level: what it may cause waits for the next run). */
	const char *notices[3] = { res.bounce_id, res.success_id, res.delay_id };
	for (int k = 0; k < 3; k++) {
		struct deliver_result bres;
		if (notices[k][0] && !deliver_entry(ctx->conf, ctx->q, notices[k], &ctx->opts, &bres, &st))
			log_warning("%s", buf_cstr(&st.text));
	}
	status_clear(&st);
	return true;
}

/* deliver ID and run: one attempt for one entry, or for every due one.
 * Exit 67 when a local recipient turned out unknown (sendmail -odi -oep
 * reports that), 75 when an entry could not be handled, else 0. */
static int
cmd_run(const struct conf *conf, const char *only_id, const char *only_domain, bool verbose,
    bool force)
{
	struct status st;
	struct run_ctx ctx = { .conf = conf, .only_id = only_id, .only_domain = only_domain,
		.verbose = verbose };
	int rc = 0;

	status_init(&st);
	/* satmail-mbox-create trusts the queue's group: make it our real
	 * group too, so that the helpers we start can show it.  The
	 * invoker's group is kept as the saved group id: an SMTP worker
	 * returns to it for good (priv_drop_worker). */
	if (priv_is_setid() && getuid() != 0 && setresgid(getegid(), getegid(), getgid()) < 0) {
		log_fatal("cannot set the real group: %s", strerror(errno));
		return EXIT_OSERR;
	}
	ctx.opts.root_run = getuid() == 0;
	ctx.opts.now = time(NULL);
	ctx.opts.ignore_retry_time = force;
	ctx.q = queue_open(conf->queue_directory, true, &st);
	if (ctx.q == NULL) {
		log_fatal("%s", buf_cstr(&st.text));
		rc = status_sysexit(&st);
		goto out;
	}
	queue_clean_tmp(ctx.q, QUEUE_TMP_MAX_AGE);
	if (only_id && !queue_valid_id(only_id)) {
		log_fatal("bad queue id: %s", only_id);
		rc = EXIT_USAGE;
		goto out;
	}
	if (only_id)
		run_one(&ctx, only_id);
	else
		queue_scan(ctx.q, run_one, &ctx, &st);
	rc = ctx.failures ? EXIT_TEMPFAIL : ctx.unknown_user ? EXIT_NOUSER : 0;
out:
	router_finish();	/* ends the SMTP worker and its cached connection */
	queue_close(ctx.q);
	status_clear(&st);
	return rc;
}


int
main(int argc, char **argv)
{
	const char *copt = NULL, *env_config = getenv("SATMAIL_CONFIG");
	struct buf why = BUF_INIT;
	bool refused, explicit_path;
	int i = 1, rc;

	priv_setid_startup(007);
	log_init("satmail-queue");	/* one name in the log for the queue's work */
	if (i + 1 < argc && strcmp(argv[i], "-C") == 0) {
		copt = argv[i + 1];
		i += 2;
	}
	if (i >= argc)
		usage();
	const char *path = priv_config_path(copt, env_config, &refused, &explicit_path);
	struct conf *conf = conf_load(path, explicit_path, &why);
	if (conf == NULL) {
		log_fatal("%s", buf_cstr(&why));
		return EXIT_CONFIG;
	}
	log_set_file(conf->maillog_file);
	if (chdir(conf->queue_directory) < 0)
		(void)!chdir("/");
	if (refused)
		log_debug("alternate configuration ignored: not permitted for a set-id program run by uid %ld",
		    (long)getuid());
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(argv[i], "deliver") == 0 && (i + 2 == argc ||
	    (i + 3 == argc && strcmp(argv[i + 1], "-v") == 0))) {
		if (i + 3 == argc)
			log_set_verbose(1);
		rc = cmd_run(conf, argv[argc - 1], NULL, false, true);
	} else if (strcmp(argv[i], "run") == 0) {
		const char *only_id = NULL, *only_domain = NULL;
		bool verbose = false;
		for (int k = i + 1; k < argc; k++) {
			if (strcmp(argv[k], "-v") == 0) {
				verbose = true;
				log_set_verbose(1);
			} else if (strcmp(argv[k], "-I") == 0 && k + 1 < argc) {
				only_id = argv[++k];
			} else if (strcmp(argv[k], "-R") == 0 && k + 1 < argc) {
				only_domain = argv[++k];
			} else {
				usage();
			}
		}
		rc = cmd_run(conf, only_id, only_domain, verbose, only_id != NULL);
	} else {
		usage();
	}
	conf_free(conf);
	buf_clear(&why);
	return rc;
}
