#!/usr/bin/env bash
# Run the whole test suite: unit, integration (real SQLite, real HTTP servers,
# simulators, a real PostgreSQL server for the PostgreSQL mode) and end-to-end
# (Playwright in Chromium against the production build). Installs what is
# missing, including a Chromium for Playwright and PostgreSQL.
source "$(dirname "$0")/_env.sh"
ensure_python "test"
ensure_bun

find_browser() {
  if [ -n "${SMSPAY_CHROMIUM:-}" ] && [ -x "$SMSPAY_CHROMIUM" ]; then echo "$SMSPAY_CHROMIUM"; return; fi
  for c in chromium chromium-browser google-chrome; do
    if command -v "$c" >/dev/null; then command -v "$c"; return; fi
  done
  local pw; pw=$(ls -d "$HOME"/.cache/ms-playwright/chromium-*/chrome-linux*/chrome 2>/dev/null | head -n1 || true)
  [ -n "$pw" ] && echo "$pw"
}
BROWSER="$(find_browser || true)"
if [ -z "$BROWSER" ]; then
  log "installing Chromium for the browser tests"
  if command -v apt-get >/dev/null; then
    as_root apt-get update -qq >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    "$PY" -m playwright install chromium
  fi
  BROWSER="$(find_browser || true)"
fi
[ -n "$BROWSER" ] || { log "no Chromium found or installable; set SMSPAY_CHROMIUM"; exit 1; }
export SMSPAY_CHROMIUM="$BROWSER"

# PostgreSQL for the "outgrown one machine" tests (tests/postgres.py starts
# its own server from these binaries, on a free port, in a temporary directory).
find_postgres() {
  if [ -n "${SMSPAY_PG_BIN:-}" ] && [ -x "$SMSPAY_PG_BIN/postgres" ]; then echo "$SMSPAY_PG_BIN"; return; fi
  local bin; bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
  [ -n "$bin" ] && [ -x "$bin/postgres" ] && echo "$bin"
}
if [ -z "$(find_postgres || true)" ]; then
  log "installing PostgreSQL for the PostgreSQL mode tests"
  command -v apt-get >/dev/null || { log "no PostgreSQL found; install it or set SMSPAY_PG_BIN"; exit 1; }
  as_root apt-get update -qq >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
PG_BIN="$(find_postgres || true)"
[ -n "$PG_BIN" ] || { log "no PostgreSQL found or installable; set SMSPAY_PG_BIN"; exit 1; }
export SMSPAY_PG_BIN="$PG_BIN"

# pytest exits 5 when it collected no tests: that is a failure here too.
set +e
"$PY" -m pytest "$@"
status=$?
set -e
if [ "$status" = 5 ]; then log "no tests were collected"; exit 1; fi
exit "$status"
