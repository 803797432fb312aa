# Sourced by the bench scripts: sets REPO and CACHE, builds kafkatwin (release) into
# KAFKATWIN_BIN unless it is set, and installs the Python clients and Tansu if missing.
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${KAFKATWIN_CACHE:-$HOME/.cache/kafkatwin}"
if [ -z "${KAFKATWIN_BIN:-}" ]; then
    (cd "$REPO" && cargo build --release -p kafkatwin-core --bin kafkatwin)
    KAFKATWIN_BIN="$(cd "$REPO" && cargo metadata --format-version 1 --no-deps \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release/kafkatwin"
    export KAFKATWIN_BIN
fi
[ -x "$CACHE/venv/bin/python" ] || bash "$REPO/tests/setup.sh" >&2
