/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the filer JSON parsers (proto/filer_entry.c): every input is parsed as an
 * entry, as a listing page by the one-pass parser kelpd uses and by the jansson reference, and as
 * the same page with the input as its only entry (seeds: real weed 4.48 captures,
 * test/fixtures/filer/). Oracle: no crash, leak or sanitizer report; only the documented errors; on
 * success the bounds hold (path starts with "/", name inside it, chunk counts and sizes within
 * limits, names of a page non-empty and short enough, every chunk passes kelp_filer_chunk_check);
 * where both listing parsers accept a page, they give the same page, field by field.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/filer_entry.h"
#include "test/unit/filer_listing_eq.h"

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

static void check_page(const struct kelp_filer_listing *l)
{
	if (l->count > KELP_FILER_LIST_MAX || !l->last_name || (l->count && !l->ents))
		abort();
	for (uint32_t i = 0; i < l->count; i++) {
		check_entry(&l->ents[i]);
		size_t n = strlen(l->ents[i].name);
		if (!n || n > KELP_FILER_NAME_MAX)
			abort();
	}
}

/* both listing parsers: documented errors, bounds, and the same page where both accept */
static void check_listing(const char *json, size_t len)
{
	struct kelp_filer_listing l, d;
	int rc = kelp_filer_listing_parse(json, len, &l);
	check_rc(rc);
	int rd = kelp_filer_listing_parse_dom(json, len, &d);
	check_rc(rd);
	if (rc == 0)
		check_page(&l);
	if (rd == 0)
		check_page(&d);
	if (rc == 0 && rd == 0 && !kelp_test_listing_eq(&l, &d))
		abort();
	if (rc == 0)
		kelp_filer_listing_free(&l);
	if (rd == 0)
		kelp_filer_listing_free(&d);
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

	check_listing((const char *)data, size);
	/* the input as the one entry of a page: the entry grammar through both listing parsers */
	static const char pre[] = "{\"Path\":\"/d\",\"Entries\":[", post[] = "],\"Limit\":1}";
	char *page = malloc(sizeof(pre) - 1 + size + sizeof(post));
	if (!page)
		return 0;
	memcpy(page, pre, sizeof(pre) - 1);
	memcpy(page + sizeof(pre) - 1, data, size);
	memcpy(page + sizeof(pre) - 1 + size, post, sizeof(post));
	check_listing(page, sizeof(pre) - 1 + size + sizeof(post) - 1);
	free(page);

	int64_t ns;
	rc = kelp_filer_time_parse((const char *)data, size, &ns);
	if (rc != 0 && rc != -EBADMSG)
		abort();
	return 0;
}
