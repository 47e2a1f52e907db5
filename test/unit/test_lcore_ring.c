/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lcore/tcp/lcore_ring.c: the HTTP reader's ring mode, KELP_LCORE_RING_DEFERRED (task work run
 * in the owning lcore's own io_uring_enter, issue 12 item 5), on a real io_uring and a real
 * socket pair. The test thread plays the control thread that creates the ring; a second thread
 * plays the lcore that owns it. What must hold for an lcore that parks in epoll_wait:
 *   - an answer that arrives while the owner sleeps wakes it through the ring's eventfd in the
 *     lcore's epoll set, although the kernel defers the receive to the owner (the risk: a wake
 *     that never comes, the lcore sleeping until its park timeout);
 *   - the receive has not completed before the owner enters the kernel (the work is deferred,
 *     not run by an interrupt of the lcore), IORING_SQ_TASKRUN says so, and one
 *     io_uring_submit_and_get_events completes it with the bytes;
 *   - with the eventfd turned off (the HTTP reader does so while the lcore is awake) the work is
 *     still flagged by IORING_SQ_TASKRUN, and no eventfd write is left behind;
 *   - only the thread that started the ring may submit (SINGLE_ISSUER): the control thread gets
 *     -EEXIST, so a stray submit from another thread is an error, not a race.
 * Waits are bounded (10 s hang guards); no assertion depends on timing.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "lcore/engine.h"
#include "lcore/tcp/lcore_ring.h"
#include "lcore/uring_op.h"
#include "lcore/worker/lcore.h"

struct owner {
	struct kelp_lcore *lc;
	struct io_uring *ring;
	int sock;	  /* the owner receives on it */
	int armed[2];	  /* owner -> test: the receive is submitted */
	int woke;	  /* epoll_wait's result */
	int before_enter; /* CQEs ready before the owner entered the kernel */
	unsigned taskrun; /* IORING_SQ_TASKRUN when woken */
	int res;	  /* the receive's result */
	char buf[64];
};

static void *owner_main(void *arg)
{
	struct owner *o = arg;
	struct epoll_event ev[4];
	struct io_uring_cqe *cqe;
	char one = 1;

	o->res = -1000;
	if (kelp_lcore_ring_start(o->ring) != 0)
		return NULL;
	struct io_uring_sqe *sqe = io_uring_get_sqe(o->ring);
	io_uring_prep_recv(sqe, o->sock, o->buf, sizeof(o->buf), 0);
	io_uring_sqe_set_data64(sqe, 1);
	sqe->ioprio |= IORING_RECVSEND_POLL_FIRST; /* as the HTTP client's: armed, answered later */
	if (io_uring_submit(o->ring) != 1)
		return NULL;
	(void)!write(o->armed[1], &one, 1);
	/* park as the lcore does: its epoll set holds the ring's eventfd */
	o->woke = epoll_wait(o->lc->epoll_fd, ev, 4, 10000);
	o->taskrun = IO_URING_READ_ONCE(*o->ring->sq.kflags) & IORING_SQ_TASKRUN;
	o->before_enter = (int)io_uring_cq_ready(o->ring);
	/* also submits the NOP the test thread queued (its submit failed, the SQE stays queued) */
	io_uring_submit_and_get_events(o->ring);
	while (io_uring_peek_cqe(o->ring, &cqe) == 0) {
		if (cqe->user_data == 1)
			o->res = cqe->res;
		io_uring_cqe_seen(o->ring, cqe);
	}
	return NULL;
}

static void test_deferred_ring_wakes_parked_owner(void **state)
{
	(void)state;
	struct kelp_engine eng;
	struct kelp_lcore lc;
	struct io_uring ring;
	int efd, sv[2];

	memset(&eng, 0, sizeof(eng));
	eng.n_lcores = 1;
	eng.lcores = &lc;
	assert_int_equal(kelp_lcore_init(&lc, &eng, 0, 0), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	/* the control thread creates the ring */
	assert_int_equal(kelp_lcore_ring_open_flags(&lc, 8, KELP_LCORE_RING_DEFERRED, &ring, &efd),
			 0);
	assert_true(efd >= 0);
	assert_true(ring.flags & IORING_SETUP_DEFER_TASKRUN);

	struct owner o = {.lc = &lc, .ring = &ring, .sock = sv[0]};
	assert_int_equal(pipe(o.armed), 0);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, owner_main, &o), 0);
	char c;
	assert_int_equal(read(o.armed[0], &c, 1), 1); /* the owner started the ring, recv armed */

	/* not the owner: may not submit */
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	io_uring_prep_nop(sqe);
	assert_int_equal(io_uring_submit(&ring), -EEXIST);

	static const char answer[] = "HTTP/1.1 200 OK\r\n";
	assert_int_equal(write(sv[1], answer, sizeof(answer)), (ssize_t)sizeof(answer));
	pthread_join(th, NULL);

	assert_int_equal(o.woke, 1);	     /* the eventfd woke the parked owner, no EINTR */
	assert_int_equal(o.before_enter, 0); /* deferred: nothing completed behind its back */
	assert_true(o.taskrun);
	assert_int_equal(o.res, (int)sizeof(answer));
	assert_memory_equal(o.buf, answer, sizeof(answer));

	close(o.armed[0]);
	close(o.armed[1]);
	kelp_lcore_ring_close(&lc, &ring, efd);
	close(sv[0]);
	close(sv[1]);
	kelp_lcore_fini(&lc);
}

/* The HTTP reader's park hook (http_reader.c reader_park) turns the eventfd off while the lcore is
 * awake and relies on this: with IORING_CQ_EVENTFD_DISABLED the kernel still sets
 * IORING_SQ_TASKRUN for deferred work (so the hook sees the work and the lcore does not sleep),
 * writes no eventfd, and completes nothing until the owner enters. */
static void test_deferred_ring_quiet_eventfd_still_flags_work(void **state)
{
	(void)state;
	struct kelp_engine eng;
	struct kelp_lcore lc;
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	struct epoll_event ev[4];
	int efd, sv[2];
	char buf[16];

	memset(&eng, 0, sizeof(eng));
	eng.n_lcores = 1;
	eng.lcores = &lc;
	assert_int_equal(kelp_lcore_init(&lc, &eng, 0, 0), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(kelp_lcore_ring_open_flags(&lc, 8, KELP_LCORE_RING_DEFERRED, &ring, &efd),
			 0);
	assert_int_equal(kelp_lcore_ring_start(&ring), 0); /* this thread owns it */
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	io_uring_prep_recv(sqe, sv[0], buf, sizeof(buf), 0);
	sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
	assert_int_equal(io_uring_submit(&ring), 1);
	IO_URING_WRITE_ONCE(*ring.cq.kflags, *ring.cq.kflags | IORING_CQ_EVENTFD_DISABLED);

	assert_int_equal(write(sv[1], "abc", 3), 3);
	assert_int_equal(epoll_wait(lc.epoll_fd, ev, 4, 0), 0); /* no eventfd write */
	assert_true(IO_URING_READ_ONCE(*ring.sq.kflags) & IORING_SQ_TASKRUN);
	assert_int_equal(io_uring_cq_ready(&ring), 0);
	assert_int_equal(io_uring_submit_and_get_events(&ring), 0);
	assert_int_equal(io_uring_peek_cqe(&ring, &cqe), 0);
	assert_int_equal(cqe->res, 3);
	io_uring_cqe_seen(&ring, cqe);
	assert_false(IO_URING_READ_ONCE(*ring.sq.kflags) & IORING_SQ_TASKRUN);

	kelp_lcore_ring_close(&lc, &ring, efd);
	close(sv[0]);
	close(sv[1]);
	kelp_lcore_fini(&lc);
}

/* A plain ring (the TCP reader's, the export's) is not bound to a thread: start is a no-op. */
static void test_plain_ring_start_is_noop(void **state)
{
	(void)state;
	struct kelp_engine eng;
	struct kelp_lcore lc;
	struct io_uring ring;
	int efd;

	memset(&eng, 0, sizeof(eng));
	eng.n_lcores = 1;
	eng.lcores = &lc;
	assert_int_equal(kelp_lcore_init(&lc, &eng, 0, 0), 0);
	assert_int_equal(kelp_lcore_ring_open(&lc, 8, &ring, &efd), 0);
	assert_int_equal(kelp_lcore_ring_start(&ring), 0);
	io_uring_prep_nop(io_uring_get_sqe(&ring));
	assert_int_equal(io_uring_submit(&ring), 1);
	kelp_lcore_ring_close(&lc, &ring, efd);
	kelp_lcore_fini(&lc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deferred_ring_wakes_parked_owner),
		cmocka_unit_test(test_deferred_ring_quiet_eventfd_still_flags_work),
		cmocka_unit_test(test_plain_ring_start_is_noop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
