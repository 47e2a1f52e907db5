/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelp-rdma serve: the export side of kelp's RDMA path on one thread (one "lcore"): opens the
 * volumes of the given directories, registers each .dat mapping read-only (bounce pool otherwise),
 * accepts reader handshakes on the listen address and serves their requests by polling the CQ.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/volume.h"
#include "lcore/rdma/rdma_export.h"
#include "nic/conn.h"
#include "nic/mr.h"
#include "nic/oob.h"
#include "tools/kelp-rdma/kelp_rdma_tool.h"

static const char serve_usage[] =
	"usage: kelp-rdma serve --listen ADDR:PORT [OPTIONS] DIR...\n"
	"Exports every volume (*.dat) in the DIRs over RDMA until SIGTERM/SIGINT, then prints "
	"counters.\n" COMMON_OPTS_HELP "  --bounce             do not register the volumes: copy "
	"every read through the bounce pool\n"
	"  --spin               busy-poll without yielding when idle (dedicated cores only)\n";

#define OOB_TIMEOUT_MS 2000

struct export_vol {
	const struct kelp_volume *vol;
	struct ibv_mr *mr; /* NULL: bounce */
	enum kelp_rdma_export_mode mode;
};

struct exporter {
	struct kelp_rdma_dev *dev;
	struct kelp_volume_set *set;
	struct export_vol *vols;
	size_t nvols;
};

/* Set by the signal handler only: the one piece of process-wide state, as signals require. */
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	stop_requested = 1;
}

static void warn_volume(void *arg, const char *msg)
{
	fprintf(stderr, "kelp-rdma serve: skipping a volume: %s\n", msg);
}

/* kelp_rdma_export_ops.find: the needle's bytes and the lkey that covers them. */
static int export_find(void *arg, const struct kelp_fid *fid, struct kelp_rdma_source *src)
{
	struct exporter *ex = arg;
	struct kelp_volume *vol;
	int ret = kelp_rdma_source_find(ex->set, fid, src, &vol);

	if (ret < 0)
		return ret;
	/* A handful of volumes per exporter: a linear scan is cheaper than hashing. */
	for (size_t i = 0; i < ex->nvols; i++) {
		struct ibv_mr *mr = ex->vols[i].mr;

		if (ex->vols[i].vol != vol || !mr)
			continue;
		/* The volume may have grown past what was registered: those needles bounce. */
		if (src->data >= (const uint8_t *)mr->addr &&
		    src->data + src->size <= (const uint8_t *)mr->addr + mr->length) {
			src->lkey = mr->lkey;
			src->use_bounce = false;
		}
		break;
	}
	return 0;
}

static void register_volumes(struct exporter *ex, bool bounce)
{
	size_t pinned = 0, odp = 0;

	ex->nvols = kelp_volume_set_count(ex->set);
	ex->vols = calloc(ex->nvols ? ex->nvols : 1, sizeof(*ex->vols));
	if (!ex->vols)
		tool_die("out of memory");
	for (size_t i = 0; i < ex->nvols; i++) {
		struct export_vol *ev = &ex->vols[i];

		ev->vol = kelp_volume_set_at(ex->set, i);
		ev->mode = KELP_RDMA_EXPORT_BOUNCE;
		if (bounce || kelp_volume_dat_size(ev->vol) == 0)
			continue;
		ev->mr = kelp_rdma_reg_export(ex->dev, kelp_volume_dat_map(ev->vol),
					      kelp_volume_dat_size(ev->vol), &ev->mode);
		if (!ev->mr)
			fprintf(stderr,
				"kelp-rdma serve: volume %u not registered (%s): reads use the "
				"bounce "
				"pool\n",
				kelp_volume_id(ev->vol), strerror(errno));
		pinned += ev->mode == KELP_RDMA_EXPORT_PINNED;
		odp += ev->mode == KELP_RDMA_EXPORT_ODP;
	}
	printf("kelp-rdma serve: %zu volume(s): %zu registered read-only, %zu ODP, %zu bounce\n",
	       ex->nvols, pinned, odp, ex->nvols - pinned - odp);
}

/* One pending handshake: reuse a DOWN exporter connection or make one, move it to RTS, answer. */
static void accept_one(int lfd, struct kelp_rdma_lcore *lc, struct kelp_rdma_conn **conns,
		       size_t *nconns, uint16_t credits)
{
	struct kelp_rdma_hello peer, ack;
	struct kelp_rdma_conn *c = NULL;
	int fd, ret;

	fd = kelp_rdma_oob_accept(lfd, &peer, OOB_TIMEOUT_MS);
	if (fd == -EAGAIN)
		return;
	if (fd < 0) {
		fprintf(stderr, "kelp-rdma serve: bad handshake: %s\n", strerror(-fd));
		return;
	}
	for (size_t i = 0; i < *nconns; i++) {
		if (kelp_rdma_conn_state(conns[i]) == KELP_RDMA_DOWN) {
			c = conns[i];
			break;
		}
	}
	int rc = -ENOSPC; /* every connection in use */
	if (!c && *nconns < KELP_RDMA_MAX_CONNS) {
		rc = kelp_rdma_conn_create(lc, KELP_RDMA_EXPORTER, credits, &c);
		if (!rc)
			conns[(*nconns)++] = c;
	}
	if (!c) {
		fprintf(stderr, "kelp-rdma serve: no connection for a reader: %s\n", strerror(-rc));
		close(fd);
		return;
	}
	ret = kelp_rdma_conn_establish(c, &peer, tool_now_ns());
	kelp_rdma_conn_hello(c, &ack);
	if (ret < 0)
		ack.status = kelp_rdma_errno_status(ret == -EPROTONOSUPPORT ? ret : -EBUSY);
	ret = kelp_rdma_oob_answer(fd, &ack, OOB_TIMEOUT_MS) < 0 ? -EPIPE : ret;
	if (ret < 0) {
		fprintf(stderr, "kelp-rdma serve: handshake with QP %u failed: %s\n", peer.qpn,
			strerror(-ret));
		if (kelp_rdma_conn_state(c) == KELP_RDMA_UP)
			kelp_rdma_conn_failed(c, tool_now_ns());
		return;
	}
	printf("kelp-rdma serve: reader QP %u connected (%u credits)\n", peer.qpn,
	       kelp_rdma_conn_credits(c));
	fflush(stdout);
}

int cmd_serve(int argc, char **argv)
{
	struct tool_opts o = {.dev = {.device = "auto", .gid_index = -1}, .credits = 32};
	/* small replies inline, as kelpd's default [rdma] inline_max */
	struct kelp_rdma_lcore_config lcfg = {.inline_max = KELP_DEFAULT_RDMA_INLINE_MAX};
	struct kelp_rdma_conn **conns;
	struct kelp_rdma_done done[KELP_RDMA_POLL_BATCH];
	struct exporter ex = {0};
	struct kelp_rdma_lcore *lc;
	const char **dirs;
	size_t ndirs = 0, nconns = 0;
	bool bounce = false, spin = false;
	char err[256];
	int lfd, ret;

	dirs = calloc((size_t)argc, sizeof(*dirs));
	conns = calloc(KELP_RDMA_MAX_CONNS, sizeof(*conns));
	if (!dirs || !conns)
		tool_die("out of memory");
	for (int i = 1; i < argc; i++) {
		int r = tool_common_opt(&o, argc, argv, &i);

		if (r < 0)
			return 2;
		if (r > 0)
			continue;
		if (!strcmp(argv[i], "--help")) {
			fputs(serve_usage, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--bounce")) {
			bounce = true;
		} else if (!strcmp(argv[i], "--spin")) {
			spin = true;
		} else if (argv[i][0] == '-') {
			tool_die("serve: unknown option '%s'\n%s", argv[i], serve_usage);
		} else {
			dirs[ndirs++] = argv[i];
		}
	}
	if (!o.addr || ndirs == 0)
		tool_die("serve: need --listen ADDR:PORT and at least one DIR\n%s", serve_usage);

	if (kelp_rdma_dev_open(&kelp_verbs_real, &o.dev, err, sizeof(err), &ex.dev))
		tool_die("serve: %s", err);
	ret = kelp_volume_set_open(dirs, ndirs, warn_volume, NULL, &ex.set);
	if (ret < 0)
		tool_die("serve: cannot open the volumes: %s", strerror(-ret));
	register_volumes(&ex, bounce);

	lcfg.bounce_slots = 64;
	ret = kelp_rdma_lcore_create(
		ex.dev, &lcfg,
		&(struct kelp_rdma_export_ops){
			.find = export_find, .faulted = kelp_rdma_source_faulted, .arg = &ex},
		&lc);
	if (ret)
		tool_die("serve: cannot set up RDMA on %s: %s", ex.dev->name, strerror(-ret));
	lfd = kelp_rdma_oob_listen(o.addr, o.port);
	if (lfd < 0)
		tool_die("serve: cannot listen on %s:%u: %s", o.addr, o.port, strerror(-lfd));
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	printf("kelp-rdma serve: device %s port %u gid index %d, listening on %s:%u\n",
	       ex.dev->name, ex.dev->port, ex.dev->gid_index, o.addr, o.port);
	fflush(stdout);

	/* The loop of an export lcore: handshakes are rare, so they share the thread here. */
	for (unsigned long it = 0; !stop_requested; it++) {
		uint64_t busy_before = kelp_rdma_lcore_stats(lc)->polls_busy;

		if ((it & 255) == 0)
			accept_one(lfd, lc, conns, &nconns, o.credits);
		ret = kelp_rdma_lcore_poll(lc, done, KELP_RDMA_POLL_BATCH);
		if (ret < 0)
			tool_die("serve: polling the CQ failed: %s", strerror(-ret));
		/* Idle polls yield the CPU unless --spin: on a shared machine (and in the TCG test
		 * VM, where rxe's packet processing needs the same vCPUs) spinning starves the
		 * transport. */
		if (!spin && kelp_rdma_lcore_stats(lc)->polls_busy == busy_before)
			sched_yield();
	}

	struct kelp_rdma_conn_stats sum = {0};
	for (size_t i = 0; i < nconns; i++) {
		const struct kelp_rdma_conn_stats *s = kelp_rdma_conn_stats(conns[i]);

		sum.requests += s->requests;
		sum.replies += s->replies;
		sum.bytes += s->bytes;
		sum.errors += s->errors;
		sum.resets += s->resets;
		sum.bounced += s->bounced;
		sum.inlined += s->inlined;
	}
	printf("kelp-rdma serve: connections %zu requests %lu replies %lu bytes %lu bounced %lu "
	       "inlined %lu errors %lu resets %lu\n",
	       nconns, sum.requests, sum.replies, sum.bytes, sum.bounced, sum.inlined, sum.errors,
	       sum.resets);
	close(lfd);
	ret = kelp_rdma_lcore_destroy(lc);
	for (size_t i = 0; i < ex.nvols; i++)
		if (kelp_rdma_dereg(ex.dev, ex.vols[i].mr, "volume") < 0)
			ret = -EIO;
	if (kelp_rdma_dev_close(ex.dev) < 0)
		ret = -EIO;
	kelp_volume_set_close(ex.set);
	free(ex.vols);
	free(conns);
	free(dirs);
	return ret < 0 ? 1 : 0;
}
