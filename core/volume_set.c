/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The volumes of the exported directories, sorted by volume id for binary-search lookups.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/volume.h"

struct kelp_volume_set {
	struct kelp_volume **vols; /* sorted by id */
	size_t count;
	size_t cap;
};

static void warnf(void (*warn)(void *, const char *), void *arg, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void warnf(void (*warn)(void *, const char *), void *arg, const char *fmt, ...)
{
	char msg[PATH_MAX + 256];
	va_list ap;
	if (!warn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	warn(arg, msg);
}

static int cmp_vol(const void *a, const void *b)
{
	uint32_t x = kelp_volume_id(*(struct kelp_volume *const *)a);
	uint32_t y = kelp_volume_id(*(struct kelp_volume *const *)b);
	return x < y ? -1 : x > y;
}

static int add_volume(struct kelp_volume_set *set, struct kelp_volume *v)
{
	if (set->count == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 16;
		struct kelp_volume **n = realloc(set->vols, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		set->vols = n;
		set->cap = cap;
	}
	set->vols[set->count++] = v;
	return 0;
}

static int open_dir(struct kelp_volume_set *set, const char *dir,
		    void (*warn)(void *, const char *), void *warn_arg)
{
	DIR *d = opendir(dir);
	if (!d) {
		int e = errno;
		warnf(warn, warn_arg, "%s: cannot open directory: %s", dir, strerror(e));
		return 0; /* the other directories are still served */
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (n < 5 || strcmp(de->d_name + n - 4, ".dat") != 0)
			continue;
		char path[PATH_MAX];
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path)) {
			warnf(warn, warn_arg, "%s/%s: path too long, skipped", dir, de->d_name);
			continue;
		}
		struct kelp_volume *v;
		int rc = kelp_volume_open(path, &v);
		if (rc) {
			warnf(warn, warn_arg, "%s: not served: %s", path, strerror(-rc));
			continue;
		}
		rc = add_volume(set, v);
		if (rc) {
			kelp_volume_close(v);
			closedir(d);
			return rc;
		}
	}
	closedir(d);
	return 0;
}

int kelp_volume_set_open(const char *const *dirs, size_t ndirs,
			 void (*warn)(void *arg, const char *msg), void *warn_arg,
			 struct kelp_volume_set **out)
{
	struct kelp_volume_set *set = calloc(1, sizeof(*set));
	if (!set)
		return -ENOMEM;
	for (size_t i = 0; i < ndirs; i++) {
		int rc = open_dir(set, dirs[i], warn, warn_arg);
		if (rc) {
			kelp_volume_set_close(set);
			return rc;
		}
	}
	if (set->count > 1) /* qsort(NULL, 0, ...) is undefined */
		qsort(set->vols, set->count, sizeof(*set->vols), cmp_vol);
	/* the same id twice (two dirs, or collections): keep the first, as a volume server would refuse */
	size_t w = 0;
	for (size_t i = 0; i < set->count; i++) {
		if (w && kelp_volume_id(set->vols[w - 1]) == kelp_volume_id(set->vols[i])) {
			warnf(warn, warn_arg, "%s: volume %u already served from %s, skipped",
			      kelp_volume_dat_path(set->vols[i]), kelp_volume_id(set->vols[i]),
			      kelp_volume_dat_path(set->vols[w - 1]));
			kelp_volume_close(set->vols[i]);
			continue;
		}
		set->vols[w++] = set->vols[i];
	}
	set->count = w;
	*out = set;
	return 0;
}

void kelp_volume_set_close(struct kelp_volume_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->count; i++)
		kelp_volume_close(set->vols[i]);
	free(set->vols);
	free(set);
}

struct kelp_volume *kelp_volume_set_find(const struct kelp_volume_set *set, uint32_t vid)
{
	size_t lo = 0, hi = set->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t id = kelp_volume_id(set->vols[mid]);
		if (id == vid)
			return set->vols[mid];
		if (id < vid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

size_t kelp_volume_set_count(const struct kelp_volume_set *set)
{
	return set->count;
}

struct kelp_volume *kelp_volume_set_at(const struct kelp_volume_set *set, size_t i)
{
	return i < set->count ? set->vols[i] : NULL;
}
