/* SPDX-License-Identifier: Apache-2.0 */
/*
 * --mode pread: the page-cache floor. Each read is one pread(2) of the needle's data from its .dat
 * file into a private buffer, in this process: what an application that opened the volume files
 * itself would pay (syscall + copy), with no daemon, ring or HTTP in between. Synchronous, so depth
 * only changes the order of reads: compare against it with one thread at depth 1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/kelp-bench/bench.h"

struct pread_state {
	unsigned nslots;
	uint8_t *bufs[];
};

static int pread_global_init(struct bench_opts *o, struct bench_targets *tg)
{
	for (size_t i = 0; i < tg->n; i++) {
		if (tg->v[i].dat_fd < 0) {
			fprintf(stderr,
				"kelp-bench: --mode pread: %s is not in the volume directories\n",
				tg->v[i].fid_str);
			return -ENOENT;
		}
	}
	return 0;
}

static int pread_thread_init(struct bench_thread *t)
{
	unsigned n = t->opts->depth;
	struct pread_state *st = calloc(1, sizeof(*st) + n * sizeof(st->bufs[0]));
	if (!st)
		return -ENOMEM;
	t->mode_state = st;
	for (unsigned i = 0; i < n; i++) {
		st->bufs[i] = aligned_alloc(4096, ((size_t)t->buf_size + 4095) & ~(size_t)4095);
		if (!st->bufs[i]) {
			snprintf(t->fatal_msg, sizeof(t->fatal_msg),
				 "cannot allocate %u buffers of %u bytes", n, t->buf_size);
			return -ENOMEM;
		}
		memset(st->bufs[i], 0, t->buf_size); /* fault the pages in before timing */
		st->nslots++;
	}
	return 0;
}

static int pread_start(struct bench_thread *t, unsigned slot, const struct bench_target *tg,
		       int64_t *result)
{
	struct pread_state *st = t->mode_state;
	size_t want = tg->data_size < t->buf_size ? tg->data_size : t->buf_size;
	size_t got = 0;
	while (got < want) {
		ssize_t n = pread(tg->dat_fd, st->bufs[slot] + got, want - got,
				  (off_t)(tg->data_off + got));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			*result = -errno;
			return 1;
		}
		if (n == 0)
			break; /* file shorter than the index says: report what we got */
		got += (size_t)n;
	}
	*result = (int64_t)got;
	return 1;
}

static int pread_reap(struct bench_thread *t, struct bench_done *done, unsigned max)
{
	return 0; /* every read finished inside start() */
}

static const uint8_t *pread_slot_buf(struct bench_thread *t, unsigned slot)
{
	struct pread_state *st = t->mode_state;
	return st->bufs[slot];
}

static void pread_thread_fini(struct bench_thread *t)
{
	struct pread_state *st = t->mode_state;
	if (!st)
		return;
	for (unsigned i = 0; i < st->nslots; i++)
		free(st->bufs[i]);
	free(st);
	t->mode_state = NULL;
}

const struct bench_mode bench_mode_pread = {
	.name = "pread",
	.about = "pread(2) of the .dat files in this process (page-cache floor)",
	.needs_dat = true,
	.global_init = pread_global_init,
	.thread_init = pread_thread_init,
	.start = pread_start,
	.reap = pread_reap,
	.slot_buf = pread_slot_buf,
	.thread_fini = pread_thread_fini,
};
