/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelpd: serves SeaweedFS needles to local processes through shared-memory rings (README.md,
 * "Running kelpd"). Runs in the foreground; SIGINT or SIGTERM stop it cleanly; SIGHUP re-reads the
 * configuration (lcore/control/control.c: reload_config).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "core/config.h"
#include "kelp_abi.h"
#include "lcore/kelpd/run.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: kelpd [-c FILE] [options]\n"
		   "Serve SeaweedFS needles to local processes (libkelp) from pinned, busy-polling "
		   "lcores.\n"
		   "Runs in the foreground; SIGINT / SIGTERM stop it cleanly; SIGHUP re-reads "
		   "the file\n"
		   "(and these flags over it) and applies the access lists, [engine] log_level,\n"
		   "log_target, the [seaweedfs] TTL and timeouts and [http] allow live; other\n"
		   "changed keys are logged as needing a restart.\n"
		   "\n"
		   "  -c, --config FILE       kelp.conf (every key documented in conf/kelp.conf);\n"
		   "                          without it the defaults apply\n"
		   "  -s, --socket PATH       [engine] socket (where clients connect)\n"
		   "  -l, --lcores LIST       [engine] lcores, e.g. 1 or 1,3 or 2-3\n"
		   "  -e, --export DIR        [export] dirs (repeat for several directories)\n"
		   "      --set SECTION.KEY=VALUE\n"
		   "                          override any key of the file (repeatable)\n"
		   "  -h, --help              this text\n"
		   "      --version           print kelpd's release and shared-memory ABI version\n"
		   "\n"
		   "Flags are applied after the file, in order. Check a running kelpd with "
		   "`kelpctl status`.\n");
}

/* What kelpd was started with, for a SIGHUP's fresh configuration: the file and the flags'
 * assignments in order (-e already joined). */
struct conf_source {
	const char *path; /* NULL: no -c */
	char **sets;
	size_t n;
};

/* The configuration as at start: defaults, the file, the flags. The control thread on SIGHUP
 * (struct kelp_engine: load_config). */
static int load_again(struct kelp_config *c, char *err, size_t err_size, void *arg)
{
	const struct conf_source *src = arg;
	if (src->path && kelp_config_load(c, src->path, err, err_size) != 0)
		return -EINVAL;
	for (size_t i = 0; i < src->n; i++)
		if (kelp_config_set(c, src->sets[i], err, err_size) != 0)
			return -EINVAL;
	return 0;
}

static int remember(struct conf_source *src, const char *assignment)
{
	char **sets = realloc(src->sets, (src->n + 1) * sizeof(*sets));
	if (!sets)
		return -ENOMEM;
	src->sets = sets;
	if (!(sets[src->n] = strdup(assignment)))
		return -ENOMEM;
	src->n++;
	return 0;
}

static int apply(struct kelp_config *c, struct conf_source *src, const char *assignment)
{
	char err[512];
	if (kelp_config_set(c, assignment, err, sizeof(err)) != 0) {
		fprintf(stderr, "kelpd: %s\n", err);
		return -EINVAL;
	}
	if (remember(src, assignment) != 0) {
		fprintf(stderr, "kelpd: out of memory\n");
		return -ENOMEM;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option long_opts[] = {
		{"config", required_argument, NULL, 'c'}, {"socket", required_argument, NULL, 's'},
		{"lcores", required_argument, NULL, 'l'}, {"export", required_argument, NULL, 'e'},
		{"set", required_argument, NULL, 'S'},	  {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},	  {NULL, 0, NULL, 0},
	};
	/*
	 * Not dumpable, before any session memory exists: /proc/<kelpd>/fd/N of every session's
	 * memfd (and /proc/<kelpd>/mem, maps, environ) is then open to root only, not to every
	 * process of kelpd's uid, and ptrace by that uid is refused (shm/ABI.md, "Trust model").
	 * The price: no core dump on a crash, and no gdb/strace/perf attach without root, unless
	 * [engine] dumpable = true turns it back on (applied below, once the config is read).
	 */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		fprintf(stderr,
			"kelpd: warning: prctl(PR_SET_DUMPABLE, 0): %s: processes of kelpd's "
			"user can open session memory through /proc\n",
			strerror(errno));
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
			kelp_config_free(&conf);
			return 0;
		} else if (opt == 'V') {
			/* KELP_VERSION: the Makefile's, passed with -D (one place for every tool)
			 */
			printf("kelpd %s (shm ABI %u)\n", KELP_VERSION, (unsigned)KELP_ABI_VERSION);
			kelp_config_free(&conf);
			return 0;
		} else if (opt == '?') {
			usage(stderr);
			kelp_config_free(&conf);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kelpd: unexpected argument '%s' (see kelpd --help)\n",
			argv[optind]);
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
	struct conf_source src = {.path = conf_path};
	char *exports = NULL; /* -e values, joined with commas */
	optind = 1;
	while (rc == 0 && (opt = getopt_long(argc, argv, "c:s:l:e:h", long_opts, NULL)) != -1) {
		char buf[4200];
		switch (opt) {
		case 's':
			snprintf(buf, sizeof(buf), "engine.socket=%s", optarg);
			rc = apply(&conf, &src, buf);
			break;
		case 'l':
			snprintf(buf, sizeof(buf), "engine.lcores=%s", optarg);
			rc = apply(&conf, &src, buf);
			break;
		case 'e': {
			size_t n = (exports ? strlen(exports) + 1 : 0) + strlen(optarg) + 1;
			char *joined = malloc(n);
			if (!joined) {
				rc = -ENOMEM;
				break;
			}
			snprintf(joined, n, "%s%s%s", exports ? exports : "", exports ? "," : "",
				 optarg);
			free(exports);
			exports = joined;
			snprintf(buf, sizeof(buf), "export.dirs=%s", exports);
			rc = apply(&conf, &src, buf);
			break;
		}
		case 'S':
			rc = apply(&conf, &src, optarg);
			break;
		default:
			break;
		}
	}
	free(exports);
	if (rc != 0) {
		rc = 1;
		goto out_src;
	}
	/* from here on every line has its level and goes where the configuration says */
	kelp_log_set_level(conf.engine.log_level);
	kelp_log_set_target(conf.engine.log_target);
	char warnings[2048];
	if (kelp_config_warnings(&conf, warnings, sizeof(warnings)) > 0)
		kelp_log_warn("kelpd: %s", warnings);
	if (conf.engine.dumpable && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0)
		kelp_log_warn("kelpd: warning: [engine] dumpable = true: prctl: %s",
			      strerror(errno));
	/* the engine and every module read the validated configuration itself (lcore/engine.h) */
	rc = kelp_engine_run(&conf, load_again, &src) == 0 ? 0 : 1;
out_src:
	for (size_t i = 0; i < src.n; i++)
		free(src.sets[i]);
	free(src.sets);
out:
	kelp_config_free(&conf);
	return rc;
}
