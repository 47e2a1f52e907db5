/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelpd's filer client (filer.h): lookups coalesced per path (one request to the filer however
 * many path requests wait for the same entry), listings, failover between addresses, and the JSON
 * of weed 4.48's answers (shared/docs/seaweedfs.md "The filer"). Control thread only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "core/clock.h"
#include "core/list.h"
#include "lcore/cluster/filer.h"
#include "lcore/cluster/http_client.h"

#define MAX_ADDRS 16
/* First body buffer of a lookup / a listing; a longer answer is asked again with a buffer of its
 * size (Content-Length), up to BODY_MAX. */
#define LOOKUP_BODY  (64u << 10)
#define LIST_BODY    (1u << 20)
#define BODY_MAX     (256u << 20)
#define LIST_MAX     1024 /* names per listing page at most */

/* Go's os.FileMode bits as the filer's JSON "Mode" carries them (weed/filer/entry.go). */
#define GO_MODE_DIR	(1u << 31)
#define GO_MODE_SYMLINK (1u << 27)

struct pending { /* a lookup in flight, and who waits for it */
	struct pending *next;
	struct kelp_filer_wait *head, *tail;
	size_t len;
	char path[];
};

enum freq_kind { Q_LOOKUP, Q_LIST };

struct freq { /* one request, over however many addresses it takes */
	struct kelp_filer *f;
	enum freq_kind kind;
	struct kelp_http_call call;
	char *url; /* percent-encoded path and query */
	uint8_t *buf;
	size_t cap;
	unsigned addr, tries, timeouts, answered_5xx;
	bool resized;
	struct pending *pend;	  /* Q_LOOKUP */
	struct kelp_filer_list *l; /* Q_LIST */
};

struct kelp_filer {
	struct kelp_http_client *http;
	char addrs[MAX_ADDRS][KELP_LOOKUP_URL_MAX];
	unsigned n_addrs, cur;
	struct kelp_filer_cache *cache;
	struct pending *pending;
	unsigned inflight;
	bool stopping;
	struct kelp_filer_stats st;
};

/* ---- JSON of an entry ------------------------------------------------------------------------- */

/* "2026-12-03T12:35:16.279068302Z" (RFC 3339, Go's time.Time JSON) -> ns since the epoch. */
static int parse_time(const char *s, int64_t *ns)
{
	struct tm tm = {0};
	int n = 0;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
		   &tm.tm_min, &tm.tm_sec, &n) != 6)
		return -EBADMSG;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	int64_t frac = 0;
	const char *p = s + n;
	if (*p == '.') {
		int digits = 0;
		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			if (digits < 9)
				frac = frac * 10 + (*p - '0');
		for (; digits < 9; digits++)
			frac *= 10;
	}
	int64_t off = 0;
	if (*p == '+' || *p == '-') {
		int hh, mm;
		if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
			return -EBADMSG;
		off = (int64_t)(hh * 3600 + mm * 60) * (*p == '-' ? -1 : 1);
	} else if (*p != 'Z') {
		return -EBADMSG;
	}
	time_t t = timegm(&tm);
	*ns = ((int64_t)t - off) * 1000000000ll + frac;
	return 0;
}

/* Standard base64 (with padding) into a new buffer. */
static int b64_decode(const char *s, uint8_t **out, size_t *out_len)
{
	size_t len = strlen(s);
	if (len % 4)
		return -EBADMSG;
	uint8_t *b = malloc(len / 4 * 3 + 1);
	if (!b)
		return -ENOMEM;
	int n = len ? EVP_DecodeBlock(b, (const unsigned char *)s, (int)len) : 0;
	if (n < 0) {
		free(b);
		return -EBADMSG;
	}
	/* EVP_DecodeBlock counts the padding's zero bytes */
	while (len && s[len - 1] == '=' && n > 0) {
		len--;
		n--;
	}
	*out = b;
	*out_len = (size_t)n;
	return 0;
}

static uint64_t u64_of(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
}

/* A u64 that may be above 2^63 (Inode): quoted by quote_big_ints() then. */
static uint64_t big_u64_of(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (json_is_integer(v))
		return (uint64_t)json_integer_value(v);
	if (json_is_string(v))
		return strtoull(json_string_value(v), NULL, 10);
	return 0;
}

/*
 * jansson refuses integers above INT64_MAX, and the filer writes its Inode (a hash) as one: copy
 * @in with every unsigned integer literal of 19 or more digits outside strings quoted ("..."),
 * which big_u64_of() reads back. Return: the new text (@*out_len bytes, caller frees), or NULL.
 */
static char *quote_big_ints(const char *in, size_t len, size_t *out_len)
{
	size_t n_big = 0;
	bool str = false;
	for (size_t i = 0; i < len; i++) { /* count first: the copy's size */
		if (str) {
			if (in[i] == '\\')
				i++;
			else if (in[i] == '"')
				str = false;
		} else if (in[i] == '"') {
			str = true;
		} else if (in[i] >= '0' && in[i] <= '9' && (i == 0 || in[i - 1] == ':')) {
			size_t j = i;
			while (j < len && in[j] >= '0' && in[j] <= '9')
				j++;
			n_big += j - i >= 19;
			i = j - 1;
		}
	}
	char *out = malloc(len + 2 * n_big + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	str = false;
	for (size_t i = 0; i < len; i++) {
		if (str) {
			if (in[i] == '\\' && i + 1 < len)
				out[o++] = in[i++];
			else if (in[i] == '"')
				str = false;
		} else if (in[i] == '"') {
			str = true;
		} else if (in[i] >= '0' && in[i] <= '9' && (i == 0 || in[i - 1] == ':')) {
			size_t j = i;
			while (j < len && in[j] >= '0' && in[j] <= '9')
				j++;
			bool big = j - i >= 19;
			if (big)
				out[o++] = '"';
			memcpy(out + o, in + i, j - i);
			o += j - i;
			if (big)
				out[o++] = '"';
			i = j - 1;
			continue;
		}
		out[o++] = in[i];
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}

static int parse_chunk(json_t *c, struct kelp_fchunk *out)
{
	json_t *fid = json_object_get(c, "fid");
	const char *fid_s = json_string_value(json_object_get(c, "file_id"));
	if (json_is_object(fid)) {
		out->fid.volume_id = (uint32_t)u64_of(fid, "volume_id");
		out->fid.key = big_u64_of(fid, "file_key");
		out->fid.cookie = (uint32_t)u64_of(fid, "cookie");
	} else if (!fid_s || kelp_fid_parse(fid_s, strlen(fid_s), &out->fid) != 0) {
		return -EBADMSG;
	}
	if (fid_s && kelp_fid_parse(fid_s, strlen(fid_s), &out->fid) != 0)
		return -EBADMSG; /* the string form is authoritative (file_key may exceed 2^63) */
	out->offset = u64_of(c, "offset");
	out->size = u64_of(c, "size");
	out->mtime_ns = (int64_t)u64_of(c, "modified_ts_ns");
	out->is_compressed = json_is_true(json_object_get(c, "is_compressed"));
	out->is_manifest = json_is_true(json_object_get(c, "is_chunk_manifest"));
	const char *key = json_string_value(json_object_get(c, "cipher_key"));
	if (key && *key) {
		uint8_t *k;
		size_t klen;
		int rc = b64_decode(key, &k, &klen);
		if (rc)
			return rc;
		if (klen != sizeof(out->cipher_key)) {
			free(k);
			return -EBADMSG;
		}
		memcpy(out->cipher_key, k, klen);
		out->cipher_key_len = (uint8_t)klen;
		free(k);
	}
	return 0;
}

int kelp_fentry_parse(json_t *j, struct kelp_fentry **out)
{
	if (!json_is_object(j))
		return -EBADMSG;
	json_t *mode = json_object_get(j, "Mode");
	const char *mtime = json_string_value(json_object_get(j, "Mtime"));
	if (!json_is_integer(mode) || !mtime)
		return -EBADMSG;
	struct kelp_fentry *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->refs = 1;
	int rc = parse_time(mtime, &e->mtime_ns);
	const char *crtime = json_string_value(json_object_get(j, "Crtime"));
	if (!rc && crtime)
		rc = parse_time(crtime, &e->ctime_ns);
	uint64_t m = (uint64_t)json_integer_value(mode);
	const char *target = json_string_value(json_object_get(j, "SymlinkTarget"));
	if (m & GO_MODE_DIR)
		e->mode = S_IFDIR | (uint32_t)(m & 07777);
	else if ((m & GO_MODE_SYMLINK) || (target && *target))
		e->mode = S_IFLNK | (uint32_t)(m & 07777);
	else
		e->mode = S_IFREG | (uint32_t)(m & 07777);
	e->uid = (uint32_t)u64_of(j, "Uid");
	e->gid = (uint32_t)u64_of(j, "Gid");
	e->inode = big_u64_of(j, "Inode");
	e->size = S_ISDIR(e->mode) ? 0 : u64_of(j, "FileSize");
	if (!rc && target && *target && !(e->symlink = strdup(target)))
		rc = -ENOMEM;
	const char *content = json_string_value(json_object_get(j, "Content"));
	if (!rc && content && *content)
		rc = b64_decode(content, &e->content, &e->content_len);
	json_t *chunks = json_object_get(j, "chunks");
	size_t n = json_is_array(chunks) ? json_array_size(chunks) : 0;
	if (!rc && n && !(e->chunks = calloc(n, sizeof(*e->chunks))))
		rc = -ENOMEM;
	for (size_t i = 0; !rc && i < n; i++)
		rc = parse_chunk(json_array_get(chunks, i), &e->chunks[i]);
	e->n_chunks = n;
	if (rc) {
		kelp_fentry_put(e);
		return rc;
	}
	*out = e;
	return 0;
}

/* ---- requests --------------------------------------------------------------------------------- */

/* Percent-encode @p (@len bytes) except "/" and RFC 3986's unreserved characters. */
static size_t url_encode(const char *p, size_t len, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return o;
}

static void call_done(struct kelp_http_call *call, int err);

static int send_to(struct freq *q)
{
	struct kelp_filer *f = q->f;
	struct kelp_http_call *c = &q->call;
	memset(c, 0, sizeof(*c));
	snprintf(c->server, sizeof(c->server), "%s", f->addrs[q->addr]);
	c->path[0] = '/';
	c->long_path = q->url;
	c->accept_json = q->kind == Q_LIST;
	c->dst = q->buf;
	c->dst_cap = q->cap;
	c->done = call_done;
	c->arg = q;
	return kelp_http_client_start(f->http, c);
}

static void freq_free(struct freq *q)
{
	free(q->url);
	free(q->buf);
	free(q);
}

/* A lookup ended: cache the result and tell every waiter. */
static void lookup_finish(struct freq *q, int err, struct kelp_fentry *e)
{
	struct kelp_filer *f = q->f;
	struct pending *p = q->pend;
	for (struct pending **pp = &f->pending; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	if (!f->stopping && (e || err == -ENOENT))
		kelp_filer_cache_put(f->cache, p->path, p->len, kelp_now_ns(), e, err);
	struct kelp_filer_wait *w;
	while ((w = KELP_FIFO_POP(p->head, p->tail))) {
		kelp_fentry_get(e);
		w->done(w, e ? 0 : err, e);
	}
	kelp_fentry_put(e);
	free(p);
}

/* Last name of "/a/b/name". */
static const char *base_name(const char *full)
{
	const char *s = strrchr(full, '/');
	return s ? s + 1 : full;
}

static int parse_listing(struct freq *q, json_t *root)
{
	struct kelp_filer *f = q->f;
	struct kelp_filer_list *l = q->l;
	json_t *ents = json_object_get(root, "Entries");
	if (!json_is_object(root) || (!json_is_array(ents) && !json_is_null(ents)))
		return -EBADMSG;
	size_t n = json_is_array(ents) ? json_array_size(ents) : 0;
	if (n > l->limit)
		n = l->limit;
	l->ents = calloc(n ? n : 1, sizeof(*l->ents));
	if (!l->ents)
		return -ENOMEM;
	uint64_t now = kelp_now_ns();
	for (size_t i = 0; i < n; i++) {
		json_t *je = json_array_get(ents, i);
		const char *full = json_string_value(json_object_get(je, "FullPath"));
		struct kelp_fentry *e;
		if (!full)
			return -EBADMSG;
		const char *name = base_name(full);
		size_t nl = strlen(name);
		if (nl == 0 || nl >= sizeof(l->ents[0].name))
			return -EBADMSG;
		int rc = kelp_fentry_parse(je, &e);
		if (rc)
			return rc;
		memcpy(l->ents[l->n].name, name, nl + 1);
		l->ents[l->n++].e = e;
		kelp_filer_cache_put(f->cache, full, strlen(full), now, e, 0);
	}
	return 0;
}

/* The answer of the filer that answered (@status): parse it or tell the waiters its error. */
static void answered(struct freq *q, int status)
{
	struct kelp_filer *f = q->f;
	int err = 0;
	struct kelp_fentry *e = NULL;
	json_t *root = NULL;
	if (status == 404) {
		err = -ENOENT;
	} else if (status != 200) {
		err = -EIO;
	} else {
		json_error_t jerr;
		size_t tl;
		char *text = quote_big_ints((const char *)q->buf, q->call.body_len, &tl);
		root = text ? json_loadb(text, tl, 0, &jerr) : NULL;
		free(text);
		if (!root)
			err = text ? -EBADMSG : -ENOMEM;
		else if (q->kind == Q_LOOKUP)
			err = kelp_fentry_parse(root, &e);
		else
			err = parse_listing(q, root);
		if (err == -EBADMSG)
			f->st.bad_answers++;
	}
	json_decref(root);
	f->inflight--;
	if (q->kind == Q_LOOKUP) {
		lookup_finish(q, err, e);
	} else {
		if (err)
			kelp_filer_list_free(q->l);
		q->l->done(q->l, err);
	}
	freq_free(q);
}

static void failed(struct freq *q, int err)
{
	struct kelp_filer *f = q->f;
	f->inflight--;
	if (q->kind == Q_LOOKUP)
		lookup_finish(q, err, NULL);
	else
		q->l->done(q->l, err);
	freq_free(q);
}

static void call_done(struct kelp_http_call *call, int err)
{
	struct freq *q = call->arg;
	struct kelp_filer *f = q->f;
	if (f->stopping) {
		failed(q, -ECANCELED);
		return;
	}
	int status = err ? 0 : call->resp.status;
	if (!err && status < 500) {
		if (status == 200 && call->resp.truncated && !q->resized &&
		    call->resp.body_total <= BODY_MAX) {
			/* longer than the first buffer: once more with room for all of it */
			uint8_t *b = realloc(q->buf, call->resp.body_total);
			if (b) {
				q->buf = b;
				q->cap = call->resp.body_total;
				q->resized = true;
				if (send_to(q) == 0)
					return;
			}
			failed(q, -ENOMEM);
			return;
		}
		if (status == 200 && call->resp.truncated) {
			f->st.bad_answers++;
			failed(q, -EBADMSG);
			return;
		}
		f->cur = q->addr; /* this one answers: start there next time */
		answered(q, status);
		return;
	}
	/* no answer, or a 5xx: the next address, until each was tried once */
	f->st.filer_errors++;
	if (err == -ETIMEDOUT)
		q->timeouts++;
	if (status >= 500)
		q->answered_5xx++;
	if (++q->tries < f->n_addrs) {
		f->st.failovers++;
		q->addr = (q->addr + 1) % f->n_addrs;
		if (send_to(q) == 0)
			return;
	}
	failed(q, q->answered_5xx == q->tries  ? -EIO
		  : q->timeouts == q->tries ? -ETIMEDOUT
					    : -EHOSTUNREACH);
}

static struct freq *freq_new(struct kelp_filer *f, enum freq_kind kind, size_t cap)
{
	struct freq *q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->f = f;
	q->kind = kind;
	q->addr = f->cur;
	q->cap = cap;
	q->buf = malloc(cap);
	if (!q->buf) {
		free(q);
		return NULL;
	}
	return q;
}

static int freq_start(struct freq *q)
{
	int rc = send_to(q);
	if (rc) {
		freq_free(q);
		return rc == -ENOMEM ? rc : -EINVAL;
	}
	q->f->inflight++;
	return 0;
}

int kelp_filer_lookup(struct kelp_filer *f, const char *path, size_t len, struct kelp_filer_wait *w,
		      struct kelp_fentry **hit)
{
	if (f->stopping)
		return -ECANCELED;
	int err = 0;
	if (kelp_filer_cache_get(f->cache, path, len, kelp_now_ns(), hit, &err))
		return *hit ? 0 : err;
	for (struct pending *p = f->pending; p; p = p->next)
		if (p->len == len && !memcmp(p->path, path, len)) {
			KELP_FIFO_PUSH(p->head, p->tail, w);
			return -EINPROGRESS;
		}
	struct pending *p = calloc(1, sizeof(*p) + len);
	struct freq *q = freq_new(f, Q_LOOKUP, LOOKUP_BODY);
	char *url = malloc(len * 3 + sizeof("?metadata=true"));
	if (!p || !q || !url) {
		free(p);
		free(url);
		if (q)
			freq_free(q);
		return -ENOMEM;
	}
	memcpy(p->path, path, len);
	p->len = len;
	size_t o = url_encode(path, len, url);
	memcpy(url + o, "?metadata=true", sizeof("?metadata=true"));
	q->url = url;
	q->pend = p;
	int rc = freq_start(q);
	if (rc) {
		free(p);
		return rc;
	}
	f->st.lookups++;
	w->next = NULL;
	KELP_FIFO_PUSH(p->head, p->tail, w);
	p->next = f->pending;
	f->pending = p;
	return -EINPROGRESS;
}

void kelp_filer_forget(struct kelp_filer *f, const char *path, size_t len)
{
	kelp_filer_cache_drop(f->cache, path, len);
}

int kelp_filer_list_start(struct kelp_filer *f, struct kelp_filer_list *l)
{
	if (f->stopping)
		return -ECANCELED;
	l->ents = NULL;
	l->n = 0;
	if (l->limit == 0 || l->limit > LIST_MAX)
		l->limit = LIST_MAX;
	size_t dl = strlen(l->dir), al = l->after ? strlen(l->after) : 0;
	struct freq *q = freq_new(f, Q_LIST, LIST_BODY);
	char *url = malloc(dl * 3 + al * 3 + 64);
	if (!q || !url) {
		free(url);
		if (q)
			freq_free(q);
		return -ENOMEM;
	}
	size_t o = url_encode(l->dir, dl, url);
	if (o == 0 || url[o - 1] != '/')
		url[o++] = '/';
	o += (size_t)sprintf(url + o, "?limit=%u", l->limit);
	if (al) {
		memcpy(url + o, "&lastFileName=", 14);
		url_encode(l->after, al, url + o + 14);
	}
	q->url = url;
	q->l = l;
	int rc = freq_start(q);
	if (rc == 0)
		f->st.lists++;
	return rc;
}

void kelp_filer_list_free(struct kelp_filer_list *l)
{
	for (unsigned i = 0; i < l->n; i++)
		kelp_fentry_put(l->ents[i].e);
	free(l->ents);
	l->ents = NULL;
	l->n = 0;
}

/* ---- life ------------------------------------------------------------------------------------- */

int kelp_filer_create(struct io_uring *ring, const struct kelp_filer_opts *o,
		      struct kelp_filer **out)
{
	*out = NULL;
	if (o->n_addrs == 0 || o->n_addrs > MAX_ADDRS || o->timeout_ms == 0) {
		fprintf(stderr, "kelpd: [filer] address: 1 to %d addresses\n", MAX_ADDRS);
		return -EINVAL;
	}
	struct kelp_filer *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	for (unsigned i = 0; i < o->n_addrs; i++) {
		if (kelp_http_resolve(o->addrs[i], f->addrs[i], sizeof(f->addrs[i])) != 0) {
			fprintf(stderr,
				"kelpd: [filer] address %s: not host:port, or the name does not "
				"resolve\n",
				o->addrs[i]);
			free(f);
			return -EINVAL;
		}
	}
	f->n_addrs = o->n_addrs;
	struct kelp_http_client_opts ho = {.timeout_ms = o->timeout_ms};
	int rc = kelp_http_client_create(ring, &ho, &f->http);
	if (!rc)
		rc = kelp_filer_cache_create(o->cache_entries, (uint64_t)o->ttl_ms * 1000000u,
					     &f->cache);
	if (rc) {
		kelp_http_client_destroy(f->http);
		free(f);
		return rc;
	}
	*out = f;
	return 0;
}

void kelp_filer_shutdown(struct kelp_filer *f)
{
	f->stopping = true;
	kelp_http_client_shutdown(f->http);
}

unsigned kelp_filer_busy(const struct kelp_filer *f)
{
	return f->inflight + kelp_http_client_busy(f->http);
}

bool kelp_filer_owns_op(const struct kelp_filer *f, const struct kelp_ctl_op *op)
{
	return kelp_http_client_owns_op(op);
}

void kelp_filer_destroy(struct kelp_filer *f)
{
	if (!f)
		return;
	kelp_http_client_destroy(f->http);
	kelp_filer_cache_destroy(f->cache);
	free(f);
}

void kelp_filer_get_stats(const struct kelp_filer *f, struct kelp_filer_stats *s)
{
	*s = f->st;
	kelp_filer_cache_get_stats(f->cache, &s->cache);
}
