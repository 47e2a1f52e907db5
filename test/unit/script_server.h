/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A scripted HTTP server for tests of lcore/cluster/http_client.c and discovery.c
 * (test_http_client, test_discovery, fuzz_http_client): a listening socket on 127.0.0.1 (port 0)
 * whose connections the test itself accepts, reads and answers, step by step, on the same thread
 * that runs the client's io_uring. No helper thread: the test decides the order of events (what the
 * server has sent when the client looks), so every case is deterministic. While the server side
 * waits for something (a connection, a request, an EOF), ss_pump() submits the ring and dispatches
 * its completions, so the client progresses.
 *
 * Waits are bounded by SS_DEADLINE_MS (a failing test stops instead of hanging); a passing test
 * never reaches it. Server sockets are non-blocking.
 */
#ifndef KELP_TEST_SCRIPT_SERVER_H
#define KELP_TEST_SCRIPT_SERVER_H

#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "lcore/uring_op.h"

#define SS_DEADLINE_MS 5000

struct ss {
	struct io_uring *ring;
	int lfd;
	char addr[32]; /* "127.0.0.1:port" */
};

/* Submit what the client queued, wait up to @wait_us for a completion, dispatch all of them. */
static inline void ss_pump(struct ss *s, unsigned wait_us)
{
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = (long long)wait_us * 1000};

	if (wait_us)
		io_uring_submit_and_wait_timeout(s->ring, &cqe, 1, &ts, NULL);
	else
		io_uring_submit(s->ring);
	kelp_uring_dispatch(s->ring);
}

static inline bool ss_past(uint64_t start)
{
	return kelp_now_ns() - start > (uint64_t)SS_DEADLINE_MS * 1000000u;
}

/* @return 0 and a listening socket on 127.0.0.1 in @s, or -errno. */
static inline int ss_open(struct ss *s, struct io_uring *ring)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);

	s->ring = ring;
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->lfd < 0)
		return -errno;
	if (bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(s->lfd, 64) ||
	    getsockname(s->lfd, (struct sockaddr *)&sa, &len)) {
		int rc = -errno;
		close(s->lfd);
		return rc;
	}
	snprintf(s->addr, sizeof(s->addr), "127.0.0.1:%u", ntohs(sa.sin_port));
	return 0;
}

static inline void ss_close(struct ss *s)
{
	close(s->lfd);
}

/* @return a connection the client opened (pumping the ring meanwhile), or -ETIMEDOUT. */
static inline int ss_accept(struct ss *s)
{
	uint64_t start = kelp_now_ns();
	int one = 1;

	for (;;) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			return fd;
		}
		if (ss_past(start))
			return -ETIMEDOUT;
		ss_pump(s, 200);
	}
}

/* @return whether no connection waits to be accepted (the client opened none). */
static inline bool ss_none_pending(struct ss *s)
{
	struct pollfd p = {.fd = s->lfd, .events = POLLIN};
	return poll(&p, 1, 0) == 0;
}

/*
 * Read one request head (up to "\r\n\r\n") from @fd into @buf (NUL-terminated), pumping the ring.
 * @return its length, 0 when the client closed first, -ETIMEDOUT, -EMSGSIZE.
 */
static inline ssize_t ss_read_request(struct ss *s, int fd, char *buf, size_t cap)
{
	uint64_t start = kelp_now_ns();
	size_t len = 0;

	buf[0] = '\0';
	while (!strstr(buf, "\r\n\r\n")) {
		if (len + 1 >= cap)
			return -EMSGSIZE;
		ssize_t n = recv(fd, buf + len, 1, 0); /* a byte at a time: never past the head */
		if (n == 0)
			return 0;
		if (n < 0 && errno != EAGAIN)
			return -errno;
		if (n < 0) {
			if (ss_past(start))
				return -ETIMEDOUT;
			ss_pump(s, 200);
			continue;
		}
		len++;
		buf[len] = '\0';
	}
	return (ssize_t)len;
}

/* Send all of @data on @fd, pumping the ring while the socket is full. @return 0 or -errno. */
static inline int ss_send(struct ss *s, int fd, const void *data, size_t len)
{
	uint64_t start = kelp_now_ns();
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(fd, (const char *)data + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN)
			return -errno;
		if (n < 0) {
			if (ss_past(start))
				return -ETIMEDOUT;
			ss_pump(s, 200);
			continue;
		}
		off += (size_t)n;
	}
	return 0;
}

static inline int ss_send_str(struct ss *s, int fd, const char *str)
{
	return ss_send(s, fd, str, strlen(str));
}

/*
 * Wait until the client closed @fd's other end, pumping the ring.
 * @return 0 closed (EOF or reset), 1 the client sent bytes instead, -ETIMEDOUT.
 */
static inline int ss_wait_closed(struct ss *s, int fd)
{
	uint64_t start = kelp_now_ns();
	char b;

	for (;;) {
		ssize_t n = recv(fd, &b, 1, 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return 0;
		if (n > 0)
			return 1;
		if (ss_past(start))
			return -ETIMEDOUT;
		ss_pump(s, 200);
	}
}

/* @return whether @fd is still open at the client's end and nothing was sent on it. */
static inline bool ss_still_open(int fd)
{
	char b;
	ssize_t n = recv(fd, &b, 1, MSG_PEEK);
	return n < 0 && errno == EAGAIN;
}

/* Pump until *@flag is set. @return true, or false past the deadline. */
static inline bool ss_run_until(struct ss *s, const bool *flag)
{
	uint64_t start = kelp_now_ns();

	while (!*flag) {
		if (ss_past(start))
			return false;
		ss_pump(s, 1000);
	}
	return true;
}

#endif
