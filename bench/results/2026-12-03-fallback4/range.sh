#!/usr/bin/env bash
set -euo pipefail
cd /work/wt/fallback4
BIN=build/bin
. test/integ/lib/weed.sh
weed_require
weed_start 1
VDIR=${WEED_VOLUME_DIRS[0]}; VURL=${WEED_VOLUME_URLS[0]}
python3 bench/weed-fill.py --master "$WEED_MASTER" -n 3000 --size 4096 >"$WEED_DIR/fids.txt"
sleep 1
VPID=$(pgrep -f "weed volume.*-dir=$VDIR" | head -n 1)
for r in 1 2 3 4 5 6; do
 for v in "norange:" "range:--size 4095"; do
  lab=${v%%:*}; args=${v#*:}
  w0=$(awk '{print $14+$15}' /proc/$VPID/stat)
  $BIN/kelp-bench --cpu 0 -D 4 -d 16 -q --json --mode http --http-server $VURL --volume-dir $VDIR --fids $WEED_DIR/fids.txt $args > $WEED_DIR/o.json
  w1=$(awk '{print $14+$15}' /proc/$VPID/stat)
  python3 -c "import json; j=json.load(open('$WEED_DIR/o.json')); print('$lab', 'ops/s', int(j['ops_per_sec']), 'weed us/op', round(($w1-$w0)*1e4/j['ops'],1))"
 done
done
