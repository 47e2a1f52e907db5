/* SPDX-License-Identifier: Apache-2.0 */
/* proto/http: request bytes exactly; response parsing identical for every split of the input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http.h"

static void test_request_exact_bytes(void **state)
{
	char buf[512];
	struct kelp_http_request r = {.host = "127.0.0.1:8080", .path = "/3,01637037d6"};
	const char *plain = "GET /3,01637037d6 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
			    "Connection: keep-alive\r\n\r\n";
	int n = kelp_http_write_request(&r, buf, sizeof(buf));
	assert_int_equal(n, strlen(plain));
	assert_string_equal(buf, plain);

	r.has_range = true;
	r.range_first = 10;
	r.range_last = 4105;
	r.accept_gzip = true;
	r.bearer = "aaa.bbb.ccc";
	const char *full = "GET /3,01637037d6 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
			   "Range: bytes=10-4105\r\nAccept-Encoding: gzip\r\n"
			   "Authorization: Bearer aaa.bbb.ccc\r\nConnection: keep-alive\r\n\r\n";
	n = kelp_http_write_request(&r, buf, sizeof(buf));
	assert_int_equal(n, strlen(full));
	assert_string_equal(buf, full);

	/* exactly the length fits (no NUL room needed), one less does not */
	char small[256];
	assert_int_equal(kelp_http_write_request(&r, small, strlen(full) + 1), n);
	assert_int_equal(kelp_http_write_request(&r, small, strlen(full) - 1), -ENOSPC);
}

static void test_request_rejects_injection(void **state)
{
	char buf[512];
	struct kelp_http_request r = {.host = "h:1", .path = "/3,01\r\nX: y"};
	assert_int_equal(kelp_http_write_request(&r, buf, sizeof(buf)), -EINVAL);
	r.path = "/a b";
	assert_int_equal(kelp_http_write_request(&r, buf, sizeof(buf)), -EINVAL);
	r.path = "noslash";
	assert_int_equal(kelp_http_write_request(&r, buf, sizeof(buf)), -EINVAL);
	r.path = "/ok";
	r.host = "";
	assert_int_equal(kelp_http_write_request(&r, buf, sizeof(buf)), -EINVAL);
	r.host = "h:1";
	r.bearer = "x\ny";
	assert_int_equal(kelp_http_write_request(&r, buf, sizeof(buf)), -EINVAL);
	r.bearer = NULL;
	r.has_range = true;
	r.range_first = 5;
	r.range_last = 4;
	assert_int_equal(kelp_http_write_request(&r, buf, sizeof(buf)), -EINVAL);
}

struct outcome {
	ssize_t rc; /* total consumed, or the error */
	bool done;
	struct kelp_http_response resp;
	uint8_t body[256];
};

/* Feed @len bytes in pieces cut at @cuts (sorted, inside (0, len)); then finish() when @eof. */
static void run(const char *in, size_t len, const size_t *cuts, size_t ncuts, size_t cap, bool eof,
		struct outcome *o)
{
	struct kelp_http_parser *p = malloc(sizeof(*p));
	size_t start = 0, total = 0;

	memset(o, 0, sizeof(*o));
	memset(o->body, 0xee, sizeof(o->body));
	kelp_http_parser_init(p, o->body, cap, false);
	for (size_t i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		ssize_t n = kelp_http_parser_feed(p, (const uint8_t *)in + start, end - start);
		if (n < 0) {
			o->rc = n;
			goto out;
		}
		total += (size_t)n;
		if (kelp_http_parser_done(p))
			break;
		start = end;
	}
	o->rc = (ssize_t)total;
	if (eof && !kelp_http_parser_done(p)) {
		int rc = kelp_http_parser_finish(p);
		if (rc)
			o->rc = rc;
	}
out:
	o->done = kelp_http_parser_done(p);
	o->resp = p->resp;
	free(p);
}

static void assert_same(const struct outcome *a, const struct outcome *b)
{
	assert_int_equal(a->rc, b->rc);
	assert_int_equal(a->done, b->done);
	assert_memory_equal(&a->resp, &b->resp, sizeof(a->resp));
	assert_memory_equal(a->body, b->body, sizeof(a->body));
}

/* Parse @in whole, then at every single split point and byte by byte; all must agree. */
static void parse_every_split(const char *in, size_t cap, bool eof, struct outcome *whole)
{
	size_t len = strlen(in);
	struct outcome o;
	size_t *cuts = malloc((len + 1) * sizeof(*cuts));

	run(in, len, NULL, 0, cap, eof, whole);
	for (size_t c = 1; c < len; c++) {
		run(in, len, &c, 1, cap, eof, &o);
		assert_same(whole, &o);
	}
	for (size_t c = 1; c < len; c++)
		cuts[c - 1] = c;
	run(in, len, cuts, len ? len - 1 : 0, cap, eof, &o);
	assert_same(whole, &o);
	free(cuts);
}

/* A response captured from weed 4.48 (gzip needle, Range, Accept-Encoding: gzip), body shortened */
static const char weed_206[] = "HTTP/1.1 206 Partial Content\r\n"
			       "Accept-Ranges: bytes\r\n"
			       "Content-Disposition: inline; filename=t20k.txt\r\n"
			       "Content-Encoding: gzip\r\n"
			       "Content-Length: 10\r\n"
			       "Content-Range: bytes 10-19/133\r\n"
			       "Content-Type: text/plain\r\n"
			       "Etag: \"5e90563f\"\r\n"
			       "Server: SeaweedFS Volume 8000GB 4.48\r\n"
			       "\r\n"
			       "0123456789";

static void test_content_length_every_split(void **state)
{
	struct outcome o;
	parse_every_split(weed_206, 64, false, &o);
	assert_int_equal(o.rc, strlen(weed_206));
	assert_true(o.done);
	assert_int_equal(o.resp.status, 206);
	assert_int_equal(o.resp.content_length, 10);
	assert_true(o.resp.gzip);
	assert_false(o.resp.close);
	assert_true(o.resp.has_content_range);
	assert_int_equal(o.resp.range_first, 10);
	assert_int_equal(o.resp.range_last, 19);
	assert_int_equal(o.resp.range_total, 133);
	assert_string_equal(o.resp.etag, "\"5e90563f\"");
	assert_int_equal(o.resp.body_total, 10);
	assert_false(o.resp.truncated);
	assert_memory_equal(o.body, "0123456789", 10);
	assert_int_equal(o.body[10], 0xee); /* nothing written past the body */
}

static void test_chunked_every_split(void **state)
{
	static const char in[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
				 "5;ext=1\r\nhello\r\n1A\r\n abcdefghijklmnopqrstuvwxy\r\n"
				 "0\r\nX-Trailer: t\r\n\r\n";
	struct outcome o;
	parse_every_split(in, 64, false, &o);
	assert_int_equal(o.rc, strlen(in));
	assert_true(o.done);
	assert_true(o.resp.chunked);
	assert_int_equal(o.resp.body_total, 31);
	assert_memory_equal(o.body, "hello abcdefghijklmnopqrstuvwxy", 31);
}

static void test_truncation_counts_everything(void **state)
{
	struct outcome o;
	parse_every_split(weed_206, 4, false, &o);
	assert_true(o.done);
	assert_true(o.resp.truncated);
	assert_int_equal(o.resp.body_total, 10);
	assert_memory_equal(o.body, "0123", 4);
	assert_int_equal(o.body[4], 0xee);
}

static void test_body_until_close(void **state)
{
	static const char in[] = "HTTP/1.0 200 OK\r\nContent-Type: x\r\n\r\nabc";
	struct outcome o;
	parse_every_split(in, 64, true, &o);
	assert_int_equal(o.rc, strlen(in));
	assert_true(o.done);
	assert_true(o.resp.close);
	assert_int_equal(o.resp.body_total, 3);

	/* cut short: Content-Length promised more than came */
	static const char short_in[] = "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc";
	parse_every_split(short_in, 64, true, &o);
	assert_int_equal(o.rc, -EPROTO);
	assert_false(o.done);
}

static void test_interim_and_statuses(void **state)
{
	struct outcome o;
	parse_every_split(
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
		"Connection: close\r\n\r\n",
		64, false, &o);
	assert_true(o.done);
	assert_int_equal(o.resp.status, 404);
	assert_true(o.resp.close);
	assert_int_equal(o.resp.body_total, 0);

	parse_every_split(
		"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 2\r\n\r\nno",
		64, false, &o);
	assert_true(o.done);
	assert_int_equal(o.resp.status, 503);
	assert_true(o.resp.has_retry_after);
	assert_int_equal(o.resp.retry_after_s, 7);

	parse_every_split(
		"HTTP/1.1 416 Requested Range Not Satisfiable\r\nContent-Range: bytes */0\r\n"
		"Content-Length: 0\r\n\r\n",
		64, false, &o);
	assert_true(o.done);
	assert_true(o.resp.has_content_range);
	assert_int_equal(o.resp.range_total, 0);

	parse_every_split("HTTP/1.1 204 No Content\r\n\r\n", 64, false, &o);
	assert_true(o.done);

	parse_every_split("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx",
			  64, false, &o);
	assert_true(o.done);
	assert_false(o.resp.close);
}

static void test_leftover_bytes_not_consumed(void **state)
{
	static const char two[] =
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabHTTP/1.1 200 OK\r\n";
	struct kelp_http_parser p;
	uint8_t body[8];
	kelp_http_parser_init(&p, body, sizeof(body), false);
	ssize_t n = kelp_http_parser_feed(&p, (const uint8_t *)two, strlen(two));
	assert_int_equal(n, strlen("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab"));
	assert_true(kelp_http_parser_done(&p));
}

static void test_head_has_no_body(void **state)
{
	static const char in[] = "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n";
	struct kelp_http_parser p;
	kelp_http_parser_init(&p, NULL, 0, true);
	assert_int_equal(kelp_http_parser_feed(&p, (const uint8_t *)in, strlen(in)), strlen(in));
	assert_true(kelp_http_parser_done(&p));
	assert_int_equal(p.resp.content_length, 5000);
}

static void test_body_window_zero_copy(void **state)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01";
	struct kelp_http_parser p;
	uint8_t body[8], *w = NULL;
	kelp_http_parser_init(&p, body, sizeof(body), false);
	assert_int_equal(kelp_http_parser_feed(&p, (const uint8_t *)head, strlen(head)),
			 strlen(head));
	size_t n = kelp_http_parser_body_window(&p, &w);
	assert_ptr_equal(w, body + 2);
	assert_int_equal(n, 6); /* dst room, not the 8 body bytes left */
	memcpy(w, "234", 3);
	kelp_http_parser_body_done(&p, 3);
	n = kelp_http_parser_body_window(&p, &w);
	assert_ptr_equal(w, body + 5);
	assert_int_equal(n, 3);
	memcpy(w, "567", 3);
	kelp_http_parser_body_done(&p, 3);
	assert_int_equal(kelp_http_parser_body_window(&p, &w), 0); /* dst full: feed the rest */
	assert_int_equal(kelp_http_parser_feed(&p, (const uint8_t *)"89", 2), 2);
	assert_true(kelp_http_parser_done(&p));
	assert_true(p.resp.truncated);
	assert_memory_equal(body, "01234567", 8);
	assert_int_equal(kelp_http_parser_body_len(&p), 8);
}

static void expect_error(const char *in, int err)
{
	struct outcome o;
	parse_every_split(in, 64, false, &o);
	assert_int_equal(o.rc, err);
	assert_false(o.done);
}

static void test_malformed(void **state)
{
	expect_error("HTTP/2 200 OK\r\n\r\n", -EPROTO);
	expect_error("HTTP/1.1 20 OK\r\n\r\n", -EPROTO);
	expect_error("HTTP/1.1 2000 OK\r\n\r\n", -EPROTO);
	expect_error("HTTP/1.1 099 OK\r\n\r\n", -EPROTO);
	expect_error("HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", -EPROTO);
	expect_error("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", -EPROTO);
	expect_error("HTTP/1.1 200 OK\r\n folded: x\r\n\r\n", -EPROTO);
	expect_error("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", -EPROTO);
	expect_error("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", -EPROTO);
	expect_error("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", -EPROTO);
	expect_error("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
		     -EPROTO);
	expect_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", -EPROTO);
	expect_error("HTTP/1.1 200 OK\r\nContent-Encoding: br\r\n\r\n", -EPROTO);
	expect_error("HTTP/1.1 206 OK\r\nContent-Range: bytes 9-2/100\r\n\r\n", -EPROTO);
	expect_error("HTTP/1.1 206 OK\r\nContent-Range: bytes 0-200/100\r\n\r\n", -EPROTO);
	expect_error("HTTP/1.1 206 OK\r\nContent-Range: lines 0-2/100\r\n\r\n", -EPROTO);
	expect_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", -EPROTO);
	expect_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", -EPROTO);
	expect_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		     "10000000000000000\r\n",
		     -EPROTO);
	expect_error("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", -EPROTO);
	expect_error("HTTP/1.1 101 Switching\r\n\r\n", -EPROTO);
}

static void test_header_limits(void **state)
{
	size_t n = KELP_HTTP_MAX_LINE + 64;
	char *in = malloc(n + 64);
	struct outcome o;

	/* one line longer than KELP_HTTP_MAX_LINE */
	strcpy(in, "HTTP/1.1 200 OK\r\nX: ");
	memset(in + strlen(in), 'a', KELP_HTTP_MAX_LINE);
	strcpy(in + strlen("HTTP/1.1 200 OK\r\nX: ") + KELP_HTTP_MAX_LINE, "\r\n\r\n");
	run(in, strlen(in), NULL, 0, 8, false, &o);
	assert_int_equal(o.rc, -EMSGSIZE);
	free(in);

	/* too many header lines */
	size_t cap = 32 * (KELP_HTTP_MAX_HEADERS + 2);
	in = malloc(cap);
	size_t len = (size_t)sprintf(in, "HTTP/1.1 200 OK\r\n");
	for (int i = 0; i <= KELP_HTTP_MAX_HEADERS; i++)
		len += (size_t)sprintf(in + len, "X-%d: v\r\n", i);
	strcpy(in + len, "\r\n");
	run(in, strlen(in), NULL, 0, 8, false, &o);
	assert_int_equal(o.rc, -EMSGSIZE);
	free(in);

	/* error is sticky */
	struct kelp_http_parser p;
	kelp_http_parser_init(&p, NULL, 0, false);
	assert_int_equal(kelp_http_parser_feed(&p, (const uint8_t *)"garbage\r\n", 9), -EPROTO);
	assert_int_equal(kelp_http_parser_feed(&p, (const uint8_t *)"HTTP/1.1 200 OK\r\n", 17),
			 -EPROTO);
	assert_int_equal(kelp_http_parser_finish(&p), -EPROTO);
}

/* The volume server's ETag is the stored CRC (kelp-bench --verify reads it): only "8 hex" counts.
 */
static void test_etag_crc(void **state)
{
	(void)state;
	uint32_t crc = 1;
	assert_int_equal(kelp_http_etag_crc("\"5e90563f\"", &crc), 0);
	assert_int_equal(crc, 0x5e90563fu);
	assert_int_equal(kelp_http_etag_crc("\"00000000\"", &crc), 0);
	assert_int_equal(crc, 0);
	assert_int_equal(kelp_http_etag_crc("\"ABCDEF01\"", &crc), 0);
	assert_int_equal(crc, 0xabcdef01u);
	crc = 7;
	const char *bad[] = {"",
			     "5e90563f",
			     "\"5e90563\"",
			     "\"5e90563f0\"",
			     "W/\"5e90563f\"",
			     "\"5e9x563f\"",
			     "\"5e90563f"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(kelp_http_etag_crc(bad[i], &crc), -EINVAL);
	assert_int_equal(crc, 7); /* untouched on error */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_exact_bytes),
		cmocka_unit_test(test_request_rejects_injection),
		cmocka_unit_test(test_content_length_every_split),
		cmocka_unit_test(test_chunked_every_split),
		cmocka_unit_test(test_truncation_counts_everything),
		cmocka_unit_test(test_body_until_close),
		cmocka_unit_test(test_interim_and_statuses),
		cmocka_unit_test(test_leftover_bytes_not_consumed),
		cmocka_unit_test(test_head_has_no_body),
		cmocka_unit_test(test_body_window_zero_copy),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_header_limits),
		cmocka_unit_test(test_etag_crc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
