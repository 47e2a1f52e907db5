/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelpd's control thread: one io_uring loop (Redis ae.c style, see control.c) that accepts clients
 * on the Unix socket, creates and frees their sessions, answers kelpctl, relays messages to and
 * from the lcores, and runs slow paths (remote reads) without ever blocking.
 *
 * Other modules plug into the loop with struct kelp_ctl_op: embed one in your own state, prepare an
 * io_uring SQE from kelp_ctl_get_sqe() with io_uring_sqe_set_data(sqe, &op), and the loop calls
 * op.done(ctl, &op, cqe->res, cqe->flags) on the control thread when it completes.
 */
#ifndef KELP_LCORE_CONTROL_H
#define KELP_LCORE_CONTROL_H

#include <liburing.h>
#include <stdint.h>

#include "lcore/uring_op.h" /* struct kelp_ctl_op */

struct kelp_control;
struct kelp_engine;

/*
 * kelp_ctl_get_sqe - a free SQE of the control ring (submits pending ones first when the ring is
 * full). Control thread only. Return: the SQE, or NULL when the kernel accepts none right now.
 */
struct io_uring_sqe *kelp_ctl_get_sqe(struct kelp_control *ctl);

/* kelp_ctl_ring - the control ring itself, for modules that queue linked SQEs (a request and its
 * IORING_OP_LINK_TIMEOUT must sit side by side). The loop submits and dispatches it; never wait on
 * it elsewhere (except in kelp_ctl_remote_fini, after the loop). Control thread only. */
struct io_uring *kelp_ctl_ring(struct kelp_control *ctl);

/* kelp_ctl_engine - the engine (configuration, volumes, lcores). Control thread only. */
struct kelp_engine *kelp_ctl_engine(struct kelp_control *ctl);

/* kelp_ctl_remote_priv / kelp_ctl_set_remote_priv - one pointer for the remote-read path's state
 * (lcore/control/remote_read.h). Control thread only. */
void *kelp_ctl_remote_priv(struct kelp_control *ctl);
void kelp_ctl_set_remote_priv(struct kelp_control *ctl, void *priv);

/* kelp_ctl_timed_waits - how often the loop slept with a timeout instead of waiting for an lcore's
 * wake-up (many HTTP reads in flight: KELP_CTL_ASLEEP_TIMED, lcore.h), for kelpctl stats
 * (http_fallback.timed_waits). Control thread only. */
uint64_t kelp_ctl_timed_waits(struct kelp_control *ctl);

/*
 * kelp_ctl_run - create the control state, listen on the engine's socket, and run the loop until
 * SIGINT/SIGTERM arrive on @sig_fd (a signalfd), then stop the lcores and free every session.
 * The lcores must be initialised (not started: this starts them). Main thread (which becomes the
 * control thread).
 * Return: 0 after a clean stop; -errno when start-up failed (printed to stderr).
 */
int kelp_ctl_run(struct kelp_engine *eng, int sig_fd);

#endif
