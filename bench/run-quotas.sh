#!/usr/bin/env bash
# Quotas bench (bench/quotas.py): builds kafkatwin (release) unless KAFKATWIN_BIN is set, then
# measures how closely clients are held to their produce and fetch byte-rate quotas, what an
# unused quota costs, and how fast a quota changed through the admin API takes effect.
#   bench/run-quotas.sh [--seconds 20] [--records 200000]
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/build.sh"
exec "$CACHE/venv/bin/python" "$REPO/bench/quotas.py" "$@"
