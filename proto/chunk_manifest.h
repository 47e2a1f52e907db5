/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The data of a chunk with is_chunk_manifest: a protobuf FileChunkManifest (weed/pb/filer.proto)
 *
 *   message FileChunkManifest { repeated FileChunk chunks = 1; }
 *   message FileChunk { string file_id = 1; int64 offset = 2; uint64 size = 3;
 *       int64 modified_ts_ns = 4; string e_tag = 5; string source_file_id = 6; FileId fid = 7;
 *       FileId source_fid = 8; bytes cipher_key = 9; bool is_compressed = 10;
 *       bool is_chunk_manifest = 11; SSEType sse_type = 12; bytes sse_metadata = 13; }
 *   message FileId { uint32 volume_id = 1; uint64 file_key = 2; fixed32 cookie = 3; }
 *
 * decoded by hand (only these three messages are needed; unknown fields of any wire type are
 * skipped, as protobuf requires; fuzzed by test/fuzz/fuzz_chunk_manifest.c). weed writes the fid
 * as the FileId message and leaves file_id empty (filer_pb.BeforeEntrySerialization); either is
 * accepted, and when both are present they must agree.
 *
 * Where it comes from (weed/filer/filechunk_manifest.go): a writer folds every ManifestBatch
 * (10000) data chunks of a file into one manifest chunk, whose offset/size span them and whose
 * modified_ts_ns weed leaves 0. So a manifest chunk's size is NOT the length of its data (a real
 * one: size 1000000, data 289832 bytes): read its whole needle, whatever the size says. The
 * manifest chunk itself is stored like data (it may carry a cipher_key when the filer encrypts, and
 * is_compressed): fetch its whole needle and undo both (core/cipher.h) before decoding. Its chunks
 * may be manifests again (weed resolves recursively); weed resolves only the manifests whose span
 * meets the range it reads.
 *
 * Who may call: any thread; allocates: control thread / tools, not an lcore's loop.
 */
#ifndef KELP_PROTO_CHUNK_MANIFEST_H
#define KELP_PROTO_CHUNK_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "proto/filer_entry.h"

/*
 * kelp_chunk_manifest_decode - decode the FileChunkManifest in @len bytes at @buf into a new array
 * *@chunks of *@count chunks (malloc'd, the caller frees it; NULL when the manifest is empty).
 * Return: 0; -EBADMSG not a valid encoding, more than KELP_FILER_CHUNKS_MAX chunks, a chunk
 * without a (valid) fid, a size over KELP_FILER_CHUNK_SIZE_MAX, a negative offset or one whose
 * offset + size overflows, a cipher key not 16/24/32 bytes long; -ENOMEM.
 */
int kelp_chunk_manifest_decode(const void *buf, size_t len, struct kelp_filer_chunk **chunks,
			       uint32_t *count);

#endif
