"""Print 'N passed, N failed, N skipped' for pytest JUnit XML files.

Used by scripts/test.sh for its closing lines. Errors count as failed; a
missing or unreadable file counts as one failure (the run did not finish).
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
    p, f, s = counts(sys.argv[1:])
    print(f"{p} passed, {f} failed, {s} skipped")
