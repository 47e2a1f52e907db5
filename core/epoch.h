/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Quiescent-state based reclamation (epochs), for data that readers on lcores use without locks
 * while the control thread replaces it: volume tables, needle indexes, .dat mappings.
 *
 * The model:
 *   - The control thread creates one struct kelp_epoch and registers every reader thread
 *     (kelp_epoch_register) before it starts reading.
 *   - A reader calls kelp_epoch_quiescent() whenever it holds no pointer obtained from shared data,
 *     e.g. once per poll loop iteration after finishing its batch. That is a plain load and store,
 *     no atomic read-modify-write, no fence: cheap enough for every iteration.
 *   - A reader that parks (sleeps) calls kelp_epoch_offline() first and kelp_epoch_online() when it
 *     wakes, so a sleeping reader never holds up reclamation.
 *   - The control thread, after publishing a new version of something (a release store of the new
 *     pointer), hands the old one to kelp_epoch_retire() with the function that frees it, and
 *     calls kelp_epoch_reclaim() periodically: an old version is freed once every online reader has
 *     passed a quiescent point after its retirement. Pointers a reader got before that point are
 *     therefore never freed under it.
 *
 * Who may call what: new/free/register/unregister/retire/reclaim: control thread only (one thread);
 * quiescent/offline/online: the reader that owns the id only.
 */
#ifndef KELP_CORE_EPOCH_H
#define KELP_CORE_EPOCH_H

#include <stddef.h>
#include <stdint.h>

#define KELP_EPOCH_OFFLINE UINT64_MAX

/* One reader's slot, alone on its cache line (readers write it every loop iteration). */
struct kelp_epoch_reader {
	uint64_t seen; /* the global epoch at its last quiescent point, or KELP_EPOCH_OFFLINE */
	uint8_t in_use;
} __attribute__((aligned(64)));

struct kelp_epoch_retired;

struct kelp_epoch {
	uint64_t global __attribute__((aligned(64))); /* bumped by every retire */
	struct kelp_epoch_reader *readers;
	unsigned max_readers;
	struct kelp_epoch_retired *retired; /* control thread only, oldest first */
	struct kelp_epoch_retired *retired_tail;
	size_t pending;
};

/*
 * kelp_epoch_new - an epoch domain for up to @max_readers reader threads. Control thread.
 * @return 0 and the domain in *@out; -ENOMEM; -EINVAL for 0 readers (*@out is NULL on error).
 */
int kelp_epoch_new(unsigned max_readers, struct kelp_epoch **out);

/* kelp_epoch_free - run every pending free (no reader may use anything any more), free @e. */
void kelp_epoch_free(struct kelp_epoch *e);

/*
 * kelp_epoch_register - a reader id for a new reader thread, online from now on. Control thread,
 * before the reader starts reading. @return the id (>= 0), or -ENOSPC when all are taken.
 */
int kelp_epoch_register(struct kelp_epoch *e);

/* kelp_epoch_unregister - the reader @id stopped for good; its slot no longer holds anything up. */
void kelp_epoch_unregister(struct kelp_epoch *e, int id);

/*
 * kelp_epoch_quiescent - reader @id holds no pointer to retired-able data right now.
 * Owning reader only. Never fails.
 */
static inline void kelp_epoch_quiescent(struct kelp_epoch *e, int id)
{
	/* acquire pairs with retire's release increment: after this, the reader's loads of shared
	 * pointers see every version published before that retire */
	uint64_t g = __atomic_load_n(&e->global, __ATOMIC_ACQUIRE);
	/* release: everything the reader did with old pointers happens before reclaim sees this */
	__atomic_store_n(&e->readers[id].seen, g, __ATOMIC_RELEASE);
}

/* kelp_epoch_offline - reader @id is about to sleep without holding pointers. Owning reader only.
 */
static inline void kelp_epoch_offline(struct kelp_epoch *e, int id)
{
	__atomic_store_n(&e->readers[id].seen, KELP_EPOCH_OFFLINE, __ATOMIC_RELEASE);
}

/* kelp_epoch_online - reader @id woke up and may read shared data again. Owning reader only. */
static inline void kelp_epoch_online(struct kelp_epoch *e, int id)
{
	/* seq_cst: the slot must be visible before the reader loads any shared pointer, or a
	 * reclaim running right now could miss it */
	uint64_t g = __atomic_load_n(&e->global, __ATOMIC_SEQ_CST);
	__atomic_store_n(&e->readers[id].seen, g, __ATOMIC_SEQ_CST);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/*
 * kelp_epoch_retire - free @p with @fn(@p) once every online reader has passed a quiescent point.
 * Call after the new version is published. Control thread only.
 * @return 0, or -ENOMEM (then @fn(@p) is NOT called: the caller still owns @p).
 */
int kelp_epoch_retire(struct kelp_epoch *e, void (*fn)(void *), void *p);

/* kelp_epoch_reclaim - free what no reader can still see. Control thread. @return how many. */
size_t kelp_epoch_reclaim(struct kelp_epoch *e);

/* kelp_epoch_pending - retired items not yet freed. Control thread. */
size_t kelp_epoch_pending(const struct kelp_epoch *e);

#endif
