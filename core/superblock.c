/* SPDX-License-Identifier: Apache-2.0 */
#include "core/superblock.h"

#include <errno.h>

#include "core/be.h"

int kelp_superblock_parse(const uint8_t *buf, size_t len, struct kelp_superblock *out)
{
	struct kelp_superblock sb;

	if (len < KELP_SUPERBLOCK_SIZE)
		return -EINVAL;
	sb.version = buf[0];
	if (sb.version < 1 || sb.version > 3)
		return -EINVAL;
	sb.replica_placement = buf[1];
	sb.ttl_count = buf[2];
	sb.ttl_unit = buf[3];
	sb.compact_revision = kelp_be16(buf + 4);
	sb.extra_size = sb.version == 1 ? 0 : kelp_be16(buf + 6);
	if (kelp_superblock_data_start(&sb) > len)
		return -EINVAL;
	*out = sb;
	return 0;
}

void kelp_superblock_encode(const struct kelp_superblock *sb, uint8_t buf[KELP_SUPERBLOCK_SIZE])
{
	buf[0] = sb->version;
	buf[1] = sb->replica_placement;
	buf[2] = sb->ttl_count;
	buf[3] = sb->ttl_unit;
	kelp_put_be16(buf + 4, sb->compact_revision);
	kelp_put_be16(buf + 6, sb->extra_size);
}

uint64_t kelp_superblock_data_start(const struct kelp_superblock *sb)
{
	uint64_t start = KELP_SUPERBLOCK_SIZE + (sb->version == 1 ? 0 : (uint64_t)sb->extra_size);
	/* records are 8-byte aligned */
	return (start + 7) & ~(uint64_t)7;
}
