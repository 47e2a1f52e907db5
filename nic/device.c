/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RDMA device discovery and the protection domain (see device.h). Setup follows rdma-core's
 * rc_pingpong.c: one goto ladder whose labels name what they undo, messages naming the object.
 */
#include "nic/device.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void kelp_rdma_gid_format(const union ibv_gid *gid, char *buf, size_t size)
{
	const uint8_t *g = gid->raw;

	snprintf(buf, size,
		 "%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x", g[0],
		 g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11], g[12], g[13],
		 g[14], g[15]);
}

static bool gid_is_zero(const union ibv_gid *gid)
{
	static const union ibv_gid zero;

	return memcmp(gid, &zero, sizeof(zero)) == 0;
}

/* gid_index = -1: the first IPv4-mapped GID (::ffff:a.b.c.d, what RoCE v2 over IPv4 routes
 * with), else index 0. */
static int pick_gid(const struct kelp_verbs_ops *ops, struct ibv_context *ctx, uint8_t port,
		    int tbl_len)
{
	static const uint8_t v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	union ibv_gid gid;

	for (int i = 0; i < tbl_len && i < 256; i++)
		if (ops->query_gid(ctx, port, i, &gid) == 0 &&
		    memcmp(gid.raw, v4_prefix, sizeof(v4_prefix)) == 0)
			return i;
	return 0;
}

/* Port state of @dev's @port, or -errno. Opens and closes a context to look. */
static int probe_port(const struct kelp_verbs_ops *ops, struct ibv_device *dev, uint8_t port)
{
	struct ibv_context *ctx = ops->open_device(dev);
	struct ibv_port_attr pattr;
	int ret;

	if (!ctx)
		return -errno;
	ret = ops->query_port(ctx, port, &pattr);
	ops->close_device(ctx);
	return ret < 0 ? ret : (int)pattr.state;
}

/* Picks the device @cfg names from @list; sets *why on failure. */
static struct ibv_device *pick_device(const struct kelp_verbs_ops *ops, struct ibv_device **list,
				      int num, const struct kelp_rdma_dev_config *cfg, uint8_t port,
				      int *why)
{
	bool any = strcmp(cfg->device, "auto") == 0;

	for (int i = 0; i < num; i++) {
		if (!any) {
			if (strcmp(ops->device_name(list[i]), cfg->device) == 0)
				return list[i];
			continue;
		}
		if (probe_port(ops, list[i], port) == IBV_PORT_ACTIVE)
			return list[i];
	}
	*why = ENODEV;
	return NULL;
}

int kelp_rdma_dev_open(const struct kelp_verbs_ops *ops, const struct kelp_rdma_dev_config *cfg,
		       char *err, size_t errlen, struct kelp_rdma_dev **out)
{
	struct ibv_device **list;
	struct ibv_device *ibdev;
	struct ibv_device_attr_ex attr;
	struct ibv_port_attr pattr;
	struct kelp_rdma_dev *dev;
	uint8_t port = cfg->port ? cfg->port : 1;
	int num = 0, why = 0, ret;

	*out = NULL;
	if (!cfg->device || strcmp(cfg->device, "off") == 0) {
		set_err(err, errlen, "RDMA is off ([rdma] device = off)");
		return -ECANCELED;
	}
	if (cfg->gid_index < -1 || cfg->gid_index > 255) {
		set_err(err, errlen, "[rdma] gid_index %d out of range -1..255", cfg->gid_index);
		return -EINVAL;
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev) {
		set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	dev->ops = ops;
	dev->port = port;
	dev->gid_index = cfg->gid_index;

	list = ops->get_device_list(&num);
	if (!list || num == 0) {
		set_err(err, errlen, "no RDMA device on this host (reads will use HTTP)");
		why = ENODEV;
		goto free_list;
	}
	ibdev = pick_device(ops, list, num, cfg, port, &why);
	if (!ibdev) {
		if (strcmp(cfg->device, "auto") == 0)
			set_err(err, errlen,
				"no RDMA device with port %u ACTIVE (reads will use HTTP)", port);
		else
			set_err(err, errlen, "RDMA device '%s' not found (see ibv_devices)",
				cfg->device);
		goto free_list;
	}
	snprintf(dev->name, sizeof(dev->name), "%s", ops->device_name(ibdev));
	dev->is_mlx5 = ops->is_mlx5(ibdev);

	dev->ctx = ops->open_device(ibdev);
	if (!dev->ctx) {
		why = errno;
		set_err(err, errlen, "cannot open RDMA device %s: %s", dev->name, strerror(why));
		goto free_list;
	}
	ret = ops->query_device_ex(dev->ctx, &attr);
	if (ret < 0) {
		why = -ret;
		set_err(err, errlen, "cannot query RDMA device %s: %s", dev->name, strerror(why));
		goto close_device;
	}
	if (port > attr.orig_attr.phys_port_cnt) {
		why = EINVAL;
		set_err(err, errlen, "RDMA device %s has %u port(s); [rdma] port = %u", dev->name,
			attr.orig_attr.phys_port_cnt, port);
		goto close_device;
	}
	dev->max_qp_wr = (uint32_t)attr.orig_attr.max_qp_wr;
	dev->max_mr_size_log2 = attr.orig_attr.max_mr_size
					? 63 - (uint32_t)__builtin_clzll(attr.orig_attr.max_mr_size)
					: 0;
	/* ODP as the source of an RDMA WRITE: the device must support ODP and RC sends from it. */
	dev->odp_rc_write_src =
		(attr.odp_caps.general_caps & IBV_ODP_SUPPORT) &&
		(attr.odp_caps.per_transport_caps.rc_odp_caps & IBV_ODP_SUPPORT_SEND);
	dev->odp_rc_read_dst =
		(attr.odp_caps.general_caps & IBV_ODP_SUPPORT) &&
		(attr.odp_caps.per_transport_caps.rc_odp_caps & IBV_ODP_SUPPORT_READ);
	{
		int rd = KELP_RDMA_RD_ATOMIC;

		if (attr.orig_attr.max_qp_rd_atom < rd)
			rd = attr.orig_attr.max_qp_rd_atom;
		if (attr.orig_attr.max_qp_init_rd_atom < rd)
			rd = attr.orig_attr.max_qp_init_rd_atom;
		dev->rd_atomic = rd < 1 ? 1 : (uint8_t)rd;
	}

	ret = ops->query_port(dev->ctx, port, &pattr);
	if (ret < 0) {
		why = -ret;
		set_err(err, errlen, "cannot query port %u of %s: %s", port, dev->name,
			strerror(why));
		goto close_device;
	}
	if (pattr.state != IBV_PORT_ACTIVE) {
		why = ENETDOWN;
		set_err(err, errlen, "port %u of %s is not ACTIVE (state %d)", port, dev->name,
			pattr.state);
		goto close_device;
	}
	dev->lid = pattr.lid;
	dev->active_mtu = pattr.active_mtu;
	if (cfg->gid_index < 0)
		dev->gid_index = pick_gid(ops, dev->ctx, port, pattr.gid_tbl_len);
	ret = ops->query_gid(dev->ctx, port, dev->gid_index, &dev->gid);
	if (ret < 0 || (pattr.link_layer == IBV_LINK_LAYER_ETHERNET && gid_is_zero(&dev->gid))) {
		why = ret < 0 ? -ret : EINVAL;
		set_err(err, errlen, "%s port %u has no GID at index %d (see `ibv_devinfo -v`)",
			dev->name, port, dev->gid_index);
		goto close_device;
	}

	dev->pd = ops->alloc_pd(dev->ctx);
	if (!dev->pd) {
		why = errno;
		set_err(err, errlen, "cannot allocate a protection domain on %s: %s", dev->name,
			strerror(why));
		goto close_device;
	}
	ops->free_device_list(list);
	*out = dev;
	return 0;

close_device:
	if (ops->close_device(dev->ctx) < 0)
		kelp_log_error("kelp: closing RDMA device %s failed", dev->name);
free_list:
	if (list)
		ops->free_device_list(list);
	free(dev);
	return why ? -why : -EIO;
}

int kelp_rdma_dev_close(struct kelp_rdma_dev *dev)
{
	int ret, first = 0;

	if (!dev)
		return 0;
	ret = dev->ops->dealloc_pd(dev->pd);
	if (ret < 0) {
		kelp_log_error("kelp: freeing the protection domain of %s failed: %s", dev->name,
			       strerror(-ret));
		first = ret;
	}
	ret = dev->ops->close_device(dev->ctx);
	if (ret < 0) {
		kelp_log_error("kelp: closing RDMA device %s failed: %s", dev->name,
			       strerror(-ret));
		if (!first)
			first = ret;
	}
	free(dev);
	return first;
}
