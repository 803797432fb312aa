"""Shared helpers for the KafkaTwin Python client scenarios.

Each scenario script runs the same eight steps (create, produce, consume_assign,
consume_group, committed, list_offsets, groups, delete) with one client library and
fails fast: the first failed check prints ``FAIL [step] message`` to stderr and exits 1.
On success exactly one JSON line is printed to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import traceback
from contextlib import contextmanager

STEP_TIMEOUT_S = 30.0
# Hard bound for a whole scenario run, enforced by a watchdog thread that kills the
# process even if a client library blocks inside native code.
TOTAL_TIMEOUT_S = 240.0
# Sleep between the first and second half of the produce. The boundary timestamp is
# taken in the middle of it: Tansu's ListOffsets-by-timestamp uses the time a batch was
# stored, not the record's CreateTime, so both sides need a clear margin.
HALF_GAP_S = 1.5


class CheckFailed(Exception):
    pass


def parse_args(client_name, argv=None):
    p = argparse.ArgumentParser(description=f"KafkaTwin client scenario ({client_name})")
    p.add_argument("--bootstrap", required=True, help="host:port of the broker or proxy")
    p.add_argument("--topic", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--records", type=int, default=300)
    p.add_argument("--partitions", type=int, default=3)
    p.add_argument("--skip-describe", action="store_true",
                   help="skip the group describe check (for running directly against Tansu)")
    p.add_argument("--skip-latest", action="store_true",
                   help="don't check ListOffsets LATEST (Tansu 0.6.0 directly answers the last "
                        "batch's base offset + 1 instead of the log end offset)")
    p.add_argument("--verbose", "-v", action="store_true", help="print progress to stderr")
    args = p.parse_args(argv)
    if args.records < 2:
        p.error("--records must be >= 2")
    if args.partitions < 1:
        p.error("--partitions must be >= 1")
    return args


class Scenario:
    """Step bookkeeping, deadlines, expected data and the final report."""

    def __init__(self, client_name, args):
        self.client = client_name
        self.args = args
        self.n = args.records
        self.p = args.partitions
        self.topic = args.topic
        self.group = args.group
        self.steps_ok = []
        self.current_step = "init"
        self.step_deadline = None
        self.report = {"client": client_name}
        self._t0 = time.monotonic()
        self._closers = []
        # Filled by the produce step: index -> (partition, offset)
        self.produced_at = {}
        self.boundary_ms = None
        self._start_watchdog()

    # ------------------------------------------------------------ watchdog / logging
    def _start_watchdog(self):
        def watchdog():
            time.sleep(TOTAL_TIMEOUT_S)
            sys.stderr.write(
                f"FAIL [{self.current_step}] {self.client}: scenario exceeded "
                f"{TOTAL_TIMEOUT_S:.0f}s total (hung in step {self.current_step!r})\n")
            sys.stderr.flush()
            os._exit(1)
        threading.Thread(target=watchdog, name="watchdog", daemon=True).start()

    def log(self, msg):
        if self.args.verbose:
            sys.stderr.write(f"[{time.monotonic() - self._t0:7.2f}s] [{self.current_step}] {msg}\n")
            sys.stderr.flush()

    # ------------------------------------------------------------ steps / checks
    @contextmanager
    def step(self, name, timeout=STEP_TIMEOUT_S):
        self.current_step = name
        self.step_deadline = time.monotonic() + timeout
        started = time.monotonic()
        self.log("start")
        yield
        self.log(f"ok in {time.monotonic() - started:.2f}s")
        self.steps_ok.append(name)

    def remaining(self, cap=None):
        """Seconds left in the current step (at least 0.1), optionally capped."""
        left = max(0.1, self.step_deadline - time.monotonic())
        return min(left, cap) if cap is not None else left

    def expired(self):
        return time.monotonic() >= self.step_deadline

    def fail(self, msg):
        raise CheckFailed(msg)

    def check(self, cond, msg):
        if not cond:
            raise CheckFailed(msg)

    def wait_until(self, what, fn, interval=0.25):
        """Call fn() until it returns a truthy value or the step deadline passes.

        Exceptions from fn are remembered and reported on timeout.
        """
        last = None
        while True:
            try:
                value = fn()
                if value:
                    return value
                last = f"last result: {value!r}"
            except CheckFailed:
                raise
            except Exception as e:  # noqa: BLE001 - reported on timeout
                last = f"last error: {type(e).__name__}: {e}"
            if self.expired():
                self.fail(f"timed out waiting for {what} ({last})")
            time.sleep(interval)

    def on_exit(self, fn):
        """Register a close function, run (in reverse order, errors ignored) when the
        scenario ends. Returns a wrapper that runs fn at most once: call it to close early."""
        done = []

        def once():
            if not done:
                done.append(1)
                fn()
        self._closers.append(once)
        return once

    def close_all(self):
        while self._closers:
            fn = self._closers.pop()
            try:
                fn()
            except Exception as e:  # noqa: BLE001
                self.log(f"close error ignored: {type(e).__name__}: {e}")

    # ------------------------------------------------------------ expected data
    def key(self, i):
        return f"k{i}"

    def value(self, i):
        return f"v{i}-{self.client}"

    def headers(self, i):
        return [("idx", str(i)), ("client", self.client)]

    def partition_of(self, i):
        return i % self.p

    def half(self):
        return self.n // 2

    def partition_indexes(self, p):
        return [i for i in range(self.n) if i % self.p == p]

    def count_in(self, p):
        return len(self.partition_indexes(p))

    def first_second_half_index(self, p):
        for i in range(self.half(), self.n):
            if i % self.p == p:
                return i
        return None

    # ------------------------------------------------------------ verification
    def record_produced(self, i, partition, offset):
        self.check(i not in self.produced_at, f"delivery report for record {i} received twice")
        self.check(partition == self.partition_of(i),
                   f"record {i} delivered to partition {partition}, expected {self.partition_of(i)}")
        self.check(offset is not None and offset >= 0,
                   f"record {i} delivered with invalid offset {offset!r}")
        self.produced_at[i] = (partition, offset)

    def check_produced(self):
        missing = [i for i in range(self.n) if i not in self.produced_at]
        self.check(not missing, f"{len(missing)} records without a delivery report, e.g. {missing[:5]}")
        for p in range(self.p):
            offs = [self.produced_at[i][1] for i in self.partition_indexes(p)]
            self.check(offs == list(range(len(offs))),
                       f"partition {p}: producer offsets are not 0..{len(offs) - 1} in "
                       f"production order: {offs[:10]}...")

    def verify_consumed(self, how, records):
        """records: list of (partition, offset, key:str|None, value:str|None, headers:list[(str,str)])
        in the order they were received. Checks content, per-partition order, offsets."""
        self.check(len(records) == self.n,
                   f"{how}: consumed {len(records)} records, expected {self.n}")
        per_part = {p: [] for p in range(self.p)}
        for (part, off, key, value, headers) in records:
            self.check(part in per_part, f"{how}: record from unexpected partition {part}")
            self.check(key is not None and key.startswith("k") and key[1:].isdigit(),
                       f"{how}: partition {part} offset {off}: unexpected key {key!r}")
            i = int(key[1:])
            self.check(0 <= i < self.n, f"{how}: key {key!r} out of range")
            self.check(value == self.value(i),
                       f"{how}: record {i}: value {value!r} != expected {self.value(i)!r}")
            self.check(list(headers) == self.headers(i),
                       f"{how}: record {i}: headers {headers!r} != expected {self.headers(i)!r}")
            self.check(part == self.partition_of(i),
                       f"{how}: record {i} read from partition {part}, expected {self.partition_of(i)}")
            exp_off = self.produced_at[i][1]
            self.check(off == exp_off,
                       f"{how}: record {i} read at offset {off}, producer was told {exp_off}")
            per_part[part].append(i)
        for p, got in per_part.items():
            exp = self.partition_indexes(p)
            self.check(got == exp,
                       f"{how}: partition {p} order/content differs: got {len(got)} records "
                       f"starting {got[:8]}, expected {len(exp)} starting {exp[:8]}")

    def check_committed(self, how, committed):
        """committed: {partition: offset}"""
        for p in range(self.p):
            self.check(p in committed, f"{how}: no committed offset for partition {p}: {committed!r}")
            self.check(committed[p] == self.count_in(p),
                       f"{how}: partition {p} committed offset {committed[p]}, "
                       f"expected {self.count_in(p)}")

    def check_by_timestamp(self, how, offsets):
        """offsets: {partition: offset or None(-1)} returned for self.boundary_ms."""
        out = {}
        for p in range(self.p):
            self.check(p in offsets, f"{how}: no result for partition {p}: {offsets!r}")
            i = self.first_second_half_index(p)
            got = offsets[p]
            if i is None:
                # No record at/after the boundary in this partition. Kafka answers -1;
                # Tansu answers 0. Not checked (too few records for this partition).
                out[str(p)] = got
                continue
            exp = self.produced_at[i][1]
            self.check(got == exp,
                       f"{how}: partition {p}: offset for timestamp {self.boundary_ms} is {got}, "
                       f"expected {exp} (first record of the second half, record {i})")
            out[str(p)] = got
        return out

    def check_earliest_latest(self, how, earliest, latest):
        for p in range(self.p):
            self.check(earliest.get(p) == 0,
                       f"{how}: partition {p} earliest offset {earliest.get(p)!r}, expected 0")
            if self.args.skip_latest:
                self.skipped("latest")
                if latest.get(p) != self.count_in(p):
                    self.log(f"{how}: partition {p} latest offset {latest.get(p)!r} != "
                             f"{self.count_in(p)} (ignored: --skip-latest)")
                continue
            self.check(latest.get(p) == self.count_in(p),
                       f"{how}: partition {p} latest offset {latest.get(p)!r}, "
                       f"expected {self.count_in(p)}")

    def skipped(self, what):
        lst = self.report.setdefault("skipped", [])
        if what not in lst:
            lst.append(what)

    # ------------------------------------------------------------ run
    def run(self, steps):
        """steps: list of (name, callable). Exits the process."""
        code = 0
        try:
            for name, fn in steps:
                with self.step(name):
                    fn()
        except CheckFailed as e:
            sys.stderr.write(f"FAIL [{self.current_step}] {self.client}: {e}\n")
            code = 1
        except Exception as e:  # noqa: BLE001
            sys.stderr.write(f"FAIL [{self.current_step}] {self.client}: unexpected "
                             f"{type(e).__name__}: {e}\n")
            if self.args.verbose:
                traceback.print_exc()
            code = 1
        finally:
            self.current_step = f"close after {self.current_step}"
            self.close_all()
        if code == 0:
            self.report["steps_ok"] = self.steps_ok
            self.report["elapsed_s"] = round(time.monotonic() - self._t0, 2)
            sys.stdout.write(json.dumps(self.report) + "\n")
        sys.stdout.flush()
        sys.stderr.flush()
        # os._exit: don't let a client library's background threads delay the exit.
        os._exit(code)


class _RepeatFilter:
    """Lets each distinct log message through at most `limit` times (librdkafka repeats
    connection errors every ~50 ms while a broker is down)."""

    def __init__(self, limit=3):
        self.limit = limit
        self.seen = {}

    def filter(self, record):
        # Drop digits so messages differing only in timings count as the same.
        key = "".join(ch for ch in record.getMessage() if not ch.isdigit())
        n = self.seen.get(key, 0) + 1
        self.seen[key] = n
        return n <= self.limit


def client_logger(name, verbose):
    """A stderr logger for a client library: INFO and up with -v, otherwise WARNING and
    up with each distinct message at most 3 times."""
    import logging
    log = logging.getLogger(name)
    if not log.handlers:
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        if not verbose:
            h.addFilter(_RepeatFilter())
        log.addHandler(h)
        log.propagate = False
    log.setLevel(logging.INFO if verbose else logging.WARNING)
    return log


def decode(b):
    if b is None:
        return None
    if isinstance(b, (bytes, bytearray)):
        return bytes(b).decode("utf-8")
    return b


def decode_headers(headers):
    return [(k, decode(v)) for (k, v) in (headers or [])]
