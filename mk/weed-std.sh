#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds a standard SeaweedFS `weed` (4-byte .idx offsets, not the "large disk" build that mk/deps.sh
# installs) from source through the Go module proxy, once, and prints its path.
#
# Why: kelp reads both .idx layouts (16-byte rows of standard builds, 17-byte rows of large-disk
# builds), but the only prebuilt weed installable here is the large-disk one. `make interop-std` uses
# this binary to check 4-byte volumes both ways against a real server. Not part of `make test`: the
# first build downloads ~500 modules and compiles for 20-30 minutes on 2 cores; later calls cost
# nothing (cached in $KELP_CACHE, default ~/.cache/kelp).
#
# `go install .../weed@VERSION` is refused (SeaweedFS's go.mod has replace directives, and its tags
# are not semver), so the module is downloaded at a pinned pseudo-version and built in a copy.
set -euo pipefail
MOD=github.com/seaweedfs/seaweedfs
VERSION=${WEED_STD_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}
OUT=${KELP_CACHE:-$HOME/.cache/kelp}/weed-std-$VERSION/weed
if [ -x "$OUT" ]; then echo "$OUT"; exit 0; fi
command -v go >/dev/null || { echo "weed-std: needs Go (https://go.dev/doc/install)" >&2; exit 1; }
echo "weed-std: building $MOD@$VERSION (standard build) into $OUT; the first time takes 20-30 min" >&2
src=$(go mod download -json "$MOD@$VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
work=$(mktemp -d "${TMPDIR:-/tmp}/kelp-weed-std.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -r "$src/." "$work/"
chmod -R u+w "$work"
mkdir -p "$(dirname "$OUT")"
(cd "$work" && go build -o "$OUT.tmp" ./weed)
! "$OUT.tmp" version | grep -q 8000GB || { echo "weed-std: the build is a large-disk one" >&2; exit 1; }
mv "$OUT.tmp" "$OUT"
echo "$OUT"
