/* SPDX-License-Identifier: Apache-2.0 */
/*
 * live_volume_reader: reads the fids of a weed manifest (test/integ/lib/weed.sh) straight from a
 * running volume server's directory through core's volume set, while the control loop here calls
 * kelp_volume_set_refresh() every 20 ms: uploads, deletes and vacuums happen meanwhile.
 *
 *   live_volume_reader --dir DIR [--dir DIR...] --manifest FILE --until FILE [--duration S]
 *                      [--settle S]
 * runs until the file --until names exists (the test's writer is done), at most --duration s.
 *
 * Two reader threads pick manifest rows at random; every needle found must have the uploaded bytes
 * (sha256; gzip-stored ones gunzipped) and a good CRC. Not-found is allowed while running (not yet
 * refreshed, or deleted). After the run the set is refreshed until quiet, then every live row must
 * read back exactly and every deleted row must be gone. Exit 0 only if no read ever returned wrong
 * bytes or -EIO and the final check passes; the counters are printed either way.
 */
#include <errno.h>
#include <getopt.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/epoch.h"
#include "core/fid.h"
#include "core/gzip.h"
#include "core/volume.h"

#define MAX_ROWS 4096
#define READERS	 2

struct row {
	struct kelp_fid fid;
	char text[64];
	uint8_t sha[32];
	bool live;
};

static struct {
	pthread_mutex_t lock; /* rows/nrows: reloaded by the control loop, read by readers */
	struct row rows[MAX_ROWS];
	size_t nrows;
	struct kelp_volume_set *set;
	struct kelp_epoch *ep;
	volatile int stop;
	unsigned long long reads, ok, notfound, wrong, eio, other;
} g = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int hex2(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return 0;
}

/* Load the manifest: fid url size sha256 state kind stored_gzip name mime (tab-separated). */
static void load_manifest(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	static struct row tmp[MAX_ROWS];
	size_t n = 0;
	char line[4096];
	while (fgets(line, sizeof(line), f) && n < MAX_ROWS) {
		if (line[0] == '#')
			continue;
		char *fields[9] = {0}, *save = NULL, *p = line;
		for (int i = 0; i < 9 && (fields[i] = strtok_r(p, "\t\n", &save)); i++)
			p = NULL;
		if (!fields[4])
			continue;
		struct row *r = &tmp[n];
		if (kelp_fid_parse(fields[0], strlen(fields[0]), &r->fid) ||
		    hex2(fields[3], r->sha, 32))
			continue;
		snprintf(r->text, sizeof(r->text), "%s", fields[0]);
		r->live = strcmp(fields[4], "live") == 0;
		n++;
	}
	fclose(f);
	pthread_mutex_lock(&g.lock);
	memcpy(g.rows, tmp, n * sizeof(tmp[0]));
	g.nrows = n;
	pthread_mutex_unlock(&g.lock);
}

/* 0 right bytes, -ENOENT, -EIO, -EBADMSG wrong bytes, other -errno. */
static int check_read(const struct row *r)
{
	struct kelp_volume *v = kelp_volume_set_find(g.set, r->fid.volume_id);
	if (!v)
		return -ENOENT;
	struct kelp_needle_ref ref;
	int rc = kelp_volume_find(v, &r->fid, &ref);
	if (rc)
		return rc;
	if (kelp_needle_ref_check_crc(&ref))
		return -EIO;
	const uint8_t *data = ref.data;
	size_t len = ref.data_size;
	uint8_t *plain = NULL;
	if (ref.flags & KELP_NEEDLE_FLAG_GZIP) {
		size_t cap = kelp_gunzip_size(ref.data, ref.data_size) + 1;
		plain = malloc(cap);
		if (!plain || kelp_gunzip(ref.data, ref.data_size, plain, cap, &len)) {
			free(plain);
			return -EBADMSG;
		}
		data = plain;
	}
	uint8_t md[32];
	unsigned mdlen = 0;
	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	free(plain);
	return memcmp(md, r->sha, 32) ? -EBADMSG : 0;
}

static void *reader(void *arg)
{
	int id = kelp_epoch_register(g.ep);
	unsigned seed = (unsigned)(uintptr_t)arg * 7919u + 1;
	if (id < 0)
		abort(); /* registered here for brevity: kelpd registers lcores before starting them
			  */
	while (!g.stop) {
		struct row r;
		pthread_mutex_lock(&g.lock);
		size_t n = g.nrows;
		if (n)
			r = g.rows[(size_t)rand_r(&seed) % n];
		pthread_mutex_unlock(&g.lock);
		if (!n) {
			kelp_epoch_quiescent(g.ep, id);
			usleep(1000);
			continue;
		}
		int rc = check_read(&r);
		__atomic_add_fetch(&g.reads, 1, __ATOMIC_RELAXED);
		switch (rc) {
		case 0:
			__atomic_add_fetch(&g.ok, 1, __ATOMIC_RELAXED);
			break;
		case -ENOENT:
			__atomic_add_fetch(&g.notfound, 1, __ATOMIC_RELAXED);
			break;
		case -EIO:
			__atomic_add_fetch(&g.eio, 1, __ATOMIC_RELAXED);
			fprintf(stderr, "live_volume_reader: %s: -EIO\n", r.text);
			break;
		case -EBADMSG:
			__atomic_add_fetch(&g.wrong, 1, __ATOMIC_RELAXED);
			fprintf(stderr, "live_volume_reader: %s: WRONG BYTES\n", r.text);
			break;
		default:
			__atomic_add_fetch(&g.other, 1, __ATOMIC_RELAXED);
			break;
		}
		/* nothing of the set is held past here: old versions may go */
		kelp_epoch_quiescent(g.ep, id);
		/* leave CPU to weed and the uploads on this small machine; reads still overlap
		 * every refresh, upload and vacuum */
		if ((__atomic_load_n(&g.reads, __ATOMIC_RELAXED) & 63) == 0)
			usleep(500);
	}
	kelp_epoch_unregister(g.ep, id);
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void warn_print(void *arg, const char *msg)
{
	fprintf(stderr, "live_volume_reader: volume: %s\n", msg);
}

int main(int argc, char **argv)
{
	const char *dirs[8], *manifest = NULL, *until = NULL;
	size_t ndirs = 0;
	double duration = 600, settle = 10;
	static const struct option opts[] = {{"dir", required_argument, NULL, 'd'},
					     {"manifest", required_argument, NULL, 'm'},
					     {"duration", required_argument, NULL, 't'},
					     {"settle", required_argument, NULL, 's'},
					     {"until", required_argument, NULL, 'u'},
					     {"help", no_argument, NULL, 'h'},
					     {0}};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'd' && ndirs < 8)
			dirs[ndirs++] = optarg;
		else if (c == 'm')
			manifest = optarg;
		else if (c == 't')
			duration = atof(optarg);
		else if (c == 's')
			settle = atof(optarg);
		else if (c == 'u')
			until = optarg;
		else {
			fprintf(stderr, "usage: live_volume_reader --dir DIR... --manifest FILE "
					"[--until FILE] [--duration S] [--settle S]\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (!ndirs || !manifest) {
		fprintf(stderr, "live_volume_reader: --dir and --manifest are required\n");
		return 2;
	}
	int rc = kelp_volume_set_open(dirs, ndirs, warn_print, NULL, &g.set);
	if (rc) {
		fprintf(stderr, "live_volume_reader: cannot open the volume set: %s\n",
			strerror(-rc));
		return 1;
	}
	rc = kelp_epoch_new(READERS, &g.ep);
	if (rc) {
		fprintf(stderr, "live_volume_reader: epoch: %s\n", strerror(-rc));
		return 1;
	}
	kelp_volume_set_use_epoch(g.set, g.ep);
	load_manifest(manifest);
	pthread_t th[READERS];
	for (uintptr_t i = 0; i < READERS; i++)
		pthread_create(&th[i], NULL, reader, (void *)i);

	unsigned long long changes = 0, refreshes = 0;
	double start = now_s(), last_manifest = start;
	while (now_s() - start < duration && !(until && access(until, F_OK) == 0)) {
		int n = kelp_volume_set_refresh(g.set);
		refreshes++;
		if (n > 0)
			changes += (unsigned long long)n;
		if (now_s() - last_manifest > 0.2) {
			load_manifest(manifest);
			last_manifest = now_s();
		}
		usleep(20000);
	}
	g.stop = 1;
	for (int i = 0; i < READERS; i++)
		pthread_join(th[i], NULL);

	/* settle: refresh until every row reads as the manifest says (or time runs out) */
	load_manifest(manifest);
	unsigned long long bad_final = 0;
	double t0 = now_s();
	do {
		kelp_volume_set_refresh(g.set);
		bad_final = 0;
		for (size_t i = 0; i < g.nrows; i++) {
			int r = check_read(&g.rows[i]);
			if (g.rows[i].live ? r != 0 : r != -ENOENT)
				bad_final++;
		}
		if (bad_final)
			usleep(100000);
	} while (bad_final && now_s() - t0 < settle);
	for (size_t i = 0; i < g.nrows && bad_final; i++) {
		int r = check_read(&g.rows[i]);
		if (g.rows[i].live ? r != 0 : r != -ENOENT)
			fprintf(stderr, "live_volume_reader: final: %s (%s) reads as %s\n",
				g.rows[i].text, g.rows[i].live ? "live" : "deleted", strerror(-r));
	}
	printf("reads %llu ok %llu notfound %llu wrong %llu eio %llu other %llu; refreshes %llu "
	       "changes %llu; volumes %zu; final: %zu rows, %llu bad\n",
	       g.reads, g.ok, g.notfound, g.wrong, g.eio, g.other, refreshes, changes,
	       kelp_volume_set_count(g.set), g.nrows, bad_final);
	kelp_volume_set_close(g.set);
	kelp_epoch_free(g.ep);
	return (g.wrong || g.eio || bad_final || !g.ok) ? 1 : 0;
}
