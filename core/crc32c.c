/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CRC-32C: SSE4.2 crc32 instruction (8 bytes per step, three interleaved chains on long inputs)
 * when available, slicing-by-8 otherwise. The tables are filled once by constructors before main(),
 * so no call ever races on them.
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
/*
 * The crc32 instruction has a latency of 3 cycles but a throughput of 1 per cycle, so one chain
 * runs at a third of the speed the CPU can give. For long inputs three independent chains run over
 * three consecutive blocks, and the three CRCs are combined by "appending zeros": shifting a CRC
 * over N zero bytes is a linear operator over GF(2), applied with four byte-indexed tables built
 * once (the method of Mark Adler's crc32c.c, zlib's crc32_combine). Blocks of SHORT bytes serve
 * a 4 KiB needle; LONG serves large ones.
 */
#define CRC_SHORT 256u
#define CRC_LONG  8192u

static uint32_t crc_shift_short[4][256], crc_shift_long[4][256];

static uint32_t gf2_matrix_times(const uint32_t *mat, uint32_t vec)
{
	uint32_t sum = 0;
	for (; vec; vec >>= 1, mat++)
		if (vec & 1)
			sum ^= *mat;
	return sum;
}

static void gf2_matrix_square(uint32_t *square, const uint32_t *mat)
{
	for (int n = 0; n < 32; n++)
		square[n] = gf2_matrix_times(mat, mat[n]);
}

/* The operator that feeds @len zero bytes (a power of two) through a raw CRC register. */
static void crc_zeros_op(uint32_t *even, size_t len)
{
	uint32_t odd[32];
	odd[0] = CRC32C_POLY_REFLECTED; /* one zero bit */
	for (int n = 1; n < 32; n++)
		odd[n] = 1u << (n - 1);
	gf2_matrix_square(even, odd); /* two zero bits */
	gf2_matrix_square(odd, even); /* four */
	do {                          /* one zero byte, then doubling until len is used up */
		gf2_matrix_square(even, odd);
		len >>= 1;
		if (len == 0)
			return;
		gf2_matrix_square(odd, even);
		len >>= 1;
	} while (len);
	memcpy(even, odd, sizeof(odd));
}

static void crc_shift_table(uint32_t table[4][256], size_t len)
{
	uint32_t op[32];
	crc_zeros_op(op, len);
	for (uint32_t n = 0; n < 256; n++)
		for (int b = 0; b < 4; b++)
			table[b][n] = gf2_matrix_times(op, n << (8 * b));
}

__attribute__((constructor)) static void crc32c_init_shift_tables(void)
{
	crc_shift_table(crc_shift_short, CRC_SHORT);
	crc_shift_table(crc_shift_long, CRC_LONG);
}

static inline uint32_t crc_shift(const uint32_t table[4][256], uint32_t crc)
{
	return table[0][crc & 0xff] ^ table[1][(crc >> 8) & 0xff] ^ table[2][(crc >> 16) & 0xff] ^
	       table[3][crc >> 24];
}

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t w;
	memcpy(&w, p, 8);
	return w;
}

/* Three chains over @block bytes each, combined; @c is the raw register. Returns it. */
__attribute__((target("sse4.2"))) static inline uint64_t crc_3way(uint64_t c, const uint8_t **pp,
								   size_t *len, size_t block,
								   const uint32_t table[4][256])
{
	const uint8_t *p = *pp;
	while (*len >= 3 * block) {
		uint64_t c1 = 0, c2 = 0;
		const uint8_t *end = p + block;
		do { /* two words per chain per step, as in crc_3way_copy */
			c = __builtin_ia32_crc32di(c, load64(p));
			c1 = __builtin_ia32_crc32di(c1, load64(p + block));
			c2 = __builtin_ia32_crc32di(c2, load64(p + 2 * block));
			c = __builtin_ia32_crc32di(c, load64(p + 8));
			c1 = __builtin_ia32_crc32di(c1, load64(p + block + 8));
			c2 = __builtin_ia32_crc32di(c2, load64(p + 2 * block + 8));
			p += 16;
		} while (p < end);
		c = crc_shift(table, (uint32_t)c) ^ (uint32_t)c1;
		c = crc_shift(table, (uint32_t)c) ^ (uint32_t)c2;
		p += 2 * block;
		*len -= 3 * block;
	}
	*pp = p;
	return c;
}

__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const void *buf,
								size_t len)
{
	const uint8_t *p = buf;
	uint64_t c = (uint32_t)~crc;

	c = crc_3way(c, &p, &len, CRC_LONG, crc_shift_long);
	c = crc_3way(c, &p, &len, CRC_SHORT, crc_shift_short);
	while (len >= 8) {
		c = __builtin_ia32_crc32di(c, load64(p));
		p += 8;
		len -= 8;
	}
	uint32_t c32 = (uint32_t)c;
	while (len--)
		c32 = __builtin_ia32_crc32qi(c32, *p++);
	return ~c32;
}

/* crc_3way with a copy: each word is stored to @dst right after it is loaded for the CRC, so a
 * whole-needle read walks the source once instead of twice (CRC pass, then memcpy). */
__attribute__((target("sse4.2"))) static inline uint64_t
crc_3way_copy(uint64_t c, const uint8_t **pp, uint8_t **dp, size_t *len, size_t block,
	      const uint32_t table[4][256])
{
	const uint8_t *p = *pp;
	uint8_t *d = *dp;
	while (*len >= 3 * block) {
		uint64_t c1 = 0, c2 = 0;
		const uint8_t *end = p + block;
		/* two words per chain per step (block is a multiple of 16): half the loop overhead,
		 * which is ~a third of this loop's instructions at one word per step */
		do {
			uint64_t w0 = load64(p), w1 = load64(p + block), w2 = load64(p + 2 * block);
			uint64_t v0 = load64(p + 8), v1 = load64(p + block + 8);
			uint64_t v2 = load64(p + 2 * block + 8);
			c = __builtin_ia32_crc32di(c, w0);
			c1 = __builtin_ia32_crc32di(c1, w1);
			c2 = __builtin_ia32_crc32di(c2, w2);
			memcpy(d, &w0, 8);
			memcpy(d + block, &w1, 8);
			memcpy(d + 2 * block, &w2, 8);
			c = __builtin_ia32_crc32di(c, v0);
			c1 = __builtin_ia32_crc32di(c1, v1);
			c2 = __builtin_ia32_crc32di(c2, v2);
			memcpy(d + 8, &v0, 8);
			memcpy(d + block + 8, &v1, 8);
			memcpy(d + 2 * block + 8, &v2, 8);
			p += 16;
			d += 16;
		} while (p < end);
		c = crc_shift(table, (uint32_t)c) ^ (uint32_t)c1;
		c = crc_shift(table, (uint32_t)c) ^ (uint32_t)c2;
		p += 2 * block;
		d += 2 * block;
		*len -= 3 * block;
	}
	*pp = p;
	*dp = d;
	return c;
}

__attribute__((target("sse4.2"))) static uint32_t crc32c_copy_sse42(uint32_t crc, void *dst,
								     const void *src, size_t len)
{
	const uint8_t *p = src;
	uint8_t *d = dst;
	uint64_t c = (uint32_t)~crc;

	c = crc_3way_copy(c, &p, &d, &len, CRC_LONG, crc_shift_long);
	c = crc_3way_copy(c, &p, &d, &len, CRC_SHORT, crc_shift_short);
	while (len >= 8) {
		uint64_t w = load64(p);
		c = __builtin_ia32_crc32di(c, w);
		memcpy(d, &w, 8);
		p += 8;
		d += 8;
		len -= 8;
	}
	uint32_t c32 = (uint32_t)c;
	while (len--) {
		c32 = __builtin_ia32_crc32qi(c32, *p);
		*d++ = *p++;
	}
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

uint32_t kelp_crc32c_copy(uint32_t crc, void *dst, const void *src, size_t len)
{
	if (__builtin_cpu_supports("sse4.2"))
		return crc32c_copy_sse42(crc, dst, src, len);
	memcpy(dst, src, len);
	return kelp_crc32c_portable(crc, src, len);
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

uint32_t kelp_crc32c_copy(uint32_t crc, void *dst, const void *src, size_t len)
{
	memcpy(dst, src, len);
	return kelp_crc32c_portable(crc, src, len);
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
