/* SPDX-License-Identifier: Apache-2.0 */
/* proto/http_req (request heads, Range values) and core/cidr ([http] allow), kelpd's endpoint. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "core/cidr.h"
#include "proto/http_req.h"

static ssize_t parse(const char *s, struct kelp_http_req *r)
{
	return kelp_http_req_parse((const uint8_t *)s, strlen(s), r);
}

static void test_get(void **state)
{
	struct kelp_http_req r;
	const char *s =
		"GET /3,01637037d6?x=1 HTTP/1.1\r\nHost: a\r\nRange: bytes=0-9\r\n"
		"Accept-Encoding: br, GZIP;q=0.5\r\nIf-None-Match: \"0a0b0c0d\"\r\n\r\nGET /";
	assert_int_equal(parse(s, &r), (ssize_t)(strstr(s, "\r\n\r\n") + 4 - s));
	assert_int_equal(r.method, KELP_HTTP_GET);
	assert_string_equal(r.path, "/3,01637037d6");
	assert_int_equal(r.path_len, 13);
	assert_true(r.keep_alive);
	assert_true(r.accept_gzip);
	assert_true(r.has_range);
	assert_string_equal(r.range, "bytes=0-9");
	assert_string_equal(r.if_none_match, "\"0a0b0c0d\"");
}

static void test_connection_and_versions(void **state)
{
	struct kelp_http_req r;
	assert_true(parse("HEAD / HTTP/1.1\nConnection: close\n\n", &r) > 0);
	assert_int_equal(r.method, KELP_HTTP_HEAD);
	assert_false(r.keep_alive);
	assert_true(parse("GET / HTTP/1.0\r\n\r\n", &r) > 0);
	assert_false(r.keep_alive);
	assert_true(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r) > 0);
	assert_true(r.keep_alive);
	assert_true(parse("DELETE /1,01 HTTP/1.1\r\n\r\n", &r) > 0);
	assert_int_equal(r.method, KELP_HTTP_OTHER);
	assert_true(parse("GET / HTTP/1.1\r\nAccept-Encoding: gzip;q=0\r\n\r\n", &r) > 0);
	assert_false(r.accept_gzip);
	assert_true(parse("GET / HTTP/1.1\r\nAccept-Encoding: gzipx\r\n\r\n", &r) > 0);
	assert_false(r.accept_gzip);
	assert_true(parse("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &r) > 0);
}

static void test_incomplete_and_bad(void **state)
{
	struct kelp_http_req r;
	assert_int_equal(parse("", &r), 0);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\n", &r), 0);
	assert_int_equal(parse("GET / HTTP/1.1\r", &r), 0);
	const char *bad[] = {
		"GARBAGE\r\n\r\n",
		"GET  HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1 x\r\n\r\n",
		"GET x HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nNoColon\r\n\r\n",
		"GET / HTTP/1.1\r\n: v\r\n\r\n",
		"GET / HTTP/1.1\r\nA b: v\r\n\r\n",
		"GET / HTTP/1.1\r\n folded\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: zz\r\n\r\n",
		"GET / HTTP/1.1\r\nRange: bytes=0-1\r\nRange: bytes=2-3\r\n\r\n",
		"GET / HTTP/1.1\r\nX: a\x01\r\n\r\n",
		"G\x01T / HTTP/1.1\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse(bad[i], &r), -EINVAL);
	assert_int_equal(parse("GET / HTTP/2.0\r\n\r\n", &r), -ENOTSUP);
	assert_int_equal(parse("GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", &r), -ENOTSUP);
	assert_int_equal(parse("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &r),
			 -ENOTSUP);
	static char big[KELP_HTTP_REQ_MAX_HEAD + 16];
	memset(big, 'a', sizeof(big) - 1);
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	assert_int_equal(parse(big, &r), -E2BIG);
	static char longpath[KELP_HTTP_REQ_MAX_TARGET + 64];
	memset(longpath, 'a', sizeof(longpath) - 1);
	memcpy(longpath, "GET /", 5);
	memcpy(longpath + sizeof(longpath) - 20, " HTTP/1.1\r\n\r\n", 14);
	longpath[sizeof(longpath) - 6] = '\0';
	assert_int_equal(parse(longpath, &r), -E2BIG);
}

static void test_range(void **state)
{
	uint64_t a = 0, b = 0;
	assert_int_equal(kelp_http_range_parse("bytes=10-59", 100, &a, &b), 0);
	assert_true(a == 10 && b == 59);
	assert_int_equal(kelp_http_range_parse("bytes=10-", 100, &a, &b), 0);
	assert_true(a == 10 && b == 99);
	assert_int_equal(kelp_http_range_parse("bytes=90-1000", 100, &a, &b), 0);
	assert_true(a == 90 && b == 99);
	assert_int_equal(kelp_http_range_parse("bytes=-7", 100, &a, &b), 0);
	assert_true(a == 93 && b == 99);
	assert_int_equal(kelp_http_range_parse("bytes=-700", 100, &a, &b), 0);
	assert_true(a == 0 && b == 99);
	assert_int_equal(kelp_http_range_parse("bytes=0-99999999999999999999999", 100, &a, &b), 0);
	assert_true(a == 0 && b == 99);
	assert_int_equal(kelp_http_range_parse("bytes=100-", 100, &a, &b), -ERANGE);
	assert_int_equal(kelp_http_range_parse("bytes=-0", 100, &a, &b), -ERANGE);
	assert_int_equal(kelp_http_range_parse("bytes=0-", 0, &a, &b), -ERANGE);
	assert_int_equal(kelp_http_range_parse("bytes=0-1,5-6", 100, &a, &b), -ENOTSUP);
	assert_int_equal(kelp_http_range_parse("bytes=5-1", 100, &a, &b), -EINVAL);
	assert_int_equal(kelp_http_range_parse("items=0-1", 100, &a, &b), -EINVAL);
	assert_int_equal(kelp_http_range_parse("bytes=a-1", 100, &a, &b), -EINVAL);
	assert_int_equal(kelp_http_range_parse("bytes=", 100, &a, &b), -EINVAL);
}

static int match4(const struct kelp_cidr *c, size_t n, const char *ip)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	assert_int_equal(inet_pton(AF_INET, ip, &sa.sin_addr), 1);
	return kelp_cidr_match(c, n, (struct sockaddr *)&sa);
}

static int match6(const struct kelp_cidr *c, size_t n, const char *ip)
{
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
	assert_int_equal(inet_pton(AF_INET6, ip, &sa.sin6_addr), 1);
	return kelp_cidr_match(c, n, (struct sockaddr *)&sa);
}

static void test_cidr(void **state)
{
	struct kelp_cidr c[3];
	assert_int_equal(kelp_cidr_parse("127.0.0.0/8", &c[0]), 0);
	assert_int_equal(kelp_cidr_parse("::1", &c[1]), 0);
	assert_int_equal(kelp_cidr_parse("10.1.2.3/31", &c[2]), 0);
	assert_true(match4(c, 3, "127.9.9.9"));
	assert_true(match4(c, 3, "10.1.2.2"));
	assert_false(match4(c, 3, "10.1.2.4"));
	assert_false(match4(c, 3, "128.0.0.1"));
	assert_true(match6(c, 3, "::1"));
	assert_false(match6(c, 3, "::2"));
	assert_true(match6(c, 3, "::ffff:127.0.0.1")); /* v4-mapped counts as IPv4 */
	assert_false(match4(c, 1, "10.1.2.2"));	       /* only the first prefix */
	struct kelp_cidr x;
	const char *bad[] = {"",	 "1.2.3.4/33", "::1/129", "1.2.3/8",
			     "1.2.3.4/", "1.2.3.4/-1", "host",	  "1.2.3.4/8x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(kelp_cidr_parse(bad[i], &x), -EINVAL);
	assert_int_equal(kelp_cidr_parse("0.0.0.0/0", &x), 0);
	assert_true(match4(&x, 1, "8.8.8.8"));
	assert_false(match6(&x, 1, "::8"));
}

/* The read token, where security.GetJwt looks: ?jwt= first, then Authorization: Bearer, then the
 * cookie AT, whatever the order of the header lines. */
static void test_jwt_sources(void **state)
{
	struct kelp_http_req r;
	assert_true(parse("GET /3,01 HTTP/1.1\r\n\r\n", &r) > 0);
	assert_int_equal(r.jwt_len, 0);
	assert_true(
		parse("GET /3,01?a=1&jwt=q.q.q&jwt=x HTTP/1.1\r\nAuthorization: Bearer b.b.b\r\n"
		      "Cookie: AT=c.c.c\r\n\r\n",
		      &r) > 0);
	assert_string_equal(r.jwt, "q.q.q");
	assert_int_equal(r.jwt_len, 5);
	assert_true(parse("GET /3,01?jwtx=1 HTTP/1.1\r\nCookie: x=1; AT=c.c.c; y=2\r\n"
			  "authorization: BEARER b.b.b\r\n\r\n",
			  &r) > 0);
	assert_string_equal(r.jwt, "b.b.b");
	assert_true(parse("GET /3,01 HTTP/1.1\r\nCookie: x=1; AT=c.c.c; y=2\r\n"
			  "Authorization: Basic dXNlcjpw\r\n\r\n",
			  &r) > 0);
	assert_string_equal(r.jwt, "c.c.c");
	assert_true(parse("GET /3,01?jwt= HTTP/1.1\r\nAuthorization: Bearer\r\n\r\n", &r) > 0);
	assert_int_equal(r.jwt_len, 0);
	/* no real token is this long: refused like other oversized values */
	char buf[2048];
	snprintf(buf, sizeof(buf), "GET /3,01 HTTP/1.1\r\nAuthorization: Bearer %0600d\r\n\r\n", 0);
	assert_int_equal(parse(buf, &r), -E2BIG);
	snprintf(buf, sizeof(buf), "GET /3,01?jwt=%0600d HTTP/1.1\r\n\r\n", 0);
	assert_int_equal(parse(buf, &r), -E2BIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get),
		cmocka_unit_test(test_connection_and_versions),
		cmocka_unit_test(test_incomplete_and_bad),
		cmocka_unit_test(test_range),
		cmocka_unit_test(test_cidr),
		cmocka_unit_test(test_jwt_sources),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
