#!/usr/bin/env python3
"""KafkaTwin client scenario with confluent-kafka (librdkafka) incl. its AdminClient.

python scenario_confluent.py --bootstrap 127.0.0.1:PORT --topic T --group G
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

from confluent_kafka import (  # noqa: E402
    OFFSET_BEGINNING, Consumer, ConsumerGroupTopicPartitions, KafkaError, Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec  # noqa: E402

CLIENT = "confluent-kafka"


class ConfluentScenario(Scenario):
    def __init__(self, args):
        super().__init__(CLIENT, args)
        self.base = {
            "bootstrap.servers": args.bootstrap,
            "client.id": f"kafkatwin-{CLIENT}",
            "socket.timeout.ms": 10000,
            # Fail fast on a broken broker instead of retrying forever in the background.
            "reconnect.backoff.max.ms": 1000,
            "logger": client_logger("librdkafka", args.verbose),
        }
        self.admin = AdminClient(dict(self.base))

    # -------------------------------------------------------------- helpers
    def consumer(self, **extra):
        conf = dict(self.base)
        conf.update({
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            # Never create topics as a side effect of a metadata request.
            "allow.auto.create.topics": False,
        })
        conf.update(extra)
        c = Consumer(conf)
        return c, self.on_exit(c.close)

    def topic_metadata(self):
        md = self.admin.list_topics(timeout=self.remaining(5))
        return md.topics.get(self.topic)

    def read(self, how, c):
        records = []
        while len(records) < self.n:
            if self.expired():
                self.fail(f"{how}: timed out after reading {len(records)} of {self.n} records")
            for m in c.consume(num_messages=1000, timeout=self.remaining(1.0)):
                err = m.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        continue
                    self.fail(f"{how}: consumer error: {err}")
                self.check(m.topic() == self.topic, f"{how}: record from topic {m.topic()!r}")
                records.append((m.partition(), m.offset(), decode(m.key()), decode(m.value()),
                                decode_headers(m.headers())))
        return records

    def future_result(self, what, fut):
        # Poll the admin client while waiting so its log messages get delivered.
        while not fut.done() and not self.expired():
            self.admin.poll(0.1)
        try:
            return fut.result(timeout=self.remaining())
        except Exception as e:  # noqa: BLE001
            self.fail(f"{what} failed: {type(e).__name__}: {e}")

    # -------------------------------------------------------------- steps
    def step_create(self):
        fs = self.admin.create_topics(
            [NewTopic(self.topic, num_partitions=self.p, replication_factor=1)],
            operation_timeout=10, request_timeout=15)
        self.future_result(f"create_topics({self.topic})", fs[self.topic])

        def ready():
            t = self.topic_metadata()
            if t is None or t.error is not None or len(t.partitions) != self.p:
                return False
            return all(pm.leader >= 0 and pm.error is None for pm in t.partitions.values())
        self.wait_until(f"topic {self.topic} with {self.p} partitions in metadata", ready)

    def step_produce(self):
        producer = Producer({
            **self.base,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "message.timeout.ms": 20000,
        })
        close_producer = self.on_exit(producer.close)
        errors = []

        def on_delivery(err, msg):
            if err is not None:
                errors.append(f"delivery of {decode(msg.key())} failed: {err}")
                return
            try:
                i = int(decode(msg.key())[1:])
                self.record_produced(i, msg.partition(), msg.offset())
            except Exception as e:  # noqa: BLE001
                errors.append(str(e))

        def produce_range(lo, hi):
            for i in range(lo, hi):
                while True:
                    try:
                        producer.produce(self.topic, key=self.key(i), value=self.value(i),
                                         headers=self.headers(i), partition=self.partition_of(i),
                                         on_delivery=on_delivery)
                        break
                    except BufferError:
                        producer.poll(0.1)
                        if self.expired():
                            self.fail("produce: local queue full until the step deadline")
                producer.poll(0)
            left = producer.flush(self.remaining())
            if errors:
                self.fail(f"produce: {errors[0]} ({len(errors)} errors)")
            self.check(left == 0, f"produce: {left} records still undelivered at the deadline")

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
        c, close = self.consumer(**{"group.id": f"{self.group}-assign-unused"})
        c.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in range(self.p)])
        records = self.read("consume by assign", c)
        self.verify_consumed("consume by assign", records)
        close()
        self.report["consumed_assign"] = len(records)

    def step_consume_group(self):
        c, close = self.consumer(**{
            "group.id": self.group,
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 1000,
        })
        c.subscribe([self.topic])
        records = self.read("consume in group", c)
        self.verify_consumed("consume in group", records)
        try:
            result = c.commit(asynchronous=False)
        except Exception as e:  # noqa: BLE001
            self.fail(f"commit failed: {type(e).__name__}: {e}")
        for tp in result or []:
            self.check(tp.error is None, f"commit of partition {tp.partition} failed: {tp.error}")
        close()
        self.report["consumed_group"] = len(records)

    def step_committed(self):
        # 1. AdminClient OffsetFetch
        fs = self.admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(self.group)], request_timeout=10)
        res = self.future_result("list_consumer_group_offsets", fs[self.group])
        by_admin = {tp.partition: tp.offset for tp in res.topic_partitions if tp.topic == self.topic}
        self.check_committed("AdminClient.list_consumer_group_offsets", by_admin)
        # 2. Consumer.committed() in the same group (no subscribe, so no join)
        c, close = self.consumer(**{"group.id": self.group})
        tps = c.committed([TopicPartition(self.topic, p) for p in range(self.p)],
                          timeout=self.remaining(10))
        for tp in tps:
            self.check(tp.error is None, f"committed(): partition {tp.partition}: {tp.error}")
        self.check_committed("Consumer.committed", {tp.partition: tp.offset for tp in tps})
        close()
        self.report["committed"] = {str(p): by_admin[p] for p in range(self.p)}

    def step_offsets(self):
        # 1. Consumer: offsets_for_times and watermarks
        c, close = self.consumer(**{"group.id": f"{self.group}-offsets-unused"})
        tps = c.offsets_for_times(
            [TopicPartition(self.topic, p, self.boundary_ms) for p in range(self.p)],
            timeout=self.remaining(10))
        for tp in tps:
            self.check(tp.error is None, f"offsets_for_times: partition {tp.partition}: {tp.error}")
        by_ts = self.check_by_timestamp("Consumer.offsets_for_times",
                                        {tp.partition: tp.offset for tp in tps})
        earliest, latest = {}, {}
        for p in range(self.p):
            lo, hi = c.get_watermark_offsets(TopicPartition(self.topic, p),
                                             timeout=self.remaining(10), cached=False)
            earliest[p], latest[p] = lo, hi
        self.check_earliest_latest("Consumer.get_watermark_offsets", earliest, latest)
        close()
        # 2. AdminClient.list_offsets (ListOffsets via the admin path)
        for name, spec in (("earliest", OffsetSpec.earliest()), ("latest", OffsetSpec.latest()),
                           ("timestamp", OffsetSpec.for_timestamp(self.boundary_ms))):
            fs = self.admin.list_offsets(
                {TopicPartition(self.topic, p): spec for p in range(self.p)}, request_timeout=10)
            got = {tp.partition: self.future_result(f"AdminClient.list_offsets({name})", f).offset
                   for tp, f in fs.items()}
            if name == "earliest":
                earliest = got
            elif name == "latest":
                latest = got
            else:
                self.check_by_timestamp("AdminClient.list_offsets(timestamp)", got)
        self.check_earliest_latest("AdminClient.list_offsets", earliest, latest)
        self.report["by_timestamp"] = by_ts
        self.report["earliest"] = {str(p): earliest[p] for p in range(self.p)}
        self.report["latest"] = {str(p): latest[p] for p in range(self.p)}

    def step_groups(self):
        fut = self.admin.list_consumer_groups(request_timeout=10)
        res = self.future_result("list_consumer_groups", fut)
        ids = sorted(g.group_id for g in res.valid)
        self.check(self.group in ids,
                   f"list_consumer_groups: {self.group!r} not listed; groups={ids[:20]} "
                   f"errors={[str(e) for e in res.errors]}")
        self.report["listed_groups"] = len(ids)
        if self.args.skip_describe:
            self.skipped("describe")
            return
        fs = self.admin.describe_consumer_groups([self.group], request_timeout=10)
        desc = self.future_result(f"describe_consumer_groups({self.group})", fs[self.group])
        self.check(desc.group_id == self.group,
                   f"describe_consumer_groups returned group {desc.group_id!r}")
        self.report["group_state"] = str(desc.state)

    def step_delete(self):
        fs = self.admin.delete_topics([self.topic], operation_timeout=10, request_timeout=15)
        self.future_result(f"delete_topics({self.topic})", fs[self.topic])
        self.wait_until(f"topic {self.topic} to disappear from metadata",
                        lambda: self.topic_metadata() is None)


def main():
    args = parse_args(CLIENT)
    s = ConfluentScenario(args)
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
