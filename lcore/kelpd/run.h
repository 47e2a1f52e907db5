/* SPDX-License-Identifier: Apache-2.0 */
/* kelpd's assembly: the volumes, the lcores, RDMA, and the control loop that runs them. */
#ifndef KELP_LCORE_KELPD_RUN_H
#define KELP_LCORE_KELPD_RUN_H

#include "lcore/engine.h"

/*
 * kelp_engine_run - with the validated configuration @conf (core/config.h: kelp_config_init, then
 * the file and overrides), open the volumes, start the lcores and run the control loop in the
 * calling thread until SIGINT/SIGTERM (blocked by the caller and read through a signalfd), then
 * stop everything and free it. @conf must outlive the call (the engine's copy points into it); a
 * SIGHUP calls @load (NULL: SIGHUP re-reads nothing) with @load_arg for a fresh configuration and
 * may swap some of @conf's lists with its own (struct kelp_engine: load_config). Main thread only.
 * Return: 0 after a clean stop; -errno when start-up failed (a message was printed to stderr).
 */
int kelp_engine_run(struct kelp_config *conf,
		    int (*load)(struct kelp_config *c, char *err, size_t err_size, void *arg),
		    void *load_arg);

#endif
