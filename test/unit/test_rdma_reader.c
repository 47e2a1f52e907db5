/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lcore/rdma/rdma_reader: how a finished RDMA request becomes a completion
 * (kelp_rdma_reader_result): which answers complete over RDMA and which send the read on to HTTP.
 * (The connection state machine under it is tested against the fake verbs in test_nic_conn.c; the
 * reader end to end on Soft-RoCE in test/rdma/test_kelpd_rdma_read.sh.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "core/crc32c.h"
#include "core/volume.h"
#include "kelp.h"
#include "kelp_abi.h"
#include "lcore/rdma/rdma_reader.h"
#include "lcore/worker/remote_req.h"
#include "nic/conn.h"

static uint8_t buf[4096];

static struct kelp_remote_read read_req(uint8_t op, uint64_t off, uint32_t len)
{
	struct kelp_remote_read r;
	memset(&r, 0, sizeof(r));
	r.opcode = op;
	r.offset = off;
	r.length = len;
	r.dst = buf;
	r.result = 12345; /* must be overwritten */
	return r;
}

/* The peer wrote @n bytes of a @size-byte needle into buf (bytes i*3). */
static struct kelp_rdma_done done_with(uint32_t n, uint32_t size, uint64_t off)
{
	struct kelp_rdma_done d;
	memset(&d, 0, sizeof(d));
	for (uint32_t i = 0; i < n; i++)
		buf[i] = (uint8_t)((off + i) * 3);
	d.written = n;
	d.data_size = size;
	return d;
}

static void test_whole_needle_crc_checked(void **state)
{
	struct kelp_remote_read r = read_req(KELP_OP_READ, 0, sizeof(buf));
	struct kelp_rdma_done d = done_with(1000, 1000, 0);
	d.crc = kelp_crc32c(0, buf, 1000);
	d.needle_flags = KELP_NEEDLE_FLAG_GZIP;
	assert_int_equal(kelp_rdma_reader_result(&r, &d), 0);
	assert_int_equal(r.result, 1000);
	assert_int_equal(r.size, 1000);
	assert_int_equal(r.crc, d.crc);
	assert_int_equal(r.cqe_flags,
			 KELP_CQE_PATH_RDMA | KELP_CQE_F_CRC_CHECKED | KELP_CQE_F_GZIP);

	/* SeaweedFS's legacy CRC form is accepted too */
	r = read_req(KELP_OP_READ, 0, sizeof(buf));
	d.crc = kelp_crc32c_legacy(kelp_crc32c(0, buf, 1000));
	assert_int_equal(kelp_rdma_reader_result(&r, &d), 0);
	assert_true(r.cqe_flags & KELP_CQE_F_CRC_CHECKED);
}

static void test_crc_mismatch_goes_to_http(void **state)
{
	struct kelp_remote_read r = read_req(KELP_OP_READ, 0, sizeof(buf));
	struct kelp_rdma_done d = done_with(1000, 1000, 0);
	d.crc = kelp_crc32c(0, buf, 1000);
	buf[500] ^= 1; /* a bit flipped on the way */
	assert_int_equal(kelp_rdma_reader_result(&r, &d), -EAGAIN);
}

static void test_ranges_and_truncation(void **state)
{
	/* a range inside the needle: no CRC to check; the needle goes on after it (as HTTP says) */
	struct kelp_remote_read r = read_req(KELP_OP_READ, 100, 200);
	struct kelp_rdma_done d = done_with(200, 1000, 100);
	d.crc = 0xdeadbeef; /* of the whole needle: not checkable here */
	assert_int_equal(kelp_rdma_reader_result(&r, &d), 0);
	assert_int_equal(r.result, 200);
	assert_int_equal(r.cqe_flags, KELP_CQE_PATH_RDMA | KELP_CQE_F_TRUNCATED);

	/* the buffer shorter than the needle: truncated, no CRC check */
	r = read_req(KELP_OP_READ, 0, 600);
	d = done_with(600, 1000, 0);
	d.crc = 0xdeadbeef;
	assert_int_equal(kelp_rdma_reader_result(&r, &d), 0);
	assert_int_equal(r.result, 600);
	assert_int_equal(r.cqe_flags, KELP_CQE_PATH_RDMA | KELP_CQE_F_TRUNCATED);

	/* the tail: to the end, not truncated */
	r = read_req(KELP_OP_READ, 900, 600);
	d = done_with(100, 1000, 900);
	assert_int_equal(kelp_rdma_reader_result(&r, &d), 0);
	assert_int_equal(r.result, 100);
	assert_int_equal(r.cqe_flags, KELP_CQE_PATH_RDMA);

	/* reading at the end: 0 bytes */
	r = read_req(KELP_OP_READ, 1000, 600);
	d = done_with(0, 1000, 1000);
	assert_int_equal(kelp_rdma_reader_result(&r, &d), 0);
	assert_int_equal(r.result, 0);

	/* an empty needle */
	r = read_req(KELP_OP_READ, 0, 600);
	d = done_with(0, 0, 0);
	assert_int_equal(kelp_rdma_reader_result(&r, &d), 0);
	assert_int_equal(r.result, 0);
}

/* A peer that claims more than the buffer or the needle holds is not believed. */
static void test_impossible_replies_go_to_http(void **state)
{
	struct kelp_remote_read r = read_req(KELP_OP_READ, 0, 100);
	struct kelp_rdma_done d = done_with(101, 1000, 0);
	assert_int_equal(kelp_rdma_reader_result(&r, &d), -EAGAIN);

	r = read_req(KELP_OP_READ, 2000, 100);
	d = done_with(0, 1000, 0);
	assert_int_equal(kelp_rdma_reader_result(&r, &d), -EAGAIN);
}

static void test_statuses(void **state)
{
	/* the needle does not exist: authoritative, completes over RDMA */
	struct kelp_remote_read r = read_req(KELP_OP_READ, 0, 100);
	struct kelp_rdma_done d = done_with(0, 0, 0);
	d.status = -ENOENT;
	assert_int_equal(kelp_rdma_reader_result(&r, &d), 0);
	assert_int_equal(r.result, -ENOENT);
	assert_int_equal(r.cqe_flags, KELP_CQE_PATH_RDMA);

	/* everything else is read again over HTTP */
	const int others[] = {-ECONNRESET, -EBADMSG, -EIO,    -EHOSTUNREACH,
			      -EBUSY,	   -EAGAIN,  -ERANGE, -EPROTO};
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		r = read_req(KELP_OP_READ, 0, 100);
		d.status = others[i];
		assert_int_equal(kelp_rdma_reader_result(&r, &d), -EAGAIN);
	}
}

static void test_stat(void **state)
{
	struct kelp_remote_read r = read_req(KELP_OP_STAT, 0, 0);
	struct kelp_rdma_done d = done_with(0, 77777, 0);
	d.crc = 0x1234;
	assert_int_equal(kelp_rdma_reader_result(&r, &d), 0);
	assert_int_equal(r.result, 0);
	assert_int_equal(r.size, 77777);
	assert_int_equal(r.crc, 0x1234);
	assert_int_equal(r.cqe_flags, KELP_CQE_PATH_RDMA);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole_needle_crc_checked),
		cmocka_unit_test(test_crc_mismatch_goes_to_http),
		cmocka_unit_test(test_ranges_and_truncation),
		cmocka_unit_test(test_impossible_replies_go_to_http),
		cmocka_unit_test(test_statuses),
		cmocka_unit_test(test_stat),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
