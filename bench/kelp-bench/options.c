/* SPDX-License-Identifier: Apache-2.0 */
/* kelp-bench command line: --help text and option parsing. Main thread, before anything starts. */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/kelp-bench/bench.h"
#include "kelp_abi.h"

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
		"Reads needles with T threads x D requests in flight and reports ops/s, MB/s and "
		"latency\n"
		"percentiles (progress on stderr every second, summary on stdout).\n"
		"\n"
		"What to read (at least one):\n"
		"  --volume-dir DIR     every live needle of every volume in DIR (repeatable)\n"
		"  --fids FILE          one fid per line ('#' comments); with --volume-dir, only "
		"these\n"
		"  --list-fids          print the fids of the targets and exit (makes a --fids "
		"FILE)\n"
		"How:\n"
		"  -m, --mode MODE      local (default): through libkelp to kelpd\n"
		"                       rdma: the same reads with KELP_SQE_F_RDMA_ONLY: over RDMA "
		"from\n"
		"                             the volume's kelpd or an error, never local or HTTP\n"
		"                             (warms up first: one read per volume until RDMA "
		"works)\n"
		"                       tcp: the same reads with KELP_SQE_F_TCP_ONLY: over TCP "
		"from\n"
		"                            the volume's kelpd or an error (warms up likewise)\n"
		"                       nop: bare ring round trip through libkelp (no read)\n"
		"                       pread: pread(2) of the same needles from the .dat files, "
		"in this\n"
		"                              process (the page-cache floor; needs --volume-dir)\n"
		"                       http: HTTP/1.1 keep-alive GETs to the volume servers, one\n"
		"                             connection per slot (how SeaweedFS clients read "
		"today)\n"
		"  -c, --config FILE    kelp.conf (local/rdma/nop: kelpd's socket from [engine] "
		"socket)\n"
		"      --socket PATH    kelpd's Unix socket (local/rdma/nop; wins over --config)\n"
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
		"                       (default: the largest target needle, or 1 MiB when "
		"unknown)\n"
		"      --cpu LIST       pin thread i to the i-th cpu of LIST (e.g. 0 or 0,1)\n"
		"      --wait[=US]      local/nop: sleep in kelp_wait() instead of busy-polling,\n"
		"                       after spinning US microseconds (default 50) while most\n"
		"                       recent waits ended that soon, else at once (libkelp's\n"
		"                       adaptive spin); 0 = always sleep at once\n"
		"      --verify         check each whole-needle read against the needle's stored "
		"CRC\n"
		"                       (targets from --volume-dir); any mismatch or short read "
		"is\n"
		"                       counted in verify_failures and makes the exit status 1 --\n"
		"                       unless the bytes are a whole other version of the needle\n"
		"                       (its CRC in the completion or ETag) and a STAT (HEAD in "
		"http\n"
		"                       mode) after the run finds it overwritten or deleted: "
		"those\n"
		"                       count in verify_changed (pread reads the files as listed)\n"
		"Output:\n"
		"      --json           print one JSON object (ops_per_sec, mb_per_sec, errors,\n"
		"                       latency_us {p50,p90,p99,p999,max}, ...)\n"
		"      --label TEXT     name this run in the output (for bench/plot.py)\n"
		"  -q, --quiet          no progress lines\n"
		"  -h, --help           this text\n"
		"      --version        print kelp-bench's release and shared-memory ABI version\n"
		"\n"
		"Example: kelp-bench -c conf/kelp.conf --volume-dir /data/vol --cpu 0 -d 16 -D "
		"5\n");
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
	case 'k':
	case 'K':
		v <<= 10;
		end++;
		break;
	case 'm':
	case 'M':
		v <<= 20;
		end++;
		break;
	case 'g':
	case 'G':
		v <<= 30;
		end++;
		break;
	}
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

enum {
	OPT_SOCKET = 1000,
	OPT_VOLDIR,
	OPT_FIDS,
	OPT_LIST,
	OPT_HTTP,
	OPT_MASTER,
	OPT_SEQ,
	OPT_CPU,
	OPT_WAIT,
	OPT_VERIFY,
	OPT_JSON,
	OPT_LABEL,
	OPT_RATE
};

int bench_parse_args(int argc, char **argv, struct bench_opts *o)
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
		{"wait", optional_argument, NULL, OPT_WAIT},
		{"verify", no_argument, NULL, OPT_VERIFY},
		{"json", no_argument, NULL, OPT_JSON},
		{"label", required_argument, NULL, OPT_LABEL},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
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
		case 'm':
			o->mode_name = optarg;
			break;
		case 'c':
			o->config_path = optarg;
			break;
		case OPT_SOCKET:
			o->socket_path = optarg;
			break;
		case OPT_VOLDIR:
			if (o->nvolume_dirs == BENCH_MAX_DIRS) {
				fprintf(stderr, "kelp-bench: at most %d --volume-dir\n",
					BENCH_MAX_DIRS);
				return -EINVAL;
			}
			o->volume_dirs[o->nvolume_dirs++] = optarg;
			break;
		case OPT_FIDS:
			o->fids_path = optarg;
			break;
		case OPT_LIST:
			o->list_fids = true;
			break;
		case OPT_HTTP:
			if (o->nservers == BENCH_MAX_SERVERS ||
			    bench_parse_hostport(optarg, &o->servers[o->nservers]) < 0) {
				fprintf(stderr,
					"kelp-bench: --http-server wants HOST:PORT, got '%s'\n",
					optarg);
				return -EINVAL;
			}
			o->nservers++;
			break;
		case OPT_MASTER:
			o->master = optarg;
			break;
		case 't':
			if (parse_u64(optarg, &v) < 0 || v < 1 || v > 256) {
				fprintf(stderr, "kelp-bench: --threads wants 1..256, got '%s'\n",
					optarg);
				return -EINVAL;
			}
			o->threads = (unsigned)v;
			break;
		case 'd':
			if (parse_u64(optarg, &v) < 0 || v < 1 || v > 4096) {
				fprintf(stderr, "kelp-bench: --depth wants 1..4096, got '%s'\n",
					optarg);
				return -EINVAL;
			}
			o->depth = (unsigned)v;
			break;
		case 'D': {
			char *end;
			o->duration_s = strtod(optarg, &end);
			if (*end || !(o->duration_s > 0)) {
				fprintf(stderr,
					"kelp-bench: --duration wants seconds > 0, got '%s'\n",
					optarg);
				return -EINVAL;
			}
			break;
		}
		case 'n':
			if (parse_u64(optarg, &o->count) < 0 || o->count == 0) {
				fprintf(stderr,
					"kelp-bench: --count wants a number > 0, got '%s'\n",
					optarg);
				return -EINVAL;
			}
			break;
		case OPT_SEQ:
			o->sequential = true;
			break;
		case OPT_RATE: {
			char *end;
			o->rate = strtod(optarg, &end);
			if (*end || !(o->rate > 0)) {
				fprintf(stderr,
					"kelp-bench: --rate wants reads per second > 0, got '%s'\n",
					optarg);
				return -EINVAL;
			}
			break;
		}
		case 's':
			if (parse_u64(optarg, &v) < 0 || v < 1 || v > (1u << 30)) {
				fprintf(stderr, "kelp-bench: --size wants 1..1G bytes, got '%s'\n",
					optarg);
				return -EINVAL;
			}
			o->size = (uint32_t)v;
			break;
		case OPT_CPU:
			if (parse_cpus(optarg, o) < 0) {
				fprintf(stderr,
					"kelp-bench: --cpu wants a list like 0 or 0,1; got '%s'\n",
					optarg);
				return -EINVAL;
			}
			break;
		case OPT_WAIT:
			o->wait = true;
			if (optarg && (parse_u64(optarg, &v) < 0 || v > 1000000)) {
				fprintf(stderr,
					"kelp-bench: --wait=US wants 0..1000000, got '%s'\n",
					optarg);
				return -EINVAL;
			}
			o->wait_spin_us = optarg ? (int)v : 50;
			break;
		case OPT_VERIFY:
			o->verify = true;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_LABEL:
			o->label = optarg;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V': /* KELP_VERSION: the Makefile's, passed with -D */
			printf("kelp-bench %s (shm ABI %u)\n", KELP_VERSION,
			       (unsigned)KELP_ABI_VERSION);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kelp-bench: unexpected argument '%s' (see --help)\n",
			argv[optind]);
		return -EINVAL;
	}
	return 0;
}
