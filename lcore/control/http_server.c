/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelpd's HTTP read endpoint (http_server.h), on the control thread's io_uring loop.
 *
 * Connections: accept (with the peer address, checked against [http] allow: 403 and close), then
 * per connection one io_uring operation at a time: receive a request head (proto/http_req.h),
 * answer it, send, and receive the next one (keep-alive; pipelined heads already received are
 * answered in order).
 *
 * Reads: a needle of a volume on this host is copied by this thread from the mapped volume
 * (serve_here): up to SMALL_MAX into the connection's own buffer, behind room for the response
 * head, so that head and body leave in one send; larger ones into an arena buffer of their size.
 * Other needles go through an internal session the endpoint creates itself (the same
 * lcore_session as a client's, handed to an lcore with KELP_MSG_SESSION_ADD; its client view is
 * mapped with kelp_session_attach): a GET queues one READ of up to READ_FIRST bytes into an arena
 * buffer of the connection; a needle larger than that is read again whole with a buffer of its
 * size, up to the session's max_io (larger needles: 413). Completions are collected without
 * blocking by a POLL_US io_uring timeout that is armed while requests are in flight.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/cidr.h"
#include "core/clock.h"
#include "core/fid.h"
#include "core/gzip.h"
#include "core/histogram.h"
#include "core/hostport.h"
#include "core/volume.h"
#include "lcore/control/control_priv.h"
#include "lcore/control/http_server.h"
#include "lcore/control/remote_read.h"
#include "lcore/engine.h"
#include "lcore/worker/lcore.h"
#include "proto/http_req.h"
#include "proto/jwt.h"
#include "session.h" /* shm/: the libkelp client side of the internal session */

#define READ_FIRST (1u << 20) /* first read's buffer: a needle up to 1 MiB takes one round trip */
#define POLL_US	   20	      /* CQ polling period while reads are in flight */
#define HDR_MAX	   512
#define MIME_MAX   100	       /* longest stored MIME type sent as Content-Type */
#define SMALL_MAX  (64u << 10) /* local needles up to this size: the connection's own buffer */

enum hconn_state {
	HC_RECV,      /* reading a request head */
	HC_READ_WAIT, /* a READ is in flight on the internal session */
	HC_BUF_WAIT,  /* waiting for arena room for its buffer */
	HC_SEND,      /* sending the answer */
};

struct hconn {
	struct kelp_ctl_op op;
	struct http_srv *srv;
	int fd;
	enum hconn_state state;
	int dead;	  /* closed; freed after the batch once no READ is in flight */
	int inflight;	  /* a READ of ours is on the internal session */
	int close_after;  /* close once the answer is sent */
	uint64_t last_ns; /* accepted, or an operation on the socket completed ([http]
			     idle_timeout_ms) */
	uint8_t in[KELP_HTTP_REQ_MAX_HEAD];
	size_t in_len;
	struct kelp_http_req req;
	struct kelp_fid fid;
	uint8_t *buf; /* arena buffer of the READ */
	uint32_t buf_len;
	uint8_t *dst;	  /* where the needle's bytes are: c->buf, or c->small + HDR_MAX */
	uint8_t *small;	  /* this connection's buffer for local needles up to SMALL_MAX: HDR_MAX of
			     room for the response head, then the needle (one send for both) */
	size_t small_cap; /* its size (grown to the largest needle served, <= HDR_MAX + SMALL_MAX)
			   */
	int has_ctype;	  /* ctype holds the needle's Content-Type (found by serve_here) */
	char ctype[MIME_MAX + 1];
	char hdr[HDR_MAX];
	const uint8_t *head; /* where the response head is sent from: hdr, or just before body */
	const uint8_t *body;
	uint8_t *body_owned; /* malloc'd body (decompressed needle, JSON, metrics) */
	size_t hdr_len, body_len, sent;
	struct iovec iov[2];
	struct msghdr msg;
	struct hconn *next;
};

struct http_srv {
	struct kelp_control *ctl;
	int listen_fd;
	struct kelp_ctl_op accept_op, tick_op, accept_retry_op, sweep_op;
	struct __kernel_timespec sweep_delay;
	struct __kernel_timespec accept_delay;
	struct sockaddr_storage peer;
	socklen_t peer_len;
	struct __kernel_timespec tick;
	int tick_armed;
	struct kelp_cidr *allow;
	size_t n_allow;
	struct lcore_session *ls;
	struct kelp_session *cs;
	unsigned inflight;
	int buf_waiting; /* some connection is in HC_BUF_WAIT */
	struct hconn *conns;
	uint64_t *last_polls;		 /* per lcore, at the previous /healthz */
	uint64_t requests, responses[6]; /* endpoint counters for /metrics: by status class */
	uint64_t idle_closed;		 /* connections closed by [http] idle_timeout_ms */
	uint64_t served_here;		 /* reads of local volumes served by this thread */
	int poll_first; /* the kernel knows IORING_RECVSEND_POLL_FIRST (5.19; our ring's setup
			   flags need 6.1) */
};

/* receive more of a request head; @after_answer: an answer was just sent, nothing waits */
static void hconn_recv(struct http_srv *h, struct hconn *c, int after_answer);
static void handle_input(struct http_srv *h, struct hconn *c);
static void read_done(struct http_srv *h, struct hconn *c, const struct kelp_cqe *cqe);
static void release_buf(struct http_srv *h, struct hconn *c);
static void mime_of(const struct kelp_needle_ref *ref, char *buf);

static void hconn_kill(struct hconn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->dead = 1;
}

static void arm_tick(struct http_srv *h)
{
	if (h->tick_armed)
		return;
	struct io_uring_sqe *sqe = kelp_ctl_get_sqe(h->ctl);
	if (!sqe)
		return;
	h->tick = (struct __kernel_timespec){.tv_nsec = POLL_US * 1000L};
	io_uring_prep_timeout(sqe, &h->tick, 0, 0);
	io_uring_sqe_set_data(sqe, &h->tick_op);
	h->tick_armed = 1;
}

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 206:
		return "Partial Content";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Payload Too Large";
	case 414:
		return "URI Too Long";
	case 416:
		return "Range Not Satisfiable";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Error";
	}
}

/*
 * A response head built in place (struct head_buf over c->hdr or a local char array): appends that
 * stop at the end and mark the overflow; the text stays NUL-terminated. One small read's head was
 * a chain of snprintf calls that cost more user-space time than parsing its request (perf,
 * BENCHMARKS.md "...per-request CPU").
 */
struct head_buf {
	char *p, *end; /* end: the last byte, kept for the NUL */
	int over;
};

static struct head_buf head_buf(char *buf, size_t size)
{
	buf[0] = '\0';
	return (struct head_buf){.p = buf, .end = buf + size - 1};
}

static void put(struct head_buf *b, const char *s, size_t n)
{
	if ((size_t)(b->end - b->p) < n) {
		b->over = 1;
		return;
	}
	memcpy(b->p, s, n);
	b->p += n;
	*b->p = '\0';
}

static void put_str(struct head_buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void put_u64(struct head_buf *b, uint64_t v)
{
	char t[20];
	size_t i = sizeof(t);
	do {
		t[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(b, t + i, sizeof(t) - i);
}

/* The ETag of a needle: its stored CRC as 8 lowercase hex digits in quotes (as a volume server) */
static void format_etag(uint32_t crc, char out[11])
{
	static const char hex[] = "0123456789abcdef";
	out[0] = '"';
	for (int i = 0; i < 8; i++)
		out[1 + i] = hex[(crc >> (28 - 4 * i)) & 15];
	out[9] = '"';
	out[10] = '\0';
}

static void send_next(struct http_srv *h, struct hconn *c)
{
	struct io_uring_sqe *sqe = kelp_ctl_get_sqe(h->ctl);
	if (!sqe) {
		hconn_kill(c);
		return;
	}
	c->state = HC_SEND;
	io_uring_sqe_set_data(sqe, &c->op);
	if (c->head != (const uint8_t *)c->hdr) { /* head and body side by side: one send */
		size_t total = c->hdr_len + c->body_len;
		io_uring_prep_send(sqe, c->fd, c->head + c->sent, total - c->sent, MSG_NOSIGNAL);
		return;
	}
	size_t off = c->sent;
	int n = 0;
	if (off < c->hdr_len) {
		c->iov[n++] = (struct iovec){.iov_base = c->hdr + off, .iov_len = c->hdr_len - off};
		off = 0;
	} else {
		off -= c->hdr_len;
	}
	if (c->body_len > off)
		c->iov[n++] = (struct iovec){.iov_base = (void *)(c->body + off),
					     .iov_len = c->body_len - off};
	c->msg = (struct msghdr){.msg_iov = c->iov, .msg_iovlen = (size_t)n};
	io_uring_prep_sendmsg(sqe, c->fd, &c->msg, MSG_NOSIGNAL);
}

/*
 * Answer @status with @extra header lines (each ending CRLF, may be "") and the body [@body,
 * @body_len) (sent unless the request is HEAD; @content_len is the Content-Length announced).
 */
static void respond(struct http_srv *h, struct hconn *c, int status, const char *extra,
		    const void *body, size_t body_len, size_t content_len)
{
	h->responses[status / 100 <= 5 ? status / 100 : 0]++;
	if (!c->req.keep_alive || status == 400 || status == 431 || status == 414 || status == 505)
		c->close_after = 1;
	struct head_buf b = head_buf(c->hdr, sizeof(c->hdr));
	put_str(&b, "HTTP/1.1 ");
	put_u64(&b, (uint64_t)status);
	put_str(&b, " ");
	put_str(&b, reason(status));
	put_str(&b, "\r\nServer: kelpd\r\nContent-Length: ");
	put_u64(&b, content_len);
	put_str(&b, "\r\n");
	put_str(&b, extra);
	if (c->close_after)
		put_str(&b, "Connection: close\r\n");
	put_str(&b, "\r\n");
	if (b.over) {
		hconn_kill(c);
		return;
	}
	c->hdr_len = (size_t)(b.p - c->hdr);
	int head = c->req.method == KELP_HTTP_HEAD;
	c->body = head ? NULL : body;
	c->body_len = head ? 0 : body_len;
	c->head = (const uint8_t *)c->hdr;
	/* a body in the connection's small buffer has HDR_MAX bytes of room in front of it: the
	 * head goes right before it and both leave in one send */
	uintptr_t room = (uintptr_t)c->small, at = (uintptr_t)c->body;
	if (c->body && c->small && at >= room + HDR_MAX && at <= room + c->small_cap) {
		memcpy((uint8_t *)c->body - c->hdr_len, c->hdr, c->hdr_len);
		c->head = c->body - c->hdr_len;
	}
	c->sent = 0;
	send_next(h, c);
}

static void respond_text(struct http_srv *h, struct hconn *c, int status, const char *extra)
{
	char *t = NULL;
	if (asprintf(&t, "%d %s\n", status, reason(status)) < 0) {
		hconn_kill(c);
		return;
	}
	c->body_owned = (uint8_t *)t;
	respond(h, c, status, extra, t, strlen(t), strlen(t));
}

static void respond_owned(struct http_srv *h, struct hconn *c, int status, const char *extra,
			  char *body)
{
	if (!body) {
		respond_text(h, c, 500, "");
		return;
	}
	c->body_owned = (uint8_t *)body;
	respond(h, c, status, extra, body, strlen(body), strlen(body));
}

/* ---- reads through the internal session -------------------------------------------------- */

/*
 * Serve @c's read right here when its volume is on this host: the control thread copies from the
 * mapped volume as an lcore would (kelp_ctl_read_local: CRC checked, SIGBUS-guarded mapping),
 * without the round trip through the internal session's rings, an lcore wake-up and the collect
 * tick (that round trip was most of an endpoint read's cost: BENCHMARKS.md, HTTP endpoint). The
 * needle is looked up first for its size and MIME type: one up to SMALL_MAX goes into the
 * connection's own buffer behind room for the response head (one send, no arena allocation), a
 * larger one into an arena buffer of its size. Other volumes, force_http, and a corrupt local
 * needle that a replica may have intact, take the internal session (RDMA / TCP / HTTP) as before.
 * Return: 1 answered; 0 not served here (c->buf_len is what the session's read needs); -EAGAIN
 * no arena room yet (retried from the tick).
 */
static int serve_here(struct http_srv *h, struct hconn *c)
{
	struct kelp_engine *eng = h->ctl->eng;
	c->has_ctype = 0;
	const struct kelp_volume *v =
		eng->conf.seaweedfs.force_http
			? NULL
			: kelp_volume_set_find(eng->volumes, c->fid.volume_id);
	if (!v)
		return 0;
	struct kelp_needle_ref ref;
	uint32_t want = 0; /* not found or corrupt: kelp_ctl_read_local says which, into no room */
	if (kelp_volume_find(v, &c->fid, &ref) == 0) {
		if (ref.data_size > h->cs->max_io) { /* as a read of it would end (read_done) */
			respond_text(h, c, 413, "");
			return 1;
		}
		want = ref.data_size;
		c->has_ctype = 1;
		mime_of(&ref, c->ctype);
	}
	if (want <= SMALL_MAX && !c->buf) {
		size_t need = HDR_MAX + (size_t)want;
		if (c->small_cap < need) {
			need = (need + 4095) & ~(size_t)4095;
			uint8_t *p = realloc(c->small, need);
			if (!p)
				return 0; /* the session's arena then */
			c->small = p;
			c->small_cap = need;
		}
		c->dst = c->small + HDR_MAX;
	} else {
		if (c->buf && c->buf_len < want)
			release_buf(h, c);
		if (!c->buf && !(c->buf = kelp_buf_alloc(h->cs, want ? want : 1)))
			return -EAGAIN;
		c->buf_len = want;
		c->dst = c->buf;
	}
	struct kelp_cqe cqe;
	if (kelp_ctl_read_local(eng, &c->fid, 0, want, c->dst, &cqe) != 1)
		return 0;
	h->served_here++;
	read_done(h, c, &cqe);
	return 1;
}

static void start_read(struct http_srv *h, struct hconn *c)
{
	int rc = serve_here(h, c);
	if (rc == 1)
		return;
	if (rc == 0 && !c->buf)
		c->buf = kelp_buf_alloc(h->cs, c->buf_len);
	if (!c->buf) { /* arena full: wait for another connection's buffer (tick) */
		c->state = HC_BUF_WAIT;
		h->buf_waiting = 1;
		arm_tick(h);
		return;
	}
	c->dst = c->buf;
	rc = kelp_queue_read(h->cs, &c->fid, 0, c->buf, c->buf_len, (uintptr_t)c);
	if (rc == -EAGAIN) { /* ring full: as above */
		c->state = HC_BUF_WAIT;
		h->buf_waiting = 1;
		arm_tick(h);
		return;
	}
	if (rc != 0 || kelp_submit(h->cs) < 0) {
		respond_text(h, c, 503, "Retry-After: 1\r\n");
		return;
	}
	c->state = HC_READ_WAIT;
	c->inflight = 1;
	h->inflight++;
	arm_tick(h);
}

static void release_buf(struct http_srv *h, struct hconn *c)
{
	if (c->buf)
		kelp_buf_free(h->cs, c->buf);
	c->buf = NULL;
}

static int status_of_error(int err)
{
	switch (err) {
	case -ENOENT:
		return 404;
	case -EIO:
	case -EBADMSG:
		return 500;
	default: /* no path answered (-EHOSTUNREACH, -EAGAIN, -ECANCELED, ...) */
		return 503;
	}
}

/* The Content-Type of a needle: the MIME type SeaweedFS stored with it (the uploader's), when it
 * is a plain header value of at most MIME_MAX bytes; else application/octet-stream, as a volume
 * server answers for a needle without one. Into @buf (MIME_MAX + 1 bytes). */
static void mime_of(const struct kelp_needle_ref *ref, char *buf)
{
	static const char dflt[] = "application/octet-stream";
	if (!ref->mime || ref->mime_len > MIME_MAX) {
		memcpy(buf, dflt, sizeof(dflt));
		return;
	}
	for (unsigned i = 0; i < ref->mime_len; i++)
		if (ref->mime[i] < 0x20 || ref->mime[i] > 0x7e) { /* no CR/LF, no control bytes */
			memcpy(buf, dflt, sizeof(dflt));
			return;
		}
	memcpy(buf, ref->mime, ref->mime_len);
	buf[ref->mime_len] = '\0';
}

/* Content-Type of @fid read from the local volume (mime_of), or application/octet-stream for
 * needles this kelpd does not hold (the CQE of an RDMA or HTTP read carries no MIME). Control
 * thread (it owns the volume set: no epoch needed). */
static const char *content_type(struct http_srv *h, const struct kelp_fid *fid, char *buf)
{
	const struct kelp_volume *v = kelp_volume_set_find(h->ctl->eng->volumes, fid->volume_id);
	struct kelp_needle_ref ref;
	if (!v || kelp_volume_find(v, fid, &ref) != 0)
		return "application/octet-stream";
	mime_of(&ref, buf);
	return buf;
}

static void read_done(struct http_srv *h, struct hconn *c, const struct kelp_cqe *cqe)
{
	if (cqe->result < 0) {
		release_buf(h, c);
		int st = status_of_error(cqe->result);
		respond_text(h, c, st, st == 503 ? "Retry-After: 1\r\n" : "");
		return;
	}
	if (cqe->flags & KELP_CQE_F_TRUNCATED) {
		release_buf(h, c);
		if (cqe->size > h->cs->max_io) {
			respond_text(h, c, 413, "");
			return;
		}
		c->buf_len = (uint32_t)cqe->size; /* read it again whole */
		start_read(h, c);
		return;
	}
	const uint8_t *data = c->dst;
	size_t len = (size_t)cqe->result;
	char etag[11];
	format_etag(cqe->crc, etag);
	char extra[HDR_MAX / 2];
	struct head_buf x = head_buf(extra, sizeof(extra));
	int gz = (cqe->flags & KELP_CQE_F_GZIP) != 0;
	if (gz && !c->req.accept_gzip) {
		uint32_t hint = kelp_gunzip_size(data, len);
		size_t cap = hint ? hint : len * 4 + 64, out_len = 0;
		int rc;
		for (int tries = 0; tries < 4; tries++, cap *= 4) {
			free(c->body_owned);
			c->body_owned = malloc(cap ? cap : 1);
			if (!c->body_owned) {
				rc = -ENOMEM;
				break;
			}
			rc = kelp_gunzip(data, len, c->body_owned, cap, &out_len);
			if (rc != -ENOSPC)
				break;
		}
		release_buf(h, c);
		if (rc != 0) {
			free(c->body_owned);
			c->body_owned = NULL;
			respond_text(h, c, 500, "");
			return;
		}
		data = c->body_owned;
		len = out_len;
		gz = 0;
	}
	put_str(&x, "ETag: ");
	put_str(&x, etag);
	put_str(&x, "\r\n");
	if (c->req.has_if_none_match && strcmp(c->req.if_none_match, etag) == 0) {
		respond(h, c, 304, extra, NULL, 0, 0);
		return;
	}
	char mime_buf[MIME_MAX + 1];
	const char *ctype = c->has_ctype ? c->ctype : content_type(h, &c->fid, mime_buf);
	uint64_t first = 0, last = 0;
	int rc = c->req.has_range ? kelp_http_range_parse(c->req.range, len, &first, &last)
				  : -EINVAL;
	if (rc == -ERANGE || rc == -ENOTSUP) {
		put_str(&x, "Content-Range: bytes */");
		put_u64(&x, len);
		put_str(&x, "\r\n");
		release_buf(h, c);
		respond_text(h, c, 416, extra);
		return;
	}
	put_str(&x, "Accept-Ranges: bytes\r\n");
	if (gz)
		put_str(&x, "Content-Encoding: gzip\r\n");
	if (rc == 0) {
		put_str(&x, "Content-Range: bytes ");
		put_u64(&x, first);
		put_str(&x, "-");
		put_u64(&x, last);
		put_str(&x, "/");
		put_u64(&x, len);
		put_str(&x, "\r\n");
	}
	put_str(&x, "Content-Type: ");
	put_str(&x, ctype);
	put_str(&x, "\r\n");
	if (x.over) { /* cannot happen: MIME_MAX and sizes below 2^32 keep it under 240 bytes */
		release_buf(h, c);
		respond_text(h, c, 500, "");
		return;
	}
	if (rc == 0) {
		size_t n = (size_t)(last - first + 1);
		respond(h, c, 206, extra, data + first, n, n);
		return;
	}
	respond(h, c, 200, extra, data, len, len);
}

/* Collect completions, retry connections waiting for buffers; re-arm the tick while work remains.
 * From the tick and after every CQE batch of the loop (no syscall when nothing completed). */
static void collect(struct http_srv *h)
{
	struct kelp_control *ctl = h->ctl;
	if (ctl->stopping || (!h->inflight && !h->buf_waiting))
		return;
	struct kelp_cqe cqes[64];
	int n;
	while ((n = kelp_poll(h->cs, cqes, 64)) > 0) {
		for (int i = 0; i < n; i++) {
			struct hconn *c = (struct hconn *)(uintptr_t)cqes[i].user_data;
			c->inflight = 0;
			h->inflight--;
			if (c->dead)
				release_buf(h, c);
			else
				read_done(h, c, &cqes[i]);
		}
	}
	if (n < 0) {
		/* the internal session is over (kelpd stopping, or the lcore closed it): nothing
		 * more will complete; fail what waits, and new reads get 503 from kelp_queue_read
		 */
		for (struct hconn *c = h->conns; c; c = c->next)
			if (c->inflight || c->state == HC_BUF_WAIT) {
				c->inflight = 0;
				hconn_kill(c);
			}
		h->inflight = 0;
		h->buf_waiting = 0;
		return;
	}
	int waiting = 0;
	if (h->buf_waiting)
		for (struct hconn *c = h->conns; c; c = c->next)
			if (!c->dead && c->state == HC_BUF_WAIT) {
				start_read(h, c);
				waiting |= c->state == HC_BUF_WAIT;
			}
	h->buf_waiting = waiting;
	if (h->inflight || waiting)
		arm_tick(h);
}

static void tick_done(struct kelp_control *ctl, struct kelp_ctl_op *op, int res, uint32_t flags)
{
	struct http_srv *h = ctl->http_priv;
	h->tick_armed = 0;
	collect(h);
}

/* ---- /healthz, /status, /metrics ------------------------------------------------------------- */

/* Every lcore polled since the previous call (or is parked, idle by design). */
static int lcores_healthy(struct http_srv *h)
{
	struct kelp_engine *eng = h->ctl->eng;
	int ok = 1;
	for (unsigned i = 0; i < eng->n_lcores; i++) {
		struct kelp_lcore *lc = &eng->lcores[i];
		uint64_t polls = KELP_STAT_READ(lc->stats.polls);
		int parked = __atomic_load_n(&lc->parked, __ATOMIC_RELAXED);
		if (polls == h->last_polls[i] && !parked)
			ok = 0;
		h->last_polls[i] = polls;
	}
	return ok;
}

/* kelp_read_latency_seconds: a Prometheus histogram per path (successful completions, from the
 * lcore taking the request to publishing its completion, over every lcore since start), its "le"
 * counts read off the engine's log-linear histograms (within 0.8 %: core/histogram.h). */
static void latency_metrics(struct http_srv *h, FILE *f, const char *const *path_names)
{
	static const uint64_t le_ns[] = {
		1000,	  2500,	     5000,	10000,	   25000,      50000,	   100000,
		250000,	  500000,    1000000,	2500000,   5000000,    10000000,   25000000,
		50000000, 100000000, 250000000, 500000000, 1000000000, 2500000000, 10000000000,
	};
	struct kelp_hist *hist = malloc(sizeof(*hist)); /* 59 KiB */
	if (!hist)
		return;
	fprintf(f, "# HELP kelp_read_latency_seconds lcore takes the request -> completion "
		   "published, by path\n# TYPE kelp_read_latency_seconds histogram\n");
	for (unsigned p = 0; p < KELP_PATHS; p++) {
		if (p == KELP_CQE_PATH_NONE)
			continue;
		kelp_ctl_latency(h->ctl, p, hist);
		for (size_t i = 0; i < sizeof(le_ns) / sizeof(le_ns[0]); i++)
			fprintf(f, "kelp_read_latency_seconds_bucket{path=\"%s\",le=\"%g\"} %llu\n",
				path_names[p], (double)le_ns[i] / 1e9,
				(unsigned long long)kelp_hist_count_le(hist, le_ns[i]));
		fprintf(f, "kelp_read_latency_seconds_bucket{path=\"%s\",le=\"+Inf\"} %llu\n",
			path_names[p], (unsigned long long)hist->count);
		fprintf(f, "kelp_read_latency_seconds_sum{path=\"%s\"} %.9f\n", path_names[p],
			(double)hist->sum / 1e9);
		fprintf(f, "kelp_read_latency_seconds_count{path=\"%s\"} %llu\n", path_names[p],
			(unsigned long long)hist->count);
	}
	free(hist);
}

/* The session socket ([engine] socket) takes a connection: a non-blocking connect succeeds when
 * the path still leads to a listening socket with backlog room (a removed or replaced socket
 * file, or a full backlog, means clients cannot get in). The connection is closed at once; the
 * accept side sees a client that left before its hello. Control thread. */
static int socket_answers(struct http_srv *h)
{
	const char *path = h->ctl->eng->conf.engine.socket;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return 0;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	int ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

static char *metrics_text(struct http_srv *h)
{
	static const char *const err_names[] = {
#define ERR_NAME_(kind, name) #name,
		KELP_LCORE_ERR_KINDS(ERR_NAME_)
#undef ERR_NAME_
	};
	static const char *const path_names[] = {
#define PATH_NAME_(path, name) #name,
		KELP_LCORE_PATHS(PATH_NAME_)
#undef PATH_NAME_
	};
	struct kelp_engine *eng = h->ctl->eng;
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (!f)
		return NULL;
#define COUNTER_(field)                                                                            \
	fprintf(f, "# TYPE kelp_lcore_" #field "_total counter\n");                                \
	for (unsigned i = 0; i < eng->n_lcores; i++)                                               \
		fprintf(f, "kelp_lcore_" #field "_total{lcore=\"%u\"} %llu\n", i,                  \
			(unsigned long long)KELP_STAT_READ(eng->lcores[i].stats.field));
	KELP_LCORE_COUNTERS(COUNTER_)
#undef COUNTER_
	fprintf(f, "# TYPE kelp_lcore_errors_total counter\n");
	for (unsigned i = 0; i < eng->n_lcores; i++)
		for (int k = 0; k < KELP_ERR_KINDS; k++)
			fprintf(f, "kelp_lcore_errors_total{lcore=\"%u\",kind=\"%s\"} %llu\n", i,
				err_names[k],
				(unsigned long long)KELP_STAT_READ(eng->lcores[i].stats.errors[k]));
	fprintf(f, "# TYPE kelp_lcore_completions_total counter\n");
	for (unsigned i = 0; i < eng->n_lcores; i++)
		for (int k = 0; k < KELP_PATHS; k++)
			fprintf(f, "kelp_lcore_completions_total{lcore=\"%u\",path=\"%s\"} %llu\n",
				i, path_names[k],
				(unsigned long long)KELP_STAT_READ(
					eng->lcores[i].stats.by_path[k]));
	latency_metrics(h, f, path_names);
	fprintf(f, "# TYPE kelp_sessions gauge\nkelp_sessions %u\n", h->ctl->n_sessions);
	fprintf(f, "# TYPE kelp_http_requests_total counter\nkelp_http_requests_total %llu\n",
		(unsigned long long)h->requests);
	fprintf(f, "# TYPE kelp_http_idle_closed_total counter\nkelp_http_idle_closed_total %llu\n",
		(unsigned long long)h->idle_closed);
	fprintf(f,
		"# TYPE kelp_http_served_local_total counter\nkelp_http_served_local_total %llu\n",
		(unsigned long long)h->served_here);
	fprintf(f, "# TYPE kelp_http_responses_total counter\n");
	for (int k = 1; k <= 5; k++)
		fprintf(f, "kelp_http_responses_total{code=\"%dxx\"} %llu\n", k,
			(unsigned long long)h->responses[k]);
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* ---- requests ----------------------------------------------------------------------------------
 */

/*
 * Does the request carry a read token that a volume server would accept for @fid? Only asked
 * when [seaweedfs] jwt_read_key is set (as volume_server_handlers.go maybeCheckJwtAuthorization):
 * an HS256 token signed with that key, not expired, whose "fid" claim names this needle (compared
 * parsed, so "_N" and extensions of the URL do not matter, as for the volume server).
 */
static int read_token_ok(const char *key, const struct kelp_http_req *r, const struct kelp_fid *fid)
{
	char claim[KELP_FID_STR_MAX + 16];
	int64_t exp;
	struct kelp_fid t;
	if (!r->jwt_len || kelp_jwt_verify_read(key, strlen(key), r->jwt, r->jwt_len, claim,
						sizeof(claim), &exp) != 0)
		return 0;
	if (exp <= (int64_t)time(NULL)) /* golang-jwt: valid while now < exp */
		return 0;
	if (kelp_fid_parse(claim, strlen(claim), &t) != 0)
		return 0;
	return t.volume_id == fid->volume_id && t.key == fid->key && t.cookie == fid->cookie;
}

static void handle_request(struct http_srv *h, struct hconn *c)
{
	struct kelp_http_req *r = &c->req;
	h->requests++;
	if (r->method == KELP_HTTP_OTHER) {
		respond_text(h, c, 405, "Allow: GET, HEAD\r\n");
		return;
	}
	if (strcmp(r->path, "/healthz") == 0) {
		int ok = lcores_healthy(h);
		ok = socket_answers(h) && ok; /* both checks run: lcores_healthy keeps its marks */
		respond_text(h, c, ok ? 200 : 503, ok ? "" : "Retry-After: 1\r\n");
		return;
	}
	if (strcmp(r->path, "/status") == 0) {
		respond_owned(h, c, 200, "Content-Type: application/json\r\n",
			      kelp_admin_reply(h->ctl, "status", 0));
		return;
	}
	if (strcmp(r->path, "/metrics") == 0) {
		respond_owned(h, c, 200, "Content-Type: text/plain; version=0.0.4\r\n",
			      metrics_text(h));
		return;
	}
	if (kelp_fid_parse(r->path, r->path_len, &c->fid) != 0) {
		respond_text(h, c, 400, "");
		return;
	}
	const char *key = h->ctl->eng->conf.seaweedfs.jwt_read_key;
	if (key && key[0] && !read_token_ok(key, r, &c->fid)) {
		respond_text(h, c, 401, ""); /* the volume server's answer: "wrong jwt" */
		return;
	}
	c->buf_len = READ_FIRST < h->cs->max_io ? READ_FIRST : h->cs->max_io;
	start_read(h, c);
}

/* A complete head in c->in? Answer it; otherwise receive more. */
static void handle_input(struct http_srv *h, struct hconn *c)
{
	ssize_t n = kelp_http_req_parse(c->in, c->in_len, &c->req);
	if (n == 0 && c->in_len == sizeof(c->in))
		n = -E2BIG;
	if (n == 0) {
		hconn_recv(h, c, 0);
		return;
	}
	if (n < 0) {
		c->req.keep_alive = 0;
		c->req.method = KELP_HTTP_GET;
		c->in_len = 0;
		respond_text(h, c, n == -E2BIG ? 431 : n == -ENOTSUP ? 505 : 400, "");
		return;
	}
	memmove(c->in, c->in + n, c->in_len - (size_t)n);
	c->in_len -= (size_t)n;
	handle_request(h, c);
}

static void hconn_done(struct kelp_control *ctl, struct kelp_ctl_op *op, int res, uint32_t flags)
{
	struct hconn *c = (struct hconn *)op;
	struct http_srv *h = c->srv;
	if (c->dead)
		return;
	c->last_ns = kelp_now_ns();
	if (c->state == HC_RECV) {
		if (res <= 0) {
			hconn_kill(c);
			return;
		}
		c->in_len += (size_t)res;
		handle_input(h, c);
		return;
	}
	if (c->state != HC_SEND)
		return;
	if (res < 0) {
		hconn_kill(c);
		return;
	}
	c->sent += (size_t)res;
	if (c->sent < c->hdr_len + c->body_len) {
		send_next(h, c);
		return;
	}
	release_buf(h, c);
	free(c->body_owned);
	c->body_owned = NULL;
	if (c->close_after || ctl->stopping) {
		hconn_kill(c);
		return;
	}
	c->state = HC_RECV;
	if (c->in_len > 0) {
		handle_input(h, c); /* a pipelined request already here */
		return;
	}
	hconn_recv(h, c, 1);
}

static void hconn_recv(struct http_srv *h, struct hconn *c, int after_answer)
{
	struct io_uring_sqe *sqe = kelp_ctl_get_sqe(h->ctl);
	if (!sqe) {
		hconn_kill(c);
		return;
	}
	c->state = HC_RECV;
	io_uring_prep_recv(sqe, c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
	io_uring_sqe_set_data(sqe, &c->op);
	/* Right after an answer the client's next request is rarely here yet (it waits for the
	 * answer): wait for the socket to be readable before trying, instead of a receive that
	 * fails with EAGAIN and then arms the wait anyway. */
	if (h->poll_first && after_answer)
		sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
}

static void arm_accept(struct http_srv *h)
{
	struct io_uring_sqe *sqe = kelp_ctl_get_sqe(h->ctl);
	if (!sqe)
		return;
	h->peer_len = sizeof(h->peer);
	io_uring_prep_accept(sqe, h->listen_fd, (struct sockaddr *)&h->peer, &h->peer_len,
			     SOCK_CLOEXEC);
	io_uring_sqe_set_data(sqe, &h->accept_op);
}

static void accept_retry_done(struct kelp_control *ctl, struct kelp_ctl_op *op, int res,
			      uint32_t flags)
{
	if (!ctl->stopping)
		arm_accept(ctl->http_priv);
}

static void accept_done(struct kelp_control *ctl, struct kelp_ctl_op *op, int res, uint32_t flags)
{
	struct http_srv *h = ctl->http_priv;
	if (ctl->stopping)
		return;
	if (res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM) {
		/* accepting again at once would fail again at once: retry in 100 ms */
		struct io_uring_sqe *sqe = kelp_ctl_get_sqe(ctl);
		if (!sqe)
			return;
		h->accept_delay = (struct __kernel_timespec){.tv_nsec = 100 * 1000 * 1000};
		io_uring_prep_timeout(sqe, &h->accept_delay, 0, 0);
		io_uring_sqe_set_data(sqe, &h->accept_retry_op);
		return;
	}
	if (res < 0) {
		arm_accept(h);
		return;
	}
	struct hconn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(res);
		arm_accept(h);
		return;
	}
	c->op.done = hconn_done;
	c->srv = h;
	c->fd = res;
	c->last_ns = kelp_now_ns();
	c->req.keep_alive = 0;
	c->next = h->conns;
	h->conns = c;
	int allowed = kelp_cidr_match(h->allow, h->n_allow, (struct sockaddr *)&h->peer);
	arm_accept(h);
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (!allowed) {
		c->req.method = KELP_HTTP_GET;
		respond_text(h, c, 403, "");
		return;
	}
	hconn_recv(h, c, 0);
}

/* ---- idle connections ----------------------------------------------------------------------- */

static void arm_sweep(struct http_srv *h)
{
	struct io_uring_sqe *sqe = kelp_ctl_get_sqe(h->ctl);
	if (!sqe)
		return;
	/* a quarter of the timeout, at most 1 s: a connection is closed within 1.25x of it */
	uint64_t ms = h->ctl->eng->conf.http.idle_timeout_ms / 4;
	ms = ms < 1 ? 1 : ms > 1000 ? 1000 : ms;
	h->sweep_delay = (struct __kernel_timespec){.tv_sec = (long long)(ms / 1000),
						    .tv_nsec = (long long)(ms % 1000) * 1000000};
	io_uring_prep_timeout(sqe, &h->sweep_delay, 0, 0);
	io_uring_sqe_set_data(sqe, &h->sweep_op);
}

/* Close connections that waited on their client for [http] idle_timeout_ms: a request head that
 * never comes (a quiet keep-alive client, a slow one) or an answer it does not take. Their recv or
 * send is in flight, so the socket is shut down, not closed: that operation then completes (0 or
 * -EPIPE) and hconn_done closes the connection as for any client that went away. Waits on the
 * engine (READ_WAIT, BUF_WAIT) are not the client's doing and are left alone. */
static void sweep_done(struct kelp_control *ctl, struct kelp_ctl_op *op, int res, uint32_t flags)
{
	struct http_srv *h = ctl->http_priv;
	if (ctl->stopping)
		return;
	uint64_t now = kelp_now_ns(),
		 limit = (uint64_t)ctl->eng->conf.http.idle_timeout_ms * 1000000u;
	for (struct hconn *c = h->conns; c; c = c->next) {
		if (c->dead || c->fd < 0 || (c->state != HC_RECV && c->state != HC_SEND))
			continue;
		if (now - c->last_ns >= limit) {
			shutdown(c->fd, SHUT_RDWR);
			c->last_ns = now; /* once: the operation in flight ends the connection */
			h->idle_closed++;
		}
	}
	arm_sweep(h);
}

/* ---- setup and teardown ------------------------------------------------------------------------
 */

static int listen_tcp(const char *hostport)
{
	char host[KELP_HOST_MAX];
	uint16_t port;
	int rc = kelp_parse_host_port(hostport, host, sizeof(host), &port, NULL, 0);
	if (rc != 0)
		return rc;
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		sl = sizeof(*s6);
	} else if (strcmp(host, "localhost") == 0) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sl = sizeof(*s4);
	} else {
		return -EADDRNOTAVAIL; /* a numeric address: no blocking name lookup at start-up */
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 1024) != 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

/* Create the internal session on the least-loaded lcore and map its client side. */
/* [http] allow as CIDRs, in a new array (*@out, *@n). Return: 0, -ENOMEM or -EINVAL (the
 * configuration checked every item already). */
static int parse_allow(const struct kelp_str_list *list, struct kelp_cidr **out, size_t *n)
{
	struct kelp_cidr *a = calloc(list->n ? list->n : 1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	for (size_t i = 0; i < list->n; i++) {
		if (kelp_cidr_parse(list->items[i], &a[i]) != 0) {
			free(a);
			return -EINVAL;
		}
	}
	*out = a;
	*n = list->n;
	return 0;
}

void kelp_http_server_reconfigure(struct kelp_control *ctl)
{
	struct http_srv *h = ctl->http_priv;
	struct kelp_cidr *allow;
	size_t n;
	if (!h)
		return;
	int rc = parse_allow(&ctl->eng->conf.http.allow, &allow, &n);
	if (rc != 0) {
		kelp_log_error("kelpd: SIGHUP: [http] allow: %s; keeping the previous list",
			       strerror(-rc));
		return;
	}
	free(h->allow);
	h->allow = allow;
	h->n_allow = n;
}

static int internal_session(struct http_srv *h)
{
	struct kelp_control *ctl = h->ctl;
	struct kelp_engine *eng = ctl->eng;
	struct kelp_lcore *lc = NULL;
	for (unsigned i = 0; i < eng->n_lcores; i++)
		if (!lc || eng->lcores[i].ctl_sessions < lc->ctl_sessions)
			lc = &eng->lcores[i];
	if (!lc)
		return -ENODEV;
	struct lcore_session *s;
	int rc = lcore_session_create(++ctl->next_session_id, eng->conf.engine.queue_depth,
				      eng->conf.engine.arena_mb, eng->conf.engine.arena_populate_mb,
				      kelp_config_hugepages(&eng->conf), lc->numa_node, lc->id, &s);
	if (rc != 0)
		return rc;
	s->pid = getpid();
	s->uid = geteuid();
	s->gid = getegid();
	rc = kelp_session_alloc(-1, 0, &h->cs);
	if (rc == 0) {
		int memfd = dup(s->memfd), bell = dup(s->doorbell_fd);
		if (memfd < 0 || bell < 0) {
			rc = -errno;
			if (memfd >= 0)
				close(memfd);
			if (bell >= 0)
				close(bell);
		} else {
			rc = kelp_session_attach(h->cs, memfd, bell);
		}
	}
	if (rc == 0)
		rc = kelp_lcore_watch_doorbell(lc, s->doorbell_fd);
	struct kelp_msg m = {.type = KELP_MSG_SESSION_ADD, .lcore_id = lc->id, .session = s};
	if (rc == 0 && kelp_lcore_send(lc, &m) != 0) {
		kelp_lcore_unwatch_doorbell(lc, s->doorbell_fd);
		rc = -EAGAIN;
	}
	if (rc != 0) {
		kelp_close(h->cs);
		h->cs = NULL;
		lcore_session_destroy(s);
		return rc;
	}
	lc->ctl_sessions++;
	s->ctl_next = ctl->sessions; /* freed with the others at shutdown (s->conn stays NULL) */
	ctl->sessions = s;
	ctl->n_sessions++;
	h->ls = s;
	return 0;
}

int kelp_http_server_init(struct kelp_control *ctl)
{
	const struct kelp_config *conf = &ctl->eng->conf;
	if (!conf->http.listen || !conf->http.listen[0])
		return 0;
	struct http_srv *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->ctl = ctl;
	h->poll_first = (kelp_ctl_ring(ctl)->flags & IORING_SETUP_DEFER_TASKRUN) != 0;
	h->accept_op.done = accept_done;
	h->tick_op.done = tick_done;
	h->accept_retry_op.done = accept_retry_done;
	h->sweep_op.done = sweep_done;
	h->last_polls = calloc(ctl->eng->n_lcores ? ctl->eng->n_lcores : 1, sizeof(uint64_t));
	int rc = h->last_polls ? parse_allow(&conf->http.allow, &h->allow, &h->n_allow) : -ENOMEM;
	if (rc == 0) {
		h->listen_fd = listen_tcp(conf->http.listen);
		if (h->listen_fd < 0) {
			rc = h->listen_fd;
			kelp_log_error(
				"kelpd: [http] listen %s: %s (a numeric address:port that is free, "
				"or empty to turn the endpoint off)",
				conf->http.listen, strerror(-rc));
		}
	}
	if (rc == 0) {
		rc = internal_session(h);
		if (rc != 0) {
			close(h->listen_fd);
			kelp_log_error("kelpd: HTTP endpoint: cannot create its session: %s",
				       strerror(-rc));
		}
	}
	if (rc != 0) {
		free(h->allow);
		free(h->last_polls);
		free(h);
		return rc;
	}
	ctl->http_priv = h;
	arm_accept(h);
	arm_sweep(h);
	kelp_log_info("kelpd: HTTP endpoint on %s", conf->http.listen);
	return 0;
}

void kelp_http_server_after_batch(struct kelp_control *ctl)
{
	struct http_srv *h = ctl->http_priv;
	if (!h)
		return;
	collect(h);
	for (struct hconn **p = &h->conns; *p;) {
		struct hconn *c = *p;
		if (c->dead && !c->inflight) {
			*p = c->next;
			release_buf(h, c);
			free(c->body_owned);
			free(c->small);
			free(c);
		} else {
			p = &c->next;
		}
	}
}

void kelp_http_server_fini(struct kelp_control *ctl)
{
	struct http_srv *h = ctl->http_priv;
	if (!h)
		return;
	for (struct hconn *c = h->conns; c; c = c->next) {
		hconn_kill(c);
		c->inflight = 0; /* the lcores stopped: nothing will complete */
	}
	h->inflight = 0;
	h->buf_waiting = 0;
	kelp_http_server_after_batch(ctl);
	close(h->listen_fd);
	kelp_close(h->cs); /* the lcore side (h->ls) is in ctl->sessions */
	free(h->allow);
	free(h->last_polls);
	free(h);
	ctl->http_priv = NULL;
}
