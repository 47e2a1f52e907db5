/* SPDX-License-Identifier: Apache-2.0 */
#include "core/epoch.h"
#include "core/list.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct kelp_epoch_retired {
	struct kelp_epoch_retired *next;
	uint64_t epoch; /* freed once every online reader has seen at least this */
	void (*fn)(void *);
	void *p;
};

int kelp_epoch_new(unsigned max_readers, struct kelp_epoch **out)
{
	*out = NULL;
	if (!max_readers)
		return -EINVAL;
	struct kelp_epoch *e = aligned_alloc(64, sizeof(*e));
	if (!e)
		return -ENOMEM;
	memset(e, 0, sizeof(*e));
	e->readers = aligned_alloc(64, sizeof(*e->readers) * max_readers);
	if (!e->readers) {
		free(e);
		return -ENOMEM;
	}
	memset(e->readers, 0, sizeof(*e->readers) * max_readers);
	for (unsigned i = 0; i < max_readers; i++)
		e->readers[i].seen = KELP_EPOCH_OFFLINE;
	e->max_readers = max_readers;
	e->global = 1;
	*out = e;
	return 0;
}

void kelp_epoch_free(struct kelp_epoch *e)
{
	if (!e)
		return;
	while (e->retired) {
		struct kelp_epoch_retired *r = e->retired;
		e->retired = r->next;
		r->fn(r->p);
		free(r);
	}
	free(e->readers);
	free(e);
}

int kelp_epoch_register(struct kelp_epoch *e)
{
	for (unsigned i = 0; i < e->max_readers; i++) {
		if (e->readers[i].in_use)
			continue;
		e->readers[i].in_use = 1;
		/* online from now: the reader has taken no pointer yet, the current epoch is right
		 */
		__atomic_store_n(&e->readers[i].seen, __atomic_load_n(&e->global, __ATOMIC_SEQ_CST),
				 __ATOMIC_SEQ_CST);
		return (int)i;
	}
	return -ENOSPC;
}

void kelp_epoch_unregister(struct kelp_epoch *e, int id)
{
	__atomic_store_n(&e->readers[id].seen, KELP_EPOCH_OFFLINE, __ATOMIC_RELEASE);
	e->readers[id].in_use = 0;
}

int kelp_epoch_retire(struct kelp_epoch *e, void (*fn)(void *), void *p)
{
	struct kelp_epoch_retired *r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	/* seq_cst increment: ordered after the caller's publication of the new version, so a reader
	 * that sees the new epoch also sees the new version */
	r->epoch = __atomic_add_fetch(&e->global, 1, __ATOMIC_SEQ_CST);
	r->fn = fn;
	r->p = p;
	KELP_FIFO_PUSH(e->retired, e->retired_tail, r);
	e->pending++;
	return 0;
}

size_t kelp_epoch_reclaim(struct kelp_epoch *e)
{
	if (!e->retired)
		return 0;
	uint64_t min = KELP_EPOCH_OFFLINE;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < e->max_readers; i++) {
		uint64_t s = __atomic_load_n(&e->readers[i].seen, __ATOMIC_ACQUIRE);
		if (s < min)
			min = s;
	}
	size_t n = 0;
	/* the list is in epoch order: stop at the first one a reader may still see */
	while (e->retired && e->retired->epoch <= min) {
		struct kelp_epoch_retired *r = KELP_FIFO_POP(e->retired, e->retired_tail);
		r->fn(r->p);
		free(r);
		e->pending--;
		n++;
	}
	return n;
}

size_t kelp_epoch_pending(const struct kelp_epoch *e)
{
	return e->pending;
}
