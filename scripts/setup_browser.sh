#!/usr/bin/env bash
# Browser test prerequisites, idempotent: Debian's chromium (apt-get, only when missing) and
# playwright-core (npm, pinned) in tests/labelstudio/browser/. No browser download happens:
# playwright-core drives /usr/bin/chromium (`npx playwright install` does not work here).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$ROOT/tests/labelstudio/browser"

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if (( ${#missing[@]} )); then
  SUDO=""
  if [[ "$(id -u)" != "0" ]]; then
    command -v sudo >/dev/null 2>&1 || {
      echo "setup_browser: need root to apt-get install ${missing[*]}" >&2
      exit 1
    }
    SUDO="sudo"
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
chromium --version 2>/dev/null | tail -1
want="$(node -p "require('$DIR/package.json').dependencies['playwright-core']")"
have="$(node -p "try { require('$DIR/node_modules/playwright-core/package.json').version } catch (e) { '' }")"
if [[ "$have" != "$want" ]]; then
  (cd "$DIR" && npm install --no-audit --no-fund --silent)
fi
echo "setup_browser: playwright-core $(node -p "require('$DIR/node_modules/playwright-core/package.json').version")"
