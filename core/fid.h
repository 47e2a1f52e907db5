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

/*
 * struct kelp_fid, KELP_FID_STR_MAX, kelp_fid_parse() and kelp_fid_format() are also libkelp's
 * public API: the block below is repeated character for character in shm/kelp.h (which must stay
 * self-contained, and core/ may not include shm/). The shared guard lets a file include both
 * headers; `make check-abi` fails when the two copies differ, so change both or neither.
 */
#ifndef KELP_FID_DEFINED
#define KELP_FID_DEFINED
/* A SeaweedFS file id "3,01637037d6": volume 3, key 0x01, cookie 0x637037d6. */
struct kelp_fid {
	uint32_t volume_id;
	uint64_t key;
	uint32_t cookie;
};

/* Longest string kelp_fid_format() writes, with the NUL. */
#define KELP_FID_STR_MAX 40

/*
 * kelp_fid_parse - parse a SeaweedFS file id.
 * Accepts "3,01637037d6", "/3,01637037d6", "3,01637037d6.jpg", "3/01637037d6/name.jpg" and the
 * "_N" suffix (adds decimal N to the key). @s need not be NUL-terminated; @len bytes are read.
 * Any thread.
 * Return: 0; -EINVAL when the text is not a file id (@out is then untouched).
 */
int kelp_fid_parse(const char *s, size_t len, struct kelp_fid *out);

/*
 * kelp_fid_format - write @fid the way SeaweedFS does (leading zero bytes of the key dropped).
 * Any thread.
 * Return: the length written without the NUL; -ENOSPC when @size is too small (KELP_FID_STR_MAX
 * always suffices).
 */
int kelp_fid_format(const struct kelp_fid *fid, char *buf, size_t size);
#endif /* KELP_FID_DEFINED */

#endif
