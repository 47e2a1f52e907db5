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
		assert_null(e.path); /* nothing left to free */
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
		cmocka_unit_test(test_small_file),	  cmocka_unit_test(test_multi_chunk),
		cmocka_unit_test(test_inline_and_empty),  cmocka_unit_test(test_flags_and_keys),
		cmocka_unit_test(test_dir_symlink_names), cmocka_unit_test(test_other_zone),
		cmocka_unit_test(test_time_parse),	  cmocka_unit_test(test_listing_pages),
		cmocka_unit_test(test_bad_entries),	  cmocka_unit_test(test_long_names),
		cmocka_unit_test(test_mode_and_inode),	  cmocka_unit_test(test_big_integers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
