/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP fallback (behaviour in http_fallback.h). */
#include "core/clock.h"
#include "core/list.h"
#include "lcore/cluster/http_fallback.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/crc32c.h"
#include "core/log.h"
#include "kelp.h"

struct kelp_http_fallback {
	struct kelp_http_client *http;
	struct kelp_discovery *d;
	char *jwt_key; /* NULL: no token */
	size_t jwt_key_len;
	uint64_t hedge_ns; /* 0: no hedging */
	unsigned timers;   /* hedge timers in the ring */
	struct kelp_http_fallback_stats st;
	struct kelp_replica_health health;
};

int kelp_http_fallback_create(struct kelp_http_client *http, struct kelp_discovery *d,
			      const struct kelp_http_fallback_opts *opts,
			      struct kelp_http_fallback **out)
{
	struct kelp_http_fallback *fb = calloc(1, sizeof(*fb));

	*out = NULL;
	if (!fb)
		return -ENOMEM;
	fb->http = http;
	fb->d = d;
	fb->hedge_ns = opts ? (uint64_t)opts->hedge_ms * 1000000u : 0;
	kelp_replica_health_init(&fb->health, KELP_HTTP_FALLBACK_RETRY_MIN_NS,
				 KELP_HTTP_FALLBACK_RETRY_MAX_NS);
	if (opts && opts->jwt_read_key && opts->jwt_read_key[0]) {
		if (!(fb->jwt_key = strdup(opts->jwt_read_key))) {
			free(fb);
			return -ENOMEM;
		}
		fb->jwt_key_len = strlen(fb->jwt_key);
	}
	*out = fb;
	return 0;
}

void kelp_http_fallback_destroy(struct kelp_http_fallback *fb)
{
	if (!fb)
		return;
	free(fb->jwt_key);
	free(fb);
}

/* The volume server's ETag is the stored CRC as 8 quoted hex digits ("5e90563f"); 0 otherwise. */
static uint32_t etag_crc(const char *etag)
{
	uint32_t crc;
	return kelp_http_etag_crc(etag, &crc) == 0 ? crc : 0;
}

bool kelp_http_read_result(struct kelp_http_read *r, const struct kelp_http_response *resp,
			   size_t body_len)
{
	int st = resp->status;

	r->cqe_flags = KELP_CQE_PATH_HTTP | (resp->gzip ? KELP_CQE_F_GZIP : 0);
	r->needle_flags = resp->gzip ? 0x01 : 0;
	r->crc = etag_crc(resp->etag);
	r->size = 0;
	if (st >= 500) {
		r->result = -EIO;
		return true;
	}
	switch (st) {
	case 200:
		if (r->stat) {
			if (resp->content_length < 0)
				goto malformed;
			r->size = (uint64_t)resp->content_length;
			r->result = 0;
			return false;
		}
		/* the whole needle (no Range sent, or weed ignored it): fine when we wanted its
		 * start; a body cut off past the buffer (cut_oversize) still says its length */
		r->size = resp->content_length >= 0 ? (uint64_t)resp->content_length
						    : resp->body_total;
		if (r->offset > 0 && r->offset < r->size)
			goto malformed; /* we kept only the first length bytes, not those at offset
					 */
		if (r->offset > r->size) {
			r->result = -ERANGE;
			return false;
		}
		r->result = r->offset == r->size ? 0 : (int32_t)body_len;
		break;
	case 206:
		if (r->stat || !resp->has_content_range || resp->range_first != r->offset ||
		    resp->truncated || body_len != resp->range_last - resp->range_first + 1)
			goto malformed;
		r->size =
			resp->range_total >= 0 ? (uint64_t)resp->range_total : resp->range_last + 1;
		r->result = (int32_t)body_len;
		break;
	case 416:
		if (!resp->has_content_range || resp->range_total < 0)
			goto malformed;
		r->size = (uint64_t)resp->range_total;
		r->result = r->offset == r->size ? 0 : -ERANGE;
		return false;
	case 404:
		r->result = -ENOENT;
		return false;
	case 401:
	case 403:
		r->result = -EPERM; /* JWT missing or refused (not -EACCES: that is kelpd's own
				       policy) */
		return false;
	case 400:
		r->result = -EINVAL;
		return false;
	default:
		goto malformed;
	}
	if (r->offset + (uint64_t)r->result < r->size)
		r->cqe_flags |= KELP_CQE_F_TRUNCATED;
	return false;
malformed:
	r->result = -EBADMSG;
	return true;
}

/* ---- replica health: reports and the log lines of state changes ---------------------------- */

static const char *err_text(int err)
{
	return err == -ETIMEDOUT ? "no answer in time" : strerror(-err);
}

static void health_answered(struct kelp_http_fallback *fb, const char *addr)
{
	const struct kelp_replica *r = kelp_replica_health_find(&fb->health, addr);
	uint64_t now = kelp_now_ns(), since = r ? r->since_ns : now;

	if (kelp_replica_health_answered(&fb->health, addr, now) == KELP_REPLICA_CAME_BACK)
		kelp_log("kelpd: volume server %s is back (down for %.1f s); reads go to it again",
			 addr, (double)(now - since) / 1e9);
}

static void health_failed(struct kelp_http_fallback *fb, const char *addr, int err, bool hedge_lost)
{
	uint64_t now = kelp_now_ns();

	if (kelp_replica_health_failed(&fb->health, addr, err, hedge_lost, now) !=
	    KELP_REPLICA_WENT_DOWN)
		return;
	const struct kelp_replica *r = kelp_replica_health_find(&fb->health, addr);
	kelp_log_warn("kelpd: volume server %s is down (%s); its reads go to other replicas first, "
		      "retried in %.1f s",
		      addr,
		      hedge_lost ? "slower than another replica, no answer yet" : err_text(err),
		      r ? (double)r->backoff_ns / 1e9 : 0.0);
}

/* A transport error of a call to a volume server: does it say the server is down? */
static bool server_down_err(int err)
{
	switch (err) {
	case -ECONNREFUSED:
	case -ECONNRESET:
	case -ECONNABORTED:
	case -ETIMEDOUT:
	case -EHOSTUNREACH:
	case -ENETUNREACH:
	case -EHOSTDOWN:
	case -EPIPE:
		return true;
	default:
		return false;
	}
}

int kelp_http_call_error(int err, bool *down)
{
	*down = false;
	switch (err) {
	case -EPROTO:
	case -EMSGSIZE:
		return -EBADMSG; /* malformed response */
	case -ECANCELED:
		return -ECANCELED;
	default:
		*down = server_down_err(err);
		return -EHOSTUNREACH; /* refused, reset, timed out, unreachable */
	}
}

/* ---- one read: up to two calls (the second one a hedge) and a hedge timer ------------------- */

/* A hedge timer: owned by the ring from arming to its completion; @r NULL once detached. */
struct hedge_timer {
	struct kelp_ctl_op op;
	struct __kernel_timespec ts; /* read by the kernel at submit */
	struct kelp_http_fallback *fb;
	struct kelp_http_read *r;
};

static void finish(struct kelp_http_read *r, int result)
{
	r->result = result;
	if (result < 0)
		r->cqe_flags = KELP_CQE_PATH_HTTP;
	if (r->in_start) {
		r->sync_done = true; /* kelp_http_fallback_read() returns it */
		return;
	}
	r->done(r);
}

/* Complete @r once its result is decided and nothing of it is in flight any more. */
static void maybe_finish(struct kelp_http_read *r)
{
	if (!r->decided || r->pending)
		return;
	if (r->winner == 1 && r->result > 0)
		memcpy(r->dst, r->hbuf, (size_t)r->result); /* the loser (call 0) has settled */
	free(r->hbuf);
	r->hbuf = NULL;
	finish(r, r->result);
}

/* The result of @r is @result (from call @winner, -1: none); stop everything else. */
static void decide(struct kelp_http_read *r, int winner, int result)
{
	struct kelp_http_fallback *fb = r->fb;

	r->decided = true;
	r->winner = winner;
	r->result = result;
	if (result < 0)
		r->cqe_flags = KELP_CQE_PATH_HTTP;
	r->pending++; /* a cancel may settle a call at once: @r must not finish inside the loop */
	for (int i = 0; i < 2; i++)
		if (r->busy[i])
			kelp_http_client_cancel(fb->http, &r->call[i]);
	r->pending--;
	if (r->timer) {
		/* detached: its completion frees it (timer_done); @r may finish without waiting */
		struct io_uring *ring = kelp_http_client_ring(fb->http);
		struct io_uring_sqe *sqe = ring ? kelp_uring_sqe(ring) : NULL;
		if (sqe) { /* else it fires by itself within hedge_ms */
			io_uring_prep_timeout_remove(sqe, (uint64_t)(uintptr_t)&r->timer->op, 0);
			io_uring_sqe_set_data(sqe, NULL);
		}
		r->timer->r = NULL;
		r->timer = NULL;
	}
	maybe_finish(r);
}

static void call_done(struct kelp_http_call *call, int err);
static void timer_done(struct kelp_control *ctl, struct kelp_ctl_op *op, int res, uint32_t flags);

/* Arm the hedge timer of @r when hedging is on and there is a location left to hedge to. */
static void arm_hedge(struct kelp_http_read *r)
{
	struct kelp_http_fallback *fb = r->fb;
	struct io_uring *ring = kelp_http_client_ring(fb->http);
	struct io_uring_sqe *sqe;
	struct hedge_timer *t;

	if (!fb->hedge_ns || r->hedged || r->timer || r->next_loc >= r->locs.count || !ring)
		return;
	if (!(t = malloc(sizeof(*t))))
		return; /* no hedge: the read goes on as without hedging */
	if (!(sqe = kelp_uring_sqe(ring))) {
		free(t);
		return;
	}
	t->ts.tv_sec = (long long)(fb->hedge_ns / 1000000000u);
	t->ts.tv_nsec = (long long)(fb->hedge_ns % 1000000000u);
	t->op.done = timer_done;
	t->fb = fb;
	t->r = r;
	io_uring_prep_timeout(sqe, &t->ts, 0, 0);
	io_uring_sqe_set_data(sqe, &t->op);
	r->timer = t;
	fb->timers++;
}

/* Call @slot asks the next location; when none is left and the other call is not running
 * either, the read fails with the last error. */
static void try_next(struct kelp_http_read *r, int slot)
{
	struct kelp_http_fallback *fb = r->fb;
	struct kelp_http_call *c = &r->call[slot];
	char fid[KELP_FID_STR_MAX];

	if (kelp_fid_format(&r->fid, fid, sizeof(fid)) < 0)
		return decide(r, -1, -EINVAL);
	while (r->next_loc < r->locs.count) {
		memset(c, 0, sizeof(*c));
		memcpy(c->server, r->locs.url[r->next_loc++], sizeof(c->server)); /* same size */
		snprintf(c->path, sizeof(c->path), "/%s", fid);
		c->head = r->stat;
		if (!r->stat) {
			c->has_range = true;
			c->range_first = r->offset;
			c->range_last = r->offset + r->length - 1;
			c->dst = slot ? r->hbuf : r->dst;
			c->dst_cap = r->length;
		}
		c->accept_gzip = !r->decompressed;
		c->bearer = fb->jwt_key ? r->token : NULL;
		c->done = call_done;
		c->arg = r;
		int rc = kelp_http_client_start(fb->http, c);
		if (rc == 0) {
			r->busy[slot] = true;
			r->pending++;
			arm_hedge(r);
			return;
		}
		r->last_err = rc == -EAFNOSUPPORT || rc == -EINVAL ? -EHOSTUNREACH : rc;
	}
	if (r->busy[!slot])
		return; /* the other call may still answer */
	/* every location failed: the master may know better next time */
	kelp_discovery_invalidate(fb->d, r->fid.volume_id);
	decide(r, -1, r->last_err ? r->last_err : -EHOSTUNREACH);
}

bool kelp_http_read_crc_ok(struct kelp_http_read *r, const uint8_t *buf)
{
	if (!r->verify_crc || r->stat || r->offset != 0 || r->result <= 0 || !r->crc ||
	    (r->cqe_flags & KELP_CQE_F_TRUNCATED))
		return true;
	uint32_t crc = kelp_crc32c(0, buf, (size_t)r->result);
	if (crc != r->crc && kelp_crc32c_legacy(crc) != r->crc)
		return false;
	r->cqe_flags |= KELP_CQE_F_CRC_CHECKED;
	return true;
}

static void call_done(struct kelp_http_call *call, int err)
{
	struct kelp_http_read *r = call->arg;
	struct kelp_http_fallback *fb = r->fb;
	int slot = call == &r->call[1];

	r->busy[slot] = false;
	r->pending--;
	if (r->decided) {
		/* the loser: it had not answered when the other call's answer won */
		if (err == 0)
			health_answered(fb, call->server);
		else if (err == -ECANCELED && r->winner == 1 && slot == 0 && r->hedged)
			health_failed(fb, call->server, -ETIMEDOUT, true);
		return maybe_finish(r);
	}
	if (err) {
		bool down;
		r->last_err = kelp_http_call_error(err, &down);
		if (r->last_err == -ECANCELED)
			return decide(r, -1, -ECANCELED); /* the client is shutting down */
		if (r->last_err == -EBADMSG)
			health_answered(fb, call->server); /* it talks, if badly */
		else if (down)
			health_failed(fb, call->server, err, false);
		return try_next(r, slot);
	}
	health_answered(fb, call->server);
	memcpy(r->server, call->server, sizeof(r->server)); /* same size; both inside r */
	if (kelp_http_read_result(r, &call->resp, call->body_len)) {
		r->last_err = r->result; /* 5xx, malformed: another replica may do better */
		return try_next(r, slot);
	}
	if (!kelp_http_read_crc_ok(r, slot ? r->hbuf : r->dst)) {
		fb->st.crc_mismatches++;
		r->last_err = -EIO;
		return try_next(r, slot);
	}
	if (slot == 1)
		fb->st.hedge_wins++;
	decide(r, slot, r->result);
}

/* No answer yet after hedge_ms: ask the next location too (once). */
static void timer_done(struct kelp_control *ctl, struct kelp_ctl_op *op, int res, uint32_t flags)
{
	struct hedge_timer *t = kelp_container_of(op, struct hedge_timer, op);
	struct kelp_http_read *r = t->r;

	t->fb->timers--;
	free(t);
	if (!r)
		return; /* its read has ended (removed or fired too late) */
	r->timer = NULL;
	if (r->decided || r->hedged || !r->busy[0] || r->busy[1] || r->next_loc >= r->locs.count)
		return;
	if (!r->stat && !(r->hbuf = malloc(r->length)))
		return; /* no hedge; the first call goes on */
	r->hedged = true;
	r->fb->st.hedges++;
	try_next(r, 1);
}

static void start_reads(struct kelp_http_read *r, const struct kelp_vol_locations *locs)
{
	r->locs = *locs;
	if (r->skip[0]) {
		/* asked already by the lcore: report it, leave it out, keep its error */
		if (r->skip_down)
			health_failed(r->fb, r->skip, r->skip_down, false);
		r->last_err = r->skip_err;
		unsigned n = 0;
		for (unsigned i = 0; i < r->locs.count; i++)
			if (strcmp(r->locs.url[i], r->skip) != 0 && n++ != i)
				memcpy(r->locs.url[n - 1], r->locs.url[i], sizeof(r->locs.url[0]));
		r->locs.count = n;
	}
	kelp_replica_health_order(&r->fb->health, r->locs.url, r->locs.count, kelp_now_ns());
	try_next(r, 0);
}

static void located(struct kelp_locate_wait *w, int err, const struct kelp_vol_locations *locs)
{
	struct kelp_http_read *r = kelp_container_of(w, struct kelp_http_read, wait);
	if (err)
		return finish(r, err);
	start_reads(r, locs);
}

int kelp_http_fallback_read(struct kelp_http_fallback *fb, struct kelp_http_read *r)
{
	const struct kelp_vol_locations *locs = NULL;
	char fid[KELP_FID_STR_MAX];
	int rc;

	if (!r->stat && (r->length == 0 || !r->dst || r->offset + r->length < r->offset))
		return -EINVAL;
	if (kelp_fid_format(&r->fid, fid, sizeof(fid)) < 0)
		return -EINVAL;
	r->fb = fb;
	r->result = 0;
	r->cqe_flags = KELP_CQE_PATH_HTTP;
	r->size = r->crc = r->needle_flags = 0;
	r->server[0] = '\0';
	r->next_loc = 0;
	r->last_err = 0;
	r->sync_done = false;
	r->hbuf = NULL;
	r->busy[0] = r->busy[1] = false;
	r->hedged = r->decided = false;
	r->timer = NULL;
	r->winner = -1;
	r->pending = 0;
	r->wait.done = located;
	if (fb->jwt_key) {
		rc = kelp_jwt_sign_read(fb->jwt_key, fb->jwt_key_len, fid,
					(int64_t)time(NULL) + KELP_HTTP_FALLBACK_JWT_TTL_S,
					r->token, sizeof(r->token));
		if (rc < 0)
			return rc;
	}
	rc = kelp_discovery_locate(fb->d, r->fid.volume_id, &r->wait, &locs);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return 0; /* parked until the lookup ends */
	r->in_start = true;
	start_reads(r, locs);
	r->in_start = false;
	return r->sync_done ? (r->result < 0 ? r->result : -EIO) : 0;
}

const struct kelp_replica_health *kelp_http_fallback_health(const struct kelp_http_fallback *fb)
{
	return &fb->health;
}

void kelp_http_fallback_get_stats(const struct kelp_http_fallback *fb,
				  struct kelp_http_fallback_stats *s)
{
	*s = fb->st;
}

bool kelp_http_fallback_owns_op(const struct kelp_ctl_op *op)
{
	return op->done == timer_done;
}

unsigned kelp_http_fallback_busy(const struct kelp_http_fallback *fb)
{
	return fb->timers;
}

void kelp_http_fallback_set_hedge(struct kelp_http_fallback *fb, uint32_t hedge_ms)
{
	fb->hedge_ns = (uint64_t)hedge_ms * 1000000u;
}
