/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests: read a file of $KELP_FIXTURES (test/fixtures) whole. Include after <cmocka.h>. */
#ifndef KELP_TEST_FIXTURE_FILE_H
#define KELP_TEST_FIXTURE_FILE_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The bytes of fixture @name (malloc'd, free them) and their count in *@len; fails the test if
 * the file cannot be read. */
static inline uint8_t *load_fixture(const char *name, size_t *len)
{
	char path[PATH_MAX];
	const char *dir = getenv("KELP_FIXTURES");
	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "test/fixtures", name);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *buf = malloc(*len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, *len, f), *len);
	fclose(f);
	return buf;
}

#endif
