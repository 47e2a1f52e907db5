/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which chunk holds which byte of a file, as the filer decides it (weed/filer/filechunks_read.go
 * readResolvedChunks, filechunks.go ViewFromVisibleIntervals), and the pieces of one read.
 *
 * 1. kelp_chunk_visibles(): the data chunks of a file (manifests already resolved: none may have
 *    is_chunk_manifest) -> its visible intervals: sorted, non-overlapping [start, stop) ranges,
 * each shown by one chunk. Where chunks overlap, the one with the greater modified_ts_ns shows.
 * weed sweeps the chunks' start/end points in order (x, then ts, an end before a start) keeping the
 *    covering chunks ordered by ts; this follows the same sweep, so its quirks are kept too: of two
 *    chunks with EQUAL modified_ts_ns that overlap, the one that starts first shows until it ends
 * and the rest of the other stays hidden (a hole), as in weed; where weed's sweep would then show a
 *    chunk beyond its own end (several chunks sharing a ts inside a newer one: weed would read
 *    past that chunk's data and fail), kelp shows a hole. Bytes no chunk covers are holes.
 * 2. kelp_chunk_plan(): a read of [offset, offset + len) of a file of @file_size bytes (the
 *    entry's FileSize, which the filer's GET serves: chunks past it are cut off, holes up to it
 * read as zeros) -> pieces, in order, that tile the bytes read exactly: either (chunk, offset in
 * the chunk's plain data, length) or a hole.
 *
 * A piece's offset is within the chunk's PLAIN data (decrypted, decompressed). A plain stored chunk
 * can be read as a byte range of its needle; an encrypted or compressed one must be fetched whole,
 * unpacked (core/cipher.h), then cut (weed does the same: weed/util/http readEncryptedUrl).
 *
 * Who may call: any thread. kelp_chunk_visibles() allocates (control thread); kelp_chunk_plan()
 * does not (writes into the caller's array).
 */
#ifndef KELP_PROTO_CHUNK_PLAN_H
#define KELP_PROTO_CHUNK_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "proto/filer_entry.h"

/* One visible interval: bytes [start, stop) of the file are chunk @chunk's plain bytes from
 * @chunk_off on. */
struct kelp_chunk_visible {
	int64_t start, stop;
	uint32_t chunk;	    /* index into the chunks given to kelp_chunk_visibles() */
	uint64_t chunk_off; /* = start - chunks[chunk].offset */
};

/* The most data chunks of one file kelp resolves (after its manifests): 2^20 (a 4 TiB file of
 * weed's default 4 MiB chunks). */
#define KELP_CHUNK_PLAN_MAX (1u << 20)

#define KELP_CHUNK_HOLE UINT32_MAX /* kelp_chunk_piece.chunk of a hole */

/* One piece of a read: @len bytes at @dst_off of the caller's buffer (0 = the read's first byte).
 */
struct kelp_chunk_piece {
	uint32_t chunk; /* index into the chunks, or KELP_CHUNK_HOLE (zeros) */
	uint32_t len;
	uint64_t chunk_off; /* offset in the chunk's plain data (0 for a hole) */
	uint64_t dst_off;
};

/*
 * kelp_chunk_visibles - the visible intervals of @n chunks (above); a new array in *@out (malloc'd,
 * the caller frees it; NULL when *@count is 0). Chunks of size 0 show nothing.
 * Return: 0; -EINVAL a manifest chunk among them (resolve it first), a negative offset, or
 * offset + size overflowing; -E2BIG @n > KELP_CHUNK_PLAN_MAX; -ENOMEM.
 */
int kelp_chunk_visibles(const struct kelp_filer_chunk *chunks, uint32_t n,
			struct kelp_chunk_visible **out, uint32_t *count);

/*
 * kelp_chunk_plan - the pieces of a read of [@offset, @offset + @len) from a file of @file_size
 * bytes whose visible intervals are @vis (@nvis of them, as kelp_chunk_visibles() made them).
 * Writes at most @cap pieces to @pieces and their number to *@npieces; they tile [0, n) of the
 * caller's buffer, n being the return value. A read needs at most 2 * (visibles it meets) + 1
 * pieces; 2 * @nvis + 1 always suffices.
 * Return: n, the bytes the read gives (< @len at the end of the file, 0 at or after it);
 * -ENOSPC @cap too small (nothing is to be used); -EINVAL @vis not sorted and disjoint.
 */
int64_t kelp_chunk_plan(const struct kelp_chunk_visible *vis, uint32_t nvis, uint64_t file_size,
			uint64_t offset, uint32_t len, struct kelp_chunk_piece *pieces,
			uint32_t cap, uint32_t *npieces);

#endif
