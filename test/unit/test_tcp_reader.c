/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelpd's TCP reader (lcore/tcp/tcp_reader.c) and the lcore's routing to it, against a fake
 * exporter: a thread of this test on a real loopback socket that runs the real handshake
 * (lcore/tcp/tcp_hs.c) and then answers each request the way the test asks: correctly, with the
 * wrong request id, with more bytes than the request's buffer holds, or not at all. A real lcore
 * and client session are driven in one thread (as test_rdma_reader_route.c); the test plays the
 * control thread and answers the reads the lcore hands to HTTP. Checks: good replies complete over
 * TCP with the right bytes; every protocol violation and a silent exporter (no reply for
 * timeout_ms) send the read on to HTTP exactly once, reset the connection and never write past the
 * client's buffer. Waits are bounded loops (hang guards), no assertion depends on timing.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/crc32c.h"
#include "core/volume.h"
#include "lcore/cluster/discovery.h"
#include "lcore/engine.h"
#include "lcore/tcp/tcp_hs.h"
#include "lcore/tcp/tcp_reader.h"
#include "lcore/worker/lcore.h"
#include "lcore/worker/lsession.h"
#include "nic/oob.h"
#include "shm/session.h"

#define VID	    9
#define VS	    "10.0.0.1:8080"
#define BUF	    16384
#define HTTP_RESULT 4321
#define SECRET	    "unit-test-secret-0123"

enum mode { GOOD, BAD_ID, TOO_MANY, SILENT };

static uint8_t needle[10000];

/* ---- the fake exporter ------------------------------------------------------------------------
 */

static struct {
	int lfd;
	uint16_t port;
	int mode; /* atomic: how to answer the next request */
	int stop; /* atomic */
	pthread_t thread;
} X;

static void *exporter(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&X.stop, __ATOMIC_RELAXED)) {
		int fd = accept4(X.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			usleep(1000);
			continue;
		}
		struct kelp_tcp_hello h;
		if (kelp_tcp_hs_serve(fd, SECRET, strlen(SECRET), 0, 2000, &h)) {
			close(fd);
			continue;
		}
		uint8_t f[KELP_TCP_REQ_FRAME_SIZE], hdr[KELP_TCP_REPLY_HDR_SIZE];
		struct kelp_rdma_request rq;
		while (!__atomic_load_n(&X.stop, __ATOMIC_RELAXED)) {
			int rc = kelp_oob_xfer(fd, f, sizeof(f), false, 100);
			if (rc == -ETIMEDOUT)
				continue;
			if (rc || kelp_tcp_request_frame_parse(f, sizeof(f), &rq))
				break;
			int mode = __atomic_load_n(&X.mode, __ATOMIC_RELAXED);
			if (mode == SILENT)
				continue;
			uint32_t n = rq.length < sizeof(needle) ? rq.length : sizeof(needle);
			struct kelp_rdma_reply rp = {.req_id = rq.req_id + (mode == BAD_ID),
						     .written =
							     mode == TOO_MANY ? rq.length + 100 : n,
						     .data_size = rq.length + 100, /* parses */
						     .crc = kelp_crc32c(0, needle, sizeof(needle))};
			if (mode != TOO_MANY) {
				rp.written = n;
				rp.data_size = sizeof(needle);
			}
			kelp_tcp_reply_hdr_encode(&rp, hdr);
			if (kelp_oob_xfer(fd, hdr, sizeof(hdr), true, 2000))
				break;
			/* TOO_MANY: the data the reader must never take (it closes first) */
			uint8_t junk[BUF + 100];
			memset(junk, 0xee, sizeof(junk));
			if (kelp_oob_xfer(fd, mode == TOO_MANY ? junk : needle,
					  mode == TOO_MANY ? rp.written : n, true, 2000))
				break;
		}
		close(fd);
	}
	return NULL;
}

/* ---- fixture ----------------------------------------------------------------------------------
 */

struct fixture {
	char dir[64];
	struct kelp_engine eng;
	struct kelp_lcore lc;
	struct lcore_session *srv;
	struct kelp_session *cli;
	int peer_sock;
	struct kelp_tcp_reader *rd;
	struct kelp_loc_table *locs;
	uint8_t *buf;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	for (size_t i = 0; i < sizeof(needle); i++)
		needle[i] = (uint8_t)(i * 7);
	X.lfd = kelp_rdma_oob_listen("127.0.0.1", 0);
	assert_true(X.lfd >= 0);
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	assert_int_equal(getsockname(X.lfd, (struct sockaddr *)&sa, &sl), 0);
	X.port = ntohs(sa.sin_port);
	X.mode = GOOD;
	X.stop = 0;
	assert_int_equal(pthread_create(&X.thread, NULL, exporter, NULL), 0);

	snprintf(fx->dir, sizeof(fx->dir), "/tmp/kelp-ut-tcprd.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	const char *dirs[] = {fx->dir};
	assert_int_equal(kelp_volume_set_open(dirs, 1, NULL, NULL, &fx->eng.volumes), 0);
	fx->eng.n_lcores = 1;
	fx->eng.lcores = &fx->lc;
	assert_int_equal(kelp_lcore_init(&fx->lc, &fx->eng, 0, 0), 0);

	char map[64];
	snprintf(map, sizeof(map), VS "=127.0.0.1:%u", X.port);
	const char *hosts[] = {map};
	struct kelp_tcp_config cfg = {.hosts = hosts,
				      .n_hosts = 1,
				      .tcp_port = 1,
				      .secret = SECRET,
				      .timeout_ms = 200,
				      .reader_id = 1,
				      .incarnation = 2};
	assert_int_equal(kelp_tcp_reader_create(&fx->lc, &cfg, &fx->rd), 0);
	fx->lc.tcp_reader = fx->rd;
	fx->lc.tcp_route = kelp_tcp_reader_route;

	fx->locs = calloc(1, sizeof(*fx->locs) + sizeof(fx->locs->vols[0]));
	fx->locs->version = 1;
	fx->locs->count = 1;
	fx->locs->vols[0].vid = VID;
	fx->locs->vols[0].count = 1;
	snprintf(fx->locs->vols[0].url[0], sizeof(fx->locs->vols[0].url[0]), VS);
	__atomic_store_n(&fx->eng.locations, fx->locs, __ATOMIC_RELEASE);

	assert_int_equal(lcore_session_create(1, 64, 1, 1, 0, -1, 0, &fx->srv), 0);
	struct kelp_msg m = {.type = KELP_MSG_SESSION_ADD, .session = fx->srv};
	assert_int_equal(kelp_lcore_send(&fx->lc, &m), 0);
	kelp_lcore_poll_once(&fx->lc);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	fx->peer_sock = sv[1];
	assert_int_equal(kelp_session_alloc(sv[0], -1, &fx->cli), 0);
	assert_int_equal(
		kelp_session_attach(fx->cli, dup(fx->srv->memfd), dup(fx->srv->doorbell_fd)), 0);
	fx->buf = kelp_buf_alloc(fx->cli, 4 * BUF);
	assert_non_null(fx->buf);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	__atomic_store_n(&X.stop, 1, __ATOMIC_RELAXED);
	pthread_join(X.thread, NULL);
	close(X.lfd);
	kelp_close(fx->cli);
	close(fx->peer_sock);
	kelp_tcp_reader_destroy(fx->rd);
	fx->lc.tcp_reader = NULL;
	fx->lc.tcp_route = NULL;
	lcore_session_destroy(fx->srv);
	kelp_lcore_fini(&fx->lc);
	kelp_volume_set_close(fx->eng.volumes);
	rmdir(fx->dir);
	free(fx->locs);
	free(fx);
	return 0;
}

/* ---- helpers ----------------------------------------------------------------------------------
 */

static struct kelp_tcp_peer_info peer(struct fixture *fx)
{
	struct kelp_tcp_peer_info info[KELP_TCP_READER_MAX_PEERS] = {0};
	size_t n = kelp_tcp_reader_peers(fx->rd, info, KELP_TCP_READER_MAX_PEERS);

	assert_true(n <= 1); /* none before the first read */
	return info[0];
}

/* Play the control thread: answer every read the lcore handed to HTTP. */
static unsigned serve_http(struct fixture *fx)
{
	struct kelp_msg m;
	unsigned n = 0;

	while (kelp_ring_dequeue_burst(&fx->lc.to_ctl.cons, &m, 1) == 1) {
		assert_int_equal(m.type, KELP_MSG_REMOTE_READ);
		m.remote->result = HTTP_RESULT;
		m.remote->cqe_flags = KELP_CQE_PATH_HTTP;
		struct kelp_msg done = {.type = KELP_MSG_REMOTE_DONE, .remote = m.remote};
		assert_int_equal(kelp_lcore_send(&fx->lc, &done), 0);
		n++;
	}
	return n;
}

static void queue_read(struct fixture *fx, unsigned slot, uint32_t flags)
{
	struct kelp_fid fid = {.volume_id = VID, .key = 0x100 + slot, .cookie = 0xabc};

	memset(fx->buf + slot * BUF, 0, 2 * BUF); /* the buffer and the one after it */
	assert_int_equal(
		kelp_queue_read_flags(fx->cli, &fid, 0, fx->buf + slot * BUF, BUF, flags, slot), 0);
	assert_int_equal(kelp_submit(fx->cli), 1);
	kelp_lcore_poll_once(&fx->lc);
}

/* Run the lcore (and the HTTP side) until one completion arrives; 20 s hang guard. */
static struct kelp_cqe complete(struct fixture *fx, unsigned *http)
{
	struct kelp_cqe c;

	for (int i = 0; i < 20000; i++) {
		kelp_lcore_poll_once(&fx->lc);
		*http += serve_http(fx);
		if (kelp_poll(fx->cli, &c, 1) == 1)
			return c;
		usleep(1000);
	}
	fail_msg("no completion");
	return c;
}

/* Read until the connection is up (the first reads go to HTTP while it connects). */
static void connect_up(struct fixture *fx)
{
	unsigned http = 0;

	for (int i = 0; i < 2000 && peer(fx).state != KELP_TCP_UP; i++) {
		queue_read(fx, 0, 0);
		struct kelp_cqe c = complete(fx, &http);
		assert_int_equal(c.result, HTTP_RESULT);
		usleep(5000);
	}
	assert_int_equal(peer(fx).state, KELP_TCP_UP);
}

/* ---- tests ------------------------------------------------------------------------------------
 */

static void test_good_reads_over_tcp(void **state)
{
	struct fixture *fx = *state;
	unsigned http = 0;

	/* TCP-only before the connection is up: an error, never HTTP */
	queue_read(fx, 0, KELP_SQE_F_TCP_ONLY);
	struct kelp_cqe c = complete(fx, &http);
	assert_int_equal(c.result, -ENOTCONN);
	assert_int_equal(http, 0);
	connect_up(fx);
	for (unsigned slot = 0; slot < 2; slot++) {
		queue_read(fx, slot, slot ? KELP_SQE_F_TCP_ONLY : 0);
		c = complete(fx, &http);
		assert_int_equal(c.result, BUF < sizeof(needle) ? BUF : (int)sizeof(needle));
		assert_int_equal(c.flags & KELP_CQE_PATH_MASK, KELP_CQE_PATH_RDMA);
		assert_true(c.flags & KELP_CQE_F_TCP);
		assert_true(c.flags & KELP_CQE_F_CRC_CHECKED);
		assert_memory_equal(fx->buf + slot * BUF, needle, sizeof(needle));
	}
	struct kelp_tcp_peer_info p = peer(fx);
	assert_int_equal(p.replies, 2);
	assert_int_equal(p.fallbacks, 0);
	assert_int_equal(p.resets, 0);
}

/* A protocol violation @mode: the read goes to HTTP once, the connection resets, nothing lands
 * past the client's buffer. */
static void violation(struct fixture *fx, int mode)
{
	unsigned http = 0;

	connect_up(fx);
	struct kelp_tcp_peer_info before = peer(fx);
	__atomic_store_n(&X.mode, mode, __ATOMIC_RELAXED);
	queue_read(fx, 1, 0);
	struct kelp_cqe c = complete(fx, &http);
	assert_int_equal(c.result, HTTP_RESULT);
	assert_int_equal(c.flags & KELP_CQE_PATH_MASK, KELP_CQE_PATH_HTTP);
	assert_int_equal(http, 1);
	for (size_t i = 0; i < BUF; i++) /* the buffer after the read's own: untouched */
		if (fx->buf[2 * BUF + i])
			fail_msg("byte %zu past the buffer written", i);
	struct kelp_tcp_peer_info p = peer(fx);
	assert_int_equal(p.resets, before.resets + 1);
	assert_int_equal(p.fallbacks, before.fallbacks + 1);
	assert_int_equal(p.in_flight, 0);
	for (int i = 0; i < 100; i++) { /* nothing completes twice */
		kelp_lcore_poll_once(&fx->lc);
		assert_int_equal(serve_http(fx), 0);
		assert_int_equal(kelp_poll(fx->cli, &c, 1), 0);
	}
	/* it reconnects and serves again */
	__atomic_store_n(&X.mode, GOOD, __ATOMIC_RELAXED);
	connect_up(fx);
	queue_read(fx, 0, KELP_SQE_F_TCP_ONLY);
	c = complete(fx, &http);
	assert_true(c.flags & KELP_CQE_F_TCP);
	assert_memory_equal(fx->buf, needle, sizeof(needle));
}

static void test_wrong_request_id(void **state)
{
	violation(*state, BAD_ID);
}

static void test_more_bytes_than_the_buffer(void **state)
{
	violation(*state, TOO_MANY);
}

static void test_silent_exporter_times_out(void **state)
{
	violation(*state, SILENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_good_reads_over_tcp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_request_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_more_bytes_than_the_buffer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_silent_exporter_times_out, setup, teardown),
	};
	return cmocka_run_group_tests_name("tcp_reader", tests, NULL, NULL);
}
