"""A confluent-kafka (librdkafka) producer or consumer that runs as fast as it can for a
while and reports what got through, per second, and the throttle librdkafka saw.

    quota_client.py produce --bootstrap B --topic T --client-id C --seconds S [--size 1024]
                            [--max-bytes N] [--batch-bytes 65536] [--sasl-user U]
    quota_client.py consume --bootstrap B --topic T --client-id C --seconds S

Prints one JSON line: bytes (acknowledged, or values read) up to the deadline, bytes per
whole second since the start, errors, and librdkafka's broker throttle statistics
(`throttle_max_ms`, `throttle_count`). Produce stops at the deadline and does not count what
is acknowledged after it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)


class Stats:
    """librdkafka's statistics: the largest broker throttle seen, and how many throttles."""

    def __init__(self):
        self.throttle_max_ms = 0
        self.throttle_count = 0

    def __call__(self, raw: str):
        stats = json.loads(raw)
        for b in stats.get("brokers", {}).values():
            t = b.get("throttle") or {}
            self.throttle_max_ms = max(self.throttle_max_ms, int(t.get("max", 0)))
            self.throttle_count = max(self.throttle_count, int(t.get("cnt", 0)))


def sasl(args) -> dict:
    """SASL/PLAIN settings when --sasl-user is given."""
    if not args.sasl_user:
        return {}
    return {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": "PLAIN",
        "sasl.username": args.sasl_user,
        "sasl.password": "secret",
    }


def produce(args, stats: Stats, buckets: list[int]) -> dict:
    p = Producer(
        {
            **sasl(args),
            "bootstrap.servers": args.bootstrap,
            "client.id": args.client_id,
            "enable.idempotence": True,
            "linger.ms": 5,
            "batch.size": args.batch_bytes,
            "queue.buffering.max.kbytes": 2048,
            "statistics.interval.ms": 500,
            "stats_cb": stats,
        }
    )
    start = time.monotonic()
    deadline = start + args.seconds
    acked = 0
    errors: list[str] = []
    value = b"x" * args.size

    def on_delivery(err, msg):
        nonlocal acked
        now = time.monotonic()
        if err is not None:
            # What the client purges itself after the deadline is not an error of the run.
            if err.code() not in (KafkaError._PURGE_INFLIGHT, KafkaError._PURGE_QUEUE):
                errors.append(str(err))
        elif now <= deadline:
            acked += len(msg.value())
            buckets[int(now - start)] += len(msg.value())

    sent = 0
    while time.monotonic() < deadline and sent < args.max_bytes:
        try:
            p.produce(args.topic, value=value, on_delivery=on_delivery)
        except BufferError:
            p.poll(0.05)
            continue
        sent += len(value)
        p.poll(0)
    p.flush(min(15.0, args.seconds))
    p.purge()
    p.flush(1)
    # One more statistics round, so the last throttle is in.
    end = time.monotonic() + 1.2
    while time.monotonic() < end:
        p.poll(0.1)
    return {"bytes": acked, "errors": errors[:5], "error_count": len(errors)}


def consume(args, stats: Stats, buckets: list[int]) -> dict:
    c = Consumer(
        {
            **sasl(args),
            "bootstrap.servers": args.bootstrap,
            "client.id": args.client_id,
            "group.id": f"quota-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "statistics.interval.ms": 500,
            "stats_cb": stats,
        }
    )
    # Assigned, not subscribed: the run measures reading, not joining a group.
    meta = c.list_topics(args.topic, timeout=10).topics[args.topic]
    c.assign([TopicPartition(args.topic, p, OFFSET_BEGINNING) for p in meta.partitions])
    start = time.monotonic()
    deadline = start + args.seconds
    read = 0
    errors: list[str] = []
    while time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error() is not None:
            errors.append(str(m.error()))
            continue
        now = time.monotonic()
        if now <= deadline:
            read += len(m.value() or b"")
            buckets[int(now - start)] += len(m.value() or b"")
    end = time.monotonic() + 1.2
    while time.monotonic() < end:
        c.poll(0.1)
    c.close()
    return {"bytes": read, "errors": errors[:5], "error_count": len(errors)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["produce", "consume"])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--client-id", required=True)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--size", type=int, default=1024, help="record value bytes")
    ap.add_argument("--max-bytes", type=int, default=1 << 62, help="produce: stop after this")
    ap.add_argument("--sasl-user", help="log in with SASL/PLAIN as this user")
    ap.add_argument("--batch-bytes", type=int, default=65536, help="produce: batch.size")
    args = ap.parse_args()
    stats = Stats()
    buckets = [0] * (int(args.seconds) + 1)
    try:
        run = produce if args.mode == "produce" else consume
        report = run(args, stats, buckets)
    except KafkaException as e:
        print(json.dumps({"fatal": str(e)}))
        return 1
    report.update(
        {
            "client_id": args.client_id,
            "seconds": args.seconds,
            "per_second": buckets[: int(args.seconds)],
            "throttle_max_ms": stats.throttle_max_ms,
            "throttle_count": stats.throttle_count,
        }
    )
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
