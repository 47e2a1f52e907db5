/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Replica health: what kelpd has seen of each server it reads from over HTTP (volume servers, and
 * the masters for the log), keyed by its "ip:port". A pure state machine with the time passed in,
 * so it is unit-tested without sockets (test/unit/test_replica_health.c).
 *
 *   UP --(refused, reset, unreachable, timeout, or lost a hedge)--> DOWN
 *   DOWN --(retry time passed: the next read that orders it takes it as a probe)--> DOWN, probing
 *   DOWN --(any HTTP answer)--> UP
 *
 * - Order: kelp_replica_health_order() keeps the given order (same data center first, from
 *   discovery) for UP servers and for at most one DOWN server whose retry time has passed (the
 *   probe: one read tries it; its retry time moves on at once, so other reads do not pile onto a
 *   hung server); DOWN servers not yet due go last, still tried when everything else failed.
 * - Backoff: the retry delay starts at @min_ns and doubles at each failed probe, up to @max_ns. A
 *   server that goes DOWN again less than KELP_REPLICA_STABLE_NS after it came back keeps its
 *   (doubled) delay, so a flapping server is probed, and logged, less and less often; one that
 *   stayed up that long starts again at @min_ns.
 * - Transitions are returned to the caller, who logs them: kelpd never logs per request.
 * - At most KELP_REPLICA_MAX servers are tracked; further ones are treated as UP, untracked.
 *
 * Ownership: one thread (kelpd's control thread); no locks.
 */
#ifndef KELP_LCORE_REPLICA_HEALTH_H
#define KELP_LCORE_REPLICA_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/lookup.h" /* KELP_LOOKUP_URL_MAX, KELP_LOOKUP_MAX_LOCATIONS */

#define KELP_REPLICA_MAX       256
#define KELP_REPLICA_STABLE_NS (60ull * 1000000000u)

enum kelp_replica_state { KELP_REPLICA_UP = 0, KELP_REPLICA_DOWN = 1 };

/* What changed with a report (for the log line). */
enum kelp_replica_change { KELP_REPLICA_SAME = 0, KELP_REPLICA_WENT_DOWN, KELP_REPLICA_CAME_BACK };

struct kelp_replica {
	char addr[KELP_LOOKUP_URL_MAX];
	enum kelp_replica_state state;
	int last_err;	      /* -errno of the last failure (-ETIMEDOUT also for a lost hedge) */
	uint64_t since_ns;    /* in this state since */
	uint64_t retry_at_ns; /* DOWN: the next probe may go out then */
	uint64_t backoff_ns;  /* DOWN: the current retry delay */
	uint64_t answers, failures, probes, hedges_lost;
};

struct kelp_replica_health {
	uint64_t min_ns, max_ns;
	unsigned n;
	struct kelp_replica r[KELP_REPLICA_MAX];
};

/* kelp_replica_health_init - empty table; retry delays from @min_ns doubling up to @max_ns. */
void kelp_replica_health_init(struct kelp_replica_health *h, uint64_t min_ns, uint64_t max_ns);

/*
 * kelp_replica_health_order - reorder @urls[0..@n) (at most KELP_LOOKUP_MAX_LOCATIONS) in place
 * into the order to try them at @now_ns (see the top of this file); claims the probe of a due
 * DOWN server (its retry time moves on by its backoff).
 */
void kelp_replica_health_order(struct kelp_replica_health *h, char (*urls)[KELP_LOOKUP_URL_MAX],
			       unsigned n, uint64_t now_ns);

/* kelp_replica_health_answered - @addr answered (any HTTP status: it is alive). */
enum kelp_replica_change kelp_replica_health_answered(struct kelp_replica_health *h,
						      const char *addr, uint64_t now_ns);

/*
 * kelp_replica_health_failed - @addr failed a request with @err (-ECONNREFUSED, -ETIMEDOUT, ...);
 * @hedge_lost: it had not answered when another replica's answer won.
 */
enum kelp_replica_change kelp_replica_health_failed(struct kelp_replica_health *h, const char *addr,
						    int err, bool hedge_lost, uint64_t now_ns);

/* kelp_replica_health_find - the entry of @addr, or NULL when it was never reported or ordered. */
const struct kelp_replica *kelp_replica_health_find(const struct kelp_replica_health *h,
						    const char *addr);

#endif
