/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelp-mount's file system: libfuse3 low-level operations on filer paths, served by libkelp's path
 * calls on one kelp session per FUSE worker thread.
 *
 * Why the low-level API: it lets kelp-mount choose node ids (the same id for a path as long as the
 * kernel knows it, so the kernel's page cache of a file survives between opens), answer readdirplus
 * (a listing with every entry's attributes in one round, no lookup per file afterwards: `ls -l`,
 * data loaders that walk a tree) and reply to a read straight from the session's arena buffer
 * (fuse_reply_buf writes it to /dev/fuse: no copy in between). The high-level API hides all three.
 *
 * Node ids: a struct mount_node per filer path, found by path in a hash table; its address is its
 * node id (FUSE_ROOT_ID for the root). The kernel holds nlookup references (lookup, readdirplus)
 * and gives them back with forget; the node is freed at 0. Between those, the kernel may use the
 * id from any worker thread; the node's path never changes, so it is read without the lock.
 *
 * Caching: entry and attribute timeouts are [filer] metadata_ttl_ms (kelpd caches the filer's
 * metadata as long, so a change in the filer shows within twice the TTL at worst). The kernel keeps
 * a file's pages between opens (keep_cache) while the attributes seen at open (size, mtime) are
 * those of the previous open; with FUSE_CAP_AUTO_INVAL_DATA it also drops them when a getattr
 * shows a new mtime or size.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "kelp.h"
#include "tools/kelp-mount/kelp_mount.h"

/* ---- the inode table ------------------------------------------------------------------------ */

struct mount_node {
	struct mount_node *next; /* hash chain */
	uint64_t nlookup;	 /* the kernel's references; freed at 0 (never the root) */
	uint64_t hash;
	struct kelp_path_stat st;     /* attributes last seen (lookup, getattr, readdirplus) */
	struct kelp_path_stat opened; /* attributes at the last open: what the page cache holds */
	bool was_opened;
	struct dir_listing *listing; /* a directory's names and attributes, for lookups (below) */
	size_t path_len;
	char path[]; /* the filer path, immutable */
};

/*
 * A directory's whole listing, kept for the TTL so that lookups in it need no request at all.
 * A data loader opens thousands of files of one directory by name without listing it: the first
 * lookup lists the directory (a few kelp_path_list requests, one filer listing each, which also
 * fill kelpd's entry cache with every file's chunks), and every later lookup and read of that
 * directory is then answered from caches, as `weed mount` answers from its local meta cache.
 * Directories with more than LISTING_MAX entries are looked up name by name instead.
 */
#define LISTING_MAX 16384

struct listing_ent {
	const char *name; /* in the listing's names block */
	struct kelp_path_stat st;
};

struct dir_listing {
	pthread_mutex_t
		lock; /* held while (re)listing: concurrent lookups wait and share the result */
	uint64_t fetched_ns; /* when the listing was made; 0 = none */
	bool too_big; /* more than LISTING_MAX entries at fetched_ns: look names up one by one */
	struct listing_ent *ents; /* sorted by name (byte order) */
	size_t n;
	char *names;
};

#define TABLE_BITS 16

static struct {
	pthread_mutex_t lock;
	struct mount_node *buckets[1u << TABLE_BITS];
	struct mount_node *root;
	const struct mount_opts *opts;
	pthread_key_t worker_key;
} tab = {.lock = PTHREAD_MUTEX_INITIALIZER};

static uint64_t path_hash(const char *p, size_t len)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
	return h;
}

static struct mount_node *node_of(fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? tab.root : (struct mount_node *)(uintptr_t)ino;
}

static fuse_ino_t ino_of(const struct mount_node *n)
{
	return n == tab.root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)n;
}

static struct mount_node *node_new(const char *path, size_t len)
{
	struct mount_node *n = calloc(1, sizeof(*n) + len + 1);
	if (!n)
		return NULL;
	memcpy(n->path, path, len);
	n->path_len = len;
	n->hash = path_hash(path, len);
	return n;
}

/*
 * node_ref - the node of @path with one more kernel reference and @st as its attributes (the
 * caller has just fetched them). Any worker thread. Return: the node, NULL when out of memory.
 */
static struct mount_node *node_ref(const char *path, const struct kelp_path_stat *st)
{
	size_t len = strlen(path);
	uint64_t h = path_hash(path, len);
	struct mount_node **b = &tab.buckets[h & ((1u << TABLE_BITS) - 1)];
	pthread_mutex_lock(&tab.lock);
	struct mount_node *n;
	if (len == tab.root->path_len && memcmp(path, tab.root->path, len) == 0)
		n = tab.root;
	else
		for (n = *b; n; n = n->next)
			if (n->hash == h && n->path_len == len && memcmp(n->path, path, len) == 0)
				break;
	if (!n) {
		n = node_new(path, len);
		if (!n) {
			pthread_mutex_unlock(&tab.lock);
			return NULL;
		}
		n->next = *b;
		*b = n;
	}
	n->nlookup++;
	n->st = *st;
	pthread_mutex_unlock(&tab.lock);
	return n;
}

static void listing_free(struct dir_listing *l)
{
	if (!l)
		return;
	pthread_mutex_destroy(&l->lock);
	free(l->ents);
	free(l->names);
	free(l);
}

/* node_unref - the kernel forgot @nlookup references of @n; frees it at 0. Any worker thread. */
static void node_unref(struct mount_node *n, uint64_t nlookup)
{
	if (n == tab.root)
		return;
	pthread_mutex_lock(&tab.lock);
	n->nlookup = n->nlookup > nlookup ? n->nlookup - nlookup : 0;
	if (n->nlookup == 0) {
		struct mount_node **p = &tab.buckets[n->hash & ((1u << TABLE_BITS) - 1)];
		while (*p != n)
			p = &(*p)->next;
		*p = n->next;
		listing_free(n->listing);
		free(n);
	}
	pthread_mutex_unlock(&tab.lock);
}

static void node_set_stat(struct mount_node *n, const struct kelp_path_stat *st)
{
	pthread_mutex_lock(&tab.lock);
	n->st = *st;
	pthread_mutex_unlock(&tab.lock);
}

/* @parent's path + "/" + @name into @out (KELP_PATH_MAX + 1 bytes). Return: 0, -ENAMETOOLONG. */
static int child_path(const struct mount_node *parent, const char *name, char *out)
{
	size_t nl = strlen(name);
	if (nl > KELP_NAME_MAX)
		return -ENAMETOOLONG;
	size_t pl = parent->path_len == 1 ? 0 : parent->path_len; /* "/" + name, not "//name" */
	if (pl + 1 + nl > KELP_PATH_MAX)
		return -ENAMETOOLONG;
	memcpy(out, parent->path, pl);
	out[pl] = '/';
	memcpy(out + pl + 1, name, nl + 1);
	return 0;
}

/* ---- per-thread sessions -------------------------------------------------------------------- */

#define WORKER_BUF_MIN (1u << 20) /* the arena buffer reads land in, grown for larger reads */

/* A FUSE worker thread's kelp state. Owned by one thread at a time: the thread it is bound to
 * (pthread key), or the pool while no thread has it. */
struct worker {
	struct worker *next_free; /* in the pool */
	struct kelp_session *s;
	char *buf; /* in s's arena */
	size_t buf_size;
	uint32_t max_io; /* the largest piece one path read may ask for */
};

/* Workers (with their open sessions) not bound to a thread. Opening a session costs kelpd a
 * shared segment (arena_mb of memory to map and clear: 0.1 s to seconds), so they are opened before
 * mounting (mount_fs_open_sessions) and a thread that ends gives its worker back instead of closing
 * it: no request waits for a session to be made. */
static struct {
	pthread_mutex_t lock;
	struct worker *free;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void pool_put(struct worker *w)
{
	pthread_mutex_lock(&pool.lock);
	w->next_free = pool.free;
	pool.free = w;
	pthread_mutex_unlock(&pool.lock);
}

static struct worker *pool_take(void)
{
	pthread_mutex_lock(&pool.lock);
	struct worker *w = pool.free;
	if (w)
		pool.free = w->next_free;
	pthread_mutex_unlock(&pool.lock);
	return w;
}

static void worker_drop_session(struct worker *w)
{
	kelp_buf_free(w->s, w->buf);
	kelp_close(w->s);
	w->s = NULL;
	w->buf = NULL;
	w->buf_size = 0;
}

/* Thread exit (pthread key destructor): the worker and its session go back to the pool. */
static void worker_release(void *p)
{
	pool_put(p);
}

/* Opens @w's session. The thread that owns @w. Return: 0, -errno (kelp_connect's). */
static int worker_connect(struct worker *w)
{
	struct kelp_opts o;
	kelp_opts_init(&o);
	o.config_path = tab.opts->config;
	/* a FUSE worker blocks anyway: sleep at once instead of spinning on a core that kelpd and
	 * the other workers need */
	o.wait_spin_us = 0;
	int rc = kelp_connect(&o, &w->s);
	if (rc < 0) {
		/* once per failed attempt: requests are the retry, and each says EIO */
		fprintf(stderr, "kelp-mount: cannot open a kelp session: %s\n",
			*kelp_last_error() ? kelp_last_error() : kelp_strerror(rc));
		return rc;
	}
	struct kelp_session_info info;
	kelp_session_info(w->s, &info);
	w->max_io = info.max_io ? info.max_io : WORKER_BUF_MIN;
	w->buf = kelp_buf_alloc(w->s, WORKER_BUF_MIN);
	w->buf_size = w->buf ? WORKER_BUF_MIN : 0;
	return 0;
}

int mount_fs_open_sessions(unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct worker *w = calloc(1, sizeof(*w));
		if (!w)
			return -ENOMEM;
		int rc = worker_connect(w);
		if (rc < 0) {
			free(w);
			return i ? 0 : rc; /* fewer than asked: the rest connect on first use */
		}
		pool_put(w);
	}
	return 0;
}

/*
 * worker_get - the calling thread's worker with a live session: its own, else one from the pool,
 * else a new one (connecting now, or again after kelpd went away). The calling thread only.
 * Return: 0 and *@out, -errno (kelp_connect's).
 */
static int worker_get(struct worker **out)
{
	struct worker *w = pthread_getspecific(tab.worker_key);
	if (!w) {
		w = pool_take();
		if (!w)
			w = calloc(1, sizeof(*w));
		if (!w)
			return -ENOMEM;
		pthread_setspecific(tab.worker_key, w);
	}
	if (!w->s) {
		int rc = worker_connect(w);
		if (rc < 0)
			return rc;
	}
	*out = w;
	return 0;
}

/* After a failed call: a session that kelpd ended (kelpd restarted, crashed) is reopened by the
 * next request instead of failing forever. */
static void worker_check(struct worker *w, int err)
{
	if (err == -ECONNRESET || err == -EPIPE || err == -EPROTO || err == -ESHUTDOWN ||
	    err == -EPROTONOSUPPORT)
		worker_drop_session(w);
}

/* An arena buffer of at least @size bytes. The calling thread only. Return: 0, -ENOMEM. */
static int worker_buf(struct worker *w, size_t size)
{
	if (w->buf && w->buf_size >= size)
		return 0;
	size_t want = size < WORKER_BUF_MIN ? WORKER_BUF_MIN : size;
	kelp_buf_free(w->s, w->buf);
	w->buf = kelp_buf_alloc(w->s, want);
	w->buf_size = w->buf ? want : 0;
	return w->buf ? 0 : -ENOMEM;
}

int mount_errno(int kelp_err)
{
	switch (-kelp_err) {
	case ENOENT:
	case ENOTDIR:
	case EISDIR:
	case ENAMETOOLONG:
	case EACCES:
	case ENOMEM:
		return -kelp_err;
	default:
		return EIO;
	}
}

/* ---- directory listings for lookups ---------------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int listing_cmp(const void *a, const void *b)
{
	return strcmp(((const struct listing_ent *)a)->name, ((const struct listing_ent *)b)->name);
}

/* The directory node's listing object, made on first use. Any worker thread. NULL: no memory. */
static struct dir_listing *listing_of(struct mount_node *dir)
{
	pthread_mutex_lock(&tab.lock);
	if (!dir->listing) {
		dir->listing = calloc(1, sizeof(*dir->listing));
		if (dir->listing)
			pthread_mutex_init(&dir->listing->lock, NULL);
	}
	struct dir_listing *l = dir->listing;
	pthread_mutex_unlock(&tab.lock);
	return l;
}

/*
 * listing_fetch - list @dir whole into @l (held locked by the caller): pages of kelp_path_list
 * until the end, or until more than LISTING_MAX (then too_big). The calling worker's session.
 * Return: 0, -errno (kelp_path_list's; @l keeps no listing).
 */
static int listing_fetch(struct worker *w, const char *dir, struct dir_listing *l)
{
	enum { BATCH = 512 };
	struct kelp_dirent *batch = malloc(BATCH * sizeof(*batch));
	struct listing_ent *ents = NULL;
	char *names = NULL;
	size_t n = 0, cap = 0, names_len = 0, names_cap = 0;
	int rc = batch ? 0 : -ENOMEM;
	bool too_big = false;
	char after[KELP_NAME_MAX + 1] = "";
	while (rc == 0) {
		int got = kelp_path_list(w->s, dir, after, batch, BATCH);
		if (got <= 0) {
			rc = got;
			break;
		}
		if (n + (size_t)got > LISTING_MAX) {
			too_big = true;
			break;
		}
		if (n + (size_t)got > cap) {
			cap = cap ? cap * 2 : BATCH;
			struct listing_ent *e = realloc(ents, cap * sizeof(*e));
			if (!e) {
				rc = -ENOMEM;
				break;
			}
			ents = e;
		}
		for (int i = 0; i < got && rc == 0; i++) {
			size_t len = strlen(batch[i].name) + 1;
			if (names_len + len > names_cap) {
				names_cap = names_cap ? names_cap * 2 : 16384;
				while (names_len + len > names_cap)
					names_cap *= 2;
				char *nb = realloc(names, names_cap);
				if (!nb) {
					rc = -ENOMEM;
					break;
				}
				names = nb;
			}
			memcpy(names + names_len, batch[i].name, len);
			ents[n].name =
				(const char *)(uintptr_t)names_len; /* an offset until done */
			ents[n].st = batch[i].st;
			names_len += len;
			n++;
		}
		memcpy(after, batch[got - 1].name, sizeof(after));
	}
	free(batch);
	free(l->ents);
	free(l->names);
	l->ents = NULL;
	l->names = NULL;
	l->n = 0;
	l->fetched_ns = 0;
	if (rc < 0) {
		free(ents);
		free(names);
		return rc;
	}
	l->fetched_ns = now_ns();
	l->too_big = too_big;
	if (too_big) {
		free(ents);
		free(names);
		return 0;
	}
	for (size_t i = 0; i < n; i++) /* offsets into pointers, now that names stopped moving */
		ents[i].name = names + (uintptr_t)ents[i].name;
	qsort(ents, n, sizeof(*ents), listing_cmp);
	l->ents = ents;
	l->names = names;
	l->n = n;
	return 0;
}

/*
 * listing_lookup - @name in @dir's listing, fetched (or refreshed after the TTL) now if need be.
 * Any worker thread (its own session). Return: 1 and *@st found; 0 not there (ENOENT);
 * -EAGAIN no listing to answer from (too big, TTL 0, or listing failed): ask kelpd for the path.
 */
static int listing_lookup(struct worker *w, struct mount_node *dir, const char *name,
			  struct kelp_path_stat *st)
{
	uint64_t ttl_ns = (uint64_t)(tab.opts->ttl_s * 1e9);
	if (ttl_ns == 0)
		return -EAGAIN;
	struct dir_listing *l = listing_of(dir);
	if (!l)
		return -EAGAIN;
	pthread_mutex_lock(&l->lock);
	int rc = 0;
	if (l->fetched_ns == 0 || now_ns() - l->fetched_ns >= ttl_ns)
		rc = listing_fetch(w, dir->path, l);
	if (rc < 0 || l->too_big) {
		pthread_mutex_unlock(&l->lock);
		worker_check(w, rc);
		return -EAGAIN;
	}
	struct listing_ent key = {.name = name};
	const struct listing_ent *e = bsearch(&key, l->ents, l->n, sizeof(key), listing_cmp);
	if (e)
		*st = e->st;
	pthread_mutex_unlock(&l->lock);
	return e ? 1 : 0;
}

/* ---- attributes ----------------------------------------------------------------------------- */

static void to_stat(const struct kelp_path_stat *k, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = k->inode;
	st->st_mode = k->mode;
	st->st_nlink = S_ISDIR(k->mode) ? 2 : 1;
	st->st_uid = k->uid;
	st->st_gid = k->gid;
	st->st_size = (off_t)k->size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((k->size + 511) / 512);
	st->st_mtim.tv_sec = k->mtime_ns / 1000000000;
	st->st_mtim.tv_nsec = k->mtime_ns % 1000000000;
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim; /* the filer keeps no status-change time; Crtime is not one */
}

static void fill_entry(struct fuse_entry_param *e, const struct mount_node *n,
		       const struct kelp_path_stat *k)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino_of(n);
	e->attr_timeout = tab.opts->ttl_s;
	e->entry_timeout = tab.opts->ttl_s;
	to_stat(k, &e->attr);
}

/* ---- operations ----------------------------------------------------------------------------- */

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	/* the kernel drops a file's cached pages when a getattr shows a new mtime or size */
	if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)
		conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	conn->want &= ~(uint32_t)FUSE_CAP_WRITEBACK_CACHE;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	char path[KELP_PATH_MAX + 1];
	int rc = child_path(node_of(parent), name, path);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	struct worker *w;
	rc = worker_get(&w);
	if (rc < 0) {
		fuse_reply_err(req, EIO);
		return;
	}
	struct kelp_path_stat st;
	rc = listing_lookup(w, node_of(parent), name, &st);
	if (rc == 1)
		rc = 0;
	else if (rc == 0)
		rc = -ENOENT;
	else
		rc = kelp_path_stat(w->s, path, &st);
	if (rc == -ENOENT) { /* a negative entry, cached as long as a positive one */
		struct fuse_entry_param e = {.ino = 0, .entry_timeout = tab.opts->ttl_s};
		fuse_reply_entry(req, &e);
		return;
	}
	if (rc < 0) {
		worker_check(w, rc);
		fuse_reply_err(req, mount_errno(rc));
		return;
	}
	struct mount_node *n = node_ref(path, &st);
	if (!n) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	struct fuse_entry_param e;
	fill_entry(&e, n, &st);
	if (fuse_reply_entry(req, &e) != 0)
		node_unref(n, 1); /* the kernel did not take the reference (interrupted) */
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	node_unref(node_of(ino), nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		node_unref(node_of(forgets[i].ino), forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mount_node *n = node_of(ino);
	struct worker *w;
	int rc = worker_get(&w);
	if (rc < 0) {
		fuse_reply_err(req, EIO);
		return;
	}
	struct kelp_path_stat k;
	rc = kelp_path_stat(w->s, n->path, &k);
	if (rc < 0) {
		worker_check(w, rc);
		fuse_reply_err(req, mount_errno(rc));
		return;
	}
	node_set_stat(n, &k);
	struct stat st;
	to_stat(&k, &st);
	fuse_reply_attr(req, &st, tab.opts->ttl_s);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct worker *w;
	int rc = worker_get(&w);
	if (rc < 0) {
		fuse_reply_err(req, EIO);
		return;
	}
	char target[KELP_PATH_MAX + 1];
	ssize_t len = kelp_path_readlink(w->s, node_of(ino)->path, target, sizeof(target));
	if (len < 0) {
		worker_check(w, (int)len);
		fuse_reply_err(req, len == -EINVAL ? EINVAL : mount_errno((int)len));
		return;
	}
	if ((size_t)len >= sizeof(target)) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	target[len] = '\0';
	fuse_reply_readlink(req, target);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	struct mount_node *n = node_of(ino);
	pthread_mutex_lock(&tab.lock);
	/* the pages cached since the last open are this version's when size and mtime still match
	 */
	fi->keep_cache = n->was_opened && n->opened.size == n->st.size &&
			 n->opened.mtime_ns == n->st.mtime_ns;
	n->opened = n->st;
	n->was_opened = true;
	pthread_mutex_unlock(&tab.lock);
	fi->noflush = 1; /* nothing to flush on close: the kernel may skip the FLUSH round */
	fuse_reply_open(req, fi);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct worker *w;
	int rc = worker_get(&w);
	if (rc < 0) {
		fuse_reply_err(req, EIO);
		return;
	}
	rc = worker_buf(w, size);
	if (rc < 0) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	const char *path = node_of(ino)->path;
	size_t done = 0;
	while (done < size) { /* one request normally; more when the kernel asks beyond max_io */
		uint32_t piece = size - done < w->max_io ? (uint32_t)(size - done) : w->max_io;
		ssize_t got = kelp_path_read(w->s, path, (uint64_t)off + done, w->buf + done, piece,
					     NULL);
		if (got < 0) {
			int err = mount_errno((int)got);
			worker_check(w, (int)got);
			fuse_reply_err(req, err);
			return;
		}
		done += (size_t)got;
		if ((uint32_t)got < piece)
			break; /* end of file */
	}
	/* straight from the arena: libfuse writes it to /dev/fuse, the kernel copies it once */
	fuse_reply_buf(req, w->buf, done);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0); /* no per-open state */
}

/* ---- directories ---------------------------------------------------------------------------- */

#define DIR_BATCH 512 /* entries per kelp_path_list request */

struct dir_handle {
	pthread_mutex_t
		lock; /* the kernel serialises readdir per open dir; this is cheap insurance */
	struct kelp_dirent *ents;
	size_t n, cap;
	bool done; /* the filer said there are no more */
};

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dir_handle *d = calloc(1, sizeof(*d));
	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_init(&d->lock, NULL);
	fi->fh = (uint64_t)(uintptr_t)d;
	fuse_reply_open(req, fi);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
	pthread_mutex_destroy(&d->lock);
	free(d->ents);
	free(d);
	fuse_reply_err(req, 0);
}

/* Fetches pages of the listing until entry @idx is there or the filer has no more. Return: 0,
 * -errno. */
static int dir_fill(struct worker *w, const char *path, struct dir_handle *d, size_t idx)
{
	while (d->n <= idx && !d->done) {
		if (d->cap - d->n < DIR_BATCH) {
			size_t cap = d->cap ? d->cap * 2 : DIR_BATCH;
			struct kelp_dirent *e = realloc(d->ents, cap * sizeof(*e));
			if (!e)
				return -ENOMEM;
			d->ents = e;
			d->cap = cap;
		}
		const char *after = d->n ? d->ents[d->n - 1].name : NULL;
		int got = kelp_path_list(w->s, path, after, d->ents + d->n, DIR_BATCH);
		if (got < 0)
			return got;
		if (got == 0)
			d->done = true;
		d->n += (size_t)got;
	}
	return 0;
}

/* readdir and readdirplus. Offsets: 1 after ".", 2 after "..", k + 3 after the listing's entry k.
 */
static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, bool plus)
{
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
	struct mount_node *dir = node_of(ino);
	struct worker *w;
	int rc = worker_get(&w);
	if (rc < 0) {
		fuse_reply_err(req, EIO);
		return;
	}
	char *buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	size_t used = 0;
	pthread_mutex_lock(&d->lock);
	for (off_t k = off;; k++) {
		const char *name;
		struct kelp_path_stat dot = {.mode = S_IFDIR | 0755, .inode = dir->st.inode};
		const struct kelp_path_stat *kst = &dot;
		if (k < 2) {
			name = k == 0 ? "." : "..";
		} else {
			rc = dir_fill(w, dir->path, d, (size_t)k - 2);
			if (rc < 0) {
				worker_check(w, rc);
				if (used == 0) {
					pthread_mutex_unlock(&d->lock);
					free(buf);
					fuse_reply_err(req, mount_errno(rc));
					return;
				}
				break; /* what fits so far; the next call asks again */
			}
			if ((size_t)k - 2 >= d->n)
				break;
			name = d->ents[k - 2].name;
			kst = &d->ents[k - 2].st;
		}
		size_t left = size - used;
		size_t need;
		if (!plus) {
			struct stat st;
			to_stat(kst, &st);
			need = fuse_add_direntry(req, buf + used, left, name, &st, k + 1);
			if (need > left)
				break;
		} else {
			need = fuse_add_direntry_plus(req, NULL, 0, name, NULL, 0);
			if (need > left)
				break;
			struct fuse_entry_param e;
			if (k < 2) { /* node id 0: the kernel makes no dentry (and takes no
					reference) */
				memset(&e, 0, sizeof(e));
				to_stat(kst, &e.attr);
			} else {
				char path[KELP_PATH_MAX + 1];
				struct mount_node *n = NULL;
				if (child_path(dir, name, path) == 0)
					n = node_ref(path, kst);
				if (!n)
					break;
				fill_entry(&e, n, kst);
			}
			fuse_add_direntry_plus(req, buf + used, left, name, &e, k + 1);
		}
		used += need;
	}
	pthread_mutex_unlock(&d->lock);
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	/* the filer reports no capacity through kelp: sizes 0, as many read-only FUSE mounts do */
	struct statvfs sv = {.f_bsize = 4096, .f_frsize = 4096, .f_namemax = KELP_NAME_MAX};
	fuse_reply_statfs(req, &sv);
}

/* ---- everything that would change the tree: a read-only file system ------------------------- */

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}
static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	fuse_reply_err(req, EROFS);
}
static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	fuse_reply_err(req, EROFS);
}
static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, EROFS);
}
static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, EROFS);
}
static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	fuse_reply_err(req, EROFS);
}
static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	fuse_reply_err(req, EROFS);
}
static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}
static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}
static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	fuse_reply_err(req, EROFS);
}
static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fuse_reply_err(req, EROFS);
}

const struct fuse_lowlevel_ops mount_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.statfs = op_statfs,
	.setattr = op_setattr,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_unlink,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.write = op_write,
	.create = op_create,
	.setxattr = op_setxattr,
	.removexattr = op_removexattr,
};

int mount_fs_init(const struct mount_opts *o)
{
	tab.opts = o;
	tab.root = node_new(o->root, strlen(o->root));
	if (!tab.root)
		return -ENOMEM;
	tab.root->nlookup = 1;
	tab.root->st.mode = S_IFDIR | 0755;
	int rc = pthread_key_create(&tab.worker_key, worker_release);
	return -rc;
}

void mount_fs_fini(void)
{
	struct worker *w = pthread_getspecific(tab.worker_key);
	if (w) {
		pthread_setspecific(tab.worker_key, NULL);
		pool_put(w);
	}
	while ((w = pool_take())) {
		if (w->s)
			worker_drop_session(w);
		free(w);
	}
	for (size_t i = 0; i < (1u << TABLE_BITS); i++) {
		struct mount_node *n = tab.buckets[i];
		while (n) {
			struct mount_node *next = n->next;
			listing_free(n->listing);
			free(n);
			n = next;
		}
		tab.buckets[i] = NULL;
	}
	listing_free(tab.root->listing);
	free(tab.root);
	tab.root = NULL;
}
