/* deliver - placeholder while the bounce module is being written; the
 * real module is restored by the lead before the next commit. */
#include "deliver.h"

bool
deliver_entry(const struct conf *c, struct queue *q, const char *id,
    const struct deliver_opts *o, struct deliver_result *res, struct status *st)
{
	(void)c, (void)q, (void)id, (void)o, (void)res;
	status_set(st, STATUS_TEMP, "4.3.0", 0, "delivery is being rebuilt");
	return false;
}
