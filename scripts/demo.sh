#!/usr/bin/env bash
# The demo: set up .venv if needed, then run the example site's demo command,
# which resets example/var/, sends notifications over email, SMS, Slack and
# the inbox, and prints who got what, why others were skipped, and where the
# output is. Extra arguments go to `manage.py demo`.
set -euo pipefail
cd "$(dirname "$0")/.."

DOVECOTE_SKIP_BROWSER=1 bash scripts/setup.sh
exec .venv/bin/python example/manage.py demo "$@"
