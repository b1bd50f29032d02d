#!/usr/bin/env bash
# README command 2: set everything up (pipeline venv, Label Studio's own venv, headless Chromium)
# and run the full test suite, integration tests included. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup_labelstudio.sh
bash scripts/setup_browser.sh

set +e
.venv/bin/python -m pytest -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "test: pytest collected no tests -- treating as failure" >&2
  exit 1
fi
exit "$rc"
