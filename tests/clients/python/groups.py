"""Consumer groups and logical offsets through KafkaTwin (multi-cluster read tests).

  groups.py consume --bootstrap B --topic T --group G --consumers N --expect E
                    [--producer-offsets F]
      N subscribe() consumers in one process (threads) read until E distinct records were
      consumed. A batch counts as consumed only once its offsets are committed (commitSync):
      a batch whose commit failed (a rebalance) is delivered again and counted then, which is
      Kafka's at-least-once contract, not a duplicate. A record consumed twice after being
      committed is a duplicate. Prints "progress K" lines as records are consumed, then one
      JSON line: distinct, duplicates, lost, redelivered, commit_failures, assignments, the
      times partitions were revoked (rebalance callbacks), each consumer's partitions when it
      stopped, the
      longest pauses between consumed batches (ms), the group's committed offsets, and, with
      --producer-offsets, how many records were seen at an offset other than the producer's.
      KT_RDKAFKA_DEBUG=cgrp (environment) turns on librdkafka's debug contexts.
  groups.py seek-ts --bootstrap B --topic T --partition P --timestamp MS
      The first record at or after MS: its offset and value (offsets_for_times + consume).
  groups.py read --bootstrap B --topic T --expect E
      An assign() reader (no group) of every partition from offset 0: counts records, and
      offsets that skip (gaps) or go back (repeats).
  groups.py group --action commit|committed|list|describe|delete --bootstrap B --group G
                  [--topic T --partition P --offset O]
      One group operation (a standalone commit, the committed offset, or an AdminClient call).
  groups.py leaders --bootstrap B --topic T
      The partition leaders and brokers the bootstrap's metadata names.
"""

import argparse
import os
import json
import sys
import threading
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition


def consume(a):
    lock = threading.Lock()
    seen = {}  # record index -> (partition, offset)
    state = {"duplicates": 0, "redelivered": 0, "commit_failures": 0, "assignments": 0,
             "revocations": [], "final_assignments": {}, "last": time.time(), "gaps": [],
             "errors": []}
    stop = threading.Event()
    progress_every = a.progress_every
    next_progress = [progress_every]

    def run(n):
        def on_assign(c, parts):
            with lock:
                state["assignments"] += 1

        def on_revoke(c, parts):
            # Closing revokes too; only a rebalance while reading counts.
            if not stop.is_set():
                with lock:
                    state["revocations"].append(round(time.time(), 3))

        bootstrap = a.bootstrap
        if a.per_consumer_bootstrap:
            # Consumer n knows only the n-th address (one consumer per proxy instance).
            servers = a.bootstrap.split(",")
            bootstrap = servers[n % len(servers)]
        extra = {"debug": os.environ["KT_RDKAFKA_DEBUG"]} if os.environ.get("KT_RDKAFKA_DEBUG") else {}
        c = Consumer({
            **extra,
            "bootstrap.servers": bootstrap,
            "group.id": a.group,
            "client.id": f"consumer-{n}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 1000,
            "max.poll.interval.ms": 300000,
            "fetch.wait.max.ms": 500,
        })
        c.subscribe([a.topic], on_assign=on_assign, on_revoke=on_revoke)
        delivered_uncommitted = set()
        while not stop.is_set():
            msgs = c.consume(500, 0.5)
            batch = []
            ends = {}
            for m in msgs:
                if m.error():
                    if m.error().code() != KafkaError._PARTITION_EOF:
                        with lock:
                            if len(state["errors"]) < 10:
                                state["errors"].append(str(m.error()))
                    continue
                idx = int(m.value().split(b"-", 1)[0][1:])
                batch.append((idx, m.partition(), m.offset()))
                ends[m.partition()] = m.offset() + 1
            if not batch:
                continue
            try:
                c.commit(offsets=[TopicPartition(a.topic, p, o) for p, o in ends.items()],
                         asynchronous=False)
            except KafkaException:
                with lock:
                    state["commit_failures"] += 1
                for b in batch:
                    delivered_uncommitted.add(b[0])
                continue
            now = time.time()
            with lock:
                state["gaps"].append(((now - state["last"]) * 1000, now))
                state["last"] = now
                for idx, p, o in batch:
                    if idx in delivered_uncommitted:
                        state["redelivered"] += 1
                        delivered_uncommitted.discard(idx)
                    if idx in seen:
                        state["duplicates"] += 1
                    else:
                        seen[idx] = (p, o)
                while len(seen) >= next_progress[0]:
                    print(f"progress {next_progress[0]}", flush=True)
                    next_progress[0] += progress_every
                if len(seen) >= a.expect:
                    stop.set()
        with lock:
            state["final_assignments"][n] = sorted(tp.partition for tp in c.assignment())
        # Every consumer notes its partitions before any leaves (a leave rebalances the rest).
        try:
            noted.wait(timeout=30)
        except threading.BrokenBarrierError:
            pass
        c.close()

    noted = threading.Barrier(a.consumers)
    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(a.consumers)]
    for t in threads:
        t.start()
    deadline = time.time() + a.timeout
    while not stop.is_set() and time.time() < deadline:
        time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join(30)
    # The group's commits as the proxy reports them now.
    probe = Consumer({"bootstrap.servers": a.bootstrap, "group.id": a.group,
                      "enable.auto.commit": False})
    md = probe.list_topics(a.topic, timeout=10)
    parts = sorted(md.topics[a.topic].partitions)
    committed = {}
    for tp in probe.committed([TopicPartition(a.topic, p) for p in parts], timeout=20):
        committed[str(tp.partition)] = tp.offset
    probe.close()
    out = {
        "distinct": len(seen),
        "lost": max(0, a.expect - len(seen)),
        "duplicates": state["duplicates"],
        "redelivered": state["redelivered"],
        "commit_failures": state["commit_failures"],
        "assignments": state["assignments"],
        "revocations": state["revocations"],
        "final_assignments": {str(k): v for k, v in state["final_assignments"].items()},
        "longest_pauses_ms": [round(g) for g, _ in sorted(state["gaps"], reverse=True)[:5]],
        "longest_pauses_ended_at": [round(t, 3) for _, t in sorted(state["gaps"], reverse=True)[:5]],
        "committed": committed,
        "errors": state["errors"],
    }
    if a.producer_offsets:
        with open(a.producer_offsets) as f:
            produced = json.load(f)
        out["offset_mismatches"] = sum(
            1 for i, po in produced.items() if int(i) in seen and list(seen[int(i)]) != po)
        out["compared"] = sum(1 for i in produced if int(i) in seen)
    print(json.dumps(out), flush=True)


def seek_ts(a):
    c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": "kafkatwin-seek",
                  "enable.auto.commit": False})
    found = c.offsets_for_times([TopicPartition(a.topic, a.partition, a.timestamp)], timeout=30)
    tp = found[0]
    if tp.error or tp.offset < 0:
        print(json.dumps({"offset": tp.offset, "error": str(tp.error)}))
        return
    c.assign([tp])
    deadline = time.time() + 30
    while time.time() < deadline:
        m = c.poll(1.0)
        if m is None or m.error():
            continue
        print(json.dumps({"offset": m.offset(), "value": m.value().decode(),
                          "timestamp": m.timestamp()[1]}))
        c.close()
        return
    print(json.dumps({"offset": tp.offset, "error": "no record after the offset"}))
    sys.exit(1)


def read(a):
    """assign() reader (no group): every partition from offset 0 until --expect records,
    checking that offsets run on with no gap and no repeat."""
    from confluent_kafka.admin import AdminClient
    md = AdminClient({"bootstrap.servers": a.bootstrap}).list_topics(a.topic, timeout=10)
    parts = sorted(md.topics[a.topic].partitions)
    c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": "kafkatwin-reader",
                  "enable.auto.commit": False, "fetch.wait.max.ms": 500,
                  # Small prefetch, so reads after a pause really come from the proxy.
                  "queued.min.messages": 1, "queued.max.messages.kbytes": 64,
                  "fetch.max.bytes": 65536, "message.max.bytes": 65536,
                  "max.partition.fetch.bytes": 16384})
    c.assign([TopicPartition(a.topic, p, 0) for p in parts])
    next_offset = {p: 0 for p in parts}
    out = {"count": 0, "gaps": 0, "repeats": 0, "errors": []}
    every = a.progress_every
    deadline = time.time() + a.timeout
    while out["count"] < a.expect and time.time() < deadline:
        for m in c.consume(100, 0.5):
            if m.error():
                if len(out["errors"]) < 5:
                    out["errors"].append(str(m.error()))
                continue
            p, o = m.partition(), m.offset()
            if o > next_offset[p]:
                out["gaps"] += 1
            elif o < next_offset[p]:
                out["repeats"] += 1
            next_offset[p] = max(next_offset[p], o + 1)
            out["count"] += 1
            if out["count"] % every == 0:
                print(f"progress {out['count']}", flush=True)
        time.sleep(0.01)
    c.close()
    print(json.dumps(out), flush=True)


def group_admin(a):
    """One group operation; prints its result as JSON."""
    from confluent_kafka.admin import AdminClient
    if a.action == "commit":
        c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": a.group,
                      "enable.auto.commit": False})
        c.commit(offsets=[TopicPartition(a.topic, a.partition, a.offset)], asynchronous=False)
        c.close()
        print(json.dumps({"committed": a.offset}))
    elif a.action == "committed":
        c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": a.group,
                      "enable.auto.commit": False})
        tp = c.committed([TopicPartition(a.topic, a.partition)], timeout=20)[0]
        c.close()
        print(json.dumps({"offset": tp.offset}))
    else:
        admin = AdminClient({"bootstrap.servers": a.bootstrap})
        if a.action == "list":
            r = admin.list_consumer_groups().result(timeout=20)
            print(json.dumps({"groups": sorted(g.group_id for g in r.valid)}))
        elif a.action == "describe":
            d = admin.describe_consumer_groups([a.group])[a.group].result(timeout=20)
            print(json.dumps({"group": d.group_id, "state": str(d.state), "members": len(d.members)}))
        elif a.action == "delete":
            admin.delete_consumer_groups([a.group])[a.group].result(timeout=20)
            print(json.dumps({"deleted": a.group}))


def leaders(a):
    from confluent_kafka.admin import AdminClient
    md = AdminClient({"bootstrap.servers": a.bootstrap}).list_topics(a.topic, timeout=10)
    brokers = {b.id: f"{b.host}:{b.port}" for b in md.brokers.values()}
    parts = md.topics[a.topic].partitions
    print(json.dumps({"leaders": {str(p): parts[p].leader for p in sorted(parts)},
                      "error": str(md.topics[a.topic].error) if md.topics[a.topic].error else None,
                      "brokers": {str(k): v for k, v in sorted(brokers.items())}}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["consume", "seek-ts", "leaders", "read", "group"])
    ap.add_argument("--action", choices=["commit", "committed", "list", "describe", "delete"])
    ap.add_argument("--offset", type=int, default=0)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--group", default="kafkatwin-group")
    ap.add_argument("--consumers", type=int, default=3)
    ap.add_argument("--expect", type=int, default=0)
    ap.add_argument("--per-consumer-bootstrap", action="store_true",
                    help="--bootstrap is a list; consumer n uses only its n-th address")
    ap.add_argument("--progress-every", type=int, default=1000)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--producer-offsets")
    ap.add_argument("--partition", type=int, default=0)
    ap.add_argument("--timestamp", type=int, default=0)
    a = ap.parse_args()
    {"consume": consume, "seek-ts": seek_ts, "leaders": leaders, "read": read,
     "group": group_admin}[a.cmd](a)


if __name__ == "__main__":
    main()
