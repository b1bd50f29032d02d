#!/usr/bin/env bash
# Start the scheduled site watch with one command:
#   bash scripts/watch.sh --sites khmeimim,tartus --source sample_tiles/ [--cron "0 6 * * *"]
# Sets up .venv, starts a local Prefect server on 127.0.0.1:${PREFECT_PORT:-4200} (sqlite, state in
# .sitewatch/prefect) unless one already answers there, then serves the site_watch deployment
# (blocks; Ctrl-C stops serving, `bash scripts/watch.sh --stop` stops the server).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

PORT="${PREFECT_PORT:-4200}"
STATE="$PWD/.sitewatch/prefect"
PID_FILE="$STATE/server.pid"
mkdir -p "$STATE"
export PREFECT_HOME="$STATE"
export PREFECT_API_URL="http://127.0.0.1:${PORT}/api"
healthy() { .venv/bin/python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" "${PREFECT_API_URL}/health" >/dev/null 2>&1; }

if [[ "${1:-}" == "--stop" ]]; then
  if [[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
    kill -TERM "$(cat "$PID_FILE")"; rm -f "$PID_FILE"; echo "watch: Prefect server stopped"
  else
    echo "watch: no Prefect server started here is running"
  fi
  exit 0
fi

if ! healthy; then
  echo "watch: starting Prefect server on 127.0.0.1:${PORT} (log: $STATE/server.log)"
  nohup .venv/bin/prefect server start --host 127.0.0.1 --port "$PORT" \
    >"$STATE/server.log" 2>&1 &
  echo $! >"$PID_FILE"
  for _ in $(seq 1 120); do
    healthy && break
    sleep 1
  done
  healthy || {
    echo "watch: Prefect server did not answer within 120 s; see $STATE/server.log" >&2; exit 1; }
fi
echo "watch: UI at http://127.0.0.1:${PORT}; runs write to runs/watch/ (override with --out)"
exec .venv/bin/sitewatch watch "$@"
