/* SPDX-License-Identifier: Apache-2.0 */
/* JWT HS256 read tokens; the format is described in jwt.h. */
#include "proto/jwt.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int kelp_base64url_encode(const void *in, size_t n, char *out, size_t size)
{
	const uint8_t *s = in;
	size_t need = n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0), o = 0;

	if (need + 1 > size)
		return -ENOSPC;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)s[i + 1] << 8;
		if (i + 2 < n)
			v |= s[i + 2];
		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
		if (i + 1 < n)
			out[o++] = b64url[v >> 6 & 63];
		if (i + 2 < n)
			out[o++] = b64url[v & 63];
	}
	out[o] = '\0';
	return (int)o;
}

static int b64url_value(char c)
{
	const char *p = c ? strchr(b64url, c) : NULL;
	return p ? (int)(p - b64url) : -1;
}

int kelp_base64url_decode(const char *in, size_t len, uint8_t *out, size_t size)
{
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;

	if (len % 4 == 1)
		return -EBADMSG;
	for (size_t i = 0; i < len; i++) {
		int v = b64url_value(in[i]);
		if (v < 0)
			return -EBADMSG;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= size)
				return -ENOSPC;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	return (int)o;
}

static int hmac_sha256(const void *key, size_t key_len, const char *msg, size_t len,
		       uint8_t mac[32])
{
	unsigned int mac_len = 0;

	/* HMAC() with an empty key needs a non-NULL pointer */
	if (!HMAC(EVP_sha256(), key_len ? key : "", (int)key_len, (const uint8_t *)msg, len, mac,
		  &mac_len) ||
	    mac_len != 32)
		return -EIO;
	return 0;
}

/* The fid goes into JSON unescaped: allow only what file ids and their suffixes use. */
static int check_fid(const char *fid)
{
	if (!*fid)
		return -EINVAL;
	for (const char *c = fid; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f || *c == '"' ||
		    *c == '\\')
			return -EINVAL;
	return 0;
}

int kelp_jwt_sign_read(const void *key, size_t key_len, const char *fid, int64_t exp, char *out,
		       size_t size)
{
	static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	char claims[160], mac_b64[48];
	uint8_t mac[32];
	int n, rc;

	if ((rc = check_fid(fid)))
		return rc;
	n = snprintf(claims, sizeof(claims), "{\"fid\":\"%s\",\"exp\":%lld}", fid, (long long)exp);
	if (n < 0 || (size_t)n >= sizeof(claims))
		return -EINVAL;

	int h = kelp_base64url_encode(header, sizeof(header) - 1, out, size);
	if (h < 0 || (size_t)h + 1 >= size)
		return -ENOSPC;
	out[h] = '.';
	int c = kelp_base64url_encode(claims, (size_t)n, out + h + 1, size - (size_t)h - 1);
	if (c < 0)
		return -ENOSPC;
	size_t signed_len = (size_t)h + 1 + (size_t)c;
	if ((rc = hmac_sha256(key, key_len, out, signed_len, mac)))
		return rc;
	int m = kelp_base64url_encode(mac, sizeof(mac), mac_b64, sizeof(mac_b64));
	if (signed_len + 1 + (size_t)m + 1 > size)
		return -ENOSPC;
	out[signed_len] = '.';
	memcpy(out + signed_len + 1, mac_b64, (size_t)m + 1);
	return (int)(signed_len + 1 + (size_t)m);
}

/* Decode one base64url JSON part. @return a new reference or NULL. */
static json_t *decode_json_part(const char *s, size_t len)
{
	uint8_t buf[1024];
	int n = kelp_base64url_decode(s, len, buf, sizeof(buf));
	if (n < 0)
		return NULL;
	return json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
}

int kelp_jwt_verify_read(const void *key, size_t key_len, const char *token, size_t len,
			 char *fid_out, size_t fid_size, int64_t *exp_out)
{
	const char *dot1 = memchr(token, '.', len);
	const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
	uint8_t mac[32], got[33];
	int rc = -EBADMSG;

	if (!dot1 || !dot2)
		return -EBADMSG;
	json_t *hdr = decode_json_part(token, (size_t)(dot1 - token));
	json_t *cl = decode_json_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	const char *alg = json_string_value(json_object_get(hdr, "alg"));
	const char *fid = json_string_value(json_object_get(cl, "fid"));
	json_t *exp = json_object_get(cl, "exp");

	if (!alg || strcmp(alg, "HS256") != 0 || !fid || !json_is_integer(exp))
		goto out;
	if (kelp_base64url_decode(dot2 + 1, len - (size_t)(dot2 + 1 - token), got, sizeof(got)) !=
	    32)
		goto out;
	if ((rc = hmac_sha256(key, key_len, token, (size_t)(dot2 - token), mac)))
		goto out;
	if (CRYPTO_memcmp(mac, got, 32) != 0) {
		rc = -EPERM;
		goto out;
	}
	if (strlen(fid) + 1 > fid_size) {
		rc = -ENOSPC;
		goto out;
	}
	strcpy(fid_out, fid);
	*exp_out = json_integer_value(exp);
	rc = 0;
out:
	json_decref(hdr);
	json_decref(cl);
	return rc;
}
