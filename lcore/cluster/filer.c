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
#include "lcore/path_table.h"

#define MAX_ADDRS 16
/* First body buffer of a lookup / a listing; a longer answer is asked again with a buffer of its
 * size (Content-Length), up to BODY_MAX. */
#define LOOKUP_BODY   (64u << 10)
#define LIST_BODY     (1u << 20)
#define BODY_MAX      (256u << 20)
#define LIST_MAX      1024 /* names per listing page at most */
#define LISTED_DIRS   4096 /* directories remembered as listed (within the TTL) at most */
#define RELIST_TTLS   10   /* ... and as read, for this many TTLs (dir_listing) */
#define RELIST_MISSES 32   /* misses in such a directory that list it again (dir_listing) */
/* No refresh ahead of a TTL shorter than this: a listing takes about that long, so a directory
 * being read would be listed back to back (refresh_due) */
#define REFRESH_TTL_MIN_NS (100u * 1000000u)

struct pending { /* a lookup in flight, and who waits for it */
	struct pending *next;
	struct pending *dnext; /* waiting for its directory's listing (struct dirl) */
	struct kelp_filer_wait *head, *tail;
	size_t len;
	char path[]; /* NUL-terminated (len bytes + NUL) */
};

/* A listing of the directory of missed paths (kelp_filer_lookup), page after page: every entry
 * it finds is cached, and the lookups that wait for it are answered from its pages. */
struct dirl {
	struct dirl *next;
	struct kelp_filer *f;
	struct pending *waiting;
	bool background; /* a listing again: nobody waits for it (dir_listing) */
	uint64_t started_ns;
	struct kelp_filer_list l;
	uint32_t listed;
	char after[256];
	char dir[]; /* NUL-terminated */
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

/* A directory listed completely: listed again at half the TTL if it is being read (refresh_due). */
struct hot {
	struct hot *next;
	uint64_t listed_ns;
	size_t len;
	char dir[];
};

struct kelp_filer {
	struct kelp_http_client *http;
	char addrs[MAX_ADDRS][KELP_LOOKUP_URL_MAX];
	unsigned n_addrs, cur;
	struct kelp_filer_cache *cache;
	struct pending *pending;
	/* lookup misses list their directory (opts.list_max > 0): listings in flight, and the
	 * directories listed within the TTL (their other misses are single lookups) */
	uint32_t list_max;
	struct dirl *dirls;
	struct kelp_filer_cache *listed, *seen;
	struct hot *hot; /* newest first */
	unsigned n_hot;
	uint64_t ttl_ns;
	struct kelp_path_table *plans; /* NULL: none (then nothing is refreshed ahead) */
	struct kelp_ctl_op refresh_op; /* the timer of refresh_due */
	struct __kernel_timespec refresh_ts;
	bool refresh_armed;
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

/* A lookup ended: cache the result and tell every waiter. Takes @e's reference. */
static void pending_finish(struct kelp_filer *f, struct pending *p, int err, struct kelp_fentry *e,
			   bool cache)
{
	for (struct pending **pp = &f->pending; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	if (cache && !f->stopping && (e || err == -ENOENT))
		kelp_filer_cache_put(f->cache, p->path, p->len, kelp_now_ns(), e, err);
	struct kelp_filer_wait *w;
	while ((w = KELP_FIFO_POP(p->head, p->tail))) {
		kelp_fentry_get(e);
		w->done(w, e ? 0 : err, e);
	}
	kelp_fentry_put(e);
	free(p);
}

static void lookup_finish(struct freq *q, int err, struct kelp_fentry *e)
{
	pending_finish(q->f, q->pend, err, e, true);
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
	l->more = page.more;
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

/* Ask the filer for @p's entry alone (GET path?metadata=true). Return: 0 (pending_finish follows,
 * never inside); -errno (nothing started, @p untouched). */
static int start_lookup(struct kelp_filer *f, struct pending *p)
{
	if (f->stopping)
		return -ECANCELED;
	struct freq *q = freq_new(f, Q_LOOKUP, LOOKUP_BODY);
	char *url = malloc(p->len * 3 + sizeof("?metadata=true"));
	if (!q || !url) {
		free(url);
		if (q)
			freq_free(q);
		return -ENOMEM;
	}
	size_t o = url_encode(p->path, p->len, url);
	memcpy(url + o, "?metadata=true", sizeof("?metadata=true"));
	q->url = url;
	q->pend = p;
	int rc = freq_start(q);
	if (rc == 0)
		f->st.lookups++;
	return rc;
}

static void dir_page_done(struct kelp_filer_list *l, int err);

static int dir_page_start(struct dirl *d)
{
	uint32_t left = d->f->list_max - d->listed;
	d->l = (struct kelp_filer_list){.dir = d->dir,
					.after = d->after[0] ? d->after : NULL,
					.limit = left < LIST_MAX ? left : LIST_MAX,
					.done = dir_page_done};
	return kelp_filer_list_start(d->f, &d->l);
}

/* A listing of @dir (@dlen bytes) started, or NULL; @background: nobody waits for it. */
static struct dirl *dir_start(struct kelp_filer *f, const char *dir, size_t dlen, bool background)
{
	struct dirl *d = calloc(1, sizeof(*d) + dlen + 1);
	if (!d)
		return NULL;
	d->f = f;
	d->background = background;
	d->started_ns = kelp_now_ns();
	memcpy(d->dir, dir, dlen);
	if (dir_page_start(d) != 0) {
		free(d);
		return NULL;
	}
	d->next = f->dirls;
	f->dirls = d;
	return d;
}

static void arm_refresh(struct kelp_filer *f);

/* @dir was listed to its end at @now: remember it for refresh_due (newest first, LISTED_DIRS at
 * most: the oldest is forgotten, its entries then just expire). */
static void hot_add(struct kelp_filer *f, const char *dir, size_t len, uint64_t now)
{
	if (!f->plans || f->ttl_ns < REFRESH_TTL_MIN_NS)
		return;
	struct hot **pp = &f->hot;
	unsigned n = 0;
	while (*pp) { /* drop an older record of the same directory, and any past the cap */
		struct hot *h = *pp;
		if ((h->len == len && !memcmp(h->dir, dir, len)) || ++n >= LISTED_DIRS) {
			*pp = h->next;
			free(h);
			f->n_hot--;
			continue;
		}
		pp = &h->next;
	}
	struct hot *h = malloc(sizeof(*h) + len);
	if (!h)
		return;
	h->listed_ns = now;
	h->len = len;
	memcpy(h->dir, dir, len);
	h->next = f->hot;
	f->hot = h;
	f->n_hot++;
	arm_refresh(f);
}

/*
 * The directories listed half the TTL ago or longer: those whose files were read since (on an
 * lcore or from the cache here: kelp_path_table_dir_read) are listed again now, in the background,
 * so that their entries are replaced before they expire and reads of them never go to the filer
 * one by one; the others are forgotten (their entries expire). Each entry is still at most the TTL
 * old: a change in the filer shows within the TTL, as without the refresh. Half, not later: the
 * timer runs every TTL/8 and the listing must land before the old entries expire, on a loaded
 * machine too.
 */
static void refresh_due(struct kelp_filer *f, uint64_t now)
{
	uint64_t ahead = f->ttl_ns / 2;
	for (struct hot **pp = &f->hot; *pp;) {
		struct hot *h = *pp;
		if (now < h->listed_ns + ahead) {
			pp = &h->next;
			continue;
		}
		*pp = h->next;
		f->n_hot--;
		bool busy = false;
		for (struct dirl *d = f->dirls; d && !busy; d = d->next)
			busy = strlen(d->dir) == h->len && !memcmp(d->dir, h->dir, h->len);
		if (!busy && kelp_path_table_dir_read(f->plans, h->dir, h->len) >= h->listed_ns &&
		    dir_start(f, h->dir, h->len, true))
			f->st.dir_refreshes++;
		free(h);
	}
}

static void refresh_done(struct kelp_control *ctl, struct kelp_ctl_op *op, int res, uint32_t flags)
{
	struct kelp_filer *f = kelp_container_of(op, struct kelp_filer, refresh_op);
	f->refresh_armed = false;
	if (f->stopping)
		return;
	refresh_due(f, kelp_now_ns());
	arm_refresh(f);
}

/* The timer of refresh_due, every TTL/8 while a listed directory is remembered. */
static void arm_refresh(struct kelp_filer *f)
{
	struct io_uring_sqe *sqe;
	if (f->refresh_armed || f->stopping || !f->hot ||
	    !(sqe = kelp_uring_sqe(kelp_http_client_ring(f->http))))
		return;
	uint64_t ns = f->ttl_ns / 8 ? f->ttl_ns / 8 : 1;
	f->refresh_ts.tv_sec = (long long)(ns / 1000000000u);
	f->refresh_ts.tv_nsec = (long long)(ns % 1000000000u);
	io_uring_prep_timeout(sqe, &f->refresh_ts, 0, 0);
	io_uring_sqe_set_data(sqe, &f->refresh_op);
	f->refresh_armed = true;
}

/*
 * @p's directory (the path up to its last "/") when listing it on a miss is on: a listing for @p
 * to wait for (one in flight, or a new one), or NULL: look @p up alone. Not listed again within
 * the TTL of its last listing. A directory listed before (within RELIST_TTLS x the TTL) whose
 * entries expired is listed again only after RELIST_MISSES more misses in it, and in the
 * background, its misses looked up alone meanwhile: a listing costs the filer and the control
 * thread about as much as a few dozen lookups (parsing ~40 us per entry here), so a directory of
 * which little is read is not listed every TTL; and no read waits for a listing again, for where
 * a listing takes about the TTL (a loaded filer or control thread), reads waiting for listings
 * would each get about one listing and never catch up.
 */
static struct dirl *dir_listing(struct kelp_filer *f, const struct pending *p)
{
	if (!f->list_max || p->len < 2)
		return NULL;
	size_t dl = p->len - 1;
	while (dl > 0 && p->path[dl] != '/')
		dl--;
	const char *dir = dl ? p->path : "/";
	size_t dlen = dl ? dl : 1;
	for (struct dirl *d = f->dirls; d; d = d->next)
		if (strlen(d->dir) == dlen && !memcmp(d->dir, dir, dlen))
			return d->background ? NULL : d;
	struct kelp_fentry *e = NULL;
	int err = 0;
	uint64_t now = kelp_now_ns();
	if (kelp_filer_cache_get(f->listed, dir, dlen, now, &e, &err))
		return NULL; /* listed a moment ago: this name was not in it (or past its end) */
	int misses = 0;
	bool again = kelp_filer_cache_get(f->seen, dir, dlen, now, &e, &misses);
	if (again && misses + 1 < RELIST_MISSES) { /* not read enough (yet) to list it again */
		kelp_filer_cache_put(f->seen, dir, dlen, now, NULL, misses + 1);
		return NULL;
	}
	struct dirl *d = dir_start(f, dir, dlen, again);
	if (d)
		f->st.dir_lists++;
	return again ? NULL : d;
}

/* The listing @d ended (@err 0: complete or as far as list_max goes): the lookups it did not
 * answer ask for their entry alone (never a -ENOENT from a listing: the lookup says). */
static void dir_end(struct dirl *d, int err)
{
	struct kelp_filer *f = d->f;
	for (struct dirl **pp = &f->dirls; *pp; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	if (!err && !f->stopping) {
		uint64_t now = kelp_now_ns();
		kelp_filer_cache_put(f->listed, d->dir, strlen(d->dir), now, NULL, 0);
		kelp_filer_cache_put(f->seen, d->dir, strlen(d->dir), now, NULL, 0);
		/* the TTL of its entries runs from when they were fetched: the first page */
		hot_add(f, d->dir, strlen(d->dir), d->started_ns);
	}
	struct pending *p;
	while ((p = d->waiting)) {
		d->waiting = p->dnext;
		int rc = start_lookup(f, p);
		if (rc)
			pending_finish(f, p, rc, NULL, false);
	}
	free(d);
}

static void dir_page_done(struct kelp_filer_list *l, int err)
{
	struct dirl *d = kelp_container_of(l, struct dirl, l);
	if (err) {
		dir_end(d, err);
		return;
	}
	/* answer the waiters whose name is on this page (the entries are cached already) */
	for (struct pending **pp = &d->waiting; *pp;) {
		struct pending *p = *pp;
		const char *name = strrchr(p->path, '/') + 1;
		struct kelp_fentry *e = NULL;
		for (unsigned i = 0; i < l->n && !e; i++)
			if (!strcmp(l->ents[i].name, name))
				e = l->ents[i].e;
		if (!e) {
			pp = &p->dnext;
			continue;
		}
		*pp = p->dnext;
		kelp_fentry_get(e);
		d->f->st.dir_list_hits++;
		pending_finish(d->f, p, 0, e, false); /* cached by the listing already */
	}
	d->listed += l->n;
	bool full = l->n == l->limit && l->n > 0;
	if (full)
		snprintf(d->after, sizeof(d->after), "%s", l->ents[l->n - 1].name);
	kelp_filer_list_free(l);
	/* on to the end (or list_max) even when nobody waits: the next misses there are lookups */
	if (full && d->listed < d->f->list_max && !d->f->stopping && dir_page_start(d) == 0)
		return;
	dir_end(d, 0);
}

int kelp_filer_lookup(struct kelp_filer *f, const char *path, size_t len, struct kelp_filer_wait *w,
		      struct kelp_fentry **hit)
{
	if (f->stopping)
		return -ECANCELED;
	int err = 0;
	uint64_t now = kelp_now_ns();
	if (kelp_filer_cache_get(f->cache, path, len, now, hit, &err)) {
		if (*hit && f->plans) /* read here, not on an lcore: its directory is read too */
			kelp_path_table_touch_path(f->plans, path, len, now);
		return *hit ? 0 : err;
	}
	for (struct pending *p = f->pending; p; p = p->next)
		if (p->len == len && !memcmp(p->path, path, len)) {
			KELP_FIFO_PUSH(p->head, p->tail, w);
			return -EINPROGRESS;
		}
	struct pending *p = calloc(1, sizeof(*p) + len + 1);
	if (!p)
		return -ENOMEM;
	memcpy(p->path, path, len);
	p->len = len;
	struct dirl *d = dir_listing(f, p);
	if (d) {
		p->dnext = d->waiting;
		d->waiting = p;
	} else {
		int rc = start_lookup(f, p);
		if (rc) {
			free(p);
			return rc;
		}
	}
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
	/* listing a miss's directory fills the cache: not when nothing is cached; at most what
	 * the cache holds */
	f->list_max = o->ttl_ms && o->cache_entries ? o->list_max : 0;
	f->ttl_ns = (uint64_t)o->ttl_ms * 1000000u;
	f->refresh_op.done = refresh_done;
	if (f->list_max > o->cache_entries)
		f->list_max = o->cache_entries;
	if (!rc && f->list_max)
		rc = kelp_filer_cache_create(LISTED_DIRS, (uint64_t)o->ttl_ms * 1000000u,
					     &f->listed);
	if (!rc && f->list_max)
		rc = kelp_filer_cache_create(
			LISTED_DIRS, (uint64_t)o->ttl_ms * 1000000u * RELIST_TTLS, &f->seen);
	if (rc) {
		kelp_filer_cache_destroy(f->listed);
		kelp_filer_cache_destroy(f->cache);
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
	if (f->refresh_armed) {
		struct io_uring_sqe *sqe = kelp_uring_sqe(kelp_http_client_ring(f->http));
		if (sqe) {
			io_uring_prep_timeout_remove(sqe, (uint64_t)(uintptr_t)&f->refresh_op, 0);
			io_uring_sqe_set_data(sqe, NULL);
		}
	}
}

unsigned kelp_filer_busy(const struct kelp_filer *f)
{
	return f->inflight + kelp_http_client_busy(f->http) + f->refresh_armed;
}

bool kelp_filer_owns_op(const struct kelp_filer *f, const struct kelp_ctl_op *op)
{
	return op == &f->refresh_op || kelp_http_client_owns_op(op);
}

void kelp_filer_destroy(struct kelp_filer *f)
{
	if (!f)
		return;
	kelp_http_client_destroy(f->http);
	kelp_filer_cache_destroy(f->cache);
	kelp_filer_cache_destroy(f->listed);
	kelp_filer_cache_destroy(f->seen);
	struct hot *h;
	while ((h = f->hot)) {
		f->hot = h->next;
		free(h);
	}
	free(f);
}

void kelp_filer_set_plans(struct kelp_filer *f, struct kelp_path_table *t)
{
	kelp_filer_cache_set_plans(f->cache, t);
	f->plans = t;
}

void kelp_filer_get_stats(const struct kelp_filer *f, struct kelp_filer_stats *s)
{
	*s = f->st;
	kelp_filer_cache_get_stats(f->cache, &s->cache);
}
