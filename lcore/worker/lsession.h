/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelpd's side of one client session: the segment (memfd, mapped), kelpd's private views of the
 * two rings, the client's identity, counters. Created and freed by the control thread, served by
 * exactly one lcore in between (engine.h: ownership).
 */
#ifndef KELP_LCORE_LSESSION_H
#define KELP_LCORE_LSESSION_H

#include <stdint.h>
#include <sys/types.h>

#include "kelp_abi.h"
#include "kelp_ring.h"

struct kelp_owner;
struct kelp_remote_read;

/* Per-session counters: written by the owning lcore (relaxed stores), read by control. */
struct lcore_session_stats {
	uint64_t requests;
	uint64_t bytes;
	uint64_t errors;
};

struct lcore_session {
	/* set by control at creation, read-only afterwards */
	uint64_t id;
	int memfd;
	int doorbell_fd; /* eventfd only this session's client holds besides us: it rings it after
			  * publishing SQEs while the SQ says NEED_WAKEUP; the lcore only watches it
			  * (kelp_lcore_watch_doorbell), never reads, writes or relies on its flags
			  */
	uint8_t *seg;
	uint64_t seg_size;
	struct kelp_seg_hdr *hdr;
	uint8_t *arena;
	uint64_t arena_size;
	uint32_t max_io;
	uint32_t lcore_id;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	uint64_t created_ns;
	void *rdma_mr;	    /* struct ibv_mr of the arena (remote write), NULL without RDMA */
	uint32_t rdma_rkey; /* its rkey; 0 = not registered: non-local reads use HTTP */
	uint32_t faulted; /* raised by the SIGBUS handler (core/fault.h): the client punched a hole
			   * into its segment; the lcore then closes the session (-EFAULT) */

	/* owning lcore only */
	struct kelp_ring sq;	  /* we consume */
	struct kelp_ring cq;	  /* we produce */
	uint32_t remote_inflight; /* requests out on another path */
	/* non-local completions published while the client slept, its wake-up held back
	 * (KELP_WAKE_HOLD_NS); unwoken_since: when the first of them was published */
	uint32_t unwoken;
	uint64_t unwoken_since;
	struct kelp_remote_read *cq_waiting; /* finished remote reads waiting for CQ room (FIFO) */
	struct kelp_remote_read *cq_waiting_tail;
	int closing; /* client gone: serve nothing more, release once remote_inflight is 0 */
	int broken;  /* protocol violation: serve nothing more */
	struct lcore_session_stats stats;

	/* control thread only */
	struct lcore_session *ctl_next; /* all sessions, for kelpctl sessions and shutdown */
	void *conn;			/* the control thread's connection object */

	/* its lcore's owner (set by the lcore at SESSION_ADD), for KELP_ASSERT_OWNER */
	const struct kelp_owner *owner;
};

/*
 * lcore_session_create - create the segment of a new session (memfd, sealed against resizing,
 * MFD_HUGETLB when @hugepages allows and huge pages are available, placed on @numa_node) with
 * @sq_entries SQ slots and @arena_mb MiB of arena, fill its header, and make its doorbell
 * eventfd. The header, the rings and the first @populate_mb MiB of the arena are allocated now
 * (the lcore copies into buffers there without page faults); the rest of the arena on first use
 * ([engine] arena_populate_mb). Control thread only.
 * Return: 0 and *@out; -EINVAL bad geometry; -ENOMEM; other errnos from memfd_create/mmap.
 */
int lcore_session_create(uint64_t id, uint32_t sq_entries, uint32_t arena_mb, uint32_t populate_mb,
			 int hugepages, int numa_node, uint32_t lcore_id,
			 struct lcore_session **out);

/*
 * lcore_session_destroy - unmap and free a session; no lcore may still use it. Control thread
 * only. @s may be NULL.
 */
void lcore_session_destroy(struct lcore_session *s);

/*
 * lcore_session_set_state - publish @state (and @err for BROKEN) in the segment header, with
 * release, and wake a client sleeping on the CQ so it sees it. Owning lcore, or control thread at
 * shutdown after the lcores stopped.
 */
void lcore_session_set_state(struct lcore_session *s, uint32_t state, int32_t err);

/*
 * lcore_session_wake_client - FUTEX_WAKE the CQ tail when the client asked for it
 * (KELP_CQ_WANT_WAKE), after a CQ publish. Owning lcore. The syscall only happens when the client
 * sleeps.
 */
void lcore_session_wake_client(struct lcore_session *s);

#endif
