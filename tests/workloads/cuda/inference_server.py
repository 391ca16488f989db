#!/usr/bin/env python3
"""An uninstrumented model server: POST /predict runs GPU work through a CUDA library (ctypes),
on the thread that serves the request, the way Python inference servers call into PyTorch.

  inference_server.py LIBRARY [--lazy] PORT
prints "READY PORT" when it listens. With --lazy the library is loaded (dlopen) at the first
request, as servers that import their model on first use do. Answers 200, or 500 with the
cudaError_t when CUDA failed (as without a GPU: every call returns cudaErrorInsufficientDriver).
"""
import ctypes
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


LIBRARY = None
_lib = None
_lock = threading.Lock()


def load():
    global _lib
    with _lock:
        if _lib is None:
            lib = ctypes.CDLL(LIBRARY)
            lib.predict.argtypes = [ctypes.c_int]
            lib.predict.restype = ctypes.c_int
            _lib = lib
        return _lib


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        elements = int(body or b"65536")
        error = load().predict(elements)
        reply = f"cuda error {error}\n".encode()
        self.send_response(500 if error else 200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


def main():
    global LIBRARY
    LIBRARY = sys.argv[1]
    port = int(sys.argv[-1])
    if "--lazy" not in sys.argv[2:-1]:
        load()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"READY {port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
