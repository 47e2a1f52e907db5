/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the filer JSON parsers (proto/filer_entry.c): every input is parsed both as
 * an entry and as a listing page (seeds: real weed 4.48 captures, test/fixtures/filer/).
 * Oracle: no crash, leak or sanitizer report; only the documented errors; on success the bounds
 * hold (path starts with "/", name inside it, chunk counts and sizes within limits, names of a page
 * non-empty and short enough, every chunk passes kelp_filer_chunk_check).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/filer_entry.h"

static void check_entry(const struct kelp_filer_entry *e)
{
	size_t n = strlen(e->path);
	if (!n || n > KELP_FILER_PATH_MAX || e->path[0] != '/' || e->name < e->path ||
	    e->name > e->path + n || e->nchunks > KELP_FILER_CHUNKS_MAX ||
	    e->content_len > KELP_FILER_CONTENT_MAX || (e->nchunks && !e->chunks) || !e->attr.inode)
		abort();
	for (uint32_t i = 0; i < e->nchunks; i++)
		if (kelp_filer_chunk_check(&e->chunks[i]))
			abort();
}

static void check_rc(int rc)
{
	if (rc != 0 && rc != -EBADMSG && rc != -ENAMETOOLONG && rc != -ENOMEM)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kelp_filer_entry e;
	int rc = kelp_filer_entry_parse((const char *)data, size, &e);
	check_rc(rc);
	if (rc == 0) {
		check_entry(&e);
		kelp_filer_entry_free(&e);
	}

	struct kelp_filer_listing l;
	rc = kelp_filer_listing_parse((const char *)data, size, &l);
	check_rc(rc);
	if (rc == 0) {
		if (l.count > KELP_FILER_LIST_MAX || !l.last_name || (l.count && !l.ents))
			abort();
		for (uint32_t i = 0; i < l.count; i++) {
			check_entry(&l.ents[i]);
			size_t n = strlen(l.ents[i].name);
			if (!n || n > KELP_FILER_NAME_MAX)
				abort();
		}
		kelp_filer_listing_free(&l);
	}

	int64_t ns;
	rc = kelp_filer_time_parse((const char *)data, size, &ns);
	if (rc != 0 && rc != -EBADMSG)
		abort();
	return 0;
}
