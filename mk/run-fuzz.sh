#!/usr/bin/env bash
# Runs each libFuzzer target for a short time, seeded from test/fuzz/corpus/<target>/ when present.
set -u
secs=$1; shift
rc=0
for f in "$@"; do
	name=$(basename "$f")
	work=build/fuzz/work-$name; mkdir -p "$work"
	seeds=(); [ -d "test/fuzz/corpus/$name" ] && seeds=("test/fuzz/corpus/$name")
	if "$f" -max_total_time="$secs" -max_len=65536 -print_final_stats=0 -artifact_prefix="build/fuzz/$name-" \
		"$work" "${seeds[@]}" >"build/fuzz/$name.log" 2>&1; then
		echo "fuzz $name: ok ($(grep -c . "build/fuzz/$name.log") log lines, ${secs}s)"
	else
		echo "fuzz $name: FAILED, see build/fuzz/$name.log"; tail -30 "build/fuzz/$name.log"; rc=1
	fi
done
exit $rc
