/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelp-serve-cpu: what one local read costs kelpd's lcore, without a second core or a scheduler.
 *
 * One thread plays both sides of a real session (SPDK ut_multithread style, like
 * test/unit/test_lcore_session.c): libkelp queues --depth random READs of whole needles into a
 * real segment (memfd) and submits them; kelp_lcore_poll_once() — the lcore's real loop body:
 * message poller, session poller (burst prefetch, CRC-32C fused with the copy, CQ publish), epoch
 * — serves them from the real volume files; libkelp reaps the CQEs. The time inside
 * kelp_lcore_poll_once() divided by the reads it served is the lcore's cost per read; the rest of
 * the loop is the client's (queue, submit, poll; no histogram). Volumes larger than the caches give
 * cold reads, as kelpd sees them at random.
 *
 * What it leaves out: the cross-core cache-line transfers of SQEs, CQEs and ring indices (both
 * sides share one core's caches here) and everything the scheduler does. So it is a lower bound of
 * the lcore's time per read in kelpd, and 1e9 / (ns per read) an upper bound of one lcore's rate.
 * Under callgrind (--toggle-collect=kelp_lcore_poll_once) it gives instructions per read.
 * A benchmark, not a test: it asserts nothing about time. Main thread only.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/needle.h"
#include "core/volume.h"
#include "lcore/engine.h"
#include "lcore/worker/lcore.h"
#include "lcore/worker/lsession.h"
#include "shm/session.h"

static const char usage[] =
	"usage: kelp-serve-cpu --volume-dir DIR [-d DEPTH] [-n READS] [-r ROUNDS] [--seq]\n"
	"Measures kelpd's lcore time per local READ (whole needle) in one thread: libkelp queues\n"
	"DEPTH random reads of the needles in DIR, kelp_lcore_poll_once() serves them, libkelp\n"
	"reaps; repeated until READS reads (default 200000) per round, ROUNDS rounds (default 5).\n"
	"Prints ns per read in the lcore (median and min of the rounds) and in the client part.\n"
	"  --volume-dir DIR  volumes to read (e.g. kelp-vol create DIR 11 --synthetic 50000)\n"
	"  -d, --depth N     reads per burst (default 16, at most 32)\n"
	"  --seq             read the needles in index order instead of at random\n"
	"  -h, --help        this text\n";

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Every live needle of every volume in @set, with its cookie from the record header. */
static struct kelp_fid *list_fids(struct kelp_volume_set *set, size_t *n, uint32_t *max_size)
{
	size_t cap = 0;
	struct kelp_fid *v = NULL;
	*n = 0;
	*max_size = 0;
	for (size_t i = 0; i < kelp_volume_set_count(set); i++) {
		struct kelp_volume *vol = kelp_volume_set_at(set, i);
		const uint8_t *map = kelp_volume_dat_map(vol);
		uint64_t cursor = 0, key, off, dat = kelp_volume_dat_size(vol);
		while (kelp_volume_next(vol, &cursor, &key, &off) == 1) {
			struct kelp_fid fid = {.volume_id = kelp_volume_id(vol), .key = key};
			uint64_t hkey;
			uint32_t hsize;
			struct kelp_needle_ref ref;
			if (off + KELP_NEEDLE_HEADER_SIZE > dat ||
			    kelp_needle_parse_header(map + off, KELP_NEEDLE_HEADER_SIZE,
						     &fid.cookie, &hkey, &hsize) < 0 ||
			    kelp_volume_find(vol, &fid, &ref) != 0)
				continue;
			if (*n == cap) {
				cap = cap ? cap * 2 : 4096;
				struct kelp_fid *nv = realloc(v, cap * sizeof(*v));
				if (!nv) {
					free(v);
					return NULL;
				}
				v = nv;
			}
			v[(*n)++] = fid;
			if (ref.data_size > *max_size)
				*max_size = ref.data_size;
		}
	}
	return v;
}

static uint64_t next_random(uint64_t *s) /* xorshift64* */
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

int main(int argc, char **argv)
{
	const char *dir = NULL;
	unsigned depth = 16, rounds = 5;
	uint64_t reads = 200000;
	int seq = 0;
	static const struct option longopts[] = {{"volume-dir", required_argument, NULL, 'v'},
						 {"depth", required_argument, NULL, 'd'},
						 {"reads", required_argument, NULL, 'n'},
						 {"rounds", required_argument, NULL, 'r'},
						 {"seq", no_argument, NULL, 's'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "v:d:n:r:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'v':
			dir = optarg;
			break;
		case 'd':
			depth = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'n':
			reads = strtoull(optarg, NULL, 10);
			break;
		case 'r':
			rounds = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 's':
			seq = 1;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (!dir || depth == 0 || depth > KELP_SQE_BURST || reads == 0 || rounds == 0 ||
	    rounds > 100) {
		fprintf(stderr,
			"kelp-serve-cpu: need --volume-dir DIR, 1 <= --depth <= %u, --reads > 0, "
			"1 <= --rounds <= 100 (see --help)\n",
			KELP_SQE_BURST);
		return 2;
	}

	struct kelp_engine eng = {0};
	struct kelp_lcore lc;
	const char *dirs[] = {dir};
	int rc = kelp_volume_set_open(dirs, 1, NULL, NULL, &eng.volumes);
	if (rc != 0) {
		fprintf(stderr, "kelp-serve-cpu: cannot open the volumes in %s: %s\n", dir,
			strerror(-rc));
		return 1;
	}
	size_t nfids;
	uint32_t max_size;
	struct kelp_fid *fids = list_fids(eng.volumes, &nfids, &max_size);
	if (!fids || nfids == 0) {
		fprintf(stderr,
			"kelp-serve-cpu: no live needles in %s (make some with kelp-vol create)\n",
			dir);
		return 1;
	}
	uint32_t buf_size = (max_size + 4095) & ~4095u;
	eng.n_lcores = 1;
	eng.lcores = &lc;
	rc = kelp_lcore_init(&lc, &eng, 0, sched_getcpu());
	uint32_t sq_entries = 16;
	while (sq_entries < depth)
		sq_entries <<= 1;
	uint32_t arena_mb = (uint32_t)(((uint64_t)depth * buf_size >> 20) + 1);
	struct lcore_session *srv = NULL;
	if (rc == 0)
		rc = lcore_session_create(1, sq_entries, arena_mb, arena_mb, 0, -1, 0, &srv);
	struct kelp_msg m = {.type = KELP_MSG_SESSION_ADD, .session = srv};
	if (rc == 0)
		rc = kelp_lcore_send(&lc, &m);
	if (rc == 0)
		kelp_lcore_poll_once(&lc);
	int sv[2];
	struct kelp_session *cli = NULL;
	if (rc == 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		rc = -errno;
	if (rc == 0)
		rc = kelp_session_alloc(sv[0], -1, &cli);
	if (rc == 0)
		rc = kelp_session_attach(cli, dup(srv->memfd), dup(srv->doorbell_fd));
	void *bufs[KELP_SQE_BURST];
	for (unsigned i = 0; rc == 0 && i < depth; i++)
		if (!(bufs[i] = kelp_buf_alloc(cli, buf_size)))
			rc = -ENOMEM;
	if (rc != 0) {
		fprintf(stderr, "kelp-serve-cpu: session setup failed: %s\n", strerror(-rc));
		return 1;
	}
	for (unsigned i = 0; i < depth; i++)
		memset(bufs[i], 0, buf_size);

	printf("needles %zu (largest %u bytes), depth %u, %llu reads per round, %s\n", nfids,
	       max_size, depth, (unsigned long long)reads, seq ? "in index order" : "random");
	uint64_t lcore_ns[100], client_ns[100], rnd = 0x9E3779B97F4A7C15ull;
	size_t cursor = 0;
	uint64_t errors = 0;
	for (unsigned r = 0; r < rounds; r++) {
		uint64_t served = 0, in_lcore = 0, t_begin = now_ns();
		while (served < reads) {
			for (unsigned i = 0; i < depth; i++) {
				size_t k = seq ? cursor++ % nfids
					       : (size_t)(((unsigned __int128)next_random(&rnd) *
							   nfids) >>
							  64);
				kelp_queue_read(cli, &fids[k], 0, bufs[i], buf_size, i);
			}
			kelp_submit(cli);
			uint64_t t0 = now_ns();
			while (kelp_lcore_poll_once(&lc) == KELP_POLL_BUSY)
				;
			in_lcore += now_ns() - t0;
			struct kelp_cqe cqes[KELP_SQE_BURST];
			unsigned got = 0;
			while (got < depth) {
				int n = kelp_poll(cli, cqes, KELP_SQE_BURST);
				if (n <= 0) {
					fprintf(stderr,
						"kelp-serve-cpu: %u of %u completions (%s)\n", got,
						depth, n < 0 ? strerror(-n) : "missing");
					return 1;
				}
				for (int i = 0; i < n; i++)
					errors += cqes[i].result < 0;
				got += (unsigned)n;
			}
			served += depth;
		}
		uint64_t total = now_ns() - t_begin;
		lcore_ns[r] = in_lcore / served;
		client_ns[r] = (total - in_lcore) / served;
		printf("round %u: lcore %llu ns/read, client part %llu ns/read\n", r + 1,
		       (unsigned long long)lcore_ns[r], (unsigned long long)client_ns[r]);
	}
	qsort(lcore_ns, rounds, sizeof(lcore_ns[0]), cmp_u64);
	qsort(client_ns, rounds, sizeof(client_ns[0]), cmp_u64);
	printf("lcore ns per read: median %llu, min %llu (one lcore at most %.0f reads/s)\n",
	       (unsigned long long)lcore_ns[rounds / 2], (unsigned long long)lcore_ns[0],
	       1e9 / (double)lcore_ns[rounds / 2]);
	printf("client part ns per read: median %llu, min %llu\n",
	       (unsigned long long)client_ns[rounds / 2], (unsigned long long)client_ns[0]);
	if (errors)
		printf("errors: %llu reads failed\n", (unsigned long long)errors);

	for (unsigned i = 0; i < depth; i++)
		kelp_buf_free(cli, bufs[i]);
	kelp_close(cli);
	close(sv[1]);
	lcore_session_destroy(srv);
	kelp_lcore_fini(&lc);
	kelp_volume_set_close(eng.volumes);
	free(fids);
	return errors ? 1 : 0;
}
