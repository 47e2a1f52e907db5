/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shm/wait_policy: kelp_wait()'s spin budget, driven with synthetic waits (no clock, no timing):
 * fast completions keep a short spin, waits that outlast the spin stop it, probes notice a change
 * of regime, the cap bounds everything. A fixed spin (budget = cap always, libkelp before session
 * 8) fails every test but test_cap_zero and test_cap_bounds.
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
	bool slept = d_ns > b;
	kelp_wait_record(p, cap, slept, slept ? 0 : d_ns);
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

/* Local reads (~1-2 us): every wait ends while spinning and the spin stays short: far below the
 * cap, so an odd slow one sleeps instead of burning the whole cap. */
static void test_fast_waits_keep_a_short_spin(void **state)
{
	struct kelp_wait_policy p = {0};
	assert_int_equal(kelp_wait_spin_budget(&p, CAP), KELP_WAIT_SPIN_MARGIN_NS);
	for (unsigned i = 0; i < 1000; i++) {
		uint64_t b = wait_once(&p, CAP, (i % 2 ? 1 : 2) * US);
		assert_true(b >= 2 * US); /* every one of them ends while spinning */
		assert_true(b <= 2 * 2 * US + KELP_WAIT_SPIN_MARGIN_NS);
	}
	assert_true(p.avg_ns >= 1 * US && p.avg_ns <= 2 * US);
}

/* Completions within the cap but not instant (a fast round trip, ~20 us): the spin grows to
 * cover them, never past the cap. */
static void test_medium_waits_spin_long_enough(void **state)
{
	struct kelp_wait_policy p = {0};
	wait_many(&p, CAP, 20 * US, 200);
	uint64_t b = kelp_wait_spin_budget(&p, CAP);
	assert_true(b >= 20 * US);
	assert_true(b < CAP); /* a later 45 us wait sleeps rather than spin the cap */
	/* all later ones end while spinning */
	for (unsigned i = 0; i < 200; i++)
		assert_true(wait_once(&p, CAP, 20 * US) >= 20 * US);
	/* longer than half the cap: the budget is the cap */
	wait_many(&p, CAP, 40 * US, 200);
	assert_int_equal(kelp_wait_spin_budget(&p, CAP), CAP);
}

/* HTTP fallback (~200 us per wait): after a few misses, waits sleep at once; only the probes
 * (one in KELP_WAIT_PROBE_EVERY) still spin, and never more than the cap. */
static void test_slow_waits_sleep_at_once(void **state)
{
	struct kelp_wait_policy p = {0};
	unsigned spun = 0;
	for (unsigned i = 0; i < 20; i++)
		spun += wait_once(&p, CAP, 200 * US) > 0;
	assert_true(spun <= 10); /* the regime is learned within a few waits */
	assert_true(p.avg_ns > CAP);
	unsigned probes = 0, zero = 0;
	for (unsigned i = 0; i < 10 * KELP_WAIT_PROBE_EVERY; i++) {
		uint64_t b = wait_once(&p, CAP, 200 * US);
		if (b == 0)
			zero++;
		else if (b == CAP)
			probes++;
		else
			fail_msg("budget %llu is neither 0 nor a probe", (unsigned long long)b);
	}
	assert_int_equal(probes, 10);
	assert_int_equal(zero, 10 * KELP_WAIT_PROBE_EVERY - 10);
}

/* Waits that mostly outlast the spin (3 of 4 miss, the rest are quick) stop spinning too: a
 * miss counts above the cap (glibc's average would learn to spin the cap). */
static void test_mostly_missing_stops_spinning(void **state)
{
	struct kelp_wait_policy p = {0};
	for (unsigned i = 0; i < 400; i++)
		wait_once(&p, CAP, i % 4 == 0 ? 1 * US : 500 * US);
	unsigned spun = 0;
	for (unsigned i = 0; i < 128; i++)
		spun += wait_once(&p, CAP, i % 4 == 0 ? 1 * US : 500 * US) > 0;
	assert_true(spun <= 128 / 4); /* at most the quick ones' follow-ups and probes */
	/* and the other way round (1 in 8 misses): it keeps spinning */
	struct kelp_wait_policy q = {0};
	for (unsigned i = 0; i < 400; i++)
		wait_once(&q, CAP, i % 8 == 0 ? 500 * US : 2 * US);
	for (unsigned i = 0; i < 64; i++)
		assert_true(wait_once(&q, CAP, 2 * US) >= 2 * US);
}

/* A change of regime is noticed: slow -> fast through a probe (then spinning at once), fast ->
 * slow through the misses. */
static void test_regime_changes(void **state)
{
	struct kelp_wait_policy p = {0};
	wait_many(&p, CAP, 300 * US, 100);
	assert_int_equal(kelp_wait_spin_budget(&p, CAP), 0);
	kelp_wait_record(&p, CAP, true, 0);
	/* completions now take 10 us: waits that sleep at once learn nothing; the next probe sees
	 * it, after at most KELP_WAIT_PROBE_EVERY waits */
	unsigned i = 0;
	while (wait_once(&p, CAP, 10 * US) == 0)
		assert_true(++i <= KELP_WAIT_PROBE_EVERY);
	for (i = 0; i < 100; i++)
		assert_true(wait_once(&p, CAP, 10 * US) >= 10 * US);
	assert_true(kelp_wait_spin_budget(&p, CAP) < CAP);
	kelp_wait_record(&p, CAP, false, 10 * US);
	/* and back: at most a handful of spins are wasted */
	unsigned spun = 0;
	for (i = 0; i < 100; i++)
		spun += wait_once(&p, CAP, 300 * US) > 0;
	assert_true(spun <= 10);
}

/* A probe that misses costs one spin and changes nothing. */
static void test_failed_probe_costs_one_spin(void **state)
{
	struct kelp_wait_policy p = {0};
	wait_many(&p, CAP, 300 * US, 2 * KELP_WAIT_PROBE_EVERY);
	uint64_t avg = p.avg_ns;
	unsigned spun = 0;
	for (unsigned i = 0; i < KELP_WAIT_PROBE_EVERY; i++)
		spun += wait_once(&p, CAP, 300 * US) > 0;
	assert_int_equal(spun, 1);
	assert_true(p.avg_ns == avg);
}

/* wait_spin_us = 0: sleep at once, always, and nothing is learned. */
static void test_cap_zero(void **state)
{
	struct kelp_wait_policy p = {0};
	assert_int_equal(wait_many(&p, 0, 1 * US, 1000), 0);
	assert_int_equal(wait_many(&p, 0, 1000 * US, 1000), 0);
	assert_true(p.avg_ns == 0);
}

/* The cap bounds every budget, probes included, also when it is small. */
static void test_cap_bounds(void **state)
{
	struct kelp_wait_policy p = {0};
	const uint64_t cap = 3 * US; /* below the margin */
	for (unsigned i = 0; i < 1000; i++)
		assert_true(wait_once(&p, cap, (i * 7919) % (20 * US)) <= cap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fast_waits_keep_a_short_spin),
		cmocka_unit_test(test_medium_waits_spin_long_enough),
		cmocka_unit_test(test_slow_waits_sleep_at_once),
		cmocka_unit_test(test_mostly_missing_stops_spinning),
		cmocka_unit_test(test_regime_changes),
		cmocka_unit_test(test_failed_probe_costs_one_spin),
		cmocka_unit_test(test_cap_zero),
		cmocka_unit_test(test_cap_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
