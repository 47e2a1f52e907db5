/* SPDX-License-Identifier: Apache-2.0 */
/* kelp-bench's summary: human text or one JSON object. Main thread, after the workers are joined.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "bench/kelp-bench/bench.h"
#include "kelp.h"

static const char *path_name(unsigned p)
{
	static const char *const names[BENCH_PATHS] = {"none", "local", "rdma", "http", "tcp"};
	return p < BENCH_PATHS ? names[p] : "none";
}

static void print_text(const struct bench_opts *o, const struct kelp_hist *h,
		       const struct bench_totals *r)
{
	printf("kelp-bench %s%s%s: %u thread%s x depth %u, %zu target needles, %.2f s\n",
	       o->mode_name, o->label ? " " : "", o->label ? o->label : "", o->threads,
	       o->threads == 1 ? "" : "s", o->depth, r->ntargets, r->secs);
	printf("  ops/s      %12.0f   (%" PRIu64 " reads)\n", r->ops / r->secs, r->ops);
	printf("  MB/s       %12.1f   (%.3f GB/s, %.1f KiB/read)\n", r->bytes / r->secs / 1e6,
	       r->bytes / r->secs / 1e9, r->ops ? r->bytes / 1024.0 / r->ops : 0.0);
	printf("  latency us  p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f  mean %.2f\n",
	       kelp_hist_percentile(h, 50) / 1e3, kelp_hist_percentile(h, 90) / 1e3,
	       kelp_hist_percentile(h, 99) / 1e3, kelp_hist_percentile(h, 99.9) / 1e3,
	       kelp_hist_percentile(h, 100) / 1e3, kelp_hist_mean(h) / 1e3);
	printf("  errors     %12" PRIu64 "\n", r->errors);
	for (unsigned c = 0; c < BENCH_ERRNO_MAX; c++)
		if (r->by_code[c])
			printf("    %8" PRIu64 " x %s (%s)\n", r->by_code[c],
			       c ? kelp_strerror(-(int)c) : "other error",
			       c ? strerrorname_np((int)c) : "?");
	if (r->by_path[1] + r->by_path[2] + r->by_path[3] + r->by_path[BENCH_PATH_TCP])
		printf("  served by  local %" PRIu64 "  rdma %" PRIu64 "  tcp %" PRIu64
		       "  http %" PRIu64 "\n",
		       r->by_path[1], r->by_path[2], r->by_path[BENCH_PATH_TCP], r->by_path[3]);
	if (o->verify)
		printf("  verified   %12" PRIu64 "   (%" PRIu64
		       " failed: wrong size or CRC; %" PRIu64
		       " changed: the needle was overwritten or deleted during the run)\n",
		       r->verified, r->verify_failures, r->verify_changed);
}

static void print_json(const struct bench_opts *o, const struct kelp_hist *h,
		       const struct bench_totals *r)
{
	json_t *lat = json_pack(
		"{s:f,s:f,s:f,s:f,s:f,s:f,s:f}", "p50", kelp_hist_percentile(h, 50) / 1e3, "p90",
		kelp_hist_percentile(h, 90) / 1e3, "p99", kelp_hist_percentile(h, 99) / 1e3, "p999",
		kelp_hist_percentile(h, 99.9) / 1e3, "max", kelp_hist_percentile(h, 100) / 1e3,
		"min", kelp_hist_percentile(h, 0) / 1e3, "mean", kelp_hist_mean(h) / 1e3);
	json_t *codes = json_object();
	for (unsigned c = 0; c < BENCH_ERRNO_MAX; c++)
		if (r->by_code[c])
			json_object_set_new(codes, c ? strerrorname_np((int)c) : "other",
					    json_integer((json_int_t)r->by_code[c]));
	json_t *paths = json_object();
	for (unsigned p = 1; p < BENCH_PATHS; p++) /* 0 = no kelp path (pread, http, nop) */
		if (r->by_path[p])
			json_object_set_new(paths, path_name(p),
					    json_integer((json_int_t)r->by_path[p]));
	double secs = r->secs;
	json_t *root = json_pack(
		"{s:s,s:s?,s:i,s:i,s:f,s:I,s:I,s:I,s:f,s:f,s:f,s:f,s:I,s:o,s:o,s:o}", "mode",
		o->mode_name, "label", o->label, "threads", (int)o->threads, "depth", (int)o->depth,
		"seconds", secs, "ops", (json_int_t)r->ops, "bytes", (json_int_t)r->bytes, "errors",
		(json_int_t)r->errors, "ops_per_sec", r->ops / secs, "mb_per_sec",
		r->bytes / secs / 1e6, "gb_per_sec", r->bytes / secs / 1e9, "avg_read_bytes",
		r->ops ? (double)r->bytes / r->ops : 0.0, "targets", (json_int_t)r->ntargets,
		"latency_us", lat, "errors_by_code", codes, "served_by", paths);
	if (root && o->verify) {
		json_object_set_new(root, "verified", json_integer((json_int_t)r->verified));
		json_object_set_new(root, "verify_failures",
				    json_integer((json_int_t)r->verify_failures));
		json_object_set_new(root, "verify_changed",
				    json_integer((json_int_t)r->verify_changed));
	}
	if (!root) {
		fprintf(stderr, "kelp-bench: cannot build the JSON summary\n");
		return;
	}
	json_dumpf(root, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(root);
}

void bench_report(const struct bench_opts *o, const struct kelp_hist *h,
		  const struct bench_totals *r)
{
	if (o->json)
		print_json(o, h, r);
	else
		print_text(o, h, r);
}
