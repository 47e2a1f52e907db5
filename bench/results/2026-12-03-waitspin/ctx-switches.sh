#!/usr/bin/env bash
# voluntary context switches (= futex sleeps) of kelp-bench --wait, base vs this tree, same kelpd
set -euo pipefail
cd /work/wt/waitspin
BIN=build/bin
. test/integ/lib/kelpd.sh
DIR=$(mktemp -d /tmp/waitspin-ctx.XXXXXX)
trap 'kelpd_stop; rm -rf "$DIR"' EXIT
mkdir -p "$DIR/vol"
$BIN/kelp-vol create "$DIR/vol" 11 --synthetic 20000 --size 4096 >/dev/null
cat >"$DIR/kelp.conf" <<EOC
[engine]
lcores = 1
control_cpu = 0
socket = $DIR/kelpd.sock
arena_mb = 64
[export]
dirs = $DIR/vol
[rdma]
device = off
EOC
kelpd_start "$DIR/kelp.conf" "$DIR/kelpd.log"
cat "$DIR"/vol/*.dat >/dev/null
for r in 1 2 3; do
for side in base new; do
  b=/tmp/waitspin-base/build/bin/kelp-bench; [ $side = new ] && b=$BIN/kelp-bench
  for d in 1 16; do
    /usr/bin/time -f "%U %S %w %c" -o "$DIR/t" $b --cpu 0 -D 2 -q --json -c "$DIR/kelp.conf" --mode local --volume-dir "$DIR/vol" -d $d --wait >"$DIR/j"
    ops=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ops"])' "$DIR/j")
    read -r u s w c <"$DIR/t"
    echo "$side d$d ops $ops ops/s $((ops/2)) vol_ctx $w ($(python3 -c "print(round($w/$ops,4))") per op) cpu_us/op $(python3 -c "print(round(($u+$s)*1e6/$ops,2))")"
  done
done
done
