/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SeaweedFS filer's JSON, as pure functions: one entry (`GET /path?metadata=true`) and one page
 * of a directory listing (`GET /dir/?limit=N&lastFileName=X` with `Accept: application/json`).
 * Verified against weed 4.48 (captures in test/fixtures/filer/) and weed's source
 * (weed/filer/entry.go, weed/pb/filer.proto, weed/server/filer_server_handlers_read*.go); the facts
 * kelp relies on:
 *
 * Entry (Go filer.Entry through encoding/json; member names exactly as below):
 *   "FullPath"      "/dir/name" (UTF-8, unescaped)
 *   "Mtime"         RFC 3339 with nanoseconds and the filer's zone:
 * "2026-12-03T12:33:06.030573428Z",
 *                   "...+02:00" on a filer in another zone; "0001-01-01T00:00:00Z" = unset
 *   "Crtime"        the same, whole seconds
 *   "Mode"          Go os.FileMode: permission bits | 1<<31 directory | 1<<27 symlink | ... (not
 *                   st_mode; kelp_filer_mode_to_st() converts)
 *   "Uid", "Gid"    numbers
 *   "SymlinkTarget" "" unless a symlink
 *   "FileSize"      the size the filer's GET serves (Content-Length); chunks may end before it
 *                   (a hole up to the end) or after it (cut off)
 *   "Inode"         u64, may exceed 2^63 (jansson cannot read such an integer: the parser quotes
 *                   big integers first, see filer_entry.c)
 *   "Content"       base64 (standard, padded) inline data of a small file, or null
 *   "chunks"        absent when none; each one (filer_pb.FileChunk through encoding/json, so zero
 *                   values are omitted): "file_id" "3,01637037d6" and/or "fid" {volume_id,
 *                   file_key, cookie}; "offset" (absent = 0); "size" (bytes of the plain data);
 *                   "modified_ts_ns"; "e_tag"; "cipher_key" (base64 of 32 bytes, AES-256-GCM, when
 *                   the filer ran with -encryptVolumeData); "is_compressed" (the plain data is
 *                   gzip); "is_chunk_manifest" (the chunk holds a FileChunkManifest listing more
 *                   chunks, proto/chunk_manifest.h).
 *   Other members (Md5, Mime, Extended, Remote, ...) are ignored.
 * Listing page: {"Path", "Entries": [entry...] or null, "Limit", "LastFileName",
 *   "ShouldDisplayLoadMore", "EmptyFolder", ...}. Entries come in byte order of their names, each
 *   a full entry WITH its chunks (a page fills the metadata of that many files). The next page:
 *   lastFileName=<LastFileName> (names strictly after it). ShouldDisplayLoadMore is true only when
 *   more entries follow (the filer asks its store for limit + 1: weed/filer/filer_search.go).
 *   Only `Accept: application/json` exactly gets JSON (else HTML); "Path" is "" for the root.
 * HTTP facts around them (weed 4.48, checked): a missing path answers 404 with an empty body, to
 *   ?metadata=true and to a listing alike; `GET /dir/file/` (a FILE with a trailing slash) serves
 *   the file's bytes, not a listing (the handler trims the slash): know the type before listing;
 *   `?metadata=true` on a directory gives the directory's own entry.
 *
 * Bounds: a parse rejects with -EBADMSG (never crashes on any input) a document that is not this
 * JSON, more than KELP_FILER_CHUNKS_MAX chunks in an entry, more than KELP_FILER_LIST_MAX entries
 * in a page, a chunk whose offset + size overflows int64 or whose size exceeds
 * KELP_FILER_CHUNK_SIZE_MAX, a fid that does not parse, a cipher key that is not 16, 24 or 32
 * bytes, inline content longer than KELP_FILER_CONTENT_MAX; -ENAMETOOLONG a path longer than
 * KELP_FILER_PATH_MAX or a listed name longer than KELP_FILER_NAME_MAX.
 *
 * Who may call: any thread; the parsers allocate (malloc) and take no lock: control thread / tools,
 * never an lcore's loop.
 */
#ifndef KELP_PROTO_FILER_ENTRY_H
#define KELP_PROTO_FILER_ENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/fid.h"

#define KELP_FILER_PATH_MAX	  4096	      /* bytes of a FullPath (= KELP_PATH_MAX) */
#define KELP_FILER_NAME_MAX	  255	      /* bytes of one listed name (= KELP_NAME_MAX) */
#define KELP_FILER_CHUNKS_MAX	  100000      /* chunks of one entry or one manifest chunk */
#define KELP_FILER_LIST_MAX	  100000      /* entries in one listing page (weed -dirListLimit) */
#define KELP_FILER_CONTENT_MAX	  (64u << 20) /* inline content */
#define KELP_FILER_CHUNK_SIZE_MAX (1ull << 40) /* one chunk's plain size: absurd beyond */
#define KELP_FILER_KEY_MAX	  32	       /* cipher key bytes (AES-256) */

/* Go os.FileMode bits (io/fs): what "Mode" carries above the permission bits. */
#define KELP_GO_MODE_DIR	(1u << 31)
#define KELP_GO_MODE_SYMLINK	(1u << 27)
#define KELP_GO_MODE_DEVICE	(1u << 26)
#define KELP_GO_MODE_NAMEDPIPE	(1u << 25)
#define KELP_GO_MODE_SOCKET	(1u << 24)
#define KELP_GO_MODE_SETUID	(1u << 23)
#define KELP_GO_MODE_SETGID	(1u << 22)
#define KELP_GO_MODE_CHARDEVICE (1u << 21)
#define KELP_GO_MODE_STICKY	(1u << 20)

/* One chunk of a file (filer_pb.FileChunk), from the entry JSON or a manifest. */
struct kelp_filer_chunk {
	struct kelp_fid fid;
	int64_t offset;		/* where the chunk's plain data starts in the file (>= 0) */
	uint64_t size;		/* bytes of plain data (decrypted, decompressed) */
	int64_t modified_ts_ns; /* newer wins where chunks overlap (proto/chunk_plan.h) */
	uint8_t cipher_key[KELP_FILER_KEY_MAX];
	uint8_t cipher_key_len; /* 0: not encrypted; else 16/24/32 (weed writes 32) */
	bool is_compressed;	/* the plain data was gzip-compressed before encryption / as
				 * the needle stores it (core/cipher.h says how to undo it) */
	bool is_chunk_manifest; /* the chunk's data is a FileChunkManifest */
};

/* The attributes of kelp's path API (kelp_path_stat in shm/kelp.h; proto/ cannot include it). */
struct kelp_filer_attr {
	uint64_t size;	   /* FileSize (0 for a directory) */
	int64_t mtime_ns;  /* Mtime, ns since the epoch (0 when unset) */
	int64_t crtime_ns; /* Crtime */
	uint64_t inode; /* Inode; when the filer sends none (0), kelp_filer_path_inode(FullPath) */
	uint32_t mode;	/* st_mode: S_IFDIR / S_IFLNK / S_IFREG ... | permission, suid, sgid,
			 * sticky bits, from Go's Mode (kelp_filer_mode_to_st) */
	uint32_t uid, gid;
};

/* One parsed entry. Every pointer is owned by the entry (kelp_filer_entry_free). */
struct kelp_filer_entry {
	struct kelp_filer_attr attr;
	char *path;	      /* FullPath, NUL-terminated */
	const char *name;     /* its last component, inside @path ("" for "/") */
	char *symlink_target; /* NULL unless a non-empty SymlinkTarget */
	uint8_t *content;     /* inline data (NULL when none) */
	size_t content_len;
	struct kelp_filer_chunk *chunks; /* in the order the filer lists them; may include
					  * manifest chunks (to be resolved by the caller) */
	uint32_t nchunks;
};

/* One listing page. */
struct kelp_filer_listing {
	struct kelp_filer_entry *ents; /* count entries, in the filer's (byte) order of names */
	uint32_t count;
	bool more;	 /* ShouldDisplayLoadMore: ask again from last_name */
	char *last_name; /* LastFileName ("" when absent), owned */
};

/*
 * kelp_filer_entry_parse - parse the JSON of one entry (@len bytes at @json, need not be
 * NUL-terminated) into @out, which the caller frees with kelp_filer_entry_free() after a success
 * (on failure nothing is left to free). Any thread; allocates.
 * Return: 0; -EBADMSG not the JSON above or out of bounds (see the top of this file);
 * -ENAMETOOLONG the path is longer than KELP_FILER_PATH_MAX; -ENOMEM.
 */
int kelp_filer_entry_parse(const char *json, size_t len, struct kelp_filer_entry *out);

/* kelp_filer_entry_free - free what a parse put into @e (NULL or a zeroed entry: no-op). */
void kelp_filer_entry_free(struct kelp_filer_entry *e);

/*
 * kelp_filer_listing_parse - parse one listing page (@len bytes at @json) into @out; free it with
 * kelp_filer_listing_free(). Each entry is parsed as by kelp_filer_entry_parse(), and a name is at
 * most KELP_FILER_NAME_MAX bytes. One pass without a DOM (kelpd lists directories of thousands of
 * files): the same page as kelp_filer_listing_parse_dom wherever that accepts the document; it
 * also accepts a member name repeated where kelp reads neither (jansson rejects any repeat) and a
 * skipped number beyond a double's range. Any thread; allocates.
 * Return: 0 (count may be 0); -EBADMSG; -ENAMETOOLONG (one name or path too long: the page is
 * rejected as a whole); -ENOMEM.
 */
int kelp_filer_listing_parse(const char *json, size_t len, struct kelp_filer_listing *out);

/*
 * kelp_filer_listing_parse_dom - the same through jansson's DOM (every value a node, big integers
 * quoted first): the reference kelp_filer_listing_parse is checked against (test_proto_filer_entry,
 * fuzz_filer_entry: where both accept a document, they give the same page). About 10x slower: not
 * for kelpd. Any thread; allocates. Return: as kelp_filer_listing_parse.
 */
int kelp_filer_listing_parse_dom(const char *json, size_t len, struct kelp_filer_listing *out);

/* kelp_filer_listing_free - free a parsed page (NULL or zeroed: no-op). */
void kelp_filer_listing_free(struct kelp_filer_listing *l);

/*
 * kelp_filer_inline_read - whether a read of [@off, @off + @len) of file @e comes from its inline
 * Content, decided as the filer's GET does (weed/server/filer_server_handlers_read.go): the range
 * is first cut at FileSize, then served from Content when it lies wholly inside Content; else it
 * is read from the chunks (proto/chunk_plan.h), even when it starts inside Content. Any thread.
 * Return: the bytes the read gives (0 at or after the end of the file) with *@data pointing at
 * them inside e->content (NULL when 0); -ENODATA: read the chunks.
 */
int64_t kelp_filer_inline_read(const struct kelp_filer_entry *e, uint64_t off, uint32_t len,
			       const uint8_t **data);

/*
 * kelp_filer_chunk_check - whether @c is within the bounds above (offset >= 0, size <=
 * KELP_FILER_CHUNK_SIZE_MAX, offset + size fits int64, cipher key length 0/16/24/32); the JSON and
 * the manifest decoders apply it to every chunk. Any thread.
 * Return: 0 or -EBADMSG.
 */
int kelp_filer_chunk_check(const struct kelp_filer_chunk *c);

/*
 * kelp_filer_mode_to_st - st_mode of a Go os.FileMode: the type (directory, symlink, device / char
 * device, named pipe, socket, else regular file), permission bits, and setuid/setgid/sticky moved
 * to their POSIX places. Any thread.
 */
uint32_t kelp_filer_mode_to_st(uint32_t go_mode);

/*
 * kelp_filer_path_inode - the inode kelp gives a path whose entry has none: 64-bit FNV-1a of the
 * path's bytes (never 0: 0 maps to 1). Stable across runs and machines. Any thread.
 */
uint64_t kelp_filer_path_inode(const char *path, size_t len);

/*
 * kelp_filer_time_parse - an RFC 3339 time as Go's encoding/json writes time.Time
 * ("2006-01-02T15:04:05.999999999Z07:00": optional fraction of 1..9 digits, "Z" or +hh:mm / -hh:mm)
 * into ns since the epoch. Go's zero time means "unset" and gives 0: it prints as year 0001 in any
 * zone ("0001-01-01T05:53:28+05:53" from a filer in Asia/Kolkata: Go's zone has a seconds offset
 * that RFC 3339 drops), so every time in year 1 or before gives 0. Other times outside int64 ns
 * (before 1677, after 2262) are clamped to INT64_MIN / INT64_MAX. Any thread.
 * Return: 0 with *@ns set; -EBADMSG not such a time.
 */
int kelp_filer_time_parse(const char *s, size_t len, int64_t *ns);

#endif
