# shellcheck shell=bash
# Real SeaweedFS for the Soft-RoCE VM tests, run on the HOST (sourced by test/rdma/run.sh).
#
# Why on the host: `weed` takes ~220 s to start under TCG; on the host it takes seconds. The guest
# reaches it through QEMU user-mode networking, where the host's 127.0.0.1:PORT is 10.0.2.2:PORT:
#   - the master listens on 127.0.0.1 (the guest asks it at 10.0.2.2:PORT);
#   - the volume server keeps -ip 127.0.0.1 (the master grows volumes over gRPC at that address) and
#     advertises -publicUrl 10.0.2.2:PORT, so a guest kelpd with
#     `[seaweedfs] volume_address = public_url` reaches it for HTTP and names its RDMA peer by it;
#   - its -dir is under build/ in the repository, which the guest mounts at the same path (9p,
#     cache=mmap), so a guest export kelpd can mmap the very files the volume server writes.
# host_weed_start uploads a test set, fetches every live fid's stored bytes with curl (the expected
# bytes) and writes $HOST_WEED_ENV for the guest. weed is stopped when run.sh exits (weed.sh's EXIT
# trap), also on failure.

HOST_WEED_ENV=""

# host_weed_start: 0 with HOST_WEED_ENV set; 1 when weed cannot run (the guest test then skips).
host_weed_start() {
	local weed_bin
	weed_bin=$(bash "$REPO/mk/weed-path.sh" 2>/dev/null) && [ -x "$weed_bin" ] ||
		{ echo "rdma: no weed binary (make deps): the kelpd RDMA read test will skip" >&2; return 1; }
	mkdir -p "$REPO/build"
	# shellcheck source=test/integ/lib/weed.sh
	. "$REPO/test/integ/lib/weed.sh"
	local t0=$SECONDS
	TMPDIR=$REPO/build WEED_PUBLIC_HOST=10.0.2.2 weed_start 1 || return 1
	weed_upload_standard_set || return 1
	# more small needles, so that most reads are of the size RDMA is for
	local d=$WEED_DIR/upload i
	for i in $(seq 1 16); do
		head -c $((512 + i * 97)) /dev/urandom > "$d/small$i.bin"
		weed_upload "$d/small$i.bin" small > /dev/null || return 1
	done
	mkdir -p "$WEED_DIR/expect"
	local fid url
	while IFS=$'\t' read -r fid url _; do
		: > "$WEED_DIR/expect/$fid" # curl writes no file for an empty body
		curl -sf -m 120 -H 'Accept-Encoding: gzip' -o "$WEED_DIR/expect/$fid" "http://$url/$fid" ||
			{ echo "rdma: curl $url/$fid failed" >&2; return 1; }
	done < <(weed_manifest_rows live)
	local vport=${WEED_VOLUME_URLS[0]##*:}
	HOST_WEED_ENV=$WEED_DIR/env
	{
		echo "WEED_MASTER_GUEST=10.0.2.2:${WEED_MASTER##*:}"
		echo "WEED_VS_GUEST=10.0.2.2:$vport"
		echo "WEED_VS_DIR=${WEED_VOLUME_DIRS[0]}"
		echo "WEED_EXPECT=$WEED_DIR/expect"
		echo "WEED_LIVE='$(weed_manifest_rows live | cut -f1 | tr '\n' ' ')'"
		echo "WEED_DELETED='$(weed_manifest_rows deleted | cut -f1 | tr '\n' ' ')'"
		echo "WEED_LARGE='$(weed_manifest_rows live | awk -F'\t' '$3 > 1048576 { print $1 }' | tr '\n' ' ')'"
	} > "$HOST_WEED_ENV"
	echo "rdma: SeaweedFS on the host (master $WEED_MASTER, volume ${WEED_VOLUME_URLS[0]} public" \
		"10.0.2.2:$vport, dir ${WEED_VOLUME_DIRS[0]}): $(weed_manifest_rows live | wc -l) live fids" \
		"uploaded in $((SECONDS - t0)) s" >&2
}
