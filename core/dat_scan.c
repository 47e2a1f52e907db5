/* SPDX-License-Identifier: Apache-2.0 */
#include "core/dat_scan.h"

#include <errno.h>

int kelp_dat_next(const uint8_t *dat, uint64_t len, uint8_t version, uint64_t *pos,
		  uint64_t *rec_pos, struct kelp_needle *out)
{
	uint64_t p = *pos;
	if (p >= len || len - p < KELP_NEEDLE_HEADER_SIZE)
		return 0;
	if (kelp_needle_parse(version, dat + p, len - p, out))
		return -EINVAL;
	*rec_pos = p;
	*pos = p + kelp_needle_record_len(version, out->size);
	return 1;
}
