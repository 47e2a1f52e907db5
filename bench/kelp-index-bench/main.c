/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelp-index-bench: how fast the needle index loads an .idx and how much memory it uses per live
 * needle, against same-run baselines on the same file:
 *   read   - read() the whole file into a buffer (the I/O floor of any loader)
 *   parse  - read + decode every row into a flat array (the floor without hashing)
 *   index  - mmap + kelp_needle_index_new + _load + _shrink (what kelp_volume_open does)
 * Times are wall clock and, because the machine may be shared, also this process's CPU time.
 * The file is generated (sequential keys like a master hands out, random sizes, optional deletes)
 * unless --file gives one. Each phase runs --repeat times; the best and median are reported.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/idx.h"
#include "core/needle_index.h"

static const char usage[] =
	"usage: kelp-index-bench [--rows N] [--offset-bytes 4|5] [--deleted-pct P] [--repeat R]\n"
	"                        [--file FILE.idx] [--dir DIR] [--json]\n"
	"\n"
	"Measures loading an .idx into kelp's needle index (time, bytes per live needle) against\n"
	"same-run baselines: read() of the file, and read + decoding rows into a flat array.\n"
	"  --rows N         rows to generate (default 10000000)\n"
	"  --offset-bytes   row layout of the generated/given file (default 5: 17-byte rows)\n"
	"  --deleted-pct P  after the N rows, append tombstones for P%% of the keys (default 0)\n"
	"  --repeat R       runs per phase (default 5)\n"
	"  --file FILE.idx  use this file instead of generating one\n"
	"  --dir DIR        where to generate the file (default $TMPDIR or /tmp); removed after\n"
	"  --json           one JSON object instead of the table\n";

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int generate(const char *path, uint64_t rows, int ob, unsigned deleted_pct)
{
	FILE *f = fopen(path, "wbx");
	if (!f)
		return -errno;
	uint8_t row[17];
	uint64_t seed = 42, off = 1; /* offsets in 8-byte units, after the superblock */
	for (uint64_t k = 1; k <= rows; k++) {
		uint32_t size = 1 + (uint32_t)(splitmix64(&seed) % 65536);
		struct kelp_idx_row r = {k, off, size};
		kelp_idx_encode_row(&r, ob, row);
		fwrite(row, kelp_idx_row_size(ob), 1, f);
		off += (16 + size + 4 + 8 + 8) / 8;
	}
	for (uint64_t k = 1; k <= rows; k++) {
		if (splitmix64(&seed) % 100 >= deleted_pct)
			continue;
		struct kelp_idx_row r = {k, off++, KELP_IDX_SIZE_TOMBSTONE};
		kelp_idx_encode_row(&r, ob, row);
		fwrite(row, kelp_idx_row_size(ob), 1, f);
	}
	if (fclose(f))
		return -errno;
	return 0;
}

static uint8_t *read_all(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st))
		return NULL;
	uint8_t *buf = malloc((size_t)st.st_size + 1);
	size_t done = 0;
	while (buf && done < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	close(fd);
	*len = done;
	return buf;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct phase {
	double best, median;
};

static struct phase summarize(double *t, int n)
{
	qsort(t, (size_t)n, sizeof(*t), cmp_double);
	return (struct phase){t[0], t[n / 2]};
}

int main(int argc, char **argv)
{
	uint64_t rows = 10000000;
	int ob = 5, repeat = 5;
	unsigned deleted_pct = 0;
	const char *file = NULL, *dir = getenv("TMPDIR");
	bool json = false;
	static const struct option opts[] = {{"rows", required_argument, NULL, 'n'},
					     {"offset-bytes", required_argument, NULL, 'o'},
					     {"deleted-pct", required_argument, NULL, 'd'},
					     {"repeat", required_argument, NULL, 'r'},
					     {"file", required_argument, NULL, 'f'},
					     {"dir", required_argument, NULL, 'D'},
					     {"json", no_argument, NULL, 'j'},
					     {"help", no_argument, NULL, 'h'},
					     {0}};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			rows = strtoull(optarg, NULL, 10);
			break;
		case 'o':
			ob = atoi(optarg);
			break;
		case 'd':
			deleted_pct = (unsigned)atoi(optarg);
			break;
		case 'r':
			repeat = atoi(optarg);
			break;
		case 'f':
			file = optarg;
			break;
		case 'D':
			dir = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if ((ob != 4 && ob != 5) || repeat < 1 || repeat > 100 || rows < 1 || deleted_pct > 100) {
		fprintf(stderr, "kelp-index-bench: bad arguments\n%s", usage);
		return 2;
	}
	char gen[4096];
	if (!file) {
		snprintf(gen, sizeof(gen), "%s/kelp-index-bench-%d.idx", dir ? dir : "/tmp",
			 (int)getpid());
		int rc = generate(gen, rows, ob, deleted_pct);
		if (rc) {
			fprintf(stderr, "kelp-index-bench: cannot write %s: %s\n", gen,
				strerror(-rc));
			return 1;
		}
		file = gen;
	}
	size_t rs = kelp_idx_row_size(ob);
	double t_read[100], t_parse[100], t_index[100], c_read[100], c_index[100];
	uint64_t nrows = 0, live = 0, keys = 0;
	size_t mem = 0;
	volatile uint64_t sink = 0;

	for (int r = 0; r < repeat; r++) {
		/* read: the file into memory */
		double t0 = now_s(), c0 = cpu_s();
		size_t len;
		uint8_t *buf = read_all(file, &len);
		if (!buf) {
			fprintf(stderr, "kelp-index-bench: cannot read %s\n", file);
			return 1;
		}
		t_read[r] = now_s() - t0;
		c_read[r] = cpu_s() - c0;
		nrows = len / rs;
		free(buf);

		/* parse: read + decode every row into a flat array */
		t0 = now_s();
		buf = read_all(file, &len);
		struct kelp_idx_row *flat = malloc(nrows * sizeof(*flat));
		for (uint64_t i = 0; i < nrows; i++)
			kelp_idx_parse_row(buf + i * rs, ob, &flat[i]);
		t_parse[r] = now_s() - t0;
		sink += flat[nrows / 2].key;
		free(flat);
		free(buf);

		/* index: map the file and load it into the needle index, as kelp_volume_open does
		 */
		t0 = now_s();
		c0 = cpu_s();
		int fd = open(file, O_RDONLY);
		void *map = fd < 0 ? MAP_FAILED
				   : mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
		if (map == MAP_FAILED) {
			fprintf(stderr, "kelp-index-bench: cannot map %s\n", file);
			return 1;
		}
		close(fd);
		struct kelp_needle_index *ni;
		if (kelp_needle_index_new(nrows, &ni) ||
		    kelp_needle_index_load(ni, map, nrows, ob)) {
			fprintf(stderr, "kelp-index-bench: index load failed\n");
			return 1;
		}
		struct kelp_needle_index *small;
		if (kelp_needle_index_shrink(ni, &small) == 0 && small) {
			kelp_needle_index_free(ni);
			ni = small;
		}
		t_index[r] = now_s() - t0;
		c_index[r] = cpu_s() - c0;
		munmap(map, len);
		live = kelp_needle_index_live(ni);
		keys = kelp_needle_index_keys(ni);
		mem = kelp_needle_index_memory(ni);

		/* a correctness spot check so the numbers are of a working index */
		uint64_t off;
		uint32_t size;
		if (deleted_pct == 0 && file == gen &&
		    (kelp_needle_index_lookup(ni, rows / 2, &off, &size) || !size))
			abort();
		kelp_needle_index_free(ni);
	}
	if (file == gen)
		unlink(gen);
	struct phase pr = summarize(t_read, repeat), pp = summarize(t_parse, repeat),
		     pi = summarize(t_index, repeat), cr = summarize(c_read, repeat),
		     ci = summarize(c_index, repeat);
	double bpn = live ? (double)mem / (double)live : 0;
	if (json) {
		printf("{\"rows\":%llu,\"live\":%llu,\"keys\":%llu,\"offset_bytes\":%d,\"repeat\":%"
		       "d,"
		       "\"read_s\":%.4f,\"parse_s\":%.4f,\"index_s\":%.4f,\"index_median_s\":%.4f,"
		       "\"index_vs_read\":%.2f,\"index_vs_parse\":%.2f,\"index_bytes\":%zu,"
		       "\"bytes_per_live_needle\":%.2f,\"rows_per_s\":%.0f,\"read_cpu_s\":%.4f,"
		       "\"index_cpu_s\":%.4f}\n",
		       (unsigned long long)nrows, (unsigned long long)live,
		       (unsigned long long)keys, ob, repeat, pr.best, pp.best, pi.best, pi.median,
		       pi.best / pr.best, pi.best / pp.best, mem, bpn, (double)nrows / pi.best,
		       cr.best, ci.best);
	} else {
		printf("file %s: %llu rows of %zu bytes, %llu keys, %llu live\n", file,
		       (unsigned long long)nrows, rs, (unsigned long long)keys,
		       (unsigned long long)live);
		printf("%-8s %10s %10s %8s %10s\n", "phase", "best s", "median s", "x read",
		       "best cpu s");
		printf("%-8s %10.4f %10.4f %8.2f %10.4f\n", "read", pr.best, pr.median, 1.0,
		       cr.best);
		printf("%-8s %10.4f %10.4f %8.2f %10s\n", "parse", pp.best, pp.median,
		       pp.best / pr.best, "");
		printf("%-8s %10.4f %10.4f %8.2f %10.4f\n", "index", pi.best, pi.median,
		       pi.best / pr.best, ci.best);
		printf("index memory %zu bytes = %.2f bytes per live needle; %.1f M rows/s\n", mem,
		       bpn, (double)nrows / pi.best / 1e6);
	}
	return sink == 1 ? 3 : 0;
}
