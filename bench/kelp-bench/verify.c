/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelp-bench --verify: whether a read returned the bytes of its needle, and what to make of a
 * needle that was overwritten or deleted while the bench ran. Everything here runs on the worker
 * thread that owns the struct bench_thread. (test/unit/test_bench_verify.c includes this file.)
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "bench/kelp-bench/bench.h"
#include "core/crc32c.h"

static int push_suspect(struct bench_thread *t, const struct bench_target *tg)
{
	if (t->nsuspects == t->suspects_cap) {
		size_t cap = t->suspects_cap ? t->suspects_cap * 2 : 64;
		const struct bench_target **n = realloc(t->suspects, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		t->suspects = n;
		t->suspects_cap = cap;
	}
	t->suspects[t->nsuspects++] = tg;
	return 0;
}

/*
 * --verify: a successful read of a whole needle (the buffer could hold it) must return exactly its
 * stored size and bytes whose CRC-32C is the one stored with the needle (raw or legacy form): bytes
 * of another needle, or torn ones, fail. Unless the needle was overwritten after the targets were
 * built: a read that names the version it returned (@d, when the mode has it: the CQE's crc and
 * size, the ETag and length) and whose bytes are all of that version and match its CRC -- or that
 * version is larger than the buffer, so its CRC cannot be checked -- is a suspect, and
 * bench_verify_settle() decides after the run. Worker thread.
 */
void bench_verify_read(struct bench_thread *t, const struct bench_target *tg, const uint8_t *buf,
		       int64_t result, const struct bench_done *d)
{
	if (!tg->has_crc || !buf || tg->data_size > t->buf_size)
		return; /* nothing known to compare with, or a partial read by design */
	t->verified++;
	if ((uint64_t)result == tg->data_size &&
	    kelp_crc32c_classify(tg->stored_crc, buf, (size_t)result) != KELP_CRC_MISMATCH)
		return;
	if (d && d->has_crc && t->mode->restat) {
		bool whole = d->size == (uint64_t)result && (uint64_t)result <= t->buf_size &&
			     kelp_crc32c_classify(d->crc, buf, (size_t)result) != KELP_CRC_MISMATCH;
		bool cut = d->size > t->buf_size && (uint64_t)result >= t->buf_size;
		if ((whole || cut) && push_suspect(t, tg) == 0)
			return;
	}
	t->verify_failures++;
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(const void *const *)a, y = (uintptr_t)*(const void *const *)b;
	return x < y ? -1 : x > y;
}

/*
 * --verify, after the run (nothing in flight): ask once per suspect needle how it is now. When its
 * size or CRC differs from the targets' (or it is gone), it was overwritten or deleted during the
 * run: its reads count as changed. When it is as it was, they returned wrong bytes: failures (also
 * when it cannot be asked, e.g. the run ended on an error with reads in flight). Worker thread.
 */
void bench_verify_settle(struct bench_thread *t)
{
	if (t->nsuspects)
		qsort(t->suspects, t->nsuspects, sizeof(*t->suspects), cmp_ptr);
	for (size_t i = 0, j; i < t->nsuspects; i = j) {
		const struct bench_target *tg = t->suspects[i];
		for (j = i; j < t->nsuspects && t->suspects[j] == tg; j++)
			;
		uint64_t size = 0;
		uint32_t crc = 0;
		int rc = t->mode->restat(t, tg, &size, &crc);
		if (rc == -ENOENT || (rc == 0 && (size != tg->data_size || crc != tg->stored_crc)))
			t->verify_changed += j - i;
		else
			t->verify_failures += j - i;
	}
	free(t->suspects);
	t->suspects = NULL;
	t->nsuspects = t->suspects_cap = 0;
}
