/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A protobuf decoder for exactly FileChunkManifest / FileChunk / FileId (see the header for the
 * schema). Wire format (protobuf encoding guide): each field is a varint key (field number << 3 |
 * wire type) then, by wire type, 0: a varint; 1: 8 bytes; 2: a varint length and that many bytes;
 * 5: 4 bytes (little-endian). Groups (3, 4) are long deprecated and weed never writes them: an
 * error. A known field number with another wire type than its own is skipped like an unknown field
 * (what Go's protobuf does with it).
 */
#include "proto/chunk_manifest.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

struct pb {
	const uint8_t *p, *end;
};

/* One field: its number, wire type, and value (the number of a varint/fixed, the bytes of a LEN).
 */
struct pb_field {
	uint32_t num;
	uint32_t wt;
	uint64_t v;
	const uint8_t *data;
	size_t len;
};

static int pb_varint(struct pb *b, uint64_t *out)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 70; shift += 7) {
		if (b->p == b->end)
			return -EBADMSG;
		uint8_t c = *b->p++;
		if (shift == 63 && c > 1) /* the 10th byte holds bit 63 only */
			return -EBADMSG;
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*out = v;
			return 0;
		}
	}
	return -EBADMSG;
}

/* Reads the next field of @b into @f. Return: 1 a field, 0 at the end, -EBADMSG. */
static int pb_next(struct pb *b, struct pb_field *f)
{
	uint64_t key;
	if (b->p == b->end)
		return 0;
	if (pb_varint(b, &key) || (key >> 3) == 0 || (key >> 3) > 0x1fffffff)
		return -EBADMSG;
	f->num = (uint32_t)(key >> 3);
	f->wt = key & 7;
	f->data = NULL;
	f->len = 0;
	f->v = 0;
	switch (f->wt) {
	case WT_VARINT:
		return pb_varint(b, &f->v) ? -EBADMSG : 1;
	case WT_I64:
		if (b->end - b->p < 8)
			return -EBADMSG;
		for (int i = 7; i >= 0; i--)
			f->v = f->v << 8 | b->p[i];
		b->p += 8;
		return 1;
	case WT_I32:
		if (b->end - b->p < 4)
			return -EBADMSG;
		f->v = (uint32_t)b->p[0] | (uint32_t)b->p[1] << 8 | (uint32_t)b->p[2] << 16 |
		       (uint32_t)b->p[3] << 24;
		b->p += 4;
		return 1;
	case WT_LEN: {
		uint64_t n;
		if (pb_varint(b, &n) || n > (uint64_t)(b->end - b->p))
			return -EBADMSG;
		f->data = b->p;
		f->len = (size_t)n;
		b->p += n;
		return 1;
	}
	default:
		return -EBADMSG;
	}
}

/* FileId {volume_id = 1 (uint32), file_key = 2 (uint64), cookie = 3 (fixed32)} */
static int decode_fid(const uint8_t *data, size_t len, struct kelp_fid *fid)
{
	struct pb b = {data, data + len};
	struct pb_field f;
	int rc;
	while ((rc = pb_next(&b, &f)) == 1) {
		if (f.num == 1 && f.wt == WT_VARINT)
			fid->volume_id = (uint32_t)f.v; /* proto3 uint32: the low 32 bits */
		else if (f.num == 2 && f.wt == WT_VARINT)
			fid->key = f.v;
		else if (f.num == 3 && f.wt == WT_I32)
			fid->cookie = (uint32_t)f.v;
	}
	return rc;
}

static int decode_chunk(const uint8_t *data, size_t len, struct kelp_filer_chunk *c)
{
	struct pb b = {data, data + len};
	struct pb_field f;
	struct kelp_fid from_str = {0}, from_msg = {0};
	bool has_str = false, has_msg = false;
	int rc;
	memset(c, 0, sizeof(*c));
	while ((rc = pb_next(&b, &f)) == 1) {
		switch (f.num) {
		case 1: /* file_id (string) */
			if (f.wt != WT_LEN)
				break;
			has_str = f.len > 0;
			if (has_str && kelp_fid_parse((const char *)f.data, f.len, &from_str))
				return -EBADMSG;
			break;
		case 2: /* offset (int64) */
			if (f.wt == WT_VARINT)
				c->offset = (int64_t)f.v;
			break;
		case 3: /* size (uint64) */
			if (f.wt == WT_VARINT)
				c->size = f.v;
			break;
		case 4: /* modified_ts_ns (int64) */
			if (f.wt == WT_VARINT)
				c->modified_ts_ns = (int64_t)f.v;
			break;
		case 7: /* fid (FileId); a repeated singular message merges into one */
			if (f.wt != WT_LEN)
				break;
			if (decode_fid(f.data, f.len, &from_msg))
				return -EBADMSG;
			has_msg = true;
			break;
		case 9: /* cipher_key (bytes) */
			if (f.wt != WT_LEN)
				break;
			if (f.len > KELP_FILER_KEY_MAX)
				return -EBADMSG;
			memcpy(c->cipher_key, f.data, f.len);
			c->cipher_key_len = (uint8_t)f.len;
			break;
		case 10: /* is_compressed (bool) */
			if (f.wt == WT_VARINT)
				c->is_compressed = f.v != 0;
			break;
		case 11: /* is_chunk_manifest (bool) */
			if (f.wt == WT_VARINT)
				c->is_chunk_manifest = f.v != 0;
			break;
		default: /* e_tag, source ids, sse_*: not needed to read */
			break;
		}
	}
	if (rc)
		return rc;
	if (!has_str && !has_msg)
		return -EBADMSG; /* a chunk must say where its data is */
	if (has_str && has_msg &&
	    (from_str.volume_id != from_msg.volume_id || from_str.key != from_msg.key ||
	     from_str.cookie != from_msg.cookie))
		return -EBADMSG;
	c->fid = has_msg ? from_msg : from_str;
	return kelp_filer_chunk_check(c);
}

int kelp_chunk_manifest_decode(const void *buf, size_t len, struct kelp_filer_chunk **chunks,
			       uint32_t *count)
{
	struct pb b = {buf, (const uint8_t *)buf + len};
	struct pb_field f;
	uint32_t n = 0;
	int rc;

	/* pass 1: check the top level and count the chunks, so that one allocation fits them */
	while ((rc = pb_next(&b, &f)) == 1)
		if (f.num == 1 && f.wt == WT_LEN && ++n > KELP_FILER_CHUNKS_MAX)
			return -EBADMSG;
	if (rc)
		return rc;
	*chunks = NULL;
	*count = 0;
	if (!n)
		return 0;
	struct kelp_filer_chunk *out = calloc(n, sizeof(*out));
	if (!out)
		return -ENOMEM;
	uint32_t i = 0;
	b.p = buf;
	while (pb_next(&b, &f) == 1) {
		if (f.num != 1 || f.wt != WT_LEN)
			continue;
		rc = decode_chunk(f.data, f.len, &out[i++]);
		if (rc) {
			free(out);
			return rc;
		}
	}
	*chunks = out;
	*count = n;
	return 0;
}
