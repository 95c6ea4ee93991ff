#!/usr/bin/env bash
# Make sure Debian's chromium is there for the browser tests (the XSS
# checks among them); run by scripts/setup.sh. Installs it with apt-get when
# it is missing and this is root.
#
# Without chromium: under CI (CI=true) an error, exit 1, because CI must
# never pass with the browser tests skipped; elsewhere a note (the tests
# then skip). DOVECOTE_SKIP_BROWSER=1 leaves chromium out (the demo needs
# none), except under CI. DOVECOTE_CHROMIUM names another binary.
set -euo pipefail

CHROMIUM=${DOVECOTE_CHROMIUM:-/usr/bin/chromium}
in_ci=0
case "${CI:-}" in 1 | [Tt]rue | [Yy]es) in_ci=1 ;; esac
if [ "$in_ci" = 1 ] || [ "${DOVECOTE_SKIP_BROWSER:-0}" != 1 ]; then
    if [ ! -x "$CHROMIUM" ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            echo "Installing Debian's chromium for the browser tests..."
            apt-get update -qq >/dev/null || true
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null ||
                true
        fi
    fi
    if [ ! -x "$CHROMIUM" ]; then
        if [ "$in_ci" = 1 ]; then
            echo "error: $CHROMIUM is missing and could not be installed" \
                 "(apt-get install -y chromium); CI runs the browser tests." >&2
            exit 1
        fi
        echo "note: $CHROMIUM is missing and apt-get is not usable;" \
             "browser tests will be skipped." >&2
    fi
fi
