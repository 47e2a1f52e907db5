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
		struct kelp_sqe e = {.opcode = (uint8_t)op};
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
		e.opcode = (uint8_t)(e.opcode % 4);
		if (i & 1) {
			e.flags = 0;
			e.reserved0 = 0;
			e.reserved[0] = e.reserved[1] = 0;
			e.buf_off %= 2 * ARENA;
			e.length %= 2 * MAX_IO;
		}
		if (kelp_sqe_check(&e, ARENA, MAX_IO) == 0 && e.opcode == KELP_OP_READ) {
			passed++;
			assert_true(e.length >= 1 && e.length <= MAX_IO);
			assert_true(e.buf_off < ARENA && e.buf_off + e.length <= ARENA);
		}
	}
	assert_true(passed > 0); /* the loop did test accepted entries */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_buffer_bounds),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_opcode_and_reserved),
		cmocka_unit_test(test_random_never_escapes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
