/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A client punches a hole into its huge-page session segment (fallocate(PUNCH_HOLE) passes the
 * seals), the freed huge page is taken by someone else, and the lcore then writes a read's bytes
 * there: the refault finds no huge page and raises SIGBUS. kelpd must survive it (issue 8, item 2):
 * the session is closed with -EFAULT, and the client is told so. One lcore and one session folded
 * into this thread, as in test_lcore_session.c; real huge pages, real SIGBUS.
 *
 * Needs root (it reserves two huge pages through /proc/sys/vm/nr_hugepages and gives them back):
 * skipped otherwise, saying why.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/fault.h"
#include "core/volume.h"
#include "lcore/engine.h"
#include "lcore/worker/lcore.h"
#include "lcore/worker/lsession.h"
#include "shm/session.h"

#define VID	     7
#define HUGE	     (2u << 20)
#define NR_HUGEPAGES "/proc/sys/vm/nr_hugepages"

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static int write_long(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	int ok = fprintf(f, "%ld\n", v) > 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* Free huge pages right now (HugePages_Free in /proc/meminfo). */
static long free_huge_pages(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	long v = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "HugePages_Free: %ld", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

static void test_punched_hole_closes_only_that_session(void **state)
{
	long old_nr = read_long(NR_HUGEPAGES);
	if (getuid() != 0 || old_nr < 0) {
		printf("skip: needs root to reserve huge pages in %s\n", NR_HUGEPAGES);
		skip();
	}
	/* exactly the two pages the segment needs (header + rings, arena) become free */
	assert_int_equal(write_long(NR_HUGEPAGES, old_nr + 2), 0);
	if (free_huge_pages() < 2) {
		write_long(NR_HUGEPAGES, old_nr);
		printf("skip: the kernel could not make 2 huge pages free\n");
		skip();
	}

	char dir[] = "/tmp/kelp-ut-sfault.XXXXXX";
	assert_non_null(mkdtemp(dir));
	const char *fix = getenv("KELP_FIXTURES") ? getenv("KELP_FIXTURES") : "test/fixtures";
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
		 "cp %s/healthy_volume.dat %s/%d.dat && cp %s/healthy_volume.idx %s/%d.idx", fix,
		 dir, VID, fix, dir, VID);
	assert_int_equal(system(cmd), 0);
	struct kelp_engine eng = {0};
	struct kelp_lcore lc;
	const char *dirs[] = {dir};
	assert_int_equal(kelp_volume_set_open(dirs, 1, NULL, NULL, &eng.volumes), 0);
	eng.n_lcores = 1;
	eng.lcores = &lc;
	assert_int_equal(kelp_lcore_init(&lc, &eng, 0, 0), 0);
	assert_int_equal(kelp_fault_install(), 0);

	/* huge pages required (1): 2 MiB arena, 16 SQ entries -> two 2 MiB pages */
	struct lcore_session *srv;
	assert_int_equal(lcore_session_create(1, 16, 2, 2, 1, -1, 0, &srv), 0);
	assert_int_equal(srv->hdr->hugepages, 1);
	assert_int_equal(srv->seg_size, 2 * HUGE);
	struct kelp_msg m = {.type = KELP_MSG_SESSION_ADD, .session = srv};
	assert_int_equal(kelp_lcore_send(&lc, &m), 0);
	kelp_lcore_poll_once(&lc);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	struct kelp_session *cli;
	assert_int_equal(kelp_session_alloc(sv[0], -1, &cli), 0);
	assert_non_null(cli);
	int client_memfd = dup(srv->memfd);
	assert_int_equal(kelp_session_attach(cli, dup(srv->memfd), dup(srv->doorbell_fd)), 0);

	/* one read served normally first */
	uint64_t cursor = 0, key, off;
	const struct kelp_volume *v = kelp_volume_set_find(eng.volumes, VID);
	assert_int_equal(kelp_volume_next(v, &cursor, &key, &off), 1);
	const uint8_t *rec = kelp_volume_dat_map(v) + off;
	struct kelp_fid fid = {VID, key,
			       (uint32_t)rec[0] << 24 | rec[1] << 16 | rec[2] << 8 | rec[3]};
	uint8_t *buf = kelp_buf_alloc(cli, 4096);
	assert_non_null(buf);
	struct kelp_cqe c;
	assert_int_equal(kelp_queue_read(cli, &fid, 0, buf, 4096, 1), 0);
	kelp_submit(cli);
	while (kelp_lcore_poll_once(&lc) == KELP_POLL_BUSY)
		;
	assert_int_equal(kelp_poll(cli, &c, 1), 1);
	assert_true(c.result > 0);

	/* the client punches the arena's huge page out, and the page goes elsewhere */
	assert_int_equal(fallocate(client_memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				   (off_t)srv->hdr->arena_off, HUGE),
			 0);
	void *thief = mmap(NULL, HUGE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
	assert_true(thief != MAP_FAILED);
	assert_int_equal(free_huge_pages(), 0);

	/* the lcore's copy into the arena faults: survived; the session is closed, -EFAULT */
	uint64_t faults = kelp_fault_count();
	assert_int_equal(kelp_queue_read(cli, &fid, 0, buf, 4096, 2), 0);
	kelp_submit(cli);
	for (int i = 0; i < 4; i++)
		kelp_lcore_poll_once(&lc);
	assert_int_equal(kelp_fault_count(), faults + 1);
	assert_true(srv->broken);
	assert_int_equal(srv->hdr->state, KELP_SEG_BROKEN);
	/* no completion for the read whose bytes went to a page the client no longer shares */
	assert_int_equal(kelp_poll(cli, &c, 1), -EFAULT);
	assert_int_equal(kelp_session_check_alive(cli, 0), -EFAULT);
	assert_int_equal(lc.stats.sessions_broken, 1);

	munmap(thief, HUGE);
	kelp_close(cli);
	close(client_memfd);
	close(sv[1]);
	lcore_session_destroy(srv);
	kelp_lcore_fini(&lc);
	kelp_volume_set_close(eng.volumes);
	assert_int_equal(write_long(NR_HUGEPAGES, old_nr), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_punched_hole_closes_only_that_session),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
