/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The control thread's side of non-local reads (the request and its life: lcore/worker/
 * remote_req.h): serving them over HTTP and handing them back to their lcore.
 */
#ifndef KELP_LCORE_REMOTE_READ_H
#define KELP_LCORE_REMOTE_READ_H

#include <stdbool.h>
#include <stdint.h>

#include "lcore/worker/remote_req.h"

struct kelp_control;
struct kelp_engine;
struct kelp_fid;
struct kelp_cqe;

/*
 * kelp_ctl_read_local - a READ of bytes [@offset, @offset + @len) of @fid's data into @dst, served
 * by the calling thread from this host's volume file as an lcore would (kelp_serve_local: CRC
 * checked, SIGBUS-guarded mapping), for control-thread work that needs the bytes itself (the HTTP
 * endpoint, path reads). Control thread only (the thread that refreshes the volume set).
 * Return: 1 served, *@c filled (its result may be an error); 0 not served here: the volume is not
 * local or [seaweedfs] force_http is set; -EIO the local copy is corrupt and masters are set, so a
 * replica may have it intact (send the read on with kelp_ctl_remote_read(), local_failed set).
 */
int kelp_ctl_read_local(const struct kelp_engine *eng, const struct kelp_fid *fid, uint64_t offset,
			uint32_t len, uint8_t *dst, struct kelp_cqe *c);

/*
 * kelp_ctl_remote_read - start serving @req (a READ or STAT whose volume is not local) by a
 * non-local path. Control thread only. Must not block: long work goes through the control
 * thread's io_uring (lcore/control/control.h) and ends with kelp_ctl_remote_done().
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
 * kelp_ctl_remote_inflight - how many requests the non-local path owns right now (accepted by
 * kelp_ctl_remote_read(), not yet handed back): while there are any, the control loop sleeps with
 * a bounded timeout and lcores need not wake it for new ones (control.c). Control thread only.
 */
unsigned kelp_ctl_remote_inflight(struct kelp_control *ctl);

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
 * kelp_ctl_remote_reconfigure - hand the engine's current [seaweedfs] lookup_ttl_s,
 * http_timeout_ms and hedge_percent to the HTTP path (after a SIGHUP); lookups, calls and reads
 * started from then on use them. Control thread only.
 */
void kelp_ctl_remote_reconfigure(struct kelp_control *ctl);

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
