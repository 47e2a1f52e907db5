/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CRC-32C: SSE4.2 crc32 instruction (8 bytes per step, three interleaved chains joined with one
 * PCLMULQDQ each) when the CPU has both, slicing-by-8 otherwise. The tables are filled once by
 * constructors before main(), so no call ever races on them.
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
#include <immintrin.h>

/*
 * The crc32 instruction has a latency of 3 cycles but a throughput of 1 per cycle, so one chain
 * runs at a third of the speed the CPU can give. Three independent chains therefore run over three
 * consecutive blocks of equal size, and are joined by "appending zeros": shifting a CRC register
 * over N zero bytes multiplies it by x^(8N) mod P. That product is one carry-less multiply by a
 * constant and one crc32 instruction (the method of Intel's crc_pcl and the Linux kernel's
 * crc32c-pcl-intel): crc32(0, a * k) = a * k * x^32 mod P, so k = x^(8N - 32) mod P, and one
 * more power of x off (x^(8N - 33)) because the carry-less product of two bit-reflected 32-bit
 * values comes out one bit short of the reflected 64-bit product.
 *
 * Block size: inputs of at least 3 x CRC_LONG bytes are cut into blocks of CRC_LONG; what is left
 * (or a shorter input) is cut once into three blocks of len/24 words each, so a 4 KiB needle is
 * three chains of 1,360 bytes, one join, and a 16-byte tail: no single-chain stretch, and three
 * long sequential streams for the hardware prefetcher. The constants for every block size (a
 * multiple of 8 up to CRC_LONG) are computed once by a constructor before main().
 */
#define CRC_LONG  8192u
#define CRC_SHORT 256u

static uint32_t crc_join_k[CRC_LONG / 8 + 1]; /* [w]: reflected x^(64w - 33) mod P */

__attribute__((constructor)) static void crc32c_init_join_constants(void)
{
	uint32_t r = 0x80000000u; /* x^0, bit-reflected */
	uint64_t power = 0;
	for (uint32_t w = 1; w <= CRC_LONG / 8; w++) {
		for (; power < 64ull * w - 33; power++) /* times x: a reflected shift */
			r = (r >> 1) ^ ((r & 1) ? CRC32C_POLY_REFLECTED : 0);
		crc_join_k[w] = r;
	}
}

/* The raw register @c shifted over @k's block size of zero bytes. */
__attribute__((target("sse4.2,pclmul"))) static inline uint32_t crc_shift(uint32_t c, uint32_t k)
{
	__m128i prod =
		_mm_clmulepi64_si128(_mm_cvtsi32_si128((int)c), _mm_cvtsi32_si128((int)k), 0);
	return (uint32_t)__builtin_ia32_crc32di(0, (uint64_t)_mm_cvtsi128_si64(prod));
}

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t w;
	memcpy(&w, p, 8);
	return w;
}

/* The length of each of the three blocks the next 3-way step covers (0: fewer than 24 bytes). */
static inline size_t crc_block(size_t len)
{
	if (len >= 3 * CRC_LONG)
		return CRC_LONG;
	return len >= 3 * CRC_SHORT ? CRC_SHORT : len / 24 * 8;
}

/*
 * One CRC step over the word(s) at @p of each chain: three chains over blocks @block bytes apart,
 * registers c0, c1, c2. When COPY, each word is stored to @d at the same offset right after it is
 * loaded for the CRC, so a whole-needle read walks the source once (not a CRC pass then a memcpy).
 */
#define CRC_STEP(COPY, off)                                                                        \
	do {                                                                                       \
		uint64_t w0 = load64(p + (off)), w1 = load64(p + block + (off));                   \
		uint64_t w2 = load64(p + 2 * block + (off));                                       \
		c0 = __builtin_ia32_crc32di(c0, w0);                                               \
		c1 = __builtin_ia32_crc32di(c1, w1);                                               \
		c2 = __builtin_ia32_crc32di(c2, w2);                                               \
		if (COPY) {                                                                        \
			memcpy(d + (off), &w0, 8);                                                 \
			memcpy(d + block + (off), &w1, 8);                                         \
			memcpy(d + 2 * block + (off), &w2, 8);                                     \
		}                                                                                  \
	} while (0)

/*
 * The CRC (and, when @dst is not NULL, the copy) of @len bytes from @src; @crc as in kelp_crc32c.
 * always_inline with a constant @copy: two loops without a branch on it.
 */
__attribute__((target("sse4.2,pclmul"), always_inline)) static inline uint32_t
crc32c_hw(uint32_t crc, uint8_t *d, const uint8_t *p, size_t len, const int copy)
{
	uint64_t c0 = (uint32_t)~crc;
	size_t block;
	while ((block = crc_block(len)) != 0) {
		uint64_t c1 = 0, c2 = 0;
		const uint8_t *end = p + block;
		if (block & 8) { /* an odd number of words per block: one first, then pairs */
			CRC_STEP(copy, 0);
			p += 8;
			d += copy ? 8 : 0;
		}
		while (p < end) { /* two words per chain per step: half the loop overhead */
			CRC_STEP(copy, 0);
			CRC_STEP(copy, 8);
			p += 16;
			d += copy ? 16 : 0;
		}
		uint32_t k = crc_join_k[block / 8];
		c0 = crc_shift((uint32_t)c0, k) ^ (uint32_t)c1;
		c0 = crc_shift((uint32_t)c0, k) ^ (uint32_t)c2;
		p += 2 * block;
		d += copy ? 2 * block : 0;
		len -= 3 * block;
	}
	for (; len >= 8; len -= 8, p += 8) {
		uint64_t w = load64(p);
		c0 = __builtin_ia32_crc32di(c0, w);
		if (copy) {
			memcpy(d, &w, 8);
			d += 8;
		}
	}
	uint32_t c32 = (uint32_t)c0;
	for (; len; len--, p++) {
		c32 = __builtin_ia32_crc32qi(c32, *p);
		if (copy)
			*d++ = *p;
	}
	return ~c32;
}

__attribute__((target("sse4.2,pclmul"))) static uint32_t crc32c_sse42(uint32_t crc, const void *buf,
								      size_t len)
{
	return crc32c_hw(crc, NULL, buf, len, 0);
}

__attribute__((target("sse4.2,pclmul"))) static uint32_t
crc32c_copy_sse42(uint32_t crc, void *dst, const void *src, size_t len)
{
	return crc32c_hw(crc, dst, src, len, 1);
}

bool kelp_crc32c_has_sse42(void)
{
	return __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("pclmul");
}

uint32_t kelp_crc32c(uint32_t crc, const void *buf, size_t len)
{
	/* __builtin_cpu_supports reads a word libgcc fills before constructors run: cheap and
	 * race-free. */
	if (kelp_crc32c_has_sse42())
		return crc32c_sse42(crc, buf, len);
	return kelp_crc32c_portable(crc, buf, len);
}

uint32_t kelp_crc32c_copy(uint32_t crc, void *dst, const void *src, size_t len)
{
	if (kelp_crc32c_has_sse42())
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
