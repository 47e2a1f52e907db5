/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelpd's TCP reader side: non-local READ/STAT requests of an lcore's sessions sent over TCP to
 * the kelpd beside the volume server that holds the volume (protocol: proto/tcp_frame.h), when
 * RDMA did not take them (lcore/worker/lcore.c: local -> RDMA -> TCP -> HTTP).
 *
 * One struct kelp_tcp_reader per worker lcore, made by the main thread before the lcores start and
 * owned by that lcore afterwards: its io_uring (polled by the reader's poller every round, like a
 * verbs CQ; one io_uring_enter per round that has sends or receives to post), one persistent
 * connection per peer, plus one handshake thread that does the blocking connect + handshake
 * (lcore/tcp/tcp_hs.h) and hands the socket to the lcore through a per-peer turn flag.
 * Routing of a request: the volume's first location "host:port" -> the peer: the `[peer] hosts`
 * entry for it, else its host; at `[peer] tcp_port`. A peer that is not UP (connecting, backing
 * off after a failure) or has no credit left sends the request on (HTTP). Requests on one
 * connection are pipelined (up to KELP_TCP_READER_CREDITS) and written in one send per round;
 * replies come back in order: the reply header is received into a staging buffer, its data is
 * copied from there when it came along (small replies), or received straight into the client's
 * buffer (the rest of a reply of KELP_TCP_DIRECT_MIN bytes or more).
 * A connection failure (reset, EOF, malformed reply, no reply for [peer] timeout_ms) sends each of
 * its in-flight requests on to HTTP exactly once and closes it; it is reconnected lazily after a
 * backoff (100 ms doubling to 5 s). Only data and -ENOENT complete over TCP (KELP_CQE_PATH_RDMA |
 * KELP_CQE_F_TCP); every other answer goes on to HTTP (kelp_rdma_reader_result's rules).
 */
#ifndef KELP_LCORE_TCP_READER_H
#define KELP_LCORE_TCP_READER_H

#include <stddef.h>
#include <stdint.h>

#define KELP_TCP_READER_MAX_PEERS 64
#define KELP_TCP_READER_CREDITS	  128
#define KELP_TCP_HS_MS		  2000	      /* connect + handshake, on the handshake thread */
#define KELP_TCP_STAGING	  (64u << 10) /* the reader's receive buffer per connection */
#define KELP_TCP_DIRECT_MIN	  (16u << 10) /* data left from which it lands in place */

struct kelp_lcore;
struct kelp_remote_read;
struct kelp_tcp_reader;

/* What the TCP side of kelpd needs from the configuration ([peer]). */
struct kelp_tcp_config {
	const char *const *hosts; /* "vs_host:port=kelpd_host" */
	size_t n_hosts;
	uint16_t tcp_port;
	const char *secret; /* "" or NULL: none */
	uint32_t timeout_ms;
	uint64_t reader_id, incarnation;
};

/* One (peer, lcore) TCP connection as `kelpctl peers` shows it. */
struct kelp_tcp_peer_info {
	char addr[136]; /* kelpd "host:port" */
	char vs[128];	/* the volume server it stands for */
	unsigned lcore;
	int state; /* enum kelp_tcp_state */
	uint32_t in_flight;
	uint64_t requests, replies, bytes, errors, resets, fallbacks, bypassed, connects;
	int last_error; /* -errno of the last failed handshake or connection, 0 none */
};

enum kelp_tcp_state { KELP_TCP_DOWN = 0, KELP_TCP_CONNECTING, KELP_TCP_UP, KELP_TCP_CLOSING };
const char *kelp_tcp_state_name(int state);

/*
 * kelp_tcp_reader_create - the TCP reader of lcore @lc with @cfg (copied); registers its poller on
 * @lc, starts its handshake thread. Main thread, before the lcores start.
 * Return: 0 and *@out, or -errno (message printed): -EINVAL a bad hosts entry; -ENOSPC no poller
 * slot; -ENOMEM; the -errno of io_uring_queue_init / pthread_create.
 */
int kelp_tcp_reader_create(struct kelp_lcore *lc, const struct kelp_tcp_config *cfg,
			   struct kelp_tcp_reader **out);

/*
 * kelp_tcp_reader_route - send @r over TCP. Owning lcore.
 * Return: 0 posted (completes later over TCP, or HTTP); -ENOTCONN no usable connection (not
 * located, down, connecting), -EAGAIN no credit: the caller sends it elsewhere.
 */
int kelp_tcp_reader_route(struct kelp_tcp_reader *rd, struct kelp_remote_read *r);

/* kelp_tcp_reader_peers - up to @max connection reports. Any thread (relaxed loads). */
size_t kelp_tcp_reader_peers(const struct kelp_tcp_reader *rd, struct kelp_tcp_peer_info *out,
			     size_t max);

/* kelp_tcp_reader_destroy - print counters, close connections, stop the thread. Main thread after
 * the lcore was joined. NULL is fine. */
void kelp_tcp_reader_destroy(struct kelp_tcp_reader *rd);

#endif
