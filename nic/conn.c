/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RDMA connections, the part both roles share (conn.h, conn_priv.h): the lcore's CQ and connection
 * table, each connection's RC QP and its state transitions (INIT, RTR/RTS, RESET), the handshake,
 * failure and reset with backoff, the work requests queued per connection and posted as one chain
 * (kelp_rdma_lcore_flush), and the poller that reads the CQ and hands each completion to the
 * reader (conn_reader.c) or the exporter (conn_export.c).
 * Setup and teardown follow rdma-core's rc_pingpong.c (goto ladders, reverse teardown, every
 * destroy checked, messages naming the object). Only the owning lcore touches any of this.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "nic/conn_priv.h"
#include "nic/mr.h"

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

/* ---- lcore ---------------------------------------------------------------------------------- */

int kelp_rdma_lcore_create(struct kelp_rdma_dev *dev, const struct kelp_rdma_lcore_config *cfg,
			   const struct kelp_rdma_export_ops *export, struct kelp_rdma_lcore **out)
{
	struct kelp_rdma_lcore *lc = calloc(1, sizeof(*lc));
	int err;

	*out = NULL;
	if (!lc)
		return -ENOMEM;
	lc->dev = dev;
	lc->ops = dev->ops;
	lc->cq_entries = cfg && cfg->cq_entries ? cfg->cq_entries : 4096;
	lc->clock_ns = cfg && cfg->clock_ns ? cfg->clock_ns : coarse_ns;
	lc->bounce_waiter = -1;
	lc->rd_atomic = dev->rd_atomic ? dev->rd_atomic : 1; /* a test's device may leave it 0 */
	lc->request_timeout =
		(cfg && cfg->request_timeout_ms ? cfg->request_timeout_ms
						: KELP_DEFAULT_RDMA_REQUEST_TIMEOUT_MS) *
		1000000ull;
	lc->inline_max =
		(uint16_t)(cfg && cfg->inline_max ? (cfg->inline_max < KELP_RDMA_INLINE_LIMIT
							     ? cfg->inline_max
							     : KELP_RDMA_INLINE_LIMIT)
						  : 0);
	lc->idle_probe = cfg ? cfg->idle_probe_ms * 1000000ull : 0;

	if (cfg && cfg->events && lc->ops->create_comp_channel) {
		/* without one the owner polls as before: say so, it costs a core */
		lc->channel = lc->ops->create_comp_channel(dev->ctx);
		if (!lc->channel)
			kelp_log_warn("kelp: no completion channel on %s (%s): its lcore polls the "
				      "CQ without pause",
				      dev->name, strerror(errno));
	}
	lc->cq = lc->ops->create_cq(dev->ctx, lc->cq_entries, dev->is_mlx5, lc->channel);
	if (!lc->cq) {
		err = errno;
		kelp_log_error("kelp: cannot create a CQ of %d entries on %s: %s", lc->cq_entries,
			       dev->name, strerror(err));
		goto free_lc;
	}
	if (export) {
		lc->has_export = true;
		lc->export = *export;
		err = -export_pool_create(lc, cfg);
		if (err)
			goto destroy_cq;
	}
	*out = lc;
	return 0;

destroy_cq:
	if (lc->ops->destroy_cq(lc->cq) < 0)
		kelp_log_error("kelp: destroying the CQ on %s failed", dev->name);
free_lc:
	if (lc->channel)
		lc->ops->destroy_comp_channel(lc->channel);
	free(lc);
	return err ? -err : -EIO; /* a verbs call that failed without errno */
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
	ret = export_pool_destroy(lc);
	if (ret < 0 && !first)
		first = ret;
	if (lc->events_taken) /* verbs waits for every taken event's ack in destroy_cq */
		lc->ops->ack_cq_events(lc->cq, lc->events_taken);
	ret = lc->ops->destroy_cq(lc->cq);
	if (ret < 0) {
		kelp_log_error("kelp: destroying the CQ on %s failed: %s", lc->dev->name,
			       strerror(-ret));
		if (!first)
			first = ret;
	}
	if (lc->channel) {
		ret = lc->ops->destroy_comp_channel(lc->channel);
		if (ret < 0 && !first)
			first = ret;
	}
	free(lc);
	return first;
}

int kelp_rdma_lcore_event_fd(const struct kelp_rdma_lcore *lc)
{
	return lc->channel ? lc->channel->fd : -1;
}

int kelp_rdma_lcore_arm(struct kelp_rdma_lcore *lc)
{
	struct ibv_cq *cq;

	if (!lc->channel)
		return -ENOTSUP;
	/* the events that woke the owner (one per arm at most): taken, so the fd is not readable
	 * for them any more, and acknowledged in batches (an ack takes a lock in libibverbs) */
	while (lc->ops->get_cq_event(lc->channel, &cq) == 0)
		lc->events_taken++;
	if (lc->events_taken >= 64) {
		lc->ops->ack_cq_events(lc->cq, lc->events_taken);
		lc->events_taken = 0;
	}
	return lc->ops->req_notify_cq(lc->cq);
}

const struct kelp_rdma_lcore_stats *kelp_rdma_lcore_stats(const struct kelp_rdma_lcore *lc)
{
	return &lc->stats;
}

/* ---- QP state transitions ---------------------------------------------------------------------
 */

static int qp_to_init(struct kelp_rdma_conn *c)
{
	struct ibv_qp_attr attr = {
		.qp_state = IBV_QPS_INIT,
		.pkey_index = 0,
		.port_num = c->lc->dev->port,
		/* The reader's QP is the target of the export's RDMA WRITEs, the export's the
		 * target of one-sided reads' RDMA READs (of the MRs it published). */
		.qp_access_flags = c->role == KELP_RDMA_READER ? IBV_ACCESS_REMOTE_WRITE
							       : IBV_ACCESS_REMOTE_READ,
	};

	return c->lc->ops->modify_qp(
		c->qp, &attr, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS);
}

static int qp_to_rts(struct kelp_rdma_conn *c, const struct kelp_rdma_hello *peer)
{
	struct kelp_rdma_dev *dev = c->lc->dev;
	struct ibv_qp_attr attr = {
		.qp_state = IBV_QPS_RTR,
		.path_mtu = peer->mtu < dev->active_mtu ? (enum ibv_mtu)peer->mtu : dev->active_mtu,
		.dest_qp_num = peer->qpn,
		.rq_psn = peer->psn,
		/* RDMA READs the export may have in flight from this reader (one-sided reads,
		 * KELP_RDMA_RD_ATOMIC) */
		.max_dest_rd_atomic = c->lc->rd_atomic,
		.min_rnr_timer = 12,
		.ah_attr =
			{
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
		kelp_log_warn("kelp: QP %u to RTR on %s failed: %s", c->qp->qp_num, dev->name,
			      strerror(-ret));
		return ret;
	}
	memset(&attr, 0, sizeof(attr));
	attr.qp_state = IBV_QPS_RTS;
	attr.timeout = 14;  /* 4.096 us * 2^14 = 67 ms per try */
	attr.retry_cnt = 7; /* so a dead peer is noticed within ~0.5 s */
	attr.rnr_retry = 7;
	attr.sq_psn = c->psn;
	attr.max_rd_atomic = c->lc->rd_atomic;
	ret = c->lc->ops->modify_qp(c->qp, &attr,
				    IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
					    IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
					    IBV_QP_MAX_QP_RD_ATOMIC);
	if (ret < 0)
		kelp_log_warn("kelp: QP %u to RTS on %s failed: %s", c->qp->qp_num, dev->name,
			      strerror(-ret));
	return ret;
}

/* ---- work requests: queued per connection, posted as one chain ---------------------------------
 */

/* Builds receive buffer @i's work request in c->rwrs[i] (not posted). */
static struct ibv_recv_wr *recv_wr(struct kelp_rdma_conn *c, uint32_t i)
{
	enum wr_kind kind = c->role == KELP_RDMA_READER ? WR_REPLY_RECV : WR_REQ_RECV;
	struct recv_wrs *r = &c->rwrs[i];

	r->sge = (struct ibv_sge){
		.addr = (uintptr_t)recv_buf(c, i),
		.length = c->recv_size,
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
void queue_recv(struct kelp_rdma_conn *c, uint32_t i)
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
void queue_send(struct kelp_rdma_conn *c, struct ibv_send_wr *first, struct ibv_send_wr *last)
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
 * a request, exporter: a reply, with its inline data; @kind tags the completion) in @w.
 * Signaled, and IBV_SEND_INLINE when the QP takes that much inline (up to MSG_MAX). */
void build_send(struct kelp_rdma_conn *c, struct slot_wrs *w, enum wr_kind kind, uint32_t i,
		uint32_t len)
{
	w->send_sge = (struct ibv_sge){
		.addr = (uintptr_t)send_buf(c, i), .length = len, .lkey = c->bufs_mr->lkey};
	w->send = (struct ibv_send_wr){
		.wr_id = wr_id_make(kind, c->gen, c->index, i),
		.sg_list = &w->send_sge,
		.num_sge = 1,
		.opcode = IBV_WR_SEND,
		.send_flags = IBV_SEND_SIGNALED |
			      (c->inline_ok && len <= KELP_RDMA_MSG_MAX ? IBV_SEND_INLINE : 0),
	};
}

/* Drops whatever is queued (the connection is being reset or destroyed). */
static void drop_queued(struct kelp_rdma_conn *c)
{
	c->send_head = c->send_tail = NULL;
	c->recv_head = c->recv_tail = NULL;
}

/*
 * Posts what is queued on @c: receives first (a reply SEND returns a credit, so the receive the
 * request used must be back before it), then sends, each as one chain. The queues are empty
 * afterwards either way. @return 0 or the -errno of the post (the caller fails the connection).
 */
int flush_conn(struct kelp_rdma_conn *c)
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

/* ---- slots and connection state ------------------------------------------------------------- */

void slot_release(struct kelp_rdma_conn *c, uint32_t i)
{
	c->slots[i].busy = false;
	c->free_slots[c->nfree++] = i;
}

/* Fresh slots, no requests queued or in flight (also when no QP could be made: a connection
 * without one must not hold the lcore's bounce waiter or pending count). */
static void conn_clear(struct kelp_rdma_conn *c)
{
	memset(c->slots, 0, c->nslots * sizeof(*c->slots));
	c->nfree = 0;
	for (uint32_t i = 0; i < c->nslots; i++)
		c->free_slots[c->nfree++] = c->nslots - 1 - i;
	c->in_flight = 0;
	c->rreads_out = 0;
	c->credits = 0;
	c->lc->pending -= c->pend_count;
	c->pend_count = 0;
	c->pend_head = 0;
	if (c->lc->bounce_waiter == c->index)
		c->lc->bounce_waiter = -1; /* its queue is gone */
}

/* A new PSN, the QP in INIT with every receive posted. */
static int conn_arm(struct kelp_rdma_conn *c)
{
	int ret;

	c->psn = (uint32_t)(c->lc->clock_ns() ^ ((uint64_t)c->index << 8)) & 0xffffff;
	ret = qp_to_init(c);
	if (ret < 0) {
		kelp_log_error("kelp: QP %u to INIT on %s failed: %s", c->qp->qp_num,
			       c->lc->dev->name, strerror(-ret));
		return ret;
	}
	drop_queued(c);
	for (uint32_t i = 0; i < c->max_credits; i++) {
		struct ibv_recv_wr *bad;

		ret = c->lc->ops->post_recv(c->qp, recv_wr(c, i), &bad);
		if (ret < 0) {
			kelp_log_error("kelp: posting receive %u on QP %u failed: %s", i,
				       c->qp->qp_num, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/* Destroys @qp (a connection's, current or replaced), saying so when verbs refuses.
 * @return 0 or its -errno. */
static int qp_destroy(struct kelp_rdma_lcore *lc, struct ibv_qp *qp)
{
	uint32_t qpn = qp->qp_num;
	int ret = lc->ops->destroy_qp(qp);

	if (ret < 0)
		kelp_log_error("kelp: destroying QP %u on %s failed: %s", qpn, lc->dev->name,
			       strerror(-ret));
	return ret;
}

/*
 * An RC QP for @c on the lcore's CQ (send and receive), sized for its role: in *@out, in RESET.
 * Sets c->inline_ok from what the device granted. @return 0 or -errno (message printed).
 */
static int qp_create(struct kelp_rdma_conn *c, struct ibv_qp **out)
{
	struct kelp_rdma_lcore *lc = c->lc;
	struct ibv_qp_init_attr qpa;
	struct ibv_qp *qp;
	int err;

	memset(&qpa, 0, sizeof(qpa));
	qpa.send_cq = lc->cq;
	qpa.recv_cq = lc->cq;
	qpa.qp_type = IBV_QPT_RC;
	qpa.sq_sig_all = 0;
	/* The send queue never overflows: a reader has one SEND per slot; an exporter one reply
	 * SEND and at most one WRITE from a registered source per slot, plus one WRITE per bounce
	 * buffer of the lcore's pool (each held by one reply until its SEND completes, and the
	 * unsignaled WRITEs before that SEND leave the queue with it). */
	qpa.cap.max_send_wr =
		c->role == KELP_RDMA_READER ? c->nslots + 1 : 2 * c->nslots + lc->bounce_slots + 1;
	qpa.cap.max_recv_wr = c->max_credits;
	qpa.cap.max_send_sge = c->role == KELP_RDMA_READER ? KELP_RDMA_RREAD_SGE : 1;
	qpa.cap.max_recv_sge = 1;
	qpa.cap.max_inline_data = KELP_RDMA_MSG_MAX;
	qp = lc->ops->create_qp(lc->dev->pd, &qpa);
	if (!qp) {
		/* Some devices take no inline data: retry without. */
		qpa.cap.max_inline_data = 0;
		qp = lc->ops->create_qp(lc->dev->pd, &qpa);
	}
	if (!qp) {
		err = errno ? errno : EIO; /* a verbs call that failed without errno */
		kelp_log_error("kelp: cannot create an RC QP (%u send, %u recv) on %s: %s",
			       qpa.cap.max_send_wr, qpa.cap.max_recv_wr, lc->dev->name,
			       strerror(err));
		return -err;
	}
	c->inline_ok = qpa.cap.max_inline_data >= KELP_RDMA_MSG_MAX;
	*out = qp;
	return 0;
}

/*
 * Gives @c a new QP, armed (INIT, receives posted), in place of its old one (destroyed; none at
 * creation, or after a failed attempt). The new one is made first, so its QPN differs from the
 * old one's: a peer that still sends to the old QPN reaches nothing. On failure @c has no QP
 * (c->qp NULL: it stays DOWN; kelp_rdma_conn_hello / _establish try again).
 * @return 0 or -errno (message printed).
 */
static int conn_new_qp(struct kelp_rdma_conn *c)
{
	struct ibv_qp *old = c->qp, *qp = NULL;
	int ret = qp_create(c, &qp);

	conn_clear(c);
	c->qp = NULL;
	if (old)
		qp_destroy(c->lc, old);
	if (ret < 0)
		return ret;
	c->qp = qp;
	ret = conn_arm(c);
	if (ret < 0) {
		qp_destroy(c->lc, qp);
		c->qp = NULL;
		return ret;
	}
	if (old)
		c->stats.new_qps++;
	return 0;
}

/*
 * Back to DOWN, with a new generation and a NEW QP (conn_new_qp): the old one is destroyed, not
 * moved to RESET and used again. A QP that failed may still hold work requests the provider never
 * completed (rxe on Linux 6.1 leaves a SEND to a destroyed peer QP outstanding for ever), and
 * RESET was seen not to empty its queues there: receives of the old incarnation stayed posted
 * (posting the new ones failed with ENOMEM, replies landed in stale buffers) and every later
 * connection on that QP failed with flush errors within milliseconds
 * (bench/results/2026-12-03-exportpark/). A new QP has empty queues on every provider. Its
 * completions still in the CQ carry the old generation and are dropped (stale_cqes).
 */
void conn_reset(struct kelp_rdma_conn *c, uint64_t now)
{
	struct kelp_rdma_lcore *lc = c->lc;

	/* Work requests not yet posted point into bounce buffers that go back to the pool now. */
	drop_queued(c);
	/* Bounce buffers held by replies that will never complete go back to the pool. */
	for (uint32_t i = 0; i < c->nslots; i++)
		if (c->slots[i].busy)
			export_put_bounce(lc, &c->slots[i]);
	c->gen = ++lc->gen_of[c->index];
	c->state = KELP_RDMA_DOWN;
	c->retry_at = now + c->backoff;
	c->backoff = c->backoff * 2 > KELP_RDMA_BACKOFF_MAX_NS ? KELP_RDMA_BACKOFF_MAX_NS
							       : c->backoff * 2;
	if (conn_new_qp(c) < 0)
		c->retry_at = now + KELP_RDMA_BACKOFF_MAX_NS; /* try again much later */
}

/* The connection broke (@why says how, for the one message): readers report every request in
 * flight as -ECONNRESET (from the next polls), then the QP is reset. Exporters reset at once. */
void conn_fail(struct kelp_rdma_conn *c, const char *why)
{
	if (c->state != KELP_RDMA_UP)
		return;
	kelp_log_warn("kelp: RDMA connection on QP %u (%s) failed: %s; resetting it", c->qp->qp_num,
		      c->role == KELP_RDMA_READER ? "reader" : "exporter", why);
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

/* ---- connection lifecycle -----------------------------------------------------------------------
 */

int kelp_rdma_conn_create(struct kelp_rdma_lcore *lc, enum kelp_rdma_role role, uint16_t credits,
			  struct kelp_rdma_conn **out)
{
	struct kelp_rdma_conn *c;
	int index = -1, err;
	size_t bufs_len;

	*out = NULL;
	if (credits == 0 || credits > KELP_RDMA_MAX_CREDITS ||
	    (role != KELP_RDMA_READER && role != KELP_RDMA_EXPORTER))
		return -EINVAL;
	for (int i = 0; i < KELP_RDMA_MAX_CONNS; i++) {
		if (!lc->conns[i]) {
			index = i;
			break;
		}
	}
	if (index < 0)
		return -ENOSPC;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->lc = lc;
	c->role = role;
	c->index = (uint16_t)index;
	c->gen = ++lc->gen_of[index];
	c->max_credits = credits;
	/* An exporter keeps a reply slot until its send completes, which may be after the reader
	 * already sent its next request: twice the credits covers that lag. */
	/* a reader: a slot per request its credits allow, and as many for one-sided READs, which
	 * use no credit (conn.h kelp_rdma_submit_rread) */
	c->nslots = 2u * credits;
	c->backoff = KELP_RDMA_BACKOFF_MIN_NS;
	c->hello_version = KELP_RDMA_PROTO_VERSION;
	/* Replies with inline data need room for it: the reader's receive buffers, the exporter's
	 * send buffers. */
	c->recv_size = KELP_RDMA_MSG_MAX;
	c->send_size = KELP_RDMA_MSG_MAX;
	if (lc->inline_max && role == KELP_RDMA_READER)
		c->recv_size = KELP_RDMA_REPLY_SIZE + lc->inline_max;
	else if (lc->inline_max)
		c->send_size = KELP_RDMA_REPLY_SIZE + lc->inline_max;
	c->recv_size = c->recv_size < KELP_RDMA_MSG_MAX ? KELP_RDMA_MSG_MAX : c->recv_size;
	c->send_size = c->send_size < KELP_RDMA_MSG_MAX ? KELP_RDMA_MSG_MAX : c->send_size;

	c->slots = calloc(c->nslots, sizeof(*c->slots));
	c->free_slots = calloc(c->nslots, sizeof(uint32_t));
	c->pending = calloc(credits, sizeof(*c->pending));
	c->swrs = calloc(c->nslots, sizeof(*c->swrs));
	c->rwrs = calloc(credits, sizeof(*c->rwrs));
	bufs_len = (size_t)c->max_credits * c->recv_size + (size_t)c->nslots * c->send_size;
	c->bufs = aligned_alloc(4096, (bufs_len + 4095) & ~(size_t)4095);
	if (!c->slots || !c->free_slots || !c->pending || !c->swrs || !c->rwrs || !c->bufs) {
		err = ENOMEM;
		goto free_mem;
	}
	memset(c->bufs, 0, bufs_len);
	c->bufs_mr = lc->ops->reg_mr(lc->dev->pd, c->bufs, bufs_len, IBV_ACCESS_LOCAL_WRITE);
	if (!c->bufs_mr) {
		err = errno;
		kelp_log_error("kelp: cannot register message buffers on %s: %s", lc->dev->name,
			       strerror(err));
		goto free_mem;
	}

	lc->conns[index] = c;
	err = -conn_new_qp(c);
	if (err) {
		lc->conns[index] = NULL;
		goto dereg_bufs;
	}
	*out = c;
	return 0;

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
	return err ? -err : -EIO; /* a verbs call that failed without errno */
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
			export_put_bounce(lc, &c->slots[i]);
	lc->conns[c->index] = NULL;
	if (c->dirty) {
		/* Unlist it: a connection created later at the same index is flushed on its own. */
		for (uint32_t k = 0; k < lc->ndirty; k++)
			if (lc->dirty[k] == c->index)
				lc->dirty[k] = lc->dirty[--lc->ndirty];
	}
	if (c->qp) /* none after a failed renewal (conn_new_qp) */
		first = qp_destroy(lc, c->qp);
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
	int ret;

	if (c->role == KELP_RDMA_READER) {
		if (c->state != KELP_RDMA_DOWN)
			return -EALREADY;
		/* no QP since a failed renewal (conn_reset): try again, or back off again */
		if (!c->qp && (ret = conn_new_qp(c)) < 0) {
			c->retry_at = c->lc->clock_ns() + KELP_RDMA_BACKOFF_MAX_NS;
			return ret;
		}
		c->state = KELP_RDMA_CONNECTING;
	}
	memset(out, 0, sizeof(*out));
	/* reader: the version it tries; exporter: the one agreed (its own when none was) */
	out->version = c->role == KELP_RDMA_READER ? c->hello_version : c->version;
	if (out->version >= 2)
		out->inline_max = c->role == KELP_RDMA_READER ? c->lc->inline_max : c->peer_inline;
	out->kind = c->role == KELP_RDMA_READER ? KELP_RDMA_HELLO : KELP_RDMA_ACK;
	out->status = KELP_RDMA_OK;
	out->credits = c->role == KELP_RDMA_READER ? c->max_credits : c->credits;
	out->mtu = (uint8_t)dev->active_mtu;
	out->qpn = c->qp ? c->qp->qp_num & 0xffffff : 0; /* an exporter's refusal may have none */
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

int kelp_rdma_conn_establish(struct kelp_rdma_conn *c, const struct kelp_rdma_hello *peer,
			     uint64_t now_ns)
{
	int ret;

	if (c->role == KELP_RDMA_EXPORTER)
		c->version = KELP_RDMA_PROTO_VERSION; /* what a refusing ACK says */
	if (c->role == KELP_RDMA_READER && c->state == KELP_RDMA_CONNECTING &&
	    peer->kind == KELP_RDMA_ACK && peer->status == KELP_RDMA_VERSION &&
	    peer->version >= KELP_RDMA_PROTO_VERSION_MIN && peer->version < c->hello_version) {
		/* An older export: hello again in its version (no inline replies). */
		kelp_log_warn(
			"kelp: RDMA connection on QP %u (reader): the export speaks protocol "
			"version %u (this reader %u): reconnecting in version %u, replies without "
			"inline data (upgrade the export's kelpd for them)",
			c->qp->qp_num, peer->version, c->hello_version, peer->version);
		c->hello_version = (uint8_t)peer->version;
		ret = -EPROTONOSUPPORT;
		goto fail;
	}
	if (peer->version < KELP_RDMA_PROTO_VERSION_MIN ||
	    peer->version > KELP_RDMA_PROTO_VERSION ||
	    (c->role == KELP_RDMA_READER && peer->version != c->hello_version)) {
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
		/* no QP since a failed renewal (conn_reset): try again */
		if (!c->qp && (ret = conn_new_qp(c)) < 0)
			goto fail;
	}
	c->credits = peer->credits < c->max_credits ? peer->credits : c->max_credits;
	c->version = (uint8_t)peer->version;
	/* inline data only as far as both sides' buffers hold it (a reader's ACK says what the
	 * export sends, and never more than the reader offered) */
	c->peer_inline = 0;
	if (c->version >= 2)
		c->peer_inline =
			peer->inline_max < c->lc->inline_max ? peer->inline_max : c->lc->inline_max;
	ret = qp_to_rts(c, peer);
	if (ret < 0) {
		/* half way to RTS: an exporter's next HELLO gets a new QP (a reader's does anyway)
		 */
		if (c->role == KELP_RDMA_EXPORTER)
			conn_reset(c, now_ns);
		goto fail;
	}
	c->state = KELP_RDMA_UP;
	c->backoff = KELP_RDMA_BACKOFF_MIN_NS;
	if (c->role == KELP_RDMA_EXPORTER) {
		c->last_progress = now_ns;
		c->probe_out = false;
		memcpy(c->peer_gid, peer->gid, 16);
		c->peer_reader_id = peer->reader_id;
		c->peer_incarnation = peer->incarnation;
		c->peer_lane = peer->lane;
		export_retire_replaced(c, now_ns);
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

uint32_t kelp_rdma_conn_qpn(const struct kelp_rdma_conn *c)
{
	return c->qp ? c->qp->qp_num : 0;
}

/* ---- the poller ---------------------------------------------------------------------------------
 */

/* Readers silent past their request timeout fail; idle exporters get a keepalive. At most one scan
 * a millisecond. */
static void check_timers(struct kelp_rdma_lcore *lc)
{
	uint64_t now = lc->clock_ns();

	if (now < lc->next_timeout_check)
		return;
	lc->next_timeout_check = now + 1000000ull;
	reader_check_timeouts(lc, now);
	if (lc->idle_probe)
		export_check_idle(lc, now);
}

/* A completion whose id names nothing: counted; the first one is logged (a bug: the counter is
 * in kelpctl peers). Cold: never on a working path. */
static void unknown_cqe(struct kelp_rdma_lcore *lc, const struct ibv_wc *wc)
{
	if (lc->stats.unknown_cqes++ == 0)
		kelp_log_warn("kelp: a completion that names no work request of this lcore (wr_id "
			      "%#llx, QP %u, %s): dropped; later ones are only counted "
			      "(unknown_cqes)",
			      (unsigned long long)wc->wr_id, wc->qp_num,
			      ibv_wc_status_str(wc->status));
}

/* Handles one completion. @return 1 when @done was written. */
static int handle_wc(struct kelp_rdma_lcore *lc, const struct ibv_wc *wc,
		     struct kelp_rdma_done *done)
{
	enum wr_kind kind = (enum wr_kind)(wc->wr_id >> 56);
	uint8_t gen = (uint8_t)(wc->wr_id >> 48);
	uint16_t ci = (uint16_t)(wc->wr_id >> 32);
	uint32_t slot = (uint32_t)wc->wr_id;
	struct kelp_rdma_conn *c = ci < KELP_RDMA_MAX_CONNS ? lc->conns[ci] : NULL;

	if (kind < WR_REQ_SEND || kind > WR_RREAD || ci >= KELP_RDMA_MAX_CONNS) {
		unknown_cqe(lc, wc);
		return 0;
	}
	if (!c || c->gen != gen) {
		lc->stats.stale_cqes++; /* an earlier incarnation of this connection */
		return 0;
	}
	if (wc->status != IBV_WC_SUCCESS) {
		/* Flushes follow the first error of a connection; count the cause only. */
		if (kind == WR_PROBE && c->state == KELP_RDMA_UP) {
			/* what keepalives are for, not an error of the connection */
			c->stats.idle_resets++;
			conn_fail(c, "its reader did not answer a keepalive (gone)");
			return 0;
		}
		if (c->state == KELP_RDMA_UP && wc->status != IBV_WC_WR_FLUSH_ERR)
			c->stats.errors++;
		conn_fail(c, ibv_wc_status_str(wc->status));
		return 0;
	}
	switch (kind) {
	case WR_REQ_SEND:
		reader_sent(c, slot);
		return 0;
	case WR_REPLY_RECV:
		if (slot >= c->max_credits || c->role != KELP_RDMA_READER) {
			unknown_cqe(lc, wc);
			return 0;
		}
		return reader_reply(c, slot, wc->byte_len, done);
	case WR_REQ_RECV:
		if (slot >= c->max_credits || c->role != KELP_RDMA_EXPORTER) {
			unknown_cqe(lc, wc);
			return 0;
		}
		if (c->state == KELP_RDMA_UP)
			export_request(c, slot, wc->byte_len);
		return 0;
	case WR_REPLY_SEND:
		export_reply_sent(c, slot);
		return 0;
	case WR_RREAD:
		if (c->role != KELP_RDMA_READER) {
			unknown_cqe(lc, wc);
			return 0;
		}
		return reader_rread_done(c, slot, done);
	case WR_WRITE: /* unsignaled: only failures are reported, handled above */
		unknown_cqe(lc, wc);
		return 0;
	case WR_PROBE: /* the reader's NIC acknowledged it: still there */
		c->probe_out = false;
		c->last_progress = lc->clock_ns();
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
		n = reader_drain_failed(lc, done, max);
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
		check_timers(lc);
	/* Failures found in this batch are reported by the next poll. */
	return n;
}
