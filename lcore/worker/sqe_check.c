/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>

#include "lcore/worker/sqe_check.h"

/* The path opcodes (ABI.md 3): the path's region and the output buffer must lie in the arena; the
 * path's bytes are checked by the control thread on its own copy (lcore/control/filer_req.c). */
static int check_path(const struct kelp_sqe *e, uint64_t arena_size, uint32_t max_io)
{
	if (e->flags)
		return -EINVAL;
	if (e->path_len == 0 || (e->opcode != KELP_OP_PATH_READ && e->offset) ||
	    (e->opcode != KELP_OP_PATH_LIST && e->after_len))
		return -EINVAL;
	if (e->path_len > KELP_PATH_MAX || e->after_len > KELP_NAME_MAX)
		return -ENAMETOOLONG;
	uint64_t plen = (uint64_t)e->path_len + e->after_len; /* both bounded: no overflow */
	if (e->path_off > arena_size || plen > arena_size - e->path_off)
		return -EFAULT;
	if (e->length == 0 ||
	    (e->opcode == KELP_OP_PATH_STAT && e->length != sizeof(struct kelp_path_stat)) ||
	    (e->opcode == KELP_OP_PATH_LIST && e->length < sizeof(struct kelp_dirent)))
		return -EINVAL;
	if (e->length > max_io)
		return -E2BIG;
	if (e->buf_off > arena_size || e->length > arena_size - e->buf_off)
		return -EFAULT;
	return 0;
}

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
	case KELP_OP_PATH_STAT:
	case KELP_OP_PATH_LIST:
	case KELP_OP_PATH_READ:
	case KELP_OP_PATH_READLINK:
		return check_path(e, arena_size, max_io);
	default:
		return -EINVAL;
	}
}
