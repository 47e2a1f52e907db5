/* SPDX-License-Identifier: Apache-2.0 */
/* Validation of one submission entry from an untrusted client (see shm/ABI.md section 3). */
#ifndef KELP_LCORE_SQE_CHECK_H
#define KELP_LCORE_SQE_CHECK_H

#include <stdint.h>

#include "kelp_abi.h"

/*
 * kelp_sqe_check - check every field of @e (a private copy, never the shared slot) against the
 * session's arena of @arena_size bytes and @max_io. Any thread; pure.
 * Return: 0 when the request may be served;
 *   -EINVAL  unknown opcode, non-zero flags/reserved, a field the opcode does not use is set,
 *            READ length 0
 *   -E2BIG   READ length > @max_io
 *   -EFAULT  READ buffer [buf_off, buf_off + length) not inside the arena
 * Path opcodes (ABI.md 3): -EINVAL flags, path_len 0, offset (not PATH_READ) or after_len (not
 * PATH_LIST) set, length 0 / not one kelp_path_stat (PATH_STAT) / less than one kelp_dirent
 * (PATH_LIST); -ENAMETOOLONG path_len > KELP_PATH_MAX or after_len > KELP_NAME_MAX; -EFAULT the
 * path's bytes or the buffer not inside the arena; -E2BIG length > @max_io.
 */
int kelp_sqe_check(const struct kelp_sqe *e, uint64_t arena_size, uint32_t max_io);

#endif
