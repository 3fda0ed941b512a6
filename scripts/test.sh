#!/usr/bin/env bash
# Set up a fresh machine and run every check: lint, types, and the whole test suite (real Chromium,
# the real mock backend, the hub on SQLite and on PostgreSQL).
# PostgreSQL: $HUB_TEST_DATABASE_URL, default postgresql+psycopg://postgres@127.0.0.1:5432/test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
export HUB_TEST_DATABASE_URL=${HUB_TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}
echo "==> ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "==> mypy"
.venv/bin/mypy
echo "==> pytest"
# Both cores: the hub's tests (one shared PostgreSQL database) run on one worker, the rest is shared out.
.venv/bin/pytest -n "${TEST_WORKERS:-2}" --dist loadgroup --durations=25 "$@"
