/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelpd's RDMA export side (`[rdma] listen`): other kelpd instances read needles of this kelpd's
 * local volume set over RDMA (protocol: proto/rdma_msg.h, connections: nic/conn.h).
 *
 * Threads. Set up by the main thread before the lcores start and torn down after they stopped;
 * in between everything runs as one poller on the export lcore (the first worker lcore), which owns
 * the RDMA CQ, the connections and the bounce pool, plus one handshake thread:
 *   - the CQ is polled every round (requests served inside kelp_rdma_lcore_poll());
 *   - the out-of-band TCP handshake (nic/oob.h) runs on the export's handshake thread: it
 *     accepts, reads the HELLO (at most KELP_RDMA_EXPORT_OOB_MS), hands it to the lcore through a
 *     turn flag checked every round (one atomic load), and sends the ACK the lcore made (the
 *     connection calls must run on the thread owning the CQ). A reader that connects but stalls
 *     its HELLO delays only other handshakes, never the lcore.
 *   - with [rdma] export_park (the default), the export lcore parks like any other ([engine]
 *     idle_park_us; with export_park = false it never parks): the CQ has a completion
 *     channel whose fd is in the lcore's epoll set, armed before each park (its park hook,
 *     which also polls once more after arming and wakes it at least every second for the
 *     keepalives); the handshake thread wakes it with kelp_lcore_wake(). A host whose readers
 *     read one-sided sends it nothing per read, so it keeps no core busy for them. Where the
 *     device gives no channel it polls without pause.
 * Needle bytes: copied through the registered bounce pool (the copy runs inside the poll round,
 * under the engine's epoch, so a volume replaced by the control thread's refresh cannot be freed
 * under it), unless the volume's .dat is registered for one-sided reads (export_map.h: kelp's own
 * mapping of the file, independent of the volume set's, registered when a reader first asks for
 * the volume's VOLMAP): then the reply's RDMA WRITE reads the pinned pages, no copy. A needle
 * larger than one bounce buffer takes several at once, each piece its own RDMA WRITE
 * (nic/conn.h); a bounced read larger than [rdma] export_max_read_mb is refused (TOO_LARGE) and
 * the reader reads it over HTTP.
 * One-sided reads (proto/rdma_msg.h steps 7-9): MAP and IDX requests are answered from
 * export_map.h's registrations; the READs themselves never reach this lcore.
 */
#ifndef KELP_LCORE_RDMA_EXPORT_H
#define KELP_LCORE_RDMA_EXPORT_H

#include <stdint.h>

#include "core/config.h"
#include "nic/device.h"

#define KELP_RDMA_PUBLISH_EVERY_MS 2 /* the export lcore copies its counters for kelpctl */
#define KELP_RDMA_EXPORT_OOB_MS	   200
#define KELP_RDMA_EXPORT_CREDITS   32
/* The bounce pool: 1 MiB buffers; a read takes as many as it needs at once ([rdma]
 * export_max_read_mb at most, bounded by the pool in core/config.c). */
#define KELP_RDMA_EXPORT_BOUNCE_SIZE  (1u << 20)
#define KELP_RDMA_EXPORT_BOUNCE_SLOTS KELP_CONF_RDMA_EXPORT_POOL_MB

struct kelp_engine;
struct kelp_fid;
struct kelp_lcore;
struct kelp_rdma_export;
struct kelp_rdma_source;
struct kelp_volume;
struct kelp_volume_set;

/* Counters of the export side (summed over its connections). */
struct kelp_rdma_export_stats {
	uint64_t connections; /* handshakes that brought a connection up */
	uint64_t handshake_errors;
	uint64_t requests, replies, bytes, bounced, errors, resets;
	uint64_t too_large;    /* reads refused as larger than max_read_mb (the reader used HTTP) */
	uint64_t up;	       /* connections up now */
	uint64_t replaced;     /* connections reset because their reader reconnected or restarted */
	uint64_t inlined;      /* replies that carried their bytes inline ([rdma] inline_max) */
	uint64_t probes;       /* keepalives sent to idle readers ([peer] idle_timeout_s) */
	uint64_t idle_resets;  /* connections reset because their reader did not answer one */
	uint64_t new_qps;      /* QPs made to replace a reset connection's (nic/conn.h) */
	uint64_t stale_cqes;   /* completions of reset connections' old QPs, dropped */
	uint64_t unknown_cqes; /* completions that named nothing: a bug */
};

/*
 * kelp_rdma_export_start - open `[rdma] listen` on @dev, start the handshake thread and attach
 * the export poller to @lc; serve
 * reads of up to @max_read_mb MiB (0: 16; at most the bounce pool), refuse larger ones (TOO_LARGE).
 * Main thread, after kelp_lcore_init() and before the lcores start.
 * Return: 0 and the export in *@out, or -errno (a message naming the cause was printed; *@out
 * NULL): -EINVAL bad listen address; -ENOMEM; the -errno of listen(), of the CQ or bounce pool
 * creation, of pipe2() or pthread_create(); -ENOSPC no poller slot.
 */
int kelp_rdma_export_start(struct kelp_engine *eng, struct kelp_lcore *lc,
			   struct kelp_rdma_dev *dev, const char *listen, uint32_t max_read_mb,
			   struct kelp_rdma_export **out);

/*
 * kelp_rdma_export_stats - a copy of the counters into @out. Any thread; exact per counter,
 * not a consistent snapshot (written by the export lcore with relaxed stores).
 */
void kelp_rdma_export_stats(const struct kelp_rdma_export *ex, struct kelp_rdma_export_stats *out);

/*
 * kelp_rdma_source_find - the usual kelp_rdma_export_ops.find body (nic/conn.h): look @fid up in
 * @set and describe its bytes in @src with use_bounce = true (the caller may set an lkey instead)
 * and the volume as the source's owner. Export lcore (kelpd's, or kelp-rdma serve's thread).
 * @vol_out (may be NULL) receives the volume that holds the needle.
 * Return: 0; -EHOSTUNREACH volume not in @set; -ENOENT / -EIO as kelp_volume_find().
 */
int kelp_rdma_source_find(const struct kelp_volume_set *set, const struct kelp_fid *fid,
			  struct kelp_rdma_source *src, struct kelp_volume **vol_out);

/*
 * kelp_rdma_source_faulted - kelp_rdma_export_ops.faulted for sources from kelp_rdma_source_find:
 * has the owner volume's mapping lost a page (kelp_volume_faulted())? @arg is unused. Export
 * lcore, after the copy. Return: nonzero when the copy may be garbage.
 */
int kelp_rdma_source_faulted(void *arg, const struct kelp_rdma_source *src);

/*
 * kelp_rdma_export_stop - print the counters, stop the handshake thread (within one
 * KELP_RDMA_EXPORT_OOB_MS), close the listener, destroy the connections and the CQ. Main thread,
 * after the lcores were joined. NULL is fine. Return: 0, or the first -errno a verbs destroy call
 * reported.
 */
int kelp_rdma_export_stop(struct kelp_rdma_export *ex);

#endif
