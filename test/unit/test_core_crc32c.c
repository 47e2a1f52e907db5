/* SPDX-License-Identifier: Apache-2.0 */
/* core/crc32c: standard check values, hardware == portable, chaining, legacy transform. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/crc32c.h"

static void test_check_values(void **state)
{
	assert_int_equal(kelp_crc32c(0, "123456789", 9), 0xe3069283);
	assert_int_equal(kelp_crc32c_portable(0, "123456789", 9), 0xe3069283);
	assert_int_equal(kelp_crc32c(0, "", 0), 0);
	uint8_t zeros[32] = {0};
	assert_int_equal(kelp_crc32c(0, zeros, 32), 0x8a9136aa); /* RFC 3720 B.4 */
	/* "hello world\n" as uploaded to weed 4.48: ETag "f0ff7292" */
	assert_int_equal(kelp_crc32c(0, "hello world\n", 12), 0xf0ff7292);
}

static void test_hw_matches_portable(void **state)
{
	uint8_t buf[1031];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	for (size_t off = 0; off < 9; off++)
		for (size_t len = 0; len + off <= sizeof(buf); len += 37)
			assert_int_equal(kelp_crc32c(0, buf + off, len),
					 kelp_crc32c_portable(0, buf + off, len));
	uint32_t a = kelp_crc32c(0, buf, 100);
	assert_int_equal(kelp_crc32c(a, buf + 100, 931), kelp_crc32c(0, buf, 1031));
}

/* Lengths around the three-chain block sizes (3 x 256 and 3 x 8192 bytes) and large needles. */
static void test_hw_matches_portable_long(void **state)
{
	size_t cap = 200000;
	uint8_t *buf = malloc(cap + 8);
	for (size_t i = 0; i < cap + 8; i++)
		buf[i] = (uint8_t)(i * 131 + (i >> 9));
	const size_t lens[] = {767,
			       768,
			       769,
			       1535,
			       1536,
			       4096,
			       4097,
			       24575,
			       24576,
			       24577,
			       49152 + 768 + 5,
			       65536,
			       131072 + 3,
			       cap};
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++)
		for (size_t off = 0; off < 3; off++)
			assert_int_equal(kelp_crc32c(0, buf + off, lens[k]),
					 kelp_crc32c_portable(0, buf + off, lens[k]));
	uint32_t a = kelp_crc32c(0, buf, 30000);
	assert_int_equal(kelp_crc32c(a, buf + 30000, 70000), kelp_crc32c_portable(0, buf, 100000));
	/* the fused copy: same CRC, same bytes, nothing written past the end */
	uint8_t *dst = malloc(cap + 16);
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		for (size_t off = 0; off < 3; off++) {
			memset(dst, 0xa5, cap + 16);
			assert_int_equal(kelp_crc32c_copy(7, dst + off, buf + off, lens[k]),
					 kelp_crc32c_portable(7, buf + off, lens[k]));
			assert_memory_equal(dst + off, buf + off, lens[k]);
			assert_int_equal(dst[off + lens[k]], 0xa5);
		}
	}
	free(dst);
	free(buf);
}

/*
 * The fused CRC + copy at every source and destination alignment and every length 0..3200 (every
 * 3-way block size up to 133 words, each with an odd or even word count, and every tail length),
 * plus seeded random lengths up to 80,000 (the CRC_LONG blocks and what is left after them):
 * same CRC as the portable table, same bytes, nothing written before or after the destination.
 */
static void test_copy_every_alignment_and_length(void **state)
{
	const size_t max_len = 3200, cap = 80000;
	uint8_t *src = malloc(cap + 16), *dst = malloc(cap + 32);
	uint64_t seed = 0x2545F4914F6CDD1Dull;
	for (size_t i = 0; i < cap + 16; i++) {
		seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
		src[i] = (uint8_t)seed;
	}
	for (size_t soff = 0; soff < 8; soff++) {
		size_t doff =
			(soff * 5 + 3) % 8 + 8; /* a different misalignment, guard bytes before */
		for (size_t len = 0; len <= max_len; len++) {
			memset(dst, 0x5a, max_len + 32);
			uint32_t want = kelp_crc32c_portable(0xdeadbeef, src + soff, len);
			assert_int_equal(kelp_crc32c_copy(0xdeadbeef, dst + doff, src + soff, len),
					 want);
			assert_int_equal(kelp_crc32c(0xdeadbeef, src + soff, len), want);
			assert_memory_equal(dst + doff, src + soff, len);
			for (size_t g = 0; g < doff; g++)
				assert_int_equal(dst[g], 0x5a);
			assert_int_equal(dst[doff + len], 0x5a);
		}
	}
	for (int k = 0; k < 300; k++) {
		seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
		size_t len = seed % (cap - 8), soff = (seed >> 40) % 8, doff = (seed >> 48) % 8;
		uint32_t start = (uint32_t)(seed >> 20);
		dst[doff + len] = 0x5a;
		uint32_t want = kelp_crc32c_portable(start, src + soff, len);
		assert_int_equal(kelp_crc32c_copy(start, dst + doff, src + soff, len), want);
		assert_int_equal(kelp_crc32c(start, src + soff, len), want);
		assert_memory_equal(dst + doff, src + soff, len);
		assert_int_equal(dst[doff + len], 0x5a);
	}
	free(dst);
	free(src);
}

static void test_classify(void **state)
{
	uint32_t c = kelp_crc32c(0, "abc", 3);
	assert_int_equal(kelp_crc32c_classify(c, "abc", 3), KELP_CRC_RAW);
	assert_int_equal(kelp_crc32c_classify(kelp_crc32c_legacy(c), "abc", 3), KELP_CRC_LEGACY);
	assert_int_equal(kelp_crc32c_classify(c ^ 1, "abc", 3), KELP_CRC_MISMATCH);
	assert_int_equal(kelp_crc32c_classify(0x12345678, "", 0), KELP_CRC_RAW);
	/* 43.dat (SeaweedFS fixture): CRC 0x3ce556c7 stored as legacy 0x501164a2 */
	assert_int_equal(kelp_crc32c_legacy(0x3ce556c7), 0x501164a2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_values),
		cmocka_unit_test(test_hw_matches_portable),
		cmocka_unit_test(test_hw_matches_portable_long),
		cmocka_unit_test(test_copy_every_alignment_and_length),
		cmocka_unit_test(test_classify),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
