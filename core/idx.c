/* SPDX-License-Identifier: Apache-2.0 */
#include "core/idx.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/be.h"

size_t kelp_idx_row_size(int offset_bytes)
{
	return offset_bytes == 4   ? KELP_IDX_ROW_SIZE_4
	       : offset_bytes == 5 ? KELP_IDX_ROW_SIZE_5
				   : 0;
}

void kelp_idx_parse_row(const uint8_t *p, int offset_bytes, struct kelp_idx_row *out)
{
	out->key = kelp_be64(p);
	out->offset = kelp_be32(p + 8);
	if (offset_bytes == 5) {
		out->offset |= (uint64_t)p[12] << 32; /* the high byte comes after the low four */
		out->size = kelp_be32(p + 13);
	} else {
		out->size = kelp_be32(p + 12);
	}
}

int kelp_idx_encode_row(const struct kelp_idx_row *row, int offset_bytes, uint8_t *p)
{
	if (offset_bytes != 4 && offset_bytes != 5)
		return -EINVAL;
	if (row->offset >> (offset_bytes * 8))
		return -ERANGE;
	kelp_put_be64(p, row->key);
	kelp_put_be32(p + 8, (uint32_t)row->offset);
	if (offset_bytes == 5) {
		p[12] = (uint8_t)(row->offset >> 32);
		kelp_put_be32(p + 13, row->size);
		return KELP_IDX_ROW_SIZE_5;
	}
	kelp_put_be32(p + 12, row->size);
	return KELP_IDX_ROW_SIZE_4;
}

int kelp_vif_offset_bytes(const char *vif_path)
{
	FILE *f = fopen(vif_path, "re");
	if (!f)
		return -errno;
	json_error_t jerr;
	json_t *root = json_loadf(f, 0, &jerr);
	fclose(f);
	if (!root || !json_is_object(root)) {
		json_decref(root);
		return -EINVAL;
	}
	int ret = 4;
	json_t *bo = json_object_get(root, "bytesOffset");
	if (bo) {
		/* protojson writes uint32 as a number; accept a numeric string too */
		long long v = -1;
		if (json_is_integer(bo))
			v = json_integer_value(bo);
		else if (json_is_string(bo))
			v = strcmp(json_string_value(bo), "4") == 0   ? 4
			    : strcmp(json_string_value(bo), "5") == 0 ? 5
								      : -1;
		ret = (v == 4 || v == 5) ? (int)v : -EINVAL;
	}
	json_decref(root);
	return ret;
}

int kelp_vif_path(const char *path, char *buf, size_t size)
{
	size_t n = strlen(path);
	if (n >= 4 && (strcmp(path + n - 4, ".dat") == 0 || strcmp(path + n - 4, ".idx") == 0))
		n -= 4;
	if (n + 5 > size)
		return -ENAMETOOLONG;
	memcpy(buf, path, n);
	memcpy(buf + n, ".vif", 5);
	return 0;
}
