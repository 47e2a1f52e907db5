/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside nic/conn: what its three files share (not for callers of nic/conn.h, which keeps the
 * objects opaque). As DPDK's *_pvt.h headers, included only by:
 *   nic/conn.c        the plumbing both roles use: the lcore's CQ, connections and their RC QPs
 *                     (state transitions, handshake, reset = a new QP), work requests queued and
 *                     posted,
 *                     the poller that dispatches completions to
 *   nic/conn_reader.c the reader's requests: submit, replies, failures, timeouts, and
 *   nic/conn_export.c the exporter: requests served from kelp_rdma_export_ops, its bounce pool.
 * Everything here is called on the owning lcore only (the one that polls the lcore's CQ), like the
 * API in conn.h. Functions return 0 or -errno unless they say otherwise.
 */
#ifndef KELP_NIC_CONN_PRIV_H
#define KELP_NIC_CONN_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "nic/conn.h"
#include "proto/rdma_msg.h"

/* wr_id kinds. */
enum wr_kind {
	WR_REQ_SEND = 1,   /* reader: a request went out */
	WR_REPLY_RECV = 2, /* reader: a reply came in */
	WR_REQ_RECV = 3,   /* exporter: a request came in */
	WR_REPLY_SEND = 4, /* exporter: a reply (after its RDMA WRITE) went out */
	WR_WRITE = 5,	   /* exporter: the RDMA WRITE (unsignaled: only seen when it fails) */
	WR_PROBE = 6,	   /* exporter: a keepalive, a zero-length RDMA WRITE to an idle reader */
	WR_RREAD = 7,	   /* reader: a one-sided RDMA READ completed */
};

static inline uint64_t wr_id_make(enum wr_kind kind, uint8_t gen, uint16_t conn, uint32_t slot)
{
	return (uint64_t)kind << 56 | (uint64_t)gen << 48 | (uint64_t)conn << 32 | slot;
}

/* One request slot. Reader: a request in flight. Exporter: a reply (and its bounce buffer) until
 * its send completes. */
struct slot {
	bool busy;
	bool send_done;	   /* reader: the request's SEND completed */
	bool reply_done;   /* reader: its reply arrived (or it was failed) */
	bool fail_pending; /* reader: must still be reported as -ECONNRESET */
	bool rread;	   /* reader: a one-sided RDMA READ (no SEND, no reply) */
	uint32_t length;
	uint64_t req_id;
	uint64_t addr; /* reader: where the bytes go (an inline reply's are copied there) */
	void *user;
	int32_t bounce; /* exporter: first of the bounce buffers it holds (lc->bounce_next links
			 * the rest), or -1 */
};

/* A slot's work requests, built in place so they can wait in a chain until the connection is
 * flushed (reader: the request SEND; exporter: the RDMA WRITE and the reply SEND). */
struct slot_wrs {
	struct ibv_send_wr write, send;
	struct ibv_sge write_sge, send_sge;
	struct ibv_sge rread_sge[KELP_RDMA_RREAD_SGE]; /* reader: a one-sided READ's pieces */
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
	uint8_t gen;	/* changes on every reset: tags wr_ids */
	bool failing;	/* reader: failed, some slots still to report */
	bool inline_ok; /* the QP takes our messages inline (IBV_SEND_INLINE, up to MSG_MAX) */
	uint8_t hello_version; /* reader: the version its HELLO speaks (lowered for an old export)
				*/
	uint8_t version;       /* agreed in the handshake */
	uint16_t peer_inline; /* agreed inline maximum: exporter sends, reader receives (0: none) */
	uint32_t recv_size, send_size; /* bytes of each receive / send buffer */

	struct ibv_qp *qp;
	uint32_t psn;

	uint16_t max_credits; /* as created */
	uint16_t credits;     /* granted by the handshake */
	uint16_t in_flight;   /* reader: requests awaiting a reply, and one-sided READs */
	uint16_t rreads_out;  /* reader: of those, one-sided READs (they use no credit) */
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
	struct slot_wrs *swrs; /* per slot */
	struct recv_wrs *rwrs; /* per receive buffer */
	struct ibv_send_wr *send_head, *send_tail;
	struct ibv_recv_wr *recv_head, *recv_tail;
	bool dirty; /* listed in lc->dirty */

	/* exporter: the reader on the other end, from its HELLO (kelp_rdma_conn_establish) */
	uint8_t peer_gid[16];
	uint64_t peer_reader_id, peer_incarnation;
	uint16_t peer_lane;

	uint64_t retry_at;
	uint64_t backoff;
	uint64_t last_progress; /* reader: last reply, or the submit that made in_flight 1;
				 * exporter: last request, or the last keepalive answered */
	bool probe_out;		/* exporter: a keepalive (WR_PROBE) is posted */
	uint64_t probe_at;	/* exporter: when it was */
	struct kelp_rdma_conn_stats stats;
};

struct kelp_rdma_lcore {
	struct kelp_rdma_dev *dev;
	const struct kelp_verbs_ops *ops;
	struct ibv_cq *cq;
	int cq_entries;
	struct ibv_comp_channel *channel; /* cfg->events: the CQ's events (NULL: none) */
	unsigned int events_taken;	  /* taken from channel and not acknowledged yet */
	uint64_t (*clock_ns)(void);
	uint64_t request_timeout;
	uint64_t idle_probe; /* exporter: keepalive after this long without a request (0: never) */
	uint16_t
		inline_max; /* reply data carried inline (reader: taken, exporter: sent); 0: none */
	uint8_t rd_atomic;  /* dev->rd_atomic (qp_to_rts) */
	uint64_t next_timeout_check;
	uint32_t polls;
	bool has_export;
	struct kelp_rdma_export_ops export;

	uint8_t *bounce;
	struct ibv_mr *bounce_mr;
	uint32_t bounce_slots, bounce_size;
	uint32_t *bounce_free; /* stack */
	uint32_t bounce_nfree;
	int32_t *bounce_next;	    /* per buffer: the next buffer of the same reply, or -1 */
	struct chunk_wr *bounce_wr; /* per buffer: its piece's RDMA WRITE */
	uint32_t max_read;	    /* largest read served through the pool (<= the whole pool) */
	int32_t bounce_waiter;	    /* the connection whose first queued request waits for bounce
				     * buffers, or -1; other connections' bounce reads queue behind it,
				     * so that a large read is not overtaken for ever by small ones */

	struct kelp_rdma_conn *conns[KELP_RDMA_MAX_CONNS];
	uint8_t gen_of[KELP_RDMA_MAX_CONNS]; /* survives destroy so a reused index gets a new gen */
	uint32_t failing;		     /* connections with failures still to report */
	uint32_t pending; /* exporter requests waiting for a reply slot, all connections */
	uint16_t dirty[KELP_RDMA_MAX_CONNS]; /* indexes of connections with queued work requests */
	uint32_t ndirty;
	struct kelp_rdma_lcore_stats stats;
};

/* @c's message buffers: receive buffer @i (one per credit), send buffer of slot @i. */
static inline uint8_t *recv_buf(struct kelp_rdma_conn *c, uint32_t i)
{
	return c->bufs + (size_t)i * c->recv_size;
}

static inline uint8_t *send_buf(struct kelp_rdma_conn *c, uint32_t i)
{
	return c->bufs + (size_t)c->max_credits * c->recv_size + (size_t)i * c->send_size;
}

/* ---- nic/conn.c: shared by both roles -------------------------------------------------------- */

/* Queues receive buffer @i to be posted again at the next flush. */
void queue_recv(struct kelp_rdma_conn *c, uint32_t i);
/* Queues the send work requests @first..@last (linked through ->next) for the next flush. */
void queue_send(struct kelp_rdma_conn *c, struct ibv_send_wr *first, struct ibv_send_wr *last);
/* Builds slot @i's signaled SEND of the @len-byte message in its send buffer in @w (@kind tags
 * the completion); inline when the QP allows it. */
void build_send(struct kelp_rdma_conn *c, struct slot_wrs *w, enum wr_kind kind, uint32_t i,
		uint32_t len);
/* Posts what is queued on @c (receives, then sends); the queues are empty afterwards.
 * @return 0 or the -errno of the post (the caller fails the connection). */
int flush_conn(struct kelp_rdma_conn *c);
/* Slot @i is free again. */
void slot_release(struct kelp_rdma_conn *c, uint32_t i);
/* Back to DOWN: a new QP in place of the old one (destroyed, never reused: conn.c says why), new
 * generation, armed; the next attempt after the backoff. */
void conn_reset(struct kelp_rdma_conn *c, uint64_t now);
/* The connection broke (@why, for the one message): readers report their requests in flight as
 * -ECONNRESET from the next polls, then reset; exporters reset at once. */
void conn_fail(struct kelp_rdma_conn *c, const char *why);

/* ---- nic/conn_reader.c: the reader's requests ------------------------------------------------ */

/* The SEND of request slot @slot completed (a WR_REQ_SEND completion). */
void reader_sent(struct kelp_rdma_conn *c, uint32_t slot);
/* A reply arrived in receive buffer @i. @return 1 when @done was written, 0 otherwise. */
int reader_reply(struct kelp_rdma_conn *c, uint32_t i, uint32_t byte_len,
		 struct kelp_rdma_done *done);
/* Reports failed requests of failing connections into @done (at most @max) and resets each
 * connection once all of its requests are reported. @return entries written. */
int reader_drain_failed(struct kelp_rdma_lcore *lc, struct kelp_rdma_done *done, int max);
/* A one-sided READ of slot @slot completed (a WR_RREAD completion, success). @return 1: @done
 * written. */
int reader_rread_done(struct kelp_rdma_conn *c, uint32_t slot, struct kelp_rdma_done *done);
/* Fails reader connections silent for request_timeout with requests in flight (a scan, @now). */
void reader_check_timeouts(struct kelp_rdma_lcore *lc, uint64_t now);

/* ---- nic/conn_export.c: the exporter and its bounce pool ------------------------------------- */

/* Allocates and registers @lc's bounce pool as @cfg says (kelp_rdma_lcore_create with export
 * ops). On failure nothing of it is left allocated (message on stderr). @return 0 or -errno. */
int export_pool_create(struct kelp_rdma_lcore *lc, const struct kelp_rdma_lcore_config *cfg);
/* Deregisters and frees the pool (none: nothing to do). @return 0 or the -errno of the dereg. */
int export_pool_destroy(struct kelp_rdma_lcore *lc);
/* Gives the bounce buffers held by exporter slot @s back to the pool. */
void export_put_bounce(struct kelp_rdma_lcore *lc, struct slot *s);
/* Exporter @c just came up for a reader that named itself: reset the connections it replaces. */
void export_retire_replaced(struct kelp_rdma_conn *c, uint64_t now_ns);
/* A request arrived in receive buffer @i of exporter @c: serve it or queue it. */
void export_request(struct kelp_rdma_conn *c, uint32_t i, uint32_t byte_len);
/* Serves queued requests of every connection as far as slots and buffers allow. */
void export_drain_pending(struct kelp_rdma_lcore *lc);
/* The reply SEND of slot @si completed: its buffers and the slot are free. */
void export_reply_sent(struct kelp_rdma_conn *c, uint32_t si);
/* Posts a keepalive on exporter connections idle for lc->idle_probe with nothing in flight (a
 * scan, @now): a reader that is gone does not acknowledge it, and the failed completion resets
 * the connection. */
void export_check_idle(struct kelp_rdma_lcore *lc, uint64_t now);

#endif
