/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelpd's admin protocol (what kelpctl speaks), on the same Unix socket as the client sessions:
 *
 *   1. The client connects and sends a struct kelp_hello (shm/kelp_abi.h) with kind
 *      KELP_CONN_ADMIN; kelpd checks SO_PEERCRED (and SO_PEERGROUPS) against the same policy as for
 *      sessions ([engine] allow_uids / allow_gids), or [engine] admin_gids.
 *   2. kelpd answers a struct kelp_welcome (status 0, or a refusal of shm/ABI.md 1: -EACCES,
 *      -EPROTONOSUPPORT, -EINVAL; kelpd then closes).
 *   3. Then any number of commands: one line of ASCII each ("stats\n", at most 1023 bytes); kelpd
 *      answers each with exactly one line: a JSON object and "\n". Errors are {"error": "..."}.
 *
 * Commands and the reply's fields:
 *   status    {"pid","abi_version","uptime_s","socket","lcores","sessions","volumes"}
 *   stats     {"lcores":[{"id","cpu","numa_node","sessions","polls","busy_polls","requests","nops",
 *              "reads","stats","bytes","parks","sessions_broken",
 *              "errors":{"noent","io","range","unreachable","bad_sqe","busy","other"},
 *              "by_path":{"none","local","rdma","http"}}], "total":{same counters summed},
 *              (the counters are the tables KELP_LCORE_COUNTERS, KELP_LCORE_ERR_KINDS and
 *              KELP_LCORE_PATHS of lcore/worker/lcore.h, in that order),
 *              "http_fallback":{...} when [seaweedfs] master is set (lcore/control/remote_read.c),
 *              "rdma_export":{"connections","handshake_errors","requests","replies","bytes",
 *              "bounced","errors","resets"} when [rdma] listen is set (lcore/rdma/rdma_export.h)}
 *   sessions  {"sessions":[{"id","pid","uid","gid","lcore","sq_entries","arena_bytes","hugepages",
 *              "requests","bytes","errors","age_s","state"}]}; only for root, kelpd's own uid and
 *              members of [engine] admin_gids (others get {"error": ...}: it names every client)
 *   volumes   {"volumes":[{"id","live_needles"}],             local ([export] dirs)
 *              "remote":[{"id","locations":["host:port",...]}]}  known from the masters
 *   peers     {"reader": true when non-local reads may use RDMA, "device": RDMA device or "",
 *              "peers":[{"addr","volume_server","lcore","state":"down|connecting|up","in_flight",
 *              "credits","requests","replies","errors","resets","fallbacks","bypassed",
 *              "handshakes","retry_in_ms"}] one RC QP each (lcore/rdma/rdma_reader.h),
 *              "export":{as stats' rdma_export} when [rdma] listen is set}
 *   replicas  {"hedge_ms": hedge delay of HTTP reads (0: off),
 * "replicas":[{"addr","state":"up|down", "since_s","retry_in_ms" (down: until the next
 * probe),"last_error","answers", "failures","probes","hedges_lost"}]} every volume server read over
 * HTTP (lcore/cluster/replica_health.h); stats' http_fallback also counts "hedges","hedge_wins",
 *              "crc_mismatches","master_not_found","local_failed_reads","local_failed_served"
 * Counters are read without stopping the lcores: each is exact, the set is not one instant.
 */
#ifndef KELP_LCORE_ADMIN_H
#define KELP_LCORE_ADMIN_H

#define KELP_ADMIN_LINE_MAX 1023

#endif
