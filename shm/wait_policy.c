/* SPDX-License-Identifier: Apache-2.0 */
/* kelp_wait()'s adaptive spin (why and how: wait_policy.h). */
#include "wait_policy.h"

uint64_t kelp_wait_spin_budget(struct kelp_wait_policy *p, uint64_t cap_ns)
{
	p->probing = false;
	if (cap_ns == 0)
		return 0;
	if (p->slept_share <= KELP_WAIT_ALL / 2)
		return cap_ns; /* completions usually arrive within the spin */
	if (++p->since_probe >= KELP_WAIT_PROBE_EVERY) {
		p->since_probe = 0;
		p->probing = true;
		return cap_ns;
	}
	return 0;
}

void kelp_wait_record(struct kelp_wait_policy *p, uint64_t cap_ns, bool slept)
{
	if (cap_ns == 0)
		return; /* nothing to choose */
	if (p->probing && !slept)
		p->slept_share = KELP_WAIT_ALL / 2; /* short again? the next wait spins and sees */
	else if (slept)
		p->slept_share +=
			(KELP_WAIT_ALL - p->slept_share + 7) / 8; /* rounded up: reaches all */
	else
		p->slept_share -= p->slept_share / 8;
	p->probing = false;
}
