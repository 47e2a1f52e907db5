/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelp_wait()'s adaptive spin: how long to busy-poll before sleeping on the futex, learned from
 * how this session's recent waits ended. Pure (no clock, no syscall): io.c feeds it durations,
 * the unit test (test/unit/test_shm_wait_policy.c) feeds it synthetic ones.
 *
 * Spinning pays when the completion arrives within the spin: a local read is ~1-2 us, and
 * sleeping instead costs a futex wake in kelpd and a context switch (several us, and much more
 * on a loaded or virtual machine). It is pure loss when the completion is further away than the
 * spin (an HTTP fallback read ~100-300 us, a TCP round trip, a filer lookup): the spin burns CPU
 * that kelpd, weed or the other client threads need, and may even delay the completion it waits
 * for when they share the core. So the policy keeps the share of recent waits that outlasted the
 * spin (an average moved 1/8 of the way to each new wait: 1 = it slept, 0 = it ended while
 * polling), and
 *   - while fewer than half of them did (completions usually arrive within the spin): spins the
 *     whole cap, exactly as a fixed spin (measured: a spin fitted to the usual wait, glibc's
 *     2 x average + margin, made local reads 0.7x on a loaded machine: their tail of 5-50 us waits,
 *     the lcore preempted, then slept);
 *   - else (waits usually outlast it): sleeps at once (after one round of 64 polls, ~1 us, which
 *     still catches completions that are nearly there), except that every KELP_WAIT_PROBE_EVERY-th
 *     such wait spins the whole cap as a probe: a probe that ends while polling puts the share at
 *     one half, so the next wait spins too and a second hit brings spinning back (a change of
 *     regime is noticed within ~KELP_WAIT_PROBE_EVERY waits; a probe that misses costs one spin).
 * A wait that slept counts as a miss whatever its length: its length includes the wake-up, and
 * when the client shares a core with the thread that completes it, the completion comes soon only
 * because the client slept. Unlike glibc's adaptive mutex (whose average of spins learns to spin
 * the maximum when the lock is held long) a session whose waits outlast the spin stops spinning.
 */
#ifndef KELP_SHM_WAIT_POLICY_H
#define KELP_SHM_WAIT_POLICY_H

#include <stdbool.h>
#include <stdint.h>

/* While sleeping at once, every this many waits spin the whole cap once to look again. */
#define KELP_WAIT_PROBE_EVERY 64u
/* The share of waits that slept, fixed point: KELP_WAIT_ALL = all of them. */
#define KELP_WAIT_ALL 65536u

/* Per session, owned by the session's thread; all zero = no history (spins, as libkelp always
 * did before it adapted). */
struct kelp_wait_policy {
	uint32_t slept_share; /* of recent waits that slept, 0..KELP_WAIT_ALL */
	uint32_t since_probe; /* waits that slept at once since the last probe */
	bool probing;	      /* the budget just handed out is a probe */
};

/*
 * kelp_wait_spin_budget - how long the next wait that finds nothing ready may spin before it
 * sleeps, at most @cap_ns (the session's wait_spin_us; 0 = always sleep at once). The session's
 * thread.
 * Return: the budget in ns (0 = sleep at once).
 */
uint64_t kelp_wait_spin_budget(struct kelp_wait_policy *p, uint64_t cap_ns);

/*
 * kelp_wait_record - feed back how the wait that last got a budget from kelp_wait_spin_budget
 * ended: @slept = it went to sleep on the futex at least once, else it ended while polling. The
 * session's thread.
 */
void kelp_wait_record(struct kelp_wait_policy *p, uint64_t cap_ns, bool slept);

#endif
