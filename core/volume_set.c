/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The volumes of the exported directories, for lock-free lookups by volume id.
 *
 * Readers see an immutable table (volumes sorted by id) through one atomic pointer. The control
 * thread builds a new table whenever volumes come, go or are replaced, publishes it with a release
 * store, and retires the old table and the replaced volumes: through the epoch when one is
 * attached, else onto a list freed at close.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/epoch.h"
#include "core/volume.h"

struct vol_table {
	size_t count;
	struct kelp_volume *vols[]; /* sorted by id */
};

/* Something replaced, waiting to be freed (no epoch attached). */
struct graveyard {
	struct graveyard *next;
	void (*fn)(void *);
	void *p;
};

/* A .dat that failed to open, remembered so it is not retried (and reported) until it changes. */
struct bad_file {
	struct bad_file *next;
	ino_t ino;
	off_t size;
	char path[];
};

struct kelp_volume_set {
	struct vol_table *table; /* atomic: readers load it with acquire */
	/* control thread */
	char **dirs;
	size_t ndirs;
	struct timespec *dir_mtime;
	void (*warn)(void *arg, const char *msg);
	void *warn_arg;
	struct kelp_epoch *epoch;
	struct graveyard *graveyard;
	struct bad_file *bad;
};

static void warnf(const struct kelp_volume_set *set, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void warnf(const struct kelp_volume_set *set, const char *fmt, ...)
{
	char msg[PATH_MAX + 256];
	va_list ap;
	if (!set->warn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	set->warn(set->warn_arg, msg);
}

static int cmp_vol(const void *a, const void *b)
{
	uint32_t x = kelp_volume_id(*(struct kelp_volume *const *)a);
	uint32_t y = kelp_volume_id(*(struct kelp_volume *const *)b);
	return x < y ? -1 : x > y;
}

/* Hand @p to the epoch, or to the graveyard when there is none (or no memory for the epoch). */
static void retire(void *ctx, void (*fn)(void *), void *p)
{
	struct kelp_volume_set *set = ctx;
	if (set->epoch && kelp_epoch_retire(set->epoch, fn, p) == 0)
		return;
	struct graveyard *g = malloc(sizeof(*g));
	if (!g) {
		/* nowhere to keep it: leaking is safe, freeing under a reader is not */
		warnf(set, "out of memory: a replaced volume version is leaked");
		return;
	}
	*g = (struct graveyard){set->graveyard, fn, p};
	set->graveyard = g;
}

static void close_volume(void *p)
{
	kelp_volume_close(p);
}

/* ---- scanning directories (control thread) ------------------------------------------------ */

static bool is_bad(struct kelp_volume_set *set, const char *path, const struct stat *st)
{
	for (struct bad_file *b = set->bad; b; b = b->next)
		if (strcmp(b->path, path) == 0) {
			if (b->ino == st->st_ino && b->size == st->st_size)
				return true;
			b->ino = 0; /* changed: try again, report again if still bad */
			b->size = -1;
			return false;
		}
	return false;
}

static void mark_bad(struct kelp_volume_set *set, const char *path, const struct stat *st)
{
	for (struct bad_file *b = set->bad; b; b = b->next)
		if (strcmp(b->path, path) == 0) {
			b->ino = st->st_ino;
			b->size = st->st_size;
			return;
		}
	struct bad_file *b = malloc(sizeof(*b) + strlen(path) + 1);
	if (!b)
		return;
	b->ino = st->st_ino;
	b->size = st->st_size;
	strcpy(b->path, path);
	b->next = set->bad;
	set->bad = b;
}

static void forget_bad(struct kelp_volume_set *set, const char *path)
{
	for (struct bad_file **pp = &set->bad; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->path, path) == 0) {
			struct bad_file *b = *pp;
			*pp = b->next;
			free(b);
			return;
		}
}

/* A growable array of volumes being assembled into a table. */
struct vol_list {
	struct kelp_volume **v;
	size_t n, cap;
};

static int list_add(struct vol_list *l, struct kelp_volume *v)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct kelp_volume **n = realloc(l->v, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		l->v = n;
		l->cap = cap;
	}
	l->v[l->n++] = v;
	return 0;
}

static bool list_has_path(const struct vol_list *l, const char *path)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(kelp_volume_dat_path(l->v[i]), path) == 0)
			return true;
	return false;
}

/*
 * Open every *.dat in set->dirs[d] that @have does not hold yet, appending to @have.
 * @quiet: a file too short to be a volume yet (a volume server creating it) is skipped silently,
 * and *@incomplete set so the directory is scanned again.
 * @return volumes added, or -ENOMEM.
 */
static int scan_dir(struct kelp_volume_set *set, size_t d, struct vol_list *have, bool quiet,
		    bool *incomplete)
{
	const char *dir = set->dirs[d];
	DIR *dh = opendir(dir);
	if (!dh) {
		if (!quiet)
			warnf(set, "%s: cannot open directory: %s", dir, strerror(errno));
		return 0; /* the other directories are still served */
	}
	int added = 0;
	struct dirent *de;
	while ((de = readdir(dh))) {
		size_t n = strlen(de->d_name);
		if (n < 5 || strcmp(de->d_name + n - 4, ".dat") != 0)
			continue;
		char path[PATH_MAX];
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path)) {
			warnf(set, "%s/%s: path too long, skipped", dir, de->d_name);
			continue;
		}
		struct stat st;
		if (list_has_path(have, path) || stat(path, &st) || is_bad(set, path, &st))
			continue;
		struct kelp_volume *v;
		int rc = kelp_volume_open(path, &v);
		if (rc) {
			if (rc == -ENOMEM) {
				closedir(dh);
				return rc;
			}
			/* a volume being created is shorter than a superblock for a moment */
			if (quiet && rc == -EINVAL && st.st_size < 8) {
				*incomplete = true;
			} else {
				warnf(set, "%s: not served: %s", path, strerror(-rc));
				mark_bad(set, path, &st);
			}
			continue;
		}
		forget_bad(set, path);
		if (list_add(have, v)) {
			kelp_volume_close(v);
			closedir(dh);
			return -ENOMEM;
		}
		added++;
	}
	closedir(dh);
	return added;
}

/* Sort @l, drop duplicate ids (keeping the first found), and make it a table. NULL: no memory. */
static struct vol_table *make_table(struct kelp_volume_set *set, struct vol_list *l,
				    const struct vol_table *old)
{
	if (l->n > 1) /* qsort(NULL, 0, ...) is undefined */
		qsort(l->v, l->n, sizeof(*l->v), cmp_vol);
	size_t w = 0;
	for (size_t i = 0; i < l->n; i++) {
		if (w && kelp_volume_id(l->v[w - 1]) == kelp_volume_id(l->v[i])) {
			/* the same id twice (two dirs, or collections): keep the one already served
			 */
			struct kelp_volume *keep = l->v[w - 1], *drop = l->v[i];
			for (size_t j = 0; old && j < old->count; j++)
				if (old->vols[j] == drop) {
					keep = drop;
					drop = l->v[w - 1];
				}
			warnf(set, "%s: volume %u already served from %s, skipped",
			      kelp_volume_dat_path(drop), kelp_volume_id(drop),
			      kelp_volume_dat_path(keep));
			l->v[w - 1] = keep;
			struct stat st;
			if (stat(kelp_volume_dat_path(drop), &st) == 0)
				mark_bad(set, kelp_volume_dat_path(drop), &st);
			/* never served if it is new; if it was served, readers may hold it */
			bool was_served = false;
			for (size_t j = 0; old && j < old->count; j++)
				was_served |= old->vols[j] == drop;
			if (was_served)
				retire(set, close_volume, drop);
			else
				kelp_volume_close(drop);
			continue;
		}
		l->v[w++] = l->v[i];
	}
	l->n = w;
	struct vol_table *t = malloc(sizeof(*t) + w * sizeof(t->vols[0]));
	if (!t)
		return NULL;
	t->count = w;
	if (w) /* l->v is NULL when no volume was ever found (memcpy's arguments must not be) */
		memcpy(t->vols, l->v, w * sizeof(t->vols[0]));
	return t;
}

/* ---- open / close ------------------------------------------------------------------------- */

int kelp_volume_set_open(const char *const *dirs, size_t ndirs,
			 void (*warn)(void *arg, const char *msg), void *warn_arg,
			 struct kelp_volume_set **out)
{
	struct kelp_volume_set *set = calloc(1, sizeof(*set));
	struct vol_list l = {0};
	int rc = -ENOMEM;
	if (!set)
		return -ENOMEM;
	set->warn = warn;
	set->warn_arg = warn_arg;
	set->dirs = calloc(ndirs ? ndirs : 1, sizeof(*set->dirs));
	set->dir_mtime = calloc(ndirs ? ndirs : 1, sizeof(*set->dir_mtime));
	if (!set->dirs || !set->dir_mtime)
		goto fail;
	for (size_t d = 0; d < ndirs; d++) {
		if (!(set->dirs[d] = strdup(dirs[d])))
			goto fail;
		set->ndirs++;
		/* dir_mtime stays 0: the first refresh scans again (see the coarse-mtime note
		 * there) */
		bool incomplete = false;
		if (scan_dir(set, d, &l, false, &incomplete) < 0)
			goto fail;
	}
	set->table = make_table(set, &l, NULL);
	if (!set->table)
		goto fail;
	free(l.v);
	*out = set;
	return 0;
fail:
	for (size_t i = 0; i < l.n; i++)
		kelp_volume_close(l.v[i]);
	free(l.v);
	kelp_volume_set_close(set);
	return rc;
}

void kelp_volume_set_close(struct kelp_volume_set *set)
{
	if (!set)
		return;
	if (set->table) {
		for (size_t i = 0; i < set->table->count; i++)
			kelp_volume_close(set->table->vols[i]);
		free(set->table);
	}
	/* the epoch may still hold retired versions: the caller frees the epoch after the set */
	while (set->graveyard) {
		struct graveyard *g = set->graveyard;
		set->graveyard = g->next;
		g->fn(g->p);
		free(g);
	}
	while (set->bad) {
		struct bad_file *b = set->bad;
		set->bad = b->next;
		free(b);
	}
	for (size_t d = 0; d < set->ndirs; d++)
		free(set->dirs[d]);
	free(set->dirs);
	free(set->dir_mtime);
	free(set);
}

void kelp_volume_set_use_epoch(struct kelp_volume_set *set, struct kelp_epoch *ep)
{
	set->epoch = ep;
}

/* ---- refresh (control thread) ------------------------------------------------------------- */

int kelp_volume_set_refresh(struct kelp_volume_set *set)
{
	struct vol_table *old = set->table;
	struct vol_list l = {0};
	struct kelp_volume **gone = calloc(old->count ? old->count : 1, sizeof(*gone));
	size_t ngone = 0;
	int changes = 0, rc = 0;
	if (!gone)
		return -ENOMEM;

	for (size_t i = 0; i < old->count && !rc; i++) {
		struct kelp_volume *v = old->vols[i], *nv = NULL;
		int r = kelp_volume_check_replaced(v);
		if (r == 0) {
			int t = kelp_volume_tail(v, retire, set);
			if (t >= 0) {
				changes += t;
				rc = list_add(&l, v);
				continue;
			}
			if (t != -EAGAIN) {
				warnf(set, "%s: cannot follow: %s", kelp_volume_dat_path(v),
				      strerror(-t));
				rc = list_add(&l, v);
				continue;
			}
			r = 1; /* reopen */
		}
		if (r == 1) {
			if (kelp_volume_fault_news(v))
				warnf(set,
				      "%s: a read hit a page the file no longer has (truncated "
				      "under kelpd?): that read failed with EIO; opening it again",
				      kelp_volume_dat_path(v));
			int o = kelp_volume_open(kelp_volume_dat_path(v), &nv);
			if (o) {
				/* e.g. caught between the two renames of a vacuum: keep serving the
				 * old pair */
				if (o != -ENOENT)
					warnf(set,
					      "%s: replaced, but the new files do not open yet: %s",
					      kelp_volume_dat_path(v), strerror(-o));
				rc = list_add(&l, v);
				continue;
			}
			rc = list_add(&l, nv);
			if (rc) {
				kelp_volume_close(nv);
				rc = list_add(&l,
					      v); /* may fail too: then the set stays as it was */
				continue;
			}
			gone[ngone++] = v;
			changes++;
			continue;
		}
		/* r < 0: .dat removed (deleted, moved, EC-encoded, tiered): stop serving it */
		warnf(set, "%s: gone (%s), no longer served", kelp_volume_dat_path(v),
		      strerror(-r));
		gone[ngone++] = v;
		changes++;
	}

	/* new volumes, only in directories whose mtime moved (a new file changes it) */
	for (size_t d = 0; d < set->ndirs && !rc; d++) {
		struct stat st;
		if (stat(set->dirs[d], &st) || (st.st_mtim.tv_sec == set->dir_mtime[d].tv_sec &&
						st.st_mtim.tv_nsec == set->dir_mtime[d].tv_nsec))
			continue;
		bool incomplete = false;
		int added = scan_dir(set, d, &l, true, &incomplete);
		if (added < 0) {
			rc = added;
			break;
		}
		/* a volume being created is looked at again next time; bad files are remembered.
		 * File times are coarse (a scheduler tick): an mtime from the last second may not
		 * change for a file created right after this scan, so it is not trusted yet. */
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		if (!incomplete && now.tv_sec - st.st_mtim.tv_sec > 1)
			set->dir_mtime[d] = st.st_mtim;
		changes += added;
	}

	bool membership = ngone > 0 || l.n != old->count;
	for (size_t i = 0; !membership && i < l.n; i++)
		membership = l.v[i] != old->vols[i];
	if (rc) {
		/* out of memory: undo this round's new volumes, keep the old table */
		for (size_t i = 0; i < l.n; i++) {
			bool in_old = false;
			for (size_t j = 0; j < old->count; j++)
				in_old |= l.v[i] == old->vols[j];
			if (!in_old)
				kelp_volume_close(l.v[i]);
		}
		changes = rc;
	} else if (membership) {
		struct vol_table *t = make_table(set, &l, old);
		if (!t) {
			changes = -ENOMEM;
		} else {
			/* pairs with the acquire load in kelp_volume_set_find */
			__atomic_store_n(&set->table, t, __ATOMIC_RELEASE);
			retire(set, free, old);
			for (size_t i = 0; i < ngone; i++)
				retire(set, close_volume, gone[i]);
		}
	}
	free(l.v);
	free(gone);
	if (set->epoch)
		kelp_epoch_reclaim(set->epoch);
	return changes;
}

/* ---- readers (any thread) ----------------------------------------------------------------- */

static const struct vol_table *table_of(const struct kelp_volume_set *set)
{
	return __atomic_load_n(&set->table, __ATOMIC_ACQUIRE);
}

struct kelp_volume *kelp_volume_set_find(const struct kelp_volume_set *set, uint32_t vid)
{
	const struct vol_table *t = table_of(set);
	size_t lo = 0, hi = t->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t id = kelp_volume_id(t->vols[mid]);
		if (id == vid)
			return t->vols[mid];
		if (id < vid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

size_t kelp_volume_set_count(const struct kelp_volume_set *set)
{
	return table_of(set)->count;
}

struct kelp_volume *kelp_volume_set_at(const struct kelp_volume_set *set, size_t i)
{
	const struct vol_table *t = table_of(set);
	return i < t->count ? t->vols[i] : NULL;
}
