/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RDMA connections and the requests on them: the state machines described in conn.h.
 * Setup and teardown follow rdma-core's rc_pingpong.c (goto ladders, reverse teardown, every
 * destroy checked, messages naming the object). Only the owning lcore touches any of this.
 */
#include "nic/conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nic/mr.h"

/* wr_id kinds. */
enum wr_kind {
	WR_REQ_SEND = 1,   /* reader: a request went out */
	WR_REPLY_RECV = 2, /* reader: a reply came in */
	WR_REQ_RECV = 3,   /* exporter: a request came in */
	WR_REPLY_SEND = 4, /* exporter: a reply (after its RDMA WRITE) went out */
	WR_WRITE = 5,      /* exporter: the RDMA WRITE (unsignaled: only seen when it fails) */
};

static inline uint64_t wr_id_make(enum wr_kind kind, uint8_t gen, uint16_t conn, uint32_t slot)
{
	return (uint64_t)kind << 56 | (uint64_t)gen << 48 | (uint64_t)conn << 32 | slot;
}

/* One request slot. Reader: a request in flight. Exporter: a reply (and its bounce buffer) until
 * its send completes. */
struct slot {
	bool busy;
	bool send_done;  /* reader: the request's SEND completed */
	bool reply_done; /* reader: its reply arrived (or it was failed) */
	bool fail_pending; /* reader: must still be reported as -ECONNRESET */
	uint32_t length;
	uint64_t req_id;
	void *user;
	int32_t bounce;  /* exporter: first of the bounce buffers it holds (lc->bounce_next links
			  * the rest), or -1 */
};

/* A slot's work requests, built in place so they can wait in a chain until the connection is
 * flushed (reader: the request SEND; exporter: the RDMA WRITE and the reply SEND). */
struct slot_wrs {
	struct ibv_send_wr write, send;
	struct ibv_sge write_sge, send_sge;
};

/* The RDMA WRITE of one bounce buffer's piece of a reply. It lives beside its buffer: a buffer is
 * held by one reply from the copy until the reply's send completes, which is after the WRITE was
 * posted, so the storage cannot be reused while the WRITE waits in a chain. */
struct chunk_wr {
	struct ibv_send_wr wr;
	struct ibv_sge sge;
};

/* A receive buffer's work request, likewise. */
struct recv_wrs {
	struct ibv_recv_wr wr;
	struct ibv_sge sge;
};

struct kelp_rdma_conn {
	struct kelp_rdma_lcore *lc;
	enum kelp_rdma_role role;
	enum kelp_rdma_state state;
	uint16_t index; /* in lc->conns */
	uint8_t gen;    /* changes on every reset: tags wr_ids */
	bool failing;   /* reader: failed, some slots still to report */
	bool inline_ok; /* the QP takes our messages inline */

	struct ibv_qp *qp;
	uint32_t psn;

	uint16_t max_credits; /* as created */
	uint16_t credits;     /* granted by the handshake */
	uint16_t in_flight;   /* reader: requests awaiting a reply */
	uint32_t nslots;
	struct slot *slots;
	uint32_t *free_slots; /* stack */
	uint32_t nfree;
	uint64_t next_seq;

	/* exporter: requests received while every reply slot was busy (their reply sends not yet
	 * completed), served in order as slots free up. At most max_credits: more would mean the
	 * reader overran its credits. */
	struct kelp_rdma_request *pending;
	uint16_t pend_head, pend_count;

	/* recv buffers (max_credits * MSG_MAX), then send buffers (nslots * MSG_MAX) */
	uint8_t *bufs;
	struct ibv_mr *bufs_mr;

	/* Work requests queued for the next flush (see flush_conn): one post call per connection
	 * and poll instead of one per request. Receives are posted before sends. */
	struct slot_wrs *swrs;   /* per slot */
	struct recv_wrs *rwrs;   /* per receive buffer */
	struct ibv_send_wr *send_head, *send_tail;
	struct ibv_recv_wr *recv_head, *recv_tail;
	bool dirty;              /* listed in lc->dirty */

	/* exporter: the reader on the other end, from its HELLO (kelp_rdma_conn_establish) */
	uint8_t peer_gid[16];
	uint64_t peer_reader_id, peer_incarnation;
	uint16_t peer_lane;

	uint64_t retry_at;
	uint64_t backoff;
	uint64_t last_progress; /* reader: last reply, or the submit that made in_flight 1 */
	struct kelp_rdma_conn_stats stats;
};

struct kelp_rdma_lcore {
	struct kelp_rdma_dev *dev;
	const struct kelp_verbs_ops *ops;
	struct ibv_cq *cq;
	int cq_entries;
	uint64_t (*clock_ns)(void);
	uint64_t request_timeout;
	uint64_t next_timeout_check;
	uint32_t polls;
	bool has_export;
	struct kelp_rdma_export_ops export;

	uint8_t *bounce;
	struct ibv_mr *bounce_mr;
	uint32_t bounce_slots, bounce_size;
	uint32_t *bounce_free; /* stack */
	uint32_t bounce_nfree;
	int32_t *bounce_next;  /* per buffer: the next buffer of the same reply, or -1 */
	struct chunk_wr *bounce_wr; /* per buffer: its piece's RDMA WRITE */
	uint32_t max_read;     /* largest read served through the pool (<= the whole pool) */
	int32_t bounce_waiter; /* the connection whose first queued request waits for bounce
				* buffers, or -1; other connections' bounce reads queue behind it, so
				* that a large read is not overtaken for ever by small ones */

	struct kelp_rdma_conn *conns[KELP_RDMA_MAX_CONNS];
	uint8_t gen_of[KELP_RDMA_MAX_CONNS]; /* survives destroy so a reused index gets a new gen */
	uint32_t failing; /* connections with failures still to report */
	uint32_t pending; /* exporter requests waiting for a reply slot, all connections */
	uint16_t dirty[KELP_RDMA_MAX_CONNS]; /* indexes of connections with queued work requests */
	uint32_t ndirty;
	struct kelp_rdma_lcore_stats stats;
};

/* The default clock: timeouts (seconds) and backoff (100 ms and up) need no better than the
 * coarse clock's tick (1-4 ms), and it is read from the vDSO page without touching the clock
 * hardware. (CLOCK_MONOTONIC is a system call and an HPET read where the TSC is not trusted, as
 * in the QEMU test VM: it showed up as 15-20 % of a busy RDMA run there.) */
static uint64_t coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint8_t *recv_buf(struct kelp_rdma_conn *c, uint32_t i)
{
	return c->bufs + (size_t)i * KELP_RDMA_MSG_MAX;
}

static uint8_t *send_buf(struct kelp_rdma_conn *c, uint32_t i)
{
	return c->bufs + ((size_t)c->max_credits + i) * KELP_RDMA_MSG_MAX;
}

/* ---- lcore ---------------------------------------------------------------------------------- */

struct kelp_rdma_lcore *kelp_rdma_lcore_create(struct kelp_rdma_dev *dev,
					       const struct kelp_rdma_lcore_config *cfg,
					       const struct kelp_rdma_export_ops *export)
{
	struct kelp_rdma_lcore *lc = calloc(1, sizeof(*lc));
	int err;

	if (!lc)
		return NULL;
	lc->dev = dev;
	lc->ops = dev->ops;
	lc->cq_entries = cfg && cfg->cq_entries ? cfg->cq_entries : 4096;
	lc->clock_ns = cfg && cfg->clock_ns ? cfg->clock_ns : coarse_ns;
	lc->bounce_waiter = -1;
	lc->request_timeout =
		(cfg && cfg->request_timeout_ms ? cfg->request_timeout_ms : 2000) * 1000000ull;

	lc->cq = lc->ops->create_cq(dev->ctx, lc->cq_entries, dev->is_mlx5);
	if (!lc->cq) {
		err = errno;
		fprintf(stderr, "kelp: cannot create a CQ of %d entries on %s: %s\n", lc->cq_entries,
			dev->name, strerror(err));
		goto free_lc;
	}
	if (export) {
		lc->has_export = true;
		lc->export = *export;
		lc->bounce_slots = cfg && cfg->bounce_slots ? cfg->bounce_slots : 64;
		lc->bounce_size = cfg && cfg->bounce_size ? cfg->bounce_size : 1u << 20;
		/* A read larger than the whole pool could never be served: it would wait forever
		 * for buffers (export_serve), so the bound is at most the pool. */
		uint64_t pool = (uint64_t)lc->bounce_slots * lc->bounce_size;
		lc->max_read = cfg && cfg->max_read ? cfg->max_read : KELP_RDMA_MAX_READ_DEFAULT;
		if (lc->max_read > pool)
			lc->max_read = pool > UINT32_MAX ? UINT32_MAX : (uint32_t)pool;
		lc->bounce = aligned_alloc(4096, (size_t)lc->bounce_slots * lc->bounce_size);
		lc->bounce_free = calloc(lc->bounce_slots, sizeof(uint32_t));
		lc->bounce_next = calloc(lc->bounce_slots, sizeof(int32_t));
		lc->bounce_wr = calloc(lc->bounce_slots, sizeof(struct chunk_wr));
		if (!lc->bounce || !lc->bounce_free || !lc->bounce_next || !lc->bounce_wr) {
			err = ENOMEM;
			fprintf(stderr, "kelp: cannot allocate the bounce pool (%u x %u bytes)\n",
				lc->bounce_slots, lc->bounce_size);
			goto free_bounce;
		}
		lc->bounce_mr = lc->ops->reg_mr(dev->pd, lc->bounce,
						(size_t)lc->bounce_slots * lc->bounce_size, 0);
		if (!lc->bounce_mr) {
			err = errno;
			fprintf(stderr, "kelp: cannot register the bounce pool on %s: %s\n",
				dev->name, strerror(err));
			goto free_bounce;
		}
		for (uint32_t i = 0; i < lc->bounce_slots; i++)
			lc->bounce_free[lc->bounce_nfree++] = lc->bounce_slots - 1 - i;
	}
	return lc;

free_bounce:
	free(lc->bounce_wr);
	free(lc->bounce_next);
	free(lc->bounce_free);
	free(lc->bounce);
	if (lc->ops->destroy_cq(lc->cq) < 0)
		fprintf(stderr, "kelp: destroying the CQ on %s failed\n", dev->name);
free_lc:
	free(lc);
	errno = err;
	return NULL;
}

int kelp_rdma_lcore_destroy(struct kelp_rdma_lcore *lc)
{
	int ret, first = 0;

	if (!lc)
		return 0;
	for (int i = 0; i < KELP_RDMA_MAX_CONNS; i++) {
		if (lc->conns[i]) {
			ret = kelp_rdma_conn_destroy(lc->conns[i]);
			if (ret < 0 && !first)
				first = ret;
		}
	}
	if (lc->bounce_mr) {
		ret = kelp_rdma_dereg(lc->dev, lc->bounce_mr, "bounce pool");
		if (ret < 0 && !first)
			first = ret;
	}
	free(lc->bounce_wr);
	free(lc->bounce_next);
	free(lc->bounce_free);
	free(lc->bounce);
	ret = lc->ops->destroy_cq(lc->cq);
	if (ret < 0) {
		fprintf(stderr, "kelp: destroying the CQ on %s failed: %s\n", lc->dev->name,
			strerror(-ret));
		if (!first)
			first = ret;
	}
	free(lc);
	return first;
}

const struct kelp_rdma_lcore_stats *kelp_rdma_lcore_stats(const struct kelp_rdma_lcore *lc)
{
	return &lc->stats;
}

/* ---- QP state transitions --------------------------------------------------------------------- */

static int qp_to_init(struct kelp_rdma_conn *c)
{
	struct ibv_qp_attr attr = {
		.qp_state = IBV_QPS_INIT,
		.pkey_index = 0,
		.port_num = c->lc->dev->port,
		/* The reader's QP is the target of the export's RDMA WRITEs. */
		.qp_access_flags = c->role == KELP_RDMA_READER ? IBV_ACCESS_REMOTE_WRITE : 0,
	};

	return c->lc->ops->modify_qp(c->qp, &attr,
				     IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
					     IBV_QP_ACCESS_FLAGS);
}

static int qp_to_rts(struct kelp_rdma_conn *c, const struct kelp_rdma_hello *peer)
{
	struct kelp_rdma_dev *dev = c->lc->dev;
	struct ibv_qp_attr attr = {
		.qp_state = IBV_QPS_RTR,
		.path_mtu = peer->mtu < dev->active_mtu ? (enum ibv_mtu)peer->mtu : dev->active_mtu,
		.dest_qp_num = peer->qpn,
		.rq_psn = peer->psn,
		.max_dest_rd_atomic = 1,
		.min_rnr_timer = 12,
		.ah_attr = {
			.is_global = 1,
			.dlid = peer->lid,
			.sl = 0,
			.src_path_bits = 0,
			.port_num = dev->port,
			.grh = {.hop_limit = 1, .sgid_index = (uint8_t)dev->gid_index},
		},
	};
	int ret;

	memcpy(attr.ah_attr.grh.dgid.raw, peer->gid, 16);
	ret = c->lc->ops->modify_qp(c->qp, &attr,
				    IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
					    IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
					    IBV_QP_MIN_RNR_TIMER);
	if (ret < 0) {
		fprintf(stderr, "kelp: QP %u to RTR on %s failed: %s\n", c->qp->qp_num, dev->name,
			strerror(-ret));
		return ret;
	}
	memset(&attr, 0, sizeof(attr));
	attr.qp_state = IBV_QPS_RTS;
	attr.timeout = 14;  /* 4.096 us * 2^14 = 67 ms per try */
	attr.retry_cnt = 7; /* so a dead peer is noticed within ~0.5 s */
	attr.rnr_retry = 7;
	attr.sq_psn = c->psn;
	attr.max_rd_atomic = 1;
	ret = c->lc->ops->modify_qp(c->qp, &attr,
				    IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
					    IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
					    IBV_QP_MAX_QP_RD_ATOMIC);
	if (ret < 0)
		fprintf(stderr, "kelp: QP %u to RTS on %s failed: %s\n", c->qp->qp_num, dev->name,
			strerror(-ret));
	return ret;
}

/* Builds receive buffer @i's work request in c->rwrs[i] (not posted). */
static struct ibv_recv_wr *recv_wr(struct kelp_rdma_conn *c, uint32_t i)
{
	enum wr_kind kind = c->role == KELP_RDMA_READER ? WR_REPLY_RECV : WR_REQ_RECV;
	struct recv_wrs *r = &c->rwrs[i];

	r->sge = (struct ibv_sge){
		.addr = (uintptr_t)recv_buf(c, i),
		.length = KELP_RDMA_MSG_MAX,
		.lkey = c->bufs_mr->lkey,
	};
	r->wr = (struct ibv_recv_wr){
		.wr_id = wr_id_make(kind, c->gen, c->index, i),
		.sg_list = &r->sge,
		.num_sge = 1,
	};
	return &r->wr;
}

static void mark_dirty(struct kelp_rdma_conn *c)
{
	if (!c->dirty) {
		c->dirty = true;
		c->lc->dirty[c->lc->ndirty++] = c->index;
	}
}

/* Queues receive buffer @i to be posted again at the next flush. */
static void queue_recv(struct kelp_rdma_conn *c, uint32_t i)
{
	struct ibv_recv_wr *wr = recv_wr(c, i);

	if (c->recv_tail)
		c->recv_tail->next = wr;
	else
		c->recv_head = wr;
	c->recv_tail = wr;
	mark_dirty(c);
}

/* Queues the send work requests @first..@last (linked through ->next) for the next flush. */
static void queue_send(struct kelp_rdma_conn *c, struct ibv_send_wr *first, struct ibv_send_wr *last)
{
	last->next = NULL;
	if (c->send_tail)
		c->send_tail->next = first;
	else
		c->send_head = first;
	c->send_tail = last;
	mark_dirty(c);
}

/* Builds slot @i's SEND of the @len-byte message already encoded in its send buffer (reader:
 * a request, exporter: a reply; @kind tags the completion) in @w. Signaled, and inline when the
 * QP allows it. */
static void build_send(struct kelp_rdma_conn *c, struct slot_wrs *w, enum wr_kind kind, uint32_t i,
		       uint32_t len)
{
	w->send_sge = (struct ibv_sge){.addr = (uintptr_t)send_buf(c, i), .length = len,
				       .lkey = c->bufs_mr->lkey};
	w->send = (struct ibv_send_wr){
		.wr_id = wr_id_make(kind, c->gen, c->index, i),
		.sg_list = &w->send_sge,
		.num_sge = 1,
		.opcode = IBV_WR_SEND,
		.send_flags = IBV_SEND_SIGNALED | (c->inline_ok ? IBV_SEND_INLINE : 0),
	};
}

/* Builds, in @wr and @sge, slot @si's unsignaled RDMA WRITE of @len bytes at @from (lkey @lkey)
 * to the reader's @remote_addr (@rkey). Exporter: one per registered source, one per bounce
 * buffer otherwise. */
static void build_write(struct kelp_rdma_conn *c, struct ibv_send_wr *wr, struct ibv_sge *sge,
			uint32_t si, const uint8_t *from, uint32_t len, uint32_t lkey,
			uint64_t remote_addr, uint32_t rkey)
{
	*sge = (struct ibv_sge){.addr = (uintptr_t)from, .length = len, .lkey = lkey};
	*wr = (struct ibv_send_wr){
		.wr_id = wr_id_make(WR_WRITE, c->gen, c->index, si),
		.sg_list = sge,
		.num_sge = 1,
		.opcode = IBV_WR_RDMA_WRITE,
		.wr.rdma = {.remote_addr = remote_addr, .rkey = rkey},
	};
}

/* Drops whatever is queued (the connection is being reset or destroyed). */
static void drop_queued(struct kelp_rdma_conn *c)
{
	c->send_head = c->send_tail = NULL;
	c->recv_head = c->recv_tail = NULL;
}

static void conn_fail(struct kelp_rdma_conn *c, const char *why);

/*
 * Posts what is queued on @c: receives first (a reply SEND returns a credit, so the receive the
 * request used must be back before it), then sends, each as one chain. The queues are empty
 * afterwards either way. @return 0 or the -errno of the post (the caller fails the connection).
 */
static int flush_conn(struct kelp_rdma_conn *c)
{
	struct ibv_send_wr *bad_send;
	struct ibv_recv_wr *bad_recv;
	int ret = 0;

	if (c->recv_head) {
		ret = c->lc->ops->post_recv(c->qp, c->recv_head, &bad_recv);
		c->recv_head = c->recv_tail = NULL;
	}
	if (c->send_head && ret == 0)
		ret = c->lc->ops->post_send(c->qp, c->send_head, &bad_send);
	c->send_head = c->send_tail = NULL;
	return ret;
}

int kelp_rdma_lcore_flush(struct kelp_rdma_lcore *lc)
{
	int first = 0;

	for (uint32_t k = 0; k < lc->ndirty; k++) {
		struct kelp_rdma_conn *c = lc->conns[lc->dirty[k]];
		int ret;

		if (!c || !c->dirty)
			continue;
		c->dirty = false;
		if (c->state != KELP_RDMA_UP) {
			drop_queued(c); /* failing: its QP is reset before it is used again */
			continue;
		}
		ret = flush_conn(c);
		if (ret < 0) {
			c->stats.errors++;
			conn_fail(c, "posting work requests failed");
			if (!first)
				first = ret;
		}
	}
	lc->ndirty = 0;
	return first;
}

/* Gives the bounce buffers held by exporter slot @s back to the pool. */
static void slot_put_bounce(struct kelp_rdma_lcore *lc, struct slot *s)
{
	for (int32_t b = s->bounce; b >= 0; b = lc->bounce_next[b])
		lc->bounce_free[lc->bounce_nfree++] = (uint32_t)b;
	s->bounce = -1;
}

/* Fresh slots and PSN, QP in INIT with every receive posted. */
static int conn_arm(struct kelp_rdma_conn *c)
{
	int ret;

	memset(c->slots, 0, c->nslots * sizeof(*c->slots));
	c->nfree = 0;
	for (uint32_t i = 0; i < c->nslots; i++)
		c->free_slots[c->nfree++] = c->nslots - 1 - i;
	c->in_flight = 0;
	c->credits = 0;
	c->lc->pending -= c->pend_count;
	c->pend_count = 0;
	c->pend_head = 0;
	if (c->lc->bounce_waiter == c->index)
		c->lc->bounce_waiter = -1; /* its queue is gone */
	c->psn = (uint32_t)(c->lc->clock_ns() ^ ((uint64_t)c->index << 8)) & 0xffffff;
	ret = qp_to_init(c);
	if (ret < 0) {
		fprintf(stderr, "kelp: QP %u to INIT on %s failed: %s\n", c->qp->qp_num,
			c->lc->dev->name, strerror(-ret));
		return ret;
	}
	drop_queued(c);
	for (uint32_t i = 0; i < c->max_credits; i++) {
		struct ibv_recv_wr *bad;

		ret = c->lc->ops->post_recv(c->qp, recv_wr(c, i), &bad);
		if (ret < 0) {
			fprintf(stderr, "kelp: posting receive %u on QP %u failed: %s\n", i,
				c->qp->qp_num, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/* Back to DOWN: QP to RESET (drops its queues), new generation, re-armed. */
static void conn_reset(struct kelp_rdma_conn *c, uint64_t now)
{
	struct ibv_qp_attr attr = {.qp_state = IBV_QPS_RESET};
	struct kelp_rdma_lcore *lc = c->lc;

	/* Work requests not yet posted point into bounce buffers that go back to the pool now. */
	drop_queued(c);
	/* Bounce buffers held by replies that will never complete go back to the pool. */
	for (uint32_t i = 0; i < c->nslots; i++)
		if (c->slots[i].busy)
			slot_put_bounce(lc, &c->slots[i]);
	if (lc->ops->modify_qp(c->qp, &attr, IBV_QP_STATE) < 0)
		fprintf(stderr, "kelp: QP %u to RESET failed\n", c->qp->qp_num);
	c->gen = ++lc->gen_of[c->index];
	c->state = KELP_RDMA_DOWN;
	c->retry_at = now + c->backoff;
	c->backoff = c->backoff * 2 > KELP_RDMA_BACKOFF_MAX_NS ? KELP_RDMA_BACKOFF_MAX_NS
							       : c->backoff * 2;
	if (conn_arm(c) < 0)
		c->retry_at = now + KELP_RDMA_BACKOFF_MAX_NS; /* try again much later */
}

/* The connection broke (@why says how, for the one message): readers report every request in
 * flight as -ECONNRESET (from the next polls), then the QP is reset. Exporters reset at once. */
static void conn_fail(struct kelp_rdma_conn *c, const char *why)
{
	if (c->state != KELP_RDMA_UP)
		return;
	fprintf(stderr, "kelp: RDMA connection on QP %u (%s) failed: %s; resetting it\n",
		c->qp->qp_num, c->role == KELP_RDMA_READER ? "reader" : "exporter", why);
	c->stats.resets++;
	if (c->role == KELP_RDMA_EXPORTER) {
		conn_reset(c, c->lc->clock_ns());
		return;
	}
	c->state = KELP_RDMA_CONNECTING; /* neither UP (no submits) nor DOWN (no reconnect) yet */
	c->failing = true;
	c->lc->failing++;
	for (uint32_t i = 0; i < c->nslots; i++)
		if (c->slots[i].busy && !c->slots[i].reply_done)
			c->slots[i].fail_pending = true;
}

/* ---- connection lifecycle ----------------------------------------------------------------------- */

struct kelp_rdma_conn *kelp_rdma_conn_create(struct kelp_rdma_lcore *lc, enum kelp_rdma_role role,
					     uint16_t credits)
{
	struct kelp_rdma_conn *c;
	struct ibv_qp_init_attr qpa;
	int index = -1, err;
	size_t bufs_len;

	if (credits == 0 || credits > KELP_RDMA_MAX_CREDITS ||
	    (role != KELP_RDMA_READER && role != KELP_RDMA_EXPORTER)) {
		errno = EINVAL;
		return NULL;
	}
	for (int i = 0; i < KELP_RDMA_MAX_CONNS; i++) {
		if (!lc->conns[i]) {
			index = i;
			break;
		}
	}
	if (index < 0) {
		errno = ENOSPC;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->lc = lc;
	c->role = role;
	c->index = (uint16_t)index;
	c->gen = ++lc->gen_of[index];
	c->max_credits = credits;
	/* An exporter keeps a reply slot until its send completes, which may be after the reader
	 * already sent its next request: twice the credits covers that lag. */
	c->nslots = role == KELP_RDMA_READER ? credits : 2u * credits;
	c->backoff = KELP_RDMA_BACKOFF_MIN_NS;

	c->slots = calloc(c->nslots, sizeof(*c->slots));
	c->free_slots = calloc(c->nslots, sizeof(uint32_t));
	c->pending = calloc(credits, sizeof(*c->pending));
	c->swrs = calloc(c->nslots, sizeof(*c->swrs));
	c->rwrs = calloc(credits, sizeof(*c->rwrs));
	bufs_len = ((size_t)c->max_credits + c->nslots) * KELP_RDMA_MSG_MAX;
	c->bufs = aligned_alloc(4096, (bufs_len + 4095) & ~(size_t)4095);
	if (!c->slots || !c->free_slots || !c->pending || !c->swrs || !c->rwrs || !c->bufs) {
		err = ENOMEM;
		goto free_mem;
	}
	memset(c->bufs, 0, bufs_len);
	c->bufs_mr = lc->ops->reg_mr(lc->dev->pd, c->bufs, bufs_len, IBV_ACCESS_LOCAL_WRITE);
	if (!c->bufs_mr) {
		err = errno;
		fprintf(stderr, "kelp: cannot register message buffers on %s: %s\n", lc->dev->name,
			strerror(err));
		goto free_mem;
	}

	memset(&qpa, 0, sizeof(qpa));
	qpa.send_cq = lc->cq;
	qpa.recv_cq = lc->cq;
	qpa.qp_type = IBV_QPT_RC;
	qpa.sq_sig_all = 0;
	/* The send queue never overflows: a reader has one SEND per slot; an exporter one reply
	 * SEND and at most one WRITE from a registered source per slot, plus one WRITE per bounce
	 * buffer of the lcore's pool (each held by one reply until its SEND completes, and the
	 * unsignaled WRITEs before that SEND leave the queue with it). */
	qpa.cap.max_send_wr = role == KELP_RDMA_READER ? c->nslots + 1
						       : 2 * c->nslots + lc->bounce_slots + 1;
	qpa.cap.max_recv_wr = credits;
	qpa.cap.max_send_sge = 1;
	qpa.cap.max_recv_sge = 1;
	qpa.cap.max_inline_data = KELP_RDMA_MSG_MAX;
	c->qp = lc->ops->create_qp(lc->dev->pd, &qpa);
	if (!c->qp) {
		/* Some devices take no inline data: retry without. */
		qpa.cap.max_inline_data = 0;
		c->qp = lc->ops->create_qp(lc->dev->pd, &qpa);
	}
	if (!c->qp) {
		err = errno;
		fprintf(stderr, "kelp: cannot create an RC QP (%u send, %u recv) on %s: %s\n",
			qpa.cap.max_send_wr, qpa.cap.max_recv_wr, lc->dev->name, strerror(err));
		goto dereg_bufs;
	}
	c->inline_ok = qpa.cap.max_inline_data >= KELP_RDMA_MSG_MAX;
	lc->conns[index] = c;
	err = conn_arm(c);
	if (err < 0) {
		err = -err;
		lc->conns[index] = NULL;
		goto destroy_qp;
	}
	return c;

destroy_qp:
	if (lc->ops->destroy_qp(c->qp) < 0)
		fprintf(stderr, "kelp: destroying QP %u failed\n", c->qp->qp_num);
dereg_bufs:
	kelp_rdma_dereg(lc->dev, c->bufs_mr, "message buffer");
free_mem:
	free(c->bufs);
	free(c->rwrs);
	free(c->swrs);
	free(c->pending);
	free(c->free_slots);
	free(c->slots);
	free(c);
	errno = err;
	return NULL;
}

int kelp_rdma_conn_destroy(struct kelp_rdma_conn *c)
{
	struct kelp_rdma_lcore *lc;
	int ret, first = 0;

	if (!c)
		return 0;
	lc = c->lc;
	if (c->failing)
		lc->failing--;
	for (uint32_t i = 0; i < c->nslots; i++)
		if (c->slots[i].busy)
			slot_put_bounce(lc, &c->slots[i]);
	lc->conns[c->index] = NULL;
	if (c->dirty) {
		/* Unlist it: a connection created later at the same index is flushed on its own. */
		for (uint32_t k = 0; k < lc->ndirty; k++)
			if (lc->dirty[k] == c->index)
				lc->dirty[k] = lc->dirty[--lc->ndirty];
	}
	ret = lc->ops->destroy_qp(c->qp);
	if (ret < 0) {
		fprintf(stderr, "kelp: destroying QP %u on %s failed: %s\n", c->qp->qp_num,
			lc->dev->name, strerror(-ret));
		first = ret;
	}
	ret = kelp_rdma_dereg(lc->dev, c->bufs_mr, "message buffer");
	if (ret < 0 && !first)
		first = ret;
	lc->pending -= c->pend_count;
	if (lc->bounce_waiter == c->index)
		lc->bounce_waiter = -1;
	free(c->bufs);
	free(c->rwrs);
	free(c->swrs);
	free(c->pending);
	free(c->free_slots);
	free(c->slots);
	free(c);
	return first;
}

int kelp_rdma_conn_hello(struct kelp_rdma_conn *c, struct kelp_rdma_hello *out)
{
	struct kelp_rdma_dev *dev = c->lc->dev;

	if (c->role == KELP_RDMA_READER) {
		if (c->state != KELP_RDMA_DOWN)
			return -EALREADY;
		c->state = KELP_RDMA_CONNECTING;
	}
	memset(out, 0, sizeof(*out));
	out->version = KELP_RDMA_PROTO_VERSION;
	out->kind = c->role == KELP_RDMA_READER ? KELP_RDMA_HELLO : KELP_RDMA_ACK;
	out->status = KELP_RDMA_OK;
	out->credits = c->role == KELP_RDMA_READER ? c->max_credits : c->credits;
	out->mtu = (uint8_t)dev->active_mtu;
	out->qpn = c->qp->qp_num & 0xffffff;
	out->psn = c->psn;
	out->lid = dev->lid;
	memcpy(out->gid, dev->gid.raw, 16);
	return 0;
}

void kelp_rdma_conn_failed(struct kelp_rdma_conn *c, uint64_t now_ns)
{
	if (c->state == KELP_RDMA_UP)
		c->stats.resets++;
	conn_reset(c, now_ns);
}

/*
 * Exporter @c just came up for a reader that named itself: reset the other exporter connections
 * of @c's lcore to that reader (same GID and reader id) which @c replaces: the same lane (the
 * reader reset its end and reconnected) or another incarnation (the reader kelpd restarted). An
 * RC QP whose peer vanished without a word stays UP otherwise: nothing is sent on it, so nothing
 * fails. Anonymous readers (id 0) are never matched.
 */
static void retire_replaced(struct kelp_rdma_conn *c, uint64_t now_ns)
{
	struct kelp_rdma_lcore *lc = c->lc;

	if (!c->peer_reader_id)
		return;
	for (int i = 0; i < KELP_RDMA_MAX_CONNS; i++) {
		struct kelp_rdma_conn *o = lc->conns[i];

		if (!o || o == c || o->role != KELP_RDMA_EXPORTER || o->state != KELP_RDMA_UP ||
		    o->peer_reader_id != c->peer_reader_id || memcmp(o->peer_gid, c->peer_gid, 16) ||
		    (o->peer_lane != c->peer_lane && o->peer_incarnation == c->peer_incarnation))
			continue;
		fprintf(stderr, "kelp: RDMA connection on QP %u (exporter): its reader reconnected "
				"(%s) on QP %u; resetting the old one\n",
			o->qp->qp_num, o->peer_incarnation == c->peer_incarnation ? "same run"
										: "restarted",
			c->qp->qp_num);
		lc->stats.retired++;
		conn_reset(o, now_ns);
	}
}

int kelp_rdma_conn_establish(struct kelp_rdma_conn *c, const struct kelp_rdma_hello *peer,
			     uint64_t now_ns)
{
	int ret;

	if (peer->version != KELP_RDMA_PROTO_VERSION) {
		ret = -EPROTONOSUPPORT;
		goto fail;
	}
	if (c->role == KELP_RDMA_READER) {
		if (c->state != KELP_RDMA_CONNECTING)
			return -EALREADY;
		if (peer->kind != KELP_RDMA_ACK || peer->status != KELP_RDMA_OK) {
			ret = peer->kind == KELP_RDMA_ACK ? kelp_rdma_status_errno(peer->status)
							  : -EPROTO;
			goto fail;
		}
		if (peer->credits == 0 || peer->credits > c->max_credits) {
			ret = -EINVAL;
			goto fail;
		}
	} else {
		if (c->state != KELP_RDMA_DOWN)
			return -EALREADY;
		if (peer->kind != KELP_RDMA_HELLO || peer->credits == 0) {
			ret = peer->kind != KELP_RDMA_HELLO ? -EPROTO : -EINVAL;
			goto fail;
		}
	}
	c->credits = peer->credits < c->max_credits ? peer->credits : c->max_credits;
	ret = qp_to_rts(c, peer);
	if (ret < 0)
		goto fail;
	c->state = KELP_RDMA_UP;
	c->backoff = KELP_RDMA_BACKOFF_MIN_NS;
	if (c->role == KELP_RDMA_EXPORTER) {
		memcpy(c->peer_gid, peer->gid, 16);
		c->peer_reader_id = peer->reader_id;
		c->peer_incarnation = peer->incarnation;
		c->peer_lane = peer->lane;
		retire_replaced(c, now_ns);
	}
	return 0;
fail:
	if (c->role == KELP_RDMA_READER)
		conn_reset(c, now_ns);
	else
		c->credits = 0;
	return ret;
}

bool kelp_rdma_conn_due(const struct kelp_rdma_conn *c, uint64_t now_ns)
{
	return c->state == KELP_RDMA_DOWN && now_ns >= c->retry_at;
}

enum kelp_rdma_state kelp_rdma_conn_state(const struct kelp_rdma_conn *c)
{
	return c->state;
}

uint16_t kelp_rdma_conn_in_flight(const struct kelp_rdma_conn *c)
{
	return c->in_flight;
}

uint16_t kelp_rdma_conn_credits(const struct kelp_rdma_conn *c)
{
	return c->credits;
}

const struct kelp_rdma_conn_stats *kelp_rdma_conn_stats(const struct kelp_rdma_conn *c)
{
	return &c->stats;
}

uint64_t kelp_rdma_conn_retry_at(const struct kelp_rdma_conn *c)
{
	return c->retry_at;
}

/* ---- reader data path --------------------------------------------------------------------------- */

static void slot_release(struct kelp_rdma_conn *c, uint32_t i)
{
	c->slots[i].busy = false;
	c->free_slots[c->nfree++] = i;
}

int kelp_rdma_submit(struct kelp_rdma_conn *c, const struct kelp_rdma_read *rd)
{
	struct kelp_rdma_request rq;
	struct slot_wrs *w;
	struct slot *s;
	uint32_t i;
	int ret;

	if (c->role != KELP_RDMA_READER)
		return -EINVAL;
	if (c->state != KELP_RDMA_UP)
		return -ENOTCONN;
	if (rd->opcode == KELP_RDMA_OP_READ ? (rd->length && !rd->addr)
					    : rd->opcode != KELP_RDMA_OP_STAT)
		return -EINVAL;
	if (c->in_flight >= c->credits || c->nfree == 0)
		return -EAGAIN;

	i = c->free_slots[--c->nfree];
	s = &c->slots[i];
	*s = (struct slot){.busy = true, .user = rd->user, .bounce = -1};
	s->req_id = (++c->next_seq << 16) | i;
	s->length = rd->opcode == KELP_RDMA_OP_READ ? rd->length : 0;

	rq = (struct kelp_rdma_request){
		.opcode = rd->opcode,
		.req_id = s->req_id,
		.volume_id = rd->fid.volume_id,
		.cookie = rd->fid.cookie,
		.key = rd->fid.key,
	};
	if (rd->opcode == KELP_RDMA_OP_READ) {
		rq.offset = rd->offset;
		rq.length = rd->length;
		rq.rkey = rd->rkey;
		rq.addr = rd->addr;
	}
	ret = kelp_rdma_request_encode(&rq, send_buf(c, i), KELP_RDMA_MSG_MAX);
	if (ret < 0) {
		slot_release(c, i);
		return ret;
	}
	w = &c->swrs[i];
	build_send(c, w, WR_REQ_SEND, i, KELP_RDMA_REQUEST_SIZE);
	queue_send(c, &w->send, &w->send);
	if (!rd->more) {
		ret = flush_conn(c);
		if (ret < 0) {
			/* The caller gets the error for this request; the others (queued with
			 * `more` before it, or in flight) fail with the connection. */
			slot_release(c, i);
			c->stats.errors++;
			conn_fail(c, "posting a request failed");
			return ret;
		}
	}
	if (c->in_flight++ == 0)
		c->last_progress = c->lc->clock_ns();
	c->stats.requests++;
	return 0;
}

/* A reply arrived in receive buffer @i. @return 1 when @done was written, 0 otherwise. */
static int reader_reply(struct kelp_rdma_conn *c, uint32_t i, uint32_t byte_len,
			struct kelp_rdma_done *done)
{
	struct kelp_rdma_reply rp;
	struct slot *s;
	uint32_t si;
	int ret;

	ret = kelp_rdma_reply_parse(recv_buf(c, i), byte_len, &rp);
	queue_recv(c, i); /* posted at the end of this poll */
	if (ret < 0) {
		/* Without a valid request id we cannot tell whose reply this was. */
		c->stats.errors++;
		conn_fail(c, "malformed reply");
		return 0;
	}
	si = (uint32_t)(rp.req_id & 0xffff);
	s = si < c->nslots ? &c->slots[si] : NULL;
	if (!s || !s->busy || s->reply_done || s->req_id != rp.req_id || rp.written > s->length) {
		c->stats.errors++;
		conn_fail(c, "reply to no request in flight, or longer than asked");
		return 0;
	}
	s->reply_done = true;
	s->fail_pending = false;
	c->in_flight--;
	c->last_progress = c->lc->clock_ns();
	c->stats.replies++;
	c->stats.bytes += rp.written;
	*done = (struct kelp_rdma_done){
		.user = s->user,
		.conn = c,
		.status = kelp_rdma_status_errno(rp.status),
		.written = rp.written,
		.data_size = rp.data_size,
		.crc = rp.crc,
		.needle_flags = rp.needle_flags,
	};
	if (s->send_done)
		slot_release(c, si);
	return 1;
}

/* Report failed requests of failing connections into @done; reset a connection once all of its
 * requests are reported. @return entries written. */
static int drain_failed(struct kelp_rdma_lcore *lc, struct kelp_rdma_done *done, int max)
{
	int n = 0;

	for (int ci = 0; ci < KELP_RDMA_MAX_CONNS && lc->failing && n < max; ci++) {
		struct kelp_rdma_conn *c = lc->conns[ci];

		if (!c || !c->failing)
			continue;
		for (uint32_t i = 0; i < c->nslots && n < max; i++) {
			struct slot *s = &c->slots[i];

			if (!s->fail_pending)
				continue;
			s->fail_pending = false;
			s->reply_done = true;
			c->in_flight--;
			done[n++] = (struct kelp_rdma_done){
				.user = s->user, .conn = c, .status = -ECONNRESET};
		}
		bool left = false;

		for (uint32_t i = 0; i < c->nslots; i++)
			left |= c->slots[i].fail_pending;
		if (!left) {
			c->failing = false;
			lc->failing--;
			conn_reset(c, lc->clock_ns());
		}
	}
	return n;
}

/* ---- export data path --------------------------------------------------------------------------- */

static uint8_t export_status(struct kelp_rdma_lcore *lc, const struct kelp_rdma_request *rq,
			     struct kelp_rdma_source *src)
{
	struct kelp_fid fid = {.volume_id = rq->volume_id, .key = rq->key, .cookie = rq->cookie};
	int ret = lc->export.find(lc->export.arg, &fid, src);

	if (ret < 0)
		return kelp_rdma_errno_status(ret);
	if (rq->opcode == KELP_RDMA_OP_READ && rq->offset > src->size)
		return KELP_RDMA_BAD_REQUEST;
	return KELP_RDMA_OK;
}

/* Queues the RDMA WRITEs of @n bytes at @from to the reader's buffer (@rq's addr and rkey) through
 * @nbuf bounce buffers taken from the pool: each buffer gets the next piece (copied now, inside
 * this poll round: the volume mapping may be replaced after it) and its WRITE goes to the same
 * offset of the reader's buffer. The slot @si holds the buffers; the WRITEs are chained in front
 * of @send. @return the first WRITE. */
static struct ibv_send_wr *bounce_writes(struct kelp_rdma_conn *c, uint32_t si, const uint8_t *from,
					 uint32_t n, uint32_t nbuf,
					 const struct kelp_rdma_request *rq, struct ibv_send_wr *send)
{
	struct kelp_rdma_lcore *lc = c->lc;
	struct ibv_send_wr *first = NULL, *prev = NULL;
	int32_t *link = &c->slots[si].bounce;

	for (uint32_t k = 0; k < nbuf; k++) {
		uint32_t b = lc->bounce_free[--lc->bounce_nfree];
		uint64_t off = (uint64_t)k * lc->bounce_size;
		uint32_t len = n - off < lc->bounce_size ? (uint32_t)(n - off) : lc->bounce_size;
		uint8_t *buf = lc->bounce + (size_t)b * lc->bounce_size;
		struct chunk_wr *cw = &lc->bounce_wr[b];

		*link = (int32_t)b;
		link = &lc->bounce_next[b];
		memcpy(buf, from + off, len);
		build_write(c, &cw->wr, &cw->sge, si, buf, len, lc->bounce_mr->lkey, rq->addr + off,
			    rq->rkey);
		if (prev)
			prev->next = &cw->wr;
		else
			first = &cw->wr;
		prev = &cw->wr;
	}
	*link = -1;
	prev->next = send;
	return first;
}

/*
 * Serve @req: take a reply slot, look the needle up, queue the RDMA WRITE(s) of the bytes and the
 * reply SEND (posted together with the other replies of this poll). Bytes without an MR go
 * through the bounce pool, one WRITE per buffer-sized piece (bounce_writes); a read larger than
 * lc->max_read is answered TOO_LARGE.
 * @return 0 when the reply is queued; -EAGAIN when it cannot be served yet: no reply slot free,
 * or fewer free bounce buffers than the read needs (the replies holding them return them when
 * their sends complete, and max_read <= the pool, so it is served eventually; meanwhile its
 * connection is lc->bounce_waiter and other connections' bounce reads wait too), or another
 * connection is the waiter. The caller queues it and calls again; nothing was taken.
 */
static int export_serve(struct kelp_rdma_conn *c, const struct kelp_rdma_request *req)
{
	struct kelp_rdma_lcore *lc = c->lc;
	struct kelp_rdma_request rq = *req;
	struct kelp_rdma_source src = {0};
	struct kelp_rdma_reply rp = {0};
	struct ibv_send_wr *first;
	struct slot_wrs *w;
	struct slot *s;
	uint32_t si, n = 0, nbuf = 0;

	if (c->nfree == 0)
		return -EAGAIN;
	rp.req_id = rq.req_id;
	rp.status = export_status(lc, &rq, &src);
	if (rp.status == KELP_RDMA_OK) {
		rp.data_size = src.size;
		rp.crc = src.crc;
		rp.needle_flags = src.flags;
		if (rq.opcode == KELP_RDMA_OP_READ) {
			uint64_t left = src.size - rq.offset;

			n = rq.length < left ? rq.length : (uint32_t)left;
		}
	}
	if (n > 0 && src.use_bounce) {
		if (n > lc->max_read) {
			rp.status = KELP_RDMA_TOO_LARGE;
			c->stats.too_large++;
			n = 0;
		} else {
			nbuf = (uint32_t)(((uint64_t)n + lc->bounce_size - 1) / lc->bounce_size);
			if (lc->bounce_waiter >= 0 && lc->bounce_waiter != c->index)
				return -EAGAIN; /* behind the waiting one */
			if (nbuf > lc->bounce_nfree) {
				lc->bounce_waiter = c->index;
				return -EAGAIN;
			}
		}
	}

	if (lc->bounce_waiter == c->index)
		lc->bounce_waiter = -1; /* its waiting request is served now (whatever the answer) */
	si = c->free_slots[--c->nfree];
	s = &c->slots[si];
	*s = (struct slot){.busy = true, .bounce = -1, .req_id = rq.req_id};
	w = &c->swrs[si];
	first = &w->send;
	if (n > 0 && nbuf > 0) {
		first = bounce_writes(c, si, src.data + rq.offset, n, nbuf, &rq, &w->send);
		c->stats.bounced++;
		if (lc->export.faulted && lc->export.faulted(lc->export.arg, &src)) {
			/* what was copied may be a replaced page's zeros: send no bytes */
			slot_put_bounce(lc, s);
			first = &w->send;
			rp.status = KELP_RDMA_CORRUPT;
			n = 0;
		}
	} else if (n > 0) {
		build_write(c, &w->write, &w->write_sge, si, src.data + rq.offset, n, src.lkey,
			    rq.addr, rq.rkey);
		w->write.next = &w->send;
		first = &w->write;
	}
	rp.written = n;
	if (rp.status != KELP_RDMA_OK) {
		rp.data_size = rp.crc = 0;
		rp.needle_flags = 0;
	}
	kelp_rdma_reply_encode(&rp, send_buf(c, si), KELP_RDMA_MSG_MAX);
	build_send(c, w, WR_REPLY_SEND, si, KELP_RDMA_REPLY_SIZE);
	queue_send(c, first, &w->send);
	c->stats.bytes += n;
	return 0;
}

/* A request arrived in receive buffer @i: re-post the buffer (the credit comes back with the
 * reply, so it must be ready before then), then serve it, or queue it behind the connection's
 * earlier requests until a reply slot and the bounce buffers it needs are free. */
static void export_request(struct kelp_rdma_conn *c, uint32_t i, uint32_t byte_len)
{
	struct kelp_rdma_request rq;
	int ret;

	ret = kelp_rdma_request_parse(recv_buf(c, i), byte_len, &rq);
	queue_recv(c, i); /* posted at the end of this poll, before any reply */
	if (ret < 0) {
		/* No request id to answer: the reader's credit is lost, so the connection is. */
		c->stats.errors++;
		conn_fail(c, "malformed request");
		return;
	}
	c->stats.requests++;
	if (c->pend_count == 0 && export_serve(c, &rq) == 0)
		return;
	if (c->pend_count >= c->max_credits) {
		c->stats.errors++;
		conn_fail(c, "reader exceeded its credits");
		return;
	}
	c->pending[(c->pend_head + c->pend_count++) % c->max_credits] = rq;
	c->lc->pending++;
}

/* Serve @c's queued requests in order, as far as reply slots and bounce buffers allow. */
static void export_drain_conn(struct kelp_rdma_conn *c)
{
	while (c && c->pend_count > 0 && c->state == KELP_RDMA_UP &&
	       export_serve(c, &c->pending[c->pend_head]) == 0) {
		c->pend_head = (uint16_t)((c->pend_head + 1) % c->max_credits);
		c->pend_count--;
		c->lc->pending--;
	}
}

/* Serve queued requests of every connection: first the one waiting for bounce buffers (the
 * others' bounce reads wait behind it), then all in index order. */
static void export_drain_pending(struct kelp_rdma_lcore *lc)
{
	if (lc->bounce_waiter >= 0)
		export_drain_conn(lc->conns[lc->bounce_waiter]);
	for (int ci = 0; ci < KELP_RDMA_MAX_CONNS && lc->pending; ci++)
		export_drain_conn(lc->conns[ci]);
}

static void export_reply_sent(struct kelp_rdma_conn *c, uint32_t si)
{
	struct kelp_rdma_lcore *lc = c->lc;
	struct slot *s;

	if (si >= c->nslots || !c->slots[si].busy) {
		lc->stats.unknown_cqes++;
		return;
	}
	s = &c->slots[si];
	slot_put_bounce(lc, s);
	c->stats.replies++;
	slot_release(c, si);
}

/* Fails reader connections that have had requests in flight but no reply for request_timeout.
 * Runs at most once a millisecond. */
static void check_timeouts(struct kelp_rdma_lcore *lc)
{
	uint64_t now = lc->clock_ns();

	if (now < lc->next_timeout_check)
		return;
	lc->next_timeout_check = now + 1000000ull;
	for (int ci = 0; ci < KELP_RDMA_MAX_CONNS; ci++) {
		struct kelp_rdma_conn *c = lc->conns[ci];

		if (c && c->role == KELP_RDMA_READER && c->state == KELP_RDMA_UP && c->in_flight &&
		    now - c->last_progress > lc->request_timeout) {
			c->stats.errors++;
			conn_fail(c, "no reply within the request timeout");
		}
	}
}

/* ---- the poller --------------------------------------------------------------------------------- */

/* Handles one completion. @return 1 when @done was written. */
static int handle_wc(struct kelp_rdma_lcore *lc, const struct ibv_wc *wc, struct kelp_rdma_done *done)
{
	enum wr_kind kind = (enum wr_kind)(wc->wr_id >> 56);
	uint8_t gen = (uint8_t)(wc->wr_id >> 48);
	uint16_t ci = (uint16_t)(wc->wr_id >> 32);
	uint32_t slot = (uint32_t)wc->wr_id;
	struct kelp_rdma_conn *c = ci < KELP_RDMA_MAX_CONNS ? lc->conns[ci] : NULL;

	if (kind < WR_REQ_SEND || kind > WR_WRITE || ci >= KELP_RDMA_MAX_CONNS) {
		lc->stats.unknown_cqes++;
		return 0;
	}
	if (!c || c->gen != gen) {
		lc->stats.stale_cqes++; /* an earlier incarnation of this connection */
		return 0;
	}
	if (wc->status != IBV_WC_SUCCESS) {
		/* Flushes follow the first error of a connection; count the cause only. */
		if (c->state == KELP_RDMA_UP && wc->status != IBV_WC_WR_FLUSH_ERR)
			c->stats.errors++;
		conn_fail(c, ibv_wc_status_str(wc->status));
		return 0;
	}
	switch (kind) {
	case WR_REQ_SEND:
		if (slot < c->nslots && c->slots[slot].busy) {
			c->slots[slot].send_done = true;
			if (c->slots[slot].reply_done)
				slot_release(c, slot);
		} else {
			lc->stats.unknown_cqes++;
		}
		return 0;
	case WR_REPLY_RECV:
		if (slot >= c->max_credits || c->role != KELP_RDMA_READER) {
			lc->stats.unknown_cqes++;
			return 0;
		}
		return reader_reply(c, slot, wc->byte_len, done);
	case WR_REQ_RECV:
		if (slot >= c->max_credits || c->role != KELP_RDMA_EXPORTER) {
			lc->stats.unknown_cqes++;
			return 0;
		}
		if (c->state == KELP_RDMA_UP)
			export_request(c, slot, wc->byte_len);
		return 0;
	case WR_REPLY_SEND:
		export_reply_sent(c, slot);
		return 0;
	case WR_WRITE: /* unsignaled: only failures are reported, handled above */
		lc->stats.unknown_cqes++;
		return 0;
	}
	return 0;
}

int kelp_rdma_lcore_poll(struct kelp_rdma_lcore *lc, struct kelp_rdma_done *done, int max)
{
	struct ibv_wc wc[KELP_RDMA_POLL_BATCH];
	int n = 0, got;

	if (lc->ndirty)
		kelp_rdma_lcore_flush(lc); /* requests submitted with `more` */
	if (lc->failing)
		n = drain_failed(lc, done, max);
	if (max - n < KELP_RDMA_POLL_BATCH)
		return n;
	got = lc->ops->poll_cq(lc->cq, KELP_RDMA_POLL_BATCH, wc);
	if (got < 0)
		return got;
	if (got > 0)
		lc->stats.polls_busy++;
	for (int i = 0; i < got; i++)
		n += handle_wc(lc, &wc[i], &done[n]);
	if (lc->pending)
		export_drain_pending(lc);
	/* One post per connection for the whole batch: re-posted receives, then every reply. */
	if (lc->ndirty)
		kelp_rdma_lcore_flush(lc);
	/* Idle polls (and every 1024th) look for connections that went silent. */
	if (got == 0 || (++lc->polls & 1023) == 0)
		check_timeouts(lc);
	/* Failures found in this batch are reported by the next poll. */
	return n;
}
