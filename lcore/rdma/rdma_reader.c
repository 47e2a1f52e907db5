/* SPDX-License-Identifier: Apache-2.0 */
/* kelpd's RDMA reader side: routing, lazy connections, the CQ poller (rdma_reader.h). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/crc32c.h"
#include "core/hostport.h"
#include "core/log.h"
#include "core/volume.h"
#include "lcore/cluster/discovery.h"
#include "lcore/engine.h"
#include "lcore/worker/lcore.h"
#include "lcore/worker/lsession.h"
#include "lcore/rdma/rdma_reader.h"
#include "nic/conn.h"
#include "nic/oob.h"

/* Where a peer's TCP handshake is (reader_peer.hs_state). */
enum hs_state {
	HS_IDLE = 0, /* the lcore's: no handshake under way */
	HS_ASKED,    /* the lcore filled hs_mine: the handshake thread's turn */
	HS_DONE,     /* the thread filled hs_rc/hs_ack: the lcore's turn */
};

struct reader_peer {
	char vs[KELP_LOOKUP_URL_MAX]; /* volume server "host:port" it stands for */
	char host[KELP_LOOKUP_URL_MAX];
	uint16_t port;
	struct kelp_rdma_conn *conn;
	/* handshake hand-over between the owning lcore and the handshake thread: each side writes
	 * the fields of its turn, then passes the turn with a release store of hs_state */
	uint32_t hs_state;
	struct kelp_rdma_hello hs_mine, hs_ack;
	int hs_rc;
	uint64_t fallbacks, bypassed, connects; /* owning lcore; published in pub */
	/* what kelp_rdma_reader_peers() reads from other threads: the strings are written before
	 * the peer is published (n_pub), the counters with relaxed stores (publish_peer) */
	struct kelp_rdma_peer_info pub;
};

/* One `[rdma] peers` entry. */
struct peer_map {
	char vs[KELP_LOOKUP_URL_MAX];
	char host[KELP_LOOKUP_URL_MAX];
	uint16_t port;
};

struct kelp_rdma_reader {
	struct kelp_lcore *lc;
	struct kelp_rdma_dev *dev;
	struct kelp_rdma_lcore *rlc;
	uint16_t peer_port;
	struct kelp_rdma_reader_ident ident;
	struct kelp_rdma_reader_hooks hooks; /* both set (real ones unless a test gave its own) */
	struct peer_map *map;
	size_t n_map;
	struct reader_peer peers[KELP_RDMA_READER_MAX_PEERS];
	size_t n_peers;
	size_t n_pub; /* peers other threads may look at: release store after a peer is set up */
	unsigned hs_pending;	  /* owning lcore: peers whose hs_state is not IDLE */
	uint64_t create_retry_ns; /* owning lcore: no new connection before (after a failure) */
	bool create_warned;
	/* the handshake thread (hs_main) and how the lcore wakes it */
	pthread_t hs_thread;
	bool hs_started;
	pthread_mutex_t hs_lock;
	pthread_cond_t hs_cond;
	unsigned hs_asked;  /* under hs_lock: handshakes asked for since the thread last looked */
	bool hs_stop;	    /* under hs_lock */
	uint32_t in_flight; /* posted, not yet completed: keeps the lcore from parking */
	struct kelp_rdma_done done[KELP_RDMA_POLL_BATCH];
};

#define PUB(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)
#define PEEK(field)   __atomic_load_n(&(field), __ATOMIC_RELAXED)

/* Owning lcore: copy @p's state and counters where kelp_rdma_reader_peers() reads them. */
static void publish_peer(const struct kelp_rdma_reader *rd, struct reader_peer *p)
{
	const struct kelp_rdma_conn_stats *st = kelp_rdma_conn_stats(p->conn);
	int state = kelp_rdma_conn_state(p->conn);
	/* the clock only when DOWN: it is read per request otherwise (a system call where the
	 * kernel does not trust the TSC, as in the test VM) */
	int64_t retry = state == KELP_RDMA_DOWN ? ((int64_t)kelp_rdma_conn_retry_at(p->conn) -
						   (int64_t)rd->hooks.clock_ns()) /
							  1000000
						: 0;

	PUB(p->pub.state, state);
	PUB(p->pub.in_flight, kelp_rdma_conn_in_flight(p->conn));
	PUB(p->pub.credits, kelp_rdma_conn_credits(p->conn));
	PUB(p->pub.requests, st->requests);
	PUB(p->pub.replies, st->replies);
	PUB(p->pub.errors, st->errors);
	PUB(p->pub.resets, st->resets);
	PUB(p->pub.fallbacks, p->fallbacks);
	PUB(p->pub.bypassed, p->bypassed);
	PUB(p->pub.connects, p->connects);
	PUB(p->pub.retry_in_ms, retry);
}

/* Owning lcore: the peer standing for volume server @vs (made on first use). NULL: table full or
 * an address that does not parse. */
static struct reader_peer *peer_for(struct kelp_rdma_reader *rd, const char *vs)
{
	struct reader_peer *p;

	for (size_t i = 0; i < rd->n_peers; i++)
		if (!strcmp(rd->peers[i].vs, vs))
			return &rd->peers[i];
	if (rd->n_peers >= KELP_RDMA_READER_MAX_PEERS || strlen(vs) >= sizeof(p->vs))
		return NULL;
	p = &rd->peers[rd->n_peers];
	memset(p, 0, sizeof(*p));
	strcpy(p->vs, vs);
	for (size_t i = 0; i < rd->n_map; i++) {
		if (!strcmp(rd->map[i].vs, vs)) {
			strcpy(p->host, rd->map[i].host);
			p->port = rd->map[i].port;
			break;
		}
	}
	if (!p->port) {
		uint16_t vs_port;

		if (kelp_split_host_port(vs, p->host, sizeof(p->host), &vs_port) < 0 || !p->host[0])
			return NULL;
		p->port = rd->peer_port;
	}
	/* allocation (and verbs calls) on the lcore: once per new peer, never per request; when
	 * it fails (QP or memory limits), not again for a second, so reads are not slowed down by
	 * trying on each one */
	uint64_t now = rd->hooks.clock_ns();
	if (now < rd->create_retry_ns)
		return NULL;
	int rc = kelp_rdma_conn_create(rd->rlc, KELP_RDMA_READER, KELP_RDMA_READER_CREDITS,
				       &p->conn);
	if (rc) {
		if (!rd->create_warned)
			kelp_log_warn("kelpd: lcore %u: cannot create an RDMA connection to %s:%u "
				      "(%s): its reads use HTTP, retried every second",
				      rd->lc->id, p->host, p->port, strerror(-rc));
		rd->create_warned = true;
		rd->create_retry_ns = now + 1000000000ull;
		return NULL;
	}
	char addr[sizeof(p->pub.addr)];
	snprintf(addr, sizeof(addr), "%s:%u", p->host, p->port);
	memcpy(p->pub.addr, addr, sizeof(addr));
	_Static_assert(sizeof(p->pub.vs) >= sizeof(p->vs), "peer report holds the address");
	memcpy(p->pub.vs, p->vs, sizeof(p->vs));
	p->pub.lcore = rd->lc->id;
	publish_peer(rd, p);
	rd->n_peers++;
	/* pairs with the acquire load in kelp_rdma_reader_peers(): the strings above are visible */
	__atomic_store_n(&rd->n_pub, rd->n_peers, __ATOMIC_RELEASE);
	return p;
}

/*
 * Owning lcore: when @p is DOWN and its backoff allows, start its handshake: the HELLO is made
 * here (the conn calls stay on the lcore), the blocking TCP exchange runs on the handshake thread,
 * and reader_poll() takes the answer (handshakes_done). Meanwhile the peer is CONNECTING and its
 * reads go to HTTP. Costs a mutex and a futex wake, once per attempt (at most every 100 ms).
 */
static void peer_connect(struct kelp_rdma_reader *rd, struct reader_peer *p)
{
	if (__atomic_load_n(&p->hs_state, __ATOMIC_ACQUIRE) != HS_IDLE ||
	    kelp_rdma_conn_state(p->conn) != KELP_RDMA_DOWN ||
	    !kelp_rdma_conn_due(p->conn, rd->hooks.clock_ns()))
		return;
	if (kelp_rdma_conn_hello(p->conn, &p->hs_mine) < 0)
		return;
	/* who we are, so that the export drops the connections this one replaces */
	p->hs_mine.reader_id = rd->ident.reader_id;
	p->hs_mine.incarnation = rd->ident.incarnation;
	p->hs_mine.lane = (uint16_t)rd->lc->id;
	p->connects++;
	rd->hs_pending++;
	/* pairs with the acquire load in hs_main(): the thread sees hs_mine */
	__atomic_store_n(&p->hs_state, HS_ASKED, __ATOMIC_RELEASE);
	pthread_mutex_lock(&rd->hs_lock);
	rd->hs_asked++;
	pthread_cond_signal(&rd->hs_cond);
	pthread_mutex_unlock(&rd->hs_lock);
}

/* Owning lcore: finish the handshakes the thread has answered. */
static void handshakes_done(struct kelp_rdma_reader *rd)
{
	uint64_t now = rd->hooks.clock_ns();

	for (size_t i = 0; i < rd->n_peers && rd->hs_pending; i++) {
		struct reader_peer *p = &rd->peers[i];

		/* pairs with the release store in hs_main(): hs_rc and hs_ack are complete */
		if (__atomic_load_n(&p->hs_state, __ATOMIC_ACQUIRE) != HS_DONE)
			continue;
		if (p->hs_rc < 0)
			kelp_rdma_conn_failed(p->conn, now);
		else
			kelp_rdma_conn_establish(p->conn, &p->hs_ack,
						 now); /* failure: DOWN, backoff */
		__atomic_store_n(&p->hs_state, HS_IDLE,
				 __ATOMIC_RELAXED); /* thread acts on ASKED only */
		rd->hs_pending--;
		publish_peer(rd, p);
	}
}

/*
 * The handshake thread: runs the TCP exchange (nic/oob.h, blocking with a timeout) of every peer
 * in HS_ASKED, so that neither the lcore nor the control thread waits on the network. Exits when
 * kelp_rdma_reader_destroy() sets hs_stop (after at most one handshake timeout).
 */
static void *hs_main(void *arg)
{
	struct kelp_rdma_reader *rd = arg;

	for (;;) {
		pthread_mutex_lock(&rd->hs_lock);
		while (!rd->hs_asked && !rd->hs_stop)
			pthread_cond_wait(&rd->hs_cond, &rd->hs_lock);
		bool stop = rd->hs_stop;
		rd->hs_asked = 0;
		pthread_mutex_unlock(&rd->hs_lock);
		if (stop)
			return NULL;
		/* pairs with the release store in peer_for(): host/port of these peers are set */
		size_t n = __atomic_load_n(&rd->n_pub, __ATOMIC_ACQUIRE);
		for (size_t i = 0; i < n; i++) {
			struct reader_peer *p = &rd->peers[i];

			if (__atomic_load_n(&p->hs_state, __ATOMIC_ACQUIRE) != HS_ASKED)
				continue;
			p->hs_rc = rd->hooks.handshake(p->host, p->port, &p->hs_mine, &p->hs_ack,
						       KELP_RDMA_READER_OOB_MS);
			/* pairs with the acquire load in handshakes_done() */
			__atomic_store_n(&p->hs_state, HS_DONE, __ATOMIC_RELEASE);
		}
	}
}

int kelp_rdma_reader_route(struct kelp_rdma_reader *rd, struct kelp_remote_read *r)
{
	const struct kelp_loc_table *t;
	const struct kelp_vol_locations *locs;
	struct reader_peer *p;
	struct lcore_session *s = r->session;

	if (!rd->lc->eng->locations || !s->rdma_rkey)
		return -ENOTCONN;
	t = kelp_loc_table_load(&rd->lc->eng->locations);
	locs = kelp_loc_table_find(t, r->fid.volume_id);
	if (!locs || locs->count == 0)
		return -ENOTCONN; /* not located yet: HTTP looks it up */
	if (r->opcode == KELP_OP_READ && r->length == 0)
		return -EINVAL; /* nothing to write: the protocol wants a buffer; HTTP answers */
	p = peer_for(rd, locs->url[0]);
	if (!p)
		return -ENOTCONN;
	peer_connect(rd, p);
	struct kelp_rdma_read req = {
		.opcode = r->opcode == KELP_OP_READ ? KELP_RDMA_OP_READ : KELP_RDMA_OP_STAT,
		.fid = r->fid,
		.offset = r->offset,
		.length = r->length,
		.addr = (uintptr_t)r->dst,
		.rkey = s->rdma_rkey,
		.user = r,
	};
	int rc = kelp_rdma_submit(p->conn, &req);
	if (rc == 0) {
		r->path_priv = p; /* for its fallback count */
		rd->in_flight++;
	} else {
		p->bypassed++;
	}
	publish_peer(rd, p);
	return rc;
}

int kelp_rdma_reader_result(struct kelp_remote_read *r, const struct kelp_rdma_done *d)
{
	if (d->status == -ENOENT) {
		r->result = -ENOENT;
		r->cqe_flags = KELP_CQE_PATH_RDMA;
		return 0;
	}
	if (d->status != 0)
		return -EAGAIN;
	r->cqe_flags = KELP_CQE_PATH_RDMA;
	r->size = d->data_size;
	r->crc = d->crc;
	r->needle_flags = d->needle_flags;
	if (d->needle_flags & KELP_NEEDLE_FLAG_GZIP)
		r->cqe_flags |= KELP_CQE_F_GZIP;
	if (r->opcode != KELP_OP_READ) {
		r->result = 0;
		return 0;
	}
	if (r->offset > d->data_size || d->written > r->length)
		return -EAGAIN;
	if (r->offset == 0 && d->written == d->data_size && d->written > 0) {
		uint32_t crc = kelp_crc32c(0, r->dst, d->written);

		if (crc != d->crc && kelp_crc32c_legacy(crc) != d->crc)
			return -EAGAIN; /* HTTP rewrites the buffer */
		r->cqe_flags |= KELP_CQE_F_CRC_CHECKED;
	}
	if (d->written < d->data_size - r->offset)
		r->cqe_flags |= KELP_CQE_F_TRUNCATED;
	r->result = (int32_t)d->written;
	return 0;
}

/* The reader's CQ poller (owning lcore). */
static int reader_poll(struct kelp_lcore *lc, void *arg)
{
	struct kelp_rdma_reader *rd = arg;
	int n;

	if (rd->hs_pending)
		handshakes_done(rd);
	n = kelp_rdma_lcore_poll(rd->rlc, rd->done, KELP_RDMA_POLL_BATCH);

	if (n < 0)
		return KELP_POLL_IDLE; /* CQ broken: connections time out, reads go to HTTP */
	for (int i = 0; i < n; i++) {
		struct kelp_remote_read *r = rd->done[i].user;
		struct reader_peer *p = r->path_priv;

		rd->in_flight--;
		if (kelp_rdma_reader_result(r, &rd->done[i]) == 0) {
			kelp_lcore_remote_finish(lc, r);
		} else {
			p->fallbacks++;
			/* what an RDMA-only read completes with (kelp_lcore_remote_to_http) */
			r->result = rd->done[i].status < 0 ? rd->done[i].status : -EIO;
			kelp_lcore_remote_to_http(lc, r);
		}
		publish_peer(rd, p);
	}
	/* busy while requests are out: a parked lcore would not see their completions (nothing
	 * writes its eventfd for a CQE), and the connection's reply timeout needs polling; and
	 * while a handshake is under way (at most KELP_RDMA_READER_OOB_MS), so that the peer comes
	 * UP without waiting for the next request to wake the lcore */
	return n > 0 || rd->in_flight || rd->hs_pending ? KELP_POLL_BUSY : KELP_POLL_IDLE;
}

/* Main thread: stop and join the handshake thread (waits for at most one handshake timeout). */
static void hs_stop(struct kelp_rdma_reader *rd)
{
	if (!rd->hs_started)
		return;
	pthread_mutex_lock(&rd->hs_lock);
	rd->hs_stop = true;
	pthread_cond_signal(&rd->hs_cond);
	pthread_mutex_unlock(&rd->hs_lock);
	pthread_join(rd->hs_thread, NULL);
	rd->hs_started = false;
}

int kelp_rdma_reader_create(struct kelp_lcore *lc, struct kelp_rdma_dev *dev,
			    const char *const *peers, size_t n_peers, uint16_t peer_port,
			    uint32_t request_timeout_ms, const struct kelp_rdma_reader_ident *ident,
			    const struct kelp_rdma_reader_hooks *hooks,
			    struct kelp_rdma_reader **out)
{
	struct kelp_rdma_reader *rd = calloc(1, sizeof(*rd));
	int rc;

	*out = NULL;
	if (!rd)
		return -ENOMEM;
	rd->hooks.clock_ns = hooks && hooks->clock_ns ? hooks->clock_ns : kelp_now_ns;
	rd->hooks.handshake = hooks && hooks->handshake ? hooks->handshake : kelp_rdma_oob_connect;
	/* the connections keep their own default clock unless a test gives one */
	struct kelp_rdma_lcore_config cfg = {.request_timeout_ms = request_timeout_ms,
					     .inline_max = lc->eng->conf.rdma.inline_max,
					     .clock_ns = hooks ? hooks->clock_ns : NULL};
	rd->lc = lc;
	rd->dev = dev;
	rd->peer_port = peer_port;
	rd->ident = *ident;
	rd->map = calloc(n_peers ? n_peers : 1, sizeof(*rd->map));
	if (!rd->map) {
		rc = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < n_peers; i++) {
		const char *eq = strchr(peers[i], '=');
		size_t l = eq ? (size_t)(eq - peers[i]) : 0;

		if (!eq || l >= sizeof(rd->map[i].vs) ||
		    kelp_split_host_port(eq + 1, rd->map[i].host, sizeof(rd->map[i].host),
					 &rd->map[i].port) < 0 ||
		    !rd->map[i].host[0]) {
			kelp_log_error("kelpd: [rdma] peers: bad entry '%s'", peers[i]);
			rc = -EINVAL;
			goto fail;
		}
		memcpy(rd->map[i].vs, peers[i], l);
		rd->n_map++;
	}
	pthread_mutex_init(&rd->hs_lock, NULL);
	pthread_cond_init(&rd->hs_cond, NULL);
	rc = -pthread_create(&rd->hs_thread, NULL, hs_main, rd);
	if (rc) {
		kelp_log_error("kelpd: lcore %u: cannot start the RDMA handshake thread: %s",
			       lc->id, strerror(-rc));
		goto fail;
	}
	rd->hs_started = true;
	char name[16];
	snprintf(name, sizeof(name), "kelp-rdma-hs%u", lc->id % 100);
	pthread_setname_np(rd->hs_thread, name);
	rc = kelp_rdma_lcore_create(dev, &cfg, NULL, &rd->rlc);
	if (rc)
		goto fail;
	if (kelp_lcore_add_poller(lc, "rdma-reader", reader_poll, rd) < 0) {
		kelp_log_error("kelpd: lcore %u: no poller slot for the RDMA reader", lc->id);
		kelp_rdma_lcore_destroy(rd->rlc);
		rc = -ENOSPC;
		goto fail;
	}
	*out = rd;
	return 0;
fail:
	hs_stop(rd);
	free(rd->map);
	free(rd);
	return rc;
}

size_t kelp_rdma_reader_peers(const struct kelp_rdma_reader *rd, struct kelp_rdma_peer_info *out,
			      size_t max)
{
	/* pairs with the release store in peer_for(): the peers' strings are complete */
	size_t n = __atomic_load_n(&rd->n_pub, __ATOMIC_ACQUIRE);

	if (n > max)
		n = max;
	for (size_t i = 0; i < n; i++) {
		const struct kelp_rdma_peer_info *p = &rd->peers[i].pub;
		struct kelp_rdma_peer_info *o = &out[i];

		memcpy(o->addr, p->addr, sizeof(o->addr));
		memcpy(o->vs, p->vs, sizeof(o->vs));
		o->lcore = p->lcore;
		o->state = PEEK(p->state);
		o->in_flight = PEEK(p->in_flight);
		o->credits = PEEK(p->credits);
		o->requests = PEEK(p->requests);
		o->replies = PEEK(p->replies);
		o->errors = PEEK(p->errors);
		o->resets = PEEK(p->resets);
		o->fallbacks = PEEK(p->fallbacks);
		o->bypassed = PEEK(p->bypassed);
		o->connects = PEEK(p->connects);
		o->retry_in_ms = PEEK(p->retry_in_ms);
	}
	return n;
}

int kelp_rdma_reader_destroy(struct kelp_rdma_reader *rd)
{
	int rc;

	if (!rd)
		return 0;
	for (size_t i = 0; i < rd->n_peers; i++) {
		const struct reader_peer *p = &rd->peers[i];
		const struct kelp_rdma_conn_stats *st = kelp_rdma_conn_stats(p->conn);

		kelp_log_info(
			"kelpd: lcore %u: RDMA peer %s:%u (volume server %s): requests %lu replies "
			"%lu errors %lu resets %lu sent on to HTTP %lu, straight to HTTP %lu, "
			"handshakes %lu",
			rd->lc->id, p->host, p->port, p->vs, st->requests, st->replies, st->errors,
			st->resets, p->fallbacks, p->bypassed, p->connects);
	}
	hs_stop(rd); /* before the peers' connections go */
	rc = kelp_rdma_lcore_destroy(rd->rlc);
	free(rd->map);
	free(rd);
	return rc;
}
