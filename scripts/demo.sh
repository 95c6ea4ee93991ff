#!/usr/bin/env bash
# The demo: set up .venv if needed, then run the example site's demo command,
# which resets example/var/, sends notifications over email, SMS, Slack and
# the inbox, and prints who got what, why others were skipped, and where the
# output is. Extra arguments go to `manage.py demo`.
#
# STACK=py313-dj61 (a name from scripts/stacks.sh) runs it in that stack's
# virtualenv instead (.venv-py313-dj61, made if needed).
# DOVECOTE_DEMO_ENGINE=celery sends through a Celery worker that the demo
# starts, on RabbitMQ at 127.0.0.1 (bash scripts/services.sh starts it) or
# the broker in DOVECOTE_DEMO_BROKER (docs/delivery.md, set-up 4).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${STACK:-}" ]; then
    . scripts/stacks.sh
    for line in "${DOVECOTE_STACKS[@]}"; do
        read -r name version django _ <<<"$line"
        if [ "$name" = "$STACK" ]; then
            python=$(stack_python "$version")
            PYTHON=$python VENV=.venv-$name DJANGO=$django \
                DOVECOTE_SKIP_BROWSER=1 bash scripts/setup.sh
            exec ".venv-$name/bin/python" example/manage.py demo "$@"
        fi
    done
    echo "Unknown STACK=$STACK; see scripts/stacks.sh." >&2
    exit 1
fi
DOVECOTE_SKIP_BROWSER=1 bash scripts/setup.sh
exec .venv/bin/python example/manage.py demo "$@"
