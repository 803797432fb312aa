#!/usr/bin/env bash
# Runs every cargo-fuzz target for a fixed time and prints what each did.
#
#   bench/fuzz.sh            # 60 s per target
#   bench/fuzz.sh 300        # 300 s per target
#
# Targets (fuzz/fuzz_targets): decode_request (any client frame), sasl_exchange (any SCRAM
# message, both sides), plugin_wire (any batch buffer a plugin hands back). Each starts from
# the corpus checked in under fuzz/corpus/<target>; new inputs go to a scratch copy, so the
# checked-in corpus changes only by hand (copy an interesting input there). A crash stops
# the run with the input's path. Needs a nightly toolchain (rustup toolchain install nightly)
# and cargo-fuzz, installed here on first use.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_EACH="${1:-60}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kafkatwin/target}/fuzz"

command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal

scratch="$(mktemp -d -t kafkatwin-fuzz.XXXXXX)"
trap 'rm -rf "$scratch"' EXIT
cd "$REPO/fuzz"
for target in decode_request sasl_exchange plugin_wire; do
    mkdir -p "$scratch/$target"
    cp "corpus/$target"/* "$scratch/$target"/
    log="$scratch/$target.log"
    echo "[fuzz] $target for ${SECONDS_EACH}s" >&2
    if ! cargo +nightly fuzz run "$target" "$scratch/$target" -- \
        -max_total_time="$SECONDS_EACH" -print_final_stats=1 > "$log" 2>&1; then
        tail -30 "$log" >&2
        echo "[fuzz] $target FAILED (log above; the crashing input is under fuzz/artifacts/$target)" >&2
        exit 1
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
    corpus=$(ls "$scratch/$target" | wc -l)
    echo "fuzz-$target runs=$runs cov=$cov corpus=$corpus crashes=0"
done
