/* SPDX-License-Identifier: Apache-2.0 */
/*
 * How the control thread's io_uring completions find their owner.
 *
 * Every SQE that wants its completion carries user_data = (uintptr_t)&op, where op is a
 * struct kelp_uring_op embedded in the object that issued it; the loop calls op->done(ctl, op, res,
 * flags) for each CQE (the same convention, and layout, as kelpd's struct kelp_ctl_op of
 * lcore/control.h; @ctl is NULL outside kelpd). SQEs whose completion nobody needs (linked timeouts) carry user_data 0 and
 * are skipped. The object must stay alive until its op's CQE has been dispatched.
 *
 * Who may call: the thread that owns the ring (kelpd's control thread) only.
 */
#ifndef KELP_LCORE_URING_OP_H
#define KELP_LCORE_URING_OP_H

#include <liburing.h>
#include <stdint.h>

struct kelp_control;

struct kelp_uring_op {
	/* @res: cqe->res (bytes or -errno); @flags: cqe->flags */
	void (*done)(struct kelp_control *ctl, struct kelp_uring_op *op, int res, uint32_t flags);
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
 * @return the number of CQEs consumed (0 when idle).
 */
static inline unsigned kelp_uring_dispatch(struct io_uring *ring)
{
	struct io_uring_cqe *cqe;
	unsigned n = 0;

	while (io_uring_peek_cqe(ring, &cqe) == 0) {
		struct kelp_uring_op *op = (struct kelp_uring_op *)(uintptr_t)cqe->user_data;
		int res = cqe->res;
		uint32_t flags = cqe->flags;
		io_uring_cqe_seen(ring, cqe); /* before done(): it may queue and submit more */
		n++;
		if (op)
			op->done(NULL, op, res, flags);
	}
	return n;
}

#endif
