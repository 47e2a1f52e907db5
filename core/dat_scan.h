/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Walking the needle records of a .dat in file order (for volumes without .idx, and for tools).
 * Pure function on a caller-owned buffer; any thread.
 */
#ifndef KELP_CORE_DAT_SCAN_H
#define KELP_CORE_DAT_SCAN_H

#include <stdint.h>

#include "core/needle.h"

/*
 * kelp_dat_next - parse the record at byte *@pos of the @len bytes at @dat (a whole .dat of volume
 * version @version, superblock included) and advance *@pos past it. Start with *pos =
 * kelp_superblock_data_start().
 * @return 1 with *@out filled and *@rec_pos = the record's byte offset; 0 at the end (fewer than
 * 16 bytes left: a torn tail is not an error); -EINVAL when the record at *@pos does not parse
 * (*@pos stays there).
 */
int kelp_dat_next(const uint8_t *dat, uint64_t len, uint8_t version, uint64_t *pos,
		  uint64_t *rec_pos, struct kelp_needle *out);

#endif
