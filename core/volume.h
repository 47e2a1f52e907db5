/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Volume store: the SeaweedFS volumes of exported directories, mmap'd and indexed, for reads.
 *
 * Ownership: a kelp_volume_set is built and changed by one thread (kelpd's control thread);
 * lookups and reads (kelp_volume_set_find, kelp_volume_read) may run on any thread concurrently
 * with each other, never concurrently with open/close of the same set.
 * Every call returns 0 or a negative errno unless it says otherwise.
 */
#ifndef KELP_CORE_VOLUME_H
#define KELP_CORE_VOLUME_H

#include <stddef.h>
#include <stdint.h>

#include "core/fid.h"

struct kelp_volume;     /* one .dat/.idx pair, .dat mmap'd read-only, needle index in memory */
struct kelp_volume_set; /* all volumes of one or more directories, by volume id */

/* Needle flags as stored (seaweedfs.md). */
#define KELP_NEEDLE_FLAG_GZIP          0x01
#define KELP_NEEDLE_FLAG_NAME          0x02
#define KELP_NEEDLE_FLAG_MIME          0x04
#define KELP_NEEDLE_FLAG_LAST_MODIFIED 0x08
#define KELP_NEEDLE_FLAG_TTL           0x10
#define KELP_NEEDLE_FLAG_PAIRS         0x20
#define KELP_NEEDLE_FLAG_MANIFEST      0x80

/*
 * A located, header-checked needle: pointers into the volume's mapping, valid while the volume is
 * open. @data / @data_size are the payload as stored (compressed when flags has GZIP).
 */
struct kelp_needle_ref {
	const uint8_t *data;
	uint32_t data_size;
	uint8_t flags;
	uint32_t stored_crc; /* as stored: raw CRC32C or the legacy transform */
	uint64_t dat_offset; /* byte offset of the record in .dat */
};

/* Open "<dir>/<name>.dat" (+ ".idx" beside it; scans .dat when there is no .idx). */
int kelp_volume_open(const char *dat_path, struct kelp_volume **out);
void kelp_volume_close(struct kelp_volume *v);
uint32_t kelp_volume_id(const struct kelp_volume *v);
uint64_t kelp_volume_live_count(const struct kelp_volume *v);

/*
 * Find the needle @fid in @v and check its record header (key and cookie match, record inside the
 * file). Does not check the CRC: see kelp_needle_ref_check_crc().
 * @return 0; -ENOENT missing, deleted, or cookie mismatch; -EIO record corrupt.
 */
int kelp_volume_find(const struct kelp_volume *v, const struct kelp_fid *fid,
		     struct kelp_needle_ref *out);

/* @return 0 when @ref's data matches its stored CRC (raw or legacy; empty data always matches),
 * -EIO otherwise. */
int kelp_needle_ref_check_crc(const struct kelp_needle_ref *ref);

/* Open every volume (*.dat) found directly in each of @dirs. A volume that fails to open is
 * reported through @warn (may be NULL) and skipped; the others are served. */
int kelp_volume_set_open(const char *const *dirs, size_t ndirs,
			 void (*warn)(void *arg, const char *msg), void *warn_arg,
			 struct kelp_volume_set **out);
void kelp_volume_set_close(struct kelp_volume_set *set);
/* @return the volume with id @vid, or NULL. */
struct kelp_volume *kelp_volume_set_find(const struct kelp_volume_set *set, uint32_t vid);
size_t kelp_volume_set_count(const struct kelp_volume_set *set);
/* The i-th volume (0 <= i < count), for listing. */
struct kelp_volume *kelp_volume_set_at(const struct kelp_volume_set *set, size_t i);

/* ---- Additions beyond the first contract (h1): inspection and tools ---------------------------- */
struct kelp_superblock;

/* The superblock read at open. Any thread. */
const struct kelp_superblock *kelp_volume_superblock(const struct kelp_volume *v);
/* The .idx row layout used: 4 or 5 offset bytes; 0 when there was no .idx and .dat was scanned. */
int kelp_volume_offset_bytes(const struct kelp_volume *v);
/* Bytes of .dat that reads may touch (the file length at open, or as tailed). */
uint64_t kelp_volume_dat_size(const struct kelp_volume *v);
/* The .dat path given to kelp_volume_open. */
const char *kelp_volume_dat_path(const struct kelp_volume *v);
/* Keys whose last row deletes them. */
uint64_t kelp_volume_deleted_count(const struct kelp_volume *v);
/* .idx rows ignored at open because their record does not lie inside .dat. */
uint64_t kelp_volume_rows_outside(const struct kelp_volume *v);
/* The whole mapping of .dat (kelp_volume_dat_size() bytes are readable), for scanning tools. */
const uint8_t *kelp_volume_dat_map(const struct kelp_volume *v);

/*
 * kelp_volume_lookup - the index entry of live key @key: *@offset in bytes, *@size the body length
 * (KELP_NEEDLE_INDEX_SIZE_LARGE = 16 MiB - 2 and above: see the record header). Any thread.
 * @return 0, or -ENOENT (never indexed or deleted).
 */
int kelp_volume_lookup(const struct kelp_volume *v, uint64_t key, uint64_t *offset, uint32_t *size);

/*
 * kelp_volume_next - iterate the live needles (in index order, not file order): start with
 * *cursor = 0. Single-threaded use (tools, control thread).
 * @return 1 with *@key, *@offset (bytes), 0 at the end.
 */
int kelp_volume_next(const struct kelp_volume *v, uint64_t *cursor, uint64_t *key, uint64_t *offset);

/*
 * kelp_volume_id_from_path - the volume id in a file name "<dir>/[<collection>_]<N>.dat" (or .idx).
 * @return 0 with *@vid, or -EINVAL when the name has no decimal id.
 */
int kelp_volume_id_from_path(const char *path, uint32_t *vid);

/*
 * kelp_volume_detect_offset_bytes - which .idx layout the @idx_len bytes at @idx use, given the
 * volume's .dat (@dat, @dat_len bytes, version @version): the one whose rows point at records with
 * the same key and size (checks up to 16 live rows); ties go to 4 unless only 17 divides the length.
 * For files without a .vif (a .vif's bytesOffset wins: kelp_vif_offset_bytes()).
 * @return 4 or 5.
 */
int kelp_volume_detect_offset_bytes(const uint8_t *idx, size_t idx_len, const uint8_t *dat,
				    uint64_t dat_len, uint8_t version);

#endif
