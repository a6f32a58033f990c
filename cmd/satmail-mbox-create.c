/* satmail-mbox-create - create one missing mailbox (setuid root when
 * installed; SPEC.md section 10, SECURITY.md P-08).
 *
 *   satmail-mbox-create [-C FILE] USER
 *
 * USER must pass a strict character set (local_user_name_ok) and exist in
 * the password database under exactly that name; no path is taken from
 * the command line.  Creates mail_spool_directory/USER with O_CREAT |
 * O_EXCL | O_NOFOLLOW, owned by USER and group mail, mode 0660, and does
 * nothing else: an existing name (of any kind) is left exactly as it is
 * and counts as success, since a racing creator is harmless.  Only the
 * real uid root, the mail_owner user and members of group satmail may use
 * it; without set-id privilege (the build tree) anyone may, with only
 * their own rights.  -C / SATMAIL_CONFIG as priv_config_path() allows.
 * Exit: 0 created or present, 64 usage or bad name, 67 unknown user, 73
 * cannot create, 75 passwd unavailable, 77 not permitted, 78 config. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "local.h"
#include "log.h"
#include "priv.h"
#include "status.h"
#include "xalloc.h"

/* Root, mail_owner, or group satmail (real or supplementary). */
static bool
permitted(const struct conf *conf)
{
	const struct passwd *pw;
	const struct group *gr;
	bool ok = false;

	if (getuid() == 0 || !priv_is_setid())
		return true;
	if ((pw = getpwnam(conf->mail_owner)) != NULL && pw->pw_uid == getuid())
		return true;
	if ((gr = getgrnam("satmail")) == NULL)
		return false;
	gid_t sat = gr->gr_gid;
	int n = getgroups(0, NULL);
	gid_t *v = xcalloc(n > 0 ? (size_t)n : 1, sizeof *v);
	n = getgroups(n, v);
	ok = getgid() == sat;
	for (int i = 0; i < n && !ok; i++)
		ok = v[i] == sat;
	free(v);
	return ok;
}

/* Checks the caller and the name, creates the mailbox; the exit code. */
static int
create(const struct conf *conf, const char *name)
{
	const char *spool = conf->mail_spool_directory;
	int dirfd, fd, rc = EXIT_CANTCREAT;

	if (!permitted(conf)) {
		log_warning("refused: uid %ld gid %ld may not create mailboxes", (long)getuid(),
		    (long)getgid());
		return EXIT_NOPERM;
	}
	if (!local_user_name_ok(name)) {
		log_warning("refused: not a valid user name (uid %ld)", (long)getuid());
		return EXIT_USAGE;
	}
	errno = 0;
	const struct passwd *pw = getpwnam(name);
	if (pw == NULL || strcmp(pw->pw_name, name) != 0) {
		bool down = pw == NULL && errno != 0 && errno != ENOENT && errno != ESRCH &&
		    errno != EBADF && errno != EPERM;
		log_warning("%s: %s", name, down ? "password database unavailable" : "unknown user");
		return down ? EXIT_TEMPFAIL : EXIT_NOUSER;
	}
	uid_t uid = pw->pw_uid;
	const struct group *gr = getgrnam("mail");
	if (gr == NULL) {
		log_warning("no group \"mail\": cannot create mailboxes");
		return EXIT_CANTCREAT;
	}
	if ((dirfd = open(spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		log_warning("cannot open mail spool directory %s: %s", spool, strerror(errno));
		return EXIT_CANTCREAT;
	}
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST) {
		rc = 0;		/* never touch an existing file */
	} else if (fd < 0) {
		log_warning("cannot create mailbox %s/%s: %s", spool, name, strerror(errno));
	} else if (fchown(fd, uid, gr->gr_gid) < 0 || fchmod(fd, 0660) < 0 || fsync(fd) < 0) {
		int e = errno;
		struct stat a, b;
		/* Remove what we made, not whatever now has its name. */
		if (fstat(fd, &a) == 0 && fstatat(dirfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
		    a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			unlinkat(dirfd, name, 0);
		log_warning("cannot set up mailbox %s/%s: %s", spool, name, strerror(e));
	} else {
		(void)fsync(dirfd);
		log_info("created mailbox %s/%s for %s (uid %ld), requested by uid %ld", spool, name,
		    name, (long)uid, (long)getuid());
		rc = 0;
	}
	if (fd >= 0)
		close(fd);
	close(dirfd);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *env_config = getenv("SATMAIL_CONFIG"), *copt = NULL;
	struct buf why = BUF_INIT;
	bool refused, explicit_path;
	int a = 1;

	priv_setid_startup(077);
	log_init("satmail-mbox-create");
	if (argc >= 3 && strcmp(argv[1], "-C") == 0) {
		copt = argv[2];
		a = 3;
	}
	if (argc - a != 1) {
		fprintf(stderr, "usage: satmail-mbox-create [-C config] USER\n");
		log_warning("usage error (uid %ld)", (long)getuid());
		return EXIT_USAGE;
	}
	const char *path = priv_config_path(copt, env_config, &refused, &explicit_path);
	struct conf *conf = conf_load(path, explicit_path, &why);
	if (conf == NULL) {
		log_fatal("%s", buf_cstr(&why));
		buf_clear(&why);
		return EXIT_CONFIG;
	}
	log_set_file(conf->maillog_file);
	int rc = create(conf, argv[a]);
	conf_free(conf);
	return rc;
}
