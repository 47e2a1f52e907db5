/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for .idx rows and the needle index (core/idx.c, core/needle_index.c), and for
 * the layout detection of core/volume.c.
 * Input: byte 0 picks 4- or 5-byte offsets; the rest is .idx content (a torn last row included).
 * Oracle: no crash; the index agrees with a plain "last row wins" replay of the rows (checked for
 * every key of the input); counts add up.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/idx.h"
#include "core/needle_index.h"
#include "core/volume.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int ob = (data[0] & 1) ? 5 : 4;
	const uint8_t *rows = data + 1;
	size_t rs = kelp_idx_row_size(ob), nrows = (size - 1) / rs;

	struct kelp_needle_index *ni;
	if (kelp_needle_index_new(nrows, &ni))
		return 0;
	int rc = kelp_needle_index_load(ni, rows, nrows, ob);
	if (rc && rc != -ERANGE)
		abort(); /* sized from the row count: never full */
	if (!rc) {
		for (size_t i = 0; i < nrows; i++) {
			struct kelp_idx_row row;
			kelp_idx_parse_row(rows + i * rs, ob, &row);
			/* the last row of this key decides */
			struct kelp_idx_row last = row;
			for (size_t j = i + 1; j < nrows; j++) {
				struct kelp_idx_row r;
				kelp_idx_parse_row(rows + j * rs, ob, &r);
				if (r.key == row.key)
					last = r;
			}
			uint64_t off;
			uint32_t sz;
			int found = kelp_needle_index_lookup(ni, row.key, &off, &sz) == 0;
			if (found != kelp_idx_row_is_live(&last))
				abort();
			if (found &&
			    (off != last.offset || (last.size < KELP_NEEDLE_INDEX_SIZE_LARGE
							    ? sz != last.size
							    : sz != KELP_NEEDLE_INDEX_SIZE_LARGE)))
				abort();
			/* rows re-encode to the same bytes */
			uint8_t b[17];
			if (kelp_idx_encode_row(&row, ob, b) != (int)rs)
				abort();
			for (size_t k = 0; k < rs; k++)
				if (b[k] != rows[i * rs + k])
					abort();
		}
		if (kelp_needle_index_live(ni) + kelp_needle_index_deleted(ni) !=
		    kelp_needle_index_keys(ni))
			abort();
	}
	kelp_needle_index_free(ni);
	int d = kelp_volume_detect_offset_bytes(rows, size - 1, rows, size - 1, 3);
	if (d != 4 && d != 5)
		abort();
	return 0;
}
