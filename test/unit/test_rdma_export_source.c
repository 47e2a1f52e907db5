/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lcore/rdma/rdma_export.c's side of the export ops (nic/conn.h kelp_rdma_export_ops), on a real
 * volume: kelp_rdma_source_find describes a needle's bytes for the export (bounce, the volume as
 * owner) and maps lookup failures to the errors the exporter answers with; kelp_rdma_source_faulted
 * says when the volume's .dat was truncated under the copy (a SIGBUS put zeros there,
 * core/fault.h), which is what makes the exporter answer CORRUPT (that half: test_nic_conn.c
 * test_export_faulted_source_corrupt).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/fault.h"
#include "core/volume.h"
#include "lcore/rdma/rdma_export.h"
#include "nic/conn.h"

#define PAGE 4096

/* Copy the healthy_volume fixture into @dir as volume 5 (the test truncates its copy). */
static void copy_fixture(const char *dir)
{
	const char *fix = getenv("KELP_FIXTURES") ? getenv("KELP_FIXTURES") : "test/fixtures";
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
		 "cp %s/healthy_volume.dat %s/5.dat && cp %s/healthy_volume.idx %s/5.idx", fix, dir,
		 fix, dir);
	assert_int_equal(system(cmd), 0);
}

static void test_source_find_and_faulted(void **state)
{
	char dir[] = "/tmp/kelp-ut-rdma-source.XXXXXX";
	char dat[128], cmd[160];
	struct kelp_volume_set *set;
	struct kelp_volume *v, *got = NULL;
	struct kelp_rdma_source src;
	struct kelp_needle_ref ref = {0};
	struct kelp_fid fid = {0};
	uint64_t cursor = 0, key, off;

	assert_non_null(mkdtemp(dir));
	copy_fixture(dir);
	snprintf(dat, sizeof(dat), "%s/5.dat", dir);
	assert_int_equal(kelp_fault_install(), 0);
	const char *dirs[] = {dir};
	assert_int_equal(kelp_volume_set_open(dirs, 1, NULL, NULL, &set), 0);
	v = kelp_volume_set_find(set, 5);
	assert_non_null(v);
	/* the largest needle: its data spans several pages */
	while (kelp_volume_next(v, &cursor, &key, &off)) {
		const uint8_t *rec = kelp_volume_dat_map(v) + off;
		struct kelp_fid f = {5, key,
				     (uint32_t)rec[0] << 24 | rec[1] << 16 | rec[2] << 8 | rec[3]};
		struct kelp_needle_ref r;

		assert_int_equal(kelp_volume_find(v, &f, &r), 0);
		if (r.data_size > ref.data_size) {
			ref = r;
			fid = f;
		}
	}
	assert_true(ref.data_size > 3 * PAGE);

	/* the needle as the export sees it */
	assert_int_equal(kelp_rdma_source_find(set, &fid, &src, &got), 0);
	assert_ptr_equal(got, v);
	assert_ptr_equal(src.owner, v);
	assert_ptr_equal(src.data, ref.data);
	assert_int_equal(src.size, ref.data_size);
	assert_int_equal(src.crc, ref.stored_crc);
	assert_int_equal(src.flags, ref.flags);
	assert_true(src.use_bounce);
	assert_int_equal(kelp_rdma_source_find(set, &fid, &src, NULL), 0); /* vol_out optional */
	assert_false(kelp_rdma_source_faulted(NULL, &src));

	/* what the exporter answers: no such volume here, no such needle */
	struct kelp_fid other = fid;
	other.volume_id = 6;
	assert_int_equal(kelp_rdma_source_find(set, &other, &src, NULL), -EHOSTUNREACH);
	other = fid;
	other.cookie ^= 1;
	assert_int_equal(kelp_rdma_source_find(set, &other, &src, NULL), -ENOENT);

	/* a source with no owner cannot fault */
	assert_false(kelp_rdma_source_faulted(NULL, &(struct kelp_rdma_source){.owner = NULL}));

	/* the .dat cut in the needle's data: the bounce copy reads zeros past the cut */
	assert_int_equal(kelp_rdma_source_find(set, &fid, &src, NULL), 0);
	uint64_t cut = (ref.dat_offset + 4096 + PAGE) & ~(uint64_t)(PAGE - 1);
	assert_true(cut < ref.dat_offset + ref.data_size);
	assert_int_equal(truncate(dat, (off_t)cut), 0);
	uint8_t *copy = malloc(src.size);
	assert_non_null(copy);
	memcpy(copy, src.data, src.size);
	assert_int_equal(copy[src.size - 1], 0); /* past the cut: the zero page */
	assert_true(kelp_rdma_source_faulted(NULL, &src));
	free(copy);

	kelp_volume_set_close(set);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_source_find_and_faulted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
