/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelp's configuration: one INI file (conf/kelp.conf documents every key), parsed with inih, plus
 * "section.key=value" overrides from the command line.
 *
 * The keys are ONE table (config.c, `config_keys`): a row per key with its section, name, type,
 * place in struct kelp_config, default (as text, parsed like a file value), bounds, checks and one
 * line of help. kelp_config_init() fills every default from it; nothing else in kelp holds a
 * default or a bound of a key. kelpd's modules read the validated struct kelp_config itself
 * (struct kelp_engine's conf, lcore/engine.h), not a copy field by field. To add a key, edit:
 *   1. a row in `config_keys` (core/config.c);
 *   2. its field in struct kelp_config (here);
 *   3. the code that uses it, reading eng->conf (or the struct kelp_config it is given);
 *   4. conf/kelp.conf: the key with its default and comment (a unit test parses conf/kelp.conf
 *      and fails when it and the table differ).
 * Limits that are also facts of another layer (KELP_MAX_QUEUE_DEPTH) are defined once, here.
 *
 * Errors name the place: "FILE:LINE: message" for the file, "--set section.key=value: message" for
 * overrides. Unknown sections and keys are errors, so a typo never silently means a default; so
 * are a section or a key written twice in one file (which one would win is a guess).
 * Checks that need the running machine (does CPU 99 exist?) are made by kelpd, which names the
 * place with kelp_config_where().
 * Threads: a struct kelp_config is built by one thread and then only read.
 */
#ifndef KELP_CORE_CONFIG_H
#define KELP_CORE_CONFIG_H

#include <stdbool.h>

#include "core/log.h"
#include <stddef.h>
#include <stdint.h>

#define KELP_CONF_MAX_CPUS 256
#define KELP_CONF_MAX_IDS  64
#define KELP_CONF_MAX_KEYS 64 /* rows of the key table at most (static_assert in config.c) */

/* Entries of a session's SQ at most (a power of two): [engine] queue_depth's bound, the largest
 * ring a client's hello may ask for (lcore/control/clients.c) and the segment layout's limit
 * (shm/seg.c, shm/kelp_abi.h). */
#define KELP_MAX_QUEUE_DEPTH 65536u

/* Defaults that a module also applies when a caller outside kelpd (tools/kelp-rdma, tests) leaves
 * the value 0; the key table's defaults are the same numbers (KELP_XSTR), written only here. */
#define KELP_DEFAULT_LOOKUP_TTL_S	     600   /* [seaweedfs] lookup_ttl_s */
#define KELP_DEFAULT_RDMA_REQUEST_TIMEOUT_MS 2000  /* [rdma] request_timeout_ms */
#define KELP_DEFAULT_EXPORT_MAX_READ_MB	     16	   /* [rdma] export_max_read_mb */
#define KELP_DEFAULT_PEER_TIMEOUT_MS	     5000  /* [peer] timeout_ms */
#define KELP_DEFAULT_RDMA_INLINE_MAX	     4096  /* [rdma] inline_max */
#define KELP_CONF_RDMA_INLINE_LIMIT	     16384 /* its largest value (proto/rdma_msg.h) */
#define KELP_DEFAULT_PEER_IDLE_TIMEOUT_S     300   /* [peer] idle_timeout_s */
#define KELP_STR_(x)			     #x
#define KELP_XSTR(x)			     KELP_STR_(x) /* a macro's value as a string literal */

struct kelp_cpu_list {
	size_t n;
	int cpus[KELP_CONF_MAX_CPUS]; /* in the order written, no duplicates */
};

struct kelp_id_list {
	size_t n;
	uint32_t ids[KELP_CONF_MAX_IDS]; /* uids or gids; names are resolved when parsed */
};

struct kelp_str_list {
	size_t n;
	char **items; /* owned; trimmed, never empty strings */
};

enum kelp_hugepages { KELP_HUGEPAGES_AUTO, KELP_HUGEPAGES_ON, KELP_HUGEPAGES_OFF };

/* Which address of a volume server the master names is used: its url or its publicUrl. */
enum kelp_volume_address { KELP_VOLUME_ADDRESS_URL, KELP_VOLUME_ADDRESS_PUBLIC_URL };

struct kelp_config {
	struct {
		struct kelp_cpu_list lcores;
		int control_cpu; /* -1: not pinned */
		char *socket;
		struct kelp_id_list allow_uids;
		struct kelp_id_list allow_gids;
		struct kelp_id_list admin_gids; /* may list sessions (kelpctl sessions) */
		bool dumpable; /* false: prctl(PR_SET_DUMPABLE, 0), see lcore/kelpd/main.c */
		uint32_t idle_park_us;		 /* 0: never park; else adaptive (lcore.c) */
		bool idle_yield;		 /* sched_yield() after an idle poll */
		enum kelp_log_level log_level;	 /* core/log.h; live on SIGHUP */
		enum kelp_log_target log_target; /* core/log.h; live on SIGHUP */
		uint32_t arena_mb;
		uint32_t arena_populate_mb;    /* allocated when a session opens; rest on use */
		enum kelp_hugepages hugepages; /* lsession's hugepages: kelp_config_hugepages() */
		uint32_t queue_depth;
		uint32_t max_sessions;
	} engine;
	struct {
		struct kelp_str_list dirs;
	} export;
	struct {
		struct kelp_str_list master; /* host:port, in failover order */
		char *data_center;
		char *jwt_read_key;
		uint32_t lookup_ttl_s;
		uint32_t http_timeout_ms;
		uint32_t hedge_percent; /* of http_timeout_ms; 0 = no hedged reads */
		bool force_http;
		enum kelp_volume_address volume_address;
	} seaweedfs;
	struct {
		char *device; /* a device name, "auto" or "off" */
		uint32_t port;
		int gid_index; /* -1: pick automatically */
		char *listen;  /* host:port, "" = do not accept RDMA requests */
		uint32_t peer_port;
		uint32_t request_timeout_ms; /* reader: no reply this long fails the connection */
		uint32_t
			export_max_read_mb; /* export: largest needle piece served in one request */
		uint32_t inline_max; /* reply bytes sent in the reply SEND, no RDMA WRITE; 0 = never
				      */
		struct kelp_str_list peers; /* "volume_server=rdma_host:port" */
		bool one_sided;	  /* reader: whole-needle reads by one verified RDMA READ */
		bool export_park; /* export: its lcore parks when idle (completion events) */
	} rdma;
	struct {
		char *tcp_listen;		/* host:port serving peers over TCP, "" = off */
		uint32_t tcp_port;		/* where other volume servers' kelpd listen (TCP) */
		struct kelp_str_list tcp_peers; /* "volume_server=kelpd_host:tcp_port" */
		struct kelp_str_list transports; /* "rdma", "tcp": which to read through */
		char *secret;			 /* shared by the kelpd of a cluster, "" = none */
		struct kelp_str_list allow;	 /* CIDRs the TCP export serves, empty = any */
		uint32_t timeout_ms;		 /* TCP reader: no reply this long fails it */
		uint32_t idle_timeout_s; /* export (RDMA, TCP): check a reader idle this long; 0 =
					    never */
	} peer;
	struct {
		char *listen;		    /* host:port of the HTTP endpoint, "" = off */
		struct kelp_str_list allow; /* CIDRs allowed to use it */
		uint32_t idle_timeout_ms;   /* a connection idle this long is closed */
	} http;
	struct {
		struct kelp_str_list address; /* filer host:port, in failover order; none = off */
		char *path;		      /* kelp-mount's root (not applied by kelpd) */
		uint32_t metadata_ttl_ms;     /* entries and negative lookups cached this long */
		uint32_t cache_entries;	      /* at most this many cached */
		uint32_t dir_list_max;	      /* a miss lists its directory, this far; 0 = off */
		uint32_t timeout_ms;	      /* one request to one filer */
	} filer;
	/* Where each key's value came from, by table row (kelp_config_where()): the line in
	 * @path, 0 = the default, -1 = a command-line override (kelp_config_set). */
	char *path; /* the file last loaded (owned), NULL before */
	int key_line[KELP_CONF_MAX_KEYS];
};

/* The RDMA export's bounce pool in MiB (lcore/rdma/rdma_export.h): [rdma] export_max_read_mb's
 * upper bound, since a read must fit the pool. */
#define KELP_CONF_RDMA_EXPORT_POOL_MB 64

/* Value types of the table. */
enum kelp_conf_type {
	KELP_CONF_STRING,   /* char *, any text */
	KELP_CONF_BOOL,	    /* bool: true/false, yes/no, on/off, 1/0 */
	KELP_CONF_UINT,	    /* uint32_t within [min, max] */
	KELP_CONF_INT,	    /* int within [min, max] */
	KELP_CONF_CPU_LIST, /* struct kelp_cpu_list: "1", "1,3", "2-3" */
	KELP_CONF_ID_LIST, /* struct kelp_id_list: uids/gids as numbers or names, comma separated */
	KELP_CONF_STR_LIST, /* struct kelp_str_list: comma separated */
	KELP_CONF_ENUM,	    /* int: index into enum_names */
};

/* One row of the key table (read-only; see kelp_config_keys()). */
struct kelp_conf_key {
	const char *section;
	const char *key;
	enum kelp_conf_type type;
	size_t offset;		       /* of the field in struct kelp_config */
	const char *def;	       /* default, as it would be written in the file */
	const char *doc;	       /* one line */
	long long min, max;	       /* UINT / INT */
	const char *const *enum_names; /* ENUM, NULL-terminated */
	bool groups;		       /* ID_LIST: names are group names (else user names) */
	/* optional check of each value or list item: 0, or -EINVAL with a reason in @why */
	int (*validate)(const char *item, char *why, size_t why_size);
};

/* kelp_config_keys - the key table and its length. Any thread. */
const struct kelp_conf_key *kelp_config_keys(size_t *n);

/*
 * kelp_config_init - fill @c with every key's default. Call kelp_config_free() after.
 * @return 0, or -ENOMEM.
 */
int kelp_config_init(struct kelp_config *c);

/* kelp_config_free - free what @c owns (strings, lists). @c can be initialised again after. */
void kelp_config_free(struct kelp_config *c);

/*
 * kelp_config_load - read the INI file @path over the values in @c (call kelp_config_init() first).
 * All errors are collected, one per line "PATH:LINE: message", into @err (@err_size bytes, may be
 * truncated; NUL-terminated when @err_size > 0).
 * @return 0; -EINVAL when the file has errors (values of valid lines are still applied); -ENOENT,
 * -EACCES, -EISDIR ... when it cannot be read (then @err says so too).
 */
int kelp_config_load(struct kelp_config *c, const char *path, char *err, size_t err_size);

/*
 * kelp_config_load_string - like kelp_config_load() for the NUL-terminated text @text; @name is
 * the file name used in messages. @return 0, -EINVAL, or -ENOMEM.
 */
int kelp_config_load_string(struct kelp_config *c, const char *name, const char *text, char *err,
			    size_t err_size);

/*
 * kelp_config_set - apply one command-line override "section.key=value" (e.g.
 * "engine.lcores=2-3").
 * @return 0, or -EINVAL with "ASSIGNMENT: message" in @err.
 */
int kelp_config_set(struct kelp_config *c, const char *assignment, char *err, size_t err_size);

/*
 * kelp_config_set_value - set @section / @key to @value, as if read from a file.
 * @return 0; -ENOENT for an unknown section or key; -EINVAL for a bad value; -ENOMEM. A reason
 * (without place) is written to @why.
 */
int kelp_config_set_value(struct kelp_config *c, const char *section, const char *key,
			  const char *value, char *why, size_t why_size);

/*
 * kelp_config_format - write the current value of table row @k in @c as it would be written in the
 * file (lists comma separated, ids as numbers) into @buf.
 * @return the length (truncated output is NUL-terminated), like snprintf.
 */
int kelp_config_format(const struct kelp_config *c, const struct kelp_conf_key *k, char *buf,
		       size_t size);

/*
 * kelp_config_where - where the value of @section.@key in @c came from, for messages: "PATH:LINE",
 * "command line" (an override), or "default". Writes at most @size bytes into @buf (NUL-terminated
 * when @size > 0). Any thread that may read @c.
 * @return @buf ("?" written for an unknown key).
 */
const char *kelp_config_where(const struct kelp_config *c, const char *section, const char *key,
			      char *buf, size_t size);

/*
 * kelp_config_warnings - settings that are valid but probably not meant (today: a CPU that is both
 * an lcore and control_cpu), one line per warning "WHERE: warning: message" into @buf (@size
 * bytes; may be truncated). Call after the file and the overrides are applied.
 * @return the number of warnings.
 */
int kelp_config_warnings(const struct kelp_config *c, char *buf, size_t size);

/* kelp_config_hugepages - [engine] hugepages as lcore_session_create() takes it: 1 required, 0 off,
 * -1 when available. Any thread that may read @c. */
static inline int kelp_config_hugepages(const struct kelp_config *c)
{
	switch (c->engine.hugepages) {
	case KELP_HUGEPAGES_ON:
		return 1;
	case KELP_HUGEPAGES_OFF:
		return 0;
	default:
		return -1;
	}
}

/* kelp_cpu_list_parse - parse "1", "1,3", "2-3" (no spaces needed). @return 0 or -EINVAL. */
int kelp_cpu_list_parse(const char *s, struct kelp_cpu_list *out, char *why, size_t why_size);

#endif
