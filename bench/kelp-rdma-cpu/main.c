/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelp-rdma-cpu: the CPU cost of kelp's RDMA request path on this host, without an RDMA NIC.
 *
 * Runs the real reader and exporter state machines (nic/conn*.c, proto/rdma_msg.c) and the real
 * needle lookup (core/volume) in one thread over a loopback verbs table: a posted SEND is copied
 * (64 bytes) into the peer's next receive and completed at once; an RDMA WRITE moves no bytes
 * (a NIC's DMA does that without the CPU). So the time per request is kelp's software work on both
 * sides plus a small loopback overhead, and excludes what a real provider adds (building WQEs,
 * doorbells, reading CQEs) — BENCHMARKS.md adds an estimate for that. It is a benchmark, not a
 * test: it asserts nothing about time.
 *
 * --one-sided: the reader side of a one-sided read instead (lcore/rdma/rdma_reader.c's work per
 * read): the needle index lookup, one RDMA READ scattered over a staging slot and the arena slot
 * (kelp_rdma_submit_rread), its completion, and the check of what arrived
 * (kelp_needle_check_split; with the CRC unless --no-crc). The loopback copies the record into the
 * pieces for the first read of each slot only (a NIC's DMA moves the bytes without the CPU; later
 * reads of the slot find the same bytes there). No exporter work per read: it has none.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/needle.h"
#include "core/superblock.h"
#include "core/volume.h"
#include "nic/conn.h"
#include "nic/mr.h"

static const char usage[] = "usage: kelp-rdma-cpu VOLDIR FID [--iters N] [--size N] [--depth N] "
			    "[--one-sided [--no-crc]]\n"
			    "Measures ns of CPU per 4 KiB (--size) RDMA read request through "
			    "kelp's reader and exporter\n"
			    "code over a loopback verbs table (no NIC). VOLDIR holds the volume of "
			    "FID (kelp-vol create).\n";

/* ---- loopback verbs ------------------------------------------------------------------------- */

#define LB_Q 8192

struct lb_cq {
	struct ibv_cq cq;
	struct ibv_wc q[LB_Q];
	unsigned head, tail;
};

struct lb_qp {
	struct ibv_qp qp;
	uint32_t dest;
	struct {
		uint64_t wr_id;
		void *addr;
	} rq[LB_Q];
	unsigned rq_head, rq_n;
};

static struct lb_qp *lb_qps[8];
static unsigned lb_nqps;
static struct ibv_device lb_dev;
static struct ibv_context lb_ctx;
static struct ibv_pd lb_pd;
static uint32_t lb_key;
static unsigned long lb_copy_left; /* RDMA READs that still move their bytes (--one-sided) */

static void lb_push(struct ibv_cq *cq, uint64_t wr_id, uint32_t len)
{
	struct lb_cq *c = (struct lb_cq *)cq;

	c->q[c->tail++ % LB_Q] =
		(struct ibv_wc){.wr_id = wr_id, .status = IBV_WC_SUCCESS, .byte_len = len};
}

static struct ibv_device **lb_get_device_list(int *num)
{
	static struct ibv_device *list[2] = {&lb_dev, NULL};

	*num = 1;
	return list;
}
static void lb_free_device_list(struct ibv_device **l)
{
}
static const char *lb_device_name(struct ibv_device *d)
{
	return "loopback";
}
static bool lb_is_mlx5(struct ibv_device *d)
{
	return false;
}
static struct ibv_context *lb_open_device(struct ibv_device *d)
{
	return &lb_ctx;
}
static int lb_close_device(struct ibv_context *c)
{
	return 0;
}
static int lb_query_device_ex(struct ibv_context *c, struct ibv_device_attr_ex *a)
{
	memset(a, 0, sizeof(*a));
	a->orig_attr.phys_port_cnt = 1;
	return 0;
}
static int lb_query_port(struct ibv_context *c, uint8_t port, struct ibv_port_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->state = IBV_PORT_ACTIVE;
	a->active_mtu = IBV_MTU_4096;
	a->link_layer = IBV_LINK_LAYER_INFINIBAND;
	return 0;
}
static int lb_query_gid(struct ibv_context *c, uint8_t port, int index, union ibv_gid *gid)
{
	memset(gid, 0, sizeof(*gid));
	gid->raw[15] = 1;
	return 0;
}
static struct ibv_pd *lb_alloc_pd(struct ibv_context *c)
{
	return &lb_pd;
}
static int lb_dealloc_pd(struct ibv_pd *pd)
{
	return 0;
}
static struct ibv_cq *lb_create_cq(struct ibv_context *c, int cqe, bool mlx5,
				   struct ibv_comp_channel *ch)
{
	struct lb_cq *cq = calloc(1, sizeof(*cq));

	return cq ? &cq->cq : NULL;
}
static int lb_destroy_cq(struct ibv_cq *cq)
{
	free(cq);
	return 0;
}
static struct ibv_qp *lb_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *a)
{
	struct lb_qp *q = calloc(1, sizeof(*q));

	if (!q || lb_nqps == 8)
		return NULL;
	q->qp.qp_num = 100 + lb_nqps;
	q->qp.send_cq = a->send_cq;
	q->qp.recv_cq = a->recv_cq;
	lb_qps[lb_nqps++] = q;
	return &q->qp;
}
static int lb_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *a, int mask)
{
	if (mask & IBV_QP_DEST_QPN)
		((struct lb_qp *)qp)->dest = a->dest_qp_num;
	return 0;
}
static int lb_destroy_qp(struct ibv_qp *qp)
{
	free(qp);
	return 0;
}
static struct ibv_mr *lb_reg_mr(struct ibv_pd *pd, void *addr, size_t len, int access)
{
	struct ibv_mr *mr = calloc(1, sizeof(*mr));

	if (!mr)
		return NULL;
	mr->addr = addr;
	mr->length = len;
	mr->lkey = mr->rkey = ++lb_key;
	return mr;
}
static int lb_dereg_mr(struct ibv_mr *mr)
{
	free(mr);
	return 0;
}
static int lb_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad)
{
	struct lb_qp *q = (struct lb_qp *)qp, *to = lb_qps[((struct lb_qp *)qp)->dest - 100];

	for (; wr; wr = wr->next) {
		if (wr->opcode == IBV_WR_RDMA_READ && lb_copy_left) {
			const uint8_t *from = (const uint8_t *)(uintptr_t)wr->wr.rdma.remote_addr;

			lb_copy_left--;
			for (int k = 0; k < wr->num_sge; k++) {
				memcpy((void *)(uintptr_t)wr->sg_list[k].addr, from,
				       wr->sg_list[k].length);
				from += wr->sg_list[k].length;
			}
		}
		if (wr->opcode == IBV_WR_SEND) {
			unsigned i = to->rq_head++ % LB_Q;

			to->rq_n--;
			memcpy(to->rq[i].addr, (void *)(uintptr_t)wr->sg_list[0].addr,
			       wr->sg_list[0].length);
			lb_push(to->qp.recv_cq, to->rq[i].wr_id, wr->sg_list[0].length);
		}
		if (wr->send_flags & IBV_SEND_SIGNALED)
			lb_push(q->qp.send_cq, wr->wr_id, 0);
	}
	return 0;
}
static int lb_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad)
{
	struct lb_qp *q = (struct lb_qp *)qp;

	for (; wr; wr = wr->next) {
		unsigned i = (q->rq_head + q->rq_n++) % LB_Q;

		q->rq[i].wr_id = wr->wr_id;
		q->rq[i].addr = (void *)(uintptr_t)wr->sg_list[0].addr;
	}
	return 0;
}
static int lb_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc)
{
	struct lb_cq *c = (struct lb_cq *)cq;
	int got = 0;

	while (got < n && c->head != c->tail)
		wc[got++] = c->q[c->head++ % LB_Q];
	return got;
}

static const struct kelp_verbs_ops loopback_ops = {
	lb_get_device_list,
	lb_free_device_list,
	lb_device_name,
	lb_is_mlx5,
	lb_open_device,
	lb_close_device,
	lb_query_device_ex,
	lb_query_port,
	lb_query_gid,
	lb_alloc_pd,
	lb_dealloc_pd,
	lb_create_cq,
	lb_destroy_cq,
	lb_create_qp,
	lb_modify_qp,
	lb_destroy_qp,
	lb_reg_mr,
	lb_dereg_mr,
	lb_post_send,
	lb_post_recv,
	lb_poll_cq,
	/* no completion channel: the loopback is polled, never slept on */
	NULL,
	NULL,
	NULL,
	NULL,
	NULL,
};

/* ---- the benchmark ----------------------------------------------------------------------------
 */

struct exporter {
	struct kelp_volume_set *set;
	uint32_t lkey;
};

static int find(void *arg, const struct kelp_fid *fid, struct kelp_rdma_source *src)
{
	struct exporter *ex = arg;
	struct kelp_volume *v = kelp_volume_set_find(ex->set, fid->volume_id);
	struct kelp_needle_ref ref;
	int ret;

	if (!v)
		return -EHOSTUNREACH;
	ret = kelp_volume_find(v, fid, &ref);
	if (ret < 0)
		return ret;
	*src = (struct kelp_rdma_source){.data = ref.data,
					 .size = ref.data_size,
					 .crc = ref.stored_crc,
					 .flags = ref.flags,
					 .lkey = ex->lkey};
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	long iters = 2000000, size = 4096, depth = 32;
	bool one_sided = false, crc = true;
	const char *dir = NULL, *fidstr = NULL;
	struct kelp_rdma_dev_config cfg = {.device = "auto", .port = 1, .gid_index = 0};
	struct kelp_rdma_done done[KELP_RDMA_POLL_BATCH];
	struct kelp_rdma_hello h, ack;
	struct exporter ex = {0};
	struct kelp_fid fid;
	char err[128];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help")) {
			fputs(usage, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--iters") && i + 1 < argc) {
			iters = atol(argv[++i]);
		} else if (!strcmp(argv[i], "--size") && i + 1 < argc) {
			size = atol(argv[++i]);
		} else if (!strcmp(argv[i], "--depth") && i + 1 < argc) {
			depth = atol(argv[++i]);
		} else if (!strcmp(argv[i], "--one-sided")) {
			one_sided = true;
		} else if (!strcmp(argv[i], "--no-crc")) {
			crc = false;
		} else if (!dir) {
			dir = argv[i];
		} else {
			fidstr = argv[i];
		}
	}
	if (!dir || !fidstr || iters <= 0 || size <= 0 || depth <= 0 || depth > 256 ||
	    kelp_fid_parse(fidstr, strlen(fidstr), &fid) < 0) {
		fputs(usage, stderr);
		return 2;
	}
	const char *dirs[] = {dir};
	if (kelp_volume_set_open(dirs, 1, NULL, NULL, &ex.set) < 0 ||
	    !kelp_volume_set_find(ex.set, fid.volume_id)) {
		fprintf(stderr, "kelp-rdma-cpu: no volume %u in %s\n", fid.volume_id, dir);
		return 2;
	}
	struct kelp_rdma_dev *dev;
	struct kelp_rdma_lcore *rlc, *elc;
	struct kelp_rdma_conn *rc, *ec;
	if (kelp_rdma_dev_open(&loopback_ops, &cfg, err, sizeof(err), &dev) ||
	    kelp_rdma_lcore_create(dev, NULL, NULL, &rlc) ||
	    kelp_rdma_lcore_create(
		    dev, NULL, &(struct kelp_rdma_export_ops){.find = find, .arg = &ex}, &elc) ||
	    kelp_rdma_conn_create(rlc, KELP_RDMA_READER, (uint16_t)depth, &rc) ||
	    kelp_rdma_conn_create(elc, KELP_RDMA_EXPORTER, (uint16_t)depth, &ec))
		return 1;
	uint8_t *arena = aligned_alloc(4096, (size_t)size * (size_t)depth);
	if (!arena)
		return 1;
	struct ibv_mr *amr = kelp_rdma_reg_arena(dev, arena, (size_t)size * (size_t)depth);
	kelp_rdma_conn_hello(rc, &h);
	kelp_rdma_conn_establish(ec, &h, 0);
	kelp_rdma_conn_hello(ec, &ack);
	if (kelp_rdma_conn_establish(rc, &ack, 0) < 0)
		return 1;

	/* one-sided: the staging slots (header + tail) beside the arena, as the reader kelpd has */
	uint8_t *stage = aligned_alloc(4096, 4096 * (size_t)depth);
	struct ibv_mr *smr = kelp_rdma_reg_arena(dev, stage, 4096 * (size_t)depth);
	struct kelp_volume *vol = kelp_volume_set_find(ex.set, fid.volume_id);
	uint8_t version = kelp_volume_superblock(vol)->version;
	lb_copy_left = (unsigned long)depth;
	if (!stage || !smr)
		return 1;

	long submitted = 0, completed = 0, slot_free[256], nfree = 0;
	for (long s = 0; s < depth; s++)
		slot_free[nfree++] = s;
	double t0 = now_s(), c0 = cpu_s();
	while (completed < iters) {
		while (nfree > 0 && submitted < iters) {
			long s = slot_free[nfree - 1];
			int ret;
			if (one_sided) {
				uint64_t off;
				uint32_t bsize;
				if (kelp_volume_lookup(vol, fid.key, &off, &bsize) < 0 || bsize < 5)
					return 1;
				uint32_t dlen =
					(uint32_t)size < bsize - 4 ? (uint32_t)size : bsize - 4;
				uint8_t *head = stage + s * 4096;
				struct kelp_rdma_rread rr = {
					.remote_addr = (uintptr_t)kelp_volume_dat_map(vol) + off,
					.rkey = 1,
					.nsge = 3,
					.user = (void *)(uintptr_t)s,
				};
				rr.sge[0] = (struct ibv_sge){(uintptr_t)head,
							     KELP_NEEDLE_SPLIT_HEAD, smr->lkey};
				rr.sge[1] = (struct ibv_sge){(uintptr_t)(arena + s * size), dlen,
							     amr->lkey};
				rr.sge[2] =
					(struct ibv_sge){(uintptr_t)(head + KELP_NEEDLE_SPLIT_HEAD),
							 bsize - dlen, smr->lkey};
				ret = kelp_rdma_submit_rread(rc, &rr);
				if (ret < 0)
					break;
				nfree--;
				submitted++;
				continue;
			}
			ret = kelp_rdma_submit(
				rc, &(struct kelp_rdma_read){.opcode = KELP_RDMA_OP_READ,
							     .fid = fid,
							     .length = (uint32_t)size,
							     .addr = (uintptr_t)(arena + s * size),
							     .rkey = amr->rkey,
							     .user = (void *)(uintptr_t)s});
			if (ret < 0)
				break;
			nfree--;
			submitted++;
		}
		if (!one_sided) {
			while (kelp_rdma_lcore_poll(elc, done, KELP_RDMA_POLL_BATCH) > 0)
				;
			kelp_rdma_lcore_poll(elc, done, KELP_RDMA_POLL_BATCH); /* no dones */
		}
		int n = kelp_rdma_lcore_poll(rlc, done, KELP_RDMA_POLL_BATCH);
		for (int k = 0; k < n; k++) {
			if (done[k].status < 0) {
				fprintf(stderr, "kelp-rdma-cpu: read failed: %s\n",
					strerror(-done[k].status));
				return 1;
			}
			if (one_sided) {
				/* what rdma_reader.c checks before it completes the read */
				long s = (long)(uintptr_t)done[k].user;
				uint64_t off;
				uint32_t bsize;
				struct kelp_needle nd;
				kelp_volume_lookup(vol, fid.key, &off, &bsize);
				uint32_t dlen =
					(uint32_t)size < bsize - 4 ? (uint32_t)size : bsize - 4;
				uint8_t *head = stage + s * 4096;
				int vrc = kelp_needle_check_split(
					version, fid.cookie, fid.key, bsize, head, arena + s * size,
					dlen, head + KELP_NEEDLE_SPLIT_HEAD, bsize - dlen, crc,
					&nd);
				if (vrc < 0) {
					fprintf(stderr, "kelp-rdma-cpu: check failed: %s\n",
						strerror(-vrc));
					return 1;
				}
			}
			slot_free[nfree++] = (long)(uintptr_t)done[k].user;
		}
		completed += n;
	}
	double wall = now_s() - t0, cpu = cpu_s() - c0;
	printf("kelp-rdma-cpu: size=%ld depth=%ld iters=%ld ns_per_request=%.0f "
	       "cpu_ns_per_request=%.0f "
	       "requests_per_s_one_core=%.0f (%s, loopback verbs)\n",
	       size, depth, iters, wall / (double)iters * 1e9, cpu / (double)iters * 1e9,
	       (double)iters / wall,
	       !one_sided ? "reader + exporter, two-sided"
	       : crc	  ? "reader only, one-sided, CRC checked"
			  : "reader only, one-sided, no CRC");
	kelp_rdma_dereg(dev, smr, "staging");
	free(stage);
	kelp_rdma_dereg(dev, amr, "arena");
	kelp_rdma_lcore_destroy(rlc);
	kelp_rdma_lcore_destroy(elc);
	kelp_rdma_dev_close(dev);
	kelp_volume_set_close(ex.set);
	free(arena);
	return 0;
}
