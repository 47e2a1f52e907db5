/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Quiescent-state-based reclamation for read-mostly tables (DESIGN.md: "old versions are freed
 * after every lcore has passed a quiescent point").
 *
 * Readers (worker lcores) read a published pointer with an acquire load and use it only within one
 * poll iteration; at the end of each iteration they call kelp_qsbr_quiescent(), which records the
 * writer's epoch they have seen. The writer (control thread) publishes a new version, calls
 * kelp_qsbr_retire() to get the epoch after which the old one is unreachable, and frees it once
 * kelp_qsbr_passed() says every reader has seen that epoch. A reader that parks (sleeps) goes
 * offline first, so it never holds reclamation back.
 *
 * Memory order: quiescent() is a release store of the epoch it read: everything the reader did
 * before (its reads of old versions) happens-before the writer's acquire load in passed().
 */
#ifndef KELP_LCORE_QSBR_H
#define KELP_LCORE_QSBR_H

#include <stdbool.h>
#include <stdint.h>

#define KELP_QSBR_OFFLINE UINT64_MAX

struct kelp_qsbr_reader {
	_Alignas(64) uint64_t seen; /* written by its reader only; atomic accesses */
};

struct kelp_qsbr {
	_Alignas(64) uint64_t epoch; /* written by the writer only; atomic accesses */
	unsigned nreaders;
	struct kelp_qsbr_reader *r;
};

/* kelp_qsbr_init - @nreaders readers, all offline. Writer, before readers start. @return 0, -ENOMEM. */
int kelp_qsbr_init(struct kelp_qsbr *q, unsigned nreaders);
void kelp_qsbr_fini(struct kelp_qsbr *q);

/* kelp_qsbr_quiescent - reader @id holds no reference to any published version now.
 * Reader @id only (also makes it online). */
static inline void kelp_qsbr_quiescent(struct kelp_qsbr *q, unsigned id)
{
	uint64_t e = __atomic_load_n(&q->epoch, __ATOMIC_ACQUIRE);
	__atomic_store_n(&q->r[id].seen, e, __ATOMIC_RELEASE);
}

/* kelp_qsbr_offline - reader @id stops reading (parks, stops). Reader @id only. */
static inline void kelp_qsbr_offline(struct kelp_qsbr *q, unsigned id)
{
	__atomic_store_n(&q->r[id].seen, KELP_QSBR_OFFLINE, __ATOMIC_RELEASE);
}

/* kelp_qsbr_retire - after unpublishing a version: @return the epoch readers must reach before it
 * may be freed. Writer only. */
uint64_t kelp_qsbr_retire(struct kelp_qsbr *q);

/* kelp_qsbr_passed - has every reader seen @epoch (or is offline)? Writer only. */
bool kelp_qsbr_passed(const struct kelp_qsbr *q, uint64_t epoch);

#endif
