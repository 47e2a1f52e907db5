/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelp-bench internals: the run loop (main.c) drives one "mode" per thread through the ops table
 * below; targets.c builds the list of needles to read.
 *
 * Threads: every struct bench_thread belongs to the worker thread that runs it. The main thread
 * only reads the progress counters (relaxed atomics) while workers run, and everything else after
 * they are joined. The target list and options are read-only once the workers start.
 */
#ifndef KELP_BENCH_H
#define KELP_BENCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/fid.h"
#include "core/histogram.h"

struct kelp_volume;

/* One needle to read. */
struct bench_target {
	struct kelp_fid fid;
	char fid_str[KELP_FID_STR_MAX];
	int dat_fd;	     /* open .dat when the target came from a volume directory, else -1 */
	uint64_t data_off;   /* byte offset of the needle's data in .dat (when dat_fd >= 0) */
	uint32_t data_size;  /* data size as stored (when dat_fd >= 0; else 0 = unknown) */
	uint32_t stored_crc; /* the needle's CRC as stored (when has_crc), for --verify */
	bool has_crc;
	uint16_t server; /* index into bench_opts.servers (http mode) */
};

struct bench_targets {
	struct bench_target *v;
	size_t n;
	int *fds; /* .dat fds to close */
	size_t nfds;
	struct kelp_volume **volumes; /* kept open while the targets are used */
	size_t nvolumes;
};

#define BENCH_MAX_DIRS	  16
#define BENCH_MAX_CPUS	  64
#define BENCH_MAX_SERVERS 64

struct bench_server {
	char hostport[128]; /* "127.0.0.1:8080" */
	char host[112];
	uint16_t port;
};

struct bench_opts {
	const char *mode_name;
	const char *config_path;
	const char *socket_path;
	const char *volume_dirs[BENCH_MAX_DIRS];
	size_t nvolume_dirs;
	const char *fids_path;
	const char *label;
	const char *master; /* http mode: host:port of a master for /dir/lookup */
	unsigned threads;
	unsigned depth;
	double duration_s; /* used when count == 0 */
	uint64_t count;	   /* total reads; 0 = run for duration_s */
	double rate;	   /* reads per second per thread at most; 0 = as fast as possible */
	bool sequential;
	uint32_t size; /* read length / buffer size per slot; 0 = from the targets */
	int cpus[BENCH_MAX_CPUS];
	size_t ncpus;
	bool json;
	bool quiet;
	bool list_fids;
	bool wait;	  /* local/nop: kelp_wait (futex) instead of busy-polling */
	int wait_spin_us; /* with wait: spin this long before sleeping */
	bool verify;	  /* check every whole-needle read against the needle's stored CRC
			   * (a needle overwritten or deleted meanwhile counts apart) */
	struct bench_server servers[BENCH_MAX_SERVERS];
	size_t nservers;
};

/* One finished request handed from a mode's reap() to the loop. */
struct bench_done {
	unsigned slot;
	int64_t result; /* bytes read, or -errno */
	uint32_t path;	/* KELP_CQE_PATH_* for kelp modes, else 0 */
	/* with has_crc: the needle version the bytes came from (--verify): its stored CRC and whole
	 * data size as stored (more than result when the buffer cut the read short) */
	uint32_t crc;
	bool has_crc;
	uint64_t size;
};

/* Completions by path: KELP_CQE_PATH_* (0-3), and BENCH_PATH_TCP: another kelpd over TCP
 * (KELP_CQE_PATH_RDMA with KELP_CQE_F_TCP). */
#define BENCH_PATH_TCP	4
#define BENCH_PATHS	5
#define BENCH_ERRNO_MAX 160 /* errors by code: errno values 1..159; others counted at 0 */

struct bench_mode;

struct bench_thread {
	unsigned idx;
	const struct bench_opts *opts;
	const struct bench_mode *mode;
	atomic_bool *stop;		  /* main's stop flag: no new reads once set */
	pthread_barrier_t *start_barrier; /* workers and main meet twice: ready, then go */
	const struct bench_targets *targets;
	void *mode_state;    /* the mode's per-thread data */
	uint32_t buf_size;   /* bytes each slot's buffer holds */
	int fatal;	     /* -errno that ended this thread early, else 0 */
	char fatal_msg[768]; /* room for kelp_last_error() */
	/* progress, written by the owner with relaxed stores, read by main every second */
	_Atomic uint64_t ops, bytes, errors;
	_Atomic bool finished;
	/* results, read by main after join */
	struct kelp_hist *hist; /* nanoseconds */
	uint64_t err_by_code[BENCH_ERRNO_MAX];
	uint64_t by_path[BENCH_PATHS];
	uint64_t verified, verify_failures; /* --verify */
	uint64_t verify_changed; /* --verify: mismatches explained by an overwrite or delete */
	/* --verify: reads that returned another whole version of their needle (its bytes match the
	 * CRC the read reported, which is not the one the targets were built with), judged after
	 * the run when nothing is in flight: changed if the needle changed, else failures */
	const struct bench_target **suspects;
	size_t nsuspects, suspects_cap;
	uint64_t end_ns;
};

/*
 * A read mode. Every function runs on the worker thread that owns @t, except global_init (main
 * thread, before any worker starts).
 *   global_init  check the options and targets, resolve servers; 0 or -errno (message printed).
 *   thread_init  open what this thread needs (session, connections, buffers) for opts->depth slots.
 *   start        issue one read of @tg into @slot. Return 0 = in flight (reap will report it),
 *                1 = finished already with *result set (bytes or -errno), < 0 = fatal for the run.
 *   flush        optional: publish what start() queued (kelp_submit).
 *   reap         collect up to @max finished requests into @done without waiting long (it must
 *                come back within ~100 ms so the loop sees the stop flag). Return the count or a
 *                fatal -errno.
 *   slot_buf     the buffer @slot's data landed in (for --verify); NULL op when there is none.
 *   restat       optional, for --verify: the needle's data size and stored CRC as they are now
 *                (a fresh STAT or HEAD), called with nothing in flight. 0, -ENOENT when it is gone
 *                (deleted), other -errno when it cannot be told.
 *   thread_fini  release everything thread_init took; requests may still be in flight after a
 *                fatal error.
 * Fatal errors write a message into t->fatal_msg.
 */
struct bench_mode {
	const char *name;
	const char *about;
	bool needs_dat; /* reads the volume files itself: targets must come from --volume-dir */
	int (*global_init)(struct bench_opts *o, struct bench_targets *tg);
	int (*thread_init)(struct bench_thread *t);
	int (*start)(struct bench_thread *t, unsigned slot, const struct bench_target *tg,
		     int64_t *result);
	int (*flush)(struct bench_thread *t);
	int (*reap)(struct bench_thread *t, struct bench_done *done, unsigned max);
	const uint8_t *(*slot_buf)(struct bench_thread *t, unsigned slot);
	int (*restat)(struct bench_thread *t, const struct bench_target *tg, uint64_t *size,
		      uint32_t *crc);
	void (*thread_fini)(struct bench_thread *t);
};

extern const struct bench_mode bench_mode_pread;
extern const struct bench_mode bench_mode_http;
extern const struct bench_mode bench_mode_local;
extern const struct bench_mode bench_mode_rdma;
extern const struct bench_mode bench_mode_tcp;
extern const struct bench_mode bench_mode_nop;

/*
 * bench_targets_load - build the list of needles from opts->volume_dirs (every live needle of every
 * volume) and/or opts->fids_path (one fid per line; resolved against the volume dirs when given).
 * Main thread. Prints what went wrong to stderr.
 * Return: 0; -ENOENT no targets / fid not in the volumes; -EINVAL bad fid line; other -errno.
 */
int bench_targets_load(const struct bench_opts *o, struct bench_targets *out);

/* bench_targets_free - close the files and volumes of @tg and free it. Main thread. */
void bench_targets_free(struct bench_targets *tg);

/* What the workers did, summed after they are joined. Main thread. */
struct bench_totals {
	uint64_t ops, bytes, errors, verified, verify_failures, verify_changed;
	uint64_t by_code[BENCH_ERRNO_MAX];
	uint64_t by_path[BENCH_PATHS];
	double secs;
	size_t ntargets;
};

/*
 * bench_parse_args - fill @o from the command line (defaults for what is not given); --help
 * prints the usage and exits 0. Main thread.
 * Return: 0; -EINVAL after printing what is wrong.
 */
int bench_parse_args(int argc, char **argv, struct bench_opts *o);

/*
 * bench_worker_main - a worker thread's body (pthread start routine; @arg is its struct
 * bench_thread, with mode, stop and start_barrier set). Pins, initialises the mode, meets main at
 * the barrier twice, runs the slots, finalises the mode, sets finished. Return: NULL.
 */
void *bench_worker_main(void *arg);

/*
 * bench_verify_read - --verify of one successful read of @tg into @buf (@result bytes; @d the
 * completion when the mode reports the version read, else NULL): counts it in t->verified and, when
 * its bytes are wrong, in t->verify_failures -- or keeps it for bench_verify_settle() when it is a
 * whole other version of the needle. Worker thread.
 */
void bench_verify_read(struct bench_thread *t, const struct bench_target *tg, const uint8_t *buf,
		       int64_t result, const struct bench_done *d);

/*
 * bench_verify_settle - after the run, with nothing in flight: one t->mode->restat per needle kept
 * by bench_verify_read(); its reads count in t->verify_changed when the needle changed (or is
 * gone), else in t->verify_failures. Frees what bench_verify_read() kept. Worker thread.
 */
void bench_verify_settle(struct bench_thread *t);

/* bench_report - print the summary of a run (text, or JSON with --json). Main thread. */
void bench_report(const struct bench_opts *o, const struct kelp_hist *h,
		  const struct bench_totals *r);

/* bench_now_ns - CLOCK_MONOTONIC in nanoseconds. Any thread. */
uint64_t bench_now_ns(void);

/*
 * bench_parse_hostport - split "host:port" into @s. Any thread.
 * Return: 0; -EINVAL when there is no port or the host is too long.
 */
int bench_parse_hostport(const char *hostport, struct bench_server *s);

#endif
