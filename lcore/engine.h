/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelpd's engine: the worker lcores, the control thread, and what they share.
 *
 * Ownership (who may touch what; everything else is private to its thread):
 *   - The control thread (lcore/control/control.c) owns the Unix socket, every client connection, the
 *     volume set (it opens and changes it), and the life of every session: it creates a session's
 *     segment, hands the session to one lcore, and frees it after that lcore said it let go.
 *   - Each worker lcore (lcore/worker/lcore.c) owns the sessions it was handed: only it reads their SQ,
 *     writes their CQ, and writes their counters. It owns its statistics (struct kelp_lcore_stats)
 *     and its poller list.
 *   - The two talk only through the SPSC message rings of struct kelp_lcore (lcore/worker/msg.h): control
 *     -> lcore (add/remove session, remote read done, stop) and lcore -> control (session released,
 *     remote read to do). A message hands over ownership of the object it points to.
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

#include "core/volume.h"

#define KELP_MAX_LCORES 64
#define KELP_MAX_ALLOW  64

/* Settings of one kelpd, from kelp.conf and flags (lcore/kelpd/main.c fills them). */
struct kelp_engine_opts {
	const char *socket_path;         /* [engine] socket */
	int lcore_cpus[KELP_MAX_LCORES]; /* [engine] lcores: one worker per CPU */
	unsigned n_lcores;
	int control_cpu;                 /* [engine] control_cpu; -1 = not pinned */
	uid_t allow_uids[KELP_MAX_ALLOW]; /* [engine] allow_uids (root and kelpd's uid always) */
	unsigned n_allow_uids;
	gid_t allow_gids[KELP_MAX_ALLOW]; /* [engine] allow_gids (primary or supplementary group) */
	unsigned n_allow_gids;
	gid_t admin_gids[KELP_MAX_ALLOW]; /* [engine] admin_gids: kelpctl, also `sessions` */
	unsigned n_admin_gids;
	/* where lcores / control_cpu were set ("FILE:LINE", core/config.h kelp_config_where), for
	 * the messages of checks only the running machine can make; NULL = not said */
	const char *lcores_where, *control_cpu_where;
	uint32_t idle_park_us;           /* [engine] idle_park_us; 0 = never park */
	int idle_yield;                  /* [engine] idle_yield: sched_yield() after an idle poll */
	uint32_t arena_mb;               /* [engine] arena_mb: arena per session */
	int hugepages;                   /* [engine] hugepages: 1 required, 0 off, -1 when available */
	uint32_t queue_depth;            /* [engine] queue_depth: default SQ entries per session */
	uint32_t max_sessions;           /* [engine] max_sessions */
	const char *const *export_dirs;  /* [export] dirs */
	size_t n_export_dirs;
	/* [seaweedfs]: volume discovery and the HTTP fallback (lcore/control/remote_read.c) */
	const char *const *masters;      /* master host:port list; none = no HTTP fallback */
	size_t n_masters;
	const char *data_center;         /* replicas here first; "" = master's order */
	bool volume_public_url;          /* address volume servers by publicUrl (discovery.h) */
	const char *jwt_read_key;        /* "" = no read tokens */
	uint32_t lookup_ttl_s;           /* location cache TTL */
	uint32_t http_timeout_ms;        /* per HTTP request */
	uint32_t hedge_percent;          /* hedge a read after this % of http_timeout_ms; 0 = off */
	int force_http;                  /* route every read to the HTTP fallback */
	/* [rdma] (lcore/rdma/rdma_export.h) */
	const char *rdma_device;         /* name, "auto" or "off" */
	uint8_t rdma_port;
	int rdma_gid_index;
	const char *rdma_listen;         /* "" = no RDMA export */
	uint16_t rdma_peer_port;         /* kelpd beside a volume server not in rdma_peers */
	const char *const *rdma_peers;   /* "vs_host:port=rdma_host:port" */
	size_t n_rdma_peers;
	uint32_t rdma_request_timeout_ms; /* reader: reply timeout per connection */
	uint32_t rdma_export_max_read_mb; /* export: largest read over RDMA (0: 16) */
};

struct kelp_lcore;
struct kelp_control;
struct kelp_epoch;
struct kelp_loc_table;
struct kelp_rdma_dev;
struct kelp_rdma_export;

/* How often the control thread follows the exported directories (new needles, vacuum, ...). */
#define KELP_REFRESH_MS 250

struct kelp_engine {
	struct kelp_engine_opts opts;
	struct kelp_volume_set *volumes; /* local volumes; see ownership above */
	struct kelp_epoch *epoch;        /* reclamation of what lcores read without locks; NULL in
					  * unit tests that drive an lcore by hand */
	struct kelp_loc_table *locations; /* volume locations from the masters, published by the
					   * HTTP fallback's discovery (lcore/cluster/discovery.h): lcores read
					   * it with kelp_loc_table_load(); NULL without masters */
	struct kelp_lcore *lcores;       /* n_lcores entries */
	unsigned n_lcores;
	struct kelp_control *ctl;
	struct kelp_rdma_dev *rdma_dev;  /* NULL: no RDMA on this host (or not configured) */
	struct kelp_rdma_export *rdma_export; /* NULL: [rdma] listen off */
	uint64_t start_ns;               /* CLOCK_MONOTONIC at start, for uptime */
};

#endif
