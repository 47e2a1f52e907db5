/* SPDX-License-Identifier: Apache-2.0 */
/* An io_uring owned by an lcore's poller whose completions wake the parked lcore: lcore_ring.h. */
#include <errno.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lcore/tcp/lcore_ring.h"
#include "lcore/worker/lcore.h"

int kelp_lcore_ring_open(struct kelp_lcore *lc, unsigned entries, struct io_uring *ring, int *efd)
{
	return kelp_lcore_ring_open_flags(lc, entries, 0, ring, efd);
}

int kelp_lcore_ring_open_flags(struct kelp_lcore *lc, unsigned entries, unsigned flags,
			       struct io_uring *ring, int *efd)
{
	int rc = io_uring_queue_init(entries, ring, flags);

	*efd = -1;
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
	*efd = fd;
	return 0;
fail:
	io_uring_queue_exit(ring);
	return rc;
}

void kelp_lcore_ring_close(struct kelp_lcore *lc, struct io_uring *ring, int efd)
{
	if (efd < 0)
		return;
	io_uring_queue_exit(ring);
	kelp_lcore_unwatch_doorbell(lc, efd);
	close(efd);
}

int kelp_lcore_ring_start(struct io_uring *ring)
{
	if (!(ring->flags & IORING_SETUP_R_DISABLED))
		return 0;
	/* liburing 2.3 declares io_uring_enable_rings but its library does not export it */
	int rc = syscall(__NR_io_uring_register, ring->ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL,
			 0) < 0
			 ? -errno
			 : 0;
	if (rc == 0)
		ring->flags &=
			~IORING_SETUP_R_DISABLED; /* liburing keeps the setup flags as given */
	return rc;
}
