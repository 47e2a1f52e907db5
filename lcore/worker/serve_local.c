/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <string.h>

#include "core/crc32c.h"
#include "lcore/worker/serve_local.h"

static void serve(const struct kelp_volume *v, const struct kelp_sqe *e, uint8_t *arena,
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
	uint8_t *dst = arena + e->buf_off;
	if (e->offset == 0 && n == ref.data_size && n > 0) {
		/* whole needle: CRC and copy in one pass over the source; on a mismatch the buffer
		 * holds the (bad) bytes but the result says -EIO */
		uint32_t crc = kelp_crc32c_copy(0, dst, ref.data, n);
		if (ref.stored_crc != crc && ref.stored_crc != kelp_crc32c_legacy(crc)) {
			c->result = -EIO;
			return;
		}
		c->flags |= KELP_CQE_F_CRC_CHECKED;
	} else if (n > 0) {
		/* n == 0: an empty needle (ref.data may be NULL) or a read at its end */
		memcpy(dst, ref.data + e->offset, n);
	}
	if (n < remaining)
		c->flags |= KELP_CQE_F_TRUNCATED;
	c->result = (int32_t)n;
}

void kelp_serve_local(const struct kelp_volume *v, const struct kelp_sqe *e, uint8_t *arena,
		      struct kelp_cqe *c)
{
	serve(v, e, arena, c);
	/* After every access: a SIGBUS survived in this volume's mapping (its .dat was truncated
	 * under us) means what we read from it, here or on another lcore, may be the zero page that
	 * replaced the lost one (core/fault.h). Not-found and short results are suspect too. */
	if (kelp_volume_faulted(v)) {
		c->result = -EIO;
		c->flags &= ~KELP_CQE_F_CRC_CHECKED;
	}
}
