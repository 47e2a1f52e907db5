/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelp-bench: read needles with T threads x D requests in flight, through kelpd (local, nop), the
 * page cache (pread) or a SeaweedFS volume server (http), and report throughput and latency.
 *
 * Each worker thread keeps D slots busy: it starts a read in every free slot, then reaps finished
 * ones, records each latency (start to reap, nanoseconds) in its own histogram and reuses the slot.
 * The main thread prints a progress line every second and, after the workers are joined, the
 * merged summary (text, or one JSON object with --json).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/kelp-bench/bench.h"
#include "core/crc32c.h"
#include "kelp.h"

static const struct bench_mode *const modes[] = {
	&bench_mode_local,
	&bench_mode_nop,
	&bench_mode_pread,
	&bench_mode_http,
};

static atomic_bool stop_flag;
static pthread_barrier_t start_barrier;

uint64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int bench_parse_hostport(const char *hostport, struct bench_server *s)
{
	const char *colon = strrchr(hostport, ':');
	if (!colon || colon == hostport || strlen(hostport) >= sizeof(s->hostport))
		return -EINVAL;
	size_t hl = (size_t)(colon - hostport);
	if (hl >= sizeof(s->host))
		return -EINVAL;
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port <= 0 || port > 65535)
		return -EINVAL;
	memcpy(s->host, hostport, hl);
	s->host[hl] = '\0';
	s->port = (uint16_t)port;
	snprintf(s->hostport, sizeof(s->hostport), "%s", hostport);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kelp-bench [options]\n"
		"Reads needles with T threads x D requests in flight and reports ops/s, MB/s and latency\n"
		"percentiles (progress on stderr every second, summary on stdout).\n"
		"\n"
		"What to read (at least one):\n"
		"  --volume-dir DIR     every live needle of every volume in DIR (repeatable)\n"
		"  --fids FILE          one fid per line ('#' comments); with --volume-dir, only these\n"
		"  --list-fids          print the fids of the targets and exit (makes a --fids FILE)\n"
		"How:\n"
		"  -m, --mode MODE      local (default): through libkelp to kelpd\n"
		"                       nop: bare ring round trip through libkelp (no read)\n"
		"                       pread: pread(2) of the same needles from the .dat files, in this\n"
		"                              process (the page-cache floor; needs --volume-dir)\n"
		"                       http: HTTP/1.1 keep-alive GETs to the volume servers, one\n"
		"                             connection per slot (how SeaweedFS clients read today)\n"
		"  -c, --config FILE    kelp.conf (local/nop: kelpd's socket from [engine] socket)\n"
		"      --socket PATH    kelpd's Unix socket (local/nop; wins over --config)\n"
		"      --http-server H:P  volume server for every fid (http mode)\n"
		"      --master H:P     master to look up each volume's server (http mode)\n"
		"  -t, --threads T      worker threads (default 1), one kelp session each\n"
		"  -d, --depth D        requests in flight per thread (default 16)\n"
		"  -D, --duration SECS  run this long (default 5)\n"
		"  -n, --count N        or: read N needles in total, then stop\n"
		"      --seq            read the targets in order (default: random)\n"
		"      --rate N         at most N reads per second per thread (background load in\n"
		"                       tests; default: as fast as possible)\n"
		"  -s, --size BYTES     buffer per request = most bytes read per needle\n"
		"                       (default: the largest target needle, or 1 MiB when unknown)\n"
		"      --cpu LIST       pin thread i to the i-th cpu of LIST (e.g. 0 or 0,1)\n"
		"      --wait           local/nop: sleep in kelp_wait() instead of busy-polling\n"
		"      --verify         check each whole-needle read against the needle's stored CRC\n"
		"                       (targets from --volume-dir); any mismatch or short read is\n"
		"                       counted in verify_failures and makes the exit status 1\n"
		"Output:\n"
		"      --json           print one JSON object (ops_per_sec, mb_per_sec, errors,\n"
		"                       latency_us {p50,p90,p99,p999,max}, ...)\n"
		"      --label TEXT     name this run in the output (for bench/plot.py)\n"
		"  -q, --quiet          no progress lines\n"
		"  -h, --help           this text\n"
		"\n"
		"Example: kelp-bench -c conf/kelp.conf --volume-dir /data/vol --cpu 0 -d 16 -D 5\n");
}

static const struct bench_mode *find_mode(const char *name)
{
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(modes[i]->name, name) == 0)
			return modes[i];
	return NULL;
}

static int parse_cpus(const char *s, struct bench_opts *o)
{
	o->ncpus = 0;
	while (*s) {
		char *end;
		long c = strtol(s, &end, 10);
		if (end == s || c < 0 || c >= CPU_SETSIZE || o->ncpus == BENCH_MAX_CPUS)
			return -EINVAL;
		o->cpus[o->ncpus++] = (int)c;
		s = end;
		if (*s == ',')
			s++;
		else if (*s)
			return -EINVAL;
	}
	return o->ncpus ? 0 : -EINVAL;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || *s == '-')
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	}
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

enum { OPT_SOCKET = 1000, OPT_VOLDIR, OPT_FIDS, OPT_LIST, OPT_HTTP, OPT_MASTER, OPT_SEQ, OPT_CPU,
       OPT_WAIT, OPT_VERIFY, OPT_JSON, OPT_LABEL, OPT_RATE };

static int parse_args(int argc, char **argv, struct bench_opts *o)
{
	static const struct option lo[] = {
		{"mode", required_argument, NULL, 'm'},
		{"config", required_argument, NULL, 'c'},
		{"socket", required_argument, NULL, OPT_SOCKET},
		{"volume-dir", required_argument, NULL, OPT_VOLDIR},
		{"fids", required_argument, NULL, OPT_FIDS},
		{"list-fids", no_argument, NULL, OPT_LIST},
		{"http-server", required_argument, NULL, OPT_HTTP},
		{"master", required_argument, NULL, OPT_MASTER},
		{"threads", required_argument, NULL, 't'},
		{"depth", required_argument, NULL, 'd'},
		{"duration", required_argument, NULL, 'D'},
		{"count", required_argument, NULL, 'n'},
		{"seq", no_argument, NULL, OPT_SEQ},
		{"rate", required_argument, NULL, OPT_RATE},
		{"size", required_argument, NULL, 's'},
		{"cpu", required_argument, NULL, OPT_CPU},
		{"wait", no_argument, NULL, OPT_WAIT},
		{"verify", no_argument, NULL, OPT_VERIFY},
		{"json", no_argument, NULL, OPT_JSON},
		{"label", required_argument, NULL, OPT_LABEL},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	o->mode_name = "local";
	o->threads = 1;
	o->depth = 16;
	o->duration_s = 5;
	int c;
	uint64_t v;
	while ((c = getopt_long(argc, argv, "m:c:t:d:D:n:s:qh", lo, NULL)) != -1) {
		switch (c) {
		case 'm': o->mode_name = optarg; break;
		case 'c': o->config_path = optarg; break;
		case OPT_SOCKET: o->socket_path = optarg; break;
		case OPT_VOLDIR:
			if (o->nvolume_dirs == BENCH_MAX_DIRS) {
				fprintf(stderr, "kelp-bench: at most %d --volume-dir\n", BENCH_MAX_DIRS);
				return -EINVAL;
			}
			o->volume_dirs[o->nvolume_dirs++] = optarg;
			break;
		case OPT_FIDS: o->fids_path = optarg; break;
		case OPT_LIST: o->list_fids = true; break;
		case OPT_HTTP:
			if (o->nservers == BENCH_MAX_SERVERS ||
			    bench_parse_hostport(optarg, &o->servers[o->nservers]) < 0) {
				fprintf(stderr, "kelp-bench: --http-server wants HOST:PORT, got '%s'\n", optarg);
				return -EINVAL;
			}
			o->nservers++;
			break;
		case OPT_MASTER: o->master = optarg; break;
		case 't':
			if (parse_u64(optarg, &v) < 0 || v < 1 || v > 256) {
				fprintf(stderr, "kelp-bench: --threads wants 1..256, got '%s'\n", optarg);
				return -EINVAL;
			}
			o->threads = (unsigned)v;
			break;
		case 'd':
			if (parse_u64(optarg, &v) < 0 || v < 1 || v > 4096) {
				fprintf(stderr, "kelp-bench: --depth wants 1..4096, got '%s'\n", optarg);
				return -EINVAL;
			}
			o->depth = (unsigned)v;
			break;
		case 'D': {
			char *end;
			o->duration_s = strtod(optarg, &end);
			if (*end || !(o->duration_s > 0)) {
				fprintf(stderr, "kelp-bench: --duration wants seconds > 0, got '%s'\n", optarg);
				return -EINVAL;
			}
			break;
		}
		case 'n':
			if (parse_u64(optarg, &o->count) < 0 || o->count == 0) {
				fprintf(stderr, "kelp-bench: --count wants a number > 0, got '%s'\n", optarg);
				return -EINVAL;
			}
			break;
		case OPT_SEQ: o->sequential = true; break;
		case OPT_RATE: {
			char *end;
			o->rate = strtod(optarg, &end);
			if (*end || !(o->rate > 0)) {
				fprintf(stderr, "kelp-bench: --rate wants reads per second > 0, got '%s'\n", optarg);
				return -EINVAL;
			}
			break;
		}
		case 's':
			if (parse_u64(optarg, &v) < 0 || v < 1 || v > (1u << 30)) {
				fprintf(stderr, "kelp-bench: --size wants 1..1G bytes, got '%s'\n", optarg);
				return -EINVAL;
			}
			o->size = (uint32_t)v;
			break;
		case OPT_CPU:
			if (parse_cpus(optarg, o) < 0) {
				fprintf(stderr, "kelp-bench: --cpu wants a list like 0 or 0,1; got '%s'\n", optarg);
				return -EINVAL;
			}
			break;
		case OPT_WAIT: o->wait = true; break;
		case OPT_VERIFY: o->verify = true; break;
		case OPT_JSON: o->json = true; break;
		case OPT_LABEL: o->label = optarg; break;
		case 'q': o->quiet = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kelp-bench: unexpected argument '%s' (see --help)\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

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

/*
 * --verify: a successful read of a whole needle (the buffer could hold it) must return exactly its
 * stored size and bytes whose CRC-32C is the one stored with the needle (raw or legacy form): bytes
 * of another needle, or torn ones, fail. Worker thread.
 */
static void verify_read(struct bench_thread *t, const struct bench_target *tg, const uint8_t *buf,
			int64_t result)
{
	if (!tg->has_crc || !buf || tg->data_size > t->buf_size)
		return; /* nothing known to compare with, or a partial read by design */
	t->verified++;
	if ((uint64_t)result != tg->data_size ||
	    kelp_crc32c_classify(tg->stored_crc, buf, (size_t)result) == KELP_CRC_MISMATCH)
		t->verify_failures++;
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
	t->by_path[path & 3]++;
}

struct worker_arg {
	struct bench_thread *t;
	const struct bench_mode *mode;
};

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
		bool may_issue = !atomic_load_explicit(&stop_flag, memory_order_relaxed) && issued < quota;
		bool started = false;
		while (may_issue && nfree > 0) {
			if (ns_per_read > 0) { /* --rate: the issue-th read may start at issued * ns_per_read */
				uint64_t due = t_begin + (uint64_t)(issued * ns_per_read), now = bench_now_ns();
				if (due > now) {
					if (inflight > 0)
						break; /* reap meanwhile */
					uint64_t d = due - now < 10000000 ? due - now : 10000000;
					struct timespec ts = {0, (long)d};
					nanosleep(&ts, NULL);
					may_issue = !atomic_load_explicit(&stop_flag, memory_order_relaxed) &&
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
					verify_read(t, slot_tg[slot], mode->slot_buf(t, slot), result);
				free_slots[nfree++] = slot;
			} else {
				inflight++;
				started = true;
			}
			may_issue = !atomic_load_explicit(&stop_flag, memory_order_relaxed) && issued < quota;
		}
		if (started && mode->flush) {
			int rc = mode->flush(t);
			if (rc < 0) {
				t->fatal = rc;
				goto out;
			}
		}
		if (inflight == 0) {
			if (!may_issue || atomic_load_explicit(&stop_flag, memory_order_relaxed))
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
				verify_read(t, slot_tg[done[k].slot], mode->slot_buf(t, done[k].slot),
					    done[k].result);
			free_slots[nfree++] = done[k].slot;
		}
		inflight -= (unsigned)n;
	}
out:
	t->end_ns = bench_now_ns();
	free(free_slots);
	free(slot_tg);
	free(start_ns);
	free(done);
}

static void *worker_main(void *arg)
{
	struct worker_arg *wa = arg;
	struct bench_thread *t = wa->t;
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
		int rc = wa->mode->thread_init(t);
		if (rc < 0)
			t->fatal = rc;
	}
	pthread_barrier_wait(&start_barrier); /* main starts the clock once all are ready */
	bool init_ok = !t->fatal;
	pthread_barrier_wait(&start_barrier); /* main has checked everyone's init */
	if (init_ok && !atomic_load(&stop_flag)) {
		uint64_t quota = UINT64_MAX;
		if (o->count)
			quota = o->count / o->threads + (t->idx < o->count % o->threads ? 1 : 0);
		run_slots(t, wa->mode, quota);
	}
	t->end_ns = t->end_ns ? t->end_ns : bench_now_ns();
	wa->mode->thread_fini(t); /* also after a failed init: modes free what they got */
	atomic_store(&t->finished, true);
	return NULL;
}

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&stop_flag, true);
}

static const char *path_name(unsigned p)
{
	static const char *const names[] = {"none", "local", "rdma", "http"};
	return names[p & 3];
}

/* What the workers did, summed after they are joined. Main thread. */
struct bench_totals {
	uint64_t ops, bytes, errors, verified, verify_failures;
	uint64_t by_code[BENCH_ERRNO_MAX];
	uint64_t by_path[4];
	double secs;
	size_t ntargets;
};

static void print_text(const struct bench_opts *o, const struct kelp_hist *h,
		       const struct bench_totals *r)
{
	printf("kelp-bench %s%s%s: %u thread%s x depth %u, %zu target needles, %.2f s\n", o->mode_name,
	       o->label ? " " : "", o->label ? o->label : "", o->threads, o->threads == 1 ? "" : "s",
	       o->depth, r->ntargets, r->secs);
	printf("  ops/s      %12.0f   (%" PRIu64 " reads)\n", r->ops / r->secs, r->ops);
	printf("  MB/s       %12.1f   (%.3f GB/s, %.1f KiB/read)\n", r->bytes / r->secs / 1e6,
	       r->bytes / r->secs / 1e9, r->ops ? r->bytes / 1024.0 / r->ops : 0.0);
	printf("  latency us  p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f  mean %.2f\n",
	       kelp_hist_percentile(h, 50) / 1e3, kelp_hist_percentile(h, 90) / 1e3,
	       kelp_hist_percentile(h, 99) / 1e3, kelp_hist_percentile(h, 99.9) / 1e3,
	       kelp_hist_percentile(h, 100) / 1e3, kelp_hist_mean(h) / 1e3);
	printf("  errors     %12" PRIu64 "\n", r->errors);
	for (unsigned c = 0; c < BENCH_ERRNO_MAX; c++)
		if (r->by_code[c])
			printf("    %8" PRIu64 " x %s (%s)\n", r->by_code[c],
			       c ? kelp_strerror(-(int)c) : "other error", c ? strerrorname_np((int)c) : "?");
	if (r->by_path[1] + r->by_path[2] + r->by_path[3])
		printf("  served by  local %" PRIu64 "  rdma %" PRIu64 "  http %" PRIu64 "\n", r->by_path[1],
		       r->by_path[2], r->by_path[3]);
	if (o->verify)
		printf("  verified   %12" PRIu64 "   (%" PRIu64 " failed: wrong size or CRC)\n", r->verified,
		       r->verify_failures);
}

static void print_json(const struct bench_opts *o, const struct kelp_hist *h,
		       const struct bench_totals *r)
{
	json_t *lat = json_pack("{s:f,s:f,s:f,s:f,s:f,s:f,s:f}",
				"p50", kelp_hist_percentile(h, 50) / 1e3,
				"p90", kelp_hist_percentile(h, 90) / 1e3,
				"p99", kelp_hist_percentile(h, 99) / 1e3,
				"p999", kelp_hist_percentile(h, 99.9) / 1e3,
				"max", kelp_hist_percentile(h, 100) / 1e3,
				"min", kelp_hist_percentile(h, 0) / 1e3,
				"mean", kelp_hist_mean(h) / 1e3);
	json_t *codes = json_object();
	for (unsigned c = 0; c < BENCH_ERRNO_MAX; c++)
		if (r->by_code[c])
			json_object_set_new(codes, c ? strerrorname_np((int)c) : "other",
					    json_integer((json_int_t)r->by_code[c]));
	json_t *paths = json_object();
	for (unsigned p = 1; p < 4; p++) /* 0 = no kelp path (pread, http, nop) */
		if (r->by_path[p])
			json_object_set_new(paths, path_name(p), json_integer((json_int_t)r->by_path[p]));
	double secs = r->secs;
	json_t *root = json_pack("{s:s,s:s?,s:i,s:i,s:f,s:I,s:I,s:I,s:f,s:f,s:f,s:f,s:I,s:o,s:o,s:o}",
				 "mode", o->mode_name, "label", o->label,
				 "threads", (int)o->threads, "depth", (int)o->depth,
				 "seconds", secs, "ops", (json_int_t)r->ops, "bytes", (json_int_t)r->bytes,
				 "errors", (json_int_t)r->errors, "ops_per_sec", r->ops / secs,
				 "mb_per_sec", r->bytes / secs / 1e6, "gb_per_sec", r->bytes / secs / 1e9,
				 "avg_read_bytes", r->ops ? (double)r->bytes / r->ops : 0.0,
				 "targets", (json_int_t)r->ntargets, "latency_us", lat,
				 "errors_by_code", codes, "served_by", paths);
	if (root && o->verify) {
		json_object_set_new(root, "verified", json_integer((json_int_t)r->verified));
		json_object_set_new(root, "verify_failures", json_integer((json_int_t)r->verify_failures));
	}
	if (!root) {
		fprintf(stderr, "kelp-bench: cannot build the JSON summary\n");
		return;
	}
	json_dumpf(root, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(root);
}

int main(int argc, char **argv)
{
	struct bench_opts o = {0};
	if (parse_args(argc, argv, &o) < 0)
		return 2;
	const struct bench_mode *mode = find_mode(o.mode_name);
	if (!mode) {
		fprintf(stderr, "kelp-bench: unknown --mode '%s' (local, nop, pread, http)\n", o.mode_name);
		return 2;
	}
	struct bench_targets tg = {0};
	bool need_targets = mode != &bench_mode_nop || o.list_fids;
	if (need_targets || o.nvolume_dirs || o.fids_path) {
		if (!o.nvolume_dirs && !o.fids_path) {
			fprintf(stderr, "kelp-bench: say what to read: --volume-dir DIR or --fids FILE\n");
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
		fprintf(stderr, "kelp-bench: --mode %s reads the .dat files: give --volume-dir DIR\n",
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
	struct worker_arg *wa = calloc(o.threads, sizeof(*wa));
	pthread_t *tid = calloc(o.threads, sizeof(*tid));
	if (!th || !wa || !tid)
		return 1;
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
		wa[i] = (struct worker_arg){.t = &th[i], .mode = mode};
		int rc = pthread_create(&tid[i], NULL, worker_main, &wa[i]);
		if (rc) {
			fprintf(stderr, "kelp-bench: cannot start thread %u: %s\n", i, strerror(rc));
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
				fprintf(stderr, "[%5.1fs] %10.0f ops/s %9.1f MB/s  errors %" PRIu64 "\n",
					(now - t0) / 1e9, (ops - last_ops) / dt, (bytes - last_bytes) / dt / 1e6,
					errs);
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
		end = th[i].end_ns > end ? th[i].end_ns : end;
		for (unsigned c = 0; c < BENCH_ERRNO_MAX; c++)
			r.by_code[c] += th[i].err_by_code[c];
		for (unsigned p = 0; p < 4; p++)
			r.by_path[p] += th[i].by_path[p];
	}
	if (!init_failed) {
		r.secs = (end - t0) / 1e9;
		if (r.secs <= 0)
			r.secs = 1e-9;
		if (o.json)
			print_json(&o, th[0].hist, &r);
		else
			print_text(&o, th[0].hist, &r);
		if (r.verify_failures) {
			fprintf(stderr, "kelp-bench: --verify: %" PRIu64 " of %" PRIu64
				" reads returned wrong bytes or a wrong size\n", r.verify_failures, r.verified);
			rc = 1;
		}
	}
	for (unsigned i = 0; i < o.threads; i++)
		free(th[i].hist);
	free(th), free(wa), free(tid);
	pthread_barrier_destroy(&start_barrier);
	bench_targets_free(&tg);
	return rc;
}
