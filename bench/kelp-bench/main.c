/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelp-bench: read needles with T threads x D requests in flight, through kelpd (local, rdma, nop),
 * the page cache (pread) or a SeaweedFS volume server (http), and report throughput and latency.
 *
 * Each worker thread keeps D slots busy: it starts a read in every free slot, then reaps finished
 * ones, records each latency (start to reap, nanoseconds) in its own histogram and reuses the slot.
 * The main thread prints a progress line every second and, after the workers are joined, the
 * merged summary (text, or one JSON object with --json).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/kelp-bench/bench.h"
#include "kelp.h"

static const struct bench_mode *const modes[] = {
	&bench_mode_local, &bench_mode_rdma,  &bench_mode_tcp,
	&bench_mode_nop,   &bench_mode_pread, &bench_mode_http,
};

/* Set by SIGINT/SIGTERM and at the deadline; read by the workers (through bench_thread.stop). */
static atomic_bool stop_flag;

uint64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const struct bench_mode *find_mode(const char *name)
{
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(modes[i]->name, name) == 0)
			return modes[i];
	return NULL;
}

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&stop_flag, true);
}

int main(int argc, char **argv)
{
	struct bench_opts o = {0};
	if (bench_parse_args(argc, argv, &o) < 0)
		return 2;
	const struct bench_mode *mode = find_mode(o.mode_name);
	if (!mode) {
		fprintf(stderr,
			"kelp-bench: unknown --mode '%s' (local, rdma, tcp, nop, pread, http)\n",
			o.mode_name);
		return 2;
	}
	struct bench_targets tg = {0};
	bool need_targets = mode != &bench_mode_nop || o.list_fids;
	if (need_targets || o.nvolume_dirs || o.fids_path) {
		if (!o.nvolume_dirs && !o.fids_path) {
			fprintf(stderr,
				"kelp-bench: say what to read: --volume-dir DIR or --fids FILE\n");
			return 2;
		}
		if (bench_targets_load(&o, &tg) < 0)
			return 1;
	}
	if (o.list_fids) {
		for (size_t i = 0; i < tg.n; i++)
			printf("%s\n", tg.v[i].fid_str);
		bench_targets_free(&tg);
		return 0;
	}
	if (tg.n == 0) { /* nop needs no needles: give the loop one dummy target */
		tg.v = calloc(1, sizeof(*tg.v));
		if (!tg.v)
			return 1;
		tg.v[0].dat_fd = -1;
		tg.n = 1;
	}
	if (o.verify && !o.nvolume_dirs) {
		fprintf(stderr, "kelp-bench: --verify compares with the needles' stored CRCs: give "
				"--volume-dir DIR\n");
		bench_targets_free(&tg);
		return 2;
	}
	if (mode->needs_dat && !o.nvolume_dirs) {
		fprintf(stderr,
			"kelp-bench: --mode %s reads the .dat files: give --volume-dir DIR\n",
			mode->name);
		return 2;
	}
	if (o.size == 0) {
		uint32_t max = 0;
		for (size_t i = 0; i < tg.n; i++)
			if (tg.v[i].data_size > max)
				max = tg.v[i].data_size;
		o.size = max ? (max + 4095) & ~4095u : 1u << 20;
	}
	if (mode->global_init(&o, &tg) < 0) {
		bench_targets_free(&tg);
		return 1;
	}

	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct bench_thread *th = calloc(o.threads, sizeof(*th));
	pthread_t *tid = calloc(o.threads, sizeof(*tid));
	if (!th || !tid)
		return 1;
	pthread_barrier_t start_barrier;
	pthread_barrier_init(&start_barrier, NULL, o.threads + 1);
	for (unsigned i = 0; i < o.threads; i++) {
		th[i].idx = i;
		th[i].opts = &o;
		th[i].targets = &tg;
		th[i].buf_size = o.size;
		th[i].hist = malloc(sizeof(struct kelp_hist));
		if (!th[i].hist)
			return 1;
		kelp_hist_init(th[i].hist);
		th[i].mode = mode;
		th[i].stop = &stop_flag;
		th[i].start_barrier = &start_barrier;
		int rc = pthread_create(&tid[i], NULL, bench_worker_main, &th[i]);
		if (rc) {
			fprintf(stderr, "kelp-bench: cannot start thread %u: %s\n", i,
				strerror(rc));
			return 1;
		}
	}
	pthread_barrier_wait(&start_barrier);
	int init_failed = 0;
	for (unsigned i = 0; i < o.threads; i++) {
		if (th[i].fatal) {
			fprintf(stderr, "kelp-bench: thread %u (%s): %s\n", i, mode->name,
				th[i].fatal_msg[0] ? th[i].fatal_msg : strerror(-th[i].fatal));
			init_failed = 1;
		}
	}
	if (init_failed)
		atomic_store(&stop_flag, true);
	uint64_t t0 = bench_now_ns();
	pthread_barrier_wait(&start_barrier);

	/* Progress every second until the duration ends or every worker is done. */
	uint64_t deadline = o.count ? UINT64_MAX : t0 + (uint64_t)(o.duration_s * 1e9);
	uint64_t last_ops = 0, last_bytes = 0, last_t = t0, next_tick = t0 + 1000000000ull;
	for (;;) {
		bool all_done = true;
		for (unsigned i = 0; i < o.threads; i++)
			all_done &= atomic_load(&th[i].finished);
		if (all_done)
			break;
		uint64_t now = bench_now_ns();
		if (now >= deadline)
			atomic_store(&stop_flag, true);
		if (now >= next_tick && !init_failed) {
			uint64_t ops = 0, bytes = 0, errs = 0;
			for (unsigned i = 0; i < o.threads; i++) {
				ops += atomic_load_explicit(&th[i].ops, memory_order_relaxed);
				bytes += atomic_load_explicit(&th[i].bytes, memory_order_relaxed);
				errs += atomic_load_explicit(&th[i].errors, memory_order_relaxed);
			}
			double dt = (now - last_t) / 1e9;
			if (!o.quiet)
				fprintf(stderr,
					"[%5.1fs] %10.0f ops/s %9.1f MB/s  errors %" PRIu64 "\n",
					(now - t0) / 1e9, (ops - last_ops) / dt,
					(bytes - last_bytes) / dt / 1e6, errs);
			last_ops = ops, last_bytes = bytes, last_t = now;
			next_tick += 1000000000ull;
		}
		uint64_t wake = next_tick < deadline ? next_tick : deadline;
		now = bench_now_ns();
		uint64_t sleep_ns = wake > now ? wake - now : 0;
		if (sleep_ns > 20000000)
			sleep_ns = 20000000; /* notice finished workers within 20 ms */
		struct timespec ts = {0, (long)sleep_ns};
		nanosleep(&ts, NULL);
	}

	int rc = init_failed ? 1 : 0;
	struct bench_totals r = {.ntargets = tg.n};
	uint64_t end = t0;
	for (unsigned i = 0; i < o.threads; i++) {
		pthread_join(tid[i], NULL);
		if (th[i].fatal && !init_failed) {
			fprintf(stderr, "kelp-bench: thread %u stopped: %s\n", i,
				th[i].fatal_msg[0] ? th[i].fatal_msg : kelp_strerror(th[i].fatal));
			rc = 1;
		}
		if (i > 0)
			kelp_hist_merge(th[0].hist, th[i].hist);
		r.ops += th[i].ops, r.bytes += th[i].bytes, r.errors += th[i].errors;
		r.verified += th[i].verified, r.verify_failures += th[i].verify_failures;
		r.verify_changed += th[i].verify_changed;
		end = th[i].end_ns > end ? th[i].end_ns : end;
		for (unsigned c = 0; c < BENCH_ERRNO_MAX; c++)
			r.by_code[c] += th[i].err_by_code[c];
		for (unsigned p = 0; p < BENCH_PATHS; p++)
			r.by_path[p] += th[i].by_path[p];
	}
	if (!init_failed) {
		r.secs = (end - t0) / 1e9;
		if (r.secs <= 0)
			r.secs = 1e-9;
		bench_report(&o, th[0].hist, &r);
		if (r.verify_failures) {
			fprintf(stderr,
				"kelp-bench: --verify: %" PRIu64 " of %" PRIu64
				" reads returned wrong bytes or a wrong size\n",
				r.verify_failures, r.verified);
			rc = 1;
		}
		if (r.verify_changed)
			fprintf(stderr,
				"kelp-bench: --verify: %" PRIu64 " of %" PRIu64 " reads returned "
				"another version of a needle overwritten or deleted during the run "
				"(not "
				"failures)\n",
				r.verify_changed, r.verified);
	}
	for (unsigned i = 0; i < o.threads; i++)
		free(th[i].hist);
	free(th), free(tid);
	pthread_barrier_destroy(&start_barrier);
	bench_targets_free(&tg);
	return rc;
}
