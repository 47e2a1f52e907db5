/* SPDX-License-Identifier: Apache-2.0 */
/* Quiescent-state-based reclamation; the protocol is described in qsbr.h. */
#include "lcore/qsbr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int kelp_qsbr_init(struct kelp_qsbr *q, unsigned nreaders)
{
	memset(q, 0, sizeof(*q));
	if (nreaders) {
		q->r = aligned_alloc(64, sizeof(*q->r) * nreaders);
		if (!q->r)
			return -ENOMEM;
		for (unsigned i = 0; i < nreaders; i++)
			q->r[i].seen = KELP_QSBR_OFFLINE;
	}
	q->nreaders = nreaders;
	return 0;
}

void kelp_qsbr_fini(struct kelp_qsbr *q)
{
	free(q->r);
	q->r = NULL;
	q->nreaders = 0;
}

uint64_t kelp_qsbr_retire(struct kelp_qsbr *q)
{
	/* pairs with the acquire load in kelp_qsbr_quiescent(): a reader that sees the new epoch
	 * also sees the unpublished pointer */
	return __atomic_add_fetch(&q->epoch, 1, __ATOMIC_ACQ_REL);
}

bool kelp_qsbr_passed(const struct kelp_qsbr *q, uint64_t epoch)
{
	for (unsigned i = 0; i < q->nreaders; i++) {
		/* pairs with the release store in kelp_qsbr_quiescent()/offline() */
		uint64_t seen = __atomic_load_n(&q->r[i].seen, __ATOMIC_ACQUIRE);
		if (seen < epoch)
			return false;
	}
	return true;
}
