/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JWT read tokens for SeaweedFS volume servers (HS256), as pure functions.
 *
 * Format (RFC 7519, what SeaweedFS's security.EncodeJwt writes with golang-jwt):
 *   base64url(header) "." base64url(claims) "." base64url(HMAC-SHA256(key, first two parts))
 *   header = {"alg":"HS256","typ":"JWT"}
 *   claims = {"fid":"<vid>,<key+cookie hex>","exp":<unix seconds>}
 * base64url without padding. The key is `jwt.signing.read.key` of security.toml, used as raw bytes.
 * The volume server compares claim fid with "<vid>,<text after the comma of the URL path>"
 * (a "_N" suffix and an extension removed), so sign exactly the fid text of the URL.
 */
#ifndef KELP_PROTO_JWT_H
#define KELP_PROTO_JWT_H

#include <stddef.h>
#include <stdint.h>

/* Room for a token of a fid of at most KELP_FID_STR_MAX bytes, with the NUL. */
#define KELP_JWT_MAX 256

/*
 * kelp_jwt_sign_read - write the read token for @fid expiring at @exp (unix seconds) into @out,
 * NUL-terminated. Any thread.
 * @return the token length, -EINVAL when @fid is empty or has characters that need JSON escaping,
 * -ENOSPC when @size is too small, -EIO when libcrypto fails.
 */
int kelp_jwt_sign_read(const void *key, size_t key_len, const char *fid, int64_t exp, char *out,
		       size_t size);

/*
 * kelp_jwt_verify_read - check an HS256 token's signature with @key and extract its fid and exp
 * claims (for tests and tools). Any thread.
 * @return 0; -EBADMSG when the token is malformed, its alg is not HS256 or the claims lack fid/exp;
 * -EPERM when the signature does not match; -ENOSPC when @fid_size is too small.
 */
int kelp_jwt_verify_read(const void *key, size_t key_len, const char *token, size_t len,
			 char *fid_out, size_t fid_size, int64_t *exp_out);

/*
 * kelp_base64url_encode - unpadded base64url of @n bytes into @out (NUL-terminated).
 * @return the length written, or -ENOSPC.
 */
int kelp_base64url_encode(const void *in, size_t n, char *out, size_t size);

/*
 * kelp_base64url_decode - decode unpadded base64url text (@len chars) into @out.
 * @return the number of bytes, -EBADMSG on bad characters or length, -ENOSPC.
 */
int kelp_base64url_decode(const char *in, size_t len, uint8_t *out, size_t size);

#endif
