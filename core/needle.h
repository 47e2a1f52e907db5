/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Needle records v1/v2/v3 with every optional field: parse and encode (seaweedfs.md, "Needle
 * record"). Pure functions on caller-owned buffers; any thread.
 *
 * Record: header (cookie u32 | key u64 | size u32, 16 bytes) | body[size] | crc u32 |
 *         (v3) append_at_ns u64 | padding 1..8 bytes, the whole record a multiple of 8.
 * v2/v3 body (size > 0): data_size u32 | data | flags u8 | name | mime | last_modified | ttl |
 * pairs, each optional field present when its flag is set and the body has bytes left.
 */
#ifndef KELP_CORE_NEEDLE_H
#define KELP_CORE_NEEDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/volume.h" /* KELP_NEEDLE_FLAG_* */

#define KELP_NEEDLE_HEADER_SIZE	       16
#define KELP_NEEDLE_CRC_SIZE	       4
#define KELP_NEEDLE_TIMESTAMP_SIZE     8 /* v3 append_at_ns */
#define KELP_NEEDLE_LAST_MODIFIED_SIZE 5
#define KELP_NEEDLE_TTL_SIZE	       2

/*
 * A parsed needle. Pointers (data, name, mime, pairs) point into the buffer that was parsed; an
 * encoder reads them from caller memory. Absent fields have length 0 (and their flag clear after
 * parsing when the body ended before them).
 */
struct kelp_needle {
	uint32_t cookie;
	uint64_t key;
	uint32_t size; /* body length as in the header (and .idx) */
	const uint8_t *data;
	uint32_t data_size; /* payload as stored (compressed when flags has GZIP) */
	uint8_t flags;
	const uint8_t *name;
	uint8_t name_len;
	const uint8_t *mime;
	uint8_t mime_len;
	uint64_t last_modified; /* unix seconds, 40 bits stored */
	uint8_t ttl_count;
	uint8_t ttl_unit;
	const uint8_t *pairs; /* JSON object of HTTP headers */
	uint16_t pairs_len;
	uint32_t stored_crc;   /* raw CRC32C of data, or the legacy transform */
	uint64_t append_at_ns; /* v3 only, else 0 */
};

/* kelp_needle_padding - padding after the CRC (and v3 timestamp) for body length @size: 1..8. */
uint32_t kelp_needle_padding(uint8_t version, uint32_t size);

/* kelp_needle_record_len - whole record length for @version and body length @size. */
uint64_t kelp_needle_record_len(uint8_t version, uint32_t size);

/*
 * kelp_needle_parse_header - read cookie, key and size from the 16 bytes at @buf.
 * @return 0, or -EINVAL when @len < 16.
 */
int kelp_needle_parse_header(const uint8_t *buf, size_t len, uint32_t *cookie, uint64_t *key,
			     uint32_t *size);

/*
 * kelp_needle_parse - parse the whole record of volume version @version at @buf (at most @len
 * bytes available, e.g. up to the end of the .dat). Does not check the CRC.
 * @return 0; -EINVAL when @version is not 1..3, the record runs past @len, or the body's fields
 * do not fit in its size (data_size or a field length too large).
 */
int kelp_needle_parse(uint8_t version, const uint8_t *buf, size_t len, struct kelp_needle *out);

/*
 * kelp_needle_check_split - check a v2/v3 needle record that arrived in three pieces (a one-sided
 * RDMA READ scatters it so that the data lands in the client's buffer): @head = its first
 * KELP_NEEDLE_SPLIT_HEAD bytes (header + data size), @data = the next @dlen bytes, @tail = the
 * next @tlen bytes, at least up to the end of the CRC (@tlen >= @size - @dlen; @dlen <= @size - 4).
 * Checked against what the index promised (@cookie, @key, body size @size): the header; the data
 * size inside the body; the flags and the fields they announce inside the body after the data
 * (as kelp_needle_parse); with @check_crc the data's CRC32C (raw or legacy form).
 * On success *@out holds cookie, key, size, data (= @data), data_size, flags, stored_crc and the
 * fixed-size fields (name, mime, pairs pointers are NULL: they may straddle the pieces).
 * @return 0; -ESTALE the header is not that needle (an index gone stale: vacuum, overwrite,
 * delete); -EIO the record does not hold together or the CRC does not match (torn or corrupt);
 * -E2BIG the data is longer than @dlen, or the fields after it longer than 1 KiB (read it
 * another way); -EINVAL @version not 2/3 or the pieces do not cover the record as described.
 * Any thread; no allocation.
 */
#define KELP_NEEDLE_SPLIT_HEAD (KELP_NEEDLE_HEADER_SIZE + 4)
int kelp_needle_check_split(uint8_t version, uint32_t cookie, uint64_t key, uint32_t size,
			    const uint8_t *head, const uint8_t *data, uint32_t dlen,
			    const uint8_t *tail, uint32_t tlen, bool check_crc,
			    struct kelp_needle *out);

/*
 * kelp_needle_body_size - the body length kelp_needle_encode() writes for @n: 0 when data_size is
 * 0 (SeaweedFS then writes no metadata either), else 4 + data + 1 + the fields whose flag is set.
 * v1: data_size.
 */
uint32_t kelp_needle_body_size(uint8_t version, const struct kelp_needle *n);

/*
 * kelp_needle_encode - write the record of @n (cookie, key, data, flags and the flagged fields,
 * stored_crc, append_at_ns; @n->size is ignored and recomputed) for @version into @buf, exactly as
 * SeaweedFS does (padding bytes written as zeros). The CRC written is n->stored_crc: compute it
 * with kelp_crc32c() over the data first.
 * @return the record length, -EINVAL for a bad version or fields too long, -ENOSPC when @cap is
 * too small.
 */
int64_t kelp_needle_encode(uint8_t version, const struct kelp_needle *n, uint8_t *buf, size_t cap);

#endif
