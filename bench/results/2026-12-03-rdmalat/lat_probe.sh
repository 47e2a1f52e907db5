#!/bin/sh
# Inside the Soft-RoCE VM: where does a depth-1 one-sided read through the kelpd pair spend its
# time? Variants of the pair, each fresh, one at a time, ib_read_lat before each.
set -u
. test/rdma/guest-lib.sh
BIN=build/bin
W=$(mktemp -d /tmp/kelp-lat-probe.XXXXXX)
ITERS=${KELP_BENCH_ITERS:-2000}
. "$KELP_RDMA_WEED_ENV"
echo "nproc $(nproc) clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource) avail $(cat /sys/devices/system/clocksource/clocksource0/available_clocksource)"
cat /proc/cpuinfo | grep -m1 "model name"
EP= RP=
cleanup() { for p in $EP $RP; do kill -CONT "$p"; kill -KILL "$p"; done 2>/dev/null; }
trap cleanup EXIT
# pair NAME PORT EXPORT_EXTRA READER_EXTRA ([engine] lines)
pair() {
	printf '[engine]\nlcores = 1\ncontrol_cpu = -1\nsocket = %s\narena_mb = 8\n%b\n[export]\ndirs = %s\n[rdma]\ndevice = rxe0\ngid_index = 0\nlisten = 169.254.77.1:%s\n' \
		"$W/$1-export.sock" "$3" "$WEED_VS_DIR" "$2" > "$W/$1-export.conf"
	printf '[engine]\nlcores = 0\ncontrol_cpu = -1\nsocket = %s\narena_mb = 8\n%b\n[seaweedfs]\nmaster = %s\nvolume_address = public_url\nhttp_timeout_ms = 20000\n[rdma]\ndevice = rxe1\ngid_index = 0\npeers = %s=169.254.77.1:%s\none_sided = true\nrequest_timeout_ms = 60000\n' \
		"$W/$1-reader.sock" "$4" "$WEED_MASTER_GUEST" "$WEED_VS_GUEST" "$2" > "$W/$1-reader.conf"
	"$BIN/kelpd" -c "$W/$1-export.conf" > "$W/$1-export.log" 2>&1 &
	EP=$!
	wait_tcp_listen "$2" || { cat "$W/$1-export.log"; exit 1; }
	"$BIN/kelpd" -c "$W/$1-reader.conf" > "$W/$1-reader.log" 2>&1 &
	RP=$!
	wait_socket "$W/$1-reader.sock" || { cat "$W/$1-reader.log"; exit 1; }
	kb "$1" 1 20 --wait=0 > /dev/null
	kb "$1" 1 200 --wait=0 > /dev/null
}
kb() {
	n=$1 d=$2 c=$3; shift 3
	"$BIN/kelp-bench" --mode rdma --socket "$W/$n-reader.sock" --fids "$WEED_BENCH_FIDS" --size 4096 \
		--depth "$d" --count "$c" --json -q "$@" > "$W/kb" 2> "$W/kb.err" || { cat "$W/kb.err" "$W/kb"; }
	cat "$W/kb"
}
unpair() {
	kill -CONT $EP $RP 2>/dev/null
	"$BIN/kelpctl" --socket "$W/$1-reader.sock" stats | sed -n '/^latency/,$p'
	"$BIN/kelpctl" --socket "$W/$1-reader.sock" stats | grep -i "polls\|parks" | head -4
	"$BIN/kelpctl" --socket "$W/$1-export.sock" stats | grep -i "polls\|parks" | head -4
	"$BIN/kelpctl" --socket "$W/$1-reader.sock" peers | head -12
	kill -TERM $EP $RP; wait $EP $RP
	grep -h "one-sided" "$W/$1-reader.log" | tail -2
	EP= RP=
}
lat() { sed -n 's/.*"latency_us":{\([^}]*\)}.*/\1/p'; }
# variant NAME PORT EXPORT_EXTRA READER_EXTRA STOP_EXPORT KB_ARGS...
variant() {
	name=$1 port=$2 ee=$3 re=$4 stop=$5; shift 5
	rl=$(perftest_pair ib_read_lat -s 4096 -n "$ITERS" 2>&1 | awk '$1 == 4096 {print $5}')
	pair "$name" "$port" "$ee" "$re"
	[ "$stop" = 1 ] && kill -STOP $EP
	out=$(kb "$name" 1 "$ITERS" "$@")
	[ "$stop" = 1 ] && kill -CONT $EP
	echo "== $name (export stopped: $stop; kb $*): ib_read_lat $rl us; kelp-bench $(echo "$out" | lat) errors $(echo "$out" | sed -n 's/.*"errors":\([0-9]*\).*/\1/p')"
	unpair "$name"
}
for round in 1 2; do
variant base 18600 "" "" 0 --wait=0
variant exstop 18601 "" "" 1 --wait=0
variant rdpark0 18602 "" "idle_park_us = 0" 0 --wait=0
variant clspin 18603 "" "" 0
variant exyield 18604 "idle_yield = true" "" 0 --wait=0
variant exstop_rd0_spin 18605 "" "idle_park_us = 0" 1
done
rm -rf "$W"
