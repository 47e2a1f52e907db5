/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One worker lcore and one client session driven deterministically in one thread (SPDK
 * ut_multithread style): libkelp fills the SQ, kelp_lcore_serve_session() / kelp_lcore_poll_once()
 * play the lcore, the test plays the control thread. Real segment (memfd), real volume (the
 * healthy_volume fixture), real libkelp; only the threads are folded into one.
 */
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/epoch.h"
#include "core/idx.h"
#include "core/volume.h"
#include "lcore/engine.h"
#include "core/histogram.h"
#include "lcore/worker/lcore.h"
#include "lcore/worker/lsession.h"
#include "shm/session.h"

#define VID 7

struct fixture {
	char dir[64];
	struct kelp_engine eng;
	struct kelp_lcore lc;
	struct lcore_session *srv;
	struct kelp_session *cli;
	int peer_sock; /* kelpd's end of the session socket */
};

/* Live and deleted needles of the fixture's .idx, with cookies read from the .dat. */
struct needle_list {
	struct kelp_fid live[64];
	size_t n_live;
	struct kelp_fid deleted[64];
	size_t n_deleted;
};

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *b = malloc((size_t)n);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return b;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void list_needles(const char *fixtures, struct needle_list *nl)
{
	char path[512];
	size_t idx_len, dat_len;
	snprintf(path, sizeof(path), "%s/healthy_volume.idx", fixtures);
	uint8_t *idx = slurp(path, &idx_len);
	snprintf(path, sizeof(path), "%s/healthy_volume.dat", fixtures);
	uint8_t *dat = slurp(path, &dat_len);
	memset(nl, 0, sizeof(*nl));
	size_t rows = idx_len / 16;
	for (size_t i = 0; i < rows; i++) {
		struct kelp_idx_row r;
		kelp_idx_parse_row(idx + i * 16, 4, &r);
		/* the last row of a key decides */
		int last = 1;
		for (size_t j = i + 1; j < rows; j++) {
			struct kelp_idx_row r2;
			kelp_idx_parse_row(idx + j * 16, 4, &r2);
			if (r2.key == r.key)
				last = 0;
		}
		if (!last)
			continue;
		if (kelp_idx_row_is_live(&r) && nl->n_live < 64) {
			uint32_t cookie = be32(dat + r.offset * 8);
			nl->live[nl->n_live++] = (struct kelp_fid){VID, r.key, cookie};
		} else if (!kelp_idx_row_is_live(&r) && nl->n_deleted < 64) {
			/* the cookie of an earlier live row of that key, when there is one */
			for (size_t j = 0; j < i; j++) {
				struct kelp_idx_row r0;
				kelp_idx_parse_row(idx + j * 16, 4, &r0);
				if (r0.key == r.key && kelp_idx_row_is_live(&r0)) {
					uint32_t cookie = be32(dat + r0.offset * 8);
					nl->deleted[nl->n_deleted++] =
						(struct kelp_fid){VID, r.key, cookie};
					break;
				}
			}
		}
	}
	free(idx);
	free(dat);
}

static const char *fixtures_dir(void)
{
	const char *f = getenv("KELP_FIXTURES");
	return f ? f : "test/fixtures";
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/kelp-ut-lcore.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	char src[512], dst[600], *abs;
	const char *fix = fixtures_dir();
	snprintf(src, sizeof(src), "%s/healthy_volume.dat", fix);
	snprintf(dst, sizeof(dst), "%s/%d.dat", fx->dir, VID);
	abs = src[0] == '/' ? NULL : realpath(src, NULL);
	assert_int_equal(symlink(abs ? abs : src, dst), 0);
	free(abs);
	snprintf(src, sizeof(src), "%s/healthy_volume.idx", fix);
	snprintf(dst, sizeof(dst), "%s/%d.idx", fx->dir, VID);
	abs = src[0] == '/' ? NULL : realpath(src, NULL);
	assert_int_equal(symlink(abs ? abs : src, dst), 0);
	free(abs);

	const char *dirs[] = {fx->dir};
	assert_int_equal(kelp_volume_set_open(dirs, 1, NULL, NULL, &fx->eng.volumes), 0);
	assert_non_null(kelp_volume_set_find(fx->eng.volumes, VID));
	fx->eng.n_lcores = 1;
	fx->eng.lcores = &fx->lc;
	assert_int_equal(kelp_lcore_init(&fx->lc, &fx->eng, 0, 0), 0);
	fx->lc.lat_sample = 1; /* time every burst: exact latency counts below */

	/* the session: 16 SQ entries (32 CQ), 1 MiB arena, 4 KiB pages, none of the arena allocated
	 * up front ([engine] arena_populate_mb = 0): every read below copies into pages the lcore
	 * allocates on first use */
	assert_int_equal(lcore_session_create(1, 16, 1, 0, 0, -1, 0, &fx->srv), 0);
	struct kelp_msg m = {.type = KELP_MSG_SESSION_ADD, .session = fx->srv};
	assert_int_equal(kelp_lcore_send(&fx->lc, &m), 0);
	assert_int_equal(kelp_lcore_poll_once(&fx->lc), KELP_POLL_BUSY);
	assert_int_equal(fx->lc.n_sessions, 1);

	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	fx->peer_sock = sv[1];
	assert_int_equal(kelp_session_alloc(sv[0], -1, &fx->cli), 0);
	assert_non_null(fx->cli);
	assert_int_equal(
		kelp_session_attach(fx->cli, dup(fx->srv->memfd), dup(fx->srv->doorbell_fd)), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	kelp_close(fx->cli);
	close(fx->peer_sock);
	lcore_session_destroy(fx->srv);
	kelp_lcore_fini(&fx->lc);
	kelp_volume_set_close(fx->eng.volumes);
	char p[600];
	snprintf(p, sizeof(p), "%s/%d.dat", fx->dir, VID);
	unlink(p);
	snprintf(p, sizeof(p), "%s/%d.idx", fx->dir, VID);
	unlink(p);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

/* Serve until the lcore is idle; return the completions collected (up to @max). */
static int serve_and_collect(struct fixture *fx, struct kelp_cqe *cqes, unsigned max)
{
	while (kelp_lcore_poll_once(&fx->lc) == KELP_POLL_BUSY)
		;
	int n = kelp_poll(fx->cli, cqes, max);
	return n;
}

/* Pages of [@from, @to) of a segment mapping that have memory behind them (mincore: the memfd's
 * pages, whoever allocated them). */
static size_t resident_pages(uint8_t *seg, uint64_t from, uint64_t to)
{
	size_t n = (size_t)((to - from) / 4096), got = 0;
	if (n == 0)
		return 0;
	unsigned char *vec = malloc(n);
	assert_non_null(vec);
	assert_int_equal(mincore(seg + from, (size_t)(to - from), vec), 0);
	for (size_t i = 0; i < n; i++)
		got += vec[i] & 1;
	free(vec);
	return got;
}

/* A session's header, rings and the first populate_mb MiB of its arena are allocated when it
 * opens, the rest of the arena is not; attaching libkelp allocates nothing more. */
static void test_arena_populated_prefix(void **state)
{
	(void)state;
	struct lcore_session *s;
	assert_int_equal(lcore_session_create(2, 16, 4, 1, 0, -1, 0, &s), 0);
	uint64_t prefix = s->hdr->arena_off + (1u << 20);
	assert_int_equal(s->seg_size, s->hdr->arena_off + (4u << 20));
	assert_int_equal(resident_pages(s->seg, 0, prefix), prefix / 4096);
	assert_int_equal(resident_pages(s->seg, prefix, s->seg_size), 0);

	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	struct kelp_session *cli;
	assert_int_equal(kelp_session_alloc(sv[0], -1, &cli), 0);
	assert_int_equal(kelp_session_attach(cli, dup(s->memfd), dup(s->doorbell_fd)), 0);
	assert_int_equal(resident_pages(s->seg, prefix, s->seg_size), 0);
	kelp_close(cli);
	close(sv[1]);
	lcore_session_destroy(s);

	/* populate_mb >= arena_mb: the whole segment */
	assert_int_equal(lcore_session_create(3, 16, 2, 64, 0, -1, 0, &s), 0);
	assert_int_equal(resident_pages(s->seg, 0, s->seg_size), s->seg_size / 4096);
	lcore_session_destroy(s);
}

/* The fixture's arena has no page allocated up front (populate_mb 0). kelp_buf_alloc allocates a
 * buffer's pages (in the client, at set-up); a buffer whose pages are gone (punched here, as if
 * allocated without it) gets them from the lcore's first copy, and the data is right
 * (test_read_every_needle reads every needle into the fixture's lazily allocated arena too). */
static void test_arena_allocated_on_use(void **state)
{
	struct fixture *fx = *state;
	struct lcore_session *s = fx->srv;
	assert_int_equal(resident_pages(s->seg, s->hdr->arena_off, s->seg_size), 0);
	struct needle_list nl;
	list_needles(fixtures_dir(), &nl);
	const struct kelp_volume *v = kelp_volume_set_find(fx->eng.volumes, VID);
	struct kelp_needle_ref ref;
	assert_int_equal(kelp_volume_find(v, &nl.live[0], &ref), 0);
	uint8_t *low = kelp_buf_alloc(fx->cli, 512 << 10);
	uint8_t *buf = kelp_buf_alloc(fx->cli, 256 << 10);
	assert_non_null(low);
	assert_non_null(buf);
	assert_true(buf >= low + (512 << 10));
	/* kelp_buf_alloc allocated both buffers' pages, nothing past them */
	uint64_t off =
		(uint64_t)(buf - fx->cli->arena) + s->hdr->arena_off; /* client maps elsewhere */
	uint64_t end = off + (256 << 10);
	assert_int_equal(resident_pages(s->seg, s->hdr->arena_off, end),
			 (end - s->hdr->arena_off) / 4096);
	assert_int_equal(resident_pages(s->seg, end, s->seg_size), 0);
	/* take buf's pages away again: the lcore's copy must allocate them */
	assert_int_equal(fallocate(s->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
				   256 << 10),
			 0);
	assert_int_equal(resident_pages(s->seg, off, end), 0);
	assert_int_equal(kelp_queue_read(fx->cli, &nl.live[0], 0, buf, 256 << 10, 9), 0);
	assert_int_equal(kelp_submit(fx->cli), 1);
	struct kelp_cqe c;
	assert_int_equal(serve_and_collect(fx, &c, 1), 1);
	assert_int_equal(c.result, (int32_t)ref.data_size);
	uint64_t data_end = off + ((ref.data_size + 4095) / 4096) * 4096;
	assert_int_equal(resident_pages(s->seg, off, data_end), (data_end - off) / 4096);
	assert_memory_equal(buf, ref.data, ref.data_size);
	/* pages populated once are not populated again (no system call per kelp_buf_alloc: kelpd's
	 * HTTP endpoint allocates one per request): a new buffer on the same, punched, pages finds
	 * them still unallocated */
	kelp_buf_free(fx->cli, buf);
	assert_int_equal(fallocate(s->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
				   256 << 10),
			 0);
	uint8_t *again = kelp_buf_alloc(fx->cli, 256 << 10);
	assert_ptr_equal(again, buf);
	assert_int_equal(resident_pages(s->seg, off, end), 0);
	kelp_buf_free(fx->cli, again);
	kelp_buf_free(fx->cli, low);
}

static void test_nop_roundtrip(void **state)
{
	struct fixture *fx = *state;
	struct kelp_session_info info;
	kelp_session_info(fx->cli, &info);
	assert_int_equal(info.sq_entries, 16);
	assert_int_equal(info.cq_entries, 32);
	assert_int_equal(info.arena_size, 1 << 20);
	for (uint64_t i = 0; i < 5; i++)
		assert_int_equal(kelp_queue_nop(fx->cli, 100 + i), 0);
	assert_int_equal(kelp_inflight(fx->cli), 5);
	/* nothing is visible to the lcore before kelp_submit */
	assert_int_equal(kelp_lcore_serve_session(&fx->lc, fx->srv), KELP_POLL_IDLE);
	assert_int_equal(kelp_submit(fx->cli), 5);
	struct kelp_cqe c[8];
	assert_int_equal(serve_and_collect(fx, c, 8), 5);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(c[i].user_data, 100 + (uint64_t)i);
		assert_int_equal(c[i].result, 0);
		assert_int_equal(c[i].flags & KELP_CQE_PATH_MASK, KELP_CQE_PATH_NONE);
	}
	assert_int_equal(kelp_inflight(fx->cli), 0);
	assert_int_equal(fx->lc.stats.nops, 5);
}

static void test_read_every_needle(void **state)
{
	struct fixture *fx = *state;
	struct needle_list nl;
	list_needles(fixtures_dir(), &nl);
	assert_true(nl.n_live > 0);
	const struct kelp_volume *v = kelp_volume_set_find(fx->eng.volumes, VID);
	uint8_t *buf = kelp_buf_alloc(fx->cli, 256 << 10);
	assert_non_null(buf);
	for (size_t i = 0; i < nl.n_live; i++) {
		struct kelp_needle_ref ref;
		assert_int_equal(kelp_volume_find(v, &nl.live[i], &ref), 0);
		assert_int_equal(kelp_queue_read(fx->cli, &nl.live[i], 0, buf, 256 << 10, i), 0);
		assert_int_equal(kelp_submit(fx->cli), 1);
		struct kelp_cqe c;
		assert_int_equal(serve_and_collect(fx, &c, 1), 1);
		assert_int_equal(c.user_data, i);
		assert_int_equal(c.result, (int32_t)ref.data_size);
		assert_int_equal(c.size, ref.data_size);
		assert_int_equal(c.flags & KELP_CQE_PATH_MASK, KELP_CQE_PATH_LOCAL);
		assert_true(c.flags & KELP_CQE_F_CRC_CHECKED);
		assert_false(c.flags & KELP_CQE_F_TRUNCATED);
		assert_memory_equal(buf, ref.data, ref.data_size);
	}
	/* a partial read: offset 10, 100 bytes */
	struct kelp_needle_ref ref;
	assert_int_equal(kelp_volume_find(v, &nl.live[0], &ref), 0);
	struct kelp_cqe c;
	memset(buf, 0, 200);
	assert_int_equal(kelp_queue_read(fx->cli, &nl.live[0], 10, buf, 100, 1), 0);
	kelp_submit(fx->cli);
	assert_int_equal(serve_and_collect(fx, &c, 1), 1);
	assert_int_equal(c.result, 100);
	assert_true(c.flags & KELP_CQE_F_TRUNCATED);
	assert_false(c.flags & KELP_CQE_F_CRC_CHECKED);
	assert_memory_equal(buf, ref.data + 10, 100);
	/* offset == size: 0 bytes; offset > size: -ERANGE */
	kelp_queue_read(fx->cli, &nl.live[0], ref.data_size, buf, 100, 2);
	kelp_queue_read(fx->cli, &nl.live[0], ref.data_size + 1, buf, 100, 3);
	kelp_submit(fx->cli);
	struct kelp_cqe cc[2];
	assert_int_equal(serve_and_collect(fx, cc, 2), 2);
	assert_int_equal(cc[0].result, 0);
	assert_int_equal(cc[1].result, -ERANGE);
	/* STAT */
	assert_int_equal(kelp_queue_stat(fx->cli, &nl.live[0], 4), 0);
	kelp_submit(fx->cli);
	assert_int_equal(serve_and_collect(fx, &c, 1), 1);
	assert_int_equal(c.result, 0);
	assert_int_equal(c.size, ref.data_size);
	assert_int_equal(c.crc, ref.stored_crc);
	kelp_buf_free(fx->cli, buf);
	/* one latency sample per successful local completion (kelpctl stats), none for the -ERANGE;
	 * nothing on the other paths */
	assert_int_equal(fx->lc.latency[KELP_CQE_PATH_LOCAL].count,
			 fx->lc.stats.by_path[KELP_CQE_PATH_LOCAL]);
	assert_true(fx->lc.latency[KELP_CQE_PATH_LOCAL].count >= nl.n_live + 1);
	assert_true(kelp_hist_percentile(&fx->lc.latency[KELP_CQE_PATH_LOCAL], 50) > 0);
	assert_int_equal(fx->lc.latency[KELP_CQE_PATH_HTTP].count, 0);
	assert_int_equal(fx->lc.latency[KELP_CQE_PATH_NONE].count, 0);
}

static void test_missing_deleted_cookie(void **state)
{
	struct fixture *fx = *state;
	struct needle_list nl;
	list_needles(fixtures_dir(), &nl);
	assert_true(nl.n_deleted > 0);
	uint8_t *buf = kelp_buf_alloc(fx->cli, 4096);
	struct kelp_fid wrong_cookie = nl.live[0];
	wrong_cookie.cookie ^= 1;
	struct kelp_fid missing = {VID, 0xfffffffffull, 1};
	kelp_queue_read(fx->cli, &nl.deleted[0], 0, buf, 4096, 1);
	kelp_queue_read(fx->cli, &wrong_cookie, 0, buf, 4096, 2);
	kelp_queue_read(fx->cli, &missing, 0, buf, 4096, 3);
	kelp_submit(fx->cli);
	struct kelp_cqe c[3];
	assert_int_equal(serve_and_collect(fx, c, 3), 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(c[i].result, -ENOENT);
	assert_int_equal(fx->lc.stats.errors[KELP_ERR_NOENT], 3);
}

/* Write a raw SQE (bypassing libkelp's checks), as a hostile client would. */
static void raw_sqe(struct fixture *fx, const struct kelp_sqe *e)
{
	struct kelp_ring *sq = &fx->cli->sq;
	assert_true(kelp_ring_prod_free(sq, 1) >= 1);
	memcpy(kelp_ring_prod_slot(sq, 0), e, sizeof(*e));
	kelp_ring_prod_publish(sq, 1);
}

static void test_garbage_sqes(void **state)
{
	struct fixture *fx = *state;
	uint64_t arena = fx->srv->arena_size;
	struct kelp_sqe bad[] = {
		{.opcode = 99, .user_data = 1},
		{.opcode = KELP_OP_READ,
		 .volume_id = VID,
		 .length = 4096,
		 .buf_off = arena,
		 .user_data = 2},
		{.opcode = KELP_OP_READ,
		 .volume_id = VID,
		 .length = 4096,
		 .buf_off = arena - 100,
		 .user_data = 3},
		{.opcode = KELP_OP_READ, .volume_id = VID, .length = 0xffffffffu, .user_data = 4},
		{.opcode = KELP_OP_READ,
		 .volume_id = VID,
		 .length = 16,
		 .buf_off = UINT64_MAX - 8,
		 .user_data = 5},
		{.opcode = KELP_OP_NOP, .flags = 1, .user_data = 6},
		{.opcode = KELP_OP_STAT, .volume_id = VID, .buf_off = 4096, .user_data = 7},
	};
	const int32_t want[] = {-EINVAL, -EFAULT, -EFAULT, -E2BIG, -EFAULT, -EINVAL, -EINVAL};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		raw_sqe(fx, &bad[i]);
	struct kelp_cqe c[16];
	while (kelp_lcore_poll_once(&fx->lc) == KELP_POLL_BUSY)
		;
	/* libkelp counts in-flight requests itself; collect straight from the ring */
	int n = kelp_ring_cons_avail(&fx->cli->cq);
	assert_int_equal(n, 7);
	for (int i = 0; i < n; i++) {
		c[i] = *(const struct kelp_cqe *)kelp_ring_cons_slot(&fx->cli->cq, (uint32_t)i);
		assert_int_equal(c[i].user_data, i + 1);
		assert_int_equal(c[i].result, want[i]);
	}
	kelp_ring_cons_release(&fx->cli->cq, (uint32_t)n);

	/* random bytes: every SQE gets a CQE, none crashes, none succeeds but by chance a NOP */
	srand(42);
	for (int round = 0; round < 200; round++) {
		struct kelp_sqe e;
		for (size_t b = 0; b < sizeof(e); b++)
			((uint8_t *)&e)[b] = (uint8_t)rand();
		raw_sqe(fx, &e);
		while (kelp_lcore_poll_once(&fx->lc) == KELP_POLL_BUSY)
			;
		assert_int_equal(kelp_ring_cons_avail(&fx->cli->cq), 1);
		const struct kelp_cqe *cq = kelp_ring_cons_slot(&fx->cli->cq, 0);
		assert_int_equal(cq->user_data, e.user_data);
		assert_true(cq->result < 0);
		kelp_ring_cons_release(&fx->cli->cq, 1);
	}
	/* the session still works */
	assert_int_equal(kelp_queue_nop(fx->cli, 77), 0);
	kelp_submit(fx->cli);
	assert_int_equal(serve_and_collect(fx, c, 1), 1);
	assert_int_equal(c[0].user_data, 77);
	assert_int_equal(c[0].result, 0);
}

/* A full CQ stops the lcore from consuming the SQ; nothing is overwritten or lost. */
static void test_cq_full_backpressure(void **state)
{
	struct fixture *fx = *state;
	struct kelp_sqe nop = {.opcode = KELP_OP_NOP};
	uint64_t next = 0;
	for (int batch = 0; batch < 3; batch++) {
		for (int i = 0; i < 16; i++) {
			nop.user_data = next++;
			raw_sqe(fx, &nop);
		}
		while (kelp_lcore_poll_once(&fx->lc) == KELP_POLL_BUSY)
			;
	}
	/* CQ holds 32; the third batch of 16 waits in the SQ */
	assert_int_equal(kelp_ring_cons_avail(&fx->cli->cq), 32);
	assert_int_equal(fx->lc.stats.requests, 32);
	uint64_t expect = 0;
	for (int round = 0; round < 2; round++) {
		int n = kelp_ring_cons_avail(&fx->cli->cq);
		for (int i = 0; i < n; i++) {
			const struct kelp_cqe *c = kelp_ring_cons_slot(&fx->cli->cq, (uint32_t)i);
			assert_int_equal(c->user_data, expect++);
		}
		kelp_ring_cons_release(&fx->cli->cq, (uint32_t)n);
		while (kelp_lcore_poll_once(&fx->lc) == KELP_POLL_BUSY)
			;
	}
	assert_int_equal(expect, 48);
}

/* A tail that jumps further than the ring: the session is broken, the client told, the lcore fine.
 */
static void test_hostile_tail_breaks_session(void **state)
{
	struct fixture *fx = *state;
	__atomic_store_n(&fx->cli->sq.ctl->tail, fx->cli->sq.ctl->tail + 1000, __ATOMIC_RELEASE);
	kelp_lcore_poll_once(&fx->lc);
	assert_int_equal(fx->lc.stats.sessions_broken, 1);
	assert_int_equal(fx->srv->hdr->state, KELP_SEG_BROKEN);
	struct kelp_cqe c;
	assert_int_equal(kelp_poll(fx->cli, &c, 1), -EPROTO);
	assert_int_equal(kelp_queue_nop(fx->cli, 1), -EPROTO);
	/* the lcore ignores the broken session from now on */
	assert_int_equal(kelp_lcore_poll_once(&fx->lc), KELP_POLL_IDLE);
}

/* Non-local volume: handed to "control" (this test), completed -EHOSTUNREACH via REMOTE_DONE. */
static void test_remote_path_and_release(void **state)
{
	struct fixture *fx = *state;
	uint8_t *buf = kelp_buf_alloc(fx->cli, 4096);
	struct kelp_fid far = {VID + 1, 1, 2};
	assert_int_equal(kelp_queue_read(fx->cli, &far, 0, buf, 4096, 9), 0);
	kelp_submit(fx->cli);
	struct kelp_cqe c;
	assert_int_equal(serve_and_collect(fx, &c, 1), 0); /* no CQE yet: it left the lcore */
	struct kelp_msg m;
	assert_int_equal(kelp_ring_dequeue_burst(&fx->lc.to_ctl.cons, &m, 1), 1);
	assert_int_equal(m.type, KELP_MSG_REMOTE_READ);
	assert_int_equal(m.remote->fid.volume_id, VID + 1);
	/* kelpd's own mapping of the same arena offset */
	assert_int_equal(m.remote->dst - fx->srv->arena, buf - fx->cli->arena);
	/* the control thread's answer when no path is configured (lcore/control/remote_read.c,
	 * tested with a real kelpd in test/integ/test_kelpd_http.sh) */
	m.remote->result = -EHOSTUNREACH;
	m.type = KELP_MSG_REMOTE_DONE;
	assert_int_equal(kelp_lcore_send(&fx->lc, &m), 0);
	assert_int_equal(serve_and_collect(fx, &c, 1), 1);
	assert_int_equal(c.user_data, 9);
	assert_int_equal(c.result, -EHOSTUNREACH);
	assert_int_equal(fx->lc.latency[KELP_CQE_PATH_HTTP].count, 0); /* failures: no sample */

	/* a remote read that succeeds over HTTP: one HTTP latency sample, from the lcore taking it
	 */
	assert_int_equal(kelp_queue_read(fx->cli, &far, 0, buf, 4096, 11), 0);
	kelp_submit(fx->cli);
	assert_int_equal(serve_and_collect(fx, &c, 1), 0);
	assert_int_equal(kelp_ring_dequeue_burst(&fx->lc.to_ctl.cons, &m, 1), 1);
	assert_true(m.remote->start_ns > 0);
	m.remote->result = 100;
	m.remote->cqe_flags = KELP_CQE_PATH_HTTP;
	m.type = KELP_MSG_REMOTE_DONE;
	assert_int_equal(kelp_lcore_send(&fx->lc, &m), 0);
	assert_int_equal(serve_and_collect(fx, &c, 1), 1);
	assert_int_equal(c.result, 100);
	assert_int_equal(fx->lc.latency[KELP_CQE_PATH_HTTP].count, 1);
	assert_int_equal(fx->lc.latency[KELP_CQE_PATH_LOCAL].count, 0);

	/* the client goes away with a remote read out: the session drains, then is released */
	assert_int_equal(kelp_queue_read(fx->cli, &far, 0, buf, 4096, 10), 0);
	kelp_submit(fx->cli);
	while (kelp_lcore_poll_once(&fx->lc) == KELP_POLL_BUSY)
		;
	assert_int_equal(kelp_ring_dequeue_burst(&fx->lc.to_ctl.cons, &m, 1), 1);
	struct kelp_remote_read *r = m.remote;
	struct kelp_msg del = {.type = KELP_MSG_SESSION_DEL, .session = fx->srv};
	kelp_lcore_send(&fx->lc, &del);
	kelp_lcore_poll_once(&fx->lc);
	assert_int_equal(fx->lc.n_sessions, 0);
	assert_int_equal(fx->lc.n_draining, 1);
	assert_int_equal(kelp_ring_cons_avail(&fx->lc.to_ctl.cons), 0); /* not released yet */
	r->result = -EHOSTUNREACH;
	struct kelp_msg done = {.type = KELP_MSG_REMOTE_DONE, .remote = r};
	kelp_lcore_send(&fx->lc, &done);
	kelp_lcore_poll_once(&fx->lc);
	assert_int_equal(fx->lc.n_draining, 0);
	assert_int_equal(kelp_ring_dequeue_burst(&fx->lc.to_ctl.cons, &m, 1), 1);
	assert_int_equal(m.type, KELP_MSG_SESSION_GONE);
	assert_ptr_equal(m.session, fx->srv);
}

/* Whether control's eventfd is written after a round that handed a read off (and consumes it). */
static int ctl_was_woken(int fd)
{
	uint64_t v;
	return read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v);
}

/* The hand-off rules of issue 12 item 5: a round that only handed a read to control marks the
 * lcore handoff_only (it parks after KELP_HANDOFF_PARK_NS) and a round that wrote a completion
 * clears it; control's eventfd is written when it sleeps KELP_CTL_ASLEEP, not when it sleeps
 * KELP_CTL_ASLEEP_TIMED (it takes the message at its next wake-up) nor while it works. */
static void test_handoff_wakeups(void **state)
{
	struct fixture *fx = *state;
	uint8_t *buf = kelp_buf_alloc(fx->cli, 4096);
	struct kelp_fid far = {VID + 1, 1, 2};
	struct needle_list nl;
	struct kelp_cqe c;
	struct kelp_msg m;
	uint32_t asleep = KELP_CTL_ASLEEP;
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	assert_true(efd >= 0);
	fx->lc.ctl_wake_fd = efd;
	fx->lc.ctl_asleep = &asleep;
	const uint32_t modes[] = {KELP_CTL_ASLEEP, KELP_CTL_ASLEEP_TIMED, 0};
	const int woken[] = {1, 0, 0};
	for (unsigned i = 0; i < 3; i++) {
		asleep = modes[i];
		assert_int_equal(kelp_queue_read(fx->cli, &far, 0, buf, 4096, 20 + i), 0);
		kelp_submit(fx->cli);
		assert_int_equal(kelp_lcore_poll_once(&fx->lc), KELP_POLL_BUSY);
		assert_int_equal(fx->lc.handoff_only, 1);
		assert_int_equal(ctl_was_woken(efd), woken[i]);
		assert_int_equal(kelp_ring_dequeue_burst(&fx->lc.to_ctl.cons, &m, 1), 1);
		assert_int_equal(m.type, KELP_MSG_REMOTE_READ);
		/* the answer: its round writes only a non-local read's CQE, a hand-off too (the
		 * client of a read that took a round trip does not come back within the spin) */
		m.remote->result = -ENOENT;
		m.type = KELP_MSG_REMOTE_DONE;
		assert_int_equal(kelp_lcore_send(&fx->lc, &m), 0);
		assert_int_equal(kelp_lcore_poll_once(&fx->lc), KELP_POLL_BUSY);
		assert_int_equal(fx->lc.handoff_only, 1);
		assert_int_equal(kelp_poll(fx->cli, &c, 1), 1);
		assert_int_equal(c.user_data, 20 + i);
		assert_int_equal(c.result, -ENOENT);
		/* an idle round changes nothing */
		assert_int_equal(kelp_lcore_poll_once(&fx->lc), KELP_POLL_IDLE);
		assert_int_equal(fx->lc.handoff_only, 1);
	}
	/* a local read is no hand-off */
	list_needles(fixtures_dir(), &nl);
	assert_int_equal(kelp_queue_read(fx->cli, &nl.live[0], 0, buf, 4096, 30), 0);
	kelp_submit(fx->cli);
	assert_int_equal(kelp_lcore_poll_once(&fx->lc), KELP_POLL_BUSY);
	assert_int_equal(fx->lc.handoff_only, 0);
	assert_int_equal(kelp_poll(fx->cli, &c, 1), 1);
	assert_int_equal(c.user_data, 30);
	fx->lc.ctl_wake_fd = -1;
	fx->lc.ctl_asleep = NULL;
	close(efd);
}

/* A poller that finishes several non-local reads in one call, as the TCP reader does with one
 * received batch of replies; it checks after each whether the sleeping client was already woken. */
#define BATCH_READS 4
struct batch_poller {
	struct fixture *fx;
	struct kelp_remote_read *r[BATCH_READS];
	unsigned n;
	int early_wakes; /* wake-ups while not all of the batch was visible to the client */
	int handoff;	 /* count the round as a hand-off (lcore.h, round_handoff) */
	uint32_t flags;	 /* the CQE flags of the reads it finishes; 0: RDMA over TCP */
};

static int client_wake_pending(struct fixture *fx)
{
	return (__atomic_load_n(&fx->cli->cq.ctl->flags, __ATOMIC_RELAXED) & KELP_CQ_WANT_WAKE) !=
	       0;
}

static int finish_batch(struct kelp_lcore *lc, void *arg)
{
	struct batch_poller *bp = arg;
	unsigned n = bp->n;

	if (bp->handoff) /* sent something whose answer wakes the lcore, as the TCP pollers do */
		lc->round_handoff++;
	if (!n)
		return bp->handoff ? KELP_POLL_BUSY : KELP_POLL_IDLE;
	bp->n = 0;
	for (unsigned i = 0; i < n; i++) {
		bp->r[i]->result = (int32_t)(100 + i);
		bp->r[i]->cqe_flags = bp->flags ? bp->flags : KELP_CQE_PATH_RDMA | KELP_CQE_F_TCP;
		kelp_lcore_remote_finish(lc, bp->r[i]);
		if (!client_wake_pending(bp->fx) && kelp_ring_cons_avail(&bp->fx->cli->cq) < (int)n)
			bp->early_wakes++;
	}
	return KELP_POLL_BUSY;
}

/* The reads a poller finishes in one round reach the client together: one CQ publish, at most one
 * wake-up, after the last of them. A client woken at the first (on a CPU it shares with the lcore,
 * it preempts the lcore at once) took one completion per wake-up and its next requests went out
 * one by one: at depth 16 over TCP, 1.1 ms per read instead of ~0.2 ms. Also: a round that only
 * handed work to a ring (round_handoff) is a hand-off (quick park), one that completed reads not.
 */
static void test_round_completions_one_wake(void **state)
{
	struct fixture *fx = *state;
	uint8_t *buf = kelp_buf_alloc(fx->cli, 4096);
	struct kelp_fid far = {VID + 1, 1, 2};
	struct batch_poller bp = {.fx = fx};
	struct kelp_cqe c[BATCH_READS];
	struct needle_list nl;
	struct kelp_msg m;

	assert_int_equal(kelp_lcore_add_poller(&fx->lc, "test-batch", finish_batch, &bp), 0);
	for (unsigned i = 0; i < BATCH_READS; i++)
		assert_int_equal(kelp_queue_read(fx->cli, &far, 0, buf, 4096, 40 + i), 0);
	kelp_submit(fx->cli);
	while (kelp_lcore_poll_once(&fx->lc) == KELP_POLL_BUSY)
		;
	for (unsigned i = 0; i < BATCH_READS; i++) {
		assert_int_equal(kelp_ring_dequeue_burst(&fx->lc.to_ctl.cons, &m, 1), 1);
		bp.r[i] = m.remote;
	}
	/* the client sleeps on its CQ (what kelp_wait does after its spin) */
	__atomic_fetch_or(&fx->cli->cq.ctl->flags, KELP_CQ_WANT_WAKE, __ATOMIC_SEQ_CST);
	bp.n = BATCH_READS;
	assert_int_equal(kelp_lcore_poll_once(&fx->lc), KELP_POLL_BUSY);
	assert_int_equal(bp.early_wakes, 0);
	assert_false(client_wake_pending(fx));	  /* woken, once the batch was there */
	assert_int_equal(fx->lc.handoff_only, 1); /* non-local completions only */
	assert_int_equal(kelp_poll(fx->cli, c, BATCH_READS), BATCH_READS);
	for (unsigned i = 0; i < BATCH_READS; i++) {
		assert_int_equal(c[i].user_data, 40 + i);
		assert_int_equal(c[i].result, 100 + (int32_t)i);
	}
	assert_int_equal(fx->lc.stats.by_path[KELP_CQE_PATH_RDMA], BATCH_READS);
	/* a local read: not a hand-off (its client polls and comes back within the spin) */
	list_needles(fixtures_dir(), &nl);
	assert_int_equal(kelp_queue_read(fx->cli, &nl.live[0], 0, buf, 4096, 50), 0);
	kelp_submit(fx->cli);
	assert_int_equal(kelp_lcore_poll_once(&fx->lc), KELP_POLL_BUSY);
	assert_int_equal(fx->lc.handoff_only, 0);
	assert_int_equal(kelp_poll(fx->cli, c, 1), 1);
	assert_int_equal(c[0].user_data, 50);
	/* a round whose only work went to a ring that wakes the lcore: a hand-off */
	bp.handoff = 1;
	assert_int_equal(kelp_lcore_poll_once(&fx->lc), KELP_POLL_BUSY);
	assert_int_equal(fx->lc.handoff_only, 1);
	/* ... but not together with a local completion */
	assert_int_equal(kelp_queue_read(fx->cli, &nl.live[0], 0, buf, 4096, 51), 0);
	kelp_submit(fx->cli);
	assert_int_equal(kelp_lcore_poll_once(&fx->lc), KELP_POLL_BUSY);
	assert_int_equal(fx->lc.handoff_only, 0);
	assert_int_equal(kelp_poll(fx->cli, c, 1), 1);
	assert_int_equal(c[0].user_data, 51);
}

/* Completions the lcore published that the client has not taken (not kelp_ring_cons_avail: it
 * caches the tail) */
static unsigned cq_published(struct fixture *fx)
{
	return __atomic_load_n(&fx->cli->cq.ctl->tail, __ATOMIC_ACQUIRE) - fx->cli->cq.local;
}

/* Take every published completion; how many. */
static unsigned reap_all(struct fixture *fx, struct kelp_cqe *c, unsigned max)
{
	unsigned got = 0;
	int n;

	while (got < max && (n = kelp_poll(fx->cli, c + got, max - got)) > 0)
		got += (unsigned)n;
	return got;
}

/* Finish @n of the held remote reads @r, starting at *@next, in one poll round. */
static void finish_some(struct fixture *fx, struct batch_poller *bp, struct kelp_remote_read **r,
			unsigned *next, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		bp->r[i] = r[(*next)++];
	bp->n = n;
	assert_int_equal(kelp_lcore_poll_once(&fx->lc), KELP_POLL_BUSY);
}

/* A client asleep with 8 non-local reads out (lcore.h, KELP_WAKE_HOLD_NS): completions are
 * published at once but its wake-up is held until half of them are done, until the first held one
 * is KELP_WAKE_HOLD_NS old, or until none is left out; a client that does not sleep is never
 * held for; a local completion's wake-up takes the held ones with it. Each FUTEX_WAKE of a
 * sleeping vCPU costs the lcore ~16 us here: at depth 16 over HTTP this halves them. */
static void test_wake_held_until_half(void **state)
{
	struct fixture *fx = *state;
	uint8_t *buf = kelp_buf_alloc(fx->cli, 4096);
	struct kelp_fid far = {VID + 1, 1, 2};
	struct batch_poller bp = {.fx = fx, .flags = KELP_CQE_PATH_HTTP};
	struct kelp_remote_read *r[8];
	struct kelp_cqe c[8];
	struct needle_list nl;
	struct kelp_msg m;
	unsigned next = 0;

	assert_int_equal(kelp_lcore_add_poller(&fx->lc, "test-batch", finish_batch, &bp), 0);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(kelp_queue_read(fx->cli, &far, 0, buf, 4096, 60 + i), 0);
	kelp_submit(fx->cli);
	while (kelp_lcore_poll_once(&fx->lc) == KELP_POLL_BUSY)
		;
	for (unsigned i = 0; i < 8; i++) {
		assert_int_equal(kelp_ring_dequeue_burst(&fx->lc.to_ctl.cons, &m, 1), 1);
		r[i] = m.remote;
	}
	__atomic_fetch_or(&fx->cli->cq.ctl->flags, KELP_CQ_WANT_WAKE, __ATOMIC_SEQ_CST);
	/* 2 of 8 done: published, the wake-up held */
	finish_some(fx, &bp, r, &next, 2);
	assert_int_equal(cq_published(fx), 2);
	assert_true(client_wake_pending(fx));
	assert_int_equal(fx->lc.wakes_held, 1);
	/* 4 of 8: half of what was out -> woken */
	finish_some(fx, &bp, r, &next, 2);
	assert_false(client_wake_pending(fx));
	assert_int_equal(reap_all(fx, c, 8), 4);
	/* asleep again, 1 of the 4 left done: held, and due after KELP_WAKE_HOLD_NS even though
	 * nothing else happens (an idle round wakes it) */
	__atomic_fetch_or(&fx->cli->cq.ctl->flags, KELP_CQ_WANT_WAKE, __ATOMIC_SEQ_CST);
	finish_some(fx, &bp, r, &next, 1);
	assert_true(client_wake_pending(fx));
	usleep(2 * KELP_WAKE_HOLD_NS / 1000);
	assert_int_equal(kelp_lcore_poll_once(&fx->lc), KELP_POLL_IDLE);
	assert_false(client_wake_pending(fx));
	assert_int_equal(fx->lc.wakes_held, 0);
	assert_int_equal(reap_all(fx, c, 8), 1);
	/* held again (1 of 3), then a local read's wake-up takes it along */
	__atomic_fetch_or(&fx->cli->cq.ctl->flags, KELP_CQ_WANT_WAKE, __ATOMIC_SEQ_CST);
	finish_some(fx, &bp, r, &next, 1);
	assert_true(client_wake_pending(fx));
	list_needles(fixtures_dir(), &nl);
	assert_int_equal(kelp_queue_read(fx->cli, &nl.live[0], 0, buf, 4096, 70), 0);
	kelp_submit(fx->cli);
	assert_int_equal(kelp_lcore_poll_once(&fx->lc), KELP_POLL_BUSY);
	assert_false(client_wake_pending(fx));
	assert_int_equal(reap_all(fx, c, 8), 2);
	/* asleep, 1 of 2 left done but over TCP: never held */
	__atomic_fetch_or(&fx->cli->cq.ctl->flags, KELP_CQ_WANT_WAKE, __ATOMIC_SEQ_CST);
	bp.flags = KELP_CQE_PATH_RDMA | KELP_CQE_F_TCP;
	finish_some(fx, &bp, r, &next, 1);
	assert_false(client_wake_pending(fx));
	assert_int_equal(reap_all(fx, c, 8), 1);
	bp.flags = KELP_CQE_PATH_HTTP;
	/* asleep, the last one done: none left out -> woken at once */
	__atomic_fetch_or(&fx->cli->cq.ctl->flags, KELP_CQ_WANT_WAKE, __ATOMIC_SEQ_CST);
	finish_some(fx, &bp, r, &next, 1);
	assert_false(client_wake_pending(fx));
	assert_int_equal(reap_all(fx, c, 8), 1);
	assert_int_equal(next, 8);
}

/* KELP_SQE_F_RDMA_ONLY without an RDMA path: -ENOTCONN at once, for a local volume too (never
 * served locally) and a remote one (never handed to the HTTP fallback). */
static void test_rdma_only_without_rdma(void **state)
{
	struct fixture *fx = *state;
	uint8_t *buf = kelp_buf_alloc(fx->cli, 4096);
	struct kelp_fid far = {VID + 1, 1, 2};
	struct needle_list nl;
	struct kelp_cqe c[2];
	struct kelp_msg m;

	list_needles(fixtures_dir(), &nl);
	assert_int_equal(
		kelp_queue_read_flags(fx->cli, &nl.live[0], 0, buf, 4096, KELP_SQE_F_RDMA_ONLY, 1),
		0);
	assert_int_equal(
		kelp_queue_read_flags(fx->cli, &far, 0, buf, 4096, KELP_SQE_F_RDMA_ONLY, 2), 0);
	assert_int_equal(kelp_queue_read_flags(fx->cli, &far, 0, buf, 4096, 0x80, 3), -EINVAL);
	kelp_submit(fx->cli);
	assert_int_equal(serve_and_collect(fx, c, 2), 2);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(c[i].result, -ENOTCONN);
		assert_int_equal(c[i].flags & KELP_CQE_PATH_MASK, KELP_CQE_PATH_NONE);
	}
	assert_int_equal(kelp_ring_dequeue_burst(&fx->lc.to_ctl.cons, &m, 1), 0); /* no HTTP */
	/* without the flag the same local read is served */
	assert_int_equal(kelp_queue_read(fx->cli, &nl.live[0], 0, buf, 4096, 4), 0);
	kelp_submit(fx->cli);
	assert_int_equal(serve_and_collect(fx, c, 1), 1);
	assert_int_equal(c[0].flags & KELP_CQE_PATH_MASK, KELP_CQE_PATH_LOCAL);
}

/* Is the lcore's eventfd readable (a wake-up written and not consumed)? */
static int wake_written(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, 0) == 1;
}

/* kelp_lcore_post() + kelp_lcore_kick() (the control loop's batched completions): the message is
 * delivered either way; the eventfd is written only when the lcore is parked. */
static void test_post_kick_wakes_only_parked(void **state)
{
	struct fixture *fx = *state;
	uint8_t *buf = kelp_buf_alloc(fx->cli, 4096);
	struct kelp_fid far = {VID + 1, 1, 2};
	struct kelp_cqe c;
	struct kelp_msg m;
	uint64_t v;

	for (int parked = 0; parked <= 1; parked++) {
		assert_int_equal(kelp_queue_read(fx->cli, &far, 0, buf, 4096, 20 + parked), 0);
		kelp_submit(fx->cli);
		assert_int_equal(serve_and_collect(fx, &c, 1), 0);
		assert_int_equal(kelp_ring_dequeue_burst(&fx->lc.to_ctl.cons, &m, 1), 1);
		if (wake_written(fx->lc.wake_fd)) /* from setup's kelp_lcore_send or the client */
			assert_int_equal(read(fx->lc.wake_fd, &v, sizeof(v)), (ssize_t)sizeof(v));
		m.remote->result = -EHOSTUNREACH;
		m.type = KELP_MSG_REMOTE_DONE;
		assert_int_equal(kelp_lcore_post(&fx->lc, &m), 0);
		fx->lc.parked = (uint32_t)parked; /* what park() sets around its sleep */
		kelp_lcore_kick(&fx->lc);
		assert_int_equal(wake_written(fx->lc.wake_fd), parked);
		fx->lc.parked = 0;
		assert_int_equal(serve_and_collect(fx, &c, 1), 1);
		assert_int_equal(c.user_data, 20 + (uint64_t)parked);
		assert_int_equal(c.result, -EHOSTUNREACH);
	}
}

/* A burst of large reads is cut after KELP_SESSION_POLL_BYTES, the rest served next round, in
 * order, nothing lost; completions are published along the way. */
static void test_large_reads_yield(void **state)
{
	struct fixture *fx = *state;
	struct needle_list nl;
	list_needles(fixtures_dir(), &nl);
	const struct kelp_volume *v = kelp_volume_set_find(fx->eng.volumes, VID);
	/* the largest live needle */
	struct kelp_needle_ref big = {0};
	struct kelp_fid big_fid = nl.live[0];
	for (size_t i = 0; i < nl.n_live; i++) {
		struct kelp_needle_ref r;
		assert_int_equal(kelp_volume_find(v, &nl.live[i], &r), 0);
		if (r.data_size > big.data_size) {
			big = r;
			big_fid = nl.live[i];
		}
	}
	uint8_t *buf = kelp_buf_alloc(fx->cli, big.data_size);
	for (int i = 0; i < 16; i++)
		assert_int_equal(
			kelp_queue_read(fx->cli, &big_fid, 0, buf, big.data_size, (uint64_t)i), 0);
	kelp_submit(fx->cli);
	assert_int_equal(kelp_lcore_serve_session(&fx->lc, fx->srv), KELP_POLL_BUSY);
	uint32_t first = (KELP_SESSION_POLL_BYTES + big.data_size - 1) / big.data_size;
	if (first > 16)
		first = 16;
	assert_int_equal(kelp_ring_cons_avail(&fx->cli->cq), first);
	assert_int_equal(fx->lc.stats.requests, first);
	struct kelp_cqe c[16];
	int got = 0;
	for (int round = 0; round < 4 && got < 16; round++)
		got += serve_and_collect(fx, c + got, 16 - (unsigned)got);
	assert_int_equal(got, 16);
	for (int i = 0; i < 16; i++) {
		assert_int_equal(c[i].user_data, (uint64_t)i);
		assert_int_equal(c[i].result, (int32_t)big.data_size);
	}
}

/* Local latency is sampled: one burst in KELP_LATENCY_SAMPLE is timed, the first one included. */
static void test_latency_sampled(void **state)
{
	struct fixture *fx = *state;
	struct needle_list nl;
	list_needles(fixtures_dir(), &nl);
	fx->lc.lat_sample = KELP_LATENCY_SAMPLE;
	fx->lc.lat_countdown = 0;
	uint8_t *buf = kelp_buf_alloc(fx->cli, 256 << 10);
	for (unsigned i = 0; i < KELP_LATENCY_SAMPLE + 1; i++) { /* one read per burst */
		assert_int_equal(kelp_queue_read(fx->cli, &nl.live[0], 0, buf, 256 << 10, i), 0);
		kelp_submit(fx->cli);
		struct kelp_cqe c;
		assert_int_equal(serve_and_collect(fx, &c, 1), 1);
		assert_true(c.result >= 0);
	}
	assert_int_equal(fx->lc.stats.by_path[KELP_CQE_PATH_LOCAL], KELP_LATENCY_SAMPLE + 1);
	assert_int_equal(fx->lc.latency[KELP_CQE_PATH_LOCAL].count, 2); /* bursts 0 and 16 */
	kelp_buf_free(fx->cli, buf);
}

/* The adaptive idle spin (lcore.c): short parks double it up to 16x the base, long ones halve it
 * back to the base. */
static void test_park_adapt(void **state)
{
	const uint64_t base = 200000; /* 200 us */
	uint64_t spin = base;
	for (int i = 0; i < 10; i++)
		spin = kelp_lcore_park_adapt(spin, base, 1000); /* woke after 1 us each time */
	assert_int_equal(spin, base * KELP_IDLE_SPIN_MAX_FACTOR);
	assert_int_equal(kelp_lcore_park_adapt(base, base, base / 2), 2 * base);
	spin = kelp_lcore_park_adapt(spin, base, 10ull * 1000000000); /* slept 10 s: idle */
	assert_int_equal(spin, base * KELP_IDLE_SPIN_MAX_FACTOR / 2);
	for (int i = 0; i < 10; i++)
		spin = kelp_lcore_park_adapt(spin, base, 10ull * 1000000000);
	assert_int_equal(spin, base);
	assert_int_equal(kelp_lcore_park_adapt(base, base, base), base); /* not shorter: stays */
}

/* Park hooks (lcore.h kelp_park_fn; what lets the RDMA export's lcore park,
 * lcore/rdma/rdma_export.c), on a running lcore thread. PH: what the hook and its poller share. */
static struct {
	int pending;	  /* work for hook_poller */
	int found_on_arm; /* the hook's next call "finds" work (a completion before its arm) */
	int timeout_ms;	  /* what the hook asks for */
	unsigned hook_calls, taken;
} PH;

static int hook_poller(struct kelp_lcore *lc, void *arg)
{
	if (__atomic_load_n(&PH.pending, __ATOMIC_ACQUIRE) == 0)
		return KELP_POLL_IDLE;
	__atomic_fetch_sub(&PH.pending, 1, __ATOMIC_ACQ_REL);
	__atomic_fetch_add(&PH.taken, 1, __ATOMIC_RELEASE);
	return KELP_POLL_BUSY;
}

static int hook_park(struct kelp_lcore *lc, void *arg, int *timeout_ms)
{
	__atomic_fetch_add(&PH.hook_calls, 1, __ATOMIC_RELEASE);
	int t = __atomic_load_n(&PH.timeout_ms, __ATOMIC_ACQUIRE);
	if (t >= 0)
		*timeout_ms = t;
	if (__atomic_exchange_n(&PH.found_on_arm, 0, __ATOMIC_ACQ_REL)) {
		__atomic_fetch_add(&PH.pending, 1, __ATOMIC_RELEASE);
		return KELP_POLL_BUSY;
	}
	return KELP_POLL_IDLE;
}

/* Wait until *@v >= @want (a 10 s hang guard, not a timing check). */
static void wait_at_least(const unsigned *v, unsigned want)
{
	for (int i = 0; i < 10000 && __atomic_load_n(v, __ATOMIC_ACQUIRE) < want; i++)
		usleep(1000);
	assert_true(__atomic_load_n(v, __ATOMIC_ACQUIRE) >= want);
}

/* A parked lcore thread calls the hook before each sleep: work the hook found (BUSY) is taken
 * without any doorbell or eventfd written (an lcore that slept anyway would never take it);
 * kelp_lcore_wake() wakes it; the hook's timeout wakes it with no event at all. */
static void test_park_hook(void **state)
{
	struct fixture *fx = *state;
	uint64_t parks;

	memset(&PH, 0, sizeof(PH));
	PH.timeout_ms = -1;
	fx->lc.idle_park_ns = 1000;
	assert_int_equal(kelp_lcore_add_poller(&fx->lc, "hooked", hook_poller, NULL), 0);
	for (unsigned i = 0; i < KELP_LCORE_MAX_PARK_HOOKS; i++)
		assert_int_equal(kelp_lcore_add_park_hook(&fx->lc, hook_park, NULL), 0);
	assert_int_equal(kelp_lcore_add_park_hook(&fx->lc, hook_park, NULL), -ENOSPC);
	kelp_lcore_del_park_hook(&fx->lc, hook_park, &PH); /* not registered: nothing */
	assert_int_equal(fx->lc.n_park_hooks, KELP_LCORE_MAX_PARK_HOOKS);
	kelp_lcore_del_park_hook(&fx->lc, hook_park, NULL);
	assert_int_equal(fx->lc.n_park_hooks, KELP_LCORE_MAX_PARK_HOOKS - 1);
	fx->lc.n_park_hooks = 1;
	assert_int_equal(kelp_lcore_start(&fx->lc), 0);
	wait_at_least(&PH.hook_calls, 1); /* parked (or about to): nothing wakes it now */

	/* the next park's hook finds work: taken at once */
	__atomic_store_n(&PH.found_on_arm, 1, __ATOMIC_RELEASE);
	kelp_lcore_wake(&fx->lc);
	wait_at_least(&PH.taken, 1);
	assert_int_equal(__atomic_load_n(&PH.pending, __ATOMIC_ACQUIRE), 0);

	/* a timeout wakes it with no event: the hook runs again and again */
	parks = KELP_STAT_READ(fx->lc.stats.parks);
	unsigned calls = __atomic_load_n(&PH.hook_calls, __ATOMIC_ACQUIRE);
	__atomic_store_n(&PH.timeout_ms, 1, __ATOMIC_RELEASE);
	kelp_lcore_wake(&fx->lc); /* the sleep under way has no timeout */
	wait_at_least(&PH.hook_calls, calls + 5);
	assert_true(KELP_STAT_READ(fx->lc.stats.parks) >= parks + 4);

	struct kelp_msg m = {.type = KELP_MSG_STOP};
	assert_int_equal(kelp_lcore_send(&fx->lc, &m), 0);
	kelp_lcore_join(&fx->lc);
}

static void set_flag(void *p)
{
	*(int *)p = 1;
}

/* A poller that holds the epoch (the TCP export's send from a mapping, epoch_holds): the lcore's
 * rounds pass no quiescent point, so what the control thread retired meanwhile is not freed
 * until the hold is gone. */
static void test_epoch_hold(void **state)
{
	struct fixture *fx = *state;
	struct kelp_epoch *ep;
	int freed = 0;

	assert_int_equal(kelp_epoch_new(1, &ep), 0);
	fx->lc.epoch = ep;
	fx->lc.epoch_id = kelp_epoch_register(ep);
	assert_true(fx->lc.epoch_id >= 0);
	fx->lc.epoch_holds = 1;
	assert_int_equal(kelp_epoch_retire(ep, set_flag, &freed), 0);
	for (int i = 0; i < 3; i++) {
		kelp_lcore_poll_once(&fx->lc);
		kelp_epoch_reclaim(ep);
	}
	assert_int_equal(freed, 0);
	fx->lc.epoch_holds = 0;
	kelp_lcore_poll_once(&fx->lc);
	kelp_epoch_reclaim(ep);
	assert_int_equal(freed, 1);
	fx->lc.epoch = NULL;
	kelp_epoch_free(ep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arena_populated_prefix),
		cmocka_unit_test_setup_teardown(test_arena_allocated_on_use, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nop_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_every_needle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_deleted_cookie, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_sqes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cq_full_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_tail_breaks_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remote_path_and_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handoff_wakeups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_completions_one_wake, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wake_held_until_half, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rdma_only_without_rdma, setup, teardown),
		cmocka_unit_test_setup_teardown(test_post_kick_wakes_only_parked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_reads_yield, setup, teardown),
		cmocka_unit_test(test_park_adapt),
		cmocka_unit_test_setup_teardown(test_park_hook, setup, teardown),
		cmocka_unit_test_setup_teardown(test_epoch_hold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_latency_sampled, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
