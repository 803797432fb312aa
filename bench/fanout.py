#!/usr/bin/env python3
"""Fan-out bench: what writing to three clusters costs kafkatwin, against one cluster.

Four Tansu brokers (memory storage) on loopback: c0 for the one-cluster targets, c1..c3 for
the three-cluster ones (so no three-cluster proxy ever finds a topic the one-cluster targets
wrote to one broker only, and spends the round repairing it). Targets:
  direct      c0, no proxy;
  kt-1        kafkatwin in front of c0 only (passthrough);
  kt-3-all    kafkatwin in front of c1..c3, ack policy ALL_CLUSTERS;
  kt-3-any    kafkatwin in front of c1..c3, ack policy ANY.
Each three-cluster proxy runs only for its own rounds (two proxies that are not scale-out
peers must not write the same clusters at once).
Then, MAJORITY over the three with a fresh proxy: healthy, and with the third broker hung
(SIGSTOP) from before the proxy starts: time to the first answered produce, p50 and p99.
For each target and round: a throughput phase (N records of --size bytes as fast as the
confluent-kafka producer goes, acks=all) measuring msg/s and kafkatwin's CPU seconds per GB of
client data and its context switches per GB, then a latency phase (--rate msg/s for --seconds, linger.ms=0) measuring the time
from produce() to the delivery report, p50 and p99. For the three-cluster targets, the admin
API is polled every 100 ms: how long each cluster was behind (missed writes being repaired,
or lacking more than LAG_BEHIND records another cluster has answered for) during the round
and until every cluster held every record afterwards, and the most records it lacked. Each
target's rounds are printed with their spread (the slowest round against the best). Then ANY
once more with c2 hung for --pause seconds while writing: how long the clusters were behind
and how long after c2's resumption all caught up. At the end, `kafkatwin compare` reads every topic on c1..c3 side by side: they must hold the same
records in the same order. Figures only, no pass/fail.

  bench/run-fanout.sh [--rounds 3] [--size 1024] [--records 100000] [--rate 1000]
"""

import importlib.util
import json
import os
import subprocess
import threading
import urllib.request
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
import signal  # noqa: E402

from confluent_kafka import Producer  # noqa: E402

TARGETS = ("direct", "kt-1", "kt-3-all", "kt-3-any")


def first_answer(bootstrap, topic, payload):
    """Seconds from a new producer's first produce() to its delivery report (acks=all)."""
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
    got = []
    start = time.monotonic()
    p.produce(topic, payload, on_delivery=lambda e, m: got.append((e, time.monotonic())))
    p.flush(120)
    if not got or got[0][0] is not None:
        raise RuntimeError(f"first produce to {bootstrap} failed: {got}")
    return got[0][1] - start


def startup_case(args, children, work, port, brokers, hung, payloads):
    """A fresh kafkatwin (MAJORITY over the three) started with broker `hung` frozen or none:
    time from its start to the first answered produce, then p50/p99 at --rate."""
    name = "kt-3-maj-hung" if hung is not None else "kt-3-maj"
    if hung is not None:
        hung.send_signal(signal.SIGSTOP)
    try:
        cfg = os.path.join(work, f"{name}.yaml")
        with open(cfg, "w") as f:
            f.write(kafkatwin_yaml(port, brokers, "MAJORITY"))
        log = os.path.join(work, f"{name}.log")
        started = time.monotonic()
        proc = children.start(name, [args.kafkatwin, "--config", cfg], log)
        e2e.wait_ready(name, port, proc, log, 30)
        bootstrap = f"127.0.0.1:{port}"
        topic = f"fan-{name}-{uuid.uuid4().hex[:6]}"
        e2e.create_topic(bootstrap, topic, lambda: proc.poll() is None)
        answer = first_answer(bootstrap, topic, payloads[0])
        since_start = time.monotonic() - started
        p50, p99 = latency(bootstrap, topic, payloads, args.rate, args.seconds)
        e2e.log(f"{name:<14} first produce answered {answer * 1000:.0f} ms after it was sent "
                f"({since_start:.2f} s after the proxy started); p50 {p50 or 0:.2f} ms  p99 {p99 or 0:.2f} ms")
        proc.terminate()
        proc.wait(30)
    finally:
        if hung is not None:
            hung.send_signal(signal.SIGCONT)


def kafkatwin_yaml(port, brokers, policy, admin_port=None):
    clusters = "".join(
        f'  - {{ id: "c{i + 1}", bootstrap_servers: ["127.0.0.1:{b}"], priority: {i + 1} }}\n'
        for i, b in enumerate(brokers))
    admin = (f'admin_api: {{ listen_address: "127.0.0.1", port: {admin_port} }}\n'
             if admin_port else "admin_api: { enabled: false }\n")
    return (f'server: {{ listen_address: "127.0.0.1", port: {port} }}\nclusters:\n{clusters}'
            f'producer: {{ ack_policy: "{policy}", timeout: 10s }}\n'
            + admin +
            "monitoring: { metrics: { enabled: false }, health: { enabled: false } }\n")


# A cluster lacking more records than this that another cluster holds counts as behind: a
# few produce requests in flight (librdkafka's 5 of up to 1 MiB, 1 KiB records) stay below it.
LAG_BEHIND = 10_000


class BehindWatch(threading.Thread):
    """Polls a proxy's admin API every 100 ms: seconds each cluster spent behind (missed
    writes being repaired, or lacking more than LAG_BEHIND records another cluster has
    answered for), and the most records it lacked."""

    def __init__(self, admin_port):
        super().__init__(daemon=True)
        self.url = f"http://127.0.0.1:{admin_port}/api/v1/clusters"
        self.behind = {}
        self.lag = {}
        self.now_behind = set()
        self.now_lagging = set()
        self.stopping = threading.Event()

    def poll(self):
        with urllib.request.urlopen(self.url, timeout=2) as r:
            return json.load(r)

    def run(self):
        last = time.monotonic()
        while not self.stopping.is_set():
            try:
                views = self.poll()
            except Exception:
                views = []
            now = time.monotonic()
            behind, lagging = set(), set()
            for v in views:
                cid = v["id"]
                self.behind.setdefault(cid, 0.0)
                lag = v.get("lag_records", 0)
                self.lag[cid] = max(self.lag.get(cid, 0), lag)
                if lag > 0:
                    lagging.add(cid)
                if v.get("behind_partitions", 0) > 0 or lag > LAG_BEHIND:
                    behind.add(cid)
                    self.behind[cid] += now - last
            self.now_behind = behind
            self.now_lagging = lagging
            last = now
            self.stopping.wait(0.1)

    def settle(self, within=120):
        """Waits until no cluster lacks a record another has (at most `within` s); stops
        polling."""
        deadline = time.monotonic() + within
        time.sleep(0.3)
        while (self.now_behind or self.now_lagging) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.stopping.set()
        self.join(5)
        return not (self.now_behind or self.now_lagging)

    def summary(self):
        return ", ".join(f"{c} behind {self.behind[c]:.1f} s (lacked up to {self.lag[c]})"
                         for c in sorted(self.behind))


def throughput(bootstrap, topic, payloads, n):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                  "delivery.report.only.error": True, "queue.buffering.max.messages": 1_000_000})
    start = time.monotonic()
    for i in range(n):
        while True:
            try:
                p.produce(topic, payloads[i % len(payloads)])
                break
            except BufferError:
                p.poll(0.01)
    left = p.flush(120)
    secs = time.monotonic() - start
    if left:
        raise RuntimeError(f"{left} records undelivered to {bootstrap}")
    return secs


def latency(bootstrap, topic, payloads, rate, seconds):
    lat = []
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})

    def done(err, msg, sent):
        if err is None:
            lat.append(time.monotonic() - sent)

    total = int(rate * seconds)
    start = time.monotonic()
    for i in range(total):
        due = start + i / rate
        while time.monotonic() < due:
            p.poll(max(0.0, min(0.001, due - time.monotonic())))
        sent = time.monotonic()
        p.produce(topic, payloads[i % len(payloads)], on_delivery=lambda e, m, s=sent: done(e, m, s))
        p.poll(0)
    p.flush(60)
    lat.sort()
    if not lat:
        return None, None
    return lat[len(lat) // 2] * 1000, lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000


def paused_case(args, children, work, port, admin_port, brokers, paused, payloads):
    """A fresh kafkatwin (ANY over the three) while the throughput phase runs with one
    cluster hung (SIGSTOP) for --pause seconds: how long each cluster was behind, the most it
    lacked, and how long the paused one took to catch up after it was resumed."""
    cfg = os.path.join(work, "kt-3-paused.yaml")
    with open(cfg, "w") as f:
        f.write(kafkatwin_yaml(port, brokers, "ANY", admin_port))
    log = os.path.join(work, "kt-3-paused.log")
    proc = children.start("kt-3-paused", [args.kafkatwin, "--config", cfg], log)
    e2e.wait_ready("kt-3-paused", port, proc, log, 30)
    time.sleep(1.5)
    bootstrap = f"127.0.0.1:{port}"
    topic = f"fan-kt-3-paused-{uuid.uuid4().hex[:6]}"
    e2e.create_topic(bootstrap, topic, lambda: proc.poll() is None)
    time.sleep(0.3)
    watch = BehindWatch(admin_port)
    watch.start()
    resumed = {}

    def pause():
        time.sleep(0.3)
        paused.send_signal(signal.SIGSTOP)
        time.sleep(args.pause)
        paused.send_signal(signal.SIGCONT)
        resumed["at"] = time.monotonic()

    t = threading.Thread(target=pause, daemon=True)
    t.start()
    try:
        secs = throughput(bootstrap, topic, payloads, args.records)
    finally:
        t.join()
    caught_up = watch.settle()
    after = time.monotonic() - resumed["at"]
    e2e.log(f"kt-3-any, c2 hung {args.pause:.1f} s while writing: {args.records / secs:.0f} msg/s; "
            f"{watch.summary()}; all caught up {after:.1f} s after c2 was resumed"
            + ("" if caught_up else " -- STILL BEHIND after 120 s"))
    children._stop(proc)


def compare_replicas(args, work, brokers):
    """`kafkatwin compare` over c1..c3: every topic read side by side on each."""
    cfg = os.path.join(work, "compare.yaml")
    with open(cfg, "w") as f:
        f.write(kafkatwin_yaml(1, brokers, "ANY"))
    out = subprocess.run([args.kafkatwin, "compare", "-c", cfg], capture_output=True,
                         text=True, timeout=600)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("fan-")]
    differ = [ln for ln in lines if "agree" not in ln]
    e2e.log("")
    e2e.log(f"Replicas (kafkatwin compare over c1..c3): {len(lines) - len(differ)} of "
            f"{len(lines)} partitions hold the same records in the same order")
    for ln in differ:
        e2e.log(f"  {ln}")


def main():
    ap = e2e.bench_args(__doc__, (19180, 19199))
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--pause", type=float, default=2.0,
                    help="seconds c2 is hung in the paused case")
    args = ap.parse_args()
    if not args.kafkatwin:
        sys.exit("fanout.py: pass --kafkatwin or set KAFKATWIN_BIN (bench/run-fanout.sh does)")

    children = e2e.Children()
    work = tempfile.mkdtemp(prefix="kafkatwin-fanout-")
    try:
        ports = e2e.pick_ports(13, args.ports)
        admin_ports = {"kt-3-all": ports[9], "kt-3-any": ports[10]}
        single, brokers = ports[0], ports[1:4]
        e2e.start_tansu(children, args.tansu, work, "c0", single)
        tansus = [e2e.start_tansu(children, args.tansu, work, f"c{i + 1}", b)
                  for i, b in enumerate(brokers)]
        setups = {"kt-1": (ports[4], [single], "ANY"),
                  "kt-3-all": (ports[5], brokers, "ALL_CLUSTERS"),
                  "kt-3-any": (ports[6], brokers, "ANY")}

        def start_proxy(t):
            port, bs, policy = setups[t]
            cfg = os.path.join(work, f"{t}.yaml")
            with open(cfg, "w") as f:
                f.write(kafkatwin_yaml(port, bs, policy, admin_ports.get(t)))
            log = os.path.join(work, f"{t}.log")
            proc = children.start(t, [args.kafkatwin, "--config", cfg], log)
            e2e.wait_ready(t, port, proc, log, 30)
            time.sleep(1.5)  # let the proxy compare its clusters before the first write
            return port, proc

        endpoints = {"direct": (single, None), "kt-1": start_proxy("kt-1")}
        rng = random.Random(7)
        payloads = [rng.randbytes(args.size) for _ in range(64)]
        rows = {t: {"tput": [], "cpu": [], "switches": [], "p50": [], "p99": []} for t in TARGETS}
        topics3 = []
        for rnd in range(args.rounds):
            order = TARGETS[rnd % 4:] + TARGETS[:rnd % 4]
            for t in order:
                if t not in endpoints:
                    endpoints[t] = start_proxy(t)
                port, proc = endpoints[t]
                bootstrap = f"127.0.0.1:{port}"
                topic = f"fan-{t}-{rnd}-{uuid.uuid4().hex[:6]}"
                e2e.create_topic(bootstrap, topic, lambda: proc is None or proc.poll() is None)
                time.sleep(0.3)
                watch = None
                if t in admin_ports:
                    watch = BehindWatch(admin_ports[t])
                    watch.start()
                    topics3.append(topic)
                cpu0 = e2e.proc_cpu_seconds(proc.pid) if proc else None
                sw0 = e2e.proc_context_switches(proc.pid) if proc else None
                secs = throughput(bootstrap, topic, payloads, args.records)
                cpu1 = e2e.proc_cpu_seconds(proc.pid) if proc else None
                sw1 = e2e.proc_context_switches(proc.pid) if proc else None
                r = rows[t]
                r["tput"].append(args.records / secs)
                round_cpu = ""
                gb = args.records * args.size / 1e9
                if cpu0 is not None and cpu1 is not None:
                    r["cpu"].append((cpu1 - cpu0) / gb)
                    r["switches"].append((sw1 - sw0) / gb)
                    round_cpu = f"  CPU {(cpu1 - cpu0) / gb:.2f} s/GB, {(sw1 - sw0) / gb:.0f} switches/GB"
                p50, p99 = latency(bootstrap, topic, payloads, args.rate, args.seconds)
                if p50 is not None:
                    r["p50"].append(p50)
                    r["p99"].append(p99)
                e2e.log(f"[round {rnd + 1}/{args.rounds}] {t:<9} {args.records / secs:>9.0f} msg/s  "
                        f"p50 {p50 or 0:.2f} ms  p99 {p99 or 0:.2f} ms{round_cpu}")
                if watch is not None:
                    caught_up = watch.settle()
                    e2e.log(f"    {watch.summary()}"
                            + ("" if caught_up else "  -- STILL BEHIND after 120 s"))
                if t.startswith("kt-3"):
                    children._stop(proc)
                    del endpoints[t]
        e2e.log("")
        e2e.log("Medians over the rounds (min-max):")
        e2e.log(f"{'target':<9} {'msg/s':>22} {'x direct':>8} {'CPU s/GB':>17} {'switches/GB':>12} "
                f"{'p50 ms':>7} {'p99 ms':>7}")
        base = statistics.median(rows["direct"]["tput"])
        for t in TARGETS:
            r = rows[t]
            tput = statistics.median(r["tput"])
            spread = f"{tput:.0f} ({min(r['tput']):.0f}-{max(r['tput']):.0f})"
            cpu = (f"{statistics.median(r['cpu']):.2f} ({min(r['cpu']):.2f}-{max(r['cpu']):.2f})"
                   if r["cpu"] else "-")
            switches = f"{statistics.median(r['switches']):.0f}" if r["switches"] else "-"
            e2e.log(f"{t:<9} {spread:>22} {tput / base:>8.2f} {cpu:>17} {switches:>12} "
                    f"{statistics.median(r['p50']):>7.2f} {statistics.median(r['p99']):>7.2f}")
        for t in TARGETS:
            tp = rows[t]["tput"]
            e2e.log(f"{t}: rounds {', '.join(f'{x:.0f}' for x in tp)} msg/s; "
                    f"slowest {min(tp) / max(tp):.2f} x best")
        kt1 = statistics.median(rows["kt-1"]["cpu"])
        for t in ("kt-3-all", "kt-3-any"):
            e2e.log(f"{t}: CPU per GB = {statistics.median(rows[t]['cpu']) / kt1:.2f} x kt-1 "
                    "(passthrough), medians")
        e2e.log("")
        paused_case(args, children, work, ports[11], ports[12], brokers, tansus[1], payloads)
        compare_replicas(args, work, brokers)
        e2e.log("")
        e2e.log("Startup with one cluster hung (SIGSTOP before the proxy starts), MAJORITY:")
        startup_case(args, children, work, ports[7], brokers, None, payloads)
        startup_case(args, children, work, ports[8], brokers, tansus[2], payloads)
    finally:
        children.stop_all()


if __name__ == "__main__":
    main()
