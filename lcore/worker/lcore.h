/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A worker lcore: one pinned thread that runs a list of pollers to completion, forever, without
 * locks, allocation, logging or syscalls in the steady state (engine.h: ownership).
 *
 * Pollers, in order, each returning KELP_POLL_BUSY when it did work and KELP_POLL_IDLE otherwise:
 *   1. control messages (lcore/worker/msg.h): sessions added / removed, remote reads done, stop;
 *   2. client sessions: drain up to KELP_SQE_BURST SQEs per session, serve, publish CQEs;
 *   3. more registered with kelp_lcore_add_poller() before start (RDMA CQ, issue 5): e.g. from
 *      kelp_ctl_remote_init(), which runs on the control thread before the lcores start.
 * When every poller was idle for [engine] idle_park_us (0 = never), the lcore parks: it raises
 * KELP_SQ_NEED_WAKEUP in every session, re-checks, and sleeps in epoll_wait() on its epoll set
 * (shm/ABI.md 5). The set holds kelpd's own wake-up eventfd (wake_fd: control messages; no client
 * ever holds it) and one doorbell eventfd per session (edge-triggered; each session holds only its
 * own). The lcore never reads, writes or changes the flags of a doorbell, so whatever a client does
 * to its doorbell (a huge value, reading it, O_NONBLOCK) can only delay its own requests.
 * Pollers whose work comes without a doorbell (the RDMA export's CQ) take part through a park hook
 * (kelp_lcore_add_park_hook): it arms their own fd in the set and may bound the sleep.
 * With [engine] idle_yield, every idle poll ends with sched_yield(), for CPUs the lcore shares.
 * A round whose only work was handing reads to the control thread or to the lcore's own HTTP
 * reader (HTTP fallback), sending on a TCP reader's or export's ring (requests, replies:
 * round_handoff) or completing non-local reads (round_remote) shortens that idle time to
 * KELP_HANDOFF_PARK_NS (when parking is on at all): what comes next is their answers (or a
 * peer's next requests), a round trip away, and control (kelp_lcore_kick) or the ring's eventfd
 * wakes a parked lcore for them; or the next requests of a client whose reads take a round trip
 * anyway, and its doorbell wakes the lcore. Spinning for them only burns CPU the volume server,
 * the peer kelpd and the client need. A round that wrote local completions keeps the full
 * (adaptive: kelp_lcore_park_adapt) spin, since the client usually answers with new requests
 * within microseconds; a park after a hand-off does not adapt it. While reads are in flight on
 * the lcore's HTTP or TCP reader, every idle spin is that short and parks do not adapt it:
 * answers arrive every few tens of microseconds at depth, and spinning for them cost more CPU per
 * read than the HTTP work itself (the spin grew to 16x idle_park_us); over TCP both kelpd of a
 * pair spun ~0.5 s per second at depth 16 (50-120 us of CPU per 4 KiB read), and where they
 * shared a CPU each spin held back the other's answer.
 * Non-local reads finished during a round are published at its end (one CQ publish and one
 * client wake-up per session and round), not one by one: see flush_round_done() in lcore.c.
 * A client that sleeps on its CQ while it has several non-local reads out is woken for HTTP
 * completions once at least half of those reads are done, when none is left out, or when the
 * first completion it has not been woken for is KELP_WAKE_HOLD_NS old (the CQ is published at
 * once all the same: a client that polls sees each at once). TCP and RDMA completions wake it
 * at once (their answers come within tens of us; holding them was not measured). Each wake-up is a
 * FUTEX_WAKE of a thread on another CPU, paid by the lcore: ~16 us of its CPU in this VM (an IPI to
 * a halted vCPU), about half of what it spends on a 4 KiB HTTP fallback read; at depth 16 the
 * answers came ~5 per wake-up. Holding them halves the wake-ups (BENCHMARKS.md, "wake-ups held
 * back"). A client with one or two reads out is woken at once, as before.
 */
#ifndef KELP_LCORE_LCORE_H
#define KELP_LCORE_LCORE_H

#include <assert.h>
#include <pthread.h>
#include <stdint.h>

#include "core/owner.h"
#include "lcore/worker/msg.h"
#include "lcore/worker/remote_req.h"

#define KELP_SQE_BURST 32u /* SQEs drained per session per poll */
/* one session burst with local reads in this many is timed for the latency histograms (lcore.c):
 * a clock read costs about as much as a small local read in a VM */
#define KELP_LATENCY_SAMPLE 16u
/* an idle lcore spins at most this many times [engine] idle_park_us before it parks (lcore.c) */
#define KELP_IDLE_SPIN_MAX_FACTOR 16u
#define KELP_PUBLISH_BYTES	  (256u << 10) /* publish CQEs mid-burst after this many bytes */
#define KELP_HANDOFF_PARK_NS	  2000u	  /* idle spin after a hand-off-only round (see above) */
#define KELP_WAKE_HOLD_NS	  200000u /* longest a sleeping client's wake-up is held (above) */
/* Values of the control loop's asleep flag (struct kelp_lcore.ctl_asleep): */
#define KELP_CTL_ASLEEP                                                                            \
	1u /* waits for completions: a round that sent messages writes the                         \
	    * control eventfd */
#define KELP_CTL_ASLEEP_TIMED                                                                      \
	2u /* waits at most KELP_CTL_LAZY_WAKE_NS, and the answers of the                          \
	    * HTTP reads it has in flight wake it too: no eventfd write; the                       \
	    * messages are taken at its next wake-up (one wake-up per batch                        \
	    * of answers instead of one more per batch of new requests) */
#define KELP_CTL_LAZY_WAKE_NS 200000u
/* ... and only with this many HTTP reads in flight: their answers then come at least this many
 * per read latency, so a new request waits for the next one a fraction of a read's time (with
 * fewer, e.g. one 2 ms read, it could wait most of that read) */
#define KELP_CTL_LAZY_MIN_INFLIGHT 8u
#ifndef KELP_PUBLISH_CQES
#define KELP_PUBLISH_CQES 4u /* or after this many CQEs */
#endif
#define KELP_SESSION_POLL_BYTES (1u << 20) /* bytes served per session per poll, then next */
#define KELP_PREFETCH_AHEAD	4096u	   /* bytes of the next read prefetched while copying */
#define KELP_LCORE_MAX_SESSIONS 1024u	   /* sessions one lcore serves */
#define KELP_LCORE_MAX_POLLERS	8u
#define KELP_REMOTE_POOL	1024u /* non-local requests in flight per lcore */

/*
 * The message rings between control and an lcore (msg.h) can never be full, so no sender ever
 * waits for room (a full ring is a bug: kelp_msg_ring_full). Every message hands over an object
 * that is in flight at most once per kind:
 *   control -> lcore: SESSION_ADD and SESSION_DEL, once each per session the control thread
 *     assigned to the lcore and has not freed yet (at most KELP_LCORE_MAX_SESSIONS: pick_lcore()
 *     in lcore/control/clients.c); REMOTE_DONE, once per request of the lcore's pool
 *     (KELP_REMOTE_POOL); one STOP.
 *   lcore -> control: SESSION_GONE, once per such session; REMOTE_READ, once per pool request.
 */
#define KELP_TO_LCORE_MAX_MSGS (2 * KELP_LCORE_MAX_SESSIONS + KELP_REMOTE_POOL + 1)
#define KELP_TO_CTL_MAX_MSGS   (KELP_LCORE_MAX_SESSIONS + KELP_REMOTE_POOL)
static_assert(KELP_MSG_RING_ENTRIES >= KELP_TO_LCORE_MAX_MSGS,
	      "control -> lcore ring holds every message that can be in flight");
static_assert(KELP_MSG_RING_ENTRIES >= KELP_TO_CTL_MAX_MSGS,
	      "lcore -> control ring holds every message that can be in flight");

enum kelp_poll_rc { KELP_POLL_IDLE = 0, KELP_POLL_BUSY = 1 };

struct kelp_lcore;
typedef int (*kelp_poll_fn)(struct kelp_lcore *lc, void *arg);
/* A poller's part of a park, for work that no doorbell announces (an RDMA CQ): called by park()
 * after NEED_WAKEUP is raised and before the lcore sleeps. It arms its wake-up (an fd in the
 * lcore's epoll set: kelp_lcore_watch_doorbell) and looks for work that came in before the arm.
 * Return KELP_POLL_BUSY: work came in (or it cannot arm): do not sleep; KELP_POLL_IDLE: may
 * sleep, for at most *@timeout_ms (lower it for a timer of the poller's own; -1: no limit). */
typedef int (*kelp_park_fn)(struct kelp_lcore *lc, void *arg, int *timeout_ms);
/* the TCP reader's, the TCP export's and the HTTP reader's rings (lcore/tcp/lcore_ring.h) and the
 * RDMA export can share an lcore */
#define KELP_LCORE_MAX_PARK_HOOKS 4u

struct kelp_poller {
	const char *name;
	kelp_poll_fn fn;
	void *arg;
};

/*
 * What each lcore counts (kelpctl stats; admin.c turns the tables below into its JSON, in this
 * order): adding a counter is one line here.
 *
 * KELP_LCORE_COUNTERS: plain counters, X(field): struct kelp_lcore_stats.field, JSON "field".
 */
#define KELP_LCORE_COUNTERS(X)                                                                     \
	X(polls)	   /* loop iterations */                                                   \
	X(busy_polls)	   /* iterations where some poller did work */                             \
	X(requests)	   /* SQEs consumed */                                                     \
	X(nops)		   /* KELP_OP_NOP served */                                                \
	X(reads)	   /* KELP_OP_READ consumed */                                             \
	X(stats)	   /* other opcodes (KELP_OP_STAT) consumed */                             \
	X(path_requests)   /* KELP_OP_PATH_* consumed */                                           \
	X(path_lcore)	   /* ... of them PATH_READs served here from a plan (path_table.h) */     \
	X(bytes)	   /* READ bytes delivered */                                              \
	X(parks)	   /* times the lcore slept in epoll_wait() */                             \
	X(tcp)		   /* completions a peer kelpd served over TCP (in by_path "rdma") */      \
	X(sessions_broken) /* sessions stopped for ring protocol violations or lost pages */

/* Failed completions by kind, X(KIND, name): KELP_ERR_KIND, errors[KELP_ERR_KIND], JSON
 * "errors":{"name"}. */
#define KELP_LCORE_ERR_KINDS(X)                                                                    \
	X(NOENT, noent)		    /* -ENOENT: missing, deleted, cookie mismatch */               \
	X(IO, io)		    /* -EIO: CRC mismatch / corrupt */                             \
	X(RANGE, range)		    /* -ERANGE */                                                  \
	X(UNREACHABLE, unreachable) /* -EHOSTUNREACH: no path */                                   \
	X(BAD_SQE, bad_sqe)	    /* -EINVAL / -EFAULT / -E2BIG: rejected by kelp_sqe_check */   \
	X(BUSY, busy)		    /* -EAGAIN: remote pool exhausted */                           \
	X(OTHER, other)

/* Successful completions by path, X(PATH, name): by_path[KELP_CQE_PATH_PATH], JSON
 * "by_path":{"name"}. */
#define KELP_LCORE_PATHS(X) X(NONE, none) X(LOCAL, local) X(RDMA, rdma) X(HTTP, http)

enum kelp_err_kind {
#define KELP_ERR_ENUM_(kind, name) KELP_ERR_##kind,
	KELP_LCORE_ERR_KINDS(KELP_ERR_ENUM_)
#undef KELP_ERR_ENUM_
		KELP_ERR_KINDS
};

/* Paths counted per lcore (index = KELP_CQE_PATH_*). */
#define KELP_PATH_COUNT_(path, name) +1
#define KELP_PATHS		     (0 KELP_LCORE_PATHS(KELP_PATH_COUNT_))
/* Counters: written by the lcore only (relaxed atomic stores), read by control (relaxed loads). */
struct kelp_lcore_stats {
#define KELP_COUNTER_FIELD_(field) uint64_t field;
	KELP_LCORE_COUNTERS(KELP_COUNTER_FIELD_)
#undef KELP_COUNTER_FIELD_
	uint64_t errors[KELP_ERR_KINDS];
	uint64_t by_path[KELP_PATHS]; /* successful completions per path */
};

/* Add @n to a counter the caller owns, readable by other threads without tearing. */
#define KELP_STAT_ADD(field, n) __atomic_store_n(&(field), (field) + (n), __ATOMIC_RELAXED)
#define KELP_STAT_READ(field)	__atomic_load_n(&(field), __ATOMIC_RELAXED)

struct kelp_engine;
struct lcore_session;
struct kelp_rdma_reader;
struct kelp_tcp_reader;
struct kelp_http_reader;

struct kelp_lcore {
	/* set before start, read-only afterwards */
	uint32_t id;
	int cpu;       /* pinned CPU */
	int numa_node; /* node of that CPU (-1 unknown) */
	struct kelp_engine *eng;
	int wake_fd;  /* eventfd (non-blocking, kelpd-only): control writes 1 to wake a parked lcore
		       */
	int epoll_fd; /* what park() sleeps on: wake_fd and every session's doorbell */
	int ctl_wake_fd; /* control's eventfd: written once per poll round that sent it messages */
	/* control's "I am about to sleep in io_uring_enter" flag (NULL: always write ctl_wake_fd);
	 * a round that sent messages writes the eventfd only when it is KELP_CTL_ASLEEP (Dekker,
	 * lcore.c) */
	const uint32_t *ctl_asleep;
	struct kelp_epoch *epoch; /* the engine's; NULL = none */
	int epoch_id;		  /* our reader id in it */
	uint64_t idle_park_ns;	  /* [engine] idle_park_us: the shortest idle spin before a park */
	int idle_yield;		  /* [engine] idle_yield */
	pthread_t thread;
	int started;

	struct kelp_msg_chan to_lcore; /* control -> lcore */
	struct kelp_msg_chan to_ctl;   /* lcore -> control */

	/* lcore only */
	struct kelp_poller pollers[KELP_LCORE_MAX_POLLERS];
	unsigned n_pollers;
	struct {
		kelp_park_fn fn;
		void *arg;
	} park_hooks[KELP_LCORE_MAX_PARK_HOOKS];
	unsigned n_park_hooks;
	struct lcore_session *sessions[KELP_LCORE_MAX_SESSIONS]; /* served, dense */
	unsigned n_sessions;
	struct lcore_session *draining[KELP_LCORE_MAX_SESSIONS]; /* gone, remote reads out */
	unsigned n_draining;
	struct kelp_remote_read *remote_pool; /* KELP_REMOTE_POOL entries */
	struct kelp_remote_read *remote_free;
	unsigned to_ctl_pending; /* messages sent since control was last woken */
	unsigned round_cqes;	 /* completions written in the current poll round */
	unsigned round_done;	 /* non-local reads finished in it, published at its end */
	unsigned round_remote;	 /* of round_cqes: non-local reads (published at the round's end) */
	unsigned round_http;	 /* reads started on the HTTP reader in the current round */
	unsigned http_inflight;	 /* reads on the HTTP reader (kept by it): their answers wake us */
	unsigned wakes_held;	 /* sessions whose client's wake-up is held (KELP_WAKE_HOLD_NS) */
	uint64_t wake_due_ns;	 /* the earliest time one of them is due */
	int no_pwait2;		 /* the kernel has no epoll_pwait2: park() uses epoll_wait */
	unsigned tcp_inflight;	 /* reads on the TCP reader (kept by it): likewise */
	/* a poller handed work to the kernel in this round whose answer wakes a parked lcore
	 * through its ring's eventfd (TCP requests or replies sent): a hand-off, like round_http */
	unsigned round_handoff;
	int handoff_only; /* the last busy round only handed work off (see the top) */
	int stop;
	/* pollers that still need a volume pointer after their round (the TCP export's sends
	 * straight from a mapping, until their completion): while nonzero the lcore passes no
	 * quiescent point and stays online when it parks, so no retired mapping is freed under
	 * the kernel's copy. Such a poller bounds how long it holds (lcore/tcp/tcp_export.c) */
	unsigned epoch_holds;
	/* 1 from just before the lcore's last look at its rings until it is back from epoll_wait():
	 * kelp_lcore_kick() writes wake_fd only then (written by the lcore, read by control) */
	uint32_t parked;
	struct kelp_lcore_stats stats;
	/* the RDMA path, when kelpd reads over RDMA (set before start by lcore/kelpd; NULL:
	 * non-local reads go to HTTP only): route() is kelp_rdma_reader_route(), called through
	 * this pointer so that the worker does not depend on the RDMA layer above it */
	struct kelp_rdma_reader *rdma_reader;
	int (*rdma_route)(struct kelp_rdma_reader *rd, struct kelp_remote_read *r);
	/* the TCP path likewise (lcore/tcp/tcp_reader.h), tried after RDMA, before HTTP */
	struct kelp_tcp_reader *tcp_reader;
	int (*tcp_route)(struct kelp_tcp_reader *rd, struct kelp_remote_read *r);
	/* HTTP from the lcore itself (lcore/tcp/http_reader.h), tried last, before handing the
	 * read to the control thread's HTTP fallback */
	struct kelp_http_reader *http_reader;
	int (*http_route)(struct kelp_http_reader *rd, struct kelp_remote_read *r);
	void (*http_stop)(struct kelp_http_reader *rd); /* at KELP_MSG_STOP: end its reads */

	/* control thread only */
	unsigned ctl_sessions; /* sessions assigned, for least-loaded placement */
	int kick_pending;      /* kelp_lcore_post() since the last kelp_lcore_kick() */

	/* the lcore's thread while it runs (claimed and released by that thread, lcore_thread()):
	 * KELP_ASSERT_OWNER in the "owning lcore only" functions, in debug builds (core/owner.h);
	 * last, so that it moves no field the loop reads */
	struct kelp_owner owner;
	/* latency of successful completions per path (index KELP_CQE_PATH_*), in ns, from the lcore
	 * taking the SQE to publishing its CQE: written by the lcore only
	 * (kelp_hist_record_n_shared), merged by control on demand (kelp_hist_merge_shared). Set
	 * at init; after owner, at the very end, for the same reason. Local reads are sampled: one
	 * burst in lat_sample (KELP_LATENCY_SAMPLE; a unit test may set 1) is timed, counted down
	 * by lat_countdown (lcore only) */
	struct kelp_hist *latency;
	uint32_t lat_sample, lat_countdown;
};

/*
 * kelp_lcore_init - set up lcore @id for @cpu: wake-up eventfd, epoll set, message rings,
 * remote-read pool, the built-in pollers. Control thread, before kelp_lcore_start().
 * Return: 0; -ENOMEM; -errno from eventfd / epoll_create1.
 */
int kelp_lcore_init(struct kelp_lcore *lc, struct kelp_engine *eng, uint32_t id, int cpu);

/*
 * kelp_lcore_watch_doorbell - add a session's doorbell eventfd @fd to the lcore's epoll set
 * (edge-triggered: every client write wakes a parked lcore once; the lcore never reads it).
 * kelp_lcore_unwatch_doorbell - remove it again, before kelpd closes its copy (the client's copy
 * keeps the file alive, and with it an epoll entry nobody removed). Control thread (epoll_ctl is
 * safe against the lcore's concurrent epoll_wait). Return: 0 or -errno (watch only).
 */
int kelp_lcore_watch_doorbell(struct kelp_lcore *lc, int fd);
void kelp_lcore_unwatch_doorbell(struct kelp_lcore *lc, int fd);

/*
 * kelp_lcore_add_poller - append a poller (called every loop iteration after the built-in ones).
 * Control thread, before kelp_lcore_start().
 * Return: 0; -ENOSPC when KELP_LCORE_MAX_POLLERS are registered.
 */
int kelp_lcore_add_poller(struct kelp_lcore *lc, const char *name, kelp_poll_fn fn, void *arg);

/*
 * kelp_lcore_add_park_hook - let @fn take part in every park (kelp_park_fn above): a poller whose
 * work arrives without a doorbell, so that the lcore may park at all. Control thread, before
 * kelp_lcore_start(). Return: 0; -ENOSPC when KELP_LCORE_MAX_PARK_HOOKS are registered.
 */
int kelp_lcore_add_park_hook(struct kelp_lcore *lc, kelp_park_fn fn, void *arg);
/* kelp_lcore_del_park_hook - undo kelp_lcore_add_park_hook(@fn, @arg) (a poller that failed to
 * set up, or is freed): not registered, nothing to do. Control thread, while the lcore does not
 * run. */
void kelp_lcore_del_park_hook(struct kelp_lcore *lc, kelp_park_fn fn, void *arg);
/*
 * kelp_lcore_wake - wake the lcore if it is parked (a running one polls again anyway): for a
 * hand-over that its pollers look for every round (e.g. the RDMA export's handshakes). Any
 * thread; rare events only (an eventfd write each time). Cannot fail.
 */
void kelp_lcore_wake(struct kelp_lcore *lc);
/* kelp_lcore_start - start the pinned thread. Control thread. Return: 0 or -errno. */
int kelp_lcore_start(struct kelp_lcore *lc);

/*
 * kelp_lcore_send - send @m to the lcore and wake it if parked. Control thread only.
 * Return: 0; -EAGAIN when its ring is full (the caller retries later).
 */
int kelp_lcore_send(struct kelp_lcore *lc, const struct kelp_msg *m);

/*
 * kelp_lcore_post - queue @m for the lcore without waking it; the caller must call
 * kelp_lcore_kick() before it next blocks (the control loop does it once per batch, so a batch of
 * HTTP fallback completions costs at most one eventfd write, and none while the lcore polls).
 * Control thread only. Return: 0; -EAGAIN when its ring is full.
 */
int kelp_lcore_post(struct kelp_lcore *lc, const struct kelp_msg *m);

/*
 * kelp_lcore_kick - wake the lcore if it is parked (or about to park), for messages queued with
 * kelp_lcore_post(). Control thread only. Cannot fail (a failed eventfd write is harmless: the
 * lcore is then not asleep).
 */
void kelp_lcore_kick(struct kelp_lcore *lc);

/* kelp_lcore_join / kelp_lcore_fini - wait for a stopped lcore's thread; free what init made.
 * Control thread, after a KELP_MSG_STOP was sent. */
void kelp_lcore_join(struct kelp_lcore *lc);
void kelp_lcore_fini(struct kelp_lcore *lc);

/*
 * kelp_lcore_serve_session - serve one burst of @s's SQ: the session poller's body, exposed so unit
 * tests can drive an lcore deterministically in one thread. Owning lcore only.
 * Return: KELP_POLL_BUSY or KELP_POLL_IDLE.
 */
int kelp_lcore_serve_session(struct kelp_lcore *lc, struct lcore_session *s);

/*
 * kelp_lcore_remote_finish - complete @r (a non-local request of this lcore, outputs filled) into
 * its session's CQ. Owning lcore (the RDMA reader's poller).
 */
void kelp_lcore_remote_finish(struct kelp_lcore *lc, struct kelp_remote_read *r);

/*
 * kelp_lcore_remote_to_http - hand @r (in flight on another path that failed) to the next path:
 * TCP when it failed over RDMA and TCP is configured (once per request), else HTTP: the lcore's
 * own HTTP reader (once per request, when it takes @r), else the control thread's HTTP fallback;
 * when its ring is full, complete it with -EAGAIN. An RDMA-only or
 * TCP-only request (KELP_SQE_F_RDMA_ONLY / _TCP_ONLY) completes instead, with @r->result when the
 * failed path set a -errno there, else -EIO. Owning lcore.
 */
void kelp_lcore_remote_to_http(struct kelp_lcore *lc, struct kelp_remote_read *r);

/*
 * kelp_lcore_park_adapt - the idle spin before the next park, from the last park: one that was
 * over within @spin_ns (work came back soon: the client paid for a wake-up that spinning would
 * have spared) doubles the spin, up to KELP_IDLE_SPIN_MAX_FACTOR x @base_ns ([engine]
 * idle_park_us); a longer one halves it, down to @base_ns. So requests with short gaps are served
 * by spinning, and an idle lcore parks after about @base_ns and then sleeps (~0 % CPU).
 * Pure (the lcore loop; unit tests). Return: the new spin in ns.
 */
uint64_t kelp_lcore_park_adapt(uint64_t spin_ns, uint64_t base_ns, uint64_t parked_ns);

/*
 * kelp_lcore_poll_once - run every poller once. Owning lcore only (also unit tests).
 * Return: KELP_POLL_BUSY when any poller was busy.
 */
int kelp_lcore_poll_once(struct kelp_lcore *lc);

/*
 * kelp_msg_ring_full - report that a message ring between control and lcore @lcore_id was full
 * (@dir: "control -> lcore" or "lcore -> control"), which the sizing above rules out, and abort:
 * a message that must not be lost (a session to release, a request to complete) could otherwise
 * only be waited for, and the other side may be waiting for us. Any thread.
 */
__attribute__((noreturn, cold)) void kelp_msg_ring_full(uint32_t lcore_id, const char *dir);

#endif
