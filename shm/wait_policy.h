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
 * for when they share the core. The policy keeps an average of past waits in which
 *   - a wait that ended while spinning counts with its duration (it paid off), and
 *   - a wait that went to sleep counts as twice the cap (it did not),
 * like glibc's adaptive mutexes (spin up to 2 x the average + a margin, average moved 1/8 of the
 * way to each new sample) but with a miss counted above the cap, so that sessions whose waits
 * mostly outlast the spin stop spinning instead of learning to spin the maximum:
 *   - average <= cap (completions usually arrive within the spin): spin min(cap, 2 x average +
 *     KELP_WAIT_SPIN_MARGIN_NS);
 *   - average > cap (waits usually outlast it): sleep at once (after one round of 64 polls,
 *     ~1 us), except that every KELP_WAIT_PROBE_EVERY-th such wait spins the whole cap as a
 *     probe; a probe that ends while spinning puts the average at the cap, so the next wait
 *     spins the cap too and two hits in a row bring spinning back (a change of regime is
 *     noticed within ~KELP_WAIT_PROBE_EVERY waits; a probe that misses costs one spin).
 * A sleeping wait's own duration is not used: it includes the wake-up, and when the client
 * shares a core with the thread that completes it, it comes soon only because the client slept.
 */
#ifndef KELP_SHM_WAIT_POLICY_H
#define KELP_SHM_WAIT_POLICY_H

#include <stdbool.h>
#include <stdint.h>

/* Added to 2 x the average: covers the clock's granularity in kelp_wait (one read per 64 polls,
 * ~1-3 us) and the jitter of short waits. */
#define KELP_WAIT_SPIN_MARGIN_NS 4000u
/* While sleeping at once, every this many waits spin the whole cap once to look again. */
#define KELP_WAIT_PROBE_EVERY 64u

/* Per session, owned by the session's thread; all zero = no history (spins as if waits were
 * instant: the first waits spin KELP_WAIT_SPIN_MARGIN_NS and learn from there). */
struct kelp_wait_policy {
	uint64_t avg_ns;      /* average of recent samples (see above), 0..2 x cap */
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
 * kelp_wait_record - feed back how a wait that got @budget_ns from kelp_wait_spin_budget ended:
 * @slept = it went to sleep on the futex at least once, else it ended while spinning after
 * @waited_ns. The session's thread.
 */
void kelp_wait_record(struct kelp_wait_policy *p, uint64_t cap_ns, bool slept, uint64_t waited_ns);

#endif
