/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libkelp's path requests (kelp.h, "files by path"; shm/ABI.md 3). A path travels in the arena:
 * each request in flight owns one path slot (the path's bytes, then LIST's "after" name) from
 * queueing until its completion is collected. The SQE carries the slot number as user_data and
 * kelpd marks path completions with KELP_CQE_F_PATH, so kelp_poll puts the caller's user_data
 * back and frees the slot (kelp_path_fixup). The slots are one arena allocation made at the first
 * path request: sq_entries slots, fewer when the arena has no room for that many.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/fpath.h"
#include "session.h"

#define NO_SLOT UINT32_MAX

static int setup_slots(struct kelp_session *s)
{
	if (s->path_area)
		return 0;
	if (s->hdr->abi_minor < 1)
		return -EOPNOTSUPP; /* a kelpd from before the path opcodes */
	for (uint32_t n = s->sq.entries; n >= 1; n /= 2) {
		void *a = kelp_buf_alloc(s, (size_t)n * KELP_PATH_SLOT);
		if (!a)
			continue;
		s->path_next = calloc(n, sizeof(*s->path_next));
		s->path_user_data = calloc(n, sizeof(*s->path_user_data));
		if (!s->path_next || !s->path_user_data) {
			free(s->path_next);
			free(s->path_user_data);
			s->path_next = NULL;
			s->path_user_data = NULL;
			kelp_buf_free(s, a);
			return -ENOMEM;
		}
		for (uint32_t i = 0; i < n; i++)
			s->path_next[i] = i + 1 < n ? i + 1 : NO_SLOT;
		s->path_free = 0;
		s->n_path_slots = n;
		s->path_area = a;
		return 0;
	}
	return -ENOMEM;
}

void kelp_path_fixup(struct kelp_session *s, struct kelp_cqe *c)
{
	uint64_t slot = c->user_data;
	if (slot >= s->n_path_slots)
		return; /* not one of ours: kelpd only echoes what we sent, so this cannot happen */
	c->user_data = s->path_user_data[slot];
	s->path_next[slot] = s->path_free;
	s->path_free = (uint32_t)slot;
}

void kelp_path_fini(struct kelp_session *s)
{
	free(s->path_next);
	free(s->path_user_data);
	s->path_next = NULL;
	s->path_user_data = NULL;
}

/* Fill an SQE for a path request: checks, a slot for @path (+ @after), the SQE's common fields.
 * Return: the SQE (the caller sets opcode, length, offset, buf_off and queues it) or NULL with
 * *@err set. */
static struct kelp_sqe *path_sqe(struct kelp_session *s, const char *path, const char *after,
				 uint64_t user_data, int *err)
{
	size_t plen = path ? strnlen(path, KELP_PATH_MAX + 1) : 0;
	size_t alen = after ? strnlen(after, KELP_NAME_MAX + 1) : 0;
	if (!path) {
		*err = -EINVAL;
		return NULL;
	}
	if ((*err = kelp_fpath_check(path, plen)) != 0 ||
	    (after && (*err = kelp_fname_check(after, alen)) != 0))
		return NULL;
	if ((*err = setup_slots(s)) != 0)
		return NULL;
	if (s->path_free == NO_SLOT) {
		*err = -EAGAIN;
		return NULL;
	}
	struct kelp_sqe *e = kelp_next_sqe(s, err);
	if (!e)
		return NULL;
	uint32_t slot = s->path_free;
	s->path_free = s->path_next[slot];
	s->path_user_data[slot] = user_data;
	uint8_t *dst = s->path_area + (size_t)slot * KELP_PATH_SLOT;
	memcpy(dst, path, plen);
	if (alen)
		memcpy(dst + plen, after, alen);
	e->path_len = (uint32_t)plen;
	e->path_off = (uint64_t)(dst - s->arena);
	e->after_len = (uint32_t)alen;
	e->user_data = slot;
	return e;
}

/* Whether [@buf, @buf + @len) lies inside the arena. */
static int in_arena(const struct kelp_session *s, const void *buf, uint64_t len)
{
	const uint8_t *b = buf;
	return b >= s->arena && len <= s->arena_size &&
	       (uint64_t)(b - s->arena) <= s->arena_size - len;
}

static int queue_out(struct kelp_session *s, uint8_t op, const char *path, const char *after,
		     uint64_t offset, void *buf, uint64_t len, uint64_t user_data)
{
	if (!buf || !in_arena(s, buf, len))
		return -EFAULT;
	if (len == 0)
		return -EINVAL;
	if (len > s->max_io)
		return -E2BIG;
	int err = 0;
	struct kelp_sqe *e = path_sqe(s, path, after, user_data, &err);
	if (!e)
		return err;
	e->opcode = op;
	e->offset = offset;
	e->length = (uint32_t)len;
	e->buf_off = (uint64_t)((uint8_t *)buf - s->arena);
	kelp_queued_one(s);
	return 0;
}

int kelp_queue_path_read(struct kelp_session *s, const char *path, uint64_t offset, void *buf,
			 uint32_t len, uint64_t user_data)
{
	return queue_out(s, KELP_OP_PATH_READ, path, NULL, offset, buf, len, user_data);
}

int kelp_queue_path_stat(struct kelp_session *s, const char *path, struct kelp_path_stat *arena_out,
			 uint64_t user_data)
{
	return queue_out(s, KELP_OP_PATH_STAT, path, NULL, 0, arena_out, sizeof(*arena_out),
			 user_data);
}

int kelp_queue_path_list(struct kelp_session *s, const char *path, const char *after,
			 struct kelp_dirent *arena_ents, unsigned max, uint64_t user_data)
{
	if (max == 0)
		return -EINVAL;
	uint64_t len = (uint64_t)max * sizeof(*arena_ents);
	if (len > s->max_io) /* as many as one request may carry */
		len = s->max_io / sizeof(*arena_ents) * sizeof(*arena_ents);
	return queue_out(s, KELP_OP_PATH_LIST, path, after, 0, arena_ents, len, user_data);
}

/* The sync calls' arena scratch buffer (allocated once per session). */
static uint8_t *scratch(struct kelp_session *s, int *err)
{
	if (!s->path_scratch && !(s->path_scratch = kelp_buf_alloc(s, KELP_PATH_SCRATCH)))
		*err = -ENOMEM;
	return s->path_scratch;
}

int kelp_path_stat(struct kelp_session *s, const char *path, struct kelp_path_stat *out)
{
	int rc = 0;
	if (s->inflight)
		return -EBUSY;
	struct kelp_path_stat *st = (struct kelp_path_stat *)scratch(s, &rc);
	if (!st)
		return rc;
	if ((rc = kelp_queue_path_stat(s, path, st, 0)) < 0)
		return rc;
	if ((rc = kelp_wait_one(s, NULL)) < 0)
		return rc;
	*out = *st;
	return 0;
}

int kelp_path_list(struct kelp_session *s, const char *path, const char *after,
		   struct kelp_dirent *ents, unsigned max)
{
	int rc = 0;
	if (s->inflight)
		return -EBUSY;
	if (max == 0)
		return -EINVAL;
	struct kelp_dirent *d = (struct kelp_dirent *)scratch(s, &rc);
	if (!d)
		return rc;
	unsigned fit = KELP_PATH_SCRATCH / sizeof(*d);
	if ((rc = kelp_queue_path_list(s, path, after, d, max < fit ? max : fit, 0)) < 0)
		return rc;
	if ((rc = kelp_wait_one(s, NULL)) < 0)
		return rc;
	memcpy(ents, d, (size_t)rc * sizeof(*d));
	return rc;
}

ssize_t kelp_path_read(struct kelp_session *s, const char *path, uint64_t offset, void *buf,
		       uint32_t len, struct kelp_cqe *out)
{
	if (s->inflight)
		return -EBUSY;
	int rc = kelp_queue_path_read(s, path, offset, buf, len, 0);
	if (rc < 0)
		return rc;
	return kelp_wait_one(s, out);
}

ssize_t kelp_path_readlink(struct kelp_session *s, const char *path, char *buf, size_t size)
{
	int rc = 0;
	if (s->inflight)
		return -EBUSY;
	uint8_t *t = scratch(s, &rc);
	if (!t)
		return rc;
	/* a target is at most a path; the scratch holds that */
	if ((rc = queue_out(s, KELP_OP_PATH_READLINK, path, NULL, 0, t, KELP_PATH_MAX, 0)) < 0)
		return rc;
	if ((rc = kelp_wait_one(s, NULL)) < 0)
		return rc;
	size_t n = (size_t)rc < size ? (size_t)rc : size;
	memcpy(buf, t, n);
	if ((size_t)rc < size)
		buf[rc] = '\0';
	return rc;
}
