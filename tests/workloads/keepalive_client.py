# Two-phase keep-alive client on ONE connection: phase-1 GETs, wait for a line on stdin, phase-2 GETs.
import http.client
import sys


def get(conn, path):
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    local_port = conn.sock.getsockname()[1]
    print(f"{response.status} {len(body)} {local_port} {path}", flush=True)


def main():
    # usage: keepalive_client.py PORT PHASE1_PATHS(comma-separated) PHASE2_PATHS(comma-separated)
    port = int(sys.argv[1])
    conn = http.client.HTTPConnection("127.0.0.1", port)
    for path in sys.argv[2].split(","):
        get(conn, path)
    print("PHASE1 DONE", flush=True)
    sys.stdin.readline()
    for path in sys.argv[3].split(","):
        get(conn, path)
    print("PHASE2 DONE", flush=True)
    conn.close()


if __name__ == "__main__":
    main()
