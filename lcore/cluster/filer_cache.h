/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The filer metadata cache of kelpd (lcore/cluster/filer.h): path -> entry, or path -> "no such
 * path" (a negative lookup), each for a TTL ([filer] metadata_ttl_ms), at most a fixed number of
 * them ([filer] cache_entries; the least recently used goes first). Entries are reference-counted
 * and immutable once cached: a request that holds one keeps reading it while the cache replaces
 * or evicts it.
 *
 * The clock is the caller's (now_ns arguments), so unit tests drive it by hand.
 * Control thread only (no locks).
 */
#ifndef KELP_LCORE_FILER_CACHE_H
#define KELP_LCORE_FILER_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/chunk_plan.h"
#include "proto/filer_entry.h"

/*
 * A filer entry as kelpd caches it: the parsed entry (proto/filer_entry.h), and, made by the first
 * read that needs them (lcore/control/filer_req.c), the file's data chunks with every chunk
 * manifest resolved and their visible intervals (proto/chunk_plan.h). Immutable once cached, but
 * for that one step (the control thread is the only one to touch it).
 */
struct kelp_fentry {
	unsigned refs;
	struct kelp_filer_entry ent;
	bool planned;		       /* data / vis below are set */
	struct kelp_filer_chunk *data; /* data chunks, manifests resolved (owned) */
	uint32_t n_data;
	struct kelp_chunk_visible *vis; /* which chunk shows where (owned) */
	uint32_t nvis;
};

/* kelp_fentry_get / _put - take / drop a reference; the last put frees. NULL is ignored. */
void kelp_fentry_get(struct kelp_fentry *e);
void kelp_fentry_put(struct kelp_fentry *e);

struct kelp_filer_cache;

/*
 * kelp_filer_cache_create - a cache of at most @max_entries (0: nothing is cached) kept @ttl_ns.
 * Return: 0 and *@out; -ENOMEM.
 */
int kelp_filer_cache_create(uint32_t max_entries, uint64_t ttl_ns, struct kelp_filer_cache **out);
void kelp_filer_cache_destroy(struct kelp_filer_cache *c);

/*
 * kelp_filer_cache_get - what is cached for @path (@len bytes) and not expired at @now_ns.
 * Return: 1 and *@e (a new reference) for an entry; 1 and *@e NULL with *@err set (-ENOENT) for a
 * negative one; 0 when nothing (valid) is cached (an expired one is dropped).
 */
int kelp_filer_cache_get(struct kelp_filer_cache *c, const char *path, size_t len, uint64_t now_ns,
			 struct kelp_fentry **e, int *err);

/*
 * kelp_filer_cache_put - cache @e (the cache takes its own reference), or, when @e is NULL, the
 * negative result @err, for @path from @now_ns on; replaces what was there. Evicts the least
 * recently used when full. Return: 0; -ENOMEM (nothing cached; not an error for the caller).
 */
int kelp_filer_cache_put(struct kelp_filer_cache *c, const char *path, size_t len, uint64_t now_ns,
			 struct kelp_fentry *e, int err);

/* kelp_filer_cache_drop - forget @path (e.g. a read found it changed). */
void kelp_filer_cache_drop(struct kelp_filer_cache *c, const char *path, size_t len);

/*
 * kelp_filer_cache_set_plans - mirror the cache into @t (lcore/path_table.h; NULL = stop): every
 * entry cached from now on gets its read plan published there, valid as long as the entry, and
 * every entry the cache drops (replaced, expired, evicted, forgotten) is removed from it. So an
 * lcore never serves a plan the cache would no longer answer with.
 */
struct kelp_path_table;
void kelp_filer_cache_set_plans(struct kelp_filer_cache *c, struct kelp_path_table *t);

struct kelp_filer_cache_stats {
	uint64_t hits, negative_hits, misses, expired, evictions;
	uint32_t entries;
};
void kelp_filer_cache_get_stats(const struct kelp_filer_cache *c, struct kelp_filer_cache_stats *s);

#endif
