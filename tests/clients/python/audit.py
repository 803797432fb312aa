"""Audit: is every acknowledged record on every cluster, exactly once?

  audit.py --bootstrap A[,B,...] --topic T --partitions P --acked F1 [F2 ...]
           [--acked-plain G1 ...] [--idle-s S]

Each F is what a producer wrote for its delivery reports: a JSON object {index: [partition,
offset]} of the records it was told were written (replicate.py --offsets-file, Produce.java,
produce.js); --acked-plain names those of producers that are not idempotent, whose records
may be stored twice when a retry follows a write whose answer was lost (counted apart). Values start with `v{index}-`. Each bootstrap is read directly from offset 0 of
every partition until idle: every partition at its end and nothing new for S seconds (a read
that stopped at a count would hide duplicates). Prints one JSON line:
  {"acked": N, "clusters": {bootstrap: {"records": n, "missing": m, "duplicated": d,
   "duplicated_plain": d2, "unacked": u, "missing_sample": [...], "duplicated_sample": [...]}}}
`unacked` counts records present that no producer was told about (allowed: a failed delivery
may still have been written).
"""

import argparse
import collections
import json
import time

from confluent_kafka import Consumer, KafkaError, TopicPartition


def read_all(bootstrap, topic, partitions, idle_s):
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "kafkatwin-audit",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
    })
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    seen = collections.Counter()
    records = 0
    at_end = set()
    last_new = time.time()
    deadline = time.time() + 120
    while time.time() < deadline:
        batch = c.consume(1000, 0.5)
        for m in batch:
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(m.partition())
                    continue
                raise SystemExit(f"FAIL consume {bootstrap}: {m.error()}")
            at_end.discard(m.partition())
            records += 1
            last_new = time.time()
            v = m.value() or b""
            head = v.split(b"-", 1)[0]
            if head[:1] == b"v" and head[1:].isdigit():
                seen[int(head[1:])] += 1
        if len(at_end) == partitions and time.time() - last_new >= idle_s:
            break
    c.close()
    return records, seen


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True, help="comma-separated: each is read on its own")
    ap.add_argument("--topic", required=True)
    ap.add_argument("--partitions", type=int, default=1)
    ap.add_argument("--acked", action="extend", nargs="+", default=[])
    ap.add_argument("--acked-plain", action="extend", nargs="+", default=[])
    ap.add_argument("--idle-s", type=float, default=2.0)
    a = ap.parse_args()
    def load(files):
        out = set()
        for f in files:
            with open(f) as fh:
                out.update(int(i) for i in json.load(fh))
        return out

    strict = load(a.acked)
    plain = load(a.acked_plain)
    acked = strict | plain
    out = {"acked": len(acked), "clusters": {}}
    for b in a.bootstrap.split(","):
        records, seen = read_all(b, a.topic, a.partitions, a.idle_s)
        missing = sorted(acked - set(seen))
        dups = sorted(i for i, n in seen.items() if n > 1 and i not in plain)
        dups_plain = sum(1 for i, n in seen.items() if n > 1 and i in plain)
        out["clusters"][b] = {
            "records": records,
            "missing": len(missing),
            "duplicated": len(dups),
            "duplicated_plain": dups_plain,
            "unacked": len(set(seen) - acked),
            "missing_sample": missing[:10],
            "duplicated_sample": dups[:10],
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
