/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelp-mount: mount the filer's tree ([filer] path of kelp.conf) read-only through kelpd, in the
 * foreground, until SIGINT/SIGTERM/SIGHUP or `fusermount3 -u MOUNTPOINT`.
 * This file: options, config, the start-up check, the FUSE session and its multi-threaded loop.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "kelp.h"
#include "kelp_abi.h"
#include "tools/kelp-mount/kelp_mount.h"

#define DEFAULT_THREADS	     8
#define DEFAULT_READAHEAD_KB 1024

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kelp-mount [-c FILE] [-o OPTIONS] [options] MOUNTPOINT\n"
		"Mount the SeaweedFS filer's tree ([filer] path of kelp.conf, default /) read-only "
		"at\n"
		"MOUNTPOINT, read through kelpd. Runs in the foreground; SIGINT, SIGTERM or\n"
		"`fusermount3 -u MOUNTPOINT` unmount it.\n"
		"\n"
		"options:\n"
		"  -c, --config FILE   kelp.conf of the kelpd to use: its [engine] socket, [filer] "
		"path\n"
		"                      (the directory mounted) and [filer] metadata_ttl_ms (how "
		"long the\n"
		"                      kernel caches names and attributes); without it, the "
		"default\n"
		"                      socket %s, path / and the default TTL\n"
		"  -o OPTIONS          FUSE mount options, comma-separated, passed to libfuse "
		"(e.g.\n"
		"                      allow_other, default_permissions); ro is always set\n"
		"  -t, --threads N     FUSE worker threads at most, each with its own kelp "
		"session\n"
		"                      (default %d)\n"
		"      --readahead-kb N\n"
		"                      the kernel's readahead window for the mount in KiB\n"
		"                      (default %d; FUSE's own is 128): larger reads, fewer\n"
		"                      requests; needs root, else the kernel's stays; 0 = leave "
		"it\n"
		"  -d, --debug         print every FUSE request (libfuse's debug output)\n"
		"  -h, --help          this text\n"
		"      --version       print kelp-mount's release and shared-memory ABI version\n"
		"\n"
		"Exit status: 0 unmounted cleanly, 1 mount or kelpd failure, 2 usage error.\n",
		KELP_DEFAULT_SOCKET, DEFAULT_THREADS, DEFAULT_READAHEAD_KB);
}

/* [filer] path and metadata_ttl_ms of @config (or the defaults) into @o. Return: 0, -errno. */
static int load_config(const char *config, struct mount_opts *o)
{
	struct kelp_config c;
	char err[1024];
	if (kelp_config_init(&c) != 0)
		return -ENOMEM;
	if (config && kelp_config_load(&c, config, err, sizeof(err)) != 0) {
		fprintf(stderr, "kelp-mount: %s\n", err);
		kelp_config_free(&c);
		return -EINVAL;
	}
	const char *p = c.filer.path && *c.filer.path ? c.filer.path : "/";
	size_t len = strlen(p);
	while (len > 1 && p[len - 1] == '/')
		len--;
	if (p[0] != '/') {
		fprintf(stderr,
			"kelp-mount: [filer] path '%s' must be absolute (a directory of the filer, "
			"e.g. /data)\n",
			p);
		kelp_config_free(&c);
		return -EINVAL;
	}
	o->root = strndup(p, len);
	o->ttl_s = c.filer.metadata_ttl_ms / 1000.0;
	kelp_config_free(&c);
	return o->root ? 0 : -ENOMEM;
}

/*
 * set_readahead - the kernel's readahead window of the mount at @mnt (a canonical path) to @kb
 * KiB. FUSE mounts start at 128 KiB, so a file read in 1 MiB calls reaches kelp-mount as 128 KiB
 * requests, each a kelp request; 1 MiB makes them 8x fewer. The mount's backing device (its
 * "major:minor" in /proc/self/mountinfo) has the knob in sysfs; root only. Best effort: returns
 * 0, or -errno when it could not be set (the mount works anyway). Main thread, after mounting
 * (not stat(): the loop is not running yet to answer).
 */
static int set_readahead(const char *mnt, unsigned kb)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	if (!f)
		return -errno;
	char line[8192], dev[32] = "";
	while (fgets(line, sizeof(line), f)) {
		char majmin[32], point[4096];
		if (sscanf(line, "%*s %*s %31s %*s %4095s", majmin, point) != 2)
			continue;
		char *o = point; /* mountinfo writes ' ', '\t', '\n', '\\' as \ooo */
		for (const char *i = point; *i; o++) {
			if (i[0] == '\\' && i[1] >= '0' && i[1] <= '3' && i[2] && i[3]) {
				*o = (char)((i[1] - '0') * 64 + (i[2] - '0') * 8 + (i[3] - '0'));
				i += 4;
			} else {
				*o = *i++;
			}
		}
		*o = '\0';
		if (strcmp(point, mnt) == 0)
			snprintf(dev, sizeof(dev), "%s", majmin); /* the last one is on top */
	}
	fclose(f);
	if (!dev[0])
		return -ENOENT;
	char knob[96];
	snprintf(knob, sizeof(knob), "/sys/class/bdi/%s/read_ahead_kb", dev);
	f = fopen(knob, "w");
	if (!f)
		return -errno;
	int ok = fprintf(f, "%u\n", kb) > 0;
	return fclose(f) == 0 && ok ? 0 : -EIO;
}

/* Before mounting: kelpd answers, has a filer, and the root is a directory of it; else say why
 * (a filer that is only unreachable right now is a warning). */
static int check_root(const struct mount_opts *o)
{
	struct kelp_opts ko;
	kelp_opts_init(&ko);
	ko.config_path = o->config;
	struct kelp_session *s;
	int rc = kelp_connect(&ko, &s);
	if (rc < 0) {
		fprintf(stderr, "kelp-mount: cannot open a kelp session: %s\n",
			*kelp_last_error() ? kelp_last_error() : kelp_strerror(rc));
		return rc;
	}
	struct kelp_path_stat st;
	rc = kelp_path_stat(s, o->root, &st);
	kelp_close(s);
	if (rc == -ENOTCONN) {
		fprintf(stderr,
			"kelp-mount: kelpd has no filer: set [filer] address in its kelp.conf\n");
		return rc;
	}
	if (rc == -ETIMEDOUT || rc == -EHOSTUNREACH || rc == -ECONNREFUSED || rc == -EIO) {
		/* the filer may be back soon: mount, and let each request say EIO until it is */
		fprintf(stderr,
			"kelp-mount: warning: the filer does not answer for %s (%s); mounting "
			"anyway, "
			"reads give EIO until it does\n",
			o->root, kelp_strerror(rc));
		return 0;
	}
	if (rc < 0) {
		fprintf(stderr, "kelp-mount: [filer] path %s: %s\n", o->root, kelp_strerror(rc));
		return rc;
	}
	if (!S_ISDIR(st.mode)) {
		fprintf(stderr, "kelp-mount: [filer] path %s is not a directory of the filer\n",
			o->root);
		return -ENOTDIR;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option long_opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"threads", required_argument, NULL, 't'},
		{"debug", no_argument, NULL, 'd'},
		{"readahead-kb", required_argument, NULL, 'R'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct mount_opts o = {0};
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	unsigned threads = DEFAULT_THREADS, readahead_kb = DEFAULT_READAHEAD_KB;
	int debug = 0, opt;
	if (fuse_opt_add_arg(&args, argv[0]) != 0)
		return 1;
	while ((opt = getopt_long(argc, argv, "c:o:t:dh", long_opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			o.config = optarg;
			break;
		case 'o':
			if (fuse_opt_add_arg(&args, "-o") != 0 ||
			    fuse_opt_add_arg(&args, optarg) != 0)
				return 1;
			break;
		case 't': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || v < 1 || v > 1024) {
				fprintf(stderr, "kelp-mount: --threads %s: give 1 to 1024\n",
					optarg);
				return 2;
			}
			threads = (unsigned)v;
			break;
		}
		case 'd':
			debug = 1;
			break;
		case 'R': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || v > 65536) {
				fprintf(stderr, "kelp-mount: --readahead-kb %s: give 0 to 65536\n",
					optarg);
				return 2;
			}
			readahead_kb = (unsigned)v;
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		case 'V': /* KELP_VERSION: the Makefile's, passed with -D */
			printf("kelp-mount %s (shm ABI %u)\n", KELP_VERSION,
			       (unsigned)KELP_ABI_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	const char *mountpoint = argv[optind];
	if (load_config(o.config, &o) != 0)
		return 1;
	char fsopts[KELP_PATH_MAX + 64];
	snprintf(fsopts, sizeof(fsopts), "ro,subtype=kelp,fsname=kelp:%s", o.root);
	if (fuse_opt_add_arg(&args, "-o") != 0 || fuse_opt_add_arg(&args, fsopts) != 0 ||
	    (debug && fuse_opt_add_arg(&args, "-d") != 0))
		return 1;

	int rc = 1;
	if (check_root(&o) != 0)
		goto out_args;
	if (mount_fs_init(&o) != 0) {
		fprintf(stderr, "kelp-mount: out of memory\n");
		goto out_args;
	}
	/* one session per worker thread, opened now: a session costs kelpd a segment to set up */
	if (mount_fs_open_sessions(threads) != 0)
		goto out_fs;
	struct fuse_session *se = fuse_session_new(&args, &mount_ops, sizeof(mount_ops), NULL);
	if (!se) /* libfuse said why (an unknown -o option, ...) */
		goto out_fs;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	char mnt_real[PATH_MAX];
	if (!realpath(mountpoint, mnt_real)) {
		fprintf(stderr, "kelp-mount: %s: %s\n", mountpoint, strerror(errno));
		goto out_signals;
	}
	if (fuse_session_mount(se, mountpoint) != 0)
		goto out_signals;
	if (readahead_kb) {
		int ra = set_readahead(mnt_real, readahead_kb);
		if (ra < 0 && debug)
			fprintf(stderr, "kelp-mount: readahead of %s left as it was: %s\n",
				mnt_real, strerror(-ra));
	}
	struct fuse_loop_config *lc = fuse_loop_cfg_create();
	if (!lc)
		goto out_unmount;
	fuse_loop_cfg_set_max_threads(lc, threads);
	fuse_loop_cfg_set_idle_threads(lc, threads); /* keep them: each holds a kelp session */
	fprintf(stderr, "kelp-mount: %s of the filer mounted read-only at %s\n", o.root,
		mountpoint);
	/* 0, or the signal that ended it (libfuse's handler records it): both are a clean end */
	rc = fuse_session_loop_mt(se, lc) >= 0 ? 0 : 1;
	fuse_loop_cfg_destroy(lc);
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_fs:
	mount_fs_fini();
out_args:
	fuse_opt_free_args(&args);
	free(o.root);
	return rc;
}
