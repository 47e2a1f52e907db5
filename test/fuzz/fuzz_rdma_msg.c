/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for proto/rdma_msg: every parser on arbitrary bytes must return 0 or -errno
 * without reading past @size, and whatever parses must encode back to the same bytes (an inline
 * REPLY, version 2: its header, the data being the caller's to place behind it).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/rdma_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[KELP_RDMA_REPLY_SIZE + KELP_RDMA_INLINE_LIMIT];
	struct kelp_rdma_hello h;
	struct kelp_rdma_request rq;
	struct kelp_rdma_reply rp;
	struct kelp_rdma_volmap vm;

	if (kelp_rdma_hello_parse(data, size, &h) == 0) {
		if (kelp_rdma_hello_encode(&h, out, sizeof(out)) != (int)size ||
		    memcmp(out, data, size))
			abort();
	}
	if (kelp_rdma_request_parse(data, size, &rq) == 0) {
		if (kelp_rdma_request_encode(&rq, out, sizeof(out)) != (int)size ||
		    memcmp(out, data, size))
			abort();
	}
	if (kelp_rdma_reply_parse(data, size, &rp) == 0) {
		/* parsed: exactly the header, or the header and @written inline bytes */
		if (size != KELP_RDMA_REPLY_SIZE + (rp.inline_data ? rp.written : 0))
			abort();
		if (size <= sizeof(out)) {
			memcpy(out, data, size); /* the inline data, placed by the caller */
			memset(out, 0, KELP_RDMA_REPLY_SIZE);
			if (kelp_rdma_reply_encode(&rp, out, sizeof(out)) != (int)size ||
			    memcmp(out, data, size))
				abort();
		}
	}
	if (kelp_rdma_volmap_parse(data, size, &vm) == 0) {
		if (kelp_rdma_volmap_encode(&vm, out, sizeof(out)) != (int)size ||
		    memcmp(out, data, size))
			abort();
	}
	return 0;
}
