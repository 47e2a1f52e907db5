/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The non-local read path of kelpd: the HTTP fallback (lcore/http_fallback.h) on the control
 * thread, configured by [seaweedfs] (no masters = no fallback: non-local reads fail at once with
 * -EHOSTUNREACH, "volume not local, no fallback configured").
 *
 * The HTTP client, discovery and fallback run on an io_uring of their own (so they own every CQE
 * they dispatch and can drain it at stop); the control loop learns that it has completions through
 * a poll of that ring's fd, armed on the control ring:
 *   1. kelp_ctl_remote_read() starts a fallback read and submits the HTTP ring;
 *   2. the HTTP ring's completions make its fd readable -> the control ring's poll completes ->
 *      http_ring_ready() dispatches them (which may finish reads: kelp_ctl_remote_done), submits
 *      what they queued and re-arms the poll;
 *   3. at stop, kelp_ctl_remote_fini() cancels everything, waits on the HTTP ring itself until
 *      every read is back with its lcore (-ECANCELED), and frees it all.
 * Control thread only, all of it.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kelp_abi.h"
#include "lcore/control.h"
#include "lcore/discovery.h"
#include "lcore/engine.h"
#include "lcore/http_client.h"
#include "lcore/http_fallback.h"
#include "lcore/remote_read.h"

#define HTTP_RING_ENTRIES 512

struct http_req {
	struct kelp_http_read hr;
	struct kelp_remote_read *rr;
	struct http_path *p;
	struct http_req *next; /* free list */
};

struct http_path {
	struct kelp_control *ctl;
	struct io_uring ring;
	struct kelp_ctl_op poll_op;
	bool stopping;
	struct kelp_http_client *http;
	struct kelp_discovery *disc;
	struct kelp_http_fallback *fb;
	struct http_req *free;
	unsigned inflight;
};

static void arm_poll(struct http_path *p)
{
	struct io_uring_sqe *sqe = kelp_ctl_get_sqe(p->ctl);
	if (!sqe)
		return; /* the next remote read submits and dispatches the HTTP ring itself */
	io_uring_prep_poll_add(sqe, p->ring.ring_fd, POLLIN);
	io_uring_sqe_set_data(sqe, &p->poll_op);
}

/* Dispatch the HTTP ring's completions and push out what they queued. */
static void pump(struct http_path *p)
{
	kelp_uring_dispatch(&p->ring);
	io_uring_submit(&p->ring);
	kelp_discovery_reclaim(p->disc);
}

static void http_ring_ready(struct kelp_control *ctl, struct kelp_ctl_op *op, int res,
			    uint32_t cqe_flags)
{
	struct http_path *p = (struct http_path *)((char *)op - offsetof(struct http_path, poll_op));
	pump(p);
	if (!p->stopping && res != -ECANCELED)
		arm_poll(p);
}

static void read_done(struct kelp_http_read *hr)
{
	struct http_req *q = hr->arg;
	struct http_path *p = q->p;
	struct kelp_remote_read *rr = q->rr;

	rr->result = hr->result;
	rr->cqe_flags = hr->cqe_flags;
	rr->size = hr->size;
	rr->crc = hr->crc;
	rr->needle_flags = hr->needle_flags;
	q->next = p->free;
	p->free = q;
	p->inflight--;
	kelp_ctl_remote_done(p->ctl, rr);
}

int kelp_ctl_remote_init(struct kelp_control *ctl)
{
	const struct kelp_engine_opts *o = &kelp_ctl_engine(ctl)->opts;
	struct http_path *p;
	int rc;

	if (o->n_masters == 0)
		return 0; /* local volumes only */
	if (!(p = calloc(1, sizeof(*p))))
		return -ENOMEM;
	p->ctl = ctl;
	p->poll_op.done = http_ring_ready;
	if ((rc = io_uring_queue_init(HTTP_RING_ENTRIES, &p->ring, 0)) < 0) {
		free(p);
		return rc;
	}
	struct kelp_http_client_opts ho = {.timeout_ms = o->http_timeout_ms};
	struct kelp_discovery_opts dopts = {
		.masters = o->masters,
		.n_masters = (unsigned)o->n_masters,
		.data_center = o->data_center,
		.ttl_s = o->lookup_ttl_s,
	};
	struct kelp_http_fallback_opts fo = {.jwt_read_key = o->jwt_read_key};
	p->http = kelp_http_client_create(&p->ring, &ho);
	p->disc = p->http ? kelp_discovery_create(p->http, &dopts) : NULL;
	p->fb = p->disc ? kelp_http_fallback_create(p->http, p->disc, &fo) : NULL;
	if (!p->fb) {
		rc = errno ? -errno : -ENOMEM;
		kelp_discovery_destroy(p->disc);
		kelp_http_client_destroy(p->http);
		io_uring_queue_exit(&p->ring);
		free(p);
		return rc;
	}
	kelp_ctl_set_remote_priv(ctl, p);
	arm_poll(p);
	fprintf(stderr, "kelpd: HTTP fallback via %zu master(s), first %s%s\n", o->n_masters,
		o->masters[0], o->force_http ? "; force_http: every read goes over HTTP" : "");
	return 0;
}

int kelp_ctl_remote_read(struct kelp_control *ctl, struct kelp_remote_read *rr)
{
	struct http_path *p = kelp_ctl_remote_priv(ctl);
	struct http_req *q;
	int rc;

	if (!p)
		return -EHOSTUNREACH;
	if (p->stopping)
		return -ECANCELED;
	if ((q = p->free))
		p->free = q->next;
	else if (!(q = calloc(1, sizeof(*q))))
		return -ENOMEM;
	q->p = p;
	q->rr = rr;
	q->hr.stat = rr->opcode == KELP_OP_STAT;
	q->hr.decompressed = false; /* as stored, like the local path (KELP_CQE_F_GZIP) */
	q->hr.fid = rr->fid;
	q->hr.offset = rr->offset;
	q->hr.length = rr->length;
	q->hr.dst = rr->dst;
	q->hr.done = read_done;
	q->hr.arg = q;
	rc = kelp_http_fallback_read(p->fb, &q->hr);
	if (rc < 0) {
		q->next = p->free;
		p->free = q;
		return rc;
	}
	p->inflight++;
	io_uring_submit(&p->ring);
	return 0;
}

void kelp_ctl_remote_fini(struct kelp_control *ctl)
{
	struct http_path *p = kelp_ctl_remote_priv(ctl);

	if (!p)
		return;
	p->stopping = true;
	kelp_discovery_shutdown(p->disc);
	kelp_http_client_shutdown(p->http);
	io_uring_submit(&p->ring);
	/* every step has a linked timeout and the cancels are queued: this ends */
	while (p->inflight || kelp_http_client_busy(p->http) || kelp_discovery_busy(p->disc)) {
		int rc = io_uring_submit_and_wait(&p->ring, 1);
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
			fprintf(stderr, "kelpd: HTTP fallback stop: %s\n", strerror(-rc));
			break;
		}
		kelp_uring_dispatch(&p->ring);
	}
	kelp_http_fallback_destroy(p->fb);
	kelp_discovery_destroy(p->disc);
	kelp_http_client_destroy(p->http);
	io_uring_queue_exit(&p->ring);
	while (p->free) {
		struct http_req *q = p->free;
		p->free = q->next;
		free(q);
	}
	kelp_ctl_set_remote_priv(ctl, NULL);
	/* the control ring's poll on our (now closed) ring fd is never dispatched again: the loop
	 * has ended before fini runs */
	free(p);
}
