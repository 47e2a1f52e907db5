/* SPDX-License-Identifier: Apache-2.0 */
/* The export's registered volume regions for one-sided reads (export_map.h). */
#include "lcore/rdma/export_map.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/idx.h"
#include "core/log.h"
#include "core/superblock.h"
#include "core/volume.h"
#include "nic/conn.h"
#include "nic/mr.h"
#include "proto/rdma_msg.h"

#define PAGE 4096ull

enum reg_how { REG_NONE = 0, REG_RO, REG_RW, REG_ODP };

/* One registered .dat region (the current one of a volume, or a retired one in its grace), or an
 * .idx mapping (no MR) on its way to be unmapped. */
struct region {
	int fd;
	void *map;
	size_t len; /* mapped and registered bytes (whole pages) */
	struct ibv_mr *mr;
	uint64_t dereg_at; /* retired: when its grace ends (kelp_now_ns) */
};

/* Who owns a job (xvol.job): the lcore in JOB_IDLE and JOB_DONE, the helper in JOB_QUEUED. */
enum job_state { JOB_IDLE = 0, JOB_QUEUED, JOB_DONE };

/* One look at a volume's files and what it brought: filled in by the lcore (in), queued, run by
 * the helper (out), handed back with JOB_DONE, published by the lcore (export_map.h). */
struct job {
	struct job *next; /* in the helper's queue (under m->lock) */
	uint32_t state;	  /* enum job_state; passed with release stores */
	/* in */
	uint32_t vid;
	char dat_path[4096], idx_path[4096];
	int ob;
	bool have, same_vol; /* a region is registered; of the same volume set version */
	uint64_t dat_ino, idx_ino;
	size_t dat_len, idx_len;
	/* out */
	int rc; /* 0, or -EHOSTUNREACH: gone, or the registration was refused */
	uint64_t new_dat_ino, new_idx_ino;
	bool new_dat, new_idx;
	struct region dat, idx; /* when new_dat / new_idx */
};

struct xvol {
	uint32_t vid;
	const struct kelp_volume *vol; /* the volume set's version it was checked against (compared
					* only, never dereferenced) */
	uint64_t dat_ino, idx_ino;
	struct region dat;
	struct region idx; /* mapped (whole rows), no MR */
	uint64_t checked_at;
	uint64_t retry_at; /* after a refused registration */
	uint8_t desc[KELP_RDMA_VOLMAP_SIZE];
	bool ok;			   /* desc is valid */
	const struct kelp_volume *job_vol; /* the version the job in flight looks at */
	struct job job;
};

struct kelp_export_map {
	struct kelp_rdma_dev *dev;
	struct xvol **vols; /* each allocated once: the helper holds pointers to their jobs */
	size_t n, cap;
	uint64_t next_gen;
	/* the hand-over with the helper thread: the lock is held for list operations only, never
	 * across a system call, by either side */
	pthread_mutex_t lock;
	pthread_cond_t cond; /* the helper waits on it (CLOCK_MONOTONIC) */
	struct job *queue, **queue_tail;
	struct region *retired; /* the helper's: freed when their dereg_at passed */
	size_t n_retired, cap_retired;
	bool stop;
	pthread_t helper;
	bool helper_started;
	struct kelp_export_map_stats stats;
};

static void region_free(struct kelp_export_map *m, struct region *r)
{
	if (r->mr)
		kelp_rdma_dereg(m->dev, r->mr, "volume (one-sided reads)");
	if (r->map)
		munmap(r->map, r->len);
	if (r->fd >= 0)
		close(r->fd);
	*r = (struct region){.fd = -1};
}

/* Map and register @len bytes of the .dat at @path (export_map.h: read-only, read-write, ODP).
 * Helper thread. @return the way that worked (REG_NONE: none; @why names the last error). */
static enum reg_how region_register(struct kelp_export_map *m, const char *path, size_t len,
				    struct region *r, int *why)
{
	struct kelp_rdma_dev *dev = m->dev;
	const struct kelp_verbs_ops *ops = dev->ops;

	*r = (struct region){.fd = -1, .len = len};
	for (enum reg_how how = REG_RO; how <= REG_ODP; how++) {
		bool rw = how == REG_RW;
		int access = IBV_ACCESS_REMOTE_READ | (how == REG_ODP ? IBV_ACCESS_ON_DEMAND : 0);

		if (how == REG_ODP && !dev->odp_rc_read_dst)
			break;
		r->fd = open(path, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
		if (r->fd < 0) {
			*why = errno;
			continue;
		}
		r->map = mmap(NULL, len, PROT_READ | (rw ? PROT_WRITE : 0), MAP_SHARED, r->fd, 0);
		if (r->map == MAP_FAILED) {
			*why = errno;
			r->map = NULL;
			close(r->fd);
			r->fd = -1;
			continue;
		}
		r->mr = ops->reg_mr(dev->pd, r->map, len, access);
		if (r->mr)
			return how;
		*why = errno;
		munmap(r->map, len);
		close(r->fd);
		*r = (struct region){.fd = -1, .len = len};
	}
	return REG_NONE;
}

/* Map the first @len bytes of the .idx at @path read-only into @r. Helper thread. @return 0 or
 * -EHOSTUNREACH. */
static int idx_map(const char *path, size_t len, struct region *r)
{
	*r = (struct region){.fd = -1};
	if (!len)
		return 0;
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	r->map = r->fd < 0 ? MAP_FAILED : mmap(NULL, len, PROT_READ, MAP_SHARED, r->fd, 0);
	if (r->map == MAP_FAILED) {
		if (r->fd >= 0)
			close(r->fd);
		*r = (struct region){.fd = -1};
		return -EHOSTUNREACH;
	}
	r->len = len;
	return 0;
}

/* Look at @j's files and register / map what changed (export_map.h). Helper thread: the system
 * calls of a registration (stat, open, mmap, ibv_reg_mr) run here, never on the export lcore. */
static void job_run(struct kelp_export_map *m, struct job *j)
{
	struct stat dst, ist;

	j->rc = -EHOSTUNREACH;
	j->new_dat = j->new_idx = false;
	j->dat = j->idx = (struct region){.fd = -1};
	if (stat(j->dat_path, &dst) < 0 || stat(j->idx_path, &ist) < 0)
		return;
	bool same_files = j->have && j->same_vol && j->dat_ino == (uint64_t)dst.st_ino &&
			  j->idx_ino == (uint64_t)ist.st_ino;
	size_t dat_len = (size_t)((uint64_t)dst.st_size / PAGE * PAGE);
	size_t row = kelp_idx_row_size(j->ob);
	size_t idx_len = (size_t)((uint64_t)ist.st_size / row * row);

	j->new_dat_ino = dst.st_ino;
	j->new_idx_ino = ist.st_ino;
	if (!same_files || dat_len != j->dat_len) {
		int why = 0;
		enum reg_how how = dat_len ? region_register(m, j->dat_path, dat_len, &j->dat, &why)
					   : REG_NONE;

		if (how == REG_NONE) {
			if (dat_len)
				kelp_log_warn(
					"kelpd: RDMA export: cannot register volume %u (%s, %zu "
					"bytes) for one-sided reads: %s; its reads stay "
					"two-sided",
					j->vid, j->dat_path, dat_len, strerror(why));
			__atomic_fetch_add(&m->stats.refused, 1, __ATOMIC_RELAXED);
			return;
		}
		static const char *const names[] = {"", "pinned, read-only mapping",
						    "pinned, read-write mapping",
						    "on-demand paging"};
		if (!j->have || !same_files)
			kelp_log_info(
				"kelpd: RDMA export: volume %u (%s, %zu bytes) registered for "
				"one-sided reads: %s",
				j->vid, j->dat_path, dat_len, names[how]);
		__atomic_fetch_add(how == REG_RO   ? &m->stats.reg_ro
				   : how == REG_RW ? &m->stats.reg_rw
						   : &m->stats.reg_odp,
				   1, __ATOMIC_RELAXED);
		j->new_dat = true;
	}
	if (!same_files || idx_len != j->idx_len) {
		if (idx_map(j->idx_path, idx_len, &j->idx) < 0) {
			region_free(m, &j->dat); /* never published */
			j->new_dat = false;
			return;
		}
		j->new_idx = true;
	}
	j->rc = 0;
}

/* Hand @r to the helper, to be freed @grace_ns after @now. Export lcore (or the main thread once
 * the helper is gone: then freed now). */
static void region_retire(struct kelp_export_map *m, struct region *r, uint64_t now,
			  uint64_t grace_ns)
{
	if (!r->map && r->fd < 0)
		return;
	pthread_mutex_lock(&m->lock);
	if (m->n_retired == m->cap_retired) {
		size_t cap = m->cap_retired ? 2 * m->cap_retired : 16;
		struct region *nr = realloc(m->retired, cap * sizeof(*nr));

		if (!nr) {
			/* no memory to wait: freed now (readers of it fail over to HTTP) */
			pthread_mutex_unlock(&m->lock);
			region_free(m, r);
			return;
		}
		m->retired = nr;
		m->cap_retired = cap;
	}
	r->dereg_at = now + grace_ns;
	m->retired[m->n_retired++] = *r;
	pthread_cond_signal(&m->cond);
	pthread_mutex_unlock(&m->lock);
	if (r->mr)
		__atomic_fetch_add(&m->stats.retired, 1, __ATOMIC_RELAXED);
	*r = (struct region){.fd = -1};
}

/* The helper thread: runs queued jobs in order and frees retired regions when their grace ends. */
static void *helper_main(void *arg)
{
	struct kelp_export_map *m = arg;

	pthread_mutex_lock(&m->lock);
	while (!m->stop) {
		struct job *j = m->queue;

		if (j) {
			m->queue = j->next;
			if (!m->queue)
				m->queue_tail = &m->queue;
			pthread_mutex_unlock(&m->lock);
			job_run(m, j);
			__atomic_store_n(&j->state, JOB_DONE, __ATOMIC_RELEASE);
			pthread_mutex_lock(&m->lock);
			continue;
		}
		uint64_t now = kelp_now_ns(), next = UINT64_MAX;
		bool freed = false;

		for (size_t i = 0; i < m->n_retired; i++) {
			if (now >= m->retired[i].dereg_at) {
				struct region r = m->retired[i];

				m->retired[i] = m->retired[--m->n_retired];
				pthread_mutex_unlock(&m->lock);
				region_free(m, &r);
				pthread_mutex_lock(&m->lock);
				freed = true;
				break; /* the list may have changed meanwhile: look again */
			}
			if (m->retired[i].dereg_at < next)
				next = m->retired[i].dereg_at;
		}
		if (freed)
			continue;
		if (next == UINT64_MAX) {
			pthread_cond_wait(&m->cond, &m->lock);
		} else {
			struct timespec ts = {.tv_sec = (time_t)(next / 1000000000ull),
					      .tv_nsec = (long)(next % 1000000000ull)};

			pthread_cond_timedwait(&m->cond, &m->lock, &ts);
		}
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

int kelp_export_map_create(struct kelp_rdma_dev *dev, struct kelp_export_map **out)
{
	struct kelp_export_map *m = calloc(1, sizeof(*m));
	pthread_condattr_t ca;
	int rc;

	*out = NULL;
	if (!m)
		return -ENOMEM;
	m->dev = dev;
	m->next_gen = 1;
	m->queue_tail = &m->queue;
	pthread_mutex_init(&m->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cond, &ca);
	pthread_condattr_destroy(&ca);
	rc = pthread_create(&m->helper, NULL, helper_main, m);
	if (rc) {
		kelp_export_map_destroy(m);
		return -rc;
	}
	m->helper_started = true;
	*out = m;
	return 0;
}

static struct xvol *xvol_get(struct kelp_export_map *m, uint32_t vid)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->vols[i]->vid == vid)
			return m->vols[i];
	if (m->n == KELP_EXPORT_MAP_MAX_VOLS)
		return NULL;
	if (m->n == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 16;
		struct xvol **nv = realloc(m->vols, cap * sizeof(*nv));

		if (!nv)
			return NULL;
		m->vols = nv;
		m->cap = cap;
	}
	struct xvol *x = malloc(sizeof(*x));

	if (!x)
		return NULL;
	*x = (struct xvol){.vid = vid, .dat = {.fd = -1}, .idx = {.fd = -1}};
	m->vols[m->n++] = x;
	return x;
}

/* Ask the helper to look at @vol's files for @x (export_map.h). Export lcore. @return 0, or
 * -EHOSTUNREACH when @vol cannot be offered at all. */
static int xvol_queue(struct kelp_export_map *m, struct xvol *x, const struct kelp_volume *vol)
{
	const char *dat_path = kelp_volume_dat_path(vol);
	const struct kelp_superblock *sb = kelp_volume_superblock(vol);
	int ob = kelp_volume_offset_bytes(vol);
	struct job *j = &x->job;
	size_t plen = strlen(dat_path);

	if (ob == 0 || sb->version < 2 || plen < 4 || plen >= sizeof(j->dat_path))
		return -EHOSTUNREACH;
	memcpy(j->dat_path, dat_path, plen + 1);
	memcpy(j->idx_path, dat_path, plen - 4);
	memcpy(j->idx_path + plen - 4, ".idx", 5);
	j->vid = x->vid;
	j->ob = ob;
	j->have = x->dat.mr != NULL;
	j->same_vol = x->vol == vol;
	j->dat_ino = x->dat_ino;
	j->idx_ino = x->idx_ino;
	j->dat_len = x->dat.len;
	j->idx_len = x->idx.len;
	j->next = NULL;
	x->job_vol = vol;
	j->state = JOB_QUEUED; /* published by the unlock */
	pthread_mutex_lock(&m->lock);
	*m->queue_tail = j;
	m->queue_tail = &j->next;
	pthread_cond_signal(&m->cond);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

/* The helper finished @x's job: make what it registered / mapped current (the old region waits
 * out its grace, the old .idx mapping is unmapped by the helper) and describe it. Export lcore.
 * @return 0 or -EHOSTUNREACH. */
static int xvol_publish(struct kelp_export_map *m, struct xvol *x, const struct kelp_volume *vol,
			uint64_t now)
{
	struct job *j = &x->job;

	j->state = JOB_IDLE;
	if (j->rc < 0) {
		/* gone or refused: not offered for a while (a registration made earlier stays
		 * until the next one replaces it, or the end) */
		x->ok = false;
		x->retry_at = now + KELP_EXPORT_MAP_GRACE_MS * 1000000ull;
		return -EHOSTUNREACH;
	}
	if (j->new_dat) {
		region_retire(m, &x->dat, now, KELP_EXPORT_MAP_GRACE_MS * 1000000ull);
		x->dat = j->dat;
		x->dat_ino = j->new_dat_ino;
		x->ok = false; /* a new generation */
	}
	if (j->new_idx) {
		/* IDX answers were copied out in their poll round: unmapped now */
		region_retire(m, &x->idx, now, 0);
		x->idx = j->idx;
		x->idx_ino = j->new_idx_ino;
	}
	x->vol = x->job_vol;
	x->checked_at = now;

	const struct kelp_superblock *sb = kelp_volume_superblock(vol);
	struct kelp_rdma_volmap vm = {
		.volume_id = x->vid,
		.generation = m->next_gen,
		.dat_addr = (uintptr_t)x->dat.map,
		.dat_len = x->dat.len,
		.dat_rkey = x->dat.mr->rkey,
		.file_id = (uint32_t)(x->dat_ino * 2654435761u) ^ (uint32_t)x->idx_ino ^
			   (uint32_t)sb->compact_revision << 16,
		.idx_len = x->idx.len,
		.offset_bytes = (uint8_t)j->ob,
		.version = sb->version,
	};
	if (x->ok) {
		struct kelp_rdma_volmap old;

		kelp_rdma_volmap_parse(x->desc, sizeof(x->desc), &old);
		vm.generation = old.generation; /* the same region */
	} else {
		m->next_gen++;
	}
	kelp_rdma_volmap_encode(&vm, x->desc, sizeof(x->desc));
	x->ok = true;
	return 0;
}

int kelp_export_map_meta(struct kelp_export_map *m, const struct kelp_volume_set *set,
			 uint8_t opcode, uint32_t vid, uint64_t now_ns,
			 struct kelp_rdma_source *src)
{
	struct kelp_volume *vol = kelp_volume_set_find(set, vid);
	struct xvol *x;

	if (!vol)
		return -EHOSTUNREACH;
	x = xvol_get(m, vid);
	if (!x)
		return -EHOSTUNREACH;
	if (opcode == KELP_RDMA_OP_IDX) {
		if (!x->ok || !x->idx.map)
			return -EHOSTUNREACH;
		*src = (struct kelp_rdma_source){
			.data = x->idx.map, .size = (uint32_t)x->idx.len, .use_bounce = true};
		return 0;
	}
	uint32_t st = __atomic_load_n(&x->job.state, __ATOMIC_ACQUIRE);

	if (st == JOB_DONE) {
		/* the volume set may have moved on meanwhile: published for the version looked at;
		 * x->vol != vol then makes the next MAP look again */
		if (xvol_publish(m, x, vol, now_ns) < 0)
			return -EHOSTUNREACH;
		st = JOB_IDLE;
	}
	if (now_ns < x->retry_at)
		return -EHOSTUNREACH;
	if (st == JOB_IDLE && (!x->ok || x->vol != vol ||
			       now_ns - x->checked_at >= KELP_EXPORT_MAP_CHECK_MS * 1000000ull)) {
		if (xvol_queue(m, x, vol) < 0) {
			x->ok = false;
			return -EHOSTUNREACH;
		}
	}
	if (!x->ok)
		return -EBUSY; /* the first registration is under way: ask again soon */
	/* the current region meanwhile: the new one is described once it is registered */
	*src = (struct kelp_rdma_source){
		.data = x->desc, .size = KELP_RDMA_VOLMAP_SIZE, .use_bounce = true};
	return 0;
}

int kelp_export_map_source(const struct kelp_export_map *m, const struct kelp_volume *vol,
			   struct kelp_rdma_source *src)
{
	const uint8_t *base = kelp_volume_dat_map(vol);
	uint32_t vid = kelp_volume_id(vol);

	for (size_t i = 0; i < m->n; i++) {
		const struct xvol *x = m->vols[i];

		if (x->vid != vid)
			continue;
		/* the same volume set version = the same files as registered (xvol_refresh) */
		if (!x->ok || x->vol != vol || !x->dat.mr || src->data < base)
			return 0;
		uint64_t off = (uint64_t)(src->data - base);
		if (off + src->size > x->dat.len)
			return 0;
		src->data = (const uint8_t *)x->dat.map + off;
		src->lkey = x->dat.mr->lkey;
		src->use_bounce = false;
		src->owner = NULL; /* pinned pages cannot fault */
		return 1;
	}
	return 0;
}

void kelp_export_map_stats(const struct kelp_export_map *m, struct kelp_export_map_stats *out)
{
	out->reg_ro = __atomic_load_n(&m->stats.reg_ro, __ATOMIC_RELAXED);
	out->reg_rw = __atomic_load_n(&m->stats.reg_rw, __ATOMIC_RELAXED);
	out->reg_odp = __atomic_load_n(&m->stats.reg_odp, __ATOMIC_RELAXED);
	out->refused = __atomic_load_n(&m->stats.refused, __ATOMIC_RELAXED);
	out->retired = __atomic_load_n(&m->stats.retired, __ATOMIC_RELAXED);
}

void kelp_export_map_destroy(struct kelp_export_map *m)
{
	if (!m)
		return;
	if (m->helper_started) {
		/* a job under way (even one blocked in ibv_reg_mr) finishes first */
		pthread_mutex_lock(&m->lock);
		m->stop = true;
		pthread_cond_signal(&m->cond);
		pthread_mutex_unlock(&m->lock);
		pthread_join(m->helper, NULL);
	}
	for (size_t i = 0; i < m->n; i++) {
		struct xvol *x = m->vols[i];

		if (x->job.state == JOB_DONE && x->job.rc == 0) { /* never published */
			region_free(m, &x->job.dat);
			region_free(m, &x->job.idx);
		}
		region_free(m, &x->dat);
		region_free(m, &x->idx);
		free(x);
	}
	for (size_t i = 0; i < m->n_retired; i++)
		region_free(m, &m->retired[i]);
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	free(m->vols);
	free(m->retired);
	free(m);
}
