/* SPDX-License-Identifier: Apache-2.0 */
/* The TCP transport's handshake (tcp_hs.h). */
#include "lcore/tcp/tcp_hs.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nic/oob.h"

static int nonce(uint8_t *out)
{
	ssize_t n = getrandom(out, KELP_TCP_NONCE_SIZE, 0);

	return n == KELP_TCP_NONCE_SIZE ? 0 : -EIO;
}

static void nodelay(int fd)
{
	int one = 1;

	/* requests are batched per poll round already: Nagle would only add latency */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int kelp_tcp_hs_dial(const char *host, uint16_t port, const void *secret, size_t secret_len,
		     const struct kelp_tcp_ident *id, int timeout_ms)
{
	uint8_t buf[KELP_TCP_HELLO_SIZE];
	struct kelp_tcp_challenge ch;
	struct kelp_tcp_hello h = {.version = KELP_TCP_PROTO_VERSION,
				   .lane = id->lane,
				   .reader_id = id->reader_id,
				   .incarnation = id->incarnation};
	struct kelp_tcp_ack ack;
	int fd = kelp_oob_dial(host, port, timeout_ms), rc;

	if (fd < 0)
		return fd;
	rc = kelp_oob_xfer(fd, buf, KELP_TCP_CHALLENGE_SIZE, false, timeout_ms);
	if (!rc)
		rc = kelp_tcp_challenge_parse(buf, KELP_TCP_CHALLENGE_SIZE, &ch);
	if (!rc && ch.version != KELP_TCP_PROTO_VERSION)
		rc = -EPROTONOSUPPORT;
	if (!rc)
		rc = nonce(h.nonce);
	if (!rc) {
		kelp_tcp_hello_encode(&h, ch.nonce, secret, secret_len, buf);
		rc = kelp_oob_xfer(fd, buf, KELP_TCP_HELLO_SIZE, true, timeout_ms);
	}
	if (!rc)
		rc = kelp_oob_xfer(fd, buf, KELP_TCP_ACK_SIZE, false, timeout_ms);
	if (!rc)
		rc = kelp_tcp_ack_parse(buf, KELP_TCP_ACK_SIZE, &ack);
	if (!rc) {
		if (ack.status == KELP_TCP_HS_AUTH)
			rc = -EACCES;
		else if (ack.status == KELP_TCP_HS_VERSION)
			rc = -EPROTONOSUPPORT;
		else if (ack.status == KELP_TCP_HS_BUSY)
			rc = -EBUSY;
		else if (!kelp_tcp_ack_verify(buf, h.nonce, ch.nonce, secret, secret_len))
			rc = -EACCES; /* it does not know our secret: do not trust its bytes */
	}
	if (rc) {
		close(fd);
		return rc;
	}
	nodelay(fd);
	return fd;
}

int kelp_tcp_hs_serve(int fd, const void *secret, size_t secret_len, int busy, int timeout_ms,
		      struct kelp_tcp_hello *peer)
{
	uint8_t buf[KELP_TCP_HELLO_SIZE];
	struct kelp_tcp_challenge ch = {.version = KELP_TCP_PROTO_VERSION};
	struct kelp_tcp_ack ack = {.version = KELP_TCP_PROTO_VERSION};
	int rc = nonce(ch.nonce);

	if (rc)
		return rc;
	kelp_tcp_challenge_encode(&ch, buf);
	rc = kelp_oob_xfer(fd, buf, KELP_TCP_CHALLENGE_SIZE, true, timeout_ms);
	if (!rc)
		rc = kelp_oob_xfer(fd, buf, KELP_TCP_HELLO_SIZE, false, timeout_ms);
	if (!rc)
		rc = kelp_tcp_hello_parse(buf, KELP_TCP_HELLO_SIZE, peer);
	if (rc)
		return rc; /* no answer to garbage */
	if (peer->version != KELP_TCP_PROTO_VERSION) {
		ack.status = KELP_TCP_HS_VERSION;
		rc = -EPROTONOSUPPORT;
	} else if (!kelp_tcp_hello_verify(buf, ch.nonce, secret, secret_len)) {
		ack.status = KELP_TCP_HS_AUTH;
		rc = -EACCES;
	} else if (busy) {
		ack.status = KELP_TCP_HS_BUSY;
		rc = -EBUSY;
	}
	kelp_tcp_ack_encode(&ack, peer->nonce, ch.nonce, secret, secret_len, buf);
	int wr = kelp_oob_xfer(fd, buf, KELP_TCP_ACK_SIZE, true, timeout_ms);
	if (!rc)
		rc = wr;
	if (!rc)
		nodelay(fd);
	return rc;
}

const char *kelp_tcp_hs_strerror(int err)
{
	switch (err) {
	case -EACCES:
		return "authentication failed: the two kelpd need the same [peer] secret";
	case -EPROTONOSUPPORT:
		return "the other kelpd speaks another version of the TCP protocol";
	case -EBUSY:
		return "the exporting kelpd has no connection free";
	case -EBADMSG:
		return "malformed handshake (not a kelpd TCP port?)";
	default:
		return strerror(-err);
	}
}
