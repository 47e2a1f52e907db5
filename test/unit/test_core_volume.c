/* SPDX-License-Identifier: Apache-2.0 */
/* core/volume and core/volume_set on the SeaweedFS fixtures: exact keys, offsets, sizes, CRCs. */
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

#include "core/crc32c.h"
#include "core/superblock.h"
#include "core/volume.h"

static char path_buf[PATH_MAX];

static const char *fixture(const char *name)
{
	const char *dir = getenv("KELP_FIXTURES");
	snprintf(path_buf, sizeof(path_buf), "%s/%s", dir ? dir : "test/fixtures", name);
	return path_buf;
}

/* healthy_volume's live needles (last row wins), read independently from the files */
static const struct {
	uint64_t key;
	uint64_t offset;
	uint32_t cookie, data_size, crc;
	uint8_t first_byte;
} healthy[] = {
	{0x03, 8, 0x06bfd555, 75634, 0x4af853fb, 0x16},
	{0x04, 75696, 0xb29c8a84, 4395, 0x0e17d125, 0xa8},
	{0x08, 80144, 0x578634e1, 83590, 0x043193f7, 0xcf},
	{0x09, 163784, 0xfd034397, 65424, 0xe5500b5a, 0x8b},
	{0x15, 428864, 0x9d9a9497, 74594, 0x18026fdc, 0x30},
	{0x27, 792856, 0x3b6306d2, 5459, 0xa19f9563, 0x8f},
	{0x30, 913216, 0x436c9573, 29267, 0x5077fea1, 0x48},
};

static void test_healthy(void **state)
{
	struct kelp_volume *v;
	assert_int_equal(kelp_volume_open(fixture("healthy_volume.dat"), &v),
			 -EINVAL); /* no id in name */
	(void)v;
}

static struct kelp_volume *open_copy(const char *name, const char *as_vid)
{
	/* fixture names carry no volume id: symlink them as <dir>/<vid>.dat/.idx */
	char dir[] = "/tmp/kelp-test-vol-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char src[PATH_MAX], dst[PATH_MAX];
	static const char *exts[] = {".dat", ".idx"};
	for (int i = 0; i < 2; i++) {
		snprintf(src, sizeof(src), "%s%s", fixture(name), exts[i]);
		snprintf(dst, sizeof(dst), "%s/%s%s", dir, as_vid, exts[i]);
		FILE *in = fopen(src, "rb");
		if (!in)
			continue;
		FILE *out = fopen(dst, "wb");
		assert_non_null(out);
		char buf[65536];
		size_t n;
		while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
			assert_int_equal(fwrite(buf, 1, n, out), n);
		fclose(in);
		fclose(out);
	}
	snprintf(dst, sizeof(dst), "%s/%s.dat", dir, as_vid);
	struct kelp_volume *v = NULL;
	assert_int_equal(kelp_volume_open(dst, &v), 0);
	return v;
}

/* Remove what open_copy() made: <dir>/<vid>.dat, .idx and the directory. */
static void remove_volume_dir(const char *dir)
{
	char cmd[PATH_MAX + 16];
	assert_int_equal(strncmp(dir, "/tmp/kelp-test-vol-", 19), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void close_and_remove(struct kelp_volume *v)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", kelp_volume_dat_path(v));
	*strrchr(dir, '/') = '\0';
	kelp_volume_close(v);
	remove_volume_dir(dir);
}

static void test_healthy_needles(void **state)
{
	struct kelp_volume *v = open_copy("healthy_volume", "7");
	assert_int_equal(kelp_volume_id(v), 7);
	assert_int_equal(kelp_volume_live_count(v), 7);
	assert_int_equal(kelp_volume_deleted_count(v), 10);
	assert_int_equal(kelp_volume_offset_bytes(v), 4);
	assert_int_equal(kelp_volume_dat_size(v), 942856);
	assert_int_equal(kelp_volume_superblock(v)->version, 3);
	assert_int_equal(kelp_volume_superblock(v)->replica_placement, 2);

	for (size_t i = 0; i < sizeof(healthy) / sizeof(healthy[0]); i++) {
		struct kelp_fid fid = {7, healthy[i].key, healthy[i].cookie};
		struct kelp_needle_ref ref;
		assert_int_equal(kelp_volume_find(v, &fid, &ref), 0);
		assert_int_equal(ref.dat_offset, healthy[i].offset);
		assert_int_equal(ref.data_size, healthy[i].data_size);
		assert_int_equal(ref.stored_crc, healthy[i].crc);
		assert_int_equal(ref.flags, 0x0e);
		assert_int_equal(ref.data[0], healthy[i].first_byte);
		assert_int_equal(kelp_needle_ref_check_crc(&ref), 0);
		assert_int_equal(kelp_crc32c(0, ref.data, ref.data_size), healthy[i].crc);
		/* wrong cookie, wrong volume */
		fid.cookie ^= 1;
		assert_int_equal(kelp_volume_find(v, &fid, &ref), -ENOENT);
		fid.cookie ^= 1;
		fid.volume_id = 8;
		assert_int_equal(kelp_volume_find(v, &fid, &ref), -ENOENT);
	}
	/* deleted (key 0x14 = 20 was live, then a tombstone) and never-seen keys */
	struct kelp_needle_ref ref;
	struct kelp_fid deleted = {7, 20, 0}, missing = {7, 1000, 0};
	assert_int_equal(kelp_volume_find(v, &deleted, &ref), -ENOENT);
	assert_int_equal(kelp_volume_find(v, &missing, &ref), -ENOENT);
	/* a corrupted byte in the data fails the CRC check */
	struct kelp_fid fid = {7, 3, 0x06bfd555};
	assert_int_equal(kelp_volume_find(v, &fid, &ref), 0);
	uint8_t copy[16];
	memcpy(copy, ref.data, 16);
	struct kelp_needle_ref bad = ref;
	uint8_t *flip = malloc(ref.data_size);
	memcpy(flip, ref.data, ref.data_size);
	flip[100] ^= 0x40;
	bad.data = flip;
	assert_int_equal(kelp_needle_ref_check_crc(&bad), -EIO);
	free(flip);
	close_and_remove(v);
}

static void test_43_legacy_crc_no_idx(void **state)
{
	struct kelp_volume *v = open_copy("43", "43");
	assert_int_equal(kelp_volume_offset_bytes(v), 0); /* scanned */
	assert_int_equal(kelp_volume_live_count(v), 1);
	struct kelp_fid fid = {43, 1, 0xb1615a86};
	struct kelp_needle_ref ref;
	assert_int_equal(kelp_volume_find(v, &fid, &ref), 0);
	assert_int_equal(ref.dat_offset, 8);
	assert_int_equal(ref.data_size, 1153862);
	assert_int_equal(ref.stored_crc, 0x501164a2);
	assert_int_equal(kelp_crc32c_classify(ref.stored_crc, ref.data, ref.data_size),
			 KELP_CRC_LEGACY);
	assert_int_equal(kelp_needle_ref_check_crc(&ref), 0);
	assert_memory_equal(ref.data, "PK\x03\x04", 4);
	close_and_remove(v);
}

static void test_empty_and_bad(void **state)
{
	struct kelp_volume *v = open_copy("empty_volume", "1");
	assert_int_equal(kelp_volume_live_count(v), 0);
	close_and_remove(v);
	assert_int_equal(kelp_volume_open("/nonexistent/5.dat", &v), -ENOENT);
	assert_int_equal(kelp_volume_open("/tmp/9.dat/", &v) < 0, 1);
	uint32_t vid;
	assert_int_equal(kelp_volume_id_from_path("/a/b/pics_12.dat", &vid), 0);
	assert_int_equal(vid, 12);
	assert_int_equal(kelp_volume_id_from_path("/a/b/x12.dat", &vid), -EINVAL);
	assert_int_equal(kelp_volume_id_from_path("/a/b/99999999999.dat", &vid), -EINVAL);
}

static void count_warning(void *arg, const char *msg)
{
	(*(int *)arg)++;
	assert_non_null(strstr(msg, "/nonexistent-dir"));
}

static void test_set(void **state)
{
	struct kelp_volume *a = open_copy("healthy_volume", "7");
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", kelp_volume_dat_path(a));
	*strrchr(dir, '/') = '\0';
	kelp_volume_close(a);
	const char *dirs[] = {dir, "/nonexistent-dir"};
	int warned = 0;
	struct kelp_volume_set *set;
	assert_int_equal(kelp_volume_set_open(dirs, 2, count_warning, &warned, &set), 0);
	assert_int_equal(warned, 1); /* the missing directory */
	assert_int_equal(kelp_volume_set_count(set), 1);
	assert_non_null(kelp_volume_set_find(set, 7));
	assert_null(kelp_volume_set_find(set, 8));
	assert_ptr_equal(kelp_volume_set_at(set, 0), kelp_volume_set_find(set, 7));
	kelp_volume_set_close(set);
	remove_volume_dir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_healthy),
		cmocka_unit_test(test_healthy_needles),
		cmocka_unit_test(test_43_legacy_crc_no_idx),
		cmocka_unit_test(test_empty_and_bad),
		cmocka_unit_test(test_set),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
