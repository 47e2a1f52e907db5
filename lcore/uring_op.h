/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io_uring helpers for code that runs on kelpd's control ring (lcore/control/control.h) and also
 * on a ring of its own outside kelpd (test/integ/http_fetch).
 *
 * Completions find their owner the way the control loop does it: every SQE that wants its
 * completion carries user_data = &op, a struct kelp_ctl_op embedded in the object that issued it,
 * and op->done(ctl, op, res, flags) is called for its CQE (@ctl is NULL outside kelpd). SQEs whose
 * completion nobody needs (linked timeouts, cancels) carry user_data 0. The object must stay alive
 * until its op's CQE has been dispatched.
 *
 * Who may call: the thread that owns the ring only.
 */
#ifndef KELP_LCORE_URING_OP_H
#define KELP_LCORE_URING_OP_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

struct kelp_control; /* kelpd's control loop (lcore/control/control.h); NULL outside kelpd */

/* What an SQE's user_data points at: done() is called once for its CQE, on the ring's thread. */
struct kelp_ctl_op {
	void (*done)(struct kelp_control *ctl, struct kelp_ctl_op *op, int res, uint32_t cqe_flags);
};

/*
 * kelp_uring_sqe - a free SQE of @ring, submitting what is queued first when the SQ is full.
 * @return the SQE, or NULL when the kernel accepts nothing (ring broken).
 */
static inline struct io_uring_sqe *kelp_uring_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	if (!sqe && io_uring_submit(ring) >= 0)
		sqe = io_uring_get_sqe(ring);
	return sqe;
}

/*
 * kelp_uring_dispatch - hand every ready CQE of @ring to its op (see above) without waiting.
 * Outside kelpd only: kelpd's control loop dispatches its own ring.
 * @return the number of CQEs consumed (0 when idle).
 */
static inline unsigned kelp_uring_dispatch_in(struct io_uring *ring, bool enter)
{
	struct io_uring_cqe *cqe;
	unsigned n = 0;

	while ((enter || io_uring_cq_ready(ring)) && io_uring_peek_cqe(ring, &cqe) == 0) {
		struct kelp_ctl_op *op = (struct kelp_ctl_op *)(uintptr_t)cqe->user_data;
		int res = cqe->res;
		uint32_t flags = cqe->flags;
		io_uring_cqe_seen(ring, cqe); /* before done(): it may queue and submit more */
		n++;
		if (op)
			op->done(NULL, op, res, flags);
	}
	return n;
}

static inline unsigned kelp_uring_dispatch(struct io_uring *ring)
{
	return kelp_uring_dispatch_in(ring, true);
}

/*
 * kelp_uring_dispatch_ready - kelp_uring_dispatch of the CQEs already in the CQ ring only: never
 * enters the kernel (io_uring_peek_cqe does when the CQ is empty and the ring has deferred task
 * work, lcore/tcp/lcore_ring.h), for a poller that runs that work in its own submit.
 */
static inline unsigned kelp_uring_dispatch_ready(struct io_uring *ring)
{
	return kelp_uring_dispatch_in(ring, false);
}

#endif
