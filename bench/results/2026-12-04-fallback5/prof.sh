#!/usr/bin/env bash
# profile: plain client vs kelpd fallback at 4k. usage: prof.sh OUTDIR [DEPTH]; TREE= the tree whose build runs
set -euo pipefail
TREE=${TREE:-/tmp/f5main}
cd $TREE
BIN=build/bin
OUT=$1; D=${2:-16}; SECS=${SECS:-4}
mkdir -p $OUT
. test/integ/lib/weed.sh
weed_require
weed_start 1
VDIR=${WEED_VOLUME_DIRS[0]}; VURL=${WEED_VOLUME_URLS[0]}
python3 bench/weed-fill.py --master "$WEED_MASTER" -n 5000 --size 4096 >"$WEED_DIR/fids4k.txt"
sleep 1; cat "$VDIR"/*.dat >/dev/null
VPID=$(pgrep -f "weed volume.*-dir=$VDIR" | head -n 1)
. test/integ/lib/kelpd.sh
at_exit kelpd_stop
cat >"$WEED_DIR/kelp.conf" <<EOC
[engine]
lcores = 1
control_cpu = -1
idle_park_us = 20
socket = $WEED_DIR/kelpd.sock
arena_mb = 32
[export]
dirs = $VDIR
[seaweedfs]
master = $WEED_MASTER
force_http = true
[rdma]
device = off
EOC
FIDS="--volume-dir $VDIR --fids $WEED_DIR/fids4k.txt"
echo "load $(cat /proc/loadavg) $(date -u)" > $OUT/info.txt
vt() { awk '{print $14+$15}' /proc/$VPID/stat; }
# weed's view of the requests
strace -f -e trace=read,write -s 400 -o $OUT/weed-plain-io.txt -p $VPID & SP=$!; sleep 0.5
$BIN/kelp-bench --cpu 0 -D 1 -d $D -q --json --mode http --http-server $VURL $FIDS > /dev/null
kill -INT $SP; wait $SP || true
strace -c -f -o $OUT/strace-plain.txt $BIN/kelp-bench --cpu 0 -D $SECS -d $D -q --json --mode http --http-server $VURL $FIDS > $OUT/plain-strace.json
perf record -g -o $OUT/perf-plain.data -- $BIN/kelp-bench --cpu 0 -D $SECS -d $D -q --json --mode http --http-server $VURL $FIDS > $OUT/plain-perf.json 2>/dev/null
v0=$(vt)
perf stat -e task-clock,context-switches,cpu-migrations -o $OUT/pstat-plain.txt $BIN/kelp-bench --cpu 0 -D $SECS -d $D -q --json --mode http --http-server $VURL $FIDS > $OUT/plain.json
echo "weed ticks plain $(( $(vt) - v0 ))" >> $OUT/info.txt
kelpd_start "$WEED_DIR/kelp.conf" "$WEED_DIR/kelpd.log"
$BIN/kelp-bench --cpu 0 -D 1 -d $D -q --json --mode local ${WAIT:---wait} -c $WEED_DIR/kelp.conf $FIDS >/dev/null # warm
strace -f -e trace=read,write -s 400 -o $OUT/weed-fb-io.txt -p $VPID & SP=$!; sleep 0.5
$BIN/kelp-bench --cpu 0 -D 1 -d $D -q --json --mode local ${WAIT:---wait} -c $WEED_DIR/kelp.conf $FIDS >/dev/null
kill -INT $SP; wait $SP || true
strace -c -f -o $OUT/strace-kelpd.txt -p $KELPD_PID & SP=$!
sleep 0.5
$BIN/kelp-bench --cpu 0 -D $SECS -d $D -q --json --mode local ${WAIT:---wait} -c $WEED_DIR/kelp.conf $FIDS > $OUT/fb-strace.json
kill -INT $SP; wait $SP || true
perf record -g -p $KELPD_PID -o $OUT/perf-kelpd.data -- sleep $((SECS)) 2>/dev/null & PP=$!
$BIN/kelp-bench --cpu 0 -D $SECS -d $D -q --json --mode local ${WAIT:---wait} -c $WEED_DIR/kelp.conf $FIDS > $OUT/fb-perf.json
wait $PP || true
perf stat --per-thread -e task-clock,context-switches,cpu-migrations -p $KELPD_PID -o $OUT/pstat-kelpd.txt -- sleep $SECS & PS=$!
for t in /proc/$KELPD_PID/task/*; do echo "$(cat $t/comm) $(cat $t/schedstat)"; done > $OUT/sched0.txt
k0=$(awk '{print $14+$15}' /proc/$KELPD_PID/stat); v0=$(vt)
/usr/bin/time -f "%U %S" -o $OUT/time-fb.txt $BIN/kelp-bench --cpu 0 -D $SECS -d $D -q --json --mode local ${WAIT:---wait} -c $WEED_DIR/kelp.conf $FIDS > $OUT/fb.json
k1=$(awk '{print $14+$15}' /proc/$KELPD_PID/stat)
echo "weed ticks fb $(( $(vt) - v0 ))" >> $OUT/info.txt
for t in /proc/$KELPD_PID/task/*; do echo "$(cat $t/comm) $(cat $t/schedstat)"; done > $OUT/sched1.txt
wait $PS || true
echo "kelpd ticks $((k1-k0))" >> $OUT/info.txt
$BIN/kelpctl -c $WEED_DIR/kelp.conf stats > $OUT/stats.txt 2>&1 || true
kelpd_stop
