#!/usr/bin/env bash
# Create .venv-ls, the Label Studio server's own virtualenv (it cannot share .venv with prefect 3).
# Idempotent: installs only when the venv is missing or the pin or the constraints changed
# (both are recorded in .venv-ls/.sitewatch-pin). scripts/labelstudio-constraints.txt bounds
# Label Studio's own unbounded dependencies that broke it. ~1 GB, about a minute with a warm pip cache.
set -euo pipefail

LABEL_STUDIO_PIN="${LABEL_STUDIO_PIN:-1.23.2}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SITEWATCH_LS_VENV:-$ROOT/.venv-ls}"
STAMP="$VENV/.sitewatch-pin"
PYTHON="${PYTHON:-python3}"

CONSTRAINTS="$ROOT/scripts/labelstudio-constraints.txt"
want="label-studio==${LABEL_STUDIO_PIN} constraints=$(sha256sum "$CONSTRAINTS" | cut -c1-16)"
if [[ -x "$VENV/bin/label-studio" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
  echo "setup_labelstudio: $VENV already has $want"
  exit 0
fi

start=$(date +%s)
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -c "$CONSTRAINTS" \
  "label-studio==${LABEL_STUDIO_PIN}" 2>&1 \
  | grep -v "^WARNING: Location" || true
[[ -x "$VENV/bin/label-studio" ]] || { echo "setup_labelstudio: install failed" >&2; exit 1; }
# (`label-studio --version` does not return promptly; import the package instead)
"$VENV/bin/python" -c "import sys, label_studio; sys.exit(label_studio.__version__ != '$LABEL_STUDIO_PIN')" || {
  echo "setup_labelstudio: $VENV does not hold label-studio $LABEL_STUDIO_PIN after install" >&2
  exit 1
}
echo "$want" > "$STAMP"
echo "setup_labelstudio: installed $want into $VENV in $(( $(date +%s) - start )) s"
