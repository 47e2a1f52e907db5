/* SPDX-License-Identifier: Apache-2.0 */
/* core/histogram: bucket layout, percentiles, merge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include <pthread.h>

#include "core/histogram.h"

static struct kelp_hist *new_hist(void)
{
	struct kelp_hist *h = malloc(sizeof(*h));
	assert_non_null(h);
	kelp_hist_init(h);
	return h;
}

static void test_empty(void **state)
{
	struct kelp_hist *h = new_hist();
	assert_int_equal(h->count, 0);
	assert_int_equal(kelp_hist_percentile(h, 50), 0);
	assert_int_equal(kelp_hist_percentile(h, 100), 0);
	assert_true(kelp_hist_mean(h) == 0.0);
	free(h);
}

/* Every bucket's range starts right after the previous one's: no gaps, no overlaps. */
static void test_buckets_contiguous(void **state)
{
	for (unsigned i = 0; i + 1 < KELP_HIST_BUCKETS; i++) {
		uint64_t hi = kelp_hist_bucket_high(i);
		assert_int_equal(kelp_hist_bucket_index(hi), i);
		assert_int_equal(kelp_hist_bucket_index(hi + 1), i + 1);
	}
	assert_int_equal(kelp_hist_bucket_index(0), 0);
	assert_int_equal(kelp_hist_bucket_index(UINT64_MAX), KELP_HIST_BUCKETS - 1);
	assert_true(kelp_hist_bucket_high(KELP_HIST_BUCKETS - 1) == UINT64_MAX);
}

/* A bucket's upper bound overstates any value in it by at most 1/128. */
static void test_relative_error(void **state)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uint64_t v = x >> (x % 64); /* spread over all magnitudes */
		uint64_t hi = kelp_hist_bucket_high(kelp_hist_bucket_index(v));
		assert_true(hi >= v);
		assert_true(hi - v <= v / KELP_HIST_SUB_COUNT);
	}
}

static void test_percentiles_uniform(void **state)
{
	struct kelp_hist *h = new_hist();
	for (uint64_t v = 1; v <= 100000; v++)
		kelp_hist_record(h, v);
	assert_int_equal(h->count, 100000);
	assert_int_equal(kelp_hist_percentile(h, 0), 1);
	assert_int_equal(kelp_hist_percentile(h, 100), 100000);
	const double ps[] = {1, 50, 90, 99, 99.9};
	for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
		double want = ps[i] * 1000.0; /* the p-th percentile of 1..100000 */
		double got = (double)kelp_hist_percentile(h, ps[i]);
		assert_true(got >= want);
		assert_true(got <= want * (1.0 + 1.0 / KELP_HIST_SUB_COUNT) + 1);
	}
	assert_true(kelp_hist_mean(h) == 50000.5);
	free(h);
}

/* Small values are exact; a percentile never leaves [min, max]. */
static void test_exact_small_and_clamped(void **state)
{
	struct kelp_hist *h = new_hist();
	kelp_hist_record_n(h, 7, 99);
	kelp_hist_record(h, 1000003);
	assert_int_equal(kelp_hist_percentile(h, 50), 7);
	assert_int_equal(kelp_hist_percentile(h, 99), 7);
	assert_int_equal(kelp_hist_percentile(h, 99.5), 1000003); /* bucket high clamped to max */
	assert_int_equal(kelp_hist_percentile(h, 150), 1000003);
	assert_int_equal(kelp_hist_percentile(h, -3), 7);
	assert_int_equal(h->min, 7);
	free(h);
}

static void test_merge_equals_single(void **state)
{
	struct kelp_hist *a = new_hist(), *b = new_hist(), *all = new_hist();
	for (uint64_t v = 0; v < 5000; v++) {
		uint64_t x = v * v * 31 + 17;
		kelp_hist_record(v % 3 ? a : b, x);
		kelp_hist_record(all, x);
	}
	kelp_hist_merge(a, b);
	assert_int_equal(a->count, all->count);
	assert_int_equal(a->sum, all->sum);
	assert_int_equal(a->min, all->min);
	assert_int_equal(a->max, all->max);
	assert_memory_equal(a->buckets, all->buckets, sizeof(a->buckets));
	struct kelp_hist *empty = new_hist();
	kelp_hist_merge(a, empty); /* merging an empty one changes nothing, min stays */
	assert_int_equal(a->min, all->min);
	free(a), free(b), free(all), free(empty);
}

/* The shared variants (an lcore records, control merges): same counts as the plain ones; a merge
 * while another thread records stays self-consistent (count == the buckets' sum). */
struct recorder {
	struct kelp_hist *h;
	int stop;
};

static void *record_loop(void *arg)
{
	struct recorder *r = arg;
	uint64_t v = 1;
	while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED))
		kelp_hist_record_n_shared(r->h, (v++ % 100000) + 1, 1);
	return NULL;
}

static void test_shared_record_and_merge(void **state)
{
	struct kelp_hist *a = new_hist(), *all = new_hist(), *snap = new_hist();
	for (uint64_t v = 0; v < 5000; v++) {
		kelp_hist_record_n_shared(a, v * 977 + 3, 2);
		kelp_hist_record_n(all, v * 977 + 3, 2);
	}
	kelp_hist_merge_shared(snap, a);
	assert_int_equal(snap->count, all->count);
	assert_int_equal(snap->sum, all->sum);
	assert_int_equal(snap->min, all->min);
	assert_int_equal(snap->max, all->max);
	assert_memory_equal(snap->buckets, all->buckets, sizeof(all->buckets));

	struct recorder r = {.h = new_hist()};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, record_loop, &r), 0);
	for (int i = 0; i < 200; i++) {
		kelp_hist_init(snap);
		kelp_hist_merge_shared(snap, r.h);
		uint64_t sum = 0;
		for (unsigned b = 0; b < KELP_HIST_BUCKETS; b++)
			sum += snap->buckets[b];
		assert_int_equal(sum, snap->count);
		if (snap->count) {
			uint64_t p99 = kelp_hist_percentile(snap, 99);
			assert_true(p99 >= 1 && p99 <= 100000);
		}
	}
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	free(r.h), free(a), free(all), free(snap);
}

/* Prometheus "le" counts: every value in a bucket at or below the bound, none above. */
static void test_count_le(void **state)
{
	struct kelp_hist *h = new_hist();
	for (uint64_t v = 1; v <= 1000; v++)
		kelp_hist_record(h, v * 1000); /* 1 us .. 1 ms in ns */
	assert_int_equal(kelp_hist_count_le(h, 0), 0);
	assert_int_equal(kelp_hist_count_le(h, UINT64_MAX), 1000);
	uint64_t n = kelp_hist_count_le(h, 100000); /* <= 100 us: 100 values, within a bucket */
	assert_true(n <= 100 && n >= 99);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_buckets_contiguous),
		cmocka_unit_test(test_relative_error),
		cmocka_unit_test(test_percentiles_uniform),
		cmocka_unit_test(test_exact_small_and_clamped),
		cmocka_unit_test(test_merge_equals_single),
		cmocka_unit_test(test_shared_record_and_merge),
		cmocka_unit_test(test_count_le),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
