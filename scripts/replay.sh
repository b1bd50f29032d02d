#!/usr/bin/env bash
# README command 1: set everything up, then replay the whole pipeline on sample_tiles/.
# The last line printed is the path of the report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/sitewatch replay sample_tiles/ --report sample_tiles/report.md --out runs/replay "$@"
