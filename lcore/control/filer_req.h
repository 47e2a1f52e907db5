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

#endif
