"""Produce through KafkaTwin and read back from each backend directly (replication tests).

  replicate.py produce --bootstrap B --topic T --count N --partitions P [--idempotent]
  replicate.py dump --bootstrap B --topic T --partitions P
  replicate.py create|delete --bootstrap B --topic T [--partitions P]; replicate.py topics

`produce` creates the topic (through the proxy, so every cluster gets it) unless
--no-create, sends N keyed records with a header to partition i % P, waits for every
delivery report and prints one JSON line: delivered, failed, and the distinct errors.
`dump` reads every partition from the start to its end and prints per partition the record
count, a digest of (key, value, headers, timestamp) in order, and how many values repeat.
"""

import argparse
import hashlib
import json
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def sasl(a):
    """SASL/PLAIN client settings when --sasl-user is given."""
    if not a.sasl_user:
        return {}
    return {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": "PLAIN",
            "sasl.username": a.sasl_user, "sasl.password": a.sasl_password}


def produce(a):
    if not a.no_create:
        admin = AdminClient({"bootstrap.servers": a.bootstrap, **sasl(a)})
        fs = admin.create_topics([NewTopic(a.topic, num_partitions=a.partitions, replication_factor=1)])
        for f in fs.values():
            try:
                f.result(timeout=30)
            except KafkaException as e:
                if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
    conf = {
        "bootstrap.servers": a.bootstrap,
        "enable.idempotence": a.idempotent,
        # --batch N: exactly N records per batch (a flush after every N, nothing sent before).
        "linger.ms": 60000 if a.batch else 5,
        "message.timeout.ms": a.timeout_ms,
        "request.timeout.ms": 15000,
        "retry.backoff.ms": 200,
        **sasl(a),
    }
    if not a.idempotent:
        conf["acks"] = "all"
    p = Producer(conf)
    result = {"delivered": 0, "failed": 0, "errors": []}

    offsets = {}

    def report(err, msg):
        if err is None:
            result["delivered"] += 1
            if a.offsets_file:
                i = int(msg.value().split(b"-", 1)[0][1:]) if not a.json else json.loads(msg.value())["i"]
                offsets[i] = [msg.partition(), msg.offset()]
        else:
            result["failed"] += 1
            if str(err) not in result["errors"] and len(result["errors"]) < 10:
                result["errors"].append(str(err))

    pad = "x" * a.value_bytes
    for i in range(a.start, a.start + a.count):
        if a.json:
            value = json.dumps({"i": i, "name": f"n{i}", "ssn": f"{i:03d}-45-6789"}).encode()
        elif a.raw_value is not None:
            value = a.raw_value.encode()
        else:
            value = f"v{i}-{pad}".encode()
        while True:
            try:
                extra = {"timestamp": a.ts_base + i * 10} if a.ts_base else {}
                p.produce(
                    a.topic,
                    key=f"k{i}".encode(),
                    value=value,
                    partition=i % a.partitions,
                    headers=[("seq", str(i).encode())],
                    on_delivery=report,
                    **extra,
                )
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
        if a.batch and (i - a.start) % a.batch == a.batch - 1:
            p.flush(30)
        if a.pace_ms and i % 100 == 99:
            time.sleep(a.pace_ms / 1000)
    left = p.flush(a.timeout_ms / 1000 + 30)
    result["undelivered"] = left
    if a.offsets_file:
        with open(a.offsets_file, "w") as f:
            json.dump(offsets, f)
    print(json.dumps(result))


def dump(a):
    c = Consumer({
        "bootstrap.servers": a.bootstrap,
        "group.id": "kafkatwin-dump",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
    })
    parts = list(range(a.partitions))
    c.assign([TopicPartition(a.topic, p, 0) for p in parts])
    digests = {p: hashlib.sha256() for p in parts}
    counts = {p: 0 for p in parts}
    values = {p: set() for p in parts}
    shown = []
    shown_headers = []
    dups = {p: 0 for p in parts}
    done = set()
    deadline = time.time() + 60
    while len(done) < len(parts) and time.time() < deadline:
        for m in c.consume(500, 1.0):
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    done.add(m.partition())
                    continue
                print(f"FAIL consume: {m.error()}", file=sys.stderr)
                sys.exit(1)
            p = m.partition()
            counts[p] += 1
            h = digests[p]
            for part in (m.key() or b"", m.value() or b"", repr(m.headers()).encode(), str(m.timestamp()[1]).encode()):
                h.update(len(part).to_bytes(4, "big"))
                h.update(part)
            v = m.value()
            if a.values:
                shown.append((v or b"").decode("utf-8", "replace"))
                shown_headers.append({k: (hv or b"").decode("utf-8", "replace") for k, hv in (m.headers() or [])})
            if v in values[p]:
                dups[p] += 1
            values[p].add(v)
    c.close()
    out = {
        "complete": len(done) == len(parts),
        "partitions": {str(p): {"count": counts[p], "digest": digests[p].hexdigest(), "duplicates": dups[p]} for p in parts},
        "total": sum(counts.values()),
    }
    if a.values:
        out["values"] = shown
        out["headers"] = shown_headers
    print(json.dumps(out))


def admin(a):
    client = AdminClient({"bootstrap.servers": a.bootstrap})
    if a.cmd == "create":
        fs = client.create_topics([NewTopic(a.topic, num_partitions=a.partitions, replication_factor=1)])
        for f in fs.values():
            f.result(timeout=30)
    elif a.cmd == "delete":
        for f in client.delete_topics([a.topic]).values():
            f.result(timeout=30)
    md = client.list_topics(timeout=10)
    print(json.dumps({t: len(m.partitions) for t, m in md.topics.items() if not t.startswith("__")}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["produce", "dump", "create", "delete", "topics"])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", default="")
    ap.add_argument("--partitions", type=int, default=1)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--start", type=int, default=0, help="first record index (keys and values are unique per index)")
    ap.add_argument("--value-bytes", type=int, default=100)
    ap.add_argument("--idempotent", action="store_true")
    ap.add_argument("--no-create", action="store_true")
    ap.add_argument("--timeout-ms", type=int, default=120000)
    ap.add_argument("--pace-ms", type=int, default=0)
    ap.add_argument("--batch", type=int, default=0, help="produce: exactly this many records per batch")
    ap.add_argument("--json", action="store_true", help="JSON values with an ssn field")
    ap.add_argument("--raw-value", help="this exact value for every record")
    ap.add_argument("--values", action="store_true", help="dump: list every value read")
    ap.add_argument("--offsets-file", help="produce: write {index: [partition, offset]} from delivery reports")
    ap.add_argument("--ts-base", type=int, default=0, help="produce: record i gets timestamp ts-base + 10*i")
    ap.add_argument("--sasl-user", help="log in with SASL/PLAIN as this user")
    ap.add_argument("--sasl-password", default="secret")
    a = ap.parse_args()
    {"produce": produce, "dump": dump}.get(a.cmd, admin)(a)


if __name__ == "__main__":
    main()
