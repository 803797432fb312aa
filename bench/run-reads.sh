#!/usr/bin/env bash
# Reads bench (bench/reads.py): builds kafkatwin (release) unless KAFKATWIN_BIN is set, then
# compares consume throughput direct, through kafkatwin on one cluster, and through kafkatwin
# reading from the non-authority cluster of two; then measures read failover pauses.
#   bench/run-reads.sh [--rounds 3] [--size 1024] [--records 200000] [--failovers 5]
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/build.sh"
exec "$CACHE/venv/bin/python" "$REPO/bench/reads.py" "$@"
