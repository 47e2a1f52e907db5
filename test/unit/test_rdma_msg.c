/* SPDX-License-Identifier: Apache-2.0 */
/* proto/rdma_msg: round trips, the documented byte layout, and rejection of hostile messages. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/rdma_msg.h"

static const struct kelp_rdma_hello sample_hello = {
	.version = KELP_RDMA_PROTO_VERSION,
	.kind = KELP_RDMA_HELLO,
	.credits = 32,
	.mtu = 3,
	.qpn = 0x123456,
	.psn = 0xabcdef,
	.lid = 7,
	.gid = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8},
	.reader_id = 0x1122334455667788ull,
	.incarnation = 0x99aabbccddeeff01ull,
	.lane = 0x0203,
	.inline_max = 0x1000,
};

static const struct kelp_rdma_request sample_request = {
	.opcode = KELP_RDMA_OP_READ,
	.req_id = 0x0102030405060708ull,
	.volume_id = 3,
	.cookie = 0x37d6f2a1,
	.key = 0x01637037ull,
	.offset = 100,
	.length = 4096,
	.rkey = 0xdeadbeef,
	.addr = 0x7f0000001000ull,
};

static const struct kelp_rdma_reply sample_reply = {
	.status = KELP_RDMA_OK,
	.needle_flags = 0x01,
	.req_id = 42,
	.written = 4000,
	.data_size = 4100,
	.crc = 0x11223344,
};

static void test_hello_round_trip(void **state)
{
	uint8_t buf[KELP_RDMA_HELLO_SIZE];
	struct kelp_rdma_hello out;

	assert_int_equal(kelp_rdma_hello_encode(&sample_hello, buf, sizeof(buf)),
			 KELP_RDMA_HELLO_SIZE);
	assert_int_equal(kelp_rdma_hello_parse(buf, sizeof(buf), &out), 0);
	assert_memory_equal(&out.gid, sample_hello.gid, 16);
	assert_int_equal(out.qpn, sample_hello.qpn);
	assert_int_equal(out.psn, sample_hello.psn);
	assert_int_equal(out.credits, 32);
	assert_int_equal(out.kind, KELP_RDMA_HELLO);
	assert_int_equal(out.version, 2);
	assert_int_equal(out.inline_max, 0x1000);
	assert_int_equal(out.mtu, 3);
	assert_int_equal(out.lid, 7);
	assert_true(out.reader_id == sample_hello.reader_id);
	assert_true(out.incarnation == sample_hello.incarnation);
	assert_int_equal(out.lane, 0x0203);
}

/* The layout documented in rdma_msg.h, byte for byte (big-endian). */
static void test_hello_layout(void **state)
{
	uint8_t buf[KELP_RDMA_HELLO_SIZE];

	kelp_rdma_hello_encode(&sample_hello, buf, sizeof(buf));
	static const uint8_t head[24] = {'K', 'L',  'P',  'H',	0, 2,	 1,    0,
					 0,   32,   3,	  0,	0, 0x12, 0x34, 0x56,
					 0,   0xab, 0xcd, 0xef, 0, 7,	 0x10, 0};
	assert_memory_equal(buf, head, sizeof(head));
	assert_memory_equal(buf + 24, sample_hello.gid, 16);
	static const uint8_t tail[24] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
					 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x01,
					 0x02, 0x03, 0,	   0,	 0,    0,    0,	   0};
	assert_memory_equal(buf + 40, tail, sizeof(tail));
}

static void test_request_layout_and_round_trip(void **state)
{
	uint8_t buf[KELP_RDMA_REQUEST_SIZE];
	struct kelp_rdma_request out;

	assert_int_equal(kelp_rdma_request_encode(&sample_request, buf, sizeof(buf)), 64);
	assert_memory_equal(buf, "KLPQ\x01", 5);
	assert_int_equal(buf[8], 0x01); /* request id, most significant byte first */
	assert_int_equal(buf[15], 0x08);
	assert_int_equal(buf[19], 3);	 /* volume id */
	assert_int_equal(buf[44], 0xde); /* rkey */
	assert_int_equal(kelp_rdma_request_parse(buf, sizeof(buf), &out), 0);
	assert_memory_equal(&out.req_id, &sample_request.req_id, 8);
	assert_true(out.key == sample_request.key && out.cookie == sample_request.cookie);
	assert_true(out.offset == 100 && out.length == 4096 && out.rkey == 0xdeadbeef);
	assert_true(out.addr == sample_request.addr && out.volume_id == 3);
}

static void test_reply_round_trip(void **state)
{
	uint8_t buf[KELP_RDMA_REPLY_SIZE];
	struct kelp_rdma_reply out;

	assert_int_equal(kelp_rdma_reply_encode(&sample_reply, buf, sizeof(buf)), 32);
	assert_memory_equal(buf, "KLPR", 4);
	assert_int_equal(kelp_rdma_reply_parse(buf, sizeof(buf), &out), 0);
	assert_true(out.req_id == 42 && out.written == 4000 && out.data_size == 4100);
	assert_true(out.crc == 0x11223344 && out.needle_flags == 1 && out.status == 0);
}

/* Version 2: the data follows an inline REPLY; the message size must be exactly 32 + written. */
static void test_inline_reply(void **state)
{
	uint8_t buf[KELP_RDMA_REPLY_SIZE + 4000 + 8];
	struct kelp_rdma_reply rp = sample_reply, out;

	rp.inline_data = true;
	assert_int_equal(kelp_rdma_reply_encode(&rp, buf, 32 + 3999), -ENOSPC);
	memset(buf + 32, 0xab, 4000);
	assert_int_equal(kelp_rdma_reply_encode(&rp, buf, sizeof(buf)), 32 + 4000);
	assert_int_equal(buf[6], KELP_RDMA_REPLY_INLINE);
	assert_int_equal(kelp_rdma_reply_parse(buf, 32 + 4000, &out), 0);
	assert_true(out.inline_data && out.written == 4000);
	assert_int_equal(kelp_rdma_reply_parse(buf, 32, &out), -EBADMSG);	 /* data missing */
	assert_int_equal(kelp_rdma_reply_parse(buf, 32 + 4001, &out), -EBADMSG); /* trailing */
	buf[6] = 0; /* a WRITE reply is the header only */
	assert_int_equal(kelp_rdma_reply_parse(buf, 32 + 4000, &out), -EBADMSG);
	assert_int_equal(kelp_rdma_reply_parse(buf, 32, &out), 0);
	assert_false(out.inline_data);
	buf[6] = 0x02; /* an unknown reply flag */
	assert_int_equal(kelp_rdma_reply_parse(buf, 32, &out), -EBADMSG);
	buf[6] = 0;
	buf[7] = 1; /* reserved */
	assert_int_equal(kelp_rdma_reply_parse(buf, 32, &out), -EBADMSG);

	/* an inline maximum beyond what a receive buffer may be asked to hold */
	struct kelp_rdma_hello h = sample_hello;
	h.inline_max = KELP_RDMA_INLINE_LIMIT + 1;
	assert_int_equal(kelp_rdma_hello_encode(&h, buf, 64), -EINVAL);
	h.inline_max = KELP_RDMA_INLINE_LIMIT;
	assert_int_equal(kelp_rdma_hello_encode(&h, buf, 64), 64);
	buf[22] = 0xff;
	assert_int_equal(kelp_rdma_hello_parse(buf, 64, &h), -EINVAL);
}

static void test_short_buffers(void **state)
{
	uint8_t buf[64];
	struct kelp_rdma_request rq;

	assert_int_equal(kelp_rdma_hello_encode(&sample_hello, buf, 63), -ENOSPC);
	assert_int_equal(kelp_rdma_request_encode(&sample_request, buf, 10), -ENOSPC);
	assert_int_equal(kelp_rdma_reply_encode(&sample_reply, buf, 31), -ENOSPC);
	kelp_rdma_request_encode(&sample_request, buf, sizeof(buf));
	assert_int_equal(kelp_rdma_request_parse(buf, 63, &rq), -EBADMSG);
	assert_int_equal(kelp_rdma_request_parse(buf, 0, &rq), -EBADMSG);
}

/* A hostile or confused peer: every damaged field is rejected and the output untouched. */
static void test_rejects_bad_fields(void **state)
{
	uint8_t buf[64];
	struct kelp_rdma_request rq, untouched;
	struct kelp_rdma_reply rp;
	struct kelp_rdma_hello h;

	memset(&untouched, 0x5a, sizeof(untouched));
	rq = untouched;
	kelp_rdma_request_encode(&sample_request, buf, sizeof(buf));
	buf[0] ^= 1; /* magic */
	assert_int_equal(kelp_rdma_request_parse(buf, 64, &rq), -EBADMSG);
	buf[0] ^= 1;
	buf[4] = 9; /* opcode */
	assert_int_equal(kelp_rdma_request_parse(buf, 64, &rq), -EBADMSG);
	buf[4] = KELP_RDMA_OP_READ;
	buf[60] = 1; /* reserved */
	assert_int_equal(kelp_rdma_request_parse(buf, 64, &rq), -EBADMSG);
	buf[60] = 0;
	memset(buf + 48, 0xff, 8); /* buffer end wraps */
	assert_int_equal(kelp_rdma_request_parse(buf, 64, &rq), -EINVAL);
	assert_memory_equal(&rq, &untouched, sizeof(rq));

	struct kelp_rdma_reply bad = sample_reply;
	bad.written = bad.data_size + 1;
	assert_int_equal(kelp_rdma_reply_encode(&bad, buf, sizeof(buf)), -EINVAL);
	kelp_rdma_reply_encode(&sample_reply, buf, sizeof(buf));
	buf[4] = KELP_RDMA_NOT_FOUND; /* an error reply that claims bytes */
	assert_int_equal(kelp_rdma_reply_parse(buf, 32, &rp), -EINVAL);
	buf[4] = 200;
	assert_int_equal(kelp_rdma_reply_parse(buf, 32, &rp), -EBADMSG);

	kelp_rdma_hello_encode(&sample_hello, buf, sizeof(buf));
	buf[10] = 9; /* mtu */
	assert_int_equal(kelp_rdma_hello_parse(buf, 64, &h), -EINVAL);
	buf[10] = 3;
	buf[12] = 1; /* qpn wider than 24 bits */
	assert_int_equal(kelp_rdma_hello_parse(buf, 64, &h), -EINVAL);
	buf[12] = 0;
	buf[9] = 0; /* zero credits */
	assert_int_equal(kelp_rdma_hello_parse(buf, 64, &h), -EINVAL);
	buf[9] = 32;
	buf[63] = 1; /* reserved */
	assert_int_equal(kelp_rdma_hello_parse(buf, 64, &h), -EBADMSG);
	buf[63] = 0;
	buf[58] = 1; /* reserved, right after the lane */
	assert_int_equal(kelp_rdma_hello_parse(buf, 64, &h), -EBADMSG);
}

/* A STAT carries no buffer; another version still parses (the caller answers VERSION). */
static void test_stat_and_version(void **state)
{
	uint8_t buf[64];
	struct kelp_rdma_request st = {.opcode = KELP_RDMA_OP_STAT, .req_id = 1, .volume_id = 5};
	struct kelp_rdma_request out;
	struct kelp_rdma_hello h = sample_hello, hout;

	assert_int_equal(kelp_rdma_request_encode(&st, buf, sizeof(buf)), 64);
	assert_int_equal(kelp_rdma_request_parse(buf, 64, &out), 0);
	st.length = 10;
	kelp_rdma_request_encode(&st, buf, sizeof(buf));
	assert_int_equal(kelp_rdma_request_parse(buf, 64, &out), -EINVAL);

	h.version = 99;
	kelp_rdma_hello_encode(&h, buf, sizeof(buf));
	assert_int_equal(kelp_rdma_hello_parse(buf, 64, &hout), 0);
	assert_int_equal(hout.version, 99);
}

static void test_status_mapping(void **state)
{
	for (uint8_t s = 0; s <= KELP_RDMA_STATUS_MAX; s++)
		assert_int_equal(kelp_rdma_errno_status(kelp_rdma_status_errno(s)), s);
	assert_int_equal(kelp_rdma_status_errno(77), -EPROTO);
	assert_string_equal(kelp_rdma_status_name(KELP_RDMA_NOT_FOUND), "not-found");
	assert_string_equal(kelp_rdma_status_name(99), "unknown");
}

/* VOLMAP (one-sided reads): round trip, layout, and what a reader refuses. */
static void test_volmap(void **state)
{
	(void)state;
	struct kelp_rdma_volmap m = {.volume_id = 7,
				     .generation = 0x0102030405060708ull,
				     .dat_addr = 0x7f0000001000ull,
				     .dat_len = 1ull << 33,
				     .dat_rkey = 0xdeadbeef,
				     .file_id = 0x55667788,
				     .idx_len = 160,
				     .offset_bytes = 5,
				     .version = 3},
				p;
	uint8_t buf[KELP_RDMA_VOLMAP_SIZE];

	assert_int_equal(kelp_rdma_volmap_encode(&m, buf, sizeof(buf) - 1), -ENOSPC);
	assert_int_equal(kelp_rdma_volmap_encode(&m, buf, sizeof(buf)), KELP_RDMA_VOLMAP_SIZE);
	assert_int_equal(buf[0], 0x4b);
	assert_int_equal(buf[3], 0x4d);
	assert_int_equal(buf[32], 0xde);
	assert_int_equal(buf[48], 5);
	assert_int_equal(kelp_rdma_volmap_parse(buf, sizeof(buf), &p), 0);
	assert_int_equal(p.volume_id, m.volume_id);
	assert_true(p.generation == m.generation && p.dat_addr == m.dat_addr &&
		    p.dat_len == m.dat_len && p.idx_len == m.idx_len);
	assert_int_equal(p.dat_rkey, m.dat_rkey);
	assert_int_equal(p.file_id, m.file_id);
	assert_int_equal(p.offset_bytes, 5);
	assert_int_equal(p.version, 3);
	assert_int_equal(kelp_rdma_volmap_parse(buf, sizeof(buf) - 1, &p), -EBADMSG);
	buf[60] = 1; /* reserved */
	assert_int_equal(kelp_rdma_volmap_parse(buf, sizeof(buf), &p), -EBADMSG);
	buf[60] = 0;
	buf[48] = 3; /* offset bytes */
	assert_int_equal(kelp_rdma_volmap_parse(buf, sizeof(buf), &p), -EINVAL);
	buf[48] = 5;
	buf[49] = 1; /* version 1: no data size in the body */
	assert_int_equal(kelp_rdma_volmap_parse(buf, sizeof(buf), &p), -EINVAL);
	m.version = 1;
	assert_int_equal(kelp_rdma_volmap_encode(&m, buf, sizeof(buf)), -EINVAL);
	/* MAP and IDX requests name a buffer like a READ */
	struct kelp_rdma_request rq = {.opcode = KELP_RDMA_OP_IDX,
				       .req_id = 1,
				       .volume_id = 7,
				       .offset = 32,
				       .length = 64,
				       .rkey = 9,
				       .addr = 0x1000},
				 rp;
	uint8_t rb[KELP_RDMA_REQUEST_SIZE];
	assert_int_equal(kelp_rdma_request_encode(&rq, rb, sizeof(rb)), KELP_RDMA_REQUEST_SIZE);
	assert_int_equal(kelp_rdma_request_parse(rb, sizeof(rb), &rp), 0);
	assert_int_equal(rp.opcode, KELP_RDMA_OP_IDX);
	rb[4] = 5; /* no such opcode */
	assert_int_equal(kelp_rdma_request_parse(rb, sizeof(rb), &rp), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_round_trip),
		cmocka_unit_test(test_hello_layout),
		cmocka_unit_test(test_request_layout_and_round_trip),
		cmocka_unit_test(test_reply_round_trip),
		cmocka_unit_test(test_inline_reply),
		cmocka_unit_test(test_short_buffers),
		cmocka_unit_test(test_rejects_bad_fields),
		cmocka_unit_test(test_stat_and_version),
		cmocka_unit_test(test_status_mapping),
		cmocka_unit_test(test_volmap),
	};
	return cmocka_run_group_tests_name("rdma_msg", tests, NULL, NULL);
}
