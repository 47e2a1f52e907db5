/* SPDX-License-Identifier: Apache-2.0 */
/* The kelp RDMA protocol's encode and parse (layouts and exchange in rdma_msg.h). */
#include "proto/rdma_msg.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "core/be.h"

#define QPN_MASK 0xffffffu

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

int kelp_rdma_hello_encode(const struct kelp_rdma_hello *m, uint8_t *buf, size_t size)
{
	if (size < KELP_RDMA_HELLO_SIZE)
		return -ENOSPC;
	if ((m->kind != KELP_RDMA_HELLO && m->kind != KELP_RDMA_ACK) ||
	    m->status > KELP_RDMA_STATUS_MAX || (m->qpn & ~QPN_MASK) || (m->psn & ~QPN_MASK) ||
	    m->inline_max > KELP_RDMA_INLINE_LIMIT)
		return -EINVAL;
	memset(buf, 0, KELP_RDMA_HELLO_SIZE);
	kelp_put_be32(buf + 0, KELP_RDMA_HELLO_MAGIC);
	kelp_put_be16(buf + 4, m->version);
	buf[6] = m->kind;
	buf[7] = m->status;
	kelp_put_be16(buf + 8, m->credits);
	buf[10] = m->mtu;
	kelp_put_be32(buf + 12, m->qpn);
	kelp_put_be32(buf + 16, m->psn);
	kelp_put_be16(buf + 20, m->lid);
	kelp_put_be16(buf + 22, m->inline_max);
	memcpy(buf + 24, m->gid, 16);
	kelp_put_be64(buf + 40, m->reader_id);
	kelp_put_be64(buf + 48, m->incarnation);
	kelp_put_be16(buf + 56, m->lane);
	return KELP_RDMA_HELLO_SIZE;
}

int kelp_rdma_hello_parse(const uint8_t *buf, size_t len, struct kelp_rdma_hello *out)
{
	struct kelp_rdma_hello m;

	if (len != KELP_RDMA_HELLO_SIZE || kelp_be32(buf) != KELP_RDMA_HELLO_MAGIC)
		return -EBADMSG;
	if (buf[11] || !all_zero(buf + 58, 6))
		return -EBADMSG;
	m.version = kelp_be16(buf + 4);
	m.kind = buf[6];
	m.status = buf[7];
	if ((m.kind != KELP_RDMA_HELLO && m.kind != KELP_RDMA_ACK) ||
	    m.status > KELP_RDMA_STATUS_MAX || (m.kind == KELP_RDMA_HELLO && m.status))
		return -EBADMSG;
	m.credits = kelp_be16(buf + 8);
	m.mtu = buf[10];
	m.qpn = kelp_be32(buf + 12);
	m.psn = kelp_be32(buf + 16);
	m.lid = kelp_be16(buf + 20);
	m.inline_max = kelp_be16(buf + 22);
	memcpy(m.gid, buf + 24, 16);
	m.reader_id = kelp_be64(buf + 40);
	m.incarnation = kelp_be64(buf + 48);
	m.lane = kelp_be16(buf + 56);
	/* MTU is enum ibv_mtu: 1 (256) .. 5 (4096). A successful handshake needs credits. */
	if ((m.qpn & ~QPN_MASK) || (m.psn & ~QPN_MASK) || m.mtu < 1 || m.mtu > 5 ||
	    m.inline_max > KELP_RDMA_INLINE_LIMIT)
		return -EINVAL;
	if (m.status == KELP_RDMA_OK && m.credits == 0)
		return -EINVAL;
	*out = m;
	return 0;
}

int kelp_rdma_request_encode(const struct kelp_rdma_request *m, uint8_t *buf, size_t size)
{
	if (size < KELP_RDMA_REQUEST_SIZE)
		return -ENOSPC;
	if (m->opcode < KELP_RDMA_OP_READ || m->opcode > KELP_RDMA_OP_IDX)
		return -EINVAL;
	memset(buf, 0, KELP_RDMA_REQUEST_SIZE);
	kelp_put_be32(buf + 0, KELP_RDMA_REQUEST_MAGIC);
	buf[4] = m->opcode;
	kelp_put_be64(buf + 8, m->req_id);
	kelp_put_be32(buf + 16, m->volume_id);
	kelp_put_be32(buf + 20, m->cookie);
	kelp_put_be64(buf + 24, m->key);
	kelp_put_be64(buf + 32, m->offset);
	kelp_put_be32(buf + 40, m->length);
	kelp_put_be32(buf + 44, m->rkey);
	kelp_put_be64(buf + 48, m->addr);
	return KELP_RDMA_REQUEST_SIZE;
}

int kelp_rdma_request_parse(const uint8_t *buf, size_t len, struct kelp_rdma_request *out)
{
	struct kelp_rdma_request m;

	if (len != KELP_RDMA_REQUEST_SIZE || kelp_be32(buf) != KELP_RDMA_REQUEST_MAGIC)
		return -EBADMSG;
	if (buf[5] || kelp_be16(buf + 6) || kelp_be64(buf + 56))
		return -EBADMSG;
	m.opcode = buf[4];
	if (m.opcode < KELP_RDMA_OP_READ || m.opcode > KELP_RDMA_OP_IDX)
		return -EBADMSG;
	m.req_id = kelp_be64(buf + 8);
	m.volume_id = kelp_be32(buf + 16);
	m.cookie = kelp_be32(buf + 20);
	m.key = kelp_be64(buf + 24);
	m.offset = kelp_be64(buf + 32);
	m.length = kelp_be32(buf + 40);
	m.rkey = kelp_be32(buf + 44);
	m.addr = kelp_be64(buf + 48);
	/* A READ (MAP, IDX) names a buffer; its end must not wrap. A STAT names none. */
	if (m.opcode != KELP_RDMA_OP_STAT && m.addr + m.length < m.addr)
		return -EINVAL;
	if (m.opcode == KELP_RDMA_OP_STAT && (m.length || m.rkey || m.addr || m.offset))
		return -EINVAL;
	*out = m;
	return 0;
}

int kelp_rdma_reply_encode(const struct kelp_rdma_reply *m, uint8_t *buf, size_t size)
{
	size_t len = KELP_RDMA_REPLY_SIZE + (m->inline_data ? (size_t)m->written : 0);

	if (m->status > KELP_RDMA_STATUS_MAX || m->written > m->data_size ||
	    (m->status != KELP_RDMA_OK && m->written))
		return -EINVAL;
	if (size < len)
		return -ENOSPC;
	memset(buf, 0, KELP_RDMA_REPLY_SIZE);
	kelp_put_be32(buf + 0, KELP_RDMA_REPLY_MAGIC);
	buf[4] = m->status;
	buf[5] = m->needle_flags;
	buf[6] = m->inline_data ? KELP_RDMA_REPLY_INLINE : 0;
	kelp_put_be64(buf + 8, m->req_id);
	kelp_put_be32(buf + 16, m->written);
	kelp_put_be32(buf + 20, m->data_size);
	kelp_put_be32(buf + 24, m->crc);
	return (int)len;
}

int kelp_rdma_reply_parse(const uint8_t *buf, size_t len, struct kelp_rdma_reply *out)
{
	struct kelp_rdma_reply m;

	if (len < KELP_RDMA_REPLY_SIZE || kelp_be32(buf) != KELP_RDMA_REPLY_MAGIC)
		return -EBADMSG;
	if ((buf[6] & ~KELP_RDMA_REPLY_INLINE) || buf[7] || kelp_be32(buf + 28))
		return -EBADMSG;
	m.inline_data = buf[6] & KELP_RDMA_REPLY_INLINE;
	m.status = buf[4];
	if (m.status > KELP_RDMA_STATUS_MAX)
		return -EBADMSG;
	m.needle_flags = buf[5];
	m.req_id = kelp_be64(buf + 8);
	m.written = kelp_be32(buf + 16);
	m.data_size = kelp_be32(buf + 20);
	m.crc = kelp_be32(buf + 24);
	if (m.written > m.data_size || (m.status != KELP_RDMA_OK && m.written))
		return -EINVAL;
	/* the message is exactly the header, plus the data when it is inline */
	if (len != KELP_RDMA_REPLY_SIZE + (m.inline_data ? (size_t)m.written : 0))
		return -EBADMSG;
	*out = m;
	return 0;
}

int kelp_rdma_status_errno(uint8_t status)
{
	switch (status) {
	case KELP_RDMA_OK:
		return 0;
	case KELP_RDMA_NOT_FOUND:
		return -ENOENT;
	case KELP_RDMA_NO_VOLUME:
		return -EHOSTUNREACH;
	case KELP_RDMA_CORRUPT:
		return -EIO;
	case KELP_RDMA_BAD_REQUEST:
		return -EINVAL;
	case KELP_RDMA_ACCESS:
		return -EFAULT;
	case KELP_RDMA_VERSION:
		return -EPROTONOSUPPORT;
	case KELP_RDMA_BUSY:
		return -EBUSY;
	case KELP_RDMA_TOO_LARGE:
		return -EFBIG;
	default:
		return -EPROTO;
	}
}

uint8_t kelp_rdma_errno_status(int neg_errno)
{
	switch (neg_errno) {
	case 0:
		return KELP_RDMA_OK;
	case -ENOENT:
		return KELP_RDMA_NOT_FOUND;
	case -EHOSTUNREACH:
		return KELP_RDMA_NO_VOLUME;
	case -EINVAL:
		return KELP_RDMA_BAD_REQUEST;
	case -EFAULT:
		return KELP_RDMA_ACCESS;
	case -EPROTONOSUPPORT:
		return KELP_RDMA_VERSION;
	case -EBUSY:
		return KELP_RDMA_BUSY;
	case -EFBIG:
		return KELP_RDMA_TOO_LARGE;
	default:
		return KELP_RDMA_CORRUPT;
	}
}

const char *kelp_rdma_status_name(uint8_t status)
{
	static const char *const names[] = {
		"ok",	  "not-found", "no-volume", "corrupt",	 "bad-request",
		"access", "version",   "busy",	    "too-large",
	};

	return status <= KELP_RDMA_STATUS_MAX ? names[status] : "unknown";
}

int kelp_rdma_volmap_encode(const struct kelp_rdma_volmap *m, uint8_t *buf, size_t size)
{
	if (size < KELP_RDMA_VOLMAP_SIZE)
		return -ENOSPC;
	if ((m->offset_bytes != 4 && m->offset_bytes != 5) || m->version < 2 || m->version > 3)
		return -EINVAL;
	memset(buf, 0, KELP_RDMA_VOLMAP_SIZE);
	kelp_put_be32(buf + 0, KELP_RDMA_VOLMAP_MAGIC);
	kelp_put_be32(buf + 4, m->volume_id);
	kelp_put_be64(buf + 8, m->generation);
	kelp_put_be64(buf + 16, m->dat_addr);
	kelp_put_be64(buf + 24, m->dat_len);
	kelp_put_be32(buf + 32, m->dat_rkey);
	kelp_put_be32(buf + 36, m->file_id);
	kelp_put_be64(buf + 40, m->idx_len);
	buf[48] = m->offset_bytes;
	buf[49] = m->version;
	return KELP_RDMA_VOLMAP_SIZE;
}

int kelp_rdma_volmap_parse(const uint8_t *buf, size_t len, struct kelp_rdma_volmap *out)
{
	struct kelp_rdma_volmap m;

	if (len != KELP_RDMA_VOLMAP_SIZE || kelp_be32(buf) != KELP_RDMA_VOLMAP_MAGIC ||
	    !all_zero(buf + 50, 14))
		return -EBADMSG;
	m.volume_id = kelp_be32(buf + 4);
	m.generation = kelp_be64(buf + 8);
	m.dat_addr = kelp_be64(buf + 16);
	m.dat_len = kelp_be64(buf + 24);
	m.dat_rkey = kelp_be32(buf + 32);
	m.file_id = kelp_be32(buf + 36);
	m.idx_len = kelp_be64(buf + 40);
	m.offset_bytes = buf[48];
	m.version = buf[49];
	if ((m.offset_bytes != 4 && m.offset_bytes != 5) || m.version < 2 || m.version > 3 ||
	    m.dat_addr + m.dat_len < m.dat_addr)
		return -EINVAL;
	*out = m;
	return 0;
}
