/* SPDX-License-Identifier: Apache-2.0 */
/* nic/oob: the out-of-band handshake over real TCP on 127.0.0.1 (no RDMA needed): a full
 * exchange, a malformed HELLO, a peer that never answers (timeout), nobody listening. */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "nic/oob.h"

/* A listening socket on an ephemeral port; *port receives the port. */
static int listen_any(uint16_t *port)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = kelp_rdma_oob_listen("127.0.0.1", 0);

	assert_true(fd >= 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

static const struct kelp_rdma_hello reader_hello = {.version = 1,
						    .kind = KELP_RDMA_HELLO,
						    .credits = 16,
						    .mtu = 3,
						    .qpn = 0x42,
						    .psn = 7,
						    .gid = {0xfe, 0x80, [15] = 1}};

struct server {
	int lfd;
	int mode; /* 0 answer, 1 never answer */
	int accept_ret;
	struct kelp_rdma_hello got;
};

static void *serve_one(void *arg)
{
	struct server *s = arg;
	int fd;

	/* The listening socket is non-blocking: wait for the connection. */
	do {
		fd = kelp_rdma_oob_accept(s->lfd, &s->got, 2000);
		if (fd == -EAGAIN)
			usleep(1000);
	} while (fd == -EAGAIN);
	s->accept_ret = fd < 0 ? fd : 0;
	if (fd < 0)
		return NULL;
	if (s->mode == 1) {
		usleep(300000); /* longer than the reader's timeout */
		close(fd);
		return NULL;
	}
	struct kelp_rdma_hello ack = {.version = 1,
				      .kind = KELP_RDMA_ACK,
				      .credits = 8,
				      .mtu = 3,
				      .qpn = 0x99,
				      .psn = 5,
				      .gid = {0xfe, 0x80, [15] = 2}};
	kelp_rdma_oob_answer(fd, &ack, 2000);
	return NULL;
}

static void test_exchange(void **state)
{
	struct server s = {0};
	struct kelp_rdma_hello ack;
	pthread_t t;
	uint16_t port;

	s.lfd = listen_any(&port);
	pthread_create(&t, NULL, serve_one, &s);
	assert_int_equal(kelp_rdma_oob_connect("127.0.0.1", port, &reader_hello, &ack, 2000), 0);
	pthread_join(t, NULL);
	assert_int_equal(s.accept_ret, 0);
	assert_int_equal(s.got.qpn, 0x42);
	assert_int_equal(s.got.credits, 16);
	assert_int_equal(ack.kind, KELP_RDMA_ACK);
	assert_int_equal(ack.qpn, 0x99);
	assert_int_equal(ack.credits, 8);
	close(s.lfd);
}

static void test_peer_silent_times_out(void **state)
{
	struct server s = {.mode = 1};
	struct kelp_rdma_hello ack;
	pthread_t t;
	uint16_t port;

	s.lfd = listen_any(&port);
	pthread_create(&t, NULL, serve_one, &s);
	assert_int_equal(kelp_rdma_oob_connect("127.0.0.1", port, &reader_hello, &ack, 100),
			 -ETIMEDOUT);
	pthread_join(t, NULL);
	close(s.lfd);
}

static void test_malformed_hello_rejected(void **state)
{
	struct server s = {0};
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	uint8_t junk[KELP_RDMA_HELLO_SIZE];
	pthread_t t;
	uint16_t port;
	int fd;

	s.lfd = listen_any(&port);
	pthread_create(&t, NULL, serve_one, &s);
	sa.sin_port = htons(port);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	memset(junk, 'x', sizeof(junk));
	assert_int_equal(write(fd, junk, sizeof(junk)), sizeof(junk));
	pthread_join(t, NULL);
	assert_int_equal(s.accept_ret, -EBADMSG);
	close(fd);
	close(s.lfd);
}

static void test_nobody_listening(void **state)
{
	struct kelp_rdma_hello ack;
	uint16_t port;
	int lfd = listen_any(&port);

	close(lfd); /* the port is free again: connecting is refused */
	assert_int_equal(kelp_rdma_oob_connect("127.0.0.1", port, &reader_hello, &ack, 1000),
			 -ECONNREFUSED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exchange),
		cmocka_unit_test(test_peer_silent_times_out),
		cmocka_unit_test(test_malformed_hello_rejected),
		cmocka_unit_test(test_nobody_listening),
	};
	return cmocka_run_group_tests_name("nic_oob", tests, NULL, NULL);
}
