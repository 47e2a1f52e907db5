/* SPDX-License-Identifier: Apache-2.0 */
#include "core/cipher.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/gzip.h"

static const EVP_CIPHER *gcm_for(size_t key_len)
{
	switch (key_len) { /* Go's aes.NewCipher picks the AES variant by the key's length */
	case 16:
		return EVP_aes_128_gcm();
	case 24:
		return EVP_aes_192_gcm();
	case 32:
		return EVP_aes_256_gcm();
	default:
		return NULL;
	}
}

int kelp_chunk_decrypt(const uint8_t *key, size_t key_len, const void *in, size_t in_len, void *out,
		       size_t out_cap, size_t *out_len)
{
	const EVP_CIPHER *type = gcm_for(key_len);
	if (!type)
		return -EINVAL;
	if (in_len < KELP_GCM_OVERHEAD)
		return -EBADMSG;
	size_t n = in_len - KELP_GCM_OVERHEAD;
	if (n > out_cap)
		return -ENOSPC;
	if (n > INT_MAX) /* EVP counts in int */
		return -EBADMSG;
	const uint8_t *nonce = in, *ct = nonce + KELP_GCM_NONCE_LEN, *tag = ct + n;

	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return -ENOMEM;
	int rc = -EIO, len = 0, fin = 0;
	/* Go's cipher.NewGCM: 12-byte nonce, 16-byte tag, no additional data */
	if (EVP_DecryptInit_ex(ctx, type, NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, KELP_GCM_NONCE_LEN, NULL) != 1 ||
	    EVP_DecryptInit_ex(ctx, NULL, NULL, key, nonce) != 1 ||
	    (n && EVP_DecryptUpdate(ctx, out, &len, ct, (int)n) != 1) ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, KELP_GCM_TAG_LEN, (void *)tag) != 1)
		goto done;
	/* the tag is checked here: until then @out holds unauthenticated bytes */
	if (EVP_DecryptFinal_ex(ctx, (uint8_t *)out + len, &fin) != 1)
		goto done;
	*out_len = n;
	rc = 0;
done:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

static bool is_gzip(const uint8_t *p, size_t len)
{
	return len >= 2 && p[0] == 0x1f &&
	       p[1] == 0x8b; /* weed/util/compression.go IsGzippedContent */
}

static int gunzip_to(const void *in, size_t in_len, void *out, size_t out_cap, size_t *out_len)
{
	int rc = kelp_gunzip(in, in_len, out, out_cap, out_len);
	return rc == -EINVAL ? -EIO : rc;
}

int kelp_chunk_unpack(const uint8_t *key, size_t key_len, bool compressed, const void *in,
		      size_t in_len, void *out, size_t out_cap, size_t *out_len)
{
	if (!key_len) {
		if (compressed && is_gzip(in, in_len))
			return gunzip_to(in, in_len, out, out_cap, out_len);
		if (in_len > out_cap)
			return -ENOSPC;
		if (in_len)
			memcpy(out, in, in_len);
		*out_len = in_len;
		return 0;
	}
	if (!gcm_for(key_len))
		return -EINVAL;
	if (in_len < KELP_GCM_OVERHEAD)
		return -EBADMSG;
	size_t plain_len = in_len - KELP_GCM_OVERHEAD, n = 0;
	if (!compressed) /* straight into @out */
		return kelp_chunk_decrypt(key, key_len, in, in_len, out, out_cap, out_len);
	/* decrypted bytes may be gzip (then inflated into @out) or not (then copied): a scratch
	 * buffer */
	uint8_t *tmp = malloc(plain_len ? plain_len : 1);
	if (!tmp)
		return -ENOMEM;
	int rc = kelp_chunk_decrypt(key, key_len, in, in_len, tmp, plain_len, &n);
	if (rc == 0)
		rc = kelp_chunk_unpack(NULL, 0, true, tmp, n, out, out_cap, out_len);
	free(tmp);
	return rc;
}
