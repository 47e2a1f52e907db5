/* SPDX-License-Identifier: Apache-2.0 */
#include "proto/filer_entry.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

/*
 * jansson reads integers into json_int_t (int64) and fails the whole document on a bigger one, but
 * Go writes u64 fields as plain numbers: "Inode" is a hash and exceeds 2^63 about half the time
 * (15852357066557932424 in a real capture), file_key could too. So before jansson sees the text,
 * every integer token too big for int64 is put in quotes; the u64 fields below accept such a
 * decimal string. Scans outside strings only (a string ends at an unescaped '"').
 * Return: a new NUL-terminated copy (malloc) with *@out_len; NULL on ENOMEM.
 */
static bool int_too_big(const char *p, size_t n)
{
	const char *max = "9223372036854775807"; /* INT64_MAX; INT64_MIN's magnitude is 1 more */
	if (*p == '-')
		p++, n--, max = "9223372036854775808";
	while (n > 1 && *p == '0')
		p++, n--;
	size_t m = strlen(max);
	return n > m || (n == m && memcmp(p, max, m) > 0);
}

static char *quote_big_ints(const char *in, size_t len, size_t *out_len)
{
	size_t cap = len + 1, n = 0;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	size_t i = 0;
	while (i < len) {
		char c = in[i];
		size_t start = i, tok = 1;
		bool quote = false;
		if (c == '"') { /* a whole string */
			for (i++; i < len && in[i] != '"'; i++)
				if (in[i] == '\\')
					i++;
			tok = (i < len ? i + 1 : len) - start;
		} else if (c == '-' || (c >= '0' && c <= '9')) {
			bool integer = true;
			for (i++; i < len; i++) {
				char d = in[i];
				if (d == '.' || d == 'e' || d == 'E' || d == '+' || d == '-')
					integer = false;
				else if (!(d >= '0' && d <= '9'))
					break;
			}
			tok = i - start;
			quote = integer && int_too_big(in + start, tok);
		}
		i = start + tok;
		if (n + tok + 3 > cap) {
			cap = (n + tok + 3) * 2;
			char *bigger = realloc(out, cap);
			if (!bigger) {
				free(out);
				return NULL;
			}
			out = bigger;
		}
		if (quote)
			out[n++] = '"';
		memcpy(out + n, in + start, tok);
		n += tok;
		if (quote)
			out[n++] = '"';
	}
	out[n] = 0;
	*out_len = n;
	return out;
}

/* Member getters: absent or null is the zero value (Go's omitempty); the wrong type is -EBADMSG. */
static int get_u64(json_t *o, const char *name, uint64_t *out)
{
	json_t *v = json_object_get(o, name);
	*out = 0;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0)
			return -EBADMSG;
		*out = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v)) /* a quoted big integer (quote_big_ints): digits only, fits u64 */
		return -EBADMSG;
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (!n || n > 20)
		return -EBADMSG;
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || x > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -EBADMSG;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	*out = x;
	return 0;
}

static int get_u32(json_t *o, const char *name, uint32_t *out)
{
	uint64_t v;
	if (get_u64(o, name, &v) || v > UINT32_MAX)
		return -EBADMSG;
	*out = (uint32_t)v;
	return 0;
}

static int get_i64(json_t *o, const char *name, int64_t *out)
{
	json_t *v = json_object_get(o, name);
	*out = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		return -EBADMSG;
	*out = json_integer_value(v);
	return 0;
}

static int get_bool(json_t *o, const char *name, bool *out)
{
	json_t *v = json_object_get(o, name);
	*out = false;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return -EBADMSG;
	*out = json_is_true(v);
	return 0;
}

/* a string member: *s = its bytes (NULL when absent or null), *n its length */
static int get_str(json_t *o, const char *name, const char **s, size_t *n)
{
	json_t *v = json_object_get(o, name);
	*s = NULL;
	*n = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -EBADMSG;
	*s = json_string_value(v);
	*n = json_string_length(v);
	return 0;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Standard base64 with padding, strictly (Go's encoding/json writes []byte with StdEncoding):
 * @n a multiple of 4, '=' only as the last one or two characters. Writes at most @cap bytes.
 * Return: the decoded length, or -EBADMSG (also when it would exceed @cap).
 */
static int64_t b64_decode(const char *s, size_t n, uint8_t *out, size_t cap)
{
	if (n % 4)
		return -EBADMSG;
	size_t pad = n && s[n - 1] == '=' ? (s[n - 2] == '=' ? 2 : 1) : 0;
	size_t len = n / 4 * 3 - pad;
	if (len > cap)
		return -EBADMSG;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		for (int k = 0; k < 4; k++) {
			bool padding = i + 4 == n && k >= 4 - (int)pad;
			v[k] = padding ? 0 : b64_value(s[i + k]);
			if (v[k] < 0)
				return -EBADMSG;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
			     (uint32_t)v[3];
		uint8_t b[3] = {w >> 16, w >> 8, w};
		for (int k = 0; k < 3 && o < len; k++)
			out[o++] = b[k];
	}
	return (int64_t)len;
}

int kelp_filer_chunk_check(const struct kelp_filer_chunk *c)
{
	if (c->offset < 0 || c->size > KELP_FILER_CHUNK_SIZE_MAX ||
	    (int64_t)c->size > INT64_MAX - c->offset)
		return -EBADMSG;
	switch (c->cipher_key_len) {
	case 0:
	case 16:
	case 24:
	case 32:
		return 0;
	default:
		return -EBADMSG;
	}
}

/* One chunk object; the fid from "fid" {volume_id, file_key, cookie} and/or "file_id". */
static int parse_chunk(json_t *o, struct kelp_filer_chunk *c)
{
	const char *s;
	size_t n;
	bool has_msg = false, has_str = false;
	struct kelp_fid from_str = {0}, from_msg = {0};
	uint64_t size;

	memset(c, 0, sizeof(*c));
	if (!json_is_object(o))
		return -EBADMSG;
	if (get_str(o, "file_id", &s, &n))
		return -EBADMSG;
	if (s && n) {
		if (kelp_fid_parse(s, n, &from_str))
			return -EBADMSG;
		has_str = true;
	}
	json_t *fid = json_object_get(o, "fid");
	if (fid && !json_is_null(fid)) {
		if (!json_is_object(fid) || get_u32(fid, "volume_id", &from_msg.volume_id) ||
		    get_u64(fid, "file_key", &from_msg.key) ||
		    get_u32(fid, "cookie", &from_msg.cookie))
			return -EBADMSG;
		has_msg = true;
	}
	if (!has_str && !has_msg)
		return -EBADMSG;
	if (has_str && has_msg &&
	    (from_str.volume_id != from_msg.volume_id || from_str.key != from_msg.key ||
	     from_str.cookie != from_msg.cookie))
		return -EBADMSG;
	c->fid = has_msg ? from_msg : from_str;
	if (get_i64(o, "offset", &c->offset) || get_u64(o, "size", &size) ||
	    get_i64(o, "modified_ts_ns", &c->modified_ts_ns) ||
	    get_bool(o, "is_compressed", &c->is_compressed) ||
	    get_bool(o, "is_chunk_manifest", &c->is_chunk_manifest) ||
	    get_str(o, "cipher_key", &s, &n))
		return -EBADMSG;
	c->size = size;
	if (s) {
		int64_t k = b64_decode(s, n, c->cipher_key, sizeof(c->cipher_key));
		if (k < 0)
			return -EBADMSG;
		c->cipher_key_len = (uint8_t)k;
	}
	return kelp_filer_chunk_check(c);
}

int64_t kelp_filer_inline_read(const struct kelp_filer_entry *e, uint64_t off, uint32_t len,
			       const uint8_t **data)
{
	*data = NULL;
	if (off >= e->attr.size || !len)
		return 0;
	uint64_t n = e->attr.size - off < len ? e->attr.size - off : len;
	if (off + n > e->content_len)
		return -ENODATA;
	*data = e->content + off;
	return (int64_t)n;
}

uint32_t kelp_filer_mode_to_st(uint32_t m)
{
	uint32_t st = m & 0777;
	if (m & KELP_GO_MODE_DIR)
		st |= S_IFDIR;
	else if (m & KELP_GO_MODE_SYMLINK)
		st |= S_IFLNK;
	else if (m & KELP_GO_MODE_DEVICE)
		st |= (m & KELP_GO_MODE_CHARDEVICE) ? S_IFCHR : S_IFBLK;
	else if (m & KELP_GO_MODE_NAMEDPIPE)
		st |= S_IFIFO;
	else if (m & KELP_GO_MODE_SOCKET)
		st |= S_IFSOCK;
	else
		st |= S_IFREG;
	if (m & KELP_GO_MODE_SETUID)
		st |= S_ISUID;
	if (m & KELP_GO_MODE_SETGID)
		st |= S_ISGID;
	if (m & KELP_GO_MODE_STICKY)
		st |= S_ISVTX;
	return st;
}

uint64_t kelp_filer_path_inode(const char *path, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)path[i]) * 0x100000001b3ull;
	return h ? h : 1;
}

/* @n digits at @s as a number; -1 when one is not a digit */
static int64_t digits(const char *s, size_t n)
{
	int64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil) */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int kelp_filer_time_parse(const char *s, size_t len, int64_t *ns)
{
	/* 2006-01-02T15:04:05[.999999999](Z|+07:00) */
	if (len < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
		return -EBADMSG;
	int64_t y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
	int64_t h = digits(s + 11, 2), mi = digits(s + 14, 2), se = digits(s + 17, 2);
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
	    se < 0 || se > 59)
		return -EBADMSG;
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap))
		return -EBADMSG;
	size_t i = 19;
	int64_t frac = 0;
	if (i < len && s[i] == '.') {
		size_t n = 0;
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, n++) {
			if (n == 9)
				return -EBADMSG;
			frac = frac * 10 + (s[i] - '0');
		}
		if (!n)
			return -EBADMSG;
		for (; n < 9; n++)
			frac *= 10;
	}
	int64_t off = 0;
	if (i + 1 == len && s[i] == 'Z') {
		off = 0;
	} else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
		int64_t oh = digits(s + i + 1, 2), om = digits(s + i + 4, 2);
		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return -EBADMSG;
		off = (oh * 60 + om) * 60 * (s[i] == '-' ? -1 : 1);
	} else {
		return -EBADMSG;
	}
	if (y <= 1) { /* Go's zero time, in whatever zone: unset */
		*ns = 0;
		return 0;
	}
	int64_t sec = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off, out;
	if (__builtin_mul_overflow(sec, (int64_t)1000000000, &out) ||
	    __builtin_add_overflow(out, frac, &out))
		out = sec < 0 ? INT64_MIN : INT64_MAX;
	*ns = out;
	return 0;
}

static int get_time(json_t *o, const char *name, int64_t *ns)
{
	const char *s;
	size_t n;
	*ns = 0;
	if (get_str(o, name, &s, &n))
		return -EBADMSG;
	return s ? kelp_filer_time_parse(s, n, ns) : 0;
}

void kelp_filer_entry_free(struct kelp_filer_entry *e)
{
	if (!e)
		return;
	free(e->path);
	free(e->symlink_target);
	free(e->content);
	free(e->chunks);
	memset(e, 0, sizeof(*e));
}

static int parse_entry(json_t *o, struct kelp_filer_entry *e)
{
	const char *s;
	size_t n;
	uint32_t go_mode;
	int rc = -EBADMSG;

	memset(e, 0, sizeof(*e));
	if (!json_is_object(o))
		return -EBADMSG;
	if (get_str(o, "FullPath", &s, &n) || !s || !n || s[0] != '/')
		return -EBADMSG;
	if (n > KELP_FILER_PATH_MAX)
		return -ENAMETOOLONG;
	e->path = strndup(s, n);
	if (!e->path)
		return -ENOMEM;
	const char *slash = strrchr(e->path, '/');
	e->name = slash + 1;

	if (get_time(o, "Mtime", &e->attr.mtime_ns) || get_time(o, "Crtime", &e->attr.crtime_ns) ||
	    get_u32(o, "Mode", &go_mode) || get_u32(o, "Uid", &e->attr.uid) ||
	    get_u32(o, "Gid", &e->attr.gid) || get_u64(o, "FileSize", &e->attr.size) ||
	    get_u64(o, "Inode", &e->attr.inode))
		goto fail;
	e->attr.mode = kelp_filer_mode_to_st(go_mode);
	if (S_ISDIR(e->attr.mode))
		e->attr.size = 0;
	if (!e->attr.inode)
		e->attr.inode = kelp_filer_path_inode(e->path, n);

	if (get_str(o, "SymlinkTarget", &s, &n))
		goto fail;
	if (s && n) {
		if (n > KELP_FILER_PATH_MAX) {
			rc = -ENAMETOOLONG;
			goto fail;
		}
		e->symlink_target = strndup(s, n);
		if (!e->symlink_target)
			goto nomem;
	}

	if (get_str(o, "Content", &s, &n))
		goto fail;
	if (s && n) {
		if (n / 4 * 3 > KELP_FILER_CONTENT_MAX + 2)
			goto fail;
		e->content = malloc(n / 4 * 3 + 1);
		if (!e->content)
			goto nomem;
		int64_t got = b64_decode(s, n, e->content, KELP_FILER_CONTENT_MAX);
		if (got < 0)
			goto fail;
		e->content_len = (size_t)got;
	}

	json_t *chunks = json_object_get(o, "chunks");
	if (chunks && !json_is_null(chunks)) {
		size_t count = json_array_size(chunks);
		if (!json_is_array(chunks) || count > KELP_FILER_CHUNKS_MAX)
			goto fail;
		if (count) {
			e->chunks = calloc(count, sizeof(*e->chunks));
			if (!e->chunks)
				goto nomem;
		}
		for (size_t i = 0; i < count; i++)
			if (parse_chunk(json_array_get(chunks, i), &e->chunks[i]))
				goto fail;
		e->nchunks = (uint32_t)count;
	}
	return 0;
nomem:
	rc = -ENOMEM;
fail:
	kelp_filer_entry_free(e);
	return rc;
}

/* Parses @len bytes of JSON (big integers quoted first); NULL with *rc set on failure. */
static json_t *load(const char *json, size_t len, int *rc)
{
	size_t n;
	char *text = quote_big_ints(json, len, &n);
	if (!text) {
		*rc = -ENOMEM;
		return NULL;
	}
	json_t *root = json_loadb(text, n, JSON_REJECT_DUPLICATES, NULL);
	free(text);
	*rc = root ? 0 : -EBADMSG;
	return root;
}

int kelp_filer_entry_parse(const char *json, size_t len, struct kelp_filer_entry *out)
{
	int rc;
	memset(out, 0, sizeof(*out));
	json_t *root = load(json, len, &rc);
	if (!root)
		return rc;
	rc = parse_entry(root, out);
	json_decref(root);
	return rc;
}

void kelp_filer_listing_free(struct kelp_filer_listing *l)
{
	if (!l)
		return;
	for (uint32_t i = 0; i < l->count; i++)
		kelp_filer_entry_free(&l->ents[i]);
	free(l->ents);
	free(l->last_name);
	memset(l, 0, sizeof(*l));
}

int kelp_filer_listing_parse(const char *json, size_t len, struct kelp_filer_listing *out)
{
	int rc;
	const char *s;
	size_t n;

	memset(out, 0, sizeof(*out));
	json_t *root = load(json, len, &rc);
	if (!root)
		return rc;
	rc = -EBADMSG;
	json_t *ents = json_object_get(root, "Entries");
	size_t count = json_array_size(ents);
	if (!json_is_object(root) || (ents && !json_is_null(ents) && !json_is_array(ents)) ||
	    count > KELP_FILER_LIST_MAX || get_bool(root, "ShouldDisplayLoadMore", &out->more) ||
	    get_str(root, "LastFileName", &s, &n))
		goto fail;
	out->last_name = strndup(s ? s : "", n);
	if (!out->last_name)
		goto nomem;
	if (count) {
		out->ents = calloc(count, sizeof(*out->ents));
		if (!out->ents)
			goto nomem;
	}
	for (size_t i = 0; i < count; i++) {
		rc = parse_entry(json_array_get(ents, i), &out->ents[i]);
		if (rc)
			goto fail;
		out->count++;
		size_t name_len = strlen(out->ents[i].name);
		rc = name_len > KELP_FILER_NAME_MAX ? -ENAMETOOLONG : !name_len ? -EBADMSG : 0;
		if (rc)
			goto fail;
	}
	json_decref(root);
	return 0;
nomem:
	rc = -ENOMEM;
fail:
	json_decref(root);
	kelp_filer_listing_free(out);
	return rc;
}
