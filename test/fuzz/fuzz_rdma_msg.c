/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for proto/rdma_msg: every parser on arbitrary bytes must return 0 or -errno
 * without reading past @size, and whatever parses must encode back to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/rdma_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[KELP_RDMA_MSG_MAX];
	struct kelp_rdma_hello h;
	struct kelp_rdma_request rq;
	struct kelp_rdma_reply rp;

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
		if (kelp_rdma_reply_encode(&rp, out, sizeof(out)) != (int)size ||
		    memcmp(out, data, size))
			abort();
	}
	return 0;
}
