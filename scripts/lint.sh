#!/usr/bin/env bash
# Style and types: ruff (lint + format check) and mypy (strict on ingest, index, service, cli).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy cli index ingest service eval ui tests
