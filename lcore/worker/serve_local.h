/* SPDX-License-Identifier: Apache-2.0 */
/* Serving a validated READ or STAT from a volume file on this host (the "local" path). */
#ifndef KELP_LCORE_SERVE_LOCAL_H
#define KELP_LCORE_SERVE_LOCAL_H

#include <stdint.h>

#include "core/volume.h"
#include "kelp_abi.h"

/*
 * kelp_serve_local - serve @e (passed kelp_sqe_check; opcode READ or STAT) from volume @v: find the
 * needle, copy into @arena + e->buf_off (checking the CRC in the same pass when the whole needle is
 * read; raw or legacy form, core/crc32c.h), and fill every field of @c but user_data. gzip-stored
 * data is copied as stored (KELP_CQE_F_GZIP).
 * Owning lcore (any thread that may read @v). No allocation, no syscall.
 * Result in c->result: bytes copied / 0 (STAT); -ENOENT missing, deleted or cookie mismatch;
 * -EIO corrupt record, CRC mismatch, or the volume's file changed under the read (truncated:
 * kelp_volume_faulted()); -ERANGE offset beyond the needle's data.
 */
void kelp_serve_local(const struct kelp_volume *v, const struct kelp_sqe *e, uint8_t *arena,
		      struct kelp_cqe *c);

#endif
