/* SPDX-License-Identifier: Apache-2.0 */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* single words, relaxed atomics: no lock on any path (core/log.h) */
static int cur_level = KELP_LOG_INFO;
static int cur_target = KELP_LOG_TARGET_STDERR;
static int syslog_opened;
/* -1: not checked yet; 0/1: is stderr journald's stream ($JOURNAL_STREAM, systemd.exec(5)) */
static int journal_stderr = -1;

void kelp_log_set_level(enum kelp_log_level level)
{
	if ((int)level < KELP_LOG_ERROR)
		level = KELP_LOG_ERROR;
	if (level > KELP_LOG_DEBUG)
		level = KELP_LOG_DEBUG;
	__atomic_store_n(&cur_level, (int)level, __ATOMIC_RELAXED);
}

enum kelp_log_level kelp_log_get_level(void)
{
	return (enum kelp_log_level)__atomic_load_n(&cur_level, __ATOMIC_RELAXED);
}

void kelp_log_set_target(enum kelp_log_target target)
{
	__atomic_store_n(&cur_target, (int)target, __ATOMIC_RELAXED);
}

/* systemd sets JOURNAL_STREAM=<dev>:<ino> of the stream it connected stdout/stderr to; a child
 * that inherits the variable but not the stream (stderr redirected to a file) sees another inode */
static int stderr_is_journal(void)
{
	int v = __atomic_load_n(&journal_stderr, __ATOMIC_RELAXED);
	if (v >= 0)
		return v;
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	v = e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
	    (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
	__atomic_store_n(&journal_stderr, v, __ATOMIC_RELAXED); /* same answer from every thread */
	return v;
}

static const char *const level_words[] = {"ERROR", "WARN", "INFO", "DEBUG"};
/* sd-daemon(3) prefixes: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG */
static const int syslog_prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

unsigned long kelp_log_format(char *line, unsigned long size, enum kelp_log_level level,
			      int journal, const char *fmt, va_list ap)
{
	size_t n;
	int m;

	if (journal) {
		m = snprintf(line, size, "<%d>", syslog_prio[level]);
	} else {
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = strftime(line, size, "%Y-%m-%dT%H:%M:%S", &tm);
		m = snprintf(line + n, size - n, ".%03ldZ %s ", ts.tv_nsec / 1000000,
			     level_words[level]);
		m += (int)n;
	}
	n = m > 0 ? (size_t)m : 0;
	m = vsnprintf(line + n, size - n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	n += (size_t)m < size - n - 1 ? (size_t)m : size - n - 2; /* cut long lines */
	line[n++] = '\n';
	return n;
}

void kelp_log_at(enum kelp_log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!kelp_log_enabled(level))
		return;
	va_start(ap, fmt);
	if (__atomic_load_n(&cur_target, __ATOMIC_RELAXED) == KELP_LOG_TARGET_SYSLOG) {
		if (!__atomic_exchange_n(&syslog_opened, 1, __ATOMIC_RELAXED))
			openlog("kelpd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		vsyslog(LOG_DAEMON | syslog_prio[level], fmt, ap); /* syslog(3) serializes itself */
		va_end(ap);
		return;
	}
	unsigned long n = kelp_log_format(line, sizeof(line), level, stderr_is_journal(), fmt, ap);
	va_end(ap);
	/* one write: a line is never mixed with another thread's; a failed log write is ignored */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}
