#!/usr/bin/env bash
# Chaos run (see bench/chaos.py): renewed producers of four client configurations, a consumer
# group, one fault at a time at random, then an audit of every cluster against what the
# producers were told was written.
#
#   bench/chaos.sh [SEED] [DURATION_SECONDS]     # defaults: 1 and 600
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/build.sh"
exec "$CACHE/venv/bin/python" "$REPO/bench/chaos.py" --seed "${1:-1}" --duration "${2:-600}" \
    --kafkatwin "$KAFKATWIN_BIN"
