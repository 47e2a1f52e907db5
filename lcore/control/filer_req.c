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
 *      local volume file when the volume is here (kelp_serve_local, synchronous), else over the
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
#include <openssl/evp.h>

#include "core/fpath.h"
#include "core/list.h"
#include "core/gzip.h"
#include "core/volume.h"
#include "kelp_abi.h"
#include "lcore/cluster/filer.h"
#include "lcore/control/control_priv.h"
#include "lcore/control/filer_req.h"
#include "lcore/control/remote_read.h"
#include "lcore/engine.h"
#include "lcore/worker/serve_local.h"

/* Chunk reads of one path read in flight at most (the rest wait for their turn). */
#define PIECES_INFLIGHT 16

struct filer_srv {
	struct kelp_control *ctl;
	struct kelp_filer *filer;
	bool stopping;
	unsigned inflight; /* requests started, not completed */
	uint64_t requests[4], errors, path_reads, read_bytes, chunk_reads, chunk_reads_local,
		chunk_reads_remote, chunks_transformed, holes;
};

struct preq;

struct piece {
	struct preq *pr;
	const struct kelp_fchunk *c;
	uint64_t chunk_off; /* where the piece starts in the chunk's (plain) data */
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
	rr->size = pr->e ? pr->e->size : 0;
	rr->crc = 0;
	rr->needle_flags = 0;
	if (result < 0)
		fs->errors++;
	if (pr->pieces)
		for (unsigned i = 0; i < pr->n_pieces; i++)
			free(pr->pieces[i].whole);
	free(pr->pieces);
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

static uint64_t path_hash(const char *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a: a stable inode when the filer has none */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)p[i]) * 0x100000001b3ull;
	return h;
}

static void fill_stat(const struct kelp_fentry *e, const char *path, size_t len,
		      struct kelp_path_stat *st)
{
	*st = (struct kelp_path_stat){
		.size = e->size,
		.mtime_ns = e->mtime_ns,
		.ctime_ns = e->ctime_ns,
		.inode = e->inode ? e->inode : path_hash(path, len),
		.mode = e->mode,
		.uid = e->uid,
		.gid = e->gid,
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
	if (!S_ISDIR(pr->e->mode)) {
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

/* ---- READ: decoding whole chunks
 * ----------------------------------------------------------------- */

/* AES-256-GCM as weed's util.Decrypt: nonce (12 bytes) || ciphertext || tag (16 bytes). In place:
 * the plaintext starts at @buf. Return: plaintext bytes, or -EIO (corrupt, wrong key). */
static ssize_t gcm_decrypt(const uint8_t key[32], uint8_t *buf, size_t len)
{
	if (len < 12 + 16)
		return -EIO;
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	if (!x)
		return -ENOMEM;
	size_t clen = len - 12 - 16;
	int outl = 0, fin = 0;
	uint8_t *out = malloc(clen ? clen : 1);
	int ok = out && EVP_DecryptInit_ex(x, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
		 EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1 &&
		 EVP_DecryptInit_ex(x, NULL, NULL, key, buf) == 1 &&
		 EVP_DecryptUpdate(x, out, &outl, buf + 12, (int)clen) == 1 &&
		 EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_TAG, 16, buf + len - 16) == 1 &&
		 EVP_DecryptFinal_ex(x, out + outl, &fin) == 1;
	EVP_CIPHER_CTX_free(x);
	if (!ok) {
		free(out);
		return out ? -EIO : -ENOMEM;
	}
	memcpy(buf, out, (size_t)outl + (size_t)fin);
	free(out);
	return outl + fin;
}

/* gzip @*buf (@*len bytes) into a new buffer that replaces it. */
static int gunzip_buf(uint8_t **buf, size_t *len, uint64_t want)
{
	size_t cap = want ? want : kelp_gunzip_size(*buf, *len);
	if (cap == 0)
		cap = 4096;
	for (int i = 0; i < 8; i++, cap *= 4) {
		uint8_t *out = malloc(cap);
		size_t olen;
		if (!out)
			return -ENOMEM;
		int rc = kelp_gunzip(*buf, *len, out, cap, &olen);
		if (rc == 0) {
			free(*buf);
			*buf = out;
			*len = olen;
			return 0;
		}
		free(out);
		if (rc != -ENOSPC)
			return -EIO;
	}
	return -EIO;
}

/* The whole chunk is in p->whole (@got bytes, CQE @flags): decode it and copy the piece. */
static int decode_whole(struct piece *p, size_t got, uint32_t flags)
{
	struct filer_srv *fs = p->pr->fs;
	size_t len = got;
	int rc = 0;
	fs->chunks_transformed++;
	if (flags & KELP_CQE_F_GZIP) /* the volume server stored it gzip (as a needle flag) */
		rc = gunzip_buf(&p->whole, &len, 0);
	if (!rc && p->c->cipher_key_len) {
		ssize_t n = gcm_decrypt(p->c->cipher_key, p->whole, len);
		rc = n < 0 ? (int)n : 0;
		len = n < 0 ? 0 : (size_t)n;
	}
	if (!rc && p->c->is_compressed) /* the filer compressed it before (encrypting) */
		rc = gunzip_buf(&p->whole, &len, p->c->size);
	if (rc)
		return rc == -ENOMEM ? rc : -EIO;
	if (len < p->chunk_off + p->len)
		return -EIO; /* shorter than the filer says: never hand out what is not there */
	memcpy(p->dst, p->whole + p->chunk_off, p->len);
	return 0;
}

/* ---- READ: pieces
 * -------------------------------------------------------------------------------- */

static void next_pieces(struct preq *pr);
static int issue_piece(struct piece *p);

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
		   size < (64ull << 20) * 16) {
		p->retried = true; /* larger than guessed: once more with its size */
		free(p->whole);
		p->whole = NULL;
		p->whole_cap = size;
		err = 1;
	} else if (!err && p->transform) {
		err = decode_whole(p, (size_t)result, flags);
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
		if (!p->whole_cap) /* stored size unknown: plain size plus room for a header/tag */
			p->whole_cap = p->c->size + p->c->size / 64 + 4096;
		if (p->whole_cap > UINT32_MAX || !(p->whole = malloc(p->whole_cap))) {
			piece_done(p, -ENOMEM, 0, 0);
			return 0;
		}
		dst = p->whole;
		off = 0;
		len = (uint32_t)p->whole_cap;
	}
	fs->chunk_reads++;
	const struct kelp_volume *v = kelp_volume_set_find(eng->volumes, p->c->fid.volume_id);
	bool local_failed = false;
	if (v && !eng->conf.seaweedfs.force_http) {
		struct kelp_sqe e = {.opcode = KELP_OP_READ,
				     .volume_id = p->c->fid.volume_id,
				     .key = p->c->fid.key,
				     .cookie = p->c->fid.cookie,
				     .length = len,
				     .offset = off};
		struct kelp_cqe c = {0};
		kelp_serve_local(v, &e, dst, &c); /* buf_off 0: dst is the "arena" */
		fs->chunk_reads_local++;
		if (c.result != -EIO || !eng->conf.seaweedfs.master.n) {
			piece_done(p, c.result, c.flags, c.size);
			return 0;
		}
		local_failed = true; /* a replica may have it intact */
	}
	p->rd = (struct kelp_remote_read){
		.opcode = KELP_OP_READ,
		.fid = p->c->fid,
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

/* Keep up to PIECES_INFLIGHT pieces in flight; complete the request after the last. */
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
	if (pr->inflight == 0 && (pr->err || pr->next >= pr->n_pieces)) {
		struct filer_srv *fs = pr->fs;
		if (!pr->err)
			fs->read_bytes += pr->n;
		complete(pr, pr->err ? pr->err : (int32_t)pr->n);
	}
}

struct span {
	uint64_t a, b; /* [a, b) */
};

/* Order of the chunks by precedence: newest modified_ts_ns first, later in the list first on a
 * tie (the filer appends overwrites). */
static const struct kelp_fchunk *sort_base;
static int by_newest(const void *x, const void *y)
{
	const struct kelp_fchunk *a = &sort_base[*(const size_t *)x];
	const struct kelp_fchunk *b = &sort_base[*(const size_t *)y];
	if (a->mtime_ns != b->mtime_ns)
		return a->mtime_ns > b->mtime_ns ? -1 : 1;
	return *(const size_t *)x > *(const size_t *)y ? -1 : 1;
}

/*
 * Plan [@off, @end) of @e: pieces of chunks (newest wins), zeros for what no chunk covers.
 * Return: 0 with pr->pieces set; -ENOMEM; -EOPNOTSUPP a chunk manifest (not resolved yet).
 */
static int plan(struct preq *pr, uint64_t off, uint64_t end)
{
	const struct kelp_fentry *e = pr->e;
	uint8_t *buf = pr->rr->dst;
	size_t n = e->n_chunks;
	for (size_t i = 0; i < n; i++)
		if (e->chunks[i].is_manifest)
			return -EOPNOTSUPP;
	size_t *order = malloc((n ? n : 1) * sizeof(*order));
	/* the uncovered spans of the range: at most one more per chunk */
	struct span *todo = malloc((n + 1) * sizeof(*todo));
	pr->pieces = calloc(2 * n + 1, sizeof(*pr->pieces));
	if (!order || !todo || !pr->pieces) {
		free(order);
		free(todo);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	sort_base = e->chunks;
	qsort(order, n, sizeof(*order), by_newest);
	size_t nt = 1, np = 0;
	todo[0] = (struct span){off, end};
	for (size_t k = 0; k < n && nt; k++) {
		const struct kelp_fchunk *c = &e->chunks[order[k]];
		uint64_t ca = c->offset, cb = c->offset + c->size;
		for (size_t t = 0; t < nt;) {
			uint64_t a = todo[t].a > ca ? todo[t].a : ca;
			uint64_t b = todo[t].b < cb ? todo[t].b : cb;
			if (a >= b) {
				t++;
				continue;
			}
			if (np >= 2 * n + 1)
				break; /* cannot happen: each chunk cuts each span at most once */
			pr->pieces[np++] =
				(struct piece){.pr = pr,
					       .c = c,
					       .chunk_off = a - ca,
					       .len = (uint32_t)(b - a),
					       .dst = buf + (a - off),
					       .transform = c->cipher_key_len || c->is_compressed};
			/* what is left of the span: before a, after b */
			struct span s = todo[t];
			if (s.a < a && b < s.b) {
				todo[t] = (struct span){s.a, a};
				todo[nt++] = (struct span){b, s.b};
				t++;
			} else if (s.a < a) {
				todo[t++] = (struct span){s.a, a};
			} else if (b < s.b) {
				todo[t++] = (struct span){b, s.b};
			} else {
				todo[t] = todo[--nt];
			}
		}
	}
	for (size_t t = 0; t < nt; t++) { /* holes: zeros, as the filer's GET gives */
		memset(buf + (todo[t].a - off), 0, todo[t].b - todo[t].a);
		pr->fs->holes++;
	}
	pr->n_pieces = (unsigned)np;
	free(order);
	free(todo);
	return 0;
}

static void start_read(struct preq *pr)
{
	const struct kelp_fentry *e = pr->e;
	struct kelp_remote_read *rr = pr->rr;
	if (S_ISDIR(e->mode)) {
		complete(pr, -EISDIR);
		return;
	}
	pr->fs->path_reads++;
	if (rr->offset >= e->size) {
		complete(pr, 0);
		return;
	}
	uint64_t left = e->size - rr->offset;
	pr->n = left < rr->length ? (uint32_t)left : rr->length;
	uint64_t end = rr->offset + pr->n;
	if (e->content) { /* inline: the entry holds the bytes; past them zeros */
		uint64_t have = e->content_len > rr->offset ? e->content_len - rr->offset : 0;
		if (have > pr->n)
			have = pr->n;
		memcpy(rr->dst, e->content + rr->offset, have);
		memset(rr->dst + have, 0, pr->n - have);
		complete(pr, (int32_t)pr->n);
		return;
	}
	int rc = plan(pr, rr->offset, end);
	if (rc) {
		complete(pr, rc);
		return;
	}
	next_pieces(pr);
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
		if (!pr->e->symlink) {
			complete(pr, -EINVAL);
			break;
		}
		size_t tl = strlen(pr->e->symlink);
		memcpy(rr->dst, pr->e->symlink, tl < rr->length ? tl : rr->length);
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
				    .cache_entries = c->filer.cache_entries};
	int rc = kelp_filer_create(kelp_ctl_ring(ctl), &o, &fs->filer);
	if (rc) {
		free(fs);
		return rc;
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
	PUT("lookups", s.lookups);
	PUT("lists", s.lists);
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
