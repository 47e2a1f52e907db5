/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelpd's engine: the worker lcores, the control thread, and what they share.
 *
 * Ownership (who may touch what; everything else is private to its thread):
 *   - The control thread (lcore/control/control.c) owns the Unix socket, every client connection,
 * the volume set (it opens and changes it), and the life of every session: it creates a session's
 *     segment, hands the session to one lcore, and frees it after that lcore said it let go.
 *   - Each worker lcore (lcore/worker/lcore.c) owns the sessions it was handed: only it reads their
 * SQ, writes their CQ, and writes their counters. It owns its statistics (struct kelp_lcore_stats)
 *     and its poller list.
 *   - The two talk only through the SPSC message rings of struct kelp_lcore (lcore/worker/msg.h):
 * control
 *     -> lcore (add/remove session, remote read done, stop) and lcore -> control (session released,
 *     remote read to do). A message hands over ownership of the object it points to. The rings
 *     hold every message that can be in flight (static_asserts in lcore/worker/lcore.h): no
 *     sender ever waits for room.
 *   - "Owning lcore only" and "control thread only" are checked in debug builds (`make SAN=1`):
 *     KELP_ASSERT_OWNER (core/owner.h) against the lcore's thread (struct kelp_lcore.owner) and
 *     the control thread (struct kelp_engine.ctl_owner, while kelp_ctl_run() runs).
 *   - Counters are written by their owner with relaxed atomic stores and read by the control thread
 *     (kelpctl stats) with relaxed atomic loads: exact per counter, not a consistent snapshot.
 *   - The volume set is read by every lcore without locks (kelp_volume_set_find/kelp_volume_find
 *     are safe concurrently); the control thread follows the exported directories with
 *     kelp_volume_set_refresh() every KELP_REFRESH_MS. What it replaces is freed through the
 *     engine's epoch (core/epoch.h): every lcore is a registered reader and passes a quiescent
 *     point after each poll round (no pointer into a volume survives a round), and goes offline
 *     while parked.
 *   - Wake-ups: control wakes a parked lcore through the lcore's own wake_fd (an eventfd no client
 *     ever holds); a client rings its session's doorbell (an eventfd of that session only), which
 *     the lcore only watches through epoll. No client can block, drain or reconfigure a descriptor
 *     kelpd or another session depends on (shm/ABI.md 5).
 *   - Mappings kelpd does not control (volume .dat files, session segments) are guarded zones
 *     (core/fault.h): a SIGBUS there fails the reads that touched them (-EIO; the volume is
 *     reopened) or closes that session (-EFAULT), never the daemon.
 */
#ifndef KELP_LCORE_ENGINE_H
#define KELP_LCORE_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/config.h"
#include "core/owner.h"
#include "core/volume.h"

#define KELP_MAX_LCORES 64 /* [engine] lcores at most (checked by kelp_engine_run) */

struct kelp_lcore;
struct kelp_control;
struct kelp_epoch;
struct kelp_loc_table;
struct kelp_path_table;
struct kelp_rdma_dev;
struct kelp_rdma_export;
struct kelp_tcp_export;

/* How often the control thread follows the exported directories (new needles, vacuum, ...). */
#define KELP_REFRESH_MS 250

struct kelp_engine {
	/* kelpd's settings: the validated configuration (core/config.h), which every module reads
	 * directly (eng->conf.seaweedfs.http_timeout_ms); there is no second struct of options and
	 * no module-level default. A copy made by kelp_engine_run() (embedded: the lcores read
	 * force_http on the read path without one more pointer); its strings and lists still belong
	 * to the caller's struct kelp_config, which outlives the engine. Read-only once the engine
	 * runs, except the fields only the control thread reads, which a SIGHUP may replace
	 * (lcore/control/control.c: reload_config); zero (every key off or empty) in unit tests
	 * that build an engine by hand. */
	struct kelp_config conf;
	/* SIGHUP: the caller's loader of a fresh configuration (kelpd: the file and the
	 * command-line overrides it started with, over kelp_config_init's defaults; 0 or -errno
	 * with the reason in @err), NULL = SIGHUP re-reads nothing; and the caller's struct that
	 * owns conf's lists, where a reload swaps the replaced lists too, so that each list is
	 * freed once, by the caller. */
	int (*load_config)(struct kelp_config *c, char *err, size_t err_size, void *arg);
	void *load_config_arg;
	struct kelp_config *conf_owner;
	struct kelp_volume_set *volumes; /* local volumes; see ownership above */
	struct kelp_epoch *epoch;	 /* reclamation of what lcores read without locks; NULL in
					  * unit tests that drive an lcore by hand */
	struct kelp_loc_table
		*locations; /* volume locations from the masters, published by the
			     * HTTP fallback's discovery (lcore/cluster/discovery.h): lcores read
			     * it with kelp_loc_table_load(); NULL without masters */
	/* read plans of cached files by path (lcore/path_table.h), published by the control
	 * thread's filer client: lcores load it (acquire) and serve PATH_READs of local plain
	 * chunks with it; NULL without [filer] address or epoch (then the control thread serves) */
	struct kelp_path_table *path_table;
	struct kelp_lcore *lcores; /* n_lcores entries */
	unsigned n_lcores;
	struct kelp_control *ctl;
	struct kelp_rdma_dev *rdma_dev;	      /* NULL: no RDMA on this host (or not configured) */
	struct kelp_rdma_export *rdma_export; /* NULL: [rdma] listen off */
	struct kelp_tcp_export *tcp_export;   /* NULL: [peer] tcp_listen off */
	uint64_t start_ns;		      /* CLOCK_MONOTONIC at start, for uptime */
	/* the control thread while kelp_ctl_run() runs: KELP_ASSERT_OWNER in the "control thread
	 * only" functions, in debug builds (core/owner.h) */
	struct kelp_owner ctl_owner;
};

#endif
