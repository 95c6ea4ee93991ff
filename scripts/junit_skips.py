"""Fail a test run whose JUnit XML holds a skip that is not allowed.

    python scripts/junit_skips.py --run RUN --allowed FILE JUNIT.xml...

Used by scripts/test.sh after each run. Prints how many tests were skipped
and, for each skip no rule of the allow-list matches, its test id and
reason; exits 1 if there is any such skip (or a file cannot be read).

The allow-list has one rule a line, four fields separated by `` | ``::

    RUN | TEST | REASON | WHY

RUN, TEST and REASON are patterns in which ``*`` matches any run of
characters and every other character only itself (``[`` included): RUN
matches the run's name (``<stack>-<database>``, e.g.
``py312-dj60-postgres``), TEST the test id
(``tests/web/test_outbox.py::test_name[param]``), REASON the skip reason
as pytest reports it. WHY says why the skip is legitimate and must not be
empty. Blank lines and lines starting with ``#`` are ignored.
"""

from __future__ import annotations

import argparse
import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path


def matches(pattern: str, text: str) -> bool:
    """Return True if ``text`` matches ``pattern`` (``*``: any characters)."""
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, text, re.DOTALL) is not None


@dataclass(frozen=True)
class Rule:
    """One line of the allow-list."""

    run: str
    test: str
    reason: str
    why: str
    line: int

    def allows(self, run: str, test: str, reason: str) -> bool:
        """Return True if this rule allows ``test`` skipped for ``reason``."""
        return (
            matches(self.run, run)
            and matches(self.test, test)
            and matches(self.reason, reason)
        )


def read_rules(text: str) -> list[Rule]:
    """Parse the allow-list; raise ValueError naming a malformed line."""
    rules = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [field.strip() for field in line.split(" | ", 3)]
        if len(fields) != 4 or not all(fields):
            raise ValueError(
                f"line {number}: expected 'RUN | TEST | REASON | WHY', "
                f"each non-empty: {raw!r}"
            )
        run, test, reason, why = fields
        rules.append(Rule(run, test, reason, why, line=number))
    return rules


def test_id(classname: str, name: str, root: Path) -> str:
    """Return the pytest id of a JUnit test case (``path.py::Class::name``).

    JUnit's classname is the dotted module path plus any class names; the
    longest dotted prefix that is a file under ``root`` is the module.
    """
    parts = classname.split(".")
    for cut in range(len(parts), 0, -1):
        path = "/".join(parts[:cut]) + ".py"
        if (root / path).is_file():
            return "::".join([path, *parts[cut:], name])
    return f"{classname}::{name}"


def skips(path: str, root: Path) -> list[tuple[str, str]]:
    """Return (test id, reason) for each skipped test case in one JUnit file."""
    found = []
    for case in ET.parse(path).getroot().iter("testcase"):
        skipped = case.find("skipped")
        if skipped is not None:
            ident = test_id(case.get("classname", ""), case.get("name", ""), root)
            found.append((ident, skipped.get("message", "")))
    return found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--run", required=True, help="the run's name, e.g. py311-dj52-sqlite"
    )
    parser.add_argument("--allowed", required=True, help="the allow-list file")
    parser.add_argument("--root", default=".", help="the repository (test paths)")
    parser.add_argument("junit", nargs="+")
    args = parser.parse_args(argv)
    try:
        rules = read_rules(Path(args.allowed).read_text())
    except (OSError, ValueError) as exc:
        print(f"{args.allowed}: {exc}", file=sys.stderr)
        return 1
    found: list[tuple[str, str]] = []
    for path in args.junit:
        try:
            found += skips(path, Path(args.root))
        except (OSError, ET.ParseError) as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            return 1
    refused = [
        (ident, reason)
        for ident, reason in found
        if not any(rule.allows(args.run, ident, reason) for rule in rules)
    ]
    print(f"{args.run}: {len(found)} skipped, {len(refused)} not allowed")
    for ident, reason in refused:
        print(f"  skip not allowed: {ident} ({reason})")
    if refused:
        print(
            f"  A skip fails the run unless a line of {args.allowed} allows it "
            "(RUN | TEST | REASON | WHY).",
        )
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
