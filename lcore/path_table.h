/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Resolved read plans of files by path, published by the control thread for the lcores, so that a
 * KELP_OP_PATH_READ of a file whose filer entry is cached and whose chunks are on this host is
 * served on the lcore that took it, without the hand-off to the control thread and back.
 *
 * A plan is immutable once published: the file's size, its visible intervals (proto/chunk_plan.h)
 * and the fid of each chunk they name, and when it stops being valid (the filer cache entry's
 * expiry: [filer] metadata_ttl_ms). Only plain chunks get a plan (no manifest, no cipher, not
 * marked compressed); everything else, and whatever the lcore cannot serve with a plan (a chunk
 * not local, a needle stored gzip, a bad copy), goes the usual way, to the control thread.
 *
 * The table is set-associative: a path's hash picks a bucket of KELP_PATH_WAYS slots, so that a few
 * hot files whose hashes share a bucket all stay on the lcores (a direct-mapped table sent ~2 % of
 * a 10,000-file epoch to the control thread). When a publish finds its bucket full of other paths,
 * the plan that expires first (the oldest publish) loses its slot; that file is then served by the
 * control thread, still from its cache. Slots are pointers the control thread replaces with release
 * stores and lcores load with acquire; a replaced or removed plan is freed through the engine's
 * epoch (core/epoch.h) once every lcore passed a quiescent point, so a plan an lcore found stays
 * readable for its whole poll round.
 *
 * Who may call: create, publish, remove, retire: control thread only (the filer cache's owner);
 * kelp_path_table_find, kelp_path_table_touch, kelp_path_hash: any thread (the lcores; no
 * allocation, lock, syscall).
 */
#ifndef KELP_LCORE_PATH_TABLE_H
#define KELP_LCORE_PATH_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "core/fid.h"
#include "proto/chunk_plan.h"
#include "proto/filer_entry.h"

struct kelp_epoch;

struct kelp_path_plan {
	uint64_t hash;
	uint64_t expires_ns; /* CLOCK_MONOTONIC (kelp_now_ns); not served from then on */
	uint64_t size;	     /* the entry's FileSize */
	const struct kelp_chunk_visible *vis; /* nvis, sorted (inside this allocation) */
	const struct kelp_fid *fids;	      /* indexed by vis[i].chunk (inside this allocation) */
	uint32_t nvis, nfids;
	uint32_t dir; /* the heat slot of its directory (kelp_path_table_touch) */
	uint32_t len; /* of path */
	char path[];  /* not NUL-terminated */
};

struct kelp_path_table;

/* Counters of the control thread's side (kelpctl stats "filer"). */
struct kelp_path_table_stats {
	uint64_t published; /* plans published (a replaced one counts again) */
	uint64_t removed;   /* removed because the cache dropped the entry */
	uint64_t displaced; /* lost their slot to another path (their bucket was full) */
	uint64_t skipped;   /* entries not planned: manifest, encrypted, compressed, inline,
			     * directory, or too many chunks */
};

/* Slots of a bucket (path_table.h top): 4 pointers, half a cache line. */
#define KELP_PATH_WAYS 4u

/* Plans of files with more chunks than this are not published (the control thread reads those). */
#define KELP_PATH_PLAN_MAX_CHUNKS 64u

/*
 * kelp_path_table_create - a table of the next power of two >= 2 x @entries slots (at least 64,
 * at most 2^22; in buckets of KELP_PATH_WAYS), whose old plans are freed through @epoch. Control
 * thread. Return: 0 and *@out; -EINVAL no epoch; -ENOMEM.
 */
int kelp_path_table_create(struct kelp_epoch *epoch, uint32_t entries,
			   struct kelp_path_table **out);

/*
 * kelp_path_table_retire - hand the table and every plan in it to the epoch (freed once no lcore
 * can see them; kelp_epoch_free frees what is left at exit). The caller first unpublished the
 * table pointer the lcores load. Control thread. NULL is ignored.
 */
void kelp_path_table_retire(struct kelp_path_table *t);

/* kelp_path_table_destroy - free at once (no reader may hold anything: unit tests, start-up). */
void kelp_path_table_destroy(struct kelp_path_table *t);

/*
 * kelp_path_table_publish - publish the plan of @ent (the entry of @path, @len bytes) valid until
 * @expires_ns, replacing @path's older plan, else in a free slot of its bucket, else in place of
 * the bucket's plan that expires first; or, when @ent cannot be planned (see the top), remove
 * what was published for @path. Control thread.
 * Return: 1 published; 0 not plannable (removed); -ENOMEM (removed; the control thread serves it).
 */
int kelp_path_table_publish(struct kelp_path_table *t, const char *path, size_t len,
			    const struct kelp_filer_entry *ent, uint64_t expires_ns);

/* kelp_path_table_remove - stop serving @path from the table (the cache dropped it). Control
 * thread. */
void kelp_path_table_remove(struct kelp_path_table *t, const char *path, size_t len);

/*
 * kelp_path_table_find - the plan of @path (@len bytes, which may be a client's and change while
 * they are read: at worst nothing is found), if published and still valid at @now_ns. The plan
 * stays valid until the caller's next quiescent point. Any thread, lock-free.
 * Return: the plan or NULL.
 */
const struct kelp_path_plan *kelp_path_table_find(const struct kelp_path_table *t,
						  const uint8_t *path, size_t len, uint64_t now_ns);

void kelp_path_table_get_stats(const struct kelp_path_table *t, struct kelp_path_table_stats *s);

/*
 * Directory heat: when a file of a directory was last read, so that the control thread lists a
 * directory again before its entries' TTL ends only while it is being read (lcore/cluster/filer.c
 * refresh_due). One u64 per hash slot of the directory's path (KELP_PATH_HEAT_SLOTS; two
 * directories in one slot at worst refresh one listing too many); relaxed stores, stored at most
 * once a millisecond per slot.
 *
 * kelp_path_table_touch - @p (found by kelp_path_table_find) was read at @now_ns. Any thread (the
 * lcore that served it; no allocation, lock, syscall).
 * kelp_path_table_touch_path - the same for @path (@len bytes; a read the control thread served
 * from its cache). Control thread.
 * kelp_path_table_dir_read - when a file of directory @dir (@len bytes, "/" for the root, no
 * trailing "/") was last read (0: never). Control thread.
 */
#define KELP_PATH_HEAT_SLOTS 4096u
void kelp_path_table_touch(struct kelp_path_table *t, const struct kelp_path_plan *p,
			   uint64_t now_ns);
void kelp_path_table_touch_path(struct kelp_path_table *t, const char *path, size_t len,
				uint64_t now_ns);
uint64_t kelp_path_table_dir_read(const struct kelp_path_table *t, const char *dir, size_t len);

/* kelp_path_hash - FNV-1a of @len bytes at @p. Any thread. */
static inline uint64_t kelp_path_hash(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

#endif
