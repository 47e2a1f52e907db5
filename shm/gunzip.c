/* SPDX-License-Identifier: Apache-2.0 */
/* Decompressing gzip-stored needles (KELP_CQE_F_GZIP) for callers that want plain data. */
#include <errno.h>
#include <libdeflate.h>

#include "kelp.h"

ssize_t kelp_gunzip_size(const void *src, size_t src_len)
{
	const uint8_t *p = src;
	if (src_len < 18) /* 10-byte header + 8-byte trailer */
		return -EINVAL;
	const uint8_t *t = p + src_len - 4; /* ISIZE, little-endian */
	return (ssize_t)((uint32_t)t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24);
}

ssize_t kelp_gunzip(const void *src, size_t src_len, void *dst, size_t dst_cap)
{
	struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
	if (!d)
		return -ENOMEM;
	size_t out = 0;
	enum libdeflate_result r = libdeflate_gzip_decompress(d, src, src_len, dst, dst_cap, &out);
	libdeflate_free_decompressor(d);
	switch (r) {
	case LIBDEFLATE_SUCCESS:
		return (ssize_t)out;
	case LIBDEFLATE_INSUFFICIENT_SPACE:
		return -ENOSPC;
	default:
		return -EINVAL;
	}
}
