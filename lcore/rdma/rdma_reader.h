/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelpd's RDMA reader side: non-local READ/STAT requests of an lcore's sessions sent to the kelpd
 * beside the volume server that holds the volume (protocol: proto/rdma_msg.h).
 *
 * One struct kelp_rdma_reader per worker lcore, made by the main thread before the lcores start and
 * owned by that lcore afterwards (its CQ, its connections, one per peer), plus one handshake thread
 * that only does TCP (step 3) and hands results back through a per-peer turn flag. Routing of a
 * request:
 *   1. the volume's locations from the masters (lcore/cluster/discovery.h, published lock-free at
 *      engine->locations; the first read of a volume goes to HTTP, which looks it up);
 *   2. the first location's volume server "host:port" -> the RDMA peer: the `[rdma] peers` entry
 *      for it, else its host with `[rdma] peer_port`;
 *   3. a peer that is DOWN is connected lazily when its backoff allows: the lcore makes the HELLO,
 *      the reader's handshake thread runs the blocking TCP exchange (nic/oob.h, at most
 *      KELP_RDMA_READER_OOB_MS), and the lcore's poller establishes the QP with the answer, so
 *      neither the lcore nor the control thread waits on the network; a peer that is not UP, has
 *      no credit, or fails sends the request to HTTP instead.
 * Every RDMA failure of a request (connection reset, protocol error, the peer does not hold the
 * volume, busy, CRC mismatch of a whole-needle read) sends it on to the HTTP fallback; only data
 * and -ENOENT (the needle does not exist: authoritative) complete over RDMA, with
 * KELP_CQE_PATH_RDMA. The session's arena must be registered (lcore_session.rdma_rkey).
 */
#ifndef KELP_LCORE_RDMA_READER_H
#define KELP_LCORE_RDMA_READER_H

#include <stddef.h>
#include <stdint.h>

#include "nic/device.h"

#define KELP_RDMA_READER_MAX_PEERS 64
#define KELP_RDMA_READER_OOB_MS	   2000 /* TCP handshake, on the handshake thread */
#define KELP_RDMA_READER_CREDITS   32
/* One-sided reads (kelp_rdma_reader_one_sided) */
#define KELP_RDMA_OS_SLOTS 256 /* one-sided reads in flight per reader lcore */
#define KELP_RDMA_OS_TAIL_MAX                                                                      \
	1040 /* a record's bytes after the client's piece (fields                                  \
	      * after the data + CRC): more goes two-sided */
#define KELP_RDMA_OS_CTL_BYTES	      (256u << 10) /* a MAP or IDX answer: 16384 .idx rows */
#define KELP_RDMA_ONESIDED_REFRESH_MS 200	   /* VOLMAP and index tail looked at again */
#define KELP_RDMA_ONESIDED_OFF_MS                                                                  \
	10000 /* a volume the export does not offer: not asked again                               \
	       * for so long */

struct kelp_lcore;
struct kelp_remote_read;
struct kelp_rdma_done;
struct kelp_rdma_reader;

/* One (peer, lcore) connection as `kelpctl peers` shows it. */
struct kelp_rdma_peer_info {
	char addr[136]; /* kelpd's RDMA handshake address "host:port" */
	char vs[128];	/* the volume server "host:port" it stands for */
	unsigned lcore;
	int state; /* enum kelp_rdma_state */
	uint32_t in_flight, credits;
	uint64_t requests, replies, errors, resets;
	uint64_t fallbacks; /* posted over RDMA, failed, sent on to HTTP */
	uint64_t bypassed;  /* sent straight to HTTP: peer not UP (or backing off) or no credit */
	uint64_t connects;  /* handshakes attempted */
	uint64_t one_sided; /* reads completed by one verified RDMA READ */
	uint64_t one_sided_fallbacks; /* RDMA READs that did not verify: read two-sided */
	int64_t retry_in_ms; /* DOWN: time until the next attempt (<= 0: at the next request) */
	uint32_t qpn;	     /* its current QP (the logs name it; 0: none) */
	uint64_t new_qps;    /* QPs made to replace a reset one (each reset and failed handshake) */
	/* of this lcore's CQ, which all its peers share: completions of a reset connection's old
	 * QP, dropped (after a reset: normal), and completions that named nothing (a bug) */
	uint64_t stale_cqes, unknown_cqes;
};

/* Who this reader kelpd is to the exporters (proto/rdma_msg.h step 1): @reader_id stays the same
 * when this kelpd restarts with the same configuration, @incarnation changes at every start. */
struct kelp_rdma_reader_ident {
	uint64_t reader_id; /* 0: anonymous (exporters never reset connections on its account) */
	uint64_t incarnation;
};

/* Seams for unit tests (test/unit/test_rdma_reader.c); kelpd passes NULL: the real ones. */
struct kelp_rdma_hello;
struct kelp_rdma_reader_hooks {
	uint64_t (*clock_ns)(
		void); /* backoff, timeouts, retry_in_ms, one-sided refreshes; NULL:
			* kelp_coarse_ns (the connections' clock; read once per
			* one-sided read, where CLOCK_MONOTONIC can be a system call) */
	/* the TCP handshake, run on the handshake thread (blocking); NULL: kelp_rdma_oob_connect */
	int (*handshake)(const char *host, uint16_t port, const struct kelp_rdma_hello *mine,
			 struct kelp_rdma_hello *ack, int timeout_ms);
};

/*
 * kelp_rdma_reader_create - the reader side of lcore @lc on @dev, with the `[rdma] peers` entries
 * @peers (@n_peers "vs_host:port=rdma_host:port"), @peer_port and @request_timeout_ms (0: 2000;
 * no reply for that long fails a connection); its HELLOs carry @ident and lane = @lc's id;
 * @hooks (NULL in kelpd) replaces the clock and the TCP handshake;
 * registers its CQ poller on @lc and starts its handshake thread. Main thread, before the lcores
 * start.
 * Return: 0 and the reader in *@out, or -errno (message printed; *@out NULL): -EINVAL a bad
 * peers entry; -ENOSPC no poller slot; -ENOMEM; the -errno of the CQ creation and of
 * pthread_create.
 */
int kelp_rdma_reader_create(struct kelp_lcore *lc, struct kelp_rdma_dev *dev,
			    const char *const *peers, size_t n_peers, uint16_t peer_port,
			    uint32_t request_timeout_ms, const struct kelp_rdma_reader_ident *ident,
			    const struct kelp_rdma_reader_hooks *hooks,
			    struct kelp_rdma_reader **out);

/*
 * kelp_rdma_reader_route - send @r (inputs filled, session set) over RDMA. Owning lcore.
 * Return: 0 when posted (it completes later through the lcore, by RDMA or by HTTP); -ENOTCONN
 * no usable peer (not located yet, down, backing off), -EAGAIN no credit, -errno: the caller sends
 * it over HTTP.
 */
int kelp_rdma_reader_route(struct kelp_rdma_reader *rd, struct kelp_remote_read *r);

/*
 * kelp_rdma_reader_result - fill @r's outputs (result, cqe_flags with KELP_CQE_PATH_RDMA, size,
 * crc, needle_flags) from the finished RDMA request @d, checking what the peer claims: a READ's
 * bytes within @r's length and the needle; the CRC of a whole-needle read (over the bytes now in
 * r->dst; SeaweedFS's current or legacy form). Owning lcore (any thread in unit tests).
 * Return: 0 when @r completes over RDMA (data, or -ENOENT: the needle does not exist); -EAGAIN
 * when it must be read again over HTTP (any error status, a reply that breaks those bounds, a CRC
 * mismatch; @r's outputs are then unspecified).
 */
int kelp_rdma_reader_result(struct kelp_remote_read *r, const struct kelp_rdma_done *d);

/*
 * kelp_rdma_reader_one_sided - read needles one-sided where the exports offer it
 * (proto/rdma_msg.h steps 7-9): per peer and volume the reader keeps the export's VOLMAP and a copy
 * of its needle index (IDX requests: the rows it has not seen, looked at again every
 * KELP_RDMA_ONESIDED_REFRESH_MS while the volume is read); a whole-needle READ the index knows is
 * then one RDMA READ scattered into a staging slot (header, data size, the record's tail) and
 * the client's buffer (the data: no copy), checked by kelp_rdma_reader_os_check(); one that does
 * not verify is sent as a two-sided READ, once (then HTTP). Registers a staging area on the
 * device. Main thread, after kelp_rdma_reader_create, before the lcores start.
 * Return: 0; -ENOMEM; the -errno of the registration (reads stay two-sided, message printed).
 */
int kelp_rdma_reader_one_sided(struct kelp_rdma_reader *rd);

/* kelp_rdma_reader_os_check - see rdma_reader.c (exported for unit tests). */
int kelp_rdma_reader_os_check(struct kelp_remote_read *r, uint8_t version, uint32_t size,
			      const uint8_t *head, uint32_t dlen, uint32_t tlen);

/*
 * kelp_rdma_reader_peers - reports of up to @max of @rd's peers into @out. Any thread: reads what
 * the owning lcore published (relaxed loads; each field exact, the set not one instant).
 * Return: how many were filled.
 */
size_t kelp_rdma_reader_peers(const struct kelp_rdma_reader *rd, struct kelp_rdma_peer_info *out,
			      size_t max);

/* kelp_rdma_reader_destroy - print per-peer counters, destroy the connections and the CQ. Main
 * thread after the lcore was joined (nothing may be in flight). Return: 0 or -errno. */
int kelp_rdma_reader_destroy(struct kelp_rdma_reader *rd);

#endif
