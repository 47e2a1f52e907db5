/* SPDX-License-Identifier: Apache-2.0 */
/*
 * In-memory needle index: key -> (offset, size) for one volume, built from .idx rows where the last
 * row for a key wins and tombstone rows (size negative, or offset 0) delete.
 *
 * Layout: one open-addressing table of 16-byte slots {key u64, packed u64}, packed = offset (40
 * bits, 8-byte units, so 5-byte .idx offsets fit) | size (24 bits) << 40. Linear probing from a
 * home slot picked by range reduction (hash * nslots >> 64), so the table is sized from the row
 * count with no power-of-two rounding: about 21 bytes per needle at the 0.75 load it is built with.
 * Sizes >= KELP_NEEDLE_INDEX_SIZE_LARGE (16 MiB - 2) are not kept: lookups report
 * KELP_NEEDLE_INDEX_SIZE_LARGE and the caller takes the size from the record header.
 * Deleted keys keep their slot (packed = tombstone) so a later row can revive them and counts stay
 * exact.
 *
 * Threads: one writer (kelp_needle_index_apply/load) may run concurrently with any number of
 * readers (kelp_needle_index_lookup): slots are published with release stores of the packed word,
 * readers load it with acquire, so a reader sees either the old or the new value of a key, never a
 * torn one. Apply never grows the table (it returns -ENOSPC instead); growing means building a new
 * index (kelp_needle_index_clone) and publishing it, which the owner does under its epoch scheme.
 */
#ifndef KELP_CORE_NEEDLE_INDEX_H
#define KELP_CORE_NEEDLE_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "core/idx.h"

#define KELP_NEEDLE_INDEX_SIZE_LARGE 0xFFFFFEu
#define KELP_NEEDLE_INDEX_MAX_OFFSET ((1ull << 40) - 1)

struct kelp_needle_index;

/*
 * kelp_needle_index_new - an empty index with room for @capacity distinct keys (at 0.75 load; at
 * least 64 slots). Control thread (or any single owner).
 * @return 0 and the index in *@out, or -ENOMEM (*@out NULL).
 */
int kelp_needle_index_new(uint64_t capacity, struct kelp_needle_index **out);

/* kelp_needle_index_free - free @ni (NULL is fine). No reader may still use it. */
void kelp_needle_index_free(struct kelp_needle_index *ni);

/*
 * kelp_needle_index_apply - apply one .idx row: live rows insert or replace, tombstone rows delete.
 * Writer only.
 * @return 0; -ENOSPC when the table is full (above 0.9 load: rebuild with kelp_needle_index_clone);
 * -ERANGE when the offset needs more than 40 bits.
 */
int kelp_needle_index_apply(struct kelp_needle_index *ni, const struct kelp_idx_row *row);

/*
 * kelp_needle_index_load - apply @nrows raw .idx rows at @rows (@offset_bytes 4 or 5) in order,
 * prefetching slots in batches (this is the fast path for opening a volume). Writer only.
 * @return 0, or the first error of kelp_needle_index_apply (rows before it are applied).
 */
int kelp_needle_index_load(struct kelp_needle_index *ni, const uint8_t *rows, size_t nrows,
			   int offset_bytes);

/*
 * kelp_needle_index_lookup - find live key @key. Any thread.
 * @return 0 with *offset (8-byte units) and *size (KELP_NEEDLE_INDEX_SIZE_LARGE when >= that);
 * -ENOENT when the key was never indexed or its last row deleted it.
 */
int kelp_needle_index_lookup(const struct kelp_needle_index *ni, uint64_t key, uint64_t *offset,
			     uint32_t *size);

/*
 * kelp_needle_index_clone - a new index holding the same entries with room for @capacity keys
 * (>= the current key count). Writer only (no apply may run during it).
 * @return 0 and the new index in *@out; -ENOMEM; -EINVAL when @capacity is below the key count
 * (*@out NULL on error).
 */
int kelp_needle_index_clone(const struct kelp_needle_index *ni, uint64_t capacity,
			    struct kelp_needle_index **out);

/*
 * kelp_needle_index_shrink - if deleted keys hold more than 1/8 of the slots' keys, a new index of
 * only the live entries, sized for them (so a freshly opened volume with many deletes still uses
 * ~21 bytes per live needle); else none (*@out NULL). Deleted keys dropped this way still count in
 * kelp_needle_index_deleted() (a later row reviving one of them is not subtracted: the count is
 * then one too high). Writer only, no concurrent apply.
 * @return 0 and in *@out the new index (free the old one) or NULL when not worth it; -ENOMEM
 * (*@out NULL).
 */
int kelp_needle_index_shrink(const struct kelp_needle_index *ni, struct kelp_needle_index **out);

/* Counts and sizes. Any thread (racy but never torn when a writer runs). */
uint64_t kelp_needle_index_live(const struct kelp_needle_index *ni);
uint64_t
kelp_needle_index_deleted(const struct kelp_needle_index *ni); /* keys whose last row deletes */
uint64_t kelp_needle_index_slots(const struct kelp_needle_index *ni);
uint64_t kelp_needle_index_keys(const struct kelp_needle_index *ni); /* live + deleted */
/* kelp_needle_index_memory - bytes allocated for @ni (table and struct). */
size_t kelp_needle_index_memory(const struct kelp_needle_index *ni);

/*
 * kelp_needle_index_next - iterate the live entries in table order: start with *cursor = 0.
 * Writer or a reader with no concurrent writer.
 * @return 1 with the entry, 0 at the end.
 */
int kelp_needle_index_next(const struct kelp_needle_index *ni, uint64_t *cursor, uint64_t *key,
			   uint64_t *offset, uint32_t *size);

#endif
