#!/usr/bin/env bash
# Run smspay on http://localhost:3000 (production build, one port): SQLite,
# the built-in SMS simulator and payment sandbox. Installs what is missing.
source "$(dirname "$0")/_env.sh"
ensure_python ""
ensure_bun
PORT="${SMSPAY_PORT:-3000}"
# Loopback only unless asked otherwise (SMSPAY_HOST=0.0.0.0 to reach it from
# other machines; the demo password must then be changed at first sign-in).
export SMSPAY_HOST="${SMSPAY_HOST:-127.0.0.1}"
export SMSPAY_PUBLIC_BASE_URL="${SMSPAY_PUBLIC_BASE_URL:-http://localhost:$PORT}"
"$PY" -m smspay_app.startup --prepare
# The sign-in address once the app answers (not before: the build takes a while).
"$PY" -m smspay_app.startup --announce &
log "building and starting the app on port $PORT (the first build takes a minute or two)"
exec "$VENV/bin/reflex" run --env prod --single-port --frontend-port "$PORT" --backend-port "$PORT" --backend-host "$SMSPAY_HOST" --loglevel warning
