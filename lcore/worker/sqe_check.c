/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>

#include "lcore/worker/sqe_check.h"

int kelp_sqe_check(const struct kelp_sqe *e, uint64_t arena_size, uint32_t max_io)
{
	if ((e->flags & ~(KELP_SQE_F_RDMA_ONLY | KELP_SQE_F_TCP_ONLY)) ||
	    (e->flags & KELP_SQE_F_RDMA_ONLY && e->flags & KELP_SQE_F_TCP_ONLY) ||
	    e->reserved0 != 0 || e->reserved[0] != 0 || e->reserved[1] != 0)
		return -EINVAL;
	switch (e->opcode) {
	case KELP_OP_NOP:
		if (e->flags || e->volume_id || e->key || e->cookie || e->length || e->offset ||
		    e->buf_off)
			return -EINVAL;
		return 0;
	case KELP_OP_STAT:
		if (e->length || e->offset || e->buf_off)
			return -EINVAL;
		return 0;
	case KELP_OP_READ:
		if (e->length == 0)
			return -EINVAL;
		if (e->length > max_io)
			return -E2BIG;
		/* written so that no sum can overflow */
		if (e->buf_off > arena_size || e->length > arena_size - e->buf_off)
			return -EFAULT;
		return 0;
	default:
		return -EINVAL;
	}
}
