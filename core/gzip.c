/* SPDX-License-Identifier: Apache-2.0 */
#include "core/gzip.h"

#include <errno.h>
#include <libdeflate.h>

#define GZIP_MIN_LEN 18 /* 10-byte header + 8-byte trailer */

uint32_t kelp_gunzip_size(const void *in, size_t len)
{
	const uint8_t *p = in;
	if (len < GZIP_MIN_LEN)
		return 0;
	p += len - 4; /* ISIZE is little-endian */
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int kelp_gunzip(const void *in, size_t in_len, void *out, size_t out_cap, size_t *out_len)
{
	struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
	if (!d)
		return -ENOMEM;
	size_t n = 0;
	enum libdeflate_result r = libdeflate_gzip_decompress(d, in, in_len, out, out_cap, &n);
	libdeflate_free_decompressor(d);
	switch (r) {
	case LIBDEFLATE_SUCCESS:
		*out_len = n;
		return 0;
	case LIBDEFLATE_INSUFFICIENT_SPACE:
		return -ENOSPC;
	default:
		return -EINVAL;
	}
}

int64_t kelp_gzip(const void *in, size_t in_len, void *out, size_t out_cap)
{
	struct libdeflate_compressor *c = libdeflate_alloc_compressor(6);
	if (!c)
		return -ENOMEM;
	size_t n = libdeflate_gzip_compress(c, in, in_len, out, out_cap);
	libdeflate_free_compressor(c);
	return n ? (int64_t)n : -ENOSPC;
}

size_t kelp_gzip_bound(size_t in_len)
{
	/* libdeflate's bound needs a compressor; this is its documented worst case plus slack */
	return in_len + in_len / 8 + 64 + GZIP_MIN_LEN + 5 * (in_len / 65535 + 1);
}
