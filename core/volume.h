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

#endif
