/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The filer metadata cache (lcore/cluster/filer_cache.c) on a test clock: hits until the TTL, then
 * misses; negative lookups cached the same way; replacing an entry; the least recently used is
 * evicted at the bound; an entry a request holds outlives its eviction; no cache when the bound or
 * the TTL is 0. Also the path checks of core/fpath.c that decide what reaches it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/fpath.h"
#include "lcore/cluster/filer_cache.h"

#define MS 1000000ull

static struct kelp_fentry *entry(uint64_t size)
{
	struct kelp_fentry *e = calloc(1, sizeof(*e));
	e->refs = 1;
	e->ent.attr.size = size;
	return e;
}

static int get(struct kelp_filer_cache *c, const char *p, uint64_t now, struct kelp_fentry **e,
	       int *err)
{
	*e = NULL;
	*err = 0;
	return kelp_filer_cache_get(c, p, strlen(p), now, e, err);
}

static void test_ttl(void **state)
{
	struct kelp_filer_cache *c;
	assert_int_equal(kelp_filer_cache_create(10, 1000 * MS, &c), 0);
	struct kelp_fentry *e = entry(42), *got;
	int err;
	assert_int_equal(get(c, "/a", 0, &got, &err), 0); /* nothing yet */
	assert_int_equal(kelp_filer_cache_put(c, "/a", 2, 5 * MS, e, 0), 0);
	kelp_fentry_put(e); /* the cache keeps its own reference */
	assert_int_equal(get(c, "/a", 5 * MS, &got, &err), 1);
	assert_non_null(got);
	assert_int_equal(got->ent.attr.size, 42);
	kelp_fentry_put(got);
	assert_int_equal(get(c, "/a", 1004 * MS, &got, &err), 1); /* last ns of the TTL */
	kelp_fentry_put(got);
	assert_int_equal(get(c, "/a", 1005 * MS, &got, &err), 0); /* expired: dropped */
	assert_int_equal(get(c, "/a", 1005 * MS, &got, &err), 0);
	assert_int_equal(get(c, "/ab", 0, &got, &err), 0); /* a longer path is another key */
	struct kelp_filer_cache_stats st;
	kelp_filer_cache_get_stats(c, &st);
	assert_int_equal(st.hits, 2);
	assert_int_equal(st.expired, 1);
	assert_int_equal(st.entries, 0);
	kelp_filer_cache_destroy(c);
}

static void test_negative_and_replace(void **state)
{
	struct kelp_filer_cache *c;
	assert_int_equal(kelp_filer_cache_create(10, 100 * MS, &c), 0);
	struct kelp_fentry *got;
	int err;
	assert_int_equal(kelp_filer_cache_put(c, "/gone", 5, 0, NULL, -ENOENT), 0);
	assert_int_equal(get(c, "/gone", 50 * MS, &got, &err), 1);
	assert_null(got);
	assert_int_equal(err, -ENOENT);
	/* the file appears: a lookup replaces the negative entry */
	struct kelp_fentry *e = entry(7);
	assert_int_equal(kelp_filer_cache_put(c, "/gone", 5, 60 * MS, e, 0), 0);
	kelp_fentry_put(e);
	assert_int_equal(get(c, "/gone", 150 * MS, &got, &err), 1); /* new TTL from 60 ms */
	assert_int_equal(got->ent.attr.size, 7);
	kelp_fentry_put(got);
	assert_int_equal(get(c, "/gone", 160 * MS, &got, &err), 0);
	kelp_filer_cache_drop(c, "/gone", 5); /* dropping what is not there: nothing */
	kelp_filer_cache_destroy(c);
}

static void test_lru_bound(void **state)
{
	struct kelp_filer_cache *c;
	assert_int_equal(kelp_filer_cache_create(3, 1000 * MS, &c), 0);
	char p[16];
	struct kelp_fentry *got, *held = NULL;
	int err;
	for (int i = 0; i < 3; i++) {
		struct kelp_fentry *e = entry((uint64_t)i);
		snprintf(p, sizeof(p), "/f%d", i);
		kelp_filer_cache_put(c, p, strlen(p), 0, e, 0);
		kelp_fentry_put(e);
	}
	assert_int_equal(get(c, "/f0", 1, &held, &err), 1); /* /f0 used: /f1 is the oldest now */
	struct kelp_fentry *e = entry(3);
	kelp_filer_cache_put(c, "/f3", 3, 2, e, 0);
	kelp_fentry_put(e);
	assert_int_equal(get(c, "/f1", 3, &got, &err), 0);
	assert_int_equal(get(c, "/f0", 3, &got, &err), 1);
	kelp_fentry_put(got);
	assert_int_equal(get(c, "/f2", 3, &got, &err), 1);
	kelp_fentry_put(got);
	/* a flood of other paths evicts /f0 while a request still holds it */
	for (int i = 10; i < 100; i++) {
		snprintf(p, sizeof(p), "/g%d", i);
		kelp_filer_cache_put(c, p, strlen(p), 4, NULL, -ENOENT);
	}
	assert_int_equal(get(c, "/f0", 5, &got, &err), 0);
	assert_int_equal(held->ent.attr.size, 0); /* still readable: the holder's reference */
	kelp_fentry_put(held);
	struct kelp_filer_cache_stats st;
	kelp_filer_cache_get_stats(c, &st);
	assert_int_equal(st.entries, 3);
	assert_true(st.evictions >= 90);
	kelp_filer_cache_destroy(c);
}

static void test_off(void **state)
{
	struct kelp_filer_cache *c;
	struct kelp_fentry *got;
	int err;
	for (int k = 0; k < 2; k++) {
		assert_int_equal(kelp_filer_cache_create(k ? 0 : 10, k ? 1000 * MS : 0, &c), 0);
		kelp_filer_cache_put(c, "/a", 2, 0, NULL, -ENOENT);
		assert_int_equal(get(c, "/a", 0, &got, &err), 0);
		kelp_filer_cache_destroy(c);
	}
}

static void test_fpath(void **state)
{
	static const char *const good[] = {"/",	    "/a",   "/a/b c/d.txt", "/\xc3\xa9t\xc3\xa9",
					   "/a/.b", "/..a", "/a.."};
	static const char *const bad[] = {"",	"a",   "a/b",	 "//",	    "/a/",  "/a//b",
					  "/.", "/..", "/a/./b", "/a/../b", "/a/.."};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(kelp_fpath_check(good[i], strlen(good[i])), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(kelp_fpath_check(bad[i], strlen(bad[i])), -EINVAL);
	assert_int_equal(kelp_fpath_check("/a\0b", 4), -EINVAL);
	char p[KELP_FPATH_MAX + 2];
	memset(p, 'x', sizeof(p));
	for (size_t i = 0; i < sizeof(p); i += 200)
		p[i] = '/';
	assert_int_equal(kelp_fpath_check(p, KELP_FPATH_MAX), 0);
	assert_int_equal(kelp_fpath_check(p, KELP_FPATH_MAX + 1), -ENAMETOOLONG);
	memset(p + 1, 'y', 256); /* one component of 256 bytes */
	p[257] = '/';
	assert_int_equal(kelp_fpath_check(p, 300), -ENAMETOOLONG);
	assert_int_equal(kelp_fname_check("", 0), 0);
	assert_int_equal(kelp_fname_check("a b", 3), 0);
	assert_int_equal(kelp_fname_check("a/b", 3), -EINVAL);
	assert_int_equal(kelp_fname_check("a\0b", 3), -EINVAL);
	assert_int_equal(kelp_fname_check(p + 1, 256), -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ttl),	  cmocka_unit_test(test_negative_and_replace),
		cmocka_unit_test(test_lru_bound), cmocka_unit_test(test_off),
		cmocka_unit_test(test_fpath),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
