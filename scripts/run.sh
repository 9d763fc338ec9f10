#!/usr/bin/env bash
# Set up, then build the index from the shipped corpus if it is missing or stale (incremental:
# unchanged articles are not re-embedded), then show what the index finds for a sample question.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
.venv/bin/healthqa ingest corpus/articles
.venv/bin/healthqa search "${1:-is it normal for my knees to ache after the gym?}" -k 3
