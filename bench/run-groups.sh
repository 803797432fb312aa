#!/usr/bin/env bash
# Groups bench (bench/groups.py): builds kafkatwin (release) unless KAFKATWIN_BIN is set, then
# measures how long a consumer group stops when the first of three clusters is killed.
#   bench/run-groups.sh [--failovers 5] [--rate 400]
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/build.sh"
exec "$CACHE/venv/bin/python" "$REPO/bench/groups.py" "$@"
