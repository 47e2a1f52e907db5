/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelpd's client of SeaweedFS filers ([filer] address): entry lookups (GET /path?metadata=true)
 * through the metadata cache (filer_cache.h), and directory listings (GET /dir/?limit=N&
 * lastFileName=X, Accept: application/json), over the control thread's io_uring HTTP client
 * (http_client.h, keep-alive). Several addresses fail over: a request that gets no answer
 * (refused, reset, timed out after [filer] timeout_ms) or a 5xx goes to the next address, and the
 * one that answered is tried first from then on. When every address failed: -ETIMEDOUT when every
 * one timed out, else -EHOSTUNREACH (-EIO when every one answered 5xx).
 *
 * Ownership: everything belongs to the control thread (the ring's). The wait/list structs belong to
 * the caller and must stay valid until their done runs.
 */
#ifndef KELP_LCORE_FILER_H
#define KELP_LCORE_FILER_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

#include "lcore/cluster/filer_cache.h"
#include "lcore/uring_op.h"

struct kelp_filer;

struct kelp_filer_opts {
	const char *const *addrs; /* host:port (names are resolved at create) */
	unsigned n_addrs;
	uint32_t timeout_ms; /* per request to one filer, > 0 */
	uint32_t ttl_ms;     /* metadata cache TTL; 0 = no cache */
	uint32_t cache_entries;
	/* a lookup that misses the cache lists the path's directory instead, up to this many
	 * entries (pages of 1024; at most cache_entries), caching every entry; the lookups waiting
	 * for it are answered from its pages, and a name it does not have is looked up alone.
	 * A directory listed so is not listed again for the TTL, except ahead of it: one whose
	 * files were read since it was listed is listed again when half the TTL has passed (a TTL
	 * of 100 ms or more), so a directory read for longer than the TTL stays cached (and served
	 * by the lcores) while every entry is still at most the TTL old. 0 = look each path up
	 * alone. */
	uint32_t list_max;
};

/*
 * kelp_filer_create - a filer client issuing its I/O on @ring. Start-up only (resolves names).
 * Return: 0 and *@out; -EINVAL no address or one that does not resolve (said on stderr); -ENOMEM.
 */
int kelp_filer_create(struct io_uring *ring, const struct kelp_filer_opts *o,
		      struct kelp_filer **out);

/* kelp_filer_shutdown - fail what waits with -ECANCELED; keep dispatching until busy is 0, then
 * destroy. */
void kelp_filer_shutdown(struct kelp_filer *f);
unsigned kelp_filer_busy(const struct kelp_filer *f);
/* Whether @op (a CQE's) belongs to this client (draining the ring at stop). */
bool kelp_filer_owns_op(const struct kelp_filer *f, const struct kelp_ctl_op *op);
void kelp_filer_destroy(struct kelp_filer *f);

/* A lookup that waits for the filer. done: @err 0 and @e (a reference for the waiter: put it), or
 * -errno (-ENOENT, -ETIMEDOUT, -EHOSTUNREACH, -EBADMSG, -EIO, -ECANCELED, -ENOMEM) and NULL. */
struct kelp_filer_wait {
	void (*done)(struct kelp_filer_wait *w, int err, struct kelp_fentry *e);
	struct kelp_filer_wait *next; /* private */
};

/*
 * kelp_filer_lookup - the entry of @path (@len bytes, checked by the caller: core/fpath.h).
 * Return: 0 and *@hit (a reference) from the cache; -EINPROGRESS: @w->done runs later (never
 * inside this call); another -errno at once (a cached -ENOENT, -ENOMEM, -ECANCELED).
 */
int kelp_filer_lookup(struct kelp_filer *f, const char *path, size_t len, struct kelp_filer_wait *w,
		      struct kelp_fentry **hit);

/* kelp_filer_forget - drop @path from the cache (a read found its chunks gone). */
void kelp_filer_forget(struct kelp_filer *f, const char *path, size_t len);

/* kelp_filer_set_plans - publish the read plans of cached entries to @t (filer_cache.h). */
struct kelp_path_table;
void kelp_filer_set_plans(struct kelp_filer *f, struct kelp_path_table *t);

/* One listed name and its entry (a reference owned by the list). */
struct kelp_filer_dirent {
	char name[256];
	struct kelp_fentry *e;
};

/*
 * A directory listing: up to @limit names after @after in @dir (both NUL-terminated, owned by the
 * caller until done). done: @err 0 and ents[0..n) (free with kelp_filer_list_free), or -errno as
 * for a lookup. The listed entries are also cached (one page fills the metadata of many files).
 */
struct kelp_filer_list {
	const char *dir, *after;
	unsigned limit;
	void (*done)(struct kelp_filer_list *l, int err);
	struct kelp_filer_dirent *ents;
	unsigned n;
	bool more; /* the filer says more follow (ShouldDisplayLoadMore) */
};

/* kelp_filer_list_start - start @l. Return: 0 (done follows, never inside); -errno at once. */
int kelp_filer_list_start(struct kelp_filer *f, struct kelp_filer_list *l);
/* kelp_filer_list_free - put the entries and free the array of a finished listing. */
void kelp_filer_list_free(struct kelp_filer_list *l);

/* Counters for kelpctl stats. */
struct kelp_filer_stats {
	uint64_t lookups;	/* asked of the filer (cache misses that went out) */
	uint64_t lists;		/* listing pages asked */
	uint64_t dir_lists;	/* directories listed because a lookup missed (list_max) */
	uint64_t dir_list_hits; /* lookups those listings answered */
	uint64_t dir_refreshes; /* directories listed again before their TTL ended, being read */
	uint64_t filer_errors;	/* requests to one filer that failed (then failed over) */
	uint64_t failovers;	/* requests that went to another address */
	uint64_t bad_answers;	/* answers kelp could not parse (-EBADMSG) */
	struct kelp_filer_cache_stats cache;
};
void kelp_filer_get_stats(const struct kelp_filer *f, struct kelp_filer_stats *s);

#endif
