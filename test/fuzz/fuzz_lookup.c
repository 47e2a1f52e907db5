/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the master lookup parser (proto/lookup.c).
 * Input: byte 0 selects the HTTP status (200, 404, 503, other), the rest is the JSON body.
 * Oracle: no crash or sanitizer report; a success has 1..max locations whose url is non-empty and
 * NUL-terminated; the return value is one of the documented errors.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/lookup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int statuses[] = {200, 404, 503, 500};
	static struct kelp_lookup_result r;

	if (size < 1)
		return 0;
	int status = statuses[data[0] % 4];
	int rc = kelp_lookup_parse(status, (const char *)data + 1, size - 1, &r);
	switch (rc) {
	case 0:
		if (r.count < 1 || r.count > KELP_LOOKUP_MAX_LOCATIONS)
			abort();
		for (uint32_t i = 0; i < r.count; i++)
			if (!r.loc[i].url[0] || !memchr(r.loc[i].url, 0, sizeof(r.loc[i].url)))
				abort();
		break;
	case -ENOENT:
	case -EAGAIN:
	case -EBADMSG:
	case -EPROTO:
		break;
	default:
		abort();
	}
	return 0;
}
