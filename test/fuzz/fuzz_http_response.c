/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the HTTP response parser (proto/http.c).
 * Input: byte 0 = destination capacity selector, byte 1 = split stride, the rest = the response.
 * Oracle: no crash or sanitizer report, and the result fed whole equals the result fed in pieces
 * (incremental parsing must not depend on how the bytes arrive); the body never passes dst_cap.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http.h"

struct result {
	ssize_t consumed;
	int finish;
	bool done;
	struct kelp_http_response resp;
};

static void parse(const uint8_t *in, size_t len, size_t stride, uint8_t *dst, size_t cap,
		  struct result *r)
{
	static struct kelp_http_parser p; /* large (line buffer): keep it off the stack */
	size_t off = 0;

	memset(r, 0, sizeof(*r));
	kelp_http_parser_init(&p, dst, cap, false);
	while (off < len && !kelp_http_parser_done(&p)) {
		size_t n = len - off < stride ? len - off : stride;
		ssize_t rc = kelp_http_parser_feed(&p, in + off, n);
		if (rc < 0) {
			r->consumed = rc;
			break;
		}
		if ((size_t)rc > n)
			abort();
		off += (size_t)rc;
		r->consumed = (ssize_t)off;
		if ((size_t)rc < n && !kelp_http_parser_done(&p))
			abort(); /* may stop early only at the end of a response */
	}
	r->finish = kelp_http_parser_finish(&p);
	r->done = kelp_http_parser_done(&p);
	r->resp = p.resp;
	if (kelp_http_parser_body_len(&p) > cap)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t dst_a[4096], dst_b[4096];
	struct result a, b;

	if (size < 2)
		return 0;
	size_t cap = data[0] * 16u; /* 0..4080 */
	size_t stride = data[1] ? data[1] : 1;
	data += 2;
	size -= 2;
	memset(dst_a, 0, sizeof(dst_a));
	memset(dst_b, 0, sizeof(dst_b));
	parse(data, size, size ? size : 1, dst_a, cap, &a);
	parse(data, size, stride, dst_b, cap, &b);
	if (a.consumed != b.consumed || a.finish != b.finish || a.done != b.done ||
	    memcmp(&a.resp, &b.resp, sizeof(a.resp)) != 0 ||
	    memcmp(dst_a, dst_b, sizeof(dst_a)) != 0)
		abort();
	return 0;
}
