/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RDMA connections, the reader's side (conn.h "Reader states"): a request goes out as one SEND
 * holding a slot and a credit (kelp_rdma_submit); its reply, parsed here, finishes it (one
 * kelp_rdma_done); a connection that fails reports each request in flight once as -ECONNRESET
 * before it is reset; one silent for request_timeout is failed. Called from the poller in
 * conn.c and by kelp_rdma_submit's caller, on the owning lcore only.
 */
#include <errno.h>
#include <string.h>

#include "nic/conn_priv.h"

/*
 * post_slot - queue slot @i's work request @wr and, unless @more, post the queue. A failed post
 * fails the caller's request with the error and the others (queued with `more` before it, or in
 * flight) with the connection (@why names it in the log). Owning lcore.
 * Return: 0 (the slot is in flight); the -errno of the post.
 */
static int post_slot(struct kelp_rdma_conn *c, uint32_t i, struct ibv_send_wr *wr, bool more,
		     const char *why)
{
	queue_send(c, wr, wr);
	if (!more) {
		int ret = flush_conn(c);
		if (ret < 0) {
			slot_release(c, i);
			c->stats.errors++;
			conn_fail(c, why);
			return ret;
		}
	}
	if (c->in_flight++ == 0)
		c->last_progress = c->lc->clock_ns();
	return 0;
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
	/* READ, MAP and IDX write into a buffer; STAT does not */
	if (rd->opcode == KELP_RDMA_OP_STAT ? false
	    : rd->opcode >= KELP_RDMA_OP_READ && rd->opcode <= KELP_RDMA_OP_IDX
		    ? rd->length && !rd->addr
		    : true)
		return -EINVAL;
	if (c->in_flight - c->rreads_out >= c->credits || c->nfree == 0)
		return -EAGAIN;

	i = c->free_slots[--c->nfree];
	s = &c->slots[i];
	*s = (struct slot){.busy = true, .user = rd->user, .bounce = -1};
	s->req_id = (++c->next_seq << 16) | i;
	s->length = rd->opcode != KELP_RDMA_OP_STAT ? rd->length : 0;
	s->addr = rd->opcode != KELP_RDMA_OP_STAT ? rd->addr : 0;

	rq = (struct kelp_rdma_request){
		.opcode = rd->opcode,
		.req_id = s->req_id,
		.volume_id = rd->fid.volume_id,
		.cookie = rd->fid.cookie,
		.key = rd->fid.key,
	};
	if (rd->opcode != KELP_RDMA_OP_STAT) {
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
	ret = post_slot(c, i, &w->send, rd->more, "posting a request failed");
	if (ret < 0)
		return ret;
	c->stats.requests++;
	return 0;
}

int kelp_rdma_submit_rread(struct kelp_rdma_conn *c, const struct kelp_rdma_rread *rr)
{
	struct slot_wrs *w;
	uint32_t i, len = 0;
	int ret;

	if (c->role != KELP_RDMA_READER || rr->nsge < 1 || rr->nsge > KELP_RDMA_RREAD_SGE)
		return -EINVAL;
	if (c->state != KELP_RDMA_UP)
		return -ENOTCONN;
	/* no credit of the export: bounded by its own slots (as many as the credits) */
	if (c->rreads_out >= c->credits || c->nfree == 0)
		return -EAGAIN;
	i = c->free_slots[--c->nfree];
	c->slots[i] = (struct slot){.busy = true, .rread = true, .user = rr->user, .bounce = -1};
	w = &c->swrs[i];
	for (int k = 0; k < rr->nsge; k++) {
		w->rread_sge[k] = rr->sge[k];
		len += rr->sge[k].length;
	}
	c->slots[i].length = len;
	/* The slot's SEND work request is free: a READ slot sends nothing else. */
	w->send = (struct ibv_send_wr){
		.wr_id = wr_id_make(WR_RREAD, c->gen, c->index, i),
		.sg_list = w->rread_sge,
		.num_sge = rr->nsge,
		.opcode = IBV_WR_RDMA_READ,
		.send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = {.remote_addr = rr->remote_addr, .rkey = rr->rkey},
	};
	ret = post_slot(c, i, &w->send, rr->more, "posting an RDMA READ failed");
	if (ret < 0)
		return ret;
	c->rreads_out++;
	c->stats.rreads++;
	return 0;
}

int reader_rread_done(struct kelp_rdma_conn *c, uint32_t si, struct kelp_rdma_done *done)
{
	struct slot *s = si < c->nslots ? &c->slots[si] : NULL;

	if (!s || !s->busy || !s->rread || s->reply_done) {
		c->lc->stats.unknown_cqes++;
		return 0;
	}
	c->in_flight--;
	c->rreads_out--;
	c->last_progress = c->lc->clock_ns();
	c->stats.bytes += s->length;
	*done = (struct kelp_rdma_done){.user = s->user, .conn = c, .written = s->length};
	slot_release(c, si);
	return 1;
}

/* A reply arrived in receive buffer @i. @return 1 when @done was written, 0 otherwise. */
int reader_reply(struct kelp_rdma_conn *c, uint32_t i, uint32_t byte_len,
		 struct kelp_rdma_done *done)
{
	struct kelp_rdma_reply rp;
	struct slot *s;
	uint32_t si;
	int ret;

	ret = kelp_rdma_reply_parse(recv_buf(c, i), byte_len, &rp);
	queue_recv(c, i); /* posted at the end of this poll, after the inline data is copied out */
	if (ret < 0) {
		/* Without a valid request id we cannot tell whose reply this was. */
		c->stats.errors++;
		conn_fail(c, "malformed reply");
		return 0;
	}
	si = (uint32_t)(rp.req_id & 0xffff);
	s = si < c->nslots ? &c->slots[si] : NULL;
	if (!s || !s->busy || s->rread || s->reply_done || s->req_id != rp.req_id ||
	    rp.written > s->length || (rp.inline_data && rp.written > c->peer_inline)) {
		c->stats.errors++;
		conn_fail(c, "reply to no request in flight, or longer than asked or agreed");
		return 0;
	}
	if (rp.inline_data && rp.written) {
		/* The bytes came in the reply, not by RDMA WRITE: put them where the WRITE would
		 * have (the request's buffer, s->length bytes, checked above). */
		memcpy((void *)(uintptr_t)s->addr, recv_buf(c, i) + KELP_RDMA_REPLY_SIZE,
		       rp.written);
		c->stats.inlined++;
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
int reader_drain_failed(struct kelp_rdma_lcore *lc, struct kelp_rdma_done *done, int max)
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
			if (s->rread)
				c->rreads_out--;
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

/* The SEND of request slot @slot completed: the slot is free once its reply arrived too. */
void reader_sent(struct kelp_rdma_conn *c, uint32_t slot)
{
	if (slot < c->nslots && c->slots[slot].busy) {
		c->slots[slot].send_done = true;
		if (c->slots[slot].reply_done)
			slot_release(c, slot);
	} else {
		c->lc->stats.unknown_cqes++;
	}
}

/* Fails reader connections that have had requests in flight but no reply for request_timeout. */
void reader_check_timeouts(struct kelp_rdma_lcore *lc, uint64_t now)
{
	for (int ci = 0; ci < KELP_RDMA_MAX_CONNS; ci++) {
		struct kelp_rdma_conn *c = lc->conns[ci];

		if (c && c->role == KELP_RDMA_READER && c->state == KELP_RDMA_UP && c->in_flight &&
		    now - c->last_progress > lc->request_timeout) {
			c->stats.errors++;
			conn_fail(c, "no reply within the request timeout");
		}
	}
}
