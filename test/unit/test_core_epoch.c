/* SPDX-License-Identifier: Apache-2.0 */
/* core/epoch: readers simulated deterministically in one thread. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/epoch.h"

static int freed[8];

static void free_marker(void *p)
{
	freed[(intptr_t)p]++;
}

static void test_reclaim_waits_for_every_reader(void **state)
{
	struct kelp_epoch *e;
	assert_int_equal(kelp_epoch_new(4, &e), 0);
	int a = kelp_epoch_register(e), b = kelp_epoch_register(e);
	assert_int_equal(a, 0);
	assert_int_equal(b, 1);
	memset(freed, 0, sizeof(freed));

	assert_int_equal(kelp_epoch_retire(e, free_marker, (void *)1), 0);
	assert_int_equal(kelp_epoch_reclaim(e), 0); /* nobody passed a quiescent point yet */
	kelp_epoch_quiescent(e, a);
	assert_int_equal(kelp_epoch_reclaim(e), 0); /* b may still hold it */
	kelp_epoch_quiescent(e, b);
	assert_int_equal(kelp_epoch_reclaim(e), 1);
	assert_int_equal(freed[1], 1);

	/* a reader that passed before the retire does not count */
	kelp_epoch_quiescent(e, a);
	kelp_epoch_quiescent(e, b);
	assert_int_equal(kelp_epoch_retire(e, free_marker, (void *)2), 0);
	assert_int_equal(kelp_epoch_retire(e, free_marker, (void *)3), 0);
	assert_int_equal(kelp_epoch_reclaim(e), 0);
	assert_int_equal(kelp_epoch_pending(e), 2);
	kelp_epoch_quiescent(e, a);
	kelp_epoch_quiescent(e, b);
	assert_int_equal(kelp_epoch_reclaim(e), 2);
	assert_int_equal(freed[2] + freed[3], 2);

	/* an offline (parked) reader holds nothing up; online again, it does */
	kelp_epoch_offline(e, b);
	assert_int_equal(kelp_epoch_retire(e, free_marker, (void *)4), 0);
	kelp_epoch_quiescent(e, a);
	assert_int_equal(kelp_epoch_reclaim(e), 1);
	kelp_epoch_online(e, b);
	assert_int_equal(kelp_epoch_retire(e, free_marker, (void *)5), 0);
	kelp_epoch_quiescent(e, a);
	assert_int_equal(kelp_epoch_reclaim(e), 0);
	kelp_epoch_unregister(e, b); /* a reader that stopped for good */
	assert_int_equal(kelp_epoch_reclaim(e), 1);
	assert_int_equal(freed[5], 1);

	/* free runs what is still pending */
	assert_int_equal(kelp_epoch_retire(e, free_marker, (void *)6), 0);
	kelp_epoch_free(e);
	assert_int_equal(freed[6], 1);
}

static void test_register_limits(void **state)
{
	struct kelp_epoch *e;
	assert_int_equal(kelp_epoch_new(2, &e), 0);
	assert_int_equal(kelp_epoch_register(e), 0);
	assert_int_equal(kelp_epoch_register(e), 1);
	assert_int_equal(kelp_epoch_register(e), -ENOSPC);
	kelp_epoch_unregister(e, 0);
	assert_int_equal(kelp_epoch_register(e), 0);
	kelp_epoch_free(e);
	assert_int_equal(kelp_epoch_new(0, &e), -EINVAL);
	assert_null(e);
	/* no readers at all: retired things go at the next reclaim */
	assert_int_equal(kelp_epoch_new(1, &e), 0);
	memset(freed, 0, sizeof(freed));
	kelp_epoch_retire(e, free_marker, (void *)7);
	assert_int_equal(kelp_epoch_reclaim(e), 1);
	kelp_epoch_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reclaim_waits_for_every_reader),
		cmocka_unit_test(test_register_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
