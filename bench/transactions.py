"""Transactional produce bench: the same confluent-kafka transactional producer straight to
one Tansu broker and through kafkatwin in front of three (ALL_CLUSTERS and MAJORITY), in
transactions of --per records of --size bytes, committed one after another.

Prints per target and round: transactions/s, records/s, MB/s, and kafkatwin's CPU seconds
per GB; then the medians (min-max) and the ratio to direct. Transactions are committed by
the proxy itself (it holds a transaction's records until the commit and then writes them to
every cluster), so the figure includes the whole commit under the ack policy.

    bench/run-transactions.sh [--rounds 3] [--transactions 300] [--per 100] [--size 1024]
"""

import importlib.util
import os
import random
import statistics
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("e2e", os.path.join(HERE, "e2e.py"))
e2e = importlib.util.module_from_spec(spec)
spec.loader.exec_module(e2e)

from confluent_kafka import Producer  # noqa: E402

TARGETS = ["direct", "kt-3-all", "kt-3-maj"]


def kafkatwin_yaml(port, brokers, policy):
    clusters = "".join(
        f'  - {{ id: "c{i + 1}", bootstrap_servers: ["127.0.0.1:{b}"], priority: {i + 1} }}\n'
        for i, b in enumerate(brokers))
    return (f'server: {{ listen_address: "127.0.0.1", port: {port} }}\nclusters:\n{clusters}'
            f'producer: {{ ack_policy: "{policy}", timeout: 10s }}\n'
            "admin_api: { enabled: false }\n"
            "monitoring: { metrics: { enabled: false }, health: { enabled: false } }\n")


def run_transactions(bootstrap, topic, payloads, count, per):
    """Seconds for `count` committed transactions of `per` records."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5,
                  "transactional.id": f"bench-{uuid.uuid4().hex[:8]}"})
    p.init_transactions(30)
    k = len(payloads)
    t0 = time.perf_counter()
    for t in range(count):
        p.begin_transaction()
        for i in range(per):
            p.produce(topic, payloads[(t * per + i) % k], partition=0)
        p.commit_transaction(30)
    secs = time.perf_counter() - t0
    del p
    return secs


def main():
    ap = e2e.bench_args(__doc__, (19200, 19209))
    ap.add_argument("--transactions", type=int, default=300)
    ap.add_argument("--per", type=int, default=100)
    args = ap.parse_args()
    if not args.kafkatwin:
        sys.exit("transactions.py: pass --kafkatwin or set KAFKATWIN_BIN "
                 "(bench/run-transactions.sh does)")
    children = e2e.Children()
    work = tempfile.mkdtemp(prefix="kafkatwin-txbench-")
    try:
        ports = e2e.pick_ports(6, args.ports)
        single, brokers = ports[0], ports[1:4]
        e2e.start_tansu(children, args.tansu, work, "c0", single)
        for i, b in enumerate(brokers):
            e2e.start_tansu(children, args.tansu, work, f"c{i + 1}", b)
        endpoints = {"direct": (single, None)}
        for t, port, policy in (("kt-3-all", ports[4], "ALL_CLUSTERS"),
                                ("kt-3-maj", ports[5], "MAJORITY")):
            cfg = os.path.join(work, f"{t}.yaml")
            with open(cfg, "w") as f:
                f.write(kafkatwin_yaml(port, brokers, policy))
            log = os.path.join(work, f"{t}.log")
            proc = children.start(t, [args.kafkatwin, "--config", cfg], log)
            e2e.wait_ready(t, port, proc, log, 30)
            endpoints[t] = (port, proc)
        time.sleep(1.5)  # let the proxies compare their clusters before the first write
        rng = random.Random(7)
        payloads = [rng.randbytes(args.size) for _ in range(64)]
        rates = {t: [] for t in TARGETS}
        cpu = {t: [] for t in TARGETS}
        nbytes = args.transactions * args.per * args.size
        for rnd in range(args.rounds):
            for t in TARGETS[rnd % 3:] + TARGETS[:rnd % 3]:
                port, proc = endpoints[t]
                bootstrap = f"127.0.0.1:{port}"
                topic = f"txb-{t}-{rnd}-{uuid.uuid4().hex[:6]}"
                e2e.create_topic(bootstrap, topic, lambda: proc is None or proc.poll() is None)
                time.sleep(0.3)
                cpu0 = e2e.proc_cpu_seconds(proc.pid) if proc else None
                secs = run_transactions(bootstrap, topic, payloads, args.transactions, args.per)
                cpu1 = e2e.proc_cpu_seconds(proc.pid) if proc else None
                rates[t].append(args.transactions / secs)
                line = (f"[round {rnd + 1}/{args.rounds}] {t:9} {args.transactions / secs:8.1f} tx/s "
                        f"{args.transactions * args.per / secs:9.0f} records/s "
                        f"{nbytes / secs / 1e6:7.1f} MB/s")
                if cpu0 is not None and cpu1 is not None:
                    cpu[t].append((cpu1 - cpu0) / (nbytes / 1e9))
                    line += f"  CPU {cpu[t][-1]:.2f} s/GB"
                e2e.log(line)
        e2e.log("\nMedians over the rounds (min-max):")
        base = statistics.median(rates["direct"])
        for t in TARGETS:
            r = rates[t]
            med = statistics.median(r)
            c = (f"  CPU {statistics.median(cpu[t]):.2f} ({min(cpu[t]):.2f}-{max(cpu[t]):.2f}) s/GB"
                 if cpu[t] else "")
            e2e.log(f"{t:9} {med:8.1f} tx/s ({min(r):.1f}-{max(r):.1f})  "
                    f"{med * args.per * args.size / 1e6:7.1f} MB/s  {med / base:.2f} x direct{c}")
        return 0
    finally:
        children.stop_all()


if __name__ == "__main__":
    sys.exit(main())
