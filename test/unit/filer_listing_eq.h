/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Whether two parsed filer entries / listing pages say the same (every field kelp reads), for the
 * checks of kelp_filer_listing_parse against kelp_filer_listing_parse_dom (test_proto_filer_entry,
 * fuzz_filer_entry). Header-only: test programs and fuzzers include it.
 */
#ifndef KELP_TEST_FILER_LISTING_EQ_H
#define KELP_TEST_FILER_LISTING_EQ_H

#include <stdbool.h>
#include <string.h>

#include "proto/filer_entry.h"

static inline bool kelp_test_str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static inline bool kelp_test_entry_eq(const struct kelp_filer_entry *a,
				      const struct kelp_filer_entry *b)
{
	const struct kelp_filer_attr *x = &a->attr, *y = &b->attr;
	if (x->size != y->size || x->mtime_ns != y->mtime_ns || x->crtime_ns != y->crtime_ns ||
	    x->inode != y->inode || x->mode != y->mode || x->uid != y->uid || x->gid != y->gid ||
	    !kelp_test_str_eq(a->path, b->path) || !a->name || !b->name ||
	    a->name - a->path != b->name - b->path ||
	    !kelp_test_str_eq(a->symlink_target, b->symlink_target) ||
	    a->content_len != b->content_len || !a->content != !b->content ||
	    (a->content_len && memcmp(a->content, b->content, a->content_len)) ||
	    a->nchunks != b->nchunks || !a->chunks != !b->chunks)
		return false;
	for (uint32_t i = 0; i < a->nchunks; i++) {
		const struct kelp_filer_chunk *x = &a->chunks[i], *y = &b->chunks[i];
		if (x->fid.volume_id != y->fid.volume_id || x->fid.key != y->fid.key ||
		    x->fid.cookie != y->fid.cookie || x->offset != y->offset ||
		    x->size != y->size || x->modified_ts_ns != y->modified_ts_ns ||
		    x->cipher_key_len != y->cipher_key_len ||
		    memcmp(x->cipher_key, y->cipher_key, x->cipher_key_len) ||
		    x->is_compressed != y->is_compressed ||
		    x->is_chunk_manifest != y->is_chunk_manifest)
			return false;
	}
	return true;
}

static inline bool kelp_test_listing_eq(const struct kelp_filer_listing *a,
					const struct kelp_filer_listing *b)
{
	if (a->count != b->count || a->more != b->more ||
	    !kelp_test_str_eq(a->last_name, b->last_name) || !a->ents != !b->ents)
		return false;
	for (uint32_t i = 0; i < a->count; i++)
		if (!kelp_test_entry_eq(&a->ents[i], &b->ents[i]))
			return false;
	return true;
}

#endif
