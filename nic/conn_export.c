/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RDMA connections, the exporter's side (conn.h "Export bytes", "Credits"): each request that
 * arrives is looked up through the lcore's kelp_rdma_export_ops, its bytes RDMA-written (from the
 * source's MR, or copied through the lcore's bounce pool, a buffer per piece) and the reply SEND
 * queued behind them; requests that find no reply slot or too few buffers wait in their
 * connection's queue. Also here: the bounce pool itself, and the retirement of connections a
 * reconnecting reader replaces. Called from the poller and the lifecycle in conn.c, on the owning
 * lcore only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "nic/conn_priv.h"
#include "nic/mr.h"

/* ---- the bounce pool ------------------------------------------------------------------------ */

int export_pool_create(struct kelp_rdma_lcore *lc, const struct kelp_rdma_lcore_config *cfg)
{
	struct kelp_rdma_dev *dev = lc->dev;
	int err;

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
		kelp_log_error("kelp: cannot allocate the bounce pool (%u x %u bytes)",
			       lc->bounce_slots, lc->bounce_size);
		goto free_bounce;
	}
	lc->bounce_mr =
		lc->ops->reg_mr(dev->pd, lc->bounce, (size_t)lc->bounce_slots * lc->bounce_size, 0);
	if (!lc->bounce_mr) {
		err = errno;
		kelp_log_error("kelp: cannot register the bounce pool on %s: %s", dev->name,
			       strerror(err));
		goto free_bounce;
	}
	for (uint32_t i = 0; i < lc->bounce_slots; i++)
		lc->bounce_free[lc->bounce_nfree++] = lc->bounce_slots - 1 - i;
	return 0;

free_bounce:
	free(lc->bounce_wr);
	free(lc->bounce_next);
	free(lc->bounce_free);
	free(lc->bounce);
	return -err;
}

int export_pool_destroy(struct kelp_rdma_lcore *lc)
{
	int ret = 0;

	if (lc->bounce_mr)
		ret = kelp_rdma_dereg(lc->dev, lc->bounce_mr, "bounce pool");
	free(lc->bounce_wr);
	free(lc->bounce_next);
	free(lc->bounce_free);
	free(lc->bounce);
	return ret;
}

/* Gives the bounce buffers held by exporter slot @s back to the pool. */
void export_put_bounce(struct kelp_rdma_lcore *lc, struct slot *s)
{
	for (int32_t b = s->bounce; b >= 0; b = lc->bounce_next[b])
		lc->bounce_free[lc->bounce_nfree++] = (uint32_t)b;
	s->bounce = -1;
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

/* ---- connections replaced by their reader -----------------------------------------------------
 */

/*
 * Exporter @c just came up for a reader that named itself: reset the other exporter connections
 * of @c's lcore to that reader (same GID and reader id) which @c replaces: the same lane (the
 * reader reset its end and reconnected) or another incarnation (the reader kelpd restarted). An
 * RC QP whose peer vanished without a word stays UP otherwise: nothing is sent on it, so nothing
 * fails. Anonymous readers (id 0) are never matched.
 */
void export_retire_replaced(struct kelp_rdma_conn *c, uint64_t now_ns)
{
	struct kelp_rdma_lcore *lc = c->lc;

	if (!c->peer_reader_id)
		return;
	for (int i = 0; i < KELP_RDMA_MAX_CONNS; i++) {
		struct kelp_rdma_conn *o = lc->conns[i];

		if (!o || o == c || o->role != KELP_RDMA_EXPORTER || o->state != KELP_RDMA_UP ||
		    o->peer_reader_id != c->peer_reader_id ||
		    memcmp(o->peer_gid, c->peer_gid, 16) ||
		    (o->peer_lane != c->peer_lane && o->peer_incarnation == c->peer_incarnation))
			continue;
		kelp_log_info("kelp: RDMA connection on QP %u (exporter): its reader reconnected "
			      "(%s) on QP %u; resetting the old one",
			      o->qp->qp_num,
			      o->peer_incarnation == c->peer_incarnation ? "same run" : "restarted",
			      c->qp->qp_num);
		lc->stats.retired++;
		conn_reset(o, now_ns);
	}
}

/* ---- export data path ---------------------------------------------------------------------------
 */

static uint8_t export_status(struct kelp_rdma_lcore *lc, const struct kelp_rdma_request *rq,
			     struct kelp_rdma_source *src)
{
	struct kelp_fid fid = {.volume_id = rq->volume_id, .key = rq->key, .cookie = rq->cookie};
	int ret;

	if (rq->opcode == KELP_RDMA_OP_MAP || rq->opcode == KELP_RDMA_OP_IDX)
		ret = lc->export.meta
			      ? lc->export.meta(lc->export.arg, rq->opcode, rq->volume_id, src)
			      : -EHOSTUNREACH;
	else
		ret = lc->export.find(lc->export.arg, &fid, src);
	if (ret < 0)
		return kelp_rdma_errno_status(ret);
	if (rq->opcode != KELP_RDMA_OP_STAT && rq->offset > src->size)
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
					 const struct kelp_rdma_request *rq,
					 struct ibv_send_wr *send)
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
 * Serve a read of @n (0 < n <= c->peer_inline) bytes of @src inline: the bytes are copied behind
 * the reply @rp in a slot's send buffer and go out in the one reply SEND, no RDMA WRITE (the
 * reader copies them into its buffer). The copy is checked like a bounce copy (faulted). A slot is
 * free (export_serve checked). @return 0: queued.
 */
static int export_serve_inline(struct kelp_rdma_conn *c, const struct kelp_rdma_request *rq,
			       struct kelp_rdma_reply *rp, const struct kelp_rdma_source *src,
			       uint32_t n)
{
	struct kelp_rdma_lcore *lc = c->lc;
	uint32_t si = c->free_slots[--c->nfree];
	struct slot_wrs *w = &c->swrs[si];
	uint8_t *buf = send_buf(c, si);

	c->slots[si] = (struct slot){.busy = true, .bounce = -1, .req_id = rq->req_id};
	/* copied now, inside this poll round: the volume mapping may be replaced after it */
	memcpy(buf + KELP_RDMA_REPLY_SIZE, src->data + rq->offset, n);
	rp->written = n;
	rp->inline_data = true;
	if (lc->export.faulted && lc->export.faulted(lc->export.arg, src))
		*rp = (struct kelp_rdma_reply){.req_id = rq->req_id, .status = KELP_RDMA_CORRUPT};
	else
		c->stats.inlined++;
	int len = kelp_rdma_reply_encode(rp, buf, c->send_size);

	build_send(c, w, WR_REPLY_SEND, si, (uint32_t)len);
	queue_send(c, &w->send, &w->send);
	c->stats.bytes += rp->written;
	return 0;
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
		if (rq.opcode != KELP_RDMA_OP_STAT) {
			uint64_t left = src.size - rq.offset;

			n = rq.length < left ? rq.length : (uint32_t)left;
		}
	}
	if (n > 0 && n <= c->peer_inline)
		return export_serve_inline(c, &rq, &rp, &src, n);
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
		lc->bounce_waiter =
			-1; /* its waiting request is served now (whatever the answer) */
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
			export_put_bounce(lc, s);
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
	rp.inline_data = false;
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
void export_request(struct kelp_rdma_conn *c, uint32_t i, uint32_t byte_len)
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
	c->last_progress = c->lc->clock_ns();
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
void export_drain_pending(struct kelp_rdma_lcore *lc)
{
	if (lc->bounce_waiter >= 0)
		export_drain_conn(lc->conns[lc->bounce_waiter]);
	for (int ci = 0; ci < KELP_RDMA_MAX_CONNS && lc->pending; ci++)
		export_drain_conn(lc->conns[ci]);
}

void export_reply_sent(struct kelp_rdma_conn *c, uint32_t si)
{
	struct kelp_rdma_lcore *lc = c->lc;
	struct slot *s;

	if (si >= c->nslots || !c->slots[si].busy) {
		lc->stats.unknown_cqes++;
		return;
	}
	s = &c->slots[si];
	export_put_bounce(lc, s);
	c->stats.replies++;
	slot_release(c, si);
}

/* Posts a keepalive on exporter connections UP with nothing in flight (no reply slot busy, no
 * request queued) and no request or answered keepalive for lc->idle_probe: a zero-length RDMA
 * WRITE, which needs no rkey and no receive at the reader and costs its CPU nothing. A reader that
 * is alive (idle or not) has its NIC acknowledge it; one that is gone without a word (its host
 * died, its process was killed before it could close) does not, and the failed completion resets
 * the connection (handle_wc). A connection with requests in flight is never probed: its replies
 * fail the same way when the reader is gone. */
void export_check_idle(struct kelp_rdma_lcore *lc, uint64_t now)
{
	/* A live reader's NIC answers a keepalive at once, and a dead one's is given up on after
	 * the QP's retries (~0.5 s); a provider that reports neither in this long gets the same
	 * verdict (rxe on Linux 6.1 was seen to leave a keepalive to a destroyed QP without a
	 * completion). */
	uint64_t unanswered = lc->idle_probe > 5000000000ull ? lc->idle_probe : 5000000000ull;

	for (int ci = 0; ci < KELP_RDMA_MAX_CONNS; ci++) {
		struct kelp_rdma_conn *c = lc->conns[ci];

		if (!c || c->role != KELP_RDMA_EXPORTER || c->state != KELP_RDMA_UP ||
		    c->nfree != c->nslots || c->pend_count)
			continue;
		if (c->probe_out) {
			if (now - c->probe_at < unanswered)
				continue;
			if (c->last_progress > c->probe_at) {
				c->probe_out = false; /* it sent requests since: there */
				continue;
			}
			c->stats.idle_resets++;
			conn_fail(c, "its reader did not answer a keepalive (gone)");
			continue;
		}
		if (now - c->last_progress < lc->idle_probe)
			continue;
		/* the slot storage of slot 0 is free (every slot is), so its WRITE holds it */
		struct slot_wrs *w = &c->swrs[0];

		w->write = (struct ibv_send_wr){
			.wr_id = wr_id_make(WR_PROBE, c->gen, c->index, 0),
			.opcode = IBV_WR_RDMA_WRITE,
			.send_flags = IBV_SEND_SIGNALED,
		};
		queue_send(c, &w->write, &w->write);
		c->probe_out = true;
		c->probe_at = now;
		c->stats.probes++;
	}
	if (lc->ndirty)
		kelp_rdma_lcore_flush(lc);
}
