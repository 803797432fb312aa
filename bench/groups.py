#!/usr/bin/env python3
"""Groups bench: how long a consumer group stops when a cluster is killed under it.

Three Tansu brokers (memory storage) c1, c2, c3 on loopback behind one kafkatwin (ack policy
MAJORITY). A producer writes --rate msg/s over 4 partitions the whole time; a group of two
confluent-kafka consumers reads them, committing after every batch. --failovers times, c1 (the
first cluster: the one Metadata, reads and logical offsets come from) is killed (SIGKILL),
then started again empty after 6 s and given 12 s to be repaired. A round's pause is the
longest wait between two records delivered to the group in the 5 s after the kill (before
c1 returns: its return stalls the producer for a moment, which is not the group's pause).
Also
counted: partitions revoked after the group first settled (rebalances), failed commits, and
records delivered twice after being committed. Figures only, no pass/fail.

  bench/run-groups.sh [--failovers 5] [--rate 400]
"""

import importlib.util
import os
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
from confluent_kafka import Consumer, KafkaException, Producer  # noqa: E402

TOPIC = "groups-bench"


def kafkatwin_yaml(port, brokers):
    clusters = "".join(
        f'  - {{ id: "c{i + 1}", bootstrap_servers: ["127.0.0.1:{b}"], priority: {i + 1} }}\n'
        for i, b in enumerate(brokers))
    return (f'server: {{ listen_address: "127.0.0.1", port: {port} }}\nclusters:\n{clusters}'
            'producer: { ack_policy: "MAJORITY", timeout: 5s }\n'
            "circuit_breaker: { failure_threshold: 2, open_duration: 1s }\n"
            "admin_api: { enabled: false }\n"
            "monitoring: { metrics: { enabled: false }, health: { enabled: false } }\n")


class Group:
    """Two consumers in one group, reading and committing until stopped."""

    def __init__(self, bootstrap):
        self.lock = threading.Lock()
        self.deliveries = []
        self.committed = set()
        self.duplicates = 0
        self.commit_failures = 0
        self.revocations = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(bootstrap, n), daemon=True)
                        for n in range(2)]
        for t in self.threads:
            t.start()

    def run(self, bootstrap, n):
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-groups",
                      "client.id": f"bench-{n}", "enable.auto.commit": False,
                      "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
                      "heartbeat.interval.ms": 1000, "fetch.wait.max.ms": 100})

        def revoked(_c, parts):
            if parts and not self.stop.is_set():
                with self.lock:
                    self.revocations.append(time.monotonic())

        c.subscribe([TOPIC], on_revoke=revoked)
        while not self.stop.is_set():
            msgs = [m for m in c.consume(200, 0.1) if m.error() is None]
            if not msgs:
                continue
            try:
                c.commit(asynchronous=False)
            except KafkaException:
                with self.lock:
                    self.commit_failures += 1
                continue
            now = time.monotonic()
            with self.lock:
                for m in msgs:
                    key = m.value()
                    if key in self.committed:
                        self.duplicates += 1
                    self.committed.add(key)
                    self.deliveries.append(now)
        c.close()

    def close(self):
        self.stop.set()
        for t in self.threads:
            t.join(15)


def produce_forever(bootstrap, rate, stop):
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    i = 0
    t0 = time.monotonic()
    while not stop.is_set():
        while i < (time.monotonic() - t0) * rate:
            p.produce(TOPIC, f"v{i}".encode(), partition=i % 4)
            i += 1
        p.poll(0)
        time.sleep(0.01)
    p.flush(30)


def main():
    ap = e2e.bench_args(__doc__, (19220, 19239))
    ap.add_argument("--failovers", type=int, default=5)
    ap.add_argument("--rate", type=int, default=400)
    args = ap.parse_args()
    if not args.kafkatwin:
        sys.exit("groups.py: pass --kafkatwin or set KAFKATWIN_BIN (bench/run-groups.sh does)")
    children = e2e.Children()
    work = tempfile.mkdtemp(prefix="kafkatwin-groups-")
    try:
        ports = e2e.pick_ports(4, args.ports)
        brokers = ports[:3]
        procs = [e2e.start_tansu(children, args.tansu, work, f"c{i + 1}", b)
                 for i, b in enumerate(brokers)]
        cfg = os.path.join(work, "kt.yaml")
        with open(cfg, "w") as f:
            f.write(kafkatwin_yaml(ports[3], brokers))
        log = os.path.join(work, "kt.log")
        proc = children.start("kt", [args.kafkatwin, "--config", cfg], log)
        e2e.wait_ready("kt", ports[3], proc, log, 30)
        time.sleep(1.5)
        bootstrap = f"127.0.0.1:{ports[3]}"
        admin = e2e.admin_for(bootstrap)
        from confluent_kafka.admin import NewTopic
        for f in admin.create_topics([NewTopic(TOPIC, num_partitions=4,
                                               replication_factor=1)]).values():
            f.result(30)
        stop = threading.Event()
        producer = threading.Thread(target=produce_forever, args=(bootstrap, args.rate, stop),
                                    daemon=True)
        producer.start()
        group = Group(bootstrap)
        time.sleep(8)  # the group forms and settles
        settled = time.monotonic()
        kills = []
        for rnd in range(args.failovers):
            kills.append(time.monotonic())
            procs[0].kill()
            procs[0].wait()
            time.sleep(6)
            procs[0] = e2e.start_tansu(children, args.tansu, work, "c1", brokers[0])
            time.sleep(12)
            e2e.log(f"[round {rnd + 1}/{args.failovers}] c1 killed and back empty")
        group.close()
        stop.set()
        producer.join(40)
        pauses = []
        with group.lock:
            for k in kills:
                window = [d for d in group.deliveries if k <= d <= k + 5.0]
                if window:
                    gaps = [b - a for a, b in zip([k] + window, window)]
                    pauses.append(max(gaps) * 1000)
            rebalances = sum(1 for r in group.revocations if r > settled)
            e2e.log(f"group pause after c1 is killed, {len(pauses)} rounds: "
                    f"p50 {statistics.median(pauses):.0f} ms, max {max(pauses):.0f} ms "
                    f"({', '.join(f'{x:.0f}' for x in pauses)})" if pauses else "no pauses")
            e2e.log(f"revocations after the group settled: {rebalances}; failed commits: "
                    f"{group.commit_failures}; delivered again after commit: {group.duplicates}; "
                    f"records read: {len(group.committed)}")
    finally:
        children.stop_all()


if __name__ == "__main__":
    main()
