"""Run Python in a fresh interpreter from a test (the repository root is ROOT)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def environ_without(*prefixes: str) -> dict[str, str]:
    """This process's environment minus the variables starting with ``prefixes``."""
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def run_python(
    *args: str,
    env: Mapping[str, str],
    cwd: Path = ROOT,
    timeout: float = 120,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``python *args`` with ``env``; its output captured as text."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


def run_bare_pytest(tmp_path: Path) -> str:
    """Run the suite in ``tmp_path`` alone: no pytest-django, no conftest of ours.

    The interpreter sees only ROOT on its path, so whatever the suite's own
    ``conftest.py`` loads is all that runs. Returns stdout and stderr.
    """
    done = run_python(
        *("-m", "pytest", "-p", "no:django", "-p", "no:cacheprovider", "-q"),
        *("--rootdir", str(tmp_path), "-c", "/dev/null", str(tmp_path)),
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": ""},
    )
    return done.stdout + done.stderr
