/* SPDX-License-Identifier: Apache-2.0 */
/*
 * .idx rows (seaweedfs.md, "Index"): 16 bytes `key u64 | offset u32 | size u32`, or 17 bytes on
 * "large disk" (5-byte offset) builds: `key u64 | low 4 offset bytes | HIGH offset byte | size
 * u32`. The offset counts 8-byte units of .dat. Size 0xFFFFFFFF (any negative i32) marks a
 * deletion. Pure functions; any thread.
 */
#ifndef KELP_CORE_IDX_H
#define KELP_CORE_IDX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KELP_IDX_ROW_SIZE_4	16
#define KELP_IDX_ROW_SIZE_5	17
#define KELP_IDX_SIZE_TOMBSTONE 0xFFFFFFFFu
#define KELP_DAT_ALIGN		8 /* .idx offsets are in units of this many bytes */

struct kelp_idx_row {
	uint64_t key;
	uint64_t offset; /* in 8-byte units: byte offset = offset * 8 */
	uint32_t size;	 /* body length; KELP_IDX_SIZE_TOMBSTONE (or any value >= 2^31) = deleted */
};

/* kelp_idx_row_size - 16 for @offset_bytes 4, 17 for 5, 0 for anything else. */
size_t kelp_idx_row_size(int offset_bytes);

/* kelp_idx_parse_row - decode the row at @p (kelp_idx_row_size(@offset_bytes) bytes). */
void kelp_idx_parse_row(const uint8_t *p, int offset_bytes, struct kelp_idx_row *out);

/*
 * kelp_idx_encode_row - encode @row at @p.
 * @return the row size, or -ERANGE when the offset does not fit in @offset_bytes bytes,
 * -EINVAL when @offset_bytes is not 4 or 5.
 */
int kelp_idx_encode_row(const struct kelp_idx_row *row, int offset_bytes, uint8_t *p);

/* kelp_idx_row_is_live - the row names a live needle: offset != 0 and size not negative. */
static inline bool kelp_idx_row_is_live(const struct kelp_idx_row *row)
{
	return row->offset != 0 && !(row->size & 0x80000000u);
}

/*
 * kelp_vif_offset_bytes - read "bytesOffset" from the .vif (protojson) at @vif_path.
 * @return 4 or 5; -ENOENT when there is no such file, -EINVAL when it is not a .vif with a valid
 * bytesOffset (a .vif without the field means 4, as SeaweedFS reads it), other -errno from
 * open/read.
 */
int kelp_vif_offset_bytes(const char *vif_path);

/*
 * kelp_vif_path - build the .vif path beside @dat_or_idx_path (replacing a trailing .dat or .idx)
 * into @buf. @return 0, or -ENAMETOOLONG.
 */
int kelp_vif_path(const char *dat_or_idx_path, char *buf, size_t size);

#endif
