/* SPDX-License-Identifier: Apache-2.0 */
/* kelp-vol ls: one line per live needle. */
#include <string.h>

#include "core/fid.h"
#include "core/volume.h"
#include "tools/kelp-vol/kelp_vol.h"

static const char ls_usage[] =
	"usage: kelp-vol ls VOL.dat [--json]\n"
	"\n"
	"One line per live needle, in file order (VOL.idx beside VOL.dat when present, else a "
	"scan\n"
	"of VOL.dat):\n"
	"  FID OFFSET SIZE DATA_SIZE FLAGS CRC NAME MIME\n"
	"--json: one object per line: fid, key and cookie (hex strings), offset (bytes in .dat),\n"
	"size (body), data_size (stored payload), flags (number), gzip (bool), name, mime,\n"
	"last_modified (unix seconds, 0 = none), ttl (\"\" or count+unit like \"3d\"), pairs (the\n"
	"stored JSON text, \"\" = none), append_at_ns (v3), crc (\"raw\", \"legacy\" or "
	"\"bad\").\n";

struct ls_ctx {
	uint32_t vid;
	bool json;
};

static int print_needle(void *arg, uint64_t offset, const struct kelp_needle *n)
{
	struct ls_ctx *c = arg;
	char fid[KELP_FID_STR_MAX];
	struct kelp_fid f = {c->vid, n->key, n->cookie};
	kelp_fid_format(&f, fid, sizeof(fid));
	if (c->json) {
		printf("{\"fid\":\"%s\",\"key\":\"%llx\",\"cookie\":\"%08x\",\"offset\":%llu,"
		       "\"size\":%u,\"data_size\":%u,\"flags\":%u,\"gzip\":%s,\"name\":\"",
		       fid, (unsigned long long)n->key, n->cookie, (unsigned long long)offset,
		       n->size, n->data_size, n->flags,
		       n->flags & KELP_NEEDLE_FLAG_GZIP ? "true" : "false");
		json_escape(stdout, n->name, n->name_len);
		fputs("\",\"mime\":\"", stdout);
		json_escape(stdout, n->mime, n->mime_len);
		static const char units[] = " mhdwMy";
		printf("\",\"last_modified\":%llu,\"ttl\":\"",
		       (unsigned long long)n->last_modified);
		if (n->ttl_count && n->ttl_unit >= 1 && n->ttl_unit <= 6)
			printf("%u%c", n->ttl_count, units[n->ttl_unit]);
		fputs("\",\"pairs\":\"", stdout);
		json_escape(stdout, n->pairs, n->pairs_len);
		printf("\",\"append_at_ns\":%llu,\"crc\":\"%s\"}\n",
		       (unsigned long long)n->append_at_ns, crc_kind_name(n));
	} else {
		printf("%-20s %12llu %10u %10u 0x%02x  %-6s ", fid, (unsigned long long)offset,
		       n->size, n->data_size, n->flags, crc_kind_name(n));
		print_text(stdout, n->name, n->name_len);
		fputc(' ', stdout);
		print_text(stdout, n->mime, n->mime_len);
		fputc('\n', stdout);
	}
	return 0;
}

int cmd_ls(int argc, char **argv)
{
	const char *path = NULL;
	struct ls_ctx c = {0};
	for (int i = 1; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(ls_usage, stdout);
			return EXIT_OK;
		} else if (strcmp(argv[i], "--json") == 0) {
			c.json = true;
		} else if (argv[i][0] == '-' || path) {
			die_msg("ls: unexpected argument '%s'\n%s", argv[i], ls_usage);
			return EXIT_USAGE;
		} else {
			path = argv[i];
		}
	}
	if (!path) {
		die_msg("ls: which volume?\n%s", ls_usage);
		return EXIT_USAGE;
	}
	struct kelp_volume *v;
	int rc = open_volume(path, &v);
	if (rc)
		return rc;
	c.vid = kelp_volume_id(v);
	if (!c.json)
		printf("%-20s %12s %10s %10s %-5s %-6s NAME MIME\n", "FID", "OFFSET", "SIZE",
		       "DATA_SIZE", "FLAGS", "CRC");
	rc = for_each_live(v, print_needle, &c);
	kelp_volume_close(v);
	if (rc) {
		die_msg("ls: %s: cannot read the .idx beside it", path);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}
