/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The 8-byte superblock at the start of every .dat (seaweedfs.md, "Superblock"). Pure functions.
 */
#ifndef KELP_CORE_SUPERBLOCK_H
#define KELP_CORE_SUPERBLOCK_H

#include <stddef.h>
#include <stdint.h>

#define KELP_SUPERBLOCK_SIZE 8

struct kelp_superblock {
	uint8_t version;	   /* 1, 2 or 3 */
	uint8_t replica_placement; /* dc*100 + rack*10 + same, packed as decimal digits */
	uint8_t ttl_count;
	uint8_t ttl_unit;	   /* 0 none, 1 m, 2 h, 3 d, 4 w, 5 M, 6 y */
	uint16_t compact_revision; /* +1 at every vacuum */
	uint16_t extra_size;	   /* v2/v3: protobuf bytes after the 8 bytes (not interpreted) */
};

/*
 * kelp_superblock_parse - decode the superblock from the first @len bytes of a .dat.
 * @return 0; -EINVAL when @len < 8, the version is not 1..3, or the extra bytes do not fit in @len.
 */
int kelp_superblock_parse(const uint8_t *buf, size_t len, struct kelp_superblock *out);

/* kelp_superblock_encode - write the 8 bytes of @sb to @buf (extra_size is written as given). */
void kelp_superblock_encode(const struct kelp_superblock *sb, uint8_t buf[KELP_SUPERBLOCK_SIZE]);

/* kelp_superblock_data_start - byte offset of the first needle record: 8 (+ extra_size for v2/v3).
 */
uint64_t kelp_superblock_data_start(const struct kelp_superblock *sb);

#endif
