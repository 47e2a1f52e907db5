/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelpd's control thread: one io_uring loop (control.h).
 *
 * kelp_ctl_run() sets up, starts the lcores, and loops:
 *   1. submit what the callbacks queued, wait for at least one completion (no wait when an lcore
 *      message is already queued: lcores write wake_fd only while ctl->asleep is set);
 *   2. call op->done() for every completion of the batch (accept, hello, session close, admin
 *      command, signal, lcore wake-up, the volume refresh timer, and whatever other modules
 *      submitted, e.g. the HTTP fallback);
 *   3. drain the lcores' message rings (remote reads to start, sessions to free);
 *   4. wake, once, the parked lcores that got remote-read completions in this batch;
 *   5. free the connections marked dead during the batch.
 * It never blocks anywhere else: sockets are read through io_uring, and the few direct calls
 * (getsockopt, memfd setup, a 64-byte sendmsg on a fresh socket) cannot block.
 * The client side of the loop (the socket, hellos, sessions, kelpctl connections) is in
 * clients.c, kelpctl's commands in admin.c, non-local reads in remote_read.c.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/epoch.h"
#include "core/log.h"
#include "lcore/control/control_priv.h"
#include "lcore/control/http_server.h"
#include "lcore/engine.h"
#include "lcore/worker/lcore.h"
#include "lcore/control/filer_req.h"
#include "lcore/control/remote_read.h"

#define RING_ENTRIES 256

struct io_uring_sqe *kelp_ctl_get_sqe(struct kelp_control *ctl)
{
	KELP_ASSERT_OWNER(&ctl->eng->ctl_owner);
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ctl->ring);
	if (!sqe) {
		io_uring_submit(&ctl->ring);
		sqe = io_uring_get_sqe(&ctl->ring);
	}
	return sqe;
}

struct kelp_engine *kelp_ctl_engine(struct kelp_control *ctl)
{
	return ctl->eng;
}

struct io_uring *kelp_ctl_ring(struct kelp_control *ctl)
{
	return &ctl->ring;
}

uint64_t kelp_ctl_timed_waits(struct kelp_control *ctl)
{
	return ctl->timed_waits;
}

void *kelp_ctl_remote_priv(struct kelp_control *ctl)
{
	return ctl->remote_priv;
}

void kelp_ctl_set_remote_priv(struct kelp_control *ctl, void *priv)
{
	ctl->remote_priv = priv;
}

static void arm_signal(struct kelp_control *ctl);

/* Keys a SIGHUP applies live. Each is read by the control thread only (never by an lcore), so
 * replacing its value between two events of the loop is safe:
 *   allow_uids, allow_gids, admin_gids: checked once per hello (lcore/control/clients.c);
 *   log_level, log_target: copied into core/log's words, which any thread reads atomically;
 *   lookup_ttl_s, http_timeout_ms, hedge_percent: handed to discovery, the HTTP client and the
 *   fallback (kelp_ctl_remote_reconfigure), for lookups, calls and reads started afterwards;
 *   [http] allow: parsed again by the endpoint (kelp_http_server_reconfigure), checked per accept;
 *   [http] idle_timeout_ms: read by the endpoint's idle sweep each time it runs.
 */
static const struct {
	const char *section, *key;
} live_keys[] = {
	{"engine", "allow_uids"},	  {"engine", "allow_gids"},
	{"engine", "admin_gids"},	  {"engine", "log_level"},
	{"engine", "log_target"},	  {"seaweedfs", "lookup_ttl_s"},
	{"seaweedfs", "http_timeout_ms"}, {"seaweedfs", "hedge_percent"},
	{"http", "idle_timeout_ms"},	  {"http", "allow"},
};

static bool reloads_live(const struct kelp_conf_key *k)
{
	for (size_t i = 0; i < sizeof(live_keys) / sizeof(live_keys[0]); i++)
		if (strcmp(k->section, live_keys[i].section) == 0 &&
		    strcmp(k->key, live_keys[i].key) == 0)
			return true;
	return false;
}

/* Size of a key's field in struct kelp_config (its type decides it). */
static size_t field_size(const struct kelp_conf_key *k)
{
	switch (k->type) {
	case KELP_CONF_ID_LIST:
		return sizeof(struct kelp_id_list);
	case KELP_CONF_STR_LIST:
		return sizeof(struct kelp_str_list);
	case KELP_CONF_BOOL:
		return sizeof(bool);
	case KELP_CONF_STRING:
		return sizeof(char *);
	case KELP_CONF_CPU_LIST:
		return sizeof(struct kelp_cpu_list);
	default: /* UINT, INT, ENUM */
		return sizeof(uint32_t);
	}
}

/* SIGHUP: a fresh configuration from kelpd's loader; if valid, apply the live keys and log every
 * other changed key as needing a restart (the old value stays). An invalid one changes nothing.
 * Sessions are not touched. Control thread only. */
static void reload_config(struct kelp_control *ctl)
{
	struct kelp_engine *eng = ctl->eng;
	if (!eng->load_config || !eng->conf_owner) {
		kelp_log_warn("kelpd: SIGHUP: no configuration source to re-read; ignored");
		return;
	}
	struct kelp_config fresh;
	if (kelp_config_init(&fresh) != 0) {
		kelp_log_error("kelpd: SIGHUP: out of memory; keeping the running configuration");
		return;
	}
	char err[4096];
	if (eng->load_config(&fresh, err, sizeof(err), eng->load_config_arg) != 0) {
		/* one log line per error (FILE:LINE: ...), then the verdict */
		char *save = NULL;
		for (char *line = strtok_r(err, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save))
			kelp_log_error("kelpd: SIGHUP: %s", line);
		kelp_log_error(
			"kelpd: SIGHUP: the configuration is invalid; keeping the running one");
		goto out;
	}
	size_t n;
	const struct kelp_conf_key *keys = kelp_config_keys(&n);
	unsigned applied = 0, restart = 0;
	for (size_t i = 0; i < n; i++) {
		const struct kelp_conf_key *k = &keys[i];
		char was[4096], now[4096];
		kelp_config_format(&eng->conf, k, was, sizeof(was));
		kelp_config_format(&fresh, k, now, sizeof(now));
		if (strcmp(was, now) == 0)
			continue;
		if (!reloads_live(k)) {
			kelp_log_warn("kelpd: SIGHUP: [%s] %s changed: needs a restart", k->section,
				      k->key);
			restart++;
			continue;
		}
		/* the new value goes to the engine and to its owner (eng->conf is a shallow copy
		 * of it); the replaced one to @fresh, which frees what it owns below */
		char *cur = (char *)&eng->conf + k->offset;
		char *own = (char *)eng->conf_owner + k->offset;
		char *new = (char *)&fresh + k->offset;
		char tmp[sizeof(struct kelp_id_list) > sizeof(struct kelp_str_list)
				 ? sizeof(struct kelp_id_list)
				 : sizeof(struct kelp_str_list)];
		size_t size = field_size(k);
		memcpy(tmp, new, size);
		memcpy(new, own, size);
		memcpy(own, tmp, size);
		memcpy(cur, tmp, size);
		kelp_log("kelpd: SIGHUP: [%s] %s = %s (applied)", k->section, k->key, now);
		applied++;
	}
	if (applied) {
		kelp_log_set_level(eng->conf.engine.log_level);
		kelp_log_set_target(eng->conf.engine.log_target);
		kelp_ctl_remote_reconfigure(ctl);
		kelp_http_server_reconfigure(ctl);
	}
	kelp_log("kelpd: SIGHUP: configuration re-read: %u change(s) applied, %u need a restart",
		 applied, restart);
out:
	kelp_config_free(&fresh);
}

static void signal_done(struct kelp_control *ctl, struct kelp_ctl_op *op, int res, uint32_t flags)
{
	if (res == (int)sizeof(ctl->siginfo) && ctl->siginfo.ssi_signo == SIGHUP) {
		reload_config(ctl);
	} else if (res == (int)sizeof(ctl->siginfo)) {
		kelp_log_info("kelpd: %s, stopping", strsignal((int)ctl->siginfo.ssi_signo));
		ctl->stopping = 1;
		return;
	}
	arm_signal(ctl);
}

static void arm_signal(struct kelp_control *ctl)
{
	struct io_uring_sqe *sqe = kelp_ctl_get_sqe(ctl);
	if (!sqe)
		return;
	io_uring_prep_read(sqe, ctl->sig_fd, &ctl->siginfo, sizeof(ctl->siginfo), 0);
	io_uring_sqe_set_data(sqe, &ctl->signal_op);
}

static void arm_refresh(struct kelp_control *ctl)
{
	struct io_uring_sqe *sqe = kelp_ctl_get_sqe(ctl);
	if (!sqe)
		return;
	ctl->refresh_delay = (struct __kernel_timespec){.tv_nsec = KELP_REFRESH_MS * 1000000L};
	io_uring_prep_timeout(sqe, &ctl->refresh_delay, 0, 0);
	io_uring_sqe_set_data(sqe, &ctl->refresh_op);
}

/* Follow the exported directories: new needles, deletes, vacuum, new and removed volumes
 * (core/volume.h). It reads .idx tails and stats files on this thread: local-disk I/O of a few
 * KiB, bounded, not socket I/O. Replaced versions are freed through the epoch once every lcore
 * passed a quiescent point. */
static void refresh_done(struct kelp_control *ctl, struct kelp_ctl_op *op, int res, uint32_t flags)
{
	if (ctl->stopping)
		return;
	int rc = kelp_volume_set_refresh(ctl->eng->volumes);
	if (rc < 0 && !ctl->refresh_failed)
		kelp_log_warn("kelpd: following [export] dirs: %s (will retry)", strerror(-rc));
	ctl->refresh_failed = rc < 0;
	if (ctl->eng->epoch)
		kelp_epoch_reclaim(ctl->eng->epoch);
	arm_refresh(ctl);
}

static void arm_wake(struct kelp_control *ctl);

static void wake_done(struct kelp_control *ctl, struct kelp_ctl_op *op, int res, uint32_t flags)
{
	arm_wake(ctl); /* the messages themselves are drained after every batch */
}

static void arm_wake(struct kelp_control *ctl)
{
	struct io_uring_sqe *sqe = kelp_ctl_get_sqe(ctl);
	if (!sqe)
		return;
	io_uring_prep_read(sqe, ctl->wake_fd, &ctl->wake_val, sizeof(ctl->wake_val), 0);
	io_uring_sqe_set_data(sqe, &ctl->wake_op);
}

/* ---- lcore messages ---------------------------------------------------------------------- */

void kelp_ctl_remote_done(struct kelp_control *ctl, struct kelp_remote_read *req)
{
	struct kelp_lcore *lc = &ctl->eng->lcores[req->lcore_id];
	struct kelp_msg m = {.type = KELP_MSG_REMOTE_DONE, .lcore_id = lc->id, .remote = req};
	KELP_ASSERT_OWNER(&ctl->eng->ctl_owner);
	if (kelp_op_is_path(req->opcode)) /* every path completion, errors too (libkelp's slots) */
		req->cqe_flags |= KELP_CQE_F_PATH;
	if (kelp_lcore_post(lc, &m) != 0) /* ruled out by KELP_TO_LCORE_MAX_MSGS (lcore.h) */
		kelp_msg_ring_full(lc->id, "control -> lcore");
	lc->kick_pending = 1; /* woken once after the batch: kick_lcores() */
}

/* Wake the lcores that got kelp_ctl_remote_done() messages since the last call (those parked). */
static void kick_lcores(struct kelp_control *ctl)
{
	for (unsigned i = 0; i < ctl->eng->n_lcores; i++) {
		struct kelp_lcore *lc = &ctl->eng->lcores[i];
		if (lc->kick_pending) {
			lc->kick_pending = 0;
			kelp_lcore_kick(lc);
		}
	}
}

/* Any lcore message not drained yet? (the loop's re-check after raising ctl->asleep) */
static int lcore_messages_pending(struct kelp_control *ctl)
{
	for (unsigned i = 0; i < ctl->eng->n_lcores; i++)
		if (kelp_ring_cons_avail(&ctl->eng->lcores[i].to_ctl.cons) != 0)
			return 1;
	return 0;
}

static void drain_lcore_messages(struct kelp_control *ctl)
{
	for (unsigned i = 0; i < ctl->eng->n_lcores; i++) {
		struct kelp_lcore *lc = &ctl->eng->lcores[i];
		struct kelp_msg msgs[32];
		int n;
		while ((n = kelp_ring_dequeue_burst(&lc->to_ctl.cons, msgs, 32)) > 0) {
			for (int k = 0; k < n; k++) {
				if (msgs[k].type == KELP_MSG_SESSION_GONE) {
					kelp_ctl_free_session(ctl, msgs[k].session);
				} else if (msgs[k].type == KELP_MSG_REMOTE_READ) {
					struct kelp_remote_read *r = msgs[k].remote;
					int rc = kelp_op_is_path(r->opcode)
							 ? kelp_ctl_filer_request(ctl, r)
							 : kelp_ctl_remote_read(ctl, r);
					if (rc != 0) {
						r->result = rc < 0 ? rc : -EIO;
						r->cqe_flags = 0;
						kelp_ctl_remote_done(ctl, r);
					}
				}
			}
		}
	}
}

/* ---- setup, loop, teardown ------------------------------------------------------------- */

/* Stop the lcores and tell every client; nothing is freed yet (io_uring may still own buffers). */
static void stop_all(struct kelp_control *ctl)
{
	struct kelp_engine *eng = ctl->eng;
	/* remote reads first: path reads wait for their chunk reads; then the filer's lookups */
	kelp_ctl_remote_fini(ctl);
	kelp_ctl_filer_fini(ctl);
	kick_lcores(ctl); /* the cancelled remote reads' completions */
	for (unsigned i = 0; i < eng->n_lcores; i++) {
		struct kelp_msg m = {.type = KELP_MSG_STOP, .lcore_id = i};
		if (kelp_lcore_send(&eng->lcores[i], &m) != 0) /* KELP_TO_LCORE_MAX_MSGS */
			kelp_msg_ring_full(i, "control -> lcore");
	}
	for (unsigned i = 0; i < eng->n_lcores; i++)
		kelp_lcore_join(&eng->lcores[i]);
	/* lcores are stopped: tell every client, waking those asleep in kelp_wait */
	for (struct lcore_session *s = ctl->sessions; s; s = s->ctl_next)
		lcore_session_set_state(s, KELP_SEG_STOPPING, 0);
}

/* After io_uring is gone (no receive can land in a connection buffer any more). */
static void free_all(struct kelp_control *ctl)
{
	while (ctl->sessions)
		kelp_ctl_free_session(ctl, ctl->sessions);
	kelp_ctl_close_conns(ctl);
}

int kelp_ctl_run(struct kelp_engine *eng, int sig_fd)
{
	struct kelp_control *ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return -ENOMEM;
	ctl->eng = eng;
	eng->ctl = ctl;
	kelp_owner_claim(&eng->ctl_owner); /* this thread is the control thread until we return */
	ctl->sig_fd = sig_fd;
	kelp_ctl_clients_init(ctl);
	ctl->refresh_op.done = refresh_done;
	ctl->signal_op.done = signal_done;
	ctl->wake_op.done = wake_done;
	/* Only this thread submits and reaps: completions' task work (a socket receive finishing)
	 * then runs when the loop waits, in one batch, instead of interrupting it each time (a
	 * wake-up or IPI per completion); kernels before 6.1 do not know the flags: plain ring. */
	int rc = io_uring_queue_init(RING_ENTRIES, &ctl->ring,
				     IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
	if (rc == -EINVAL)
		rc = io_uring_queue_init(RING_ENTRIES, &ctl->ring, 0);
	if (rc < 0) {
		kelp_log_error("kelpd: io_uring_queue_init: %s", strerror(-rc));
		eng->ctl = NULL;
		free(ctl);
		kelp_owner_release(&eng->ctl_owner);
		return rc;
	}
	ctl->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (ctl->wake_fd < 0) {
		rc = -errno;
		kelp_log_error("kelpd: cannot create the control thread's eventfd: %s",
			       strerror(-rc));
		goto out_ring;
	}
	struct stat sock_st;
	ctl->listen_fd = kelp_ctl_listen(eng->conf.engine.socket, &sock_st);
	if (ctl->listen_fd < 0) {
		rc = ctl->listen_fd;
		goto out_wake;
	}
	rc = kelp_ctl_remote_init(ctl);
	if (rc != 0) {
		kelp_log_error("kelpd: remote read paths: %s", strerror(-rc));
		goto out_listen;
	}
	rc = kelp_ctl_filer_init(ctl);
	if (rc != 0) {
		fprintf(stderr, "kelpd: [filer]: %s\n", strerror(-rc));
		kelp_ctl_remote_fini(ctl);
		goto out_listen;
	}
	for (unsigned i = 0; i < eng->n_lcores; i++) {
		eng->lcores[i].ctl_wake_fd = ctl->wake_fd;
		eng->lcores[i].ctl_asleep = &ctl->asleep;
		rc = kelp_lcore_start(&eng->lcores[i]);
		if (rc != 0) {
			/* kelpd without all its lcores is not what was configured: stop, exit
			 * non-zero */
			kelp_log_error(
				"kelpd: cannot start lcore %u (CPU %d): %s%s; stopping", i,
				eng->lcores[i].cpu, strerror(-rc),
				rc == -EAGAIN
					? " (thread limit: ulimit -u / RLIMIT_NPROC, or memory)"
					: "");
			goto out_stop;
		}
	}
	rc = kelp_http_server_init(ctl); /* [http] listen; after the lcores started */
	if (rc != 0)
		goto out_stop;
	kelp_ctl_arm_accept(ctl);
	arm_signal(ctl);
	arm_wake(ctl);
	arm_refresh(ctl);
	kelp_log_info("kelpd: serving on %s with %u lcore(s), %zu volume(s)",
		      eng->conf.engine.socket, eng->n_lcores, kelp_volume_set_count(eng->volumes));

	bool idle_timeout = false; /* the last timed wait ended with nothing to do */
	while (!ctl->stopping) {
		/* Dekker with kelp_lcore_poll_once(): our flag store before our ring check, an
		 * lcore's ring store before its flag load. Either we see its messages now (and do
		 * not wait), or it sees us asleep and writes wake_fd. While we work, lcores skip
		 * that write.
		 * While many HTTP reads are in flight their answers wake us anyway: we then sleep
		 * at most KELP_CTL_LAZY_WAKE_NS and lcores do not write wake_fd
		 * (KELP_CTL_ASLEEP_TIMED), so new requests ride on the next wake-up instead of
		 * costing one of their own (a context switch here, an eventfd write there). A timed
		 * wait that ended with nothing to do (slow answers, e.g. large bodies) makes the
		 * next one untimed: no periodic wake-ups while nothing happens.
		 */
		uint32_t sleep_mode =
			kelp_ctl_remote_inflight(ctl) >= KELP_CTL_LAZY_MIN_INFLIGHT && !idle_timeout
				? KELP_CTL_ASLEEP_TIMED
				: KELP_CTL_ASLEEP;
		__atomic_store_n(&ctl->asleep, sleep_mode, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (lcore_messages_pending(ctl)) { /* submit, reap what is ready, do not sleep */
			rc = io_uring_submit_and_get_events(&ctl->ring);
		} else if (sleep_mode == KELP_CTL_ASLEEP_TIMED) {
			struct __kernel_timespec ts = {.tv_nsec = KELP_CTL_LAZY_WAKE_NS};
			struct io_uring_cqe *first;
			ctl->timed_waits++;
			rc = io_uring_submit_and_wait_timeout(&ctl->ring, &first, 1, &ts, NULL);
			if (rc == -ETIME) { /* time to look at the lcores' rings */
				idle_timeout = !lcore_messages_pending(ctl);
				rc = 0;
			}
		} else {
			rc = io_uring_submit_and_wait(&ctl->ring, 1);
			idle_timeout = false;
		}
		__atomic_store_n(&ctl->asleep, 0, __ATOMIC_RELAXED);
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
			kelp_log_error("kelpd: io_uring_submit_and_wait: %s", strerror(-rc));
			break;
		}
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&ctl->ring, head, cqe)
		{
			struct kelp_ctl_op *op = io_uring_cqe_get_data(cqe);
			seen++;
			if (op)
				op->done(ctl, op, cqe->res, cqe->flags);
		}
		io_uring_cq_advance(&ctl->ring, seen);
		drain_lcore_messages(ctl);
		kick_lcores(ctl);
		kelp_ctl_free_dead_conns(ctl);
		kelp_http_server_after_batch(ctl);
	}
	rc = 0;
out_stop:
	stop_all(ctl); /* also the lcores started before one failed; remote paths are torn down */
out_listen:
	close(ctl->listen_fd);
	kelp_ctl_unlisten(eng->conf.engine.socket, &sock_st);
out_wake:
	close(ctl->wake_fd);
out_ring:
	io_uring_queue_exit(&ctl->ring);
	for (unsigned i = 0; i < eng->n_lcores; i++)
		kelp_lcore_join(&eng->lcores[i]);
	kelp_http_server_fini(ctl); /* before free_all: its session is among ctl->sessions */
	free_all(ctl);
	eng->ctl = NULL;
	free(ctl);
	kelp_owner_release(&eng->ctl_owner);
	return rc;
}
