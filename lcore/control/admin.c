/* SPDX-License-Identifier: Apache-2.0 */
/* kelpctl's commands, answered on the control thread (protocol and fields: lcore/control/admin.h).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/histogram.h"
#include "lcore/control/admin.h"
#include "lcore/control/control_priv.h"
#include "lcore/cluster/discovery.h"
#include "lcore/control/filer_req.h"
#include "lcore/control/remote_read.h"
#include "lcore/engine.h"
#include "lcore/worker/lcore.h"
#include "lcore/rdma/rdma_export.h"
#include "lcore/tcp/tcp_export.h"
#include "lcore/tcp/tcp_reader.h"
#include "lcore/rdma/rdma_reader.h"
#include "nic/conn.h"

/* JSON names of the counters of lcore.h's tables, in index order. */
#define ERR_NAME_(kind, name) [KELP_ERR_##kind] = #name,
static const char *const err_names[KELP_ERR_KINDS] = {KELP_LCORE_ERR_KINDS(ERR_NAME_)};
#undef ERR_NAME_
#define PATH_NAME_(path, name) [KELP_CQE_PATH_##path] = #name,
static const char *const path_names[KELP_PATHS] = {KELP_LCORE_PATHS(PATH_NAME_)};
#undef PATH_NAME_
static_assert(KELP_CQE_PATH_MASK + 1 == KELP_PATHS, "one by_path counter per CQE path");

/* Add @src's counters into @dst, read with relaxed loads (the lcore writes them meanwhile). */
static void stats_snapshot(const struct kelp_lcore_stats *src, struct kelp_lcore_stats *dst)
{
#define SNAP_(field) dst->field += __atomic_load_n(&src->field, __ATOMIC_RELAXED);
	KELP_LCORE_COUNTERS(SNAP_)
#undef SNAP_
	for (int i = 0; i < KELP_ERR_KINDS; i++)
		dst->errors[i] += __atomic_load_n(&src->errors[i], __ATOMIC_RELAXED);
	for (int i = 0; i < KELP_PATHS; i++)
		dst->by_path[i] += __atomic_load_n(&src->by_path[i], __ATOMIC_RELAXED);
}

static json_t *stats_json(const struct kelp_lcore_stats *st)
{
	json_t *o = json_object();
#define JSON_(field) json_object_set_new(o, #field, json_integer((json_int_t)st->field));
	KELP_LCORE_COUNTERS(JSON_)
#undef JSON_
	json_t *e = json_object();
	for (int i = 0; i < KELP_ERR_KINDS; i++)
		json_object_set_new(e, err_names[i], json_integer((json_int_t)st->errors[i]));
	json_object_set_new(o, "errors", e);
	json_t *p = json_object();
	for (int i = 0; i < KELP_PATHS; i++)
		json_object_set_new(p, path_names[i], json_integer((json_int_t)st->by_path[i]));
	json_object_set_new(o, "by_path", p);
	return o;
}

void kelp_ctl_latency(struct kelp_control *ctl, unsigned path, struct kelp_hist *out)
{
	kelp_hist_init(out);
	for (unsigned i = 0; i < ctl->eng->n_lcores; i++)
		if (ctl->eng->lcores[i].latency)
			kelp_hist_merge_shared(out, &ctl->eng->lcores[i].latency[path]);
}

/* "latency_us": {"local": {"count", "p50", "p90", "p99", "p999", "max", "mean"}, "rdma", "http"}
 * over every lcore since start (successful completions; lcore.h). NULL when out of memory. */
static json_t *latency_json(struct kelp_control *ctl)
{
	struct kelp_hist *h = malloc(sizeof(*h)); /* 59 KiB: not on the control thread's stack */
	json_t *o = json_object();
	if (!h || !o) {
		free(h);
		json_decref(o);
		return NULL;
	}
	for (unsigned p = 0; p < KELP_PATHS; p++) {
		if (p == KELP_CQE_PATH_NONE)
			continue; /* NOPs and STATs answered without a read: no path */
		kelp_ctl_latency(ctl, p, h);
		json_object_set_new(
			o, path_names[p],
			json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:f}", "count",
				  (json_int_t)h->count, "p50", kelp_hist_percentile(h, 50) / 1e3,
				  "p90", kelp_hist_percentile(h, 90) / 1e3, "p99",
				  kelp_hist_percentile(h, 99) / 1e3, "p999",
				  kelp_hist_percentile(h, 99.9) / 1e3, "max",
				  (h->count ? h->max : 0) / 1e3, "mean", kelp_hist_mean(h) / 1e3));
	}
	free(h);
	return o;
}

/* The RDMA export's counters ([rdma] listen), or NULL when this kelpd does not export. */
static json_t *export_json(struct kelp_control *ctl)
{
	struct kelp_rdma_export_stats st;

	if (!ctl->eng->rdma_export)
		return NULL;
	kelp_rdma_export_stats(ctl->eng->rdma_export, &st);
	json_t *o =
		json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			  "connections", (json_int_t)st.connections, "handshake_errors",
			  (json_int_t)st.handshake_errors, "requests", (json_int_t)st.requests,
			  "replies", (json_int_t)st.replies, "bytes", (json_int_t)st.bytes,
			  "bounced", (json_int_t)st.bounced, "errors", (json_int_t)st.errors,
			  "resets", (json_int_t)st.resets, "too_large", (json_int_t)st.too_large,
			  "up", (json_int_t)st.up, "replaced", (json_int_t)st.replaced, "inlined",
			  (json_int_t)st.inlined, "probes", (json_int_t)st.probes, "idle_resets",
			  (json_int_t)st.idle_resets);
	if (o) { /* the QP counters (nic/conn.h): a reset gives a connection a new QP */
		json_object_set_new(o, "new_qps", json_integer((json_int_t)st.new_qps));
		json_object_set_new(o, "stale_cqes", json_integer((json_int_t)st.stale_cqes));
		json_object_set_new(o, "unknown_cqes", json_integer((json_int_t)st.unknown_cqes));
	}
	return o;
}

static json_t *cmd_status(struct kelp_control *ctl)
{
	struct kelp_engine *eng = ctl->eng;
	return json_pack("{s:i, s:i, s:f, s:s, s:i, s:i, s:i}", "pid", (int)getpid(), "abi_version",
			 (int)KELP_ABI_VERSION, "uptime_s",
			 (double)(kelp_now_ns() - eng->start_ns) / 1e9, "socket",
			 eng->conf.engine.socket, "lcores", (int)eng->n_lcores, "sessions",
			 (int)ctl->n_sessions, "volumes", (int)kelp_volume_set_count(eng->volumes));
}

static json_t *cmd_stats(struct kelp_control *ctl)
{
	struct kelp_engine *eng = ctl->eng;
	struct kelp_lcore_stats total = {0};
	json_t *arr = json_array();
	for (unsigned i = 0; i < eng->n_lcores; i++) {
		struct kelp_lcore *lc = &eng->lcores[i];
		struct kelp_lcore_stats st = {0};
		stats_snapshot(&lc->stats, &st);
		stats_snapshot(&st, &total);
		json_t *o = stats_json(&st);
		json_object_set_new(o, "id", json_integer(lc->id));
		json_object_set_new(o, "cpu", json_integer(lc->cpu));
		json_object_set_new(o, "numa_node", json_integer(lc->numa_node));
		json_object_set_new(o, "sessions", json_integer(lc->ctl_sessions));
		json_array_append_new(arr, o);
	}
	json_t *r = json_pack("{s:o, s:o}", "lcores", arr, "total", stats_json(&total));
	json_t *lat = latency_json(ctl);
	if (r && lat)
		json_object_set_new(r, "latency_us", lat);
	json_t *remote = kelp_ctl_remote_stats(ctl); /* HTTP fallback counters, when configured */
	if (r && remote)
		json_object_set_new(r, "http_fallback", remote);
	json_t *filer = kelp_ctl_filer_stats(ctl); /* files by path, when configured */
	if (r && filer)
		json_object_set_new(r, "filer", filer);
	json_t *ex = export_json(ctl);
	if (r && ex)
		json_object_set_new(r, "rdma_export", ex);
	return r;
}

static const char *state_name(int state)
{
	switch (state) {
	case KELP_RDMA_DOWN:
		return "down";
	case KELP_RDMA_CONNECTING:
		return "connecting";
	case KELP_RDMA_UP:
		return "up";
	default:
		return "?";
	}
}

/* The TCP side of `kelpctl peers`: every reader connection (lcore x peer) and the export. */
static json_t *tcp_json(struct kelp_engine *eng)
{
	struct kelp_tcp_peer_info *info = calloc(KELP_TCP_READER_MAX_PEERS, sizeof(*info));
	json_t *arr = json_array();

	for (unsigned i = 0; info && i < eng->n_lcores; i++) {
		const struct kelp_tcp_reader *rd = eng->lcores[i].tcp_reader;
		size_t n = rd ? kelp_tcp_reader_peers(rd, info, KELP_TCP_READER_MAX_PEERS) : 0;

		for (size_t j = 0; j < n; j++) {
			const struct kelp_tcp_peer_info *p = &info[j];
			json_array_append_new(
				arr,
				json_pack("{s:s, s:s, s:i, s:s, s:i, s:I, s:I, s:I, s:I, s:I, "
					  "s:I, s:I, s:I, s:s}",
					  "addr", p->addr, "volume_server", p->vs, "lcore",
					  (int)p->lcore, "state", kelp_tcp_state_name(p->state),
					  "in_flight", (int)p->in_flight, "requests",
					  (json_int_t)p->requests, "replies",
					  (json_int_t)p->replies, "bytes", (json_int_t)p->bytes,
					  "errors", (json_int_t)p->errors, "resets",
					  (json_int_t)p->resets, "fallbacks",
					  (json_int_t)p->fallbacks, "bypassed",
					  (json_int_t)p->bypassed, "connects",
					  (json_int_t)p->connects, "last_error",
					  p->last_error ? strerror(-p->last_error) : ""));
		}
	}
	free(info);
	json_t *t =
		json_pack("{s:b, s:o}", "reader", eng->lcores[0].tcp_reader != NULL, "peers", arr);
	if (t && eng->tcp_export) {
		struct kelp_tcp_export_stats s;
		kelp_tcp_export_stats(eng->tcp_export, &s);
		json_object_set_new(
			t, "export",
			json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "listen",
				  eng->conf.peer.tcp_listen, "connections",
				  (json_int_t)s.connections, "refused", (json_int_t)s.refused, "up",
				  (json_int_t)s.up, "requests", (json_int_t)s.requests, "replies",
				  (json_int_t)s.replies, "bytes", (json_int_t)s.bytes, "malformed",
				  (json_int_t)s.errors, "too_large", (json_int_t)s.too_large,
				  "idle_closed", (json_int_t)s.idle_closed));
	}
	return t;
}

static json_t *cmd_peers(struct kelp_control *ctl)
{
	struct kelp_engine *eng = ctl->eng;
	struct kelp_rdma_peer_info *info = calloc(KELP_RDMA_READER_MAX_PEERS, sizeof(*info));
	json_t *arr = json_array();

	for (unsigned i = 0; info && i < eng->n_lcores; i++) {
		const struct kelp_rdma_reader *rd = eng->lcores[i].rdma_reader;
		size_t n = rd ? kelp_rdma_reader_peers(rd, info, KELP_RDMA_READER_MAX_PEERS) : 0;

		for (size_t j = 0; j < n; j++) {
			const struct kelp_rdma_peer_info *p = &info[j];
			json_array_append_new(
				arr,
				json_pack("{s:s, s:s, s:i, s:s, s:i, s:i, s:I, s:I, s:I, s:I, s:I, "
					  "s:I, s:I, s:I, s:I, s:I}",
					  "addr", p->addr, "volume_server", p->vs, "lcore",
					  (int)p->lcore, "state", state_name(p->state), "in_flight",
					  (int)p->in_flight, "credits", (int)p->credits, "requests",
					  (json_int_t)p->requests, "replies",
					  (json_int_t)p->replies, "errors", (json_int_t)p->errors,
					  "resets", (json_int_t)p->resets, "fallbacks",
					  (json_int_t)p->fallbacks, "bypassed",
					  (json_int_t)p->bypassed, "handshakes",
					  (json_int_t)p->connects, "one_sided",
					  (json_int_t)p->one_sided, "one_sided_fallbacks",
					  (json_int_t)p->one_sided_fallbacks, "retry_in_ms",
					  (json_int_t)(p->state == KELP_RDMA_DOWN &&
								       p->retry_in_ms > 0
							       ? p->retry_in_ms
							       : 0)));
			/* the QP counters (nic/conn.h); the CQ's are the lcore's, all its peers' */
			json_t *row = json_array_get(arr, json_array_size(arr) - 1);
			json_object_set_new(row, "qpn", json_integer((json_int_t)p->qpn));
			json_object_set_new(row, "new_qps", json_integer((json_int_t)p->new_qps));
			json_object_set_new(row, "stale_cqes",
					    json_integer((json_int_t)p->stale_cqes));
			json_object_set_new(row, "unknown_cqes",
					    json_integer((json_int_t)p->unknown_cqes));
		}
	}
	free(info);
	json_t *r = json_pack("{s:b, s:s, s:o}", "reader", eng->lcores[0].rdma_reader != NULL,
			      "device", eng->rdma_dev ? eng->rdma_dev->name : "", "peers", arr);
	json_t *ex = export_json(ctl);
	if (r && ex)
		json_object_set_new(r, "export", ex);
	if (r)
		json_object_set_new(r, "tcp", tcp_json(eng));
	return r;
}

static json_t *cmd_sessions(struct kelp_control *ctl)
{
	json_t *arr = json_array();
	uint64_t now = kelp_now_ns();
	for (struct lcore_session *s = ctl->sessions; s; s = s->ctl_next) {
		const char *state = "live";
		uint32_t st = __atomic_load_n(&s->hdr->state, __ATOMIC_ACQUIRE);
		if (st == KELP_SEG_BROKEN)
			state = "broken";
		else if (s->conn && ((struct ctl_conn *)s->conn)->state == CONN_SESSION_GONE)
			state = "closing";
		json_array_append_new(
			arr,
			json_pack(
				"{s:I, s:i, s:i, s:i, s:i, s:i, s:I, s:b, s:I, s:I, s:I, s:f, s:s}",
				"id", (json_int_t)s->id, "pid", (int)s->pid, "uid", (int)s->uid,
				"gid", (int)s->gid, "lcore", (int)s->lcore_id, "sq_entries",
				(int)s->hdr->sq_entries, "arena_bytes", (json_int_t)s->arena_size,
				"hugepages", (int)s->hdr->hugepages, "requests",
				(json_int_t)KELP_STAT_READ(s->stats.requests), "bytes",
				(json_int_t)KELP_STAT_READ(s->stats.bytes), "errors",
				(json_int_t)KELP_STAT_READ(s->stats.errors), "age_s",
				(double)(now - s->created_ns) / 1e9, "state", state));
	}
	return json_pack("{s:o}", "sessions", arr);
}

static json_t *cmd_volumes(struct kelp_control *ctl)
{
	json_t *arr = json_array();
	const struct kelp_volume_set *set = ctl->eng->volumes;
	for (size_t i = 0; i < kelp_volume_set_count(set); i++) {
		const struct kelp_volume *v = kelp_volume_set_at(set, i);
		json_array_append_new(arr, json_pack("{s:I, s:I}", "id",
						     (json_int_t)kelp_volume_id(v), "live_needles",
						     (json_int_t)kelp_volume_live_count(v)));
	}
	/* volumes known from the masters (HTTP fallback), read like an lcore would: lock-free */
	json_t *remote = json_array();
	const struct kelp_loc_table *t = kelp_loc_table_load(&ctl->eng->locations);
	for (uint32_t i = 0; t && i < t->count; i++) {
		json_t *urls = json_array();
		for (uint32_t j = 0; j < t->vols[i].count; j++)
			json_array_append_new(urls, json_string(t->vols[i].url[j]));
		json_array_append_new(remote,
				      json_pack("{s:I, s:o}", "id", (json_int_t)t->vols[i].vid,
						"locations", urls));
	}
	return json_pack("{s:o, s:o}", "volumes", arr, "remote", remote);
}

/* Volume servers read over HTTP and their health (lcore/cluster/replica_health.h). */
static json_t *cmd_replicas(struct kelp_control *ctl)
{
	json_t *r = kelp_ctl_remote_replicas(ctl);
	return r ? r : json_pack("{s:i, s:[]}", "hedge_ms", 0, "replicas");
}

char *kelp_admin_reply(struct kelp_control *ctl, const char *line, int admin)
{
	while (*line == ' ' || *line == '\t')
		line++;
	json_t *reply;
	if (strcmp(line, "status") == 0)
		reply = cmd_status(ctl);
	else if (strcmp(line, "stats") == 0)
		reply = cmd_stats(ctl);
	else if (strcmp(line, "sessions") == 0 && !admin)
		/* every client's pid and uid: not for any user that may open a session */
		reply = json_pack("{s:s}", "error",
				  "sessions: only root, kelpd's own user or a member of [engine] "
				  "admin_gids may list the sessions of every client");
	else if (strcmp(line, "sessions") == 0)
		reply = cmd_sessions(ctl);
	else if (strcmp(line, "volumes") == 0)
		reply = cmd_volumes(ctl);
	else if (strcmp(line, "peers") == 0)
		reply = cmd_peers(ctl);
	else if (strcmp(line, "replicas") == 0)
		reply = cmd_replicas(ctl);
	else
		reply = json_pack("{s:s}", "error",
				  "unknown command; commands: status, stats, "
				  "sessions, volumes, peers, replicas");
	if (!reply)
		return NULL;
	char *text = json_dumps(reply, JSON_COMPACT);
	json_decref(reply);
	if (!text)
		return NULL;
	size_t n = strlen(text);
	char *out = realloc(text, n + 2);
	if (!out) {
		free(text);
		return NULL;
	}
	out[n] = '\n';
	out[n + 1] = '\0';
	return out;
}
