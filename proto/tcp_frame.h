/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kelp read protocol over TCP between a reader kelpd and the kelpd beside a volume server (the
 * exporter, `[peer] tcp_listen`): handshake, frames, and the reader's stream parser. Pure
 * functions (no I/O, no allocation); any thread may call them. The requests and replies are
 * proto/rdma_msg.h's, unchanged; TCP only adds a length in front and carries the reply's bytes
 * behind it instead of an RDMA WRITE.
 *
 * Handshake (version 1), right after the TCP connection is set up, every integer big-endian:
 *  1. exporter -> reader CHALLENGE (40 bytes): u32 magic "KLPC", u16 version, u16 0,
 *     u8[32] exporter nonce (random, new per connection).
 *  2. reader -> exporter HELLO (88 bytes): u32 magic "KLPT", u16 version, u16 lane (the reader's
 *     lcore), u64 reader id, u64 incarnation, u8[32] reader nonce,
 *     u8[32] mac = HMAC-SHA256(secret, "kelp-tcp-1 reader" | exporter nonce | reader nonce |
 *     bytes 0..55 of this HELLO), all zero when the reader has no secret.
 *  3. exporter -> reader ACK (40 bytes): u32 magic "KLPA", u16 version, u8 status
 *     (enum kelp_tcp_hs_status), u8 0, u8[32] mac = HMAC-SHA256(secret, "kelp-tcp-1 export" |
 *     reader nonce | exporter nonce | bytes 0..7 of this ACK) (zero without a secret).
 * An exporter with a secret serves only a HELLO whose mac it can verify; a reader with a secret
 * uses only an exporter whose ACK mac it can verify (both keyed by the same `[peer] secret`), so
 * neither side can be replayed (each mac covers the other side's fresh nonce). After an ACK with
 * status OK the stream carries frames; any other status is followed by the close.
 *
 * Frames: u32 length L, then L bytes.
 *   reader -> exporter: L = 64, a proto/rdma_msg REQUEST (rkey and address 0: unused over TCP).
 *   exporter -> reader: L = 32 + n, a proto/rdma_msg REPLY whose `written` is n, then the n bytes
 *   of needle data. Replies come in the order of the requests (the reader checks the request id).
 * Anything else (another length, a message that does not parse, a reply out of order) is a
 * protocol error: the side that sees it closes the connection.
 */
#ifndef KELP_PROTO_TCP_FRAME_H
#define KELP_PROTO_TCP_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/rdma_msg.h"

#define KELP_TCP_PROTO_VERSION	 1
#define KELP_TCP_NONCE_SIZE	 32
#define KELP_TCP_MAC_SIZE	 32
#define KELP_TCP_CHALLENGE_SIZE	 40
#define KELP_TCP_HELLO_SIZE	 88
#define KELP_TCP_ACK_SIZE	 40
#define KELP_TCP_REQ_FRAME_SIZE	 (4 + KELP_RDMA_REQUEST_SIZE)
#define KELP_TCP_REPLY_HDR_SIZE	 (4 + KELP_RDMA_REPLY_SIZE)
#define KELP_TCP_CHALLENGE_MAGIC 0x4b4c5043u /* "KLPC" */
#define KELP_TCP_HELLO_MAGIC	 0x4b4c5054u /* "KLPT" */
#define KELP_TCP_ACK_MAGIC	 0x4b4c5041u /* "KLPA" */

enum kelp_tcp_hs_status {
	KELP_TCP_HS_OK = 0,
	KELP_TCP_HS_VERSION = 1, /* the exporter does not speak the reader's version */
	KELP_TCP_HS_AUTH = 2,	 /* the HELLO's mac does not verify: wrong or missing secret */
	KELP_TCP_HS_BUSY = 3,	 /* no connection free on the exporter */
	KELP_TCP_HS_STATUS_MAX = 3,
};

struct kelp_tcp_challenge {
	uint16_t version;
	uint8_t nonce[KELP_TCP_NONCE_SIZE];
};

struct kelp_tcp_hello {
	uint16_t version;
	uint16_t lane;
	uint64_t reader_id;
	uint64_t incarnation;
	uint8_t nonce[KELP_TCP_NONCE_SIZE];
	uint8_t mac[KELP_TCP_MAC_SIZE];
};

struct kelp_tcp_ack {
	uint16_t version;
	uint8_t status; /* enum kelp_tcp_hs_status */
	uint8_t mac[KELP_TCP_MAC_SIZE];
};

/* Handshake messages: encode writes exactly the message size into @buf (which must hold it);
 * parse checks magic, size, reserved bytes and ranges (the peer is not trusted) and returns 0 or
 * -EBADMSG. A version other than ours parses: the caller decides. */
void kelp_tcp_challenge_encode(const struct kelp_tcp_challenge *m, uint8_t *buf);
int kelp_tcp_challenge_parse(const uint8_t *buf, size_t len, struct kelp_tcp_challenge *out);
/* The HELLO's mac is computed here from @secret (@secret_len 0: mac all zero). */
void kelp_tcp_hello_encode(struct kelp_tcp_hello *m, const uint8_t *exporter_nonce,
			   const void *secret, size_t secret_len, uint8_t *buf);
int kelp_tcp_hello_parse(const uint8_t *buf, size_t len, struct kelp_tcp_hello *out);
/* kelp_tcp_hello_verify - does HELLO @buf (as received, parsed) carry the mac of @secret over
 * @exporter_nonce? Without a secret (@secret_len 0) every HELLO verifies. Constant time. */
bool kelp_tcp_hello_verify(const uint8_t *buf, const uint8_t *exporter_nonce, const void *secret,
			   size_t secret_len);
void kelp_tcp_ack_encode(struct kelp_tcp_ack *m, const uint8_t *reader_nonce,
			 const uint8_t *exporter_nonce, const void *secret, size_t secret_len,
			 uint8_t *buf);
int kelp_tcp_ack_parse(const uint8_t *buf, size_t len, struct kelp_tcp_ack *out);
bool kelp_tcp_ack_verify(const uint8_t *buf, const uint8_t *reader_nonce,
			 const uint8_t *exporter_nonce, const void *secret, size_t secret_len);

/* kelp_tcp_request_frame_encode - length + REQUEST into @buf (KELP_TCP_REQ_FRAME_SIZE bytes).
 * Return: KELP_TCP_REQ_FRAME_SIZE or the -errno of kelp_rdma_request_encode. */
int kelp_tcp_request_frame_encode(const struct kelp_rdma_request *m, uint8_t *buf);
/* kelp_tcp_request_frame_parse - the frame at @buf (@len >= KELP_TCP_REQ_FRAME_SIZE available).
 * Return: 0; -EBADMSG a length other than 64 or a REQUEST that does not parse. */
int kelp_tcp_request_frame_parse(const uint8_t *buf, size_t len, struct kelp_rdma_request *out);
/* kelp_tcp_reply_hdr_encode - length (32 + written) + REPLY into @buf (KELP_TCP_REPLY_HDR_SIZE).
 * Return: KELP_TCP_REPLY_HDR_SIZE or the -errno of kelp_rdma_reply_encode. */
int kelp_tcp_reply_hdr_encode(const struct kelp_rdma_reply *m, uint8_t *buf);

/*
 * The reader's parser of the exporter's byte stream: header bytes are collected here (they may
 * arrive split anywhere); once a reply header is complete its data bytes are the caller's to place
 * (straight into the destination) and to account with kelp_tcp_rx_data().
 */
struct kelp_tcp_rx {
	uint8_t hdr[KELP_TCP_REPLY_HDR_SIZE];
	uint32_t hdr_got;
	uint32_t data_left; /* bytes of the current reply's data still to come (0: in a header) */
};

/*
 * kelp_tcp_rx_feed - take header bytes from @p (@len). Stops after a complete header.
 * Return: bytes consumed (>= 0), with *@got_reply true and @out filled when a header completed
 * (its `written` data bytes follow: rx->data_left); -EBADMSG when the header is not a valid reply
 * frame (the connection is unusable). Must not be called while rx->data_left > 0.
 */
int kelp_tcp_rx_feed(struct kelp_tcp_rx *rx, const uint8_t *p, size_t len, bool *got_reply,
		     struct kelp_rdma_reply *out);
/* kelp_tcp_rx_data - @n (<= data_left) data bytes of the current reply were placed. */
static inline void kelp_tcp_rx_data(struct kelp_tcp_rx *rx, uint32_t n)
{
	rx->data_left -= n;
}

#endif
