/* SPDX-License-Identifier: Apache-2.0 */
/* Bringing kelpd's engine up and down around the control loop (engine.h). */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/clock.h"
#include "core/epoch.h"
#include "core/fault.h"
#include "lcore/control/control.h"
#include "lcore/kelpd/run.h"
#include "lcore/worker/lcore.h"
#include "lcore/rdma/rdma_export.h"
#include "lcore/rdma/rdma_reader.h"
#include "lcore/tcp/tcp_export.h"
#include "lcore/tcp/http_reader.h"
#include "lcore/tcp/tcp_reader.h"
#include "nic/device.h"
#include "lcore/worker/topology.h"

static void volume_warning(void *arg, const char *msg)
{
	kelp_log_warn("kelpd: warning: %s", msg);
}

/*
 * This kelpd's identity as an RDMA reader (lcore/rdma/rdma_reader.h): the reader id hashes (FNV-1a)
 * the host name and the socket path, which stay the same when this kelpd restarts and differ
 * between two kelpd on one host (they cannot share a socket); the incarnation is random per start
 * (the clock and pid when getrandom() fails). Main thread.
 */
static void reader_ident(const struct kelp_config *conf, struct kelp_rdma_reader_ident *id)
{
	char host[256] = "";
	uint64_t h = 0xcbf29ce484222325ull;
	struct timespec ts;

	gethostname(host, sizeof(host) - 1);
	for (const char *part[] = {host, "\n", conf->engine.socket}, **p = part; p < part + 3; p++)
		for (const unsigned char *c = (const unsigned char *)*p; *c; c++)
			h = (h ^ *c) * 0x100000001b3ull;
	id->reader_id = h ? h : 1; /* 0 means anonymous */
	if (getrandom(&id->incarnation, sizeof(id->incarnation), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(id->incarnation)) {
		clock_gettime(CLOCK_REALTIME, &ts);
		id->incarnation = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		id->incarnation ^= (uint64_t)getpid() << 40;
	}
}

/* Does [peer] transports name @t? */
static bool has_transport(const struct kelp_config *c, const char *t)
{
	for (size_t i = 0; i < c->peer.transports.n; i++)
		if (!strcmp(c->peer.transports.items[i], t))
			return true;
	return false;
}

/* Start the TCP export ([peer] tcp_listen, on lcore 0), the lcores' HTTP readers (one per lcore,
 * when masters locate volumes) and the TCP readers (one per lcore, when masters locate volumes
 * and [peer] transports names tcp). Main thread, before the lcores start.
 * Return: 0 or -errno (a configuration error, printed). */
static int tcp_start(struct kelp_engine *eng)
{
	const struct kelp_config *c = &eng->conf;

	if (c->peer.tcp_listen[0]) {
		int rc = kelp_tcp_export_start(
			eng, &eng->lcores[0], c->peer.tcp_listen, c->peer.secret,
			(const char *const *)c->peer.allow.items, c->peer.allow.n,
			c->rdma.export_max_read_mb, &eng->tcp_export);
		if (rc)
			return rc;
	}
	/* HTTP from the lcores themselves (http_reader.h): wherever there is an HTTP fallback */
	for (unsigned i = 0; c->seaweedfs.master.n && i < eng->n_lcores; i++) {
		int rc = kelp_http_reader_create(&eng->lcores[i], &eng->lcores[i].http_reader);
		if (rc)
			return rc;
		eng->lcores[i].http_route = kelp_http_reader_route;
		eng->lcores[i].http_stop = kelp_http_reader_stop;
	}
	if (!c->seaweedfs.master.n || c->seaweedfs.force_http || !has_transport(c, "tcp"))
		return 0;
	struct kelp_rdma_reader_ident ident;
	reader_ident(c, &ident);
	struct kelp_tcp_config tc = {.hosts = (const char *const *)c->peer.tcp_peers.items,
				     .n_hosts = c->peer.tcp_peers.n,
				     .tcp_port = (uint16_t)c->peer.tcp_port,
				     .secret = c->peer.secret,
				     .timeout_ms = c->peer.timeout_ms,
				     .reader_id = ident.reader_id,
				     .incarnation = ident.incarnation};
	for (unsigned i = 0; i < eng->n_lcores; i++) {
		int rc = kelp_tcp_reader_create(&eng->lcores[i], &tc, &eng->lcores[i].tcp_reader);
		if (rc)
			return rc;
		eng->lcores[i].tcp_route = kelp_tcp_reader_route;
	}
	kelp_log_info(
		"kelpd: TCP reads: peers from the masters' locations (kelpd on port %u beside each "
		"volume server, or [peer] tcp_peers)%s",
		c->peer.tcp_port, c->peer.secret[0] ? ", authenticated by [peer] secret" : "");
	return 0;
}

static void tcp_stop(struct kelp_engine *eng)
{
	for (unsigned i = 0; i < eng->n_lcores; i++) {
		kelp_tcp_reader_destroy(eng->lcores[i].tcp_reader);
		eng->lcores[i].tcp_reader = NULL;
		eng->lcores[i].tcp_route = NULL;
		kelp_http_reader_destroy(eng->lcores[i].http_reader);
		eng->lcores[i].http_reader = NULL;
		eng->lcores[i].http_route = NULL;
		eng->lcores[i].http_stop = NULL;
	}
	kelp_tcp_export_stop(eng->tcp_export);
	eng->tcp_export = NULL;
}

/* Open the RDMA device when [rdma] listen asks for it and start the export on lcore 0. A host
 * without a usable device says so once and serves without RDMA. Main thread, before the lcores
 * start. Return: 0 (also when RDMA is unavailable); -errno when the export cannot start on a
 * device that exists (bad listen address, port in use): a configuration error. */
static int rdma_start(struct kelp_engine *eng)
{
	const struct kelp_config *c = &eng->conf;
	struct kelp_rdma_dev_config dc = {
		.device = c->rdma.device[0] ? c->rdma.device : "auto",
		.port = (uint8_t)c->rdma.port,
		.gid_index = c->rdma.gid_index,
	};
	char err[256];

	bool exporting = c->rdma.listen[0] != '\0';
	/* reading over RDMA needs the masters' locations (lcore/rdma/rdma_reader.h) */
	bool reading =
		c->seaweedfs.master.n > 0 && !c->seaweedfs.force_http && has_transport(c, "rdma");

	if (!exporting && !reading)
		return 0;
	if (!strcmp(dc.device, "off"))
		return 0; /* asked for: nothing to say */
	if (kelp_rdma_dev_open(&kelp_verbs_real, &dc, err, sizeof(err), &eng->rdma_dev)) {
		kelp_log_warn(
			"kelpd: RDMA off: %s%s", err,
			exporting ? "; [rdma] listen ignored (other kelpd read this host's volumes "
				    "over HTTP)"
				  : "");
		return 0;
	}
	if (exporting) {
		int rc = kelp_rdma_export_start(eng, &eng->lcores[0], eng->rdma_dev, c->rdma.listen,
						c->rdma.export_max_read_mb, &eng->rdma_export);
		if (rc)
			return rc;
	}
	struct kelp_rdma_reader_ident ident = {0};
	if (reading)
		reader_ident(c, &ident);
	for (unsigned i = 0; reading && i < eng->n_lcores; i++) {
		int rc = kelp_rdma_reader_create(
			&eng->lcores[i], eng->rdma_dev, (const char *const *)c->rdma.peers.items,
			c->rdma.peers.n, (uint16_t)c->rdma.peer_port, c->rdma.request_timeout_ms,
			&ident, NULL, &eng->lcores[i].rdma_reader);
		if (rc)
			return rc;
		/* not fatal: without its staging area the reader stays two-sided */
		if (c->rdma.one_sided)
			kelp_rdma_reader_one_sided(eng->lcores[i].rdma_reader);
		eng->lcores[i].rdma_route = kelp_rdma_reader_route;
	}
	if (reading)
		kelp_log_info("kelpd: RDMA reads on %s: peers from the masters' locations (kelpd "
			      "on port %u beside each volume server, or [rdma] peers)",
			      eng->rdma_dev->name, c->rdma.peer_port);
	return 0;
}

static void rdma_stop(struct kelp_engine *eng)
{
	for (unsigned i = 0; i < eng->n_lcores; i++) {
		if (kelp_rdma_reader_destroy(eng->lcores[i].rdma_reader) < 0)
			kelp_log_warn("kelpd: warning: tearing down lcore %u's RDMA reader failed",
				      i);
		eng->lcores[i].rdma_reader = NULL;
		eng->lcores[i].rdma_route = NULL;
	}
	if (kelp_rdma_export_stop(eng->rdma_export) < 0)
		kelp_log_warn("kelpd: warning: tearing down the RDMA export failed (see above)");
	eng->rdma_export = NULL;
	if (eng->rdma_dev && kelp_rdma_dev_close(eng->rdma_dev) < 0)
		kelp_log_warn("kelpd: warning: closing RDMA device %s failed", eng->rdma_dev->name);
	eng->rdma_dev = NULL;
}

/* The CPUs of [engine] lcores and control_cpu exist and kelpd may run on them. Messages name
 * the place of the setting like config errors ("FILE:LINE: engine.lcores: ..."). Main thread. */
static int check_cpus(const struct kelp_config *c)
{
	const struct kelp_cpu_list *l = &c->engine.lcores;
	char lw[PATH_MAX + 16], cw[PATH_MAX + 16];

	kelp_config_where(c, "engine", "lcores", lw, sizeof(lw));
	kelp_config_where(c, "engine", "control_cpu", cw, sizeof(cw));
	if (l->n == 0) {
		kelp_log_error("kelpd: %s: engine.lcores is empty: give at least one CPU", lw);
		return -EINVAL;
	}
	if (l->n > KELP_MAX_LCORES) {
		kelp_log_error("kelpd: %s: engine.lcores: at most %d lcores", lw, KELP_MAX_LCORES);
		return -EINVAL;
	}
	for (size_t i = 0; i < l->n; i++) {
		if (!kelp_topo_cpu_ok(l->cpus[i])) {
			kelp_log_error("kelpd: %s: engine.lcores: CPU %d does not exist or is not "
				       "allowed (this machine has %d usable CPUs)",
				       lw, l->cpus[i], kelp_topo_ncpus());
			return -EINVAL;
		}
	}
	if (c->engine.control_cpu >= 0 && !kelp_topo_cpu_ok(c->engine.control_cpu)) {
		kelp_log_error(
			"kelpd: %s: engine.control_cpu: CPU %d does not exist or is not allowed "
			"(this machine has %d usable CPUs; -1 = not pinned)",
			cw, c->engine.control_cpu, kelp_topo_ncpus());
		return -EINVAL;
	}
	return 0;
}

int kelp_engine_run(struct kelp_config *conf,
		    int (*load)(struct kelp_config *c, char *err, size_t err_size, void *arg),
		    void *load_arg)
{
	struct kelp_engine eng = {.conf = *conf,
				  .load_config = load,
				  .load_config_arg = load_arg,
				  .conf_owner = conf,
				  .start_ns = kelp_now_ns()};
	const struct kelp_cpu_list *lcores = &conf->engine.lcores;
	int rc = kelp_topo_load();
	if (rc != 0) {
		kelp_log_error("kelpd: cannot read the CPU topology (hwloc): %s", strerror(-rc));
		return rc;
	}
	rc = check_cpus(conf);
	if (rc != 0)
		goto out_topo;

	/* Signals: blocked in every thread (the lcores inherit the mask) and read by the control
	 * loop through a signalfd (SIGHUP: re-read the configuration). SIGPIPE: a client that
	 * vanished must not kill kelpd. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* SIGBUS in a volume or session mapping fails one read, not the daemon (core/fault.h) */
	rc = kelp_fault_install();
	if (rc != 0) {
		kelp_log_error("kelpd: cannot install the SIGBUS handler: %s", strerror(-rc));
		goto out_topo;
	}
	int sig_fd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sig_fd < 0) {
		rc = -errno;
		kelp_log_error("kelpd: signalfd: %s", strerror(errno));
		goto out_topo;
	}

	rc = kelp_volume_set_open((const char *const *)conf->export.dirs.items, conf->export.dirs.n,
				  volume_warning, NULL, &eng.volumes);
	if (rc != 0) {
		kelp_log_error("kelpd: [export] dirs: %s", strerror(-rc));
		goto out_sig;
	}

	/* every lcore reads the volumes without locks; replaced versions go through this epoch */
	rc = kelp_epoch_new((unsigned)lcores->n, &eng.epoch);
	if (rc)
		goto out_vol;
	kelp_volume_set_use_epoch(eng.volumes, eng.epoch);

	eng.lcores = calloc(lcores->n, sizeof(*eng.lcores));
	if (!eng.lcores) {
		rc = -ENOMEM;
		goto out_vol;
	}
	for (unsigned i = 0; i < lcores->n; i++) {
		rc = kelp_lcore_init(&eng.lcores[i], &eng, i, lcores->cpus[i]);
		eng.n_lcores = i + 1;
		if (rc != 0) {
			kelp_log_error("kelpd: lcore %u (CPU %d): %s", i, lcores->cpus[i],
				       strerror(-rc));
			goto out_lcores;
		}
	}
	rc = rdma_start(&eng);
	if (rc == 0)
		rc = tcp_start(&eng);
	if (rc != 0)
		goto out_lcores;
	if (conf->engine.control_cpu >= 0) {
		int prc = kelp_topo_bind_thread(conf->engine.control_cpu);
		if (prc != 0)
			kelp_log_error("kelpd: cannot pin the control thread to CPU %d: %s",
				       conf->engine.control_cpu, strerror(-prc));
	}
	rc = kelp_ctl_run(&eng, sig_fd);
out_lcores:
	rdma_stop(&eng); /* the lcores are joined: nothing polls the CQ any more */
	tcp_stop(&eng);
	for (unsigned i = 0; i < eng.n_lcores; i++)
		kelp_lcore_fini(&eng.lcores[i]);
	free(eng.lcores);
out_vol:
	kelp_volume_set_close(eng.volumes); /* the lcores are gone: nothing reads it any more */
	if (eng.epoch)
		kelp_epoch_free(eng.epoch);
out_sig:
	close(sig_fd);
out_topo:
	kelp_topo_unload();
	return rc;
}
