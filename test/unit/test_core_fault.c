/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/fault: SIGBUS in a guarded mapping is survived (the zone's word raised, the page replaced by
 * zeros, other zones untouched); outside every zone it still kills, with a line on stderr; zones
 * come and go; a volume whose .dat is truncated under a read says so (kelp_volume_faulted) and is
 * opened again by the next refresh.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/fault.h"
#include "core/volume.h"

#define PAGE 4096

/* A file of @pages pages of 0x5a, mapped shared read-only; its fd in *fd. */
static uint8_t *map_file(char *path, size_t pages, int *fd)
{
	strcpy(path, "/tmp/kelp-ut-fault.XXXXXX");
	*fd = mkstemp(path);
	assert_true(*fd >= 0);
	uint8_t buf[PAGE];
	memset(buf, 0x5a, sizeof(buf));
	for (size_t i = 0; i < pages; i++)
		assert_int_equal(write(*fd, buf, PAGE), PAGE);
	uint8_t *p = mmap(NULL, pages * PAGE, PROT_READ, MAP_SHARED, *fd, 0);
	assert_true(p != MAP_FAILED);
	return p;
}

static void test_truncated_mapping_survives(void **state)
{
	char path_a[64], path_b[64];
	int fd_a, fd_b;
	uint32_t hit_a = 0, hit_b = 0;
	uint8_t *a = map_file(path_a, 4, &fd_a);
	uint8_t *b = map_file(path_b, 4, &fd_b);
	uint64_t before = kelp_fault_count();
	assert_int_equal(kelp_fault_install(), 0);
	assert_int_equal(kelp_fault_zone_add(a, 4 * PAGE, PAGE, &hit_a), 0);
	assert_int_equal(kelp_fault_zone_add(b, 4 * PAGE, PAGE, &hit_b), 0);

	assert_int_equal(ftruncate(fd_a, PAGE), 0); /* pages 1-3 of a are gone */
	assert_int_equal(((volatile uint8_t *)a)[0], 0x5a);
	assert_false(kelp_fault_hit(&hit_a));
	/* SIGBUS without the handler; with it: the zero page, the word raised */
	assert_int_equal(((volatile uint8_t *)a)[2 * PAGE + 17], 0);
	assert_true(kelp_fault_hit(&hit_a));
	assert_int_equal(kelp_fault_count(), before + 1);
	/* the next page faults on its own, the replaced one does not again */
	assert_int_equal(((volatile uint8_t *)a)[2 * PAGE + 18], 0);
	assert_int_equal(((volatile uint8_t *)a)[3 * PAGE], 0);
	assert_int_equal(kelp_fault_count(), before + 2);
	/* the other zone is untouched */
	assert_false(kelp_fault_hit(&hit_b));
	assert_int_equal(((volatile uint8_t *)b)[3 * PAGE], 0x5a);

	kelp_fault_zone_del(a);
	kelp_fault_zone_del(b);
	munmap(a, 4 * PAGE);
	munmap(b, 4 * PAGE);
	close(fd_a);
	close(fd_b);
	unlink(path_a);
	unlink(path_b);
}

/* Outside every zone (or after its zone was removed) a SIGBUS is a bug: the process dies of it,
 * after saying where on stderr. */
static void test_unguarded_fault_still_kills(void **state)
{
	char path[64];
	int fd;
	uint32_t hit = 0;
	uint8_t *p = map_file(path, 2, &fd);
	assert_int_equal(kelp_fault_install(), 0);
	assert_int_equal(kelp_fault_zone_add(p, 2 * PAGE, PAGE, &hit), 0);
	kelp_fault_zone_del(p);
	assert_int_equal(ftruncate(fd, 0), 0);
	int err[2];
	assert_int_equal(pipe(err), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(err[1], STDERR_FILENO);
		(void)((volatile uint8_t *)p)[PAGE];
		_exit(0);
	}
	close(err[1]);
	char msg[256] = {0};
	ssize_t n = 0, r;
	while (n < (ssize_t)sizeof(msg) - 1 && (r = read(err[0], msg + n, sizeof(msg) - 1 - n)) > 0)
		n += r; /* until the child is gone (EOF) */
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGBUS);
	assert_true(n > 0);
	assert_non_null(strstr(msg, "outside every guarded mapping"));
	assert_false(kelp_fault_hit(&hit));
	close(err[0]);
	munmap(p, 2 * PAGE);
	close(fd);
	unlink(path);
}

static void test_zone_slots_reused(void **state)
{
	uint32_t hit;
	static uint8_t mem[64];
	assert_int_equal(kelp_fault_zone_add(NULL, 1, PAGE, &hit), -EINVAL);
	assert_int_equal(kelp_fault_zone_add(mem, 0, PAGE, &hit), -EINVAL);
	assert_int_equal(kelp_fault_zone_add(mem, 1, 3000, &hit), -EINVAL);
	/* far more adds than slots: each removed again, so the table never fills */
	for (unsigned i = 0; i < KELP_FAULT_MAX_ZONES + 10; i++) {
		assert_int_equal(kelp_fault_zone_add(mem + (i % 64), 1, PAGE, &hit), 0);
		kelp_fault_zone_del(mem + (i % 64));
	}
	kelp_fault_zone_del(mem); /* none: no-op */
}

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

/* The .dat truncated under the volume: the read of a needle that was cut off faults, survives,
 * and the volume says so; the refresh opens the file again (the needle is then not found). */
static void test_volume_truncated_under_read(void **state)
{
	char dir[] = "/tmp/kelp-ut-fault-vol.XXXXXX";
	assert_non_null(mkdtemp(dir));
	copy_fixture(dir);
	char dat[128];
	snprintf(dat, sizeof(dat), "%s/5.dat", dir);
	assert_int_equal(kelp_fault_install(), 0);
	const char *dirs[] = {dir};
	struct kelp_volume_set *set;
	assert_int_equal(kelp_volume_set_open(dirs, 1, NULL, NULL, &set), 0);
	struct kelp_volume *v = kelp_volume_set_find(set, 5);
	assert_non_null(v);
	/* the largest needle: its data spans several pages */
	struct kelp_fid fid = {0};
	struct kelp_needle_ref ref = {0};
	uint64_t cursor = 0, key, off;
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
	assert_int_equal(kelp_volume_find(v, &fid, &ref), 0);
	assert_int_equal(kelp_needle_ref_check_crc(&ref), 0);
	assert_false(kelp_volume_faulted(v));

	/* cut the file in the middle of that needle's data, on a page boundary past its header */
	uint64_t cut = (ref.dat_offset + 4096 + PAGE) & ~(uint64_t)(PAGE - 1);
	assert_true(cut < ref.dat_offset + ref.data_size);
	assert_int_equal(truncate(dat, (off_t)cut), 0);
	assert_int_equal(kelp_needle_ref_check_crc(&ref), -EIO); /* read zeros past the cut */
	assert_true(kelp_volume_faulted(v));
	assert_int_equal(kelp_volume_fault_news(v), 1);
	assert_int_equal(kelp_volume_fault_news(v), 0); /* told once */

	assert_true(kelp_volume_set_refresh(set) >= 1);
	struct kelp_volume *nv = kelp_volume_set_find(set, 5);
	assert_non_null(nv);
	assert_ptr_not_equal(nv, v);
	assert_false(kelp_volume_faulted(nv));
	assert_int_equal(kelp_volume_find(nv, &fid, &ref), -ENOENT);
	kelp_volume_set_close(set);

	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_truncated_mapping_survives),
		cmocka_unit_test(test_unguarded_fault_still_kills),
		cmocka_unit_test(test_zone_slots_reused),
		cmocka_unit_test(test_volume_truncated_under_read),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
