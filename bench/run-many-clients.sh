#!/usr/bin/env bash
# Many-clients bench (bench/many_clients.py): builds kafkatwin (release) unless KAFKATWIN_BIN
# is set and the Rust load client (bench/loadgen) unless KAFKATWIN_LOAD_BIN is set, then
# measures busy producers alone and beside thousands of idle client connections.
#   bench/run-many-clients.sh [--rounds 3] [--idle 2000] [--busy 50] [--records 300000] [--size 1024]
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/build.sh"
if [ -z "${KAFKATWIN_LOAD_BIN:-}" ]; then
    (cd "$REPO" && cargo build --release --manifest-path bench/loadgen/Cargo.toml >&2)
    KAFKATWIN_LOAD_BIN="$(cd "$REPO/bench/loadgen" && cargo metadata --format-version 1 --no-deps \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release/kafkatwin-load"
    export KAFKATWIN_LOAD_BIN
fi
exec "$CACHE/venv/bin/python" "$REPO/bench/many_clients.py" "$@"
