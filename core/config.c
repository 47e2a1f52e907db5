/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Table-driven configuration on top of inih. See config.h for how to add a key.
 *
 * Line numbers: Debian's inih calls the handler without them, so the file is read through
 * ini_parse_stream() with our own line reader, which counts lines (the handler runs for the line
 * just read) and also spots section headers, so an unknown empty section is reported too.
 */
#include "core/config.h"
#include "core/cidr.h"
#include "core/fpath.h"
#include "core/hostport.h"

#include <errno.h>
#include <grp.h>
#include <ini.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- validators --------------------------------------------------------------------------- */

/* "host:port" as the daemon will parse it (core/hostport.h): one parser for both. */
static int check_host_port(const char *s, char *why, size_t n)
{
	return kelp_parse_host_port(s, NULL, 0, NULL, why, n);
}

/* [filer] path: a filer path as libkelp accepts one (core/fpath.h) */
static int check_filer_path(const char *s, char *why, size_t n)
{
	int rc = kelp_fpath_check(s, strlen(s));
	if (rc)
		snprintf(why, n,
			 "'%s' is not an absolute filer path (\"/\" or \"/dir/sub\": no trailing "
			 "\"/\", no \".\", \"..\" or \"//\")",
			 s);
	return rc;
}

static int check_host_port_or_empty(const char *s, char *why, size_t n)
{
	return *s ? check_host_port(s, why, n) : 0;
}

/* "volume_server_host:port=rdma_host:port" */
static int check_peer(const char *s, char *why, size_t n)
{
	const char *eq = strchr(s, '=');
	if (!eq) {
		snprintf(why, n, "'%s' is not volume_server=rdma_host:port", s);
		return -EINVAL;
	}
	char left[256];
	size_t l = (size_t)(eq - s);
	if (l == 0 || l >= sizeof(left)) {
		snprintf(why, n, "'%s': the volume server before '=' is missing or too long", s);
		return -EINVAL;
	}
	memcpy(left, s, l);
	left[l] = '\0';
	int rc = check_host_port(left, why, n);
	return rc ? rc : check_host_port(eq + 1, why, n);
}

static int check_transport(const char *s, char *why, size_t n)
{
	if (strcmp(s, "rdma") && strcmp(s, "tcp")) {
		snprintf(why, n, "'%s' is not a transport: write rdma, tcp or both (rdma,tcp)", s);
		return -EINVAL;
	}
	return 0;
}

static int check_secret(const char *s, char *why, size_t n)
{
	size_t l = strlen(s);
	if (l && (l < 16 || l > 255)) {
		snprintf(why, n,
			 "the secret must be 16..255 characters (e.g. openssl rand -hex 32)");
		return -EINVAL;
	}
	return 0;
}

static int check_socket_path(const char *s, char *why, size_t n)
{
	if (!*s || strlen(s) >= 108) { /* sizeof(sun_path) */
		snprintf(why, n, "socket path must be 1..107 characters");
		return -EINVAL;
	}
	return 0;
}

static int check_cidr(const char *s, char *why, size_t n)
{
	struct kelp_cidr c;
	if (kelp_cidr_parse(s, &c) != 0) {
		snprintf(why, n, "'%s' is not an address/prefix (e.g. 10.0.0.0/8, ::1/128)", s);
		return -EINVAL;
	}
	return 0;
}

static int check_dir(const char *s, char *why, size_t n)
{
	if (s[0] != '/') {
		snprintf(why, n, "'%s': use an absolute path", s);
		return -EINVAL;
	}
	return 0;
}

static int check_power_of_two(const char *s, char *why, size_t n)
{
	unsigned long long v = strtoull(s, NULL, 10);
	if (v & (v - 1)) {
		snprintf(why, n, "'%s' is not a power of two", s);
		return -EINVAL;
	}
	return 0;
}

_Static_assert(sizeof(enum kelp_hugepages) == sizeof(int), "ENUM fields are stored as int");

static const char *const hugepages_names[] = {"auto", "on", "off", NULL};

_Static_assert(sizeof(enum kelp_volume_address) == sizeof(int), "ENUM fields are stored as int");

static const char *const volume_address_names[] = {"url", "public_url", NULL};

_Static_assert(sizeof(enum kelp_log_level) == sizeof(int), "ENUM fields are stored as int");
_Static_assert(sizeof(enum kelp_log_target) == sizeof(int), "ENUM fields are stored as int");

/* in the order of enum kelp_log_level / kelp_log_target (core/log.h) */
static const char *const log_level_names[] = {"error", "warn", "info", "debug", NULL};
static const char *const log_target_names[] = {"stderr", "syslog", NULL};
_Static_assert(KELP_LOG_DEBUG == 3 && KELP_LOG_TARGET_SYSLOG == 1, "keep the names in order");

/* ---- the table ---------------------------------------------------------------------------- */

#define F(field) offsetof(struct kelp_config, field)

/* one key per row group, its fields kept together (clang-format would put one field per line) */
/* clang-format off */
static const struct kelp_conf_key config_keys[] = {
	{.section = "engine", .key = "lcores", .type = KELP_CONF_CPU_LIST,
	 .offset = F(engine.lcores), .def = "1",
	 .doc = "CPUs of the worker lcores, e.g. 1 or 1,3 or 2-3"},
	{.section = "engine", .key = "control_cpu", .type = KELP_CONF_INT,
	 .offset = F(engine.control_cpu), .def = "0",
	 .doc = "CPU of the control thread; -1 = not pinned", .min = -1,
	 .max = KELP_CONF_MAX_CPUS - 1},
	{.section = "engine", .key = "socket", .type = KELP_CONF_STRING,
	 .offset = F(engine.socket), .def = "/run/kelp/kelpd.sock",
	 .doc = "Unix socket where clients open sessions", .validate = check_socket_path},
	{.section = "engine", .key = "allow_uids", .type = KELP_CONF_ID_LIST,
	 .offset = F(engine.allow_uids), .def = "",
	 .doc = "users (names or numbers) allowed besides kelpd's own uid", .groups = false},
	{.section = "engine", .key = "allow_gids", .type = KELP_CONF_ID_LIST,
	 .offset = F(engine.allow_gids), .def = "",
	 .doc = "groups (names or numbers) whose members are allowed (primary or supplementary)",
	 .groups = true},
	{.section = "engine", .key = "admin_gids", .type = KELP_CONF_ID_LIST,
	 .offset = F(engine.admin_gids), .def = "",
	 .doc = "groups whose members may list every session (kelpctl sessions) and use kelpctl",
	 .groups = true},
	{.section = "engine", .key = "dumpable", .type = KELP_CONF_BOOL,
	 .offset = F(engine.dumpable), .def = "false",
	 .doc = "let kelpd dump core and be traced by its own user (exposes every session's "
		"memory)"},
	{.section = "engine", .key = "idle_park_us", .type = KELP_CONF_UINT,
	 .offset = F(engine.idle_park_us), .def = "200",
	 .doc = "park an idle lcore after this many microseconds (adaptive, up to 16x); 0 = never "
		"(a dedicated core)", .min = 0,
	 .max = UINT32_MAX},
	{.section = "engine", .key = "idle_yield", .type = KELP_CONF_BOOL,
	 .offset = F(engine.idle_yield), .def = "false",
	 .doc = "an idle lcore yields its CPU between polls (shared or oversubscribed CPUs)"},
	{.section = "engine", .key = "log_level", .type = KELP_CONF_ENUM,
	 .offset = F(engine.log_level), .def = "info",
	 .doc = "lines logged: error, warn, info (state changes) or debug (also single sessions)",
	 .enum_names = log_level_names},
	{.section = "engine", .key = "log_target", .type = KELP_CONF_ENUM,
	 .offset = F(engine.log_target), .def = "stderr",
	 .doc = "where log lines go: stderr (journald under systemd) or syslog",
	 .enum_names = log_target_names},
	{.section = "engine", .key = "arena_mb", .type = KELP_CONF_UINT,
	 .offset = F(engine.arena_mb), .def = "64", .doc = "buffer arena per session, MiB",
	 .min = 1, .max = 65536},
	{.section = "engine", .key = "arena_populate_mb", .type = KELP_CONF_UINT,
	 .offset = F(engine.arena_populate_mb), .def = "8",
	 .doc = "MiB of each session's arena allocated when it opens (the rest on first use)",
	 .min = 0, .max = 65536},
	{.section = "engine", .key = "hugepages", .type = KELP_CONF_ENUM,
	 .offset = F(engine.hugepages), .def = "auto",
	 .doc = "back session memory with huge pages: auto, on, off",
	 .enum_names = hugepages_names},
	{.section = "engine", .key = "queue_depth", .type = KELP_CONF_UINT,
	 .offset = F(engine.queue_depth), .def = "1024",
	 .doc = "entries per session ring (a power of two)", .min = 2, .max = KELP_MAX_QUEUE_DEPTH,
	 .validate = check_power_of_two},
	{.section = "engine", .key = "max_sessions", .type = KELP_CONF_UINT,
	 .offset = F(engine.max_sessions), .def = "64",
	 .doc = "client sessions at most (each holds arena_mb of memory)", .min = 1, .max = 65536},
	{.section = "export", .key = "dirs", .type = KELP_CONF_STR_LIST,
	 .offset = F(export.dirs), .def = "",
	 .doc = "volume directories served locally (absolute paths)", .validate = check_dir},
	{.section = "seaweedfs", .key = "master", .type = KELP_CONF_STR_LIST,
	 .offset = F(seaweedfs.master), .def = "",
	 .doc = "master host:port list, in failover order; empty = local volumes only",
	 .validate = check_host_port},
	{.section = "seaweedfs", .key = "data_center", .type = KELP_CONF_STRING,
	 .offset = F(seaweedfs.data_center), .def = "",
	 .doc = "this host's data center: replicas there are tried first"},
	{.section = "seaweedfs", .key = "jwt_read_key", .type = KELP_CONF_STRING,
	 .offset = F(seaweedfs.jwt_read_key), .def = "",
	 .doc = "jwt.signing.read.key of the cluster; empty = no read tokens"},
	{.section = "seaweedfs", .key = "lookup_ttl_s", .type = KELP_CONF_UINT,
	 .offset = F(seaweedfs.lookup_ttl_s), .def = KELP_XSTR(KELP_DEFAULT_LOOKUP_TTL_S),
	 .doc = "seconds a volume location is cached", .min = 1, .max = 86400 * 7},
	{.section = "seaweedfs", .key = "http_timeout_ms", .type = KELP_CONF_UINT,
	 .offset = F(seaweedfs.http_timeout_ms), .def = "5000",
	 .doc = "timeout of one HTTP request to a master or volume server",
	 .min = 1, .max = 600000},
	{.section = "seaweedfs", .key = "hedge_percent", .type = KELP_CONF_UINT,
	 .offset = F(seaweedfs.hedge_percent), .def = "10",
	 .doc = "a read with no answer after this % of http_timeout_ms goes to the next replica "
		"too; 0 = never",
	 .min = 0, .max = 100},
	{.section = "seaweedfs", .key = "force_http", .type = KELP_CONF_BOOL,
	 .offset = F(seaweedfs.force_http), .def = "false",
	 .doc = "serve every read over HTTP even when local or RDMA could (tests)"},
	{.section = "seaweedfs", .key = "volume_address", .type = KELP_CONF_ENUM,
	 .offset = F(seaweedfs.volume_address), .def = "url",
	 .doc = "volume server address used from the master's answer: url or public_url",
	 .enum_names = volume_address_names},
	{.section = "rdma", .key = "device", .type = KELP_CONF_STRING,
	 .offset = F(rdma.device), .def = "auto",
	 .doc = "RDMA device name, auto (first active port) or off"},
	{.section = "rdma", .key = "port", .type = KELP_CONF_UINT,
	 .offset = F(rdma.port), .def = "1", .doc = "port number on the device", .min = 1,
	 .max = 255},
	{.section = "rdma", .key = "gid_index", .type = KELP_CONF_INT,
	 .offset = F(rdma.gid_index), .def = "-1",
	 .doc = "GID table index (RoCE); -1 = pick a RoCE v2 IPv4 GID", .min = -1, .max = 255},
	{.section = "rdma", .key = "listen", .type = KELP_CONF_STRING,
	 .offset = F(rdma.listen), .def = "",
	 .doc = "host:port to accept RDMA reads from other kelpd; empty = off",
	 .validate = check_host_port_or_empty},
	{.section = "rdma", .key = "peer_port", .type = KELP_CONF_UINT,
	 .offset = F(rdma.peer_port), .def = "18515",
	 .doc = "port of the kelpd beside a volume server not listed in peers", .min = 1,
	 .max = 65535},
	{.section = "rdma", .key = "request_timeout_ms", .type = KELP_CONF_UINT,
	 .offset = F(rdma.request_timeout_ms), .def = KELP_XSTR(KELP_DEFAULT_RDMA_REQUEST_TIMEOUT_MS),
	 .doc = "reader: no reply for this long fails the connection; its reads go to HTTP",
	 .min = 10, .max = 600000},
	{.section = "rdma", .key = "one_sided", .type = KELP_CONF_BOOL,
	 .offset = F(rdma.one_sided), .def = "true",
	 .doc = "reader: read whole needles with one RDMA READ, checked by the reader (exports "
		"that offer it); false = two-sided requests only"},
	{.section = "rdma", .key = "export_park", .type = KELP_CONF_BOOL,
	 .offset = F(rdma.export_park), .def = "true",
	 .doc = "export: its lcore parks when idle like the others (idle_park_us; a request's "
		"completion event wakes it); false = it polls without pause (a core always busy)"},
	{.section = "rdma", .key = "export_max_read_mb", .type = KELP_CONF_UINT,
	 .offset = F(rdma.export_max_read_mb), .def = KELP_XSTR(KELP_DEFAULT_EXPORT_MAX_READ_MB),
	 .doc = "export: largest read served over RDMA (MiB, copied in 1 MiB pieces); larger: HTTP",
	 .min = 1, .max = KELP_CONF_RDMA_EXPORT_POOL_MB},
	{.section = "rdma", .key = "inline_max", .type = KELP_CONF_UINT,
	 .offset = F(rdma.inline_max), .def = KELP_XSTR(KELP_DEFAULT_RDMA_INLINE_MAX),
	 .doc = "reads of up to this many bytes come back inside the reply message, no RDMA WRITE "
		"(both sides: the smaller wins); 0 = never",
	 .min = 0, .max = KELP_CONF_RDMA_INLINE_LIMIT},
	{.section = "rdma", .key = "peers", .type = KELP_CONF_STR_LIST,
	 .offset = F(rdma.peers), .def = "",
	 .doc = "volume_server=rdma_host:port list of kelpd exporters", .validate = check_peer},
	{.section = "peer", .key = "transports", .type = KELP_CONF_STR_LIST,
	 .offset = F(peer.transports), .def = "rdma,tcp",
	 .doc = "how this kelpd reads from the kelpd beside a volume server, tried in this order "
		"before HTTP: rdma, tcp, both or none (empty)", .validate = check_transport},
	{.section = "peer", .key = "tcp_port", .type = KELP_CONF_UINT,
	 .offset = F(peer.tcp_port), .def = "18516",
	 .doc = "TCP port of the kelpd beside each volume server not in tcp_peers (its tcp_listen)",
	 .min = 1, .max = 65535},
	{.section = "peer", .key = "tcp_peers", .type = KELP_CONF_STR_LIST,
	 .offset = F(peer.tcp_peers), .def = "",
	 .doc = "volume_server=kelpd_host:port list: where a volume server's kelpd listens for TCP "
		"when not on its host at tcp_port", .validate = check_peer},
	{.section = "peer", .key = "tcp_listen", .type = KELP_CONF_STRING,
	 .offset = F(peer.tcp_listen), .def = "",
	 .doc = "host:port to serve this host's volumes to other kelpd over TCP; empty = off "
		"(needs secret or allow)", .validate = check_host_port_or_empty},
	{.section = "peer", .key = "secret", .type = KELP_CONF_STRING,
	 .offset = F(peer.secret), .def = "",
	 .doc = "shared secret of the kelpd of a cluster (16..255 characters): TCP peers prove it "
		"both ways (HMAC-SHA256); empty = none", .validate = check_secret},
	{.section = "peer", .key = "allow", .type = KELP_CONF_STR_LIST,
	 .offset = F(peer.allow), .def = "",
	 .doc = "reader addresses (CIDR list) the TCP export serves; empty = any that knows the "
		"secret", .validate = check_cidr},
	{.section = "peer", .key = "timeout_ms", .type = KELP_CONF_UINT,
	 .offset = F(peer.timeout_ms), .def = KELP_XSTR(KELP_DEFAULT_PEER_TIMEOUT_MS),
	 .doc = "TCP reader: a connection owing replies that sends nothing this long is closed "
		"(its reads go to HTTP)", .min = 10, .max = 600000},
	{.section = "peer", .key = "idle_timeout_s", .type = KELP_CONF_UINT,
	 .offset = F(peer.idle_timeout_s), .def = KELP_XSTR(KELP_DEFAULT_PEER_IDLE_TIMEOUT_S),
	 .doc = "export: a reader connection with nothing in flight that sent no request this long "
		"is checked (RDMA: keepalive, reset if the reader is gone; TCP: closed); 0 = never",
	 .min = 0, .max = 86400},
	{.section = "http", .key = "listen", .type = KELP_CONF_STRING,
	 .offset = F(http.listen), .def = "",
	 .doc = "host:port of kelpd's HTTP read endpoint (GET /<fid>, /healthz, /status, "
		"/metrics); empty = off", .validate = check_host_port_or_empty},
	{.section = "http", .key = "allow", .type = KELP_CONF_STR_LIST,
	 .offset = F(http.allow), .def = "127.0.0.0/8,::1/128",
	 .doc = "client addresses (CIDR list) allowed on the HTTP endpoint; others get 403",
	 .validate = check_cidr},
	{.section = "http", .key = "idle_timeout_ms", .type = KELP_CONF_UINT,
	 .offset = F(http.idle_timeout_ms), .def = "60000",
	 .doc = "close an HTTP endpoint connection that sent or took nothing for this long",
	 .min = 10, .max = 3600000},
	{.section = "filer", .key = "address", .type = KELP_CONF_STR_LIST,
	 .offset = F(filer.address), .def = "",
	 .doc = "filer host:port list, in failover order; empty = no files by path",
	 .validate = check_host_port},
	{.section = "filer", .key = "path", .type = KELP_CONF_STRING,
	 .offset = F(filer.path), .def = "/",
	 .doc = "the filer directory kelp-mount mounts (not applied to libkelp path calls)",
	 .validate = check_filer_path},
	{.section = "filer", .key = "metadata_ttl_ms", .type = KELP_CONF_UINT,
	 .offset = F(filer.metadata_ttl_ms), .def = "1000",
	 .doc = "how long kelpd caches an entry or a \"no such path\" (ms); 0 = ask the filer each time",
	 .min = 0, .max = 86400000},
	{.section = "filer", .key = "cache_entries", .type = KELP_CONF_UINT,
	 .offset = F(filer.cache_entries), .def = "100000",
	 .doc = "entries the metadata cache holds at most (least recently used evicted)",
	 .min = 0, .max = 100000000},
	{.section = "filer", .key = "dir_list_max", .type = KELP_CONF_UINT,
	 .offset = F(filer.dir_list_max), .def = "16384",
	 .doc = "a path not cached lists its directory instead, caching up to this many entries of it; 0 = look up the one path",
	 .min = 0, .max = 100000000},
	{.section = "filer", .key = "timeout_ms", .type = KELP_CONF_UINT,
	 .offset = F(filer.timeout_ms), .def = "5000",
	 .doc = "timeout of one request to one filer (ms); then the next address is tried",
	 .min = 1, .max = 600000},
};
/* clang-format on */

#undef F

_Static_assert(sizeof(config_keys) / sizeof(config_keys[0]) <= KELP_CONF_MAX_KEYS,
	       "raise KELP_CONF_MAX_KEYS");

const struct kelp_conf_key *kelp_config_keys(size_t *n)
{
	*n = sizeof(config_keys) / sizeof(config_keys[0]);
	return config_keys;
}

/* ---- value parsers ------------------------------------------------------------------------ */

static void *field(struct kelp_config *c, const struct kelp_conf_key *k)
{
	return (char *)c + k->offset;
}

static const void *cfield(const struct kelp_config *c, const struct kelp_conf_key *k)
{
	return (const char *)c + k->offset;
}

/* Copy the comma-separated item starting at *@s into @buf (trimmed); advance *@s. */
static int next_item(const char **s, char *buf, size_t size)
{
	const char *p = *s, *end = strchr(p, ',');
	if (!end)
		end = p + strlen(p);
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	const char *e = end;
	while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if ((size_t)(e - p) >= size)
		return -ENAMETOOLONG;
	memcpy(buf, p, (size_t)(e - p));
	buf[e - p] = '\0';
	*s = *end ? end + 1 : end;
	return 0;
}

static int parse_long(const char *s, long long min, long long max, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int kelp_cpu_list_parse(const char *s, struct kelp_cpu_list *out, char *why, size_t n)
{
	struct kelp_cpu_list l = {0};
	char item[64];
	while (*s) {
		if (next_item(&s, item, sizeof(item)) || !*item) {
			snprintf(why, n, "empty or too long CPU list item");
			return -EINVAL;
		}
		long long a, b;
		char *dash = strchr(item, '-');
		if (dash) {
			*dash = '\0';
			if (parse_long(item, 0, KELP_CONF_MAX_CPUS - 1, &a) ||
			    parse_long(dash + 1, 0, KELP_CONF_MAX_CPUS - 1, &b) || b < a) {
				snprintf(why, n, "'%s-%s' is not a CPU range like 2-3 (CPUs 0..%d)",
					 item, dash + 1, KELP_CONF_MAX_CPUS - 1);
				return -EINVAL;
			}
		} else if (parse_long(item, 0, KELP_CONF_MAX_CPUS - 1, &a)) {
			snprintf(why, n, "'%s' is not a CPU number (0..%d)", item,
				 KELP_CONF_MAX_CPUS - 1);
			return -EINVAL;
		} else {
			b = a;
		}
		for (long long cpu = a; cpu <= b; cpu++) {
			for (size_t i = 0; i < l.n; i++)
				if (l.cpus[i] == cpu) {
					snprintf(why, n, "CPU %lld listed twice", cpu);
					return -EINVAL;
				}
			l.cpus[l.n++] = (int)cpu;
		}
	}
	if (!l.n) {
		snprintf(why, n, "at least one CPU is needed");
		return -EINVAL;
	}
	*out = l;
	return 0;
}

static int parse_id(const char *item, bool group, uint32_t *id, char *why, size_t n)
{
	long long v;
	if (parse_long(item, 0, UINT32_MAX - 1, &v) == 0) {
		*id = (uint32_t)v;
		return 0;
	}
	char buf[4096];
	if (group) {
		struct group gr, *res = NULL;
		if (getgrnam_r(item, &gr, buf, sizeof(buf), &res) == 0 && res) {
			*id = res->gr_gid;
			return 0;
		}
	} else {
		struct passwd pw, *res = NULL;
		if (getpwnam_r(item, &pw, buf, sizeof(buf), &res) == 0 && res) {
			*id = res->pw_uid;
			return 0;
		}
	}
	snprintf(why, n, "'%s' is not a %s name or number", item, group ? "group" : "user");
	return -EINVAL;
}

static void str_list_free(struct kelp_str_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

static bool parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

/* Parse @value for row @k into @c. Leaves @c unchanged on error. */
static int set_field(struct kelp_config *c, const struct kelp_conf_key *k, const char *value,
		     char *why, size_t n)
{
	void *f = field(c, k);
	long long v;

	/* list types validate each item below; the others their whole value here */
	if (k->validate && k->type != KELP_CONF_STR_LIST && k->validate(value, why, n))
		return -EINVAL;
	switch (k->type) {
	case KELP_CONF_STRING: {
		char *s = strdup(value);
		if (!s)
			return -ENOMEM;
		free(*(char **)f);
		*(char **)f = s;
		return 0;
	}
	case KELP_CONF_BOOL:
		if (!parse_bool(value, (bool *)f)) {
			snprintf(why, n, "'%s' is not a boolean (true/false, yes/no, on/off, 1/0)",
				 value);
			return -EINVAL;
		}
		return 0;
	case KELP_CONF_UINT:
	case KELP_CONF_INT:
		if (parse_long(value, k->min, k->max, &v)) {
			snprintf(why, n, "'%s' is not an integer in %lld..%lld", value, k->min,
				 k->max);
			return -EINVAL;
		}
		if (k->type == KELP_CONF_UINT)
			*(uint32_t *)f = (uint32_t)v;
		else
			*(int *)f = (int)v;
		return 0;
	case KELP_CONF_CPU_LIST:
		return kelp_cpu_list_parse(value, (struct kelp_cpu_list *)f, why, n);
	case KELP_CONF_ID_LIST: {
		struct kelp_id_list l = {0};
		char item[256];
		const char *s = value;
		while (*s) {
			if (next_item(&s, item, sizeof(item)) || !*item) {
				snprintf(why, n, "empty or too long list item in '%s'", value);
				return -EINVAL;
			}
			if (l.n == KELP_CONF_MAX_IDS) {
				snprintf(why, n, "more than %d ids", KELP_CONF_MAX_IDS);
				return -EINVAL;
			}
			if (parse_id(item, k->groups, &l.ids[l.n], why, n))
				return -EINVAL;
			l.n++;
		}
		*(struct kelp_id_list *)f = l;
		return 0;
	}
	case KELP_CONF_STR_LIST: {
		struct kelp_str_list l = {0};
		char item[PATH_MAX];
		const char *s = value;
		size_t cap = 0;
		while (*s) {
			int rc = -EINVAL;
			if (next_item(&s, item, sizeof(item)) || !*item)
				snprintf(why, n, "empty or too long list item in '%s'", value);
			else if (!k->validate || !(rc = k->validate(item, why, n)))
				rc = 0;
			if (!rc && l.n == cap) {
				cap = cap ? cap * 2 : 4;
				char **items = realloc(l.items, cap * sizeof(*items));
				if (!items)
					rc = -ENOMEM;
				else
					l.items = items;
			}
			if (!rc && !(l.items[l.n] = strdup(item)))
				rc = -ENOMEM;
			if (rc) {
				str_list_free(&l);
				return rc;
			}
			l.n++;
		}
		str_list_free((struct kelp_str_list *)f);
		*(struct kelp_str_list *)f = l;
		return 0;
	}
	case KELP_CONF_ENUM:
		for (int i = 0; k->enum_names[i]; i++)
			if (strcmp(value, k->enum_names[i]) == 0) {
				*(int *)f = i;
				return 0;
			}
		snprintf(why, n, "'%s' is not one of:", value);
		for (int i = 0; k->enum_names[i]; i++) {
			size_t len = strlen(why);
			snprintf(why + len, n > len ? n - len : 0, " %s", k->enum_names[i]);
		}
		return -EINVAL;
	}
	return -EINVAL;
}

static const struct kelp_conf_key *find_key(const char *section, const char *key, bool *section_ok)
{
	size_t n;
	const struct kelp_conf_key *keys = kelp_config_keys(&n);
	*section_ok = false;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(keys[i].section, section))
			continue;
		*section_ok = true;
		if (key && strcmp(keys[i].key, key) == 0)
			return &keys[i];
	}
	return NULL;
}

int kelp_config_set_value(struct kelp_config *c, const char *section, const char *key,
			  const char *value, char *why, size_t why_size)
{
	bool section_ok;
	const struct kelp_conf_key *k = find_key(section, key, &section_ok);
	if (!k) {
		if (!section_ok)
			snprintf(why, why_size, "unknown section [%s]", section);
		else
			snprintf(why, why_size, "unknown key '%s' in [%s]", key, section);
		return -ENOENT;
	}
	return set_field(c, k, value, why, why_size);
}

int kelp_config_init(struct kelp_config *c)
{
	size_t n;
	const struct kelp_conf_key *keys = kelp_config_keys(&n);
	char why[256];
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < n; i++) {
		int rc = set_field(c, &keys[i], keys[i].def, why, sizeof(why));
		if (rc) {
			kelp_config_free(c);
			return rc == -ENOMEM ? -ENOMEM
					     : -EINVAL; /* -EINVAL: a bad default is a bug */
		}
	}
	return 0;
}

void kelp_config_free(struct kelp_config *c)
{
	size_t n;
	const struct kelp_conf_key *keys = kelp_config_keys(&n);
	free(c->path);
	c->path = NULL;
	for (size_t i = 0; i < n; i++) {
		void *f = field(c, &keys[i]);
		if (keys[i].type == KELP_CONF_STRING) {
			free(*(char **)f);
			*(char **)f = NULL;
		} else if (keys[i].type == KELP_CONF_STR_LIST) {
			str_list_free(f);
		}
	}
}

/* ---- file loading ------------------------------------------------------------------------- */

struct load_ctx {
	struct kelp_config *c;
	const char *path;
	FILE *f;
	int line;
	char section[128];
	char *err;
	size_t err_size, err_len;
	int errors;
	int seen[KELP_CONF_MAX_KEYS]; /* line where this file set each key, 0 = not yet */
	struct {
		char name[128];
		int line;
	} sections[16]; /* the known sections' headers met so far (there are 4) */
	unsigned n_sections;
};

static void add_error(struct load_ctx *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add_error(struct load_ctx *x, const char *fmt, ...)
{
	x->errors++;
	if (!x->err || x->err_len + 1 >= x->err_size)
		return;
	int n = snprintf(x->err + x->err_len, x->err_size - x->err_len,
			 "%s%s:%d: ", x->err_len ? "\n" : "", x->path, x->line);
	if (n > 0)
		x->err_len = x->err_len + (size_t)n < x->err_size ? x->err_len + (size_t)n
								  : x->err_size - 1;
	va_list ap;
	va_start(ap, fmt);
	n = vsnprintf(x->err + x->err_len, x->err_size - x->err_len, fmt, ap);
	va_end(ap);
	if (n > 0)
		x->err_len = x->err_len + (size_t)n < x->err_size ? x->err_len + (size_t)n
								  : x->err_size - 1;
}

/* A known section's header at the current line: a second [engine] is an error (its keys would
 * mix with the first's, and a key in both would be a guess). */
static void note_section(struct load_ctx *x, const char *name)
{
	for (unsigned i = 0; i < x->n_sections; i++) {
		if (strcmp(x->sections[i].name, name) == 0) {
			add_error(
				x,
				"section [%s] appears twice (first at line %d): keep one [%s] with "
				"all its keys",
				name, x->sections[i].line, name);
			return;
		}
	}
	if (x->n_sections < sizeof(x->sections) / sizeof(x->sections[0])) {
		snprintf(x->sections[x->n_sections].name, sizeof(x->sections[0].name), "%s", name);
		x->sections[x->n_sections++].line = x->line;
	}
}

/* inih's line reader: count lines, and check section headers as they pass. */
static char *read_line(char *str, int num, void *stream)
{
	struct load_ctx *x = stream;
	if (!fgets(str, num, x->f))
		return NULL;
	x->line++;
	const char *p = str;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '[') {
		const char *end = strchr(p, ']');
		if (end) {
			size_t len = (size_t)(end - p - 1);
			char name[128];
			snprintf(name, sizeof(name), "%.*s", (int)len, p + 1);
			bool section_ok;
			find_key(name, NULL, &section_ok);
			if (!section_ok)
				add_error(x,
					  "unknown section [%s] (known: engine, export, seaweedfs, "
					  "rdma, peer, http)",
					  name);
			else
				note_section(x, name);
		}
	}
	return str;
}

static int on_value(void *user, const char *section, const char *key, const char *value)
{
	struct load_ctx *x = user;
	char why[512];
	bool section_ok;
	if (!find_key(section, key, &section_ok) && !section_ok) {
		if (!*section)
			add_error(x,
				  "'%s' is outside any section: put it under [engine], [export], "
				  "[seaweedfs] or [rdma]",
				  key);
		return 1; /* unknown section: reported once, at its header */
	}
	const struct kelp_conf_key *k = find_key(section, key, &section_ok);
	size_t idx = k ? (size_t)(k - config_keys) : 0;
	if (k && x->seen[idx]) {
		add_error(x, "%s.%s is set twice (first at line %d): keep one", section, key,
			  x->seen[idx]);
		return 1;
	}
	if (k)
		x->seen[idx] = x->line;
	int rc = kelp_config_set_value(x->c, section, key, value, why, sizeof(why));
	if (rc == 0 && k)
		x->c->key_line[idx] = x->line;
	if (rc == -ENOMEM)
		add_error(x, "out of memory");
	else if (rc == -ENOENT)
		add_error(x, "%s", why);
	else if (rc)
		add_error(x, "%s.%s: %s", section, key, why);
	return 1; /* keep going: report every error at once */
}

/* Parse the open stream @f; errors are named after @path. Closes @f. */
static int load_stream(struct kelp_config *c, const char *path, FILE *f, char *err, size_t err_size)
{
	struct load_ctx x = {.c = c, .path = path, .f = f, .err = err, .err_size = err_size};
	char *p = strdup(path);
	if (!p) {
		fclose(f);
		return -ENOMEM;
	}
	free(c->path);
	c->path = p;
	int rc = ini_parse_stream(read_line, &x, on_value, &x);
	fclose(x.f);
	if (rc > 0 && x.errors == 0) {
		/* a syntax error inih found (no '=' or an unclosed '['): it gives the line */
		x.line = rc;
		add_error(&x, "syntax error: expected [section] or key = value");
	} else if (rc < 0) {
		x.line = 0;
		add_error(&x, "%s", rc == -2 ? "out of memory" : "cannot read");
	}
	return x.errors ? -EINVAL : 0;
}

int kelp_config_load(struct kelp_config *c, const char *path, char *err, size_t err_size)
{
	if (err_size)
		err[0] = '\0';
	struct stat st;
	FILE *f = fopen(path, "re");
	if (!f || fstat(fileno(f), &st) || S_ISDIR(st.st_mode)) {
		int e = !f ? errno : S_ISDIR(st.st_mode) ? EISDIR : errno;
		if (f)
			fclose(f);
		if (err_size)
			snprintf(err, err_size, "%s: cannot read the configuration file: %s", path,
				 strerror(e));
		return -e;
	}
	return load_stream(c, path, f, err, err_size);
}

int kelp_config_load_string(struct kelp_config *c, const char *name, const char *text, char *err,
			    size_t err_size)
{
	if (err_size)
		err[0] = '\0';
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	if (!f)
		return -ENOMEM;
	return load_stream(c, name, f, err, err_size);
}

int kelp_config_set(struct kelp_config *c, const char *assignment, char *err, size_t err_size)
{
	char why[512];
	const char *dot = strchr(assignment, '.');
	const char *eq = strchr(assignment, '=');
	if (!dot || !eq || dot > eq) {
		snprintf(err, err_size, "%s: expected section.key=value, e.g. engine.lcores=2-3",
			 assignment);
		return -EINVAL;
	}
	char section[128], key[128];
	if ((size_t)(dot - assignment) >= sizeof(section) ||
	    (size_t)(eq - dot - 1) >= sizeof(key)) {
		snprintf(err, err_size, "%s: section or key too long", assignment);
		return -EINVAL;
	}
	snprintf(section, sizeof(section), "%.*s", (int)(dot - assignment), assignment);
	snprintf(key, sizeof(key), "%.*s", (int)(eq - dot - 1), dot + 1);
	int rc = kelp_config_set_value(c, section, key, eq + 1, why, sizeof(why));
	if (rc) {
		snprintf(err, err_size, "%s: %s", assignment, why);
		return rc == -ENOMEM ? rc : -EINVAL;
	}
	bool section_ok;
	c->key_line[find_key(section, key, &section_ok) - config_keys] = -1;
	return 0;
}

const char *kelp_config_where(const struct kelp_config *c, const char *section, const char *key,
			      char *buf, size_t size)
{
	bool section_ok;
	const struct kelp_conf_key *k = find_key(section, key, &section_ok);
	int line = k ? c->key_line[k - config_keys] : 0;
	if (!k)
		snprintf(buf, size, "?");
	else if (line > 0)
		snprintf(buf, size, "%s:%d", c->path ? c->path : "?", line);
	else
		snprintf(buf, size, "%s", line < 0 ? "command line" : "default");
	return buf;
}

int kelp_config_warnings(const struct kelp_config *c, char *buf, size_t size)
{
	int n = 0;
	char w1[PATH_MAX + 16], w2[PATH_MAX + 16];
	if (size)
		buf[0] = '\0';
	for (size_t i = 0; c->engine.control_cpu >= 0 && i < c->engine.lcores.n; i++) {
		if (c->engine.lcores.cpus[i] != c->engine.control_cpu)
			continue;
		size_t len = strlen(buf);
		snprintf(buf + len, size > len ? size - len : 0,
			 "%s%s: warning: engine.control_cpu = %d is also one of engine.lcores "
			 "(%s): the "
			 "control thread (sessions, kelpctl, HTTP fallback) then shares that CPU "
			 "with a "
			 "busy-polling lcore; give it another CPU, or -1",
			 n ? "\n" : "",
			 kelp_config_where(c, "engine", "control_cpu", w1, sizeof(w1)),
			 c->engine.control_cpu,
			 kelp_config_where(c, "engine", "lcores", w2, sizeof(w2)));
		n++;
	}
	return n;
}

int kelp_config_format(const struct kelp_config *c, const struct kelp_conf_key *k, char *buf,
		       size_t size)
{
	const void *f = cfield(c, k);
	size_t len = 0;
	int n;
	if (size)
		buf[0] = '\0';
#define APPEND(...)                                                                                \
	do {                                                                                       \
		n = snprintf(buf + len, size > len ? size - len : 0, __VA_ARGS__);                 \
		if (n > 0)                                                                         \
			len += (size_t)n;                                                          \
	} while (0)
	switch (k->type) {
	case KELP_CONF_STRING:
		APPEND("%s", *(char *const *)f ? *(char *const *)f : "");
		break;
	case KELP_CONF_BOOL:
		APPEND("%s", *(const bool *)f ? "true" : "false");
		break;
	case KELP_CONF_UINT:
		APPEND("%u", *(const uint32_t *)f);
		break;
	case KELP_CONF_INT:
		APPEND("%d", *(const int *)f);
		break;
	case KELP_CONF_CPU_LIST: {
		const struct kelp_cpu_list *l = f;
		for (size_t i = 0; i < l->n; i++)
			APPEND("%s%d", i ? "," : "", l->cpus[i]);
		break;
	}
	case KELP_CONF_ID_LIST: {
		const struct kelp_id_list *l = f;
		for (size_t i = 0; i < l->n; i++)
			APPEND("%s%u", i ? "," : "", l->ids[i]);
		break;
	}
	case KELP_CONF_STR_LIST: {
		const struct kelp_str_list *l = f;
		for (size_t i = 0; i < l->n; i++)
			APPEND("%s%s", i ? "," : "", l->items[i]);
		break;
	}
	case KELP_CONF_ENUM:
		APPEND("%s", k->enum_names[*(const int *)f]);
		break;
	}
#undef APPEND
	return (int)len;
}
