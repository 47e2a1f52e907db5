#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Writes a man page to stdout from its template (man/*.in) and the one source of its content, so
# the page cannot drift from what it documents (make man; test/integ/test_docs_sync.sh checks it):
#   mk/gen-man.sh tool   TEMPLATE BINARY VERSION   a line "@HELP [ARGS]@" of the template becomes
#                                                  `BINARY [ARGS] --help`, verbatim
#   mk/gen-man.sh conf   TEMPLATE KELP.CONF VERSION "@CONF@" becomes every section and key of the
#                                                  file with its default and its comment
#   mk/gen-man.sh header TEMPLATE KELP.H VERSION    "@HEADER@" becomes the header's declarations
#                                                  with their comments
# "@VERSION@" anywhere in the template becomes VERSION.
set -euo pipefail
[ $# -eq 4 ] || { echo "usage: $0 tool|conf|header TEMPLATE SOURCE VERSION" >&2; exit 2; }
mode=$1 template=$2 src=$3 version=$4

# roff-safe text: backslashes as \e, every '-' as \- (an ASCII hyphen-minus, so options can be
# copied from the page), and \& before a leading '.' or "'" (which roff would read as a request)
ESC='function esc(s,  r, i, c) {
	r = ""
	for (i = 1; i <= length(s); i++) {
		c = substr(s, i, 1)
		if (c == "\\") r = r "\\e"; else if (c == "-") r = r "\\-"; else r = r c
	}
	if (r ~ /^[.\x27]/) r = "\\&" r
	return r
}'

verbatim() { # stdin -> a no-fill block
	echo ".nf"
	awk "$ESC"'{ print esc($0) }'
	echo ".fi"
}

conf_page() { # kelp.conf -> the header comment as DESCRIPTION, then one .TP per key (keys that
	# follow each other share the comment above them: .TP for the first, .TQ for the others)
	awk "$ESC"'
	function start() {
		if (!started) { print ".SH DESCRIPTION"; text(); print ".SH KEYS"; started = 1 }
	}
	function text(  i) { for (i = 1; i <= n; i++) print esc(t[i]); n = 0 }
	function group(  i) {
		for (i = 1; i <= nk; i++) print (i == 1 ? ".TP" : ".TQ") "\n" tag[i]
		if (nk) text()
		nk = 0
	}
	/^[#;]/ { group(); s = $0; sub(/^[#;] ?/, "", s); t[++n] = s; next }
	/^\[/ { group(); start(); n = 0; print ".SS " esc($0); next }
	/^[ \t]*$/ { group(); start(); next }
	/=/ {
		k = $0; sub(/[ \t]*=.*/, "", k); v = $0; sub(/^[^=]*=[ \t]*/, "", v)
		tag[++nk] = "\\fB" esc(k) "\\fR = " (v == "" ? "(empty)" : esc(v)); next
	}
	END { group() }' "$src"
}

header_page() { # kelp.h -> comment blocks as text, declarations in bold, "---- X ----" as .SS
	awk "$ESC"'
	function code(s) { if (!incode) { print ".PP"; print ".nf"; incode = 1 } print "\\fB" esc(s) "\\fR" }
	function endcode() { if (incode) { print ".fi"; incode = 0 } }
	/SPDX-License-Identifier/ { next }
	/^#(ifndef|ifdef|endif|include)/ || /^#define KELP_H$/ || /^extern "C"/ || /^}$/ { next }
	/^\/\* ---- .* \*\/$/ {
		endcode(); s = $0; sub(/^\/\* ---- /, "", s); sub(/ -+ \*\/$/, "", s)
		print ".SS \"" s "\""; next
	}
	/^\/\*.*\*\/$/ { endcode(); s = $0; sub(/^\/\* ?/, "", s); sub(/ ?\*\/$/, "", s)
		print ".PP"; print ".nf"; print esc(s); print ".fi"; next }
	/^\/\*/ { endcode(); incomment = 1; print ".PP"; print ".nf"; next }
	incomment && /^ \*\// { incomment = 0; print ".fi"; next }
	incomment { s = $0; sub(/^ \* ?/, "", s); sub(/^ \*$/, "", s); print esc(s); next }
	/^[ \t]*$/ { endcode(); next }
	{ code($0) }
	END { endcode() }' "$src"
}

while IFS= read -r line; do
	line=${line//@VERSION@/$version}
	case $mode:$line in
	tool:@HELP*@)
		args=${line#@HELP}; args=${args%@}
		# shellcheck disable=SC2086 # ARGS are words
		# a leak report of an ASan build (make SAN=1) is not the page's business
		help=$(ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 "$src" $args --help) || { echo "gen-man: $src$args --help failed" >&2; exit 1; }
		verbatim <<<"$help";;
	conf:@CONF@) conf_page;;
	header:@HEADER@) header_page;;
	*) printf '%s\n' "$line";;
	esac
done <"$template"
