/* fuzz_aliases - libFuzzer target for the aliases(5) parser (lib/aliases.c).
 *
 * The input, up to its first NUL, is an alias value given to
 * aliases_split() and aliases_normalise(); the whole input (NULs
 * included) is also written to a temporary file read by aliases_read(),
 * as newaliases reads /etc/aliases.  Besides the sanitizers, it checks
 * the parser's own promises and aborts when one breaks:
 *   - normalising is idempotent and keeps the meaning: the normalised
 *     value splits into the same targets as the original;
 *   - every entry aliases_read() accepts has a non-empty, lower-case name
 *     without '@' or '%', and a value that aliases_split() accepts;
 *   - every target is non-empty and free of control characters.
 *
 * make fuzz (tests/fuzz/run.sh) builds it with every lib/ module.  Seeds:
 * tests/data/aliases/fuzz/ (copy them into tests/fuzz/corpus/aliases/ for
 * make fuzz, or name the directory on the command line). */
#include <ctype.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aliases.h"
#include "buf.h"
#include "log.h"
#include "status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

static void
check_targets(const struct alias_targets *t)
{
	for (size_t i = 0; i < t->n; i++) {
		const char *s = t->v[i].text;
		if (s == NULL || *s == '\0')
			abort();
		for (const unsigned char *p = (const unsigned char *)s; *p; p++)
			if (*p < 0x20 || *p == 0x7f)
				abort();
		if (t->v[i].kind == ALIAS_INCLUDE && s[0] != '/')
			abort();
	}
}

static bool
same_targets(const struct alias_targets *a, const struct alias_targets *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (a->v[i].kind != b->v[i].kind || strcmp(a->v[i].text, b->v[i].text) != 0)
			return false;
	return true;
}

static void
value_checks(const char *value)
{
	struct alias_targets t, t2;
	struct buf why = BUF_INIT, norm = BUF_INIT, again = BUF_INIT;
	alias_targets_init(&t);
	alias_targets_init(&t2);
	bool split_ok = aliases_split(value, &t, &why);
	if (split_ok)
		check_targets(&t);
	buf_reset(&why);
	bool norm_ok = aliases_normalise(value, &norm, &why);
	if (norm_ok != split_ok)
		abort();
	if (norm_ok) {
		if (!aliases_split(buf_cstr(&norm), &t2, &why) || !same_targets(&t, &t2))
			abort();
		if (!aliases_normalise(buf_cstr(&norm), &again, &why) ||
		    strcmp(buf_cstr(&again), buf_cstr(&norm)) != 0)
			abort();
	}
	alias_targets_clear(&t);
	alias_targets_clear(&t2);
	buf_clear(&why);
	buf_clear(&norm);
	buf_clear(&again);
}

static bool
entry(void *ctx, const char *name, const char *value, int line, struct status *st)
{
	(void)st;
	int *n = ctx;
	if (*name == '\0' || strpbrk(name, "@%") != NULL || line < 1)
		abort();
	for (const char *p = name; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			abort();
	struct alias_targets t;
	struct buf why = BUF_INIT;
	alias_targets_init(&t);
	if (!aliases_split(value, &t, &why))
		abort();
	check_targets(&t);
	alias_targets_clear(&t);
	buf_clear(&why);
	return ++*n < 10000;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (path[0] == '\0') {
		log_init("fuzz_aliases");
		log_set_stderr(false);
		log_set_file("/dev/null");
		snprintf(path, sizeof path, "/tmp/fuzz_aliases.XXXXXX");
		int fd = mkstemp(path);
		if (fd < 0)
			abort();
		close(fd);
	}

	/* The value: the input as a C string. */
	char *value = malloc(size + 1);
	memcpy(value, data, size);
	value[size] = '\0';
	value_checks(value);
	free(value);

	/* The source file: every byte. */
	int fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0)
		abort();
	size_t done = 0;
	while (done < size) {
		ssize_t w = write(fd, data + done, size - done);
		if (w <= 0)
			abort();
		done += (size_t)w;
	}
	close(fd);
	struct status st;
	int n = 0;
	status_init(&st);
	if (!aliases_read(path, entry, &n, &st) && st.text.len == 0)
		abort();	/* a failure always says why */
	status_clear(&st);
	return 0;
}
