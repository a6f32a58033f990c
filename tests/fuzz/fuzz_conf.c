/* fuzz_conf - libFuzzer target for conf_load().
 *
 * Each input is written to one temporary file (conf_load() reads files)
 * and loaded; a loaded conf is queried and freed.  Any crash, sanitizer
 * report or leak is a finding.  Logging goes to /dev/null: warnings are
 * expected and stderr would drown the fuzzer's own output.  myorigin's
 * default source is pinned to a missing file so that runs do not depend
 * on the machine's /etc/mailname.
 *
 * Build (see tests/unit for the flags of the library):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE \
 *     -DSATMAIL_SYSCONFDIR='"/etc/satmail"' -Ilib -o fuzz_conf \
 *     tests/fuzz/fuzz_conf.c lib/conf.c lib/buf.c lib/xalloc.c lib/log.c */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[] = "/tmp/fuzz_conf.XXXXXX";
static int fd = -1;

static void
cleanup(void)
{
	if (fd >= 0)
		unlink(path);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fd < 0) {
		fd = mkstemp(path);
		if (fd < 0) {
			perror("mkstemp");
			abort();
		}
		atexit(cleanup);
		setenv("SATMAIL_MAILNAME_FILE", "/nonexistent/fuzz_conf/mailname", 1);
		log_init("fuzz_conf");
		log_set_stderr(false);
		log_set_file("/dev/null");
	}
	if (ftruncate(fd, 0) != 0 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
		abort();

	struct buf why = BUF_INIT;
	struct conf *c = conf_load(path, true, &why);
	if (c) {
		/* Everything a caller may touch must be there and sane. */
		if (!c->myhostname || !c->mydomain || !c->myorigin || !c->mydestination ||
		    !c->relayhost || !c->alias_maps || !c->notify_classes)
			abort();
		for (char **e = c->mydestination; *e; e++)
			(void)strlen(*e);
		(void)conf_get(c, "myorigin");
		(void)conf_get(c, "a");
		(void)conf_line(c, "relayhost");
		(void)conf_is_local_domain(c, "localhost");
		(void)conf_is_local_domain(c, c->myhostname);
	} else if (why.len == 0 || strchr(buf_cstr(&why), '\n') != NULL) {
		abort();	/* an error is one non-empty line */
	}
	conf_free(c);
	buf_clear(&why);
	return 0;
}
