"""A confluent-kafka (librdkafka) round trip over TLS and SASL.

Lists the topics the client may see, produces --count records to --topic with an idempotent producer, then reads partition 0
from the beginning until nothing new arrives. Security settings come from the arguments
(--protocol SSL / SASL_SSL / SASL_PLAINTEXT / PLAINTEXT, --ca, --cert, --key, --mechanism,
--user, --password). Prints one JSON report: topics, produced, consumed, the errors the
client reported (a refused login shows there) and the delivery errors by name.
"""

from __future__ import annotations

import argparse
import json
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition


def settings(a: argparse.Namespace, errors: list[str]) -> dict:
    s = {
        "bootstrap.servers": a.bootstrap,
        "security.protocol": a.protocol,
        "error_cb": lambda e: errors.append(str(e)),
        "socket.timeout.ms": 10000,
    }
    if a.ca:
        s["ssl.ca.location"] = a.ca
        # The test certificates name 127.0.0.1 in their subjectAltName.
        s["ssl.endpoint.identification.algorithm"] = "https"
    if a.cert:
        s["ssl.certificate.location"] = a.cert
        s["ssl.key.location"] = a.key
    if a.mechanism:
        s["sasl.mechanism"] = a.mechanism
        s["sasl.username"] = a.user
        s["sasl.password"] = a.password
    return s


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--protocol", default="SASL_SSL")
    p.add_argument("--ca")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--mechanism")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--count", type=int, default=20)
    p.add_argument("--timeout", type=float, default=30.0)
    a = p.parse_args()

    errors: list[str] = []
    report = {"produced": 0, "consumed": 0, "values": [], "errors": errors}
    producer = Producer({**settings(a, errors), "enable.idempotence": True,
                         "message.timeout.ms": int(a.timeout * 1000)})
    try:
        report["topics"] = sorted(producer.list_topics(timeout=a.timeout).topics)
    except Exception as e:  # a refused login: no metadata
        errors.append(str(e))
    delivered = []
    failures: list[str] = []
    report["delivery_errors"] = failures
    for i in range(a.count):
        producer.produce(a.topic, value=f"secure-{i}".encode(), partition=0,
                         on_delivery=lambda err, msg: (delivered.append(err is None),
                                                       err and failures.append(err.name())))
    producer.flush(a.timeout)
    report["produced"] = sum(delivered)
    if report["produced"] == 0:
        print(json.dumps(report))
        return

    consumer = Consumer({**settings(a, errors), "group.id": f"secure-{time.time_ns()}",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(a.topic, 0, OFFSET_BEGINNING)])
    deadline = time.time() + a.timeout
    quiet_since = time.time()
    while time.time() < deadline and time.time() - quiet_since < 3:
        msg = consumer.poll(0.5)
        if msg is None or msg.error():
            continue
        report["values"].append(msg.value().decode())
        quiet_since = time.time()
    consumer.close()
    report["consumed"] = len(report["values"])
    print(json.dumps(report))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a report still: the test shows what went wrong
        print(json.dumps({"produced": 0, "consumed": 0, "errors": [repr(e)],
                          "delivery_errors": [], "exception": repr(e)}))
        raise
