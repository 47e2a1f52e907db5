/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kelp.h - libkelp, the client library of kelpd (the one public header).
 *
 * A process reads SeaweedFS needles through kelpd without a syscall per read:
 *
 *     struct kelp_opts o;
 *     kelp_opts_init(&o);
 *     o.socket_path = "/run/kelp/kelpd.sock";          (or o.config_path = "/etc/kelp/kelp.conf")
 *     struct kelp_session *s;
 *     int rc = kelp_connect(&o, &s);                    (one session per thread)
 *     void *buf = kelp_buf_alloc(s, 1 << 20);          (buffers live in the session's arena)
 *     struct kelp_fid fid;
 *     kelp_fid_parse("3,01637037d6", 12, &fid);
 *     struct kelp_cqe c;
 *     rc = kelp_read(s, &fid, 0, buf, 1 << 20, &c);    (c.result = bytes read, or -errno)
 *     ...
 *     kelp_close(s);
 *
 * Files by path (through a SeaweedFS filer, [filer] in kelpd's config): kelp_path_stat(),
 * kelp_path_list(), kelp_path_read(), kelp_path_readlink() and their kelp_queue_path_*() forms.
 *
 * Asynchronous use: kelp_queue_read() / kelp_queue_stat() / kelp_queue_nop() fill submission
 * entries, kelp_submit() publishes all queued entries at once (one release store), kelp_poll() /
 * kelp_wait() collect completions in any order, matched by the caller's user_data.
 *
 * Error convention (all calls): 0 or a count on success, a negative errno on failure. Completions
 * carry -errno in kelp_cqe.result. kelp_strerror() explains every code in kelp's terms.
 *
 * Threads: a struct kelp_session belongs to the thread that uses it; no call on one session may run
 * concurrently with another call on the same session. Different sessions are independent, so a
 * multi-threaded process opens one session per thread.
 *
 * Errors a session reports once kelpd is gone: -ECONNRESET (kelpd stopped or crashed; every pending
 * request is lost, reconnect with kelp_connect()), -EPROTO (kelpd closed the session because the
 * client broke the ring protocol), -EFAULT (kelpd closed the session because the process punched a
 * hole into the session's shared memory; shm/ABI.md 2).
 *
 * Link with `pkg-config --libs kelp` (libkelp.so.0, which exports exactly the calls below), or link
 * libkelp.a followed by the other libraries `pkg-config --static --libs kelp` names.
 */
#ifndef KELP_H
#define KELP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- file ids -------------------------------------------------------------------------------- */

/*
 * The file-id block below is also in core/fid.h (kelpd's side of it), character for character:
 * either header may come first, the guard lets the second skip it, and `make check-abi` fails when
 * the two copies differ. kelp.h thereby stays self-contained and core/ does not include shm/.
 */
#ifndef KELP_FID_DEFINED
#define KELP_FID_DEFINED
/* A SeaweedFS file id "3,01637037d6": volume 3, key 0x01, cookie 0x637037d6. */
struct kelp_fid {
	uint32_t volume_id;
	uint64_t key;
	uint32_t cookie;
};

/* Longest string kelp_fid_format() writes, with the NUL. */
#define KELP_FID_STR_MAX 40

/*
 * kelp_fid_parse - parse a SeaweedFS file id.
 * Accepts "3,01637037d6", "/3,01637037d6", "3,01637037d6.jpg", "3/01637037d6/name.jpg" and the
 * "_N" suffix (adds decimal N to the key). @s need not be NUL-terminated; @len bytes are read.
 * Any thread.
 * Return: 0; -EINVAL when the text is not a file id (@out is then untouched).
 */
int kelp_fid_parse(const char *s, size_t len, struct kelp_fid *out);

/*
 * kelp_fid_format - write @fid the way SeaweedFS does (leading zero bytes of the key dropped).
 * Any thread.
 * Return: the length written without the NUL; -ENOSPC when @size is too small (KELP_FID_STR_MAX
 * always suffices).
 */
int kelp_fid_format(const struct kelp_fid *fid, char *buf, size_t size);
#endif /* KELP_FID_DEFINED */

/* ---- sessions -------------------------------------------------------------------------------- */

struct kelp_session; /* opaque: one connection to kelpd, its shared segment and rings */

/* Default socket when neither socket_path nor config_path is given. */
#define KELP_DEFAULT_SOCKET "/run/kelp/kelpd.sock"

/*
 * Options for kelp_connect(). Always start from kelp_opts_init(): it sets opts_size, which lets
 * later versions of libkelp add fields without breaking callers built against this header.
 */
struct kelp_opts {
	size_t opts_size;	 /* sizeof(struct kelp_opts), set by kelp_opts_init() */
	const char *socket_path; /* kelpd's Unix socket; wins over config_path */
	const char *config_path; /* kelp.conf: its [engine] socket is used */
	uint32_t queue_depth; /* submission ring entries wanted (power of 2); 0 = kelpd's default */
	int32_t wait_spin_us; /* how long kelp_wait() busy-polls before it sleeps on a futex.
			       * Adaptive: it polls this long while most of this session's
			       * recent waits ended within the spin, and sleeps at once while
			       * most outlasted it (with a full spin every 64 waits to notice
			       * a change). 0 = always sleep at once (after ~1 us of polling);
			       * < 0 = never sleep (pure busy-poll, lowest latency, a busy
			       * core). Default 50. */
};

/*
 * kelp_opts_init - fill @o with the defaults (KELP_DEFAULT_SOCKET, kelpd's queue depth, an
 * adaptive 50 us spin). Any thread.
 */
void kelp_opts_init(struct kelp_opts *o);

/*
 * kelp_connect - open a session with kelpd: connect to its Unix socket, receive the session's
 * shared-memory segment (SCM_RIGHTS) and map it. @opts may be NULL (defaults).
 * The session is used by one thread at a time (see above). Any thread.
 * Return: 0 and *@out set; on failure *@out is untouched, kelp_last_error() says what happened in
 * words (with the socket path, the config file's FILE:LINE, kelpd's reason), and the code tells
 * the causes apart:
 *   -ECONNREFUSED  no kelpd: no socket at the path, or one nobody listens on (kelpd stopped or
 *                  crashed). Worth retrying later. (libkelp before issue 8 said -ENOENT for a
 *                  missing socket.)
 *   -ENOENT        config_path does not exist
 *   -EBADMSG       config_path cannot be read (permissions, a directory) or has errors: the
 *                  first "FILE:LINE: message" lines are in kelp_last_error()
 *   -EACCES        kelpd's [engine] allow_uids / allow_gids policy refuses this process's user
 *                  (or the file system does not let this user reach the socket)
 *   -EPROTONOSUPPORT kelpd speaks another ABI version than this libkelp
 *   -EUSERS        kelpd has reached its session limit ([engine] max_sessions)
 *   -EINVAL        bad @opts (opts_size, queue_depth not a power of 2), or a queue_depth kelpd
 *                  refuses (above 65536)
 *   -ENAMETOOLONG  the socket path is longer than 107 bytes
 *   -ENOMEM, -EMFILE, other socket errnos as the kernel reports them.
 */
int kelp_connect(const struct kelp_opts *opts, struct kelp_session **out);

/*
 * kelp_last_error - why the calling thread's last kelp_connect() failed, as one or a few lines of
 * text for a person (e.g. "no kelpd at /run/kelp/kelpd.sock: the socket does not exist (...)",
 * "/etc/kelp/kelp.conf:12: engine.lcores: ...", "kelpd at ... refuses this user (uid 1000, ...)").
 * kelp_strerror() of the returned code is generic; print this instead when it is not empty.
 * Thread-local (like dlerror()): each thread sees its own; valid until that thread's next
 * kelp_connect(). Any thread.
 * Return: the text; "" when the last kelp_connect() of this thread succeeded or none was made.
 */
const char *kelp_last_error(void);

/*
 * kelp_close - end the session: unmap the segment and close the socket. kelpd frees the session
 * (it waits for requests still in flight on its side; their completions are discarded).
 * @s may be NULL. Buffers from kelp_buf_alloc() become invalid. The owning thread only.
 */
void kelp_close(struct kelp_session *s);

/* What kelpd granted this session (kelp_session_info). */
struct kelp_session_info {
	uint64_t session_id; /* as listed by `kelpctl sessions` */
	uint32_t sq_entries; /* submission ring size = most requests in flight */
	uint32_t cq_entries;
	uint64_t arena_size; /* bytes of buffer space for kelp_buf_alloc() */
	uint32_t max_io;     /* largest length one READ may ask for */
	uint32_t lcore_id;   /* the worker lcore serving this session */
	int hugepages;	     /* 1 when the segment is backed by huge pages */
};

/*
 * kelp_session_info - describe @s. The owning thread only.
 * Return: 0.
 */
int kelp_session_info(const struct kelp_session *s, struct kelp_session_info *out);

/* ---- buffers --------------------------------------------------------------------------------- */

/*
 * kelp_buf_alloc - allocate @size bytes (rounded up to 4 KiB, 4 KiB-aligned) in the session's
 * arena, the shared memory kelpd writes read data into. READ buffers must come from here. Not meant
 * for the per-read path: allocate buffers once and reuse them. The memory behind the buffer is
 * allocated here (kelpd allocates only the start of the arena up front: [engine]
 * arena_populate_mb), so kelpd's first copy into it does not stall on page allocation. The owning
 * thread only. Return: the buffer, or NULL with errno ENOMEM (arena full) or EINVAL (@size 0).
 */
void *kelp_buf_alloc(struct kelp_session *s, size_t size);

/*
 * kelp_buf_free - give back a buffer from kelp_buf_alloc(). NULL is ignored. A buffer that is still
 * the target of a request in flight must not be freed. The owning thread only.
 */
void kelp_buf_free(struct kelp_session *s, void *buf);

/* ---- completions ----------------------------------------------------------------------------- */

/* Which path served a request (kelp_cqe.flags & KELP_CQE_PATH_MASK). */
#define KELP_CQE_PATH_MASK  0x3u
#define KELP_CQE_PATH_NONE  0x0u /* NOP, or failed before any path was tried */
#define KELP_CQE_PATH_LOCAL 0x1u /* local volume file on kelpd's host */
#define KELP_CQE_PATH_RDMA  0x2u /* another kelpd over RDMA */
#define KELP_CQE_PATH_HTTP  0x3u /* HTTP from a volume server */
/* The data is gzip as stored by SeaweedFS (kelp_gunzip() decompresses it). */
#define KELP_CQE_F_GZIP 0x4u
/* With KELP_CQE_PATH_RDMA (another kelpd answered): it answered over TCP, not RDMA
 * (KELP_CQE_PATH_RDMA means "another kelpd" for either transport). */
#define KELP_CQE_F_TCP 0x20u
/* The whole needle was read and its CRC32C checked. */
#define KELP_CQE_F_CRC_CHECKED 0x8u
/* The buffer was smaller than the rest of the needle: result < size - offset. */
#define KELP_CQE_F_TRUNCATED 0x10u

/*
 * One completion, 32 bytes, exactly as kelpd writes it into the completion ring.
 *   READ: result = bytes written into the buffer (0 when offset == size), size = the needle's whole
 *         data size as stored, crc = its CRC32C as stored (raw, or masked by SeaweedFS < 3.09:
 *         shm/ABI.md 4), needle_flags = its SeaweedFS flags byte.
 *   STAT: result = 0, size / crc / needle_flags as for READ; no data moves.
 *   NOP:  result = 0.
 * After an error the buffer's contents are undefined (a corrupt needle's bytes may be there).
 * Errors in result (also kelp_strerror):
 *   -ENOENT       needle not found, deleted, or cookie mismatch (over HTTP: a volume server said
 *                 so; never because a master forgot the volume while its servers are down)
 *   -EIO          needle corrupt (CRC mismatch or bad record) here, and no replica served it
 *                 intact over HTTP (with [seaweedfs] master set kelpd asks the replicas first;
 *                 a needle they serve completes with KELP_CQE_PATH_HTTP)
 *   -ERANGE       offset beyond the end of the needle
 *   -EHOSTUNREACH volume not local and no other path configured / reachable (e.g. every volume
 *                 server holding it is down)
 *   -EFAULT       buffer not inside this session's arena
 *   -E2BIG        length above the session's max_io
 *   -EINVAL       bad request (unknown opcode, reserved fields not zero)
 *   -ECANCELED    kelpd is stopping and dropped the request
 *   -EAGAIN       kelpd's pool for non-local requests is exhausted: retry later
 *                 (HTTP fallback: also the masters stayed busy, 503)
 *   HTTP fallback only: -EBADMSG malformed answer from a master or volume server; -EIO also when
 *   every replica answered 5xx; -EPERM the volume server refused the read token (JWT)
 */
struct kelp_cqe {
	uint64_t user_data;    /* copied from the request */
	int32_t result;	       /* >= 0 success (see above), < 0 -errno */
	uint32_t flags;	       /* KELP_CQE_PATH_* | KELP_CQE_F_* */
	uint64_t size;	       /* needle data size as stored (READ, STAT) */
	uint32_t crc;	       /* stored CRC32C of the data (READ, STAT; 0 for NOP) */
	uint32_t needle_flags; /* SeaweedFS needle flags byte (0x01 gzip, 0x02 name, ...) */
};

/* ---- requests -------------------------------------------------------------------------------- */

/*
 * kelp_queue_read - queue a read of @fid's data: bytes [@offset, @offset + @len) of the needle as
 * stored, into @buf (inside the arena, @len bytes available). Nothing is sent until kelp_submit().
 * Fewer bytes arrive when the needle ends first. The owning thread only.
 * Return: 0;
 *   -EAGAIN  the submission ring is full or sq_entries requests are already in flight: collect
 *            completions (kelp_poll / kelp_wait) and try again
 *   -EFAULT  [@buf, @buf + @len) is not inside the arena
 *   -E2BIG   @len > max_io
 *   -ECONNRESET, -EPROTO, -EFAULT  the session is over (see top of file; -EFAULT then comes from
 *            kelp_submit / kelp_poll / kelp_wait too, never for a buffer alone)
 */
int kelp_queue_read(struct kelp_session *s, const struct kelp_fid *fid, uint64_t offset, void *buf,
		    uint32_t len, uint64_t user_data);

/* Request flags (kelp_queue_read_flags; the SQE's flags byte, shm/ABI.md). */
/* Serve the read over RDMA from the kelpd that holds the volume, or fail: no local read, no
 * HTTP fallback. For benchmarks of the RDMA path (kelp-bench --mode rdma). Errors then include
 * -ENOTCONN (no RDMA path to the volume's kelpd: none configured, not located yet, not connected
 * yet), -EAGAIN (no RDMA credit free), -ECONNRESET (the connection failed under the request), and
 * the exporting kelpd's answers (-ENOENT, -EHOSTUNREACH, -EBUSY, -EIO; -EFBIG: the read is
 * larger than that kelpd's [rdma] export_max_read_mb). */
#define KELP_SQE_F_RDMA_ONLY 0x01u
/* Serve the read over TCP from the kelpd that holds the volume ([peer] tcp_listen there), or fail:
 * no local read, no RDMA, no HTTP fallback. For benchmarks and tests of the TCP path (kelp-bench
 * --mode tcp). Errors as for KELP_SQE_F_RDMA_ONLY (-ENOTCONN also while the connection is being
 * set up or backing off after a failure). Not together with KELP_SQE_F_RDMA_ONLY (-EINVAL). */
#define KELP_SQE_F_TCP_ONLY 0x02u

/*
 * kelp_queue_read_flags - kelp_queue_read() with request flags (KELP_SQE_F_*).
 * Return: as kelp_queue_read(); -EINVAL an unknown flag, or both RDMA_ONLY and TCP_ONLY.
 */
int kelp_queue_read_flags(struct kelp_session *s, const struct kelp_fid *fid, uint64_t offset,
			  void *buf, uint32_t len, uint32_t flags, uint64_t user_data);

/*
 * kelp_queue_stat - queue a STAT of @fid (size, CRC, flags; no data). As kelp_queue_read().
 * Return: 0; -EAGAIN; -ECONNRESET, -EPROTO, -EFAULT (the session is over).
 */
int kelp_queue_stat(struct kelp_session *s, const struct kelp_fid *fid, uint64_t user_data);

/*
 * kelp_queue_nop - queue a request that kelpd completes with result 0 (measures the ring round
 * trip). As kelp_queue_read().
 * Return: 0; -EAGAIN; -ECONNRESET, -EPROTO, -EFAULT (the session is over).
 */
int kelp_queue_nop(struct kelp_session *s, uint64_t user_data);

/*
 * kelp_submit - publish every queued request to kelpd with one release store, and wake the
 * session's lcore if it is parked (one write(2) on the session's doorbell eventfd, only then). The
 * owning thread only.
 * Return: the number of requests published (0 when none were queued); -ECONNRESET, -EPROTO,
 * -EFAULT (the session is over).
 */
int kelp_submit(struct kelp_session *s);

/*
 * kelp_poll - copy up to @max available completions into @cqes without waiting or any syscall.
 * The owning thread only.
 * Return: the number copied (0 when none are ready); -ECONNRESET, -EPROTO or -EFAULT when the
 * session is over and no completion is left.
 */
int kelp_poll(struct kelp_session *s, struct kelp_cqe *cqes, unsigned max);

/*
 * kelp_wait - like kelp_poll(), but waits until at least one completion is ready: submits what is
 * queued, busy-polls, then sleeps on a futex (kelpd wakes it; the need-wakeup handshake is in
 * ABI.md). Whether it polls adapts to the session's recent waits: for wait_spin_us (kelp_opts)
 * while they usually ended that soon (local reads), not at all while they usually outlasted it
 * (HTTP fallback, TCP round trips, filer lookups: the spin would only burn CPU that kelpd or other
 * threads need).
 * @timeout_ms < 0 waits forever. Detects a stopped kelpd while waiting. The owning thread only.
 * Return: the number copied (>= 1);
 *   -ETIMEDOUT   nothing completed within @timeout_ms
 *   -ENOENT      nothing is in flight (nothing to wait for)
 *   -ECONNRESET  kelpd stopped or crashed; the pending requests are lost
 *   -EPROTO      kelpd closed the session (protocol violation)
 *   -EFAULT      kelpd closed the session (a page of its shared memory was punched out)
 */
int kelp_wait(struct kelp_session *s, struct kelp_cqe *cqes, unsigned max, int timeout_ms);

/*
 * kelp_inflight - requests submitted or queued whose completion has not been collected yet.
 * The owning thread only.
 */
unsigned kelp_inflight(const struct kelp_session *s);

/*
 * kelp_read - synchronous read: queue, submit and wait for one READ of @fid into @buf (inside the
 * arena). Requires no other request in flight on @s (use the asynchronous calls to mix).
 * @out (may be NULL) receives the completion. The owning thread only.
 * Return: bytes read (>= 0), or -errno: any kelp_queue_read() error, any completion error (see
 * struct kelp_cqe), -EBUSY when other requests are in flight, -ECONNRESET / -EPROTO.
 */
ssize_t kelp_read(struct kelp_session *s, const struct kelp_fid *fid, uint64_t offset, void *buf,
		  uint32_t len, struct kelp_cqe *out);

/*
 * kelp_stat - synchronous STAT of @fid into @out (size, crc, needle_flags). As kelp_read().
 * Return: 0, or -errno as kelp_read().
 */
int kelp_stat(struct kelp_session *s, const struct kelp_fid *fid, struct kelp_cqe *out);

/* ---- files by path (the filer) --------------------------------------------------------------- */

/*
 * kelpd resolves paths through a SeaweedFS filer ([filer] address in kelpd's config): it looks the
 * entry up (cached for [filer] metadata_ttl_ms, so a change in the filer shows within that time),
 * plans which chunks cover the range, reads them through its usual paths (local volume file, RDMA,
 * HTTP), decrypts and decompresses them, fills holes with zeros, and completes the request once.
 *
 * Paths are absolute, "/"-separated, as the filer sees them ("/data/hello.txt"); kelpd normalises
 * nothing and refuses (-EINVAL) a path that is empty, not absolute, contains a NUL byte, a "."
 * or ".." component, or "//"; a trailing "/" is allowed only for "/" itself. [filer] path in the
 * config is kelp-mount's root and NOT applied to these calls.
 *
 * Errors (return values and kelp_cqe.result of the calls below; also kelp_strerror):
 *   -ENOENT       no such path (also a negative lookup cached for the TTL)
 *   -ENOTDIR      list of a file, or a path component that is a file
 *   -EISDIR       read of a directory
 *   -ENAMETOOLONG the path is longer than KELP_PATH_MAX, an "after" name longer than KELP_NAME_MAX
 *   -EINVAL       bad path (above), readlink of something that is not a symlink, bad arguments
 *   -ENOTCONN     kelpd has no [filer] address configured
 *   -EOPNOTSUPP   kelpd is older than this libkelp and has no path requests
 *   -ETIMEDOUT / -EHOSTUNREACH  every filer timed out / was unreachable ([filer] timeout_ms)
 *   -EIO          a chunk could not be read intact, decrypted or decompressed
 *   -EBADMSG      the filer answered something kelp cannot parse
 *   -EAGAIN       kelpd's pool for non-local requests is full, or this session has no free path
 *                 slot (as many path requests in flight as slots): collect completions, retry
 *   otherwise the errors of a fid READ of one of the file's chunks (struct kelp_cqe).
 */

#define KELP_PATH_MAX 4096 /* bytes of a path, without the NUL */
#define KELP_NAME_MAX 255  /* bytes of one name in a directory, without the NUL */

/* Set in kelp_cqe.flags on the completion of every path request (kelp_queue_path_*). */
#define KELP_CQE_F_PATH 0x40u

/* What kelp_path_stat() reports about an entry (48 bytes; also the layout kelpd writes). */
struct kelp_path_stat {
	uint64_t size;	  /* file size in bytes (0 for a directory) */
	int64_t mtime_ns; /* modification time, ns since the epoch (filer Mtime) */
	int64_t ctime_ns; /* creation time (filer Crtime) */
	uint64_t inode;	  /* the filer's inode when it has one, else a stable hash of the path */
	uint32_t mode;	  /* st_mode: S_IFDIR / S_IFREG / S_IFLNK | permission bits as stored */
	uint32_t uid, gid;
	uint32_t reserved; /* 0 */
};

/* One directory entry of kelp_path_list() (304 bytes). */
struct kelp_dirent {
	struct kelp_path_stat st;
	char name[KELP_NAME_MAX + 1]; /* NUL-terminated */
};

/*
 * kelp_path_stat - synchronous stat of @path into @out (ordinary memory). As kelp_read(): no other
 * request in flight on @s. The owning thread only.
 * Return: 0; -errno (above; -EBUSY other requests in flight; -ENOMEM no arena room for libkelp's
 * path slots).
 */
int kelp_path_stat(struct kelp_session *s, const char *path, struct kelp_path_stat *out);

/*
 * kelp_path_list - up to @max entries of directory @path whose names sort after @after (NULL or
 * "" = from the start), in the filer's (byte) order, into @ents (ordinary memory: libkelp copies
 * them out of the arena). Fewer than @max does not mean the end: call again with the last name
 * as @after until 0 comes back. As kelp_read(): no other request in flight. The owning thread
 * only.
 * Return: entries written (0 = no more); -errno (above; -ENOTDIR @path is a file).
 */
int kelp_path_list(struct kelp_session *s, const char *path, const char *after,
		   struct kelp_dirent *ents, unsigned max);

/*
 * kelp_path_read - synchronous read of bytes [@offset, @offset + @len) of file @path into @buf
 * (INSIDE the arena, like kelp_read): one request, however many chunks it spans; holes read as
 * zeros; decrypted, decompressed (the bytes the filer's GET gives). @len 1..max_io. @out (may be
 * NULL) gets the completion (size = the file's size, flags KELP_CQE_F_PATH). As kelp_read(): no
 * other request in flight. The owning thread only.
 * Return: bytes read (fewer at the end of the file, 0 at or after it); -errno (above; -EISDIR).
 */
ssize_t kelp_path_read(struct kelp_session *s, const char *path, uint64_t offset, void *buf,
		       uint32_t len, struct kelp_cqe *out);

/*
 * kelp_path_readlink - the target of symlink @path into @buf (ordinary memory, @size bytes,
 * NUL-terminated when it fits). As kelp_read(): no other request in flight. The owning thread
 * only.
 * Return: the target's length (may be >= @size: then @buf holds its first @size bytes); -EINVAL
 * @path is not a symlink; -errno (above).
 */
ssize_t kelp_path_readlink(struct kelp_session *s, const char *path, char *buf, size_t size);

/*
 * kelp_queue_path_read - queue the read of kelp_path_read() (sent by kelp_submit(), completed
 * through the CQ with @user_data; result = bytes read or -errno, size = the file's size, flags
 * KELP_CQE_F_PATH). @path is copied by libkelp (into a path slot of the arena, freed when the
 * completion is collected). The owning thread only.
 * Return: 0; -EINVAL / -ENAMETOOLONG bad path (checked here already: length, NUL, absolute);
 * -EFAULT @buf not inside the arena; -E2BIG @len > max_io; -EAGAIN ring or path slots full;
 * -ENOMEM no arena room for the path slots; -EOPNOTSUPP kelpd has no path requests; the session
 * errors of kelp_queue_read().
 */
int kelp_queue_path_read(struct kelp_session *s, const char *path, uint64_t offset, void *buf,
			 uint32_t len, uint64_t user_data);

/*
 * kelp_queue_path_stat - queue a stat of @path; kelpd writes the result to @arena_out (inside the
 * arena) before the completion (result 0, size = the entry's size). As kelp_queue_path_read().
 */
int kelp_queue_path_stat(struct kelp_session *s, const char *path, struct kelp_path_stat *arena_out,
			 uint64_t user_data);

/*
 * kelp_queue_path_list - queue a listing of directory @path after the name @after (NULL or ""
 * = from the start) into @arena_ents (inside the arena, @max entries); the completion's result is
 * the number of entries written (0 = no more). As kelp_queue_path_read().
 */
int kelp_queue_path_list(struct kelp_session *s, const char *path, const char *after,
			 struct kelp_dirent *arena_ents, unsigned max, uint64_t user_data);

/* ---- helpers --------------------------------------------------------------------------------- */

/*
 * kelp_gunzip - decompress the gzip data of a needle stored compressed (KELP_CQE_F_GZIP): @in_len
 * bytes at @in into @out (@out_cap bytes). Any thread (implemented in core/gzip.c, libdeflate).
 * Return: 0 with *@out_len set; -EINVAL when @in is not valid gzip; -ENOSPC when @out_cap is too
 * small (kelp_gunzip_size() says how much is needed); -ENOMEM.
 */
int kelp_gunzip(const void *in, size_t in_len, void *out, size_t out_cap, size_t *out_len);

/*
 * kelp_gunzip_size - the decompressed size that a gzip member's trailer (ISIZE) announces, modulo
 * 2^32: a hint for sizing the output, not trusted. Any thread.
 * Return: the size; 0 when @len is too short to be gzip.
 */
uint32_t kelp_gunzip_size(const void *in, size_t len);

/*
 * kelp_strerror - a one-line explanation of a kelp error (@err may be negative or positive errno),
 * in kelp's terms ("needle not found, deleted, or cookie mismatch"); falls back to strerror's text.
 * Any thread; the string is static.
 */
const char *kelp_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif
