/* SPDX-License-Identifier: Apache-2.0 */
/* SPSC ring (shm/kelp_ring.h): empty, full, wraparound of the u32 indices, batches, hostile peer
 * indices. Both sides are driven from one thread, deterministically. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "kelp_ring.h"

#define ENTRIES 8u

struct ring_pair {
	struct kelp_ring_ctl *ctl;
	struct kelp_ring prod, cons;
};

static void pair_init(struct ring_pair *p, uint32_t start_index)
{
	p->ctl = aligned_alloc(64, kelp_ring_bytes(ENTRIES, sizeof(uint64_t)));
	assert_non_null(p->ctl);
	memset(p->ctl, 0, kelp_ring_bytes(ENTRIES, sizeof(uint64_t)));
	p->ctl->head = p->ctl->tail = start_index;
	kelp_ring_attach(&p->prod, p->ctl, ENTRIES, sizeof(uint64_t), 1);
	kelp_ring_attach(&p->cons, p->ctl, ENTRIES, sizeof(uint64_t), 0);
}

static void test_empty(void **state)
{
	struct ring_pair p;
	pair_init(&p, 0);
	uint64_t v;
	assert_int_equal(kelp_ring_cons_avail(&p.cons), 0);
	assert_int_equal(kelp_ring_dequeue_burst(&p.cons, &v, 1), 0);
	assert_int_equal(kelp_ring_prod_free(&p.prod, 1), ENTRIES);
	free(p.ctl);
}

static void test_full(void **state)
{
	struct ring_pair p;
	pair_init(&p, 0);
	uint64_t in[ENTRIES + 3], out[ENTRIES + 3];
	for (unsigned i = 0; i < ENTRIES + 3; i++)
		in[i] = 100 + i;
	/* only ENTRIES fit; the rest is refused, not overwritten */
	assert_int_equal(kelp_ring_enqueue_burst(&p.prod, in, ENTRIES + 3), ENTRIES);
	assert_int_equal(kelp_ring_prod_free(&p.prod, 1), 0);
	assert_int_equal(kelp_ring_enqueue_burst(&p.prod, in, 1), 0);
	assert_int_equal(kelp_ring_cons_avail(&p.cons), ENTRIES);
	assert_int_equal(kelp_ring_dequeue_burst(&p.cons, out, ENTRIES + 3), ENTRIES);
	for (unsigned i = 0; i < ENTRIES; i++)
		assert_int_equal(out[i], 100 + i);
	assert_int_equal(kelp_ring_prod_free(&p.prod, 1), ENTRIES);
	free(p.ctl);
}

/* Indices start just below 2^32 so that they wrap during the test; order must survive. */
static void test_wraparound(void **state)
{
	struct ring_pair p;
	pair_init(&p, UINT32_MAX - 5);
	uint64_t next_in = 0, next_out = 0;
	for (int round = 0; round < 50; round++) {
		uint64_t buf[5];
		for (unsigned i = 0; i < 5; i++)
			buf[i] = next_in + i;
		int n = kelp_ring_enqueue_burst(&p.prod, buf, 5);
		assert_true(n >= 0);
		next_in += (uint64_t)n;
		uint64_t out[3];
		int m = kelp_ring_dequeue_burst(&p.cons, out, 3);
		assert_true(m >= 0);
		for (int i = 0; i < m; i++)
			assert_int_equal(out[i], next_out++);
	}
	uint64_t out[ENTRIES];
	int m;
	while ((m = kelp_ring_dequeue_burst(&p.cons, out, ENTRIES)) > 0)
		for (int i = 0; i < m; i++)
			assert_int_equal(out[i], next_out++);
	assert_int_equal(next_out, next_in);
	assert_true(p.ctl->tail < 1000); /* it did wrap */
	free(p.ctl);
}

/* Batches: reserve several slots, fill, publish once; consumer sees all or none. */
static void test_batch(void **state)
{
	struct ring_pair p;
	pair_init(&p, 0);
	assert_true(kelp_ring_prod_free(&p.prod, 6) >= 6);
	for (uint32_t i = 0; i < 6; i++)
		*(uint64_t *)kelp_ring_prod_slot(&p.prod, i) = 7 * i;
	assert_int_equal(kelp_ring_cons_avail(&p.cons), 0); /* nothing published yet */
	kelp_ring_prod_publish(&p.prod, 6);
	assert_int_equal(kelp_ring_cons_avail(&p.cons), 6);
	for (uint32_t i = 0; i < 6; i++)
		assert_int_equal(*(const uint64_t *)kelp_ring_cons_slot(&p.cons, i), 7 * i);
	kelp_ring_cons_release(&p.cons, 4);
	assert_int_equal(kelp_ring_prod_free(&p.prod, ENTRIES - 2), ENTRIES - 2);
	assert_int_equal(kelp_ring_cons_avail(&p.cons), 2);
	free(p.ctl);
}

/* A hostile peer publishes impossible indices: -EPROTO, and the honest side's view is unchanged. */
static void test_hostile_indices(void **state)
{
	struct ring_pair p;
	pair_init(&p, 0);
	p.ctl->tail = ENTRIES + 1; /* claims more filled slots than exist */
	assert_int_equal(kelp_ring_cons_avail(&p.cons), -EPROTO);
	assert_int_equal(p.cons.local, 0);
	p.ctl->tail = 0xdeadbeef;
	assert_int_equal(kelp_ring_cons_avail(&p.cons), -EPROTO);
	p.ctl->tail = 0;
	p.ctl->head = 5; /* consumer claims to have read slots never produced */
	assert_int_equal(kelp_ring_prod_free(&p.prod, 1), ENTRIES);	      /* cached: fine */
	assert_int_equal(kelp_ring_prod_free(&p.prod, ENTRIES + 1), -EPROTO); /* re-read: caught */
	free(p.ctl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),		cmocka_unit_test(test_full),
		cmocka_unit_test(test_wraparound),	cmocka_unit_test(test_batch),
		cmocka_unit_test(test_hostile_indices),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
