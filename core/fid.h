/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SeaweedFS file ids ("3,01637037d6"): parse and format.
 *
 * Forms accepted by kelp_fid_parse() (see ../shared/docs/seaweedfs.md, "File ids"):
 *   "3,01637037d6", "/3,01637037d6", "3,01637037d6.jpg", "3/01637037d6/name.jpg",
 *   "3,01637037d6_5" (the _N suffix adds decimal N to the key).
 * The last 8 hex digits are the cookie; the hex before them (1..16 digits) is the key.
 */
#ifndef KELP_CORE_FID_H
#define KELP_CORE_FID_H

#include <stddef.h>
#include <stdint.h>

/* kelp.h (the public client header) carries the same definition under the same guard. */
#ifndef KELP_FID_DEFINED
#define KELP_FID_DEFINED
struct kelp_fid {
	uint32_t volume_id;
	uint64_t key;
	uint32_t cookie;
};
#endif

/* Longest string kelp_fid_format() writes, with the NUL: 10 + 1 + 16 + 8 + 1. */
#define KELP_FID_STR_MAX 40

/*
 * Parse @len bytes at @s (need not be NUL-terminated) into @out.
 * @return 0, or -EINVAL when the text is not a file id (out is then untouched).
 */
int kelp_fid_parse(const char *s, size_t len, struct kelp_fid *out);

/*
 * Format @fid the way SeaweedFS does (leading zero bytes of the key dropped) into @buf.
 * @return the length written (without NUL), or -ENOSPC when @size is too small.
 */
int kelp_fid_format(const struct kelp_fid *fid, char *buf, size_t size);

#endif
