"""Confluent's serializers against KafkaTwin's schema registry, through the proxy.

Produces Avro, JSON Schema and Protobuf records with confluent-kafka's serializers (their
schemas registered by the serializers themselves at --registry), produces records that
must be refused (no magic byte, an unknown schema id, data that does not match, plain JSON
that breaks its JSON Schema), registers an incompatible and an invalid schema, then reads
every topic back from each cluster directly (--cluster, repeated) with the matching
deserializers until nothing new arrives. Prints one JSON report.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PAYMENT_AVRO = json.dumps({
    "type": "record", "name": "Payment", "namespace": "kt",
    "fields": [{"name": "id", "type": "string"}, {"name": "amount", "type": "double"}],
})
# A new required field without a default: not backward compatible.
PAYMENT_AVRO_BREAKING = json.dumps({
    "type": "record", "name": "Payment", "namespace": "kt",
    "fields": [{"name": "id", "type": "string"}, {"name": "amount", "type": "double"},
               {"name": "region", "type": "string"}],
})
PAYMENT_JSON = json.dumps({
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Payment", "type": "object",
    "properties": {"id": {"type": "string"}, "amount": {"type": "number"}},
    "required": ["id", "amount"],
})


def order_class():
    """A Protobuf message class built at run time (no protoc)."""
    f = descriptor_pb2.FileDescriptorProto(name="kt_order.proto", package="kt", syntax="proto3")
    m = f.message_type.add(name="Order")
    t = descriptor_pb2.FieldDescriptorProto
    m.field.add(name="id", number=1, type=t.TYPE_STRING, label=t.LABEL_OPTIONAL)
    m.field.add(name="amount", number=2, type=t.TYPE_INT64, label=t.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(f.SerializeToString())
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("kt.Order"))


def produce(bootstrap, topic, values, report):
    """Produces `values` (bytes) with an idempotent producer; returns (acked ids, errors)."""
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                  "message.timeout.ms": 30000})
    acked, errors = [], []

    def done(err, msg, key):
        if err is None:
            acked.append(key)
        else:
            errors.append({"key": key, "code": err.name(), "message": err.str()})

    for key, value in values:
        p.produce(topic, key=key.encode(), value=value,
                  on_delivery=lambda err, msg, k=key: done(err, msg, k))
        p.poll(0)
    p.flush(60)
    report.setdefault("produced", {})[topic] = {"acked": sorted(acked), "errors": errors}
    return acked, errors


def refused(bootstrap, topic, value, case, report):
    """Produces one record that must be refused; records what the client was told."""
    _, errors = produce(bootstrap, topic, [(case, value)], {})
    report.setdefault("refused", {})[case] = errors[0] if errors else None


def read_all(bootstrap, topic, partitions, decode, idle_s=5.0, limit_s=60.0):
    """Reads every partition of `topic` from its start until nothing new arrives for
    `idle_s`."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"sr-{uuid.uuid4()}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    out, last, start = [], time.time(), time.time()
    while time.time() - last < idle_s and time.time() - start < limit_s:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() != KafkaError._PARTITION_EOF:
                out.append({"error": m.error().str()})
            continue
        last = time.time()
        try:
            out.append(decode(m))
        except Exception as e:  # a record that does not decode is reported, not skipped
            out.append({"error": repr(e)})
    c.close()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--registry", required=True)
    ap.add_argument("--cluster", action="append", default=[])
    ap.add_argument("--records", type=int, default=20)
    ap.add_argument("--partitions", type=int, default=2)
    ap.add_argument("--prefix", default="sr")
    a = ap.parse_args()
    n, px = a.records, a.prefix
    sr = SchemaRegistryClient({"url": a.registry})
    report = {}
    t_avro, t_json, t_proto, t_plain = (f"{px}-avro", f"{px}-json", f"{px}-proto",
                                        f"{px}-plain")

    avro_ser = AvroSerializer(sr, PAYMENT_AVRO)
    json_ser = JSONSerializer(PAYMENT_JSON, sr)
    Order = order_class()
    proto_ser = ProtobufSerializer(Order, sr, {"use.deprecated.format": False})

    def ctx(t):
        return SerializationContext(t, MessageField.VALUE)

    produce(a.bootstrap, t_avro, [(f"a{i}", avro_ser({"id": f"a{i}", "amount": i + 0.5},
                                                      ctx(t_avro))) for i in range(n)], report)
    produce(a.bootstrap, t_json, [(f"j{i}", json_ser({"id": f"j{i}", "amount": i},
                                                      ctx(t_json))) for i in range(n)], report)
    produce(a.bootstrap, t_proto, [(f"p{i}", proto_ser(Order(id=f"p{i}", amount=i),
                                                        ctx(t_proto))) for i in range(n)], report)

    avro_id = sr.get_latest_version(f"{t_avro}-value").schema_id
    refused(a.bootstrap, t_avro, b'{"id": "x"}', "no_magic_byte", report)
    refused(a.bootstrap, t_avro, b"\x00" + struct.pack(">I", 9999) + b"\x02a", "unknown_id",
            report)
    # A string where the double should be: the datum is cut short.
    refused(a.bootstrap, t_avro, b"\x00" + struct.pack(">I", avro_id) + b"\x02a",
            "does_not_match", report)

    sr.register_schema(f"{t_plain}-value", Schema(PAYMENT_JSON, "JSON"))
    produce(a.bootstrap, t_plain, [(f"q{i}", json.dumps({"id": f"q{i}", "amount": i}).encode())
                                   for i in range(n)], report)
    refused(a.bootstrap, t_plain, json.dumps({"id": "bad", "amount": "x"}).encode(),
            "plain_json_mismatch", report)

    for case, schema in (("incompatible", Schema(PAYMENT_AVRO_BREAKING, "AVRO")),
                         ("invalid", Schema('{"type": "record", "name": "X"}', "AVRO"))):
        try:
            sr.register_schema(f"{t_avro}-value", schema)
            report.setdefault("register", {})[case] = {"status": 200}
        except SchemaRegistryError as e:
            report.setdefault("register", {})[case] = {
                "status": e.http_status_code, "code": e.error_code, "message": e.error_message}

    avro_de = AvroDeserializer(sr)
    json_de = JSONDeserializer(PAYMENT_JSON, schema_registry_client=sr)
    proto_de = ProtobufDeserializer(Order, {"use.deprecated.format": False})
    decoders = {
        t_avro: lambda m: avro_de(m.value(), ctx(t_avro))["id"],
        t_json: lambda m: json_de(m.value(), ctx(t_json))["id"],
        t_proto: lambda m: proto_de(m.value(), ctx(t_proto)).id,
        t_plain: lambda m: json.loads(m.value())["id"],
    }
    report["clusters"] = {}
    for cluster in a.cluster:
        report["clusters"][cluster] = {
            t: sorted(map(str, read_all(cluster, t, a.partitions, d)))
            for t, d in decoders.items()}
    print(json.dumps(report))


if __name__ == "__main__":
    sys.exit(main())
