#!/usr/bin/env python3
"""KafkaTwin client scenario with kafka-python (3.x) incl. KafkaAdminClient.

python scenario_kafka_python.py --bootstrap 127.0.0.1:PORT --topic T --group G
                                [--records N] [--partitions P] [--skip-describe] [--skip-latest] [-v]
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import (  # noqa: E402
    HALF_GAP_S, Scenario, client_logger, decode, decode_headers, parse_args,
)

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.admin import OffsetSpec, OffsetTimestamp  # noqa: E402

CLIENT = "kafka-python"


class KafkaPythonScenario(Scenario):
    def __init__(self, args):
        super().__init__(CLIENT, args)
        self.base = {
            "bootstrap_servers": args.bootstrap,
            "client_id": f"kafkatwin-{CLIENT}",
            "request_timeout_ms": 15000,
            "reconnect_backoff_max_ms": 1000,
        }
        self.admin = None  # connected in step_create (so a connect failure is a step failure)
        self.tps = [TopicPartition(self.topic, p) for p in range(self.p)]

    # -------------------------------------------------------------- helpers
    def consumer(self, **extra):
        conf = dict(self.base)
        conf.update({
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "allow_auto_create_topics": False,
        })
        conf.update(extra)
        c = KafkaConsumer(**conf)
        return c, self.on_exit(lambda: c.close(autocommit=False, timeout_ms=5000))

    def topic_names(self):
        return set(self.admin.list_topics())

    def read(self, how, c):
        records = []
        while len(records) < self.n:
            if self.expired():
                self.fail(f"{how}: timed out after reading {len(records)} of {self.n} records")
            batches = c.poll(timeout_ms=int(self.remaining(1.0) * 1000), max_records=1000)
            for tp, msgs in batches.items():
                self.check(tp.topic == self.topic, f"{how}: record from topic {tp.topic!r}")
                for m in msgs:
                    records.append((m.partition, m.offset, decode(m.key), decode(m.value),
                                    decode_headers(m.headers)))
        return records

    # -------------------------------------------------------------- steps
    def step_create(self):
        self.admin = KafkaAdminClient(**self.base)
        self.on_exit(self.admin.close)
        res = self.admin.create_topics(
            {self.topic: {"num_partitions": self.p, "replication_factor": 1}}, timeout_ms=10000)
        for t in res.get("topics", []):
            self.check(t.get("error_code", 0) == 0, f"create_topics: {t}")

        def ready():
            topics = self.admin.describe_topics([self.topic])
            t = next((t for t in topics if t.get("name") == self.topic), None)
            if t is None or t.get("error_code", 0) != 0:
                return False
            parts = t.get("partitions") or []
            return (len(parts) == self.p
                    and all(pm.get("error_code", 0) == 0 and pm.get("leader_id", -1) >= 0
                            for pm in parts))
        self.wait_until(f"topic {self.topic} with {self.p} partitions in metadata", ready)

    def step_produce(self):
        producer = KafkaProducer(
            **self.base,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_block_ms=10000,
            delivery_timeout_ms=20000,
        )
        close_producer = self.on_exit(lambda: producer.close(timeout=5))

        def produce_range(lo, hi):
            futures = []
            for i in range(lo, hi):
                fut = producer.send(self.topic, key=self.key(i).encode(),
                                    value=self.value(i).encode(),
                                    headers=[(k, v.encode()) for k, v in self.headers(i)],
                                    partition=self.partition_of(i))
                futures.append((i, fut))
            producer.flush(timeout=self.remaining())
            for i, fut in futures:
                try:
                    md = fut.get(timeout=self.remaining())
                except Exception as e:  # noqa: BLE001
                    self.fail(f"produce: record {i} failed: {type(e).__name__}: {e}")
                self.check(md.topic == self.topic, f"produce: record {i} went to {md.topic!r}")
                self.record_produced(i, md.partition, md.offset)

        half = self.half()
        produce_range(0, half)
        time.sleep(HALF_GAP_S / 2)
        self.boundary_ms = int(time.time() * 1000)
        time.sleep(HALF_GAP_S / 2)
        produce_range(half, self.n)
        self.check_produced()
        close_producer()
        self.report["produced"] = len(self.produced_at)
        self.report["boundary_ms"] = self.boundary_ms

    def step_consume_assign(self):
        c, close = self.consumer(group_id=None)
        c.assign(self.tps)
        c.seek_to_beginning(*self.tps)
        records = self.read("consume by assign", c)
        self.verify_consumed("consume by assign", records)
        close()
        self.report["consumed_assign"] = len(records)

    def step_consume_group(self):
        c, close = self.consumer(group_id=self.group, session_timeout_ms=6000,
                                 heartbeat_interval_ms=1000)
        c.subscribe([self.topic])
        records = self.read("consume in group", c)
        self.verify_consumed("consume in group", records)
        try:
            c.commit(timeout_ms=int(self.remaining(10) * 1000))
        except Exception as e:  # noqa: BLE001
            self.fail(f"commit failed: {type(e).__name__}: {e}")
        close()
        self.report["consumed_group"] = len(records)

    def step_committed(self):
        # 1. KafkaAdminClient OffsetFetch
        res = self.admin.list_group_offsets(self.group)
        self.check(self.group in res, f"list_group_offsets: no entry for {self.group}: {res!r}")
        by_admin = {tp.partition: om.offset for tp, om in res[self.group].items()
                    if tp.topic == self.topic}
        self.check_committed("KafkaAdminClient.list_group_offsets", by_admin)
        # 2. KafkaConsumer.committed() in the same group (no subscribe, so no join)
        c, close = self.consumer(group_id=self.group)
        by_consumer = {}
        for tp in self.tps:
            by_consumer[tp.partition] = c.committed(tp, timeout_ms=int(self.remaining(10) * 1000))
        self.check_committed("KafkaConsumer.committed", by_consumer)
        close()
        self.report["committed"] = {str(p): by_admin[p] for p in range(self.p)}

    def step_offsets(self):
        # 1. Consumer: offsets_for_times, beginning_offsets, end_offsets
        c, close = self.consumer(group_id=None)
        tmo = int(self.remaining(10) * 1000)
        res = c.offsets_for_times({tp: self.boundary_ms for tp in self.tps}, timeout_ms=tmo)
        by_ts = self.check_by_timestamp(
            "KafkaConsumer.offsets_for_times",
            {tp.partition: (ot.offset if ot is not None else None) for tp, ot in res.items()})
        earliest = {tp.partition: o for tp, o in c.beginning_offsets(self.tps, timeout_ms=tmo).items()}
        latest = {tp.partition: o for tp, o in c.end_offsets(self.tps, timeout_ms=tmo).items()}
        self.check_earliest_latest("KafkaConsumer.beginning_offsets/end_offsets", earliest, latest)
        close()
        # 2. KafkaAdminClient.list_partition_offsets
        for name, spec in (("earliest", OffsetSpec.EARLIEST), ("latest", OffsetSpec.LATEST),
                           ("timestamp", OffsetTimestamp(self.boundary_ms))):
            try:
                res = self.admin.list_partition_offsets({tp: spec for tp in self.tps},
                                                        timeout_ms=10000)
            except Exception as e:  # noqa: BLE001
                self.fail(f"KafkaAdminClient.list_partition_offsets({name}) failed: "
                          f"{type(e).__name__}: {e}")
            got = {tp.partition: ot.offset for tp, ot in res.items()}
            if name == "earliest":
                earliest = got
            elif name == "latest":
                latest = got
            else:
                self.check_by_timestamp("KafkaAdminClient.list_partition_offsets(timestamp)", got)
        self.check_earliest_latest("KafkaAdminClient.list_partition_offsets", earliest, latest)
        self.report["by_timestamp"] = by_ts
        self.report["earliest"] = {str(p): earliest[p] for p in range(self.p)}
        self.report["latest"] = {str(p): latest[p] for p in range(self.p)}

    def step_groups(self):
        try:
            groups = self.admin.list_groups()
        except Exception as e:  # noqa: BLE001
            self.fail(f"list_groups failed: {type(e).__name__}: {e}")
        ids = sorted(g.get("group_id") for g in groups)
        self.check(self.group in ids, f"list_groups: {self.group!r} not listed; groups={ids[:20]}")
        self.report["listed_groups"] = len(ids)
        if self.args.skip_describe:
            self.skipped("describe")
            return
        try:
            desc = self.admin.describe_groups([self.group])
        except Exception as e:  # noqa: BLE001
            self.fail(f"describe_groups({self.group}) failed: {type(e).__name__}: {e}")
        self.check(self.group in desc, f"describe_groups: {self.group!r} missing: {desc!r}")
        d = desc[self.group]
        self.check(d.get("error") is None, f"describe_groups: error {d.get('error')!r}")
        self.check(d.get("group_id") == self.group,
                   f"describe_groups returned group {d.get('group_id')!r}")
        self.report["group_state"] = d.get("group_state")

    def step_delete(self):
        try:
            res = self.admin.delete_topics([self.topic], timeout_ms=10000)
        except Exception as e:  # noqa: BLE001
            self.fail(f"delete_topics({self.topic}) failed: {type(e).__name__}: {e}")
        for t in res.get("topics", []):
            self.check(t.get("error_code", 0) == 0, f"delete_topics: {t}")
        self.wait_until(f"topic {self.topic} to disappear from metadata",
                        lambda: self.topic not in self.topic_names())


def main():
    args = parse_args(CLIENT)
    # kafka-python's own log: warnings and up (each distinct message at most 3 times);
    # info too with -v.
    client_logger("kafka", args.verbose)
    s = KafkaPythonScenario(args)
    s.run([
        ("create", s.step_create),
        ("produce", s.step_produce),
        ("consume_assign", s.step_consume_assign),
        ("consume_group", s.step_consume_group),
        ("committed", s.step_committed),
        ("offsets", s.step_offsets),
        ("groups", s.step_groups),
        ("delete", s.step_delete),
    ])


if __name__ == "__main__":
    main()
