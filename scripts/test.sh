#!/usr/bin/env bash
# Set up, then lint, type-check, run the whole test suite and the evaluation gate.
# Arguments go to pytest (e.g. -m "not slow" for the quick loop); the gate runs only on a full run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
if [ "$#" -gt 0 ]; then
  bash scripts/lint.sh
  exec .venv/bin/python -m pytest "$@"
fi

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
# The gate runs beside lint and the tests, which wait on servers and subprocesses much of their time;
# its report is printed once the tests end, and either failing fails the run.
mkdir -p var
gate_log=var/gate.log
.venv/bin/healthqa eval --gate "${suites[@]}" >"$gate_log" 2>&1 &
gate=$!
trap 'kill "$gate" 2>/dev/null || true' EXIT
tests=0
{ bash scripts/lint.sh && .venv/bin/python -m pytest; } || tests=$?
[ "$tests" -eq 0 ] || exit "$tests"
echo "Waiting for the eval gate (healthqa eval --gate ${suites[*]}) ..." >&2
gated=0
wait "$gate" || gated=$?
trap - EXIT
cat "$gate_log"
exit "$gated"
