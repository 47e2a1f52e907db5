/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Path requests (KELP_OP_PATH_*, shm/ABI.md 3) on the control thread: they arrive from the lcores
 * like non-local reads (lcore/worker/remote_req.h), are answered from the filer's metadata
 * (lcore/cluster/filer.h) and, for PATH_READ, from the file's chunks read through kelp's usual
 * paths, and go back with kelp_ctl_remote_done().
 */
#ifndef KELP_LCORE_CONTROL_FILER_REQ_H
#define KELP_LCORE_CONTROL_FILER_REQ_H

#include "lcore/worker/remote_req.h"

struct kelp_control;
struct json_t;

/*
 * kelp_ctl_filer_request - start serving path request @req. Control thread only; never blocks.
 * Return: 0 when started (kelp_ctl_remote_done() follows once); -errno when it completed at once
 * with that result: -ENOTCONN no [filer] address configured, -EINVAL a bad path, ...
 */
int kelp_ctl_filer_request(struct kelp_control *ctl, struct kelp_remote_read *req);

/*
 * kelp_ctl_filer_init / _fini - set up the filer client ([filer] address; nothing when empty)
 * when the control loop starts; at stop (after kelp_ctl_remote_fini) fail what waits with
 * -ECANCELED and free. Control thread only. Return (init): 0; -errno refuses to start kelpd.
 */
int kelp_ctl_filer_init(struct kelp_control *ctl);
void kelp_ctl_filer_fini(struct kelp_control *ctl);

/* kelp_ctl_filer_stats - counters for `kelpctl stats` ("filer"): a new JSON object, or NULL when
 * no filer is configured. Control thread only. */
struct json_t *kelp_ctl_filer_stats(struct kelp_control *ctl);

#endif
