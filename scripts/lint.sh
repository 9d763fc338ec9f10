#!/usr/bin/env bash
# Style, types and layers: ruff (lint + format check), mypy (strict on the packages) and import-linter
# (the import contracts in pyproject.toml: layers, façades, no FastAPI below the service, no cycles).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy settings ingest index triage answer feedback service cli eval ui tests
.venv/bin/lint-imports --no-cache
