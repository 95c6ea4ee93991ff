#!/usr/bin/env bash
# Run the whole test suite: on SQLite, then on PostgreSQL (with Redis).
# Extra arguments go to pytest, e.g. scripts/test.sh -k twilio
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
bash scripts/services.sh >/dev/null
. .venv/bin/activate
mkdir -p artifacts

echo "== SQLite =="
DOVECOTE_TEST_DB=sqlite DOVECOTE_TEST_DB_SUFFIX=ci-sqlite \
    python -m coverage run -p -m pytest "$@"
echo "== PostgreSQL =="
DOVECOTE_TEST_DB=postgres DOVECOTE_TEST_DB_SUFFIX=ci-pg \
    python -m coverage run -p -m pytest "$@"
python -m coverage combine -q
python -m coverage report --format=total | sed 's/^/coverage: /; s/$/%/'
