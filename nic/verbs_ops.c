/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelp_verbs_real: libibverbs behind kelp's ops table, with every result converted to 0 / -errno
 * (see verbs_ops.h for why and for the convention).
 */
#include "nic/verbs_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include <infiniband/mlx5dv.h>

/* A verbs int result (0, positive errno, or -1 with errno) as 0 / -errno. */
static int to_neg_errno(int ret)
{
	if (ret == 0)
		return 0;
	if (ret > 0)
		return -ret;
	return errno ? -errno : -EIO;
}

/* Constructors must leave errno set when they fail; some providers do not. */
static void *ensure_errno(void *obj)
{
	if (!obj && errno == 0)
		errno = EIO;
	return obj;
}

static struct ibv_device **real_get_device_list(int *num)
{
	errno = 0;
	return ensure_errno(ibv_get_device_list(num));
}

static const char *real_device_name(struct ibv_device *dev)
{
	return ibv_get_device_name(dev);
}

static bool real_is_mlx5(struct ibv_device *dev)
{
	return mlx5dv_is_supported(dev);
}

static struct ibv_context *real_open_device(struct ibv_device *dev)
{
	errno = 0;
	return ensure_errno(ibv_open_device(dev));
}

static int real_close_device(struct ibv_context *ctx)
{
	errno = 0;
	return to_neg_errno(ibv_close_device(ctx));
}

static int real_query_device_ex(struct ibv_context *ctx, struct ibv_device_attr_ex *attr)
{
	errno = 0;
	memset(attr, 0, sizeof(*attr));
	return to_neg_errno(ibv_query_device_ex(ctx, NULL, attr));
}

static int real_query_port(struct ibv_context *ctx, uint8_t port, struct ibv_port_attr *attr)
{
	errno = 0;
	return to_neg_errno(ibv_query_port(ctx, port, attr));
}

static int real_query_gid(struct ibv_context *ctx, uint8_t port, int index, union ibv_gid *gid)
{
	errno = 0;
	return to_neg_errno(ibv_query_gid(ctx, port, index, gid));
}

static struct ibv_pd *real_alloc_pd(struct ibv_context *ctx)
{
	errno = 0;
	return ensure_errno(ibv_alloc_pd(ctx));
}

static int real_dealloc_pd(struct ibv_pd *pd)
{
	errno = 0;
	return to_neg_errno(ibv_dealloc_pd(pd));
}

/*
 * One CQ per lcore, polled by that lcore only: ask for a single-threaded extended CQ (the provider
 * may then skip its lock), with compressed CQEs on mlx5. Providers without extended CQs get a plain
 * one. Either way the caller polls it with ibv_poll_cq.
 */
static struct ibv_cq *real_create_cq(struct ibv_context *ctx, int cqe, bool mlx5_compress,
				     struct ibv_comp_channel *ch)
{
	struct ibv_cq_init_attr_ex attr = {
		.cqe = (uint32_t)cqe,
		.channel = ch,
		.wc_flags = IBV_WC_STANDARD_FLAGS,
		.comp_mask = IBV_CQ_INIT_ATTR_MASK_FLAGS,
		.flags = IBV_CREATE_CQ_ATTR_SINGLE_THREADED,
	};
	struct ibv_cq_ex *cq_ex;

	errno = 0;
	if (mlx5_compress) {
		struct mlx5dv_cq_init_attr dv = {
			.comp_mask = MLX5DV_CQ_INIT_ATTR_MASK_COMPRESSED_CQE,
			.cqe_comp_res_format = MLX5DV_CQE_RES_FORMAT_HASH,
		};
		cq_ex = mlx5dv_create_cq(ctx, &attr, &dv);
		if (cq_ex)
			return ibv_cq_ex_to_cq(cq_ex);
	}
	cq_ex = ibv_create_cq_ex(ctx, &attr);
	if (cq_ex)
		return ibv_cq_ex_to_cq(cq_ex);
	errno = 0;
	return ensure_errno(ibv_create_cq(ctx, cqe, NULL, ch, 0));
}

static struct ibv_comp_channel *real_create_comp_channel(struct ibv_context *ctx)
{
	struct ibv_comp_channel *ch;
	int fl;

	errno = 0;
	ch = ibv_create_comp_channel(ctx);
	if (!ch)
		return ensure_errno(ch);
	/* get_cq_event must never block its caller (an lcore that only drains what is there) */
	fl = fcntl(ch->fd, F_GETFL);
	if (fl < 0 || fcntl(ch->fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		int err = errno;

		ibv_destroy_comp_channel(ch);
		errno = err;
		return NULL;
	}
	return ch;
}

static int real_destroy_comp_channel(struct ibv_comp_channel *ch)
{
	errno = 0;
	return to_neg_errno(ibv_destroy_comp_channel(ch));
}

/* ibv_req_notify_cq returns a positive errno (or -1 on some providers). */
static int real_req_notify_cq(struct ibv_cq *cq)
{
	int ret;

	errno = 0;
	ret = ibv_req_notify_cq(cq, 0);
	if (ret > 0)
		return -ret;
	return to_neg_errno(ret);
}

static int real_get_cq_event(struct ibv_comp_channel *ch, struct ibv_cq **cq)
{
	void *cq_ctx;

	errno = 0;
	return to_neg_errno(ibv_get_cq_event(ch, cq, &cq_ctx));
}

static int real_destroy_cq(struct ibv_cq *cq)
{
	errno = 0;
	return to_neg_errno(ibv_destroy_cq(cq));
}

static struct ibv_qp *real_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *attr)
{
	errno = 0;
	return ensure_errno(ibv_create_qp(pd, attr));
}

static int real_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr, int attr_mask)
{
	errno = 0;
	return to_neg_errno(ibv_modify_qp(qp, attr, attr_mask));
}

static int real_destroy_qp(struct ibv_qp *qp)
{
	errno = 0;
	return to_neg_errno(ibv_destroy_qp(qp));
}

static struct ibv_mr *real_reg_mr(struct ibv_pd *pd, void *addr, size_t len, int access)
{
	errno = 0;
	return ensure_errno(ibv_reg_mr(pd, addr, len, access));
}

static int real_dereg_mr(struct ibv_mr *mr)
{
	errno = 0;
	return to_neg_errno(ibv_dereg_mr(mr));
}

/* ibv_post_send/recv return a positive errno and do not set errno. */
static int real_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad_wr)
{
	int ret = ibv_post_send(qp, wr, bad_wr);

	return ret > 0 ? -ret : ret;
}

static int real_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad_wr)
{
	int ret = ibv_post_recv(qp, wr, bad_wr);

	return ret > 0 ? -ret : ret;
}

/* ibv_poll_cq returns a negative number (not an errno) when the CQ is broken. */
static int real_poll_cq(struct ibv_cq *cq, int num_entries, struct ibv_wc *wc)
{
	int n = ibv_poll_cq(cq, num_entries, wc);

	return n >= 0 ? n : -EIO;
}

const struct kelp_verbs_ops kelp_verbs_real = {
	.get_device_list = real_get_device_list,
	.free_device_list = ibv_free_device_list,
	.device_name = real_device_name,
	.is_mlx5 = real_is_mlx5,
	.open_device = real_open_device,
	.close_device = real_close_device,
	.query_device_ex = real_query_device_ex,
	.query_port = real_query_port,
	.query_gid = real_query_gid,
	.alloc_pd = real_alloc_pd,
	.dealloc_pd = real_dealloc_pd,
	.create_cq = real_create_cq,
	.destroy_cq = real_destroy_cq,
	.create_comp_channel = real_create_comp_channel,
	.destroy_comp_channel = real_destroy_comp_channel,
	.req_notify_cq = real_req_notify_cq,
	.get_cq_event = real_get_cq_event,
	.ack_cq_events = ibv_ack_cq_events,
	.create_qp = real_create_qp,
	.modify_qp = real_modify_qp,
	.destroy_qp = real_destroy_qp,
	.reg_mr = real_reg_mr,
	.dereg_mr = real_dereg_mr,
	.post_send = real_post_send,
	.post_recv = real_post_recv,
	.poll_cq = real_poll_cq,
};
