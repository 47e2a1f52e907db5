/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one table through which kelp calls libibverbs.
 *
 * Why a table: the connection and request state machines (nic/conn*.c) are unit-tested against a
 * fake (test/unit/test_nic_conn.c) and run for real on Soft-RoCE (test/rdma/). Nothing else in kelp
 * calls ibv_* directly.
 *
 * Why here: verbs mixes error conventions (ibv_post_send returns a positive errno, ibv_poll_cq a
 * negative value, constructors NULL with errno sometimes unset, destroy calls a positive errno or
 * -1). The table speaks one convention, so nothing above nic/ has to remember:
 *   - int calls return 0 or -errno;
 *   - constructors return the object, or NULL with errno set (never 0);
 *   - poll_cq returns the number of completions (>= 0) or -errno.
 *
 * Objects are the real verbs types; a fake allocates its own instances of them.
 * Thread safety is libibverbs': post/poll on one QP/CQ from one thread at a time (kelp's lcore
 * rule).
 */
#ifndef KELP_NIC_VERBS_OPS_H
#define KELP_NIC_VERBS_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <infiniband/verbs.h>

struct kelp_verbs_ops {
	/* Devices. get_device_list: NULL + errno when the verbs stack is absent (ENOSYS etc.). */
	struct ibv_device **(*get_device_list)(int *num);
	void (*free_device_list)(struct ibv_device **list);
	const char *(*device_name)(struct ibv_device *dev);
	/* true when @dev is driven by mlx5 (so mlx5dv calls are valid on it). */
	bool (*is_mlx5)(struct ibv_device *dev);
	struct ibv_context *(*open_device)(struct ibv_device *dev);
	int (*close_device)(struct ibv_context *ctx);
	int (*query_device_ex)(struct ibv_context *ctx, struct ibv_device_attr_ex *attr);
	int (*query_port)(struct ibv_context *ctx, uint8_t port, struct ibv_port_attr *attr);
	int (*query_gid)(struct ibv_context *ctx, uint8_t port, int index, union ibv_gid *gid);

	/* Protection domain, completion queue (@mlx5_compress: ask for compressed CQEs, mlx5 only;
	 * @ch: the completion channel its events go to, or NULL).
	 */
	struct ibv_pd *(*alloc_pd)(struct ibv_context *ctx);
	int (*dealloc_pd)(struct ibv_pd *pd);
	struct ibv_cq *(*create_cq)(struct ibv_context *ctx, int cqe, bool mlx5_compress,
				    struct ibv_comp_channel *ch);
	int (*destroy_cq)(struct ibv_cq *cq);

	/* Queue pairs. */
	struct ibv_qp *(*create_qp)(struct ibv_pd *pd, struct ibv_qp_init_attr *attr);
	int (*modify_qp)(struct ibv_qp *qp, struct ibv_qp_attr *attr, int attr_mask);
	int (*destroy_qp)(struct ibv_qp *qp);

	/* Memory regions. */
	struct ibv_mr *(*reg_mr)(struct ibv_pd *pd, void *addr, size_t len, int access);
	int (*dereg_mr)(struct ibv_mr *mr);

	/* Data path: 0 / -errno (post), count / -errno (poll). */
	int (*post_send)(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad_wr);
	int (*post_recv)(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad_wr);
	int (*poll_cq)(struct ibv_cq *cq, int num_entries, struct ibv_wc *wc);

	/* Completion events, for an owner that sleeps instead of polling: a channel (its fd is made
	 * non-blocking), arming a CQ for its next completion, taking one event (-EAGAIN: none) and
	 * acknowledging taken events (every one before the CQ is destroyed). Only
	 * kelp_rdma_lcore_config.events uses them: a table without them leaves it off. */
	struct ibv_comp_channel *(*create_comp_channel)(struct ibv_context *ctx);
	int (*destroy_comp_channel)(struct ibv_comp_channel *ch);
	int (*req_notify_cq)(struct ibv_cq *cq);
	int (*get_cq_event)(struct ibv_comp_channel *ch, struct ibv_cq **cq);
	void (*ack_cq_events)(struct ibv_cq *cq, unsigned int n);
};

/* The real libibverbs (and libmlx5 where the device is mlx5). Any thread may use it. */
extern const struct kelp_verbs_ops kelp_verbs_real;

#endif
