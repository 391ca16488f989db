#!/usr/bin/env python3
"""A stand-in for a Zipkin server's collector API in tests (no Zipkin server is packaged for
Debian): accepts POST /api/v2/spans, prints one JSON line per request {"path", "content_type",
"spans": <the body parsed as JSON>} and answers 202, or 503 with Retry-After: 1 for the first
FAIL_FIRST requests. Prints "READY <port>" once listening.

usage: zipkin_sink.py [FAIL_FIRST]
"""
import http.server
import json
import sys

fail_first = int(sys.argv[1]) if len(sys.argv) > 1 else 0


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        global fail_first
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if fail_first > 0:
            fail_first -= 1
            self.send_response(503)
            self.send_header("Retry-After", "1")
            self.send_header("Content-Length", "0")
            self.end_headers()
            print(json.dumps({"path": self.path, "answered": 503}), flush=True)
            return
        print(json.dumps({"path": self.path, "content_type": self.headers.get("Content-Type"),
                          "answered": 202, "spans": json.loads(body)}), flush=True)
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"READY {server.server_address[1]}", flush=True)
server.serve_forever()
