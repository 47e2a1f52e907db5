/* SPDX-License-Identifier: Apache-2.0 */
/* proto/lookup: the master's /dir/lookup request bytes and responses (bodies as weed 4.48 sends
 * them), and clear errors for everything else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proto/lookup.h"

static void test_request(void **state)
{
	char buf[256];
	const char *want =
		"GET /dir/lookup?volumeId=4294967295 HTTP/1.1\r\nHost: 127.0.0.1:9333\r\n"
		"Connection: keep-alive\r\n\r\n";
	assert_int_equal(kelp_lookup_write_request("127.0.0.1:9333", 4294967295u, buf, sizeof(buf)),
			 strlen(want));
	assert_string_equal(buf, want);
}

static int parse(int status, const char *body, struct kelp_lookup_result *r)
{
	return kelp_lookup_parse(status, body, strlen(body), r);
}

static void test_found(void **state)
{
	struct kelp_lookup_result r;
	/* captured from weed 4.48 */
	assert_int_equal(
		parse(200,
		      "{\"volumeOrFileId\":\"1\",\"locations\":[{\"url\":\"127.0.0.1:18480\","
		      "\"publicUrl\":\"127.0.0.1:18480\",\"dataCenter\":\"dc1\",\"grpcPort\":28480}"
		      "]}",
		      &r),
		0);
	assert_int_equal(r.count, 1);
	assert_string_equal(r.loc[0].url, "127.0.0.1:18480");
	assert_string_equal(r.loc[0].public_url, "127.0.0.1:18480");
	assert_string_equal(r.loc[0].data_center, "dc1");

	assert_int_equal(
		parse(200,
		      "{\"locations\":[{\"url\":\"10.0.0.1:8080\"},{\"url\":\"[::1]:8081\","
		      "\"dataCenter\":\"dc2\"}]}",
		      &r),
		0);
	assert_int_equal(r.count, 2);
	assert_string_equal(r.loc[0].data_center, "");
	assert_string_equal(r.loc[1].url, "[::1]:8081");
}

static void test_not_found_and_busy(void **state)
{
	struct kelp_lookup_result r;
	assert_int_equal(
		parse(404, "{\"volumeOrFileId\":\"1\",\"error\":\"volume id 1 not found\"}", &r),
		-ENOENT);
	assert_string_equal(r.error, "volume id 1 not found");
	assert_int_equal(parse(200, "{\"volumeOrFileId\":\"1\",\"locations\":[]}", &r), -ENOENT);
	assert_int_equal(parse(200, "{\"volumeOrFileId\":\"1\"}", &r), -ENOENT);
	assert_int_equal(parse(503, "", &r), -EAGAIN);
	assert_int_equal(parse(500, "{}", &r), -EPROTO);
}

static void test_malformed(void **state)
{
	struct kelp_lookup_result r;
	assert_int_equal(parse(200, "", &r), -EBADMSG);
	assert_int_equal(parse(200, "[1]", &r), -EBADMSG);
	assert_int_equal(parse(200, "{\"locations\":{}}", &r), -EBADMSG);
	assert_int_equal(parse(200, "{\"locations\":[1]}", &r), -EBADMSG);
	assert_int_equal(parse(200, "{\"locations\":[{\"publicUrl\":\"a:1\"}]}", &r), -EBADMSG);
	assert_int_equal(parse(200, "{\"locations\":[{\"url\":\"\"}]}", &r), -EBADMSG);
	assert_int_equal(parse(200, "{\"locations\":[{\"url\":7}]}", &r), -EBADMSG);
	assert_int_equal(parse(200, "{\"locations\":[{\"url\":\"a b:1\"}]}", &r), -EBADMSG);
	assert_int_equal(parse(200, "{\"locations\":[{\"url\":\"a:1\r\nX: y\"}]}", &r), -EBADMSG);
	assert_int_equal(parse(200, "{\"locations\":[{\"url\":\"a:1\"}],\"locations\":[]}", &r),
			 -EBADMSG);
	assert_int_equal(parse(200, "{\"locations\":[{\"url\":\"a:1\"}", &r), -EBADMSG);
	assert_int_equal(r.count, 0);
}

static void test_many_locations_capped(void **state)
{
	char body[2048];
	size_t n = (size_t)sprintf(body, "{\"locations\":[");
	for (int i = 0; i < 12; i++)
		n += (size_t)sprintf(body + n, "%s{\"url\":\"10.0.0.%d:8080\"}", i ? "," : "", i);
	strcpy(body + n, "]}");
	struct kelp_lookup_result r;
	assert_int_equal(parse(200, body, &r), 0);
	assert_int_equal(r.count, KELP_LOOKUP_MAX_LOCATIONS);
	assert_string_equal(r.loc[7].url, "10.0.0.7:8080");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_found),
		cmocka_unit_test(test_not_found_and_busy),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_many_locations_capped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
