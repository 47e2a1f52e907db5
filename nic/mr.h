/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Memory regions kelp registers, by purpose:
 *   - a client session's arena on the reader host: the export kelpd RDMA-WRITEs needle bytes into
 * it, so it is registered for remote write (and local write, which verbs requires with it) only;
 *   - an exported volume's .dat mapping on the export host: the source of those RDMA WRITEs, so it
 * is registered for local read only (no remote access at all). If the device cannot pin it (size,
 *     memlock limit), ODP is tried where the device supports it as an RC send source (never on
 * rxe), and otherwise the caller copies through the bounce pool of nic/conn.h (kelp-rdma serve);
 *   - kelpd registers an exported volume's .dat for remote READ instead (one-sided reads, its own
 * mapping: lcore/rdma/export_map.h says which mappings and access flags each provider took), whose
 * lkey also serves as the two-sided WRITE source;
 *   - the reader's one-sided staging area (VOLMAP/IDX answers, needle headers): as an arena.
 * Who may call: the control thread (registration is slow: pins pages), or the export lcore for a
 * volume's first MAP (export_map.h). The MR is then read-only data for the lcores.
 */
#ifndef KELP_NIC_MR_H
#define KELP_NIC_MR_H

#include <stddef.h>

#include "nic/device.h"

/*
 * kelp_rdma_reg_arena - register @len bytes at @addr (a client arena) for remote write.
 * @return the MR, or NULL with errno (from ibv_reg_mr: ENOMEM/EFAULT/EPERM, ...).
 */
struct ibv_mr *kelp_rdma_reg_arena(struct kelp_rdma_dev *dev, void *addr, size_t len);

enum kelp_rdma_export_mode {
	KELP_RDMA_EXPORT_PINNED = 1, /* plain MR, local read only */
	KELP_RDMA_EXPORT_ODP = 2,    /* on-demand paging MR */
	KELP_RDMA_EXPORT_BOUNCE = 3, /* not registered: copy through the bounce pool */
};

/*
 * kelp_rdma_reg_export - register a read-only volume mapping as an RDMA WRITE source.
 * @return the MR and *@mode PINNED or ODP; NULL with *@mode = BOUNCE when neither worked (errno
 * from the last attempt). NULL is not fatal: reads are then served through the bounce pool.
 */
struct ibv_mr *kelp_rdma_reg_export(struct kelp_rdma_dev *dev, const void *addr, size_t len,
				    enum kelp_rdma_export_mode *mode);

/* kelp_rdma_dereg - deregister @mr (NULL is fine); @what names it in the message on failure.
 * @return 0 or -errno. */
int kelp_rdma_dereg(struct kelp_rdma_dev *dev, struct ibv_mr *mr, const char *what);

#endif
