/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nic/conn and nic/device state machines against a fake verbs ops table: handshake, credits,
 * out-of-order completions, connection failure (every request reported once, -ECONNRESET), reset
 * and reconnect with backoff, stale completions, protocol errors, the exporter's reply-slot queue
 * and bounce pool, batched posting (one chain per connection and poll), on the fake verbs of
 * test/unit/fake_verbs.h: a deterministic "wire" between fake QPs in one thread: the test
 * decides when posted work is delivered, in which order completions appear, and which fail.
 * (The real verbs run in test/rdma/ on Soft-RoCE.)
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nic/conn.h"
#include "nic/device.h"
#include "nic/mr.h"

#include "test/unit/fake_verbs.h"

/* ---- fixtures -------------------------------------------------------------------------------- */

static uint8_t needle[10000]; /* the exported needle: bytes i*7 */
static const struct kelp_fid NEEDLE_FID = {.volume_id = 3, .key = 0x1637, .cookie = 0x37d6};

struct export_ctx {
	bool bounce;
	uint32_t lkey;
	bool faulted; /* the needle's mapping lost a page (what kelp_rdma_export_ops.faulted says)
		       */
	int faulted_calls; /* times the exporter asked */
};

static int fake_find(void *arg, const struct kelp_fid *fid, struct kelp_rdma_source *src)
{
	struct export_ctx *ex = arg;

	if (fid->volume_id != NEEDLE_FID.volume_id)
		return -EHOSTUNREACH;
	if (fid->key != NEEDLE_FID.key || fid->cookie != NEEDLE_FID.cookie)
		return -ENOENT;
	*src = (struct kelp_rdma_source){.data = needle,
					 .size = sizeof(needle),
					 .crc = 0xc0ffee,
					 .flags = 0,
					 .lkey = ex->lkey,
					 .use_bounce = ex->bounce,
					 .owner = needle};
	return 0;
}

static int fake_faulted(void *arg, const struct kelp_rdma_source *src)
{
	struct export_ctx *ex = arg;

	assert_ptr_equal(src->owner, needle); /* the source fake_find described */
	ex->faulted_calls++;
	return ex->faulted;
}

static uint64_t fake_clock(void)
{
	return F.now;
}

/* What the next pair_open* configures (each test's setup() resets them): the reader's and the
 * exporter's inline maximum, the exporter's keepalive. */
static uint32_t reader_inline, export_inline, export_probe_ms;
static bool export_events; /* the exporter's CQ gets a completion channel */

struct pair {
	struct kelp_rdma_dev *dev;
	struct kelp_rdma_lcore *rlc, *elc; /* reader lcore, export lcore */
	struct kelp_rdma_conn *rc, *ec;
	struct fake_cq *rcq, *ecq; /* the lcores' CQs */
	struct fake_qp *rqp, *eqp; /* the connections' QPs */
	struct export_ctx ex;
	uint8_t *arena;
	struct ibv_mr *arena_mr;
};

static struct kelp_rdma_dev *open_fake_dev(void)
{
	struct kelp_rdma_dev_config cfg = {.device = "auto", .port = 1, .gid_index = 0};
	char err[128];
	struct kelp_rdma_dev *dev;

	assert_int_equal(kelp_rdma_dev_open(&fake_ops, &cfg, err, sizeof(err), &dev), 0);
	assert_non_null(dev);
	return dev;
}

/* A connected reader/exporter pair; the exporter has @bounce_slots bounce buffers of 4 KiB and
 * serves reads of up to @max_read bytes through them (0: the default, bounded by the pool). */
static void pair_open_pool(struct pair *p, uint16_t reader_credits, uint16_t export_credits,
			   uint32_t bounce_slots, uint32_t max_read)
{
	struct kelp_rdma_lcore_config cfg = {.cq_entries = 1024,
					     .bounce_slots = bounce_slots,
					     .bounce_size = 4096,
					     .max_read = max_read,
					     .inline_max = reader_inline,
					     .clock_ns = fake_clock};
	struct kelp_rdma_hello hello, ack;

	memset(p, 0, sizeof(*p));
	p->dev = open_fake_dev();
	assert_int_equal(kelp_rdma_lcore_create(p->dev, &cfg, NULL, &p->rlc), 0);
	p->rcq = F.last_cq;
	cfg.inline_max = export_inline;
	cfg.idle_probe_ms = export_probe_ms;
	cfg.events = export_events;
	assert_int_equal(kelp_rdma_lcore_create(
				 p->dev, &cfg,
				 &(struct kelp_rdma_export_ops){
					 .find = fake_find, .faulted = fake_faulted, .arg = &p->ex},
				 &p->elc),
			 0);
	p->ecq = F.last_cq;
	assert_non_null(p->rlc);
	assert_non_null(p->elc);
	assert_int_equal(kelp_rdma_conn_create(p->rlc, KELP_RDMA_READER, reader_credits, &p->rc),
			 0);
	p->rqp = F.last_qp;
	assert_int_equal(kelp_rdma_conn_create(p->elc, KELP_RDMA_EXPORTER, export_credits, &p->ec),
			 0);
	p->eqp = F.last_qp;
	assert_non_null(p->rc);
	assert_non_null(p->ec);
	p->arena = calloc(1, 1 << 20);
	p->arena_mr = kelp_rdma_reg_arena(p->dev, p->arena, 1 << 20);
	assert_non_null(p->arena_mr);
	assert_int_equal(((struct fake_mr *)p->arena_mr)->access,
			 IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);

	/* The handshake, as nic/oob carries it. */
	assert_int_equal(kelp_rdma_conn_state(p->rc), KELP_RDMA_DOWN);
	assert_int_equal(kelp_rdma_conn_hello(p->rc, &hello), 0);
	assert_int_equal(kelp_rdma_conn_state(p->rc), KELP_RDMA_CONNECTING);
	assert_int_equal(kelp_rdma_conn_establish(p->ec, &hello, F.now), 0);
	assert_int_equal(kelp_rdma_conn_hello(p->ec, &ack), 0);
	assert_int_equal(kelp_rdma_conn_establish(p->rc, &ack, F.now), 0);
	assert_int_equal(kelp_rdma_conn_state(p->rc), KELP_RDMA_UP);
	assert_int_equal(kelp_rdma_conn_state(p->ec), KELP_RDMA_UP);
}

static void pair_open(struct pair *p, uint16_t reader_credits, uint16_t export_credits)
{
	pair_open_pool(p, reader_credits, export_credits, 4, 0);
}

static void pair_close(struct pair *p)
{
	assert_int_equal(kelp_rdma_dereg(p->dev, p->arena_mr, "arena"), 0);
	assert_int_equal(kelp_rdma_lcore_destroy(p->rlc), 0);
	assert_int_equal(kelp_rdma_lcore_destroy(p->elc), 0);
	assert_int_equal(kelp_rdma_dev_close(p->dev), 0);
	free(p->arena);
	assert_int_equal(F.objects, 0); /* every verbs object was destroyed */
}

static int setup(void **state)
{
	memset(&F, 0, sizeof(F));
	F.ndevices = 1;
	F.now = 1000000000ull;
	reader_inline = export_inline = export_probe_ms = 0;
	export_events = false;
	for (size_t i = 0; i < sizeof(needle); i++)
		needle[i] = (uint8_t)(i * 7);
	return 0;
}

static int submit_read(struct pair *p, uint32_t slot, uint64_t offset, uint32_t len, uintptr_t user)
{
	return kelp_rdma_submit(
		p->rc, &(struct kelp_rdma_read){.opcode = KELP_RDMA_OP_READ,
						.fid = NEEDLE_FID,
						.offset = offset,
						.length = len,
						.addr = (uintptr_t)(p->arena + slot * 16384u),
						.rkey = p->arena_mr->rkey,
						.user = (void *)user});
}

static int poll_all(struct kelp_rdma_lcore *lc, struct kelp_rdma_done *done, int max)
{
	int n = 0, got, idle = 0;

	/* Failures found in one poll are reported by the next: stop after two idle polls. */
	while (idle < 2) {
		assert_true(max - n >= KELP_RDMA_POLL_BATCH);
		got = kelp_rdma_lcore_poll(lc, done + n, max - n);
		assert_true(got >= 0);
		n += got;
		idle = got ? 0 : idle + 1;
	}
	return n;
}

/* The fake QP a connection has now (a new one after every reset). */
static struct fake_qp *conn_fqp(struct kelp_rdma_conn *c)
{
	struct fake_qp *q = qp_by_num(kelp_rdma_conn_qpn(c));

	assert_non_null(q);
	return q;
}

/* @p's QPs as its connections have them now (after a reset and reconnect). */
static void pair_qps(struct pair *p)
{
	p->rqp = conn_fqp(p->rc);
	p->eqp = conn_fqp(p->ec);
}

/* Reader -> exporter, exporter serves, exporter -> reader. */
static void round_trip(struct pair *p)
{
	struct kelp_rdma_done unused[64];

	pair_qps(p);

	wire_deliver(&p->rqp->qp);
	assert_int_equal(poll_all(p->elc, unused, 64), 0); /* export side yields no dones */
	wire_deliver(&p->eqp->qp);
	poll_all(p->elc, unused, 64); /* reply-send completions free reply slots */
}

/* ---- device discovery ------------------------------------------------------------------------ */

static void test_device_discovery(void **state)
{
	struct kelp_rdma_dev_config cfg = {.device = "off", .port = 1, .gid_index = 0};
	struct kelp_rdma_dev *dev;
	char err[128];

	assert_int_equal(kelp_rdma_dev_open(&fake_ops, &cfg, err, sizeof(err), &dev), -ECANCELED);
	assert_null(dev);

	F.ndevices = 0;
	cfg.device = "auto";
	assert_int_equal(kelp_rdma_dev_open(&fake_ops, &cfg, err, sizeof(err), &dev), -ENODEV);
	assert_null(dev);
	assert_non_null(strstr(err, "no RDMA device"));

	F.ndevices = 2;
	cfg.device = "mlx5_9";
	assert_int_equal(kelp_rdma_dev_open(&fake_ops, &cfg, err, sizeof(err), &dev), -ENODEV);
	assert_null(dev);
	assert_non_null(strstr(err, "mlx5_9"));

	cfg.device = "fake1"; /* exists, port down */
	assert_int_equal(kelp_rdma_dev_open(&fake_ops, &cfg, err, sizeof(err), &dev), -ENETDOWN);
	assert_null(dev);

	cfg.device = "auto"; /* skips nothing: fake0 is active */
	cfg.gid_index = -1;  /* picks the IPv4-mapped GID */
	assert_int_equal(kelp_rdma_dev_open(&fake_ops, &cfg, err, sizeof(err), &dev), 0);
	assert_non_null(dev);
	assert_string_equal(dev->name, "fake0");
	assert_int_equal(dev->gid_index, 1);
	assert_false(dev->odp_rc_write_src);
	assert_int_equal(kelp_rdma_dev_close(dev), 0);

	F.port_down = true; /* auto with no active port */
	assert_int_equal(kelp_rdma_dev_open(&fake_ops, &cfg, err, sizeof(err), &dev), -ENODEV);
	assert_null(dev);
	assert_int_equal(F.objects, 0);
}

/* Registration failure of a volume mapping is not fatal: the caller bounces. */
static void test_export_registration_fallback(void **state)
{
	struct kelp_rdma_dev *dev = open_fake_dev();
	enum kelp_rdma_export_mode mode;
	struct ibv_mr *mr;

	mr = kelp_rdma_reg_export(dev, needle, sizeof(needle), &mode);
	assert_non_null(mr);
	assert_int_equal(mode, KELP_RDMA_EXPORT_PINNED);
	assert_int_equal(((struct fake_mr *)mr)->access, 0); /* local read only */
	kelp_rdma_dereg(dev, mr, "volume");
	F.fail_reg_mr = 1;
	assert_null(kelp_rdma_reg_export(dev, needle, sizeof(needle), &mode));
	assert_int_equal(mode, KELP_RDMA_EXPORT_BOUNCE); /* no ODP on this device */
	assert_int_equal(kelp_rdma_dev_close(dev), 0);
	assert_int_equal(F.objects, 0);
}

/* ---- data path ------------------------------------------------------------------------------- */

static void test_read_round_trip(void **state)
{
	struct kelp_rdma_done done[64];
	struct pair p;

	pair_open(&p, 8, 8);
	assert_int_equal(submit_read(&p, 0, 100, 4096, 42), 0);
	assert_int_equal(kelp_rdma_conn_in_flight(p.rc), 1);
	round_trip(&p);
	assert_int_equal(poll_all(p.rlc, done, 64), 1);
	assert_int_equal(done[0].status, 0);
	assert_ptr_equal(done[0].user, (void *)42);
	assert_ptr_equal(done[0].conn, p.rc);
	assert_int_equal(done[0].written, 4096);
	assert_int_equal(done[0].data_size, sizeof(needle));
	assert_int_equal(done[0].crc, 0xc0ffee);
	assert_memory_equal(p.arena, needle + 100, 4096);
	assert_int_equal(kelp_rdma_conn_in_flight(p.rc), 0);

	/* The tail: fewer bytes than asked. A STAT: no bytes, the size. */
	assert_int_equal(submit_read(&p, 1, sizeof(needle) - 10, 4096, 43), 0);
	assert_int_equal(
		kelp_rdma_submit(p.rc, &(struct kelp_rdma_read){.opcode = KELP_RDMA_OP_STAT,
								.fid = NEEDLE_FID,
								.user = (void *)44}),
		0);
	round_trip(&p);
	assert_int_equal(poll_all(p.rlc, done, 64), 2);
	assert_int_equal(done[0].written, 10);
	assert_memory_equal(p.arena + 16384, needle + sizeof(needle) - 10, 10);
	assert_int_equal(done[1].written, 0);
	assert_int_equal(done[1].data_size, sizeof(needle));
	assert_int_equal(kelp_rdma_conn_stats(p.ec)->bytes, 4096 + 10);
	pair_close(&p);
}

static void test_export_errors(void **state)
{
	struct kelp_rdma_done done[64];
	struct pair p;
	struct kelp_fid missing = NEEDLE_FID, novol = NEEDLE_FID;

	pair_open(&p, 8, 8);
	missing.cookie ^= 1;
	novol.volume_id = 99;
	kelp_rdma_submit(p.rc, &(struct kelp_rdma_read){.opcode = KELP_RDMA_OP_READ,
							.fid = missing,
							.length = 10,
							.addr = (uintptr_t)p.arena,
							.rkey = p.arena_mr->rkey});
	kelp_rdma_submit(p.rc, &(struct kelp_rdma_read){.opcode = KELP_RDMA_OP_READ,
							.fid = novol,
							.length = 10,
							.addr = (uintptr_t)p.arena,
							.rkey = p.arena_mr->rkey});
	submit_read(&p, 0, sizeof(needle) + 1, 10, 0); /* offset past the end */
	memset(p.arena, 0xee, 16);
	round_trip(&p);
	assert_int_equal(poll_all(p.rlc, done, 64), 3);
	assert_int_equal(done[0].status, -ENOENT);
	assert_int_equal(done[1].status, -EHOSTUNREACH);
	assert_int_equal(done[2].status, -EINVAL);
	for (int i = 0; i < 3; i++)
		assert_int_equal(done[i].written, 0);
	assert_int_equal(p.arena[0], 0xee); /* nothing was written */
	assert_int_equal(kelp_rdma_conn_state(p.rc), KELP_RDMA_UP);
	/* Bad submissions are refused locally. */
	assert_int_equal(kelp_rdma_submit(p.rc, &(struct kelp_rdma_read){.opcode = 9}), -EINVAL);
	assert_int_equal(
		kelp_rdma_submit(
			p.rc, &(struct kelp_rdma_read){.opcode = KELP_RDMA_OP_READ, .length = 5}),
		-EINVAL);
	assert_int_equal(
		kelp_rdma_submit(p.ec, &(struct kelp_rdma_read){.opcode = KELP_RDMA_OP_STAT}),
		-EINVAL);
	pair_close(&p);
}

/* The handshake grants min(asked, offered); a reader never has more in flight. */
static void test_credits(void **state)
{
	struct kelp_rdma_done done[64];
	struct pair p;

	pair_open(&p, 8, 3);
	assert_int_equal(kelp_rdma_conn_credits(p.rc), 3);
	assert_int_equal(kelp_rdma_conn_credits(p.ec), 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(submit_read(&p, (uint32_t)i, 0, 100, (uintptr_t)i + 1), 0);
	assert_int_equal(submit_read(&p, 3, 0, 100, 4), -EAGAIN);
	round_trip(&p);
	assert_int_equal(poll_all(p.rlc, done, 64), 3);
	assert_int_equal(submit_read(&p, 3, 0, 100, 4), 0);
	round_trip(&p);
	assert_int_equal(poll_all(p.rlc, done, 64), 1);
	assert_int_equal(kelp_rdma_conn_stats(p.rc)->replies, 4);
	pair_close(&p);
}

/* Replies in any order reach the right request (and the right buffer). */
static void test_out_of_order_completions(void **state)
{
	struct kelp_rdma_done done[64];
	struct fake_cq *cq;
	struct pair p;

	pair_open(&p, 4, 4);
	for (uint32_t i = 0; i < 4; i++)
		assert_int_equal(submit_read(&p, i, i * 1000, 500, i + 1), 0);
	round_trip(&p);
	/* Reverse the reader's completion queue: replies first, last request first. */
	cq = p.rcq;
	for (unsigned a = cq->head, b = cq->tail - 1; a < b; a++, b--) {
		struct ibv_wc t = cq->q[a % FAKE_Q];
		cq->q[a % FAKE_Q] = cq->q[b % FAKE_Q];
		cq->q[b % FAKE_Q] = t;
	}
	assert_int_equal(poll_all(p.rlc, done, 64), 4);
	for (int k = 0; k < 4; k++) {
		uint32_t i = (uint32_t)(uintptr_t)done[k].user - 1;

		assert_int_equal(done[k].status, 0);
		assert_int_equal(done[k].written, 500);
		assert_memory_equal(p.arena + i * 16384, needle + i * 1000, 500);
	}
	assert_int_equal((uintptr_t)done[0].user, 4); /* really out of order */
	/* Slots were recycled: four more go through. */
	for (uint32_t i = 0; i < 4; i++)
		assert_int_equal(submit_read(&p, i, 0, 10, i + 1), 0);
	round_trip(&p);
	assert_int_equal(poll_all(p.rlc, done, 64), 4);
	pair_close(&p);
}

/* A failed completion fails the connection: every request in flight completes exactly once with
 * -ECONNRESET, submits see -ENOTCONN, the QP is reset, and the reader may reconnect after the
 * backoff; completions of the old incarnation are dropped. */
static void test_failure_reset_reconnect(void **state)
{
	struct kelp_rdma_done done[64];
	struct kelp_rdma_hello hello, ack;
	struct pair p;
	uint8_t old_gen;

	pair_open(&p, 4, 4);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(submit_read(&p, i, 0, 10, i + 1), 0);
	/* The first request's send fails (peer gone: retries exceeded); the rest are flushed. */
	struct fake_qp *rq = p.rqp;
	old_gen = (uint8_t)(rq->sq[0].wr_id >> 48);
	uint64_t late_wr_id = rq->sq[2].wr_id; /* rq is destroyed by the reset */
	cq_push(&p.rcq->cq,
		(struct ibv_wc){.wr_id = rq->sq[0].wr_id, .status = IBV_WC_RETRY_EXC_ERR});
	cq_push(&p.rcq->cq,
		(struct ibv_wc){.wr_id = rq->sq[1].wr_id, .status = IBV_WC_WR_FLUSH_ERR});
	assert_int_equal(poll_all(p.rlc, done, 64), 3);
	for (int k = 0; k < 3; k++)
		assert_int_equal(done[k].status, -ECONNRESET);
	assert_int_equal(kelp_rdma_conn_stats(p.rc)->errors, 1); /* flushes not counted */
	assert_int_equal(kelp_rdma_conn_stats(p.rc)->resets, 1);
	assert_int_equal(kelp_rdma_conn_state(p.rc), KELP_RDMA_DOWN);
	assert_int_equal(kelp_rdma_conn_in_flight(p.rc), 0);
	assert_int_equal(submit_read(&p, 0, 0, 10, 9), -ENOTCONN);

	/* A late completion of the old incarnation is recognised and dropped. */
	cq_push(&p.rcq->cq, (struct ibv_wc){.wr_id = late_wr_id, .status = IBV_WC_SUCCESS});
	assert_int_equal(poll_all(p.rlc, done, 64), 0);
	assert_int_equal(kelp_rdma_lcore_stats(p.rlc)->stale_cqes, 1);

	/* Backoff: not due before 100 ms; failed attempts double it up to 6.4 s. */
	assert_false(kelp_rdma_conn_due(p.rc, F.now + 99000000ull));
	assert_true(kelp_rdma_conn_due(p.rc, F.now + 100000000ull));
	uint64_t t = F.now + 100000000ull, expect = 200000000ull;
	for (int k = 0; k < 8; k++) {
		assert_int_equal(kelp_rdma_conn_hello(p.rc, &hello), 0);
		assert_int_equal(kelp_rdma_conn_hello(p.rc, &hello), -EALREADY);
		kelp_rdma_conn_failed(p.rc, t); /* e.g. TCP refused */
		assert_int_equal(kelp_rdma_conn_retry_at(p.rc), t + expect);
		t += expect;
		expect = expect * 2 > KELP_RDMA_BACKOFF_MAX_NS ? KELP_RDMA_BACKOFF_MAX_NS
							       : expect * 2;
	}
	assert_int_equal(kelp_rdma_conn_retry_at(p.rc) - (t - KELP_RDMA_BACKOFF_MAX_NS),
			 KELP_RDMA_BACKOFF_MAX_NS);

	/* The exporter saw its side fail too (its reader went away): it resets at once and can
	 * take the reconnecting reader. */
	struct fake_qp *eq = p.eqp;
	assert_ptr_equal(eq, conn_fqp(p.ec));
	cq_push(&p.ecq->cq, (struct ibv_wc){.wr_id = eq->rq[eq->rq_head].wr_id,
					    .status = IBV_WC_REM_ABORT_ERR});
	poll_all(p.elc, done, 64);
	assert_int_equal(kelp_rdma_conn_state(p.ec), KELP_RDMA_DOWN);

	F.now = t;
	assert_int_equal(kelp_rdma_conn_hello(p.rc, &hello), 0);
	assert_int_equal(kelp_rdma_conn_establish(p.ec, &hello, F.now), 0);
	kelp_rdma_conn_hello(p.ec, &ack);
	assert_int_equal(kelp_rdma_conn_establish(p.rc, &ack, F.now), 0);
	assert_int_not_equal((uint8_t)(conn_fqp(p.rc)->rq[0].wr_id >> 48), old_gen);
	assert_int_equal(submit_read(&p, 0, 5, 20, 7), 0);
	round_trip(&p);
	assert_int_equal(poll_all(p.rlc, done, 64), 1);
	assert_int_equal(done[0].status, 0);
	assert_memory_equal(p.arena, needle + 5, 20);
	/* Success resets the backoff. */
	kelp_rdma_conn_failed(p.rc, F.now);
	assert_int_equal(kelp_rdma_conn_retry_at(p.rc), F.now + KELP_RDMA_BACKOFF_MIN_NS);
	pair_close(&p);
}

/*
 * Issue 14's reconnect storm (bench/results/2026-12-03-exportpark/): the export kelpd dies with a
 * request in flight; the reader's request timeout resets the connection while the request's SEND
 * is still in its QP, and the fake keeps work requests across RESET, as rxe on Linux 6.1 was seen
 * to. A reset must give a NEW QP (the old one destroyed, its queues with it), the old QP's
 * completions still in the CQ must be dropped (generation), and the reconnected connection must
 * work. (Reusing the QP through RESET fails here as it did in the VM: the old incarnation's
 * receives stay posted, posting the new ones fails with ENOMEM, and the reply lands in a stale
 * receive and is dropped.) The exporter's resets renew its QP too; a renewal that cannot make a
 * QP leaves the connection DOWN without one, and the next hello tries again.
 */
static void test_reset_renews_qp(void **state)
{
	struct kelp_rdma_done done[64];
	struct kelp_rdma_hello hello, ack;
	struct pair p;

	F.reset_keeps_wrs = true;
	pair_open(&p, 4, 4);
	uint32_t r_old = kelp_rdma_conn_qpn(p.rc);
	assert_int_equal(submit_read(&p, 0, 0, 10, 1), 0);
	uint64_t old_send = p.rqp->sq[0].wr_id, old_recv = p.rqp->rq[p.rqp->rq_head].wr_id;
	/* the export is gone: the SEND stays in the reader's QP, never completed */
	F.now += KELP_DEFAULT_RDMA_REQUEST_TIMEOUT_MS * 1000000ull + 1000000ull;
	assert_int_equal(poll_all(p.rlc, done, 64), 1);
	assert_int_equal(done[0].status, -ECONNRESET);
	assert_int_equal(kelp_rdma_conn_state(p.rc), KELP_RDMA_DOWN);
	assert_int_equal(kelp_rdma_conn_stats(p.rc)->resets, 1);

	/* a new QP holding this incarnation's receives only; the old one is destroyed */
	assert_int_not_equal(kelp_rdma_conn_qpn(p.rc), r_old);
	assert_null(qp_by_num(r_old));
	struct fake_qp *nq = conn_fqp(p.rc);
	assert_int_equal(nq->state, IBV_QPS_INIT);
	assert_int_equal(nq->sq_n, 0);
	assert_int_equal(nq->rq_n, 4);
	for (unsigned i = 0; i < nq->rq_n; i++)
		assert_int_not_equal((uint8_t)(nq->rq[(nq->rq_head + i) % FAKE_Q].wr_id >> 48),
				     (uint8_t)(old_recv >> 48));
	assert_int_equal(kelp_rdma_conn_stats(p.rc)->new_qps, 1);

	/* what the old QP may still complete: its SEND and a receive flushed, and a zeroed work
	 * request (wr_id 0): dropped, counted, and the connection is not failed again */
	cq_push(&p.rcq->cq,
		(struct ibv_wc){.wr_id = old_send, .status = IBV_WC_WR_FLUSH_ERR, .qp_num = r_old});
	cq_push(&p.rcq->cq,
		(struct ibv_wc){.wr_id = old_recv, .status = IBV_WC_WR_FLUSH_ERR, .qp_num = r_old});
	cq_push(&p.rcq->cq,
		(struct ibv_wc){.wr_id = 0, .status = IBV_WC_WR_FLUSH_ERR, .qp_num = r_old});
	assert_int_equal(poll_all(p.rlc, done, 64), 0);
	assert_int_equal(kelp_rdma_lcore_stats(p.rlc)->stale_cqes, 2);
	assert_int_equal(kelp_rdma_lcore_stats(p.rlc)->unknown_cqes, 1);
	assert_int_equal(kelp_rdma_conn_state(p.rc), KELP_RDMA_DOWN);
	assert_int_equal(kelp_rdma_conn_stats(p.rc)->resets, 1);

	/* the export kelpd restarted: a new exporter connection; the reader reconnects and reads */
	assert_int_equal(kelp_rdma_conn_destroy(p.ec), 0);
	assert_int_equal(kelp_rdma_conn_create(p.elc, KELP_RDMA_EXPORTER, 4, &p.ec), 0);
	F.now += KELP_RDMA_BACKOFF_MAX_NS;
	assert_int_equal(kelp_rdma_conn_hello(p.rc, &hello), 0);
	assert_int_equal(hello.qpn, kelp_rdma_conn_qpn(p.rc));
	assert_int_equal(kelp_rdma_conn_establish(p.ec, &hello, F.now), 0);
	assert_int_equal(kelp_rdma_conn_hello(p.ec, &ack), 0);
	assert_int_equal(kelp_rdma_conn_establish(p.rc, &ack, F.now), 0);
	for (uint32_t k = 0; k < 6; k++) { /* more requests than credits, each answered */
		assert_int_equal(submit_read(&p, k, 7 * k, 50, 10 + k), 0);
		round_trip(&p);
		assert_int_equal(poll_all(p.rlc, done, 64), 1);
		assert_int_equal(done[0].status, 0);
		assert_ptr_equal(done[0].user, (void *)(uintptr_t)(10 + k));
		assert_memory_equal(p.arena + k * 16384u, needle + 7 * k, 50);
	}
	assert_int_equal(kelp_rdma_lcore_stats(p.rlc)->stale_cqes, 2);

	/* the exporter's reset (a failure, or retirement by a reconnecting reader) renews it too */
	uint32_t e_old = kelp_rdma_conn_qpn(p.ec);
	kelp_rdma_conn_failed(p.ec, F.now);
	assert_int_not_equal(kelp_rdma_conn_qpn(p.ec), e_old);
	assert_null(qp_by_num(e_old));
	assert_int_equal(conn_fqp(p.ec)->rq_n, 4);
	assert_int_equal(kelp_rdma_conn_stats(p.ec)->new_qps, 1);

	/* no QP can be made: DOWN without one (hello says why), until one can */
	F.fail_create_qp = 4; /* the reset's and the next hello's (each tries twice: inline) */
	kelp_rdma_conn_failed(p.rc, F.now);
	assert_int_equal(kelp_rdma_conn_qpn(p.rc), 0);
	assert_int_equal(kelp_rdma_conn_state(p.rc), KELP_RDMA_DOWN);
	assert_int_equal(kelp_rdma_conn_retry_at(p.rc), F.now + KELP_RDMA_BACKOFF_MAX_NS);
	F.now += KELP_RDMA_BACKOFF_MAX_NS;
	assert_int_equal(kelp_rdma_conn_hello(p.rc, &hello), -ENOMEM);
	assert_int_equal(kelp_rdma_conn_state(p.rc), KELP_RDMA_DOWN);
	assert_false(kelp_rdma_conn_due(p.rc, F.now));
	F.now += KELP_RDMA_BACKOFF_MAX_NS;
	assert_int_equal(kelp_rdma_conn_hello(p.rc, &hello), 0);
	assert_int_not_equal(hello.qpn, 0);
	assert_int_equal(conn_fqp(p.rc)->rq_n, 4);
	kelp_rdma_conn_failed(p.rc, F.now);
	pair_close(&p);
}

/* More failed requests than one poll can report: reported over several polls, each once. */
static void test_failure_reported_across_polls(void **state)
{
	struct kelp_rdma_done done[200];
	struct pair p;
	int total = 0, n;

	pair_open(&p, 40, 40);
	for (uint32_t i = 0; i < 40; i++)
		assert_int_equal(submit_read(&p, i % 8, 0, 10, i + 1), 0);
	struct fake_qp *rq = p.rqp;
	cq_push(&p.rcq->cq,
		(struct ibv_wc){.wr_id = rq->sq[0].wr_id, .status = IBV_WC_RETRY_EXC_ERR});
	bool seen[41] = {false};
	do {
		n = kelp_rdma_lcore_poll(p.rlc, done, KELP_RDMA_POLL_BATCH);
		assert_true(n >= 0 && n <= KELP_RDMA_POLL_BATCH);
		for (int k = 0; k < n; k++) {
			uintptr_t u = (uintptr_t)done[k].user;
			assert_int_equal(done[k].status, -ECONNRESET);
			assert_false(seen[u]);
			seen[u] = true;
		}
		total += n;
	} while (n > 0 || total == 0);
	assert_int_equal(total, 40);
	assert_int_equal(kelp_rdma_conn_state(p.rc), KELP_RDMA_DOWN);
	pair_close(&p);
}

/* An exporter that dies after its transport acknowledged the requests sends no completion at all:
 * the request timeout notices (2 s of silence with requests in flight), and only then. */
static void test_request_timeout(void **state)
{
	struct kelp_rdma_done done[64];
	struct pair p;

	pair_open(&p, 4, 4);
	assert_int_equal(submit_read(&p, 0, 0, 10, 1), 0);
	assert_int_equal(submit_read(&p, 1, 0, 10, 2), 0);
	p.rqp->sq_n = 0; /* delivered and acknowledged, never answered */
	F.now += 1999000000ull;
	assert_int_equal(poll_all(p.rlc, done, 64), 0);
	assert_int_equal(kelp_rdma_conn_state(p.rc), KELP_RDMA_UP);
	F.now += 2000000ull;
	assert_int_equal(poll_all(p.rlc, done, 64), 2);
	assert_int_equal(done[0].status, -ECONNRESET);
	assert_int_equal(done[1].status, -ECONNRESET);
	assert_int_equal(kelp_rdma_conn_state(p.rc), KELP_RDMA_DOWN);
	/* An idle connection never times out. */
	F.now += 60000000000ull;
	assert_int_equal(poll_all(p.rlc, done, 64), 0);
	pair_close(&p);
}

/* A reply that answers nothing in flight, or a post error, fails the connection. */
static void test_protocol_errors(void **state)
{
	struct kelp_rdma_done done[64];
	struct pair p;

	pair_open(&p, 4, 4);
	assert_int_equal(submit_read(&p, 0, 0, 10, 1), 0);
	round_trip(&p);
	/* Duplicate the reply: a stray second answer to the same request id. */
	struct fake_cq *cq = p.rcq;
	struct ibv_wc reply = cq->q[cq->head % FAKE_Q].opcode == IBV_WC_RECV
				      ? cq->q[cq->head % FAKE_Q]
				      : cq->q[(cq->head + 1) % FAKE_Q];
	assert_int_equal(poll_all(p.rlc, done, 64), 1);
	cq_push(&p.rcq->cq, reply);
	assert_int_equal(poll_all(p.rlc, done, 64), 0);
	assert_int_equal(kelp_rdma_conn_state(p.rc), KELP_RDMA_DOWN);
	assert_int_equal(kelp_rdma_conn_stats(p.rc)->errors, 1);
	pair_close(&p);

	pair_open(&p, 4, 4);
	assert_int_equal(submit_read(&p, 0, 0, 10, 1), 0);
	F.fail_post_send = 1;
	assert_int_equal(submit_read(&p, 1, 0, 10, 2), -ENOMEM);
	assert_int_equal(poll_all(p.rlc, done, 64), 1); /* the first one, as -ECONNRESET */
	assert_int_equal(done[0].status, -ECONNRESET);
	assert_ptr_equal(done[0].user, (void *)1);
	pair_close(&p);
}

/* Version and kind checks of the handshake. */
static void test_handshake_checks(void **state)
{
	struct kelp_rdma_dev *dev = open_fake_dev();
	struct kelp_rdma_lcore *lc;
	struct kelp_rdma_conn *r, *e, *none;
	struct kelp_rdma_hello h, ack;

	assert_int_equal(
		kelp_rdma_lcore_create(
			dev, &(struct kelp_rdma_lcore_config){.clock_ns = fake_clock}, NULL, &lc),
		0);
	assert_int_equal(kelp_rdma_conn_create(lc, KELP_RDMA_READER, 4, &r), 0);
	assert_int_equal(kelp_rdma_conn_create(lc, KELP_RDMA_EXPORTER, 4, &e), 0);

	kelp_rdma_conn_hello(r, &h);
	h.version = KELP_RDMA_PROTO_VERSION + 1;
	assert_int_equal(kelp_rdma_conn_establish(e, &h, F.now), -EPROTONOSUPPORT);
	assert_int_equal(kelp_rdma_conn_state(e), KELP_RDMA_DOWN);
	kelp_rdma_conn_hello(e, &ack); /* the refusal names the export's own version */
	assert_int_equal(ack.version, KELP_RDMA_PROTO_VERSION);
	h.version = KELP_RDMA_PROTO_VERSION_MIN - 1;
	assert_int_equal(kelp_rdma_conn_establish(e, &h, F.now), -EPROTONOSUPPORT);
	h.version = 1;
	h.kind = KELP_RDMA_ACK;
	assert_int_equal(kelp_rdma_conn_establish(e, &h, F.now), -EPROTO);
	/* A refusal (status) fails the reader and starts its backoff. */
	kelp_rdma_conn_hello(e, &ack);
	ack.status = KELP_RDMA_BUSY;
	assert_int_equal(kelp_rdma_conn_establish(r, &ack, F.now), -EBUSY);
	assert_int_equal(kelp_rdma_conn_state(r), KELP_RDMA_DOWN);
	assert_false(kelp_rdma_conn_due(r, F.now));
	assert_int_equal(kelp_rdma_conn_create(lc, KELP_RDMA_READER, 0, &none), -EINVAL);
	assert_null(none);
	assert_int_equal(kelp_rdma_lcore_destroy(lc), 0);
	assert_int_equal(kelp_rdma_dev_close(dev), 0);
	assert_int_equal(F.objects, 0);
}

/* Reply slots still held (their send completions not yet polled) queue new requests instead of
 * failing; the bounce pool serves unregistered needles and refuses what does not fit. */
static void test_export_queue_and_bounce(void **state)
{
	struct kelp_rdma_done done[64], unused[64];
	struct pair p;

	pair_open(&p, 2, 2); /* 4 reply slots */
	p.ex.bounce = true;
	for (int round = 0; round < 3; round++) {
		/* Deliver requests and replies but never the exporter's send completions. */
		assert_int_equal(submit_read(&p, 0, 0, 100, 1), 0);
		assert_int_equal(submit_read(&p, 1, 200, 100, 2), 0);
		wire_deliver(&p.rqp->qp);
		kelp_rdma_lcore_poll(p.elc, unused, 64);
		struct fake_cq *ecq = p.ecq;
		wire_deliver(&p.eqp->qp);
		ecq->head = ecq->tail; /* lose the exporter's send completions */
		int n = poll_all(p.rlc, done, 64);
		if (round < 2) {
			assert_int_equal(n, 2);
			assert_memory_equal(p.arena + 16384, needle + 200, 100);
		} else {
			assert_int_equal(n, 0); /* queued: no free reply slot */
		}
	}
	assert_int_equal(kelp_rdma_conn_state(p.ec), KELP_RDMA_UP);
	assert_int_equal(kelp_rdma_conn_stats(p.ec)->bounced, 4);
	pair_close(&p);

	/* Bounce buffers are 4 KiB here: a larger read goes through two of them. */
	pair_open(&p, 2, 2);
	p.ex.bounce = true;
	memset(p.arena, 0xee, 16384);
	assert_int_equal(submit_read(&p, 0, 3, 5000, 1), 0);
	round_trip(&p);
	assert_int_equal(poll_all(p.rlc, done, 64), 1);
	assert_int_equal(done[0].status, 0);
	assert_int_equal(done[0].written, 5000);
	assert_memory_equal(p.arena, needle + 3, 5000);
	assert_int_equal(p.arena[5000], 0xee); /* not one byte more */
	pair_close(&p);
}

/* A bounce read whose source mapping faulted under the copy (the .dat shrank: a SIGBUS put zeros
 * there, core/fault.h) is answered CORRUPT with no bytes, and its buffers go back to the pool at
 * once; a read that does not bounce is not asked about (its bytes were never copied). */
static void test_export_faulted_source_corrupt(void **state)
{
	struct kelp_rdma_done done[64];
	struct pair p;

	pair_open_pool(&p, 4, 4, 3, 0); /* three 4 KiB buffers: one 10000-byte read takes all */
	p.ex.bounce = true;
	p.ex.faulted = true;
	memset(p.arena, 0xee, 16384);
	assert_int_equal(submit_read(&p, 0, 0, sizeof(needle), 1), 0);
	round_trip(&p);
	assert_int_equal(poll_all(p.rlc, done, 64), 1);
	assert_int_equal(done[0].status, -EIO);
	assert_int_equal(done[0].written, 0);
	assert_int_equal(done[0].data_size, 0);
	assert_int_equal(p.arena[0], 0xee); /* no byte written */
	assert_int_equal(p.ex.faulted_calls, 1);

	/* the mapping is fine again (reopened): the whole pool serves the next read */
	p.ex.faulted = false;
	assert_int_equal(submit_read(&p, 0, 0, sizeof(needle), 2), 0);
	round_trip(&p);
	assert_int_equal(poll_all(p.rlc, done, 64), 1);
	assert_int_equal(done[0].status, 0);
	assert_int_equal(done[0].written, sizeof(needle));
	assert_memory_equal(p.arena, needle, sizeof(needle));
	assert_int_equal(p.ex.faulted_calls, 2);

	/* registered bytes go out by one RDMA WRITE, no copy: nothing to ask */
	p.ex.bounce = false;
	p.ex.faulted = true;
	assert_int_equal(submit_read(&p, 0, 0, 100, 3), 0);
	round_trip(&p);
	assert_int_equal(poll_all(p.rlc, done, 64), 1);
	assert_int_equal(done[0].status, 0);
	assert_int_equal(p.ex.faulted_calls, 2);
	pair_close(&p);
}

/* A read larger than one bounce buffer: one buffer per piece, each piece its own unsignaled RDMA
 * WRITE at its offset of the reader's buffer, in order, then the signaled reply; the whole needle
 * arrives, and the buffers return to the pool once the reply's send completed. */
static void test_export_chunked_read(void **state)
{
	struct kelp_rdma_done done[64], unused[64];
	struct pair p;

	pair_open_pool(&p, 4, 4, 4, 0);
	p.ex.bounce = true;
	for (int round = 0; round < 3; round++) { /* the buffers come back: three full rounds */
		memset(p.arena, 0xee, 16384);
		assert_int_equal(submit_read(&p, 0, 0, 16384, 1), 0);
		wire_deliver(&p.rqp->qp);
		assert_int_equal(poll_all(p.elc, unused, 64), 0);
		struct fake_qp *eq = p.eqp;
		assert_int_equal(eq->sq_n, 4); /* 10000 bytes: 4096 + 4096 + 1808, then the reply */
		for (unsigned k = 0; k < 3; k++) {
			assert_int_equal(eq->sq[k].opcode, IBV_WR_RDMA_WRITE);
			assert_false(eq->sq[k].signaled);
			assert_int_equal(eq->sq[k].remote_addr, (uintptr_t)p.arena + k * 4096u);
			assert_int_equal(eq->sq[k].rkey, p.arena_mr->rkey);
			assert_int_equal(eq->sq[k].len, k < 2 ? 4096 : 10000 - 8192);
		}
		assert_int_equal(eq->sq[3].opcode, IBV_WR_SEND);
		assert_true(eq->sq[3].signaled);
		wire_deliver(&p.eqp->qp);
		poll_all(p.elc, unused, 64); /* the reply's send completion frees the buffers */
		assert_int_equal(poll_all(p.rlc, done, 64), 1);
		assert_int_equal(done[0].status, 0);
		assert_int_equal(done[0].written, sizeof(needle));
		assert_int_equal(done[0].data_size, sizeof(needle));
		assert_memory_equal(p.arena, needle, sizeof(needle));
		assert_int_equal(p.arena[sizeof(needle)], 0xee);
	}
	assert_int_equal(kelp_rdma_conn_stats(p.ec)->bounced, 3);
	assert_int_equal(kelp_rdma_conn_stats(p.ec)->bytes, 3 * sizeof(needle));
	pair_close(&p);
}

/* Two 3-piece reads and a pool of 4 buffers: the second waits (queued, in order with a small read
 * behind it) until the first reply's send completes, then both are served: nothing answered BUSY.
 */
static void test_export_chunked_read_waits_for_buffers(void **state)
{
	struct kelp_rdma_done done[64], unused[64];
	struct pair p;

	pair_open_pool(&p, 4, 4, 4, 0);
	p.ex.bounce = true;
	assert_int_equal(submit_read(&p, 0, 0, 16384, 1), 0);
	assert_int_equal(submit_read(&p, 1, 100, 16384, 2), 0);
	assert_int_equal(submit_read(&p, 2, 7, 50, 3), 0);
	wire_deliver(&p.rqp->qp);
	kelp_rdma_lcore_poll(p.elc, unused, 64);
	assert_int_equal(p.eqp->sq_n,
			 4); /* only the first: the second needs 3 buffers, 1 is free */
	wire_deliver(&p.eqp->qp);
	assert_int_equal(poll_all(p.rlc, done, 64), 1);
	assert_ptr_equal(done[0].user, (void *)1);
	kelp_rdma_lcore_poll(p.elc, unused, 64); /* send completion: buffers back, queue served */
	assert_int_equal(p.eqp->sq_n, 4 + 2);	 /* 3 WRITEs + reply, 1 WRITE + reply */
	wire_deliver(&p.eqp->qp);
	poll_all(p.elc, unused, 64);
	assert_int_equal(poll_all(p.rlc, done, 64), 2);
	assert_ptr_equal(done[0].user, (void *)2); /* in request order */
	assert_int_equal(done[0].status, 0);
	assert_int_equal(done[0].written, sizeof(needle) - 100);
	assert_memory_equal(p.arena + 16384, needle + 100, sizeof(needle) - 100);
	assert_ptr_equal(done[1].user, (void *)3);
	assert_memory_equal(p.arena + 2 * 16384, needle + 7, 50);
	pair_close(&p);
}

/* Every credit used by a 3-piece read and a pool for one of them at a time: the reads are served
 * one after the other as buffers come back, in order, every byte right, and the send queue never
 * holds more than the QP was made for (the fake checks each post). */
static void test_export_chunked_reads_fill_every_credit(void **state)
{
	struct kelp_rdma_done done[64], unused[64];
	struct pair p;
	int got = 0;

	pair_open_pool(&p, 8, 8, 4, 0);
	p.ex.bounce = true;
	memset(p.arena, 0xee, 8 * 16384);
	for (uint32_t i = 0; i < 8; i++)
		assert_int_equal(submit_read(&p, i, i, 16384, i + 1), 0);
	assert_int_equal(submit_read(&p, 0, 0, 16384, 99), -EAGAIN); /* credits */
	wire_deliver(&p.rqp->qp);
	for (int step = 0; step < 20 && got < 8; step++) {
		kelp_rdma_lcore_poll(p.elc, unused, 64);
		assert_true(p.eqp->sq_n <= 4); /* one reply (3 WRITEs + SEND) at a time */
		wire_deliver(&p.eqp->qp);
		int n = poll_all(p.rlc, done + got, 64 - got);
		for (int k = got; k < got + n; k++)
			assert_int_equal((uintptr_t)done[k].user, k + 1); /* in request order */
		got += n;
	}
	assert_int_equal(got, 8);
	for (uint32_t i = 0; i < 8; i++) {
		assert_int_equal(done[i].status, 0);
		assert_int_equal(done[i].written, sizeof(needle) - i);
		assert_memory_equal(p.arena + i * 16384u, needle + i, sizeof(needle) - i);
		assert_int_equal(p.arena[i * 16384u + sizeof(needle) - i], 0xee);
	}
	assert_int_equal(kelp_rdma_conn_stats(p.ec)->bounced, 8);
	pair_close(&p);
}

/* A second reader/exporter connection on @p's lcores (fake QPs in *@rqp, *@eqp). */
static void pair_second(struct pair *p, struct kelp_rdma_conn **rc, struct kelp_rdma_conn **ec,
			struct fake_qp **rqp, struct fake_qp **eqp)
{
	struct kelp_rdma_hello h, ack;

	assert_int_equal(kelp_rdma_conn_create(p->rlc, KELP_RDMA_READER, 4, rc), 0);
	*rqp = F.last_qp;
	assert_int_equal(kelp_rdma_conn_create(p->elc, KELP_RDMA_EXPORTER, 4, ec), 0);
	*eqp = F.last_qp;
	assert_int_equal(kelp_rdma_conn_hello(*rc, &h), 0);
	assert_int_equal(kelp_rdma_conn_establish(*ec, &h, F.now), 0);
	kelp_rdma_conn_hello(*ec, &ack);
	assert_int_equal(kelp_rdma_conn_establish(*rc, &ack, F.now), 0);
}

/* A large read waiting for bounce buffers is not overtaken by another connection's small read
 * that would fit into what is free: the small one waits behind it; both are served once the
 * buffers come back, the large one first. */
static void test_export_large_read_not_starved(void **state)
{
	struct kelp_rdma_done done[64], unused[64];
	struct kelp_rdma_conn *rc2, *ec2;
	struct fake_qp *rqp2, *eqp2;
	struct pair p;

	pair_open_pool(&p, 4, 4, 4, 0);
	pair_second(&p, &rc2, &ec2, &rqp2, &eqp2);
	p.ex.bounce = true;
	memset(p.arena, 0xee, 4 * 16384);
	struct kelp_rdma_read rd = {.opcode = KELP_RDMA_OP_READ,
				    .fid = NEEDLE_FID,
				    .length = 5000,
				    .addr = (uintptr_t)(p.arena + 16384),
				    .rkey = p.arena_mr->rkey,
				    .user = (void *)21};
	assert_int_equal(kelp_rdma_submit(rc2, &rd), 0); /* 2 pieces: holds 2 of 4 buffers */
	wire_deliver(&rqp2->qp);
	kelp_rdma_lcore_poll(p.elc, unused, 64);
	assert_int_equal(eqp2->sq_n, 3);
	assert_int_equal(submit_read(&p, 0, 0, 16384, 1), 0); /* 3 pieces: 2 free, waits */
	wire_deliver(&p.rqp->qp);
	kelp_rdma_lcore_poll(p.elc, unused, 64);
	assert_int_equal(p.eqp->sq_n, 0);
	rd.length = 100; /* 1 piece, 2 free: would fit, but waits behind the large one */
	rd.addr = (uintptr_t)(p.arena + 2 * 16384);
	rd.user = (void *)22;
	assert_int_equal(kelp_rdma_submit(rc2, &rd), 0);
	wire_deliver(&rqp2->qp);
	kelp_rdma_lcore_poll(p.elc, unused, 64);
	assert_int_equal(eqp2->sq_n, 3); /* nothing new for the second connection */
	wire_deliver(&eqp2->qp);	 /* its first reply: 2 buffers back (after the poll) */
	kelp_rdma_lcore_poll(p.elc, unused, 64);
	assert_int_equal(p.eqp->sq_n, 4); /* the large one, 3 WRITEs + reply */
	assert_int_equal(eqp2->sq_n, 2);  /* then the small one with the last free buffer */
	wire_deliver(&p.eqp->qp);
	wire_deliver(&eqp2->qp);
	poll_all(p.elc, unused, 64);
	assert_int_equal(poll_all(p.rlc, done, 64), 3);
	for (int k = 0; k < 3; k++)
		assert_int_equal(done[k].status, 0);
	assert_memory_equal(p.arena, needle, sizeof(needle));
	assert_memory_equal(p.arena + 16384, needle, 5000);
	assert_memory_equal(p.arena + 2 * 16384, needle, 100);
	pair_close(&p);
}

/* Reads larger than max_read are answered TOO_LARGE (-EFBIG) without a byte written; max_read is
 * bounded by the pool (a larger read could never get its buffers). The connection stays up. */
static void test_export_read_too_large(void **state)
{
	struct kelp_rdma_done done[64];
	struct pair p;

	pair_open_pool(&p, 4, 4, 4, 8192);
	p.ex.bounce = true;
	memset(p.arena, 0xee, 16384);
	assert_int_equal(submit_read(&p, 0, 0, 16384, 1), 0);	 /* 10000 > 8192 */
	assert_int_equal(submit_read(&p, 1, 1808, 16384, 2), 0); /* exactly 8192 */
	round_trip(&p);
	assert_int_equal(poll_all(p.rlc, done, 64), 2);
	assert_int_equal(done[0].status, -EFBIG);
	assert_int_equal(done[0].written, 0);
	assert_int_equal(p.arena[0], 0xee);
	assert_int_equal(done[1].status, 0);
	assert_int_equal(done[1].written, 8192);
	assert_memory_equal(p.arena + 16384, needle + 1808, 8192);
	assert_int_equal(kelp_rdma_conn_stats(p.ec)->too_large, 1);
	assert_int_equal(kelp_rdma_conn_state(p.rc), KELP_RDMA_UP);
	/* a needle read through an MR is not bounded by the pool */
	p.ex.bounce = false;
	assert_int_equal(submit_read(&p, 0, 0, 16384, 3), 0);
	round_trip(&p);
	assert_int_equal(poll_all(p.rlc, done, 64), 1);
	assert_int_equal(done[0].written, sizeof(needle));
	pair_close(&p);

	pair_open_pool(&p, 4, 4, 2, 0); /* default max_read, bounded by the 8 KiB pool */
	p.ex.bounce = true;
	assert_int_equal(submit_read(&p, 0, 0, 16384, 1), 0);
	round_trip(&p);
	assert_int_equal(poll_all(p.rlc, done, 64), 1);
	assert_int_equal(done[0].status, -EFBIG);
	pair_close(&p);
}

/* An exporter connection that fails with a chunked reply in flight returns all its buffers: after
 * the reader reconnects, a read needing the whole pool is served. */
static void test_export_reset_returns_chunk_buffers(void **state)
{
	struct kelp_rdma_done done[64], unused[64];
	struct kelp_rdma_hello hello, ack;
	struct pair p;

	pair_open_pool(&p, 4, 4, 3, 0);
	p.ex.bounce = true;
	assert_int_equal(submit_read(&p, 0, 0, 16384, 1), 0);
	wire_deliver(&p.rqp->qp);
	kelp_rdma_lcore_poll(p.elc, unused, 64); /* 3 buffers held by the reply */
	struct fake_qp *eq = p.eqp;
	cq_push(&p.ecq->cq,
		(struct ibv_wc){.wr_id = eq->sq[0].wr_id, .status = IBV_WC_REM_ACCESS_ERR});
	poll_all(p.elc, unused, 64);
	assert_int_equal(kelp_rdma_conn_state(p.ec), KELP_RDMA_DOWN);
	kelp_rdma_conn_failed(p.rc, F.now); /* the reader notices too (here: told) */
	F.now += KELP_RDMA_BACKOFF_MAX_NS;
	assert_int_equal(kelp_rdma_conn_hello(p.rc, &hello), 0);
	assert_int_equal(kelp_rdma_conn_establish(p.ec, &hello, F.now), 0);
	kelp_rdma_conn_hello(p.ec, &ack);
	assert_int_equal(kelp_rdma_conn_establish(p.rc, &ack, F.now), 0);
	poll_all(p.rlc, done, 64);
	assert_int_equal(submit_read(&p, 0, 0, 16384, 2), 0);
	round_trip(&p);
	assert_int_equal(poll_all(p.rlc, done, 64), 1);
	assert_int_equal(done[0].status, 0);
	assert_memory_equal(p.arena, needle, sizeof(needle));
	pair_close(&p);
}

/* Connects a new reader connection on @p's reader lcore to a new exporter connection on its
 * export lcore, the HELLO naming the reader (@id, @inc, @lane; @gid_last changes the GID's last
 * byte). @return the exporter connection; *@r_out the reader's. */
static struct kelp_rdma_conn *connect_as(struct pair *p, uint64_t id, uint64_t inc, uint16_t lane,
					 uint8_t gid_last, struct kelp_rdma_conn **r_out)
{
	struct kelp_rdma_conn *r, *e;
	struct kelp_rdma_hello h, ack;

	assert_int_equal(kelp_rdma_conn_create(p->rlc, KELP_RDMA_READER, 4, &r), 0);
	assert_int_equal(kelp_rdma_conn_create(p->elc, KELP_RDMA_EXPORTER, 4, &e), 0);
	assert_non_null(r);
	assert_non_null(e);
	assert_int_equal(kelp_rdma_conn_hello(r, &h), 0);
	h.reader_id = id;
	h.incarnation = inc;
	h.lane = lane;
	h.gid[15] ^= gid_last;
	assert_int_equal(kelp_rdma_conn_establish(e, &h, F.now), 0);
	kelp_rdma_conn_hello(e, &ack);
	assert_int_equal(kelp_rdma_conn_establish(r, &ack, F.now), 0);
	if (r_out)
		*r_out = r;
	return e;
}

/* A reader that reconnects a lane, or restarts (new incarnation), makes the exporter reset the
 * connections the new one replaces; other lanes of the same run, other readers (id, GID) and
 * anonymous readers keep theirs. A reset connection is reused by the next handshake. */
static void test_export_retires_replaced_connections(void **state)
{
	struct kelp_rdma_hello h;
	struct kelp_rdma_conn *r1;
	struct pair p;

	pair_open(&p, 4, 4); /* p.ec: an anonymous reader (id 0) */
	struct kelp_rdma_conn *e1 = connect_as(&p, 7, 100, 0, 0, &r1);
	struct kelp_rdma_conn *e2 = connect_as(&p, 7, 100, 1, 0, NULL); /* its second lane */
	struct kelp_rdma_conn *e3 = connect_as(&p, 8, 100, 0, 0, NULL); /* another reader kelpd */
	struct kelp_rdma_conn *e4 = connect_as(&p, 7, 100, 0, 1, NULL); /* id 7 on another host */
	assert_int_equal(kelp_rdma_lcore_stats(p.elc)->retired, 0);
	assert_int_equal(kelp_rdma_conn_state(e1), KELP_RDMA_UP);

	/* Reader 7 resets lane 0 and reconnects it: e1 goes, the others stay. */
	struct kelp_rdma_conn *e5 = connect_as(&p, 7, 100, 0, 0, NULL);
	assert_int_equal(kelp_rdma_conn_state(e1), KELP_RDMA_DOWN);
	assert_int_equal(kelp_rdma_lcore_stats(p.elc)->retired, 1);
	assert_int_equal(kelp_rdma_conn_state(e2), KELP_RDMA_UP);
	assert_int_equal(kelp_rdma_conn_state(e3), KELP_RDMA_UP);
	assert_int_equal(kelp_rdma_conn_state(e4), KELP_RDMA_UP);

	/* Reader 7 restarts: its first new connection (lane 1) replaces every old one, any lane. */
	struct kelp_rdma_conn *e6 = connect_as(&p, 7, 200, 1, 0, NULL);
	assert_int_equal(kelp_rdma_conn_state(e2), KELP_RDMA_DOWN);
	assert_int_equal(kelp_rdma_conn_state(e5), KELP_RDMA_DOWN);
	assert_int_equal(kelp_rdma_lcore_stats(p.elc)->retired, 3);
	assert_int_equal(kelp_rdma_conn_state(e6), KELP_RDMA_UP);
	assert_int_equal(kelp_rdma_conn_state(e3), KELP_RDMA_UP);
	assert_int_equal(kelp_rdma_conn_state(e4), KELP_RDMA_UP);
	assert_int_equal(kelp_rdma_conn_state(p.ec), KELP_RDMA_UP);

	/* Anonymous readers never replace anything, not even each other. */
	connect_as(&p, 0, 0, 0, 0, NULL);
	assert_int_equal(kelp_rdma_conn_state(p.ec), KELP_RDMA_UP);
	assert_int_equal(kelp_rdma_lcore_stats(p.elc)->retired, 3);

	/* A reset exporter connection takes the next reader. */
	kelp_rdma_conn_failed(r1, F.now);
	assert_int_equal(kelp_rdma_conn_hello(r1, &h), 0);
	h.reader_id = 9;
	assert_int_equal(kelp_rdma_conn_establish(e1, &h, F.now), 0);
	assert_int_equal(kelp_rdma_conn_state(e1), KELP_RDMA_UP);
	/* and the data path of the survivors still works */
	struct kelp_rdma_done done[64];
	assert_int_equal(submit_read(&p, 0, 10, 100, 1), 0);
	round_trip(&p);
	assert_int_equal(poll_all(p.rlc, done, 64), 1);
	assert_int_equal(done[0].status, 0);
	assert_memory_equal(p.arena, needle + 10, 100);
	pair_close(&p);
}

/* Requests submitted with `more` wait for the next submit without it, a poll or a flush, and go
 * out as one chain; the exporter answers a whole poll batch with one post of receives and one of
 * replies (WRITE + SEND per request), in request order. */
/* ---- inline replies (protocol version 2) ----------------------------------------------------- */

/* The SENDs and WRITEs the exporter has posted and not yet delivered. */
static void count_posted(struct fake_qp *q, unsigned *sends, unsigned *writes)
{
	*sends = *writes = 0;
	for (unsigned i = 0; i < q->sq_n; i++) {
		*sends += q->sq[i].opcode == IBV_WR_SEND;
		*writes += q->sq[i].opcode == IBV_WR_RDMA_WRITE;
	}
}

/* Reads up to the agreed maximum come back in the reply SEND alone (no WRITE) and land in the
 * reader's buffer; a longer one still goes by WRITE; bounce sources skip the pool; a mapping that
 * faulted under the copy answers CORRUPT with no bytes. */
static void test_inline_reply(void **state)
{
	struct kelp_rdma_done done[64];
	unsigned sends, writes;
	struct pair p;

	reader_inline = export_inline = 4096;
	pair_open(&p, 8, 8);
	memset(p.arena, 0xee, 3 * 16384);
	assert_int_equal(submit_read(&p, 0, 100, 4096, 1), 0);
	assert_int_equal(submit_read(&p, 1, sizeof(needle) - 10, 4096, 2), 0); /* 10 bytes */
	assert_int_equal(submit_read(&p, 2, 0, 4097, 3), 0);
	wire_deliver(&p.rqp->qp);
	assert_int_equal(poll_all(p.elc, done, 64), 0);
	count_posted(p.eqp, &sends, &writes);
	assert_int_equal(sends, 3);
	assert_int_equal(writes, 1); /* only the 4097-byte read */
	wire_deliver(&p.eqp->qp);
	poll_all(p.elc, done, 64);
	assert_int_equal(poll_all(p.rlc, done, 64), 3);
	for (int k = 0; k < 3; k++)
		assert_int_equal(done[k].status, 0);
	assert_int_equal(done[0].written, 4096);
	assert_int_equal(done[1].written, 10);
	assert_int_equal(done[2].written, 4097);
	assert_int_equal(done[0].crc, 0xc0ffee);
	assert_memory_equal(p.arena, needle + 100, 4096);
	assert_int_equal(p.arena[4096], 0xee); /* nothing past what was read */
	assert_memory_equal(p.arena + 16384, needle + sizeof(needle) - 10, 10);
	assert_int_equal(p.arena[16384 + 10], 0xee);
	assert_memory_equal(p.arena + 2 * 16384, needle, 4097);
	assert_int_equal(kelp_rdma_conn_stats(p.ec)->inlined, 2);
	assert_int_equal(kelp_rdma_conn_stats(p.rc)->inlined, 2);
	assert_int_equal(kelp_rdma_conn_stats(p.ec)->bytes, 4096 + 10 + 4097);

	/* a source without an MR: inline replies need no bounce buffer */
	assert_int_equal(p.ex.faulted_calls, 2); /* every inline copy is checked */
	p.ex.bounce = true;
	assert_int_equal(submit_read(&p, 0, 1, 3000, 4), 0);
	round_trip(&p);
	assert_int_equal(poll_all(p.rlc, done, 64), 1);
	assert_int_equal(done[0].written, 3000);
	assert_memory_equal(p.arena, needle + 1, 3000);
	assert_int_equal(kelp_rdma_conn_stats(p.ec)->bounced, 0);
	assert_int_equal(p.ex.faulted_calls, 3);

	/* the mapping lost a page under the copy: no bytes, CORRUPT */
	p.ex.faulted = true;
	memset(p.arena, 0xee, 100);
	assert_int_equal(submit_read(&p, 0, 0, 100, 5), 0);
	round_trip(&p);
	assert_int_equal(poll_all(p.rlc, done, 64), 1);
	assert_int_equal(done[0].status, -EIO);
	assert_int_equal(done[0].written, 0);
	assert_int_equal(p.arena[0], 0xee);
	assert_int_equal(kelp_rdma_conn_state(p.rc), KELP_RDMA_UP);
	pair_close(&p);
}

/* The smaller side's maximum wins; a reader that takes none (or speaks version 1) gets WRITEs. */
static void test_inline_negotiation(void **state)
{
	struct kelp_rdma_done done[64];
	unsigned sends, writes;
	struct pair p;

	reader_inline = 4096;
	export_inline = 1024;
	pair_open(&p, 8, 8);
	assert_int_equal(submit_read(&p, 0, 0, 1024, 1), 0);
	assert_int_equal(submit_read(&p, 1, 0, 1025, 2), 0);
	wire_deliver(&p.rqp->qp);
	poll_all(p.elc, done, 64);
	count_posted(p.eqp, &sends, &writes);
	assert_int_equal(writes, 1);
	wire_deliver(&p.eqp->qp);
	assert_int_equal(poll_all(p.rlc, done, 64), 2);
	assert_memory_equal(p.arena, needle, 1024);
	assert_memory_equal(p.arena + 16384, needle, 1025);
	pair_close(&p);

	reader_inline = 0; /* version 2, but its receive buffers hold no data */
	export_inline = 4096;
	pair_open(&p, 8, 8);
	assert_int_equal(submit_read(&p, 0, 0, 100, 1), 0);
	wire_deliver(&p.rqp->qp);
	poll_all(p.elc, done, 64);
	count_posted(p.eqp, &sends, &writes);
	assert_int_equal(writes, 1);
	wire_deliver(&p.eqp->qp);
	assert_int_equal(poll_all(p.rlc, done, 64), 1);
	assert_memory_equal(p.arena, needle, 100);
	assert_int_equal(kelp_rdma_conn_stats(p.ec)->inlined, 0);
	pair_close(&p);
}

/* Versions: a version 2 export serves a version 1 reader (ACK in version 1, no inline data); a
 * version 2 reader refused by a version 1 export hellos again in version 1. An inline reply the
 * handshake did not agree on is a protocol error. */
static void test_version_compat(void **state)
{
	struct kelp_rdma_done done[64];
	struct kelp_rdma_hello h, ack;
	unsigned sends, writes;
	struct pair p;

	reader_inline = export_inline = 4096;
	pair_open(&p, 8, 8);
	/* an old reader: a version 1 HELLO (inline maximum 0 on the wire) */
	kelp_rdma_conn_failed(p.ec, F.now);
	kelp_rdma_conn_failed(p.rc, F.now);
	F.now += KELP_RDMA_BACKOFF_MAX_NS;
	assert_int_equal(kelp_rdma_conn_hello(p.rc, &h), 0);
	assert_int_equal(h.version, 2);
	assert_int_equal(h.inline_max, 4096);
	h.version = 1;
	h.inline_max = 0;
	assert_int_equal(kelp_rdma_conn_establish(p.ec, &h, F.now), 0);
	assert_int_equal(kelp_rdma_conn_hello(p.ec, &ack), 0);
	assert_int_equal(ack.version, 1);
	assert_int_equal(ack.inline_max, 0);
	/* ... which this reader would refuse (it hello'd in 2); an old export's refusal: */
	struct kelp_rdma_hello old = ack;
	old.status = KELP_RDMA_VERSION;
	assert_int_equal(kelp_rdma_conn_establish(p.rc, &old, F.now), -EPROTONOSUPPORT);
	assert_int_equal(kelp_rdma_conn_state(p.rc), KELP_RDMA_DOWN);
	F.now += KELP_RDMA_BACKOFF_MAX_NS;
	assert_int_equal(kelp_rdma_conn_hello(p.rc, &h), 0);
	assert_int_equal(h.version, 1); /* hello again in the export's version */
	assert_int_equal(h.inline_max, 0);
	/* from a new QP (the refusal reset the reader): a new handshake at the export too */
	kelp_rdma_conn_failed(p.ec, F.now);
	assert_int_equal(kelp_rdma_conn_establish(p.ec, &h, F.now), 0);
	assert_int_equal(kelp_rdma_conn_hello(p.ec, &ack), 0);
	assert_int_equal(kelp_rdma_conn_establish(p.rc, &ack, F.now), 0);
	pair_qps(&p);
	/* the version 1 pair reads by WRITE */
	assert_int_equal(submit_read(&p, 0, 0, 100, 1), 0);
	wire_deliver(&p.rqp->qp);
	poll_all(p.elc, done, 64);
	count_posted(p.eqp, &sends, &writes);
	assert_int_equal(writes, 1);
	wire_deliver(&p.eqp->qp);
	assert_int_equal(poll_all(p.rlc, done, 64), 1);
	assert_int_equal(done[0].status, 0);
	assert_memory_equal(p.arena, needle, 100);

	/* a forged inline reply on this connection (none agreed): the connection fails */
	assert_int_equal(submit_read(&p, 0, 0, 100, 2), 0);
	struct fake_recv r = p.rqp->rq[p.rqp->rq_head];
	struct kelp_rdma_reply rp = {
		.req_id = 0, .written = 10, .data_size = 10, .inline_data = true};
	p.rqp->rq_head = (p.rqp->rq_head + 1) % FAKE_Q;
	p.rqp->rq_n--;
	/* the request's id: the slot's, from the SEND the reader posted */
	struct kelp_rdma_request rq;
	assert_int_equal(kelp_rdma_request_parse(p.rqp->sq[0].data, 64, &rq), 0);
	rp.req_id = rq.req_id;
	assert_int_equal(kelp_rdma_reply_encode(&rp, r.addr, r.len), 42);
	cq_push(p.rqp->qp.recv_cq, (struct ibv_wc){.wr_id = r.wr_id, .byte_len = 42});
	assert_int_equal(poll_all(p.rlc, done, 64), 1);
	assert_int_equal(done[0].status, -ECONNRESET);
	assert_int_equal(kelp_rdma_conn_stats(p.rc)->errors, 1);
	pair_close(&p);
}

/* ---- keepalives of idle export connections --------------------------------------------------- */

/* The first posted send WR of @q that is a zero-length RDMA WRITE, or NULL. */
static struct fake_send *posted_probe(struct fake_qp *q)
{
	for (unsigned i = 0; i < q->sq_n; i++)
		if (q->sq[i].opcode == IBV_WR_RDMA_WRITE && q->sq[i].len == 0)
			return &q->sq[i];
	return NULL;
}

/* An exporter idle for idle_probe_ms sends a zero-length WRITE: answered, the connection stays;
 * never while requests are in flight; not answered (the reader is gone), the connection resets. */
static void test_export_keepalive(void **state)
{
	struct kelp_rdma_done done[64];
	struct fake_send *probe;
	struct pair p;

	export_probe_ms = 1000;
	pair_open(&p, 8, 8);
	F.now += 900000000ull; /* 0.9 s: not yet */
	poll_all(p.elc, done, 64);
	assert_null(posted_probe(p.eqp));
	F.now += 200000000ull;
	poll_all(p.elc, done, 64);
	probe = posted_probe(p.eqp);
	assert_non_null(probe);
	assert_true(probe->signaled);
	assert_int_equal(p.eqp->sq_n, 1);
	F.now += 3000000000ull; /* one keepalive at a time (and not yet unanswered: 5 s) */
	poll_all(p.elc, done, 64);
	assert_int_equal(p.eqp->sq_n, 1);
	wire_deliver(&p.eqp->qp); /* the reader's NIC acknowledges it */
	poll_all(p.elc, done, 64);
	assert_int_equal(kelp_rdma_conn_state(p.ec), KELP_RDMA_UP);
	assert_int_equal(kelp_rdma_conn_stats(p.ec)->probes, 1);
	assert_int_equal(poll_all(p.rlc, done, 64), 0); /* the reader never sees it */

	/* a request in flight (its reply not yet sent): no keepalive however long it takes */
	assert_int_equal(submit_read(&p, 0, 0, 100, 1), 0);
	wire_deliver(&p.rqp->qp);
	poll_all(p.elc, done, 64);
	assert_int_equal(p.eqp->sq_n, 2); /* the reply's WRITE and SEND */
	F.now += 60000000000ull;
	poll_all(p.elc, done, 64);
	assert_null(posted_probe(p.eqp));
	assert_int_equal(p.eqp->sq_n, 2);
	wire_deliver(&p.eqp->qp);
	poll_all(p.elc, done, 64);
	assert_int_equal(poll_all(p.rlc, done, 64), 1);

	/* the reader is gone: the keepalive is not acknowledged -> the connection resets */
	F.now += 1100000000ull;
	poll_all(p.elc, done, 64);
	probe = posted_probe(p.eqp);
	assert_non_null(probe);
	cq_push(p.eqp->qp.send_cq,
		(struct ibv_wc){.wr_id = probe->wr_id, .status = IBV_WC_RETRY_EXC_ERR});
	p.eqp->sq_n = 0;
	poll_all(p.elc, done, 64);
	assert_int_equal(kelp_rdma_conn_state(p.ec), KELP_RDMA_DOWN);
	assert_int_equal(kelp_rdma_conn_stats(p.ec)->idle_resets, 1);
	assert_int_equal(kelp_rdma_conn_stats(p.ec)->probes, 2);
	pair_close(&p);

	/* a keepalive that neither completes nor fails (a provider that never reports it): after
	 * max(idle_probe, 5 s) without a request meanwhile, the reader counts as gone */
	export_probe_ms = 1000;
	pair_open(&p, 8, 8);
	F.now += 1100000000ull;
	poll_all(p.elc, done, 64);
	assert_non_null(posted_probe(p.eqp));
	p.eqp->sq_n = 0; /* lost: no completion ever */
	/* ... but the reader reads meanwhile: it is there, no reset, and a new keepalive later */
	F.now += 1000000000ull;
	assert_int_equal(submit_read(&p, 0, 0, 100, 1), 0);
	round_trip(&p);
	assert_int_equal(poll_all(p.rlc, done, 64), 1);
	F.now += 5000000000ull;
	poll_all(p.elc, done, 64);
	assert_int_equal(kelp_rdma_conn_state(p.ec), KELP_RDMA_UP);
	assert_int_equal(kelp_rdma_conn_stats(p.ec)->idle_resets, 0);
	F.now += 1100000000ull;
	poll_all(p.elc, done, 64);
	assert_non_null(posted_probe(p.eqp)); /* the next one */
	p.eqp->sq_n = 0;		      /* lost too, and now the reader is silent */
	F.now += 4800000000ull;
	poll_all(p.elc, done, 64);
	assert_int_equal(kelp_rdma_conn_state(p.ec), KELP_RDMA_UP);
	F.now += 300000000ull;
	poll_all(p.elc, done, 64);
	assert_int_equal(kelp_rdma_conn_state(p.ec), KELP_RDMA_DOWN);
	assert_int_equal(kelp_rdma_conn_stats(p.ec)->idle_resets, 1);
	pair_close(&p);

	/* idle_probe_ms 0: never */
	export_probe_ms = 0;
	pair_open(&p, 8, 8);
	F.now += 3600000000000ull;
	poll_all(p.elc, done, 64);
	assert_int_equal(p.eqp->sq_n, 0);
	pair_close(&p);
}

static bool readable(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	return poll(&pfd, 1, 0) == 1;
}

/* The completion channel that lets kelpd's export lcore park (lcore/rdma/rdma_export.c): armed,
 * the next completion (a request arriving) makes its fd readable, once per arm; arming again
 * takes that event, so the fd is quiet until the next completion; the lcore's destroy
 * acknowledges every taken event (real verbs would hang in destroy_cq otherwise: the fake
 * checks it). A CQ without a channel cannot be armed. */
static void test_export_completion_events(void **state)
{
	struct kelp_rdma_done done[64];
	struct pair p;
	int fd;

	export_events = true;
	pair_open(&p, 8, 8);
	fd = kelp_rdma_lcore_event_fd(p.elc);
	assert_true(fd >= 0);
	assert_int_equal(kelp_rdma_lcore_event_fd(p.rlc), -1);
	assert_int_equal(kelp_rdma_lcore_arm(p.rlc), -ENOTSUP);
	assert_int_equal(kelp_rdma_lcore_arm(p.elc), 0);
	assert_false(readable(fd));
	for (int i = 0; i < 3; i++) {
		assert_int_equal(submit_read(&p, 0, 0, 4096, 40 + i), 0);
		wire_deliver(&p.rqp->qp); /* the request arrives: a completion on the export CQ */
		assert_true(readable(fd));
		round_trip(&p); /* serves it: more completions, no new event (not armed) */
		assert_int_equal(poll_all(p.rlc, done, 64), 1);
		assert_int_equal(done[0].status, 0);
		assert_ptr_equal(done[0].user, (void *)(uintptr_t)(40 + i));
		assert_true(readable(fd));
		if (i < 2) { /* the last event stays taken-or-not for destroy to deal with */
			assert_int_equal(kelp_rdma_lcore_arm(p.elc), 0);
			assert_false(readable(fd));
		}
	}
	pair_close(&p); /* one event not taken, two taken: acknowledged before destroy_cq */
	assert_int_equal(F.objects, 0);
}

static void test_batched_posting(void **state)
{
	struct kelp_rdma_done done[64], unused[64];
	struct pair p;

	pair_open(&p, 8, 8);
	F.post_send_calls = F.post_recv_calls = 0;
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(kelp_rdma_submit(p.rc,
						  &(struct kelp_rdma_read){
							  .opcode = KELP_RDMA_OP_READ,
							  .fid = NEEDLE_FID,
							  .offset = i * 100,
							  .length = 50,
							  .addr = (uintptr_t)(p.arena + i * 16384u),
							  .rkey = p.arena_mr->rkey,
							  .user = (void *)(uintptr_t)(i + 1),
							  .more = true}),
				 0);
	assert_int_equal(p.rqp->sq_n, 0); /* queued, not posted */
	assert_int_equal(F.post_send_calls, 0);
	assert_int_equal(kelp_rdma_conn_in_flight(p.rc), 3);
	assert_int_equal(submit_read(&p, 3, 300, 50, 4), 0); /* without `more`: the burst goes */
	assert_int_equal(F.post_send_calls, 1);
	assert_int_equal(p.rqp->sq_n, 4);

	wire_deliver(&p.rqp->qp);
	F.post_send_calls = F.post_recv_calls = 0;
	assert_int_equal(kelp_rdma_lcore_poll(p.elc, unused, 64), 0); /* all four requests */
	assert_int_equal(F.post_recv_calls, 1);
	assert_int_equal(F.post_send_calls, 1);
	assert_int_equal(p.eqp->sq_n, 8);
	for (unsigned k = 0; k < 8; k++)
		assert_int_equal(p.eqp->sq[k].opcode, k % 2 ? IBV_WR_SEND : IBV_WR_RDMA_WRITE);
	assert_int_equal(p.eqp->rq_n, 8); /* every receive is back */
	wire_deliver(&p.eqp->qp);
	poll_all(p.elc, unused, 64);
	assert_int_equal(poll_all(p.rlc, done, 64), 4);
	for (int k = 0; k < 4; k++) {
		assert_int_equal(done[k].status, 0);
		assert_memory_equal(p.arena + k * 16384, needle + k * 100, 50);
	}

	/* A queued burst is posted by the next poll, or by kelp_rdma_lcore_flush. */
	kelp_rdma_submit(p.rc, &(struct kelp_rdma_read){.opcode = KELP_RDMA_OP_STAT,
							.fid = NEEDLE_FID,
							.more = true});
	assert_int_equal(p.rqp->sq_n, 0);
	kelp_rdma_lcore_poll(p.rlc, done, 64);
	assert_int_equal(p.rqp->sq_n, 1);
	kelp_rdma_submit(p.rc, &(struct kelp_rdma_read){.opcode = KELP_RDMA_OP_STAT,
							.fid = NEEDLE_FID,
							.more = true});
	assert_int_equal(kelp_rdma_lcore_flush(p.rlc), 0);
	assert_int_equal(p.rqp->sq_n, 2);
	round_trip(&p);
	assert_int_equal(poll_all(p.rlc, done, 64), 2);
	pair_close(&p);
}

/* A queued burst whose post fails: every request of it completes once, with -ECONNRESET. */
static void test_batched_post_failure(void **state)
{
	struct kelp_rdma_done done[64];
	struct pair p;

	pair_open(&p, 8, 8);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(
			kelp_rdma_submit(
				p.rc, &(struct kelp_rdma_read){.opcode = KELP_RDMA_OP_STAT,
							       .fid = NEEDLE_FID,
							       .user = (void *)(uintptr_t)(i + 1),
							       .more = true}),
			0);
	F.fail_post_send = 1;
	assert_int_equal(kelp_rdma_lcore_flush(p.rlc), -ENOMEM);
	assert_int_equal(poll_all(p.rlc, done, 64), 3);
	for (int k = 0; k < 3; k++)
		assert_int_equal(done[k].status, -ECONNRESET);
	assert_int_equal(kelp_rdma_conn_state(p.rc), KELP_RDMA_DOWN);
	assert_int_equal(kelp_rdma_conn_stats(p.rc)->errors, 1);

	/* An exporter whose reply post fails resets; its reader times out or sees the failure. */
	pair_close(&p);
	pair_open(&p, 8, 8);
	assert_int_equal(submit_read(&p, 0, 0, 10, 1), 0);
	wire_deliver(&p.rqp->qp);
	F.fail_post_send = 1;
	kelp_rdma_lcore_poll(p.elc, done, 64);
	assert_int_equal(kelp_rdma_conn_state(p.ec), KELP_RDMA_DOWN);
	assert_int_equal(kelp_rdma_conn_stats(p.ec)->errors, 1);
	pair_close(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_device_discovery, setup),
		cmocka_unit_test_setup(test_export_registration_fallback, setup),
		cmocka_unit_test_setup(test_read_round_trip, setup),
		cmocka_unit_test_setup(test_export_errors, setup),
		cmocka_unit_test_setup(test_credits, setup),
		cmocka_unit_test_setup(test_out_of_order_completions, setup),
		cmocka_unit_test_setup(test_failure_reset_reconnect, setup),
		cmocka_unit_test_setup(test_reset_renews_qp, setup),
		cmocka_unit_test_setup(test_failure_reported_across_polls, setup),
		cmocka_unit_test_setup(test_request_timeout, setup),
		cmocka_unit_test_setup(test_protocol_errors, setup),
		cmocka_unit_test_setup(test_handshake_checks, setup),
		cmocka_unit_test_setup(test_export_queue_and_bounce, setup),
		cmocka_unit_test_setup(test_export_faulted_source_corrupt, setup),
		cmocka_unit_test_setup(test_export_chunked_read, setup),
		cmocka_unit_test_setup(test_export_chunked_read_waits_for_buffers, setup),
		cmocka_unit_test_setup(test_export_chunked_reads_fill_every_credit, setup),
		cmocka_unit_test_setup(test_export_large_read_not_starved, setup),
		cmocka_unit_test_setup(test_export_read_too_large, setup),
		cmocka_unit_test_setup(test_export_reset_returns_chunk_buffers, setup),
		cmocka_unit_test_setup(test_export_retires_replaced_connections, setup),
		cmocka_unit_test_setup(test_inline_reply, setup),
		cmocka_unit_test_setup(test_inline_negotiation, setup),
		cmocka_unit_test_setup(test_version_compat, setup),
		cmocka_unit_test_setup(test_export_keepalive, setup),
		cmocka_unit_test_setup(test_export_completion_events, setup),
		cmocka_unit_test_setup(test_batched_posting, setup),
		cmocka_unit_test_setup(test_batched_post_failure, setup),
	};
	return cmocka_run_group_tests_name("nic_conn", tests, NULL, NULL);
}
