/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CPU topology (hwloc): which CPUs exist and are allowed, their NUMA nodes, and pinning threads.
 * The topology is loaded once by kelp_topo_load() (main thread, before any other thread starts)
 * and then only read, which hwloc allows from every thread.
 */
#ifndef KELP_LCORE_TOPOLOGY_H
#define KELP_LCORE_TOPOLOGY_H

/* kelp_topo_load - load the machine's topology. Main thread, once. Return: 0 or -errno. */
int kelp_topo_load(void);
/* kelp_topo_unload - free it, after every thread that uses it stopped. Main thread. */
void kelp_topo_unload(void);
/* kelp_topo_cpu_ok - 1 when @cpu exists and this process may run on it, else 0. Any thread. */
int kelp_topo_cpu_ok(int cpu);
/* kelp_topo_cpu_node - NUMA node of @cpu, or -1 when unknown. Any thread. */
int kelp_topo_cpu_node(int cpu);
/* kelp_topo_bind_thread - pin the calling thread to @cpu. Return: 0 or -errno. */
int kelp_topo_bind_thread(int cpu);
/* kelp_topo_ncpus - number of CPUs this process may use. Any thread. */
int kelp_topo_ncpus(void);

#endif
