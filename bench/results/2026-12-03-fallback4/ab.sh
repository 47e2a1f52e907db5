#!/usr/bin/env bash
# quick A/B: plain http vs fallback through kelpd (KELPD_BINS list), 4k, depths; CPU per read; parks per read
set -euo pipefail
. "/work/wt/fallback4/bench/prio.sh" "$0" "$@"
cd /work/wt/fallback4
BIN=build/bin
SECS=${SECS:-4}
. test/integ/lib/weed.sh
weed_require
weed_start 1
VDIR=${WEED_VOLUME_DIRS[0]}; VURL=${WEED_VOLUME_URLS[0]}
python3 bench/weed-fill.py --master "$WEED_MASTER" -n "${N4K:-3000}" --size 4096 >"$WEED_DIR/fids.txt"
sleep 1
. test/integ/lib/kelpd.sh
at_exit kelpd_stop
declare -A LABELS=([/tmp/fb4/kelpd-main]=main [build/bin/kelpd]=new8x8 [/tmp/fb4/b4x8/bin/kelpd]=new4x8 [/tmp/fb4/b8x4/bin/kelpd]=new8x4 [/tmp/fb4/b16x1/bin/kelpd]=new16x1 [/tmp/fb4/c16x1/bin/kelpd]=final16x1)
VPID=$(pgrep -f "weed volume.*-dir=$VDIR" | head -n 1)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
for round in $(seq ${ROUNDS:-2}); do
 echo "== round $round load $(cut -d' ' -f1-3 /proc/loadavg) $(date -u +%T)"
 for d in ${DEPTHS:-16 64}; do
  w0=$(cpu_ticks $VPID)
  /usr/bin/time -f "%U %S" -o $WEED_DIR/t.txt $BIN/kelp-bench --cpu 0 -D $SECS -d $d -q --json --mode http --http-server $VURL --fids $WEED_DIR/fids.txt > $WEED_DIR/o.json
  w1=$(cpu_ticks $VPID)
  python3 - $WEED_DIR/o.json $WEED_DIR/t.txt "http d$d" $((w1-w0)) <<'PY'
import json,sys
j=json.load(open(sys.argv[1])); u,s=map(float,open(sys.argv[2]).read().split())
print(f"{sys.argv[3]:22s} ops/s {j['ops_per_sec']:8.0f} client us/read {(u+s)*1e6/j['ops']:6.1f} weed us/read {int(sys.argv[4])*1e4/j['ops']:6.1f}")
PY
 done
 for kb in ${KELPD_BINS:-build/bin/kelpd}; do
  cat >"$WEED_DIR/kelp.conf" <<EOC
[engine]
lcores = 1
control_cpu = -1
idle_park_us = 20
socket = $WEED_DIR/kelpd.sock
arena_mb = 32
[seaweedfs]
master = $WEED_MASTER
force_http = true
[rdma]
device = off
EOC
  KELPD_BIN=$kb kelpd_start "$WEED_DIR/kelp.conf" "$WEED_DIR/kelpd.log"
  $BIN/kelp-bench --socket $WEED_DIR/kelpd.sock --fids $WEED_DIR/fids.txt -n 2000 -q --json >/dev/null
  for d in ${DEPTHS:-16 64}; do
   p0=$($BIN/kelpctl -c $WEED_DIR/kelp.conf --json stats | python3 -c 'import json,sys; j=json.load(sys.stdin); print(sum(l.get("parks",0) for l in j["lcores"]))' 2>/dev/null || echo 0)
   declare -A t0=(); for t in /proc/$KELPD_PID/task/*; do t0[$(basename $t)]=$(awk '{print $14+$15}' $t/stat); done
   w0=$(cpu_ticks $VPID)
   /usr/bin/time -f "%U %S" -o $WEED_DIR/t.txt $BIN/kelp-bench --cpu 0 -D $SECS -d $d -q --json --mode local --size 4096 --wait --socket $WEED_DIR/kelpd.sock --fids $WEED_DIR/fids.txt > $WEED_DIR/o.json
   lc=0; ct=0; for t in /proc/$KELPD_PID/task/*; do n=$(basename $t); v=$(( $(awk '{print $14+$15}' $t/stat) - ${t0[$n]:-0} )); case $(cat $t/comm) in kelp-lcore*) lc=$((lc+v));; *) ct=$((ct+v));; esac; done
   p1=$($BIN/kelpctl -c $WEED_DIR/kelp.conf --json stats | python3 -c 'import json,sys; j=json.load(sys.stdin); print(sum(l.get("parks",0) for l in j["lcores"]))' 2>/dev/null || echo 0)
   w1=$(cpu_ticks $VPID)
   python3 - $WEED_DIR/o.json $WEED_DIR/t.txt "${LABELS[$kb]:-$kb} d$d" $lc $ct $p0 $p1 $((w1-w0)) <<'PY'
import json,sys
j=json.load(open(sys.argv[1])); u,s=map(float,open(sys.argv[2]).read().split()); n=j['ops']
lc,ct,p0,p1,w=map(int,sys.argv[4:9])
print(f"{sys.argv[3]:22s} ops/s {j['ops_per_sec']:8.0f} client us/read {(u+s)*1e6/n:6.1f} kelpd us/read {(lc+ct)*1e4/n:6.1f} (lcore {lc*1e4/n:5.1f} ctl {ct*1e4/n:5.1f}) parks/read {(p1-p0)/n:5.2f} weed us/read {w*1e4/n:6.1f}")
PY
  done
  kelpd_stop
 done
done
