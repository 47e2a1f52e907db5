/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelp-rdma get / bench: the reader side of kelp's RDMA path on one thread. The destination is a
 * memfd mapped MAP_SHARED (as a kelpd client session's arena is), registered for remote write;
 * the exporter RDMA-WRITEs needle bytes straight into it.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/crc32c.h"
#include "core/histogram.h"
#include "nic/conn.h"
#include "nic/mr.h"
#include "nic/oob.h"
#include "tools/kelp-rdma/kelp_rdma_tool.h"

static const char get_usage[] =
	"usage: kelp-rdma get --peer ADDR:PORT --out DIR [OPTIONS] FID...\n"
	"Reads each needle over RDMA (in pieces of --slot-size when larger) into a shared-memory\n"
	"buffer, checks its CRC and writes its data to DIR/<FID>. Exit 1 if any read "
	"fails.\n" COMMON_OPTS_HELP
	"  --slot-size N        bytes per request buffer (default 1048576)\n"
	"  --repeat N           read the list N times (default 1)\n"
	"  --no-retry           a read cut off by a connection failure fails (default: read it "
	"again\n"
	"                       after reconnecting, with backoff, 60 s at most)\n"
	"  --timeout-ms N       no reply for N ms while reads are in flight fails the connection\n"
	"                       (default 2000; then as --no-retry says)\n"
	"  --corrupt-rkey       testing: give the exporter a wrong rkey, so its RDMA WRITEs fail\n"
	"                       (and take no inline replies, so that every read is a WRITE)\n";

static const char bench_usage[] =
	"usage: kelp-rdma bench --peer ADDR:PORT [OPTIONS] FID\n"
	"Reads the first --size bytes of FID over and over and prints latency percentiles and\n"
	"throughput (one line, key=value). --depth 1 measures latency; larger depths "
	"throughput.\n" COMMON_OPTS_HELP "  --size N             bytes per read (default 4096)\n"
	"  --iters N            measured reads (default 10000)\n"
	"  --warmup N           unmeasured reads first (default 200)\n"
	"  --depth N            reads in flight (default 1; at most --credits)\n"
	"  --yield              yield the CPU on idle polls (default: busy-poll, as perftest "
	"does)\n"
	"  --no-batch           post each request on its own (default: the requests of one loop\n"
	"                       round go out as one chain, one post call)\n"
	"Latency is timed with the CPU's time-stamp counter (x86-64), as perftest does.\n";

#define OOB_TIMEOUT_MS 2000
/* generous: on a loaded host under TCG an exporter restart can take many seconds */
#define CONNECT_TIMEOUT_S 60

struct reader {
	struct tool_opts o;
	struct kelp_rdma_dev *dev;
	struct kelp_rdma_lcore *lc;
	struct kelp_rdma_conn *conn;
	uint8_t *arena; /* memfd, MAP_SHARED */
	size_t arena_len;
	struct ibv_mr *arena_mr;
	size_t slot_size;
	uint32_t rkey_xor;   /* get --corrupt-rkey (testing): what the exporter is told */
	uint32_t timeout_ms; /* get --timeout-ms: the connection's reply timeout (0: nic's default)
			      */
};

static void reader_open(struct reader *r, size_t slot_size)
{
	char err[256];
	int fd, rc;

	if (kelp_rdma_dev_open(&kelp_verbs_real, &r->o.dev, err, sizeof(err), &r->dev))
		tool_die("%s", err);
	rc = kelp_rdma_lcore_create(
		r->dev,
		&(struct kelp_rdma_lcore_config){
			.request_timeout_ms = r->timeout_ms,
			/* kelpd's default; none with a wrong rkey, so that the WRITEs do fail */
			.inline_max = r->rkey_xor ? 0 : KELP_DEFAULT_RDMA_INLINE_MAX},
		NULL, &r->lc);
	if (rc)
		tool_die("cannot set up RDMA on %s: %s", r->dev->name, strerror(-rc));
	rc = kelp_rdma_conn_create(r->lc, KELP_RDMA_READER, r->o.credits, &r->conn);
	if (rc)
		tool_die("cannot create a connection on %s: %s", r->dev->name, strerror(-rc));

	r->slot_size = slot_size;
	r->arena_len = slot_size * r->o.credits;
	fd = memfd_create("kelp-rdma-arena", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)r->arena_len) < 0)
		tool_die("memfd for the %zu-byte arena: %s", r->arena_len, strerror(errno));
	r->arena = mmap(NULL, r->arena_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (r->arena == MAP_FAILED)
		tool_die("mmap of the arena: %s", strerror(errno));
	r->arena_mr = kelp_rdma_reg_arena(r->dev, r->arena, r->arena_len);
	if (!r->arena_mr)
		tool_die("registering the %zu-byte arena on %s: %s (memlock limit? ulimit -l)",
			 r->arena_len, r->dev->name, strerror(errno));
}

/* Handshake with the exporter, retrying with the connection's backoff until CONNECT_TIMEOUT_S. */
static void reader_connect(struct reader *r)
{
	uint64_t deadline = tool_now_ns() + CONNECT_TIMEOUT_S * 1000000000ull;
	struct kelp_rdma_hello mine, peer;
	int ret = 0;

	if (kelp_rdma_conn_state(r->conn) == KELP_RDMA_UP)
		return;
	while (tool_now_ns() < deadline) {
		uint64_t now = tool_now_ns();

		if (kelp_rdma_conn_state(r->conn) != KELP_RDMA_DOWN)
			break; /* up, or still reporting a failure: nothing to do here */
		if (!kelp_rdma_conn_due(r->conn, now)) {
			uint64_t wait = kelp_rdma_conn_retry_at(r->conn) - now;

			nanosleep(&(struct timespec){.tv_sec = (time_t)(wait / 1000000000ull),
						     .tv_nsec = (long)(wait % 1000000000ull)},
				  NULL);
			continue;
		}
		ret = kelp_rdma_conn_hello(r->conn, &mine);
		if (ret < 0)
			continue; /* no QP could be made: DOWN, backing off */
		ret = kelp_rdma_oob_connect(r->o.addr, r->o.port, &mine, &peer, OOB_TIMEOUT_MS);
		if (ret < 0) {
			kelp_rdma_conn_failed(r->conn, tool_now_ns());
			continue;
		}
		ret = kelp_rdma_conn_establish(r->conn, &peer, tool_now_ns());
		if (ret == 0) {
			if (kelp_rdma_conn_stats(r->conn)->resets)
				fprintf(stderr, "kelp-rdma: reconnected to %s:%u\n", r->o.addr,
					r->o.port);
			return;
		}
		if (ret == -EPROTONOSUPPORT)
			break;
	}
	fprintf(stderr, "kelp-rdma: cannot connect to the exporter at %s:%u: %s\n", r->o.addr,
		r->o.port, strerror(-ret));
	exit(1);
}

static int reader_close(struct reader *r)
{
	int ret = kelp_rdma_lcore_destroy(r->lc);

	if (kelp_rdma_dereg(r->dev, r->arena_mr, "arena") < 0)
		ret = -EIO;
	munmap(r->arena, r->arena_len);
	if (kelp_rdma_dev_close(r->dev) < 0)
		ret = -EIO;
	return ret;
}

static int parse_common(struct reader *r, int argc, char **argv, int *i)
{
	int ret = tool_common_opt(&r->o, argc, argv, i);

	if (ret < 0)
		exit(2);
	return ret;
}

static long parse_count(const char *opt, const char *val, long max)
{
	char *end;
	long v = strtol(val, &end, 10);

	if (*end || end == val || v <= 0 || v > max)
		tool_die("bad value '%s' for %s (1..%ld)", val, opt, max);
	return v;
}

/* ---- get ----------------------------------------------------------------------------------------
 */

struct job {
	struct kelp_fid fid;
	const char *name;
	uint8_t *data; /* assembled needle data */
	uint32_t size; /* known after the first reply */
	uint64_t got;
	uint32_t arena_slot;
	bool started;
};

static int job_submit(struct reader *r, struct job *j, uint32_t slot)
{
	j->arena_slot = slot;
	return kelp_rdma_submit(r->conn,
				&(struct kelp_rdma_read){
					.opcode = KELP_RDMA_OP_READ,
					.fid = j->fid,
					.offset = j->got,
					.length = (uint32_t)r->slot_size,
					.addr = (uintptr_t)(r->arena + (size_t)slot * r->slot_size),
					.rkey = r->arena_mr->rkey ^ r->rkey_xor,
					.user = j,
				});
}

/* A reply for @j: append the bytes. @return 1 when the needle is complete, 0 when more is to be
 * read, -errno on failure. */
static int job_reply(struct reader *r, struct job *j, const struct kelp_rdma_done *d)
{
	if (d->status < 0)
		return d->status;
	if (!j->started) {
		j->started = true;
		j->size = d->data_size;
		j->data = malloc(j->size ? j->size : 1);
		if (!j->data)
			return -ENOMEM;
	} else if (d->data_size != j->size) {
		return -ESTALE; /* the needle changed between pieces */
	}
	if (j->got + d->written > j->size || (d->written == 0 && j->got < j->size))
		return -EPROTO;
	memcpy(j->data + j->got, r->arena + (size_t)j->arena_slot * r->slot_size, d->written);
	j->got += d->written;
	if (j->got < j->size)
		return 0;
	if (kelp_crc32c_classify(d->crc, j->data, j->size) == KELP_CRC_MISMATCH)
		return -EBADMSG;
	return 1;
}

static int write_file(const char *dir, const char *name, const uint8_t *data, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f)
		return -errno;
	if (len && fwrite(data, 1, len, f) != len) {
		fclose(f);
		return -EIO;
	}
	return fclose(f) == 0 ? 0 : -errno;
}

int cmd_get(int argc, char **argv)
{
	struct reader r = {.o = {.dev = {.device = "auto", .gid_index = -1}, .credits = 32}};
	struct kelp_rdma_done done[KELP_RDMA_POLL_BATCH];
	size_t slot_size = 1 << 20, nfids = 0, njobs, next = 0, finished = 0, failed = 0;
	uint32_t *free_slots, nfree = 0;
	struct job **retry, *jobs;
	size_t nretry = 0;
	long repeat = 1;
	bool no_retry = false;
	const char *out = NULL;
	char **names;
	struct kelp_fid *fids;
	uint64_t bytes = 0;

	names = calloc((size_t)argc, sizeof(*names));
	fids = calloc((size_t)argc, sizeof(*fids));
	if (!names || !fids)
		tool_die("out of memory");
	for (int i = 1; i < argc; i++) {
		if (parse_common(&r, argc, argv, &i))
			continue;
		if (!strcmp(argv[i], "--help")) {
			fputs(get_usage, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--out") && i + 1 < argc) {
			out = argv[++i];
		} else if (!strcmp(argv[i], "--slot-size") && i + 1 < argc) {
			slot_size = (size_t)parse_count("--slot-size", argv[++i], 1l << 30);
		} else if (!strcmp(argv[i], "--repeat") && i + 1 < argc) {
			repeat = parse_count("--repeat", argv[++i], 100000);
		} else if (!strcmp(argv[i], "--no-retry")) {
			no_retry = true;
		} else if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc) {
			r.timeout_ms = (uint32_t)parse_count("--timeout-ms", argv[++i], 3600000);
		} else if (!strcmp(argv[i], "--corrupt-rkey")) {
			r.rkey_xor = 0x5a5a5a5a;
		} else if (argv[i][0] == '-') {
			tool_die("get: unknown option '%s'\n%s", argv[i], get_usage);
		} else {
			if (kelp_fid_parse(argv[i], strlen(argv[i]), &fids[nfids]) < 0)
				tool_die("get: '%s' is not a file id (like 3,01637037d6)", argv[i]);
			names[nfids++] = argv[i];
		}
	}
	if (!r.o.addr || !out || nfids == 0)
		tool_die("get: need --peer ADDR:PORT, --out DIR and at least one FID\n%s",
			 get_usage);
	njobs = nfids * (size_t)repeat;
	jobs = calloc(njobs, sizeof(*jobs));
	retry = calloc(njobs, sizeof(*retry));
	free_slots = calloc(r.o.credits, sizeof(*free_slots));
	if (!jobs || !retry || !free_slots)
		tool_die("out of memory");
	for (size_t k = 0; k < njobs; k++) {
		jobs[k].fid = fids[k % nfids];
		jobs[k].name = names[k % nfids];
	}

	reader_open(&r, slot_size);
	reader_connect(&r);
	for (uint32_t s = 0; s < r.o.credits; s++)
		free_slots[nfree++] = s;

	/* Keep every credit busy; replies come back in any order. Reads cut off by a connection
	 * failure are read again (from the start) once the reader has reconnected. */
	while (finished < njobs) {
		if (kelp_rdma_conn_state(r.conn) == KELP_RDMA_DOWN)
			reader_connect(&r);
		while ((nretry > 0 || next < njobs) && nfree > 0) {
			struct job *j = nretry > 0 ? retry[nretry - 1] : &jobs[next];
			int ret = job_submit(&r, j, free_slots[nfree - 1]);

			if (ret == -EAGAIN || ret == -ENOTCONN)
				break;
			if (ret < 0)
				tool_die("get: submitting %s: %s", j->name, strerror(-ret));
			nfree--;
			if (nretry > 0)
				nretry--;
			else
				next++;
		}
		int n = kelp_rdma_lcore_poll(r.lc, done, KELP_RDMA_POLL_BATCH);
		if (n < 0)
			tool_die("get: polling the CQ failed: %s", strerror(-n));
		for (int k = 0; k < n; k++) {
			struct job *j = done[k].user;
			int ret = job_reply(&r, j, &done[k]);

			if (ret == 0 && job_submit(&r, j, j->arena_slot) == 0)
				continue; /* next piece; keeps its arena slot */
			free_slots[nfree++] = j->arena_slot;
			if (ret == 0 || (ret == -ECONNRESET && !no_retry)) {
				free(j->data);
				*j = (struct job){.fid = j->fid, .name = j->name};
				retry[nretry++] = j;
				continue;
			}
			finished++;
			if (ret > 0)
				ret = write_file(out, j->name, j->data, j->size);
			if (ret < 0) {
				fprintf(stderr, "kelp-rdma get: %s: %s\n", j->name, strerror(-ret));
				failed++;
			} else {
				bytes += j->size;
			}
			free(j->data);
			j->data = NULL;
		}
		if (n == 0)
			sched_yield();
	}
	const struct kelp_rdma_conn_stats *st = kelp_rdma_conn_stats(r.conn);
	printf("kelp-rdma get: %zu read(s), %zu failed, %lu bytes; over RDMA: %lu requests, "
	       "%lu replies, %lu bytes, %lu errors, %lu resets\n",
	       njobs, failed, bytes, st->requests, st->replies, st->bytes, st->errors, st->resets);
	free(free_slots);
	free(retry);
	free(jobs);
	free(fids);
	free(names);
	if (reader_close(&r) < 0)
		return 1;
	return failed ? 1 : 0;
}

/* ---- bench --------------------------------------------------------------------------------------
 */

int cmd_bench(int argc, char **argv)
{
	struct reader r = {.o = {.dev = {.device = "auto", .gid_index = -1}, .credits = 32}};
	struct kelp_rdma_done done[KELP_RDMA_POLL_BATCH];
	long size = 4096, iters = 10000, warmup = 200, depth = 1;
	bool spin = true, batch = true;
	struct kelp_fid fid;
	const char *fidstr = NULL;
	struct kelp_hist *hist;
	uint64_t *started;

	for (int i = 1; i < argc; i++) {
		if (parse_common(&r, argc, argv, &i))
			continue;
		if (!strcmp(argv[i], "--help")) {
			fputs(bench_usage, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--size") && i + 1 < argc) {
			size = parse_count("--size", argv[++i], 1l << 30);
		} else if (!strcmp(argv[i], "--iters") && i + 1 < argc) {
			iters = parse_count("--iters", argv[++i], 1l << 40);
		} else if (!strcmp(argv[i], "--warmup") && i + 1 < argc) {
			warmup = parse_count("--warmup", argv[++i], 1l << 40);
		} else if (!strcmp(argv[i], "--depth") && i + 1 < argc) {
			depth = parse_count("--depth", argv[++i], KELP_RDMA_MAX_CREDITS);
		} else if (!strcmp(argv[i], "--yield")) {
			spin = false;
		} else if (!strcmp(argv[i], "--no-batch")) {
			batch = false;
		} else if (argv[i][0] == '-') {
			tool_die("bench: unknown option '%s'\n%s", argv[i], bench_usage);
		} else {
			fidstr = argv[i];
		}
	}
	if (!r.o.addr || !fidstr)
		tool_die("bench: need --peer ADDR:PORT and a FID\n%s", bench_usage);
	if (kelp_fid_parse(fidstr, strlen(fidstr), &fid) < 0)
		tool_die("bench: '%s' is not a file id", fidstr);
	if (depth > r.o.credits)
		tool_die("bench: --depth %ld is more than --credits %u", depth, r.o.credits);

	reader_open(&r, (size_t)size);
	reader_connect(&r);
	hist = malloc(sizeof(*hist));
	started = calloc((size_t)depth, sizeof(*started));
	if (!hist || !started)
		tool_die("out of memory");
	kelp_hist_init(hist);

	long total = warmup + iters, submitted = 0, completed = 0;
	double tpn = tool_ticks_per_ns();
	uint64_t t0 = 0, bytes = 0;
	uint32_t short_reads = 0;
	while (completed < total) {
		/* Each in-flight read owns arena slot = its index in started[]. */
		for (long s = 0; s < depth && submitted < total; s++) {
			if (started[s])
				continue;
			started[s] = tool_ticks();
			/* With `more` the requests of this round go out as one chain when the
			 * poll below flushes them. */
			int ret = kelp_rdma_submit(
				r.conn,
				&(struct kelp_rdma_read){
					.opcode = KELP_RDMA_OP_READ,
					.fid = fid,
					.length = (uint32_t)size,
					.addr = (uintptr_t)(r.arena + (size_t)s * r.slot_size),
					.rkey = r.arena_mr->rkey,
					.user = (void *)(uintptr_t)(s + 1),
					.more = batch});
			if (ret == -EAGAIN) {
				/* The slot's earlier request SEND has not completed yet (its reply
				 * can overtake the ACK): poll, then try again. */
				started[s] = 0;
				break;
			}
			if (ret < 0)
				tool_die("bench: submit: %s", strerror(-ret));
			submitted++;
		}
		int n = kelp_rdma_lcore_poll(r.lc, done, KELP_RDMA_POLL_BATCH);
		if (n < 0)
			tool_die("bench: polling the CQ failed: %s", strerror(-n));
		if (n == 0 && !spin)
			sched_yield();
		uint64_t now = n > 0 ? tool_ticks() : 0; /* no clock read on idle polls */
		for (int k = 0; k < n; k++) {
			long s = (long)(uintptr_t)done[k].user - 1;

			if (done[k].status < 0)
				tool_die("bench: read failed: %s", strerror(-done[k].status));
			if (done[k].written < (uint32_t)size)
				short_reads++;
			if (completed >= warmup) {
				if (completed == warmup)
					t0 = started[s];
				kelp_hist_record(hist,
						 (uint64_t)((double)(now - started[s]) / tpn));
				bytes += done[k].written;
			}
			started[s] = 0;
			completed++;
		}
	}
	double secs = (double)(tool_ticks() - t0) / tpn / 1e9;
	printf("kelp-rdma bench: size=%ld depth=%ld iters=%ld p50_us=%.1f p99_us=%.1f mean_us=%.1f "
	       "ops_per_s=%.0f MB_per_s=%.1f short_reads=%u\n",
	       size, depth, iters, kelp_hist_percentile(hist, 50) / 1e3,
	       kelp_hist_percentile(hist, 99) / 1e3, kelp_hist_mean(hist) / 1e3,
	       (double)iters / secs, (double)bytes / secs / 1e6, short_reads);
	free(hist);
	free(started);
	return reader_close(&r) < 0 ? 1 : 0;
}
