/* SPDX-License-Identifier: Apache-2.0 */
/* kelp-vol idx: statistics of an .idx file. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/idx.h"
#include "core/needle_index.h"
#include "tools/kelp-vol/kelp_vol.h"

static const char idx_usage[] =
	"usage: kelp-vol idx FILE.idx [--offset-bytes 4|5] [--json]\n"
	"\n"
	"Counts the rows of an .idx: rows, distinct keys, live (keys whose last row is live),\n"
	"deleted (keys whose last row is a tombstone), tombstone rows, largest offset (bytes).\n"
	"--offset-bytes: the row layout, 4 (16-byte rows) or 5 (17-byte rows, \"large disk\"\n"
	"builds). Default: what FILE.vif beside it says (bytesOffset), else 4.\n"
	"--json: one object with rows, keys, live, deleted, tombstone_rows, max_offset,\n"
	"offset_bytes, trailing_bytes.\n";

int cmd_idx(int argc, char **argv)
{
	const char *path = NULL;
	bool json = false;
	int ob = 0;
	for (int i = 1; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(idx_usage, stdout);
			return EXIT_OK;
		} else if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "--offset-bytes") == 0 && i + 1 < argc) {
			ob = atoi(argv[++i]);
			if (ob != 4 && ob != 5) {
				die_msg("idx: --offset-bytes is 4 or 5, not '%s'", argv[i]);
				return EXIT_USAGE;
			}
		} else if (argv[i][0] == '-' || path) {
			die_msg("idx: unexpected argument '%s'\n%s", argv[i], idx_usage);
			return EXIT_USAGE;
		} else {
			path = argv[i];
		}
	}
	if (!path) {
		die_msg("idx: which .idx file?\n%s", idx_usage);
		return EXIT_USAGE;
	}
	if (!ob) {
		char vif[PATH_MAX];
		int rc = kelp_vif_path(path, vif, sizeof(vif)) ? -ENAMETOOLONG
							       : kelp_vif_offset_bytes(vif);
		if (rc == 4 || rc == 5) {
			ob = rc;
		} else if (rc != -ENOENT) {
			die_msg("idx: %s: unreadable or without a valid bytesOffset (%s); pass "
				"--offset-bytes 4 or 5",
				vif, strerror(-rc));
			return EXIT_USAGE;
		} else {
			ob = 4;
		}
	}
	uint8_t *data;
	size_t len;
	int rc = read_file(path, &data, &len);
	if (rc) {
		die_msg("idx: %s: %s", path, strerror(-rc));
		return EXIT_USAGE;
	}
	size_t rs = kelp_idx_row_size(ob), nrows = len / rs;
	uint64_t tomb_rows = 0, max_off = 0;
	struct kelp_needle_index *ni;
	if (kelp_needle_index_new(nrows, &ni)) {
		die_msg("idx: out of memory");
		free(data);
		return EXIT_FAIL;
	}
	for (size_t i = 0; i < nrows; i++) {
		struct kelp_idx_row row;
		kelp_idx_parse_row(data + i * rs, ob, &row);
		if (!kelp_idx_row_is_live(&row)) {
			tomb_rows++;
			/* a tombstone of an unseen key still counts as a distinct, deleted key */
			struct kelp_idx_row mark = row;
			uint64_t o;
			uint32_t s;
			if (kelp_needle_index_lookup(ni, row.key, &o, &s) == -ENOENT) {
				mark.offset = 1;
				mark.size = 0;
				kelp_needle_index_apply(ni, &mark);
			}
		}
		if (row.offset > max_off)
			max_off = row.offset;
		if (kelp_needle_index_apply(ni, &row)) {
			die_msg("idx: %s: row %zu: offset beyond 40 bits", path, i);
			kelp_needle_index_free(ni);
			free(data);
			return EXIT_FAIL;
		}
	}
	unsigned long long keys = kelp_needle_index_keys(ni), live = kelp_needle_index_live(ni);
	if (json)
		printf("{\"rows\":%zu,\"keys\":%llu,\"live\":%llu,\"deleted\":%llu,\"tombstone_"
		       "rows\":%llu,"
		       "\"max_offset\":%llu,\"offset_bytes\":%d,\"trailing_bytes\":%zu}\n",
		       nrows, keys, live, keys - live, (unsigned long long)tomb_rows,
		       (unsigned long long)max_off * 8, ob, len % rs);
	else
		printf("rows %zu\nkeys %llu\nlive %llu\ndeleted %llu\ntombstone_rows %llu\n"
		       "max_offset %llu\noffset_bytes %d\ntrailing_bytes %zu\n",
		       nrows, keys, live, keys - live, (unsigned long long)tomb_rows,
		       (unsigned long long)max_off * 8, ob, len % rs);
	if (len % rs)
		fprintf(stderr,
			"kelp-vol: %s: %zu bytes after the last whole row; wrong --offset-bytes?\n",
			path, len % rs);
	kelp_needle_index_free(ni);
	free(data);
	return EXIT_OK;
}
