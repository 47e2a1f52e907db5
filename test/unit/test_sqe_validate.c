/* SPDX-License-Identifier: Apache-2.0 */
/* kelp_sqe_check (lcore/worker/sqe_check.c): every rule at its boundary, and random SQEs never pass
 * with a buffer outside the arena. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "lcore/worker/sqe_check.h"

#define ARENA  (1u << 20)
#define MAX_IO (1u << 19)

static struct kelp_sqe read_sqe(uint64_t buf_off, uint32_t length)
{
	return (struct kelp_sqe){.opcode = KELP_OP_READ,
				 .volume_id = 3,
				 .key = 1,
				 .cookie = 2,
				 .length = length,
				 .buf_off = buf_off,
				 .user_data = 9};
}

static void test_valid(void **state)
{
	struct kelp_sqe nop = {.opcode = KELP_OP_NOP, .user_data = 1};
	assert_int_equal(kelp_sqe_check(&nop, ARENA, MAX_IO), 0);
	struct kelp_sqe stat = {.opcode = KELP_OP_STAT, .volume_id = 3, .key = 1, .cookie = 2};
	assert_int_equal(kelp_sqe_check(&stat, ARENA, MAX_IO), 0);
	struct kelp_sqe r = read_sqe(0, MAX_IO);
	assert_int_equal(kelp_sqe_check(&r, ARENA, MAX_IO), 0);
	r = read_sqe(ARENA - 1, 1); /* last byte of the arena */
	assert_int_equal(kelp_sqe_check(&r, ARENA, MAX_IO), 0);
	r = read_sqe(ARENA - MAX_IO, MAX_IO);
	r.offset = UINT64_MAX; /* any offset is the volume's business (-ERANGE there) */
	assert_int_equal(kelp_sqe_check(&r, ARENA, MAX_IO), 0);
}

static void test_buffer_bounds(void **state)
{
	struct kelp_sqe r = read_sqe(ARENA, 1);
	assert_int_equal(kelp_sqe_check(&r, ARENA, MAX_IO), -EFAULT);
	r = read_sqe(ARENA - 1, 2);
	assert_int_equal(kelp_sqe_check(&r, ARENA, MAX_IO), -EFAULT);
	r = read_sqe(UINT64_MAX, 1);
	assert_int_equal(kelp_sqe_check(&r, ARENA, MAX_IO), -EFAULT);
	r = read_sqe(UINT64_MAX - 10, 100); /* buf_off + length wraps around */
	assert_int_equal(kelp_sqe_check(&r, ARENA, MAX_IO), -EFAULT);
	r = read_sqe(ARENA + 4096, 4096);
	assert_int_equal(kelp_sqe_check(&r, ARENA, MAX_IO), -EFAULT);
}

static void test_lengths(void **state)
{
	struct kelp_sqe r = read_sqe(0, 0);
	assert_int_equal(kelp_sqe_check(&r, ARENA, MAX_IO), -EINVAL);
	r = read_sqe(0, MAX_IO + 1);
	assert_int_equal(kelp_sqe_check(&r, ARENA, MAX_IO), -E2BIG);
	r = read_sqe(0, UINT32_MAX);
	assert_int_equal(kelp_sqe_check(&r, ARENA, MAX_IO), -E2BIG);
}

static void test_opcode_and_reserved(void **state)
{
	for (int op = 3; op < 256; op++) {
		struct kelp_sqe e = {.opcode = (uint8_t)op}; /* path opcodes: path_len 0 */
		assert_int_equal(kelp_sqe_check(&e, ARENA, MAX_IO), -EINVAL);
	}
	struct kelp_sqe e = read_sqe(0, 16);
	e.flags = 0x80;
	assert_int_equal(kelp_sqe_check(&e, ARENA, MAX_IO), -EINVAL);
	e.flags = 0x04;
	assert_int_equal(kelp_sqe_check(&e, ARENA, MAX_IO), -EINVAL);
	/* RDMA-only and TCP-only exclude each other */
	e.flags = KELP_SQE_F_RDMA_ONLY | KELP_SQE_F_TCP_ONLY;
	assert_int_equal(kelp_sqe_check(&e, ARENA, MAX_IO), -EINVAL);
	/* the defined flags: READ and STAT take them, NOP does not */
	e.flags = KELP_SQE_F_RDMA_ONLY;
	assert_int_equal(kelp_sqe_check(&e, ARENA, MAX_IO), 0);
	e.flags = KELP_SQE_F_TCP_ONLY;
	assert_int_equal(kelp_sqe_check(&e, ARENA, MAX_IO), 0);
	struct kelp_sqe flagged = {.opcode = KELP_OP_STAT, .flags = KELP_SQE_F_RDMA_ONLY};
	assert_int_equal(kelp_sqe_check(&flagged, ARENA, MAX_IO), 0);
	flagged = (struct kelp_sqe){.opcode = KELP_OP_NOP, .flags = KELP_SQE_F_RDMA_ONLY};
	assert_int_equal(kelp_sqe_check(&flagged, ARENA, MAX_IO), -EINVAL);
	e = read_sqe(0, 16);
	e.reserved0 = 1;
	assert_int_equal(kelp_sqe_check(&e, ARENA, MAX_IO), -EINVAL);
	e = read_sqe(0, 16);
	e.reserved[1] = 1;
	assert_int_equal(kelp_sqe_check(&e, ARENA, MAX_IO), -EINVAL);
	/* fields an opcode does not use must be zero */
	struct kelp_sqe nop = {.opcode = KELP_OP_NOP, .length = 1};
	assert_int_equal(kelp_sqe_check(&nop, ARENA, MAX_IO), -EINVAL);
	nop = (struct kelp_sqe){.opcode = KELP_OP_NOP, .volume_id = 1};
	assert_int_equal(kelp_sqe_check(&nop, ARENA, MAX_IO), -EINVAL);
	struct kelp_sqe stat = {.opcode = KELP_OP_STAT, .offset = 1};
	assert_int_equal(kelp_sqe_check(&stat, ARENA, MAX_IO), -EINVAL);
	stat = (struct kelp_sqe){.opcode = KELP_OP_STAT, .buf_off = 4096};
	assert_int_equal(kelp_sqe_check(&stat, ARENA, MAX_IO), -EINVAL);
}

static struct kelp_sqe path_sqe(uint8_t op, uint64_t path_off, uint32_t path_len, uint64_t buf_off,
				uint32_t length)
{
	return (struct kelp_sqe){.opcode = op,
				 .path_len = path_len,
				 .path_off = path_off,
				 .length = length,
				 .buf_off = buf_off,
				 .user_data = 5};
}

/* The path opcodes (ABI.md 3, "Path requests"): each rule at its boundary, in its order. */
static void test_path_opcodes(void **state)
{
	const uint32_t st = sizeof(struct kelp_path_stat), de = sizeof(struct kelp_dirent);
	struct kelp_sqe e = path_sqe(KELP_OP_PATH_READ, 0, 1, 4096, MAX_IO);
	e.offset = UINT64_MAX; /* any file offset: 0 bytes past the end, the filer's business */
	assert_int_equal(kelp_sqe_check(&e, ARENA, MAX_IO), 0);
	e = path_sqe(KELP_OP_PATH_STAT, ARENA - KELP_PATH_MAX, KELP_PATH_MAX, 0, st);
	assert_int_equal(kelp_sqe_check(&e, ARENA, MAX_IO), 0);
	e = path_sqe(KELP_OP_PATH_LIST, 0, 10, 4096, de);
	e.after_len = KELP_NAME_MAX;
	assert_int_equal(kelp_sqe_check(&e, ARENA, MAX_IO), 0);
	e = path_sqe(KELP_OP_PATH_READLINK, 0, 10, 4096, 1);
	assert_int_equal(kelp_sqe_check(&e, ARENA, MAX_IO), 0);

	/* flags, path_len 0, offset / after_len where the opcode has none */
	e = path_sqe(KELP_OP_PATH_READ, 0, 1, 4096, 10);
	e.flags = KELP_SQE_F_RDMA_ONLY;
	assert_int_equal(kelp_sqe_check(&e, ARENA, MAX_IO), -EINVAL);
	e = path_sqe(KELP_OP_PATH_READ, 0, 0, 4096, 10);
	assert_int_equal(kelp_sqe_check(&e, ARENA, MAX_IO), -EINVAL);
	e = path_sqe(KELP_OP_PATH_STAT, 0, 1, 4096, st);
	e.offset = 1;
	assert_int_equal(kelp_sqe_check(&e, ARENA, MAX_IO), -EINVAL);
	e = path_sqe(KELP_OP_PATH_READ, 0, 1, 4096, 10);
	e.after_len = 1;
	assert_int_equal(kelp_sqe_check(&e, ARENA, MAX_IO), -EINVAL);
	/* too long */
	e = path_sqe(KELP_OP_PATH_READ, 0, KELP_PATH_MAX + 1, 8192, 10);
	assert_int_equal(kelp_sqe_check(&e, ARENA, MAX_IO), -ENAMETOOLONG);
	e = path_sqe(KELP_OP_PATH_LIST, 0, 1, 8192, de);
	e.after_len = KELP_NAME_MAX + 1;
	assert_int_equal(kelp_sqe_check(&e, ARENA, MAX_IO), -ENAMETOOLONG);
	e = path_sqe(KELP_OP_PATH_READ, 0, UINT32_MAX, 8192, 10);
	assert_int_equal(kelp_sqe_check(&e, ARENA, MAX_IO), -ENAMETOOLONG);
	/* the path outside the arena, its last byte, a wrap-around; LIST's name counts */
	e = path_sqe(KELP_OP_PATH_READ, ARENA - 1, 2, 0, 10);
	assert_int_equal(kelp_sqe_check(&e, ARENA, MAX_IO), -EFAULT);
	e = path_sqe(KELP_OP_PATH_READ, ARENA - 1, 1, 0, 10);
	assert_int_equal(kelp_sqe_check(&e, ARENA, MAX_IO), 0);
	e = path_sqe(KELP_OP_PATH_READ, UINT64_MAX - 2, 10, 0, 10);
	assert_int_equal(kelp_sqe_check(&e, ARENA, MAX_IO), -EFAULT);
	e = path_sqe(KELP_OP_PATH_LIST, ARENA - 10, 10, 0, de);
	e.after_len = 1;
	assert_int_equal(kelp_sqe_check(&e, ARENA, MAX_IO), -EFAULT);
	/* output lengths */
	e = path_sqe(KELP_OP_PATH_READ, 0, 1, 4096, 0);
	assert_int_equal(kelp_sqe_check(&e, ARENA, MAX_IO), -EINVAL);
	e = path_sqe(KELP_OP_PATH_STAT, 0, 1, 4096, st + 1);
	assert_int_equal(kelp_sqe_check(&e, ARENA, MAX_IO), -EINVAL);
	e = path_sqe(KELP_OP_PATH_LIST, 0, 1, 4096, de - 1);
	assert_int_equal(kelp_sqe_check(&e, ARENA, MAX_IO), -EINVAL);
	e = path_sqe(KELP_OP_PATH_READ, 0, 1, 0, MAX_IO + 1);
	assert_int_equal(kelp_sqe_check(&e, ARENA, MAX_IO), -E2BIG);
	e = path_sqe(KELP_OP_PATH_READ, 0, 1, ARENA - 9, 10);
	assert_int_equal(kelp_sqe_check(&e, ARENA, MAX_IO), -EFAULT);
	e = path_sqe(KELP_OP_PATH_STAT, 0, 1, UINT64_MAX, st);
	assert_int_equal(kelp_sqe_check(&e, ARENA, MAX_IO), -EFAULT);
}

/* Random entries: whatever passes as READ has its buffer inside the arena. */
static void test_random_never_escapes(void **state)
{
	srand(7);
	unsigned passed = 0;
	for (int i = 0; i < 200000; i++) {
		struct kelp_sqe e;
		for (size_t b = 0; b < sizeof(e); b++)
			((uint8_t *)&e)[b] = (uint8_t)rand();
		/* make passing possible: often valid opcode and zero reserved, small values */
		e.opcode = (uint8_t)(e.opcode % 8);
		if (i & 1) {
			e.flags = 0;
			e.reserved0 = 0;
			e.reserved[0] = e.reserved[1] = 0;
			e.buf_off %= 2 * ARENA;
			e.length %= 2 * MAX_IO;
		}
		if (i & 2) {
			e.path_len %= 2 * KELP_PATH_MAX;
			e.path_off %= 2 * ARENA;
			e.after_len %= 2 * KELP_NAME_MAX;
		}
		if (kelp_sqe_check(&e, ARENA, MAX_IO) == 0 &&
		    (e.opcode == KELP_OP_READ || kelp_op_is_path(e.opcode))) {
			passed++;
			assert_true(e.length >= 1 && e.length <= MAX_IO);
			assert_true(e.buf_off < ARENA && e.buf_off + e.length <= ARENA);
		}
		if (kelp_sqe_check(&e, ARENA, MAX_IO) == 0 && kelp_op_is_path(e.opcode)) {
			assert_true(e.path_len >= 1 && e.path_len <= KELP_PATH_MAX);
			assert_true(e.path_off + e.path_len + e.after_len <= ARENA);
		}
	}
	assert_true(passed > 0); /* the loop did test accepted entries */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),	     cmocka_unit_test(test_buffer_bounds),
		cmocka_unit_test(test_lengths),	     cmocka_unit_test(test_opcode_and_reserved),
		cmocka_unit_test(test_path_opcodes), cmocka_unit_test(test_random_never_escapes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
