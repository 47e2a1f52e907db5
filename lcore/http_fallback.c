/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP fallback (behaviour in http_fallback.h). */
#include "lcore/http_fallback.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kelp.h"

struct kelp_http_fallback {
	struct kelp_http_client *http;
	struct kelp_discovery *d;
	char *jwt_key; /* NULL: no token */
	size_t jwt_key_len;
};

struct kelp_http_fallback *kelp_http_fallback_create(struct kelp_http_client *http,
						     struct kelp_discovery *d,
						     const struct kelp_http_fallback_opts *opts)
{
	struct kelp_http_fallback *fb = calloc(1, sizeof(*fb));

	if (!fb)
		return NULL;
	fb->http = http;
	fb->d = d;
	if (opts && opts->jwt_read_key && opts->jwt_read_key[0]) {
		if (!(fb->jwt_key = strdup(opts->jwt_read_key))) {
			free(fb);
			return NULL;
		}
		fb->jwt_key_len = strlen(fb->jwt_key);
	}
	return fb;
}

void kelp_http_fallback_destroy(struct kelp_http_fallback *fb)
{
	if (!fb)
		return;
	free(fb->jwt_key);
	free(fb);
}

/* The volume server's ETag is the stored CRC as 8 quoted hex digits ("5e90563f"); 0 otherwise. */
static uint32_t etag_crc(const char *etag)
{
	uint32_t v = 0;

	if (strlen(etag) != 10 || etag[0] != '"' || etag[9] != '"')
		return 0;
	for (int i = 1; i <= 8; i++) {
		char c = etag[i];
		unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
			     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
			     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
						    : 16u;
		if (d > 15)
			return 0;
		v = v << 4 | d;
	}
	return v;
}

bool kelp_http_read_result(struct kelp_http_read *r, const struct kelp_http_response *resp,
			   size_t body_len)
{
	int st = resp->status;

	r->cqe_flags = KELP_CQE_PATH_HTTP | (resp->gzip ? KELP_CQE_F_GZIP : 0);
	r->needle_flags = resp->gzip ? 0x01 : 0;
	r->crc = etag_crc(resp->etag);
	r->size = 0;
	if (st >= 500) {
		r->result = -EIO;
		return true;
	}
	switch (st) {
	case 200:
		if (r->stat) {
			if (resp->content_length < 0)
				goto malformed;
			r->size = (uint64_t)resp->content_length;
			r->result = 0;
			return false;
		}
		/* the whole needle although we sent a Range: fine when we wanted its start */
		r->size = resp->body_total;
		if (r->offset > 0 && r->offset < r->size)
			goto malformed; /* we kept only the first length bytes, not those at offset */
		if (r->offset > r->size) {
			r->result = -ERANGE;
			return false;
		}
		r->result = r->offset == r->size ? 0 : (int32_t)body_len;
		break;
	case 206:
		if (r->stat || !resp->has_content_range || resp->range_first != r->offset ||
		    resp->truncated || body_len != resp->range_last - resp->range_first + 1)
			goto malformed;
		r->size = resp->range_total >= 0 ? (uint64_t)resp->range_total : resp->range_last + 1;
		r->result = (int32_t)body_len;
		break;
	case 416:
		if (!resp->has_content_range || resp->range_total < 0)
			goto malformed;
		r->size = (uint64_t)resp->range_total;
		r->result = r->offset == r->size ? 0 : -ERANGE;
		return false;
	case 404:
		r->result = -ENOENT;
		return false;
	case 401:
	case 403:
		r->result = -EPERM; /* JWT missing or refused (not -EACCES: that is kelpd's own policy) */
		return false;
	case 400:
		r->result = -EINVAL;
		return false;
	default:
		goto malformed;
	}
	if (r->offset + (uint64_t)r->result < r->size)
		r->cqe_flags |= KELP_CQE_F_TRUNCATED;
	return false;
malformed:
	r->result = -EBADMSG;
	return true;
}

static void finish(struct kelp_http_read *r, int result)
{
	r->result = result;
	if (result < 0)
		r->cqe_flags = KELP_CQE_PATH_HTTP;
	if (r->in_start) {
		r->sync_done = true; /* kelp_http_fallback_read() returns it */
		return;
	}
	r->done(r);
}

static void call_done(struct kelp_http_call *call, int err);

/* Ask the next location; when none is left, fail with the last error. */
static void try_next(struct kelp_http_read *r)
{
	struct kelp_http_fallback *fb = r->fb;
	struct kelp_http_call *c = &r->call;
	char fid[KELP_FID_STR_MAX];

	if (kelp_fid_format(&r->fid, fid, sizeof(fid)) < 0)
		return finish(r, -EINVAL);
	while (r->next_loc < r->locs.count) {
		memset(c, 0, sizeof(*c));
		snprintf(c->server, sizeof(c->server), "%s", r->locs.url[r->next_loc++]);
		snprintf(c->path, sizeof(c->path), "/%s", fid);
		c->head = r->stat;
		if (!r->stat) {
			c->has_range = true;
			c->range_first = r->offset;
			c->range_last = r->offset + r->length - 1;
			c->dst = r->dst;
			c->dst_cap = r->length;
		}
		c->accept_gzip = !r->decompressed;
		c->bearer = fb->jwt_key ? r->token : NULL;
		c->done = call_done;
		c->arg = r;
		snprintf(r->server, sizeof(r->server), "%s", c->server);
		int rc = kelp_http_client_start(fb->http, c);
		if (rc == 0)
			return;
		r->last_err = rc == -EAFNOSUPPORT || rc == -EINVAL ? -EHOSTUNREACH : rc;
	}
	/* every location failed: the master may know better next time */
	kelp_discovery_invalidate(fb->d, r->fid.volume_id);
	finish(r, r->last_err ? r->last_err : -EHOSTUNREACH);
}

static void call_done(struct kelp_http_call *call, int err)
{
	struct kelp_http_read *r = call->arg;

	if (err) {
		switch (err) {
		case -EPROTO:
		case -EMSGSIZE:
			r->last_err = -EBADMSG; /* malformed response */
			break;
		case -ECANCELED:
			return finish(r, -ECANCELED);
		default:
			r->last_err = -EHOSTUNREACH; /* refused, reset, timed out, unreachable */
		}
		return try_next(r);
	}
	if (kelp_http_read_result(r, &call->resp, call->body_len)) {
		r->last_err = r->result;
		return try_next(r);
	}
	finish(r, r->result);
}

static void located(struct kelp_locate_wait *w, int err, const struct kelp_vol_locations *locs)
{
	struct kelp_http_read *r = (struct kelp_http_read *)((char *)w -
							     offsetof(struct kelp_http_read, wait));
	if (err)
		return finish(r, err);
	r->locs = *locs;
	try_next(r);
}

int kelp_http_fallback_read(struct kelp_http_fallback *fb, struct kelp_http_read *r)
{
	const struct kelp_vol_locations *locs = NULL;
	char fid[KELP_FID_STR_MAX];
	int rc;

	if (!r->stat && (r->length == 0 || !r->dst || r->offset + r->length < r->offset))
		return -EINVAL;
	if (kelp_fid_format(&r->fid, fid, sizeof(fid)) < 0)
		return -EINVAL;
	r->fb = fb;
	r->result = 0;
	r->cqe_flags = KELP_CQE_PATH_HTTP;
	r->size = r->crc = r->needle_flags = 0;
	r->server[0] = '\0';
	r->next_loc = 0;
	r->last_err = 0;
	r->sync_done = false;
	r->wait.done = located;
	if (fb->jwt_key) {
		rc = kelp_jwt_sign_read(fb->jwt_key, fb->jwt_key_len, fid,
					(int64_t)time(NULL) + KELP_HTTP_FALLBACK_JWT_TTL_S, r->token,
					sizeof(r->token));
		if (rc < 0)
			return rc;
	}
	rc = kelp_discovery_locate(fb->d, r->fid.volume_id, &r->wait, &locs);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return 0; /* parked until the lookup ends */
	r->locs = *locs;
	r->in_start = true;
	try_next(r);
	r->in_start = false;
	return r->sync_done ? (r->result < 0 ? r->result : -EIO) : 0;
}
