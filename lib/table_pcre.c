/* table_pcre - the PCRE2 engine behind pcre: tables.
 *
 * The rule syntax is parsed in table_regexp.c.  Defaults as Postfix's
 * dict_pcre: caseless and dotall, in byte mode (no PCRE2_UTF: a key is
 * bytes from a message, not trusted to be valid UTF-8).  PCRE2's default
 * match limits bound the work a hostile key can cause; hitting one is a
 * lookup error (TEMP), not a silent miss. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>

#include "table_int.h"
#include "xalloc.h"

struct pcre_re {
	pcre2_code *code;
	pcre2_match_data *md;
};

static int
pcre_flag(unsigned *opts, char c)
{
	switch (c) {
	case 'i':
		*opts ^= PCRE2_CASELESS;
		return 1;
	case 'm':
		*opts ^= PCRE2_MULTILINE;
		return 1;
	case 's':
		*opts ^= PCRE2_DOTALL;
		return 1;
	case 'x':
		*opts ^= PCRE2_EXTENDED;
		return 1;
	case 'A':
		*opts ^= PCRE2_ANCHORED;
		return 1;
	case 'E':
		*opts ^= PCRE2_DOLLAR_ENDONLY;
		return 1;
	case 'U':
		*opts ^= PCRE2_UNGREEDY;
		return 1;
	case 'X':
		return -1;	/* PCRE_EXTRA has no PCRE2 equivalent */
	default:
		return 0;
	}
}

static void
pcre_error_text(struct buf *err, int code)
{
	PCRE2_UCHAR msg[256];
	if (pcre2_get_error_message(code, msg, sizeof msg) < 0)
		buf_printf(err, "unexpected pcre2 error code %d", code);
	else
		buf_puts(err, (const char *)msg);
}

static void *
pcre_compile(const char *re, unsigned opts, bool nosub, size_t *nsub, struct buf *err)
{
	int code;
	PCRE2_SIZE off;
	uint32_t count = 0;
	(void)nosub;

	pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, opts,
	    &code, &off, NULL);
	if (c == NULL) {
		buf_printf(err, "error in regex at offset %zu: ", (size_t)off);
		pcre_error_text(err, code);
		return NULL;
	}
	(void)pcre2_pattern_info(c, PCRE2_INFO_CAPTURECOUNT, &count);
	struct pcre_re *p = xcalloc(1, sizeof *p);
	p->code = c;
	p->md = pcre2_match_data_create_from_pattern(c, NULL);
	if (p->md == NULL) {
		pcre2_code_free(c);
		free(p);
		buf_puts(err, "out of memory in pcre2_match_data_create_from_pattern");
		return NULL;
	}
	*nsub = count;
	return p;
}

static int
pcre_match(void *re, const char *s, size_t len, size_t *ov, size_t nov, struct buf *err)
{
	struct pcre_re *p = re;
	int r = pcre2_match(p->code, (PCRE2_SPTR)s, len, 0, 0, p->md, NULL);
	if (r == PCRE2_ERROR_NOMATCH)
		return 0;
	if (r < 0) {
		pcre_error_text(err, r);
		return -1;
	}
	PCRE2_SIZE *v = pcre2_get_ovector_pointer(p->md);
	uint32_t have = pcre2_get_ovector_count(p->md);
	for (size_t i = 0; i < nov; i++) {
		/* Groups past the last one that matched are unset too. */
		bool set = i < have && i < (size_t)r && v[2 * i] != PCRE2_UNSET;
		ov[2 * i] = set ? v[2 * i] : TABLE_PAT_UNSET;
		ov[2 * i + 1] = set ? v[2 * i + 1] : TABLE_PAT_UNSET;
	}
	return 1;
}

static void
pcre_free(void *re)
{
	struct pcre_re *p = re;
	pcre2_match_data_free(p->md);
	pcre2_code_free(p->code);
	free(p);
}

static const struct table_pat_engine pcre_engine = {
	.type = "pcre",
	.default_opts = PCRE2_CASELESS | PCRE2_DOTALL,
	.second_pattern = false,
	.flag = pcre_flag,
	.compile = pcre_compile,
	.match = pcre_match,
	.free = pcre_free,
};

struct table *
table_pcre_open(const char *name, struct table_source *src, unsigned flags,
    struct status *st)
{
	return table_pat_open(&pcre_engine, name, src, flags, st);
}
