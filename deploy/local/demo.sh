#!/usr/bin/env bash
# KafkaTwin local demo: three backend Kafka-protocol brokers (Tansu, in memory), the kafkatwin
# proxy in front of them, and a produce/consume round trip through the proxy with a real
# client (librdkafka via confluent-kafka). Prints where everything listens, then keeps
# running until Ctrl-C, which stops everything it started.
#
#   deploy/local/demo.sh           # run until Ctrl-C
#   deploy/local/demo.sh --once    # stop right after the round trip (used by the tests)
#
# Ports: brokers 19092-19094, proxy 9092, admin/dashboard 8000, metrics 9090, health 8080,
# schema registry 8081.
# Move them all with KAFKATWIN_DEMO_PORT_OFFSET=N (adds N to each).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${KAFKATWIN_CACHE:-$HOME/.cache/kafkatwin}"
OFF="${KAFKATWIN_DEMO_PORT_OFFSET:-0}"
ONCE=0
[ "${1:-}" = "--once" ] && ONCE=1

P_PROXY=$((9092 + OFF)); P_ADMIN=$((8000 + OFF)); P_METRICS=$((9090 + OFF)); P_HEALTH=$((8080 + OFF))
P_REGISTRY=$((8081 + OFF))
BROKERS=($((19092 + OFF)) $((19093 + OFF)) $((19094 + OFF)))
WORK="$(mktemp -d -t kafkatwin-demo.XXXXXX)"
PIDS=()

cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    echo "[demo] stopped everything (logs were in $WORK)"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "[demo] installing the broker and the demo client (first run only)..."
bash "$REPO/tests/setup.sh" --demo >/dev/null

BIN="${KAFKATWIN_BIN:-}"
if [ -z "$BIN" ]; then
    echo "[demo] building kafkatwin (release)..."
    (cd "$REPO" && cargo build --release -p kafkatwin-core --bin kafkatwin)
    TARGET_DIR="$(cd "$REPO" && cargo metadata --format-version 1 --no-deps \
        | "$CACHE/venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
    BIN="$TARGET_DIR/release/kafkatwin"
fi

wait_port() {
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "[demo] nothing listens on port $1; see logs in $WORK" >&2
    return 1
}

i=1
for port in "${BROKERS[@]}"; do
    "$CACHE/bin/tansu" broker --cluster-id "cluster-$i" \
        --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
        --storage-engine "memory://cluster-$i/" >"$WORK/cluster-$i.log" 2>&1 &
    PIDS+=($!)
    i=$((i + 1))
done
for port in "${BROKERS[@]}"; do wait_port "$port"; done

cat >"$WORK/kafkatwin.yaml" <<YAML
server:
  listen_address: "127.0.0.1"
  port: $P_PROXY
clusters:
  - { id: "cluster-1", bootstrap_servers: ["127.0.0.1:${BROKERS[0]}"], priority: 1, weight: 100 }
  - { id: "cluster-2", bootstrap_servers: ["127.0.0.1:${BROKERS[1]}"], priority: 2, weight: 100 }
  - { id: "cluster-3", bootstrap_servers: ["127.0.0.1:${BROKERS[2]}"], priority: 3, weight: 100 }
producer:
  ack_policy: "MAJORITY"
  timeout: 30s
admin_api: { enabled: true, listen_address: "127.0.0.1", port: $P_ADMIN, web_ui: true }
schema_registry: { enabled: true, listen_address: "127.0.0.1", port: $P_REGISTRY }
monitoring:
  metrics: { enabled: true, listen_address: "127.0.0.1", port: $P_METRICS }
  health:  { enabled: true, listen_address: "127.0.0.1", port: $P_HEALTH }
multi_dc:
  enabled: true
  strategy: "active-active"
  local_dc: "dc1"
  prefer_local_reads: true
  datacenters:
    - { id: "dc1", name: "US East", region: "us-east-1", priority: 1, cluster_ids: ["cluster-1", "cluster-2"] }
    - { id: "dc2", name: "EU West", region: "eu-west-1", priority: 2, cluster_ids: ["cluster-3"] }
YAML
"$BIN" --config "$WORK/kafkatwin.yaml" >"$WORK/kafkatwin.log" 2>&1 &
PIDS+=($!)
wait_port "$P_PROXY"

echo "[demo] producing and consuming through the proxy at 127.0.0.1:$P_PROXY ..."
"$CACHE/venv/bin/python" - "127.0.0.1:$P_PROXY" <<'PY'
import sys, time
from confluent_kafka import Producer, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
bootstrap = sys.argv[1]
admin = AdminClient({"bootstrap.servers": bootstrap})
admin.create_topics([NewTopic("demo", 1, 1)])["demo"].result(15)
p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
for i in range(5):
    p.produce("demo", key=f"key-{i}", value=f"hello kafkatwin #{i}", headers=[("source", b"demo")])
assert p.flush(15) == 0, "not every record was acknowledged"
c = Consumer({"bootstrap.servers": bootstrap, "group.id": "demo", "enable.auto.commit": False})
c.assign([TopicPartition("demo", 0, 0)])
got, deadline = [], time.time() + 20
while len(got) < 5 and time.time() < deadline:
    m = c.poll(1)
    if m is not None and m.error() is None:
        got.append(m)
c.close()
for m in got:
    print(f"  consumed offset {m.offset()}: {m.key().decode()} = {m.value().decode()}")
assert len(got) == 5, f"consumed {len(got)} of 5"
PY

cat <<INFO

KafkaTwin is running.
  Kafka endpoint (point any client here): 127.0.0.1:$P_PROXY
  Dashboard:                              http://localhost:$P_ADMIN/
  Admin API:                              http://localhost:$P_ADMIN/api/v1/clusters
  Schema registry (schema.registry.url):  http://localhost:$P_REGISTRY
  Prometheus metrics:                     http://localhost:$P_METRICS/metrics
  Health:                                 http://localhost:$P_HEALTH/health/ready
  Backend clusters (Tansu, in memory):    ${BROKERS[*]/#/127.0.0.1:}
  Config and logs:                        $WORK
INFO

if [ "$ONCE" = 1 ]; then exit 0; fi
echo "Press Ctrl-C to stop."
while true; do sleep 3600; done
