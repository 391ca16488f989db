#!/usr/bin/env python3
"""Writes the seed corpus of kafka_parser_fuzz into corpus/kafka_parser/ from the recorded Kafka
fixtures (tests/fixtures/kafka/*.json; input layout: kafka_parser_fuzz.cpp and chunk_input.h).
Each fixture gives two seeds: its chunks as recorded, and cut into 8 + rest (librdkafka's reads)."""

import base64
import glob
import json
import os
import struct

INGRESS, TAKE = 1, 8
HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures", "kafka")
OUT = os.path.join(HERE, "corpus", "kafka_parser")
MAX_SEED_BYTES = 64 * 1024


def chunk(flags, data, ticks=1):
    return bytes([flags | (ticks << 4)]) + struct.pack("<H", len(data)) + data


def seed(chunks, setup=0, split=False):
    out = bytes([setup])
    for direction, data in chunks:
        flags = INGRESS if direction == "ingress" else 0
        parts = [data[:8], data[8:]] if split and len(data) > 8 else [data]
        for part in parts:
            while part:
                out += chunk(flags | TAKE, part[:0xFFFF])
                part = part[0xFFFF:]
        if len(out) > MAX_SEED_BYTES:
            break
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    for path in sorted(glob.glob(os.path.join(FIXTURES, "*.json"))):
        with open(path) as f:
            fixture = json.load(f)
        chunks = [(c["dir"], base64.b64decode(c["data_b64"])) for c in fixture["chunks"]]
        name = os.path.splitext(os.path.basename(path))[0]
        for suffix, data in (("", seed(chunks)), ("_split8", seed(chunks, split=True))):
            with open(os.path.join(OUT, name + suffix), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
