/* SPDX-License-Identifier: Apache-2.0 */
/*
 * "host:port" addresses as they appear in kelp.conf ([rdma] listen, [rdma] peers) and in the
 * SeaweedFS master's answers (a volume server's url / publicUrl).
 */
#ifndef KELP_CORE_HOSTPORT_H
#define KELP_CORE_HOSTPORT_H

#include <stddef.h>
#include <stdint.h>

/*
 * kelp_split_host_port - split @s, "host:port" or "[v6]:port", optionally after "http://" and
 * before a "/path", into @host (@n bytes, NUL-terminated; the brackets of an IPv6 literal removed)
 * and *@port. The host is not resolved and may be empty (":18515"). Any thread (pure).
 * Return: 0; -EINVAL: no ':', a port that is not 1..65535 in decimal, anything but "/..." after it,
 * or a host that does not fit in @n.
 */
int kelp_split_host_port(const char *s, char *host, size_t n, uint16_t *port);

#endif
