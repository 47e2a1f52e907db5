/* SPDX-License-Identifier: Apache-2.0 */
/* Master /dir/lookup request and response; the formats are described in lookup.h. */
#include "proto/lookup.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "proto/http.h"

int kelp_lookup_write_request(const char *host, uint32_t vid, char *buf, size_t size)
{
	char path[48];
	struct kelp_http_request req = {.host = host, .path = path};

	snprintf(path, sizeof(path), "/dir/lookup?volumeId=%u", vid);
	return kelp_http_write_request(&req, buf, size);
}

/* host:port characters (names, IPv4, bracketed IPv6); anything else would corrupt a request. */
static bool is_hostport(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr(".-_:[]", c)))
			return false;
	}
	return true;
}

/* Copy optional string member @name of @obj into @dst. @return 0, or -EBADMSG when it is not a
 * string or does not fit. */
static int copy_member(json_t *obj, const char *name, char *dst, size_t size, bool hostport)
{
	json_t *v = json_object_get(obj, name);
	dst[0] = '\0';
	if (!v)
		return 0;
	const char *s = json_string_value(v);
	if (!s || strlen(s) >= size || (hostport && *s && !is_hostport(s)))
		return -EBADMSG;
	strcpy(dst, s);
	return 0;
}

int kelp_lookup_parse(int status, const char *body, size_t len, struct kelp_lookup_result *out)
{
	json_t *root = NULL, *locs;
	int rc = -EBADMSG;

	memset(out, 0, sizeof(*out));
	if (status == 503)
		return -EAGAIN;
	if (status != 200 && status != 404)
		return -EPROTO;
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(root))
		goto out;
	if (copy_member(root, "error", out->error, sizeof(out->error), false) == -EBADMSG &&
	    json_is_string(json_object_get(root, "error"))) {
		/* too long to keep whole: keep the start, it still says what went wrong */
		snprintf(out->error, sizeof(out->error), "%s",
			 json_string_value(json_object_get(root, "error")));
	}
	if (status == 404) {
		rc = -ENOENT;
		goto out;
	}
	locs = json_object_get(root, "locations");
	if (locs && !json_is_array(locs))
		goto out;
	for (size_t i = 0; i < json_array_size(locs); i++) {
		json_t *l = json_array_get(locs, i);
		struct kelp_location *dst = &out->loc[out->count];
		if (!json_is_object(l))
			goto out;
		if (out->count == KELP_LOOKUP_MAX_LOCATIONS)
			continue;
		if (copy_member(l, "url", dst->url, sizeof(dst->url), true) || !dst->url[0] ||
		    copy_member(l, "publicUrl", dst->public_url, sizeof(dst->public_url), true) ||
		    copy_member(l, "dataCenter", dst->data_center, sizeof(dst->data_center), false))
			goto out;
		out->count++;
	}
	rc = out->count ? 0 : -ENOENT;
out:
	json_decref(root);
	if (rc == -EBADMSG)
		out->count = 0;
	return rc;
}
