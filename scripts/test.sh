#!/usr/bin/env bash
# Run the whole test suite: unit, integration (real SQLite, real HTTP servers,
# simulators, a real PostgreSQL server for the PostgreSQL mode) and end-to-end
# (Playwright in Chromium against the production build); then the clock check
# (the non-e2e tests again at 03:00 and 15:00 Japan time, see below). Installs
# what is missing, including a Chromium for Playwright, PostgreSQL, Redis, nginx
# and faketime.
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

# axe-core (npm), the accessibility engine tests/test_recipient_a11y.py loads
# into Playwright over every recipient page; installed once into .tools/.
AXE_VERSION="4.14.1"
AXE_JS="$ROOT/.tools/node_modules/axe-core/axe.min.js"
if [ ! -f "$AXE_JS" ] || ! grep -q "\"version\": \"$AXE_VERSION\"" "$ROOT/.tools/node_modules/axe-core/package.json" 2>/dev/null; then
  if ! command -v npm >/dev/null && command -v apt-get >/dev/null; then
    log "installing npm (Node.js) for axe-core"
    as_root apt-get update -qq >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
  fi
  command -v npm >/dev/null || { log "npm is required to install axe-core (install Node.js 20+)"; exit 1; }
  log "installing axe-core $AXE_VERSION with npm"
  npm install --prefix "$ROOT/.tools" --no-audit --no-fund --ignore-scripts "axe-core@$AXE_VERSION" >/dev/null
fi
export SMSPAY_AXE_JS="$AXE_JS"

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

# Redis and nginx for the multi-process layout (tests/e2e/test_scale_out.py:
# two app processes and two workers behind nginx, Reflex's state in Redis) and
# the shared limits on Redis (tests/test_shared_limits.py); the tests start
# their own servers on free loopback ports, never the system services.
for pkg in redis-server:redis-server nginx:nginx; do
  binary="${pkg%%:*}"; package="${pkg##*:}"
  if ! command -v "$binary" >/dev/null && [ ! -x "/usr/sbin/$binary" ] && [ ! -x "/usr/bin/$binary" ]; then
    log "installing $package for the multi-process layout tests"
    command -v apt-get >/dev/null || { log "no $binary found; install $package"; exit 1; }
    as_root apt-get update -qq >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
  fi
done

# pytest exits 5 when it collected no tests: that is a failure here too.
run_pytest() {
  local status=0
  "$@" || status=$?
  if [ "$status" = 5 ]; then log "no tests were collected"; status=1; fi
  return "$status"
}

# The clock check: the suite must pass at any hour, so after the normal run the
# non-e2e tests run twice more with the machine clock shifted (libfaketime, a
# relative offset: time keeps moving) so that Japan time reads 03:00 and then
# 15:00 today. SMSPAY_CLOCK_RUNS=0 skips them for a quick local run; .ci/run
# always runs them. (libfaketime shifts the monotonic clocks too: with
# FAKETIME_DONT_FAKE_MONOTONIC=1 Python's time.sleep fails with EINVAL.)
ensure_faketime() {
  command -v faketime >/dev/null && return
  log "installing faketime (libfaketime) for the clock check"
  command -v apt-get >/dev/null || { log "no faketime found; install libfaketime or set SMSPAY_CLOCK_RUNS=0"; exit 1; }
  as_root apt-get update -qq >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime >/dev/null
  command -v faketime >/dev/null || { log "faketime could not be installed"; exit 1; }
}

# "+<seconds>s" / "-<seconds>s": the offset from now to HH:00 Japan time today.
offset_to_japan_hour() {
  "$PY" -c 'import sys; from datetime import datetime; from zoneinfo import ZoneInfo
now = datetime.now(ZoneInfo("Asia/Tokyo"))
target = now.replace(hour=int(sys.argv[1]), minute=0, second=0, microsecond=0)
print(f"{round((target - now).total_seconds()):+d}s")' "$1"
}

# curl: tests/test_docs_curl.py runs docs/api.md's examples verbatim with it.
if ! command -v curl >/dev/null; then
  log "installing curl for the API docs' examples"
  command -v apt-get >/dev/null || { log "no curl found; install curl"; exit 1; }
  as_root apt-get update -qq >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null
  command -v curl >/dev/null || { log "curl could not be installed"; exit 1; }
fi

# Japanese glyphs for the browser tests' screenshots (tests/e2e write them to
# test-artifacts/); without a CJK font Chromium draws boxes.
if ! fc-list :lang=ja 2>/dev/null | grep -q .; then
  log "installing a Japanese font for the browser screenshots"
  if command -v apt-get >/dev/null; then
    as_root apt-get update -qq >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk >/dev/null || log "no Japanese font installed (screenshots show boxes)"
  fi
fi

failed=()
# Lint first (seconds): ruff format and lint over the whole tree, mypy strict on
# domain/ and providers/ (the files and strictness are set in pyproject.toml).
"$PY" -m ruff format --check -q . || failed+=("ruff format (run: .venv/bin/python -m ruff format .)")
"$PY" -m ruff check -q . || failed+=("ruff check")
"$PY" -m mypy || failed+=("mypy")

run_pytest "$PY" -m pytest "$@" || failed+=("normal run (exit $?)")

if [ "${SMSPAY_CLOCK_RUNS:-1}" != 0 ]; then
  ensure_faketime
  # The same selection as the normal run (the whole suite by default), without
  # the end-to-end tests (a production build each time would add minutes).
  clock_args=("$@")
  [ "${#clock_args[@]}" -gt 0 ] || clock_args=(tests)
  for hour in 03 15; do
    offset="$(offset_to_japan_hour "$hour")"
    log "clock check: Japan time ${hour}:00 (faketime ${offset})"
    run_pytest faketime -f "$offset" \
      "$PY" -m pytest -p no:cacheprovider "${clock_args[@]}" --ignore=tests/e2e \
      || failed+=("clock check at Japan time ${hour}:00 (exit $?)")
  done
fi

if [ "${#failed[@]}" -gt 0 ]; then
  log "FAILED: ${failed[*]}"
  exit 1
fi
log "all test runs passed"
