/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One volume: .dat mmap'd read-only, .idx loaded into a needle index (or .dat scanned when there is
 * no .idx), needle lookups with header, key and cookie checks.
 *
 * Readers touch only the mapping, the index (lock-free lookups) and dat_size (atomic), so lookups
 * from many threads need no lock.
 */
#include "core/volume.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/be.h"
#include "core/clock.h"
#include "core/crc32c.h"
#include "core/dat_scan.h"
#include "core/fault.h"
#include "core/idx.h"
#include "core/needle.h"
#include "core/needle_index.h"
#include "core/superblock.h"

/*
 * Readers use map, dat_size (atomic) and index (atomic pointer). Everything below "control thread"
 * is touched only by the thread that opened the volume and refreshes it (kelp_volume_tail).
 */
/* Tailing: rows kept aside while their record is not in .dat (see pending below). */
#define PENDING_MAX 64

struct kelp_volume {
	char *dat_path;
	char *idx_path;
	uint32_t vid;
	int offset_bytes; /* 0: no .idx, scanned */
	struct kelp_superblock sb;
	const uint8_t *map;
	size_t map_len;	   /* the reservation: larger than .dat, so appends need no remap */
	uint64_t dat_size; /* readable bytes of map; grows as .dat grows */
	struct kelp_needle_index *index;
	uint64_t rows_outside; /* rows given up on: their record never appeared in .dat */
	uint32_t faulted; /* KELP_FAULT_HIT once a SIGBUS replaced a page of map (core/fault.h) */

	/* control thread */
	int dat_fd, idx_fd;
	ino_t dat_ino, idx_ino;
	uint64_t idx_pos;	 /* bytes of .idx applied */
	bool offset_bytes_known; /* from .vif, or detected from rows */
	/* rows whose record is not (yet) inside .dat, oldest first: retried every tail, dropped
	 * when a later row of the same key is applied or after STUCK_ROUNDS_MAX tails. Later rows
	 * do not wait for them (a bogus row must not hide the deletes after it). */
	struct pending_row {
		struct kelp_idx_row row;
		unsigned rounds;
	} pending[PENDING_MAX];
	unsigned n_pending;
	uint64_t half_replaced_ns; /* when only one of .dat/.idx had a new inode, else 0 */
};

/* Appends up to this much beyond the size at open are served without reopening the volume. */
#define MAP_HEADROOM (1ull << 30)
/* Tailing: rows per read, tails a row may wait for its record before it is dropped. */
#define TAIL_CHUNK_ROWS	 4096
#define STUCK_ROUNDS_MAX 50

int kelp_volume_id_from_path(const char *path, uint32_t *vid)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	const char *dot = strrchr(base, '.');
	const char *end = dot ? dot : base + strlen(base);
	const char *start = end;
	while (start > base && start[-1] >= '0' && start[-1] <= '9')
		start--;
	if (start == end || (start > base && start[-1] != '_') || end - start > 10)
		return -EINVAL;
	uint64_t v = 0;
	for (const char *p = start; p < end; p++)
		v = v * 10 + (uint64_t)(*p - '0');
	if (v > UINT32_MAX)
		return -EINVAL;
	*vid = (uint32_t)v;
	return 0;
}

/* Does the row at @p (layout @ob) point at a record of the same key and size inside .dat? */
static bool row_matches_dat(const uint8_t *p, int ob, const uint8_t *dat, uint64_t dat_len,
			    uint8_t version)
{
	struct kelp_idx_row row;
	uint32_t cookie, size;
	uint64_t key;

	kelp_idx_parse_row(p, ob, &row);
	uint64_t pos = row.offset * KELP_DAT_ALIGN;
	if (pos < KELP_SUPERBLOCK_SIZE || pos >= dat_len ||
	    kelp_needle_parse_header(dat + pos, dat_len - pos, &cookie, &key, &size))
		return false;
	return key == row.key && size == row.size &&
	       kelp_needle_record_len(version, size) <= dat_len - pos;
}

static bool row_is_live(const uint8_t *p, int ob)
{
	struct kelp_idx_row row;
	kelp_idx_parse_row(p, ob, &row);
	return kelp_idx_row_is_live(&row);
}

int kelp_volume_detect_offset_bytes(const uint8_t *idx, size_t idx_len, const uint8_t *dat,
				    uint64_t dat_len, uint8_t version)
{
	int score[2] = {0, 0};
	for (int ob = 4; ob <= 5; ob++) {
		size_t rs = kelp_idx_row_size(ob), nrows = idx_len / rs, checked = 0;
		/* up to 8 live rows from the front and 8 from the back */
		for (size_t i = 0; i < nrows && checked < 8; i++) {
			if (!row_is_live(idx + i * rs, ob))
				continue;
			checked++;
			score[ob - 4] += row_matches_dat(idx + i * rs, ob, dat, dat_len, version);
		}
		checked = 0;
		for (size_t i = nrows; i-- > 0 && checked < 8;) {
			if (!row_is_live(idx + i * rs, ob))
				continue;
			checked++;
			score[ob - 4] += row_matches_dat(idx + i * rs, ob, dat, dat_len, version);
		}
	}
	if (score[0] != score[1])
		return score[0] > score[1] ? 4 : 5;
	return (idx_len % KELP_IDX_ROW_SIZE_4 != 0 && idx_len % KELP_IDX_ROW_SIZE_5 == 0) ? 5 : 4;
}

/* True when the live row @row names a record that .dat (@dat_size bytes) does not hold. */
static bool row_outside(const struct kelp_volume *v, const struct kelp_idx_row *row,
			uint64_t dat_size)
{
	return kelp_idx_row_is_live(row) &&
	       (row->offset > dat_size / KELP_DAT_ALIGN ||
		row->offset * KELP_DAT_ALIGN + kelp_needle_record_len(v->sb.version, row->size) >
			dat_size);
}

static void pending_remove(struct kelp_volume *v, unsigned i)
{
	memmove(&v->pending[i], &v->pending[i + 1], (v->n_pending - i - 1) * sizeof(v->pending[0]));
	v->n_pending--;
}

/* Keep @row aside until its record is in .dat; when PENDING_MAX wait already, the oldest is
 * given up (counted in rows_outside). */
static void pending_add(struct kelp_volume *v, const struct kelp_idx_row *row)
{
	if (v->n_pending == PENDING_MAX) {
		pending_remove(v, 0);
		v->rows_outside++;
	}
	v->pending[v->n_pending++] = (struct pending_row){.row = *row};
}

static void pending_drop_key(struct kelp_volume *v, uint64_t key)
{
	for (unsigned i = 0; i < v->n_pending;) {
		if (v->pending[i].row.key == key)
			pending_remove(v, i);
		else
			i++;
	}
}

/* The .idx layout: the .vif's bytesOffset, else detected from rows; *known says which. */
static int idx_layout(const struct kelp_volume *v, const uint8_t *idx, size_t len, bool *known)
{
	char vif[PATH_MAX];
	int ob = -ENOENT;
	if (kelp_vif_path(v->idx_path, vif, sizeof(vif)) == 0)
		ob = kelp_vif_offset_bytes(vif);
	*known = ob == 4 || ob == 5;
	if (*known)
		return ob;
	/* no .vif: rows tell, once there are any */
	*known = len >= KELP_IDX_ROW_SIZE_5;
	return kelp_volume_detect_offset_bytes(idx, len, v->map, v->dat_size, v->sb.version);
}

/* Build the index from .idx (kept open for tailing); -ENOENT when it does not exist. */
static int load_idx(struct kelp_volume *v)
{
	int fd = open(v->idx_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st)) {
		int e = -errno;
		close(fd);
		return e;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	}
	v->idx_fd = fd;
	v->idx_ino = st.st_ino;
	size_t len = (size_t)st.st_size;
	const uint8_t *idx = NULL;
	if (len) {
		idx = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
		if (idx == MAP_FAILED)
			return -errno;
		madvise((void *)idx, len, MADV_SEQUENTIAL);
	}
	int ob = idx_layout(v, idx, len, &v->offset_bytes_known);
	v->offset_bytes = ob;

	size_t rs = kelp_idx_row_size(ob),
	       nrows = len / rs; /* a torn last row waits for the rest */
	int rc = kelp_needle_index_new(nrows, &v->index);
	if (rc)
		goto out;
	/* Fast path: every live row points inside .dat (the normal case). Check first, then load.
	 */
	uint64_t outside = 0;
	for (size_t i = 0; i < nrows; i++) {
		struct kelp_idx_row row;
		kelp_idx_parse_row(idx + i * rs, ob, &row);
		outside += row_outside(v, &row, v->dat_size);
	}
	if (!outside) {
		rc = kelp_needle_index_load(v->index, idx, nrows, ob);
	} else {
		/* rows naming records .dat does not hold (yet: appended after our fstat of .dat; or
		 * never: corrupt) wait aside like rows met while tailing; the others are applied
		 * one by one */
		for (size_t i = 0; i < nrows && !rc; i++) {
			struct kelp_idx_row row;
			kelp_idx_parse_row(idx + i * rs, ob, &row);
			if (row_outside(v, &row, v->dat_size)) {
				pending_add(v, &row);
				continue;
			}
			pending_drop_key(v, row.key);
			rc = kelp_needle_index_apply(v->index, &row);
		}
	}
	v->idx_pos = (uint64_t)nrows * rs;
	if (!rc) {
		/* many deletes: keep only the live keys (the table was sized for every row) */
		struct kelp_needle_index *small;
		/* out of memory for the copy: keep the larger table */
		if (kelp_needle_index_shrink(v->index, &small) == 0 && small) {
			kelp_needle_index_free(v->index);
			v->index = small;
		}
	}
out:
	if (len)
		munmap((void *)idx, len);
	return rc;
}

/* No .idx: index the records of .dat in file order; size-0 records delete (as `weed fix` does). */
static int scan_dat(struct kelp_volume *v)
{
	uint64_t pos = kelp_superblock_data_start(&v->sb), rec_pos, count = 0;
	struct kelp_needle n;
	int rc;

	while ((rc = kelp_dat_next(v->map, v->dat_size, v->sb.version, &pos, &rec_pos, &n)) == 1)
		count++;
	rc = kelp_needle_index_new(count, &v->index);
	if (rc)
		return rc;
	pos = kelp_superblock_data_start(&v->sb);
	while (kelp_dat_next(v->map, v->dat_size, v->sb.version, &pos, &rec_pos, &n) == 1) {
		struct kelp_idx_row row = {
			.key = n.key,
			.offset = n.size ? rec_pos / KELP_DAT_ALIGN : 0,
			.size = n.size ? n.size : KELP_IDX_SIZE_TOMBSTONE,
		};
		rc = kelp_needle_index_apply(v->index, &row);
		if (rc)
			return rc;
	}
	v->offset_bytes = 0;
	return 0; /* a record that does not parse ends the scan: the rest is not indexed */
}

int kelp_volume_open(const char *dat_path, struct kelp_volume **out)
{
	struct kelp_volume *v = calloc(1, sizeof(*v));
	int rc;

	if (!v)
		return -ENOMEM;
	v->dat_fd = v->idx_fd = -1;
	size_t n = strlen(dat_path);
	v->dat_path = strdup(dat_path);
	v->idx_path = malloc(n + 5);
	if (!v->dat_path || !v->idx_path) {
		rc = -ENOMEM;
		goto fail;
	}
	memcpy(v->idx_path, dat_path, n + 1);
	if (n >= 4 && strcmp(v->idx_path + n - 4, ".dat") == 0)
		memcpy(v->idx_path + n - 4, ".idx", 5);
	else
		memcpy(v->idx_path + n, ".idx", 5);
	rc = kelp_volume_id_from_path(dat_path, &v->vid);
	if (rc)
		goto fail;
	v->dat_fd = open(dat_path, O_RDONLY | O_CLOEXEC);
	if (v->dat_fd < 0) {
		rc = -errno;
		goto fail;
	}
	struct stat st;
	if (fstat(v->dat_fd, &st)) {
		rc = -errno;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		goto fail;
	}
	if (st.st_size < KELP_SUPERBLOCK_SIZE) {
		rc = -EINVAL;
		goto fail;
	}
	v->dat_ino = st.st_ino;
	v->dat_size = (uint64_t)st.st_size;
	/* Map more than the file: pages past its end are never touched (reads stay below dat_size),
	 * and appends become readable in place as dat_size grows. */
	long page = sysconf(_SC_PAGESIZE);
	uint64_t reserve = v->dat_size + (v->dat_size < MAP_HEADROOM ? v->dat_size : MAP_HEADROOM) +
			   MAP_HEADROOM / 1024;
	v->map_len = (size_t)((reserve + (uint64_t)page - 1) / (uint64_t)page * (uint64_t)page);
	v->map = mmap(NULL, v->map_len, PROT_READ, MAP_SHARED, v->dat_fd, 0);
	if (v->map == MAP_FAILED) {
		v->map = NULL;
		rc = -errno;
		goto fail;
	}
	/* the file can be truncated under us (weed repairing a torn write, an operator): a read
	 * past its new end then fails that read instead of killing the process */
	rc = kelp_fault_zone_add(v->map, v->map_len, (size_t)page, &v->faulted);
	if (rc) {
		munmap((void *)v->map, v->map_len);
		v->map = NULL;
		goto fail;
	}
	rc = kelp_superblock_parse(v->map, v->dat_size, &v->sb);
	if (rc)
		goto fail;
	rc = load_idx(v);
	if (rc == -ENOENT)
		rc = scan_dat(v);
	if (rc)
		goto fail;
	*out = v;
	return 0;
fail:
	kelp_volume_close(v);
	return rc;
}

void kelp_volume_close(struct kelp_volume *v)
{
	if (!v)
		return;
	if (v->map) {
		kelp_fault_zone_del(v->map);
		munmap((void *)v->map, v->map_len);
	}
	if (v->dat_fd >= 0)
		close(v->dat_fd);
	if (v->idx_fd >= 0)
		close(v->idx_fd);
	kelp_needle_index_free(v->index);
	free(v->dat_path);
	free(v->idx_path);
	free(v);
}

/* ---- live volumes (control thread) ------------------------------------------------------- */

int kelp_volume_check_replaced(struct kelp_volume *v)
{
	struct stat d, i;
	if (stat(v->dat_path, &d))
		return errno == ENOENT ? -ENOENT : -errno;
	bool idx_exists = stat(v->idx_path, &i) == 0;
	bool dat_new = d.st_ino != v->dat_ino;
	bool idx_new = idx_exists && v->idx_fd >= 0 && i.st_ino != v->idx_ino;
	if (kelp_fault_hit(&v->faulted))
		return 1; /* a page of the mapping was replaced (core/fault.h): map the file afresh
			   */
	/* in place rewrite (not what SeaweedFS does, but cheap to notice): superblock revision */
	if (!dat_new && kelp_be16(v->map + 4) != v->sb.compact_revision)
		return 1;
	if (!dat_new && !idx_new) {
		v->half_replaced_ns = 0;
		return 0;
	}
	/* vacuum renames .cpd over .dat, then .cpx over .idx: switch once both are new (a volume
	 * without .idx has only .dat), or when one stays new alone for a while (another tool) */
	if (dat_new && (idx_new || v->idx_fd < 0))
		return 1;
	if (!v->half_replaced_ns)
		v->half_replaced_ns = kelp_now_ns();
	return kelp_now_ns() - v->half_replaced_ns > 5000000000ull ? 1 : 0;
}

/* Apply @row to the index; a full index is replaced by a copy with twice the room (the old one
 * handed to @retire). */
static int apply_row(struct kelp_volume *v, const struct kelp_idx_row *row,
		     void (*retire)(void *ctx, void (*fn)(void *), void *p), void *ctx)
{
	int rc = kelp_needle_index_apply(v->index, row);
	if (rc != -ENOSPC)
		return rc;
	uint64_t keys = kelp_needle_index_keys(v->index);
	struct kelp_needle_index *bigger;
	rc = kelp_needle_index_clone(v->index, keys * 2 + TAIL_CHUNK_ROWS, &bigger);
	if (rc)
		return rc;
	struct kelp_needle_index *old = v->index;
	__atomic_store_n(&v->index, bigger, __ATOMIC_RELEASE);
	retire(ctx, (void (*)(void *))kelp_needle_index_free, old);
	return kelp_needle_index_apply(v->index, row);
}

/* Apply the waiting rows whose record is now inside .dat (@dat_size), oldest first; give up on
 * those that waited STUCK_ROUNDS_MAX tails. Return rows applied or -errno. */
static int pending_retry(struct kelp_volume *v, uint64_t dat_size,
			 void (*retire)(void *ctx, void (*fn)(void *), void *p), void *ctx)
{
	int applied = 0;
	for (unsigned i = 0; i < v->n_pending;) {
		struct pending_row *p = &v->pending[i];
		if (!row_outside(v, &p->row, dat_size)) {
			int rc = apply_row(v, &p->row, retire, ctx);
			if (rc)
				return rc;
			pending_remove(v, i);
			applied++;
		} else if (++p->rounds >= STUCK_ROUNDS_MAX) {
			pending_remove(v, i);
			v->rows_outside++;
		} else {
			i++;
		}
	}
	return applied;
}

int kelp_volume_tail(struct kelp_volume *v, void (*retire)(void *ctx, void (*fn)(void *), void *p),
		     void *ctx)
{
	struct stat st;
	if (fstat(v->dat_fd, &st))
		return -errno;
	uint64_t size = (uint64_t)st.st_size;
	if (size > v->map_len || size < v->dat_size)
		return -EAGAIN; /* outgrew the reservation, or shrank: open it again */

	if (v->idx_fd < 0) {
		if (v->offset_bytes == 0 && access(v->idx_path, F_OK) == 0)
			return -EAGAIN; /* an .idx appeared for a scanned volume */
		__atomic_store_n(&v->dat_size, size, __ATOMIC_RELEASE);
		return 0;
	}
	if (fstat(v->idx_fd, &st))
		return -errno;
	uint64_t idx_len = (uint64_t)st.st_size;

	/* .dat first: a reader that finds a new index entry must also find its record */
	if (size > v->dat_size)
		__atomic_store_n(&v->dat_size, size, __ATOMIC_RELEASE);
	if (idx_len < v->idx_pos)
		return -EAGAIN; /* .idx shrank: not an append */

	int applied = pending_retry(v, size, retire, ctx);
	if (applied < 0)
		return applied;
	uint8_t buf[TAIL_CHUNK_ROWS * KELP_IDX_ROW_SIZE_5];
	while (v->idx_pos + KELP_IDX_ROW_SIZE_4 <= idx_len) {
		ssize_t got = pread(v->idx_fd, buf, sizeof(buf), (off_t)v->idx_pos);
		if (got < 0)
			return errno == EINTR ? applied : -errno;
		if (!v->offset_bytes_known) {
			bool known;
			int ob = idx_layout(v, buf, (size_t)got, &known);
			if (!known)
				return applied; /* not enough rows to tell yet */
			v->offset_bytes = ob;
			v->offset_bytes_known = true;
		}
		size_t rs = kelp_idx_row_size(v->offset_bytes), nrows = (size_t)got / rs;
		if (!nrows)
			break;
		for (size_t r = 0; r < nrows; r++) {
			struct kelp_idx_row row;
			kelp_idx_parse_row(buf + r * rs, v->offset_bytes, &row);
			v->idx_pos += rs;
			if (row_outside(v, &row, size)) {
				pending_add(v, &row); /* its record is not in .dat (yet) */
				continue;
			}
			pending_drop_key(v,
					 row.key); /* an older row of the key waiting: superseded */
			int rc = apply_row(v, &row, retire, ctx);
			if (rc) {
				v->idx_pos -= rs; /* not applied: read again next time */
				return rc;
			}
			applied++;
		}
	}
	return applied;
}

int kelp_volume_faulted(const struct kelp_volume *v)
{
	return kelp_fault_hit(&v->faulted);
}

int kelp_volume_fault_news(struct kelp_volume *v)
{
	/* HIT -> HIT + 1: still "hit" for readers (any non-zero), but told only once */
	uint32_t hit = KELP_FAULT_HIT;
	return __atomic_compare_exchange_n(&v->faulted, &hit, KELP_FAULT_HIT + 1, false,
					   __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

uint32_t kelp_volume_id(const struct kelp_volume *v)
{
	return v->vid;
}

uint64_t kelp_volume_live_count(const struct kelp_volume *v)
{
	return kelp_needle_index_live(__atomic_load_n(&v->index, __ATOMIC_ACQUIRE));
}

uint64_t kelp_volume_deleted_count(const struct kelp_volume *v)
{
	return kelp_needle_index_deleted(__atomic_load_n(&v->index, __ATOMIC_ACQUIRE));
}

const struct kelp_superblock *kelp_volume_superblock(const struct kelp_volume *v)
{
	return &v->sb;
}

int kelp_volume_offset_bytes(const struct kelp_volume *v)
{
	return v->offset_bytes;
}

uint64_t kelp_volume_dat_size(const struct kelp_volume *v)
{
	return __atomic_load_n(&v->dat_size, __ATOMIC_ACQUIRE);
}

const char *kelp_volume_dat_path(const struct kelp_volume *v)
{
	return v->dat_path;
}

uint64_t kelp_volume_rows_outside(const struct kelp_volume *v)
{
	return v->rows_outside + v->n_pending;
}

const uint8_t *kelp_volume_dat_map(const struct kelp_volume *v)
{
	return v->map;
}

int kelp_volume_lookup(const struct kelp_volume *v, uint64_t key, uint64_t *offset, uint32_t *size)
{
	uint64_t off;
	int rc = kelp_needle_index_lookup(__atomic_load_n(&v->index, __ATOMIC_ACQUIRE), key, &off,
					  size);
	if (rc)
		return rc;
	*offset = off * KELP_DAT_ALIGN;
	return 0;
}

int kelp_volume_next(const struct kelp_volume *v, uint64_t *cursor, uint64_t *key, uint64_t *offset)
{
	uint32_t size;
	uint64_t off;
	if (!kelp_needle_index_next(v->index, cursor, key, &off, &size))
		return 0;
	*offset = off * KELP_DAT_ALIGN;
	return 1;
}

int kelp_volume_find(const struct kelp_volume *v, const struct kelp_fid *fid,
		     struct kelp_needle_ref *out)
{
	uint64_t off;
	uint32_t idx_size;
	struct kelp_needle n;

	if (fid->volume_id != v->vid)
		return -ENOENT;
	/* pairs with the release store in kelp_volume_tail when the index grows */
	const struct kelp_needle_index *ni = __atomic_load_n(&v->index, __ATOMIC_ACQUIRE);
	if (kelp_needle_index_lookup(ni, fid->key, &off, &idx_size))
		return -ENOENT;
	uint64_t len = kelp_volume_dat_size(v);
	uint64_t pos = off * KELP_DAT_ALIGN;
	if (pos < KELP_SUPERBLOCK_SIZE || pos >= len)
		return -EIO;
	if (kelp_needle_parse(v->sb.version, v->map + pos, len - pos, &n))
		return -EIO; /* header or body does not fit */
	if (n.key != fid->key)
		return -EIO; /* the index points at another needle */
	if (idx_size != KELP_NEEDLE_INDEX_SIZE_LARGE ? n.size != idx_size
						     : n.size < KELP_NEEDLE_INDEX_SIZE_LARGE)
		return -EIO;
	if (n.cookie != fid->cookie)
		return -ENOENT; /* SeaweedFS answers 404 for a wrong cookie */
	out->data = n.data;
	out->data_size = n.data_size;
	out->flags = n.flags;
	out->stored_crc = n.stored_crc;
	out->dat_offset = pos;
	out->mime = n.mime_len ? n.mime : NULL;
	out->mime_len = n.mime_len;
	return 0;
}

const void *kelp_volume_prefetch(const struct kelp_volume *v, uint64_t key)
{
	uint64_t off;
	uint32_t idx_size;
	const struct kelp_needle_index *ni = __atomic_load_n(&v->index, __ATOMIC_ACQUIRE);
	if (kelp_needle_index_lookup(ni, key, &off, &idx_size))
		return NULL;
	uint64_t len = kelp_volume_dat_size(v);
	uint64_t pos = off * KELP_DAT_ALIGN;
	if (pos >= len)
		return NULL;
	/* prefetches never fault: an address outside the mapping or not mapped yet is ignored */
	__builtin_prefetch(v->map + pos); /* record header, start of the data */
	__builtin_prefetch(v->map + pos + 64);
	if (idx_size != KELP_NEEDLE_INDEX_SIZE_LARGE && pos + 16 + idx_size < len)
		__builtin_prefetch(v->map + pos + 16 + idx_size); /* flags and CRC after the data */
	return v->map + pos;
}

int kelp_needle_ref_check_crc(const struct kelp_needle_ref *ref)
{
	return kelp_crc32c_classify(ref->stored_crc, ref->data, ref->data_size) == KELP_CRC_MISMATCH
		       ? -EIO
		       : 0;
}
