#!/usr/bin/env bash
# Transactional produce bench (bench/transactions.py): builds kafkatwin (release) unless
# KAFKATWIN_BIN is set, then compares a transactional producer straight to one broker with
# kafkatwin in front of three.
#   bench/run-transactions.sh [--rounds 3] [--transactions 300] [--per 100] [--size 1024]
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/build.sh"
exec "$CACHE/venv/bin/python" "$REPO/bench/transactions.py" "$@"
