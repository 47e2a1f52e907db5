/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shm/wait_policy: kelp_wait()'s spin budget, driven with synthetic waits (no clock, no timing):
 * completions within the spin keep it, waits that mostly outlast it stop it, probes notice a
 * change of regime. A fixed spin (budget = cap always, libkelp before session 8) passes
 * test_fast_waits_keep_the_spin and test_cap_zero and fails the others.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "shm/wait_policy.h"

#define US  1000ull
#define CAP (50 * US) /* kelp_opts_init's wait_spin_us */

/* One wait under the policy whose completion arrives @d_ns after it starts: it ends while
 * spinning if that is within the budget, else it sleeps. Return: the budget it had. */
static uint64_t wait_once(struct kelp_wait_policy *p, uint64_t cap, uint64_t d_ns)
{
	uint64_t b = kelp_wait_spin_budget(p, cap);
	kelp_wait_record(p, cap, d_ns > b);
	return b;
}

/* Waits of @d_ns, @n times; Return: the largest budget handed out. */
static uint64_t wait_many(struct kelp_wait_policy *p, uint64_t cap, uint64_t d_ns, unsigned n)
{
	uint64_t most = 0;
	for (unsigned i = 0; i < n; i++) {
		uint64_t b = wait_once(p, cap, d_ns);
		most = b > most ? b : most;
	}
	return most;
}

/* Local reads (~1-2 us) and completions within the cap (~20-45 us): every wait spins the whole
 * cap, as a fixed spin does (a shorter one measured 0.7x on local reads), and an odd long wait
 * (the lcore preempted) changes nothing. */
static void test_fast_waits_keep_the_spin(void **state)
{
	struct kelp_wait_policy p = {0};
	for (unsigned i = 0; i < 1000; i++) {
		uint64_t d = (i % 3 == 0 ? 1 : i % 3 == 1 ? 20 : 45) * US;
		if (i % 50 == 49)
			d = 400 * US; /* 2 % outlast the spin */
		assert_int_equal(wait_once(&p, CAP, d), CAP);
	}
}

/* HTTP fallback (~200 us per wait): after a few misses, waits sleep at once; only the probes
 * (one in KELP_WAIT_PROBE_EVERY) still spin. */
static void test_slow_waits_sleep_at_once(void **state)
{
	struct kelp_wait_policy p = {0};
	unsigned spun = 0;
	for (unsigned i = 0; i < 20; i++)
		spun += wait_once(&p, CAP, 200 * US) > 0;
	assert_true(spun <= 8); /* the regime is learned within a few waits */
	unsigned probes = 0, zero = 0;
	for (unsigned i = 0; i < 10 * KELP_WAIT_PROBE_EVERY; i++) {
		uint64_t b = wait_once(&p, CAP, 200 * US);
		if (b == 0)
			zero++;
		else if (b == CAP)
			probes++;
		else
			fail_msg("budget %llu is neither 0 nor the cap", (unsigned long long)b);
	}
	assert_int_equal(probes, 10);
	assert_int_equal(zero, 10 * KELP_WAIT_PROBE_EVERY - 10);
}

/* Waits that mostly outlast the spin (3 of 4; the rest are quick) stop spinning too; 1 in 8
 * (or a steady 40 %) does not. */
static void test_usually_outlasting_stops_spinning(void **state)
{
	struct kelp_wait_policy p = {0};
	for (unsigned i = 0; i < 400; i++)
		wait_once(&p, CAP, i % 4 == 0 ? 1 * US : 500 * US);
	unsigned spun = 0;
	for (unsigned i = 0; i < 128; i++)
		spun += wait_once(&p, CAP, i % 4 == 0 ? 1 * US : 500 * US) > 0;
	assert_true(spun <= 128 / 16); /* probes and what a hit probe lets through */
	struct kelp_wait_policy q = {0};
	for (unsigned i = 0; i < 400; i++)
		assert_int_equal(wait_once(&q, CAP, i % 8 == 0 ? 500 * US : 2 * US), CAP);
	struct kelp_wait_policy r = {0};
	for (unsigned i = 0; i < 400; i++)
		assert_int_equal(wait_once(&r, CAP, i % 5 < 2 ? 500 * US : 2 * US), CAP);
}

/* A change of regime is noticed both ways: slow -> fast through a probe, after at most
 * KELP_WAIT_PROBE_EVERY waits, then spinning at once; fast -> slow within a few waits. */
static void test_regime_changes(void **state)
{
	struct kelp_wait_policy p = {0};
	wait_many(&p, CAP, 300 * US, 100);
	/* completions now take 10 us: waits that sleep at once cannot see it; the next probe does
	 */
	unsigned i = 0;
	while (wait_once(&p, CAP, 10 * US) == 0)
		assert_true(++i <= KELP_WAIT_PROBE_EVERY);
	for (i = 0; i < 100; i++)
		assert_int_equal(wait_once(&p, CAP, 10 * US), CAP);
	unsigned spun = 0;
	for (i = 0; i < 100; i++)
		spun += wait_once(&p, CAP, 300 * US) > 0;
	assert_true(spun <= 8);
}

/* A probe that misses costs one spin, and the regime stays. */
static void test_failed_probe_costs_one_spin(void **state)
{
	struct kelp_wait_policy p = {0};
	wait_many(&p, CAP, 300 * US, 2 * KELP_WAIT_PROBE_EVERY);
	for (unsigned round = 0; round < 5; round++) {
		unsigned spun = 0;
		for (unsigned i = 0; i < KELP_WAIT_PROBE_EVERY; i++)
			spun += wait_once(&p, CAP, 300 * US) > 0;
		assert_int_equal(spun, 1);
	}
}

/* A probe that hits once, then misses again (a fluke) costs one more spin, not a relapse. */
static void test_lucky_probe_costs_one_more_spin(void **state)
{
	struct kelp_wait_policy p = {0};
	wait_many(&p, CAP, 300 * US, 2 * KELP_WAIT_PROBE_EVERY);
	unsigned i = 0;
	while (wait_once(&p, CAP, 300 * US) == 0)
		assert_true(++i <= KELP_WAIT_PROBE_EVERY);
	/* that probe missed; the next one hits */
	i = 0;
	while (wait_once(&p, CAP, 3 * US) == 0)
		assert_true(++i <= KELP_WAIT_PROBE_EVERY);
	unsigned spun = 0;
	for (i = 0; i < KELP_WAIT_PROBE_EVERY - 1; i++)
		spun += wait_once(&p, CAP, 300 * US) > 0;
	assert_int_equal(spun, 1);
}

/* wait_spin_us = 0: sleep at once, always, and nothing is learned. */
static void test_cap_zero(void **state)
{
	struct kelp_wait_policy p = {0};
	assert_int_equal(wait_many(&p, 0, 1 * US, 1000), 0);
	assert_int_equal(wait_many(&p, 0, 1000 * US, 1000), 0);
	assert_int_equal(p.slept_share, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fast_waits_keep_the_spin),
		cmocka_unit_test(test_slow_waits_sleep_at_once),
		cmocka_unit_test(test_usually_outlasting_stops_spinning),
		cmocka_unit_test(test_regime_changes),
		cmocka_unit_test(test_failed_probe_costs_one_spin),
		cmocka_unit_test(test_lucky_probe_costs_one_more_spin),
		cmocka_unit_test(test_cap_zero),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
