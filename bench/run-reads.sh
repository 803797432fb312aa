#!/usr/bin/env bash
# Reads bench (bench/reads.py): builds kafkatwin (release) unless KAFKATWIN_BIN is set, then
# compares consume throughput direct, through kafkatwin on one cluster, and through kafkatwin
# reading from the non-authority cluster of two; then measures read failover pauses.
#   bench/run-reads.sh [--rounds 3] [--size 1024] [--records 200000] [--failovers 5]
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
exec "$CACHE/venv/bin/python" "$REPO/bench/reads.py" "$@"
