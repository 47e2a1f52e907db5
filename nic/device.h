/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An opened RDMA device: context, protection domain, port and GID, and what the device can do.
 *
 * Ownership: opened and closed by kelpd's control thread (or a test's main thread); afterwards
 * read-only, so every lcore may use dev->pd and the cached attributes without locks.
 */
#ifndef KELP_NIC_DEVICE_H
#define KELP_NIC_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "nic/verbs_ops.h"

/* The [rdma] section's device keys. */
struct kelp_rdma_dev_config {
	const char *device; /* "auto" (first device with an active port), "off", or a device name */
	uint8_t port;	    /* 1-based; 0 means 1 */
	int gid_index;	    /* RoCE: which GID names this host; -1 = first IPv4-mapped, else 0 */
};

/* RDMA READs in flight per QP kelp asks for (one-sided reads): what ConnectX parts offer (16);
 * both ends use the same bound, so a reader never has more in flight than its export accepts. */
#define KELP_RDMA_RD_ATOMIC 16

struct kelp_rdma_dev {
	const struct kelp_verbs_ops *ops;
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	char name[IBV_SYSFS_NAME_MAX];
	uint8_t port;
	int gid_index;	   /* as resolved */
	union ibv_gid gid; /* this host's address as peers must name it */
	uint16_t lid;	   /* InfiniBand only; 0 on RoCE */
	enum ibv_mtu active_mtu;
	bool is_mlx5;	       /* mlx5dv features may be used */
	bool odp_rc_write_src; /* ODP MRs usable as an RC RDMA WRITE source (never on rxe 6.1) */
	bool odp_rc_read_dst;  /* ODP MRs usable as the target of an RC RDMA READ (never on rxe 6.1)
				*/
	uint8_t rd_atomic;     /* RDMA READs a QP may have outstanding, as initiator and as target:
				* min(KELP_RDMA_RD_ATOMIC, max_qp_rd_atom, max_qp_init_rd_atom), >= 1 */
	uint32_t max_qp_wr;
	uint32_t max_mr_size_log2; /* floor(log2(max_mr_size)) */
};

/*
 * kelp_rdma_dev_open - find and open the device @cfg names, allocate its protection domain and
 * read the port (must be ACTIVE), GID and capabilities.
 * @ops: usually &kelp_verbs_real. @err: receives a one-line reason on failure (may be NULL).
 * @return 0 and the device in *@out, or -errno (*@out NULL):
 *   -ECANCELED  cfg->device is "off";
 *   -ENODEV     no RDMA device on this host, or none named cfg->device, or (auto) none with an
 *               active port — the caller says so once and serves reads over HTTP;
 *   -ENETDOWN   the named device's port is not ACTIVE;
 *   -EINVAL     bad port or gid_index; -ENOMEM; other -errnos from verbs.
 * Caller: control thread, at start-up.
 */
int kelp_rdma_dev_open(const struct kelp_verbs_ops *ops, const struct kelp_rdma_dev_config *cfg,
		       char *err, size_t errlen, struct kelp_rdma_dev **out);

/*
 * kelp_rdma_dev_close - free the PD and close the device. Every QP, CQ and MR made on it must be
 * gone first. @return 0, or the first -errno a destroy call reported (the rest are still freed).
 */
int kelp_rdma_dev_close(struct kelp_rdma_dev *dev);

/* kelp_rdma_gid_format - "fe80:0000:...:55bd" into @buf (at least 40 bytes). */
void kelp_rdma_gid_format(const union ibv_gid *gid, char *buf, size_t size);

#endif
