/* SPDX-License-Identifier: Apache-2.0 */
/* "host:port" addresses (hostport.h): the one parser. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/hostport.h"

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_';
}

static bool v6_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
	       c == ':' || c == '.';
}

/* The bracketed literal @h (@hl bytes, brackets removed): hex digits, ':' and '.', at least one
 * ':', then optionally "%zone". */
static bool v6_ok(const char *h, size_t hl)
{
	size_t i = 0;
	bool colon = false;
	for (; i < hl && h[i] != '%'; i++) {
		if (!v6_char(h[i]))
			return false;
		colon |= h[i] == ':';
	}
	if (!colon)
		return false;
	if (i < hl && i + 1 == hl)
		return false; /* "%" without a zone */
	for (i++; i < hl; i++)
		if (!name_char(h[i]))
			return false;
	return true;
}

/* Parse [@s, @end) as HOST:PORT. @why: reason (may be NULL). */
static int parse(const char *s, const char *end, const char *whole, char *host, size_t n,
		 uint16_t *port, char *why, size_t why_size)
{
	const char *colon;
	uint32_t p = 0;
	size_t hl;

	if (!why)
		why_size = 0;
	/* the port follows the last ':'; for "[v6]:port" that is the one after ']' */
	colon = memrchr(s, ':', (size_t)(end - s));
	if (!colon || colon == s) {
		if (why_size)
			snprintf(why, why_size, "'%s' is not host:port", whole);
		return -EINVAL;
	}
	for (const char *c = colon + 1; c < end; c++) {
		if (*c < '0' || *c > '9' || (p = p * 10 + (uint32_t)(*c - '0')) > 65535) {
			p = 0;
			break;
		}
	}
	if (p == 0) { /* also: no digit at all */
		if (why_size)
			snprintf(why, why_size, "'%s': port must be 1..65535", whole);
		return -EINVAL;
	}
	hl = (size_t)(colon - s);
	bool ok;
	if (s[0] == '[') {
		ok = hl >= 3 && s[hl - 1] == ']' && v6_ok(s + 1, hl - 2);
		if (ok) {
			s++;
			hl -= 2;
		}
	} else {
		ok = true;
		for (size_t i = 0; i < hl && ok; i++)
			ok = name_char(s[i]);
	}
	if (!ok) {
		if (why_size)
			snprintf(why, why_size,
				 "'%s': the host must be a name, an IPv4 address or an IPv6 "
				 "address in "
				 "brackets ([::1]:80)",
				 whole);
		return -EINVAL;
	}
	if (host && hl >= n) {
		if (why_size)
			snprintf(why, why_size, "'%s': the host is too long", whole);
		return -EINVAL;
	}
	if (host) {
		memcpy(host, s, hl);
		host[hl] = '\0';
	}
	*port = (uint16_t)p;
	return 0;
}

int kelp_parse_host_port(const char *s, char *host, size_t n, uint16_t *port, char *why,
			 size_t why_size)
{
	uint16_t p;
	int rc = parse(s, s + strlen(s), s, host, n, &p, why, why_size);
	if (rc == 0 && port)
		*port = p;
	return rc;
}

int kelp_split_host_port(const char *s, char *host, size_t n, uint16_t *port)
{
	const char *whole = s, *end;

	if (!strncmp(s, "http://", 7))
		s += 7;
	end = strchr(s, '/');
	if (!end)
		end = s + strlen(s);
	return parse(s, end, whole, host, n, port, NULL, 0);
}
