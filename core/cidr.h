/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Address prefixes ("10.0.0.0/8", "::1/128", or a bare address = a single host) for [http] allow:
 * parse once at start-up, match a peer's address per connection. Pure; any thread.
 */
#ifndef KELP_CORE_CIDR_H
#define KELP_CORE_CIDR_H

#include <stdint.h>
#include <sys/socket.h>

struct kelp_cidr {
	int family;	  /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network byte order; 4 bytes used for AF_INET */
	unsigned prefix;  /* 0..32 or 0..128 */
};

/*
 * kelp_cidr_parse - parse "ADDR/PREFIX" or "ADDR" (IPv4 dotted quad or IPv6 text) into @out.
 * Host bits under the prefix are ignored ("127.0.0.1/8" = 127.0.0.0/8).
 * Return: 0; -EINVAL when @s is not such a text.
 */
int kelp_cidr_parse(const char *s, struct kelp_cidr *out);

/*
 * kelp_cidr_match - is @sa (AF_INET or AF_INET6; an IPv4-mapped IPv6 address counts as IPv4) inside
 * one of the @n prefixes at @list? Return: 1 or 0.
 */
int kelp_cidr_match(const struct kelp_cidr *list, size_t n, const struct sockaddr *sa);

#endif
