/* SPDX-License-Identifier: Apache-2.0 */
/*
 * needle_put: write a needle into a version 3 volume the way a SeaweedFS volume server writes an
 * upload or an overwrite: the record is appended to the .dat (8-byte aligned, at its end), then
 * its row to the .idx; --delete appends a tombstone row instead (the key is deleted).
 *
 *   needle_put VOL.dat FID FILE      the needle FID (its key and cookie) with FILE's bytes
 *   needle_put VOL.dat FID --delete
 *
 * For tests that need a volume they write themselves (test/rdma/test_kelpd_rdma_read.sh: in the
 * Soft-RoCE VM a host volume server's writes are not seen through 9p). The .idx layout (4 or 5
 * offset bytes) is read from the .vif beside VOL.dat. Prints the record's byte offset. Exit 0, 1 on
 * any error (with a message).
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/crc32c.h"
#include "core/fid.h"
#include "core/idx.h"
#include "core/needle.h"
#include "core/volume.h"

static int die(const char *what, int err)
{
	fprintf(stderr, "needle_put: %s: %s\n", what, strerror(err));
	return 1;
}

static int write_at_end(int fd, const void *p, size_t len, off_t *at)
{
	*at = lseek(fd, 0, SEEK_END);
	if (*at < 0)
		return -errno;
	ssize_t n = pwrite(fd, p, len, *at);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr,
			"usage: needle_put VOL.dat FID FILE | needle_put VOL.dat FID --delete\n");
		return 2;
	}
	const char *dat = argv[1];
	bool del = strcmp(argv[3], "--delete") == 0;
	struct kelp_fid fid;
	char idx[4096], vif[4096];
	size_t plen = strlen(dat);

	if (kelp_fid_parse(argv[2], strlen(argv[2]), &fid))
		return die(argv[2], EINVAL);
	if (plen < 5 || plen >= sizeof(idx) || strcmp(dat + plen - 4, ".dat"))
		return die(dat, EINVAL);
	memcpy(idx, dat, plen - 4);
	memcpy(idx + plen - 4, ".idx", 5);
	if (kelp_vif_path(dat, vif, sizeof(vif)) < 0)
		return die(dat, EINVAL);
	int ob = kelp_vif_offset_bytes(vif);
	if (ob < 0)
		return die(vif, -ob);

	struct kelp_idx_row row = {.key = fid.key, .size = KELP_IDX_SIZE_TOMBSTONE};
	off_t at = 0;
	if (!del) {
		int fd = open(argv[3], O_RDONLY);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0)
			return die(argv[3], errno);
		uint8_t *data = malloc((size_t)st.st_size + 1);
		if (!data || read(fd, data, (size_t)st.st_size) != st.st_size)
			return die(argv[3], data ? EIO : ENOMEM);
		close(fd);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		const char *base = strrchr(argv[3], '/') ? strrchr(argv[3], '/') + 1 : argv[3];
		struct kelp_needle n = {
			.cookie = fid.cookie,
			.key = fid.key,
			.data = data,
			.data_size = (uint32_t)st.st_size,
			.flags = KELP_NEEDLE_FLAG_NAME | KELP_NEEDLE_FLAG_LAST_MODIFIED,
			.name = (const uint8_t *)base,
			.name_len = strlen(base) > 255 ? 255 : (uint8_t)strlen(base),
			.last_modified = (uint64_t)ts.tv_sec,
			.append_at_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec,
		};
		n.stored_crc = kelp_crc32c(0, n.data, n.data_size);
		uint32_t size = kelp_needle_body_size(3, &n);
		uint64_t rec_len = kelp_needle_record_len(3, size);
		uint8_t *rec = malloc(rec_len);
		if (!size || !rec || kelp_needle_encode(3, &n, rec, rec_len) != (int64_t)rec_len)
			return die("encoding the needle", EINVAL);
		int dfd = open(dat, O_WRONLY);
		if (dfd < 0)
			return die(dat, errno);
		int rc = write_at_end(dfd, rec, rec_len, &at);
		if (rc || (at % KELP_DAT_ALIGN))
			return die(dat, rc ? -rc : EINVAL);
		close(dfd);
		free(rec);
		free(data);
		row.offset = (uint64_t)at / KELP_DAT_ALIGN;
		row.size = size;
	}
	uint8_t r[KELP_IDX_ROW_SIZE_5];
	int rs = kelp_idx_encode_row(&row, ob, r);
	if (rs < 0)
		return die("encoding the .idx row", -rs);
	int ifd = open(idx, O_WRONLY);
	off_t iat;
	if (ifd < 0)
		return die(idx, errno);
	int rc = write_at_end(ifd, r, (size_t)rs, &iat);
	if (rc)
		return die(idx, -rc);
	close(ifd);
	printf("%lld\n", (long long)at);
	return 0;
}
