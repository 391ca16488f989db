#!/usr/bin/env python3
"""Writes the seed corpus of tls_fuzz into corpus/tls/ from the recorded TLS handshakes
(tests/fixtures/tls/*.json; input layout: tls_fuzz.cpp and chunk_input.h). Each fixture gives:
its chunks as recorded, those over 2048 bytes (the 16 KiB writes) captured only in their first
256 bytes or so, the rest uncaptured (small seeds, framing kept); the same with the 1-byte copy
on (setup bit 1); and its chunks after the handshake, midstream (setup bit 0)."""

import base64
import glob
import json
import os
import struct

MIDSTREAM, BYTEWISE = 1, 2
INGRESS, TRUNCATED, CHECK = 1, 4, 8
UNIT = 64  # chunk_input.h's kUncapturedUnit
HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures", "tls")
OUT = os.path.join(HERE, "corpus", "tls")


def chunk(direction, data):
    flags = (INGRESS if direction == "ingress" else 0) | CHECK | (1 << 4)
    if len(data) <= 2048:
        return bytes([flags]) + struct.pack("<H", len(data)) + data
    units = (len(data) - 256) // UNIT
    captured = data[:len(data) - units * UNIT]
    return bytes([flags | TRUNCATED]) + struct.pack("<H", len(captured)) + struct.pack("<H", units) + captured


def seed(chunks, setup=0):
    return bytes([setup]) + b"".join(chunk(d, data) for d, data in chunks)


def main():
    os.makedirs(OUT, exist_ok=True)
    for path in sorted(glob.glob(os.path.join(FIXTURES, "*.json"))):
        with open(path) as f:
            fixture = json.load(f)
        chunks = [(c["dir"], base64.b64decode(c["data_b64"])) for c in fixture["chunks"]]
        after = [(c["dir"], base64.b64decode(c["data_b64"])) for c in fixture["chunks"] if "plaintext" in c]
        name = os.path.splitext(os.path.basename(path))[0]
        for suffix, data in (("", seed(chunks)), ("_bytewise", seed(chunks, BYTEWISE)),
                             ("_midstream", seed(after, MIDSTREAM))):
            with open(os.path.join(OUT, name + suffix), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
