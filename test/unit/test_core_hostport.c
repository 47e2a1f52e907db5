/* SPDX-License-Identifier: Apache-2.0 */
/* core/hostport: "host:port" as kelp.conf and the SeaweedFS master write them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "core/hostport.h"

static void test_good(void **state)
{
	const struct {
		const char *in, *host;
		uint16_t port;
	} v[] = {
		{"10.0.2.2:8080", "10.0.2.2", 8080},
		{"http://127.0.0.1:9333", "127.0.0.1", 9333},
		{"volume-1.example:18515/", "volume-1.example", 18515},
		{"host:1/3,01637037d6", "host", 1},
		{"[fe80::1%veth0]:65535", "fe80::1%veth0", 65535},
		{"[::1]:80", "::1", 80},
		{":18515", "", 18515}, /* listen on every address */
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char host[64] = "x";
		uint16_t port = 0;
		assert_int_equal(kelp_split_host_port(v[i].in, host, sizeof(host), &port), 0);
		assert_string_equal(host, v[i].host);
		assert_int_equal(port, v[i].port);
	}
}

static void test_bad(void **state)
{
	const char *bad[] = {"",           "host",          "host:",        "host:0",
			     "host:65536", "host:8080x",    "host:-1",      "host:+80",
			     "host: 80",   "http://host",   "host/x:80",    "host:99999999999999999999",
			     "a-very-long-host-name-that-does-not-fit:80"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char host[16];
		uint16_t port = 7;
		if (kelp_split_host_port(bad[i], host, sizeof(host), &port) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
		assert_int_equal(port, 7); /* untouched */
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
