/* priv - start-up hygiene for every program, and the extra rules for
 * set-id helpers (see priv.h). */
#include "priv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "xalloc.h"

#ifndef SATMAIL_LIBEXECDIR
#define SATMAIL_LIBEXECDIR "/usr/local/libexec/satmail"
#endif

extern char **environ;

bool
priv_sanitize_fds(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		int nfd = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
		if (nfd < 0)
			return false;
		if (nfd != fd) {	/* a lower fd was closed too: fix in order */
			close(nfd);
			return false;
		}
	}
	return true;
}

void
priv_close_from(int lowfd)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)lowfd, ~0U, 0) == 0)
		return;
#endif
	struct rlimit rl;
	long max = 1024;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		max = (long)rl.rlim_cur;
	for (long fd = lowfd; fd < max; fd++)
		close((int)fd);
}

void
priv_setid_startup(mode_t mask)
{
	static const char *const keep[] = { "TZ", "LANG", "LC_ALL", "LC_CTYPE",
		"LC_MESSAGES", "LC_TIME", NULL };
	static char *clean[sizeof keep / sizeof keep[0]];
	size_t n = 0;

	priv_sanitize_fds();
	priv_close_from(3);
	/* Keep only the allow-list, and only values without a path in them
	 * for the locale (a locale name is never a path). */
	for (char **e = environ; e && *e; e++) {
		for (size_t i = 0; keep[i]; i++) {
			size_t kl = strlen(keep[i]);
			if (strncmp(*e, keep[i], kl) == 0 && (*e)[kl] == '=' &&
			    (i == 0 ? strlen(*e) < 64 : strchr(*e + kl + 1, '/') == NULL) &&
			    n < sizeof clean / sizeof clean[0] - 1)
				clean[n++] = *e;
		}
	}
	clean[n] = NULL;
	environ = clean;
	umask(mask);
	if (chdir("/") < 0)
		_exit(71);
}

bool
priv_is_setid(void)
{
	return getuid() != geteuid() || getgid() != getegid();
}

const char *
priv_config_path(const char *opt, const char *env, bool *refused, bool *explicit_path)
{
	const char *want = opt && *opt ? opt : env && *env ? env : NULL;
	*refused = false;
	*explicit_path = false;
	if (want == NULL)
		return NULL;
	if (priv_is_setid() && getuid() != 0) {
		*refused = true;
		return NULL;
	}
	*explicit_path = true;
	return want;
}

char *
priv_self_dir(void)
{
	char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
	if (n <= 0)
		return NULL;
	path[n] = '\0';
	char *slash = strrchr(path, '/');
	if (slash == NULL)
		return NULL;
	*slash = '\0';
	return xstrdup(path);
}

char *
priv_helper_path(const char *name)
{
	char *dir = priv_self_dir();
	if (dir) {
		size_t n = strlen(dir) + strlen(name) + 2;
		char *p = xmalloc(n);
		snprintf(p, n, "%s/%s", dir, name);
		free(dir);
		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	size_t n = strlen(SATMAIL_LIBEXECDIR) + strlen(name) + 2;
	char *p = xmalloc(n);
	snprintf(p, n, "%s/%s", SATMAIL_LIBEXECDIR, name);
	return p;
}

bool
priv_drop_worker(const char *user, struct buf *why)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0) {
		buf_printf(why, "cannot read the process ids: %s", strerror(errno));
		return false;
	}
	if (ru == 0 || eu == 0 || su == 0) {
		const struct passwd *pw = getpwnam(user && *user ? user : "nobody");
		if (pw == NULL)
			pw = getpwnam("nobody");
		if (pw == NULL || pw->pw_uid == 0) {
			buf_printf(why, "no unprivileged user to run as (%s)", user ? user : "nobody");
			return false;
		}
		uid_t uid = pw->pw_uid;
		gid_t gid = pw->pw_gid;
		if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
		    setresuid(uid, uid, uid) < 0) {
			buf_printf(why, "cannot become %s: %s", pw->pw_name, strerror(errno));
			return false;
		}
	} else if (rg != eg || eg != sg) {
		if (setresgid(sg, sg, sg) < 0) {
			buf_printf(why, "cannot drop the queue group: %s", strerror(errno));
			return false;
		}
	}
	/* Trust nothing: check that no id can be regained. */
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 ||
	    ru != eu || eu != su || rg != eg || eg != sg || eu == 0) {
		buf_puts(why, "privileges were not dropped");
		return false;
	}
	return true;
}
