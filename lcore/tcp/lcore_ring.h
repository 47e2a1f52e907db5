/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An io_uring that a poller of an lcore owns and that wakes the lcore when it parks.
 *
 * The TCP reader, the TCP export and the HTTP reader each own a ring the lcore reaps in its
 * poll round. A parked lcore sleeps in epoll_wait on its doorbells, so each ring registers an
 * eventfd (the kernel writes it on every completion) in that epoll set: a reply that lands while
 * the lcore sleeps wakes it. These two calls are that setup and its undo, in one place. (The HTTP
 * reader's ring runs in the deferred mode below and turns its eventfd off while the lcore is
 * awake: lcore/tcp/http_reader.c reader_park.)
 */
#ifndef KELP_LCORE_TCP_LCORE_RING_H
#define KELP_LCORE_TCP_LCORE_RING_H

#include <liburing.h>

struct kelp_lcore;

/*
 * kelp_lcore_ring_open - create @ring with @entries SQ entries and an eventfd (*@efd) registered
 * on it and watched by @lc's park. On failure nothing is left open (*@efd = -1; @ring not
 * initialised). Control thread, before the owning poller runs.
 * Return: 0; the -errno of io_uring_queue_init, eventfd, io_uring_register_eventfd or epoll_ctl.
 */
int kelp_lcore_ring_open(struct kelp_lcore *lc, unsigned entries, struct io_uring *ring, int *efd);

/*
 * Setup flags of a ring that only its lcore submits to and reaps (the HTTP reader's): the kernel
 * queues the ring's task work (a socket turned readable under an armed receive, a send's
 * completion, a timeout) on a list the lcore runs in its next io_uring_enter(GETEVENTS), instead
 * of interrupting the lcore for each (an IPI while it polls; while it sleeps in epoll_wait a wake
 * with EINTR, the task work, then the eventfd: two epoll_wait calls per wake). The first work
 * queued on an empty list sets IORING_SQ_TASKRUN in the SQ ring (liburing's io_uring_peek_cqe
 * then enters the kernel to run it) and writes the ring's eventfd, which wakes a parked lcore.
 * R_DISABLED: SINGLE_ISSUER binds the ring to the thread that enables it, so the control thread
 * creates it disabled and the lcore enables it (kelp_lcore_ring_start) before its first submit.
 */
#define KELP_LCORE_RING_DEFERRED                                                                   \
	(IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG |     \
	 IORING_SETUP_R_DISABLED)

/*
 * kelp_lcore_ring_open_flags - kelp_lcore_ring_open with io_uring setup @flags (0 or
 * KELP_LCORE_RING_DEFERRED). Control thread, before the owning poller runs.
 * Return: as kelp_lcore_ring_open; -EINVAL: the kernel does not know a flag (before 6.1).
 */
int kelp_lcore_ring_open_flags(struct kelp_lcore *lc, unsigned entries, unsigned flags,
			       struct io_uring *ring, int *efd);

/*
 * kelp_lcore_ring_start - enable a ring opened with IORING_SETUP_R_DISABLED; from then on only
 * the calling thread may submit to it or wait on it (others get -EEXIST). Nothing to do for other
 * rings. The owning lcore, once, before it submits.
 * Return: 0; the -errno of IORING_REGISTER_ENABLE_RINGS.
 */
int kelp_lcore_ring_start(struct io_uring *ring);

/*
 * kelp_lcore_ring_close - undo kelp_lcore_ring_open: unwatch and close @efd, exit @ring. @efd < 0
 * means the open failed or never happened: nothing to do. Control thread, after the poller stopped.
 */
void kelp_lcore_ring_close(struct kelp_lcore *lc, struct io_uring *ring, int efd);

#endif
