/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CRC-32C (Castagnoli), as SeaweedFS stores it in needle records (seaweedfs.md, "Checksum").
 *
 * Uses the SSE4.2 crc32 instruction (three chains joined with PCLMULQDQ) when the CPU has both
 * (__builtin_cpu_supports), a slicing-by-8 table otherwise. All functions are pure and thread-safe;
 * any thread may call them.
 */
#ifndef KELP_CORE_CRC32C_H
#define KELP_CORE_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * kelp_crc32c - CRC-32C of @len bytes at @buf, continuing from @crc (pass 0 to start).
 * Standard parameters: init ~0, final xor ~0, so kelp_crc32c(0, "123456789", 9) == 0xe3069283.
 * Chaining: kelp_crc32c(kelp_crc32c(0, a, n), b, m) == CRC of a||b.
 * @return the CRC.
 */
uint32_t kelp_crc32c(uint32_t crc, const void *buf, size_t len);

/* kelp_crc32c_portable - same result as kelp_crc32c() without SSE4.2 (for tests and benchmarks). */
uint32_t kelp_crc32c_portable(uint32_t crc, const void *buf, size_t len);

/*
 * kelp_crc32c_copy - kelp_crc32c(@crc, @src, @len) while copying the @len bytes to @dst in the same
 * pass (the source is read once). @dst and @src must not overlap. Any thread.
 */
uint32_t kelp_crc32c_copy(uint32_t crc, void *dst, const void *src, size_t len);

/*
 * kelp_crc32c_legacy - the transform SeaweedFS before 3.09 stored instead of the raw CRC:
 * ((c >> 15 | c << 17) + 0xa282ead8) mod 2^32.
 */
static inline uint32_t kelp_crc32c_legacy(uint32_t c)
{
	return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

/* How a stored checksum matched. */
enum kelp_crc_kind {
	KELP_CRC_MISMATCH = 0,
	KELP_CRC_RAW = 1,    /* stored value is the CRC itself (SeaweedFS >= 3.09) */
	KELP_CRC_LEGACY = 2, /* stored value is kelp_crc32c_legacy(CRC) */
};

/*
 * kelp_crc32c_classify - compare @stored against the CRC of @len bytes at @data.
 * @return KELP_CRC_RAW or KELP_CRC_LEGACY when it matches that way, KELP_CRC_MISMATCH otherwise.
 * Empty data is never checked by SeaweedFS: it returns KELP_CRC_RAW for any @stored.
 */
enum kelp_crc_kind kelp_crc32c_classify(uint32_t stored, const void *data, size_t len);

/* kelp_crc32c_has_sse42 - true when kelp_crc32c() uses the hardware instructions (SSE4.2 crc32 and
 * PCLMULQDQ). */
bool kelp_crc32c_has_sse42(void);

#endif
