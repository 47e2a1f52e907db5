/* SPDX-License-Identifier: Apache-2.0 */
/* proto/chunk_manifest: the FileChunkManifest a real weed 4.48 filer wrote for a file of 10003
 * chunks (test/fixtures/filer/manifest.pb; what python decoded from it: manifest.chunks.tsv), and
 * hand-made encodings for each rule of the wire format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fixture_file.h"
#include "proto/chunk_manifest.h"

static void test_real_manifest(void **state)
{
	size_t len, tlen;
	uint8_t *buf = load_fixture("filer/manifest.pb", &len);
	char *tsv = (char *)load_fixture("filer/manifest.chunks.tsv", &tlen);
	tsv[tlen] = 0;
	struct kelp_filer_chunk *c;
	uint32_t n;
	assert_int_equal(kelp_chunk_manifest_decode(buf, len, &c, &n), 0);

	/* line 1: count and byte sum; then fid, offset, size, ts of chunks 0, 1, 2 and the last */
	char *save = NULL, *line = strtok_r(tsv, "\n", &save);
	unsigned want_n;
	unsigned long long want_sum, sum = 0;
	assert_int_equal(sscanf(line, "%u\t%llu", &want_n, &want_sum), 2);
	assert_int_equal(n, want_n);
	for (uint32_t i = 0; i < n; i++) {
		sum += c[i].size;
		assert_int_equal(c[i].offset, (int64_t)i * 100);
		assert_false(c[i].is_chunk_manifest);
		assert_int_equal(c[i].cipher_key_len, 0);
		/* the harness cycled over 8 needles */
		assert_memory_equal(&c[i].fid, &c[i % 8].fid, sizeof(c[i].fid));
	}
	assert_int_equal(sum, want_sum);
	uint32_t idx[] = {0, 1, 2, n - 1};
	for (int k = 0; k < 4; k++) {
		line = strtok_r(NULL, "\n", &save);
		assert_non_null(line);
		char fid[64], got[KELP_FID_STR_MAX];
		long long off, size, ts;
		assert_int_equal(sscanf(line, "%63s\t%lld\t%lld\t%lld", fid, &off, &size, &ts), 4);
		const struct kelp_filer_chunk *x = &c[idx[k]];
		assert_true(kelp_fid_format(&x->fid, got, sizeof(got)) > 0);
		assert_string_equal(got, fid);
		assert_int_equal(x->offset, off);
		assert_int_equal(x->size, size);
		assert_true(x->modified_ts_ns == ts);
	}
	free(c);

	/* every prefix is either a valid shorter manifest or an error, never a crash */
	for (size_t cut = 0; cut < 200; cut++) {
		int rc = kelp_chunk_manifest_decode(buf, cut, &c, &n);
		assert_true(rc == 0 || rc == -EBADMSG);
		if (rc == 0)
			free(c);
	}
	free(buf);
	free(tsv);
}

/* a small protobuf writer for the cases below */
struct w {
	uint8_t b[512];
	size_t n;
};
static void w_varint(struct w *w, uint64_t v)
{
	do {
		w->b[w->n++] = (uint8_t)(v & 0x7f) | (v > 0x7f ? 0x80 : 0);
		v >>= 7;
	} while (v);
}
static void w_key(struct w *w, uint32_t field, uint32_t wt)
{
	w_varint(w, (uint64_t)field << 3 | wt);
}
static void w_bytes(struct w *w, uint32_t field, const void *p, size_t n)
{
	w_key(w, field, 2);
	w_varint(w, n);
	memcpy(w->b + w->n, p, n);
	w->n += n;
}
static void w_fixed32(struct w *w, uint32_t field, uint32_t v)
{
	w_key(w, field, 5);
	for (int i = 0; i < 4; i++)
		w->b[w->n++] = (uint8_t)(v >> (8 * i));
}
/* a FileId {3, 1, 0x637037d6} = "3,01637037d6" */
static void w_fid(struct w *w, uint32_t vid)
{
	struct w f = {.n = 0};
	w_key(&f, 1, 0);
	w_varint(&f, vid);
	w_key(&f, 2, 0);
	w_varint(&f, 1);
	w_fixed32(&f, 3, 0x637037d6);
	w_bytes(w, 7, f.b, f.n);
}
static int decode_one(const struct w *chunk, struct kelp_filer_chunk *out)
{
	struct w m = {.n = 0};
	w_bytes(&m, 1, chunk->b, chunk->n);
	struct kelp_filer_chunk *c;
	uint32_t n;
	int rc = kelp_chunk_manifest_decode(m.b, m.n, &c, &n);
	if (rc == 0) {
		assert_int_equal(n, 1);
		*out = c[0];
		free(c);
	}
	return rc;
}

static void test_fields(void **state)
{
	struct kelp_filer_chunk c;
	struct w ch = {.n = 0};
	uint8_t key[32];
	memset(key, 0xab, sizeof(key));
	w_fid(&ch, 3);
	w_key(&ch, 2, 0);
	w_varint(&ch, 4096); /* offset */
	w_key(&ch, 3, 0);
	w_varint(&ch, 100); /* size */
	w_key(&ch, 4, 0);
	w_varint(&ch, (uint64_t)-5); /* modified_ts_ns: a negative int64 is 10 bytes */
	w_bytes(&ch, 5, "etag", 4);  /* e_tag: skipped */
	w_bytes(&ch, 9, key, 32);
	w_key(&ch, 10, 0);
	w_varint(&ch, 1);
	w_key(&ch, 11, 0);
	w_varint(&ch, 1);
	w_key(&ch, 99, 1); /* unknown fixed64 */
	memset(ch.b + ch.n, 0, 8);
	ch.n += 8;
	w_key(&ch, 3, 2); /* size with the wrong wire type: skipped as unknown */
	w_varint(&ch, 1);
	ch.b[ch.n++] = 'x';
	assert_int_equal(decode_one(&ch, &c), 0);
	assert_int_equal(c.fid.volume_id, 3);
	assert_int_equal(c.fid.key, 1);
	assert_int_equal(c.fid.cookie, 0x637037d6);
	assert_int_equal(c.offset, 4096);
	assert_int_equal(c.size, 100);
	assert_int_equal(c.modified_ts_ns, -5);
	assert_int_equal(c.cipher_key_len, 32);
	assert_memory_equal(c.cipher_key, key, 32);
	assert_true(c.is_compressed);
	assert_true(c.is_chunk_manifest);

	/* the fid as a string only; the string and message agreeing */
	struct w s = {.n = 0};
	w_bytes(&s, 1, "3,01637037d6", 12);
	assert_int_equal(decode_one(&s, &c), 0);
	assert_int_equal(c.fid.cookie, 0x637037d6);
	w_fid(&s, 3);
	assert_int_equal(decode_one(&s, &c), 0);

	/* empty manifest */
	struct kelp_filer_chunk *out = (void *)1;
	uint32_t n = 7;
	assert_int_equal(kelp_chunk_manifest_decode("", 0, &out, &n), 0);
	assert_null(out);
	assert_int_equal(n, 0);
}

static void test_errors(void **state)
{
	struct kelp_filer_chunk c;
	struct w x;

	x = (struct w){.n = 0}; /* no fid */
	w_key(&x, 3, 0);
	w_varint(&x, 1);
	assert_int_equal(decode_one(&x, &c), -EBADMSG);

	x = (struct w){.n = 0}; /* string and message disagree */
	w_bytes(&x, 1, "3,01637037d6", 12);
	w_fid(&x, 4);
	assert_int_equal(decode_one(&x, &c), -EBADMSG);

	x = (struct w){.n = 0}; /* a file_id that is not one */
	w_bytes(&x, 1, "nope", 4);
	assert_int_equal(decode_one(&x, &c), -EBADMSG);

	uint8_t key[33] = {0};
	x = (struct w){.n = 0}; /* 33-byte key, and a 20-byte one */
	w_fid(&x, 3);
	w_bytes(&x, 9, key, 33);
	assert_int_equal(decode_one(&x, &c), -EBADMSG);
	x = (struct w){.n = 0};
	w_fid(&x, 3);
	w_bytes(&x, 9, key, 20);
	assert_int_equal(decode_one(&x, &c), -EBADMSG);

	x = (struct w){.n = 0}; /* negative offset */
	w_fid(&x, 3);
	w_key(&x, 2, 0);
	w_varint(&x, (uint64_t)-1);
	assert_int_equal(decode_one(&x, &c), -EBADMSG);

	x = (struct w){.n = 0}; /* a group (wire type 3) */
	w_fid(&x, 3);
	w_key(&x, 20, 3);
	assert_int_equal(decode_one(&x, &c), -EBADMSG);

	x = (struct w){.n = 0}; /* field number 0 */
	w_fid(&x, 3);
	w_key(&x, 0, 0);
	w_varint(&x, 1);
	assert_int_equal(decode_one(&x, &c), -EBADMSG);

	/* top level: a varint longer than 10 bytes, an 11th byte, a length past the end */
	struct kelp_filer_chunk *out;
	uint32_t n;
	static const uint8_t long_varint[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
					      0xff, 0xff, 0xff, 0xff, 0x02};
	assert_int_equal(kelp_chunk_manifest_decode(long_varint, sizeof(long_varint), &out, &n),
			 -EBADMSG);
	static const uint8_t past_end[] = {0x0a, 0x05, 0x01};
	assert_int_equal(kelp_chunk_manifest_decode(past_end, sizeof(past_end), &out, &n),
			 -EBADMSG);
	static const uint8_t unknown_only[] = {0x10, 0x01, 0x1d, 1, 2, 3, 4}; /* fields 2 and 3 */
	assert_int_equal(kelp_chunk_manifest_decode(unknown_only, sizeof(unknown_only), &out, &n),
			 0);
	assert_int_equal(n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_manifest),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
