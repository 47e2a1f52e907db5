/* SPDX-License-Identifier: Apache-2.0 */
/* The out-of-band TCP handshake (see oob.h). */
#include "nic/oob.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Waits until @fd is ready for @events. @return 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = events};
	int ret;

	do {
		ret = poll(&p, 1, timeout_ms);
	} while (ret < 0 && errno == EINTR);
	if (ret < 0)
		return -errno;
	return ret == 0 ? -ETIMEDOUT : 0;
}

/* Exactly @len bytes in or out of a non-blocking socket within @timeout_ms (per wait). */
int kelp_oob_xfer(int fd, void *buf, size_t len, bool out, int timeout_ms)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = out ? send(fd, (uint8_t *)buf + done, len - done, MSG_NOSIGNAL)
				: recv(fd, (uint8_t *)buf + done, len - done, 0);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		int ret = wait_fd(fd, out ? POLLOUT : POLLIN, timeout_ms);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int exchange_send(int fd, const struct kelp_rdma_hello *m, int timeout_ms)
{
	uint8_t buf[KELP_RDMA_HELLO_SIZE];
	int ret = kelp_rdma_hello_encode(m, buf, sizeof(buf));

	return ret < 0 ? ret : kelp_oob_xfer(fd, buf, sizeof(buf), true, timeout_ms);
}

static int exchange_recv(int fd, struct kelp_rdma_hello *m, int timeout_ms)
{
	uint8_t buf[KELP_RDMA_HELLO_SIZE];
	int ret = kelp_oob_xfer(fd, buf, sizeof(buf), false, timeout_ms);

	return ret < 0 ? ret : kelp_rdma_hello_parse(buf, sizeof(buf), m);
}

int kelp_oob_dial(const char *host, uint16_t port, int timeout_ms)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res, *ai;
	char portstr[8];
	int fd = -1, ret;

	snprintf(portstr, sizeof(portstr), "%u", port);
	ret = getaddrinfo(host, portstr, &hints, &res);
	if (ret != 0)
		return ret == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
	ret = -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			ret = -errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
			int soerr = 0;
			socklen_t sl = sizeof(soerr);

			ret = wait_fd(fd, POLLOUT, timeout_ms);
			if (ret == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0)
				ret = soerr ? -soerr : 0;
			if (ret == 0)
				break;
		} else {
			ret = -errno;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd < 0 ? ret : fd;
}

int kelp_rdma_oob_connect(const char *host, uint16_t port, const struct kelp_rdma_hello *mine,
			  struct kelp_rdma_hello *peer, int timeout_ms)
{
	int fd = kelp_oob_dial(host, port, timeout_ms), ret;

	if (fd < 0)
		return fd;
	ret = exchange_send(fd, mine, timeout_ms);
	if (ret == 0)
		ret = exchange_recv(fd, peer, timeout_ms);
	close(fd);
	return ret;
}

int kelp_rdma_oob_listen(const char *addr, uint16_t port)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res;
	char portstr[8];
	int fd, one = 1, ret;

	snprintf(portstr, sizeof(portstr), "%u", port);
	ret = getaddrinfo(addr && *addr ? addr : NULL, portstr, &hints, &res);
	if (ret != 0)
		return ret == EAI_SYSTEM ? -errno : -EADDRNOTAVAIL;
	fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 64) < 0) {
		ret = -errno;
		close(fd);
		goto out;
	}
	ret = fd;
out:
	freeaddrinfo(res);
	return ret;
}

int kelp_rdma_oob_accept(int lfd, struct kelp_rdma_hello *peer, int timeout_ms)
{
	int fd, ret;

	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	ret = exchange_recv(fd, peer, timeout_ms);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	return fd;
}

int kelp_rdma_oob_answer(int fd, const struct kelp_rdma_hello *ack, int timeout_ms)
{
	int ret = exchange_send(fd, ack, timeout_ms);

	close(fd);
	return ret;
}
