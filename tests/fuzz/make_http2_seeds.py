#!/usr/bin/env python3
"""Writes the seed corpus of http2_fuzz into corpus/http2/ (input layout: http2_fuzz.cpp).

Hand-made seeds, plus seeds converted from the recorded fixtures (../fixtures/http2): real
HPACK blocks (Huffman, dynamic table, size updates) from real peers.
"""

import base64
import json
import os
import struct

ROLE_UNKNOWN, ROLE_CLIENT, ROLE_SERVER = 0, 1, 2
PRIOR, UPGRADE, MIDSTREAM, DETECTOR = 0 << 2, 1 << 2, 2 << 2, 3 << 2
HPACK_MODE = 0x10
INGRESS, GAP, TRUNCATED, TAKE = 1, 2, 4, 8
UNCAPTURED_UNIT = 64
CAPTURE = 1024  # seeds keep at most this much of each recorded chunk, the rest uncaptured

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures", "http2")
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def chunk(flags, data=b"", uncaptured=0, ticks=3):
    out = bytes([flags | (ticks << 4)]) + struct.pack("<H", len(data))
    if flags & (GAP | TRUNCATED):
        out += struct.pack("<H", uncaptured // UNCAPTURED_UNIT)
    return out + data


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


def literal(name, value):
    """Literal header field without indexing, new name, no Huffman (RFC 7541 6.2.2)."""
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


def incremental(name, value):
    """Literal header field with incremental indexing, new name (RFC 7541 6.2.1)."""
    return b"\x40" + bytes([len(name)]) + name + bytes([len(value)]) + value


def grpc_message(body):
    return b"\x00" + struct.pack(">I", len(body)) + body


def load(name):
    with open(os.path.join(FIXTURES, name + ".json"), encoding="ascii") as f:
        return [(c["dir"], base64.b64decode(c["data_b64"])) for c in json.load(f)["chunks"]]


def from_fixture(setup, name, first=0, last=None, capture=CAPTURE):
    out = bytes([setup])
    for direction, data in load(name)[first:last]:
        flags = (INGRESS if direction == "ingress" else 0) | TAKE
        if len(data) <= capture:
            out += chunk(flags, data)
            continue
        rest = (len(data) - capture) // UNCAPTURED_UNIT * UNCAPTURED_UNIT
        out += chunk(flags | TRUNCATED, data[: len(data) - rest], uncaptured=rest)
    return out


def header_blocks(name, direction):
    """HEADERS and CONTINUATION fragments of one direction, joined per block (no padding in them)."""
    stream = b"".join(data for d, data in load(name) if d == direction)
    if stream.startswith(PREFACE):
        stream = stream[len(PREFACE):]
    blocks, current, pos = [], b"", 0
    while pos + 9 <= len(stream):
        length = int.from_bytes(stream[pos:pos + 3], "big")
        ftype, flags = stream[pos + 3], stream[pos + 4]
        payload = stream[pos + 9:pos + 9 + length]
        if ftype in (1, 9):
            if ftype == 1 and flags & 0x20:
                payload = payload[5:]
            current += payload
            if flags & 0x4:
                blocks.append(current)
                current = b""
        pos += 9 + length
    return blocks


def hpack_seed(blocks, raise_table=False):
    out = bytes([HPACK_MODE])
    for i, block in enumerate(blocks):
        out += bytes([2 if raise_table and i == 0 else 0]) + struct.pack("<H", len(block)) + block
    return out


GET = b"\x82\x86" + literal(b":path", b"/a") + incremental(b":authority", b"h")
OK = b"\x88" + incremental(b"content-type", b"application/grpc")
SEEDS = {
    "hand_prior_knowledge": bytes([ROLE_SERVER | PRIOR])
    + chunk(INGRESS, PREFACE + frame(4, 0, 0, b"\x00\x03\x00\x00\x00\x64") + frame(1, 5, 1, GET))
    + chunk(0, frame(4, 0, 0) + frame(4, 1, 0) + frame(1, 4, 1, OK) + frame(0, 0, 1, grpc_message(b"xyz")))
    + chunk(TAKE, frame(1, 5, 1, incremental(b"grpc-status", b"0")))
    + chunk(INGRESS, frame(1, 4, 3, b"\x82\x86\xbe") + frame(3, 0, 3, b"\x00\x00\x00\x08"))
    + chunk(0, frame(7, 0, 0, b"\x00\x00\x00\x03\x00\x00\x00\x00")),
    "hand_midstream_detect": bytes([ROLE_UNKNOWN | DETECTOR])
    + chunk(INGRESS, frame(1, 4, 41, b"\x83\x86\xc5\xc4") + frame(0, 1, 41, grpc_message(b"q")))
    + chunk(0, frame(1, 4, 41, b"\x88\xc0") + frame(0, 0, 41, grpc_message(b"answer")) + frame(1, 5, 41, b"\xbf")),
    "hand_truncated_headers": bytes([ROLE_CLIENT | PRIOR])
    + chunk(0, PREFACE + frame(4, 0, 0))
    + chunk(TRUNCATED, frame(1, 5, 1, GET + incremental(b"x-long", b"v" * 120)), uncaptured=64)
    + chunk(0, frame(1, 5, 3, b"\x82\x86\xbf\xbe"))
    + chunk(INGRESS | GAP, uncaptured=128)
    + chunk(INGRESS, frame(1, 5, 3, b"\x88")),
    "hand_upgrade": bytes([ROLE_SERVER | UPGRADE])
    + chunk(INGRESS, b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nHTTP2-Settings: AAEAACAA\r\n\r\n")
    + chunk(0, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n" + frame(4, 0, 0) + frame(1, 4, 1, b"\x88")
            + frame(0, 1, 1, b"ok"))
    + chunk(INGRESS, PREFACE + frame(4, 0, 0) + frame(4, 1, 0)),
    "hand_hpack_size_updates": hpack_seed([b"\x3f\xe1\x1f" + incremental(b"a", b"b"), b"\xbe\x20\x82", b"\xbe"], True),
    "fixture_grpc_server": from_fixture(ROLE_SERVER | PRIOR, "grpc_calls"),
    "fixture_grpc_midstream_detect": from_fixture(ROLE_UNKNOWN | DETECTOR, "grpc_calls", first=4),
    "fixture_upgrade_detect": from_fixture(ROLE_UNKNOWN | DETECTOR, "nghttp_upgrade"),
    "fixture_curl_upgrade_client": from_fixture(ROLE_CLIENT | UPGRADE, "curl_upgrade"),
    "fixture_padded_continuation": from_fixture(ROLE_SERVER | PRIOR, "nghttp_post_padded", capture=4096),
    "fixture_concurrent_truncated": from_fixture(ROLE_SERVER | PRIOR, "nghttp_concurrent"),
    "fixture_h2load_midstream": from_fixture(ROLE_UNKNOWN | MIDSTREAM, "h2load_sequential", first=10, last=30),
    "hpack_grpc_requests": hpack_seed(header_blocks("grpc_calls", "ingress")),
    "hpack_grpc_responses": hpack_seed(header_blocks("grpc_calls", "egress")),
    "hpack_nghttpd_table_8192": hpack_seed(header_blocks("nghttp_concurrent", "egress"), True),
}


def main():
    out_dir = os.path.join(HERE, "corpus", "http2")
    os.makedirs(out_dir, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)
    print("%d seeds in %s" % (len(SEEDS), out_dir))


if __name__ == "__main__":
    main()
