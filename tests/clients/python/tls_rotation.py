"""A TLS connection kept open across a certificate rotation, and a new one after it.

Opens a TLS connection to --addr (trusting --ca), prints `OPEN <subject CN>`, waits for a
line on stdin (the test rotates the server's certificate meanwhile), then sends a Kafka
ApiVersions request on the old connection and reads its answer, opens a new connection and
reads its certificate. Prints one JSON report: old_cn, new_cn, old_still_answers.
"""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import struct
import sys


def connect(addr: str, ca: str) -> ssl.SSLSocket:
    host, port = addr.rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=ca)
    raw = socket.create_connection((host, int(port)), timeout=10)
    return ctx.wrap_socket(raw, server_hostname=host)


def cn(sock: ssl.SSLSocket) -> str:
    subject = dict(x[0] for x in sock.getpeercert()["subject"])
    return subject.get("commonName", "")


def api_versions(sock: ssl.SSLSocket) -> bool:
    # ApiVersions v0: api key 18, version 0, correlation id 7, client id "t".
    body = struct.pack(">hhih", 18, 0, 7, 1) + b"t"
    sock.sendall(struct.pack(">i", len(body)) + body)
    head = sock.recv(4)
    if len(head) < 4:
        return False
    size = struct.unpack(">i", head)[0]
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return False
        data += chunk
    return struct.unpack(">i", data[:4])[0] == 7


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--addr", required=True)
    p.add_argument("--ca", required=True)
    a = p.parse_args()
    old = connect(a.addr, a.ca)
    print(f"OPEN {cn(old)}", flush=True)
    sys.stdin.readline()
    report = {"old_cn": cn(old), "old_still_answers": api_versions(old)}
    new = connect(a.addr, a.ca)
    report["new_cn"] = cn(new)
    report["new_answers"] = api_versions(new)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
