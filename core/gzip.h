/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gzip for needles stored with the GZIP flag (libdeflate). Any thread; each call allocates and
 * frees its own (de)compressor, so there is no shared state.
 */
#ifndef KELP_CORE_GZIP_H
#define KELP_CORE_GZIP_H

#include <stddef.h>
#include <stdint.h>

/*
 * kelp_gunzip_size - the uncompressed size a gzip member of @len bytes at @in declares (its ISIZE
 * trailer, mod 2^32; a hint for sizing the output buffer, not trusted).
 * @return the size, or 0 when @len is shorter than a gzip header plus trailer.
 */
uint32_t kelp_gunzip_size(const void *in, size_t len);

/*
 * kelp_gunzip - decompress the gzip data at @in (@in_len bytes) into @out (@out_cap bytes).
 * @return 0 with *@out_len set; -EINVAL when the data is not valid gzip; -ENOSPC when @out_cap is
 * too small; -ENOMEM.
 */
int kelp_gunzip(const void *in, size_t in_len, void *out, size_t out_cap, size_t *out_len);

/*
 * kelp_gzip - compress @in_len bytes at @in into @out as one gzip member (level 6, like Go's
 * default). @return the compressed length, -ENOSPC when @out_cap is too small, -ENOMEM.
 */
int64_t kelp_gzip(const void *in, size_t in_len, void *out, size_t out_cap);

/* kelp_gzip_bound - an @out_cap for kelp_gzip() that always suffices for @in_len bytes. */
size_t kelp_gzip_bound(size_t in_len);

#endif
