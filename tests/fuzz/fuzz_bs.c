/* Fuzz target: the sendmail -bs command parser (lib/bs.c), which reads
 * peer bytes: one command line is split into its verb and argument, and
 * the argument parsed as MAIL FROM and as RCPT TO.  Checks that an
 * accepted path is a canonical address that parses again to itself, that
 * a refusal always carries a one-line reply with its code, and that
 * decoded parameters are printable. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "bs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_path(enum bs_verb verb, const char *arg)
{
	struct bs_path p;
	struct buf reply = BUF_INIT, why = BUF_INIT, again = BUF_INIT;
	int rc = bs_parse_path(verb, arg, 100000, &p, &reply);
	if (rc == 0) {
		struct addr a;
		if (p.addr == NULL || !addr_parse_canonical(p.addr, &a, &why))
			abort();
		addr_format(&a, &again);
		if (strcmp(again.data ? again.data : "", p.addr) != 0)
			abort();
		addr_clear(&a);
		if (verb == BS_CMD_RCPT && p.addr[0] == '\0')
			abort();
		if (p.envid)
			for (const char *c = p.envid; *c; c++)
				if (*c < 0x20 || *c > 0x7e)
					abort();
		if (p.size > 100000)
			abort();
	} else {
		char code[8];
		snprintf(code, sizeof code, "%d ", rc);
		if (rc < 400 || rc > 599 || strncmp(buf_cstr(&reply), code, 4) != 0 ||
		    strpbrk(buf_cstr(&reply), "\r\n") || p.addr != NULL)
			abort();
	}
	bs_path_clear(&p);
	buf_clear(&reply);
	buf_clear(&why);
	buf_clear(&again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > BS_MAX_LINE)
		return 0;
	char *line = malloc(size + 1);
	memcpy(line, data, size);
	line[size] = '\0';
	const char *arg;
	enum bs_verb v = bs_parse_verb(line, &arg);
	if (arg < line || arg > line + strlen(line))
		abort();
	if (v == BS_CMD_MAIL || v == BS_CMD_RCPT) {
		check_path(v, arg);
	} else {
		check_path(BS_CMD_MAIL, line);
		check_path(BS_CMD_RCPT, line);
	}
	free(line);
	return 0;
}
