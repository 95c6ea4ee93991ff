#!/usr/bin/env bash
# The demo: set up .venv if needed, then run the example site's demo command,
# which resets example/var/, sends notifications over email, SMS, Slack and
# the inbox, and prints who got what, why others were skipped, and where the
# output is. Extra arguments go to `manage.py demo`.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    if ! command -v "$PYTHON" >/dev/null; then
        echo "demo.sh: $PYTHON not found; install Python 3.11 or later" \
             "(or set PYTHON=/path/to/python3)." >&2
        exit 1
    fi
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo "demo.sh: dovecote needs Python 3.11 or later;" \
             "$("$PYTHON" --version 2>&1) found (set PYTHON=...)." >&2
        exit 1
    fi
    echo "Creating .venv with $("$PYTHON" --version 2>&1)..."
    "$PYTHON" -m venv .venv
fi
# Install (again) only when pyproject.toml changed; the stamp is shared with
# scripts/setup.sh.
stamp=.venv/.dovecote-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "Installing dovecote and its dev extras into .venv (once)..."
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[dev]'
    touch "$stamp"
fi

exec .venv/bin/python example/manage.py demo "$@"
