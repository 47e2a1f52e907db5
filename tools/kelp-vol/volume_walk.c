/* SPDX-License-Identifier: Apache-2.0 */
/* kelp-vol: opening a volume with a helpful message, and walking its live needles in file order. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/dat_scan.h"
#include "core/idx.h"
#include "core/superblock.h"
#include "core/volume.h"
#include "tools/kelp-vol/kelp_vol.h"

int open_volume(const char *dat_path, struct kelp_volume **out)
{
	uint32_t vid;
	struct stat st;
	if (stat(dat_path, &st) == 0 && S_ISDIR(st.st_mode)) {
		die_msg("%s: is a directory; give the volume's .dat file, e.g. %s/1.dat", dat_path,
			dat_path);
		return EXIT_USAGE;
	}
	if (kelp_volume_id_from_path(dat_path, &vid)) {
		die_msg("%s: a volume file is named [collection_]N.dat (N = volume id)", dat_path);
		return EXIT_USAGE;
	}
	int rc = kelp_volume_open(dat_path, out);
	if (rc == -EINVAL) {
		die_msg("%s: not a SeaweedFS volume (too short, or no superblock of version 1-3)",
			dat_path);
		return EXIT_USAGE;
	}
	if (rc) {
		die_msg("%s: cannot open volume: %s", dat_path, strerror(-rc));
		return EXIT_USAGE;
	}
	return 0;
}

int read_file(const char *path, uint8_t **data, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st)) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	}
	uint8_t *buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	size_t done = 0;
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* the file shrank: use what we got */
		done += (size_t)n;
	}
	close(fd);
	*data = buf;
	*len = done;
	return 0;
}

int sibling_path(const char *dat_path, const char *ext, char *buf, size_t size)
{
	size_t n = strlen(dat_path);
	if (n >= 4 && strcmp(dat_path + n - 4, ".dat") == 0)
		n -= 4;
	if (n + 1 + strlen(ext) + 1 > size)
		return -ENAMETOOLONG;
	memcpy(buf, dat_path, n);
	buf[n] = '.';
	strcpy(buf + n + 1, ext);
	return 0;
}

/* The needle at @offset if the index says it is the live version of its key. */
static int emit_if_live(struct kelp_volume *v, uint64_t key, uint64_t offset,
			int (*fn)(void *, uint64_t, const struct kelp_needle *), void *arg)
{
	uint64_t live_off;
	uint32_t size;
	struct kelp_needle n;
	uint64_t len = kelp_volume_dat_size(v);
	if (kelp_volume_lookup(v, key, &live_off, &size) || live_off != offset || offset >= len)
		return 0;
	if (kelp_needle_parse(kelp_volume_superblock(v)->version, kelp_volume_dat_map(v) + offset,
			      len - offset, &n))
		return 0; /* verify reports it */
	return fn(arg, offset, &n);
}

int for_each_live(struct kelp_volume *v,
		  int (*fn)(void *arg, uint64_t offset, const struct kelp_needle *n), void *arg)
{
	int ob = kelp_volume_offset_bytes(v), rc = 0;
	if (ob) {
		char idx_path[PATH_MAX];
		uint8_t *idx;
		size_t len;
		if (sibling_path(kelp_volume_dat_path(v), "idx", idx_path, sizeof(idx_path)) ||
		    read_file(idx_path, &idx, &len))
			return -EIO;
		size_t rs = kelp_idx_row_size(ob);
		for (size_t i = 0; i + rs <= len && !rc; i += rs) {
			struct kelp_idx_row row;
			kelp_idx_parse_row(idx + i, ob, &row);
			if (kelp_idx_row_is_live(&row))
				rc = emit_if_live(v, row.key, row.offset * KELP_DAT_ALIGN, fn, arg);
		}
		free(idx);
		return rc;
	}
	const struct kelp_superblock *sb = kelp_volume_superblock(v);
	uint64_t pos = kelp_superblock_data_start(sb), rec_pos;
	struct kelp_needle n;
	while (!rc && kelp_dat_next(kelp_volume_dat_map(v), kelp_volume_dat_size(v), sb->version,
				    &pos, &rec_pos, &n) == 1)
		rc = emit_if_live(v, n.key, rec_pos, fn, arg);
	return rc;
}
