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

int kelp_filer_listing_parse_dom(const char *json, size_t len, struct kelp_filer_listing *out)
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

/* ---- the listing without a DOM ----------------------------------------------------------------
 *
 * kelpd lists whole directories (a page of 1024 entries is ~670 KB), and through jansson a page
 * cost ~30-50 ms of the control thread: half building and freeing the DOM (a malloc per value), a
 * quarter malloc/free and page faults, the rest quote_big_ints' copy. This reads the page in one
 * pass straight into the entries: strings without escapes are used where they lie in the input,
 * unknown members are skipped, integers are read as u64 with overflow checks (so no quoting of big
 * ones). Same results as kelp_filer_listing_parse_dom (jansson) on every document that parser
 * accepts (fuzz_filer_entry checks it: both accept -> equal); it may accept a few documents jansson
 * rejects without reading anything different: a member name repeated that kelp does not read, a
 * skipped number too big for a double.
 */

#define SCAN_DEPTH_MAX 2048 /* nesting, as jansson's JSON_PARSER_MAX_DEPTH */

struct scan {
	const char *p, *end;
	char *buf; /* decoded strings with escapes (scan_str) */
	size_t cap;
	int depth;
};

static void scan_ws(struct scan *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t'))
		c->p++;
}

/* skip whitespace, then take @ch if it is next */
static bool scan_take(struct scan *c, char ch)
{
	scan_ws(c);
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return true;
	}
	return false;
}

/* One UTF-8 sequence at @s (< @end) as jansson accepts it (no overlong form, no surrogate, at
 * most U+10FFFF). Return: its length, or 0 when invalid. */
static size_t utf8_len(const unsigned char *s, const unsigned char *end)
{
	unsigned char b = s[0];
	size_t n;
	uint32_t cp;
	if (b < 0x80)
		return 1;
	if (b >= 0xc2 && b <= 0xdf)
		n = 2, cp = b & 0x1f;
	else if (b >= 0xe0 && b <= 0xef)
		n = 3, cp = b & 0x0f;
	else if (b >= 0xf0 && b <= 0xf4)
		n = 4, cp = b & 0x07;
	else
		return 0;
	if ((size_t)(end - s) < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static int hex4(const char *s, uint32_t *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		char h = s[i];
		int d = h >= '0' && h <= '9'   ? h - '0'
			: h >= 'a' && h <= 'f' ? h - 'a' + 10
			: h >= 'A' && h <= 'F' ? h - 'A' + 10
					       : -1;
		if (d < 0)
			return -EBADMSG;
		*v = *v << 4 | (uint32_t)d;
	}
	return 0;
}

/*
 * The string at c->p (its opening quote next), decoded as jansson does (escapes, \u surrogate
 * pairs; rejected: \u0000, a lone surrogate, a control character, invalid UTF-8): *@s, *@n point
 * into the input when it has no escape, else into c->buf (valid until the next string).
 */
static int scan_str(struct scan *c, const char **s, size_t *n)
{
	const char *p = c->p + 1, *end = c->end;
	const char *start = p;
	bool esc = false;
	while (p < end && *p != '"') {
		unsigned char b = (unsigned char)*p;
		if (b < 0x20)
			return -EBADMSG;
		if (b == '\\') {
			esc = true;
			if (++p >= end)
				return -EBADMSG;
			p++;
			continue;
		}
		if (b < 0x80) {
			p++;
			continue;
		}
		size_t l = utf8_len((const unsigned char *)p, (const unsigned char *)end);
		if (!l)
			return -EBADMSG;
		p += l;
	}
	if (p >= end)
		return -EBADMSG;
	c->p = p + 1;
	size_t raw = (size_t)(p - start);
	if (!esc) {
		*s = start;
		*n = raw;
		return 0;
	}
	if (raw + 1 > c->cap) { /* decoded is never longer than the escaped text */
		char *b = realloc(c->buf, raw + 1);
		if (!b)
			return -ENOMEM;
		c->buf = b;
		c->cap = raw + 1;
	}
	size_t o = 0;
	for (const char *q = start; q < p;) {
		if (*q != '\\') {
			c->buf[o++] = *q++;
			continue;
		}
		char e = q[1];
		q += 2;
		switch (e) {
		case '"':
		case '\\':
		case '/':
			c->buf[o++] = e;
			continue;
		case 'b':
			c->buf[o++] = '\b';
			continue;
		case 'f':
			c->buf[o++] = '\f';
			continue;
		case 'n':
			c->buf[o++] = '\n';
			continue;
		case 'r':
			c->buf[o++] = '\r';
			continue;
		case 't':
			c->buf[o++] = '\t';
			continue;
		case 'u':
			break;
		default:
			return -EBADMSG;
		}
		uint32_t cp, lo;
		if (p - q < 4 || hex4(q, &cp))
			return -EBADMSG;
		q += 4;
		if (cp >= 0xd800 && cp <= 0xdbff) { /* a high surrogate: its low one must follow */
			if (p - q < 6 || q[0] != '\\' || q[1] != 'u' || hex4(q + 2, &lo) ||
			    lo < 0xdc00 || lo > 0xdfff)
				return -EBADMSG;
			q += 6;
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		} else if ((cp >= 0xdc00 && cp <= 0xdfff) || cp == 0) {
			return -EBADMSG;
		}
		if (cp < 0x80) {
			c->buf[o++] = (char)cp;
		} else if (cp < 0x800) {
			c->buf[o++] = (char)(0xc0 | cp >> 6);
			c->buf[o++] = (char)(0x80 | (cp & 0x3f));
		} else if (cp < 0x10000) {
			c->buf[o++] = (char)(0xe0 | cp >> 12);
			c->buf[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
			c->buf[o++] = (char)(0x80 | (cp & 0x3f));
		} else {
			c->buf[o++] = (char)(0xf0 | cp >> 18);
			c->buf[o++] = (char)(0x80 | ((cp >> 12) & 0x3f));
			c->buf[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
			c->buf[o++] = (char)(0x80 | (cp & 0x3f));
		}
	}
	c->buf[o] = 0;
	*s = c->buf;
	*n = o;
	return 0;
}

/* A number as JSON writes it: *@integer when it has neither fraction nor exponent; then *@neg
 * and its magnitude in *@mag, *@big when that exceeds u64. */
static int scan_num(struct scan *c, bool *integer, bool *neg, uint64_t *mag, bool *big)
{
	const char *p = c->p, *end = c->end;
	*integer = true;
	*neg = false;
	*mag = 0;
	*big = false;
	if (p < end && *p == '-')
		*neg = true, p++;
	if (p >= end || *p < '0' || *p > '9')
		return -EBADMSG;
	if (*p == '0') {
		p++;
	} else {
		for (; p < end && *p >= '0' && *p <= '9'; p++) {
			uint64_t d = (uint64_t)(*p - '0');
			if (*mag > (UINT64_MAX - d) / 10)
				*big = true;
			else
				*mag = *mag * 10 + d;
		}
	}
	if (p < end && *p == '.') {
		*integer = false;
		if (++p >= end || *p < '0' || *p > '9')
			return -EBADMSG;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		*integer = false;
		if (++p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || *p < '0' || *p > '9')
			return -EBADMSG;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	c->p = p;
	return 0;
}

static bool scan_word(struct scan *c, const char *w, size_t n)
{
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n))
		return false;
	c->p += n;
	return true;
}

/* Skip one value (whitespace before it skipped already), however deep, without recursion. */
static int scan_skip(struct scan *c)
{
	uint64_t kinds[SCAN_DEPTH_MAX / 64] = {0}; /* bit set: that level is an object */
	int depth = 0;
	for (;;) {
		/* a value */
		scan_ws(c);
		if (c->p >= c->end)
			return -EBADMSG;
		const char *s;
		size_t n;
		bool in, ng, bg;
		uint64_t m;
		char ch = *c->p;
		if (ch == '{' || ch == '[') {
			if (c->depth + depth + 1 > SCAN_DEPTH_MAX)
				return -EBADMSG;
			if (ch == '{')
				kinds[depth / 64] |= 1ull << (depth % 64);
			else
				kinds[depth / 64] &= ~(1ull << (depth % 64));
			depth++;
			c->p++;
			bool obj = ch == '{';
			if (scan_take(c, obj ? '}' : ']')) {
				depth--;
			} else {
				if (obj) { /* first member's name */
					if (c->p >= c->end || *c->p != '"' || scan_str(c, &s, &n) ||
					    !scan_take(c, ':'))
						return -EBADMSG;
				}
				continue;
			}
		} else if (ch == '"') {
			if (scan_str(c, &s, &n))
				return -EBADMSG;
		} else if (ch == 't'   ? scan_word(c, "true", 4)
			   : ch == 'f' ? scan_word(c, "false", 5)
			   : ch == 'n' ? scan_word(c, "null", 4)
				       : false) {
		} else if (scan_num(c, &in, &ng, &m, &bg)) {
			return -EBADMSG;
		}
		/* after a value: the next one of its container, or the container's end(s) */
		for (;;) {
			if (depth == 0)
				return 0;
			bool obj = kinds[(depth - 1) / 64] >> ((depth - 1) % 64) & 1;
			if (scan_take(c, ',')) {
				if (obj) {
					scan_ws(c);
					if (c->p >= c->end || *c->p != '"' || scan_str(c, &s, &n) ||
					    !scan_take(c, ':'))
						return -EBADMSG;
				}
				break;
			}
			if (!scan_take(c, obj ? '}' : ']'))
				return -EBADMSG;
			depth--;
		}
	}
}

/* Member values kelp reads: null is the zero value (Go's omitempty), another type -EBADMSG. */
static bool scan_null(struct scan *c)
{
	scan_ws(c);
	return c->p < c->end && *c->p == 'n' && scan_word(c, "null", 4);
}

/* u64 as get_u64: a non-negative integer (big ones too), or a string of 1-20 digits. */
static int scan_u64(struct scan *c, uint64_t *out)
{
	*out = 0;
	if (scan_null(c))
		return 0;
	if (c->p < c->end && *c->p == '"') {
		const char *s;
		size_t n;
		if (scan_str(c, &s, &n) || !n || n > 20)
			return -EBADMSG;
		uint64_t x = 0;
		for (size_t i = 0; i < n; i++) {
			if (s[i] < '0' || s[i] > '9' ||
			    x > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
				return -EBADMSG;
			x = x * 10 + (uint64_t)(s[i] - '0');
		}
		*out = x;
		return 0;
	}
	bool integer, neg, big;
	uint64_t m;
	if (scan_num(c, &integer, &neg, &m, &big) || !integer || big || (neg && m))
		return -EBADMSG;
	*out = m;
	return 0;
}

static int scan_u32(struct scan *c, uint32_t *out)
{
	uint64_t v;
	if (scan_u64(c, &v) || v > UINT32_MAX)
		return -EBADMSG;
	*out = (uint32_t)v;
	return 0;
}

/* i64 as get_i64: an integer within int64 (no string). */
static int scan_i64(struct scan *c, int64_t *out)
{
	*out = 0;
	if (scan_null(c))
		return 0;
	bool integer, neg, big;
	uint64_t m;
	if (scan_num(c, &integer, &neg, &m, &big) || !integer || big ||
	    m > (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX))
		return -EBADMSG;
	*out = neg ? (int64_t)(0 - m) : (int64_t)m;
	return 0;
}

static int scan_bool(struct scan *c, bool *out)
{
	*out = false;
	if (scan_null(c))
		return 0;
	if (scan_word(c, "true", 4))
		*out = true;
	else if (!scan_word(c, "false", 5))
		return -EBADMSG;
	return 0;
}

/* a string or null (*@s NULL) */
static int scan_strval(struct scan *c, const char **s, size_t *n)
{
	*s = NULL;
	*n = 0;
	if (scan_null(c))
		return 0;
	if (c->p >= c->end || *c->p != '"')
		return -EBADMSG;
	return scan_str(c, s, n);
}

/*
 * The members of the object at c->p ('{' next after whitespace), one by one: returns 1 with the
 * next member's name in *@key (its value next), 0 at the object's end, -EBADMSG. *@first is true
 * for the first call on an object.
 */
static int scan_member(struct scan *c, bool *first, const char **key, size_t *klen)
{
	if (*first) {
		*first = false;
		if (!scan_take(c, '{'))
			return -EBADMSG;
		if (++c->depth > SCAN_DEPTH_MAX)
			return -EBADMSG;
		if (scan_take(c, '}')) {
			c->depth--;
			return 0;
		}
	} else if (!scan_take(c, ',')) {
		if (!scan_take(c, '}'))
			return -EBADMSG;
		c->depth--;
		return 0;
	}
	scan_ws(c);
	if (c->p >= c->end || *c->p != '"' || scan_str(c, key, klen) || !scan_take(c, ':'))
		return -EBADMSG;
	return 1;
}

/* Array elements the same way: 1 an element is next, 0 the end. */
static int scan_elem(struct scan *c, bool *first)
{
	if (*first) {
		*first = false;
		if (!scan_take(c, '['))
			return -EBADMSG;
		if (++c->depth > SCAN_DEPTH_MAX)
			return -EBADMSG;
		if (scan_take(c, ']')) {
			c->depth--;
			return 0;
		}
		return 1;
	}
	if (scan_take(c, ','))
		return 1;
	if (!scan_take(c, ']'))
		return -EBADMSG;
	c->depth--;
	return 0;
}

static bool key_is(const char *k, size_t n, const char *name)
{
	return strlen(name) == n && !memcmp(k, name, n);
}

/* Which member of a known set @k is (index into @names), -1 none; a second one -EBADMSG. */
static int key_index(const char *k, size_t n, const char *const *names, int count, uint32_t *seen)
{
	for (int i = 0; i < count; i++)
		if (n && k[0] == names[i][0] && key_is(k, n, names[i])) {
			if (*seen & 1u << i)
				return -2; /* jansson rejects a repeated member */
			*seen |= 1u << i;
			return i;
		}
	return -1;
}

/* One chunk object, as parse_chunk. */
static int scan_chunk(struct scan *c, struct kelp_filer_chunk *ch)
{
	static const char *const names[] = {"file_id",
					    "fid",
					    "offset",
					    "size",
					    "modified_ts_ns",
					    "is_compressed",
					    "is_chunk_manifest",
					    "cipher_key"};
	static const char *const fid_names[] = {"volume_id", "file_key", "cookie"};
	struct kelp_fid from_str = {0}, from_msg = {0};
	bool has_str = false, has_msg = false, first = true;
	uint32_t seen = 0;
	const char *k, *s;
	size_t kn, n;
	int r;

	memset(ch, 0, sizeof(*ch));
	scan_ws(c);
	if (c->p >= c->end || *c->p != '{')
		return -EBADMSG;
	while ((r = scan_member(c, &first, &k, &kn)) == 1) {
		int rc = 0;
		switch (key_index(k, kn, names, 8, &seen)) {
		case 0:
			rc = scan_strval(c, &s, &n);
			if (!rc && s && n) {
				rc = kelp_fid_parse(s, n, &from_str) ? -EBADMSG : 0;
				has_str = true;
			}
			break;
		case 1:
			if (scan_null(c))
				break;
			has_msg = true;
			bool ffirst = true;
			uint32_t fseen = 0;
			while (!rc && (r = scan_member(c, &ffirst, &k, &kn)) == 1) {
				switch (key_index(k, kn, fid_names, 3, &fseen)) {
				case 0:
					rc = scan_u32(c, &from_msg.volume_id);
					break;
				case 1:
					rc = scan_u64(c, &from_msg.key);
					break;
				case 2:
					rc = scan_u32(c, &from_msg.cookie);
					break;
				case -1:
					rc = scan_skip(c);
					break;
				default:
					rc = -EBADMSG;
				}
			}
			if (!rc && r < 0)
				rc = r;
			break;
		case 2:
			rc = scan_i64(c, &ch->offset);
			break;
		case 3:
			rc = scan_u64(c, &ch->size);
			break;
		case 4:
			rc = scan_i64(c, &ch->modified_ts_ns);
			break;
		case 5:
			rc = scan_bool(c, &ch->is_compressed);
			break;
		case 6:
			rc = scan_bool(c, &ch->is_chunk_manifest);
			break;
		case 7:
			rc = scan_strval(c, &s, &n);
			if (!rc && s) {
				int64_t kl =
					b64_decode(s, n, ch->cipher_key, sizeof(ch->cipher_key));
				if (kl < 0)
					rc = -EBADMSG;
				else
					ch->cipher_key_len = (uint8_t)kl;
			}
			break;
		case -1:
			rc = scan_skip(c);
			break;
		default:
			rc = -EBADMSG;
		}
		if (rc)
			return rc == -ENOMEM ? rc : -EBADMSG;
	}
	if (r < 0 || (!has_str && !has_msg))
		return -EBADMSG;
	if (has_str && has_msg &&
	    (from_str.volume_id != from_msg.volume_id || from_str.key != from_msg.key ||
	     from_str.cookie != from_msg.cookie))
		return -EBADMSG;
	ch->fid = has_msg ? from_msg : from_str;
	return kelp_filer_chunk_check(ch);
}

/* The "chunks" array (or null) into e->chunks / e->nchunks. */
static int scan_chunks(struct scan *c, struct kelp_filer_entry *e)
{
	if (scan_null(c))
		return 0;
	uint32_t cap = 0;
	bool first = true;
	int r;
	while ((r = scan_elem(c, &first)) == 1) {
		if (e->nchunks == KELP_FILER_CHUNKS_MAX)
			return -EBADMSG;
		if (e->nchunks == cap) {
			cap = cap ? cap * 2 : 1;
			struct kelp_filer_chunk *b = realloc(e->chunks, cap * sizeof(*b));
			if (!b)
				return -ENOMEM;
			e->chunks = b;
		}
		int rc = scan_chunk(c, &e->chunks[e->nchunks]);
		if (rc)
			return rc;
		e->nchunks++;
	}
	return r;
}

/* One entry object, as parse_entry. */
static int scan_entry(struct scan *c, struct kelp_filer_entry *e)
{
	static const char *const names[] = {"FullPath",	     "Mtime",	"Crtime",   "Mode",
					    "Uid",	     "Gid",	"FileSize", "Inode",
					    "SymlinkTarget", "Content", "chunks"};
	uint32_t seen = 0, go_mode = 0;
	bool first = true;
	const char *k, *s;
	size_t kn, n;
	int r = 0, rc = 0;

	memset(e, 0, sizeof(*e));
	scan_ws(c);
	if (c->p >= c->end || *c->p != '{')
		return -EBADMSG;
	while (!rc && (r = scan_member(c, &first, &k, &kn)) == 1) {
		switch (key_index(k, kn, names, 11, &seen)) {
		case 0:
			rc = scan_strval(c, &s, &n);
			if (rc)
				break;
			if (!s || !n || s[0] != '/')
				rc = -EBADMSG;
			else if (n > KELP_FILER_PATH_MAX)
				rc = -ENAMETOOLONG;
			else if (!(e->path = strndup(s, n)))
				rc = -ENOMEM;
			break;
		case 1:
			rc = scan_strval(c, &s, &n);
			if (!rc && s)
				rc = kelp_filer_time_parse(s, n, &e->attr.mtime_ns);
			break;
		case 2:
			rc = scan_strval(c, &s, &n);
			if (!rc && s)
				rc = kelp_filer_time_parse(s, n, &e->attr.crtime_ns);
			break;
		case 3:
			rc = scan_u32(c, &go_mode);
			break;
		case 4:
			rc = scan_u32(c, &e->attr.uid);
			break;
		case 5:
			rc = scan_u32(c, &e->attr.gid);
			break;
		case 6:
			rc = scan_u64(c, &e->attr.size);
			break;
		case 7:
			rc = scan_u64(c, &e->attr.inode);
			break;
		case 8:
			rc = scan_strval(c, &s, &n);
			if (rc || !s || !n)
				break;
			if (n > KELP_FILER_PATH_MAX)
				rc = -ENAMETOOLONG;
			else if (!(e->symlink_target = strndup(s, n)))
				rc = -ENOMEM;
			break;
		case 9:
			rc = scan_strval(c, &s, &n);
			if (rc || !s || !n)
				break;
			if (n / 4 * 3 > KELP_FILER_CONTENT_MAX + 2) {
				rc = -EBADMSG;
				break;
			}
			if (!(e->content = malloc(n / 4 * 3 + 1))) {
				rc = -ENOMEM;
				break;
			}
			int64_t got = b64_decode(s, n, e->content, KELP_FILER_CONTENT_MAX);
			if (got < 0)
				rc = -EBADMSG;
			else
				e->content_len = (size_t)got;
			break;
		case 10:
			rc = scan_chunks(c, e);
			break;
		case -1:
			rc = scan_skip(c);
			break;
		default:
			rc = -EBADMSG;
		}
	}
	if (!rc && r < 0)
		rc = r;
	if (!rc && !e->path)
		rc = -EBADMSG;
	if (rc) {
		kelp_filer_entry_free(e);
		return rc;
	}
	e->name = strrchr(e->path, '/') + 1;
	e->attr.mode = kelp_filer_mode_to_st(go_mode);
	if (S_ISDIR(e->attr.mode))
		e->attr.size = 0;
	if (!e->attr.inode)
		e->attr.inode = kelp_filer_path_inode(e->path, strlen(e->path));
	if (!e->nchunks) { /* as parse_entry: no array for none */
		free(e->chunks);
		e->chunks = NULL;
	}
	return 0;
}

static int scan_listing(struct scan *c, struct kelp_filer_listing *out)
{
	static const char *const names[] = {"Entries", "ShouldDisplayLoadMore", "LastFileName"};
	uint32_t seen = 0, cap = 0;
	bool first = true;
	const char *k, *s;
	size_t kn, n;
	int r = 0, rc = 0;

	scan_ws(c);
	if (c->p >= c->end || *c->p != '{')
		return -EBADMSG;
	while (!rc && (r = scan_member(c, &first, &k, &kn)) == 1) {
		switch (key_index(k, kn, names, 3, &seen)) {
		case 0:
			if (scan_null(c))
				break;
			bool efirst = true;
			while (!rc && (r = scan_elem(c, &efirst)) == 1) {
				if (out->count == KELP_FILER_LIST_MAX) {
					rc = -EBADMSG;
					break;
				}
				if (out->count == cap) {
					cap = cap ? cap * 2 : 64;
					struct kelp_filer_entry *b =
						realloc(out->ents, cap * sizeof(*b));
					if (!b) {
						rc = -ENOMEM;
						break;
					}
					out->ents = b;
				}
				rc = scan_entry(c, &out->ents[out->count]);
				if (rc)
					break;
				size_t nl = strlen(out->ents[out->count].name);
				out->count++;
				rc = nl > KELP_FILER_NAME_MAX ? -ENAMETOOLONG : !nl ? -EBADMSG : 0;
			}
			if (!rc && r < 0)
				rc = r;
			break;
		case 1:
			rc = scan_bool(c, &out->more);
			break;
		case 2:
			rc = scan_strval(c, &s, &n);
			if (!rc && s && !(out->last_name = strndup(s, n)))
				rc = -ENOMEM;
			break;
		case -1:
			rc = scan_skip(c);
			break;
		default:
			rc = -EBADMSG;
		}
	}
	if (!rc && r < 0)
		rc = r;
	if (rc)
		return rc;
	scan_ws(c);
	if (c->p != c->end)
		return -EBADMSG; /* something after the document */
	if (!out->last_name && !(out->last_name = strdup("")))
		return -ENOMEM;
	if (!out->count) {
		free(out->ents);
		out->ents = NULL;
	}
	return 0;
}

int kelp_filer_listing_parse(const char *json, size_t len, struct kelp_filer_listing *out)
{
	memset(out, 0, sizeof(*out));
	struct scan c = {.p = json, .end = json + len};
	int rc = scan_listing(&c, out);
	free(c.buf);
	if (rc)
		kelp_filer_listing_free(out);
	return rc;
}
