/* SPDX-License-Identifier: Apache-2.0 */
/* Log-linear latency histogram: see histogram.h for the bucket layout. */
#include "core/histogram.h"

#include <math.h>
#include <string.h>

void kelp_hist_init(struct kelp_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

uint64_t kelp_hist_bucket_high(unsigned idx)
{
	if (idx < 2 * KELP_HIST_SUB_COUNT)
		return idx;
	unsigned shift = idx / KELP_HIST_SUB_COUNT - 1;
	uint64_t sub = idx % KELP_HIST_SUB_COUNT + KELP_HIST_SUB_COUNT; /* 128..255 */
	if (idx == KELP_HIST_BUCKETS - 1)
		return UINT64_MAX; /* (sub + 1) << shift would overflow */
	return ((sub + 1) << shift) - 1;
}

void kelp_hist_merge(struct kelp_hist *dst, const struct kelp_hist *src)
{
	if (src->count == 0)
		return;
	for (unsigned i = 0; i < KELP_HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

void kelp_hist_merge_shared(struct kelp_hist *dst, const struct kelp_hist *src)
{
	uint64_t count = 0;
	for (unsigned i = 0; i < KELP_HIST_BUCKETS; i++) {
		uint64_t b = __atomic_load_n(&src->buckets[i], __ATOMIC_RELAXED);
		dst->buckets[i] += b;
		count += b;
	}
	if (count == 0)
		return;
	dst->count += count;
	dst->sum += __atomic_load_n(&src->sum, __ATOMIC_RELAXED);
	uint64_t min = __atomic_load_n(&src->min, __ATOMIC_RELAXED);
	uint64_t max = __atomic_load_n(&src->max, __ATOMIC_RELAXED);
	if (min < dst->min)
		dst->min = min;
	if (max > dst->max)
		dst->max = max;
}

uint64_t kelp_hist_count_le(const struct kelp_hist *h, uint64_t value)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < KELP_HIST_BUCKETS && kelp_hist_bucket_high(i) <= value; i++)
		n += h->buckets[i];
	return n;
}

uint64_t kelp_hist_percentile(const struct kelp_hist *h, double p)
{
	if (h->count == 0)
		return 0;
	if (!(p > 0.0)) /* also catches NaN */
		return h->min;
	if (p >= 100.0)
		return h->max;
	/* The rank-th smallest value (1-based) is the one we want. */
	uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)h->count);
	if (rank < 1)
		rank = 1;
	if (rank > h->count)
		rank = h->count;
	uint64_t seen = 0;
	for (unsigned i = 0; i < KELP_HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank) {
			uint64_t v = kelp_hist_bucket_high(i);
			if (v > h->max)
				v = h->max;
			if (v < h->min)
				v = h->min;
			return v;
		}
	}
	return h->max; /* unreachable when count matches the buckets */
}

double kelp_hist_mean(const struct kelp_hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}
