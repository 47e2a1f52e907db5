/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for kelpd's HTTP endpoint parsers (proto/http_req.c) and [http] allow prefixes
 * (core/cidr.c).
 * Oracle: no crash; a parsed head's length is within the input, its path is NUL-terminated, starts
 * with '/' and has no '?', and parsing the head alone gives the same length; a prefix of an
 * incomplete head is incomplete too; a satisfiable range lies inside the entity.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/cidr.h"
#include "proto/http_req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kelp_http_req r, r2;
	ssize_t n = kelp_http_req_parse(data, size, &r);
	if (n > 0) {
		if ((size_t)n > size || r.path[0] != '/' || strlen(r.path) != r.path_len ||
		    strchr(r.path, '?'))
			abort();
		if (kelp_http_req_parse(data, (size_t)n, &r2) != n ||
		    strcmp(r.path, r2.path) != 0 || r.keep_alive != r2.keep_alive)
			abort();
		if (r.has_range) {
			uint64_t a, b, len = size * 7919u;
			if (kelp_http_range_parse(r.range, len, &a, &b) == 0 && (a > b || b >= len))
				abort();
		}
	} else if (n == 0 && size > 0 && kelp_http_req_parse(data, size - 1, &r2) > 0) {
		abort();
	}
	/* any input as a Range value and as a prefix */
	char text[128];
	size_t l = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
	memcpy(text, data, l);
	text[l] = '\0';
	uint64_t a, b, len = size ? data[0] * 257u : 0;
	if (kelp_http_range_parse(text, len, &a, &b) == 0 && (a > b || b >= len))
		abort();
	struct kelp_cidr c;
	if (kelp_cidr_parse(text, &c) == 0 &&
	    ((c.family == AF_INET && c.prefix > 32) || c.prefix > 128))
		abort();
	return 0;
}
