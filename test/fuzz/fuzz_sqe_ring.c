/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client -> lcore boundary as a hostile client sees it: arbitrary published ring indices and
 * arbitrary SQE bytes, consumed the way the lcore does (kelp_ring_cons_* then kelp_sqe_check on a
 * private copy). Invariants: an impossible index is refused (-EPROTO) and leaves the view as it
 * was; no slot access leaves the ring; an accepted READ lies inside the arena with 1..max_io bytes.
 * lcore/worker/sqe_check.c is compiled into this target (the fuzz build links core/ and proto/
 * only).
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kelp_ring.h"
#include "lcore/worker/sqe_check.c"

#define ENTRIES 16u
#define ARENA	(1u << 20)
#define MAX_IO	(1u << 18)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static _Alignas(64)
		uint8_t mem[sizeof(struct kelp_ring_ctl) + ENTRIES * sizeof(struct kelp_sqe)];
	struct kelp_ring_ctl *ctl = (struct kelp_ring_ctl *)mem;
	memset(mem, 0, sizeof(mem));
	if (size < 8)
		return 0;
	uint32_t start, tail;
	memcpy(&start, data, 4); /* where the indices are when the session starts */
	memcpy(&tail, data + 4, 4);
	data += 8;
	size -= 8;
	ctl->head = ctl->tail = start;
	struct kelp_ring cons;
	kelp_ring_attach(&cons, ctl, ENTRIES, sizeof(struct kelp_sqe), 0);
	/* the client fills the slots with whatever it likes and publishes any tail */
	size_t fill =
		size < ENTRIES * sizeof(struct kelp_sqe) ? size : ENTRIES * sizeof(struct kelp_sqe);
	memcpy(mem + sizeof(*ctl), data, fill);
	ctl->tail = tail;

	int avail = kelp_ring_cons_avail(&cons);
	if (tail - start > ENTRIES) {
		assert(avail == -EPROTO);
		assert(cons.local == start);
		return 0;
	}
	assert(avail == (int)(tail - start));
	for (int i = 0; i < avail; i++) {
		const uint8_t *slot = kelp_ring_cons_slot(&cons, (uint32_t)i);
		assert(slot >= mem + sizeof(*ctl) &&
		       slot + sizeof(struct kelp_sqe) <= mem + sizeof(mem));
		struct kelp_sqe e;
		memcpy(&e, slot, sizeof(e));
		int rc = kelp_sqe_check(&e, ARENA, MAX_IO);
		int path = kelp_op_is_path(e.opcode);
		assert(rc == 0 || rc == -EINVAL || rc == -EFAULT || rc == -E2BIG ||
		       (rc == -ENAMETOOLONG && path));
		if (rc == 0 && (e.opcode == KELP_OP_READ || path)) {
			assert(e.length >= 1 && e.length <= MAX_IO);
			assert(e.buf_off < ARENA && e.buf_off + e.length <= ARENA);
		}
		if (rc == 0 &&
		    path) /* the path's bytes (and a listing's start name) in the arena */
			assert(e.path_len >= 1 && e.path_len <= KELP_PATH_MAX &&
			       e.after_len <= KELP_NAME_MAX && e.path_off < ARENA &&
			       (uint64_t)e.path_off + e.path_len + e.after_len <= ARENA);
		/* accepted: a known opcode; flags only those defined, never both transports, and
		 * only on READ/STAT */
		if (rc == 0)
			assert(e.opcode <= KELP_OP_PATH_READLINK &&
			       (e.flags & ~(KELP_SQE_F_RDMA_ONLY | KELP_SQE_F_TCP_ONLY)) == 0 &&
			       e.flags != (KELP_SQE_F_RDMA_ONLY | KELP_SQE_F_TCP_ONLY) &&
			       ((e.opcode == KELP_OP_READ || e.opcode == KELP_OP_STAT) ||
				e.flags == 0));
	}
	kelp_ring_cons_release(&cons, (uint32_t)avail);
	assert(ctl->head == tail);
	return 0;
}
