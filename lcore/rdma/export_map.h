/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The export kelpd's side of one-sided reads (proto/rdma_msg.h steps 7-9): each exported volume's
 * .dat registered for remote RDMA READ, described to readers by a VOLMAP, and its .idx served to
 * them (IDX requests, copied through the bounce pool: the index, not the needles).
 *
 * Registration (asked for by kelp_export_map_meta on the export lcore when a reader MAPs a volume;
 * the files are looked at again at most every KELP_EXPORT_MAP_CHECK_MS) runs on the map's helper
 * thread, never on the export lcore: stat, open, mmap, ibv_reg_mr of a large volume (pinning
 * takes long) and, after the grace, ibv_dereg_mr and munmap. The lcore only queues a look at a
 * volume's files (one per volume at a time) and publishes what the helper handed back, at the
 * volume's next MAP: until a volume was registered once its MAP is answered -EBUSY (BUSY: the
 * reader asks again after KELP_RDMA_ONESIDED_REFRESH_MS); while a newer registration (growth,
 * vacuum) is under way, MAP answers the current VOLMAP, whose region and .idx mapping stay
 * valid and consistent with each other until the new pair is published. kelp opens the .dat
 * itself (its own descriptor and mapping, independent of the volume set's, so a refresh of the
 * set never pulls pages from under a registration) and registers whole pages only: the page the
 * volume server is appending into is left out, so no page it still writes is ever pinned. Tried
 * in order, the first that the device accepts wins (the log line says which):
 *   1. a read-only MAP_SHARED mapping (O_RDONLY), IBV_ACCESS_REMOTE_READ: the natural one;
 *      kernels before 6.2 pin every MR page with FOLL_WRITE|FOLL_FORCE, which a read-only shared
 *      mapping refuses (EFAULT), as rxe on the 6.1 guest does;
 *   2. a read-write MAP_SHARED mapping (O_RDWR) of the same file, REMOTE_READ: pins on 6.1; kelp
 *      never writes through it (the pages are only marked dirty by the pin, so the kernel may
 *      write the same bytes back);
 *   3. the read-only mapping with IBV_ACCESS_ON_DEMAND when the device does ODP for RC READs
 *      (mlx5; never rxe 6.1): nothing pinned, faults resolved by the NIC.
 * When all fail, MAP answers NO_VOLUME: that volume's reads stay two-sided.
 * A grown .dat or a new file pair (vacuum) is registered anew under a new generation; the old
 * region stays registered KELP_EXPORT_MAP_GRACE_MS longer (readers refresh their VOLMAP every
 * KELP_RDMA_ONESIDED_REFRESH_MS), then it is deregistered and unmapped.
 *
 * Who calls: the export lcore only (created and destroyed by the main thread around it; create
 * starts the helper thread, destroy stops it after the job under way, which it waits for). The
 * lcore and the helper share a mutex held for list operations only, never across a system call.
 */
#ifndef KELP_LCORE_RDMA_EXPORT_MAP_H
#define KELP_LCORE_RDMA_EXPORT_MAP_H

#include <stdint.h>

#include "nic/device.h"

#define KELP_EXPORT_MAP_CHECK_MS 100   /* look at a volume's files again after this long */
#define KELP_EXPORT_MAP_GRACE_MS 10000 /* an old generation's region stays registered so long */
#define KELP_EXPORT_MAP_MAX_VOLS 4096

struct kelp_export_map;
struct kelp_rdma_source;
struct kelp_volume;
struct kelp_volume_set;

/* kelp_export_map_create - nothing registered yet; starts the helper thread. @return 0, -ENOMEM
 * or -errno of pthread_create. Main thread. */
int kelp_export_map_create(struct kelp_rdma_dev *dev, struct kelp_export_map **out);

/*
 * kelp_export_map_meta - kelp_rdma_export_ops.meta for the volumes of @set: for
 * KELP_RDMA_OP_MAP (re)register volume @vid as needed and describe its VOLMAP in @src; for
 * KELP_RDMA_OP_IDX its .idx as mapped at the last MAP. @now_ns: the clock. Export lcore.
 * @return 0; -EBUSY the volume's first registration is under way (ask again); -EHOSTUNREACH
 * no such volume, no .idx, version 1, registration refused, or IDX before any MAP.
 */
int kelp_export_map_meta(struct kelp_export_map *m, const struct kelp_volume_set *set,
			 uint8_t opcode, uint32_t vid, uint64_t now_ns,
			 struct kelp_rdma_source *src);

/*
 * kelp_export_map_source - zero-copy two-sided export: when @src (from kelp_rdma_source_find on
 * @vol) lies inside the region registered for @vol's current files, point it into that region
 * with its lkey (use_bounce = false): the reply's RDMA WRITE then reads the pinned pages, no copy.
 * A region stays registered KELP_EXPORT_MAP_GRACE_MS after it was replaced, much longer than a
 * WRITE can wait in the send queue. Otherwise @src is left as it is (bounce). Export lcore.
 * Return: 1 when @src now uses the region, 0 otherwise.
 */
int kelp_export_map_source(const struct kelp_export_map *m, const struct kelp_volume *vol,
			   struct kelp_rdma_source *src);

/* Registrations made and how: (pinned read-only, pinned read-write, ODP, refused). Any thread
 * (relaxed). */
struct kelp_export_map_stats {
	uint64_t reg_ro, reg_rw, reg_odp, refused, retired;
};
void kelp_export_map_stats(const struct kelp_export_map *m, struct kelp_export_map_stats *out);

/* kelp_export_map_destroy - stop the helper (after the registration it is doing), then deregister
 * and unmap everything, also what is still in its grace. Main thread, after the lcore stopped and
 * every connection is gone. NULL is fine. */
void kelp_export_map_destroy(struct kelp_export_map *m);

#endif
