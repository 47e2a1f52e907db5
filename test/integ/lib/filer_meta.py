#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes a `weed shell fs.meta.load` file from a JSON description on stdin (used by filer.sh).

Some entries cannot be made through the filer's HTTP API: a symlink (only `weed mount`, WebDAV,
SFTP create one, over gRPC) and a file with so many chunks that the filer folds them into a chunk
manifest (filer.ManifestBatch = 10000 chunks; over HTTP that would take 10000 uploads of >= 1 MiB,
or 10000 appends that the filer merges back into big chunks first). `fs.meta.load` sends each entry
to the filer's gRPC CreateEntry, which runs the same cleanupChunks/MaybeManifestize as every other
write path, so the manifest chunk is written by weed itself.

File format (weed/shell/command_fs_meta_load.go): repeated [u32 big-endian length][FullEntry
protobuf]. Field numbers from weed/pb/filer.proto (FullEntry, Entry, FuseAttributes, FileChunk).

Usage: filer_meta.py [SYNC_DIR] <JSON >FILE (SYNC_DIR: see main). Input: a JSON list of {"dir", "name", "mode" (Go os.FileMode bits), "size", "mtime", "symlink",
"chunks": [{"file_id", "offset", "size", "modified_ts_ns"}]}.
"""
import json
import struct
import sys
import time


def varint(n):
    out = bytearray()
    n &= (1 << 64) - 1  # negative int64 as two's complement, as protobuf does
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(field, wire):
    return varint(field << 3 | wire)


def f_varint(field, n):
    return key(field, 0) + varint(n) if n else b""


def f_bytes(field, b):
    if isinstance(b, str):
        b = b.encode()
    return key(field, 2) + varint(len(b)) + b if b else b""


def chunk(c):
    return (f_bytes(1, c["file_id"]) + f_varint(2, c["offset"]) + f_varint(3, c["size"]) +
            f_varint(4, c["modified_ts_ns"]))


def entry(e):
    attrs = (f_varint(1, e.get("size", 0)) + f_varint(2, e["mtime"]) + f_varint(3, e["mode"]) +
             f_varint(4, e.get("uid", 0)) + f_varint(5, e.get("gid", 0)) + f_varint(6, e["mtime"]) +
             f_bytes(13, e.get("symlink", "")))
    body = f_bytes(1, e["name"]) + f_varint(2, 1 if e.get("is_directory") else 0)
    for c in e.get("chunks", []):
        body += f_bytes(3, chunk(c))
    body += f_bytes(4, attrs)
    return f_bytes(1, e["dir"]) + f_bytes(2, body)


def main():
    out = bytearray()
    entries = json.load(sys.stdin)
    # fs.meta.load sends file entries from goroutines and returns at the end of its input without
    # waiting for them (weed/shell/command_fs_meta_load.go), so the shell can exit before the last
    # CreateEntry is done (a manifest, which uploads a chunk first, was lost that way). A directory
    # entry makes it wait for all before it: end with a directory that exists already (argv[1], or
    # the first entry's directory), which CreateEntry leaves as it is.
    d = (sys.argv[1] if len(sys.argv) > 1 else entries[0]["dir"]).rstrip("/")
    if d:
        parent, name = d.rsplit("/", 1)
        entries.append({"dir": parent or "/", "name": name, "is_directory": True,
                        "mode": (1 << 31) | 0o755, "mtime": int(time.time())})
    for e in entries:
        full = entry(e)
        out += struct.pack(">I", len(full)) + full
    sys.stdout.buffer.write(out)


if __name__ == "__main__":
    main()
