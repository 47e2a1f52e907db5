/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Session segment geometry (kelp_abi.h), shared by kelpd (which creates segments) and libkelp
 * (which checks what it received).
 */
#include <errno.h>

#include "core/config.h" /* KELP_MAX_QUEUE_DEPTH */
#include "kelp_abi.h"
#include "kelp_ring.h"

static uint64_t round_up(uint64_t v, uint64_t align)
{
	return (v + align - 1) / align * align;
}

int kelp_seg_layout(uint32_t sq_entries, uint64_t arena_size, uint64_t align,
		    struct kelp_seg_layout *out)
{
	if (sq_entries < 2 || sq_entries > KELP_MAX_QUEUE_DEPTH ||
	    (sq_entries & (sq_entries - 1)) != 0)
		return -EINVAL;
	if (align != 4096 && align != (2u << 20))
		return -EINVAL;
	if (arena_size == 0 || arena_size > (64ull << 30))
		return -EINVAL;
	struct kelp_seg_layout l = {0};
	l.sq_entries = sq_entries;
	l.cq_entries = sq_entries * 2;
	l.sq_off = KELP_SEG_HDR_SIZE;
	uint64_t cq_off =
		round_up(l.sq_off + kelp_ring_bytes(l.sq_entries, sizeof(struct kelp_sqe)), 4096);
	uint64_t cq_end = cq_off + kelp_ring_bytes(l.cq_entries, sizeof(struct kelp_cqe));
	l.cq_off = (uint32_t)cq_off;
	l.arena_off = round_up(cq_end, align);
	l.arena_size = round_up(arena_size, align);
	l.seg_size = l.arena_off + l.arena_size;
	*out = l;
	return 0;
}

int kelp_seg_hdr_check(const struct kelp_seg_hdr *h, uint64_t seg_size)
{
	if (h->magic != KELP_SEG_MAGIC || h->abi_version != KELP_ABI_VERSION)
		return -EPROTONOSUPPORT;
	if (h->hdr_size != KELP_SEG_HDR_SIZE || h->seg_size != seg_size)
		return -EPROTO;
	struct kelp_seg_layout l;
	uint64_t align = h->hugepages ? (2u << 20) : 4096;
	if (kelp_seg_layout(h->sq_entries, h->arena_size, align, &l) != 0)
		return -EPROTO;
	if (l.sq_off != h->sq_off || l.cq_off != h->cq_off || l.cq_entries != h->cq_entries ||
	    l.arena_off != h->arena_off || l.arena_size != h->arena_size || l.seg_size != seg_size)
		return -EPROTO;
	if (h->max_io == 0 || h->max_io > h->arena_size)
		return -EPROTO;
	return 0;
}
