/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An io_uring that a poller of an lcore owns and that wakes the lcore when it parks.
 *
 * The TCP reader, the TCP export and the HTTP reader each own a ring the lcore reaps in its
 * poll round. A parked lcore sleeps in epoll_wait on its doorbells, so each ring registers an
 * eventfd in that epoll set: a reply that lands while the lcore sleeps wakes it. This is that
 * setup, the owner's start of a poll, and the undo, in one place, for all three rings.
 *
 * A deferred ring (kelp_lcore_ring_open with deferred: only the lcore's thread submits to it and
 * reaps it) costs the lcore less per batch (measured: BENCHMARKS.md, issue 12 items 4 and 5):
 *  - IORING_SETUP_DEFER_TASKRUN (with SINGLE_ISSUER and TASKRUN_FLAG): the kernel queues the
 *    ring's task work (a socket turned readable under an armed receive, a send's completion, a
 *    timeout) on a list the owner runs in its next io_uring_enter(GETEVENTS), instead of
 *    interrupting the lcore for each (an IPI while it polls; while it sleeps in epoll_wait a wake
 *    with EINTR, the task work, then the eventfd: two epoll_wait calls per wake). The first work
 *    queued on an empty list sets IORING_SQ_TASKRUN in the SQ ring (kelp_lcore_ring_pending) and
 *    writes the eventfd; work queued behind it does neither.
 *  - The eventfd is written only while the lcore parks: kelp_lcore_ring_awake turns it off
 *    (IORING_CQ_EVENTFD_DISABLED) at the start of each poll, the ring's park hook turns it on
 *    again and then looks for work that came while it was off. Otherwise the completion of the
 *    lcore's own send (inline, in its io_uring_enter) readies the eventfd and the next park
 *    returns at once. The hook is a Dekker pair with the kernel's io_req_local_work_add: it sets
 *    IORING_SQ_TASKRUN with a locked RMW (a full barrier on x86) before it reads the disabled
 *    flag; the hook clears the flag, fences, then reads IORING_SQ_TASKRUN. Either the hook sees
 *    the work and the lcore does not sleep, or the kernel sees the eventfd on and wakes it.
 *  - The lcore never sleeps while IORING_SQ_TASKRUN is set (the hook says busy), so no work can
 *    wait behind un-run work that no longer signals: a poller of a deferred ring must run the
 *    pending work (kelp_lcore_ring_run, or an io_uring_enter with GETEVENTS) in every poll in
 *    which kelp_lcore_ring_pending is true, and reap every CQE it finds, or the lcore spins.
 *  - SINGLE_ISSUER binds the ring to the thread that enables it: the control thread creates it
 *    disabled (R_DISABLED), the lcore enables it in its first kelp_lcore_ring_awake.
 * On a kernel without DEFER_TASKRUN (before 6.1) a deferred ring is an ordinary one; with no
 * park-hook slot left on the lcore its eventfd simply stays on.
 */
#ifndef KELP_LCORE_TCP_LCORE_RING_H
#define KELP_LCORE_TCP_LCORE_RING_H

#include <liburing.h>
#include <stdbool.h>

struct kelp_lcore;

/* A ring's eventfd and the owning lcore's state of it. The owner keeps its struct io_uring. */
struct kelp_lcore_ring {
	struct kelp_lcore *lc;
	struct io_uring *ring;
	int efd; /* in lc's epoll set; -1: not open. A thread may write it to wake the lcore */
	bool deferred; /* DEFER_TASKRUN: task work waits for the owner's io_uring_enter */
	bool started;  /* the owner enabled the ring (deferred rings are created disabled) */
	bool hooked;   /* the ring's park hook is lc's: the eventfd is off while lc is awake */
	bool quiet;    /* the eventfd is off (hooked; from the owner's poll to the next park) */
};

/*
 * kelp_lcore_ring_open - create @ring with @entries SQ entries and an eventfd watched by @lc's
 * park, into @lr. @deferred: a ring only @lc's thread submits to and reaps (see the top); the
 * ordinary ring when the kernel cannot. @lr and @ring must stay where they are until
 * kelp_lcore_ring_close (the park hook holds @lr). On failure nothing is left open (lr->efd
 * = -1, @ring not initialised). Control thread, before the lcore starts.
 * Return: 0; the -errno of io_uring_queue_init, eventfd, io_uring_register_eventfd or epoll_ctl.
 */
int kelp_lcore_ring_open(struct kelp_lcore *lc, unsigned entries, bool deferred,
			 struct io_uring *ring, struct kelp_lcore_ring *lr);

/*
 * kelp_lcore_ring_awake - the owner's start of a poll that may submit or reap: enables the ring
 * the first time (this thread is then its only submitter), and turns the eventfd off until the
 * next park. Nothing to do for an ordinary ring. Owning lcore only.
 * Return: 0; the -errno of IORING_REGISTER_ENABLE_RINGS, once (logged; the ring's submits then
 * fail).
 */
int kelp_lcore_ring_awake(struct kelp_lcore_ring *lr);

/* kelp_lcore_ring_pending - deferred task work waits for the owner's io_uring_enter(GETEVENTS)
 * (IORING_SQ_TASKRUN): a reply came. Owning lcore only. */
static inline bool kelp_lcore_ring_pending(const struct kelp_lcore_ring *lr)
{
	return lr->deferred && (IO_URING_READ_ONCE(*lr->ring->sq.kflags) & IORING_SQ_TASKRUN);
}

/*
 * kelp_lcore_ring_run - kelp_lcore_ring_awake, then the pending task work run (receives whose
 * data came complete) so that the poller can reap their CQEs. For a poller that submits
 * separately (a poller that submits every round runs the work in that io_uring_enter instead:
 * io_uring_submit_and_get_events when kelp_lcore_ring_pending). Owning lcore only.
 * Return: 0; the -errno of awake or of io_uring_enter (the next poll tries again).
 */
int kelp_lcore_ring_run(struct kelp_lcore_ring *lr);

/*
 * kelp_lcore_ring_close - undo kelp_lcore_ring_open: unwatch and close the eventfd, exit the ring.
 * Not open (lr->efd < 0): nothing to do. The park hook stays registered but does nothing.
 * Control thread, after the lcore stopped.
 */
void kelp_lcore_ring_close(struct kelp_lcore_ring *lr);

#endif
