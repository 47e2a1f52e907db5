/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SPSC ring under real concurrency: a producer thread and a consumer thread pass 2 million
 * sequence numbers in bursts of varying size through a small ring (so it is full and empty often);
 * the consumer must see every number once, in order. Checks the acquire/release pairing of
 * shm/kelp_ring.h on the machine's memory model (no timing asserted).
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "kelp_ring.h"

#define ENTRIES 64u
#define COUNT	2000000ull

struct shared {
	struct kelp_ring_ctl *ctl;
	uint64_t bad;
};

static void *producer(void *arg)
{
	struct shared *sh = arg;
	struct kelp_ring r;
	kelp_ring_attach(&r, sh->ctl, ENTRIES, sizeof(uint64_t), 1);
	uint64_t next = 0, buf[40];
	unsigned burst = 1;
	while (next < COUNT) {
		unsigned n = burst;
		if (n > COUNT - next)
			n = (unsigned)(COUNT - next);
		for (unsigned i = 0; i < n; i++)
			buf[i] = next + i;
		int k = kelp_ring_enqueue_burst(&r, buf, n);
		if (k < 0) {
			sh->bad = 1;
			return NULL;
		}
		if (k == 0)
			sched_yield(); /* two threads may share one core here */
		next += (uint64_t)k;
		burst = burst % 37 + 1;
	}
	return NULL;
}

static void test_two_threads_in_order(void **state)
{
	struct shared sh = {0};
	sh.ctl = aligned_alloc(64, kelp_ring_bytes(ENTRIES, sizeof(uint64_t)));
	memset(sh.ctl, 0, kelp_ring_bytes(ENTRIES, sizeof(uint64_t)));
	sh.ctl->head = sh.ctl->tail = UINT32_MAX - 1000; /* wraps during the run */
	struct kelp_ring r;
	kelp_ring_attach(&r, sh.ctl, ENTRIES, sizeof(uint64_t), 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, producer, &sh), 0);
	uint64_t expect = 0, buf[50];
	unsigned burst = 1;
	while (expect < COUNT && !sh.bad) {
		int k = kelp_ring_dequeue_burst(&r, buf, burst);
		assert_true(k >= 0);
		if (k == 0)
			sched_yield();
		for (int i = 0; i < k; i++)
			assert_int_equal(buf[i], expect++);
		burst = burst % 50 + 1;
	}
	pthread_join(t, NULL);
	assert_int_equal(sh.bad, 0);
	assert_int_equal(expect, COUNT);
	assert_int_equal(kelp_ring_cons_avail(&r), 0);
	free(sh.ctl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_threads_in_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
