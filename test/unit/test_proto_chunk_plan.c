/* SPDX-License-Identifier: Apache-2.0 */
/* proto/chunk_plan: the visible intervals of overlapping chunks with the expectations of weed's
 * own tests (weed/filer/filechunks_test.go TestIntervalMerging and TestChunksReading,
 * filechunks_read_test.go TestReadResolvedChunks: their cases and expected results, re-stated
 * here as data), a randomized comparison with a byte-by-byte model (newest write wins), weed's
 * equal-timestamp quirk, and read plans over real entries (overlap, holes, end of file). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture_file.h"
#include "proto/chunk_plan.h"

/* A chunk of the cases: its "file id" is its index's letter in the expectations. */
struct c {
	int64_t off;
	uint64_t size;
	int64_t ts;
};
struct v {
	int64_t start, stop;
	uint32_t chunk;
	uint64_t chunk_off;
};

static uint32_t visibles_of(const struct c *cs, uint32_t n, struct kelp_chunk_visible **out)
{
	struct kelp_filer_chunk chunks[16];
	memset(chunks, 0, sizeof(chunks));
	for (uint32_t i = 0; i < n; i++) {
		chunks[i].offset = cs[i].off;
		chunks[i].size = cs[i].size;
		chunks[i].modified_ts_ns = cs[i].ts;
	}
	uint32_t count;
	assert_int_equal(kelp_chunk_visibles(chunks, n, out, &count), 0);
	return count;
}

static void expect(const struct c *cs, uint32_t n, const struct v *want, uint32_t nwant)
{
	struct kelp_chunk_visible *vis;
	uint32_t count = visibles_of(cs, n, &vis);
	for (uint32_t i = 0; i < count && i < nwant; i++) {
		if (vis[i].start != want[i].start || vis[i].stop != want[i].stop ||
		    vis[i].chunk != want[i].chunk || vis[i].chunk_off != want[i].chunk_off)
			fprintf(stderr, "interval %u: [%lld,%lld) chunk %u off %llu\n", i,
				(long long)vis[i].start, (long long)vis[i].stop, vis[i].chunk,
				(unsigned long long)vis[i].chunk_off);
		assert_int_equal(vis[i].start, want[i].start);
		assert_int_equal(vis[i].stop, want[i].stop);
		assert_int_equal(vis[i].chunk, want[i].chunk);
		assert_int_equal(vis[i].chunk_off, want[i].chunk_off);
	}
	assert_int_equal(count, nwant);
	free(vis);
}
#define EXPECT(cs, want)                                                                           \
	expect(cs, sizeof(cs) / sizeof(cs[0]), want, sizeof(want) / sizeof(want[0]))

/* TestIntervalMerging, cases 0-8 */
static void test_weed_interval_merging(void **state)
{
	{ /* 0: normal */
		static const struct c cs[] = {{0, 100, 123}, {100, 100, 134}, {200, 100, 353}};
		static const struct v w[] = {{0, 100, 0, 0}, {100, 200, 1, 0}, {200, 300, 2, 0}};
		EXPECT(cs, w);
	}
	{ /* 1: an update overwrites a whole chunk */
		static const struct c cs[] = {{0, 100, 123}, {0, 200, 134}};
		static const struct v w[] = {{0, 200, 1, 0}};
		EXPECT(cs, w);
	}
	{ /* 2: an update overwrites part of the previous chunk */
		static const struct c cs[] = {{0, 100, 123}, {0, 70, 134}};
		static const struct v w[] = {{0, 70, 1, 0}, {70, 100, 0, 70}};
		EXPECT(cs, w);
	}
	{ /* 3 */
		static const struct c cs[] = {{0, 100, 123}, {0, 200, 134}, {50, 250, 154}};
		static const struct v w[] = {{0, 50, 1, 0}, {50, 300, 2, 0}};
		EXPECT(cs, w);
	}
	{ /* 4: an update far away (a hole between) */
		static const struct c cs[] = {{0, 100, 123}, {0, 200, 134}, {250, 250, 154}};
		static const struct v w[] = {{0, 200, 1, 0}, {250, 500, 2, 0}};
		EXPECT(cs, w);
	}
	{ /* 5 */
		static const struct c cs[] = {
			{0, 100, 123}, {0, 200, 184}, {70, 150, 143}, {80, 100, 134}};
		static const struct v w[] = {{0, 200, 1, 0}, {200, 220, 2, 130}};
		EXPECT(cs, w);
	}
	{ /* 6: the same range three times */
		static const struct c cs[] = {{0, 100, 123}, {0, 100, 124}, {0, 100, 125}};
		static const struct v w[] = {{0, 100, 2, 0}};
		EXPECT(cs, w);
	}
	{ /* 7: real updates */
		static const struct c cs[] = {{0, 2097152, 123},       {0, 3145728, 130},
					      {2097152, 3145728, 140}, {5242880, 3145728, 150},
					      {8388608, 3145728, 160}, {11534336, 2842193, 170}};
		static const struct v w[] = {{0, 2097152, 1, 0},
					     {2097152, 5242880, 2, 0},
					     {5242880, 8388608, 3, 0},
					     {8388608, 11534336, 4, 0},
					     {11534336, 14376529, 5, 0}};
		EXPECT(cs, w);
	}
	{ /* 8: "real bug": chunks listed out of order */
		static const struct c cs[] = {{0, 77824, 123},
					      {471040, 472225 - 471040, 130},
					      {77824, 208896 - 77824, 140},
					      {208896, 339968 - 208896, 150},
					      {339968, 471040 - 339968, 160}};
		static const struct v w[] = {{0, 77824, 0, 0},
					     {77824, 208896, 2, 0},
					     {208896, 339968, 3, 0},
					     {339968, 471040, 4, 0},
					     {471040, 472225, 1, 0}};
		EXPECT(cs, w);
	}
	{ /* TestReadResolvedChunks: a, b overlap; e covers c and part of d */
		static const struct c cs[] = {
			{0, 100, 1}, {50, 100, 2}, {200, 50, 3}, {250, 50, 4}, {175, 100, 5}};
		static const struct v w[] = {
			{0, 50, 0, 0}, {50, 150, 1, 0}, {175, 275, 4, 0}, {275, 300, 3, 25}};
		EXPECT(cs, w);
	}
	{ /* TestReadResolvedChunks2: a newer, shorter chunk at the same start */
		static const struct c cs[] = {{200, 50, 3}, {200, 25, 5}};
		static const struct v w[] = {{200, 225, 1, 0}, {225, 250, 0, 25}};
		EXPECT(cs, w);
	}
}

/* The pieces of reads (TestChunksReading; weed lists no holes, kelp adds them as pieces) */
static void plan(const struct c *cs, uint32_t n, uint64_t size, uint64_t off, uint32_t len,
		 const struct kelp_chunk_piece *want, uint32_t nwant, int64_t want_rc)
{
	struct kelp_chunk_visible *vis;
	uint32_t nv = visibles_of(cs, n, &vis), np;
	struct kelp_chunk_piece p[32];
	assert_int_equal(kelp_chunk_plan(vis, nv, size, off, len, p, 32, &np), want_rc);
	assert_int_equal(np, nwant);
	for (uint32_t i = 0; i < np; i++) {
		assert_int_equal(p[i].chunk, want[i].chunk);
		assert_int_equal(p[i].len, want[i].len);
		assert_int_equal(p[i].chunk_off, want[i].chunk_off);
		assert_int_equal(p[i].dst_off, want[i].dst_off);
	}
	free(vis);
}
#define H KELP_CHUNK_HOLE
#define PLAN(cs, size, off, len, want, rc)                                                         \
	plan(cs, sizeof(cs) / sizeof(cs[0]), size, off, len, want, sizeof(want) / sizeof(want[0]), \
	     rc)

static void test_weed_chunks_reading(void **state)
{
	{ /* 0 */
		static const struct c cs[] = {{0, 100, 123}, {100, 100, 134}, {200, 100, 353}};
		static const struct kelp_chunk_piece w[] = {
			{0, 100, 0, 0}, {1, 100, 0, 100}, {2, 50, 0, 200}};
		PLAN(cs, 300, 0, 250, w, 250);
	}
	{ /* 1 */
		static const struct c cs[] = {{0, 100, 123}, {0, 200, 134}};
		static const struct kelp_chunk_piece w[] = {{1, 100, 50, 0}};
		PLAN(cs, 200, 50, 100, w, 100);
	}
	{ /* 2: from 30, 40 bytes: b's 20.., then a's 57.. */
		static const struct c cs[] = {{3, 100, 123}, {10, 50, 134}};
		static const struct kelp_chunk_piece w[] = {{1, 30, 20, 0}, {0, 10, 57, 30}};
		PLAN(cs, 103, 30, 40, w, 40);
	}
	{ /* 3 */
		static const struct c cs[] = {{0, 100, 123}, {0, 200, 134}, {50, 250, 154}};
		static const struct kelp_chunk_piece w[] = {{1, 50, 0, 0}, {2, 150, 0, 50}};
		PLAN(cs, 300, 0, 200, w, 200);
	}
	{ /* 4: weed gives [0,200) asdf and [250,400) xxxx; kelp also the hole [200,250) */
		static const struct c cs[] = {{0, 100, 123}, {0, 200, 134}, {250, 250, 154}};
		static const struct kelp_chunk_piece w[] = {
			{1, 200, 0, 0}, {H, 50, 0, 200}, {2, 150, 0, 250}};
		PLAN(cs, 500, 0, 400, w, 400);
	}
	{ /* 5 */
		static const struct c cs[] = {
			{0, 100, 123}, {0, 200, 184}, {70, 150, 143}, {80, 100, 134}};
		static const struct kelp_chunk_piece w[] = {{1, 200, 0, 0}, {2, 20, 130, 200}};
		PLAN(cs, 220, 0, 220, w, 220);
	}
	{ /* 8 */
		static const struct c cs[] = {{0, 100, 123}, {90, 200, 134}, {190, 300, 353}};
		static const struct kelp_chunk_piece w[] = {
			{0, 90, 0, 0}, {1, 100, 0, 90}, {2, 110, 0, 190}};
		PLAN(cs, 490, 0, 300, w, 300);
	}
	{ /* 9: big chunks overlapping by 11 bytes each */
		static const struct c cs[] = {{0, 43175947, 1},
					      {43175936, 52981771 - 43175936, 2},
					      {52981760, 72564747 - 52981760, 3},
					      {72564736, 133255179 - 72564736, 4},
					      {133255168, 137269259 - 133255168, 5},
					      {137269248, 153578836 - 137269248, 6}};
		struct kelp_chunk_visible *vis;
		uint32_t nv = visibles_of(cs, 6, &vis), np;
		struct kelp_chunk_piece p[8];
		/* one read of the whole file would be > 4 GiB: ask for 2^31 bytes from 43175000 */
		assert_int_equal(kelp_chunk_plan(vis, nv, 153578836, 43175000, 1u << 31, p, 8, &np),
				 153578836 - 43175000);
		static const struct kelp_chunk_piece w[] = {
			{0, 936, 43175000, 0},
			{1, 52981760 - 43175936, 0, 936},
			{2, 72564736 - 52981760, 0, 52981760 - 43175000},
			{3, 133255168 - 72564736, 0, 72564736 - 43175000},
			{4, 137269248 - 133255168, 0, 133255168 - 43175000},
			{5, 153578836 - 137269248, 0, 137269248 - 43175000}};
		assert_int_equal(np, 6);
		for (uint32_t i = 0; i < np; i++)
			assert_memory_equal(&p[i], &w[i], sizeof(p[i]));
		free(vis);
	}
}

/* Reads against the file's size: holes to the end, EOF, chunks past the size, empty reads */
static void test_plan_edges(void **state)
{
	/* sparsehead.bin as the filer stores it: 4096 bytes at 65536, FileSize 69632 */
	static const struct c head[] = {{65536, 4096, 1}};
	static const struct kelp_chunk_piece w1[] = {{H, 536, 0, 0}, {0, 464, 0, 536}};
	PLAN(head, 69632, 65000, 1000, w1, 1000);
	static const struct kelp_chunk_piece w2[] = {{0, 32, 4064, 0}};
	PLAN(head, 69632, 69600, 1000, w2, 32); /* cut at EOF */
	static const struct kelp_chunk_piece none[1] = {{0}};
	plan(head, 1, 69632, 69632, 10, none, 0, 0); /* at EOF */
	plan(head, 1, 69632, 1u << 30, 10, none, 0, 0);
	plan(head, 1, 69632, 0, 0, none, 0, 0);
	/* FileSize beyond the chunks: zeros to the end; FileSize before a chunk's end: cut */
	static const struct kelp_chunk_piece w3[] = {{0, 4096, 0, 0}, {H, 1000, 0, 4096}};
	PLAN(head, 70632, 65536, 10000, w3, 5096);
	static const struct kelp_chunk_piece w4[] = {{0, 100, 0, 0}};
	PLAN(head, 65636, 65536, 10000, w4, 100);
	/* no chunk at all (a file of zeros) */
	static const struct kelp_chunk_piece w5[] = {{H, 10, 0, 0}};
	plan(head, 0, 10, 0, 100, w5, 1, 10);

	/* too few pieces: -ENOSPC, nothing usable */
	static const struct c two[] = {{0, 10, 1}, {20, 10, 2}};
	struct kelp_chunk_visible *vis;
	uint32_t nv = visibles_of(two, 2, &vis), np;
	struct kelp_chunk_piece p[3];
	assert_int_equal(kelp_chunk_plan(vis, nv, 30, 0, 30, p, 2, &np), -ENOSPC);
	assert_int_equal(kelp_chunk_plan(vis, nv, 30, 0, 30, p, 3, &np), 30);
	assert_int_equal(np, 3);
	/* unsorted visibles are refused */
	struct kelp_chunk_visible bad[2] = {vis[1], vis[0]};
	assert_int_equal(kelp_chunk_plan(bad, 2, 30, 0, 30, p, 3, &np), -EINVAL);
	free(vis);
}

/* Manifest chunks, negative offsets and zero sizes */
static void test_visibles_input(void **state)
{
	struct kelp_filer_chunk c[2];
	struct kelp_chunk_visible *vis;
	uint32_t n;
	memset(c, 0, sizeof(c));
	c[0].size = 10;
	c[1].is_chunk_manifest = true;
	c[1].size = 10;
	assert_int_equal(kelp_chunk_visibles(c, 2, &vis, &n), -EINVAL);
	c[1].is_chunk_manifest = false;
	c[1].offset = -1;
	assert_int_equal(kelp_chunk_visibles(c, 2, &vis, &n), -EINVAL);
	c[1].offset = INT64_MAX - 5;
	assert_int_equal(kelp_chunk_visibles(c, 2, &vis, &n), -EINVAL);
	c[1].offset = 5;
	c[1].size = 0; /* shows nothing */
	assert_int_equal(kelp_chunk_visibles(c, 2, &vis, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(vis[0].chunk, 0);
	free(vis);
	assert_int_equal(kelp_chunk_visibles(c, 0, &vis, &n), 0);
	assert_int_equal(n, 0);
	assert_null(vis);
	assert_int_equal(kelp_chunk_visibles(c, KELP_CHUNK_PLAN_MAX + 1, &vis, &n), -E2BIG);
}

/* weed's quirk with EQUAL timestamps (readResolvedChunks): of two overlapping chunks with the same
 * ts, the one starting first shows until it ends and the other's rest stays hidden. */
static void test_equal_ts_quirk(void **state)
{
	static const struct c cs[] = {{0, 100, 7}, {50, 100, 7}};
	static const struct v w[] = {{0, 100, 0, 0}};
	EXPECT(cs, w);
	/* found by fuzz_chunk_manifest: A [0,100) and B [10,150) share ts 5 under C [0,120) ts 9.
	 * A's end removes B from weed's queue (nearest the back with ts 5), so after C ends, weed
	 * shows [120,150) from A at offset 120 of its 100 bytes; kelp clips that to a hole */
	static const struct c shared[] = {{0, 100, 5}, {0, 120, 9}, {10, 140, 5}};
	static const struct v w3[] = {{0, 120, 1, 0}};
	EXPECT(shared, w3);
	/* adjacent chunks with one ts (one upload) are fine */
	static const struct c adj[] = {{0, 100, 7}, {100, 100, 7}};
	static const struct v w2[] = {{0, 100, 0, 0}, {100, 200, 1, 0}};
	EXPECT(adj, w2);
}

/* TestRandomizedReadResolvedChunks, against a byte model: 200 writes of up to 64 bytes at random
 * places of a 2048-byte file, distinct ts (the write order); every byte must show the newest. */
static void test_randomized(void **state)
{
	enum { SIZE = 2048, N = 200 };
	static int64_t model[SIZE];
	struct kelp_filer_chunk *c = calloc(N, sizeof(*c));
	assert_non_null(c);
	srandom(11);
	for (int round = 0; round < 50; round++) {
		for (int i = 0; i < SIZE; i++)
			model[i] = -1;
		uint32_t n = round % 5 == 0 ? 1 + (uint32_t)(random() % 5) : N;
		for (uint32_t i = 0; i < n; i++) {
			int64_t start = random() % SIZE, len = random() % 65;
			if (start + len > SIZE)
				len = SIZE - start;
			int64_t ts = round % 2 ? (int64_t)i
					       : (int64_t)(n - i) * 3; /* also newest first */
			c[i] = (struct kelp_filer_chunk){
				.offset = start, .size = (uint64_t)len, .modified_ts_ns = ts};
			c[i].fid.key = i;
		}
		/* model: apply in ts order */
		for (int64_t t = 0; t <= 3 * N; t++)
			for (uint32_t i = 0; i < n; i++)
				if (c[i].modified_ts_ns == t)
					for (uint64_t b = 0; b < c[i].size; b++)
						model[c[i].offset + (int64_t)b] = i;
		struct kelp_chunk_visible *vis;
		uint32_t nv;
		assert_int_equal(kelp_chunk_visibles(c, n, &vis, &nv), 0);
		int64_t shown[SIZE];
		for (int i = 0; i < SIZE; i++)
			shown[i] = -1;
		for (uint32_t k = 0; k < nv; k++) {
			if (k)
				assert_true(vis[k].start >= vis[k - 1].stop);
			for (int64_t b = vis[k].start; b < vis[k].stop; b++) {
				shown[b] = vis[k].chunk;
				assert_int_equal((int64_t)vis[k].chunk_off + (b - vis[k].start),
						 b - c[vis[k].chunk].offset);
			}
		}
		for (int i = 0; i < SIZE; i++)
			if (shown[i] != model[i]) {
				fprintf(stderr, "round %d byte %d: shown %lld model %lld\n", round,
					i, (long long)shown[i], (long long)model[i]);
				fail();
			}
		/* and a read plan of a random range tiles it with the same chunks */
		uint64_t off = (uint64_t)(random() % SIZE);
		uint32_t len = (uint32_t)(random() % SIZE), np;
		struct kelp_chunk_piece *p = malloc((2 * nv + 1) * sizeof(*p));
		int64_t got = kelp_chunk_plan(vis, nv, SIZE, off, len, p, 2 * nv + 1, &np);
		assert_int_equal(got, off + len > SIZE ? SIZE - off : len);
		uint64_t pos = 0;
		for (uint32_t k = 0; k < np; k++) {
			assert_int_equal(p[k].dst_off, pos);
			assert_true(p[k].len > 0);
			for (uint32_t b = 0; b < p[k].len; b++) {
				int64_t at = (int64_t)(off + pos + b);
				assert_int_equal(p[k].chunk == H ? -1 : (int64_t)p[k].chunk,
						 model[at]);
				if (p[k].chunk != H)
					assert_int_equal(p[k].chunk_off + b,
							 at - c[p[k].chunk].offset);
			}
			pos += p[k].len;
		}
		assert_int_equal(pos, got);
		free(p);
		free(vis);
	}
	free(c);
}

/* The real overlap.bin entry: 8 KiB at 0, then 2 KiB written at 3000 (newer) */
static void test_real_overlap(void **state)
{
	size_t len;
	uint8_t *json = load_fixture("filer/entry_overlap.json", &len);
	struct kelp_filer_entry e;
	assert_int_equal(kelp_filer_entry_parse((char *)json, len, &e), 0);
	free(json);
	struct kelp_chunk_visible *vis;
	uint32_t nv, np;
	assert_int_equal(kelp_chunk_visibles(e.chunks, e.nchunks, &vis, &nv), 0);
	assert_int_equal(nv, 3);
	struct kelp_chunk_piece p[8];
	assert_int_equal(kelp_chunk_plan(vis, nv, e.attr.size, 0, 10000, p, 8, &np), 8192);
	static const struct kelp_chunk_piece w[] = {
		{0, 3000, 0, 0}, {1, 2048, 0, 3000}, {0, 3144, 5048, 5048}};
	assert_int_equal(np, 3);
	for (int i = 0; i < 3; i++)
		assert_memory_equal(&p[i], &w[i], sizeof(p[i]));
	free(vis);
	kelp_filer_entry_free(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_weed_interval_merging),
		cmocka_unit_test(test_weed_chunks_reading),
		cmocka_unit_test(test_plan_edges),
		cmocka_unit_test(test_visibles_input),
		cmocka_unit_test(test_equal_ts_quirk),
		cmocka_unit_test(test_randomized),
		cmocka_unit_test(test_real_overlap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
