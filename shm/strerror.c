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
		return "needle not found, deleted, or cookie mismatch (kelp_connect: the config "
		       "file does not exist)";
	case EIO:
		return "needle corrupt: CRC mismatch or bad record";
	case ERANGE:
		return "offset beyond the end of the needle";
	case EHOSTUNREACH:
		return "volume not local, and no other path (RDMA, HTTP) is configured or "
		       "reachable";
	case EFAULT:
		return "buffer not inside this session's arena (allocate it with kelp_buf_alloc)";
	case E2BIG:
		return "read length above the session's max_io";
	case EINVAL:
		return "invalid request or argument";
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
		return "timed out waiting for completions";
	case EBADMSG:
		return "malformed answer from a SeaweedFS master or volume server (HTTP fallback); "
		       "kelp_connect: "
		       "the config file cannot be read or has errors";
	case EPERM:
		return "the volume server refused the read token (check [seaweedfs] jwt_read_key)";
	case EBUSY:
		return "other requests are in flight on this session";
	default:
		return strerror(err);
	}
}
