/* SPDX-License-Identifier: Apache-2.0 */
/* kelpd's TCP export side: handshake thread, the export lcore's poller (tcp_export.h). */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/cidr.h"
#include "core/clock.h"
#include "core/hostport.h"
#include "core/log.h"
#include "core/volume.h"
#include "lcore/engine.h"
#include "lcore/rdma/rdma_export.h"
#include "lcore/tcp/lcore_ring.h"
#include "lcore/tcp/tcp_export.h"
#include "lcore/tcp/tcp_hs.h"
#include "lcore/worker/lcore.h"
#include "nic/conn.h"
#include "nic/oob.h"
#include "proto/tcp_frame.h"

enum { OP_RECV = 1, OP_SEND = 2, OP_TIMEOUT = 3 };
/* user_data of the timeout that wakes a parked lcore for idle checks */
#define TIMER_UD UINT64_MAX
#define HANDOFF	 16 /* authenticated sockets waiting for the lcore */
#define EXP_IOV	 64 /* pieces of one send: runs of the send buffer and needle bytes in a mapping */
#define EXP_PREFETCH 64 /* requests whose needles serve_conn() starts loading ahead */

/*
 * A connection's replies go out in batches, one send in flight at a time: batch[fill] fills while
 * batch[fill ^ 1] is being sent. A batch is a list of pieces (iov) sent with one SENDMSG: runs of
 * its copy buffer tx (reply headers, and the bytes of needles smaller than KELP_TCP_EXPORT_MAP_MIN:
 * one memcpy of a small needle costs less than a piece) and, for larger needles, the bytes
 * straight from the volume's mapping (the kernel's copy into the socket is the only one). A batch
 * with mapping pieces holds the lcore's epoch (kelp_lcore.epoch_holds) until its send completed,
 * and its send carries a link timeout (KELP_TCP_EXPORT_SEND_MS) so that a peer which stops
 * reading cannot hold the epoch for longer.
 */
struct exp_batch {
	uint8_t *tx; /* KELP_TCP_EXPORT_TX bytes */
	uint32_t tx_len;
	unsigned n_iov, iov_done; /* iov_done: pieces fully sent (of the batch in flight) */
	uint64_t bytes;		  /* in all pieces */
	bool mapped;		  /* a piece points into a volume's mapping */
	struct iovec iov[EXP_IOV];
};

struct exp_conn {
	int fd;
	bool closing;
	unsigned ops;
	uint64_t last_ns; /* coarse clock: handed to the lcore, or its last bytes received */
	bool recv_out, send_out;
	bool send_holds;  /* the send in flight holds the lcore's epoch */
	uint64_t send_t0; /* when the batch in flight was first posted (mapped batches) */
	uint32_t rx_len, rx_off;
	struct exp_batch b[2];
	unsigned fill;
	struct msghdr msg; /* of the send in flight (the kernel may read it until the CQE) */
	uint8_t rx[KELP_TCP_EXPORT_RX];
};

struct kelp_tcp_export {
	struct kelp_engine *eng;
	struct kelp_lcore *lc;
	struct io_uring ring;
	struct kelp_lcore_ring lr; /* its eventfd (the thread writes it too); deferred */
	int listen_fd;
	int stop_pipe[2];
	char listen[KELP_HOST_MAX + 8];
	char secret[256];
	size_t secret_len;
	struct kelp_cidr *allow;
	size_t n_allow;
	uint32_t max_read;
	uint64_t idle_ns; /* [peer] idle_timeout_s; 0: never */
	uint64_t next_idle_check;
	bool timer_out; /* the wake-up timeout is in the ring */
	struct __kernel_timespec timer_ts;
	pthread_t thread;
	bool thread_started;
	/* hand-off thread -> lcore: single producer, single consumer */
	struct exp_conn *handoff[HANDOFF];
	uint32_t ho_head, ho_tail; /* head: lcore (consumer), tail: thread (producer) */
	/* export lcore only */
	struct exp_conn *conns[KELP_TCP_EXPORT_MAX_CONN];
	unsigned to_submit;
	struct __kernel_timespec send_ts; /* KELP_TCP_EXPORT_SEND_MS, for the link timeouts */
	uint32_t live; /* atomic: connections the lcore holds (the thread reads it for BUSY) */
	struct kelp_tcp_export_stats stats;
};

#define STAT_ADD(f, n) __atomic_store_n(&(f), (f) + (n), __ATOMIC_RELAXED)

static void conn_free(struct exp_conn *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c->b[0].tx);
	free(c->b[1].tx);
	free(c);
}

/* ---- the handshake thread ------------------------------------------------------------------ */

static void *hs_main(void *arg)
{
	struct kelp_tcp_export *ex = arg;
	struct pollfd pf[2] = {{.fd = ex->listen_fd, .events = POLLIN},
			       {.fd = ex->stop_pipe[0], .events = POLLIN}};

	for (;;) {
		if (poll(pf, 2, -1) < 0 && errno != EINTR)
			return NULL;
		if (pf[1].revents)
			return NULL;
		if (!(pf[0].revents & POLLIN))
			continue;
		struct sockaddr_storage sa;
		socklen_t sl = sizeof(sa);
		int fd = accept4(ex->listen_fd, (struct sockaddr *)&sa, &sl,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		if (ex->n_allow &&
		    !kelp_cidr_match(ex->allow, ex->n_allow, (struct sockaddr *)&sa)) {
			close(fd);
			STAT_ADD(ex->stats.refused, 1);
			continue;
		}
		struct kelp_tcp_hello peer;
		uint32_t head = __atomic_load_n(&ex->ho_head, __ATOMIC_ACQUIRE);
		int busy = __atomic_load_n(&ex->live, __ATOMIC_RELAXED) + (ex->ho_tail - head) >=
				   KELP_TCP_EXPORT_MAX_CONN ||
			   ex->ho_tail - head >= HANDOFF;
		int rc = kelp_tcp_hs_serve(fd, ex->secret, ex->secret_len, busy,
					   KELP_TCP_EXPORT_HS_MS, &peer);
		if (rc) {
			kelp_log_warn("kelpd: [peer] tcp_listen %s: refused a peer: %s", ex->listen,
				      kelp_tcp_hs_strerror(rc));
			close(fd);
			STAT_ADD(ex->stats.refused, 1);
			continue;
		}
		struct exp_conn *c = calloc(1, sizeof(*c));
		if (c)
			c->b[0].tx = malloc(KELP_TCP_EXPORT_TX),
			c->b[1].tx = malloc(KELP_TCP_EXPORT_TX);
		if (!c || !c->b[0].tx || !c->b[1].tx) {
			close(fd);
			if (c)
				c->fd = -1;
			conn_free(c);
			continue;
		}
		c->fd = fd;
		ex->handoff[ex->ho_tail % HANDOFF] = c;
		/* pairs with the acquire load in take_handoffs(): the connection is complete */
		__atomic_store_n(&ex->ho_tail, ex->ho_tail + 1, __ATOMIC_RELEASE);
		STAT_ADD(ex->stats.connections, 1);
		uint64_t one = 1;
		(void)!write(ex->lr.efd, &one, sizeof(one)); /* wake a parked lcore */
	}
}

/* ---- the export lcore ---------------------------------------------------------------------- */

static struct io_uring_sqe *sqe_for(struct kelp_tcp_export *ex, unsigned i, int op)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ex->ring);

	if (!sqe)
		return NULL;
	io_uring_sqe_set_data64(sqe, ((uint64_t)i << 2) | (uint64_t)op);
	ex->conns[i]->ops++;
	ex->to_submit++;
	return sqe;
}

static void conn_fail(struct kelp_tcp_export *ex, unsigned i)
{
	struct exp_conn *c = ex->conns[i];

	if (c->closing)
		return;
	c->closing = true;
	/* the close resets: what the connection still had to send is of no use (the reader falls
	 * back for all of it), and a reader that stopped reading sees the end (no FIN queued behind
	 * bytes it will never take) */
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	shutdown(c->fd, SHUT_RDWR); /* what is in flight completes */
	if (!c->ops) {
		conn_free(c);
		ex->conns[i] = NULL;
		__atomic_store_n(&ex->live, ex->live - 1, __ATOMIC_RELAXED);
	}
}

static void take_handoffs(struct kelp_tcp_export *ex)
{
	uint32_t tail = __atomic_load_n(&ex->ho_tail, __ATOMIC_ACQUIRE);

	while (ex->ho_head != tail) {
		struct exp_conn *c = ex->handoff[ex->ho_head % HANDOFF];
		unsigned i = 0;

		while (i < KELP_TCP_EXPORT_MAX_CONN && ex->conns[i])
			i++;
		if (i == KELP_TCP_EXPORT_MAX_CONN) /* the thread counted: cannot happen */
			conn_free(c);
		else
			ex->conns[i] = c;
		c->last_ns = kelp_coarse_ns();
		__atomic_store_n(&ex->live, ex->live + (i < KELP_TCP_EXPORT_MAX_CONN),
				 __ATOMIC_RELAXED);
		__atomic_store_n(&ex->ho_head, ex->ho_head + 1, __ATOMIC_RELEASE);
	}
}

/* Append @len bytes at @p to @bt as a piece (joined to the last piece when they follow it). */
static void piece(struct exp_batch *bt, const void *p, uint32_t len)
{
	struct iovec *last = bt->n_iov ? &bt->iov[bt->n_iov - 1] : NULL;

	if (last && (const uint8_t *)last->iov_base + last->iov_len == p)
		last->iov_len += len;
	else
		bt->iov[bt->n_iov++] = (struct iovec){.iov_base = (void *)p, .iov_len = len};
	bt->bytes += len;
}

/* Room in @c's filling batch for one more reply: its header, a copied needle (< MAP_MIN bytes)
 * or two pieces (header, mapping); and the batch is not yet KELP_TCP_EXPORT_BATCH bytes long. */
static bool batch_room(const struct exp_conn *c)
{
	const struct exp_batch *bt = &c->b[c->fill];

	return KELP_TCP_EXPORT_TX - bt->tx_len >=
		       KELP_TCP_REPLY_HDR_SIZE + KELP_TCP_EXPORT_MAP_MIN &&
	       bt->n_iov + 2 <= EXP_IOV && bt->bytes < KELP_TCP_EXPORT_BATCH;
}

/* Serve request @rq of @c into its filling batch (batch_room() said there is room). Return false
 * when the connection must close (the volume lost a page under the copy). */
static bool serve(struct kelp_tcp_export *ex, struct exp_conn *c,
		  const struct kelp_rdma_request *rq)
{
	struct kelp_fid fid = {.volume_id = rq->volume_id, .key = rq->key, .cookie = rq->cookie};
	struct kelp_rdma_source src = {0};
	struct kelp_rdma_reply rp = {.req_id = rq->req_id};
	struct exp_batch *bt = &c->b[c->fill];
	uint32_t n = 0;
	int rc = kelp_rdma_source_find(ex->eng->volumes, &fid, &src, NULL);

	rp.status = kelp_rdma_errno_status(rc);
	if (!rc && rq->opcode == KELP_RDMA_OP_READ) {
		if (rq->offset > src.size) {
			rp.status = KELP_RDMA_BAD_REQUEST;
		} else {
			uint64_t left = src.size - rq->offset;

			n = rq->length < left ? rq->length : (uint32_t)left;
			if (n > ex->max_read) {
				rp.status = KELP_RDMA_TOO_LARGE;
				STAT_ADD(ex->stats.too_large, 1);
				n = 0;
			}
		}
	}
	if (rp.status == KELP_RDMA_OK) {
		rp.data_size = src.size;
		rp.crc = src.crc;
		rp.needle_flags = src.flags;
		rp.written = n;
	}
	uint8_t *h = bt->tx + bt->tx_len;
	kelp_tcp_reply_hdr_encode(&rp, h);
	bt->tx_len += KELP_TCP_REPLY_HDR_SIZE;
	piece(bt, h, KELP_TCP_REPLY_HDR_SIZE);
	STAT_ADD(ex->stats.replies, 1);
	if (!n)
		return true;
	STAT_ADD(ex->stats.bytes, n);
	if (n >= KELP_TCP_EXPORT_MAP_MIN) {
		/* straight from the mapping: the epoch is held from the send's post to its CQE,
		 * a page the file lost makes the kernel's copy fail (EFAULT: the connection
		 * closes and the reader falls back) */
		piece(bt, src.data + rq->offset, n);
		bt->mapped = true;
		return true;
	}
	memcpy(bt->tx + bt->tx_len, src.data + rq->offset, n);
	if (kelp_rdma_source_faulted(NULL, &src))
		return false;
	piece(bt, bt->tx + bt->tx_len, n);
	bt->tx_len += n;
	return true;
}

/* Start loading the needles of the requests received after @c's rx_off (at most
 * EXP_PREFETCH): their index slots and record headers, so that the cache and TLB misses of a
 * batch overlap instead of queueing one by one in serve() (as kelp_lcore_serve_session does for
 * a local burst). Frames are only peeked at: serve_conn() parses them again and rejects them. */
static void prefetch_conn(struct kelp_tcp_export *ex, const struct exp_conn *c)
{
	uint32_t off = c->rx_off;

	for (unsigned i = 0; i < EXP_PREFETCH && c->rx_len - off >= KELP_TCP_REQ_FRAME_SIZE;
	     i++, off += KELP_TCP_REQ_FRAME_SIZE) {
		struct kelp_rdma_request rq;
		const struct kelp_volume *v;

		if (kelp_tcp_request_frame_parse(c->rx + off, c->rx_len - off, &rq))
			return;
		if (rq.opcode == KELP_RDMA_OP_READ &&
		    (v = kelp_volume_set_find(ex->eng->volumes, rq.volume_id)))
			kelp_volume_prefetch(v, rq.key);
	}
}

/* Serve what @c received, as far as its filling batch has room. Return false: close it. */
static bool serve_conn(struct kelp_tcp_export *ex, struct exp_conn *c)
{
	if (c->rx_len - c->rx_off >= 2 * KELP_TCP_REQ_FRAME_SIZE)
		prefetch_conn(ex, c);
	while (c->rx_len - c->rx_off >= KELP_TCP_REQ_FRAME_SIZE && batch_room(c)) {
		struct kelp_rdma_request rq;

		if (kelp_tcp_request_frame_parse(c->rx + c->rx_off, c->rx_len - c->rx_off, &rq)) {
			STAT_ADD(ex->stats.errors, 1);
			return false;
		}
		c->rx_off += KELP_TCP_REQ_FRAME_SIZE;
		STAT_ADD(ex->stats.requests, 1);
		if (!serve(ex, c, &rq))
			return false;
	}
	/* the receive in flight writes at rx_len: nothing moves under it */
	if (c->recv_out || !c->rx_off)
		return true;
	if (c->rx_off == c->rx_len) {
		c->rx_off = c->rx_len = 0;
	} else { /* a partial frame: to the front */
		memmove(c->rx, c->rx + c->rx_off, c->rx_len - c->rx_off);
		c->rx_len -= c->rx_off;
		c->rx_off = 0;
	}
	return true;
}

/* Post the send of what is left of batch @bt of connection @i (pieces from iov_done on), with a
 * link timeout when it reads a mapping. Return false when the SQ has no room (the caller retries
 * next round, or closes when the send was under way). */
static bool send_batch(struct kelp_tcp_export *ex, unsigned i, struct exp_batch *bt)
{
	struct exp_conn *c = ex->conns[i];
	struct io_uring_sqe *sqe;

	if (io_uring_sq_space_left(&ex->ring) < 2)
		return false;
	sqe = sqe_for(ex, i, OP_SEND);
	c->msg = (struct msghdr){.msg_iov = bt->iov + bt->iov_done,
				 .msg_iovlen = bt->n_iov - bt->iov_done};
	/* MSG_WAITALL: the kernel retries a short send itself, one CQE for the whole batch */
	io_uring_prep_sendmsg(sqe, c->fd, &c->msg, MSG_NOSIGNAL | MSG_WAITALL);
	c->send_out = true;
	if (bt->mapped) {
		io_uring_sqe_set_flags(sqe, IOSQE_IO_LINK);
		io_uring_prep_link_timeout(sqe_for(ex, i, OP_TIMEOUT), &ex->send_ts, 0);
		if (!c->send_holds) {
			c->send_holds = true;
			ex->lc->epoch_holds++;
		}
	}
	return true;
}

static void post(struct kelp_tcp_export *ex, unsigned i)
{
	struct exp_conn *c = ex->conns[i];
	struct io_uring_sqe *sqe;

	if (!c->send_out && c->b[c->fill].n_iov && send_batch(ex, i, &c->b[c->fill])) {
		if (c->b[c->fill].mapped) /* vDSO; once per batch of large replies */
			c->send_t0 = kelp_now_ns();
		c->fill ^= 1; /* the next replies go to the other (empty) batch meanwhile */
	}
	if (!c->recv_out && c->rx_len < KELP_TCP_EXPORT_RX && (sqe = sqe_for(ex, i, OP_RECV))) {
		io_uring_prep_recv(sqe, c->fd, c->rx + c->rx_len, KELP_TCP_EXPORT_RX - c->rx_len,
				   0);
		c->recv_out = true;
	}
}

/* The send of @c's batch in flight (b[fill ^ 1]) moved @res bytes. Return: true when it is done
 * (the batch is empty again), false when pieces are left. */
static bool batch_sent(struct exp_conn *c, uint32_t res)
{
	struct exp_batch *bt = &c->b[c->fill ^ 1];

	while (res && bt->iov_done < bt->n_iov) {
		struct iovec *v = &bt->iov[bt->iov_done];
		uint32_t k = res < v->iov_len ? res : (uint32_t)v->iov_len;

		v->iov_base = (uint8_t *)v->iov_base + k;
		v->iov_len -= k;
		res -= k;
		if (!v->iov_len)
			bt->iov_done++;
	}
	if (bt->iov_done < bt->n_iov)
		return false;
	bt->tx_len = 0;
	bt->n_iov = bt->iov_done = 0;
	bt->bytes = 0;
	bt->mapped = false;
	return true;
}

static void on_cqe(struct kelp_tcp_export *ex, unsigned i, int op, int res)
{
	struct exp_conn *c = ex->conns[i];

	c->ops--;
	if (op == OP_TIMEOUT) /* -ETIME: it cancelled the send, whose CQE says so */
		goto done;
	if (op == OP_SEND) {
		c->send_out = false;
		/* the kernel no longer reads the mapping (the rest, if any, is posted again
		 * below and holds again) */
		if (c->send_holds) {
			c->send_holds = false;
			ex->lc->epoch_holds--;
		}
	} else {
		c->recv_out = false;
	}
	if (c->closing)
		goto done;
	if (res <= 0) {		  /* reset, the reader closed, a page gone (EFAULT), a timeout */
		conn_fail(ex, i); /* frees @c when nothing is in flight */
		return;
	}
	if (op == OP_SEND) {
		struct exp_batch *bt = &c->b[c->fill ^ 1];

		if (batch_sent(c, (uint32_t)res))
			return;
		/* a short send (the link timeout cut it, or an error after some bytes): the rest
		 * first, unless a mapped batch is out of time (a peer reading a trickle must not
		 * hold the epoch for long either) */
		if ((bt->mapped &&
		     kelp_now_ns() - c->send_t0 > (uint64_t)KELP_TCP_EXPORT_SEND_MS * 1000000ull) ||
		    !send_batch(ex, i, bt))
			conn_fail(ex, i);
	} else {
		c->rx_len += (uint32_t)res;
		c->last_ns = kelp_coarse_ns(); /* one vDSO page read per receive (clock.h) */
	}
	return;
done:
	if (c->closing && !c->ops) {
		conn_free(c);
		ex->conns[i] = NULL;
		__atomic_store_n(&ex->live, ex->live - 1, __ATOMIC_RELAXED);
	}
}

/*
 * Closes connections whose reader went quiet: nothing in flight (no request received and not
 * yet answered, no batch filled or being sent) and no bytes from it for [peer] idle_timeout_s.
 * A reader that vanished without a FIN (host down, network cut) would otherwise hold its
 * connection and its send buffers until kelpd restarts; one that is only idle sees the close
 * and connects again for its next read. At most one scan a second.
 */
static void check_idle(struct kelp_tcp_export *ex)
{
	uint64_t now;

	if (!ex->idle_ns || (now = kelp_coarse_ns()) < ex->next_idle_check)
		return;
	ex->next_idle_check = now + 1000000000ull;
	for (unsigned i = 0; i < KELP_TCP_EXPORT_MAX_CONN; i++) {
		struct exp_conn *c = ex->conns[i];

		if (!c || c->closing || c->rx_len != c->rx_off || c->b[0].n_iov || c->b[1].n_iov ||
		    c->send_out || now - c->last_ns < ex->idle_ns)
			continue;
		kelp_log_debug("kelpd: [peer] tcp_listen %s: closing a reader connection idle for "
			       "[peer] idle_timeout_s",
			       ex->listen);
		STAT_ADD(ex->stats.idle_closed, 1);
		conn_fail(ex, i);
	}
}

/* While connections are open, a timeout in the ring wakes the lcore (it may park on the ring's
 * eventfd) every quarter of idle_timeout_s (at most 1 s apart), so idle checks run. */
static void arm_idle_timer(struct kelp_tcp_export *ex)
{
	struct io_uring_sqe *sqe;
	uint64_t ns = ex->idle_ns / 4 < 1000000000ull ? ex->idle_ns / 4 : 1000000000ull;

	if (!ex->idle_ns || ex->timer_out || !ex->live || !(sqe = io_uring_get_sqe(&ex->ring)))
		return;
	ex->timer_ts = (struct __kernel_timespec){.tv_sec = (long long)(ns / 1000000000ull),
						  .tv_nsec = (long long)(ns % 1000000000ull)};
	io_uring_prep_timeout(sqe, &ex->timer_ts, 0, 0);
	io_uring_sqe_set_data64(sqe, TIMER_UD);
	ex->timer_out = true;
	ex->to_submit++;
}

static int export_poll(struct kelp_lcore *lc, void *arg)
{
	struct kelp_tcp_export *ex = arg;
	struct io_uring_cqe *cqe;
	int n = 0;

	if (__atomic_load_n(&ex->ho_tail, __ATOMIC_RELAXED) != ex->ho_head) {
		take_handoffs(ex);
		n++;
	}
	/* the requests that came: their receives complete now. Reaped even with no connection
	 * left (its last timeout): a CQE left in the CQ would keep the ring's park hook busy */
	kelp_lcore_ring_run(&ex->lr);
	while (io_uring_peek_cqe(&ex->ring, &cqe) == 0) {
		uint64_t ud = io_uring_cqe_get_data64(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&ex->ring, cqe);
		if (ud == TIMER_UD) {
			ex->timer_out = false;
			continue;
		}
		on_cqe(ex, (unsigned)(ud >> 2), (int)(ud & 3), res);
		n++;
	}
	if (!ex->live)
		return n ? KELP_POLL_BUSY : KELP_POLL_IDLE;
	check_idle(ex);
	arm_idle_timer(ex);
	if (!n && !ex->to_submit)
		return KELP_POLL_IDLE; /* nothing new: nothing to serve or post */
	for (unsigned i = 0; i < KELP_TCP_EXPORT_MAX_CONN; i++) {
		struct exp_conn *c = ex->conns[i];

		if (!c || c->closing)
			continue;
		if (!serve_conn(ex, c)) {
			kelp_log_warn("kelpd: [peer] tcp_listen %s: closing a connection that sent "
				      "a malformed frame (or whose needle changed under a reply)",
				      ex->listen);
			conn_fail(ex, i);
			continue;
		}
		post(ex, i);
	}
	if (ex->to_submit && io_uring_submit(&ex->ring) >= 0)
		ex->to_submit = 0;
	/* a hand-off (lcore.h): the next requests wake the parked lcore through the ring's
	 * eventfd; spinning for them only burns the CPU the reader or the volume server needs */
	lc->round_handoff++;
	return KELP_POLL_BUSY;
}

int kelp_tcp_export_start(struct kelp_engine *eng, struct kelp_lcore *lc, const char *listen,
			  const char *secret, const char *const *allow, size_t n_allow,
			  uint32_t max_read_mb, struct kelp_tcp_export **out)
{
	struct kelp_tcp_export *ex = calloc(1, sizeof(*ex));
	char host[KELP_HOST_MAX];
	uint16_t port;
	int rc;

	*out = NULL;
	if (!ex)
		return -ENOMEM;
	ex->eng = eng;
	ex->lc = lc;
	ex->listen_fd = ex->lr.efd = ex->stop_pipe[0] = ex->stop_pipe[1] = -1;
	ex->max_read = (max_read_mb ? max_read_mb : 16) << 20;
	ex->idle_ns = (uint64_t)eng->conf.peer.idle_timeout_s * 1000000000ull;
	ex->send_ts =
		(struct __kernel_timespec){.tv_sec = KELP_TCP_EXPORT_SEND_MS / 1000,
					   .tv_nsec = (KELP_TCP_EXPORT_SEND_MS % 1000) * 1000000ll};
	snprintf(ex->listen, sizeof(ex->listen), "%s", listen);
	ex->secret_len = secret ? strlen(secret) : 0;
	if (ex->secret_len >= sizeof(ex->secret) ||
	    kelp_parse_host_port(listen, host, sizeof(host), &port, NULL, 0) < 0) {
		kelp_log_error("kelpd: [peer] tcp_listen = '%s': want host:port", listen);
		rc = -EINVAL;
		goto fail;
	}
	if (!ex->secret_len && !n_allow) {
		kelp_log_error(
			"kelpd: [peer] tcp_listen = %s needs [peer] secret (the same on every "
			"kelpd) or [peer] allow (the readers' addresses): this kelpd serves no "
			"peer it cannot authenticate",
			listen);
		rc = -EINVAL;
		goto fail;
	}
	if (secret)
		memcpy(ex->secret, secret, ex->secret_len);
	ex->allow = calloc(n_allow ? n_allow : 1, sizeof(*ex->allow));
	if (!ex->allow) {
		rc = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < n_allow; i++) {
		if (kelp_cidr_parse(allow[i], &ex->allow[i])) {
			kelp_log_error("kelpd: [peer] allow: bad entry '%s'", allow[i]);
			rc = -EINVAL;
			goto fail;
		}
	}
	ex->n_allow = n_allow;
	rc = kelp_lcore_ring_open(lc, 512, true, &ex->ring, &ex->lr);
	if (rc) {
		kelp_log_error("kelpd: TCP export: io_uring: %s", strerror(-rc));
		goto fail;
	}
	if (pipe2(ex->stop_pipe, O_CLOEXEC) < 0) {
		rc = -errno;
		kelp_log_error("kelpd: TCP export: pipe: %s", strerror(errno));
		goto fail;
	}
	ex->listen_fd = kelp_rdma_oob_listen(host, port);
	if (ex->listen_fd < 0) {
		rc = ex->listen_fd;
		ex->listen_fd = -1;
		kelp_log_error(
			"kelpd: [peer] tcp_listen = %s: %s (is another kelpd using that port?)",
			listen, strerror(-rc));
		goto fail;
	}
	if (kelp_lcore_add_poller(lc, "tcp-export", export_poll, ex) < 0) {
		kelp_log_error("kelpd: no poller slot for the TCP export");
		rc = -ENOSPC;
		goto fail;
	}
	rc = -pthread_create(&ex->thread, NULL, hs_main, ex);
	if (rc) {
		kelp_log_error("kelpd: cannot start the TCP export thread: %s", strerror(-rc));
		goto fail;
	}
	ex->thread_started = true;
	pthread_setname_np(ex->thread, "kelp-tcp-export");
	kelp_log_info("kelpd: TCP export on %s (lcore %u; %s%s)", listen, lc->id,
		      ex->secret_len ? "secret" : "",
		      n_allow ? (ex->secret_len ? " + allow list" : "allow list") : "");
	*out = ex;
	return 0;
fail:
	kelp_tcp_export_stop(ex);
	return rc;
}

void kelp_tcp_export_stats(const struct kelp_tcp_export *ex, struct kelp_tcp_export_stats *out)
{
	const struct kelp_tcp_export_stats *s = &ex->stats;

	out->connections = __atomic_load_n(&s->connections, __ATOMIC_RELAXED);
	out->refused = __atomic_load_n(&s->refused, __ATOMIC_RELAXED);
	out->up = __atomic_load_n(&ex->live, __ATOMIC_RELAXED);
	out->requests = __atomic_load_n(&s->requests, __ATOMIC_RELAXED);
	out->replies = __atomic_load_n(&s->replies, __ATOMIC_RELAXED);
	out->bytes = __atomic_load_n(&s->bytes, __ATOMIC_RELAXED);
	out->errors = __atomic_load_n(&s->errors, __ATOMIC_RELAXED);
	out->too_large = __atomic_load_n(&s->too_large, __ATOMIC_RELAXED);
	out->idle_closed = __atomic_load_n(&s->idle_closed, __ATOMIC_RELAXED);
}

void kelp_tcp_export_stop(struct kelp_tcp_export *ex)
{
	if (!ex)
		return;
	if (ex->thread_started) {
		(void)!write(ex->stop_pipe[1], "x", 1);
		pthread_join(ex->thread, NULL);
		struct kelp_tcp_export_stats s;
		kelp_tcp_export_stats(ex, &s);
		kelp_log_info(
			"kelpd: TCP export %s: connections %lu refused %lu requests %lu replies "
			"%lu "
			"bytes %lu malformed %lu too large %lu",
			ex->listen, s.connections, s.refused, s.requests, s.replies, s.bytes,
			s.errors, s.too_large);
	}
	while (ex->ho_head != ex->ho_tail)
		conn_free(ex->handoff[ex->ho_head++ % HANDOFF]);
	for (unsigned i = 0; i < KELP_TCP_EXPORT_MAX_CONN; i++)
		conn_free(ex->conns[i]);
	kelp_lcore_ring_close(&ex->lr);
	for (int i = 0; i < 2; i++)
		if (ex->stop_pipe[i] >= 0)
			close(ex->stop_pipe[i]);
	if (ex->listen_fd >= 0)
		close(ex->listen_fd);
	free(ex->allow);
	free(ex);
}
