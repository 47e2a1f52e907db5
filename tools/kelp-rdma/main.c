/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelp-rdma: kelp's RDMA data path without kelpd, for tests and benchmarks on real verbs.
 *   serve  export the volumes of directories over RDMA (the export side of a kelpd)
 *   get    read needles from an exporter into a shared-memory buffer (the reader side)
 *   bench  latency and throughput of 4 KiB (or any size) reads from an exporter
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kelp_abi.h"
#include "tools/kelp-rdma/kelp_rdma_tool.h"

static const char usage[] =
	"usage: kelp-rdma COMMAND [OPTIONS]   (kelp-rdma COMMAND --help for details)\n"
	"  serve --listen ADDR:PORT DIR...   export the volumes in DIRs over RDMA\n"
	"  get --peer ADDR:PORT --out DIR FID...   read needles over RDMA into DIR/<fid>\n"
	"  bench --peer ADDR:PORT FID [--size N] [--iters N] [--depth N]   measure reads\n"
	"  --version   print kelp-rdma's release and shared-memory ABI version\n"
	"Exit status: 0 ok, 1 a read or the connection failed, 2 usage error or no RDMA device.\n";

void tool_die(const char *fmt, ...)
{
	va_list ap;

	fputs("kelp-rdma: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

uint64_t tool_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#if defined(__x86_64__)
#include <x86intrin.h>

uint64_t tool_ticks(void)
{
	return __rdtsc();
}

double tool_ticks_per_ns(void)
{
	static double ratio;

	if (ratio == 0) {
		uint64_t t0 = tool_now_ns(), c0 = tool_ticks(), t1, c1;

		nanosleep(&(struct timespec){.tv_nsec = 20000000}, NULL);
		t1 = tool_now_ns();
		c1 = tool_ticks();
		ratio = t1 > t0 && c1 > c0 ? (double)(c1 - c0) / (double)(t1 - t0) : 1.0;
	}
	return ratio;
}
#else
uint64_t tool_ticks(void)
{
	return tool_now_ns();
}

double tool_ticks_per_ns(void)
{
	return 1.0;
}
#endif

static int parse_uint(const char *s, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < 0 || v > max)
		return -1;
	*out = v;
	return 0;
}

/* "ADDR:PORT" (IPv6 as "[addr]:port") into o->addr/o->port; the string is modified. */
static int parse_addr_port(char *s, struct tool_opts *o)
{
	char *colon = strrchr(s, ':');
	long port;

	if (!colon || parse_uint(colon + 1, 65535, &port) < 0 || port == 0)
		return -1;
	*colon = '\0';
	if (s[0] == '[' && colon[-1] == ']') {
		colon[-1] = '\0';
		s++;
	}
	o->addr = s;
	o->port = (uint16_t)port;
	return 0;
}

int tool_common_opt(struct tool_opts *o, int argc, char **argv, int *i)
{
	const char *opt = argv[*i];
	long v;

	if (strcmp(opt, "--device") && strcmp(opt, "--port") && strcmp(opt, "--gid-index") &&
	    strcmp(opt, "--credits") && strcmp(opt, "--listen") && strcmp(opt, "--peer"))
		return 0;
	if (*i + 1 >= argc) {
		fprintf(stderr, "kelp-rdma: %s needs a value\n", opt);
		return -1;
	}
	char *val = argv[++*i];
	if (!strcmp(opt, "--device")) {
		o->dev.device = val;
	} else if (!strcmp(opt, "--port")) {
		if (parse_uint(val, 255, &v) < 0 || v == 0)
			goto bad;
		o->dev.port = (uint8_t)v;
	} else if (!strcmp(opt, "--gid-index")) {
		if (!strcmp(val, "-1"))
			v = -1;
		else if (parse_uint(val, 255, &v) < 0)
			goto bad;
		o->dev.gid_index = (int)v;
	} else if (!strcmp(opt, "--credits")) {
		if (parse_uint(val, 256, &v) < 0 || v == 0)
			goto bad;
		o->credits = (uint16_t)v;
	} else if (parse_addr_port(val, o) < 0) {
		fprintf(stderr, "kelp-rdma: %s wants ADDR:PORT, got '%s'\n", opt, val);
		return -1;
	}
	return 1;
bad:
	fprintf(stderr, "kelp-rdma: bad value '%s' for %s\n", val, opt);
	return -1;
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "--version")) { /* KELP_VERSION: the Makefile's, passed with -D */
		printf("kelp-rdma %s (shm ABI %u)\n", KELP_VERSION, (unsigned)KELP_ABI_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "serve"))
		return cmd_serve(argc - 1, argv + 1);
	if (!strcmp(argv[1], "get"))
		return cmd_get(argc - 1, argv + 1);
	if (!strcmp(argv[1], "bench"))
		return cmd_bench(argc - 1, argv + 1);
	tool_die("unknown command '%s'; commands: serve, get, bench (kelp-rdma --help)", argv[1]);
}
