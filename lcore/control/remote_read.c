/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The non-local read path of kelpd: the HTTP fallback (lcore/cluster/http_fallback.h) on the
 * control thread, configured by [seaweedfs] (no masters = no fallback: non-local reads fail at once
 * with -EHOSTUNREACH, "volume not local, no fallback configured").
 *
 * The HTTP client and discovery queue their SQEs on the control ring itself (kelp_ctl_ring), so the
 * loop's one io_uring_submit_and_wait per iteration sends the requests of a whole batch, and the
 * loop dispatches their completions like any other (struct kelp_ctl_op):
 *   1. kelp_ctl_remote_read() starts a fallback read (its SQEs go out with the loop's next submit);
 *   2. completions run the HTTP client's state machine; a finished read goes back to its lcore
 *      with kelp_ctl_remote_done();
 *   3. at stop (after the loop), kelp_ctl_remote_fini() cancels everything and waits on the control
 *      ring itself, dispatching only this module's completions, until every read is back with its
 *      lcore (-ECANCELED); other modules' completions are dropped (nothing dispatches them after
 *      the loop any more, and their owners are being torn down).
 * Reads whose local copy failed (rr->local_failed: the lcore found a CRC mismatch or a bad record
 * in its own volume file) come here too: they are read from a replica with the CRC of whole needles
 * checked, counted (local_failed_reads), and logged once per needle (the first
 * LOGGED_NEEDLES_MAX needles; later ones are only counted), never once per request.
 *
 * Control thread only, all of it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/clock.h"
#include "core/log.h"
#include "kelp_abi.h"
#include "lcore/control/control.h"
#include "lcore/cluster/discovery.h"
#include "lcore/engine.h"
#include "lcore/cluster/http_client.h"
#include "lcore/cluster/http_fallback.h"
#include "lcore/control/remote_read.h"
#include "lcore/tcp/http_reader.h"
#include "lcore/worker/lcore.h"
#include "lcore/worker/serve_local.h"

/* Retired location tables are freed every this many reads (and at stop). */
#define RECLAIM_EVERY 1024
/* Needles whose local failure was logged (a set; when full, further ones are only counted). */
#define LOGGED_NEEDLES_MAX 4096

struct http_req {
	struct kelp_http_read hr;
	struct kelp_remote_read *rr;
	struct http_path *p;
	struct http_req *next; /* free list */
};

struct http_path {
	struct kelp_control *ctl;
	bool stopping;
	struct kelp_http_client *http;
	struct kelp_discovery *disc;
	struct kelp_http_fallback *fb;
	struct http_req *free;
	unsigned inflight;
	unsigned reads_since_reclaim;
	uint32_t hedge_ms;
	uint64_t local_failed_reads, local_failed_served;
	unsigned n_logged;
	struct logged_needle {
		uint32_t vid;
		uint64_t key; /* 0: free slot (key 0 is never a live needle's: marked with vid+1) */
	} logged[LOGGED_NEEDLES_MAX];
};

/* A needle whose local copy is bad and that no replica served is -EIO (what the local read
 * found), whatever the replicas said: not "not found" or "unreachable". */
static int32_t local_failed_result(const struct kelp_remote_read *rr, int32_t result)
{
	return rr->local_failed && result < 0 && result != -ECANCELED ? -EIO : result;
}

/* Log the local failure of @rr's needle the first time it is seen. */
static void log_local_failure(struct http_path *p, const struct kelp_remote_read *rr)
{
	uint64_t h = (rr->fid.key * 0x9e3779b97f4a7c15ull) ^ rr->fid.volume_id;
	uint64_t tag = rr->fid.key + 1; /* never 0 */

	if (p->n_logged >= LOGGED_NEEDLES_MAX * 3 / 4)
		return; /* keep probing short; the counter still counts */
	for (unsigned i = 0;; i++) {
		struct logged_needle *e = &p->logged[(h + i) % LOGGED_NEEDLES_MAX];
		if (e->key == tag && e->vid == rr->fid.volume_id)
			return; /* logged before */
		if (e->key == 0) {
			e->key = tag;
			e->vid = rr->fid.volume_id;
			p->n_logged++;
			break;
		}
	}
	char fid[KELP_FID_STR_MAX];
	if (kelp_fid_format(&rr->fid, fid, sizeof(fid)) < 0)
		fid[0] = '\0';
	kelp_log_warn(
		"kelpd: needle %s is corrupt in the local volume %u (CRC mismatch, bad record or "
		"a .dat that shrank); reading it from a replica over HTTP (logged once per needle; "
		"count in kelpctl stats: local_failed_reads)",
		fid, rr->fid.volume_id);
}

static void read_done(struct kelp_http_read *hr)
{
	struct http_req *q = hr->arg;
	struct http_path *p = q->p;
	struct kelp_remote_read *rr = q->rr;

	rr->result = local_failed_result(rr, hr->result);
	rr->cqe_flags = hr->cqe_flags;
	rr->size = hr->size;
	rr->crc = hr->crc;
	rr->needle_flags = hr->needle_flags;
	if (rr->local_failed && hr->result >= 0)
		p->local_failed_served++;
	q->next = p->free;
	p->free = q;
	p->inflight--;
	if (rr->ctl_done)
		rr->ctl_done(rr); /* the control thread's own read (a chunk of a path read) */
	else
		kelp_ctl_remote_done(p->ctl, rr);
}

/* a hedge after hedge_percent of the timeout; at least 1 ms when on */
static uint32_t hedge_ms(const struct kelp_config *c)
{
	uint32_t ms = (uint32_t)((uint64_t)c->seaweedfs.http_timeout_ms *
				 c->seaweedfs.hedge_percent / 100);
	return c->seaweedfs.hedge_percent && !ms ? 1 : ms;
}

void kelp_ctl_remote_reconfigure(struct kelp_control *ctl)
{
	struct http_path *p = kelp_ctl_remote_priv(ctl);
	const struct kelp_config *c = &kelp_ctl_engine(ctl)->conf;
	if (!p)
		return; /* local volumes only: nothing to tell */
	p->hedge_ms = hedge_ms(c);
	kelp_http_client_set_timeout(p->http, c->seaweedfs.http_timeout_ms);
	kelp_discovery_set_ttl(p->disc, c->seaweedfs.lookup_ttl_s);
	kelp_http_fallback_set_hedge(p->fb, p->hedge_ms);
}

int kelp_ctl_remote_init(struct kelp_control *ctl)
{
	struct kelp_engine *eng = kelp_ctl_engine(ctl);
	const struct kelp_config *c = &eng->conf;
	struct http_path *p;
	int rc;

	if (c->seaweedfs.master.n == 0)
		return 0; /* local volumes only */
	if (!(p = calloc(1, sizeof(*p))))
		return -ENOMEM;
	p->ctl = ctl;
	p->hedge_ms = hedge_ms(c);
	struct kelp_http_client_opts ho = {.timeout_ms = c->seaweedfs.http_timeout_ms};
	struct kelp_discovery_opts dopts = {
		.masters = (const char *const *)c->seaweedfs.master.items,
		.n_masters = (unsigned)c->seaweedfs.master.n,
		.data_center = c->seaweedfs.data_center,
		.public_url = c->seaweedfs.volume_address == KELP_VOLUME_ADDRESS_PUBLIC_URL,
		.ttl_s = c->seaweedfs.lookup_ttl_s,
		/* lcores may read the locations lock-free: the engine's epoch guards old tables */
		.epoch = eng->epoch,
		.publish_to = &eng->locations,
	};
	struct kelp_http_fallback_opts fo = {.jwt_read_key = c->seaweedfs.jwt_read_key,
					     .hedge_ms = p->hedge_ms};
	rc = kelp_http_client_create(kelp_ctl_ring(ctl), &ho, &p->http);
	if (!rc)
		rc = kelp_discovery_create(p->http, &dopts, &p->disc);
	if (!rc)
		rc = kelp_http_fallback_create(p->http, p->disc, &fo, &p->fb);
	if (rc) {
		kelp_discovery_destroy(p->disc);
		kelp_http_client_destroy(p->http);
		free(p);
		return rc;
	}
	kelp_ctl_set_remote_priv(ctl, p);
	kelp_log_info("kelpd: HTTP fallback via %zu master(s), first %s%s", c->seaweedfs.master.n,
		      c->seaweedfs.master.items[0],
		      c->seaweedfs.force_http ? "; force_http: every read goes over HTTP" : "");
	return 0;
}

int kelp_ctl_remote_read(struct kelp_control *ctl, struct kelp_remote_read *rr)
{
	struct http_path *p = kelp_ctl_remote_priv(ctl);
	struct http_req *q;
	int rc;

	if (!p)
		return -EHOSTUNREACH;
	if (p->stopping)
		return -ECANCELED;
	if ((q = p->free))
		p->free = q->next;
	else if (!(q = calloc(1, sizeof(*q))))
		return -ENOMEM;
	q->p = p;
	q->rr = rr;
	q->hr.stat = rr->opcode == KELP_OP_STAT;
	q->hr.decompressed = false;	     /* as stored, like the local path (KELP_CQE_F_GZIP) */
	q->hr.verify_crc = rr->local_failed; /* the replica must not serve the same bad bytes */
	if (rr->local_failed) {
		p->local_failed_reads++;
		log_local_failure(p, rr);
	}
	/* the lcore's HTTP reader asked one location already (lcore/tcp/http_reader.h) */
	snprintf(q->hr.skip, sizeof(q->hr.skip), "%s", rr->http_skip ? rr->http_skip : "");
	q->hr.skip_err = rr->http_skip_err;
	q->hr.skip_down = rr->http_skip_down;
	q->hr.fid = rr->fid;
	q->hr.offset = rr->offset;
	q->hr.length = rr->length;
	q->hr.dst = rr->dst;
	q->hr.done = read_done;
	q->hr.arg = q;
	rc = kelp_http_fallback_read(p->fb, &q->hr);
	if (rc < 0) {
		q->next = p->free;
		p->free = q;
		return local_failed_result(rr, rc);
	}
	p->inflight++;
	if (++p->reads_since_reclaim >= RECLAIM_EVERY) {
		p->reads_since_reclaim = 0;
		kelp_discovery_reclaim(p->disc);
	}
	return 0; /* the control loop submits the queued SQEs */
}

unsigned kelp_ctl_remote_inflight(struct kelp_control *ctl)
{
	struct http_path *p = kelp_ctl_remote_priv(ctl);
	return p ? p->inflight : 0;
}

/* Wait on the control ring (the loop has ended) until this module has nothing in flight. */
static void drain(struct http_path *p)
{
	struct io_uring *ring = kelp_ctl_ring(p->ctl);

	while (p->inflight || kelp_http_client_busy(p->http) || kelp_discovery_busy(p->disc) ||
	       kelp_http_fallback_busy(p->fb)) {
		struct io_uring_cqe *cqe;
		int rc = io_uring_submit_and_wait(ring, 1);
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
			kelp_log_error("kelpd: HTTP fallback stop: %s", strerror(-rc));
			return;
		}
		while (io_uring_peek_cqe(ring, &cqe) == 0) {
			struct kelp_ctl_op *op = io_uring_cqe_get_data(cqe);
			int res = cqe->res;
			uint32_t flags = cqe->flags;
			io_uring_cqe_seen(ring, cqe);
			if (op && (kelp_http_client_owns_op(op) || kelp_discovery_owns_op(op) ||
				   kelp_http_fallback_owns_op(op)))
				op->done(p->ctl, op, res, flags);
		}
	}
}

void kelp_ctl_remote_fini(struct kelp_control *ctl)
{
	struct http_path *p = kelp_ctl_remote_priv(ctl);

	if (!p)
		return;
	p->stopping = true;
	kelp_discovery_shutdown(p->disc);
	kelp_http_client_shutdown(p->http);
	/* every step has a linked timeout and the cancels are queued: this ends */
	drain(p);
	kelp_http_fallback_destroy(p->fb);
	kelp_discovery_destroy(p->disc);
	kelp_http_client_destroy(p->http);
	while (p->free) {
		struct http_req *q = p->free;
		p->free = q->next;
		free(q);
	}
	kelp_ctl_set_remote_priv(ctl, NULL);
	free(p);
}

json_t *kelp_ctl_remote_stats(struct kelp_control *ctl)
{
	struct http_path *p = kelp_ctl_remote_priv(ctl);
	struct kelp_http_client_stats h;
	struct kelp_discovery_stats d;
	struct kelp_http_fallback_stats f;

	if (!p)
		return NULL;
	kelp_http_client_get_stats(p->http, &h);
	kelp_discovery_get_stats(p->disc, &d);
	kelp_http_fallback_get_stats(p->fb, &f);
	/* the lcores' own HTTP reads (lcore/tcp/http_reader.h): their calls and connections count
	 * with control's */
	struct kelp_http_reader_stats l = {0};
	const struct kelp_engine *eng = kelp_ctl_engine(p->ctl);
	for (unsigned i = 0; i < eng->n_lcores; i++)
		if (eng->lcores[i].http_reader)
			kelp_http_reader_stats(eng->lcores[i].http_reader, &l);
	h.calls += l.calls;
	h.errors += l.errors;
	h.timeouts += l.timeouts;
	h.conns_opened += l.conns_opened;
	h.conns_reused += l.conns_reused;
	h.stale_retries += l.stale_retries;
	h.pipelined += l.pipelined;
	h.body_bytes_direct += l.body_bytes_direct;
	h.body_bytes_copied += l.body_bytes_copied;
	h.cut_bodies += l.cut_bodies;
	json_t *o = json_object();
#define PUT(name, v) json_object_set_new(o, name, json_integer((json_int_t)(v)))
	PUT("inflight", p->inflight);
	PUT("lookups", d.lookups);
	PUT("lookup_errors", d.lookup_errors);
	PUT("cache_hits", d.hits);
	PUT("cache_misses", d.misses);
	PUT("parked", d.parked);
	PUT("master_failovers", d.failovers);
	PUT("busy_retries", d.busy_retries);
	PUT("stale_served", d.stale_served);
	PUT("master_not_found", d.master_not_found);
	PUT("hedges", f.hedges);
	PUT("hedge_wins", f.hedge_wins);
	PUT("crc_mismatches", f.crc_mismatches);
	PUT("local_failed_reads", p->local_failed_reads);
	PUT("local_failed_served", p->local_failed_served);
	PUT("http_calls", h.calls);
	PUT("http_errors", h.errors);
	PUT("timeouts", h.timeouts);
	PUT("conns_opened", h.conns_opened);
	PUT("conns_reused", h.conns_reused);
	PUT("stale_retries", h.stale_retries);
	PUT("pipelined", h.pipelined);
	PUT("body_bytes_direct", h.body_bytes_direct);
	PUT("body_bytes_copied", h.body_bytes_copied);
	PUT("cut_bodies", h.cut_bodies);
	PUT("timed_waits", kelp_ctl_timed_waits(p->ctl));
	PUT("lcore_reads", l.reads);
	PUT("lcore_to_control", l.to_control);
	PUT("lcore_bypassed", l.bypassed);
	PUT("lcore_inflight", l.inflight);
#undef PUT
	return o;
}

json_t *kelp_ctl_remote_replicas(struct kelp_control *ctl)
{
	struct http_path *p = kelp_ctl_remote_priv(ctl);
	uint64_t now = kelp_now_ns();

	if (!p)
		return NULL;
	const struct kelp_replica_health *h = kelp_http_fallback_health(p->fb);
	json_t *arr = json_array();
	for (unsigned i = 0; i < h->n; i++) {
		const struct kelp_replica *r = &h->r[i];
		bool down = r->state == KELP_REPLICA_DOWN;
		json_array_append_new(
			arr, json_pack("{s:s, s:s, s:f, s:I, s:s, s:I, s:I, s:I, s:I}", "addr",
				       r->addr, "state", down ? "down" : "up", "since_s",
				       (double)(now - r->since_ns) / 1e9, "retry_in_ms",
				       (json_int_t)(down && r->retry_at_ns > now
							    ? (r->retry_at_ns - now) / 1000000u
							    : 0),
				       "last_error", r->last_err ? strerror(-r->last_err) : "",
				       "answers", (json_int_t)r->answers, "failures",
				       (json_int_t)r->failures, "probes", (json_int_t)r->probes,
				       "hedges_lost", (json_int_t)r->hedges_lost));
	}
	return json_pack("{s:i, s:o}", "hedge_ms", (int)p->hedge_ms, "replicas", arr);
}

int kelp_ctl_read_local(const struct kelp_engine *eng, const struct kelp_fid *fid, uint64_t offset,
			uint32_t len, uint8_t *dst, struct kelp_cqe *c)
{
	if (eng->conf.seaweedfs.force_http)
		return 0;
	const struct kelp_volume *v = kelp_volume_set_find(eng->volumes, fid->volume_id);
	if (!v)
		return 0;
	struct kelp_sqe e = {.opcode = KELP_OP_READ,
			     .volume_id = fid->volume_id,
			     .key = fid->key,
			     .cookie = fid->cookie,
			     .length = len,
			     .offset = offset};
	*c = (struct kelp_cqe){0};
	kelp_serve_local(v, &e, dst, c); /* buf_off 0: dst is the "arena" */
	return c->result == -EIO && eng->conf.seaweedfs.master.n ? -EIO : 1;
}
