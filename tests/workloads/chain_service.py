# One link of a service chain (stdlib ThreadingHTTPServer): GET /work calls the next service's
# /work, if any, and answers 200 "NAME > <next's body>". No tracing code and no header
# forwarding: whatever links the spans of a chain is the agent's doing.
#
#   chain_service.py --name NAME [--next http://127.0.0.1:PORT] [--port PORT | PORT]
#
# Port 0 (the default) picks a free one. Prints "READY <port>" once it listens.
import argparse
import http.client
import signal
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class NextService:
    """The downstream /work, over one keep-alive connection per calling thread."""

    def __init__(self, url):
        parsed = urllib.parse.urlsplit(url)
        self.host = parsed.hostname
        self.port = parsed.port or 80
        self.local = threading.local()

    def call(self):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            return self.get(conn)
        except (ConnectionError, http.client.RemoteDisconnected):
            # The peer closed the idle connection: one retry on a new one.
            conn.close()
            return self.get(conn)

    def call_once(self):
        """The downstream /work over a connection of its own, closed afterwards."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            return self.get(conn)
        finally:
            conn.close()

    @staticmethod
    def get(conn):
        conn.request("GET", "/work")
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"next service answered {response.status}: {body!r}")
        return body


def handler_class(name, call_next):
    """A request handler for service NAME; call_next() returns the downstream body, or is None."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body leave in two writes: without TCP_NODELAY, Nagle and delayed ACKs hold
        # every keep-alive response ~40 ms.
        disable_nagle_algorithm = True

        def log_message(self, format, *args):
            pass

        def reply(self, status, body):
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path.split("?", 1)[0] != "/work":
                self.reply(404, b"not found\n")
                return
            body = name.encode()
            if call_next is not None:
                try:
                    body += b" > " + call_next()
                except Exception as e:  # answered, so that a broken chain shows in the caller's status
                    self.reply(502, f"{name}: {e}\n".encode())
                    return
            self.reply(200, body)

    return Handler


class Server(ThreadingHTTPServer):
    # The default backlog of 5 drops the SYNs of a burst of parallel clients (1 s retransmit).
    request_queue_size = 128


def parse_args(description, argv=None, extra=None):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--name", required=True)
    parser.add_argument("--next", help="base URL of the next service, e.g. http://127.0.0.1:8081")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("port_arg", nargs="?", type=int, help="the port, as the test harness passes it")
    if extra:
        extra(parser)
    args = parser.parse_args(argv)
    if args.port_arg is not None:
        args.port = args.port_arg
    return args


def serve(handler, port):
    server = Server(("127.0.0.1", port), handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"READY {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def main():
    args = parse_args("One link of a service chain.")
    call_next = NextService(args.next).call if args.next else None
    serve(handler_class(args.name, call_next), args.port)


if __name__ == "__main__":
    main()
