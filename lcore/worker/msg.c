/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <numa.h>
#include <stdlib.h>
#include <string.h>

#include "lcore/worker/msg.h"

static size_t chan_bytes(void)
{
	return kelp_ring_bytes(KELP_MSG_RING_ENTRIES, sizeof(struct kelp_msg));
}

int kelp_msg_chan_init(struct kelp_msg_chan *c, int numa_node)
{
	void *mem = NULL;
	/* on the node of the lcore that polls it (numa_alloc_* memory is page-aligned) */
	c->numa_alloc = numa_node >= 0 && numa_available() >= 0;
	if (c->numa_alloc)
		mem = numa_alloc_onnode(chan_bytes(), numa_node);
	else if (posix_memalign(&mem, 4096, chan_bytes()) != 0)
		mem = NULL;
	if (!mem)
		return -ENOMEM;
	memset(mem, 0, chan_bytes());
	c->ctl = mem;
	kelp_ring_attach(&c->prod, c->ctl, KELP_MSG_RING_ENTRIES, sizeof(struct kelp_msg), 1);
	kelp_ring_attach(&c->cons, c->ctl, KELP_MSG_RING_ENTRIES, sizeof(struct kelp_msg), 0);
	return 0;
}

void kelp_msg_chan_fini(struct kelp_msg_chan *c)
{
	if (c->ctl && c->numa_alloc)
		numa_free(c->ctl, chan_bytes());
	else
		free(c->ctl);
	c->ctl = NULL;
}
