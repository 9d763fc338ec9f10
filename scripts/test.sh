#!/usr/bin/env bash
# Set up, then lint, type-check, run the whole test suite and the evaluation gate.
# Arguments go to pytest (e.g. -m "not slow" for the quick loop); the gate runs only on a full run.
set -euo pipefail
cd "$(dirname "$0")/.."
took() { echo "-- $1: $((SECONDS - stage_start)) s (${SECONDS} s in all)" >&2; stage_start=$SECONDS; }
stage_start=$SECONDS
bash scripts/setup.sh
took setup
export HF_HUB_OFFLINE=1
bash scripts/lint.sh
took "lint and types"
# One worker per core, at most four (each loads the model): half the suite waits on servers, browsers and
# subprocesses. A module's tests stay on one worker, so its fixtures are built once. HEALTHQA_TEST_WORKERS=0
# runs them in this process.
workers=${HEALTHQA_TEST_WORKERS:-$(.venv/bin/python -c 'import os; print(min(4, len(os.sched_getaffinity(0))))')}
.venv/bin/python -m pytest -n "$workers" --dist loadscope "$@"
took tests
[ "$#" -eq 0 ] || exit 0

# The eval gate (eval/thresholds.toml): the corpus suite, and the MedQuAD quick benchmark and the
# MEDIQA consumer questions when ../shared holds them (CI sets HEALTHQA_REQUIRE_SHARED=1, making
# them mandatory).
suites=(--suite corpus)
if [ -f ../shared/datasets/medquad/medquad.jsonl.gz ] || [ "${HEALTHQA_REQUIRE_SHARED:-}" = 1 ]; then
  suites+=(--suite medquad-quick)
else
  echo "note: ../shared/datasets/medquad is absent; the medquad-quick benchmark is skipped" >&2
fi
if [ -f ../shared/datasets/mediqa2019-qa/corpus.jsonl ] || [ "${HEALTHQA_REQUIRE_SHARED:-}" = 1 ]; then
  suites+=(--suite mediqa)
else
  echo "note: ../shared/datasets/mediqa2019-qa is absent; the mediqa suite is skipped" >&2
fi
.venv/bin/healthqa eval --gate "${suites[@]}"
took "eval gate"
