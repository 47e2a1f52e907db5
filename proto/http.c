/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 GET writer and incremental response parser; the byte formats are described in http.h.
 *
 * The parser is a small state machine. Line-oriented states (status line, headers, chunk sizes, the
 * CRLF after chunk data, trailers) collect one line in p->line, which lets a line arrive split
 * across any number of feeds; body states copy straight to the destination.
 */
#include "proto/http.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- request writer ------------------------------------------------------------------------ */

/* A field value must not let the peer see a different request: printable ASCII, no spaces. */
static bool is_safe_token(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

struct out {
	char *buf;
	size_t size, len;
	bool overflow;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	size_t room = o->len < o->size ? o->size - o->len : 0;

	va_start(ap, fmt);
	int n = vsnprintf(o->buf ? o->buf + o->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room)
		o->overflow = true;
	o->len += n > 0 ? (size_t)n : 0;
}

int kelp_http_request_check(const struct kelp_http_request *req)
{
	if (!is_safe_token(req->host) || !is_safe_token(req->path) || req->path[0] != '/')
		return -EINVAL;
	if (req->bearer && !is_safe_token(req->bearer))
		return -EINVAL;
	if (req->has_range && req->range_last < req->range_first)
		return -EINVAL;
	return 0;
}

int kelp_http_write_request(const struct kelp_http_request *req, char *buf, size_t size)
{
	int rc = kelp_http_request_check(req);
	if (rc)
		return rc;

	struct out o = {.buf = buf, .size = size};
	put(&o, "%s %s HTTP/1.1\r\nHost: %s\r\n", req->head ? "HEAD" : "GET", req->path, req->host);
	if (req->has_range)
		put(&o, "Range: bytes=%llu-%llu\r\n", (unsigned long long)req->range_first,
		    (unsigned long long)req->range_last);
	if (req->accept_gzip)
		put(&o, "Accept-Encoding: gzip\r\n");
	if (req->accept_json)
		put(&o, "Accept: application/json\r\n");
	if (req->bearer)
		put(&o, "Authorization: Bearer %s\r\n", req->bearer);
	put(&o, "Connection: keep-alive\r\n\r\n");
	if (o.overflow)
		return -ENOSPC;
	return (int)o.len;
}

/* ---- response parser: helpers ------------------------------------------------------------- */

void kelp_http_parser_init(struct kelp_http_parser *p, uint8_t *dst, size_t dst_cap, bool head)
{
	memset(p, 0, offsetof(struct kelp_http_parser, line));
	p->state = KELP_HTTP_STATUS_LINE;
	p->dst = dst;
	p->dst_cap = dst ? dst_cap : 0;
	p->head = head;
	p->resp.content_length = -1;
	p->resp.range_total = -1;
}

static int fail(struct kelp_http_parser *p, int err)
{
	p->state = KELP_HTTP_ERROR;
	p->error = err;
	return err;
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_tchar(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Parse decimal digits [s, s+len) into *out (<= limit). @return 0 or -EPROTO. */
static int parse_dec(const char *s, size_t len, uint64_t limit, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return -EPROTO;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EPROTO;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (limit - d) / 10)
			return -EPROTO;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* Is the comma-separated list @v (length @len) containing token @tok (case-insensitive)? */
static bool list_has(const char *v, size_t len, const char *tok)
{
	size_t tl = strlen(tok), i = 0;

	while (i < len) {
		while (i < len && (is_ows(v[i]) || v[i] == ','))
			i++;
		size_t start = i;
		while (i < len && v[i] != ',')
			i++;
		size_t end = i;
		while (end > start && is_ows(v[end - 1]))
			end--;
		if (end - start == tl && strncasecmp(v + start, tok, tl) == 0)
			return true;
	}
	return false;
}

static bool value_is(const char *v, size_t len, const char *word)
{
	return strlen(word) == len && strncasecmp(v, word, len) == 0;
}

/* "bytes first-last/total", "bytes first-last/STAR" or "bytes STAR/total" (STAR = an asterisk). */
static int parse_content_range(struct kelp_http_response *r, const char *v, size_t len)
{
	uint64_t a, b, t;
	const char *end = v + len, *dash, *slash;

	if (len < 6 || strncasecmp(v, "bytes ", 6) != 0)
		return -EPROTO;
	v += 6;
	while (v < end && is_ows(*v))
		v++;
	slash = memchr(v, '/', (size_t)(end - v));
	if (!slash)
		return -EPROTO;
	if (slash + 2 == end && slash[1] == '*') {
		r->range_total = -1;
	} else {
		if (parse_dec(slash + 1, (size_t)(end - slash - 1), INT64_MAX, &t))
			return -EPROTO;
		r->range_total = (int64_t)t;
	}
	if (slash - v == 1 && *v == '*') { /* unsatisfiable-range: no first/last */
		if (r->range_total < 0)
			return -EPROTO;
		r->has_content_range = true;
		r->range_first = r->range_last = 0;
		return 0;
	}
	dash = memchr(v, '-', (size_t)(slash - v));
	if (!dash || parse_dec(v, (size_t)(dash - v), INT64_MAX, &a) ||
	    parse_dec(dash + 1, (size_t)(slash - dash - 1), INT64_MAX, &b) || b < a ||
	    (r->range_total >= 0 && b >= (uint64_t)r->range_total))
		return -EPROTO;
	r->has_content_range = true;
	r->range_first = a;
	r->range_last = b;
	return 0;
}

/* ---- response parser: one line at a time --------------------------------------------------- */

static int on_status_line(struct kelp_http_parser *p, const char *l, size_t len)
{
	uint64_t status;

	/* "HTTP/1.x SSS" then end or " reason" */
	if (len < 12 || memcmp(l, "HTTP/1.", 7) != 0 || l[7] < '0' || l[7] > '9' || l[8] != ' ')
		return -EPROTO;
	if (parse_dec(l + 9, 3, 999, &status) || status < 100 || status > 599)
		return -EPROTO;
	if (len > 12 && l[12] != ' ')
		return -EPROTO;
	p->resp.status = (int)status;
	p->resp.minor_version = l[7] - '0';
	p->resp.close = p->resp.minor_version == 0; /* HTTP/1.0 closes unless told keep-alive */
	p->state = KELP_HTTP_HEADERS;
	return 0;
}

static int on_header(struct kelp_http_parser *p, const char *l, size_t len)
{
	struct kelp_http_response *r = &p->resp;
	const char *colon = memchr(l, ':', len);
	size_t nlen;

	if (++p->header_count > KELP_HTTP_MAX_HEADERS)
		return -EMSGSIZE;
	if (!colon || colon == l)
		return -EPROTO; /* also rejects obsolete line folding (leading whitespace) */
	nlen = (size_t)(colon - l);
	for (size_t i = 0; i < nlen; i++)
		if (!is_tchar(l[i]))
			return -EPROTO;
	const char *v = colon + 1, *end = l + len;
	while (v < end && is_ows(*v))
		v++;
	while (end > v && is_ows(end[-1]))
		end--;
	size_t vlen = (size_t)(end - v);

#define NAME_IS(s) (nlen == sizeof(s) - 1 && strncasecmp(l, s, nlen) == 0)
	if (NAME_IS("Content-Length")) {
		uint64_t n;
		if (parse_dec(v, vlen, INT64_MAX, &n))
			return -EPROTO;
		if (r->content_length >= 0 && (uint64_t)r->content_length != n)
			return -EPROTO; /* two different lengths: we cannot know where the body ends
					 */
		r->content_length = (int64_t)n;
	} else if (NAME_IS("Transfer-Encoding")) {
		if (!value_is(v, vlen, "chunked"))
			return -EPROTO; /* the only coding kelp accepts */
		r->chunked = true;
	} else if (NAME_IS("Connection")) {
		if (list_has(v, vlen, "close"))
			r->close = true;
		else if (list_has(v, vlen, "keep-alive"))
			r->close = false;
	} else if (NAME_IS("Content-Encoding")) {
		if (value_is(v, vlen, "gzip"))
			r->gzip = true;
		else if (!value_is(v, vlen, "identity"))
			return -EPROTO; /* kelp asks for gzip at most */
	} else if (NAME_IS("Content-Range")) {
		if (parse_content_range(r, v, vlen))
			return -EPROTO;
	} else if (NAME_IS("ETag")) {
		if (vlen < sizeof(r->etag)) {
			memcpy(r->etag, v, vlen);
			r->etag[vlen] = '\0';
		}
	} else if (NAME_IS("Retry-After")) {
		uint64_t s;
		r->has_retry_after = true;
		r->retry_after_s = parse_dec(v, vlen, UINT32_MAX, &s) == 0 ? (uint32_t)s : 1;
	}
#undef NAME_IS
	return 0;
}

/* The empty line after the headers: decide how the body is delimited. */
static int on_headers_end(struct kelp_http_parser *p)
{
	struct kelp_http_response *r = &p->resp;

	if (r->status < 200) {
		if (r->status == 101)
			return -EPROTO; /* kelp never asks to switch protocols */
		/* interim response (100 Continue): the real one follows */
		kelp_http_parser_init(p, p->dst, p->dst_cap, p->head);
		return 0;
	}
	if (r->chunked && r->content_length >= 0)
		return -EPROTO; /* both: a smuggling hazard, refuse */
	if (p->head || r->status == 204 || r->status == 304) {
		p->state = KELP_HTTP_DONE;
	} else if (r->chunked) {
		p->state = KELP_HTTP_CHUNK_SIZE;
	} else if (r->content_length >= 0) {
		p->remaining = (uint64_t)r->content_length;
		p->state = p->remaining ? KELP_HTTP_BODY_LENGTH : KELP_HTTP_DONE;
	} else {
		r->close = true;
		p->state = KELP_HTTP_BODY_EOF;
	}
	return 0;
}

static int on_chunk_size(struct kelp_http_parser *p, const char *l, size_t len)
{
	uint64_t n = 0;
	size_t i = 0;

	for (; i < len; i++) {
		char c = l[i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			break;
		if (n >> 59)
			return -EPROTO; /* more than 2^63 bytes */
		n = n << 4 | d;
	}
	if (i == 0)
		return -EPROTO;
	while (i < len && is_ows(l[i]))
		i++;
	if (i < len && l[i] != ';')
		return -EPROTO; /* only chunk extensions may follow the size */
	if (n == 0) {
		p->header_count = 0;
		p->state = KELP_HTTP_TRAILERS;
	} else {
		p->remaining = n;
		p->state = KELP_HTTP_CHUNK_DATA;
	}
	return 0;
}

static int on_line(struct kelp_http_parser *p, const char *l, size_t len)
{
	switch (p->state) {
	case KELP_HTTP_STATUS_LINE:
		return on_status_line(p, l, len);
	case KELP_HTTP_HEADERS:
		return len == 0 ? on_headers_end(p) : on_header(p, l, len);
	case KELP_HTTP_CHUNK_SIZE:
		return on_chunk_size(p, l, len);
	case KELP_HTTP_CHUNK_DATA_END:
		if (len != 0)
			return -EPROTO; /* chunk data longer than its size said */
		p->state = KELP_HTTP_CHUNK_SIZE;
		return 0;
	case KELP_HTTP_TRAILERS:
		if (len == 0) {
			p->state = KELP_HTTP_DONE;
			return 0;
		}
		if (++p->header_count > KELP_HTTP_MAX_HEADERS)
			return -EMSGSIZE;
		return memchr(l, ':', len) ? 0 : -EPROTO;
	default:
		return -EPROTO;
	}
}

static bool in_head(const struct kelp_http_parser *p)
{
	return p->state == KELP_HTTP_STATUS_LINE || p->state == KELP_HTTP_HEADERS;
}

/*
 * Take bytes up to and including the next LF into p->line. @return bytes consumed (> 0), or a
 * negative errno. When the line is complete it is handed to on_line() without its CR LF.
 */
static ssize_t take_line(struct kelp_http_parser *p, const uint8_t *data, size_t len)
{
	const uint8_t *lf = memchr(data, '\n', len);
	size_t n = lf ? (size_t)(lf - data) + 1 : len;

	if (p->line_len + n > KELP_HTTP_MAX_LINE)
		return -EMSGSIZE;
	if (in_head(p)) {
		p->header_bytes += (uint32_t)n;
		if (p->header_bytes > KELP_HTTP_MAX_HEADER_BYTES)
			return -EMSGSIZE;
	}
	memcpy(p->line + p->line_len, data, n);
	p->line_len += (uint32_t)n;
	if (!lf)
		return (ssize_t)n;

	size_t l = p->line_len - 1; /* drop LF, then an optional CR */
	if (l > 0 && p->line[l - 1] == '\r')
		l--;
	if (memchr(p->line, '\r', l) || memchr(p->line, '\0', l))
		return -EPROTO; /* a bare CR or NUL inside a line */
	p->line_len = 0;
	int rc = on_line(p, p->line, l);
	return rc < 0 ? rc : (ssize_t)n;
}

/* Body bytes: into dst while it has room, counted always. */
static void store_body(struct kelp_http_parser *p, const uint8_t *src, size_t n)
{
	uint64_t off = p->resp.body_total;

	if (off < p->dst_cap) {
		size_t k = p->dst_cap - (size_t)off < n ? p->dst_cap - (size_t)off : n;
		memcpy(p->dst + off, src, k);
		if (k < n)
			p->resp.truncated = true;
	} else if (n) {
		p->resp.truncated = true;
	}
	p->resp.body_total += n;
}

ssize_t kelp_http_parser_feed(struct kelp_http_parser *p, const uint8_t *data, size_t len)
{
	size_t i = 0;

	if (p->state == KELP_HTTP_ERROR)
		return p->error;
	while (i < len && p->state != KELP_HTTP_DONE) {
		size_t n;
		ssize_t rc;

		switch (p->state) {
		case KELP_HTTP_BODY_LENGTH:
		case KELP_HTTP_CHUNK_DATA:
			n = len - i < p->remaining ? len - i : (size_t)p->remaining;
			store_body(p, data + i, n);
			p->remaining -= n;
			i += n;
			if (p->remaining == 0)
				p->state = p->state == KELP_HTTP_BODY_LENGTH
						   ? KELP_HTTP_DONE
						   : KELP_HTTP_CHUNK_DATA_END;
			break;
		case KELP_HTTP_BODY_EOF:
			store_body(p, data + i, len - i);
			i = len;
			break;
		default:
			rc = take_line(p, data + i, len - i);
			if (rc < 0)
				return fail(p, (int)rc);
			i += (size_t)rc;
			break;
		}
	}
	return (ssize_t)i;
}

int kelp_http_parser_finish(struct kelp_http_parser *p)
{
	if (p->state == KELP_HTTP_BODY_EOF)
		p->state = KELP_HTTP_DONE;
	if (p->state == KELP_HTTP_DONE)
		return 0;
	if (p->state == KELP_HTTP_ERROR)
		return p->error;
	return fail(p, -EPROTO);
}

size_t kelp_http_parser_body_window(const struct kelp_http_parser *p, uint8_t **out)
{
	uint64_t off = p->resp.body_total;

	if (p->state != KELP_HTTP_BODY_LENGTH || off >= p->dst_cap)
		return 0;
	size_t room = p->dst_cap - (size_t)off;
	*out = p->dst + off;
	return p->remaining < room ? (size_t)p->remaining : room;
}

void kelp_http_parser_body_done(struct kelp_http_parser *p, size_t n)
{
	p->resp.body_total += n;
	p->remaining -= n;
	if (p->remaining == 0)
		p->state = KELP_HTTP_DONE;
}

int kelp_http_etag_crc(const char *etag, uint32_t *crc)
{
	uint32_t v = 0;
	if (strlen(etag) != 10 || etag[0] != '"' || etag[9] != '"')
		return -EINVAL;
	for (int i = 1; i <= 8; i++) {
		char c = etag[i];
		unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
			     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
			     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
						    : 16u;
		if (d > 15)
			return -EINVAL;
		v = v << 4 | d;
	}
	*crc = v;
	return 0;
}
