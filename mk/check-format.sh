#!/usr/bin/env bash
# `make check-format`: every tracked .c/.h is already as clang-format (the tree's .clang-format,
# the version mk/deps.sh pins) would write it. Lists each file that differs and exits 1 if there is
# one; `make format` rewrites them. CLANG_FORMAT=path overrides the binary (mk/clang-format-path.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
cf=$(mk/clang-format-path.sh)
[ -x "$cf" ] || command -v "$cf" >/dev/null ||
	{ echo "check-format: $cf not found: run make deps (pip's clang-format), or set CLANG_FORMAT=" >&2; exit 2; }
bad=()
while IFS= read -r -d '' f; do
	err=$("$cf" --style=file --dry-run -Werror "$f" 2>&1 >/dev/null) && continue
	# a file that differs gives "code should be clang-formatted"; anything else is clang-format's error
	case $err in
	*code\ should\ be\ clang-formatted*) bad+=("$f") ;;
	*) echo "check-format: $cf failed on $f: $err" >&2; exit 2 ;;
	esac
done < <(git ls-files -z '*.c' '*.h')
total=$(git ls-files '*.c' '*.h' | wc -l)
if [ ${#bad[@]} -gt 0 ]; then
	printf '%s\n' "${bad[@]}"
	echo "check-format: ${#bad[@]} of $total files differ from $("$cf" --version | sed 's/.*version //') with .clang-format: run make format"
	exit 1
fi
echo "check-format: $total files formatted"
