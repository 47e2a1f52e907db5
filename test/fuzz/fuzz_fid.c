/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for file ids (core/fid.c).
 * Oracle: no crash; a parsed fid formats to text that parses back to the same fid, and formatting
 * never exceeds KELP_FID_STR_MAX.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/fid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kelp_fid f, g;
	if (kelp_fid_parse((const char *)data, size, &f))
		return 0;
	char buf[KELP_FID_STR_MAX];
	int n = kelp_fid_format(&f, buf, sizeof(buf));
	if (n <= 0 || (size_t)n >= sizeof(buf) || strlen(buf) != (size_t)n)
		abort();
	/* key 0 formats as just the cookie (8 hex digits), which SeaweedFS cannot parse either */
	if (f.key == 0)
		return 0;
	if (kelp_fid_parse(buf, (size_t)n, &g) || g.volume_id != f.volume_id || g.key != f.key ||
	    g.cookie != f.cookie)
		abort();
	return 0;
}
