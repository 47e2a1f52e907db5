/* SPDX-License-Identifier: Apache-2.0 */
/* kelp-vol verify: CRC, header and idx/dat agreement of every live needle. */
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/crc32c.h"
#include "core/dat_scan.h"
#include "core/idx.h"
#include "core/needle_index.h"
#include "core/superblock.h"
#include "core/volume.h"
#include "tools/kelp-vol/kelp_vol.h"

static const char verify_usage[] =
	"usage: kelp-vol verify VOL.dat\n"
	"\n"
	"Checks every live needle (the last .idx row of each key, or every record of VOL.dat when\n"
	"there is no VOL.idx): the record lies inside VOL.dat, its header has the key and size "
	"the\n"
	"index says, its body parses, and its CRC matches (raw or legacy). One line per bad "
	"needle:\n"
	"  corrupt key=<hex> offset=<bytes> reason=<text>\n"
	"and a summary on stderr. Exit 0 all good, 1 corruption found, 2 not readable as a "
	"volume.\n";

struct verify_ctx {
	uint64_t checked, corrupt;
};

static void corrupt(struct verify_ctx *c, uint64_t key, uint64_t offset, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void corrupt(struct verify_ctx *c, uint64_t key, uint64_t offset, const char *fmt, ...)
{
	va_list ap;
	printf("corrupt key=%llx offset=%llu reason=", (unsigned long long)key,
	       (unsigned long long)offset);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	c->corrupt++;
}

static void check_crc(struct verify_ctx *c, uint64_t offset, const struct kelp_needle *n)
{
	if (kelp_crc32c_classify(n->stored_crc, n->data, n->data_size) == KELP_CRC_MISMATCH)
		corrupt(c, n->key, offset, "crc mismatch: stored %08x, data has %08x",
			n->stored_crc, kelp_crc32c(0, n->data, n->data_size));
}

/* One live idx row: everything the index claims must hold in .dat. */
static void check_row(struct verify_ctx *c, struct kelp_volume *v, const struct kelp_idx_row *row)
{
	const uint8_t *dat = kelp_volume_dat_map(v);
	uint64_t len = kelp_volume_dat_size(v), pos = row->offset * KELP_DAT_ALIGN;
	uint8_t version = kelp_volume_superblock(v)->version;
	struct kelp_needle n;
	uint32_t cookie, size;
	uint64_t key;

	c->checked++;
	if (pos < KELP_SUPERBLOCK_SIZE || pos >= len || len - pos < KELP_NEEDLE_HEADER_SIZE) {
		corrupt(c, row->key, pos, "record lies outside .dat (%llu bytes)",
			(unsigned long long)len);
		return;
	}
	kelp_needle_parse_header(dat + pos, len - pos, &cookie, &key, &size);
	if (key != row->key) {
		corrupt(c, row->key, pos, "record has key %llx, idx says %llx",
			(unsigned long long)key, (unsigned long long)row->key);
		return;
	}
	if (size != row->size) {
		corrupt(c, row->key, pos, "record size %u, idx says %u", size, row->size);
		return;
	}
	if (kelp_needle_record_len(version, size) > len - pos) {
		corrupt(c, row->key, pos, "record of %llu bytes runs past the end of .dat",
			(unsigned long long)kelp_needle_record_len(version, size));
		return;
	}
	if (kelp_needle_parse(version, dat + pos, len - pos, &n)) {
		corrupt(c, row->key, pos,
			"body does not parse (data_size or a field length too large)");
		return;
	}
	check_crc(c, pos, &n);
}

static int verify_with_idx(struct verify_ctx *c, struct kelp_volume *v, const char *path)
{
	char idx_path[PATH_MAX];
	uint8_t *idx;
	size_t len;
	int ob = kelp_volume_offset_bytes(v);
	if (sibling_path(path, "idx", idx_path, sizeof(idx_path)) ||
	    read_file(idx_path, &idx, &len)) {
		die_msg("verify: %s: cannot read the .idx beside it", path);
		return EXIT_USAGE;
	}
	size_t rs = kelp_idx_row_size(ob), nrows = len / rs;
	if (len % rs)
		fprintf(stderr,
			"kelp-vol: %s: %zu trailing bytes after the last whole %zu-byte row "
			"(a torn append; ignored)\n",
			idx_path, len % rs, rs);
	/* our own index over every row: kelp_volume_open leaves out rows outside .dat, we report
	 * them */
	struct kelp_needle_index *ni;
	if (kelp_needle_index_new(nrows, &ni) || kelp_needle_index_load(ni, idx, nrows, ob)) {
		die_msg("verify: %s: cannot index (out of memory, or offsets beyond 40 bits)",
			idx_path);
		kelp_needle_index_free(ni);
		free(idx);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < nrows; i++) {
		struct kelp_idx_row row;
		uint64_t off;
		uint32_t size;
		kelp_idx_parse_row(idx + i * rs, ob, &row);
		if (!kelp_idx_row_is_live(&row) ||
		    kelp_needle_index_lookup(ni, row.key, &off, &size) || off != row.offset)
			continue; /* a later row replaced or deleted it */
		check_row(c, v, &row);
		/* a key's winning row may appear twice (same offset): check it once */
		struct kelp_idx_row gone = {
			.key = row.key, .offset = 0, .size = KELP_IDX_SIZE_TOMBSTONE};
		kelp_needle_index_apply(ni, &gone);
	}
	kelp_needle_index_free(ni);
	free(idx);
	return 0;
}

static void verify_scan(struct verify_ctx *c, struct kelp_volume *v)
{
	const struct kelp_superblock *sb = kelp_volume_superblock(v);
	const uint8_t *dat = kelp_volume_dat_map(v);
	uint64_t len = kelp_volume_dat_size(v), pos = kelp_superblock_data_start(sb), rec_pos;
	struct kelp_needle n;
	int rc;
	while ((rc = kelp_dat_next(dat, len, sb->version, &pos, &rec_pos, &n)) == 1) {
		uint64_t off;
		uint32_t size;
		if (kelp_volume_lookup(v, n.key, &off, &size) || off != rec_pos)
			continue;
		c->checked++;
		check_crc(c, rec_pos, &n);
	}
	if (rc < 0) {
		uint64_t key = 0;
		uint32_t cookie, size;
		kelp_needle_parse_header(dat + pos, len - pos, &cookie, &key, &size);
		c->checked++;
		corrupt(c, key, pos,
			"record does not parse; the %llu bytes from here on are unchecked",
			(unsigned long long)(len - pos));
	}
}

int cmd_verify(int argc, char **argv)
{
	const char *path = NULL;
	for (int i = 1; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(verify_usage, stdout);
			return EXIT_OK;
		} else if (argv[i][0] == '-' || path) {
			die_msg("verify: unexpected argument '%s'\n%s", argv[i], verify_usage);
			return EXIT_USAGE;
		} else {
			path = argv[i];
		}
	}
	if (!path) {
		die_msg("verify: which volume?\n%s", verify_usage);
		return EXIT_USAGE;
	}
	struct kelp_volume *v;
	int rc = open_volume(path, &v);
	if (rc)
		return rc;
	struct verify_ctx c = {0};
	if (kelp_volume_offset_bytes(v))
		rc = verify_with_idx(&c, v, path);
	else
		verify_scan(&c, v);
	kelp_volume_close(v);
	if (rc)
		return rc;
	fprintf(stderr, "kelp-vol: %s: %llu live needles checked, %llu corrupt\n", path,
		(unsigned long long)c.checked, (unsigned long long)c.corrupt);
	return c.corrupt ? EXIT_FAIL : EXIT_OK;
}
