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
#include <unistd.h>

#include "core/crc32c.h"
#include "core/dat_scan.h"
#include "core/idx.h"
#include "core/needle.h"
#include "core/needle_index.h"
#include "core/superblock.h"

struct kelp_volume {
	char *dat_path;
	uint32_t vid;
	int offset_bytes; /* 0: no .idx, scanned */
	struct kelp_superblock sb;
	const uint8_t *map;
	size_t map_len;
	uint64_t dat_size; /* readable bytes of map */
	struct kelp_needle_index *index;
	uint64_t rows_outside;
};

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

/* Build the index from the .idx file at @idx_path; -ENOENT when it does not exist. */
static int load_idx(struct kelp_volume *v, const char *idx_path)
{
	int fd = open(idx_path, O_RDONLY | O_CLOEXEC);
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
	size_t len = (size_t)st.st_size;
	const uint8_t *idx = NULL;
	if (len) {
		idx = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
		if (idx == MAP_FAILED) {
			int e = -errno;
			close(fd);
			return e;
		}
		madvise((void *)idx, len, MADV_SEQUENTIAL);
	}
	close(fd);

	char vif[PATH_MAX];
	int ob = -ENOENT;
	if (kelp_vif_path(idx_path, vif, sizeof(vif)) == 0)
		ob = kelp_vif_offset_bytes(vif);
	if (ob != 4 && ob != 5)
		ob = kelp_volume_detect_offset_bytes(idx, len, v->map, v->dat_size, v->sb.version);
	v->offset_bytes = ob;

	size_t rs = kelp_idx_row_size(ob), nrows = len / rs; /* a torn last row is ignored */
	int rc = 0;
	v->index = kelp_needle_index_new(nrows);
	if (!v->index) {
		rc = -ENOMEM;
		goto out;
	}
	/* Fast path: every live row points inside .dat (the normal case). Check first, then load. */
	uint64_t outside = 0;
	for (size_t i = 0; i < nrows; i++) {
		struct kelp_idx_row row;
		kelp_idx_parse_row(idx + i * rs, ob, &row);
		if (kelp_idx_row_is_live(&row) &&
		    (row.offset > v->dat_size / KELP_DAT_ALIGN ||
		     row.offset * KELP_DAT_ALIGN + kelp_needle_record_len(v->sb.version, row.size) >
			     v->dat_size))
			outside++;
	}
	if (!outside) {
		rc = kelp_needle_index_load(v->index, idx, nrows, ob);
		goto out;
	}
	/* Some rows name records .dat does not hold (yet): apply the others one by one. */
	for (size_t i = 0; i < nrows && !rc; i++) {
		struct kelp_idx_row row;
		kelp_idx_parse_row(idx + i * rs, ob, &row);
		if (kelp_idx_row_is_live(&row) &&
		    (row.offset > v->dat_size / KELP_DAT_ALIGN ||
		     row.offset * KELP_DAT_ALIGN + kelp_needle_record_len(v->sb.version, row.size) >
			     v->dat_size))
			continue;
		rc = kelp_needle_index_apply(v->index, &row);
	}
	v->rows_outside = outside;
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
	v->index = kelp_needle_index_new(count);
	if (!v->index)
		return -ENOMEM;
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
	int rc, fd = -1;

	if (!v)
		return -ENOMEM;
	v->dat_path = strdup(dat_path);
	if (!v->dat_path) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = kelp_volume_id_from_path(dat_path, &v->vid);
	if (rc)
		goto fail;
	fd = open(dat_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		goto fail;
	}
	struct stat st;
	if (fstat(fd, &st)) {
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
	v->dat_size = (uint64_t)st.st_size;
	v->map_len = (size_t)st.st_size;
	v->map = mmap(NULL, v->map_len, PROT_READ, MAP_SHARED, fd, 0);
	if (v->map == MAP_FAILED) {
		v->map = NULL;
		rc = -errno;
		goto fail;
	}
	close(fd);
	fd = -1;
	rc = kelp_superblock_parse(v->map, v->dat_size, &v->sb);
	if (rc)
		goto fail;

	size_t n = strlen(dat_path);
	char *idx_path = malloc(n + 5);
	if (!idx_path) {
		rc = -ENOMEM;
		goto fail;
	}
	memcpy(idx_path, dat_path, n + 1);
	if (n >= 4 && strcmp(idx_path + n - 4, ".dat") == 0)
		memcpy(idx_path + n - 4, ".idx", 5);
	else
		memcpy(idx_path + n, ".idx", 5);
	rc = load_idx(v, idx_path);
	free(idx_path);
	if (rc == -ENOENT)
		rc = scan_dat(v);
	if (rc)
		goto fail;
	*out = v;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	kelp_volume_close(v);
	return rc;
}

void kelp_volume_close(struct kelp_volume *v)
{
	if (!v)
		return;
	if (v->map)
		munmap((void *)v->map, v->map_len);
	kelp_needle_index_free(v->index);
	free(v->dat_path);
	free(v);
}

uint32_t kelp_volume_id(const struct kelp_volume *v)
{
	return v->vid;
}

uint64_t kelp_volume_live_count(const struct kelp_volume *v)
{
	return kelp_needle_index_live(v->index);
}

uint64_t kelp_volume_deleted_count(const struct kelp_volume *v)
{
	return kelp_needle_index_deleted(v->index);
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
	return v->rows_outside;
}

const uint8_t *kelp_volume_dat_map(const struct kelp_volume *v)
{
	return v->map;
}

int kelp_volume_lookup(const struct kelp_volume *v, uint64_t key, uint64_t *offset, uint32_t *size)
{
	uint64_t off;
	int rc = kelp_needle_index_lookup(v->index, key, &off, size);
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
	if (kelp_needle_index_lookup(v->index, fid->key, &off, &idx_size))
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
	return 0;
}

int kelp_needle_ref_check_crc(const struct kelp_needle_ref *ref)
{
	return kelp_crc32c_classify(ref->stored_crc, ref->data, ref->data_size) == KELP_CRC_MISMATCH
		       ? -EIO
		       : 0;
}
