/* SPDX-License-Identifier: Apache-2.0 */
/*
 * filer_assemble: read bytes of a filer file the way kelpd is to read them, with the pure filer
 * library alone (proto/filer_entry, chunk_manifest, chunk_plan, core/cipher), so that
 * test_filer_lib.sh can compare the result with the filer's own GET for every kind of file.
 *
 *   usage: filer_assemble ENTRY_JSON NEEDLE_DIR OUT [OFFSET LEN]
 *
 * ENTRY_JSON is the filer's `GET path?metadata=true`. NEEDLE_DIR holds each chunk's stored needle
 * data as a volume server returns it to `Accept-Encoding: gzip` (file <fid>), and an empty file
 * <fid>.gz when it came with `Content-Encoding: gzip` (the needle's gzip flag). The file's bytes
 * [OFFSET, OFFSET + LEN) (default: all) go to OUT.
 * Exit: 0 done; 3 needles are missing: their fids are printed, one per line ("need FID"), for the
 * script to fetch before running again (manifest chunks reveal more); 1 any error (printed).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/cipher.h"
#include "proto/chunk_manifest.h"
#include "proto/chunk_plan.h"
#include "proto/filer_entry.h"

static const char *needle_dir;
static int missing;

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* The plain data of chunk @c (malloc'd, @c->size bytes; for a manifest chunk, whose size is the
 * span of the file it covers, its whole data with *@mlen); NULL when its needle is not there yet
 * (counted in @missing) or on an error (exits). */
static uint8_t *chunk_plain(const struct kelp_filer_chunk *c, size_t *mlen)
{
	char fid[KELP_FID_STR_MAX], path[4096];
	kelp_fid_format(&c->fid, fid, sizeof(fid));
	snprintf(path, sizeof(path), "%s/%s", needle_dir, fid);
	size_t len, n;
	uint8_t *stored = slurp(path, &len);
	if (!stored) { /* (the same fid may be asked for many times: the script dedups) */
		printf("need %s\n", fid);
		missing++;
		return NULL;
	}
	/* encrypted: is_compressed says whether the plain bytes are gzip; else the needle's flag */
	strcat(path, ".gz");
	struct stat st;
	bool needle_gzip = stat(path, &st) == 0;
	bool compressed = c->cipher_key_len ? c->is_compressed : needle_gzip;
	size_t cap = c->is_chunk_manifest ? 64u << 20 : c->size;
	uint8_t *plain = malloc(cap + 1);
	int rc = kelp_chunk_unpack(c->cipher_key, c->cipher_key_len, compressed, stored, len, plain,
				   cap, &n);
	free(stored);
	if (mlen)
		*mlen = n;
	if (rc || (!c->is_chunk_manifest && n != c->size)) {
		fprintf(stderr, "chunk %s: unpack: %s, %zu bytes of %llu\n", fid, strerror(-rc), n,
			(unsigned long long)c->size);
		exit(1);
	}
	return plain;
}

/* appends the data chunks of @c (n of them) to *all, resolving manifests recursively */
static void resolve(const struct kelp_filer_chunk *c, uint32_t n, struct kelp_filer_chunk **all,
		    uint32_t *count, int depth)
{
	if (depth > 4) {
		fprintf(stderr, "manifests nested deeper than 4\n");
		exit(1);
	}
	for (uint32_t i = 0; i < n; i++) {
		if (!c[i].is_chunk_manifest) {
			*all = realloc(*all, (*count + 1) * sizeof(**all));
			(*all)[(*count)++] = c[i];
			continue;
		}
		size_t mlen;
		uint8_t *data = chunk_plain(&c[i], &mlen);
		if (!data)
			continue;
		struct kelp_filer_chunk *sub;
		uint32_t nsub;
		int rc = kelp_chunk_manifest_decode(data, mlen, &sub, &nsub);
		free(data);
		if (rc) {
			fprintf(stderr, "manifest: %s\n", strerror(-rc));
			exit(1);
		}
		resolve(sub, nsub, all, count, depth + 1);
		free(sub);
	}
}

int main(int argc, char **argv)
{
	if (argc != 4 && argc != 6) {
		fprintf(stderr, "usage: filer_assemble ENTRY_JSON NEEDLE_DIR OUT [OFFSET LEN]\n");
		return 1;
	}
	needle_dir = argv[2];
	size_t len;
	uint8_t *json = slurp(argv[1], &len);
	struct kelp_filer_entry e;
	int rc = json ? kelp_filer_entry_parse((char *)json, len, &e) : -errno;
	free(json);
	if (rc) {
		fprintf(stderr, "%s: %s\n", argv[1], strerror(-rc));
		return 1;
	}
	uint64_t off = argc == 6 ? strtoull(argv[4], NULL, 0) : 0;
	uint64_t want = argc == 6 ? strtoull(argv[5], NULL, 0) : e.attr.size;
	if (want > UINT32_MAX)
		want = UINT32_MAX;
	uint8_t *out = calloc(want + 1, 1);
	int64_t got;

	const uint8_t *inl;
	got = kelp_filer_inline_read(&e, off, (uint32_t)want, &inl);
	if (got >= 0) {
		if (got)
			memcpy(out, inl, (size_t)got);
	} else {
		struct kelp_filer_chunk *all = NULL;
		uint32_t n = 0;
		resolve(e.chunks, e.nchunks, &all, &n, 0);
		if (missing)
			return 3;
		struct kelp_chunk_visible *vis;
		uint32_t nv, np;
		rc = kelp_chunk_visibles(all, n, &vis, &nv);
		if (rc) {
			fprintf(stderr, "visibles: %s\n", strerror(-rc));
			return 1;
		}
		struct kelp_chunk_piece *p = malloc((2 * nv + 1) * sizeof(*p));
		got = kelp_chunk_plan(vis, nv, e.attr.size, off, (uint32_t)want, p, 2 * nv + 1,
				      &np);
		if (got < 0) {
			fprintf(stderr, "plan: %s\n", strerror((int)-got));
			return 1;
		}
		/* each chunk's plain data once (the manifest file has 10003 pieces over 8 needles)
		 */
		uint8_t **cache = calloc(n ? n : 1, sizeof(*cache));
		for (uint32_t i = 0; i < np; i++) {
			if (p[i].chunk == KELP_CHUNK_HOLE)
				continue; /* out is zeroed */
			if (!cache[p[i].chunk])
				cache[p[i].chunk] = chunk_plain(&all[p[i].chunk], NULL);
			if (cache[p[i].chunk])
				memcpy(out + p[i].dst_off, cache[p[i].chunk] + p[i].chunk_off,
				       p[i].len);
		}
		if (missing)
			return 3;
		printf("pieces %u visibles %u chunks %u\n", np, nv, n);
		for (uint32_t i = 0; i < n; i++)
			free(cache[i]);
		free(cache);
		free(p);
		free(vis);
		free(all);
	}
	FILE *f = fopen(argv[3], "wb");
	if (!f || fwrite(out, 1, (size_t)got, f) != (size_t)got || fclose(f)) {
		fprintf(stderr, "%s: write failed\n", argv[3]);
		return 1;
	}
	free(out);
	kelp_filer_entry_free(&e);
	return 0;
}
