/* conf - main.cf read once into an immutable, validated struct.
 *
 * Syntax is Postfix's (SPEC.md section 2): "name = value"; a line starting
 * with white space continues the previous one; a line whose first
 * non-blank character is '#' is a comment; $name, ${name}, $(name),
 * ${name?text} and ${name:text} expand other parameters (lazily, with
 * loop detection); the last setting of a name wins.  Unknown names are a
 * warning (log_warning, naming file and line), never fatal: they are kept
 * for conf_get().  A bad value, a "$" syntax error or a recursive
 * expansion (in any parameter, known or not) is an error naming file,
 * line and parameter; callers exit 78.  Nothing here is global: a conf is
 * immutable after conf_load() and every string in it lives until
 * conf_free(). */
#ifndef SATMAIL_CONF_H
#define SATMAIL_CONF_H
#include <stdbool.h>

#include "buf.h"

#define CONF_DEFAULT_PATH	SATMAIL_SYSCONFDIR "/main.cf"
/* Default source of myorigin.  Tests may name another file in the
 * environment variable SATMAIL_MAILNAME_FILE; it is ignored in a set-id
 * program (real and effective ids differ). */
#define CONF_MAILNAME_PATH	"/etc/mailname"

enum conf_delivery_mode { DELIVERY_BACKGROUND, DELIVERY_FOREGROUND, DELIVERY_QUEUE };
enum conf_tls_level {
	TLS_LEVEL_NONE, TLS_LEVEL_MAY, TLS_LEVEL_ENCRYPT, TLS_LEVEL_DANE,
	TLS_LEVEL_VERIFY, TLS_LEVEL_SECURE,
};
enum conf_inet_protocols { INET_ALL, INET_IPV4, INET_IPV6 };
enum conf_address_preference { ADDRPREF_ANY, ADDRPREF_IPV4, ADDRPREF_IPV6 };

/* A list value: NULL-terminated array of strings, never NULL itself. */
typedef char **conf_list;

struct conf_raw;	/* opaque: the settings read, with line numbers */

struct conf {
	char *path;			/* file read; NULL when it did not exist (!must_exist) */

	char *myhostname;
	char *mydomain;
	char *myorigin;			/* a file's first line when set to "/path" */
	conf_list mydestination;	/* lower-cased, except "type:table" and "/file" entries */
	char *relayhost;

	conf_list alias_maps;
	conf_list alias_database;
	conf_list canonical_maps;
	conf_list sender_canonical_maps;
	conf_list recipient_canonical_maps;
	char *recipient_delimiter;
	char *default_database_type;

	char *mail_spool_directory;
	char *queue_directory;
	long long message_size_limit;	/* bytes; 0 = no limit */
	enum conf_delivery_mode delivery_mode;

	enum conf_tls_level smtp_tls_security_level;
	int smtp_tls_wrappermode;	/* 1 yes, 0 no, -1 unset (yes on port 465) */
	char *smtp_tls_CAfile;		/* empty = the system store */
	char *smtp_tls_CApath;
	char *smtp_tls_cert_file;
	char *smtp_tls_key_file;
	char *smtp_tls_protocols;

	bool smtp_sasl_auth_enable;
	conf_list smtp_sasl_password_maps;
	char *smtp_sasl_password_command;
	conf_list smtp_sasl_mechanism_filter;
	conf_list smtp_sasl_security_options;
	char *smtp_helo_name;

	/* seconds */
	unsigned smtp_connect_timeout, smtp_helo_timeout, smtp_mail_timeout,
	    smtp_rcpt_timeout, smtp_data_init_timeout, smtp_data_xfer_timeout,
	    smtp_data_done_timeout, smtp_quit_timeout;
	unsigned smtp_tcp_port;
	bool smtp_connection_cache_on_demand;	/* queue runs reuse connections */
	unsigned smtp_connection_reuse_count_limit;	/* messages per connection; 0 = no limit */
	unsigned smtp_connection_reuse_time_limit;	/* seconds a connection is reused */
	conf_list dns_servers;
	enum conf_inet_protocols inet_protocols;
	enum conf_address_preference smtp_address_preference;

	/* seconds */
	unsigned minimal_backoff_time, maximal_backoff_time,
	    maximal_queue_lifetime, bounce_queue_lifetime, delay_warning_time;

	char *default_privs;
	conf_list allow_mail_to_commands;
	conf_list allow_mail_to_files;
	char *maillog_file;
	char *mail_owner;
	unsigned command_time_limit;	/* seconds an alias command may run */
	unsigned deliver_lock_attempts;	/* mailbox dotlock/fcntl attempts */
	unsigned deliver_lock_delay;	/* seconds between them */
	unsigned stale_lock_time;	/* seconds after which a dotlock is stale */

	/* Known beyond SPEC's table; Postfix names and defaults. */
	long long header_size_limit;	/* bytes */
	unsigned hopcount_limit;	/* most Received: headers */
	long long bounce_size_limit;	/* bytes of original returned in a bounce */
	conf_list notify_classes;
	char *mail_name;		/* "satmail", as in Received: headers */
	conf_list smtp_sasl_tls_security_options;

	struct conf_raw *raw;		/* every name = value read, for conf_get() */
};

/* Reads path (NULL = CONF_DEFAULT_PATH).  A missing file is not an error
 * (all defaults apply, c->path is NULL) unless must_exist.  Returns a conf
 * the caller frees with conf_free(), or NULL with a one-line reason in why
 * (naming file, line and parameter for a bad value).  Warnings (unknown
 * names, undefined $names used by known parameters) go to log_warning(). */
struct conf *conf_load(const char *path, bool must_exist, struct buf *why);
/* Accepts NULL.  Returns NULL. */
struct conf *conf_free(struct conf *c);

/* The fully expanded value of any parameter, known or not (defaults
 * included for known ones); NULL when the name is unknown and unset.
 * Lists and times are the text as expanded, not normalised.  The string
 * lives as long as c; calls are cheap (values are expanded once, at load). */
const char *conf_get(const struct conf *c, const char *name);

/* The line of the setting in use for name (the last one), or 0 when name
 * was not set in the file; for callers' own "FILE, line N:" messages. */
int conf_line(const struct conf *c, const char *name);

/* True when name is one of the parameters satmail knows. */
bool conf_known(const char *name);

/* True when domain (any case) is listed in mydestination. */
bool conf_is_local_domain(const struct conf *c, const char *domain);

#endif
