/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelpd: serves SeaweedFS needles to local processes through shared-memory rings (README.md,
 * "Running kelpd"). Runs in the foreground; SIGINT or SIGTERM stop it cleanly.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "core/config.h"
#include "lcore/kelpd/run.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kelpd [-c FILE] [options]\n"
		"Serve SeaweedFS needles to local processes (libkelp) from pinned, busy-polling lcores.\n"
		"Runs in the foreground; SIGINT / SIGTERM stop it cleanly.\n"
		"\n"
		"  -c, --config FILE       kelp.conf (every key documented in conf/kelp.conf);\n"
		"                          without it the defaults apply\n"
		"  -s, --socket PATH       [engine] socket (where clients connect)\n"
		"  -l, --lcores LIST       [engine] lcores, e.g. 1 or 1,3 or 2-3\n"
		"  -e, --export DIR        [export] dirs (repeat for several directories)\n"
		"      --set SECTION.KEY=VALUE\n"
		"                          override any key of the file (repeatable)\n"
		"  -h, --help              this text\n"
		"\n"
		"Flags are applied after the file, in order. Check a running kelpd with `kelpctl status`.\n");
}

/* kelp_config_where() of [engine] lcores and control_cpu, for the engine's CPU checks. */
static char lcores_where[PATH_MAX + 16], control_cpu_where[PATH_MAX + 16];

/* Copy the parsed configuration into the engine's options. Return 0 or -EINVAL (printed). */
static int engine_opts_from_config(const struct kelp_config *c, struct kelp_engine_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->lcores_where = kelp_config_where(c, "engine", "lcores", lcores_where, sizeof(lcores_where));
	o->control_cpu_where = kelp_config_where(c, "engine", "control_cpu", control_cpu_where,
						 sizeof(control_cpu_where));
	if (c->engine.lcores.n > KELP_MAX_LCORES) {
		fprintf(stderr, "kelpd: %s: engine.lcores: at most %d lcores\n", o->lcores_where,
			KELP_MAX_LCORES);
		return -EINVAL;
	}
	o->socket_path = c->engine.socket;
	o->n_lcores = (unsigned)c->engine.lcores.n;
	for (unsigned i = 0; i < o->n_lcores; i++)
		o->lcore_cpus[i] = c->engine.lcores.cpus[i];
	o->control_cpu = c->engine.control_cpu;
	o->n_allow_uids = (unsigned)c->engine.allow_uids.n;
	for (unsigned i = 0; i < o->n_allow_uids && i < KELP_MAX_ALLOW; i++)
		o->allow_uids[i] = (uid_t)c->engine.allow_uids.ids[i];
	o->n_allow_gids = (unsigned)c->engine.allow_gids.n;
	for (unsigned i = 0; i < o->n_allow_gids && i < KELP_MAX_ALLOW; i++)
		o->allow_gids[i] = (gid_t)c->engine.allow_gids.ids[i];
	o->n_admin_gids = (unsigned)c->engine.admin_gids.n;
	for (unsigned i = 0; i < o->n_admin_gids && i < KELP_MAX_ALLOW; i++)
		o->admin_gids[i] = (gid_t)c->engine.admin_gids.ids[i];
	o->idle_park_us = c->engine.idle_park_us;
	o->idle_yield = c->engine.idle_yield;
	o->arena_mb = c->engine.arena_mb;
	o->hugepages = c->engine.hugepages == KELP_HUGEPAGES_ON    ? 1
		       : c->engine.hugepages == KELP_HUGEPAGES_OFF ? 0
								   : -1;
	o->queue_depth = c->engine.queue_depth;
	o->max_sessions = c->engine.max_sessions;
	o->export_dirs = (const char *const *)c->export.dirs.items;
	o->n_export_dirs = c->export.dirs.n;
	o->masters = (const char *const *)c->seaweedfs.master.items;
	o->n_masters = c->seaweedfs.master.n;
	o->data_center = c->seaweedfs.data_center;
	o->volume_public_url = c->seaweedfs.volume_address == KELP_VOLUME_ADDRESS_PUBLIC_URL;
	o->jwt_read_key = c->seaweedfs.jwt_read_key;
	o->lookup_ttl_s = c->seaweedfs.lookup_ttl_s;
	o->http_timeout_ms = c->seaweedfs.http_timeout_ms;
	o->hedge_percent = c->seaweedfs.hedge_percent;
	o->force_http = c->seaweedfs.force_http;
	o->rdma_device = c->rdma.device;
	o->rdma_port = (uint8_t)c->rdma.port;
	o->rdma_gid_index = c->rdma.gid_index;
	o->rdma_listen = c->rdma.listen;
	o->rdma_peer_port = (uint16_t)c->rdma.peer_port;
	o->rdma_peers = (const char *const *)c->rdma.peers.items;
	o->n_rdma_peers = c->rdma.peers.n;
	o->rdma_request_timeout_ms = c->rdma.request_timeout_ms;
	o->rdma_export_max_read_mb = c->rdma.export_max_read_mb;
	if (!o->socket_path || !*o->socket_path) {
		fprintf(stderr, "kelpd: [engine] socket is empty\n");
		return -EINVAL;
	}
	return 0;
}

static int apply(struct kelp_config *c, const char *assignment)
{
	char err[512];
	if (kelp_config_set(c, assignment, err, sizeof(err)) != 0) {
		fprintf(stderr, "kelpd: %s\n", err);
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option long_opts[] = {
		{"config", required_argument, NULL, 'c'}, {"socket", required_argument, NULL, 's'},
		{"lcores", required_argument, NULL, 'l'}, {"export", required_argument, NULL, 'e'},
		{"set", required_argument, NULL, 'S'},    {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	/*
	 * Not dumpable, before any session memory exists: /proc/<kelpd>/fd/N of every session's
	 * memfd (and /proc/<kelpd>/mem, maps, environ) is then open to root only, not to every
	 * process of kelpd's uid, and ptrace by that uid is refused (shm/ABI.md, "Trust model").
	 * The price: no core dump on a crash, and no gdb/strace/perf attach without root, unless
	 * [engine] dumpable = true turns it back on (applied below, once the config is read).
	 */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		fprintf(stderr, "kelpd: warning: prctl(PR_SET_DUMPABLE, 0): %s: processes of kelpd's "
				"user can open session memory through /proc\n", strerror(errno));
	struct kelp_config conf;
	if (kelp_config_init(&conf) != 0) {
		fprintf(stderr, "kelpd: out of memory\n");
		return 1;
	}
	/* First pass: the file; second pass: the flags over it, in order. */
	const char *conf_path = NULL;
	int opt;
	while ((opt = getopt_long(argc, argv, "c:s:l:e:h", long_opts, NULL)) != -1) {
		if (opt == 'c') {
			conf_path = optarg;
		} else if (opt == 'h') {
			usage(stdout);
			return 0;
		} else if (opt == '?') {
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kelpd: unexpected argument '%s' (see kelpd --help)\n", argv[optind]);
		return 2;
	}
	int rc = 0;
	if (conf_path) {
		char err[4096];
		if (kelp_config_load(&conf, conf_path, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s", err);
			if (err[0] && err[strlen(err) - 1] != '\n')
				fputc('\n', stderr);
			rc = 1;
			goto out;
		}
	}
	char *exports = NULL; /* -e values, joined with commas */
	optind = 1;
	while (rc == 0 && (opt = getopt_long(argc, argv, "c:s:l:e:h", long_opts, NULL)) != -1) {
		char buf[4200];
		switch (opt) {
		case 's':
			snprintf(buf, sizeof(buf), "engine.socket=%s", optarg);
			rc = apply(&conf, buf);
			break;
		case 'l':
			snprintf(buf, sizeof(buf), "engine.lcores=%s", optarg);
			rc = apply(&conf, buf);
			break;
		case 'e': {
			size_t n = (exports ? strlen(exports) + 1 : 0) + strlen(optarg) + 1;
			char *joined = malloc(n);
			if (!joined) {
				rc = -ENOMEM;
				break;
			}
			snprintf(joined, n, "%s%s%s", exports ? exports : "", exports ? "," : "", optarg);
			free(exports);
			exports = joined;
			snprintf(buf, sizeof(buf), "export.dirs=%s", exports);
			rc = apply(&conf, buf);
			break;
		}
		case 'S':
			rc = apply(&conf, optarg);
			break;
		default:
			break;
		}
	}
	free(exports);
	if (rc != 0) {
		rc = 1;
		goto out;
	}
	char warnings[2048];
	if (kelp_config_warnings(&conf, warnings, sizeof(warnings)) > 0)
		fprintf(stderr, "kelpd: %s\n", warnings);
	if (conf.engine.dumpable && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0)
		fprintf(stderr, "kelpd: warning: [engine] dumpable = true: prctl: %s\n", strerror(errno));
	struct kelp_engine_opts eo;
	if (engine_opts_from_config(&conf, &eo) != 0) {
		rc = 1;
		goto out;
	}
	rc = kelp_engine_run(&eo) == 0 ? 0 : 1;
out:
	kelp_config_free(&conf);
	return rc;
}
