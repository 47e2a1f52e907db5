/* SPDX-License-Identifier: Apache-2.0 */
/* kelpd's RDMA export side: the export poller and its set-up (rdma_export.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/volume.h"
#include "lcore/engine.h"
#include "lcore/worker/lcore.h"
#include "core/hostport.h"
#include "lcore/rdma/export_map.h"
#include "lcore/rdma/rdma_export.h"
#include "nic/conn.h"
#include "nic/oob.h"

/*
 * Where the one handshake under way is (kelp_rdma_export.hs_state). The handshake thread does the
 * TCP part, the export lcore the connection part (the conn calls must run on the thread that owns
 * the CQ); each side writes the fields of its turn, then passes the turn with a release store.
 */
enum hs_state {
	HS_IDLE = 0,   /* the thread's: accepting */
	HS_HELLO,      /* the thread read a HELLO into hs_peer: the lcore's turn */
	HS_ACK,	       /* the lcore filled hs_ack / hs_answer / hs_conn: the thread's turn */
	HS_ACK_FAILED, /* the ACK of a connection now UP could not be sent: the lcore's turn */
};

struct kelp_rdma_export {
	struct kelp_engine *eng;
	struct kelp_lcore *lc; /* the export lcore: the handshake thread wakes it */
	struct kelp_rdma_dev *dev;
	struct kelp_rdma_lcore *rlc;
	struct kelp_export_map *map; /* one-sided reads: registered volumes (export lcore) */
	int listen_fd;
	uint32_t lcore_id;
	/* the hand-over with the handshake thread (hs_main) */
	uint32_t hs_state;
	struct kelp_rdma_hello hs_peer, hs_ack;
	bool hs_answer;			/* false: close without an answer (no connection free) */
	struct kelp_rdma_conn *hs_conn; /* the connection the ACK is for, or NULL */
	pthread_t hs_thread;
	bool hs_started;
	bool hs_stop;	/* atomic: set by kelp_rdma_export_stop() */
	int hs_wake[2]; /* a pipe: its write end wakes the thread out of poll() to stop */
	/* export lcore only */
	struct kelp_rdma_conn *conns[KELP_RDMA_MAX_CONNS];
	size_t nconns;
	uint64_t next_publish_ns;
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
	struct kelp_volume *vol;
	int rc = kelp_rdma_source_find(ex->eng->volumes, fid, src, &vol);

	/* zero-copy from the region registered for one-sided reads, when there is one */
	if (rc == 0)
		kelp_export_map_source(ex->map, vol, src);
	return rc;
}

/* kelp_rdma_export_ops.meta on the export lcore: one-sided reads' VOLMAP and .idx (export_map.h).
 * Under the engine's epoch like find: the volume looked up stays valid through this round. */
static int export_meta(void *arg, uint8_t opcode, uint32_t vid, struct kelp_rdma_source *src)
{
	struct kelp_rdma_export *ex = arg;

	return kelp_export_map_meta(ex->map, ex->eng->volumes, opcode, vid, kelp_now_ns(), src);
}

int kelp_rdma_source_find(const struct kelp_volume_set *set, const struct kelp_fid *fid,
			  struct kelp_rdma_source *src, struct kelp_volume **vol_out)
{
	struct kelp_volume *vol = kelp_volume_set_find(set, fid->volume_id);
	struct kelp_needle_ref ref;
	int ret;

	if (!vol)
		return -EHOSTUNREACH;
	ret = kelp_volume_find(vol, fid, &ref);
	if (ret < 0)
		return ret;
	*src = (struct kelp_rdma_source){.data = ref.data,
					 .size = ref.data_size,
					 .crc = ref.stored_crc,
					 .flags = ref.flags,
					 .use_bounce = true,
					 .owner = vol};
	if (vol_out)
		*vol_out = vol;
	return 0;
}

int kelp_rdma_source_faulted(void *arg, const struct kelp_rdma_source *src)
{
	(void)arg;
	return src->owner && kelp_volume_faulted(src->owner);
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
		sum.inlined += s->inlined;
		sum.probes += s->probes;
		sum.idle_resets += s->idle_resets;
		sum.new_qps += s->new_qps;
	}
	__atomic_store_n(&st->requests, sum.requests, __ATOMIC_RELAXED);
	__atomic_store_n(&st->replies, sum.replies, __ATOMIC_RELAXED);
	__atomic_store_n(&st->bytes, sum.bytes, __ATOMIC_RELAXED);
	__atomic_store_n(&st->bounced, sum.bounced, __ATOMIC_RELAXED);
	__atomic_store_n(&st->errors, sum.errors, __ATOMIC_RELAXED);
	__atomic_store_n(&st->resets, sum.resets, __ATOMIC_RELAXED);
	__atomic_store_n(&st->too_large, sum.too_large, __ATOMIC_RELAXED);
	__atomic_store_n(&st->inlined, sum.inlined, __ATOMIC_RELAXED);
	__atomic_store_n(&st->probes, sum.probes, __ATOMIC_RELAXED);
	__atomic_store_n(&st->idle_resets, sum.idle_resets, __ATOMIC_RELAXED);
	__atomic_store_n(&st->up, up, __ATOMIC_RELAXED);
	__atomic_store_n(&st->replaced, kelp_rdma_lcore_stats(ex->rlc)->retired, __ATOMIC_RELAXED);
	__atomic_store_n(&st->new_qps, sum.new_qps, __ATOMIC_RELAXED);
	__atomic_store_n(&st->stale_cqes, kelp_rdma_lcore_stats(ex->rlc)->stale_cqes,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&st->unknown_cqes, kelp_rdma_lcore_stats(ex->rlc)->unknown_cqes,
			 __ATOMIC_RELAXED);
}

/* Export lcore: the handshake thread read the HELLO ex->hs_peer: reuse a DOWN connection or make
 * one, bring it to RTS (which also resets the connections it replaces, nic/conn.h) and leave the
 * ACK for the thread to send. */
static void handshake_hello(struct kelp_rdma_export *ex)
{
	struct kelp_rdma_conn *c = NULL;
	int ret;

	ex->hs_conn = NULL;
	ex->hs_answer = false;
	for (size_t i = 0; i < ex->nconns && !c; i++)
		if (kelp_rdma_conn_state(ex->conns[i]) == KELP_RDMA_DOWN)
			c = ex->conns[i];
	if (!c && ex->nconns < KELP_RDMA_MAX_CONNS) {
		/* allocation on the lcore: only when a new reader appears, never per request */
		if (kelp_rdma_conn_create(ex->rlc, KELP_RDMA_EXPORTER, KELP_RDMA_EXPORT_CREDITS,
					  &c) == 0)
			ex->conns[ex->nconns++] = c;
	}
	if (!c) {
		__atomic_fetch_add(&ex->stats.handshake_errors, 1, __ATOMIC_RELAXED);
		return; /* the thread closes the TCP connection: the reader backs off */
	}
	ret = kelp_rdma_conn_establish(c, &ex->hs_peer, kelp_now_ns());
	kelp_rdma_conn_hello(c, &ex->hs_ack);
	ex->hs_answer = true;
	if (ret < 0) {
		ex->hs_ack.status = kelp_rdma_errno_status(ret == -EPROTONOSUPPORT ? ret : -EBUSY);
		__atomic_fetch_add(&ex->stats.handshake_errors, 1, __ATOMIC_RELAXED);
		return;
	}
	ex->hs_conn = c;
	KELP_STAT_ADD(ex->stats.connections, 1);
}

/* Export lcore: act on the handshake thread's hand-over, if any. Return 1 when there was one. */
static int handshake_poll(struct kelp_rdma_export *ex)
{
	/* pairs with the release stores in hs_main(): hs_peer / the ACK's fate are visible */
	uint32_t st = __atomic_load_n(&ex->hs_state, __ATOMIC_ACQUIRE);

	if (st == HS_HELLO) {
		handshake_hello(ex);
		/* pairs with the acquire load in hs_main(): the ACK and hs_answer are complete */
		__atomic_store_n(&ex->hs_state, HS_ACK, __ATOMIC_RELEASE);
		return 1;
	}
	if (st == HS_ACK_FAILED) {
		/* the reader never learnt of this connection: back to DOWN, reusable */
		if (kelp_rdma_conn_state(ex->hs_conn) == KELP_RDMA_UP)
			kelp_rdma_conn_failed(ex->hs_conn, kelp_now_ns());
		KELP_STAT_ADD(ex->stats.connections, -1);
		__atomic_fetch_add(&ex->stats.handshake_errors, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&ex->hs_state, HS_IDLE, __ATOMIC_RELEASE);
		return 1;
	}
	return 0;
}

/* Handshake thread: wait (sleeping 100 us at a time, a handshake is rare) until the state leaves
 * @st. Return false when kelp_rdma_export_stop() asked the thread to stop meanwhile. */
static bool hs_wait_turn(struct kelp_rdma_export *ex, uint32_t st)
{
	while (__atomic_load_n(&ex->hs_state, __ATOMIC_ACQUIRE) == st) {
		if (__atomic_load_n(&ex->hs_stop, __ATOMIC_RELAXED))
			return false;
		usleep(100);
	}
	return true;
}

/*
 * The export's handshake thread: accepts TCP connections on `[rdma] listen`, reads each HELLO
 * (blocking, at most KELP_RDMA_EXPORT_OOB_MS), hands it to the export lcore, sends the ACK the
 * lcore made and closes. One handshake at a time; a reader that stalls its HELLO delays only the
 * other handshakes, never the lcore's requests. Exits when kelp_rdma_export_stop() sets hs_stop.
 */
static void *hs_main(void *arg)
{
	struct kelp_rdma_export *ex = arg;
	struct pollfd pfd[2] = {{.fd = ex->listen_fd, .events = POLLIN},
				{.fd = ex->hs_wake[0], .events = POLLIN}};

	while (!__atomic_load_n(&ex->hs_stop, __ATOMIC_RELAXED)) {
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (!(pfd[0].revents & POLLIN))
			continue;
		int fd = kelp_rdma_oob_accept(ex->listen_fd, &ex->hs_peer, KELP_RDMA_EXPORT_OOB_MS);
		if (fd == -EAGAIN)
			continue;
		if (fd < 0) {
			__atomic_fetch_add(&ex->stats.handshake_errors, 1, __ATOMIC_RELAXED);
			continue;
		}
		/* pairs with the acquire load in handshake_poll(): hs_peer is complete */
		__atomic_store_n(&ex->hs_state, HS_HELLO, __ATOMIC_RELEASE);
		kelp_lcore_wake(ex->lc); /* it may be parked */
		if (!hs_wait_turn(ex, HS_HELLO)) {
			close(fd);
			break;
		}
		if (!ex->hs_answer) {
			close(fd);
		} else if (kelp_rdma_oob_answer(fd, &ex->hs_ack, KELP_RDMA_EXPORT_OOB_MS) < 0 &&
			   ex->hs_conn) {
			__atomic_store_n(&ex->hs_state, HS_ACK_FAILED, __ATOMIC_RELEASE);
			kelp_lcore_wake(ex->lc);
			if (!hs_wait_turn(ex, HS_ACK_FAILED))
				break;
			continue;
		}
		__atomic_store_n(&ex->hs_state, HS_IDLE,
				 __ATOMIC_RELAXED); /* the lcore acts on
						     * HELLO / ACK_FAILED only */
	}
	return NULL;
}

/* The export poller (export lcore): the handshake hand-over and the CQ every round, the counters
 * every KELP_RDMA_PUBLISH_EVERY_MS. */
static int export_poll(struct kelp_lcore *lc, void *arg)
{
	struct kelp_rdma_export *ex = arg;
	uint64_t busy_before, now = kelp_now_ns(); /* vDSO */
	int busy = 0;

	if (ex->cq_failed)
		return KELP_POLL_IDLE;
	busy |= handshake_poll(ex);
	if (now >= ex->next_publish_ns) {
		ex->next_publish_ns = now + KELP_RDMA_PUBLISH_EVERY_MS * 1000000ull;
		publish_stats(ex);
	}
	busy_before = kelp_rdma_lcore_stats(ex->rlc)->polls_busy;
	if (kelp_rdma_lcore_poll(ex->rlc, ex->done, KELP_RDMA_POLL_BATCH) < 0) {
		/* a broken CQ cannot come back: stop exporting, readers fall back to HTTP */
		kelp_log_error("kelpd: lcore %u: the RDMA CQ failed: RDMA export stopped", lc->id);
		ex->cq_failed = 1;
		return KELP_POLL_IDLE;
	}
	if (kelp_rdma_lcore_stats(ex->rlc)->polls_busy != busy_before)
		busy = 1;
	return busy ? KELP_POLL_BUSY : KELP_POLL_IDLE;
}

/* The export's park hook (export lcore, lcore.h kelp_park_fn): an idle export lcore sleeps like
 * any other ([engine] idle_park_us) instead of polling its CQ without pause, so that a host
 * whose readers read one-sided (no request reaches this lcore) keeps the core; a request's
 * completion event, a handshake (kelp_lcore_wake) or the keepalive timer wakes it. */
static int export_park(struct kelp_lcore *lc, void *arg, int *timeout_ms)
{
	struct kelp_rdma_export *ex = arg;

	if (ex->cq_failed)
		return KELP_POLL_IDLE; /* nothing comes from it any more */
	publish_stats(ex);	       /* what kelpctl shows while it sleeps */
	if (kelp_rdma_lcore_arm(ex->rlc) < 0)
		return KELP_POLL_BUSY; /* no event would wake it: poll */
	/* a completion that came before the arm raises no event: look once more */
	if (export_poll(lc, ex) != KELP_POLL_IDLE)
		return KELP_POLL_BUSY;
	/* keepalives for idle connections (a quarter of the idle timeout, at most 1 s late) */
	uint32_t probe_ms = ex->eng->conf.peer.idle_timeout_s * 1000u / 4;
	if (probe_ms) {
		int t = probe_ms < 1000 ? (int)probe_ms : 1000;

		if (*timeout_ms < 0 || t < *timeout_ms)
			*timeout_ms = t;
	}
	return KELP_POLL_IDLE;
}

/* Main thread: stop and join the handshake thread (it finishes at most one blocking TCP step,
 * KELP_RDMA_EXPORT_OOB_MS, first). */
static void hs_stop(struct kelp_rdma_export *ex)
{
	if (!ex->hs_started)
		return;
	__atomic_store_n(&ex->hs_stop, true, __ATOMIC_RELAXED);
	(void)!write(ex->hs_wake[1], "x", 1);
	pthread_join(ex->hs_thread, NULL);
	ex->hs_started = false;
}

int kelp_rdma_export_start(struct kelp_engine *eng, struct kelp_lcore *lc,
			   struct kelp_rdma_dev *dev, const char *listen, uint32_t max_read_mb,
			   struct kelp_rdma_export **out)
{
	struct kelp_rdma_lcore_config cfg = {
		.bounce_slots = KELP_RDMA_EXPORT_BOUNCE_SLOTS,
		.bounce_size = KELP_RDMA_EXPORT_BOUNCE_SIZE,
		.max_read = max_read_mb ? max_read_mb << 20 : 0, /* the config bounds it */
		.inline_max = eng->conf.rdma.inline_max,
		.idle_probe_ms = eng->conf.peer.idle_timeout_s * 1000u,
		.events =
			eng->conf.rdma.export_park, /* the lcore sleeps when idle: export_park() */
	};
	struct kelp_rdma_export *ex;
	char host[256];
	uint16_t port;
	int rc;

	*out = NULL;
	if (kelp_split_host_port(listen, host, sizeof(host), &port) < 0) {
		kelp_log_error("kelpd: [rdma] listen = '%s': want host:port", listen);
		return -EINVAL;
	}
	ex = calloc(1, sizeof(*ex));
	if (!ex)
		return -ENOMEM;
	ex->eng = eng;
	ex->lc = lc;
	ex->dev = dev;
	ex->lcore_id = lc->id;
	ex->listen_fd = -1;
	ex->hs_wake[0] = ex->hs_wake[1] = -1;
	rc = kelp_export_map_create(dev, &ex->map);
	if (rc)
		goto fail;
	rc = kelp_rdma_lcore_create(
		dev, &cfg,
		&(struct kelp_rdma_export_ops){.find = export_find,
					       .faulted = kelp_rdma_source_faulted,
					       .meta = export_meta,
					       .arg = ex},
		&ex->rlc);
	if (rc) {
		kelp_log_error("kelpd: [rdma] export on %s: %s", dev->name, strerror(-rc));
		goto fail;
	}
	ex->listen_fd = kelp_rdma_oob_listen(host, port);
	if (ex->listen_fd < 0) {
		rc = ex->listen_fd;
		kelp_log_error("kelpd: [rdma] listen = %s: %s (is another kelpd using that port?)",
			       listen, strerror(-rc));
		goto fail;
	}
	if (pipe2(ex->hs_wake, O_CLOEXEC) < 0) {
		rc = -errno;
		goto fail;
	}
	rc = -pthread_create(&ex->hs_thread, NULL, hs_main, ex);
	if (rc < 0) {
		kelp_log_error("kelpd: cannot start the RDMA export's handshake thread: %s",
			       strerror(-rc));
		goto fail;
	}
	ex->hs_started = true;
	pthread_setname_np(ex->hs_thread, "kelp-rdma-exhs");
	rc = kelp_lcore_add_poller(lc, "rdma-export", export_poll, ex);
	if (rc < 0) {
		kelp_log_error("kelpd: lcore %u: no poller slot for the RDMA export", lc->id);
		goto fail;
	}
	/* without the channel's fd in its epoll set and the hook that arms it, nothing would wake
	 * it for a request: it polls without pause (rdma_export.h) */
	int efd = kelp_rdma_lcore_event_fd(ex->rlc);
	if (!eng->conf.rdma.export_park || efd < 0 || kelp_lcore_watch_doorbell(lc, efd) < 0 ||
	    kelp_lcore_add_park_hook(lc, export_park, ex) < 0)
		lc->idle_park_ns = 0;
	kelp_log_info("kelpd: RDMA export on %s port %u (GID index %d), handshakes on %s (own "
		      "thread), lcore %u (%s)",
		      dev->name, dev->port, dev->gid_index, listen, lc->id,
		      lc->idle_park_ns ? "parks when idle" : "never parks");
	*out = ex;
	return 0;
fail:
	hs_stop(ex);
	for (int i = 0; i < 2; i++)
		if (ex->hs_wake[i] >= 0)
			close(ex->hs_wake[i]);
	if (ex->listen_fd >= 0)
		close(ex->listen_fd);
	if (ex->rlc)
		kelp_rdma_lcore_destroy(ex->rlc);
	kelp_export_map_destroy(ex->map);
	free(ex);
	return rc;
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
	out->inlined = __atomic_load_n(&st->inlined, __ATOMIC_RELAXED);
	out->probes = __atomic_load_n(&st->probes, __ATOMIC_RELAXED);
	out->idle_resets = __atomic_load_n(&st->idle_resets, __ATOMIC_RELAXED);
	out->new_qps = __atomic_load_n(&st->new_qps, __ATOMIC_RELAXED);
	out->stale_cqes = __atomic_load_n(&st->stale_cqes, __ATOMIC_RELAXED);
	out->unknown_cqes = __atomic_load_n(&st->unknown_cqes, __ATOMIC_RELAXED);
}

int kelp_rdma_export_stop(struct kelp_rdma_export *ex)
{
	struct kelp_rdma_export_stats st;
	int rc;

	if (!ex)
		return 0;
	publish_stats(ex); /* the lcore is gone: this thread owns everything now */
	kelp_rdma_export_stats(ex, &st);
	kelp_log_info(
		"kelpd: RDMA export: connections %lu (handshake errors %lu) requests %lu replies "
		"%lu bytes %lu errors %lu resets %lu too large %lu replaced %lu inlined %lu "
		"keepalives %lu idle resets %lu new QPs %lu stale completions %lu unknown %lu",
		st.connections, st.handshake_errors, st.requests, st.replies, st.bytes, st.errors,
		st.resets, st.too_large, st.replaced, st.inlined, st.probes, st.idle_resets,
		st.new_qps, st.stale_cqes, st.unknown_cqes);
	hs_stop(ex); /* before the listener and the connections go */
	close(ex->hs_wake[0]);
	close(ex->hs_wake[1]);
	close(ex->listen_fd);
	rc = kelp_rdma_lcore_destroy(ex->rlc); /* destroys the connections too */
	struct kelp_export_map_stats ms;
	kelp_export_map_stats(ex->map, &ms);
	kelp_log_info("kelpd: RDMA export: one-sided registrations: read-only %lu, read-write %lu, "
		      "on-demand %lu, refused %lu, retired %lu",
		      ms.reg_ro, ms.reg_rw, ms.reg_odp, ms.refused, ms.retired);
	kelp_export_map_destroy(ex->map); /* after the QPs that readers READ through */
	free(ex);
	return rc;
}
