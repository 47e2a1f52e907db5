/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Path requests on the control thread (filer_req.h; shm/ABI.md 3, "Path requests").
 *
 * A request arrives from an lcore (struct kelp_remote_read with a path opcode). Its path's bytes
 * lie in the client's arena: they are copied once, then checked (core/fpath.h) on the copy. The
 * entry comes from the filer client (lcore/cluster/filer.h: cache, or one lookup shared by every
 * request for that path); STAT, READLINK and LIST answer from metadata. A READ of [off, off + n):
 *   1. plan: which chunk covers which byte, the newest (modified_ts_ns) winning where chunks
 *      overlap, as the filer does; bytes no chunk covers are holes (zeros); inline Content is
 *      copied;
 *   2. each piece of a chunk is read like a fid READ the control thread issues itself: from the
 *      local volume file when the volume is here (kelp_ctl_read_local, synchronous), else over the
 *      HTTP fallback (kelp_ctl_remote_read with ctl_done), straight into the client's buffer.
 *      A chunk that must be transformed (stored gzip, encrypted, compressed) is read whole into
 *      a private buffer, decoded here (the control thread: no CPU work on the lcores), and the
 *      wanted range copied;
 *   3. when every piece is back the request completes once: n bytes, or the first error (a chunk
 *      that failed fails the request: never wrong bytes).
 * Control thread only, all of it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "core/fpath.h"
#include "core/list.h"
#include "core/cipher.h"
#include "core/volume.h"
#include "kelp_abi.h"
#include "lcore/cluster/filer.h"
#include "lcore/control/control_priv.h"
#include "lcore/control/filer_req.h"
#include "lcore/control/remote_read.h"
#include "lcore/engine.h"
#include "lcore/path_table.h"
#include "proto/chunk_manifest.h"
#include "proto/chunk_plan.h"

/* Chunk reads of one path read in flight at most (the rest wait for their turn). */
#define PIECES_INFLIGHT 16

struct filer_srv {
	struct kelp_control *ctl;
	struct kelp_filer *filer;
	struct kelp_path_table *plans; /* published to the lcores (eng->path_table); NULL: none */
	bool stopping;
	unsigned inflight; /* requests started, not completed */
	uint64_t requests[4], errors, path_reads, read_bytes, chunk_reads, chunk_reads_local,
		chunk_reads_remote, chunks_transformed, holes, manifests_resolved;
};

struct preq;

struct piece {
	struct preq *pr;
	struct kelp_filer_chunk c; /* a copy: manifests' chunk arrays come and go */
	bool manifest;		   /* a chunk manifest: its data lists more chunks */
	uint64_t chunk_off;	   /* where the piece starts in the chunk's (plain) data */
	uint32_t len;
	uint8_t *dst;	/* in the client's buffer */
	uint8_t *whole; /* whole-chunk buffer of a transformed chunk */
	size_t whole_cap;
	bool transform; /* read whole, decode, copy */
	bool retried;	/* whole buffer grown once */
	struct kelp_remote_read rd;
};

struct preq {
	struct filer_srv *fs;
	struct kelp_remote_read *rr;
	char *path; /* NUL-terminated copy; after it LIST's "after" */
	size_t len;
	char *after;
	struct kelp_filer_wait w;
	struct kelp_fentry *e;
	/* LIST */
	struct kelp_filer_list l;
	bool listing;
	/* READ */
	struct piece *pieces;
	unsigned n_pieces, next, inflight;
	bool issuing; /* inside next_pieces() */
	int err;
	/* resolving chunk manifests (the entry's first read): data chunks found so far, and the
	 * manifests the current round found inside manifests */
	bool resolving;
	struct kelp_filer_chunk *res, *more;
	uint32_t n_res, cap_res, n_more, cap_more;
	uint32_t n; /* bytes the read returns */
};

/* ---- completion --------------------------------------------------------------------------------
 */

static void complete(struct preq *pr, int32_t result)
{
	struct filer_srv *fs = pr->fs;
	struct kelp_remote_read *rr = pr->rr;
	rr->result = result;
	rr->cqe_flags = 0;
	rr->size = pr->e ? pr->e->ent.attr.size : 0;
	rr->crc = 0;
	rr->needle_flags = 0;
	if (result < 0)
		fs->errors++;
	for (unsigned i = 0; i < pr->n_pieces; i++)
		free(pr->pieces[i].whole);
	free(pr->pieces);
	free(pr->res);
	free(pr->more);
	if (pr->listing)
		kelp_filer_list_free(&pr->l);
	kelp_fentry_put(pr->e);
	free(pr->path);
	free(pr);
	fs->inflight--;
	kelp_ctl_remote_done(fs->ctl, rr);
}

/* ---- STAT, READLINK, LIST ----------------------------------------------------------------------
 */

static void fill_stat(const struct kelp_fentry *e, const char *path, size_t len,
		      struct kelp_path_stat *st)
{
	const struct kelp_filer_attr *a = &e->ent.attr;
	*st = (struct kelp_path_stat){
		.size = a->size,
		.mtime_ns = a->mtime_ns,
		.ctime_ns = a->crtime_ns,
		.inode = a->inode ? a->inode : kelp_filer_path_inode(path, len),
		.mode = a->mode,
		.uid = a->uid,
		.gid = a->gid,
	};
}

static void list_done(struct kelp_filer_list *l, int err)
{
	struct preq *pr = kelp_container_of(l, struct preq, l);
	if (err) {
		complete(pr, err);
		return;
	}
	struct kelp_dirent *d = (struct kelp_dirent *)pr->rr->dst;
	char full[KELP_FPATH_MAX + KELP_FNAME_MAX + 2];
	for (unsigned i = 0; i < l->n; i++) {
		struct kelp_dirent de = {0};
		size_t nl = strlen(l->ents[i].name);
		int fl = snprintf(full, sizeof(full), "%s/%s", pr->len > 1 ? pr->path : "",
				  l->ents[i].name);
		fill_stat(l->ents[i].e, full, (size_t)fl, &de.st);
		memcpy(de.name, l->ents[i].name, nl + 1);
		memcpy(&d[i], &de, sizeof(de));
	}
	complete(pr, (int32_t)l->n);
}

static void start_list(struct preq *pr)
{
	if (!S_ISDIR(pr->e->ent.attr.mode)) {
		complete(pr, -ENOTDIR);
		return;
	}
	pr->listing = true;
	pr->l.dir = pr->path;
	pr->l.after = pr->after;
	pr->l.limit = pr->rr->length / sizeof(struct kelp_dirent);
	pr->l.done = list_done;
	int rc = kelp_filer_list_start(pr->fs->filer, &pr->l);
	if (rc) {
		pr->listing = false;
		complete(pr, rc);
	}
}

/* ---- READ: chunk reads -------------------------------------------------------------------------
 */

static void next_pieces(struct preq *pr);
static int issue_piece(struct piece *p);

/* The whole stored chunk is in p->whole (@got bytes, CQE @flags): its plain bytes (decrypted,
 * gunzipped: core/cipher.h) into a new buffer *@plain of *@plain_len bytes. */
static int unpack_whole(struct piece *p, size_t got, uint32_t flags, uint8_t **plain,
			size_t *plain_len)
{
	const struct kelp_filer_chunk *c = &p->c;
	/* not encrypted: the needle's gzip flag says (KELP_CQE_F_GZIP); encrypted: is_compressed */
	bool compressed = c->cipher_key_len ? c->is_compressed : (flags & KELP_CQE_F_GZIP) != 0;
	size_t cap = p->manifest ? got * 4 + 4096 : c->size;
	for (int i = 0; i < 6; i++, cap *= 4) {
		uint8_t *out = malloc(cap ? cap : 1);
		if (!out)
			return -ENOMEM;
		int rc = kelp_chunk_unpack(c->cipher_key, c->cipher_key_len, compressed, p->whole,
					   got, out, cap, plain_len);
		if (rc == 0) {
			*plain = out;
			return 0;
		}
		free(out);
		if (rc != -ENOSPC)
			return rc == -ENOMEM ? rc : -EIO;
	}
	return -EIO;
}

/* A manifest chunk's plain bytes: its chunks go to the request's resolved list (or, manifests
 * again, to the next round). */
static int add_manifest(struct preq *pr, const uint8_t *buf, size_t len)
{
	struct kelp_filer_chunk *cs;
	uint32_t n;
	int rc = kelp_chunk_manifest_decode(buf, len, &cs, &n);
	if (rc)
		return rc == -ENOMEM ? rc : -EIO;
	for (uint32_t i = 0; i < n && !rc; i++) {
		bool m = cs[i].is_chunk_manifest;
		struct kelp_filer_chunk **arr = m ? &pr->more : &pr->res;
		uint32_t *cnt = m ? &pr->n_more : &pr->n_res,
			 *cap = m ? &pr->cap_more : &pr->cap_res;
		if (*cnt + 1 > KELP_FILER_CHUNKS_MAX * 64u) {
			rc = -EIO; /* absurd: more chunks than kelp_chunk_visibles() takes */
			break;
		}
		if (*cnt == *cap) {
			uint32_t nc = *cap ? *cap * 2 : 64;
			struct kelp_filer_chunk *na = realloc(*arr, nc * sizeof(*na));
			if (!na) {
				rc = -ENOMEM;
				break;
			}
			*arr = na;
			*cap = nc;
		}
		(*arr)[(*cnt)++] = cs[i];
	}
	free(cs);
	return rc;
}

/* A piece's read ended with @result bytes (or -errno) and CQE @flags (@size: the needle's). */
static void piece_done(struct piece *p, int32_t result, uint32_t flags, uint64_t size)
{
	struct preq *pr = p->pr;
	int err = result < 0 ? result : 0;
	if (!err && !p->transform && (flags & KELP_CQE_F_GZIP)) {
		/* stored gzip by the volume server: those were compressed bytes; read it whole */
		p->transform = true;
		err = 1;
	} else if (!err && p->transform && (flags & KELP_CQE_F_TRUNCATED) && !p->retried &&
		   size <= UINT32_MAX) {
		p->retried = true; /* larger than guessed: once more with its size */
		free(p->whole);
		p->whole = NULL;
		p->whole_cap = size;
		err = 1;
	} else if (!err && p->transform) {
		uint8_t *plain = NULL;
		size_t plen = 0;
		pr->fs->chunks_transformed++;
		err = unpack_whole(p, (size_t)result, flags, &plain, &plen);
		if (!err && p->manifest)
			err = add_manifest(pr, plain, plen);
		else if (!err && plen < p->chunk_off + p->len)
			err = -EIO; /* shorter than the filer says: never hand out what is not there
				     */
		else if (!err)
			memcpy(p->dst, plain + p->chunk_off, p->len);
		free(plain);
	} else if (!err && (uint32_t)result != p->len) {
		err = -EIO; /* the chunk is shorter than the filer's entry says */
	}
	if (err == 1) { /* issue this piece again (still counted in flight) */
		issue_piece(p);
		return;
	}
	free(p->whole);
	p->whole = NULL;
	if (err && !pr->err)
		pr->err = err;
	pr->inflight--;
	next_pieces(pr);
}

static void remote_piece_done(struct kelp_remote_read *rd)
{
	struct piece *p = kelp_container_of(rd, struct piece, rd);
	piece_done(p, rd->result, rd->cqe_flags, rd->size);
}

/* Start @p's read. Return: 1 when it is in flight, 0 when it finished here (piece_done ran). */
static int issue_piece(struct piece *p)
{
	struct preq *pr = p->pr;
	struct filer_srv *fs = pr->fs;
	struct kelp_engine *eng = kelp_ctl_engine(fs->ctl);
	uint8_t *dst = p->dst;
	uint64_t off = p->chunk_off;
	uint32_t len = p->len;
	if (p->transform) {
		if (!p->whole_cap) /* stored size unknown: plain size plus room for nonce and tag */
			p->whole_cap = p->manifest ? (1u << 20) : p->c.size + p->c.size / 64 + 4096;
		if (p->whole_cap > UINT32_MAX || !(p->whole = malloc(p->whole_cap))) {
			piece_done(p, -ENOMEM, 0, 0);
			return 0;
		}
		dst = p->whole;
		off = 0;
		len = (uint32_t)p->whole_cap;
	}
	fs->chunk_reads++;
	struct kelp_cqe c;
	int here = kelp_ctl_read_local(eng, &p->c.fid, off, len, dst, &c);
	if (here != 0)
		fs->chunk_reads_local++;
	if (here == 1) {
		piece_done(p, c.result, c.flags, c.size);
		return 0;
	}
	bool local_failed = here == -EIO; /* a replica may have it intact */
	p->rd = (struct kelp_remote_read){
		.opcode = KELP_OP_READ,
		.fid = p->c.fid,
		.offset = off,
		.length = len,
		.dst = dst,
		.local_failed = local_failed,
		.ctl_done = remote_piece_done,
	};
	fs->chunk_reads_remote++;
	int rc = kelp_ctl_remote_read(fs->ctl, &p->rd);
	if (rc != 0) {
		piece_done(p, rc < 0 ? rc : -EIO, 0, 0);
		return 0;
	}
	return 1;
}

static void plan_read(struct preq *pr);
static void resolve_round(struct preq *pr, const struct kelp_filer_chunk *manifests, uint32_t n);

/* Every piece of the current phase is back: the next phase, or the completion. */
static void phase_done(struct preq *pr)
{
	struct filer_srv *fs = pr->fs;
	if (pr->err) {
		complete(pr, pr->err);
		return;
	}
	if (pr->resolving) {
		if (pr->n_more) { /* manifests inside manifests: another round */
			struct kelp_filer_chunk *m = pr->more;
			uint32_t n = pr->n_more;
			pr->more = NULL;
			pr->n_more = pr->cap_more = 0;
			resolve_round(pr, m, n);
			free(m);
			return;
		}
		/* resolved: the entry keeps its data chunks and visible intervals */
		struct kelp_fentry *e = pr->e;
		struct kelp_chunk_visible *vis = NULL;
		uint32_t nvis = 0;
		int rc = kelp_chunk_visibles(pr->res, pr->n_res, &vis, &nvis);
		if (rc) {
			complete(pr, rc == -ENOMEM ? rc : -EIO);
			return;
		}
		if (!e->planned) { /* another read may have resolved it meanwhile */
			e->data = pr->res;
			e->n_data = pr->n_res;
			e->vis = vis;
			e->nvis = nvis;
			e->planned = true;
			pr->res = NULL;
		} else {
			free(vis);
		}
		pr->resolving = false;
		plan_read(pr);
		return;
	}
	fs->read_bytes += pr->n;
	complete(pr, (int32_t)pr->n);
}

/* Keep up to PIECES_INFLIGHT pieces in flight; the next phase after the last. */
static void next_pieces(struct preq *pr)
{
	if (pr->issuing)
		return; /* a piece that finished inside issue_piece(): the loop below goes on */
	pr->issuing = true;
	while (!pr->err && pr->next < pr->n_pieces && pr->inflight < PIECES_INFLIGHT) {
		struct piece *p = &pr->pieces[pr->next++];
		pr->inflight++;
		issue_piece(p);
	}
	pr->issuing = false;
	if (pr->inflight == 0 && (pr->err || pr->next >= pr->n_pieces))
		phase_done(pr);
}

static void free_pieces(struct preq *pr)
{
	for (unsigned i = 0; i < pr->n_pieces; i++)
		free(pr->pieces[i].whole);
	free(pr->pieces);
	pr->pieces = NULL;
	pr->n_pieces = pr->next = 0;
}

/* Read @n manifest chunks whole (their data lists more chunks). */
static void resolve_round(struct preq *pr, const struct kelp_filer_chunk *manifests, uint32_t n)
{
	free_pieces(pr);
	pr->pieces = calloc(n ? n : 1, sizeof(*pr->pieces));
	if (!pr->pieces) {
		complete(pr, -ENOMEM);
		return;
	}
	for (uint32_t i = 0; i < n; i++)
		pr->pieces[i] = (struct piece){
			.pr = pr, .c = manifests[i], .transform = true, .manifest = true};
	pr->n_pieces = n;
	pr->fs->manifests_resolved += n;
	next_pieces(pr);
}

/* The entry's chunks are resolved: plan [offset, offset + n) and read the pieces. */
static void plan_read(struct preq *pr)
{
	struct kelp_fentry *e = pr->e;
	struct kelp_remote_read *rr = pr->rr;
	uint32_t cap = 2 * e->nvis + 1;
	struct kelp_chunk_piece *cp = malloc(cap * sizeof(*cp));
	uint32_t np = 0;
	if (!cp) {
		complete(pr, -ENOMEM);
		return;
	}
	int64_t n = kelp_chunk_plan(e->vis, e->nvis, e->ent.attr.size, rr->offset, rr->length, cp,
				    cap, &np);
	free_pieces(pr);
	pr->pieces = n >= 0 ? calloc(np ? np : 1, sizeof(*pr->pieces)) : NULL;
	if (n < 0 || !pr->pieces) {
		free(cp);
		complete(pr, n < 0 ? -EIO : -ENOMEM);
		return;
	}
	pr->n = (uint32_t)n;
	uint32_t k = 0;
	for (uint32_t i = 0; i < np; i++) {
		uint8_t *dst = rr->dst + cp[i].dst_off;
		if (cp[i].chunk == KELP_CHUNK_HOLE) { /* zeros, as the filer's GET gives */
			memset(dst, 0, cp[i].len);
			pr->fs->holes++;
			continue;
		}
		const struct kelp_filer_chunk *c = &e->data[cp[i].chunk];
		pr->pieces[k++] =
			(struct piece){.pr = pr,
				       .c = *c,
				       .chunk_off = cp[i].chunk_off,
				       .len = cp[i].len,
				       .dst = dst,
				       .transform = c->cipher_key_len || c->is_compressed};
	}
	pr->n_pieces = k;
	free(cp);
	next_pieces(pr);
}

static void start_read(struct preq *pr)
{
	struct kelp_fentry *e = pr->e;
	const struct kelp_filer_entry *ent = &e->ent;
	struct kelp_remote_read *rr = pr->rr;
	if (S_ISDIR(ent->attr.mode)) {
		complete(pr, -EISDIR);
		return;
	}
	pr->fs->path_reads++;
	if (rr->offset >= ent->attr.size) {
		complete(pr, 0);
		return;
	}
	if (ent->content) { /* inline: the entry holds the bytes; past them zeros */
		uint64_t left = ent->attr.size - rr->offset;
		uint32_t n = left < rr->length ? (uint32_t)left : rr->length;
		uint64_t have = ent->content_len > rr->offset ? ent->content_len - rr->offset : 0;
		if (have > n)
			have = n;
		memcpy(rr->dst, ent->content + rr->offset, have);
		memset(rr->dst + have, 0, n - have);
		pr->fs->read_bytes += n;
		complete(pr, (int32_t)n);
		return;
	}
	if (e->planned) {
		plan_read(pr);
		return;
	}
	/* first read of this entry: resolve its manifests (if any), then plan */
	uint32_t nm = 0;
	for (uint32_t i = 0; i < ent->nchunks; i++)
		nm += ent->chunks[i].is_chunk_manifest;
	struct kelp_filer_chunk *m = calloc(nm ? nm : 1, sizeof(*m));
	pr->res = calloc(ent->nchunks - nm ? ent->nchunks - nm : 1, sizeof(*pr->res));
	if (!m || !pr->res) {
		free(m);
		complete(pr, -ENOMEM);
		return;
	}
	for (uint32_t i = 0, j = 0; i < ent->nchunks; i++) {
		if (ent->chunks[i].is_chunk_manifest)
			m[j++] = ent->chunks[i];
		else
			pr->res[pr->n_res++] = ent->chunks[i];
	}
	pr->cap_res = pr->n_res;
	pr->resolving = true;
	if (nm)
		resolve_round(pr, m, nm);
	else
		phase_done(pr); /* nothing to fetch: straight to the visible intervals */
	free(m);
}

/* ---- dispatch ----------------------------------------------------------------------------------
 */

static void have_entry(struct preq *pr)
{
	struct kelp_remote_read *rr = pr->rr;
	switch (rr->opcode) {
	case KELP_OP_PATH_STAT:
		fill_stat(pr->e, pr->path, pr->len, (struct kelp_path_stat *)rr->dst);
		complete(pr, 0);
		break;
	case KELP_OP_PATH_READLINK: {
		const char *target = pr->e->ent.symlink_target;
		if (!target) {
			complete(pr, -EINVAL);
			break;
		}
		size_t tl = strlen(target);
		memcpy(rr->dst, target, tl < rr->length ? tl : rr->length);
		complete(pr, tl > INT32_MAX ? -EIO : (int32_t)tl);
		break;
	}
	case KELP_OP_PATH_LIST:
		start_list(pr);
		break;
	default:
		start_read(pr);
		break;
	}
}

static void lookup_done(struct kelp_filer_wait *w, int err, struct kelp_fentry *e)
{
	struct preq *pr = kelp_container_of(w, struct preq, w);
	if (err) {
		complete(pr, err);
		return;
	}
	pr->e = e;
	have_entry(pr);
}

int kelp_ctl_filer_request(struct kelp_control *ctl, struct kelp_remote_read *req)
{
	struct filer_srv *fs = ctl->filer_priv;
	if (!fs)
		return -ENOTCONN;
	if (fs->stopping)
		return -ECANCELED;
	fs->requests[(req->opcode - KELP_OP_PATH_STAT) & 3]++;
	struct preq *pr = calloc(1, sizeof(*pr));
	char *copy = malloc((size_t)req->path_len + req->after_len + 2);
	if (!pr || !copy) {
		free(pr);
		free(copy);
		fs->errors++;
		return -ENOMEM;
	}
	/* one copy of the client's bytes, then only the copy is looked at */
	memcpy(copy, req->path, req->path_len);
	copy[req->path_len] = '\0';
	memcpy(copy + req->path_len + 1, req->path + req->path_len, req->after_len);
	copy[req->path_len + 1 + req->after_len] = '\0';
	int rc = kelp_fpath_check(copy, req->path_len);
	if (!rc && req->after_len)
		rc = kelp_fname_check(copy + req->path_len + 1, req->after_len);
	if (rc) {
		free(pr);
		free(copy);
		fs->errors++;
		return rc;
	}
	pr->fs = fs;
	pr->rr = req;
	pr->path = copy;
	pr->len = req->path_len;
	pr->after = req->after_len ? copy + req->path_len + 1 : NULL;
	pr->w.done = lookup_done;
	fs->inflight++;
	struct kelp_fentry *e = NULL;
	rc = kelp_filer_lookup(fs->filer, copy, pr->len, &pr->w, &e);
	if (rc == 0) {
		pr->e = e;
		have_entry(pr);
	} else if (rc != -EINPROGRESS) {
		complete(pr, rc);
	}
	return 0;
}

/* ---- life --------------------------------------------------------------------------------------
 */

int kelp_ctl_filer_init(struct kelp_control *ctl)
{
	const struct kelp_config *c = &kelp_ctl_engine(ctl)->conf;
	if (c->filer.address.n == 0)
		return 0;
	struct filer_srv *fs = calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	fs->ctl = ctl;
	struct kelp_filer_opts o = {.addrs = (const char *const *)c->filer.address.items,
				    .n_addrs = (unsigned)c->filer.address.n,
				    .timeout_ms = c->filer.timeout_ms,
				    .ttl_ms = c->filer.metadata_ttl_ms,
				    .cache_entries = c->filer.cache_entries,
				    .list_max = c->filer.dir_list_max};
	struct kelp_engine *eng = kelp_ctl_engine(ctl);
	int rc = kelp_filer_create(kelp_ctl_ring(ctl), &o, &fs->filer);
	/* lcores serve reads of cached plain files themselves (lcore/path_table.h): needs the
	 * epoch that frees replaced plans, and a cache */
	if (!rc && eng->epoch && c->filer.metadata_ttl_ms && c->filer.cache_entries) {
		rc = kelp_path_table_create(eng->epoch, c->filer.cache_entries, &fs->plans);
		if (rc)
			kelp_filer_destroy(fs->filer);
	}
	if (rc) {
		free(fs);
		return rc;
	}
	if (fs->plans) {
		kelp_filer_set_plans(fs->filer, fs->plans);
		__atomic_store_n(&eng->path_table, fs->plans, __ATOMIC_RELEASE);
	}
	ctl->filer_priv = fs;
	fprintf(stderr, "kelpd: files by path via %zu filer(s), first %s; metadata cached %u ms\n",
		c->filer.address.n, c->filer.address.items[0], c->filer.metadata_ttl_ms);
	return 0;
}

void kelp_ctl_filer_fini(struct kelp_control *ctl)
{
	struct filer_srv *fs = ctl->filer_priv;
	if (!fs)
		return;
	fs->stopping = true;
	if (fs->plans) { /* lcores may still hold the table or a plan: both go through the epoch */
		__atomic_store_n(&kelp_ctl_engine(ctl)->path_table, NULL, __ATOMIC_RELEASE);
		kelp_filer_set_plans(fs->filer, NULL);
		kelp_path_table_retire(fs->plans);
		fs->plans = NULL;
	}
	kelp_filer_shutdown(fs->filer);
	struct io_uring *ring = kelp_ctl_ring(ctl);
	/* every call has a deadline and the cancels are queued: this ends */
	while (kelp_filer_busy(fs->filer)) {
		struct io_uring_cqe *cqe;
		int rc = io_uring_submit_and_wait(ring, 1);
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
			break;
		while (io_uring_peek_cqe(ring, &cqe) == 0) {
			struct kelp_ctl_op *op = io_uring_cqe_get_data(cqe);
			int res = cqe->res;
			uint32_t flags = cqe->flags;
			io_uring_cqe_seen(ring, cqe);
			if (op && kelp_filer_owns_op(fs->filer, op))
				op->done(ctl, op, res, flags);
		}
	}
	kelp_filer_destroy(fs->filer);
	ctl->filer_priv = NULL;
	free(fs);
}

json_t *kelp_ctl_filer_stats(struct kelp_control *ctl)
{
	struct filer_srv *fs = ctl->filer_priv;
	if (!fs)
		return NULL;
	struct kelp_filer_stats s;
	kelp_filer_get_stats(fs->filer, &s);
	json_t *o = json_object();
#define PUT(name, v) json_object_set_new(o, name, json_integer((json_int_t)(v)))
	PUT("inflight", fs->inflight);
	PUT("stat_requests", fs->requests[0]);
	PUT("list_requests", fs->requests[1]);
	PUT("read_requests", fs->requests[2]);
	PUT("readlink_requests", fs->requests[3]);
	PUT("errors", fs->errors);
	PUT("path_reads", fs->path_reads);
	PUT("read_bytes", fs->read_bytes);
	PUT("chunk_reads", fs->chunk_reads);
	PUT("chunk_reads_local", fs->chunk_reads_local);
	PUT("chunk_reads_remote", fs->chunk_reads_remote);
	PUT("chunks_transformed", fs->chunks_transformed);
	PUT("holes", fs->holes);
	PUT("manifests_resolved", fs->manifests_resolved);
	PUT("lookups", s.lookups);
	PUT("lists", s.lists);
	PUT("dir_lists", s.dir_lists);
	PUT("dir_list_hits", s.dir_list_hits);
	PUT("dir_refreshes", s.dir_refreshes);
	if (fs->plans) {
		struct kelp_path_table_stats ps;
		kelp_path_table_get_stats(fs->plans, &ps);
		PUT("plans_published", ps.published);
		PUT("plans_removed", ps.removed);
		PUT("plans_displaced", ps.displaced);
		PUT("plans_skipped", ps.skipped);
	}
	PUT("cache_hits", s.cache.hits);
	PUT("cache_negative_hits", s.cache.negative_hits);
	PUT("cache_misses", s.cache.misses);
	PUT("cache_expired", s.cache.expired);
	PUT("cache_evictions", s.cache.evictions);
	PUT("cache_entries", s.cache.entries);
	PUT("filer_errors", s.filer_errors);
	PUT("failovers", s.failovers);
	PUT("bad_answers", s.bad_answers);
#undef PUT
	return o;
}
