/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelp_read: one READ (or STAT) through kelpd with libkelp, for the integration tests (kelpctl get
 * reads whole needles; this reads any range). Writes the bytes to stdout and one line to stderr:
 *   result=<bytes or -errno> err=<name> size=<n> crc=<hex> path=<none|local|rdma|tcp|http>
 * gzip=<0|1> truncated=<0|1> Exit status: 0 when kelpd answered (whatever the result), 1 on usage
 * or session errors.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kelp.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: kelp_read (-c kelp.conf | --socket PATH) [--offset N] [--length N] "
		   "[--stat] [--tcp-only] FID\n"
		   "Reads bytes [offset, offset+length) of FID's data through kelpd to stdout.\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"config", required_argument, 0, 'c'}, {"socket", required_argument, 0, 's'},
		{"offset", required_argument, 0, 'O'}, {"length", required_argument, 0, 'N'},
		{"stat", no_argument, 0, 'S'},	       {"tcp-only", no_argument, 0, 'T'},
		{"help", no_argument, 0, 'h'},	       {0, 0, 0, 0},
	};
	struct kelp_opts o;
	uint64_t offset = 0;
	uint32_t length = 0;
	int stat = 0, tcp_only = 0, c;

	kelp_opts_init(&o);
	while ((c = getopt_long(argc, argv, "c:s:h", lo, NULL)) != -1) {
		switch (c) {
		case 'c':
			o.config_path = optarg;
			break;
		case 's':
			o.socket_path = optarg;
			break;
		case 'O':
			offset = strtoull(optarg, NULL, 0);
			break;
		case 'N':
			length = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'S':
			stat = 1;
			break;
		case 'T':
			tcp_only = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return 1;
	}
	struct kelp_fid fid;
	if (kelp_fid_parse(argv[optind], strlen(argv[optind]), &fid) != 0) {
		fprintf(stderr, "kelp_read: '%s' is not a file id (like 3,01637037d6)\n",
			argv[optind]);
		return 1;
	}
	struct kelp_session *s;
	int rc = kelp_connect(&o, &s);
	if (rc) {
		fprintf(stderr, "kelp_read: connect: %s\n", kelp_last_error());
		return 1;
	}
	struct kelp_session_info info;
	kelp_session_info(s, &info);
	if (length == 0 || length > info.max_io)
		length = info.max_io;
	struct kelp_cqe cqe;
	memset(&cqe, 0, sizeof(cqe));
	void *buf = NULL;
	ssize_t n;
	if (stat) {
		n = kelp_stat(s, &fid, &cqe);
	} else {
		if (!(buf = kelp_buf_alloc(s, length))) {
			fprintf(stderr, "kelp_read: no arena room for %u bytes\n", length);
			return 1;
		}
		if (tcp_only) { /* KELP_SQE_F_TCP_ONLY: over TCP from the volume's kelpd, or fail */
			n = kelp_queue_read_flags(s, &fid, offset, buf, length, KELP_SQE_F_TCP_ONLY,
						  1);
			if (n == 0)
				n = kelp_submit(s);
			if (n >= 0)
				n = kelp_wait(s, &cqe, 1, 30000);
			if (n == 1)
				n = cqe.result;
		} else {
			n = kelp_read(s, &fid, offset, buf, length, &cqe);
		}
	}
	if (n == -ECONNRESET || (n < 0 && cqe.result == 0)) {
		fprintf(stderr, "kelp_read: %s\n", kelp_strerror((int)n));
		return 1;
	}
	if (n > 0 && fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
		return 1;
	static const char *paths[] = {"none", "local", "rdma", "http"};
	fprintf(stderr, "result=%zd err=%s size=%llu crc=%08x path=%s gzip=%d truncated=%d\n", n,
		n < 0 ? strerrorname_np((int)-n) : "-", (unsigned long long)cqe.size, cqe.crc,
		cqe.flags & KELP_CQE_F_TCP ? "tcp" : paths[cqe.flags & KELP_CQE_PATH_MASK],
		!!(cqe.flags & KELP_CQE_F_GZIP), !!(cqe.flags & KELP_CQE_F_TRUNCATED));
	kelp_buf_free(s, buf);
	kelp_close(s);
	return 0;
}
