/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lcore/cluster/http_client.c, the real code on an io_uring of its own, against a scripted server
 * in this process (script_server.h): whole and split responses, keep-alive reuse, Connection:
 * close, the stale retry of a kept connection the server closed, timeouts, cancel (waiting and
 * running calls), malformed responses, bodies larger than the destination, chunked and
 * close-delimited bodies, connection refused; pipelining: answers matched to their calls in any
 * split, a server that closes (or says close) mid-pipeline. Every case checks the exact result and
 * that no call, op or connection is left behind (busy(), the pool, and the server's view of its
 * sockets). No sleeps: the test drives both ends; only the timeout case waits for a (50 ms)
 * timeout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lcore/cluster/http_client.h"
#include "test/unit/script_server.h"

struct fix {
	struct io_uring ring;
	struct ss srv;
	struct kelp_http_client *c;
};

struct req {
	struct kelp_http_call call;
	uint8_t buf[256];
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

static struct fix *fix_new(uint32_t timeout_ms, uint32_t max_conns)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct kelp_http_client_opts o = {.timeout_ms = timeout_ms, .max_conns = max_conns};

	assert_non_null(f);
	assert_int_equal(io_uring_queue_init(64, &f->ring, 0), 0);
	assert_int_equal(ss_open(&f->srv, &f->ring), 0);
	assert_int_equal(kelp_http_client_create(&f->ring, &o, &f->c), 0);
	assert_non_null(f->c);
	return f;
}

static int setup(void **state)
{
	*state = fix_new(2000, 0);
	return 0;
}

/* Shut the client down and drain it: nothing may stay busy; destroy must succeed. */
static int teardown(void **state)
{
	struct fix *f = *state;
	uint64_t start = kelp_now_ns();

	kelp_http_client_shutdown(f->c);
	while (kelp_http_client_busy(f->c)) {
		assert_false(ss_past(start));
		ss_pump(&f->srv, 1000);
	}
	assert_int_equal(kelp_http_client_destroy(f->c), 0);
	ss_close(&f->srv);
	io_uring_queue_exit(&f->ring);
	free(f);
	return 0;
}

/* Start a GET of @path into @r (cap @cap). */
static void start_get(struct fix *f, struct req *r, const char *path, size_t cap)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->call.server, sizeof(r->call.server), "%s", f->srv.addr);
	snprintf(r->call.path, sizeof(r->call.path), "%s", path);
	r->call.dst = r->buf;
	r->call.dst_cap = cap;
	r->call.done = req_done;
	r->call.arg = r;
	assert_int_equal(kelp_http_client_start(f->c, &r->call), 0);
	assert_false(r->done); /* never from inside start */
}

static void run(struct fix *f, struct req *r)
{
	assert_true(ss_run_until(&f->srv, &r->done));
	assert_int_equal(r->ndone, 1);
}

/* Accept the client's connection and read its request for @path. @return the server's fd. */
static int accept_request(struct fix *f, const char *path)
{
	char head[4096], line[300];
	int fd = ss_accept(&f->srv);

	assert_true(fd >= 0);
	assert_true(ss_read_request(&f->srv, fd, head, sizeof(head)) > 0);
	snprintf(line, sizeof(line), "GET %s HTTP/1.1\r\n", path);
	assert_memory_equal(head, line, strlen(line));
	return fd;
}

static void next_request(struct fix *f, int fd, const char *path)
{
	char head[4096], line[300];

	assert_true(ss_read_request(&f->srv, fd, head, sizeof(head)) > 0);
	snprintf(line, sizeof(line), "GET %s HTTP/1.1\r\n", path);
	assert_memory_equal(head, line, strlen(line));
}

static void assert_pool(struct fix *f, unsigned open, unsigned idle)
{
	unsigned o, i;
	kelp_http_client_pool(f->c, &o, &i);
	assert_int_equal(o, open);
	assert_int_equal(i, idle);
}

static void assert_body(struct req *r, const char *want)
{
	assert_int_equal(r->call.body_len, strlen(want));
	assert_memory_equal(r->buf, want, strlen(want));
}

static struct kelp_http_client_stats stats(struct fix *f)
{
	struct kelp_http_client_stats s;
	kelp_http_client_get_stats(f->c, &s);
	return s;
}

static const char OK5[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

/* A whole response; the connection is kept; the next call reuses it (no new connection). */
static void test_keepalive_reuse(void **state)
{
	struct fix *f = *state;
	struct req r;

	start_get(f, &r, "/3,01", sizeof(r.buf));
	int fd = accept_request(f, "/3,01");
	assert_int_equal(ss_send_str(&f->srv, fd, OK5), 0);
	run(f, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.call.resp.status, 200);
	assert_body(&r, "hello");
	assert_pool(f, 1, 1);
	assert_int_equal(kelp_http_client_busy(f->c) - 1 /* the sweep timer */, 0);

	start_get(f, &r, "/3,02", sizeof(r.buf));
	next_request(f, fd, "/3,02");
	assert_int_equal(
		ss_send_str(&f->srv, fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno"),
		0);
	run(f, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.call.resp.status, 404);
	assert_body(&r, "no");
	assert_true(ss_none_pending(&f->srv));
	struct kelp_http_client_stats s = stats(f);
	assert_int_equal(s.calls, 2);
	assert_int_equal(s.conns_opened, 1);
	assert_int_equal(s.conns_reused, 1);
	assert_int_equal(s.errors, 0);
	assert_pool(f, 1, 1);
	assert_true(ss_still_open(fd));
	close(fd);
}

/* A response in pieces (one byte at a time, each sent after the client took the previous one)
 * ends with the same bytes as a whole one. */
static void test_response_in_pieces(void **state)
{
	struct fix *f = *state;
	struct req r;
	const char *resp = "HTTP/1.1 206 Partial Content\r\nContent-Length: 11\r\n"
			   "Content-Range: bytes 4-14/100\r\nETag: \"deadbeef\"\r\n\r\nhello world";

	start_get(f, &r, "/7,aa", sizeof(r.buf));
	int fd = accept_request(f, "/7,aa");
	for (size_t i = 0; resp[i]; i++) {
		assert_int_equal(ss_send(&f->srv, fd, resp + i, 1), 0);
		ss_pump(&f->srv, 200);
	}
	run(f, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.call.resp.status, 206);
	assert_true(r.call.resp.has_content_range);
	assert_int_equal(r.call.resp.range_first, 4);
	assert_int_equal(r.call.resp.range_total, 100);
	assert_string_equal(r.call.resp.etag, "\"deadbeef\"");
	assert_body(&r, "hello world");
	assert_pool(f, 1, 1);
	close(fd);
}

/* Connection: close: the connection is closed after the response, the next call opens another. */
static void test_connection_close(void **state)
{
	struct fix *f = *state;
	struct req r;

	start_get(f, &r, "/1,1", sizeof(r.buf));
	int fd = accept_request(f, "/1,1");
	assert_int_equal(ss_send_str(&f->srv, fd,
				     "HTTP/1.1 200 OK\r\nConnection: close\r\n"
				     "Content-Length: 3\r\n\r\nabc"),
			 0);
	run(f, &r);
	assert_int_equal(r.err, 0);
	assert_body(&r, "abc");
	assert_pool(f, 0, 0);
	assert_int_equal(ss_wait_closed(&f->srv, fd), 0);
	close(fd);

	start_get(f, &r, "/1,2", sizeof(r.buf));
	fd = accept_request(f, "/1,2");
	assert_int_equal(ss_send_str(&f->srv, fd, OK5), 0);
	run(f, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(stats(f).conns_opened, 2);
	assert_int_equal(stats(f).conns_reused, 0);
	close(fd);
}

/* The server closed a kept connection while it was idle: the next call fails on it before any
 * response byte and is retried once on a fresh connection, which answers. */
static void test_stale_keepalive_retried_once(void **state)
{
	struct fix *f = *state;
	struct req r;

	start_get(f, &r, "/2,1", sizeof(r.buf));
	int fd = accept_request(f, "/2,1");
	assert_int_equal(ss_send_str(&f->srv, fd, OK5), 0);
	run(f, &r);
	assert_int_equal(r.err, 0);
	close(fd); /* idle timeout of the server */

	start_get(f, &r, "/2,2", sizeof(r.buf));
	fd = accept_request(f, "/2,2"); /* the retry's connection */
	assert_int_equal(ss_send_str(&f->srv, fd, OK5), 0);
	run(f, &r);
	assert_int_equal(r.err, 0);
	assert_body(&r, "hello");
	struct kelp_http_client_stats s = stats(f);
	assert_int_equal(s.stale_retries, 1);
	assert_int_equal(s.conns_opened, 2);
	assert_int_equal(s.conns_reused, 1);
	assert_int_equal(s.errors, 0);
	assert_pool(f, 1, 1); /* the stale one is gone */
	close(fd);
}

/* Only once: when the fresh connection dies too, the call fails. And a fresh connection that dies
 * before answering is not retried at all: -ECONNRESET. */
static void test_stale_retry_only_once_and_not_on_fresh(void **state)
{
	struct fix *f = *state;
	struct req r;

	start_get(f, &r, "/2,1", sizeof(r.buf));
	int fd = accept_request(f, "/2,1");
	assert_int_equal(ss_send_str(&f->srv, fd, OK5), 0);
	run(f, &r);
	close(fd);

	start_get(f, &r, "/2,2", sizeof(r.buf));
	fd = accept_request(f, "/2,2");
	close(fd); /* the retry dies as well */
	run(f, &r);
	assert_int_equal(r.err, -ECONNRESET);
	assert_int_equal(stats(f).stale_retries, 1);
	assert_int_equal(stats(f).conns_opened, 2);
	assert_true(ss_none_pending(&f->srv));
	assert_pool(f, 0, 0);

	start_get(f, &r, "/2,3", sizeof(r.buf));
	fd = accept_request(f, "/2,3");
	assert_int_equal(
		ss_send_str(&f->srv, fd, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhal"), 0);
	close(fd); /* cut mid-body: never retried (bytes came) */
	run(f, &r);
	assert_int_equal(r.err, -ECONNRESET);
	assert_int_equal(stats(f).stale_retries, 1);
	assert_true(ss_none_pending(&f->srv));
	assert_pool(f, 0, 0);
}

/* A server that never answers: -ETIMEDOUT after timeout_ms, the connection is closed. */
static void test_timeout(void **state)
{
	struct fix *f = fix_new(50, 0);
	struct req r;

	start_get(f, &r, "/4,1", sizeof(r.buf));
	int fd = accept_request(f, "/4,1");
	uint64_t t0 = kelp_now_ns();
	run(f, &r);
	assert_int_equal(r.err, -ETIMEDOUT);
	assert_true(kelp_now_ns() - t0 >= 40ull * 1000000u); /* not before its deadline (minus the
							      * request's own time) */
	assert_int_equal(stats(f).timeouts, 1);
	assert_int_equal(stats(f).errors, 1);
	assert_pool(f, 0, 0);
	assert_int_equal(ss_wait_closed(&f->srv, fd), 0);
	close(fd);
	*state = f;
	teardown(state);
	*state = NULL;
}

/* Cancel of a running call: -ECANCELED from a later completion, connection closed not reused;
 * of a waiting call (max_conns 1): at once; the running one then completes normally. */
static void test_cancel(void **state)
{
	struct fix *f = fix_new(2000, 1);
	struct req a, b;

	start_get(f, &a, "/5,1", sizeof(a.buf));
	int fd = accept_request(f, "/5,1");
	start_get(f, &b, "/5,2", sizeof(b.buf)); /* waits for the one connection */
	ss_pump(&f->srv, 0);
	kelp_http_client_cancel(f->c, &b.call);
	assert_true(b.done);
	assert_int_equal(b.err, -ECANCELED);
	assert_int_equal(b.ndone, 1);
	assert_true(ss_none_pending(&f->srv));

	kelp_http_client_cancel(f->c, &a.call);
	assert_false(a.done); /* its I/O is cancelled first */
	run(f, &a);
	assert_int_equal(a.err, -ECANCELED);
	assert_pool(f, 0, 0);
	assert_int_equal(ss_wait_closed(&f->srv, fd), 0);
	close(fd);
	assert_int_equal(stats(f).errors, 2);

	/* the answer to a cancelled call is never read: a new call gets a new connection */
	start_get(f, &a, "/5,3", sizeof(a.buf));
	fd = accept_request(f, "/5,3");
	assert_int_equal(ss_send_str(&f->srv, fd, OK5), 0);
	run(f, &a);
	assert_int_equal(a.err, 0);
	assert_body(&a, "hello");
	close(fd);
	*state = f;
	teardown(state);
	*state = NULL;
}

/* max_conns 1: the second call waits, then runs on the first's connection once it is free. */
static void test_waiting_call_gets_freed_connection(void **state)
{
	struct fix *f = fix_new(2000, 1);
	struct req a, b;

	start_get(f, &a, "/6,1", sizeof(a.buf));
	start_get(f, &b, "/6,2", sizeof(b.buf));
	int fd = accept_request(f, "/6,1");
	assert_true(ss_none_pending(&f->srv));
	assert_int_equal(ss_send_str(&f->srv, fd, OK5), 0);
	next_request(f, fd, "/6,2");
	assert_true(a.done);
	assert_int_equal(a.err, 0);
	assert_int_equal(ss_send_str(&f->srv, fd, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"),
			 0);
	run(f, &b);
	assert_int_equal(b.err, 0);
	assert_body(&b, "x");
	assert_int_equal(stats(f).conns_opened, 1);
	assert_int_equal(stats(f).conns_reused, 1);
	close(fd);
	*state = f;
	teardown(state);
	*state = NULL;
}

/* Malformed answers: -EPROTO (and the connection is closed), too many headers: -EMSGSIZE. */
static void test_malformed(void **state)
{
	struct fix *f = *state;
	static const char *bad[] = {
		"HTTP/1.1 2x0 OK\r\n\r\n",
		"SSH-2.0-OpenSSH_9.6\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	};
	struct req r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		start_get(f, &r, "/8,1", sizeof(r.buf));
		int fd = accept_request(f, "/8,1");
		assert_int_equal(ss_send_str(&f->srv, fd, bad[i]), 0);
		run(f, &r);
		assert_int_equal(r.err, -EPROTO);
		assert_pool(f, 0, 0);
		assert_int_equal(ss_wait_closed(&f->srv, fd), 0);
		close(fd);
	}

	char many[8192];
	size_t n = (size_t)snprintf(many, sizeof(many), "HTTP/1.1 200 OK\r\n");
	for (int i = 0; i <= KELP_HTTP_MAX_HEADERS; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "X-%d: y\r\n", i);
	start_get(f, &r, "/8,2", sizeof(r.buf));
	int fd = accept_request(f, "/8,2");
	assert_int_equal(ss_send_str(&f->srv, fd, many), 0);
	run(f, &r);
	assert_int_equal(r.err, -EMSGSIZE);
	assert_pool(f, 0, 0);
	close(fd);
	assert_int_equal(stats(f).errors, 5);
}

/* A body larger than the destination: the first dst_cap bytes, truncated, the rest drained so the
 * connection stays usable; nothing written past dst_cap. */
static void test_body_larger_than_dst(void **state)
{
	struct fix *f = *state;
	struct req r;

	start_get(f, &r, "/9,1", 8);
	memset(r.buf, 0xAB, sizeof(r.buf));
	int fd = accept_request(f, "/9,1");
	assert_int_equal(ss_send_str(&f->srv, fd,
				     "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n"
				     "0123456789abcdefghij"),
			 0);
	run(f, &r);
	assert_int_equal(r.err, 0);
	assert_true(r.call.resp.truncated);
	assert_int_equal(r.call.resp.body_total, 20);
	assert_int_equal(r.call.body_len, 8);
	assert_memory_equal(r.buf, "01234567", 8);
	for (size_t i = 8; i < sizeof(r.buf); i++)
		assert_int_equal(r.buf[i], 0xAB);
	assert_pool(f, 1, 1);

	start_get(f, &r, "/9,2",
		  sizeof(r.buf)); /* the rest of the body did not stay in the socket */
	next_request(f, fd, "/9,2");
	assert_int_equal(ss_send_str(&f->srv, fd, OK5), 0);
	run(f, &r);
	assert_int_equal(r.err, 0);
	assert_body(&r, "hello");
	close(fd);
}

/* Chunked bodies (in pieces across chunk boundaries) and bodies delimited by the close. */
static void test_chunked_and_eof_bodies(void **state)
{
	struct fix *f = *state;
	struct req r;
	const char *chunked =
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		"5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n";

	start_get(f, &r, "/10,1", sizeof(r.buf));
	int fd = accept_request(f, "/10,1");
	for (size_t i = 0; chunked[i]; i += 7) {
		size_t n = strlen(chunked + i) < 7 ? strlen(chunked + i) : 7;
		assert_int_equal(ss_send(&f->srv, fd, chunked + i, n), 0);
		ss_pump(&f->srv, 200);
	}
	run(f, &r);
	assert_int_equal(r.err, 0);
	assert_true(r.call.resp.chunked);
	assert_body(&r, "hello world");
	assert_pool(f, 1, 1);
	close(fd);

	start_get(f, &r, "/10,2", sizeof(r.buf)); /* stale retry, then the fresh connection */
	fd = accept_request(f, "/10,2");
	assert_int_equal(ss_send_str(&f->srv, fd, "HTTP/1.0 200 OK\r\n\r\nuntil the end"), 0);
	shutdown(fd, SHUT_WR);
	run(f, &r);
	assert_int_equal(r.err, 0);
	assert_body(&r, "until the end");
	assert_pool(f, 0, 0);
	close(fd);
}

/* Bytes past the response: the call succeeds, the connection is not reused. */
static void test_extra_bytes_close_connection(void **state)
{
	struct fix *f = *state;
	struct req r;

	start_get(f, &r, "/11,1", sizeof(r.buf));
	int fd = accept_request(f, "/11,1");
	/* a chunked body ends in the scratch buffer, where the parser sees what follows it */
	assert_int_equal(ss_send_str(&f->srv, fd,
				     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
				     "\r\n2\r\nok\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n"),
			 0);
	run(f, &r);
	assert_int_equal(r.err, 0);
	assert_body(&r, "ok");
	assert_pool(f, 0, 0);
	assert_int_equal(ss_wait_closed(&f->srv, fd), 0);
	close(fd);
}

/* Nobody listens: -ECONNREFUSED, no connection left. */
static void test_connection_refused(void **state)
{
	struct fix *f = *state;
	struct req r;

	ss_close(&f->srv); /* its port is free now: nobody listens */
	start_get(f, &r, "/12,1", sizeof(r.buf));
	run(f, &r);
	assert_int_equal(r.err, -ECONNREFUSED);
	assert_pool(f, 0, 0);
	assert_int_equal(ss_open(&f->srv, &f->ring), 0); /* for teardown */
}

/* HEAD: headers only, even with a Content-Length; the connection is kept. */
static void test_head(void **state)
{
	struct fix *f = *state;
	struct req r;
	char head[4096];

	memset(&r, 0, sizeof(r));
	snprintf(r.call.server, sizeof(r.call.server), "%s", f->srv.addr);
	snprintf(r.call.path, sizeof(r.call.path), "/13,1");
	r.call.head = true;
	r.call.done = req_done;
	r.call.arg = &r;
	assert_int_equal(kelp_http_client_start(f->c, &r.call), 0);
	int fd = ss_accept(&f->srv);
	assert_true(ss_read_request(&f->srv, fd, head, sizeof(head)) > 0);
	assert_memory_equal(head, "HEAD /13,1 HTTP/1.1\r\n", 21);
	assert_int_equal(
		ss_send_str(&f->srv, fd, "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"), 0);
	run(f, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.call.resp.content_length, 1234);
	assert_int_equal(r.call.body_len, 0);
	assert_pool(f, 1, 1);
	close(fd);
}

/* Shutdown with a running and a waiting call: both end with -ECANCELED, nothing leaks (teardown
 * drains and destroys). */
static void test_shutdown_with_calls(void **state)
{
	struct fix *f = fix_new(2000, 1);
	struct req a, b;

	start_get(f, &a, "/14,1", sizeof(a.buf));
	start_get(f, &b, "/14,2", sizeof(b.buf));
	int fd = accept_request(f, "/14,1");
	kelp_http_client_shutdown(f->c);
	assert_true(b.done);
	assert_int_equal(b.err, -ECANCELED);
	run(f, &a);
	assert_int_equal(a.err, -ECANCELED);
	assert_int_equal(kelp_http_client_start(f->c, &a.call), -ECANCELED);
	close(fd);
	*state = f;
	teardown(state);
	*state = NULL;
}

/* Bad input fails in start and never calls done. */
static void test_bad_input(void **state)
{
	struct fix *f = *state;
	struct req r;

	memset(&r, 0, sizeof(r));
	r.call.done = req_done;
	snprintf(r.call.server, sizeof(r.call.server), "weed-volume:8080");
	snprintf(r.call.path, sizeof(r.call.path), "/1,1");
	assert_int_equal(kelp_http_client_start(f->c, &r.call), -EAFNOSUPPORT);
	snprintf(r.call.server, sizeof(r.call.server), "127.0.0.1");
	assert_int_equal(kelp_http_client_start(f->c, &r.call), -EINVAL);
	snprintf(r.call.server, sizeof(r.call.server), "%s", f->srv.addr);
	snprintf(r.call.path, sizeof(r.call.path), "/1,1\r\nX: y");
	assert_int_equal(kelp_http_client_start(f->c, &r.call), -EINVAL);
	assert_false(r.done);
	assert_int_equal(kelp_http_client_busy(f->c), 0);
}

/* ---- pipelining (opts.pipeline) ---------------------------------------------------------------
 */

static struct fix *fix_pipe(void)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct kelp_http_client_opts o = {.timeout_ms = 2000, .max_conns = 1, .pipeline = 4};

	assert_non_null(f);
	assert_int_equal(io_uring_queue_init(64, &f->ring, 0), 0);
	assert_int_equal(ss_open(&f->srv, &f->ring), 0);
	assert_int_equal(kelp_http_client_create(&f->ring, &o, &f->c), 0);
	return f;
}

static const char RESP_A[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\naaaaa";
static const char RESP_B[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nbb";
static const char RESP_C[] =
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nccc\r\n0\r\n\r\n";

/* Three calls on one connection: all three requests reach the server before any answer (without
 * pipelining the second would wait for the first answer), and each answer lands in its own call,
 * in order, whatever the split of the bytes: all three in one send, a response cut inside its head
 * and its body, a head alone then its body with the next response (the direct body receive must
 * stop where the body ends). */
static void test_pipeline_answers_in_order(void **state)
{
	struct fix *f = fix_pipe();
	struct req a, b, c;
	char all[512];
	int len = snprintf(all, sizeof(all), "%s%s%s", RESP_A, RESP_B, RESP_C);
	const size_t la = strlen(RESP_A), lb = strlen(RESP_B);
	const size_t cuts[] = {
		(size_t)len, /* all at once */
		la + 10,     /* inside B's head */
		la + lb - 2, /* B's head alone, then its body with C */
		la - 3,	     /* inside A's body */
	};

	*state = f;
	int fd = -1;
	for (unsigned i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		start_get(f, &a, "/9,1", sizeof(a.buf));
		start_get(f, &b, "/9,2", sizeof(b.buf));
		start_get(f, &c, "/9,3", sizeof(c.buf));
		if (fd < 0)
			fd = accept_request(f, "/9,1");
		else
			next_request(f, fd, "/9,1");
		next_request(f, fd, "/9,2");
		next_request(f, fd, "/9,3");
		size_t cut = cuts[i];
		assert_int_equal(ss_send(&f->srv, fd, all, cut), 0);
		ss_pump(&f->srv, 1000);
		if (cut < (size_t)len)
			assert_int_equal(ss_send(&f->srv, fd, all + cut, (size_t)len - cut), 0);
		run(f, &a);
		run(f, &b);
		run(f, &c);
		assert_int_equal(a.err, 0);
		assert_int_equal(a.call.resp.status, 200);
		assert_body(&a, "aaaaa");
		assert_int_equal(b.err, 0);
		assert_int_equal(b.call.resp.status, 404);
		assert_body(&b, "bb");
		assert_int_equal(c.err, 0);
		assert_int_equal(c.call.resp.status, 200);
		assert_body(&c, "ccc");
		assert_pool(f, 1, 1);
	}
	struct kelp_http_client_stats s = stats(f);
	assert_int_equal(s.conns_opened, 1);
	assert_int_equal(s.pipelined, 8);
	assert_int_equal(s.errors, 0);
	assert_int_equal(s.stale_retries, 0);
	assert_true(ss_none_pending(&f->srv));
	close(fd);
}

/* Read the three requests of a, b, c on a connection (accepting it when @fd < 0). */
static int read_three(struct fix *f, int fd, const char *pa, const char *pb, const char *pc)
{
	if (fd < 0)
		fd = accept_request(f, pa);
	else
		next_request(f, fd, pa);
	if (pb)
		next_request(f, fd, pb);
	if (pc)
		next_request(f, fd, pc);
	return fd;
}

/* The server answers the first of three pipelined calls, then closes (or says Connection: close):
 * the two unanswered calls are retried once, together, on a new connection and get their own
 * answers; when that one closes too without answering, both fail with -ECONNRESET and nothing is
 * retried again. Never a wrong body. */
static void test_pipeline_server_closes_midway(void **state)
{
	struct fix *f = fix_pipe();
	struct req a, b, c;
	int kept = -1; /* the kept connection after a round */

	*state = f;
	for (int say_close = 0; say_close < 2; say_close++) {
		struct kelp_http_client_stats s0 = stats(f);
		start_get(f, &a, "/9,1", sizeof(a.buf));
		start_get(f, &b, "/9,2", sizeof(b.buf));
		start_get(f, &c, "/9,3", sizeof(c.buf));
		int fd = read_three(f, kept, "/9,1", "/9,2", "/9,3");
		assert_int_equal(ss_send_str(&f->srv, fd,
					     say_close ? "HTTP/1.1 200 OK\r\nConnection: close\r\n"
							 "Content-Length: 5\r\n\r\naaaaa"
						       : RESP_A),
				 0);
		if (!say_close)
			close(fd);
		run(f, &a);
		assert_int_equal(a.err, 0);
		assert_body(&a, "aaaaa");
		/* the retry: b first on a fresh connection, c behind it */
		int fd2 = read_three(f, -1, "/9,2", "/9,3", NULL);
		if (say_close) {
			assert_int_equal(ss_wait_closed(&f->srv, fd), 0); /* not reused */
			close(fd);
		}
		assert_false(b.done);
		assert_false(c.done);
		assert_int_equal(ss_send_str(&f->srv, fd2, RESP_B), 0);
		assert_int_equal(ss_send_str(&f->srv, fd2, RESP_C), 0);
		run(f, &b);
		run(f, &c);
		assert_int_equal(b.err, 0);
		assert_int_equal(b.call.resp.status, 404);
		assert_body(&b, "bb");
		assert_int_equal(c.err, 0);
		assert_body(&c, "ccc");
		struct kelp_http_client_stats s = stats(f);
		assert_int_equal(s.stale_retries - s0.stale_retries, 2);
		assert_int_equal(s.errors - s0.errors, 0);
		assert_pool(f, 1, 1);
		kept = fd2;
	}
	close(kept); /* the server closes the kept connection while it is idle */
	ss_pump(&f->srv, 1000);

	/* a retried call is not retried twice: the kept connection is dead (closed above), a's
	 * retry opens a fresh one, b and c go behind it; that one closes without an answer */
	start_get(f, &a, "/9,4", sizeof(a.buf));
	start_get(f, &b, "/9,5", sizeof(b.buf));
	start_get(f, &c, "/9,6", sizeof(c.buf));
	int fd = read_three(f, -1, "/9,4", "/9,5", "/9,6");
	close(fd);
	run(f, &a);
	run(f, &b);
	run(f, &c);
	assert_int_equal(a.err, -ECONNRESET);
	assert_int_equal(b.err, -ECONNRESET);
	assert_int_equal(c.err, -ECONNRESET);
	assert_true(ss_none_pending(&f->srv));
	assert_pool(f, 0, 0);
}

/* cut_oversize (the lcore's GET from offset 0 without Range): a body far longer than the buffer
 * ends the call once the buffer is full (the whole length still reported) and closes the
 * connection instead of receiving the rest; the call pipelined behind it is sent again on a new
 * connection and gets its own answer. An overshoot within KELP_HTTP_CUT_BYTES is drained as
 * before and the connection kept. */
static void start_get_cut(struct fix *f, struct req *r, const char *path, size_t cap)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->call.server, sizeof(r->call.server), "%s", f->srv.addr);
	snprintf(r->call.path, sizeof(r->call.path), "%s", path);
	r->call.dst = r->buf;
	r->call.dst_cap = cap;
	r->call.cut_oversize = true;
	r->call.done = req_done;
	r->call.arg = r;
	assert_int_equal(kelp_http_client_start(f->c, &r->call), 0);
}

static void test_cut_oversize_body(void **state)
{
	struct fix *f = fix_pipe();
	struct req a, b, c;
	char body[100];

	*state = f;
	memset(body, 'x', sizeof(body));
	memcpy(body, "01234567", 8);
	start_get_cut(f, &a, "/9,1", 8);
	start_get(f, &b, "/9,2", sizeof(b.buf));
	int fd = read_three(f, -1, "/9,1", "/9,2", NULL); /* b pipelined behind a */
	assert_int_equal(
		ss_send_str(&f->srv, fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n"), 0);
	assert_int_equal(ss_send(&f->srv, fd, body, sizeof(body)), 0); /* and no more */
	run(f, &a);
	assert_int_equal(a.err, 0);
	assert_int_equal(a.call.resp.status, 200);
	assert_int_equal(a.call.resp.content_length, 1000000);
	assert_true(a.call.resp.truncated);
	assert_int_equal(a.call.body_len, 8);
	assert_memory_equal(a.buf, "01234567", 8);
	assert_int_equal(stats(f).cut_bodies, 1);
	assert_int_equal(ss_wait_closed(&f->srv, fd), 0); /* not drained, not reused */
	close(fd);
	int fd2 = read_three(f, -1, "/9,2", NULL, NULL);
	assert_false(b.done);
	assert_int_equal(ss_send_str(&f->srv, fd2, OK5), 0);
	run(f, &b);
	assert_int_equal(b.err, 0);
	assert_body(&b, "hello");

	/* a small overshoot: drained, the connection kept */
	start_get_cut(f, &c, "/9,3", 8);
	next_request(f, fd2, "/9,3");
	assert_int_equal(ss_send_str(&f->srv, fd2,
				     "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n"
				     "0123456789abcdefghij"),
			 0);
	run(f, &c);
	assert_int_equal(c.err, 0);
	assert_int_equal(c.call.body_len, 8);
	assert_int_equal(c.call.resp.body_total, 20);
	assert_int_equal(stats(f).cut_bodies, 1);
	assert_pool(f, 1, 1);
	close(fd2);
}

/* Cancel of a call behind another on a connection (pipelining): it ends -ECANCELED, the connection
 * is closed, and the other call, not cancelled, is sent again once on a new connection and gets
 * its own answer. */
static void test_pipeline_cancel_behind(void **state)
{
	struct fix *f = fix_pipe();
	struct req a, b;

	*state = f;
	start_get(f, &a, "/9,1", sizeof(a.buf));
	start_get(f, &b, "/9,2", sizeof(b.buf));
	int fd = read_three(f, -1, "/9,1", "/9,2", NULL);
	kelp_http_client_cancel(f->c, &b.call);
	run(f, &b);
	assert_int_equal(b.err, -ECANCELED);
	assert_int_equal(ss_wait_closed(&f->srv, fd), 0);
	close(fd);
	int fd2 = accept_request(f, "/9,1"); /* a again */
	assert_false(a.done);
	assert_int_equal(ss_send_str(&f->srv, fd2, RESP_A), 0);
	run(f, &a);
	assert_int_equal(a.err, 0);
	assert_body(&a, "aaaaa");
	assert_int_equal(stats(f).stale_retries, 1);
	assert_pool(f, 1, 1);
	close(fd2);
}

static int no_setup(void **state)
{
	*state = NULL;
	return 0;
}

static int maybe_teardown(void **state)
{
	return *state ? teardown(state) : 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_keepalive_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_response_in_pieces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connection_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_keepalive_retried_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_retry_only_once_and_not_on_fresh, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_timeout, no_setup, maybe_teardown),
		cmocka_unit_test_setup_teardown(test_cancel, no_setup, maybe_teardown),
		cmocka_unit_test_setup_teardown(test_waiting_call_gets_freed_connection, no_setup,
						maybe_teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_body_larger_than_dst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chunked_and_eof_bodies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_extra_bytes_close_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_head, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_with_calls, no_setup, maybe_teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_answers_in_order, no_setup,
						maybe_teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_server_closes_midway, no_setup,
						maybe_teardown),
		cmocka_unit_test_setup_teardown(test_cut_oversize_body, no_setup, maybe_teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_cancel_behind, no_setup,
						maybe_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
