/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Session segments on kelpd's side: memfd creation (huge pages when possible), sealing, layout,
 * header, kelpd's ring views; state changes and client wake-ups.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <numa.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/fault.h"
#include "core/owner.h"
#include "lcore/worker/lsession.h"

#define HUGE_2M (2u << 20)

/* Create, size, seal and map a memfd of the layout; *fd_out and *seg_out on success. */
static int make_segment(int huge, uint32_t sq_entries, uint64_t arena, uint64_t populate,
			int numa_node, struct kelp_seg_layout *l, int *fd_out, uint8_t **seg_out)
{
	int rc = kelp_seg_layout(sq_entries, arena, huge ? HUGE_2M : 4096, l);
	if (rc != 0)
		return rc;
	unsigned flags = MFD_CLOEXEC | MFD_ALLOW_SEALING | (huge ? MFD_HUGETLB : 0);
	int fd = memfd_create("kelp-session", flags);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)l->seg_size) != 0)
		goto fail;
	/* The client gets this fd read-write: seal the size so it can never shrink the file under
	 * our mapping (which would SIGBUS kelpd) or grow it. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
		goto fail;
	/* a shared hugetlb mapping reserves its pages here: no free huge pages fails cleanly now */
	void *p = mmap(NULL, l->seg_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto fail;
	/* memory policy first (it applies to pages not yet allocated, also to those the lcore
	 * allocates later by touching them) */
	if (numa_node >= 0 && numa_available() >= 0)
		numa_tonode_memory(p, l->seg_size, numa_node);
	/* The header, the rings and the first @populate bytes of the arena are allocated and mapped
	 * now: no page faults on the lcore's first copies into buffers there (libkelp's
	 * kelp_buf_alloc gives the lowest free pages first). The rest is allocated on first use
	 * (libkelp's kelp_buf_alloc allocates a new buffer's pages in the client; the lcore then
	 * only maps them): a session costs the memory its buffers use, not arena_mb (clearing 64
	 * MiB of pages took ~200 ms of kelpd's CPU per session on the benchmark machine). */
	uint64_t page = huge ? HUGE_2M : 4096;
	uint64_t upto = l->arena_off + (populate < l->arena_size ? populate : l->arena_size);
	upto = (upto + page - 1) / page * page;
	if (upto > l->seg_size)
		upto = l->seg_size;
	if (madvise(p, upto, MADV_POPULATE_WRITE) != 0) {
		for (uint64_t off = 0; off < upto; off += page)
			((volatile uint8_t *)p)[off] = 0; /* kernels before 5.14: touch each page */
	}
	*fd_out = fd;
	*seg_out = p;
	return 0;
fail:
	rc = -errno;
	close(fd);
	return rc;
}

int lcore_session_create(uint64_t id, uint32_t sq_entries, uint32_t arena_mb, uint32_t populate_mb,
			 int hugepages, int numa_node, uint32_t lcore_id,
			 struct lcore_session **out)
{
	struct lcore_session *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	uint64_t arena = (uint64_t)arena_mb << 20, populate = (uint64_t)populate_mb << 20;
	struct kelp_seg_layout l;
	int rc = -ENOMEM, huge = 0;
	if (hugepages != 0) {
		rc = make_segment(1, sq_entries, arena, populate, numa_node, &l, &s->memfd,
				  &s->seg);
		huge = rc == 0;
	}
	if (rc != 0 && hugepages != 1)
		rc = make_segment(0, sq_entries, arena, populate, numa_node, &l, &s->memfd,
				  &s->seg);
	if (rc != 0) {
		free(s);
		return rc;
	}
	s->doorbell_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	rc = s->doorbell_fd < 0 ? -errno : 0;
	/* the client holds the memfd read-write and can punch holes into it (the seals allow it);
	 * with huge pages our next access there may find no page: a SIGBUS we survive (fault.h) */
	if (rc == 0)
		rc = kelp_fault_zone_add(s->seg, l.seg_size, huge ? HUGE_2M : 4096, &s->faulted);
	if (rc != 0) {
		if (s->doorbell_fd >= 0)
			close(s->doorbell_fd);
		munmap(s->seg, l.seg_size);
		close(s->memfd);
		free(s);
		return rc;
	}
	struct kelp_seg_hdr *h = (struct kelp_seg_hdr *)s->seg;
	h->magic = KELP_SEG_MAGIC;
	h->abi_version = KELP_ABI_VERSION;
	h->hdr_size = KELP_SEG_HDR_SIZE;
	h->abi_minor = KELP_ABI_MINOR;
	h->seg_size = l.seg_size;
	h->session_id = id;
	h->sq_off = l.sq_off;
	h->sq_entries = l.sq_entries;
	h->cq_off = l.cq_off;
	h->cq_entries = l.cq_entries;
	h->arena_off = l.arena_off;
	h->arena_size = l.arena_size;
	/* one read must fit the arena and its byte count the CQE's i32 result */
	h->max_io = l.arena_size < (1u << 30) ? (uint32_t)l.arena_size : (1u << 30);
	h->lcore_id = lcore_id;
	h->hugepages = (uint32_t)huge;
	h->state = KELP_SEG_LIVE;

	s->id = id;
	s->seg_size = l.seg_size;
	s->hdr = h;
	s->arena = s->seg + l.arena_off;
	s->arena_size = l.arena_size;
	s->max_io = h->max_io;
	s->lcore_id = lcore_id;
	s->created_ns = kelp_now_ns();
	kelp_ring_attach(&s->sq, (struct kelp_ring_ctl *)(s->seg + l.sq_off), l.sq_entries,
			 sizeof(struct kelp_sqe), 0);
	kelp_ring_attach(&s->cq, (struct kelp_ring_ctl *)(s->seg + l.cq_off), l.cq_entries,
			 sizeof(struct kelp_cqe), 1);
	*out = s;
	return 0;
}

void lcore_session_destroy(struct lcore_session *s)
{
	if (!s)
		return;
	kelp_fault_zone_del(s->seg);
	munmap(s->seg, s->seg_size);
	close(s->memfd);
	close(s->doorbell_fd);
	free(s);
}

static void futex_wake_all(uint32_t *word)
{
	/* shared futex: the client waits on the same memfd page through its own mapping */
	syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

void lcore_session_set_state(struct lcore_session *s, uint32_t state, int32_t err)
{
	KELP_ASSERT_OWNER(s->owner); /* control passes after the lcore's thread ended */
	s->hdr->seg_error = err;
	/* release pairs with the client's acquire of state: it sees seg_error and earlier CQEs */
	__atomic_store_n(&s->hdr->state, state, __ATOMIC_RELEASE);
	futex_wake_all(&s->cq.ctl->tail);
}

void lcore_session_wake_client(struct lcore_session *s)
{
	KELP_ASSERT_OWNER(s->owner);
	uint32_t *flags = &s->cq.ctl->flags;
	/* Dekker with the client's sleep (shm/ABI.md 5): our tail store (just published) before
	 * this flag load; its flag store before its tail load. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__builtin_expect((__atomic_load_n(flags, __ATOMIC_RELAXED) & KELP_CQ_WANT_WAKE) != 0,
			     0)) {
		__atomic_fetch_and(flags, ~KELP_CQ_WANT_WAKE, __ATOMIC_RELAXED);
		futex_wake_all(&s->cq.ctl->tail);
	}
}
