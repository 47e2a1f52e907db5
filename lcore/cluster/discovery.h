/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Volume discovery: where each volume lives, asked from the SeaweedFS masters
 * (`GET /dir/lookup?volumeId=N`, proto/lookup.h) and cached, the way SeaweedFS's Go client does.
 *
 * - Cache per volume id with a TTL ([seaweedfs] lookup_ttl_s, default 600 s). Replicas in the
 *   configured data center ([seaweedfs] data_center) come first, the master's order otherwise.
 * - Several masters ([seaweedfs] master, comma list): the one that answered last is asked first;
 *   on connection errors, timeouts, 5xx and malformed answers the next one is tried; after all of
 *   them failed, locations cached before (even expired or invalidated ones) keep being used, so a
 *   master outage does not stop reads of volumes already known.
 * - 503 (+ Retry-After): the lookup is retried after the given delay (at most
 *   KELP_DISCOVERY_MAX_RETRY_AFTER_S, KELP_DISCOVERY_MAX_BUSY_RETRIES times).
 * - Requests for a volume whose lookup is in flight are parked on it and resumed together.
 * - Each location is the volume server's url or, with opts.public_url ([seaweedfs] volume_address =
 *   public_url), its publicUrl (its url when it has none): used for HTTP reads and RDMA peers
 * alike.
 * - A master's 404 ("volume id N not found") for a volume located before does not forget it: the
 *   master says that while the volume's servers are down or, after a master restart, have not
 *   registered again. The last known locations stay in use (and published), so a read fails with
 *   what the volume servers say (-EHOSTUNREACH when none answers), never a false -ENOENT. A 404
 *   for a volume never located is -ENOENT.
 * - Masters going unreachable and coming back are logged (core/log.h), once per change.
 * - kelp_discovery_invalidate() after a read failure forces the next request to ask again.
 * - For lock-free readers (lcores), every change publishes an immutable snapshot
 *   (struct kelp_loc_table) with a release store, in kelpd at engine->locations; old snapshots are
 *   freed once every reader has passed a quiescent point (the engine's core/epoch.h domain). No
 *   lcore consults it yet: non-local reads go to the control thread, which parks them here; it is
 *   there for lcore-side routing (RDMA peers by volume server).
 *
 * Ownership: everything except kelp_loc_table_current()/kelp_loc_table_find() belongs to the
 * thread of the io_uring the HTTP client runs on (kelpd's control thread).
 */
#ifndef KELP_LCORE_DISCOVERY_H
#define KELP_LCORE_DISCOVERY_H

#include <stdbool.h>
#include <stdint.h>

#include "lcore/cluster/http_client.h"
#include "core/epoch.h"
#include "proto/lookup.h"

#define KELP_DISCOVERY_MAX_MASTERS	 8
#define KELP_DISCOVERY_MAX_RETRY_AFTER_S 10
#define KELP_DISCOVERY_MAX_BUSY_RETRIES	 5

struct kelp_discovery;

/* Replacements for tests (test/unit/test_discovery.c); NULL or a NULL field: the real thing. */
struct kelp_discovery_hooks {
	uint64_t (*clock_ns)(void);   /* TTLs, stale retries, master health; NULL: kelp_now_ns */
	uint64_t retry_after_unit_ns; /* how long one Retry-After second lasts; 0: 1 s */
};

struct kelp_discovery_opts {
	const char *const *masters; /* "host:port" each; names are resolved once, at create */
	unsigned n_masters;
	const char *data_center;  /* NULL or "": no preference */
	bool public_url;	  /* locations are publicUrls ([seaweedfs] volume_address) */
	uint32_t ttl_s;		  /* 0 -> KELP_DEFAULT_LOOKUP_TTL_S (core/config.h) */
	struct kelp_epoch *epoch; /* readers of the published table (core/epoch.h); NULL: none */
	/* where to publish the table for lock-free readers (e.g. a field of kelpd's engine, which
	 * outlives the discovery); NULL: inside the discovery. Left NULL again at destroy. */
	struct kelp_loc_table **publish_to;
	const struct kelp_discovery_hooks *hooks; /* NULL in kelpd */
};

/* The locations of one volume, in the order to try them. */
struct kelp_vol_locations {
	uint32_t vid;
	uint32_t count;
	char url[KELP_LOOKUP_MAX_LOCATIONS][KELP_LOOKUP_URL_MAX];
};

/*
 * kelp_discovery_order - the locations of @res as discovery keeps them: the ones in data center @dc
 * (NULL or "": none preferred) first, the master's order otherwise; each one's publicUrl when
 * @public_url and it has one, else its url. Any thread (pure).
 */
void kelp_discovery_order(const struct kelp_lookup_result *res, const char *dc, bool public_url,
			  struct kelp_vol_locations *out);

/* An immutable snapshot for lock-free readers: volumes sorted by vid. */
struct kelp_loc_table {
	uint64_t version;
	uint32_t count;
	struct kelp_vol_locations vols[];
};

/*
 * A parked request. done() runs on the ring's thread, never inside kelp_discovery_locate().
 * @err: 0 with @locs valid during the call only; -ENOENT a master does not know the volume and it
 * was never located; -EAGAIN the masters stayed busy (503); -EHOSTUNREACH no master reachable and
 * nothing cached; -EBADMSG malformed master answers (HTTP or JSON); -EIO the masters answered an
 * unexpected status (5xx); -ECANCELED discovery shut down.
 */
struct kelp_locate_wait {
	void (*done)(struct kelp_locate_wait *w, int err, const struct kelp_vol_locations *locs);
	struct kelp_locate_wait *next; /* private */
};

/*
 * kelp_discovery_create - discovery through @http (not owned). Resolves master names (blocking
 * getaddrinfo: call it at start-up, before serving).
 * @return 0 and the discovery in *@out; -EINVAL (no masters, a master that does not resolve: a
 * message naming it goes to stderr); -ENOMEM (*@out NULL on error).
 */
int kelp_discovery_create(struct kelp_http_client *http, const struct kelp_discovery_opts *opts,
			  struct kelp_discovery **out);

/*
 * kelp_discovery_locate - the locations of volume @vid.
 * @return 1: known, *@out points at them (valid until the next call into discovery);
 *         0: parked, @w->done will be called; -ENOMEM; -ECANCELED (shut down).
 */
int kelp_discovery_locate(struct kelp_discovery *d, uint32_t vid, struct kelp_locate_wait *w,
			  const struct kelp_vol_locations **out);

/* kelp_discovery_invalidate - a read of @vid failed on every location: ask a master next time
 * (the old locations stay as a last resort while no master answers). */
void kelp_discovery_invalidate(struct kelp_discovery *d, uint32_t vid);

/* kelp_discovery_reclaim - free retired snapshots every reader has let go of; call it from the
 * loop now and then. @return how many things the epoch domain still holds back. */
unsigned kelp_discovery_reclaim(struct kelp_discovery *d);

/* kelp_discovery_shutdown - fail parked requests with -ECANCELED; stop timers. The HTTP client must
 * then be shut down and drained; then destroy. */
void kelp_discovery_shutdown(struct kelp_discovery *d);

/* @return whether @op (from a CQE of the ring) is one of discovery's timers. Any thread. */
bool kelp_discovery_owns_op(const struct kelp_ctl_op *op);

/* @return the number of lookups and Retry-After timers in flight. */
unsigned kelp_discovery_busy(const struct kelp_discovery *d);

/*
 * kelp_discovery_set_ttl - locations looked up from now on are cached @ttl_s seconds (0: the
 * default); cached ones keep their expiry. Ring thread only (SIGHUP: [seaweedfs] lookup_ttl_s).
 */
void kelp_discovery_set_ttl(struct kelp_discovery *d, uint32_t ttl_s);

/* kelp_discovery_destroy - free everything (busy() must be 0, and no reader may use the table
 * any more). NULL is ignored. */
void kelp_discovery_destroy(struct kelp_discovery *d);

struct kelp_discovery_stats {
	uint64_t hits, misses, lookups, lookup_errors, failovers, busy_retries, stale_served;
	uint64_t parked, published;
	uint64_t master_not_found; /* 404s for volumes located before: their locations were kept */
};
void kelp_discovery_get_stats(const struct kelp_discovery *d, struct kelp_discovery_stats *s);

/*
 * kelp_loc_table_load - the snapshot published at @slot (opts.publish_to; NULL before the first
 * lookup and after destroy). Any thread; a reader must pass no quiescent point (core/epoch.h)
 * while it uses the result.
 */
static inline const struct kelp_loc_table *kelp_loc_table_load(struct kelp_loc_table *const *slot)
{
	/* pairs with the release store of publish(): the reader sees a complete table */
	return __atomic_load_n(slot, __ATOMIC_ACQUIRE);
}

/* kelp_loc_table_current - kelp_loc_table_load() of @d's own slot (opts.publish_to NULL). */
const struct kelp_loc_table *kelp_loc_table_current(const struct kelp_discovery *d);

/* kelp_loc_table_find - binary search of @t (may be NULL) for @vid. Any thread. */
const struct kelp_vol_locations *kelp_loc_table_find(const struct kelp_loc_table *t, uint32_t vid);

#endif
