#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Python package kelp (python/, issue 13) against a real kelpd on kelp-vol volumes: builds the
# extension in place (as `make python` does) and runs pytest on python/tests/. This script makes the
# volumes and starts kelpd; the tests read them and compare with `kelp-vol cat`:
#   volume 5 synthetic 1 B..300 KiB, 8 gzip-stored files, 9 small files (one empty), 10 large
#   needles (1.5 and 3 MiB), 12 synthetic 24 x 64 KiB, 6 = 5 with one data byte flipped (-EIO),
#   99 not local (-EHOSTUNREACH).
# Files by path (test_paths.py): a real weed master, volume server and filer (lib/filer.sh) with
# files of each shape under /kelp-set (inline, multi-chunk, compressed, sparse, deep, UTF-8 names),
# and a second kelpd whose [filer] address is that filer.
# The last test file (test_zz_kelpd_gone.py) stops kelpd and checks ConnectionError subclasses.
# pytest is installed by `make deps`; a missing pytest fails this test, it does not skip it.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/integ/lib/kelpd_test.sh
. test/integ/lib/filer.sh
kelpd_require
weed_require
python3 -c 'import pytest' 2>/dev/null || fail "pytest missing: run 'make deps' (python3 -m pip install pytest)"
[ -f "${BUILD:-build}/lib/libkelp.a" ] || fail "${BUILD:-build}/lib/libkelp.a not built (make)"

D=$(mktemp -d "${TMPDIR:-/tmp}/kelp-integ-python.XXXXXX")
chmod 755 "$D" # the PermissionError test reaches the socket as another user
at_exit "rm -rf '$D'"
at_exit kelpd_stop # runs first (at_exit runs in reverse order), weed stops after
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

# a few files of each shape the Python side must get right (the whole issue 11 set, with its
# 10003-chunk manifest and encrypting second filer, is kelpd's tests' business):
# $D/filer_set.tsv rows: filer path, kind, size, local file with the expected bytes
weed_start 1
weed_start_filer_standard # -saveToFilerLimit: small files become inline Content
FILER_SET=$D/filer_set.tsv
F=$D/filer_src
mkdir -p "$F"
filer_file() { # PATH KIND LOCAL [QUERY]: upload (unless LOCAL is only the expected bytes) + row
	[ "${4:-}" = expected-only ] || filer_put "$1" "$3" ${4:+"$4"}
	printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$(stat -c %s "$3")" "$3" >>"$FILER_SET"
}
: >"$FILER_SET"
: >"$F/empty"
filer_file /kelp-set/empty.bin empty "$F/empty"
head -c 700 /dev/urandom >"$F/inline"
filer_file /kelp-set/inline.bin inline "$F/inline"
head -c 4096 /dev/urandom >"$F/small"
filer_file /kelp-set/small.bin small "$F/small"
head -c $((3 * 1048576 + 5)) /dev/urandom >"$F/multi"
filer_file /kelp-set/multi.bin multi "$F/multi" maxMB=1 # 4 chunks
seq 1 20000 >"$F/text.txt" # compressible: the filer stores a gzip chunk (is_compressed)
filer_put /kelp-text/text.txt "$F/text.txt" # test_paths.py::test_compressed_text_file
head -c 4096 /dev/urandom >"$F/sparse.a"
head -c 4096 /dev/urandom >"$F/sparse.b"
filer_put /kelp-set/sparse.bin "$F/sparse.a"
filer_put /kelp-set/sparse.bin "$F/sparse.b" offset=1048576
{ cat "$F/sparse.a"; head -c $((1048576 - 4096)) /dev/zero; cat "$F/sparse.b"; } >"$F/sparse"
filer_file /kelp-set/sparse.bin sparse "$F/sparse" expected-only # a hole of 1 MiB - 4 KiB
head -c 5000 /dev/urandom >"$F/deep"
filer_file /kelp-set/deep/a/b/c/d/e/f/g/h/leaf.bin deep "$F/deep"
head -c 3000 /dev/urandom >"$F/names"
filer_file "/kelp-set/dir with spaces/näme ünïcödé 日本語 #1%.bin" names "$F/names"

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
# a second kelpd for the path tests: the filer's, reading the chunks from weed over HTTP (a
# [seaweedfs] master in the first one would change its answer for the non-local volume 99)
mkdir -p "$D/filer-kelpd/vol"
sed -e "s#$D/kelpd.sock#$D/filer-kelpd/kelpd.sock#" -e "s#^dirs = .*#dirs = $D/filer-kelpd/vol#" \
	-e '/^allow_uids/d' "$KELPD_CONF" >"$D/filer-kelpd/kelp.conf"
cat >>"$D/filer-kelpd/kelp.conf" <<CONF
[seaweedfs]
master = $WEED_MASTER
[filer]
address = $WEED_FILER
metadata_ttl_ms = 0
CONF
kelpd_start "$D/filer-kelpd/kelp.conf" "$D/filer-kelpd/kelpd.log"
FILER_KELPD_PID=$KELPD_PID
at_exit "KELPD_PID=$FILER_KELPD_PID kelpd_stop"
kelpd_start "$KELPD_CONF" "$KELPD_LOG"

export KELP_TEST_DIR=$D KELP_TEST_SOCK=$KELPD_SOCK KELP_TEST_CONF=$KELPD_CONF KELP_TEST_BIN=$PWD/$BIN
export KELP_TEST_FILER_SET=$FILER_SET KELP_TEST_FILER_ROOT=/kelp-set
export KELP_TEST_FILER_TEXT=/kelp-text/text.txt KELP_TEST_FILER_TEXT_LOCAL=$F/text.txt
export KELP_TEST_FILER_SOCK=$D/filer-kelpd/kelpd.sock
export KELP_TEST_KELPD_PID=$KELPD_PID KELP_TEST_CORRUPT="6,${fid5#*,}" KELP_TEST_INTACT=$fid5
export PYTHONPATH=$PWD/python${PYTHONPATH:+:$PYTHONPATH}
# -p no:cacheprovider: no .pytest_cache in the tree
python3 -m pytest -q -p no:cacheprovider -rf --durations=5 ${KELP_PYTEST_ARGS:-} python/tests
echo "ok: python tests"
