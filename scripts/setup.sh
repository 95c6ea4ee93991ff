#!/usr/bin/env bash
# Prepare a brand-new machine: a virtualenv with dovecote and its dev extras,
# and (for the browser tests) Debian's chromium. Safe to run again.
#
# DOVECOTE_SKIP_BROWSER=1 leaves chromium out (the demo needs none); it has
# no effect under CI=true, where a missing chromium is an error.
#
# Environment: PYTHON (the interpreter, default python3), VENV (the
# virtualenv, default .venv: the one for development and the demo) and
# DJANGO (a requirement such as 'Django>=6.0,<6.1'; default: the newest
# Django that PYTHON can run). scripts/test.sh makes one virtualenv per
# stack this way (.venv-py312-dj60, ...).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
DJANGO=${DJANGO:-}
if [ ! -x "$VENV/bin/python" ]; then
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
    echo "Creating $VENV with $("$PYTHON" --version 2>&1)..."
    "$PYTHON" -m venv "$VENV"
fi
# Reinstall only when pyproject.toml or the Django requirement changed.
stamp=$VENV/.dovecote-installed
want="$(cksum < pyproject.toml) ${DJANGO}"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "Installing dovecote and its dev extras into $VENV${DJANGO:+ ($DJANGO)}..."
    log=$VENV/pip-install.log
    if ! { "$VENV/bin/python" -m pip install --upgrade pip &&
           "$VENV/bin/python" -m pip install -e '.[dev]' ${DJANGO:+"$DJANGO"}; } \
           >"$log" 2>&1; then
        tail -30 "$log" >&2
        echo "pip failed; the whole log is in $log" >&2
        exit 1
    fi
    echo "$want" > "$stamp"
fi

bash scripts/chromium.sh
