/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lcore/cluster/discovery.c, with the real HTTP client on an io_uring of its own, against two
 * scripted masters in this process (script_server.h) answering /dir/lookup: found (data-center
 * order, parked requests, the published table), 404 for a volume never located (-ENOENT) and for
 * one located before (issue 8 item 6: its last known locations are kept), 5xx (-EIO), garbage
 * (-EBADMSG), TTL expiry on a test clock (struct kelp_discovery_hooks), failover to the second
 * master (which then is asked first), Retry-After (short seconds through the hooks), every master
 * down with and without cached locations, shutdown during a Retry-After wait.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lcore/cluster/discovery.h"
#include "test/unit/script_server.h"

#define S 1000000000ull

static uint64_t fake_now = 1000 * S;
static uint64_t fake_clock(void)
{
	return fake_now;
}

struct master {
	struct ss ss;
	int fd; /* the connection the client keeps, -1 none yet */
};

struct fix {
	struct io_uring ring;
	struct master m[2];
	struct kelp_http_client *http;
	struct kelp_discovery *d;
};

struct waiter {
	struct kelp_locate_wait w;
	bool done;
	int err;
	int ndone;
	struct kelp_vol_locations locs;
};

static void waiter_done(struct kelp_locate_wait *w, int err, const struct kelp_vol_locations *locs)
{
	struct waiter *x = (struct waiter *)((char *)w - offsetof(struct waiter, w));
	x->done = true;
	x->err = err;
	x->ndone++;
	if (locs)
		x->locs = *locs;
}

static const struct kelp_discovery_hooks hooks = {
	.clock_ns = fake_clock,
	.retry_after_unit_ns = 2000000, /* a Retry-After second lasts 2 ms */
};

static struct fix *fix_new(unsigned n_masters, bool first_down)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct kelp_http_client_opts ho = {.timeout_ms = 2000};
	const char *names[2];

	assert_non_null(f);
	assert_int_equal(io_uring_queue_init(64, &f->ring, 0), 0);
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(ss_open(&f->m[i].ss, &f->ring), 0);
		f->m[i].fd = -1;
		names[i] = f->m[i].ss.addr;
	}
	if (first_down) { /* its port is free: connections are refused */
		ss_close(&f->m[0].ss);
		f->m[0].ss.lfd = -1;
	}
	assert_int_equal(kelp_http_client_create(&f->ring, &ho, &f->http), 0);
	assert_non_null(f->http);
	struct kelp_discovery_opts o = {
		.masters = names, .n_masters = n_masters, .data_center = "dc2", .hooks = &hooks};
	assert_int_equal(kelp_discovery_create(f->http, &o, &f->d), 0);
	assert_non_null(f->d);
	return f;
}

static int setup1(void **state)
{
	*state = fix_new(1, false);
	return 0;
}

static int setup2(void **state)
{
	*state = fix_new(2, false);
	return 0;
}

static int setup2_first_down(void **state)
{
	*state = fix_new(2, true);
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	uint64_t start = kelp_now_ns();

	kelp_discovery_shutdown(f->d);
	kelp_http_client_shutdown(f->http);
	while (kelp_http_client_busy(f->http) || kelp_discovery_busy(f->d)) {
		assert_false(ss_past(start));
		ss_pump(&f->m[1].ss, 1000);
	}
	kelp_discovery_destroy(f->d);
	assert_int_equal(kelp_http_client_destroy(f->http), 0);
	for (unsigned i = 0; i < 2; i++) {
		if (f->m[i].fd >= 0)
			close(f->m[i].fd);
		if (f->m[i].ss.lfd >= 0)
			ss_close(&f->m[i].ss);
	}
	io_uring_queue_exit(&f->ring);
	free(f);
	return 0;
}

/* Master @i receives the lookup of @vid (on the kept connection or a new one). */
static void master_request(struct fix *f, unsigned i, uint32_t vid)
{
	struct master *m = &f->m[i];
	char head[4096], line[128];
	ssize_t n;

	for (;;) {
		if (m->fd < 0)
			assert_true((m->fd = ss_accept(&m->ss)) >= 0);
		n = ss_read_request(&m->ss, m->fd, head, sizeof(head));
		if (n != 0)
			break;
		close(m->fd); /* the client closed that one: the lookup comes on a new connection */
		m->fd = -1;
	}
	assert_true(n > 0);
	snprintf(line, sizeof(line), "GET /dir/lookup?volumeId=%u HTTP/1.1\r\n", vid);
	assert_memory_equal(head, line, strlen(line));
}

/* Master @i answers the request it received with @status, @headers ("" or lines with CRLF), @body.
 */
static void master_answer(struct fix *f, unsigned i, int status, const char *headers,
			  const char *body)
{
	char resp[8192];
	snprintf(resp, sizeof(resp),
		 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n%s"
		 "Content-Length: %zu\r\n\r\n%s",
		 status, headers, strlen(body), body);
	assert_int_equal(ss_send_str(&f->m[i].ss, f->m[i].fd, resp), 0);
}

static void lookup(struct fix *f, unsigned i, uint32_t vid, int status, const char *body)
{
	master_request(f, i, vid);
	master_answer(f, i, status, "", body);
}

/* @return whether master @i got no request (none in its socket, no connection waiting). */
static bool master_quiet(struct fix *f, unsigned i)
{
	ss_pump(&f->m[i].ss, 0);
	return (f->m[i].fd < 0 || ss_still_open(f->m[i].fd)) &&
	       (f->m[i].ss.lfd < 0 || ss_none_pending(&f->m[i].ss));
}

static void park(struct fix *f, struct waiter *x, uint32_t vid)
{
	const struct kelp_vol_locations *locs = NULL;
	memset(x, 0, sizeof(*x));
	x->w.done = waiter_done;
	assert_int_equal(kelp_discovery_locate(f->d, vid, &x->w, &locs), 0);
	assert_false(x->done);
}

static void wait_for(struct fix *f, struct waiter *x)
{
	assert_true(ss_run_until(&f->m[0].ss, &x->done));
	assert_int_equal(x->ndone, 1);
}

static const struct kelp_vol_locations *hit(struct fix *f, uint32_t vid)
{
	const struct kelp_vol_locations *locs = NULL;
	struct waiter x = {.w.done = waiter_done};
	assert_int_equal(kelp_discovery_locate(f->d, vid, &x.w, &locs), 1);
	assert_non_null(locs);
	return locs;
}

static struct kelp_discovery_stats stats(struct fix *f)
{
	struct kelp_discovery_stats s;
	kelp_discovery_get_stats(f->d, &s);
	return s;
}

#define FOUND_3                                                                                    \
	"{\"volumeOrFileId\":\"3\",\"locations\":[{\"url\":\"10.0.0.1:8080\",\"publicUrl\":"       \
	"\"pub1:8080\",\"dataCenter\":\"dc1\"},{\"url\":\"10.0.0.2:8080\",\"dataCenter\":"         \
	"\"dc2\"}]}"
#define FOUND_3_MOVED "{\"locations\":[{\"url\":\"10.0.0.9:8080\"}]}"
#define NOT_FOUND_3   "{\"volumeOrFileId\":\"3\",\"error\":\"volume id 3 not found\"}"

/* Found: requests parked on one lookup wake together, in data-center order; then cache hits
 * without asking; the table for lock-free readers has it. */
static void test_found_parked_then_cached(void **state)
{
	struct fix *f = *state;
	struct waiter a, b;

	park(f, &a, 3);
	park(f, &b, 3);
	lookup(f, 0, 3, 200, FOUND_3);
	wait_for(f, &a);
	wait_for(f, &b);
	assert_int_equal(a.err, 0);
	assert_int_equal(a.locs.count, 2);
	assert_string_equal(a.locs.url[0], "10.0.0.2:8080"); /* dc2 first */
	assert_string_equal(a.locs.url[1], "10.0.0.1:8080");
	assert_int_equal(b.err, 0);
	assert_int_equal(b.locs.count, 2);

	assert_string_equal(hit(f, 3)->url[0], "10.0.0.2:8080");
	assert_true(master_quiet(f, 0));
	const struct kelp_vol_locations *t = kelp_loc_table_find(kelp_loc_table_current(f->d), 3);
	assert_non_null(t);
	assert_int_equal(t->count, 2);
	struct kelp_discovery_stats s = stats(f);
	assert_int_equal(s.lookups, 1);
	assert_int_equal(s.misses, 2);
	assert_int_equal(s.parked, 2);
	assert_int_equal(s.hits, 1);
	assert_int_equal(kelp_discovery_busy(f->d), 0);
}

/* Never located: 404 is -ENOENT; a 200 without locations too. Nothing is published. */
static void test_not_found_never_located(void **state)
{
	struct fix *f = *state;
	struct waiter a;

	park(f, &a, 3);
	lookup(f, 0, 3, 404, NOT_FOUND_3);
	wait_for(f, &a);
	assert_int_equal(a.err, -ENOENT);
	park(f, &a, 3); /* not cached: asked again */
	lookup(f, 0, 3, 200, "{\"volumeOrFileId\":\"3\",\"locations\":[]}");
	wait_for(f, &a);
	assert_int_equal(a.err, -ENOENT);
	assert_null(kelp_loc_table_find(kelp_loc_table_current(f->d), 3));
	assert_int_equal(stats(f).master_not_found, 0);
}

/* Issue 8 item 6: a 404 for a volume located before keeps its last known locations (no false
 * -ENOENT), for STALE_RETRY (10 s) before asking again; a later 200 takes over. */
static void test_404_keeps_known_locations(void **state)
{
	struct fix *f = *state;
	struct waiter a;

	park(f, &a, 3);
	lookup(f, 0, 3, 200, FOUND_3);
	wait_for(f, &a);
	kelp_discovery_invalidate(f->d, 3); /* a read failed everywhere */

	park(f, &a, 3);
	lookup(f, 0, 3, 404, NOT_FOUND_3);
	wait_for(f, &a);
	assert_int_equal(a.err, 0);
	assert_int_equal(a.locs.count, 2);
	assert_string_equal(a.locs.url[0], "10.0.0.2:8080");
	assert_non_null(kelp_loc_table_find(kelp_loc_table_current(f->d), 3));
	assert_int_equal(stats(f).master_not_found, 1);
	assert_int_equal(stats(f).stale_served, 1);

	fake_now += 9 * S;
	hit(f, 3);
	assert_true(master_quiet(f, 0));
	fake_now += 2 * S;
	park(f, &a, 3);
	lookup(f, 0, 3, 200, FOUND_3_MOVED);
	wait_for(f, &a);
	assert_int_equal(a.err, 0);
	assert_int_equal(a.locs.count, 1);
	assert_string_equal(a.locs.url[0], "10.0.0.9:8080");
}

/* TTL: fresh for ttl_s (600 s default) on the discovery's clock, asked again after. */
static void test_ttl_expiry(void **state)
{
	struct fix *f = *state;
	struct waiter a;

	park(f, &a, 3);
	lookup(f, 0, 3, 200, FOUND_3);
	wait_for(f, &a);
	fake_now += 600 * S - 1;
	assert_string_equal(hit(f, 3)->url[0], "10.0.0.2:8080");
	assert_true(master_quiet(f, 0));
	fake_now += 1;
	park(f, &a, 3);
	lookup(f, 0, 3, 200, FOUND_3_MOVED);
	wait_for(f, &a);
	assert_string_equal(a.locs.url[0], "10.0.0.9:8080");
	assert_string_equal(hit(f, 3)->url[0], "10.0.0.9:8080");
	assert_int_equal(stats(f).lookups, 2);
}

/* 5xx from every master: -EIO; each asked once (failover); garbage JSON: -EBADMSG; malformed
 * HTTP: -EBADMSG. */
static void test_5xx_and_garbage(void **state)
{
	struct fix *f = *state;
	struct waiter a;

	park(f, &a, 3);
	lookup(f, 0, 3, 500, "oops");
	lookup(f, 1, 3, 502, "");
	wait_for(f, &a);
	assert_int_equal(a.err, -EIO);
	assert_int_equal(stats(f).failovers, 1);
	assert_int_equal(stats(f).lookup_errors, 1);

	/* the round began with master 1 (asked last); garbage from both */
	park(f, &a, 4);
	lookup(f, 1, 4, 200, "<html>not json</html>");
	lookup(f, 0, 4, 200, "{\"locations\":[{\"url\":7}]}");
	wait_for(f, &a);
	assert_int_equal(a.err, -EBADMSG);

	park(f, &a, 5);
	master_request(f, 0, 5);
	assert_int_equal(ss_send_str(&f->m[0].ss, f->m[0].fd, "HTTP/1.1 abc\r\n\r\n"), 0);
	master_request(f, 1, 5);
	assert_int_equal(ss_send_str(&f->m[1].ss, f->m[1].fd, "\x16\x03\x01 TLS?\r\n\r\n"), 0);
	wait_for(f, &a);
	assert_int_equal(a.err, -EBADMSG);
	assert_int_equal(kelp_discovery_busy(f->d), 0);
}

/* The first master refuses connections: the second answers, and is asked first from then on. */
static void test_failover_to_second_master(void **state)
{
	struct fix *f = *state;
	struct waiter a;

	park(f, &a, 3);
	lookup(f, 1, 3, 200, FOUND_3);
	wait_for(f, &a);
	assert_int_equal(a.err, 0);
	assert_int_equal(stats(f).failovers, 1);

	park(f, &a, 4);
	lookup(f, 1, 4, 200, FOUND_3_MOVED);
	wait_for(f, &a);
	assert_int_equal(a.err, 0);
	assert_string_equal(a.locs.url[0], "10.0.0.9:8080");
	assert_int_equal(stats(f).failovers, 1); /* the dead one was not asked again */
	assert_int_equal(stats(f).lookups, 3);
}

/* No master reachable: -EHOSTUNREACH for a volume never located; the cached locations of one
 * located before (expired) are served instead. */
static void test_all_masters_down(void **state)
{
	struct fix *f = *state;
	struct waiter a;

	park(f, &a, 3);
	lookup(f, 1, 3, 200, FOUND_3);
	wait_for(f, &a);

	ss_close(&f->m[1].ss); /* now both refuse */
	f->m[1].ss.lfd = -1;
	close(f->m[1].fd); /* and the kept connection goes */
	f->m[1].fd = -1;

	park(f, &a, 4);
	wait_for(f, &a);
	assert_int_equal(a.err, -EHOSTUNREACH);

	fake_now += 601 * S;
	park(f, &a, 3);
	wait_for(f, &a);
	assert_int_equal(a.err, 0);
	assert_string_equal(a.locs.url[0], "10.0.0.2:8080");
	assert_int_equal(stats(f).stale_served, 1);
	hit(f, 3); /* for STALE_RETRY before asking again */
}

/* 503 + Retry-After: the same master is asked again after the delay (2 "seconds" of 2 ms);
 * after KELP_DISCOVERY_MAX_BUSY_RETRIES busy answers the round fails with -EAGAIN. */
static void test_retry_after(void **state)
{
	struct fix *f = *state;
	struct waiter a;

	park(f, &a, 3);
	master_request(f, 0, 3);
	uint64_t t0 = kelp_now_ns();
	master_answer(f, 0, 503, "Retry-After: 2\r\n", "{\"error\":\"warming up\"}");
	lookup(f, 0, 3, 200, FOUND_3);
	assert_true(kelp_now_ns() - t0 >= 4000000); /* not before the delay */
	wait_for(f, &a);
	assert_int_equal(a.err, 0);
	assert_int_equal(stats(f).busy_retries, 1);
	assert_int_equal(stats(f).lookups, 2);

	park(f, &a, 4);
	for (int i = 0; i <= KELP_DISCOVERY_MAX_BUSY_RETRIES; i++) {
		master_request(f, 0, 4);
		master_answer(f, 0, 503, "", "");
	}
	wait_for(f, &a);
	assert_int_equal(a.err, -EAGAIN);
	assert_int_equal(stats(f).busy_retries, 1 + KELP_DISCOVERY_MAX_BUSY_RETRIES);
	assert_int_equal(kelp_discovery_busy(f->d), 0);
}

/* Shutdown while a lookup waits for its Retry-After timer: the request ends with -ECANCELED. */
static void test_shutdown_during_retry_after(void **state)
{
	struct fix *f = *state;
	struct waiter a;

	park(f, &a, 3);
	master_request(f, 0, 3);
	master_answer(f, 0, 503, "Retry-After: 10\r\n", ""); /* 20 ms */
	while (stats(f).busy_retries == 0)
		ss_pump(&f->m[0].ss, 1000);
	kelp_discovery_shutdown(f->d);
	wait_for(f, &a);
	assert_int_equal(a.err, -ECANCELED);
	assert_int_equal(kelp_discovery_busy(f->d), 0);
	const struct kelp_vol_locations *locs;
	assert_int_equal(kelp_discovery_locate(f->d, 3, &a.w, &locs), -ECANCELED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_found_parked_then_cached, setup1, teardown),
		cmocka_unit_test_setup_teardown(test_not_found_never_located, setup1, teardown),
		cmocka_unit_test_setup_teardown(test_404_keeps_known_locations, setup1, teardown),
		cmocka_unit_test_setup_teardown(test_ttl_expiry, setup1, teardown),
		cmocka_unit_test_setup_teardown(test_5xx_and_garbage, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_failover_to_second_master, setup2_first_down,
						teardown),
		cmocka_unit_test_setup_teardown(test_all_masters_down, setup2_first_down, teardown),
		cmocka_unit_test_setup_teardown(test_retry_after, setup1, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_during_retry_after, setup1, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
