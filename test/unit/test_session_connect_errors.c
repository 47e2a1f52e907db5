/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelp_connect() tells its failures apart (issue 8 item 9): no kelpd (no socket, or a socket
 * nobody listens on) = -ECONNREFUSED, no such config = -ENOENT, a config with errors or that cannot
 * be read = -EBADMSG with FILE:LINE, bad options = -EINVAL; kelp_last_error() says it in words,
 * per thread, and is empty after a success. kelpd's refusals (-EACCES from the policy) need other
 * users: test/integ/test_kelpd_access.sh; here a fake kelpd answers the hello.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "kelp.h"
#include "kelp_abi.h"

static char dir[64];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/kelp-ut-cerr.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static int connect_to(const char *sock, const char *conf)
{
	struct kelp_opts o;
	kelp_opts_init(&o);
	o.socket_path = sock;
	o.config_path = conf;
	struct kelp_session *s = NULL;
	int rc = kelp_connect(&o, &s);
	assert_null(s);
	return rc;
}

static void expect_error(const char *want)
{
	if (!strstr(kelp_last_error(), want))
		fail_msg("kelp_last_error() = '%s', want it to contain '%s'", kelp_last_error(),
			 want);
}

static void test_no_kelpd(void **state)
{
	char sock[100];
	snprintf(sock, sizeof(sock), "%s/none.sock", dir);
	assert_int_equal(connect_to(sock, NULL), -ECONNREFUSED);
	expect_error("no kelpd at ");
	expect_error("the socket does not exist");

	/* a socket file left by a kelpd that died: bound, never listening */
	snprintf(sock, sizeof(sock), "%s/stale.sock", dir);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(connect_to(sock, NULL), -ECONNREFUSED);
	expect_error("nobody listens on the socket");
	assert_non_null(strstr(kelp_strerror(-ECONNREFUSED), "kelpd is not running"));
}

static void test_config_missing_or_bad(void **state)
{
	char conf[128], want[256];
	snprintf(conf, sizeof(conf), "%s/missing.conf", dir);
	assert_int_equal(connect_to(NULL, conf), -ENOENT);
	snprintf(want, sizeof(want), "%s: cannot read the configuration file: No such file", conf);
	expect_error(want);

	snprintf(conf, sizeof(conf), "%s/bad.conf", dir);
	write_file(conf, "[engine]\nsocket = /tmp/x.sock\nlcores = soon\n");
	assert_int_equal(connect_to(NULL, conf), -EBADMSG);
	snprintf(want, sizeof(want), "%s:3: engine.lcores:", conf);
	expect_error(want);

	/* a directory is no config either; not the policy's -EACCES */
	assert_int_equal(connect_to(NULL, dir), -EBADMSG);
	expect_error("cannot read the configuration file: Is a directory");

	/* a readable config naming a socket nobody serves: no kelpd, not a config problem */
	snprintf(conf, sizeof(conf), "%s/good.conf", dir);
	char text[256];
	snprintf(text, sizeof(text), "[engine]\nsocket = %s/none.sock\n", dir);
	write_file(conf, text);
	assert_int_equal(connect_to(NULL, conf), -ECONNREFUSED);
	expect_error("none.sock: the socket does not exist");
}

static void test_bad_opts(void **state)
{
	struct kelp_opts o;
	kelp_opts_init(&o);
	o.queue_depth = 3;
	struct kelp_session *s = NULL;
	assert_int_equal(kelp_connect(&o, &s), -EINVAL);
	expect_error("queue_depth 3 is not a power of 2");
	o.queue_depth = 0;
	o.opts_size = sizeof(o) + 8;
	assert_int_equal(kelp_connect(&o, &s), -EINVAL);
	expect_error("opts_size");
}

/* A fake kelpd: accept one connection, read the hello, answer a refusal @status, close. */
struct fake {
	int lfd;
	int32_t status;
};

static void *fake_kelpd(void *arg)
{
	struct fake *f = arg;
	int c = accept(f->lfd, NULL, NULL);
	struct kelp_hello h;
	if (c >= 0 && recv(c, &h, sizeof(h), MSG_WAITALL) == sizeof(h)) {
		struct kelp_welcome w = {.magic = KELP_HELLO_MAGIC,
					 .abi_version = KELP_ABI_VERSION,
					 .status = f->status};
		if (send(c, &w, sizeof(w), MSG_NOSIGNAL) != sizeof(w))
			perror("fake kelpd: send");
	}
	if (c >= 0)
		close(c);
	return NULL;
}

static void *last_error_of_new_thread(void *arg)
{
	return (void *)kelp_last_error();
}

static void test_refusals_and_thread_local(void **state)
{
	char sock[100];
	snprintf(sock, sizeof(sock), "%s/fake.sock", dir);
	struct fake f = {.lfd = socket(AF_UNIX, SOCK_STREAM, 0)};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	assert_int_equal(bind(f.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f.lfd, 4), 0);
	struct {
		int32_t status;
		const char *want;
	} cases[] = {
		{-EACCES, "refuses this user (uid "},
		{-EUSERS, "has reached its session limit ([engine] max_sessions)"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pthread_t t;
		f.status = cases[i].status;
		assert_int_equal(pthread_create(&t, NULL, fake_kelpd, &f), 0);
		assert_int_equal(connect_to(sock, NULL), cases[i].status);
		pthread_join(t, NULL);
		expect_error(cases[i].want);
	}
	close(f.lfd);
	/* another thread has its own (empty) message */
	pthread_t t;
	void *other = NULL;
	assert_int_equal(pthread_create(&t, NULL, last_error_of_new_thread, NULL), 0);
	pthread_join(t, &other);
	assert_non_null(other);
	assert_string_equal(other, "");
	expect_error("session limit"); /* ours unchanged */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_kelpd),
		cmocka_unit_test(test_config_missing_or_bad),
		cmocka_unit_test(test_bad_opts),
		cmocka_unit_test(test_refusals_and_thread_local),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
