/* SPDX-License-Identifier: Apache-2.0 */
/* core/config: conf/kelp.conf lists every key with its default; errors carry file:line. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"

static const char *conf_path(void)
{
	static char path[PATH_MAX];
	const char *fx = getenv("KELP_FIXTURES");
	snprintf(path, sizeof(path), "%s/../../conf/kelp.conf", fx ? fx : "test/fixtures");
	return path;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	static char buf[1 << 16];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* The shipped file parses, every table key appears in its section, and its values are the defaults.
 */
static void test_shipped_file_matches_table(void **state)
{
	struct kelp_config file, def;
	char err[4096];
	assert_int_equal(kelp_config_init(&def), 0);
	assert_int_equal(kelp_config_init(&file), 0);
	int rc = kelp_config_load(&file, conf_path(), err, sizeof(err));
	if (rc)
		fail_msg("%s", err);
	const char *text = slurp(conf_path());
	size_t n;
	const struct kelp_conf_key *keys = kelp_config_keys(&n);
	assert_true(n >= 22);
	for (size_t i = 0; i < n; i++) {
		char a[1024], b[1024], hdr[64], line[128];
		kelp_config_format(&file, &keys[i], a, sizeof(a));
		kelp_config_format(&def, &keys[i], b, sizeof(b));
		if (strcmp(a, b))
			fail_msg("%s.%s: conf/kelp.conf says '%s', the table's default is '%s'",
				 keys[i].section, keys[i].key, a, b);
		snprintf(hdr, sizeof(hdr), "\n[%s]\n", keys[i].section);
		const char *sec = strstr(text, hdr);
		if (!sec)
			fail_msg("conf/kelp.conf has no [%s]", keys[i].section);
		const char *next = strstr(sec + 1, "\n[");
		snprintf(line, sizeof(line), "\n%s =", keys[i].key);
		const char *at = strstr(sec, line);
		if (!at || (next && at > next))
			fail_msg("conf/kelp.conf does not document %s.%s", keys[i].section,
				 keys[i].key);
		assert_true(strlen(keys[i].doc) > 0);
	}
	kelp_config_free(&file);
	kelp_config_free(&def);
}

static void test_defaults_and_types(void **state)
{
	struct kelp_config c;
	char err[512];
	assert_int_equal(kelp_config_init(&c), 0);
	assert_int_equal(c.engine.lcores.n, 1);
	assert_int_equal(c.engine.lcores.cpus[0], 1);
	assert_int_equal(c.seaweedfs.lookup_ttl_s, 600);
	assert_int_equal(c.engine.hugepages, KELP_HUGEPAGES_AUTO);
	assert_false(c.seaweedfs.force_http);
	assert_int_equal(c.seaweedfs.volume_address, KELP_VOLUME_ADDRESS_URL);
	assert_int_equal(c.rdma.gid_index, -1);
	assert_int_equal(c.rdma.request_timeout_ms, 2000);

	assert_int_equal(kelp_config_set(&c, "engine.lcores=2-3,5", err, sizeof(err)), 0);
	assert_int_equal(c.engine.lcores.n, 3);
	assert_int_equal(c.engine.lcores.cpus[0], 2);
	assert_int_equal(c.engine.lcores.cpus[2], 5);
	assert_int_equal(kelp_config_set(&c, "seaweedfs.master=127.0.0.1:9333, 10.0.0.2:9333", err,
					 sizeof(err)),
			 0);
	assert_int_equal(c.seaweedfs.master.n, 2);
	assert_string_equal(c.seaweedfs.master.items[1], "10.0.0.2:9333");
	assert_int_equal(kelp_config_set(&c, "seaweedfs.force_http=yes", err, sizeof(err)), 0);
	assert_true(c.seaweedfs.force_http);
	assert_int_equal(kelp_config_set(&c, "engine.allow_uids=0,root,1234", err, sizeof(err)), 0);
	assert_int_equal(c.engine.allow_uids.n, 3);
	assert_int_equal(c.engine.allow_uids.ids[1], 0);
	assert_int_equal(c.engine.allow_uids.ids[2], 1234);
	assert_int_equal(kelp_config_set(&c, "engine.hugepages=off", err, sizeof(err)), 0);
	assert_int_equal(c.engine.hugepages, KELP_HUGEPAGES_OFF);
	assert_int_equal(
		kelp_config_set(&c, "seaweedfs.volume_address=public_url", err, sizeof(err)), 0);
	assert_int_equal(c.seaweedfs.volume_address, KELP_VOLUME_ADDRESS_PUBLIC_URL);
	assert_int_equal(
		kelp_config_set(&c, "rdma.peers=10.0.0.1:8080=10.0.1.1:18515", err, sizeof(err)),
		0);
	assert_string_equal(c.rdma.peers.items[0], "10.0.0.1:8080=10.0.1.1:18515");
	assert_int_equal(c.peer.transports.n, 2); /* default rdma,tcp */
	assert_int_equal(kelp_config_set(&c, "peer.transports=tcp", err, sizeof(err)), 0);
	assert_string_equal(c.peer.transports.items[0], "tcp");
	assert_int_equal(kelp_config_set(&c, "peer.secret=0123456789abcdef", err, sizeof(err)), 0);
	assert_int_equal(kelp_config_set(&c, "peer.tcp_peers=10.0.0.1:8080=10.0.1.1:18516", err,
					 sizeof(err)),
			 0);

	/* bad values leave the old value and explain */
	const char *bad[] = {"engine.lcores=3-2",
			     "engine.lcores=1,1",
			     "engine.lcores=",
			     "engine.queue_depth=1000",
			     "engine.arena_mb=0",
			     "engine.hugepages=maybe",
			     "seaweedfs.volume_address=publicUrl",
			     "seaweedfs.master=nohost",
			     "seaweedfs.force_http=2",
			     "rdma.port=256",
			     "rdma.request_timeout_ms=5",
			     "rdma.peers=a:1",
			     "peer.transports=udp",
			     "peer.secret=short",
			     "peer.tcp_peers=10.0.0.1:8080",
			     "peer.tcp_listen=nohost",
			     "peer.allow=10.0.0.0/99",
			     "export.dirs=relative/dir",
			     "engine.allow_gids=no-such-group-x",
			     "engine.nokey=1",
			     "nosection.key=1",
			     "engine.lcores",
			     "lcores=1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(kelp_config_set(&c, bad[i], err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, bad[i]));
	}
	assert_int_equal(c.engine.lcores.n, 3);
	assert_int_equal(c.engine.queue_depth, 1024);
	assert_int_equal(c.seaweedfs.master.n, 2);
	char buf[256];
	size_t n;
	const struct kelp_conf_key *keys = kelp_config_keys(&n);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(keys[i].key, "lcores"))
			kelp_config_format(&c, &keys[i], buf, sizeof(buf));
	assert_string_equal(buf, "2,3,5");
	kelp_config_free(&c);
}

static void test_file_errors_have_lines(void **state)
{
	char path[] = "/tmp/kelp-test-conf-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *text = "# comment\n"
			   "[engine]\n"
			   "lcores = 2\n"
			   "colour = blue\n"
			   "[nope]\n"
			   "x = 1\n"
			   "[seaweedfs]\n"
			   "lookup_ttl_s = soon\n"
			   "force_http = true\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	struct kelp_config c;
	char err[2048], want[512];
	assert_int_equal(kelp_config_init(&c), 0);
	assert_int_equal(kelp_config_load(&c, path, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:4: unknown key 'colour' in [engine]", path);
	assert_non_null(strstr(err, want));
	snprintf(want, sizeof(want), "%s:5: unknown section [nope]", path);
	assert_non_null(strstr(err, want));
	snprintf(want, sizeof(want), "%s:8: seaweedfs.lookup_ttl_s: 'soon' is not an integer",
		 path);
	assert_non_null(strstr(err, want));
	/* valid lines still applied */
	assert_int_equal(c.engine.lcores.cpus[0], 2);
	assert_true(c.seaweedfs.force_http);
	kelp_config_free(&c);

	/* a syntax error */
	FILE *f = fopen(path, "w");
	fputs("[engine]\nlcores 2\n", f);
	fclose(f);
	assert_int_equal(kelp_config_init(&c), 0);
	assert_int_equal(kelp_config_load(&c, path, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:2: syntax error", path);
	assert_non_null(strstr(err, want));
	kelp_config_free(&c);
	unlink(path);

	assert_int_equal(kelp_config_init(&c), 0);
	assert_int_equal(kelp_config_load(&c, "/nonexistent/kelp.conf", err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/kelp.conf: cannot read"));
	assert_int_equal(kelp_config_load(&c, "/tmp", err, sizeof(err)), -EISDIR);
	kelp_config_free(&c);
}

/* Issue 8 item 9: a section or key written twice is an error with both lines; the place of each
 * value is known for kelpd's own checks (lcores = 99 on a 2-CPU machine, control_cpu); an lcore
 * that is also control_cpu warns. */
static void test_duplicates_where_and_warnings(void **state)
{
	struct kelp_config c;
	char err[2048], want[512], where[512];
	const char *dup = "[engine]\n"
			  "lcores = 2\n"
			  "socket = /tmp/a.sock\n"
			  "lcores = 3\n"
			  "[export]\n"
			  "[engine]\n"
			  "arena_mb = 8\n";
	assert_int_equal(kelp_config_init(&c), 0);
	assert_int_equal(kelp_config_load_string(&c, "dup.conf", dup, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "dup.conf:4: engine.lcores is set twice (first at line 2)"));
	assert_non_null(
		strstr(err, "dup.conf:6: section [engine] appears twice (first at line 1)"));
	assert_int_equal(c.engine.lcores.cpus[0], 2); /* the second value is not applied */
	kelp_config_free(&c);

	const char *text = "# kelpd\n"
			   "[engine]\n"
			   "lcores = 99\n"
			   "control_cpu = 99\n"
			   "admin_gids = 0, 4343\n"
			   "dumpable = yes\n";
	assert_int_equal(kelp_config_init(&c), 0);
	assert_false(c.engine.dumpable);
	assert_int_equal(kelp_config_load_string(&c, "k.conf", text, err, sizeof(err)), 0);
	assert_true(c.engine.dumpable);
	assert_int_equal(c.engine.admin_gids.n, 2);
	assert_int_equal(c.engine.admin_gids.ids[1], 4343);
	assert_string_equal(kelp_config_where(&c, "engine", "lcores", where, sizeof(where)),
			    "k.conf:3");
	assert_string_equal(kelp_config_where(&c, "engine", "control_cpu", where, sizeof(where)),
			    "k.conf:4");
	assert_string_equal(kelp_config_where(&c, "engine", "socket", where, sizeof(where)),
			    "default");
	assert_string_equal(kelp_config_where(&c, "engine", "nokey", where, sizeof(where)), "?");
	/* lcores 99 and control_cpu 99: the same CPU */
	assert_int_equal(kelp_config_warnings(&c, err, sizeof(err)), 1);
	snprintf(want, sizeof(want),
		 "k.conf:4: warning: engine.control_cpu = 99 is also one of engine.lcores "
		 "(k.conf:3)");
	assert_non_null(strstr(err, want));
	/* an override moves the place and ends the overlap */
	assert_int_equal(kelp_config_set(&c, "engine.lcores=1", err, sizeof(err)), 0);
	assert_string_equal(kelp_config_where(&c, "engine", "lcores", where, sizeof(where)),
			    "command line");
	assert_int_equal(kelp_config_warnings(&c, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	/* not pinned: never overlaps */
	assert_int_equal(kelp_config_set(&c, "engine.lcores=0", err, sizeof(err)), 0);
	assert_int_equal(kelp_config_set(&c, "engine.control_cpu=-1", err, sizeof(err)), 0);
	assert_int_equal(kelp_config_warnings(&c, err, sizeof(err)), 0);
	kelp_config_free(&c);
}

/* Issue 9 item 4: the validators use the daemon's own host:port parser (core/hostport.h), so an
 * address the daemon would refuse at run time ("+18515": strtol took it, the RDMA export did not)
 * is refused here, with FILE:LINE. */
static void test_host_port_values_checked_like_the_daemon(void **state)
{
	struct kelp_config c;
	char err[2048];
	const char *text = "[seaweedfs]\n"
			   "master = 10.0.0.5:9333, [::1]:9333, master-2.example:9333\n"
			   "[rdma]\n"
			   "listen = 10.0.0.6:+18515\n"
			   "peers = 10.0.0.7:8080=10.0.0.7: 18515, ::1:8080=10.0.0.8:18515\n";
	assert_int_equal(kelp_config_init(&c), 0);
	assert_int_equal(kelp_config_load_string(&c, "t.conf", text, err, sizeof(err)), -EINVAL);
	assert_non_null(
		strstr(err, "t.conf:4: rdma.listen: '10.0.0.6:+18515': port must be 1..65535"));
	assert_non_null(
		strstr(err, "t.conf:5: rdma.peers: '10.0.0.7: 18515': port must be 1..65535"));
	assert_int_equal(c.seaweedfs.master.n, 3); /* the valid line was applied */
	assert_string_equal(c.rdma.listen, "");	   /* the bad one was not */
	kelp_config_free(&c);

	const char *bad[] = {"rdma.listen=10.0.0.6:+18515",
			     "rdma.listen=::1:18515",
			     "rdma.listen=:18515",
			     "seaweedfs.master=http://10.0.0.5:9333",
			     "rdma.peers=::1:8080=10.0.0.8:18515",
			     "rdma.listen=10.0.0.6:0x10"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(kelp_config_init(&c), 0);
		if (kelp_config_set(&c, bad[i], err, sizeof(err)) != -EINVAL)
			fail_msg("%s was accepted", bad[i]);
		assert_non_null(strstr(err, bad[i]));
		kelp_config_free(&c);
	}
	assert_int_equal(kelp_config_init(&c), 0);
	assert_int_equal(kelp_config_set(&c, "rdma.listen=[fe80::1%eth0]:18515", err, sizeof(err)),
			 0);
	assert_int_equal(kelp_config_set(&c, "rdma.listen=", err, sizeof(err)), 0); /* off */
	kelp_config_free(&c);
}

/* Issue 9 item 7: whether an id list holds users or groups is a field of its row, not a guess from
 * the key's name. */
static void test_id_lists_users_or_groups(void **state)
{
	size_t n, lists = 0;
	const struct kelp_conf_key *keys = kelp_config_keys(&n);
	for (size_t i = 0; i < n; i++) {
		if (keys[i].type != KELP_CONF_ID_LIST)
			continue;
		lists++;
		assert_int_equal(keys[i].groups, strcmp(keys[i].key, "allow_uids") != 0);
	}
	assert_int_equal(lists, 3);
	struct kelp_config c;
	char err[512];
	assert_int_equal(kelp_config_init(&c), 0);
	assert_int_equal(
		kelp_config_set(&c, "engine.allow_uids=no-such-kelp-name", err, sizeof(err)),
		-EINVAL);
	assert_non_null(strstr(err, "is not a user name or number"));
	assert_int_equal(
		kelp_config_set(&c, "engine.admin_gids=no-such-kelp-name", err, sizeof(err)),
		-EINVAL);
	assert_non_null(strstr(err, "is not a group name or number"));
	kelp_config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shipped_file_matches_table),
		cmocka_unit_test(test_defaults_and_types),
		cmocka_unit_test(test_file_errors_have_lines),
		cmocka_unit_test(test_duplicates_where_and_warnings),
		cmocka_unit_test(test_host_port_values_checked_like_the_daemon),
		cmocka_unit_test(test_id_lists_users_or_groups),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
