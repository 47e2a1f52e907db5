#!/usr/bin/env bash
# syscall counts per read: kelpd threads and client, fallback 4k. usage: count.sh OUTDIR DEPTH [TREE...]
set -euo pipefail
OUT=$1; D=$2; shift 2
mkdir -p $OUT
cd /tmp/f5main
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
EV=task-clock,context-switches,syscalls:sys_enter_futex,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_write,syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom
for r in ${ROUNDS:-1}; do
perf stat -e $EV -o $OUT/plain-$r.txt build/bin/kelp-bench --cpu 0 -D 4 -d $D -q --json --mode http --http-server $VURL $FIDS > $OUT/plain-$r.json
for V in "$@"; do
  T=${V%%:*}; W=${V#*:}; [ "$W" = "$V" ] && W=0
  export KELP_EXP_QUIET_MS=$W
  KELPD_BIN=$T/build/bin/kelpd
  tag=$(basename $T)-$W
  kelpd_start "$WEED_DIR/kelp.conf" "$WEED_DIR/kelpd.log"
  build/bin/kelp-bench --cpu 0 -D 1 -d $D -q --json --mode local --wait -c $WEED_DIR/kelp.conf $FIDS >/dev/null
  perf stat --per-thread -e $EV -p $KELPD_PID -o $OUT/kelpd-$tag-$r.txt -- sleep 4.3 & PS=$!
  sleep 0.1
  perf stat -e $EV -o $OUT/client-$tag-$r.txt $T/build/bin/kelp-bench --cpu 0 -D 4 -d $D -q --json --mode local --wait -c $WEED_DIR/kelp.conf $FIDS > $OUT/fb-$tag-$r.json
  wait $PS || true
  kelpd_stop
done
done
