#!/usr/bin/env bash
# Install the outside MCP clients the end-to-end tests (crates/janee/tests/it/e2e.rs) drive the
# real `janee` binary with:
#   target/e2e-venv  Python venv with the official `mcp` SDK (tests/e2e/*.py)
#   target/e2e-node  the MCP Inspector CLI
# Idempotent and non-interactive: a second run with the pinned versions present does nothing.
set -euo pipefail

MCP_VERSION=2.3.0        # official Python MCP SDK
MCP_TYPES_VERSION=2.3.0  # imported directly by the scripts (ships with mcp)
HTTPX2_VERSION=2.16.2    # imported directly by the scripts (mcp's HTTP client)
INSPECTOR_VERSION=2.12.0 # @modelcontextprotocol/inspector

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/target/e2e-venv"
NODE_PREFIX="$ROOT/target/e2e-node"

die() {
    echo "setup-test-deps: $*" >&2
    exit 1
}

# --- Python: the official `mcp` client ------------------------------------------------------
venv_ok() {
    [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - "$MCP_VERSION" "$MCP_TYPES_VERSION" "$HTTPX2_VERSION" <<'EOF' 2>/dev/null
import sys
from importlib.metadata import version
want = dict(zip(("mcp", "mcp-types", "httpx2"), sys.argv[1:]))
sys.exit(0 if all(version(k) == v for k, v in want.items()) else 1)
EOF
}

if venv_ok; then
    echo "setup-test-deps: python mcp $MCP_VERSION already in target/e2e-venv"
else
    PY="${PYTHON:-python3}"
    command -v "$PY" >/dev/null || die "$PY not found; install Python 3.10+ (or set PYTHON=...)"
    "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' ||
        die "$PY is older than 3.10; the mcp $MCP_VERSION client needs 3.10+"
    if [ ! -x "$VENV/bin/python" ]; then
        rm -rf "$VENV"
        "$PY" -m venv "$VENV" || die "could not create $VENV (is the venv module installed?)"
    fi
    echo "setup-test-deps: installing python mcp==$MCP_VERSION into target/e2e-venv"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        "mcp==$MCP_VERSION" "mcp-types==$MCP_TYPES_VERSION" "httpx2==$HTTPX2_VERSION" ||
        die "pip install mcp==$MCP_VERSION failed"
    venv_ok || die "target/e2e-venv does not have the pinned versions after install"
fi

# --- Node: the MCP Inspector CLI -------------------------------------------------------------
inspector_ok() {
    local pkg="$NODE_PREFIX/node_modules/@modelcontextprotocol/inspector/package.json"
    [ -f "$pkg" ] && [ -x "$NODE_PREFIX/node_modules/.bin/mcp-inspector" ] &&
        node -e 'process.exit(require(process.argv[1]).version === process.argv[2] ? 0 : 1)' \
            "$pkg" "$INSPECTOR_VERSION" 2>/dev/null
}

command -v node >/dev/null || die "node not found; install Node.js 20+ with npm"
if inspector_ok; then
    echo "setup-test-deps: MCP Inspector $INSPECTOR_VERSION already in target/e2e-node"
else
    command -v npm >/dev/null || die "npm not found; install Node.js 20+ with npm"
    echo "setup-test-deps: installing @modelcontextprotocol/inspector@$INSPECTOR_VERSION into target/e2e-node"
    mkdir -p "$NODE_PREFIX"
    # The package declares node >=22.19; its --cli mode works on node 20, so don't let the
    # engines field stop the install.
    npm install --prefix "$NODE_PREFIX" --save-exact --no-audit --no-fund --no-update-notifier \
        --engine-strict=false --loglevel=error \
        "@modelcontextprotocol/inspector@$INSPECTOR_VERSION" >/dev/null ||
        die "npm install @modelcontextprotocol/inspector@$INSPECTOR_VERSION failed"
    inspector_ok || die "target/e2e-node does not have the Inspector $INSPECTOR_VERSION after install"
fi

# Smoke: the Inspector's CLI mode starts (offline; no server needed for --help).
"$NODE_PREFIX/node_modules/.bin/mcp-inspector" --cli --help >/dev/null 2>&1 ||
    die "the MCP Inspector CLI does not start (node $(node --version)); see target/e2e-node"
