/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelpd's HTTP reader on the lcore: the common case of the HTTP fallback (issue 12 item 5) served
 * by the lcore that owns the request, on an io_uring of its own, without the control thread.
 *
 * Why: handing a read to the control thread and back costs two thread hops (wake-ups, context
 * switches) on top of the loopback TCP work that the control thread's HTTP client does; that
 * made kelpd's CPU per 4 KiB fallback read 2.4-3x a plain HTTP client's. Here the lcore starts
 * the GET on its own ring (lcore/cluster/http_client.h: keep-alive pool per volume server, the
 * call's timeout, body straight into the client's buffer) and polls the ring's CQ every round like
 * the TCP reader's (lcore/tcp/tcp_reader.h); a parked lcore is woken by the ring's eventfd.
 * Connecting is an io_uring connect as well (numeric addresses only, as the masters give them):
 * nothing here blocks, and a hung volume server only holds its own calls until their timeout.
 *
 * What it takes (kelp_http_reader_route), everything else goes to the control thread's HTTP
 * fallback (lcore/control/remote_read.h) exactly as before:
 *   - READ or STAT of a volume whose locations discovery has published (engine->locations);
 *     a volume not located yet goes to control, whose lookup publishes it for the next reads;
 *   - not a re-read of a bad local copy (those need the CRC check and replicas);
 *   - with hedged reads on ([seaweedfs] hedge_percent), only volumes with one location (hedging
 *     to another replica is the control thread's);
 *   - to the first location whose volume server has not failed here recently.
 * Outcome: an answer that decides the read (data, 404, 416, 401/403, 400) completes it here with
 * the flags and results the control path gives (kelp_http_read_result). A failure of the server
 * (refused, reset, timed out, 5xx, malformed answer) sends the read on to the control thread once
 * (kelp_lcore_remote_to_http) with that server named in it: control reports the failure to its
 * replica health, tries the other locations and, when none is left, fails the read with the error
 * this one gave (so each location is still asked once per read). A server that failed with a
 * transport error is bypassed here (reads go to control) for a backoff of 1 s doubling to 30 s.
 *
 * Ownership: created by the main thread before the lcores start, owned by its lcore afterwards,
 * destroyed by the main thread after the lcore was joined (and after the control loop ended).
 * kelp_http_reader_stats may be called by any thread.
 */
#ifndef KELP_LCORE_HTTP_READER_H
#define KELP_LCORE_HTTP_READER_H

#include <stdint.h>

#define KELP_HTTP_READER_SLOTS	 256u /* reads in flight per lcore; more go to control */
#define KELP_HTTP_READER_SERVERS 64u  /* volume servers per lcore; more go to control */
/* Connections per volume server and lcore, and reads pipelined on each (HTTP/1.1) once all of them
 * are busy: see README "HTTP path" (Cost) for why few connections with several requests each. */
#define KELP_HTTP_READER_CONNS	  8u
#define KELP_HTTP_READER_PIPELINE 8u

struct kelp_lcore;
struct kelp_remote_read;
struct kelp_http_reader;

/* Counters of one lcore's HTTP reader (relaxed copies), summed into kelpctl stats' http_fallback */
struct kelp_http_reader_stats {
	uint64_t reads;	     /* taken by the lcore */
	uint64_t to_control; /* failed here, sent on to the control thread */
	uint64_t bypassed;   /* not taken: their server failed here recently */
	uint64_t inflight;   /* reads on the lcore now */
	uint64_t calls, errors, timeouts, conns_opened, conns_reused, stale_retries, pipelined;
	uint64_t body_bytes_direct, body_bytes_copied;
	uint64_t cut_bodies; /* reads from offset 0 whose needle was cut off past the buffer */
};

/*
 * kelp_http_reader_create - the HTTP reader of lcore @lc: its io_uring, eventfd (watched by the
 * lcore), HTTP client and poller. [seaweedfs] http_timeout_ms, hedge_percent and jwt_read_key come
 * from the engine's configuration. Main thread, before the lcores start.
 * Return: 0 and *@out; -ENOSPC no poller slot; -ENOMEM; the -errno of io_uring_queue_init/eventfd.
 */
int kelp_http_reader_create(struct kelp_lcore *lc, struct kelp_http_reader **out);

/*
 * kelp_http_reader_route - serve @r over HTTP from this lcore (see above). Owning lcore.
 * Return: 0 started (completes later, here or through control); -ENOTCONN not taken (not located,
 * replicas with hedging, its servers failed recently), -EAGAIN no slot: the caller hands @r to
 * the control thread.
 */
int kelp_http_reader_route(struct kelp_http_reader *rd, struct kelp_remote_read *r);

/* kelp_http_reader_stats - @rd's counters into @s (added to what @s holds). Any thread. */
void kelp_http_reader_stats(const struct kelp_http_reader *rd, struct kelp_http_reader_stats *s);

/*
 * kelp_http_reader_stop - kelpd stops: cut every call and wait (bounded: the cuts are queued, every
 * call has a deadline) until the ring gave them back; their reads complete with -ECANCELED, as
 * the control thread's fallback ends its own; later reads go to control. Owning lcore, at its
 * KELP_MSG_STOP.
 */
void kelp_http_reader_stop(struct kelp_http_reader *rd);

/* kelp_http_reader_destroy - cut the connections, wait for the ring to give back what is in flight
 * (those reads are dropped: their lcore is gone), free. Main thread after the lcore was joined.
 * NULL is fine. */
void kelp_http_reader_destroy(struct kelp_http_reader *rd);

#endif
