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
#include "core/idx.h"
#include "core/needle.h"
#include "core/needle_index.h"
#include "core/volume.h"
#include "lcore/cluster/discovery.h"
#include "lcore/engine.h"
#include "lcore/worker/lcore.h"
#include "lcore/worker/lsession.h"
#include "lcore/rdma/rdma_reader.h"
#include "nic/conn.h"
#include "nic/mr.h"
#include "nic/oob.h"
#include "proto/rdma_msg.h"

/* Where a peer's TCP handshake is (reader_peer.hs_state). */
enum hs_state {
	HS_IDLE = 0, /* the lcore's: no handshake under way */
	HS_ASKED,    /* the lcore filled hs_mine: the handshake thread's turn */
	HS_DONE,     /* the thread filled hs_rc/hs_ack: the lcore's turn */
};

/* One-sided reads: what the reader knows of one volume of a peer (proto/rdma_msg.h 7-9). */
enum os_state {
	OS_NONE = 0, /* no VOLMAP yet: MAP it at the next read */
	OS_FETCHING, /* VOLMAP known, its index not yet complete: reads stay two-sided */
	OS_READY,    /* one-sided reads; the VOLMAP (and the index tail) refreshed now and then */
	OS_OFF,	     /* the export does not offer it (or it broke): two-sided until off_until */
};

#define OS_PEND_MAX 64

struct os_vol {
	uint32_t vid;
	uint8_t state;
	struct kelp_rdma_volmap map;
	bool have_map;
	uint64_t idx_seen; /* .idx bytes applied */
	struct kelp_needle_index *ni;
	uint64_t idx_want; /* fetch .idx up to here (the VOLMAP's length) */
	/* live rows whose record lies past the registered region yet (the page the volume server
	 * is appending into): their keys read two-sided until a later VOLMAP covers them */
	struct kelp_idx_row pend[OS_PEND_MAX];
	uint32_t n_pend;
	uint64_t next_map; /* refresh the VOLMAP (and the index tail) after this */
	uint64_t off_until;
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
	uint64_t os_reads, os_fallbacks;	/* one-sided: done; not verified -> two-sided */
	struct os_vol *vols;			/* one-sided reads: the volumes read from it */
	size_t n_vols, cap_vols;
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
	/* one-sided reads (kelp_rdma_reader_one_sided): a registered staging area holding the
	 * MAP/IDX answers (ctl_buf) and per one-sided read its header and tail pieces */
	bool one_sided;
	uint8_t *stage;
	struct ibv_mr *stage_mr;
	struct os_read *os; /* KELP_RDMA_OS_SLOTS, a free stack of them */
	uint32_t os_free[KELP_RDMA_OS_SLOTS], n_os_free;
	struct os_ctl {
		bool busy; /* one MAP or IDX in flight per reader lcore */
		uint8_t op;
		struct reader_peer *p;
		uint32_t vid;
		uint64_t offset; /* IDX: where in .idx */
	} ctl;
};

/* A one-sided read in flight: where its pieces went. */
struct os_read {
	struct kelp_remote_read *r;
	struct reader_peer *p;
	uint32_t vid, size, dlen, tlen;
	uint8_t version;
	uint8_t *head; /* KELP_NEEDLE_SPLIT_HEAD bytes, then the tail (KELP_RDMA_OS_TAIL_MAX) */
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
	PUB(p->pub.one_sided, p->os_reads);
	PUB(p->pub.one_sided_fallbacks, p->os_fallbacks);
	PUB(p->pub.retry_in_ms, retry);
	PUB(p->pub.qpn, kelp_rdma_conn_qpn(p->conn));
	PUB(p->pub.new_qps, st->new_qps);
	PUB(p->pub.stale_cqes, kelp_rdma_lcore_stats(rd->rlc)->stale_cqes);
	PUB(p->pub.unknown_cqes, kelp_rdma_lcore_stats(rd->rlc)->unknown_cqes);
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

/* ---- one-sided reads (proto/rdma_msg.h steps 7-9) ------------------------------------------- */

#define MS(x) ((uint64_t)(x) * 1000000ull)

static struct os_vol *os_vol_find(struct reader_peer *p, uint32_t vid)
{
	for (size_t i = 0; i < p->n_vols; i++)
		if (p->vols[i].vid == vid)
			return &p->vols[i];
	return NULL;
}

/* Owning lcore: @p's state of volume @vid, made on first use (an allocation once per volume and
 * peer, never per read). NULL: no memory (the read goes two-sided). */
static struct os_vol *os_vol_get(struct reader_peer *p, uint32_t vid)
{
	struct os_vol *v = os_vol_find(p, vid);

	if (v)
		return v;
	if (p->n_vols == p->cap_vols) {
		size_t cap = p->cap_vols ? 2 * p->cap_vols : 8;
		struct os_vol *nv = realloc(p->vols, cap * sizeof(*nv));

		if (!nv)
			return NULL;
		p->vols = nv;
		p->cap_vols = cap;
	}
	v = &p->vols[p->n_vols++];
	*v = (struct os_vol){.vid = vid};
	return v;
}

/* Forget what is known of @v (its index too): MAP it again. */
static void os_vol_forget(struct os_vol *v, uint8_t state, uint64_t off_until)
{
	kelp_needle_index_free(v->ni);
	*v = (struct os_vol){.vid = v->vid, .state = state, .off_until = off_until};
}

/* @p's connection failed: the export may have restarted (its rkeys are gone), so every volume is
 * MAPped again before it is READ one-sided. */
static void os_peer_reset(struct reader_peer *p)
{
	for (size_t i = 0; i < p->n_vols; i++)
		os_vol_forget(&p->vols[i], OS_NONE, 0);
}

/* Owning lcore: send the one MAP or IDX request of this lcore (into the staging area). */
static void os_ctl_submit(struct kelp_rdma_reader *rd, struct reader_peer *p, uint8_t op,
			  uint32_t vid, uint64_t offset, uint32_t len)
{
	struct kelp_rdma_read req = {
		.opcode = op,
		.fid = {.volume_id = vid},
		.offset = offset,
		.length = len,
		.addr = (uintptr_t)rd->stage,
		.rkey = rd->stage_mr->rkey,
		.user = &rd->ctl,
	};

	if (kelp_rdma_submit(p->conn, &req) == 0) {
		rd->ctl = (struct os_ctl){
			.busy = true, .op = op, .p = p, .vid = vid, .offset = offset};
		rd->in_flight++;
	}
}

/* Owning lcore: when due, ask for what @v needs next: the rest of its index, or its VOLMAP
 * (first, and every KELP_RDMA_ONESIDED_REFRESH_MS while it is read). */
static void os_vol_tend(struct kelp_rdma_reader *rd, struct reader_peer *p, struct os_vol *v,
			uint64_t now)
{
	if (rd->ctl.busy)
		return;
	if (v->state == OS_OFF) {
		if (now < v->off_until)
			return;
		v->state = OS_NONE;
	}
	if (v->have_map && v->idx_seen < v->idx_want) {
		uint64_t left = v->idx_want - v->idx_seen;

		os_ctl_submit(rd, p, KELP_RDMA_OP_IDX, v->vid, v->idx_seen,
			      left < KELP_RDMA_OS_CTL_BYTES ? (uint32_t)left
							    : KELP_RDMA_OS_CTL_BYTES);
	} else if (v->state == OS_NONE || now >= v->next_map) {
		os_ctl_submit(rd, p, KELP_RDMA_OP_MAP, v->vid, 0, KELP_RDMA_VOLMAP_SIZE);
	}
}

static int os_pend_retry(struct os_vol *v);

/* The VOLMAP in the staging area arrived for @v. */
static void os_map_done(struct os_vol *v, uint32_t written, const uint8_t *buf, uint64_t now)
{
	struct kelp_rdma_volmap m;

	if (written != KELP_RDMA_VOLMAP_SIZE || kelp_rdma_volmap_parse(buf, written, &m) < 0 ||
	    m.volume_id != v->vid) {
		os_vol_forget(v, OS_OFF, now + MS(KELP_RDMA_ONESIDED_OFF_MS));
		return;
	}
	/* another file pair (vacuum) or a shrunk .idx: the index is rebuilt from the start; the
	 * same files: only the rows it has not seen are fetched */
	if (!v->have_map || m.file_id != v->map.file_id || m.offset_bytes != v->map.offset_bytes ||
	    m.idx_len < v->idx_seen) {
		kelp_needle_index_free(v->ni);
		v->ni = NULL;
		v->idx_seen = 0;
		v->n_pend = 0;
		v->state = OS_FETCHING;
	}
	if (!v->ni &&
	    kelp_needle_index_new(m.idx_len / kelp_idx_row_size(m.offset_bytes) + 64, &v->ni) < 0) {
		os_vol_forget(v, OS_OFF, now + MS(KELP_RDMA_ONESIDED_OFF_MS));
		return;
	}
	v->map = m;
	v->have_map = true;
	v->idx_want = m.idx_len;
	v->next_map = now + MS(KELP_RDMA_ONESIDED_REFRESH_MS);
	if (os_pend_retry(v) < 0) {
		os_vol_forget(v, OS_OFF, now + MS(KELP_RDMA_ONESIDED_OFF_MS));
		return;
	}
	if (v->idx_seen >= v->idx_want)
		v->state = OS_READY;
}

/* Apply row @r to @v's index (growing it when full). @return 0 or -errno. */
static int os_apply(struct os_vol *v, const struct kelp_idx_row *r)
{
	int rc = kelp_needle_index_apply(v->ni, r);

	if (rc == -ENOSPC) {
		struct kelp_needle_index *bigger;

		rc = kelp_needle_index_clone(v->ni, 2 * kelp_needle_index_keys(v->ni) + 64,
					     &bigger);
		if (rc == 0) {
			kelp_needle_index_free(v->ni);
			v->ni = bigger;
			rc = kelp_needle_index_apply(v->ni, r);
		}
	}
	return rc;
}

/* Does @r's record lie inside @v's registered region? (Tombstones and large needles: as if it
 * did; they are never READ one-sided.) */
static bool os_row_covered(const struct os_vol *v, const struct kelp_idx_row *r)
{
	return !kelp_idx_row_is_live(r) || r->size >= KELP_NEEDLE_INDEX_SIZE_LARGE ||
	       r->offset * KELP_DAT_ALIGN + kelp_needle_record_len(v->map.version, r->size) <=
		       v->map.dat_len;
}

/*
 * Apply .idx row @r in order. A live row whose record is not inside the registered region yet
 * deletes its key from the index (it reads two-sided meanwhile: the export has the new bytes) and
 * waits in v->pend until a VOLMAP covers it (os_pend_retry); a later row of the same key replaces
 * the waiting one, so no row is applied after a newer one. @return 0 or -errno.
 */
static int os_row(struct os_vol *v, const struct kelp_idx_row *r)
{
	for (uint32_t i = 0; i < v->n_pend; i++) {
		if (v->pend[i].key == r->key) {
			v->pend[i] = v->pend[--v->n_pend];
			break; /* at most one per key */
		}
	}
	if (os_row_covered(v, r))
		return os_apply(v, r);
	if (v->n_pend < OS_PEND_MAX)
		v->pend[v->n_pend++] = *r; /* else that key stays two-sided */
	struct kelp_idx_row del = {.key = r->key, .offset = 0, .size = KELP_IDX_SIZE_TOMBSTONE};
	return os_apply(v, &del);
}

/* A new VOLMAP: apply the waiting rows its region covers now. @return 0 or -errno. */
static int os_pend_retry(struct os_vol *v)
{
	for (uint32_t i = 0; i < v->n_pend;) {
		struct kelp_idx_row r = v->pend[i];
		int rc;

		if (!os_row_covered(v, &r)) {
			i++;
			continue;
		}
		v->pend[i] = v->pend[--v->n_pend];
		rc = os_apply(v, &r);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* .idx rows from @offset arrived for @v: apply them in order (os_row). */
static void os_idx_done(struct os_vol *v, uint64_t offset, uint32_t written, const uint8_t *buf,
			uint64_t now)
{
	size_t row = kelp_idx_row_size(v->map.offset_bytes);
	uint32_t n = written / (uint32_t)row;

	if (!v->have_map || offset != v->idx_seen)
		return; /* an answer to an earlier VOLMAP's request */
	for (uint32_t i = 0; i < n; i++) {
		struct kelp_idx_row r;

		kelp_idx_parse_row(buf + (size_t)i * row, v->map.offset_bytes, &r);
		if (os_row(v, &r) < 0) {
			os_vol_forget(v, OS_OFF, now + MS(KELP_RDMA_ONESIDED_OFF_MS));
			return;
		}
		v->idx_seen += row;
	}
	if (n == 0)
		v->idx_want =
			v->idx_seen; /* nothing there after all: ask again with the next MAP */
	if (v->idx_seen >= v->idx_want)
		v->state = OS_READY;
}

/* A MAP or IDX request finished. */
static void os_ctl_done(struct kelp_rdma_reader *rd, const struct kelp_rdma_done *d)
{
	struct os_ctl c = rd->ctl;
	struct os_vol *v = os_vol_find(c.p, c.vid);
	uint64_t now = rd->hooks.clock_ns();

	rd->ctl.busy = false;
	if (!v || d->status == -ECONNRESET)
		return; /* the connection's failure resets every volume (reader_poll) */
	if (d->status != 0) {
		/* BUSY: the export is registering the volume (export_map.h): MAP again soon; not
		 * offered (NO_VOLUME), or anything else: two-sided for a while */
		os_vol_forget(v, OS_OFF,
			      now + MS(d->status == -EBUSY && c.op == KELP_RDMA_OP_MAP
					       ? KELP_RDMA_ONESIDED_REFRESH_MS
					       : KELP_RDMA_ONESIDED_OFF_MS));
		return;
	}
	if (c.op == KELP_RDMA_OP_MAP)
		os_map_done(v, d->written, rd->stage, now);
	else
		os_idx_done(v, c.offset, d->written, rd->stage, now);
	if (v->state == OS_FETCHING)
		os_vol_tend(rd, c.p, v, now); /* the next piece of the index now, not at a read */
}

/*
 * Owning lcore: read @r one-sided when @v's index knows the needle and its record can be
 * scattered as one RDMA READ: header + data size into a staging slot, the data (and whatever of
 * the fields after it fits) straight into the client's buffer, the rest up to the CRC into the
 * slot behind the header (proto/rdma_msg.h step 9). Only whole reads (offset 0): a range, a needle
 * whose data may not fit the buffer with a tail of at most KELP_RDMA_OS_TAIL_MAX, large needles
 * and anything the index does not know go two-sided. @return 0 posted; -errno: two-sided.
 */
static int os_submit(struct kelp_rdma_reader *rd, struct reader_peer *p, struct os_vol *v,
		     struct kelp_remote_read *r)
{
	uint64_t off8, at;
	uint32_t size, dlen, tlen;
	struct os_read *o;

	if (v->state != OS_READY || r->offset != 0 || !rd->n_os_free ||
	    kelp_needle_index_lookup(v->ni, r->fid.key, &off8, &size) < 0 ||
	    size >= KELP_NEEDLE_INDEX_SIZE_LARGE || size < 5)
		return -ENOENT;
	at = off8 * KELP_DAT_ALIGN;
	if (at + KELP_NEEDLE_HEADER_SIZE + size + KELP_NEEDLE_CRC_SIZE > v->map.dat_len)
		return -ERANGE;
	/* the data is at most size - 5 bytes (4 of data size, 1 of flags); give the client's
	 * buffer all of it it can take, the rest of the body and the CRC go to the slot */
	dlen = r->length < size - 4 ? r->length : size - 4;
	tlen = size - dlen;
	if (tlen > KELP_RDMA_OS_TAIL_MAX)
		return -E2BIG;
	o = &rd->os[rd->os_free[--rd->n_os_free]];
	*o = (struct os_read){.r = r,
			      .p = p,
			      .vid = v->vid,
			      .size = size,
			      .dlen = dlen,
			      .tlen = tlen,
			      .version = v->map.version,
			      .head = o->head};
	struct kelp_rdma_rread rr = {
		.remote_addr = v->map.dat_addr + at,
		.rkey = v->map.dat_rkey,
		.user = o,
	};
	rr.sge[rr.nsge++] = (struct ibv_sge){.addr = (uintptr_t)o->head,
					     .length = KELP_NEEDLE_SPLIT_HEAD,
					     .lkey = rd->stage_mr->lkey};
	if (dlen)
		rr.sge[rr.nsge++] =
			(struct ibv_sge){.addr = (uintptr_t)r->dst,
					 .length = dlen,
					 .lkey = ((struct ibv_mr *)r->session->rdma_mr)->lkey};
	rr.sge[rr.nsge++] = (struct ibv_sge){.addr = (uintptr_t)(o->head + KELP_NEEDLE_SPLIT_HEAD),
					     .length = tlen,
					     .lkey = rd->stage_mr->lkey};
	int rc = kelp_rdma_submit_rread(p->conn, &rr);
	if (rc < 0) {
		rd->os_free[rd->n_os_free++] = (uint32_t)(o - rd->os);
		return rc;
	}
	return 0;
}

static bool is_os_read(const struct kelp_rdma_reader *rd, const void *user)
{
	return rd->os && (const struct os_read *)user >= rd->os &&
	       (const struct os_read *)user < rd->os + KELP_RDMA_OS_SLOTS;
}

/*
 * kelp_rdma_reader_os_check - the outputs of a one-sided read of @r from what it READ: @head (the
 * header and data size, then @tlen bytes of the record's tail) and r->dst (@dlen bytes), against
 * what the index promised (@size). Return: 0 @r complete (data, CRC checked); -errno: not that
 * needle, or not whole and sound (kelp_needle_check_split): read it two-sided.
 */
int kelp_rdma_reader_os_check(struct kelp_remote_read *r, uint8_t version, uint32_t size,
			      const uint8_t *head, uint32_t dlen, uint32_t tlen)
{
	struct kelp_needle n;
	int rc = kelp_needle_check_split(version, r->fid.cookie, r->fid.key, size, head, r->dst,
					 dlen, head + KELP_NEEDLE_SPLIT_HEAD, tlen, true, &n);

	if (rc < 0)
		return rc;
	if (n.flags & KELP_NEEDLE_FLAG_MANIFEST)
		return -EOPNOTSUPP; /* chunk manifests as two-sided reads have them */
	r->cqe_flags = KELP_CQE_PATH_RDMA | KELP_CQE_F_CRC_CHECKED;
	if (n.flags & KELP_NEEDLE_FLAG_GZIP)
		r->cqe_flags |= KELP_CQE_F_GZIP;
	r->size = n.data_size;
	r->crc = n.stored_crc;
	r->needle_flags = n.flags;
	r->result = (int32_t)n.data_size;
	return 0;
}

/* Owning lcore: a two-sided READ of @r on @p (the one-sided read did not verify). @return 0. */
static int submit_two_sided(struct kelp_rdma_reader *rd, struct reader_peer *p,
			    struct kelp_remote_read *r)
{
	struct kelp_rdma_read req = {
		.opcode = r->opcode == KELP_OP_READ ? KELP_RDMA_OP_READ : KELP_RDMA_OP_STAT,
		.fid = r->fid,
		.offset = r->offset,
		.length = r->length,
		.addr = (uintptr_t)r->dst,
		.rkey = r->session->rdma_rkey,
		.user = r,
	};
	int rc = kelp_rdma_submit(p->conn, &req);

	if (rc == 0) {
		r->path_priv = p;
		rd->in_flight++;
	}
	return rc;
}

/* A one-sided read finished: verified -> complete; else exactly once two-sided (then HTTP). */
static void os_read_done(struct kelp_rdma_reader *rd, struct os_read *o,
			 const struct kelp_rdma_done *d)
{
	struct kelp_remote_read *r = o->r;
	struct reader_peer *p = o->p;
	int rc = d->status;

	if (rc == 0)
		rc = kelp_rdma_reader_os_check(r, o->version, o->size, o->head, o->dlen, o->tlen);
	rd->os_free[rd->n_os_free++] = (uint32_t)(o - rd->os);
	if (rc == 0) {
		p->os_reads++;
		kelp_lcore_remote_finish(rd->lc, r);
		return;
	}
	if (d->status == 0)
		p->os_fallbacks++; /* READ fine, bytes did not verify (a failed READ: HTTP below) */
	if (rc == -ESTALE) {
		struct os_vol *v = os_vol_find(p, o->vid);

		if (v)
			v->next_map = 0; /* the index is behind the volume: refresh it now */
	}
	if (d->status == 0 && submit_two_sided(rd, p, r) == 0)
		return;
	p->fallbacks++;
	r->result = d->status < 0 ? d->status : -EIO;
	kelp_lcore_remote_to_http(rd->lc, r);
}

int kelp_rdma_reader_one_sided(struct kelp_rdma_reader *rd)
{
	size_t len = KELP_RDMA_OS_CTL_BYTES +
		     (size_t)KELP_RDMA_OS_SLOTS * (KELP_NEEDLE_SPLIT_HEAD + KELP_RDMA_OS_TAIL_MAX);

	rd->stage = aligned_alloc(4096, (len + 4095) / 4096 * 4096);
	rd->os = calloc(KELP_RDMA_OS_SLOTS, sizeof(*rd->os));
	if (!rd->stage || !rd->os)
		goto nomem;
	/* remote write: MAP and IDX answers are RDMA-written into it by the export; local write:
	 * the one-sided READs' header and tail pieces */
	rd->stage_mr = kelp_rdma_reg_arena(rd->dev, rd->stage, len);
	if (!rd->stage_mr) {
		int err = errno ? errno : EIO;

		kelp_log_error(
			"kelpd: lcore %u: cannot register the one-sided reads' staging area on %s: "
			"%s; reads stay two-sided",
			rd->lc->id, rd->dev->name, strerror(err));
		free(rd->stage);
		free(rd->os);
		rd->stage = NULL;
		rd->os = NULL;
		return -err;
	}
	for (uint32_t i = 0; i < KELP_RDMA_OS_SLOTS; i++) {
		rd->os[i].head = rd->stage + KELP_RDMA_OS_CTL_BYTES +
				 (size_t)i * (KELP_NEEDLE_SPLIT_HEAD + KELP_RDMA_OS_TAIL_MAX);
		rd->os_free[rd->n_os_free++] = KELP_RDMA_OS_SLOTS - 1 - i;
	}
	rd->one_sided = true;
	return 0;
nomem:
	free(rd->stage);
	free(rd->os);
	rd->stage = NULL;
	rd->os = NULL;
	return -ENOMEM;
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
	if (rd->one_sided && r->opcode == KELP_OP_READ &&
	    kelp_rdma_conn_state(p->conn) == KELP_RDMA_UP) {
		struct os_vol *v = os_vol_get(p, r->fid.volume_id);

		if (v) {
			os_vol_tend(rd, p, v, rd->hooks.clock_ns());
			if (os_submit(rd, p, v, r) == 0) {
				r->path_priv = p;
				rd->in_flight++;
				publish_peer(rd, p);
				return 0;
			}
		}
	}
	int rc = submit_two_sided(rd, p, r); /* path_priv: for its fallback count */
	if (rc < 0)
		p->bypassed++;
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
		struct reader_peer *p;

		rd->in_flight--;
		if (rd->done[i].status == -ECONNRESET) {
			/* the export may come back as another run: its regions are gone */
			for (size_t k = 0; k < rd->n_peers; k++)
				if (rd->peers[k].conn == rd->done[i].conn)
					os_peer_reset(&rd->peers[k]);
		}
		if (rd->done[i].user == &rd->ctl) {
			os_ctl_done(rd, &rd->done[i]);
			continue;
		}
		if (is_os_read(rd, rd->done[i].user)) {
			struct os_read *o = rd->done[i].user;

			p = o->p;
			os_read_done(rd, o, &rd->done[i]);
			publish_peer(rd, p);
			continue;
		}
		p = r->path_priv;
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
	rd->hooks.clock_ns = hooks && hooks->clock_ns ? hooks->clock_ns : kelp_coarse_ns;
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
		o->one_sided = PEEK(p->one_sided);
		o->one_sided_fallbacks = PEEK(p->one_sided_fallbacks);
		o->retry_in_ms = PEEK(p->retry_in_ms);
		o->qpn = PEEK(p->qpn);
		o->new_qps = PEEK(p->new_qps);
		o->stale_cqes = PEEK(p->stale_cqes);
		o->unknown_cqes = PEEK(p->unknown_cqes);
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
			"%lu errors %lu resets %lu (new QPs %lu) sent on to HTTP %lu, straight to "
			"HTTP %lu, handshakes %lu; one-sided reads %lu, not verified (read "
			"two-sided) %lu",
			rd->lc->id, p->host, p->port, p->vs, st->requests, st->replies, st->errors,
			st->resets, st->new_qps, p->fallbacks, p->bypassed, p->connects,
			p->os_reads, p->os_fallbacks);
	}
	kelp_log_info("kelpd: lcore %u: RDMA reader CQ: stale completions dropped %lu, unknown %lu",
		      rd->lc->id, kelp_rdma_lcore_stats(rd->rlc)->stale_cqes,
		      kelp_rdma_lcore_stats(rd->rlc)->unknown_cqes);
	hs_stop(rd); /* before the peers' connections go */
	rc = kelp_rdma_lcore_destroy(rd->rlc);
	for (size_t i = 0; i < rd->n_peers; i++) {
		for (size_t k = 0; k < rd->peers[i].n_vols; k++)
			kelp_needle_index_free(rd->peers[i].vols[k].ni);
		free(rd->peers[i].vols);
	}
	if (rd->stage_mr)
		kelp_rdma_dereg(rd->dev, rd->stage_mr, "one-sided staging");
	free(rd->stage);
	free(rd->os);
	free(rd->map);
	free(rd);
	return rc;
}
