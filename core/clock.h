/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The monotonic clocks kelp reads, in one place. Any thread.
 *   kelp_now_ns()    CLOCK_MONOTONIC: deadlines, timeouts, uptime, rates. A vDSO read where the
 *                    TSC is trusted; a system call and a clock-hardware read where not (e.g. the
 *                    QEMU test VM).
 *   kelp_coarse_ns() CLOCK_MONOTONIC_COARSE: always a vDSO page read, one scheduler tick (1-4 ms)
 *                    of resolution: for timeouts checked on hot paths (the RDMA connections)
 * Wall-clock time (log timestamps, file times) is read where it is used, with CLOCK_REALTIME.
 */
#ifndef KELP_CORE_CLOCK_H
#define KELP_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t kelp_ts_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
}

static inline uint64_t kelp_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return kelp_ts_ns(&ts);
}

static inline uint64_t kelp_coarse_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return kelp_ts_ns(&ts);
}

#endif
