/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelp_log - one line to stderr with a UTC timestamp in front ("2026-12-03T09:21:10.123Z kelpd:
 * ..."), so the lines of a long-running kelpd can be put in order with the volume servers' and the
 * masters' own logs. The message is formatted into one buffer and written with one write(2), so
 * lines of several threads do not interleave. No trailing newline in @fmt: it is added.
 *
 * Who may call: any thread except an lcore's hot path (it formats and makes a syscall): the
 * control thread, start-up and shutdown code.
 */
#ifndef KELP_CORE_LOG_H
#define KELP_CORE_LOG_H

__attribute__((format(printf, 1, 2))) void kelp_log(const char *fmt, ...);

#endif
