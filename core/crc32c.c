/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CRC-32C: SSE4.2 crc32 instruction (8 bytes per step) when available, slicing-by-8 otherwise.
 * The table is filled once by a constructor before main(), so no call ever races on it.
 */
#include "core/crc32c.h"

#include <string.h>

#define CRC32C_POLY_REFLECTED 0x82f63b78u

static uint32_t crc_table[8][256];

__attribute__((constructor)) static void crc32c_init_table(void)
{
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t c = n;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ CRC32C_POLY_REFLECTED : c >> 1;
		crc_table[0][n] = c;
	}
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t c = crc_table[0][n];
		for (int t = 1; t < 8; t++) {
			c = crc_table[0][c & 0xff] ^ (c >> 8);
			crc_table[t][n] = c;
		}
	}
}

uint32_t kelp_crc32c_portable(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t c = ~crc;

	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8); /* little-endian host: x86-64 */
		w ^= c;
		c = crc_table[7][w & 0xff] ^ crc_table[6][(w >> 8) & 0xff] ^
		    crc_table[5][(w >> 16) & 0xff] ^ crc_table[4][(w >> 24) & 0xff] ^
		    crc_table[3][(w >> 32) & 0xff] ^ crc_table[2][(w >> 40) & 0xff] ^
		    crc_table[1][(w >> 48) & 0xff] ^ crc_table[0][w >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
	return ~c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const void *buf,
								size_t len)
{
	const uint8_t *p = buf;
	uint64_t c = (uint32_t)~crc;

	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		c = __builtin_ia32_crc32di(c, w);
		p += 8;
		len -= 8;
	}
	uint32_t c32 = (uint32_t)c;
	while (len--)
		c32 = __builtin_ia32_crc32qi(c32, *p++);
	return ~c32;
}

bool kelp_crc32c_has_sse42(void)
{
	return __builtin_cpu_supports("sse4.2");
}

uint32_t kelp_crc32c(uint32_t crc, const void *buf, size_t len)
{
	/* __builtin_cpu_supports reads a word libgcc fills before constructors run: cheap and race-free. */
	if (__builtin_cpu_supports("sse4.2"))
		return crc32c_sse42(crc, buf, len);
	return kelp_crc32c_portable(crc, buf, len);
}
#else
bool kelp_crc32c_has_sse42(void)
{
	return false;
}

uint32_t kelp_crc32c(uint32_t crc, const void *buf, size_t len)
{
	return kelp_crc32c_portable(crc, buf, len);
}
#endif

enum kelp_crc_kind kelp_crc32c_classify(uint32_t stored, const void *data, size_t len)
{
	if (len == 0)
		return KELP_CRC_RAW;
	uint32_t c = kelp_crc32c(0, data, len);
	if (stored == c)
		return KELP_CRC_RAW;
	if (stored == kelp_crc32c_legacy(c))
		return KELP_CRC_LEGACY;
	return KELP_CRC_MISMATCH;
}
