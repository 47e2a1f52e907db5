/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proto/tcp_frame: the handshake's macs (the right secret verifies, a wrong or missing one and a
 * replayed nonce do not), request frames, and the reader's stream parser fed a reply stream split
 * at every possible point, plus the frames it must refuse.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/be.h"
#include "proto/tcp_frame.h"

static const char secret[] = "0123456789abcdef-secret";
#define SLEN (sizeof(secret) - 1)

static void test_hello_mac(void **state)
{
	(void)state;
	uint8_t en[KELP_TCP_NONCE_SIZE], other[KELP_TCP_NONCE_SIZE], buf[KELP_TCP_HELLO_SIZE];
	struct kelp_tcp_hello h = {.version = 1, .lane = 3, .reader_id = 42, .incarnation = 7};
	struct kelp_tcp_hello got;

	memset(en, 0xa5, sizeof(en));
	memset(other, 0x5a, sizeof(other));
	memset(h.nonce, 0x11, sizeof(h.nonce));
	kelp_tcp_hello_encode(&h, en, secret, SLEN, buf);
	assert_int_equal(kelp_tcp_hello_parse(buf, sizeof(buf), &got), 0);
	assert_int_equal(got.lane, 3);
	assert_int_equal(got.reader_id, 42);
	assert_int_equal(got.incarnation, 7);
	assert_true(kelp_tcp_hello_verify(buf, en, secret, SLEN));
	assert_false(kelp_tcp_hello_verify(buf, en, "another-secret-xyz", 18));
	assert_false(kelp_tcp_hello_verify(buf, other, secret, SLEN)); /* replayed elsewhere */
	buf[10] ^= 1;						       /* a field changed */
	assert_false(kelp_tcp_hello_verify(buf, en, secret, SLEN));
	/* a reader without a secret sends zeros: an exporter with one refuses it */
	kelp_tcp_hello_encode(&h, en, NULL, 0, buf);
	assert_false(kelp_tcp_hello_verify(buf, en, secret, SLEN));
	assert_true(kelp_tcp_hello_verify(buf, en, NULL, 0));
	assert_int_equal(kelp_tcp_hello_parse(buf, sizeof(buf) - 1, &got), -EBADMSG);
	buf[0] = 0;
	assert_int_equal(kelp_tcp_hello_parse(buf, sizeof(buf), &got), -EBADMSG);
}

static void test_ack_mac(void **state)
{
	(void)state;
	uint8_t rn[KELP_TCP_NONCE_SIZE], en[KELP_TCP_NONCE_SIZE], buf[KELP_TCP_ACK_SIZE];
	struct kelp_tcp_ack a = {.version = 1, .status = KELP_TCP_HS_OK}, got;

	memset(rn, 1, sizeof(rn));
	memset(en, 2, sizeof(en));
	kelp_tcp_ack_encode(&a, rn, en, secret, SLEN, buf);
	assert_int_equal(kelp_tcp_ack_parse(buf, sizeof(buf), &got), 0);
	assert_int_equal(got.status, KELP_TCP_HS_OK);
	assert_true(kelp_tcp_ack_verify(buf, rn, en, secret, SLEN));
	assert_false(
		kelp_tcp_ack_verify(buf, en, rn, secret, SLEN)); /* the reader's label differs */
	assert_false(kelp_tcp_ack_verify(buf, rn, en, "wrong-secret-0000", 17));
	buf[6] = KELP_TCP_HS_STATUS_MAX + 1;
	assert_int_equal(kelp_tcp_ack_parse(buf, sizeof(buf), &got), -EBADMSG);

	struct kelp_tcp_challenge c = {.version = 1}, cg;
	uint8_t cb[KELP_TCP_CHALLENGE_SIZE];
	memset(c.nonce, 9, sizeof(c.nonce));
	kelp_tcp_challenge_encode(&c, cb);
	assert_int_equal(kelp_tcp_challenge_parse(cb, sizeof(cb), &cg), 0);
	assert_memory_equal(cg.nonce, c.nonce, sizeof(c.nonce));
	cb[7] = 1; /* reserved */
	assert_int_equal(kelp_tcp_challenge_parse(cb, sizeof(cb), &cg), -EBADMSG);
}

static void test_request_frame(void **state)
{
	(void)state;
	struct kelp_rdma_request rq = {.opcode = KELP_RDMA_OP_READ,
				       .req_id = 5,
				       .volume_id = 3,
				       .key = 0x1234,
				       .cookie = 0xdeadbeef,
				       .offset = 10,
				       .length = 4096},
				 got;
	uint8_t buf[KELP_TCP_REQ_FRAME_SIZE];

	assert_int_equal(kelp_tcp_request_frame_encode(&rq, buf), KELP_TCP_REQ_FRAME_SIZE);
	assert_int_equal(kelp_be32(buf), 64);
	assert_int_equal(kelp_tcp_request_frame_parse(buf, sizeof(buf), &got), 0);
	assert_int_equal(got.req_id, 5);
	assert_int_equal(got.length, 4096);
	assert_int_equal(kelp_tcp_request_frame_parse(buf, sizeof(buf) - 1, &got), -EBADMSG);
	kelp_put_be32(buf, 65);
	assert_int_equal(kelp_tcp_request_frame_parse(buf, sizeof(buf), &got), -EBADMSG);
	kelp_put_be32(buf, 64);
	buf[4 + 5] = 1; /* flags: reserved */
	assert_int_equal(kelp_tcp_request_frame_parse(buf, sizeof(buf), &got), -EBADMSG);
}

/* Three replies (data 3 bytes, none, 5 bytes) as one stream. */
static size_t make_stream(uint8_t *s)
{
	size_t n = 0;
	struct kelp_rdma_reply rp = {.req_id = 1, .written = 3, .data_size = 3, .crc = 9};

	n += (size_t)kelp_tcp_reply_hdr_encode(&rp, s + n);
	memcpy(s + n, "abc", 3);
	n += 3;
	rp = (struct kelp_rdma_reply){.req_id = 2, .status = KELP_RDMA_NOT_FOUND};
	n += (size_t)kelp_tcp_reply_hdr_encode(&rp, s + n);
	rp = (struct kelp_rdma_reply){.req_id = 3, .written = 5, .data_size = 9};
	n += (size_t)kelp_tcp_reply_hdr_encode(&rp, s + n);
	memcpy(s + n, "hello", 5);
	return n + 5;
}

/* Feed @s in pieces of @step bytes; collect the replies' ids and data. */
static void parse_in_steps(const uint8_t *s, size_t len, size_t step)
{
	struct kelp_tcp_rx rx = {0};
	uint64_t ids[3];
	char data[16] = "";
	size_t nid = 0, nd = 0;

	for (size_t off = 0; off < len;) {
		size_t piece = len - off < step ? len - off : step;
		const uint8_t *p = s + off;
		off += piece;
		while (piece) {
			if (rx.data_left) {
				uint32_t k = piece < rx.data_left ? (uint32_t)piece : rx.data_left;
				memcpy(data + nd, p, k);
				nd += k;
				kelp_tcp_rx_data(&rx, k);
				p += k;
				piece -= k;
				continue;
			}
			bool got;
			struct kelp_rdma_reply rp;
			int c = kelp_tcp_rx_feed(&rx, p, piece, &got, &rp);
			assert_true(c > 0);
			p += c;
			piece -= (size_t)c;
			if (got)
				ids[nid++] = rp.req_id;
		}
	}
	assert_int_equal(nid, 3);
	assert_int_equal(ids[0], 1);
	assert_int_equal(ids[1], 2);
	assert_int_equal(ids[2], 3);
	assert_int_equal(nd, 8);
	assert_memory_equal(data, "abchello", 8);
	assert_int_equal(rx.hdr_got, 0);
	assert_int_equal(rx.data_left, 0);
}

static void test_rx_any_split(void **state)
{
	(void)state;
	uint8_t s[256];
	size_t len = make_stream(s);

	for (size_t step = 1; step <= len; step++)
		parse_in_steps(s, len, step);
}

static void test_rx_rejects(void **state)
{
	(void)state;
	uint8_t s[64];
	struct kelp_rdma_reply rp = {.req_id = 1, .written = 3, .data_size = 3}, out;
	struct kelp_tcp_rx rx = {0};
	bool got;

	kelp_tcp_reply_hdr_encode(&rp, s);
	kelp_put_be32(s, 32 + 4); /* length disagrees with written */
	assert_int_equal(kelp_tcp_rx_feed(&rx, s, KELP_TCP_REPLY_HDR_SIZE, &got, &out), -EBADMSG);
	rx = (struct kelp_tcp_rx){0};
	kelp_tcp_reply_hdr_encode(&rp, s);
	s[4] = 'X'; /* magic */
	assert_int_equal(kelp_tcp_rx_feed(&rx, s, KELP_TCP_REPLY_HDR_SIZE, &got, &out), -EBADMSG);
	rx = (struct kelp_tcp_rx){0};
	rp = (struct kelp_rdma_reply){.req_id = 1, .status = KELP_RDMA_NOT_FOUND};
	kelp_tcp_reply_hdr_encode(&rp, s);
	kelp_put_be32(s + 4 + 16, 5); /* an error reply with bytes */
	kelp_put_be32(s, 32 + 5);
	assert_int_equal(kelp_tcp_rx_feed(&rx, s, KELP_TCP_REPLY_HDR_SIZE, &got, &out), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_mac),     cmocka_unit_test(test_ack_mac),
		cmocka_unit_test(test_request_frame), cmocka_unit_test(test_rx_any_split),
		cmocka_unit_test(test_rx_rejects),
	};
	return cmocka_run_group_tests_name("tcp_frame", tests, NULL, NULL);
}
