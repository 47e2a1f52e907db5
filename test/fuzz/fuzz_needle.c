/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for needle records and .dat scanning (core/needle.c, core/dat_scan.c,
 * core/superblock.c, core/crc32c.c).
 * Input: a whole .dat (superblock + records) or, read as one record for each version, raw bytes.
 * Oracle: no crash or sanitizer report; a parsed record lies inside the input; its fields point
 * inside its body; re-encoding it yields a record that parses to the same fields.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/crc32c.h"
#include "core/dat_scan.h"
#include "core/needle.h"
#include "core/superblock.h"

static void check_inside(const uint8_t *p, size_t n, const uint8_t *lo, const uint8_t *hi)
{
	if (n && (p < lo || p + n > hi))
		abort();
}

static void check_record(uint8_t version, const uint8_t *rec, size_t len,
			 const struct kelp_needle *n)
{
	uint64_t rl = kelp_needle_record_len(version, n->size);
	if (rl > len || rl % 8)
		abort();
	const uint8_t *body = rec + KELP_NEEDLE_HEADER_SIZE, *end = body + n->size;
	check_inside(n->data, n->data_size, body, end);
	check_inside(n->name, n->name_len, body, end);
	check_inside(n->mime, n->mime_len, body, end);
	check_inside(n->pairs, n->pairs_len, body, end);
	(void)kelp_crc32c_classify(n->stored_crc, n->data, n->data_size);

	/* v2/v3 records whose body is exactly what the encoder writes round-trip */
	if (version == 1 || kelp_needle_body_size(version, n) != n->size)
		return;
	uint8_t *buf = malloc(rl);
	if (!buf)
		return;
	if (kelp_needle_encode(version, n, buf, rl) != (int64_t)rl)
		abort();
	struct kelp_needle m;
	if (kelp_needle_parse(version, buf, rl, &m) || m.size != n->size || m.key != n->key ||
	    m.cookie != n->cookie || m.data_size != n->data_size || m.flags != n->flags ||
	    memcmp(m.data, n->data, n->data_size) || m.stored_crc != n->stored_crc)
		abort();
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kelp_needle n;
	for (uint8_t v = 0; v <= 4; v++)
		if (kelp_needle_parse(v, data, size, &n) == 0)
			check_record(v, data, size, &n);

	struct kelp_superblock sb;
	if (kelp_superblock_parse(data, size, &sb))
		return 0;
	uint64_t pos = kelp_superblock_data_start(&sb), rec_pos;
	while (kelp_dat_next(data, size, sb.version, &pos, &rec_pos, &n) == 1) {
		if (rec_pos >= size || pos > size || pos <= rec_pos)
			abort();
		check_record(sb.version, data + rec_pos, size - rec_pos, &n);
	}
	return 0;
}
