"""A kafka-python consumer group reading through KafkaTwin (the Java Group.java's twin).

  group_kafka_python.py --bootstrap B --topic T --group G --consumers N --expect E
                        [--progress-every K] [--max-poll-records R] [--timeout SECONDS]
                        [--per-consumer-bootstrap]

N subscribe() consumers (threads) in group G read until E distinct records (values
"v<index>-...") were consumed, then on until nothing new arrives for 3 s. A batch counts once
its offsets are committed (commit(), synchronous); a record consumed again after its commit
is a duplicate. Prints "progress K" as records are consumed and "revoked <ms> <consumer>
<partitions>" when a rebalance revokes partitions (not at close), then one JSON line:
distinct, duplicates, redelivered, commit_failures, assignments, revocations, lost (always 0:
kafka-python has no lost callback), final_assignments, max_gap_ms and errors.
"""

import argparse
import json
import threading
import time

from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--consumers", type=int, default=1)
    ap.add_argument("--expect", type=int, required=True)
    ap.add_argument("--progress-every", type=int, default=1000)
    ap.add_argument("--max-poll-records", type=int, default=500)
    ap.add_argument("--timeout", type=int, default=120)
    ap.add_argument("--per-consumer-bootstrap", action="store_true",
                    help="B is a list; consumer n knows only its n-th address")
    a = ap.parse_args()

    lock = threading.Lock()
    out_lock = threading.Lock()
    seen = set()
    uncommitted = set()
    state = {"duplicates": 0, "redelivered": 0, "commit_failures": 0, "assignments": 0,
             "revocations": 0, "final_assignments": {}, "max_gap_ms": 0, "last": 0.0,
             "last_new": time.time(), "next_progress": a.progress_every, "errors": []}
    stop = threading.Event()

    def emit(line):
        with out_lock:
            print(line, flush=True)

    def run(n, barrier):
        servers = a.bootstrap.split(",")
        bootstrap = servers[n % len(servers)] if a.per_consumer_bootstrap else servers
        c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=a.group,
                          client_id=f"kafka-python-group-{n}", enable_auto_commit=False,
                          auto_offset_reset="earliest", session_timeout_ms=6000,
                          heartbeat_interval_ms=1000, max_poll_records=a.max_poll_records,
                          fetch_max_wait_ms=500)

        class Listener(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):
                if revoked and not stop.is_set():
                    with lock:
                        state["revocations"] += 1
                    emit(f"revoked {int(time.time() * 1000)} {n} "
                         f"{sorted(tp.partition for tp in revoked)}")

            def on_partitions_assigned(self, assigned):
                with lock:
                    state["assignments"] += 1

        c.subscribe([a.topic], listener=Listener())
        while not stop.is_set():
            try:
                polled = c.poll(timeout_ms=500)
            except Exception as e:  # noqa: BLE001 - counted, the run goes on
                with lock:
                    if len(state["errors"]) < 10:
                        state["errors"].append(f"poll: {e}")
                continue
            batch, ends = [], {}
            for tp, records in polled.items():
                for r in records:
                    batch.append(int(r.value.split(b"-", 1)[0][1:]))
                    ends[tp] = OffsetAndMetadata(r.offset + 1, "", -1)
            if not batch:
                continue
            try:
                c.commit(ends)
            except Exception as e:  # noqa: BLE001 - counted, the batch comes again
                with lock:
                    state["commit_failures"] += 1
                    uncommitted.update(batch)
                    if len(state["errors"]) < 10:
                        state["errors"].append(f"commit: {e}")
                continue
            now = time.time()
            with lock:
                if state["last"]:
                    state["max_gap_ms"] = max(state["max_gap_ms"],
                                              int((now - state["last"]) * 1000))
                state["last"] = now
                for idx in batch:
                    if idx in uncommitted:
                        uncommitted.discard(idx)
                        state["redelivered"] += 1
                    if idx in seen:
                        state["duplicates"] += 1
                    else:
                        seen.add(idx)
                        state["last_new"] = now
                while len(seen) >= state["next_progress"]:
                    emit(f"progress {state['next_progress']}")
                    state["next_progress"] += a.progress_every
        with lock:
            state["final_assignments"][str(n)] = sorted(tp.partition for tp in c.assignment())
        try:
            barrier.wait(timeout=30)
        except threading.BrokenBarrierError:
            pass
        c.close(autocommit=False)

    barrier = threading.Barrier(a.consumers)
    threads = [threading.Thread(target=run, args=(n, barrier), daemon=True)
               for n in range(a.consumers)]
    for t in threads:
        t.start()
    deadline = time.time() + a.timeout
    while time.time() < deadline:
        time.sleep(0.2)
        with lock:
            if len(seen) >= a.expect and time.time() - state["last_new"] > 3:
                break
    stop.set()
    for t in threads:
        t.join(30)
    with lock:
        emit(json.dumps({"distinct": len(seen), "duplicates": state["duplicates"],
                         "redelivered": state["redelivered"],
                         "commit_failures": state["commit_failures"],
                         "assignments": state["assignments"],
                         "revocations": state["revocations"], "lost": 0,
                         "final_assignments": state["final_assignments"],
                         "max_gap_ms": state["max_gap_ms"], "errors": state["errors"]}))


if __name__ == "__main__":
    main()
