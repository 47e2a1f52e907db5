/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 GET/HEAD over io_uring sockets, for kelpd's control thread (volume discovery and the
 * HTTP fallback). Bytes are formatted and parsed by proto/http.h; this file moves them.
 *
 * Model: one client per io_uring; servers are "ip:port" strings (numeric IPv4 or [IPv6]: names
 * are resolved by the caller before, because resolving would block). Per server a keep-alive pool
 * of at most max_conns connections; calls beyond that wait in a FIFO for the next free one. Each
 * connection runs one call at a time: connect (new ones), then the request's send and the
 * response's recv, both in flight at once. With opts.pipeline > 1, once all max_conns connections
 * are busy, a call is sent behind the others on the least loaded one (HTTP/1.1 pipelining: the
 * server answers in request order; weed's Go server reads them together and answers one by one),
 * and the responses are parsed in order; if the connection dies (or the server says close) before
 * a call behind the head was answered, that call is retried once. A call's deadline is timeout_ms
 * after it was started; one sweep timer per client cancels what is past it (granularity: a quarter
 * of the timeout, at most 100 ms). Body bytes of Content-Length responses are received straight
 * into the call's destination buffer; the head and chunked bodies go through a 16 KiB scratch
 * buffer per connection. A call on a reused connection that dies before the first response byte
 * (the server closed an idle keep-alive connection) is retried once on a fresh connection; GETs are
 * idempotent.
 *
 * Ownership: everything here belongs to the thread that owns the ring. The call struct and its
 * dst buffer belong to the caller and must stay valid until call->done runs.
 * The ring's CQEs must be dispatched with kelp_uring_dispatch() (lcore/uring_op.h).
 */
#ifndef KELP_LCORE_HTTP_CLIENT_H
#define KELP_LCORE_HTTP_CLIENT_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

#include "lcore/uring_op.h"
#include "proto/http.h"
#include "proto/lookup.h"

struct kelp_http_client;
struct kelp_http_conn;

struct kelp_http_client_opts {
	uint32_t timeout_ms; /* per call, from start to the last body byte; > 0 ([seaweedfs]
			      * http_timeout_ms) */
	uint32_t max_conns;  /* per server; 0 -> 32 */
	uint32_t pipeline;   /* calls in flight per connection at most (HTTP/1.1 pipelining):
			      * 0 or 1 -> one; more are sent behind others only when every
			      * connection of the server (max_conns) is busy */
};

/* Overshoot past dst_cap that a cut_oversize call still drains to keep its connection. */
#define KELP_HTTP_CUT_BYTES 65536u

struct kelp_http_call {
	/* in: set by the caller */
	char server[KELP_LOOKUP_URL_MAX]; /* "127.0.0.1:8080" or "[::1]:8080" */
	char path[256];			  /* "/3,01637037d6" */
	const char *long_path; /* when not NULL, the path instead of path[] (a filer's, up to
				* KELP_HTTP_REQUEST_MAX); must live until done */
	bool accept_json;      /* Accept: application/json */
	bool head;	       /* HEAD instead of GET */
	bool has_range;
	uint64_t range_first, range_last; /* inclusive */
	bool accept_gzip;
	const char *bearer; /* JWT or NULL; must live until done */
	uint8_t *dst;	    /* body destination, may be NULL with dst_cap 0 */
	size_t dst_cap;
	/* A Content-Length body more than KELP_HTTP_CUT_BYTES longer than dst_cap is not received
	 * to its end: the call ends once dst is full (resp.truncated; resp.content_length says the
	 * whole length) and the connection is closed (calls behind it are sent again). For a GET
	 * without Range of an object that may be larger than dst. */
	bool cut_oversize;
	/*
	 * Called once, on the ring's thread, never from inside kelp_http_client_start().
	 * @err: 0 with resp/body_len valid (any HTTP status), or -errno: -ETIMEDOUT, -ECONNREFUSED,
	 * -ECONNRESET (closed mid-response), -EHOSTUNREACH/-ENETUNREACH, -EPROTO/-EMSGSIZE
	 * (malformed response), -ECANCELED (client shut down), other socket errnos.
	 */
	void (*done)(struct kelp_http_call *call, int err);
	void *arg; /* for the caller */

	/* out: valid in done() when err == 0 */
	struct kelp_http_response resp;
	size_t body_len; /* bytes stored in dst */

	/* private to http_client.c */
	struct kelp_http_call *next;
	uint64_t deadline_ns;
	uint64_t req_end; /* the connection's request bytes up to the end of this one */
	bool retried;
};

/*
 * kelp_http_client_create - a client issuing its I/O on @ring (not owned), with @opts (required).
 * Ring thread only. @return 0 and the client in *@out; -ENOMEM; -EINVAL: no @opts or timeout_ms 0
 * (*@out NULL on error).
 */
int kelp_http_client_create(struct io_uring *ring, const struct kelp_http_client_opts *opts,
			    struct kelp_http_client **out);

/*
 * kelp_http_client_start - run @call (see struct kelp_http_call). SQEs are queued, not submitted:
 * the ring's owner submits. Ring thread only.
 * @return 0 (done will be called), -EINVAL bad server/path/range (done will not be called),
 * -EAFNOSUPPORT server is not a numeric address, -ENOMEM.
 */
int kelp_http_client_start(struct kelp_http_client *c, struct kelp_http_call *call);

/*
 * kelp_http_client_cancel - end @call (started, done not called yet) early with -ECANCELED: a call
 * still waiting for a connection at once (its done runs inside this call), a running one once its
 * I/O is cancelled (done runs from a later completion; until then its dst may still be written).
 * Its connection is closed, not reused. Ring thread only.
 */
void kelp_http_client_cancel(struct kelp_http_client *c, struct kelp_http_call *call);

/*
 * kelp_http_client_shutdown - fail waiting calls with -ECANCELED and cut every connection with a
 * call in flight (their calls complete with an error as the ring reports it). Keep dispatching
 * until kelp_http_client_busy() is 0, then destroy. Ring thread only.
 */
void kelp_http_client_shutdown(struct kelp_http_client *c);

/* @return whether @op (from a CQE of the ring) belongs to this module; for draining a shared ring
 * at stop (kelp_ctl_remote_fini). Any thread. */
bool kelp_http_client_owns_op(const struct kelp_ctl_op *op);

/* @return the ring the client issues its I/O on. */
struct io_uring *kelp_http_client_ring(const struct kelp_http_client *c);

/* @return the number of calls started and not yet done. Ring thread only. */
unsigned kelp_http_client_busy(const struct kelp_http_client *c);

/* Counters for kelpctl stats. */
struct kelp_http_client_stats {
	uint64_t calls, errors, conns_opened, conns_reused, stale_retries, timeouts;
	uint64_t pipelined; /* calls sent behind another one on a busy connection */
	uint64_t body_bytes_direct, body_bytes_copied; /* received into dst vs through scratch */
	uint64_t cut_bodies; /* cut_oversize calls ended before their body's end */
};
void kelp_http_client_get_stats(const struct kelp_http_client *c, struct kelp_http_client_stats *s);

/* kelp_http_client_pool - how many connections are open, and how many of them idle in the
 * keep-alive pools (for tests: a call that ends must leave no busy connection behind). Ring thread
 * only. */
void kelp_http_client_pool(const struct kelp_http_client *c, unsigned *open, unsigned *idle);

/*
 * kelp_http_client_set_timeout - calls started from now on get @timeout_ms (> 0; 0 is ignored);
 * calls in flight keep their deadline. Ring thread only (SIGHUP: [seaweedfs] http_timeout_ms).
 */
void kelp_http_client_set_timeout(struct kelp_http_client *c, uint32_t timeout_ms);

/*
 * kelp_http_client_destroy - close idle connections and free @c. Only when busy() is 0 (else
 * -EBUSY and nothing is freed). NULL is ignored (returns 0). Ring thread only.
 */
int kelp_http_client_destroy(struct kelp_http_client *c);

/*
 * kelp_parse_hostport - numeric "ip:port" / "[ipv6]:port" into @sa; the text is parsed by
 * kelp_parse_host_port() (core/hostport.h), then the host must be a numeric address. Any thread.
 * @return 0, -EINVAL malformed, -EAFNOSUPPORT not a numeric address (a name).
 */
struct sockaddr_storage;
int kelp_parse_hostport(const char *s, struct sockaddr_storage *sa, unsigned *salen);

/*
 * kelp_http_resolve - "name:port" or numeric "ip:port" into the numeric form this client takes
 * (@out, @size bytes). Blocking (getaddrinfo): start-up only, before serving.
 * @return 0; -EINVAL malformed or the name does not resolve.
 */
int kelp_http_resolve(const char *in, char *out, size_t size);

#endif
