/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelp-bench --verify (bench/kelp-bench/verify.c, included here): a read of the needle as the
 * targets list it passes; wrong bytes fail; a whole other version of the needle counts as changed
 * only when a STAT after the run (a fake restat here) finds the needle changed or gone (issue 8
 * item 15: needles overwritten during a run were counted as wrong bytes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "bench/kelp-bench/verify.c"

/* What the fake restat answers: the needle's size and CRC now, or an error. */
static struct {
	int rc;
	uint64_t size;
	uint32_t crc;
	unsigned calls;
} now;

static int fake_restat(struct bench_thread *t, const struct bench_target *tg, uint64_t *size,
		       uint32_t *crc)
{
	now.calls++;
	*size = now.size;
	*crc = now.crc;
	return now.rc;
}

static const struct bench_mode with_restat = {.name = "fake", .restat = fake_restat};
static const struct bench_mode without_restat = {.name = "fake"};

static uint8_t v1[3000], v2[3500];
static struct bench_target tg;

static void setup_case(struct bench_thread *t, const struct bench_mode *m)
{
	memset(t, 0, sizeof(*t));
	t->mode = m;
	t->buf_size = 4096;
	memset(&now, 0, sizeof(now));
	for (size_t i = 0; i < sizeof(v1); i++)
		v1[i] = (uint8_t)(i * 7 + 1);
	for (size_t i = 0; i < sizeof(v2); i++)
		v2[i] = (uint8_t)(i * 13 + 5);
	tg = (struct bench_target){.data_size = sizeof(v1),
				   .stored_crc = kelp_crc32c(0, v1, sizeof(v1)),
				   .has_crc = true,
				   .dat_fd = -1};
}

/* The completion of a read that returned @len bytes of version @v (whole size @size). */
static struct bench_done done_of(const uint8_t *v, size_t len, uint64_t size)
{
	return (struct bench_done){.result = (int64_t)len,
				   .crc = kelp_crc32c(0, v, size),
				   .has_crc = true,
				   .size = size};
}

static void test_same_version_passes(void **state)
{
	struct bench_thread t;
	setup_case(&t, &with_restat);
	struct bench_done d = done_of(v1, sizeof(v1), sizeof(v1));
	bench_verify_read(&t, &tg, v1, sizeof(v1), &d);
	bench_verify_read(&t, &tg, v1, sizeof(v1), NULL);
	bench_verify_settle(&t);
	assert_int_equal(t.verified, 2);
	assert_int_equal(t.verify_failures + t.verify_changed, 0);
	assert_int_equal(now.calls, 0);
}

/* The regression: reads of a version written after the targets were built, the needle changed. */
static void test_overwritten_counts_as_changed(void **state)
{
	struct bench_thread t;
	setup_case(&t, &with_restat);
	now.size = sizeof(v2);
	now.crc = kelp_crc32c(0, v2, sizeof(v2));
	struct bench_done d = done_of(v2, sizeof(v2), sizeof(v2));
	for (int i = 0; i < 3; i++)
		bench_verify_read(&t, &tg, v2, sizeof(v2), &d);
	bench_verify_settle(&t);
	assert_int_equal(t.verified, 3);
	assert_int_equal(t.verify_failures, 0);
	assert_int_equal(t.verify_changed, 3);
	assert_int_equal(now.calls, 1); /* one STAT per needle, not per read */
	assert_null(t.suspects);
}

static void test_deleted_counts_as_changed(void **state)
{
	struct bench_thread t;
	setup_case(&t, &with_restat);
	now.rc = -ENOENT;
	struct bench_done d = done_of(v2, sizeof(v2), sizeof(v2));
	bench_verify_read(&t, &tg, v2, sizeof(v2), &d);
	bench_verify_settle(&t);
	assert_int_equal(t.verify_changed, 1);
	assert_int_equal(t.verify_failures, 0);
}

/* The same other version, but the needle is as it was: those bytes were wrong. */
static void test_unchanged_needle_fails(void **state)
{
	struct bench_thread t;
	setup_case(&t, &with_restat);
	now.size = tg.data_size;
	now.crc = tg.stored_crc;
	struct bench_done d = done_of(v2, sizeof(v2), sizeof(v2));
	bench_verify_read(&t, &tg, v2, sizeof(v2), &d);
	bench_verify_settle(&t);
	assert_int_equal(t.verify_failures, 1);
	assert_int_equal(t.verify_changed, 0);
}

/* The STAT fails (e.g. -EBUSY with reads still in flight): no excuse, a failure. */
static void test_restat_error_fails(void **state)
{
	struct bench_thread t;
	setup_case(&t, &with_restat);
	now.rc = -EBUSY;
	struct bench_done d = done_of(v2, sizeof(v2), sizeof(v2));
	bench_verify_read(&t, &tg, v2, sizeof(v2), &d);
	bench_verify_settle(&t);
	assert_int_equal(t.verify_failures, 1);
	assert_int_equal(t.verify_changed, 0);
}

/* Bytes that match neither the listed version nor the one the read names fail at once. */
static void test_torn_bytes_fail_even_if_changed(void **state)
{
	struct bench_thread t;
	setup_case(&t, &with_restat);
	now.size = sizeof(v2);
	now.crc = kelp_crc32c(0, v2, sizeof(v2));
	struct bench_done d = done_of(v2, sizeof(v2), sizeof(v2));
	uint8_t torn[sizeof(v2)];
	memcpy(torn, v2, sizeof(v2));
	torn[100] ^= 0x01;
	bench_verify_read(&t, &tg, torn, sizeof(torn), &d);
	d.size = sizeof(v2) + 1; /* short of the size it names */
	bench_verify_read(&t, &tg, v2, sizeof(v2), &d);
	bench_verify_settle(&t);
	assert_int_equal(t.verify_failures, 2);
	assert_int_equal(t.verify_changed, 0);
	assert_int_equal(now.calls, 0);
}

/* A mode that cannot name the version it read (pread), or no restat: every mismatch fails. */
static void test_no_version_or_restat_fails(void **state)
{
	struct bench_thread t;
	setup_case(&t, &without_restat);
	struct bench_done d = done_of(v2, sizeof(v2), sizeof(v2));
	bench_verify_read(&t, &tg, v2, sizeof(v2), &d);
	assert_int_equal(t.verify_failures, 1);
	setup_case(&t, &with_restat);
	now.size = sizeof(v2); /* it did change: no matter without the version read */
	bench_verify_read(&t, &tg, v2, sizeof(v2), NULL);
	d.has_crc = false;
	bench_verify_read(&t, &tg, v2, sizeof(v2), &d);
	bench_verify_settle(&t);
	assert_int_equal(t.verify_failures, 2);
	assert_int_equal(t.verify_changed, 0);
	assert_int_equal(now.calls, 0);
}

/* The new version is larger than the buffer: cut short, its CRC cannot be checked; changed. */
static void test_grown_past_buffer(void **state)
{
	struct bench_thread t;
	setup_case(&t, &with_restat);
	t.buf_size = 3200;
	now.size = 9000;
	now.crc = 1;
	struct bench_done d = {.result = 3200, .crc = 1, .has_crc = true, .size = 9000};
	bench_verify_read(&t, &tg, v2, 3200, &d);
	bench_verify_settle(&t);
	assert_int_equal(t.verify_changed, 1);
	assert_int_equal(t.verify_failures, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_version_passes),
		cmocka_unit_test(test_overwritten_counts_as_changed),
		cmocka_unit_test(test_deleted_counts_as_changed),
		cmocka_unit_test(test_unchanged_needle_fails),
		cmocka_unit_test(test_restat_error_fails),
		cmocka_unit_test(test_torn_bytes_fail_even_if_changed),
		cmocka_unit_test(test_no_version_or_restat_fails),
		cmocka_unit_test(test_grown_past_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
