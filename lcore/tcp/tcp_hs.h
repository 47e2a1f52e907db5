/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The TCP transport's handshake (proto/tcp_frame.h: CHALLENGE, HELLO, ACK) on a fresh socket,
 * blocking with timeouts: for the reader's and the exporter's handshake threads only, never an
 * lcore. Both return 0 / an fd, or -errno.
 */
#ifndef KELP_LCORE_TCP_HS_H
#define KELP_LCORE_TCP_HS_H

#include <stddef.h>
#include <stdint.h>

#include "proto/tcp_frame.h"

/* Who a reader is (proto/tcp_frame.h HELLO). */
struct kelp_tcp_ident {
	uint64_t reader_id;
	uint64_t incarnation;
	uint16_t lane;
};

/*
 * kelp_tcp_hs_dial - reader side: connect to @host:@port, answer the CHALLENGE with a HELLO (mac
 * of @secret, @secret_len bytes; 0: none), check the ACK (status OK and, with a secret, its mac).
 * Return: the connected non-blocking socket (TCP_NODELAY), or -errno: -ETIMEDOUT, -ECONNREFUSED
 * and the like; -EACCES the exporter refused our secret or its ACK does not prove it knows the
 * secret; -EPROTONOSUPPORT version; -EBUSY exporter full; -EBADMSG malformed answer.
 */
int kelp_tcp_hs_dial(const char *host, uint16_t port, const void *secret, size_t secret_len,
		     const struct kelp_tcp_ident *id, int timeout_ms);

/*
 * kelp_tcp_hs_serve - exporter side on accepted socket @fd: send a CHALLENGE, read and check the
 * HELLO (version; the mac when @secret_len > 0), answer the ACK (@busy: status BUSY). @fd stays
 * open either way (the caller closes it on failure).
 * Return: 0 (the reader may now send frames; *@peer is its HELLO) or -errno: -EACCES bad mac,
 * -EPROTONOSUPPORT version, -EBUSY (@busy), -EBADMSG malformed HELLO, -ETIMEDOUT, -ECONNRESET.
 */
int kelp_tcp_hs_serve(int fd, const void *secret, size_t secret_len, int busy, int timeout_ms,
		      struct kelp_tcp_hello *peer);

/* kelp_tcp_hs_strerror - a sentence for a handshake -errno, for logs ("wrong or missing [peer]
 * secret", ...). */
const char *kelp_tcp_hs_strerror(int err);

#endif
