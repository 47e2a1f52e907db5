/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <string.h>

#include "lcore/serve_local.h"

void kelp_serve_local(const struct kelp_volume *v, const struct kelp_sqe *e, uint8_t *arena,
		      struct kelp_cqe *c)
{
	struct kelp_fid fid = {.volume_id = e->volume_id, .key = e->key, .cookie = e->cookie};
	struct kelp_needle_ref ref;
	c->flags = KELP_CQE_PATH_LOCAL;
	int rc = kelp_volume_find(v, &fid, &ref);
	if (rc != 0) {
		c->result = rc;
		return;
	}
	c->size = ref.data_size;
	c->crc = ref.stored_crc;
	c->needle_flags = ref.flags;
	if (ref.flags & KELP_NEEDLE_FLAG_GZIP)
		c->flags |= KELP_CQE_F_GZIP;
	if (e->opcode == KELP_OP_STAT) {
		c->result = 0;
		return;
	}
	if (e->offset > ref.data_size) {
		c->result = -ERANGE;
		return;
	}
	uint64_t remaining = ref.data_size - e->offset;
	uint32_t n = remaining < e->length ? (uint32_t)remaining : e->length;
	if (e->offset == 0 && n == ref.data_size) {
		if (kelp_needle_ref_check_crc(&ref) != 0) {
			c->result = -EIO;
			return;
		}
		c->flags |= KELP_CQE_F_CRC_CHECKED;
	}
	if (n < remaining)
		c->flags |= KELP_CQE_F_TRUNCATED;
	memcpy(arena + e->buf_off, ref.data + e->offset, n);
	c->result = (int32_t)n;
}
