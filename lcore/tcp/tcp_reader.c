/* SPDX-License-Identifier: Apache-2.0 */
/* kelpd's TCP reader side: routing, persistent connections on the lcore's io_uring (tcp_reader.h).
 */
#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/hostport.h"
#include "core/log.h"
#include "lcore/cluster/discovery.h"
#include "lcore/engine.h"
#include "lcore/rdma/rdma_reader.h"
#include "lcore/tcp/tcp_hs.h"
#include "lcore/tcp/lcore_ring.h"
#include "lcore/tcp/tcp_reader.h"
#include "lcore/worker/lcore.h"
#include "lcore/worker/lsession.h"
#include "nic/conn.h"
#include "proto/tcp_frame.h"
#include "shm/kelp.h"

enum hs_state { HS_IDLE = 0, HS_ASKED, HS_DONE }; /* as in rdma_reader.c */
enum { OP_RECV = 1, OP_SEND = 2 };
#define TIMER_UD UINT64_MAX /* user_data of the timeout that wakes a parked lcore */
#define TX_SIZE	 (KELP_TCP_READER_CREDITS * KELP_TCP_REQ_FRAME_SIZE)

struct tcp_peer {
	char vs[KELP_LOOKUP_URL_MAX];
	char host[KELP_LOOKUP_URL_MAX];
	uint16_t port;
	int state; /* enum kelp_tcp_state (owning lcore; published in pub) */
	int fd;
	unsigned ops;		 /* SQEs whose CQE has not come back */
	bool recv_out, send_out; /* a receive / a send is in flight */
	bool recv_direct;	 /* the receive in flight writes into cur's buffer */
	/* requests sent, in order; the one whose data is arriving is cur (already off the list) */
	struct kelp_remote_read *head, *tail;
	struct kelp_remote_read *cur;
	struct kelp_rdma_reply cur_rp;
	uint32_t cur_got;
	uint32_t in_flight;
	uint64_t next_id, expect_id;
	uint64_t progress_ns; /* last reply bytes (or first request after idle) */
	uint64_t retry_at_ns, backoff_ms;
	struct kelp_tcp_rx prs;
	uint8_t *rx; /* KELP_TCP_STAGING */
	uint8_t *tx[2];
	uint32_t tx_len[2], txf, tx_sending, send_off;
	/* handshake hand-over with the thread (as rdma_reader.c) */
	uint32_t hs_state;
	int hs_rc;
	struct kelp_tcp_peer_info pub;
};

struct kelp_tcp_reader {
	struct kelp_lcore *lc;
	struct io_uring ring;
	struct kelp_lcore_ring lr; /* its eventfd: a reply wakes a parked lcore; deferred */
	bool timer_armed;
	struct __kernel_timespec timer_ts;
	struct kelp_tcp_config cfg;
	char secret[256];
	size_t secret_len;
	char (*map_vs)[KELP_LOOKUP_URL_MAX];
	char (*map_host)[KELP_LOOKUP_URL_MAX];
	uint16_t *map_port;
	size_t n_map;
	struct tcp_peer peers[KELP_TCP_READER_MAX_PEERS];
	size_t n_peers, n_pub;
	unsigned hs_pending, to_submit, rounds;
	uint32_t in_flight; /* over every peer: keeps the lcore polling */
	pthread_t hs_thread;
	bool hs_started;
	pthread_mutex_t hs_lock;
	pthread_cond_t hs_cond;
	unsigned hs_asked;
	bool hs_stop;
};

#define PUB(field, v)	  __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)
#define PEEK(field)	  __atomic_load_n(&(field), __ATOMIC_RELAXED)
#define PUB_ADD(field, n) PUB(field, (field) + (n))

const char *kelp_tcp_state_name(int state)
{
	static const char *const names[] = {"down", "connecting", "up", "closing"};

	return state >= 0 && state <= KELP_TCP_CLOSING ? names[state] : "?";
}

static void set_state(struct tcp_peer *p, int state)
{
	p->state = state;
	PUB(p->pub.state, state);
}

static struct tcp_peer *peer_for(struct kelp_tcp_reader *rd, const char *vs)
{
	struct tcp_peer *p;

	for (size_t i = 0; i < rd->n_peers; i++)
		if (!strcmp(rd->peers[i].vs, vs))
			return &rd->peers[i];
	if (rd->n_peers >= KELP_TCP_READER_MAX_PEERS || strlen(vs) >= sizeof(p->vs))
		return NULL;
	p = &rd->peers[rd->n_peers];
	if (!p->rx) { /* once per new peer, never per request: the buffers stay for good */
		p->rx = malloc(KELP_TCP_STAGING);
		p->tx[0] = malloc(TX_SIZE);
		p->tx[1] = malloc(TX_SIZE);
		if (!p->rx || !p->tx[0] || !p->tx[1])
			return NULL; /* kept for the next try, freed by destroy */
	}
	strcpy(p->vs, vs);
	p->port = 0;
	for (size_t i = 0; i < rd->n_map; i++) {
		if (!strcmp(rd->map_vs[i], vs)) {
			strcpy(p->host, rd->map_host[i]);
			p->port = rd->map_port[i];
			break;
		}
	}
	if (!p->port) {
		uint16_t vs_port;

		if (kelp_split_host_port(vs, p->host, sizeof(p->host), &vs_port) < 0 || !p->host[0])
			return NULL;
		p->port = rd->cfg.tcp_port;
	}
	p->fd = -1;
	p->backoff_ms = 100;
	char addr[sizeof(p->pub.addr)];
	snprintf(addr, sizeof(addr), "%s:%u", p->host, p->port);
	memcpy(p->pub.addr, addr, sizeof(addr));
	_Static_assert(sizeof(p->pub.vs) >= sizeof(p->vs), "peer report holds the address");
	memcpy(p->pub.vs, p->vs, sizeof(p->vs));
	p->pub.lcore = rd->lc->id;
	rd->n_peers++;
	/* pairs with the acquire loads in hs_main() and kelp_tcp_reader_peers() */
	__atomic_store_n(&rd->n_pub, rd->n_peers, __ATOMIC_RELEASE);
	return p;
}

/* Owning lcore: ask the handshake thread to connect @p when it is DOWN and its backoff allows. */
static void peer_connect(struct kelp_tcp_reader *rd, struct tcp_peer *p)
{
	if (p->state != KELP_TCP_DOWN || kelp_now_ns() < p->retry_at_ns)
		return;
	set_state(p, KELP_TCP_CONNECTING);
	PUB_ADD(p->pub.connects, 1);
	rd->hs_pending++;
	__atomic_store_n(&p->hs_state, HS_ASKED, __ATOMIC_RELEASE);
	pthread_mutex_lock(&rd->hs_lock);
	rd->hs_asked++;
	pthread_cond_signal(&rd->hs_cond);
	pthread_mutex_unlock(&rd->hs_lock);
}

static void *hs_main(void *arg)
{
	struct kelp_tcp_reader *rd = arg;

	for (;;) {
		pthread_mutex_lock(&rd->hs_lock);
		while (!rd->hs_asked && !rd->hs_stop)
			pthread_cond_wait(&rd->hs_cond, &rd->hs_lock);
		bool stop = rd->hs_stop;
		rd->hs_asked = 0;
		pthread_mutex_unlock(&rd->hs_lock);
		if (stop)
			return NULL;
		size_t n = __atomic_load_n(&rd->n_pub, __ATOMIC_ACQUIRE);
		for (size_t i = 0; i < n; i++) {
			struct tcp_peer *p = &rd->peers[i];
			struct kelp_tcp_ident id = {.reader_id = rd->cfg.reader_id,
						    .incarnation = rd->cfg.incarnation,
						    .lane = (uint16_t)rd->lc->id};

			if (__atomic_load_n(&p->hs_state, __ATOMIC_ACQUIRE) != HS_ASKED)
				continue;
			p->hs_rc = kelp_tcp_hs_dial(p->host, p->port, rd->secret, rd->secret_len,
						    &id, KELP_TCP_HS_MS);
			if (p->hs_rc < 0 && p->hs_rc != PEEK(p->pub.last_error))
				kelp_log_warn(
					"kelpd: lcore %u: TCP peer %s:%u (volume server %s): %s; "
					"its reads use HTTP meanwhile",
					rd->lc->id, p->host, p->port, p->vs,
					kelp_tcp_hs_strerror(p->hs_rc));
			__atomic_store_n(&p->hs_state, HS_DONE, __ATOMIC_RELEASE);
			uint64_t one = 1;
			(void)!write(rd->lr.efd, &one, sizeof(one)); /* wake a parked lcore */
		}
	}
}

static void backoff(struct tcp_peer *p, int err)
{
	p->retry_at_ns = kelp_now_ns() + p->backoff_ms * 1000000ull;
	p->backoff_ms = p->backoff_ms * 2 > 5000 ? 5000 : p->backoff_ms * 2;
	PUB(p->pub.last_error, err);
	set_state(p, KELP_TCP_DOWN);
}

static void handshakes_done(struct kelp_tcp_reader *rd)
{
	for (size_t i = 0; i < rd->n_peers && rd->hs_pending; i++) {
		struct tcp_peer *p = &rd->peers[i];

		if (__atomic_load_n(&p->hs_state, __ATOMIC_ACQUIRE) != HS_DONE)
			continue;
		__atomic_store_n(&p->hs_state, HS_IDLE, __ATOMIC_RELAXED);
		rd->hs_pending--;
		if (p->hs_rc < 0) {
			backoff(p, p->hs_rc);
			continue;
		}
		p->fd = p->hs_rc;
		p->backoff_ms = 100;
		p->prs = (struct kelp_tcp_rx){0};
		p->tx_len[0] = p->tx_len[1] = 0;
		p->txf = 0;
		p->next_id = p->expect_id = 1;
		PUB(p->pub.last_error, 0);
		set_state(p, KELP_TCP_UP);
	}
}

/* Owning lcore: @r leaves TCP for the next path (HTTP, or its error when TCP-only). */
static void fall_back(struct kelp_tcp_reader *rd, struct tcp_peer *p, struct kelp_remote_read *r,
		      int err)
{
	rd->in_flight--;
	PUB_ADD(p->pub.fallbacks, 1);
	r->result = err < 0 ? err : -EIO;
	kelp_lcore_remote_to_http(rd->lc, r);
}

static void close_fd(struct kelp_tcp_reader *rd, struct tcp_peer *p)
{
	(void)rd;
	close(p->fd); /* non-blocking: no SO_LINGER */
	p->fd = -1;
	backoff(p, PEEK(p->pub.last_error));
}

/*
 * Owning lcore: connection @p failed (@err): every request on it goes on to HTTP once, the socket
 * is shut down so that its receive and send complete, and closed when they did. The request whose
 * data a receive in flight is writing goes on only when that receive is back (its buffer is
 * then no longer written by the kernel).
 */
static void conn_fail(struct kelp_tcp_reader *rd, struct tcp_peer *p, int err)
{
	if (p->state != KELP_TCP_UP)
		return;
	set_state(p, KELP_TCP_CLOSING);
	PUB_ADD(p->pub.resets, 1);
	PUB(p->pub.last_error, err);
	shutdown(p->fd, SHUT_RDWR);
	while (p->head) {
		struct kelp_remote_read *r = p->head;

		p->head = r->next;
		p->in_flight--;
		fall_back(rd, p, r, -ECONNRESET);
	}
	p->tail = NULL;
	if (p->cur && !(p->recv_out && p->recv_direct)) {
		p->in_flight--;
		fall_back(rd, p, p->cur, -ECONNRESET);
		p->cur = NULL;
	}
	PUB(p->pub.in_flight, p->in_flight);
	if (!p->ops)
		close_fd(rd, p);
}

/* Owning lcore: the reply of @r (header @rp, data in r->dst) is complete. */
static void reply_done(struct kelp_tcp_reader *rd, struct tcp_peer *p, struct kelp_remote_read *r,
		       const struct kelp_rdma_reply *rp)
{
	struct kelp_rdma_done d = {.user = r,
				   .status = kelp_rdma_status_errno(rp->status),
				   .written = rp->written,
				   .data_size = rp->data_size,
				   .crc = rp->crc,
				   .needle_flags = rp->needle_flags};

	PUB_ADD(p->pub.replies, 1);
	PUB_ADD(p->pub.bytes, rp->written);
	if (kelp_rdma_reader_result(r, &d) == 0) {
		rd->in_flight--;
		p->in_flight--;
		r->cqe_flags |= KELP_CQE_F_TCP;
		KELP_STAT_ADD(rd->lc->stats.tcp, 1);
		kelp_lcore_remote_finish(rd->lc, r);
	} else {
		p->in_flight--;
		fall_back(rd, p, r, d.status);
	}
}

/* Owning lcore: the stream bytes @buf (@len) of @p. Return: 0, or -EBADMSG (protocol error). */
static int rx_bytes(struct kelp_tcp_reader *rd, struct tcp_peer *p, const uint8_t *buf,
		    uint32_t len)
{
	while (len) {
		if (p->cur) {
			uint32_t n = len < p->prs.data_left ? len : p->prs.data_left;

			memcpy(p->cur->dst + p->cur_got, buf, n);
			p->cur_got += n;
			kelp_tcp_rx_data(&p->prs, n);
			buf += n;
			len -= n;
			if (!p->prs.data_left) {
				struct kelp_remote_read *r = p->cur;

				p->cur = NULL;
				reply_done(rd, p, r, &p->cur_rp);
			}
			continue;
		}
		struct kelp_rdma_reply rp;
		bool got;
		int c = kelp_tcp_rx_feed(&p->prs, buf, len, &got, &rp);

		if (c < 0)
			return c;
		buf += c;
		len -= (uint32_t)c;
		if (!got)
			continue;
		struct kelp_remote_read *r = p->head;
		/* in order, and never more bytes than the request's buffer holds */
		if (!r || rp.req_id != p->expect_id ||
		    rp.written > (r->opcode == KELP_OP_READ ? r->length : 0))
			return -EBADMSG;
		p->head = r->next;
		if (!p->head)
			p->tail = NULL;
		p->expect_id++;
		if (rp.written == 0) {
			reply_done(rd, p, r, &rp);
		} else {
			p->cur = r;
			p->cur_rp = rp;
			p->cur_got = 0;
		}
	}
	return 0;
}

static struct io_uring_sqe *sqe_for(struct kelp_tcp_reader *rd, struct tcp_peer *p, int op)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&rd->ring);

	if (!sqe)
		return NULL; /* SQ full: posted next round */
	io_uring_sqe_set_data64(sqe, ((uint64_t)(p - rd->peers) << 2) | (uint64_t)op);
	p->ops++;
	rd->to_submit++;
	return sqe;
}

/* Owning lcore: post @p's send and receive if due. */
static void post(struct kelp_tcp_reader *rd, struct tcp_peer *p)
{
	struct io_uring_sqe *sqe;

	if (!p->send_out && p->tx_len[p->txf] && (sqe = sqe_for(rd, p, OP_SEND))) {
		p->tx_sending = p->txf;
		p->send_off = 0;
		p->txf ^= 1; /* new requests go to the other buffer meanwhile */
		io_uring_prep_send(sqe, p->fd, p->tx[p->tx_sending], p->tx_len[p->tx_sending],
				   MSG_NOSIGNAL);
		p->send_out = true;
	}
	if (!p->recv_out && (sqe = sqe_for(rd, p, OP_RECV))) {
		p->recv_direct = p->cur && p->prs.data_left >= KELP_TCP_DIRECT_MIN;
		if (p->recv_direct) /* the rest of a large reply: straight into the client's buffer
				     */
			io_uring_prep_recv(sqe, p->fd, p->cur->dst + p->cur_got, p->prs.data_left,
					   MSG_WAITALL);
		else
			io_uring_prep_recv(sqe, p->fd, p->rx, KELP_TCP_STAGING, 0);
		p->recv_out = true;
	}
}

static void on_send(struct kelp_tcp_reader *rd, struct tcp_peer *p, int res)
{
	p->send_out = false;
	if (p->state != KELP_TCP_UP)
		return;
	if (res <= 0) {
		conn_fail(rd, p, res < 0 ? res : -ECONNRESET);
		return;
	}
	p->send_off += (uint32_t)res;
	if (p->send_off < p->tx_len[p->tx_sending]) { /* short send: the rest first */
		struct io_uring_sqe *sqe = sqe_for(rd, p, OP_SEND);

		if (!sqe) {
			conn_fail(rd, p, -ENOBUFS);
			return;
		}
		io_uring_prep_send(sqe, p->fd, p->tx[p->tx_sending] + p->send_off,
				   p->tx_len[p->tx_sending] - p->send_off, MSG_NOSIGNAL);
		p->send_out = true;
		return;
	}
	p->tx_len[p->tx_sending] = 0;
}

static void on_recv(struct kelp_tcp_reader *rd, struct tcp_peer *p, int res)
{
	bool direct = p->recv_direct;

	p->recv_out = false;
	p->recv_direct = false;
	if (p->state != KELP_TCP_UP) {
		if (direct && p->cur) { /* conn_fail() left it to us: the kernel is done with it */
			p->in_flight--;
			fall_back(rd, p, p->cur, -ECONNRESET);
			p->cur = NULL;
		}
		return;
	}
	if (res <= 0) {
		conn_fail(rd, p, res < 0 ? res : -ECONNRESET);
		return;
	}
	p->progress_ns = 0; /* re-armed by the timeout check */
	int rc;
	if (direct) {
		p->cur_got += (uint32_t)res;
		kelp_tcp_rx_data(&p->prs, (uint32_t)res);
		rc = 0;
		if (!p->prs.data_left) {
			struct kelp_remote_read *r = p->cur;

			p->cur = NULL;
			reply_done(rd, p, r, &p->cur_rp);
		}
	} else {
		rc = rx_bytes(rd, p, p->rx, (uint32_t)res);
	}
	if (rc < 0) {
		PUB_ADD(p->pub.errors, 1);
		kelp_log_warn("kelpd: lcore %u: TCP peer %s: malformed reply; reconnecting",
			      rd->lc->id, p->pub.addr);
		conn_fail(rd, p, rc);
	}
}

/* Owning lcore: fail connections that owe replies and sent nothing for [peer] timeout_ms. */
static void check_timeouts(struct kelp_tcp_reader *rd)
{
	uint64_t now = kelp_now_ns();

	for (size_t i = 0; i < rd->n_peers; i++) {
		struct tcp_peer *p = &rd->peers[i];

		if (p->state != KELP_TCP_UP || !p->in_flight)
			continue;
		if (!p->progress_ns)
			p->progress_ns = now;
		else if (now - p->progress_ns > (uint64_t)rd->cfg.timeout_ms * 1000000ull)
			conn_fail(rd, p, -ETIMEDOUT);
	}
}

static int reader_poll(struct kelp_lcore *lc, void *arg)
{
	struct kelp_tcp_reader *rd = arg;
	struct io_uring_cqe *cqe;
	int n = 0;

	(void)lc;
	if (!rd->n_peers) /* no TCP peer used yet: what an lcore without TCP reads pays */
		return KELP_POLL_IDLE;
	kelp_lcore_ring_run(&rd->lr); /* the replies that came: their receives complete now */
	if (rd->hs_pending)
		handshakes_done(rd);
	while (io_uring_peek_cqe(&rd->ring, &cqe) == 0) {
		uint64_t ud = io_uring_cqe_get_data64(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&rd->ring, cqe);
		n++;
		if (ud == TIMER_UD) {
			rd->timer_armed = false;
			if (rd->in_flight)
				check_timeouts(rd);
			continue;
		}
		struct tcp_peer *p = &rd->peers[ud >> 2];
		p->ops--;
		if ((ud & 3) == OP_SEND)
			on_send(rd, p, res);
		else
			on_recv(rd, p, res);
		if (p->state == KELP_TCP_CLOSING && !p->ops)
			close_fd(rd, p);
	}
	for (size_t i = 0; i < rd->n_peers; i++)
		if (rd->peers[i].state == KELP_TCP_UP)
			post(rd, &rd->peers[i]);
	if (rd->in_flight && !(++rd->rounds & 63))
		check_timeouts(rd);
	/* replies owed: when the lcore parks, a timeout (a quarter of [peer] timeout_ms) wakes it
	 * to check them; replies and handshakes wake it through the ring's eventfd */
	if (rd->in_flight && !rd->timer_armed && !n) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&rd->ring);

		if (sqe) {
			uint64_t ms = rd->cfg.timeout_ms / 4 ? rd->cfg.timeout_ms / 4 : 1;
			rd->timer_ts = (struct __kernel_timespec){
				.tv_sec = (long long)(ms / 1000),
				.tv_nsec = (long long)(ms % 1000) * 1000000};
			io_uring_prep_timeout(sqe, &rd->timer_ts, 0, 0);
			io_uring_sqe_set_data64(sqe, TIMER_UD);
			rd->timer_armed = true;
			rd->to_submit++;
		}
	}
	bool submitted = rd->to_submit != 0;
	if (rd->to_submit) {
		int rc = io_uring_submit(&rd->ring);

		if (rc >= 0)
			rd->to_submit = 0;
	}
	for (size_t i = 0; i < rd->n_peers; i++)
		PUB(rd->peers[i].pub.in_flight, rd->peers[i].in_flight);
	/* idle while only waiting: the lcore may park, the ring's eventfd wakes it. So it parks
	 * after a short spin (lcore.h, KELP_HANDOFF_PARK_NS) while replies are owed and after a
	 * round that sent requests: spinning for replies a round trip away only takes the CPU
	 * from the exporter or the client when they share it, and costs CPU per read when not */
	rd->lc->tcp_inflight = rd->in_flight;
	if (submitted)
		rd->lc->round_handoff++;
	return n || submitted ? KELP_POLL_BUSY : KELP_POLL_IDLE;
}

int kelp_tcp_reader_route(struct kelp_tcp_reader *rd, struct kelp_remote_read *r)
{
	const struct kelp_loc_table *t;
	const struct kelp_vol_locations *locs;
	struct tcp_peer *p;

	if (!rd->lc->eng->locations)
		return -ENOTCONN;
	t = kelp_loc_table_load(&rd->lc->eng->locations);
	locs = kelp_loc_table_find(t, r->fid.volume_id);
	if (!locs || locs->count == 0)
		return -ENOTCONN; /* not located yet: HTTP looks it up */
	p = peer_for(rd, locs->url[0]);
	if (!p)
		return -ENOTCONN;
	if (p->state != KELP_TCP_UP) {
		peer_connect(rd, p);
		PUB_ADD(p->pub.bypassed, 1);
		return -ENOTCONN;
	}
	if (p->in_flight >= KELP_TCP_READER_CREDITS ||
	    p->tx_len[p->txf] + KELP_TCP_REQ_FRAME_SIZE > TX_SIZE) {
		PUB_ADD(p->pub.bypassed, 1);
		return -EAGAIN;
	}
	struct kelp_rdma_request rq = {
		.opcode = r->opcode == KELP_OP_READ ? KELP_RDMA_OP_READ : KELP_RDMA_OP_STAT,
		.req_id = p->next_id,
		.volume_id = r->fid.volume_id,
		.cookie = r->fid.cookie,
		.key = r->fid.key,
		.offset = r->opcode == KELP_OP_READ ? r->offset : 0,
		.length = r->opcode == KELP_OP_READ ? r->length : 0,
	};
	if (kelp_tcp_request_frame_encode(&rq, p->tx[p->txf] + p->tx_len[p->txf]) < 0)
		return -EINVAL;
	p->tx_len[p->txf] += KELP_TCP_REQ_FRAME_SIZE;
	p->next_id++;
	r->next = NULL;
	r->path_priv = p;
	if (p->tail)
		p->tail->next = r;
	else
		p->head = r;
	p->tail = r;
	if (!p->in_flight)
		p->progress_ns = 0;
	p->in_flight++;
	rd->in_flight++;
	PUB_ADD(p->pub.requests, 1);
	return 0;
}

int kelp_tcp_reader_create(struct kelp_lcore *lc, const struct kelp_tcp_config *cfg,
			   struct kelp_tcp_reader **out)
{
	struct kelp_tcp_reader *rd = calloc(1, sizeof(*rd));
	int rc;

	*out = NULL;
	if (!rd)
		return -ENOMEM;
	rd->lc = lc;
	rd->lr.efd = -1;
	rd->cfg = *cfg;
	if (!rd->cfg.timeout_ms)
		rd->cfg.timeout_ms = 5000;
	if (cfg->secret) {
		rd->secret_len = strlen(cfg->secret);
		if (rd->secret_len >= sizeof(rd->secret)) {
			rc = -EINVAL;
			goto fail;
		}
		memcpy(rd->secret, cfg->secret, rd->secret_len);
	}
	rd->cfg.secret = NULL;
	rd->cfg.hosts = NULL;
	size_t n = cfg->n_hosts ? cfg->n_hosts : 1;
	rd->map_vs = calloc(n, sizeof(*rd->map_vs));
	rd->map_host = calloc(n, sizeof(*rd->map_host));
	rd->map_port = calloc(n, sizeof(*rd->map_port));
	if (!rd->map_vs || !rd->map_host || !rd->map_port) {
		rc = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < cfg->n_hosts; i++) {
		const char *e = cfg->hosts[i], *eq = strchr(e, '=');
		size_t l = eq ? (size_t)(eq - e) : 0;

		if (!eq || l >= KELP_LOOKUP_URL_MAX ||
		    kelp_split_host_port(eq + 1, rd->map_host[i], KELP_LOOKUP_URL_MAX,
					 &rd->map_port[i]) < 0 ||
		    !rd->map_host[i][0]) {
			kelp_log_error("kelpd: [peer] tcp_peers: bad entry '%s'", e);
			rc = -EINVAL;
			goto fail;
		}
		memcpy(rd->map_vs[i], e, l);
		rd->n_map++;
	}
	rc = kelp_lcore_ring_open(lc, 256, true, &rd->ring, &rd->lr);
	if (rc) {
		kelp_log_error("kelpd: lcore %u: cannot create the TCP reader's io_uring: %s",
			       lc->id, strerror(-rc));
		goto fail;
	}
	pthread_mutex_init(&rd->hs_lock, NULL);
	pthread_cond_init(&rd->hs_cond, NULL);
	rc = -pthread_create(&rd->hs_thread, NULL, hs_main, rd);
	if (rc) {
		kelp_log_error("kelpd: lcore %u: cannot start the TCP handshake thread: %s", lc->id,
			       strerror(-rc));
		goto fail;
	}
	rd->hs_started = true;
	char name[16];
	snprintf(name, sizeof(name), "kelp-tcp-hs%u", lc->id % 100);
	pthread_setname_np(rd->hs_thread, name);
	if (kelp_lcore_add_poller(lc, "tcp-reader", reader_poll, rd) < 0) {
		kelp_log_error("kelpd: lcore %u: no poller slot for the TCP reader", lc->id);
		rc = -ENOSPC;
		goto fail;
	}
	*out = rd;
	return 0;
fail:
	kelp_tcp_reader_destroy(rd);
	return rc;
}

size_t kelp_tcp_reader_peers(const struct kelp_tcp_reader *rd, struct kelp_tcp_peer_info *out,
			     size_t max)
{
	size_t n = __atomic_load_n(&rd->n_pub, __ATOMIC_ACQUIRE);

	if (n > max)
		n = max;
	for (size_t i = 0; i < n; i++) {
		const struct kelp_tcp_peer_info *p = &rd->peers[i].pub;
		struct kelp_tcp_peer_info *o = &out[i];

		memcpy(o->addr, p->addr, sizeof(o->addr));
		memcpy(o->vs, p->vs, sizeof(o->vs));
		o->lcore = p->lcore;
		o->state = PEEK(p->state);
		o->in_flight = PEEK(p->in_flight);
		o->requests = PEEK(p->requests);
		o->replies = PEEK(p->replies);
		o->bytes = PEEK(p->bytes);
		o->errors = PEEK(p->errors);
		o->resets = PEEK(p->resets);
		o->fallbacks = PEEK(p->fallbacks);
		o->bypassed = PEEK(p->bypassed);
		o->connects = PEEK(p->connects);
		o->last_error = PEEK(p->last_error);
	}
	return n;
}

void kelp_tcp_reader_destroy(struct kelp_tcp_reader *rd)
{
	if (!rd)
		return;
	if (rd->hs_started) {
		pthread_mutex_lock(&rd->hs_lock);
		rd->hs_stop = true;
		pthread_cond_signal(&rd->hs_cond);
		pthread_mutex_unlock(&rd->hs_lock);
		pthread_join(rd->hs_thread, NULL);
	}
	for (size_t i = 0; i < KELP_TCP_READER_MAX_PEERS; i++) {
		struct tcp_peer *p = &rd->peers[i];

		if (i < rd->n_peers)
			kelp_log_info(
				"kelpd: lcore %u: TCP peer %s (volume server %s): requests %lu "
				"replies %lu errors %lu resets %lu sent on to HTTP %lu, straight "
				"to HTTP %lu, connects %lu",
				rd->lc->id, p->pub.addr, p->vs, p->pub.requests, p->pub.replies,
				p->pub.errors, p->pub.resets, p->pub.fallbacks, p->pub.bypassed,
				p->pub.connects);
		if (p->fd >= 0 && i < rd->n_peers)
			close(p->fd);
		/* a handshake the lcore never took: its socket */
		if (p->hs_state == HS_DONE && p->hs_rc >= 0)
			close(p->hs_rc);
		free(p->rx);
		free(p->tx[0]);
		free(p->tx[1]);
	}
	kelp_lcore_ring_close(&rd->lr);
	free(rd->map_vs);
	free(rd->map_host);
	free(rd->map_port);
	free(rd);
}
