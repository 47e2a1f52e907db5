/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Big-endian loads and stores for the SeaweedFS file formats (every integer there is big-endian).
 * Unaligned access is fine: they go through memcpy.
 */
#ifndef KELP_CORE_BE_H
#define KELP_CORE_BE_H

#include <stdint.h>
#include <string.h>

static inline uint16_t kelp_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t kelp_be32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return __builtin_bswap32(v);
}

static inline uint64_t kelp_be64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return __builtin_bswap64(v);
}

static inline void kelp_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void kelp_put_be32(uint8_t *p, uint32_t v)
{
	v = __builtin_bswap32(v);
	memcpy(p, &v, 4);
}

static inline void kelp_put_be64(uint8_t *p, uint64_t v)
{
	v = __builtin_bswap64(v);
	memcpy(p, &v, 8);
}

#endif
