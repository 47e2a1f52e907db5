/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for "host:port" addresses (core/hostport.c).
 * Oracle: no crash or overread; an accepted address gives a host that fits, NUL-terminated, a
 * port in 1..65535, and "host:port" built from them (IPv6 literals bracketed) splits to the same.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hostport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), host[64], host2[64], again[96];
	uint16_t port, port2;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0'; /* stops at the first NUL like a C string from the config */
	if (kelp_split_host_port(s, host, sizeof(host), &port) == 0) {
		size_t hl = strnlen(host, sizeof(host));
		if (hl >= sizeof(host) || port == 0)
			abort();
		snprintf(again, sizeof(again), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
		/* brackets inside the host itself ("[[]]:80") are not a real address: no round trip */
		if (!strpbrk(host, "[]") &&
		    (kelp_split_host_port(again, host2, sizeof(host2), &port2) != 0 ||
		     strcmp(host, host2) || port != port2))
			abort();
	}
	free(s);
	return 0;
}
