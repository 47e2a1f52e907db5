/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Undoing what a filer did to a chunk before storing it (weed/operation/upload_content.go):
 *   data -> gzip when compressible (".txt", text/..., or the first 128 bytes shrink below 90%)
 *        -> AES-GCM when the filer runs with -encryptVolumeData: a fresh random 256-bit key per
 *           chunk (FileChunk.cipher_key) and a fresh random 12-byte nonce; stored needle =
 *           nonce (12) || ciphertext || tag (16), no additional data (weed/util/cipher.go: Go's
 *           cipher.NewGCM defaults; Seal(nonce, nonce, plaintext, nil)).
 * So: encrypted chunk -> decrypt the whole needle, then, when is_compressed, gunzip IF the plain
 * bytes start with the gzip magic 1f 8b (else they are used as they are: weed's DecompressData
 * treats anything else as "unsupported compression" and keeps the bytes, weed/util/compression.go;
 * weed's zstd is commented out, so gzip is the only compression a chunk can have).
 * A chunk that is NOT encrypted is stored as a gzip needle (needle flag 0x01) when compressed; the
 * filer reads it with `Accept-Encoding: gzip` and inflates on `Content-Encoding: gzip`, i.e. by
 * the needle's flag, not by is_compressed: kelp's fid reads report that flag (KELP_CQE_F_GZIP,
 * needle_flags & 0x01) and kelp_gunzip() (core/gzip.h) inflates.
 *
 * Who may call: any thread; kelp_chunk_decrypt() does not allocate (OpenSSL EVP may, inside), and
 * kelp_chunk_unpack() does: control thread / tools, not an lcore's loop.
 */
#ifndef KELP_CORE_CIPHER_H
#define KELP_CORE_CIPHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KELP_GCM_NONCE_LEN 12
#define KELP_GCM_TAG_LEN   16
#define KELP_GCM_OVERHEAD  (KELP_GCM_NONCE_LEN + KELP_GCM_TAG_LEN)

/*
 * kelp_chunk_decrypt - AES-GCM-decrypt a stored chunk (@in_len bytes at @in: nonce || ciphertext ||
 * tag) with the @key_len-byte @key (16/24/32: AES-128/192/256, as Go's aes.NewCipher picks by
 * length; weed writes 32) into @out (@out_cap >= @in_len - KELP_GCM_OVERHEAD bytes; may not overlap
 * @in). *@out_len gets @in_len - KELP_GCM_OVERHEAD.
 * Return: 0; -EINVAL bad key length; -EBADMSG @in shorter than nonce + tag; -EIO authentication
 * failed (wrong key, or the bytes were changed: nothing in @out may be used); -ENOSPC; -ENOMEM.
 */
int kelp_chunk_decrypt(const uint8_t *key, size_t key_len, const void *in, size_t in_len, void *out,
		       size_t out_cap, size_t *out_len);

/*
 * kelp_chunk_unpack - a chunk's plain data from its stored needle data: decrypt when @key_len > 0,
 * then gunzip when @compressed and the bytes start with the gzip magic (above). For a chunk that is
 * not encrypted, pass @compressed = the needle's gzip flag (not the entry's is_compressed, see
 * above). Result into @out (@out_cap bytes; the chunk's size is what the caller expects).
 * Return: 0 with *@out_len set; the errors of kelp_chunk_decrypt(); -EIO the gzip data is corrupt;
 * -ENOSPC @out_cap too small; -ENOMEM.
 */
int kelp_chunk_unpack(const uint8_t *key, size_t key_len, bool compressed, const void *in,
		      size_t in_len, void *out, size_t out_cap, size_t *out_len);

#endif
