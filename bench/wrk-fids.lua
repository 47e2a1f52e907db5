-- SPDX-License-Identifier: Apache-2.0
-- wrk script for bench/run-http.sh: GET /<fid> over the fids in the file named by $FIDS, in order,
-- with Accept-Encoding: gzip (as kelp-bench --mode http and Go's HTTP client send it).
-- The requests are formatted once, in init (wrk.format needs the Host header wrk.init sets): formatting
-- each one in request() cost wrk about a quarter of its CPU per request (perf, 2026-12-03), and wrk
-- shares the machine with the server it measures.
local reqs, n, i = {}, 0, 0
init = function(args)
	for line in io.lines(os.getenv("FIDS")) do
		if line ~= "" then
			n = n + 1
			reqs[n] = wrk.format("GET", "/" .. line, { ["Accept-Encoding"] = "gzip" })
		end
	end
end
request = function()
	i = i % n + 1
	return reqs[i]
end
-- One JSON line with what kelp-bench --json reports, so plot.py and the table can use it.
done = function(summary, latency, requests)
	local secs = summary.duration / 1e6
	local errors = summary.errors.connect + summary.errors.read + summary.errors.write
		+ summary.errors.status + summary.errors.timeout
	io.write(string.format('{"mode":"wrk","label":"%s","ops":%d,"bytes":%d,"errors":%d,'
		.. '"ops_per_sec":%f,"mb_per_sec":%f,"gb_per_sec":%f,"seconds":%f,'
		.. '"latency_us":{"p50":%f,"p90":%f,"p99":%f,"p999":%f,"max":%f,"mean":%f}}\n',
		os.getenv("LABEL") or "wrk", summary.requests, summary.bytes, errors,
		summary.requests / secs, summary.bytes / secs / 1e6, summary.bytes / secs / 1e9, secs,
		latency:percentile(50), latency:percentile(90), latency:percentile(99),
		latency:percentile(99.9), latency.max, latency.mean))
end
