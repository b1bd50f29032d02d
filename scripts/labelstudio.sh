#!/usr/bin/env bash
# Start Label Studio locally for analysts and push the latest replay run's pre-annotations.
#
#   scripts/labelstudio.sh [RUN_DIR]     start (if not running) on 127.0.0.1:8080 and push
#   scripts/labelstudio.sh --stop        stop the server started here
#
# Installs .venv-ls when needed (scripts/setup_labelstudio.sh), generates an API token and a
# password once into .sitewatch/labelstudio.env (mode 600; the token is never printed), keeps
# the server's data in .sitewatch/labelstudio-data and its log in .sitewatch/labelstudio.log.
# Then open http://127.0.0.1:8080, log in with the e-mail and password from the env file.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
STATE="$ROOT/.sitewatch"
ENV_FILE="$STATE/labelstudio.env"
PID_FILE="$STATE/labelstudio.pid"
LOG="$STATE/labelstudio.log"
DATA="$STATE/labelstudio-data"
PORT="${LABEL_STUDIO_PORT:-8080}"
mkdir -p "$STATE"

if [[ "${1:-}" == "--stop" ]]; then
  if [[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
    kill -TERM "$(cat "$PID_FILE")" && rm -f "$PID_FILE" && echo "labelstudio: stopped"
  else
    echo "labelstudio: not running (no live pid in $PID_FILE)"
  fi
  exit 0
fi

t0=$(date +%s)
bash "$ROOT/scripts/setup.sh"
bash "$ROOT/scripts/setup_labelstudio.sh"

if [[ ! -f "$ENV_FILE" ]]; then
  umask 077
  token="$(python3 -c 'import secrets; print(secrets.token_hex(20))')"
  password="$(python3 -c 'import secrets; print(secrets.token_urlsafe(12))')"
  cat > "$ENV_FILE" <<ENV
# Written by scripts/labelstudio.sh; read by sitewatch ls (the environment wins).
LABEL_STUDIO_URL=http://127.0.0.1:${PORT}
LABEL_STUDIO_API_KEY=${token}
LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=${ROOT}
LABEL_STUDIO_USERNAME=analyst@sitewatch.local
LABEL_STUDIO_PASSWORD=${password}
ENV
  echo "labelstudio: wrote credentials to $ENV_FILE"
fi
# shellcheck disable=SC1090
set -a; source "$ENV_FILE"; set +a

healthy() {
  "$ROOT/.venv-ls/bin/python" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" \
    "$LABEL_STUDIO_URL/health" >/dev/null 2>&1
}

if healthy; then
  echo "labelstudio: already running at $LABEL_STUDIO_URL"
else
  mkdir -p "$DATA"
  LABEL_STUDIO_BASE_DATA_DIR="$DATA" \
  LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true \
  LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT="$LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT" \
  LABEL_STUDIO_LATEST_VERSION_CHECK=false \
  LABEL_STUDIO_COLLECT_ANALYTICS=false \
  LABEL_STUDIO_SSRF_PROTECTION_ENABLED=false \
  nohup "$ROOT/.venv-ls/bin/label-studio" start --data-dir "$DATA" --internal-host 127.0.0.1 \
    --port "$PORT" --no-browser --username "$LABEL_STUDIO_USERNAME" \
    --password "$LABEL_STUDIO_PASSWORD" --user-token "$LABEL_STUDIO_API_KEY" \
    --enable-legacy-api-token >"$LOG" 2>&1 &
  echo $! > "$PID_FILE"
  echo -n "labelstudio: starting (log $LOG) "
  for _ in $(seq 1 360); do
    healthy && break
    if ! kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
      echo; echo "labelstudio: server exited; last log lines:" >&2; tail -20 "$LOG" >&2; exit 1
    fi
    echo -n "."; sleep 0.5
  done
  healthy || { echo; echo "labelstudio: not healthy after 180 s; see $LOG" >&2; exit 1; }
  echo " up in $(( $(date +%s) - t0 )) s at $LABEL_STUDIO_URL"
fi

RUN="${1:-}"
if [[ -z "$RUN" ]]; then
  RUN="$(ls -1td runs/*/ 2>/dev/null | while read -r d; do [[ -f "$d/tiles.json" ]] && { echo "${d%/}"; break; }; done || true)"
fi
if [[ -z "$RUN" ]]; then
  echo "labelstudio: no replay run under runs/; replaying sample_tiles/ first (Label Studio push follows)"
  "$ROOT/.venv/bin/sitewatch" replay sample_tiles/ --out runs/replay --no-annotate
  RUN=runs/replay
fi
if [[ -n "$RUN" ]]; then
  t1=$(date +%s)
  "$ROOT/.venv/bin/sitewatch" ls push --run "$RUN" --env-file "$ENV_FILE"
  echo "labelstudio: pushed $RUN in $(( $(date +%s) - t1 )) s"
else
  echo "labelstudio: no replay run with tiles.json under runs/; run 'sitewatch replay sample_tiles/' first"
fi
echo "labelstudio: open $LABEL_STUDIO_URL and log in as $LABEL_STUDIO_USERNAME (password in $ENV_FILE)"
echo "labelstudio: after review, pull with: .venv/bin/sitewatch ls pull${RUN:+ --run $RUN}"
