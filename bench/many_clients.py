"""Many-clients bench: kafkatwin in front of one Tansu broker, with --busy producers (the
Rust load client, bench/loadgen, one librdkafka producer per thread) moving --records
records of --size bytes, alone and then beside --idle idle client connections (each has
asked for ApiVersions and the topic's metadata, as a client does when it starts, and then
waits). Rounds alternate the two.

Prints per round the busy producers' records/s and kafkatwin's resident memory (RSS), then
the medians (min-max) and the ratio of the busy throughput beside the idle connections to
the busy throughput alone.

    bench/run-many-clients.sh [--rounds 3] [--idle 2000] [--busy 50] [--records 300000] [--size 1024]
"""

import argparse
import importlib.util
import os
import random
import socket
import statistics
import struct
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("e2e", os.path.join(HERE, "e2e.py"))
e2e = importlib.util.module_from_spec(spec)
spec.loader.exec_module(e2e)


def kafkatwin_yaml(port, broker):
    return (f'server: {{ listen_address: "127.0.0.1", port: {port}, max_connections: 10000, '
            'max_connections_per_ip: 10000 }\n'
            f'clusters:\n  - {{ id: "c1", bootstrap_servers: ["127.0.0.1:{broker}"] }}\n'
            "admin_api: { enabled: false }\n"
            "monitoring: { metrics: { enabled: false }, health: { enabled: false } }\n")


def frame(api_key, version, correlation, body):
    """A request frame: header v1 (client id "idle") and `body`."""
    client = b"idle"
    header = struct.pack(">hhih", api_key, version, correlation, len(client)) + client
    msg = header + body
    return struct.pack(">i", len(msg)) + msg


def read_frame(sock):
    size = struct.unpack(">i", recv_exactly(sock, 4))[0]
    return recv_exactly(sock, size)


def recv_exactly(sock, n):
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("closed by the proxy")
        out += chunk
    return out


def open_idle(port, count, topic):
    """`count` connections, each after ApiVersions v0 and Metadata v1 of `topic`."""
    name = topic.encode()
    metadata = struct.pack(">ih", 1, len(name)) + name
    conns = []
    for i in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(frame(18, 0, 1, b""))
        read_frame(s)
        s.sendall(frame(3, 1, 2, metadata))
        read_frame(s)
        conns.append(s)
        if i % 500 == 499:
            e2e.log(f"  {i + 1} idle connections open")
    return conns


def rss_mib(pid):
    kib = e2e.proc_status_kib(pid, "VmRSS")
    return kib / 1024 if kib is not None else float("nan")


def busy_run(args, bootstrap, topic, payload_file):
    """Records/s of the busy producers writing --records to `topic`."""
    settings = e2e.producer_settings(bootstrap, args.records // args.busy + 1, args)
    out = e2e.run_load(args, "produce", topic, args.records, settings, payload_file,
                       extra=["--clients", str(args.busy)])
    if out["failed"] or out["remaining"]:
        raise RuntimeError(f"busy producers: {out['failed']} failed, {out['remaining']} left: "
                           f"{out['first_error']}")
    return args.records / out["secs"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kafkatwin", default=os.environ.get("KAFKATWIN_BIN"))
    ap.add_argument("--load-bin", default=os.environ.get("KAFKATWIN_LOAD_BIN"))
    ap.add_argument("--tansu", default=None)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--idle", type=int, default=2000)
    ap.add_argument("--busy", type=int, default=50)
    ap.add_argument("--records", type=int, default=300_000)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--batch-size", type=int, default=1_000_000)
    ap.add_argument("--ports", default="19220-19229")
    args = ap.parse_args()
    args.idle_timeout, args.flush_timeout = 30, 300
    if not args.kafkatwin or not args.load_bin:
        sys.exit("many_clients.py: pass --kafkatwin and --load-bin, or set KAFKATWIN_BIN and "
                 "KAFKATWIN_LOAD_BIN (bench/run-many-clients.sh does)")
    args.tansu = args.tansu or e2e.default_tansu()
    children = e2e.Children()
    work = tempfile.mkdtemp(prefix="kafkatwin-many-")
    try:
        broker, port = e2e.pick_ports(2, e2e.parse_port_range(args.ports))
        e2e.start_tansu(children, args.tansu, work, "c1", broker)
        cfg = os.path.join(work, "kafkatwin.yaml")
        with open(cfg, "w") as f:
            f.write(kafkatwin_yaml(port, broker))
        log = os.path.join(work, "kafkatwin.log")
        proc = children.start("kafkatwin", [args.kafkatwin, "--config", cfg], log)
        e2e.wait_ready("kafkatwin", port, proc, log, 30)
        bootstrap = f"127.0.0.1:{port}"
        rng = random.Random(7)
        payload_file = os.path.join(work, "payloads.bin")
        with open(payload_file, "wb") as f:
            for _ in range(64):
                v = rng.randbytes(args.size)
                f.write(len(v).to_bytes(4, "big") + v)
        alive = lambda: proc.poll() is None  # noqa: E731
        rates = {"alone": [], "beside idle": []}
        rss = {"alone": [], "idle only": [], "beside idle": []}
        for rnd in range(args.rounds):
            order = ["alone", "beside idle"] if rnd % 2 == 0 else ["beside idle", "alone"]
            for phase in order:
                topic = f"many-{rnd}-{phase.replace(' ', '-')}-{uuid.uuid4().hex[:6]}"
                e2e.create_topic(bootstrap, topic, alive)
                idle = []
                if phase == "beside idle":
                    idle = open_idle(port, args.idle, topic)
                    time.sleep(1)
                    rss["idle only"].append(rss_mib(proc.pid))
                rate = busy_run(args, bootstrap, topic, payload_file)
                rss[phase].append(rss_mib(proc.pid))
                rates[phase].append(rate)
                e2e.log(f"[round {rnd + 1}/{args.rounds}] {args.busy} busy {phase:11} "
                        f"{rate:9.0f} records/s  RSS {rss[phase][-1]:6.1f} MiB"
                        + (f" (idle only {rss['idle only'][-1]:.1f} MiB)" if idle else ""))
                for s in idle:
                    s.close()
                time.sleep(1)
        e2e.log("\nMedians over the rounds (min-max):")
        for phase, r in rates.items():
            e2e.log(f"{args.busy} busy {phase:11} {statistics.median(r):9.0f} records/s "
                    f"({min(r):.0f}-{max(r):.0f})  RSS {statistics.median(rss[phase]):.1f} MiB "
                    f"({min(rss[phase]):.1f}-{max(rss[phase]):.1f})")
        e2e.log(f"{args.idle} idle connections alone: RSS {statistics.median(rss['idle only']):.1f} MiB")
        ratio = statistics.median(rates["beside idle"]) / statistics.median(rates["alone"])
        e2e.log(f"busy throughput beside {args.idle} idle connections: {ratio:.2f} x alone")
        return 0
    finally:
        children.stop_all()


if __name__ == "__main__":
    sys.exit(main())
