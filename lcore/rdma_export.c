/* SPDX-License-Identifier: Apache-2.0 */
/* kelpd's RDMA export side: the export poller and its set-up (rdma_export.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/volume.h"
#include "lcore/engine.h"
#include "lcore/lcore.h"
#include "core/hostport.h"
#include "lcore/rdma_export.h"
#include "nic/conn.h"
#include "nic/oob.h"

struct kelp_rdma_export {
	struct kelp_engine *eng;
	struct kelp_rdma_dev *dev;
	struct kelp_rdma_lcore *rlc;
	int listen_fd;
	uint32_t lcore_id;
	/* export lcore only */
	struct kelp_rdma_conn *conns[KELP_RDMA_MAX_CONNS];
	size_t nconns;
	uint64_t next_accept_ns;
	int cq_failed;
	struct kelp_rdma_done done[KELP_RDMA_POLL_BATCH]; /* never filled: no reader connections */
	/* written by the export lcore (relaxed), read by anyone */
	struct kelp_rdma_export_stats stats;
};

/* kelp_rdma_export_ops.find on the export lcore: the needle in the engine's local volume set. The
 * bytes are copied into the bounce pool before this poll round ends (rdma_export.h). */
static int export_find(void *arg, const struct kelp_fid *fid, struct kelp_rdma_source *src)
{
	struct kelp_rdma_export *ex = arg;

	return kelp_rdma_source_find(ex->eng->volumes, fid, src, NULL);
}

/* Export lcore: sum the connections' counters into ex->stats (readable by other threads). */
static void publish_stats(struct kelp_rdma_export *ex)
{
	struct kelp_rdma_export_stats *st = &ex->stats;
	struct kelp_rdma_conn_stats sum = {0};
	uint64_t up = 0;

	for (size_t i = 0; i < ex->nconns; i++) {
		const struct kelp_rdma_conn_stats *s = kelp_rdma_conn_stats(ex->conns[i]);

		up += kelp_rdma_conn_state(ex->conns[i]) == KELP_RDMA_UP;
		sum.requests += s->requests;
		sum.replies += s->replies;
		sum.bytes += s->bytes;
		sum.bounced += s->bounced;
		sum.errors += s->errors;
		sum.resets += s->resets;
		sum.too_large += s->too_large;
	}
	__atomic_store_n(&st->requests, sum.requests, __ATOMIC_RELAXED);
	__atomic_store_n(&st->replies, sum.replies, __ATOMIC_RELAXED);
	__atomic_store_n(&st->bytes, sum.bytes, __ATOMIC_RELAXED);
	__atomic_store_n(&st->bounced, sum.bounced, __ATOMIC_RELAXED);
	__atomic_store_n(&st->errors, sum.errors, __ATOMIC_RELAXED);
	__atomic_store_n(&st->resets, sum.resets, __ATOMIC_RELAXED);
	__atomic_store_n(&st->too_large, sum.too_large, __ATOMIC_RELAXED);
	__atomic_store_n(&st->up, up, __ATOMIC_RELAXED);
	__atomic_store_n(&st->replaced, kelp_rdma_lcore_stats(ex->rlc)->retired, __ATOMIC_RELAXED);
}

/* Export lcore: take one pending handshake, if any: reuse a DOWN connection or make one, bring it
 * to RTS, answer. Return 1 when a handshake was handled, 0 when none was pending. */
static int accept_one(struct kelp_rdma_export *ex)
{
	struct kelp_rdma_hello peer, ack;
	struct kelp_rdma_conn *c = NULL;
	int fd, ret;

	fd = kelp_rdma_oob_accept(ex->listen_fd, &peer, KELP_RDMA_EXPORT_OOB_MS);
	if (fd == -EAGAIN)
		return 0;
	if (fd < 0) {
		KELP_STAT_ADD(ex->stats.handshake_errors, 1);
		return 1;
	}
	for (size_t i = 0; i < ex->nconns && !c; i++)
		if (kelp_rdma_conn_state(ex->conns[i]) == KELP_RDMA_DOWN)
			c = ex->conns[i];
	if (!c && ex->nconns < KELP_RDMA_MAX_CONNS) {
		/* allocation on the lcore: only when a new reader appears, never per request */
		c = kelp_rdma_conn_create(ex->rlc, KELP_RDMA_EXPORTER, KELP_RDMA_EXPORT_CREDITS);
		if (c)
			ex->conns[ex->nconns++] = c;
	}
	if (!c) {
		close(fd);
		KELP_STAT_ADD(ex->stats.handshake_errors, 1);
		return 1;
	}
	ret = kelp_rdma_conn_establish(c, &peer, kelp_now_ns());
	kelp_rdma_conn_hello(c, &ack);
	if (ret < 0)
		ack.status = kelp_rdma_errno_status(ret == -EPROTONOSUPPORT ? ret : -EBUSY);
	if (kelp_rdma_oob_answer(fd, &ack, KELP_RDMA_EXPORT_OOB_MS) < 0 && ret == 0)
		ret = -EPIPE;
	if (ret < 0) {
		if (kelp_rdma_conn_state(c) == KELP_RDMA_UP)
			kelp_rdma_conn_failed(c, kelp_now_ns());
		KELP_STAT_ADD(ex->stats.handshake_errors, 1);
		return 1;
	}
	KELP_STAT_ADD(ex->stats.connections, 1);
	return 1;
}

/* The export poller (export lcore): handshakes every KELP_RDMA_ACCEPT_EVERY_MS, the CQ always. */
static int export_poll(struct kelp_lcore *lc, void *arg)
{
	struct kelp_rdma_export *ex = arg;
	uint64_t busy_before, now = kelp_now_ns(); /* vDSO */
	int busy = 0;

	if (ex->cq_failed)
		return KELP_POLL_IDLE;
	if (now >= ex->next_accept_ns) {
		ex->next_accept_ns = now + KELP_RDMA_ACCEPT_EVERY_MS * 1000000ull;
		busy |= accept_one(ex);
		publish_stats(ex);
	}
	busy_before = kelp_rdma_lcore_stats(ex->rlc)->polls_busy;
	if (kelp_rdma_lcore_poll(ex->rlc, ex->done, KELP_RDMA_POLL_BATCH) < 0) {
		/* a broken CQ cannot come back: stop exporting, readers fall back to HTTP */
		fprintf(stderr, "kelpd: lcore %u: the RDMA CQ failed: RDMA export stopped\n", lc->id);
		ex->cq_failed = 1;
		return KELP_POLL_IDLE;
	}
	if (kelp_rdma_lcore_stats(ex->rlc)->polls_busy != busy_before)
		busy = 1;
	return busy ? KELP_POLL_BUSY : KELP_POLL_IDLE;
}

struct kelp_rdma_export *kelp_rdma_export_start(struct kelp_engine *eng, struct kelp_lcore *lc,
						struct kelp_rdma_dev *dev, const char *listen,
						uint32_t max_read_mb)
{
	struct kelp_rdma_lcore_config cfg = {
		.bounce_slots = KELP_RDMA_EXPORT_BOUNCE_SLOTS,
		.bounce_size = KELP_RDMA_EXPORT_BOUNCE_SIZE,
		.max_read = max_read_mb ? max_read_mb << 20 : 0, /* the config bounds it */
	};
	struct kelp_rdma_export *ex;
	char host[256];
	uint16_t port;
	int rc;

	if (kelp_split_host_port(listen, host, sizeof(host), &port) < 0) {
		fprintf(stderr, "kelpd: [rdma] listen = '%s': want host:port\n", listen);
		errno = EINVAL;
		return NULL;
	}
	ex = calloc(1, sizeof(*ex));
	if (!ex)
		return NULL;
	ex->eng = eng;
	ex->dev = dev;
	ex->lcore_id = lc->id;
	ex->listen_fd = -1;
	ex->rlc = kelp_rdma_lcore_create(
		dev, &cfg, &(struct kelp_rdma_export_ops){.find = export_find, .arg = ex});
	if (!ex->rlc) {
		rc = -errno;
		fprintf(stderr, "kelpd: [rdma] export on %s: %s\n", dev->name, strerror(errno));
		goto fail;
	}
	ex->listen_fd = kelp_rdma_oob_listen(host, port);
	if (ex->listen_fd < 0) {
		rc = ex->listen_fd;
		fprintf(stderr, "kelpd: [rdma] listen = %s: %s (is another kelpd using that port?)\n",
			listen, strerror(-rc));
		goto fail;
	}
	rc = kelp_lcore_add_poller(lc, "rdma-export", export_poll, ex);
	if (rc < 0) {
		fprintf(stderr, "kelpd: lcore %u: no poller slot for the RDMA export\n", lc->id);
		goto fail;
	}
	lc->idle_park_ns = 0; /* nothing would wake it for a request on the CQ (rdma_export.h) */
	fprintf(stderr, "kelpd: RDMA export on %s port %u (GID index %d), handshakes on %s, lcore %u\n",
		dev->name, dev->port, dev->gid_index, listen, lc->id);
	return ex;
fail:
	if (ex->listen_fd >= 0)
		close(ex->listen_fd);
	if (ex->rlc)
		kelp_rdma_lcore_destroy(ex->rlc);
	free(ex);
	errno = -rc;
	return NULL;
}

void kelp_rdma_export_stats(const struct kelp_rdma_export *ex, struct kelp_rdma_export_stats *out)
{
	const struct kelp_rdma_export_stats *st = &ex->stats;

	out->connections = __atomic_load_n(&st->connections, __ATOMIC_RELAXED);
	out->handshake_errors = __atomic_load_n(&st->handshake_errors, __ATOMIC_RELAXED);
	out->requests = __atomic_load_n(&st->requests, __ATOMIC_RELAXED);
	out->replies = __atomic_load_n(&st->replies, __ATOMIC_RELAXED);
	out->bytes = __atomic_load_n(&st->bytes, __ATOMIC_RELAXED);
	out->bounced = __atomic_load_n(&st->bounced, __ATOMIC_RELAXED);
	out->errors = __atomic_load_n(&st->errors, __ATOMIC_RELAXED);
	out->resets = __atomic_load_n(&st->resets, __ATOMIC_RELAXED);
	out->too_large = __atomic_load_n(&st->too_large, __ATOMIC_RELAXED);
	out->up = __atomic_load_n(&st->up, __ATOMIC_RELAXED);
	out->replaced = __atomic_load_n(&st->replaced, __ATOMIC_RELAXED);
}

int kelp_rdma_export_stop(struct kelp_rdma_export *ex)
{
	struct kelp_rdma_export_stats st;
	int rc;

	if (!ex)
		return 0;
	publish_stats(ex); /* the lcore is gone: this thread owns everything now */
	kelp_rdma_export_stats(ex, &st);
	fprintf(stderr,
		"kelpd: RDMA export: connections %lu (handshake errors %lu) requests %lu replies "
		"%lu bytes %lu errors %lu resets %lu too large %lu replaced %lu\n",
		st.connections, st.handshake_errors, st.requests, st.replies, st.bytes, st.errors,
		st.resets, st.too_large, st.replaced);
	close(ex->listen_fd);
	rc = kelp_rdma_lcore_destroy(ex->rlc); /* destroys the connections too */
	free(ex);
	return rc;
}
