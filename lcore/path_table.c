/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The lcores' table of resolved path-read plans (path_table.h). Control thread writes, lcores read.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/epoch.h"
#include "lcore/path_table.h"

#define SLOTS_MIN 64u
#define SLOTS_MAX (1u << 22)

struct kelp_path_table {
	struct kelp_epoch *epoch;
	size_t mask;  /* of the slots: there are mask + 1 */
	size_t bmask; /* of the buckets: there are (mask + 1) / KELP_PATH_WAYS */
	/* bucket b is slots[b * KELP_PATH_WAYS ...], half a cache line; atomic: release store
	 * (control), acquire load (lcores) */
	struct kelp_path_plan **slots;
	struct kelp_path_table_stats st;
	/* last read of a directory, by hash slot: lcores store, the control thread loads (own
	 * cache lines, away from what the lcores only read) */
	uint64_t heat[KELP_PATH_HEAT_SLOTS] __attribute__((aligned(64)));
};

int kelp_path_table_create(struct kelp_epoch *epoch, uint32_t entries, struct kelp_path_table **out)
{
	*out = NULL;
	if (!epoch)
		return -EINVAL;
	size_t n = SLOTS_MIN;
	while (n < SLOTS_MAX && n < (size_t)entries * 2)
		n *= 2;
	struct kelp_path_table *t = aligned_alloc(64, sizeof(*t));
	if (!t)
		return -ENOMEM;
	memset(t, 0, sizeof(*t));
	t->slots = aligned_alloc(64, n * sizeof(*t->slots));
	if (!t->slots) {
		free(t);
		return -ENOMEM;
	}
	memset(t->slots, 0, n * sizeof(*t->slots));
	t->epoch = epoch;
	t->mask = n - 1;
	t->bmask = n / KELP_PATH_WAYS - 1;
	*out = t;
	return 0;
}

static void free_table(void *p)
{
	struct kelp_path_table *t = p;
	free(t->slots);
	free(t);
}

/* Empty slot @i; the plan it held goes to the epoch. */
static void clear_slot(struct kelp_path_table *t, size_t i)
{
	struct kelp_path_plan *old = t->slots[i];
	if (!old)
		return;
	__atomic_store_n(&t->slots[i], NULL, __ATOMIC_RELEASE);
	/* -ENOMEM: an lcore may still read it, so it is not freed (a leak of one plan, never a
	 * use after free) */
	(void)kelp_epoch_retire(t->epoch, free, old);
}

void kelp_path_table_retire(struct kelp_path_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i <= t->mask; i++)
		clear_slot(t, i);
	/* -ENOMEM: an lcore may still load a slot, so the array is leaked rather than freed */
	(void)kelp_epoch_retire(t->epoch, free_table, t);
}

void kelp_path_table_destroy(struct kelp_path_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i <= t->mask; i++)
		free(t->slots[i]);
	free_table(t);
}

/* The heat slot of the directory of @path: the bytes before its last "/" ("/" for the root). */
static uint32_t dir_slot(const char *path, size_t len)
{
	size_t dl = len;
	while (dl > 0 && path[dl - 1] != '/')
		dl--;
	return (uint32_t)(kelp_path_hash(path, dl > 1 ? dl - 1 : 1) & (KELP_PATH_HEAT_SLOTS - 1));
}

static void touch_slot(struct kelp_path_table *t, uint32_t slot, uint64_t now_ns)
{
	uint64_t *h = &t->heat[slot];
	if (__atomic_load_n(h, __ATOMIC_RELAXED) + 1000000u < now_ns) /* a store a ms at most */
		__atomic_store_n(h, now_ns, __ATOMIC_RELAXED);
}

void kelp_path_table_touch(struct kelp_path_table *t, const struct kelp_path_plan *p,
			   uint64_t now_ns)
{
	touch_slot(t, p->dir, now_ns);
}

void kelp_path_table_touch_path(struct kelp_path_table *t, const char *path, size_t len,
				uint64_t now_ns)
{
	touch_slot(t, dir_slot(path, len), now_ns);
}

uint64_t kelp_path_table_dir_read(const struct kelp_path_table *t, const char *dir, size_t len)
{
	return __atomic_load_n(&t->heat[kelp_path_hash(dir, len) & (KELP_PATH_HEAT_SLOTS - 1)],
			       __ATOMIC_RELAXED);
}

static bool same(const struct kelp_path_plan *p, const char *path, size_t len, uint64_t h)
{
	return p->hash == h && p->len == len && !memcmp(p->path, path, len);
}

/* The first slot of the bucket of hash @h. */
static size_t bucket(const struct kelp_path_table *t, uint64_t h)
{
	return (size_t)(h & t->bmask) * KELP_PATH_WAYS;
}

/*
 * The slot of @path in its bucket @b, or -1. A path is in at most one slot of its bucket: publish
 * replaces it where it is.
 */
static long slot_of(const struct kelp_path_table *t, size_t b, const char *path, size_t len,
		    uint64_t h)
{
	for (size_t w = 0; w < KELP_PATH_WAYS; w++)
		if (t->slots[b + w] && same(t->slots[b + w], path, len, h))
			return (long)(b + w);
	return -1;
}

/* Whether the lcore may serve @ent from a plan (path_table.h: plain chunks only). */
static bool plannable(const struct kelp_filer_entry *ent)
{
	if (!S_ISREG(ent->attr.mode) || ent->content || ent->nchunks > KELP_PATH_PLAN_MAX_CHUNKS)
		return false;
	for (uint32_t i = 0; i < ent->nchunks; i++) {
		const struct kelp_filer_chunk *c = &ent->chunks[i];
		if (c->is_chunk_manifest || c->cipher_key_len || c->is_compressed)
			return false;
	}
	return true;
}

int kelp_path_table_publish(struct kelp_path_table *t, const char *path, size_t len,
			    const struct kelp_filer_entry *ent, uint64_t expires_ns)
{
	if (!plannable(ent)) {
		t->st.skipped++;
		kelp_path_table_remove(t, path, len);
		return 0;
	}
	struct kelp_chunk_visible *vis = NULL;
	uint32_t nvis = 0;
	int rc = kelp_chunk_visibles(ent->chunks, ent->nchunks, &vis, &nvis);
	if (rc) {
		t->st.skipped++;
		kelp_path_table_remove(t, path, len);
		return rc == -ENOMEM ? rc : 0;
	}
	/* one allocation: header, visible intervals, fids, path */
	size_t vis_off = (sizeof(struct kelp_path_plan) + len + 7) & ~(size_t)7;
	size_t fid_off = vis_off + (size_t)nvis * sizeof(*vis);
	size_t total = fid_off + (size_t)ent->nchunks * sizeof(struct kelp_fid);
	struct kelp_path_plan *p = malloc(total);
	if (!p) {
		free(vis);
		kelp_path_table_remove(t, path, len);
		return -ENOMEM;
	}
	uint64_t h = kelp_path_hash(path, len);
	struct kelp_chunk_visible *pv = (struct kelp_chunk_visible *)((char *)p + vis_off);
	struct kelp_fid *pf = (struct kelp_fid *)((char *)p + fid_off);
	if (nvis)
		memcpy(pv, vis, nvis * sizeof(*vis));
	free(vis);
	for (uint32_t i = 0; i < ent->nchunks; i++)
		pf[i] = ent->chunks[i].fid;
	*p = (struct kelp_path_plan){.hash = h,
				     .expires_ns = expires_ns,
				     .size = ent->attr.size,
				     .vis = pv,
				     .fids = pf,
				     .nvis = nvis,
				     .nfids = ent->nchunks,
				     .dir = dir_slot(path, len),
				     .len = (uint32_t)len};
	memcpy(p->path, path, len);
	/* its own slot, else a free one, else the one that expires first (the oldest publish) */
	size_t b = bucket(t, h);
	long own = slot_of(t, b, path, len, h);
	size_t i = own >= 0 ? (size_t)own : b;
	for (size_t w = 0; own < 0 && w < KELP_PATH_WAYS; w++) {
		if (!t->slots[b + w]) {
			i = b + w;
			break;
		}
		if (t->slots[b + w]->expires_ns < t->slots[i]->expires_ns)
			i = b + w;
	}
	struct kelp_path_plan *old = t->slots[i];
	if (old && own < 0)
		t->st.displaced++;
	__atomic_store_n(&t->slots[i], p, __ATOMIC_RELEASE);
	if (old)
		(void)kelp_epoch_retire(t->epoch, free,
					old); /* -ENOMEM: leaked, never freed early */
	t->st.published++;
	return 1;
}

void kelp_path_table_remove(struct kelp_path_table *t, const char *path, size_t len)
{
	uint64_t h = kelp_path_hash(path, len);
	long i = slot_of(t, bucket(t, h), path, len, h);
	if (i >= 0) {
		clear_slot(t, (size_t)i);
		t->st.removed++;
	}
}

const struct kelp_path_plan *kelp_path_table_find(const struct kelp_path_table *t,
						  const uint8_t *path, size_t len, uint64_t now_ns)
{
	uint64_t h = kelp_path_hash(path, len);
	struct kelp_path_plan *const *b = &t->slots[bucket(t, h)];
	for (size_t w = 0; w < KELP_PATH_WAYS; w++) {
		const struct kelp_path_plan *p = __atomic_load_n(&b[w], __ATOMIC_ACQUIRE);
		if (p && p->hash == h && p->len == len && memcmp(p->path, path, len) == 0)
			return now_ns < p->expires_ns ? p : NULL; /* a path has one slot at most */
	}
	return NULL;
}

void kelp_path_table_get_stats(const struct kelp_path_table *t, struct kelp_path_table_stats *s)
{
	*s = t->st;
}
