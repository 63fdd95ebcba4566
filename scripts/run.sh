#!/usr/bin/env bash
# Run smspay on http://localhost:3000 (production build, one port): SQLite,
# the built-in SMS simulator and payment sandbox. Installs what is missing.
source "$(dirname "$0")/_env.sh"
ensure_python ""
ensure_bun
PORT="${SMSPAY_PORT:-3000}"
export SMSPAY_PUBLIC_BASE_URL="${SMSPAY_PUBLIC_BASE_URL:-http://localhost:$PORT}"
"$PY" -m smspay_app.startup
log "building and starting the app on port $PORT (the first build takes a minute or two)"
exec "$VENV/bin/reflex" run --env prod --single-port --frontend-port "$PORT" --backend-port "$PORT" --loglevel warning
