#!/usr/bin/env bash
# Create .venv and install healthqa with its pinned dependencies; a no-op when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-}
if [ -z "$python" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      python=$candidate
      break
    fi
  done
fi
[ -n "$python" ] || { echo "error: healthqa needs Python >= 3.11 (set PYTHON=/path/to/python3.11)" >&2; exit 1; }

[ -x .venv/bin/python ] || "$python" -m venv .venv
wanted=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat .venv/.healthqa-installed 2>/dev/null)" != "$wanted" ]; then
  echo "Installing healthqa and its dependencies into .venv (first time: a minute or two) ..." >&2
  .venv/bin/python -m pip install --quiet --upgrade pip
  # constraints.txt pins every transitive dependency to the versions CI runs with. --no-compile: byte-compiling
  # every installed module took 37 of 67 s here; Python compiles the ones imported, once, on first use.
  .venv/bin/python -m pip install --quiet --no-compile -c constraints.txt -e ".[dev,eval,bench]"
  echo "$wanted" > .venv/.healthqa-installed
fi
