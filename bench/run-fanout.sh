#!/usr/bin/env bash
# Fan-out bench (bench/fanout.py): builds kafkatwin (release) unless KAFKATWIN_BIN is set, then
# compares direct, kafkatwin on one cluster, and kafkatwin writing to three (ALL_CLUSTERS, ANY).
#   bench/run-fanout.sh [--rounds 3] [--size 1024] [--records 100000] [--rate 1000]
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/build.sh"
exec "$CACHE/venv/bin/python" "$REPO/bench/fanout.py" "$@"
