/* SPDX-License-Identifier: Apache-2.0 */
/* The control thread's state, shared by control.c (the loop), clients.c (the socket, sessions,
 * kelpctl connections) and admin.c (kelpctl answers) only. Control thread only. */
#ifndef KELP_LCORE_CONTROL_PRIV_H
#define KELP_LCORE_CONTROL_PRIV_H

#include <liburing.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "lcore/control/control.h"
#include "lcore/worker/lsession.h"

enum ctl_conn_state {
	CONN_HELLO,	   /* reading the 64-byte hello */
	CONN_SESSION,	   /* session live; a recv is armed to notice the close */
	CONN_ADMIN_READ,   /* reading command lines */
	CONN_ADMIN_WRITE,  /* sending a reply */
	CONN_SESSION_GONE, /* client gone, waiting for the lcore to release the session */
};

#define CONN_IN_MAX 1024

/* One client connection. At most one io_uring operation is in flight per connection (op). */
struct ctl_conn {
	struct kelp_ctl_op op;
	int fd;
	enum ctl_conn_state state;
	int dead; /* marked in a callback, freed after the CQE batch (ae.c style) */
	struct ucred cred;
	int admin; /* admin connection of root, kelpd's uid or [engine] admin_gids: may list
		      sessions */
	uint8_t in[CONN_IN_MAX];
	size_t in_len;
	char *out; /* admin reply being sent */
	size_t out_len, out_off;
	struct lcore_session *session;
	struct ctl_conn *next;
};

struct kelp_control {
	struct kelp_engine *eng;
	int arena_reg_warned; /* said once that arenas cannot be registered for RDMA */
	struct io_uring ring;
	int listen_fd;
	int sig_fd;
	int wake_fd; /* eventfd the lcores write after sending us messages, only while asleep is set
		      */
	/* around the loop's wait in io_uring_enter (read by the lcores): KELP_CTL_ASLEEP, or
	 * KELP_CTL_ASLEEP_TIMED when it wakes by itself within KELP_CTL_LAZY_WAKE_NS; 0 otherwise
	 */
	uint32_t asleep;
	uint64_t timed_waits; /* kelp_ctl_timed_waits() */
	struct kelp_ctl_op accept_op, signal_op, wake_op;
	struct kelp_ctl_op accept_retry_op; /* timeout before accepting again (out of fds) */
	struct __kernel_timespec accept_delay;
	int accept_backing_off;
	struct __kernel_timespec
		hello_timeout;	       /* read by the kernel when a hello recv is submitted */
	struct kelp_ctl_op refresh_op; /* KELP_REFRESH_MS timer: follow [export] dirs */
	struct __kernel_timespec refresh_delay;
	int refresh_failed;
	struct signalfd_siginfo siginfo;
	uint64_t wake_val;
	struct ctl_conn *conns;
	struct lcore_session *sessions; /* every live session, newest first */
	unsigned n_sessions;
	uint64_t next_session_id;
	int stopping;
	void *remote_priv;
	void *filer_priv; /* lcore/control/filer_req.c, NULL when [filer] address is empty */
	void *http_priv;  /* lcore/control/http_server.c, NULL when [http] listen is off */
};

/*
 * kelp_admin_reply - answer one kelpctl command line (lcore/control/admin.h) with a malloc'd JSON
 * object and a newline. @admin: the client is root, kelpd's uid or in [engine] admin_gids (only
 * such a client is shown `sessions`). Control thread only. Return: the reply (caller frees), or
 * NULL when out of memory.
 */
char *kelp_admin_reply(struct kelp_control *ctl, const char *line, int admin);

struct kelp_hist;
/*
 * kelp_ctl_latency - every lcore's latency histogram of @path (KELP_CQE_PATH_*, nanoseconds from
 * the lcore taking the SQE to publishing its CQE) merged into @out, which is initialized here;
 * the lcores keep recording meanwhile (core/histogram.h: _shared). Control thread only.
 */
void kelp_ctl_latency(struct kelp_control *ctl, unsigned path, struct kelp_hist *out);

/* clients.c, for the loop: */
/* kelp_ctl_clients_init - the accept ops and the hello timeout, before the loop starts. */
void kelp_ctl_clients_init(struct kelp_control *ctl);
/* kelp_ctl_arm_accept - accept the next client (again after every accept). */
void kelp_ctl_arm_accept(struct kelp_control *ctl);
/* kelp_ctl_free_session - free @s, which its lcore released (KELP_MSG_SESSION_GONE), or any
 * session once the lcores stopped; closes its connection. */
void kelp_ctl_free_session(struct kelp_control *ctl, struct lcore_session *s);
/* kelp_ctl_free_dead_conns - free the connections marked dead during a CQE batch (after it). */
void kelp_ctl_free_dead_conns(struct kelp_control *ctl);
/* kelp_ctl_close_conns - close and free every connection (after the ring is gone). */
void kelp_ctl_close_conns(struct kelp_control *ctl);
/*
 * kelp_ctl_listen - listen on @path: a stale socket there is replaced, anything else refused
 * (printed). *@st identifies the socket made, for kelp_ctl_unlisten(). Return: the fd or -errno.
 * kelp_ctl_unlisten - remove @path if it still is that socket.
 */
int kelp_ctl_listen(const char *path, struct stat *st);
void kelp_ctl_unlisten(const char *path, const struct stat *st);

#endif
