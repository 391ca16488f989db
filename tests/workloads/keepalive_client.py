# Two-phase keep-alive client on ONE connection: phase-1 GETs, wait for a line on stdin, phase-2 GETs.
# usage: keepalive_client.py [--tls CAFILE] [--read-size N] PORT PHASE1_PATHS PHASE2_PATHS
#   --tls: HTTPS (Python's ssl: SSL_read_ex/SSL_write_ex on libssl.so.3), verified against CAFILE;
#   --read-size: read each body N bytes at a time (a TLS record then serves several reads, most
#   of them without a syscall).
import http.client
import ssl
import sys

READ_SIZE = 0


class SmallReads(http.client.HTTPResponse):
    """Reads the socket READ_SIZE bytes at a time (http.client's own reader asks for 8 KiB)."""

    def __init__(self, sock, *args, **kwargs):
        super().__init__(sock, *args, **kwargs)
        self.fp = sock.makefile("rb", buffering=READ_SIZE)


def get(conn, path):
    conn.request("GET", path)
    response = conn.getresponse()
    if READ_SIZE:
        body = b""
        while True:
            piece = response.read(READ_SIZE)
            if not piece:
                break
            body += piece
    else:
        body = response.read()
    local_port = conn.sock.getsockname()[1]
    print(f"{response.status} {len(body)} {local_port} {path}", flush=True)


def main():
    global READ_SIZE
    args = sys.argv[1:]
    context = None
    while args[0].startswith("--"):
        if args[0] == "--tls":
            context = ssl.create_default_context(cafile=args[1])
            args = args[2:]
        elif args[0] == "--read-size":
            READ_SIZE = int(args[1])
            args = args[2:]
        else:
            sys.exit("unknown option " + args[0])
    port = int(args[0])
    if context:
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=context)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port)
    if READ_SIZE:
        conn.response_class = SmallReads
    for path in args[1].split(","):
        get(conn, path)
    print("PHASE1 DONE", flush=True)
    sys.stdin.readline()
    for path in args[2].split(","):
        get(conn, path)
    print("PHASE2 DONE", flush=True)
    conn.close()


if __name__ == "__main__":
    main()
