/* SPDX-License-Identifier: Apache-2.0 */
/* lcore/cluster/http_fallback: how a volume server's answer becomes a completion
 * (kelp_http_read_result); lcore/cluster/discovery: finding a volume in a published location table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <stdio.h>

#include "core/crc32c.h"
#include "kelp.h"
#include "lcore/cluster/discovery.h"
#include "lcore/cluster/http_fallback.h"
#include "proto/lookup.h"

static struct kelp_http_response resp(int status)
{
	struct kelp_http_response r;
	memset(&r, 0, sizeof(r));
	r.status = status;
	r.content_length = -1;
	r.range_total = -1;
	return r;
}

static void read_at(struct kelp_http_read *r, uint64_t off, uint32_t len)
{
	memset(r, 0, sizeof(*r));
	r->offset = off;
	r->length = len;
}

static void test_partial_content(void **state)
{
	struct kelp_http_read r;
	struct kelp_http_response h = resp(206);
	h.has_content_range = true;
	h.range_first = 100;
	h.range_last = 149;
	h.range_total = 20000;
	h.body_total = 50;
	h.gzip = true;
	strcpy(h.etag, "\"5e90563f\"");
	read_at(&r, 100, 50);
	assert_false(kelp_http_read_result(&r, &h, 50));
	assert_int_equal(r.result, 50);
	assert_int_equal(r.size, 20000);
	assert_int_equal(r.crc, 0x5e90563f);
	assert_int_equal(r.needle_flags, 1);
	assert_int_equal(r.cqe_flags, KELP_CQE_PATH_HTTP | KELP_CQE_F_GZIP | KELP_CQE_F_TRUNCATED);

	/* an ETag that is not 8 quoted hex digits gives crc 0 */
	const char *bad_etags[] = {"\"5e90563\"",  "\"5e90563g\"", "W/\"5e90563f\"", "5e90563f", "",
				   "\"5e90563f\"x"};
	for (size_t i = 0; i < sizeof(bad_etags) / sizeof(bad_etags[0]); i++) {
		strcpy(h.etag, bad_etags[i]);
		read_at(&r, 100, 50);
		assert_false(kelp_http_read_result(&r, &h, 50));
		assert_int_equal(r.crc, 0);
	}
	strcpy(h.etag, "\"5E90563F\"");
	read_at(&r, 100, 50);
	assert_false(kelp_http_read_result(&r, &h, 50));
	assert_int_equal(r.crc, 0x5e90563f);

	/* the tail: not truncated */
	h.gzip = false;
	h.range_first = 19990;
	h.range_last = 19999;
	read_at(&r, 19990, 4096);
	assert_false(kelp_http_read_result(&r, &h, 10));
	assert_int_equal(r.result, 10);
	assert_int_equal(r.cqe_flags, KELP_CQE_PATH_HTTP);

	/* a range that is not the one asked for, or a body of the wrong length: malformed */
	read_at(&r, 0, 10);
	assert_true(kelp_http_read_result(&r, &h, 10));
	assert_int_equal(r.result, -EBADMSG);
	read_at(&r, 19990, 4096);
	assert_true(kelp_http_read_result(&r, &h, 9));
	h.has_content_range = false;
	assert_true(kelp_http_read_result(&r, &h, 10));
}

static void test_end_and_past_end(void **state)
{
	struct kelp_http_read r;
	struct kelp_http_response h = resp(416);
	h.has_content_range = true;
	h.range_total = 5000;
	read_at(&r, 5000, 10);
	assert_false(kelp_http_read_result(&r, &h, 0));
	assert_int_equal(r.result, 0);
	assert_int_equal(r.size, 5000);
	read_at(&r, 5001, 10);
	assert_false(kelp_http_read_result(&r, &h, 0));
	assert_int_equal(r.result, -ERANGE);
	h.range_total = 0; /* an empty needle answers every range with 416 bytes STAR/0 */
	read_at(&r, 0, 4096);
	assert_false(kelp_http_read_result(&r, &h, 0));
	assert_int_equal(r.result, 0);
	assert_int_equal(r.size, 0);
}

static void test_whole_body_and_stat(void **state)
{
	struct kelp_http_read r;
	struct kelp_http_response h = resp(200);
	h.content_length = 8;
	h.body_total = 8;
	read_at(&r, 0, 4);
	assert_false(kelp_http_read_result(&r, &h, 4));
	assert_int_equal(r.result, 4);
	assert_int_equal(r.size, 8);
	assert_true(r.cqe_flags & KELP_CQE_F_TRUNCATED);
	read_at(&r, 2, 4); /* a 200 to a Range from offset 2: we kept the wrong bytes */
	assert_true(kelp_http_read_result(&r, &h, 4));

	memset(&r, 0, sizeof(r));
	r.stat = true;
	h.body_total = 0;
	assert_false(kelp_http_read_result(&r, &h, 0));
	assert_int_equal(r.result, 0);
	assert_int_equal(r.size, 8);
}

static void test_statuses(void **state)
{
	struct kelp_http_read r;
	const struct {
		int status, result;
		bool retry;
	} v[] = {{404, -ENOENT, false}, {401, -EPERM, false}, {403, -EPERM, false},
		 {400, -EINVAL, false}, {500, -EIO, true},    {503, -EIO, true},
		 {302, -EBADMSG, true}};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct kelp_http_response h = resp(v[i].status);
		read_at(&r, 0, 10);
		assert_int_equal(kelp_http_read_result(&r, &h, 0), v[i].retry);
		assert_int_equal(r.result, v[i].result);
	}
}

/* A failed call's error, as the control thread's fallback and the lcore's HTTP reader both map it:
 * the read's error, and whether it says the server is down (replica health, the lcore's bypass). */
static void test_call_error(void **state)
{
	static const int down[] = {ECONNREFUSED, ECONNRESET,  ECONNABORTED, ETIMEDOUT,
				   EHOSTUNREACH, ENETUNREACH, EHOSTDOWN,    EPIPE};
	bool d = true;

	(void)state;
	for (size_t i = 0; i < sizeof(down) / sizeof(down[0]); i++) {
		assert_int_equal(kelp_http_call_error(-down[i], &d), -EHOSTUNREACH);
		assert_true(d);
	}
	assert_int_equal(kelp_http_call_error(-EPROTO, &d), -EBADMSG);
	assert_false(d); /* it answered, if badly */
	d = true;
	assert_int_equal(kelp_http_call_error(-EMSGSIZE, &d), -EBADMSG);
	assert_false(d);
	d = true;
	assert_int_equal(kelp_http_call_error(-ECANCELED, &d), -ECANCELED);
	assert_false(d);
	d = true;
	assert_int_equal(kelp_http_call_error(-ENOMEM, &d), -EHOSTUNREACH);
	assert_false(d); /* our own trouble: not the server's */
}

static void test_loc_table_find(void **state)
{
	const uint32_t vids[] = {1, 2, 7, 100, 4000000000u};
	size_t n = sizeof(vids) / sizeof(vids[0]);
	struct kelp_loc_table *t = calloc(1, sizeof(*t) + n * sizeof(t->vols[0]));
	t->count = (uint32_t)n;
	for (size_t i = 0; i < n; i++) {
		t->vols[i].vid = vids[i];
		t->vols[i].count = 1;
	}
	for (size_t i = 0; i < n; i++)
		assert_ptr_equal(kelp_loc_table_find(t, vids[i]), &t->vols[i]);
	assert_null(kelp_loc_table_find(t, 0));
	assert_null(kelp_loc_table_find(t, 3));
	assert_null(kelp_loc_table_find(t, 4000000001u));
	assert_null(kelp_loc_table_find(NULL, 1)); /* nothing published yet */
	t->count = 0;
	assert_null(kelp_loc_table_find(t, 1));
	free(t);
}

/* [seaweedfs] volume_address: url or publicUrl (url when a server has none); data center first. */
static void test_discovery_order_volume_address(void **state)
{
	const char *body =
		"{\"volumeOrFileId\":\"3\",\"locations\":["
		"{\"url\":\"127.0.0.1:8080\",\"publicUrl\":\"10.0.2.2:8080\","
		"\"dataCenter\":\"dc1\"},"
		"{\"url\":\"127.0.0.1:8081\",\"publicUrl\":\"\",\"dataCenter\":\"dc2\"}]}";
	struct kelp_lookup_result res;
	struct kelp_vol_locations locs;

	assert_int_equal(kelp_lookup_parse(200, body, strlen(body), &res), 0);
	assert_int_equal(res.count, 2);
	kelp_discovery_order(&res, NULL, false, &locs);
	assert_int_equal(locs.count, 2);
	assert_string_equal(locs.url[0], "127.0.0.1:8080");
	assert_string_equal(locs.url[1], "127.0.0.1:8081");
	kelp_discovery_order(&res, "", true, &locs);
	assert_int_equal(locs.count, 2);
	assert_string_equal(locs.url[0], "10.0.2.2:8080");
	assert_string_equal(locs.url[1], "127.0.0.1:8081"); /* no publicUrl: its url */
	kelp_discovery_order(&res, "dc2", true, &locs);
	assert_string_equal(locs.url[0], "127.0.0.1:8081");
	assert_string_equal(locs.url[1], "10.0.2.2:8080");
}

/* issue 8 item 8: a needle corrupt locally is read from a replica with its CRC checked; a replica
 * whose bytes do not match its own ETag is not believed */
static void test_verify_crc(void **state)
{
	uint8_t data[100];
	for (int i = 0; i < 100; i++)
		data[i] = (uint8_t)(i * 7);
	uint32_t crc = kelp_crc32c(0, data, sizeof(data));
	struct kelp_http_response h = resp(200);
	h.body_total = sizeof(data);
	snprintf(h.etag, sizeof(h.etag), "\"%08x\"", crc);
	struct kelp_http_read r;

	read_at(&r, 0, 4096);
	r.verify_crc = true;
	assert_false(kelp_http_read_result(&r, &h, sizeof(data)));
	assert_true(kelp_http_read_crc_ok(&r, data));
	assert_true(r.cqe_flags & KELP_CQE_F_CRC_CHECKED);
	data[50] ^= 0x5a;
	read_at(&r, 0, 4096);
	r.verify_crc = true;
	assert_false(kelp_http_read_result(&r, &h, sizeof(data)));
	assert_false(kelp_http_read_crc_ok(&r, data));
	assert_false(r.cqe_flags & KELP_CQE_F_CRC_CHECKED);
	/* SeaweedFS before 3.09 stored the legacy transform of the CRC: accepted too */
	data[50] ^= 0x5a;
	snprintf(h.etag, sizeof(h.etag), "\"%08x\"", kelp_crc32c_legacy(crc));
	read_at(&r, 0, 4096);
	r.verify_crc = true;
	assert_false(kelp_http_read_result(&r, &h, sizeof(data)));
	assert_true(kelp_http_read_crc_ok(&r, data));
	/* not asked for, no ETag, or not the whole needle: nothing to check */
	data[50] ^= 0x5a;
	read_at(&r, 0, 4096);
	assert_false(kelp_http_read_result(&r, &h, sizeof(data)));
	assert_true(kelp_http_read_crc_ok(&r, data));
	h.etag[0] = '\0';
	read_at(&r, 0, 4096);
	r.verify_crc = true;
	assert_false(kelp_http_read_result(&r, &h, sizeof(data)));
	assert_true(kelp_http_read_crc_ok(&r, data));
	snprintf(h.etag, sizeof(h.etag), "\"%08x\"", crc);
	read_at(&r, 0, 10);
	r.verify_crc = true;
	assert_false(kelp_http_read_result(&r, &h, 10));
	assert_true(r.cqe_flags & KELP_CQE_F_TRUNCATED);
	assert_true(kelp_http_read_crc_ok(&r, data));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_partial_content),
		cmocka_unit_test(test_verify_crc),
		cmocka_unit_test(test_end_and_past_end),
		cmocka_unit_test(test_whole_body_and_stat),
		cmocka_unit_test(test_statuses),
		cmocka_unit_test(test_call_error),
		cmocka_unit_test(test_loc_table_find),
		cmocka_unit_test(test_discovery_order_volume_address),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
