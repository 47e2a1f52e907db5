/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP fallback: a READ or STAT of a needle that is not local, served by a SeaweedFS volume
 * server over HTTP (DESIGN.md, path 3).
 *
 * 1. discovery (lcore/cluster/discovery.h) gives the volume's locations, same data center first;
 * 2. `GET /<fid>` with `Range: bytes=<offset>-<offset+length-1>` (STAT: `HEAD /<fid>`) to the first
 *    location; its body is received straight into the request's destination;
 * 3. connection errors, timeouts, malformed responses and 5xx move on to the next location; when
 *    all failed, the volume's cached locations are invalidated and the read fails with the last
 *    error: -EHOSTUNREACH (nothing reachable), -EIO (5xx), -EBADMSG (malformed HTTP);
 * 4. 404 -> -ENOENT, 401/403 -> -EPERM (read token missing or refused), 400 -> -EINVAL, 416 -> 0
 *    bytes at the end of the needle or -ERANGE past it. -ENOENT is only ever a volume server's
 *    404 (or a master's for a volume never located): a master that forgot a volume (its server is
 *    down, the master restarted) leaves the last known locations in use (discovery.h).
 * Replica health (lcore/cluster/replica_health.h): every answer and failure is reported per volume
 * server; a server that refused, timed out or lost a hedge is tried last until a probe finds it
 * back, so a dead or hung replica costs one read per backoff, not every read. State changes are
 * logged (core/log.h), never single reads. Hedging (opts.hedge_ms > 0): a read with no answer after
 * hedge_ms goes to the next location as well (once per read); the first answer wins, the other call
 * is cancelled, and the read completes only after both have settled. The hedge receives into a
 * buffer of its own, copied into dst when it wins, so a cancelled loser can never write into dst
 * after the completion. The hedge timer is a small object of its own: a read that ends before it
 * fires detaches it (and asks the ring to remove it) instead of waiting for its completion, so
 * hedging adds no wait to a read. verify_crc: a whole-needle READ whose bytes do not match the
 * volume server's ETag CRC counts as a failed replica (-EIO) and the next one is tried (reads kelpd
 * found corrupt locally).
 * (-EPROTO is not used: to libkelp it means a broken session.)
 * gzip: by default the needle is asked for as stored (`Accept-Encoding: gzip`), and a gzip-stored
 * one comes back compressed with KELP_CQE_F_GZIP, exactly as the local path returns it (ranges
 * then apply to the compressed bytes, like the volume server does). With `decompressed` the
 * volume server inflates it and ranges apply to the inflated bytes.
 * JWT: with a read key, every request carries `Authorization: Bearer` with an HS256 token for the
 * fid, valid for KELP_HTTP_FALLBACK_JWT_TTL_S seconds.
 *
 * Ownership: the ring's thread (kelpd's control thread) only. The request and its dst belong to the
 * caller until done() runs.
 */
#ifndef KELP_LCORE_HTTP_FALLBACK_H
#define KELP_LCORE_HTTP_FALLBACK_H

#include <stdbool.h>
#include <stdint.h>

#include "core/fid.h"
#include "lcore/cluster/discovery.h"
#include "lcore/cluster/http_client.h"
#include "lcore/cluster/replica_health.h"
#include "proto/jwt.h"

#define KELP_HTTP_FALLBACK_JWT_TTL_S 30

struct kelp_http_fallback;
struct hedge_timer;

struct kelp_http_fallback_opts {
	const char *jwt_read_key; /* NULL or "": no token */
	uint32_t hedge_ms;	  /* ask the next replica too after this long; 0 = never */
};

/* Retry delay of a replica that failed (replica_health.h): from 1 s, doubling up to 30 s. */
#define KELP_HTTP_FALLBACK_RETRY_MIN_NS (1000ull * 1000000u)
#define KELP_HTTP_FALLBACK_RETRY_MAX_NS (30000ull * 1000000u)

struct kelp_http_read {
	/* in */
	bool stat;	   /* HEAD: size, crc, flags only */
	bool decompressed; /* ask for gzip-stored needles inflated */
	bool verify_crc;   /* check whole needles against the ETag CRC (see above) */
	/* a location asked already (by the lcore's HTTP reader, lcore/tcp/http_reader.h): not asked
	 * again; "" none. skip_err: the read's error from it (the result when no other location
	 * answers); skip_down: its transport error when that says the server is down (reported to
	 * the replica health), 0 otherwise */
	char skip[KELP_LOOKUP_URL_MAX];
	int skip_err, skip_down;
	struct kelp_fid fid;
	uint64_t offset;			/* READ: in the needle data */
	uint32_t length;			/* READ: bytes wanted, >= 1 */
	uint8_t *dst;				/* READ: @length bytes */
	void (*done)(struct kelp_http_read *r); /* once, never inside kelp_http_fallback_read() */
	void *arg;

	/* out (valid in done) */
	int32_t result;	    /* READ: bytes in dst; STAT: 0; or -errno */
	uint32_t cqe_flags; /* KELP_CQE_PATH_HTTP | KELP_CQE_F_GZIP | KELP_CQE_F_TRUNCATED */
	uint64_t size;	    /* the needle's data size (as stored, or inflated with decompressed) */
	uint32_t crc;	    /* from the ETag (the stored CRC), 0 when absent */
	uint32_t needle_flags;		  /* 0x01 when the data came gzip-compressed */
	char server[KELP_LOOKUP_URL_MAX]; /* the volume server that answered last */

	/* private */
	struct kelp_http_fallback *fb;
	struct kelp_locate_wait wait;
	struct kelp_http_call call[2]; /* [0] into dst, [1] the hedge, into hbuf */
	uint8_t *hbuf;
	bool busy[2];
	bool hedged;		   /* call[1] was started by the hedge timer */
	bool decided;		   /* result final; waiting for the rest to settle */
	int winner;		   /* the call whose answer is the result, -1: none */
	unsigned pending;	   /* calls in flight */
	struct hedge_timer *timer; /* armed, not fired yet; NULL: none */
	struct kelp_vol_locations locs;
	unsigned next_loc;
	int last_err;
	bool in_start, sync_done;
	char token[KELP_JWT_MAX];
};

/*
 * kelp_http_fallback_create - the fallback over @http and @d (neither owned).
 * @return 0 and it in *@out, or -ENOMEM (*@out NULL).
 */
int kelp_http_fallback_create(struct kelp_http_client *http, struct kelp_discovery *d,
			      const struct kelp_http_fallback_opts *opts,
			      struct kelp_http_fallback **out);
void kelp_http_fallback_destroy(struct kelp_http_fallback *fb);

/*
 * kelp_http_fallback_set_hedge - reads started from now on hedge after @hedge_ms (0: never).
 * Ring thread only (SIGHUP: [seaweedfs] hedge_percent, http_timeout_ms).
 */
void kelp_http_fallback_set_hedge(struct kelp_http_fallback *fb, uint32_t hedge_ms);

/* @return the replica health table (for kelpctl replicas). Ring thread only. */
const struct kelp_replica_health *kelp_http_fallback_health(const struct kelp_http_fallback *fb);

/* Counters for kelpctl stats. */
struct kelp_http_fallback_stats {
	uint64_t hedges, hedge_wins, crc_mismatches;
};
void kelp_http_fallback_get_stats(const struct kelp_http_fallback *fb,
				  struct kelp_http_fallback_stats *s);

/* @return whether @op (from a CQE of the ring) is a fallback read's hedge timer. Any thread. */
bool kelp_http_fallback_owns_op(const struct kelp_ctl_op *op);

/* @return hedge timers still in the ring (a read that finished leaves its timer behind, removed;
 * keep dispatching until 0 before destroy). Ring thread only. */
unsigned kelp_http_fallback_busy(const struct kelp_http_fallback *fb);

/*
 * kelp_http_fallback_read - serve @r (see the top of this file).
 * @return 0: started, r->done will be called; -errno: finished at once with that result (done is
 * not called): -EINVAL bad request, -EHOSTUNREACH no location reachable, -ENOMEM, -ECANCELED.
 */
int kelp_http_fallback_read(struct kelp_http_fallback *fb, struct kelp_http_read *r);

/*
 * kelp_http_call_error - the read's error for a call that failed with transport error @err
 * (kelp_http_call.done): -EBADMSG malformed answer (-EPROTO, -EMSGSIZE), -ECANCELED shut down,
 * -EHOSTUNREACH otherwise; *@down tells whether @err says the server is down (refused, reset,
 * timed out, unreachable). Pure.
 */
int kelp_http_call_error(int err, bool *down);

/*
 * kelp_http_read_result - interpret a volume server's answer to @r's request (pure; exposed for
 * unit tests). Fills r->result, size, crc, needle_flags, cqe_flags.
 * @return true when the next location should be tried (5xx, malformed), false when r->result is
 * final.
 */
bool kelp_http_read_result(struct kelp_http_read *r, const struct kelp_http_response *resp,
			   size_t body_len);

/*
 * kelp_http_read_crc_ok - with r->verify_crc, after kelp_http_read_result(): do the r->result
 * bytes at @buf match the server's CRC (r->crc, raw or SeaweedFS's legacy transform)? Only whole
 * needles (offset 0, not truncated, crc known) are checked; others pass. A match sets
 * KELP_CQE_F_CRC_CHECKED. Pure; exposed for unit tests.
 */
bool kelp_http_read_crc_ok(struct kelp_http_read *r, const uint8_t *buf);

#endif
