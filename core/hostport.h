/* SPDX-License-Identifier: Apache-2.0 */
/*
 * "host:port" addresses as they appear in kelp.conf ([seaweedfs] master, [rdma] listen, [rdma]
 * peers) and in the SeaweedFS master's answers (a volume server's url / publicUrl). This is kelp's
 * one parser of them: the config validators, the HTTP client, discovery and the RDMA glue all use
 * it, so an address the config accepts is one the daemon can use.
 *
 * Accepted: HOST:PORT where
 *   - PORT is 1..65535 written in decimal digits only (no sign, no space, no "0x"); leading zeros
 *     are allowed ("08080" is 8080);
 *   - HOST is a name or an IPv4 address: one or more of the letters, digits, '.', '-' and '_'
 *     (not resolved here), or an IPv6 address in brackets: "[" hex digits, ':' and '.', optionally
 *     "%zone" (letters, digits, '.', '-', '_'), "]"; it must contain a ':'. A ':' outside
 *     brackets is refused ("::1:80" is ambiguous: write "[::1]:80"). The host is never empty.
 * kelp_split_host_port() also takes what a master writes: an optional "http://" before and a
 * "/path" after ("http://10.0.0.1:8080/3,01637037d6").
 */
#ifndef KELP_CORE_HOSTPORT_H
#define KELP_CORE_HOSTPORT_H

#include <stddef.h>
#include <stdint.h>

/* Bytes of a host buffer that always fits: a DNS name is at most 253 characters. */
#define KELP_HOST_MAX 256

/*
 * kelp_parse_host_port - parse exactly "HOST:PORT" (see above: no scheme, no path) into @host (@n
 * bytes, NUL-terminated; the brackets of an IPv6 literal removed) and *@port. @host may be NULL to
 * only check. On error a reason naming @s ("'x:+80': port must be 1..65535") is written to @why
 * (@why_size bytes; may be NULL). Any thread (pure).
 * Return: 0; -EINVAL (nothing written to @host / *@port).
 */
int kelp_parse_host_port(const char *s, char *host, size_t n, uint16_t *port, char *why,
			 size_t why_size);

/*
 * kelp_split_host_port - like kelp_parse_host_port() for an address from a master's answer: an
 * optional "http://" before and anything after a '/' following the port are skipped. Any thread
 * (pure). Return: 0; -EINVAL (nothing written).
 */
int kelp_split_host_port(const char *s, char *host, size_t n, uint16_t *port);

#endif
