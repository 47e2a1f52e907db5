/* SPDX-License-Identifier: Apache-2.0 */
/*
 * --mode http: the way SeaweedFS clients read today. Every slot owns a keep-alive HTTP/1.1
 * connection (per volume server) and runs one `GET /<fid>` at a time on it; one epoll set per
 * thread waits for the answers. Requests say `Accept-Encoding: gzip` as Go's HTTP client does by
 * default, so gzip-stored needles come back as stored (the same bytes kelp's local path returns).
 * Bodies are received straight into the slot's buffer (proto/http.h's body window); with --verify
 * the loop checks them, the ETag naming the version they came from, and a HEAD after the run tells
 * whether a needle was overwritten meanwhile.
 *
 * Servers: --http-server HOST:PORT sends every fid there; --master HOST:PORT asks the master where
 * each volume is (GET /dir/lookup, first location) once at start.
 * Status -> result: 200/206 = body bytes; 404 -ENOENT; 401/403 -EACCES; 416 -ERANGE; 5xx -EIO;
 * anything else -EPROTO. A needle known (from --volume-dir) to be larger than --size is asked for
 * with `Range: bytes=0-<size-1>`, like local mode's partial reads. A keep-alive connection the
 * server closed before answering is reopened and the request sent again, once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/kelp-bench/bench.h"
#include "proto/http.h"
#include "proto/lookup.h"

#define HTTP_TIMEOUT_NS (30ull * 1000000000ull)
#define HTTP_SCRATCH	65536

static struct sockaddr_in server_addr[BENCH_MAX_SERVERS];

struct http_slot {
	int *fds;      /* one connection per server, -1 until needed */
	int active_fd; /* connection of the request in flight, -1 when idle */
	const struct bench_target *tg;
	uint64_t started_ns;
	uint64_t received; /* response bytes received for the request in flight */
	bool reused;	   /* the request went out on an already used connection */
	bool retried;
	uint8_t *buf;
	struct kelp_http_parser parser;
};

struct http_state {
	int ep;
	unsigned nslots;
	size_t nservers;
	uint8_t scratch[HTTP_SCRATCH];
	struct epoll_event events[256];
	struct http_slot slots[];
};

static int resolve(struct bench_server *s, struct sockaddr_in *out)
{
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;
	int rc = getaddrinfo(s->host, NULL, &hints, &res);
	if (rc) {
		fprintf(stderr, "kelp-bench: cannot resolve %s: %s\n", s->host, gai_strerror(rc));
		return -EHOSTUNREACH;
	}
	*out = *(struct sockaddr_in *)res->ai_addr;
	out->sin_port = htons(s->port);
	freeaddrinfo(res);
	return 0;
}

/* A connected TCP socket with TCP_NODELAY: blocking connect, then non-blocking when @nonblock. */
static int tcp_connect(const struct sockaddr_in *sa, bool nonblock)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 ||
	    (nonblock && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static int send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n, len -= (size_t)n;
	}
	return 0;
}

/* Blocking GET of @path from @sa, body into @body (NUL-terminated). Main thread, start-up only. */
/* One request on a fresh blocking connection to @sa: send @req, feed the answer to @p (set up by
 * the caller) until it is complete. Return 0 or -errno. Start-up and after-run paths only. */
static int http_exchange_blocking(const struct sockaddr_in *sa, const char *req, size_t req_len,
				  struct kelp_http_parser *p)
{
	int fd = tcp_connect(sa, false);
	if (fd < 0)
		return fd;
	struct timeval tv = {.tv_sec = 10};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	int rc = send_all(fd, req, req_len);
	while (rc == 0 && !kelp_http_parser_done(p)) {
		uint8_t tmp[4096];
		ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = -errno;
		else if (n == 0)
			rc = kelp_http_parser_finish(p) == 0 ? 0 : -ECONNRESET;
		else if (kelp_http_parser_feed(p, tmp, (size_t)n) < 0)
			rc = -EPROTO;
		if (n == 0)
			break;
	}
	close(fd);
	return rc;
}

/* Blocking GET of @path from @sa, body into @body (NUL-terminated). Main thread, start-up only. */
static int http_get_blocking(const struct sockaddr_in *sa, const char *req, size_t req_len,
			     char *body, size_t cap, int *status)
{
	struct kelp_http_parser *p = malloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	kelp_http_parser_init(p, (uint8_t *)body, cap - 1, false);
	int rc = http_exchange_blocking(sa, req, req_len, p);
	if (rc == 0) {
		*status = p->resp.status;
		body[kelp_http_parser_body_len(p)] = '\0';
	}
	free(p);
	return rc;
}

/* Ask the master where volume @vid is: *@server = index in o->servers (added when new). */
static int lookup_volume(struct bench_opts *o, const struct sockaddr_in *master, uint32_t vid,
			 uint16_t *server)
{
	char req[KELP_HTTP_REQUEST_MAX];
	static char body[65536];
	int len = kelp_lookup_write_request(o->master, vid, req, sizeof(req));
	if (len < 0)
		return len;
	int status = 0;
	int rc = http_get_blocking(master, req, (size_t)len, body, sizeof(body), &status);
	if (rc < 0) {
		fprintf(stderr, "kelp-bench: lookup of volume %u at master %s failed: %s\n", vid,
			o->master, strerror(-rc));
		return rc;
	}
	struct kelp_lookup_result *res = malloc(sizeof(*res));
	if (!res)
		return -ENOMEM;
	rc = kelp_lookup_parse(status, body, strlen(body), res);
	if (rc < 0) {
		fprintf(stderr, "kelp-bench: master %s has no location for volume %u: %s\n",
			o->master, vid, res->error[0] ? res->error : strerror(-rc));
		free(res);
		return rc;
	}
	size_t i;
	for (i = 0; i < o->nservers; i++)
		if (strcmp(o->servers[i].hostport, res->loc[0].url) == 0)
			break;
	if (i == o->nservers) {
		if (o->nservers == BENCH_MAX_SERVERS ||
		    bench_parse_hostport(res->loc[0].url, &o->servers[o->nservers]) < 0) {
			fprintf(stderr, "kelp-bench: cannot use volume server '%s'\n",
				res->loc[0].url);
			free(res);
			return -EINVAL;
		}
		o->nservers++;
	}
	*server = (uint16_t)i;
	free(res);
	return 0;
}

static int http_global_init(struct bench_opts *o, struct bench_targets *tg)
{
	if (o->master && o->nservers) {
		fprintf(stderr,
			"kelp-bench: --mode http takes --http-server or --master, not both\n");
		return -EINVAL;
	}
	if (o->nservers > 1) {
		fprintf(stderr,
			"kelp-bench: one --http-server (use --master for several servers)\n");
		return -EINVAL;
	}
	if (!o->master && !o->nservers) {
		fprintf(stderr, "kelp-bench: --mode http needs --http-server HOST:PORT or --master "
				"HOST:PORT\n");
		return -EINVAL;
	}
	if (o->master) {
		struct bench_server m;
		struct sockaddr_in msa;
		if (bench_parse_hostport(o->master, &m) < 0) {
			fprintf(stderr, "kelp-bench: --master wants HOST:PORT, got '%s'\n",
				o->master);
			return -EINVAL;
		}
		int rc = resolve(&m, &msa);
		if (rc < 0)
			return rc;
		/* Targets are grouped by volume in practice: look each volume up once. */
		uint32_t last_vid = 0;
		uint16_t last_server = 0;
		bool have_last = false;
		for (size_t i = 0; i < tg->n; i++) {
			if (!have_last || tg->v[i].fid.volume_id != last_vid) {
				size_t j;
				for (j = 0; j < i; j++)
					if (tg->v[j].fid.volume_id == tg->v[i].fid.volume_id)
						break;
				if (j < i) {
					last_server = tg->v[j].server;
				} else if ((rc = lookup_volume(o, &msa, tg->v[i].fid.volume_id,
							       &last_server)) < 0) {
					return rc;
				}
				last_vid = tg->v[i].fid.volume_id;
				have_last = true;
			}
			tg->v[i].server = last_server;
		}
	}
	for (size_t i = 0; i < o->nservers; i++) {
		int rc = resolve(&o->servers[i], &server_addr[i]);
		if (rc < 0)
			return rc;
		int fd = tcp_connect(&server_addr[i], false);
		if (fd < 0) {
			fprintf(stderr, "kelp-bench: cannot connect to volume server %s: %s\n",
				o->servers[i].hostport, strerror(-fd));
			return fd;
		}
		close(fd);
	}
	return 0;
}

static int http_thread_init(struct bench_thread *t)
{
	unsigned n = t->opts->depth;
	size_t ns = t->opts->nservers;
	struct http_state *st = calloc(1, sizeof(*st) + n * sizeof(st->slots[0]));
	if (!st)
		return -ENOMEM;
	t->mode_state = st;
	st->nservers = ns;
	st->ep = epoll_create1(EPOLL_CLOEXEC);
	if (st->ep < 0)
		return -errno;
	for (unsigned i = 0; i < n; i++) {
		struct http_slot *sl = &st->slots[i];
		sl->active_fd = -1;
		sl->fds = malloc(ns * sizeof(int));
		sl->buf = aligned_alloc(4096, ((size_t)t->buf_size + 4095) & ~(size_t)4095);
		st->nslots++;
		if (!sl->fds || !sl->buf) {
			snprintf(t->fatal_msg, sizeof(t->fatal_msg),
				 "cannot allocate %u buffers of %u bytes", n, t->buf_size);
			return -ENOMEM;
		}
		memset(sl->buf, 0, t->buf_size);
		for (size_t s = 0; s < ns; s++)
			sl->fds[s] = -1;
	}
	/* Open the connections now, outside the timed run (keep-alive: they stay open). */
	for (unsigned i = 0; i < n; i++) {
		for (size_t s = 0; s < ns; s++) {
			int fd = tcp_connect(&server_addr[s], true);
			if (fd < 0) {
				snprintf(t->fatal_msg, sizeof(t->fatal_msg), "connect to %s: %s",
					 t->opts->servers[s].hostport, strerror(-fd));
				return fd;
			}
			struct epoll_event ev = {.events = EPOLLIN,
						 .data.u64 = (uint64_t)s << 32 | i};
			if (epoll_ctl(st->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
				close(fd);
				return -errno;
			}
			st->slots[i].fds[s] = fd;
		}
	}
	return 0;
}

static void close_conn(struct http_state *st, unsigned slot, size_t server)
{
	struct http_slot *sl = &st->slots[slot];
	if (sl->fds[server] >= 0) {
		epoll_ctl(st->ep, EPOLL_CTL_DEL, sl->fds[server], NULL);
		close(sl->fds[server]);
		if (sl->active_fd == sl->fds[server])
			sl->active_fd = -1;
		sl->fds[server] = -1;
	}
}

/* Send the GET for @sl->tg on its server's connection, opening one when needed. */
static int send_request(struct bench_thread *t, unsigned slot)
{
	struct http_state *st = t->mode_state;
	struct http_slot *sl = &st->slots[slot];
	size_t server = sl->tg->server;
	char path[KELP_FID_STR_MAX + 2];
	snprintf(path, sizeof(path), "/%s", sl->tg->fid_str);
	struct kelp_http_request req = {
		.host = t->opts->servers[server].hostport,
		.path = path,
		.accept_gzip = true,
	};
	if (sl->tg->data_size > t->buf_size) { /* as local mode: only the first --size bytes */
		req.has_range = true;
		req.range_first = 0;
		req.range_last = t->buf_size - 1;
	}
	char buf[512];
	int len = kelp_http_write_request(&req, buf, sizeof(buf));
	if (len < 0)
		return len;
	sl->reused = sl->fds[server] >= 0;
	if (sl->fds[server] < 0) {
		int fd = tcp_connect(&server_addr[server], true);
		if (fd < 0)
			return fd;
		struct epoll_event ev = {.events = EPOLLIN,
					 .data.u64 = (uint64_t)server << 32 | slot};
		if (epoll_ctl(st->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			return -errno;
		}
		sl->fds[server] = fd;
	}
	kelp_http_parser_init(&sl->parser, sl->buf, t->buf_size, false);
	sl->received = 0;
	sl->active_fd = sl->fds[server];
	int rc = send_all(sl->active_fd, buf, (size_t)len);
	if (rc < 0)
		close_conn(st, slot, server);
	return rc;
}

static int http_start(struct bench_thread *t, unsigned slot, const struct bench_target *tg,
		      int64_t *result)
{
	struct http_state *st = t->mode_state;
	struct http_slot *sl = &st->slots[slot];
	sl->tg = tg;
	sl->retried = false;
	sl->started_ns = bench_now_ns();
	int rc = send_request(t, slot);
	if (rc < 0 && sl->reused) { /* the server dropped an idle keep-alive connection */
		sl->retried = true;
		rc = send_request(t, slot);
	}
	if (rc < 0) {
		*result = rc;
		return 1;
	}
	return 0;
}

static int64_t status_result(const struct kelp_http_response *r)
{
	switch (r->status) {
	case 200:
	case 206:
		return (int64_t)r->body_total;
	case 404:
		return -ENOENT;
	case 401:
	case 403:
		return -EACCES;
	case 416:
		return -ERANGE;
	default:
		return r->status >= 500 ? -EIO : -EPROTO;
	}
}

/*
 * Read what is there for @slot's request. @return 1 finished (*result set), 0 needs more bytes.
 */
static int on_readable(struct bench_thread *t, unsigned slot, size_t server, int64_t *result)
{
	struct http_state *st = t->mode_state;
	struct http_slot *sl = &st->slots[slot];
	struct kelp_http_parser *p = &sl->parser;
	int fd = sl->fds[server];
	if (fd < 0)
		return 0;
	if (fd != sl->active_fd) { /* an idle connection is readable: the server closed it */
		close_conn(st, slot, server);
		return 0;
	}
	for (;;) {
		uint8_t *win;
		size_t room = kelp_http_parser_body_window(p, &win);
		ssize_t n = room ? recv(fd, win, room, 0)
				 : recv(fd, st->scratch, sizeof(st->scratch), 0);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			*result = -errno;
			close_conn(st, slot, server);
			return 1;
		}
		if (n == 0) {
			if (sl->received == 0 && sl->reused && !sl->retried) {
				close_conn(st, slot,
					   server); /* stale keep-alive: reopen and ask again */
				sl->retried = true;
				int rc = send_request(t, slot);
				if (rc == 0)
					return 0;
				*result = rc;
				return 1;
			}
			*result = kelp_http_parser_finish(p) == 0 ? status_result(&p->resp)
								  : -ECONNRESET;
			close_conn(st, slot, server);
			return 1;
		}
		sl->received += (uint64_t)n;
		if (room) {
			kelp_http_parser_body_done(p, (size_t)n);
		} else {
			ssize_t used = kelp_http_parser_feed(p, st->scratch, (size_t)n);
			if (used < 0 ||
			    (size_t)used != (size_t)n) { /* garbage, or bytes after the response */
				*result = used < 0 ? used : -EPROTO;
				close_conn(st, slot, server);
				return 1;
			}
		}
		if (kelp_http_parser_done(p)) {
			*result = status_result(&p->resp);
			sl->active_fd = -1;
			if (p->resp.close)
				close_conn(st, slot, server);
			return 1;
		}
	}
}

static int http_reap(struct bench_thread *t, struct bench_done *done, unsigned max)
{
	struct http_state *st = t->mode_state;
	unsigned cap = max < 256 ? max : 256;
	int n = epoll_wait(st->ep, st->events, (int)cap, 100);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	int ndone = 0;
	for (int i = 0; i < n; i++) {
		unsigned slot = (unsigned)(st->events[i].data.u64 & 0xffffffffu);
		size_t server = (size_t)(st->events[i].data.u64 >> 32);
		int64_t result;
		if (on_readable(t, slot, server, &result) == 1) {
			/* the ETag names the version the bytes came from (--verify) */
			const struct kelp_http_response *resp = &st->slots[slot].parser.resp;
			struct bench_done d = {
				.slot = slot, .result = result, .size = resp->body_total};
			d.has_crc = result >= 0 && resp->status == 200 &&
				    kelp_http_etag_crc(resp->etag, &d.crc) == 0;
			done[ndone++] = d;
		}
	}
	if (n == 0) { /* nothing moved for 100 ms: fail requests that waited too long */
		uint64_t now = bench_now_ns();
		for (unsigned s = 0; s < st->nslots && (unsigned)ndone < max; s++) {
			struct http_slot *sl = &st->slots[s];
			if (sl->active_fd >= 0 && now - sl->started_ns > HTTP_TIMEOUT_NS) {
				close_conn(st, s, sl->tg->server);
				done[ndone++] =
					(struct bench_done){.slot = s, .result = -ETIMEDOUT};
			}
		}
	}
	return ndone;
}

static const uint8_t *http_slot_buf(struct bench_thread *t, unsigned slot)
{
	struct http_state *st = t->mode_state;
	return st->slots[slot].buf;
}

/*
 * --verify: HEAD /<fid> (as stored: Accept-Encoding: gzip) on a connection of its own: the stored
 * size (Content-Length) and CRC (ETag) of the needle now. Worker thread, after the run.
 */
static int http_restat(struct bench_thread *t, const struct bench_target *tg, uint64_t *size,
		       uint32_t *crc)
{
	char path[KELP_FID_STR_MAX + 2], req[512];
	snprintf(path, sizeof(path), "/%s", tg->fid_str);
	struct kelp_http_request r = {.host = t->opts->servers[tg->server].hostport,
				      .path = path,
				      .accept_gzip = true,
				      .head = true};
	int len = kelp_http_write_request(&r, req, sizeof(req));
	if (len < 0)
		return len;
	struct kelp_http_parser *p = malloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	kelp_http_parser_init(p, NULL, 0, true);
	int rc = http_exchange_blocking(&server_addr[tg->server], req, (size_t)len, p);
	if (rc == 0) {
		if (p->resp.status == 404)
			rc = -ENOENT;
		else if (p->resp.status != 200 || p->resp.content_length < 0 ||
			 kelp_http_etag_crc(p->resp.etag, crc) != 0)
			rc = -EPROTO;
		else
			*size = (uint64_t)p->resp.content_length;
	}
	free(p);
	return rc;
}

static void http_thread_fini(struct bench_thread *t)
{
	struct http_state *st = t->mode_state;
	if (!st)
		return;
	for (unsigned i = 0; i < st->nslots; i++) {
		for (size_t s = 0; st->slots[i].fds && s < st->nservers; s++)
			if (st->slots[i].fds[s] >= 0)
				close(st->slots[i].fds[s]);
		free(st->slots[i].fds);
		free(st->slots[i].buf);
	}
	if (st->ep >= 0)
		close(st->ep);
	free(st);
	t->mode_state = NULL;
}

const struct bench_mode bench_mode_http = {
	.name = "http",
	.about = "HTTP/1.1 keep-alive GETs to the volume servers",
	.global_init = http_global_init,
	.thread_init = http_thread_init,
	.start = http_start,
	.reap = http_reap,
	.slot_buf = http_slot_buf,
	.restat = http_restat,
	.thread_fini = http_thread_fini,
};
