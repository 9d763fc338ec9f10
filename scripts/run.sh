#!/usr/bin/env bash
# Set up, build the index from the shipped corpus if it is missing or stale (incremental: unchanged
# articles are not re-embedded), then serve the query API and the web UI on loopback until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
.venv/bin/healthqa ingest corpus/articles
api="http://127.0.0.1:${HEALTHQA_PORT:-8000}"
# Every web-UI user reaches the API from the UI server's address, so they share one rate-limit budget:
# give that budget room for several people (the API's own default, 120/minute, is per person).
HEALTHQA_RATE_LIMIT=${HEALTHQA_RATE_LIMIT:-1200/minute} .venv/bin/healthqa serve &
api_pid=$!
trap 'kill "$api_pid" 2>/dev/null || true; wait "$api_pid" 2>/dev/null || true' EXIT
# Wait until the API has loaded the model and the index (GET /readyz answers 200).
.venv/bin/python - "$api" "$api_pid" <<'PY'
import os, sys, time, urllib.request
url, pid = sys.argv[1] + "/readyz", int(sys.argv[2])
for _ in range(240):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                sys.exit(0)
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit("error: the API stopped before it was ready (see above)")
    time.sleep(0.5)
sys.exit(f"error: the API at {url} was not ready after 2 minutes")
PY
echo "API: $api (docs at /docs)   UI: http://127.0.0.1:${HEALTHQA_UI_PORT:-8501}  (Ctrl-C stops both)" >&2
.venv/bin/healthqa ui --api-url "$api"
