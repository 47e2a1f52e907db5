/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The visible intervals follow weed's readResolvedChunks (weed/filer/filechunks_read.go) step by
 * step, so that kelp shows the same chunk as the filer at every byte, quirks included:
 *   points: a start (x = offset) and an end (x = offset + size) per chunk, sorted by x, then ts, an
 *     end before a start; weed's sort is not stable and leaves the order of two starts at the same
 *     x and ts to chance, kelp takes the chunk listed first.
 *   queue: the chunks covering x, by ts ascending (the back shows). A start with a greater ts than
 *     the back closes the back's interval at x and goes to the back; a start with a smaller ts goes
 *     before the first entry with a greater ts; one with a ts EQUAL to the back's is dropped.
 *   an end removes the entry nearest the back with its ts (not necessarily its own chunk, when two
 *     share a ts); when that was the back, the back's interval closes at x. (The one departure:
 *     an interval is clipped to its chunk's own range, see add_visible.)
 * The queue is an array kept sorted by ts, so a position is a binary search.
 */
#include "proto/chunk_plan.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct point {
	int64_t x;
	int64_t ts;
	uint32_t chunk;
	bool is_start;
};

static int point_cmp(const void *pa, const void *pb)
{
	const struct point *a = pa, *b = pb;
	if (a->x != b->x)
		return a->x < b->x ? -1 : 1;
	if (a->ts != b->ts)
		return a->ts < b->ts ? -1 : 1;
	if (a->is_start != b->is_start)
		return a->is_start ? 1 : -1; /* an end first */
	return a->chunk < b->chunk ? -1 : a->chunk > b->chunk;
}

/* the first index of @q (@n entries, ts ascending) whose ts is > @ts */
static uint32_t upper_bound(const struct point *q, uint32_t n, int64_t ts)
{
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (q[mid].ts <= ts)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * weed's addToVisibles: [prev_x, x) shown by @show, when not empty. Clipped to @show's own range:
 * when two chunks share a ts, weed's end point may remove the other one from the queue, which then
 * "shows" past its own end; weed would read beyond that chunk's data there (an error or short
 * read), kelp gives a hole.
 */
static void add_visible(struct kelp_chunk_visible *v, uint32_t *nv,
			const struct kelp_filer_chunk *chunks, int64_t prev_x, int64_t x,
			const struct point *show)
{
	const struct kelp_filer_chunk *c = &chunks[show->chunk];
	int64_t start = prev_x > c->offset ? prev_x : c->offset;
	int64_t stop = x < c->offset + (int64_t)c->size ? x : c->offset + (int64_t)c->size;
	if (start >= stop)
		return;
	v[*nv] = (struct kelp_chunk_visible){
		.start = start,
		.stop = stop,
		.chunk = show->chunk,
		.chunk_off = (uint64_t)(start - c->offset),
	};
	(*nv)++;
}

int kelp_chunk_visibles(const struct kelp_filer_chunk *chunks, uint32_t n,
			struct kelp_chunk_visible **out, uint32_t *count)
{
	*out = NULL;
	*count = 0;
	if (n > KELP_CHUNK_PLAN_MAX)
		return -E2BIG;
	uint32_t np = 0;
	for (uint32_t i = 0; i < n; i++) {
		const struct kelp_filer_chunk *c = &chunks[i];
		if (c->is_chunk_manifest || c->offset < 0 || c->size > (uint64_t)INT64_MAX ||
		    (int64_t)c->size > INT64_MAX - c->offset)
			return -EINVAL;
		if (c->size)
			np += 2;
	}
	if (!np)
		return 0;
	/* every point adds at most one interval (it closes at most one): np bounds them */
	struct point *pts = malloc(np * sizeof(*pts)), *q = malloc(n * sizeof(*q));
	struct kelp_chunk_visible *v = malloc(np * sizeof(*v));
	if (!pts || !q || !v) {
		free(pts);
		free(q);
		free(v);
		return -ENOMEM;
	}
	np = 0;
	for (uint32_t i = 0; i < n; i++) {
		const struct kelp_filer_chunk *c = &chunks[i];
		if (!c->size)
			continue;
		pts[np++] = (struct point){c->offset, c->modified_ts_ns, i, true};
		pts[np++] =
			(struct point){c->offset + (int64_t)c->size, c->modified_ts_ns, i, false};
	}
	qsort(pts, np, sizeof(*pts), point_cmp);

	uint32_t nq = 0, nv = 0;
	int64_t prev_x = 0;
	for (uint32_t i = 0; i < np; i++) {
		const struct point *p = &pts[i];
		const struct point *back = nq ? &q[nq - 1] : NULL;
		if (p->is_start) {
			if (back && p->x != prev_x && back->ts < p->ts) {
				add_visible(v, &nv, chunks, prev_x, p->x, back);
				prev_x = p->x;
			}
			if (!back || back->ts < p->ts) {
				q[nq++] = *p;
				prev_x = p->x;
			} else {
				uint32_t at = upper_bound(q, nq, p->ts);
				if (at < nq) { /* else: no greater ts, weed drops it */
					memmove(&q[at + 1], &q[at], (nq - at) * sizeof(*q));
					q[at] = *p;
					nq++;
				}
			}
		} else {
			/* the entry nearest the back with this ts: just before the first greater
			 * one */
			uint32_t at = upper_bound(q, nq, p->ts);
			bool found = at > 0 && q[at - 1].ts == p->ts;
			bool is_last = nq == 0 || (found && at == nq);
			if (found) {
				memmove(&q[at - 1], &q[at], (nq - at) * sizeof(*q));
				nq--;
			}
			if (is_last && back) {
				/* @back may have just been removed from q: use the copy */
				struct point shown = *back;
				add_visible(v, &nv, chunks, prev_x, p->x, &shown);
				prev_x = p->x;
			}
		}
	}
	free(pts);
	free(q);
	if (!nv) {
		free(v);
		return 0;
	}
	*out = v;
	*count = nv;
	return 0;
}

int64_t kelp_chunk_plan(const struct kelp_chunk_visible *vis, uint32_t nvis, uint64_t file_size,
			uint64_t offset, uint32_t len, struct kelp_chunk_piece *pieces,
			uint32_t cap, uint32_t *npieces)
{
	*npieces = 0;
	for (uint32_t i = 0; i < nvis; i++)
		if (vis[i].start < 0 || vis[i].start >= vis[i].stop ||
		    (i && vis[i].start < vis[i - 1].stop))
			return -EINVAL;
	if (offset >= file_size || !len)
		return 0;
	uint64_t end = file_size - offset < len ? file_size : offset + len;

	/* the first visible interval that ends after @offset */
	uint32_t lo = 0, hi = nvis;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if ((uint64_t)vis[mid].stop <= offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	uint32_t n = 0;
	uint64_t pos = offset;
	for (uint32_t i = lo; pos < end; i++) {
		uint64_t vs = i < nvis ? (uint64_t)vis[i].start : end;
		if (vs > pos) { /* a hole up to the next interval (or the end) */
			uint64_t stop = vs < end ? vs : end;
			if (n == cap)
				return -ENOSPC;
			pieces[n++] = (struct kelp_chunk_piece){
				.chunk = KELP_CHUNK_HOLE,
				.len = (uint32_t)(stop - pos),
				.dst_off = pos - offset,
			};
			pos = stop;
		}
		if (i >= nvis || pos >= end)
			break;
		uint64_t stop = (uint64_t)vis[i].stop < end ? (uint64_t)vis[i].stop : end;
		if (n == cap)
			return -ENOSPC;
		pieces[n++] = (struct kelp_chunk_piece){
			.chunk = vis[i].chunk,
			.len = (uint32_t)(stop - pos),
			.chunk_off = vis[i].chunk_off + (pos - (uint64_t)vis[i].start),
			.dst_off = pos - offset,
		};
		pos = stop;
	}
	*npieces = n;
	return (int64_t)(end - offset);
}
