/* SPDX-License-Identifier: Apache-2.0 */
/*
 * --mode local, --mode rdma, --mode tcp and --mode nop: through libkelp to kelpd, one session per
 * thread. local: READ of the whole needle (up to --size) into a per-slot arena buffer; kelpd picks
 * the path (local volume file, RDMA, HTTP) and the CQE says which one served it. rdma:  the same
 * READ with KELP_SQE_F_RDMA_ONLY: served over RDMA by the kelpd that holds the volume, or failed
 * (counted as an error), never local or HTTP. Before timing, each thread warms up: kelpd learns
 * where a volume lives and connects to its kelpd lazily, on a first (HTTP) read, so it reads each
 * volume of the targets without the flag until a read with it succeeds (at most RDMA_WARM_UP_S).
 *   nop:   NOP requests: the bare shared-memory ring round trip, no volume touched.
 * start() queues into the submission ring, flush() publishes the batch with kelp_submit(), reap()
 * busy-polls the completion ring with kelp_poll() (or sleeps in kelp_wait() with --wait).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/kelp-bench/bench.h"
#include "kelp.h"

#define RDMA_WARM_UP_S 60

struct kelp_state {
	struct kelp_session *s;
	unsigned nbufs;
	struct kelp_cqe *cqes;
	void *bufs[];
};

static int kelp_global_init(struct bench_opts *o, struct bench_targets *tg)
{
	return 0;
}

/* One synchronous read of @fid into @buf with @flags; *@cqe gets its completion. The owning
 * worker. Return: 0 (look at cqe->result), or a session error. */
static int read_sync(struct kelp_session *s, const struct kelp_fid *fid, void *buf, uint32_t len,
		     uint32_t flags, struct kelp_cqe *cqe)
{
	int rc = kelp_queue_read_flags(s, fid, 0, buf, len, flags, 0);
	if (rc < 0)
		return rc;
	do
		rc = kelp_wait(s, cqe, 1, 1000);
	while (rc == -ETIMEDOUT);
	return rc < 0 ? rc : 0;
}

/* --mode rdma: until an RDMA-only read of every volume among the targets (its first target)
 * succeeds, read it without the flag (which locates the volume and connects to its kelpd). */
static int rdma_warm_up(struct bench_thread *t, struct kelp_session *s, void *buf, uint32_t flag)
{
	const char *mode = flag == KELP_SQE_F_TCP_ONLY ? "tcp" : "rdma";
	const struct bench_targets *tg = t->targets;
	uint64_t deadline = bench_now_ns() + RDMA_WARM_UP_S * 1000000000ull;
	uint32_t seen[256];
	unsigned nseen = 0;

	for (size_t i = 0; i < tg->n; i++) {
		const struct kelp_fid *fid = &tg->v[i].fid;
		bool known = false;
		for (unsigned k = 0; k < nseen && !known; k++)
			known = seen[k] == fid->volume_id;
		if (known)
			continue;
		if (nseen < sizeof(seen) / sizeof(seen[0]))
			seen[nseen++] = fid->volume_id;
		for (;;) {
			struct kelp_cqe c;
			int rc = read_sync(s, fid, buf, t->buf_size, flag, &c);
			if (rc < 0)
				return rc;
			if (c.result >= 0)
				break;
			if (bench_now_ns() > deadline) {
				snprintf(t->fatal_msg, sizeof(t->fatal_msg),
					 "--mode %s: no %s read of %s within %d s (last error: "
					 "%s); is kelpd's reader side configured ([peer] "
					 "transports) and the volume's kelpd exporting it?",
					 mode, mode, tg->v[i].fid_str, RDMA_WARM_UP_S,
					 kelp_strerror(c.result));
				return c.result;
			}
			rc = read_sync(s, fid, buf, t->buf_size, 0, &c); /* locate, connect */
			if (rc < 0)
				return rc;
			nanosleep(&(struct timespec){.tv_nsec = 50000000}, NULL);
		}
	}
	return 0;
}

static int kelp_thread_init(struct bench_thread *t)
{
	const struct bench_opts *o = t->opts;
	bool nop = strcmp(o->mode_name, "nop") == 0;
	struct kelp_state *st = calloc(1, sizeof(*st) + o->depth * sizeof(st->bufs[0]));
	if (!st)
		return -ENOMEM;
	t->mode_state = st;
	st->cqes = calloc(o->depth, sizeof(*st->cqes));
	if (!st->cqes)
		return -ENOMEM;
	struct kelp_opts ko;
	kelp_opts_init(&ko);
	ko.socket_path = o->socket_path;
	ko.config_path = o->config_path;
	ko.wait_spin_us = o->wait ? o->wait_spin_us : -1;
	uint32_t qd = 1;
	while (qd < o->depth)
		qd <<= 1;
	ko.queue_depth = qd > 32 ? qd : 0; /* kelpd's default unless we need more */
	int rc = kelp_connect(&ko, &st->s);
	if (rc < 0) {
		/* the real cause: no kelpd, no such config, config errors (FILE:LINE), the policy
		 */
		const char *why = kelp_last_error();
		snprintf(t->fatal_msg, sizeof(t->fatal_msg), "cannot open a session: %s%s",
			 *why ? why : kelp_strerror(rc),
			 rc == -ECONNREFUSED
				 ? " (start it with kelpd -c FILE; give the same -c FILE or "
				   "--socket PATH here)"
				 : "");
		return rc;
	}
	struct kelp_session_info info;
	kelp_session_info(st->s, &info);
	if (info.sq_entries < o->depth) {
		snprintf(t->fatal_msg, sizeof(t->fatal_msg),
			 "kelpd granted %u ring entries, fewer than --depth %u", info.sq_entries,
			 o->depth);
		return -EINVAL;
	}
	if (nop)
		return 0;
	if (t->buf_size > info.max_io) {
		snprintf(t->fatal_msg, sizeof(t->fatal_msg),
			 "--size %u is above the session's max_io %u: pass a smaller --size",
			 t->buf_size, info.max_io);
		return -E2BIG;
	}
	for (unsigned i = 0; i < o->depth; i++) {
		st->bufs[i] = kelp_buf_alloc(st->s, t->buf_size);
		if (!st->bufs[i]) {
			snprintf(t->fatal_msg, sizeof(t->fatal_msg),
				 "the session's arena (%llu bytes) holds fewer than --depth %u "
				 "buffers of "
				 "%u bytes: lower --depth or --size",
				 (unsigned long long)info.arena_size, o->depth, t->buf_size);
			return -ENOMEM;
		}
		memset(st->bufs[i], 0, t->buf_size); /* fault the pages in before timing */
		st->nbufs++;
	}
	if (strcmp(o->mode_name, "rdma") == 0)
		return rdma_warm_up(t, st->s, st->bufs[0], KELP_SQE_F_RDMA_ONLY);
	if (strcmp(o->mode_name, "tcp") == 0)
		return rdma_warm_up(t, st->s, st->bufs[0], KELP_SQE_F_TCP_ONLY);
	return 0;
}

static int kelp_start_read(struct bench_thread *t, unsigned slot, const struct bench_target *tg,
			   int64_t *result)
{
	struct kelp_state *st = t->mode_state;
	int rc = kelp_queue_read(st->s, &tg->fid, 0, st->bufs[slot], t->buf_size, slot);
	if (rc < 0)
		snprintf(t->fatal_msg, sizeof(t->fatal_msg), "kelp_queue_read: %s",
			 kelp_strerror(rc));
	return rc;
}

static int kelp_start_rdma(struct bench_thread *t, unsigned slot, const struct bench_target *tg,
			   int64_t *result)
{
	struct kelp_state *st = t->mode_state;
	int rc = kelp_queue_read_flags(st->s, &tg->fid, 0, st->bufs[slot], t->buf_size,
				       KELP_SQE_F_RDMA_ONLY, slot);
	if (rc < 0)
		snprintf(t->fatal_msg, sizeof(t->fatal_msg), "kelp_queue_read_flags: %s",
			 kelp_strerror(rc));
	return rc;
}

static int kelp_start_tcp(struct bench_thread *t, unsigned slot, const struct bench_target *tg,
			  int64_t *result)
{
	struct kelp_state *st = t->mode_state;
	int rc = kelp_queue_read_flags(st->s, &tg->fid, 0, st->bufs[slot], t->buf_size,
				       KELP_SQE_F_TCP_ONLY, slot);
	if (rc < 0)
		snprintf(t->fatal_msg, sizeof(t->fatal_msg), "kelp_queue_read_flags: %s",
			 kelp_strerror(rc));
	return rc;
}

static int kelp_start_nop(struct bench_thread *t, unsigned slot, const struct bench_target *tg,
			  int64_t *result)
{
	struct kelp_state *st = t->mode_state;
	int rc = kelp_queue_nop(st->s, slot);
	if (rc < 0)
		snprintf(t->fatal_msg, sizeof(t->fatal_msg), "kelp_queue_nop: %s",
			 kelp_strerror(rc));
	return rc;
}

static int kelp_flush(struct bench_thread *t)
{
	struct kelp_state *st = t->mode_state;
	int rc = kelp_submit(st->s);
	if (rc < 0) {
		snprintf(t->fatal_msg, sizeof(t->fatal_msg), "kelp_submit: %s", kelp_strerror(rc));
		return rc;
	}
	return 0;
}

static int kelp_reap(struct bench_thread *t, struct bench_done *done, unsigned max)
{
	struct kelp_state *st = t->mode_state;
	int n = t->opts->wait ? kelp_wait(st->s, st->cqes, max, 100)
			      : kelp_poll(st->s, st->cqes, max);
	if (n == -ETIMEDOUT)
		return 0;
	if (n < 0) {
		snprintf(t->fatal_msg, sizeof(t->fatal_msg), "waiting for completions: %s",
			 kelp_strerror(n));
		return n;
	}
	for (int i = 0; i < n; i++)
		done[i] = (struct bench_done){
			.slot = (unsigned)st->cqes[i].user_data,
			.result = st->cqes[i].result,
			.path = st->cqes[i].flags & KELP_CQE_F_TCP
					? BENCH_PATH_TCP
					: st->cqes[i].flags & KELP_CQE_PATH_MASK,
			.crc = st->cqes[i].crc,
			.has_crc = true,
			.size = st->cqes[i].size,
		};
	return n;
}

static const uint8_t *kelp_slot_buf(struct bench_thread *t, unsigned slot)
{
	struct kelp_state *st = t->mode_state;
	return (const uint8_t *)st->bufs[slot];
}

/* --verify: a fresh STAT of @tg (the worker has nothing in flight, else -EBUSY). */
static int kelp_restat(struct bench_thread *t, const struct bench_target *tg, uint64_t *size,
		       uint32_t *crc)
{
	struct kelp_state *st = t->mode_state;
	struct kelp_cqe c;
	int rc = kelp_stat(st->s, &tg->fid, &c);
	if (rc < 0)
		return rc;
	*size = c.size;
	*crc = c.crc;
	return 0;
}

static void kelp_thread_fini(struct bench_thread *t)
{
	struct kelp_state *st = t->mode_state;
	if (!st)
		return;
	for (unsigned i = 0; i < st->nbufs; i++)
		kelp_buf_free(st->s, st->bufs[i]);
	kelp_close(st->s);
	free(st->cqes);
	free(st);
	t->mode_state = NULL;
}

const struct bench_mode bench_mode_local = {
	.name = "local",
	.about = "READ through libkelp and kelpd",
	.global_init = kelp_global_init,
	.thread_init = kelp_thread_init,
	.start = kelp_start_read,
	.flush = kelp_flush,
	.reap = kelp_reap,
	.slot_buf = kelp_slot_buf,
	.restat = kelp_restat,
	.thread_fini = kelp_thread_fini,
};

const struct bench_mode bench_mode_rdma = {
	.name = "rdma",
	.about = "READ through libkelp and kelpd over RDMA only (fails instead of other paths)",
	.global_init = kelp_global_init,
	.thread_init = kelp_thread_init,
	.start = kelp_start_rdma,
	.flush = kelp_flush,
	.reap = kelp_reap,
	.slot_buf = kelp_slot_buf,
	.restat = kelp_restat,
	.thread_fini = kelp_thread_fini,
};

const struct bench_mode bench_mode_tcp = {
	.name = "tcp",
	.about = "READ through libkelp and kelpd over TCP to the volume's kelpd only",
	.global_init = kelp_global_init,
	.thread_init = kelp_thread_init,
	.start = kelp_start_tcp,
	.flush = kelp_flush,
	.reap = kelp_reap,
	.slot_buf = kelp_slot_buf,
	.restat = kelp_restat,
	.thread_fini = kelp_thread_fini,
};

const struct bench_mode bench_mode_nop = {
	.name = "nop",
	.about = "NOP round trips through libkelp and kelpd",
	.global_init = kelp_global_init,
	.thread_init = kelp_thread_init,
	.start = kelp_start_nop,
	.flush = kelp_flush,
	.reap = kelp_reap,
	.thread_fini = kelp_thread_fini,
};
