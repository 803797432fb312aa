#!/usr/bin/env bash
# Runs every KafkaTwin test on a fresh machine: installs the test clients and the Tansu
# broker (tests/setup.sh), builds the kafkatwin binary, then runs the whole cargo test suite
# (unit tests, in-process router tests, and integration tests that start real Tansu brokers,
# the real binary and four real client libraries).
#
#   tests/run.sh                 # everything
#   tests/run.sh -p kafkatwin-config   # extra arguments go to `cargo test`
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

bash tests/setup.sh

# Lints first: clippy holds the lock policy and the timing convention (core/clippy.toml's
# disallowed-methods), so they are enforced, not only documented.
if cargo clippy --version >/dev/null 2>&1; then
    echo "[tests] cargo clippy --workspace --all-targets -- -D warnings" >&2
    cargo clippy --locked --workspace --all-targets -- -D warnings
else
    echo "[tests] clippy is not installed with this toolchain: lints skipped" >&2
fi

echo "[tests] cargo build -p kafkatwin-core --bin kafkatwin" >&2
cargo build --locked -p kafkatwin-core --bin kafkatwin

# WASM plugins: the SDK examples' own tests (native), then every plugin component the
# plugin tests upload, built for wasm32-wasip2 into the shared target directory.
rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
export KAFKATWIN_WASM_DIR="$TARGET_DIR/wasm32-wasip2/release"
for crate in plugin-sdk/examples/*/ tests/plugins/*/; do
    echo "[tests] plugin $crate" >&2
    if [[ "$crate" == plugin-sdk/examples/* ]]; then
        cargo test --locked --quiet --manifest-path "$crate/Cargo.toml" --target-dir "$TARGET_DIR"
    fi
    cargo build --locked --quiet --manifest-path "$crate/Cargo.toml" --target wasm32-wasip2 --release --target-dir "$TARGET_DIR"
done

# Integration tests each start their own brokers and proxy on free ports; two at a time
# keeps a 2-core machine responsive (client group joins mostly wait).
echo "[tests] cargo test --workspace --all-targets" >&2
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
cargo test --locked --workspace --all-targets "$@" -- --test-threads="${KAFKATWIN_TEST_THREADS:-2}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
exit "$status"
