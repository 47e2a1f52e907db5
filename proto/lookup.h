/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SeaweedFS master volume lookup, as pure functions (seaweedfs.md, "Master HTTP API").
 *
 * Request: `GET /dir/lookup?volumeId=<vid>` to a master (written by kelp_lookup_write_request,
 * through kelp_http_write_request).
 * Response body (JSON), by status:
 *   200 {"volumeOrFileId":"3","locations":[{"url":"127.0.0.1:8080","publicUrl":"127.0.0.1:8080",
 *        "dataCenter":"dc1","grpcPort":18080}, ...]}   (dataCenter, grpcPort omitted when empty)
 *   404 {"volumeOrFileId":"9","error":"volume id 9 not found"}
 *   503 (master warming up; the Retry-After header is read by proto/http.c)
 * kelp reads url (where it connects), publicUrl and dataCenter; other members are ignored.
 */
#ifndef KELP_PROTO_LOOKUP_H
#define KELP_PROTO_LOOKUP_H

#include <stddef.h>
#include <stdint.h>

#define KELP_LOOKUP_MAX_LOCATIONS 8
#define KELP_LOOKUP_URL_MAX	  128
#define KELP_LOOKUP_DC_MAX	  64
#define KELP_LOOKUP_ERROR_MAX	  128

struct kelp_location {
	char url[KELP_LOOKUP_URL_MAX];	      /* "host:port" */
	char public_url[KELP_LOOKUP_URL_MAX]; /* "" when absent */
	char data_center[KELP_LOOKUP_DC_MAX]; /* "" when absent */
};

struct kelp_lookup_result {
	uint32_t count; /* locations filled */
	struct kelp_location loc[KELP_LOOKUP_MAX_LOCATIONS];
	char error[KELP_LOOKUP_ERROR_MAX]; /* the master's "error" text, "" when none */
};

/*
 * kelp_lookup_write_request - the lookup request for volume @vid to master @host ("ip:port").
 * Any thread. @return the request length, or the errors of kelp_http_write_request().
 */
int kelp_lookup_write_request(const char *host, uint32_t vid, char *buf, size_t size);

/*
 * kelp_lookup_parse - interpret a lookup response with HTTP status @status and @len body bytes.
 * Any thread. Locations beyond KELP_LOOKUP_MAX_LOCATIONS are ignored; a location whose url is
 * missing, empty, too long or contains characters other than host:port ones is an error.
 * @return 0 with out->count >= 1 (status 200 with at least one location);
 *   -ENOENT: 404, or 200 with no locations (out->error holds the master's text when it sent one);
 *   -EAGAIN: 503 (retry later, see Retry-After);
 *   -EBADMSG: the body is not the JSON described above;
 *   -EPROTO: any other status.
 */
int kelp_lookup_parse(int status, const char *body, size_t len, struct kelp_lookup_result *out);

#endif
