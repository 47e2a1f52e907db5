/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelp-bench's worker threads: each pins itself, lets its mode open what it needs, then keeps
 * --depth slots busy (start, flush, reap), timing every read into its own histogram.
 * Everything here runs on the worker thread that owns the struct bench_thread.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/kelp-bench/bench.h"

/* xorshift64*: a per-thread random stream for picking targets. */
static inline uint64_t next_random(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static void record_done(struct bench_thread *t, int64_t result, uint32_t path, uint64_t lat_ns)
{
	kelp_hist_record(t->hist, lat_ns);
	uint64_t ops = atomic_load_explicit(&t->ops, memory_order_relaxed);
	atomic_store_explicit(&t->ops, ops + 1, memory_order_relaxed);
	if (result >= 0) {
		uint64_t b = atomic_load_explicit(&t->bytes, memory_order_relaxed);
		atomic_store_explicit(&t->bytes, b + (uint64_t)result, memory_order_relaxed);
	} else {
		uint64_t e = atomic_load_explicit(&t->errors, memory_order_relaxed);
		atomic_store_explicit(&t->errors, e + 1, memory_order_relaxed);
		uint64_t code = (uint64_t)-result;
		t->err_by_code[code < BENCH_ERRNO_MAX ? code : 0]++;
	}
	t->by_path[path < BENCH_PATHS ? path : 0]++;
}

/*
 * The worker loop: keep depth slots busy until the stop flag or @quota reads (UINT64_MAX: no
 * quota), then drain what is in flight.
 */
static void run_slots(struct bench_thread *t, const struct bench_mode *mode, uint64_t quota)
{
	const struct bench_opts *o = t->opts;
	const struct bench_targets *tg = t->targets;
	unsigned depth = o->depth, nfree = depth, inflight = 0;
	unsigned *free_slots = calloc(depth, sizeof(*free_slots));
	uint64_t *start_ns = calloc(depth, sizeof(*start_ns));
	const struct bench_target **slot_tg = calloc(depth, sizeof(*slot_tg));
	struct bench_done *done = calloc(depth, sizeof(*done));
	bool verify = o->verify && mode->slot_buf;
	if (!free_slots || !start_ns || !done || !slot_tg) {
		t->fatal = -ENOMEM;
		snprintf(t->fatal_msg, sizeof(t->fatal_msg), "out of memory");
		goto out;
	}
	for (unsigned i = 0; i < depth; i++)
		free_slots[i] = depth - 1 - i;
	uint64_t rnd = 0x9E3779B97F4A7C15ull * (t->idx + 1);
	size_t cursor = tg->n * t->idx / o->threads;
	uint64_t issued = 0;
	uint64_t t_begin = bench_now_ns();
	double ns_per_read = o->rate > 0 ? 1e9 / o->rate : 0;

	for (;;) {
		bool may_issue =
			!atomic_load_explicit(t->stop, memory_order_relaxed) && issued < quota;
		bool started = false;
		while (may_issue && nfree > 0) {
			if (ns_per_read >
			    0) { /* --rate: the issue-th read may start at issued * ns_per_read */
				uint64_t due = t_begin + (uint64_t)(issued * ns_per_read),
					 now = bench_now_ns();
				if (due > now) {
					if (inflight > 0)
						break; /* reap meanwhile */
					uint64_t d = due - now < 10000000 ? due - now : 10000000;
					struct timespec ts = {0, (long)d};
					nanosleep(&ts, NULL);
					may_issue = !atomic_load_explicit(t->stop,
									  memory_order_relaxed) &&
						    issued < quota;
					continue;
				}
			}
			unsigned slot = free_slots[--nfree];
			size_t i;
			if (o->sequential) {
				i = cursor;
				cursor = cursor + 1 == tg->n ? 0 : cursor + 1;
			} else {
				i = (size_t)(((unsigned __int128)next_random(&rnd) * tg->n) >> 64);
			}
			int64_t result = 0;
			slot_tg[slot] = &tg->v[i];
			start_ns[slot] = bench_now_ns();
			int rc = mode->start(t, slot, &tg->v[i], &result);
			issued++;
			if (rc < 0) {
				t->fatal = rc;
				goto out;
			}
			if (rc == 1) {
				record_done(t, result, 0, bench_now_ns() - start_ns[slot]);
				if (verify && result >= 0)
					bench_verify_read(t, slot_tg[slot], mode->slot_buf(t, slot),
							  result, NULL);
				free_slots[nfree++] = slot;
			} else {
				inflight++;
				started = true;
			}
			may_issue = !atomic_load_explicit(t->stop, memory_order_relaxed) &&
				    issued < quota;
		}
		if (started && mode->flush) {
			int rc = mode->flush(t);
			if (rc < 0) {
				t->fatal = rc;
				goto out;
			}
		}
		if (inflight == 0) {
			if (!may_issue || atomic_load_explicit(t->stop, memory_order_relaxed))
				break;
			continue;
		}
		int n = mode->reap(t, done, depth);
		if (n < 0) {
			t->fatal = n;
			goto out;
		}
		if (n == 0)
			continue;
		uint64_t now = bench_now_ns();
		for (int k = 0; k < n; k++) {
			if (done[k].slot >= depth) { /* a completion we never asked for */
				t->fatal = -EPROTO;
				snprintf(t->fatal_msg, sizeof(t->fatal_msg),
					 "completion for unknown request %u", done[k].slot);
				goto out;
			}
			record_done(t, done[k].result, done[k].path, now - start_ns[done[k].slot]);
			if (verify && done[k].result >= 0)
				bench_verify_read(t, slot_tg[done[k].slot],
						  mode->slot_buf(t, done[k].slot), done[k].result,
						  &done[k]);
			free_slots[nfree++] = done[k].slot;
		}
		inflight -= (unsigned)n;
	}
out:
	t->end_ns = bench_now_ns();
	bench_verify_settle(t); /* after the clock: not part of the measured run */
	free(free_slots);
	free(slot_tg);
	free(start_ns);
	free(done);
}

void *bench_worker_main(void *arg)
{
	struct bench_thread *t = arg;
	const struct bench_mode *mode = t->mode;
	const struct bench_opts *o = t->opts;
	if (o->ncpus) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(o->cpus[t->idx % o->ncpus], &set);
		int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
		if (rc) {
			t->fatal = -rc;
			snprintf(t->fatal_msg, sizeof(t->fatal_msg), "cannot pin to cpu %d: %s",
				 o->cpus[t->idx % o->ncpus], strerror(rc));
		}
	}
	if (!t->fatal) {
		int rc = mode->thread_init(t);
		if (rc < 0)
			t->fatal = rc;
	}
	pthread_barrier_wait(t->start_barrier); /* main starts the clock once all are ready */
	bool init_ok = !t->fatal;
	pthread_barrier_wait(t->start_barrier); /* main has checked everyone's init */
	if (init_ok && !atomic_load(t->stop)) {
		uint64_t quota = UINT64_MAX;
		if (o->count)
			quota = o->count / o->threads + (t->idx < o->count % o->threads ? 1 : 0);
		run_slots(t, mode, quota);
	}
	t->end_ns = t->end_ns ? t->end_ns : bench_now_ns();
	mode->thread_fini(t); /* also after a failed init: modes free what they got */
	atomic_store(&t->finished, true);
	return NULL;
}
