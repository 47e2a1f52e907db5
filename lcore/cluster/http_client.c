/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP client on io_uring (model and ownership in http_client.h).
 *
 * A connection's life: new -> CONNECTING -> BUSY -> IDLE (kept) or closed; a kept connection goes
 * BUSY again for its next call. While BUSY, the request's send and the response's recv are in
 * flight at the same time (one SQE each, queued together, so a batch of calls costs one submit),
 * each with its own op; the call ends when both are settled:
 *   - success: the whole request was sent and the parser has the whole response;
 *   - failure: the first error is kept, the other op is cancelled, and the connection is closed
 *     once nothing of it is in flight any more (only then may its buffers go).
 * Timeouts: one sweep timer per client (IORING_OP_TIMEOUT, every SWEEP_NS at most) cancels the ops
 * of calls past their deadline, instead of a linked timeout per SQE (which would double the SQEs
 * and CQEs of every call).
 */
#include "core/clock.h"
#include "core/hostport.h"
#include "core/list.h"
#include "lcore/cluster/http_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Longest period of the timeout sweep; shorter when the timeout itself is short. */
#define SWEEP_NS (100u * 1000000u)

enum conn_state { CONN_CONNECTING, CONN_BUSY, CONN_IDLE };

struct server {
	struct server *next;
	char name[KELP_LOOKUP_URL_MAX];
	struct sockaddr_storage addr;
	unsigned alen;
	struct kelp_http_conn *conns; /* every open connection (idle or busy) */
	unsigned nconns;
	struct kelp_http_call *wait_head, *wait_tail; /* calls waiting for a connection */
};

struct kelp_http_conn {
	struct kelp_ctl_op send_op; /* connect, then send */
	struct kelp_ctl_op recv_op;
	struct kelp_http_client *c;
	struct server *srv;
	struct kelp_http_conn *next; /* in srv->conns */
	int fd;
	enum conn_state state;
	bool send_inflight, recv_inflight;
	bool failed; /* the connection failed with fail_err (0: closed by the peer) */
	int fail_err;
	uint64_t answered; /* calls answered on this connection */
	bool got_bytes;	   /* received a response byte for the head call */
	bool direct;	   /* the recv in flight targets the head call's dst */
	bool must_close; /* do not reuse: the server sent bytes past the responses, or said close */
	bool cut; /* we closed it in a body (cut_oversize): the calls behind did nothing wrong */
	bool feeding; /* recv_done is parsing scratch: no new receive into it until it is done */
	/* the calls on this connection in request order; the head's response is being received */
	struct kelp_http_call *call, *call_tail;
	unsigned ncalls;
	struct kelp_http_call *cancel; /* kelp_http_client_cancel() of a call here */
	uint64_t sent_total;	       /* request bytes sent on this connection */
	uint64_t queued_total;	       /* request bytes written into req[] */
	size_t req_len, req_sent;      /* req[req_sent, req_len) is still to send */
	char req[KELP_HTTP_REQUEST_MAX];
	uint8_t scratch[16384];
	struct kelp_http_parser parser; /* the head call's response */
};

struct kelp_http_client {
	struct io_uring *ring;
	uint64_t timeout_ns, sweep_ns;
	unsigned max_conns;
	unsigned pipeline; /* calls per connection at most (1: no pipelining) */
	unsigned busy;
	bool shutting_down;
	bool sweep_armed;
	struct kelp_ctl_op sweep_op;
	struct __kernel_timespec sweep_ts; /* read by the kernel at submit */
	struct server *servers;
	struct kelp_http_client_stats st;
};

static void sweep_done(struct kelp_control *ctl, struct kelp_ctl_op *op, int res, uint32_t flags);

int kelp_parse_hostport(const char *s, struct sockaddr_storage *sa, unsigned *salen)
{
	char host[KELP_HOST_MAX];
	uint16_t port;

	memset(sa, 0, sizeof(*sa));
	/* the one parser of host:port (core/hostport.h), as the config validated it */
	if (kelp_parse_host_port(s, host, sizeof(host), &port, NULL, 0))
		return -EINVAL;

	struct sockaddr_in *in4 = (struct sockaddr_in *)sa;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		*salen = sizeof(*in4);
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*salen = sizeof(*in6);
	} else {
		return s[0] == '[' ? -EINVAL : -EAFNOSUPPORT;
	}
	return 0;
}

int kelp_http_client_create(struct io_uring *ring, const struct kelp_http_client_opts *opts,
			    struct kelp_http_client **out)
{
	*out = NULL;
	/* the timeout is [seaweedfs] http_timeout_ms: its default lives in the config table only */
	if (!opts || !opts->timeout_ms)
		return -EINVAL;
	struct kelp_http_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->ring = ring;
	c->max_conns = opts->max_conns ? opts->max_conns : 32;
	c->pipeline = opts->pipeline ? opts->pipeline : 1;
	kelp_http_client_set_timeout(c, opts->timeout_ms);
	c->sweep_op.done = sweep_done;
	*out = c;
	return 0;
}

void kelp_http_client_set_timeout(struct kelp_http_client *c, uint32_t timeout_ms)
{
	if (!timeout_ms)
		return;
	c->timeout_ns = (uint64_t)timeout_ms * 1000000u;
	c->sweep_ns = c->timeout_ns / 4 < SWEEP_NS ? c->timeout_ns / 4 : SWEEP_NS;
	if (c->sweep_ns < 1000000u)
		c->sweep_ns = 1000000u;
}

static struct server *server_get(struct kelp_http_client *c, const char *name, int *err)
{
	struct server *s;

	for (s = c->servers; s; s = s->next)
		if (strcmp(s->name, name) == 0)
			return s;
	s = calloc(1, sizeof(*s));
	if (!s) {
		*err = -ENOMEM;
		return NULL;
	}
	if ((*err = kelp_parse_hostport(name, &s->addr, &s->alen))) {
		free(s);
		return NULL;
	}
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->next = c->servers;
	c->servers = s;
	return s;
}

/* ---- completion of calls ------------------------------------------------------------------- */

static void server_pump(struct kelp_http_client *c, struct server *srv);
static void arm_sweep(struct kelp_http_client *c);

static void finish_call(struct kelp_http_client *c, struct kelp_http_call *call, int err)
{
	c->busy--;
	if (err) {
		c->st.errors++;
		if (err == -ETIMEDOUT)
			c->st.timeouts++;
	}
	call->done(call, err);
}

/* Close @conn; nothing of it may be in flight and no call may be on it. */
static void conn_close(struct kelp_http_conn *conn)
{
	struct server *srv = conn->srv;
	struct kelp_http_conn **pp;

	for (pp = &srv->conns; *pp; pp = &(*pp)->next)
		if (*pp == conn) {
			*pp = conn->next;
			break;
		}
	srv->nconns--;
	close(conn->fd);
	free(conn);
}

/* ---- SQEs ---------------------------------------------------------------------------------- */

static int queue_send(struct kelp_http_conn *conn)
{
	struct io_uring_sqe *sqe = kelp_uring_sqe(conn->c->ring);

	if (!sqe)
		return -EBUSY;
	if (conn->state == CONN_CONNECTING)
		io_uring_prep_connect(sqe, conn->fd, (struct sockaddr *)&conn->srv->addr,
				      conn->srv->alen);
	else
		io_uring_prep_send(sqe, conn->fd, conn->req + conn->req_sent,
				   conn->req_len - conn->req_sent, MSG_NOSIGNAL);
	io_uring_sqe_set_data(sqe, &conn->send_op);
	conn->send_inflight = true;
	return 0;
}

/* @first: no byte of the head call's response is here yet (it may be queued with its request:
 * then no answer can be there yet). */
static int queue_recv(struct kelp_http_conn *conn, bool first)
{
	struct io_uring_sqe *sqe = kelp_uring_sqe(conn->c->ring);
	uint8_t *win;
	size_t n;

	if (!sqe)
		return -EBUSY;
	n = kelp_http_parser_body_window(&conn->parser, &win);
	conn->direct = n > 0; /* Content-Length body: straight into the caller's buffer */
	if (!conn->direct) {
		win = conn->scratch;
		n = sizeof(conn->scratch);
	}
	/* A body window is exactly what is still to come: MSG_WAITALL makes io_uring retry partial
	 * receives itself, so a 1 MiB body completes once instead of once per TCP burst (each a
	 * control-thread wake-up and a new SQE). A peer that closes early still ends it with the
	 * bytes got so far, and the next receive sees the EOF. It never takes bytes of the next
	 * response (pipelining): the window ends where this body ends. */
	io_uring_prep_recv(sqe, conn->fd, win, n, conn->direct ? MSG_WAITALL : 0);
	/* The first receive goes out beside its request: trying it at once (io_uring's default)
	 * always finds an empty socket, a wasted pass through the TCP receive path per call. Wait
	 * for readiness first instead. */
	if (first)
		sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
	io_uring_sqe_set_data(sqe, &conn->recv_op);
	conn->recv_inflight = true;
	return 0;
}

static void cancel_op(struct kelp_http_conn *conn, struct kelp_ctl_op *op)
{
	struct io_uring_sqe *sqe = kelp_uring_sqe(conn->c->ring);

	if (sqe) {
		io_uring_prep_cancel(sqe, op, 0);
		io_uring_sqe_set_data(sqe, NULL);
	} else {
		shutdown(conn->fd, SHUT_RDWR); /* the ring is full: make the op end by itself */
	}
}

/* @conn fails with @err (the first error wins); stop what is in flight. Its calls end (or are
 * retried) in conn_fail once nothing of it is in flight. */
static void conn_error(struct kelp_http_conn *conn, int err)
{
	if (conn->failed)
		return;
	conn->failed = true;
	conn->fail_err = err;
	if (conn->send_inflight)
		cancel_op(conn, &conn->send_op);
	if (conn->recv_inflight)
		cancel_op(conn, &conn->recv_op);
}

/* Queue what @conn needs in flight: the connect, or the send of requests not sent yet, and the
 * receive of the head call's response. On error the connection fails (conn_error).
 * @return 0 or -errno. */
static int conn_kick(struct kelp_http_conn *conn)
{
	int rc = 0;

	if (conn->failed)
		return 0;
	if (!conn->send_inflight &&
	    (conn->state == CONN_CONNECTING || conn->req_sent < conn->req_len))
		rc = queue_send(conn);
	if (!rc && conn->state == CONN_BUSY && conn->call && !conn->recv_inflight && !conn->feeding)
		rc = queue_recv(conn, !conn->got_bytes);
	if (rc)
		conn_error(conn, rc);
	return rc;
}

/* The request of @call; the Host header is the server's name. */
static struct kelp_http_request call_request(const struct kelp_http_call *call)
{
	return (struct kelp_http_request){
		.host = call->server,
		.path = call->long_path ? call->long_path : call->path,
		.has_range = call->has_range,
		.range_first = call->range_first,
		.range_last = call->range_last,
		.accept_gzip = call->accept_gzip,
		.accept_json = call->accept_json,
		.bearer = call->bearer,
		.head = call->head,
	};
}

/* The head call changed: its response comes next. */
static void conn_new_head(struct kelp_http_conn *conn)
{
	struct kelp_http_call *call = conn->call;

	conn->got_bytes = false;
	if (call)
		kelp_http_parser_init(&conn->parser, call->dst, call->dst_cap, call->head);
}

/* Write @call's request behind the ones of @conn and put it last on @conn (nothing queued yet).
 * @return 0, or -errno (-ENOSPC: no room left in req[]) with @conn unchanged. */
static int conn_append(struct kelp_http_conn *conn, struct kelp_http_call *call)
{
	struct kelp_http_request req = call_request(call);
	int n;

	if (conn->req_sent == conn->req_len && !conn->send_inflight)
		conn->req_sent = conn->req_len = 0; /* all sent: start over */
	n = kelp_http_write_request(&req, conn->req + conn->req_len,
				    sizeof(conn->req) - conn->req_len);
	if (n < 0)
		return n;
	conn->req_len += (size_t)n;
	conn->queued_total += (uint64_t)n;
	call->req_end = conn->queued_total;
	KELP_FIFO_PUSH(conn->call, conn->call_tail, call);
	if (conn->ncalls++ == 0)
		conn_new_head(conn);
	return 0;
}

/* Start @call on @conn, new (CONNECTING) or idle. @return 0, or -errno with nothing in flight
 * and @call not taken (the caller closes @conn). */
static int conn_begin(struct kelp_http_conn *conn, struct kelp_http_call *call)
{
	int rc = conn_append(conn, call);

	if (rc)
		return rc;
	conn->failed = false;
	conn->fail_err = 0;
	conn->cancel = NULL;
	if (conn->state == CONN_IDLE)
		conn->state = CONN_BUSY;
	arm_sweep(conn->c);
	if ((rc = conn_kick(conn)) && !conn->send_inflight && !conn->recv_inflight) {
		conn->call = conn->call_tail = NULL;
		conn->ncalls = 0;
		return rc;
	}
	return 0;
}

static void send_done(struct kelp_control *ctl, struct kelp_ctl_op *op, int res, uint32_t flags);
static void recv_done(struct kelp_control *ctl, struct kelp_ctl_op *op, int res, uint32_t flags);

/* A new connection to @srv for @call. @return 0 or -errno (nothing left open on error). */
static int conn_open(struct kelp_http_client *c, struct server *srv, struct kelp_http_call *call)
{
	struct kelp_http_conn *conn = calloc(1, sizeof(*conn));
	int one = 1, rc;

	if (!conn)
		return -ENOMEM;
	/* a blocking socket: io_uring waits for readiness itself, no EAGAIN reaches us */
	conn->fd = socket(srv->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (conn->fd < 0) {
		rc = -errno;
		free(conn);
		return rc;
	}
	setsockopt(conn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	conn->send_op.done = send_done;
	conn->recv_op.done = recv_done;
	conn->c = c;
	conn->srv = srv;
	conn->state = CONN_CONNECTING;
	conn->next = srv->conns;
	srv->conns = conn;
	srv->nconns++;
	c->st.conns_opened++;
	if ((rc = conn_begin(conn, call)))
		conn_close(conn);
	return rc;
}

/* The connection @call may go behind others on (pipelining): the one with the fewest calls that
 * is healthy and not full; NULL: none. */
static struct kelp_http_conn *pipeline_pick(struct kelp_http_client *c, struct server *srv)
{
	struct kelp_http_conn *best = NULL;

	for (struct kelp_http_conn *conn = srv->conns; conn; conn = conn->next)
		if (conn->state != CONN_IDLE && !conn->failed && !conn->must_close &&
		    conn->ncalls && conn->ncalls < c->pipeline &&
		    (!best || conn->ncalls < best->ncalls))
			best = conn;
	return best;
}

/* Give @call a connection of @srv now: an idle one, a new one (up to max_conns), or (pipelining)
 * a place behind the calls of a busy one. @return 0 taken, 1 no room now, -errno (not taken). */
static int server_take(struct kelp_http_client *c, struct server *srv, struct kelp_http_call *call)
{
	for (struct kelp_http_conn *conn = srv->conns; conn; conn = conn->next) {
		if (conn->state != CONN_IDLE)
			continue;
		c->st.conns_reused++;
		int rc = conn_begin(conn, call);
		if (rc) /* nothing in flight: the call was not taken */
			conn_close(conn);
		return rc;
	}
	if (srv->nconns < c->max_conns)
		return conn_open(c, srv, call);
	struct kelp_http_conn *conn = c->pipeline > 1 ? pipeline_pick(c, srv) : NULL;
	if (!conn || conn_append(conn, call))
		return 1; /* no room in its request buffer: wait for a connection */
	c->st.pipelined++;
	conn_kick(conn); /* an error fails the connection: its calls end in conn_fail */
	return 0;
}

/* Give @call a connection of @srv now, or queue it. @return 0 or -errno (call not taken). */
static int server_assign(struct kelp_http_client *c, struct server *srv,
			 struct kelp_http_call *call)
{
	int rc = server_take(c, srv, call);

	if (rc == 1) {
		KELP_FIFO_PUSH(srv->wait_head, srv->wait_tail, call);
		rc = 0;
	}
	return rc;
}

/* Start waiting calls of @srv while connections have room. */
static void server_pump(struct kelp_http_client *c, struct server *srv)
{
	while (srv->wait_head) {
		struct kelp_http_call *call = KELP_FIFO_POP(srv->wait_head, srv->wait_tail);
		int rc =
			kelp_now_ns() >= call->deadline_ns ? -ETIMEDOUT : server_take(c, srv, call);
		if (rc == 1) { /* still no room: back to the front of the queue */
			call->next = srv->wait_head;
			srv->wait_head = call;
			if (!srv->wait_tail)
				srv->wait_tail = call;
			return;
		}
		if (rc)
			finish_call(c, call, rc);
	}
}

/* @conn failed with @err (0: the peer closed); nothing of it is in flight: close it, then end its
 * calls. The head call is retried once on a fresh connection when it died before its first
 * response byte after another call was answered here (the server had closed an idle keep-alive
 * connection, or closed after the answers before it);
 * the calls behind it (pipelining) were never answered: each is retried once, on whatever
 * connection the server gives it next. A retried call that fails again ends with the error;
 * at shutdown nothing is retried. */
static void conn_fail(struct kelp_http_conn *conn, int err)
{
	struct kelp_http_client *c = conn->c;
	struct server *srv = conn->srv;
	struct kelp_http_call *call = conn->call, *cancel = conn->cancel;
	bool closed = err == -ECONNRESET || err == -EPIPE || err == 0;
	/* the head was sent after an answered call (a kept connection, or behind one here) */
	bool head_stale = conn->answered && !conn->got_bytes && closed;
	bool cut = conn->cut;
	uint64_t now = kelp_now_ns();

	if (err == 0)
		err = -ECONNRESET; /* closed before the response was complete */
	conn->call = conn->call_tail = NULL;
	conn->ncalls = 0;
	conn_close(conn);
	for (bool head = true; call; head = false) {
		struct kelp_http_call *next = call->next;
		int e = err;
		bool retry = false;

		if (call == cancel)
			e = -ECANCELED;
		else if (err == -ETIMEDOUT && now >= call->deadline_ns)
			e = -ETIMEDOUT;
		else if (!c->shutting_down && cut)
			retry = true; /* our own close: not the server's failure, not counted */
		else if (!c->shutting_down && !call->retried)
			/* another call here was cancelled: this one did nothing wrong either */
			retry = head && err != -ECANCELED ? head_stale : true;
		if (retry && !cut) {
			call->retried = true;
			c->st.stale_retries++;
		}
		if (retry) {
			/* the head on a fresh connection: the other kept ones may be stale too */
			e = head ? conn_open(c, srv, call) : server_assign(c, srv, call);
		}
		if (!retry || e)
			finish_call(c, call, e);
		call = next;
	}
	server_pump(c, srv);
}

/* After each completion: once nothing is in flight, fail the connection or end its busy spell
 * (kept idle, or closed). */
static void conn_settle(struct kelp_http_conn *conn)
{
	struct kelp_http_client *c = conn->c;
	struct server *srv = conn->srv;

	if (conn->send_inflight || conn->recv_inflight)
		return;
	if (conn->failed)
		return conn_fail(conn, conn->fail_err);
	if (conn->call)
		return conn_fail(conn, -EPROTO); /* cannot happen: calls left, nothing in flight */
	if (conn->must_close || c->shutting_down)
		conn_close(conn);
	else
		conn->state = CONN_IDLE;
	server_pump(c, srv);
}

/* The head call's response is complete: take it off @conn and end it. @extra: bytes of the
 * receive past this response are there (the next response's, or nobody's).
 * @return true when @conn is gone (closed or idle: the caller must not touch it again). */
static bool head_done(struct kelp_http_conn *conn, bool extra)
{
	struct kelp_http_client *c = conn->c;
	struct server *srv = conn->srv;
	struct kelp_http_call *call = KELP_FIFO_POP(conn->call, conn->call_tail);

	conn->ncalls--;
	conn->answered++;
	call->resp = conn->parser.resp;
	call->body_len = kelp_http_parser_body_len(&conn->parser);
	if (call->resp.close || conn->sent_total < call->req_end || (extra && !conn->call))
		/* the server closes, or answered before it had our whole request, or sent bytes
		 * nobody asked for: the calls behind are not answered here (conn_fail) */
		conn->must_close = true;
	conn_new_head(conn);
	if (!conn->call && !conn->send_inflight && !conn->recv_inflight) {
		/* its last call: the connection is free before done runs, so done may reuse it */
		conn->feeding = false;
		if (conn->must_close || c->shutting_down)
			conn_close(conn);
		else
			conn->state = CONN_IDLE;
		finish_call(c, call, 0);
		server_pump(c, srv);
		return true;
	}
	finish_call(c, call, 0);
	if (conn->must_close && conn->call)
		conn_error(conn, 0);
	return false;
}

static void send_done(struct kelp_control *ctl, struct kelp_ctl_op *op, int res, uint32_t flags)
{
	struct kelp_http_conn *conn = kelp_container_of(op, struct kelp_http_conn, send_op);

	conn->send_inflight = false;
	if (conn->failed) {
		/* cancelled after the other direction failed */
	} else if (res < 0) {
		conn_error(conn, res);
	} else if (conn->state == CONN_CONNECTING) {
		conn->state = CONN_BUSY;
		conn_kick(conn);
	} else {
		conn->req_sent += (size_t)res;
		conn->sent_total += (uint64_t)res;
		conn_kick(conn); /* the rest, and requests queued meanwhile */
	}
	conn_settle(conn);
}

/* The head call asked not to drain a long body past its buffer (cut_oversize) and this one is:
 * its buffer is full and more than KELP_HTTP_CUT_BYTES remain. */
static bool head_cut(const struct kelp_http_conn *conn)
{
	const struct kelp_http_parser *p = &conn->parser;

	return conn->call->cut_oversize && p->state == KELP_HTTP_BODY_LENGTH &&
	       p->resp.body_total >= p->dst_cap && p->remaining > KELP_HTTP_CUT_BYTES;
}

/* End the head call with its buffer's bytes and close @conn: the rest of the body is never read.
 * @return as head_done. */
static bool cut_head(struct kelp_http_conn *conn)
{
	conn->parser.resp.truncated = true;
	conn->must_close = true;
	conn->cut = true;
	conn->c->st.cut_bodies++;
	return head_done(conn, false);
}

/* Feed @len received bytes of the scratch buffer to the responses of @conn's calls in order.
 * @return true when @conn is gone. */
static bool feed_scratch(struct kelp_http_conn *conn, size_t len)
{
	struct kelp_http_client *c = conn->c;
	size_t off = 0;

	while (conn->call && !conn->failed) {
		uint64_t before = conn->parser.resp.body_total;
		ssize_t n = kelp_http_parser_feed(&conn->parser, conn->scratch + off, len - off);
		if (n < 0) {
			conn_error(conn, (int)n);
			break;
		}
		c->st.body_bytes_copied += conn->parser.resp.body_total - before;
		off += (size_t)n;
		if (!kelp_http_parser_done(&conn->parser)) {
			if (head_cut(conn))
				return cut_head(conn); /* the rest of the bytes are its body's */
			break; /* all taken: more of this response is to come */
		}
		if (head_done(conn, off < len))
			return true;
		if (off < len && conn->call)
			conn->got_bytes = true; /* the next response has begun */
	}
	return false;
}

static void recv_done(struct kelp_control *ctl, struct kelp_ctl_op *op, int res, uint32_t flags)
{
	struct kelp_http_conn *conn = kelp_container_of(op, struct kelp_http_conn, recv_op);
	struct kelp_http_client *c = conn->c;

	conn->recv_inflight = false;
	if (conn->failed)
		return conn_settle(conn);
	if (res < 0) {
		conn_error(conn, res);
	} else if (res == 0) { /* peer closed */
		if (kelp_http_parser_finish(&conn->parser) == 0) {
			conn->must_close = true;
			if (head_done(conn, false))
				return;
		}
		conn_error(conn, 0); /* cut short or unanswered: -ECONNRESET, or a retry */
	} else {
		conn->got_bytes = true;
		/* done() of a call may start another (maybe behind this one): its receive waits
		 * until the bytes here are parsed */
		conn->feeding = true;
		if (conn->direct) {
			kelp_http_parser_body_done(&conn->parser, (size_t)res);
			c->st.body_bytes_direct += (uint64_t)res;
			if (kelp_http_parser_done(&conn->parser) ? head_done(conn, false)
								 : head_cut(conn) && cut_head(conn))
				return;
		} else if (feed_scratch(conn, (size_t)res)) {
			return;
		}
		conn->feeding = false;
		conn_kick(conn); /* the next bytes of the head call's response */
	}
	conn_settle(conn);
}

/* ---- timeouts ------------------------------------------------------------------------------ */

/* Arm the sweep timer when calls are running and it is not armed yet. */
static void arm_sweep(struct kelp_http_client *c)
{
	struct io_uring_sqe *sqe;

	if (c->sweep_armed || c->shutting_down || !(sqe = kelp_uring_sqe(c->ring)))
		return;
	c->sweep_ts.tv_sec = (long long)(c->sweep_ns / 1000000000u);
	c->sweep_ts.tv_nsec = (long long)(c->sweep_ns % 1000000000u);
	io_uring_prep_timeout(sqe, &c->sweep_ts, 0, 0);
	io_uring_sqe_set_data(sqe, &c->sweep_op);
	c->sweep_armed = true;
}

/* Cancel the calls past their deadline; re-arm while calls are running. */
static void sweep_done(struct kelp_control *ctl, struct kelp_ctl_op *op, int res, uint32_t flags)
{
	struct kelp_http_client *c = kelp_container_of(op, struct kelp_http_client, sweep_op);
	uint64_t now = kelp_now_ns();

	c->sweep_armed = false;
	if (c->shutting_down)
		return;
	for (struct server *s = c->servers; s; s = s->next) {
		/* a connection with a call past its deadline fails: that call ends -ETIMEDOUT, the
		 * others on it are retried (conn_fail) */
		for (struct kelp_http_conn *conn = s->conns; conn; conn = conn->next)
			for (struct kelp_http_call *call = conn->call; call && !conn->failed;
			     call = call->next)
				if (now >= call->deadline_ns)
					conn_error(conn, -ETIMEDOUT);
		/* calls waiting for a connection time out too */
		for (struct kelp_http_call **pp = &s->wait_head; *pp;) {
			struct kelp_http_call *call = *pp;
			if (now < call->deadline_ns) {
				pp = &call->next;
				continue;
			}
			*pp = call->next;
			if (s->wait_tail == call) {
				s->wait_tail = NULL;
				for (struct kelp_http_call *t = s->wait_head; t; t = t->next)
					s->wait_tail = t;
			}
			finish_call(c, call, -ETIMEDOUT);
		}
	}
	if (c->busy)
		arm_sweep(c);
}

/* ---- public calls -------------------------------------------------------------------------- */

int kelp_http_client_start(struct kelp_http_client *c, struct kelp_http_call *call)
{
	struct kelp_http_request req = call_request(call);
	int rc;

	if (c->shutting_down)
		return -ECANCELED;
	/* a bad request fails now, not inside a completion (it only fits or not later: -ENOSPC) */
	if ((rc = kelp_http_request_check(&req)) < 0)
		return rc;
	struct server *srv = server_get(c, call->server, &rc);
	if (!srv)
		return rc;
	call->deadline_ns = kelp_now_ns() + c->timeout_ns;
	call->retried = false;
	call->body_len = 0;
	memset(&call->resp, 0, sizeof(call->resp));
	c->busy++;
	c->st.calls++;
	if ((rc = server_assign(c, srv, call)))
		c->busy--;
	return rc;
}

void kelp_http_client_cancel(struct kelp_http_client *c, struct kelp_http_call *call)
{
	for (struct server *s = c->servers; s; s = s->next) {
		for (struct kelp_http_conn *conn = s->conns; conn; conn = conn->next)
			for (struct kelp_http_call *t = conn->call; t; t = t->next) {
				if (t != call)
					continue;
				/* ends when its ops are back; the others on the connection are
				 * retried (conn_fail) */
				if (!conn->failed)
					conn->cancel = call;
				conn_error(conn, -ECANCELED);
				return;
			}
		for (struct kelp_http_call **pp = &s->wait_head; *pp; pp = &(*pp)->next) {
			if (*pp != call)
				continue;
			*pp = call->next;
			if (s->wait_tail == call) {
				s->wait_tail = NULL;
				for (struct kelp_http_call *t = s->wait_head; t; t = t->next)
					s->wait_tail = t;
			}
			finish_call(c, call, -ECANCELED);
			return;
		}
	}
}

void kelp_http_client_shutdown(struct kelp_http_client *c)
{
	c->shutting_down = true;
	for (struct server *s = c->servers; s; s = s->next) {
		while (s->wait_head) {
			struct kelp_http_call *call = s->wait_head;
			s->wait_head = call->next;
			finish_call(c, call, -ECANCELED);
		}
		s->wait_tail = NULL;
		for (struct kelp_http_conn *conn = s->conns; conn; conn = conn->next)
			if (conn->state != CONN_IDLE)
				conn_error(conn, -ECANCELED);
	}
	if (c->sweep_armed) {
		struct io_uring_sqe *sqe = kelp_uring_sqe(c->ring);
		if (sqe) {
			io_uring_prep_timeout_remove(sqe, (uint64_t)(uintptr_t)&c->sweep_op, 0);
			io_uring_sqe_set_data(sqe, NULL);
		}
	}
}

bool kelp_http_client_owns_op(const struct kelp_ctl_op *op)
{
	return op->done == send_done || op->done == recv_done || op->done == sweep_done;
}

struct io_uring *kelp_http_client_ring(const struct kelp_http_client *c)
{
	return c->ring;
}

unsigned kelp_http_client_busy(const struct kelp_http_client *c)
{
	return c->busy + c->sweep_armed;
}

void kelp_http_client_get_stats(const struct kelp_http_client *c, struct kelp_http_client_stats *s)
{
	*s = c->st;
}

void kelp_http_client_pool(const struct kelp_http_client *c, unsigned *open, unsigned *idle)
{
	*open = *idle = 0;
	for (const struct server *s = c->servers; s; s = s->next)
		for (const struct kelp_http_conn *conn = s->conns; conn; conn = conn->next) {
			++*open;
			*idle += conn->state == CONN_IDLE;
		}
}

int kelp_http_client_destroy(struct kelp_http_client *c)
{
	if (!c)
		return 0;
	if (kelp_http_client_busy(c))
		return -EBUSY;
	while (c->servers) {
		struct server *s = c->servers;
		c->servers = s->next;
		while (s->conns)
			conn_close(s->conns);
		free(s);
	}
	free(c);
	return 0;
}

int kelp_http_resolve(const char *in, char *out, size_t size)
{
	struct sockaddr_storage sa;
	unsigned salen;
	int rc = kelp_parse_hostport(in, &sa, &salen);

	if (rc == 0)
		return snprintf(out, size, "%s", in) < (int)size ? 0 : -EINVAL;
	if (rc != -EAFNOSUPPORT)
		return rc;
	/* a name: split by the one parser (core/hostport.h), then resolved */
	char host[KELP_HOST_MAX], port_s[8];
	uint16_t port;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	if (kelp_parse_host_port(in, host, sizeof(host), &port, NULL, 0))
		return -EINVAL;
	snprintf(port_s, sizeof(port_s), "%u", port);
	if (getaddrinfo(host, port_s, &hints, &res) != 0 || !res)
		return -EINVAL;
	char ip[64];
	if (res->ai_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, ip,
			  sizeof(ip));
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, ip, sizeof(ip));
	freeaddrinfo(res);
	rc = snprintf(out, size, strchr(ip, ':') ? "[%s]:%u" : "%s:%u", ip, port);
	return rc > 0 && rc < (int)size ? 0 : -EINVAL;
}
