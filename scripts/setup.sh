#!/usr/bin/env bash
# Prepare a brand-new machine: a virtualenv with dovecote and its dev extras,
# and (for the browser tests) Debian's chromium. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    if ! command -v "$PYTHON" >/dev/null; then
        echo "$PYTHON not found; install Python 3.11 or later" \
             "(or set PYTHON=/path/to/python3)." >&2
        exit 1
    fi
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo "dovecote needs Python 3.11 or later;" \
             "$("$PYTHON" --version 2>&1) found (set PYTHON=...)." >&2
        exit 1
    fi
    echo "Creating .venv with $("$PYTHON" --version 2>&1)..."
    "$PYTHON" -m venv .venv
fi
# Reinstall only when pyproject.toml changed since the last install.
stamp=.venv/.dovecote-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "Installing dovecote and its dev extras into .venv (once)..."
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[dev]'
    touch "$stamp"
fi

if [ "${DOVECOTE_SKIP_BROWSER:-0}" != 1 ] && [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "Installing Debian's chromium for the browser tests..."
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "note: /usr/bin/chromium is missing and apt-get is not usable;" \
             "browser tests will be skipped." >&2
    fi
fi
