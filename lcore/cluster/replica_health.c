/* SPDX-License-Identifier: Apache-2.0 */
/* Replica health (behaviour in replica_health.h). */
#include "lcore/cluster/replica_health.h"

#include <stdio.h>
#include <string.h>

void kelp_replica_health_init(struct kelp_replica_health *h, uint64_t min_ns, uint64_t max_ns)
{
	memset(h, 0, sizeof(*h));
	h->min_ns = min_ns ? min_ns : 1;
	h->max_ns = max_ns > h->min_ns ? max_ns : h->min_ns;
}

/* The entry of @addr; created (UP) when @create and there is room. A linear search: a cluster
 * has tens of volume servers, and this runs on the control thread once per HTTP read. */
static struct kelp_replica *get(struct kelp_replica_health *h, const char *addr, bool create,
				uint64_t now_ns)
{
	for (unsigned i = 0; i < h->n; i++)
		if (strcmp(h->r[i].addr, addr) == 0)
			return &h->r[i];
	if (!create || h->n == KELP_REPLICA_MAX)
		return NULL;
	struct kelp_replica *r = &h->r[h->n++];
	memset(r, 0, sizeof(*r));
	snprintf(r->addr, sizeof(r->addr), "%s", addr);
	r->since_ns = now_ns;
	return r;
}

const struct kelp_replica *kelp_replica_health_find(const struct kelp_replica_health *h,
						    const char *addr)
{
	return get((struct kelp_replica_health *)h, addr, false, 0);
}

void kelp_replica_health_order(struct kelp_replica_health *h, char (*urls)[KELP_LOOKUP_URL_MAX],
			       unsigned n, uint64_t now_ns)
{
	char out[KELP_LOOKUP_MAX_LOCATIONS][KELP_LOOKUP_URL_MAX];
	bool first[KELP_LOOKUP_MAX_LOCATIONS];
	unsigned k = 0;
	bool probed = false;

	if (n > KELP_LOOKUP_MAX_LOCATIONS)
		n = KELP_LOOKUP_MAX_LOCATIONS;
	for (unsigned i = 0; i < n; i++) {
		struct kelp_replica *r = get(h, urls[i], false, 0);
		first[i] = !r || r->state == KELP_REPLICA_UP;
		if (!first[i] && !probed && now_ns >= r->retry_at_ns) {
			/* this read probes it; the next probe only after another backoff */
			probed = first[i] = true;
			r->retry_at_ns = now_ns + r->backoff_ns;
			r->probes++;
		}
	}
	for (int pass = 0; pass < 2; pass++)
		for (unsigned i = 0; i < n; i++)
			if (first[i] == (pass == 0))
				memcpy(out[k++], urls[i], KELP_LOOKUP_URL_MAX);
	memcpy(urls, out, (size_t)n * KELP_LOOKUP_URL_MAX);
}

enum kelp_replica_change kelp_replica_health_answered(struct kelp_replica_health *h,
						      const char *addr, uint64_t now_ns)
{
	struct kelp_replica *r = get(h, addr, true, now_ns);

	if (!r)
		return KELP_REPLICA_SAME;
	r->answers++;
	if (r->state == KELP_REPLICA_UP)
		return KELP_REPLICA_SAME;
	r->state = KELP_REPLICA_UP;
	r->since_ns = now_ns;
	return KELP_REPLICA_CAME_BACK; /* backoff_ns kept: see KELP_REPLICA_STABLE_NS */
}

enum kelp_replica_change kelp_replica_health_failed(struct kelp_replica_health *h, const char *addr,
						    int err, bool hedge_lost, uint64_t now_ns)
{
	struct kelp_replica *r = get(h, addr, true, now_ns);

	if (!r)
		return KELP_REPLICA_SAME;
	r->failures++;
	r->hedges_lost += hedge_lost;
	r->last_err = err;
	if (r->state == KELP_REPLICA_DOWN) {
		/* a failed probe (or a last-resort try): wait longer before the next one */
		r->backoff_ns = r->backoff_ns * 2 < h->max_ns ? r->backoff_ns * 2 : h->max_ns;
		r->retry_at_ns = now_ns + r->backoff_ns;
		return KELP_REPLICA_SAME;
	}
	bool flapping = r->backoff_ns && now_ns - r->since_ns < KELP_REPLICA_STABLE_NS;
	if (!flapping)
		r->backoff_ns = h->min_ns;
	else if (r->backoff_ns * 2 < h->max_ns)
		r->backoff_ns *= 2;
	else
		r->backoff_ns = h->max_ns;
	r->state = KELP_REPLICA_DOWN;
	r->since_ns = now_ns;
	r->retry_at_ns = now_ns + r->backoff_ns;
	return KELP_REPLICA_WENT_DOWN;
}
