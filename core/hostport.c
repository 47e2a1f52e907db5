/* SPDX-License-Identifier: Apache-2.0 */
/* "host:port" addresses (hostport.h). */
#include <errno.h>
#include <string.h>

#include "core/hostport.h"

int kelp_split_host_port(const char *s, char *host, size_t n, uint16_t *port)
{
	const char *end, *colon;
	uint32_t p = 0;
	size_t hl;

	if (!strncmp(s, "http://", 7))
		s += 7;
	end = strchr(s, '/');
	if (!end)
		end = s + strlen(s);
	colon = memrchr(s, ':', (size_t)(end - s));
	if (!colon || colon + 1 == end)
		return -EINVAL;
	for (const char *c = colon + 1; c < end; c++) {
		if (*c < '0' || *c > '9')
			return -EINVAL;
		p = p * 10 + (uint32_t)(*c - '0');
		if (p > 65535)
			return -EINVAL;
	}
	if (p == 0)
		return -EINVAL;
	hl = (size_t)(colon - s);
	if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
		s++;
		hl -= 2;
	}
	if (hl >= n)
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	*port = (uint16_t)p;
	return 0;
}
