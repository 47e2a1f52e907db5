/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for kelpd's reading of a filer entry's JSON (lcore/cluster/filer.c:
 * kelp_filer_json_load, which quotes integers above INT64_MAX, then kelp_fentry_parse).
 * Input: the JSON text. Oracle: no crash or sanitizer report; a success is an entry whose type is
 * one of directory / symlink / file, whose chunk array matches its count, whose inline content
 * is readable over its length, and which frees cleanly; a failure is -EBADMSG or -ENOMEM.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "lcore/cluster/filer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int err = 0;
	json_t *j = kelp_filer_json_load((const char *)data, size, &err);
	if (!j) {
		if (err != -EBADMSG && err != -ENOMEM)
			abort();
		return 0;
	}
	struct kelp_fentry *e = NULL;
	int rc = kelp_fentry_parse(j, &e);
	json_decref(j);
	if (rc != 0) {
		if (rc != -EBADMSG && rc != -ENOMEM)
			abort();
		return 0;
	}
	if (!S_ISDIR(e->mode) && !S_ISLNK(e->mode) && !S_ISREG(e->mode))
		abort();
	if (e->n_chunks && !e->chunks)
		abort();
	volatile uint8_t sum = 0;
	for (size_t i = 0; i < e->content_len; i++)
		sum ^= e->content[i];
	for (size_t i = 0; i < e->n_chunks; i++)
		sum ^= (uint8_t)e->chunks[i].cipher_key_len;
	kelp_fentry_put(e);
	return 0;
}
