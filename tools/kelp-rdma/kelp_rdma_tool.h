/* SPDX-License-Identifier: Apache-2.0 */
/* kelp-rdma: the standalone RDMA export and reader (shared declarations of its files). */
#ifndef KELP_TOOLS_KELP_RDMA_H
#define KELP_TOOLS_KELP_RDMA_H

#include <stdint.h>

#include "nic/device.h"

/* Options common to every command. */
struct tool_opts {
	struct kelp_rdma_dev_config dev;
	const char *addr; /* serve: listen address; get/bench: the export's address */
	uint16_t port;
	uint16_t credits;
};

/* Parses a common option at argv[*i] (advancing *i past its value). @return 1 when it was one,
 * 0 when not, -1 on a bad value (message printed). */
int tool_common_opt(struct tool_opts *o, int argc, char **argv, int *i);
void tool_die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
uint64_t tool_now_ns(void);

/*
 * Timestamps for latency measurement: the CPU's time-stamp counter where there is one (x86-64),
 * as perftest takes them, else CLOCK_MONOTONIC in ns. Why not always clock_gettime: where the
 * kernel does not trust the TSC (the QEMU test VM) it is a system call and an emulated HPET read
 * per timestamp, which inflated the measured latency and stole CPU from the transport.
 * tool_ticks_per_ns() calibrates once against CLOCK_MONOTONIC (~20 ms, first call).
 */
uint64_t tool_ticks(void);
double tool_ticks_per_ns(void);

int cmd_serve(int argc, char **argv);
int cmd_get(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#define COMMON_OPTS_HELP                                                                           \
	"  --device NAME|auto   RDMA device (default auto)\n"                                      \
	"  --port N             device port (default 1)\n"                                         \
	"  --gid-index N        GID index (default -1: first IPv4-mapped GID, else 0)\n"           \
	"  --credits N          requests in flight per connection (default 32)\n"

#endif
