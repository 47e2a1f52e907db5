/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libkelp requests and completions: fill SQEs, publish them, collect CQEs, wait (spin, then futex;
 * how long it spins: wait_policy.h). The sleep/wake handshake is described in shm/ABI.md section 5.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "session.h"
#include "wait_policy.h"

/* Every this many empty kelp_poll() calls, one zero-timeout poll(2) of the socket notices a kelpd
 * that died without marking the segment (SIGKILL). */
#define LIVENESS_EVERY_POLLS (1u << 16)
/* A sleeping kelp_wait() wakes at least this often to check that kelpd is still there. */
#define SLEEP_SLICE_MS 50

struct kelp_sqe *kelp_next_sqe(struct kelp_session *s, int *err)
{
	if (s->dead) {
		*err = s->dead;
		return NULL;
	}
	if (s->inflight >= s->sq.entries) {
		*err = -EAGAIN;
		return NULL;
	}
	int room = kelp_ring_prod_free(&s->sq, s->queued + 1);
	if (room < 0) {
		s->dead = -EPROTO;
		*err = s->dead;
		return NULL;
	}
	if ((uint32_t)room <= s->queued) {
		*err = -EAGAIN;
		return NULL;
	}
	struct kelp_sqe *e = kelp_ring_prod_slot(&s->sq, s->queued);
	*e = (struct kelp_sqe){0};
	return e;
}

void kelp_queued_one(struct kelp_session *s)
{
	s->queued++;
	s->inflight++;
}

int kelp_queue_read(struct kelp_session *s, const struct kelp_fid *fid, uint64_t offset, void *buf,
		    uint32_t len, uint64_t user_data)
{
	return kelp_queue_read_flags(s, fid, offset, buf, len, 0, user_data);
}

int kelp_queue_read_flags(struct kelp_session *s, const struct kelp_fid *fid, uint64_t offset,
			  void *buf, uint32_t len, uint32_t flags, uint64_t user_data)
{
	uint8_t *b = buf;
	if ((flags & ~(KELP_SQE_F_RDMA_ONLY | KELP_SQE_F_TCP_ONLY)) ||
	    (flags & KELP_SQE_F_RDMA_ONLY && flags & KELP_SQE_F_TCP_ONLY))
		return -EINVAL;
	if (b < s->arena || len > s->arena_size || (uint64_t)(b - s->arena) > s->arena_size - len)
		return -EFAULT;
	if (len > s->max_io)
		return -E2BIG;
	if (len == 0)
		return -EINVAL;
	int err = 0;
	struct kelp_sqe *e = kelp_next_sqe(s, &err);
	if (!e)
		return err;
	e->opcode = KELP_OP_READ;
	e->flags = (uint8_t)flags;
	e->volume_id = fid->volume_id;
	e->key = fid->key;
	e->cookie = fid->cookie;
	e->length = len;
	e->offset = offset;
	e->buf_off = (uint64_t)(b - s->arena);
	e->user_data = user_data;
	kelp_queued_one(s);
	return 0;
}

int kelp_queue_stat(struct kelp_session *s, const struct kelp_fid *fid, uint64_t user_data)
{
	int err = 0;
	struct kelp_sqe *e = kelp_next_sqe(s, &err);
	if (!e)
		return err;
	e->opcode = KELP_OP_STAT;
	e->volume_id = fid->volume_id;
	e->key = fid->key;
	e->cookie = fid->cookie;
	e->user_data = user_data;
	kelp_queued_one(s);
	return 0;
}

int kelp_queue_nop(struct kelp_session *s, uint64_t user_data)
{
	int err = 0;
	struct kelp_sqe *e = kelp_next_sqe(s, &err);
	if (!e)
		return err;
	e->opcode = KELP_OP_NOP;
	e->user_data = user_data;
	kelp_queued_one(s);
	return 0;
}

int kelp_submit(struct kelp_session *s)
{
	if (s->dead)
		return s->dead;
	uint32_t n = s->queued;
	if (n == 0)
		return 0;
	kelp_ring_prod_publish(&s->sq, n);
	s->queued = 0;
	/* Dekker with the lcore's park (ABI.md 5): our tail store before its flag load, its flag
	 * store before our re-check; the full fence orders our store before the flag load below. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&s->sq.ctl->flags, __ATOMIC_RELAXED) & KELP_SQ_NEED_WAKEUP) {
		uint64_t one = 1;
		if (write(s->doorbell_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			return kelp_session_check_alive(s, 1) ?: (int)n;
	}
	return (int)n;
}

int kelp_poll(struct kelp_session *s, struct kelp_cqe *cqes, unsigned max)
{
	int avail = kelp_ring_cons_avail(&s->cq);
	if (avail < 0) {
		s->dead = -EPROTO;
		return s->dead;
	}
	if (avail == 0) {
		if (s->dead)
			return s->dead;
		/* empty polls are the busy-wait loop: the state word (a line kelpd writes only at
		 * the end, so it stays in our cache) every time, the socket every
		 * LIVENESS_EVERY_POLLS-th */
		if (__atomic_load_n(&s->hdr->state, __ATOMIC_ACQUIRE) != KELP_SEG_LIVE)
			return kelp_session_check_alive(s, 0);
		if (++s->idle_polls >= LIVENESS_EVERY_POLLS) {
			s->idle_polls = 0;
			return kelp_session_check_alive(s, 1);
		}
		return 0;
	}
	s->idle_polls = 0;
	uint32_t n = (uint32_t)avail < max ? (uint32_t)avail : max;
	for (uint32_t i = 0; i < n; i++) {
		cqes[i] = *(const struct kelp_cqe *)kelp_ring_cons_slot(&s->cq, i);
		if (cqes[i].flags & KELP_CQE_F_PATH)
			kelp_path_fixup(s, &cqes[i]);
	}
	kelp_ring_cons_release(&s->cq, n);
	s->inflight -= n;
	return (int)n;
}

static int64_t now_ns(void)
{
	return (int64_t)kelp_now_ns();
}

/* Sleep on the CQ tail until kelpd publishes, at most @ms. Return 0 or -errno from kelp_poll. */
static int sleep_on_cq(struct kelp_session *s, int ms)
{
	uint32_t *tail = &s->cq.ctl->tail;
	uint32_t *flags = &s->cq.ctl->flags;
	__atomic_fetch_or(flags, KELP_CQ_WANT_WAKE, __ATOMIC_SEQ_CST);
	/* Dekker with the lcore (ABI.md 5): flag store, fence, tail load; it does tail store,
	 * fence, flag load. Either we see its tail here or it sees our flag and wakes us. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint32_t seen = __atomic_load_n(tail, __ATOMIC_ACQUIRE);
	if (seen != s->cq.local)
		return 0; /* something arrived; the lcore clears the flag on its next publish */
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
	/* shared (not private) futex: the word lives in memory mapped by two processes */
	long rc = syscall(SYS_futex, tail, FUTEX_WAIT, seen, &ts, NULL, 0);
	if (rc != 0 && errno != EAGAIN && errno != ETIMEDOUT && errno != EINTR)
		return -errno;
	return 0;
}

int kelp_wait(struct kelp_session *s, struct kelp_cqe *cqes, unsigned max, int timeout_ms)
{
	if (s->queued) {
		int rc = kelp_submit(s);
		if (rc < 0)
			return rc;
	}
	int n = kelp_poll(s, cqes, max);
	if (n != 0)
		return n;
	if (s->inflight == 0)
		return -ENOENT;
	/* wait_spin_us < 0: poll until done; else poll for wait_spin_us while the session's recent
	 * waits usually ended that soon, sleep at once while they did not (wait_policy.h) */
	bool adapt = s->wait_spin_us >= 0;
	uint64_t cap = adapt ? (uint64_t)s->wait_spin_us * 1000 : 0;
	int64_t start = now_ns();
	int64_t deadline = timeout_ms < 0 ? INT64_MAX : start + (int64_t)timeout_ms * 1000000;
	int64_t spin_until =
		adapt ? start + (int64_t)kelp_wait_spin_budget(&s->wait_policy, cap) : INT64_MAX;
	int64_t next_sock_check = start + 1000000;
	bool slept = false;
	for (uint32_t iter = 1;; iter++) {
		n = kelp_poll(s, cqes, max);
		if (n != 0) {
			if (n > 0 && adapt)
				kelp_wait_record(&s->wait_policy, cap, slept);
			return n;
		}
		if ((iter & 63) != 0)
			continue;
		int64_t now = now_ns();
		if (now >= deadline) {
			if (slept) /* a long wait; one cut short before sleeping says nothing */
				kelp_wait_record(&s->wait_policy, cap, true);
			return -ETIMEDOUT;
		}
		if (now >= next_sock_check) {
			next_sock_check = now + 1000000;
			int rc = kelp_session_check_alive(s, 1);
			if (rc != 0)
				return rc;
		}
		if (now < spin_until)
			continue;
		int64_t left_ms = (deadline - now + 999999) / 1000000;
		int rc = sleep_on_cq(s, left_ms < SLEEP_SLICE_MS ? (int)left_ms : SLEEP_SLICE_MS);
		if (rc != 0)
			return rc;
		slept = true;
		iter = 0; /* next round checks the clock after 64 polls again */
	}
}

unsigned kelp_inflight(const struct kelp_session *s)
{
	return s->inflight;
}

/* Queue-submit-wait for exactly one request that kelp_read / kelp_stat queued. */
int kelp_wait_one(struct kelp_session *s, struct kelp_cqe *out)
{
	int rc = kelp_submit(s);
	if (rc < 0)
		return rc;
	struct kelp_cqe c;
	rc = kelp_wait(s, &c, 1, -1);
	if (rc < 0)
		return rc;
	if (out)
		*out = c;
	return c.result;
}

ssize_t kelp_read(struct kelp_session *s, const struct kelp_fid *fid, uint64_t offset, void *buf,
		  uint32_t len, struct kelp_cqe *out)
{
	if (s->inflight)
		return -EBUSY;
	int rc = kelp_queue_read(s, fid, offset, buf, len, 0);
	if (rc < 0)
		return rc;
	return kelp_wait_one(s, out);
}

int kelp_stat(struct kelp_session *s, const struct kelp_fid *fid, struct kelp_cqe *out)
{
	if (s->inflight)
		return -EBUSY;
	int rc = kelp_queue_stat(s, fid, 0);
	if (rc < 0)
		return rc;
	return kelp_wait_one(s, out);
}
