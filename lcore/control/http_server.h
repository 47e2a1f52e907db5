/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelpd's HTTP read endpoint ([http] listen): GET/HEAD /<fid> as a volume server answers them,
 * /healthz, /status (kelpctl --json status), /metrics (Prometheus text). It runs on the control
 * thread's io_uring loop; needles of local volumes are copied from the mapped volume by that
 * thread, others go through one internal session of kelpd's own, served by an lcore like any
 * client's (RDMA, TCP or HTTP path). Control thread only.
 */
#ifndef KELP_LCORE_CONTROL_HTTP_SERVER_H
#define KELP_LCORE_CONTROL_HTTP_SERVER_H

struct kelp_control;

/*
 * kelp_http_server_init - when [http] listen is set: listen there, create the internal session
 * and hand it to an lcore, and arm the first accept. After the lcores started.
 * Return: 0 (also when the endpoint is off); -errno (printed) when it cannot listen.
 */
int kelp_http_server_init(struct kelp_control *ctl);

/*
 * kelp_http_server_fini - close every connection and the listening socket and unmap the internal
 * session's client side (its lcore side is freed with the other sessions). After the ring is gone.
 */
void kelp_http_server_fini(struct kelp_control *ctl);

/*
 * kelp_http_server_reconfigure - apply the engine's current [http] allow (after a SIGHUP) to the
 * connections accepted from then on; open ones stay. Nothing when the endpoint is off. Control
 * thread only.
 */
void kelp_http_server_reconfigure(struct kelp_control *ctl);

/* kelp_http_server_after_batch - free connections closed during the batch. */
void kelp_http_server_after_batch(struct kelp_control *ctl);

#endif
