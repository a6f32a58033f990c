/* postsuper - queue maintenance for the super-user, a small subset of
 * Postfix's postsuper(1):
 *
 *   postsuper [-v] [-c config_dir] [-d ID|ALL|-] [-h ID|ALL|-] [-H ID|ALL|-]
 *             [-r ID|ALL|-]
 *
 *   -d  delete the entry
 *   -h  put the entry on hold (the "hold: yes" envelope record): no queue
 *       run delivers it, mailq marks it '!'
 *   -H  release it from hold
 *   -r  requeue: deliver at the next queue run (next-retry 0; the attempt
 *       count stays).  As in Postfix, where -r sends the message through
 *       the maildrop again, a requeued entry is also released from hold.
 *
 * Each option may be given more than once; they are applied in the order
 * given.  The argument is a queue id, ALL (every entry), or "-": ids read
 * from standard input, separated by white space.  Every change is made
 * under the entry lock through lib/queue (an atomic rewrite, queue.h state
 * 5, or a durable removal); an entry being delivered at that moment is
 * skipped with a warning.  An id that is not in the queue is ignored, as
 * Postfix does.
 *
 * It runs only for root (uid 0), which may write the queue directly: it
 * does not go through satmail-queue.  Per-entry lines go to the mail log
 * and to stderr ("postsuper: ID: removed"), then one summary line per
 * operation that changed anything ("postsuper: Deleted: 2 messages").
 * Exit status: 0; 64 usage; 77 not root; 78 configuration; 75 when the
 * queue could not be read or an entry could not be changed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "envelope.h"
#include "log.h"
#include "priv.h"
#include "queue.h"
#include "status.h"
#include "xalloc.h"

#define POSTSUPER_MAX_OPS	1000	/* -d/-h/-H/-r options on one command line */
#define POSTSUPER_MAX_ID	64	/* longest token read from stdin that can be an id */

enum op { OP_DELETE, OP_HOLD, OP_RELEASE, OP_REQUEUE, OP_COUNT };

/* Postfix's summary labels, in enum op order. */
static const char *const op_summary[OP_COUNT] = {
	"Deleted", "Placed on hold", "Released from hold", "Requeued",
};

struct request {
	enum op op;
	const char *arg;
};

struct ids {
	char **v;
	size_t n, cap;
};

static void usage(void) __attribute__((noreturn));

static void
usage(void)
{
	fprintf(stderr, "usage: postsuper [-v] [-c config_dir] [-d queue_id|ALL|-] "
	    "[-h queue_id|ALL|-] [-H queue_id|ALL|-] [-r queue_id|ALL|-]\n");
	exit(EXIT_USAGE);
}

static void
ids_add(struct ids *l, const char *id, size_t len)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->v = xreallocarray(l->v, l->cap, sizeof *l->v);
	}
	l->v[l->n++] = xstrndup(id, len);
}

static void
ids_clear(struct ids *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof *l);
}

static bool
collect(void *ctx, const char *id)
{
	ids_add(ctx, id, strlen(id));
	return true;
}

/* Ids separated by white space on stdin.  A token too long to be an id is
 * kept short enough to be reported, and is then refused as invalid. */
static void
read_stdin_ids(struct ids *l)
{
	char tok[POSTSUPER_MAX_ID + 1];
	size_t n = 0;
	int ch;
	do {
		ch = getchar();
		if (ch == EOF || ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
			if (n > 0)
				ids_add(l, tok, n);
			n = 0;
		} else if (n < POSTSUPER_MAX_ID) {
			tok[n++] = (char)ch;
		}
	} while (ch != EOF);
}

/* Prints and logs "ID: WHAT" as Postfix's postsuper does. */
static void
say(const char *id, const char *what)
{
	log_info("%s: %s", id, what);
	fprintf(stderr, "postsuper: %s: %s\n", id, what);
}

/* Applies op to one entry under its lock.  Returns false when the entry
 * exists but could not be changed (busy entries are only warned about:
 * the operation can simply be repeated). */
static bool
apply(struct queue *q, enum op op, const char *id, size_t *count)
{
	struct queue_entry qe;
	struct buf why = BUF_INIT;
	struct status st;
	bool ok = true, changed = false;

	status_init(&st);
	if (!queue_valid_id(id)) {
		log_warning("invalid mail queue id: %s", id);
		goto out;
	}
	int rc = queue_entry_open(q, id, true, &qe, &why);
	if (rc == 2) {
		log_warning("%s: being delivered (entry locked): skipped", id);
		goto out;
	}
	if (rc == 1) {
		struct envelope *e = &qe.env;
		switch (op) {
		case OP_DELETE:
			if ((ok = queue_entry_remove(q, &qe, &st)))
				say(id, "removed");
			changed = ok;
			break;
		case OP_HOLD:
			if (!e->hold) {
				e->hold = true;
				if ((ok = queue_entry_update(q, &qe, &st)))
					say(id, "placed on hold");
				changed = ok;
			}
			break;
		case OP_RELEASE:
			if (e->hold) {
				e->hold = false;
				if ((ok = queue_entry_update(q, &qe, &st)))
					say(id, "released from hold");
				changed = ok;
			}
			break;
		case OP_REQUEUE:
			e->next_retry = 0;
			e->hold = false;
			if ((ok = queue_entry_update(q, &qe, &st)))
				say(id, "requeued");
			changed = ok;
			break;
		case OP_COUNT:
			break;
		}
		if (!ok)
			log_warning("%s: %s", id, buf_cstr(&st.text));
	} else if (rc < 0) {
		/* Left for a queue run to move aside: it holds the lock. */
		log_warning("%s: unreadable queue entry: %s", id, buf_cstr(&why));
	}
	if (changed)
		(*count)++;
	queue_entry_close(&qe);
out:
	buf_clear(&why);
	status_clear(&st);
	return ok;
}

int
main(int argc, char **argv)
{
	static struct request req[POSTSUPER_MAX_OPS];
	size_t nreq = 0, counts[OP_COUNT] = { 0 };
	struct buf cdir = BUF_INIT, why = BUF_INIT;
	const char *config = NULL;
	struct conf *conf = NULL;
	struct queue *q = NULL;
	struct status st;
	bool refused, explicit_path, stdin_used = false;
	int ch, rc = 0;

	status_init(&st);
	umask(022);
	if (argc > 0) {
		/* getopt's own messages say "postsuper:", as Postfix's do. */
		char *slash = strrchr(argv[0], '/');
		if (slash && slash[1])
			argv[0] = slash + 1;
	}
	log_init("postsuper");
	if (!priv_sanitize_fds())
		return EXIT_OSERR;
	if (getuid() != 0) {
		fprintf(stderr, "postsuper: fatal: use of this command is reserved for the superuser\n");
		return EXIT_NOPERM;
	}
	while ((ch = getopt(argc, argv, "+c:d:h:H:r:v")) != -1) {
		enum op op;
		switch (ch) {
		case 'c':
			buf_set(&cdir, optarg);
			buf_puts(&cdir, "/main.cf");
			config = cdir.data;
			continue;
		case 'v':
			log_set_verbose(log_verbose() + 1);
			continue;
		case 'd':
			op = OP_DELETE;
			break;
		case 'h':
			op = OP_HOLD;
			break;
		case 'H':
			op = OP_RELEASE;
			break;
		case 'r':
			op = OP_REQUEUE;
			break;
		default:
			usage();
		}
		if (nreq == POSTSUPER_MAX_OPS)
			usage();
		req[nreq].op = op;
		req[nreq++].arg = optarg;
	}
	if (optind != argc || nreq == 0)
		usage();

	const char *path = priv_config_path(config, getenv("SATMAIL_CONFIG"), &refused,
	    &explicit_path);
	if ((conf = conf_load(path, explicit_path, &why)) == NULL) {
		fprintf(stderr, "postsuper: fatal: %s\n", buf_cstr(&why));
		rc = EXIT_CONFIG;
		goto out;
	}
	if (conf->maillog_file && *conf->maillog_file)
		log_set_file(conf->maillog_file);
	q = queue_open(conf->queue_directory, false, &st);
	if (q == NULL) {
		/* A queue never written to holds nothing to change. */
		struct buf qdir = BUF_INIT;
		buf_printf(&qdir, "%s/queue", conf->queue_directory);
		bool never_written = access(qdir.data, F_OK) < 0 && errno == ENOENT;
		buf_clear(&qdir);
		if (!never_written) {
			log_fatal("%s", buf_cstr(&st.text));
			rc = status_sysexit(&st);
		}
		goto out;
	}
	for (size_t i = 0; i < nreq; i++) {
		struct ids ids = { 0 };
		if (strcmp(req[i].arg, "ALL") == 0) {
			/* Listed first, then changed: the scan never sees the
			 * renames it causes. */
			if (!queue_scan(q, collect, &ids, &st)) {
				log_warning("%s", buf_cstr(&st.text));
				rc = EXIT_TEMPFAIL;
			}
		} else if (strcmp(req[i].arg, "-") == 0) {
			if (stdin_used)
				log_warning("standard input already read: second \"-\" ignored");
			else
				read_stdin_ids(&ids);
			stdin_used = true;
		} else {
			ids_add(&ids, req[i].arg, strlen(req[i].arg));
		}
		for (size_t k = 0; k < ids.n; k++)
			if (!apply(q, req[i].op, ids.v[k], &counts[req[i].op]))
				rc = EXIT_TEMPFAIL;
		ids_clear(&ids);
	}
	for (int op = 0; op < OP_COUNT; op++) {
		if (counts[op] == 0)
			continue;
		log_info("%s: %zu message%s", op_summary[op], counts[op], counts[op] == 1 ? "" : "s");
		fprintf(stderr, "postsuper: %s: %zu message%s\n", op_summary[op], counts[op],
		    counts[op] == 1 ? "" : "s");
	}
out:
	queue_close(q);
	conf_free(conf);
	buf_clear(&cdir);
	buf_clear(&why);
	status_clear(&st);
	return rc;
}
