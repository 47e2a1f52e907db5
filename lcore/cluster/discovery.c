/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Volume discovery (behaviour in discovery.h).
 *
 * A volume's cache entry (struct vol) lives until destroy. While a lookup for it is in flight, a
 * struct lookup (HTTP call, body buffer, Retry-After timer) hangs off it and the requests that
 * asked meanwhile wait in its wait list. One lookup round asks each master at most once, starting
 * with the one that answered last.
 */
#include "core/clock.h"
#include "core/config.h" /* KELP_DEFAULT_LOOKUP_TTL_S */
#include "core/hostport.h"
#include "core/list.h"
#include "lcore/cluster/discovery.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/log.h"
#include "lcore/cluster/replica_health.h"

#define VOL_BUCKETS 256
/* While no master answers, stale locations are served for this long before asking again. */
#define STALE_RETRY_NS (10ull * 1000000000u)

struct lookup;

struct vol {
	struct vol *hnext;
	uint32_t vid;
	bool have;	     /* locs hold the last good answer (maybe expired or invalidated) */
	bool forgotten;	     /* a master answered 404 for it since (its locations kept, logged) */
	uint64_t expires_ns; /* fresh until */
	struct kelp_vol_locations locs;
	struct kelp_locate_wait *wait_head, *wait_tail;
	struct lookup *lk; /* non-NULL while looking up */
};

struct lookup {
	struct kelp_discovery *d;
	struct vol *v;
	unsigned master; /* index being asked */
	unsigned tried;	 /* masters asked in this round */
	unsigned busy_retries;
	bool timer_armed;
	struct kelp_ctl_op timer_op;
	struct __kernel_timespec ts;
	struct kelp_http_call call;
	uint8_t body[16384];
};

struct kelp_discovery {
	struct kelp_http_client *http;
	struct io_uring *ring;
	char masters[KELP_DISCOVERY_MAX_MASTERS][KELP_LOOKUP_URL_MAX];
	unsigned n_masters;
	unsigned cur_master;
	char dc[KELP_LOOKUP_DC_MAX];
	bool public_url; /* opts.public_url */
	uint64_t ttl_ns;
	struct kelp_epoch *epoch;
	struct vol *buckets[VOL_BUCKETS];
	struct kelp_loc_table *own_table; /* the slot when opts.publish_to is NULL */
	struct kelp_loc_table **table;	  /* the published slot: atomic accesses */
	uint64_t version;
	unsigned busy;
	bool shut;
	struct kelp_discovery_stats st;
	struct kelp_replica_health
		masters_health;		   /* for the log lines of masters going and coming */
	struct kelp_discovery_hooks hooks; /* opts.hooks, or zero */
};

/* The clock of TTLs and retries: kelp_now_ns, or a test's (opts.hooks). */
static uint64_t now_ns(const struct kelp_discovery *d)
{
	return d->hooks.clock_ns ? d->hooks.clock_ns() : kelp_now_ns();
}

int kelp_discovery_create(struct kelp_http_client *http, const struct kelp_discovery_opts *opts,
			  struct kelp_discovery **out)
{
	struct kelp_discovery *d;

	*out = NULL;
	if (!opts->n_masters || opts->n_masters > KELP_DISCOVERY_MAX_MASTERS) {
		fprintf(stderr,
			"kelp: [seaweedfs] master: give 1 to %d masters as host:port,host:port\n",
			KELP_DISCOVERY_MAX_MASTERS);
		return -EINVAL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	for (unsigned i = 0; i < opts->n_masters; i++) {
		if (kelp_http_resolve(opts->masters[i], d->masters[i], sizeof(d->masters[i]))) {
			fprintf(stderr,
				"kelp: [seaweedfs] master \"%s\" is not host:port or does not "
				"resolve\n",
				opts->masters[i]);
			free(d);
			return -EINVAL;
		}
	}
	d->http = http;
	d->ring = kelp_http_client_ring(http);
	d->n_masters = opts->n_masters;
	snprintf(d->dc, sizeof(d->dc), "%s", opts->data_center ? opts->data_center : "");
	d->public_url = opts->public_url;
	kelp_discovery_set_ttl(d, opts->ttl_s);
	d->epoch = opts->epoch;
	d->table = opts->publish_to ? opts->publish_to : &d->own_table;
	if (opts->hooks)
		d->hooks = *opts->hooks;
	kelp_replica_health_init(&d->masters_health, 1, 1); /* only its state is used */
	*out = d;
	return 0;
}

static struct vol *vol_get(struct kelp_discovery *d, uint32_t vid, bool create)
{
	struct vol **b = &d->buckets[vid % VOL_BUCKETS], *v;

	for (v = *b; v; v = v->hnext)
		if (v->vid == vid)
			return v;
	if (!create || !(v = calloc(1, sizeof(*v))))
		return NULL;
	v->vid = vid;
	v->locs.vid = vid;
	v->hnext = *b;
	*b = v;
	return v;
}

/* ---- the published snapshot ----------------------------------------------------------------- */

static int cmp_vid(const void *a, const void *b)
{
	uint32_t x = ((const struct kelp_vol_locations *)a)->vid;
	uint32_t y = ((const struct kelp_vol_locations *)b)->vid;
	return x < y ? -1 : x > y;
}

/* Build and publish a new snapshot of every volume with locations; retire the old one. */
static void publish(struct kelp_discovery *d)
{
	size_t n = 0, i = 0;
	struct vol *v;

	for (unsigned b = 0; b < VOL_BUCKETS; b++)
		for (v = d->buckets[b]; v; v = v->hnext)
			n += v->have;
	struct kelp_loc_table *t = malloc(sizeof(*t) + n * sizeof(t->vols[0]));
	if (!t)
		return; /* readers keep the previous snapshot: stale but consistent */
	for (unsigned b = 0; b < VOL_BUCKETS; b++)
		for (v = d->buckets[b]; v; v = v->hnext)
			if (v->have)
				t->vols[i++] = v->locs;
	qsort(t->vols, n, sizeof(t->vols[0]), cmp_vid);
	t->count = (uint32_t)n;
	t->version = ++d->version;

	struct kelp_loc_table *old = *d->table;
	/* pairs with the acquire load in kelp_loc_table_load(): readers see a complete table */
	__atomic_store_n(d->table, t, __ATOMIC_RELEASE);
	d->st.published++;
	if (!old)
		return;
	/* without lcore readers nobody can hold the old one; with them, after their quiescent
	 * point. If retiring fails (ENOMEM) the old table is leaked rather than freed under a
	 * reader. */
	if (!d->epoch)
		free(old);
	else if (kelp_epoch_retire(d->epoch, free, old) == 0)
		kelp_discovery_reclaim(d);
}

unsigned kelp_discovery_reclaim(struct kelp_discovery *d)
{
	if (!d->epoch)
		return 0;
	kelp_epoch_reclaim(d->epoch);
	return (unsigned)kelp_epoch_pending(d->epoch);
}

const struct kelp_loc_table *kelp_loc_table_current(const struct kelp_discovery *d)
{
	return kelp_loc_table_load(d->table);
}

const struct kelp_vol_locations *kelp_loc_table_find(const struct kelp_loc_table *t, uint32_t vid)
{
	size_t lo = 0, hi = t ? t->count : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->vols[mid].vid == vid)
			return &t->vols[mid];
		if (t->vols[mid].vid < vid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* ---- lookups -------------------------------------------------------------------------------- */

static void lookup_done(struct kelp_http_call *call, int err);
static void timer_done(struct kelp_control *ctl, struct kelp_ctl_op *op, int res, uint32_t flags);

static int lookup_send(struct lookup *lk)
{
	struct kelp_discovery *d = lk->d;
	struct kelp_http_call *call = &lk->call;

	memset(call, 0, sizeof(*call));
	snprintf(call->server, sizeof(call->server), "%s", d->masters[lk->master]);
	snprintf(call->path, sizeof(call->path), "/dir/lookup?volumeId=%u", lk->v->vid);
	call->dst = lk->body;
	call->dst_cap = sizeof(lk->body);
	call->done = lookup_done;
	call->arg = lk;
	d->st.lookups++;
	return kelp_http_client_start(d->http, call);
}

/* Resume every request parked on @v; the lookup is over. */
static void wake(struct kelp_discovery *d, struct vol *v, int err)
{
	struct kelp_locate_wait *w = v->wait_head;

	if (v->lk) {
		free(v->lk);
		v->lk = NULL;
		d->busy--;
	}
	v->wait_head = v->wait_tail = NULL;
	while (w) {
		struct kelp_locate_wait *next = w->next;
		w->done(w, err, err ? NULL : &v->locs);
		w = next;
	}
}

void kelp_discovery_order(const struct kelp_lookup_result *res, const char *dc, bool public_url,
			  struct kelp_vol_locations *out)
{
	uint32_t n = 0;

	for (int pass = 0; pass < 2; pass++)
		for (uint32_t i = 0; i < res->count && i < KELP_LOOKUP_MAX_LOCATIONS; i++) {
			const struct kelp_location *l = &res->loc[i];
			bool local = dc && dc[0] && strcmp(l->data_center, dc) == 0;
			const char *addr = public_url && l->public_url[0] ? l->public_url : l->url;

			if (local == (pass == 0))
				snprintf(out->url[n++], KELP_LOOKUP_URL_MAX, "%s", addr);
		}
	out->count = n;
}

/* Fill v->locs from @res (kelp_discovery_order). */
static void take_locations(struct kelp_discovery *d, struct vol *v,
			   const struct kelp_lookup_result *res)
{
	kelp_discovery_order(res, d->dc, d->public_url, &v->locs);
	v->have = true;
	v->expires_ns = now_ns(d) + d->ttl_ns;
}

/* Every master failed this round with @err. */
static void round_failed(struct kelp_discovery *d, struct vol *v, int err)
{
	d->st.lookup_errors++;
	if (v->have) {
		/* keep serving what we knew; ask again a little later */
		d->st.stale_served++;
		v->expires_ns = now_ns(d) + STALE_RETRY_NS;
		return wake(d, v, 0);
	}
	switch (err) {
	case -EAGAIN:
	case -EBADMSG:
	case -EIO:
	case -ENOMEM:
	case -ECANCELED:
		break;
	default:
		err = -EHOSTUNREACH; /* connection refused, reset, timed out, unreachable */
	}
	wake(d, v, err);
}

static int arm_retry_timer(struct lookup *lk, uint32_t seconds)
{
	struct io_uring_sqe *sqe;

	if (seconds < 1)
		seconds = 1;
	if (seconds > KELP_DISCOVERY_MAX_RETRY_AFTER_S)
		seconds = KELP_DISCOVERY_MAX_RETRY_AFTER_S;
	if (!lk->d->ring || !(sqe = kelp_uring_sqe(lk->d->ring)))
		return -EBUSY;
	lk->ts.tv_sec = seconds;
	lk->ts.tv_nsec = 0;
	if (lk->d->hooks.retry_after_unit_ns) { /* a test's short seconds */
		uint64_t ns = seconds * lk->d->hooks.retry_after_unit_ns;
		lk->ts.tv_sec = (long long)(ns / 1000000000u);
		lk->ts.tv_nsec = (long long)(ns % 1000000000u);
	}
	lk->timer_op.done = timer_done;
	io_uring_prep_timeout(sqe, &lk->ts, 0, 0);
	io_uring_sqe_set_data(sqe, &lk->timer_op);
	lk->timer_armed = true;
	return 0;
}

/* Log a master's state changes (never single lookups): @err 0 it answered, else it failed. */
static void master_health(struct kelp_discovery *d, const char *addr, int err)
{
	const struct kelp_replica *m = kelp_replica_health_find(&d->masters_health, addr);
	uint64_t now = now_ns(d), since = m ? m->since_ns : now;

	if (err == 0) {
		if (kelp_replica_health_answered(&d->masters_health, addr, now) ==
		    KELP_REPLICA_CAME_BACK)
			kelp_log("kelpd: master %s is back (unreachable for %.1f s)", addr,
				 (double)(now - since) / 1e9);
	} else if (kelp_replica_health_failed(&d->masters_health, addr, err, false, now) ==
		   KELP_REPLICA_WENT_DOWN) {
		kelp_log_warn("kelpd: master %s is unreachable (%s)%s", addr,
			      err == -ETIMEDOUT ? "no answer in time" : strerror(-err),
			      d->n_masters > 1 ? "; asking the next master" : "");
	}
}

static void lookup_done(struct kelp_http_call *call, int err)
{
	struct lookup *lk = call->arg;
	struct kelp_discovery *d = lk->d;
	struct vol *v = lk->v;
	struct kelp_lookup_result *res = malloc(sizeof(*res));
	int rc = err;

	if (err != -ECANCELED)
		master_health(d, call->server, err == -EPROTO || err == -EMSGSIZE ? 0 : err);
	if (!res)
		return round_failed(d, v, -ENOMEM);
	if (err == -EPROTO || err == -EMSGSIZE)
		rc = -EBADMSG; /* malformed HTTP */
	if (err == 0) {
		rc = call->resp.truncated
			     ? -EBADMSG
			     : kelp_lookup_parse(call->resp.status, (const char *)lk->body,
						 call->body_len, res);
		if (rc == -EPROTO)
			rc = -EIO; /* an unexpected status: the master is in trouble */
	}
	if (rc == 0) {
		d->cur_master = lk->master;
		v->forgotten = false;
		take_locations(d, v, res);
		free(res);
		publish(d);
		return wake(d, v, 0);
	}
	free(res);
	if (rc == -ENOENT) {
		d->cur_master = lk->master;
		if (!v->have)
			return wake(d, v, -ENOENT); /* never located: nothing better to say */
		/* A master forgets a volume while its servers are down or have not re-registered
		 * since the master restarted: that says nothing about the needles. Keep the last
		 * known locations; only a volume server may say "not found" (http_fallback.h). */
		d->st.master_not_found++;
		d->st.stale_served++;
		if (!v->forgotten) {
			v->forgotten = true;
			kelp_log("kelpd: master %s does not know volume %u any more; reading it "
				 "from "
				 "its last known locations (%s%s) until a master names it again",
				 call->server, v->vid, v->locs.count ? v->locs.url[0] : "none",
				 v->locs.count > 1 ? ", ..." : "");
		}
		v->expires_ns = now_ns(d) + STALE_RETRY_NS;
		return wake(d, v, 0);
	}
	if (d->shut)
		return wake(d, v, -ECANCELED);
	if (rc == -EAGAIN && lk->busy_retries < KELP_DISCOVERY_MAX_BUSY_RETRIES) {
		/* the master is warming up: ask the same one again when it says */
		lk->busy_retries++;
		d->st.busy_retries++;
		if (arm_retry_timer(lk,
				    call->resp.has_retry_after ? call->resp.retry_after_s : 1) == 0)
			return;
	}
	if (++lk->tried < d->n_masters) {
		d->st.failovers++;
		lk->master = (lk->master + 1) % d->n_masters;
		d->cur_master = lk->master;
		if ((rc = lookup_send(lk)) == 0)
			return;
	}
	round_failed(d, v, rc);
}

static void timer_done(struct kelp_control *ctl, struct kelp_ctl_op *op, int res, uint32_t flags)
{
	struct lookup *lk = kelp_container_of(op, struct lookup, timer_op);
	int rc;

	lk->timer_armed = false;
	if (lk->d->shut)
		return wake(lk->d, lk->v, -ECANCELED);
	if ((rc = lookup_send(lk)))
		round_failed(lk->d, lk->v, rc);
}

int kelp_discovery_locate(struct kelp_discovery *d, uint32_t vid, struct kelp_locate_wait *w,
			  const struct kelp_vol_locations **out)
{
	struct vol *v;

	if (d->shut)
		return -ECANCELED;
	if (!(v = vol_get(d, vid, true)))
		return -ENOMEM;
	if (v->have && now_ns(d) < v->expires_ns) {
		d->st.hits++;
		*out = &v->locs;
		return 1;
	}
	d->st.misses++;
	if (!v->lk) {
		struct lookup *lk = calloc(1, sizeof(*lk));
		if (!lk)
			return -ENOMEM;
		lk->d = d;
		lk->v = v;
		lk->master = d->cur_master;
		int rc = lookup_send(lk);
		if (rc) {
			free(lk);
			return rc;
		}
		v->lk = lk;
		d->busy++;
	}
	KELP_FIFO_PUSH(v->wait_head, v->wait_tail, w);
	d->st.parked++;
	return 0;
}

void kelp_discovery_invalidate(struct kelp_discovery *d, uint32_t vid)
{
	struct vol *v = vol_get(d, vid, false);
	if (v)
		v->expires_ns = 0;
}

void kelp_discovery_shutdown(struct kelp_discovery *d)
{
	d->shut = true;
	for (unsigned b = 0; b < VOL_BUCKETS; b++)
		for (struct vol *v = d->buckets[b]; v; v = v->hnext) {
			if (!v->lk || !v->lk->timer_armed)
				continue;
			/* the timer completes with -ECANCELED and wakes its waiters */
			struct io_uring_sqe *sqe = d->ring ? kelp_uring_sqe(d->ring) : NULL;
			if (sqe) {
				io_uring_prep_timeout_remove(
					sqe, (uint64_t)(uintptr_t)&v->lk->timer_op, 0);
				io_uring_sqe_set_data(sqe, NULL);
			}
		}
}

bool kelp_discovery_owns_op(const struct kelp_ctl_op *op)
{
	return op->done == timer_done;
}

unsigned kelp_discovery_busy(const struct kelp_discovery *d)
{
	return d->busy;
}

void kelp_discovery_get_stats(const struct kelp_discovery *d, struct kelp_discovery_stats *s)
{
	*s = d->st;
}

void kelp_discovery_destroy(struct kelp_discovery *d)
{
	if (!d)
		return;
	for (unsigned b = 0; b < VOL_BUCKETS; b++)
		while (d->buckets[b]) {
			struct vol *v = d->buckets[b];
			d->buckets[b] = v->hnext;
			free(v->lk);
			free(v);
		}
	/* unpublish; readers may still hold the last table until their next quiescent point */
	struct kelp_loc_table *last = *d->table;
	__atomic_store_n(d->table, NULL, __ATOMIC_RELEASE);
	if (last && !d->epoch)
		free(last);
	else if (last) /* out of memory (-ENOMEM): leaked rather than freed under a reader */
		(void)kelp_epoch_retire(d->epoch, free, last);
	free(d);
}

void kelp_discovery_set_ttl(struct kelp_discovery *d, uint32_t ttl_s)
{
	d->ttl_ns = (uint64_t)(ttl_s ? ttl_s : KELP_DEFAULT_LOOKUP_TTL_S) * 1000000000u;
}
