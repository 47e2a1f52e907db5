/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The filer metadata cache (filer_cache.h): a chained hash table of paths plus an LRU list through
 * the same nodes. Control thread only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lcore/cluster/filer_cache.h"
#include "lcore/path_table.h"

struct node {
	struct node *hnext;	  /* hash chain */
	struct node *prev, *next; /* LRU: head = most recent */
	uint64_t hash;
	uint64_t expires_ns;
	struct kelp_fentry *e; /* NULL: negative */
	int err;
	size_t len;
	char path[]; /* not NUL-terminated */
};

struct kelp_filer_cache {
	uint32_t max, n;
	uint64_t ttl_ns;
	size_t mask; /* buckets - 1 */
	struct node **buckets;
	struct node *head, *tail;
	struct kelp_filer_cache_stats st;
	struct kelp_path_table *plans; /* NULL: none; else mirrors what is cached (filer_cache.h) */
};

void kelp_fentry_get(struct kelp_fentry *e)
{
	if (e)
		e->refs++;
}

void kelp_fentry_put(struct kelp_fentry *e)
{
	if (!e || --e->refs)
		return;
	kelp_filer_entry_free(&e->ent);
	free(e->data);
	free(e->vis);
	free(e);
}

static uint64_t hash_path(const char *p, size_t len)
{
	return kelp_path_hash(p, len);
}

int kelp_filer_cache_create(uint32_t max_entries, uint64_t ttl_ns, struct kelp_filer_cache **out)
{
	struct kelp_filer_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	size_t nb = 16;
	while (nb < (size_t)max_entries * 2)
		nb *= 2;
	c->buckets = calloc(nb, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return -ENOMEM;
	}
	c->mask = nb - 1;
	c->max = max_entries;
	c->ttl_ns = ttl_ns;
	*out = c;
	return 0;
}

static void lru_unlink(struct kelp_filer_cache *c, struct node *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		c->head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		c->tail = n->prev;
	n->prev = n->next = NULL;
}

static void lru_push_front(struct kelp_filer_cache *c, struct node *n)
{
	n->prev = NULL;
	n->next = c->head;
	if (c->head)
		c->head->prev = n;
	c->head = n;
	if (!c->tail)
		c->tail = n;
}

/* The chain link that points at @path's node (or at the NULL ending the chain). */
static struct node **find(struct kelp_filer_cache *c, const char *path, size_t len, uint64_t h)
{
	struct node **pp = &c->buckets[h & c->mask];
	while (*pp && !((*pp)->hash == h && (*pp)->len == len && !memcmp((*pp)->path, path, len)))
		pp = &(*pp)->hnext;
	return pp;
}

static void remove_node(struct kelp_filer_cache *c, struct node **pp)
{
	struct node *n = *pp;
	*pp = n->hnext;
	lru_unlink(c, n);
	if (c->plans && n->e)
		kelp_path_table_remove(c->plans, n->path, n->len);
	kelp_fentry_put(n->e);
	free(n);
	c->n--;
}

void kelp_filer_cache_destroy(struct kelp_filer_cache *c)
{
	if (!c)
		return;
	for (size_t b = 0; b <= c->mask; b++)
		while (c->buckets[b])
			remove_node(c, &c->buckets[b]);
	free(c->buckets);
	free(c);
}

int kelp_filer_cache_get(struct kelp_filer_cache *c, const char *path, size_t len, uint64_t now_ns,
			 struct kelp_fentry **e, int *err)
{
	uint64_t h = hash_path(path, len);
	struct node **pp = find(c, path, len, h);
	struct node *n = *pp;
	if (!n) {
		c->st.misses++;
		return 0;
	}
	if (now_ns >= n->expires_ns) {
		remove_node(c, pp);
		c->st.expired++;
		c->st.misses++;
		return 0;
	}
	lru_unlink(c, n);
	lru_push_front(c, n);
	if (n->e) {
		c->st.hits++;
		kelp_fentry_get(n->e);
	} else {
		c->st.negative_hits++;
		*err = n->err;
	}
	*e = n->e;
	return 1;
}

int kelp_filer_cache_put(struct kelp_filer_cache *c, const char *path, size_t len, uint64_t now_ns,
			 struct kelp_fentry *e, int err)
{
	if (c->max == 0 || c->ttl_ns == 0)
		return 0;
	uint64_t h = hash_path(path, len);
	struct node **pp = find(c, path, len, h);
	if (*pp)
		remove_node(c, pp);
	while (c->n >= c->max) {
		struct node *old = c->tail;
		remove_node(c, find(c, old->path, old->len, old->hash));
		c->st.evictions++;
	}
	struct node *n = calloc(1, sizeof(*n) + len);
	if (!n)
		return -ENOMEM;
	memcpy(n->path, path, len);
	n->len = len;
	n->hash = h;
	n->expires_ns = now_ns + c->ttl_ns;
	n->e = e;
	n->err = err;
	kelp_fentry_get(e);
	pp = find(c, path, len, h); /* the chain may have changed by the evictions */
	n->hnext = *pp;
	*pp = n;
	lru_push_front(c, n);
	c->n++;
	if (c->plans && e)
		kelp_path_table_publish(c->plans, path, len, &e->ent, n->expires_ns);
	return 0;
}

void kelp_filer_cache_set_plans(struct kelp_filer_cache *c, struct kelp_path_table *t)
{
	c->plans = t;
}

void kelp_filer_cache_drop(struct kelp_filer_cache *c, const char *path, size_t len)
{
	struct node **pp = find(c, path, len, hash_path(path, len));
	if (*pp)
		remove_node(c, pp);
}

void kelp_filer_cache_get_stats(const struct kelp_filer_cache *c, struct kelp_filer_cache_stats *s)
{
	*s = c->st;
	s->entries = c->n;
}
