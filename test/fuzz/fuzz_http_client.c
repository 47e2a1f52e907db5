/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the response side of the io_uring HTTP client (lcore/cluster/http_client.c),
 * the real code over a real loopback TCP connection: the input is what a server answers, sent in
 * pieces to one GET (or HEAD), then the server closes.
 * Input: byte 0 = destination capacity (x4: 0..1020 bytes), byte 1 = number of pieces (1..16),
 * byte 2 bit 0 = HEAD, bit 1 = pipelined: a second GET goes on the same connection behind the
 * first (opts.pipeline) and the input is both answers; bit 2 = cut_oversize (a single GET only);
 * the rest = the response(s).
 * Oracle: no crash or sanitizer report (the destination is an exact-size heap block: a byte past
 * it is an ASan report); done runs exactly once; nothing stays busy and destroy succeeds; and the
 * outcome equals the response parser's (proto/http.c) on the whole input at once: the same status,
 * body and truncation when it is complete, its error when it is malformed, -ECONNRESET when it is
 * cut short by the close. Pipelined: the first call as above; the second either ends with exactly
 * what the parser makes of the bytes after the first response (and must, when the first response
 * is complete, does not say close and the rest is a complete response), or with an error, after
 * at most one retry on a new connection (which the server accepts, reads and closes): never with
 * other bytes, never done twice. cut_oversize: when the parser sees a Content-Length body more
 * than KELP_HTTP_CUT_BYTES longer than the destination and at least the destination's worth of it,
 * the call may instead end cut off: no error, exactly the parser's first cap body bytes,
 * truncated, the whole Content-Length, counted in cut_bodies (which piece boundary the client
 * checks at decides which of the two). The scripted server is test/unit/script_server.h.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lcore/cluster/http_client.h"
#include "test/unit/script_server.h"

static struct io_uring ring;
static struct ss srv;

struct req {
	struct kelp_http_call call;
	bool done;
	int err;
	int ndone;
};

static void req_done(struct kelp_http_call *call, int err)
{
	struct req *r = call->arg;
	r->done = true;
	r->err = err;
	r->ndone++;
}

/* What the client must report: the parser fed @data whole, then the close. */
static int reference(const uint8_t *data, size_t len, bool head, uint8_t *dst, size_t cap,
		     struct kelp_http_parser *p)
{
	kelp_http_parser_init(p, dst, cap, head);
	ssize_t n = len ? kelp_http_parser_feed(p, data, len) : 0;
	if (n < 0)
		return (int)n;
	if (kelp_http_parser_done(p))
		return 0;
	return kelp_http_parser_finish(p) == 0 ? 0 : -ECONNRESET;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct kelp_http_parser ref, ref2; /* large: off the stack */
	static bool ready;
	char head[4096];

	if (size < 3)
		return 0;
	if (!ready) {
		if (io_uring_queue_init(64, &ring, 0) || ss_open(&srv, &ring))
			abort();
		ready = true;
	}
	size_t cap = data[0] * 4u;
	size_t pieces = 1 + data[1] % 16;
	bool is_head = data[2] & 1;
	bool piped = data[2] & 2;
	bool cut = (data[2] & 4) && !piped && !is_head;
	data += 3;
	size -= 3;

	uint8_t *dst = malloc(cap ? cap : 1), *ref_dst = malloc(cap ? cap : 1);
	uint8_t *dst2 = malloc(cap ? cap : 1), *ref_dst2 = malloc(cap ? cap : 1);
	struct kelp_http_client_opts o = {.timeout_ms = 10000, .max_conns = 1, .pipeline = 2};
	struct kelp_http_client *c;
	int rc = kelp_http_client_create(&ring, &o, &c);
	struct req r = {0}, r2 = {0};
	if (!dst || !ref_dst || !dst2 || !ref_dst2 || rc)
		abort();
	snprintf(r.call.server, sizeof(r.call.server), "%s", srv.addr);
	snprintf(r.call.path, sizeof(r.call.path), "/3,01637037d6");
	r.call.head = is_head;
	r.call.dst = cap ? dst : NULL;
	r.call.dst_cap = cap;
	r.call.done = req_done;
	r.call.arg = &r;
	r.call.cut_oversize = cut;
	r2.call = r.call;
	r2.call.cut_oversize = false;
	r2.call.head = false;
	r2.call.dst = cap ? dst2 : NULL;
	r2.call.arg = &r2;
	if (kelp_http_client_start(c, &r.call) || (piped && kelp_http_client_start(c, &r2.call)))
		abort();

	int fd = ss_accept(&srv);
	if (fd < 0 || ss_read_request(&srv, fd, head, sizeof(head)) <= 0 ||
	    (piped && ss_read_request(&srv, fd, head, sizeof(head)) <= 0))
		abort();
	/* each piece after the client had the chance to take the one before */
	for (size_t i = 0, off = 0; i < pieces && off < size; i++) {
		size_t n = i + 1 == pieces ? size - off : size / pieces;
		if (n == 0)
			continue;
		if (ss_send(&srv, fd, data + off, n))
			break; /* the client closed after a complete or malformed response */
		off += n;
		ss_pump(&srv, 100);
	}
	close(fd);
	/* until both are done; a retry of the second call gets a connection that closes at once */
	unsigned retries = 0;
	uint64_t t0 = kelp_now_ns();
	while (!r.done || (piped && !r2.done)) {
		if (ss_past(t0))
			abort(); /* never completed */
		if (!ss_none_pending(&srv)) {
			int fd2 = ss_accept(&srv);
			if (fd2 < 0 || ++retries > 1 ||
			    ss_read_request(&srv, fd2, head, sizeof(head)) <= 0)
				abort();
			close(fd2);
		}
		ss_pump(&srv, 1000);
	}

	int want = reference(data, size, is_head, cap ? ref_dst : NULL, cap, &ref);
	struct kelp_http_client_stats st;
	kelp_http_client_get_stats(c, &st);
	int sc = ref.resp.status;
	bool cut_possible = cut && want != -EPROTO && want != -EMSGSIZE &&
			    ref.resp.content_length >= 0 && !ref.resp.chunked && sc >= 200 &&
			    sc != 204 && sc != 304 &&
			    (uint64_t)ref.resp.content_length > cap + KELP_HTTP_CUT_BYTES &&
			    ref.resp.body_total >= cap;
	if (st.cut_bodies > (cut_possible ? 1u : 0u))
		abort();
	if (st.cut_bodies) {
		/* cut off: the first cap body bytes, nothing else */
		if (r.err != 0 || r.call.body_len != cap || memcmp(dst, ref_dst, cap) != 0 ||
		    r.call.resp.status != ref.resp.status || !r.call.resp.truncated ||
		    r.call.resp.content_length != ref.resp.content_length)
			abort();
	} else if (r.err != want) {
		abort();
	} else if (r.err == 0) {
		size_t body = kelp_http_parser_body_len(&ref);
		if (r.call.body_len > cap || r.call.body_len != body ||
		    memcmp(dst, ref_dst, body) != 0 || r.call.resp.status != ref.resp.status ||
		    r.call.resp.truncated != ref.resp.truncated ||
		    r.call.resp.body_total != ref.resp.body_total)
			abort();
	}
	if (piped) {
		/* the bytes after the first response, as the parser splits them */
		size_t used = 0;
		kelp_http_parser_init(&ref, NULL, 0, is_head);
		ssize_t n = size ? kelp_http_parser_feed(&ref, data, size) : 0;
		bool first_whole = n >= 0 && kelp_http_parser_done(&ref);
		if (first_whole)
			used = (size_t)n;
		int want2 = first_whole ? reference(data + used, size - used, false,
						    cap ? ref_dst2 : NULL, cap, &ref2)
					: -1;
		if (first_whole && !ref.resp.close && want2 == 0 && r2.err != 0)
			abort(); /* an answer that was there and nothing said close: must be taken
				  */
		if (r2.err == 0) {
			size_t body = kelp_http_parser_body_len(&ref2);
			if (!first_whole || want2 != 0 || r2.call.body_len != body ||
			    memcmp(dst2, ref_dst2, body) != 0 ||
			    r2.call.resp.status != ref2.resp.status ||
			    r2.call.resp.truncated != ref2.resp.truncated)
				abort(); /* never other bytes than its own answer */
		}
	}

	kelp_http_client_shutdown(c);
	uint64_t start = kelp_now_ns();
	while (kelp_http_client_busy(c)) {
		if (ss_past(start))
			abort();
		ss_pump(&srv, 1000);
	}
	if (r.ndone != 1 || (piped && r2.ndone != 1) || kelp_http_client_destroy(c))
		abort();
	free(dst);
	free(ref_dst);
	free(dst2);
	free(ref_dst2);
	return 0;
}
