/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 client side as pure functions: a GET request writer and an incremental response parser.
 * No I/O here: lcore/cluster/http_client.c moves the bytes.
 *
 * Request (kelp_http_write_request), exactly these lines, CRLF-terminated, in this order:
 *   GET <path> HTTP/1.1                  (HEAD when asked)
 *   Host: <host>
 *   Range: bytes=<first>-<last>          only when a range is asked for
 *   Accept-Encoding: gzip                only when the caller accepts gzip-stored bytes
 *   Authorization: Bearer <token>        only when a token is given
 *   Connection: keep-alive
 *   <empty line>
 *
 * Response parser (struct kelp_http_parser): feed it the bytes of one response in any split; the
 * result is the same for every split. It reads
 *   1. the status line "HTTP/1.x SSS reason" (1xx interim responses are skipped);
 *   2. header lines until the empty line: at most KELP_HTTP_MAX_HEADERS lines of at most
 *      KELP_HTTP_MAX_LINE bytes each, KELP_HTTP_MAX_HEADER_BYTES in all. It understands
 *      Content-Length, Transfer-Encoding: chunked, Content-Range, Content-Encoding, ETag,
 *      Retry-After (delta-seconds) and Connection: close; other headers are skipped;
 *   3. the body: Content-Length bytes, or chunks ("<hex>[;ext]\r\n<data>\r\n" ... "0\r\n",
 * trailers,
 *      "\r\n"), or (no length, no chunking) everything until the peer closes
 *      (kelp_http_parser_finish). HEAD responses and 204/304 have no body.
 * Body bytes go straight into the caller's destination (dst, dst_cap). Bytes beyond dst_cap are
 * counted in body_total and dropped (resp.truncated is set). For Content-Length bodies the caller
 * can even receive into the destination itself: kelp_http_parser_body_window() says where the next
 * bytes belong, kelp_http_parser_body_done() accounts for them, so the body is never copied.
 *
 * Errors: -EPROTO malformed response, -EMSGSIZE a header limit exceeded.
 * Thread-safety: none needed; one parser belongs to one connection of one thread.
 */
#ifndef KELP_PROTO_HTTP_H
#define KELP_PROTO_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define KELP_HTTP_MAX_LINE	   8192
#define KELP_HTTP_MAX_HEADERS	   100
#define KELP_HTTP_MAX_HEADER_BYTES 65536
#define KELP_HTTP_ETAG_MAX	   64
/* Longest request kelp_http_write_request() writes with the lengths below, plus slack. */
#define KELP_HTTP_REQUEST_MAX 16384 /* a filer path: 4096 bytes, percent-encoded, + a query */

struct kelp_http_request {
	const char *host; /* "127.0.0.1:8080"; printable ASCII, no spaces */
	const char *path; /* "/3,01637037d6"; printable ASCII, no spaces */
	bool has_range;	  /* when true: Range: bytes=range_first-range_last */
	uint64_t range_first;
	uint64_t range_last; /* inclusive, >= range_first */
	bool accept_gzip;    /* ask for gzip-stored needles as stored */
	bool accept_json;    /* Accept: application/json (a filer's directory listing) */
	const char *bearer;  /* JWT, or NULL */
	bool head;	     /* HEAD instead of GET */
};

/*
 * kelp_http_write_request - format @req into @buf.
 * Any thread. @return the number of bytes written (no NUL is counted; one is written when room
 * remains), -EINVAL when host/path/bearer are missing, empty or contain bytes that would break the
 * request (CR, LF, space, control characters) or the range is inverted, -ENOSPC when @size is too
 * small.
 */
int kelp_http_write_request(const struct kelp_http_request *req, char *buf, size_t size);

/*
 * kelp_http_request_check - the checks of kelp_http_write_request() without writing anything.
 * Any thread. @return 0 or -EINVAL.
 */
int kelp_http_request_check(const struct kelp_http_request *req);

/* What the parser learned from the status line and headers. */
struct kelp_http_response {
	int status;		/* 200, 206, 404, ... */
	int minor_version;	/* HTTP/1.<minor> */
	int64_t content_length; /* -1 when absent */
	bool chunked;		/* Transfer-Encoding: chunked */
	bool close;		/* the connection cannot be reused after this response */
	bool gzip;		/* Content-Encoding: gzip */
	bool has_content_range; /* Content-Range: bytes first-last/total, or unsatisfied */
	uint64_t range_first, range_last;
	int64_t range_total; /* -1 for "*" */
	bool has_retry_after;
	uint32_t retry_after_s;	       /* delta-seconds; an HTTP-date counts as 1 s */
	char etag[KELP_HTTP_ETAG_MAX]; /* as sent, quotes included; "" when absent or too long */
	uint64_t body_total;	       /* body bytes seen so far (also those beyond dst_cap) */
	bool truncated;		       /* the body did not fit dst_cap */
};

enum kelp_http_state {
	KELP_HTTP_STATUS_LINE,
	KELP_HTTP_HEADERS,
	KELP_HTTP_BODY_LENGTH, /* Content-Length body */
	KELP_HTTP_BODY_EOF,    /* body until the connection closes */
	KELP_HTTP_CHUNK_SIZE,
	KELP_HTTP_CHUNK_DATA,
	KELP_HTTP_CHUNK_DATA_END, /* the CRLF after chunk data */
	KELP_HTTP_TRAILERS,
	KELP_HTTP_DONE,
	KELP_HTTP_ERROR,
};

struct kelp_http_parser {
	enum kelp_http_state state;
	struct kelp_http_response resp;
	uint8_t *dst; /* body destination (caller-owned), may be NULL when dst_cap is 0 */
	size_t dst_cap;
	bool head;	    /* the request was HEAD: no body follows the headers */
	int error;	    /* first error, sticky */
	uint64_t remaining; /* body or chunk bytes still expected */
	uint32_t header_count;
	uint32_t header_bytes;
	uint32_t line_len;	/* bytes buffered in line[] (a line split across feeds) */
	uint8_t chunk_end_seen; /* CRLF bytes seen after chunk data */
	char line[KELP_HTTP_MAX_LINE];
};

/*
 * kelp_http_parser_init - prepare @p for one response whose body goes to @dst (@dst_cap bytes,
 * may be 0). @head: the request was HEAD. Any thread; @p, @dst owned by the caller.
 */
void kelp_http_parser_init(struct kelp_http_parser *p, uint8_t *dst, size_t dst_cap, bool head);

/*
 * kelp_http_parser_feed - parse @len bytes of the response.
 * @return the number of bytes consumed (less than @len only when the response ended inside @data:
 * the rest belongs to whatever follows), or -EPROTO / -EMSGSIZE (sticky: later calls return it
 * too). The response is complete when kelp_http_parser_done() says so.
 */
ssize_t kelp_http_parser_feed(struct kelp_http_parser *p, const uint8_t *data, size_t len);

/*
 * kelp_http_parser_finish - the peer closed the connection. Completes a body delimited by the
 * close. @return 0 when the response is now complete, -EPROTO when it was cut short.
 */
int kelp_http_parser_finish(struct kelp_http_parser *p);

/* @return true when the whole response has been parsed. */
static inline bool kelp_http_parser_done(const struct kelp_http_parser *p)
{
	return p->state == KELP_HTTP_DONE;
}

/*
 * kelp_http_parser_body_window - where the next body bytes may be received directly.
 * Only in a Content-Length body with destination room left: *@out = next byte of dst, @return how
 * many bytes may go there (never past the body's end or dst_cap). @return 0 otherwise: then receive
 * into a scratch buffer and feed it.
 */
size_t kelp_http_parser_body_window(const struct kelp_http_parser *p, uint8_t **out);

/*
 * kelp_http_parser_body_done - account for @n bytes received into the window that
 * kelp_http_parser_body_window() returned (@n <= that size).
 */
void kelp_http_parser_body_done(struct kelp_http_parser *p, size_t n);

/*
 * kelp_http_etag_crc - a SeaweedFS volume server's ETag, the needle's stored CRC as 8 quoted hex
 * digits ("5e90563f", either case), into *@crc. Any thread.
 * @return 0, or -EINVAL when @etag has another form (absent, weak, other length).
 */
int kelp_http_etag_crc(const char *etag, uint32_t *crc);

/* @return the body bytes stored in dst (min(body_total, dst_cap)). */
static inline size_t kelp_http_parser_body_len(const struct kelp_http_parser *p)
{
	return p->resp.body_total < p->dst_cap ? (size_t)p->resp.body_total : p->dst_cap;
}

#endif
