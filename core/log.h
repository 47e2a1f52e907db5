/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelp_log - kelpd's log: one line per state change (never one per request), with a level.
 *
 * Where lines go ([engine] log_target):
 *   stderr  "2026-12-03T09:21:10.123Z WARN kelpd: ..." (UTC, milliseconds), so the lines of a
 *           long-running kelpd can be put in order with the volume servers' and masters' logs.
 *           When stderr is journald's stream (systemd sets $JOURNAL_STREAM to its device:inode,
 *           the documented way to detect it), the line is "<4>kelpd: ..." instead: no timestamp
 *           (journald stamps every line itself, and `journalctl -o short-iso` shows it) and the
 *           sd-daemon priority prefix, which journald turns into the entry's PRIORITY, so
 *           `journalctl -p warning -u kelpd` filters by level.
 *   syslog  syslog(3), facility daemon, ident "kelpd", the level as its priority.
 * Levels ([engine] log_level): error < warn < info < debug; a line is written when its level is
 * at most the current one. Both settings may change at any time (SIGHUP): they are single words
 * read with relaxed atomic loads, no lock.
 *
 * The message is formatted into one buffer and written with one write(2), so lines of several
 * threads do not interleave. No trailing newline in @fmt: it is added.
 *
 * Who may call: any thread except an lcore's hot path (it formats and makes a syscall): the
 * control thread, start-up and shutdown code, an lcore on a state change (a session broken, a
 * connection lost), never per request.
 */
#ifndef KELP_CORE_LOG_H
#define KELP_CORE_LOG_H

#include <stdarg.h>

/* the order matters: a line is written when its level <= the current level */
enum kelp_log_level {
	KELP_LOG_ERROR, /* kelpd cannot do what it was asked: a failed start, a lost path */
	KELP_LOG_WARN,	/* degraded but serving: a replica down, a retry, a config change ignored */
	KELP_LOG_INFO,	/* state changes an operator wants: serving, a master back, a reload */
	KELP_LOG_DEBUG, /* state changes of single sessions and connections */
};

enum kelp_log_target {
	KELP_LOG_TARGET_STDERR,
	KELP_LOG_TARGET_SYSLOG,
};

/* kelp_log_set_level - lines above @level are dropped from now on. Any thread. */
void kelp_log_set_level(enum kelp_log_level level);

/* kelp_log_get_level - the current level. Any thread. */
enum kelp_log_level kelp_log_get_level(void);

/*
 * kelp_log_set_target - send lines to @target from now on (opens the syslog connection lazily,
 * on the first syslog line). Any thread; start-up and SIGHUP in kelpd.
 */
void kelp_log_set_target(enum kelp_log_target target);

/* kelp_log_enabled - would a line of @level be written? (skip building an expensive message) */
static inline int kelp_log_enabled(enum kelp_log_level level)
{
	return level <= kelp_log_get_level();
}

/*
 * kelp_log_format - the stderr form of a line into @buf (timestamp and level word, or the
 * journald prefix when @journal), newline-terminated; cut to fit @size (>= 64).
 * Return: its length. Any thread (exposed for the unit test).
 */
__attribute__((format(printf, 5, 0))) unsigned long kelp_log_format(char *buf, unsigned long size,
								    enum kelp_log_level level,
								    int journal, const char *fmt,
								    va_list ap);

__attribute__((format(printf, 2, 3))) void kelp_log_at(enum kelp_log_level level, const char *fmt,
						       ...);

#define kelp_log_error(...) kelp_log_at(KELP_LOG_ERROR, __VA_ARGS__)
#define kelp_log_warn(...)  kelp_log_at(KELP_LOG_WARN, __VA_ARGS__)
#define kelp_log_info(...)  kelp_log_at(KELP_LOG_INFO, __VA_ARGS__)
#define kelp_log_debug(...) kelp_log_at(KELP_LOG_DEBUG, __VA_ARGS__)
/* kelp_log - an info line (the callers from before levels existed) */
#define kelp_log(...) kelp_log_at(KELP_LOG_INFO, __VA_ARGS__)

#endif
