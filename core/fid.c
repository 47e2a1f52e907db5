/* SPDX-License-Identifier: Apache-2.0 */
/*
 * File ids: "3,01637037d6" and the volume-server path forms (see fid.h). Pure functions, any
 * thread.
 */
#include "core/fid.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parse decimal digits [s, end) into *out; at least one digit, no overflow of @max. */
static bool parse_decimal(const char *s, const char *end, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (s == end)
		return false;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return false;
		unsigned d = (unsigned)(*s - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

int kelp_fid_parse(const char *s, size_t len, struct kelp_fid *out)
{
	const char *p = s, *end = s + len;
	struct kelp_fid fid;
	uint64_t v;

	if (!s)
		return -EINVAL;
	if (p < end && *p == '/')
		p++;

	/* volume id: decimal up to ',' or '/' */
	const char *sep = p;
	while (sep < end && *sep != ',' && *sep != '/')
		sep++;
	if (sep == end || !parse_decimal(p, sep, UINT32_MAX, &v))
		return -EINVAL;
	fid.volume_id = (uint32_t)v;
	bool slash_form = *sep == '/';
	p = sep + 1;

	/* key + cookie hex */
	const char *hex = p;
	while (p < end && hex_value(*p) >= 0)
		p++;
	size_t nhex = (size_t)(p - hex);
	if (nhex < 9 || nhex > 24)
		return -EINVAL;
	fid.key = 0;
	for (size_t i = 0; i < nhex - 8; i++)
		fid.key = fid.key << 4 | (uint64_t)hex_value(hex[i]);
	fid.cookie = 0;
	for (size_t i = nhex - 8; i < nhex; i++)
		fid.cookie = fid.cookie << 4 | (uint32_t)hex_value(hex[i]);

	/* optional "_N": adds decimal N to the key (fids from /dir/assign?count=N) */
	if (p < end && *p == '_') {
		const char *d = ++p;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
		if (!parse_decimal(d, p, UINT64_MAX, &v) || fid.key > UINT64_MAX - v)
			return -EINVAL;
		fid.key += v;
	}

	/* the rest: ".ext" for the comma form, "/name" for the slash form, or nothing */
	if (p < end) {
		if (slash_form) {
			if (*p != '/')
				return -EINVAL;
		} else if (*p != '.' || p + 1 == end) {
			return -EINVAL;
		}
		if (memchr(p, '\0', (size_t)(end - p)))
			return -EINVAL;
	}
	*out = fid;
	return 0;
}

int kelp_fid_format(const struct kelp_fid *fid, char *buf, size_t size)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[KELP_FID_STR_MAX];
	size_t n = 0;

	/* volume id, decimal */
	char vid[10];
	size_t nv = 0;
	uint32_t vol = fid->volume_id;
	do {
		vid[nv++] = (char)('0' + vol % 10);
		vol /= 10;
	} while (vol);
	while (nv)
		tmp[n++] = vid[--nv];
	tmp[n++] = ',';

	/* key: big-endian bytes with the leading zero bytes dropped, as SeaweedFS formats it */
	int first = 7;
	while (first >= 0 && ((fid->key >> (first * 8)) & 0xff) == 0)
		first--;
	for (int b = first; b >= 0; b--) {
		uint8_t byte = (uint8_t)(fid->key >> (b * 8));
		tmp[n++] = digits[byte >> 4];
		tmp[n++] = digits[byte & 15];
	}
	for (int sh = 28; sh >= 0; sh -= 4)
		tmp[n++] = digits[(fid->cookie >> sh) & 15];

	if (n + 1 > size)
		return -ENOSPC;
	memcpy(buf, tmp, n);
	buf[n] = '\0';
	return (int)n;
}
