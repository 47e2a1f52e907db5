/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelp_ring.h - single-producer single-consumer ring operations on a struct kelp_ring_ctl
 * (kelp_abi.h explains the layout and index arithmetic). Used for the session rings in shared
 * memory (client <-> lcore) and for message rings between kelpd's threads.
 *
 * Each side holds a struct kelp_ring: its private view with its own index and a cached copy of the
 * peer's. A producer only calls kelp_ring_prod_*, a consumer only kelp_ring_cons_*; one thread per
 * side at a time ("NOT multi-producer / multi-consumer safe").
 *
 * Memory ordering, the two edges:
 *   producer: fill slots, then store-release tail  -> pairs with consumer's load-acquire of tail:
 *             the consumer then sees the filled slots.
 *   consumer: read slots, then store-release head  -> pairs with producer's load-acquire of head:
 *             the producer may then overwrite those slots.
 *
 * The peer may be hostile (a client process): a peer index that claims more than `entries`
 * filled (consumer side) or used (producer side) slots makes the call return -EPROTO and the view
 * is left unchanged; slot addresses are always masked, so no index reaches outside the ring.
 */
#ifndef KELP_RING_H
#define KELP_RING_H

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "kelp_abi.h"

struct kelp_ring {
	struct kelp_ring_ctl *ctl; /* shared part */
	uint8_t *slots;		   /* entries x esize bytes after ctl */
	uint32_t entries;	   /* power of two */
	uint32_t mask;		   /* entries - 1 */
	uint32_t esize;		   /* bytes per slot */
	uint32_t local;		   /* producer: next index to fill; consumer: next index to read */
	uint32_t cached_peer;	   /* producer: last head seen; consumer: last tail seen */
};

/*
 * kelp_ring_attach - set up @r as one side's view of the ring at @ctl (slots follow it) with
 * @entries slots (power of two) of @esize bytes, starting from the indices currently published.
 * Either side, before first use.
 */
static inline void kelp_ring_attach(struct kelp_ring *r, struct kelp_ring_ctl *ctl,
				    uint32_t entries, uint32_t esize, int producer)
{
	r->ctl = ctl;
	r->slots = (uint8_t *)(ctl + 1);
	r->entries = entries;
	r->mask = entries - 1;
	r->esize = esize;
	uint32_t tail = __atomic_load_n(&ctl->tail, __ATOMIC_ACQUIRE);
	uint32_t head = __atomic_load_n(&ctl->head, __ATOMIC_ACQUIRE);
	r->local = producer ? tail : head;
	r->cached_peer = producer ? head : tail;
}

/* Bytes a ring of @entries slots of @esize bytes takes, ctl included. */
static inline uint64_t kelp_ring_bytes(uint32_t entries, uint32_t esize)
{
	return sizeof(struct kelp_ring_ctl) + (uint64_t)entries * esize;
}

/* kelp_ring_slot - address of the slot for index @idx (masked). Either side. */
static inline void *kelp_ring_slot(const struct kelp_ring *r, uint32_t idx)
{
	return r->slots + (size_t)(idx & r->mask) * r->esize;
}

/*
 * kelp_ring_prod_free - free slots for the producer. Re-reads the consumer's head only when the
 * cached value shows fewer than @want free. Producer side only.
 * Return: free slots (0..entries); -EPROTO when the published head is impossible.
 */
static inline int kelp_ring_prod_free(struct kelp_ring *r, uint32_t want)
{
	uint32_t used = r->local - r->cached_peer;
	if (used <= r->entries && r->entries - used >= want)
		return (int)(r->entries - used);
	/* acquire pairs with the consumer's release of head: those slots are free to overwrite */
	uint32_t head = __atomic_load_n(&r->ctl->head, __ATOMIC_ACQUIRE);
	used = r->local - head;
	if (used > r->entries)
		return -EPROTO;
	r->cached_peer = head;
	return (int)(r->entries - used);
}

/* kelp_ring_prod_slot - the @i-th slot after the last filled one (0 = next). Producer side only;
 * the caller checked kelp_ring_prod_free() > @i. */
static inline void *kelp_ring_prod_slot(const struct kelp_ring *r, uint32_t i)
{
	return kelp_ring_slot(r, r->local + i);
}

/* kelp_ring_prod_publish - make the next @n filled slots visible to the consumer. Producer side
 * only. */
static inline void kelp_ring_prod_publish(struct kelp_ring *r, uint32_t n)
{
	r->local += n;
	/* release pairs with the consumer's acquire of tail: it sees the slots filled before */
	__atomic_store_n(&r->ctl->tail, r->local, __ATOMIC_RELEASE);
}

/*
 * kelp_ring_cons_avail - filled slots ready for the consumer. Re-reads the producer's tail only
 * when the cached value shows none. Consumer side only.
 * Return: filled slots (0..entries); -EPROTO when the published tail is impossible.
 */
static inline int kelp_ring_cons_avail(struct kelp_ring *r)
{
	uint32_t avail = r->cached_peer - r->local;
	if (avail != 0 && avail <= r->entries)
		return (int)avail;
	/* acquire pairs with the producer's release of tail: the slots up to it are filled */
	uint32_t tail = __atomic_load_n(&r->ctl->tail, __ATOMIC_ACQUIRE);
	avail = tail - r->local;
	if (avail > r->entries)
		return -EPROTO;
	r->cached_peer = tail;
	return (int)avail;
}

/* kelp_ring_cons_slot - the @i-th filled slot (0 = oldest). Consumer side only; the caller checked
 * kelp_ring_cons_avail() > @i. */
static inline const void *kelp_ring_cons_slot(const struct kelp_ring *r, uint32_t i)
{
	return kelp_ring_slot(r, r->local + i);
}

/* kelp_ring_cons_release - hand the @n oldest slots back to the producer. Consumer side only. */
static inline void kelp_ring_cons_release(struct kelp_ring *r, uint32_t n)
{
	r->local += n;
	/* release pairs with the producer's acquire of head: our reads of the slots are done */
	__atomic_store_n(&r->ctl->head, r->local, __ATOMIC_RELEASE);
}

/*
 * kelp_ring_enqueue_burst - copy up to @n entries from @src into the ring and publish them.
 * Producer side only.
 * Return: entries enqueued (0..n); -EPROTO as kelp_ring_prod_free().
 */
static inline int kelp_ring_enqueue_burst(struct kelp_ring *r, const void *src, uint32_t n)
{
	int room = kelp_ring_prod_free(r, n);
	if (room <= 0)
		return room;
	if ((uint32_t)room < n)
		n = (uint32_t)room;
	for (uint32_t i = 0; i < n; i++)
		memcpy(kelp_ring_prod_slot(r, i), (const uint8_t *)src + (size_t)i * r->esize,
		       r->esize);
	kelp_ring_prod_publish(r, n);
	return (int)n;
}

/*
 * kelp_ring_dequeue_burst - copy up to @n entries out of the ring into @dst and release them.
 * Consumer side only.
 * Return: entries dequeued (0..n); -EPROTO as kelp_ring_cons_avail().
 */
static inline int kelp_ring_dequeue_burst(struct kelp_ring *r, void *dst, uint32_t n)
{
	int avail = kelp_ring_cons_avail(r);
	if (avail <= 0)
		return avail;
	if ((uint32_t)avail < n)
		n = (uint32_t)avail;
	for (uint32_t i = 0; i < n; i++)
		memcpy((uint8_t *)dst + (size_t)i * r->esize, kelp_ring_cons_slot(r, i), r->esize);
	kelp_ring_cons_release(r, n);
	return (int)n;
}

#endif
