/* SPDX-License-Identifier: Apache-2.0 */
/* kelp-vol cat: a needle's data to stdout. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fid.h"
#include "core/gzip.h"
#include "core/volume.h"
#include "tools/kelp-vol/kelp_vol.h"

static const char cat_usage[] =
	"usage: kelp-vol cat VOL.dat FID [--gunzip]\n"
	"\n"
	"Writes the data of needle FID (e.g. 3,01637037d6) to stdout as stored, after checking "
	"its\n"
	"header, cookie and CRC. --gunzip: decompress needles stored gzipped (flag 0x01); others "
	"are\n"
	"written as they are. Exit 1 with a message for a missing, deleted, cookie-mismatched or\n"
	"corrupt needle.\n";

static int write_all(const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(STDOUT_FILENO, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int cmd_cat(int argc, char **argv)
{
	const char *path = NULL, *fid_text = NULL;
	bool gunzip = false;
	for (int i = 1; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(cat_usage, stdout);
			return EXIT_OK;
		} else if (strcmp(argv[i], "--gunzip") == 0) {
			gunzip = true;
		} else if (argv[i][0] == '-' || (path && fid_text)) {
			die_msg("cat: unexpected argument '%s'\n%s", argv[i], cat_usage);
			return EXIT_USAGE;
		} else if (!path) {
			path = argv[i];
		} else {
			fid_text = argv[i];
		}
	}
	if (!fid_text) {
		die_msg("cat: need a volume and a fid\n%s", cat_usage);
		return EXIT_USAGE;
	}
	struct kelp_fid fid;
	if (kelp_fid_parse(fid_text, strlen(fid_text), &fid)) {
		die_msg("cat: '%s' is not a file id (like 3,01637037d6)", fid_text);
		return EXIT_USAGE;
	}
	struct kelp_volume *v;
	int rc = open_volume(path, &v);
	if (rc)
		return rc;
	if (fid.volume_id != kelp_volume_id(v)) {
		die_msg("cat: %s is in volume %u, %s is volume %u", fid_text, fid.volume_id, path,
			kelp_volume_id(v));
		kelp_volume_close(v);
		return EXIT_FAIL;
	}
	struct kelp_needle_ref ref;
	rc = kelp_volume_find(v, &fid, &ref);
	if (rc == -ENOENT) {
		die_msg("cat: %s: not found (missing, deleted, or wrong cookie)", fid_text);
	} else if (rc) {
		die_msg("cat: %s: record is corrupt (run kelp-vol verify %s)", fid_text, path);
	} else if (kelp_needle_ref_check_crc(&ref)) {
		die_msg("cat: %s: CRC mismatch, data is corrupt (run kelp-vol verify %s)", fid_text,
			path);
		rc = -EIO;
	} else if (gunzip && (ref.flags & KELP_NEEDLE_FLAG_GZIP)) {
		/* the size trailer is only a hint: grow until it fits */
		size_t cap = kelp_gunzip_size(ref.data, ref.data_size) + 1, out_len = 0;
		uint8_t *out = NULL;
		for (;;) {
			free(out);
			out = malloc(cap);
			if (!out) {
				rc = -ENOMEM;
				break;
			}
			rc = kelp_gunzip(ref.data, ref.data_size, out, cap, &out_len);
			if (rc != -ENOSPC || cap > ((size_t)1 << 36))
				break;
			cap *= 2;
		}
		if (rc)
			die_msg("cat: %s: stored gzip data does not decompress: %s", fid_text,
				strerror(-rc));
		else if ((rc = write_all(out, out_len)))
			die_msg("cat: writing stdout: %s", strerror(-rc));
		free(out);
	} else if ((rc = write_all(ref.data, ref.data_size))) {
		die_msg("cat: writing stdout: %s", strerror(-rc));
	}
	kelp_volume_close(v);
	return rc ? EXIT_FAIL : EXIT_OK;
}
