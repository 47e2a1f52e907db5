/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A fake verbs ops table (nic/verbs_ops.h) for unit tests of the RDMA state machines: a
 * deterministic "wire" between fake QPs in one thread; the test decides when posted work is
 * delivered (wire_deliver), in which order completions appear, and which fail (cq_push).
 * Header-only (static functions): include it after <cmocka.h>, in one test program at a time.
 * Users: test/unit/test_nic_conn.c, test/unit/test_rdma_reader.c.
 */
#ifndef KELP_TEST_UNIT_FAKE_VERBS_H
#define KELP_TEST_UNIT_FAKE_VERBS_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "nic/verbs_ops.h"
#include "proto/rdma_msg.h"

#define FAKE_Q 4096

struct fake_cq {
	struct ibv_cq cq; /* first: the pointer kelp holds */
	struct ibv_wc q[FAKE_Q];
	unsigned head, tail;
	struct fake_channel *ch; /* its events go there (NULL: none) */
	bool armed;		 /* req_notify_cq: the next cq_push raises an event */
	unsigned events, acked;	 /* events taken from the channel, acknowledged */
};

/* A completion channel: its fd is an eventfd that cq_push on an armed CQ writes to, as the
 * kernel makes a real channel's fd readable; one event per arm, as verbs. */
struct fake_channel {
	struct ibv_comp_channel ch; /* first: the pointer kelp holds */
	struct fake_cq *cq;
	unsigned pending; /* events raised and not taken */
};

struct fake_send {
	uint64_t wr_id;
	enum ibv_wr_opcode opcode;
	bool signaled;
	uint8_t data[KELP_RDMA_REPLY_SIZE + KELP_RDMA_INLINE_LIMIT]; /* SEND payload, copied at
								      * post time */
	uint32_t len;
	const void *src; /* RDMA WRITE source */
	uint64_t remote_addr;
	uint32_t rkey;
	struct ibv_sge sge[3]; /* RDMA READ: where the bytes go */
	int nsge;
};

struct fake_recv {
	uint64_t wr_id;
	void *addr;
	uint32_t len;
};

struct fake_qp {
	struct ibv_qp qp;
	enum ibv_qp_state state;
	uint32_t dest_qpn;
	struct fake_send sq[FAKE_Q];
	unsigned sq_n;
	struct fake_recv rq[FAKE_Q];
	unsigned rq_head, rq_n;
	uint32_t max_send_wr; /* as created: posts beyond it would overflow a real send queue */
	uint32_t max_recv_wr; /* as created: a post beyond it fails with ENOMEM, as verbs */
};

struct fake_mr {
	struct ibv_mr mr;
	int access;
};

/* Test-wide fake state: reset by setup(). */
static struct fake {
	struct fake_cq *last_cq; /* the most recently created */
	struct fake_qp *last_qp;
	struct fake_qp *qps[64];
	unsigned nqps;
	uint32_t next_qpn, next_key;
	int fail_post_send; /* > 0: that many post_send calls fail with -ENOMEM */
	int post_send_calls, post_recv_calls;
	int fail_reg_mr;	  /* > 0: reg_mr fails with EFAULT */
	int fail_create_qp;	  /* > 0: that many create_qp calls fail with ENOMEM */
	bool reset_keeps_wrs;	  /* RESET leaves the queues as they are: what rxe on Linux 6.1 was
				   * seen to do with a QP that still held work requests */
	int objects;		  /* live objects: every create must be destroyed */
	struct fake_mr *mrs[256]; /* live MRs: RDMA READs check their rkey against them */
	bool port_down;
	int ndevices;
	struct ibv_device devs[2];
	struct ibv_context ctx;
	struct ibv_pd pd;
	uint64_t now;
} F;

static struct ibv_device **f_get_device_list(int *num)
{
	static struct ibv_device *list[3];

	*num = F.ndevices;
	for (int i = 0; i < F.ndevices; i++)
		list[i] = &F.devs[i];
	list[F.ndevices] = NULL;
	F.objects++;
	return list;
}
static void f_free_device_list(struct ibv_device **l)
{
	F.objects--;
}
static const char *f_device_name(struct ibv_device *d)
{
	return d == &F.devs[0] ? "fake0" : "fake1";
}
static bool f_is_mlx5(struct ibv_device *d)
{
	return false;
}
static struct ibv_context *f_open_device(struct ibv_device *d)
{
	F.objects++;
	F.ctx.device = d;
	return &F.ctx;
}
static int f_close_device(struct ibv_context *c)
{
	F.objects--;
	return 0;
}
static int f_query_device_ex(struct ibv_context *c, struct ibv_device_attr_ex *a)
{
	memset(a, 0, sizeof(*a));
	a->orig_attr.phys_port_cnt = 1;
	a->orig_attr.max_qp_wr = 4096;
	a->orig_attr.max_mr_size = 1ull << 40;
	return 0;
}
static int f_query_port(struct ibv_context *c, uint8_t port, struct ibv_port_attr *a)
{
	memset(a, 0, sizeof(*a));
	/* fake1 is always down, fake0 when the test says so. */
	a->state = F.port_down || c->device == &F.devs[1] ? IBV_PORT_DOWN : IBV_PORT_ACTIVE;
	a->active_mtu = IBV_MTU_1024;
	a->link_layer = IBV_LINK_LAYER_ETHERNET;
	a->gid_tbl_len = 2;
	return 0;
}
static int f_query_gid(struct ibv_context *c, uint8_t port, int index, union ibv_gid *gid)
{
	memset(gid, 0, sizeof(*gid));
	gid->raw[0] = 0xfe;
	gid->raw[1] = 0x80;
	gid->raw[15] = (uint8_t)(index + 1);
	if (index == 1) { /* IPv4-mapped */
		memset(gid->raw, 0, 10);
		gid->raw[10] = gid->raw[11] = 0xff;
	}
	return index < 2 ? 0 : -EINVAL;
}
static struct ibv_pd *f_alloc_pd(struct ibv_context *c)
{
	F.objects++;
	F.pd.context = c;
	return &F.pd;
}
static int f_dealloc_pd(struct ibv_pd *pd)
{
	F.objects--;
	return 0;
}
static struct ibv_cq *f_create_cq(struct ibv_context *c, int cqe, bool mlx5,
				  struct ibv_comp_channel *ch)
{
	struct fake_cq *cq = calloc(1, sizeof(*cq));

	F.objects++;
	F.last_cq = cq;
	if (ch) {
		cq->ch = (struct fake_channel *)ch;
		cq->ch->cq = cq;
	}
	return &cq->cq;
}
static int f_destroy_cq(struct ibv_cq *cq)
{
	struct fake_cq *c = (struct fake_cq *)cq;

	/* real verbs blocks for ever in destroy until every taken event is acknowledged */
	assert_int_equal(c->acked, c->events);
	if (c->ch)
		c->ch->cq = NULL;
	F.objects--;
	free(cq);
	return 0;
}
static struct ibv_comp_channel *f_create_comp_channel(struct ibv_context *c)
{
	struct fake_channel *ch = calloc(1, sizeof(*ch));

	ch->ch.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(ch->ch.fd >= 0);
	F.objects++;
	return &ch->ch;
}
static int f_destroy_comp_channel(struct ibv_comp_channel *ch)
{
	struct fake_channel *c = (struct fake_channel *)ch;

	assert_null(c->cq); /* verbs refuses (EBUSY) while a CQ uses it */
	close(c->ch.fd);
	F.objects--;
	free(c);
	return 0;
}
static int f_req_notify_cq(struct ibv_cq *cq)
{
	((struct fake_cq *)cq)->armed = true;
	return 0;
}
static int f_get_cq_event(struct ibv_comp_channel *ch, struct ibv_cq **cq)
{
	struct fake_channel *c = (struct fake_channel *)ch;
	uint64_t v;

	if (!c->pending)
		return -EAGAIN;
	if (--c->pending == 0)
		(void)!read(c->ch.fd, &v, sizeof(v)); /* not readable any more */
	c->cq->events++;
	*cq = &c->cq->cq;
	return 0;
}
static void f_ack_cq_events(struct ibv_cq *cq, unsigned int n)
{
	((struct fake_cq *)cq)->acked += n;
}
static struct ibv_qp *f_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *a)
{
	struct fake_qp *q;
	unsigned i = 0;

	if (F.fail_create_qp > 0) {
		F.fail_create_qp--;
		errno = ENOMEM;
		return NULL;
	}
	q = calloc(1, sizeof(*q));
	q->qp.qp_num = ++F.next_qpn;
	q->qp.send_cq = a->send_cq;
	q->qp.recv_cq = a->recv_cq;
	q->state = IBV_QPS_RESET;
	q->max_send_wr = a->cap.max_send_wr;
	q->max_recv_wr = a->cap.max_recv_wr;
	while (i < F.nqps && F.qps[i]) /* a destroyed one's place */
		i++;
	assert_true(i < sizeof(F.qps) / sizeof(F.qps[0]));
	F.qps[i] = q;
	F.nqps += i == F.nqps;
	F.last_qp = q;
	F.objects++;
	return &q->qp;
}
static int f_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *a, int mask)
{
	struct fake_qp *q = (struct fake_qp *)qp;

	if (mask & IBV_QP_STATE) {
		q->state = a->qp_state;
		if (a->qp_state == IBV_QPS_RESET && !F.reset_keeps_wrs)
			q->sq_n = q->rq_n = q->rq_head = 0;
	}
	if (mask & IBV_QP_DEST_QPN)
		q->dest_qpn = a->dest_qp_num;
	return 0;
}
static int f_destroy_qp(struct ibv_qp *qp)
{
	for (unsigned i = 0; i < F.nqps; i++)
		if (F.qps[i] == (struct fake_qp *)qp)
			F.qps[i] = NULL;
	F.objects--;
	free(qp);
	return 0;
}
static struct ibv_mr *f_reg_mr(struct ibv_pd *pd, void *addr, size_t len, int access)
{
	struct fake_mr *m;

	if (F.fail_reg_mr > 0) {
		F.fail_reg_mr--;
		errno = EFAULT;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	m->mr.addr = addr;
	m->mr.length = len;
	m->mr.lkey = ++F.next_key;
	m->mr.rkey = 0x1000 + F.next_key;
	m->access = access;
	F.objects++;
	for (unsigned i = 0; i < 256; i++)
		if (!F.mrs[i]) {
			F.mrs[i] = m;
			break;
		}
	return &m->mr;
}
static int f_dereg_mr(struct ibv_mr *mr)
{
	for (unsigned i = 0; i < 256; i++)
		if (F.mrs[i] == (struct fake_mr *)mr)
			F.mrs[i] = NULL;
	F.objects--;
	free(mr);
	return 0;
}
static int f_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad)
{
	struct fake_qp *q = (struct fake_qp *)qp;

	F.post_send_calls++;
	if (F.fail_post_send > 0) {
		F.fail_post_send--;
		*bad = wr;
		return -ENOMEM;
	}
	assert_int_equal(q->state, IBV_QPS_RTS);
	for (; wr; wr = wr->next) {
		struct fake_send *s = &q->sq[q->sq_n++];

		/* Work requests stay in the send queue until delivered (wire_deliver): never more
		 * than the QP was created for. */
		assert_true(q->sq_n <= q->max_send_wr);
		/* one SGE, or none for a zero-length RDMA WRITE (a keepalive); an RDMA READ
		 * scatters into up to 3 */
		assert_true(wr->num_sge == 1 ||
			    (wr->num_sge == 0 && wr->opcode == IBV_WR_RDMA_WRITE) ||
			    (wr->opcode == IBV_WR_RDMA_READ && wr->num_sge <= 3));
		/* IBV_SEND_INLINE only for what the QP takes inline (kelp asks for MSG_MAX) */
		assert_true(!(wr->send_flags & IBV_SEND_INLINE) ||
			    wr->sg_list[0].length <= KELP_RDMA_MSG_MAX);
		*s = (struct fake_send){.wr_id = wr->wr_id,
					.opcode = wr->opcode,
					.signaled = wr->send_flags & IBV_SEND_SIGNALED};
		if (wr->num_sge) {
			s->len = wr->sg_list[0].length;
			s->src = (const void *)(uintptr_t)wr->sg_list[0].addr;
		}
		if (wr->opcode == IBV_WR_SEND) {
			assert_true(s->len <= sizeof(s->data));
			memcpy(s->data, s->src, s->len);
		} else {
			s->remote_addr = wr->wr.rdma.remote_addr;
			s->rkey = wr->wr.rdma.rkey;
			s->nsge = wr->num_sge;
			for (int k = 0; k < wr->num_sge; k++)
				s->sge[k] = wr->sg_list[k];
		}
	}
	return 0;
}
static int f_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad)
{
	struct fake_qp *q = (struct fake_qp *)qp;

	F.post_recv_calls++;
	for (; wr; wr = wr->next) {
		if (q->rq_n >= q->max_recv_wr) { /* the receive queue is full */
			*bad = wr;
			return -ENOMEM;
		}
		q->rq[(q->rq_head + q->rq_n++) % FAKE_Q] =
			(struct fake_recv){.wr_id = wr->wr_id,
					   .addr = (void *)(uintptr_t)wr->sg_list[0].addr,
					   .len = wr->sg_list[0].length};
	}
	return 0;
}
static int f_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc)
{
	struct fake_cq *c = (struct fake_cq *)cq;
	int got = 0;

	while (got < n && c->head != c->tail)
		wc[got++] = c->q[c->head++ % FAKE_Q];
	return got;
}

static const struct kelp_verbs_ops fake_ops = {
	.get_device_list = f_get_device_list,
	.free_device_list = f_free_device_list,
	.device_name = f_device_name,
	.is_mlx5 = f_is_mlx5,
	.open_device = f_open_device,
	.close_device = f_close_device,
	.query_device_ex = f_query_device_ex,
	.query_port = f_query_port,
	.query_gid = f_query_gid,
	.alloc_pd = f_alloc_pd,
	.dealloc_pd = f_dealloc_pd,
	.create_cq = f_create_cq,
	.destroy_cq = f_destroy_cq,
	.create_comp_channel = f_create_comp_channel,
	.destroy_comp_channel = f_destroy_comp_channel,
	.req_notify_cq = f_req_notify_cq,
	.get_cq_event = f_get_cq_event,
	.ack_cq_events = f_ack_cq_events,
	.create_qp = f_create_qp,
	.modify_qp = f_modify_qp,
	.destroy_qp = f_destroy_qp,
	.reg_mr = f_reg_mr,
	.dereg_mr = f_dereg_mr,
	.post_send = f_post_send,
	.post_recv = f_post_recv,
	.poll_cq = f_poll_cq,
};

static void cq_push(struct ibv_cq *cq, struct ibv_wc wc)
{
	struct fake_cq *c = (struct fake_cq *)cq;

	c->q[c->tail++ % FAKE_Q] = wc;
	if (c->armed && c->ch) { /* one event per arm */
		uint64_t one = 1;

		c->armed = false;
		c->ch->pending++;
		(void)!write(c->ch->ch.fd, &one, sizeof(one));
	}
}

static struct fake_qp *qp_by_num(uint32_t qpn)
{
	for (unsigned i = 0; i < F.nqps; i++)
		if (F.qps[i] && F.qps[i]->qp.qp_num == qpn)
			return F.qps[i];
	return NULL;
}

/* Delivers everything posted on @from's send queue to its peer: WRITEs land in memory, SENDs
 * consume the peer's next receive (receive completion on its CQ); signaled sends complete on
 * @from's CQ. A peer QP that was destroyed fails them (retries exceeded, then flushed). */
static void wire_deliver(struct ibv_qp *from_qp)
{
	struct fake_qp *from = (struct fake_qp *)from_qp;
	struct fake_qp *to = qp_by_num(from->dest_qpn);

	if (!to) {
		/* the peer QP was destroyed: no one acknowledges, the transport gives up on the
		 * first work request and the QP flushes the rest (error completions are reported
		 * signaled or not) */
		for (unsigned i = 0; i < from->sq_n; i++)
			cq_push(from->qp.send_cq,
				(struct ibv_wc){.wr_id = from->sq[i].wr_id,
						.status = i ? IBV_WC_WR_FLUSH_ERR
							    : IBV_WC_RETRY_EXC_ERR,
						.qp_num = from->qp.qp_num});
		from->sq_n = 0;
		return;
	}
	for (unsigned i = 0; i < from->sq_n; i++) {
		struct fake_send *s = &from->sq[i];

		if (s->opcode == IBV_WR_RDMA_READ) {
			/* as a real responder: the rkey must name a live MR with remote read that
			 * covers the whole range; else a remote access error, and the QP is in
			 * error: what follows is flushed */
			struct fake_mr *m = NULL;
			uint64_t total = 0, at = s->remote_addr;

			for (int k = 0; k < s->nsge; k++)
				total += s->sge[k].length;
			for (unsigned k = 0; k < 256 && !m; k++)
				if (F.mrs[k] && F.mrs[k]->mr.rkey == s->rkey)
					m = F.mrs[k];
			if (!m || !(m->access & IBV_ACCESS_REMOTE_READ) ||
			    at < (uintptr_t)m->mr.addr ||
			    at + total > (uintptr_t)m->mr.addr + m->mr.length) {
				cq_push(from->qp.send_cq,
					(struct ibv_wc){.wr_id = s->wr_id,
							.status = IBV_WC_REM_ACCESS_ERR});
				for (unsigned j = i + 1; j < from->sq_n; j++)
					cq_push(from->qp.send_cq,
						(struct ibv_wc){.wr_id = from->sq[j].wr_id,
								.status = IBV_WC_WR_FLUSH_ERR});
				break;
			}
			for (int k = 0; k < s->nsge; k++) {
				memcpy((void *)(uintptr_t)s->sge[k].addr, (void *)(uintptr_t)at,
				       s->sge[k].length);
				at += s->sge[k].length;
			}
		} else if (s->opcode == IBV_WR_RDMA_WRITE) {
			if (s->len) /* a zero-length one names no memory */
				memcpy((void *)(uintptr_t)s->remote_addr, s->src, s->len);
		} else {
			assert_true(to->rq_n > 0); /* credits must keep a receive posted */
			struct fake_recv r = to->rq[to->rq_head];
			assert_true(s->len <= r.len); /* a real NIC fails a receive too small */
			to->rq_head = (to->rq_head + 1) % FAKE_Q;
			to->rq_n--;
			memcpy(r.addr, s->data, s->len);
			cq_push(to->qp.recv_cq, (struct ibv_wc){.wr_id = r.wr_id,
								.status = IBV_WC_SUCCESS,
								.opcode = IBV_WC_RECV,
								.byte_len = s->len});
		}
		if (s->signaled)
			cq_push(from->qp.send_cq,
				(struct ibv_wc){.wr_id = s->wr_id, .status = IBV_WC_SUCCESS});
	}
	from->sq_n = 0;
}

#endif
