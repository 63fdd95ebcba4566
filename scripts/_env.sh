# Shared set-up for scripts/run.sh and scripts/test.sh (sourced, not run).
# Installs what is missing, idempotently: a virtual environment with the
# project's Python packages, and bun (Reflex builds its frontend with it).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

log() { printf '\033[1;36m[smspay]\033[0m %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root (or sudo) to run: $*"; return 1; fi
}

ensure_python() {
  local py_cmd="${SMSPAY_PYTHON:-}"
  if [ -z "$py_cmd" ]; then
    for c in python3.12 python3.11 python3; do
      if command -v "$c" >/dev/null && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        py_cmd="$c"; break
      fi
    done
  fi
  [ -n "$py_cmd" ] || { log "Python 3.11 or newer is required"; exit 1; }
  if [ ! -x "$PY" ]; then
    log "creating virtual environment in .venv"
    "$py_cmd" -m venv "$VENV"
  fi
  local extras="$1"  # "" or "test"
  local stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)-${extras:-base}"
  if [ ! -f "$stamp" ]; then
    log "installing Python packages${extras:+ (with $extras extras)}"
    local target="."
    [ -n "$extras" ] && target=".[${extras}]"
    if ! { "$PY" -m pip install -q --upgrade pip && "$PY" -m pip install -q -e "$target"; } >"$VENV/pip.log" 2>&1; then
      tail -n 40 "$VENV/pip.log" >&2
      log "installing Python packages failed (full log: .venv/pip.log)"
      exit 1
    fi
    touch "$stamp"
  fi
}

ensure_bun() {
  export REFLEX_USE_SYSTEM_BUN=1
  if ! command -v bun >/dev/null || ! bun --version >/dev/null 2>&1; then
    command -v npm >/dev/null || { log "npm is required to install bun (install Node.js 20+)"; exit 1; }
    log "installing bun with npm"
    as_root npm install -g --allow-scripts=bun bun >/dev/null 2>&1 || as_root npm install -g bun >/dev/null
  fi
}

export REFLEX_TELEMETRY_ENABLED=false
export REFLEX_CHECK_LATEST_VERSION=false
export PYTHONUNBUFFERED=1
