#!/usr/bin/env bash
# Lints and tests: sets up .venv with the dev extra on first use, runs ruff, then pytest.
#   ./scripts/test.sh [PYTEST ARGS]            e.g. -m "not slow" or -k regression
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh" dev
cd "$root"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest "$@"
