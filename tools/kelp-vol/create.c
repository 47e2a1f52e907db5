/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelp-vol create: write a v3 volume (.dat, .idx, .vif) the way a SeaweedFS volume server does,
 * from files or from generated data, and print one fid per needle.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/crc32c.h"
#include "core/fid.h"
#include "core/gzip.h"
#include "core/idx.h"
#include "core/needle.h"
#include "core/superblock.h"
#include "tools/kelp-vol/kelp_vol.h"

static const char create_usage[] =
	"usage: kelp-vol create DIR VID [options] FILE...\n"
	"       kelp-vol create DIR VID [options] --synthetic N --size BYTES[-BYTES]\n"
	"\n"
	"Writes DIR/VID.dat, DIR/VID.idx and DIR/VID.vif: a version 3 SeaweedFS volume, one "
	"needle\n"
	"per FILE (name and modification time kept) or N generated needles (sizes uniform in the\n"
	"range, deterministic bytes), keys 1, 2, ... and random cookies. Prints one fid per "
	"needle,\n"
	"in order, once the volume is written (nothing when it fails: no files are left behind).\n"
	"An empty FILE is stored as SeaweedFS stores an empty upload: a size-0 record without name "
	"or\n"
	"modification time (weed serves it with 200 and no bytes).\n"
	"\n"
	"  --gzip              store the files gzipped (flag 0x01), as a volume server does for\n"
	"                      compressible uploads\n"
	"  --offset-bytes 4|5  .idx layout: 5 = 17-byte rows (the \"large disk\" build, e.g. the\n"
	"                      pinned weed 4.48 \"8000GB\"; default), 4 = 16-byte rows (standard "
	"builds)\n"
	"  --collection NAME   name the files NAME_VID.*\n"
	"  --mime TYPE         store TYPE as each FILE's MIME type (flag 0x04), as a volume "
	"server\n"
	"                      keeps an upload's Content-Type (at most 255 bytes)\n"
	"  --seed N            cookies and synthetic bytes from this seed (default: random)\n"
	"  --force             replace existing files\n"
	"Sizes take K, M, G suffixes (powers of 1024). Synthetic needle bytes of key K are\n"
	"splitmix64(seed ^ K) words, so a test can regenerate them.\n";

/* The largest file a needle takes (its body size is a signed 32-bit number, with room for the
 * name and flags). */
#define MAX_FILE_SIZE (UINT32_MAX / 2)

struct writer {
	int dat_fd, idx_fd;
	uint8_t *buf; /* one record */
	size_t buf_cap;
	uint64_t dat_pos;
	int offset_bytes;
	uint64_t last_ns;
	uint8_t idx_buf[1 << 16];
	size_t idx_len;
	struct kelp_fid *fids; /* what was written, printed only once the whole volume is */
	uint64_t nfids;
};

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int write_all(int fd, const void *p, size_t len)
{
	const uint8_t *b = p;
	while (len) {
		ssize_t n = write(fd, b, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	uint64_t mul = 1;
	if (*end == 'K' || *end == 'k')
		mul = 1024, end++;
	else if (*end == 'M' || *end == 'm')
		mul = 1024 * 1024, end++;
	else if (*end == 'G' || *end == 'g')
		mul = 1024ull * 1024 * 1024, end++;
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	if (*end || v > UINT64_MAX / mul)
		return -EINVAL;
	*out = v * mul;
	return 0;
}

/* Append one needle to .dat and its row to .idx; remember its fid (printed by cmd_create). */
static int add_needle(struct writer *w, uint32_t vid, struct kelp_needle *n)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	n->append_at_ns = ns > w->last_ns ? ns : w->last_ns + 1;
	w->last_ns = n->append_at_ns;
	n->stored_crc = kelp_crc32c(0, n->data, n->data_size);

	uint32_t size = kelp_needle_body_size(3, n);
	if (n->data_size && !size) {
		die_msg("create: needle %llu is too large", (unsigned long long)n->key);
		return -EFBIG;
	}
	uint64_t rec = kelp_needle_record_len(3, size);
	if (rec > w->buf_cap) {
		free(w->buf);
		w->buf = malloc(rec);
		w->buf_cap = w->buf ? rec : 0;
		if (!w->buf)
			return -ENOMEM;
	}
	int64_t len = kelp_needle_encode(3, n, w->buf, w->buf_cap);
	if (len < 0)
		return (int)len;
	struct kelp_idx_row row = {n->key, w->dat_pos / KELP_DAT_ALIGN, size};
	uint8_t r[KELP_IDX_ROW_SIZE_5];
	int rs = kelp_idx_encode_row(&row, w->offset_bytes, r);
	if (rs < 0) {
		die_msg("create: the volume outgrew %d-byte offsets; use --offset-bytes 5",
			w->offset_bytes);
		return rs;
	}
	int rc = write_all(w->dat_fd, w->buf, (size_t)len);
	if (rc)
		return rc;
	w->dat_pos += (uint64_t)len;
	if (w->idx_len + (size_t)rs > sizeof(w->idx_buf)) {
		if ((rc = write_all(w->idx_fd, w->idx_buf, w->idx_len)))
			return rc;
		w->idx_len = 0;
	}
	memcpy(w->idx_buf + w->idx_len, r, (size_t)rs);
	w->idx_len += (size_t)rs;

	w->fids[w->nfids++] = (struct kelp_fid){vid, n->key, n->cookie};
	return 0;
}

static int add_file(struct writer *w, uint32_t vid, uint64_t key, uint32_t cookie, const char *path,
		    bool gzip, const char *mime)
{
	uint8_t *data;
	size_t len;
	struct stat st;
	int rc = read_file(path, &data, &len);
	if (rc || stat(path, &st)) {
		die_msg("create: %s: %s", path, strerror(rc ? -rc : errno));
		if (!rc)
			free(data);
		return rc ? rc : -errno;
	}
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	struct kelp_needle n = {
		.cookie = cookie,
		.key = key,
		.data = data,
		.data_size = (uint32_t)len,
		.flags = KELP_NEEDLE_FLAG_NAME | KELP_NEEDLE_FLAG_LAST_MODIFIED,
		.name = (const uint8_t *)base,
		.name_len = strlen(base) > 255 ? 255 : (uint8_t)strlen(base),
		.last_modified = (uint64_t)st.st_mtime,
	};
	if (mime) {
		n.flags |= KELP_NEEDLE_FLAG_MIME;
		n.mime = (const uint8_t *)mime;
		n.mime_len = (uint8_t)strlen(mime); /* checked <= 255 with the options */
	}
	uint8_t *gz = NULL;
	if (len > MAX_FILE_SIZE) { /* checked before anything was written; the file grew since */
		die_msg("create: %s: larger than a needle can be", path);
		free(data);
		return -EFBIG;
	}
	if (len == 0) {
		/* weed writes an empty upload as a size-0 record: no data_size, flags, name or time
		 * (needle_write.go writes them only when there is data); gzip has nothing to do */
		n.flags = 0;
		gzip = false;
	}
	if (gzip) {
		size_t cap = kelp_gzip_bound(len);
		gz = malloc(cap);
		int64_t glen = gz ? kelp_gzip(data, len, gz, cap) : -ENOMEM;
		if (glen < 0) {
			die_msg("create: %s: gzip failed: %s", path, strerror((int)-glen));
			free(gz);
			free(data);
			return (int)glen;
		}
		n.data = gz;
		n.data_size = (uint32_t)glen;
		n.flags |= KELP_NEEDLE_FLAG_GZIP;
	}
	rc = add_needle(w, vid, &n);
	free(gz);
	free(data);
	return rc;
}

static int add_synthetic(struct writer *w, uint32_t vid, uint64_t key, uint32_t cookie,
			 uint64_t seed, uint64_t size)
{
	size_t words = (size + 7) / 8;
	uint64_t *data = malloc(words * 8);
	if (!data)
		return -ENOMEM;
	uint64_t s = seed ^ key;
	for (size_t i = 0; i < words; i++)
		data[i] = splitmix64(&s);
	struct kelp_needle n = {.cookie = cookie,
				.key = key,
				.data = (const uint8_t *)data,
				.data_size = (uint32_t)size};
	int rc = add_needle(w, vid, &n);
	free(data);
	return rc;
}

/*
 * Everything about the input files that can be known before writing: each one exists, is a
 * regular file we may read and fits in a needle. Reading may still fail later (the file changes
 * meanwhile): then the volume is removed and no fid printed. Prints what is wrong.
 * @return 0 or -errno.
 */
static int check_files(char **files, int nfiles)
{
	for (int i = 0; i < nfiles; i++) {
		struct stat st;
		int fd = open(files[i], O_RDONLY | O_CLOEXEC);
		int rc = fd < 0 || fstat(fd, &st) ? -errno : 0;
		if (fd >= 0)
			close(fd);
		if (!rc && !S_ISREG(st.st_mode))
			rc = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		if (rc) {
			die_msg("create: %s: %s", files[i],
				rc == -EINVAL ? "not a regular file" : strerror(-rc));
			return rc;
		}
		if ((uint64_t)st.st_size > MAX_FILE_SIZE) {
			die_msg("create: %s: %lld bytes, more than a needle holds (%u)", files[i],
				(long long)st.st_size, (unsigned)MAX_FILE_SIZE);
			return -EFBIG;
		}
	}
	return 0;
}

static int write_vif(const char *path, int offset_bytes, bool force)
{
	/* the fields weed 4.48 writes for a new volume */
	char text[512];
	int len = snprintf(text, sizeof(text),
			   "{\n  \"files\":  [],\n  \"version\":  3,\n  \"replication\":  \"\",\n"
			   "  \"bytesOffset\":  %d,\n  \"datFileSize\":  \"0\",\n"
			   "  \"expireAtSec\":  \"0\",\n  \"readOnly\":  false,\n"
			   "  \"ecShardConfig\":  null,\n  \"readOnlyCanDelete\":  false\n}",
			   offset_bytes);
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL), 0644);
	if (fd < 0)
		return -errno;
	int rc = write_all(fd, text, (size_t)len);
	close(fd);
	return rc;
}

int cmd_create(int argc, char **argv)
{
	const char *dir = NULL, *vid_text = NULL, *collection = NULL, *size_text = NULL;
	const char *mime = NULL;
	bool gzip = false, force = false, have_seed = false;
	uint64_t synthetic = 0, seed = 0;
	int offset_bytes = 5, nfiles = 0;
	char **files = calloc((size_t)argc, sizeof(char *));
	if (!files)
		return EXIT_FAIL;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool has_val = i + 1 < argc;
		if (is_help(a)) {
			fputs(create_usage, stdout);
			free(files);
			return EXIT_OK;
		} else if (!strcmp(a, "--gzip")) {
			gzip = true;
		} else if (!strcmp(a, "--force")) {
			force = true;
		} else if (!strcmp(a, "--offset-bytes") && has_val) {
			offset_bytes = atoi(argv[++i]);
		} else if (!strcmp(a, "--collection") && has_val) {
			collection = argv[++i];
		} else if (!strcmp(a, "--mime") && has_val) {
			mime = argv[++i];
		} else if (!strcmp(a, "--seed") && has_val) {
			seed = strtoull(argv[++i], NULL, 0);
			have_seed = true;
		} else if (!strcmp(a, "--synthetic") && has_val) {
			if (parse_size(argv[++i], &synthetic) || !synthetic) {
				die_msg("create: --synthetic takes a needle count >= 1, not '%s'",
					argv[i]);
				free(files);
				return EXIT_USAGE;
			}
		} else if (!strcmp(a, "--size") && has_val) {
			size_text = argv[++i];
		} else if (a[0] == '-') {
			die_msg("create: unknown option '%s' (or it needs a value)\n%s", a,
				create_usage);
			free(files);
			return EXIT_USAGE;
		} else if (!dir) {
			dir = a;
		} else if (!vid_text) {
			vid_text = a;
		} else {
			files[nfiles++] = argv[i];
		}
	}
	uint64_t vid64 = 0, size_lo = 0, size_hi = 0;
	const char *err = NULL;
	char *end = NULL;
	if (vid_text)
		vid64 = strtoull(vid_text, &end, 10);
	if (!dir || !vid_text)
		err = "need DIR and VID";
	else if (!*vid_text || *end || vid64 == 0 || vid64 > UINT32_MAX)
		err = "VID is a volume id, 1..4294967295";
	else if (offset_bytes != 4 && offset_bytes != 5)
		err = "--offset-bytes is 4 or 5";
	else if (synthetic && nfiles)
		err = "give FILEs or --synthetic, not both";
	else if (!synthetic && !nfiles)
		err = "nothing to write: give FILEs or --synthetic N --size BYTES";
	else if (synthetic && !size_text)
		err = "--synthetic needs --size BYTES or BYTES-BYTES";
	else if (mime && (!*mime || strlen(mime) > 255))
		err = "--mime: 1..255 bytes";
	else if (collection && (!*collection || strchr(collection, '/') || strchr(collection, '_')))
		err = "--collection: a non-empty name without '/' or '_'";
	if (!err && size_text) {
		char lo[64];
		const char *dash = strchr(size_text, '-');
		snprintf(lo, sizeof(lo), "%.*s", dash ? (int)(dash - size_text) : 63, size_text);
		if (parse_size(lo, &size_lo) ||
		    (dash ? parse_size(dash + 1, &size_hi) : (size_hi = size_lo, 0)) ||
		    size_lo < 1 || size_hi < size_lo || size_hi > (1u << 30))
			err = "--size: BYTES or LOW-HIGH, 1 byte to 1G, e.g. 4K or 1K-64K";
	}
	if (err) {
		die_msg("create: %s\n%s", err, create_usage);
		free(files);
		return EXIT_USAGE;
	}
	if (nfiles && check_files(files, nfiles)) {
		free(files);
		return EXIT_FAIL;
	}
	if (!have_seed && getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;

	char base[PATH_MAX], dat[PATH_MAX + 8], idxp[PATH_MAX + 8], vif[PATH_MAX + 8];
	if (collection)
		snprintf(base, sizeof(base), "%s/%s_%u", dir, collection, (uint32_t)vid64);
	else
		snprintf(base, sizeof(base), "%s/%u", dir, (uint32_t)vid64);
	snprintf(dat, sizeof(dat), "%s.dat", base);
	snprintf(idxp, sizeof(idxp), "%s.idx", base);
	snprintf(vif, sizeof(vif), "%s.vif", base);

	uint64_t count = synthetic ? synthetic : (uint64_t)nfiles;
	struct writer w = {.offset_bytes = offset_bytes};
	w.fids = count <= SIZE_MAX / sizeof(*w.fids) ? malloc(count * sizeof(*w.fids)) : NULL;
	if (!w.fids) {
		die_msg("create: no memory for %llu fids", (unsigned long long)count);
		free(files);
		return EXIT_FAIL;
	}
	int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL);
	w.dat_fd = open(dat, flags, 0644);
	if (w.dat_fd < 0) {
		die_msg("create: %s: %s%s", dat, strerror(errno),
			errno == EEXIST ? " (use --force to replace it)" : "");
		free(w.fids);
		free(files);
		return EXIT_FAIL;
	}
	w.idx_fd = open(idxp, flags, 0644);
	int rc = w.idx_fd < 0 ? -errno : 0;
	if (rc)
		die_msg("create: %s: %s", idxp, strerror(-rc));

	uint8_t sbb[KELP_SUPERBLOCK_SIZE];
	struct kelp_superblock sb = {.version = 3};
	kelp_superblock_encode(&sb, sbb);
	if (!rc)
		rc = write_all(w.dat_fd, sbb, sizeof(sbb));
	w.dat_pos = KELP_SUPERBLOCK_SIZE;

	uint64_t cs = seed ^ 0x636f6f6b6965ull; /* "cookie": cookies and sizes differ from data */
	for (uint64_t k = 1; k <= count && !rc; k++) {
		uint32_t cookie = (uint32_t)splitmix64(&cs);
		if (synthetic) {
			uint64_t size =
				size_lo +
				(size_hi > size_lo ? splitmix64(&cs) % (size_hi - size_lo + 1) : 0);
			rc = add_synthetic(&w, (uint32_t)vid64, k, cookie, seed, size);
		} else {
			rc = add_file(&w, (uint32_t)vid64, k, cookie, files[k - 1], gzip, mime);
		}
	}
	if (!rc && w.idx_len)
		rc = write_all(w.idx_fd, w.idx_buf, w.idx_len);
	if (!rc && (fsync(w.dat_fd) || fsync(w.idx_fd)))
		rc = -errno;
	if (!rc && (rc = write_vif(vif, offset_bytes, force)))
		die_msg("create: %s: %s", vif, strerror(-rc));
	bool made_idx = w.idx_fd >= 0; /* else it may be someone else's file: leave it */
	if (made_idx)
		close(w.idx_fd);
	close(w.dat_fd);
	free(w.buf);
	free(files);
	if (rc) {
		if (rc != -EINVAL && rc != -EFBIG && rc != -ERANGE)
			die_msg("create: writing %s: %s", base, strerror(-rc));
		unlink(dat);
		if (made_idx)
			unlink(idxp);
		free(w.fids);
		return EXIT_FAIL;
	}
	/* only now: every fid printed names a needle of a complete volume */
	for (uint64_t i = 0; i < w.nfids; i++) {
		char fid[KELP_FID_STR_MAX];
		kelp_fid_format(&w.fids[i], fid, sizeof(fid));
		puts(fid);
	}
	free(w.fids);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		die_msg("create: %s is written, but printing its fids failed: %s", base,
			strerror(errno));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}
