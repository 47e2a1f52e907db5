/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libkelp sessions: connect to kelpd, the handshake of shm/ABI.md section 1, mapping and checking
 * the segment, closing.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/config.h"
#include "session.h"

void kelp_opts_init(struct kelp_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->opts_size = sizeof(*o);
	o->wait_spin_us = 50;
}

/* kelp_last_error()'s text: why this thread's last kelp_connect() failed ("" after a success). */
static __thread char last_error[640];

const char *kelp_last_error(void)
{
	return last_error;
}

static void set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void set_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
}

/* The socket path from @o: socket_path, else [engine] socket of config_path (the whole file is
 * checked like kelpd does), else the default. Return 0; -ENOENT the config file does not exist;
 * -EBADMSG it cannot be read or has errors; -ENAMETOOLONG; -ENOMEM (kelp_last_error() set). */
static int resolve_socket(const struct kelp_opts *o, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	const char *path = o->socket_path ? o->socket_path : KELP_DEFAULT_SOCKET;
	struct kelp_config c;
	int have_conf = 0, rc = 0;
	if (!o->socket_path && o->config_path) {
		char err[512];
		if (kelp_config_init(&c) != 0) {
			set_error("out of memory");
			return -ENOMEM;
		}
		have_conf = 1;
		rc = kelp_config_load(&c, o->config_path, err, sizeof(err));
		if (rc == 0 && c.engine.socket) {
			path = c.engine.socket;
		} else if (rc != 0) {
			/* err: "FILE: cannot read ...: why" or "FILE:LINE: message" lines (the
			 * first few: the rest is kelpd's to print) */
			set_error("%s", err);
			rc = rc == -ENOENT ? -ENOENT : rc == -ENOMEM ? -ENOMEM : -EBADMSG;
		}
	}
	if (rc == 0 && strlen(path) >= sizeof(sa->sun_path)) {
		set_error("socket path too long (at most %zu bytes): %s", sizeof(sa->sun_path) - 1,
			  path);
		rc = -ENAMETOOLONG;
	}
	if (rc == 0)
		strcpy(sa->sun_path, path);
	if (have_conf)
		kelp_config_free(&c);
	return rc;
}

/* Set kelp_last_error() for a failed connect(2) to @path with -errno @rc; return the code
 * kelp_connect() reports (kelp.h): nobody listening = -ECONNREFUSED. */
static int connect_failed(const char *path, int rc)
{
	switch (rc) {
	case -ENOENT:
	case -ENOTDIR:
		set_error("no kelpd at %s: the socket does not exist (is kelpd running? give the "
			  "same -c "
			  "FILE or socket path as kelpd's)",
			  path);
		return -ECONNREFUSED;
	case -ECONNREFUSED:
		set_error("no kelpd at %s: nobody listens on the socket (kelpd stopped or crashed)",
			  path);
		return -ECONNREFUSED;
	case -EACCES:
	case -EPERM:
		set_error(
			"cannot reach kelpd's socket %s: permission denied by the file system (the "
			"socket's directory must be searchable by this user)",
			path);
		return -EACCES;
	default:
		set_error("cannot connect to kelpd at %s: %s", path, strerror(-rc));
		return rc;
	}
}

/* Set kelp_last_error() for kelpd's refusal @status of the hello @h sent to @path. */
static void refused(const char *path, int status, const struct kelp_hello *h,
		    const struct kelp_welcome *w)
{
	switch (status) {
	case -EACCES:
		set_error("kelpd at %s refuses this user (uid %u, gid %u): not root, not kelpd's "
			  "user, "
			  "not in [engine] allow_uids / allow_gids",
			  path, (unsigned)geteuid(), (unsigned)getegid());
		break;
	case -EPROTONOSUPPORT:
		set_error("kelpd at %s speaks ABI version %u, this libkelp %u: use the libkelp "
			  "built with "
			  "that kelpd",
			  path, (unsigned)w->abi_version, (unsigned)KELP_ABI_VERSION);
		break;
	case -EUSERS:
		set_error("kelpd at %s has reached its session limit ([engine] max_sessions)",
			  path);
		break;
	case -EINVAL:
		set_error("kelpd at %s refused the session: queue_depth %u (must be a power of 2, "
			  "2..%u; 0 = kelpd's default)",
			  path, (unsigned)h->sq_entries, KELP_MAX_QUEUE_DEPTH);
		break;
	default:
		set_error("kelpd at %s could not open the session: %s", path, strerror(-status));
		break;
	}
}

static int current_numa_node(void)
{
	unsigned cpu, node;
	if (syscall(SYS_getcpu, &cpu, &node, NULL) != 0)
		return -1;
	return (int)node;
}

/* Receive the welcome and, with status 0, exactly two fds. */
static int recv_welcome(int sock, struct kelp_welcome *w, int fds[2])
{
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = w, .iov_len = sizeof(*w)};
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf)};
	ssize_t n;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	int got = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (got < 2)
				fds[got++] = fd;
			else
				close(fd);
		}
	}
	int rc = 0;
	if (n == 0)
		rc = -ECONNRESET;
	else if ((size_t)n != sizeof(*w) || w->magic != KELP_HELLO_MAGIC)
		rc = -EPROTO;
	else if (w->status != 0)
		rc = w->status < 0 ? w->status : -EPROTO;
	else if (got != 2)
		rc = -EPROTO;
	if (rc != 0)
		for (int i = 0; i < got; i++)
			close(fds[i]);
	return rc;
}

static int map_segment(struct kelp_session *s, int memfd)
{
	struct stat st;
	if (fstat(memfd, &st) != 0)
		return -errno;
	if ((uint64_t)st.st_size < KELP_SEG_HDR_SIZE)
		return -EPROTO;
	/* no MAP_POPULATE: in a shared mapping it would allocate every arena page kelpd left to
	 * first use ([engine] arena_populate_mb); the rings are mapped below, the buffers fault in
	 * when used (pages kelpd already allocated only get mapped) */
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (p == MAP_FAILED)
		return -errno;
	s->seg = p;
	s->seg_size = (uint64_t)st.st_size;
	s->hdr = p;
	int rc = kelp_seg_hdr_check(s->hdr, s->seg_size);
	if (rc != 0)
		return rc;
	/* the header and rings (kelpd allocated them): mapped now, no faults on the first submits;
	 * an old kernel without MADV_POPULATE_WRITE just faults them in on use */
	(void)madvise(p, s->hdr->arena_off, MADV_POPULATE_WRITE);
	kelp_ring_attach(&s->sq, (struct kelp_ring_ctl *)(s->seg + s->hdr->sq_off),
			 s->hdr->sq_entries, sizeof(struct kelp_sqe), 1);
	kelp_ring_attach(&s->cq, (struct kelp_ring_ctl *)(s->seg + s->hdr->cq_off),
			 s->hdr->cq_entries, sizeof(struct kelp_cqe), 0);
	s->arena = s->seg + s->hdr->arena_off;
	s->arena_size = s->hdr->arena_size;
	s->max_io = s->hdr->max_io;
	return 0;
}

int kelp_connect(const struct kelp_opts *opts, struct kelp_session **out)
{
	struct kelp_opts o;
	kelp_opts_init(&o);
	last_error[0] = '\0';
	if (opts) {
		if (opts->opts_size == 0 || opts->opts_size > sizeof(o)) {
			set_error("kelp_opts: opts_size %zu is not one this libkelp knows (start "
				  "from "
				  "kelp_opts_init())",
				  opts->opts_size);
			return -EINVAL;
		}
		memcpy(&o, opts, opts->opts_size);
		o.opts_size = sizeof(o);
	}
	if (o.queue_depth != 0 && (o.queue_depth & (o.queue_depth - 1)) != 0) {
		set_error("kelp_opts: queue_depth %u is not a power of 2", (unsigned)o.queue_depth);
		return -EINVAL;
	}
	struct sockaddr_un sa;
	int rc = resolve_socket(&o, &sa);
	if (rc != 0)
		return rc;

	struct kelp_session *s;
	if (kelp_session_alloc(-1, o.wait_spin_us, &s)) {
		set_error("out of memory");
		return -ENOMEM;
	}
	int fds[2] = {-1, -1};

	s->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->sock < 0) {
		rc = -errno;
		set_error("socket: %s", strerror(errno));
		goto fail;
	}
	if (connect(s->sock, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		rc = connect_failed(sa.sun_path, -errno);
		goto fail;
	}
	struct kelp_hello h = {.magic = KELP_HELLO_MAGIC,
			       .abi_version = KELP_ABI_VERSION,
			       .kind = KELP_CONN_SESSION,
			       .sq_entries = o.queue_depth,
			       .numa_node = current_numa_node()};
	if (send(s->sock, &h, sizeof(h), MSG_NOSIGNAL) != (ssize_t)sizeof(h)) {
		rc = errno ? -errno : -EPROTO;
		set_error("kelpd at %s: sending the hello: %s", sa.sun_path, strerror(-rc));
		goto fail;
	}
	struct kelp_welcome w;
	rc = recv_welcome(s->sock, &w, fds);
	if (rc != 0) {
		if (rc == -ECONNRESET)
			set_error("kelpd at %s closed the connection before answering (stopping?)",
				  sa.sun_path);
		else if (rc == -EPROTO)
			set_error("kelpd at %s: malformed welcome (not a kelpd of this ABI?)",
				  sa.sun_path);
		else
			refused(sa.sun_path, rc, &h, &w);
		goto fail;
	}
	rc = kelp_session_attach(s, fds[0], fds[1]);
	if (rc != 0) {
		set_error("kelpd at %s: cannot map the session's memory: %s", sa.sun_path,
			  kelp_strerror(rc));
		goto fail;
	}
	*out = s;
	return 0;
fail:
	kelp_close(s);
	return rc;
}

int kelp_session_attach(struct kelp_session *s, int memfd, int doorbell_fd)
{
	s->doorbell_fd = doorbell_fd;
	int rc = map_segment(s, memfd);
	close(memfd); /* the mapping keeps the memory */
	if (rc != 0)
		return rc;
	return kelp_arena_alloc_init(&s->alloc, s->arena_size);
}

int kelp_session_alloc(int sock, int32_t wait_spin_us, struct kelp_session **out)
{
	struct kelp_session *s = calloc(1, sizeof(*s));
	*out = s;
	if (!s)
		return -ENOMEM;
	s->sock = sock;
	s->doorbell_fd = -1;
	s->wait_spin_us = wait_spin_us;
	return 0;
}

void kelp_close(struct kelp_session *s)
{
	if (!s)
		return;
	kelp_path_fini(s);
	kelp_arena_alloc_fini(&s->alloc);
	if (s->seg)
		munmap(s->seg, s->seg_size);
	if (s->doorbell_fd >= 0)
		close(s->doorbell_fd);
	if (s->sock >= 0)
		close(s->sock);
	free(s);
}

int kelp_session_info(const struct kelp_session *s, struct kelp_session_info *out)
{
	memset(out, 0, sizeof(*out));
	out->session_id = s->hdr->session_id;
	out->sq_entries = s->hdr->sq_entries;
	out->cq_entries = s->hdr->cq_entries;
	out->arena_size = s->arena_size;
	out->max_io = s->max_io;
	out->lcore_id = s->hdr->lcore_id;
	out->hugepages = s->hdr->hugepages != 0;
	return 0;
}

int kelp_session_check_alive(struct kelp_session *s, int check_socket)
{
	if (s->dead)
		return s->dead;
	/* acquire pairs with kelpd's release of state: completions published before it are visible
	 */
	uint32_t state = __atomic_load_n(&s->hdr->state, __ATOMIC_ACQUIRE);
	if (state == KELP_SEG_BROKEN) {
		int32_t err = s->hdr->seg_error;
		s->dead = err < 0 ? err : -EPROTO;
		return s->dead;
	}
	if (state != KELP_SEG_LIVE) {
		s->dead = -ECONNRESET;
		return s->dead;
	}
	if (check_socket) {
		/* kelpd never writes after the welcome: readable means EOF, i.e. kelpd is gone */
		struct pollfd p = {.fd = s->sock, .events = POLLIN | POLLRDHUP};
		if (poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR))) {
			s->dead = -ECONNRESET;
			return s->dead;
		}
	}
	return 0;
}
