/* SPDX-License-Identifier: Apache-2.0 */
/* The export's registered volume regions for one-sided reads (export_map.h). */
#include "lcore/rdma/export_map.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/idx.h"
#include "core/log.h"
#include "core/superblock.h"
#include "core/volume.h"
#include "nic/conn.h"
#include "nic/mr.h"
#include "proto/rdma_msg.h"

#define PAGE 4096ull

enum reg_how { REG_NONE = 0, REG_RO, REG_RW, REG_ODP };

/* One registered .dat region (the current one of a volume, or a retired one in its grace). */
struct region {
	int fd;
	void *map;
	size_t len; /* mapped and registered bytes (whole pages) */
	struct ibv_mr *mr;
	uint64_t dereg_at; /* retired: when its grace ends */
};

struct xvol {
	uint32_t vid;
	const struct kelp_volume *vol; /* the volume set's version it was checked against */
	uint64_t dat_ino, idx_ino;
	struct region dat;
	int idx_fd;
	void *idx_map;
	size_t idx_len; /* mapped (whole rows) */
	uint64_t checked_at;
	uint64_t retry_at; /* after a refused registration */
	uint8_t desc[KELP_RDMA_VOLMAP_SIZE];
	bool ok; /* desc is valid */
};

struct kelp_export_map {
	struct kelp_rdma_dev *dev;
	struct xvol *vols;
	size_t n, cap;
	struct region *retired;
	size_t n_retired, cap_retired;
	uint64_t next_gen;
	struct kelp_export_map_stats stats;
};

int kelp_export_map_create(struct kelp_rdma_dev *dev, struct kelp_export_map **out)
{
	struct kelp_export_map *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (!m)
		return -ENOMEM;
	m->dev = dev;
	m->next_gen = 1;
	*out = m;
	return 0;
}

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

/* The old region of a volume waits out its grace (readers may still READ it). */
static void region_retire(struct kelp_export_map *m, struct region *r, uint64_t now)
{
	if (!r->mr) {
		region_free(m, r);
		return;
	}
	if (m->n_retired == m->cap_retired) {
		size_t cap = m->cap_retired ? 2 * m->cap_retired : 16;
		struct region *nr = realloc(m->retired, cap * sizeof(*nr));

		if (!nr) {
			region_free(m, r); /* no room to wait: readers of it fail over */
			return;
		}
		m->retired = nr;
		m->cap_retired = cap;
	}
	r->dereg_at = now + KELP_EXPORT_MAP_GRACE_MS * 1000000ull;
	m->retired[m->n_retired++] = *r;
	*r = (struct region){.fd = -1};
	__atomic_fetch_add(&m->stats.retired, 1, __ATOMIC_RELAXED);
}

static void sweep_retired(struct kelp_export_map *m, uint64_t now)
{
	for (size_t i = 0; i < m->n_retired;) {
		if (now >= m->retired[i].dereg_at) {
			region_free(m, &m->retired[i]);
			m->retired[i] = m->retired[--m->n_retired];
		} else {
			i++;
		}
	}
}

/* Map and register @len bytes of the .dat at @path (export_map.h: read-only, read-write, ODP).
 * @return the way that worked (REG_NONE: none; @why names the last error). */
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

static struct xvol *xvol_get(struct kelp_export_map *m, uint32_t vid)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->vols[i].vid == vid)
			return &m->vols[i];
	if (m->n == KELP_EXPORT_MAP_MAX_VOLS)
		return NULL;
	if (m->n == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 16;
		struct xvol *nv = realloc(m->vols, cap * sizeof(*nv));

		if (!nv)
			return NULL;
		m->vols = nv;
		m->cap = cap;
	}
	m->vols[m->n] = (struct xvol){.vid = vid, .dat = {.fd = -1}, .idx_fd = -1};
	return &m->vols[m->n++];
}

static void idx_unmap(struct xvol *x)
{
	if (x->idx_map)
		munmap(x->idx_map, x->idx_len);
	if (x->idx_fd >= 0)
		close(x->idx_fd);
	x->idx_map = NULL;
	x->idx_len = 0;
	x->idx_fd = -1;
}

/* Bring @x up to date with @vol's files (export_map.h). @return 0 or -EHOSTUNREACH. */
static int xvol_refresh(struct kelp_export_map *m, struct xvol *x, const struct kelp_volume *vol,
			uint64_t now)
{
	const char *dat_path = kelp_volume_dat_path(vol);
	const struct kelp_superblock *sb = kelp_volume_superblock(vol);
	int ob = kelp_volume_offset_bytes(vol);
	char idx_path[4096];
	struct stat dst, ist;
	size_t plen = strlen(dat_path);

	if (ob == 0 || sb->version < 2 || plen < 4 || plen >= sizeof(idx_path))
		return -EHOSTUNREACH;
	memcpy(idx_path, dat_path, plen - 4);
	memcpy(idx_path + plen - 4, ".idx", 5);
	if (stat(dat_path, &dst) < 0 || stat(idx_path, &ist) < 0)
		return -EHOSTUNREACH;
	bool same_files = x->dat.mr && x->dat_ino == (uint64_t)dst.st_ino &&
			  x->idx_ino == (uint64_t)ist.st_ino && x->vol == vol;
	size_t dat_len = (size_t)((uint64_t)dst.st_size / PAGE * PAGE);
	size_t row = kelp_idx_row_size(ob);
	size_t idx_len = (size_t)((uint64_t)ist.st_size / row * row);

	if (!same_files || dat_len != x->dat.len) {
		struct region nr;
		int why = 0;
		enum reg_how how =
			dat_len ? region_register(m, dat_path, dat_len, &nr, &why) : REG_NONE;

		if (how == REG_NONE) {
			if (dat_len)
				kelp_log_warn(
					"kelpd: RDMA export: cannot register volume %u (%s, %zu "
					"bytes) for one-sided reads: %s; its reads stay "
					"two-sided",
					x->vid, dat_path, dat_len, strerror(why));
			__atomic_fetch_add(&m->stats.refused, 1, __ATOMIC_RELAXED);
			x->retry_at = now + KELP_EXPORT_MAP_GRACE_MS * 1000000ull;
			return -EHOSTUNREACH;
		}
		static const char *const names[] = {"", "pinned, read-only mapping",
						    "pinned, read-write mapping",
						    "on-demand paging"};
		if (!x->dat.mr || !same_files)
			kelp_log_info(
				"kelpd: RDMA export: volume %u (%s, %zu bytes) registered for "
				"one-sided reads: %s",
				x->vid, dat_path, dat_len, names[how]);
		__atomic_fetch_add(how == REG_RO   ? &m->stats.reg_ro
				   : how == REG_RW ? &m->stats.reg_rw
						   : &m->stats.reg_odp,
				   1, __ATOMIC_RELAXED);
		region_retire(m, &x->dat, now);
		x->dat = nr;
		x->dat_ino = dst.st_ino;
		x->ok = false; /* a new generation */
	}
	if (!same_files || idx_len != x->idx_len) {
		idx_unmap(x);
		x->idx_ino = ist.st_ino;
		if (idx_len) {
			x->idx_fd = open(idx_path, O_RDONLY | O_CLOEXEC);
			x->idx_map = x->idx_fd < 0 ? MAP_FAILED
						   : mmap(NULL, idx_len, PROT_READ, MAP_SHARED,
							  x->idx_fd, 0);
			if (x->idx_map == MAP_FAILED) {
				x->idx_map = NULL;
				idx_unmap(x);
				return -EHOSTUNREACH;
			}
			x->idx_len = idx_len;
		}
	}
	struct kelp_rdma_volmap vm = {
		.volume_id = x->vid,
		.generation = x->ok ? 0 : m->next_gen, /* kept below when unchanged */
		.dat_addr = (uintptr_t)x->dat.map,
		.dat_len = x->dat.len,
		.dat_rkey = x->dat.mr->rkey,
		.file_id = (uint32_t)(x->dat_ino * 2654435761u) ^ (uint32_t)x->idx_ino ^
			   (uint32_t)sb->compact_revision << 16,
		.idx_len = x->idx_len,
		.offset_bytes = (uint8_t)ob,
		.version = sb->version,
	};
	if (x->ok) {
		struct kelp_rdma_volmap old;

		kelp_rdma_volmap_parse(x->desc, sizeof(x->desc), &old);
		vm.generation = old.generation;
	} else {
		m->next_gen++;
	}
	kelp_rdma_volmap_encode(&vm, x->desc, sizeof(x->desc));
	x->vol = vol;
	x->ok = true;
	x->checked_at = now;
	return 0;
}

int kelp_export_map_meta(struct kelp_export_map *m, const struct kelp_volume_set *set,
			 uint8_t opcode, uint32_t vid, uint64_t now_ns,
			 struct kelp_rdma_source *src)
{
	struct kelp_volume *vol = kelp_volume_set_find(set, vid);
	struct xvol *x;

	sweep_retired(m, now_ns);
	if (!vol)
		return -EHOSTUNREACH;
	x = xvol_get(m, vid);
	if (!x)
		return -EHOSTUNREACH;
	if (opcode == KELP_RDMA_OP_IDX) {
		if (!x->ok || !x->idx_map)
			return -EHOSTUNREACH;
		*src = (struct kelp_rdma_source){
			.data = x->idx_map, .size = (uint32_t)x->idx_len, .use_bounce = true};
		return 0;
	}
	if (now_ns < x->retry_at)
		return -EHOSTUNREACH;
	if (!x->ok || x->vol != vol ||
	    now_ns - x->checked_at >= KELP_EXPORT_MAP_CHECK_MS * 1000000ull) {
		if (xvol_refresh(m, x, vol, now_ns) < 0) {
			x->ok = false;
			return -EHOSTUNREACH;
		}
	}
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
		const struct xvol *x = &m->vols[i];

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
	for (size_t i = 0; i < m->n; i++) {
		region_free(m, &m->vols[i].dat);
		idx_unmap(&m->vols[i]);
	}
	for (size_t i = 0; i < m->n_retired; i++)
		region_free(m, &m->retired[i]);
	free(m->vols);
	free(m->retired);
	free(m);
}
