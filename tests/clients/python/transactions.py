"""Transactions with confluent-kafka (librdkafka), for tests/tests/transactions.rs.

Subcommands, each printing one JSON line on stdout (errors go to stderr, exit 1):

  eos       consume-transform-produce: plain records to --input, a read_committed consumer in
            --group reads them, a transactional producer writes --commit records over two
            partitions of --output with the consumer's offsets (send_offsets_to_transaction)
            and commits; then writes --abort more and aborts.
  commit    the first half of eos: --commit records and the consumer's offsets in one
            transaction, committed (for a test that stops the proxy during the commit).
  more      a new transactional producer with --tid commits --after records (d-{i}).
  fence     a transactional producer begins a transaction; a second one with the same
            transactional id starts; the first one's commit must fail as fenced.
  timeout   a transaction left open past transaction.timeout.ms: its commit must fail.
  read      every record of --topic (--partitions), read until the end with
            isolation.level=read_committed: values per partition, in order.
  committed the committed offsets of --group on --topic.
"""

import argparse
import json
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

TIMEOUT = 30


def fail(msg):
    print(f"FAIL {msg}", file=sys.stderr)
    sys.exit(1)


def txn_producer(a, tid, **extra):
    conf = {"bootstrap.servers": a.bootstrap, "transactional.id": tid, "linger.ms": 5}
    conf.update(extra)
    p = Producer(conf)
    p.init_transactions(TIMEOUT)
    return p


def produce_all(p, topic, values, partitions=2):
    for i, v in enumerate(values):
        while True:
            try:
                p.produce(topic, v.encode(), partition=i % partitions)
                break
            except BufferError:
                p.poll(0.05)
    p.flush(TIMEOUT)


def consumed_inputs(a):
    """Writes --inputs plain records to --input and reads them in --group: the consumer."""
    plain = Producer({"bootstrap.servers": a.bootstrap, "enable.idempotence": True})
    for i in range(a.inputs):
        plain.produce(a.input, f"in-{i}".encode(), partition=0)
    if plain.flush(TIMEOUT):
        fail("input records not delivered")
    c = Consumer({
        "bootstrap.servers": a.bootstrap,
        "group.id": a.group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
    })
    c.subscribe([a.input])
    got = 0
    deadline = time.time() + 60
    while got < a.inputs and time.time() < deadline:
        for m in c.consume(100, 1.0):
            if m.error():
                fail(f"consume input: {m.error()}")
            got += 1
    if got != a.inputs:
        fail(f"consumed {got} of {a.inputs} input records")
    return c


def commit_consumed(a, c):
    """A transaction of --commit records and the consumer's offsets, committed."""
    p = txn_producer(a, a.tid)
    p.begin_transaction()
    produce_all(p, a.output, [f"c-{i}" for i in range(a.commit)])
    positions = c.position(c.assignment())
    p.send_offsets_to_transaction(positions, c.consumer_group_metadata(), TIMEOUT)
    p.commit_transaction(TIMEOUT)
    return p, positions


def commit(a):
    c = consumed_inputs(a)
    _, positions = commit_consumed(a, c)
    print(json.dumps({"offsets": {str(tp.partition): tp.offset for tp in positions}}))


def more(a):
    p = txn_producer(a, a.tid)
    p.begin_transaction()
    produce_all(p, a.output, [f"d-{i}" for i in range(a.after)])
    p.commit_transaction(TIMEOUT)
    print(json.dumps({"committed": a.after}))


def eos(a):
    c = consumed_inputs(a)
    p, positions = commit_consumed(a, c)
    p.begin_transaction()
    produce_all(p, a.output, [f"a-{i}" for i in range(a.abort)])
    p.abort_transaction(TIMEOUT)
    # A transaction after the abort still commits (the producer keeps its id and epoch).
    p.begin_transaction()
    produce_all(p, a.output, [f"d-{i}" for i in range(a.after)])
    p.commit_transaction(TIMEOUT)
    c.close()
    print(json.dumps({
        "committed": a.commit + a.after,
        "aborted": a.abort,
        "offsets": {str(tp.partition): tp.offset for tp in positions},
    }))


def fence(a):
    first = txn_producer(a, a.tid)
    first.begin_transaction()
    produce_all(first, a.topic, ["f1-0", "f1-1"])
    second = txn_producer(a, a.tid)
    second.begin_transaction()
    produce_all(second, a.topic, ["f2-0", "f2-1"])
    second.commit_transaction(TIMEOUT)
    error = None
    try:
        first.produce(a.topic, b"f1-late", partition=0)
        first.flush(5)
        first.commit_transaction(10)
    except KafkaException as e:
        err = e.args[0]
        error = {"name": err.name(), "fatal": err.fatal(), "text": err.str()}
    print(json.dumps({"first_error": error}))


def timeout(a):
    p = txn_producer(a, a.tid, **{"transaction.timeout.ms": a.timeout_ms})
    p.begin_transaction()
    produce_all(p, a.topic, [f"t-{i}" for i in range(10)])
    time.sleep(a.timeout_ms / 1000 * 2 + 1)
    error = None
    try:
        p.commit_transaction(10)
    except KafkaException as e:
        err = e.args[0]
        error = {"name": err.name(), "fatal": err.fatal(), "abortable": err.txn_requires_abort(),
                 "text": err.str()}
    print(json.dumps({"commit_error": error}))


def read(a):
    c = Consumer({
        "bootstrap.servers": a.bootstrap,
        "group.id": "kafkatwin-txn-read",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "isolation.level": "read_committed",
    })
    parts = list(range(a.partitions))
    c.assign([TopicPartition(a.topic, p, 0) for p in parts])
    values = {str(p): [] for p in parts}
    done = set()
    deadline = time.time() + 60
    while len(done) < len(parts) and time.time() < deadline:
        for m in c.consume(500, 1.0):
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    done.add(m.partition())
                    continue
                fail(f"read {a.topic}: {m.error()}")
            values[str(m.partition())].append((m.value() or b"").decode())
            done.discard(m.partition())
    c.close()
    print(json.dumps({"complete": len(done) == len(parts), "values": values}))


def committed(a):
    c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": a.group})
    tps = c.committed([TopicPartition(a.topic, p) for p in range(a.partitions)], timeout=TIMEOUT)
    c.close()
    print(json.dumps({str(tp.partition): tp.offset for tp in tps}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command",
                    choices=["eos", "commit", "more", "fence", "timeout", "read", "committed"])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--tid", default="kafkatwin-test-tx")
    ap.add_argument("--topic")
    ap.add_argument("--input")
    ap.add_argument("--output")
    ap.add_argument("--group", default="kafkatwin-txn-group")
    ap.add_argument("--inputs", type=int, default=40)
    ap.add_argument("--commit", type=int, default=100)
    ap.add_argument("--abort", type=int, default=50)
    ap.add_argument("--after", type=int, default=10)
    ap.add_argument("--partitions", type=int, default=2)
    ap.add_argument("--timeout-ms", type=int, default=3000)
    a = ap.parse_args()
    try:
        {"eos": eos, "commit": commit, "more": more, "fence": fence, "timeout": timeout, "read": read, "committed": committed}[a.command](a)
    except KafkaException as e:
        fail(f"{a.command}: {e}")


if __name__ == "__main__":
    main()
