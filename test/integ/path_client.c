/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A libkelp client of the path API for test/integ/test_kelpd_filer.sh:
 *   path_client SOCKET read PATH OFFSET LEN OUT [TIMES]
 *       one kelp_path_read() of [OFFSET, OFFSET + LEN) into the file OUT; prints "RESULT SIZE"
 *       (RESULT = bytes or -errno, SIZE = the file's size from the completion); with TIMES, that
 *       many reads back to back in one session, the last one's result and bytes (the first
 *       caches the entry, the next ones find it within even a short TTL)
 *   path_client SOCKET async PATH FILE_SIZE PIECE
 *       the whole file as FILE_SIZE / PIECE kelp_queue_path_read()s in flight at once (more than
 *       the session's path slots: -EAGAIN makes it collect first), pieces written to stdout in
 *       order; exit 0 when every piece completed with its length
 *   path_client SOCKET bad PATH COUNT
 *       a hostile session writes COUNT bad path SQEs straight into its ring (path outside the
 *       arena, path_len 0 / huge, a NUL in the path, a relative path, "..", random bytes, random
 *       offsets and lengths) and must get an error CQE flagged KELP_CQE_F_PATH with its user_data
 *       for each, while an honest session reads PATH whole COUNT times and must get the same bytes
 *       every time; prints a summary; exit 0 when all of it holds
 *   path_client SOCKET time PATH N
 *       N sync reads of the small file PATH (whole); prints "reads N us_per_read X"
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kelp.h"
#include "kelp_abi.h"
#include "shm/session.h" /* the hostile client needs the raw ring; applications never do */

static const char *sock_path;

static struct kelp_session *open_session(void)
{
	struct kelp_opts o;
	kelp_opts_init(&o);
	o.socket_path = sock_path;
	o.queue_depth = 64;
	struct kelp_session *s;
	int rc = kelp_connect(&o, &s);
	if (rc != 0) {
		fprintf(stderr, "path_client: connect %s: %s\n", sock_path, kelp_last_error());
		exit(2);
	}
	return s;
}

static int cmd_read(const char *path, uint64_t off, uint32_t len, const char *out, int times)
{
	struct kelp_session *s = open_session();
	uint8_t *buf = kelp_buf_alloc(s, len);
	if (!buf) {
		fprintf(stderr, "path_client: no arena room for %u bytes\n", len);
		return 2;
	}
	struct kelp_cqe c = {0};
	ssize_t n = 0;
	for (int i = 0; i < (times > 0 ? times : 1); i++)
		n = kelp_path_read(s, path, off, buf, len, &c);
	printf("%zd %llu\n", n, (unsigned long long)c.size);
	if (n >= 0) {
		FILE *f = fopen(out, "wb");
		if (!f || fwrite(buf, 1, (size_t)n, f) != (size_t)n || fclose(f) != 0) {
			fprintf(stderr, "path_client: write %s failed\n", out);
			return 1;
		}
	}
	kelp_close(s);
	return 0;
}

static int cmd_async(const char *path, uint64_t size, uint32_t piece)
{
	struct kelp_session *s = open_session();
	uint32_t n = (uint32_t)((size + piece - 1) / piece);
	uint8_t *buf = kelp_buf_alloc(s, (size_t)n * piece);
	int32_t *got = calloc(n, sizeof(*got));
	if (!buf || !got) {
		fprintf(stderr, "path_client: no room for %u pieces\n", n);
		return 2;
	}
	uint32_t queued = 0, done = 0;
	int bad = 0;
	while (done < n) {
		while (queued < n) {
			int rc = kelp_queue_path_read(s, path, (uint64_t)queued * piece,
						      buf + (size_t)queued * piece, piece, queued);
			if (rc == -EAGAIN)
				break;
			if (rc < 0) {
				fprintf(stderr, "path_client: queue: %s\n", kelp_strerror(rc));
				return 1;
			}
			queued++;
		}
		struct kelp_cqe c[64];
		int k = kelp_wait(s, c, 64, 60000);
		if (k < 0) {
			fprintf(stderr, "path_client: wait: %s\n", kelp_strerror(k));
			return 1;
		}
		for (int i = 0; i < k; i++) {
			uint64_t idx = c[i].user_data;
			uint64_t want = size - idx * piece < piece ? size - idx * piece : piece;
			if (idx >= n || !(c[i].flags & KELP_CQE_F_PATH) ||
			    c[i].result != (int32_t)want) {
				fprintf(stderr, "path_client: piece %llu: result %d flags 0x%x\n",
					(unsigned long long)idx, c[i].result, c[i].flags);
				bad = 1;
			} else {
				got[idx] = c[i].result;
			}
			done++;
		}
	}
	if (!bad && fwrite(buf, 1, size, stdout) != size)
		bad = 1;
	free(got);
	kelp_close(s);
	return bad;
}

static void raw_publish(struct kelp_session *s, const struct kelp_sqe *e)
{
	while (kelp_ring_prod_free(&s->sq, 1) < 1)
		;
	memcpy(kelp_ring_prod_slot(&s->sq, 0), e, sizeof(*e));
	kelp_ring_prod_publish(&s->sq, 1);
	uint64_t one = 1;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&s->sq.ctl->flags, __ATOMIC_RELAXED) & KELP_SQ_NEED_WAKEUP)
		(void)!write(s->doorbell_fd, &one, sizeof(one));
}

/* The CQE of the last raw SQE (one in flight), within 60 s. */
static int raw_collect(struct kelp_session *s, struct kelp_cqe *out)
{
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int avail = kelp_ring_cons_avail(&s->cq);
		if (avail < 0)
			return -EPROTO;
		if (avail > 0) {
			*out = *(const struct kelp_cqe *)kelp_ring_cons_slot(&s->cq, 0);
			kelp_ring_cons_release(&s->cq, 1);
			return 0;
		}
		if (kelp_session_check_alive(s, 0) != 0)
			return -ECONNRESET;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec > 60)
			return -ETIMEDOUT;
		usleep(100);
	}
}

struct honest {
	const char *path;
	int count, mismatches, errors;
};

static void *honest_reader(void *arg)
{
	struct honest *h = arg;
	struct kelp_session *s = open_session();
	uint32_t cap = 4u << 20;
	uint8_t *buf = kelp_buf_alloc(s, cap), *first = NULL;
	ssize_t first_n = -1;
	for (int i = 0; i < h->count; i++) {
		ssize_t n = kelp_path_read(s, h->path, 0, buf, cap, NULL);
		if (n < 0) {
			h->errors++;
			continue;
		}
		if (!first) {
			first = malloc((size_t)n + 1);
			memcpy(first, buf, (size_t)n);
			first_n = n;
		} else if (n != first_n || memcmp(first, buf, (size_t)n) != 0) {
			h->mismatches++;
		}
	}
	free(first);
	kelp_close(s);
	return NULL;
}

static int cmd_bad(const char *path, int count)
{
	struct honest h = {.path = path, .count = count};
	pthread_t t;
	pthread_create(&t, NULL, honest_reader, &h);
	struct kelp_session *g = open_session();
	uint64_t arena = g->arena_size;
	uint8_t *a = g->arena;
	/* bad path bytes at arena offsets 0.. (the rest of the arena is the output) */
	static const char *const bad_paths[] = {"relative/x", "/a/../b", "/a//b",
						"/a/",	      "/./a",	 ""};
	int ok = 0;
	srand(99);
	for (int i = 0; i < count; i++) {
		struct kelp_sqe e = {.opcode = KELP_OP_PATH_READ,
				     .path_off = 0,
				     .path_len = 2,
				     .length = 4096,
				     .buf_off = 1 << 20};
		memcpy(a, "/x", 2);
		switch (i % 9) {
		case 0: /* path outside the arena */
			e.path_off = arena - 1;
			break;
		case 1: /* path_len 0 / huge */
			e.path_len = (i & 1) ? 0 : 0xffffffffu;
			break;
		case 2: { /* a NUL inside */
			memcpy(a, "/ab\0cd", 6);
			e.path_len = 6;
			break;
		}
		case 3: { /* not absolute, "..", "//", trailing "/", "." */
			const char *p = bad_paths[(i / 9) % 5];
			memcpy(a, p, strlen(p));
			e.path_len = (uint32_t)strlen(p);
			break;
		}
		case 4: /* output buffer outside the arena, wrapping */
			e.buf_off = UINT64_MAX - 10;
			break;
		case 5: /* a listing without room for one entry, a stat of the wrong size */
			e.opcode = (i & 1) ? KELP_OP_PATH_LIST : KELP_OP_PATH_STAT;
			e.length = 100;
			break;
		case 6: /* an "after" name on a read; a list "after" with a "/" in it */
			if (i & 1) {
				e.after_len = 3;
			} else {
				e.opcode = KELP_OP_PATH_LIST;
				e.length = sizeof(struct kelp_dirent);
				memcpy(a, "/x/a/b", 6);
				e.path_len = 2;
				e.after_len = 4;
			}
			break;
		case 7: /* random bytes with a path opcode */
			for (size_t b = 0; b < sizeof(e); b++)
				((uint8_t *)&e)[b] = (uint8_t)rand();
			e.opcode = (uint8_t)(KELP_OP_PATH_STAT + rand() % 4);
			break;
		default: /* a file that does not exist, at a garbage offset */
			memcpy(a, "/no-such-file-kelp", 18);
			e.path_len = 18;
			e.offset = ((uint64_t)rand() << 32) | (uint64_t)rand();
			break;
		}
		e.user_data = 0xbad00000u + (uint64_t)i;
		raw_publish(g, &e);
		struct kelp_cqe c = {0};
		int rc = raw_collect(g, &c);
		if (rc == 0 && c.result < 0 && (c.flags & KELP_CQE_F_PATH) &&
		    c.user_data == e.user_data)
			ok++;
		else
			fprintf(stderr,
				"path_client: bad SQE %d (kind %d): rc %d result %d flags "
				"0x%x\n",
				i, i % 9, rc, c.result, c.flags);
	}
	pthread_join(t, NULL);
	printf("bad path SQEs answered with an error: %d/%d\n", ok, count);
	printf("honest reads alongside: %d, mismatches %d, errors %d\n", h.count, h.mismatches,
	       h.errors);
	kelp_close(g);
	return ok == count && h.mismatches == 0 && h.errors == 0 ? 0 : 1;
}

static int cmd_time(const char *path, int n)
{
	struct kelp_session *s = open_session();
	uint8_t *buf = kelp_buf_alloc(s, 1 << 20);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++) {
		ssize_t r = kelp_path_read(s, path, 0, buf, 1 << 20, NULL);
		if (r < 0) {
			fprintf(stderr, "path_client: %s: %s\n", path, kelp_strerror((int)r));
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) /
		    1e3 / n;
	printf("reads %d us_per_read %.1f\n", n, us);
	kelp_close(s);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: path_client SOCKET read|async|bad|time ...\n");
		return 2;
	}
	sock_path = argv[1];
	if (strcmp(argv[2], "read") == 0 && (argc == 7 || argc == 8))
		return cmd_read(argv[3], strtoull(argv[4], NULL, 0),
				(uint32_t)strtoul(argv[5], NULL, 0), argv[6],
				argc == 8 ? atoi(argv[7]) : 1);
	if (strcmp(argv[2], "async") == 0 && argc == 6)
		return cmd_async(argv[3], strtoull(argv[4], NULL, 0),
				 (uint32_t)strtoul(argv[5], NULL, 0));
	if (strcmp(argv[2], "bad") == 0 && argc == 5)
		return cmd_bad(argv[3], atoi(argv[4]));
	if (strcmp(argv[2], "time") == 0 && argc == 5)
		return cmd_time(argv[3], atoi(argv[4]));
	fprintf(stderr, "path_client: bad arguments\n");
	return 2;
}
