/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Messages between kelpd's control thread and its worker lcores, carried by value over SPSC rings
 * (shm/kelp_ring.h) in process memory. Each message hands the object it points to over to the
 * receiver (engine.h: ownership).
 */
#ifndef KELP_LCORE_MSG_H
#define KELP_LCORE_MSG_H

#include <stdint.h>

#include "kelp_ring.h"

enum kelp_msg_type {
	/* control -> lcore */
	KELP_MSG_SESSION_ADD = 1, /* .session: start serving it */
	KELP_MSG_SESSION_DEL = 2, /* .session: the client is gone; release it when quiescent */
	KELP_MSG_REMOTE_DONE = 3, /* .remote: a non-local read finished; write its CQE */
	KELP_MSG_STOP = 4,	  /* leave the loop */
	/* lcore -> control */
	KELP_MSG_SESSION_GONE = 16, /* .session: the lcore no longer touches it; free it */
	KELP_MSG_REMOTE_READ = 17,  /* .remote: serve this read by another path */
};

struct lcore_session;
struct kelp_remote_read;

struct kelp_msg {
	uint32_t type; /* enum kelp_msg_type */
	uint32_t lcore_id;
	union {
		struct lcore_session *session;
		struct kelp_remote_read *remote;
	};
};

/* One direction between two threads: the shared ring part and each side's private view. */
struct kelp_msg_chan {
	struct kelp_ring_ctl
		*ctl;	       /* ring memory (cache-aligned), slots of struct kelp_msg follow */
	struct kelp_ring prod; /* the sender's view */
	struct kelp_ring cons; /* the receiver's view */
	int numa_alloc;	       /* ctl came from numa_alloc_onnode (else posix_memalign) */
};

#define KELP_MSG_RING_ENTRIES 4096u

/* kelp_msg_chan_init / _fini - allocate (on @numa_node, -1 = anywhere) and free a channel.
 * Control thread, before the lcores start / after they stopped. Return: 0; -ENOMEM. */
int kelp_msg_chan_init(struct kelp_msg_chan *c, int numa_node);
void kelp_msg_chan_fini(struct kelp_msg_chan *c);

#endif
