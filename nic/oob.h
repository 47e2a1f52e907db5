/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The out-of-band handshake of the kelp RDMA protocol (steps 1-3 in proto/rdma_msg.h): one HELLO
 * each way over a short-lived TCP connection to the export's `[rdma] listen` address. Blocking
 * calls with timeouts, for the control thread (or a tool's main thread), never an lcore. All return
 * 0 or -errno; -ETIMEDOUT when the peer did not answer in time.
 */
#ifndef KELP_NIC_OOB_H
#define KELP_NIC_OOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/rdma_msg.h"

/*
 * kelp_rdma_oob_connect - reader side: connect to @host:@port (IPv4/IPv6 literal or name), send
 * @mine, receive and parse the export's ACK into @peer, close. Whether the ACK's status is OK is
 * for kelp_rdma_conn_establish() to judge.
 */
int kelp_rdma_oob_connect(const char *host, uint16_t port, const struct kelp_rdma_hello *mine,
			  struct kelp_rdma_hello *peer, int timeout_ms);

/* kelp_rdma_oob_listen - export side: a non-blocking listening TCP socket on @addr:@port (addr
 * NULL or "" = any). @return the fd (>= 0) or -errno. */
int kelp_rdma_oob_listen(const char *addr, uint16_t port);

/*
 * kelp_rdma_oob_accept - export side: accept one pending connection on @lfd and read its HELLO
 * into @peer. @return the connected fd (answer with kelp_rdma_oob_answer()), -EAGAIN when nothing
 * is pending, or -errno (the bad connection is already closed: -EBADMSG for a malformed HELLO).
 */
int kelp_rdma_oob_accept(int lfd, struct kelp_rdma_hello *peer, int timeout_ms);

/* kelp_rdma_oob_answer - send @ack on @fd and close @fd (always). */
int kelp_rdma_oob_answer(int fd, const struct kelp_rdma_hello *ack, int timeout_ms);

/* kelp_oob_dial - a connected non-blocking TCP socket to @host:@port (literal or name), the
 * connect bounded by @timeout_ms. @return the fd or -errno (-ETIMEDOUT, -ECONNREFUSED, ...). Also
 * the TCP transport's handshake (lcore/tcp). */
int kelp_oob_dial(const char *host, uint16_t port, int timeout_ms);

/* kelp_oob_xfer - exactly @len bytes out of (@out) or into @buf on non-blocking socket @fd, each
 * wait bounded by @timeout_ms. @return 0, -ETIMEDOUT, -ECONNRESET (peer closed) or -errno. */
int kelp_oob_xfer(int fd, void *buf, size_t len, bool out, int timeout_ms);

#endif
