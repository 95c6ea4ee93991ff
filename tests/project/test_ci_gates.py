"""The gates that make CI fail instead of passing with tests left out.

scripts/chromium.sh (a missing browser under CI), scripts/junit_skips.py
(a skip not on tests/skips-allowed.txt) and scripts/junit_counts.py
``--at-least`` (the PostgreSQL pass's floor), each run as scripts/test.sh
and scripts/setup.sh run them.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.subproc import ROOT

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="0" failures="0" skipped="{skipped}"
 tests="{tests}">{cases}</testsuite></testsuites>
"""


def junit(tmp_path: Path, *cases: tuple[str, str, str | None]) -> Path:
    """Write a JUnit file of (classname, name, skip reason or None) cases."""
    body = ""
    for classname, name, reason in cases:
        skip = (
            ""
            if reason is None
            else f'<skipped type="pytest.skip" message="{reason}"/>'
        )
        body += f'<testcase classname="{classname}" name="{name}">{skip}</testcase>'
    skipped = sum(reason is not None for *_, reason in cases)
    path = tmp_path / f"junit-{len(list(tmp_path.iterdir()))}.xml"
    path.write_text(JUNIT.format(skipped=skipped, tests=len(cases), cases=body))
    return path


def script(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


# The allow-list of skips ----------------------------------------------------


def skips_check(tmp_path: Path, run: str, rules: str, *files: Path):
    allowed = tmp_path / "allowed.txt"
    allowed.write_text(rules)
    return script(
        "scripts/junit_skips.py",
        *("--run", run, "--allowed", str(allowed)),
        *map(str, files),
    )


RULE = (
    "*-sqlite | tests/delivery/test_faults.py::* | DOVECOTE_TEST_DB=postgres"
    " | runs in the postgres pass\n"
)


def test_an_allowed_skip_passes_and_is_counted(tmp_path):
    xml = junit(
        tmp_path,
        ("tests.delivery.test_faults", "test_locks[2]", "DOVECOTE_TEST_DB=postgres"),
        ("tests.delivery.test_faults", "test_other", None),
    )
    done = skips_check(tmp_path, "py311-dj52-sqlite", RULE, xml)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0] == (
        "py311-dj52-sqlite: 1 skipped, 0 not allowed"
    )


@pytest.mark.parametrize(
    ("run", "classname", "reason"),
    [
        # The same skip on another database's run.
        (
            "py311-dj52-postgres",
            "tests.delivery.test_faults",
            "DOVECOTE_TEST_DB=postgres",
        ),
        # Another test file.
        (
            "py311-dj52-sqlite",
            "tests.web.test_xss_browser",
            "DOVECOTE_TEST_DB=postgres",
        ),
        # Another reason: a missing browser is never allowed.
        (
            "py311-dj52-sqlite",
            "tests.delivery.test_faults",
            "/usr/bin/chromium is missing",
        ),
    ],
)
def test_a_skip_no_rule_allows_fails_and_is_named(tmp_path, run, classname, reason):
    xml = junit(tmp_path, (classname, "test_x", reason))
    done = skips_check(tmp_path, run, RULE, xml)
    assert done.returncode == 1
    path = classname.replace(".", "/") + ".py"
    assert f"skip not allowed: {path}::test_x ({reason})" in done.stdout


def test_a_class_test_id_names_the_file_and_the_class(tmp_path):
    xml = junit(tmp_path, ("tests.backends.test_filebased.TestX", "test_y[a-b]", "r"))
    rule = "* | tests/backends/test_filebased.py::TestX::test_y[a-b] | r | why\n"
    assert skips_check(tmp_path, "any", rule, xml).returncode == 0


def test_a_rule_without_its_reason_is_refused(tmp_path):
    xml = junit(tmp_path, ("tests.x", "test_y", None))
    done = skips_check(tmp_path, "any", "* | * | * |\n", xml)
    assert done.returncode == 1
    assert "line 1: expected 'RUN | TEST | REASON | WHY'" in done.stderr


def test_a_missing_junit_file_fails(tmp_path):
    done = skips_check(tmp_path, "any", RULE, tmp_path / "absent.xml")
    assert done.returncode == 1


def test_the_projects_allow_list_parses_and_allows_no_browser_skip():
    spec = importlib.util.spec_from_file_location(
        "junit_skips", ROOT / "scripts" / "junit_skips.py"
    )
    assert spec and spec.loader
    junit_skips = importlib.util.module_from_spec(spec)
    sys.modules["junit_skips"] = junit_skips  # dataclasses look their module up
    try:
        spec.loader.exec_module(junit_skips)
    finally:
        del sys.modules["junit_skips"]
    rules = junit_skips.read_rules((ROOT / "tests" / "skips-allowed.txt").read_text())
    assert rules
    for run in ("py311-dj52-sqlite", "py312-dj60-postgres", "py313-dj61-sqlite"):
        test = "tests/web/test_xss_browser.py::test_x"
        reason = "/usr/bin/chromium is missing (apt-get install -y chromium)"
        assert not any(rule.allows(run, test, reason) for rule in rules)


# The PostgreSQL pass's floor ------------------------------------------------


def test_fewer_tests_than_the_floor_fail(tmp_path):
    empty = junit(tmp_path)
    done = script("scripts/junit_counts.py", "--at-least", "398", str(empty))
    assert (done.returncode, done.stdout) == (1, "0 passed, 0 failed, 0 skipped\n")
    two = junit(tmp_path, ("tests.a", "test_1", None), ("tests.a", "test_2", "r"))
    assert (
        script("scripts/junit_counts.py", "--at-least", "2", str(two)).returncode == 0
    )
    assert (
        script("scripts/junit_counts.py", "--at-least", "3", str(two)).returncode == 1
    )


def test_test_sh_sets_a_floor_and_accepts_exit_5_only_when_narrowed():
    text = (ROOT / "scripts" / "test.sh").read_text()
    assert "PG_MIN_SELECTED=" in text
    assert '--at-least "$PG_MIN_SELECTED"' in text
    assert "[ $code -eq 5 ] && [ $only = 1 ] && [ $narrowed = 1 ]" in text


# A missing browser under CI ---------------------------------------------------


def chromium_sh(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    # A PATH without apt-get: this machine cannot install the browser.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("id",):
        target = bin_dir / tool
        if not target.exists():
            target.symlink_to(
                subprocess.check_output(["which", tool], text=True).strip()
            )
    return subprocess.run(
        ["/bin/bash", str(ROOT / "scripts" / "chromium.sh")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PATH": str(bin_dir),
            "DOVECOTE_CHROMIUM": str(tmp_path / "no-chromium"),
            **env,
        },
    )


@pytest.mark.parametrize("skip_browser", ["0", "1"])
def test_a_missing_chromium_fails_under_ci(tmp_path, skip_browser):
    done = chromium_sh(tmp_path, CI="true", DOVECOTE_SKIP_BROWSER=skip_browser)
    assert done.returncode == 1
    assert "no-chromium is missing and could not be installed" in done.stderr


def test_a_missing_chromium_is_a_note_outside_ci(tmp_path):
    done = chromium_sh(tmp_path)
    assert done.returncode == 0
    assert "browser tests will be skipped" in done.stderr
    assert chromium_sh(tmp_path, DOVECOTE_SKIP_BROWSER="1").stderr == ""


def test_under_ci_the_browser_tests_never_skip(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); import tests.web.conftest as c; "
            "print(c.needs_chromium.args)",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **os.environ,
            "CI": "true",
            "DOVECOTE_CHROMIUM": str(tmp_path / "no-chromium"),
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "PYTHONPATH": str(ROOT),
        },
    )
    assert done.stdout.strip() == "(False,)", done.stderr
