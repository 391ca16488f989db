#!/usr/bin/env python3
"""Writes the seed corpus of http1_fuzz into corpus/http1/ (input layout: http1_fuzz.cpp)."""

import os
import struct

ROLE_UNKNOWN, ROLE_CLIENT, ROLE_SERVER = 0, 1, 2
MIDSTREAM, THROUGH_DETECTOR = 4, 8
INGRESS, GAP, TRUNCATED, TAKE = 1, 2, 4, 8
UNCAPTURED_UNIT = 64


def chunk(flags, data=b"", uncaptured=0, ticks=3):
    out = bytes([flags | (ticks << 4)]) + struct.pack("<H", len(data))
    if flags & (GAP | TRUNCATED):
        out += struct.pack("<H", uncaptured // UNCAPTURED_UNIT)
    return out + data


SEEDS = {
    "server_keepalive": bytes([ROLE_SERVER])
    + chunk(INGRESS, b"GET /users/1 HTTP/1.1\r\nHost: a\r\n\r\n")
    + chunk(0, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    + chunk(INGRESS | TAKE, b"POST /f HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")
    + chunk(0, b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"),
    "client_pipelined_chunked": bytes([ROLE_CLIENT])
    + chunk(0, b"GET /a HTTP/1.1\r\n\r\nHEAD /b HTTP/1.1\r\n\r\n")
    + chunk(INGRESS, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"),
    "continue_then_upgrade": bytes([ROLE_SERVER])
    + chunk(INGRESS, b"PUT /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
    + chunk(0, b"HTTP/1.1 100 Continue\r\n\r\n")
    + chunk(INGRESS, b"data")
    + chunk(0, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    + chunk(INGRESS, b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n")
    + chunk(0, b"HTTP/1.1 101 Switching Protocols\r\n\r\n\x81\x02hi"),
    "truncated_and_gap": bytes([ROLE_SERVER])
    + chunk(INGRESS, b"GET /big HTTP/1.1\r\n\r\n")
    + chunk(TRUNCATED, b"HTTP/1.1 200 OK\r\nContent-Length: 8192\r\n\r\nxxxx", uncaptured=4096)
    + chunk(GAP, uncaptured=4092)
    + chunk(INGRESS, b"GET /c HTTP/1.1\r\n\r\n")
    + chunk(TRUNCATED, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\nab", uncaptured=4094)
    + chunk(0, b"\r\n0\r\n\r\n"),
    "header_hole_resync": bytes([ROLE_SERVER])
    + chunk(INGRESS | TRUNCATED, b"GET /p HTTP/1.1\r\nHost: h\r\nCookie: aaa", uncaptured=640)
    + chunk(INGRESS, b"tail: x\r\n\r\n")
    + chunk(INGRESS, b"GET /q HTTP/1.1\r\n\r\n")
    + chunk(0, b"HTTP/1.1 200 OK\r\n\r\nuntil close"),
    "midstream_detect_unknown": bytes([ROLE_UNKNOWN | MIDSTREAM | THROUGH_DETECTOR])
    + chunk(INGRESS, b"middle of some body")
    + chunk(0, b"OPTIONS * HTTP/1.0\r\n\r\n")
    + chunk(INGRESS, b"HTTP/1.0 204 No Content\r\n\r\n"),
    "garbage": bytes([ROLE_UNKNOWN])
    + chunk(INGRESS, b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03")
    + chunk(0, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
}


def main():
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "http1")
    os.makedirs(out_dir, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out_dir, name), "wb") as out:
            out.write(data)


if __name__ == "__main__":
    main()
