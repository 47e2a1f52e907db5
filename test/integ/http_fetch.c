/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http_fetch: drive kelpd's HTTP fallback (io_uring HTTP client + volume discovery) on its own,
 * against a real SeaweedFS master + volume servers, for the integration tests.
 *
 * All FIDs of a round are read concurrently (so requests for one volume park on one lookup);
 * rounds run one after the other on the same client and cache, and --between runs a shell command
 * between rounds (e.g. kill the master, to show that cached locations keep working).
 * For each FID and round it prints one line:
 *   <round> <fid> result=<bytes or -errno> err=<name> size=<n> crc=<hex> gzip=<0|1> truncated=<0|1>
 * server=<url> and writes the data to <out-dir>/<fid> (last round wins). At the end: one "stats
 * ..." line. Exit status: 0 when every read completed (whatever its result), 1 on usage/setup
 * errors.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fid.h"
#include "lcore/cluster/discovery.h"
#include "lcore/cluster/http_client.h"
#include "lcore/cluster/http_fallback.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: http_fetch -m MASTER[,MASTER...] [options] FID...\n"
		"Reads each FID through kelpd's HTTP fallback (discovery + io_uring HTTP client).\n"
		"  -m, --master LIST      master host:port list (comma-separated, failover order)\n"
		"      --dc NAME          preferred data center\n"
		"      --jwt-key KEY      sign read tokens with KEY (security.toml "
		"jwt.signing.read.key)\n"
		"      --timeout-ms N     per HTTP call (default 10000)\n"
		"      --ttl S            location cache TTL in seconds (default 600)\n"
		"      --offset N         read from byte N of each needle (default 0)\n"
		"      --length N         read at most N bytes (default 16 MiB)\n"
		"      --decompressed     ask for gzip-stored needles inflated (default: as "
		"stored)\n"
		"      --stat             HEAD instead of GET: size/crc/flags only\n"
		"      --rounds N         read every FID N times (default 1)\n"
		"      --between CMD      run CMD with /bin/sh between rounds\n"
		"  -o, --out-dir DIR      write each needle's bytes to DIR/<fid>\n"
		"  -h, --help\n");
}

struct job {
	struct kelp_http_read r;
	const char *fid_text;
	int round;
	bool done;
};

static unsigned pending;

static void job_done(struct kelp_http_read *r)
{
	struct job *j = r->arg;
	j->done = true;
	pending--;
}

static void report(struct job *j, const char *out_dir)
{
	struct kelp_http_read *r = &j->r;
	printf("%d %s result=%d err=%s size=%llu crc=%08x gzip=%d truncated=%d server=%s\n",
	       j->round, j->fid_text, r->result, r->result < 0 ? strerrorname_np(-r->result) : "-",
	       (unsigned long long)r->size, r->crc, !!(r->cqe_flags & 0x4u),
	       !!(r->cqe_flags & 0x10u), r->server[0] ? r->server : "-");
	if (out_dir && r->result >= 0 && !r->stat) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", out_dir, j->fid_text);
		FILE *f = fopen(path, "wb");
		if (!f || fwrite(r->dst, 1, (size_t)r->result, f) != (size_t)r->result) {
			fprintf(stderr, "http_fetch: cannot write %s: %s\n", path, strerror(errno));
			exit(1);
		}
		fclose(f);
	}
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"master", required_argument, 0, 'm'},	{"dc", required_argument, 0, 'D'},
		{"jwt-key", required_argument, 0, 'J'}, {"timeout-ms", required_argument, 0, 'T'},
		{"ttl", required_argument, 0, 'L'},	{"offset", required_argument, 0, 'O'},
		{"length", required_argument, 0, 'N'},	{"decompressed", no_argument, 0, 'Z'},
		{"stat", no_argument, 0, 'S'},		{"rounds", required_argument, 0, 'R'},
		{"between", required_argument, 0, 'B'}, {"out-dir", required_argument, 0, 'o'},
		{"help", no_argument, 0, 'h'},		{0, 0, 0, 0},
	};
	char *masters = NULL, *dc = NULL, *jwt = NULL, *between = NULL, *out_dir = NULL;
	uint32_t timeout_ms = 10000, ttl = 600, length = 16u << 20;
	uint64_t offset = 0;
	bool decompressed = false, stat = false;
	int rounds = 1, c;

	while ((c = getopt_long(argc, argv, "m:o:h", lo, NULL)) != -1) {
		switch (c) {
		case 'm':
			masters = optarg;
			break;
		case 'D':
			dc = optarg;
			break;
		case 'J':
			jwt = optarg;
			break;
		case 'T':
			timeout_ms = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'L':
			ttl = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'O':
			offset = strtoull(optarg, NULL, 0);
			break;
		case 'N':
			length = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'Z':
			decompressed = true;
			break;
		case 'S':
			stat = true;
			break;
		case 'R':
			rounds = atoi(optarg);
			break;
		case 'B':
			between = optarg;
			break;
		case 'o':
			out_dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (!masters || optind >= argc || rounds < 1 || length == 0) {
		usage(stderr);
		return 1;
	}

	const char *mlist[KELP_DISCOVERY_MAX_MASTERS];
	unsigned nm = 0;
	for (char *save = NULL, *t = strtok_r(masters, ",", &save);
	     t && nm < KELP_DISCOVERY_MAX_MASTERS; t = strtok_r(NULL, ",", &save))
		mlist[nm++] = t;

	struct io_uring ring;
	int rc = io_uring_queue_init(256, &ring, 0);
	if (rc) {
		fprintf(stderr, "http_fetch: io_uring_queue_init: %s\n", strerror(-rc));
		return 1;
	}
	struct kelp_http_client_opts hopts = {.timeout_ms = timeout_ms};
	struct kelp_http_client *http;
	struct kelp_discovery_opts dopts = {
		.masters = mlist, .n_masters = nm, .data_center = dc, .ttl_s = ttl};
	struct kelp_discovery *disc;
	struct kelp_http_fallback_opts fopts = {.jwt_read_key = jwt};
	struct kelp_http_fallback *fb;
	rc = kelp_http_client_create(&ring, &hopts, &http);
	if (!rc)
		rc = kelp_discovery_create(http, &dopts, &disc);
	if (!rc)
		rc = kelp_http_fallback_create(http, disc, &fopts, &fb);
	if (rc) {
		fprintf(stderr, "http_fetch: setup failed: %s\n", strerror(-rc));
		return 1;
	}

	int nf = argc - optind;
	struct job *jobs = calloc((size_t)nf, sizeof(*jobs));
	for (int i = 0; i < nf; i++) {
		jobs[i].fid_text = argv[optind + i];
		if (kelp_fid_parse(argv[optind + i], strlen(argv[optind + i]), &jobs[i].r.fid)) {
			fprintf(stderr, "http_fetch: \"%s\" is not a file id (like 3,01637037d6)\n",
				argv[optind + i]);
			return 1;
		}
		if (!stat && !(jobs[i].r.dst = malloc(length))) {
			fprintf(stderr, "http_fetch: out of memory for %u bytes\n", length);
			return 1;
		}
	}

	for (int round = 1; round <= rounds; round++) {
		for (int i = 0; i < nf; i++) {
			struct job *j = &jobs[i];
			j->round = round;
			j->done = false;
			j->r.stat = stat;
			j->r.decompressed = decompressed;
			j->r.offset = offset;
			j->r.length = length;
			j->r.done = job_done;
			j->r.arg = j;
			pending++;
			rc = kelp_http_fallback_read(fb, &j->r);
			if (rc < 0) { /* finished at once */
				j->r.result = rc;
				j->done = true;
				pending--;
			}
		}
		while (pending) {
			io_uring_submit_and_wait(&ring, 1);
			kelp_uring_dispatch(&ring);
		}
		for (int i = 0; i < nf; i++)
			report(&jobs[i], out_dir);
		fflush(stdout);
		if (between && round < rounds && system(between) == -1)
			fprintf(stderr, "http_fetch: cannot run --between command\n");
	}

	struct kelp_discovery_stats ds;
	struct kelp_http_client_stats hs;
	kelp_discovery_get_stats(disc, &ds);
	kelp_http_client_get_stats(http, &hs);
	printf("stats lookups=%llu hits=%llu misses=%llu parked=%llu failovers=%llu "
	       "busy_retries=%llu "
	       "stale_served=%llu lookup_errors=%llu calls=%llu errors=%llu conns_opened=%llu "
	       "conns_reused=%llu stale_retries=%llu timeouts=%llu direct_bytes=%llu "
	       "copied_bytes=%llu\n",
	       (unsigned long long)ds.lookups, (unsigned long long)ds.hits,
	       (unsigned long long)ds.misses, (unsigned long long)ds.parked,
	       (unsigned long long)ds.failovers, (unsigned long long)ds.busy_retries,
	       (unsigned long long)ds.stale_served, (unsigned long long)ds.lookup_errors,
	       (unsigned long long)hs.calls, (unsigned long long)hs.errors,
	       (unsigned long long)hs.conns_opened, (unsigned long long)hs.conns_reused,
	       (unsigned long long)hs.stale_retries, (unsigned long long)hs.timeouts,
	       (unsigned long long)hs.body_bytes_direct, (unsigned long long)hs.body_bytes_copied);

	kelp_discovery_shutdown(disc);
	kelp_http_client_shutdown(http);
	while (kelp_http_client_busy(http) || kelp_discovery_busy(disc)) {
		io_uring_submit_and_wait(&ring, 1);
		kelp_uring_dispatch(&ring);
	}
	kelp_http_fallback_destroy(fb);
	kelp_discovery_destroy(disc);
	kelp_http_client_destroy(http);
	io_uring_queue_exit(&ring);
	for (int i = 0; i < nf; i++)
		free(jobs[i].r.dst);
	free(jobs);
	return 0;
}
