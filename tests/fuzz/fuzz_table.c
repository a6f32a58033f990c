/* fuzz_table - libFuzzer target for the table source parsers.
 *
 * Input: one selector byte, then a table source (texthash, regexp, pcre),
 * an inline:/static: spec, or logical-line text; after an optional 0xff
 * byte, lookup keys separated by newlines (default: a few fixed keys).
 * Every table that opens is looked up with every key and listed, so the
 * substitution and if/endif code runs on what the parser accepted.
 *
 * Seeds: tests/data/table/fuzz/ (copy them into tests/fuzz/corpus/table/
 * for make fuzz, which builds it with every lib/ module).  By hand:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE \
 *     -Ilib -o fuzz_table tests/fuzz/fuzz_table.c lib/table*.c lib/buf.c \
 *     lib/log.c lib/xalloc.c lib/status.c -lcdb -lpcre2-8 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "status.h"
#include "table.h"
#include "table_source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const default_keys[] = {
	"", "a", "user@example.com", "User+Ext@Example.COM", "@example.org", "x$1y",
};

static void
exercise(struct table *t, const char *keys, size_t klen)
{
	struct buf v = BUF_INIT, k = BUF_INIT;
	struct status st;
	status_init(&st);
	if (keys == NULL) {
		for (size_t i = 0; i < sizeof default_keys / sizeof default_keys[0]; i++)
			(void)table_lookup(t, default_keys[i], &v, &st);
	} else {
		/* Keys are C strings: a NUL ends one, as in postmap -q -. */
		char *copy = malloc(klen + 1);
		memcpy(copy, keys, klen);
		copy[klen] = '\0';
		for (char *p = copy, *nl; p; p = nl) {
			nl = strchr(p, '\n');
			if (nl)
				*nl++ = '\0';
			(void)table_lookup(t, p, &v, &st);
		}
		free(copy);
	}
	int n = 0;
	for (bool first = true; n < 1000 && table_next(t, first, &k, &v, &st) == TABLE_FOUND;
	    first = false)
		n++;
	buf_clear(&v);
	buf_clear(&k);
	status_clear(&st);
}

static void
lines(const char *text, size_t len)
{
	struct table_source *s = table_source_mem("fuzz", text, len);
	struct buf line = BUF_INIT;
	struct status st;
	char *k, *v;
	int lineno;
	status_init(&st);
	while (table_source_entry(s, &line, &k, &v, &lineno, &st) > 0) {
		/* key and value are inside line, NUL-terminated, non-empty. */
		if (*k == '\0' || *v == '\0' || k < line.data || v >= line.data + line.len)
			abort();
	}
	buf_clear(&line);
	status_clear(&st);
	table_source_free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool init;
	static const char *const types[] = { "texthash", "regexp", "pcre" };
	if (!init) {
		log_init("fuzz_table");
		log_set_stderr(false);
		log_set_file("/dev/null");
		init = true;
	}
	if (size < 1)
		return 0;
	unsigned sel = data[0] % 6;
	const char *text = (const char *)data + 1;
	size_t len = size - 1;
	const char *keys = NULL;
	size_t klen = 0;
	const char *sep = memchr(text, 0xff, len);
	if (sep != NULL) {
		keys = sep + 1;
		klen = len - (size_t)(sep + 1 - text);
		len = (size_t)(sep - text);
	}

	struct status st;
	status_init(&st);
	struct table *t = NULL;
	if (sel < 3) {
		t = table_open_text(types[sel], "fuzz", text, len, 0, &st);
	} else if (sel < 5) {
		/* A spec is a C string: stop at a NUL. */
		struct buf spec = BUF_INIT;
		buf_puts(&spec, sel == 3 ? "inline:" : "static:");
		buf_append(&spec, text, strnlen(text, len));
		t = table_open(spec.data, NULL, &st);
		buf_clear(&spec);
	} else {
		lines(text, len);
	}
	if (t != NULL)
		exercise(t, keys, klen);
	table_free(t);
	status_clear(&st);
	return 0;
}
