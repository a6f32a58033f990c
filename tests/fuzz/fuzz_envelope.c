/* Fuzz target: the queue-entry / drop-protocol envelope reader, the code
 * the privileged queue program runs on bytes it did not write.  Checks
 * that whatever parses formats back into records that parse again to the
 * same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct envelope e, again;
	struct buf why = BUF_INIT, out = BUF_INIT, out2 = BUF_INIT;
	size_t used = 0;

	envelope_init(&e);
	envelope_init(&again);
	if (envelope_parse(&e, (const char *)data, size, &used, &why)) {
		if (used > size)
			abort();
		envelope_format(&e, false, &out, NULL);
		if (!envelope_parse(&again, out.data, out.len, NULL, &why))
			abort();
		envelope_format(&again, false, &out2, NULL);
		if (out.len != out2.len || memcmp(out.data, out2.data, out.len) != 0)
			abort();
		for (size_t i = 0; i < out.len; i++)
			if (out.data[i] == '\0')
				abort();
	}
	envelope_clear(&e);
	envelope_clear(&again);
	buf_clear(&why);
	buf_clear(&out);
	buf_clear(&out2);
	return 0;
}
