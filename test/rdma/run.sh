#!/usr/bin/env bash
# kelp's RDMA tests and benchmark on Soft-RoCE, in a throwaway QEMU VM (host kernels here lack RDMA).
# Build on the host (`make all`), run in the VM. See ../shared/docs/rdma-testing.md for the recipe.
set -euo pipefail

usage() {
	cat <<'USAGE'
usage: test/rdma/run.sh COMMAND
  test              run every RDMA test (test/rdma/tests.sh) in one VM run; exit 0 only if all pass
                    (a test that skips fails the run unless KELP_ALLOW_SKIP accepts it)
  bench             perftest baseline (ib_read_lat, ib_read_bw at 4 KiB, rxe0<->rxe1) and kelp's RDMA
                    reads (kelp-rdma; and kelp-bench --mode rdma through a reader kelpd and an export
                    kelpd when weed runs on the host), alternating, in the same VM run
                    (test/rdma/bench.sh; KELP_BENCH_ROUNDS, KELP_BENCH_ITERS); runs at nice -10 in
                    its own scheduling group (bench/prio.sh)
  test-if-possible  `test` when QEMU can run here; otherwise say why it is skipped, and fail unless
                    KELP_ALLOW_SKIP accepts it (rdma or rdma-vm; mk/test-lib.sh)
  exec CMD [ARG...] run one command in the VM (cwd = repository, rxe0/rxe1 up), e.g. `exec ibv_devices`
  help              this text
The kernel (Debian linux-image-amd64's target) and the initramfs are cached in build/rdma-vm/
(KELP_RDMA_VM_DIR overrides). The VM runs under TCG (~10-15x slower than the host); its network card is
QEMU user-mode networking, through which it reaches the real SeaweedFS that `test` and `exec` start on the
host (KELP_RDMA_WEED=0: do not start it). KELP_VM_TIMEOUT: seconds before the VM is killed (test: 2400,
exec: 600).
USAGE
}

# The benchmark runs in its own scheduling group at nice -10 (bench/prio.sh): the VM's vCPU
# threads otherwise lose whole time slices to other people's work on a shared host.
if [ "${1:-}" = bench ]; then
	# shellcheck source=bench/prio.sh
	. "$(dirname "$0")/../../bench/prio.sh" "$0" "$@"
fi
RDMA_DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$RDMA_DIR/../.." && pwd)
VM_DIR=${KELP_RDMA_VM_DIR:-$REPO/build/rdma-vm}
RDMA_DATA=$REPO/build/rdma-data # test volumes; in the repository so the guest sees them
# shellcheck source=test/rdma/vm.sh
. "$RDMA_DIR/vm.sh"
# shellcheck source=test/rdma/host-weed.sh
. "$RDMA_DIR/host-weed.sh"
# shellcheck source=mk/test-lib.sh
. "$REPO/mk/test-lib.sh"


run_in_vm() {
	local timeout_s=$1; shift
	local why
	if ! why=$(vm_why_not); then
		echo "rdma: cannot run the VM: $why" >&2
		return 2
	fi
	vm_prepare || { echo "rdma: could not prepare the VM kernel/initramfs (see above)" >&2; return 2; }
	vm_run "$timeout_s" "$@"
}

# Real SeaweedFS on the host for the guest (host-weed.sh), unless KELP_RDMA_WEED=0 or weed is not
# installed (the test that needs it then skips). Stopped when this script exits.
start_weed() {
	[ "${KELP_RDMA_WEED:-1}" != 0 ] || return 0
	[ -x "$(bash "$REPO/mk/weed-path.sh" 2>/dev/null)" ] ||
		{ echo "rdma: no weed binary (make deps): the kelpd RDMA read test will skip" >&2; return 0; }
	host_weed_start || { echo "rdma: could not start SeaweedFS on the host (see above)" >&2; return 2; }
}

# 4 KiB needles in the host's SeaweedFS for the benchmark's kelpd-to-kelpd rows (bench.sh reads
# them through a reader kelpd; their fids are in $WEED_BENCH_FIDS). Nothing when weed is not up.
weed_bench_needles() {
	[ -n "$HOST_WEED_ENV" ] || return 0
	local d=$WEED_DIR/upload i
	mkdir -p "$d"
	: > "$WEED_DIR/bench4k.fids"
	for i in $(seq 1 16); do
		head -c 4096 /dev/urandom > "$d/bench4k$i.bin"
		weed_upload "$d/bench4k$i.bin" bench4k >> "$WEED_DIR/bench4k.fids" || return 1
	done
	# Then needles that are not read, so that no benchmark needle lies in the last page of its
	# volume: the export kelpd registers whole pages below the one the volume server appends to
	# (one-sided reads), and a volume's last needle is read two-sided. In a real volume that page
	# is a vanishing share of the needles; here, with a few needles per volume, it was a quarter
	# to a half of them. weed spreads uploads at random over its ~7 writable volumes: 32 fillers
	# leave one of them without a filler in ~5 % of runs (its last needle is then read
	# two-sided, as before; kelpctl peers at the end of bench.sh shows it).
	for i in $(seq 1 32); do
		head -c 4096 /dev/urandom > "$d/filler4k$i.bin"
		weed_upload "$d/filler4k$i.bin" filler4k > /dev/null || return 1
	done
	echo "WEED_BENCH_FIDS=$WEED_DIR/bench4k.fids" >> "$HOST_WEED_ENV"
}

# report_vm_tests CONSOLE_LOG RC: this suite's summary (test_report) from the guest's console:
# tests.sh's closing "rdma: N passed, N failed, N skipped" line, and the name of each test that
# printed "   skipped" (with its last "skip: " line). A VM that gave no such line (crash, timeout)
# counts as one failure.
report_vm_tests() {
	local log=$1 rc=$2 line p f skipped=()
	line=$(tr -d '\r' < "$log" | grep -a -E '^rdma: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped' | tail -1)
	if [ -z "$line" ]; then
		test_report rdma 0 1
		return
	fi
	p=$(echo "$line" | sed -E 's/^rdma: ([0-9]+) passed, ([0-9]+) failed.*/\1/')
	f=$(echo "$line" | sed -E 's/^rdma: ([0-9]+) passed, ([0-9]+) failed.*/\2/')
	[ "$rc" -eq 0 ] || [ "$f" -gt 0 ] || f=1
	mapfile -t skipped < <(tr -d '\r' < "$log" | awk '
		/^== / { name = substr($0, 4); reason = "no reason given" }
		/^skip: / { reason = substr($0, 7) }
		/^   skipped$/ { print name "\t" reason }')
	test_report rdma "$p" "$f" "${skipped[@]}"
}

# Volumes and expected bytes for the tests, made on the host (fast) into the shared repository.
prepare_data() {
	[ -x "$REPO/build/bin/kelp-rdma" ] && [ -x "$REPO/build/bin/kelp-vol" ] ||
		{ echo "rdma: build first (make all)" >&2; return 2; }
	(cd "$REPO" && test/rdma/prepare-data.sh "$RDMA_DATA")
}

cmd=${1:-help}
[ $# -gt 0 ] && shift
case $cmd in
test)
	prepare_data || exit 2
	start_weed || exit 2
	# ~8 min on an idle host; other people's builds and VMs make it 10-15 (13 at load 10); every
	# wait inside is bounded, so this limit is only for a guest that hangs
	# The console goes to a log too: its "rdma: N passed, N failed, N skipped" line
	# (test/rdma/guest-lib.sh) and the tests it skipped are this suite's report.
	mkdir -p "$REPO/build"
	console=$(mktemp "$REPO/build/rdma-console.XXXXXX")
	rc=0; run_in_vm "${KELP_VM_TIMEOUT:-2400}" test/rdma/tests.sh | tee "$console" || rc=${PIPESTATUS[0]}
	[ $rc -eq 0 ] && echo "rdma: all VM tests passed" || echo "rdma: VM tests FAILED (exit $rc)"
	report_rc=0; report_vm_tests "$console" "$rc" || report_rc=$?
	rm -f "$console"
	[ $rc -ne 0 ] && exit $rc
	exit $report_rc ;;
bench)
	prepare_data || exit 2
	start_weed || exit 2
	weed_bench_needles || { echo "rdma: could not upload the benchmark's needles" >&2; exit 2; }
	exec_rc=0; run_in_vm 1800 test/rdma/bench.sh || exec_rc=$?
	exit $exec_rc ;;
test-if-possible)
	# A skip is reported like any other (mk/test-lib.sh): it fails the run unless
	# KELP_ALLOW_SKIP accepts rdma (or rdma-vm).
	if ! why=$(vm_why_not); then
		echo "rdma: SKIPPED the Soft-RoCE VM tests: $why"
		test_report rdma 0 0 "rdma-vm"$'\t'"the Soft-RoCE VM cannot run here: $why"
		exit $?
	fi
	exec "$0" test ;;
exec)
	[ $# -gt 0 ] || { usage >&2; exit 2; }
	start_weed || exit 2
	rc=0; run_in_vm "${KELP_VM_TIMEOUT:-600}" "$@" || rc=$?
	exit $rc ;;
help|-h|--help) usage ;;
*) usage >&2; exit 2 ;;
esac
