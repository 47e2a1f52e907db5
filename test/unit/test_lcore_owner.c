/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The invariants that used to live only in comments (issue 9, item 6):
 *   - owner-thread checks (core/owner.h): in a debug build (`make SAN=1` defines KELP_DEBUG) a
 *     "control thread only" or "owning lcore only" function called from another thread aborts,
 *     naming itself; the owner's own calls and objects nobody claimed pass. In the plain build the
 *     checks compile to nothing: the same wrong calls must then go through (they say so).
 *   - a full message ring between control and an lcore, which the sizing in lcore.h rules out,
 *     aborts with a message instead of spinning forever (both builds).
 * Each wrong call runs in a forked child; the parent reads the child's stderr and exit status.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/owner.h"
#include "lcore/engine.h"
#include "lcore/worker/lcore.h"
#include "lcore/worker/lsession.h"

struct child_result {
	int status;	/* from waitpid */
	char err[1024]; /* what the child wrote to stderr */
};

/* Run @fn(@arg) in a child process (alarm of 10 s: a hang ends as SIGALRM); collect its stderr. */
static void run_child(void (*fn)(void *), void *arg, struct child_result *res)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		dup2(p[1], STDERR_FILENO);
		alarm(10);
		fn(arg);
		_exit(0);
	}
	close(p[1]);
	size_t len = 0;
	ssize_t n;
	while ((n = read(p[0], res->err + len, sizeof(res->err) - 1 - len)) > 0)
		len += (size_t)n;
	res->err[len] = '\0';
	close(p[0]);
	assert_int_equal(waitpid(pid, &res->status, 0), pid);
}

static void assert_aborted(const struct child_result *res, const char *needle)
{
	if (!WIFSIGNALED(res->status) || WTERMSIG(res->status) != SIGABRT)
		fail_msg("child did not abort (status 0x%x), stderr: %s", res->status, res->err);
	if (!strstr(res->err, needle))
		fail_msg("abort message does not name %s: %s", needle, res->err);
}

static void assert_exited_0(const struct child_result *res)
{
	if (!WIFEXITED(res->status) || WEXITSTATUS(res->status) != 0)
		fail_msg("child failed (status 0x%x), stderr: %s", res->status, res->err);
}

/* A wrong-thread call: aborts naming @fn in a debug build; in the plain build the checks must
 * compile to nothing (no cost on the lcore's paths), so the same call goes through. */
static void assert_wrong_thread(const struct child_result *res, const char *fn)
{
#ifdef KELP_DEBUG
	assert_aborted(res, fn);
#else
	printf("plain build (no KELP_DEBUG): owner-thread checks are compiled out, %s() from the "
	       "wrong thread must go through; make SAN=1 / make asan checks that it aborts\n",
	       fn);
	assert_exited_0(res);
#endif
}

struct fixture {
	struct kelp_engine eng;
	struct kelp_lcore lc;
};

static void fixture_init(struct fixture *fx)
{
	memset(fx, 0, sizeof(*fx));
	fx->eng.n_lcores = 1;
	fx->eng.lcores = &fx->lc;
	assert_int_equal(kelp_lcore_init(&fx->lc, &fx->eng, 0, 0), 0);
}

/* ---- control thread only --------------------------------------------------------------------- */

static void *post_from_thread(void *arg)
{
	struct fixture *fx = arg;
	struct kelp_msg m = {.type = KELP_MSG_STOP};
	kelp_lcore_post(&fx->lc, &m);
	return NULL;
}

/* In the child: this thread is the control thread (as kelp_ctl_run() claims it); another
 * thread posts to the lcore. */
static void ctl_claimed_other_thread_posts(void *arg)
{
	struct fixture fx;
	fixture_init(&fx);
	kelp_owner_claim(&fx.eng.ctl_owner);
	struct kelp_msg m = {.type = KELP_MSG_STOP};
	if (kelp_lcore_post(&fx.lc, &m) != 0) /* the owner itself: fine */
		_exit(3);
	pthread_t t;
	pthread_create(&t, NULL, post_from_thread, &fx);
	pthread_join(t, NULL);
}

static void test_control_only_from_other_thread_aborts(void **state)
{
	struct child_result res;
	run_child(ctl_claimed_other_thread_posts, NULL, &res);
	assert_wrong_thread(&res, "kelp_lcore_post");
}

/* Nobody claimed the control thread (unit tests driving an lcore by hand): nothing is checked. */
static void ctl_unclaimed_other_thread_posts(void *arg)
{
	struct fixture fx;
	fixture_init(&fx);
	pthread_t t;
	pthread_create(&t, NULL, post_from_thread, &fx);
	pthread_join(t, NULL);
	kelp_owner_claim(&fx.eng.ctl_owner);
	kelp_owner_release(&fx.eng.ctl_owner); /* kelp_ctl_run() returned */
	pthread_create(&t, NULL, post_from_thread, &fx);
	pthread_join(t, NULL);
}

static void test_unclaimed_or_released_is_not_checked(void **state)
{
	struct child_result res;
	run_child(ctl_unclaimed_other_thread_posts, NULL, &res);
	assert_exited_0(&res);
}

/* ---- owning lcore only ----------------------------------------------------------------------- */

/* A started lcore claims itself in its thread; this (control) thread then runs its loop body. */
static void poll_running_lcore(void *arg)
{
	/* static: the lcore thread still runs on it after this function returns (until the
	 * child's _exit); on the stack it would read a dead frame (a SIGSEGV 1 run in 5). */
	static struct fixture fx;
	fixture_init(&fx);
	if (kelp_lcore_start(&fx.lc) != 0)
		_exit(3);
	while (!__atomic_load_n(&fx.lc.owner.claimed, __ATOMIC_ACQUIRE))
		sched_yield();
	kelp_lcore_poll_once(&fx.lc);
}

static void test_lcore_only_from_other_thread_aborts(void **state)
{
	struct child_result res;
	run_child(poll_running_lcore, NULL, &res);
	assert_wrong_thread(&res, "kelp_lcore_poll_once");
}

/* A session handed to a running lcore: the control thread must not publish its state while the
 * lcore runs (lsession.h: owning lcore, or control after the lcores stopped). */
static void set_state_of_served_session(void *arg)
{
	int after_stop = *(int *)arg;
	/* static: the lcore thread still runs on it after this function returns (until the
	 * child's _exit); on the stack it would read a dead frame (a SIGSEGV 1 run in 5). */
	static struct fixture fx;
	fixture_init(&fx);
	struct lcore_session *s;
	if (lcore_session_create(1, 16, 1, 1, 0, -1, 0, &s) != 0)
		_exit(3);
	struct kelp_msg m = {.type = KELP_MSG_SESSION_ADD, .session = s};
	if (kelp_lcore_send(&fx.lc, &m) != 0 || kelp_lcore_start(&fx.lc) != 0)
		_exit(3);
	while (!__atomic_load_n(&fx.lc.n_sessions, __ATOMIC_ACQUIRE))
		sched_yield();
	if (after_stop) {
		struct kelp_msg stop = {.type = KELP_MSG_STOP};
		if (kelp_lcore_send(&fx.lc, &stop) != 0)
			_exit(3);
		kelp_lcore_join(&fx.lc);
	}
	lcore_session_set_state(s, KELP_SEG_STOPPING, 0);
}

static void test_session_state_from_control_while_served_aborts(void **state)
{
	struct child_result res;
	int after_stop = 0;
	run_child(set_state_of_served_session, &after_stop, &res);
	assert_wrong_thread(&res, "lcore_session_set_state");
	after_stop = 1; /* what stop_all() does: allowed */
	run_child(set_state_of_served_session, &after_stop, &res);
	assert_exited_0(&res);
}

/* ---- the message rings ----------------------------------------------------------------------- */

/* Fill the lcore -> control ring (what the sizing rules out), then let the lcore release a
 * session: its SESSION_GONE has no room. */
static void release_session_into_full_ring(void *arg)
{
	struct fixture fx;
	fixture_init(&fx);
	struct kelp_msg junk = {.type = KELP_MSG_REMOTE_READ};
	for (unsigned i = 0; i < KELP_MSG_RING_ENTRIES; i++)
		if (kelp_ring_enqueue_burst(&fx.lc.to_ctl.prod, &junk, 1) != 1)
			_exit(3);
	struct lcore_session s = {0};
	struct kelp_msg add = {.type = KELP_MSG_SESSION_ADD, .session = &s};
	struct kelp_msg del = {.type = KELP_MSG_SESSION_DEL, .session = &s};
	if (kelp_lcore_send(&fx.lc, &add) != 0 || kelp_lcore_send(&fx.lc, &del) != 0)
		_exit(3);
	kelp_lcore_poll_once(&fx.lc);
}

static void test_full_ring_aborts_instead_of_spinning(void **state)
{
	struct child_result res;
	run_child(release_session_into_full_ring, NULL, &res);
	assert_aborted(&res, "message ring of lcore 0 is full");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_control_only_from_other_thread_aborts),
		cmocka_unit_test(test_unclaimed_or_released_is_not_checked),
		cmocka_unit_test(test_lcore_only_from_other_thread_aborts),
		cmocka_unit_test(test_session_state_from_control_while_served_aborts),
		cmocka_unit_test(test_full_ring_aborts_instead_of_spinning),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
