/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/volume_set live refresh, on files this test writes the way a volume server does (.dat
 * record first, then the .idx row): appends, rows ahead of .dat, deletes, index growth, new
 * volumes, vacuum by rename, removal; old versions stay readable until the reader's quiescent
 * point.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/crc32c.h"
#include "core/epoch.h"
#include "core/idx.h"
#include "core/needle.h"
#include "core/superblock.h"
#include "core/volume.h"

static char dir[] = "/tmp/kelp-test-live-XXXXXX";

struct vol_files {
	uint32_t vid;
	int dat, idx;
	uint64_t pos;
};

static void path_of(char *buf, size_t n, uint32_t vid, const char *ext)
{
	snprintf(buf, n, "%s/%u.%s", dir, vid, ext);
}

static void create(struct vol_files *f, uint32_t vid, const char *dat_ext, const char *idx_ext,
		   uint16_t revision)
{
	char p[PATH_MAX];
	f->vid = vid;
	path_of(p, sizeof(p), vid, dat_ext);
	f->dat = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	path_of(p, sizeof(p), vid, idx_ext);
	f->idx = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(f->dat >= 0 && f->idx >= 0);
	struct kelp_superblock sb = {.version = 3, .compact_revision = revision};
	uint8_t b[8];
	kelp_superblock_encode(&sb, b);
	assert_int_equal(write(f->dat, b, 8), 8);
	f->pos = 8;
	path_of(p, sizeof(p), vid, "vif");
	FILE *vif = fopen(p, "w");
	fputs("{\"version\": 3, \"bytesOffset\": 5}", vif);
	fclose(vif);
}

static uint32_t cookie_of(uint64_t key)
{
	return (uint32_t)(key * 2654435761u) | 1;
}

/* The data of needle @key: a few bytes that name it. */
static size_t data_of(uint64_t key, char *buf)
{
	return (size_t)sprintf(buf, "needle %llu payload", (unsigned long long)key);
}

static void append_dat(struct vol_files *f, uint64_t key, bool tombstone, uint64_t *offset,
		       uint32_t *size)
{
	char data[64];
	struct kelp_needle n = {.cookie = cookie_of(key), .key = key};
	if (!tombstone) {
		n.data = (const uint8_t *)data;
		n.data_size = (uint32_t)data_of(key, data);
		n.stored_crc = kelp_crc32c(0, n.data, n.data_size);
	}
	uint8_t rec[256];
	int64_t len = kelp_needle_encode(3, &n, rec, sizeof(rec));
	assert_true(len > 0);
	assert_int_equal(pwrite(f->dat, rec, (size_t)len, (off_t)f->pos), len);
	*offset = f->pos / 8;
	*size = tombstone ? KELP_IDX_SIZE_TOMBSTONE : kelp_needle_body_size(3, &n);
	f->pos += (uint64_t)len;
}

static void append_idx(struct vol_files *f, uint64_t key, uint64_t offset, uint32_t size)
{
	struct kelp_idx_row r = {key, offset, size};
	uint8_t b[17];
	assert_int_equal(kelp_idx_encode_row(&r, 5, b), 17);
	assert_int_equal(write(f->idx, b, 17), 17);
}

static void put(struct vol_files *f, uint64_t key)
{
	uint64_t off;
	uint32_t size;
	append_dat(f, key, false, &off, &size);
	append_idx(f, key, off, size);
}

/* 0 with the right bytes, or the error of kelp_volume_find. */
static int read_needle(struct kelp_volume_set *set, uint32_t vid, uint64_t key)
{
	struct kelp_volume *v = kelp_volume_set_find(set, vid);
	if (!v)
		return -ENODEV;
	struct kelp_fid fid = {vid, key, cookie_of(key)};
	struct kelp_needle_ref ref;
	int rc = kelp_volume_find(v, &fid, &ref);
	if (rc)
		return rc;
	char want[64];
	size_t n = data_of(key, want);
	assert_int_equal(ref.data_size, n);
	assert_memory_equal(ref.data, want, n);
	assert_int_equal(kelp_needle_ref_check_crc(&ref), 0);
	return 0;
}

static void warn_print(void *arg, const char *msg)
{
	(*(int *)arg)++;
	fprintf(stderr, "  (volume warning: %s)\n", msg);
}

static void test_live(void **state)
{
	assert_non_null(mkdtemp(dir));
	struct vol_files v5;
	create(&v5, 5, "dat", "idx", 0);
	put(&v5, 1);
	put(&v5, 2);

	int warnings = 0;
	const char *dirs[] = {dir};
	struct kelp_volume_set *set;
	assert_int_equal(kelp_volume_set_open(dirs, 1, warn_print, &warnings, &set), 0);
	struct kelp_epoch *ep;
	assert_int_equal(kelp_epoch_new(2, &ep), 0);
	int reader = kelp_epoch_register(ep);
	kelp_volume_set_use_epoch(set, ep);
	assert_int_equal(read_needle(set, 5, 1), 0);
	assert_int_equal(read_needle(set, 5, 3), -ENOENT);

	/* 1. an append */
	put(&v5, 3);
	assert_true(kelp_volume_set_refresh(set) >= 1);
	assert_int_equal(read_needle(set, 5, 3), 0);
	assert_int_equal(kelp_volume_live_count(kelp_volume_set_find(set, 5)), 3);

	/* 2. an .idx row ahead of its .dat record is not used until the record is there */
	uint64_t off;
	uint32_t size;
	uint64_t saved = v5.pos;
	append_dat(&v5, 4, false, &off, &size);		      /* compute the record ... */
	assert_int_equal(ftruncate(v5.dat, (off_t)saved), 0); /* ... but take it back */
	v5.pos = saved;
	append_idx(&v5, 4, off, size);
	kelp_volume_set_refresh(set);
	assert_int_equal(read_needle(set, 5, 4), -ENOENT);
	append_dat(&v5, 4, false, &off, &size);
	assert_true(kelp_volume_set_refresh(set) >= 1);
	assert_int_equal(read_needle(set, 5, 4), 0);

	/* 3. a delete: size-0 record, then a tombstone row */
	append_dat(&v5, 1, true, &off, &size);
	append_idx(&v5, 1, off, KELP_IDX_SIZE_TOMBSTONE);
	kelp_volume_set_refresh(set);
	assert_int_equal(read_needle(set, 5, 1), -ENOENT);
	assert_int_equal(read_needle(set, 5, 2), 0);

	/* 4. the index outgrows its table: a bigger copy is published, the old one retired */
	struct kelp_volume *before = kelp_volume_set_find(set, 5);
	for (uint64_t k = 100; k < 400; k++)
		put(&v5, k);
	assert_int_equal(kelp_volume_set_refresh(set), 300);
	assert_ptr_equal(kelp_volume_set_find(set, 5), before); /* same volume, new index */
	for (uint64_t k = 100; k < 400; k++)
		assert_int_equal(read_needle(set, 5, k), 0);
	assert_true(kelp_epoch_pending(ep) >= 1);
	kelp_epoch_quiescent(ep, reader);
	kelp_volume_set_refresh(set);
	assert_int_equal(kelp_epoch_pending(ep), 0);

	/* 5. a new volume appears */
	struct vol_files v6;
	create(&v6, 6, "dat", "idx", 0);
	put(&v6, 7);
	assert_true(kelp_volume_set_refresh(set) >= 1);
	assert_int_equal(kelp_volume_set_count(set), 2);
	assert_int_equal(read_needle(set, 6, 7), 0);

	/* 6. vacuum: new files with the live needles, revision 1, renamed over the old pair */
	struct kelp_volume *old5 = kelp_volume_set_find(set, 5);
	struct kelp_fid fid3 = {5, 3, cookie_of(3)};
	struct kelp_needle_ref old_ref;
	assert_int_equal(kelp_volume_find(old5, &fid3, &old_ref), 0); /* a reader in flight */
	struct vol_files c5;
	create(&c5, 5, "cpd", "cpx", 1);
	put(&c5, 3);
	put(&c5, 2);
	for (uint64_t k = 100; k < 400; k += 2)
		put(&c5, k);
	char from[PATH_MAX], to[PATH_MAX];
	path_of(from, sizeof(from), 5, "cpd");
	path_of(to, sizeof(to), 5, "dat");
	assert_int_equal(rename(from, to), 0);
	/* between the two renames: still the old pair */
	kelp_volume_set_refresh(set);
	assert_ptr_equal(kelp_volume_set_find(set, 5), old5);
	path_of(from, sizeof(from), 5, "cpx");
	path_of(to, sizeof(to), 5, "idx");
	assert_int_equal(rename(from, to), 0);
	assert_true(kelp_volume_set_refresh(set) >= 1);
	struct kelp_volume *new5 = kelp_volume_set_find(set, 5);
	assert_ptr_not_equal(new5, old5);
	assert_int_equal(kelp_volume_live_count(new5), 2 + 150);
	assert_int_equal(read_needle(set, 5, 3), 0);
	assert_int_equal(read_needle(set, 5, 101), -ENOENT); /* vacuumed away */
	assert_int_equal(read_needle(set, 5, 4), -ENOENT);
	/* the reader's old reference is intact until it passes a quiescent point */
	char want[64];
	size_t n = data_of(3, want);
	assert_memory_equal(old_ref.data, want, n);
	assert_true(kelp_epoch_pending(ep) >= 1);
	kelp_epoch_quiescent(ep, reader);
	kelp_volume_set_refresh(set);
	assert_int_equal(kelp_epoch_pending(ep), 0);
	/* appends to the new pair are followed */
	put(&c5, 9);
	kelp_volume_set_refresh(set);
	assert_int_equal(read_needle(set, 5, 9), 0);

	/* 7. a removed volume is no longer served */
	path_of(to, sizeof(to), 6, "dat");
	assert_int_equal(unlink(to), 0);
	assert_true(kelp_volume_set_refresh(set) >= 1);
	assert_null(kelp_volume_set_find(set, 6));
	assert_int_equal(kelp_volume_set_count(set), 1);

	/* 8. a row whose record never comes (issue 8, item 14) does not hold up the rows after it:
	 * the put and the delete behind it apply in the same refresh */
	append_idx(&c5, 50, c5.pos / 8 + 1000, 10);
	put(&c5, 51);
	append_dat(&c5, 2, true, &off, &size);
	append_idx(&c5, 2, off, KELP_IDX_SIZE_TOMBSTONE);
	assert_true(kelp_volume_set_refresh(set) >= 2);
	assert_int_equal(read_needle(set, 5, 51), 0);
	assert_int_equal(read_needle(set, 5, 2), -ENOENT);
	assert_int_equal(read_needle(set, 5, 50), -ENOENT);
	assert_int_equal(kelp_volume_rows_outside(kelp_volume_set_find(set, 5)), 1);
	/* ... and is given up on after 50 refreshes */
	for (int i = 0; i < 50; i++)
		kelp_volume_set_refresh(set);
	assert_int_equal(read_needle(set, 5, 50), -ENOENT);
	assert_int_equal(kelp_volume_rows_outside(kelp_volume_set_find(set, 5)), 1);

	/* 9. a row ahead of its record waits aside while later rows apply, and is applied once
	 * the record is there */
	saved = c5.pos;
	append_dat(&c5, 60, false, &off, &size);
	assert_int_equal(ftruncate(c5.dat, (off_t)saved), 0);
	c5.pos = saved;
	append_idx(&c5, 60, off, size);
	kelp_volume_set_refresh(set);
	assert_int_equal(read_needle(set, 5, 60), -ENOENT);
	assert_int_equal(kelp_volume_rows_outside(kelp_volume_set_find(set, 5)), 2);
	append_dat(&c5, 60, false, &off, &size); /* the record arrives (same place) */
	put(&c5, 61);
	assert_true(kelp_volume_set_refresh(set) >= 2);
	assert_int_equal(read_needle(set, 5, 60), 0);
	assert_int_equal(read_needle(set, 5, 61), 0);
	assert_int_equal(kelp_volume_rows_outside(kelp_volume_set_find(set, 5)), 1);

	/* 10. a waiting row superseded by a later row of its key (a delete) is dropped: it does not
	 * bring the needle back when bytes appear at its offset later */
	append_idx(&c5, 61, c5.pos / 8 + 64, 40);
	append_dat(&c5, 61, true, &off, &size);
	append_idx(&c5, 61, off, KELP_IDX_SIZE_TOMBSTONE);
	kelp_volume_set_refresh(set);
	assert_int_equal(read_needle(set, 5, 61), -ENOENT);
	for (uint64_t k = 70; k < 80; k++) /* .dat grows past the stale row's offset */
		put(&c5, k);
	kelp_volume_set_refresh(set);
	assert_int_equal(read_needle(set, 5, 61), -ENOENT);
	assert_int_equal(read_needle(set, 5, 79), 0);

	kelp_volume_set_close(set);
	kelp_epoch_free(ep);
	close(v5.dat);
	close(v5.idx);
	close(v6.dat);
	close(v6.idx);
	close(c5.dat);
	close(c5.idx);
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_live),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
