/* SPDX-License-Identifier: Apache-2.0 */
/* lcore/cluster/replica_health: the per-volume-server state machine behind the HTTP path's replica
 * order (issue 8 item 7): demote on failure or a lost hedge, probe one read after the backoff, come
 * back on any answer, back off longer while flapping. Time is passed in: no sockets, no sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lcore/cluster/replica_health.h"

#define MS 1000000ull
#define S  (1000 * MS)

static struct kelp_replica_health h;

static int setup(void **state)
{
	kelp_replica_health_init(&h, 1 * S, 30 * S);
	return 0;
}

/* order A,B,C at @now and compare with @want ("B,C,A") */
static void check_order(uint64_t now, const char *want)
{
	char urls[3][KELP_LOOKUP_URL_MAX] = {"A", "B", "C"};
	char got[3 * KELP_LOOKUP_URL_MAX + 3];
	kelp_replica_health_order(&h, urls, 3, now);
	snprintf(got, sizeof(got), "%s,%s,%s", urls[0], urls[1], urls[2]);
	assert_string_equal(got, want);
}

static void test_unknown_servers_keep_discovery_order(void **state)
{
	check_order(0, "A,B,C");
	assert_null(kelp_replica_health_find(&h, "A"));
	assert_int_equal(kelp_replica_health_answered(&h, "A", 5), KELP_REPLICA_SAME);
	check_order(10, "A,B,C");
}

/* the bug: a dead or hung first replica was asked first on every read */
static void test_failed_server_goes_last_until_its_probe(void **state)
{
	assert_int_equal(kelp_replica_health_failed(&h, "A", -ECONNREFUSED, false, 100 * S),
			 KELP_REPLICA_WENT_DOWN);
	const struct kelp_replica *a = kelp_replica_health_find(&h, "A");
	assert_non_null(a);
	assert_int_equal(a->state, KELP_REPLICA_DOWN);
	assert_int_equal(a->last_err, -ECONNREFUSED);
	/* every read within the backoff skips it */
	for (int i = 0; i < 100; i++)
		check_order(100 * S + (uint64_t)i * 5 * MS, "B,C,A");
	/* after 1 s: one read probes it (in its own place), the next ones do not */
	check_order(101 * S, "A,B,C");
	assert_int_equal(a->probes, 1);
	check_order(101 * S + 1, "B,C,A");
	check_order(101 * S + 500 * MS, "B,C,A");
	/* the probe failed: backoff doubles */
	assert_int_equal(kelp_replica_health_failed(&h, "A", -ECONNREFUSED, false, 101 * S + MS),
			 KELP_REPLICA_SAME);
	assert_int_equal(a->backoff_ns, 2 * S);
	check_order(102 * S, "B,C,A");
	check_order(103 * S + MS, "A,B,C");
	/* the probe answered: back in its place */
	assert_int_equal(kelp_replica_health_answered(&h, "A", 103 * S + 2 * MS),
			 KELP_REPLICA_CAME_BACK);
	assert_int_equal(a->state, KELP_REPLICA_UP);
	check_order(103 * S + 3 * MS, "A,B,C");
	check_order(103 * S + 4 * MS, "A,B,C");
}

static void test_only_one_probe_among_due_servers(void **state)
{
	kelp_replica_health_failed(&h, "A", -ETIMEDOUT, false, 0);
	kelp_replica_health_failed(&h, "B", -ETIMEDOUT, true, 0);
	assert_int_equal(kelp_replica_health_find(&h, "B")->hedges_lost, 1);
	check_order(10 * MS, "C,A,B");
	check_order(2 * S, "A,C,B"); /* A probes; B waits for the next read */
	check_order(2 * S + 1, "B,C,A");
	check_order(2 * S + 2, "C,A,B");
}

static void test_backoff_caps_and_flapping_backs_off(void **state)
{
	uint64_t t = 0;
	kelp_replica_health_failed(&h, "A", -ECONNREFUSED, false, t);
	for (int i = 0; i < 10; i++)
		kelp_replica_health_failed(&h, "A", -ECONNREFUSED, false, t += S);
	assert_int_equal(kelp_replica_health_find(&h, "A")->backoff_ns, 30 * S);

	/* comes back, goes down again within a minute: the next delay is longer, not 1 s */
	kelp_replica_health_failed(&h, "B", -ECONNREFUSED, false, 0);
	assert_int_equal(kelp_replica_health_find(&h, "B")->backoff_ns, 1 * S);
	kelp_replica_health_answered(&h, "B", 2 * S);
	assert_int_equal(kelp_replica_health_failed(&h, "B", -ECONNREFUSED, false, 3 * S),
			 KELP_REPLICA_WENT_DOWN);
	assert_int_equal(kelp_replica_health_find(&h, "B")->backoff_ns, 2 * S);
	kelp_replica_health_answered(&h, "B", 6 * S);
	kelp_replica_health_failed(&h, "B", -ECONNREFUSED, false, 7 * S);
	assert_int_equal(kelp_replica_health_find(&h, "B")->backoff_ns, 4 * S);
	/* up for longer than KELP_REPLICA_STABLE_NS: starts again at the minimum */
	kelp_replica_health_answered(&h, "B", 20 * S);
	kelp_replica_health_failed(&h, "B", -ECONNREFUSED, false, 20 * S + KELP_REPLICA_STABLE_NS);
	assert_int_equal(kelp_replica_health_find(&h, "B")->backoff_ns, 1 * S);
}

static void test_table_full_means_untracked_and_up(void **state)
{
	char addr[32];
	for (unsigned i = 0; i < KELP_REPLICA_MAX; i++) {
		snprintf(addr, sizeof(addr), "10.0.0.%u:8080", i);
		kelp_replica_health_answered(&h, addr, 0);
	}
	assert_int_equal(h.n, KELP_REPLICA_MAX);
	assert_int_equal(kelp_replica_health_failed(&h, "A", -ECONNREFUSED, false, 0),
			 KELP_REPLICA_SAME);
	assert_null(kelp_replica_health_find(&h, "A"));
	check_order(1, "A,B,C");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_unknown_servers_keep_discovery_order, setup),
		cmocka_unit_test_setup(test_failed_server_goes_last_until_its_probe, setup),
		cmocka_unit_test_setup(test_only_one_probe_among_due_servers, setup),
		cmocka_unit_test_setup(test_backoff_caps_and_flapping_backs_off, setup),
		cmocka_unit_test_setup(test_table_full_means_untracked_and_up, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
