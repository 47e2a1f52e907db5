#!/usr/bin/env bash
# On the host, before the VM boots (test/rdma/run.sh test|bench): the volumes the RDMA tests serve
# and, for every needle, the bytes `kelp-vol cat` gives, so the VM (where every process start is
# slow under TCG) only compares directories. Usage: prepare-data.sh OUTDIR
set -euo pipefail
D=$1
BIN=build/bin
rm -rf "$D"
mkdir -p "$D/vols" "$D/expect"
# Small and mid-size synthetic needles, needles larger than the reader's 1 MiB request buffer
# (read in pieces), gzip-stored text files, many small needles (for the kill test), 4 KiB needles
# (benchmark), and SeaweedFS's own test volume 43.dat.
"$BIN/kelp-vol" create "$D/vols" 7 --synthetic 120 --size 1-256K --seed 7 > "$D/fids.7"
"$BIN/kelp-vol" create "$D/vols" 8 --synthetic 3 --size 1500K-2500K --seed 8 > "$D/fids.8"
"$BIN/kelp-vol" create "$D/vols" 9 --gzip /usr/share/common-licenses/GPL-3 \
	/usr/share/common-licenses/Apache-2.0 > "$D/fids.9"
"$BIN/kelp-vol" create "$D/vols" 10 --synthetic 300 --size 1-8K --seed 10 > "$D/fids.10"
"$BIN/kelp-vol" create "$D/vols" 5 --synthetic 64 --size 4K --seed 5 > "$D/fids.5"
cp test/fixtures/43.dat "$D/vols/43.dat"
"$BIN/kelp-vol" ls "$D/vols/43.dat" | awk '/^[0-9]+,/ {print $1}' > "$D/fids.43"
for f in "$D"/fids.*; do
	vid=${f##*.}
	while read -r fid; do
		"$BIN/kelp-vol" cat "$D/vols/$vid.dat" "$fid" > "$D/expect/$fid"
	done < "$f"
done
echo "rdma: test data in $D: $(cat "$D"/fids.* | wc -l) needles in $(ls "$D"/vols/*.dat | wc -l) volumes"
