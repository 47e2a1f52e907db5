/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The needles kelp-bench reads: every live needle of the volumes in --volume-dir (found through
 * core's volume store, the same index kelpd uses), optionally narrowed to the fids of --fids FILE;
 * or just the fids of the file when no volume directory is given (then sizes are unknown).
 * Main thread only.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/kelp-bench/bench.h"
#include "core/needle.h"
#include "core/volume.h"

static int push_target(struct bench_targets *out, size_t *cap, const struct bench_target *t)
{
	if (out->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 1024;
		struct bench_target *nv = realloc(out->v, ncap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		out->v = nv;
		*cap = ncap;
	}
	out->v[out->n++] = *t;
	return 0;
}

static int push_ptr(void ***arr, size_t *n, void *p)
{
	void **na = realloc(*arr, (*n + 1) * sizeof(*na));
	if (!na)
		return -ENOMEM;
	na[(*n)++] = p;
	*arr = na;
	return 0;
}

/* Fill @t's file location from the volume: header-checked through kelp_volume_find(). */
static int locate(const struct kelp_volume *v, int fd, const struct kelp_fid *fid,
		  struct bench_target *t)
{
	struct kelp_needle_ref ref;
	int rc = kelp_volume_find(v, fid, &ref);
	if (rc < 0)
		return rc;
	t->fid = *fid;
	kelp_fid_format(fid, t->fid_str, sizeof(t->fid_str));
	t->dat_fd = fd;
	/* ref.data points into the .dat mapping, so its distance from the start is the file offset
	 */
	t->data_off =
		ref.data_size ? (uint64_t)(ref.data - kelp_volume_dat_map(v)) : ref.dat_offset;
	t->data_size = ref.data_size;
	t->stored_crc = ref.stored_crc;
	t->has_crc = true;
	t->server = 0;
	return 0;
}

/* Every live needle of @v, in index order. */
static int add_volume_needles(struct kelp_volume *v, int fd, struct bench_targets *out, size_t *cap)
{
	const uint8_t *map = kelp_volume_dat_map(v);
	uint64_t dat_size = kelp_volume_dat_size(v);
	uint64_t cursor = 0, key, off;
	while (kelp_volume_next(v, &cursor, &key, &off) == 1) {
		struct kelp_fid fid = {.volume_id = kelp_volume_id(v), .key = key};
		uint64_t hkey;
		uint32_t hsize;
		if (off + KELP_NEEDLE_HEADER_SIZE > dat_size ||
		    kelp_needle_parse_header(map + off, KELP_NEEDLE_HEADER_SIZE, &fid.cookie, &hkey,
					     &hsize) < 0 ||
		    hkey != key) {
			fprintf(stderr,
				"kelp-bench: %s: needle %llx: bad record header at %llu, skipped\n",
				kelp_volume_dat_path(v), (unsigned long long)key,
				(unsigned long long)off);
			continue;
		}
		struct bench_target t;
		int rc = locate(v, fd, &fid, &t);
		if (rc < 0) {
			fprintf(stderr, "kelp-bench: %s: needle %llx: %s, skipped\n",
				kelp_volume_dat_path(v), (unsigned long long)key, strerror(-rc));
			continue;
		}
		if ((rc = push_target(out, cap, &t)) < 0)
			return rc;
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Open every *.dat directly in @dir (sorted by name, so runs are repeatable). */
static int open_dir(const char *dir, struct bench_targets *out)
{
	DIR *d = opendir(dir);
	if (!d) {
		int e = errno;
		fprintf(stderr, "kelp-bench: cannot open volume directory %s: %s\n", dir,
			strerror(e));
		return -e;
	}
	char **names = NULL;
	size_t n = 0;
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l > 4 && strcmp(de->d_name + l - 4, ".dat") == 0) {
			char *p;
			if (asprintf(&p, "%s/%s", dir, de->d_name) < 0 ||
			    push_ptr((void ***)&names, &n, p) < 0) {
				rc = -ENOMEM;
				break;
			}
		}
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct kelp_volume *v;
		int orc = kelp_volume_open(names[i], &v);
		if (orc < 0) {
			fprintf(stderr, "kelp-bench: skipping %s: %s\n", names[i], strerror(-orc));
			continue;
		}
		int fd = open(names[i], O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			rc = -errno;
			fprintf(stderr, "kelp-bench: cannot open %s: %s\n", names[i],
				strerror(errno));
			kelp_volume_close(v);
			break;
		}
		if (push_ptr((void ***)&out->volumes, &out->nvolumes, v) < 0) {
			kelp_volume_close(v);
			close(fd);
			rc = -ENOMEM;
			break;
		}
		int *nf = realloc(out->fds, (out->nfds + 1) * sizeof(*nf));
		if (!nf) {
			close(fd);
			rc = -ENOMEM;
			break;
		}
		out->fds = nf;
		out->fds[out->nfds++] = fd;
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

static struct kelp_volume *find_volume(const struct bench_targets *tg, uint32_t vid, int *fd)
{
	for (size_t i = 0; i < tg->nvolumes; i++) {
		if (kelp_volume_id(tg->volumes[i]) == vid) {
			*fd = tg->fds[i];
			return tg->volumes[i];
		}
	}
	return NULL;
}

/* Read --fids FILE: each fid resolved against the open volumes when there are any. */
static int load_fids_file(const char *path, struct bench_targets *out, size_t *cap)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		int e = errno;
		fprintf(stderr, "kelp-bench: cannot open fids file %s: %s\n", path, strerror(e));
		return -e;
	}
	char *line = NULL;
	size_t lcap = 0;
	ssize_t len;
	unsigned lineno = 0;
	int rc = 0;
	while ((len = getline(&line, &lcap, f)) >= 0) {
		lineno++;
		char *s = line;
		while (*s == ' ' || *s == '\t')
			s++;
		size_t l = strcspn(s, " \t\r\n");
		if (l == 0 || *s == '#')
			continue;
		struct bench_target t = {.dat_fd = -1};
		if (kelp_fid_parse(s, l, &t.fid) < 0) {
			fprintf(stderr,
				"kelp-bench: %s:%u: '%.*s' is not a file id (like 3,01637037d6)\n",
				path, lineno, (int)l, s);
			rc = -EINVAL;
			break;
		}
		kelp_fid_format(&t.fid, t.fid_str, sizeof(t.fid_str));
		if (out->nvolumes) {
			int fd;
			struct kelp_volume *v = find_volume(out, t.fid.volume_id, &fd);
			int lrc = v ? locate(v, fd, &t.fid, &t) : -ENOENT;
			if (lrc < 0) {
				fprintf(stderr,
					"kelp-bench: %s:%u: %s is not a readable needle of the "
					"volume "
					"directories: %s\n",
					path, lineno, t.fid_str,
					v ? strerror(-lrc) : "no such volume");
				rc = lrc;
				break;
			}
		}
		if ((rc = push_target(out, cap, &t)) < 0)
			break;
	}
	free(line);
	fclose(f);
	return rc;
}

int bench_targets_load(const struct bench_opts *o, struct bench_targets *out)
{
	size_t cap = 0;
	int rc = 0;
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < o->nvolume_dirs && rc == 0; i++)
		rc = open_dir(o->volume_dirs[i], out);
	if (rc == 0 && o->fids_path)
		rc = load_fids_file(o->fids_path, out, &cap);
	else
		for (size_t i = 0; i < out->nvolumes && rc == 0; i++)
			rc = add_volume_needles(out->volumes[i], out->fds[i], out, &cap);
	if (rc == 0 && out->n == 0) {
		fprintf(stderr, "kelp-bench: no needles to read in %s\n",
			o->fids_path ? o->fids_path : "the volume directories (no live needles)");
		rc = -ENOENT;
	}
	if (rc < 0)
		bench_targets_free(out);
	return rc;
}

void bench_targets_free(struct bench_targets *tg)
{
	for (size_t i = 0; i < tg->nfds; i++)
		close(tg->fds[i]);
	for (size_t i = 0; i < tg->nvolumes; i++)
		kelp_volume_close(tg->volumes[i]);
	free(tg->fds);
	free(tg->volumes);
	free(tg->v);
	memset(tg, 0, sizeof(*tg));
}
