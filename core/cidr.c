/* SPDX-License-Identifier: Apache-2.0 */
/* Address prefixes for [http] allow (core/cidr.h). */
#include "core/cidr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

int kelp_cidr_parse(const char *s, struct kelp_cidr *out)
{
	char buf[INET6_ADDRSTRLEN + 8];
	size_t len = strlen(s);
	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len + 1);
	char *slash = strchr(buf, '/');
	struct kelp_cidr c = {0};
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, c.addr) == 1) {
		c.family = AF_INET;
		c.prefix = 32;
	} else if (inet_pton(AF_INET6, buf, c.addr) == 1) {
		c.family = AF_INET6;
		c.prefix = 128;
	} else {
		return -EINVAL;
	}
	if (slash) {
		const char *p = slash + 1;
		if (*p < '0' || *p > '9' || strlen(p) > 3)
			return -EINVAL;
		unsigned v = 0;
		for (; *p; p++) {
			if (*p < '0' || *p > '9')
				return -EINVAL;
			v = v * 10 + (unsigned)(*p - '0');
		}
		if (v > c.prefix)
			return -EINVAL;
		c.prefix = v;
	}
	*out = c;
	return 0;
}

/* Do the first @bits bits of @a and @b agree? */
static int prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned bytes = bits / 8, rest = bits % 8;
	if (memcmp(a, b, bytes) != 0)
		return 0;
	if (rest == 0)
		return 1;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

int kelp_cidr_match(const struct kelp_cidr *list, size_t n, const struct sockaddr *sa)
{
	uint8_t addr[16];
	int family;
	if (sa->sa_family == AF_INET) {
		memcpy(addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		family = AF_INET;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			memcpy(addr, a6->s6_addr + 12, 4);
			family = AF_INET;
		} else {
			memcpy(addr, a6->s6_addr, 16);
			family = AF_INET6;
		}
	} else {
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if (list[i].family == family && prefix_equal(list[i].addr, addr, list[i].prefix))
			return 1;
	return 0;
}
