/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An io_uring that a poller of an lcore owns and that wakes the lcore when it parks.
 *
 * The TCP reader, the TCP export and the HTTP reader each own a ring the lcore reaps in its
 * poll round. A parked lcore sleeps in epoll_wait on its doorbells, so each ring registers an
 * eventfd (the kernel writes it on every completion) in that epoll set: a reply that lands while
 * the lcore sleeps wakes it. These two calls are that setup and its undo, in one place.
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
 * kelp_lcore_ring_close - undo kelp_lcore_ring_open: unwatch and close @efd, exit @ring. @efd < 0
 * means the open failed or never happened: nothing to do. Control thread, after the poller stopped.
 */
void kelp_lcore_ring_close(struct kelp_lcore *lc, struct io_uring *ring, int efd);

#endif
