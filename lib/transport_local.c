/* transport_local - mailbox delivery through satmail-local (see
 * transport_local.h). */
#include "transport_local.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "priv.h"
#include "xalloc.h"

extern char **environ;

bool
transport_parse_outcome(const char *line, struct status *r)
{
	static const struct { const char *word; enum status_class cls; } words[] = {
		{ "ok ", STATUS_OK }, { "temp ", STATUS_TEMP }, { "perm ", STATUS_PERM },
	};
	for (size_t i = 0; i < 3; i++) {
		size_t wl = strlen(words[i].word);
		if (strncmp(line, words[i].word, wl) != 0)
			continue;
		const char *code = line + wl;
		size_t cl = strspn(code, "0123456789.");
		/* X.Y.Z, and the class digit must agree with the word: a helper
		 * cannot report success with a failure code or the reverse. */
		int dots = 0;
		bool adjacent = false;
		for (size_t k = 0; k < cl; k++) {
			dots += code[k] == '.';
			adjacent |= k > 0 && code[k] == '.' && code[k - 1] == '.';
		}
		if (cl < 5 || cl > 11 || code[cl] != ' ' || code[0] != "245"[i] || code[1] != '.' ||
		    dots != 2 || adjacent || code[cl - 1] == '.')
			return false;
		char dsn[16];
		memcpy(dsn, code, cl);
		dsn[cl] = '\0';
		status_set(r, words[i].cls, dsn, 0, "%s", code + cl + 1);
		return true;
	}
	return false;
}

void
transport_run_helper(char *const argv[], int in_fd, struct status *result)
{
	int out[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	pid_t pid = -1;
	char line[1024];
	size_t n = 0;
	int err, ws;

	if (pipe2(out, O_CLOEXEC) < 0) {
		status_set(result, STATUS_TEMP, "4.3.0", 0, "cannot create pipe: %s", strerror(errno));
		return;
	}
	posix_spawn_file_actions_init(&fa);
	if (in_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	err = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(out[1]);
	if (err) {
		close(out[0]);
		status_set(result, STATUS_TEMP, "4.3.0", 0, "cannot run %s: %s", argv[0], strerror(err));
		return;
	}
	/* One line, bounded; the rest is drained so the helper never blocks. */
	for (;;) {
		char c;
		ssize_t r = read(out[0], &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (c == '\n' || n + 1 >= sizeof line) {
			char sink[512];
			while (read(out[0], sink, sizeof sink) > 0)
				;
			break;
		}
		line[n++] = c;
	}
	line[n] = '\0';
	close(out[0]);
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	for (char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	if (!transport_parse_outcome(line, result))
		status_set(result, STATUS_TEMP, "4.3.0", 0, "%s failed (%s%s)", argv[0],
		    WIFSIGNALED(ws) ? "killed by a signal" : "no valid answer",
		    n ? ": " : "");
}

static void
local_deliver(const struct conf *c, const struct envelope *e, int msg_fd, long long msg_offset,
    const char *nexthop, struct rcpt **rcpts, size_t n, struct status *results, struct buf *relay)
{
	buf_set(relay, "local");
	char *helper = priv_helper_path("satmail-local");
	char offset[32];
	snprintf(offset, sizeof offset, "%lld", msg_offset);
	/* The helper reads the same configuration (it accepts -C only where
	 * SPEC section 10 allows). */
	const char *cfg = c->path;
	for (size_t i = 0; i < n; i++) {
		const struct rcpt *r = rcpts[i];
		const char *argv[16];
		int argc = 0;
		argv[argc++] = helper;
		if (cfg && strcmp(cfg, CONF_DEFAULT_PATH) != 0) {
			argv[argc++] = "-C";
			argv[argc++] = cfg;
		}
		argv[argc++] = "-u";
		argv[argc++] = nexthop;
		argv[argc++] = "-f";
		argv[argc++] = envelope_sender(e);
		if (r->orig) {
			argv[argc++] = "-o";
			argv[argc++] = r->orig;
		}
		/* Delivered-To is the address before alias expansion, as
		 * Postfix's frozen_delivered_to. */
		argv[argc++] = "-d";
		argv[argc++] = r->orig ? r->orig : r->addr;
		argv[argc++] = "-s";
		argv[argc++] = offset;
		argv[argc] = NULL;
		/* The helper reads the entry with pread from its stdin, a
		 * duplicate of our (locked) descriptor. */
		transport_run_helper((char *const *)(void *)argv, msg_fd, &results[i]);
		/* SPEC section 4's wording for an unknown local recipient. */
		if (results[i].cls == STATUS_PERM && strcmp(results[i].dsn, "5.1.1") == 0)
			status_set(&results[i], STATUS_PERM, "5.1.1", 0,
			    "<%s>: User unknown in local recipient table", r->addr);
	}
	free(helper);
}

const struct transport transport_local = { "local", local_deliver, NULL };
