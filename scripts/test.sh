#!/usr/bin/env bash
# Run the whole test suite on every supported stack (scripts/stacks.sh):
# Python 3.11 + Django 5.2, Python 3.12 + Django 6.0, Python 3.13 + Django
# 6.1, each in its own virtualenv (.venv-<stack>, made on first use). On
# each stack: every test on SQLite, then the tests that touch the database
# again on PostgreSQL (with Redis). Warnings are errors everywhere.
#
#   bash scripts/test.sh                      # everything (what CI runs)
#   STACKS=py313-dj61 bash scripts/test.sh    # one stack (names as above)
#   DATABASES=sqlite bash scripts/test.sh -k twilio   # extra args: pytest
#
# Ends with one line per run and a total; exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/stacks.sh

STACKS=${STACKS:-all}
DATABASES=${DATABASES:-sqlite postgres}
mkdir -p artifacts
rm -f artifacts/junit-*.xml .coverage .coverage.*
bash scripts/services.sh >/dev/null || { echo "services failed" >&2; exit 1; }

started=$SECONDS
summary=()
failed=0
for line in "${DOVECOTE_STACKS[@]}"; do
    read -r name version django smoke_also <<<"$line"
    if [ "$STACKS" != all ] && [[ " $STACKS " != *" $name "* ]]; then
        continue
    fi
    stack_started=$SECONDS
    echo "== $name: Python $version, $django =="
    if ! python=$(stack_python "$version"); then
        summary+=("$name: no Python $version (failed)")
        failed=1
        continue
    fi
    venv=.venv-$name
    if ! PYTHON=$python VENV=$venv DJANGO=$django bash scripts/setup.sh; then
        summary+=("$name: setup failed")
        failed=1
        continue
    fi
    [ "$smoke_also" = - ] && smoke_also=
    for db in $DATABASES; do
        echo "-- $name on $db --"
        run_started=$SECONDS
        only=0
        [ "$db" = postgres ] && only=1
        junit=artifacts/junit-$name-$db.xml
        DOVECOTE_TEST_DB=$db DOVECOTE_TEST_DB_SUFFIX=ci-$name-$db \
        DOVECOTE_DB_TESTS_ONLY=$only DOVECOTE_SMOKE_ALSO=$smoke_also \
            "$venv/bin/python" -m coverage run -p -m pytest -p no:cacheprovider \
            --junitxml="$junit" "$@"
        code=$?
        # 5: no test selected, as when -k picks no database test for PostgreSQL.
        if [ $code -ne 0 ] && ! { [ $code -eq 5 ] && [ $only = 1 ]; }; then
            failed=1
        fi
        counts=$("$venv/bin/python" scripts/junit_counts.py "$junit")
        summary+=("$name-$db: $counts ($((SECONDS - run_started)) s, exit $code)")
    done
    echo "$name took $((SECONDS - stack_started)) s"
done

# Coverage of every run together (the same sources: editable installs).
if ls .coverage.* >/dev/null 2>&1; then
    first=$(ls -d .venv-py3* 2>/dev/null | head -1)
    if [ -n "$first" ]; then
        "$first/bin/python" -m coverage combine -q &&
            "$first/bin/python" -m coverage report --format=total |
            sed 's/^/coverage: /; s/$/%/'
    fi
fi

echo
elapsed="tests $((SECONDS - started)) s"
if [ -n "${DOVECOTE_CI_STARTED:-}" ]; then
    elapsed="$elapsed, CI $(($(date +%s) - DOVECOTE_CI_STARTED)) s"
fi
echo "== summary ($elapsed) =="
for entry in "${summary[@]}"; do
    echo "$entry"
done
# The closing line: the total over every run (what CI reads).
"${python:-python3}" scripts/junit_counts.py artifacts/junit-*.xml |
    sed 's/^/total: /'
exit $failed
