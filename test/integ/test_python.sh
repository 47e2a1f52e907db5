#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Python package kelp (python/, issue 13) against a real kelpd on kelp-vol volumes: builds the
# extension in place (as `make python` does) and runs pytest on python/tests/. This script makes the
# volumes and starts kelpd; the tests read them and compare with `kelp-vol cat`:
#   volume 5 synthetic 1 B..300 KiB, 8 gzip-stored files, 9 small files (one empty), 10 large
#   needles (1.5 and 3 MiB), 12 synthetic 24 x 64 KiB, 6 = 5 with one data byte flipped (-EIO),
#   99 not local (-EHOSTUNREACH).
# The last test file (test_zz_kelpd_gone.py) stops kelpd and checks ConnectionError subclasses.
# pytest is installed by `make deps`; a missing pytest fails this test, it does not skip it.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/integ/lib/kelpd_test.sh
kelpd_require
python3 -c 'import pytest' 2>/dev/null || fail "pytest missing: run 'make deps' (python3 -m pip install pytest)"
[ -f "${BUILD:-build}/lib/libkelp.a" ] || fail "${BUILD:-build}/lib/libkelp.a not built (make)"

D=$(mktemp -d "${TMPDIR:-/tmp}/kelp-integ-python.XXXXXX")
chmod 755 "$D" # the PermissionError test reaches the socket as another user
trap 'kelpd_stop; rm -rf "$D"' EXIT
# the extension is built into python/ (python/kelp/_kelp*.so, ignored by git), as `make python` does
(cd python && KELP_BUILD=$PWD/../${BUILD:-build} python3 setup.py -q build_ext --inplace \
	--build-temp "$D/pybuild" >"$D/build.log" 2>&1) || { cat "$D/build.log"; fail "python extension did not build"; }

mkdir -p "$D/vol" "$D/plain" "$D/files" "$D/big"
"$BIN/kelp-vol" create "$D/vol" 5 --synthetic 200 --size 1-300K --seed 11 >/dev/null
echo hello >"$D/plain/hello"
: >"$D/plain/empty"
"$BIN/kelp-vol" create "$D/vol" 9 "$D/plain/hello" "$D/plain/empty" >/dev/null
for i in $(seq 1 8); do seq 1 $((i * 700)) >"$D/files/f$i.txt"; done
"$BIN/kelp-vol" create "$D/vol" 8 --gzip "$D"/files/*.txt >/dev/null
head -c $((3 << 20)) /dev/urandom >"$D/big/three"
head -c $((3 << 19)) /dev/urandom >"$D/big/onehalf"
"$BIN/kelp-vol" create "$D/vol" 10 "$D/big/three" "$D/big/onehalf" >/dev/null
# same-size needles: results of one size are where kelp recycles bytes objects
"$BIN/kelp-vol" create "$D/vol" 12 --synthetic 24 --size 65536 --seed 5 >/dev/null
cp "$D/vol/5.dat" "$D/vol/6.dat"
cp "$D/vol/5.idx" "$D/vol/6.idx"
cp "$D/vol/5.vif" "$D/vol/6.vif" 2>/dev/null || true
first5=$("$BIN/kelp-vol" ls "$D/vol/5.dat" | awk 'NR>1 && $4 > 0 && !done {print $1, $2; done=1}')
fid5=${first5% *}
off5=${first5#* }
python3 - "$D/vol/6.dat" "$((off5 + 16 + 4 + 1))" <<'PY'
import sys
p, off = sys.argv[1], int(sys.argv[2])
with open(p, 'r+b') as f:
    f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0xff]))
PY

# kelpd_test_start's config plus an allow policy (root only: uid 0 is always admitted)
KELPD_CONF=$D/kelp.conf
KELPD_SOCK=$D/kelpd.sock
KELPD_LOG=$D/kelpd.log
cat >"$KELPD_CONF" <<CONF
[engine]
lcores = 1
control_cpu = -1
socket = $KELPD_SOCK
idle_park_us = ${KELPD_IDLE_PARK_US:-200}
arena_mb = 32
queue_depth = 64
allow_uids = 0
[export]
dirs = $D/vol
[rdma]
device = off
CONF
chmod 644 "$KELPD_CONF"
kelpd_start "$KELPD_CONF" "$KELPD_LOG"

export KELP_TEST_DIR=$D KELP_TEST_SOCK=$KELPD_SOCK KELP_TEST_CONF=$KELPD_CONF KELP_TEST_BIN=$PWD/$BIN
export KELP_TEST_KELPD_PID=$KELPD_PID KELP_TEST_CORRUPT="6,${fid5#*,}" KELP_TEST_INTACT=$fid5
export PYTHONPATH=$PWD/python${PYTHONPATH:+:$PYTHONPATH}
# -p no:cacheprovider: no .pytest_cache in the tree
python3 -m pytest -q -p no:cacheprovider -rf --durations=5 ${KELP_PYTEST_ARGS:-} python/tests
echo "ok: python tests"
