#!/usr/bin/env bash
# Set up, then lint, type-check and run the whole test suite (unit and real-model integration tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
bash scripts/lint.sh
.venv/bin/python -m pytest "$@"
