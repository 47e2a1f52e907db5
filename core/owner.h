/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owner-thread checks, for the rules the comments state ("owning lcore only", "control thread
 * only"; lcore/engine.h: ownership). An object that has an owner embeds a struct kelp_owner; the
 * owning thread claims it when it starts (kelp_owner_claim) and lets go when it ends; a function
 * only its owner may call starts with KELP_ASSERT_OWNER(&obj->owner), which in a debug build
 * (KELP_DEBUG: `make SAN=1`) aborts with the function's name when another thread calls it (as
 * SPDK checks spdk_get_thread()), and compiles to nothing otherwise. An owner nobody claimed
 * (unit tests that drive an lcore by hand in one thread) is not checked.
 */
#ifndef KELP_CORE_OWNER_H
#define KELP_CORE_OWNER_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct kelp_owner {
	pthread_t thread; /* valid while claimed is 1 */
	int claimed;
};

/* kelp_owner_claim - the calling thread owns @o from now on. The owner itself, when it starts. */
static inline void kelp_owner_claim(struct kelp_owner *o)
{
	o->thread = pthread_self();
	__atomic_store_n(&o->claimed, 1, __ATOMIC_RELEASE);
}

/* kelp_owner_release - nobody owns @o any more (its thread is about to end). The owner. */
static inline void kelp_owner_release(struct kelp_owner *o)
{
	__atomic_store_n(&o->claimed, 0, __ATOMIC_RELEASE);
}

/* kelp_owner_check - abort unless @o is NULL (no owner known), unclaimed, or owned by the calling
 * thread. Any thread. */
static inline void kelp_owner_check(const struct kelp_owner *o, const char *fn)
{
	if (!o || !__atomic_load_n(&o->claimed, __ATOMIC_ACQUIRE) ||
	    pthread_equal(o->thread, pthread_self()))
		return;
	fprintf(stderr, "kelp: BUG: %s() called on a thread that does not own its object\n", fn);
	abort();
}

#ifdef KELP_DEBUG
#define KELP_ASSERT_OWNER(o) kelp_owner_check((o), __func__)
#else
#define KELP_ASSERT_OWNER(o) ((void)0)
#endif

#endif
