/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The control thread's clients (control.h): kelpd's Unix socket, the hello of shm/ABI.md 1 and its
 * policy (SO_PEERCRED, allow and admin groups), creating a session and handing it to an lcore,
 * freeing it when the client has gone and the lcore let go, and kelpctl's line protocol (the
 * answers are in admin.c). Every function runs on the control thread, from the loop in control.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/log.h"
#include "lcore/control/control_priv.h"
#include "lcore/engine.h"
#include "lcore/worker/lcore.h"
#include "nic/mr.h"

#define HELLO_TIMEOUT_S 5

/* ---- connections ------------------------------------------------------------------------- */

static void conn_recv(struct kelp_control *ctl, struct ctl_conn *c);

static void conn_kill(struct ctl_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->dead = 1;
}

/* Is the peer of @fd (credentials @cr) in one of @gids: its primary gid, or any of its
 * supplementary groups (SO_PEERGROUPS, Linux >= 4.13; the groups it had when it connected)?
 * Control thread, at the hello only: one getsockopt, and a malloc for a peer in more than 64
 * groups. An error reading the groups counts as "not a member". */
static int peer_in_groups(int fd, const struct ucred *cr, const struct kelp_id_list *gids)
{
	if (gids->n == 0)
		return 0;
	for (size_t i = 0; i < gids->n; i++)
		if (gids->ids[i] == cr->gid)
			return 1;
	gid_t local[64], *groups = local;
	socklen_t len = sizeof(local);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) != 0) {
		if (errno != ERANGE) /* ERANGE: len now says how much is needed */
			return 0;
		groups = malloc(len);
		if (!groups || getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) != 0) {
			free(groups);
			return 0;
		}
	}
	int member = 0;
	for (size_t k = 0; k < len / sizeof(gid_t) && !member; k++)
		for (size_t i = 0; i < gids->n && !member; i++)
			member = groups[k] == gids->ids[i];
	if (groups != local)
		free(groups);
	return member;
}

/* May see everything kelpd knows (kelpctl sessions: every client's pid and uid): root, kelpd's
 * own uid, a member of [engine] admin_gids. */
static int peer_is_admin(const struct kelp_engine *eng, int fd, const struct ucred *cr)
{
	return cr->uid == 0 || cr->uid == geteuid() ||
	       peer_in_groups(fd, cr, &eng->conf.engine.admin_gids);
}

/* Policy of shm/ABI.md 1: root, kelpd's own uid, [engine] allow_uids, allow_gids (any of the
 * peer's groups). */
static int peer_allowed(const struct kelp_engine *eng, int fd, const struct ucred *cr)
{
	if (cr->uid == 0 || cr->uid == geteuid())
		return 1;
	for (size_t i = 0; i < eng->conf.engine.allow_uids.n; i++)
		if (eng->conf.engine.allow_uids.ids[i] == cr->uid)
			return 1;
	return peer_in_groups(fd, cr, &eng->conf.engine.allow_gids);
}

/* The least-loaded lcore on @node; the least-loaded of all when no lcore is on @node. */
static struct kelp_lcore *pick_lcore(struct kelp_engine *eng, int node)
{
	struct kelp_lcore *best = NULL;
	for (int pass = 0; pass < 2 && !best; pass++) {
		for (unsigned i = 0; i < eng->n_lcores; i++) {
			struct kelp_lcore *lc = &eng->lcores[i];
			if (pass == 0 && (node < 0 || lc->numa_node != node))
				continue;
			if (lc->ctl_sessions >= KELP_LCORE_MAX_SESSIONS)
				continue;
			if (!best || lc->ctl_sessions < best->ctl_sessions)
				best = lc;
		}
	}
	return best;
}

/* Send the welcome; with @fds (two) for a session. Return 0 or -errno. */
static int send_welcome(int fd, const struct kelp_welcome *w, const int *fds)
{
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = (void *)w, .iov_len = sizeof(*w)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	if (fds) {
		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof(u.buf);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(2 * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, 2 * sizeof(int));
	}
	/* 64 bytes on a socket that has carried nothing yet: the buffer has room, it cannot block
	 */
	ssize_t n = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0)
		return -errno;
	return n == (ssize_t)sizeof(*w) ? 0 : -EPROTO;
}

static void refuse(struct ctl_conn *c, int status)
{
	struct kelp_welcome w = {
		.magic = KELP_HELLO_MAGIC, .abi_version = KELP_ABI_VERSION, .status = status};
	send_welcome(c->fd, &w, NULL);
	conn_kill(c);
}

static void start_session(struct kelp_control *ctl, struct ctl_conn *c, const struct kelp_hello *h)
{
	struct kelp_engine *eng = ctl->eng;
	uint32_t sq = h->sq_entries ? h->sq_entries : eng->conf.engine.queue_depth;
	if (sq < 2 || sq > KELP_MAX_QUEUE_DEPTH || (sq & (sq - 1)) != 0) {
		refuse(c, -EINVAL);
		return;
	}
	struct kelp_lcore *lc = pick_lcore(eng, h->numa_node);
	if (!lc || ctl->n_sessions >= eng->conf.engine.max_sessions) {
		refuse(c, -EUSERS);
		return;
	}
	struct lcore_session *s;
	int rc = lcore_session_create(++ctl->next_session_id, sq, eng->conf.engine.arena_mb,
				      eng->conf.engine.arena_populate_mb,
				      kelp_config_hugepages(&eng->conf), lc->numa_node, lc->id, &s);
	if (rc != 0) {
		kelp_log_error("kelpd: session for pid %d: cannot create its segment: %s",
			       (int)c->cred.pid, strerror(-rc));
		refuse(c, rc);
		return;
	}
	s->pid = c->cred.pid;
	s->uid = c->cred.uid;
	s->gid = c->cred.gid;
	s->conn = c;
	if (lc->rdma_reader) {
		/* the export kelpd RDMA-WRITEs needles into the arena (lcore/rdma/rdma_reader.h) */
		struct ibv_mr *mr = kelp_rdma_reg_arena(eng->rdma_dev, s->arena, s->arena_size);
		if (mr) {
			s->rdma_mr = mr;
			s->rdma_rkey = mr->rkey;
		} else if (!ctl->arena_reg_warned) {
			ctl->arena_reg_warned = 1;
			kelp_log_warn("kelpd: cannot register a session arena for RDMA (%s): its "
				      "non-local reads use HTTP (raise ulimit -l?)",
				      strerror(errno));
		}
	}
	rc = kelp_lcore_watch_doorbell(lc, s->doorbell_fd);
	if (rc != 0) {
		kelp_log_error("kelpd: session for pid %d: cannot watch its doorbell: %s",
			       (int)c->cred.pid, strerror(-rc));
		kelp_rdma_dereg(eng->rdma_dev, s->rdma_mr, "session arena");
		lcore_session_destroy(s);
		refuse(c, rc);
		return;
	}
	/* the session's own doorbell, never the lcore's wake_fd: a client can only ring (ABI.md 5)
	 */
	struct kelp_welcome w = {.magic = KELP_HELLO_MAGIC,
				 .abi_version = KELP_ABI_VERSION,
				 .status = 0,
				 .session_id = s->id,
				 .seg_size = s->seg_size};
	int fds[2] = {s->memfd, s->doorbell_fd};
	struct kelp_msg m = {.type = KELP_MSG_SESSION_ADD, .lcore_id = lc->id, .session = s};
	if (send_welcome(c->fd, &w, fds) != 0 || kelp_lcore_send(lc, &m) != 0) {
		kelp_lcore_unwatch_doorbell(lc, s->doorbell_fd);
		kelp_rdma_dereg(eng->rdma_dev, s->rdma_mr, "session arena");
		lcore_session_destroy(s);
		conn_kill(c);
		return;
	}
	lc->ctl_sessions++;
	s->ctl_next = ctl->sessions;
	ctl->sessions = s;
	ctl->n_sessions++;
	c->session = s;
	c->state = CONN_SESSION;
	kelp_log_debug("kelpd: session %lu opened: pid %d uid %u, lcore %u, %u ring entries",
		       (unsigned long)s->id, (int)s->pid, (unsigned)s->uid, lc->id, sq);
	conn_recv(ctl, c); /* completes when the client closes */
}

static void handle_hello(struct kelp_control *ctl, struct ctl_conn *c)
{
	struct kelp_hello h;
	memcpy(&h, c->in, sizeof(h));
	c->in_len = 0;
	if (h.magic != KELP_HELLO_MAGIC) {
		conn_kill(c);
		return;
	}
	if (h.abi_version != KELP_ABI_VERSION) {
		refuse(c, -EPROTONOSUPPORT);
		return;
	}
	/* reserved words must be zero, as in SQEs: a later version can then give them a meaning
	 * that this kelpd would otherwise silently ignore (shm/ABI.md 1) */
	for (size_t i = 0; i < sizeof(h.reserved) / sizeof(h.reserved[0]); i++) {
		if (h.reserved[i] != 0) {
			refuse(c, -EINVAL);
			return;
		}
	}
	/* an admin_gids member may use kelpctl without being allowed sessions */
	c->admin = h.kind == KELP_CONN_ADMIN && peer_is_admin(ctl->eng, c->fd, &c->cred);
	if (!c->admin && !peer_allowed(ctl->eng, c->fd, &c->cred)) {
		kelp_log_debug("kelpd: pid %d uid %u refused: not in [engine] allow_uids or "
			       "allow_gids",
			       (int)c->cred.pid, (unsigned)c->cred.uid);
		refuse(c, -EACCES);
		return;
	}
	if (h.kind == KELP_CONN_SESSION) {
		start_session(ctl, c, &h);
	} else if (h.kind == KELP_CONN_ADMIN) {
		struct kelp_welcome w = {.magic = KELP_HELLO_MAGIC,
					 .abi_version = KELP_ABI_VERSION};
		if (send_welcome(c->fd, &w, NULL) != 0) {
			conn_kill(c);
			return;
		}
		c->state = CONN_ADMIN_READ;
		conn_recv(ctl, c);
	} else {
		refuse(c, -EINVAL);
	}
}

/* The client of a session went away (or wrote to a socket that must stay silent). */
static void session_client_gone(struct kelp_control *ctl, struct ctl_conn *c)
{
	struct lcore_session *s = c->session;
	close(c->fd);
	c->fd = -1;
	c->state = CONN_SESSION_GONE;
	struct kelp_msg m = {.type = KELP_MSG_SESSION_DEL, .lcore_id = s->lcore_id, .session = s};
	if (kelp_lcore_send(&ctl->eng->lcores[s->lcore_id], &m) != 0) /* KELP_TO_LCORE_MAX_MSGS */
		kelp_msg_ring_full(s->lcore_id, "control -> lcore");
}

static void admin_send(struct kelp_control *ctl, struct ctl_conn *c)
{
	struct io_uring_sqe *sqe = kelp_ctl_get_sqe(ctl);
	if (!sqe) {
		conn_kill(c);
		return;
	}
	io_uring_prep_send(sqe, c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
	io_uring_sqe_set_data(sqe, &c->op);
	c->state = CONN_ADMIN_WRITE;
}

/* Answer the first complete line in c->in, if any. Return 1 when a reply is being sent. */
static int admin_next_line(struct kelp_control *ctl, struct ctl_conn *c)
{
	uint8_t *nl = memchr(c->in, '\n', c->in_len);
	if (!nl) {
		if (c->in_len == sizeof(c->in)) {
			static const char err[] = "{\"error\":\"command line too long\"}\n";
			c->out = strdup(err);
			c->in_len = 0;
		} else {
			return 0;
		}
	} else {
		*nl = '\0';
		if (nl > c->in && nl[-1] == '\r')
			nl[-1] = '\0';
		c->out = kelp_admin_reply(ctl, (const char *)c->in, c->admin);
		size_t used = (size_t)(nl + 1 - c->in);
		memmove(c->in, nl + 1, c->in_len - used);
		c->in_len -= used;
	}
	if (!c->out) {
		conn_kill(c);
		return 1;
	}
	c->out_len = strlen(c->out);
	c->out_off = 0;
	admin_send(ctl, c);
	return 1;
}

static void conn_done(struct kelp_control *ctl, struct kelp_ctl_op *op, int res, uint32_t flags)
{
	struct ctl_conn *c = (struct ctl_conn *)op;
	if (c->dead)
		return;
	switch (c->state) {
	case CONN_HELLO:
		if (res <= 0) {
			conn_kill(c);
			return;
		}
		c->in_len += (size_t)res;
		if (c->in_len < sizeof(struct kelp_hello))
			conn_recv(ctl, c);
		else
			handle_hello(ctl, c);
		return;
	case CONN_SESSION:
		session_client_gone(ctl, c);
		return;
	case CONN_ADMIN_READ:
		if (res <= 0) {
			conn_kill(c);
			return;
		}
		c->in_len += (size_t)res;
		if (!admin_next_line(ctl, c))
			conn_recv(ctl, c);
		return;
	case CONN_ADMIN_WRITE:
		if (res < 0) {
			conn_kill(c);
			return;
		}
		c->out_off += (size_t)res;
		if (c->out_off < c->out_len) {
			admin_send(ctl, c);
			return;
		}
		free(c->out);
		c->out = NULL;
		c->state = CONN_ADMIN_READ;
		if (!admin_next_line(ctl, c))
			conn_recv(ctl, c);
		return;
	case CONN_SESSION_GONE:
		return;
	}
}

/* Arm the connection's receive: the rest of the hello, admin input, or (sessions) the close. */
static void conn_recv(struct kelp_control *ctl, struct ctl_conn *c)
{
	/* the hello's receive and its linked timeout must go into the same submission */
	if (c->state == CONN_HELLO && io_uring_sq_space_left(&ctl->ring) < 2)
		io_uring_submit(&ctl->ring);
	struct io_uring_sqe *sqe = kelp_ctl_get_sqe(ctl);
	if (!sqe) {
		conn_kill(c);
		return;
	}
	size_t want = c->state == CONN_HELLO ? sizeof(struct kelp_hello) - c->in_len
					     : sizeof(c->in) - c->in_len;
	if (c->state == CONN_SESSION)
		want = sizeof(c->in); /* any byte or EOF ends the session */
	uint8_t *buf = c->state == CONN_SESSION ? c->in : c->in + c->in_len;
	io_uring_prep_recv(sqe, c->fd, buf, want, 0);
	io_uring_sqe_set_data(sqe, &c->op);
	if (c->state != CONN_HELLO)
		return;
	/* a peer that connects and says nothing must not hold an fd forever: the hello has
	 * HELLO_TIMEOUT_S to arrive (the receive then ends with -ECANCELED and the connection is
	 * closed; the timeout's own completion carries no op) */
	struct io_uring_sqe *to = io_uring_get_sqe(&ctl->ring); /* room ensured above */
	if (!to)
		return;
	sqe->flags |= IOSQE_IO_LINK;
	io_uring_prep_link_timeout(to, &ctl->hello_timeout, 0);
	io_uring_sqe_set_data(to, NULL);
}

/* Out of fds or memory: accepting again at once would fail again at once (a busy loop on the
 * control thread); wait a little, saying so once per episode. */
static void accept_backoff(struct kelp_control *ctl, int res)
{
	if (!ctl->accept_backing_off)
		kelp_log_warn("kelpd: accept on %s: %s; retrying every 100 ms (raise ulimit -n?)",
			      ctl->eng->conf.engine.socket, strerror(-res));
	ctl->accept_backing_off = 1;
	struct io_uring_sqe *sqe = kelp_ctl_get_sqe(ctl);
	if (!sqe)
		return;
	ctl->accept_delay = (struct __kernel_timespec){.tv_nsec = 100 * 1000 * 1000};
	io_uring_prep_timeout(sqe, &ctl->accept_delay, 0, 0);
	io_uring_sqe_set_data(sqe, &ctl->accept_retry_op);
}

static void accept_retry_done(struct kelp_control *ctl, struct kelp_ctl_op *op, int res,
			      uint32_t flags)
{
	if (!ctl->stopping)
		kelp_ctl_arm_accept(ctl);
}

static void accept_done(struct kelp_control *ctl, struct kelp_ctl_op *op, int res, uint32_t flags)
{
	if (ctl->stopping)
		return;
	if (res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM) {
		accept_backoff(ctl, res);
		return;
	}
	ctl->accept_backing_off = 0;
	kelp_ctl_arm_accept(ctl);
	if (res < 0) {
		if (res != -EAGAIN && res != -ECONNABORTED && res != -EINTR)
			kelp_log_error("kelpd: accept on %s: %s", ctl->eng->conf.engine.socket,
				       strerror(-res));
		return;
	}
	struct ctl_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(res);
		return;
	}
	c->op.done = conn_done;
	c->fd = res;
	c->state = CONN_HELLO;
	socklen_t len = sizeof(c->cred);
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &c->cred, &len) != 0) {
		close(c->fd);
		free(c);
		return;
	}
	c->next = ctl->conns;
	ctl->conns = c;
	conn_recv(ctl, c);
}

void kelp_ctl_arm_accept(struct kelp_control *ctl)
{
	struct io_uring_sqe *sqe = kelp_ctl_get_sqe(ctl);
	if (!sqe)
		return;
	io_uring_prep_accept(sqe, ctl->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data(sqe, &ctl->accept_op);
}

void kelp_ctl_free_session(struct kelp_control *ctl, struct lcore_session *s)
{
	KELP_ASSERT_OWNER(&ctl->eng->ctl_owner);
	for (struct lcore_session **p = &ctl->sessions; *p; p = &(*p)->ctl_next) {
		if (*p == s) {
			*p = s->ctl_next;
			break;
		}
	}
	ctl->n_sessions--;
	ctl->eng->lcores[s->lcore_id].ctl_sessions--;
	kelp_log_debug("kelpd: session %lu closed: pid %d, %u session(s) left",
		       (unsigned long)s->id, (int)s->pid, ctl->n_sessions);
	struct ctl_conn *c = s->conn;
	if (c) {
		c->session = NULL;
		conn_kill(c);
	}
	kelp_lcore_unwatch_doorbell(&ctl->eng->lcores[s->lcore_id], s->doorbell_fd);
	/* the lcore let go of it: no RDMA request is in flight into the arena any more */
	kelp_rdma_dereg(ctl->eng->rdma_dev, s->rdma_mr, "session arena");
	lcore_session_destroy(s);
}

void kelp_ctl_free_dead_conns(struct kelp_control *ctl)
{
	for (struct ctl_conn **p = &ctl->conns; *p;) {
		struct ctl_conn *c = *p;
		if (c->dead && !c->session) {
			*p = c->next;
			free(c->out);
			free(c);
		} else {
			p = &c->next;
		}
	}
}

void kelp_ctl_close_conns(struct kelp_control *ctl)
{
	for (struct ctl_conn *c = ctl->conns; c; c = c->next)
		conn_kill(c);
	kelp_ctl_free_dead_conns(ctl);
}

void kelp_ctl_clients_init(struct kelp_control *ctl)
{
	ctl->accept_op.done = accept_done;
	ctl->accept_retry_op.done = accept_retry_done;
	ctl->hello_timeout = (struct __kernel_timespec){.tv_sec = HELLO_TIMEOUT_S};
}

/* ---- the listening socket ---------------------------------------------------------------- */

/*
 * Make room for a socket at @path: nothing there, or a socket nobody listens on (left by a kelpd
 * that died), which is removed. Anything else is refused: [engine] socket pointing at a regular
 * file (a typo, the config file itself) must never delete that file. Main/control thread, setup
 * only. Return 0; -EADDRINUSE when a kelpd listens there; -EEXIST when it is not a socket;
 * other -errno (printed).
 */
static int clear_stale_socket(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		int rc = -errno;
		kelp_log_error("kelpd: [engine] socket %s: %s", path, strerror(-rc));
		return rc;
	}
	if (!S_ISSOCK(st.st_mode)) {
		kelp_log_error(
			"kelpd: [engine] socket %s exists and is not a socket (%s): refusing to "
			"replace it; point [engine] socket (or --socket) at a path of its own, "
			"e.g. /run/kelp/kelpd.sock",
			path,
			S_ISREG(st.st_mode)   ? "a regular file"
			: S_ISDIR(st.st_mode) ? "a directory"
			: S_ISLNK(st.st_mode) ? "a symbolic link"
					      : "not a socket");
		return -EEXIST;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 ? 0 : -errno;
	close(fd);
	if (rc == 0 || rc == -EAGAIN) { /* -EAGAIN: it listens, its backlog is full */
		kelp_log_error("kelpd: another kelpd already listens on %s", path);
		return -EADDRINUSE;
	}
	if (rc != -ECONNREFUSED) {
		kelp_log_error(
			"kelpd: [engine] socket %s: cannot tell whether a kelpd listens there "
			"(%s): not replacing it",
			path, strerror(-rc));
		return rc;
	}
	/* a socket nobody listens on: stale */
	if (unlink(path) != 0 && errno != ENOENT) {
		rc = -errno;
		kelp_log_error("kelpd: cannot remove the stale socket %s: %s", path, strerror(-rc));
		return rc;
	}
	return 0;
}

/* Listen on @path (created 0666, see below); *@st = the socket file's lstat, for
 * remove_own_socket(). Setup only. Return the fd, or -errno (printed). */
int kelp_ctl_listen(const char *path, struct stat *st)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path)) {
		kelp_log_error("kelpd: socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	int rc = clear_stale_socket(path, &sa);
	if (rc != 0)
		return rc;
	/* Bind and listen under a temporary name, then rename: the socket appears only when it
	 * accepts, so `test -S` is a valid readiness check for scripts. */
	struct sockaddr_un tmp = {.sun_family = AF_UNIX};
	if (snprintf(tmp.sun_path, sizeof(tmp.sun_path), "%s.%d", path, (int)getpid()) >=
	    (int)sizeof(tmp.sun_path)) {
		kelp_log_error("kelpd: socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	rc = clear_stale_socket(tmp.sun_path, &tmp); /* same rule for the temporary name */
	if (rc != 0)
		return rc;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int bound = bind(fd, (struct sockaddr *)&tmp, sizeof(tmp)) == 0;
	if (!bound || listen(fd, 128) != 0 || chmod(tmp.sun_path, 0666) != 0 ||
	    rename(tmp.sun_path, path) != 0) {
		rc = -errno;
		kelp_log_error(
			"kelpd: cannot listen on %s: %s (does its directory exist? set [engine] "
			"socket or --socket)",
			path, strerror(-rc));
		if (bound)
			unlink(tmp.sun_path); /* ours */
		close(fd);
		return rc;
	}
	/* (0666: anyone may connect; SO_PEERCRED and [engine] allow_* decide who gets a session) */
	if (lstat(path, st) != 0)
		memset(st, 0, sizeof(*st));
	return fd;
}

/* At exit: remove @path only while it is still the socket we made (@st), not a file someone put
 * there since (a new kelpd's socket, or anything else). */
void kelp_ctl_unlisten(const char *path, const struct stat *st)
{
	struct stat now;
	if (lstat(path, &now) == 0 && S_ISSOCK(now.st_mode) && now.st_dev == st->st_dev &&
	    now.st_ino == st->st_ino)
		unlink(path);
}
