#!/usr/bin/env python3
"""Reads bench: consume throughput from a non-authority cluster, and read failover pauses.

Two Tansu brokers (memory storage) on loopback: c1 (dc1, the authority whose offsets clients
see) and c2 (dc2). Consume targets, each reading the same N records of --size bytes from
offset 0 with one confluent-kafka consumer:
  direct      c2, no proxy;
  kt-1        kafkatwin in front of c2 only (passthrough);
  kt-2-local  kafkatwin in front of both, local_dc dc2 with prefer_local_reads: every fetch
              is read from c2, the non-authority cluster, and translated to logical offsets.
Then the failover phase: a consumer reads through kt-2-local at --rate msg/s while c2 is
frozen (SIGSTOP) --failovers times; the pause is the time from the freeze to the next record
delivered (served by c1), p50 and max. c2 is thawed between rounds and reads move back to it.
Figures only, no pass/fail.

  bench/run-reads.sh [--rounds 3] [--size 1024] [--records 200000] [--failovers 5]
"""

import importlib.util
import os
import random
import signal
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("e2e", os.path.join(HERE, "e2e.py"))
e2e = importlib.util.module_from_spec(spec)
spec.loader.exec_module(e2e)
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

TARGETS = ("direct", "kt-1", "kt-2-local")


def kafkatwin_yaml(port, brokers, local_dc):
    clusters = "".join(
        f'  - {{ id: "c{i + 1}", bootstrap_servers: ["127.0.0.1:{b}"], priority: {i + 1} }}\n'
        for i, b in brokers)
    dcs = ""
    if local_dc:
        dcs = ("multi_dc:\n  enabled: true\n  strategy: active-active\n"
               f"  local_dc: {local_dc}\n  prefer_local_reads: true\n  datacenters:\n"
               "    - { id: dc1, priority: 1, cluster_ids: [c1] }\n"
               "    - { id: dc2, priority: 2, cluster_ids: [c2] }\n")
    return (f'server: {{ listen_address: "127.0.0.1", port: {port} }}\nclusters:\n{clusters}'
            'producer: { ack_policy: "ALL_CLUSTERS", timeout: 10s }\n'
            "circuit_breaker: { failure_threshold: 2, open_duration: 1s }\n"
            "admin_api: { enabled: false }\n"
            "monitoring: { metrics: { enabled: false }, health: { enabled: false } }\n" + dcs)


def consumer(bootstrap, small_queue=False):
    conf = {
        "bootstrap.servers": bootstrap, "group.id": "bench-reads", "enable.auto.commit": False,
        "enable.auto.offset.store": False, "queued.min.messages": 1_000_000,
        "fetch.queue.backoff.ms": 1, "fetch.wait.max.ms": 100,
    }
    if small_queue:
        # Failover phase: keep librdkafka's prefetch to about one 64 KiB fetch, so a pause is
        # not hidden behind records the client fetched before the freeze.
        conf.update({"queued.min.messages": 1, "queued.max.messages.kbytes": 64,
                     "fetch.max.bytes": 65536, "message.max.bytes": 65536,
                     "max.partition.fetch.bytes": 65536})
    return Consumer(conf)


def consume_all(bootstrap, topic, n):
    c = consumer(bootstrap)
    c.assign([TopicPartition(topic, 0, 0)])
    got, t0, t_last = 0, time.perf_counter(), None
    idle_since = time.monotonic()
    while got < n and time.monotonic() - idle_since < 20:
        msgs = c.consume(num_messages=min(10_000, n - got), timeout=0.5)
        if msgs:
            got += sum(1 for m in msgs if m.error() is None)
            t_last = time.perf_counter()
            idle_since = time.monotonic()
    c.close()
    if got < n:
        raise RuntimeError(f"{bootstrap}: consumed {got} of {n}")
    return n / ((t_last or t0) - t0)


def failover_pauses(bootstrap, topic, n, rate, rounds, freeze, thaw):
    """Reads at `rate` msg/s, checking offsets run on with no gap or repeat, and freezes the
    read cluster `rounds` times. A round's pause is the longest wait between two deliveries
    in the 8 s after the freeze (records prefetched before it are delivered first)."""
    c = consumer(bootstrap, small_queue=True)
    c.assign([TopicPartition(topic, 0, 0)])
    freezes = []
    deliveries = []
    stop = threading.Event()

    def chaos():
        for _ in range(rounds):
            time.sleep(3.0)
            if stop.is_set():
                return
            freezes.append(time.monotonic())
            freeze()
            time.sleep(4.0)
            thaw()
            time.sleep(8.0)  # reads move back once c2 answers probes again

    t = threading.Thread(target=chaos, daemon=True)
    t.start()
    got, expected_next = 0, None
    while got < n and t.is_alive():
        for m in c.consume(num_messages=max(1, rate // 20), timeout=0.05):
            if m.error() is not None:
                continue
            if expected_next is not None and m.offset() != expected_next:
                raise RuntimeError(f"gap or repeat: expected offset {expected_next}, got {m.offset()}")
            expected_next = m.offset() + 1
            got += 1
            deliveries.append(time.monotonic())
        time.sleep(0.05)
    stop.set()
    c.close()
    pauses = []
    for f in freezes:
        window = [d for d in deliveries if f <= d <= f + 8.0]
        if not window:
            continue
        gaps = [b - a for a, b in zip([f] + window, window)]
        pauses.append(max(gaps) * 1000)
    return pauses


def main():
    ap = e2e.bench_args(__doc__, (19200, 19219))
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--failovers", type=int, default=5)
    ap.add_argument("--rate", type=int, default=1000)
    args = ap.parse_args()
    if not args.kafkatwin:
        sys.exit("reads.py: pass --kafkatwin or set KAFKATWIN_BIN (bench/run-reads.sh does)")
    children = e2e.Children()
    work = tempfile.mkdtemp(prefix="kafkatwin-reads-")
    try:
        ports = e2e.pick_ports(4, args.ports)
        brokers = ports[:2]
        procs = [e2e.start_tansu(children, args.tansu, work, f"c{i + 1}", b)
                 for i, b in enumerate(brokers)]
        endpoints = {"direct": brokers[1]}
        for t, port, bs, local in (("kt-1", ports[2], [(1, brokers[1])], None),
                                   ("kt-2-local", ports[3], list(enumerate(brokers)), "dc2")):
            cfg = os.path.join(work, f"{t}.yaml")
            with open(cfg, "w") as f:
                f.write(kafkatwin_yaml(port, bs, local))
            log = os.path.join(work, f"{t}.log")
            proc = children.start(t, [args.kafkatwin, "--config", cfg], log)
            e2e.wait_ready(t, port, proc, log, 30)
            endpoints[t] = port
        time.sleep(1.5)
        kt2 = f"127.0.0.1:{endpoints['kt-2-local']}"
        topic = "reads"
        e2e.create_topic(kt2, topic, lambda: True)
        time.sleep(0.5)
        rng = random.Random(7)
        payloads = [rng.randbytes(args.size) for _ in range(64)]
        p = Producer({"bootstrap.servers": kt2, "acks": "all", "linger.ms": 5,
                      "queue.buffering.max.messages": 1_000_000})
        for i in range(args.records):
            while True:
                try:
                    p.produce(topic, payloads[i % 64], partition=0)
                    break
                except BufferError:
                    p.poll(0.01)
        if p.flush(120):
            raise RuntimeError("records undelivered")
        rows = {t: [] for t in TARGETS}
        for rnd in range(args.rounds):
            order = TARGETS[rnd % 3:] + TARGETS[:rnd % 3]
            for t in order:
                rate = consume_all(f"127.0.0.1:{endpoints[t]}", topic, args.records)
                rows[t].append(rate)
                e2e.log(f"[round {rnd + 1}/{args.rounds}] {t:<10} {rate:>9.0f} msg/s")
        e2e.log("")
        base = statistics.median(rows["kt-1"])
        for t in TARGETS:
            m = statistics.median(rows[t])
            e2e.log(f"{t:<10} {m:>9.0f} msg/s  {m / base:.2f} x kt-1 (passthrough)")
        c2 = procs[1]
        pauses = failover_pauses(kt2, topic, args.records, args.rate, args.failovers,
                                 lambda: os.kill(c2.pid, signal.SIGSTOP),
                                 lambda: os.kill(c2.pid, signal.SIGCONT))
        if pauses:
            e2e.log(f"read failover pause (c2 frozen, next record from c1), {len(pauses)} rounds: "
                    f"p50 {statistics.median(pauses):.0f} ms, max {max(pauses):.0f} ms "
                    f"({', '.join(f'{x:.0f}' for x in pauses)})")
    finally:
        children.stop_all()


if __name__ == "__main__":
    main()
