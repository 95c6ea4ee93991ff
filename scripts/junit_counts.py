"""Print 'N passed, N failed, N skipped' for pytest JUnit XML files.

Used by scripts/test.sh for its closing lines. Errors count as failed; a
missing or unreadable file counts as one failure (the run did not finish).
``--at-least N`` exits 1 when the files hold fewer than N tests in all
(passed, failed and skipped: what the run selected).
"""

import sys
import xml.etree.ElementTree as ET


def counts(paths: list[str]) -> tuple[int, int, int]:
    """Return (passed, failed, skipped) over the files."""
    passed = failed = skipped = 0
    for path in paths:
        try:
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError):
            failed += 1
            continue
        for suite in root.iter("testsuite"):
            tests = int(suite.get("tests", 0))
            bad = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skip = int(suite.get("skipped", 0))
            passed += tests - bad - skip
            failed += bad
            skipped += skip
    return passed, failed, skipped


if __name__ == "__main__":
    args = sys.argv[1:]
    at_least = 0
    if args[:1] == ["--at-least"]:
        at_least, args = int(args[1]), args[2:]
    p, f, s = counts(args)
    print(f"{p} passed, {f} failed, {s} skipped")
    sys.exit(1 if p + f + s < at_least else 0)
