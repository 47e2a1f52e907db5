/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kelp RDMA protocol between a reader kelpd and an export kelpd: byte layouts, encode, parse.
 * Pure functions: no I/O, no allocation; any thread may call them.
 *
 * The exchange (version 2; a version 1 peer is still served, see "Versions" below):
 *  1. The reader opens TCP to the export's `[rdma] listen` address (out-of-band channel) and sends
 * a HELLO: protocol version, the credits it asks for, its RC QP number, first PSN, LID, MTU and
 * GID, and who it is: a reader id (stable across restarts of that reader kelpd; 0 = anonymous), an
 *     incarnation (new at each start) and a lane (one connection per reader lcore).
 *     The export then resets its older connections of the same reader (same GID and reader id)
 *     that this one replaces: the same lane, or another incarnation (the reader restarted). An RC
 *     QP whose peer vanished silently would otherwise stay up, unnoticed, until the export stops.
 *  2. The export checks the version, creates an RC QP for this reader, posts one receive per
 * granted credit, moves the QP to RTS and answers HELLO (kind ACK) with its own QP number, PSN,
 * LID, MTU, GID, the credits granted (<= asked) and a status (0, or VERSION when it cannot speak
 * the reader's version). The TCP connection is then closed; from here on everything is on the QP.
 *  3. The reader moves its QP to RTS. It may now have at most `credits` requests in flight.
 *  4. For each read the reader SENDs a REQUEST: opcode (READ or STAT), request id, file id (volume,
 *     key, cookie), offset and length within the needle's data, and where to put the bytes: the
 *     address and rkey of a buffer it registered for remote write (READ only).
 *  5. The export re-posts the receive the request used, looks the needle up, RDMA-WRITEs
 *     n = min(length, size - offset) bytes of needle data to (addr, rkey), then SENDs a REPLY:
 *     request id, status, n, the needle's data size, its stored CRC and flags. On one RC QP the
 *     reply cannot overtake the write, so when the reader sees the reply the bytes are in place.
 *     Inline replies (version 2): when 0 < n <= the inline maximum agreed in the handshake, the
 *     export sends no WRITE: the n bytes follow the REPLY in the same SEND (flag INLINE, message
 *     size 32 + n) and the reader copies them to its buffer itself. One work request and one
 *     message instead of two (a WRITE and a SEND); as many packets for n + 32 bytes as the path
 *     MTU needs (a 4 KiB read at MTU 1024: 5, as 4 WRITE packets + 1 reply), fewer for small n.
 *     The export may write the n bytes as several RDMA WRITEs at increasing offsets of the
 *     buffer (e.g. one per bounce buffer it copies them through); the reply follows the last.
 *     An export that will not serve n bytes in one request answers TOO_LARGE (no bytes).
 *  6. The reply returns the request's credit. Replies may come in any order; the request id says
 *     which request a reply answers.
 *
 * Versions. 1: no inline replies (bytes 22-23 of HELLO and 6 of REPLY reserved, zero).
 * 2: the HELLO carries the inline maximum: a reader's says how many data bytes its receive buffers
 * hold after a REPLY (0: send none inline), the export's ACK how many it will send inline (at most
 * the reader's). An export answers a HELLO of a version it speaks with an ACK of that version; one
 * it does not speak with status VERSION and its own version: a version 2 reader then says so once
 * and hello again with version 1 (an old export: replies by WRITE). Version 1 readers are served as
 * before.
 *
 * One-sided reads (version 1 too; an export that does not offer them answers MAP NO_VOLUME):
 *  7. The reader asks for a volume's VOLMAP with a MAP request (key, cookie, offset 0; the buffer
 *     as for a READ, >= 64 bytes): the export writes the 64-byte VOLMAP below into it, replies OK
 *     with n = 64. It names the memory region through which the volume's .dat may be read with
 *     RDMA READ (rkey, address, length: whole pages the volume server no longer writes into), a
 *     generation (new whenever that region changed: grown, or a vacuum), a file id (changes only
 *     when the .dat/.idx pair was replaced, i.e. vacuum), the .idx length and row layout.
 *     While the export is still registering a volume it has never described, it answers BUSY:
 *     the reader asks again a little later (a reader that does not know this treats BUSY like
 *     NO_VOLUME: two-sided for a while). A volume already described is answered with its
 *     current VOLMAP while its next registration (growth, vacuum) is under way.
 *  8. The reader fetches .idx rows it has not seen with IDX requests (offset, length in .idx),
 *     answered like READs; it keeps key -> (offset, size) itself. Same file id: only the tail.
 *  9. A read is one RDMA READ of the needle record at dat_addr + offset into the reader's memory;
 *     the reader checks key, cookie, size, data size, flags and (whole reads) the CRC itself and
 *     sends the READ request of step 4 instead when anything does not match. The export keeps
 *     the region of an older generation registered for a grace period after a newer one was
 *     published (rdma_export.h), so a reader whose VOLMAP is a little stale reads the old,
 *     self-consistent records rather than failing its connection with a remote access error.
 *
 * VOLMAP (64 bytes)
 *   0  u32 magic "KLPM" 0x4b4c504d            36  u32 file id (changes at vacuum)
 *   4  u32 volume id                          40  u64 .idx length in bytes
 *   8  u64 generation                         48  u8  .idx offset bytes (4 or 5)
 *  16  u64 address of .dat byte 0 (for READ)  49  u8  volume version (2 or 3)
 *  24  u64 readable .dat bytes from there      50  u8[14] reserved (0)
 *  32  u32 rkey
 *
 * Byte order: every integer is big-endian (network order), converted only by this file.
 *
 * HELLO (64 bytes)                          REQUEST (64 bytes)
 *   0  u32 magic "KLPH" 0x4b4c5048            0  u32 magic "KLPQ" 0x4b4c5051
 *   4  u16 version (1)                        4  u8  opcode (1 READ, 2 STAT)
 *   6  u8  kind (1 HELLO, 2 ACK)              5  u8  flags (0)
 *   7  u8  status (ACK: kelp_rdma_status)     6  u16 reserved (0)
 *   8  u16 credits                            8  u64 request id
 *  10  u8  mtu (enum ibv_mtu)                16  u32 volume id
 *  11  u8  reserved (0)                      20  u32 cookie
 *  12  u32 qp number (24 bits used)          24  u64 needle key
 *  16  u32 first PSN (24 bits used)          32  u64 offset in the needle's data
 *  20  u16 lid                               40  u32 length (READ: bytes wanted, <= buffer size)
 *  22  u16 inline maximum (v2; v1: 0)        44  u32 rkey of the reader's buffer
 *  24  u8[16] gid                            48  u64 address of the reader's buffer
 *  40  u64 reader id (HELLO; ACK: 0)         56  u64 reserved (0)
 *  48  u64 incarnation (HELLO; ACK: 0)
 *  56  u16 lane (HELLO; ACK: 0)
 *  58  u8[6] reserved (0)
 *
 * REPLY (32 bytes; with flag INLINE 32 + n: the n data bytes follow)
 *   0  u32 magic "KLPR" 0x4b4c5052
 *   4  u8  status (kelp_rdma_status)
 *   5  u8  needle flags (KELP_NEEDLE_FLAG_*)
 *   6  u8  reply flags (v2: KELP_RDMA_REPLY_INLINE; v1: 0)
 *   7  u8  reserved (0)
 *   8  u64 request id
 *  16  u32 bytes written (n)
 *  20  u32 needle data size
 *  24  u32 stored CRC of the needle data (as stored: raw or legacy transform)
 *  28  u32 reserved (0)
 */
#ifndef KELP_PROTO_RDMA_MSG_H
#define KELP_PROTO_RDMA_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KELP_RDMA_PROTO_VERSION	    2 /* spoken by this build */
#define KELP_RDMA_PROTO_VERSION_MIN 1 /* the oldest it still speaks */
/* The largest inline maximum a HELLO may carry (a receive buffer then holds 32 + this). */
#define KELP_RDMA_INLINE_LIMIT 16384
/* REPLY flags (byte 6). */
#define KELP_RDMA_REPLY_INLINE 0x01

#define KELP_RDMA_HELLO_SIZE   64
#define KELP_RDMA_REQUEST_SIZE 64
#define KELP_RDMA_REPLY_SIZE   32
/* Largest message on the QP without inline data: the size of every request buffer, and of a
 * reply buffer when no inline data is agreed. */
#define KELP_RDMA_MSG_MAX 64

#define KELP_RDMA_HELLO_MAGIC	0x4b4c5048u
#define KELP_RDMA_REQUEST_MAGIC 0x4b4c5051u
#define KELP_RDMA_REPLY_MAGIC	0x4b4c5052u
#define KELP_RDMA_VOLMAP_MAGIC	0x4b4c504du
#define KELP_RDMA_VOLMAP_SIZE	64

enum kelp_rdma_hello_kind {
	KELP_RDMA_HELLO = 1, /* reader -> export */
	KELP_RDMA_ACK = 2,   /* export -> reader */
};

enum kelp_rdma_opcode {
	KELP_RDMA_OP_READ = 1,
	KELP_RDMA_OP_STAT = 2,
	KELP_RDMA_OP_MAP = 3, /* one-sided reads: the VOLMAP of volume id (below) into the buffer */
	KELP_RDMA_OP_IDX = 4, /* one-sided reads: bytes [offset, offset + length) of the volume's
			       * .idx into the buffer (as a READ's bytes: n = what there is) */
};

/* Status on the wire. kelp_rdma_status_errno() maps them to the -errno kelp uses. */
enum kelp_rdma_status {
	KELP_RDMA_OK = 0,
	KELP_RDMA_NOT_FOUND = 1,   /* -ENOENT: no such needle (missing, deleted, cookie mismatch) */
	KELP_RDMA_NO_VOLUME = 2,   /* -EHOSTUNREACH: this export does not have the volume */
	KELP_RDMA_CORRUPT = 3,	   /* -EIO: the needle record is damaged */
	KELP_RDMA_BAD_REQUEST = 4, /* -EINVAL: offset past the end, malformed request */
	KELP_RDMA_ACCESS = 5,	   /* -EFAULT: the RDMA WRITE into the reader's buffer failed */
	KELP_RDMA_VERSION = 6,	   /* -EPROTONOSUPPORT: version not spoken (ACK only) */
	KELP_RDMA_BUSY = 7,	   /* -EBUSY: export cannot take this connection now (ACK), or
				    * a MAP's volume is being registered: ask again soon */
	KELP_RDMA_TOO_LARGE = 8,   /* -EFBIG: the piece asked for is larger than this export serves
				    * in one request (its configured maximum); read it another way */
	KELP_RDMA_STATUS_MAX = 8,
};

struct kelp_rdma_hello {
	uint16_t version;
	uint8_t kind;	/* enum kelp_rdma_hello_kind */
	uint8_t status; /* enum kelp_rdma_status; 0 in a HELLO */
	uint16_t credits;
	uint8_t mtu; /* enum ibv_mtu */
	uint32_t qpn;
	uint32_t psn;
	uint16_t lid;
	uint8_t gid[16];
	uint64_t
		reader_id; /* HELLO: the reader kelpd (stable across its restarts); 0 = anonymous */
	uint64_t incarnation; /* HELLO: this run of that reader (new at each start) */
	uint16_t lane;	      /* HELLO: which of its connections (its lcore) */
	uint16_t inline_max;  /* v2: HELLO: data bytes its receive buffers take after a REPLY;
			       * ACK: the most the export sends inline (<= the reader's); v1: 0 */
};

struct kelp_rdma_request {
	uint8_t opcode; /* enum kelp_rdma_opcode */
	uint64_t req_id;
	uint32_t volume_id;
	uint32_t cookie;
	uint64_t key;
	uint64_t offset;
	uint32_t length;
	uint32_t rkey;
	uint64_t addr;
};

struct kelp_rdma_reply {
	uint8_t status; /* enum kelp_rdma_status */
	uint8_t needle_flags;
	uint64_t req_id;
	uint32_t written;
	uint32_t data_size;
	uint32_t crc;
	bool inline_data; /* KELP_RDMA_REPLY_INLINE: the @written data bytes follow the REPLY */
};

/* What a MAP request's buffer receives (step 7). */
struct kelp_rdma_volmap {
	uint32_t volume_id;
	uint64_t generation;
	uint64_t dat_addr;
	uint64_t dat_len;
	uint32_t dat_rkey;
	uint32_t file_id;
	uint64_t idx_len;
	uint8_t offset_bytes;
	uint8_t version;
};

/* kelp_rdma_volmap_encode - 64 bytes into @buf. @return 64; -ENOSPC; -EINVAL offset bytes not 4/5
 * or version not 2/3. kelp_rdma_volmap_parse - the reverse, checked (the peer is not trusted):
 * @return 0; -EBADMSG size, magic or reserved bytes; -EINVAL a field out of range. */
int kelp_rdma_volmap_encode(const struct kelp_rdma_volmap *m, uint8_t *buf, size_t size);
int kelp_rdma_volmap_parse(const uint8_t *buf, size_t len, struct kelp_rdma_volmap *out);

/*
 * kelp_rdma_hello_encode / _request_encode / _reply_encode - write the message into @buf.
 * @return the message size, or -ENOSPC when @size is too small, -EINVAL when a field is out of
 * range (qpn/psn wider than 24 bits, unknown kind/opcode/status, inline maximum over
 * KELP_RDMA_INLINE_LIMIT). An inline REPLY's size is 32 + written: encode writes the 32-byte
 * header only; the caller puts the data at @buf + KELP_RDMA_REPLY_SIZE (@size must hold both).
 */
int kelp_rdma_hello_encode(const struct kelp_rdma_hello *m, uint8_t *buf, size_t size);
int kelp_rdma_request_encode(const struct kelp_rdma_request *m, uint8_t *buf, size_t size);
int kelp_rdma_reply_encode(const struct kelp_rdma_reply *m, uint8_t *buf, size_t size);

/*
 * kelp_rdma_hello_parse / _request_parse / _reply_parse - check and decode @len bytes at @buf.
 * The peer is not trusted: every field is checked, reserved bytes must be zero.
 * @return 0; -EBADMSG wrong size, magic, kind, opcode, status or non-zero reserved bytes;
 * -EINVAL a field out of range. (@out is only written on success.)
 * A HELLO with another version parses (the version is the caller's decision). A REPLY's @len
 * must be 32, or 32 + written with flag INLINE (the data then at @buf + KELP_RDMA_REPLY_SIZE).
 */
int kelp_rdma_hello_parse(const uint8_t *buf, size_t len, struct kelp_rdma_hello *out);
int kelp_rdma_request_parse(const uint8_t *buf, size_t len, struct kelp_rdma_request *out);
int kelp_rdma_reply_parse(const uint8_t *buf, size_t len, struct kelp_rdma_reply *out);

/* kelp_rdma_status_errno - 0 or the -errno for @status (-EPROTO for an unknown one). */
int kelp_rdma_status_errno(uint8_t status);
/* kelp_rdma_errno_status - the wire status for a kelp -errno (unknown errors map to CORRUPT). */
uint8_t kelp_rdma_errno_status(int neg_errno);
/* kelp_rdma_status_name - "ok", "not-found", ... for logs and kelpctl. */
const char *kelp_rdma_status_name(uint8_t status);

#endif
