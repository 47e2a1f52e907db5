/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelp_abi.h - the shared-memory ABI between libkelp and kelpd: the session segment, its two rings,
 * the 64-byte submission entry and the handshake messages on the Unix socket.
 * Not for applications (they include kelp.h); shm/ABI.md explains the layout in prose.
 *
 * A session segment is one memfd, created by kelpd, mapped MAP_SHARED by both sides:
 *
 *   0                 struct kelp_seg_hdr          (4 KiB: identity, geometry, session state)
 *   sq_off            struct kelp_ring_ctl + sq_entries x struct kelp_sqe   (client -> kelpd)
 *   cq_off            struct kelp_ring_ctl + cq_entries x struct kelp_cqe   (kelpd -> client)
 *   arena_off         arena_size bytes of buffer space (4 KiB or 2 MiB aligned)
 *
 * Every offset and size is in the header; both sides compute them with kelp_seg_layout() and the
 * client refuses a header that disagrees. Integers are host byte order (the segment never leaves
 * the host).
 *
 * Trust: kelpd trusts nothing the client can write. It copies each SQE before validating it, keeps
 * the indices it writes (the SQ head, the CQ tail) privately and never reads them back, and checks
 * every index it reads from the segment: an SQ tail outside [SQ head, SQ head + sq_entries] or a
 * CQ head outside [CQ tail - cq_entries, CQ tail] (mod 2^32) makes kelp_ring.h return -EPROTO and
 * the session BROKEN. It reads them only when its cached copies show no entries (SQ tail) or too
 * little room (CQ head), so a bad value is caught when it matters, not at once.
 */
#ifndef KELP_ABI_H
#define KELP_ABI_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "kelp.h"

#define KELP_SEG_MAGIC	 0x31474553504c454bull /* "KELPSEG1" read as little-endian bytes */
#define KELP_ABI_VERSION 1u
/* Additions within version 1 that a client may test for (kelp_seg_hdr.abi_minor): 1 = the path
 * opcodes (KELP_OP_PATH_*). kelpds before them write 0 there and answer -EINVAL to those opcodes.
 */
#define KELP_ABI_MINOR 1u

#define KELP_CACHE_LINE 64

/* ---- rings ----------------------------------------------------------------------------------- */

/*
 * The shared part of one single-producer single-consumer ring, laid out like DPDK's struct
 * rte_ring: the producer's index on its own cache line, an empty guard line (against adjacent-line
 * prefetch), the consumer's index and flags on theirs, another guard line. Slots follow at
 * offset sizeof(struct kelp_ring_ctl).
 *
 * Indices are free-running u32 counters: tail = entries ever produced, head = entries ever
 * consumed. tail - head (mod 2^32) is the fill level, 0..entries; slot of index i is i &
 * (entries-1) (entries is a power of two). Full is tail - head == entries, empty tail == head;
 * wraparound of the u32 needs no special case.
 *
 * Each side keeps its own index and a cached copy of the peer's in private memory (struct kelp_ring
 * in kelp_ring.h), never in the segment: the segment holds only the published values.
 */
struct kelp_ring_ctl {
	/* producer line: written by the producer with release, read by the consumer with acquire */
	_Alignas(KELP_CACHE_LINE) uint32_t tail;
	_Alignas(KELP_CACHE_LINE) uint8_t guard0[KELP_CACHE_LINE];
	/* consumer line: head written by the consumer with release, read by the producer with
	 * acquire; head = entries consumed, advanced only past slots already copied out, never
	 * beyond tail */
	_Alignas(KELP_CACHE_LINE) uint32_t head;
	/* sleep flags, on the line the consumer writes: on the SQ KELP_SQ_NEED_WAKEUP, set and
	 * cleared by kelpd only (atomic OR / AND); on the CQ KELP_CQ_WANT_WAKE, set by the client,
	 * cleared by kelpd (atomic AND) when it wakes the client (shm/ABI.md 5) */
	uint32_t flags;
	_Alignas(KELP_CACHE_LINE) uint8_t guard1[KELP_CACHE_LINE];
};
static_assert(sizeof(struct kelp_ring_ctl) == 4 * KELP_CACHE_LINE, "ring ctl is 4 cache lines");
static_assert(offsetof(struct kelp_ring_ctl, tail) == 0, "tail on line 0");
static_assert(offsetof(struct kelp_ring_ctl, head) == 2 * KELP_CACHE_LINE, "head on line 2");
static_assert(offsetof(struct kelp_ring_ctl, flags) == 2 * KELP_CACHE_LINE + 4,
	      "flags beside head");

/* SQ flags (written by kelpd): the lcore is parked; the client must write 1 to the session's
 * doorbell eventfd (the welcome's second fd) after publishing new entries. */
#define KELP_SQ_NEED_WAKEUP 0x1u
/* CQ flags (set by the client): the client is about to sleep with FUTEX_WAIT on the CQ tail;
 * the lcore, after its next CQ publish, clears the flag and does FUTEX_WAKE. */
#define KELP_CQ_WANT_WAKE 0x1u

/* ---- submission entry --------------------------------------------------------------------------
 */

enum kelp_opcode {
	KELP_OP_NOP = 0,
	KELP_OP_READ = 1,
	KELP_OP_STAT = 2,
	/* files by path (abi_minor >= 1): the path's bytes lie in the arena (path_off, path_len) */
	KELP_OP_PATH_STAT = 3,	   /* struct kelp_path_stat into the buffer */
	KELP_OP_PATH_LIST = 4,	   /* struct kelp_dirent entries into the buffer */
	KELP_OP_PATH_READ = 5,	   /* bytes of the file into the buffer */
	KELP_OP_PATH_READLINK = 6, /* a symlink's target into the buffer */
};

/* Whether @op is one of the path opcodes (their completions carry KELP_CQE_F_PATH). */
static inline int kelp_op_is_path(uint8_t op)
{
	return op >= KELP_OP_PATH_STAT && op <= KELP_OP_PATH_READLINK;
}

/*
 * One request, 64 bytes (one cache line). Fields the opcode does not use must be zero, as must
 * reserved and flags other than the defined ones (so later versions can give them meaning);
 * kelpd answers -EINVAL otherwise.
 */
struct kelp_sqe {
	uint8_t opcode;	    /* enum kelp_opcode */
	uint8_t flags;	    /* KELP_SQE_F_* (kelp.h): READ, STAT; 0 otherwise */
	uint16_t reserved0; /* 0 */
	union {
		uint32_t volume_id; /* READ, STAT */
		uint32_t path_len;  /* PATH_*: bytes of the path, 1..KELP_PATH_MAX, no NUL */
	};
	union {
		uint64_t key;	   /* READ, STAT */
		uint64_t path_off; /* PATH_*: where the path's bytes are, relative to the arena */
	};
	union {
		uint32_t cookie;    /* READ, STAT */
		uint32_t after_len; /* PATH_LIST: bytes of the "after" name, right after the path's
				     * bytes, 0..KELP_NAME_MAX; other PATH_*: 0 */
	};
	uint32_t length;  /* READ, PATH_*: bytes of the buffer, 1..max_io (PATH_STAT: exactly
			   * sizeof(struct kelp_path_stat); PATH_LIST: at least one kelp_dirent) */
	uint64_t offset;  /* READ: offset in the needle data; PATH_READ: in the file; else 0 */
	uint64_t buf_off; /* READ: buffer offset in the arena; [buf_off, buf_off + length) inside it
			   */
	uint64_t user_data; /* returned in the CQE */
	uint64_t reserved[2];
};
static_assert(sizeof(struct kelp_sqe) == 64, "SQE is one cache line");
static_assert(offsetof(struct kelp_sqe, volume_id) == 4, "SQE layout");
static_assert(offsetof(struct kelp_sqe, key) == 8, "SQE layout");
static_assert(offsetof(struct kelp_sqe, cookie) == 16, "SQE layout");
static_assert(offsetof(struct kelp_sqe, length) == 20, "SQE layout");
static_assert(offsetof(struct kelp_sqe, offset) == 24, "SQE layout");
static_assert(offsetof(struct kelp_sqe, buf_off) == 32, "SQE layout");
static_assert(offsetof(struct kelp_sqe, user_data) == 40, "SQE layout");
static_assert(offsetof(struct kelp_sqe, reserved) == 48, "SQE layout");
static_assert(offsetof(struct kelp_sqe, path_len) == 4, "SQE layout");
static_assert(offsetof(struct kelp_sqe, path_off) == 8, "SQE layout");
static_assert(offsetof(struct kelp_sqe, after_len) == 16, "SQE layout");
static_assert(sizeof(struct kelp_path_stat) == 48, "path stat layout (ABI.md 3)");
static_assert(sizeof(struct kelp_dirent) == 304, "dirent layout (ABI.md 3)");
static_assert(offsetof(struct kelp_dirent, name) == 48, "dirent layout");

/* The completion entry is struct kelp_cqe from kelp.h, written verbatim into the CQ. */
static_assert(sizeof(struct kelp_cqe) == 32, "CQE is 32 bytes");
static_assert(offsetof(struct kelp_cqe, result) == 8, "CQE layout");
static_assert(offsetof(struct kelp_cqe, flags) == 12, "CQE layout");
static_assert(offsetof(struct kelp_cqe, size) == 16, "CQE layout");
static_assert(offsetof(struct kelp_cqe, crc) == 24, "CQE layout");
static_assert(offsetof(struct kelp_cqe, needle_flags) == 28, "CQE layout");

/* ---- segment header ------------------------------------------------------------------------- */

/* Session state in kelp_seg_hdr.state, written by kelpd only. */
enum kelp_seg_state {
	KELP_SEG_LIVE = 1,     /* serving */
	KELP_SEG_STOPPING = 2, /* kelpd is shutting down: no more completions will come */
	KELP_SEG_BROKEN = 3,   /* kelpd stopped serving this session; seg_error says why */
};

#define KELP_SEG_HDR_SIZE 4096u

struct kelp_seg_hdr {
	/* identity and geometry: written by kelpd before the fd is passed, never changed after */
	uint64_t magic;	      /* KELP_SEG_MAGIC */
	uint32_t abi_version; /* KELP_ABI_VERSION */
	uint32_t hdr_size;    /* KELP_SEG_HDR_SIZE */
	uint64_t seg_size;    /* bytes of the memfd */
	uint64_t session_id;
	uint32_t sq_off, sq_entries;
	uint32_t cq_off, cq_entries;
	uint64_t arena_off, arena_size;
	uint32_t max_io;    /* largest READ length */
	uint32_t lcore_id;  /* serving lcore */
	uint32_t hugepages; /* 1 when the memfd is MFD_HUGETLB */
	uint32_t abi_minor; /* KELP_ABI_MINOR of kelpd (0: a kelpd without the path opcodes) */
	/* state line: written by kelpd (release), read by the client (acquire) */
	_Alignas(KELP_CACHE_LINE) uint32_t state; /* enum kelp_seg_state */
	int32_t seg_error; /* -errno when BROKEN: -EPROTO ring indices, -EFAULT a page punched out
			    */
};
static_assert(sizeof(struct kelp_seg_hdr) <= KELP_SEG_HDR_SIZE, "header fits its page");
static_assert(offsetof(struct kelp_seg_hdr, sq_off) == 32, "header layout");
static_assert(offsetof(struct kelp_seg_hdr, arena_off) == 48, "header layout");
static_assert(offsetof(struct kelp_seg_hdr, state) == 128, "state on its own line");

/* Where everything goes in a segment; computed identically by kelpd and libkelp. */
struct kelp_seg_layout {
	uint32_t sq_off, sq_entries;
	uint32_t cq_off, cq_entries;
	uint64_t arena_off, arena_size;
	uint64_t seg_size;
};

/*
 * kelp_seg_layout - lay out a segment with @sq_entries submission slots (power of two, 2..65536),
 * twice as many completion slots, and at least @arena_size bytes of arena; @align (4096 or 2 MiB,
 * the page size of the memfd) aligns the arena and rounds the segment size. Any thread.
 * Return: 0; -EINVAL on a bad argument.
 */
int kelp_seg_layout(uint32_t sq_entries, uint64_t arena_size, uint64_t align,
		    struct kelp_seg_layout *out);

/*
 * kelp_seg_hdr_check - check a header received from kelpd against kelp_seg_layout() and @seg_size
 * (the memfd's size). Client side, before any other access to the segment.
 * Return: 0; -EPROTONOSUPPORT wrong magic or ABI version; -EPROTO inconsistent geometry.
 */
int kelp_seg_hdr_check(const struct kelp_seg_hdr *h, uint64_t seg_size);

/* ---- handshake on the Unix socket ---------------------------------------------------------- */

/*
 * Connection kinds. The first message on a new connection is a struct kelp_hello; kelpd answers a
 * SESSION hello with a struct kelp_welcome carrying two fds (SCM_RIGHTS), in this order: the
 * segment memfd and the session's own doorbell eventfd. The connection then stays open, silent, for
 * the session's life: its close (exit, crash, kelp_close) ends the session. An ADMIN hello switches
 * the connection to the admin protocol of kelpctl (lcore/control/admin.h: one command line in, one
 * JSON line out).
 */
enum kelp_conn_kind {
	KELP_CONN_SESSION = 1,
	KELP_CONN_ADMIN = 2,
};

#define KELP_HELLO_MAGIC 0x4b454c50u /* "KELP" */

struct kelp_hello {
	uint32_t magic;	       /* KELP_HELLO_MAGIC */
	uint32_t abi_version;  /* KELP_ABI_VERSION */
	uint32_t kind;	       /* enum kelp_conn_kind */
	uint32_t sq_entries;   /* SESSION: wanted ring size, 0 = kelpd's default */
	int32_t numa_node;     /* SESSION: client's NUMA node (hint), -1 unknown */
	uint32_t reserved[11]; /* 0; kelpd refuses anything else with -EINVAL */
};
static_assert(sizeof(struct kelp_hello) == 64, "hello is 64 bytes");

struct kelp_welcome {
	uint32_t magic;	      /* KELP_HELLO_MAGIC */
	uint32_t abi_version; /* kelpd's KELP_ABI_VERSION */
	int32_t status; /* 0, or -errno (then no fds follow): -EPROTONOSUPPORT, -EINVAL, -EACCES,
			 * -EUSERS, or why the segment could not be made (ABI.md 1) */
	uint32_t reserved0;
	uint64_t session_id;
	uint64_t seg_size;
	uint32_t reserved[8];
};
static_assert(sizeof(struct kelp_welcome) == 64, "welcome is 64 bytes");

#endif
