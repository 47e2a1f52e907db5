/* SPDX-License-Identifier: Apache-2.0 */
/* proto/jwt: HS256 read tokens byte for byte (expected value computed independently with Python's
 * hmac + base64 modules), base64url round trips, verification failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "proto/jwt.h"

static const char expected[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
			       "eyJmaWQiOiIzLDAxNjM3MDM3ZDYiLCJleHAiOjE3MDAwMDAwMDB9."
			       "hIYZ_oB4sgDZeP2pBWR692UAqu1OVDmRahX13c_ZERs";

static void test_sign_known_vector(void **state)
{
	char tok[KELP_JWT_MAX];
	int n = kelp_jwt_sign_read("kelp-secret", 11, "3,01637037d6", 1700000000, tok, sizeof(tok));
	assert_int_equal(n, strlen(expected));
	assert_string_equal(tok, expected);
	assert_int_equal(kelp_jwt_sign_read("kelp-secret", 11, "3,01637037d6", 1700000000, tok, 60),
			 -ENOSPC);
	assert_int_equal(kelp_jwt_sign_read("k", 1, "3,\"x", 1, tok, sizeof(tok)), -EINVAL);
	assert_int_equal(kelp_jwt_sign_read("k", 1, "", 1, tok, sizeof(tok)), -EINVAL);
}

static void test_verify(void **state)
{
	char fid[64];
	int64_t exp = 0;
	assert_int_equal(kelp_jwt_verify_read("kelp-secret", 11, expected, strlen(expected), fid,
					      sizeof(fid), &exp),
			 0);
	assert_string_equal(fid, "3,01637037d6");
	assert_int_equal(exp, 1700000000);
	assert_int_equal(kelp_jwt_verify_read("other", 5, expected, strlen(expected), fid,
					      sizeof(fid), &exp),
			 -EPERM);
	char bad[sizeof(expected)];
	memcpy(bad, expected, sizeof(expected));
	bad[40] ^= 1; /* claims changed: signature no longer matches (or no longer decodes) */
	int rc = kelp_jwt_verify_read("kelp-secret", 11, bad, strlen(bad), fid, sizeof(fid), &exp);
	assert_true(rc == -EPERM || rc == -EBADMSG);
	assert_int_equal(kelp_jwt_verify_read("kelp-secret", 11, "a.b", 3, fid, sizeof(fid), &exp),
			 -EBADMSG);
}

static void test_base64url(void **state)
{
	char out[16];
	uint8_t back[16];
	const struct {
		const char *in, *b64;
	} v[] = {{"", ""}, {"f", "Zg"}, {"fo", "Zm8"}, {"foo", "Zm9v"}, {"\xfb\xff", "-_8"}};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		int n = kelp_base64url_encode(v[i].in, strlen(v[i].in), out, sizeof(out));
		assert_int_equal(n, strlen(v[i].b64));
		assert_string_equal(out, v[i].b64);
		n = kelp_base64url_decode(out, (size_t)n, back, sizeof(back));
		assert_int_equal(n, strlen(v[i].in));
		assert_memory_equal(back, v[i].in, (size_t)n);
	}
	assert_int_equal(kelp_base64url_decode("Zm9v=", 5, back, sizeof(back)), -EBADMSG);
	assert_int_equal(kelp_base64url_decode("Z", 1, back, sizeof(back)), -EBADMSG);
	assert_int_equal(kelp_base64url_encode("foo", 3, out, 4), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_known_vector),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_base64url),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
