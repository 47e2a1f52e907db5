/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libkelp's private session state (struct kelp_session of kelp.h) and the helpers its files share.
 * Not installed; applications see only the opaque type.
 */
#ifndef KELP_SHM_SESSION_H
#define KELP_SHM_SESSION_H

#include <stdint.h>

#include "kelp.h"
#include "kelp_abi.h"
#include "kelp_ring.h"
#include "wait_policy.h"

/* Page-granular first-fit allocator over the arena (buffers are set up once, not per read). */
struct kelp_arena_alloc {
	uint32_t npages;
	uint32_t hint;	   /* first page to look at */
	uint32_t *run_len; /* per page: pages in the allocation starting here, 0 otherwise */
	uint8_t *used;	   /* per page: 1 when allocated */
	uint8_t *mapped;   /* per page: 1 once a kelp_buf_alloc populated it (no madvise again) */
};

struct kelp_session {
	int sock;	 /* the Unix socket; its close ends the session on kelpd's side */
	int doorbell_fd; /* this session's doorbell eventfd, written when the SQ says NEED_WAKEUP */
	uint8_t *seg;
	uint64_t seg_size;
	struct kelp_seg_hdr *hdr;
	struct kelp_ring sq; /* we produce */
	struct kelp_ring cq; /* we consume */
	uint8_t *arena;
	uint64_t arena_size;
	uint32_t max_io;
	uint32_t queued;      /* SQEs filled but not yet published */
	uint32_t inflight;    /* queued + published, completion not yet collected */
	int32_t wait_spin_us; /* kelp_opts': < 0 poll, else the most kelp_wait spins */
	struct kelp_wait_policy wait_policy; /* how long kelp_wait spins (wait_policy.h) */
	uint32_t idle_polls; /* empty kelp_poll calls since the last liveness check */
	int dead;	     /* 0, or the -errno every call now returns (-ECONNRESET, -EPROTO) */
	struct kelp_arena_alloc alloc;
	/* path requests (path.c): the path (and LIST's "after" name) of each one in flight lives in
	 * a slot of one arena allocation until its completion is collected; the SQE's user_data is
	 * the slot number, the caller's is kept here and put back by kelp_poll (KELP_CQE_F_PATH) */
	uint8_t *path_area; /* n_path_slots x KELP_PATH_SLOT bytes, NULL until first use */
	uint32_t n_path_slots;
	uint32_t path_free;	  /* head of the free slot list (index), UINT32_MAX = none */
	uint32_t *path_next;	  /* per slot: next free slot */
	uint64_t *path_user_data; /* per slot: the caller's user_data */
	uint8_t *path_scratch;	  /* arena scratch of the sync calls (stat, list, readlink) */
};

/* One path slot: the path, then LIST's "after" name (no NULs: lengths travel in the SQE). */
#define KELP_PATH_SLOT (KELP_PATH_MAX + KELP_NAME_MAX + 1)
/* Arena bytes of the sync calls' scratch buffer. */
#define KELP_PATH_SCRATCH (64u << 10)

/* io.c's helpers for path.c: the next free SQE (NULL and *@err set when none), count a filled
 * one, and submit + wait for the only request in flight (Return: its result or -errno). */
struct kelp_sqe *kelp_next_sqe(struct kelp_session *s, int *err);
void kelp_queued_one(struct kelp_session *s);
int kelp_wait_one(struct kelp_session *s, struct kelp_cqe *out);

/* kelp_path_fixup - put back the caller's user_data of a path completion and free its slot.
 * kelp_poll, owning thread. */
void kelp_path_fixup(struct kelp_session *s, struct kelp_cqe *c);
/* kelp_path_fini - free the path slots' memory (not the arena parts). kelp_close. */
void kelp_path_fini(struct kelp_session *s);

/* Check whether kelpd still holds the session: segment state, then (when @check_socket) a
 * zero-timeout poll of the socket. Sets s->dead. Return: 0 alive, or s->dead. Owning thread. */
int kelp_session_check_alive(struct kelp_session *s, int check_socket);

/* kelp_session_alloc - a session object around the connected socket @sock (-1 = none yet), not
 * attached to a segment. Return: 0 and it in *@out, or -ENOMEM (*@out NULL). */
int kelp_session_alloc(int sock, int32_t wait_spin_us, struct kelp_session **out);

/*
 * kelp_session_attach - map the segment @memfd (closed in every case), check its header, set up the
 * rings and the arena allocator; @doorbell_fd is the session's doorbell eventfd (owned by @s from
 * now on). The second half of kelp_connect(), also used by unit tests that hand fds over directly.
 * Return: 0; -EPROTONOSUPPORT / -EPROTO bad header; -ENOMEM; errnos of fstat/mmap.
 */
int kelp_session_attach(struct kelp_session *s, int memfd, int doorbell_fd);

int kelp_arena_alloc_init(struct kelp_arena_alloc *a, uint64_t arena_size);
void kelp_arena_alloc_fini(struct kelp_arena_alloc *a);

#endif
