/* SPDX-License-Identifier: Apache-2.0 */
/* Memory registration by purpose (see mr.h). */
#include "nic/mr.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"

struct ibv_mr *kelp_rdma_reg_arena(struct kelp_rdma_dev *dev, void *addr, size_t len)
{
	return dev->ops->reg_mr(dev->pd, addr, len,
				IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
}

struct ibv_mr *kelp_rdma_reg_export(struct kelp_rdma_dev *dev, const void *addr, size_t len,
				    enum kelp_rdma_export_mode *mode)
{
	struct ibv_mr *mr;

	/* Access 0 = local read: the pages are pinned without FOLL_WRITE, so a PROT_READ mapping
	 * of the volume file is fine. */
	mr = dev->ops->reg_mr(dev->pd, (void *)addr, len, 0);
	if (mr) {
		*mode = KELP_RDMA_EXPORT_PINNED;
		return mr;
	}
	if (dev->odp_rc_write_src) {
		mr = dev->ops->reg_mr(dev->pd, (void *)addr, len, IBV_ACCESS_ON_DEMAND);
		if (mr) {
			*mode = KELP_RDMA_EXPORT_ODP;
			return mr;
		}
	}
	*mode = KELP_RDMA_EXPORT_BOUNCE;
	return NULL;
}

int kelp_rdma_dereg(struct kelp_rdma_dev *dev, struct ibv_mr *mr, const char *what)
{
	int ret;

	if (!mr)
		return 0;
	ret = dev->ops->dereg_mr(mr);
	if (ret < 0)
		kelp_log_error("kelp: deregistering the %s MR on %s failed: %s", what, dev->name,
			       strerror(-ret));
	return ret;
}
