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
		{"0.0.0.0:18515", "0.0.0.0", 18515}, /* listen on every address */
		{"my_host-1.example:08080", "my_host-1.example", 8080},
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
	const char *bad[] = {
		"", "host", "host:", "host:0", "host:65536", "host:8080x", "host:-1", "host:+80",
		"host: 80", "http://host", "host/x:80", "host:99999999999999999999",
		"a-very-long-host-name-that-does-not-fit:80",
		/* issue 9 item 4: the config's own parser took these, the daemon did not */
		"10.0.0.6:+18515", "10.0.0.6: 18515", "10.0.0.6:0x50", "10.0.0.6:1e3",
		/* an empty host, a ':' outside brackets, broken or empty brackets */
		":18515", "::1:80", "[::1]80", "[::1:80", "[]:80", "[zz::1]:80", "[1.2.3.4]:80",
		"[fe80::1%]:80", "ho st:80", "host\t:80", "h@st:80"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char host[16];
		uint16_t port = 7;
		if (kelp_split_host_port(bad[i], host, sizeof(host), &port) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
		assert_int_equal(port, 7); /* untouched */
	}
}

/* The strict form (kelp.conf): no scheme or path, and a reason that names the value. */
static void test_parse_strict(void **state)
{
	char host[KELP_HOST_MAX], why[128];
	uint16_t port = 0;

	assert_int_equal(
		kelp_parse_host_port("[::1]:8080", host, sizeof(host), &port, why, sizeof(why)), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 8080);
	assert_int_equal(kelp_parse_host_port("volume-1:80", NULL, 0, &port, NULL, 0), 0);
	assert_int_equal(port, 80);

	const struct {
		const char *in, *why;
	} bad[] = {
		{"10.0.0.6:+18515", "'10.0.0.6:+18515': port must be 1..65535"},
		{"10.0.0.6", "'10.0.0.6' is not host:port"},
		{":18515", "':18515' is not host:port"},
		{"::1:80",
		 "'::1:80': the host must be a name, an IPv4 address or an IPv6 address in "
		 "brackets ([::1]:80)"},
		{"http://10.0.0.1:9333", "'http://10.0.0.1:9333': the host must be a name, an IPv4 "
					 "address or an IPv6 address in brackets ([::1]:80)"},
		{"10.0.0.1:9333/", "'10.0.0.1:9333/': port must be 1..65535"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		port = 7;
		assert_int_equal(kelp_parse_host_port(bad[i].in, host, sizeof(host), &port, why,
						      sizeof(why)),
				 -EINVAL);
		assert_string_equal(why, bad[i].why);
		assert_int_equal(port, 7);
	}
	assert_int_equal(kelp_parse_host_port("host:80", host, 4, &port, why, sizeof(why)),
			 -EINVAL);
	assert_string_equal(why, "'host:80': the host is too long");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_parse_strict),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
