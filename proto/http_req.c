/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP/1.x request heads and Range values (proto/http_req.h). Pure; any thread. */
#include "proto/http_req.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

/* The next line of [p, end): its end (before CR LF / LF) in *@eol, the start of the following line
 * returned; NULL when no LF is in the buffer yet. */
static const char *next_line(const char *p, const char *end, const char **eol)
{
	const char *lf = memchr(p, '\n', (size_t)(end - p));
	if (!lf)
		return NULL;
	*eol = (lf > p && lf[-1] == '\r') ? lf - 1 : lf;
	return lf + 1;
}

static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Does the comma-separated list [v, e) contain the token @tok (case-insensitive), not with q=0? */
static bool list_has(const char *v, const char *e, const char *tok)
{
	size_t tl = strlen(tok);
	while (v < e) {
		while (v < e && (*v == ' ' || *v == '\t' || *v == ','))
			v++;
		const char *item = v;
		while (v < e && *v != ',')
			v++;
		const char *ie = v;
		const char *semi = memchr(item, ';', (size_t)(ie - item));
		const char *te = semi ? semi : ie;
		while (te > item && (te[-1] == ' ' || te[-1] == '\t'))
			te--;
		if ((size_t)(te - item) == tl && strncasecmp(item, tok, tl) == 0) {
			if (!semi)
				return true;
			const char *q = semi + 1;
			while (q < ie && (*q == ' ' || *q == '\t'))
				q++;
			/* q=0, q=0.0, q=0.00...: refused */
			if (ie - q >= 3 && (q[0] == 'q' || q[0] == 'Q') && q[1] == '=' &&
			    q[2] == '0') {
				const char *d = q + 3;
				if (d < ie && *d == '.')
					d++;
				while (d < ie && *d == '0')
					d++;
				while (d < ie && (*d == ' ' || *d == '\t'))
					d++;
				if (d == ie)
					return false;
			}
			return true;
		}
	}
	return false;
}

static int copy_value(char *dst, const char *v, const char *e)
{
	size_t n = (size_t)(e - v);
	if (n >= KELP_HTTP_REQ_MAX_VALUE)
		return -E2BIG;
	memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

/* Keep [v, e) as the request's read token (a longer one is refused: no real token is). */
static int set_jwt(struct kelp_http_req *r, const char *v, const char *e)
{
	size_t n = (size_t)(e - v);
	if (n >= sizeof(r->jwt))
		return -E2BIG;
	memcpy(r->jwt, v, n);
	r->jwt[n] = '\0';
	r->jwt_len = n;
	return 0;
}

/* The "jwt" parameter of the query [q, e) (after the '?'), as url.Values.Get would find it. */
static int query_jwt(struct kelp_http_req *r, const char *q, const char *e)
{
	while (q < e) {
		const char *amp = memchr(q, '&', (size_t)(e - q));
		const char *pe = amp ? amp : e;
		if (pe - q >= 4 && memcmp(q, "jwt=", 4) == 0)
			return pe - q > 4 ? set_jwt(r, q + 4, pe) : 0; /* the first one counts */
		q = amp ? amp + 1 : e;
	}
	return 0;
}

/* The value of cookie "AT" in a Cookie header [v, e) ("a=1; AT=tok; b=2"). */
static int cookie_jwt(struct kelp_http_req *r, const char *v, const char *e)
{
	while (v < e) {
		while (v < e && (*v == ' ' || *v == ';'))
			v++;
		const char *semi = memchr(v, ';', (size_t)(e - v));
		const char *ce = semi ? semi : e;
		if (ce - v > 3 && memcmp(v, "AT=", 3) == 0)
			return set_jwt(r, v + 3, ce);
		v = ce;
	}
	return 0;
}

static int parse_request_line(const char *p, const char *eol, struct kelp_http_req *r, int *minor)
{
	const char *sp1 = memchr(p, ' ', (size_t)(eol - p));
	if (!sp1 || sp1 == p)
		return -EINVAL;
	for (const char *c = p; c < sp1; c++)
		if (!is_tchar(*c))
			return -EINVAL;
	size_t ml = (size_t)(sp1 - p);
	if (ml == 3 && memcmp(p, "GET", 3) == 0)
		r->method = KELP_HTTP_GET;
	else if (ml == 4 && memcmp(p, "HEAD", 4) == 0)
		r->method = KELP_HTTP_HEAD;
	else
		r->method = KELP_HTTP_OTHER;
	const char *t = sp1 + 1;
	const char *sp2 = memchr(t, ' ', (size_t)(eol - t));
	if (!sp2 || sp2 == t)
		return -EINVAL;
	for (const char *c = t; c < sp2; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f)
			return -EINVAL;
	const char *q = memchr(t, '?', (size_t)(sp2 - t));
	const char *pe = q ? q : sp2;
	if (*t != '/')
		return -EINVAL; /* origin-form only */
	if ((size_t)(pe - t) >= sizeof(r->path))
		return -E2BIG;
	memcpy(r->path, t, (size_t)(pe - t));
	r->path[pe - t] = '\0';
	r->path_len = (size_t)(pe - t);
	if (q) {
		int rc = query_jwt(r, q + 1, sp2);
		if (rc != 0)
			return rc;
	}
	const char *v = sp2 + 1;
	if (eol - v != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' || v[5] < '0' || v[5] > '9' ||
	    v[7] < '0' || v[7] > '9')
		return -EINVAL;
	if (v[5] != '1')
		return -ENOTSUP;
	*minor = v[7] - '0';
	return 0;
}

ssize_t kelp_http_req_parse(const uint8_t *buf, size_t len, struct kelp_http_req *out)
{
	const char *p = (const char *)buf, *end = p + len;
	const char *eol, *next;
	struct kelp_http_req r;
	memset(&r, 0, sizeof(r));
	/* RFC 9112 2.2: ignore empty lines before the request line */
	while (p < end && (*p == '\r' || *p == '\n')) {
		if (*p == '\r' && (p + 1 == end || p[1] != '\n'))
			return p + 1 == end ? 0 : -EINVAL;
		p += *p == '\r' ? 2 : 1;
	}
	if (!(next = next_line(p, end, &eol)))
		return len >= KELP_HTTP_REQ_MAX_HEAD ? -E2BIG : 0;
	int minor = 1;
	int rc = parse_request_line(p, eol, &r, &minor);
	if (rc != 0)
		return rc;
	bool conn_close = false, conn_keep = false;
	int jwt_from = r.jwt_len ? 3 : 0; /* 3 query, 2 Authorization, 1 cookie: that order wins */
	for (p = next;;) {
		if (!(next = next_line(p, end, &eol)))
			return len >= KELP_HTTP_REQ_MAX_HEAD ? -E2BIG : 0;
		if (eol == p)
			break; /* the empty line */
		if (*p == ' ' || *p == '\t')
			return -EINVAL; /* obs-fold */
		const char *colon = memchr(p, ':', (size_t)(eol - p));
		if (!colon || colon == p)
			return -EINVAL;
		for (const char *c = p; c < colon; c++)
			if (!is_tchar(*c))
				return -EINVAL;
		for (const char *c = colon + 1; c < eol; c++)
			if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
				return -EINVAL;
		const char *v = colon + 1, *ve = eol;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		size_t nl = (size_t)(colon - p);
#define NAME_IS(s) (nl == sizeof(s) - 1 && strncasecmp(p, s, nl) == 0)
		if (NAME_IS("connection")) {
			conn_close |= list_has(v, ve, "close");
			conn_keep |= list_has(v, ve, "keep-alive");
		} else if (NAME_IS("accept-encoding")) {
			r.accept_gzip |= list_has(v, ve, "gzip");
		} else if (NAME_IS("range")) {
			if (r.has_range)
				return -EINVAL; /* two Range headers */
			if ((rc = copy_value(r.range, v, ve)) != 0)
				return rc;
			r.has_range = true;
		} else if (NAME_IS("if-none-match")) {
			if ((rc = copy_value(r.if_none_match, v, ve)) != 0)
				return rc;
			r.has_if_none_match = true;
		} else if (NAME_IS("authorization")) {
			/* as security.GetJwt: "Bearer" in any case, one separator, then the token
			 */
			if (jwt_from < 2 && ve - v > 7 && strncasecmp(v, "bearer", 6) == 0) {
				if ((rc = set_jwt(&r, v + 7, ve)) != 0)
					return rc;
				jwt_from = 2;
			}
		} else if (NAME_IS("cookie")) {
			if (jwt_from < 1 && (rc = cookie_jwt(&r, v, ve)) != 0)
				return rc;
			if (r.jwt_len && jwt_from < 1)
				jwt_from = 1;
		} else if (NAME_IS("content-length")) {
			for (const char *c = v; c < ve; c++)
				if (*c < '0' || *c > '9')
					return -EINVAL;
			if (v == ve)
				return -EINVAL;
			for (const char *c = v; c < ve; c++)
				if (*c != '0')
					return -ENOTSUP;
		} else if (NAME_IS("transfer-encoding")) {
			return -ENOTSUP;
		}
#undef NAME_IS
		p = next;
	}
	r.keep_alive = minor >= 1 ? !conn_close : (conn_keep && !conn_close);
	*out = r;
	return next - (const char *)buf;
}

/* Decimal digits of [p, e) into *@v; -EINVAL when none or not all digits, -ERANGE above 2^63. */
static int parse_u64(const char *p, const char *e, uint64_t *v)
{
	if (p == e)
		return -EINVAL;
	uint64_t x = 0;
	for (; p < e; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		if (x > (UINT64_MAX / 2 - 9) / 10)
			return -ERANGE;
		x = x * 10 + (uint64_t)(*p - '0');
	}
	*v = x;
	return 0;
}

int kelp_http_range_parse(const char *value, uint64_t size, uint64_t *first, uint64_t *last)
{
	const char *p = value, *e = value + strlen(value);
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	if ((size_t)(e - p) < 6 || strncasecmp(p, "bytes=", 6) != 0)
		return -EINVAL;
	p += 6;
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if (memchr(p, ',', (size_t)(e - p)))
		return -ENOTSUP;
	const char *dash = memchr(p, '-', (size_t)(e - p));
	if (!dash)
		return -EINVAL;
	uint64_t a, b;
	int rc;
	if (dash == p) { /* suffix: the last N bytes */
		if ((rc = parse_u64(dash + 1, e, &b)) != 0)
			return rc == -ERANGE ? -EINVAL : rc;
		if (b == 0 || size == 0)
			return -ERANGE;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return 0;
	}
	if ((rc = parse_u64(p, dash, &a)) != 0)
		return rc == -ERANGE ? -EINVAL : rc;
	if (dash + 1 == e) {
		b = UINT64_MAX;
	} else {
		if ((rc = parse_u64(dash + 1, e, &b)) == -EINVAL)
			return rc;
		if (rc == -ERANGE)
			b = UINT64_MAX;
		if (b < a)
			return -EINVAL; /* RFC 9110: invalid, ignored */
	}
	if (a >= size)
		return -ERANGE;
	*first = a;
	*last = b >= size ? size - 1 : b;
	return 0;
}
