/* SPDX-License-Identifier: Apache-2.0 */
/* An io_uring owned by an lcore's poller whose completions wake the parked lcore: lcore_ring.h. */
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/log.h"
#include "lcore/tcp/lcore_ring.h"
#include "lcore/worker/lcore.h"

/* Setup flags of a deferred ring (lcore_ring.h). */
#define DEFERRED_FLAGS                                                                             \
	(IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG |     \
	 IORING_SETUP_R_DISABLED)

/* Turn the kernel's eventfd writes off or on (only the owner writes the CQ ring's flags). */
static void evfd_quiet(struct kelp_lcore_ring *lr, bool quiet)
{
	unsigned f = IO_URING_READ_ONCE(*lr->ring->cq.kflags);

	f = quiet ? f | IORING_CQ_EVENTFD_DISABLED : f & ~IORING_CQ_EVENTFD_DISABLED;
	IO_URING_WRITE_ONCE(*lr->ring->cq.kflags, f);
	lr->quiet = quiet;
}

/* The park hook of a deferred ring: the eventfd on again, then a look for work that came while it
 * was off, and for work that came before and was not run (it would not signal again) or not
 * reaped. park() fenced before the hooks; the fence here orders our flag store before our
 * IORING_SQ_TASKRUN load (the Dekker pair of lcore_ring.h). */
static int ring_park(struct kelp_lcore *lc, void *arg, int *timeout_ms)
{
	struct kelp_lcore_ring *lr = arg;

	(void)lc;
	(void)timeout_ms;
	if (!lr->started)
		return KELP_POLL_IDLE; /* never polled: nothing submitted, nothing can complete */
	if (lr->quiet) {
		evfd_quiet(lr, false);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	}
	return kelp_lcore_ring_pending(lr) || io_uring_cq_ready(lr->ring) ? KELP_POLL_BUSY
									  : KELP_POLL_IDLE;
}

int kelp_lcore_ring_open(struct kelp_lcore *lc, unsigned entries, bool deferred,
			 struct io_uring *ring, struct kelp_lcore_ring *lr)
{
	int rc = -EINVAL;

	*lr = (struct kelp_lcore_ring){.lc = lc, .ring = ring, .efd = -1};
	if (deferred)
		rc = io_uring_queue_init(entries, ring, DEFERRED_FLAGS);
	if (rc == -EINVAL) { /* not asked for, or a kernel before 6.1: the ordinary ring */
		deferred = false;
		rc = io_uring_queue_init(entries, ring, 0);
	}
	if (rc)
		return rc;
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		goto fail;
	}
	if ((rc = io_uring_register_eventfd(ring, fd)) < 0 ||
	    (rc = kelp_lcore_watch_doorbell(lc, fd)) < 0) {
		close(fd);
		goto fail;
	}
	lr->efd = fd;
	lr->deferred = deferred;
	lr->started = !deferred; /* only a deferred ring is created disabled */
	/* no park hook slot left: the eventfd simply stays on (parks that return at once) */
	lr->hooked = deferred && kelp_lcore_add_park_hook(lc, ring_park, lr) == 0;
	return 0;
fail:
	io_uring_queue_exit(ring);
	return rc;
}

int kelp_lcore_ring_awake(struct kelp_lcore_ring *lr)
{
	int rc = 0;

	if (!lr->started) { /* the first poll: this thread becomes the ring's only issuer */
		/* liburing 2.3 declares io_uring_enable_rings but its library does not export it */
		if (syscall(__NR_io_uring_register, lr->ring->ring_fd, IORING_REGISTER_ENABLE_RINGS,
			    NULL, 0) < 0) {
			rc = -errno;
			kelp_log_error("kelpd: lcore %u: cannot enable an io_uring of its own: %s",
				       lr->lc->id, strerror(-rc));
		}
		lr->started = true; /* failed: its submits fail, and their callers say so */
	}
	if (lr->hooked && !lr->quiet) /* back from a park: our own completions signal nothing */
		evfd_quiet(lr, true);
	return rc;
}

int kelp_lcore_ring_run(struct kelp_lcore_ring *lr)
{
	int rc = kelp_lcore_ring_awake(lr);

	if (rc == 0 && kelp_lcore_ring_pending(lr))
		rc = io_uring_get_events(lr->ring);
	return rc < 0 ? rc : 0;
}

void kelp_lcore_ring_close(struct kelp_lcore_ring *lr)
{
	if (lr->efd < 0)
		return;
	if (lr->hooked)
		kelp_lcore_del_park_hook(lr->lc, ring_park, lr);
	io_uring_queue_exit(lr->ring);
	kelp_lcore_unwatch_doorbell(lr->lc, lr->efd);
	close(lr->efd);
	lr->efd = -1;
	lr->hooked = false;
}
