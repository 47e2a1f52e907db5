/* SPDX-License-Identifier: Apache-2.0 */
/* proto/filer_entry: entries and listing pages as a real weed 4.48 filer sends them
 * (test/fixtures/filer/, captured by its capture.sh), times in other zones, big integers, and
 * clear errors for everything that is not that JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fixture_file.h"
#include "proto/filer_entry.h"
#include "test/unit/filer_listing_eq.h"

static int parse_fixture(const char *name, struct kelp_filer_entry *e)
{
	size_t len;
	uint8_t *buf = load_fixture(name, &len);
	int rc = kelp_filer_entry_parse((const char *)buf, len, e);
	free(buf);
	return rc;
}

static int parse_str(const char *json, struct kelp_filer_entry *e)
{
	return kelp_filer_entry_parse(json, strlen(json), e);
}

static void assert_fid(const struct kelp_filer_chunk *c, const char *want)
{
	char buf[KELP_FID_STR_MAX];
	assert_true(kelp_fid_format(&c->fid, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, want);
}

static void test_small_file(void **state)
{
	struct kelp_filer_entry e;
	assert_int_equal(parse_fixture("filer/entry_small.json", &e), 0);
	assert_string_equal(e.path, "/kelp-set/small.bin");
	assert_string_equal(e.name, "small.bin");
	assert_int_equal(e.attr.size, 4096);
	assert_int_equal(e.attr.mode, S_IFREG | 0660); /* Go Mode 432 */
	assert_int_equal(e.attr.uid, 0);
	assert_int_equal(e.attr.gid, 0);
	assert_true(e.attr.mtime_ns == 1796301924174462088LL);
	assert_true(e.attr.crtime_ns == 1796301924000000000LL);
	assert_true(e.attr.inode == 15852357066557959730ULL); /* > 2^63: quoted before jansson */
	assert_null(e.symlink_target);
	assert_null(e.content);
	assert_int_equal(e.nchunks, 1);
	assert_fid(&e.chunks[0], "4,038b966102");
	assert_int_equal(e.chunks[0].offset, 0);
	assert_int_equal(e.chunks[0].size, 4096);
	assert_true(e.chunks[0].modified_ts_ns == 1796301924174274117LL);
	assert_int_equal(e.chunks[0].cipher_key_len, 0);
	assert_false(e.chunks[0].is_compressed);
	assert_false(e.chunks[0].is_chunk_manifest);
	kelp_filer_entry_free(&e);
	kelp_filer_entry_free(&e); /* zeroed: a no-op */
}

static void test_multi_chunk(void **state)
{
	struct kelp_filer_entry e;
	assert_int_equal(parse_fixture("filer/entry_multi.json", &e), 0);
	assert_int_equal(e.attr.size, 3145733);
	assert_int_equal(e.nchunks, 4);
	static const char *fids[] = {"4,04cfaac612", "2,05d232de6e", "5,06cf831b12",
				     "2,072002d9e9"};
	for (int i = 0; i < 4; i++) {
		assert_fid(&e.chunks[i], fids[i]);
		assert_int_equal(e.chunks[i].offset,
				 (int64_t)i * 1048576); /* 0 is omitted in JSON */
		assert_int_equal(e.chunks[i].size, i < 3 ? 1048576 : 5);
	}
	kelp_filer_entry_free(&e);
}

static void test_inline_and_empty(void **state)
{
	struct kelp_filer_entry e;
	size_t len;
	assert_int_equal(parse_fixture("filer/entry_inline.json", &e), 0);
	assert_int_equal(e.nchunks, 0);
	assert_int_equal(e.content_len, 700);
	assert_int_equal(e.attr.size, 700);
	/* the base64 decodes to what the filer's GET served (captured next to it) */
	uint8_t *json = load_fixture("filer/entry_inline.json", &len);
	assert_non_null(strstr((char *)json, "\"Content\":\"ghGe53YK3T"));
	free(json);
	const uint8_t *d;
	assert_int_equal(kelp_filer_inline_read(&e, 0, 700, &d), 700);
	assert_ptr_equal(d, e.content);
	assert_int_equal(kelp_filer_inline_read(&e, 695, 100, &d), 5); /* cut at FileSize first */
	assert_ptr_equal(d, e.content + 695);
	assert_int_equal(kelp_filer_inline_read(&e, 700, 1, &d), 0);
	assert_null(d);
	assert_int_equal(e.content[0], 0x82); /* "ghGe" = 82 11 9e */
	assert_int_equal(e.content[1], 0x11);
	assert_int_equal(e.content[2], 0x9e);
	kelp_filer_entry_free(&e);

	assert_int_equal(parse_fixture("filer/entry_empty.json", &e), 0);
	assert_int_equal(e.attr.size, 0);
	assert_int_equal(e.nchunks, 0);
	assert_null(e.chunks);
	assert_null(e.content);
	kelp_filer_entry_free(&e);
}

static void test_flags_and_keys(void **state)
{
	struct kelp_filer_entry e;
	assert_int_equal(parse_fixture("filer/entry_text.json", &e), 0);
	assert_true(e.chunks[0].is_compressed);
	assert_int_equal(e.chunks[0].cipher_key_len, 0);
	kelp_filer_entry_free(&e);

	assert_int_equal(parse_fixture("filer/entry_enc.json", &e), 0);
	assert_int_equal(e.nchunks, 2);
	/* "+D2vUXtqu/2TrwRPFpFSEkCC324aRCiAL13K5EDxLJU=" */
	static const uint8_t key0[32] = {0xf8, 0x3d, 0xaf, 0x51, 0x7b, 0x6a, 0xbb, 0xfd,
					 0x93, 0xaf, 0x04, 0x4f, 0x16, 0x91, 0x52, 0x12,
					 0x40, 0x82, 0xdf, 0x6e, 0x1a, 0x44, 0x28, 0x80,
					 0x2f, 0x5d, 0xca, 0xe4, 0x40, 0xf1, 0x2c, 0x95};
	assert_int_equal(e.chunks[0].cipher_key_len, 32);
	assert_memory_equal(e.chunks[0].cipher_key, key0, 32);
	assert_int_equal(e.chunks[1].cipher_key_len, 32);
	assert_int_equal(e.chunks[1].offset, 1048576);
	assert_int_equal(e.chunks[1].size, 4000);
	assert_false(e.chunks[1].is_compressed);
	kelp_filer_entry_free(&e);

	assert_int_equal(parse_fixture("filer/entry_enctext.json", &e), 0);
	assert_true(e.chunks[0].is_compressed);
	assert_int_equal(e.chunks[0].cipher_key_len, 32);
	kelp_filer_entry_free(&e);

	assert_int_equal(parse_fixture("filer/entry_manifest.json", &e), 0);
	assert_int_equal(e.nchunks, 4);
	assert_true(e.chunks[0].is_chunk_manifest);
	assert_int_equal(e.chunks[0].modified_ts_ns, 0); /* weed leaves a manifest's ts 0 */
	assert_int_equal(e.chunks[0].size, 1000000);
	assert_false(e.chunks[1].is_chunk_manifest);
	assert_true(e.chunks[3].modified_ts_ns == 1796301979000010002LL);
	kelp_filer_entry_free(&e);
}

static void test_dir_symlink_names(void **state)
{
	struct kelp_filer_entry e;
	assert_int_equal(parse_fixture("filer/entry_dir.json", &e), 0);
	assert_int_equal(e.attr.mode, S_IFDIR | 0771); /* Go 2147484153 = ModeDir | 0771 */
	assert_int_equal(e.attr.size, 0);
	assert_string_equal(e.name, "deep");
	kelp_filer_entry_free(&e);

	assert_int_equal(parse_fixture("filer/entry_symlink.json", &e), 0);
	assert_int_equal(e.attr.mode, S_IFLNK | 0777); /* Go 134218239 = ModeSymlink | 0777 */
	assert_string_equal(e.symlink_target, "small.bin");
	kelp_filer_entry_free(&e);

	assert_int_equal(parse_fixture("filer/entry_names.json", &e), 0);
	assert_string_equal(e.path, "/kelp-set/dir with spaces/n\xc3\xa4me \xc3\xbcn\xc3\xaf"
				    "c\xc3\xb6"
				    "d\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e #1%.bin");
	assert_string_equal(e.name, "n\xc3\xa4me \xc3\xbcn\xc3\xaf"
				    "c\xc3\xb6"
				    "d\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e #1%.bin");
	kelp_filer_entry_free(&e);

	assert_int_equal(parse_fixture("filer/entry_deep.json", &e), 0);
	assert_string_equal(e.name, "leaf.bin");
	kelp_filer_entry_free(&e);
}

static void test_other_zone(void **state)
{
	struct kelp_filer_entry e;
	/* a filer with TZ=Asia/Kolkata: "+05:30", and its zero Ctime "0001-01-01T05:53:28+05:53" */
	assert_int_equal(parse_fixture("filer/entry_tz.json", &e), 0);
	assert_true(e.attr.mtime_ns == 1796302029105520762LL);
	assert_true(e.attr.crtime_ns == 1796302029000000000LL);
	kelp_filer_entry_free(&e);
}

static void test_time_parse(void **state)
{
	int64_t ns;
#define T(s) kelp_filer_time_parse(s, strlen(s), &ns)
	assert_int_equal(T("1970-01-01T00:00:00Z"), 0);
	assert_int_equal(ns, 0);
	assert_int_equal(T("1970-01-01T00:00:01.5Z"), 0);
	assert_int_equal(ns, 1500000000);
	assert_int_equal(T("2000-02-29T23:59:59.000000001-01:00"), 0);
	assert_true(ns == (951868799LL + 3600) * 1000000000 + 1);
	assert_int_equal(T("0001-01-01T00:00:00Z"), 0);
	assert_int_equal(ns, 0);
	assert_int_equal(T("0000-12-31T18:00:00-06:00"), 0); /* zero time in a western zone */
	assert_int_equal(ns, 0);
	assert_int_equal(T("2263-01-01T00:00:00Z"), 0);
	assert_true(ns == INT64_MAX);
	assert_int_equal(T("1600-01-01T00:00:00Z"), 0);
	assert_true(ns == INT64_MIN);
	static const char *bad[] = {"",
				    "2026-12-03",
				    "2026-12-03T12:45:24",
				    "2026-12-03 12:45:24Z",
				    "2026-13-03T12:45:24Z",
				    "2026-02-29T12:45:24Z",
				    "2026-12-03T24:00:00Z",
				    "2026-12-03T12:45:24.Z",
				    "2026-12-03T12:45:24.1234567890Z",
				    "2026-12-03T12:45:24+0530",
				    "2026-12-03T12:45:24ZZ",
				    "2026-12-03T12:45:24+05:30x",
				    "2O26-12-03T12:45:24Z"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(T(bad[i]), -EBADMSG);
#undef T
}

static void test_listing_pages(void **state)
{
	struct kelp_filer_listing l;
	size_t len;
	uint8_t *buf = load_fixture("filer/list_page1.json", &len);
	assert_int_equal(kelp_filer_listing_parse((char *)buf, len, &l), 0);
	free(buf);
	assert_int_equal(l.count, 3);
	assert_true(l.more);
	assert_string_equal(l.last_name, "empty.bin");
	assert_string_equal(l.ents[0].name, "deep");
	assert_true(S_ISDIR(l.ents[0].attr.mode));
	assert_string_equal(l.ents[1].name, "dir with spaces");
	assert_string_equal(l.ents[2].path, "/kelp-set/empty.bin");
	kelp_filer_listing_free(&l);

	buf = load_fixture("filer/list_all.json", &len);
	assert_int_equal(kelp_filer_listing_parse((char *)buf, len, &l), 0);
	free(buf);
	assert_int_equal(l.count, 14);
	assert_false(l.more);
	assert_string_equal(l.last_name, "text.txt");
	uint32_t with_chunks = 0;
	for (uint32_t i = 0; i < l.count; i++) {
		with_chunks += l.ents[i].nchunks > 0;
		if (i) /* byte order of names */
			assert_true(strcmp(l.ents[i - 1].name, l.ents[i].name) < 0);
	}
	assert_int_equal(with_chunks, 8); /* listed entries carry their chunks */
	assert_string_equal(l.ents[5].symlink_target, "small.bin");
	kelp_filer_listing_free(&l);

	buf = load_fixture("filer/list_empty.json", &len); /* "Entries":null */
	assert_int_equal(kelp_filer_listing_parse((char *)buf, len, &l), 0);
	free(buf);
	assert_int_equal(l.count, 0);
	assert_null(l.ents);
	assert_false(l.more);
	assert_string_equal(l.last_name, "");
	kelp_filer_listing_free(&l);

	buf = load_fixture("filer/list_root.json", &len);
	assert_int_equal(kelp_filer_listing_parse((char *)buf, len, &l), 0);
	free(buf);
	assert_string_equal(l.ents[0].name, "kelp-set");
	kelp_filer_listing_free(&l);
}

/* @json through both listing parsers: the same rc, and the same page when they accept it */
static int both_listings(const char *json, size_t len)
{
	struct kelp_filer_listing l, d;
	int rc = kelp_filer_listing_parse(json, len, &l);
	int rd = kelp_filer_listing_parse_dom(json, len, &d);
	if (rc != rd)
		fprintf(stderr, "scan %d, dom %d: %.200s\n", rc, rd, json);
	assert_int_equal(rc, rd);
	if (rc == 0) {
		assert_true(kelp_test_listing_eq(&l, &d));
		kelp_filer_listing_free(&l);
		kelp_filer_listing_free(&d);
	}
	return rc;
}

/* @entry as the one entry of a page */
static int both_wrapped(const char *entry, size_t len)
{
	static const char pre[] = "{\"Path\":\"/d\",\"Entries\":[", post[] = "],\"Limit\":9}";
	char *page = malloc(sizeof(pre) + len + sizeof(post));
	assert_non_null(page);
	memcpy(page, pre, sizeof(pre) - 1);
	memcpy(page + sizeof(pre) - 1, entry, len);
	memcpy(page + sizeof(pre) - 1 + len, post, sizeof(post));
	int rc = both_listings(page, strlen(page));
	free(page);
	return rc;
}

/* kelpd's one-pass listing parser gives what the jansson reference gives: every captured page and
 * entry, escapes, skipped members of any shape, and the same errors. */
static void test_listing_scan_equals_dom(void **state)
{
	static const char *fixtures[] = {"filer/list_all.json",	      "filer/list_empty.json",
					 "filer/list_names.json",     "filer/list_page1.json",
					 "filer/list_page2.json",     "filer/list_root.json",
					 "filer/entry_deep.json",     "filer/entry_dir.json",
					 "filer/entry_empty.json",    "filer/entry_enc.json",
					 "filer/entry_enctext.json",  "filer/entry_inline.json",
					 "filer/entry_manifest.json", "filer/entry_multi.json",
					 "filer/entry_names.json",    "filer/entry_one.json",
					 "filer/entry_overlap.json",  "filer/entry_small.json",
					 "filer/entry_sparse.json",   "filer/entry_sparsehead.json",
					 "filer/entry_symlink.json",  "filer/entry_text.json",
					 "filer/entry_tz.json"};
	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		size_t len;
		uint8_t *buf = load_fixture(fixtures[i], &len);
		if (!strncmp(fixtures[i], "filer/list_", 11)) {
			assert_int_equal(both_listings((char *)buf, len), 0);
		} else {
			assert_int_equal(both_wrapped((char *)buf, len), 0);
			/* and the entry of the page is the entry parsed alone */
			struct kelp_filer_entry e;
			struct kelp_filer_listing l;
			char page[70000];
			assert_true(len + 20 < sizeof(page));
			int n = snprintf(page, sizeof(page), "{\"Entries\":[%.*s]}", (int)len,
					 (char *)buf);
			assert_int_equal(kelp_filer_entry_parse((char *)buf, len, &e), 0);
			assert_int_equal(kelp_filer_listing_parse(page, (size_t)n, &l), 0);
			assert_true(kelp_test_entry_eq(&e, &l.ents[0]));
			kelp_filer_entry_free(&e);
			kelp_filer_listing_free(&l);
		}
		free(buf);
	}

	static const char *good[] = {
		/* escapes in values and member names, Go's \u003c, a surrogate pair, raw UTF-8 */
		"{\"Entries\":[{\"Full\\u0050ath\":\"/d/a\\u003cb\\u00e9\\ud83d\\ude00\\/"
		"\\\"\\\\\\t"
		"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\",\"Mode\":420}],\"LastFileName\":\"x\\ny\"}",
		/* whitespace everywhere, nulls, -0, quoted and big integers, nested unknown members
		 */
		" \r\n\t{ \"Entries\" : [ { \"FullPath\" : \"/d/b\" , \"Mtime\" : null , \"Mode\" "
		": -0 ,"
		" \"FileSize\" : \"18446744073709551615\" , \"Inode\" : 18446744073709551615 ,"
		" \"Extended\" : { \"a\" : [ 1 , -2.5e+3 , { \"b\" : [ [ ] , { } ] } , true , "
		"false ,"
		" null , \"s\" ] } , \"Quota\" : -9223372036854775809 , \"Rdev\" : 1.5 , "
		" \"chunks\" : [ { \"fid\" : { \"volume_id\" : 1 , \"file_key\" : 2 , \"cookie\" : "
		"3 ,"
		" \"x\" : [ ] } , \"offset\" : -0 , \"size\" : 7 , \"modified_ts_ns\" : "
		"-9223372036854775808 , \"is_compressed\" : null , \"cipher_key\" : null } ] } ] ,"
		" \"ShouldDisplayLoadMore\" : true , \"LastFileName\" : null } \n",
		"{\"Entries\":null}",
		"{\"Entries\":[]}",
		"{}",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(both_listings(good[i], strlen(good[i])), 0);

	static const char *bad[] = {
		"",
		"{",
		"{\"Entries\":[]} x",
		"{\"Entries\":[],}",
		"{\"Entries\":[{\"FullPath\":\"/d/a\"},]}",
		"{\"Entries\":[{\"FullPath\":\"/d/\\ud83d\"}]}",      /* lone high surrogate */
		"{\"Entries\":[{\"FullPath\":\"/d/\\ude00\"}]}",      /* lone low surrogate */
		"{\"Entries\":[{\"FullPath\":\"/d/\\u0000\"}]}",      /* NUL */
		"{\"Entries\":[{\"FullPath\":\"/d/\\x\"}]}",	      /* unknown escape */
		"{\"Entries\":[{\"FullPath\":\"/d/\\u12\"}]}",	      /* short \u */
		"{\"Entries\":[{\"FullPath\":\"/d/\x01\"}]}",	      /* raw control character */
		"{\"Entries\":[{\"FullPath\":\"/d/\xc3\"}]}",	      /* cut UTF-8 */
		"{\"Entries\":[{\"FullPath\":\"/d/\xc0\xaf\"}]}",     /* overlong */
		"{\"Entries\":[{\"FullPath\":\"/d/\xed\xa0\x80\"}]}", /* UTF-8 surrogate */
		"{\"Entries\":[{\"FullPath\":\"/d/\xf4\x90\x80\x80\"}]}", /* > U+10FFFF */
		"{\"Entries\":[{\"FullPath\":\"/d/a\",\"FullPath\":\"/d/b\"}]}",
		"{\"Entries\":[{\"FullPath\":\"/d/a\",\"Mode\":01}]}",
		"{\"Entries\":[{\"FullPath\":\"/d/a\",\"Mode\":1.0}]}",
		"{\"Entries\":[{\"FullPath\":\"/d/a\",\"Mode\":-}]}",
		"{\"Entries\":[{\"FullPath\":\"/d/a\",\"Rdev\":1.}]}",
		"{\"Entries\":[{\"FullPath\":\"/d/a\",\"Rdev\":tru}]}",
		"{\"Entries\":[{\"FullPath\":\"/d/a\",\"Extended\":{\"a\" 1}}]}",
		"{\"Entries\":[{\"FullPath\":\"/d/a\",\"Extended\":{\"a\":[1}]}",
		"{\"Entries\":[{\"FullPath\":\"/d/a\",\"Extended\":{1:2}}]}",
		"{\"Entries\":[{\"FullPath\":\"/d/a\",\"chunks\":[{\"fid\":{\"volume_id\":1,"
		"\"volume_id\":1}}]}]}",
		"{\"Entries\":[{\"FullPath\":\"/d/a\",\"chunks\":[{\"fid\":7}]}]}",
		"{\"Entries\":[{\"FullPath\":\"/d/a\",\"chunks\":[{\"file_id\":\"1,0101\","
		"\"modified_ts_ns\":\"5\"}]}]}",
		"{\"Entries\":[{\"FullPath\":\"/d/a\"}],\"Entries\":[]}",
		"{\"Entries\":[{\"FullPath\":\"/d/a\"}],\"ShouldDisplayLoadMore\":0}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(both_listings(bad[i], strlen(bad[i])), -EBADMSG);

	/* nesting: as deep as jansson goes is fine, deeper is an error */
	for (int depth = 2040; depth <= 2050; depth += 10) {
		char *doc = malloc((size_t)depth * 2 + 64);
		assert_non_null(doc);
		int o = sprintf(doc, "{\"X\":");
		for (int i = 0; i < depth; i++)
			doc[o++] = '[';
		for (int i = 0; i < depth; i++)
			doc[o++] = ']';
		strcpy(doc + o, "}");
		assert_int_equal(both_listings(doc, strlen(doc)), depth < 2048 ? 0 : -EBADMSG);
		free(doc);
	}
}

static void test_bad_entries(void **state)
{
	struct kelp_filer_entry e;
	static const char *bad[] = {
		"",
		"[]",
		"{}",
		"{\"FullPath\":\"\"}",
		"{\"FullPath\":\"relative\"}",
		"{\"FullPath\":7}",
		"{\"FullPath\":\"/a\",\"Mode\":-1}",
		"{\"FullPath\":\"/a\",\"Mode\":4294967296}",
		"{\"FullPath\":\"/a\",\"FileSize\":\"12x\"}",
		"{\"FullPath\":\"/a\",\"FileSize\":18446744073709551616}",
		"{\"FullPath\":\"/a\",\"Mtime\":\"yesterday\"}",
		"{\"FullPath\":\"/a\",\"Content\":\"abc\"}",
		"{\"FullPath\":\"/a\",\"Content\":\"ab=c\"}",
		"{\"FullPath\":\"/a\",\"chunks\":{}}",
		"{\"FullPath\":\"/a\",\"chunks\":[7]}",
		"{\"FullPath\":\"/a\",\"chunks\":[{\"size\":1}]}", /* no fid */
		"{\"FullPath\":\"/a\",\"chunks\":[{\"file_id\":\"nope\"}]}",
		"{\"FullPath\":\"/a\",\"chunks\":[{\"file_id\":\"3,01637037d6\","
		"\"fid\":{\"volume_id\":4,\"file_key\":1,\"cookie\":1668298710}}]}", /* disagree */
		"{\"FullPath\":\"/a\",\"chunks\":[{\"file_id\":\"3,01637037d6\",\"offset\":-1}]}",
		"{\"FullPath\":\"/a\",\"chunks\":[{\"file_id\":\"3,01637037d6\","
		"\"offset\":9223372036854775000,\"size\":1000}]}",
		"{\"FullPath\":\"/a\",\"chunks\":[{\"file_id\":\"3,01637037d6\","
		"\"size\":1099511627777}]}",
		"{\"FullPath\":\"/"
		"a\",\"chunks\":[{\"file_id\":\"3,01637037d6\",\"cipher_key\":\"AAAA\"}]}",
		"{\"FullPath\":\"/"
		"a\",\"chunks\":[{\"file_id\":\"3,01637037d6\",\"is_compressed\":1}]}",
		"{\"FullPath\":\"/a\",\"FullPath\":\"/b\"}",
		"{\"FullPath\":\"/a\"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse_str(bad[i], &e);
		if (rc != -EBADMSG)
			fprintf(stderr, "case %zu: %d\n", i, rc);
		assert_int_equal(rc, -EBADMSG);
		assert_null(e.path);  /* nothing left to free */
		if (bad[i][0] == '{') /* the same entry on a page: both listing parsers reject it */
			assert_int_equal(both_wrapped(bad[i], strlen(bad[i])), -EBADMSG);
	}
	/* the agreeing fid forms, a 16-byte key, a chunk without a "fid" member */
	assert_int_equal(parse_str("{\"FullPath\":\"/a\",\"chunks\":[{\"file_id\":\"3,01637037d6\","
				   "\"fid\":{\"volume_id\":3,\"file_key\":1,\"cookie\":1668298710},"
				   "\"cipher_key\":\"AAAAAAAAAAAAAAAAAAAAAA==\"}]}",
				   &e),
			 0);
	assert_int_equal(e.chunks[0].cipher_key_len, 16);
	assert_int_equal(e.attr.inode, kelp_filer_path_inode("/a", 2)); /* no Inode: the hash */
	assert_int_equal(e.attr.mode, S_IFREG);
	kelp_filer_entry_free(&e);

	/* Content shorter than FileSize: reads inside it are inline, others go to the chunks */
	const uint8_t *d;
	assert_int_equal(
		parse_str("{\"FullPath\":\"/a\",\"FileSize\":10,\"Content\":\"AQID\"}", &e), 0);
	assert_int_equal(e.content_len, 3);
	assert_int_equal(kelp_filer_inline_read(&e, 1, 2, &d), 2);
	assert_int_equal(d[0], 2);
	assert_int_equal(kelp_filer_inline_read(&e, 2, 5, &d), -ENODATA);
	assert_int_equal(kelp_filer_inline_read(&e, 0, 0, &d), 0);
	kelp_filer_entry_free(&e);
}

static void test_long_names(void **state)
{
	char json[8300];
	char path[4200];
	struct kelp_filer_entry e;
	struct kelp_filer_listing l;

	memset(path, 'x', sizeof(path));
	path[0] = '/';
	path[4097] = 0; /* 4097 bytes: one too many */
	snprintf(json, sizeof(json), "{\"FullPath\":\"%s\"}", path);
	assert_int_equal(parse_str(json, &e), -ENAMETOOLONG);
	path[4096] = 0;
	snprintf(json, sizeof(json), "{\"FullPath\":\"%s\"}", path);
	assert_int_equal(parse_str(json, &e), 0);
	kelp_filer_entry_free(&e);

	memset(path, 'y', sizeof(path));
	memcpy(path, "/d/", 3);
	path[3 + 256] = 0;
	snprintf(json, sizeof(json), "{\"Entries\":[{\"FullPath\":\"%s\"}]}", path);
	assert_int_equal(kelp_filer_listing_parse(json, strlen(json), &l), -ENAMETOOLONG);
	assert_null(l.ents);
	path[3 + 255] = 0;
	snprintf(json, sizeof(json), "{\"Entries\":[{\"FullPath\":\"%s\"}]}", path);
	assert_int_equal(kelp_filer_listing_parse(json, strlen(json), &l), 0);
	assert_int_equal(strlen(l.ents[0].name), 255);
	kelp_filer_listing_free(&l);

	static const char *bad[] = {"{\"Entries\":7}",
				    "{\"Entries\":[{}]}",
				    "{\"Entries\":[{\"FullPath\":\"/\"}]}",
				    "{\"LastFileName\":1}",
				    "{\"ShouldDisplayLoadMore\":\"yes\"}",
				    "[]"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(kelp_filer_listing_parse(bad[i], strlen(bad[i]), &l), -EBADMSG);
}

static void test_mode_and_inode(void **state)
{
	assert_int_equal(kelp_filer_mode_to_st(0644), S_IFREG | 0644);
	assert_int_equal(kelp_filer_mode_to_st(KELP_GO_MODE_DIR | KELP_GO_MODE_STICKY | 0777),
			 S_IFDIR | S_ISVTX | 0777);
	assert_int_equal(kelp_filer_mode_to_st(KELP_GO_MODE_SETUID | KELP_GO_MODE_SETGID | 0755),
			 S_IFREG | S_ISUID | S_ISGID | 0755);
	assert_int_equal(kelp_filer_mode_to_st(KELP_GO_MODE_DEVICE | KELP_GO_MODE_CHARDEVICE),
			 S_IFCHR);
	assert_int_equal(kelp_filer_mode_to_st(KELP_GO_MODE_DEVICE), S_IFBLK);
	assert_int_equal(kelp_filer_mode_to_st(KELP_GO_MODE_NAMEDPIPE), S_IFIFO);
	assert_int_equal(kelp_filer_mode_to_st(KELP_GO_MODE_SOCKET), S_IFSOCK);
	/* FNV-1a 64 reference values */
	assert_true(kelp_filer_path_inode("", 0) == 0xcbf29ce484222325ULL);
	assert_true(kelp_filer_path_inode("a", 1) == 0xaf63dc4c8601ec8cULL);
}

/* Big integers anywhere (also inside strings, which stay as they are) */
static void test_big_integers(void **state)
{
	struct kelp_filer_entry e;
	const char *json =
		"{\"FullPath\":\"/a 99999999999999999999\",\"Inode\":18446744073709551615,"
		"\"Quota\":-9223372036854775809,\"chunks\":[{\"fid\":{\"volume_id\":1,"
		"\"file_key\":18446744073709551615,\"cookie\":1}}]}";
	assert_int_equal(parse_str(json, &e), 0);
	assert_string_equal(e.path, "/a 99999999999999999999");
	assert_true(e.attr.inode == UINT64_MAX);
	assert_true(e.chunks[0].fid.key == UINT64_MAX);
	kelp_filer_entry_free(&e);
	/* a big signed field stays an error */
	json = "{\"FullPath\":\"/a\",\"chunks\":[{\"file_id\":\"1,0101\",\"offset\":"
	       "9223372036854775808}]}";
	assert_int_equal(parse_str(json, &e), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_file),
		cmocka_unit_test(test_multi_chunk),
		cmocka_unit_test(test_inline_and_empty),
		cmocka_unit_test(test_flags_and_keys),
		cmocka_unit_test(test_dir_symlink_names),
		cmocka_unit_test(test_other_zone),
		cmocka_unit_test(test_time_parse),
		cmocka_unit_test(test_listing_pages),
		cmocka_unit_test(test_bad_entries),
		cmocka_unit_test(test_long_names),
		cmocka_unit_test(test_mode_and_inode),
		cmocka_unit_test(test_big_integers),
		cmocka_unit_test(test_listing_scan_equals_dom),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
