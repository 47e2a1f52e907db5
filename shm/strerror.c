/* SPDX-License-Identifier: Apache-2.0 */
/* kelp_strerror: error codes explained in kelp's terms (see the list in kelp.h). One text per
 * code, so codes that mean one thing for a completion and another for kelp_connect() name both;
 * kelp_last_error() has the specific cause of a kelp_connect() failure. */
#include <errno.h>
#include <string.h>

#include "kelp.h"

const char *kelp_strerror(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return "success";
	case ENOENT:
		return "needle not found, deleted, or cookie mismatch; path requests: no such file "
		       "or directory in the filer (kelp_connect: the config file does not exist)";
	case EIO:
		return "needle corrupt: CRC mismatch or bad record (path requests: a chunk could "
		       "not "
		       "be read intact, decrypted or decompressed)";
	case ERANGE:
		return "offset beyond the end of the needle";
	case EHOSTUNREACH:
		return "volume not local, and no other path (RDMA, HTTP) is configured or "
		       "reachable (path requests: no [filer] address answered)";
	case EFAULT:
		return "buffer not inside this session's arena (allocate it with kelp_buf_alloc)";
	case E2BIG:
		return "read length above the session's max_io";
	case EINVAL:
		return "invalid request or argument (path requests: a path not absolute or with a "
		       "NUL, \".\", \"..\" or \"//\"; readlink of what is not a symlink)";
	case ECANCELED:
		return "kelpd is stopping and dropped the request";
	case ECONNRESET:
		return "kelpd stopped or crashed; the session is over (reconnect)";
	case ECONNREFUSED:
		return "kelpd is not running (no socket at that path, or nobody listens on it)";
	case EPROTO:
		return "session closed by kelpd: the ring protocol was broken";
	case EACCES:
		return "kelpd's allow_uids/allow_gids policy refuses this user (or the socket's "
		       "permissions do)";
	case EPROTONOSUPPORT:
		return "kelpd and libkelp speak different ABI versions";
	case EUSERS:
		return "kelpd has reached its session limit";
	case EAGAIN:
		return "submission ring full: collect completions first";
	case ETIMEDOUT:
		return "timed out waiting for completions (path requests: every [filer] address "
		       "timed out)";
	case EBADMSG:
		return "malformed answer from a SeaweedFS master, volume server or filer; "
		       "kelp_connect: the config file cannot be read or has errors";
	case EPERM:
		return "the volume server refused the read token (check [seaweedfs] jwt_read_key)";
	case ENOTDIR:
		return "not a directory (a listed path, or a component of the path, is a file)";
	case EISDIR:
		return "is a directory (path read of a directory)";
	case ENAMETOOLONG:
		return "path longer than KELP_PATH_MAX (4096 bytes) or a name longer than "
		       "KELP_NAME_MAX (255); kelp_connect: socket path longer than 107 bytes";
	case ENOTCONN:
		return "kelpd has no [filer] address configured (path requests); RDMA_ONLY reads: "
		       "no RDMA path to the volume's kelpd";
	case EOPNOTSUPP:
		return "kelpd is older than this libkelp and has no path requests (upgrade kelpd)";
	case EBUSY:
		return "other requests are in flight on this session";
	default:
		return strerror(err);
	}
}
