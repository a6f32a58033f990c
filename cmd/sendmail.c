/* sendmail - satmail's mail submission program (also mailq, newaliases).
 *
 * Parses the classic sendmail options (SPEC.md section 3), loads the
 * configuration, and runs one mode: -bm (submit; the default), -bp (list
 * the queue through satmail-queue), ...  It holds no privilege: the queue
 * is written by the satmail-queue helper.  Exit codes are sysexits(3);
 * every non-zero exit prints one line on stderr saying what and why. */
#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "aliases.h"
#include "bs.h"
#include "buf.h"
#include "conf.h"
#include "envelope.h"
#include "log.h"
#include "priv.h"
#include "rewrite.h"
#include "router.h"
#include "status.h"
#include "submit.h"

#define SATMAIL_VERSION "0.1"

enum mode { MODE_SUBMIT, MODE_LIST, MODE_NEWALIASES, MODE_VERIFY, MODE_SMTP, MODE_QUEUE_RUN };

struct options {
	enum mode mode;
	struct submit_opts submit;
	const char *config;
	bool json;			/* mailq -j */
	int delivery;			/* -od?: -1 = delivery_mode */
	const char *queue_arg;		/* -q argument */
	const char *alias_db;		/* -oA: the alias database for -bi */
	int verbose;
};

static void
usage_text(FILE *f)
{
	fprintf(f,
	    "usage: sendmail [options] [--] [recipient ...]\n"
	    "       mailq [-j]      newaliases\n"
	    "Submit a message read from standard input (ends at end of file, or at a\n"
	    "line holding only \".\" unless -i).\n"
	    "  -t            also take recipients from To:, Cc: and Bcc: (Bcc is removed)\n"
	    "  -i, -oi       a line with a single \".\" does not end the message\n"
	    "  -f SENDER     envelope sender (-r is the same; \"<>\" is the null sender)\n"
	    "  -F NAME       full name for a generated From: header\n"
	    "  -N LIST       DSN notify: never, or success,delay,failure\n"
	    "  -R full|hdrs  DSN: what a bounce returns\n"
	    "  -V ENVID      DSN envelope id\n"
	    "  -B 7BIT|8BITMIME  body type\n"
	    "  -odb -odi -odq    deliver in background / foreground / only queue\n"
	    "  -oem -oep -oeq    error mode (accepted)\n"
	    "  -C FILE       configuration file (also SATMAIL_CONFIG)\n"
	    "  -v            verbose (twice: more)\n"
	    "  -bm           submit (default)      -bp  list the queue (mailq)\n"
	    "  -bi           rebuild aliases       -bv  verify addresses\n"
	    "  -bs           SMTP on stdin/stdout  -q   process the queue\n"
	    "  --help, --version\n"
	    "Exit status: 0 queued or delivered; 64 usage; 65 bad message; 75 try again\n"
	    "later; 78 bad configuration; other sysexits(3) codes.  See sendmail(8).\n");
}

static _Noreturn void
die(int code, const char *fmt, const char *arg)
{
	log_fatal(fmt, arg);
	exit(code);
}

/* Options that take an argument, attached ("-fa@b") or separate. */
static const char *
opt_arg(char **argv, int argc, int *i, const char *rest, char letter)
{
	if (*rest)
		return rest;
	if (*i + 1 < argc)
		return argv[++*i];
	char o[3] = { '-', letter, 0 };
	die(EXIT_USAGE, "option %s requires an argument", o);
}

static void
ignored(const char *what)
{
	if (log_verbose())
		log_warning("option %s is ignored", what);
}

static void
parse_o(struct options *o, const char *v)
{
	switch (v[0]) {
	case 'i':
		if (v[1] == '\0') {
			o->submit.dot_mode = false;
			return;
		}
		break;
	case 'd':
		if (v[1] == 'b' || v[1] == 'q' || v[1] == 'i' || v[1] == 'd') {
			o->delivery = v[1] == 'q' || v[1] == 'd' ? DELIVERY_QUEUE :
			    v[1] == 'i' ? DELIVERY_FOREGROUND : DELIVERY_BACKGROUND;
			return;
		}
		break;
	case 'e':
		if (v[1] && strchr("mpqwe", v[1]))
			return;	/* error modes: errors always go to stderr and the exit code */
		break;
	default:
		break;
	}
	char what[64];
	snprintf(what, sizeof what, "-o%s", v);
	ignored(what);
}

static void
parse_options(int argc, char **argv, struct options *o)
{
	int i;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-' || a[1] == '\0')
			break;
		if (strcmp(a, "--help") == 0) {
			usage_text(stdout);
			exit(0);
		}
		if (strcmp(a, "--version") == 0) {
			printf("satmail %s\n", SATMAIL_VERSION);
			exit(0);
		}
		char c = a[1];
		const char *rest = a + 2;
		switch (c) {
		case 't':
			o->submit.extract = true;
			break;
		case 'i':
			o->submit.dot_mode = false;
			break;
		case 'v':
			o->verbose += 1 + (int)strspn(rest, "v");
			break;
		case 'f':
		case 'r':
			o->submit.sender = opt_arg(argv, argc, &i, rest, c);
			break;
		case 'F':
			o->submit.fullname = opt_arg(argv, argc, &i, rest, c);
			break;
		case 'C':
			o->config = opt_arg(argv, argc, &i, rest, c);
			break;
		case 'N': {
			const char *v = opt_arg(argv, argc, &i, rest, c);
			if (!envelope_notify_parse(v, &o->submit.notify))
				die(EXIT_USAGE, "bad -N value: %s (use never, or success,delay,failure)", v);
			break;
		}
		case 'R': {
			const char *v = opt_arg(argv, argc, &i, rest, c);
			if (strcasecmp(v, "full") == 0)
				o->submit.ret = "full";
			else if (strcasecmp(v, "hdrs") == 0)
				o->submit.ret = "hdrs";
			else
				die(EXIT_USAGE, "bad -R value: %s (use full or hdrs)", v);
			break;
		}
		case 'V': {
			const char *v = opt_arg(argv, argc, &i, rest, c);
			size_t n = strlen(v);
			bool ok = n > 0 && n <= 100;
			for (const char *p = v; *p && ok; p++)
				ok = *p > 0x20 && *p < 0x7f;
			if (!ok)
				die(EXIT_USAGE, "bad -V envelope id: %s (1-100 printable characters)", v);
			o->submit.envid = v;
			break;
		}
		case 'B': {
			const char *v = opt_arg(argv, argc, &i, rest, c);
			if (strcasecmp(v, "7BIT") == 0)
				o->submit.body = "7bit";
			else if (strcasecmp(v, "8BITMIME") == 0)
				o->submit.body = "8bitmime";
			else
				die(EXIT_USAGE, "bad -B value: %s (use 7BIT or 8BITMIME)", v);
			break;
		}
		case 'b':
			switch (*rest) {
			case 'm':
				o->mode = MODE_SUBMIT;
				break;
			case 'p':
				o->mode = MODE_LIST;
				break;
			case 'i':
				o->mode = MODE_NEWALIASES;
				break;
			case 'v':
				o->mode = MODE_VERIFY;
				break;
			case 's':
				o->mode = MODE_SMTP;
				break;
			case 'h':
			case 'H':
				ignored(a);
				break;
			case 'd':
			case 'D':
			case 'l':
				die(EXIT_USAGE, "%s: satmail has no daemon mode", a);
			default:
				die(EXIT_USAGE, "unknown mode %s", a);
			}
			break;
		case 'q':
			o->mode = MODE_QUEUE_RUN;
			o->queue_arg = rest;
			break;
		case 'o': {
			const char *v = opt_arg(argv, argc, &i, rest, c);
			if (v[0] == 'A') {	/* -oAPATH or -oA PATH */
				o->alias_db = v[1] ? v + 1 : opt_arg(argv, argc, &i, "", 'o');
				break;
			}
			parse_o(o, v);
			break;
		}
		case 'I':
			o->mode = MODE_NEWALIASES;
			break;
		/* Classic options with an argument, accepted and ignored. */
		case 'h':
		case 'L':
		case 'X':
		case 'd':
		case 'O':
		case 'p':
		case 'e':
			(void)opt_arg(argv, argc, &i, rest, c);
			ignored(a);
			break;
		/* Classic options without one. */
		case 'A':
		case 'c':
		case 'G':
		case 'm':
		case 'n':
		case 'U':
		case 'x':
			ignored(a);
			break;
		case 'j':	/* mailq -j (with -bp) */
			if (*rest == '\0') {
				o->json = true;
				break;
			}
			/* FALLTHROUGH */
		default:
			die(EXIT_USAGE, "unknown option %s (see sendmail --help)", a);
		}
	}
	o->submit.rcpt_args = argv + i;
	o->submit.nrcpt_args = (size_t)(argc - i);
}

/* Starts argv for satmail-queue [-C FILE] (argv[0] = helper); argv keeps
 * pointers into o, which lives as long as the program. */
static int
helper_argv(const struct options *o, char **argv, char *helper)
{
	int argc = 0;
	argv[argc++] = helper;
	if (o->config) {
		argv[argc++] = (char *)"-C";
		argv[argc++] = (char *)(uintptr_t)o->config;	/* execv's argv is not const */
	}
	return argc;
}

/* Starts delivery of the entry just queued: in the foreground (waits, and
 * returns satmail-queue's exit code), or detached in the background: a
 * new session, no inherited descriptors (a caller waiting for EOF on a
 * pipe, as PHP and cron do, gets it at once). */
static int
deliver_now(const struct options *o, const char *id, bool background)
{
	char *helper = priv_helper_path("satmail-queue");
	char *argv[8];
	int argc = helper_argv(o, argv, helper);
	char idcopy[32];
	snprintf(idcopy, sizeof idcopy, "%s", id);
	argv[argc++] = (char *)"deliver";
	if (o->verbose && !background)
		argv[argc++] = (char *)"-v";	/* the SMTP transcript on our stderr */
	argv[argc++] = idcopy;
	argv[argc] = NULL;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return EXIT_OSERR;	/* the message waits for the next queue run */
	if (pid == 0) {
		if (background) {
			setsid();
			priv_close_from(0);
			if (open("/dev/null", O_RDWR) == 0) {
				(void)!dup(0);
				(void)!dup(0);
			}
			/* The session leader's child cannot get a terminal. */
			if (fork() > 0)
				_exit(0);
		} else if (o->mode == MODE_SMTP) {
			/* -bs: stdin and stdout carry the SMTP session. */
			int nul = open("/dev/null", O_RDWR);
			if (nul >= 0) {
				(void)!dup2(nul, 0);
				(void)!dup2(nul, 1);
				if (nul > 2)
					close(nul);
			}
		}
		execv(helper, argv);
		_exit(EXIT_UNAVAILABLE);
	}
	int ws = 0;
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	free(helper);
	return background ? 0 : WIFEXITED(ws) ? WEXITSTATUS(ws) : EXIT_TEMPFAIL;
}

/* -bs: starts delivery of each message the session queued. */
struct bs_ctx {
	const struct options *o;
	int mode;
};

static void
bs_queued(void *ctx, const char *id)
{
	const struct bs_ctx *bc = ctx;
	/* The session goes on after each message: even foreground delivery
	 * only delays the next reply, its outcome is the queue's job. */
	if (bc->mode == DELIVERY_FOREGROUND)
		(void)deliver_now(bc->o, id, false);
	else if (bc->mode == DELIVERY_BACKGROUND)
		(void)deliver_now(bc->o, id, true);
}

/* -q, -qIID, -qRsite: a queue run now (-q<interval> is ignored, as in
 * Postfix). */
static int
run_queue(const struct options *o)
{
	char *helper = priv_helper_path("satmail-queue");
	char *argv[10];
	int argc = helper_argv(o, argv, helper);
	const char *q = o->queue_arg ? o->queue_arg : "";
	argv[argc++] = (char *)"run";
	if (o->verbose)
		argv[argc++] = (char *)"-v";
	if ((q[0] == 'I' || q[0] == 'R') && q[1]) {
		argv[argc++] = q[0] == 'I' ? (char *)"-I" : (char *)"-R";
		argv[argc++] = (char *)(uintptr_t)(q + 1);
	}
	argv[argc] = NULL;
	fflush(stdout);
	execv(helper, argv);
	die(EXIT_UNAVAILABLE, "cannot run the queue program: %s", strerror(errno));
}

static int
run_list(const struct options *o)
{
	char *helper = priv_helper_path("satmail-queue");
	char *argv[6];
	int argc = helper_argv(o, argv, helper);
	argv[argc++] = (char *)"list";
	if (o->json)
		argv[argc++] = (char *)"-j";
	argv[argc] = NULL;
	fflush(stdout);
	execv(helper, argv);
	die(EXIT_UNAVAILABLE, "cannot run the queue program: %s", strerror(errno));
}

/* newaliases / -bi: build every table of alias_database (or -oA). */
static int
run_newaliases(const struct conf *conf, const struct options *o)
{
	struct status st;
	int rc = 0;
	char *one[2] = { o->alias_db ? strdup(o->alias_db) : NULL, NULL };
	char **specs = o->alias_db ? one : conf->alias_database;

	status_init(&st);
	for (char **s = specs; s && *s; s++) {
		size_t n = 0;
		if (!aliases_build(*s, conf, &n, &st)) {
			log_fatal("%s", buf_cstr(&st.text));
			rc = status_sysexit(&st);
			break;
		}
		log_debug("%s: %zu aliases", *s, n);
	}
	free(one[0]);
	status_clear(&st);
	return rc;
}

static void
verify_note(void *ctx, int depth, const char *fmt, ...)
{
	(void)ctx;
	va_list ap;
	printf("  %*s", depth * 2, "");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* -bv: what canonical maps and aliases make of each address and where it
 * would go; sends nothing.  One block per argument:
 *   ADDRESS
 *     canonical: ADDR
 *     ADDR: alias NAME -> TARGETS          (the expansion, indented)
 *     deliver: ADDR: local mailbox USER | relay HOST | MX DOMAIN
 *     deliver: ADDR: command |CMD | file PATH
 * Exit 0 when every address resolves, else the last failure's code. */
static int
run_verify(const struct conf *conf, const struct options *o)
{
	struct rewrite *rw = rewrite_new(conf);
	struct status st;
	struct buf canon = BUF_INIT, why = BUF_INIT, a = BUF_INIT;
	struct rewrite_trace trace = { verify_note, NULL };
	int rc = 0;

	status_init(&st);
	if (o->submit.nrcpt_args == 0)
		die(EXIT_USAGE, "%s", "-bv: no addresses to verify");
	for (size_t i = 0; i < o->submit.nrcpt_args; i++) {
		const char *arg = o->submit.rcpt_args[i];
		struct addr_list l;
		addr_list_init(&l);
		buf_reset(&why);
		printf("%s\n", arg);
		if (!addr_parse_arg(arg, &l, &why) || l.n == 0) {
			printf("  error: bad address syntax: %s\n", buf_cstr(&why));
			rc = EXIT_USAGE;
		}
		for (size_t k = 0; k < l.n; k++) {
			struct envelope env;
			envelope_init(&env);
			buf_reset(&a);
			addr_format(&l.v[k], &a);
			if (l.v[k].domain == NULL && a.len)
				buf_printf(&a, "@%s", conf->myorigin);
			if (!rewrite_canonical(rw, REWRITE_RECIPIENT, a.data, &canon, &st) ||
			    (printf("  canonical: %s\n", canon.data),
			    !rewrite_expand(rw, canon.data, a.data, 0, &env, &trace, &st))) {
				printf("  error: %s (%s)\n", buf_cstr(&st.text), st.dsn);
				rc = status_sysexit(&st);
			}
			for (size_t r = 0; r < env.nrcpt; r++) {
				const struct rcpt *rc_ = &env.rcpt[r];
				struct route route;
				route_init(&route);
				if (rc_->type == RCPT_COMMAND) {
					printf("  deliver: %s: command |%s (as %s)\n", rc_->addr, rc_->target,
					    conf->default_privs);
				} else if (rc_->type == RCPT_FILE) {
					printf("  deliver: %s: file %s (as %s)\n", rc_->addr, rc_->target,
					    conf->default_privs);
				} else {
					router_route(conf, rc_->addr, &route);
					if (route.kind == ROUTE_LOCAL)
						printf("  deliver: %s: local mailbox %s/%s\n", rc_->addr,
						    conf->mail_spool_directory, buf_cstr(&route.nexthop));
					else if (route.kind == ROUTE_RELAY)
						printf("  deliver: %s: smtp via relayhost %s\n", rc_->addr,
						    buf_cstr(&route.nexthop));
					else if (route.kind == ROUTE_MX)
						printf("  deliver: %s: smtp to the MX hosts of %s\n", rc_->addr,
						    buf_cstr(&route.nexthop));
					else
						printf("  error: %s\n", buf_cstr(&route.error.text));
				}
				if (rc_->owner)
					printf("    errors to: %s\n", rc_->owner);
				route_clear(&route);
			}
			envelope_clear(&env);
		}
		addr_list_clear(&l);
	}
	status_clear(&st);
	buf_clear(&canon);
	buf_clear(&why);
	buf_clear(&a);
	rewrite_free(rw);
	return rc;
}

int
main(int argc, char **argv)
{
	struct options o;
	struct status st;
	struct buf why = BUF_INIT;
	char id[32] = "";

	if (!priv_sanitize_fds())
		return EXIT_OSERR;
	/* A closed pipe or a file size limit is an error we report, not a
	 * reason to die without a word. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
	const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	log_init(base);
	memset(&o, 0, sizeof o);
	o.submit.dot_mode = true;
	o.delivery = -1;
	if (strcmp(base, "mailq") == 0)
		o.mode = MODE_LIST;
	else if (strcmp(base, "newaliases") == 0)
		o.mode = MODE_NEWALIASES;
	/* -v must count before other options warn. */
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (argv[i][0] == '-' && argv[i][1] == 'v')
			log_set_verbose((int)strspn(argv[i] + 1, "v"));
	parse_options(argc, argv, &o);
	log_set_verbose(o.verbose);

	const char *env_config = getenv("SATMAIL_CONFIG");
	const char *path = o.config ? o.config : env_config && *env_config ? env_config : NULL;
	struct conf *conf = conf_load(path, path != NULL, &why);
	if (conf == NULL)
		die(EXIT_CONFIG, "%s", buf_cstr(&why));
	log_set_file(conf->maillog_file);
	o.submit.config_opt = o.config;

	switch (o.mode) {
	case MODE_LIST:
		return run_list(&o);
	case MODE_SUBMIT:
		break;
	case MODE_NEWALIASES:
	case MODE_VERIFY: {
		int mrc = o.mode == MODE_NEWALIASES ? run_newaliases(conf, &o) : run_verify(conf, &o);
		conf_free(conf);
		buf_clear(&why);
		return mrc;
	}
	case MODE_SMTP: {
		struct bs_ctx bc = { &o, o.delivery >= 0 ? o.delivery : (int)conf->delivery_mode };
		status_init(&st);
		int src = 0;
		if (!bs_run(conf, &o.submit, 0, 1, bs_queued, &bc, &st)) {
			log_fatal("-bs: %s", buf_cstr(&st.text));
			src = status_sysexit(&st);
		}
		status_clear(&st);
		conf_free(conf);
		buf_clear(&why);
		return src;
	}
	case MODE_QUEUE_RUN:
		return run_queue(&o);
	}

	status_init(&st);
	if (!submit_check_args(conf, &o.submit, &st))
		die(status_sysexit(&st), "%s", buf_cstr(&st.text));
	/* The queue program that takes the message also delivers it (one
	 * program start, not two); if it could not, we start delivery. */
	int mode = o.delivery >= 0 ? o.delivery : (int)conf->delivery_mode;
	int delivered = -1;
	o.submit.then_deliver = mode == DELIVERY_FOREGROUND ? 'i' : mode == DELIVERY_BACKGROUND ? 'b' : 0;
	o.submit.verbose = o.verbose > 0;
	o.submit.delivered = &delivered;
	if (!submit_message(conf, &o.submit, 0, id, &st))
		die(status_sysexit(&st), "%s", buf_cstr(&st.text));
	log_debug("queued as %s", id);
	int rc = 0;
	if (mode == DELIVERY_FOREGROUND) {
		rc = delivered >= 0 ? delivered : deliver_now(&o, id, false);
		if (rc == EXIT_NOUSER)
			log_fatal("%s: a local recipient is unknown (bounced; see the mail log)", id);
		else
			rc = 0;	/* queued is success; the rest is the queue's job */
	} else if (mode == DELIVERY_BACKGROUND && delivered != 0) {
		(void)deliver_now(&o, id, true);
	}
	status_clear(&st);
	conf_free(conf);
	buf_clear(&why);
	return rc;
}
