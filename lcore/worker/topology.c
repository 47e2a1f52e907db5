/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <hwloc.h>

#include "lcore/worker/topology.h"

/* Read-only after kelp_topo_load(); the one process-wide object (hwloc topologies are expensive
 * to load and immutable once loaded). */
static hwloc_topology_t topo;

int kelp_topo_load(void)
{
	if (topo)
		return 0;
	if (hwloc_topology_init(&topo) != 0)
		return -ENOMEM;
	if (hwloc_topology_load(topo) != 0) {
		hwloc_topology_destroy(topo);
		topo = NULL;
		return -EIO;
	}
	return 0;
}

void kelp_topo_unload(void)
{
	if (topo)
		hwloc_topology_destroy(topo);
	topo = NULL;
}

static hwloc_obj_t pu_of(int cpu)
{
	if (!topo || cpu < 0)
		return NULL;
	return hwloc_get_pu_obj_by_os_index(topo, (unsigned)cpu);
}

int kelp_topo_cpu_ok(int cpu)
{
	hwloc_obj_t pu = pu_of(cpu);
	if (!pu)
		return 0;
	hwloc_const_cpuset_t allowed = hwloc_topology_get_allowed_cpuset(topo);
	return hwloc_bitmap_isset(allowed, (unsigned)cpu) ? 1 : 0;
}

int kelp_topo_cpu_node(int cpu)
{
	hwloc_obj_t pu = pu_of(cpu);
	if (!pu || !pu->nodeset)
		return -1;
	int node = hwloc_bitmap_first(pu->nodeset);
	return node < 0 ? -1 : node;
}

int kelp_topo_bind_thread(int cpu)
{
	hwloc_obj_t pu = pu_of(cpu);
	if (!pu)
		return -EINVAL;
	if (hwloc_set_cpubind(topo, pu->cpuset, HWLOC_CPUBIND_THREAD | HWLOC_CPUBIND_STRICT) != 0)
		return errno ? -errno : -EINVAL;
	return 0;
}

int kelp_topo_ncpus(void)
{
	if (!topo)
		return 0;
	return hwloc_bitmap_weight(hwloc_topology_get_allowed_cpuset(topo));
}
