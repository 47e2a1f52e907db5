/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelp-files-bench: read a list of files by path, as a data loader does, with N threads, and
 * report files/s, MB/s, the latency of each whole file (open + read + close) and the client's CPU.
 * bench/run-mount.sh drives it against the same files three ways:
 *   fs    open/read/close under a directory (a kelp-mount or a `weed mount` mountpoint)
 *   path  libkelp's path API: kelp_path_read until the end of the file, one session per thread
 *   http  keep-alive GETs to the filer (one connection per thread), whole files
 * The threads share one list, shuffled (a fixed seed): each file is read once per run, in a
 * random order. Each file's byte count is checked against the size the list gives.
 * Set-up: every thread's session (path) or connection (http) is opened before the clock starts,
 * as a data loader opens them once per worker before its epochs (an HTTP client its pool). The
 * JSON line gives both: seconds / files_per_sec for the epoch alone, setup_seconds and
 * files_per_sec_with_setup counting the set-up too.
 *
 * Threads: the list and options are read-only once the workers start; each worker owns its
 * session/connection, buffer and histogram; main merges them after the join.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/histogram.h"
#include "kelp.h"
#include "proto/http.h"

enum mode { MODE_FS, MODE_PATH, MODE_HTTP };

struct file {
	char *path;
	uint64_t size;
};

static struct {
	enum mode mode;
	const char *dir, *config, *filer, *label;
	unsigned threads;
	uint32_t read_size;
	unsigned seed;
	int32_t wait_spin_us; /* path: kelp_opts.wait_spin_us; INT32_MIN = libkelp's default */
	struct file *files;
	size_t nfiles;
	atomic_size_t next;
	char host[128];
	uint16_t port;
	bool list_dirs; /* path: list every directory of the files first (timed), as a data loader
			 * enumerates its data set; kelpd caches the listed entries */
	char **dirs;
	size_t ndirs;
	atomic_size_t next_dir;
} g = {.threads = 8, .read_size = 1u << 20, .seed = 1, .wait_spin_us = INT32_MIN};

struct worker {
	pthread_t tid;
	struct kelp_session *s;
	char *buf;
	int sock;
	uint64_t files, bytes, errors, short_reads;
	int first_err;
	struct kelp_hist hist;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- one file, three ways: bytes read or -errno --------------------------------------------- */

static int64_t read_fs(struct worker *w, const char *path)
{
	char full[8192];
	snprintf(full, sizeof(full), "%s%s", g.dir, path);
	int fd = open(full, O_RDONLY);
	if (fd < 0)
		return -errno;
	int64_t total = 0;
	for (;;) {
		ssize_t n = read(fd, w->buf, g.read_size);
		if (n < 0) {
			total = -errno;
			break;
		}
		if (n == 0)
			break;
		total += n;
	}
	close(fd);
	return total;
}

static int64_t read_path(struct worker *w, const char *path)
{
	int64_t total = 0;
	for (;;) {
		ssize_t n = kelp_path_read(w->s, path, (uint64_t)total, w->buf, g.read_size, NULL);
		if (n < 0)
			return n;
		total += n;
		if ((uint32_t)n < g.read_size)
			return total;
	}
}

static int http_connect(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(g.port)};
	struct hostent *h = gethostbyname(g.host);
	if (!h)
		return -EHOSTUNREACH;
	memcpy(&sa.sin_addr, h->h_addr_list[0], sizeof(sa.sin_addr));
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

static int64_t read_http(struct worker *w, const char *path)
{
	if (w->sock < 0) {
		w->sock = http_connect();
		if (w->sock < 0)
			return w->sock;
	}
	char req[KELP_HTTP_REQUEST_MAX];
	struct kelp_http_request r = {.host = g.filer, .path = path};
	int len = kelp_http_write_request(&r, req, sizeof(req));
	if (len < 0)
		return len;
	if (send(w->sock, req, (size_t)len, MSG_NOSIGNAL) != len)
		goto broken;
	struct kelp_http_parser p;
	kelp_http_parser_init(&p, NULL, 0, false); /* bodies are counted, not kept */
	while (!kelp_http_parser_done(&p)) {
		ssize_t n = recv(w->sock, w->buf, g.read_size, 0);
		if (n <= 0)
			goto broken;
		if (kelp_http_parser_feed(&p, (uint8_t *)w->buf, (size_t)n) < 0)
			goto broken;
	}
	if (p.resp.close) {
		close(w->sock);
		w->sock = -1;
	}
	if (p.resp.status != 200)
		return p.resp.status == 404 ? -ENOENT : -EIO;
	return (int64_t)p.resp.body_total;
broken:
	close(w->sock);
	w->sock = -1;
	return -EPIPE;
}

/* ---- workers -------------------------------------------------------------------------------- */

/* Lists directory @dir whole (pages of 512). Return: entries, or -errno. */
static int64_t list_dir(struct worker *w, const char *dir)
{
	enum { BATCH = 512 };
	static __thread struct kelp_dirent ents[BATCH];
	char after[KELP_NAME_MAX + 1] = "";
	int64_t total = 0;
	for (;;) {
		int got = kelp_path_list(w->s, dir, after, ents, BATCH);
		if (got <= 0)
			return got < 0 ? got : total;
		total += got;
		memcpy(after, ents[got - 1].name, sizeof(after));
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (;;) { /* --list-dirs: the directories first, shared out like the files */
		size_t i = atomic_fetch_add_explicit(&g.next_dir, 1, memory_order_relaxed);
		if (i >= g.ndirs)
			break;
		int64_t n = list_dir(w, g.dirs[i]);
		if (n < 0) {
			if (!w->first_err)
				w->first_err = (int)-n;
			w->errors++;
		}
	}
	for (;;) {
		size_t i = atomic_fetch_add_explicit(&g.next, 1, memory_order_relaxed);
		if (i >= g.nfiles)
			break;
		const struct file *f = &g.files[i];
		uint64_t t0 = now_ns();
		int64_t got = g.mode == MODE_FS	    ? read_fs(w, f->path)
			      : g.mode == MODE_PATH ? read_path(w, f->path)
						    : read_http(w, f->path);
		kelp_hist_record(&w->hist, now_ns() - t0);
		if (got < 0) {
			if (!w->first_err)
				w->first_err = (int)-got;
			w->errors++;
			continue;
		}
		if ((uint64_t)got != f->size)
			w->short_reads++;
		w->files++;
		w->bytes += (uint64_t)got;
	}
	return NULL;
}

static int worker_setup(struct worker *w)
{
	w->sock = -1;
	kelp_hist_init(&w->hist);
	if (g.mode != MODE_PATH) {
		w->buf = malloc(g.read_size);
		if (!w->buf)
			return -ENOMEM;
		if (g.mode == MODE_HTTP) { /* the connection before the clock, as a session */
			w->sock = http_connect();
			if (w->sock < 0) {
				fprintf(stderr, "kelp-files-bench: connect to %s: %s\n", g.filer,
					strerror(-w->sock));
				return w->sock;
			}
		}
		return 0;
	}
	struct kelp_opts o;
	kelp_opts_init(&o);
	o.config_path = g.config;
	if (g.wait_spin_us != INT32_MIN)
		o.wait_spin_us = g.wait_spin_us;
	int rc = kelp_connect(&o, &w->s);
	if (rc < 0) {
		fprintf(stderr, "kelp-files-bench: %s\n",
			*kelp_last_error() ? kelp_last_error() : kelp_strerror(rc));
		return rc;
	}
	w->buf = kelp_buf_alloc(w->s, g.read_size);
	return w->buf ? 0 : -ENOMEM;
}

static void worker_teardown(struct worker *w)
{
	if (w->s) {
		kelp_buf_free(w->s, w->buf);
		kelp_close(w->s);
	} else {
		free(w->buf);
	}
	if (w->sock >= 0)
		close(w->sock);
}

/* ---- setup ---------------------------------------------------------------------------------- */

static int load_list(const char *file)
{
	FILE *f = fopen(file, "r");
	if (!f) {
		fprintf(stderr, "kelp-files-bench: %s: %s\n", file, strerror(errno));
		return -1;
	}
	char line[8192];
	size_t cap = 0;
	while (fgets(line, sizeof(line), f)) {
		char *tab = strchr(line, '\t');
		if (!tab || line[0] != '/')
			continue;
		*tab = '\0';
		if (g.nfiles == cap) {
			cap = cap ? cap * 2 : 1024;
			g.files = realloc(g.files, cap * sizeof(*g.files));
			if (!g.files)
				return -1;
		}
		g.files[g.nfiles].path = strdup(line);
		g.files[g.nfiles].size = strtoull(tab + 1, NULL, 10);
		g.nfiles++;
	}
	fclose(f);
	/* Fisher-Yates with a fixed seed: the same random order for every way of reading */
	srand(g.seed);
	for (size_t i = g.nfiles; i > 1; i--) {
		size_t j = (size_t)rand() % i;
		struct file t = g.files[i - 1];
		g.files[i - 1] = g.files[j];
		g.files[j] = t;
	}
	if (g.list_dirs) { /* the distinct parent directories, in the order first seen */
		g.dirs = calloc(g.nfiles, sizeof(*g.dirs));
		if (!g.dirs)
			return -1;
		for (size_t i = 0; i < g.nfiles; i++) {
			const char *slash = strrchr(g.files[i].path, '/');
			char *d = strndup(
				g.files[i].path,
				slash == g.files[i].path ? 1 : (size_t)(slash - g.files[i].path));
			size_t j;
			for (j = 0; j < g.ndirs && strcmp(g.dirs[j], d) != 0; j++)
				;
			if (j < g.ndirs)
				free(d);
			else
				g.dirs[g.ndirs++] = d;
		}
	}
	return g.nfiles ? 0 : -1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kelp-files-bench --mode fs|path|http --list FILE [options]\n"
		"Read every file of FILE (lines \"PATH<TAB>SIZE\", filer paths) once, in a random\n"
		"order, with N threads; report files/s, MB/s, per-file latency, client CPU.\n"
		"\n"
		"  -m, --mode MODE       fs: open/read/close under --dir; path: libkelp's path "
		"API\n"
		"                        (--config); http: keep-alive GETs to --filer\n"
		"  -l, --list FILE       the files\n"
		"  -D, --dir DIR         fs: the mountpoint the paths are under\n"
		"  -c, --config FILE     path: kelp.conf of the kelpd to use\n"
		"  -f, --filer H:P       http: the filer\n"
		"  -t, --threads N       threads (default 8)\n"
		"  -s, --read-size B     bytes per read() / kelp_path_read (default 1048576)\n"
		"      --seed N          shuffle seed (default 1)\n"
		"      --list-dirs       path: list every directory of the files first (timed), as "
		"a\n"
		"                        data loader enumerates its data set\n"
		"      --wait-spin-us N  path: kelp_opts.wait_spin_us (default: libkelp's)\n"
		"  -L, --label TEXT      label in the JSON line\n"
		"  -h, --help            this text\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"mode", required_argument, NULL, 'm'},
		{"list", required_argument, NULL, 'l'},
		{"dir", required_argument, NULL, 'D'},
		{"config", required_argument, NULL, 'c'},
		{"filer", required_argument, NULL, 'f'},
		{"threads", required_argument, NULL, 't'},
		{"read-size", required_argument, NULL, 's'},
		{"seed", required_argument, NULL, 'S'},
		{"label", required_argument, NULL, 'L'},
		{"list-dirs", no_argument, NULL, 'Y'},
		{"wait-spin-us", required_argument, NULL, 'W'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *mode = NULL, *list = NULL;
	int opt;
	while ((opt = getopt_long(argc, argv, "m:l:D:c:f:t:s:L:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			mode = optarg;
			break;
		case 'l':
			list = optarg;
			break;
		case 'D':
			g.dir = optarg;
			break;
		case 'c':
			g.config = optarg;
			break;
		case 'f':
			g.filer = optarg;
			break;
		case 't':
			g.threads = (unsigned)atoi(optarg);
			break;
		case 's':
			g.read_size = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'S':
			g.seed = (unsigned)atoi(optarg);
			break;
		case 'L':
			g.label = optarg;
			break;
		case 'W':
			g.wait_spin_us = (int32_t)atoi(optarg);
			break;
		case 'Y':
			g.list_dirs = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!mode || !list || g.threads < 1 || g.read_size < 4096) {
		usage(stderr);
		return 2;
	}
	if (strcmp(mode, "fs") == 0 && g.dir)
		g.mode = MODE_FS;
	else if (strcmp(mode, "path") == 0)
		g.mode = MODE_PATH;
	else if (strcmp(mode, "http") == 0 && g.filer) {
		g.mode = MODE_HTTP;
		const char *colon = strrchr(g.filer, ':');
		if (!colon || (size_t)(colon - g.filer) >= sizeof(g.host)) {
			fprintf(stderr, "kelp-files-bench: --filer HOST:PORT\n");
			return 2;
		}
		memcpy(g.host, g.filer, (size_t)(colon - g.filer));
		g.port = (uint16_t)atoi(colon + 1);
	} else {
		usage(stderr);
		return 2;
	}
	if (g.list_dirs && g.mode != MODE_PATH) {
		fprintf(stderr, "kelp-files-bench: --list-dirs is for --mode path\n");
		return 2;
	}
	if (load_list(list) != 0) {
		fprintf(stderr, "kelp-files-bench: no files in %s\n", list);
		return 1;
	}
	struct worker *w = calloc(g.threads, sizeof(*w));
	if (!w)
		return 1;
	uint64_t setup0 = now_ns();
	for (unsigned i = 0; i < g.threads; i++)
		if (worker_setup(&w[i]) != 0)
			return 1;
	double setup_secs = (now_ns() - setup0) / 1e9;
	struct rusage r0, r1;
	getrusage(RUSAGE_SELF, &r0);
	uint64_t t0 = now_ns();
	for (unsigned i = 0; i < g.threads; i++)
		pthread_create(&w[i].tid, NULL, worker_main, &w[i]);
	uint64_t files = 0, bytes = 0, errors = 0, short_reads = 0;
	int first_err = 0;
	struct kelp_hist *h = calloc(1, sizeof(*h));
	kelp_hist_init(h);
	for (unsigned i = 0; i < g.threads; i++) {
		pthread_join(w[i].tid, NULL);
		files += w[i].files;
		bytes += w[i].bytes;
		errors += w[i].errors;
		short_reads += w[i].short_reads;
		if (!first_err)
			first_err = w[i].first_err;
		kelp_hist_merge(h, &w[i].hist);
	}
	double secs = (now_ns() - t0) / 1e9;
	getrusage(RUSAGE_SELF, &r1);
	double cpu = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) +
		     (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6 +
		     (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
		     (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
	for (unsigned i = 0; i < g.threads; i++)
		worker_teardown(&w[i]);
	printf("{\"mode\":\"%s\",\"label\":\"%s\",\"threads\":%u,\"files\":%" PRIu64
	       ",\"bytes\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"first_error\":\"%s\","
	       "\"wrong_size\":%" PRIu64 ",\"seconds\":%.4f,\"files_per_sec\":%.1f,"
	       "\"mb_per_sec\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"client_cpu_s\":%.4f,"
	       "\"setup_seconds\":%.4f,\"files_per_sec_with_setup\":%.1f}\n",
	       mode, g.label ? g.label : mode, g.threads, files, bytes, errors,
	       first_err ? strerror(first_err) : "", short_reads, secs, files / secs,
	       bytes / secs / 1e6, kelp_hist_percentile(h, 50) / 1e3,
	       kelp_hist_percentile(h, 99) / 1e3, cpu, setup_secs, files / (secs + setup_secs));
	free(h);
	free(w);
	return errors || short_reads ? 1 : 0;
}
