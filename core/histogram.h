/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Latency histogram: HDR-style log-linear buckets over the full uint64 range, fixed size, no
 * allocation, so one can live on each benchmark thread (or lcore) and be merged at the end.
 *
 * Layout: values below 256 get a bucket each. Above that, every power-of-two range [2^m, 2^(m+1))
 * is split into 128 equal sub-buckets, so a bucket's width is at most 1/128 of its lower bound:
 * any reported value is within 0.8 % of a recorded one. Index of value v >= 256, with m = msb(v):
 *     shift = m - 7;  idx = (shift + 1) * 128 + ((v >> shift) - 128)
 * which for m = 7 gives idx = v, so the linear and logarithmic parts join without a gap.
 *
 * Ownership: a histogram is plain memory with no locks. One thread records into it; merge or read
 * it only after that thread stops recording (or from that thread).
 * Units are the caller's (kelp-bench records nanoseconds).
 */
#ifndef KELP_CORE_HISTOGRAM_H
#define KELP_CORE_HISTOGRAM_H

#include <stdint.h>

#define KELP_HIST_SUB_BITS  7
#define KELP_HIST_SUB_COUNT (1u << KELP_HIST_SUB_BITS) /* 128 sub-buckets per power of two */
/* Largest index: msb 63 -> shift 56 -> (57 * 128) + 127. */
#define KELP_HIST_BUCKETS ((64 - KELP_HIST_SUB_BITS + 1) * KELP_HIST_SUB_COUNT)

struct kelp_hist {
	uint64_t count;
	uint64_t min; /* UINT64_MAX while empty */
	uint64_t max;
	uint64_t sum; /* wraps only after ~584 years of nanoseconds */
	uint64_t buckets[KELP_HIST_BUCKETS];
};

/*
 * kelp_hist_init - empty @h (also used to reset it). Any thread that owns @h.
 */
void kelp_hist_init(struct kelp_hist *h);

/*
 * kelp_hist_bucket_index - the bucket that holds @value. Any thread (pure function).
 * @return an index in [0, KELP_HIST_BUCKETS).
 */
static inline unsigned kelp_hist_bucket_index(uint64_t value)
{
	if (value < 2 * KELP_HIST_SUB_COUNT)
		return (unsigned)value;
	unsigned msb = 63u - (unsigned)__builtin_clzll(value);
	unsigned shift = msb - KELP_HIST_SUB_BITS;
	return (shift + 1) * KELP_HIST_SUB_COUNT +
	       (unsigned)((value >> shift) - KELP_HIST_SUB_COUNT);
}

/*
 * kelp_hist_bucket_high - the largest value that falls in bucket @idx. Any thread.
 * @return that value; UINT64_MAX for the last bucket.
 */
uint64_t kelp_hist_bucket_high(unsigned idx);

/*
 * kelp_hist_record_n - count @value @n times. Recording thread only; O(1), no allocation.
 */
static inline void kelp_hist_record_n(struct kelp_hist *h, uint64_t value, uint64_t n)
{
	h->buckets[kelp_hist_bucket_index(value)] += n;
	h->count += n;
	h->sum += value * n;
	if (value < h->min)
		h->min = value;
	if (value > h->max)
		h->max = value;
}

/* kelp_hist_record - count @value once. Recording thread only. */
static inline void kelp_hist_record(struct kelp_hist *h, uint64_t value)
{
	kelp_hist_record_n(h, value, 1);
}

/*
 * kelp_hist_record_n_shared - kelp_hist_record_n() for a histogram that another thread reads
 * meanwhile with kelp_hist_merge_shared() (an lcore's latencies, read by the control thread):
 * every field is written with a relaxed atomic store, which is a plain move on x86-64 and arm64
 * (no lock prefix, no fence), so a reader never sees a torn value. Recording thread only.
 */
static inline void kelp_hist_record_n_shared(struct kelp_hist *h, uint64_t value, uint64_t n)
{
	unsigned i = kelp_hist_bucket_index(value);
	__atomic_store_n(&h->buckets[i], h->buckets[i] + n, __ATOMIC_RELAXED);
	__atomic_store_n(&h->count, h->count + n, __ATOMIC_RELAXED);
	__atomic_store_n(&h->sum, h->sum + value * n, __ATOMIC_RELAXED);
	if (value < h->min)
		__atomic_store_n(&h->min, value, __ATOMIC_RELAXED);
	if (value > h->max)
		__atomic_store_n(&h->max, value, __ATOMIC_RELAXED);
}

/*
 * kelp_hist_merge_shared - add a snapshot of @src, which one other thread may be recording into
 * with kelp_hist_record_n_shared(), into @dst (owned by the caller). The snapshot's count is the
 * sum of the buckets read, so percentiles of @dst stay consistent with its buckets even when a
 * record lands between two loads. Any thread.
 */
void kelp_hist_merge_shared(struct kelp_hist *dst, const struct kelp_hist *src);

/*
 * kelp_hist_count_le - how many recorded values fall in buckets whose every value is <= @value
 * (a cumulative count for a Prometheus "le" bucket; within a bucket's width, 0.8 %, of exact).
 * Any thread owning @h.
 */
uint64_t kelp_hist_count_le(const struct kelp_hist *h, uint64_t value);

/*
 * kelp_hist_merge - add every count of @src into @dst. Neither may be recorded into meanwhile.
 */
void kelp_hist_merge(struct kelp_hist *dst, const struct kelp_hist *src);

/*
 * kelp_hist_percentile - the value at percentile @p (0..100) of the recorded values: the upper
 * bound of the bucket that holds the ceil(p/100 * count)-th smallest value, clamped to the
 * recorded [min, max] (so p = 100 gives the exact max, p = 0 the exact min).
 * @return that value, or 0 when @h is empty. @p outside 0..100 is clamped.
 */
uint64_t kelp_hist_percentile(const struct kelp_hist *h, double p);

/* kelp_hist_mean - the exact arithmetic mean of the recorded values; 0 when empty. */
double kelp_hist_mean(const struct kelp_hist *h);

#endif
