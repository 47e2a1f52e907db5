/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the FileChunkManifest decoder (proto/chunk_manifest.c) and, on what it
 * decodes, the chunk plan (proto/chunk_plan.c). Input: bytes 0-7 the read's offset and 8-11 its
 * length (little-endian), the rest the manifest (seeds: a real weed 4.48 manifest's first chunks,
 * test/fixtures/filer/manifest.pb).
 * Oracle: no crash or sanitizer report; only the documented errors; decoded chunks pass
 * kelp_filer_chunk_check; visible intervals are sorted, disjoint, inside their chunks; the read's
 * pieces tile [0, n) exactly, n = min(len, size - offset), each inside its visible interval.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/chunk_manifest.h"
#include "proto/chunk_plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 12)
		return 0;
	uint64_t off = 0;
	uint32_t len = 0;
	for (int i = 7; i >= 0; i--)
		off = off << 8 | data[i];
	for (int i = 11; i >= 8; i--)
		len = len << 8 | data[i];
	off %= 1u << 20; /* reads near the chunks the input can describe */
	len %= 1u << 20;

	struct kelp_filer_chunk *c;
	uint32_t n;
	int rc = kelp_chunk_manifest_decode(data + 12, size - 12, &c, &n);
	if (rc == -EBADMSG || rc == -ENOMEM)
		return 0;
	if (rc != 0 || (n && !c))
		abort();
	uint64_t file_size = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (kelp_filer_chunk_check(&c[i]))
			abort();
		c[i].is_chunk_manifest = false; /* as if resolved */
		c[i].offset %= 1 << 20;		/* keep the plan's sizes small */
		c[i].size %= 1 << 16;
		if ((uint64_t)c[i].offset + c[i].size > file_size)
			file_size = (uint64_t)c[i].offset + c[i].size;
	}
	file_size += data[0]; /* sometimes a hole at the end */

	struct kelp_chunk_visible *v;
	uint32_t nv;
	rc = kelp_chunk_visibles(c, n, &v, &nv);
	if (rc == -ENOMEM)
		goto out;
	if (rc != 0)
		abort();
	for (uint32_t i = 0; i < nv; i++) {
		const struct kelp_filer_chunk *ch = &c[v[i].chunk];
		if (v[i].chunk >= n || v[i].start >= v[i].stop ||
		    (i && v[i].start < v[i - 1].stop) || v[i].start < ch->offset ||
		    (uint64_t)(v[i].stop - ch->offset) > ch->size ||
		    v[i].chunk_off != (uint64_t)(v[i].start - ch->offset))
			abort();
	}
	uint32_t cap = 2 * nv + 1, np;
	struct kelp_chunk_piece *p = malloc(cap * sizeof(*p));
	if (p) {
		int64_t got = kelp_chunk_plan(v, nv, file_size, off, len, p, cap, &np);
		uint64_t want =
			off >= file_size ? 0 : (file_size - off < len ? file_size - off : len);
		if (got < 0 || (uint64_t)got != want)
			abort();
		uint64_t pos = 0;
		for (uint32_t i = 0; i < np; i++) {
			if (p[i].dst_off != pos || !p[i].len)
				abort();
			if (p[i].chunk != KELP_CHUNK_HOLE &&
			    (p[i].chunk >= n || p[i].chunk_off + p[i].len > c[p[i].chunk].size))
				abort();
			pos += p[i].len;
		}
		if (pos != want)
			abort();
		free(p);
	}
	free(v);
out:
	free(c);
	return 0;
}
