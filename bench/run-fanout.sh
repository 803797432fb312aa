#!/usr/bin/env bash
# Fan-out bench (bench/fanout.py): builds kafkatwin (release) unless KAFKATWIN_BIN is set, then
# compares direct, kafkatwin on one cluster, and kafkatwin writing to three (ALL_CLUSTERS, ANY).
#   bench/run-fanout.sh [--rounds 3] [--size 1024] [--records 100000] [--rate 1000]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${KAFKATWIN_CACHE:-$HOME/.cache/kafkatwin}"
if [ -z "${KAFKATWIN_BIN:-}" ]; then
    (cd "$REPO" && cargo build --release -p kafkatwin-core --bin kafkatwin)
    KAFKATWIN_BIN="$(cd "$REPO" && cargo metadata --format-version 1 --no-deps \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release/kafkatwin"
    export KAFKATWIN_BIN
fi
[ -x "$CACHE/venv/bin/python" ] || bash "$REPO/tests/setup.sh" >&2
exec "$CACHE/venv/bin/python" "$REPO/bench/fanout.py" "$@"
