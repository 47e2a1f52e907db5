/* SPDX-License-Identifier: Apache-2.0 */
/*
 * struct kelp_remote_read: a read that the local volume store cannot serve (the volume is not in
 * [export] dirs, or its local copy is bad), taken by the owning lcore from its pool and handed to
 * another path: the RDMA reader, which posts it on this same lcore (lcore/rdma/rdma_reader.h), or
 * the control thread, which serves it over HTTP (lcore/control/remote_read.h) and hands it back.
 *
 * The life of one request on the control-thread path:
 * Path requests (KELP_OP_PATH_*) travel the same way, to the filer client
 * (lcore/control/filer_req.h).
 *   1. lcore: takes a struct kelp_remote_read from its pool, fills the inputs, sends it to the
 *      control thread (KELP_MSG_REMOTE_READ). From here the control thread owns it.
 *   2. control thread: kelp_ctl_remote_read(). Either it returns -errno (request done with that
 *      error, the caller completes it), or 0: the path owns the request until it calls
 *      kelp_ctl_remote_done() from the control thread, exactly once, with the outputs filled.
 *   3. kelp_ctl_remote_done() sends it back (KELP_MSG_REMOTE_DONE); the lcore writes the CQE and
 *      puts the request back in its pool.
 * The destination buffer lies in the client's arena; kelpd keeps the segment mapped until the
 * request is back on its lcore, even when the client has gone away meanwhile (its result is then
 * dropped), so the path may always write to @dst.
 */
#ifndef KELP_LCORE_WORKER_REMOTE_REQ_H
#define KELP_LCORE_WORKER_REMOTE_REQ_H

#include <stdbool.h>
#include <stdint.h>

#include "core/fid.h"

struct lcore_session;

struct kelp_remote_read {
	/* inputs (lcore) */
	uint8_t opcode; /* KELP_OP_READ or KELP_OP_STAT (kelp_abi.h) */
	struct kelp_fid fid;
	uint64_t offset; /* READ: offset in the needle data */
	uint32_t length; /* READ: bytes wanted (<= the buffer) */
	uint8_t *dst;	 /* READ: where the bytes go (inside the client's arena) */
	bool rdma_only;	 /* KELP_SQE_F_RDMA_ONLY: fail instead of going over HTTP */
	bool tcp_only;	 /* KELP_SQE_F_TCP_ONLY: TCP or fail */
	bool tcp_tried;	 /* (lcore) it went over TCP once: a failure there goes on to HTTP */
	bool http_tried; /* (lcore) the lcore's HTTP reader took it once (lcore/tcp/
			  * http_reader.h): a failure there goes on to the control thread */
	/* the volume server the lcore's HTTP reader failed on (NULL: none; the string lives as long
	 * as kelpd), the read's error from it (as the HTTP fallback maps it) and the transport
	 * error when it says the server is down (0 otherwise): control skips that location */
	const char *http_skip;
	int32_t http_skip_err, http_skip_down;
	bool local_failed; /* the local copy failed (-EIO: CRC, bad record, faulted .dat):
			    * read a replica over HTTP, whole needles checked against its CRC;
			    * -EIO when none serves it */
	/* path opcodes (KELP_OP_PATH_*, served by lcore/control/filer_req.c): the path's bytes and
	 * LIST's "after" name right behind them, in the client's arena (not trusted: the control
	 * thread copies them before it looks at them); offset, length and dst as for a READ */
	const uint8_t *path;
	uint32_t path_len, after_len;
	/* outputs (the path, before kelp_ctl_remote_done) */
	int32_t result;	       /* bytes written / 0, or -errno */
	uint32_t cqe_flags;    /* KELP_CQE_PATH_* | KELP_CQE_F_* (kelp.h) */
	uint64_t size;	       /* needle data size as stored */
	uint32_t crc;	       /* stored CRC */
	uint32_t needle_flags; /* SeaweedFS flags byte */
	/* routing (lcore private: do not touch) */
	struct lcore_session *session;
	uint64_t user_data;
	uint32_t lcore_id;
	uint64_t start_ns; /* when the lcore took the SQE: its latency per path (lcore.h) */
	struct kelp_remote_read *next; /* pool free list / per-session CQ-overflow list */
	/* for the path's own use while it owns the request */
	void *path_priv;
	/* a read the control thread issued itself (a chunk of a path read, lcore/control/
	 * filer_req.c): called instead of handing it to an lcore; the fields above lcore_id are
	 * then unused */
	void (*ctl_done)(struct kelp_remote_read *req);
};

#endif
