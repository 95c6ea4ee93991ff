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
#
# Besides failed tests, these fail the run (so that nothing passes by being
# left out):
# - a skip that no line of tests/skips-allowed.txt allows (its format is at
#   the top of that file; add a line there, with the reason, for a new
#   legitimate skip);
# - a PostgreSQL pass that selects fewer than PG_MIN_SELECTED tests, or none
#   (pytest's exit 5), when no pytest arguments narrow the run;
# - combined coverage below fail_under (pyproject.toml), for the full run
#   only (every stack and both databases, no pytest arguments).
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/stacks.sh

STACKS=${STACKS:-all}
DATABASES=${DATABASES:-sqlite postgres}
# The tests the PostgreSQL pass selects (those that touch the database, see
# conftest.py): 481 on every stack on 2026-12-07. Raise it when you add
# database tests; lower it only when you remove some on purpose.
PG_MIN_SELECTED=481
ALLOWED_SKIPS=tests/skips-allowed.txt
narrowed=0
[ $# -gt 0 ] && narrowed=1
full=0
if [ "$STACKS" = all ] && [ "$DATABASES" = "sqlite postgres" ] && [ $narrowed = 0 ]; then
    full=1
fi
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
        if [ $code -eq 5 ] && [ $only = 1 ] && [ $narrowed = 1 ]; then
            # Arguments such as -k can leave no database test to run again.
            echo "note: the arguments select no database test for $db"
        elif [ $code -ne 0 ]; then
            failed=1
        fi
        counts=$("$venv/bin/python" scripts/junit_counts.py "$junit")
        if [ $only = 1 ] && [ $narrowed = 0 ] &&
            ! "$venv/bin/python" scripts/junit_counts.py \
                --at-least "$PG_MIN_SELECTED" "$junit" >/dev/null; then
            echo "error: the $db pass selected fewer than $PG_MIN_SELECTED" \
                 "tests ($counts): is the database-test selection broken?" >&2
            counts="$counts, fewer than $PG_MIN_SELECTED selected"
            failed=1
        fi
        if ! skips=$("$venv/bin/python" scripts/junit_skips.py --run "$name-$db" \
                --allowed "$ALLOWED_SKIPS" "$junit"); then
            failed=1
        fi
        echo "$skips"
        summary+=("$name-$db: $counts ($((SECONDS - run_started)) s, exit $code)")
        skips=${skips%%$'\n'*}  # the first line: the counts
        summary+=("  skips: ${skips#*: }")
    done
    echo "$name took $((SECONDS - stack_started)) s"
done

# Coverage of every run together (the same sources: editable installs). The
# floor (fail_under in pyproject.toml) holds for the full run only: one
# stack or a -k selection covers less.
if ls .coverage.* >/dev/null 2>&1; then
    first=$(ls -d .venv-py3* 2>/dev/null | head -1)
    if [ -n "$first" ]; then
        floor=()
        [ $full = 1 ] || floor=(--fail-under=0)
        "$first/bin/python" -m coverage combine -q
        if total=$("$first/bin/python" -m coverage report --format=total "${floor[@]}"); then
            summary+=("coverage: $total%")
        else
            summary+=("coverage: ${total%%$'\n'*}%, below fail_under in pyproject.toml (failed)")
            failed=1
        fi
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
