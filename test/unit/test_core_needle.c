/* SPDX-License-Identifier: Apache-2.0 */
/* core/superblock, core/needle, core/idx: fixture bytes, every optional field, round trips. */
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

#include "test/unit/fixture_file.h"

#include "core/crc32c.h"
#include "core/idx.h"
#include "core/needle.h"
#include "core/superblock.h"

static void test_superblock(void **state)
{
	size_t len;
	uint8_t *dat = load_fixture("healthy_volume.dat", &len);
	struct kelp_superblock sb;
	assert_int_equal(kelp_superblock_parse(dat, len, &sb), 0);
	assert_int_equal(sb.version, 3);
	assert_int_equal(sb.replica_placement, 2);
	assert_int_equal(sb.compact_revision, 0);
	assert_int_equal(kelp_superblock_data_start(&sb), 8);
	uint8_t enc[8];
	kelp_superblock_encode(&sb, enc);
	assert_memory_equal(enc, dat, 8);

	const uint8_t rev[8] = {2, 0x64, 3, 2, 0x01, 0x02, 0, 0};
	assert_int_equal(kelp_superblock_parse(rev, 8, &sb), 0);
	assert_int_equal(sb.version, 2);
	assert_int_equal(sb.replica_placement, 100);
	assert_int_equal(sb.ttl_count, 3);
	assert_int_equal(sb.ttl_unit, 2);
	assert_int_equal(sb.compact_revision, 0x0102);
	const uint8_t extra[8] = {3, 0, 0, 0, 0, 0, 0, 20}; /* 20 extra bytes that are not there */
	assert_int_equal(kelp_superblock_parse(extra, 8, &sb), -EINVAL);
	const uint8_t v0[8] = {0}, v4[8] = {4};
	assert_int_equal(kelp_superblock_parse(v0, 8, &sb), -EINVAL);
	assert_int_equal(kelp_superblock_parse(v4, 8, &sb), -EINVAL);
	assert_int_equal(kelp_superblock_parse(dat, 7, &sb), -EINVAL);
	free(dat);
}

static void test_fixture_record(void **state)
{
	size_t len;
	uint8_t *dat = load_fixture("healthy_volume.dat", &len);
	struct kelp_needle n;
	assert_int_equal(kelp_needle_parse(3, dat + 8, len - 8, &n), 0);
	assert_int_equal(n.cookie, 0x06bfd555);
	assert_int_equal(n.key, 3);
	assert_int_equal(n.size, 75652);
	assert_int_equal(n.data_size, 75634);
	assert_ptr_equal(n.data, dat + 8 + 16 + 4);
	assert_int_equal(n.flags, 0x0e);
	assert_int_equal(n.name_len, 6);
	assert_memory_equal(n.name, "file_2", 6);
	assert_int_equal(n.mime_len, 0);
	assert_int_equal(n.last_modified, 1770642355);
	assert_int_equal(n.stored_crc, 0x4af853fb);
	assert_true(n.append_at_ns == 1770642355212989671ull);
	assert_int_equal(kelp_crc32c(0, n.data, n.data_size), 0x4af853fb);
	assert_int_equal(kelp_needle_record_len(3, n.size), 75688);
	assert_int_equal(kelp_needle_padding(3, n.size), 8); /* never 0 */

	/* re-encoding gives the same bytes, padding aside (SeaweedFS pads with leftovers) */
	uint8_t *buf = malloc(75688);
	assert_int_equal(kelp_needle_encode(3, &n, buf, 75688), 75688);
	assert_memory_equal(buf, dat + 8, 75688 - 8);
	assert_int_equal(kelp_needle_encode(3, &n, buf, 75687), -ENOSPC);

	/* every truncation of the record is refused */
	for (size_t cut = 0; cut < 75688; cut += 997)
		assert_int_equal(kelp_needle_parse(3, dat + 8, cut, &n), -EINVAL);
	assert_int_equal(kelp_needle_parse(4, dat + 8, len - 8, &n), -EINVAL);
	free(buf);
	free(dat);
}

static void round_trip(uint8_t version, const struct kelp_needle *in)
{
	uint8_t buf[4096];
	int64_t len = kelp_needle_encode(version, in, buf, sizeof(buf));
	assert_true(len > 0);
	assert_int_equal(len % 8, 0);
	struct kelp_needle out;
	assert_int_equal(kelp_needle_parse(version, buf, (size_t)len, &out), 0);
	assert_int_equal(out.size, kelp_needle_body_size(version, in));
	assert_int_equal(kelp_needle_record_len(version, out.size), len);
	assert_int_equal(out.cookie, in->cookie);
	assert_true(out.key == in->key);
	assert_int_equal(out.data_size, in->data_size);
	assert_memory_equal(out.data, in->data, in->data_size);
	assert_int_equal(out.stored_crc, in->stored_crc);
	assert_true(out.append_at_ns == (version == 3 ? in->append_at_ns : 0));
	if (version == 1 || in->data_size == 0)
		return;
	assert_int_equal(out.flags, in->flags);
	assert_int_equal(out.name_len, (in->flags & KELP_NEEDLE_FLAG_NAME) ? in->name_len : 0);
	if (out.name_len)
		assert_memory_equal(out.name, in->name, in->name_len);
	assert_int_equal(out.mime_len, (in->flags & KELP_NEEDLE_FLAG_MIME) ? in->mime_len : 0);
	if (out.mime_len)
		assert_memory_equal(out.mime, in->mime, in->mime_len);
	if (in->flags & KELP_NEEDLE_FLAG_LAST_MODIFIED)
		assert_true(out.last_modified == in->last_modified);
	if (in->flags & KELP_NEEDLE_FLAG_TTL) {
		assert_int_equal(out.ttl_count, in->ttl_count);
		assert_int_equal(out.ttl_unit, in->ttl_unit);
	}
	assert_int_equal(out.pairs_len, (in->flags & KELP_NEEDLE_FLAG_PAIRS) ? in->pairs_len : 0);
	if (out.pairs_len)
		assert_memory_equal(out.pairs, in->pairs, in->pairs_len);
}

static void test_all_fields_round_trip(void **state)
{
	const char *pairs = "{\"Owner\":\"kelp\"}";
	static const char payload[32] = "hello needle, and some more";
	struct kelp_needle n = {
		.cookie = 0x12345678,
		.key = 0x0102030405060708ull,
		.data = (const uint8_t *)payload,
		.data_size = 12,
		.name = (const uint8_t *)"a.txt",
		.name_len = 5,
		.mime = (const uint8_t *)"text/plain",
		.mime_len = 10,
		.last_modified = 0xff12345678ull, /* 40 bits */
		.ttl_count = 3,
		.ttl_unit = 4,
		.pairs = (const uint8_t *)pairs,
		.pairs_len = (uint16_t)strlen(pairs),
		.append_at_ns = 1770642355212989671ull,
	};
	n.stored_crc = kelp_crc32c(0, n.data, n.data_size);
	/* every subset of the optional flags, every version; data sizes crossing all paddings */
	for (unsigned flags = 0; flags < 0x100; flags++) {
		if (flags & 0x40)
			continue;
		n.flags = (uint8_t)flags;
		for (uint8_t v = 1; v <= 3; v++)
			round_trip(v, &n);
	}
	for (uint32_t ds = 0; ds < 17; ds++) {
		n.data_size = ds;
		n.flags = KELP_NEEDLE_FLAG_NAME;
		for (uint8_t v = 1; v <= 3; v++) {
			uint32_t pad = kelp_needle_padding(v, kelp_needle_body_size(v, &n));
			assert_true(pad >= 1 && pad <= 8);
			round_trip(v, &n);
		}
	}
	/* exact bytes of a small v3 record */
	struct kelp_needle s = {.cookie = 0xa1b2c3d4,
				.key = 5,
				.data = (const uint8_t *)"ab",
				.data_size = 2,
				.flags = 0,
				.stored_crc = 0x11223344,
				.append_at_ns = 9};
	uint8_t buf[64];
	assert_int_equal(kelp_needle_encode(3, &s, buf, sizeof(buf)), 40);
	const uint8_t want[40] = {0xa1, 0xb2, 0xc3, 0xd4, 0,   0,   0, 0,
				  0,	0,    0,    5,	  0,   0,   0, 7, /* header */
				  0,	0,    0,    2,	  'a', 'b', 0,	  /* body */
				  0x11, 0x22, 0x33, 0x44,		  /* crc */
				  0,	0,    0,    0,	  0,   0,   0, 9, /* append_at_ns */
				  0,	0,    0,    0,	  0};		  /* padding 5 */
	assert_memory_equal(buf, want, 40);
	/* an empty needle (also the shape of a delete tombstone): size 0, no body */
	s.data_size = 0;
	s.flags = KELP_NEEDLE_FLAG_NAME;
	assert_int_equal(kelp_needle_encode(3, &s, buf, sizeof(buf)), 32);
	assert_int_equal(buf[15], 0);
	struct kelp_needle out;
	assert_int_equal(kelp_needle_parse(3, buf, 32, &out), 0);
	assert_int_equal(out.size, 0);
	assert_int_equal(out.data_size, 0);
	assert_int_equal(out.flags, 0);
}

static void test_bad_bodies(void **state)
{
	uint8_t rec[64];
	struct kelp_needle n;
	/* v2 body of 9 bytes: data_size says 100 */
	memset(rec, 0, sizeof(rec));
	rec[15] = 9;
	rec[16 + 3] = 100;
	assert_int_equal(kelp_needle_parse(2, rec, sizeof(rec), &n), -EINVAL);
	/* data_size 2, flags NAME, name length 200 */
	rec[16 + 3] = 2;
	rec[16 + 6] = KELP_NEEDLE_FLAG_NAME;
	rec[16 + 7] = 200;
	assert_int_equal(kelp_needle_parse(2, rec, sizeof(rec), &n), -EINVAL);
	/* a body of 3 bytes cannot hold data_size */
	memset(rec, 0, sizeof(rec));
	rec[15] = 3;
	assert_int_equal(kelp_needle_parse(2, rec, sizeof(rec), &n), -EINVAL);
	/* negative size */
	memset(rec, 0xff, 16);
	assert_int_equal(kelp_needle_parse(3, rec, sizeof(rec), &n), -EINVAL);
	/* a flag with the body already ended is fine: fields stop at the body's end */
	memset(rec, 0, sizeof(rec));
	rec[15] = 7; /* data_size 2 + 'ab' + flags */
	rec[16 + 3] = 2;
	rec[16 + 6] = KELP_NEEDLE_FLAG_NAME | KELP_NEEDLE_FLAG_PAIRS;
	assert_int_equal(kelp_needle_parse(2, rec, sizeof(rec), &n), 0);
	assert_int_equal(n.name_len, 0);
	assert_int_equal(n.pairs_len, 0);
}

static void test_idx_rows(void **state)
{
	/* the 17-byte row weed 4.48 wrote for its first upload */
	const uint8_t weed17[17] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0x27};
	struct kelp_idx_row r;
	kelp_idx_parse_row(weed17, 5, &r);
	assert_int_equal(r.key, 1);
	assert_int_equal(r.offset, 1);
	assert_int_equal(r.size, 0x27);
	/* the high offset byte comes after the low four */
	struct kelp_idx_row big = {0xabcdef, 0x123456789aull, 77};
	uint8_t b[17];
	assert_int_equal(kelp_idx_encode_row(&big, 5, b), 17);
	const uint8_t want[17] = {0,	0,    0,    0,	  0, 0xab, 0xcd, 0xef, 0x34,
				  0x56, 0x78, 0x9a, 0x12, 0, 0,	   0,	 77};
	assert_memory_equal(b, want, 17);
	kelp_idx_parse_row(b, 5, &r);
	assert_true(r.offset == 0x123456789aull);
	assert_int_equal(kelp_idx_encode_row(&big, 4, b), -ERANGE);
	assert_int_equal(kelp_idx_encode_row(&big, 6, b), -EINVAL);
	struct kelp_idx_row tomb = {9, 0x10, KELP_IDX_SIZE_TOMBSTONE};
	assert_int_equal(kelp_idx_encode_row(&tomb, 4, b), 16);
	kelp_idx_parse_row(b, 4, &r);
	assert_false(kelp_idx_row_is_live(&r));
	assert_int_equal(kelp_idx_row_size(4), 16);
	assert_int_equal(kelp_idx_row_size(5), 17);
	assert_int_equal(kelp_idx_row_size(3), 0);

	/* fixture rows: healthy_volume.idx first and a tombstone */
	size_t len;
	uint8_t *idx = load_fixture("healthy_volume.idx", &len);
	assert_int_equal(len, 27 * 16);
	kelp_idx_parse_row(idx, 4, &r);
	assert_int_equal(r.key, 3);
	assert_int_equal(r.offset, 1);
	assert_int_equal(r.size, 75652);
	kelp_idx_parse_row(idx + 17 * 16, 4, &r);
	assert_int_equal(r.key, 20);
	assert_int_equal(r.offset, 117817);
	assert_int_equal(r.size, KELP_IDX_SIZE_TOMBSTONE);
	free(idx);
}

static void test_vif(void **state)
{
	char path[] = "/tmp/kelp-test-vif-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	fputs("{\n  \"files\":  [],\n  \"version\":  3,\n  \"bytesOffset\":  5\n}", f);
	fclose(f);
	assert_int_equal(kelp_vif_offset_bytes(path), 5);
	f = fopen(path, "w");
	fputs("{\"version\": 3}", f);
	fclose(f);
	assert_int_equal(kelp_vif_offset_bytes(path), 4);
	f = fopen(path, "w");
	fputs("{\"bytesOffset\": 8}", f);
	fclose(f);
	assert_int_equal(kelp_vif_offset_bytes(path), -EINVAL);
	f = fopen(path, "w");
	fputs("not json", f);
	fclose(f);
	assert_int_equal(kelp_vif_offset_bytes(path), -EINVAL);
	unlink(path);
	assert_int_equal(kelp_vif_offset_bytes(path), -ENOENT);
	char buf[64];
	assert_int_equal(kelp_vif_path("/d/pics_3.idx", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/d/pics_3.vif");
	assert_int_equal(kelp_vif_path("/d/3.dat", buf, 8), -ENAMETOOLONG);
}

/* A record read in three pieces (as a one-sided RDMA READ scatters it): what verifies and what
 * does not. */
static void test_check_split(void **state)
{
	(void)state;
	static uint8_t rec[4096], data[600], dst[1024];
	struct kelp_needle n, out;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + 1);
	n = (struct kelp_needle){.cookie = 0x11223344,
				 .key = 0xabcdef,
				 .data = data,
				 .data_size = sizeof(data),
				 .flags = KELP_NEEDLE_FLAG_NAME | KELP_NEEDLE_FLAG_MIME,
				 .name = (const uint8_t *)"x.txt",
				 .name_len = 5,
				 .mime = (const uint8_t *)"text/plain",
				 .mime_len = 10,
				 .stored_crc = kelp_crc32c(0, data, sizeof(data))};
	assert_true(kelp_needle_encode(3, &n, rec, sizeof(rec)) > 0);
	uint32_t size = kelp_needle_body_size(3, &n);
	/* the client's buffer takes dlen bytes of the record after its first 20, the tail the rest
	 * up to the CRC: try every split from "exactly the data" to "the whole body" */
	for (uint32_t dlen = sizeof(data); dlen <= size - 4; dlen++) {
		uint32_t tlen = size - dlen;
		memcpy(dst, rec + KELP_NEEDLE_SPLIT_HEAD, dlen);
		assert_int_equal(kelp_needle_check_split(3, n.cookie, n.key, size, rec, dst, dlen,
							 rec + KELP_NEEDLE_SPLIT_HEAD + dlen, tlen,
							 true, &out),
				 0);
		assert_int_equal(out.data_size, sizeof(data));
		assert_int_equal(out.flags, n.flags);
		assert_int_equal(out.stored_crc, n.stored_crc);
		assert_int_equal(out.mime_len, 10);
		assert_memory_equal(dst, data, sizeof(data));
	}
	uint32_t dlen = size - 4, tlen = 4;
	const uint8_t *tail = rec + KELP_NEEDLE_SPLIT_HEAD + dlen;
	memcpy(dst, rec + KELP_NEEDLE_SPLIT_HEAD, dlen);
	/* stale index: another cookie, key or size than the index promised */
	assert_int_equal(kelp_needle_check_split(3, n.cookie + 1, n.key, size, rec, dst, dlen, tail,
						 tlen, true, &out),
			 -ESTALE);
	assert_int_equal(kelp_needle_check_split(3, n.cookie, n.key + 1, size, rec, dst, dlen, tail,
						 tlen, true, &out),
			 -ESTALE);
	assert_int_equal(kelp_needle_check_split(3, n.cookie, n.key, size + 8, rec, dst, dlen + 8,
						 tail, tlen, true, &out),
			 -ESTALE);
	/* the data does not fit the client's piece */
	assert_int_equal(kelp_needle_check_split(3, n.cookie, n.key, size, rec, dst, 100,
						 rec + KELP_NEEDLE_SPLIT_HEAD + 100, size - 100,
						 true, &out),
			 -E2BIG);
	/* corrupt: one data byte; the CRC unchecked (a truncated read's caller) does not see it */
	dst[7] ^= 1;
	assert_int_equal(kelp_needle_check_split(3, n.cookie, n.key, size, rec, dst, dlen, tail,
						 tlen, true, &out),
			 -EIO);
	assert_int_equal(kelp_needle_check_split(3, n.cookie, n.key, size, rec, dst, dlen, tail,
						 tlen, false, &out),
			 0);
	dst[7] ^= 1;
	/* torn: a data size larger than the body; fields that run past it */
	uint8_t head[KELP_NEEDLE_SPLIT_HEAD];
	memcpy(head, rec, sizeof(head));
	head[16] = 0x7f;
	assert_int_equal(kelp_needle_check_split(3, n.cookie, n.key, size, head, dst, dlen, tail,
						 tlen, true, &out),
			 -EIO);
	dst[sizeof(data) + 1] = 200; /* the name's length byte */
	assert_int_equal(kelp_needle_check_split(3, n.cookie, n.key, size, rec, dst, dlen, tail,
						 tlen, true, &out),
			 -EIO);
	/* pieces that do not cover the record; version 1 has no data size */
	assert_int_equal(kelp_needle_check_split(3, n.cookie, n.key, size, rec, dst, dlen, tail, 3,
						 true, &out),
			 -EINVAL);
	assert_int_equal(kelp_needle_check_split(1, n.cookie, n.key, size, rec, dst, dlen, tail,
						 tlen, true, &out),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_superblock),
		cmocka_unit_test(test_fixture_record),
		cmocka_unit_test(test_all_fields_round_trip),
		cmocka_unit_test(test_bad_bodies),
		cmocka_unit_test(test_idx_rows),
		cmocka_unit_test(test_vif),
		cmocka_unit_test(test_check_split),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
