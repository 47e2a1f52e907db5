/* SPDX-License-Identifier: Apache-2.0 */
#include "core/needle.h"

#include <errno.h>
#include <string.h>

#include "core/be.h"
#include "core/crc32c.h"

uint32_t kelp_needle_padding(uint8_t version, uint32_t size)
{
	uint64_t unpadded = KELP_NEEDLE_HEADER_SIZE + (uint64_t)size + KELP_NEEDLE_CRC_SIZE +
			    (version == 3 ? KELP_NEEDLE_TIMESTAMP_SIZE : 0);
	return 8 - (uint32_t)(unpadded % 8); /* 1..8: SeaweedFS never pads with 0 bytes */
}

uint64_t kelp_needle_record_len(uint8_t version, uint32_t size)
{
	return KELP_NEEDLE_HEADER_SIZE + (uint64_t)size + KELP_NEEDLE_CRC_SIZE +
	       (version == 3 ? KELP_NEEDLE_TIMESTAMP_SIZE : 0) + kelp_needle_padding(version, size);
}

int kelp_needle_parse_header(const uint8_t *buf, size_t len, uint32_t *cookie, uint64_t *key,
			     uint32_t *size)
{
	if (len < KELP_NEEDLE_HEADER_SIZE)
		return -EINVAL;
	*cookie = kelp_be32(buf);
	*key = kelp_be64(buf + 4);
	*size = kelp_be32(buf + 12);
	return 0;
}

/* Parse a v2/v3 body (the way SeaweedFS's readNeedleDataVersion2 does). */
static int parse_body_v2(const uint8_t *b, uint32_t len, struct kelp_needle *n)
{
	uint32_t i = 0;

	if (len == 0)
		return 0;
	if (len < 4)
		return -EINVAL;
	n->data_size = kelp_be32(b);
	i = 4;
	if (n->data_size > len - i)
		return -EINVAL;
	n->data = b + i;
	i += n->data_size;
	if (i < len)
		n->flags = b[i++];
	if (i < len && (n->flags & KELP_NEEDLE_FLAG_NAME)) {
		n->name_len = b[i++];
		if (n->name_len > len - i)
			return -EINVAL;
		n->name = b + i;
		i += n->name_len;
	}
	if (i < len && (n->flags & KELP_NEEDLE_FLAG_MIME)) {
		n->mime_len = b[i++];
		if (n->mime_len > len - i)
			return -EINVAL;
		n->mime = b + i;
		i += n->mime_len;
	}
	if (i < len && (n->flags & KELP_NEEDLE_FLAG_LAST_MODIFIED)) {
		if (KELP_NEEDLE_LAST_MODIFIED_SIZE > len - i)
			return -EINVAL;
		n->last_modified = (uint64_t)b[i] << 32 | kelp_be32(b + i + 1);
		i += KELP_NEEDLE_LAST_MODIFIED_SIZE;
	}
	if (i < len && (n->flags & KELP_NEEDLE_FLAG_TTL)) {
		if (KELP_NEEDLE_TTL_SIZE > len - i)
			return -EINVAL;
		n->ttl_count = b[i];
		n->ttl_unit = b[i + 1];
		i += KELP_NEEDLE_TTL_SIZE;
	}
	if (i < len && (n->flags & KELP_NEEDLE_FLAG_PAIRS)) {
		if (2 > len - i)
			return -EINVAL;
		n->pairs_len = kelp_be16(b + i);
		i += 2;
		if (n->pairs_len > len - i)
			return -EINVAL;
		n->pairs = b + i;
	}
	return 0;
}

int kelp_needle_parse(uint8_t version, const uint8_t *buf, size_t len, struct kelp_needle *out)
{
	struct kelp_needle n;

	if (version < 1 || version > 3)
		return -EINVAL;
	memset(&n, 0, sizeof(n));
	if (kelp_needle_parse_header(buf, len, &n.cookie, &n.key, &n.size))
		return -EINVAL;
	if (n.size & 0x80000000u) /* negative sizes only appear in .idx (tombstones) */
		return -EINVAL;
	if (kelp_needle_record_len(version, n.size) > len)
		return -EINVAL;
	const uint8_t *body = buf + KELP_NEEDLE_HEADER_SIZE;
	if (version == 1) {
		n.data = body;
		n.data_size = n.size;
	} else if (parse_body_v2(body, n.size, &n)) {
		return -EINVAL;
	}
	n.stored_crc = kelp_be32(body + n.size);
	if (version == 3)
		n.append_at_ns = kelp_be64(body + n.size + KELP_NEEDLE_CRC_SIZE);
	*out = n;
	return 0;
}

int kelp_needle_check_split(uint8_t version, uint32_t cookie, uint64_t key, uint32_t size,
			    const uint8_t *head, const uint8_t *data, uint32_t dlen,
			    const uint8_t *tail, uint32_t tlen, bool check_crc,
			    struct kelp_needle *out)
{
	uint8_t fields[4 + 1024]; /* a body with no data: the fields after it, parsed in one go */
	struct kelp_needle n;
	uint32_t hcookie, hsize, nfields, in_data;
	uint64_t hkey;

	if (version < 2 || version > 3 || size < 4 || dlen > size - 4 || tlen < size - dlen)
		return -EINVAL;
	kelp_needle_parse_header(head, KELP_NEEDLE_HEADER_SIZE, &hcookie, &hkey, &hsize);
	if (hcookie != cookie || hkey != key || hsize != size)
		return -ESTALE;
	memset(&n, 0, sizeof(n));
	n.cookie = cookie;
	n.key = key;
	n.size = size;
	n.data_size = kelp_be32(head + KELP_NEEDLE_HEADER_SIZE);
	if (n.data_size > size - 4)
		return -EIO;
	if (n.data_size > dlen)
		return -E2BIG;
	/* the bytes between the data and the CRC: the rest of @data, then the start of @tail */
	nfields = size - 4 - n.data_size;
	if (nfields > sizeof(fields) - 4)
		return -E2BIG;
	in_data = dlen - n.data_size;
	memset(fields, 0, 4);
	memcpy(fields + 4, data + n.data_size, in_data);
	memcpy(fields + 4 + in_data, tail, nfields - in_data);
	if (parse_body_v2(fields, 4 + nfields, &n))
		return -EIO;
	n.data = data;
	n.data_size = kelp_be32(head + KELP_NEEDLE_HEADER_SIZE); /* parse_body_v2 saw 0 */
	n.name = n.mime = n.pairs = NULL;
	n.stored_crc = kelp_be32(tail + (size - 4 - dlen));
	if (check_crc && n.data_size) {
		uint32_t crc = kelp_crc32c(0, data, n.data_size);

		if (crc != n.stored_crc && kelp_crc32c_legacy(crc) != n.stored_crc)
			return -EIO;
	}
	*out = n;
	return 0;
}

uint32_t kelp_needle_body_size(uint8_t version, const struct kelp_needle *n)
{
	if (version == 1)
		return n->data_size;
	if (n->data_size == 0)
		return 0;
	uint64_t size = 4 + (uint64_t)n->data_size + 1;
	if (n->flags & KELP_NEEDLE_FLAG_NAME)
		size += 1 + n->name_len;
	if (n->flags & KELP_NEEDLE_FLAG_MIME)
		size += 1 + n->mime_len;
	if (n->flags & KELP_NEEDLE_FLAG_LAST_MODIFIED)
		size += KELP_NEEDLE_LAST_MODIFIED_SIZE;
	if (n->flags & KELP_NEEDLE_FLAG_TTL)
		size += KELP_NEEDLE_TTL_SIZE;
	if (n->flags & KELP_NEEDLE_FLAG_PAIRS)
		size += 2 + (uint64_t)n->pairs_len;
	return size > 0x7fffffffu ? 0 : (uint32_t)size;
}

int64_t kelp_needle_encode(uint8_t version, const struct kelp_needle *n, uint8_t *buf, size_t cap)
{
	if (version < 1 || version > 3)
		return -EINVAL;
	uint32_t size = kelp_needle_body_size(version, n);
	if (size == 0 && n->data_size != 0)
		return -EINVAL; /* larger than a needle can be */
	uint64_t rec = kelp_needle_record_len(version, size);
	if (rec > cap)
		return -ENOSPC;

	uint8_t *p = buf;
	kelp_put_be32(p, n->cookie);
	kelp_put_be64(p + 4, n->key);
	kelp_put_be32(p + 12, size);
	p += KELP_NEEDLE_HEADER_SIZE;
	if (version == 1) {
		if (n->data_size)
			memcpy(p, n->data, n->data_size);
		p += n->data_size;
	} else if (size > 0) {
		kelp_put_be32(p, n->data_size);
		memcpy(p + 4, n->data, n->data_size);
		p += 4 + n->data_size;
		*p++ = n->flags;
		if (n->flags & KELP_NEEDLE_FLAG_NAME) {
			*p++ = n->name_len;
			if (n->name_len)
				memcpy(p, n->name, n->name_len);
			p += n->name_len;
		}
		if (n->flags & KELP_NEEDLE_FLAG_MIME) {
			*p++ = n->mime_len;
			if (n->mime_len)
				memcpy(p, n->mime, n->mime_len);
			p += n->mime_len;
		}
		if (n->flags & KELP_NEEDLE_FLAG_LAST_MODIFIED) {
			p[0] = (uint8_t)(n->last_modified >> 32);
			kelp_put_be32(p + 1, (uint32_t)n->last_modified);
			p += KELP_NEEDLE_LAST_MODIFIED_SIZE;
		}
		if (n->flags & KELP_NEEDLE_FLAG_TTL) {
			p[0] = n->ttl_count;
			p[1] = n->ttl_unit;
			p += KELP_NEEDLE_TTL_SIZE;
		}
		if (n->flags & KELP_NEEDLE_FLAG_PAIRS) {
			kelp_put_be16(p, n->pairs_len);
			if (n->pairs_len)
				memcpy(p + 2, n->pairs, n->pairs_len);
			p += 2 + n->pairs_len;
		}
	}
	kelp_put_be32(p, n->stored_crc);
	p += KELP_NEEDLE_CRC_SIZE;
	if (version == 3) {
		kelp_put_be64(p, n->append_at_ns);
		p += KELP_NEEDLE_TIMESTAMP_SIZE;
	}
	memset(p, 0, kelp_needle_padding(version, size));
	return (int64_t)rec;
}
