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

#include "core/clock.h"
#include "core/list.h"
#include "lcore/cluster/filer.h"
#include "lcore/cluster/http_client.h"

#define MAX_ADDRS 16
/* First body buffer of a lookup / a listing; a longer answer is asked again with a buffer of its
 * size (Content-Length), up to BODY_MAX. */
#define LOOKUP_BODY (64u << 10)
#define LIST_BODY   (1u << 20)
#define BODY_MAX    (256u << 20)
#define LIST_MAX    1024 /* names per listing page at most */

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
	struct pending *pend;	   /* Q_LOOKUP */
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

/* A new cached entry around @ent (moved in: @ent is left zeroed). */
static struct kelp_fentry *wrap(struct kelp_filer_entry *ent)
{
	struct kelp_fentry *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->refs = 1;
	e->ent = *ent;
	*ent = (struct kelp_filer_entry){0};
	return e;
}

/* ---- requests ---------------------------------------------------------------------------------
 */

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

static int parse_listing(struct freq *q)
{
	struct kelp_filer *f = q->f;
	struct kelp_filer_list *l = q->l;
	struct kelp_filer_listing page;
	int rc = kelp_filer_listing_parse((const char *)q->buf, q->call.body_len, &page);
	if (rc)
		return rc;
	uint32_t n = page.count < l->limit ? page.count : l->limit;
	l->ents = calloc(n ? n : 1, sizeof(*l->ents));
	if (!l->ents) {
		kelp_filer_listing_free(&page);
		return -ENOMEM;
	}
	uint64_t now = kelp_now_ns();
	for (uint32_t i = 0; i < n; i++) {
		struct kelp_filer_entry *pe = &page.ents[i];
		size_t nl = strlen(pe->name);
		if (nl == 0 || nl >= sizeof(l->ents[0].name)) {
			rc = -EBADMSG;
			break;
		}
		memcpy(l->ents[l->n].name, pe->name, nl + 1);
		struct kelp_fentry *e = wrap(pe);
		if (!e) {
			rc = -ENOMEM;
			break;
		}
		l->ents[l->n++].e = e;
		kelp_filer_cache_put(f->cache, e->ent.path, strlen(e->ent.path), now, e, 0);
	}
	kelp_filer_listing_free(&page);
	return rc;
}

/* The answer of the filer that answered (@status): parse it or tell the waiters its error. */
static void answered(struct freq *q, int status)
{
	struct kelp_filer *f = q->f;
	int err = 0;
	struct kelp_fentry *e = NULL;
	if (status == 404) {
		err = -ENOENT;
	} else if (status != 200) {
		err = -EIO;
	} else if (q->kind == Q_LOOKUP) {
		struct kelp_filer_entry ent;
		err = kelp_filer_entry_parse((const char *)q->buf, q->call.body_len, &ent);
		if (!err && !(e = wrap(&ent))) {
			kelp_filer_entry_free(&ent);
			err = -ENOMEM;
		}
	} else {
		err = parse_listing(q);
	}
	if (err == -EBADMSG || err == -ENAMETOOLONG) {
		f->st.bad_answers++;
		err = -EBADMSG; /* the filer's answer, not the caller's path */
	}
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
	failed(q, q->answered_5xx == q->tries ? -EIO
		  : q->timeouts == q->tries   ? -ETIMEDOUT
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

/* ---- life -------------------------------------------------------------------------------------
 */

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
