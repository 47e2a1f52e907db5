/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelpd's TCP export side (`[peer] tcp_listen`): other kelpd read needles of this kelpd's local
 * volume set over TCP (protocol: proto/tcp_frame.h), served on an lcore from the mapped volumes,
 * never through HTTP.
 *
 * Threads. The listening socket belongs to a handshake thread: it accepts, drops addresses outside
 * `[peer] allow`, runs the handshake (lcore/tcp/tcp_hs.h; the HMAC of `[peer] secret`, at most
 * KELP_TCP_EXPORT_HS_MS per connection, so a peer that connects and stays silent delays other
 * handshakes by that much and never an lcore) and hands each authenticated socket to the export
 * lcore (the first worker lcore) through a small queue. Accepting there and not on the lcore keeps
 * the blocking handshake, the HMAC and the allocation of a connection's buffers off the lcore; the
 * control thread stays out of it because it would have to pass every socket on anyway.
 * The export lcore owns an io_uring (polled every round; its eventfd is in the lcore's epoll set,
 * so the lcore may still park when idle) and every connection: one receive and one send in flight
 * per connection; each round it parses the requests received, looks the needles up under the
 * engine's epoch and adds each reply to the connection's next batch: the header (and a needle
 * smaller than KELP_TCP_EXPORT_MAP_MIN, copied) in a send buffer, a larger needle's bytes as a
 * piece pointing straight into the volume's mapping; one SENDMSG sends the batch, so the kernel's
 * copy into the socket is the only copy of a large needle. While that send is in flight the lcore
 * holds the engine's epoch (a volume replaced by a refresh or a vacuum is not unmapped under the
 * kernel's copy), at most KELP_TCP_EXPORT_SEND_MS (a link timeout: a peer that stops reading loses
 * its connection rather than holding up reclamation). A page the .dat lost under the send (a
 * truncated file) fails the kernel's copy (EFAULT): the connection closes and the reader falls
 * back to HTTP, it never gets other bytes. A malformed frame closes that connection only. A
 * connection with nothing in flight that received nothing for `[peer] idle_timeout_s` is closed
 * (its reader may be gone without a FIN); a ring timeout wakes the lcore for that check.
 */
#ifndef KELP_LCORE_TCP_EXPORT_H
#define KELP_LCORE_TCP_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#define KELP_TCP_EXPORT_HS_MS	 500
#define KELP_TCP_EXPORT_MAX_CONN 256
#define KELP_TCP_EXPORT_RX	 (64u << 10)
#define KELP_TCP_EXPORT_TX	 (2u << 20) /* each of the two send buffers per connection */
#define KELP_TCP_EXPORT_MAP_MIN                                                                    \
	(16u << 10)			   /* needles from this size on are sent from the mapping */
#define KELP_TCP_EXPORT_BATCH	(8u << 20) /* a batch takes no more replies once this long */
#define KELP_TCP_EXPORT_SEND_MS 5000	   /* longest send from a mapping (holds the epoch) */

struct kelp_engine;
struct kelp_lcore;
struct kelp_tcp_export;

struct kelp_tcp_export_stats {
	uint64_t connections; /* accepted and authenticated */
	uint64_t refused;     /* outside [peer] allow, or failed the handshake (bad secret, ...) */
	uint64_t up;	      /* connections up now */
	uint64_t requests, replies, bytes, errors, too_large;
	uint64_t idle_closed; /* closed after [peer] idle_timeout_s with nothing in flight */
};

/*
 * kelp_tcp_export_start - listen on @listen ("host:port"), serve on lcore @lc reads of up to
 * @max_read_mb MiB (larger: TOO_LARGE, the reader uses HTTP), only to peers inside @allow (@n_allow
 * CIDR strings; 0: any) that prove @secret ("" or NULL: none). At least one of the two must be
 * set: an exporter never serves a peer it cannot authenticate. Main thread, before the lcores
 * start. Return: 0 and *@out, or -errno (message printed): -EINVAL bad address / neither secret
 * nor allow list; the -errno of listen, io_uring, eventfd, pthread_create; -ENOSPC no poller slot.
 */
int kelp_tcp_export_start(struct kelp_engine *eng, struct kelp_lcore *lc, const char *listen,
			  const char *secret, const char *const *allow, size_t n_allow,
			  uint32_t max_read_mb, struct kelp_tcp_export **out);

/* kelp_tcp_export_stats - counters (relaxed loads). Any thread. */
void kelp_tcp_export_stats(const struct kelp_tcp_export *ex, struct kelp_tcp_export_stats *out);

/* kelp_tcp_export_stop - print counters, stop the thread, close everything. Main thread after
 * the lcores were joined. NULL is fine. */
void kelp_tcp_export_stop(struct kelp_tcp_export *ex);

#endif
