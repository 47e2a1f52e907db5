/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Buffer allocation in a session's arena: 4 KiB pages, first fit from a moving hint. Buffers are
 * meant to be set up once and reused, so an O(pages) search is fine and keeps this obvious.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "session.h"

#define PAGE 4096u

int kelp_arena_alloc_init(struct kelp_arena_alloc *a, uint64_t arena_size)
{
	a->npages = (uint32_t)(arena_size / PAGE);
	a->hint = 0;
	a->run_len = calloc(a->npages, sizeof(*a->run_len));
	a->used = calloc(a->npages, 1);
	a->mapped = calloc(a->npages, 1);
	if (!a->run_len || !a->used || !a->mapped) {
		kelp_arena_alloc_fini(a);
		return -ENOMEM;
	}
	return 0;
}

void kelp_arena_alloc_fini(struct kelp_arena_alloc *a)
{
	free(a->run_len);
	free(a->used);
	free(a->mapped);
	a->run_len = NULL;
	a->used = NULL;
	a->mapped = NULL;
}

/* First run of @n free pages at or after @from, or UINT32_MAX. */
static uint32_t find_run(const struct kelp_arena_alloc *a, uint32_t from, uint32_t n)
{
	uint32_t run = 0;
	for (uint32_t p = from; p < a->npages; p++) {
		run = a->used[p] ? 0 : run + 1;
		if (run == n)
			return p + 1 - n;
	}
	return UINT32_MAX;
}

/*
 * Allocate the memory behind a new buffer now, in the caller's thread (best effort: an old kernel
 * without MADV_POPULATE_WRITE leaves it to first use). kelpd allocates only the start of the
 * arena when the session opens ([engine] arena_populate_mb); without this, kelpd's lcore would
 * allocate and clear the pages of a buffer beyond it on its first copy there, stalling every
 * session it serves. Pages already allocated are only mapped. Once per page: a buffer reusing
 * pages an earlier one populated costs no system call (kelpd's HTTP endpoint allocates per
 * request).
 */
static void prefault(struct kelp_session *s, uint8_t *buf, uint64_t len)
{
	uint64_t page = s->hdr->hugepages ? 2u << 20 : PAGE;
	uint64_t from = (uint64_t)(buf - s->seg) / page * page;
	uint64_t to = ((uint64_t)(buf - s->seg) + len + page - 1) / page * page;
	(void)madvise(s->seg + from, to - from, MADV_POPULATE_WRITE);
}

void *kelp_buf_alloc(struct kelp_session *s, size_t size)
{
	struct kelp_arena_alloc *a = &s->alloc;
	if (size == 0) {
		errno = EINVAL;
		return NULL;
	}
	uint64_t n64 = ((uint64_t)size + PAGE - 1) / PAGE;
	if (n64 > a->npages) {
		errno = ENOMEM;
		return NULL;
	}
	uint32_t n = (uint32_t)n64;
	uint32_t first = find_run(a, a->hint, n);
	if (first == UINT32_MAX)
		first = find_run(a, 0, n);
	if (first == UINT32_MAX) {
		errno = ENOMEM;
		return NULL;
	}
	int fresh = 0;
	for (uint32_t p = first; p < first + n; p++) {
		a->used[p] = 1;
		fresh |= !a->mapped[p];
		a->mapped[p] = 1;
	}
	a->run_len[first] = n;
	a->hint = first + n < a->npages ? first + n : 0;
	uint8_t *buf = s->arena + (uint64_t)first * PAGE;
	if (fresh)
		prefault(s, buf, (uint64_t)n * PAGE);
	return buf;
}

void kelp_buf_free(struct kelp_session *s, void *buf)
{
	struct kelp_arena_alloc *a = &s->alloc;
	if (!buf)
		return;
	uint8_t *p = buf;
	if (p < s->arena || p >= s->arena + s->arena_size || (uint64_t)(p - s->arena) % PAGE != 0)
		abort(); /* not from kelp_buf_alloc(): a caller bug that would corrupt the arena */
	uint32_t first = (uint32_t)((uint64_t)(p - s->arena) / PAGE);
	uint32_t n = a->run_len[first];
	if (n == 0)
		abort(); /* double free */
	for (uint32_t q = first; q < first + n; q++)
		a->used[q] = 0;
	a->run_len[first] = 0;
	if (first < a->hint)
		a->hint = first;
}
