/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Volume store: the SeaweedFS volumes of exported directories, mmap'd and indexed, for reads.
 *
 * Ownership: a kelp_volume_set is built and changed by one thread (kelpd's control thread);
 * lookups and reads (kelp_volume_set_find, kelp_volume_find, kelp_needle_ref_check_crc, the
 * counters) may run on any thread concurrently with each other AND with
 * kelp_volume_set_refresh(), never concurrently with open/close of the same set.
 * Every call returns 0 or a negative errno unless it says otherwise.
 *
 * Live volumes: kelp_volume_set_refresh(), called periodically by the control thread, follows the
 * volume server writing the exported directories: new needles (.idx tailed; a row is used only once
 * its record lies inside .dat), deletes, new volumes, removed volumes, and vacuum (new inodes of
 * .dat/.idx or a new compaction revision: the new pair is opened and switched in atomically).
 * Lifetime of what a reader got (a struct kelp_volume *, a kelp_needle_ref's data pointer): with an
 * epoch attached (kelp_volume_set_use_epoch), until the reader's next kelp_epoch_quiescent(); the
 * replaced versions are freed after every registered reader passed one. Without an epoch, replaced
 * versions are kept until kelp_volume_set_close() (safe, but memory grows with every vacuum).
 */
#ifndef KELP_CORE_VOLUME_H
#define KELP_CORE_VOLUME_H

#include <stddef.h>
#include <stdint.h>

#include "core/fid.h"

struct kelp_volume;	/* one .dat/.idx pair, .dat mmap'd read-only, needle index in memory */
struct kelp_volume_set; /* all volumes of one or more directories, by volume id */

/* Needle flags as stored (seaweedfs.md). */
#define KELP_NEEDLE_FLAG_GZIP	       0x01
#define KELP_NEEDLE_FLAG_NAME	       0x02
#define KELP_NEEDLE_FLAG_MIME	       0x04
#define KELP_NEEDLE_FLAG_LAST_MODIFIED 0x08
#define KELP_NEEDLE_FLAG_TTL	       0x10
#define KELP_NEEDLE_FLAG_PAIRS	       0x20
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
	const uint8_t *mime; /* the stored MIME type (flags MIME), not NUL-terminated; NULL: none */
	uint8_t mime_len;
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

/*
 * kelp_volume_prefetch - start loading what kelp_volume_find(@v, key @key) will touch (index slot,
 * record header, the line after the data) without waiting for it, so that the cache misses of a
 * burst of finds overlap. Never faults, never fails; any thread that may call kelp_volume_find.
 * @return where the record starts in the mapping (a hint for prefetching more of it: not checked,
 * valid only as long as a kelp_needle_ref would be), or NULL when the key is not in the index.
 */
const void *kelp_volume_prefetch(const struct kelp_volume *v, uint64_t key);

/*
 * kelp_volume_faulted - did a read of @v's mapping hit a page that is no longer in the file (the
 * .dat was truncated under it; core/fault.h)? Then everything read from @v may be garbage: the
 * caller fails its read with -EIO, and the next kelp_volume_set_refresh() opens the file afresh.
 * Any thread that read @v, AFTER its accesses (one acquire load).
 */
int kelp_volume_faulted(const struct kelp_volume *v);

/* kelp_volume_fault_news - 1 the first time it is called after @v faulted, else 0 (for one log
 * line per fault). Control thread only. */
int kelp_volume_fault_news(struct kelp_volume *v);

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

/* ---- Additions beyond the first contract (h1): live volumes
 * -------------------------------------- */
struct kelp_epoch;

/*
 * kelp_volume_set_use_epoch - free replaced volumes, tables and indexes through @ep (see
 * core/epoch.h) instead of keeping them until close. Control thread, before the first refresh; @ep
 * must outlive the set. Readers of the set must be registered with @ep and call
 * kelp_epoch_quiescent() between requests.
 */
void kelp_volume_set_use_epoch(struct kelp_volume_set *set, struct kelp_epoch *ep);

/*
 * kelp_volume_set_refresh - follow the exported directories (see "Live volumes" above): tail every
 * .idx, switch vacuumed volumes, add new ones, drop removed ones, then reclaim through the epoch.
 * Control thread only; cheap when nothing changed (an fstat per file, a stat per directory).
 * Problems are reported through the set's warn callback once per file state.
 * @return the number of changes (rows applied + volumes added, replaced or removed), or -ENOMEM.
 */
int kelp_volume_set_refresh(struct kelp_volume_set *set);

/*
 * kelp_volume_check_replaced - has the volume's file pair been replaced (vacuum) or removed?
 * Control thread only. @return 0 no, 1 yes (open it again), -ENOENT .dat is gone.
 */
int kelp_volume_check_replaced(struct kelp_volume *v);

/*
 * kelp_volume_tail - apply what was appended to .idx since open or the last call (rows whose record
 * lies inside .dat's current length; a row that points past .dat waits aside, at most 64 of them,
 * without holding up the rows after it, until its record is there, a later row of its key
 * supersedes it, or 50 calls passed) and make the appended .dat bytes readable. A grown index
 * replaces the old one, which is handed to @retire(@ctx, free_fn, old) to be freed when readers are
 * done. Control thread only.
 * @return rows applied (>= 0); -EAGAIN when the volume must be opened again (.dat outgrew the
 * mapping or shrank, .idx shrank or appeared); -ENOMEM; other -errno from fstat/pread.
 */
int kelp_volume_tail(struct kelp_volume *v, void (*retire)(void *ctx, void (*fn)(void *), void *p),
		     void *ctx);

/* ---- Additions beyond the first contract (h1): inspection and tools ----------------------------
 */
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
/* .idx rows not applied because their record does not lie inside .dat: waiting for it (a row
 * waits up to 50 tails; later rows do not wait for it) or given up on. Control thread. */
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
int kelp_volume_next(const struct kelp_volume *v, uint64_t *cursor, uint64_t *key,
		     uint64_t *offset);

/*
 * kelp_volume_id_from_path - the volume id in a file name "<dir>/[<collection>_]<N>.dat" (or .idx).
 * @return 0 with *@vid, or -EINVAL when the name has no decimal id.
 */
int kelp_volume_id_from_path(const char *path, uint32_t *vid);

/*
 * kelp_volume_detect_offset_bytes - which .idx layout the @idx_len bytes at @idx use, given the
 * volume's .dat (@dat, @dat_len bytes, version @version): the one whose rows point at records with
 * the same key and size (checks up to 16 live rows); ties go to 4 unless only 17 divides the
 * length. For files without a .vif (a .vif's bytesOffset wins: kelp_vif_offset_bytes()).
 * @return 4 or 5.
 */
int kelp_volume_detect_offset_bytes(const uint8_t *idx, size_t idx_len, const uint8_t *dat,
				    uint64_t dat_len, uint8_t version);

#endif
