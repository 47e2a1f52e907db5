/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lcore/tcp/lcore_ring.c, the io_uring of an lcore's poller (the HTTP reader's, the TCP reader's,
 * the TCP export's), on a real io_uring, a real lcore's epoll set and real sockets. A deferred
 * ring runs its task work in the owner's own io_uring_enter and writes its eventfd only while the
 * lcore parks (issue 12 items 4 and 5). What must hold for an lcore that parks in epoll_wait:
 *  - an answer that arrives while the owner sleeps wakes it through the ring's eventfd in the
 *    lcore's epoll set, although the kernel defers the receive to the owner (the risk: a wake
 *    that never comes, the lcore sleeping until its park timeout), also when the owner is another
 *    thread than the one that created the ring, which may then not submit (SINGLE_ISSUER);
 *  - the owner's own completions (inline, in its io_uring_enter) do not signal the eventfd, so
 *    they cannot end the lcore's next park at once;
 *  - data that arrives while the lcore runs completes only when the owner asks for it
 *    (kelp_lcore_ring_run), no eventfd write is left behind, and the park hook sees the work
 *    pending and says "do not sleep";
 *  - work that already signalled and was not run yet (the kernel does not signal again for work
 *    queued behind it) keeps the park hook busy too;
 *  - with a writer thread racing the owner's poll-and-park cycle 2000 times, no byte is left
 *    without a wake-up (the hook calls the park off, or the eventfd wakes the sleep);
 *  - an ordinary ring is not bound to a thread and has no park hook; closing a ring removes its
 *    hook (a reader that failed to set up must not leave a hook to freed memory).
 * Tests of the deferred mode skip on a kernel without IORING_SETUP_DEFER_TASKRUN (the ring is
 * then an ordinary one). Waits are bounded (10 s hang guards); no assertion depends on timing.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lcore/engine.h"
#include "lcore/tcp/lcore_ring.h"
#include "lcore/worker/lcore.h"

struct fixture {
	struct kelp_engine eng;
	struct kelp_lcore lc;
	struct io_uring ring;
	struct kelp_lcore_ring lr;
	int sv[2];
	char buf[64];
};

static struct fixture *fixture_new(bool deferred)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fx->eng.n_lcores = 1;
	fx->eng.lcores = &fx->lc;
	assert_int_equal(kelp_lcore_init(&fx->lc, &fx->eng, 0, 0), 0);
	assert_int_equal(kelp_lcore_ring_open(&fx->lc, 8, deferred, &fx->ring, &fx->lr), 0);
	assert_true(fx->lr.efd >= 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fx->sv), 0);
	return fx;
}

static int setup(void **state)
{
	*state = fixture_new(true);
	return 0;
}

static int setup_plain(void **state)
{
	*state = fixture_new(false);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	close(fx->sv[0]);
	close(fx->sv[1]);
	kelp_lcore_ring_close(&fx->lr);
	assert_int_equal(fx->lc.n_park_hooks, 0); /* the ring's hook went with it */
	kelp_lcore_fini(&fx->lc);
	free(fx);
	return 0;
}

/* The eventfd's count, 0 when it was not signalled (it is non-blocking). */
static uint64_t efd_count(const struct fixture *fx)
{
	uint64_t v = 0;

	if (read(fx->lr.efd, &v, sizeof(v)) != sizeof(v))
		assert_int_equal(errno, EAGAIN);
	return v;
}

/* Call the ring's park hook the way park() does; return what it says. */
static int park_hook(struct fixture *fx)
{
	int timeout_ms = -1;

	assert_int_equal(fx->lc.n_park_hooks, 1);
	return fx->lc.park_hooks[0].fn(&fx->lc, fx->lc.park_hooks[0].arg, &timeout_ms);
}

/* Post a receive of the socket pair's end 0 into fx->buf and submit it. */
static void post_recv(struct fixture *fx)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&fx->ring);

	assert_non_null(sqe);
	io_uring_prep_recv(sqe, fx->sv[0], fx->buf, sizeof(fx->buf), 0);
	io_uring_sqe_set_data64(sqe, 7);
	sqe->ioprio |= IORING_RECVSEND_POLL_FIRST; /* as the HTTP client's: armed, answered later */
	assert_int_equal(io_uring_submit(&fx->ring), 1);
}

/* The one completion in the CQ: the receive of @n bytes. */
static void reap_recv(struct fixture *fx, int n)
{
	struct io_uring_cqe *cqe;

	assert_int_equal(io_uring_peek_cqe(&fx->ring, &cqe), 0);
	assert_int_equal(io_uring_cqe_get_data64(cqe), 7);
	assert_int_equal(cqe->res, n);
	io_uring_cqe_seen(&fx->ring, cqe);
	assert_int_equal(io_uring_cq_ready(&fx->ring), 0);
}

static bool deferred_or_skip(struct fixture *fx)
{
	if (!fx->lr.deferred) {
		skip(); /* a kernel before 6.1: an ordinary ring, nothing of this to check */
		return false;
	}
	assert_true(fx->ring.flags & IORING_SETUP_DEFER_TASKRUN);
	assert_true(fx->lr.hooked);
	return true;
}

/* ---- the owner is another thread than the creator ------------------------------------------ */

struct owner {
	struct fixture *fx;
	int armed[2];	  /* owner -> test: the receive is submitted */
	int hook;	  /* what the park hook said */
	int woke;	  /* epoll_wait's result */
	int before_enter; /* CQEs ready before the owner entered the kernel */
	bool pending;	  /* kelp_lcore_ring_pending when woken */
	int res;	  /* the receive's result */
};

static void *owner_main(void *arg)
{
	struct owner *o = arg;
	struct fixture *fx = o->fx;
	struct epoll_event ev[4];
	struct io_uring_cqe *cqe;
	char one = 1;

	o->res = -1000;
	if (kelp_lcore_ring_awake(&fx->lr) != 0) /* the lcore's first poll */
		return NULL;
	post_recv(fx);
	/* park as the lcore does: the hook (nothing has come: it may sleep), then epoll_wait on
	 * the set that holds the eventfd; the answer is written after the hook, before or while
	 * the owner sleeps */
	o->hook = park_hook(fx);
	(void)!write(o->armed[1], &one, 1);
	o->woke = epoll_wait(fx->lc.epoll_fd, ev, 4, 10000);
	o->pending = kelp_lcore_ring_pending(&fx->lr);
	o->before_enter = (int)io_uring_cq_ready(&fx->ring);
	/* also submits the NOP the test thread queued (its submit failed, the SQE stays queued) */
	io_uring_submit_and_get_events(&fx->ring);
	while (io_uring_peek_cqe(&fx->ring, &cqe) == 0) {
		if (cqe->user_data == 7)
			o->res = cqe->res;
		io_uring_cqe_seen(&fx->ring, cqe);
	}
	return NULL;
}

static void test_deferred_ring_wakes_parked_owner(void **state)
{
	struct fixture *fx = *state;

	if (!deferred_or_skip(fx))
		return;
	struct owner o = {.fx = fx};
	assert_int_equal(pipe(o.armed), 0);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, owner_main, &o), 0);
	char c;
	assert_int_equal(read(o.armed[0], &c, 1), 1); /* the owner started the ring and parks */

	/* not the owner: may not submit */
	io_uring_prep_nop(io_uring_get_sqe(&fx->ring));
	assert_int_equal(io_uring_submit(&fx->ring), -EEXIST);

	static const char answer[] = "HTTP/1.1 200 OK\r\n";
	/* written while the owner is in its hook or asleep: either way it must wake */
	assert_int_equal(write(fx->sv[1], answer, sizeof(answer)), (ssize_t)sizeof(answer));
	pthread_join(th, NULL);

	assert_int_equal(o.hook, KELP_POLL_IDLE);
	assert_int_equal(o.woke, 1);	     /* the eventfd woke the parked owner, no EINTR */
	assert_int_equal(o.before_enter, 0); /* deferred: nothing completed behind its back */
	assert_true(o.pending);
	assert_int_equal(o.res, (int)sizeof(answer));
	assert_memory_equal(fx->buf, answer, sizeof(answer));
	close(o.armed[0]);
	close(o.armed[1]);
}

/* The race the park hook closes, with real threads: a writer sends one byte each time the owner
 * has taken the one before, so every byte lands somewhere in the owner's cycle of run, reap,
 * re-post, hook and epoll_wait (as an lcore's poll and park). A byte that lands after the owner's
 * last look and before its sleep without waking it is a lost wake-up: the owner's 10 s wait runs
 * out and the test fails (rather than hangs). */
#define RACE_BYTES 2000

struct racer {
	struct fixture *fx;
	unsigned got;	 /* bytes the owner received (atomic) */
	unsigned lost;	 /* sleeps that ran out with a byte outstanding */
	unsigned slept;	 /* parks that slept (and were woken) */
	unsigned caught; /* parks the hook called off */
};

/* Run the calling thread on CPU @cpu when the machine has it (else wherever it runs). */
static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	(void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void *race_writer(void *arg)
{
	struct racer *r = arg;

	pin(1); /* beside the owner, not behind it: on one CPU every byte would come during a sleep
		 */

	for (unsigned k = 0; k < RACE_BYTES; k++) {
		for (int spin = 0; __atomic_load_n(&r->got, __ATOMIC_ACQUIRE) < k &&
				   !__atomic_load_n(&r->lost, __ATOMIC_ACQUIRE);
		     spin++)
			if (spin > 1000)
				sched_yield();
		if (__atomic_load_n(&r->lost, __ATOMIC_ACQUIRE))
			break;
		(void)!write(r->fx->sv[1], "r", 1);
	}
	return NULL;
}

static void test_no_lost_wakeup_under_a_racing_writer(void **state)
{
	struct fixture *fx = *state;
	struct racer r = {.fx = fx};
	struct epoll_event ev[4];
	struct io_uring_cqe *cqe;
	pthread_t th;

	if (!deferred_or_skip(fx))
		return;
	cpu_set_t was;
	assert_int_equal(pthread_getaffinity_np(pthread_self(), sizeof(was), &was), 0);
	pin(0);
	assert_int_equal(kelp_lcore_ring_run(&fx->lr), 0);
	post_recv(fx);
	assert_int_equal(pthread_create(&th, NULL, race_writer, &r), 0);
	while (r.got < RACE_BYTES) {
		assert_int_equal(kelp_lcore_ring_run(&fx->lr), 0);
		while (io_uring_peek_cqe(&fx->ring, &cqe) == 0) {
			int res = cqe->res;

			io_uring_cqe_seen(&fx->ring, cqe);
			assert_true(res > 0);
			__atomic_store_n(&r.got, r.got + (unsigned)res, __ATOMIC_RELEASE);
			if (r.got < RACE_BYTES)
				post_recv(fx);
		}
		if (r.got >= RACE_BYTES)
			break;
		/* the rest of a poll round, 0 to ~16 us, a different length each time: the byte
		 * lands before, during or after the hook */
		struct timespec t0, t;
		long round_ns = (long)(r.got * 37 % 64) * 256;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		do
			clock_gettime(CLOCK_MONOTONIC, &t);
		while ((t.tv_sec - t0.tv_sec) * 1000000000L + t.tv_nsec - t0.tv_nsec < round_ns);
		if (park_hook(fx) != KELP_POLL_IDLE) {
			r.caught++; /* came after the poll's look, before the sleep: no sleep */
			continue;
		}
		r.slept++;
		if (epoll_wait(fx->lc.epoll_fd, ev, 4, 10000) == 0) {
			__atomic_store_n(&r.lost, 1, __ATOMIC_RELEASE);
			break;
		}
	}
	pthread_join(th, NULL);
	(void)pthread_setaffinity_np(pthread_self(), sizeof(was), &was);
	assert_int_equal(r.lost, 0);
	assert_int_equal(r.got, RACE_BYTES);
	print_message("%u bytes; the owner slept %u times, its hook called off %u parks\n", r.got,
		      r.slept, r.caught);
}

/* ---- the owner is this thread --------------------------------------------------------------- */

static void test_own_completions_signal_nothing(void **state)
{
	struct fixture *fx = *state;
	struct io_uring_cqe *cqe;

	if (!deferred_or_skip(fx))
		return;
	assert_int_equal(kelp_lcore_ring_run(&fx->lr), 0); /* the lcore's first poll */
	io_uring_prep_nop(io_uring_get_sqe(&fx->ring));
	assert_int_equal(io_uring_submit(&fx->ring), 1);
	assert_int_equal(io_uring_peek_cqe(&fx->ring, &cqe), 0); /* completed inline */
	io_uring_cqe_seen(&fx->ring, cqe);
	/* an ordinary ring signals its eventfd here, and the lcore's next park returns at once */
	assert_int_equal(efd_count(fx), 0);
	assert_int_equal(park_hook(fx), KELP_POLL_IDLE);
}

static void test_data_while_running_waits_for_the_owner(void **state)
{
	struct fixture *fx = *state;

	if (!deferred_or_skip(fx))
		return;
	assert_int_equal(kelp_lcore_ring_run(&fx->lr), 0);
	post_recv(fx);
	assert_int_equal(write(fx->sv[1], "abc", 3), 3);
	/* deferred: no completion and no eventfd signal until the owner asks, but flagged ... */
	assert_true(kelp_lcore_ring_pending(&fx->lr));
	assert_int_equal(io_uring_cq_ready(&fx->ring), 0);
	assert_int_equal(efd_count(fx), 0);
	/* ... and a park now would miss it: the hook sees it pending */
	assert_int_equal(park_hook(fx), KELP_POLL_BUSY);
	assert_int_equal(kelp_lcore_ring_run(&fx->lr), 0);
	reap_recv(fx, 3);
	assert_memory_equal(fx->buf, "abc", 3);
	assert_false(kelp_lcore_ring_pending(&fx->lr));
	assert_int_equal(park_hook(fx), KELP_POLL_IDLE);
}

static void test_data_after_the_park_hook_wakes_the_lcore(void **state)
{
	struct fixture *fx = *state;
	struct epoll_event ev;

	if (!deferred_or_skip(fx))
		return;
	assert_int_equal(kelp_lcore_ring_run(&fx->lr), 0);
	post_recv(fx);
	assert_int_equal(park_hook(fx), KELP_POLL_IDLE); /* nothing pending: it may sleep */
	assert_int_equal(write(fx->sv[1], "wake", 4), 4);
	/* the lcore's epoll set (where park() sleeps) reports the ring's eventfd */
	assert_int_equal(epoll_wait(fx->lc.epoll_fd, &ev, 1, 10000), 1);
	assert_true(efd_count(fx) > 0);
	assert_int_equal(kelp_lcore_ring_run(&fx->lr), 0); /* the next poll */
	reap_recv(fx, 4);
	assert_memory_equal(fx->buf, "wake", 4);
	/* running again: the eventfd is off for the lcore's own completions */
	post_recv(fx);
	assert_int_equal(write(fx->sv[1], "x", 1), 1);
	assert_int_equal(efd_count(fx), 0);
	assert_int_equal(kelp_lcore_ring_run(&fx->lr), 0);
	reap_recv(fx, 1);
}

/* The lcore woke for work (the eventfd signalled once, epoll_wait took that event) and parks
 * again before a poll ran it: the kernel signals only the first work of an empty list, so work
 * that comes now would wake nobody. The hook must say busy although the eventfd is already on. */
static void test_unrun_work_keeps_the_hook_busy(void **state)
{
	struct fixture *fx = *state;
	struct epoll_event ev;

	if (!deferred_or_skip(fx))
		return;
	assert_int_equal(kelp_lcore_ring_run(&fx->lr), 0);
	post_recv(fx);
	assert_int_equal(park_hook(fx), KELP_POLL_IDLE);
	assert_int_equal(write(fx->sv[1], "ab", 2), 2);
	assert_int_equal(epoll_wait(fx->lc.epoll_fd, &ev, 1, 10000), 1);
	assert_int_equal(park_hook(fx), KELP_POLL_BUSY);
	assert_int_equal(kelp_lcore_ring_run(&fx->lr), 0);
	/* and a CQE not reaped yet keeps it busy as well */
	assert_int_equal(park_hook(fx), KELP_POLL_BUSY);
	reap_recv(fx, 2);
	assert_int_equal(park_hook(fx), KELP_POLL_IDLE);
}

/* An ordinary ring (deferred not asked for): no thread binding, no park hook, awake and run do
 * nothing that a submit from any thread would notice. */
static void test_plain_ring_any_thread_no_hook(void **state)
{
	struct fixture *fx = *state;

	assert_false(fx->lr.deferred);
	assert_false(fx->lr.hooked);
	assert_int_equal(fx->lc.n_park_hooks, 0);
	assert_int_equal(kelp_lcore_ring_run(&fx->lr), 0);
	assert_false(kelp_lcore_ring_pending(&fx->lr));
	io_uring_prep_nop(io_uring_get_sqe(&fx->ring));
	assert_int_equal(io_uring_submit(&fx->ring), 1);
	assert_true(efd_count(fx) > 0); /* an ordinary ring signals every completion */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_deferred_ring_wakes_parked_owner, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_no_lost_wakeup_under_a_racing_writer, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_own_completions_signal_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_data_while_running_waits_for_the_owner, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_data_after_the_park_hook_wakes_the_lcore,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_unrun_work_keeps_the_hook_busy, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_plain_ring_any_thread_no_hook, setup_plain,
						teardown),
	};
	return cmocka_run_group_tests_name("lcore_ring", tests, NULL, NULL);
}
