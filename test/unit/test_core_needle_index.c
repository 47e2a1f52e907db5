/* SPDX-License-Identifier: Apache-2.0 */
/* core/needle_index: last row wins, tombstones, revival, large sizes, full table, fixtures. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test/unit/fixture_file.h"

#include "core/idx.h"
#include "core/needle_index.h"

static void apply(struct kelp_needle_index *ni, uint64_t key, uint64_t off, uint32_t size)
{
	struct kelp_idx_row r = {key, off, size};
	assert_int_equal(kelp_needle_index_apply(ni, &r), 0);
}

static void test_last_row_wins(void **state)
{
	struct kelp_needle_index *ni;
	assert_int_equal(kelp_needle_index_new(10, &ni), 0);
	uint64_t off;
	uint32_t size;
	apply(ni, 7, 100, 50);
	apply(ni, 7, 200, 60); /* replaced */
	assert_int_equal(kelp_needle_index_lookup(ni, 7, &off, &size), 0);
	assert_int_equal(off, 200);
	assert_int_equal(size, 60);
	apply(ni, 7, 300, KELP_IDX_SIZE_TOMBSTONE); /* deleted (tombstone rows carry an offset) */
	assert_int_equal(kelp_needle_index_lookup(ni, 7, &off, &size), -ENOENT);
	assert_int_equal(kelp_needle_index_live(ni), 0);
	assert_int_equal(kelp_needle_index_deleted(ni), 1);
	apply(ni, 7, 400, 0); /* revived as an empty file: offset != 0 and size 0 is live */
	assert_int_equal(kelp_needle_index_lookup(ni, 7, &off, &size), 0);
	assert_int_equal(off, 400);
	assert_int_equal(size, 0);
	apply(ni, 7, 0, 10); /* offset 0 also deletes */
	assert_int_equal(kelp_needle_index_lookup(ni, 7, &off, &size), -ENOENT);
	apply(ni, 99, 5, KELP_IDX_SIZE_TOMBSTONE); /* deleting an unknown key keeps nothing */
	assert_int_equal(kelp_needle_index_keys(ni), 1);
	assert_int_equal(kelp_needle_index_lookup(ni, 0, &off, &size), -ENOENT);
	apply(ni, 0, 8, 1); /* key 0 is a key like any other */
	assert_int_equal(kelp_needle_index_lookup(ni, 0, &off, &size), 0);
	assert_int_equal(off, 8);
	kelp_needle_index_free(ni);
}

static void test_sizes_and_offsets(void **state)
{
	struct kelp_needle_index *ni;
	assert_int_equal(kelp_needle_index_new(4, &ni), 0);
	uint64_t off;
	uint32_t size;
	apply(ni, 1, KELP_NEEDLE_INDEX_MAX_OFFSET, KELP_NEEDLE_INDEX_SIZE_LARGE - 1);
	apply(ni, 2, 3, 0x7ffffff0u);
	assert_int_equal(kelp_needle_index_lookup(ni, 1, &off, &size), 0);
	assert_true(off == KELP_NEEDLE_INDEX_MAX_OFFSET);
	assert_int_equal(size, KELP_NEEDLE_INDEX_SIZE_LARGE - 1);
	assert_int_equal(kelp_needle_index_lookup(ni, 2, &off, &size), 0);
	assert_int_equal(size, KELP_NEEDLE_INDEX_SIZE_LARGE); /* "see the record header" */
	struct kelp_idx_row r = {3, KELP_NEEDLE_INDEX_MAX_OFFSET + 1, 1};
	assert_int_equal(kelp_needle_index_apply(ni, &r), -ERANGE);
	kelp_needle_index_free(ni);
}

static void test_full_and_clone(void **state)
{
	struct kelp_needle_index *ni; /* 64 slots, 57 keys at most */
	assert_int_equal(kelp_needle_index_new(1, &ni), 0);
	assert_int_equal(kelp_needle_index_slots(ni), 64);
	uint64_t k;
	int rc = 0;
	for (k = 1; k < 1000 && rc == 0; k++) {
		struct kelp_idx_row r = {k, k, (uint32_t)k};
		rc = kelp_needle_index_apply(ni, &r);
	}
	assert_int_equal(rc, -ENOSPC);
	uint64_t n = kelp_needle_index_keys(ni);
	assert_int_equal(n, 57);
	/* updates of existing keys still work when full */
	apply(ni, 5, 555, 5);
	struct kelp_needle_index *big;
	assert_int_equal(kelp_needle_index_clone(ni, 10000, &big), 0);
	assert_non_null(big);
	assert_int_equal(kelp_needle_index_keys(big), n);
	for (uint64_t i = 1; i <= n; i++) {
		uint64_t off;
		uint32_t size;
		assert_int_equal(kelp_needle_index_lookup(big, i, &off, &size), 0);
		assert_int_equal(off, i == 5 ? 555 : i);
	}
	apply(big, 5000, 1, 1);
	struct kelp_needle_index *none;
	assert_int_equal(kelp_needle_index_clone(big, 3, &none), -EINVAL); /* too small */
	assert_null(none);
	/* iteration sees every live key once */
	uint64_t cursor = 0, key, off, seen = 0, sum = 0;
	uint32_t size;
	while (kelp_needle_index_next(big, &cursor, &key, &off, &size)) {
		seen++;
		sum += key;
	}
	assert_int_equal(seen, n + 1);
	assert_int_equal(sum, n * (n + 1) / 2 + 5000);
	assert_true(kelp_needle_index_memory(big) >= kelp_needle_index_slots(big) * 16);
	kelp_needle_index_free(ni);
	kelp_needle_index_free(big);
}

static void test_fixture_idx(void **state)
{
	static const struct {
		const char *name;
		uint64_t rows, live, deleted;
	} fx[] = {{"healthy_volume.idx", 27, 7, 10},
		  {"simple_index.idx", 161, 161, 0},
		  {"deleted_files.idx", 230, 78, 76}};
	for (size_t i = 0; i < 3; i++) {
		size_t len;
		uint8_t *idx = load_fixture(fx[i].name, &len);
		assert_int_equal(len / 16, fx[i].rows);
		struct kelp_needle_index *ni;
		assert_int_equal(kelp_needle_index_new(len / 16, &ni), 0);
		assert_int_equal(kelp_needle_index_load(ni, idx, len / 16, 4), 0);
		assert_int_equal(kelp_needle_index_live(ni), fx[i].live);
		assert_int_equal(kelp_needle_index_deleted(ni), fx[i].deleted);
		/* the same result applying row by row (no batch prefetch) */
		struct kelp_needle_index *one;
		assert_int_equal(kelp_needle_index_new(len / 16, &one), 0);
		for (size_t r = 0; r < len / 16; r++) {
			struct kelp_idx_row row;
			kelp_idx_parse_row(idx + r * 16, 4, &row);
			assert_int_equal(kelp_needle_index_apply(one, &row), 0);
		}
		for (size_t r = 0; r < len / 16; r++) {
			struct kelp_idx_row row;
			uint64_t o1, o2;
			uint32_t s1, s2;
			kelp_idx_parse_row(idx + r * 16, 4, &row);
			int a = kelp_needle_index_lookup(ni, row.key, &o1, &s1);
			int b = kelp_needle_index_lookup(one, row.key, &o2, &s2);
			assert_int_equal(a, b);
			if (!a) {
				assert_true(o1 == o2);
				assert_int_equal(s1, s2);
			}
		}
		/* many deletes: a shrunk copy answers the same with fewer slots; few: not worth it
		 */
		struct kelp_needle_index *small;
		assert_int_equal(kelp_needle_index_shrink(ni, &small), 0);
		if (fx[i].deleted * 8 > fx[i].live + fx[i].deleted) {
			assert_non_null(small);
			assert_int_equal(kelp_needle_index_live(small), fx[i].live);
			assert_int_equal(kelp_needle_index_deleted(small), fx[i].deleted);
			assert_int_equal(kelp_needle_index_keys(small), fx[i].live);
			assert_true(kelp_needle_index_memory(small) <=
				    kelp_needle_index_memory(ni));
			for (size_t r = 0; r < len / 16; r++) {
				struct kelp_idx_row row;
				uint64_t o1, o2;
				uint32_t s1, s2;
				kelp_idx_parse_row(idx + r * 16, 4, &row);
				int a = kelp_needle_index_lookup(ni, row.key, &o1, &s1);
				assert_int_equal(kelp_needle_index_lookup(small, row.key, &o2, &s2),
						 a);
				if (!a)
					assert_true(o1 == o2 && s1 == s2);
			}
			kelp_needle_index_free(small);
		} else {
			assert_null(small);
		}
		kelp_needle_index_free(one);
		kelp_needle_index_free(ni);
		free(idx);
	}
	/* healthy: key 3 at offset unit 1, size 75652; key 20 deleted */
	size_t len;
	uint8_t *idx = load_fixture("healthy_volume.idx", &len);
	struct kelp_needle_index *ni;
	assert_int_equal(kelp_needle_index_new(27, &ni), 0);
	assert_int_equal(kelp_needle_index_load(ni, idx, 27, 4), 0);
	uint64_t off;
	uint32_t size;
	assert_int_equal(kelp_needle_index_lookup(ni, 3, &off, &size), 0);
	assert_int_equal(off, 1);
	assert_int_equal(size, 75652);
	assert_int_equal(kelp_needle_index_lookup(ni, 20, &off, &size), -ENOENT);
	kelp_needle_index_free(ni);
	free(idx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_last_row_wins),
		cmocka_unit_test(test_sizes_and_offsets),
		cmocka_unit_test(test_full_and_clone),
		cmocka_unit_test(test_fixture_idx),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
