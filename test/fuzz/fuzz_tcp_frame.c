/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for proto/tcp_frame: what a hostile peer can send. The first byte picks how the
 * rest is cut into pieces; the reader's stream parser must take any byte stream without reading
 * past a piece and either account every byte (headers here, data to the caller) or refuse it with
 * -EBADMSG; a reply header it accepts must say at most as many data bytes as its length claims.
 * The handshake parsers and the exporter's request-frame parser get the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/tcp_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kelp_tcp_challenge ch;
	struct kelp_tcp_hello h;
	struct kelp_tcp_ack a;
	struct kelp_rdma_request rq;
	uint8_t nonce[KELP_TCP_NONCE_SIZE] = {0};

	(void)kelp_tcp_challenge_parse(data, size, &ch);
	if (kelp_tcp_hello_parse(data, size, &h) == 0)
		(void)kelp_tcp_hello_verify(data, nonce, "fuzz-secret-0123", 16);
	if (kelp_tcp_ack_parse(data, size, &a) == 0)
		(void)kelp_tcp_ack_verify(data, nonce, nonce, "fuzz-secret-0123", 16);
	for (size_t off = 0; off + KELP_TCP_REQ_FRAME_SIZE <= size; off += KELP_TCP_REQ_FRAME_SIZE)
		if (kelp_tcp_request_frame_parse(data + off, size - off, &rq))
			break;

	if (size < 1)
		return 0;
	size_t step = data[0] ? data[0] : 1;
	struct kelp_tcp_rx rx = {0};
	for (size_t off = 1; off < size;) {
		size_t piece = size - off < step ? size - off : step;
		/* a copy of exactly the piece, so ASan sees any read past it */
		uint8_t *p = malloc(piece), *q = p;
		memcpy(p, data + off, piece);
		off += piece;
		while (piece) {
			if (rx.data_left) {
				uint32_t k = piece < rx.data_left ? (uint32_t)piece : rx.data_left;
				kelp_tcp_rx_data(&rx, k);
				q += k;
				piece -= k;
				continue;
			}
			bool got;
			struct kelp_rdma_reply rp;
			int c = kelp_tcp_rx_feed(&rx, q, piece, &got, &rp);
			if (c < 0) {
				free(p);
				return 0;
			}
			if (c == 0 || (size_t)c > piece || (got && rx.data_left != rp.written) ||
			    (got && rp.written > rp.data_size))
				abort();
			q += c;
			piece -= (size_t)c;
		}
		free(p);
	}
	return 0;
}
