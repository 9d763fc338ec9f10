#!/usr/bin/env bash
# Set up, then lint and type-check beside the whole test suite, then run the evaluation gate.
# Arguments go to pytest (e.g. -m "not slow" for the quick loop); the gate runs only on a full run.
set -euo pipefail
cd "$(dirname "$0")/.."
took() { echo "-- $1: $((SECONDS - stage_start)) s (${SECONDS} s in all)" >&2; stage_start=$SECONDS; }
stage_start=$SECONDS
bash scripts/setup.sh
took setup
export HF_HUB_OFFLINE=1
# Lint and type checks run beside the tests (one core, about a minute); their verdict comes when the tests end.
lint_log=$(mktemp)
trap 'rm -f "$lint_log"' EXIT
bash scripts/lint.sh >"$lint_log" 2>&1 &
lint_pid=$!
# One worker per core, at most four (each loads the model): half the suite waits on servers, browsers and
# subprocesses. A module's tests stay on one worker, so its fixtures are built once. HEALTHQA_TEST_WORKERS=0
# runs them in this process.
workers=${HEALTHQA_TEST_WORKERS:-$(.venv/bin/python -c 'import os; print(min(4, len(os.sched_getaffinity(0))))')}
tests_status=0
.venv/bin/python -m pytest -n "$workers" --dist loadscope "$@" || tests_status=$?
lint_status=0
wait "$lint_pid" || lint_status=$?
cat "$lint_log"
[ "$lint_status" -eq 0 ] || { echo "error: lint or type checks failed (above)" >&2; exit "$lint_status"; }
[ "$tests_status" -eq 0 ] || exit "$tests_status"
took "lint, types and tests"
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
