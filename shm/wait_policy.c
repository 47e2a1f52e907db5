/* SPDX-License-Identifier: Apache-2.0 */
/* kelp_wait()'s adaptive spin (why and how: wait_policy.h). */
#include "wait_policy.h"

uint64_t kelp_wait_spin_budget(struct kelp_wait_policy *p, uint64_t cap_ns)
{
	p->probing = false;
	if (cap_ns == 0)
		return 0;
	if (p->avg_ns <= cap_ns) {
		uint64_t b = 2 * p->avg_ns + KELP_WAIT_SPIN_MARGIN_NS;
		return b < cap_ns ? b : cap_ns;
	}
	if (++p->since_probe >= KELP_WAIT_PROBE_EVERY) {
		p->since_probe = 0;
		p->probing = true;
		return cap_ns;
	}
	return 0;
}

void kelp_wait_record(struct kelp_wait_policy *p, uint64_t cap_ns, bool slept, uint64_t waited_ns)
{
	if (cap_ns == 0)
		return; /* nothing to choose */
	uint64_t miss = 2 * cap_ns;
	uint64_t sample = slept || waited_ns > miss ? miss : waited_ns;
	if (p->probing && !slept) {
		/* the waits got short again: spin the cap next time, see whether it holds */
		p->avg_ns = cap_ns;
	} else if (sample >= p->avg_ns) {
		p->avg_ns += (sample - p->avg_ns + 7) / 8; /* rounded up: reaches a steady sample */
	} else {
		p->avg_ns -= (p->avg_ns - sample) / 8;
	}
	p->probing = false;
	if (p->avg_ns > miss)
		p->avg_ns = miss; /* the cap was lowered: keep the average in 0..2 x cap */
}
