/* SPDX-License-Identifier: Apache-2.0 */
/* kelpd's assembly: the volumes, the lcores, RDMA, and the control loop that runs them. */
#ifndef KELP_LCORE_KELPD_RUN_H
#define KELP_LCORE_KELPD_RUN_H

#include "lcore/engine.h"

/*
 * kelp_engine_run - with the validated configuration @conf (core/config.h: kelp_config_init, then
 * the file and overrides), open the volumes, start the lcores and run the control loop in the
 * calling thread until SIGINT/SIGTERM (blocked by the caller and read through a signalfd), then
 * stop everything and free it. @conf must outlive the call (the engine's copy points into it).
 * Main thread only.
 * Return: 0 after a clean stop; -errno when start-up failed (a message was printed to stderr).
 */
int kelp_engine_run(const struct kelp_config *conf);

#endif
