/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RDMA connections between kelpd instances and the requests on them (protocol: proto/rdma_msg.h).
 *
 * Ownership model. A struct kelp_rdma_lcore belongs to one lcore: its completion queue, its
 * connections (one RC QP each, per peer), its bounce pool and its counters. Only that lcore calls
 * the functions below on it, so nothing here takes a lock. (Tests and tools that run everything on
 * one thread are one "lcore".) The out-of-band handshake (nic/oob.h) produces and consumes the
 * HELLO messages; it may run elsewhere, but the conn calls themselves stay on the owning thread.
 *
 * A connection has a role:
 *   READER: sends READ/STAT requests; the export writes the bytes into the reader's registered
 *           buffer, then replies. kelp_rdma_lcore_poll() hands back one kelp_rdma_done per request.
 *   EXPORT: receives requests, looks needles up through the lcore's kelp_rdma_export_ops,
 *           RDMA-WRITEs the bytes and replies, all inside kelp_rdma_lcore_poll().
 *
 * Reader states:   DOWN --hello--> CONNECTING --establish--> UP
 *                    ^                 |                      |  any failed completion, stray
 *                    +---- failed -----+                      |  reply, post error, or no reply
 *                    +-------------- (reset) <----------------+  within request_timeout_ms
 * (The timeout matters: when an exporter dies after acknowledging requests at the transport
 * level, no completion would ever tell the reader.)
 * DOWN carries a retry time that doubles on each failure (backoff 100 ms .. 6.4 s) and resets on a
 * successful establish. When a connection fails, every request in flight on it completes with
 * -ECONNRESET exactly once (the caller retries over HTTP) and the connection gets a new QP for the
 * next attempt (the old one is destroyed, never moved to RESET and used again: a failed QP may
 * still hold work requests, and rxe on Linux 6.1 kept them across RESET; counted in new_qps).
 * While a peer is not UP, submit returns -ENOTCONN: its reads go to HTTP.
 *
 * Posting in batches: work requests are built in per-slot storage and chained; each connection's
 * chain goes out with one post call (one doorbell on a NIC, one system call on rxe). The export
 * side posts the receives and replies of a whole poll batch at its end; a reader posts a request
 * at once unless it is submitted with `more` (then with the next submit, poll or flush).
 *
 * Credits: the export posts one receive per credit; a reader never has more requests in flight
 * than the credits granted, and each reply returns one.
 *
 * Export bytes: from an MR of the source (one RDMA WRITE), or copied through the lcore's bounce
 * pool: a read of n bytes takes ceil(n / bounce_size) buffers at once, each piece goes out as its
 * own unsignaled RDMA WRITE at its offset of the reader's buffer, then the signaled reply SEND;
 * the buffers return to the pool when that SEND completes. A request that finds too few buffers
 * (or no reply slot) free waits in its connection's queue, in order; while one waits for buffers,
 * other connections' bounce reads wait behind it (so small reads cannot starve a large one); one
 * larger than max_read is answered TOO_LARGE. The send queue is sized so that this never overflows
 * it (conn_create).
 *
 * wr_id is a typed tag: kind (8 bits) | connection generation (8) | connection index (16) | slot
 * (32). The generation changes on every reset, so completions left in the CQ by an earlier
 * incarnation of a connection (its destroyed QP) are recognised and dropped (stale_cqes); unknown
 * kinds and indexes are counted (unknown_cqes: a bug, the first one is logged).
 *
 * Every int function returns 0 or -errno unless it says otherwise.
 *
 * Implementation: nic/conn.c (what both roles share: CQ, QPs, handshake, posting, the poller),
 * nic/conn_reader.c (the reader's requests), nic/conn_export.c (the exporter and its bounce pool);
 * nic/conn_priv.h holds the objects and helpers they share.
 */
#ifndef KELP_NIC_CONN_H
#define KELP_NIC_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config.h" /* KELP_DEFAULT_* */
#include "core/fid.h"
#include "nic/device.h"
#include "proto/rdma_msg.h"

#define KELP_RDMA_MAX_CONNS	 1024 /* per lcore */
#define KELP_RDMA_MAX_CREDITS	 256
#define KELP_RDMA_POLL_BATCH	 32
#define KELP_RDMA_BACKOFF_MIN_NS 100000000ull  /* 100 ms */
#define KELP_RDMA_BACKOFF_MAX_NS 6400000000ull /* 6.4 s */
#define KELP_RDMA_MAX_READ_DEFAULT                                                                 \
	((uint32_t)KELP_DEFAULT_EXPORT_MAX_READ_MB                                                 \
	 << 20) /* export: largest read through the bounce pool */

enum kelp_rdma_role { KELP_RDMA_READER = 1, KELP_RDMA_EXPORTER = 2 };

enum kelp_rdma_state {
	KELP_RDMA_DOWN = 0,
	KELP_RDMA_CONNECTING = 1,
	KELP_RDMA_UP = 2,
};

/* Where the export finds a needle's bytes. */
struct kelp_rdma_source {
	const uint8_t *data; /* needle data as stored */
	uint32_t size;
	uint32_t crc;  /* as stored */
	uint8_t flags; /* KELP_NEEDLE_FLAG_* */
	/* lkey of an MR covering [data, data + size), or use_bounce = true to copy first. */
	uint32_t lkey;
	bool use_bounce;
	/* what the bytes are mapped from (kelpd: the struct kelp_volume), or NULL; opaque here,
	 * only handed back to kelp_rdma_export_ops.faulted */
	const void *owner;
};

/* The export side's needle lookup, called on the owning lcore from kelp_rdma_lcore_poll(). */
struct kelp_rdma_export_ops {
	/* @return 0 with *@src filled; -ENOENT no such needle; -EHOSTUNREACH volume not here;
	 * -EIO corrupt record. */
	int (*find)(void *arg, const struct kelp_fid *fid, struct kelp_rdma_source *src);
	/* After the bytes of @src were copied into the bounce pool: nonzero when the mapping they
	 * came from lost a page under the copy (its file shrank: a SIGBUS put zeros there, see
	 * core/fault.h), so the copy may be garbage; the reply is then CORRUPT with no bytes.
	 * NULL: never asked (sources that cannot fault). */
	int (*faulted)(void *arg, const struct kelp_rdma_source *src);
	/* The one-sided reads' metadata (proto/rdma_msg.h steps 7, 8): for opcode
	 * KELP_RDMA_OP_MAP the VOLMAP bytes of volume @volume_id, for KELP_RDMA_OP_IDX its whole
	 * .idx (the request's offset and length pick the piece), in *@src as find() would (bounce,
	 * copied in this poll round). @return 0, -EHOSTUNREACH (not offered: the reader stays
	 * two-sided for that volume) or -EBUSY (MAP: being registered, ask again soon; answered
	 * BUSY). NULL: never offered. */
	int (*meta)(void *arg, uint8_t opcode, uint32_t volume_id, struct kelp_rdma_source *src);
	void *arg;
};

/* A reader's request. */
struct kelp_rdma_read {
	uint8_t opcode; /* KELP_RDMA_OP_READ or _STAT */
	struct kelp_fid fid;
	uint64_t offset; /* in the needle's data */
	uint32_t length; /* READ: bytes wanted (the buffer's size) */
	uint64_t addr;	 /* READ: buffer in an MR registered with kelp_rdma_reg_arena() */
	uint32_t rkey;
	void *user; /* handed back in kelp_rdma_done */
	bool more;  /* more submits follow at once: queue this request; it is posted with the
		     * next submit without `more`, or by the next poll or flush (one post call,
		     * one doorbell, for the whole burst) */
};

/* A finished reader request. */
struct kelp_rdma_done {
	void *user;
	struct kelp_rdma_conn *conn;
	int status;	  /* 0, -ENOENT/-EIO/... from the export, -ECONNRESET on connection failure,
			   * -EBADMSG when the reply broke the protocol */
	uint32_t written; /* bytes now in the buffer */
	uint32_t data_size; /* the needle's data size */
	uint32_t crc;	    /* stored CRC (check it when the whole needle was read) */
	uint8_t needle_flags;
};

struct kelp_rdma_conn_stats {
	uint64_t requests;    /* reader: sent; export: received */
	uint64_t rreads;      /* reader: one-sided RDMA READs posted (kelp_rdma_submit_rread) */
	uint64_t replies;     /* reader: received; export: sent */
	uint64_t bytes;	      /* RDMA-written (export) / received (reader) */
	uint64_t errors;      /* failed completions and protocol errors */
	uint64_t resets;      /* times the connection failed and was reset */
	uint64_t new_qps;     /* QPs made to replace a reset one (every reset, failed handshakes
			       * too; kelp_rdma_conn_qpn() is the current one) */
	uint64_t bounced;     /* export: replies served through the bounce pool */
	uint64_t too_large;   /* export: reads refused as larger than max_read (TOO_LARGE) */
	uint64_t inlined;     /* replies whose bytes came inline in the SEND (no RDMA WRITE) */
	uint64_t probes;      /* export: keepalives sent to an idle reader */
	uint64_t idle_resets; /* export: reset because the reader did not answer a keepalive */
};

struct kelp_rdma_lcore_config {
	int cq_entries;		     /* 0: 4096 */
	uint32_t bounce_slots;	     /* export: bounce buffers (0: 64) */
	uint32_t bounce_size;	     /* bytes each (0: 1 MiB); a larger read is copied through
				      * several buffers, one RDMA WRITE each, the reply after the last */
	uint32_t max_read;	     /* export: the largest read served through the bounce pool (0:
				      * KELP_RDMA_MAX_READ_DEFAULT; at most bounce_slots * bounce_size);
				      * a larger one is answered TOO_LARGE (the reader uses HTTP) */
	uint32_t request_timeout_ms; /* reader: no reply for this long while requests are in flight
				      * fails the connection (0:
				      * KELP_DEFAULT_RDMA_REQUEST_TIMEOUT_MS) */
	uint32_t inline_max;	/* reply data carried inline in the reply SEND instead of an RDMA
				 * WRITE, at most (bytes, <= KELP_RDMA_INLINE_LIMIT; 0: never). Reader:
				 * its receive buffers hold 32 + this; exporter: the most it sends
				 * inline (a connection uses the smaller of the two sides',
				 * proto/rdma_msg.h) */
	uint32_t idle_probe_ms; /* export: a connection with nothing in flight and no request for
				 * this long gets a keepalive (a zero-length RDMA WRITE); when
				 * its reader is gone, the failed completion resets it (0: never) */
	uint64_t (*clock_ns)(void); /* backoff and timeouts; NULL: CLOCK_MONOTONIC_COARSE (tests:
				     * theirs) */
	bool events; /* a completion channel, so that the owner can sleep until the CQ has work
		      * (kelp_rdma_lcore_arm); false: it must poll */
};

struct kelp_rdma_lcore_stats {
	uint64_t polls_busy;   /* kelp_rdma_lcore_poll() calls that found completions */
	uint64_t stale_cqes;   /* completions of an earlier incarnation of a connection (its
				* destroyed QP, flushed or late): dropped */
	uint64_t unknown_cqes; /* completions with an id that names nothing (kind 0: a zeroed
				* work request): a bug, the first one is logged */
	uint64_t retired;      /* exporter connections reset because their reader reconnected
				* or restarted (kelp_rdma_conn_establish) */
};

struct kelp_rdma_lcore;
struct kelp_rdma_conn;

/*
 * kelp_rdma_lcore_create - the owning lcore's RDMA state on @dev: one CQ, a bounce pool when
 * @export is given (may be NULL on reader-only hosts), an empty connection table.
 * @return 0 and it in *@out, or -errno (message on stderr naming the object; *@out NULL).
 */
int kelp_rdma_lcore_create(struct kelp_rdma_dev *dev, const struct kelp_rdma_lcore_config *cfg,
			   const struct kelp_rdma_export_ops *export, struct kelp_rdma_lcore **out);

/*
 * kelp_rdma_lcore_event_fd - the completion channel's fd (non-blocking; readable after an armed CQ
 * got a completion), or -1 when created without `events` or the channel could not be made.
 * kelp_rdma_lcore_arm - before the owner sleeps on that fd: take and acknowledge the events that
 * woke it, publish nothing, and arm the CQ for its next completion. A completion that arrived
 * before the arm raises no event: the owner must poll once more after this and sleep only if that
 * poll found nothing (verbs' usual arm-then-poll). Owning lcore.
 * @return 0; -ENOTSUP without a channel; -errno when arming failed (the owner must keep polling).
 */
int kelp_rdma_lcore_event_fd(const struct kelp_rdma_lcore *lc);
int kelp_rdma_lcore_arm(struct kelp_rdma_lcore *lc);

/* kelp_rdma_lcore_destroy - destroy every connection, then the pool and the CQ (reverse of
 * create). @return 0 or the first -errno a destroy call reported. */
int kelp_rdma_lcore_destroy(struct kelp_rdma_lcore *lc);

/*
 * kelp_rdma_lcore_poll - post what is queued, poll the CQ once (up to KELP_RDMA_POLL_BATCH
 * completions): serve export requests, account sends, write one entry to @done for each reader
 * request that finished; then post the batch's receives and replies.
 * @max must be >= KELP_RDMA_POLL_BATCH.
 * @return the number of @done entries (0: idle), or -EIO when the CQ itself failed.
 */
int kelp_rdma_lcore_poll(struct kelp_rdma_lcore *lc, struct kelp_rdma_done *done, int max);

/*
 * kelp_rdma_lcore_flush - post every work request queued on @lc's connections: requests submitted
 * with `more`, and (inside kelp_rdma_lcore_poll(), which calls it before and after reaping) the
 * receives and replies of a poll batch, each connection's as one chain. A connection whose post
 * fails is failed (its requests complete with -ECONNRESET). Owning lcore.
 * @return 0, or the first -errno a post returned.
 */
int kelp_rdma_lcore_flush(struct kelp_rdma_lcore *lc);

const struct kelp_rdma_lcore_stats *kelp_rdma_lcore_stats(const struct kelp_rdma_lcore *lc);

/*
 * kelp_rdma_conn_create - a connection in state DOWN with its RC QP (in INIT), message buffers
 * (one receive per credit posted) and @credits slots (1..KELP_RDMA_MAX_CREDITS; for an exporter
 * the credits it grants at most). @return 0 and it in *@out, or -errno (*@out NULL): -EINVAL bad
 * @credits or role; -ENOSPC connection table full; -ENOMEM; the -errno of a verbs call.
 */
int kelp_rdma_conn_create(struct kelp_rdma_lcore *lc, enum kelp_rdma_role role, uint16_t credits,
			  struct kelp_rdma_conn **out);

/* kelp_rdma_conn_destroy - destroy the QP, deregister and free the buffers. Requests still in
 * flight are dropped without a kelp_rdma_done: call it when none are, or at shutdown.
 * @return 0 or the first -errno of a destroy call. */
int kelp_rdma_conn_destroy(struct kelp_rdma_conn *conn);

/*
 * kelp_rdma_conn_hello - this side's half of the handshake (kind HELLO for a reader, ACK for an
 * exporter, status OK, credits = the connection's). Reader: DOWN -> CONNECTING.
 * @return 0; -EALREADY reader not in DOWN; the -errno of making a QP when the connection has
 * none (a renewal failed; it stays DOWN, the next attempt after KELP_RDMA_BACKOFF_MAX_NS).
 */
int kelp_rdma_conn_hello(struct kelp_rdma_conn *conn, struct kelp_rdma_hello *out);

/*
 * kelp_rdma_conn_establish - take the peer's half and move the QP through RTR to RTS: state UP.
 * An exporter calls it with the reader's HELLO before sending its ACK; it lowers its credits to
 * what the reader asked for, and when the HELLO names its reader (reader_id != 0) it resets the
 * lcore's other exporter connections that this one replaces: same GID and reader id, and the
 * same lane or another incarnation (proto/rdma_msg.h step 1; counted in the lcore's `retired`).
 * A reader calls it with the ACK; a non-OK status fails it. (A reader fills reader_id,
 * incarnation and lane into its HELLO after kelp_rdma_conn_hello(); 0 = anonymous.)
 * @return 0; -EPROTONOSUPPORT version mismatch; -EPROTO wrong kind or the peer refused (status);
 * -EINVAL credits; -errno from modify_qp. On failure a reader is DOWN with its backoff advanced.
 */
int kelp_rdma_conn_establish(struct kelp_rdma_conn *conn, const struct kelp_rdma_hello *peer,
			     uint64_t now_ns);

/* kelp_rdma_conn_failed - the handshake failed outside this module (TCP refused, timeout), or an
 * exporter's ACK could not be sent: back to DOWN with a new QP and the next attempt pushed out by
 * the backoff. */
void kelp_rdma_conn_failed(struct kelp_rdma_conn *conn, uint64_t now_ns);

/* kelp_rdma_conn_due - true when a reader in DOWN may try to connect again at @now_ns. */
bool kelp_rdma_conn_due(const struct kelp_rdma_conn *conn, uint64_t now_ns);

enum kelp_rdma_state kelp_rdma_conn_state(const struct kelp_rdma_conn *conn);
/* Requests in flight (reader) and credits granted. */
uint16_t kelp_rdma_conn_in_flight(const struct kelp_rdma_conn *conn);
uint16_t kelp_rdma_conn_credits(const struct kelp_rdma_conn *conn);
const struct kelp_rdma_conn_stats *kelp_rdma_conn_stats(const struct kelp_rdma_conn *conn);
/* The time (ns) of the next allowed attempt when DOWN. */
uint64_t kelp_rdma_conn_retry_at(const struct kelp_rdma_conn *conn);
/* The QP number of the connection's current QP (a new one after every reset; the logs name it),
 * or 0 while it has none (a renewal failed: the next attempt tries again). */
uint32_t kelp_rdma_conn_qpn(const struct kelp_rdma_conn *conn);

/*
 * kelp_rdma_submit - post one request on a READER connection (with @rd->more: queue it).
 * @return 0 (the result comes from kelp_rdma_lcore_poll()); -ENOTCONN not UP (use HTTP);
 * -EAGAIN no credit free (poll, then retry); -EINVAL bad opcode or a READ with no buffer;
 * -errno from post_send (this request is not sent; the connection is then failed and reset:
 * -ECONNRESET for the others, including those queued with `more`). A queued request whose post
 * fails later (at a poll or flush) completes with -ECONNRESET.
 */
int kelp_rdma_submit(struct kelp_rdma_conn *conn, const struct kelp_rdma_read *rd);

/* A reader's one-sided RDMA READ (proto/rdma_msg.h step 9): @len bytes at the export's
 * @remote_addr (@rkey of a VOLMAP) scattered over the local pieces @sge (1..KELP_RDMA_RREAD_SGE,
 * in registered memory: the local lkeys), in order. */
#define KELP_RDMA_RREAD_SGE 3
struct kelp_rdma_rread {
	uint64_t remote_addr;
	uint32_t rkey;
	struct ibv_sge sge[KELP_RDMA_RREAD_SGE];
	int nsge;
	void *user; /* handed back in kelp_rdma_done */
	bool more;  /* as kelp_rdma_read.more */
};

/*
 * kelp_rdma_submit_rread - post one RDMA READ on a READER connection. It holds a slot of its
 * own (at most `credits` READs in flight besides the two-sided requests; no credit of the export
 * is used: its CPU is not involved) until it completes: a kelp_rdma_done from
 * kelp_rdma_lcore_poll() with status 0 and written = the bytes read, or -ECONNRESET (a remote
 * access error, e.g. a deregistered rkey, fails the whole connection, as any failed completion
 * does: the others in flight complete with -ECONNRESET too). The caller checks what it read.
 * @return as kelp_rdma_submit (-EINVAL: no pieces or too many).
 */
int kelp_rdma_submit_rread(struct kelp_rdma_conn *conn, const struct kelp_rdma_rread *rr);

#endif
