/* priv - process start-up hygiene and privilege decisions.
 *
 * Every program calls priv_sanitize_fds() first thing, so that no file it
 * opens can land on fd 0, 1 or 2 (SECURITY.md F-18).  Set-id programs
 * (satmail-queue, satmail-local, satmail-mbox-create) then call
 * priv_setid_startup(): close every inherited descriptor above 2, clear
 * the environment to TZ and the locale, fix the umask, and chdir to "/"
 * until they know their working directory (SPEC.md section 10). */
#ifndef SATMAIL_PRIV_H
#define SATMAIL_PRIV_H
#include <stdbool.h>
#include <sys/types.h>

#include "buf.h"

/* Opens /dev/null on any of fds 0-2 that is closed.  Returns false when
 * even that fails (the caller exits 71). */
bool priv_sanitize_fds(void);

/* Closes every descriptor from lowfd up. */
void priv_close_from(int lowfd);

/* The set-id start-up sequence above, with the given umask. */
void priv_setid_startup(mode_t mask);

/* True when the effective ids differ from the real ids. */
bool priv_is_setid(void);

/* Drops every privilege for good, in a worker about to resolve names or
 * talk to the network (DESIGN.md): a process running as root becomes
 * user (mail_owner; "nobody" when user does not exist) with no
 * supplementary groups; a set-id process gives up its queue group for
 * the invoker's group, which satmail-queue keeps as the saved group id
 * (see cmd/satmail-queue.c); a process that holds nothing (the build
 * tree) is left as it is.  Afterwards real, effective and saved ids are
 * equal.  False with why when any step fails (the caller must not go
 * on). */
bool priv_drop_worker(const char *user, struct buf *why);

/* Chooses the configuration file a program may read: the -C option
 * (opt, may be NULL) wins over SATMAIL_CONFIG (env, may be NULL).  A
 * set-id program honours either only when the real uid is root; for
 * anyone else it returns NULL (the default config) and, when an
 * alternate was asked for, sets *refused.  *explicit_path tells whether
 * the returned path was named by the caller (so it must exist). */
const char *priv_config_path(const char *opt, const char *env, bool *refused,
    bool *explicit_path);

/* Directory holding this executable (/proc/self/exe), or NULL. */
char *priv_self_dir(void);

/* Path of a helper program: next to this executable when it exists there
 * (the build tree), else in the compiled-in libexec directory.  Caller
 * frees. */
char *priv_helper_path(const char *name);

#endif
