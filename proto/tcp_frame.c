/* SPDX-License-Identifier: Apache-2.0 */
/* The kelp read protocol over TCP: handshake, frames, the reader's stream parser (tcp_frame.h). */
#include "proto/tcp_frame.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/be.h"

static const char reader_label[] = "kelp-tcp-1 reader";
static const char export_label[] = "kelp-tcp-1 export";

/* HMAC-SHA256(@secret, @label | @a | @b | @tail[0..@tail_len)) into @mac; zeros without a secret.
 */
static void mac_of(const void *secret, size_t secret_len, const char *label, const uint8_t *a,
		   const uint8_t *b, const uint8_t *tail, size_t tail_len, uint8_t *mac)
{
	uint8_t msg[sizeof(reader_label) + 2 * KELP_TCP_NONCE_SIZE + KELP_TCP_HELLO_SIZE];
	size_t l = strlen(label), off = 0;
	unsigned out_len = KELP_TCP_MAC_SIZE;

	memset(mac, 0, KELP_TCP_MAC_SIZE);
	if (!secret_len)
		return;
	memcpy(msg, label, l);
	off = l;
	memcpy(msg + off, a, KELP_TCP_NONCE_SIZE);
	off += KELP_TCP_NONCE_SIZE;
	memcpy(msg + off, b, KELP_TCP_NONCE_SIZE);
	off += KELP_TCP_NONCE_SIZE;
	memcpy(msg + off, tail, tail_len);
	off += tail_len;
	if (!HMAC(EVP_sha256(), secret, (int)secret_len, msg, off, mac, &out_len))
		memset(mac, 0xff, KELP_TCP_MAC_SIZE); /* verifies against nothing */
}

void kelp_tcp_challenge_encode(const struct kelp_tcp_challenge *m, uint8_t *buf)
{
	memset(buf, 0, KELP_TCP_CHALLENGE_SIZE);
	kelp_put_be32(buf, KELP_TCP_CHALLENGE_MAGIC);
	kelp_put_be16(buf + 4, m->version);
	memcpy(buf + 8, m->nonce, KELP_TCP_NONCE_SIZE);
}

int kelp_tcp_challenge_parse(const uint8_t *buf, size_t len, struct kelp_tcp_challenge *out)
{
	if (len != KELP_TCP_CHALLENGE_SIZE || kelp_be32(buf) != KELP_TCP_CHALLENGE_MAGIC ||
	    kelp_be16(buf + 6))
		return -EBADMSG;
	out->version = kelp_be16(buf + 4);
	memcpy(out->nonce, buf + 8, KELP_TCP_NONCE_SIZE);
	return 0;
}

void kelp_tcp_hello_encode(struct kelp_tcp_hello *m, const uint8_t *exporter_nonce,
			   const void *secret, size_t secret_len, uint8_t *buf)
{
	kelp_put_be32(buf, KELP_TCP_HELLO_MAGIC);
	kelp_put_be16(buf + 4, m->version);
	kelp_put_be16(buf + 6, m->lane);
	kelp_put_be64(buf + 8, m->reader_id);
	kelp_put_be64(buf + 16, m->incarnation);
	memcpy(buf + 24, m->nonce, KELP_TCP_NONCE_SIZE);
	mac_of(secret, secret_len, reader_label, exporter_nonce, m->nonce, buf, 56, m->mac);
	memcpy(buf + 56, m->mac, KELP_TCP_MAC_SIZE);
}

int kelp_tcp_hello_parse(const uint8_t *buf, size_t len, struct kelp_tcp_hello *out)
{
	if (len != KELP_TCP_HELLO_SIZE || kelp_be32(buf) != KELP_TCP_HELLO_MAGIC)
		return -EBADMSG;
	out->version = kelp_be16(buf + 4);
	out->lane = kelp_be16(buf + 6);
	out->reader_id = kelp_be64(buf + 8);
	out->incarnation = kelp_be64(buf + 16);
	memcpy(out->nonce, buf + 24, KELP_TCP_NONCE_SIZE);
	memcpy(out->mac, buf + 56, KELP_TCP_MAC_SIZE);
	return 0;
}

bool kelp_tcp_hello_verify(const uint8_t *buf, const uint8_t *exporter_nonce, const void *secret,
			   size_t secret_len)
{
	uint8_t mac[KELP_TCP_MAC_SIZE];

	if (!secret_len)
		return true;
	mac_of(secret, secret_len, reader_label, exporter_nonce, buf + 24, buf, 56, mac);
	return CRYPTO_memcmp(mac, buf + 56, KELP_TCP_MAC_SIZE) == 0;
}

void kelp_tcp_ack_encode(struct kelp_tcp_ack *m, const uint8_t *reader_nonce,
			 const uint8_t *exporter_nonce, const void *secret, size_t secret_len,
			 uint8_t *buf)
{
	memset(buf, 0, KELP_TCP_ACK_SIZE);
	kelp_put_be32(buf, KELP_TCP_ACK_MAGIC);
	kelp_put_be16(buf + 4, m->version);
	buf[6] = m->status;
	mac_of(secret, secret_len, export_label, reader_nonce, exporter_nonce, buf, 8, m->mac);
	memcpy(buf + 8, m->mac, KELP_TCP_MAC_SIZE);
}

int kelp_tcp_ack_parse(const uint8_t *buf, size_t len, struct kelp_tcp_ack *out)
{
	if (len != KELP_TCP_ACK_SIZE || kelp_be32(buf) != KELP_TCP_ACK_MAGIC || buf[7] ||
	    buf[6] > KELP_TCP_HS_STATUS_MAX)
		return -EBADMSG;
	out->version = kelp_be16(buf + 4);
	out->status = buf[6];
	memcpy(out->mac, buf + 8, KELP_TCP_MAC_SIZE);
	return 0;
}

bool kelp_tcp_ack_verify(const uint8_t *buf, const uint8_t *reader_nonce,
			 const uint8_t *exporter_nonce, const void *secret, size_t secret_len)
{
	uint8_t mac[KELP_TCP_MAC_SIZE];

	if (!secret_len)
		return true;
	mac_of(secret, secret_len, export_label, reader_nonce, exporter_nonce, buf, 8, mac);
	return CRYPTO_memcmp(mac, buf + 8, KELP_TCP_MAC_SIZE) == 0;
}

int kelp_tcp_request_frame_encode(const struct kelp_rdma_request *m, uint8_t *buf)
{
	int rc = kelp_rdma_request_encode(m, buf + 4, KELP_RDMA_REQUEST_SIZE);

	if (rc < 0)
		return rc;
	kelp_put_be32(buf, KELP_RDMA_REQUEST_SIZE);
	return KELP_TCP_REQ_FRAME_SIZE;
}

int kelp_tcp_request_frame_parse(const uint8_t *buf, size_t len, struct kelp_rdma_request *out)
{
	if (len < KELP_TCP_REQ_FRAME_SIZE || kelp_be32(buf) != KELP_RDMA_REQUEST_SIZE)
		return -EBADMSG;
	return kelp_rdma_request_parse(buf + 4, KELP_RDMA_REQUEST_SIZE, out) ? -EBADMSG : 0;
}

int kelp_tcp_reply_hdr_encode(const struct kelp_rdma_reply *m, uint8_t *buf)
{
	int rc = kelp_rdma_reply_encode(m, buf + 4, KELP_RDMA_REPLY_SIZE);

	if (rc < 0)
		return rc;
	kelp_put_be32(buf, KELP_RDMA_REPLY_SIZE + m->written);
	return KELP_TCP_REPLY_HDR_SIZE;
}

int kelp_tcp_rx_feed(struct kelp_tcp_rx *rx, const uint8_t *p, size_t len, bool *got_reply,
		     struct kelp_rdma_reply *out)
{
	size_t want = KELP_TCP_REPLY_HDR_SIZE - rx->hdr_got;
	size_t n = len < want ? len : want;

	*got_reply = false;
	memcpy(rx->hdr + rx->hdr_got, p, n);
	rx->hdr_got += (uint32_t)n;
	if (rx->hdr_got < KELP_TCP_REPLY_HDR_SIZE)
		return (int)n;
	rx->hdr_got = 0;
	if (kelp_rdma_reply_parse(rx->hdr + 4, KELP_RDMA_REPLY_SIZE, out) ||
	    kelp_be32(rx->hdr) != KELP_RDMA_REPLY_SIZE + (uint64_t)out->written)
		return -EBADMSG;
	rx->data_left = out->written;
	*got_reply = true;
	return (int)n;
}
