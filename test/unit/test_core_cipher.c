/* SPDX-License-Identifier: Apache-2.0 */
/* core/cipher: chunks a real weed 4.48 filer with -encryptVolumeData stored (needle data read by
 * fid from the volume server; keys from the entries' cipher_key), decrypted to the bytes that were
 * uploaded; compressed + encrypted; tampering, wrong keys and sizes; the unencrypted cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/cipher.h"
#include "core/gzip.h"
#include "fixture_file.h"
#include "proto/filer_entry.h"

/* the chunk @i of fixture entry @name */
static struct kelp_filer_chunk chunk_of(const char *name, uint32_t i)
{
	size_t len;
	uint8_t *json = load_fixture(name, &len);
	struct kelp_filer_entry e;
	assert_int_equal(kelp_filer_entry_parse((char *)json, len, &e), 0);
	free(json);
	assert_true(i < e.nchunks);
	struct kelp_filer_chunk c = e.chunks[i];
	kelp_filer_entry_free(&e);
	return c;
}

static void test_real_encrypted_chunk(void **state)
{
	struct kelp_filer_chunk c = chunk_of("filer/entry_enc.json", 1);
	size_t len, plain_len, n;
	uint8_t *stored = load_fixture("filer/enc_chunk.bin", &len);
	uint8_t *plain = load_fixture("filer/enc_chunk.plain", &plain_len);
	assert_int_equal(c.size, plain_len);
	assert_int_equal(len, plain_len + KELP_GCM_OVERHEAD); /* nonce + tag around it */
	uint8_t *out = malloc(len);
	assert_int_equal(
		kelp_chunk_decrypt(c.cipher_key, c.cipher_key_len, stored, len, out, len, &n), 0);
	assert_int_equal(n, plain_len);
	assert_memory_equal(out, plain, n);
	assert_int_equal(
		kelp_chunk_unpack(c.cipher_key, 32, c.is_compressed, stored, len, out, len, &n), 0);
	assert_memory_equal(out, plain, n);

	/* too small an output */
	assert_int_equal(kelp_chunk_decrypt(c.cipher_key, 32, stored, len, out, n - 1, &n),
			 -ENOSPC);
	/* every changed byte (nonce, ciphertext, tag) fails authentication */
	size_t at[] = {0, 11, 12, 2000, len - 17, len - 16, len - 1};
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		stored[at[i]] ^= 0x01;
		assert_int_equal(kelp_chunk_decrypt(c.cipher_key, 32, stored, len, out, len, &n),
				 -EIO);
		stored[at[i]] ^= 0x01;
	}
	/* a cut needle, the other chunk's key, a key of a wrong length */
	assert_int_equal(kelp_chunk_decrypt(c.cipher_key, 32, stored, len - 1, out, len, &n), -EIO);
	struct kelp_filer_chunk other = chunk_of("filer/entry_enc.json", 0);
	assert_int_equal(kelp_chunk_decrypt(other.cipher_key, 32, stored, len, out, len, &n), -EIO);
	assert_int_equal(kelp_chunk_decrypt(c.cipher_key, 31, stored, len, out, len, &n), -EINVAL);
	assert_int_equal(kelp_chunk_decrypt(c.cipher_key, 32, stored, 27, out, len, &n), -EBADMSG);
	assert_int_equal(kelp_chunk_unpack(c.cipher_key, 33, false, stored, len, out, len, &n),
			 -EINVAL);
	free(stored);
	free(plain);
	free(out);
}

static void test_real_compressed_encrypted_chunk(void **state)
{
	struct kelp_filer_chunk c = chunk_of("filer/entry_enctext.json", 0);
	size_t len, plain_len, n;
	uint8_t *stored = load_fixture("filer/enctext_chunk.bin", &len);
	uint8_t *plain = load_fixture("filer/enctext.plain", &plain_len);
	assert_true(c.is_compressed);
	assert_int_equal(c.size, plain_len);
	assert_true(len < plain_len / 10); /* gzip, then encrypted */
	uint8_t *out = malloc(plain_len);
	assert_int_equal(kelp_chunk_unpack(c.cipher_key, c.cipher_key_len, true, stored, len, out,
					   plain_len, &n),
			 0);
	assert_int_equal(n, plain_len);
	assert_memory_equal(out, plain, n);
	/* decrypted only: the gzip stream weed wrote */
	assert_int_equal(kelp_chunk_decrypt(c.cipher_key, 32, stored, len, out, plain_len, &n), 0);
	assert_int_equal(n, len - KELP_GCM_OVERHEAD);
	assert_int_equal(out[0], 0x1f);
	assert_int_equal(out[1], 0x8b);
	/* the plain data larger than the caller expects */
	assert_int_equal(
		kelp_chunk_unpack(c.cipher_key, 32, true, stored, len, out, plain_len - 1, &n),
		-ENOSPC);
	free(stored);
	free(plain);
	free(out);
}

/* AES-GCM encryption as weed's util.Encrypt lays it out (nonce || ciphertext || tag) */
static size_t seal(const uint8_t *key, const uint8_t *nonce, const void *in, size_t len,
		   uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, fin = 0;
	memcpy(out, nonce, 12);
	assert_int_equal(EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce), 1);
	if (len)
		assert_int_equal(EVP_EncryptUpdate(ctx, out + 12, &n, in, (int)len), 1);
	assert_int_equal(EVP_EncryptFinal_ex(ctx, out + 12 + n, &fin), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, out + 12 + len), 1);
	EVP_CIPHER_CTX_free(ctx);
	return len + 28;
}

static void test_unpack_rules(void **state)
{
	uint8_t key[32], nonce[12], sealed[256], out[256], gz[256];
	size_t n;
	memset(key, 7, sizeof(key));
	memset(nonce, 9, sizeof(nonce));

	/* not encrypted: compressed + gzip magic -> inflated; otherwise copied as they are */
	const char *text = "hello hello hello hello hello";
	int64_t gl = kelp_gzip(text, strlen(text), gz, sizeof(gz));
	assert_true(gl > 0);
	assert_int_equal(kelp_chunk_unpack(NULL, 0, true, gz, (size_t)gl, out, sizeof(out), &n), 0);
	assert_int_equal(n, strlen(text));
	assert_memory_equal(out, text, n);
	assert_int_equal(kelp_chunk_unpack(NULL, 0, false, gz, (size_t)gl, out, sizeof(out), &n),
			 0);
	assert_int_equal(n, (size_t)gl); /* not compressed: the gzip bytes are the data */
	assert_int_equal(kelp_chunk_unpack(NULL, 0, true, "plain", 5, out, sizeof(out), &n), 0);
	assert_int_equal(n, 5); /* weed: no gzip magic, "unsupported compression", bytes kept */
	assert_int_equal(kelp_chunk_unpack(NULL, 0, false, "plain", 5, out, 4, &n), -ENOSPC);
	assert_int_equal(kelp_chunk_unpack(NULL, 0, false, "", 0, out, 0, &n), 0);
	assert_int_equal(n, 0);

	/* encrypted + compressed, but the plain bytes are not gzip: kept */
	size_t sl = seal(key, nonce, "not gzip", 8, sealed);
	assert_int_equal(kelp_chunk_unpack(key, 32, true, sealed, sl, out, sizeof(out), &n), 0);
	assert_int_equal(n, 8);
	assert_memory_equal(out, "not gzip", 8);
	/* encrypted gzip magic with a corrupt stream: -EIO */
	sl = seal(key, nonce, "\x1f\x8b\x08\x00garbage-garbage-garbage", 27, sealed);
	assert_int_equal(kelp_chunk_unpack(key, 32, true, sealed, sl, out, sizeof(out), &n), -EIO);
	/* an empty plaintext: nonce + tag only */
	sl = seal(key, nonce, "", 0, sealed);
	assert_int_equal(sl, KELP_GCM_OVERHEAD);
	assert_int_equal(kelp_chunk_unpack(key, 32, true, sealed, sl, out, sizeof(out), &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(kelp_chunk_decrypt(key, 32, sealed, sl, out, 0, &n), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_encrypted_chunk),
		cmocka_unit_test(test_real_compressed_encrypted_chunk),
		cmocka_unit_test(test_unpack_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
