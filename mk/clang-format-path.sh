#!/usr/bin/env bash
# Prints the path of the pinned clang-format that mk/deps.sh installs (pip's clang-format package,
# its native binary; or $CLANG_FORMAT if set). `make format` and `make check-format` both use it:
# another version formats differently, so the check would flag files `make format` left alone.
if [ -n "${CLANG_FORMAT:-}" ]; then echo "$CLANG_FORMAT"; exit 0; fi
echo "${KELP_CACHE:-$HOME/.cache/kelp}/clang-format-23.1.5/clang_format/data/bin/clang-format"
