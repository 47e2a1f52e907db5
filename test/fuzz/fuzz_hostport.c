/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for "host:port" addresses (core/hostport.c, the one parser).
 * Oracle: no crash or overread; an accepted address gives a non-empty host that fits,
 * NUL-terminated, made only of the characters hostport.h allows (no brackets, no sign or space
 * anywhere), a port in 1..65535 whose digits are all the input has after the last ':', and
 * "host:port" built from them (IPv6 literals bracketed) parses to the same; the strict
 * kelp_parse_host_port() (kelp.conf's validators) and kelp_split_host_port() agree on anything
 * without "http://" or '/'.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hostport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), host[64], host2[64], again[96], why[160];
	uint16_t port, port2;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0'; /* stops at the first NUL like a C string from the config */
	int rc = kelp_split_host_port(s, host, sizeof(host), &port);
	if (!strchr(s, '/') && (kelp_parse_host_port(s, host2, sizeof(host2), &port2, why,
						     sizeof(why)) == 0) != (rc == 0))
		abort();
	if (rc == 0) {
		size_t hl = strnlen(host, sizeof(host));
		if (hl == 0 || hl >= sizeof(host) || port == 0 ||
		    strspn(host,
			   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:%") !=
			    hl)
			abort();
		/* the port is the digits after the last ':': no sign, no space */
		const char *colon = strrchr(s, ':');
		if (!strchr(s, '/') && strspn(colon + 1, "0123456789") != strlen(colon + 1))
			abort();
		snprintf(again, sizeof(again), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
		if (kelp_parse_host_port(again, host2, sizeof(host2), &port2, NULL, 0) != 0 ||
		    strcmp(host, host2) || port != port2)
			abort();
	}
	free(s);
	return 0;
}
