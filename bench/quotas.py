#!/usr/bin/env python3
"""Quotas bench: how closely kafkatwin holds clients to their byte-rate quotas, and what an
unused quota costs.

One Tansu broker (memory storage) on loopback and one kafkatwin in front of it, configured with
  quotas:
    clients:
      limited-producer: { produce_byte_rate: 1048576 }     # 1 MiB/s
      limited-consumer: { fetch_byte_rate: 2097152 }       # 2 MiB/s
      generous: { produce_byte_rate: 10737418240, fetch_byte_rate: 10737418240 }
Clients are confluent-kafka; every record has a --size byte value (default 1 KiB); topics have
one partition and are deleted after their part. Four parts:
  a. producers: `limited-producer` and `free-producer` (no quota) each write as fast as they
     can, at the same time, for --seconds;
  b. consumers: a topic is filled first (client id `prefill`), then `limited-consumer` reads
     it from the start while `free-consumer` (no quota) reads it over and over, for --seconds;
  c. cost of an unused quota: `generous` against `no-quota`, the same producer writing
     --records records as fast as it can, alternating, --rounds rounds each;
  d. a live change: `changing` writes as fast as it can for 10 s; 4 s in, PUT
     /api/v1/quotas/changing {"produce_byte_rate": 524288} on the admin API (0.5 MiB/s).
Then a summary table. Figures only, no pass/fail; the goals are the limited clients within
+-10% of their targets, the free ones not slowed (compare a run with --no-quotas), and
`generous` as fast as `no-quota`.

  bench/run-quotas.sh [--seconds 20] [--records 200000]

Notes on the figures:
  - MiB = 2^20 bytes of record values (keys and headers are empty). The proxy meters produce
    request and fetch response bytes, which carry some framing on top of the values: the
    "wire x" column is the client's bytes on the wire per value byte over its whole run
    (librdkafka's tx_bytes / (txmsgs x size), rx_bytes / (rxmsgs x size)); multiply a rate by
    it for the rate the proxy metered (about; other requests count too).
  - producers (a, d): a producer writes one record and waits for it (connections up), then the
    window of --seconds starts (both producers of part a start together). Its local queue is
    bounded (--queue-kbytes); when full, it polls until there is room. At the end of the window
    it stops, and every record still queued or in flight is purged: only the bytes whose
    delivery report arrived inside the window count (a report is timed when poll() serves it;
    the producers poll at least every 256 records).
  - consumers (b): each assigns offset 0 and its window opens when its first records arrive
    (those are not counted: they were fetched before the window); bytes delivered by consume()
    in the next --seconds count. `free-consumer` seeks back to offset 0 at the end of the
    topic; `limited-consumer` must never reach it (a "ran dry" warning says so).
  - spans: a byte-rate quota is kept over a window (Kafka's: 11 samples of 1 s, and a fresh
    client's first burst is spread over at least 10 s), so a greedy client writes about
    target x 10 s at once, waits, and does it again when that burst leaves the window. The
    mean over --seconds therefore depends on how many bursts fall inside it (two in 20 s, so
    it can read 1.1-1.2 of the target while every span holds it). The limited clients' rate
    is also taken over every --quota-window span inside the window (steps of 0.1 s): median
    and max as a fraction of the target, the figure the quota itself bounds. Their rate in
    each second is printed too: it shows the bursts.
  - throttle: librdkafka's statistics every second (statistics.interval.ms 1000): the largest
    throttle time any response of the window carried (brokers.*.throttle.max, ms) and how many
    responses carried one above 0 (brokers.*.throttle.cnt, summed). A proxy that only delays
    its answers shows 0 here.
  - part c: msg/s from the first produce() to the end of flush(), acks=all; the order of the
    two client ids alternates between rounds. Proxy CPU: utime+stime of kafkatwin over the
    round, per 10^9 value bytes (less sensitive than msg/s to the other processes' noise).
  - part d: acknowledged bytes per second of the run; "dropped" is the time from sending the
    PUT until every later 1-s window (in steps of 0.1 s, up to the end of the run) holds less
    than twice the new limit; "after" is the mean rate from 1 s after the PUT to the end.
  - Client, broker and proxy share the machine's cores: compare only within one run.
"""

import importlib.util
import json
import math
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("e2e", os.path.join(HERE, "e2e.py"))
e2e = importlib.util.module_from_spec(spec)
spec.loader.exec_module(e2e)
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # noqa: E402

MIB = 1 << 20
LIMITED_PRODUCE = 1_048_576
LIMITED_FETCH = 2_097_152
GENEROUS = 10_737_418_240
CHANGED_PRODUCE = 524_288
CHANGE_RUN_S = 10.0
CHANGE_AT_S = 4.0
BUCKET = 0.1  # seconds: acknowledged / delivered bytes are kept per BUCKET of the window
QUOTAS_YAML = f"""quotas:
  clients:
    limited-producer: {{ produce_byte_rate: {LIMITED_PRODUCE} }}
    limited-consumer: {{ fetch_byte_rate: {LIMITED_FETCH} }}
    generous: {{ produce_byte_rate: {GENEROUS}, fetch_byte_rate: {GENEROUS} }}
"""

STOP = threading.Event()  # set on Ctrl-C / SIGTERM: every client loop ends soon after
WORKERS = []  # every timed client started, so that all are closed before the proxy stops


def kafkatwin_yaml(port, broker_port, admin_port, quotas):
    return (f'server: {{ listen_address: "127.0.0.1", port: {port} }}\n'
            "clusters:\n"
            f'  - {{ id: "c1", bootstrap_servers: ["127.0.0.1:{broker_port}"], priority: 1 }}\n'
            f'admin_api: {{ listen_address: "127.0.0.1", port: {admin_port}, web_ui: false }}\n'
            "monitoring: { metrics: { enabled: false }, health: { enabled: false } }\n"
            + (QUOTAS_YAML if quotas else ""))


# --------------------------------------------------------------------------- clients

class Stats:
    """librdkafka's statistics as they are served: time, bytes sent and received, and the
    brokers' throttle window of the interval (largest, count of responses above 0)."""

    def __init__(self):
        self.samples = []  # (monotonic, txbytes, rxbytes, throttle max ms, throttle cnt)
        self.totals = {}  # the last sample's tx_bytes, txmsgs, rx_bytes, rxmsgs

    def __call__(self, text):
        now = time.monotonic()
        try:
            d = json.loads(text)
        except ValueError:
            return
        tx = rx = tmax = tcnt = 0
        for b in (d.get("brokers") or {}).values():
            tx += b.get("txbytes", 0)
            rx += b.get("rxbytes", 0)
            th = b.get("throttle") or {}
            tmax = max(tmax, th.get("max", 0))
            tcnt += th.get("cnt", 0)
        self.samples.append((now, tx, rx, tmax, tcnt))
        self.totals = {k: d.get(k, 0) for k in ("tx_bytes", "txmsgs", "rx_bytes", "rxmsgs")}

    def throttle(self, start, end):
        """(largest throttle ms, throttled responses) of the intervals ending in
        (start, end + 1 s]: the last sample covers the window's final interval."""
        s = [x for x in self.samples if start < x[0] <= end + 1.0]
        return (max((x[3] for x in s), default=0), sum(x[4] for x in s))

    def wire_factor(self, direction, size):
        """Bytes sent ("tx") or received ("rx") per value byte of the records sent or
        received, over the client's life so far; None before any."""
        msgs = self.totals.get(f"{direction}msgs", 0)
        return self.totals.get(f"{direction}_bytes", 0) / (msgs * size) if msgs else None


class TimedProducer:
    """One producer writing as fast as it can for `seconds`; counts the bytes acknowledged
    inside the window, also per BUCKET seconds."""

    def __init__(self, bootstrap, client_id, topic, payloads, seconds, args, barrier=None):
        self.bootstrap, self.client_id, self.topic = bootstrap, client_id, topic
        self.payloads, self.seconds, self.args = payloads, seconds, args
        self.barrier = barrier
        self.stats = Stats()
        self.done = threading.Event()
        self.started = threading.Event()
        self.t0 = self.deadline = None
        self.acked_bytes = self.acked = self.produced = self.errors = 0
        self.first_error = None
        self.buckets = {}
        self.failure = None

    def _delivered(self, err, msg):
        if self.deadline is None:
            return  # the warm-up record
        now = time.monotonic()
        if now > self.deadline:
            return  # after the window, purged ones included
        if err is not None:
            self.errors += 1
            if self.first_error is None:
                self.first_error = str(err)
            return
        n = len(msg)
        self.acked_bytes += n
        self.acked += 1
        i = int((now - self.t0) / BUCKET)
        self.buckets[i] = self.buckets.get(i, 0) + n

    def run(self):
        try:
            self._run()
        except Exception as e:
            self.failure = f"{self.client_id}: {type(e).__name__}: {e}"
            self.traceback = traceback.format_exc()
            if self.barrier is not None:
                self.barrier.abort()
        finally:
            self.started.set()
            self.done.set()

    def _run(self):
        p = Producer({
            "bootstrap.servers": self.bootstrap,
            "client.id": self.client_id,
            "acks": "all",
            "linger.ms": 5,
            "batch.size": self.args.batch_size,
            "queue.buffering.max.kbytes": self.args.queue_kbytes,
            "queue.buffering.max.messages": 1_000_000,
            "max.in.flight.requests.per.connection": self.args.max_in_flight,
            "statistics.interval.ms": 1000,
            "stats_cb": self.stats,
            "on_delivery": self._delivered,
        })
        p.produce(self.topic, self.payloads[0], partition=0)
        if p.flush(30):
            raise RuntimeError("the warm-up record was not acknowledged in 30 s")
        if self.barrier is not None:
            self.barrier.wait(60)
        self.t0 = time.monotonic()
        self.deadline = self.t0 + self.seconds
        self.started.set()
        produce, poll, mono = p.produce, p.poll, time.monotonic
        topic, payloads, k, deadline = self.topic, self.payloads, len(self.payloads), self.deadline
        i = 0
        while not STOP.is_set():
            now = mono()
            if now >= deadline:
                break
            try:
                produce(topic, payloads[i % k], partition=0)
                i += 1
                if i & 0xFF == 0:
                    poll(0)
            except BufferError:
                poll(min(0.05, max(0.0, deadline - now)))
        poll(0)
        self.produced = i
        # The window is over: nothing that arrives from now on counts. Drop the rest rather
        # than wait for it (a throttled client could take many seconds to drain its queue).
        p.purge(in_queue=True, in_flight=True, blocking=True)
        p.flush(5)

    def rate(self):
        return self.acked_bytes / self.seconds

    def throttle(self):
        return self.stats.throttle(self.t0, self.deadline) if self.t0 else (0, 0)

    def wire(self):
        return self.stats.wire_factor("tx", self.args.size)


class TimedConsumer:
    """One consumer reading a 1-partition topic from offset 0 for `seconds` after its first
    records arrive; counts the value bytes delivered. With `loop`, it seeks back to offset 0
    at the end of the topic; without, reaching it is reported (ran dry)."""

    def __init__(self, bootstrap, client_id, topic, seconds, args, loop, barrier=None):
        self.bootstrap, self.client_id, self.topic = bootstrap, client_id, topic
        self.seconds, self.args, self.loop, self.barrier = seconds, args, loop, barrier
        self.stats = Stats()
        self.done = threading.Event()
        self.t0 = self.deadline = None
        self.bytes = self.records = self.passes = 0
        self.buckets = {}
        self.ran_dry = False
        self.errors = []
        self.failure = None

    def run(self):
        try:
            self._run()
        except Exception as e:
            self.failure = f"{self.client_id}: {type(e).__name__}: {e}"
            self.traceback = traceback.format_exc()
            if self.barrier is not None:
                self.barrier.abort()
        finally:
            self.done.set()

    def _run(self):
        c = Consumer({
            "bootstrap.servers": self.bootstrap,
            "client.id": self.client_id,
            "group.id": f"quotas-bench-{self.client_id}-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,
            # librdkafka's defaults pause fetching on small messages: keep its queue full.
            "queued.min.messages": 1_000_000,
            "fetch.queue.backoff.ms": 1,
            "fetch.wait.max.ms": 10,
            "statistics.interval.ms": 1000,
            "stats_cb": self.stats,
        })
        try:
            if self.barrier is not None:
                self.barrier.wait(60)
            tp = TopicPartition(self.topic, 0, 0)
            c.assign([tp])
            consume, mono = c.consume, time.monotonic
            give_up = mono() + 30.0
            while not STOP.is_set():
                now = mono()
                if self.deadline is not None and now >= self.deadline:
                    break
                if self.deadline is None and now > give_up:
                    raise RuntimeError("no record within 30 s")
                timeout = 0.1 if self.deadline is None else min(0.1, self.deadline - now)
                msgs = consume(num_messages=1000, timeout=timeout)
                if not msgs:
                    continue
                now = mono()
                if self.deadline is not None and now > self.deadline:
                    break
                count = self.deadline is not None
                n = b = 0
                eof = False
                for m in msgs:
                    err = m.error()
                    if err is None:
                        n += 1
                        b += len(m)
                    elif err.code() == KafkaError._PARTITION_EOF:
                        eof = True
                    elif len(self.errors) < 5:
                        self.errors.append(str(err))
                if self.deadline is None and n:
                    self.t0 = now  # window opens; this first delivery is not counted
                    self.deadline = now + self.seconds
                elif count:
                    self.records += n
                    self.bytes += b
                    i = int((now - self.t0) / BUCKET)
                    self.buckets[i] = self.buckets.get(i, 0) + b
                if eof:
                    if self.loop:
                        self.passes += 1
                        c.seek(tp)
                    elif self.deadline is not None:
                        self.ran_dry = True
        finally:
            c.close()

    def rate(self):
        return self.bytes / self.seconds

    def throttle(self):
        return self.stats.throttle(self.t0, self.deadline) if self.t0 else (0, 0)

    def wire(self):
        return self.stats.wire_factor("rx", self.args.size)


def windowed(buckets, seconds, window):
    """Bytes per second in each span of `window` seconds inside the run (steps of BUCKET):
    the rate the way a quota over that window sees it. Empty when the run is shorter."""
    n, w = int(round(seconds / BUCKET)), int(round(window / BUCKET))
    if w <= 0 or n < w:
        return []
    b = [buckets.get(i, 0) for i in range(n)]
    run = sum(b[:w])
    out = [run / window]
    for k in range(w, n):
        run += b[k] - b[k - w]
        out.append(run / window)
    return out


def run_threads(workers):
    """Runs each worker's run() in a thread and waits for all (interruptibly). Waits on the
    workers' own `done` events: a Thread.join() interrupted by a signal may afterwards return
    at once with the thread still running (CPython before 3.13)."""
    WORKERS.extend(workers)
    for w in workers:
        threading.Thread(target=w.run, daemon=True, name=w.client_id).start()
    try:
        for w in workers:
            while not w.done.wait(0.5):
                pass
    finally:
        if STOP.is_set():
            wait_workers(workers)
    bad = [w for w in workers if getattr(w, "failure", None)]
    if bad:
        raise RuntimeError("; ".join(w.failure for w in bad) + "\n" +
                           "".join(getattr(w, "traceback", "") for w in bad))


def wait_workers(workers, timeout=15.0):
    """Waits until every worker has closed its client, or `timeout` seconds in all."""
    deadline = time.monotonic() + timeout
    for w in workers:
        w.done.wait(max(0.0, deadline - time.monotonic()))


def produce_n(bootstrap, client_id, topic, payloads, n, args):
    """Writes n records as fast as the producer goes (acks=all); seconds from the first
    produce() to the end of flush()."""
    failures = []

    def on_delivery(err, msg):  # only called on errors (delivery.report.only.error)
        if err is not None and len(failures) < 5:
            failures.append(str(err))

    p = Producer({
        "bootstrap.servers": bootstrap, "client.id": client_id, "acks": "all", "linger.ms": 5,
        "batch.size": args.batch_size, "queue.buffering.max.messages": max(n + 1000, 100_000),
        "queue.buffering.max.kbytes": 2_097_151, "delivery.report.only.error": True,
        "on_delivery": on_delivery,
    })
    produce, poll, k = p.produce, p.poll, len(payloads)
    t0 = time.perf_counter()
    for i in range(n):
        if STOP.is_set():
            raise KeyboardInterrupt("stopping")
        while True:
            try:
                produce(topic, payloads[i % k], partition=0)
                break
            except BufferError:
                poll(0.01)
        if i & 0x3FFF == 0x3FFF:
            poll(0)
    remaining = p.flush(args.flush_timeout)
    secs = time.perf_counter() - t0
    if remaining or failures:
        raise RuntimeError(f"{client_id}: {remaining} records undelivered after "
                           f"{args.flush_timeout}s, errors: {failures}")
    return secs


def put_quota(admin_port, client_id, body):
    """PUT /api/v1/quotas/<client_id>; (status or None, answer text)."""
    req = urllib.request.Request(f"http://127.0.0.1:{admin_port}/api/v1/quotas/{client_id}",
                                 data=json.dumps(body).encode(), method="PUT",
                                 headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    try:
        with opener.open(req, timeout=5) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except OSError as e:
        return None, str(e)


# --------------------------------------------------------------------------- parts

class Bench:
    def __init__(self, args, bootstrap, direct, admin_port, proxy):
        self.args, self.bootstrap, self.direct = args, bootstrap, direct
        self.admin_port, self.proxy = admin_port, proxy
        self.payloads = [os.urandom(args.size) for _ in range(64)]
        self.alive = lambda: proxy.poll() is None

    def topic(self, name):
        t = f"quotas-{name}-{uuid.uuid4().hex[:6]}"
        e2e.create_topic(self.bootstrap, t, self.alive)
        return t

    def drop(self, *topics):
        for t in topics:
            e2e.delete_topic(self.direct, t)

    def producers(self):
        a = self.args
        ta, tb = self.topic("a-limited"), self.topic("a-free")
        try:
            barrier = threading.Barrier(2)
            lim = TimedProducer(self.bootstrap, "limited-producer", ta, self.payloads,
                                a.seconds, a, barrier)
            free = TimedProducer(self.bootstrap, "free-producer", tb, self.payloads,
                                 a.seconds, a, barrier)
            e2e.log(f"a. producers: limited-producer and free-producer, {a.seconds:g} s ...")
            run_threads([lim, free])
        finally:
            self.drop(ta, tb)
        out = {}
        for w, target in ((lim, LIMITED_PRODUCE), (free, None)):
            out[w.client_id] = self.figures(w, target, {
                "acked_records": w.acked, "produced_records": w.produced,
                "delivery_errors": w.errors, "first_error": w.first_error},
                f"  !!! {w.errors} delivery errors ({w.first_error})" if w.errors else "")
        return out

    def figures(self, w, target, extra, warning):
        """A timed client's figures: printed, and returned for the summary and the JSON."""
        a = self.args
        tmax, tcnt = w.throttle()
        wire = w.wire()
        spans = windowed(w.buckets, w.seconds, a.quota_window)
        step = int(round(1.0 / BUCKET))
        row = {
            "rate_mib_s": w.rate() / MIB, "target_mib_s": target / MIB if target else None,
            "of_target": w.rate() / target if target else None,
            "window_s": a.quota_window,
            "windows_median_mib_s": statistics.median(spans) / MIB if spans else None,
            "windows_max_mib_s": max(spans) / MIB if spans else None,
            "wire_factor": wire,
            "throttle_max_ms": tmax, "throttled_responses": tcnt,
            "per_second_mib_s": [sum(w.buckets.get(i, 0) for i in range(k * step, (k + 1) * step))
                                 / MIB for k in range(int(w.seconds))],
        }
        row.update(extra)
        line = f"   {w.client_id:<17} {row['rate_mib_s']:9.2f} MiB/s"
        if target:
            line += f"  = {row['of_target']:.3f} of {row['target_mib_s']:g} MiB/s"
            if spans:
                line += (f"; {a.quota_window:g}-s spans: median {statistics.median(spans) / target:.3f}"
                         f" max {max(spans) / target:.3f}")
        line += (f"  wire x {fmt(wire, '.3f')}  throttle max {tmax} ms in "
                 f"{tcnt} responses" + warning)
        e2e.log(line)
        if target:
            e2e.log("      per second, MiB/s: " + " ".join(f"{x:.2f}" for x in row["per_second_mib_s"]))
        return row

    def consumers(self):
        a = self.args
        t = self.topic("b")
        try:
            mib = a.prefill_mib if a.prefill_mib else max(80, math.ceil(4 * a.seconds))
            n = mib * MIB // a.size
            e2e.log(f"b. consumers: filling a topic with {n} records ({mib} MiB, client id prefill) ...")
            secs = produce_n(self.bootstrap, "prefill", t, self.payloads, n, a)
            e2e.log(f"   filled in {secs:.1f} s; limited-consumer and free-consumer read for "
                    f"{a.seconds:g} s ...")
            barrier = threading.Barrier(2)
            lim = TimedConsumer(self.bootstrap, "limited-consumer", t, a.seconds, a, False, barrier)
            free = TimedConsumer(self.bootstrap, "free-consumer", t, a.seconds, a, True, barrier)
            run_threads([lim, free])
        finally:
            self.drop(t)
        out = {}
        for w, target in ((lim, LIMITED_FETCH), (free, None)):
            out[w.client_id] = self.figures(w, target, {
                "records": w.records, "passes": w.passes, "ran_dry": w.ran_dry,
                "errors": w.errors, "prefill_mib": mib},
                ("" if target else f"  ({w.passes} times through the topic)")
                + ("  !!! RAN DRY: reached the end of the topic, the rate is a floor"
                   if w.ran_dry else "")
                + (f"  !!! errors {w.errors}" if w.errors else ""))
        return out

    def unused_quota(self):
        a = self.args
        ids = ("generous", "no-quota")
        e2e.log(f"c. cost of an unused quota: {a.records} records of {a.size} B, "
                f"{a.rounds} rounds each ...")
        rates = {i: [] for i in ids}
        cpu = {i: [] for i in ids}
        gb = a.records * a.size / 1e9
        for rnd in range(a.rounds):
            for cid in (ids if rnd % 2 == 0 else ids[::-1]):
                t = self.topic(f"c-{cid}")
                try:
                    cpu0 = e2e.proc_cpu_seconds(self.proxy.pid)
                    secs = produce_n(self.bootstrap, cid, t, self.payloads, a.records, a)
                    cpu1 = e2e.proc_cpu_seconds(self.proxy.pid)
                finally:
                    self.drop(t)
                rates[cid].append(a.records / secs)
                if cpu0 is not None and cpu1 is not None:
                    cpu[cid].append((cpu1 - cpu0) / gb)
                e2e.log(f"   [round {rnd + 1}/{a.rounds}] {cid:<9} {a.records / secs:>9.0f} msg/s "
                        f"({secs:.2f} s)" + (f"  proxy CPU {cpu[cid][-1]:.2f} s/GB" if cpu[cid] else ""))
        out = {cid: {"msgs_s": rs, "median": statistics.median(rs), "min": min(rs), "max": max(rs),
                     "proxy_cpu_s_per_gb": cpu[cid],
                     "cpu_median": statistics.median(cpu[cid]) if cpu[cid] else None}
               for cid, rs in rates.items()}
        out["ratio"] = out["generous"]["median"] / out["no-quota"]["median"]
        g, n = out["generous"]["cpu_median"], out["no-quota"]["cpu_median"]
        out["cpu_ratio"] = g / n if g and n else None
        for cid in ids:
            r = out[cid]
            e2e.log(f"   {cid:<9} median {r['median']:>9.0f} msg/s  min {r['min']:.0f}  "
                    f"max {r['max']:.0f}  proxy CPU {fmt(r['cpu_median'])} s/GB")
        e2e.log(f"   generous / no-quota (medians): {out['ratio']:.3f} msg/s, "
                f"{fmt(out['cpu_ratio'], '.3f')} proxy CPU")
        return out

    def live_change(self):
        a = self.args
        t = self.topic("d")
        e2e.log(f"d. a live change: changing writes for {CHANGE_RUN_S:g} s, PUT "
                f"{CHANGED_PRODUCE} B/s at {CHANGE_AT_S:g} s ...")
        w = TimedProducer(self.bootstrap, "changing", t, self.payloads, CHANGE_RUN_S, a)
        put = {}

        def change():
            w.started.wait()
            if w.t0 is None:
                return
            while not STOP.is_set() and time.monotonic() < w.t0 + CHANGE_AT_S:
                time.sleep(min(0.01, max(0.0, w.t0 + CHANGE_AT_S - time.monotonic())))
            if STOP.is_set():
                return
            put["sent"] = time.monotonic()
            put["status"], put["answer"] = put_quota(self.admin_port, "changing",
                                                     {"produce_byte_rate": CHANGED_PRODUCE})
            put["answered"] = time.monotonic()

        ct = threading.Thread(target=change, daemon=True)
        ct.start()
        try:
            run_threads([w])
            ct.join(10)
        finally:
            self.drop(t)
        if "sent" not in put:
            raise RuntimeError("the PUT was never sent")
        at = put["sent"] - w.t0
        rtt = put["answered"] - put["sent"]
        ok = put["status"] is not None and 200 <= put["status"] < 300
        e2e.log(f"   PUT /api/v1/quotas/changing at {at:.2f} s: "
                + (f"{put['status']} in {rtt * 1000:.0f} ms" if put["status"] else "no answer")
                + ("" if ok else f"  !!! {put['answer'].strip()[:300] or '(empty answer)'}"))
        per_s = []
        nb = int(round(CHANGE_RUN_S / BUCKET))
        b = [w.buckets.get(i, 0) for i in range(nb)]
        step = int(round(1.0 / BUCKET))
        for s in range(int(CHANGE_RUN_S)):
            r = sum(b[s * step:(s + 1) * step])
            per_s.append(r / MIB)
            mark = "   <- PUT" if s <= at < s + 1 else ""
            e2e.log(f"   second {s + 1:>2} ({s}-{s + 1} s): {r / MIB:9.2f} MiB/s{mark}")
        first = int(math.ceil(at / BUCKET))
        dropped_from = None
        for i in range(first, nb - step + 1):
            if sum(b[i:i + step]) >= 2 * CHANGED_PRODUCE:
                dropped_from = None
            elif dropped_from is None:
                dropped_from = i
        dropped = dropped_from * BUCKET - at if dropped_from is not None else None
        lo = int(math.ceil((at + 1.0) / BUCKET))
        after = (sum(b[lo:]) / ((nb - lo) * BUCKET)) if lo < nb else None
        before = sum(b[:int(at / BUCKET)]) / (int(at / BUCKET) * BUCKET) if at >= BUCKET else None
        tmax, tcnt = w.throttle()
        out = {"put_at_s": at, "put_status": put["status"], "put_answer": put["answer"][:1000],
               "put_ms": rtt * 1000, "per_second_mib_s": per_s,
               "before_mib_s": before / MIB if before is not None else None,
               "after_mib_s": after / MIB if after is not None else None,
               "after_of_target": after / CHANGED_PRODUCE if after is not None else None,
               "dropped_after_s": dropped, "throttle_max_ms": tmax, "throttled_responses": tcnt,
               "delivery_errors": w.errors}
        e2e.log(f"   before {fmt(out['before_mib_s'], '.2f')} MiB/s; from 1 s after the PUT "
                f"{fmt(out['after_mib_s'], '.3f')} MiB/s = {fmt(out['after_of_target'], '.3f')} of "
                f"{CHANGED_PRODUCE / MIB:g}; "
                + (f"dropped {dropped:.1f} s after the PUT (every later 1-s window under "
                   f"{2 * CHANGED_PRODUCE / MIB:g} MiB)" if dropped is not None else "no drop seen")
                + f"; throttle max {tmax} ms in {tcnt} responses")
        return out


# --------------------------------------------------------------------------- reporting

def fmt(x, spec=".2f"):
    return "-" if x is None else format(x, spec)


def summary(res):
    hdr = ("part", "client id", "measured", "target", "vs target", "spans med/max", "wire x",
           "throttle max ms", "throttled resp.")
    rows = [hdr]
    window = None
    for part in ("a", "b"):
        for cid, r in (res.get(part) or {}).items():
            t = r["target_mib_s"]
            window = r["window_s"]
            spans = (f"{r['windows_median_mib_s'] / t:.3f}/{r['windows_max_mib_s'] / t:.3f}"
                     if t and r["windows_median_mib_s"] is not None else "-")
            rows.append((part, cid, f"{r['rate_mib_s']:.2f} MiB/s",
                         f"{t:g} MiB/s" if t else "none",
                         fmt(r["of_target"], ".3f") if r["of_target"] is not None else "-",
                         spans, fmt(r["wire_factor"], ".3f"), str(r["throttle_max_ms"]),
                         str(r["throttled_responses"])))
    c = res.get("c")
    if c:
        for cid in ("generous", "no-quota"):
            r = c[cid]
            rows.append(("c", cid, f"{r['median']:.0f} msg/s ({e2e.fmt_rate(r['min'])}-"
                         f"{e2e.fmt_rate(r['max'])}), CPU {fmt(r['cpu_median'])} s/GB",
                         "none" if cid == "no-quota" else "10 GiB/s",
                         f"{c['ratio']:.3f} x, CPU {fmt(c['cpu_ratio'], '.3f')} x"
                         if cid == "generous" else "-", "-", "-", "-", "-"))
    d = res.get("d")
    if d:
        rows.append(("d", "changing (before)", f"{fmt(d['before_mib_s'])} MiB/s", "none", "-", "-",
                     "-", "-", "-"))
        rows.append(("d", "changing (after)", f"{fmt(d['after_mib_s'], '.3f')} MiB/s",
                     f"{CHANGED_PRODUCE / MIB:g} MiB/s", fmt(d["after_of_target"], ".3f"), "-", "-",
                     str(d["throttle_max_ms"]), str(d["throttled_responses"])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(hdr))]
    e2e.log("")
    for j, r in enumerate(rows):
        e2e.log("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if j == 0:
            e2e.log("  ".join("-" * w for w in widths))
    notes = ["  goals: limited clients 0.900-1.100 of their targets; free clients as fast as "
             "with --no-quotas; generous / no-quota about 1."]
    if window is not None:
        notes.append(f"  spans: the rate in every {window:g}-s span of the window (the quota's own "
                     "window), median and max, as fractions of the target. A fresh client may "
                     "write a whole window's worth at once, so the mean over a short window can "
                     "exceed the target while every span holds it.")
    if c:
        notes.append(f"  c: median msg/s of {len(c['generous']['msgs_s'])} rounds (min-max) and the "
                     "proxy's CPU seconds per GB of values; 'vs target' = generous / no-quota, "
                     "ratios of the medians.")
    if d:
        notes.append(f"  d: PUT at {d['put_at_s']:.2f} s answered {d['put_status']}; "
                     + (f"rate dropped {d['dropped_after_s']:.1f} s after it"
                        if d["dropped_after_s"] is not None else "no drop seen")
                     + "; 'after' = from 1 s after the PUT to the end (a client that wrote "
                     "far above the new limit just before is first held back for up to a whole "
                     "quota window, so 'after' may be far below it in a 10-s run).")
    for n in notes:
        e2e.log(n)


# --------------------------------------------------------------------------- main

def main():
    ap = e2e.bench_args(__doc__, (19240, 19259))
    ap.add_argument("--seconds", type=float, default=20.0,
                    help="window of parts a and b in seconds (default 20)")
    ap.add_argument("--records", type=int, default=200_000,
                    help="records per round of part c (default 200000)")
    ap.add_argument("--parts", default="abcd", help="which parts to run (default abcd)")
    ap.add_argument("--no-quotas", action="store_true",
                    help="leave the quotas section out of the proxy's config: the same clients "
                         "with no quota, for comparison")
    ap.add_argument("--batch-size", type=int, default=65536,
                    help="producers' batch.size (default 65536: a 1 MiB/s client's acks come in "
                         "small steps, not one per second)")
    ap.add_argument("--queue-kbytes", type=int, default=4096,
                    help="queue.buffering.max.kbytes of the producers of parts a and d (default 4096)")
    ap.add_argument("--max-in-flight", type=int, default=1_000_000,
                    help="max.in.flight.requests.per.connection of the producers of parts a and d "
                         "(default 1000000, librdkafka's)")
    ap.add_argument("--prefill-mib", type=int, default=None,
                    help="MiB written for part b (default max(80, 4 x seconds))")
    ap.add_argument("--quota-window", type=float, default=11.0,
                    help="span in seconds the limited clients' rates are also taken over (default "
                         "11: the quota window, Kafka's 11 samples of 1 s)")
    ap.add_argument("--flush-timeout", type=float, default=120.0)
    ap.add_argument("--json", default=None, metavar="FILE", help="also write the figures as JSON")
    ap.add_argument("--keep-logs", action="store_true", help="keep the temp dir with config and logs")
    args = ap.parse_args()
    if not args.kafkatwin:
        sys.exit("quotas.py: pass --kafkatwin or set KAFKATWIN_BIN (bench/run-quotas.sh does)")
    for name, path in (("kafkatwin", args.kafkatwin), ("tansu", args.tansu)):
        if not os.access(path, os.X_OK):
            sys.exit(f"quotas.py: {name} binary not found/executable at {path}")
    parts = [p for p in "abcd" if p in args.parts]

    def on_signal(signum, frame):
        STOP.set()
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    children = e2e.Children()
    work = tempfile.mkdtemp(prefix="kafkatwin-quotas-")
    failed = False
    res = {}
    try:
        broker_port, port, admin_port = e2e.pick_ports(3, args.ports)
        e2e.start_tansu(children, args.tansu, work, "c1", broker_port)
        cfg = os.path.join(work, "kafkatwin.yaml")
        with open(cfg, "w") as f:
            f.write(kafkatwin_yaml(port, broker_port, admin_port, not args.no_quotas))
        log = os.path.join(work, "kafkatwin.log")
        proxy = children.start("kafkatwin", [args.kafkatwin, "--config", cfg], log)
        e2e.wait_ready("kafkatwin", port, proxy, log, 30, expect_broker_port=port)
        from confluent_kafka import libversion, __version__ as ck_version
        e2e.log(f"KafkaTwin quotas bench  {time.strftime('%Y-%m-%d %H:%M:%S')}  cores {os.cpu_count()}")
        e2e.log(f"  broker 127.0.0.1:{broker_port}, kafkatwin 127.0.0.1:{port} (admin API "
                f"{admin_port}, pid {proxy.pid}), {args.kafkatwin}")
        e2e.log(f"  quotas: " + ("none (--no-quotas)" if args.no_quotas else
                                 "limited-producer 1 MiB/s produce, limited-consumer 2 MiB/s "
                                 "fetch, generous 10 GiB/s both"))
        e2e.log(f"  confluent-kafka {ck_version} / librdkafka {libversion()[0]}; records of "
                f"{args.size} B; batch.size {args.batch_size}; queue {args.queue_kbytes} KiB; "
                f"max in flight {args.max_in_flight}; "
                f"logs {work}")
        e2e.log("")
        bench = Bench(args, f"127.0.0.1:{port}", f"127.0.0.1:{broker_port}", admin_port, proxy)
        for part, run in (("a", bench.producers), ("b", bench.consumers),
                          ("c", bench.unused_quota), ("d", bench.live_change)):
            if part not in parts:
                continue
            try:
                res[part] = run()
            except KeyboardInterrupt:
                raise
            except Exception as e:
                failed = True
                e2e.log(f"   !!! part {part} failed: {type(e).__name__}: {e}")
            if proxy.poll() is not None:
                failed = True
                e2e.log(f"   !!! kafkatwin exited with code {proxy.returncode}; log {log}:\n"
                        f"{e2e.tail(log)}")
                break
        summary(res)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "quotas": not args.no_quotas,
                           "seconds": args.seconds, "records": args.records, "size": args.size,
                           "rounds": args.rounds, "batch_size": args.batch_size,
                           "queue_kbytes": args.queue_kbytes, "results": res}, f, indent=2)
            e2e.log(f"\nJSON written to {args.json}")
        return 1 if failed else 0
    except KeyboardInterrupt as e:
        e2e.log(f"\ninterrupted ({e}); stopping")
        return 130
    except Exception as e:
        failed = True
        e2e.log(f"!!! {type(e).__name__}: {e}")
        if "unknown section" in str(e) and not args.no_quotas:
            e2e.log("!!! this kafkatwin has no quotas; --no-quotas runs the same clients without them")
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        STOP.set()
        wait_workers(WORKERS)
        e2e._ADMINS.clear()  # close client handles before their servers go away
        children.stop_all()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if args.keep_logs or failed:
            e2e.log(f"logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
