"""docs/adding-a-provider.md works as written.

The page's Python blocks that start with ``# file: <name>`` are written to a
temporary directory and the test module among them is run with pytest: the
example backend must pass the contract suite against the example fake.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "adding-a-provider.md"
BLOCK = re.compile(r"```python\n# file: (?P<name>[\w.]+)\n(?P<code>.*?)```", re.S)


def doc_files() -> dict[str, str]:
    return {m["name"]: m["code"] for m in BLOCK.finditer(DOC.read_text())}


def test_the_page_has_a_backend_a_fake_and_tests():
    assert sorted(doc_files()) == ["acme_sms.py", "fake_acme.py", "test_acme_sms.py"]


def test_the_example_passes_the_contract_suite(tmp_path):
    for name, code in doc_files().items():
        (tmp_path / name).write_text(code)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
    }
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(ROOT),
            "-c",
            str(ROOT / "pyproject.toml"),
            str(tmp_path / "test_acme_sms.py"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    passed = re.search(r"(\d+) passed", run.stdout)
    assert passed, run.stdout
    # The contract's cases plus the provider's own six, none skipped.
    assert int(passed[1]) >= 12 + 6, run.stdout
    assert "skipped" not in run.stdout and "failed" not in run.stdout
