/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A libkelp client for the integration scripts (test/integ/test_kelpd_*.sh):
 *   kelp_client SOCKET read [--out DIR] FID...   one line per fid: "FID RESULT SIZE FLAGS" (RESULT
 * = bytes or -errno); with --out, data to DIR/FID kelp_client SOCKET hammer FID DEPTH          read
 * FID forever at DEPTH in flight; prints "ready" after the first completions; exits 3 with a
 * message when the session ends (kelpd stopped or died) kelp_client SOCKET hold open a session,
 * print "ready", keep it open until stdin ends (for tests that look at kelpd meanwhile) kelp_client
 * SOCKET garbage FID COUNT         a hostile session writes COUNT bad SQEs straight into its ring
 * (random bytes, out-of-arena buffers, huge lengths, bad opcodes) and must get an error CQE for
 *                                              each, while a second session reads FID COUNT times
 * and must get the same bytes every time; then a third session publishes an impossible ring index
 * and must be told -EPROTO. Exit 0 when all of it holds. kelp_client SOCKET doorbell ATTACK FID
 * COUNT  a hostile session attacks the doorbell eventfd it got in the welcome (ATTACK: saturate =
 * write 0xfffffffffffffffe into it; steal = a thread reads it in a loop; nonblock = toggle
 * O_NONBLOCK on it), prints "attacking", then an honest session reads FID COUNT times, pausing 5 ms
 * before each read so a parking lcore is asleep when it arrives; each read must complete within 10
 * s. Prints "honest reads: N ok, M failed"; keeps the attack up until stdin closes; exit 0 when
 * every read was right. kelp_client SOCKET scribble FID COUNT        a hostile session writes
 * random values into random words of everything it shares with kelpd but the arena (header, both
 * rings' control lines and slots) and rings its doorbell, COUNT x 1000 times, while an honest
 * session reads FID COUNT times: every read must give the same bytes. Prints "scribbled N words;
 *                                              honest reads: N ok, M wrong, E errors"; exit 0 when
 *                                              all honest reads were right.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kelp.h"
#include "shm/session.h" /* the garbage client needs the raw ring; applications never do */

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
		fprintf(stderr, "kelp_client: connect %s: %s\n", sock_path, kelp_last_error());
		exit(2);
	}
	return s;
}

static struct kelp_fid parse_fid(const char *t)
{
	struct kelp_fid f;
	if (kelp_fid_parse(t, strlen(t), &f) != 0) {
		fprintf(stderr, "kelp_client: bad fid %s\n", t);
		exit(2);
	}
	return f;
}

static int cmd_read(int argc, char **argv)
{
	const char *out_dir = NULL;
	int i = 0;
	if (argc >= 2 && strcmp(argv[0], "--out") == 0) {
		out_dir = argv[1];
		i = 2;
	}
	struct kelp_session *s = open_session();
	struct kelp_session_info info;
	kelp_session_info(s, &info);
	uint32_t cap = info.max_io < (16u << 20) ? info.max_io : (16u << 20);
	uint8_t *buf = kelp_buf_alloc(s, cap);
	for (; i < argc; i++) {
		struct kelp_fid f = parse_fid(argv[i]);
		struct kelp_cqe c = {0};
		ssize_t n = kelp_read(s, &f, 0, buf, cap, &c);
		printf("%s %zd %llu 0x%x\n", argv[i], n, (unsigned long long)c.size, c.flags);
		if (n >= 0 && out_dir) {
			char p[4096];
			snprintf(p, sizeof(p), "%s/%s", out_dir, argv[i]);
			FILE *fp = fopen(p, "wb");
			if (!fp || fwrite(buf, 1, (size_t)n, fp) != (size_t)n || fclose(fp) != 0) {
				fprintf(stderr, "kelp_client: write %s failed\n", p);
				return 1;
			}
		}
	}
	kelp_close(s);
	return 0;
}

static int cmd_hammer(const char *fid_text, int depth)
{
	struct kelp_fid f = parse_fid(fid_text);
	struct kelp_session *s = open_session();
	uint8_t *buf = kelp_buf_alloc(s, 1 << 20);
	for (int i = 0; i < depth; i++)
		kelp_queue_read(s, &f, 0, buf, 1 << 20, (uint64_t)i);
	uint64_t done = 0;
	for (;;) {
		struct kelp_cqe c[64];
		int n = kelp_wait(s, c, 64, -1);
		if (n < 0) {
			printf("session ended: %s (%d)\n", kelp_strerror(n), n);
			fflush(stdout);
			kelp_close(s);
			return 3;
		}
		for (int i = 0; i < n; i++) {
			if (c[i].result < 0) {
				printf("read error: %s\n", kelp_strerror(c[i].result));
				kelp_close(s);
				return 1;
			}
			kelp_queue_read(s, &f, 0, buf, 1 << 20, c[i].user_data);
		}
		if (done < 1000 && done + (uint64_t)n >= 1000) {
			printf("ready\n");
			fflush(stdout);
		}
		done += (uint64_t)n;
	}
}

static int cmd_hold(void)
{
	struct kelp_session *s = open_session();
	uint8_t *buf = kelp_buf_alloc(s, 1 << 20);
	printf("ready\n");
	fflush(stdout);
	/* "read FID" lines read through the held session, answered like `read` ("FID N SIZE
	 * FLAGS"), so a test can check the session still serves after something happened to kelpd
	 */
	char line[256];
	while (fgets(line, sizeof(line), stdin)) {
		char fid[128];
		if (sscanf(line, "read %127s", fid) != 1)
			continue;
		struct kelp_fid f = parse_fid(fid);
		struct kelp_cqe c = {0};
		ssize_t n = buf ? kelp_read(s, &f, 0, buf, 1 << 20, &c) : -ENOMEM;
		printf("%s %zd %llu 0x%x\n", fid, n, (unsigned long long)c.size, c.flags);
		fflush(stdout);
	}
	kelp_close(s);
	return 0;
}

/* ---- garbage ------------------------------------------------------------------------------ */

struct reader_arg {
	struct kelp_fid fid;
	int count;
	int mismatches;
	int errors;
};

static void *reader(void *arg)
{
	struct reader_arg *a = arg;
	struct kelp_session *s = open_session();
	uint8_t *buf = kelp_buf_alloc(s, 1 << 20);
	uint8_t *first = NULL;
	ssize_t first_len = -1;
	for (int i = 0; i < a->count; i++) {
		struct kelp_cqe c;
		ssize_t n = kelp_read(s, &a->fid, 0, buf, 1 << 20, &c);
		if (n < 0) {
			a->errors++;
			continue;
		}
		if (!first) {
			first = malloc((size_t)n + 1);
			memcpy(first, buf, (size_t)n);
			first_len = n;
		} else if (n != first_len || memcmp(first, buf, (size_t)n) != 0) {
			a->mismatches++;
		}
	}
	free(first);
	kelp_close(s);
	return NULL;
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

/* Wait for the one CQE of the last raw SQE, straight from the ring. Return its result. */
static int raw_collect(struct kelp_session *s, uint64_t *user_data)
{
	for (;;) {
		int avail = kelp_ring_cons_avail(&s->cq);
		if (avail < 0)
			return -EPROTO;
		if (avail > 0) {
			const struct kelp_cqe *c = kelp_ring_cons_slot(&s->cq, 0);
			int r = c->result;
			*user_data = c->user_data;
			kelp_ring_cons_release(&s->cq, 1);
			return r;
		}
		if (kelp_session_check_alive(s, 0) != 0)
			return -ECONNRESET;
	}
}

static int cmd_garbage(const char *fid_text, int count)
{
	struct reader_arg ra = {.fid = parse_fid(fid_text), .count = count};
	pthread_t t;
	pthread_create(&t, NULL, reader, &ra);

	struct kelp_session *g = open_session();
	uint64_t arena = g->arena_size;
	int bad_ok = 0, bad_total = 0;
	srand(1234);
	for (int i = 0; i < count; i++) {
		struct kelp_sqe e;
		switch (i % 5) {
		case 0: /* random bytes */
			for (size_t b = 0; b < sizeof(e); b++)
				((uint8_t *)&e)[b] = (uint8_t)rand();
			if (e.opcode == KELP_OP_NOP)
				e.opcode = 200; /* a random valid NOP would rightly succeed */
			break;
		case 1: /* buffer past the arena */
			e = (struct kelp_sqe){.opcode = KELP_OP_READ,
					      .volume_id = ra.fid.volume_id,
					      .key = ra.fid.key,
					      .cookie = ra.fid.cookie,
					      .length = 8192,
					      .buf_off = arena - 4096};
			break;
		case 2: /* huge length */
			e = (struct kelp_sqe){.opcode = KELP_OP_READ,
					      .volume_id = ra.fid.volume_id,
					      .key = ra.fid.key,
					      .cookie = ra.fid.cookie,
					      .length = 0xfffffff0u};
			break;
		case 3: /* buffer offset that wraps */
			e = (struct kelp_sqe){.opcode = KELP_OP_READ,
					      .volume_id = ra.fid.volume_id,
					      .key = ra.fid.key,
					      .cookie = ra.fid.cookie,
					      .length = 64,
					      .buf_off = UINT64_MAX - 32};
			break;
		default: /* unknown opcode */
			e = (struct kelp_sqe){.opcode = (uint8_t)(3 + rand() % 250)};
			break;
		}
		e.user_data = 0xabc00000u + (uint64_t)i;
		raw_publish(g, &e);
		uint64_t ud = 0;
		int r = raw_collect(g, &ud);
		bad_total++;
		if (r < 0 && r != -EPROTO && r != -ECONNRESET && ud == e.user_data)
			bad_ok++;
		else
			fprintf(stderr,
				"kelp_client: bad SQE %d (kind %d) got result %d user_data %llx\n",
				i, i % 5, r, (unsigned long long)ud);
	}
	pthread_join(t, NULL);

	/* a session that publishes an impossible tail is stopped, and told so */
	struct kelp_session *h = open_session();
	__atomic_store_n(&h->sq.ctl->tail, h->sq.ctl->tail + 100000, __ATOMIC_RELEASE);
	uint64_t one = 1;
	(void)!write(h->doorbell_fd, &one, sizeof(one));
	/* a deadline, not a count of polls: a loaded machine may take long to schedule the lcore */
	int proto = 0;
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		struct kelp_cqe c;
		if (kelp_poll(h, &c, 1) == -EPROTO)
			proto = 1;
		else
			usleep(1000);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (!proto && now.tv_sec - t0.tv_sec < 60);
	/* the garbage session itself still works for honest requests */
	struct kelp_cqe c;
	uint8_t *buf = kelp_buf_alloc(g, 1 << 20);
	ssize_t n = kelp_read(g, &ra.fid, 0, buf, 1 << 20, &c);

	printf("bad SQEs answered with an error: %d/%d\n", bad_ok, bad_total);
	printf("honest reads alongside: %d, mismatches %d, errors %d\n", ra.count, ra.mismatches,
	       ra.errors);
	printf("impossible ring index -> -EPROTO: %s\n", proto ? "yes" : "no");
	printf("garbage session still reads: %s\n", n >= 0 ? "yes" : kelp_strerror((int)n));
	fflush(stdout);
	int ok = bad_ok == bad_total && ra.mismatches == 0 && ra.errors == 0 && proto && n >= 0;
	/* keep h open until the script looked at kelpctl sessions: it waits for our stdin to close
	 */
	if (ok) {
		char tmp[16];
		while (read(0, tmp, sizeof(tmp)) > 0)
			;
	}
	kelp_close(h);
	kelp_close(g);
	return ok ? 0 : 1;
}

static volatile int thief_stop;

/* Read the doorbell whenever it is readable: on a shared eventfd this would eat other sessions'
 * wake-ups; on a session's own doorbell it can only eat its own. */
static void *doorbell_thief(void *arg)
{
	int fd = *(int *)arg;
	while (!thief_stop) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		uint64_t v;
		if (poll(&p, 1, 100) == 1)
			(void)!read(fd, &v, sizeof(v));
	}
	return NULL;
}

static int cmd_doorbell(const char *attack, const char *fid_text, int count)
{
	struct kelp_fid fid = parse_fid(fid_text);
	struct kelp_session *a = open_session();
	pthread_t thief;
	int thief_started = 0;
	if (strcmp(attack, "saturate") == 0) {
		uint64_t huge = 0xfffffffffffffffeull; /* the largest value an eventfd accepts */
		if (write(a->doorbell_fd, &huge, sizeof(huge)) != sizeof(huge))
			fprintf(stderr, "kelp_client: saturate: %s\n", strerror(errno));
	} else if (strcmp(attack, "steal") == 0) {
		if (pthread_create(&thief, NULL, doorbell_thief, &a->doorbell_fd) != 0)
			return 2;
		thief_started = 1;
	} else if (strcmp(attack, "nonblock") == 0) {
		int fl = fcntl(a->doorbell_fd, F_GETFL);
		fcntl(a->doorbell_fd, F_SETFL, (fl ^ O_NONBLOCK));
	} else {
		fprintf(stderr, "kelp_client: unknown attack %s\n", attack);
		return 2;
	}
	printf("attacking\n");
	fflush(stdout);

	struct kelp_session *b = open_session();
	uint8_t *buf = kelp_buf_alloc(b, 1 << 20);
	int ok = 0, failed = 0;
	for (int i = 0; i < count; i++) {
		usleep(5000);
		struct kelp_cqe c;
		int rc = kelp_queue_read(b, &fid, 0, buf, 1 << 20, (uint64_t)i);
		if (rc == 0)
			rc = kelp_submit(b) == 1 ? 0 : -EIO;
		if (rc == 0)
			rc = kelp_wait(b, &c, 1, 10000);
		if (rc == 1 && c.result > 0 && c.user_data == (uint64_t)i) {
			ok++;
		} else {
			failed++;
			fprintf(stderr, "kelp_client: honest read %d: %s\n", i,
				kelp_strerror(rc == 1	? c.result
					      : rc == 0 ? -ETIMEDOUT
							: rc));
			if (rc != 1)
				break; /* a timed-out read stays in flight: the session is no use
					  now */
		}
	}
	printf("honest reads: %d ok, %d failed\n", ok, failed);
	fflush(stdout);
	char tmp[16];
	while (read(0, tmp, sizeof(tmp)) > 0)
		; /* hold the attack until the script has looked at kelpd */
	if (thief_started) {
		thief_stop = 1;
		pthread_join(thief, NULL);
	}
	kelp_close(b);
	kelp_close(a);
	return failed == 0 && ok == count ? 0 : 1;
}

struct scribble_arg {
	struct kelp_session *s;
	long words;
	volatile int stop;
};

static void *scribbler(void *arg)
{
	struct scribble_arg *a = arg;
	uint32_t *seg = (uint32_t *)a->s->seg;
	size_t nwords = a->s->hdr->arena_off / 4; /* read once: we are about to overwrite it */
	uint64_t x = 0x9e3779b97f4a7c15ull;
	while (!a->stop) {
		for (int i = 0; i < 1000; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
			__atomic_store_n(&seg[(x >> 32) % nwords], (uint32_t)x, __ATOMIC_RELAXED);
			a->words++;
		}
		uint64_t one = 1;
		(void)!write(a->s->doorbell_fd, &one, sizeof(one));
	}
	return NULL;
}

static int cmd_scribble(const char *fid_text, int count)
{
	struct kelp_fid fid = parse_fid(fid_text);
	struct kelp_session *b = open_session();
	uint8_t *buf = kelp_buf_alloc(b, 1 << 20);
	struct kelp_cqe c;
	ssize_t want_n = kelp_read(b, &fid, 0, buf, 1 << 20, &c);
	if (want_n <= 0) {
		fprintf(stderr, "kelp_client: first read: %s\n", kelp_strerror((int)want_n));
		return 2;
	}
	uint8_t *want = malloc((size_t)want_n);
	memcpy(want, buf, (size_t)want_n);

	struct scribble_arg a = {.s = open_session()};
	pthread_t t;
	if (pthread_create(&t, NULL, scribbler, &a) != 0)
		return 2;
	int ok = 0, wrong = 0, errors = 0;
	for (int i = 0; i < count; i++) {
		memset(buf, 0, (size_t)want_n);
		ssize_t n = kelp_read(b, &fid, 0, buf, 1 << 20, &c);
		if (n < 0)
			errors++;
		else if (n != want_n || memcmp(buf, want, (size_t)n) != 0)
			wrong++;
		else
			ok++;
	}
	a.stop = 1;
	pthread_join(t, NULL);
	printf("scribbled %ld words; honest reads: %d ok, %d wrong, %d errors\n", a.words, ok,
	       wrong, errors);
	kelp_close(a.s); /* unmaps; nothing of its (scribbled) header is trusted */
	kelp_close(b);
	free(want);
	return ok == count ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr,
			"usage: kelp_client SOCKET read [--out DIR] FID... | hold | hammer FID "
			"DEPTH "
			"| garbage FID COUNT | doorbell ATTACK FID COUNT | scribble FID COUNT\n");
		return 2;
	}
	sock_path = argv[1];
	if (strcmp(argv[2], "read") == 0)
		return cmd_read(argc - 3, argv + 3);
	if (strcmp(argv[2], "hold") == 0 && argc == 3)
		return cmd_hold();
	if (strcmp(argv[2], "hammer") == 0 && argc == 5)
		return cmd_hammer(argv[3], atoi(argv[4]));
	if (strcmp(argv[2], "garbage") == 0 && argc == 5)
		return cmd_garbage(argv[3], atoi(argv[4]));
	if (strcmp(argv[2], "scribble") == 0 && argc == 5)
		return cmd_scribble(argv[3], atoi(argv[4]));
	if (strcmp(argv[2], "doorbell") == 0 && argc == 6)
		return cmd_doorbell(argv[3], argv[4], atoi(argv[5]));
	fprintf(stderr,
		"kelp_client: bad arguments (see the comment at the top of kelp_client.c)\n");
	return 2;
}
