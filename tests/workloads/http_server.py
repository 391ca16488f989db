# HTTP/1.1 keep-alive test server (stdlib ThreadingHTTPServer): /users/<n>, /chunked, /bytes/<n>,
# POST /echo, /error, else 404.
# usage: http_server.py [--tls CERT KEY] PORT   (with --tls: HTTPS through Python's ssl, libssl.so.3)
import json
import re
import signal
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNKS = [b"first chunk;", b"the second, somewhat longer chunk;", b"x" * 1000, b"last"]
USER_PATH = re.compile(r"^/users/(\d+)$")
BYTES_PATH = re.compile(r"^/bytes/(\d+)$")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: without TCP_NODELAY, Nagle and delayed ACKs hold
    # every keep-alive response ~40 ms, which would make the server's own latency meaningless.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        pass

    def reply(self, status, body, content_type="application/json"):
        # send_error() would add "Connection: close"; every answer here keeps the connection open.
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        user = USER_PATH.match(path)
        size = BYTES_PATH.match(path)
        if size:
            self.reply(200, b"b" * min(int(size.group(1)), 1 << 24), "application/octet-stream")
        elif user:
            self.reply(200, json.dumps({"id": int(user.group(1)), "name": "user" + user.group(1)}).encode())
        elif path == "/chunked":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in CHUNKS:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/error":
            self.reply(500, b'{"error":"internal"}')
        else:
            self.reply(404, b'{"error":"not found"}')

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/echo":
            self.reply(200, body, self.headers.get("Content-Type", "application/octet-stream"))
        else:
            self.reply(404, b'{"error":"not found"}')


def main():
    port = int(sys.argv[-1])
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    if sys.argv[1] == "--tls":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[2], sys.argv[3])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"READY {port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
