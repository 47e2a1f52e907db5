/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelpd's RDMA reader (lcore/rdma/rdma_reader.c) and the lcore's routing of non-local reads
 * (lcore/worker/lcore.c route_remote: RDMA, straight to HTTP = "bypassed", or re-read over HTTP
 * after an RDMA failure = "fallback"), without real RDMA: a real lcore and client session driven in
 * one thread (as test_lcore_session.c), the reader's connections on the fake verbs of fake_verbs.h,
 * an exporter lcore (nic/conn_export.c) on the same fake wire, a fake clock, and a fake TCP
 * handshake that the reader's handshake thread runs and the test answers (so "connecting" lasts
 * exactly as long as the test wants). The test plays the control thread: HTTP fallback reads are
 * the KELP_MSG_REMOTE_READ messages the lcore sends it; it answers them with KELP_CQE_PATH_HTTP. No
 * assertion depends on timing. (The real verbs and TCP: test/rdma/test_kelpd_rdma_read.sh.)
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
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
#include "core/idx.h"
#include "core/needle.h"
#include "core/volume.h"
#include "lcore/cluster/discovery.h"
#include "lcore/engine.h"
#include "lcore/worker/lcore.h"
#include "lcore/worker/lsession.h"
#include "lcore/rdma/rdma_reader.h"
#include "nic/conn.h"
#include "nic/device.h"
#include "nic/mr.h"
#include "shm/session.h"

#include "test/unit/fake_verbs.h"

#define VID_A	    9		    /* on volume server VS_A */
#define VID_B	    10		    /* moves from VS_A to VS_B */
#define VS_A	    "10.0.0.1:8080" /* no [rdma] peers entry: its host, PEER_PORT */
#define VS_B	    "10.0.0.2:8080" /* [rdma] peers entry: 10.9.9.2:7000 */
#define PEER_PORT   18515
#define TIMEOUT_MS  500
#define BUF	    16384
#define HTTP_RESULT 4321 /* what the test's "HTTP fallback" answers */

static uint8_t needle[10000]; /* what the exporter serves for every fid: bytes i*7 */

static uint64_t fake_clock(void)
{
	return __atomic_load_n(&F.now, __ATOMIC_RELAXED);
}

/* ---- the fake TCP handshake: the reader's handshake thread asks, the test answers ----------- */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool asked, answered;
	bool closing; /* teardown: refuse every handshake at once */
	char host[64];
	uint16_t port;
	struct kelp_rdma_hello mine, ack;
	int rc;
	unsigned calls;
} H = {.lock = PTHREAD_MUTEX_INITIALIZER}; /* cond: main(), on the monotonic clock */

static int fake_handshake(const char *host, uint16_t port, const struct kelp_rdma_hello *mine,
			  struct kelp_rdma_hello *ack, int timeout_ms)
{
	int rc;

	pthread_mutex_lock(&H.lock);
	snprintf(H.host, sizeof(H.host), "%s", host);
	H.port = port;
	H.mine = *mine;
	H.asked = true;
	H.calls++;
	pthread_cond_broadcast(&H.cond);
	while (!H.answered && !H.closing)
		pthread_cond_wait(&H.cond, &H.lock);
	rc = H.closing ? -ECONNREFUSED : H.rc;
	H.answered = H.asked = false;
	*ack = H.ack;
	pthread_mutex_unlock(&H.lock);
	return rc;
}

/* Wait until the handshake thread has asked (a 120 s bound on the monotonic clock: a hang guard
 * for a broken reader, not a timing check). */
static void hs_wait_asked(const char *host, uint16_t port, struct kelp_rdma_hello *mine)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += 120;
	char asked_host[sizeof(H.host)];
	uint16_t asked_port;
	int rc = 0;

	/* no assertion under the lock: a failing one would leave it held for teardown */
	pthread_mutex_lock(&H.lock);
	while (!H.asked && rc == 0)
		rc = pthread_cond_timedwait(&H.cond, &H.lock, &until);
	memcpy(asked_host, H.host, sizeof(asked_host));
	asked_port = H.port;
	*mine = H.mine;
	pthread_mutex_unlock(&H.lock);
	assert_int_equal(rc, 0);
	assert_string_equal(asked_host, host);
	assert_int_equal(asked_port, port);
}

static void hs_answer(int rc, const struct kelp_rdma_hello *ack)
{
	pthread_mutex_lock(&H.lock);
	H.rc = rc;
	if (ack)
		H.ack = *ack;
	H.answered = true;
	pthread_cond_broadcast(&H.cond);
	pthread_mutex_unlock(&H.lock);
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
	struct kelp_rdma_dev *dev;
	struct ibv_mr *arena_mr;
	struct kelp_rdma_reader *rd;
	struct fake_cq *rcq;	       /* the reader's CQ */
	struct kelp_rdma_lcore *elc;   /* the kelpd beside VS_A (exporter side) */
	struct kelp_rdma_lcore *elc_b; /* the kelpd beside VS_B */
	struct fake_qp *eqp[8];	       /* exporter QPs, by handshake */
	unsigned n_eqp;
	struct kelp_loc_table *locs[8]; /* every table published (freed at teardown) */
	unsigned n_locs;
	uint8_t *buf;
	unsigned http_reads; /* KELP_MSG_REMOTE_READ messages answered */
};

/* One-sided reads: the exporter's volume VID_A as a reader READs it: a .dat in memory with one
 * record per test key (0x100 + slot, cookie 0xabc, data = needle), registered for remote read,
 * its .idx rows, and the VOLMAP / IDX answers of the exporter's meta op. */
#define OS_RECORDS 4
static struct {
	bool offer;    /* meta answers (else NO_VOLUME, as an exporter without one-sided reads) */
	unsigned busy; /* that many MAPs answered BUSY first (the export still registering) */
	_Alignas(4096) uint8_t dat[64 << 10];
	size_t dat_len;
	uint64_t rec[OS_RECORDS]; /* where each record starts */
	uint8_t idx[OS_RECORDS * KELP_IDX_ROW_SIZE_4];
	struct ibv_mr *mr;
	uint8_t desc[KELP_RDMA_VOLMAP_SIZE];
	unsigned maps, idxs, finds; /* meta MAP / IDX calls, two-sided finds */
} OS;

static int fake_meta(void *arg, uint8_t opcode, uint32_t vid, struct kelp_rdma_source *src)
{
	if (!OS.offer || vid != VID_A)
		return -EHOSTUNREACH;
	if (opcode == KELP_RDMA_OP_IDX) {
		OS.idxs++;
		*src = (struct kelp_rdma_source){
			.data = OS.idx, .size = sizeof(OS.idx), .use_bounce = true};
		return 0;
	}
	if (OS.busy) {
		OS.busy--;
		return -EBUSY;
	}
	OS.maps++;
	struct kelp_rdma_volmap m = {.volume_id = VID_A,
				     .generation = 1,
				     .dat_addr = (uintptr_t)OS.dat,
				     .dat_len = OS.dat_len,
				     .dat_rkey = OS.mr->rkey,
				     .file_id = 7,
				     .idx_len = sizeof(OS.idx),
				     .offset_bytes = 4,
				     .version = 3};
	assert_int_equal(kelp_rdma_volmap_encode(&m, OS.desc, sizeof(OS.desc)),
			 KELP_RDMA_VOLMAP_SIZE);
	*src = (struct kelp_rdma_source){
		.data = OS.desc, .size = sizeof(OS.desc), .use_bounce = true};
	return 0;
}

static int find_needle(void *arg, const struct kelp_fid *fid, struct kelp_rdma_source *src)
{
	OS.finds++;
	*src = (struct kelp_rdma_source){.data = needle,
					 .size = sizeof(needle),
					 .crc = kelp_crc32c(0, needle, sizeof(needle)),
					 .use_bounce = true};
	return 0;
}

/* Publish a location table: @vid[i] on @url[i]. */
static void publish_locations(struct fixture *fx, const uint32_t *vid, const char *const *url,
			      unsigned n)
{
	struct kelp_loc_table *t = calloc(1, sizeof(*t) + n * sizeof(t->vols[0]));

	t->version = fx->n_locs + 1;
	t->count = n;
	for (unsigned i = 0; i < n; i++) { /* callers pass them sorted by vid */
		t->vols[i].vid = vid[i];
		t->vols[i].count = 1;
		snprintf(t->vols[i].url[0], sizeof(t->vols[i].url[0]), "%s", url[i]);
	}
	fx->locs[fx->n_locs++] = t;
	__atomic_store_n(&fx->eng.locations, t, __ATOMIC_RELEASE);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	static const char *const map[] = {VS_B "=10.9.9.2:7000"};

	memset(&F, 0, sizeof(F));
	memset(&OS, 0, sizeof(OS));
	F.ndevices = 1;
	F.now = 1000000000ull;
	H.asked = H.answered = H.closing = false;
	H.calls = 0;
	for (size_t i = 0; i < sizeof(needle); i++)
		needle[i] = (uint8_t)(i * 7);

	snprintf(fx->dir, sizeof(fx->dir), "/tmp/kelp-ut-rdmard.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	const char *dirs[] = {fx->dir}; /* no local volumes */
	assert_int_equal(kelp_volume_set_open(dirs, 1, NULL, NULL, &fx->eng.volumes), 0);
	fx->eng.n_lcores = 1;
	fx->eng.lcores = &fx->lc;
	assert_int_equal(kelp_lcore_init(&fx->lc, &fx->eng, 0, 0), 0);

	struct kelp_rdma_dev_config dcfg = {.device = "auto", .port = 1, .gid_index = 0};
	assert_int_equal(kelp_rdma_dev_open(&fake_ops, &dcfg, NULL, 0, &fx->dev), 0);
	assert_non_null(fx->dev);
	struct kelp_rdma_reader_ident ident = {.reader_id = 77, .incarnation = 5};
	struct kelp_rdma_reader_hooks hooks = {.clock_ns = fake_clock, .handshake = fake_handshake};
	assert_int_equal(kelp_rdma_reader_create(&fx->lc, fx->dev, map, 1, PEER_PORT, TIMEOUT_MS,
						 &ident, &hooks, &fx->rd),
			 0);
	assert_non_null(fx->rd);
	fx->rcq = F.last_cq;
	fx->lc.rdma_reader = fx->rd;
	fx->lc.rdma_route = kelp_rdma_reader_route;
	struct kelp_rdma_lcore_config ecfg = {
		.bounce_slots = 8, .bounce_size = BUF, .clock_ns = fake_clock};
	assert_int_equal(kelp_rdma_lcore_create(fx->dev, &ecfg,
						&(struct kelp_rdma_export_ops){.find = find_needle,
									       .meta = fake_meta},
						&fx->elc),
			 0);
	assert_non_null(fx->elc);
	assert_int_equal(kelp_rdma_lcore_create(fx->dev, &ecfg,
						&(struct kelp_rdma_export_ops){.find = find_needle},
						&fx->elc_b),
			 0);
	assert_non_null(fx->elc_b);

	assert_int_equal(lcore_session_create(1, 64, 1, 1, 0, -1, 0, &fx->srv), 0);
	fx->arena_mr = kelp_rdma_reg_arena(fx->dev, fx->srv->arena, fx->srv->arena_size);
	assert_non_null(fx->arena_mr);
	fx->srv->rdma_mr = fx->arena_mr;
	fx->srv->rdma_rkey = fx->arena_mr->rkey;
	struct kelp_msg m = {.type = KELP_MSG_SESSION_ADD, .session = fx->srv};
	assert_int_equal(kelp_lcore_send(&fx->lc, &m), 0);
	kelp_lcore_poll_once(&fx->lc);
	assert_int_equal(fx->lc.n_sessions, 1);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	fx->peer_sock = sv[1];
	assert_int_equal(kelp_session_alloc(sv[0], -1, &fx->cli), 0);
	assert_non_null(fx->cli);
	assert_int_equal(
		kelp_session_attach(fx->cli, dup(fx->srv->memfd), dup(fx->srv->doorbell_fd)), 0);
	fx->buf = kelp_buf_alloc(fx->cli, 8 * BUF);
	assert_non_null(fx->buf);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	/* every test answers its handshakes; one that failed half-way may not have (or its thread
	 * may be about to ask): refuse them, so that the handshake thread can be joined */
	pthread_mutex_lock(&H.lock);
	bool pending = H.asked;
	H.closing = true;
	pthread_cond_broadcast(&H.cond);
	pthread_mutex_unlock(&H.lock);
	kelp_close(fx->cli);
	close(fx->peer_sock);
	assert_int_equal(kelp_rdma_reader_destroy(fx->rd), 0);
	fx->lc.rdma_reader = NULL;
	fx->lc.rdma_route = NULL;
	assert_int_equal(kelp_rdma_lcore_destroy(fx->elc), 0);
	assert_int_equal(kelp_rdma_lcore_destroy(fx->elc_b), 0);
	assert_int_equal(kelp_rdma_dereg(fx->dev, OS.mr, "one-sided test volume"), 0);
	assert_int_equal(kelp_rdma_dereg(fx->dev, fx->arena_mr, "arena"), 0);
	fx->srv->rdma_mr = NULL;
	lcore_session_destroy(fx->srv);
	kelp_lcore_fini(&fx->lc);
	assert_int_equal(kelp_rdma_dev_close(fx->dev), 0);
	assert_int_equal(F.objects, 0); /* every verbs object was destroyed */
	kelp_volume_set_close(fx->eng.volumes);
	rmdir(fx->dir);
	for (unsigned i = 0; i < fx->n_locs; i++)
		free(fx->locs[i]);
	free(fx);
	assert_false(pending);
	return 0;
}

/* ---- helpers ----------------------------------------------------------------------------------
 */

static struct kelp_rdma_peer_info peer(struct fixture *fx, const char *vs)
{
	struct kelp_rdma_peer_info info[KELP_RDMA_READER_MAX_PEERS];
	size_t n = kelp_rdma_reader_peers(fx->rd, info, KELP_RDMA_READER_MAX_PEERS);

	for (size_t i = 0; i < n; i++)
		if (!strcmp(info[i].vs, vs))
			return info[i];
	fail_msg("no peer for %s", vs);
	return info[0];
}

static size_t n_peers(struct fixture *fx)
{
	struct kelp_rdma_peer_info info[KELP_RDMA_READER_MAX_PEERS];

	return kelp_rdma_reader_peers(fx->rd, info, KELP_RDMA_READER_MAX_PEERS);
}

static void queue_read(struct fixture *fx, uint32_t vid, unsigned slot, uint32_t flags,
		       uint64_t user)
{
	struct kelp_fid fid = {.volume_id = vid, .key = 0x100 + slot, .cookie = 0xabc};

	memset(fx->buf + slot * BUF, 0, BUF);
	assert_int_equal(
		kelp_queue_read_flags(fx->cli, &fid, 0, fx->buf + slot * BUF, BUF, flags, user), 0);
	assert_int_equal(kelp_submit(fx->cli), 1);
	kelp_lcore_poll_once(&fx->lc); /* the lcore routes it */
}

/* Play the control thread: answer every read the lcore handed to HTTP. Return how many. */
static unsigned serve_http(struct fixture *fx)
{
	struct kelp_msg m;
	unsigned n = 0;

	while (kelp_ring_dequeue_burst(&fx->lc.to_ctl.cons, &m, 1) == 1) {
		assert_int_equal(m.type, KELP_MSG_REMOTE_READ);
		struct kelp_remote_read *r = m.remote;
		assert_false(r->rdma_only); /* never over HTTP */
		assert_null(r->path_priv);
		r->result = HTTP_RESULT;
		r->cqe_flags = KELP_CQE_PATH_HTTP;
		struct kelp_msg done = {.type = KELP_MSG_REMOTE_DONE, .remote = r};
		assert_int_equal(kelp_lcore_send(&fx->lc, &done), 0);
		n++;
	}
	fx->http_reads += n;
	return n;
}

/* Run the lcore a few rounds (bounded: it stays busy while a handshake is pending). */
static void spin(struct fixture *fx)
{
	for (int i = 0; i < 6; i++)
		kelp_lcore_poll_once(&fx->lc);
}

/* Collect exactly @n completions, answering HTTP reads meanwhile, and no more. */
static void collect(struct fixture *fx, struct kelp_cqe *c, int n)
{
	int got = 0;

	for (int round = 0; round < 8 && got < n; round++) {
		spin(fx);
		serve_http(fx);
		spin(fx);
		got += kelp_poll(fx->cli, c + got, (unsigned)(n - got));
	}
	assert_int_equal(got, n);
	spin(fx);
	assert_int_equal(serve_http(fx), 0);
	assert_int_equal(kelp_poll(fx->cli, c, 1), 0); /* nothing answered twice */
}

/* The reader's QP talking to exporter QP @eqp. */
static struct fake_qp *reader_qp(struct fake_qp *eqp)
{
	struct fake_qp *q = qp_by_num(eqp->dest_qpn);

	assert_non_null(q);
	return q;
}

/* Answer the pending handshake for @host:@port as the kelpd with exporter lcore @elc would: a new
 * exporter connection established with the reader's HELLO; then run the lcore until the peer for
 * @vs is UP. */
static struct fake_qp *connect_peer_on(struct fixture *fx, struct kelp_rdma_lcore *elc,
				       const char *vs, const char *host, uint16_t port)
{
	struct kelp_rdma_hello mine, ack;

	hs_wait_asked(host, port, &mine);
	assert_int_equal(mine.reader_id, 77); /* the reader's identity travels in its HELLO */
	assert_int_equal(mine.incarnation, 5);
	assert_int_equal(mine.lane, 0);
	assert_int_equal(peer(fx, vs).state, KELP_RDMA_CONNECTING);
	struct kelp_rdma_conn *ec;
	assert_int_equal(kelp_rdma_conn_create(elc, KELP_RDMA_EXPORTER, 64, &ec), 0);
	assert_non_null(ec);
	struct fake_qp *eqp = F.last_qp;
	assert_int_equal(kelp_rdma_conn_establish(ec, &mine, F.now), 0);
	assert_int_equal(kelp_rdma_conn_hello(ec, &ack), 0);
	hs_answer(0, &ack);
	/* the thread publishes its answer after the fake returns: poll until the lcore took it
	 * (bounded by iterations; the outcome does not depend on how long that takes) */
	for (long i = 0; i < 10000000 && peer(fx, vs).state == KELP_RDMA_CONNECTING; i++) {
		kelp_lcore_poll_once(&fx->lc);
		sched_yield();
	}
	assert_int_equal(peer(fx, vs).state, KELP_RDMA_UP);
	fx->eqp[fx->n_eqp++] = eqp;
	return eqp;
}

static struct fake_qp *connect_peer(struct fixture *fx, const char *vs, const char *host,
				    uint16_t port)
{
	return connect_peer_on(fx, fx->elc, vs, host, port);
}

/* As connect_peer, but the TCP handshake fails with @rc; the peer ends DOWN. */
static void refuse_peer(struct fixture *fx, const char *vs, const char *host, uint16_t port, int rc)
{
	struct kelp_rdma_hello mine;

	hs_wait_asked(host, port, &mine);
	hs_answer(rc, NULL);
	for (long i = 0; i < 10000000 && peer(fx, vs).state == KELP_RDMA_CONNECTING; i++) {
		kelp_lcore_poll_once(&fx->lc);
		sched_yield();
	}
	assert_int_equal(peer(fx, vs).state, KELP_RDMA_DOWN);
}

/* Carry the requests posted by the reader to exporter @eqp and its replies back. */
static void wire_round_trip_on(struct fixture *fx, struct kelp_rdma_lcore *elc, struct fake_qp *eqp)
{
	struct kelp_rdma_done none[KELP_RDMA_POLL_BATCH];

	wire_deliver(&reader_qp(eqp)->qp);
	for (int i = 0; i < 3; i++)
		assert_int_equal(kelp_rdma_lcore_poll(elc, none, KELP_RDMA_POLL_BATCH), 0);
	wire_deliver(&eqp->qp);
	for (int i = 0; i < 3; i++)
		assert_int_equal(kelp_rdma_lcore_poll(elc, none, KELP_RDMA_POLL_BATCH), 0);
}

static void wire_round_trip(struct fixture *fx, struct fake_qp *eqp)
{
	wire_round_trip_on(fx, fx->elc, eqp);
}

static void assert_rdma_read(struct fixture *fx, const struct kelp_cqe *c, unsigned slot)
{
	assert_int_equal(c->result, (int32_t)sizeof(needle));
	assert_int_equal(c->flags & KELP_CQE_PATH_MASK, KELP_CQE_PATH_RDMA);
	assert_true(c->flags & KELP_CQE_F_CRC_CHECKED);
	assert_memory_equal(fx->buf + slot * BUF, needle, sizeof(needle));
}

static void assert_http_read(const struct kelp_cqe *c)
{
	assert_int_equal(c->result, HTTP_RESULT);
	assert_int_equal(c->flags & KELP_CQE_PATH_MASK, KELP_CQE_PATH_HTTP);
}

/* Bring VS_A's peer up: locations published, a first read (bypassed) starts the handshake. */
static struct fake_qp *bring_up_a(struct fixture *fx)
{
	static const uint32_t vids[] = {VID_A, VID_B};
	static const char *const urls[] = {VS_A, VS_A};
	struct kelp_cqe c;

	publish_locations(fx, vids, urls, 2);
	queue_read(fx, VID_A, 0, 0, 1);
	struct fake_qp *eqp = connect_peer(fx, VS_A, "10.0.0.1", PEER_PORT);
	collect(fx, &c, 1);
	assert_http_read(&c);
	return eqp;
}

/* ---- tests ------------------------------------------------------------------------------------
 */

/* A volume not located yet goes to HTTP without creating a peer; once located, its first read
 * creates the peer for its server, starts one handshake and goes to HTTP (bypassed) while the
 * peer connects; once UP, reads go over RDMA with the exporter's bytes. */
static void test_lazy_peer_then_rdma(void **state)
{
	struct fixture *fx = *state;
	struct kelp_cqe c[4];
	static const uint32_t vids[] = {VID_A};
	static const char *const urls[] = {VS_A};

	queue_read(fx, VID_A, 0, 0, 1);
	collect(fx, c, 1);
	assert_http_read(&c[0]);
	assert_int_equal(n_peers(fx), 0);

	publish_locations(fx, vids, urls, 1);
	queue_read(fx, VID_A, 0, 0, 2);
	queue_read(fx, VID_A, 1, 0, 3);
	assert_int_equal(n_peers(fx), 1);
	struct kelp_rdma_peer_info p = peer(fx, VS_A);
	assert_string_equal(p.addr, "10.0.0.1:18515");
	assert_int_equal(p.state, KELP_RDMA_CONNECTING);
	assert_int_equal(p.bypassed, 2);
	assert_int_equal(p.connects, 1); /* one handshake for both reads */
	collect(fx, c, 2);
	assert_http_read(&c[0]);
	assert_http_read(&c[1]);
	struct fake_qp *eqp = connect_peer(fx, VS_A, "10.0.0.1", PEER_PORT);
	assert_int_equal(H.calls, 1);

	queue_read(fx, VID_A, 2, 0, 4);
	queue_read(fx, VID_A, 3, 0, 5);
	assert_int_equal(serve_http(fx), 0); /* not bypassed */
	assert_int_equal(peer(fx, VS_A).in_flight, 2);
	wire_round_trip(fx, eqp);
	collect(fx, c, 2);
	assert_int_equal(c[0].user_data + c[1].user_data, 9);
	assert_rdma_read(fx, &c[0], (unsigned)c[0].user_data - 2);
	assert_rdma_read(fx, &c[1], (unsigned)c[1].user_data - 2);
	p = peer(fx, VS_A);
	assert_int_equal(p.requests, 2);
	assert_int_equal(p.replies, 2);
	assert_int_equal(p.bypassed, 2);
	assert_int_equal(p.fallbacks, 0);
	assert_int_equal(fx->http_reads, 3);
}

/* A connection failure (a failed completion) sends every read in flight on it to HTTP exactly
 * once; the peer goes DOWN with a backoff: reads meanwhile go to HTTP without a handshake; after
 * the backoff a read starts one, and once UP again reads go over RDMA. */
static void test_failure_falls_back_once_then_backoff(void **state)
{
	struct fixture *fx = *state;
	struct kelp_cqe c[4];
	struct fake_qp *eqp = bring_up_a(fx);
	struct fake_qp *rqp = reader_qp(eqp);

	for (unsigned i = 0; i < 3; i++)
		queue_read(fx, VID_A, i, 0, 10 + i);
	assert_int_equal(peer(fx, VS_A).in_flight, 3);
	assert_int_equal(rqp->sq_n, 3);
	/* the first request's send fails (retry exceeded); the others are lost with the QP */
	cq_push(rqp->qp.send_cq,
		(struct ibv_wc){.wr_id = rqp->sq[0].wr_id, .status = IBV_WC_RETRY_EXC_ERR});
	rqp->sq_n = 0;
	unsigned http_before = fx->http_reads;
	collect(fx, c, 3);
	uint64_t seen = 0;
	for (int i = 0; i < 3; i++) {
		assert_http_read(&c[i]);
		seen |= 1ull << (c[i].user_data - 10);
	}
	assert_int_equal(seen, 7); /* each read answered once, none lost */
	assert_int_equal(fx->http_reads - http_before, 3);
	struct kelp_rdma_peer_info p = peer(fx, VS_A);
	assert_int_equal(p.state, KELP_RDMA_DOWN);
	assert_int_equal(p.fallbacks, 3);
	assert_int_equal(p.resets, 1);
	assert_int_equal(p.in_flight, 0);
	assert_true(p.retry_in_ms > 0 && p.retry_in_ms <= 100);

	/* within the backoff: HTTP, no handshake */
	F.now += 50 * 1000000ull;
	queue_read(fx, VID_A, 0, 0, 20);
	assert_int_equal(peer(fx, VS_A).connects, 1); /* no handshake asked */
	collect(fx, c, 1);
	assert_http_read(&c[0]);
	assert_int_equal(peer(fx, VS_A).connects, 1);

	/* after it: one handshake, that read still over HTTP, then RDMA again */
	F.now += 60 * 1000000ull;
	queue_read(fx, VID_A, 0, 0, 21);
	eqp = connect_peer(fx, VS_A, "10.0.0.1", PEER_PORT);
	assert_int_equal(peer(fx, VS_A).connects, 2);
	collect(fx, c, 1);
	assert_http_read(&c[0]);
	queue_read(fx, VID_A, 1, 0, 22);
	wire_round_trip(fx, eqp);
	collect(fx, c, 1);
	assert_int_equal(c[0].user_data, 22);
	assert_rdma_read(fx, &c[0], 1);
}

/* A failed handshake (TCP refused) leaves the peer DOWN with a backoff that doubles on each
 * failure; reads go to HTTP throughout. */
static void test_refused_handshake_backs_off(void **state)
{
	struct fixture *fx = *state;
	struct kelp_cqe c[1];
	static const uint32_t vids[] = {VID_A};
	static const char *const urls[] = {VS_A};

	publish_locations(fx, vids, urls, 1);
	queue_read(fx, VID_A, 0, 0, 1);
	refuse_peer(fx, VS_A, "10.0.0.1", PEER_PORT, -ECONNREFUSED);
	collect(fx, c, 1);
	assert_http_read(&c[0]);
	assert_int_equal(peer(fx, VS_A).retry_in_ms, 100);

	F.now += 100 * 1000000ull;
	queue_read(fx, VID_A, 0, 0, 2);
	refuse_peer(fx, VS_A, "10.0.0.1", PEER_PORT, -ETIMEDOUT);
	collect(fx, c, 1);
	assert_http_read(&c[0]);
	assert_int_equal(peer(fx, VS_A).retry_in_ms, 200);
	F.now += 199 * 1000000ull;
	queue_read(fx, VID_A, 0, 0, 3);
	assert_int_equal(peer(fx, VS_A).connects, 2); /* no handshake asked */
	collect(fx, c, 1);
	struct kelp_rdma_peer_info p = peer(fx, VS_A);
	assert_int_equal(p.connects, 2);
	assert_int_equal(p.bypassed, 3);
	assert_int_equal(H.calls, 2);
}

/* No reply within the request timeout (by the fake clock) fails the connection: the reads in
 * flight go to HTTP once each, a late reply is not delivered twice. */
static void test_request_timeout_falls_back(void **state)
{
	struct fixture *fx = *state;
	struct kelp_cqe c[2];
	struct fake_qp *eqp = bring_up_a(fx);

	queue_read(fx, VID_A, 0, 0, 30);
	queue_read(fx, VID_A, 1, 0, 31);
	spin(fx);
	F.now += (TIMEOUT_MS - 1) * 1000000ull;
	spin(fx);
	assert_int_equal(peer(fx, VS_A).state, KELP_RDMA_UP); /* not yet */
	assert_int_equal(serve_http(fx), 0);
	F.now += 2 * 1000000ull;
	collect(fx, c, 2);
	assert_int_equal(c[0].user_data + c[1].user_data, 61);
	assert_http_read(&c[0]);
	assert_http_read(&c[1]);
	struct kelp_rdma_peer_info p = peer(fx, VS_A);
	assert_int_equal(p.state, KELP_RDMA_DOWN);
	assert_int_equal(p.fallbacks, 2);
	/* the reset destroyed the reader's QP with the requests it held (a new one waits for the
	 * next handshake): a late answer to the old QPN reaches no QP; nothing completes again */
	assert_null(qp_by_num(eqp->dest_qpn));
	wire_deliver(&eqp->qp);
	spin(fx);
	assert_int_equal(serve_http(fx), 0);
	assert_int_equal(kelp_poll(fx->cli, c, 2), 0);
}

/* A volume whose location changes routes to the new server's peer ([rdma] peers address). */
static void test_location_change_routes_to_new_peer(void **state)
{
	struct fixture *fx = *state;
	struct kelp_cqe c[1];
	struct fake_qp *eqp_a = bring_up_a(fx);

	queue_read(fx, VID_B, 0, 0, 40);
	wire_round_trip(fx, eqp_a);
	collect(fx, c, 1);
	assert_rdma_read(fx, &c[0], 0);
	assert_int_equal(peer(fx, VS_A).requests, 1);

	static const uint32_t vids[] = {VID_A, VID_B};
	static const char *const urls[] = {VS_A, VS_B};
	publish_locations(fx, vids, urls, 2);
	queue_read(fx, VID_B, 1, 0, 41);
	assert_int_equal(n_peers(fx), 2);
	assert_string_equal(peer(fx, VS_B).addr, "10.9.9.2:7000");
	struct fake_qp *eqp_b = connect_peer_on(fx, fx->elc_b, VS_B, "10.9.9.2", 7000);
	collect(fx, c, 1);
	assert_http_read(&c[0]);
	queue_read(fx, VID_B, 2, 0, 42);
	assert_int_equal(reader_qp(eqp_b)->sq_n, 1);
	assert_int_equal(reader_qp(eqp_a)->sq_n, 0);
	wire_round_trip_on(fx, fx->elc_b, eqp_b);
	collect(fx, c, 1);
	assert_rdma_read(fx, &c[0], 2);
	assert_int_equal(peer(fx, VS_B).requests, 1);
	assert_int_equal(peer(fx, VS_A).requests, 1);
}

/* KELP_SQE_F_RDMA_ONLY: never over HTTP. -ENOTCONN while the volume is not located or its peer is
 * connecting or backing off; -ECONNRESET, once, when the connection fails under it; over RDMA
 * when UP. */
static void test_rdma_only_never_http(void **state)
{
	struct fixture *fx = *state;
	struct kelp_cqe c[2];
	static const uint32_t vids[] = {VID_A};
	static const char *const urls[] = {VS_A};

	queue_read(fx, VID_A, 0, KELP_SQE_F_RDMA_ONLY, 1); /* not located */
	collect(fx, c, 1);
	assert_int_equal(c[0].result, -ENOTCONN);
	publish_locations(fx, vids, urls, 1);
	queue_read(fx, VID_A, 0, KELP_SQE_F_RDMA_ONLY, 2); /* connecting */
	collect(fx, c, 1);
	assert_int_equal(c[0].result, -ENOTCONN);
	struct fake_qp *eqp = connect_peer(fx, VS_A, "10.0.0.1", PEER_PORT);

	queue_read(fx, VID_A, 0, KELP_SQE_F_RDMA_ONLY, 3);
	wire_round_trip(fx, eqp);
	collect(fx, c, 1);
	assert_rdma_read(fx, &c[0], 0);

	queue_read(fx, VID_A, 0, KELP_SQE_F_RDMA_ONLY, 4);
	queue_read(fx, VID_A, 1, KELP_SQE_F_RDMA_ONLY, 5);
	struct fake_qp *rqp = reader_qp(eqp);
	cq_push(rqp->qp.send_cq,
		(struct ibv_wc){.wr_id = rqp->sq[1].wr_id, .status = IBV_WC_RETRY_EXC_ERR});
	rqp->sq_n = 0;
	collect(fx, c, 2); /* serve_http() asserts no RDMA-only read reaches it */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(c[i].result, -ECONNRESET);
		assert_int_equal(c[i].flags & KELP_CQE_PATH_MASK, KELP_CQE_PATH_NONE);
	}
	queue_read(fx, VID_A, 0, KELP_SQE_F_RDMA_ONLY, 6); /* backing off */
	collect(fx, c, 1);
	assert_int_equal(c[0].result, -ENOTCONN);
	assert_int_equal(fx->http_reads, 0);
	assert_int_equal(peer(fx, VS_A).fallbacks, 2);
}

/* Credits: with every credit of the peer in use, the next read goes straight to HTTP (counted
 * as bypassed); a reply returns a credit and reads use RDMA again. */
static void test_no_credit_goes_to_http(void **state)
{
	struct fixture *fx = *state;
	struct kelp_cqe c[KELP_RDMA_READER_CREDITS + 1];
	struct fake_qp *eqp = bring_up_a(fx);
	uint64_t bypassed = peer(fx, VS_A).bypassed;

	/* 8 buffers of the arena, reused: the bytes are checked on the last round only */
	for (unsigned i = 0; i < KELP_RDMA_READER_CREDITS; i++) {
		struct kelp_fid fid = {.volume_id = VID_A, .key = i, .cookie = 1};
		assert_int_equal(kelp_queue_read(fx->cli, &fid, 0, fx->buf + (i % 8) * BUF, BUF, i),
				 0);
		if (i % 8 == 7) {
			assert_int_equal(kelp_submit(fx->cli), 8);
			kelp_lcore_poll_once(&fx->lc);
		}
	}
	assert_int_equal(peer(fx, VS_A).in_flight, KELP_RDMA_READER_CREDITS);
	queue_read(fx, VID_A, 0, 0, 100);
	assert_int_equal(peer(fx, VS_A).bypassed, bypassed + 1);
	assert_int_equal(serve_http(fx), 1);
	/* the exporter serves 8 at a time (its bounce pool): carry until all are answered */
	int got = 0;
	for (int round = 0; round < 16 && got < KELP_RDMA_READER_CREDITS + 1; round++) {
		wire_round_trip(fx, eqp);
		spin(fx);
		got += kelp_poll(fx->cli, c + got, (unsigned)(KELP_RDMA_READER_CREDITS + 1 - got));
	}
	assert_int_equal(got, KELP_RDMA_READER_CREDITS + 1);
	assert_int_equal(serve_http(fx), 0);
	int rdma = 0;
	for (int i = 0; i < KELP_RDMA_READER_CREDITS + 1; i++)
		rdma += (c[i].flags & KELP_CQE_PATH_MASK) == KELP_CQE_PATH_RDMA;
	assert_int_equal(rdma, KELP_RDMA_READER_CREDITS);
	queue_read(fx, VID_A, 0, 0, 101);
	assert_int_equal(peer(fx, VS_A).in_flight, 1);
	wire_round_trip(fx, eqp);
	collect(fx, c, 1);
	assert_rdma_read(fx, &c[0], 0);
}

/* ---- one-sided reads -------------------------------------------------------------------------
 */

/* Build OS.dat (version 3 records, with a name and a MIME type after the data so the fields
 * straddle the client's buffer and the staging tail) and OS.idx; register OS.dat. */
static void os_build(struct fixture *fx)
{
	size_t off = 8; /* a superblock's worth */

	for (unsigned i = 0; i < OS_RECORDS; i++) {
		struct kelp_needle n = {.cookie = 0xabc,
					.key = 0x100 + i,
					.data = needle,
					.data_size = sizeof(needle),
					.flags = KELP_NEEDLE_FLAG_NAME | KELP_NEEDLE_FLAG_MIME,
					.name = (const uint8_t *)"a.bin",
					.name_len = 5,
					.mime = (const uint8_t *)"application/x-test",
					.mime_len = 18,
					.stored_crc = kelp_crc32c(0, needle, sizeof(needle))};
		int64_t len = kelp_needle_encode(3, &n, OS.dat + off, sizeof(OS.dat) - off);

		assert_true(len > 0);
		OS.rec[i] = off;
		struct kelp_idx_row row = {.key = n.key,
					   .offset = off / KELP_DAT_ALIGN,
					   .size = kelp_needle_body_size(3, &n)};
		assert_true(kelp_idx_encode_row(&row, 4, OS.idx + i * KELP_IDX_ROW_SIZE_4) >= 0);
		off += (size_t)len;
	}
	OS.dat_len = off;
	OS.mr = fx->dev->ops->reg_mr(fx->dev->pd, OS.dat, sizeof(OS.dat), IBV_ACCESS_REMOTE_READ);
	assert_non_null(OS.mr);
	OS.offer = true;
}

/* One-sided reads on, VS_A up, OS built; a first read (two-sided) asks for the VOLMAP, then the
 * index is fetched: afterwards reads of VID_A are one-sided. */
static struct fake_qp *os_warm_up(struct fixture *fx)
{
	struct kelp_cqe c;

	assert_int_equal(kelp_rdma_reader_one_sided(fx->rd), 0);
	struct fake_qp *eqp = bring_up_a(fx);
	os_build(fx);
	queue_read(fx, VID_A, 0, 0, 1);
	wire_round_trip(fx, eqp); /* the READ and the MAP */
	collect(fx, &c, 1);
	assert_rdma_read(fx, &c, 0);
	assert_int_equal(OS.maps, 1);
	wire_round_trip(fx, eqp); /* the IDX the MAP's answer asked for */
	spin(fx);
	assert_int_equal(OS.idxs, 1);
	assert_int_equal(peer(fx, VS_A).one_sided, 0);
	return eqp;
}

/* Carry the reader's one-sided READs (no exporter CPU: its lcore is not polled). */
static void os_deliver(struct fake_qp *eqp)
{
	wire_deliver(&reader_qp(eqp)->qp);
}

/* A whole-needle read the index knows is one RDMA READ: the data lands in the client's buffer, the
 * reader checks it (CRC too) and completes it; the exporter served nothing for it. */
static void test_one_sided_read(void **state)
{
	struct fixture *fx = *state;
	struct fake_qp *eqp = os_warm_up(fx);
	struct kelp_cqe c[2];
	unsigned finds = OS.finds;

	queue_read(fx, VID_A, 1, 0, 2);
	queue_read(fx, VID_A, 2, 0, 3);
	assert_int_equal(peer(fx, VS_A).in_flight, 2);
	os_deliver(eqp);
	collect(fx, c, 2);
	for (int i = 0; i < 2; i++)
		assert_rdma_read(fx, &c[i], (unsigned)c[i].user_data - 1);
	assert_int_equal(OS.finds, finds); /* no two-sided request */
	struct kelp_rdma_peer_info p = peer(fx, VS_A);
	assert_int_equal(p.one_sided, 2);
	assert_int_equal(p.one_sided_fallbacks, 0);
	assert_int_equal(p.fallbacks, 0);
}

/* Read slot @slot, expecting a one-sided READ that does not verify and then exactly one
 * two-sided request (the exporter's find: its bytes, checked). */
static void os_expect_two_sided_once(struct fixture *fx, struct fake_qp *eqp, unsigned slot,
				     uint64_t user)
{
	struct kelp_cqe c;
	unsigned finds = OS.finds;
	uint64_t fb = peer(fx, VS_A).one_sided_fallbacks;

	queue_read(fx, VID_A, slot, 0, user);
	os_deliver(eqp);
	spin(fx);
	assert_int_equal(peer(fx, VS_A).one_sided_fallbacks, fb + 1);
	assert_int_equal(kelp_poll(fx->cli, &c, 1), 0); /* not completed with what was READ */
	wire_round_trip(fx, eqp);
	collect(fx, &c, 1);
	assert_int_equal(c.user_data, user);
	assert_rdma_read(fx, &c, slot); /* the two-sided answer: needle, CRC checked */
	assert_int_equal(OS.finds, finds + 1);
	assert_int_equal(peer(fx, VS_A).fallbacks, 0);
}

/* What does not verify is read two-sided exactly once, never completed with the READ's bytes:
 * a corrupt data byte (CRC), a record that is not the needle the index promised (another key:
 * overwritten or vacuumed away; another cookie; another size: stale index), a torn record (its
 * data size does not fit its body). */
static void test_one_sided_unverified_goes_two_sided_once(void **state)
{
	struct fixture *fx = *state;
	struct fake_qp *eqp = os_warm_up(fx);

	/* corrupt: one data byte flipped; the two-sided path serves the (intact) needle */
	OS.dat[OS.rec[1] + KELP_NEEDLE_SPLIT_HEAD + 100] ^= 0x40;
	os_expect_two_sided_once(fx, eqp, 1, 10);
	/* the ESTALE cases ask for a fresh VOLMAP at the next read: carry those too */
	/* another cookie in the header */
	OS.dat[OS.rec[2] + 3] ^= 1;
	os_expect_two_sided_once(fx, eqp, 2, 11);
	/* another key */
	OS.dat[OS.rec[3] + 11] ^= 1;
	os_expect_two_sided_once(fx, eqp, 3, 12);
	/* torn: data size larger than the body */
	OS.dat[OS.rec[0] + 16] = 0x7f;
	os_expect_two_sided_once(fx, eqp, 0, 13);
	assert_int_equal(peer(fx, VS_A).one_sided, 0);
}

/* A READ through an rkey the exporter no longer has (deregistered too early, or a restarted
 * exporter) is a remote access error: the connection fails and the read goes to HTTP, never
 * completed with bytes from the READ. */
static void test_one_sided_access_error_goes_to_http(void **state)
{
	struct fixture *fx = *state;
	struct fake_qp *eqp = os_warm_up(fx);
	struct kelp_cqe c;

	assert_int_equal(kelp_rdma_dereg(fx->dev, OS.mr, "test volume"), 0);
	OS.mr = NULL;
	queue_read(fx, VID_A, 1, 0, 20);
	os_deliver(eqp);
	collect(fx, &c, 1);
	assert_http_read(&c);
	struct kelp_rdma_peer_info p = peer(fx, VS_A);
	assert_int_equal(p.one_sided, 0);
	assert_int_equal(p.one_sided_fallbacks, 0); /* not a verification failure */
	assert_int_equal(p.fallbacks, 1);
	assert_int_not_equal(p.state, KELP_RDMA_UP);
}

/* An exporter that does not offer one-sided reads (MAP answered NO_VOLUME): reads stay
 * two-sided, and it is not asked again for KELP_RDMA_ONESIDED_OFF_MS. */
static void test_one_sided_not_offered_stays_two_sided(void **state)
{
	struct fixture *fx = *state;
	struct kelp_cqe c;

	assert_int_equal(kelp_rdma_reader_one_sided(fx->rd), 0);
	struct fake_qp *eqp = bring_up_a(fx);
	OS.offer = false;
	for (unsigned i = 0; i < 3; i++) {
		queue_read(fx, VID_A, i, 0, 30 + i);
		wire_round_trip(fx, eqp);
		collect(fx, &c, 1);
		assert_rdma_read(fx, &c, i);
	}
	assert_int_equal(OS.finds, 3);
	assert_int_equal(peer(fx, VS_A).one_sided, 0);
	/* one MAP asked (refused), not one per read */
	assert_int_equal(peer(fx, VS_A).requests, 4);
}

/* A MAP answered BUSY (the export is still registering the volume, export_map.h) is asked again
 * after KELP_RDMA_ONESIDED_REFRESH_MS, not after the KELP_RDMA_ONESIDED_OFF_MS of a refusal; reads
 * are two-sided meanwhile, then one-sided. */
static void test_one_sided_busy_map_asks_again(void **state)
{
	struct fixture *fx = *state;
	struct kelp_cqe c;

	assert_int_equal(kelp_rdma_reader_one_sided(fx->rd), 0);
	struct fake_qp *eqp = bring_up_a(fx);
	os_build(fx);
	OS.busy = 1;
	queue_read(fx, VID_A, 0, 0, 1);
	wire_round_trip(fx, eqp); /* the READ and the MAP, answered BUSY */
	collect(fx, &c, 1);
	assert_rdma_read(fx, &c, 0);
	assert_int_equal(OS.busy, 0);
	assert_int_equal(OS.maps, 0);
	uint64_t req = peer(fx, VS_A).requests;
	/* not asked again at once */
	queue_read(fx, VID_A, 1, 0, 2);
	wire_round_trip(fx, eqp);
	collect(fx, &c, 1);
	assert_rdma_read(fx, &c, 1);
	assert_int_equal(peer(fx, VS_A).requests, req + 1);
	/* after the refresh interval: the MAP again, then the index, then one-sided */
	F.now += (KELP_RDMA_ONESIDED_REFRESH_MS + 1) * 1000000ull;
	queue_read(fx, VID_A, 2, 0, 3);
	wire_round_trip(fx, eqp); /* the READ and the MAP */
	collect(fx, &c, 1);
	assert_rdma_read(fx, &c, 2);
	assert_int_equal(OS.maps, 1);
	wire_round_trip(fx, eqp); /* the IDX */
	spin(fx);
	assert_int_equal(OS.idxs, 1);
	unsigned finds = OS.finds;
	queue_read(fx, VID_A, 3, 0, 4);
	os_deliver(eqp);
	collect(fx, &c, 1);
	assert_rdma_read(fx, &c, 3);
	assert_int_equal(OS.finds, finds);
	assert_int_equal(peer(fx, VS_A).one_sided, 1);
}

/* A needle whose record lies past the registered region (the page the volume server is still
 * appending into) reads two-sided, with the export's bytes; once a later VOLMAP covers it, its
 * waiting index row is applied and it reads one-sided. */
static void test_one_sided_row_past_region_waits(void **state)
{
	struct fixture *fx = *state;
	struct kelp_cqe c;

	assert_int_equal(kelp_rdma_reader_one_sided(fx->rd), 0);
	struct fake_qp *eqp = bring_up_a(fx);
	os_build(fx);
	size_t full = OS.dat_len;
	OS.dat_len = OS.rec[3]; /* record 3 not registered yet */
	queue_read(fx, VID_A, 0, 0, 1);
	wire_round_trip(fx, eqp);
	collect(fx, &c, 1);
	wire_round_trip(fx, eqp); /* the index */
	spin(fx);
	unsigned finds = OS.finds;
	queue_read(fx, VID_A, 3, 0, 2);
	wire_round_trip(fx, eqp);
	collect(fx, &c, 1);
	assert_rdma_read(fx, &c, 3);
	assert_int_equal(OS.finds, finds + 1); /* two-sided */
	assert_int_equal(peer(fx, VS_A).one_sided, 0);
	/* the region grew; the next read after the refresh interval asks for the VOLMAP */
	OS.dat_len = full;
	F.now += (KELP_RDMA_ONESIDED_REFRESH_MS + 1) * 1000000ull;
	queue_read(fx, VID_A, 0, 0, 3);
	wire_round_trip(fx, eqp); /* the MAP (and the one-sided READ of record 0) */
	collect(fx, &c, 1);
	assert_rdma_read(fx, &c, 0);
	assert_int_equal(OS.maps, 2);
	finds = OS.finds;
	queue_read(fx, VID_A, 3, 0, 4);
	os_deliver(eqp);
	collect(fx, &c, 1);
	assert_rdma_read(fx, &c, 3);
	assert_int_equal(OS.finds, finds); /* one-sided now */
	assert_int_equal(peer(fx, VS_A).one_sided, 2);
}

int main(void)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&H.cond, &ca);
	pthread_condattr_destroy(&ca);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lazy_peer_then_rdma, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_falls_back_once_then_backoff, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_refused_handshake_backs_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_timeout_falls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_location_change_routes_to_new_peer, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rdma_only_never_http, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_credit_goes_to_http, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_sided_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_sided_unverified_goes_two_sided_once,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_sided_access_error_goes_to_http, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_one_sided_not_offered_stays_two_sided, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_one_sided_busy_map_asks_again, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_one_sided_row_past_region_waits, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
