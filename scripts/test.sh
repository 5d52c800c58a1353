#!/usr/bin/env bash
# One command: set everything up, lint (ruff, the rules in pyproject.toml), then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
.venv/bin/ruff check --quiet . || { echo "ruff found the problems above (fix them, or see pyproject.toml)" >&2; exit 1; }
exec .venv/bin/python -m pytest -q --durations=25 "$@"
