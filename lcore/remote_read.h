/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reads that the local volume store cannot serve (the volume is not in [export] dirs), handed from
 * the owning lcore to the control thread, which serves them by another path (HTTP fallback of issue
 * 4; RDMA requests are posted by the lcore itself, issue 5) and hands them back.
 *
 * The life of one request:
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
#ifndef KELP_LCORE_REMOTE_READ_H
#define KELP_LCORE_REMOTE_READ_H

#include <stdbool.h>
#include <stdint.h>

#include "core/fid.h"

struct kelp_control;
struct lcore_session;

struct kelp_remote_read {
	/* inputs (lcore) */
	uint8_t opcode;         /* KELP_OP_READ or KELP_OP_STAT (kelp_abi.h) */
	struct kelp_fid fid;
	uint64_t offset;        /* READ: offset in the needle data */
	uint32_t length;        /* READ: bytes wanted (<= the buffer) */
	uint8_t *dst;           /* READ: where the bytes go (inside the client's arena) */
	bool rdma_only;         /* KELP_SQE_F_RDMA_ONLY: fail instead of going over HTTP */
	bool local_failed;      /* the local copy failed (-EIO: CRC, bad record, faulted .dat):
				 * read a replica over HTTP, whole needles checked against its CRC;
				 * -EIO when none serves it */
	/* outputs (the path, before kelp_ctl_remote_done) */
	int32_t result;         /* bytes written / 0, or -errno */
	uint32_t cqe_flags;     /* KELP_CQE_PATH_* | KELP_CQE_F_* (kelp.h) */
	uint64_t size;          /* needle data size as stored */
	uint32_t crc;           /* stored CRC */
	uint32_t needle_flags;  /* SeaweedFS flags byte */
	/* routing (lcore private: do not touch) */
	struct lcore_session *session;
	uint64_t user_data;
	uint32_t lcore_id;
	struct kelp_remote_read *next; /* pool free list / per-session CQ-overflow list */
	/* for the path's own use while it owns the request */
	void *path_priv;
};

/*
 * kelp_ctl_remote_read - start serving @req (a READ or STAT whose volume is not local) by a
 * non-local path. Control thread only. Must not block: long work goes through the control
 * thread's io_uring (lcore/control.h) and ends with kelp_ctl_remote_done().
 * Return: 0 when started; -errno when it completed at once with that result (no
 * kelp_ctl_remote_done() call then): -EHOSTUNREACH when no path is configured.
 */
int kelp_ctl_remote_read(struct kelp_control *ctl, struct kelp_remote_read *req);

/*
 * kelp_ctl_remote_done - hand a started request back to its lcore with the outputs filled.
 * Control thread only; once per request that kelp_ctl_remote_read() accepted.
 */
void kelp_ctl_remote_done(struct kelp_control *ctl, struct kelp_remote_read *req);

/*
 * kelp_ctl_remote_init / kelp_ctl_remote_fini - set up the non-local paths when the control loop
 * starts (keep state with kelp_ctl_set_remote_priv) and tear them down when it stops: requests
 * still owned by the path at fini are completed with kelp_ctl_remote_done(-ECANCELED) before
 * returning. Control thread only.
 * Return (init): 0, or -errno to refuse to start kelpd (printed by the caller).
 */
int kelp_ctl_remote_init(struct kelp_control *ctl);
void kelp_ctl_remote_fini(struct kelp_control *ctl);

/*
 * kelp_ctl_remote_stats - counters of the non-local path for `kelpctl stats` (a new JSON object,
 * the caller owns the reference), or NULL when no path is configured. Control thread only.
 */
struct json_t;
struct json_t *kelp_ctl_remote_stats(struct kelp_control *ctl);

/*
 * kelp_ctl_remote_replicas - the health of every volume server read over HTTP (lcore/
 * replica_health.h) for `kelpctl replicas`: {"hedge_ms", "replicas":[{"addr","state":"up|down",
 * "since_s","retry_in_ms","last_error","answers","failures","probes","hedges_lost"}]} (a new
 * JSON object), or NULL when no path is configured. Control thread only.
 */
struct json_t *kelp_ctl_remote_replicas(struct kelp_control *ctl);

#endif
