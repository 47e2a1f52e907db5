#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The include graph between kelp's folders, checked against the layering of DESIGN.md:
#   test -> tools, bench -> lcore -> nic, proto, shm -> core, where nic -> proto too (the RDMA
#   connections speak proto/rdma_msg; proto stays pure)
# (an arrow means "may include", transitively; a folder may include itself). Inside lcore/, the
# sub-layers run one way too (DESIGN.md, README Layout):
#   lcore/kelpd -> lcore/control -> lcore/tcp -> lcore/rdma -> lcore/worker, lcore/cluster -> lcore
#   (engine.h,
#   uring_op.h, path_table.h: what they all share)
# Prints the edges with a count of includes each, then every include that breaks the rule
# (file:line), and exits 1 if there is one.
#   usage: mk/check-layers.sh [--graph]     (--graph: print the edges only, exit 0)
set -euo pipefail
cd "$(dirname "$0")/.."

# folder of a source path: the first path component, or for lcore/ its sub-folder when it has one
folder() {
	case $1 in
	lcore/*/*) echo "${1%/*}" ;;
	*) echo "${1%%/*}" ;;
	esac
}
# the layer a folder belongs to (sub-folders of lcore/ are lcore)
layer() { echo "${1%%/*}"; }
# may lcore sub-folder $1 include lcore sub-folder $2 ("lcore" = the files directly in lcore/)?
lcore_allowed() {
	case $1 in
	lcore/kelpd) return 0 ;;
	lcore/control) [[ $2 =~ ^lcore(/tcp|/rdma|/worker|/cluster)?$ ]] ;;
	lcore/tcp) [[ $2 =~ ^lcore(/rdma|/worker|/cluster)?$ ]] ;;
	lcore/rdma) [[ $2 =~ ^lcore(/worker|/cluster)?$ ]] ;;
	lcore/worker | lcore/cluster) [ "$2" = lcore ] ;;
	*) return 1 ;;
	esac
}
# may folder $1 include folder $2?
allowed() {
	[ "$1" = "$2" ] && return 0
	if [ "${1%%/*}" = lcore ] && [ "${2%%/*}" = lcore ]; then
		lcore_allowed "$1" "$2"
		return
	fi
	set -- "$(layer "$1")" "$(layer "$2")"
	case $1 in
	tools | bench) [[ $2 =~ ^(lcore|nic|proto|shm|core)$ ]] ;;
	test) [[ $2 =~ ^(tools|bench|lcore|nic|proto|shm|core)$ ]] ;; # tests may test anything
	lcore) [[ $2 =~ ^(nic|proto|shm|core)$ ]] ;;
	nic) [[ $2 =~ ^(proto|core)$ ]] ;;
	proto | shm) [ "$2" = core ] ;;
	*) return 1 ;;
	esac
}

declare -A edges=()
bad=()
while IFS= read -r f; do
	from=$(folder "$f")
	while IFS=: read -r line inc; do
		# "dir/file.h" names its folder; the bare public headers live in shm/ (-Ishm)
		case $inc in
		*/*) target=$inc ;;
		kelp.h | kelp_abi.h | kelp_ring.h) target=shm/$inc ;;
		*) continue ;; # a header beside the file
		esac
		[ -e "$target" ] || continue
		to=$(folder "$target")
		[ "$from" = "$to" ] && continue
		edges["$from -> $to"]=$((${edges["$from -> $to"]:-0} + 1))
		allowed "$from" "$to" || bad+=("$f:$line: $from includes $target")
	done < <(grep -n '^#include "' "$f" | sed -E 's/^([0-9]+):#include "([^"]+)".*/\1:\2/')
done < <(git ls-files '*.c' '*.h' | grep -E '^(core|shm|proto|nic|lcore|tools|bench|test)/')

for e in "${!edges[@]}"; do echo "$e (${edges[$e]})"; done | sort
[ "${1:-}" = --graph ] && exit 0
if [ ${#bad[@]} -gt 0 ]; then
	echo "check-layers: ${#bad[@]} include(s) against the layering (tools/bench/test -> lcore -> nic/proto/shm -> core):"
	printf '  %s\n' "${bad[@]}"
	exit 1
fi
echo "check-layers: ok"
