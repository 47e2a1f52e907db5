#!/usr/bin/env bash
# `make check-docs` (part of `make test`): every file name the docs give as folder/file
# (core/, shm/, proto/, nic/, lcore/, tools/, bench/, test/, mk/, conf/) names a tracked file or
# folder. Checked: spans in backticks and relative links in README.md and shm/ABI.md, comments in conf/kelp.conf, and
# comments in the .c/.h files under core/ shm/ proto/ nic/ lcore/ tools/ bench/ test/ (in lcore/,
# worker/x.c and the like are read as lcore/worker/x.c too). A name without extension may name a
# program built from name.c. Not checked: BENCHMARKS.md and bench/results/ (history: a path there
# names a file as it was then), patterns (test/unit/test_*.c, <name>), build outputs, URLs,
# paths under another root (/tmp/..., build/test/...). Prints file:line: name for each reference
# that does not exist and exits 1 if there is one.
set -euo pipefail
cd "$(dirname "$0")/.."
git ls-files | python3 -c '
import os, re, sys
tracked = set(sys.stdin.read().split("\n")) - {""}
dirs = {p[: i + 1] for p in tracked for i in range(len(p)) if p[i] == "/"}
TOP = "core|shm|proto|nic|lcore|tools|bench|test|mk|conf"
SUB = "worker|cluster|rdma|control|kelpd"  # lcore/ sub-folders, named without lcore/ in lcore headers
# a folder/name token: not preceded by a name character or "/" (so /tmp/x/test/y, build/test/z and
# URLs are not references into the tree)
TOKEN = re.compile(r"(?<![\w./~$-])((?:%s|%s)/[\w./*<>{}$-]*)" % (TOP, SUB))

def exists(name, lcore_rel):
    if name.endswith("/"):
        cands = [name]
    else:
        cands = [name, name + "/", name + ".c"]  # name: also the program built from name.c
    if lcore_rel:
        cands += ["lcore/" + c for c in cands]
    return any(c in tracked or c in dirs for c in cands)

def check(path, lineno, text, lcore_rel=False):
    bad = []
    for m in TOKEN.finditer(text):
        name = m.group(1).rstrip(".,:;")
        if re.search(r"[*<>{}$]", name):
            continue  # a pattern, not a file
        first = name.split("/", 1)[0]
        if first in SUB.split("|") and first not in TOP.split("|"):
            if not lcore_rel:
                continue  # e.g. worker/... in a README sentence about something else
            if not re.search(r"\.[ch]$", name) and not name.endswith("/"):
                continue
            if text[max(0, m.start() - 1):m.start()] == "<":
                continue  # <rdma/rdma_cma.h>: a system header
        elif first == "rdma" and text[max(0, m.start() - 1):m.start()] == "<":
            continue
        if not exists(name, lcore_rel and first in SUB.split("|")):
            bad.append("%s:%d: %s" % (path, lineno, name))
    return bad

def backtick_spans(path):
    out = []
    text = open(path, encoding="utf-8").read()
    for m in re.finditer(r"`+([^`]+)`+", text):
        out.append((text.count("\n", 0, m.start()) + 1, m.group(1)))
    return out

def c_comments(path):
    text = open(path, encoding="utf-8").read()
    out = []
    for m in re.finditer(r"/\*.*?\*/|//[^\n]*|\"(?:\\.|[^\"\\\n])*\"", text, re.S):
        if m.group(0).startswith("\""):
            continue  # a string literal
        line = text.count("\n", 0, m.start()) + 1
        for i, l in enumerate(m.group(0).split("\n")):
            out.append((line + i, l))
    return out

SOURCES = ("core", "shm", "proto", "nic", "lcore", "tools", "bench", "test")
bad = []
for doc in ("README.md", "shm/ABI.md"):
    for line, span in backtick_spans(doc):
        bad += check(doc, line, span)
    # relative links: [text](path), from the document'"'"'s folder
    text = open(doc, encoding="utf-8").read()
    for m in re.finditer(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        target = m.group(1)
        if re.match(r"[a-z]+:", target):
            continue  # a URL
        full = os.path.normpath(os.path.join(os.path.dirname(doc), target))
        if full not in tracked and full + "/" not in dirs:
            bad.append("%s:%d: %s" % (doc, text.count("\n", 0, m.start()) + 1, target))
for i, l in enumerate(open("conf/kelp.conf", encoding="utf-8"), 1):
    if l.lstrip().startswith(("#", ";")):
        bad += check("conf/kelp.conf", i, l)
for h in sorted(tracked):
    if h.endswith((".c", ".h")) and h.split("/", 1)[0] in SOURCES:
        for line, l in c_comments(h):
            bad += check(h, line, l, lcore_rel=h.startswith("lcore/"))
for b in bad:
    print(b)
if bad:
    print("check-docs: %d reference(s) to files that do not exist: fix the name (or, for history, "
          "say where the file went)" % len(bad))
    sys.exit(1)
print("check-docs: every file named in the docs exists")
'
