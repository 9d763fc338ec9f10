#!/usr/bin/env bash
# Set up, build the index from the shipped corpus if it is missing or stale (incremental: unchanged
# articles are not re-embedded), then serve the query API on loopback until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
.venv/bin/healthqa ingest corpus/articles
echo "API: http://127.0.0.1:${HEALTHQA_PORT:-8000}  (docs at /docs; try: curl -s localhost:${HEALTHQA_PORT:-8000}/v1/ask -H 'content-type: application/json' -d '{\"question\": \"is it normal for my knees to ache after the gym?\"}')" >&2
exec .venv/bin/healthqa serve
