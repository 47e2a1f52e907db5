/* SPDX-License-Identifier: Apache-2.0 */
/* kelpd's HTTP reader on the lcore (http_reader.h). */
#include <errno.h>
#include <stddef.h>
#include <liburing.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "kelp_abi.h"
#include "lcore/cluster/discovery.h"
#include "lcore/cluster/http_client.h"
#include "lcore/cluster/http_fallback.h"
#include "lcore/engine.h"
#include "lcore/tcp/lcore_ring.h"
#include "lcore/tcp/http_reader.h"
#include "lcore/uring_op.h"
#include "lcore/worker/lcore.h"
#include "lcore/worker/remote_req.h"
#include "proto/jwt.h"

#define PUB(field, v)	  __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)
#define PEEK(field)	  __atomic_load_n(&(field), __ATOMIC_RELAXED)
#define PUB_ADD(field, n) PUB(field, (field) + (n))

/* A volume server as this lcore sees it: bypassed (reads go to control) until retry_at_ns after a
 * transport error; the name lives as long as the reader (requests sent to control point at it). */
struct http_server {
	char name[KELP_LOOKUP_URL_MAX];
	uint64_t retry_at_ns, backoff_ns; /* backoff_ns 0: healthy */
};

/* One read in flight: hr holds the request and the interpretation of the answer
 * (kelp_http_read_result); hr.call[0] is the HTTP call. */
struct http_slot {
	struct kelp_http_read hr;
	struct kelp_remote_read *rr;
	struct http_server *srv;
	struct kelp_http_reader *rd;
	struct http_slot *next; /* free list */
};

struct kelp_http_reader {
	struct kelp_lcore *lc;
	struct io_uring ring;
	struct kelp_lcore_ring lr; /* its eventfd: an answer wakes a parked lcore; deferred */
	bool stopping; /* the lcore stops: reads in flight end with -ECANCELED, no new ones */
	bool gone;     /* the lcore has stopped: completions are dropped */
	struct kelp_http_client *http;
	uint32_t timeout_ms; /* what http has; follows [seaweedfs] http_timeout_ms (SIGHUP) */
	char *jwt_key;	     /* NULL: no token */
	size_t jwt_key_len;
	struct http_slot *slots, *free;
	unsigned in_flight;
	struct http_server servers[KELP_HTTP_READER_SERVERS];
	unsigned n_servers;
	struct kelp_http_reader_stats pub; /* PUB/PEEK */
};

/* ---- completion -------------------------------------------------------------------------- */

static void slot_put(struct kelp_http_reader *rd, struct http_slot *s)
{
	s->next = rd->free;
	rd->free = s;
	rd->in_flight--;
	rd->lc->http_inflight = rd->in_flight;
	PUB(rd->pub.inflight, rd->in_flight);
}

/* The server failed @s's read: send it on to control (once), naming the server. */
static void send_on(struct kelp_http_reader *rd, struct http_slot *s, int err, int down)
{
	struct kelp_remote_read *rr = s->rr;
	struct http_server *srv = s->srv;

	if (down) {
		uint64_t b =
			srv->backoff_ns ? srv->backoff_ns * 2 : KELP_HTTP_FALLBACK_RETRY_MIN_NS;
		srv->backoff_ns =
			b < KELP_HTTP_FALLBACK_RETRY_MAX_NS ? b : KELP_HTTP_FALLBACK_RETRY_MAX_NS;
		srv->retry_at_ns = kelp_now_ns() + srv->backoff_ns;
	}
	rr->result = err;
	rr->cqe_flags = 0;
	rr->http_skip = srv->name;
	rr->http_skip_err = err;
	rr->http_skip_down = down;
	slot_put(rd, s);
	PUB_ADD(rd->pub.to_control, 1);
	kelp_lcore_remote_to_http(rd->lc, rr);
}

static void call_done(struct kelp_http_call *call, int err)
{
	struct http_slot *s = call->arg;
	struct kelp_http_reader *rd = s->rd;
	struct kelp_http_read *hr = &s->hr;
	struct kelp_remote_read *rr = s->rr;

	if (rd->gone) { /* the lcore is gone: nobody to complete it to */
		slot_put(rd, s);
		return;
	}
	if (err) {
		bool down;
		int e = kelp_http_call_error(err, &down);
		if (e != -ECANCELED)
			return send_on(rd, s, e, down ? err : 0);
		/* kelpd stops (kelp_http_reader_stop): as control's fallback ends its reads */
		rr->result = -ECANCELED;
		rr->cqe_flags = KELP_CQE_PATH_HTTP;
		slot_put(rd, s);
		return kelp_lcore_remote_finish(rd->lc, rr);
	}
	if (kelp_http_read_result(hr, &call->resp, call->body_len))
		return send_on(rd, s, hr->result, 0); /* 5xx, malformed: control tries the rest */
	s->srv->backoff_ns = 0;
	rr->result = hr->result;
	rr->cqe_flags = hr->result < 0 ? KELP_CQE_PATH_HTTP : hr->cqe_flags;
	rr->size = hr->size;
	rr->crc = hr->crc;
	rr->needle_flags = hr->needle_flags;
	slot_put(rd, s);
	kelp_lcore_remote_finish(rd->lc, rr);
}

/* Publish the HTTP client's counters for kelpctl stats. */
static void publish(struct kelp_http_reader *rd)
{
	struct kelp_http_client_stats h;

	kelp_http_client_get_stats(rd->http, &h);
	PUB(rd->pub.calls, h.calls);
	PUB(rd->pub.errors, h.errors);
	PUB(rd->pub.timeouts, h.timeouts);
	PUB(rd->pub.conns_opened, h.conns_opened);
	PUB(rd->pub.conns_reused, h.conns_reused);
	PUB(rd->pub.stale_retries, h.stale_retries);
	PUB(rd->pub.pipelined, h.pipelined);
	PUB(rd->pub.body_bytes_direct, h.body_bytes_direct);
	PUB(rd->pub.body_bytes_copied, h.body_bytes_copied);
	PUB(rd->pub.cut_bodies, h.cut_bodies);
}

/* The lcore's poller: completions (each runs the client's state machine, which may finish reads
 * into their sessions' CQs), then one submit of what they and the routes of this round queued. */
static int reader_poll(struct kelp_lcore *lc, void *arg)
{
	struct kelp_http_reader *rd = arg;
	unsigned n;

	(void)lc;
	/* the first round enables the ring (failed: its submits fail, the calls end with that
	 * error); the eventfd is off while the lcore polls (lcore_ring.h) */
	kelp_lcore_ring_awake(&rd->lr);
	/* nothing in flight: what an lcore without HTTP reads pays (work the ring has pending
	 * and CQEs must be taken though: the lcore does not sleep on them, lcore_ring.h) */
	if (!kelp_http_client_busy(rd->http) && !io_uring_sq_ready(&rd->ring) &&
	    !kelp_lcore_ring_pending(&rd->lr) && !io_uring_cq_ready(&rd->ring))
		return KELP_POLL_IDLE;
	/* one io_uring_enter per round at most: what is in the CQ, then this round's SQEs submitted
	 * and the deferred task work run (answers received) together, then the CQEs that made */
	n = kelp_uring_dispatch_ready(&rd->ring);
	bool submit = io_uring_sq_ready(&rd->ring) != 0;
	if (submit || kelp_lcore_ring_pending(&rd->lr)) {
		/* an error leaves the SQEs queued: the next round retries */
		io_uring_submit_and_get_events(&rd->ring);
		n += kelp_uring_dispatch_ready(&rd->ring);
	}
	if (n)
		publish(rd);
	/* only waiting: the lcore may park, the ring's eventfd wakes it (answers, the timeout
	 * sweep's timer) */
	return n || submit ? KELP_POLL_BUSY : KELP_POLL_IDLE;
}

/* ---- routing ----------------------------------------------------------------------------- */

static struct http_server *server_find(struct kelp_http_reader *rd, const char *name)
{
	for (unsigned i = 0; i < rd->n_servers; i++)
		if (strcmp(rd->servers[i].name, name) == 0)
			return &rd->servers[i];
	if (rd->n_servers == KELP_HTTP_READER_SERVERS)
		return NULL;
	struct http_server *s = &rd->servers[rd->n_servers++];
	snprintf(s->name, sizeof(s->name), "%s", name);
	return s;
}

/* The first location of @locs whose server has not failed here recently; NULL: none. */
static struct http_server *pick(struct kelp_http_reader *rd, const struct kelp_vol_locations *locs)
{
	uint64_t now = 0;

	for (uint32_t i = 0; i < locs->count; i++) {
		struct http_server *s = server_find(rd, locs->url[i]);
		if (!s)
			return NULL;
		if (!s->backoff_ns)
			return s;
		if (!now)
			now = kelp_now_ns();
		if (now >= s->retry_at_ns)
			return s; /* a probe: its answer decides */
	}
	return NULL;
}

int kelp_http_reader_route(struct kelp_http_reader *rd, struct kelp_remote_read *r)
{
	const struct kelp_config *c = &rd->lc->eng->conf;
	const struct kelp_loc_table *t;
	const struct kelp_vol_locations *locs;
	struct http_server *srv;
	struct http_slot *s;
	char fid[KELP_FID_STR_MAX];

	if (rd->stopping || r->local_failed || !rd->lc->eng->locations)
		return -ENOTCONN;
	t = kelp_loc_table_load(&rd->lc->eng->locations);
	locs = kelp_loc_table_find(t, r->fid.volume_id);
	if (!locs || locs->count == 0)
		return -ENOTCONN; /* not located yet: control looks it up */
	/* hedging goes to another replica: control's (SIGHUP may change these: relaxed loads) */
	if (locs->count > 1 && PEEK(c->seaweedfs.hedge_percent))
		return -ENOTCONN;
	if (!(srv = pick(rd, locs))) {
		PUB_ADD(rd->pub.bypassed, 1);
		return -ENOTCONN;
	}
	if (!(s = rd->free))
		return -EAGAIN;
	if (kelp_fid_format(&r->fid, fid, sizeof(fid)) < 0)
		return -EINVAL;
	uint32_t tmo = PEEK(c->seaweedfs.http_timeout_ms);
	if (tmo != rd->timeout_ms) {
		kelp_http_client_set_timeout(rd->http, tmo);
		rd->timeout_ms = tmo;
	}

	struct kelp_http_read *hr = &s->hr;
	struct kelp_http_call *call = &hr->call[0];
	hr->stat = r->opcode == KELP_OP_STAT;
	hr->fid = r->fid;
	hr->offset = hr->stat ? 0 : r->offset;
	hr->length = hr->stat ? 0 : r->length;
	hr->dst = hr->stat ? NULL : r->dst;
	hr->verify_crc = false;
	if (rd->jwt_key && kelp_jwt_sign_read(rd->jwt_key, rd->jwt_key_len, fid,
					      (int64_t)time(NULL) + KELP_HTTP_FALLBACK_JWT_TTL_S,
					      hr->token, sizeof(hr->token)) < 0)
		return -ENOTCONN;
	memset(call, 0, offsetof(struct kelp_http_call, resp));
	memcpy(call->server, srv->name, sizeof(call->server)); /* same size */
	snprintf(call->path, sizeof(call->path), "/%s", fid);
	call->head = hr->stat;
	if (!hr->stat) {
		if (!r->length || r->offset + r->length < r->offset)
			return -ENOTCONN; /* control answers -EINVAL */
		/* From the start: no Range (weed spends ~1.2x the CPU on a ranged GET,
		 * BENCHMARKS.md "task work deferred"), the body goes into the buffer up to its
		 * length and a needle much longer than the buffer is cut off (cut_oversize) instead
		 * of received whole */
		call->has_range = r->offset > 0;
		call->cut_oversize = !call->has_range;
		call->range_first = r->offset;
		call->range_last = r->offset + r->length - 1;
		call->dst = r->dst;
		call->dst_cap = r->length;
	}
	call->accept_gzip = true; /* as stored, like the local path (KELP_CQE_F_GZIP) */
	call->bearer = rd->jwt_key ? hr->token : NULL;
	call->done = call_done;
	call->arg = s;
	if (kelp_http_client_start(rd->http, call) < 0)
		return -ENOTCONN; /* control gives the read its error */
	rd->free = s->next;
	s->rr = r;
	s->srv = srv;
	rd->in_flight++;
	rd->lc->http_inflight = rd->in_flight;
	PUB(rd->pub.inflight, rd->in_flight);
	PUB_ADD(rd->pub.reads, 1);
	return 0; /* the poller submits this round's SQEs */
}

/* ---- life -------------------------------------------------------------------------------- */

int kelp_http_reader_create(struct kelp_lcore *lc, struct kelp_http_reader **out)
{
	const struct kelp_config *c = &lc->eng->conf;
	struct kelp_http_reader *rd = calloc(1, sizeof(*rd));
	int rc;

	*out = NULL;
	if (!rd)
		return -ENOMEM;
	rd->lc = lc;
	rd->lr.efd = -1;
	rd->timeout_ms = c->seaweedfs.http_timeout_ms;
	rd->slots = calloc(KELP_HTTP_READER_SLOTS, sizeof(*rd->slots));
	if (!rd->slots) {
		rc = -ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < KELP_HTTP_READER_SLOTS; i++) {
		rd->slots[i].rd = rd;
		rd->slots[i].next = rd->free;
		rd->free = &rd->slots[i];
	}
	if (c->seaweedfs.jwt_read_key && c->seaweedfs.jwt_read_key[0]) {
		if (!(rd->jwt_key = strdup(c->seaweedfs.jwt_read_key))) {
			rc = -ENOMEM;
			goto fail;
		}
		rd->jwt_key_len = strlen(rd->jwt_key);
	}
	/* task work deferred to the lcore's own io_uring_enter (lcore_ring.h) */
	rc = kelp_lcore_ring_open(lc, 256, true, &rd->ring, &rd->lr);
	if (rc) {
		kelp_log_error("kelpd: lcore %u: cannot create the HTTP reader's io_uring: %s",
			       lc->id, strerror(-rc));
		goto fail;
	}
	struct kelp_http_client_opts ho = {.timeout_ms = rd->timeout_ms,
					   .max_conns = KELP_HTTP_READER_CONNS,
					   .pipeline = KELP_HTTP_READER_PIPELINE};
	if ((rc = kelp_http_client_create(&rd->ring, &ho, &rd->http)))
		goto fail;
	if (kelp_lcore_add_poller(lc, "http-reader", reader_poll, rd) < 0) {
		kelp_log_error("kelpd: lcore %u: no poller slot for the HTTP reader", lc->id);
		rc = -ENOSPC;
		goto fail;
	}
	*out = rd;
	return 0;
fail:
	kelp_http_reader_destroy(rd);
	return rc;
}

void kelp_http_reader_stats(const struct kelp_http_reader *rd, struct kelp_http_reader_stats *s)
{
	const struct kelp_http_reader_stats *p = &rd->pub;

	s->reads += PEEK(p->reads);
	s->to_control += PEEK(p->to_control);
	s->bypassed += PEEK(p->bypassed);
	s->inflight += PEEK(p->inflight);
	s->calls += PEEK(p->calls);
	s->errors += PEEK(p->errors);
	s->timeouts += PEEK(p->timeouts);
	s->conns_opened += PEEK(p->conns_opened);
	s->conns_reused += PEEK(p->conns_reused);
	s->stale_retries += PEEK(p->stale_retries);
	s->pipelined += PEEK(p->pipelined);
	s->body_bytes_direct += PEEK(p->body_bytes_direct);
	s->body_bytes_copied += PEEK(p->body_bytes_copied);
	s->cut_bodies += PEEK(p->cut_bodies);
}

/* Wait (at most ~5 s: every call has a deadline and the cuts are queued) until the client has
 * nothing in flight. */
static void drain(struct kelp_http_reader *rd)
{
	for (int i = 0; i < 50 && kelp_http_client_busy(rd->http); i++) {
		struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 100 * 1000000};
		struct io_uring_cqe *cqe;

		io_uring_submit(&rd->ring);
		io_uring_wait_cqe_timeout(&rd->ring, &cqe, &ts);
		kelp_uring_dispatch(&rd->ring);
	}
}

void kelp_http_reader_stop(struct kelp_http_reader *rd)
{
	rd->stopping = true;
	kelp_http_client_shutdown(rd->http);
	drain(rd); /* the cut calls complete their reads with -ECANCELED */
}

void kelp_http_reader_destroy(struct kelp_http_reader *rd)
{
	if (!rd)
		return;
	rd->gone = true;
	if (rd->http) {
		if (!rd->stopping)
			kelp_http_client_shutdown(rd->http);
		rd->stopping = true;
		drain(rd);
		if (kelp_http_client_destroy(rd->http) < 0)
			kelp_log_warn(
				"kelpd: lcore %u: the HTTP reader's calls did not end in time; "
				"left as they are",
				rd->lc->id);
		else if (PEEK(rd->pub.reads))
			kelp_log_info("kelpd: lcore %u: HTTP reads %lu, sent on to control %lu, "
				      "bypassed %lu, connections %lu",
				      rd->lc->id, (unsigned long)rd->pub.reads,
				      (unsigned long)rd->pub.to_control,
				      (unsigned long)rd->pub.bypassed,
				      (unsigned long)rd->pub.conns_opened);
	}
	kelp_lcore_ring_close(&rd->lr);
	free(rd->jwt_key);
	free(rd->slots);
	free(rd);
}
