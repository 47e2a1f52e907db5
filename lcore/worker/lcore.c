/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The worker lcore loop and its built-in pollers (lcore.h). Everything here runs on the lcore's
 * own thread except kelp_lcore_init/start/send/join/fini (control thread).
 */
#include <errno.h>
#include <numa.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/epoch.h"
#include "core/fault.h"
#include "core/histogram.h"
#include "core/list.h"
#include "core/log.h"
#include "lcore/engine.h"
#include "lcore/path_table.h"
#include "lcore/worker/lcore.h"
#include "lcore/worker/lsession.h"
#include "lcore/worker/serve_local.h"
#include "lcore/worker/sqe_check.h"
#include "lcore/worker/topology.h"

/* ---- remote-read pool (lcore only after init) ---------------------------------------------- */

static struct kelp_remote_read *remote_get(struct kelp_lcore *lc)
{
	struct kelp_remote_read *r = lc->remote_free;
	if (r)
		lc->remote_free = r->next;
	return r;
}

static void remote_put(struct kelp_lcore *lc, struct kelp_remote_read *r)
{
	r->next = lc->remote_free;
	lc->remote_free = r;
}

/* Send to the control thread; its eventfd is written once per poll round (kelp_lcore_poll_once).
 * The ring holds every message that can be in flight (KELP_TO_CTL_MAX_MSGS, lcore.h), so it cannot
 * be full; -EAGAIN is still returned rather than trusting that. */
static int send_to_ctl(struct kelp_lcore *lc, const struct kelp_msg *m)
{
	int n = kelp_ring_enqueue_burst(&lc->to_ctl.prod, m, 1);
	if (n != 1)
		return -EAGAIN;
	lc->to_ctl_pending++;
	return 0;
}

/* ---- counting ---------------------------------------------------------------------------- */

static enum kelp_err_kind err_kind(int32_t result)
{
	switch (result) {
	case -ENOENT:
		return KELP_ERR_NOENT;
	case -EIO:
		return KELP_ERR_IO;
	case -ERANGE:
		return KELP_ERR_RANGE;
	case -EHOSTUNREACH:
		return KELP_ERR_UNREACHABLE;
	case -EINVAL:
	case -EFAULT:
	case -E2BIG:
		return KELP_ERR_BAD_SQE;
	case -EAGAIN:
		return KELP_ERR_BUSY;
	default:
		return KELP_ERR_OTHER;
	}
}

static void count_completion(struct kelp_lcore *lc, struct lcore_session *s,
			     const struct kelp_cqe *c)
{
	lc->round_cqes++; /* for the idle policy of lcore_thread() */
	if (c->result < 0) {
		KELP_STAT_ADD(lc->stats.errors[err_kind(c->result)], 1);
		KELP_STAT_ADD(s->stats.errors, 1);
		return;
	}
	KELP_STAT_ADD(lc->stats.by_path[c->flags & KELP_CQE_PATH_MASK], 1);
	if (c->result > 0) {
		KELP_STAT_ADD(lc->stats.bytes, (uint64_t)c->result);
		KELP_STAT_ADD(s->stats.bytes, (uint64_t)c->result);
	}
}

/* ---- sessions ------------------------------------------------------------------------------ */

/* Stop serving @s for good: -EPROTO (the client broke the ring protocol) or -EFAULT (its segment
 * lost a page). The client sees BROKEN and @err in the segment header (shm/ABI.md). */
static void break_session(struct kelp_lcore *lc, struct lcore_session *s, int32_t err)
{
	s->broken = 1;
	lcore_session_set_state(s, KELP_SEG_BROKEN, err);
	KELP_STAT_ADD(lc->stats.sessions_broken, 1);
}

/* Start @r over HTTP on this lcore (lcore/tcp/http_reader.h), once per request; a bad local copy
 * goes to the control thread (CRC check, replicas). Return whether it was started here. */
static bool http_here(struct kelp_lcore *lc, struct kelp_remote_read *r)
{
	if (!lc->http_route || r->http_tried || r->local_failed)
		return false;
	r->http_tried = true;
	if (lc->http_route(lc->http_reader, r) != 0)
		return false;
	lc->round_http++; /* a hand-off too: see KELP_HANDOFF_PARK_NS */
	return true;
}

/* Hand a non-local READ/STAT to the control thread. @local_failed: the local copy failed (-EIO),
 * read a replica over HTTP (never RDMA: the peer may be this kelpd, with the same bad copy).
 * Return 1 when @c was completed here (no request object or ring room), 0 when the request left. */
static int route_remote(struct kelp_lcore *lc, struct lcore_session *s, const struct kelp_sqe *e,
			struct kelp_cqe *c, bool local_failed)
{
	struct kelp_remote_read *r = remote_get(lc);
	if (!r) {
		c->result = -EAGAIN;
		return 1;
	}
	*r = (struct kelp_remote_read){
		.opcode = e->opcode,
		.fid = {.volume_id = e->volume_id, .key = e->key, .cookie = e->cookie},
		.offset = e->offset,
		.length = e->length,
		.dst = e->opcode == KELP_OP_READ ? s->arena + e->buf_off : NULL,
		.session = s,
		.user_data = e->user_data,
		.lcore_id = lc->id,
		.start_ns = kelp_now_ns(), /* non-local only: the local path times whole bursts */
		.rdma_only = e->flags & KELP_SQE_F_RDMA_ONLY,
		.tcp_only = e->flags & KELP_SQE_F_TCP_ONLY,
		.local_failed = local_failed,
	};
	/* local -> RDMA -> TCP -> HTTP (this lcore's, then control's); a bad local copy goes to
	 * control's HTTP (the peer may be us) */
	int rc = -ENOTCONN; /* no peer path */
	bool peers = !lc->eng->conf.seaweedfs.force_http && !local_failed;
	if (lc->rdma_route && peers && !r->tcp_only) {
		rc = lc->rdma_route(lc->rdma_reader, r);
		if (rc == 0) {
			s->remote_inflight++;
			return 0;
		}
	}
	if (lc->tcp_route && peers && !r->rdma_only) {
		r->tcp_tried = true;
		rc = lc->tcp_route(lc->tcp_reader, r);
		if (rc == 0) {
			s->remote_inflight++;
			return 0;
		}
	}
	if (r->rdma_only || r->tcp_only) { /* the client asked for an error rather than HTTP */
		remote_put(lc, r);
		c->result = rc;
		return 1;
	}
	if (http_here(lc, r)) {
		s->remote_inflight++;
		return 0;
	}
	struct kelp_msg m = {.type = KELP_MSG_REMOTE_READ, .lcore_id = lc->id, .remote = r};
	if (send_to_ctl(lc, &m) != 0) {
		remote_put(lc, r);
		c->result = -EAGAIN;
		return 1;
	}
	s->remote_inflight++;
	return 0;
}

/* Hand a path request (KELP_OP_PATH_*, validated) to the control thread's filer client. Return 1
 * when @c was completed here (no request object or ring room), 0 when the request left. */
static int route_path(struct kelp_lcore *lc, struct lcore_session *s, const struct kelp_sqe *e,
		      struct kelp_cqe *c)
{
	struct kelp_remote_read *r = remote_get(lc);
	if (!r) {
		c->result = -EAGAIN;
		return 1;
	}
	*r = (struct kelp_remote_read){
		.opcode = e->opcode,
		.path = s->arena + e->path_off,
		.path_len = e->path_len,
		.after_len = e->after_len,
		.offset = e->offset,
		.length = e->length,
		.dst = s->arena + e->buf_off,
		.session = s,
		.user_data = e->user_data,
		.lcore_id = lc->id,
	};
	struct kelp_msg m = {.type = KELP_MSG_REMOTE_READ, .lcore_id = lc->id, .remote = r};
	if (send_to_ctl(lc, &m) != 0) {
		remote_put(lc, r);
		c->result = -EAGAIN;
		return 1;
	}
	s->remote_inflight++;
	return 0;
}

/* Pieces of one path read the lcore serves at most (a stack array; more go to control). */
#define PATH_LCORE_PIECES 16u

/* Serve a validated KELP_OP_PATH_READ here when the control thread published the file's plan
 * (lcore/path_table.h: cached, plain chunks, within the TTL) and every chunk it needs is in a
 * local volume, read intact and not stored gzip. Return 1 when @c was filled, 0 when the request
 * must go to the control thread (which serves it whole again: bytes written here are
 * overwritten). No allocation, lock or syscall: a plan found stays valid until this round's
 * quiescent point (kelp_lcore_poll_once). */
static int serve_path_here(struct kelp_lcore *lc, struct lcore_session *s, const struct kelp_sqe *e,
			   struct kelp_cqe *c)
{
	struct kelp_path_table *t = __atomic_load_n(&lc->eng->path_table, __ATOMIC_ACQUIRE);
	if (!t || lc->eng->conf.seaweedfs.force_http)
		return 0;
	uint64_t now = kelp_now_ns();
	const struct kelp_path_plan *p =
		kelp_path_table_find(t, s->arena + e->path_off, e->path_len, now);
	if (!p)
		return 0;
	struct kelp_chunk_piece pieces[PATH_LCORE_PIECES];
	uint32_t np = 0;
	int64_t n = kelp_chunk_plan(p->vis, p->nvis, p->size, e->offset, e->length, pieces,
				    PATH_LCORE_PIECES, &np);
	if (n < 0)
		return 0;
	for (uint32_t i = 0; i < np; i++) {
		const struct kelp_chunk_piece *cp = &pieces[i];
		if (cp->chunk == KELP_CHUNK_HOLE) { /* zeros, as the filer's GET gives */
			memset(s->arena + e->buf_off + cp->dst_off, 0, cp->len);
			continue;
		}
		if (cp->chunk >= p->nfids)
			return 0;
		const struct kelp_fid *fid = &p->fids[cp->chunk];
		const struct kelp_volume *v =
			kelp_volume_set_find(lc->eng->volumes, fid->volume_id);
		if (!v)
			return 0; /* not here: control reads it over the network */
		struct kelp_sqe pe = {.opcode = KELP_OP_READ,
				      .volume_id = fid->volume_id,
				      .key = fid->key,
				      .cookie = fid->cookie,
				      .offset = cp->chunk_off,
				      .length = cp->len,
				      .buf_off = e->buf_off + cp->dst_off};
		struct kelp_cqe pc;
		kelp_serve_local(v, &pe, s->arena, &pc);
		/* short, failed, or stored gzip (those bytes are compressed): control decides */
		if (pc.result != (int32_t)cp->len || (pc.flags & KELP_CQE_F_GZIP))
			return 0;
	}
	c->result = (int32_t)n;
	c->size = p->size;
	c->flags = KELP_CQE_F_PATH;
	kelp_path_table_touch(t, p, now); /* its directory is being read: refresh it (filer.c) */
	KELP_STAT_ADD(lc->stats.path_lcore, 1);
	return 1;
}

/* Serve one validated-or-not SQE copy. Return 1 when @c (a CQ slot) was filled. */
static int serve_one(struct kelp_lcore *lc, struct lcore_session *s, const struct kelp_sqe *e,
		     struct kelp_cqe *c)
{
	c->user_data = e->user_data;
	c->flags = 0;
	c->size = 0;
	c->crc = 0;
	c->needle_flags = 0;
	c->result = kelp_sqe_check(e, s->arena_size, s->max_io);
	if (c->result != 0) {
		if (kelp_op_is_path(e->opcode)) /* libkelp finds its path slot by this flag */
			c->flags = KELP_CQE_F_PATH;
		return 1;
	}
	switch (e->opcode) {
	case KELP_OP_NOP:
		KELP_STAT_ADD(lc->stats.nops, 1);
		return 1;
	case KELP_OP_READ:
		KELP_STAT_ADD(lc->stats.reads, 1);
		break;
	case KELP_OP_PATH_STAT:
	case KELP_OP_PATH_LIST:
	case KELP_OP_PATH_READ:
	case KELP_OP_PATH_READLINK:
		KELP_STAT_ADD(lc->stats.path_requests, 1);
		if (e->opcode == KELP_OP_PATH_READ && serve_path_here(lc, s, e, c))
			return 1;
		if (route_path(lc, s, e, c) == 0)
			return 0;
		c->flags = KELP_CQE_F_PATH;
		return 1;
	default:
		KELP_STAT_ADD(lc->stats.stats, 1);
		break;
	}
	const struct kelp_volume *v = kelp_volume_set_find(lc->eng->volumes, e->volume_id);
	/* [seaweedfs] force_http: every read over HTTP; KELP_SQE_F_RDMA_ONLY / _TCP_ONLY: never
	 * local */
	if (!v || lc->eng->conf.seaweedfs.force_http ||
	    (e->flags & (KELP_SQE_F_RDMA_ONLY | KELP_SQE_F_TCP_ONLY)))
		return route_remote(lc, s, e, c, false);
	kelp_serve_local(v, e, s->arena, c);
	/* a bad local copy (CRC mismatch, bad record, a .dat that shrank under us): a replica may
	 * have it intact */
	if (__builtin_expect(c->result == -EIO, 0) && lc->eng->conf.seaweedfs.master.n)
		return route_remote(lc, s, e, c, true);
	return 1;
}

/* @n local reads of a burst that started at @start were just published. */
static inline void record_local(struct kelp_lcore *lc, uint64_t start, uint32_t n)
{
	if (n && start) /* start 0: this burst is not sampled */
		kelp_hist_record_n_shared(&lc->latency[KELP_CQE_PATH_LOCAL], kelp_now_ns() - start,
					  n);
}

/* Wake @s's client if it sleeps, and forget a held wake-up. Owning lcore. */
static void wake_now(struct lcore_session *s)
{
	s->unwoken = 0;
	lcore_session_wake_client(s);
}

/* @n HTTP completions of @s were just published at @now: wake its client (if it sleeps) now,
 * or hold the wake-up while more than half of its non-local reads are still out and the first
 * held completion is younger than KELP_WAKE_HOLD_NS (lcore.h). A client that does not sleep
 * (KELP_CQ_WANT_WAKE clear) has seen them already: nothing is held for it. */
static void wake_or_hold(struct kelp_lcore *lc, struct lcore_session *s, unsigned n, uint64_t now)
{
	/* no fence needed for this look: a client seen awake goes to wake_now, whose
	 * lcore_session_wake_client does the Dekker properly; one seen asleep is woken later by it
	 */
	bool sleeps = (__atomic_load_n(&s->cq.ctl->flags, __ATOMIC_RELAXED) & KELP_CQ_WANT_WAKE);
	if (!sleeps || !s->remote_inflight ||
	    2 * (s->unwoken + n) >= s->unwoken + n + s->remote_inflight)
		return wake_now(s);
	if (!s->unwoken)
		s->unwoken_since = now;
	s->unwoken += n;
	uint64_t due = s->unwoken_since + KELP_WAKE_HOLD_NS;
	if (now >= due)
		return wake_now(s);
	if (!lc->wakes_held++ || due < lc->wake_due_ns)
		lc->wake_due_ns = due;
}

/* Wake the clients whose held wake-up is due at @now; recount those still held. Owning lcore. */
static void wake_held(struct kelp_lcore *lc, uint64_t now)
{
	lc->wakes_held = 0;
	for (unsigned i = 0; i < lc->n_sessions; i++) {
		struct lcore_session *s = lc->sessions[i];
		if (!s->unwoken)
			continue;
		uint64_t due = s->unwoken_since + KELP_WAKE_HOLD_NS;
		if (now >= due)
			wake_now(s);
		else if (!lc->wakes_held++ || due < lc->wake_due_ns)
			lc->wake_due_ns = due;
	}
}

/* Write the CQEs of finished remote reads that waited for CQ room. Return how many. */
static unsigned flush_cq_waiting(struct kelp_lcore *lc, struct lcore_session *s)
{
	uint64_t now = kelp_now_ns(); /* remote completions only: one clock read per flush */
	int room = kelp_ring_prod_free(&s->cq, 1);
	if (room < 0) {
		break_session(lc, s, -EPROTO);
		return 0;
	}
	unsigned n = 0, http = 0;
	while (s->cq_waiting && n < (unsigned)room) {
		struct kelp_remote_read *r = KELP_FIFO_POP(s->cq_waiting, s->cq_waiting_tail);
		struct kelp_cqe *c = kelp_ring_prod_slot(&s->cq, n++);
		*c = (struct kelp_cqe){.user_data = r->user_data,
				       .result = r->result,
				       .flags = r->cqe_flags,
				       .size = r->size,
				       .crc = r->crc,
				       .needle_flags = r->needle_flags};
		count_completion(lc, s, c);
		if (c->result >= 0)
			kelp_hist_record_n_shared(&lc->latency[c->flags & KELP_CQE_PATH_MASK],
						  now - r->start_ns, 1);
		http += (c->flags & KELP_CQE_PATH_MASK) == KELP_CQE_PATH_HTTP;
		remote_put(lc, r);
	}
	if (n) {
		kelp_ring_prod_publish(&s->cq, n);
		lc->round_remote += n; /* see handoff_only in kelp_lcore_poll_once() */
		if (http == n)
			wake_or_hold(lc, s, n, now);
		else /* TCP and RDMA answers come within tens of us: not measured held */
			wake_now(s);
	}
	return n;
}

int kelp_lcore_serve_session(struct kelp_lcore *lc, struct lcore_session *s)
{
	KELP_ASSERT_OWNER(&lc->owner);
	if (s->broken)
		return KELP_POLL_IDLE;
	if (kelp_fault_hit(&s->faulted)) {
		/* a page of the segment was lost (hole punched by the client) and replaced by one
		 * only we see (core/fault.h): nothing we write reaches the client any more */
		break_session(lc, s, -EFAULT);
		return KELP_POLL_BUSY;
	}
	int busy = KELP_POLL_IDLE;
	if (s->cq_waiting && flush_cq_waiting(lc, s) > 0)
		busy = KELP_POLL_BUSY;
	if (s->broken || s->cq_waiting)
		return busy; /* CQ still full: leave the SQ alone until the client consumes */
	int avail = kelp_ring_cons_avail(&s->sq);
	if (avail <= 0) {
		if (avail < 0)
			break_session(lc, s, -EPROTO);
		return busy;
	}
	uint32_t want = (uint32_t)avail < KELP_SQE_BURST ? (uint32_t)avail : KELP_SQE_BURST;
	int room = kelp_ring_prod_free(&s->cq, want);
	if (room <= 0) {
		if (room < 0)
			break_session(lc, s, -EPROTO);
		return busy;
	}
	uint32_t n = (uint32_t)room < want ? (uint32_t)room : want;

	/* Copy first: the client may rewrite a slot while we look at it (no TOCTOU on fields). */
	struct kelp_sqe batch[KELP_SQE_BURST];
	for (uint32_t i = 0; i < n; i++)
		memcpy(&batch[i], kelp_ring_cons_slot(&s->sq, i), sizeof(batch[i]));

	/* Reads are memory-bound (index slot, record header: cache and TLB misses): start loading
	 * every local needle of the burst first, so those misses overlap instead of queueing. */
	const uint8_t *rec[KELP_SQE_BURST + 1];
	bool any_local = false;
	for (uint32_t i = 0; i < n; i++) {
		rec[i] = NULL;
		if (batch[i].opcode != KELP_OP_READ && batch[i].opcode != KELP_OP_STAT)
			continue;
		const struct kelp_volume *v =
			kelp_volume_set_find(lc->eng->volumes, batch[i].volume_id);
		if (v) {
			rec[i] = kelp_volume_prefetch(v, batch[i].key);
			any_local = true;
		}
	}
	rec[n] = NULL;

	/* Serve in order; stop early once this poll moved KELP_SESSION_POLL_BYTES, so one session's
	 * large reads cannot hold up the other sessions of this lcore. Only what was served is
	 * released from the SQ; the copies of the rest are dropped and read again next round. */
	uint32_t served = 0, released = 0, produced = 0, local_done = 0;
	uint64_t bytes = 0, unpublished_bytes = 0;
	/* Latency of the local path: every CQE of a publish waited from the start of the burst to
	 * that publish, so one clock read per publish (every KELP_PUBLISH_CQES) times them all.
	 * Sampled: one burst with local reads in lat_sample is timed (a clock read costs ~90 ns in
	 * a VM, as much as a small read); none for a burst without local reads (NOPs, remote). */
	uint64_t burst_start = 0;
	if (any_local && lc->lat_countdown-- == 0) {
		lc->lat_countdown = lc->lat_sample - 1;
		burst_start = kelp_now_ns();
	}
	while (served < n && bytes < KELP_SESSION_POLL_BYTES) {
		struct kelp_cqe *c = kelp_ring_prod_slot(&s->cq, produced);
		/* one request ahead: the data of the next read streams in while this one is copied
		 */
		if (rec[served + 1] && batch[served + 1].opcode == KELP_OP_READ) {
			uint32_t ahead = batch[served + 1].length < KELP_PREFETCH_AHEAD
						 ? batch[served + 1].length
						 : KELP_PREFETCH_AHEAD;
			for (uint32_t off = 128; off < ahead + 32; off += 64)
				__builtin_prefetch(rec[served + 1] + off);
		}
		if (serve_one(lc, s, &batch[served], c)) {
			count_completion(lc, s, c);
			local_done += c->result >= 0 &&
				      (c->flags & KELP_CQE_PATH_MASK) == KELP_CQE_PATH_LOCAL;
			produced++;
			if (c->result > 0) {
				bytes += (uint64_t)c->result;
				unpublished_bytes += (uint64_t)c->result;
			}
		}
		served++;
		/* hand back what is done instead of holding it for the whole burst, so the client
		 * reaps and refills those slots while we serve the rest (without this a depth-16
		 * client and the lcore take turns: one burst, then one refill, never both at once)
		 */
		if (produced >= KELP_PUBLISH_CQES ||
		    (unpublished_bytes >= KELP_PUBLISH_BYTES && produced)) {
			if (kelp_fault_hit(&s->faulted))
				break; /* never publish a completion whose bytes the client lost */
			kelp_ring_cons_release(&s->sq, served - released);
			released = served;
			kelp_ring_prod_publish(&s->cq, produced);
			wake_now(s); /* a held wake-up goes with it */
			record_local(lc, burst_start, local_done);
			local_done = 0;
			produced = 0;
			unpublished_bytes = 0;
		}
	}
	if (kelp_fault_hit(&s->faulted)) {
		break_session(lc, s, -EFAULT); /* see the top of this function */
		return KELP_POLL_BUSY;
	}
	/* SQ slots before completions: a client that reaps a completion may queue its next request
	 * at once, and with sq_entries requests in flight it needs the slot this one held. */
	kelp_ring_cons_release(&s->sq, served - released);
	if (produced) {
		kelp_ring_prod_publish(&s->cq, produced);
		wake_now(s);
		record_local(lc, burst_start, local_done);
	}
	KELP_STAT_ADD(lc->stats.requests, served);
	KELP_STAT_ADD(s->stats.requests, served);
	return KELP_POLL_BUSY;
}

static int poll_sessions(struct kelp_lcore *lc, void *arg)
{
	int busy = KELP_POLL_IDLE;
	for (unsigned i = 0; i < lc->n_sessions; i++)
		busy |= kelp_lcore_serve_session(lc, lc->sessions[i]);
	return busy;
}

/* ---- control messages ---------------------------------------------------------------------- */

static void session_gone(struct kelp_lcore *lc, struct lcore_session *s)
{
	struct kelp_msg m = {.type = KELP_MSG_SESSION_GONE, .lcore_id = lc->id, .session = s};
	if (send_to_ctl(lc, &m) != 0)
		kelp_msg_ring_full(lc->id,
				   "lcore -> control"); /* ruled out by KELP_TO_CTL_MAX_MSGS */
}

void kelp_msg_ring_full(uint32_t lcore_id, const char *dir)
{
	kelp_log_error(
		"kelpd: BUG: the %s message ring of lcore %u is full, which its sizing rules out "
		"(KELP_MSG_RING_ENTRIES, lcore/worker/lcore.h); aborting",
		dir, lcore_id);
	abort();
}

static void remove_from(struct lcore_session **list, unsigned *n, struct lcore_session *s)
{
	for (unsigned i = 0; i < *n; i++) {
		if (list[i] == s) {
			list[i] = list[--*n];
			return;
		}
	}
}

static void remote_done(struct kelp_lcore *lc, struct kelp_remote_read *r)
{
	struct lcore_session *s = r->session;
	s->remote_inflight--;
	if (s->closing || s->broken) {
		remote_put(lc, r); /* nobody to tell */
		if (s->closing && s->remote_inflight == 0) {
			remove_from(lc->draining, &lc->n_draining, s);
			session_gone(lc, s);
		}
		return;
	}
	/* written at the end of the round (flush_round_done), with the round's other completions */
	KELP_FIFO_PUSH(s->cq_waiting, s->cq_waiting_tail, r);
	lc->round_done++;
}

/*
 * Publish the non-local reads finished in this round: one CQ publish and at most one client
 * wake-up per session per round. Not one per read: a TCP reply batch (or an RDMA CQ poll, a batch
 * of HTTP answers) finishes many reads in one poller call, and a client woken at the first one
 * preempts the lcore on a CPU they share before the rest are written; it then takes one
 * completion per wake-up and sends its next requests one by one, and the batches never form
 * again (measured at depth 16 over TCP: ~1 read per client wake-up, 1.1 ms per read).
 */
static void flush_round_done(struct kelp_lcore *lc)
{
	lc->round_done = 0;
	for (unsigned i = 0; i < lc->n_sessions; i++) {
		struct lcore_session *s = lc->sessions[i];

		if (s->cq_waiting && !s->broken)
			flush_cq_waiting(lc, s);
	}
}

void kelp_lcore_remote_finish(struct kelp_lcore *lc, struct kelp_remote_read *r)
{
	KELP_ASSERT_OWNER(&lc->owner);
	remote_done(lc, r);
}

void kelp_lcore_remote_to_http(struct kelp_lcore *lc, struct kelp_remote_read *r)
{
	KELP_ASSERT_OWNER(&lc->owner);
	struct kelp_msg m = {.type = KELP_MSG_REMOTE_READ, .lcore_id = lc->id, .remote = r};
	r->path_priv = NULL;
	/* failed over RDMA: TCP next, once (r->tcp_tried), unless the client wants RDMA only */
	if (!r->tcp_tried && lc->tcp_route && !r->rdma_only && !r->local_failed) {
		int32_t err = r->result;
		r->tcp_tried = true;
		if (lc->tcp_route(lc->tcp_reader, r) == 0)
			return;
		r->result = err;
	}
	if (r->rdma_only || r->tcp_only) { /* no fallback: complete with the path's error */
		if (r->result >= 0)
			r->result = -EIO;
		r->cqe_flags = 0;
		remote_done(lc, r);
		return;
	}
	if (http_here(lc, r))
		return;
	if (send_to_ctl(lc, &m) != 0) {
		r->result = -EAGAIN;
		r->cqe_flags = 0;
		remote_done(lc, r);
	}
}

static void handle_msg(struct kelp_lcore *lc, const struct kelp_msg *m)
{
	switch (m->type) {
	case KELP_MSG_SESSION_ADD:
		m->session->owner = &lc->owner; /* for lcore_session_set_state's check */
		if (lc->n_sessions < KELP_LCORE_MAX_SESSIONS)
			lc->sessions[lc->n_sessions++] = m->session;
		else
			session_gone(
				lc, m->session); /* control checks the limit; never silently leak */
		break;
	case KELP_MSG_SESSION_DEL: {
		struct lcore_session *s = m->session;
		/* quiescent point: the session poller is not running, nothing of s is in use */
		remove_from(lc->sessions, &lc->n_sessions, s);
		s->closing = 1;
		struct kelp_remote_read *r;
		while ((r = KELP_FIFO_POP(s->cq_waiting, s->cq_waiting_tail)))
			remote_put(lc, r);
		if (s->remote_inflight == 0)
			session_gone(lc, s);
		else
			lc->draining[lc->n_draining++] = s;
		break;
	}
	case KELP_MSG_REMOTE_DONE:
		remote_done(lc, m->remote);
		break;
	case KELP_MSG_STOP:
		lc->stop = 1;
		if (lc->http_stop) /* its reads in flight end with -ECANCELED, as control's did */
			lc->http_stop(lc->http_reader);
		break;
	default:
		break;
	}
}

static int poll_messages(struct kelp_lcore *lc, void *arg)
{
	struct kelp_msg msgs[KELP_SQE_BURST];
	int n = kelp_ring_dequeue_burst(&lc->to_lcore.cons, msgs, KELP_SQE_BURST);
	for (int i = 0; i < n; i++)
		handle_msg(lc, &msgs[i]);
	return n > 0 ? KELP_POLL_BUSY : KELP_POLL_IDLE;
}

/* ---- the loop ---------------------------------------------------------------------------- */

int kelp_lcore_poll_once(struct kelp_lcore *lc)
{
	KELP_ASSERT_OWNER(&lc->owner);
	int busy = KELP_POLL_IDLE;
	lc->round_cqes = 0;
	lc->round_http = 0;
	lc->round_handoff = 0;
	lc->round_remote = 0;
	for (unsigned i = 0; i < lc->n_pollers; i++)
		busy |= lc->pollers[i].fn(lc, lc->pollers[i].arg);
	if (lc->round_done)
		flush_round_done(lc);
	if (lc->wakes_held) { /* held wake-ups (KELP_WAKE_HOLD_NS) that are due */
		uint64_t now = kelp_now_ns();
		if (now >= lc->wake_due_ns)
			wake_held(lc, now);
	}
	/* handed work off (to control, to the HTTP reader, to a TCP ring) or completed non-local
	 * reads only: see KELP_HANDOFF_PARK_NS */
	if (busy)
		lc->handoff_only = (lc->to_ctl_pending || lc->round_http || lc->round_handoff ||
				    lc->round_remote) &&
				   lc->round_cqes == lc->round_remote;
	if (lc->to_ctl_pending) {
		lc->to_ctl_pending = 0;
		/* slow path only (remote reads, session release): the local path never gets here.
		 * Dekker with the control loop: our ring tail store before this flag load, its flag
		 * store before its ring check. A control thread that is not asleep drains our ring
		 * after its current batch anyway, and one asleep with a timeout
		 * (KELP_CTL_ASLEEP_TIMED) after its next wake-up: no eventfd write (a syscall plus
		 * a wakeup) then.
		 */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (!lc->ctl_asleep ||
		    __atomic_load_n(lc->ctl_asleep, __ATOMIC_RELAXED) == KELP_CTL_ASLEEP) {
			uint64_t one = 1;
			if (lc->ctl_wake_fd >= 0 && write(lc->ctl_wake_fd, &one, sizeof(one)) < 0)
				lc->to_ctl_pending = 1; /* retry next round */
		}
	}
	KELP_STAT_ADD(lc->stats.polls, 1);
	if (busy)
		KELP_STAT_ADD(lc->stats.busy_polls, 1);
	/* the round is over: no pointer into a volume is held any more (engine.h: ownership),
	 * unless a poller holds the epoch (epoch_holds) */
	if (lc->epoch && !lc->epoch_holds)
		kelp_epoch_quiescent(lc->epoch, lc->epoch_id);
	return busy;
}

static void set_need_wakeup(struct kelp_lcore *lc, int on)
{
	for (unsigned i = 0; i < lc->n_sessions; i++) {
		uint32_t *flags = &lc->sessions[i]->sq.ctl->flags;
		if (on)
			__atomic_fetch_or(flags, KELP_SQ_NEED_WAKEUP, __ATOMIC_RELAXED);
		else
			__atomic_fetch_and(flags, ~KELP_SQ_NEED_WAKEUP, __ATOMIC_RELAXED);
	}
}

/* Anything to do? Used after raising NEED_WAKEUP (the re-check of the Dekker handshake). */
static int work_pending(struct kelp_lcore *lc)
{
	if (kelp_ring_cons_avail(&lc->to_lcore.cons) != 0)
		return 1;
	for (unsigned i = 0; i < lc->n_sessions; i++) {
		struct lcore_session *s = lc->sessions[i];
		if (!s->broken && (s->cq_waiting || kelp_ring_cons_avail(&s->sq) != 0))
			return 1;
	}
	return 0;
}

/* epoll tag of the lcore's own wake_fd; doorbells carry 0 (any wake-up means: poll everything) */
#define WAKE_FD_TAG 1u

/* @ts as an epoll_wait timeout: whole ms, rounded up; NULL: -1 (no timeout). */
static int ts_to_ms(const struct timespec *ts)
{
	if (!ts)
		return -1;
	uint64_t ms = (uint64_t)ts->tv_sec * 1000u + ((uint64_t)ts->tv_nsec + 999999u) / 1000000u;
	return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* Park until control writes our wake_fd, a client rings its session's doorbell (shm/ABI.md 5), or
 * a park hook's fd fires (an RDMA CQ's completion event) or its timeout passes. */
static void park(struct kelp_lcore *lc)
{
	set_need_wakeup(lc, 1);
	__atomic_store_n(&lc->parked, 1, __ATOMIC_RELAXED); /* for kelp_lcore_kick(), same Dekker */
	/* Dekker with kelp_submit(): our flag stores before our ring re-check, its tail store
	 * before its flag load. Either we see its entries now, or it sees the flag and rings. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	int timeout_ms = -1, hooks_busy = KELP_POLL_IDLE;
	for (unsigned i = 0; i < lc->n_park_hooks && !hooks_busy; i++)
		hooks_busy |= lc->park_hooks[i].fn(lc, lc->park_hooks[i].arg, &timeout_ms);
	/* a held client wake-up bounds the sleep: it is due at wake_due_ns */
	struct timespec ts, *tsp = NULL;
	if (timeout_ms >= 0) {
		ts = (struct timespec){timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000};
		tsp = &ts;
	}
	if (lc->wakes_held) {
		uint64_t now = kelp_now_ns();
		if (now >= lc->wake_due_ns)
			wake_held(lc, now);
		uint64_t left = lc->wakes_held && lc->wake_due_ns > now ? lc->wake_due_ns - now : 0;
		if (left &&
		    (!tsp || (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec > left)) {
			ts = (struct timespec){(time_t)(left / 1000000000u),
					       (long)(left % 1000000000u)};
			tsp = &ts;
		}
	}
	if (!hooks_busy && !work_pending(lc)) {
		/* a sleeping lcore must not hold up reclamation, unless a send still reads a
		 * mapping (epoch_holds: then the send's completion wakes it) */
		int offline = lc->epoch && !lc->epoch_holds;
		KELP_STAT_ADD(lc->stats.parks, 1);
		if (offline)
			kelp_epoch_offline(lc->epoch, lc->epoch_id);
		struct epoll_event ev[8];
		int n;
		/* epoll_pwait2 (Linux 5.11) for a timeout finer than 1 ms; before it, epoll_wait
		 * with the timeout rounded up to whole ms */
		while ((n = lc->no_pwait2 ? epoll_wait(lc->epoll_fd, ev, 8, ts_to_ms(tsp))
					  : epoll_pwait2(lc->epoll_fd, ev, 8, tsp, NULL)) < 0) {
			if (errno == ENOSYS && !lc->no_pwait2)
				lc->no_pwait2 = 1;
			else if (errno != EINTR)
				break;
		}
		for (int i = 0; i < n; i++) {
			uint64_t v; /* only we hold wake_fd, and it is non-blocking: this cannot
				       block */
			if (ev[i].data.u32 == WAKE_FD_TAG)
				(void)!read(lc->wake_fd, &v, sizeof(v));
		}
		if (offline)
			kelp_epoch_online(lc->epoch, lc->epoch_id);
	}
	__atomic_store_n(&lc->parked, 0, __ATOMIC_RELAXED);
	set_need_wakeup(lc, 0);
}

uint64_t kelp_lcore_park_adapt(uint64_t spin_ns, uint64_t base_ns, uint64_t parked_ns)
{
	if (parked_ns < spin_ns)
		return spin_ns < base_ns * (KELP_IDLE_SPIN_MAX_FACTOR / 2)
			       ? spin_ns * 2
			       : base_ns * KELP_IDLE_SPIN_MAX_FACTOR;
	return spin_ns / 2 > base_ns ? spin_ns / 2 : base_ns;
}

static void *lcore_thread(void *arg)
{
	struct kelp_lcore *lc = arg;
	char name[16];
	snprintf(name, sizeof(name), "kelp-lcore%u", lc->id);
	pthread_setname_np(pthread_self(), name);
	kelp_owner_claim(&lc->owner);
	uint64_t idle_since = 0;
	uint64_t spin_ns = lc->idle_park_ns; /* adaptive: kelp_lcore_park_adapt() */
	while (!lc->stop) {
		if (kelp_lcore_poll_once(lc)) {
			idle_since = 0;
			continue;
		}
		/* On a CPU this lcore shares (a VM's vCPU, Soft-RoCE's packet processing, the
		 * client), spinning holds back the very work it waits for; one yield per idle poll
		 * lets it run. */
		if (lc->idle_yield)
			sched_yield();
		if (lc->idle_park_ns == 0)
			continue;
		uint64_t now = kelp_now_ns(); /* vDSO, no syscall; idle rounds only */
		/* reads on the HTTP reader: its ring's eventfd wakes us for their answers, and a
		 * client's doorbell for new requests; spinning meanwhile only takes CPU from the
		 * volume server and the client (measured: BENCHMARKS.md, HTTP reads on the lcore)
		 */
		bool waits = lc->http_inflight || lc->tcp_inflight; /* for answers from afar */
		uint64_t park_after = (lc->handoff_only || waits) && spin_ns > KELP_HANDOFF_PARK_NS
					      ? KELP_HANDOFF_PARK_NS
					      : spin_ns;
		if (idle_since == 0) {
			idle_since = now;
		} else if (now - idle_since >= park_after) {
			park(lc);
			/* a park for HTTP answers says nothing about how fast clients come back */
			if (park_after == spin_ns && !waits)
				spin_ns = kelp_lcore_park_adapt(spin_ns, lc->idle_park_ns,
								kelp_now_ns() - now);
			idle_since = 0;
		}
	}
	kelp_owner_release(&lc->owner); /* control may touch our sessions after the join */
	return NULL;
}

/* ---- setup (control thread) ---------------------------------------------------------------- */

int kelp_lcore_init(struct kelp_lcore *lc, struct kelp_engine *eng, uint32_t id, int cpu)
{
	memset(lc, 0, sizeof(*lc));
	lc->id = id;
	lc->cpu = cpu;
	lc->eng = eng;
	lc->ctl_wake_fd = -1;
	lc->epoll_fd = -1;
	lc->numa_node = kelp_topo_cpu_node(cpu);
	lc->idle_park_ns = (uint64_t)eng->conf.engine.idle_park_us * 1000;
	lc->idle_yield = eng->conf.engine.idle_yield;
	/* non-blocking: a write never blocks control, even if the counter were ever saturated */
	lc->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (lc->wake_fd < 0)
		return -errno;
	lc->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (lc->epoll_fd < 0)
		return -errno;
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = WAKE_FD_TAG};
	if (epoll_ctl(lc->epoll_fd, EPOLL_CTL_ADD, lc->wake_fd, &ev) != 0)
		return -errno;
	int rc = kelp_msg_chan_init(&lc->to_lcore, lc->numa_node);
	if (rc == 0)
		rc = kelp_msg_chan_init(&lc->to_ctl, lc->numa_node);
	if (rc != 0)
		return rc;
	if (eng->epoch) {
		lc->epoch_id = kelp_epoch_register(eng->epoch);
		if (lc->epoch_id < 0)
			return lc->epoch_id;
		lc->epoch = eng->epoch;
	}
	lc->remote_pool = calloc(KELP_REMOTE_POOL, sizeof(*lc->remote_pool));
	lc->latency = calloc(KELP_PATHS, sizeof(*lc->latency));
	if (!lc->remote_pool || !lc->latency)
		return -ENOMEM;
	for (unsigned i = 0; i < KELP_PATHS; i++)
		kelp_hist_init(&lc->latency[i]);
	lc->lat_sample = KELP_LATENCY_SAMPLE;
	for (unsigned i = 0; i < KELP_REMOTE_POOL; i++)
		remote_put(lc, &lc->remote_pool[i]);
	kelp_lcore_add_poller(lc, "messages", poll_messages, NULL);
	kelp_lcore_add_poller(lc, "sessions", poll_sessions, NULL);
	return 0;
}

int kelp_lcore_watch_doorbell(struct kelp_lcore *lc, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u32 = 0};
	return epoll_ctl(lc->epoll_fd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : -errno;
}

void kelp_lcore_unwatch_doorbell(struct kelp_lcore *lc, int fd)
{
	epoll_ctl(lc->epoll_fd, EPOLL_CTL_DEL, fd, NULL); /* ENOENT: never watched, nothing to do */
}

int kelp_lcore_add_park_hook(struct kelp_lcore *lc, kelp_park_fn fn, void *arg)
{
	if (lc->n_park_hooks >= KELP_LCORE_MAX_PARK_HOOKS)
		return -ENOSPC;
	lc->park_hooks[lc->n_park_hooks].fn = fn;
	lc->park_hooks[lc->n_park_hooks++].arg = arg;
	return 0;
}

void kelp_lcore_del_park_hook(struct kelp_lcore *lc, kelp_park_fn fn, void *arg)
{
	for (unsigned i = 0; i < lc->n_park_hooks; i++) {
		if (lc->park_hooks[i].fn != fn || lc->park_hooks[i].arg != arg)
			continue;
		for (lc->n_park_hooks--; i < lc->n_park_hooks; i++)
			lc->park_hooks[i] = lc->park_hooks[i + 1];
		return;
	}
}

void kelp_lcore_wake(struct kelp_lcore *lc)
{
	uint64_t one = 1;
	/* wake_fd is non-blocking: EAGAIN means a wake-up is pending anyway */
	(void)!write(lc->wake_fd, &one, sizeof(one));
}

int kelp_lcore_add_poller(struct kelp_lcore *lc, const char *name, kelp_poll_fn fn, void *arg)
{
	if (lc->n_pollers >= KELP_LCORE_MAX_POLLERS)
		return -ENOSPC;
	lc->pollers[lc->n_pollers++] = (struct kelp_poller){.name = name, .fn = fn, .arg = arg};
	return 0;
}

static void *lcore_start_routine(void *arg)
{
	struct kelp_lcore *lc = arg;
	int rc = kelp_topo_bind_thread(lc->cpu);
	if (rc != 0)
		kelp_log_warn("kelpd: lcore %u: cannot pin to CPU %d: %s (running unpinned)",
			      lc->id, lc->cpu, strerror(-rc));
	if (lc->numa_node >= 0 && numa_available() >= 0)
		numa_set_preferred(lc->numa_node);
	return lcore_thread(lc);
}

int kelp_lcore_start(struct kelp_lcore *lc)
{
	int rc = pthread_create(&lc->thread, NULL, lcore_start_routine, lc);
	if (rc != 0)
		return -rc;
	lc->started = 1;
	return 0;
}

int kelp_lcore_send(struct kelp_lcore *lc, const struct kelp_msg *m)
{
	KELP_ASSERT_OWNER(&lc->eng->ctl_owner);
	if (kelp_ring_enqueue_burst(&lc->to_lcore.prod, m, 1) != 1)
		return -EAGAIN;
	/* control messages are rare: always wake, a running lcore just finds the counter later */
	kelp_lcore_wake(lc);
	return 0;
}

int kelp_lcore_post(struct kelp_lcore *lc, const struct kelp_msg *m)
{
	KELP_ASSERT_OWNER(&lc->eng->ctl_owner);
	return kelp_ring_enqueue_burst(&lc->to_lcore.prod, m, 1) == 1 ? 0 : -EAGAIN;
}

void kelp_lcore_kick(struct kelp_lcore *lc)
{
	KELP_ASSERT_OWNER(&lc->eng->ctl_owner);
	/* Dekker with park(): our ring tail stores (kelp_lcore_post) before this flag load, its
	 * flag store before its ring re-check. Either it sees the messages, or we see it parked. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&lc->parked, __ATOMIC_RELAXED))
		return; /* polling: it finds the messages in its next round */
	kelp_lcore_wake(lc);
}

void kelp_lcore_join(struct kelp_lcore *lc)
{
	if (lc->started)
		pthread_join(lc->thread, NULL);
	lc->started = 0;
}

void kelp_lcore_fini(struct kelp_lcore *lc)
{
	kelp_msg_chan_fini(&lc->to_lcore);
	kelp_msg_chan_fini(&lc->to_ctl);
	free(lc->remote_pool);
	lc->remote_pool = NULL;
	free(lc->latency);
	lc->latency = NULL;
	if (lc->epoll_fd >= 0)
		close(lc->epoll_fd);
	if (lc->wake_fd >= 0)
		close(lc->wake_fd);
	lc->wake_fd = lc->epoll_fd = -1;
}
