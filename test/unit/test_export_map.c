/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lcore/rdma/export_map.c on fake verbs and a real volume: the registrations for one-sided reads
 * run on the map's helper thread, never in the caller of kelp_export_map_meta (the export lcore).
 * The fake ibv_reg_mr waits at a gate the test opens, so a registration can be held "in flight":
 *   - a MAP meanwhile is answered -EBUSY at once (the lcore does not wait), one registration for
 *     all of them, the VOLMAP once it is done, IDX only then;
 *   - a vacuum (the files replaced) while the next registration is in flight: MAP keeps answering
 *     the current VOLMAP, whose region still shows the old file and stays registered after the new
 *     one is published (its grace); a second vacuum during the first one's registration ends in
 *     a third generation; zero-copy two-sided sources point into the current region;
 *   - shutdown while a registration is blocked in ibv_reg_mr, and with regions in their grace:
 *     destroy waits for the helper, every MR is deregistered and every descriptor closed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/idx.h"
#include "core/volume.h"
#include "lcore/rdma/export_map.h"
#include "lcore/rdma/rdma_export.h"
#include "nic/conn.h"
#include "nic/device.h"
#include "proto/rdma_msg.h"
/* only its MRs are used here */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "test/unit/fake_verbs.h"
#pragma GCC diagnostic pop

#define VID 5
#define MS  1000000ull

/* The gate in front of the fake ibv_reg_mr; its lock also serializes every use of F (the fake
 * verbs are not thread-safe: the helper registers, the test looks at the MRs). */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool closed;
	unsigned entered, regs;
} gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0, 0};

static struct ibv_mr *gated_reg_mr(struct ibv_pd *pd, void *addr, size_t len, int access)
{
	pthread_mutex_lock(&gate.lock);
	gate.entered++;
	pthread_cond_broadcast(&gate.cond);
	while (gate.closed)
		pthread_cond_wait(&gate.cond, &gate.lock);
	struct ibv_mr *mr = f_reg_mr(pd, addr, len, access);
	gate.regs++;
	pthread_mutex_unlock(&gate.lock);
	return mr;
}

static int gated_dereg_mr(struct ibv_mr *mr)
{
	pthread_mutex_lock(&gate.lock);
	int rc = f_dereg_mr(mr);
	pthread_mutex_unlock(&gate.lock);
	return rc;
}

static void gate_set(bool closed)
{
	pthread_mutex_lock(&gate.lock);
	gate.closed = closed;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
}

/* Wait (10 s bound: a hang guard, not a timing assertion) until @n registrations reached the gate.
 */
static void wait_entered(unsigned n)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&gate.lock);
	while (gate.entered < n)
		if (pthread_cond_timedwait(&gate.cond, &gate.lock, &until) == ETIMEDOUT)
			break;
	unsigned got = gate.entered;
	pthread_mutex_unlock(&gate.lock);
	assert_true(got >= n);
}

static bool mr_live(uint32_t rkey)
{
	bool live = false;

	pthread_mutex_lock(&gate.lock);
	for (unsigned i = 0; i < 256; i++)
		if (F.mrs[i] && F.mrs[i]->mr.rkey == rkey)
			live = true;
	pthread_mutex_unlock(&gate.lock);
	return live;
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static struct kelp_verbs_ops ops;

struct fx {
	char dir[64], dat[96], idx[96];
	struct kelp_volume_set *set;
	struct kelp_rdma_dev dev;
	struct kelp_export_map *m;
	uint64_t now; /* the lcore's clock as passed to meta: real time, moved ahead by the test */
	int fds;
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	const char *fix = getenv("KELP_FIXTURES") ? getenv("KELP_FIXTURES") : "test/fixtures";
	char cmd[512];

	memset(&F, 0, sizeof(F));
	gate.closed = false;
	gate.entered = gate.regs = 0;
	ops = fake_ops;
	ops.reg_mr = gated_reg_mr;
	ops.dereg_mr = gated_dereg_mr;
	strcpy(fx->dir, "/tmp/kelp-ut-export-map.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->dat, sizeof(fx->dat), "%s/%d.dat", fx->dir, VID);
	snprintf(fx->idx, sizeof(fx->idx), "%s/%d.idx", fx->dir, VID);
	snprintf(cmd, sizeof(cmd), "cp %s/healthy_volume.dat %s && cp %s/healthy_volume.idx %s",
		 fix, fx->dat, fix, fx->idx);
	assert_int_equal(system(cmd), 0);
	const char *dirs[] = {fx->dir};
	assert_int_equal(kelp_volume_set_open(dirs, 1, NULL, NULL, &fx->set), 0);
	assert_non_null(kelp_volume_set_find(fx->set, VID));
	fx->dev = (struct kelp_rdma_dev){.ops = &ops, .pd = &F.pd, .name = "fake0"};
	fx->fds = open_fds();
	assert_int_equal(kelp_export_map_create(&fx->dev, &fx->m), 0);
	fx->now = kelp_now_ns();
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	char cmd[128];

	gate_set(false);
	kelp_export_map_destroy(fx->m);
	assert_int_equal(F.objects, 0); /* every MR deregistered */
	assert_int_equal(open_fds(), fx->fds);
	kelp_volume_set_close(fx->set);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->dir);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

static int meta(struct fx *fx, uint8_t op, struct kelp_rdma_source *src)
{
	return kelp_export_map_meta(fx->m, fx->set, op, VID, fx->now, src);
}

/* MAP until answered (a 10 s bound on real time; each try moves the lcore's clock past the
 * re-check interval). @return the VOLMAP. */
static struct kelp_rdma_volmap map_until_ok(struct fx *fx)
{
	struct kelp_rdma_source src;
	struct kelp_rdma_volmap vm;
	uint64_t until = kelp_now_ns() + 10000 * MS;
	int rc;

	while ((rc = meta(fx, KELP_RDMA_OP_MAP, &src)) == -EBUSY && kelp_now_ns() < until)
		usleep(1000);
	assert_int_equal(rc, 0);
	assert_int_equal(src.size, KELP_RDMA_VOLMAP_SIZE);
	assert_int_equal(kelp_rdma_volmap_parse(src.data, src.size, &vm), 0);
	return vm;
}

/* MAP (moving the clock past the re-check interval each time) until the VOLMAP's generation is
 * @gen or later (10 s bound). */
static struct kelp_rdma_volmap map_until_gen(struct fx *fx, uint64_t gen)
{
	uint64_t until = kelp_now_ns() + 10000 * MS;
	struct kelp_rdma_volmap vm;

	do {
		fx->now += 2 * KELP_EXPORT_MAP_CHECK_MS * MS;
		vm = map_until_ok(fx);
		if (vm.generation >= gen)
			return vm;
		usleep(1000);
	} while (kelp_now_ns() < until);
	fail_msg("generation %llu not reached (at %llu)", (unsigned long long)gen,
		 (unsigned long long)vm.generation);
	return vm;
}

/* A vacuum of @path as weed commits one: a new file (same bytes, the superblock's compaction
 * revision at @rev when a .dat) renamed over the old one: a new inode. */
static void replace_file(const char *path, int rev)
{
	char tmp[128], cmd[320];

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	snprintf(cmd, sizeof(cmd), "cp %s %s", path, tmp);
	assert_int_equal(system(cmd), 0);
	if (rev >= 0) {
		int fd = open(tmp, O_WRONLY);
		uint8_t b[2] = {(uint8_t)(rev >> 8), (uint8_t)rev};

		assert_true(fd >= 0);
		assert_int_equal(pwrite(fd, b, 2, 4), 2);
		close(fd);
	}
	assert_int_equal(rename(tmp, path), 0);
}

static void vacuum(struct fx *fx, int rev)
{
	replace_file(fx->dat, rev);
	replace_file(fx->idx, -1);
}

static void test_map_while_registering(void **state)
{
	struct fx *fx = *state;
	struct kelp_rdma_source src;
	struct stat dst, ist;

	gate_set(true);
	/* the first MAP queues the registration and is answered at once: BUSY */
	assert_int_equal(meta(fx, KELP_RDMA_OP_MAP, &src), -EBUSY);
	wait_entered(1); /* the helper is inside ibv_reg_mr while the lcore goes on */
	assert_int_equal(meta(fx, KELP_RDMA_OP_IDX, &src), -EHOSTUNREACH);
	for (int i = 0; i < 5; i++) {
		fx->now += 2 * KELP_EXPORT_MAP_CHECK_MS * MS;
		assert_int_equal(meta(fx, KELP_RDMA_OP_MAP, &src), -EBUSY);
	}
	gate_set(false);
	struct kelp_rdma_volmap vm = map_until_ok(fx);

	pthread_mutex_lock(&gate.lock);
	assert_int_equal(gate.regs, 1); /* one registration for all those MAPs */
	pthread_mutex_unlock(&gate.lock);
	assert_int_equal(stat(fx->dat, &dst), 0);
	assert_int_equal(stat(fx->idx, &ist), 0);
	assert_int_equal(vm.volume_id, VID);
	assert_true(vm.generation >= 1);
	assert_int_equal(vm.dat_len, (uint64_t)dst.st_size / 4096 * 4096);
	assert_true(vm.dat_len > 0);
	assert_true(mr_live(vm.dat_rkey));
	size_t row = kelp_idx_row_size(vm.offset_bytes);
	assert_int_equal(vm.idx_len, (uint64_t)ist.st_size / row * row);

	/* the region is the .dat's bytes, the IDX answer the .idx's */
	uint8_t *want = malloc(dst.st_size + ist.st_size);
	int fd = open(fx->dat, O_RDONLY);
	assert_int_equal(read(fd, want, dst.st_size), dst.st_size);
	close(fd);
	assert_memory_equal((const void *)(uintptr_t)vm.dat_addr, want, vm.dat_len);
	fd = open(fx->idx, O_RDONLY);
	assert_int_equal(read(fd, want, ist.st_size), ist.st_size);
	close(fd);
	assert_int_equal(meta(fx, KELP_RDMA_OP_IDX, &src), 0);
	assert_int_equal(src.size, vm.idx_len);
	assert_memory_equal(src.data, want, vm.idx_len);
	free(want);

	/* unchanged files: the same generation, no new registration */
	struct kelp_rdma_volmap again = map_until_gen(fx, 0);
	assert_int_equal(again.generation, vm.generation);
	assert_int_equal(again.dat_rkey, vm.dat_rkey);
	pthread_mutex_lock(&gate.lock);
	assert_int_equal(gate.regs, 1);
	pthread_mutex_unlock(&gate.lock);
}

static void test_vacuum_during_registration(void **state)
{
	struct fx *fx = *state;
	struct kelp_rdma_source src;
	struct kelp_export_map_stats st;

	struct kelp_rdma_volmap v1 = map_until_ok(fx);
	const uint8_t *old_region = (const uint8_t *)(uintptr_t)v1.dat_addr;
	uint16_t rev0 = (uint16_t)(old_region[4] << 8 | old_region[5]);

	gate_set(true);
	vacuum(fx, rev0 + 1);
	fx->now += 2 * KELP_EXPORT_MAP_CHECK_MS * MS;
	/* the re-check queues the new registration; MAP answers the current VOLMAP meanwhile */
	assert_int_equal(meta(fx, KELP_RDMA_OP_MAP, &src), 0);
	struct kelp_rdma_volmap cur;
	assert_int_equal(kelp_rdma_volmap_parse(src.data, src.size, &cur), 0);
	assert_int_equal(cur.generation, v1.generation);
	assert_int_equal(cur.dat_rkey, v1.dat_rkey);
	assert_int_equal(cur.file_id, v1.file_id);
	wait_entered(2);
	/* a second vacuum while the first one's registration is in flight */
	vacuum(fx, rev0 + 2);
	fx->now += 2 * KELP_EXPORT_MAP_CHECK_MS * MS;
	assert_int_equal(meta(fx, KELP_RDMA_OP_MAP, &src), 0);
	assert_int_equal(kelp_rdma_volmap_parse(src.data, src.size, &cur), 0);
	assert_int_equal(cur.generation, v1.generation);
	assert_true(mr_live(v1.dat_rkey));
	/* the old region still shows the old file (a reader READing it gets consistent records) */
	assert_int_equal(old_region[4] << 8 | old_region[5], rev0);
	assert_int_equal(meta(fx, KELP_RDMA_OP_IDX, &src), 0);
	assert_int_equal(src.size, v1.idx_len);
	gate_set(false);

	/* the first vacuum's files, then the second's: two more generations */
	struct kelp_rdma_volmap v3 = map_until_gen(fx, v1.generation + 2);
	assert_int_not_equal(v3.file_id, v1.file_id);
	assert_int_not_equal(v3.dat_rkey, v1.dat_rkey);
	assert_true(mr_live(v3.dat_rkey));
	const uint8_t *new_region = (const uint8_t *)(uintptr_t)v3.dat_addr;
	assert_int_equal(new_region[4] << 8 | new_region[5], rev0 + 2);
	/* the replaced regions wait out their grace (KELP_EXPORT_MAP_GRACE_MS): still registered */
	assert_true(mr_live(v1.dat_rkey));
	assert_int_equal(old_region[4] << 8 | old_region[5], rev0);
	kelp_export_map_stats(fx->m, &st);
	assert_int_equal(st.reg_ro, 3);
	assert_int_equal(st.retired, 2);
	assert_int_equal(st.refused, 0);

	/* zero-copy two-sided export: a needle's source points into the current region */
	struct kelp_volume *vol = kelp_volume_set_find(fx->set, VID);
	uint64_t cursor = 0, key, off;
	assert_true(kelp_volume_next(vol, &cursor, &key, &off));
	const uint8_t *rec = kelp_volume_dat_map(vol) + off;
	struct kelp_fid fid = {VID, key,
			       (uint32_t)rec[0] << 24 | rec[1] << 16 | rec[2] << 8 | rec[3]};
	assert_int_equal(kelp_rdma_source_find(fx->set, &fid, &src, NULL), 0);
	if (src.data + src.size <= kelp_volume_dat_map(vol) + v3.dat_len) {
		assert_int_equal(kelp_export_map_source(fx->m, vol, &src), 1);
		assert_false(src.use_bounce);
		assert_true(src.data >= new_region && src.data < new_region + v3.dat_len);
	}
}

static void *open_gate_later(void *arg)
{
	(void)arg;
	usleep(100 * 1000);
	gate_set(false);
	return NULL;
}

static void test_shutdown_during_registration(void **state)
{
	struct fx *fx = *state;
	struct kelp_rdma_source src;
	pthread_t t;

	gate_set(true);
	assert_int_equal(meta(fx, KELP_RDMA_OP_MAP, &src), -EBUSY);
	wait_entered(1);
	/* destroy while the helper is blocked in ibv_reg_mr: it waits for the helper, then frees
	 * the registration nobody published (teardown checks MRs and descriptors) */
	assert_int_equal(pthread_create(&t, NULL, open_gate_later, NULL), 0);
	kelp_export_map_destroy(fx->m);
	pthread_join(t, NULL);
	pthread_mutex_lock(&gate.lock);
	assert_int_equal(gate.regs, 1);
	pthread_mutex_unlock(&gate.lock);
	assert_int_equal(kelp_export_map_create(&fx->dev, &fx->m), 0); /* for teardown */
}

static void test_shutdown_with_regions_in_grace(void **state)
{
	struct fx *fx = *state;

	struct kelp_rdma_volmap v1 = map_until_ok(fx);
	vacuum(fx, 7);
	struct kelp_rdma_volmap v2 = map_until_gen(fx, v1.generation + 1);
	assert_true(mr_live(v1.dat_rkey));
	assert_true(mr_live(v2.dat_rkey));
	/* and a registration queued, not started */
	gate_set(true);
	vacuum(fx, 8);
	fx->now += 2 * KELP_EXPORT_MAP_CHECK_MS * MS;
	struct kelp_rdma_source src;
	assert_int_equal(meta(fx, KELP_RDMA_OP_MAP, &src), 0);
	wait_entered(3);
	gate_set(false);
	/* teardown destroys: the retired, the current and the unpublished region all go */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_map_while_registering, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vacuum_during_registration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_during_registration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_with_regions_in_grace, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
