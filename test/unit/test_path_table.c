/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The lcores' table of path-read plans (lcore/path_table.c) and how the filer cache feeds it
 * (lcore/cluster/filer_cache.c): a plain file's plan is found until it expires, holds the visible
 * intervals and fids the control thread would read, and is never found for another path (also not
 * for a path of the same hash slot); entries that cannot be planned (manifest, encrypted,
 * compressed, inline, directory, too many chunks) are not published and remove an older plan; a
 * replaced or removed plan is freed only after the reader passed a quiescent point (the epoch);
 * the cache publishes what it caches and removes what it drops (replace, expiry, eviction, forget,
 * negative entry), with the cache's own expiry.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "core/epoch.h"
#include "lcore/cluster/filer_cache.h"
#include "lcore/path_table.h"

#define MS 1000000ull

/* A regular file of @n chunks of 64 KiB each, back to back, chunk i in volume 7, key 100 + i. */
static void file_entry(struct kelp_filer_entry *ent, const char *path, uint32_t n)
{
	memset(ent, 0, sizeof(*ent));
	ent->path = strdup(path);
	ent->name = strrchr(ent->path, '/') + 1;
	ent->attr.mode = S_IFREG | 0644;
	ent->attr.size = (uint64_t)n * 65536;
	ent->chunks = calloc(n ? n : 1, sizeof(*ent->chunks));
	ent->nchunks = n;
	for (uint32_t i = 0; i < n; i++)
		ent->chunks[i] = (struct kelp_filer_chunk){
			.fid = {.volume_id = 7, .key = 100 + i, .cookie = 0x1234 + i},
			.offset = (int64_t)i * 65536,
			.size = 65536,
			.modified_ts_ns = 1000 + i};
}

static const struct kelp_path_plan *find(struct kelp_path_table *t, const char *p, uint64_t now)
{
	return kelp_path_table_find(t, (const uint8_t *)p, strlen(p), now);
}

struct fixture {
	struct kelp_epoch *ep;
	int reader;
	struct kelp_path_table *t;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_int_equal(kelp_epoch_new(1, &f->ep), 0);
	f->reader = kelp_epoch_register(f->ep);
	assert_true(f->reader >= 0);
	assert_int_equal(kelp_path_table_create(f->ep, 100, &f->t), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	kelp_path_table_retire(f->t);
	kelp_epoch_free(
		f->ep); /* runs what is pending: ASan checks nothing leaks or is freed twice */
	free(f);
	return 0;
}

static void test_publish_find(void **state)
{
	struct fixture *f = *state;
	struct kelp_filer_entry ent;
	file_entry(&ent, "/d/f1", 3);
	ent.attr.size = 3 * 65536 - 10; /* the last chunk is cut at FileSize */
	assert_int_equal(kelp_path_table_publish(f->t, "/d/f1", 5, &ent, 50 * MS), 1);
	const struct kelp_path_plan *p = find(f->t, "/d/f1", 10 * MS);
	assert_non_null(p);
	assert_int_equal(p->size, 3 * 65536 - 10);
	assert_int_equal(p->nfids, 3);
	assert_int_equal(p->nvis, 3);
	for (uint32_t i = 0; i < 3; i++) {
		assert_int_equal(p->vis[i].start, (int64_t)i * 65536);
		assert_int_equal(p->fids[p->vis[i].chunk].key, 100 + p->vis[i].chunk);
		assert_int_equal(p->fids[p->vis[i].chunk].cookie, 0x1234 + p->vis[i].chunk);
	}
	/* the lcore plans a read with it exactly as the control thread would */
	struct kelp_chunk_piece pc[8];
	uint32_t np;
	assert_int_equal(kelp_chunk_plan(p->vis, p->nvis, p->size, 65536 - 5, 100000, pc, 8, &np),
			 100000);
	assert_int_equal(np, 3);
	assert_int_equal(pc[0].chunk, 0);
	assert_int_equal(pc[0].chunk_off, 65536 - 5);
	assert_int_equal(pc[0].len, 5);
	assert_int_equal(pc[1].chunk, 1);
	assert_int_equal(pc[1].len, 65536);
	assert_int_equal(pc[2].chunk, 2);
	assert_int_equal(pc[2].dst_off, 65541);

	assert_null(find(f->t, "/d/f1", 50 * MS)); /* expired: not served, whatever the slot */
	assert_null(find(f->t, "/d/f", 10 * MS));
	assert_null(find(f->t, "/d/f12", 10 * MS));
	assert_null(find(f->t, "/D/f1", 10 * MS));
	kelp_path_table_remove(f->t, "/d/f2", 5); /* not there: nothing happens */
	assert_non_null(find(f->t, "/d/f1", 10 * MS));
	kelp_path_table_remove(f->t, "/d/f1", 5);
	assert_null(find(f->t, "/d/f1", 10 * MS));
	struct kelp_path_table_stats st;
	kelp_path_table_get_stats(f->t, &st);
	assert_int_equal(st.published, 1);
	assert_int_equal(st.removed, 1);
	kelp_filer_entry_free(&ent);
}

static void test_not_plannable(void **state)
{
	struct fixture *f = *state;
	struct kelp_filer_entry ent;
	file_entry(&ent, "/x", 2);
	for (int k = 0; k < 6; k++) {
		assert_int_equal(kelp_path_table_publish(f->t, "/x", 2, &ent, 50 * MS), 1);
		assert_non_null(find(f->t, "/x", 0));
		struct kelp_filer_entry bad;
		file_entry(&bad, "/x", k == 5 ? KELP_PATH_PLAN_MAX_CHUNKS + 1 : 2);
		switch (k) {
		case 0:
			bad.chunks[1].is_chunk_manifest = true;
			break;
		case 1:
			bad.chunks[0].cipher_key_len = 32;
			break;
		case 2:
			bad.chunks[1].is_compressed = true;
			break;
		case 3:
			bad.content = malloc(4);
			bad.content_len = 4;
			break;
		case 4:
			bad.attr.mode = S_IFDIR | 0755;
			break;
		default:
			break;
		}
		/* a newer entry that cannot be planned removes the older plan */
		assert_int_equal(kelp_path_table_publish(f->t, "/x", 2, &bad, 50 * MS), 0);
		assert_null(find(f->t, "/x", 0));
		kelp_filer_entry_free(&bad);
	}
	struct kelp_path_table_stats st;
	kelp_path_table_get_stats(f->t, &st);
	assert_int_equal(st.skipped, 6);
	/* an empty file (no chunks) is plannable: reads give 0 bytes */
	struct kelp_filer_entry empty;
	file_entry(&empty, "/empty", 0);
	assert_int_equal(kelp_path_table_publish(f->t, "/empty", 6, &empty, 50 * MS), 1);
	const struct kelp_path_plan *p = find(f->t, "/empty", 0);
	assert_non_null(p);
	struct kelp_chunk_piece pc[1];
	uint32_t np;
	assert_int_equal(kelp_chunk_plan(p->vis, p->nvis, p->size, 0, 10, pc, 1, &np), 0);
	kelp_filer_entry_free(&empty);
	kelp_filer_entry_free(&ent);
}

/* Two paths of the same slot: the newer one displaces the other, which is then not found (the
 * control thread serves it), and removing the displaced one leaves the newer one alone. */
/* @n paths "/c/<i>" whose hashes agree with "/c/0"'s under @mask, "/c/0" first. */
static void colliding(char (*out)[32], int n, uint64_t mask)
{
	snprintf(out[0], sizeof(out[0]), "/c/0");
	uint64_t h0 = kelp_path_hash(out[0], strlen(out[0])) & mask;
	int i = 1;
	for (int k = 1; k < n; k++)
		do
			snprintf(out[k], sizeof(out[k]), "/c/%d", i++);
		while ((kelp_path_hash(out[k], strlen(out[k])) & mask) != h0);
}

/*
 * Two hot files whose hashes fall on the same slot of a direct-mapped table of this size (256
 * slots for 100 entries) both stay served: the table is set-associative (a direct-mapped one kept
 * only the newest and sent the other to the control thread).
 */
static void test_collision(void **state)
{
	struct fixture *f = *state;
	char c[2][32];
	colliding(c, 2, 255);
	struct kelp_filer_entry ea, eb;
	file_entry(&ea, c[0], 1);
	file_entry(&eb, c[1], 2);
	assert_int_equal(kelp_path_table_publish(f->t, c[0], strlen(c[0]), &ea, 50 * MS), 1);
	assert_int_equal(kelp_path_table_publish(f->t, c[1], strlen(c[1]), &eb, 50 * MS), 1);
	const struct kelp_path_plan *pa = find(f->t, c[0], 0), *pb = find(f->t, c[1], 0);
	assert_non_null(pa);
	assert_non_null(pb);
	assert_int_equal(pa->nfids, 1);
	assert_int_equal(pb->nfids, 2);
	/* publishing one again replaces it in its slot, removing it leaves the other */
	assert_int_equal(kelp_path_table_publish(f->t, c[0], strlen(c[0]), &eb, 60 * MS), 1);
	assert_int_equal(find(f->t, c[0], 0)->nfids, 2);
	kelp_path_table_remove(f->t, c[0], strlen(c[0]));
	assert_null(find(f->t, c[0], 0));
	assert_non_null(find(f->t, c[1], 0));
	struct kelp_path_table_stats st;
	kelp_path_table_get_stats(f->t, &st);
	assert_int_equal(st.displaced, 0);
	assert_int_equal(st.removed, 1);
	kelp_filer_entry_free(&ea);
	kelp_filer_entry_free(&eb);
}

/*
 * A full bucket: one more path takes the slot of the plan that expires first (counted as
 * displaced); the others stay; the displaced one is found nowhere (also not stale), and a freed
 * slot is used again without displacing anyone.
 */
static void test_bucket_full(void **state)
{
	struct fixture *f = *state;
	enum { N = KELP_PATH_WAYS + 1 };
	char c[N + 1][32];
	colliding(c, N + 1, 256 / KELP_PATH_WAYS - 1); /* 64 buckets */
	struct kelp_filer_entry e[N + 1];
	/* c[1] expires first of the four in the bucket */
	const uint64_t exp[N + 1] = {50 * MS, 40 * MS, 60 * MS, 70 * MS, 80 * MS, 90 * MS};
	for (int k = 0; k < N + 1; k++)
		file_entry(&e[k], c[k], (uint32_t)k + 1);
	for (int k = 0; k < (int)KELP_PATH_WAYS; k++)
		assert_int_equal(kelp_path_table_publish(f->t, c[k], strlen(c[k]), &e[k], exp[k]),
				 1);
	for (int k = 0; k < (int)KELP_PATH_WAYS; k++)
		assert_int_equal(find(f->t, c[k], 0)->nfids, k + 1);
	assert_int_equal(kelp_path_table_publish(f->t, c[4], strlen(c[4]), &e[4], exp[4]), 1);
	assert_null(find(f->t, c[1], 0));
	for (int k = 0; k < N; k++)
		if (k != 1)
			assert_int_equal(find(f->t, c[k], 0)->nfids, k + 1);
	struct kelp_path_table_stats st;
	kelp_path_table_get_stats(f->t, &st);
	assert_int_equal(st.displaced, 1);
	kelp_path_table_remove(f->t, c[1], strlen(c[1])); /* not there: nothing removed */
	kelp_path_table_remove(f->t, c[3], strlen(c[3]));
	assert_int_equal(kelp_path_table_publish(f->t, c[5], strlen(c[5]), &e[5], exp[5]), 1);
	assert_int_equal(find(f->t, c[5], 0)->nfids, 6);
	assert_int_equal(find(f->t, c[0], 0)->nfids, 1);
	assert_int_equal(find(f->t, c[2], 0)->nfids, 3);
	assert_int_equal(find(f->t, c[4], 0)->nfids, 5);
	kelp_path_table_get_stats(f->t, &st);
	assert_int_equal(st.displaced, 1);
	assert_int_equal(st.removed, 1);
	for (int k = 0; k < N + 1; k++)
		kelp_filer_entry_free(&e[k]);
}

/* A plan the reader found stays readable until its quiescent point, across replace and remove. */
static void test_epoch(void **state)
{
	struct fixture *f = *state;
	struct kelp_filer_entry ent;
	file_entry(&ent, "/e", 1);
	assert_int_equal(kelp_path_table_publish(f->t, "/e", 2, &ent, 50 * MS), 1);
	kelp_epoch_quiescent(f->ep, f->reader);
	const struct kelp_path_plan *old = find(f->t, "/e", 0);
	assert_non_null(old);
	ent.chunks[0].fid.key = 999;
	assert_int_equal(kelp_path_table_publish(f->t, "/e", 2, &ent, 50 * MS), 1);
	assert_int_equal(kelp_epoch_reclaim(f->ep), 0); /* the reader may still hold it */
	assert_int_equal(old->fids[0].key, 100);	/* ASan: not freed */
	const struct kelp_path_plan *now = find(f->t, "/e", 0);
	assert_int_equal(now->fids[0].key, 999);
	kelp_path_table_remove(f->t, "/e", 2);
	assert_int_equal(kelp_epoch_reclaim(f->ep), 0);
	assert_int_equal(now->fids[0].key, 999);
	kelp_epoch_quiescent(f->ep, f->reader);
	assert_int_equal(kelp_epoch_reclaim(f->ep), 2);
	assert_int_equal(kelp_epoch_pending(f->ep), 0);
	kelp_filer_entry_free(&ent);
}

static struct kelp_fentry *fentry(const char *path, uint32_t n)
{
	struct kelp_fentry *e = calloc(1, sizeof(*e));
	e->refs = 1;
	file_entry(&e->ent, path, n);
	return e;
}

/* The cache publishes what it caches, for as long as it caches it, and removes what it drops. */
static void test_cache_mirror(void **state)
{
	struct fixture *f = *state;
	struct kelp_filer_cache *c;
	assert_int_equal(kelp_filer_cache_create(3, 1000 * MS, &c), 0);
	kelp_filer_cache_set_plans(c, f->t);
	struct kelp_fentry *e = fentry("/m/a", 1), *got = NULL;
	int err = 0;
	assert_int_equal(kelp_filer_cache_put(c, "/m/a", 4, 5 * MS, e, 0), 0);
	kelp_fentry_put(e);
	const struct kelp_path_plan *p = find(f->t, "/m/a", 5 * MS);
	assert_non_null(p);
	assert_int_equal(p->expires_ns, 1005 * MS); /* the cache entry's own expiry */
	assert_non_null(find(f->t, "/m/a", 1004 * MS));
	assert_null(find(f->t, "/m/a", 1005 * MS));
	/* replaced by a newer entry: the new plan */
	e = fentry("/m/a", 2);
	assert_int_equal(kelp_filer_cache_put(c, "/m/a", 4, 6 * MS, e, 0), 0);
	kelp_fentry_put(e);
	assert_int_equal(find(f->t, "/m/a", 6 * MS)->nfids, 2);
	/* replaced by "no such path": no plan */
	assert_int_equal(kelp_filer_cache_put(c, "/m/a", 4, 7 * MS, NULL, -ENOENT), 0);
	assert_null(find(f->t, "/m/a", 7 * MS));
	/* forgotten */
	e = fentry("/m/b", 1);
	kelp_filer_cache_put(c, "/m/b", 4, 8 * MS, e, 0);
	kelp_fentry_put(e);
	assert_non_null(find(f->t, "/m/b", 8 * MS));
	kelp_filer_cache_drop(c, "/m/b", 4);
	assert_null(find(f->t, "/m/b", 8 * MS));
	/* evicted (the bound is 3: /m/a negative, c, d, then e evicts the oldest) */
	const char *names[] = {"/m/c", "/m/d", "/m/e"};
	for (int i = 0; i < 3; i++) {
		e = fentry(names[i], 1);
		kelp_filer_cache_put(c, names[i], 4, (10 + i) * MS, e, 0);
		kelp_fentry_put(e);
	}
	assert_non_null(find(f->t, "/m/c", 20 * MS));
	e = fentry("/m/f", 1);
	kelp_filer_cache_put(c, "/m/f", 4, 20 * MS, e, 0); /* evicts /m/c */
	kelp_fentry_put(e);
	assert_null(find(f->t, "/m/c", 20 * MS));
	assert_non_null(find(f->t, "/m/f", 20 * MS));
	/* expired, then asked for: dropped by the cache, removed from the table */
	assert_int_equal(kelp_filer_cache_get(c, "/m/d", 4, 2000 * MS, &got, &err), 0);
	struct kelp_path_table_stats st;
	kelp_path_table_get_stats(f->t, &st);
	assert_int_equal(st.removed, 5); /* replaced, negative, dropped, evicted, expired */
	kelp_filer_cache_destroy(c);	 /* removes the rest */
	assert_null(find(f->t, "/m/e", 20 * MS));
	assert_null(find(f->t, "/m/f", 20 * MS));
}

/* Directory heat: a read of a planned file (lcore) or by path (control) marks its directory, as
 * the filer's refresh ahead of the TTL asks it; other directories stay unread; the root is "/". */
static void test_dir_heat(void **state)
{
	struct fixture *f = *state;
	struct kelp_filer_entry ent;
	file_entry(&ent, "/data/d1/a.bin", 1);
	assert_int_equal(kelp_path_table_publish(f->t, "/data/d1/a.bin", 14, &ent, 1000 * MS), 1);
	kelp_filer_entry_free(&ent);
	assert_true(kelp_path_table_dir_read(f->t, "/data/d1", 8) == 0); /* never read */

	const struct kelp_path_plan *p = find(f->t, "/data/d1/a.bin", 5 * MS);
	assert_non_null(p);
	kelp_path_table_touch(f->t, p, 5 * MS);
	assert_true(kelp_path_table_dir_read(f->t, "/data/d1", 8) == 5 * MS);
	/* at most one store a millisecond: a read 0.5 ms later leaves it, 2 ms later moves it */
	kelp_path_table_touch(f->t, p, 5 * MS + MS / 2);
	assert_true(kelp_path_table_dir_read(f->t, "/data/d1", 8) == 5 * MS);
	kelp_path_table_touch(f->t, p, 7 * MS);
	assert_true(kelp_path_table_dir_read(f->t, "/data/d1", 8) == 7 * MS);
	/* the same directory by path (a read the control thread served) */
	kelp_path_table_touch_path(f->t, "/data/d1/other.bin", 18, 9 * MS);
	assert_true(kelp_path_table_dir_read(f->t, "/data/d1", 8) == 9 * MS);
	/* neither the parent nor a sibling directory was read (unless they share the slot) */
	const char *others[] = {"/data", "/data/d2", "/data/d1/sub", "/"};
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		if ((kelp_path_hash(others[i], strlen(others[i])) ^ kelp_path_hash("/data/d1", 8)) &
		    (KELP_PATH_HEAT_SLOTS - 1))
			assert_true(kelp_path_table_dir_read(f->t, others[i], strlen(others[i])) ==
				    0);
	/* a file in the root marks "/" */
	kelp_path_table_touch_path(f->t, "/top.bin", 8, 11 * MS);
	assert_true(kelp_path_table_dir_read(f->t, "/", 1) == 11 * MS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_publish_find, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_plannable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_collision, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bucket_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_epoch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_mirror, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dir_heat, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
