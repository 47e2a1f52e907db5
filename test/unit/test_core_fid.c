/* SPDX-License-Identifier: Apache-2.0 */
/* core/fid: every file-id form of seaweedfs.md, bad input, and format round trips. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/fid.h"

static int parse(const char *s, struct kelp_fid *f)
{
	return kelp_fid_parse(s, strlen(s), f);
}

static void test_forms(void **state)
{
	struct kelp_fid f;
	const char *same[] = {"3,01637037d6",	       "/3,01637037d6",		 "3,01637037d6.jpg",
			      "3/01637037d6/name.jpg", "/3/01637037d6/name.jpg", "3/01637037d6",
			      "3,01637037D6"};
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		memset(&f, 0, sizeof(f));
		assert_int_equal(parse(same[i], &f), 0);
		assert_int_equal(f.volume_id, 3);
		assert_int_equal(f.key, 1);
		assert_int_equal(f.cookie, 0x637037d6);
	}
	assert_int_equal(parse("3,01637037d6_5", &f), 0);
	assert_int_equal(f.key, 6);
	assert_int_equal(parse("3,01637037d6_5.png", &f), 0);
	assert_int_equal(f.key, 6);
	assert_int_equal(parse("4294967295,ffffffffffffffff12345678", &f), 0);
	assert_int_equal(f.volume_id, 4294967295u);
	assert_true(f.key == UINT64_MAX);
	assert_int_equal(f.cookie, 0x12345678);
	assert_int_equal(parse("7,1637037d6", &f), 0); /* odd key digits */
	assert_int_equal(f.key, 1);
	/* length, not NUL, bounds the text */
	assert_int_equal(kelp_fid_parse("3,01637037d6XYZ", 12, &f), 0);
}

static void test_bad(void **state)
{
	struct kelp_fid f = {.volume_id = 99, .key = 98, .cookie = 97};
	const char *bad[] = {"",
			     ",01637037d6",
			     "3",
			     "3,",
			     "3,637037d6",
			     "3,0001020304050607080910112",
			     "x,01637037d6",
			     "3,01637037g6",
			     "3,01637037d6_",
			     "3,01637037d6_x",
			     "3,01637037d6.",
			     "3,01637037d6/name",
			     "4294967296,01637037d6",
			     "-3,01637037d6",
			     "3/01637037d6.jpg",
			     "3,ffffffffffffffff12345678_1",
			     "3 ,01637037d6"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i], &f), -EINVAL);
		assert_int_equal(f.volume_id, 99); /* untouched */
	}
	assert_int_equal(kelp_fid_parse("3,01637\0"
					"37d6",
					12, &f),
			 -EINVAL);
}

static void test_format(void **state)
{
	char buf[KELP_FID_STR_MAX];
	struct kelp_fid f = {3, 1, 0x637037d6};
	assert_int_equal(kelp_fid_format(&f, buf, sizeof(buf)), 12);
	assert_string_equal(buf, "3,01637037d6");
	f = (struct kelp_fid){4294967295u, UINT64_MAX, 0};
	assert_int_equal(kelp_fid_format(&f, buf, sizeof(buf)), 10 + 1 + 16 + 8);
	assert_string_equal(buf, "4294967295,ffffffffffffffff00000000");
	f = (struct kelp_fid){12, 0x100, 0xdeadbeef}; /* leading zero bytes dropped, inner kept */
	kelp_fid_format(&f, buf, sizeof(buf));
	assert_string_equal(buf, "12,0100deadbeef");
	assert_int_equal(kelp_fid_format(&f, buf, 15), -ENOSPC);
	assert_int_equal(kelp_fid_format(&f, buf, 16), 15);
	/* round trip */
	struct kelp_fid g;
	for (uint64_t k = 1; k; k <<= 7) {
		f = (struct kelp_fid){(uint32_t)k, k, (uint32_t)(k * 31)};
		int n = kelp_fid_format(&f, buf, sizeof(buf));
		assert_true(n > 0);
		assert_int_equal(kelp_fid_parse(buf, (size_t)n, &g), 0);
		assert_int_equal(g.volume_id, f.volume_id);
		assert_true(g.key == f.key);
		assert_int_equal(g.cookie, f.cookie);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
