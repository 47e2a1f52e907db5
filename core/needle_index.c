/* SPDX-License-Identifier: Apache-2.0 */
#include "core/needle_index.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define SIZE_BITS	     24
#define SIZE_SHIFT	     40
#define OFFSET_MASK	     ((1ull << SIZE_SHIFT) - 1)
#define SIZE_FIELD_TOMBSTONE 0xFFFFFFu /* with offset 0: the key is deleted */
#define PACKED_EMPTY	     0ull      /* a live entry has offset != 0, a tombstone size != 0 */
#define PACKED_TOMBSTONE     ((uint64_t)SIZE_FIELD_TOMBSTONE << SIZE_SHIFT)
#define BUILD_LOAD_NUM	     4 /* tables are built at 3/4 load ... */
#define BUILD_LOAD_DEN	     3
#define MAX_LOAD_NUM	     9 /* ... and refuse inserts above 9/10 */
#define MAX_LOAD_DEN	     10
#define MIN_SLOTS	     64
#define LOAD_BATCH	     32

struct slot {
	uint64_t key;
	uint64_t packed;
};

struct kelp_needle_index {
	struct slot *slots;
	uint64_t nslots;
	uint64_t max_keys; /* nslots * 0.9 */
	uint64_t keys;	   /* occupied slots */
	uint64_t live;
	uint64_t deleted_dropped; /* deleted keys left out by kelp_needle_index_shrink */
	size_t map_bytes;
};

/* murmur3's 64-bit finalizer: sequential SeaweedFS keys spread over the whole table */
static inline uint64_t hash_key(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ull;
	k ^= k >> 33;
	return k;
}

static inline uint64_t home_slot(const struct kelp_needle_index *ni, uint64_t key)
{
	return (uint64_t)(((unsigned __int128)hash_key(key) * ni->nslots) >> 64);
}

static inline uint64_t pack(uint64_t offset, uint32_t size)
{
	uint32_t sf = size >= KELP_NEEDLE_INDEX_SIZE_LARGE ? KELP_NEEDLE_INDEX_SIZE_LARGE : size;
	return offset | (uint64_t)sf << SIZE_SHIFT;
}

static inline int packed_is_live(uint64_t packed)
{
	return (packed & OFFSET_MASK) != 0;
}

int kelp_needle_index_new(uint64_t capacity, struct kelp_needle_index **out)
{
	*out = NULL;
	struct kelp_needle_index *ni = calloc(1, sizeof(*ni));
	if (!ni)
		return -ENOMEM;
	uint64_t nslots =
		capacity / BUILD_LOAD_DEN * BUILD_LOAD_NUM + capacity % BUILD_LOAD_DEN + 1;
	if (nslots < MIN_SLOTS)
		nslots = MIN_SLOTS;
	if (nslots > (SIZE_MAX / sizeof(struct slot)) / 2) {
		free(ni);
		return -ENOMEM;
	}
	ni->nslots = nslots;
	ni->max_keys = nslots * MAX_LOAD_NUM / MAX_LOAD_DEN;
	ni->map_bytes = nslots * sizeof(struct slot);
	/* anonymous mmap: zeroed lazily by the kernel, and THP can back large tables */
	void *m = mmap(NULL, ni->map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		       0);
	if (m == MAP_FAILED) {
		free(ni);
		return -ENOMEM;
	}
	if (ni->map_bytes >= (2u << 20))
		madvise(m, ni->map_bytes, MADV_HUGEPAGE); /* best effort */
	ni->slots = m;
	*out = ni;
	return 0;
}

void kelp_needle_index_free(struct kelp_needle_index *ni)
{
	if (!ni)
		return;
	munmap(ni->slots, ni->map_bytes);
	free(ni);
}

/* Set @key to @packed (a live or tombstone value) starting the probe at @i. */
static inline int store(struct kelp_needle_index *ni, uint64_t i, uint64_t key, uint64_t packed)
{
	struct slot *s = ni->slots;
	for (;;) {
		uint64_t cur = s[i].packed;
		if (cur == PACKED_EMPTY) {
			if (packed == PACKED_TOMBSTONE)
				return 0; /* deleting a key we never saw: nothing to keep */
			if (ni->keys >= ni->max_keys)
				return -ENOSPC;
			s[i].key = key;
			/* pairs with the acquire load in lookup: the key is visible before the slot
			 * is */
			__atomic_store_n(&s[i].packed, packed, __ATOMIC_RELEASE);
			/* counters are read racily by other threads: store them whole */
			__atomic_store_n(&ni->keys, ni->keys + 1, __ATOMIC_RELAXED);
			__atomic_store_n(&ni->live, ni->live + 1, __ATOMIC_RELAXED);
			return 0;
		}
		if (s[i].key == key) {
			uint64_t live = ni->live + packed_is_live(packed) - packed_is_live(cur);
			__atomic_store_n(&ni->live, live, __ATOMIC_RELAXED);
			__atomic_store_n(&s[i].packed, packed, __ATOMIC_RELEASE);
			return 0;
		}
		if (++i == ni->nslots)
			i = 0;
	}
}

static inline uint64_t row_packed(const struct kelp_idx_row *row)
{
	return kelp_idx_row_is_live(row) ? pack(row->offset, row->size) : PACKED_TOMBSTONE;
}

int kelp_needle_index_apply(struct kelp_needle_index *ni, const struct kelp_idx_row *row)
{
	if (row->offset > KELP_NEEDLE_INDEX_MAX_OFFSET)
		return -ERANGE;
	return store(ni, home_slot(ni, row->key), row->key, row_packed(row));
}

int kelp_needle_index_load(struct kelp_needle_index *ni, const uint8_t *rows, size_t nrows,
			   int offset_bytes)
{
	size_t rs = kelp_idx_row_size(offset_bytes);
	struct kelp_idx_row batch[LOAD_BATCH];
	uint64_t home[LOAD_BATCH];

	if (!rs)
		return -EINVAL;
	for (size_t done = 0; done < nrows;) {
		size_t n = nrows - done < LOAD_BATCH ? nrows - done : LOAD_BATCH;
		/* first pass: decode and prefetch, so the cache misses of a batch overlap */
		for (size_t j = 0; j < n; j++) {
			kelp_idx_parse_row(rows + (done + j) * rs, offset_bytes, &batch[j]);
			home[j] = home_slot(ni, batch[j].key);
			__builtin_prefetch(&ni->slots[home[j]], 1);
		}
		/* second pass: apply in file order, so the last row still wins */
		for (size_t j = 0; j < n; j++) {
			if (batch[j].offset > KELP_NEEDLE_INDEX_MAX_OFFSET)
				return -ERANGE;
			int rc = store(ni, home[j], batch[j].key, row_packed(&batch[j]));
			if (rc)
				return rc;
		}
		done += n;
	}
	return 0;
}

int kelp_needle_index_lookup(const struct kelp_needle_index *ni, uint64_t key, uint64_t *offset,
			     uint32_t *size)
{
	const struct slot *s = ni->slots;
	uint64_t i = home_slot(ni, key);
	for (;;) {
		/* pairs with the release store in store(): a non-empty slot has its key visible */
		uint64_t packed = __atomic_load_n(&s[i].packed, __ATOMIC_ACQUIRE);
		if (packed == PACKED_EMPTY)
			return -ENOENT;
		if (s[i].key == key) {
			if (!packed_is_live(packed))
				return -ENOENT;
			*offset = packed & OFFSET_MASK;
			*size = (uint32_t)(packed >> SIZE_SHIFT);
			return 0;
		}
		if (++i == ni->nslots)
			i = 0;
	}
}

/* Put @s into the fresh table @n (no concurrent readers, key known absent) from home slot @j. */
static inline void copy_slot(struct kelp_needle_index *n, uint64_t j, const struct slot *s)
{
	while (n->slots[j].packed != PACKED_EMPTY)
		if (++j == n->nslots)
			j = 0;
	n->slots[j] = *s;
	n->keys++;
	n->live += packed_is_live(s->packed);
}

/* A copy in *@out with room for @capacity keys; deleted keys kept when @keep_deleted. The source
 * is read in slot order, the destination slots prefetched a batch ahead (as in load_direct).
 * @return 0 or -ENOMEM. */
static int copy_index(const struct kelp_needle_index *ni, uint64_t capacity, bool keep_deleted,
		      struct kelp_needle_index **out)
{
	struct kelp_needle_index *n;
	int rc = kelp_needle_index_new(capacity, &n);
	*out = NULL;
	if (rc)
		return rc;
	n->deleted_dropped = ni->deleted_dropped + (keep_deleted ? 0 : ni->keys - ni->live);
	const struct slot *batch[LOAD_BATCH];
	uint64_t home[LOAD_BATCH];
	size_t nb = 0;
	for (uint64_t i = 0; i <= ni->nslots; i++) {
		if (i < ni->nslots) {
			const struct slot *s = &ni->slots[i];
			if (s->packed == PACKED_EMPTY ||
			    (!keep_deleted && !packed_is_live(s->packed)))
				continue;
			batch[nb] = s;
			home[nb] = home_slot(n, s->key);
			__builtin_prefetch(&n->slots[home[nb]], 1);
			if (++nb < LOAD_BATCH)
				continue;
		}
		for (size_t b = 0; b < nb; b++)
			copy_slot(n, home[b], batch[b]);
		nb = 0;
	}
	*out = n;
	return 0;
}

int kelp_needle_index_clone(const struct kelp_needle_index *ni, uint64_t capacity,
			    struct kelp_needle_index **out)
{
	*out = NULL;
	if (capacity < ni->keys)
		return -EINVAL;
	/* tombstones are kept too: counts stay exact */
	return copy_index(ni, capacity, true, out);
}

int kelp_needle_index_shrink(const struct kelp_needle_index *ni, struct kelp_needle_index **out)
{
	*out = NULL;
	if ((ni->keys - ni->live) * 8 <= ni->keys)
		return 0;
	return copy_index(ni, ni->live, false, out);
}

uint64_t kelp_needle_index_live(const struct kelp_needle_index *ni)
{
	return __atomic_load_n(&ni->live, __ATOMIC_RELAXED);
}

uint64_t kelp_needle_index_deleted(const struct kelp_needle_index *ni)
{
	return __atomic_load_n(&ni->keys, __ATOMIC_RELAXED) - kelp_needle_index_live(ni) +
	       ni->deleted_dropped;
}

uint64_t kelp_needle_index_slots(const struct kelp_needle_index *ni)
{
	return ni->nslots;
}

uint64_t kelp_needle_index_keys(const struct kelp_needle_index *ni)
{
	return __atomic_load_n(&ni->keys, __ATOMIC_RELAXED);
}

size_t kelp_needle_index_memory(const struct kelp_needle_index *ni)
{
	return ni->map_bytes + sizeof(*ni);
}

int kelp_needle_index_next(const struct kelp_needle_index *ni, uint64_t *cursor, uint64_t *key,
			   uint64_t *offset, uint32_t *size)
{
	for (uint64_t i = *cursor; i < ni->nslots; i++) {
		uint64_t packed = ni->slots[i].packed;
		if (!packed_is_live(packed))
			continue;
		*key = ni->slots[i].key;
		*offset = packed & OFFSET_MASK;
		*size = (uint32_t)(packed >> SIZE_SHIFT);
		*cursor = i + 1;
		return 1;
	}
	*cursor = ni->nslots;
	return 0;
}
