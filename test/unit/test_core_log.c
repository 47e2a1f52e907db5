/* SPDX-License-Identifier: Apache-2.0 */
/* core/log: the line format (timestamp + level, or journald's priority prefix), the level filter,
 * and the detection of journald's stream through $JOURNAL_STREAM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

static unsigned long fmt(char *buf, unsigned long size, enum kelp_log_level level, int journal,
			 const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	unsigned long n = kelp_log_format(buf, size, level, journal, f, ap);
	va_end(ap);
	return n;
}

static void test_format_stderr(void **state)
{
	char line[256];
	unsigned long n = fmt(line, sizeof(line), KELP_LOG_WARN, 0, "kelpd: %s %d", "x", 7);
	line[n] = '\0';
	regex_t re;
	assert_int_equal(
		regcomp(&re,
			"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
			"WARN kelpd: x 7\n$",
			REG_EXTENDED),
		0);
	assert_int_equal(regexec(&re, line, 0, NULL, 0), 0);
	regfree(&re);
	n = fmt(line, sizeof(line), KELP_LOG_DEBUG, 0, "a");
	line[n] = '\0';
	assert_non_null(strstr(line, "Z DEBUG a\n"));
}

static void test_format_journal(void **state)
{
	char line[256];
	const struct {
		enum kelp_log_level level;
		const char *want;
	} v[] = {
		{KELP_LOG_ERROR, "<3>kelpd: x\n"},
		{KELP_LOG_WARN, "<4>kelpd: x\n"},
		{KELP_LOG_INFO, "<6>kelpd: x\n"},
		{KELP_LOG_DEBUG, "<7>kelpd: x\n"},
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		unsigned long n = fmt(line, sizeof(line), v[i].level, 1, "kelpd: %s", "x");
		assert_int_equal(n, strlen(v[i].want));
		line[n] = '\0';
		assert_string_equal(line, v[i].want);
	}
}

static void test_format_cut(void **state)
{
	char line[64], big[200];
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	unsigned long n = fmt(line, sizeof(line), KELP_LOG_INFO, 1, "%s", big);
	assert_int_equal(n, sizeof(line) - 1); /* room for the caller's NUL is not needed: cut */
	assert_int_equal(line[n - 1], '\n');
}

/* stderr into a pipe; returns the read end */
static int capture_stderr(int *saved)
{
	int p[2];
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	*saved = dup(STDERR_FILENO);
	assert_true(dup2(p[1], STDERR_FILENO) >= 0);
	close(p[1]);
	return p[0];
}

static void restore_stderr(int saved)
{
	dup2(saved, STDERR_FILENO);
	close(saved);
}

static ssize_t drain(int fd, char *buf, size_t size)
{
	ssize_t n = read(fd, buf, size - 1);
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

/* first: the journald check happens once, at the first line written */
static void test_journal_stream_detected(void **state)
{
	int saved, rd = capture_stderr(&saved);
	struct stat st;
	assert_int_equal(fstat(STDERR_FILENO, &st), 0);
	char env[64];
	snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", env, 1);
	kelp_log_set_level(KELP_LOG_INFO);
	kelp_log_warn("kelpd: to the journal");
	char buf[256];
	drain(rd, buf, sizeof(buf));
	restore_stderr(saved);
	close(rd);
	assert_string_equal(buf, "<4>kelpd: to the journal\n");
}

static void test_level_filter(void **state)
{
	int saved, rd = capture_stderr(&saved);
	char buf[512];
	kelp_log_set_level(KELP_LOG_WARN);
	assert_int_equal(kelp_log_get_level(), KELP_LOG_WARN);
	kelp_log_info("kelpd: info dropped");
	kelp_log_debug("kelpd: debug dropped");
	assert_true(drain(rd, buf, sizeof(buf)) <= 0);
	kelp_log_error("kelpd: error kept");
	kelp_log_warn("kelpd: warn kept");
	drain(rd, buf, sizeof(buf));
	assert_non_null(strstr(buf, "kelpd: error kept\n"));
	assert_non_null(strstr(buf, "kelpd: warn kept\n"));
	kelp_log_set_level(KELP_LOG_DEBUG); /* SIGHUP: live */
	kelp_log_debug("kelpd: debug now");
	drain(rd, buf, sizeof(buf));
	assert_non_null(strstr(buf, "kelpd: debug now\n"));
	kelp_log_set_target(KELP_LOG_TARGET_SYSLOG); /* [engine] log_target = syslog: not stderr */
	kelp_log_error("kelpd: to syslog");
	kelp_log_set_target(KELP_LOG_TARGET_STDERR);
	assert_true(drain(rd, buf, sizeof(buf)) <= 0);
	restore_stderr(saved);
	close(rd);
	kelp_log_set_level(KELP_LOG_INFO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_journal_stream_detected),
		cmocka_unit_test(test_format_stderr),
		cmocka_unit_test(test_format_journal),
		cmocka_unit_test(test_format_cut),
		cmocka_unit_test(test_level_filter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
