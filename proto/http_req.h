/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.x server side as pure functions, for kelpd's HTTP endpoint (lcore/control/http_server.c):
 * parse one request head, parse a Range header against a needle's size. No I/O here.
 *
 * A request head is "METHOD SP target SP HTTP/1.x CRLF" then header lines until an empty line (a
 * bare LF is accepted for CRLF). At most KELP_HTTP_REQ_MAX_HEAD bytes in all. Understood headers:
 * Connection (close / keep-alive), Accept-Encoding (gzip), Range, If-None-Match, Authorization
 * (Bearer) and Cookie (AT) for the read token, Content-Length and Transfer-Encoding (a request
 * with a body is refused: the endpoint only reads). Others are skipped. Of the query, only the
 * "jwt" parameter is kept. Header names are case-insensitive; a line without ':' or with a space
 * before it, a control byte, or an obs-fold continuation line is malformed.
 */
#ifndef KELP_PROTO_HTTP_REQ_H
#define KELP_PROTO_HTTP_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define KELP_HTTP_REQ_MAX_HEAD	 8192
#define KELP_HTTP_REQ_MAX_TARGET 1024
#define KELP_HTTP_REQ_MAX_VALUE	 128
#define KELP_HTTP_REQ_MAX_JWT	 512

enum kelp_http_method { KELP_HTTP_GET = 1, KELP_HTTP_HEAD, KELP_HTTP_OTHER };

struct kelp_http_req {
	enum kelp_http_method method;
	char path[KELP_HTTP_REQ_MAX_TARGET]; /* the target without "?query", NUL-terminated */
	size_t path_len;
	bool keep_alive;  /* HTTP/1.1 unless "Connection: close"; 1.0 only with keep-alive */
	bool accept_gzip; /* Accept-Encoding lists gzip (without q=0) */
	bool has_range;
	char range[KELP_HTTP_REQ_MAX_VALUE]; /* the Range value, when has_range */
	bool has_if_none_match;
	char if_none_match[KELP_HTTP_REQ_MAX_VALUE];
	/* a read token, where a SeaweedFS volume server looks for one (security.GetJwt): the
	 * "jwt" query parameter, else "Authorization: Bearer <token>", else the cookie "AT" */
	char jwt[KELP_HTTP_REQ_MAX_JWT];
	size_t jwt_len; /* 0: none */
};

/*
 * kelp_http_req_parse - parse the request head at the start of @buf (@len bytes).
 * Return: the head's length in bytes (> 0) with *@out filled; 0 when the head is incomplete
 * (receive more; a caller holding KELP_HTTP_REQ_MAX_HEAD bytes without a head has -E2BIG);
 * -EINVAL malformed (answer 400 and close); -E2BIG head, target or an understood value too long
 * (431/414: answer and close); -ENOTSUP a body (Content-Length > 0, Transfer-Encoding) or an
 * HTTP version other than 1.0/1.1 (answer 400/505 and close).
 */
ssize_t kelp_http_req_parse(const uint8_t *buf, size_t len, struct kelp_http_req *out);

/*
 * kelp_http_range_parse - one "bytes=FIRST-LAST", "bytes=FIRST-" or "bytes=-SUFFIX" range of an
 * entity of @size bytes, RFC 9110 14.1.2, into [*@first, *@last] (inclusive).
 * Return: 0 satisfiable; -ERANGE unsatisfiable (416 with "Content-Range: bytes *\/size");
 * -EINVAL not a byte range we understand (the header is ignored: 200 with everything);
 * -ENOTSUP several ranges (answered 416: this endpoint does not send multipart/byteranges).
 */
int kelp_http_range_parse(const char *value, uint64_t size, uint64_t *first, uint64_t *last);

#endif
